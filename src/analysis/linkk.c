/*
 * linkk.c -- the linear Kramers-Kronig test (Lin-KK) of an impedance
 * spectrum: Schoenleber, Klotz, Ivers-Tiffee, Electrochim. Acta 131 (2014)
 * 20 and 227 (2017) 127.
 *
 * A spectrum that obeys the Kramers-Kronig relations (causal, linear,
 * stable, finite at w -> 0 and w -> inf up to a series C and L) can be
 * reproduced by a chain of Voigt elements with fixed time constants.  With
 * the time constants fixed the test circuit
 *
 *   Z_KK(w) = R0 + j w L + 1/(j w C) + sum_k R_k / (1 + j w tau_k)
 *
 * is linear in (R0, L, 1/C, R_1..R_M), so one real linear least-squares
 * problem answers it: a row for Re Z and a row for Im Z at each point, both
 * weighted by 1/|Z_k| (so every point counts by its relative error), solved
 * by GSL's SVD (gsl_multifit_linear), which also copes with the near
 * collinearity of many RC columns.  The capacitance is carried as 1/C so it
 * stays linear.  Columns are scaled to order one (L by w_max, 1/C by
 * 1/w_min) before the solve; the scale is undone on the coefficients.
 *
 * One departure from the paper, for spectra that end capacitive: with the
 * series C in the circuit the points are weighted by 1/|Z_k - 1/(j w_k C_1)|
 * instead, C_1 being the capacitance of the one-element fit.  Under 1/|Z|
 * the low-frequency points, where |Z| is nearly all capacitor, count for
 * almost nothing, so the slow elements' R_k are barely constrained and
 * swing to large values of either sign; mu then falls below c at 3 or 4
 * elements with residuals of tens of percent (a Randles arc with a CPE and
 * a finite Warburg in series with 1 mF stopped at M = 3 with a largest
 * residual of 0.66; weighted as here it stops at M = 51 below 1e-5).  The
 * weights only shape the fit: the residuals reported are still relative to
 * |Z|.
 *
 * Time constants: tau_1 = 1/(w_max E) to tau_M = E/w_min, E = 10^ext,
 * log-evenly spaced (w = 2 pi f); a single element (M = 1) sits at the log
 * centre, tau = 1/sqrt(w_min w_max), where it reaches the largest part of
 * the spectrum.  The paper's range is ext = 0.  A spectrum whose processes
 * reach past the measured window (the slow diffusion of a battery, the
 * micropores of a carbon at 10 mHz) is KK-consistent all the same, but
 * with ext = 0 the test cannot represent the tail: the DUALFOIL cell's
 * exact spectrum left residuals of 7 %.  By default ext is searched over
 * 0, 0.25, ..., 1 decade (as pyimpspec optimises its range extension) and
 * the best accepted fit is kept; extension_decades >= 0 fixes it.
 *
 * Choosing M.  mu = 1 - sum_{R_k<0} |R_k| / sum_{R_k>=0} |R_k| measures
 * over-fitting: negative resistances are the sign of a fit that follows
 * noise.  The paper grows M from 1 and stops at the first M with mu < c.
 * On exact (simulated) spectra that rule stops far too early: with fixed
 * time constants that miss the true ones, the fit oscillates in sign at
 * some M and recovers at the next, so mu dips below c once at M = 8 for
 * the NTO//AG stack (residual 7.5 %) and is above it again from M = 13.
 * Here every M from 1 to max_M is fitted and the best fit that mu accepts
 * (mu >= c) is kept; with no accepted fit, the one-element fit.  On noisy
 * data mu falls and stays below c once the fit follows the noise, so the
 * two rules pick neighbouring M.
 *
 * Nothing here reads files or knows where the spectrum came from; the
 * workspace (matrix, vectors, GSL's SVD workspace) is allocated once for the
 * largest M and views of it serve every smaller M.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_multifit.h>
#include <gsl/gsl_vector.h>

#include "core/params.h"

static const double TWO_PI = 6.283185307179586476925286766559;

/* Everything one Lin-KK run needs, allocated once. */
typedef struct kkws {
  size_t n;          /* points */
  size_t pmax;       /* most unknowns: R0, L, [1/C], max_M R_k */
  int cap;           /* the series capacitance is in the circuit */
  double wmin, wmax; /* angular frequency range (rad/s) */
  double ext;        /* decades the time constants extend past the range */
  double *w;         /* angular frequency of each point */
  double *zabs;      /* |Z| of each point (residuals are relative to it) */
  double *sw;        /* the weights' inverse: |Z|, or |Z - 1/(j w C_1)| */
  double *tau;       /* pmax time constants (the first M used) */
  gsl_matrix *X;     /* 2n x pmax design matrix */
  gsl_vector *y;     /* 2n weighted data */
  gsl_vector *coef;  /* pmax coefficients */
  gsl_matrix *cov;   /* pmax x pmax, required by GSL, unused */
  gsl_multifit_linear_workspace *svd;
} kkws;

/* Release what ws_alloc built (NULL members allowed). */
static void ws_free(kkws *ws) {
  free(ws->w);
  free(ws->zabs);
  free(ws->sw);
  free(ws->tau);
  if (ws->X) gsl_matrix_free(ws->X);
  if (ws->y) gsl_vector_free(ws->y);
  if (ws->coef) gsl_vector_free(ws->coef);
  if (ws->cov) gsl_matrix_free(ws->cov);
  if (ws->svd) gsl_multifit_linear_free(ws->svd);
  memset(ws, 0, sizeof *ws);
}

/* Allocate the workspace for n points and up to pmax unknowns; NIMC_ENOMEM. */
static int ws_alloc(kkws *ws, size_t n, size_t pmax) {
  memset(ws, 0, sizeof *ws);
  ws->n = n;
  ws->pmax = pmax;
  ws->w = malloc(n * sizeof(double));
  ws->zabs = malloc(n * sizeof(double));
  ws->sw = malloc(n * sizeof(double));
  ws->tau = malloc(pmax * sizeof(double));
  ws->X = gsl_matrix_alloc(2 * n, pmax);
  ws->y = gsl_vector_alloc(2 * n);
  ws->coef = gsl_vector_alloc(pmax);
  ws->cov = gsl_matrix_alloc(pmax, pmax);
  ws->svd = gsl_multifit_linear_alloc(2 * n, pmax);
  if (!ws->w || !ws->zabs || !ws->sw || !ws->tau || !ws->X || !ws->y ||
      !ws->coef || !ws->cov || !ws->svd) {
    ws_free(ws);
    return NIMC_ENOMEM;
  }
  return NIMC_OK;
}

/* The M time constants of the test circuit into ws->tau. */
static void tau_fill(kkws *ws, int M) {
  double E = pow(10.0, ws->ext);
  double t1 = 1.0 / ws->wmax / E, tM = E / ws->wmin;
  if (M == 1) {
    ws->tau[0] = 1.0 / sqrt(ws->wmin * ws->wmax);
    return;
  }
  for (int k = 0; k < M; k++)
    ws->tau[k] = t1 * pow(tM / t1, (double)k / (double)(M - 1));
  ws->tau[0] = t1;
  ws->tau[M - 1] = tM;
}

/* Column of R_k in the coefficient vector (after R0, L and maybe 1/C). */
static size_t rc_col(const kkws *ws, int k) {
  return (size_t)(2 + ws->cap + k);
}

/* Fit the test circuit with M elements; writes the unscaled coefficients
 * into ws->coef (R0, L, [1/C], R_1..R_M) and mu.  NIMC_EANALYSIS when GSL
 * fails. */
static int fit_M(kkws *ws, const nimc_spectrum *s, int M, double *mu) {
  size_t n = ws->n, p = rc_col(ws, M);
  tau_fill(ws, M);
  gsl_matrix_view Xv = gsl_matrix_submatrix(ws->X, 0, 0, 2 * n, p);
  gsl_vector_view cv = gsl_vector_subvector(ws->coef, 0, p);
  gsl_matrix_view Cv = gsl_matrix_submatrix(ws->cov, 0, 0, p, p);
  gsl_matrix *X = &Xv.matrix;
  gsl_matrix_set_zero(X);
  for (size_t i = 0; i < n; i++) {
    double wi = ws->w[i], g = 1.0 / ws->sw[i];
    size_t re = i, im = n + i;
    gsl_matrix_set(X, re, 0, g);                               /* R0 */
    gsl_matrix_set(X, im, 1, g * wi / ws->wmax);               /* L * wmax */
    if (ws->cap) gsl_matrix_set(X, im, 2, -g * ws->wmin / wi); /* 1/(C wmin) */
    for (int k = 0; k < M; k++) {
      double x = wi * ws->tau[k], d = 1.0 + x * x;
      gsl_matrix_set(X, re, rc_col(ws, k), g / d);
      gsl_matrix_set(X, im, rc_col(ws, k), -g * x / d);
    }
    gsl_vector_set(ws->y, re, g * s->z_re_ohm[i]);
    gsl_vector_set(ws->y, im, g * s->z_im_ohm[i]);
  }
  double chisq;
  if (gsl_multifit_linear(X, ws->y, &cv.vector, &Cv.matrix, &chisq, ws->svd) !=
      GSL_SUCCESS)
    return NIMC_EANALYSIS;
  gsl_vector_set(ws->coef, 1, gsl_vector_get(ws->coef, 1) / ws->wmax);
  if (ws->cap)
    gsl_vector_set(ws->coef, 2, gsl_vector_get(ws->coef, 2) * ws->wmin);
  double pos = 0.0, neg = 0.0;
  for (int k = 0; k < M; k++) {
    double r = gsl_vector_get(ws->coef, rc_col(ws, k));
    if (r < 0.0)
      neg += -r;
    else
      pos += r;
  }
  *mu = pos > 0.0 ? 1.0 - neg / pos : neg > 0.0 ? -INFINITY : 1.0;
  for (size_t k = 0; k < p; k++)
    if (!isfinite(gsl_vector_get(ws->coef, k))) return NIMC_EANALYSIS;
  return NIMC_OK;
}

/* With the series capacitance in the circuit, weight the points by
 * 1/|Z - 1/(j w C_1)|, C_1 from the one-element fit, instead of 1/|Z|
 * (see the essay above).  A C_1 that is not positive leaves 1/|Z|. */
static int capacitive_weights(kkws *ws, const nimc_spectrum *s) {
  double mu;
  int rc = fit_M(ws, s, 1, &mu);
  if (rc) return rc;
  double inv_c = gsl_vector_get(ws->coef, 2); /* 1/C_1 */
  if (!(inv_c > 0.0)) return NIMC_OK;
  for (size_t i = 0; i < ws->n; i++) {
    double d = hypot(s->z_re_ohm[i], s->z_im_ohm[i] + inv_c / ws->w[i]);
    ws->sw[i] = fmax(d, 1e-6 * ws->zabs[i]);
  }
  return NIMC_OK;
}

static void eval_point(const kkws *ws, int M, size_t i, double *zr,
                       double *zi);

/* The rms over both parts of (Z - Z_KK) / |Z| of the M-element fit just
 * made. */
static double rms_residual(const kkws *ws, const nimc_spectrum *s, int M) {
  double sum = 0.0;
  for (size_t i = 0; i < ws->n; i++) {
    double zr, zi;
    eval_point(ws, M, i, &zr, &zi);
    double a = (s->z_re_ohm[i] - zr) / ws->zabs[i];
    double b = (s->z_im_ohm[i] - zi) / ws->zabs[i];
    sum += a * a + b * b;
  }
  return sqrt(sum / (2.0 * (double)ws->n));
}

/* Z_KK at point i from the coefficients of an M-element fit. */
static void eval_point(const kkws *ws, int M, size_t i, double *zr,
                       double *zi) {
  double wi = ws->w[i];
  double re = gsl_vector_get(ws->coef, 0);
  double im = wi * gsl_vector_get(ws->coef, 1);
  if (ws->cap) im -= gsl_vector_get(ws->coef, 2) / wi;
  for (int k = 0; k < M; k++) {
    double r = gsl_vector_get(ws->coef, rc_col(ws, k));
    double x = wi * ws->tau[k], d = 1.0 + x * x;
    re += r / d;
    im -= r * x / d;
  }
  *zr = re;
  *zi = im;
}

/* Check the spectrum and options; fills nothing. */
static int validate(const nimc_spectrum *s, const nimc_linkk_opts *o,
                    nimc_err *err) {
  if (s->n < 3)
    return nimc_err_set(err, NIMC_EINPUT,
                        "Lin-KK: a spectrum of %zu points is too short (at "
                        "least 3)",
                        s->n);
  if (!s->freq_Hz || !s->z_re_ohm || !s->z_im_ohm)
    return nimc_err_set(err, NIMC_EINPUT, "Lin-KK: the spectrum has no arrays");
  for (size_t i = 0; i < s->n; i++) {
    double f = s->freq_Hz[i], zr = s->z_re_ohm[i], zi = s->z_im_ohm[i];
    if (!isfinite(f) || !(f > 0.0))
      return nimc_err_set(err, NIMC_EINPUT,
                          "Lin-KK: point %zu: the frequency %g Hz is not "
                          "finite and positive",
                          i + 1, f);
    if (!isfinite(zr) || !isfinite(zi))
      return nimc_err_set(err, NIMC_EINPUT,
                          "Lin-KK: point %zu (%g Hz): Z = %g %+g j ohm is not "
                          "finite",
                          i + 1, f, zr, zi);
    if (zr == 0.0 && zi == 0.0)
      return nimc_err_set(err, NIMC_EINPUT,
                          "Lin-KK: point %zu (%g Hz): Z = 0 cannot be "
                          "weighted by 1/|Z|",
                          i + 1, f);
  }
  if (!(isfinite(o->c) && o->c > 0.0 && o->c <= 1.0))
    return nimc_err_set(err, NIMC_EINPUT,
                        "Lin-KK: the mu threshold c must lie in (0, 1], "
                        "found %g",
                        o->c);
  if (o->max_M < 0 || (size_t)o->max_M > s->n)
    return nimc_err_set(err, NIMC_EINPUT,
                        "Lin-KK: max_M must be 1 to the number of points "
                        "(%zu), or 0 for that number; found %d",
                        s->n, o->max_M);
  if (!(o->extension_decades == -1.0 ||
        (o->extension_decades >= 0.0 && o->extension_decades <= 3.0)))
    return nimc_err_set(err, NIMC_EINPUT,
                        "Lin-KK: extension_decades must be 0 to 3, or -1 "
                        "(automatic), found %g",
                        o->extension_decades);
  if (o->add_capacitance < -1 || o->add_capacitance > 1)
    return nimc_err_set(err, NIMC_EINPUT,
                        "Lin-KK: add_capacitance must be -1 (auto), 0 or 1, "
                        "found %d",
                        o->add_capacitance);
  return NIMC_OK;
}

nimc_linkk_opts nimc_linkk_opts_default(void) {
  nimc_linkk_opts o;
  o.c = 0.85;
  o.max_M = 0;
  o.add_capacitance = -1;
  o.extension_decades = -1.0;
  return o;
}

void nimc_linkk_free(nimc_linkk *k) {
  if (!k) return;
  free(k->res_re);
  free(k->res_im);
  free(k->z_re_fit);
  free(k->z_im_fit);
  memset(k, 0, sizeof *k);
}

/* Does s end capacitive: phase below -45 degrees at its lowest frequency? */
static int ends_capacitive(const nimc_spectrum *s) {
  size_t lo = 0;
  for (size_t i = 1; i < s->n; i++)
    if (s->freq_Hz[i] < s->freq_Hz[lo]) lo = i;
  return atan2(s->z_im_ohm[lo], s->z_re_ohm[lo]) < -TWO_PI / 8.0;
}

/* Fill out from the coefficients of the chosen M-element fit. */
static int fill_result(const kkws *ws, const nimc_spectrum *s, int M, double mu,
                       nimc_linkk *out) {
  size_t n = ws->n;
  out->n = n;
  out->M = M;
  out->capacitance = ws->cap;
  out->mu = mu;
  out->res_re = malloc(n * sizeof(double));
  out->res_im = malloc(n * sizeof(double));
  out->z_re_fit = malloc(n * sizeof(double));
  out->z_im_fit = malloc(n * sizeof(double));
  if (!out->res_re || !out->res_im || !out->z_re_fit || !out->z_im_fit)
    return NIMC_ENOMEM;
  double mx = 0.0, ss = 0.0;
  for (size_t i = 0; i < n; i++) {
    double zr, zi;
    eval_point(ws, M, i, &zr, &zi);
    out->z_re_fit[i] = zr;
    out->z_im_fit[i] = zi;
    double rr = (s->z_re_ohm[i] - zr) / ws->zabs[i];
    double ri = (s->z_im_ohm[i] - zi) / ws->zabs[i];
    out->res_re[i] = rr;
    out->res_im[i] = ri;
    mx = fmax(mx, fmax(fabs(rr), fabs(ri)));
    ss += rr * rr + ri * ri;
  }
  out->max_residual = mx;
  out->rms_residual = sqrt(ss / (2.0 * (double)n));
  return NIMC_OK;
}

int nimc_spectrum_linkk(const nimc_spectrum *s, const nimc_linkk_opts *opts,
                        nimc_linkk *out, nimc_err *err) {
  if (!out) return nimc_err_set(err, NIMC_EMISUSE, "Lin-KK: no result to fill");
  memset(out, 0, sizeof *out);
  if (!s) return nimc_err_set(err, NIMC_EMISUSE, "Lin-KK: no spectrum");
  nimc_linkk_opts o = opts ? *opts : nimc_linkk_opts_default();
  int rc = validate(s, &o, err);
  if (rc) return rc;
  int maxM = o.max_M > 0 ? o.max_M : (int)s->n;
  int cap = o.add_capacitance < 0 ? ends_capacitive(s) : o.add_capacitance;

  gsl_set_error_handler_off();
  kkws ws;
  if (ws_alloc(&ws, s->n, (size_t)(2 + cap + maxM)))
    return nimc_err_set(err, NIMC_ENOMEM, "Lin-KK: out of memory");
  ws.cap = cap;
  ws.wmin = INFINITY;
  ws.wmax = 0.0;
  for (size_t i = 0; i < s->n; i++) {
    ws.w[i] = TWO_PI * s->freq_Hz[i];
    ws.zabs[i] = hypot(s->z_re_ohm[i], s->z_im_ohm[i]);
    ws.sw[i] = ws.zabs[i];
    ws.wmin = fmin(ws.wmin, ws.w[i]);
    ws.wmax = fmax(ws.wmax, ws.w[i]);
  }
  if (!(ws.wmax > ws.wmin)) {
    ws_free(&ws);
    return nimc_err_set(err, NIMC_EINPUT,
                        "Lin-KK: all %zu points are at %g Hz; the test needs "
                        "a range of frequencies",
                        s->n, s->freq_Hz[0]);
  }
  if (cap) {
    rc = capacitive_weights(&ws, s);
    if (rc) {
      ws_free(&ws);
      return nimc_err_set(err, NIMC_EANALYSIS,
                          "Lin-KK: the least-squares fit with 1 RC element "
                          "failed (no finite solution)");
    }
  }
  /* for each extension of the time constants, every M from 1 to max_M;
   * the fit kept is the best (smallest rms residual) among those mu
   * accepts (mu >= c), or the first fit when mu accepts none */
  static const double auto_ext[] = {0.0, 0.25, 0.5, 0.75, 1.0};
  const double *exts = auto_ext;
  size_t next = sizeof auto_ext / sizeof auto_ext[0];
  if (o.extension_decades >= 0.0) exts = &o.extension_decades, next = 1;
  int M = 1;
  double mu = 1.0, best_rms = INFINITY, best_ext = exts[0];
  for (size_t e = 0; e < next; e++) {
    ws.ext = exts[e];
    for (int m = 1; m <= maxM; m++) {
      rc = fit_M(&ws, s, m, &mu);
      if (rc) {
        ws_free(&ws);
        return nimc_err_set(err, NIMC_EANALYSIS,
                            "Lin-KK: the least-squares fit with %d RC "
                            "elements failed (no finite solution)",
                            m);
      }
      if (!(mu >= o.c)) continue;
      double rms = rms_residual(&ws, s, m);
      if (rms < best_rms) best_rms = rms, M = m, best_ext = exts[e];
    }
  }
  ws.ext = best_ext;
  if ((rc = fit_M(&ws, s, M, &mu))) {
    ws_free(&ws);
    return nimc_err_set(err, NIMC_EANALYSIS,
                        "Lin-KK: the least-squares fit with %d RC elements "
                        "failed (no finite solution)",
                        M);
  }
  out->extension_decades = best_ext;
  rc = fill_result(&ws, s, M, mu, out);
  ws_free(&ws);
  if (rc) {
    nimc_linkk_free(out);
    return nimc_err_set(err, NIMC_ENOMEM, "Lin-KK: out of memory");
  }
  return NIMC_OK;
}
