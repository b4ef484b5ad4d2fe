/*
 * echem.c -- the community's metrics of measured electrochemical data:
 * GCD and cycling per cycle, cyclic voltammetry (capacitance, b-value,
 * Dunn's capacitive/diffusive split) and self-discharge at rest.
 *
 * Pure functions on arrays of time, voltage and current: nothing here
 * reads files or knows the model, so measured and simulated data are
 * treated alike.  docs/metrics.md defines every number (formula, window,
 * what is excluded); the tests (tests/test_analyze.c) check each on data
 * whose answer is known in closed form.
 *
 * GCD: the current is split into half-cycles by its sign, with rests
 * where |I| <= rel_eps max|I| (default 1 %, above the noise of a measured
 * rest).  The charge balance, energy, ESR and coulombic efficiency of a
 * (charge, discharge) pair are those of nimc_metrics_gcd (read on the
 * pair's own samples, with the same threshold): one definition for
 * simulated and measured data.  Added here: the charge half-cycle's
 * energy (energy efficiency), the capacitance from the discharge slope and
 * the energy-equivalent (integral) capacitance, and retention.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/gcd.h"
#include "core/params.h"

#define DEFAULT_REL_EPS 0.01

/* Sign class of a current: +1 charge, -1 discharge, 0 rest. */
static int classify(double i, double eps) {
  return fabs(i) <= eps ? 0 : i > 0 ? 1 : -1;
}

int nimc_segments_find(const double *current_A, size_t n, double rel_eps,
                       nimc_span **out, size_t *nseg, nimc_err *err) {
  *out = NULL;
  *nseg = 0;
  if (n == 0) return NIMC_OK;
  if (!(rel_eps > 0)) rel_eps = DEFAULT_REL_EPS;
  double imax = 0.0;
  for (size_t k = 0; k < n; k++)
    if (isfinite(current_A[k])) imax = fmax(imax, fabs(current_A[k]));
  double eps = rel_eps * imax;
  size_t cap = 16, m = 0;
  nimc_span *s = malloc(cap * sizeof *s);
  if (!s) return nimc_err_set(err, NIMC_ENOMEM, "out of memory");
  for (size_t a = 0; a < n;) {
    nimc_span g = {a, a, classify(current_A[a], eps)};
    while (g.b + 1 < n && classify(current_A[g.b + 1], eps) == g.sign)
      g.b++;
    a = g.b + 1;
    if (m == cap) {
      cap *= 2;
      nimc_span *ns = realloc(s, cap * sizeof *ns);
      if (!ns) {
        free(s);
        return nimc_err_set(err, NIMC_ENOMEM, "out of memory");
      }
      s = ns;
    }
    s[m++] = g;
  }
  *out = s;
  *nseg = m;
  return NIMC_OK;
}

/* Finite samples and a time that never decreases. */
static int validate(const double *t, const double *v, const double *i,
                    size_t n, nimc_err *err) {
  for (size_t k = 0; k < n; k++) {
    if (!isfinite(t[k]) || (v && !isfinite(v[k])) || (i && !isfinite(i[k])))
      return nimc_err_set(err, NIMC_EDATA,
                          "sample %zu (t = %g s) is not a finite number",
                          k + 1, t[k]);
    if (k > 0 && t[k] < t[k - 1])
      return nimc_err_set(err, NIMC_EDATA,
                          "time goes backwards at sample %zu (%g s after %g "
                          "s)",
                          k + 1, t[k], t[k - 1]);
  }
  return NIMC_OK;
}

/* Is g full: >= 3 samples and a positive duration? */
static int full(const double *t, nimc_span g) {
  return g.b - g.a >= 2 && t[g.b] > t[g.a];
}

/* Trapezoid integrals of |I| dt and |I| V dt over g. */
static void integrate(const double *t, const double *v, const double *i,
                      nimc_span g, double *q, double *e) {
  double sq = 0.0, se = 0.0;
  for (size_t k = g.a; k < g.b; k++) {
    double dt = t[k + 1] - t[k];
    sq += 0.5 * (fabs(i[k]) + fabs(i[k + 1])) * dt;
    se += 0.5 * (fabs(i[k]) * v[k] + fabs(i[k + 1]) * v[k + 1]) * dt;
  }
  *q = sq;
  *e = se;
}

/* Least-squares line y = a + b x over n points: slope b and R^2 (NaN when
 * x does not vary). */
static void linfit(const double *x, const double *y, size_t n, size_t stride,
                   double *slope, double *icpt, double *r2) {
  double sx = 0, sy = 0;
  for (size_t k = 0; k < n; k++) {
    sx += x[k * stride];
    sy += y[k * stride];
  }
  double mx = sx / (double)n, my = sy / (double)n, sxx = 0, sxy = 0, syy = 0;
  for (size_t k = 0; k < n; k++) {
    double dx = x[k * stride] - mx, dy = y[k * stride] - my;
    sxx += dx * dx;
    sxy += dx * dy;
    syy += dy * dy;
  }
  *slope = sxx > 0 ? sxy / sxx : NAN;
  if (icpt) *icpt = my - *slope * mx;
  if (r2) *r2 = sxx > 0 && syy > 0 ? sxy * sxy / (sxx * syy) : NAN;
}

/* Capacitance from the slope of V(t) over the middle 80 % of the voltage
 * window of discharge g (all its samples when fewer than 3 fall there). */
static double slope_capacitance(const double *t, const double *v,
                                nimc_span g, double i_d) {
  double vs = v[g.a], ve = v[g.b], dv = vs - ve;
  if (!(dv > 0)) return NAN;
  double hi = vs - 0.1 * dv, lo = ve + 0.1 * dv;
  size_t m = 0, first = g.a, last = g.a;
  for (size_t k = g.a; k <= g.b; k++)
    if (v[k] <= hi && v[k] >= lo) {
      if (m == 0) first = k;
      last = k;
      m++;
    }
  if (m < 3) {
    first = g.a;
    last = g.b;
  }
  double b;
  linfit(t + first, v + first, last - first + 1, 1, &b, NULL, NULL);
  return b < 0 ? i_d / -b : NAN;
}

/* One row: discharge d, paired with charge c when c.sign > 0. */
static int gcd_row(const double *t, const double *v, const double *i,
                   const int *fc, size_t n, double rel_eps, nimc_span c,
                   nimc_span d, nimc_gcd_cycle *row, nimc_err *err) {
  memset(row, 0, sizeof *row);
  row->charge = c;
  row->discharge = d;
  row->file_cycle = fc ? fc[d.a] : -1;
  /* the metrics of the pair, or of the discharge with the sample before
   * it (the switch from a rest) */
  size_t a = c.sign > 0 ? c.a : (d.a > 0 ? d.a - 1 : d.a);
  (void)n;
  nimc_series s = {.n = d.b - a + 1,
                   .cap = d.b - a + 1,
                   .time_s = (double *)(uintptr_t)(t + a),
                   .voltage_V = (double *)(uintptr_t)(v + a),
                   .current_A = (double *)(uintptr_t)(i + a),
                   .step = NULL};
  nimc_metrics m;
  int rc = nimc_metrics_gcd_eps(&s, NULL, rel_eps, &m, err);
  if (rc) return rc;
  double qd, ed, qc = NAN, ec = NAN;
  integrate(t, v, i, d, &qd, &ed);
  if (c.sign > 0) integrate(t, v, i, c, &qc, &ec);
  row->charge_C = qc;
  row->energy_charge_J = ec;
  row->discharge_C = qd;
  row->energy_discharge_J = m.energy_J;
  row->capacitance_F = m.capacitance_F;
  row->esr_ohm = m.esr_ohm;
  row->coulombic_efficiency = c.sign > 0 ? qd / qc : NAN;
  row->energy_efficiency = c.sign > 0 ? m.energy_J / ec : NAN;
  row->discharge_time_s = m.discharge_time_s;
  row->discharge_current_A = m.discharge_current_A;
  row->power_W = m.power_W;
  row->v_start_V = v[d.a];
  row->v_end_V = v[d.b];
  row->capacitance_slope_F = slope_capacitance(t, v, d, qd / m.discharge_time_s);
  double den = v[d.a] * v[d.a] - v[d.b] * v[d.b];
  row->capacitance_integral_F = den > 0 ? 2.0 * m.energy_J / den : NAN;
  row->retention = NAN;
  return NIMC_OK;
}

int nimc_gcd_cycles(const double *t, const double *v, const double *i,
                    const int *fc, size_t n, double rel_eps,
                    nimc_gcd_cycle **out, size_t *ncycles, nimc_err *err) {
  *out = NULL;
  *ncycles = 0;
  if (!t || !v || !i)
    return nimc_err_set(err, NIMC_EMISUSE, "nimc_gcd_cycles: NULL array");
  if (!(rel_eps > 0)) rel_eps = DEFAULT_REL_EPS;
  int rc = validate(t, v, i, n, err);
  if (rc) return rc;
  nimc_span *sg = NULL;
  size_t ns = 0;
  if ((rc = nimc_segments_find(i, n, rel_eps, &sg, &ns, err))) return rc;
  nimc_gcd_cycle *rows = calloc(ns ? ns : 1, sizeof *rows);
  if (!rows) {
    free(sg);
    return nimc_err_set(err, NIMC_ENOMEM, "out of memory");
  }
  size_t m = 0;
  int pairs = 0, any_d = 0;
  nimc_span charge = {0, 0, 0};
  double c_first = NAN;
  for (size_t k = 0; k < ns && !rc; k++) {
    nimc_span g = sg[k];
    if (g.sign == 0) continue; /* rests never break a pair */
    if (g.sign > 0) {
      charge = full(t, g) ? g : (nimc_span){0, 0, 0};
      continue;
    }
    any_d = 1;
    if (full(t, g)) {
      rc = gcd_row(t, v, i, fc, n, rel_eps, charge, g, &rows[m], err);
      if (!rc) {
        if (charge.sign > 0) {
          rows[m].index = ++pairs;
          if (pairs == 1) c_first = rows[m].capacitance_F;
          rows[m].retention = rows[m].capacitance_F / c_first;
        }
        m++;
      }
    }
    charge = (nimc_span){0, 0, 0};
  }
  free(sg);
  if (!rc && m == 0)
    rc = nimc_err_set(err, NIMC_EANALYSIS,
                      any_d ? "no full discharge (current < 0 for at least 3 "
                              "samples and a positive time)"
                            : "no discharge (current < 0) in the data");
  if (rc) {
    free(rows);
    return rc;
  }
  *out = rows;
  *ncycles = m;
  return NIMC_OK;
}

/* ---- cyclic voltammetry ---- */

/* The sweeps of V: runs of one direction, a turn counting when V retreats
 * from its running extreme by more than h.  sw holds up to n spans. */
static size_t sweeps(const double *v, size_t n, double h, nimc_span *sw) {
  size_t m = 0, start = 0, ext = 0;
  int dir = 0;
  for (size_t k = 1; k < n; k++) {
    if (dir == 0) {
      if (fabs(v[k] - v[start]) > h) {
        dir = v[k] > v[start] ? 1 : -1;
        ext = k;
      }
      continue;
    }
    if ((dir > 0 && v[k] >= v[ext]) || (dir < 0 && v[k] <= v[ext])) {
      ext = k;
    } else if (fabs(v[ext] - v[k]) > h) {
      sw[m++] = (nimc_span){start, ext, dir};
      start = ext;
      dir = -dir;
      ext = k;
    }
  }
  if (dir != 0) sw[m++] = (nimc_span){start, n - 1, dir};
  return m;
}

int nimc_cv_cycles(const double *t, const double *v, const double *i,
                   size_t n, nimc_cv_cycle **out, size_t *ncycles,
                   nimc_err *err) {
  *out = NULL;
  *ncycles = 0;
  if (!t || !v || !i)
    return nimc_err_set(err, NIMC_EMISUSE, "nimc_cv_cycles: NULL array");
  int rc = validate(t, v, i, n, err);
  if (rc) return rc;
  if (n < 6)
    return nimc_err_set(err, NIMC_EANALYSIS,
                        "%zu samples: too few for a cyclic voltammogram", n);
  double vmin = v[0], vmax = v[0];
  for (size_t k = 1; k < n; k++) {
    vmin = fmin(vmin, v[k]);
    vmax = fmax(vmax, v[k]);
  }
  double range = vmax - vmin;
  nimc_span *sw = malloc(n * sizeof *sw);
  nimc_cv_cycle *cyc = malloc(n * sizeof *cyc);
  if (!sw || !cyc) {
    free(sw);
    free(cyc);
    return nimc_err_set(err, NIMC_ENOMEM, "out of memory");
  }
  size_t nsw = range > 0 ? sweeps(v, n, 0.02 * range, sw) : 0, m = 0;
  for (size_t k = 0; k + 1 < nsw;) {
    nimc_span a = sw[k], b = sw[k + 1];
    int fa = fabs(v[a.b] - v[a.a]) >= 0.8 * range && a.b - a.a >= 2;
    int fb = fabs(v[b.b] - v[b.a]) >= 0.8 * range && b.b - b.a >= 2;
    if (!fa || !fb || !(t[b.b] > t[a.a])) {
      k++;
      continue;
    }
    nimc_cv_cycle *c = &cyc[m++];
    memset(c, 0, sizeof *c);
    c->sweep[0] = a;
    c->sweep[1] = b;
    double q = 0, path = 0, lo = v[a.a], hi = v[a.a];
    double pa = -INFINITY, pc = INFINITY;
    for (size_t j = a.a; j < b.b; j++) {
      q += 0.5 * (fabs(i[j]) + fabs(i[j + 1])) * (t[j + 1] - t[j]);
      path += fabs(v[j + 1] - v[j]);
    }
    for (size_t j = a.a; j <= b.b; j++) {
      lo = fmin(lo, v[j]);
      hi = fmax(hi, v[j]);
    }
    for (int s = 0; s < 2; s++) {
      nimc_span g = c->sweep[s];
      for (size_t j = g.a; j <= g.b; j++) {
        if (g.sign > 0) pa = fmax(pa, i[j]);
        if (g.sign < 0) pc = fmin(pc, i[j]);
      }
    }
    c->scan_rate_V_s = path / (t[b.b] - t[a.a]);
    c->v_min_V = lo;
    c->v_max_V = hi;
    c->charge_C = q;
    c->capacitance_F = hi > lo ? q / (2.0 * (hi - lo)) : NAN;
    c->peak_anodic_A = pa;
    c->peak_cathodic_A = pc;
    k += 2;
  }
  free(sw);
  if (m == 0) {
    free(cyc);
    return nimc_err_set(err, NIMC_EANALYSIS,
                        "no full cycle (a sweep up and a sweep down, each "
                        "over at least 80 %% of the voltage range)");
  }
  *out = cyc;
  *ncycles = m;
  return NIMC_OK;
}

int nimc_cv_b_value(const double *rate, const double *peak, size_t n,
                    double *b, double *r2, nimc_err *err) {
  if (n < 2)
    return nimc_err_set(err, NIMC_EINPUT,
                        "the b-value needs peak currents at 2 or more scan "
                        "rates, found %zu",
                        n);
  double *x = malloc(2 * n * sizeof *x);
  if (!x) return nimc_err_set(err, NIMC_ENOMEM, "out of memory");
  double *y = x + n;
  int distinct = 0;
  for (size_t k = 0; k < n; k++) {
    if (!(rate[k] > 0) || !isfinite(rate[k]) || !(fabs(peak[k]) > 0) ||
        !isfinite(peak[k])) {
      free(x);
      return nimc_err_set(err, NIMC_EINPUT,
                          "scan rate %g V/s, peak %g A: both must be finite "
                          "and non-zero",
                          rate[k], peak[k]);
    }
    x[k] = log10(rate[k]);
    y[k] = log10(fabs(peak[k]));
    if (k > 0 && rate[k] != rate[0]) distinct = 1;
  }
  if (!distinct) {
    free(x);
    return nimc_err_set(err, NIMC_EINPUT,
                        "the b-value needs two different scan rates");
  }
  linfit(x, y, n, 1, b, NULL, r2);
  free(x);
  return NIMC_OK;
}

/* Current of a sweep at voltage u by linear interpolation between the
 * first pair of samples that brackets it; NaN when none does. */
static double current_at(const double *v, const double *i, size_t n,
                         double u) {
  for (size_t k = 0; k + 1 < n; k++) {
    double a = v[k], b = v[k + 1];
    if ((u - a) * (u - b) <= 0 && a != b)
      return i[k] + (i[k + 1] - i[k]) * (u - a) / (b - a);
    if (a == b && a == u) return i[k];
  }
  return NAN;
}

int nimc_cv_dunn(const double *const *volt, const double *const *cur,
                 const size_t *n, const double *rate, size_t nr, size_t ng,
                 double *vg, double *k1, double *k2, double *frac,
                 nimc_err *err) {
  if (nr < 2 || ng < 2)
    return nimc_err_set(err, NIMC_EINPUT,
                        "Dunn's analysis needs 2 or more scan rates and grid "
                        "points (found %zu rates, %zu points)",
                        nr, ng);
  double lo = -INFINITY, hi = INFINITY;
  for (size_t k = 0; k < nr; k++) {
    if (!(rate[k] > 0) || !isfinite(rate[k]) || n[k] < 2)
      return nimc_err_set(err, NIMC_EINPUT,
                          "sweep %zu: scan rate %g V/s and %zu samples (a "
                          "positive rate and 2 samples needed)",
                          k + 1, rate[k], n[k]);
    for (size_t j = 0; j < k; j++)
      if (rate[j] == rate[k])
        return nimc_err_set(err, NIMC_EINPUT,
                            "sweeps %zu and %zu have the same scan rate %g "
                            "V/s",
                            j + 1, k + 1, rate[k]);
    double a = volt[k][0], b = volt[k][0];
    for (size_t j = 1; j < n[k]; j++) {
      a = fmin(a, volt[k][j]);
      b = fmax(b, volt[k][j]);
    }
    lo = fmax(lo, a);
    hi = fmin(hi, b);
  }
  if (!(hi > lo))
    return nimc_err_set(err, NIMC_EINPUT,
                        "the sweeps share no voltage range");
  double *x = malloc(3 * nr * sizeof *x);
  if (!x) return nimc_err_set(err, NIMC_ENOMEM, "out of memory");
  double *y = x + nr, *ik = x + 2 * nr;
  double *num = calloc(2 * nr, sizeof *num), *den = num ? num + nr : NULL;
  if (!num) {
    free(x);
    return nimc_err_set(err, NIMC_ENOMEM, "out of memory");
  }
  for (size_t g = 0; g < ng; g++) {
    /* the ends shrunk by a hair, so every sweep brackets them */
    double u = lo + (hi - lo) * (1e-9 + (1 - 2e-9) * (double)g /
                                            (double)(ng - 1));
    vg[g] = u;
    for (size_t k = 0; k < nr; k++) {
      ik[k] = current_at(volt[k], cur[k], n[k], u);
      x[k] = sqrt(rate[k]);
      y[k] = ik[k] / x[k];
    }
    linfit(x, y, nr, 1, &k1[g], &k2[g], NULL);
    double w = g == 0 || g == ng - 1 ? 0.5 : 1.0; /* trapezoid weights */
    for (size_t k = 0; k < nr; k++) {
      num[k] += w * fabs(k1[g] * rate[k]);
      den[k] += w * fabs(ik[k]);
    }
  }
  for (size_t k = 0; k < nr; k++)
    frac[k] = den[k] > 0 ? num[k] / den[k] : NAN;
  free(x);
  free(num);
  return NIMC_OK;
}

/* ---- self-discharge ---- */

int nimc_rest_analyze(const double *t, const double *v, size_t n,
                      double threshold, nimc_rest_result *out, nimc_err *err) {
  if (!t || !v || !out)
    return nimc_err_set(err, NIMC_EMISUSE, "nimc_rest_analyze: NULL argument");
  if (threshold <= 0) threshold = 0.6;
  if (!(threshold < 1) || !isfinite(threshold))
    return nimc_err_set(err, NIMC_EINPUT,
                        "the self-discharge threshold %g must be a fraction "
                        "of the starting voltage in (0, 1)",
                        threshold);
  int rc = validate(t, v, NULL, n, err);
  if (rc) return rc;
  if (n < 3 || !(t[n - 1] > t[0]))
    return nimc_err_set(err, NIMC_EANALYSIS,
                        "a rest of %zu samples over %g s: too short to "
                        "measure a self-discharge",
                        n, n ? t[n - 1] - t[0] : 0.0);
  memset(out, 0, sizeof *out);
  out->v0_V = v[0];
  out->v_end_V = v[n - 1];
  out->duration_s = t[n - 1] - t[0];
  out->threshold = threshold;
  out->time_to_threshold_s = NAN;
  double vt = threshold * v[0];
  for (size_t k = 1; k < n; k++)
    if (v[k] <= vt) {
      double f = v[k - 1] > v[k] ? (v[k - 1] - vt) / (v[k - 1] - v[k]) : 1.0;
      out->time_to_threshold_s = t[k - 1] - t[0] + f * (t[k] - t[k - 1]);
      break;
    }
  double *x = malloc(3 * n * sizeof *x);
  if (!x) return nimc_err_set(err, NIMC_ENOMEM, "out of memory");
  double *xs = x + n, *y = x + 2 * n;
  size_t m = 0;
  for (size_t k = 0; k < n; k++)
    if (t[k] > t[0]) {
      x[m] = log10(t[k] - t[0]);
      xs[m] = sqrt(t[k] - t[0]);
      y[m] = v[k];
      m++;
    }
  if (m < 3) {
    free(x);
    return nimc_err_set(err, NIMC_EANALYSIS,
                        "a rest with %zu samples after its start: too few to "
                        "fit",
                        m);
  }
  linfit(x, y, m, 1, &out->slope_log_V, NULL, &out->r2_log);
  linfit(xs, y, m, 1, &out->slope_sqrt_V, NULL, &out->r2_sqrt);
  free(x);
  return NIMC_OK;
}
