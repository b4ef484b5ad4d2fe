/*
 * report.h -- what the nimc command line reports with: the summary JSON,
 * the model-against-paper tables of nimc reproduce, and the figures
 * (gnuplot).  Applications that only simulate and analyse need nimc.h
 * alone; this header is the reporting layer built on it (src/io/output.c,
 * src/report/), kept out of the simulation API.
 */
#ifndef NIMC_REPORT_H
#define NIMC_REPORT_H

#include "nimc/nimc.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- model against paper ----------------------------------------------- */

/* One row of a model-against-paper table (nimc reproduce).  rel_error is
 * not stored: it is always (model - paper) / paper, computed by
 * nimc_validation_rel_error.  Nothing here is owned. */
typedef struct nimc_validation_row {
  const char *id;       /* stable key, e.g. "cv_0.1" */
  const char *quantity; /* what is compared, in words */
  const char *unit;     /* of paper and model ("1" when unitless) */
  double paper;         /* the published value */
  double model;         /* the simulated value; NaN = not computed */
  int cycle;            /* the cycle the model value was read from
                           (nimc_metrics.cycle); 0 = not read from a cycle
                           (an impedance, or not computed) */
  int cycle_ref;        /* for a ratio, the cycle of its denominator; 0 =
                           none */
  const char *excluded; /* NULL, or why the model value is not compared
                           with the paper (it is still reported) */
  const char *role;     /* "calibration" (a point the model's parameters
                           were fitted to, or read from the same
                           measurement), "prediction" (not fitted; paper
                           NaN where the paper gives no value), or NULL */
} nimc_validation_row;

/* (model - paper) / paper; NaN when either is not finite (a model-only
 * row has paper NaN), paper is 0, or the row is excluded. */
double nimc_validation_rel_error(const nimc_validation_row *row);

/* Write rows as CSV with the header
 * "id,quantity,unit,paper,model,rel_error,cycle,cycle_ref,excluded,role"
 * (%.10g numbers, an empty field where a value is NaN or a cycle 0 or a
 * text NULL; text fields quoted when they hold a comma or a quote). */
int nimc_validation_write_csv(const nimc_validation_row *rows, size_t nrows,
                              const char *path, nimc_err *err);

/* The impedance part of a summary (nimc eis, nimc fit-eis); nothing here
 * is owned, and every pointer may be NULL (its keys are then left out). */
typedef struct nimc_eis_summary {
  const nimc_spectrum *spectrum; /* "spectrum": object of arrays
                                    frequency_Hz, z_re_ohm, z_im_ohm,
                                    z_mod_ohm, phase_deg */
  const nimc_circuit *circuit;   /* with fit: "circuit", "parameters",
                                    "standard_errors", "fit" (statistics,
                                    correlation) */
  const nimc_fit *fit;
  const nimc_linkk *linkk;       /* "linkk": M, mu, residuals */
  double r_ohmic_ohm, r_ct_ohm;  /* into "metrics" (with the fit's
                                    rmse_ohm) when finite */
  const nimc_eis_info *info;     /* "operating_point" and "eis_solver" of
                                    a simulated spectrum */
  double settle_time_s, drift;   /* of the operating point (NaN: not
                                    computed) */
  const char *source, *read_as;  /* measured: the data file, and how it
                                    was read */
} nimc_eis_summary;

/* A named number of an analysis, written into "metrics" (left out when
 * not finite); nothing is owned. */
typedef struct nimc_named_value {
  const char *key;
  double value;
} nimc_named_value;

/* The measured-data part of a summary (nimc analyze); nothing is owned,
 * every pointer may be NULL (its keys are then left out). */
typedef struct nimc_analysis_summary {
  const char *source;    /* "analysis": {"source", "read_as", "kind", */
  const char *read_as;   /*              "technique"} */
  const char *kind;
  const char *technique;
  const nimc_named_value *values; /* more "metrics" keys */
  size_t nvalues;
  const nimc_gcd_cycle *cycles;   /* "cycles": per-cycle objects */
  size_t ncycles;
  const nimc_cv_cycle *cv_cycles; /* "cv_cycles": per-cycle objects */
  size_t ncv_cycles;
} nimc_analysis_summary;

/* What the summary JSON is made of; nothing here is owned. */
typedef struct nimc_summary {
  const char *device;             /* device name; NULL = omitted */
  double temperature_C;           /* omitted when not finite */
  const nimc_result *result;      /* its steps; NULL = no steps */
  const nimc_metrics *metrics;    /* NULL = empty "metrics" object */
  const nimc_solver_stats *stats; /* NULL = no "solver" object */
  /* the "validation" array of reproduce; NULL = no "validation" key.
   * Unlike elsewhere, a NaN paper or model value (and its rel_error) is
   * written as null: every row has every key (cycle and cycle_ref null
   * when 0, excluded and role null when NULL). */
  const nimc_validation_row *validation;
  size_t nvalidation;
  const nimc_eis_summary *eis; /* NULL = no impedance keys */
  /* the "steady" object of a run until steady; NULL = no "steady" key */
  const nimc_steady_info *steady;
  /* measured data (nimc analyze); NULL = no "analysis" key */
  const nimc_analysis_summary *analysis;
  /* a run that ends with a rest (nimc_result_self_discharge); NULL = no
   * "self_discharge" key */
  const nimc_rest_result *self_discharge;
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

/* The axes of one panel of a figure; the texts may be NULL. */
typedef struct nimc_axes {
  const char *xlabel, *ylabel, *title;
  int logx, logy; /* logarithmic axes (points <= 0 there are left out) */
  int equal;      /* one scale on both axes (a Nyquist plot) */
} nimc_axes;

/* One panel: curves on one pair of axes; nothing is owned. */
typedef struct nimc_panel {
  const nimc_curve *curves;
  size_t ncurves;
  nimc_axes axes;
} nimc_panel;

/* Panels stacked one above the other in one figure under title (may be
 * NULL): writes dir/STEM.dat, dir/STEM.gp, dir/STEM.log, and dir/STEM.png
 * and dir/STEM.svg atomically; errors as nimc_plot_gcd, NIMC_EINPUT when
 * no curve has a point. */
int nimc_plot_panels(const nimc_panel *panels, size_t npanels,
                     const char *title, const char *dir, const char *stem,
                     nimc_err *err);

/* nimc_plot_panels with its texts (title, axis labels, legend entries) in
 * gnuplot's enhanced syntax when enhanced is non-zero, so that units are
 * typeset: "mA cm^{-2}", "t^{1/2}"; a literal ^ _ @ & ~ { } then needs a
 * backslash before it (nimc_plot_escape). */
int nimc_plot_panels_text(const nimc_panel *panels, size_t npanels,
                          const char *title, int enhanced, const char *dir,
                          const char *stem, nimc_err *err);

/* Copy text into buf (capacity cap, always terminated) with gnuplot's
 * enhanced-text characters escaped, for a name in an enhanced title. */
void nimc_plot_escape(const char *text, char *buf, size_t cap);

/* The figures of a run (nimc run -o): which figures, by the technique the
 * run's steps make (nimc_run_technique), each as nimc_plot_panels writes
 * them: STEM.png (300 dpi), STEM.svg, STEM.gp, STEM.dat, STEM.log.
 *   gcd      gcd: voltage against time (a series longer than a few
 *            thousand points decimated)
 *   cycling  cycling: capacitance retention and coulombic efficiency
 *            against cycle (res->cycles), and gcd: voltage against the
 *            time in the cycle of the first and last three cycles
 *   cv       cv: current density against voltage, a curve per cycle and
 *            scan rate (of many, each rate's first and last three)
 *   rest     rest: voltage of the last rest after a charge against t,
 *            log t and t^1/2 (Conway's diagnostic plots)
 *   load     load: voltage, current and power against time
 * Titles name the device and the condition (current density, scan rate,
 * temperature, cycles).  stems (room for NIMC_RUN_FIGURES_MAX + 1)
 * receives the names of the figures drawn, NULL-terminated.  A run with
 * nothing to draw (no series, no cycles) draws nothing and succeeds. */
#define NIMC_RUN_FIGURES_MAX 4
typedef struct nimc_run_info {
  const char *device;   /* for titles; NULL = none */
  double temperature_C; /* for titles; NaN = not said */
  double area_m2;       /* footprint, for current densities; <= 0 or NaN:
                           currents in mA */
} nimc_run_info;

/* The technique of res's steps, the name of nimc_plot_run's list: a sweep
 * makes "cv"; charge/discharge Repeated (two cycles or more) "cycling"; a
 * constant-power or resistor step "load"; a rest after a charge "rest";
 * anything else "gcd". */
const char *nimc_run_technique(const nimc_result *res);

int nimc_plot_run(const nimc_result *res, const nimc_run_info *info,
                  const char *dir, const char **stems, nimc_err *err);

/* One spectrum in an impedance figure; nothing is owned. */
typedef struct nimc_zcurve {
  const char *label;        /* legend entry; NULL = none */
  const nimc_spectrum *s;
  int markers, color;       /* as in nimc_curve */
} nimc_zcurve;

/* The Nyquist figure of n spectra: -Im Z against Re Z on equal axes
 * (capacitive arcs up), dir/STEM.png and .svg; errors as
 * nimc_plot_panels. */
int nimc_plot_nyquist(const nimc_zcurve *z, size_t n, const char *title,
                      const char *dir, const char *stem, nimc_err *err);
/* The Bode figure of n spectra: |Z| (log) above and -phase (degrees)
 * below, against the frequency (log); errors as nimc_plot_panels. */
int nimc_plot_bode(const nimc_zcurve *z, size_t n, const char *title,
                   const char *dir, const char *stem, nimc_err *err);

#ifdef __cplusplus
}
#endif

#endif /* NIMC_REPORT_H */
