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
#define _XOPEN_SOURCE 700 /* POSIX 2008 and realpath */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nimc/nimc.h"
#include "reproduce.h"

static const char *usage_fit_text =
    "usage: nimc fit DEVICE DATA --params KEY[=LO:HI][,KEY...] [options]\n"
    "\n"
    "Fit device parameters so that the simulated experiment reproduces the\n"
    "measured voltage of DATA: any file 'nimc analyze' reads (BioLogic\n"
    ".mpt/.mpr, CSV with unit-bearing headers such as what 'nimc run -o\n"
    "DIR' writes, ...) holding time, voltage and current (> 0 charging).\n"
    "\n"
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
    "  --max-iter N           iterations (default 50; simplex 100 per "
    "parameter)\n"
    "  --rtol X               the simulations' relative tolerance (default "
    "1e-8)\n"
    "  --format NAME          the data file's format (default: detected;\n"
    "                         'nimc fit-eis --help' lists them)\n"
    "  -o, --output DIR       write fitted.ini, report.json, fit.csv, fit.png,\n"
    "                         fit.svg\n"
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

/* ---- the measured data ---- */

/* Read path (any format nimc_data_read knows; format NULL = detect) into
 * *s; 0, or the exit status of the message printed. */
static int read_measured(const char *path, const char *format, int quiet,
                         nimc_series *s) {
  nimc_read_opts ro = nimc_read_opts_default();
  ro.format = format;
  nimc_data d;
  nimc_err err;
  char how[1024];
  int rc = nimc_data_read(path, &ro, &d, how, sizeof how, &err);
  if (rc) {
    fprintf(stderr, "nimc fit: %s\n", err.msg);
    return rc == NIMC_ENOMEM ? EXIT_FAIL : EXIT_USAGE;
  }
  if (!quiet) fprintf(stderr, "nimc fit: %s\n", how);
  if (!d.voltage_V || !d.current_A) {
    fprintf(stderr,
            "nimc fit: %s:%ld: the fit needs a voltage and a current column "
            "(found: %s%s)\n",
            path, d.header_line, d.voltage_V ? "voltage" : "no voltage",
            d.current_A ? ", current" : ", no current");
    nimc_data_free(&d);
    return EXIT_USAGE;
  }
  if (d.n < 3) {
    fprintf(stderr, "nimc fit: %s: %zu data rows (at least 3 needed)\n", path,
            d.n);
    nimc_data_free(&d);
    return EXIT_USAGE;
  }
  for (size_t k = 0; k < d.n; k++)
    if (nimc_series_push(s, d.time_s[k], d.voltage_V[k], d.current_A[k], -1)) {
      fprintf(stderr, "nimc fit: out of memory\n");
      nimc_data_free(&d);
      return EXIT_FAIL;
    }
  nimc_data_free(&d);
  return 0;
}

/* ---- arguments ---- */

typedef struct fit_args {
  const char *device, *data, *outdir, *params, *experiment, *rtol, *format;
  const char **steps, **sets;
  size_t nsteps, nsets;
  int json, quiet, simplex, accel, max_iter;
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
               !strcmp(o, "--rtol") || !strcmp(o, "--format")) {
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
      } else {
        a->steps[a->nsteps++] = v;
      }
    } else if (!strcmp(o, "--simplex")) {
      a->simplex = 1;
    } else if (!strcmp(o, "--accel")) {
      a->accel = 1;
    } else if (!a->device && o[0] != '-') {
      a->device = o;
    } else {
      int rc = cli_tail_option(CMD, "DEVICE and one DATA file", argc, argv, &i,
                               &a->outdir, &a->json, &a->quiet, &a->data);
      if (rc) return rc;
    }
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

/* The parameters of --params into par[] (keys and units in bufs); 0 or
 * the exit status of the message printed. */
static int parse_params(const fit_args *a, char *list, nimc_fit_param *par,
                        char (*units)[32], size_t *np) {
  size_t n = 0;
  for (char *item = strtok(list, ","); item; item = strtok(NULL, ",")) {
    char *eq = strchr(item, '=');
    if (eq) *eq = '\0';
    nimc_fit_param *p = &par[n];
    p->key = item;
    nimc_err err;
    double v;
    if (nimc_device_param(a->device, a->sets, a->nsets, item, &v, units[n],
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

/* The summary JSON (malloc'd text). */
static char *summary_json(const fit_args *a, const nimc_fit_param *par,
                          const char *const *lines, size_t nlines,
                          const nimc_device_fit_result *r) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (!f) return NULL;
  size_t np = r->np;
  fputs("{\n  \"device\": ", f);
  json_str(f, a->device);
  fputs(",\n  \"data\": ", f);
  json_str(f, a->data);
  fputs(",\n  \"method\": ", f);
  json_str(f, a->simplex ? "simplex" : "levenberg-marquardt");
  fputs(",\n  \"experiment\": [", f);
  for (size_t k = 0; k < nlines; k++) {
    fputs(k ? ", " : "", f);
    json_str(f, lines[k]);
  }
  const char *obj[] = {"parameters", "standard_errors", "relative_errors",
                       "start", "units"};
  fputs("]", f);
  for (int o = 0; o < 5; o++) {
    fprintf(f, ",\n  \"%s\": {", obj[o]);
    for (size_t k = 0; k < np; k++) {
      const nimc_fit_value *v = &r->param[k];
      fputs(k ? ", " : "", f);
      json_str(f, par[k].key);
      fputs(": ", f);
      if (o == 0) json_num(f, v->value);
      if (o == 1) json_num(f, v->std_err);
      if (o == 2) json_num(f, v->std_err / v->value);
      if (o == 3) json_num(f, v->start);
      if (o == 4) json_str(f, v->unit);
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
  fputs(", \"rms_V\": ", f);
  json_num(f, r->rms_V);
  fputs(", \"rms_start_V\": ", f);
  json_num(f, r->rms_start_V);
  fprintf(f,
          ", \"points\": %zu, \"held_points\": %zu, \"comparison\": \"%s\", "
          "\"iterations\": %d, \"simulations\": %ld, "
          "\"failed_simulations\": %ld, \"converged\": %s, \"reason\": ",
          r->n, r->n_held, r->by_step ? "by step" : "by time", r->iterations,
          r->simulations, r->failed_simulations,
          r->converged ? "true" : "false");
  json_str(f, r->reason);
  fputs("}\n}\n", f);
  fclose(f);
  return buf;
}

/* The human report on stdout. */
static void print_report(const nimc_fit_param *par, const char *const *lines,
                         size_t nlines, int from_data,
                         const nimc_device_fit_result *r, double wall) {
  size_t np = r->np;
  printf("experiment (%s, %zu steps):\n",
         from_data ? "read off the data" : "as given", nlines);
  for (size_t k = 0; k < nlines; k++)
    printf("  -e '%s'\n", lines[k]);
  printf("fit: %s after %d iterations, %ld simulations (%ld failed), %.1f "
         "s\n",
         r->reason, r->iterations, r->simulations, r->failed_simulations,
         wall);
  printf("residual: rms %.4g V (start %.4g V), chi2 %.6g (start %.6g), %zu "
         "points compared %s%s\n",
         r->rms_V, r->rms_start_V, r->chi2, r->chi2_start, r->n,
         r->by_step ? "step by step" : "by time",
         r->n_held ? "" : ", none held");
  if (r->n_held)
    printf("  %zu points lay outside the time of their simulated step (held "
           "at its end)\n",
           r->n_held);
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
  printf("\ncorrelation:\n");
  for (size_t i = 0; i < np; i++) {
    printf("  %-40s", par[i].key);
    for (size_t k = 0; k < np; k++)
      printf(" %7.3f", r->corr[i * np + k]);
    printf("\n");
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

/* Write the outputs into dir; 0 or the exit status. */
static int write_outputs(const fit_args *a, const nimc_fit_param *par,
                         const nimc_series *m, const nimc_device_fit_result *r,
                         const char *json) {
  char why[512], path[4096];
  nimc_err err;
  const char *dir = a->outdir;
  if (cli_mkdir_p(dir, why, sizeof why)) {
    fprintf(stderr, "nimc fit: cannot create output directory %s\n", why);
    return EXIT_USAGE;
  }
  /* fitted.ini: the fixed overrides, then the fitted values */
  size_t nov = a->nsets + r->np;
  override *ov = calloc(nov, sizeof *ov);
  if (!ov) return EXIT_FAIL;
  for (size_t k = 0; k < a->nsets; k++) {
    const char *eq = strchr(a->sets[k], '=');
    char sk[256];
    snprintf(sk, sizeof sk, "%.*s", eq ? (int)(eq - a->sets[k]) : 0,
             a->sets[k]);
    split_key(sk, ov[k].sec, ov[k].key);
    snprintf(ov[k].value, sizeof ov[k].value, "%s", eq ? eq + 1 : "");
    ov[k].why = "--set given to nimc fit";
  }
  for (size_t k = 0; k < r->np; k++) {
    override *o = &ov[a->nsets + k];
    split_key(par[k].key, o->sec, o->key);
    const char *u = r->param[k].unit;
    snprintf(o->value, sizeof o->value, "%.9g%s%s", r->param[k].value,
             strcmp(u, "1") ? " " : "", strcmp(u, "1") ? u : "");
    o->why = "fitted by nimc fit";
  }
  /* a --set of a fitted key is superseded by the fitted value */
  for (size_t k = 0; k < a->nsets; k++)
    for (size_t j = a->nsets; j < nov; j++)
      if (!strcmp(ov[k].sec, ov[j].sec) && !strcmp(ov[k].key, ov[j].key))
        ov[k].done = 1;
  char *ini = fitted_ini(a->device, a->data, ov, nov);
  free(ov);
  if (!ini) {
    fprintf(stderr, "nimc fit: %s: cannot read the device file again\n",
            a->device);
    return EXIT_FAIL;
  }
  snprintf(path, sizeof path, "%s/fitted.ini", dir);
  int rc = nimc_write_atomic(path, ini, strlen(ini), &err);
  free(ini);
  if (rc) {
    fprintf(stderr, "nimc fit: %s\n", err.msg);
    return EXIT_FAIL;
  }
  /* read back: the copy must give the fitted values */
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
  snprintf(path, sizeof path, "%s/report.json", dir);
  if (nimc_write_atomic(path, json, strlen(json), &err)) {
    fprintf(stderr, "nimc fit: %s\n", err.msg);
    return EXIT_FAIL;
  }
  /* fit.csv */
  char *csv = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&csv, &len);
  if (!f) return EXIT_FAIL;
  fputs("time_s,voltage_measured_V,voltage_model_V,residual_V\n", f);
  for (size_t i = 0; i < m->n; i++)
    fprintf(f, "%.10g,%.10g,%.10g,%.10g\n", m->time_s[i] - m->time_s[0],
            m->voltage_V[i], r->model_V[i], r->residual_V[i]);
  fclose(f);
  snprintf(path, sizeof path, "%s/fit.csv", dir);
  rc = nimc_write_atomic(path, csv, len, &err);
  free(csv);
  if (rc) {
    fprintf(stderr, "nimc fit: %s\n", err.msg);
    return EXIT_FAIL;
  }
  /* the figure: data and model against time, the residual below */
  double *t = malloc(m->n * sizeof *t);
  if (!t) return EXIT_FAIL;
  for (size_t i = 0; i < m->n; i++)
    t[i] = m->time_s[i] - m->time_s[0];
  nimc_curve top[2] = {{"measured", t, m->voltage_V, m->n, 1, 1},
                       {"model, fitted", t, r->model_V, m->n, 0, 2}};
  nimc_curve bottom[1] = {{"model - measured", t, r->residual_V, m->n, 0, 2}};
  nimc_panel panels[2] = {
      {top, 2, {"time / s", "voltage / V", NULL, 0, 0, 0}},
      {bottom, 1, {"time / s", "residual / V", NULL, 0, 0, 0}}};
  char title[256];
  snprintf(title, sizeof title, "nimc fit: rms %.3g V", r->rms_V);
  rc = nimc_plot_panels(panels, 2, title, dir, "fit", &err);
  free(t);
  if (rc) {
    fprintf(stderr, "nimc fit: figure not written: %s\n", err.msg);
    return EXIT_FAIL;
  }
  return 0;
}

/* nimc fit: read, fit, report, write; the exit status. */
int cli_fit(int argc, char **argv) {
  fit_args a;
  nimc_series meas;
  memset(&meas, 0, sizeof meas);
  nimc_protocol proto;
  memset(&proto, 0, sizeof proto);
  nimc_experiment *exp = NULL;
  nimc_device_fit_result r;
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
  /* the device must load before anything is asked of it */
  nimc_device *dev = NULL;
  if ((rc = cli_load_device(CMD, a.device, a.sets, a.nsets, NULL, &dev)))
    goto done;
  nimc_device_destroy(dev);
  if ((rc = read_measured(a.data, a.format, a.quiet || a.json, &meas)))
    goto done;
  size_t cap = 1;
  for (const char *p = a.params; *p; p++)
    cap += *p == ',';
  list = strdup(a.params);
  par = calloc(cap, sizeof *par);
  units = calloc(cap, sizeof *units);
  if (!list || !par || !units) {
    rc = EXIT_FAIL;
    goto done;
  }
  size_t np = 0;
  if ((rc = parse_params(&a, list, par, units, &np))) goto done;

  /* the experiment: read off the data, or given */
  const char *const *lines;
  size_t nlines;
  if (a.nsteps) {
    if ((rc = nimc_experiment_parse(&exp, a.steps, a.nsteps, &err))) {
      fprintf(stderr, "nimc fit: %s\n", err.msg);
      rc = cli_exit_for(rc);
      goto done;
    }
    lines = a.steps;
    nlines = a.nsteps;
  } else {
    if ((rc = nimc_protocol_from_series(&meas, NULL, &proto, &err))) {
      fprintf(stderr, "nimc fit: %s: %s\n", a.data, err.msg);
      rc = cli_exit_for(rc);
      goto done;
    }
    lines = (const char *const *)proto.lines;
    nlines = proto.n;
  }
  if (!a.quiet) {
    fprintf(stderr, "nimc fit: experiment (%s, %zu steps):\n",
            a.nsteps ? "as given" : "read off the data", nlines);
    for (size_t k = 0; k < nlines; k++)
      fprintf(stderr, "  -e '%s'\n", lines[k]);
  }
  nimc_device_fit_opts o = nimc_device_fit_opts_default();
  o.method = a.simplex ? NIMC_FIT_SIMPLEX : NIMC_FIT_LM;
  o.accel = a.accel;
  o.max_iter = a.max_iter;
  if (a.rtol) {
    char *end;
    o.sim.rtol = strtod(a.rtol, &end);
    if (*end || !(o.sim.rtol > 0.0 && o.sim.rtol < 0.1)) {
      rc = cli_fail_usage(CMD, "--rtol '%s': expected a number in (0, 0.1)",
                          a.rtol);
      goto done;
    }
  }
  progress prog = {a.quiet, cli_now_s()};
  o.progress = on_iteration;
  o.progress_user = &prog;
  rc = nimc_device_fit(a.device, a.sets, a.nsets, par, np, &meas,
                       proto.exp ? proto.exp : exp, &o, &r, &err);
  if (rc) {
    fprintf(stderr, "nimc fit: %s\n", err.msg);
    rc = cli_exit_for(rc);
    goto done;
  }
  double wall = cli_now_s() - prog.start;
  if (!(json = summary_json(&a, par, lines, nlines, &r))) {
    rc = EXIT_FAIL;
    goto done;
  }
  if (a.json)
    fputs(json, stdout);
  else
    print_report(par, lines, nlines, a.nsteps == 0, &r, wall);
  if (a.outdir && (rc = write_outputs(&a, par, &meas, &r, json))) goto done;
  if (a.outdir && !a.json && !a.quiet)
    fprintf(stderr,
            "nimc fit: wrote %s/fitted.ini, report.json, fit.csv, fit.png, "
            "fit.svg\n",
            a.outdir);
  if (!r.converged)
    fprintf(stderr, "nimc fit: not converged: %s\n", r.reason);
  rc = r.converged ? 0 : EXIT_FAIL;
done:
  free(json);
  free(list);
  free(par);
  free(units);
  nimc_device_fit_result_free(&r);
  nimc_protocol_free(&proto);
  nimc_experiment_destroy(exp);
  nimc_series_free(&meas);
  free(a.steps);
  free(a.sets);
  return rc;
}
