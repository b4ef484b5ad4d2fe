/*
 * fit.c -- `nimc fit`: fit named device parameters so that the simulated
 * experiment reproduces a measured charge/discharge curve.
 *
 * The command reads the measured series, builds the experiment from the
 * data's own current (nimc_protocol_from_series) unless steps are given,
 * and hands both to nimc_device_fit (src/fit/fit.c), printing each
 * iteration's chi2 on stderr.  It reports the fitted values with standard
 * errors and correlations, and with -o writes fitted.ini (the device file
 * with the fitted values written in, read back to check them),
 * report.json, fit.csv and the figure fit.png / fit.svg.  It uses the
 * public API only.
 */
#define _GNU_SOURCE /* asprintf; POSIX 2008 and realpath */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nimc/nimc.h"
#include "nimc/report.h"
#include "fitobs.h"
#include "reproduce.h"

static const char *usage_fit_text =
    "usage: nimc fit DEVICE DATA --params KEY[=LO:HI][,KEY...] [options]\n"
    "       nimc fit --spec FILE [options]\n"
    "\n"
    "Fit device parameters so that the simulated experiment reproduces DATA:\n"
    "any file 'nimc analyze' reads (BioLogic .mpt/.mpr, CSV with unit-bearing\n"
    "headers such as what 'nimc run -o DIR' writes, impedance files, ...).\n"
    "A GCD (time, voltage, current > 0 charging) is fitted by its voltage, a\n"
    "CV by its current, a spectrum by its impedance.  A fit file (--spec)\n"
    "fits several data files and single numbers (targets) at once, on one or\n"
    "more devices (docs/fitting.md).\n"
    "\n"
    "  --spec FILE            the observations and parameters from a fit "
    "file\n"
    "  --kind gcd|cv|eis      what DATA holds (default: from the file)\n"
    "  --params LIST          the keys to fit, comma-separated, as in --set\n"
    "                         (section.key), each with optional bounds:\n"
    "                         geometry.gel_thickness=100um:2mm,\n"
    "                         cathode.micropore_capacitance_fraction=0.05:0.95\n"
    "                         (default bounds: a decade either side of the\n"
    "                         device's value, below 1 for a fraction); the\n"
    "                         fit starts from the device's values\n"
    "  --set SECTION.KEY=VAL  a fixed override of the device (repeatable)\n"
    "  --experiment from-data the steps read off the data's current "
    "(default)\n"
    "  -e, --step STEP        the experiment's steps instead (repeatable)\n"
    "  --simplex              Nelder-Mead instead of Levenberg-Marquardt "
    "(for\n"
    "                         curves whose residuals jump)\n"
    "  --accel                geodesic acceleration of Levenberg-Marquardt\n"
    "  --evaluate             no fit: the model against the data at the start\n"
    "                         values (one simulation per observation)\n"
    "  --max-iter N           iterations (default 50; simplex 100 per "
    "parameter)\n"
    "  --rtol X               the simulations' relative tolerance (default "
    "1e-8)\n"
    "  --format NAME          the data file's format (default: detected;\n"
    "                         'nimc fit-eis --help' lists them)\n"
    "  -o, --output DIR       write fitted.ini (one per device), fitted.set,\n"
    "                         report.json, fit.csv, fit.png, fit.svg (with\n"
    "                         several observations fit-N.csv, fit-N.png\n"
    "                         and targets.csv)\n"
    "  --json                 print the summary JSON on stdout (and nothing "
    "else)\n"
    "  -q, --quiet            no progress on stderr\n"
    "  -h, --help             this help\n"
    "\n"
    "Exit status: 0 converged, 1 a failed simulation or a fit that did not\n"
    "converge (everything is still reported), 2 bad usage or input.\n";

/* The text of 'nimc fit --help'. */
void cli_fit_usage(FILE *out) { fputs(usage_fit_text, out); }

#define CMD "fit"

/* ---- arguments ---- */

typedef struct fit_args {
  const char *device, *data, *outdir, *params, *experiment, *rtol, *format,
      *spec, *kind;
  const char **steps, **sets;
  size_t nsteps, nsets;
  int json, quiet, simplex, accel, max_iter, evaluate;
} fit_args;

/* The command line into *a; 0, -1 after --help, or the exit status of
 * the message printed. */
static int parse_args(int argc, char **argv, fit_args *a) {
  memset(a, 0, sizeof *a);
  a->steps = calloc((size_t)argc, sizeof *a->steps);
  a->sets = calloc((size_t)argc, sizeof *a->sets);
  if (!a->steps || !a->sets) {
    fprintf(stderr, "nimc fit: out of memory\n");
    return EXIT_FAIL;
  }
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i];
    int has = i + 1 < argc;
    if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
      cli_fit_usage(stdout);
      return -1;
    } else if (!strcmp(o, "--params") || !strcmp(o, "--set") ||
               !strcmp(o, "-e") || !strcmp(o, "--step") ||
               !strcmp(o, "--experiment") || !strcmp(o, "--max-iter") ||
               !strcmp(o, "--rtol") || !strcmp(o, "--format") ||
               !strcmp(o, "--spec") || !strcmp(o, "--kind")) {
      if (!has) return cli_fail_usage(CMD, "option '%s' needs a value", o);
      const char *v = argv[++i];
      if (!strcmp(o, "--params")) {
        a->params = v;
      } else if (!strcmp(o, "--set")) {
        a->sets[a->nsets++] = v;
      } else if (!strcmp(o, "--experiment")) {
        if (strcmp(v, "from-data"))
          return cli_fail_usage(CMD,
                                "--experiment '%s': expected from-data (or "
                                "give the steps with -e)",
                                v);
        a->experiment = v;
      } else if (!strcmp(o, "--max-iter")) {
        char *end;
        long n = strtol(v, &end, 10);
        if (!*v || *end || n < 1 || n > 100000)
          return cli_fail_usage(
              CMD, "--max-iter '%s': expected a whole number from 1 to 100000",
              v);
        a->max_iter = (int)n;
      } else if (!strcmp(o, "--rtol")) {
        a->rtol = v;
      } else if (!strcmp(o, "--format")) {
        a->format = v;
      } else if (!strcmp(o, "--spec")) {
        a->spec = v;
      } else if (!strcmp(o, "--kind")) {
        if (strcmp(v, "gcd") && strcmp(v, "cv") && strcmp(v, "eis"))
          return cli_fail_usage(CMD, "--kind '%s': expected gcd, cv or eis",
                                v);
        a->kind = v;
      } else {
        a->steps[a->nsteps++] = v;
      }
    } else if (!strcmp(o, "--simplex")) {
      a->simplex = 1;
    } else if (!strcmp(o, "--accel")) {
      a->accel = 1;
    } else if (!strcmp(o, "--evaluate")) {
      a->evaluate = 1;
    } else if (!a->device && !a->spec && o[0] != '-') {
      a->device = o;
    } else {
      int rc = cli_tail_option(CMD, "DEVICE and one DATA file", argc, argv, &i,
                               &a->outdir, &a->json, &a->quiet, &a->data);
      if (rc) return rc;
    }
  }
  if (a->spec) {
    if (a->device || a->data || a->params || a->nsets || a->nsteps ||
        a->experiment || a->kind || a->format)
      return cli_fail_usage(CMD, "%s",
                            "--spec FILE holds the devices, data, parameters "
                            "and steps: give none of DEVICE, DATA, --params, "
                            "--set, -e, --experiment, --kind, --format with "
                            "it");
    if (a->simplex && a->accel)
      return cli_fail_usage(CMD, "%s", "--accel is for Levenberg-Marquardt, "
                                       "not --simplex");
    return 0;
  }
  if (!a->device) return cli_fail_usage(CMD, "%s", "missing DEVICE file");
  if (!a->data) return cli_fail_usage(CMD, "%s", "missing DATA file");
  if (!a->params)
    return cli_fail_usage(CMD, "%s",
                          "no parameters: give --params KEY[=LO:HI],...");
  if (a->experiment && a->nsteps)
    return cli_fail_usage(CMD, "%s",
                          "--experiment from-data and -e STEP exclude each "
                          "other");
  if (a->simplex && a->accel)
    return cli_fail_usage(CMD, "%s", "--accel is for Levenberg-Marquardt, "
                                     "not --simplex");
  return 0;
}

/* One bound: a number with a unit convertible to si, or a bare number in
 * si; 0, or -1. */
static int parse_bound(const char *text, const char *si, double *out,
                       nimc_err *err) {
  char *end;
  double v = strtod(text, &end);
  if (end != text && !*end && isfinite(v)) {
    *out = v;
    return 0;
  }
  return nimc_quantity_parse(text, si, out, err) ? -1 : 0;
}

/* The parameters of the list into par[] (keys and units in bufs), looked
 * up in device with sets; 0 or the exit status of the message printed. */
static int parse_params(const char *device, const char *const *sets,
                        size_t nsets, char *list, nimc_fit_param *par,
                        char (*units)[32], size_t *np) {
  size_t n = 0;
  for (char *item = strtok(list, ","); item; item = strtok(NULL, ",")) {
    while (isspace((unsigned char)*item))
      item++;
    char *eq = strchr(item, '=');
    if (eq) *eq = '\0';
    for (char *e = item + strlen(item); e > item && isspace((unsigned char)e[-1]);)
      *--e = '\0';
    nimc_fit_param *p = &par[n];
    p->key = item;
    nimc_err err;
    double v;
    if (nimc_device_param(device, sets, nsets, item, &v, units[n],
                          sizeof units[n], &err)) {
      fprintf(stderr, "nimc fit: --params '%s': %s\n", item, err.msg);
      return cli_exit_for(err.code);
    }
    p->unit = units[n];
    p->start = NAN;
    if (eq) {
      char *colon = strchr(eq + 1, ':');
      if (!colon) {
        fprintf(stderr,
                "nimc fit: --params '%s=%s': expected KEY=LO:HI (for "
                "example geometry.gel_thickness=100um:2mm)\n",
                item, eq + 1);
        return EXIT_USAGE;
      }
      *colon = '\0';
      if (parse_bound(eq + 1, units[n], &p->lo, &err) ||
          parse_bound(colon + 1, units[n], &p->hi, &err)) {
        fprintf(stderr, "nimc fit: --params '%s': bound: %s\n", item,
                err.msg);
        return EXIT_USAGE;
      }
    } else {
      p->lo = v / 10.0;
      p->hi = v * 10.0;
      if (!strcmp(units[n], "1") && v > 0 && v < 1)
        p->hi = fmin(p->hi, 1.0 - (1.0 - v) / 10.0);
    }
    n++;
  }
  if (!n) {
    fprintf(stderr, "nimc fit: --params: no parameter given\n");
    return EXIT_USAGE;
  }
  *np = n;
  return 0;
}

/* ---- progress ---- */

typedef struct progress {
  int quiet;
  double start;
} progress;

/* Progress: one line per iteration on stderr, unless quiet. */
static int on_iteration(void *user, int iter, double chi2, const double *v,
                        size_t np) {
  progress *p = user;
  if (p->quiet) return 0;
  fprintf(stderr, "nimc fit: iteration %3d  chi2 %-12.6g", iter, chi2);
  for (size_t k = 0; k < np; k++)
    fprintf(stderr, " %.6g", v[k]);
  fprintf(stderr, "  (%.0f s)\n", cli_now_s() - p->start);
  return 0;
}

/* ---- output ---- */

/* s as a JSON string literal on f. */
static void json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\')
      fprintf(f, "\\%c", ch);
    else if (ch < 0x20)
      fprintf(f, "\\u%04x", ch);
    else
      fputc(ch, f);
  }
  fputc('"', f);
}

/* A number, or null when it is not finite. */
static void json_num(FILE *f, double x) {
  if (isfinite(x))
    fprintf(f, "%.10g", x);
  else
    fputs("null", f);
}

/* The word for an observation's kind, and the unit of its values. */
static const char *kind_word(const nimc_fit_obs *o) {
  switch (o->kind) {
  case NIMC_OBS_VOLTAGE:
    return "gcd";
  case NIMC_OBS_CURRENT:
    return "cv";
  case NIMC_OBS_IMPEDANCE:
    return "eis";
  default:
    return "target";
  }
}
static const char *kind_unit(const nimc_fit_obs *o) {
  switch (o->kind) {
  case NIMC_OBS_VOLTAGE:
    return "V";
  case NIMC_OBS_CURRENT:
    return "A";
  case NIMC_OBS_IMPEDANCE:
    return "ohm";
  default: {
    /* a metric's unit is what its name ends in: capacitance_F -> F */
    const char *u = strrchr(o->metric, '_');
    return u && u[1] ? u + 1 : "1";
  }
  }
}

/* The summary JSON (malloc'd text). */
static char *summary_json(const fit_args *a, const nimc_fit_param *par,
                          const fobs *ob, const nimc_fit_result *r) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (!f) return NULL;
  size_t np = r->np;
  fputs("{\n  \"device\": ", f);
  json_str(f, ob[0].device);
  fputs(",\n  \"data\": ", f);
  json_str(f, ob[0].data ? ob[0].data : a->spec);
  if (a->spec) {
    fputs(",\n  \"spec\": ", f);
    json_str(f, a->spec);
  }
  fputs(",\n  \"method\": ", f);
  json_str(f, a->simplex ? "simplex" : "levenberg-marquardt");
  fputs(",\n  \"experiment\": [", f);
  for (size_t k = 0; k < ob[0].nlines; k++) {
    fputs(k ? ", " : "", f);
    json_str(f, ob[0].lines[k]);
  }
  const char *obj[] = {"parameters", "standard_errors", "relative_errors",
                       "standard_errors_stated", "start", "units"};
  fputs("]", f);
  for (int o = 0; o < 6; o++) {
    fprintf(f, ",\n  \"%s\": {", obj[o]);
    for (size_t k = 0; k < np; k++) {
      const nimc_fit_value *v = &r->param[k];
      fputs(k ? ", " : "", f);
      json_str(f, par[k].key);
      fputs(": ", f);
      if (o == 0) json_num(f, v->value);
      if (o == 1) json_num(f, v->std_err);
      if (o == 2) json_num(f, v->std_err / v->value);
      if (o == 3) json_num(f, r->std_err_sigma[k]);
      if (o == 4) json_num(f, v->start);
      if (o == 5) json_str(f, v->unit);
    }
    fputs("}", f);
  }
  fputs(",\n  \"bounds\": {", f);
  for (size_t k = 0; k < np; k++) {
    fputs(k ? ", " : "", f);
    json_str(f, par[k].key);
    fputs(": [", f);
    json_num(f, r->param[k].lo);
    fputs(", ", f);
    json_num(f, r->param[k].hi);
    fputs("]", f);
  }
  fputs("},\n  \"correlation\": [", f);
  for (size_t i = 0; i < np; i++) {
    fputs(i ? ", [" : "[", f);
    for (size_t k = 0; k < np; k++) {
      fputs(k ? ", " : "", f);
      json_num(f, r->corr[i * np + k]);
    }
    fputs("]", f);
  }
  fputs("],\n  \"fit\": {\"chi2\": ", f);
  json_num(f, r->chi2);
  fputs(", \"chi2_start\": ", f);
  json_num(f, r->chi2_start);
  const nimc_fit_obs_result *r0 = &r->obs[0];
  if (ob[0].o.kind == NIMC_OBS_VOLTAGE) {
    fputs(", \"rms_V\": ", f);
    json_num(f, r0->rms);
    fputs(", \"rms_start_V\": ", f);
    json_num(f, r0->rms_start);
    fprintf(f, ", \"held_points\": %zu, \"comparison\": \"%s\"", r0->n_held,
            r0->by_step ? "by step" : "by time");
  }
  fprintf(f,
          ", \"points\": %zu, \"iterations\": %d, \"simulations\": %ld, "
          "\"failed_simulations\": %ld, \"converged\": %s, \"reason\": ",
          r->n, r->iterations, r->simulations, r->failed_simulations,
          r->converged ? "true" : "false");
  json_str(f, r->reason);
  fputs("},\n  \"observations\": [", f);
  for (size_t b = 0; b < r->nobs; b++) {
    const nimc_fit_obs_result *ro = &r->obs[b];
    const fobs *o = &ob[b];
    fputs(b ? ",\n    {\"name\": " : "\n    {\"name\": ", f);
    json_str(f, ro->name);
    fputs(", \"kind\": ", f);
    json_str(f, kind_word(&o->o));
    fputs(", \"device\": ", f);
    json_str(f, o->device);
    if (o->data) {
      fputs(", \"data\": ", f);
      json_str(f, o->data);
    }
    fputs(", \"experiment\": [", f);
    for (size_t k = 0; k < o->nlines; k++) {
      fputs(k ? ", " : "", f);
      json_str(f, o->lines[k]);
    }
    fprintf(f, "], \"points\": %zu, \"unit\": ", ro->n);
    json_str(f, kind_unit(&o->o));
    fputs(", \"rms\": ", f);
    json_num(f, ro->rms);
    fputs(", \"rms_start\": ", f);
    json_num(f, ro->rms_start);
    fputs(", \"chi2\": ", f);
    json_num(f, ro->chi2);
    fputs(", \"sigma\": ", f);
    json_num(f, o->o.sigma > 0 ? o->o.sigma : 1.0);
    fprintf(f, ", \"failed\": %s", ro->failed ? "true" : "false");
    if (o->o.kind == NIMC_OBS_METRIC) {
      fputs(", \"metric\": ", f);
      json_str(f, o->o.metric);
      fputs(", \"measured\": ", f);
      json_num(f, o->o.value);
      fputs(", \"model\": ", f);
      json_num(f, ro->model[0]);
      fputs(", \"relative_error\": ", f);
      json_num(f, ro->model[0] / o->o.value - 1.0);
      fprintf(f, ", \"not_steady\": %s, \"sensitivity\": {",
              ro->not_steady ? "true" : "false");
      for (size_t k = 0; k < np; k++) {
        fputs(k ? ", " : "", f);
        json_str(f, par[k].key);
        fputs(": ", f);
        json_num(f, ro->sensitivity ? ro->sensitivity[k] : NAN);
      }
      fputs("}", f);
    }
    fputs("}", f);
  }
  fputs("\n  ]\n}\n", f);
  fclose(f);
  return buf;
}

/* The human report on stdout. */
static void print_report(const fit_args *a, const nimc_fit_param *par,
                         const fobs *ob, const nimc_fit_result *r,
                         double wall) {
  size_t np = r->np;
  for (size_t b = 0; b < r->nobs; b++) {
    const fobs *o = &ob[b];
    if (o->o.kind == NIMC_OBS_METRIC) continue;
    printf("%s%s (%s, %zu steps):\n", r->nobs > 1 ? o->name : "experiment",
           r->nobs > 1 ? ": experiment" : "",
           o->from_data ? "read off the data" : "as given", o->nlines);
    for (size_t k = 0; k < o->nlines; k++)
      printf("  -e '%s'\n", o->lines[k]);
  }
  printf("fit: %s after %d iterations, %ld simulations (%ld failed), %.1f "
         "s\n",
         r->reason, r->iterations, r->simulations, r->failed_simulations,
         wall);
  const nimc_fit_obs_result *r0 = &r->obs[0];
  if (r->nobs == 1 && ob[0].o.kind != NIMC_OBS_METRIC) {
    const char *u = kind_unit(&ob[0].o);
    printf("residual: rms %.4g %s (start %.4g %s), chi2 %.6g (start %.6g), "
           "%zu points compared",
           r0->rms, u, r0->rms_start, u, r->chi2, r->chi2_start, r0->n);
    if (ob[0].o.kind == NIMC_OBS_VOLTAGE)
      printf(" %s%s", r0->by_step ? "step by step" : "by time",
             r0->n_held ? "" : ", none held");
    printf("\n");
    if (r0->n_held)
      printf("  %zu points lay outside the time of their simulated step "
             "(held at its end)\n",
             r0->n_held);
  } else {
    printf("residual: chi2 %.6g (start %.6g) over %zu residuals of %zu "
           "observations\n",
           r->chi2, r->chi2_start, r->n, r->nobs);
  }
  printf("\n  %-40s %14s %12s %8s  %-6s %12s  %s\n", "parameter", "value",
         "std error", "rel", "unit", "start", "bounds");
  for (size_t k = 0; k < np; k++) {
    const nimc_fit_value *v = &r->param[k];
    double w = log(v->value / v->lo) / log(v->hi / v->lo);
    printf("  %-40s %14.6g %12.3g %7.2f%%  %-6s %12.6g  %g..%g%s\n",
           par[k].key, v->value, v->std_err, 100.0 * v->std_err / v->value,
           v->unit, v->start, v->lo, v->hi,
           w < 1e-3   ? "  AT ITS LOWER BOUND: widen the bounds"
           : w > 0.999 ? "  AT ITS UPPER BOUND: widen the bounds"
                       : "");
  }
  if (a->spec && !a->evaluate) {
    printf("  (standard errors from the stated sigmas alone:");
    for (size_t k = 0; k < np; k++)
      printf(" %.2f%%", 100.0 * r->std_err_sigma[k] / r->param[k].value);
    printf(")\n");
  }
  if (!a->evaluate) printf("\ncorrelation:\n");
  for (size_t i = 0; i < np && !a->evaluate; i++) {
    printf("  %-40s", par[i].key);
    for (size_t k = 0; k < np; k++)
      printf(" %7.3f", r->corr[i * np + k]);
    printf("\n");
  }
  if (r->nobs == 1 && ob[0].o.kind != NIMC_OBS_METRIC) return;
  printf("\nobservations:\n  %-24s %-6s %9s %12s %12s %-6s %9s\n", "name",
         "kind", "points", "rms", "rms start", "unit", "chi2");
  for (size_t b = 0; b < r->nobs; b++) {
    const nimc_fit_obs_result *ro = &r->obs[b];
    if (ob[b].o.kind == NIMC_OBS_METRIC) continue;
    printf("  %-24s %-6s %9zu %12.4g %12.4g %-6s %9.4g%s\n", ro->name,
           kind_word(&ob[b].o), ro->n, ro->rms, ro->rms_start,
           kind_unit(&ob[b].o), ro->chi2, ro->failed ? "  FAILED" : "");
  }
  int any = 0;
  for (size_t b = 0; b < r->nobs; b++)
    any |= ob[b].o.kind == NIMC_OBS_METRIC;
  if (!any) return;
  printf("\ntargets, and the sensitivity d ln(model) / d ln(parameter):\n"
         "  %-24s %-30s %10s %10s %8s",
         "name", "metric", "measured", "model", "error");
  for (size_t k = 0; k < np; k++)
    printf(" %9.9s", strchr(par[k].key, '.') ? strchr(par[k].key, '.') + 1
                                             : par[k].key);
  printf("\n");
  for (size_t b = 0; b < r->nobs; b++) {
    const nimc_fit_obs_result *ro = &r->obs[b];
    const nimc_fit_obs *o = &ob[b].o;
    if (o->kind != NIMC_OBS_METRIC) continue;
    printf("  %-24s %-30s %10.4g %10.4g %+7.1f%%", ro->name, o->metric,
           o->value, ro->model[0], 100.0 * (ro->model[0] / o->value - 1.0));
    for (size_t k = 0; k < np; k++)
      printf(" %9.3f", ro->sensitivity ? ro->sensitivity[k] : NAN);
    printf("%s%s\n", ro->not_steady ? "  (not steady)" : "",
           ro->failed ? "  FAILED" : "");
  }
}

/* "section" and "key" of "section.key" (bufs of 128). */
static void split_key(const char *sk, char *sec, char *key) {
  const char *dot = strchr(sk, '.');
  size_t n = dot ? (size_t)(dot - sk) : 0;
  if (n > 127) n = 127;
  memcpy(sec, sk, n);
  sec[n] = '\0';
  snprintf(key, 128, "%.127s", dot ? dot + 1 : sk);
}

typedef struct override {
  char sec[128], key[128], value[256];
  const char *why;
  int done;
} override;

/* The absolute form of a path value written relative to the device file
 * (material files, tables) into out. */
static void absolute_value(const char *device, const char *value, char *out,
                           size_t len) {
  const char *v = value, *prefix = "";
  if (!strncmp(v, "table:", 6)) {
    prefix = "table:";
    v += 6;
    while (isspace((unsigned char)*v))
      v++;
  }
  char dir[PATH_MAX], real[PATH_MAX];
  const char *slash = strrchr(device, '/');
  snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - device) : 1,
           slash ? device : ".");
  if (v[0] == '/' || !realpath(dir, real))
    snprintf(out, len, "%s", value);
  else
    snprintf(out, len, "%s%.1000s/%.900s", prefix, real, v);
}

/* The device file with the overrides written in: each replaces its key
 * in its section, or is appended to the section (or a new one); paths are
 * made absolute so the copy works from any directory.  Malloc'd text. */
static char *fitted_ini(const char *device, const char *data, override *ov,
                        size_t nov) {
  FILE *in = fopen(device, "r");
  if (!in) return NULL;
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (!f) {
    fclose(in);
    return NULL;
  }
  fprintf(f, "; fitted by nimc fit on %s, from %s\n", data, device);
  char line[4096], sec[128] = "";
  int blanks = 0; /* blank lines held back, so that a key appended to a
                     section goes before the blank lines that end it */
  for (int last = 0; !last;) {
    int header = 0;
    if (!fgets(line, sizeof line, in)) {
      last = 1;
    } else {
      const char *p = line;
      while (isspace((unsigned char)*p))
        p++;
      header = *p == '[';
      if (!*p) {
        blanks++;
        continue;
      }
    }
    if (last || header) /* the overrides still missing from section sec */
      for (size_t k = 0; k < nov; k++)
        if (!ov[k].done && !strcmp(ov[k].sec, sec)) {
          fprintf(f, "%s = %s ; %s\n", ov[k].key, ov[k].value, ov[k].why);
          ov[k].done = 1;
        }
    for (; blanks > 0; blanks--)
      fputc('\n', f);
    if (last) break;
    const char *p = line;
    while (isspace((unsigned char)*p))
      p++;
    if (header) {
      const char *e = strchr(p, ']');
      snprintf(sec, sizeof sec, "%.*s", e ? (int)(e - p - 1) : 0, p + 1);
      fputs(line, f);
      continue;
    }
    const char *eq = strchr(p, '=');
    if (*p == ';' || *p == '#' || !eq) {
      fputs(line, f);
      continue;
    }
    char key[128];
    const char *ke = eq;
    while (ke > p && isspace((unsigned char)ke[-1]))
      ke--;
    snprintf(key, sizeof key, "%.*s", (int)(ke - p), p);
    size_t k = 0;
    for (; k < nov; k++)
      if (!strcmp(ov[k].sec, sec) && !strcmp(ov[k].key, key)) break;
    if (k < nov) {
      fprintf(f, "%s = %s ; %s\n", key, ov[k].value, ov[k].why);
      ov[k].done = 1;
      continue;
    }
    /* a path relative to the device file: made absolute */
    const char *v = eq + 1;
    while (isspace((unsigned char)*v))
      v++;
    char val[1024], abs[2048];
    size_t vn = strcspn(v, ";#\r\n");
    while (vn && isspace((unsigned char)v[vn - 1]))
      vn--;
    snprintf(val, sizeof val, "%.*s", (int)vn, v);
    if (!strcmp(key, "material") || !strncmp(val, "table:", 6)) {
      absolute_value(device, val, abs, sizeof abs);
      fprintf(f, "%s = %s\n", key, abs);
      continue;
    }
    fputs(line, f);
  }
  for (size_t k = 0; k < nov; k++)
    if (!ov[k].done) {
      fprintf(f, "\n[%s]\n%s = %s ; %s\n", ov[k].sec, ov[k].key, ov[k].value,
              ov[k].why);
      for (size_t j = k + 1; j < nov; j++)
        if (!ov[j].done && !strcmp(ov[j].sec, ov[k].sec)) {
          fprintf(f, "%s = %s ; %s\n", ov[j].key, ov[j].value, ov[j].why);
          ov[j].done = 1;
        }
      ov[k].done = 1;
    }
  fclose(in);
  fclose(f);
  return buf;
}

/* Write path atomically from the memory stream text; 0 or the exit
 * status. */
static int write_text(const char *path, const char *text, size_t len) {
  nimc_err err;
  if (nimc_write_atomic(path, text, len, &err)) {
    fprintf(stderr, "nimc fit: %s\n", err.msg);
    return EXIT_FAIL;
  }
  return 0;
}

/* The device file of observation o with its fixed overrides and the
 * fitted values written in, at path, read back; 0 or the exit status. */
static int write_fitted_ini(const char *path, const char *source,
                            const fobs *o, const nimc_fit_param *par,
                            const nimc_fit_result *r) {
  nimc_err err;
  size_t nov = o->nsets + r->np;
  override *ov = calloc(nov, sizeof *ov);
  if (!ov) return EXIT_FAIL;
  for (size_t k = 0; k < o->nsets; k++) {
    const char *eq = strchr(o->sets[k], '=');
    char sk[256];
    snprintf(sk, sizeof sk, "%.*s", eq ? (int)(eq - o->sets[k]) : 0,
             o->sets[k]);
    split_key(sk, ov[k].sec, ov[k].key);
    snprintf(ov[k].value, sizeof ov[k].value, "%s", eq ? eq + 1 : "");
    ov[k].why = "--set given to nimc fit";
  }
  for (size_t k = 0; k < r->np; k++) {
    override *v = &ov[o->nsets + k];
    split_key(par[k].key, v->sec, v->key);
    const char *u = r->param[k].unit;
    snprintf(v->value, sizeof v->value, "%.9g%s%s", r->param[k].value,
             strcmp(u, "1") ? " " : "", strcmp(u, "1") ? u : "");
    v->why = "fitted by nimc fit";
  }
  /* a --set of a fitted key is superseded by the fitted value */
  for (size_t k = 0; k < o->nsets; k++)
    for (size_t j = o->nsets; j < nov; j++)
      if (!strcmp(ov[k].sec, ov[j].sec) && !strcmp(ov[k].key, ov[j].key))
        ov[k].done = 1;
  char *ini = fitted_ini(o->device, source, ov, nov);
  free(ov);
  if (!ini) {
    fprintf(stderr, "nimc fit: %s: cannot read the device file again\n",
            o->device);
    return EXIT_FAIL;
  }
  int rc = write_text(path, ini, strlen(ini));
  free(ini);
  if (rc) return rc;
  for (size_t k = 0; k < r->np; k++) {
    double v;
    if (nimc_device_param(path, NULL, 0, par[k].key, &v, NULL, 0, &err) ||
        fabs(v - r->param[k].value) > 1e-6 * fabs(r->param[k].value)) {
      fprintf(stderr, "nimc fit: %s does not read back %s = %g: %s\n", path,
              par[k].key, r->param[k].value,
              err.msg[0] ? err.msg : "another value");
      return EXIT_FAIL;
    }
  }
  return 0;
}

/* One observation's table and figure as dir/STEM.csv and dir/STEM.png
 * (.svg); 0 or the exit status. */
static int write_curve(const char *dir, const char *stem, const fobs *o,
                       const nimc_fit_obs_result *ro) {
  char path[4096];
  char *csv = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&csv, &len);
  if (!f) return EXIT_FAIL;
  size_t n = ro->n, nf = n / 2;
  double *x = NULL, *y1 = NULL, *y2 = NULL, *res = NULL;
  int rc = 0;
  if (o->o.kind == NIMC_OBS_IMPEDANCE) {
    fputs("freq_Hz,z_re_measured_ohm,z_im_measured_ohm,z_re_model_ohm,"
          "z_im_model_ohm\n",
          f);
    for (size_t i = 0; i < nf; i++)
      fprintf(f, "%.10g,%.10g,%.10g,%.10g,%.10g\n", ro->x[i], ro->data[i],
              ro->data[nf + i], ro->model[i], ro->model[nf + i]);
  } else {
    int volt = o->o.kind == NIMC_OBS_VOLTAGE;
    fputs(volt ? "time_s,voltage_measured_V,voltage_model_V,residual_V\n"
               : "time_s,voltage_V,current_measured_A,current_model_A,"
                 "residual_A\n",
          f);
    for (size_t i = 0; i < n; i++) {
      if (volt)
        fprintf(f, "%.10g,%.10g,%.10g,%.10g\n", ro->x[i], ro->data[i],
                ro->model[i], ro->model[i] - ro->data[i]);
      else
        fprintf(f, "%.10g,%.10g,%.10g,%.10g,%.10g\n", ro->x[i],
                o->series.voltage_V[i], ro->data[i], ro->model[i],
                ro->model[i] - ro->data[i]);
    }
  }
  fclose(f);
  snprintf(path, sizeof path, "%s/%s.csv", dir, stem);
  rc = write_text(path, csv, len);
  free(csv);
  if (rc) return rc;
  /* the figure */
  x = malloc(n * sizeof *x);
  y1 = malloc(n * sizeof *y1);
  y2 = malloc(n * sizeof *y2);
  res = malloc(n * sizeof *res);
  if (!x || !y1 || !y2 || !res) {
    rc = EXIT_FAIL;
    goto done;
  }
  nimc_err err;
  char title[256];
  snprintf(title, sizeof title, "nimc fit: %s, rms %.3g %s", ro->name,
           ro->rms, kind_unit(&o->o));
  if (o->o.kind == NIMC_OBS_IMPEDANCE) {
    /* Nyquist: -Im Z against Re Z */
    for (size_t i = 0; i < nf; i++) {
      x[i] = ro->data[i], y1[i] = -ro->data[nf + i];
      y2[i] = ro->model[i], res[i] = -ro->model[nf + i];
    }
    nimc_curve c[2] = {{"measured", x, y1, nf, 1, 1},
                       {"model, fitted", y2, res, nf, 0, 2}};
    nimc_panel p = {c, 2, {"Re Z / ohm", "-Im Z / ohm", NULL, 0, 0, 1}};
    rc = nimc_plot_panels(&p, 1, title, dir, stem, &err);
  } else {
    int volt = o->o.kind == NIMC_OBS_VOLTAGE;
    for (size_t i = 0; i < n; i++)
      res[i] = ro->model[i] - ro->data[i];
    /* a GCD against time; a CV as current against voltage */
    const double *xx = volt ? ro->x : o->series.voltage_V;
    nimc_curve top[2] = {{"measured", xx, ro->data, n, 1, 1},
                         {"model, fitted", xx, ro->model, n, 0, 2}};
    nimc_curve bottom[1] = {{"model - measured", ro->x, res, n, 0, 2}};
    nimc_panel panels[2] = {
        {top, 2,
         {volt ? "time / s" : "voltage / V",
          volt ? "voltage / V" : "current / A", NULL, 0, 0, 0}},
        {bottom, 1,
         {"time / s", volt ? "residual / V" : "residual / A", NULL, 0, 0,
          0}}};
    rc = nimc_plot_panels(panels, 2, title, dir, stem, &err);
  }
  if (rc) {
    fprintf(stderr, "nimc fit: figure not written: %s\n", err.msg);
    rc = EXIT_FAIL;
  }
done:
  free(x);
  free(y1);
  free(y2);
  free(res);
  return rc;
}

/* Write the set of outputs into dir; 0 or the exit status. */
static int write_set(const fit_args *a, const nimc_fit_param *par,
                     const fobs *ob, const nimc_fit_result *r,
                     const char *json) {
  char path[4096];
  const char *dir = a->outdir;
  int rc;
  /* fitted.ini, or one fitted-NAME for each device of the observations */
  size_t ndev = 0;
  for (size_t b = 0; b < r->nobs; b++) {
    size_t j = 0;
    while (j < b && strcmp(ob[j].device, ob[b].device))
      j++;
    ndev += j == b;
  }
  for (size_t b = 0; b < r->nobs; b++) {
    size_t j = 0;
    while (j < b && strcmp(ob[j].device, ob[b].device))
      j++;
    if (j < b) continue;
    const char *base = strrchr(ob[b].device, '/');
    base = base ? base + 1 : ob[b].device;
    if (ndev == 1)
      snprintf(path, sizeof path, "%s/fitted.ini", dir);
    else
      snprintf(path, sizeof path, "%s/fitted-%s", dir, base);
    if ((rc = write_fitted_ini(path, a->spec ? a->spec : ob[b].data, &ob[b],
                               par, r)))
      return rc;
  }
  /* fitted.set: the fitted values as --set overrides, one a line */
  char *txt = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&txt, &len);
  if (!f) return EXIT_FAIL;
  for (size_t k = 0; k < r->np; k++) {
    const char *u = r->param[k].unit;
    fprintf(f, "%s=%.9g%s%s\n", par[k].key, r->param[k].value,
            strcmp(u, "1") ? " " : "", strcmp(u, "1") ? u : "");
  }
  fclose(f);
  snprintf(path, sizeof path, "%s/fitted.set", dir);
  rc = write_text(path, txt, len);
  free(txt);
  if (rc) return rc;
  snprintf(path, sizeof path, "%s/report.json", dir);
  if ((rc = write_text(path, json, strlen(json)))) return rc;
  /* the curves and spectra; the targets in one table */
  int targets = 0;
  for (size_t b = 0; b < r->nobs; b++) {
    if (ob[b].o.kind == NIMC_OBS_METRIC) {
      targets = 1;
      continue;
    }
    char stem[32];
    if (r->nobs == 1)
      snprintf(stem, sizeof stem, "fit");
    else
      snprintf(stem, sizeof stem, "fit-%zu", b + 1);
    if ((rc = write_curve(dir, stem, &ob[b], &r->obs[b]))) return rc;
  }
  if (!targets) return 0;
  txt = NULL;
  len = 0;
  if (!(f = open_memstream(&txt, &len))) return EXIT_FAIL;
  fputs("name,device,metric,measured,model,relative_error,sigma\n", f);
  for (size_t b = 0; b < r->nobs; b++) {
    if (ob[b].o.kind != NIMC_OBS_METRIC) continue;
    const nimc_fit_obs_result *ro = &r->obs[b];
    fprintf(f, "%s,%s,%s,%.10g,%.10g,%.6g,%.6g\n", ro->name, ob[b].device,
            ob[b].o.metric, ob[b].o.value, ro->model[0],
            ro->model[0] / ob[b].o.value - 1.0,
            ob[b].o.sigma > 0 ? ob[b].o.sigma : 1.0);
  }
  fclose(f);
  snprintf(path, sizeof path, "%s/targets.csv", dir);
  rc = write_text(path, txt, len);
  free(txt);
  return rc;
}

/* Write the outputs into dir: the manifest removed first and written last
 * (listing what is there of the names the set may have), signals held
 * meanwhile; 0 or the exit status. */
static int write_outputs(const fit_args *a, const nimc_fit_param *par,
                         const fobs *ob, const nimc_fit_result *r,
                         const char *json) {
  char why[512];
  const char *dir = a->outdir;
  int rc;
  if (cli_mkdir_p(dir, why, sizeof why)) {
    fprintf(stderr, "nimc fit: cannot create output directory %s\n", why);
    return EXIT_USAGE;
  }
  if ((rc = cli_clear_manifest("fit", dir))) return rc;
  sigset_t old;
  cli_block_signals(1, &old);
  rc = write_set(a, par, ob, r, json);
  /* the names the set may hold: per device, per observation, and fixed */
  static const char *const ext[] = {".csv", ".png", ".svg", ".dat", ".gp",
                                    ".log"};
  size_t nn = 0, cap = 8 + r->nobs * (1 + 6);
  char **names = calloc(cap + 1, sizeof *names);
  if (!rc && !names) rc = EXIT_FAIL;
  for (size_t b = 0; !rc && b < r->nobs; b++) {
    size_t j = 0;
    while (j < b && strcmp(ob[j].device, ob[b].device))
      j++;
    const char *base = strrchr(ob[b].device, '/');
    base = base ? base + 1 : ob[b].device;
    if (j == b && asprintf(&names[nn++], "fitted-%s", base) < 0)
      names[--nn] = NULL;
    char stem[32] = "fit";
    if (r->nobs > 1) snprintf(stem, sizeof stem, "fit-%zu", b + 1);
    for (size_t k = 0; k < 6; k++)
      if (asprintf(&names[nn++], "%s%s", stem, ext[k]) < 0) names[--nn] = NULL;
  }
  const char *fixed[] = {"fitted.ini", "fitted.set", "report.json",
                         "targets.csv"};
  for (size_t k = 0; !rc && k < 4; k++)
    if (!(names[nn++] = strdup(fixed[k]))) nn--;
  if (!rc)
    rc = cli_write_manifest("fit", dir, (const char *const *)names, 1);
  for (size_t k = 0; names && k < nn; k++)
    free(names[k]);
  free(names);
  cli_block_signals(0, &old);
  return rc;
}

/* nimc fit: read, fit, report, write; the exit status. */
int cli_fit(int argc, char **argv) {
  fit_args a;
  fit_spec sp;
  memset(&sp, 0, sizeof sp);
  fobs one;
  memset(&one, 0, sizeof one);
  fobs *ob = NULL;
  size_t nobs = 0;
  nimc_fit_obs *obs = NULL;
  nimc_fit_result r;
  memset(&r, 0, sizeof r);
  nimc_fit_param *par = NULL;
  char(*units)[32] = NULL;
  char *list = NULL, *json = NULL;
  nimc_err err;
  int rc = parse_args(argc, argv, &a);
  if (rc) {
    rc = rc < 0 ? 0 : rc;
    goto done;
  }
  /* before the fit, not after it */
  if ((rc = cli_outdir_ready("fit", a.outdir))) goto done;
  int quiet = a.quiet || a.json;
  const char *params = a.params;
  if (a.spec) {
    if ((rc = fit_spec_read(a.spec, quiet, &sp))) goto done;
    ob = sp.obs;
    nobs = sp.nobs;
    params = sp.params;
    if (sp.simplex) a.simplex = 1;
    if (sp.max_iter && !a.max_iter) a.max_iter = sp.max_iter;
    if (sp.rtol > 0 && !a.rtol) a.rtol = "";
  } else {
    /* the device must load before anything is asked of it */
    nimc_device *dev = NULL;
    if ((rc = cli_load_device(CMD, a.device, a.sets, a.nsets, NULL, &dev)))
      goto done;
    nimc_device_destroy(dev);
    snprintf(one.name, sizeof one.name, "%s", "the measured data");
    one.device = strdup(a.device);
    one.data = strdup(a.data);
    one.format = a.format;
    one.kind_word = a.kind ? a.kind[0] : 0;
    one.sets = calloc(a.nsets + 1, sizeof *one.sets);
    one.steps = calloc(a.nsteps + 1, sizeof *one.steps);
    if (!one.device || !one.data || !one.sets || !one.steps) {
      rc = EXIT_FAIL;
      goto done;
    }
    for (size_t k = 0; k < a.nsets; k++)
      if (!(one.sets[one.nsets++] = strdup(a.sets[k]))) rc = EXIT_FAIL;
    for (size_t k = 0; k < a.nsteps; k++)
      if (!(one.steps[one.nsteps++] = strdup(a.steps[k]))) rc = EXIT_FAIL;
    if (rc || (rc = fobs_load_data(&one, quiet))) goto done;
    ob = &one;
    nobs = 1;
  }
  size_t cap = 1;
  for (const char *p = params; *p; p++)
    cap += *p == ',';
  list = strdup(params);
  par = calloc(cap, sizeof *par);
  units = calloc(cap, sizeof *units);
  obs = calloc(nobs, sizeof *obs);
  if (!list || !par || !units || !obs) {
    rc = EXIT_FAIL;
    goto done;
  }
  size_t np = 0;
  if ((rc = parse_params(ob[0].device, (const char *const *)ob[0].sets,
                         ob[0].nsets, list, par, units, &np)))
    goto done;
  for (size_t b = 0; b < nobs; b++)
    obs[b] = ob[b].o;
  if (!a.quiet && !a.json)
    for (size_t b = 0; b < nobs; b++) {
      if (ob[b].o.kind == NIMC_OBS_METRIC) continue;
      fprintf(stderr, "nimc fit: %s: experiment (%s, %zu steps):\n",
              ob[b].name, ob[b].from_data ? "read off the data" : "as given",
              ob[b].nlines);
      for (size_t k = 0; k < ob[b].nlines; k++)
        fprintf(stderr, "  -e '%s'\n", ob[b].lines[k]);
    }
  nimc_device_fit_opts o = nimc_device_fit_opts_default();
  o.method = a.simplex ? NIMC_FIT_SIMPLEX : NIMC_FIT_LM;
  o.accel = a.accel;
  o.evaluate_only = a.evaluate;
  o.max_iter = a.max_iter;
  if (a.rtol && *a.rtol) {
    char *end;
    o.sim.rtol = strtod(a.rtol, &end);
    if (*end || !(o.sim.rtol > 0.0 && o.sim.rtol < 0.1)) {
      rc = cli_fail_usage(CMD, "--rtol '%s': expected a number in (0, 0.1)",
                          a.rtol);
      goto done;
    }
  } else if (a.rtol) {
    o.sim.rtol = sp.rtol;
  }
  progress prog = {a.quiet, cli_now_s()};
  o.progress = on_iteration;
  o.progress_user = &prog;
  rc = nimc_fit_run(par, np, obs, nobs, &o, &r, &err);
  if (rc) {
    fprintf(stderr, "nimc fit: %s\n", err.msg);
    rc = cli_exit_for(rc);
    goto done;
  }
  double wall = cli_now_s() - prog.start;
  if (!(json = summary_json(&a, par, ob, &r))) {
    rc = EXIT_FAIL;
    goto done;
  }
  if (a.json)
    fputs(json, stdout);
  else
    print_report(&a, par, ob, &r, wall);
  if (a.outdir && (rc = write_outputs(&a, par, ob, &r, json))) goto done;
  if (a.outdir && !a.json && !a.quiet)
    fprintf(stderr, "nimc fit: wrote the fitted device%s, fitted.set, "
                    "report.json and the tables and figures into %s\n",
            nobs > 1 ? "s" : "", a.outdir);
  if (!r.converged)
    fprintf(stderr, "nimc fit: not converged: %s\n", r.reason);
  rc = r.converged ? 0 : EXIT_FAIL;
done:
  free(json);
  free(list);
  free(par);
  free(units);
  free(obs);
  nimc_fit_result_free(&r);
  fobs_free(&one);
  fit_spec_free(&sp);
  free(a.steps);
  free(a.sets);
  return rc;
}
