/*
 * analyze.c -- nimc analyze: the metrics of measured data files.
 *
 * Reads each FILE with nimc_data_read (the readers of every format, the
 * columns by their names), decides what the measurement is (--kind, else
 * the file's technique, else the shape of the data), and hands the arrays
 * to the analysis functions of the library: GCD and cycling per cycle,
 * CV per cycle (b-value and Dunn's split across files at several scan
 * rates), self-discharge of a rest, and the impedance of a spectrum
 * (with --circuit, nimc fit-eis does the fit).  The summary JSON is the
 * library's (nimc_summary_json); the figures the report layer's.  Only the
 * public API is used.  Exit status: 0, 1 when nothing could be measured
 * (the reason is printed, no metrics of the failed part), 2 for bad usage
 * or a bad file (located by file and line).
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nimc/nimc.h"
#include "nimc/report.h"
#include "reproduce.h"

#define MAXFILES 32

static const char *const usage_analyze =
    "usage: nimc analyze FILE... [options]\n"
    "\n"
    "The metrics of measured data: galvanostatic charge/discharge and\n"
    "cycling, cyclic voltammetry, self-discharge at rest, impedance.\n"
    "FILE: CSV with named columns (time_s,voltage_V,current_A; Time (s);\n"
    "Ewe/V; <I>/mA; ...) or an instrument export nimc reads.\n"
    "\n"
    "  --kind KIND         gcd, cycling, cv, lsv, eis, rest (or\n"
    "                        selfdischarge);\n"
    "                        default: from the file's technique, else from\n"
    "                        the shape of the data\n"
    "  --area A            footprint area for areal and volumetric values,\n"
    "                        e.g. 0.25cm2\n"
    "  --thickness T       with --area: volumetric values, e.g. 20um\n"
    "  --mass M            gravimetric values (F/g, Wh/kg, W/kg), e.g. 2mg\n"
    "  --device DEV        area and thickness from a device file\n"
    "  --threshold F       rest: the fraction of the starting voltage the\n"
    "                        self-discharge time runs to (default 0.6)\n"
    "  --energy-rule R     gcd: how energies are summed over the samples:\n"
    "                        trapezoid (default) or counter (the value at\n"
    "                        the end of each interval, as testers' energy\n"
    "                        counters sum it)\n"
    "  --onset I           lsv: the current that marks the onset, absolute\n"
    "                        (10uA) or per area (default 10uA/cm2, with\n"
    "                        --area or --device)\n"
    "  --circuit C         eis: fit this circuit (as nimc fit-eis)\n"
    "  --format NAME       the file format (default: detect)\n"
    "  -o, --output DIR    write summary.json and the figures (gcd, cv,\n"
    "                        retention, nyquist; .png and .svg)\n"
    "  --json              print the summary JSON on stdout (nothing else)\n"
    "  -q, --quiet         no notes on stderr\n"
    "\n"
    "Several FILEs: CVs of one electrode at several scan rates (the b-value\n"
    "and Dunn's capacitive fraction).  Exit status: 0 success, 1 nothing to\n"
    "measure, 2 bad usage or input.\n";

void cli_analyze_usage(FILE *out) {
  fputs(usage_analyze, out);
}

typedef enum kind { K_AUTO, K_GCD, K_CYCLING, K_CV, K_LSV, K_EIS, K_REST } kind;

static const struct {
  const char *name;
  kind k;
} kinds[] = {{"gcd", K_GCD},   {"cycling", K_CYCLING}, {"cv", K_CV},
             {"lsv", K_LSV},   {"eis", K_EIS},         {"rest", K_REST},
             {"selfdischarge", K_REST}};

static const char *kind_name(kind k) {
  switch (k) {
  case K_GCD:
    return "gcd";
  case K_CYCLING:
    return "cycling";
  case K_CV:
    return "cv";
  case K_LSV:
    return "lsv";
  case K_EIS:
    return "eis";
  case K_REST:
    return "rest";
  default:
    return "auto";
  }
}

typedef struct args {
  const char *files[MAXFILES];
  size_t nfiles;
  kind k;
  double area_m2, thickness_m, mass_kg, threshold;
  double onset_A, onset_A_m2; /* --onset: absolute, or per area */
  nimc_energy_rule energy_rule;
  const char *device, *circuit, *format, *outdir;
  int json, quiet;
} args;

/* Parse the quantity text for option o into *out (> 0); an exit status. */
static int positive(const char *o, const char *text, const char *si,
                    double *out) {
  nimc_err err;
  if (nimc_quantity_parse(text, si, out, &err)) {
    fprintf(stderr, "nimc analyze: %s '%s': %s\n(see 'nimc analyze --help')\n",
            o, text, err.msg);
    return EXIT_USAGE;
  }
  if (!(*out > 0) || !isfinite(*out)) {
    fprintf(stderr, "nimc analyze: %s '%s': must be positive\n", o, text);
    return EXIT_USAGE;
  }
  return 0;
}

static int parse_args(int argc, char **argv, args *a) {
  memset(a, 0, sizeof *a);
  a->threshold = 0.6;
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i];
    int has = i + 1 < argc;
    if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
      fputs(usage_analyze, stdout);
      return -1;
    }
    if (!strcmp(o, "--kind") || !strcmp(o, "--area") ||
        !strcmp(o, "--thickness") || !strcmp(o, "--mass") ||
        !strcmp(o, "--device") || !strcmp(o, "--threshold") ||
        !strcmp(o, "--circuit") || !strcmp(o, "--format") ||
        !strcmp(o, "--energy-rule") || !strcmp(o, "--onset")) {
      if (!has)
        return cli_fail_usage("analyze", "option '%s' needs a value", o);
      const char *v = argv[++i];
      int rc = 0;
      if (!strcmp(o, "--kind")) {
        a->k = K_AUTO;
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
          if (!strcmp(v, kinds[k].name)) a->k = kinds[k].k;
        if (a->k == K_AUTO)
          return cli_fail_usage("analyze",
                                "unknown --kind '%s' (gcd, cycling, cv, eis, "
                                "rest, selfdischarge)",
                                v);
      } else if (!strcmp(o, "--area")) {
        rc = positive(o, v, "m2", &a->area_m2);
      } else if (!strcmp(o, "--thickness")) {
        rc = positive(o, v, "m", &a->thickness_m);
      } else if (!strcmp(o, "--mass")) {
        rc = positive(o, v, "kg", &a->mass_kg);
      } else if (!strcmp(o, "--threshold")) {
        char *end;
        a->threshold = strtod(v, &end);
        if (end == v || *end || !(a->threshold > 0 && a->threshold < 1))
          return cli_fail_usage("analyze",
                                "--threshold '%s': a fraction in (0, 1) "
                                "expected",
                                v);
      } else if (!strcmp(o, "--onset")) {
        nimc_err err;
        a->onset_A = a->onset_A_m2 = 0;
        if (nimc_quantity_parse(v, "A", &a->onset_A, &err) &&
            nimc_quantity_parse(v, "A/m2", &a->onset_A_m2, &err))
          return cli_fail_usage("analyze",
                                "--onset '%s': a current (10uA) or a current "
                                "density (10uA/cm2) expected",
                                v);
        if (!(a->onset_A + a->onset_A_m2 > 0))
          return cli_fail_usage("analyze", "--onset '%s': must be positive",
                                v);
      } else if (!strcmp(o, "--energy-rule")) {
        int r = nimc_energy_rule_of(v);
        if (r < 0)
          return cli_fail_usage("analyze",
                                "unknown --energy-rule '%s' (trapezoid, "
                                "counter)",
                                v);
        a->energy_rule = (nimc_energy_rule)r;
      } else if (!strcmp(o, "--device")) {
        a->device = v;
      } else if (!strcmp(o, "--circuit")) {
        a->circuit = v;
      } else {
        a->format = v;
      }
      if (rc) return rc;
      continue;
    }
    if (o[0] != '-' || !o[1]) {
      if (a->nfiles == MAXFILES)
        return cli_fail_usage("analyze", "more than 32 files ('%s')", o);
      a->files[a->nfiles++] = o;
      continue;
    }
    const char *dummy = NULL;
    int rc = cli_tail_option("analyze", "FILE", argc, argv, &i, &a->outdir,
                             &a->json, &a->quiet, &dummy);
    if (rc) return rc;
  }
  if (a->nfiles == 0) return cli_fail_usage("analyze", "%s", "missing FILE");
  if (a->thickness_m > 0 && !(a->area_m2 > 0) && !a->device)
    return cli_fail_usage("analyze", "%s",
                          "--thickness needs --area (volumetric = per area "
                          "times thickness)");
  return 0;
}

/* ---- what the data are ---- */

/* The kind from the file's technique, else from the shape of the data:
 * a spectrum is eis; no current, or a current that is zero throughout, is
 * rest; currents constant within 2 % over each half-cycle are gcd; a
 * voltage that sweeps back and forth is cv.  K_AUTO when none fits. */
static kind detect(const nimc_data *d, const char **why) {
  switch (d->technique) {
  case NIMC_TECH_GCD:
  case NIMC_TECH_CP:
    *why = "the file's technique";
    return K_GCD;
  case NIMC_TECH_CV:
  case NIMC_TECH_LSV:
    *why = "the file's technique";
    return d->technique == NIMC_TECH_LSV ? K_LSV : K_CV;
  case NIMC_TECH_EIS:
    *why = "the file's technique";
    return K_EIS;
  case NIMC_TECH_REST:
    *why = "the file's technique";
    return K_REST;
  default:
    break;
  }
  *why = "the shape of the data";
  if (d->freq_Hz && d->z_re_ohm && d->z_im_ohm) return K_EIS;
  if (!d->voltage_V) return K_AUTO;
  double imax = 0;
  for (size_t k = 0; d->current_A && k < d->n; k++)
    imax = fmax(imax, fabs(d->current_A[k]));
  if (!d->current_A || imax == 0) return K_REST;
  nimc_span *sg = NULL;
  size_t ns = 0, flat = 0, moving = 0, turns = 0;
  nimc_err err;
  if (nimc_segments_find(d->current_A, d->n, 0, &sg, &ns, &err)) return K_AUTO;
  for (size_t s = 0; s < ns; s++) {
    if (sg[s].sign == 0) continue;
    moving += sg[s].b - sg[s].a + 1;
    double mid = d->current_A[(sg[s].a + sg[s].b) / 2];
    for (size_t k = sg[s].a; k <= sg[s].b; k++)
      if (fabs(d->current_A[k] - mid) <= 0.02 * fabs(mid)) flat++;
  }
  free(sg);
  if (moving < d->n / 10) return K_REST;
  if (flat >= 9 * moving / 10) return K_GCD;
  /* turns of the voltage, counted with a hysteresis of 2 % of its range
   * so that noise is no turn */
  double lo = d->voltage_V[0], hi = lo;
  for (size_t k = 1; k < d->n; k++) {
    lo = fmin(lo, d->voltage_V[k]);
    hi = fmax(hi, d->voltage_V[k]);
  }
  double h = 0.02 * (hi - lo), ext = d->voltage_V[0];
  int dir = 0;
  for (size_t k = 1; k < d->n && h > 0; k++) {
    double v = d->voltage_V[k];
    if (dir == 0) {
      if (fabs(v - ext) > h) dir = v > ext ? 1 : -1;
      if (dir) ext = v;
    } else if ((dir > 0 && v >= ext) || (dir < 0 && v <= ext)) {
      ext = v;
    } else if (fabs(v - ext) > h) {
      turns++;
      dir = -dir;
      ext = v;
    }
  }
  if (turns >= 1) return K_CV;
  if (dir != 0) return K_LSV; /* one sweep, no turn */
  return K_AUTO;
}

/* A series view of the data (nothing copied). */
static nimc_series series_of(const nimc_data *d) {
  return (nimc_series){d->n, d->n, d->time_s, d->voltage_V, d->current_A, NULL};
}

/* Say which column is missing for what; an exit status (2). */
static int need(const nimc_data *d, const char *file, const char *what,
                const char *kindname) {
  fprintf(stderr,
          "nimc analyze: %s:%ld: no %s column (--kind %s needs time, voltage "
          "and current)\n",
          file, d->header_line ? d->header_line : 1, what, kindname);
  return EXIT_USAGE;
}

/* ---- output ---- */

typedef struct out {
  nimc_named_value v[48];
  size_t nv;
} out;

static void put(out *o, const char *key, double value) {
  if (o->nv < sizeof o->v / sizeof o->v[0])
    o->v[o->nv++] = (nimc_named_value){key, value};
}

/* Write json into dir/summary.json; an exit status. */
static int write_summary(const char *dir, const char *json) {
  char path[4096];
  nimc_err err;
  snprintf(path, sizeof path, "%s/summary.json", dir);
  if (nimc_write_atomic(path, json, strlen(json), &err)) {
    fprintf(stderr, "nimc analyze: %s\n", err.msg);
    return EXIT_FAIL;
  }
  return 0;
}

static int figure_failed(int rc, const nimc_err *err) {
  if (!rc) return 0;
  fprintf(stderr, "nimc analyze: figure not written: %s\n", err->msg);
  return EXIT_FAIL;
}

/* Print json or the human lines; write the output directory. */
static int finish(const args *a, const nimc_summary *sum, const char *human) {
  char *json = NULL;
  nimc_err err;
  if (nimc_summary_json(sum, &json, &err)) {
    fprintf(stderr, "nimc analyze: %s\n", err.msg);
    return EXIT_FAIL;
  }
  if (a->json)
    printf("%s\n", json);
  else
    fputs(human, stdout);
  int rc = a->outdir ? write_summary(a->outdir, json) : 0;
  free(json);
  return rc;
}

/* Append printf text to a growing buffer of 16 KiB. */
static void say(char *buf, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void say(char *buf, const char *fmt, ...) {
  size_t n = strlen(buf);
  if (n + 1 >= 16384) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf + n, 16384 - n, fmt, ap);
  va_end(ap);
}

/* The normalised values of a capacitance, energy and power. */
static void normalised(const args *a, double C, double E, double P, out *o) {
  if (a->mass_kg > 0) {
    put(o, "capacitance_gravimetric_F_g", C / (a->mass_kg * 1e3));
    put(o, "energy_gravimetric_Wh_kg", E / 3600.0 / a->mass_kg);
    put(o, "power_gravimetric_W_kg", P / a->mass_kg);
  }
}

/* ---- GCD and cycling ---- */

static int analyze_gcd(const args *a, const nimc_data *d, const char *file,
                       const char *how, kind k) {
  const char *kn = kind_name(k);
  if (!d->voltage_V) return need(d, file, "voltage", kn);
  if (!d->current_A) return need(d, file, "current", kn);
  nimc_err err;
  nimc_gcd_cycle *cy = NULL;
  size_t nc = 0;
  int rc = nimc_gcd_cycles(d->time_s, d->voltage_V, d->current_A, d->cycle,
                           d->n, 0, &cy, &nc, &err);
  if (rc) {
    fprintf(stderr, "nimc analyze: %s: %s\n", file, err.msg);
    return cli_exit_for(rc);
  }
  nimc_gcd_cycles_instrument(d, cy, nc);
  rc = nimc_gcd_cycles_set_energy_rule(cy, nc, a->energy_rule, &err);
  if (rc) {
    fprintf(stderr, "nimc analyze: %s\n", err.msg);
    free(cy);
    return cli_exit_for(rc);
  }
  nimc_series s = series_of(d);
  nimc_norm norm = {a->area_m2, a->thickness_m};
  nimc_metrics m;
  rc = nimc_metrics_of_cycles(cy, nc, &norm, &m, &err);
  if (rc) {
    fprintf(stderr, "nimc analyze: %s: %s\n", file, err.msg);
    free(cy);
    return cli_exit_for(rc);
  }
  size_t npairs = 0;
  for (size_t j = 0; j < nc; j++)
    npairs += cy[j].index > 0;
  if (k == K_GCD && npairs >= 2) k = K_CYCLING;
  const nimc_gcd_cycle *last = &cy[nc - 1];
  out o = {.nv = 0};
  put(&o, "capacitance_slope_F", last->capacitance_slope_F);
  put(&o, "capacitance_integral_F", last->capacitance_integral_F);
  put(&o, "energy_efficiency", last->energy_efficiency);
  put(&o, "energy_charge_J", last->energy_charge_J);
  put(&o, "charge_C", last->charge_C);
  put(&o, "discharge_C", last->discharge_C);
  put(&o, "ncycles", (double)npairs);
  normalised(a, m.capacitance_F, m.energy_J, m.power_W, &o);
  nimc_analysis_summary as = {
      .source = file,
      .read_as = how,
      .kind = kind_name(k),
      .technique = d->technique_name[0] ? d->technique_name : NULL,
      .values = o.v,
      .nvalues = o.nv,
      .cycles = cy,
      .ncycles = nc};
  nimc_summary sum = {.temperature_C = NAN, .metrics = &m, .analysis = &as};
  static char human[16384];
  human[0] = '\0';
  say(human, "data: %s (%s; energies by the %s rule)\n", file, kind_name(k),
      nimc_energy_rule_name(a->energy_rule));
  say(human, "%-6s %12s %12s %12s %8s %8s %12s %12s %10s\n", "cycle",
      "charge_C", "disch_C", "E_dis_J", "CE", "EE", "C_F", "C_slope_F",
      "ESR_ohm");
  for (size_t j = 0; j < nc; j++)
    say(human, "%-6d %12.5g %12.5g %12.5g %8.4f %8.4f %12.5g %12.5g %10.4g\n",
        cy[j].index, cy[j].charge_C, cy[j].discharge_C,
        cy[j].energy_discharge_J, cy[j].coulombic_efficiency,
        cy[j].energy_efficiency, cy[j].capacitance_F, cy[j].capacitance_slope_F,
        cy[j].esr_ohm);
  int instrument = 0;
  for (size_t j = 0; j < nc; j++)
    instrument |= isfinite(cy[j].instrument_discharge_C);
  if (instrument) {
    say(human, "the instrument's own counters (energies: its sum of dq V at "
               "the recorded points, nimc's --energy-rule counter)\n");
    say(human, "%-6s %12s %12s %12s %12s %8s\n", "cycle", "charge_C",
        "disch_C", "E_ch_J", "E_dis_J", "CE");
    for (size_t j = 0; j < nc; j++)
      say(human, "%-6d %12.5g %12.5g %12.5g %12.5g %8.4f\n", cy[j].index,
          cy[j].instrument_charge_C, cy[j].instrument_discharge_C,
          cy[j].instrument_energy_charge_J, cy[j].instrument_energy_discharge_J,
          cy[j].instrument_coulombic_efficiency);
  }
  say(human,
      "last discharge: C = %.5g F (slope %.5g F, integral %.5g F), "
      "E = %.5g J, P = %.5g W, ESR = %.4g ohm, CE = %.4f\n",
      m.capacitance_F, last->capacitance_slope_F, last->capacitance_integral_F,
      m.energy_J, m.power_W, m.esr_ohm, m.coulombic_efficiency);
  if (isfinite(nimc_metric_value(&m, "capacitance_areal_mF_cm2")))
    say(human, "areal: %.5g mF/cm2, %.5g uWh/cm2, %.5g mW/cm2\n",
        nimc_metric_value(&m, "capacitance_areal_mF_cm2"), nimc_metric_value(&m, "energy_areal_uWh_cm2"),
        nimc_metric_value(&m, "power_areal_mW_cm2"));
  if (isfinite(nimc_metric_value(&m, "capacitance_volumetric_F_cm3")))
    say(human, "volumetric: %.5g F/cm3, %.5g mWh/cm3, %.5g W/cm3\n",
        nimc_metric_value(&m, "capacitance_volumetric_F_cm3"), nimc_metric_value(&m, "energy_volumetric_mWh_cm3"),
        nimc_metric_value(&m, "power_volumetric_W_cm3"));
  if (isfinite(m.capacitance_retention))
    say(human, "retention: %.4f (last pair / first pair)\n",
        m.capacitance_retention);
  rc = finish(a, &sum, human);
  if (!rc && a->outdir) {
    rc = figure_failed(nimc_plot_gcd(&s, a->outdir, file, &err), &err);
    if (!rc && npairs >= 1) {
      double *x = malloc(2 * nc * sizeof *x);
      if (x) {
        size_t m2 = 0;
        for (size_t j = 0; j < nc; j++)
          if (cy[j].index > 0) {
            x[m2] = cy[j].index;
            x[nc + m2] = cy[j].retention;
            m2++;
          }
        nimc_curve c = {"C / C(first cycle)", x, x + nc, m2, 2, 1};
        rc = figure_failed(nimc_plot_curves(&c, 1, "cycle",
                                            "capacitance retention", file,
                                            a->outdir, "retention", &err),
                           &err);
        free(x);
      }
    }
  }
  free(cy);
  return rc;
}

/* ---- CV ---- */

static int analyze_cv(const args *a, nimc_data *d, size_t nd, char how[][512]) {
  nimc_err err;
  nimc_cv_cycle *cyc[MAXFILES] = {0};
  size_t nc[MAXFILES] = {0};
  int rc = 0;
  for (size_t f = 0; f < nd && !rc; f++) {
    if (!d[f].voltage_V) {
      rc = need(&d[f], a->files[f], "voltage", "cv");
      break;
    }
    if (!d[f].current_A) {
      rc = need(&d[f], a->files[f], "current", "cv");
      break;
    }
    int r = nimc_cv_cycles(d[f].time_s, d[f].voltage_V, d[f].current_A, d[f].n,
                           &cyc[f], &nc[f], &err);
    if (r) {
      fprintf(stderr, "nimc analyze: %s: %s\n", a->files[f], err.msg);
      rc = cli_exit_for(r);
    }
  }
  static char human[16384];
  human[0] = '\0';
  out o = {.nv = 0};
  double rate[MAXFILES], peak[MAXFILES], frac[MAXFILES];
  double b = NAN, r2 = NAN;
  if (!rc) {
    const nimc_cv_cycle *c = &cyc[0][nc[0] - 1];
    put(&o, "capacitance_F", c->capacitance_F);
    if (a->area_m2 > 0)
      put(&o, "capacitance_areal_mF_cm2", c->capacitance_F / a->area_m2 * 0.1);
    if (a->area_m2 > 0 && a->thickness_m > 0)
      put(&o, "capacitance_volumetric_F_cm3",
          c->capacitance_F / (a->area_m2 * a->thickness_m * 1e6));
    if (a->mass_kg > 0)
      put(&o, "capacitance_gravimetric_F_g",
          c->capacitance_F / (a->mass_kg * 1e3));
    put(&o, "scan_rate_V_s", c->scan_rate_V_s);
    put(&o, "peak_current_anodic_A", c->peak_anodic_A);
    put(&o, "peak_current_cathodic_A", c->peak_cathodic_A);
    for (size_t f = 0; f < nd; f++) {
      const nimc_cv_cycle *l = &cyc[f][nc[f] - 1];
      rate[f] = l->scan_rate_V_s;
      peak[f] = l->peak_anodic_A;
      say(human,
          "data: %s (cv): %zu full cycle%s; last: %.4g mV/s, "
          "%.4g to %.4g V, C = %.5g F, peaks %.4g / %.4g A\n",
          a->files[f], nc[f], nc[f] == 1 ? "" : "s", 1e3 * l->scan_rate_V_s,
          l->v_min_V, l->v_max_V, l->capacitance_F, l->peak_anodic_A,
          l->peak_cathodic_A);
    }
    if (nd >= 2) {
      int r = nimc_cv_b_value(rate, peak, nd, &b, &r2, &err);
      if (r) {
        fprintf(stderr, "nimc analyze: b-value: %s\n", err.msg);
        rc = cli_exit_for(r);
      }
    }
    if (!rc && nd >= 2) {
      /* Dunn on the rising sweep of each file's last cycle */
      const double *vv[MAXFILES], *ii[MAXFILES];
      size_t nn[MAXFILES];
      for (size_t f = 0; f < nd; f++) {
        const nimc_cv_cycle *l = &cyc[f][nc[f] - 1];
        nimc_span s = l->sweep[0].sign > 0 ? l->sweep[0] : l->sweep[1];
        vv[f] = d[f].voltage_V + s.a;
        ii[f] = d[f].current_A + s.a;
        nn[f] = s.b - s.a + 1;
      }
      enum { NG = 50 };
      double vg[NG], k1[NG], k2[NG];
      int r = nimc_cv_dunn(vv, ii, nn, rate, nd, NG, vg, k1, k2, frac, &err);
      if (r) {
        fprintf(stderr, "nimc analyze: Dunn's analysis: %s\n", err.msg);
        rc = cli_exit_for(r);
      } else {
        put(&o, "b_value", b);
        put(&o, "b_value_r2", r2);
        put(&o, "capacitive_fraction", frac[0]);
        say(human, "b-value %.4f (R^2 %.4f) over %zu scan rates\n", b, r2, nd);
        for (size_t f = 0; f < nd; f++)
          say(human, "capacitive fraction at %.4g mV/s: %.4f\n", 1e3 * rate[f],
              frac[f]);
      }
    }
  }
  if (!rc) {
    nimc_analysis_summary as = {
        .source = a->files[0],
        .read_as = how[0],
        .kind = "cv",
        .technique = d[0].technique_name[0] ? d[0].technique_name : NULL,
        .values = o.v,
        .nvalues = o.nv,
        .cv_cycles = cyc[0],
        .ncv_cycles = nc[0]};
    nimc_summary sum = {.temperature_C = NAN, .analysis = &as};
    rc = finish(a, &sum, human);
  }
  if (!rc && a->outdir) {
    nimc_curve c[MAXFILES];
    char lab[MAXFILES][64];
    for (size_t f = 0; f < nd; f++) {
      snprintf(lab[f], sizeof lab[f], "%.4g mV/s",
               1e3 * cyc[f][nc[f] - 1].scan_rate_V_s);
      c[f] = (nimc_curve){lab[f], d[f].voltage_V, d[f].current_A, d[f].n, 0, 0};
    }
    rc = figure_failed(nimc_plot_curves(c, nd, "voltage (V)", "current (A)",
                                        a->files[0], a->outdir, "cv", &err),
                       &err);
  }
  for (size_t f = 0; f < nd; f++)
    free(cyc[f]);
  return rc;
}

/* ---- rest ---- */

/* A linear sweep: the onset of the electrolyte's oxidation (or
 * reduction) at the --onset current. */
static int analyze_lsv(const args *a, const nimc_data *d, const char *file,
                       const char *how) {
  if (!d->voltage_V) return need(d, file, "voltage", "lsv");
  if (!d->current_A) return need(d, file, "current", "lsv");
  double thr = a->onset_A;
  if (!(thr > 0)) {
    double j = a->onset_A_m2 > 0 ? a->onset_A_m2 : 0.1; /* 10 uA/cm2 */
    if (!(a->area_m2 > 0)) {
      fprintf(stderr,
              "nimc analyze: %s: an onset current per area needs the "
              "electrode's area: give --area or --device, or an absolute "
              "--onset such as 10uA\n",
              file);
      return EXIT_USAGE;
    }
    thr = j * a->area_m2;
  }
  nimc_err err;
  nimc_lsv_result r;
  int rc = nimc_lsv_analyze(d->time_s, d->voltage_V, d->current_A, d->n, thr,
                            &r, &err);
  if (rc) {
    fprintf(stderr, "nimc analyze: %s: %s\n", file, err.msg);
    return cli_exit_for(rc);
  }
  out o = {.nv = 0};
  put(&o, "lsv_onset_V", r.onset_V);
  put(&o, "lsv_onset_current_A", r.threshold_A);
  put(&o, "lsv_v_start_V", r.v_start_V);
  put(&o, "lsv_v_end_V", r.v_end_V);
  put(&o, "scan_rate_V_s", r.scan_rate_V_s);
  put(&o, "lsv_i_end_A", r.i_end_A);
  nimc_analysis_summary as = {
      .source = file,
      .read_as = how,
      .kind = "lsv",
      .technique = d->technique_name[0] ? d->technique_name : NULL,
      .values = o.v,
      .nvalues = o.nv};
  nimc_summary sum = {.temperature_C = NAN, .analysis = &as};
  static char human[4096];
  human[0] = '\0';
  say(human, "data: %s (lsv): %.4g V to %.4g V at %.4g mV/s\n", file,
      r.v_start_V, r.v_end_V, 1e3 * r.scan_rate_V_s);
  if (isfinite(r.onset_V))
    say(human, "onset: %.4f V (current %.4g A reached)\n", r.onset_V,
        r.threshold_A);
  else
    say(human, "onset: not reached (current %.4g A never reached; at the "
               "end %.4g A)\n",
        r.threshold_A, r.i_end_A);
  rc = finish(a, &sum, human);
  if (!rc && a->outdir) {
    nimc_curve c = {"lsv", d->voltage_V, d->current_A, d->n, 0, 1};
    rc = figure_failed(nimc_plot_curves(&c, 1, "voltage (V)", "current (A)",
                                        file, a->outdir, "lsv", &err),
                       &err);
  }
  return rc;
}

static int analyze_rest(const args *a, const nimc_data *d, const char *file,
                        const char *how) {
  if (!d->voltage_V) return need(d, file, "voltage", "rest");
  size_t from = 0, to = d->n ? d->n - 1 : 0;
  nimc_err err;
  if (d->current_A) { /* the longest rest */
    nimc_span *sg = NULL;
    size_t ns = 0, best = 0;
    int found = 0;
    if (nimc_segments_find(d->current_A, d->n, 0, &sg, &ns, &err)) {
      fprintf(stderr, "nimc analyze: %s\n", err.msg);
      return EXIT_FAIL;
    }
    for (size_t s = 0; s < ns; s++)
      if (sg[s].sign == 0 && (!found || sg[s].b - sg[s].a > best)) {
        found = 1;
        best = sg[s].b - sg[s].a;
        from = sg[s].a;
        to = sg[s].b;
      }
    free(sg);
    if (!found) {
      fprintf(stderr,
              "nimc analyze: %s: no rest (current 0) to measure a "
              "self-discharge on\n",
              file);
      return EXIT_FAIL;
    }
  }
  /* Vmax: where the charge before the rest ended (the paper's "from
   * Vmax to 0.6 Vmax"; the rest's first voltage is lower by the IR drop),
   * else the rest's own first voltage */
  double vmax = NAN;
  if (from > 0 && d->current_A && d->current_A[from - 1] > 0.0)
    vmax = d->voltage_V[from - 1];
  nimc_rest_result r;
  int rc = nimc_rest_analyze_vmax(d->time_s + from, d->voltage_V + from,
                                  to - from + 1, a->threshold, vmax, &r, &err);
  if (rc) {
    fprintf(stderr, "nimc analyze: %s: %s\n", file, err.msg);
    return cli_exit_for(rc);
  }
  out o = {.nv = 0};
  put(&o, "self_discharge_time_h", r.time_to_threshold_s / 3600.0);
  double frac = a->threshold > 0 ? a->threshold : 0.6;
  put(&o, "self_discharge_threshold", frac); /* of rest_v_max_V */
  put(&o, "rest_v_start_V", r.v0_V);
  put(&o, "rest_v_max_V", r.v_ref_V);
  put(&o, "rest_v_end_V", r.v_end_V);
  put(&o, "rest_duration_h", r.duration_s / 3600.0);
  put(&o, "conway_slope_log_V", r.slope_log_V);
  put(&o, "conway_r2_log", r.r2_log);
  put(&o, "conway_slope_sqrt_V_s05", r.slope_sqrt_V);
  put(&o, "conway_r2_sqrt", r.r2_sqrt);
  put(&o, "conway_slope_ln_per_h", r.slope_ln_per_s * 3600.0);
  put(&o, "conway_r2_ln", r.r2_ln);
  nimc_analysis_summary as = {
      .source = file,
      .read_as = how,
      .kind = "rest",
      .technique = d->technique_name[0] ? d->technique_name : NULL,
      .values = o.v,
      .nvalues = o.nv};
  nimc_summary sum = {.temperature_C = NAN, .analysis = &as};
  static char human[16384];
  human[0] = '\0';
  say(human, "data: %s (rest): %.4g V to %.4g V over %.4g h\n", file, r.v0_V,
      r.v_end_V, r.duration_s / 3600);
  if (isfinite(r.time_to_threshold_s))
    say(human, "self-discharge to %.2f Vmax (%.4g V, Vmax %.4g V): %.4g h\n",
        frac, frac * r.v_ref_V, r.v_ref_V, r.time_to_threshold_s / 3600);
  else
    say(human, "self-discharge to %.2f Vmax (%.4g V, Vmax %.4g V): not "
               "reached\n",
        frac, frac * r.v_ref_V, r.v_ref_V);
  say(human,
      "Conway: V vs log10 t slope %.4g V (R^2 %.4f); V vs sqrt t slope "
      "%.4g V/s^0.5 (R^2 %.4f)\n",
      r.slope_log_V, r.r2_log, r.slope_sqrt_V, r.r2_sqrt);
  rc = finish(a, &sum, human);
  if (!rc && a->outdir) {
    double *x = malloc((to - from + 1) * sizeof *x);
    if (x) {
      for (size_t k = from; k <= to; k++)
        x[k - from] = (d->time_s[k] - d->time_s[from]) / 3600.0;
      nimc_curve c = {"rest", x, d->voltage_V + from, to - from + 1, 0, 1};
      rc = figure_failed(nimc_plot_curves(&c, 1, "time (h)", "voltage (V)",
                                          file, a->outdir, "rest", &err),
                         &err);
      free(x);
    }
  }
  return rc;
}

/* ---- EIS ---- */

static int analyze_eis(const args *a) {
  if (a->circuit) { /* nimc fit-eis does the fit */
    const char *av[16];
    int n = 0;
    av[n++] = "fit-eis";
    av[n++] = a->files[0];
    av[n++] = "--circuit";
    av[n++] = a->circuit;
    if (a->format) {
      av[n++] = "--format";
      av[n++] = a->format;
    }
    if (a->json) av[n++] = "--json";
    if (a->quiet) av[n++] = "-q";
    if (a->outdir) {
      av[n++] = "-o";
      av[n++] = a->outdir;
    }
    av[n] = NULL;
    return cli_fit_eis(n, (char **)(void *)av);
  }
  nimc_read_opts ro = nimc_read_opts_default();
  ro.format = a->format;
  nimc_spectrum s = {0};
  nimc_err err;
  char how[512];
  int rc = nimc_spectrum_read(a->files[0], &ro, &s, how, sizeof how, &err);
  if (rc) {
    fprintf(stderr, "nimc analyze: %s\n", err.msg);
    return cli_exit_for(rc);
  }
  if (!a->quiet) fprintf(stderr, "nimc analyze: %s: %s\n", a->files[0], how);
  double r0 = nimc_spectrum_r_ohmic(&s);
  nimc_eis_summary es = {.spectrum = &s,
                         .r_ohmic_ohm = r0,
                         .r_ct_ohm = NAN,
                         .settle_time_s = NAN,
                         .drift = NAN,
                         .source = a->files[0],
                         .read_as = how};
  nimc_analysis_summary as = {
      .source = a->files[0], .read_as = how, .kind = "eis"};
  nimc_summary sum = {.temperature_C = NAN, .eis = &es, .analysis = &as};
  static char human[16384];
  human[0] = '\0';
  say(human, "data: %s (eis): %zu frequencies, %.4g to %.4g Hz\n", a->files[0],
      s.n, s.freq_Hz[0], s.freq_Hz[s.n - 1]);
  say(human, "r_ohmic (high-frequency intercept): %.5g ohm\n", r0);
  rc = finish(a, &sum, human);
  if (!rc && a->outdir) {
    nimc_zcurve z = {"data", &s, 1, 1};
    rc = figure_failed(
        nimc_plot_nyquist(&z, 1, a->files[0], a->outdir, "nyquist", &err),
        &err);
  }
  nimc_spectrum_free(&s);
  return rc;
}

/* ---- the command ---- */

int cli_analyze(int argc, char **argv) {
  args a;
  int rc = parse_args(argc, argv, &a);
  if (rc) return rc < 0 ? 0 : rc;
  if (a.device) {
    nimc_device *dev = NULL;
    if ((rc = cli_load_device("analyze", a.device, NULL, 0, NULL, &dev)))
      return rc;
    if (!(a.area_m2 > 0)) a.area_m2 = nimc_device_footprint_area_m2(dev);
    if (!(a.thickness_m > 0)) a.thickness_m = nimc_device_norm_thickness_m(dev);
    nimc_device_destroy(dev);
  }
  if (a.outdir) {
    char why[512];
    if (cli_mkdir_p(a.outdir, why, sizeof why)) {
      fprintf(stderr, "nimc analyze: cannot create output directory %s\n", why);
      return EXIT_USAGE;
    }
    if (a.k != K_EIS && (rc = cli_clear_manifest("analyze", a.outdir)))
      return rc;
  }
  if (a.k == K_EIS) return analyze_eis(&a);
  static nimc_data d[MAXFILES];
  static char how[MAXFILES][512];
  nimc_read_opts ro = nimc_read_opts_default();
  ro.format = a.format;
  nimc_err err;
  size_t nd = 0;
  kind k = a.k;
  for (size_t f = 0; f < a.nfiles; f++) {
    rc = nimc_data_read(a.files[f], &ro, &d[f], how[f], sizeof how[f], &err);
    if (rc) {
      fprintf(stderr, "nimc analyze: %s\n", err.msg);
      rc = cli_exit_for(rc);
      goto done;
    }
    nd++;
    if (!a.quiet) fprintf(stderr, "nimc analyze: %s: %s\n", a.files[f], how[f]);
    const char *why = "";
    kind fk = a.k != K_AUTO ? a.k : detect(&d[f], &why);
    if (fk == K_AUTO) {
      fprintf(stderr,
              "nimc analyze: %s: cannot tell what was measured (no technique "
              "in the file, and the data are neither constant-current "
              "half-cycles, voltage sweeps nor a rest); give --kind\n",
              a.files[f]);
      rc = EXIT_FAIL;
      goto done;
    }
    if (a.k == K_AUTO && !a.quiet)
      fprintf(stderr, "nimc analyze: %s: analysed as %s (from %s)\n",
              a.files[f], kind_name(fk), why);
    if (f == 0) k = fk;
    if (fk != k && !(fk == K_GCD && k == K_CYCLING) &&
        !(fk == K_CYCLING && k == K_GCD)) {
      fprintf(stderr,
              "nimc analyze: %s is %s data, %s is %s: analyse them "
              "apart\n",
              a.files[f], kind_name(fk), a.files[0], kind_name(k));
      rc = EXIT_USAGE;
      goto done;
    }
  }
  if (k != K_CV && a.nfiles > 1) {
    fprintf(stderr,
            "nimc analyze: several files are analysed together only "
            "as CVs at several scan rates (--kind cv); %s is %s\n",
            a.files[0], kind_name(k));
    rc = EXIT_USAGE;
    goto done;
  }
  switch (k) {
  case K_GCD:
  case K_CYCLING:
    rc = analyze_gcd(&a, &d[0], a.files[0], how[0], k);
    break;
  case K_CV:
    rc = analyze_cv(&a, d, nd, how);
    break;
  case K_REST:
    rc = analyze_rest(&a, &d[0], a.files[0], how[0]);
    break;
  case K_LSV:
    rc = analyze_lsv(&a, &d[0], a.files[0], how[0]);
    break;
  case K_EIS:
    for (size_t f = 0; f < nd; f++)
      nimc_data_free(&d[f]);
    nd = 0;
    rc = analyze_eis(&a);
    break;
  default:
    rc = EXIT_FAIL;
  }
  /* the manifest, last: what of the set is there (an impedance file's
   * set has its own, from the fit-eis machinery) */
  if (!rc && a.outdir && k != K_EIS) {
    static const char *const files[] = {
        "summary.json",  "gcd.png",       "gcd.svg",   "gcd.dat",
        "gcd.gp",        "gcd.log",       "retention.png", "retention.svg",
        "retention.dat", "retention.gp",  "retention.log", "cv.png",
        "cv.svg",        "cv.dat",        "cv.gp",     "cv.log",
        "rest.png",      "rest.svg",      "rest.dat",  "rest.gp",
        "rest.log",      "lsv.png",       "lsv.svg",   "lsv.dat",
        "lsv.gp",        "lsv.log",       NULL};
    rc = cli_write_manifest("analyze", a.outdir, files, 1);
  }
done:
  for (size_t f = 0; f < nd; f++)
    nimc_data_free(&d[f]);
  return rc;
}
