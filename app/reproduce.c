/*
 * reproduce.c -- `nimc reproduce`: the paper's experiments, model against
 * paper.
 *
 * The experiments of Zheng et al. (Adv. Sci. 2019, 6, 1902147) that the
 * simulator can run so far are re-run on the shipped devices (nimc.ini, the
 * uncovered NTO//AG-NIMC, and nimc-covered.ini, NTO//AG-NIMC-C), and each
 * published number is set beside the model's:
 *   (a) GCD profiles of the uncovered device at a few current densities;
 *   (b) capacitance against current density for both devices;
 *       every GCD measured as the paper measured it, after formation: the
 *       cycle is repeated until it is steady (nimc_sim_run_until_steady),
 *       and the numbers are those of the steady cycle, which each row
 *       names;
 *   (c) maps of the fields at the end of a fast charge, both devices;
 *   (d) the impedance spectra of both devices at their initial state,
 *       fitted with nimc eis's default circuit, as the paper read its
 *       equivalent series and charge-transfer resistances.
 * Everything that varies from one experiment to the next is data in the
 * static tables below (devices, currents, published values), so a new
 * comparison is a new row, not new code.  The GCD simulations that the
 * tables need are collected once (a current used by (a), (b) and the
 * validation table is simulated once) and run one after the other.
 *
 * Nothing here tunes the model to the paper: the published values are
 * only printed beside the model's and drawn as markers.  A simulation that
 * fails is reported (which experiment, which device and current, why), its
 * values become null / "failed", the rest goes on, and the exit status is
 * 1.  A measurement that is not what the paper measured (its discharge
 * ended before 0 V, or its cycles were not steady within the cycle limit)
 * keeps its model value but is excluded from the comparison (no relative
 * error; the reason is printed and written with the row).  The command uses the
 * public API only; figures come from the report layer (nimc_plot_curves,
 * nimc_plot_fields), files from the io layer.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nimc/nimc.h"
#include "paper.h"
#include "reproduce.h"

/* ---- the experiments, as data ---- */

/* The devices, as files in the --devices directory. */
static const char *const device_files[NDEV] = {"nimc.ini", "nimc-covered.ini"};

/* The GCD window of every measurement (the paper's 0 to 3.5 V).  Each
 * measurement cycles from the device's initial state until the cycle is
 * steady, by the defaults of nimc_steady_opts_default (at least 3 cycles,
 * coulombic efficiency >= 0.99, capacitance and efficiency within 1e-3 of
 * the cycle before, at most 30 cycles): the measurement
 * `nimc run DEVICE -e 'Charge ...' -e 'Discharge ...' --until-steady`
 * makes, which the calibration fits too; the metrics come from the steady
 * cycle's discharge. */
static const double gcd_v_max_V = 3.5, gcd_v_min_V = 0.0;

/* (a) GCD profiles of the uncovered device, mA/cm2 of footprint. */
static const double profile_J[] = {0.1, 0.2, 0.3};

/* (b) capacitance against current density, both devices, mA/cm2. */
static const double rate_J[] = {0.1, 0.2, 0.3, 0.5, 1.0, 1.5, 2.0};

/* (c) maps at the end of a charge from the as-made state, mA/cm2. */
static const double fields_J = 1.0;

/* (d) the impedance sweep of the paper: 100 kHz to 10 mHz (10 a decade). */
static const double eis_from_Hz = PAPER_EIS_FROM_HZ,
                    eis_to_Hz = PAPER_EIS_TO_HZ;
static const int eis_per_decade = PAPER_EIS_PER_DECADE;

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define NPAPER COUNT(paper_values)

/* ---- the command line ---- */

static const char *usage =
    "usage: nimc reproduce [--json] [-o DIR] [--devices DIR] [-q]\n"
    "\n"
    "Regenerate the experiments of the paper (Zheng et al., Adv. Sci. 2019)\n"
    "that the simulator can run, and print the model's numbers beside the\n"
    "published ones (quantity | unit | paper | model | rel. error).\n"
    "Every GCD is measured after formation: the cycle 'Charge at J until\n"
    "3.5 V', 'Discharge at J until 0 V' is repeated from the device's\n"
    "initial state until it is steady (at least 3 cycles, coulombic\n"
    "efficiency >= 0.99, capacitance and efficiency within 0.1 % of the\n"
    "cycle before, at most 30 cycles: `nimc run --until-steady`), and the\n"
    "metrics are those of the steady cycle's discharge; the column 'cycle'\n"
    "says which cycle each number was read from (C/C_ref for a ratio).  A\n"
    "measurement whose discharge ended before 0 V, or that was not steady\n"
    "within 30 cycles, keeps its model value but is 'excluded' from the\n"
    "comparison, and the reason is printed below the table.  The\n"
    "resistances come from the impedance at the initial state, fitted as\n"
    "`nimc eis` does.  See docs/reproduce.md.\n"
    "\n"
    "  --json            print the summary JSON (with its \"validation\" "
    "array)\n"
    "                    on stdout, and nothing else\n"
    "  -o, --output DIR  write reproduce_gcd, reproduce_rate,\n"
    "                    reproduce_fields and reproduce_eis (.png, .svg),\n"
    "                    reproduce.json and validation.csv into DIR\n"
    "  --devices DIR     where nimc.ini and nimc-covered.ini are (default:\n"
    "                    devices)\n"
    "  -q, --quiet       no progress on stderr\n"
    "  -h, --help        this help\n"
    "\n"
    "Exit status: 0 success, 1 a simulation or an output failed (the rest is\n"
    "still reported), 2 bad usage or a bad device file.\n";

void cli_reproduce_usage(FILE *out) {
  fputs(usage, out);
}

typedef struct args {
  const char *outdir, *devdir;
  int json, quiet;
} args;

/* 0 to go on, -1 after --help, or an exit status. */
static int parse_args(int argc, char **argv, args *a) {
  memset(a, 0, sizeof *a);
  a->devdir = "devices";
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i];
    int has_value = i + 1 < argc;
    if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
      fputs(usage, stdout);
      return -1;
    } else if (!strcmp(o, "--json")) {
      a->json = 1;
    } else if (!strcmp(o, "-q") || !strcmp(o, "--quiet")) {
      a->quiet = 1;
    } else if (!strcmp(o, "-o") || !strcmp(o, "--output")) {
      if (!has_value)
        return cli_fail_usage("reproduce", "option '%s' needs a directory", o);
      a->outdir = argv[++i];
    } else if (!strcmp(o, "--devices")) {
      if (!has_value)
        return cli_fail_usage("reproduce", "option '%s' needs a directory", o);
      a->devdir = argv[++i];
    } else if (o[0] == '-') {
      return cli_fail_usage("reproduce", "unknown option '%s'", o);
    } else {
      return cli_fail_usage("reproduce", "unexpected argument '%s'", o);
    }
  }
  return 0;
}

/* ---- the simulations ---- */

/* One GCD measurement: a device at a current density, cycled until
 * steady. */
typedef struct gcd_run {
  int device;
  double J;         /* mA/cm2 */
  int done;         /* simulated (the metrics may still be missing) */
  int have_metrics; /* m holds the steady cycle's metrics */
  nimc_metrics m;   /* m.cycle: the cycle they were read from */
  nimc_steady_info info;
  char excluded[256]; /* "" or why it is not compared with the paper */
  nimc_result res;
  double wall_s;
} gcd_run;

/* One map of experiment (c). */
typedef struct fields_run {
  int done;
  nimc_fields f;
  double wall_s;
} fields_run;

/* One spectrum of experiment (d), fitted. */
typedef struct eis_run {
  int done, fitted;
  nimc_spectrum s;
  nimc_circuit *circuit;
  nimc_fit fit;
  double r_ohmic, r_ct;
  double wall_s;
} eis_run;

typedef struct state {
  args a;
  nimc_device *dev[NDEV];
  gcd_run *runs;
  size_t nruns;
  fields_run maps[NDEV];
  eis_run eis[NDEV];
  nimc_validation_row rows[NPAPER];
  char row_excluded[NPAPER][600]; /* the rows' excluded texts */
  int failed; /* something failed: exit status 1 */
  size_t nsims, done_sims;
  double start_s;
} state;

static int same_J(double a, double b) {
  return fabs(a - b) <= 1e-9 * fmax(fabs(a), fabs(b));
}

static gcd_run *find_run(state *s, int device, double J) {
  for (size_t k = 0; k < s->nruns; k++)
    if (s->runs[k].device == device && same_J(s->runs[k].J, J))
      return &s->runs[k];
  return NULL;
}

/* Schedule a GCD of device at J unless one is scheduled; 0 or -1 (memory). */
static int want_run(state *s, int device, double J) {
  if (find_run(s, device, J)) return 0;
  gcd_run *r = realloc(s->runs, (s->nruns + 1) * sizeof *r);
  if (!r) return -1;
  s->runs = r;
  memset(&r[s->nruns], 0, sizeof *r);
  r[s->nruns].device = device;
  r[s->nruns].J = J;
  s->nruns++;
  return 0;
}

/* The GCD runs that the experiments and the validation table need, in the
 * order: rate series of each device, then anything else. */
static int plan_runs(state *s) {
  for (int d = 0; d < NDEV; d++)
    for (size_t k = 0; k < COUNT(rate_J); k++)
      if (want_run(s, d, rate_J[k])) return -1;
  for (size_t k = 0; k < COUNT(profile_J); k++)
    if (want_run(s, UNCOVERED, profile_J[k])) return -1;
  for (size_t k = 0; k < NPAPER; k++) {
    const struct paper_value *p = &paper_values[k];
    if (paper_is_eis(p)) continue;
    if (want_run(s, p->device, p->J) ||
        (p->kind == Q_RATIO && want_run(s, p->device, p->J_ref)))
      return -1;
  }
  return 0;
}

/* What a GCD run is used for, for messages: "(a) GCD profiles, cv_0.1". */
static void run_users(const gcd_run *r, char *buf, size_t cap) {
  size_t len = 0;
  buf[0] = '\0';
#define ADD(...)                                                               \
  do {                                                                         \
    if (len < cap) {                                                           \
      int n_ = snprintf(buf + len, cap - len, "%s", len ? ", " : "");          \
      len += n_ > 0 ? (size_t)n_ : 0;                                          \
    }                                                                          \
    if (len < cap) {                                                           \
      int n_ = snprintf(buf + len, cap - len, __VA_ARGS__);                    \
      len += n_ > 0 ? (size_t)n_ : 0;                                          \
    }                                                                          \
  } while (0)
  for (size_t k = 0; k < COUNT(profile_J); k++)
    if (r->device == UNCOVERED && same_J(r->J, profile_J[k]))
      ADD("experiment (a) GCD profiles");
  for (size_t k = 0; k < COUNT(rate_J); k++)
    if (same_J(r->J, rate_J[k]))
      ADD("experiment (b) capacitance against "
          "current density");
  for (size_t k = 0; k < NPAPER; k++) {
    const struct paper_value *p = &paper_values[k];
    if (paper_is_eis(p)) continue;
    if (p->device == r->device &&
        (same_J(p->J, r->J) || (p->kind == Q_RATIO && same_J(p->J_ref, r->J))))
      ADD("validation %s", p->id);
  }
#undef ADD
}

/* Parse the lines of an experiment; on failure say why (a bug here, since
 * the lines are ours) and return NULL. */
static nimc_experiment *experiment(const char *const *lines, size_t n) {
  nimc_experiment *exp = NULL;
  nimc_err err;
  if (nimc_experiment_parse(&exp, lines, n, &err)) {
    fprintf(stderr, "nimc reproduce: %s\n", err.msg);
    return NULL;
  }
  return exp;
}

static void progress_line(state *s, const char *what, double wall_s,
                          const char *outcome) {
  s->done_sims++;
  if (s->a.quiet) return;
  fprintf(stderr,
          "nimc reproduce: [%zu/%zu] %s: %s in %.2f s (%.1f s in "
          "all)\n",
          s->done_sims, s->nsims, what, outcome, wall_s,
          cli_now_s() - s->start_s);
}

/* Say which steps of res from step first on (the measured cycle) ended
 * before their cut-off voltage (the model's answer, kept; but the
 * capacitance then measures a shorter window). */
static void warn_early_ends(const char *what, const nimc_result *res,
                            size_t first) {
  char list[256] = "";
  size_t len = 0, n = 0;
  for (size_t k = first; k < res->nsteps; k++) {
    const nimc_step_result *st = &res->steps[k];
    if (st->end_reason == NIMC_END_VOLTAGE || len >= sizeof list) continue;
    int w = snprintf(list + len, sizeof list - len, "%s%zu (%s, by %s)",
                     n ? ", " : "", k + 1, nimc_step_type_name(st->type),
                     nimc_end_reason_name(st->end_reason));
    len += w > 0 ? (size_t)w : 0;
    n++;
  }
  if (n)
    fprintf(stderr,
            "nimc reproduce: warning: %s: step%s %s ended before %s "
            "cut-off voltage\n",
            what, n > 1 ? "s" : "", list, n > 1 ? "their" : "its");
}

/* Why r's steady cycle is not the paper's measurement, into r->excluded
 * (left empty when it is): its discharge, the one measured, ended on
 * something other than the cut-off voltage, or its cycles were not steady
 * (rc NIMC_NOTSTEADY). */
static void check_measurement(gcd_run *r, int rc) {
  const nimc_result *res = &r->res;
  const nimc_step_result *d = NULL;
  for (size_t k = r->info.first_step; k < res->nsteps; k++)
    if (res->steps[k].type == NIMC_STEP_DISCHARGE) d = &res->steps[k];
  r->excluded[0] = '\0';
  if (d && d->end_reason != NIMC_END_VOLTAGE)
    snprintf(r->excluded, sizeof r->excluded,
             "the discharge of cycle %d ended by %s at %.4g V, before its "
             "cut-off %g V",
             r->info.cycles, nimc_end_reason_name(d->end_reason), d->v_end_V,
             gcd_v_min_V);
  else if (rc == NIMC_NOTSTEADY)
    snprintf(r->excluded, sizeof r->excluded,
             "not steady after %d cycles (coulombic efficiency %.4g, "
             "capacitance still changing by %.2g %% a cycle)",
             r->info.cycles, r->info.coulombic_efficiency,
             100.0 * r->info.capacitance_change);
}

/* Cycle r's device at r's current density from its initial state until
 * the cycle is steady, and read the metrics of the steady cycle. */
static void simulate_gcd(state *s, gcd_run *r) {
  const nimc_device *dev = s->dev[r->device];
  char line[2][128], what[256], users[512], outcome[96];
  const char *lines[2] = {line[0], line[1]};
  snprintf(line[0], sizeof line[0], "Charge at %g mA/cm2 until %g V", r->J,
           gcd_v_max_V);
  snprintf(line[1], sizeof line[1], "Discharge at %g mA/cm2 until %g V", r->J,
           gcd_v_min_V);
  snprintf(what, sizeof what, "%s, GCD at %g mA/cm2 until steady",
           nimc_device_name(dev), r->J);
  run_users(r, users, sizeof users);

  nimc_experiment *exp = experiment(lines, COUNT(lines));
  nimc_sim *sim = NULL;
  nimc_sim_opts opts = nimc_sim_opts_default();
  nimc_steady_opts steady = nimc_steady_opts_default();
  nimc_norm norm = {nimc_device_footprint_area_m2(dev),
                    nimc_device_norm_thickness_m(dev)};
  nimc_err err;
  double t0 = cli_now_s();
  int rc = exp ? NIMC_OK : NIMC_EINPUT;
  const char *why = "the experiment could not be parsed";
  if (!rc && (rc = nimc_sim_create(&sim, dev, &opts, &err))) why = err.msg;
  if (!rc && (rc = nimc_sim_run_until_steady(sim, exp, &steady, &norm, &r->res,
                                             &r->info)))
    why = nimc_sim_errmsg(sim);
  r->wall_s = cli_now_s() - t0;
  /* a finished simulation without a capacitance to read (the IR drop
   * alone took the voltage past the cut-off, say: NIMC_EANALYSIS) is the
   * model's answer, not a failure: its points are left out, and
   * fill_rows fails a validation value that needed it */
  if (rc < 0 && rc != NIMC_EANALYSIS) {
    fprintf(stderr, "nimc reproduce: %s failed (needed by %s): %s\n", what,
            users, why);
    s->failed = 1;
    progress_line(s, what, r->wall_s, "FAILED");
    goto done;
  }
  r->done = 1;
  warn_early_ends(what, &r->res, r->info.first_step);
  r->m = r->info.metrics;
  if (rc != NIMC_EANALYSIS && r->m.have_discharge &&
      isfinite(r->m.capacitance_F))
    r->have_metrics = 1;
  else if (rc == NIMC_EANALYSIS) /* "cycle N has no capacitance to read" */
    fprintf(stderr, "nimc reproduce: warning: %s (needed by %s): %s\n", what,
            users, why);
  else
    fprintf(stderr,
            "nimc reproduce: warning: %s (needed by %s): no capacitance to "
            "read: %s\n",
            what, users,
            !r->m.have_discharge ? "no full discharge"
                                 : "the voltage does not fall");
  if (r->have_metrics) {
    check_measurement(r, rc);
    if (r->excluded[0])
      fprintf(stderr,
              "nimc reproduce: warning: %s (needed by %s): excluded from the "
              "comparison with the paper: %s\n",
              what, users, r->excluded);
  }
  if (!r->have_metrics)
    snprintf(outcome, sizeof outcome, "no metrics after %d cycles",
             r->info.cycles);
  else if (rc == NIMC_NOTSTEADY)
    snprintf(outcome, sizeof outcome, "not steady after %d cycles",
             r->info.cycles);
  else
    snprintf(outcome, sizeof outcome, "steady at cycle %d", r->m.cycle);
  progress_line(s, what, r->wall_s, outcome);
done:
  nimc_sim_destroy(sim);
  nimc_experiment_destroy(exp);
}

/* (c): charge device d from its as-made state at fields_J and keep the
 * fields at the end. */
static void simulate_map(state *s, int d) {
  const nimc_device *dev = s->dev[d];
  char line[128], what[256];
  const char *lines[1] = {line};
  snprintf(line, sizeof line, "Charge at %g mA/cm2 until %g V", fields_J,
           gcd_v_max_V);
  snprintf(what, sizeof what, "%s, charge at %g mA/cm2 for the maps",
           nimc_device_name(dev), fields_J);
  nimc_experiment *exp = experiment(lines, 1);
  nimc_sim *sim = NULL;
  nimc_sim_opts opts = nimc_sim_opts_default();
  nimc_result res;
  memset(&res, 0, sizeof res);
  nimc_err err;
  double t0 = cli_now_s();
  int rc = exp ? NIMC_OK : NIMC_EINPUT;
  const char *why = "the experiment could not be parsed";
  if (!rc && (rc = nimc_sim_create(&sim, dev, &opts, &err))) why = err.msg;
  if (!rc && (rc = nimc_sim_run(sim, exp, &res))) why = nimc_sim_errmsg(sim);
  if (!rc && (rc = nimc_sim_fields(sim, &s->maps[d].f)))
    why = nimc_sim_errmsg(sim);
  s->maps[d].wall_s = cli_now_s() - t0;
  if (rc) {
    fprintf(stderr,
            "nimc reproduce: %s failed (needed by experiment (c) maps of the "
            "fields): %s\n",
            what, why);
    s->failed = 1;
  } else {
    s->maps[d].done = 1;
  }
  progress_line(s, what, s->maps[d].wall_s, rc ? "FAILED" : "done");
  nimc_result_free(&res);
  nimc_sim_destroy(sim);
  nimc_experiment_destroy(exp);
}

/* (d): the impedance of device d at its initial state, fitted with the
 * default circuit of nimc eis (automatic start, global search, seed 1). */
static void simulate_eis(state *s, int d) {
  const nimc_device *dev = s->dev[d];
  eis_run *e = &s->eis[d];
  char what[256];
  snprintf(what, sizeof what, "%s, impedance %g Hz to %g Hz",
           nimc_device_name(dev), eis_from_Hz, eis_to_Hz);
  nimc_sim *sim = NULL;
  nimc_err err;
  double *f = NULL;
  size_t n = 0;
  double t0 = cli_now_s();
  const char *why = NULL;
  e->r_ohmic = e->r_ct = NAN;
  if (nimc_freq_logspace(eis_from_Hz, eis_to_Hz, eis_per_decade, &f, &n,
                         &err) ||
      nimc_sim_create(&sim, dev, NULL, &err))
    why = err.msg;
  else if (nimc_sim_at_rest(sim) || nimc_sim_impedance(sim, f, n, &e->s, NULL))
    why = nimc_sim_errmsg(sim);
  if (!why) {
    e->done = 1;
    e->r_ohmic = nimc_spectrum_r_ohmic(&e->s);
    nimc_fit_opts o = nimc_fit_opts_default();
    o.global = 1;
    o.seed = 1;
    if (nimc_circuit_parse(&e->circuit, PAPER_EIS_CIRCUIT, &err) ||
        nimc_circuit_fit(e->circuit, &e->s, &o, &e->fit, &err)) {
      why = err.msg;
    } else {
      e->fitted = 1;
      int k = nimc_circuit_rct_index(e->circuit);
      if (k >= 0) e->r_ct = e->fit.p[k];
    }
  }
  e->wall_s = cli_now_s() - t0;
  if (why) {
    fprintf(stderr,
            "nimc reproduce: %s failed (needed by experiment (d) and the "
            "validation of the resistances): %s\n",
            what, why);
    s->failed = 1;
  }
  progress_line(s, what, e->wall_s, why ? "FAILED" : "done");
  free(f);
  nimc_sim_destroy(sim);
}

/* ---- the comparison ---- */

/* The model's value of p, NaN where its simulations failed. */
static double model_value(state *s, const struct paper_value *p) {
  if (p->kind == Q_R_OHMIC) return s->eis[p->device].r_ohmic;
  if (p->kind == Q_R_CT) return s->eis[p->device].r_ct;
  const gcd_run *r = find_run(s, p->device, p->J);
  if (!r || !r->have_metrics) return NAN;
  switch (p->kind) {
  case Q_VOLUMETRIC:
    return r->m.capacitance_volumetric_F_cm3;
  case Q_AREAL:
    return r->m.capacitance_areal_mF_cm2;
  case Q_RATIO: {
    const gcd_run *ref = find_run(s, p->device, p->J_ref);
    if (!ref || !ref->have_metrics) return NAN;
    return r->m.capacitance_F / ref->m.capacitance_F;
  }
  case Q_R_OHMIC:
  case Q_R_CT:
    break;
  }
  return NAN;
}

/* The cycles row k was read from and, when it is not compared with the
 * paper, why (into s->row_excluded[k]); a ratio is excluded when either
 * of its measurements is. */
static void row_cycles(state *s, size_t k) {
  const struct paper_value *p = &paper_values[k];
  nimc_validation_row *row = &s->rows[k];
  if (paper_is_eis(p)) return;
  const gcd_run *r = find_run(s, p->device, p->J);
  const gcd_run *ref =
      p->kind == Q_RATIO ? find_run(s, p->device, p->J_ref) : NULL;
  if (r && r->have_metrics) row->cycle = r->m.cycle;
  if (ref && ref->have_metrics) row->cycle_ref = ref->m.cycle;
  if (!row->cycle || (ref && !row->cycle_ref)) return; /* no model value */
  char *x = s->row_excluded[k];
  size_t cap = sizeof s->row_excluded[k], len = 0;
  x[0] = '\0';
  if (!ref) {
    snprintf(x, cap, "%s", r->excluded);
  } else { /* say which of the two measurements, at which current */
    const gcd_run *part[2] = {r, ref};
    const double J[2] = {p->J, p->J_ref};
    for (int i = 0; i < 2; i++) {
      if (!part[i]->excluded[0] || len + 1 >= cap) continue;
      int n = snprintf(x + len, cap - len, "%sat %g mA/cm2: %s",
                       len ? "; " : "", J[i], part[i]->excluded);
      len += n > 0 ? (size_t)n : 0;
    }
  }
  if (x[0]) row->excluded = x;
}

/* The validation rows; a value that could not be computed is reported
 * and fails the command. */
static void fill_rows(state *s) {
  for (size_t k = 0; k < NPAPER; k++) {
    const struct paper_value *p = &paper_values[k];
    s->rows[k] = (nimc_validation_row){.id = p->id,
                                       .quantity = p->quantity,
                                       .unit = p->unit,
                                       .paper = p->paper,
                                       .model = model_value(s, p)};
    row_cycles(s, k);
    if (isfinite(s->rows[k].model)) continue;
    if (paper_is_eis(p)) {
      fprintf(stderr,
              "nimc reproduce: validation %s (%s) has no model value: the "
              "impedance of its device failed (see above)\n",
              p->id, p->quantity);
      s->failed = 1;
      continue;
    }
    const gcd_run *r = find_run(s, p->device, p->J);
    const gcd_run *ref =
        p->kind == Q_RATIO ? find_run(s, p->device, p->J_ref) : NULL;
    int crashed = (r && !r->done) || (ref && !ref->done);
    fprintf(stderr,
            "nimc reproduce: validation %s (%s) has no model value: %s\n",
            p->id, p->quantity,
            crashed ? "a simulation it needs failed (see above)"
                    : "a GCD it needs has no discharge to measure (see above)");
    s->failed = 1;
  }
}

/* The table on stdout: quantity | unit | paper | model | rel. error |
 * cycle, then one line per row excluded from the comparison, saying why. */
static void print_table(const state *s) {
  enum { W = 32, NC = 6 };
  char cell[NPAPER][4][W];
  const char *head[NC] = {"quantity", "unit",       "paper",
                          "model",    "rel. error", "cycle"};
  size_t w[NC];
  for (int c = 0; c < NC; c++)
    w[c] = strlen(head[c]);
  for (size_t k = 0; k < NPAPER; k++) {
    const nimc_validation_row *r = &s->rows[k];
    double e = nimc_validation_rel_error(r);
    snprintf(cell[k][0], W, "%.4g", r->paper);
    if (isfinite(r->model))
      snprintf(cell[k][1], W, "%.4g", r->model);
    else
      snprintf(cell[k][1], W, "failed");
    if (r->excluded && isfinite(r->model))
      snprintf(cell[k][2], W, "excluded");
    else if (isfinite(e))
      snprintf(cell[k][2], W, "%+.1f %%", 100.0 * e);
    else
      snprintf(cell[k][2], W, "failed");
    /* the cycle read (C/C_ref for a ratio); "-" for what has none */
    if (r->cycle > 0 && r->cycle_ref > 0)
      snprintf(cell[k][3], W, "%d/%d", r->cycle, r->cycle_ref);
    else if (r->cycle > 0)
      snprintf(cell[k][3], W, "%d", r->cycle);
    else
      snprintf(cell[k][3], W, "-");
    w[0] = strlen(r->quantity) > w[0] ? strlen(r->quantity) : w[0];
    w[1] = strlen(r->unit) > w[1] ? strlen(r->unit) : w[1];
    for (int c = 0; c < 4; c++)
      if (strlen(cell[k][c]) > w[c + 2]) w[c + 2] = strlen(cell[k][c]);
  }
  printf("%-*s | %-*s | %*s | %*s | %*s | %*s\n", (int)w[0], head[0], (int)w[1],
         head[1], (int)w[2], head[2], (int)w[3], head[3], (int)w[4], head[4],
         (int)w[5], head[5]);
  for (size_t c = 0, n = w[0] + w[1] + w[2] + w[3] + w[4] + w[5] + 15; c < n;
       c++)
    putchar('-');
  putchar('\n');
  for (size_t k = 0; k < NPAPER; k++)
    printf("%-*s | %-*s | %*s | %*s | %*s | %*s\n", (int)w[0],
           s->rows[k].quantity, (int)w[1], s->rows[k].unit, (int)w[2],
           cell[k][0], (int)w[3], cell[k][1], (int)w[4], cell[k][2], (int)w[5],
           cell[k][3]);
  for (size_t k = 0; k < NPAPER; k++)
    if (s->rows[k].excluded && isfinite(s->rows[k].model))
      printf("excluded: %s (%s): %s\n", s->rows[k].id, s->rows[k].quantity,
             s->rows[k].excluded);
}

/* ---- the outputs ---- */

/* Report a failed output; sets the exit status. */
static void output_failed(state *s, const char *what, const nimc_err *err) {
  fprintf(stderr, "nimc reproduce: %s not written: %s\n", what, err->msg);
  s->failed = 1;
}

/* (a): voltage against time of the steady (last) cycle, one curve per
 * current. */
static void figure_profiles(state *s, const char *dir) {
  nimc_curve c[COUNT(profile_J)];
  char label[COUNT(profile_J)][64];
  double *t[COUNT(profile_J)] = {NULL};
  size_t nc = 0;
  nimc_err err;
  for (size_t k = 0; k < COUNT(profile_J); k++) {
    const gcd_run *r = find_run(s, UNCOVERED, profile_J[k]);
    if (!r || !r->done) continue;
    const nimc_series *se = &r->res.series;
    size_t first = r->info.first_sample;
    if (first >= se->n || !(t[nc] = malloc((se->n - first) * sizeof(double))))
      continue;
    for (size_t i = first; i < se->n; i++)
      t[nc][i - first] = se->time_s[i] - se->time_s[first];
    snprintf(label[nc], sizeof label[nc], "%g mA/cm2, cycle %d", profile_J[k],
             r->info.cycles);
    c[nc] = (nimc_curve){label[nc],     t[nc], se->voltage_V + first,
                         se->n - first, 0,     (int)nc + 1};
    nc++;
  }
  char title[256];
  snprintf(title, sizeof title, "%s: GCD, steady cycle (model)",
           nimc_device_name(s->dev[UNCOVERED]));
  if (!nc)
    fprintf(stderr, "nimc reproduce: reproduce_gcd not drawn: none of its "
                    "simulations succeeded\n");
  else if (nimc_plot_curves(c, nc, "time from the start of the cycle (s)",
                            "voltage (V)", title, dir, "reproduce_gcd", &err))
    output_failed(s, "reproduce_gcd", &err);
  for (size_t k = 0; k < nc; k++)
    free(t[k]);
}

/* (b): volumetric capacitance against current density, model lines for
 * both devices and the published points as markers. */
static void figure_rate(state *s, const char *dir) {
  double x[NDEV][COUNT(rate_J)], y[NDEV][COUNT(rate_J)];
  double px[NDEV][NPAPER], py[NDEV][NPAPER];
  size_t np[NDEV] = {0};
  char label[2 * NDEV][160];
  nimc_curve c[2 * NDEV];
  nimc_err err;
  for (int d = 0; d < NDEV; d++) {
    for (size_t k = 0; k < COUNT(rate_J); k++) {
      const gcd_run *r = find_run(s, d, rate_J[k]);
      x[d][k] = rate_J[k];
      /* a measurement excluded from the comparison is left out */
      y[d][k] = r && r->have_metrics && !r->excluded[0]
                    ? r->m.capacitance_volumetric_F_cm3
                    : NAN;
    }
    for (size_t k = 0; k < NPAPER; k++)
      if (paper_values[k].kind == Q_VOLUMETRIC && paper_values[k].device == d) {
        px[d][np[d]] = paper_values[k].J;
        py[d][np[d]++] = paper_values[k].paper;
      }
    snprintf(label[2 * d], sizeof label[0], "%s, model",
             nimc_device_name(s->dev[d]));
    snprintf(label[2 * d + 1], sizeof label[0], "%s, paper",
             nimc_device_name(s->dev[d]));
    c[2 * d] = (nimc_curve){label[2 * d], x[d], y[d], COUNT(rate_J), 2, d + 1};
    c[2 * d + 1] =
        (nimc_curve){label[2 * d + 1], px[d], py[d], np[d], 1, d + 1};
  }
  if (nimc_plot_curves(c, COUNT(c), "current density (mA/cm2)",
                       "volumetric capacitance (F/cm3)",
                       "capacitance against current density: lines model, "
                       "points paper",
                       dir, "reproduce_rate", &err))
    output_failed(s, "reproduce_rate", &err);
}

/* (c): the maps, uncovered next to covered (those that were computed). */
static void figure_fields(state *s, const char *dir) {
  const nimc_fields *f[NDEV];
  const char *titles[NDEV];
  size_t n = 0;
  nimc_err err;
  for (int d = 0; d < NDEV; d++)
    if (s->maps[d].done) {
      f[n] = &s->maps[d].f;
      titles[n++] = nimc_device_name(s->dev[d]);
    }
  if (!n)
    fprintf(stderr, "nimc reproduce: reproduce_fields not drawn: none of its "
                    "simulations succeeded\n");
  else if (nimc_plot_fields(f, titles, n, dir, "reproduce_fields", &err))
    output_failed(s, "reproduce_fields", &err);
}

/* (d): Nyquist plots of both devices: the model's points and the fitted
 * circuit's line. */
static void figure_eis(state *s, const char *dir) {
  nimc_zcurve z[2 * NDEV];
  nimc_spectrum fit[NDEV];
  char label[2 * NDEV][200];
  size_t nz = 0;
  nimc_err err;
  for (int d = 0; d < NDEV; d++) {
    const eis_run *e = &s->eis[d];
    if (!e->done) continue;
    snprintf(label[nz], sizeof label[0], "%s, model", nimc_device_name(s->dev[d]));
    z[nz] = (nimc_zcurve){label[nz], &e->s, 1, d + 1};
    nz++;
    if (!e->fitted) continue;
    fit[d] = (nimc_spectrum){e->s.n, e->s.freq_Hz, e->fit.z_re_fit,
                             e->fit.z_im_fit};
    snprintf(label[nz], sizeof label[0], "fit: R0 %.0f, R1 %.0f ohm",
             e->fit.p[0], e->r_ct);
    z[nz] = (nimc_zcurve){label[nz], &fit[d], 0, d + 1};
    nz++;
  }
  if (!nz)
    fprintf(stderr, "nimc reproduce: reproduce_eis not drawn: none of its "
                    "simulations succeeded\n");
  else if (nimc_plot_nyquist(z, nz,
                             "impedance at the initial state, 100 kHz to 10 "
                             "mHz, fitted with R0-p(R1,CPE1)-CPE2",
                             dir, "reproduce_eis", &err))
    output_failed(s, "reproduce_eis", &err);
}

static void write_files(state *s, const char *json) {
  char path[4096];
  nimc_err err;
  const char *dir = s->a.outdir;
  figure_profiles(s, dir);
  figure_rate(s, dir);
  figure_fields(s, dir);
  figure_eis(s, dir);
  snprintf(path, sizeof path, "%s/reproduce.json", dir);
  if (nimc_write_atomic(path, json, strlen(json), &err))
    output_failed(s, "reproduce.json", &err);
  snprintf(path, sizeof path, "%s/validation.csv", dir);
  if (nimc_validation_write_csv(s->rows, NPAPER, path, &err))
    output_failed(s, "validation.csv", &err);
  if (!s->a.quiet)
    fprintf(stderr,
            "nimc reproduce: wrote %s/reproduce_gcd, reproduce_rate, "
            "reproduce_fields, reproduce_eis (.png, .svg), reproduce.json, "
            "validation.csv\n",
            dir);
}

static void release(state *s) {
  for (size_t k = 0; k < s->nruns; k++)
    nimc_result_free(&s->runs[k].res);
  free(s->runs);
  for (int d = 0; d < NDEV; d++) {
    if (s->maps[d].done) nimc_fields_free(&s->maps[d].f);
    nimc_spectrum_free(&s->eis[d].s);
    if (s->eis[d].fitted) nimc_fit_free(&s->eis[d].fit);
    nimc_circuit_destroy(s->eis[d].circuit);
    nimc_device_destroy(s->dev[d]);
  }
}

int cli_reproduce(int argc, char **argv) {
  state s;
  memset(&s, 0, sizeof s);
  char *json = NULL;
  nimc_err err;
  int rc = parse_args(argc, argv, &s.a);
  if (rc) return rc < 0 ? 0 : rc;
  s.start_s = cli_now_s();

  /* bad input is answered before anything is simulated */
  for (int d = 0; d < NDEV; d++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", s.a.devdir, device_files[d]);
    if ((rc = nimc_device_load(&s.dev[d], path, NULL, 0, &err))) {
      fprintf(stderr, "nimc reproduce: %s\n", err.msg);
      rc = cli_exit_for(rc);
      goto done;
    }
  }
  if (s.a.outdir) {
    char why[512];
    if (cli_mkdir_p(s.a.outdir, why, sizeof why)) {
      fprintf(stderr, "nimc reproduce: cannot create output directory %s\n",
              why);
      rc = EXIT_USAGE;
      goto done;
    }
  }
  if (plan_runs(&s)) {
    fprintf(stderr, "nimc reproduce: out of memory\n");
    rc = EXIT_FAIL;
    goto done;
  }

  s.nsims = s.nruns + 2 * NDEV;
  for (size_t k = 0; k < s.nruns; k++)
    simulate_gcd(&s, &s.runs[k]);
  for (int d = 0; d < NDEV; d++)
    simulate_map(&s, d);
  for (int d = 0; d < NDEV; d++)
    simulate_eis(&s, d);
  fill_rows(&s);

  nimc_summary sum = {.device = nimc_device_name(s.dev[UNCOVERED]),
                      .temperature_C =
                          nimc_device_temperature_K(s.dev[UNCOVERED]) - 273.15,
                      .validation = s.rows,
                      .nvalidation = NPAPER};
  if (nimc_summary_json(&sum, &json, &err)) {
    fprintf(stderr, "nimc reproduce: %s\n", err.msg);
    rc = EXIT_FAIL;
    goto done;
  }
  if (s.a.json)
    printf("%s\n", json);
  else
    print_table(&s);
  fflush(stdout);
  if (s.a.outdir) write_files(&s, json);
  if (!s.a.quiet)
    fprintf(stderr, "nimc reproduce: %zu simulations, %.1f s in all%s\n",
            s.nsims, cli_now_s() - s.start_s,
            s.failed ? "; some failed (see above)" : "");
  rc = s.failed ? EXIT_FAIL : 0;
done:
  free(json);
  release(&s);
  return rc;
}
