/*
 * metrics.c -- galvanostatic charge/discharge (GCD) metrics of a series.
 *
 * The same code reads simulated and measured series, so it uses nothing
 * but time, voltage and current to find its segments: segments are the
 * maximal runs of samples with one sign of current (> 0 charge, < 0
 * discharge, |I| <= 1e-9 max|I| rest).  A segment is "full" when it has at
 * least 3 samples and a positive duration.  The metrics are those of the
 * last full discharge (docs/metrics.md has the definitions and units).
 *
 * A segment's charge and energy come from one of two sources.  Of a
 * measured series (nimc_metrics_gcd) they are trapezoid integrals over the
 * segment's own samples, so a switch sampled twice at one time (last
 * charge sample and first discharge sample share t) adds nothing spurious,
 * and the first discharge sample is the voltage just after the IR drop.
 * Of a simulated result (nimc_metrics_gcd_result) a segment made of whole
 * steps takes them from the steps' records, which hold the solver's own
 * integrals of I and I V (the state's running charge and energy), so they
 * do not depend on how densely the series was recorded (--output-interval);
 * a segment that begins or ends inside a step (a hold whose current
 * changes sign) falls back on the trapezoid.  Times and voltages are read
 * from the segment's first and last samples, which are the steps' exact
 * ends at any output spacing.
 *
 * A (charge, discharge) pair is a full charge followed by a full discharge
 * with only rests between them; the metrics say which pair (cycle) they
 * were read from.  Of a simulated run only constant-current steps make
 * half-cycles (galvanostatic): a sweep, a power, a resistor or an LED
 * discharge is no GCD.  One pass, no allocation.
 */
#include <math.h>
#include <stddef.h>
#include <string.h>

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

/* What the metrics read: the series, and for a simulated one the records
 * of its steps (NULL, 0 for measured data). */
typedef struct source {
  const nimc_series *s;
  const nimc_step_result *steps;
  size_t nsteps;
} source;

/* The record of the step labelled index (records are in the order they
 * ran, so by increasing index), or NULL. */
static const nimc_step_result *step_record(const source *src, int index) {
  size_t lo = 0, hi = src->nsteps;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (src->steps[mid].index < index)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < src->nsteps && src->steps[lo].index == index ? &src->steps[lo]
                                                           : NULL;
}

/* The integrals of |I| dt and |I| V dt over segment g from its steps'
 * records: 1 when g is made of whole steps that all have a finite record,
 * else 0 (nothing written). */
static int step_integrals(const source *src, seg g, double *q, double *e) {
  const nimc_series *s = src->s;
  const int *lab = s->step;
  if (!src->steps || !lab) return 0;
  /* g must begin at a step's first sample and end at a step's last */
  if ((g.a > 0 && lab[g.a - 1] == lab[g.a]) ||
      (g.b + 1 < s->n && lab[g.b + 1] == lab[g.b]))
    return 0;
  double sq = 0.0, se = 0.0;
  for (size_t k = g.a; k <= g.b;) {
    int index = lab[k];
    const nimc_step_result *r = index >= 0 ? step_record(src, index) : NULL;
    if (!r || !isfinite(r->charge_C) || !isfinite(r->energy_J)) return 0;
    sq += r->charge_C, se += r->energy_J;
    while (k <= g.b && lab[k] == index)
      k++;
  }
  /* the records are signed (> 0 charging); the segment has one sign */
  *q = g.sign * sq;
  *e = g.sign * se;
  return 1;
}

/* Is g a galvanostatic half-cycle: for a simulated series, made only of
 * constant-current steps (a charge may end in a voltage hold, CC-CV);
 * a segment with a sweep, a sine, a power, a resistor or an LED in it is
 * none, so those runs report no GCD metrics.  Measured data: always. */
static int galvanostatic(const source *src, seg g) {
  const nimc_series *s = src->s;
  if (!src->steps || !s->step) return 1;
  for (size_t k = g.a; k <= g.b;) {
    int index = s->step[k];
    const nimc_step_result *r = index >= 0 ? step_record(src, index) : NULL;
    /* a label without a record says nothing: taken as measured data */
    int ok = !r || r->type == NIMC_STEP_CHARGE ||
             r->type == NIMC_STEP_DISCHARGE ||
             (g.sign > 0 && r->type == NIMC_STEP_HOLD);
    if (!ok) return 0;
    while (k <= g.b && s->step[k] == index)
      k++;
  }
  return 1;
}

/* The integrals over a segment of |I| dt (C) and |I| V dt (J): from the
 * steps' records when it is made of whole steps, else trapezoids over its
 * samples. */
static void integrate(const source *src, seg g, double *q, double *e) {
  double sq, se;
  if (!step_integrals(src, g, &sq, &se)) {
    const nimc_series *s = src->s;
    const double *t = s->time_s, *v = s->voltage_V, *i = s->current_A;
    sq = se = 0.0;
    for (size_t k = g.a; k < g.b; k++) {
      double dt = t[k + 1] - t[k];
      sq += 0.5 * (fabs(i[k]) + fabs(i[k + 1])) * dt;
      se += 0.5 * (fabs(i[k]) * v[k] + fabs(i[k + 1]) * v[k + 1]) * dt;
    }
  }
  *q = sq;
  if (e) *e = se;
}

/* Capacitance of a discharge segment: Q / (V first - V last), NaN when the
 * voltage does not fall. */
static double capacitance(const source *src, seg g) {
  const nimc_series *s = src->s;
  double q, dv = s->voltage_V[g.a] - s->voltage_V[g.b];
  integrate(src, g, &q, NULL);
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
                        .capacitance_areal_F_m2 = NAN,
                        .capacitance_volumetric_F_m3 = NAN,
                        .energy_J = NAN,
                        .energy_volumetric_J_m3 = NAN,
                        .energy_areal_J_m2 = NAN,
                        .power_W = NAN,
                        .power_volumetric_W_m3 = NAN,
                        .power_areal_W_m2 = NAN,
                        .esr_ohm = NAN,
                        .coulombic_efficiency = NAN,
                        .capacitance_retention = NAN,
                        .discharge_time_s = NAN,
                        .discharge_current_A = NAN};
}

/* The metrics of src (nimc_metrics_gcd and nimc_metrics_gcd_result). */
static int gcd_metrics(const source *src, const nimc_norm *norm,
                       nimc_metrics *out, nimc_err *err) {
  const nimc_series *s = src->s;
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
    int cc = galvanostatic(src, g);
    if (g.sign > 0) {
      prev_is_charge = full(s, g) && cc;
      prev_c = g;
      continue;
    }
    if (!cc) { /* not a constant-current discharge: breaks a pair */
      prev_is_charge = 0;
      continue;
    }
    any_d = 1;
    if (full(s, g)) {
      have_d = 1;
      last_d = g;
      last_paired = prev_is_charge;
      pair_c = prev_c;
      if (prev_is_charge) {
        c_last = capacitance(src, g);
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
  integrate(src, last_d, &q, &e);
  m.have_discharge = 1;
  m.have_cycle = m.ncycles > 0;
  /* the measured discharge is the last full one, so when it is paired it
   * is the last pair: the cycle it belongs to is the pair count */
  m.cycle = last_paired ? m.ncycles : 0;
  m.discharge_time_s = td;
  m.discharge_current_A = q / td;
  m.capacitance_F = capacitance(src, last_d);
  m.energy_J = e;
  m.power_W = e / td;
  if (last_d.a > 0) { /* |dV/dI| across the switch into the discharge */
    size_t k = last_d.a;
    m.esr_ohm = fabs((s->voltage_V[k] - s->voltage_V[k - 1]) /
                     (s->current_A[k] - s->current_A[k - 1]));
  }
  if (last_paired) {
    double qc;
    integrate(src, pair_c, &qc, NULL);
    m.coulombic_efficiency = q / qc;
  }
  if (m.ncycles >= 2) m.capacitance_retention = c_last / c_first;
  int nrc = nimc_metrics_normalise(&m, norm, err);
  if (nrc) return nrc;
  *out = m;
  return NIMC_OK;
}

int nimc_metrics_gcd(const nimc_series *s, const nimc_norm *norm,
                     nimc_metrics *out, nimc_err *err) {
  if (!s || !out || (s->n && (!s->time_s || !s->voltage_V || !s->current_A)))
    return nimc_err_set(err, NIMC_EMISUSE, "nimc_metrics_gcd: NULL argument");
  source src = {s, NULL, 0};
  return gcd_metrics(&src, norm, out, err);
}

int nimc_metrics_gcd_result(const nimc_result *res, const nimc_norm *norm,
                            nimc_metrics *out, nimc_err *err) {
  const nimc_series *s = res ? &res->series : NULL;
  if (!s || !out || (s->n && (!s->time_s || !s->voltage_V || !s->current_A)) ||
      (res->nsteps && !res->steps))
    return nimc_err_set(err, NIMC_EMISUSE,
                        "nimc_metrics_gcd_result: NULL argument");
  source src = {s, res->steps, res->nsteps};
  return gcd_metrics(&src, norm, out, err);
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
    m->capacitance_areal_F_m2 = m->capacitance_F / area;
    m->energy_areal_J_m2 = e / area;
    m->power_areal_W_m2 = m->power_W / area;
  }
  if (area > 0 && thick > 0) {
    double vol = area * thick;
    m->capacitance_volumetric_F_m3 = m->capacitance_F / vol;
    m->energy_volumetric_J_m3 = e / vol;
    m->power_volumetric_W_m3 = m->power_W / vol;
  }
  return NIMC_OK;
}

/* ---- the metrics in the summary's units: one table ---- */

/* 1 F/m2 = 0.1 mF/cm2; 1 F/m3 = 1e-6 F/cm3; 1 J/m3 = 1 / 3.6e6 mWh/cm3
 * (1 mWh = 3.6 J, 1 m3 = 1e6 cm3); 1 J/m2 = 1 / 36 uWh/cm2 (1 uWh =
 * 3.6e-3 J, 1 m2 = 1e4 cm2); 1 W/m3 = 1e-6 W/cm3; 1 W/m2 = 0.1 mW/cm2. */
static const struct metric_key {
  const char *key, *unit;
  size_t off; /* the double of nimc_metrics */
  double factor;
} metric_keys[] = {
    {"capacitance_F", "F", offsetof(nimc_metrics, capacitance_F), 1.0},
    {"capacitance_areal_mF_cm2", "mF/cm2",
     offsetof(nimc_metrics, capacitance_areal_F_m2), 0.1},
    {"capacitance_volumetric_F_cm3", "F/cm3",
     offsetof(nimc_metrics, capacitance_volumetric_F_m3), 1e-6},
    {"energy_J", "J", offsetof(nimc_metrics, energy_J), 1.0},
    {"energy_volumetric_mWh_cm3", "mWh/cm3",
     offsetof(nimc_metrics, energy_volumetric_J_m3), 1.0 / 3.6e6},
    {"energy_areal_uWh_cm2", "uWh/cm2",
     offsetof(nimc_metrics, energy_areal_J_m2), 1.0 / 36.0},
    {"power_W", "W", offsetof(nimc_metrics, power_W), 1.0},
    {"power_volumetric_W_cm3", "W/cm3",
     offsetof(nimc_metrics, power_volumetric_W_m3), 1e-6},
    {"power_areal_mW_cm2", "mW/cm2", offsetof(nimc_metrics, power_areal_W_m2),
     0.1},
    {"esr_ohm", "ohm", offsetof(nimc_metrics, esr_ohm), 1.0},
    {"coulombic_efficiency", "", offsetof(nimc_metrics, coulombic_efficiency),
     1.0},
    {"capacitance_retention", "",
     offsetof(nimc_metrics, capacitance_retention), 1.0},
    {"discharge_time_s", "s", offsetof(nimc_metrics, discharge_time_s), 1.0},
    {"discharge_current_A", "A", offsetof(nimc_metrics, discharge_current_A),
     1.0},
};
#define NMETRIC_KEYS (sizeof metric_keys / sizeof metric_keys[0])

const char *nimc_metric_key(size_t k, const char **unit) {
  if (k >= NMETRIC_KEYS) return NULL;
  if (unit) *unit = metric_keys[k].unit;
  return metric_keys[k].key;
}

double nimc_metric_value(const nimc_metrics *m, const char *key) {
  for (size_t k = 0; m && key && k < NMETRIC_KEYS; k++)
    if (!strcmp(key, metric_keys[k].key)) {
      double v;
      memcpy(&v, (const char *)m + metric_keys[k].off, sizeof v);
      return v * metric_keys[k].factor;
    }
  return NAN;
}

