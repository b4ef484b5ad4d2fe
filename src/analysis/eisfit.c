/*
 * eisfit.c -- fitting an equivalent circuit (circuit.c) to an impedance
 * spectrum by bounded nonlinear least squares.
 *
 * Residuals.  The 2n residuals are stacked [(Re Zfit_k - Re Z_k)/s_re,k ;
 * (Im Zfit_k - Im Z_k)/s_im,k] with s = 1 (NIMC_WEIGHT_NONE), s = |Z_k| for
 * both parts (MODULUS), or s_re = |Re Z_k|, s_im = |Im Z_k| apart
 * (PROPORTIONAL), each floored at 1e-6 |Z_k| so that a part that crosses
 * zero does not get an infinite weight.  chi2 is their sum of squares.
 *
 * Bounds.  GSL's multifit_nlinear has none, so the solver works on
 * transformed unknowns u, one per free parameter (constants are left out
 * of the unknown vector): p = lo + exp(u) on [lo, inf) (so [0, inf) is
 * fitted as u = ln p), p = lo + (hi - lo)/(1 + exp(-u)) on [lo, hi].  The
 * analytic Jacobian of circuit.c goes through the chain rule dp/du.  A
 * parameter can therefore approach but never reach a bound; it counts as
 * "at a bound" (and is left out of grad_rel) when within 1e-9 of it
 * relative to the bound's size (|lo|, or hi - lo for a finite interval);
 * a lower bound of 0 on a half line is reached only by underflow.  A
 * step whose u rounds p onto a bound (exp(u) underflows, the logistic
 * saturates) or past the largest double is treated like a step where Z is
 * not finite (below): rejected, so the solver does not wander off along a
 * direction that no longer changes anything.
 *
 * Solver.  gsl_multifit_nlinear, trust region with Levenberg-Marquardt
 * steps, Moré scaling, QR, driven by gsl_multifit_nlinear_driver with the
 * caller's xtol, gtol and ftol.  GSL's gradient test reads
 * |g_j| max(u_j, 1) <= gtol max(phi, 1) with phi = |f|^2/2: an absolute
 * test when the residuals are small (an unweighted fit, in ohm, of a
 * milliohm spectrum).  So the solver sees the residuals divided by
 * 1e-6 sqrt(chi2) of the start point: phi stays above 1 unless chi2 falls
 * by 12 orders, and the test bounds the relative gradient
 * |dchi2/du_j| max(u_j, 1) / chi2.  LM accepts a step when chi2 falls,
 * which round-off hides near the minimum of a well-determined parameter
 * (there the relative gradient stalls near 1e-6); so each converged start
 * is polished by at most 5 Gauss-Newton steps (truncated SVD,
 * gsl_multifit_linear_tsvd), each kept only when it lowers the relative
 * gradient without raising chi2 by more than 1e-14 of itself.  A trial
 * step that makes Z overflow gets huge residuals (1e100) and is rejected
 * like any bad step.  The workspaces are allocated once per fit and
 * re-initialised per start; nothing allocates per iteration.
 *
 * Statistics.  After the best start, the Jacobian J of the weighted
 * residuals with respect to the free parameters p (not u) gives
 * cov = s^2 (J^T J)^-1, s^2 = chi2 / (2n - nfree), which is what scipy's
 * curve_fit reports with absolute_sigma=False (and so impedance.py).  The
 * inverse goes through the SVD of J with its columns scaled to unit norm;
 * singular values below 1e-10 of the largest are dropped, and the
 * parameters that take part in a dropped direction get NaN standard errors
 * and correlations.  grad_rel = max |p_k dchi2/dp_k| / chi2 over the free
 * parameters not at a bound proves a local minimum.
 *
 * Initial values (opts->initial NULL).  From the spectrum: a resistor in
 * series outside every p(...) gets the high-frequency intercept (shared
 * among such resistors); every other resistance (R inside p, Z0 of a
 * Warburg, the R of K, Zarc, G, Gs, TLM, TLMQ) an equal share of the spread
 * of Re Z beyond it.  The elements with a time scale are given angular
 * frequencies w_i spread log-evenly inside the measured range, from high
 * to low in string order (the usual order of arcs); then a time constant
 * is 1/w_i, a capacitance 1/(w_i |Z(w_i)|), a CPE coefficient
 * 1/(w_i^a |Z(w_i)|) with a = 0.8, a Warburg coefficient
 * |Z(w_i)| sqrt(w_i)/(2 sqrt 2); exponents start at 0.8, Gs phi at 1, an
 * inductance at max(Im Z, |Z|/100)/w at the highest frequency.  Good
 * enough for a local fit of a simple spectrum; with global it seeds the
 * multi-start search.
 *
 * Multi-start (opts->global): start 0 is the initial values; each further
 * start draws every free parameter from an mt19937 generator seeded with
 * opts->seed, log-uniformly within spread_decades of its initial value on
 * a half line, uniformly on a finite interval.  The lowest chi2 wins (the
 * first on a tie), so the same seed gives a bit-identical answer.
 */
#include <complex.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_blas.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_multifit.h>
#include <gsl/gsl_multifit_nlinear.h>
#include <gsl/gsl_rng.h>

#include "analysis/circuit.h"

#define WEIGHT_FLOOR 1e-6   /* proportional weights: s >= 1e-6 |Z| */
#define PENALTY 1e100       /* residual of a point where Z is not finite */
#define SV_CUT 1e-10        /* relative singular-value cut of the covariance */
#define NULL_MIX 1e-3       /* share in a dropped direction that marks NaN */
#define AT_BOUND 1e-9       /* relative distance that counts as at a bound */
#define RESIDUAL_SCALE 1e-6 /* residuals / (this sqrt(chi2 at the start)) */
#define POLISH_STEPS 5      /* Gauss-Newton steps after LM */
#define POLISH_CUT 1e-12    /* their relative singular-value cut */

static const double PI = 3.14159265358979323846;

/* The defaults of nimc.h: unweighted, local, 500 iterations, tolerances
 * 1e-10. */
nimc_fit_opts nimc_fit_opts_default(void) {
  nimc_fit_opts o;
  memset(&o, 0, sizeof o);
  o.weight = NIMC_WEIGHT_NONE;
  o.initial = NULL;
  o.constant = NULL;
  o.global = 0;
  o.seed = 1;
  o.starts = 50;
  o.spread_decades = 2.0;
  o.max_iter = 500;
  o.xtol = 1e-10;
  o.gtol = 1e-10;
  o.ftol = 0.0;
  return o;
}

/* Release the arrays of f and zero it (NULL-safe). */
void nimc_fit_free(nimc_fit *f) {
  if (!f) return;
  free(f->p);
  free(f->std_err);
  free(f->corr);
  free(f->z_re_fit);
  free(f->z_im_fit);
  memset(f, 0, sizeof *f);
}

/* ---- the change of variables ---- */

enum { MAP_NONE, MAP_LOWER, MAP_UPPER, MAP_BOTH };

typedef struct xform {
  int kind;
  double lo, hi;
} xform;

/* The map for bounds [lo, hi] (either may be infinite). */
static xform xform_make(double lo, double hi) {
  xform x = {MAP_NONE, lo, hi};
  if (isfinite(lo) && isfinite(hi))
    x.kind = MAP_BOTH;
  else if (isfinite(lo))
    x.kind = MAP_LOWER;
  else if (isfinite(hi))
    x.kind = MAP_UPPER;
  return x;
}

/* p(u) and dp/du. */
static double xform_p(const xform *x, double u, double *dpdu) {
  switch (x->kind) {
  case MAP_LOWER: {
    double e = exp(u);
    *dpdu = e;
    return x->lo + e;
  }
  case MAP_UPPER: {
    double e = exp(u);
    *dpdu = -e;
    return x->hi - e;
  }
  case MAP_BOTH: {
    /* logistic, written so that exp never overflows */
    double e = exp(-fabs(u));
    double sg = u >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
    *dpdu = (x->hi - x->lo) * e / ((1.0 + e) * (1.0 + e));
    return x->lo + (x->hi - x->lo) * sg;
  }
  default:
    *dpdu = 1.0;
    return u;
  }
}

/* u(p) for p strictly inside the bounds. */
static double xform_u(const xform *x, double p) {
  switch (x->kind) {
  case MAP_LOWER:
    return log(p - x->lo);
  case MAP_UPPER:
    return log(x->hi - p);
  case MAP_BOTH:
    return log((p - x->lo) / (x->hi - p));
  default:
    return p;
  }
}

/* Is p within AT_BOUND of a finite bound? */
static int at_bound(const xform *x, double p) {
  double scale_lo = fabs(x->lo), scale_hi = fabs(x->hi);
  if (x->kind == MAP_BOTH) scale_lo = scale_hi = x->hi - x->lo;
  if (isfinite(x->lo) && p - x->lo <= AT_BOUND * scale_lo) return 1;
  if (isfinite(x->hi) && x->hi - p <= AT_BOUND * scale_hi) return 1;
  return 0;
}

/* ---- the least-squares problem ---- */

typedef struct problem {
  const nimc_circuit *c;
  const nimc_spectrum *s;
  size_t n, np, nf;
  size_t *fi;          /* nf: parameter index of each unknown */
  xform *xf;           /* nf */
  double *p;           /* np: current parameters (constants in place) */
  double *dpdu;        /* nf */
  double *isre, *isim; /* n: 1/s_re, 1/s_im */
  double *zr, *zi;     /* n: model */
  double *dre, *dim;   /* n x np: model derivatives */
  double complex *ws;
  double *r;     /* 2n: residuals */
  double scale;  /* residuals are divided by it inside the solver */
  int saturated; /* set_params rounded a parameter onto a bound */
} problem;

/* Set pr->p from the unknowns u; pr->saturated when a map has rounded a
 * parameter onto its bound (or past the largest double). */
static void set_params(problem *pr, const double *u) {
  pr->saturated = 0;
  for (size_t j = 0; j < pr->nf; j++) {
    double v = xform_p(&pr->xf[j], u[j], &pr->dpdu[j]);
    if (!(v > pr->xf[j].lo && v < pr->xf[j].hi) || !(pr->dpdu[j] != 0.0))
      pr->saturated = 1;
    pr->p[pr->fi[j]] = v;
  }
}

/* Weighted residuals at pr->p into r (2n); chi2 or +inf when Z is not
 * finite.  deriv: also the model derivatives. */
static double residuals(problem *pr, double *r, int deriv) {
  if (pr->saturated) return HUGE_VAL;
  int rc = nimc_circuit_eval_ws(pr->c, pr->p, pr->s->freq_Hz, pr->n, pr->zr,
                                pr->zi, deriv ? pr->dre : NULL,
                                deriv ? pr->dim : NULL, pr->ws);
  if (rc) return HUGE_VAL;
  double chi2 = 0.0;
  for (size_t k = 0; k < pr->n; k++) {
    double a = (pr->zr[k] - pr->s->z_re_ohm[k]) * pr->isre[k];
    double b = (pr->zi[k] - pr->s->z_im_ohm[k]) * pr->isim[k];
    if (r) {
      r[k] = a;
      r[pr->n + k] = b;
    }
    chi2 += a * a + b * b;
  }
  return isfinite(chi2) ? chi2 : HUGE_VAL;
}

/* GSL callback: scaled residuals f(u). */
static int cb_f(const gsl_vector *x, void *params, gsl_vector *f) {
  problem *pr = params;
  set_params(pr, x->data);
  double chi2 = residuals(pr, NULL, 0);
  for (size_t k = 0; k < pr->n; k++) {
    double a, b;
    if (chi2 < HUGE_VAL) {
      a = (pr->zr[k] - pr->s->z_re_ohm[k]) * pr->isre[k] / pr->scale;
      b = (pr->zi[k] - pr->s->z_im_ohm[k]) * pr->isim[k] / pr->scale;
    } else {
      a = b = PENALTY;
    }
    gsl_vector_set(f, k, a);
    gsl_vector_set(f, pr->n + k, b);
  }
  return GSL_SUCCESS;
}

/* GSL callback: Jacobian of the scaled residuals in u. */
static int cb_df(const gsl_vector *x, void *params, gsl_matrix *J) {
  problem *pr = params;
  set_params(pr, x->data);
  double chi2 = residuals(pr, NULL, 1);
  for (size_t k = 0; k < pr->n; k++) {
    for (size_t j = 0; j < pr->nf; j++) {
      size_t q = pr->fi[j];
      double g = pr->dpdu[j] / pr->scale;
      double a =
          chi2 < HUGE_VAL ? pr->dre[k * pr->np + q] * pr->isre[k] * g : 0;
      double b =
          chi2 < HUGE_VAL ? pr->dim[k * pr->np + q] * pr->isim[k] * g : 0;
      gsl_matrix_set(J, k, j, a);
      gsl_matrix_set(J, pr->n + k, j, b);
    }
  }
  return chi2 < HUGE_VAL ? GSL_SUCCESS : GSL_EDOM;
}

/* chi2 at unknowns u (unscaled). */
static double chi2_at(problem *pr, const double *u) {
  set_params(pr, u);
  return residuals(pr, NULL, 0);
}

typedef struct start_result {
  double chi2;
  int iterations;
  int converged;
} start_result;

/* The workspace of the Gauss-Newton polish, allocated once per fit. */
typedef struct polish_ws {
  gsl_multifit_linear_workspace *lin;
  gsl_matrix *X, *cov;
  gsl_vector *y, *step, *ut;
} polish_ws;

/* At u: residuals into pr->r, the Jacobian in u into X (when non-NULL),
 * and the relative gradient max_j |dchi2/du_j| / chi2; +inf when Z is not
 * finite. */
static double rel_gradient(problem *pr, const double *u, gsl_matrix *X,
                           double *chi2_out) {
  set_params(pr, u);
  double chi2 = residuals(pr, pr->r, 1);
  *chi2_out = chi2;
  if (!(chi2 < HUGE_VAL)) return HUGE_VAL;
  double worst = 0.0;
  for (size_t j = 0; j < pr->nf; j++) {
    size_t q = pr->fi[j];
    double g = 0.0;
    for (size_t k = 0; k < pr->n; k++) {
      double a = pr->dre[k * pr->np + q] * pr->isre[k] * pr->dpdu[j];
      double b = pr->dim[k * pr->np + q] * pr->isim[k] * pr->dpdu[j];
      if (X) {
        gsl_matrix_set(X, k, j, a);
        gsl_matrix_set(X, pr->n + k, j, b);
      }
      g += 2.0 * (pr->r[k] * a + pr->r[pr->n + k] * b);
    }
    if (chi2 > 0.0) worst = fmax(worst, fabs(g) / chi2);
  }
  return isfinite(worst) ? worst : HUGE_VAL;
}

/* Gauss-Newton steps from u (in place) while they lower the relative
 * gradient without raising chi2 beyond round-off, at most POLISH_STEPS,
 * until it is below gtol.  LM accepts a step by the fall of chi2, which
 * round-off hides within ~1e-6 (relative gradient) of the minimum of a
 * well-determined parameter; the gradient itself is accurate far below. */
static void polish(problem *pr, polish_ws *pw, gsl_vector *u, double gtol) {
  for (int it = 0; it < POLISH_STEPS; it++) {
    double chi2, chi2t, rank_chi2;
    double g = rel_gradient(pr, u->data, pw->X, &chi2);
    if (!(g < HUGE_VAL) || g <= gtol || chi2 == 0.0) return;
    for (size_t i = 0; i < 2 * pr->n; i++)
      gsl_vector_set(pw->y, i, -pr->r[i]);
    size_t rank;
    if (gsl_multifit_linear_tsvd(pw->X, pw->y, POLISH_CUT, pw->step, pw->cov,
                                 &rank_chi2, &rank, pw->lin) != GSL_SUCCESS)
      return;
    gsl_vector_memcpy(pw->ut, u);
    gsl_vector_add(pw->ut, pw->step);
    double gt = rel_gradient(pr, pw->ut->data, NULL, &chi2t);
    if (!(chi2t <= chi2 * (1.0 + 1e-14)) || !(gt < g)) return;
    gsl_vector_memcpy(u, pw->ut);
  }
}

/* Fit from u (in place): one driver pass, then the polish.  The residuals
 * are divided by 1e-6 sqrt(chi2(u)), so phi = |f|^2/2 stays above 1 unless
 * chi2 falls by 12 orders, and GSL's test |g_j| max(u_j, 1) <= gtol
 * max(phi, 1) bounds the relative gradient. */
static start_result fit_start(problem *pr, gsl_multifit_nlinear_workspace *w,
                              gsl_multifit_nlinear_fdf *fdf, polish_ws *pw,
                              gsl_vector *u, const nimc_fit_opts *o) {
  start_result res = {HUGE_VAL, 0, 0};
  double c0 = chi2_at(pr, u->data);
  if (!(c0 < HUGE_VAL)) return res;
  pr->scale = c0 > 0.0 ? RESIDUAL_SCALE * sqrt(c0) : 1.0;
  if (gsl_multifit_nlinear_init(u, fdf, w) != GSL_SUCCESS) return res;
  int info = 0;
  int st = gsl_multifit_nlinear_driver((size_t)o->max_iter, o->xtol, o->gtol,
                                       o->ftol, NULL, NULL, &info, w);
  res.iterations = (int)gsl_multifit_nlinear_niter(w);
  res.converged = st == GSL_SUCCESS;
  gsl_vector_memcpy(u, gsl_multifit_nlinear_position(w));
  if (res.converged) polish(pr, pw, u, o->gtol);
  res.chi2 = chi2_at(pr, u->data);
  if (!isfinite(res.chi2)) res.chi2 = HUGE_VAL;
  return res;
}

/* ---- checks and initial values ---- */

/* Validate the data; fill the inverse weights. */
static int check_data(problem *pr, nimc_weight weight, nimc_err *err) {
  const nimc_spectrum *s = pr->s;
  for (size_t k = 0; k < s->n; k++) {
    double f = s->freq_Hz[k], re = s->z_re_ohm[k], im = s->z_im_ohm[k];
    if (!(isfinite(f) && f > 0.0))
      return nimc_err_set(err, NIMC_EINPUT,
                          "fit: point %zu: frequency %g Hz is not finite and "
                          "positive",
                          k + 1, f);
    if (!isfinite(re) || !isfinite(im))
      return nimc_err_set(err, NIMC_EINPUT,
                          "fit: point %zu (%g Hz): impedance %g %+g j ohm is "
                          "not finite",
                          k + 1, f, re, im);
    double m = hypot(re, im), sr = 1.0, si = 1.0;
    if (weight == NIMC_WEIGHT_MODULUS) {
      sr = si = m;
    } else if (weight == NIMC_WEIGHT_PROPORTIONAL) {
      sr = fmax(fabs(re), WEIGHT_FLOOR * m);
      si = fmax(fabs(im), WEIGHT_FLOOR * m);
    }
    if (!(sr > 0.0 && si > 0.0))
      return nimc_err_set(err, NIMC_EINPUT,
                          "fit: point %zu (%g Hz): |Z| = 0 cannot be weighted "
                          "by the modulus or by the parts",
                          k + 1, f);
    pr->isre[k] = 1.0 / sr;
    pr->isim[k] = 1.0 / si;
  }
  return NIMC_OK;
}

/* Index of the data point whose frequency is nearest w (rad/s) in log. */
static size_t nearest(const nimc_spectrum *s, double w) {
  size_t best = 0;
  double bd = HUGE_VAL, lf = log(w / (2.0 * PI));
  for (size_t k = 0; k < s->n; k++) {
    double d = fabs(log(s->freq_Hz[k]) - lf);
    if (d < bd) {
      bd = d;
      best = k;
    }
  }
  return best;
}

/* Automatic initial values from the spectrum (the heuristic of the essay). */
static void guess_initial(const nimc_circuit *c, const nimc_spectrum *s,
                          double *p) {
  size_t np = nimc_circuit_nparams(c), ihi = 0, ilo = 0;
  double zmax = 0.0, remax = -HUGE_VAL;
  for (size_t k = 0; k < s->n; k++) {
    if (s->freq_Hz[k] > s->freq_Hz[ihi]) ihi = k;
    if (s->freq_Hz[k] < s->freq_Hz[ilo]) ilo = k;
    zmax = fmax(zmax, hypot(s->z_re_ohm[k], s->z_im_ohm[k]));
    remax = fmax(remax, s->z_re_ohm[k]);
  }
  if (!(zmax > 0.0)) zmax = 1.0;
  double rhf = nimc_spectrum_r_ohmic(s);
  if (!(rhf > 1e-3 * zmax)) rhf = 1e-2 * zmax;
  double spread = fmax(remax - rhf, 0.1 * zmax);
  double whi = 2.0 * PI * s->freq_Hz[ihi], wlo = 2.0 * PI * s->freq_Hz[ilo];
  if (!(whi > wlo)) wlo = whi / 10.0; /* one point: a decade below it */
  size_t ntop = 0, nother = 0, ntime = 0;
  int last = -1;
  for (size_t k = 0; k < np; k++) {
    nimc_param_info in = nimc_circuit_param_info(c, k);
    if (in.role == NIMC_ROLE_R) {
      if (!in.has_time && !in.in_parallel)
        ntop++;
      else
        nother++;
    }
    if (in.has_time && in.elem != last) ntime++;
    last = in.elem;
  }
  size_t t = 0;
  last = -1;
  double we = whi, ze = zmax;
  for (size_t k = 0; k < np; k++) {
    nimc_param_info in = nimc_circuit_param_info(c, k);
    if (in.has_time && in.elem != last) {
      we = whi * pow(wlo / whi, (double)(t + 1) / (double)(ntime + 1));
      size_t i = nearest(s, we);
      ze = hypot(s->z_re_ohm[i], s->z_im_ohm[i]);
      if (!(ze > 0.0)) ze = zmax;
      t++;
    }
    last = in.elem;
    double zhi = fmax(hypot(s->z_re_ohm[ihi], s->z_im_ohm[ihi]), 1e-3 * zmax);
    switch (in.role) {
    case NIMC_ROLE_R:
      p[k] = !in.has_time && !in.in_parallel ? rhf / (double)ntop
                                             : spread / (double)nother;
      break;
    case NIMC_ROLE_C:
      p[k] = 1.0 / (we * ze);
      break;
    case NIMC_ROLE_Q:
      p[k] = 1.0 / (pow(we, 0.8) * ze);
      break;
    case NIMC_ROLE_L:
      p[k] = fmax(s->z_im_ohm[ihi], 0.01 * zhi) / whi;
      break;
    case NIMC_ROLE_LA:
      p[k] = 0.01 * zhi / pow(whi, 0.8);
      break;
    case NIMC_ROLE_EXP:
      p[k] = 0.8;
      break;
    case NIMC_ROLE_TAU:
      p[k] = 1.0 / we;
      break;
    case NIMC_ROLE_AW:
      p[k] = ze * sqrt(we) / (2.0 * sqrt(2.0));
      break;
    case NIMC_ROLE_RATIO:
      p[k] = 1.0;
      break;
    }
  }
}

/* Write "inf" or the number, for bound messages. */
static const char *num(double v, char buf[32]) {
  if (isinf(v))
    snprintf(buf, 32, v > 0 ? "inf" : "-inf");
  else
    snprintf(buf, 32, "%g", v);
  return buf;
}

/* Check the options, the initial values against the bounds. */
static int check_start(const nimc_circuit *c, const nimc_fit_opts *o,
                       const double *p, nimc_err *err) {
  if (o->max_iter < 1)
    return nimc_err_set(err, NIMC_EINPUT,
                        "fit: max_iter must be >= 1, found %d", o->max_iter);
  if (!(o->xtol >= 0 && o->gtol >= 0 && o->ftol >= 0 && isfinite(o->xtol) &&
        isfinite(o->gtol) && isfinite(o->ftol)))
    return nimc_err_set(err, NIMC_EINPUT,
                        "fit: tolerances must be finite and >= 0 (xtol %g, "
                        "gtol %g, ftol %g)",
                        o->xtol, o->gtol, o->ftol);
  if (o->global && o->starts < 1)
    return nimc_err_set(err, NIMC_EINPUT, "fit: starts must be >= 1, found %d",
                        o->starts);
  if (o->global && !(o->spread_decades > 0 && o->spread_decades < 300))
    return nimc_err_set(err, NIMC_EINPUT,
                        "fit: spread_decades must be in (0, 300), found %g",
                        o->spread_decades);
  for (size_t k = 0; k < nimc_circuit_nparams(c); k++) {
    double lo, hi, v = p[k];
    char a[32], b[32];
    nimc_circuit_param_bounds(c, k, &lo, &hi);
    const char *name = nimc_circuit_param_name(c, k);
    int fixed = o->constant && o->constant[k];
    if (!isfinite(v) || v < lo || v > hi)
      return nimc_err_set(err, NIMC_EINPUT,
                          "fit: initial value of %s = %g is outside [%s, %s]",
                          name, v, num(lo, a), num(hi, b));
    if (!fixed && (v == lo || v == hi))
      return nimc_err_set(err, NIMC_EINPUT,
                          "fit: initial value of %s = %g is on a bound of "
                          "[%s, %s]; a fitted parameter must start strictly "
                          "inside",
                          name, v, num(lo, a), num(hi, b));
  }
  return NIMC_OK;
}

/* ---- statistics of the result ---- */

/* std_err, corr and grad_rel of out from the Jacobian in p at the fit. */
static int statistics(problem *pr, double chi2, const double *r,
                      nimc_fit *out) {
  size_t n2 = 2 * pr->n, nf = pr->nf, np = pr->np;
  for (size_t i = 0; i < np * np; i++)
    out->corr[i] = NAN;
  for (size_t k = 0; k < np; k++)
    out->std_err[k] = NAN;
  out->grad_rel = 0.0;
  if (nf == 0) return NIMC_OK;
  gsl_matrix *A = gsl_matrix_alloc(n2, nf), *V = gsl_matrix_alloc(nf, nf);
  gsl_vector *S = gsl_vector_alloc(nf), *work = gsl_vector_alloc(nf);
  double *d = malloc(nf * sizeof *d), *cov = malloc(nf * nf * sizeof *cov);
  int *bad = calloc(nf, sizeof *bad);
  int rc = NIMC_ENOMEM;
  if (!A || !V || !S || !work || !d || !cov || !bad) goto done;
  /* J in p, the gradient of chi2 and grad_rel */
  for (size_t j = 0; j < nf; j++) {
    size_t q = pr->fi[j];
    double g = 0.0, nrm = 0.0;
    for (size_t k = 0; k < pr->n; k++) {
      double a = pr->dre[k * np + q] * pr->isre[k];
      double b = pr->dim[k * np + q] * pr->isim[k];
      gsl_matrix_set(A, k, j, a);
      gsl_matrix_set(A, pr->n + k, j, b);
      g += 2.0 * (r[k] * a + r[pr->n + k] * b);
      nrm += a * a + b * b;
    }
    d[j] = nrm > 0.0 ? sqrt(nrm) : 1.0;
    if (!at_bound(&pr->xf[j], pr->p[q]) && chi2 > 0.0)
      out->grad_rel = fmax(out->grad_rel, fabs(pr->p[q] * g) / chi2);
  }
  /* SVD of J with unit columns: cov = s^2 D^-1 V S^-2 V^T D^-1 */
  for (size_t j = 0; j < nf; j++) {
    gsl_vector_view col = gsl_matrix_column(A, j);
    gsl_vector_scale(&col.vector, 1.0 / d[j]);
  }
  if (gsl_linalg_SV_decomp(A, V, S, work) != GSL_SUCCESS) {
    rc = NIMC_OK; /* leave everything NaN */
    goto done;
  }
  double smax = gsl_vector_get(S, 0), s2 = chi2 / (double)(n2 - nf);
  for (size_t m = 0; m < nf; m++) {
    if (gsl_vector_get(S, m) > SV_CUT * smax) continue;
    for (size_t j = 0; j < nf; j++)
      if (fabs(gsl_matrix_get(V, j, m)) > NULL_MIX) bad[j] = 1;
  }
  for (size_t i = 0; i < nf; i++)
    for (size_t j = 0; j < nf; j++) {
      double sum = 0.0;
      for (size_t m = 0; m < nf; m++) {
        double sv = gsl_vector_get(S, m);
        if (sv <= SV_CUT * smax) continue;
        sum += gsl_matrix_get(V, i, m) * gsl_matrix_get(V, j, m) / (sv * sv);
      }
      cov[i * nf + j] = s2 * sum / (d[i] * d[j]);
    }
  for (size_t i = 0; i < nf; i++) {
    if (bad[i]) continue;
    out->std_err[pr->fi[i]] = sqrt(cov[i * nf + i]);
    for (size_t j = 0; j < nf; j++) {
      if (bad[j]) continue;
      out->corr[pr->fi[i] * np + pr->fi[j]] =
          i == j ? 1.0
                 : cov[i * nf + j] / sqrt(cov[i * nf + i] * cov[j * nf + j]);
    }
  }
  rc = NIMC_OK;
done:
  gsl_matrix_free(A);
  gsl_matrix_free(V);
  gsl_vector_free(S);
  gsl_vector_free(work);
  free(d);
  free(cov);
  free(bad);
  return rc;
}

/* Fill out at the parameters pr->p: the model, chi2, rmse, statistics. */
static int finish(problem *pr, nimc_fit *out, double *r) {
  double chi2 = residuals(pr, r, 1);
  if (!(chi2 < HUGE_VAL)) return NIMC_EANALYSIS;
  memcpy(out->p, pr->p, pr->np * sizeof *pr->p);
  double se = 0.0;
  for (size_t k = 0; k < pr->n; k++) {
    out->z_re_fit[k] = pr->zr[k];
    out->z_im_fit[k] = pr->zi[k];
    double a = pr->zr[k] - pr->s->z_re_ohm[k],
           b = pr->zi[k] - pr->s->z_im_ohm[k];
    se += a * a + b * b;
  }
  out->chi2 = chi2;
  out->rmse_ohm = sqrt(se / (double)pr->n);
  return statistics(pr, chi2, r, out);
}

/* ---- the fit ---- */

/* Allocate the problem's arrays and out's; NIMC_ENOMEM. */
static int problem_alloc(problem *pr, nimc_fit *out) {
  size_t n = pr->n, np = pr->np, m = np ? np : 1;
  pr->fi = malloc(m * sizeof *pr->fi);
  pr->xf = malloc(m * sizeof *pr->xf);
  pr->p = malloc(m * sizeof *pr->p);
  pr->dpdu = malloc(m * sizeof *pr->dpdu);
  pr->isre = malloc(n * sizeof *pr->isre);
  pr->isim = malloc(n * sizeof *pr->isim);
  pr->zr = malloc(n * sizeof *pr->zr);
  pr->zi = malloc(n * sizeof *pr->zi);
  pr->dre = malloc(n * m * sizeof *pr->dre);
  pr->dim = malloc(n * m * sizeof *pr->dim);
  pr->ws = malloc(nimc_circuit_ws_len(pr->c) * sizeof *pr->ws);
  pr->r = malloc(2 * n * sizeof *pr->r);
  out->p = calloc(m, sizeof *out->p);
  out->std_err = calloc(m, sizeof *out->std_err);
  out->corr = calloc(m * m, sizeof *out->corr);
  out->z_re_fit = calloc(n, sizeof *out->z_re_fit);
  out->z_im_fit = calloc(n, sizeof *out->z_im_fit);
  if (!pr->fi || !pr->xf || !pr->p || !pr->dpdu || !pr->isre || !pr->isim ||
      !pr->zr || !pr->zi || !pr->dre || !pr->dim || !pr->ws || !pr->r ||
      !out->p || !out->std_err || !out->corr || !out->z_re_fit ||
      !out->z_im_fit)
    return NIMC_ENOMEM;
  return NIMC_OK;
}

/* Release the problem's arrays. */
static void problem_free(problem *pr) {
  free(pr->fi);
  free(pr->xf);
  free(pr->p);
  free(pr->dpdu);
  free(pr->isre);
  free(pr->isim);
  free(pr->zr);
  free(pr->zi);
  free(pr->dre);
  free(pr->dim);
  free(pr->ws);
  free(pr->r);
}

/* Release the polish workspace (any part may be NULL). */
static void polish_free(polish_ws *pw) {
  if (pw->lin) gsl_multifit_linear_free(pw->lin);
  gsl_matrix_free(pw->X);
  gsl_matrix_free(pw->cov);
  gsl_vector_free(pw->y);
  gsl_vector_free(pw->step);
  gsl_vector_free(pw->ut);
}

/* Draw the unknowns u of a further start around the initial values p0
 * (see the essay). */
static void draw_start(const problem *pr, gsl_rng *rng, const double *p0,
                       double spread, double *u) {
  for (size_t j = 0; j < pr->nf; j++) {
    const xform *x = &pr->xf[j];
    double v = gsl_rng_uniform_pos(rng), p;
    if (x->kind == MAP_BOTH) {
      p = x->lo + (x->hi - x->lo) * v;
    } else {
      double f = pow(10.0, spread * (2.0 * v - 1.0));
      double base = p0[pr->fi[j]];
      if (x->kind == MAP_LOWER)
        p = x->lo + (base - x->lo) * f;
      else if (x->kind == MAP_UPPER)
        p = x->hi - (x->hi - base) * f;
      else
        p = base * f;
    }
    u[j] = xform_u(x, p);
  }
}

/* Fit c to s (the contract is in nimc.h): validate, pick the initial
 * values, run every start, keep the best, then the statistics. */
int nimc_circuit_fit(const nimc_circuit *c, const nimc_spectrum *s,
                     const nimc_fit_opts *opts, nimc_fit *out, nimc_err *err) {
  if (out) memset(out, 0, sizeof *out);
  if (!c || !s || !out)
    return nimc_err_set(err, NIMC_EMISUSE,
                        "fit: circuit, spectrum or result "
                        "is NULL");
  gsl_set_error_handler_off();
  nimc_fit_opts o = opts ? *opts : nimc_fit_opts_default();
  problem pr;
  memset(&pr, 0, sizeof pr);
  pr.c = c;
  pr.s = s;
  pr.n = s->n;
  pr.np = nimc_circuit_nparams(c);
  gsl_multifit_nlinear_workspace *w = NULL;
  gsl_vector *u = NULL, *ubest = NULL;
  gsl_rng *rng = NULL;
  polish_ws pw;
  memset(&pw, 0, sizeof pw);
  double *r = NULL, *p0 = NULL;
  int rc;
  if (s->n == 0 || !s->freq_Hz || !s->z_re_ohm || !s->z_im_ohm) {
    rc = nimc_err_set(err, NIMC_EINPUT, "fit: the spectrum has no points");
    goto fail;
  }
  if (o.constant && !o.initial) {
    for (size_t k = 0; k < pr.np; k++)
      if (o.constant[k]) {
        rc = nimc_err_set(err, NIMC_EINPUT,
                          "fit: %s is held constant, so initial values must "
                          "be given",
                          nimc_circuit_param_name(c, k));
        goto fail;
      }
  }
  if (problem_alloc(&pr, out) != NIMC_OK) goto nomem;
  r = malloc(2 * pr.n * sizeof *r);
  p0 = malloc((pr.np ? pr.np : 1) * sizeof *p0);
  if (!r || !p0) goto nomem;
  for (size_t k = 0; k < pr.np; k++) {
    double lo, hi;
    nimc_circuit_param_bounds(c, k, &lo, &hi);
    if (!(o.constant && o.constant[k])) {
      pr.xf[pr.nf] = xform_make(lo, hi);
      pr.fi[pr.nf++] = k;
    }
  }
  if (2 * pr.n < pr.nf + 1) {
    rc = nimc_err_set(err, NIMC_EINPUT,
                      "fit: too few points: %zu frequencies give %zu "
                      "residuals for %zu free parameters (need at least %zu "
                      "frequencies)",
                      pr.n, 2 * pr.n, pr.nf, (pr.nf + 2) / 2);
    goto fail;
  }
  if (o.weight != NIMC_WEIGHT_NONE && o.weight != NIMC_WEIGHT_MODULUS &&
      o.weight != NIMC_WEIGHT_PROPORTIONAL) {
    rc = nimc_err_set(err, NIMC_EINPUT, "fit: unknown weighting %d",
                      (int)o.weight);
    goto fail;
  }
  rc = check_data(&pr, o.weight, err);
  if (rc) goto fail;
  if (o.initial)
    memcpy(p0, o.initial, pr.np * sizeof *p0);
  else
    guess_initial(c, s, p0);
  rc = check_start(c, &o, p0, err);
  if (rc) goto fail;
  memcpy(pr.p, p0, pr.np * sizeof *p0);
  out->np = pr.np;
  out->n = pr.n;

  double best = HUGE_VAL;
  int best_iter = 0, best_conv = 0, nstarts = o.global ? o.starts : 1;
  if (pr.nf > 0) {
    gsl_multifit_nlinear_parameters fp =
        gsl_multifit_nlinear_default_parameters();
    fp.trs = gsl_multifit_nlinear_trs_lm;
    gsl_multifit_nlinear_fdf fdf;
    memset(&fdf, 0, sizeof fdf);
    fdf.f = cb_f;
    fdf.df = cb_df;
    fdf.fvv = NULL;
    fdf.n = 2 * pr.n;
    fdf.p = pr.nf;
    fdf.params = &pr;
    w = gsl_multifit_nlinear_alloc(gsl_multifit_nlinear_trust, &fp, 2 * pr.n,
                                   pr.nf);
    u = gsl_vector_alloc(pr.nf);
    ubest = gsl_vector_alloc(pr.nf);
    rng = gsl_rng_alloc(gsl_rng_mt19937);
    pw.lin = gsl_multifit_linear_alloc(2 * pr.n, pr.nf);
    pw.X = gsl_matrix_alloc(2 * pr.n, pr.nf);
    pw.cov = gsl_matrix_alloc(pr.nf, pr.nf);
    pw.y = gsl_vector_alloc(2 * pr.n);
    pw.step = gsl_vector_alloc(pr.nf);
    pw.ut = gsl_vector_alloc(pr.nf);
    if (!w || !u || !ubest || !rng || !pw.lin || !pw.X || !pw.cov || !pw.y ||
        !pw.step || !pw.ut)
      goto nomem;
    gsl_rng_set(rng, o.seed);
    for (int st = 0; st < nstarts; st++) {
      if (st == 0)
        for (size_t j = 0; j < pr.nf; j++)
          u->data[j] = xform_u(&pr.xf[j], p0[pr.fi[j]]);
      else
        draw_start(&pr, rng, p0, o.spread_decades, u->data);
      start_result sr = fit_start(&pr, w, &fdf, &pw, u, &o);
      if (sr.chi2 < best) {
        best = sr.chi2;
        best_iter = sr.iterations;
        best_conv = sr.converged;
        gsl_vector_memcpy(ubest, u);
      }
    }
    if (!(best < HUGE_VAL)) {
      rc = nimc_err_set(err, NIMC_EANALYSIS,
                        "fit: no start gave a finite fit of %s (%d start%s): "
                        "the model is not finite at the initial values or "
                        "anywhere the solver went",
                        nimc_circuit_text(c), nstarts, nstarts == 1 ? "" : "s");
      goto fail;
    }
    set_params(&pr, ubest->data);
  } else {
    best_conv = 1; /* nothing to fit: the model at the constants */
  }
  rc = finish(&pr, out, r);
  if (rc == NIMC_EANALYSIS) {
    rc = nimc_err_set(err, NIMC_EANALYSIS,
                      "fit: the model %s is not finite at the fitted values",
                      nimc_circuit_text(c));
    goto fail;
  }
  if (rc) goto nomem;
  out->iterations = best_iter;
  out->starts = pr.nf > 0 ? nstarts : 1;
  out->converged = best_conv;
  goto done;
nomem:
  rc = nimc_err_set(err, NIMC_ENOMEM, "fit: out of memory");
fail:
  nimc_fit_free(out);
done:
  if (w) gsl_multifit_nlinear_free(w);
  gsl_vector_free(u);
  gsl_vector_free(ubest);
  gsl_rng_free(rng);
  polish_free(&pw);
  free(r);
  free(p0);
  problem_free(&pr);
  return rc;
}
