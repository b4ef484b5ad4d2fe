/*
 * nimc.h -- the public contract of the nimc library.
 *
 * nimc simulates and analyses hybrid ion micro-capacitors (a faradaic,
 * intercalation electrode against a capacitive, double-layer electrode)
 * with porous-electrode theory on a finite-volume mesh, integrated as one
 * DAE system with SUNDIALS IDA and the KLU sparse direct solver.
 *
 * Conventions that hold everywhere in this header:
 *  - SI units in and out (m, s, A, V, F, mol/m3, K); the unit is in the name
 *    where it could be ambiguous.
 *  - Current is positive when it CHARGES the device (it flows into the
 *    positive terminal), as potentiostats report it; energy and charge of a
 *    step carry the same sign as its current.
 *  - Functions return an nimc_status (0 ok, negative error).  Functions
 *    without a handle take an nimc_err that receives the code and a message
 *    locating the problem (file:line: key ...); functions with a handle keep
 *    the message in the handle (nimc_sim_errmsg).  The library never prints,
 *    exits or aborts.
 *  - Constructors are int nimc_x_create(nimc_x **out, ...); destructors are
 *    NULL-safe.  Every pointer returned through OUT is owned by the caller
 *    and released with the matching destroy/free function.
 */
#ifndef NIMC_NIMC_H
#define NIMC_NIMC_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NIMC_VERSION "0.1.0"

/* ---- status codes ------------------------------------------------------
 * One list generates the enum and nimc_strerror().  NIMC_EINPUT and
 * NIMC_EDATA are the caller's fault (bad device file, step, value or data
 * file: the CLI exits 2); NIMC_ESOLVER and NIMC_EANALYSIS are failures of a
 * well-posed request (exit 1). */
#define NIMC_STATUS_LIST(X)                                                \
  X(NIMC_OK, 0, "success")                                                 \
  X(NIMC_ENOMEM, -1, "out of memory")                                      \
  X(NIMC_EINPUT, -2, "invalid input")                                      \
  X(NIMC_EIO, -3, "input/output error")                                    \
  X(NIMC_EDATA, -4, "invalid data file")                                   \
  X(NIMC_ESOLVER, -5, "solver failure")                                    \
  X(NIMC_EANALYSIS, -6, "analysis failure")                                \
  X(NIMC_EEXTERNAL, -7, "external program failed")                         \
  X(NIMC_EMISUSE, -8, "library misuse")

typedef enum nimc_status {
#define NIMC_X_ENUM(name, value, text) name = value,
  NIMC_STATUS_LIST(NIMC_X_ENUM)
#undef NIMC_X_ENUM
} nimc_status;

/* Static text naming a status code; never NULL. */
const char *nimc_strerror(int status);

#define NIMC_ERRMSG_MAX 1024

/* An error report for functions that have no handle to keep it in. */
typedef struct nimc_err {
  int code;                   /* the nimc_status returned */
  char msg[NIMC_ERRMSG_MAX];  /* "file:line: key 'x': what is wrong" */
} nimc_err;

/* ---- devices ---------------------------------------------------------- */

/* A parsed, validated device description (geometry, electrodes, materials,
 * electrolyte, mesh and solver settings).  Immutable once loaded except by
 * nimc_device_set_temperature. */
typedef struct nimc_device nimc_device;

/* Load the INI device file at path.  sets[] are overrides of the form
 * "section.key=value" applied as if they were written in the file (errors
 * name them as "--set section.key").  Nothing is returned from a partly
 * parsed file: on failure *out is NULL and err says where and why. */
int nimc_device_load(nimc_device **out, const char *path,
                     const char *const *sets, size_t nsets, nimc_err *err);
void nimc_device_destroy(nimc_device *dev);

const char *nimc_device_name(const nimc_device *dev);
const char *nimc_device_path(const nimc_device *dev);
double nimc_device_temperature_K(const nimc_device *dev);
int nimc_device_set_temperature(nimc_device *dev, double T_K, nimc_err *err);
/* The normalisation of areal and volumetric metrics: the footprint area
 * and the thickness that multiplies it (mean electrode thickness unless the
 * device file says otherwise). */
double nimc_device_footprint_area_m2(const nimc_device *dev);
double nimc_device_norm_thickness_m(const nimc_device *dev);

/* ---- quantities with units (for command-line values) ------------------ */

/* Parse "25 degC", "0.1 mA/cm2", "10um" into SI.  si_unit names the
 * dimension expected ("K", "A/m2", "m").  Fails with NIMC_EINPUT when the
 * text has no number, no unit, an unknown unit or a unit of another
 * dimension. */
int nimc_quantity_parse(const char *text, const char *si_unit, double *out,
                        nimc_err *err);

/* ---- experiments ------------------------------------------------------ */

typedef enum nimc_step_type {
  NIMC_STEP_CHARGE,    /* constant current into the device */
  NIMC_STEP_DISCHARGE, /* constant current out of the device */
  NIMC_STEP_REST,      /* open circuit */
  NIMC_STEP_HOLD,      /* constant voltage */
  NIMC_STEP_SWEEP      /* linear voltage sweep (cyclic voltammetry) */
} nimc_step_type;

typedef enum nimc_end_reason {
  NIMC_END_TIME,     /* the step's duration elapsed */
  NIMC_END_VOLTAGE,  /* the voltage reached its cut-off */
  NIMC_END_CURRENT,  /* the current fell to its cut-off (hold) */
  NIMC_END_LIMIT,    /* a safety limit stopped the step */
  NIMC_END_DEPLETION /* the electrolyte ran out of salt somewhere (the
                        concentration fell to 1e-3 of its initial value) */
} nimc_end_reason;

/* A parsed experiment: steps and "Repeat N times" blocks. */
typedef struct nimc_experiment nimc_experiment;

/* Parse one step per line (the experiment language of docs/experiments.md).
 * A failure quotes the offending text and says what was expected. */
int nimc_experiment_parse(nimc_experiment **out, const char *const *lines,
                          size_t nlines, nimc_err *err);
void nimc_experiment_destroy(nimc_experiment *exp);
/* Number of steps one execution runs (repeats expanded). */
size_t nimc_experiment_nsteps(const nimc_experiment *exp);

/* ---- results ---------------------------------------------------------- */

/* A time series, as a simulation writes it and an instrument file reads. */
typedef struct nimc_series {
  size_t n, cap;
  double *time_s;
  double *voltage_V;
  double *current_A; /* > 0 charging */
  int *step;         /* executed-step index, -1 when unknown (measured) */
} nimc_series;

typedef struct nimc_step_result {
  nimc_step_type type;
  int index;              /* executed-step index, 0-based */
  int cycle;              /* iteration of the enclosing Repeat, 0-based */
  double duration_s;
  double charge_C;        /* integral of I dt */
  double energy_J;        /* integral of I V dt */
  double v_start_V, v_end_V;
  nimc_end_reason end_reason;
} nimc_step_result;

typedef struct nimc_result {
  nimc_series series;
  nimc_step_result *steps;
  size_t nsteps, cap;
} nimc_result;

/* Release the arrays of a result (the struct itself is the caller's). */
void nimc_result_free(nimc_result *res);
void nimc_series_free(nimc_series *s);
/* Append a sample (grows the arrays geometrically). */
int nimc_series_push(nimc_series *s, double t, double v, double i, int step);

const char *nimc_step_type_name(nimc_step_type t);
const char *nimc_end_reason_name(nimc_end_reason r);

/* ---- simulation ------------------------------------------------------- */

typedef struct nimc_sim nimc_sim;

/* Progress reports for long runs: called after each step with the number of
 * executed steps, their total, and the simulated time.  Return non-zero to
 * stop the run (nimc_sim_run then returns NIMC_ESOLVER with "interrupted"). */
typedef int (*nimc_progress_fn)(void *user, size_t done, size_t total,
                                double t_s);

typedef struct nimc_sim_opts {
  double rtol;            /* IDA relative tolerance (default 1e-6) */
  double atol_scale;      /* multiplies the per-variable absolute tolerances */
  double max_step_s;      /* upper bound on IDA's step, 0 = none */
  double max_step_time_s; /* safety limit on one step's duration */
  double output_dt_s;     /* > 0: record the series every output_dt_s (from
                             IDA's interpolant) plus each step's ends,
                             instead of at every solver step */
  double newton_coef;     /* IDA's nonlinear convergence coefficient (default
                             0.33); smaller solves each step's equations
                             tighter, so conserved quantities drift less */
  nimc_progress_fn progress;
  void *progress_user;
} nimc_sim_opts;

nimc_sim_opts nimc_sim_opts_default(void);

/* Build mesh, unknowns, sparsity and the IDA+KLU solver for dev at its
 * initial state.  dev must outlive the simulation. */
int nimc_sim_create(nimc_sim **out, const nimc_device *dev,
                    const nimc_sim_opts *opts, nimc_err *err);
void nimc_sim_destroy(nimc_sim *sim);

/* Run exp from the current state, appending to res.  On failure res holds
 * what was computed up to the failure. */
int nimc_sim_run(nimc_sim *sim, const nimc_experiment *exp, nimc_result *res);
const char *nimc_sim_errmsg(const nimc_sim *sim);

typedef struct nimc_solver_stats {
  long steps, residual_evals, jacobian_evals, linear_setups, nonlinear_iters,
      error_test_fails, nonlinear_conv_fails, root_evals;
  long unknowns, jacobian_nonzeros;
} nimc_solver_stats;

nimc_solver_stats nimc_sim_stats(const nimc_sim *sim);

/* A snapshot of the fields over the mesh (the cross-section for the
 * interdigitated geometry), one value per finite-volume cell. */
typedef enum nimc_region_kind {
  NIMC_CELL_ANODE = 0,
  NIMC_CELL_SEPARATOR = 1,
  NIMC_CELL_CATHODE = 2,
  NIMC_CELL_GEL = 3,
  NIMC_CELL_COVER = 4
} nimc_region_kind;

typedef struct nimc_fields {
  size_t n;
  double t_s;                /* simulated time of the snapshot */
  double *x_m, *z_m;         /* cell centres */
  double *dx_m, *dz_m;       /* cell sizes */
  int *region;               /* nimc_region_kind */
  double *c_mol_m3;          /* salt concentration */
  double *phi_e_V;           /* electrolyte potential */
  double *reaction_A_m3;     /* interfacial current per volume (> 0 anodic),
                                0 outside electrodes */
} nimc_fields;

/* Fill f with the fields of the simulation's current state (allocates;
 * release with nimc_fields_free). */
int nimc_sim_fields(nimc_sim *sim, nimc_fields *f);
void nimc_fields_free(nimc_fields *f);

/* ---- analysis (works on measured or simulated series alike) ----------- */

typedef struct nimc_norm {
  double area_m2;      /* footprint area; 0 = no areal metrics */
  double thickness_m;  /* normalising thickness; 0 = no volumetric metrics */
} nimc_norm;

typedef struct nimc_metrics {
  int have_discharge;  /* a full discharge segment was found */
  int have_cycle;      /* a charge followed by a discharge was found */
  int ncycles;         /* charge/discharge pairs found */
  double capacitance_F, capacitance_areal_mF_cm2, capacitance_volumetric_F_cm3;
  double energy_J, energy_volumetric_mWh_cm3, energy_areal_uWh_cm2;
  double power_W, power_volumetric_W_cm3, power_areal_mW_cm2;
  double esr_ohm;                /* NaN when there is no switch to read */
  double coulombic_efficiency;   /* NaN without a cycle */
  double capacitance_retention;  /* NaN with fewer than two cycles */
  double discharge_time_s, discharge_current_A;
} nimc_metrics;

/* Galvanostatic charge/discharge metrics of interfaces.md, computed from the
 * last full discharge of s (segments are found from the sign of the
 * current, so the series needs no step labels). */
int nimc_metrics_gcd(const nimc_series *s, const nimc_norm *norm,
                     nimc_metrics *out, nimc_err *err);

/* One-shot convenience: load the device at path with the overrides sets[],
 * parse steps[], simulate with opts (NULL: defaults) and fill res (the
 * caller frees it with nimc_result_free); when mt is non-NULL also the GCD
 * metrics of the result, normalised by the device (mt->have_discharge = 0
 * when there is no discharge to measure).  On failure err says which stage
 * failed and why, and res holds what was computed. */
int nimc_simulate(const char *path, const char *const *sets, size_t nsets,
                  const char *const *steps, size_t nsteps,
                  const nimc_sim_opts *opts, nimc_result *res,
                  nimc_metrics *mt, nimc_err *err);

/* ---- output (io and report layers) ------------------------------------ */

/* Write len bytes of data to path atomically (via "<path>.tmp.<pid>").  On
 * failure the target is untouched, the temporary is removed, and err names
 * the path and the system's reason (NIMC_EIO). */
int nimc_write_atomic(const char *path, const char *data, size_t len,
                      nimc_err *err);

/* Write s as CSV with the header "time_s,voltage_V,current_A,step" and
 * %.10g numbers (a missing step array is written as -1). */
int nimc_series_write_csv(const nimc_series *s, const char *path,
                          nimc_err *err);

/* One row of a model-against-paper table (nimc reproduce).  rel_error is
 * not stored: it is always (model - paper) / paper, computed by
 * nimc_validation_rel_error.  Nothing here is owned. */
typedef struct nimc_validation_row {
  const char *id;       /* stable key, e.g. "cv_0.1" */
  const char *quantity; /* what is compared, in words */
  const char *unit;     /* of paper and model ("1" when unitless) */
  double paper;         /* the published value */
  double model;         /* the simulated value; NaN = not computed */
} nimc_validation_row;

/* (model - paper) / paper; NaN when either is not finite or paper is 0. */
double nimc_validation_rel_error(const nimc_validation_row *row);

/* Write rows as CSV with the header "id,quantity,unit,paper,model,rel_error"
 * (%.10g numbers, an empty field where a value is NaN; text fields quoted
 * when they hold a comma or a quote). */
int nimc_validation_write_csv(const nimc_validation_row *rows, size_t nrows,
                              const char *path, nimc_err *err);

/* What the summary JSON is made of; nothing here is owned. */
typedef struct nimc_summary {
  const char *device;             /* device name; NULL = omitted */
  double temperature_C;           /* omitted when not finite */
  const nimc_result *result;      /* its steps; NULL = no steps */
  const nimc_metrics *metrics;    /* NULL = empty "metrics" object */
  const nimc_solver_stats *stats; /* NULL = no "solver" object */
  /* the "validation" array of reproduce; NULL = no "validation" key.
   * Unlike elsewhere, a NaN model value (and its rel_error) is written as
   * null: every row has every key. */
  const nimc_validation_row *validation;
  size_t nvalidation;
} nimc_summary;

/* Render s as pretty-printed JSON into *out_text (malloc'd, the caller
 * frees it).  A number that is not finite is left out with its key, so
 * the text is always valid JSON. */
int nimc_summary_json(const nimc_summary *s, char **out_text, nimc_err *err);

/* Voltage against time of s: writes dir/gcd.dat, dir/gcd.gp, runs gnuplot
 * (its output goes to dir/gnuplot.log) and produces dir/gcd.png and
 * dir/gcd.svg, each replaced atomically.  title may be NULL.  Fails with
 * NIMC_EEXTERNAL when gnuplot is missing or fails (the message names the
 * log), NIMC_EIO when dir cannot be written. */
int nimc_plot_gcd(const nimc_series *s, const char *dir, const char *title,
                  nimc_err *err);

/* Write the fields f as CSV with the header
 * "x_m,z_m,dx_m,dz_m,region,c_mol_m3,phi_e_V,reaction_A_m3", one row per
 * cell (%.10g numbers, region as the nimc_region_kind number). */
int nimc_fields_write_csv(const nimc_fields *f, const char *path,
                          nimc_err *err);

/* Maps of nf field snapshots side by side, one column each, titled
 * titles[k] (titles or any entry may be NULL): salt concentration on top,
 * reaction current below, each quantity on one colour scale shared by all
 * columns.  A cross-section (z varies) is drawn cell by cell, x in mm,
 * z from the substrate up to 3 times the thickest electrode (the gel above
 * is cut off, and the axis label says so); a 1D stack (all z equal) is
 * drawn as value against x.  Writes dir/STEM.dat, dir/STEM.gp,
 * dir/STEM.log (gnuplot's output), and dir/STEM.png and dir/STEM.svg, each
 * replaced atomically; errors as nimc_plot_gcd. */
int nimc_plot_fields(const nimc_fields *const *f, const char *const *titles,
                     size_t nf, const char *dir, const char *stem,
                     nimc_err *err);

/* One curve of nimc_plot_curves; nothing is owned. */
typedef struct nimc_curve {
  const char *label; /* legend entry; NULL = none */
  const double *x, *y;
  size_t n;          /* points; non-finite ones are skipped */
  int markers;       /* 0: a line, 1: points only (measured data), 2: a
                        line through marked points; a point that is not
                        finite is left out and breaks the line */
  int color;         /* 0: by position; k > 0: the k-th of 8 colours, so
                        a model line and its measured points can match */
} nimc_curve;

/* Several curves on one pair of axes (labels and title may be NULL):
 * writes dir/STEM.dat, dir/STEM.gp, dir/STEM.log, and dir/STEM.png and
 * dir/STEM.svg atomically; errors as nimc_plot_gcd.  Curves with no
 * finite point are left out; with none at all it fails with NIMC_EINPUT. */
int nimc_plot_curves(const nimc_curve *curves, size_t ncurves,
                     const char *xlabel, const char *ylabel,
                     const char *title, const char *dir, const char *stem,
                     nimc_err *err);

#ifdef __cplusplus
}
#endif
#endif /* NIMC_NIMC_H */
