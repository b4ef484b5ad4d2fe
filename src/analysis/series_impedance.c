/*
 * series_impedance.c -- the impedance at one frequency read from a time
 * series: a sine applied in the time domain (by the simulator or by an
 * instrument) and the voltage and current it produced.
 *
 * Over the window [t_from, t_to] the voltage and the current are each
 * fitted by linear least squares with
 *
 *   x(t) = a + b t + c sin(w t') + d cos(w t'),   t' = t - t_from,
 *
 * the constant and the ramp absorbing the offset and a slow drift (the
 * state of charge creeping under a sine that is not exactly balanced, a
 * transient not quite died out).  Samples may be unevenly spaced, as the
 * solver's steps are: least squares needs no grid, unlike a DFT.
 *
 * The phasor.  With the convention x(t) = Re(X e^{j w t'}) and X = Xr + j Xi,
 *   x = Xr cos(w t') - Xi sin(w t'),
 * so d = Xr and c = -Xi: X = d - j c, and j X = c + j d.  The impedance is
 * the ratio of the voltage and current phasors, in which the common factor
 * j cancels:
 *   Z = V / I = (d_V - j c_V) / (d_I - j c_I) = (c_V + j d_V) / (c_I + j d_I).
 * Measuring t' from t_from instead of 0 turns both phasors by the same
 * e^{-j w t_from}, which cancels too, and keeps w t' small so that sin and
 * cos lose no digits late in a long run.
 * Sign: the current of nimc_series is > 0 when it charges the device
 * (flows into its positive terminal), so for a capacitor I = C dV/dt: with
 * V = sin(w t'), I = w C cos(w t'), c_V = 1, d_V = 0, c_I = 0, d_I = w C,
 * and Z = 1 / (j w C) = -j / (w C): Im Z < 0, as a capacitor must give.
 *
 * The design matrix has columns 1, (t - t_mid) / half-width, sin, cos, all
 * of order one, so one SVD (GSL) serves both fits; its rank says whether
 * the window's samples can tell the sine from the ramp at all.
 */
#include <math.h>
#include <stddef.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_multifit.h>
#include <gsl/gsl_vector.h>

#include "core/params.h"

static const double TWO_PI = 6.283185307179586476925286766559;

/* Singular values below this fraction of the largest count as zero. */
static const double RANK_TOL = 1e-10;

/* Fewest samples a window must hold (4 unknowns, twice over). */
enum { MIN_SAMPLES = 8 };

/* Check the request against the series; counts the window's samples. */
static int validate(const nimc_series *s, double f, double t0, double t1,
                    size_t *m, nimc_err *err) {
  if (!(isfinite(f) && f > 0.0))
    return nimc_err_set(err, NIMC_EINPUT,
                        "impedance from a series: the frequency must be "
                        "finite and positive, found %g Hz",
                        f);
  if (!(isfinite(t0) && isfinite(t1) && t1 > t0))
    return nimc_err_set(err, NIMC_EINPUT,
                        "impedance from a series: the window [%g, %g] s "
                        "must be finite and end after it starts",
                        t0, t1);
  if (s->n == 0 || !s->time_s || !s->voltage_V || !s->current_A)
    return nimc_err_set(err, NIMC_EINPUT,
                        "impedance from a series: the series is empty");
  double lo = s->time_s[0], hi = s->time_s[0];
  for (size_t k = 1; k < s->n; k++) {
    lo = fmin(lo, s->time_s[k]);
    hi = fmax(hi, s->time_s[k]);
  }
  double slack = 1e-12 * fmax(fabs(lo), fmax(fabs(hi), hi - lo));
  if (t0 < lo - slack || t1 > hi + slack)
    return nimc_err_set(err, NIMC_EINPUT,
                        "impedance from a series: the window [%g, %g] s is "
                        "not inside the series, which runs from %g s to %g s",
                        t0, t1, lo, hi);
  size_t count = 0;
  for (size_t k = 0; k < s->n; k++) {
    double t = s->time_s[k];
    if (!(t >= t0 && t <= t1)) continue;
    if (!isfinite(s->voltage_V[k]) || !isfinite(s->current_A[k]))
      return nimc_err_set(err, NIMC_EINPUT,
                          "impedance from a series: sample %zu (t = %g s) "
                          "has a voltage or current that is not finite",
                          k, t);
    count++;
  }
  if (count < MIN_SAMPLES)
    return nimc_err_set(err, NIMC_EINPUT,
                        "impedance from a series: the window [%g, %g] s "
                        "holds %zu samples, at least %d are needed",
                        t0, t1, count, MIN_SAMPLES);
  *m = count;
  return NIMC_OK;
}

/* Everything the two fits need, allocated once per call. */
typedef struct sfit {
  gsl_matrix *X;
  gsl_vector *yv, *yi, *cv, *ci;
  gsl_multifit_linear_workspace *w;
} sfit;

static void sfit_free(sfit *f) {
  if (f->X) gsl_matrix_free(f->X);
  if (f->yv) gsl_vector_free(f->yv);
  if (f->yi) gsl_vector_free(f->yi);
  if (f->cv) gsl_vector_free(f->cv);
  if (f->ci) gsl_vector_free(f->ci);
  if (f->w) gsl_multifit_linear_free(f->w);
}

/* Allocate for m samples; 0 or NIMC_ENOMEM. */
static int sfit_alloc(sfit *f, size_t m) {
  f->X = gsl_matrix_alloc(m, 4);
  f->yv = gsl_vector_alloc(m);
  f->yi = gsl_vector_alloc(m);
  f->cv = gsl_vector_alloc(4);
  f->ci = gsl_vector_alloc(4);
  f->w = gsl_multifit_linear_alloc(m, 4);
  if (!f->X || !f->yv || !f->yi || !f->cv || !f->ci || !f->w) {
    sfit_free(f);
    return NIMC_ENOMEM;
  }
  return NIMC_OK;
}

/* Fill the design matrix and both data vectors from the window; returns
 * max |I| over the window. */
static double fill(sfit *f, const nimc_series *s, double w, double t0,
                   double t1) {
  double mid = 0.5 * (t0 + t1), half = 0.5 * (t1 - t0), imax = 0.0;
  size_t r = 0;
  for (size_t k = 0; k < s->n; k++) {
    double t = s->time_s[k];
    if (!(t >= t0 && t <= t1)) continue;
    double ph = w * (t - t0);
    gsl_matrix_set(f->X, r, 0, 1.0);
    gsl_matrix_set(f->X, r, 1, (t - mid) / half);
    gsl_matrix_set(f->X, r, 2, sin(ph));
    gsl_matrix_set(f->X, r, 3, cos(ph));
    gsl_vector_set(f->yv, r, s->voltage_V[k]);
    gsl_vector_set(f->yi, r, s->current_A[k]);
    imax = fmax(imax, fabs(s->current_A[k]));
    r++;
  }
  return imax;
}

int nimc_series_impedance(const nimc_series *s, double freq_Hz, double t_from,
                          double t_to, double *z_re, double *z_im,
                          nimc_err *err) {
  if (!s || !z_re || !z_im)
    return nimc_err_set(err, NIMC_EMISUSE,
                        "impedance from a series: no series or no output");
  *z_re = *z_im = NAN;
  size_t m = 0;
  int rc = validate(s, freq_Hz, t_from, t_to, &m, err);
  if (rc) return rc;
  gsl_set_error_handler_off();
  sfit f = {0};
  if (sfit_alloc(&f, m))
    return nimc_err_set(err, NIMC_ENOMEM,
                        "impedance from a series: out of memory");
  double imax = fill(&f, s, TWO_PI * freq_Hz, t_from, t_to);
  double rnorm, snorm;
  if (gsl_multifit_linear_svd(f.X, f.w) != GSL_SUCCESS) {
    sfit_free(&f);
    return nimc_err_set(err, NIMC_EANALYSIS,
                        "impedance from a series: the SVD of the %zu-sample "
                        "window failed",
                        m);
  }
  if (gsl_multifit_linear_rank(RANK_TOL, f.w) < 4) {
    sfit_free(&f);
    return nimc_err_set(err, NIMC_EANALYSIS,
                        "impedance from a series: the %zu samples of [%g, %g] "
                        "s (%.3g periods of %g Hz) cannot tell the sine from "
                        "a constant and a ramp",
                        m, t_from, t_to, (t_to - t_from) * freq_Hz, freq_Hz);
  }
  if (gsl_multifit_linear_solve(0.0, f.X, f.yv, f.cv, &rnorm, &snorm, f.w) !=
          GSL_SUCCESS ||
      gsl_multifit_linear_solve(0.0, f.X, f.yi, f.ci, &rnorm, &snorm, f.w) !=
          GSL_SUCCESS) {
    sfit_free(&f);
    return nimc_err_set(err, NIMC_EANALYSIS,
                        "impedance from a series: the least-squares solve "
                        "failed");
  }
  double cV = gsl_vector_get(f.cv, 2), dV = gsl_vector_get(f.cv, 3);
  double cI = gsl_vector_get(f.ci, 2), dI = gsl_vector_get(f.ci, 3);
  sfit_free(&f);
  double ia = hypot(cI, dI);
  if (!(ia > 1e-12 * imax))
    return nimc_err_set(err, NIMC_EANALYSIS,
                        "impedance from a series: the current has no "
                        "component at %g Hz in [%g, %g] s (amplitude %g A, "
                        "largest |I| %g A), so Z is undefined",
                        freq_Hz, t_from, t_to, ia, imax);
  /* (cV + j dV) / (cI + j dI) */
  double den = cI * cI + dI * dI;
  *z_re = (cV * cI + dV * dI) / den;
  *z_im = (dV * cI - cV * dI) / den;
  if (!isfinite(*z_re) || !isfinite(*z_im))
    return nimc_err_set(err, NIMC_EANALYSIS,
                        "impedance from a series: Z is not finite");
  return NIMC_OK;
}
