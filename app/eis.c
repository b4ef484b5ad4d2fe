/*
 * eis.c -- `nimc eis` (the impedance of a simulated device) and `nimc
 * fit-eis` (equivalent-circuit fitting of a measured spectrum).
 *
 * Both end in the same analysis, so model and experiment go through the
 * identical procedure: the high-frequency intercept, a circuit fitted by
 * bounded least squares (nimc_circuit_fit), the Kramers-Kronig check
 * (Lin-KK), and the same outputs: spectrum.csv, summary.json and the
 * figures nyquist, bode, fit_residuals and linkk (.png, .svg).  Only the
 * source of the spectrum differs: the linearised model at an operating
 * point (nimc_sim_impedance), or a data file (nimc_spectrum_read).  The
 * command uses the public API only.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nimc/nimc.h"
#include "nimc/report.h"
#include "reproduce.h"

/* The circuit `nimc eis` fits when none is given (docs/eis.md): the
 * series resistance, the charge-transfer arc with its double layer, and a
 * constant-phase element for everything slower (the capacitive electrode,
 * diffusion). */
const char *const cli_eis_default_circuit = "R0-p(R1,CPE1)-CPE2";

static const char *usage_eis =
    "usage: nimc eis DEVICE [options]\n"
    "\n"
    "The impedance spectrum of the device, from its equations linearised at\n"
    "an operating point (one complex sparse solve per frequency), then fitted\n"
    "with an equivalent circuit and checked by Lin-KK, as a measured one.\n"
    "\n"
    "operating point (default: the device's initial state, at rest):\n"
    "  --at V                 hold at V (e.g. 1.5V) until the state is steady\n"
    "  --after STEP           the state these experiment steps leave\n"
    "                         (repeatable, e.g. --after 'Charge at 0.1 mA/cm2\n"
    "                         until 2 V' --after 'Rest for 1 h')\n"
    "frequencies:\n"
    "  --from F               first frequency (default 100kHz)\n"
    "  --to F                 last frequency (default 10mHz)\n"
    "  --per-decade N         points per decade (default 10)\n"
    "device:\n"
    "  --temperature T        operating temperature, e.g. 80degC\n"
    "  --set SECTION.KEY=VAL  override a device-file value\n"
    "fit (default: the circuit R0-p(R1,CPE1)-CPE2, automatic start, global):\n"
    "  --fit CIRCUIT          fit this circuit instead (see nimc fit-eis)\n"
    "  --no-fit               no circuit fit (r_ct_ohm is then not reported)\n"
    "  --initial, --constant, --weight, --global, --seed, --starts\n"
    "                         as in nimc fit-eis\n"
    "output:\n"
    "  -o, --output DIR       write spectrum.csv, summary.json and the figures\n"
    "                         nyquist, bode, fit_residuals, linkk (.png, .svg)\n"
    "  --json                 print the summary JSON on stdout (and nothing "
    "else)\n"
    "  -q, --quiet            no progress or notes on stderr\n"
    "  -h, --help             this help\n"
    "\n"
    "Exit status: 0 success, 1 a failed simulation or fit, 2 bad usage or "
    "input.\n";

static const char *usage_fit =
    "usage: nimc fit-eis DATAFILE --circuit CIRCUIT [options]\n"
    "\n"
    "Fit an equivalent circuit to a measured impedance spectrum by bounded\n"
    "nonlinear least squares, with standard errors, correlations and a\n"
    "Kramers-Kronig (Lin-KK) check of the data.\n"
    "\n"
    "  --circuit CIRCUIT      the circuit, in the notation of impedance.py:\n"
    "                         '-' series, p(a,b,...) parallel, elements R, C, "
    "L,\n"
    "                         CPE, W, Wo, Ws, La, G, Gs, K, Zarc, TLM, TLMQ\n"
    "                         numbered: 'R0-p(R1,CPE1)-Wo1' (docs/eis.md)\n"
    "  --initial V1,V2,...    starting values of the free parameters in "
    "circuit\n"
    "                         order, SI units (default: automatic)\n"
    "  --constant NAME=VALUE  hold a parameter (e.g. R0=0.01); repeatable\n"
    "  --weight W             none (default), modulus (|Z|) or proportional\n"
    "  --global               multi-start search around the starting values\n"
    "  --seed N               random seed of --global (default 1)\n"
    "  --starts N             starts of --global (default 50)\n"
    "  --capacitive-only      keep only the points with Im Z < 0\n"
    "  --format NAME          data format (default: detected; the formats "
    "are\n"
    "                         listed below)\n"
    "  --im-sign S            the file's imaginary column: auto (default), "
    "im\n"
    "                         (it is Im Z) or minus-im (it is -Im Z)\n"
    "  -o, --output DIR       write spectrum.csv, summary.json and the figures\n"
    "                         nyquist, bode, fit_residuals, linkk (.png, .svg)\n"
    "  --json                 print the summary JSON on stdout (and nothing "
    "else)\n"
    "  -q, --quiet            no notes on stderr\n"
    "  -h, --help             this help\n"
    "\n"
    "Exit status: 0 success, 1 the fit failed, 2 bad usage or input (bad\n"
    "circuit string, data file or value).\n";

void cli_eis_usage(FILE *out) {
  fputs(usage_eis, out);
}
/* The usage of fit-eis and the data formats the library reads. */
static void fit_usage(FILE *out) {
  fputs(usage_fit, out);
  fputs("\nData formats (--format NAME):\n", out);
  const char *name, *what;
  for (size_t k = 0; (name = nimc_spectrum_format(k, &what)) != NULL; k++)
    fprintf(out, "  %-22s %s\n", name, what);
}

void cli_fit_eis_usage(FILE *out) {
  fit_usage(out);
}

/* ---- the fit options, shared by both commands ---- */

typedef struct fit_args {
  const char *circuit, *initial;
  const char **constants;
  size_t nconstants;
  nimc_weight weight;
  int global, nofit, starts;
  unsigned long seed;
} fit_args;

/* Read the value of option argv[*i] into *val; an exit status when it is
 * missing. */
static int need(const char *cmd, int argc, char **argv, int *i,
                const char *what, const char **val) {
  if (*i + 1 >= argc) {
    char fmt[96];
    snprintf(fmt, sizeof fmt, "option '%%s' needs %s", what);
    return cli_fail_usage(cmd, fmt, argv[*i]);
  }
  *val = argv[++*i];
  return 0;
}

/* A whole number in [lo, hi] from text, or an exit status. */
static int whole(const char *cmd, const char *opt, const char *text, long lo,
                 long hi, long *out) {
  char *end;
  errno = 0;
  long v = strtol(text, &end, 10);
  if (!*text || *end || errno || v < lo || v > hi) {
    fprintf(stderr, "nimc %s: %s '%s': expected a whole number from %ld to "
                    "%ld\n",
            cmd, opt, text, lo, hi);
    return EXIT_USAGE;
  }
  *out = v;
  return 0;
}

/* If argv[*i] is a fit option, take it (and its value): returns 1, or an
 * exit status >= 2 for a bad one, 0 when it is not a fit option. */
static int fit_option(const char *cmd, int argc, char **argv, int *i,
                      fit_args *f) {
  const char *o = argv[*i], *v = NULL;
  int rc;
  long n;
  if (!strcmp(o, "--initial")) {
    if ((rc = need(cmd, argc, argv, i, "values V1,V2,...", &f->initial)))
      return rc;
  } else if (!strcmp(o, "--constant")) {
    if ((rc = need(cmd, argc, argv, i, "NAME=VALUE", &v))) return rc;
    f->constants[f->nconstants++] = v;
  } else if (!strcmp(o, "--weight")) {
    if ((rc = need(cmd, argc, argv, i, "none, modulus or proportional", &v)))
      return rc;
    if (!strcmp(v, "none"))
      f->weight = NIMC_WEIGHT_NONE;
    else if (!strcmp(v, "modulus"))
      f->weight = NIMC_WEIGHT_MODULUS;
    else if (!strcmp(v, "proportional"))
      f->weight = NIMC_WEIGHT_PROPORTIONAL;
    else
      return cli_fail_usage(cmd,
                            "--weight '%s': expected none, modulus or "
                            "proportional",
                            v);
  } else if (!strcmp(o, "--global")) {
    f->global = 1;
  } else if (!strcmp(o, "--seed")) {
    if ((rc = need(cmd, argc, argv, i, "a number", &v)) ||
        (rc = whole(cmd, "--seed", v, 0, 2147483647L, &n)))
      return rc;
    f->seed = (unsigned long)n;
  } else if (!strcmp(o, "--starts")) {
    if ((rc = need(cmd, argc, argv, i, "a number", &v)) ||
        (rc = whole(cmd, "--starts", v, 1, 100000, &n)))
      return rc;
    f->starts = (int)n;
  } else {
    return 0;
  }
  return 1;
}

/* ---- the analysis ---- */

typedef struct analysis {
  nimc_circuit *circuit;
  nimc_fit fit;
  int have_fit;
  nimc_linkk kk;
  int have_kk;
  double r_ohmic, r_ct;
  double *p0; /* starting values (circuit order), or NULL */
  int *constant;
} analysis;

static void analysis_free(analysis *a) {
  nimc_circuit_destroy(a->circuit);
  if (a->have_fit) nimc_fit_free(&a->fit);
  if (a->have_kk) nimc_linkk_free(&a->kk);
  free(a->p0), free(a->constant);
  memset(a, 0, sizeof *a);
}

/* The names of c's free parameters, for messages. */
static void free_names(const nimc_circuit *c, const int *constant, char *buf,
                       size_t cap) {
  size_t len = 0;
  buf[0] = '\0';
  for (size_t k = 0; k < nimc_circuit_nparams(c) && len < cap; k++) {
    if (constant && constant[k]) continue;
    int w = snprintf(buf + len, cap - len, "%s%s", len ? ", " : "",
                     nimc_circuit_param_name(c, k));
    len += w > 0 ? (size_t)w : 0;
  }
}

/* Parse the circuit, constants and starting values of f into a; an exit
 * status on bad input. */
static int setup_fit(const char *cmd, const fit_args *f, const char *text,
                     analysis *a) {
  nimc_err err;
  if (nimc_circuit_parse(&a->circuit, text, &err)) {
    fprintf(stderr, "nimc %s: %s\n", cmd, err.msg);
    return EXIT_USAGE;
  }
  size_t np = nimc_circuit_nparams(a->circuit);
  a->constant = calloc(np ? np : 1, sizeof(int));
  double *cval = calloc(np ? np : 1, sizeof(double));
  int rc = 0;
  char names[1024];
  if (!a->constant || !cval) {
    free(cval);
    fprintf(stderr, "nimc %s: out of memory\n", cmd);
    return EXIT_FAIL;
  }
  for (size_t k = 0; k < f->nconstants && !rc; k++) {
    const char *eq = strchr(f->constants[k], '=');
    char name[64], *end;
    size_t len = eq ? (size_t)(eq - f->constants[k]) : 0;
    if (!eq || len == 0 || len >= sizeof name) {
      fprintf(stderr, "nimc %s: --constant '%s': expected NAME=VALUE\n", cmd,
              f->constants[k]);
      rc = EXIT_USAGE;
      break;
    }
    memcpy(name, f->constants[k], len);
    name[len] = '\0';
    int idx = nimc_circuit_param_index(a->circuit, name);
    double v = strtod(eq + 1, &end);
    if (idx < 0) {
      free_names(a->circuit, NULL, names, sizeof names);
      fprintf(stderr,
              "nimc %s: --constant '%s': the circuit has no parameter '%s' "
              "(its parameters: %s)\n",
              cmd, f->constants[k], name, names);
      rc = EXIT_USAGE;
    } else if (end == eq + 1 || *end || !isfinite(v)) {
      fprintf(stderr,
              "nimc %s: --constant '%s': '%s' is not a finite number (SI "
              "units, e.g. 0.01)\n",
              cmd, f->constants[k], eq + 1);
      rc = EXIT_USAGE;
    } else if (a->constant[idx]) {
      fprintf(stderr, "nimc %s: --constant '%s': %s is held twice\n", cmd,
              f->constants[k], name);
      rc = EXIT_USAGE;
    } else {
      a->constant[idx] = 1;
      cval[idx] = v;
    }
  }
  size_t nfree = 0;
  for (size_t k = 0; k < np; k++)
    nfree += !a->constant[k];
  if (!rc && (f->initial || f->nconstants)) {
    /* starting values: constants at theirs, the free ones from --initial
     * (or, without it, the automatic guesses, which need all free) */
    a->p0 = calloc(np ? np : 1, sizeof(double));
    if (!a->p0) rc = EXIT_FAIL;
    size_t got = 0;
    const char *t = f->initial;
    while (!rc && t && *t) {
      char *end;
      double v = strtod(t, &end);
      if (end == t || (*end && *end != ',') || !isfinite(v)) {
        fprintf(stderr,
                "nimc %s: --initial '%s': value %zu ('%.*s') is not a finite "
                "number\n",
                cmd, f->initial, got + 1, (int)strcspn(t, ","), t);
        rc = EXIT_USAGE;
        break;
      }
      if (got < np) {
        /* the got-th free parameter */
        size_t seen = 0;
        for (size_t k = 0; k < np; k++)
          if (!a->constant[k] && seen++ == got) a->p0[k] = v;
      }
      got++;
      t = *end ? end + 1 : end;
    }
    if (!rc && f->initial && got != nfree) {
      free_names(a->circuit, a->constant, names, sizeof names);
      fprintf(stderr,
              "nimc %s: --initial: %zu value%s for %zu free parameter%s "
              "(%s)\n",
              cmd, got, got == 1 ? "" : "s", nfree, nfree == 1 ? "" : "s",
              names);
      rc = EXIT_USAGE;
    }
    if (!rc && !f->initial) {
      fprintf(stderr,
              "nimc %s: --constant needs --initial with the starting values "
              "of the other parameters\n",
              cmd);
      rc = EXIT_USAGE;
    }
    for (size_t k = 0; !rc && k < np; k++)
      if (a->constant[k]) a->p0[k] = cval[k];
  }
  free(cval);
  return rc;
}

/* Fit (when asked), Lin-KK and the intercept of s; an exit status. */
static int analyse(const char *cmd, const nimc_spectrum *s, const fit_args *f,
                   analysis *a, int quiet) {
  nimc_err err;
  a->r_ohmic = nimc_spectrum_r_ohmic(s);
  a->r_ct = NAN;
  nimc_linkk_opts ko = nimc_linkk_opts_default();
  if (nimc_spectrum_linkk(s, &ko, &a->kk, &err) == NIMC_OK)
    a->have_kk = 1;
  else if (!quiet)
    fprintf(stderr, "nimc %s: note: no Lin-KK check: %s\n", cmd, err.msg);
  if (!a->circuit) return 0;
  nimc_fit_opts o = nimc_fit_opts_default();
  o.weight = f->weight;
  o.initial = a->p0;
  o.constant = a->constant;
  o.global = f->global;
  o.seed = f->seed;
  if (f->starts > 0) o.starts = f->starts;
  int rc = nimc_circuit_fit(a->circuit, s, &o, &a->fit, &err);
  if (rc) {
    fprintf(stderr, "nimc %s: fit of %s failed: %s\n", cmd,
            nimc_circuit_text(a->circuit), err.msg);
    return cli_exit_for(rc);
  }
  a->have_fit = 1;
  int k = nimc_circuit_rct_index(a->circuit);
  if (k >= 0) a->r_ct = a->fit.p[k];
  if (!quiet && !a->fit.converged)
    fprintf(stderr,
            "nimc %s: warning: the fit stopped at its iteration limit, not "
            "at a minimum (relative gradient %.2g)\n",
            cmd, a->fit.grad_rel);
  return 0;
}

static void print_metric(const char *name, double v, const char *unit) {
  if (isfinite(v)) printf("  %-24s %.6g %s\n", name, v, unit);
}

/* The report of a on stdout. */
static void print_analysis(const nimc_spectrum *s, const analysis *a) {
  if (s->n)
    printf("spectrum: %zu points, %.4g Hz to %.4g Hz\n", s->n, s->freq_Hz[0],
           s->freq_Hz[s->n - 1]);
  if (a->have_fit) {
    const nimc_fit *f = &a->fit;
    size_t np = f->np;
    printf("circuit: %s (%s, %d start%s, %d iterations, relative gradient "
           "%.2g)\n",
           nimc_circuit_text(a->circuit),
           f->converged ? "converged" : "NOT converged", f->starts,
           f->starts == 1 ? "" : "s", f->iterations, f->grad_rel);
    printf("  %-10s %14s %14s %8s  %s\n", "parameter", "value", "std. error",
           "rel.", "unit");
    for (size_t k = 0; k < np; k++) {
      double se = f->std_err[k];
      printf("  %-10s %14.6g ", nimc_circuit_param_name(a->circuit, k),
             f->p[k]);
      if (isfinite(se))
        printf("%14.3g %7.2g%%", se, 100.0 * se / fabs(f->p[k]));
      else
        printf("%14s %8s", a->constant && a->constant[k] ? "(held)" : "-",
               "");
      printf("  %s\n", nimc_circuit_param_unit(a->circuit, k));
    }
    printf("  correlation:\n");
    for (size_t i = 0; i < np; i++) {
      printf("  %-10s", nimc_circuit_param_name(a->circuit, i));
      for (size_t j = 0; j <= i; j++) {
        double c = f->corr[i * np + j];
        if (isfinite(c))
          printf(" %6.3f", c);
        else
          printf(" %6s", "-");
      }
      printf("\n");
    }
  }
  printf("metrics:\n");
  print_metric("r_ohmic_ohm", a->r_ohmic, "ohm");
  print_metric("r_ct_ohm", a->r_ct, "ohm");
  if (a->have_fit) print_metric("rmse_ohm", a->fit.rmse_ohm, "ohm");
  if (a->have_kk)
    printf("Lin-KK: M = %d RC elements%s, mu = %.3f, residuals max %.3g %%, "
           "rms %.3g %%\n",
           a->kk.M, a->kk.capacitance ? " and a series C" : "", a->kk.mu,
           100.0 * a->kk.max_residual, 100.0 * a->kk.rms_residual);
}

/* Write spectrum.csv, summary.json and the figures into dir; an exit
 * status. */
static int write_eis_set(const char *cmd, const char *dir,
                         const nimc_spectrum *s, const analysis *a,
                         const char *title, const char *json) {
  char path[4096];
  nimc_err err;
  int rc = 0;
  snprintf(path, sizeof path, "%s/spectrum.csv", dir);
  if (nimc_spectrum_write_csv(s, a->have_fit ? &a->fit : NULL,
                              a->have_kk ? &a->kk : NULL, path, &err)) {
    fprintf(stderr, "nimc %s: %s\n", cmd, err.msg);
    return EXIT_FAIL;
  }
  snprintf(path, sizeof path, "%s/summary.json", dir);
  if (nimc_write_atomic(path, json, strlen(json), &err)) {
    fprintf(stderr, "nimc %s: %s\n", cmd, err.msg);
    return EXIT_FAIL;
  }
  /* the fitted circuit at the data's frequencies, as a spectrum */
  nimc_spectrum fit = {0};
  if (a->have_fit)
    fit = (nimc_spectrum){s->n, s->freq_Hz, a->fit.z_re_fit, a->fit.z_im_fit};
  nimc_zcurve z[2] = {{"data", s, 1, 1}, {NULL, &fit, 0, 2}};
  char label[160];
  if (a->have_fit) {
    snprintf(label, sizeof label, "fit %s", nimc_circuit_text(a->circuit));
    z[1].label = label;
  }
  size_t nz = a->have_fit ? 2 : 1;
  if (nimc_plot_nyquist(z, nz, title, dir, "nyquist", &err) ||
      nimc_plot_bode(z, nz, title, dir, "bode", &err)) {
    fprintf(stderr, "nimc %s: figure not written: %s\n", cmd, err.msg);
    rc = EXIT_FAIL;
  }
  /* residuals relative to |Z|, in per cent, against frequency */
  size_t n = s->n;
  double *r = malloc(sizeof(double) * (4 * n + 1));
  if (!r) {
    fprintf(stderr, "nimc %s: out of memory\n", cmd);
    return EXIT_FAIL;
  }
  for (int which = 0; which < 2 && !rc; which++) {
    if (which == 0 && !a->have_fit) continue;
    if (which == 1 && !a->have_kk) continue;
    for (size_t k = 0; k < n; k++) {
      double m = hypot(s->z_re_ohm[k], s->z_im_ohm[k]);
      if (which == 0) {
        r[k] = 100.0 * (s->z_re_ohm[k] - a->fit.z_re_fit[k]) / m;
        r[n + k] = 100.0 * (s->z_im_ohm[k] - a->fit.z_im_fit[k]) / m;
      } else {
        r[k] = 100.0 * a->kk.res_re[k];
        r[n + k] = 100.0 * a->kk.res_im[k];
      }
    }
    nimc_curve c[2] = {{"Re", s->freq_Hz, r, n, 2, 1},
                       {"Im", s->freq_Hz, r + n, n, 2, 2}};
    char t[256];
    if (which == 0)
      snprintf(t, sizeof t, "%s: residuals of the fit %s", title,
               nimc_circuit_text(a->circuit));
    else
      snprintf(t, sizeof t,
               "%s: Lin-KK residuals (M = %d, mu = %.2f)", title, a->kk.M,
               a->kk.mu);
    nimc_panel p = {c, 2,
                    {"frequency (Hz)", "(Z - Z_model) / |Z| (%)", t, 1, 0, 0}};
    if (nimc_plot_panels(&p, 1, NULL, dir, which ? "linkk" : "fit_residuals",
                         &err)) {
      fprintf(stderr, "nimc %s: figure not written: %s\n", cmd, err.msg);
      rc = EXIT_FAIL;
    }
  }
  free(r);
  return rc;
}

/* The set of files of an impedance run (docs/cli.md), as the manifest
 * lists what of it is there. */
static const char *const eis_files[] = {
    "spectrum.csv",      "summary.json",     "nyquist.png",
    "nyquist.svg",       "nyquist.dat",      "nyquist.gp",
    "nyquist.log",       "bode.png",         "bode.svg",
    "bode.dat",          "bode.gp",          "bode.log",
    "fit_residuals.png", "fit_residuals.svg", "fit_residuals.dat",
    "fit_residuals.gp",  "fit_residuals.log", "linkk.png",
    "linkk.svg",         "linkk.dat",        "linkk.gp",
    "linkk.log",         NULL};

/* The set written into dir: its manifest removed first and written last,
 * signals held meanwhile; an exit status. */
static int write_eis_outputs(const char *cmd, const char *dir,
                             const nimc_spectrum *s, const analysis *a,
                             const char *title, const char *json) {
  int rc = cli_clear_manifest(cmd, dir);
  if (rc) return rc;
  sigset_t old;
  cli_block_signals(1, &old);
  rc = write_eis_set(cmd, dir, s, a, title, json);
  if (!rc) rc = cli_write_manifest(cmd, dir, eis_files, 1);
  cli_block_signals(0, &old);
  return rc;
}

/* Frequencies of --from, --to, --per-decade; an exit status. */
static int frequencies(const char *from, const char *to, const char *pd,
                       double **f, size_t *n) {
  double a = 1e5, b = 1e-2;
  long k = 10;
  nimc_err err;
  if (from && nimc_quantity_parse(from, "Hz", &a, &err)) {
    fprintf(stderr, "nimc eis: --from '%s': %s\n", from, err.msg);
    return EXIT_USAGE;
  }
  if (to && nimc_quantity_parse(to, "Hz", &b, &err)) {
    fprintf(stderr, "nimc eis: --to '%s': %s\n", to, err.msg);
    return EXIT_USAGE;
  }
  if (pd && whole("eis", "--per-decade", pd, 1, 1000, &k)) return EXIT_USAGE;
  if (!(a > 0.0) || !(b > 0.0)) {
    fprintf(stderr, "nimc eis: %s '%s': a frequency must be positive\n",
            a > 0.0 ? "--to" : "--from", a > 0.0 ? to : from);
    return EXIT_USAGE;
  }
  if (nimc_freq_logspace(a, b, (int)k, f, n, &err)) {
    fprintf(stderr, "nimc eis: %s\n", err.msg);
    return EXIT_USAGE;
  }
  return 0;
}

/* ---- nimc eis ---- */

typedef struct eis_args {
  const char *device, *outdir, *temperature, *at, *from, *to, *per_decade;
  const char **sets, **after;
  size_t nsets, nafter;
  int json, quiet;
  double settle_tol;
  fit_args fit;
} eis_args;

static int parse_eis_args(int argc, char **argv, eis_args *a) {
  memset(a, 0, sizeof *a);
  a->sets = calloc((size_t)argc, sizeof *a->sets);
  a->after = calloc((size_t)argc, sizeof *a->after);
  a->fit.constants = calloc((size_t)argc, sizeof *a->fit.constants);
  a->fit.seed = 1;
  a->settle_tol = 1e-4;
  if (!a->sets || !a->after || !a->fit.constants) {
    fprintf(stderr, "nimc eis: out of memory\n");
    return EXIT_FAIL;
  }
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i], *v = NULL;
    int rc = fit_option("eis", argc, argv, &i, &a->fit);
    if (rc == 1) continue;
    if (rc) return rc;
    if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
      fputs(usage_eis, stdout);
      return -1;
    } else if (!strcmp(o, "--at")) {
      if ((rc = need("eis", argc, argv, &i, "a voltage", &a->at))) return rc;
    } else if (!strcmp(o, "--after")) {
      if ((rc = need("eis", argc, argv, &i, "a step", &v))) return rc;
      a->after[a->nafter++] = v;
    } else if (!strcmp(o, "--from")) {
      if ((rc = need("eis", argc, argv, &i, "a frequency", &a->from)))
        return rc;
    } else if (!strcmp(o, "--to")) {
      if ((rc = need("eis", argc, argv, &i, "a frequency", &a->to))) return rc;
    } else if (!strcmp(o, "--per-decade")) {
      if ((rc = need("eis", argc, argv, &i, "a number", &a->per_decade)))
        return rc;
    } else if (!strcmp(o, "--temperature")) {
      if ((rc = need("eis", argc, argv, &i, "a temperature", &a->temperature)))
        return rc;
    } else if (!strcmp(o, "--set")) {
      if ((rc = need("eis", argc, argv, &i, "SECTION.KEY=VALUE", &v)))
        return rc;
      a->sets[a->nsets++] = v;
    } else if (!strcmp(o, "--fit")) {
      if ((rc = need("eis", argc, argv, &i, "a circuit", &a->fit.circuit)))
        return rc;
    } else if (!strcmp(o, "--no-fit")) {
      a->fit.nofit = 1;
    } else if ((rc = cli_tail_option("eis", "DEVICE", argc, argv, &i,
                                     &a->outdir, &a->json, &a->quiet,
                                     &a->device))) {
      return rc;
    }
  }
  if (!a->device) return cli_fail_usage("eis", "%s", "missing DEVICE file");
  if (a->at && a->nafter)
    return cli_fail_usage("eis", "%s",
                          "--at and --after are two ways to give the "
                          "operating point: give one");
  if (a->fit.nofit && (a->fit.circuit || a->fit.initial || a->fit.nconstants))
    return cli_fail_usage("eis", "%s",
                          "--no-fit with --fit, --initial or --constant");
  return 0;
}

int cli_eis(int argc, char **argv) {
  eis_args a;
  nimc_device *dev = NULL;
  nimc_experiment *exp = NULL;
  nimc_sim *sim = NULL;
  nimc_result res;
  nimc_spectrum spec = {0};
  analysis an;
  memset(&an, 0, sizeof an);
  memset(&res, 0, sizeof res);
  double *freq = NULL;
  size_t nf = 0;
  char *json = NULL;
  nimc_err err;
  int rc = parse_eis_args(argc, argv, &a);
  if (rc) {
    rc = rc < 0 ? 0 : rc;
    goto done;
  }
  if ((rc = frequencies(a.from, a.to, a.per_decade, &freq, &nf))) goto done;
  if ((rc = cli_load_device("eis", a.device, a.sets, a.nsets, a.temperature,
                            &dev)))
    goto done;
  if (nimc_device_pack(dev, NULL, NULL) > 0) {
    fprintf(stderr,
            "nimc eis: %s: [pack]: the impedance of a pack is not computed "
            "(measure it with a Sine step of nimc run, or drop [pack])\n",
            a.device);
    rc = EXIT_USAGE;
    goto done;
  }
  double V_at = NAN;
  if (a.at && nimc_quantity_parse(a.at, "V", &V_at, &err)) {
    fprintf(stderr, "nimc eis: --at '%s': %s\n", a.at, err.msg);
    rc = EXIT_USAGE;
    goto done;
  }
  if (a.nafter &&
      (rc = nimc_experiment_parse(&exp, a.after, a.nafter, &err))) {
    fprintf(stderr, "nimc eis: --after: %s\n", err.msg);
    rc = cli_exit_for(rc);
    goto done;
  }
  if (!a.fit.nofit &&
      (rc = setup_fit("eis", &a.fit,
                      a.fit.circuit ? a.fit.circuit : cli_eis_default_circuit,
                      &an)))
    goto done;
  if (!a.fit.circuit && !a.fit.initial) a.fit.global = 1; /* automatic */
  if (a.outdir) {
    char why[512];
    if (cli_mkdir_p(a.outdir, why, sizeof why)) {
      fprintf(stderr, "nimc eis: cannot create output directory %s\n", why);
      rc = EXIT_USAGE;
      goto done;
    }
  }
  double t0 = cli_now_s();
  if ((rc = nimc_sim_create(&sim, dev, NULL, &err))) {
    fprintf(stderr, "nimc eis: %s\n", err.msg);
    rc = cli_exit_for(rc);
    goto done;
  }
  /* the operating point; the slowest period sets what "steady" means */
  double f_lo = fmin(freq[0], freq[nf - 1]);
  double t_scale = 1.0 / (2.0 * 3.14159265358979323846 * f_lo);
  double settle = NAN;
  if (exp && nimc_sim_run(sim, exp, &res)) {
    fprintf(stderr, "nimc eis: the steps of --after failed: %s\n",
            nimc_sim_errmsg(sim));
    rc = EXIT_FAIL;
    goto done;
  }
  if (!a.at && !exp && nimc_sim_at_rest(sim)) {
    fprintf(stderr, "nimc eis: %s\n", nimc_sim_errmsg(sim));
    rc = EXIT_FAIL;
    goto done;
  }
  if (a.at && nimc_sim_settle(sim, V_at, t_scale, a.settle_tol, 1e9, &settle)) {
    fprintf(stderr, "nimc eis: %s\n", nimc_sim_errmsg(sim));
    rc = EXIT_FAIL;
    goto done;
  }
  double drift = nimc_sim_drift(sim, t_scale, a.settle_tol);
  if (!a.quiet && !(drift <= 1.0))
    fprintf(stderr,
            "nimc eis: note: the operating point is not steady: its state "
            "moves %.3g times the tolerance %g over %.3g s (the slowest "
            "period / 2 pi); the low-frequency impedance describes a "
            "drifting state\n",
            drift, a.settle_tol, t_scale);
  nimc_eis_info info;
  if (nimc_sim_impedance(sim, freq, nf, &spec, &info)) {
    fprintf(stderr, "nimc eis: %s\n", nimc_sim_errmsg(sim));
    rc = EXIT_FAIL;
    goto done;
  }
  double wall = cli_now_s() - t0;
  if ((rc = analyse("eis", &spec, &a.fit, &an, a.quiet))) goto done;
  nimc_eis_summary es = {.spectrum = &spec,
                         .circuit = an.have_fit ? an.circuit : NULL,
                         .fit = an.have_fit ? &an.fit : NULL,
                         .linkk = an.have_kk ? &an.kk : NULL,
                         .r_ohmic_ohm = an.r_ohmic,
                         .r_ct_ohm = an.r_ct,
                         .info = &info,
                         .settle_time_s = settle,
                         .drift = drift};
  nimc_summary sum = {.device = nimc_device_name(dev),
                      .temperature_C = nimc_device_temperature_K(dev) - 273.15,
                      .result = exp ? &res : NULL,
                      .eis = &es};
  if (nimc_summary_json(&sum, &json, &err)) {
    fprintf(stderr, "nimc eis: %s\n", err.msg);
    rc = EXIT_FAIL;
    goto done;
  }
  if (a.json) {
    printf("%s\n", json);
  } else {
    printf("device: %s (%s) at %.2f degC\n", nimc_device_name(dev),
           nimc_device_path(dev), nimc_device_temperature_K(dev) - 273.15);
    printf("operating point: %.6g V, %.4g A at t = %.6g s%s",
           info.voltage_V, info.current_A, info.t_s,
           a.at ? " (held until steady" : exp ? " (after the steps)" : " (initial state, at rest)");
    if (a.at) printf(", %.4g s)", settle);
    printf("\n");
    print_analysis(&spec, &an);
    printf("solver: %ld unknowns, %ld frequencies, %ld full factorisations, "
           "%ld refactorisations, %ld solves (%ld refinements), backward "
           "error <= %.1e, %.3f s\n",
           info.unknowns, (long)nf, info.full_factorizations,
           info.refactorizations, info.solves, info.refinements,
           info.max_backward_error, wall);
  }
  if (a.outdir) {
    char title[256];
    snprintf(title, sizeof title, "%s (model)", nimc_device_name(dev));
    if ((rc = write_eis_outputs("eis", a.outdir, &spec, &an, title, json)))
      goto done;
    if (!a.json && !a.quiet)
      fprintf(stderr,
              "nimc eis: wrote %s/spectrum.csv, summary.json, nyquist, bode, "
              "fit_residuals, linkk (.png, .svg)\n",
              a.outdir);
  }
  rc = 0;
done:
  free(json);
  free(freq);
  nimc_spectrum_free(&spec);
  analysis_free(&an);
  nimc_result_free(&res);
  nimc_sim_destroy(sim);
  nimc_experiment_destroy(exp);
  nimc_device_destroy(dev);
  free(a.sets), free(a.after), free(a.fit.constants);
  return rc;
}

/* ---- nimc fit-eis ---- */

typedef struct fit_eis_args {
  const char *file, *outdir, *format;
  int json, quiet, capacitive_only, im_sign;
  fit_args fit;
} fit_eis_args;

static int parse_fit_args(int argc, char **argv, fit_eis_args *a) {
  memset(a, 0, sizeof *a);
  a->fit.constants = calloc((size_t)argc, sizeof *a->fit.constants);
  a->fit.seed = 1;
  if (!a->fit.constants) {
    fprintf(stderr, "nimc fit-eis: out of memory\n");
    return EXIT_FAIL;
  }
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i], *v = NULL;
    int rc = fit_option("fit-eis", argc, argv, &i, &a->fit);
    if (rc == 1) continue;
    if (rc) return rc;
    if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
      fit_usage(stdout);
      return -1;
    } else if (!strcmp(o, "--circuit")) {
      if ((rc = need("fit-eis", argc, argv, &i, "a circuit", &a->fit.circuit)))
        return rc;
    } else if (!strcmp(o, "--format")) {
      if ((rc = need("fit-eis", argc, argv, &i, "a format name", &a->format)))
        return rc;
    } else if (!strcmp(o, "--im-sign")) {
      if ((rc = need("fit-eis", argc, argv, &i, "auto, im or minus-im", &v)))
        return rc;
      if (!strcmp(v, "auto"))
        a->im_sign = 0;
      else if (!strcmp(v, "im"))
        a->im_sign = 1;
      else if (!strcmp(v, "minus-im"))
        a->im_sign = -1;
      else
        return cli_fail_usage("fit-eis",
                              "--im-sign '%s': expected auto, im or minus-im",
                              v);
    } else if (!strcmp(o, "--capacitive-only")) {
      a->capacitive_only = 1;
    } else if ((rc = cli_tail_option("fit-eis", "DATAFILE", argc, argv, &i,
                                     &a->outdir, &a->json, &a->quiet,
                                     &a->file))) {
      return rc;
    }
  }
  if (!a->file) return cli_fail_usage("fit-eis", "%s", "missing DATAFILE");
  if (!a->fit.circuit)
    return cli_fail_usage("fit-eis", "%s",
                          "missing --circuit (e.g. --circuit "
                          "'R0-p(R1,CPE1)-Wo1')");
  return 0;
}

/* Keep the points of s with Im Z < 0; an exit status. */
static int keep_capacitive(nimc_spectrum *s, const char *file) {
  size_t m = 0;
  for (size_t k = 0; k < s->n; k++)
    if (s->z_im_ohm[k] < 0) {
      s->freq_Hz[m] = s->freq_Hz[k];
      s->z_re_ohm[m] = s->z_re_ohm[k];
      s->z_im_ohm[m] = s->z_im_ohm[k];
      m++;
    }
  if (m < 3) {
    fprintf(stderr,
            "nimc fit-eis: %s: --capacitive-only leaves %zu point%s (Im Z < "
            "0); at least 3 are needed\n",
            file, m, m == 1 ? "" : "s");
    return EXIT_USAGE;
  }
  s->n = m;
  return 0;
}

int cli_fit_eis(int argc, char **argv) {
  fit_eis_args a;
  nimc_spectrum spec = {0};
  analysis an;
  memset(&an, 0, sizeof an);
  char *json = NULL, how[512] = "";
  nimc_err err;
  int rc = parse_fit_args(argc, argv, &a);
  if (rc) {
    rc = rc < 0 ? 0 : rc;
    goto done;
  }
  if ((rc = setup_fit("fit-eis", &a.fit, a.fit.circuit, &an))) goto done;
  nimc_read_opts ro = nimc_read_opts_default();
  ro.format = a.format;
  ro.im_sign = a.im_sign;
  if ((rc = nimc_spectrum_read(a.file, &ro, &spec, how, sizeof how, &err))) {
    fprintf(stderr, "nimc fit-eis: %s\n", err.msg);
    rc = cli_exit_for(rc);
    goto done;
  }
  if (!a.quiet) fprintf(stderr, "nimc fit-eis: %s: %s\n", a.file, how);
  size_t n_read = spec.n;
  if (a.capacitive_only && (rc = keep_capacitive(&spec, a.file))) goto done;
  if (!a.quiet && spec.n != n_read)
    fprintf(stderr,
            "nimc fit-eis: --capacitive-only: %zu of %zu points kept\n",
            spec.n, n_read);
  if (a.outdir) {
    char why[512];
    if (cli_mkdir_p(a.outdir, why, sizeof why)) {
      fprintf(stderr, "nimc fit-eis: cannot create output directory %s\n",
              why);
      rc = EXIT_USAGE;
      goto done;
    }
  }
  if ((rc = analyse("fit-eis", &spec, &a.fit, &an, a.quiet))) goto done;
  nimc_eis_summary es = {.spectrum = &spec,
                         .circuit = an.circuit,
                         .fit = &an.fit,
                         .linkk = an.have_kk ? &an.kk : NULL,
                         .r_ohmic_ohm = an.r_ohmic,
                         .r_ct_ohm = an.r_ct,
                         .settle_time_s = NAN,
                         .drift = NAN,
                         .source = a.file,
                         .read_as = how};
  nimc_summary sum = {.temperature_C = NAN, .eis = &es};
  if (nimc_summary_json(&sum, &json, &err)) {
    fprintf(stderr, "nimc fit-eis: %s\n", err.msg);
    rc = EXIT_FAIL;
    goto done;
  }
  if (a.json) {
    printf("%s\n", json);
  } else {
    printf("data: %s\n", a.file);
    print_analysis(&spec, &an);
  }
  if (a.outdir) {
    const char *base = strrchr(a.file, '/');
    if ((rc = write_eis_outputs("fit-eis", a.outdir, &spec, &an,
                                base ? base + 1 : a.file, json)))
      goto done;
    if (!a.json && !a.quiet)
      fprintf(stderr,
              "nimc fit-eis: wrote %s/spectrum.csv, summary.json, nyquist, "
              "bode, fit_residuals, linkk (.png, .svg)\n",
              a.outdir);
  }
  rc = 0;
done:
  free(json);
  nimc_spectrum_free(&spec);
  analysis_free(&an);
  free(a.fit.constants);
  return rc;
}
