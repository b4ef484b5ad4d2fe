/*
 * metrics.c -- galvanostatic charge/discharge (GCD) metrics of a series.
 *
 * The same code reads simulated and measured series, so it uses nothing
 * but time, voltage and current: step labels are ignored and segments are
 * the maximal runs of samples with one sign of current (> 0 charge, < 0
 * discharge, |I| <= 1e-9 max|I| rest).  A segment is "full" when it has at
 * least 3 samples and a positive duration.  The metrics are those of the
 * last full discharge (docs/metrics.md has the definitions and units):
 * charge and energy are trapezoid integrals over the segment's own samples,
 * so a switch sampled twice at one time (last charge sample and first
 * discharge sample share t) adds nothing spurious, and the first discharge
 * sample is the voltage just after the IR drop.  A (charge, discharge) pair
 * is a full charge followed by a full discharge with only rests between
 * them; the metrics say which pair (cycle) they were read from.  One pass,
 * no allocation.
 */
#include <math.h>
#include <stddef.h>

#include "core/params.h"

/* A run of samples [a, b] with one sign of current. */
typedef struct seg {
  size_t a, b;
  int sign;
} seg;

/* Sign class of a current: +1 charge, -1 discharge, 0 rest. */
static int classify(double i, double eps) {
  return fabs(i) <= eps ? 0 : i > 0 ? 1 : -1;
}

/* Is g full: at least 3 samples and a positive duration? */
static int full(const nimc_series *s, seg g) {
  return g.b - g.a >= 2 && s->time_s[g.b] > s->time_s[g.a];
}

/* Trapezoid integrals over a segment of |I| dt (C) and |I| V dt (J). */
static void integrate(const nimc_series *s, seg g, double *q, double *e) {
  const double *t = s->time_s, *v = s->voltage_V, *i = s->current_A;
  double sq = 0.0, se = 0.0;
  for (size_t k = g.a; k < g.b; k++) {
    double dt = t[k + 1] - t[k];
    sq += 0.5 * (fabs(i[k]) + fabs(i[k + 1])) * dt;
    se += 0.5 * (fabs(i[k]) * v[k] + fabs(i[k + 1]) * v[k + 1]) * dt;
  }
  *q = sq;
  if (e) *e = se;
}

/* Capacitance of a discharge segment: Q / (V first - V last), NaN when the
 * voltage does not fall. */
static double capacitance(const nimc_series *s, seg g) {
  double q, dv = s->voltage_V[g.a] - s->voltage_V[g.b];
  integrate(s, g, &q, NULL);
  return dv > 0 ? q / dv : NAN;
}

/* Check that the series is usable: finite samples, time never decreasing. */
static int validate(const nimc_series *s, nimc_err *err) {
  for (size_t k = 0; k < s->n; k++) {
    double t = s->time_s[k];
    if (!isfinite(t) || !isfinite(s->voltage_V[k]) ||
        !isfinite(s->current_A[k]))
      return nimc_err_set(err, NIMC_EDATA,
                          "sample %zu (t = %g s) has a non-finite time, "
                          "voltage or current",
                          k + 1, t);
    if (k > 0 && t < s->time_s[k - 1])
      return nimc_err_set(err, NIMC_EDATA,
                          "time goes backwards at sample %zu (%g s after "
                          "%g s)",
                          k + 1, t, s->time_s[k - 1]);
  }
  return NIMC_OK;
}

nimc_metrics nimc_metrics_undefined(void) {
  return (nimc_metrics){.capacitance_F = NAN,
                        .capacitance_areal_mF_cm2 = NAN,
                        .capacitance_volumetric_F_cm3 = NAN,
                        .energy_J = NAN,
                        .energy_volumetric_mWh_cm3 = NAN,
                        .energy_areal_uWh_cm2 = NAN,
                        .power_W = NAN,
                        .power_volumetric_W_cm3 = NAN,
                        .power_areal_mW_cm2 = NAN,
                        .esr_ohm = NAN,
                        .coulombic_efficiency = NAN,
                        .capacitance_retention = NAN,
                        .discharge_time_s = NAN,
                        .discharge_current_A = NAN};
}

int nimc_metrics_gcd(const nimc_series *s, const nimc_norm *norm,
                     nimc_metrics *out, nimc_err *err) {
  if (!s || !out || (s->n && (!s->time_s || !s->voltage_V || !s->current_A)))
    return nimc_err_set(err, NIMC_EMISUSE, "nimc_metrics_gcd: NULL argument");
  double area = norm ? norm->area_m2 : 0.0;
  double thick = norm ? norm->thickness_m : 0.0;
  if (!(area >= 0) || !(thick >= 0) || !isfinite(area) || !isfinite(thick))
    return nimc_err_set(err, NIMC_EINPUT,
                        "normalisation area %g m2 and thickness %g m must be "
                        ">= 0 (0 = not normalised)",
                        area, thick);
  int rc = validate(s, err);
  if (rc) return rc;

  nimc_metrics m = nimc_metrics_undefined();
  *out = m;

  double imax = 0.0;
  for (size_t k = 0; k < s->n; k++)
    imax = fmax(imax, fabs(s->current_A[k]));
  double eps = 1e-9 * imax;

  /* One pass over the segments: remember the last full discharge and the
   * full charge it pairs with, count pairs, keep the first and last pair's
   * capacitance. */
  seg last_d = {0, 0, 0}, pair_c = {0, 0, 0}, prev_c = {0, 0, 0};
  int have_d = 0, any_d = 0, last_paired = 0, prev_is_charge = 0;
  double c_first = NAN, c_last = NAN;
  for (size_t a = 0; a < s->n;) {
    seg g = {a, a, classify(s->current_A[a], eps)};
    while (g.b + 1 < s->n && classify(s->current_A[g.b + 1], eps) == g.sign)
      g.b++;
    a = g.b + 1;
    if (g.sign == 0) continue; /* rests never break a pair */
    if (g.sign > 0) {
      prev_is_charge = full(s, g);
      prev_c = g;
      continue;
    }
    any_d = 1;
    if (full(s, g)) {
      have_d = 1;
      last_d = g;
      last_paired = prev_is_charge;
      pair_c = prev_c;
      if (prev_is_charge) {
        c_last = capacitance(s, g);
        if (m.ncycles++ == 0) c_first = c_last;
      }
    }
    prev_is_charge = 0;
  }
  if (!have_d)
    return nimc_err_set(err, NIMC_EANALYSIS,
                        any_d ? "no full discharge segment (current < 0 for "
                                "at least 3 samples) in the series"
                              : "no discharge segment (current < 0) in the "
                                "series");

  double q, e, td = s->time_s[last_d.b] - s->time_s[last_d.a];
  integrate(s, last_d, &q, &e);
  m.have_discharge = 1;
  m.have_cycle = m.ncycles > 0;
  /* the measured discharge is the last full one, so when it is paired it
   * is the last pair: the cycle it belongs to is the pair count */
  m.cycle = last_paired ? m.ncycles : 0;
  m.discharge_time_s = td;
  m.discharge_current_A = q / td;
  m.capacitance_F = capacitance(s, last_d);
  m.energy_J = e;
  m.power_W = e / td;
  if (last_d.a > 0) { /* |dV/dI| across the switch into the discharge */
    size_t k = last_d.a;
    m.esr_ohm = fabs((s->voltage_V[k] - s->voltage_V[k - 1]) /
                     (s->current_A[k] - s->current_A[k - 1]));
  }
  if (last_paired) {
    double qc;
    integrate(s, pair_c, &qc, NULL);
    m.coulombic_efficiency = q / qc;
  }
  if (m.ncycles >= 2) m.capacitance_retention = c_last / c_first;
  int nrc = nimc_metrics_normalise(&m, norm, err);
  if (nrc) return nrc;
  *out = m;
  return NIMC_OK;
}

int nimc_metrics_normalise(nimc_metrics *m, const nimc_norm *norm,
                           nimc_err *err) {
  double area = norm ? norm->area_m2 : 0.0;
  double thick = norm ? norm->thickness_m : 0.0;
  if (!(area >= 0) || !(thick >= 0) || !isfinite(area) || !isfinite(thick))
    return nimc_err_set(err, NIMC_EINPUT,
                        "normalisation area %g m2 and thickness %g m must be "
                        ">= 0 (0 = not normalised)",
                        area, thick);
  double e = m->energy_J;
  if (area > 0) {
    m->capacitance_areal_mF_cm2 = m->capacitance_F / area * 0.1;
    m->energy_areal_uWh_cm2 = e / 3.6e-3 / (area * 1e4);
    m->power_areal_mW_cm2 = m->power_W * 1e3 / (area * 1e4);
  }
  if (area > 0 && thick > 0) {
    double vol_cm3 = area * thick * 1e6;
    m->capacitance_volumetric_F_cm3 = m->capacitance_F / vol_cm3;
    m->energy_volumetric_mWh_cm3 = e / 3.6 / vol_cm3;
    m->power_volumetric_W_cm3 = m->power_W / vol_cm3;
  }
  return NIMC_OK;
}
