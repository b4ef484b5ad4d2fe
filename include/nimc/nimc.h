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
 *  - Functions return an nimc_status (0 ok, negative error; the one
 *    positive status, NIMC_NOTSTEADY, is a request that ran to its end
 *    without meeting its criterion, its results complete).  Functions
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
 * well-posed request (exit 1), and so is NIMC_EWINDOW: a run stopped where
 * the device left its safe window ([device] min_voltage, max_voltage,
 * max_current), its result complete up to there and its warnings saying
 * where.  NIMC_NOTSTEADY (positive: not an error) is
 * nimc_sim_run_until_steady's answer when the cycles did not settle within
 * max_cycles: everything asked for was run and recorded, but the criterion
 * was not met (a caller that treats every non-zero status as a failure is
 * safe; one that wants the data tests status < 0). */
#define NIMC_STATUS_LIST(X)                                                \
  X(NIMC_NOTSTEADY, 1, "not steady")                                       \
  X(NIMC_OK, 0, "success")                                                 \
  X(NIMC_ENOMEM, -1, "out of memory")                                      \
  X(NIMC_EINPUT, -2, "invalid input")                                      \
  X(NIMC_EIO, -3, "input/output error")                                    \
  X(NIMC_EDATA, -4, "invalid data file")                                   \
  X(NIMC_ESOLVER, -5, "solver failure")                                    \
  X(NIMC_EANALYSIS, -6, "analysis failure")                                \
  X(NIMC_EEXTERNAL, -7, "external program failed")                         \
  X(NIMC_EMISUSE, -8, "library misuse")                                   \
  X(NIMC_EWINDOW, -9, "the device left its safe window")

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
/* The device's safe window ([device] min_voltage, max_voltage,
 * max_current; docs/device-files.md): *min_V, *max_V in V and *max_A, the
 * limit of |I| in A (a limit per area times one cell's footprint area); a
 * limit the device does not declare is -INFINITY or INFINITY.  For a pack
 * ([pack]) the window of its terminals: the voltages times the cells in
 * series (they add over a string), the current times the strings in
 * parallel (their currents add).  Each pointer may be NULL.  Returns 1
 * when the device declares any limit, 0 when none. */
int nimc_device_window(const nimc_device *dev, double *min_V, double *max_V,
                       double *max_A);

/* Packs (docs/model.md, "Packs"): simulate the device as `series` cells in
 * each string and `parallel` strings, every cell the device's full model,
 * all in one circuit and one solve (keeping any [pack] spread and seed of
 * the device file).  Currents per area, per mass and C-rates of the
 * experiment are converted with ONE cell's footprint, mass and capacity
 * into the pack's terminal current; areal and volumetric metrics are per
 * the footprint of all cells (nimc_device_footprint_area_m2 is the
 * cells' total once a pack is set).  NIMC_EINPUT when either count is
 * below 1 or the pack has more than 64 cells. */
#define NIMC_PACK_MAX_CELLS 64
int nimc_device_set_pack(nimc_device *dev, int series, int parallel,
                         nimc_err *err);
/* Parse a pack's shape "NsMp" (N cells in series, M strings in parallel,
 * such as 2s1p) into *series and *parallel; NIMC_EINPUT with the reason in
 * why (cap bytes) when it is not one, or more than NIMC_PACK_MAX_CELLS. */
int nimc_pack_shape_parse(const char *text, int *series, int *parallel,
                          char *why, size_t cap);
/* The number of cells of dev's pack and its shape (*series, *parallel,
 * may be NULL); 0 (shape 1, 1) when the device is one cell, not a pack. */
int nimc_device_pack(const nimc_device *dev, int *series, int *parallel);

/* The value of the numeric key "section.key" (a material key through the
 * electrode's or electrolyte's section: "cathode.micropore_time_constant")
 * as the device at path with the overrides sets[] would use it: from the
 * overrides, the device file, its material file, or the default, in SI
 * (*value), and the SI unit the loader reads it in (si, silen bytes: "m",
 * "m/s", "1" for a pure number).  value and si may be NULL.  NIMC_EINPUT
 * when the device does not load, the key is not one of its numeric keys,
 * or it is a table or a built-in function. */
int nimc_device_param(const char *path, const char *const *sets, size_t nsets,
                      const char *key, double *value, char *si, size_t silen,
                      nimc_err *err);

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
  NIMC_STEP_SWEEP,     /* linear voltage sweep (cyclic voltammetry) */
  NIMC_STEP_SINE,      /* a sine of voltage or current around a level (the
                          time-domain impedance measurement) */
  NIMC_STEP_CHARGE_POWER,    /* constant power into the device (I V = P) */
  NIMC_STEP_DISCHARGE_POWER, /* constant power out of the device */
  NIMC_STEP_LOAD_RESISTOR,   /* discharge through a resistor (V = -I R) */
  NIMC_STEP_LOAD_LED         /* discharge through the device's LED ([led]:
                                a diode law with series resistance) */
} nimc_step_type;

typedef enum nimc_end_reason {
  NIMC_END_TIME,     /* the step's duration elapsed */
  NIMC_END_VOLTAGE,  /* the voltage reached its cut-off */
  NIMC_END_CURRENT,  /* the current fell to its cut-off (hold) */
  NIMC_END_LIMIT,    /* a safety limit stopped the step */
  NIMC_END_DEPLETION, /* the electrolyte ran out of salt somewhere (the
                         concentration fell to 1e-3 of its initial value) */
  NIMC_END_CHARGE,    /* the charge moved in the step reached its cut-off */
  NIMC_END_WINDOW     /* the device left its safe window: the voltage
                         passed [device] max_voltage or min_voltage by more
                         than NIMC_WINDOW_TOL_V, or |I| passed max_current
                         by more than NIMC_WINDOW_TOL_I (relative); the run
                         stops after this step (NIMC_EWINDOW) */
} nimc_end_reason;

/* How far a step may pass the device's window before it ends there
 * (NIMC_END_WINDOW): a step cut at the window's edge by its own cut-off
 * ("Charge ... until 3.5 V" with max_voltage 3.5 V), a hold at the edge
 * or a sweep to it end with their own reason, and a step that starts at
 * the edge runs. */
#define NIMC_WINDOW_TOL_V 1e-3 /* V */
#define NIMC_WINDOW_TOL_I 1e-3 /* relative to max_current */

/* A parsed experiment: steps and "Repeat N times" blocks. */
typedef struct nimc_experiment nimc_experiment;

/* Read the regular text file at path whole, at most max_bytes, into *text
 * (malloc'd, NUL-terminated, *len bytes without the NUL).  Errors name the
 * file ("PATH: cannot read WHAT: why", or "PATH: why" when what is NULL):
 * NIMC_EIO when it cannot be opened or read; NIMC_EINPUT when it is not a
 * regular file (nothing is read from a device or a pipe), larger than
 * max_bytes, or holds a NUL byte ("PATH:LINE: a NUL byte"); NIMC_ENOMEM. */
int nimc_text_file_read(const char *path, long max_bytes, const char *what,
                        char **text, size_t *len, nimc_err *err);

/* Read the experiment file at path: one step a line (or a Repeat, also
 * over lines up to its "End"), '#' starts a comment, blank lines are
 * skipped (docs/experiments.md).  Only a regular text file
 * of at most 1 MiB is read.  *lines (may be NULL) receives the steps'
 * text, *nlines of them (free with nimc_experiment_lines_free).  Errors
 * name the file and the line: NIMC_EIO (cannot open), NIMC_EINPUT (not a
 * regular file, too large, a NUL byte, a step that does not parse, no
 * steps), NIMC_ENOMEM. */
int nimc_experiment_read(const char *path, nimc_experiment **out,
                         char ***lines, size_t *nlines, nimc_err *err);
void nimc_experiment_lines_free(char **lines, size_t n);

/* Parse one step per line (the experiment language of docs/experiments.md:
 * a line may also be a Repeat, nested Repeats in brackets, or the head
 * "Repeat N times:" of a Repeat whose items follow up to a line "End").
 * A failure quotes the offending text, says what was expected, and names
 * the line ("step L ..."). */
int nimc_experiment_parse(nimc_experiment **out, const char *const *lines,
                          size_t nlines, nimc_err *err);
void nimc_experiment_destroy(nimc_experiment *exp);
/* Number of steps one execution runs (repeats expanded). */
size_t nimc_experiment_nsteps(const nimc_experiment *exp);
/* The simulated time, in s, of the steps whose length is known before the
 * run (a 'for' limit, a sweep's span over its rate), Repeats counted; a
 * step that ends only at a cut-off counts 0.  For budgets, before a run. */
double nimc_experiment_timed_s(const nimc_experiment *exp);
/* The samples a run records over the steps of known length (as
 * nimc_experiment_timed_s), each at its own '(<time> period)' or else
 * every dt_s (0: such steps count none), Repeats counted.  For budgets. */
double nimc_experiment_samples(const nimc_experiment *exp, double dt_s);

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
  int cycle;              /* iteration of the enclosing Repeat, 0-based (in
                             a cycle of nested Repeats: its number - 1,
                             counted through the outer iterations) */
  double duration_s;
  double charge_C;        /* integral of I dt */
  double energy_J;        /* integral of I V dt */
  double v_start_V, v_end_V;
  nimc_end_reason end_reason;
  /* SINE: the impedance at its frequency, read from the step's time
   * series over its last half (whole periods, at least one) by
   * nimc_series_impedance; NaN for other steps or when it could not be
   * read (a step cut short) */
  double freq_Hz, z_re_ohm, z_im_ohm;
  double temperature_K;   /* the temperature the step ran at: its own
                             (at T) or the device's */
  double output_dt_s;     /* the spacing of its recorded samples: its own
                             (... period), the simulation's, or 0 (every
                             solver step) */
} nimc_step_result;

/* The summary of one cycle of a Repeat (defined with the metrics below). */
typedef struct nimc_cycle_result nimc_cycle_result;

/* What a run warns about: a result to be read with care (the device left
 * its safe window and the run stopped).  The library fills them and never
 * prints them; the CLI prints each as "warning: TEXT". */
#define NIMC_WARNING_MAX 512
typedef struct nimc_warning {
  int step;                    /* executed-step index, -1: none */
  double t_s;                  /* simulated time it refers to */
  char text[NIMC_WARNING_MAX]; /* one sentence, without "warning: " */
} nimc_warning;

typedef struct nimc_result {
  nimc_series series;
  nimc_step_result *steps;
  size_t nsteps, cap;
  /* one summary per finished cycle of a Repeat, in the order they ran
   * (nimc_sim_run; a run without a Repeat leaves them empty) */
  nimc_cycle_result *cycles;
  size_t ncycles, cycles_cap;
  /* warnings, in the order they arose (kept whatever the sinks keep) */
  nimc_warning *warnings;
  size_t nwarnings, warnings_cap;
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

/* Called at a checkpoint boundary of a run (nimc_sim_opts.checkpoint_every)
 * with the result so far (what the run keeps of it); nimc_checkpoint_write
 * may be called from it.  Return non-zero to stop the run (nimc_sim_run
 * then returns NIMC_ESOLVER, "interrupted at a checkpoint"). */
typedef int (*nimc_checkpoint_fn)(void *user, nimc_sim *sim,
                                  const nimc_result *res);

typedef struct nimc_sim_opts {
  double rtol;            /* IDA relative tolerance (0: the device's, 1e-5) */
  double atol_scale;      /* multiplies the per-variable absolute tolerances */
  double max_step_s;      /* upper bound on IDA's step, 0 = none */
  double max_step_time_s; /* safety limit on one step's duration */
  double output_dt_s;     /* > 0: record the series every output_dt_s (from
                             IDA's interpolant) plus each step's ends,
                             instead of at every solver step */
  double newton_coef;     /* IDA's nonlinear convergence coefficient (default
                             0.33); smaller solves each step's equations
                             tighter, so conserved quantities drift less */
  /* cycle jumping (docs/experiments.md, "Cycle jumping"): a Repeat of at
   * least NIMC_JUMP_MIN_CYCLES cycles simulates a few cycles at a time and
   * extrapolates the state over the cycles between; cycle_jump_tol is
   * the capacitance error allowed per jump, relative to the Repeat's
   * first capacitance (0: the default, 1e-3) */
  int cycle_jump;
  double cycle_jump_tol;
  nimc_progress_fn progress;
  void *progress_user;
  /* Checkpoint boundaries (docs/cli.md, "Checkpoints"): a boundary is the
   * end of a cycle (an iteration of an innermost Repeat) or of a step
   * outside any cycle; at every checkpoint_every-th boundary of a run
   * (0: none) the solver forgets what it keeps across steps (its
   * factorisation), so that the run resumed from there
   * (nimc_sim_resume) computes the same numbers as the run itself, and
   * checkpoint (when not NULL) is called. */
  int checkpoint_every;
  nimc_checkpoint_fn checkpoint;
  void *checkpoint_user;
} nimc_sim_opts;
#define NIMC_JUMP_MIN_CYCLES 20

nimc_sim_opts nimc_sim_opts_default(void);

/* Build mesh, unknowns, sparsity and the IDA+KLU solver for dev at its
 * initial state.  dev must outlive the simulation. */
int nimc_sim_create(nimc_sim **out, const nimc_device *dev,
                    const nimc_sim_opts *opts, nimc_err *err);
void nimc_sim_destroy(nimc_sim *sim);

/* Run exp from the current state, appending to res (what it keeps of the
 * run: nimc_sim_set_sinks, by default everything).  On failure res holds
 * what was computed up to the failure (without samples kept: the samples
 * of the failed step, or of the cycle it belongs to).  A step that leaves
 * the device's safe window (nimc_device_window) ends there with end
 * reason NIMC_END_WINDOW, its record kept, a warning appended to
 * res->warnings, and the run stops: NIMC_EWINDOW, the warning's text also
 * in nimc_sim_errmsg.  A solver failure (NIMC_ESOLVER) says what in the
 * device was at its limit in the last state reached, the solver's own
 * message after it in brackets. */
int nimc_sim_run(nimc_sim *sim, const nimc_experiment *exp, nimc_result *res);
const char *nimc_sim_errmsg(const nimc_sim *sim);

/* What nimc_sim_run keeps in its result.  Whatever it keeps, every sample,
 * step record and cycle summary goes to the sinks (nimc_sinks).  Without
 * samples, those of a step outside a Repeat are dropped once its record is
 * made, and those of a cycle once its summary is made (the run reads them
 * until then: a sine's impedance, a cycle's capacitance), so that memory
 * holds at most one cycle's samples however long the run. */
typedef enum nimc_keep {
  NIMC_KEEP_ALL = 0,   /* samples, step records and cycle summaries */
  NIMC_KEEP_SUMMARIES, /* step records and cycle summaries, no samples */
  NIMC_KEEP_CYCLES,    /* cycle summaries and the records of the steps
                          outside a Repeat: memory does not grow with the
                          steps of a Repeat, only with its cycles */
  NIMC_KEEP_NONE       /* the records of the steps outside a Repeat only:
                          memory bounded whatever the number of cycles */
} nimc_keep;

/* Where a run reports as it goes.  Each callback may be NULL; a non-zero
 * return stops the run (nimc_sim_run then returns NIMC_ESOLVER with
 * "interrupted").  The record handed to a callback is valid during the
 * call only. */
typedef struct nimc_sinks {
  /* every sample as it is recorded (what the result's series would hold):
   * time, voltage, current (> 0 charging), executed-step index */
  int (*sample)(void *user, double t_s, double voltage_V, double current_A,
                int step);
  /* every finished step's record */
  int (*step)(void *user, const nimc_step_result *rec);
  /* every finished cycle of a Repeat */
  int (*cycle)(void *user, const nimc_cycle_result *cyc);
  void *user;
  nimc_keep keep; /* what the result keeps (default: all) */
} nimc_sinks;

/* Use sinks for the next runs of sim (copied; the user pointer and the
 * callbacks must stay valid while sim runs); NULL: no sinks, keep all.
 * nimc_sim_run_until_steady keeps every sample whatever keep says (its
 * test of steadiness reads them); its sinks are still called.
 * NIMC_EMISUSE for a NULL sim or a keep out of range. */
int nimc_sim_set_sinks(nimc_sim *sim, const nimc_sinks *sinks);

/* ---- the state of a simulation (checkpoints) -------------------------- */

/* Everything the next step of a simulation depends on: the time, the
 * unknowns y and their rates y', the model's control, the number of
 * steps executed (the index of the next), and the device's name. */
typedef struct nimc_state nimc_state;

/* A copy of sim's state now (*out, released with nimc_state_destroy).
 * NIMC_ENOMEM, NIMC_EMISUSE. */
int nimc_sim_get_state(nimc_sim *sim, nimc_state **out);
/* Put st into sim, a simulation of the same device: its next run goes on
 * from st as the simulation st was taken from would have gone on (every
 * step starts with a consistent initialisation from y, so the results
 * agree to the solver's tolerance).  NIMC_EINPUT, sim unchanged, when st
 * has another number of unknowns than sim's device (the message names the
 * file st was read from) or a control the model refuses; the message is
 * in nimc_sim_errmsg. */
int nimc_sim_set_state(nimc_sim *sim, const nimc_state *st);
void nimc_state_destroy(nimc_state *st);
/* The state's time (s) and number of unknowns. */
double nimc_state_time_s(const nimc_state *st);
size_t nimc_state_unknowns(const nimc_state *st);
/* Write st to path (atomically) in the text format of docs/experiments.md
 * ("State files": a version line, the number of unknowns, every number
 * as a C99 hexadecimal float, so that reading it back gives the same
 * bits).  NIMC_EIO, NIMC_ENOMEM. */
int nimc_state_write(const nimc_state *st, const char *path, nimc_err *err);
/* Read a state file written by nimc_state_write.  NIMC_EIO (cannot open),
 * NIMC_EINPUT (not a state file, another version, a line that does not
 * parse, a count of values that is not the number of unknowns: the
 * message names the file and the line), NIMC_ENOMEM. */
int nimc_state_read(const char *path, nimc_state **out, nimc_err *err);

/* ---- checkpoints: a run written down to be continued ------------------ */

/* A checkpoint read back (nimc_checkpoint_read). */
typedef struct nimc_checkpoint nimc_checkpoint;

/* Write the checkpoint of sim's run at its last checkpoint boundary (call
 * it from the checkpoint callback, or before nimc_sim_run for the run's
 * start) to path, atomically (one file, complete or absent), in the
 * format of docs/experiments.md ("Checkpoint files"): the state (y, y',
 * t, the control), the position in the experiment (steps done, the
 * Repeats' iterations, the cycles of the line and its first capacitance),
 * the solver statistics so far, res (its samples, step records, cycle
 * summaries and warnings), and the caller's meta lines (nmeta lines of
 * text without a newline, each "KEY VALUE": what the caller needs to go
 * on, read back verbatim; the library does not read them).  NIMC_EIO,
 * NIMC_ENOMEM, NIMC_EMISUSE (a meta line with a newline). */
int nimc_checkpoint_write(nimc_sim *sim, const nimc_result *res,
                          const char *const *meta, size_t nmeta,
                          const char *path, nimc_err *err);
/* Write a finished run's checkpoint to path (atomically): the meta lines
 * and the run's exit status, nothing to continue. */
int nimc_checkpoint_write_finished(const char *const *meta, size_t nmeta,
                                   int status, const char *path, nimc_err *err);
/* Read a checkpoint file.  NIMC_EIO (cannot read), NIMC_EINPUT (not a
 * checkpoint, another version, a line that does not parse, a file cut
 * short: the message names the file, the line and the key), NIMC_ENOMEM. */
int nimc_checkpoint_read(const char *path, nimc_checkpoint **out,
                         nimc_err *err);
void nimc_checkpoint_destroy(nimc_checkpoint *ck);
/* 1 when the checkpoint is of a finished run (*status its exit status). */
int nimc_checkpoint_finished(const nimc_checkpoint *ck, int *status);
/* The k-th meta line (NULL past the last) and its line in the file. */
const char *nimc_checkpoint_meta(const nimc_checkpoint *ck, size_t k,
                                 long *line);
/* Put ck into sim (made for the same device and options as the run that
 * wrote it) and into res (empty: zeros): the state, the result so far and
 * the solver statistics; the next nimc_sim_run of the same experiment
 * skips what ran before the checkpoint and goes on from there, giving
 * what the unbroken run gives.  NIMC_EINPUT (a state of another device:
 * nimc_sim_errmsg), NIMC_EMISUSE (a finished checkpoint, res not empty),
 * NIMC_ENOMEM.  A position that does not fit the experiment is found by
 * that nimc_sim_run (NIMC_EINPUT). */
int nimc_sim_resume(nimc_sim *sim, const nimc_checkpoint *ck, nimc_result *res);

typedef struct nimc_solver_stats {
  long steps, residual_evals, jacobian_evals, linear_setups, nonlinear_iters,
      error_test_fails, nonlinear_conv_fails, root_evals;
  long unknowns, jacobian_nonzeros;
  /* of the linear_setups: fresh KLU factorisations (new pivots) and
   * refactorisations (the pivots kept); nonzeros of the LU factors */
  long full_factorizations, refactorizations, lu_nonzeros;
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

/* For a pack (nimc_device_set_pack): the number of its cells, and for the
 * first cap of them (k = s N + j: cell j of string s) the voltage across
 * each now (v_V) and the charge that has passed through it since the
 * simulation began (q_C, > 0 charging); either array may be NULL.  0 for
 * one cell. */
int nimc_sim_pack_cells(nimc_sim *sim, double *v_V, double *q_C, int cap);
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
  int cycle;           /* the cycle the numbers were read from: 1-based
                          count of the pairs up to and including the one
                          whose discharge is measured (= ncycles, since it
                          is the last); 0 when the measured discharge is
                          not paired with a charge (or there is none) */
  /* SI; per footprint area (F/m2, J/m2, W/m2) and per footprint area
   * times the normalisation thickness (F/m3, J/m3, W/m3): NaN when not
   * normalised.  In the units of the summary JSON and the paper (F/cm3,
   * mWh/cm3, ...): nimc_metric_value. */
  double capacitance_F, capacitance_areal_F_m2, capacitance_volumetric_F_m3;
  double energy_J, energy_volumetric_J_m3, energy_areal_J_m2;
  double power_W, power_volumetric_W_m3, power_areal_W_m2;
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
/* The same metrics of a simulated result (the segments found in
 * res->series as nimc_metrics_gcd finds them), with the charge and energy
 * of every segment made of whole steps (all but a step whose current
 * changes sign) taken from the step records, the solver's own integrals,
 * so that they do not depend on how densely the series was recorded
 * (nimc_sim_opts.output_dt_s): energy, power, coulombic efficiency,
 * capacitance, discharge current.  res->steps must be in the order they
 * ran (by index), as nimc_sim_run writes them; with no steps it is
 * nimc_metrics_gcd of res->series.  docs/metrics.md says which value comes
 * from where. */
int nimc_metrics_gcd_result(const nimc_result *res, const nimc_norm *norm,
                            nimc_metrics *out, nimc_err *err);
/* Metrics with nothing found: flags and counts 0, every value NaN. */
nimc_metrics nimc_metrics_undefined(void);

/* The metrics under the names and in the units of the summary JSON, the
 * command line and the paper (interfaces.md, docs/metrics.md), one table:
 * key k (0, 1, ...), NULL past the last, *unit (may be NULL) its unit
 * ("F/cm3"; "" for a pure number). */
const char *nimc_metric_key(size_t k, const char **unit);
/* The value of that key from m (its SI field scaled into the key's unit),
 * NaN for an unknown key. */
double nimc_metric_value(const nimc_metrics *m, const char *key);
/* Fill the areal and volumetric values of m from its capacitance_F,
 * energy_J and power_W (docs/metrics.md, "Normalised values"); norm NULL
 * or zeros leave them NaN.  NIMC_EINPUT for a negative or non-finite
 * area or thickness.  The one place of these formulas. */
int nimc_metrics_normalise(nimc_metrics *m, const nimc_norm *norm,
                           nimc_err *err);

/* The summary of one cycle (one iteration) of a Repeat, made by
 * nimc_sim_run when the cycle ends: its charge and energy from its steps'
 * records (the solver's integrals), its capacitance from its last full
 * discharge (docs/experiments.md, "Cycles"). */
struct nimc_cycle_result {
  int cycle;         /* the iteration of its Repeat, 1-based (its steps'
                        records have cycle - 1) */
  int first_step;    /* executed-step index of its first step */
  int nsteps;        /* steps it ran */
  double t_start_s, duration_s;
  /* sums over its steps of |charge_C| and |energy_J| of the records that
   * move charge in (charge_C > 0) and out (charge_C < 0) */
  double charge_C, discharge_C;
  double energy_charge_J, energy_discharge_J;
  double coulombic_efficiency; /* discharge_C / charge_C (NaN: no charge) */
  double energy_efficiency;    /* energy_discharge_J / energy_charge_J */
  double v_end_V;              /* the voltage at its end */
  int skipped_before;          /* cycles jumped over just before this one
                                  (cycle jumping; 0: it follows the cycle
                                  before it) */
  /* capacitance of this cycle over that of the Repeat's first cycle with
   * one (NaN when either is missing) */
  double capacitance_retention;
  /* nimc_metrics_gcd_result of the cycle alone (its samples and step
   * records), normalised by the device's footprint and thickness: the
   * capacitance, energy, power and ESR of its last full discharge;
   * have_discharge 0 and NaNs when it has none */
  nimc_metrics metrics;
};

/* The header line (with its newline) of a cycle table in CSV, and one row
 * of it for c (with its newline) into buf of cap bytes; the row's length,
 * or NIMC_EMISUSE when buf is too small (NIMC_CYCLE_CSV_ROW_MAX always
 * is big enough).  %.10g numbers, an empty field for NaN. */
#define NIMC_CYCLE_CSV_ROW_MAX 512
const char *nimc_cycle_csv_header(void);
int nimc_cycle_csv_row(const nimc_cycle_result *c, char *buf, size_t cap);
/* Write n cycles as CSV (header and rows) to path, atomically. */
int nimc_cycles_write_csv(const nimc_cycle_result *c, size_t n,
                          const char *path, nimc_err *err);

/* ---- steady cycles (formation, then measurement) ---------------------- */

/* When a repeated cycle counts as steady (nimc_sim_run_until_steady). */
typedef struct nimc_steady_opts {
  int min_cycles;  /* run at least this many cycles, >= 2 (default 3) */
  int max_cycles;  /* give up after this many, >= min_cycles (default 30) */
  double ce_min;   /* the coulombic efficiency of the cycle must be at least
                      this, 0 to 1 (default 0.99) */
  double rel_tol;  /* and the cycle must repeat the one before it:
                      |C_k / C_{k-1} - 1| <= rel_tol and
                      |CE_k - CE_{k-1}| <= rel_tol, > 0 (default 3e-4) */
} nimc_steady_opts;

nimc_steady_opts nimc_steady_opts_default(void);

/* What nimc_sim_run_until_steady did. */
typedef struct nimc_steady_info {
  nimc_steady_opts opts;  /* the criterion applied (defaults filled in) */
  int cycles;             /* cycles run by this call (the last one may be
                             incomplete when the solver failed) */
  int converged;          /* the last cycle met the criterion */
  int steady_cycle;       /* 1-based index (among this call's cycles) of
                             the cycle found steady: cycles when converged,
                             0 when not */
  double coulombic_efficiency; /* of the last complete cycle (NaN: none) */
  double capacitance_F;        /* of the last complete cycle (NaN: none) */
  double capacitance_change;   /* |C_k / C_{k-1} - 1| of the last cycle */
  double ce_change;            /* |CE_k - CE_{k-1}| of the last cycle */
  size_t first_step;      /* index in res->steps of the last cycle's first
                             step */
  size_t first_sample;    /* index in res->series of its first sample */
  /* The GCD metrics of the whole series after the last cycle (so of the
   * last cycle's discharge; metrics.cycle counts the pairs of the whole
   * series, earlier contents of res included); have_discharge = 0 when
   * there is nothing to measure. */
  nimc_metrics metrics;
} nimc_steady_info;

/* Formation, then measurement: run the experiment `cycle` (one cycle,
 * e.g. 'Charge at J until 3.5 V', 'Discharge at J until 0 V') again and
 * again on sim from its current state, appending to res, until a cycle is
 * steady or opts->max_cycles have run.  After each cycle its capacitance C
 * and coulombic efficiency CE are read by nimc_metrics_gcd_result from
 * that cycle's part of the result (its last full discharge and the charge
 * paired with it); cycle k is steady when k >= min_cycles, CE_k >= ce_min
 * and it repeats cycle k-1 within rel_tol (nimc_steady_opts).  opts NULL:
 * the defaults.  norm normalises info->metrics (NULL: none).  The steps it
 * appends have step_result.cycle = the 0-based index of their cycle in
 * this call (the loop is their enclosing repeat).  info may be NULL.
 *
 * Returns NIMC_OK when steady; NIMC_NOTSTEADY (> 0) when max_cycles ran
 * without a steady cycle (res and info are complete; nimc_sim_errmsg says
 * "not steady after N cycles" and how far it was); NIMC_EINPUT for bad
 * options or a cycle without a Charge step followed by a Discharge step;
 * NIMC_EANALYSIS when a cycle has no capacitance to read (no full
 * discharge paired with a charge, or a voltage that does not fall): the
 * loop stops there, since the next cycle would start where this one could
 * not measure; NIMC_ESOLVER as nimc_sim_run (res holds what was computed).
 * Every message is in nimc_sim_errmsg(sim). */
int nimc_sim_run_until_steady(nimc_sim *sim, const nimc_experiment *cycle,
                              const nimc_steady_opts *opts,
                              const nimc_norm *norm, nimc_result *res,
                              nimc_steady_info *info);

/* ---- impedance spectra (measured or simulated alike) ------------------ */

/* An impedance spectrum Z(f) = z_re + j z_im in ohm.  z_im is Im Z itself
 * (negative for a capacitive response, the physicist's convention; files
 * that store -Im Z are converted on reading).  Frequencies are positive and
 * strictly monotonic (either direction) in anything the library returns. */
typedef struct nimc_spectrum {
  size_t n;
  double *freq_Hz;
  double *z_re_ohm;
  double *z_im_ohm;
} nimc_spectrum;

/* Allocate the three arrays of s for n points (zeroed); NIMC_ENOMEM. */
int nimc_spectrum_alloc(nimc_spectrum *s, size_t n);
/* Release the arrays of s and zero it (the struct itself is the caller's). */
void nimc_spectrum_free(nimc_spectrum *s);

/* n = floor(per_decade * |log10(to / from)| + 0.5) + 1 frequencies from
 * from_Hz to to_Hz (both included, the direction of the sweep kept),
 * equally spaced in log f: 100 kHz to 10 mHz at 10 per decade gives 71.
 * *out is malloc'd (the caller frees it).  NIMC_EINPUT when a frequency is
 * not finite and positive, from == to, or per_decade < 1. */
int nimc_freq_logspace(double from_Hz, double to_Hz, int per_decade,
                       double **out, size_t *n, nimc_err *err);

/* The high-frequency real-axis intercept of s (ohm): where -Im Z changes
 * sign from negative (inductive) to positive going down in frequency,
 * interpolated linearly in Im Z; when -Im Z >= 0 over the whole spectrum,
 * Re Z at the highest frequency.  NaN for an empty spectrum. */
double nimc_spectrum_r_ohmic(const nimc_spectrum *s);

/* ---- equivalent circuits -------------------------------------------------
 * The circuit language of impedance.py: elements joined in series by '-',
 * in parallel by p(a, b, ...), nested freely; an element is a type name
 * followed by a unique number ("R0", "CPE1", "Wo2").  Element types and
 * their formulas are listed in docs/eis.md.  An element with one parameter
 * names it like the element ("R0"); one with k > 1 parameters names them
 * NAME_0 ... NAME_{k-1} ("CPE1_0", "CPE1_1"). */
typedef struct nimc_circuit nimc_circuit;

/* Parse text into a circuit.  A failure (NIMC_EINPUT) names the column and
 * what was expected, and the message ends with two lines: the string and a
 * caret under the offending character. */
int nimc_circuit_parse(nimc_circuit **out, const char *text, nimc_err *err);
void nimc_circuit_destroy(nimc_circuit *c);
/* The string as parsed (blanks removed). */
const char *nimc_circuit_text(const nimc_circuit *c);
size_t nimc_circuit_nparams(const nimc_circuit *c);
/* Name ("CPE1_0"), unit ("ohm", "F", "ohm^-1 s^a", "1", ...) and bounds
 * of parameter k in string order; NULL / NaN for k out of range. */
const char *nimc_circuit_param_name(const nimc_circuit *c, size_t k);
const char *nimc_circuit_param_unit(const nimc_circuit *c, size_t k);
void nimc_circuit_param_bounds(const nimc_circuit *c, size_t k, double *lo,
                               double *hi);
/* Index of the parameter called name, or -1. */
int nimc_circuit_param_index(const nimc_circuit *c, const char *name);
/* Z of the circuit with parameters p (nparams values) at n frequencies.
 * When dre / dim are non-NULL they receive dZ/dp, row-major n x nparams
 * (analytic derivatives).  NIMC_EINPUT when a parameter or a frequency
 * makes Z not finite. */
int nimc_circuit_eval(const nimc_circuit *c, const double *p,
                      const double *freq_Hz, size_t n, double *z_re,
                      double *z_im, double *dre, double *dim);
/* Index of the parameter read as the charge-transfer resistance: the
 * first R that sits directly inside a p(...) which also holds a C or a CPE
 * (string order), or -1 when there is none. */
int nimc_circuit_rct_index(const nimc_circuit *c);

typedef enum nimc_weight {
  NIMC_WEIGHT_NONE = 0,    /* sigma = 1 */
  NIMC_WEIGHT_MODULUS,     /* sigma = |Z_k| for both parts */
  NIMC_WEIGHT_PROPORTIONAL /* sigma = |Re Z_k| and |Im Z_k| apart */
} nimc_weight;

typedef struct nimc_fit_opts {
  nimc_weight weight;
  /* nparams starting values, or NULL: automatic from the spectrum */
  const double *initial;
  /* nparams flags, or NULL: a parameter with constant[k] != 0 is held at
   * initial[k] (initial must then be given) */
  const int *constant;
  int global;             /* multi-start search around the initial values */
  unsigned long seed;     /* global: random seed (same seed, same answer) */
  int starts;             /* global: number of starts (default 50) */
  double spread_decades;  /* global: starts drawn log-uniformly within this
                             many decades of the initial values (default 2) */
  int max_iter;           /* per start (default 500) */
  double xtol, gtol, ftol;/* GSL multifit_nlinear tolerances */
} nimc_fit_opts;

nimc_fit_opts nimc_fit_opts_default(void);

/* A fitted circuit.  Arrays are malloc'd, nparams long unless said. */
typedef struct nimc_fit {
  size_t np, n;           /* parameters, data points */
  double *p;              /* fitted values (constants at theirs) */
  double *std_err;        /* standard errors from the covariance
                             s^2 (J^T W J)^-1, s^2 = chi2 / (2n - free);
                             NaN for constants or a singular covariance */
  double *corr;           /* np x np correlation matrix, row-major; NaN in
                             the rows and columns of constants */
  double *z_re_fit, *z_im_fit; /* the fitted model at the data, n each */
  double chi2;            /* weighted sum of squared residuals */
  double rmse_ohm;        /* sqrt(sum |Z_k - Z_fit,k|^2 / n) */
  double grad_rel;        /* max_k |p_k dchi2/dp_k| / chi2 over the free
                             parameters not at a bound: 0 at a minimum */
  int iterations;         /* of the start that won */
  int starts;             /* starts run (1 without global) */
  int converged;          /* a tolerance was met (not the iteration cap) */
} nimc_fit;

void nimc_fit_free(nimc_fit *f);

/* Fit c to s by bounded nonlinear least squares on the stacked real and
 * imaginary residuals (GSL multifit_nlinear, trust region with
 * Levenberg-Marquardt steps, analytic Jacobian).  NIMC_EINPUT for bad
 * options (too few points, an initial value out of bounds), NIMC_EANALYSIS
 * when no start gives a finite fit. */
int nimc_circuit_fit(const nimc_circuit *c, const nimc_spectrum *s,
                     const nimc_fit_opts *opts, nimc_fit *out, nimc_err *err);

/* ---- Kramers-Kronig validation (Lin-KK) --------------------------------- */

typedef struct nimc_linkk_opts {
  double c;        /* mu threshold of Schoenleitner et al. (default 0.85) */
  int max_M;       /* most RC elements tried, 1 to the number of points;
                      0 (the default): the number of points */
  int add_capacitance; /* series capacitance in the test circuit: 1 on,
                          0 off, -1 (default) when the spectrum ends
                          capacitive (phase below -45 deg at its lowest
                          frequency) */
  double extension_decades; /* the time constants span the measured range
                               widened by this many decades at each end:
                               0 (the paper's range) to 3, or -1 (the
                               default): the best of 0, 0.25, ..., 1 */
} nimc_linkk_opts;

nimc_linkk_opts nimc_linkk_opts_default(void);

typedef struct nimc_linkk {
  size_t n;
  int M;                 /* RC elements chosen */
  double mu;             /* at M; >= c when no M up to max_M met mu < c */
  int capacitance;       /* 1 when the series C was in the test circuit
                            (add_capacitance, auto resolved) */
  double extension_decades; /* of the time constants of the fit kept */
  double *res_re, *res_im;     /* (Z - Z_KK) / |Z| per point, n each */
  double *z_re_fit, *z_im_fit; /* the KK-compliant fit, n each */
  double max_residual;   /* max over points of |res_re| and |res_im| */
  double rms_residual;   /* rms over both parts of all points */
} nimc_linkk;

void nimc_linkk_free(nimc_linkk *k);

/* Lin-KK test of s (Schoenleber, Klotz, Ivers-Tiffee, Electrochim. Acta
 * 131 (2014) 20): a series R, L and optional C with M Voigt elements of
 * time constants spread log-evenly over 1/(2 pi f) (widened by
 * extension_decades), fitted by linear least squares weighted by 1/|Z|
 * (by 1/|Z - 1/(j w C_1)| when the capacitance is in, C_1 from the
 * one-element fit).  Every M from 1 to max_M is fitted; mu accepts the
 * fits with mu >= c (no over-fitting: negative resistances stay small),
 * and the best of those (smallest rms residual) is kept -- the paper's
 * rule stops at the first M that mu rejects, which is the same on noisy
 * data and fails on exact ones (analysis/linkk.c).  NIMC_EINPUT for fewer
 * than 3 points, a value that is not finite, a frequency that is not
 * positive, or bad options. */
int nimc_spectrum_linkk(const nimc_spectrum *s, const nimc_linkk_opts *opts,
                        nimc_linkk *out, nimc_err *err);

/* ---- measured data files ------------------------------------------------ */

/* How a data file is read. */
typedef struct nimc_read_opts {
  const char *format; /* NULL or "auto": detect; or a reader's name ("csv",
                         "gamry": see nimc_spectrum_format) */
  /* impedance: how the file's imaginary column is read: 0 detect (from the
   * header, else from the sign of most points), +1 it is Im Z, -1 it is
   * -Im Z */
  int im_sign;
} nimc_read_opts;

nimc_read_opts nimc_read_opts_default(void);

/* Read the impedance spectrum in the data file at path (formats: see
 * docs/eis.md; CSV/TSV with or without a header of unit-bearing names).
 * Values are converted to SI.  *how (may be NULL) receives a sentence for
 * the user saying which format, which columns and which sign convention
 * were used and why.  Errors (NIMC_EDATA, NIMC_EIO) name the file and the
 * line, column or byte. */
int nimc_spectrum_read(const char *path, const nimc_read_opts *opts,
                       nimc_spectrum *out, char *how, size_t howlen,
                       nimc_err *err);

/* The k-th data format nimc_spectrum_read knows (k = 0, 1, ...): its name,
 * as nimc_read_opts.format takes it ("csv", "gamry", ...), and in *what
 * (may be NULL) a few words on it; NULL when k is past the last.  The
 * strings are static. */
const char *nimc_spectrum_format(size_t k, const char **what);

/* Impedance at one frequency from a time series (a sine applied in the
 * time domain): V and I over [t_from, t_to] are each fitted by least
 * squares with a + b t + c sin(w t) + d cos(w t), w = 2 pi freq, and
 * Z = (c_V + j d_V) / (c_I + j d_I) with the sign of the current of
 * nimc_series (> 0 charging).  The window should hold whole periods. */
int nimc_series_impedance(const nimc_series *s, double freq_Hz, double t_from,
                          double t_to, double *z_re, double *z_im,
                          nimc_err *err);

/* ---- measured time series (nimc analyze) ------------------------------- */

/* What a measurement is, from the instrument's name for its technique
 * (one table in io/data_read.c: GCPL -> GCD, CV -> CV, PEIS/GEIS -> EIS,
 * OCV -> REST, CP -> CP, LSV -> LSV) or from the shape of the data. */
typedef enum nimc_technique {
  NIMC_TECH_UNKNOWN = 0,
  NIMC_TECH_GCD,  /* galvanostatic charge/discharge, cycling */
  NIMC_TECH_CV,   /* cyclic voltammetry */
  NIMC_TECH_EIS,  /* impedance spectroscopy */
  NIMC_TECH_REST, /* open circuit (self-discharge) */
  NIMC_TECH_CP,   /* chronopotentiometry: constant current, GCD-like */
  NIMC_TECH_LSV   /* linear sweep: CV-like, one sweep */
} nimc_technique;

/* "gcd", "cv", "eis", "rest", "cp", "lsv", "unknown". */
const char *nimc_technique_name(nimc_technique t);
/* The kind of an instrument's technique name ("GCPL", "Cyclic
 * Voltammetry", case-insensitive); NIMC_TECH_UNKNOWN when not known. */
nimc_technique nimc_technique_of(const char *instrument_name);

/* A measured data file in SI units, one entry per data row.  Every array
 * is malloc'd, n long, or NULL where the file has no such column (owned by
 * the struct: nimc_data_free).  The current is > 0 when it charges the
 * device, as everywhere in nimc: EC-Lab's "<I>/mA" and "I/mA" are > 0 for
 * an oxidation of the working electrode, which charges a cell whose
 * positive electrode is the working electrode (the usual wiring), so they
 * are taken as they are; nimc's own "current_A" already is; any other
 * column named current or I is taken as the potentiostat's convention
 * (> 0 anodic = charging), which the how sentence repeats. */
typedef struct nimc_data {
  size_t n;
  double *time_s, *voltage_V, *current_A;
  double *charge_C;     /* cumulative charge ("(Q-Qo)/mA.h") */
  int *cycle;           /* the file's cycle number, else NULL (the cycles
                           are then those nimc_gcd_cycles finds) */
  int *half_cycle;      /* the file's half-cycle number, else NULL */
  double *freq_Hz, *z_re_ohm, *z_im_ohm; /* impedance, Im Z itself */
  /* the instrument's own counters (EC-Lab), for comparison */
  double *q_charge_C, *q_discharge_C, *energy_charge_J,
      *energy_discharge_J, *efficiency; /* efficiency as a fraction */
  long *line;               /* the file line of each row (the byte offset
                               of its record in a binary file) */
  long header_line;         /* the header's line, 0 without one */
  nimc_technique technique; /* from the file's technique name */
  char technique_name[32];  /* as the file gives it, "" when it does not */
} nimc_data;

/* Read the time series in the data file at path (the readers of
 * nimc_spectrum_read; opts->format picks one, NULL = detect).  Columns are
 * recognised by their header names through one table of (role, accepted
 * names, SI unit) (docs/cli.md lists the names) and converted to SI; a
 * time column is required, and voltage or current.  *how (may be NULL)
 * says which column was read as what.  Errors (NIMC_EDATA, NIMC_EIO) name
 * the file and the line: a missing time column, a cell of a used column
 * that is not a number, time going backwards. */
int nimc_data_read(const char *path, const nimc_read_opts *opts,
                   nimc_data *out, char *how, size_t howlen, nimc_err *err);
/* Release the arrays of d and zero it; NULL-safe. */
void nimc_data_free(nimc_data *d);

/* A run of samples [a, b] (inclusive) of one kind. */
typedef struct nimc_span {
  size_t a, b;
  int sign; /* +1 charge (I > eps), -1 discharge (I < -eps), 0 rest */
} nimc_span;

/* Split a current into half-cycles and rests: the maximal runs of samples
 * with one sign class, eps = rel_eps * max|I| (rel_eps <= 0: 0.01).
 * *out is malloc'd (*nseg entries, the caller frees it).  NIMC_ENOMEM. */
int nimc_segments_find(const double *current_A, size_t n, double rel_eps,
                       nimc_span **out, size_t *nseg, nimc_err *err);

/* How a half-cycle's energy integral of |I| V dt is summed over its
 * samples (docs/metrics.md). */
typedef enum nimc_energy_rule {
  NIMC_ENERGY_TRAPEZOID = 0, /* (|I_k| V_k + |I_k+1| V_k+1) dt / 2: the
                                default, nimc's own */
  NIMC_ENERGY_COUNTER        /* |I_k+1| V_k+1 dt: the value at the right end
                                of each interval, as battery testers' energy
                                counters sum it (EC-Lab's Energy
                                charge/discharge) */
} nimc_energy_rule;

/* The name of a rule ("trapezoid", "counter"), NULL for an unknown one;
 * nimc_energy_rule_of reads a name back (-1 for an unknown name). */
const char *nimc_energy_rule_name(nimc_energy_rule r);
int nimc_energy_rule_of(const char *name);

/* One (charge, discharge) cycle, or a lone discharge (charge values NaN),
 * of a GCD measurement; docs/metrics.md defines every value. */
typedef struct nimc_gcd_cycle {
  int index;          /* 1-based count of the (charge, discharge) pairs; 0
                         for a discharge without a charge before it */
  int file_cycle;     /* the file's cycle number at the discharge, -1 */
  nimc_span charge, discharge; /* first and last sample of each half-cycle
                                   (charge.sign 0: none) */
  double charge_C, discharge_C;   /* integral |I| dt of each half-cycle */
  double energy_charge_J, energy_discharge_J; /* integral |I| V dt by the
                                                 rule energy_rule */
  double coulombic_efficiency;    /* discharge_C / charge_C */
  double energy_efficiency;       /* energy_discharge / energy_charge */
  double capacitance_F;           /* discharge_C / (V_start - V_end) */
  double capacitance_slope_F;     /* I_d / |dV/dt|, fitted over the middle
                                     80 % of the voltage window */
  double capacitance_integral_F;  /* 2 E_d / (V_start^2 - V_end^2) */
  double esr_ohm;                 /* |dV / dI| across the switch */
  double discharge_time_s, discharge_current_A, power_W;
  double v_start_V, v_end_V;      /* after the IR drop, at the end */
  double retention;               /* capacitance_F / that of the first
                                     pair (NaN for a lone discharge) */
  /* the instrument's own counters of this cycle, as the file gives them
   * (nimc_gcd_cycles_instrument); NaN where it gives none */
  double instrument_charge_C, instrument_discharge_C;
  double instrument_energy_charge_J, instrument_energy_discharge_J;
  double instrument_coulombic_efficiency;
  /* the energies by each rule (energy_*_J above hold those of energy_rule,
   * NIMC_ENERGY_TRAPEZOID as nimc_gcd_cycles returns them) */
  nimc_energy_rule energy_rule;
  double energy_charge_trapezoid_J, energy_discharge_trapezoid_J;
  double energy_charge_counter_J, energy_discharge_counter_J;
} nimc_gcd_cycle;

/* The cycles of a GCD or cycling measurement (t, V, I over n samples,
 * file_cycle NULL or the file's cycle number per sample): the segments of
 * nimc_segments_find (rel_eps), runs of one sign with only rests between
 * them merged into one half-cycle; every full discharge half-cycle (>= 3
 * samples under current, positive duration), paired with the full charge
 * half-cycle just before it.  *out is malloc'd (*ncycles rows).
 * NIMC_EDATA for non-finite samples or time going backwards,
 * NIMC_EANALYSIS when there is no full discharge. */
int nimc_gcd_cycles(const double *time_s, const double *voltage_V,
                    const double *current_A, const int *file_cycle, size_t n,
                    double rel_eps, nimc_gcd_cycle **out, size_t *ncycles,
                    nimc_err *err);

/* Copy the instrument's own counters (nimc_data's q_charge_C,
 * q_discharge_C, energy_charge_J, energy_discharge_J, efficiency; EC-Lab
 * writes them) into the n cycles c found in d by nimc_gcd_cycles: each
 * counter at the last sample of its half-cycle, the efficiency at the end
 * of the file's half-cycle (its rest included).  What d lacks stays NaN,
 * so nimc's values and the instrument's can be set side by side. */
void nimc_gcd_cycles_instrument(const nimc_data *d, nimc_gcd_cycle *c,
                                size_t n);

/* Express the energies of the n cycles c by rule r: energy_charge_J and
 * energy_discharge_J, and what follows from them (energy_efficiency,
 * power_W, capacitance_integral_F), from the rule's sums kept in each
 * cycle; every other value is unchanged.  NIMC_EINPUT for an unknown
 * rule (c unchanged). */
int nimc_gcd_cycles_set_energy_rule(nimc_gcd_cycle *c, size_t n,
                                    nimc_energy_rule r, nimc_err *err);

/* The summary metrics of a cycle table (its last row: the last full
 * discharge, as nimc_metrics_gcd reads the last one of a series), with
 * ncycles the pairs, retention the last pair's capacitance over the
 * first's, normalised by norm (may be NULL).  NIMC_EMISUSE for no rows,
 * NIMC_EINPUT for a bad norm. */
int nimc_metrics_of_cycles(const nimc_gcd_cycle *c, size_t n,
                           const nimc_norm *norm, nimc_metrics *out,
                           nimc_err *err);

/* One full cycle of a cyclic voltammogram: two consecutive sweeps of
 * opposite direction. */
typedef struct nimc_cv_cycle {
  nimc_span sweep[2];   /* sample ranges, in time order */
  double scan_rate_V_s;    /* total |dV| / total time of the two sweeps */
  double v_min_V, v_max_V; /* the window */
  double charge_C;         /* integral |I| dt over both sweeps */
  double capacitance_F;    /* charge_C / (2 (v_max - v_min)) */
  double peak_anodic_A, peak_cathodic_A; /* max I of the rising sweep,
                                            min I of the falling one */
} nimc_cv_cycle;

/* The full cycles of a CV (sweeps are the runs of one direction of V, a
 * turn counting only when V retreats from its extreme by more than 2 % of
 * the whole range, so noise does not split a sweep).  *out malloc'd.
 * NIMC_EDATA for bad samples, NIMC_EANALYSIS when there is no full cycle. */
int nimc_cv_cycles(const double *time_s, const double *voltage_V,
                   const double *current_A, size_t n, nimc_cv_cycle **out,
                   size_t *ncycles, nimc_err *err);

/* The b-value of peak currents against scan rates: the least-squares
 * slope of log|i_p| against log v over n >= 2 points, and its R^2.
 * NIMC_EINPUT for n < 2, values not finite and positive, or one rate. */
int nimc_cv_b_value(const double *scan_rate_V_s, const double *peak_A,
                    size_t n, double *b, double *r2, nimc_err *err);

/* Dunn's split i(V) = k1 v + k2 v^(1/2) of nrates sweeps (volt[k], cur[k] of
 * n[k] samples, V monotonic in one direction, all alike, at scan rate
 * rate[k]) on ngrid voltages spread evenly over the range all sweeps
 * share: at each voltage the currents are interpolated and i / v^(1/2) =
 * k1 v^(1/2) + k2 fitted by least squares.  Vgrid, k1, k2 (ngrid each)
 * and cap_fraction (nrates: integral |k1 v| dV / integral |i| dV over the
 * grid) are the caller's arrays.  NIMC_EINPUT for nrates < 2, repeated
 * rates, ngrid < 2, or sweeps that share no voltage range. */
int nimc_cv_dunn(const double *const *volt, const double *const *cur,
                 const size_t *n, const double *rate, size_t nrates,
                 size_t ngrid, double *Vgrid, double *k1, double *k2,
                 double *cap_fraction, nimc_err *err);

/* Self-discharge of a rest (open circuit) from t[0], V[0] = V0. */
typedef struct nimc_rest_result {
  double v0_V, v_end_V, duration_s;
  double threshold;        /* the fraction of V0 */
  double time_to_threshold_s; /* first time V <= threshold V0 (linear
                                 interpolation); NaN when not reached */
  double slope_log_V;      /* dV / d log10(t - t0), Conway's activation-
                              controlled leak */
  double r2_log;
  double slope_sqrt_V;     /* dV / d sqrt(t - t0) (V/s^0.5), the
                              diffusion-controlled leak */
  double r2_sqrt;
  double slope_ln_per_s;   /* d ln V / d(t - t0) (1/s), an ohmic leak
                              (V0 exp(-t / RC): -1 / RC); NaN when some
                              V <= 0 */
  double r2_ln;
  double v_ref_V;          /* the voltage the threshold is a fraction of:
                              v0_V (nimc_rest_analyze), Vmax
                              (nimc_result_self_discharge) */
} nimc_rest_result;

/* Self-discharge of t, V (n >= 3 samples of one rest).  threshold in
 * (0, 1) (<= 0: 0.6).  NIMC_EDATA for bad samples, NIMC_EINPUT for a bad
 * threshold, NIMC_EANALYSIS when the rest is too short to fit. */
int nimc_rest_analyze(const double *time_s, const double *voltage_V, size_t n,
                      double threshold, nimc_rest_result *out, nimc_err *err);

/* Linear sweep voltammetry of an electrolyte between an inert working
 * electrode and a counter electrode: its stability limit (docs/metrics.md). */
typedef struct nimc_lsv_result {
  double v_start_V, v_end_V; /* the sweep's first and last voltage */
  double scan_rate_V_s;      /* |V_end - V_start| / duration */
  double threshold_A;        /* the current that marks the onset */
  double onset_V;            /* the first voltage at which the current in the
                                sweep's direction reaches threshold_A
                                (linear interpolation); NaN when it never
                                does */
  double i_start_A, i_end_A; /* the current at the sweep's ends */
} nimc_lsv_result;

/* The oxidation (a rising sweep) or reduction (a falling one) onset of t,
 * V, I (n >= 3 samples of one sweep; I > 0 oxidising the working
 * electrode, which is at V): the first voltage at which the current in
 * the direction of the sweep, I for a rising and -I for a falling one,
 * reaches threshold_A (> 0).  NIMC_EDATA for bad samples, NIMC_EINPUT for
 * a bad threshold, NIMC_EANALYSIS when V does not sweep (its two ends
 * within 1 mV). */
int nimc_lsv_analyze(const double *time_s, const double *voltage_V,
                     const double *current_A, size_t n, double threshold_A,
                     nimc_lsv_result *out, nimc_err *err);

/* The self-discharge of a simulation whose last step is a rest: from the
 * rest's start to fraction (in (0, 1); <= 0: 0.6) of Vmax, Vmax the
 * voltage the step before it ended at (the paper's "from Vmax to
 * 0.6 Vmax": the rest's first voltage is lower by the IR drop), or the
 * rest's own first voltage when it is the first step; then as
 * nimc_rest_analyze over the rest's samples (out->threshold the fraction
 * of out->v0_V, out->v_ref_V = Vmax; time_to_threshold_s 0 when the rest
 * starts below, NaN when not reached).  NIMC_EANALYSIS when the last step
 * is not a rest or has fewer than 3 samples (a run without samples). */
int nimc_result_self_discharge(const nimc_result *res, double fraction,
                               nimc_rest_result *out, nimc_err *err);

/* The same for the samples t, V (n >= 3) of one rest that followed a
 * charge to vmax (<= 0 or not finite: the rest's own first voltage): the
 * time from the rest's start to fraction x vmax.  NIMC_EINPUT for a bad
 * fraction; otherwise as nimc_rest_analyze. */
int nimc_rest_analyze_vmax(const double *time_s, const double *voltage_V,
                           size_t n, double fraction, double vmax,
                           nimc_rest_result *out, nimc_err *err);

/* ---- impedance of a simulated device ---------------------------------- */

/* How far the simulation's state is from a steady state: the rms, over
 * the differential unknowns, of y'_i t_scale_s / (rel_tol |y_i| + atol_i
 * rel_tol / rtol), atol and rtol the solver's tolerances.  Below 1, the
 * state moves by less than rel_tol (relative) over t_scale_s. */
double nimc_sim_drift(nimc_sim *sim, double t_scale_s, double rel_tol);

/* Put the device at open circuit (I = 0) where it is, without advancing
 * time: the algebraic unknowns are made consistent and the time
 * derivatives are the state's true rates of change at rest (read from one
 * trial step of the integrator), so that nimc_sim_drift tells how fast the
 * state moves (a fresh simulation has y' = 0, which a leaking device does
 * not).  NIMC_ESOLVER when the initialisation fails. */
int nimc_sim_at_rest(nimc_sim *sim);

/* Hold the device at voltage V (potentiostatically) from its current state
 * until it is steady, nimc_sim_drift(sim, t_scale_s, rel_tol) <= 1; the
 * simulated time advances, and *settle_time_s (may be NULL) receives how
 * long it took.  NIMC_ESOLVER when the solver fails, or when the device is
 * not steady within max_time_s (the message says how far it was). */
int nimc_sim_settle(nimc_sim *sim, double V, double t_scale_s, double rel_tol,
                    double max_time_s, double *settle_time_s);

/* What an impedance calculation did. */
typedef struct nimc_eis_info {
  double t_s;                /* simulated time of the operating point */
  double voltage_V, current_A; /* at the operating point */
  long unknowns, jacobian_nonzeros;
  long full_factorizations;  /* KLU numeric factorisations with pivoting */
  long refactorizations;     /* refactorisations with earlier pivots */
  long solves;               /* triangular solve pairs (refinement included) */
  long refinements;          /* iterative-refinement steps */
  double max_backward_error; /* worst componentwise backward error accepted */
  double max_correction;     /* worst last refinement correction of Z,
                                relative: an estimate of its error */
} nimc_eis_info;

/* The small-signal impedance of the device at its current state (the
 * operating point: the state as it is, e.g. after nimc_sim_settle or
 * nimc_sim_run), at the n frequencies freq_Hz: the DAE is linearised there,
 * (dF/dy + j w dF/dy') dy = b with the current as the input and the
 * voltage as the output, and one complex sparse system is solved per
 * frequency (KLU; the symbolic analysis once per spectrum).  Z is
 * dV/dI with I > 0 charging, so a capacitive response has Im Z < 0.  out
 * is allocated (nimc_spectrum_free); info may be NULL.  The state is not
 * changed.  NIMC_EINPUT for a frequency that is not finite and positive,
 * NIMC_ESOLVER when a system cannot be solved accurately. */
int nimc_sim_impedance(nimc_sim *sim, const double *freq_Hz, size_t n,
                       nimc_spectrum *out, nimc_eis_info *info);

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

/* ---- output of data ---------------------------------------------------- */

/* Write len bytes of data to path atomically (via a fresh "<path>.tmp.XXXXXX"
 * made by mkstemp beside it; the file ends with mode 0644).  On
 * failure the target is untouched, the temporary is removed, and err names
 * the path and the system's reason (NIMC_EIO). */
int nimc_write_atomic(const char *path, const char *data, size_t len,
                      nimc_err *err);

/* Write the spectrum s as CSV: "frequency_Hz,z_re_ohm,z_im_ohm,z_mod_ohm,
 * phase_deg" (phase = arg Z in degrees), then, when fit is non-NULL,
 * "z_re_fit_ohm,z_im_fit_ohm" (the fitted circuit at the same
 * frequencies), and when kk is non-NULL "kk_res_re,kk_res_im" (Lin-KK
 * residuals relative to |Z|); %.10g numbers, written atomically. */
int nimc_spectrum_write_csv(const nimc_spectrum *s, const nimc_fit *fit,
                            const nimc_linkk *kk, const char *path,
                            nimc_err *err);

/* Write s as CSV with the header "time_s,voltage_V,current_A,step" and
 * %.10g numbers (a missing step array is written as -1). */
int nimc_series_write_csv(const nimc_series *s, const char *path,
                          nimc_err *err);

/* Write the fields f as CSV with the header
 * "x_m,z_m,dx_m,dz_m,region,c_mol_m3,phi_e_V,reaction_A_m3", one row per
 * cell (%.10g numbers, region as the nimc_region_kind number). */
int nimc_fields_write_csv(const nimc_fields *f, const char *path,
                          nimc_err *err);

/* ---- fitting device parameters to a measured curve -------------------- */

/* How nimc_protocol_from_series cuts a measured series into steps. */
typedef struct nimc_protocol_opts {
  double rel_tol;        /* a sample belongs to a constant-current segment
                            when its current is within rel_tol of the
                            segment's mean (default 0.02) */
  double rest_current_A; /* |I| at most this is a rest; 0 (default):
                            1e-3 of the largest |I| of the series */
  double v_tol_V;        /* how close a voltage counts as "the same" when
                            deciding that a segment ended on a voltage
                            limit; 0 (default): the larger of 1e-3 of the
                            series' voltage range and 5 times its noise
                            (estimated from fourth differences) */
} nimc_protocol_opts;

nimc_protocol_opts nimc_protocol_opts_default(void);

/* The experiment a measured series followed, one step per segment. */
typedef struct nimc_protocol {
  size_t n;           /* steps */
  char **lines;       /* n step lines of the experiment language:
                         "Charge at 0.00161 A until 3.5 V",
                         "Discharge at 0.00161 A for 120 s",
                         "Rest for 10 s" */
  size_t *first, *last; /* n each: the samples of the segment behind step k
                           are first[k]..last[k] of the series */
  nimc_experiment *exp; /* the lines, parsed */
} nimc_protocol;

/* Release what a protocol holds and zero it (NULL-safe). */
void nimc_protocol_free(nimc_protocol *p);

/* Build the experiment of the measured series s from its own current:
 * consecutive samples whose current is constant (within opts->rel_tol)
 * form a segment, |I| <= rest_current_A a rest; a lone sample between two
 * segments (a potentiostat's sample at the switch) belongs to neither.  A
 * segment lasts from the middle of its gap to the one before to the
 * middle of its gap to the one after (the first and the last from their
 * own first and last samples).  A segment at constant current becomes
 * "Charge at |I| A" (I > 0) or "Discharge at |I| A", with "until V V" when
 * it ended on a voltage limit -- its last voltage is the extreme of the
 * segment in the direction of its current and either the extreme of the
 * whole series in that direction or the end voltage of another segment of
 * the same direction (all within v_tol_V) -- and "for D s" otherwise; a
 * rest becomes "Rest for D s".  V is the segment's last voltage; in noisy
 * data (noise above 0.1 mV) the parabola through its last 30 samples at
 * its end, rounded to the fewest decimals of a volt within 2.5
 * standard errors of that (a limit is a round number the noisy last
 * sample overshoots).  Currents are written with 4 significant
 * digits (an instrument's), durations with 6, voltages rounded to the
 * microvolt.  opts NULL: defaults.
 * NIMC_EDATA when the series has fewer than 2 samples, a value that is
 * not finite, or time that goes backwards (the message names the
 * sample). */
int nimc_protocol_from_series(const nimc_series *s,
                              const nimc_protocol_opts *opts,
                              nimc_protocol *out, nimc_err *err);

/* One parameter of a device fit: the device key, its bounds and start. */
typedef struct nimc_fit_param {
  const char *key;   /* "section.key", as nimc_device_load's overrides */
  const char *unit;  /* the SI unit lo, hi and start are in, written after
                        the value in the override; NULL or "": the unit
                        the device reads the key in (nimc_device_param) */
  double lo, hi;     /* bounds, 0 < lo < hi */
  double start;      /* in [lo, hi]; NaN: the device's own value */
} nimc_fit_param;

typedef enum nimc_fit_method {
  NIMC_FIT_LM = 0,    /* GSL multifit_nlinear: trust region with
                         Levenberg-Marquardt steps */
  NIMC_FIT_SIMPLEX    /* GSL multimin nmsimplex2 on chi2 (derivative-free,
                         for curves whose residuals jump) */
} nimc_fit_method;

/* Called after each iteration with its number (1, 2, ...), chi2 and the
 * np current parameter values (SI); return non-zero to stop the fit (it
 * then ends with what it has, converged = 0, reason "interrupted"). */
typedef int (*nimc_fit_progress_fn)(void *user, int iter, double chi2,
                                    const double *values, size_t np);

typedef struct nimc_device_fit_opts {
  nimc_fit_method method;
  int accel;          /* LM: geodesic acceleration (Transtrum's, GSL's
                         lmaccel), second derivatives by differences */
  int max_iter;       /* default 50 (LM), 100 per parameter (simplex) */
  double xtol, gtol;  /* LM: gsl_multifit_nlinear_test's step and gradient
                         tolerances (default 1e-5, 1e-8); simplex: xtol is
                         the size of the simplex in the fit coordinates at
                         which it stops (default 1e-3) */
  double chi2_tol;    /* LM also stops when a Gauss-Newton step from
                         where it is would lower chi2 by less than
                         chi2_tol times the residual variance
                         chi2 / (n - np) (default 1e-2): the minimum of
                         the linearised problem is then within
                         sqrt(chi2_tol) = 0.1 standard errors */
  double fd_step;     /* relative step of the finite-difference Jacobian
                         (of ln p); 0 (default): 30 sqrt(rtol) of the
                         simulations, at least 1e-3 */
  int central;        /* central differences for the Jacobian (two
                         simulations a parameter instead of one; default
                         1): forward differences' O(h) error bends the
                         Gauss-Newton step in a narrow valley, and
                         Levenberg-Marquardt then crawls */
  const double *sigma_V; /* n standard deviations of the measured voltages,
                            the weights 1/sigma^2; NULL: all 1 */
  nimc_sim_opts sim;  /* the simulations' solver options; the default
                         rtol is 1e-8 (tighter than a run's, so that the
                         differences of the Jacobian rise above the
                         solver's noise); output_dt_s 0: a quarter of the
                         median spacing of the measured times (at least
                         1e-5 of their span), so that interpolating the
                         model between its samples costs nothing */
  nimc_fit_progress_fn progress;
  void *progress_user;
  int evaluate_only;  /* 1: no fit, only the model at the start values
                         (every residual, model value and rms; standard
                         errors, correlations and sensitivities NaN or
                         absent): a check of the data against the model */
} nimc_device_fit_opts;

nimc_device_fit_opts nimc_device_fit_opts_default(void);

/* One fitted parameter. */
typedef struct nimc_fit_value {
  double value, std_err; /* SI; std_err NaN when the covariance is singular
                            or there are no more points than parameters */
  double start, lo, hi;  /* as used (a NaN start resolved) */
  char unit[32];         /* as used */
} nimc_fit_value;

/* What nimc_device_fit found.  Arrays are malloc'd. */
typedef struct nimc_device_fit_result {
  size_t np, n;            /* parameters, measured points */
  nimc_fit_value *param;   /* np */
  double *corr;            /* np x np correlation matrix, row-major (NaN
                              where a standard error is) */
  double *model_V;         /* n: the model at the measured times, final */
  double *residual_V;      /* n: model - measured, unweighted */
  double chi2, chi2_start; /* weighted sum of squared residuals, at the end
                              and at the start */
  double rms_V, rms_start_V; /* rms of the unweighted residuals */
  size_t n_held;           /* measured points outside the time span of
                              the simulated step they were compared with
                              (or after the end of the simulation), whose
                              model voltage was held, final */
  int by_step;             /* 1: the final comparison was step by step,
                              0: by time alone */
  long simulations;        /* run, the Jacobian's included */
  long failed_simulations; /* of those, ones the solver stopped early */
  int iterations;
  int converged;           /* a tolerance was met */
  char reason[128];        /* why it stopped, in words */
} nimc_device_fit_result;

void nimc_device_fit_result_free(nimc_device_fit_result *r);

/* Fit the np parameters params[] of the device at path (with the fixed
 * overrides sets[]) so that exp simulated from the device's initial state
 * reproduces the measured voltages of meas.  Residual k is
 * (V_model(t_k) - V_k) / sigma_k, t_k measured from meas' first sample.
 * The measured series is cut into segments as nimc_protocol_from_series
 * does; when the simulation has as many steps, of the same kinds (rest,
 * charge, discharge, from the sign of their first current), sample k is
 * compared with its own segment's step: V_model is interpolated linearly
 * within that step's samples at t_k, and held at the step's first or last
 * voltage when t_k falls before or after it (so a parameter that moves a
 * switch moves the residuals continuously, never by the jump at the
 * switch).  Otherwise (and for a lone sample at a switch) V_model is
 * interpolated within the simulated step that holds t_k, never across a
 * switch, and after the simulation's end it is its last voltage; with no
 * simulated sample at all the residual is the measured voltage range.  Each parameter is fitted in the
 * coordinate u = logit((ln p - ln lo) / (ln hi - ln lo)), so it stays
 * within its bounds and moves by ratios.  LM uses a forward-difference
 * Jacobian in ln p; the covariance is s^2 (J^T W J)^-1 with
 * s^2 = chi2 / (n - np), the standard errors its diagonal (first order:
 * p * SE(ln p)).  Every simulation loads the device afresh with the
 * overrides, runs opts->sim's solver and is discarded.  Never prints
 * (opts->progress reports).  NIMC_EINPUT for bad parameters (a key the
 * device does not have, bounds not 0 < lo < hi, a start outside them, a
 * bound the device rejects), fewer points than parameters, or bad options;
 * NIMC_EDATA for a series with a value that is not finite or time going
 * backwards; NIMC_ESOLVER when the simulation at the start fails (err says
 * why); otherwise NIMC_OK with out filled, also when the iteration limit
 * was reached (out->converged = 0). */
int nimc_device_fit(const char *path, const char *const *sets, size_t nsets,
                    const nimc_fit_param *params, size_t np,
                    const nimc_series *meas, const nimc_experiment *exp,
                    const nimc_device_fit_opts *opts,
                    nimc_device_fit_result *out, nimc_err *err);

/* ---- fitting to several observations at once ------------------------- */

/* What one observation of a fit compares with the model. */
typedef enum nimc_fit_obs_kind {
  NIMC_OBS_VOLTAGE = 0, /* a measured voltage against time under a
                           current-controlled experiment (charge,
                           discharge, rest): residual (V_model - V) /
                           sigma at each measured time, compared step by
                           step as nimc_device_fit says */
  NIMC_OBS_CURRENT,     /* a measured current against time under a
                           voltage-controlled experiment (sweeps of a CV,
                           holds): residual (I_model - I) / sigma at each
                           measured time, interpolated within the
                           simulated step that holds it */
  NIMC_OBS_IMPEDANCE,   /* a measured spectrum: the model's small-signal
                           impedance at the measured frequencies, at rest
                           in the device's initial state (or where exp
                           leaves it); residuals (Re, Im of Z_model - Z) /
                           (sigma |Z|), the real parts first */
  NIMC_OBS_METRIC       /* one number: a metric (nimc_fit_metric_name) of
                           the simulated experiment, or of the simulated
                           spectrum; residual (m / value - 1) / sigma */
} nimc_fit_obs_kind;

/* One observation: which device, what was done to it, what was measured.
 * Pointers are borrowed for the duration of the fit. */
typedef struct nimc_fit_obs {
  nimc_fit_obs_kind kind;
  const char *name;          /* for reports; NULL: "observation k" */
  const char *device;        /* the device file */
  const char *const *sets;   /* its fixed overrides (before the fitted
                                parameters'), nsets of them */
  size_t nsets;
  const nimc_experiment *exp; /* VOLTAGE, CURRENT: the experiment (from the
                                 initial state); METRIC of a GCD metric: the
                                 experiment whose last discharge is read, or
                                 one cycle repeated until steady; IMPEDANCE
                                 and METRIC of a spectrum: run before the
                                 spectrum (NULL: none, at rest) */
  const nimc_series *series; /* VOLTAGE, CURRENT: the measurement */
  const double *sigma_pt;    /* VOLTAGE, CURRENT: per-point standard
                                deviations (V or A), series->n; NULL: sigma */
  const nimc_spectrum *spectrum; /* IMPEDANCE: the measurement */
  const double *freq_Hz;     /* METRIC of a spectrum: its frequencies, nfreq;
                                NULL: 100 kHz to 10 mHz, 10 per decade */
  size_t nfreq;
  const char *metric;        /* METRIC: its name */
  const char *circuit;       /* METRIC r_ct_ohm: the circuit fitted to the
                                simulated spectrum (NULL: "R0-p(R1,CPE1)-
                                CPE2", the paper's) */
  double value;              /* METRIC: the measured value, in the unit its
                                name ends in */
  double sigma;              /* standard deviation: VOLTAGE in V, CURRENT in
                                A, IMPEDANCE and METRIC relative (0.05 = 5
                                %); <= 0: 1 */
  int until_steady;          /* METRIC of a GCD metric: exp is one cycle,
                                run again and again from the initial state
                                until steady (nimc_sim_run_until_steady,
                                default criterion) and read on the steady
                                cycle; 0: exp run once, its last discharge
                                read */
} nimc_fit_obs;

/* The metrics a METRIC observation can name, k = 0, 1, ...: NULL past the
 * last.  *of_spectrum (may be NULL) is 1 for those read off the simulated
 * spectrum (r_ohmic_ohm: the high-frequency intercept; r_ct_ohm: the
 * charge-transfer resistance of the fitted circuit), 0 for the GCD metrics
 * of nimc_metrics (capacitance_F, capacitance_volumetric_F_cm3, ...) and
 * self_discharge_time_h (the experiment's last step, a rest: the time from
 * its start to 0.6 Vmax, Vmax the voltage the step before it ended at, or
 * its own first voltage when it is the first step; nimc_rest_analyze). */
const char *nimc_fit_metric_name(size_t k, int *of_spectrum);

/* What a fit found about one observation.  Arrays malloc'd, n each. */
typedef struct nimc_fit_obs_result {
  char name[96];
  size_t n;            /* residuals: the series' samples, 2 per frequency
                          (the real parts, then the imaginary), or 1 */
  double *x;           /* time from the first sample (s), frequency (Hz),
                          or NULL for a metric */
  double *data, *model; /* measured and modelled: V, A, ohm, or the metric */
  double chi2;         /* its share of the weighted sum of squares */
  double rms;          /* rms of model - data, in the data's unit */
  double rms_start;    /* the same at the start values */
  size_t n_held;       /* VOLTAGE, CURRENT: points held at a step's end */
  int by_step;         /* VOLTAGE: compared step by step */
  int not_steady;      /* METRIC until steady: the final simulation was not
                          steady within the cycle limit (its last cycle was
                          read) */
  int failed;          /* the final simulation failed */
  double *sensitivity; /* np: d ln(model) / d ln(p_k) at the end (METRIC
                          only; NULL otherwise) */
} nimc_fit_obs_result;

/* What nimc_fit_run found.  Arrays are malloc'd. */
typedef struct nimc_fit_result {
  size_t np, nobs, n;      /* parameters, observations, residuals */
  nimc_fit_value *param;   /* np; std_err scaled by the residual variance
                              chi2 / (n - np) as nimc_device_fit */
  double *std_err_sigma;   /* np: the standard errors from the stated
                              sigmas alone, sqrt(diag (J^T W J)^-1), not
                              scaled by the residual (NaN where singular):
                              the uncertainty when the sigmas are the
                              measurements' true errors */
  double *corr;            /* np x np, row-major */
  nimc_fit_obs_result *obs; /* nobs */
  double chi2, chi2_start;
  long simulations, failed_simulations;
  int iterations, converged;
  char reason[128];
} nimc_fit_result;

void nimc_fit_result_free(nimc_fit_result *r);

/* Fit the np parameters params[] so that the model reproduces all nobs
 * observations at once: one weighted least-squares problem over all their
 * residuals, with the method, coordinates, Jacobian and statistics of
 * nimc_device_fit (opts as there; opts->sigma_V is ignored, each
 * observation carries its own sigma).  The parameters are looked up in the
 * first observation's device and must be accepted at both bounds by every
 * observation's device.  Observations that simulate the same thing (same
 * device, overrides, experiment pointer and, for spectra, frequencies and
 * circuit) share one simulation per evaluation.  A simulation that fails
 * gives its observation residuals of 100 % (VOLTAGE and CURRENT: the
 * measured range).  Errors as nimc_device_fit, plus NIMC_EINPUT for an
 * observation without what its kind needs or an unknown metric (the message
 * names the observation). */
int nimc_fit_run(const nimc_fit_param *params, size_t np,
                 const nimc_fit_obs *obs, size_t nobs,
                 const nimc_device_fit_opts *opts, nimc_fit_result *out,
                 nimc_err *err);

/* The experiment a cyclic voltammogram followed: one "Sweep from A V to
 * B V at R mV/s" step per sweep (the runs of one direction of V, as
 * nimc_cv_cycles finds them), A and B the line fitted to V against t
 * over the sweep's middle 80 %, at the sweep's ends, R its slope; each
 * written as the roundest number near it (A and B: the fewest decimals
 * within 1 mV; R: the fewest significant digits, at most 4, within 0.1 %)
 * since an instrument's vertices and rates are set as round numbers; a
 * sweep after the first starts where the one before ended.  first/last as nimc_protocol_from_series.
 * NIMC_EDATA as there; NIMC_EANALYSIS when V does not sweep. */
int nimc_protocol_from_sweeps(const nimc_series *s, nimc_protocol *out,
                              nimc_err *err);

/* The sweeps of V (runs of one direction; a turn counts when V retreats
 * from its running extreme by more than 2 % of the whole range): *out
 * malloc'd, *nsweeps of them.  NIMC_EDATA for fewer than 2 samples or a
 * value that is not finite, NIMC_ENOMEM. */
int nimc_cv_sweeps(const double *voltage_V, size_t n, nimc_span **out,
                   size_t *nsweeps, nimc_err *err);

#ifdef __cplusplus
}
#endif
#endif /* NIMC_NIMC_H */
