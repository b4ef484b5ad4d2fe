/*
 * spectrum.c -- impedance spectra as plain data: allocation, the frequency
 * grids of a sweep, and the one reading of a spectrum that needs no model
 * (the high-frequency intercept).
 *
 * A spectrum is the same struct whether it came from an instrument file or
 * from the linearised model, so everything in analysis/ (circuit fitting,
 * Lin-KK) works on both alike.  Fitting lives in eisfit.c, the circuit
 * language in circuit.c, the Kramers-Kronig test in linkk.c.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/params.h"

int nimc_spectrum_alloc(nimc_spectrum *s, size_t n) {
  memset(s, 0, sizeof *s);
  size_t m = n ? n : 1;
  s->freq_Hz = calloc(m, sizeof(double));
  s->z_re_ohm = calloc(m, sizeof(double));
  s->z_im_ohm = calloc(m, sizeof(double));
  if (!s->freq_Hz || !s->z_re_ohm || !s->z_im_ohm) {
    nimc_spectrum_free(s);
    return NIMC_ENOMEM;
  }
  s->n = n;
  return NIMC_OK;
}

void nimc_spectrum_free(nimc_spectrum *s) {
  if (!s) return;
  free(s->freq_Hz);
  free(s->z_re_ohm);
  free(s->z_im_ohm);
  memset(s, 0, sizeof *s);
}

int nimc_freq_logspace(double from_Hz, double to_Hz, int per_decade,
                       double **out, size_t *n, nimc_err *err) {
  *out = NULL;
  *n = 0;
  if (!(isfinite(from_Hz) && from_Hz > 0.0) ||
      !(isfinite(to_Hz) && to_Hz > 0.0))
    return nimc_err_set(err, NIMC_EINPUT,
                        "frequencies must be finite and positive (from %g Hz "
                        "to %g Hz)",
                        from_Hz, to_Hz);
  if (from_Hz == to_Hz)
    return nimc_err_set(err, NIMC_EINPUT,
                        "the sweep starts and ends at the same frequency "
                        "(%g Hz)",
                        from_Hz);
  if (per_decade < 1 || per_decade > 1000)
    return nimc_err_set(err, NIMC_EINPUT,
                        "points per decade must be 1 to 1000, found %d",
                        per_decade);
  double decades = log10(to_Hz / from_Hz);
  double steps = floor(per_decade * fabs(decades) + 0.5);
  if (steps < 1.0) steps = 1.0;
  if (steps > 1e6)
    return nimc_err_set(err, NIMC_EINPUT,
                        "%.0f frequencies are too many (at most 1000001)",
                        steps + 1.0);
  size_t m = (size_t)steps + 1;
  double *f = malloc(m * sizeof(double));
  if (!f) return nimc_err_set(err, NIMC_ENOMEM, "out of memory");
  double l0 = log10(from_Hz);
  for (size_t k = 0; k < m; k++)
    f[k] = pow(10.0, l0 + decades * (double)k / steps);
  f[0] = from_Hz; /* the ends exactly as given */
  f[m - 1] = to_Hz;
  *out = f;
  *n = m;
  return NIMC_OK;
}

double nimc_spectrum_r_ohmic(const nimc_spectrum *s) {
  if (!s || s->n == 0) return NAN;
  /* walk from the highest frequency down */
  size_t hi = 0;
  for (size_t k = 1; k < s->n; k++)
    if (s->freq_Hz[k] > s->freq_Hz[hi]) hi = k;
  int down = hi == 0 ? 1 : -1; /* index step towards lower frequency */
  size_t k = hi;
  for (size_t step = 0; step + 1 < s->n; step++) {
    size_t j = (size_t)((long)k + down);
    double a = s->z_im_ohm[k], b = s->z_im_ohm[j];
    /* -Im Z from negative (inductive) to >= 0 (capacitive) */
    if (a > 0.0 && b <= 0.0) {
      double w = a / (a - b);
      return s->z_re_ohm[k] + w * (s->z_re_ohm[j] - s->z_re_ohm[k]);
    }
    k = j;
  }
  return s->z_re_ohm[hi];
}
