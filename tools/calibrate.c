/*
 * calibrate.c -- the reproducible calibration of the NIMC's unknown
 * parameters against the 25 C measurements of the paper.
 *
 * The few parameters nobody measured (the AG capacitance per mass and the
 * share and time constant of its slow, micropore part, the thickness of the
 * gel over the array, the salt diffusivity of the gel and the porosity of
 * the EG cover) are fitted, by GSL's trust-region
 * Levenberg-Marquardt on their logarithms, to the calibration table of
 * ../shared/docs/system.md: volumetric capacitance of the uncovered device
 * at 0.1, 0.2, 1 and 1.5 mA/cm2, of the covered device at 0.2 mA/cm2, and
 * the equivalent series resistance.  Each evaluation simulates every GCD
 * target with the public API, applying the parameters as --set overrides
 * to the shipped device files, and cycles it from the initial state until
 * the cycle is steady (nimc_sim_run_until_steady, the defaults), reading
 * the steady cycle: exactly what `nimc reproduce` reports and
 * `nimc run --until-steady` measures.  A target whose cycles are not
 * steady within the cycle limit still gives its last cycle's value (the
 * fit needs a number; a warning says so); one with no capacitance to read,
 * or a failed simulation, counts as -100 %.
 *
 * It prints the fitted values with their standard errors and the
 * sensitivity of every target to every parameter, and writes the
 * overrides as lines "section.key=value" (-o FILE) to be copied into the
 * device files, whose comments then cite this tool and its targets.
 *
 * usage: nimc-calibrate [--devices DIR] [-o FILE] [--simplex N] [--max-iter N]
 *                       [--start K=V ...]
 * --simplex N first runs up to N Nelder-Mead iterations (robust against the
 * jumps salt depletion puts into the residuals), then Levenberg-Marquardt
 * polishes and gives the covariance and sensitivities.
 */
#define _POSIX_C_SOURCE 200809L
#include <gsl/gsl_blas.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_multifit_nlinear.h>
#include <gsl/gsl_multimin.h>
#include <gsl/gsl_vector.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nimc/nimc.h"
#include "paper.h"

/* A fitted parameter: the override key, its unit for printing, start,
 * and the physically plausible range it is kept in (the fit works on
 * u = logit of the position of ln(value) between ln(lo) and ln(hi)). */
typedef struct param {
  const char *key;  /* section.key */
  const char *unit; /* SI unit of the value written */
  double start;
  double lo, hi;
} param;

static param params[] = {
    /* the sodium the NTO holds as made: the device's cyclable inventory,
     * as a share of its accessible capacity */
    {"anode.initial_stoichiometry", "1", 0.40, 0.02, 0.95},
    /* Na+ in the gel: slower than the ionic liquid's ions (2.9e-12) */
    {"electrolyte.diffusivity", "m2/s", 1.1e-11, 1e-14, 1e-10},
    /* above the fingers, below a millimetre */
    {"geometry.gel_thickness", "m", 408e-6, 50e-6, 1e-3},
    /* the AG's micropores: their share of the capacitance and the time
     * constant of their transmission line */
    {"cathode.micropore_capacitance_fraction", "1", 0.42, 0.02, 0.9},
    {"cathode.micropore_time_constant", "s", 286.0, 5.0, 5000.0},
    /* the NTO's rate constant: the charge-transfer arc */
    {"anode.rate_constant", "m/s", 1.11e-11, 1e-14, 1e-8},
    /* the EG cover: NIMC-C at 0.2 mA/cm2 */
    {"cover.porosity", "1", 0.0434, 0.005, 0.5},
};
#define NP (sizeof params / sizeof params[0])

/* Value of parameter k at fit coordinate u, and back. */
static double to_value(size_t k, double u) {
  double l = log(params[k].lo), h = log(params[k].hi);
  return exp(l + (h - l) / (1.0 + exp(-u)));
}
static double to_coord(size_t k, double v) {
  double l = log(params[k].lo), h = log(params[k].hi);
  double w = (log(v) - l) / (h - l);
  return log(w / (1.0 - w));
}

/* A target: a row of the paper's table (app/paper.h, shared with
 * `nimc reproduce`): a GCD capacitance, or a resistance of the impedance
 * spectrum fitted with the paper's circuit. */
typedef struct target {
  const char *what;
  int covered;
  double j_mA_cm2; /* GCD current density; 0 for the impedance rows */
  quantity_kind kind;
  double paper;
} target;

/* The paper rows fitted: the calibration rows of app/paper.h of a kind
 * simulated here (paper_is_fitted), in its order: the 25 C uncovered rate
 * table, its ESR and charge-transfer resistance, and ONE covered value for
 * the cover (the covered charge-transfer resistance is then a prediction).
 * `nimc reproduce` prints the same rows as its calibration table. */
static target targets[NPAPER_VALUES];
static size_t ntargets;
#define NT ntargets

/* Fill targets[] from the shared table; 0, or -1 when it has none. */
static int targets_init(void) {
  ntargets = 0;
  for (size_t k = 0; k < NPAPER_VALUES; k++) {
    const struct paper_value *v = &paper_values[k];
    if (paper_is_fitted(v))
      targets[ntargets++] = (target){v->quantity, v->device == COVERED, v->J,
                                     v->kind, v->paper};
  }
  return ntargets ? 0 : -1;
}

typedef struct ctx {
  const char *devdir;
  long evals;
  long not_steady; /* target simulations not steady within max_cycles */
} ctx;

/* Load the device at path with the overrides sets[], cycle steps[] (one
 * cycle) from its initial state until steady, and read the steady cycle's
 * metrics into *mt: the measurement of `nimc reproduce`.  The status of
 * nimc_sim_run_until_steady (NIMC_NOTSTEADY with *mt filled), or of
 * whatever failed before; err says why. */
static int simulate_steady(const char *path, const char *const *sets,
                           size_t nsets, const char *const *steps,
                           size_t nsteps, nimc_metrics *mt, nimc_err *err) {
  nimc_device *dev = NULL;
  nimc_experiment *exp = NULL;
  nimc_sim *sim = NULL;
  nimc_result res;
  nimc_steady_info info;
  memset(&res, 0, sizeof res);
  memset(mt, 0, sizeof *mt);
  int rc = nimc_device_load(&dev, path, sets, nsets, err);
  if (!rc) rc = nimc_experiment_parse(&exp, steps, nsteps, err);
  if (!rc) rc = nimc_sim_create(&sim, dev, NULL, err);
  if (!rc) {
    nimc_norm norm = {nimc_device_footprint_area_m2(dev),
                      nimc_device_norm_thickness_m(dev)};
    rc = nimc_sim_run_until_steady(sim, exp, NULL, &norm, &res, &info);
    if (rc) {
      err->code = rc;
      snprintf(err->msg, sizeof err->msg, "%.200s: %.800s", path,
               nimc_sim_errmsg(sim));
    }
    if (rc >= 0) *mt = info.metrics;
  }
  nimc_result_free(&res);
  nimc_sim_destroy(sim);
  nimc_experiment_destroy(exp);
  nimc_device_destroy(dev);
  return rc;
}

/* The overrides of parameters p (fit coordinates) as "key=value unit". */
static void overrides(const double *p, char sets[][128], const char **sp) {
  for (size_t k = 0; k < NP; k++) {
    snprintf(sets[k], sizeof sets[k], "%s=%.9g %s", params[k].key,
             to_value(k, p[k]),
             strcmp(params[k].unit, "1") ? params[k].unit : "");
    sp[k] = sets[k];
  }
}

/* Simulate one GCD target with parameters p; NaN on failure. */
static double simulate(ctx *c, const target *tg, const double *p) {
  char path[1024], sets[NP][128];
  const char *sp[NP];
  snprintf(path, sizeof path, "%s/%s", c->devdir,
           tg->covered ? "nimc-covered.ini" : "nimc.ini");
  overrides(p, sets, sp);
  char s1[96], s2[96];
  snprintf(s1, sizeof s1, "Charge at %g mA/cm2 until 3.5 V", tg->j_mA_cm2);
  snprintf(s2, sizeof s2, "Discharge at %g mA/cm2 until 0 V", tg->j_mA_cm2);
  /* cycled from the initial state until steady, as `nimc reproduce` */
  const char *steps[2] = {s1, s2};
  nimc_err err;
  nimc_metrics mt;
  double out = NAN;
  int rc = simulate_steady(path, sp, NP, steps, 2, &mt, &err);
  if (rc)
    fprintf(stderr, "nimc-calibrate: %s%s: %s\n",
            rc == NIMC_NOTSTEADY ? "warning: " : "", s1, err.msg);
  if (rc == NIMC_NOTSTEADY) c->not_steady++;
  if (rc >= 0 && mt.have_discharge) out = mt.capacitance_volumetric_F_cm3;
  return out;
}

/* The impedance of the uncovered (or covered) device at rest in its
 * initial state, 100 kHz to 10 mHz, fitted with the paper's circuit as
 * `nimc reproduce` and `nimc eis` do: *r_ohmic the high-frequency
 * intercept, *r_ct the charge-transfer arc.  0, or -1 (both NaN). */
static int impedance(ctx *c, int covered, const double *p, double *r_ohmic,
                     double *r_ct) {
  char path[1024], sets[NP][128];
  const char *sp[NP];
  snprintf(path, sizeof path, "%s/%s", c->devdir,
           covered ? "nimc-covered.ini" : "nimc.ini");
  overrides(p, sets, sp);
  *r_ohmic = *r_ct = NAN;
  nimc_device *dev = NULL;
  nimc_sim *sim = NULL;
  nimc_circuit *circ = NULL;
  nimc_fit fit;
  memset(&fit, 0, sizeof fit);
  nimc_spectrum s;
  memset(&s, 0, sizeof s);
  double *f = NULL;
  size_t n = 0;
  nimc_err err;
  const char *why = NULL;
  if (nimc_device_load(&dev, path, sp, NP, &err) ||
      nimc_freq_logspace(PAPER_EIS_FROM_HZ, PAPER_EIS_TO_HZ,
                         PAPER_EIS_PER_DECADE, &f, &n, &err) ||
      nimc_sim_create(&sim, dev, NULL, &err))
    why = err.msg;
  else if (nimc_sim_at_rest(sim) || nimc_sim_impedance(sim, f, n, &s, NULL))
    why = nimc_sim_errmsg(sim);
  if (!why) {
    *r_ohmic = nimc_spectrum_r_ohmic(&s);
    nimc_fit_opts o = nimc_fit_opts_default();
    o.global = 1;
    o.seed = 1;
    if (nimc_circuit_parse(&circ, PAPER_EIS_CIRCUIT, &err) ||
        nimc_circuit_fit(circ, &s, &o, &fit, &err)) {
      why = err.msg;
    } else {
      int k = nimc_circuit_rct_index(circ);
      if (k >= 0) *r_ct = fit.p[k];
    }
  }
  if (why) fprintf(stderr, "nimc-calibrate: impedance: %s\n", why);
  nimc_fit_free(&fit);
  nimc_circuit_destroy(circ);
  nimc_spectrum_free(&s);
  free(f);
  nimc_sim_destroy(sim);
  nimc_device_destroy(dev);
  return why ? -1 : 0;
}

/* Model values of all targets at log-parameters p. */
static void model_values(ctx *c, const double *p, double *m) {
  double ro[2] = {NAN, NAN}, rc[2] = {NAN, NAN};
  int have[2] = {0, 0};
  for (size_t k = 0; k < NT; k++) {
    const target *t = &targets[k];
    if (t->kind == Q_VOLUMETRIC) {
      m[k] = simulate(c, t, p);
      continue;
    }
    if (!have[t->covered]) {
      impedance(c, t->covered, p, &ro[t->covered], &rc[t->covered]);
      have[t->covered] = 1;
    }
    m[k] = t->kind == Q_R_OHMIC ? ro[t->covered] : rc[t->covered];
  }
  c->evals++;
}

/* Residuals: relative errors; a failed simulation counts as -100 %. */
static int residuals(const gsl_vector *x, void *user, gsl_vector *f) {
  ctx *c = user;
  double p[NP], m[NPAPER_VALUES];
  for (size_t k = 0; k < NP; k++)
    p[k] = gsl_vector_get(x, k);
  model_values(c, p, m);
  for (size_t k = 0; k < NT; k++) {
    double r = isfinite(m[k]) ? m[k] / targets[k].paper - 1.0 : -1.0;
    gsl_vector_set(f, k, r);
  }
  fprintf(stderr, "  eval %ld:", c->evals);
  for (size_t k = 0; k < NP; k++)
    fprintf(stderr, " %.4g", to_value(k, p[k]));
  fprintf(stderr, " -> |r| = %.4g\n", gsl_blas_dnrm2(f));
  return GSL_SUCCESS;
}

/* Sum of squared residuals, for the simplex search. */
static double sumsq(const gsl_vector *x, void *user) {
  gsl_vector *f = gsl_vector_alloc(NT);
  residuals(x, user, f);
  double r = gsl_blas_dnrm2(f);
  gsl_vector_free(f);
  return r * r;
}

/* Nelder-Mead on the sum of squares, from x (updated in place): robust
 * where salt depletion makes the residuals jump, which a gradient method
 * cannot cross. */
static void simplex_search(gsl_vector *x, ctx *c, int iters) {
  gsl_multimin_function fn = {sumsq, NP, c};
  gsl_vector *step = gsl_vector_alloc(NP);
  gsl_vector_set_all(step, 0.5);
  gsl_multimin_fminimizer *m =
      gsl_multimin_fminimizer_alloc(gsl_multimin_fminimizer_nmsimplex2, NP);
  gsl_multimin_fminimizer_set(m, &fn, x, step);
  for (int it = 0; it < iters; it++) {
    if (gsl_multimin_fminimizer_iterate(m)) break;
    if (gsl_multimin_test_size(gsl_multimin_fminimizer_size(m), 1e-3) ==
        GSL_SUCCESS)
      break;
  }
  gsl_vector_memcpy(x, gsl_multimin_fminimizer_x(m));
  gsl_multimin_fminimizer_free(m);
  gsl_vector_free(step);
}

int main(int argc, char **argv) {
  ctx c = {"devices", 0, 0};
  const char *outfile = NULL;
  int max_iter = 30, simplex = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--devices") && i + 1 < argc) {
      c.devdir = argv[++i];
    } else if (!strcmp(argv[i], "-o") && i + 1 < argc) {
      outfile = argv[++i];
    } else if (!strcmp(argv[i], "--simplex") && i + 1 < argc) {
      simplex = atoi(argv[++i]);
    } else if (!strcmp(argv[i], "--max-iter") && i + 1 < argc) {
      max_iter = atoi(argv[++i]);
    } else if (!strcmp(argv[i], "--start") && i + 1 < argc) {
      char *eq = strchr(argv[++i], '=');
      size_t k = 0;
      for (; eq && k < NP; k++)
        if (strlen(params[k].key) == (size_t)(eq - argv[i]) &&
            !strncmp(argv[i], params[k].key, (size_t)(eq - argv[i])))
          break;
      if (!eq || k == NP) {
        fprintf(stderr,
                "nimc-calibrate: --start '%s': expected KEY=VALUE with a "
                "fitted key\n",
                argv[i]);
        return 2;
      }
      params[k].start = atof(eq + 1);
    } else {
      fprintf(stderr, "usage: nimc-calibrate [--devices DIR] [-o FILE] "
                      "[--simplex N] [--max-iter N] [--start KEY=VALUE]\n");
      return 2;
    }
  }
  if (targets_init()) {
    fprintf(stderr, "nimc-calibrate: app/paper.h lacks a fitted row\n");
    return 1;
  }
  gsl_set_error_handler_off();
  gsl_multifit_nlinear_parameters fp =
      gsl_multifit_nlinear_default_parameters();
  fp.h_df = 0.02; /* forward-difference step in the fit coordinates */
  gsl_multifit_nlinear_workspace *w =
      gsl_multifit_nlinear_alloc(gsl_multifit_nlinear_trust, &fp, NT, NP);
  gsl_multifit_nlinear_fdf fdf = {residuals, NULL, NULL, NT, NP, &c, 0, 0, 0};
  gsl_vector *x = gsl_vector_alloc(NP);
  for (size_t k = 0; k < NP; k++)
    gsl_vector_set(x, k, to_coord(k, params[k].start));
  if (simplex > 0) simplex_search(x, &c, simplex);
  gsl_multifit_nlinear_init(x, &fdf, w);
  int info = 0;
  int status = gsl_multifit_nlinear_driver((size_t)max_iter, 1e-4, 1e-6, 1e-6,
                                           NULL, NULL, &info, w);
  gsl_vector *xf = gsl_multifit_nlinear_position(w);
  gsl_matrix *J = gsl_multifit_nlinear_jac(w);
  gsl_matrix *cov = gsl_matrix_alloc(NP, NP);
  gsl_multifit_nlinear_covar(J, 0.0, cov);
  double chi = gsl_blas_dnrm2(gsl_multifit_nlinear_residual(w));
  double s2 = NT > NP ? chi * chi / (double)(NT - NP) : 0.0;
  double p[NP], m[NPAPER_VALUES];
  for (size_t k = 0; k < NP; k++)
    p[k] = gsl_vector_get(xf, k);
  model_values(&c, p, m);
  printf("nimc-calibrate: %s after %zu iterations, %ld evaluations (%s)\n",
         status == GSL_SUCCESS ? "converged" : "stopped",
         gsl_multifit_nlinear_niter(w), c.evals, gsl_strerror(status));
  if (c.not_steady)
    printf("nimc-calibrate: warning: %ld target simulations were not steady "
           "within their cycle limit; their last cycle was used (see "
           "stderr)\n",
           c.not_steady);
  /* Standard errors: from the residuals when there are more targets than
   * parameters, and always for an assumed 5 % measurement error. */
  printf("\nfitted parameters (1-sigma relative errors: from the residual, %s; "
         "for 5 %% measurement errors)\n",
         NT > NP ? "available" : "none with as many targets as parameters");
  for (size_t k = 0; k < NP; k++) {
    double l = log(params[k].lo), h = log(params[k].hi);
    double sg = 1.0 / (1.0 + exp(-p[k]));
    double dlnv_du = (h - l) * sg * (1.0 - sg), ckk = gsl_matrix_get(cov, k, k);
    printf("  %-36s %12.5g %-5s  %6.1f %%  %6.1f %%   (range %g..%g)\n",
           params[k].key, to_value(k, p[k]), params[k].unit,
           100.0 * dlnv_du * sqrt(s2 * ckk), 100.0 * dlnv_du * 0.05 * sqrt(ckk),
           params[k].lo, params[k].hi);
  }
  /* identifiability: the correlation matrix of the fitted parameters
   * (from the covariance, in the fit's coordinates: a correlation near
   * +-1 means the data fix only a combination of the two) */
  printf("\ncorrelation of the fitted parameters:\n  %-36s", "");
  for (size_t k = 0; k < NP; k++)
    printf(" %8.8s", strchr(params[k].key, '.') + 1);
  printf("\n");
  for (size_t i = 0; i < NP; i++) {
    printf("  %-36s", params[i].key);
    for (size_t k = 0; k < NP; k++) {
      double cik = gsl_matrix_get(cov, i, k);
      double d = sqrt(gsl_matrix_get(cov, i, i) * gsl_matrix_get(cov, k, k));
      printf(" %8.3f", d > 0 ? cik / d : NAN);
    }
    printf("\n");
  }
  printf("\ntargets:\n");
  for (size_t k = 0; k < NT; k++)
    printf("  %-50s paper %8.4g  model %8.4g  (%+.1f %%)\n", targets[k].what,
           targets[k].paper, m[k], 100.0 * (m[k] / targets[k].paper - 1.0));
  printf("\nsensitivity d ln(target) / d ln(parameter):\n  %-50s", "");
  for (size_t k = 0; k < NP; k++)
    printf(" %10.10s", strchr(params[k].key, '.') + 1);
  printf("\n");
  for (size_t t = 0; t < NT; t++) {
    printf("  %-50s", targets[t].what);
    for (size_t k = 0; k < NP; k++) {
      double rel = m[t] / targets[t].paper;
      printf(" %10.3f",
             isfinite(rel) && rel != 0 ? gsl_matrix_get(J, t, k) / rel : NAN);
    }
    printf("\n");
  }
  if (outfile) {
    FILE *f = fopen(outfile, "w");
    if (!f) {
      perror(outfile);
      return 1;
    }
    fprintf(
        f, "# nimc-calibrate: fitted overrides (relative residual norm %.4g)\n",
        chi);
    for (size_t k = 0; k < NP; k++)
      fprintf(f, "%s=%.6g %s\n", params[k].key, to_value(k, p[k]),
              strcmp(params[k].unit, "1") ? params[k].unit : "");
    fclose(f);
  }
  gsl_matrix_free(cov);
  gsl_vector_free(x);
  gsl_multifit_nlinear_free(w);
  return status == GSL_SUCCESS ? 0 : 1;
}
