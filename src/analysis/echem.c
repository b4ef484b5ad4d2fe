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
 * rest); runs of one sign with only rests between them are one
 * half-cycle (a charge interrupted by a pause is one charge, as the
 * instruments count it), and integrals run over each run's own samples,
 * so a switch adds nothing.  The charge balance, energy, ESR and
 * coulombic efficiency follow the definitions of nimc_metrics_gcd
 * (metrics.c); added here are the charge half-cycle's energy (energy
 * efficiency), the capacitance from the discharge slope, the
 * energy-equivalent (integral) capacitance and retention.  The summary
 * metrics of the table (nimc_metrics_of_cycles) are normalised by
 * nimc_metrics_normalise, the one place of those formulas.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
static int validate(const double *t, const double *v, const double *i, size_t n,
                    nimc_err *err) {
  for (size_t k = 0; k < n; k++) {
    if (!isfinite(t[k]) || (v && !isfinite(v[k])) || (i && !isfinite(i[k])))
      return nimc_err_set(err, NIMC_EDATA,
                          "sample %zu (t = %g s) is not a finite number", k + 1,
                          t[k]);
    if (k > 0 && t[k] < t[k - 1])
      return nimc_err_set(err, NIMC_EDATA,
                          "time goes backwards at sample %zu (%g s after %g "
                          "s)",
                          k + 1, t[k], t[k - 1]);
  }
  return NIMC_OK;
}

/* A half-cycle: the segments sg[s0..s1] of one sign with only rests
 * between them (a charge interrupted by a rest is one charge, as
 * instruments count it), samples a..b, nsamp of them under current. */
typedef struct half {
  size_t s0, s1, a, b, nsamp;
  int sign;
} half;

/* Trapezoid integrals of |I| dt and |I| V dt over the segments of h
 * (each over its own samples, so a switch adds nothing). */
static void integrate(const double *t, const double *v, const double *i,
                      const nimc_span *sg, half h, double *q, double *e,
                      double *e_counter) {
  double sq = 0.0, se = 0.0, sc = 0.0;
  for (size_t s = h.s0; s <= h.s1; s++) {
    if (sg[s].sign == 0) continue;
    for (size_t k = sg[s].a; k < sg[s].b; k++) {
      double dt = t[k + 1] - t[k], p1 = fabs(i[k + 1]) * v[k + 1];
      sq += 0.5 * (fabs(i[k]) + fabs(i[k + 1])) * dt;
      se += 0.5 * (fabs(i[k]) * v[k] + p1) * dt;
      sc += p1 * dt;
    }
  }
  *q = sq;
  *e = se;
  *e_counter = sc;
}

/* Least-squares line y = a + b x through n points: slope b, intercept a
 * and R^2 (NaN when x or y does not vary). */
static void linfit(const double *x, const double *y, size_t n, double *slope,
                   double *icpt, double *r2) {
  double sx = 0, sy = 0;
  for (size_t k = 0; k < n; k++) {
    sx += x[k];
    sy += y[k];
  }
  double mx = sx / (double)n, my = sy / (double)n, sxx = 0, sxy = 0, syy = 0;
  for (size_t k = 0; k < n; k++) {
    double dx = x[k] - mx, dy = y[k] - my;
    sxx += dx * dx;
    sxy += dx * dy;
    syy += dy * dy;
  }
  *slope = sxx > 0 ? sxy / sxx : NAN;
  if (icpt) *icpt = my - *slope * mx;
  if (r2) *r2 = sxx > 0 && syy > 0 ? sxy * sxy / (sxx * syy) : NAN;
}

/* Capacitance I_d / |dV/dt| from the least-squares slope of V(t) over the
 * samples of discharge h (its rests left out) whose voltage lies in the
 * middle 80 % of its window [V_end, V_start]; over all its samples when
 * fewer than 3 lie there.  Sums are taken about the first sample, so
 * large clock times lose no digits. */
static double slope_capacitance(const double *t, const double *v,
                                const nimc_span *sg, half h, double i_d) {
  double vs = v[h.a], ve = v[h.b], dv = vs - ve;
  if (!(dv > 0)) return NAN;
  double hi = vs - 0.1 * dv, lo = ve + 0.1 * dv;
  for (int pass = 0; pass < 2; pass++) {
    double n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (size_t s = h.s0; s <= h.s1; s++) {
      if (sg[s].sign == 0) continue;
      for (size_t k = sg[s].a; k <= sg[s].b; k++) {
        if (pass == 0 && (v[k] > hi || v[k] < lo)) continue;
        double x = t[k] - t[h.a], y = v[k] - ve;
        n += 1;
        sx += x;
        sy += y;
        sxx += x * x;
        sxy += x * y;
      }
    }
    if (n < 3) continue;
    double den = n * sxx - sx * sx;
    double b = den > 0 ? (n * sxy - sx * sy) / den : NAN;
    return b < 0 ? i_d / -b : NAN;
  }
  return NAN;
}

/* The values of a row that follow from its energies energy_charge_J and
 * energy_discharge_J. */
static void energy_values(nimc_gcd_cycle *row) {
  double ec = row->energy_charge_J, ed = row->energy_discharge_J;
  double vs = row->v_start_V, ve = row->v_end_V, den = vs * vs - ve * ve;
  row->energy_efficiency = row->charge.sign > 0 ? ed / ec : NAN;
  row->power_W = ed / row->discharge_time_s;
  row->capacitance_integral_F = den > 0 ? 2.0 * ed / den : NAN;
}

static const char *const energy_rule_names[] = {"trapezoid", "counter"};

const char *nimc_energy_rule_name(nimc_energy_rule r) {
  return (unsigned)r < 2 ? energy_rule_names[r] : NULL;
}

int nimc_energy_rule_of(const char *name) {
  for (int r = 0; r < 2; r++)
    if (name && !strcmp(name, energy_rule_names[r])) return r;
  return -1;
}

int nimc_gcd_cycles_set_energy_rule(nimc_gcd_cycle *c, size_t n,
                                    nimc_energy_rule r, nimc_err *err) {
  if (!nimc_energy_rule_name(r))
    return nimc_err_set(err, NIMC_EINPUT, "unknown energy rule %d", (int)r);
  for (size_t k = 0; k < n; k++) {
    int t = r == NIMC_ENERGY_TRAPEZOID;
    c[k].energy_rule = r;
    c[k].energy_charge_J =
        t ? c[k].energy_charge_trapezoid_J : c[k].energy_charge_counter_J;
    c[k].energy_discharge_J =
        t ? c[k].energy_discharge_trapezoid_J : c[k].energy_discharge_counter_J;
    energy_values(&c[k]);
  }
  return NIMC_OK;
}

/* One row: discharge d, paired with charge c when c.sign > 0. */
static void gcd_row(const double *t, const double *v, const double *i,
                    const int *fc, const nimc_span *sg, half c, half d,
                    nimc_gcd_cycle *row) {
  memset(row, 0, sizeof *row);
  if (c.sign > 0) row->charge = (nimc_span){c.a, c.b, 1};
  row->discharge = (nimc_span){d.a, d.b, -1};
  row->file_cycle = fc ? fc[d.a] : -1;
  double qd, ed, edc, qc = NAN, ec = NAN, ecc = NAN;
  integrate(t, v, i, sg, d, &qd, &ed, &edc);
  if (c.sign > 0) integrate(t, v, i, sg, c, &qc, &ec, &ecc);
  row->energy_rule = NIMC_ENERGY_TRAPEZOID;
  row->energy_charge_trapezoid_J = ec;
  row->energy_discharge_trapezoid_J = ed;
  row->energy_charge_counter_J = ecc;
  row->energy_discharge_counter_J = edc;
  /* the time under current: rests inside the discharge left out */
  double td = 0;
  for (size_t s = d.s0; s <= d.s1; s++)
    if (sg[s].sign != 0) td += t[sg[s].b] - t[sg[s].a];
  double vs = v[d.a], ve = v[d.b];
  row->charge_C = qc;
  row->energy_charge_J = ec;
  row->discharge_C = qd;
  row->energy_discharge_J = ed;
  row->capacitance_F = vs > ve ? qd / (vs - ve) : NAN;
  row->esr_ohm = NAN;
  if (d.a > 0 && i[d.a] != i[d.a - 1]) /* |dV/dI| across the switch */
    row->esr_ohm = fabs((v[d.a] - v[d.a - 1]) / (i[d.a] - i[d.a - 1]));
  row->coulombic_efficiency = c.sign > 0 ? qd / qc : NAN;
  row->discharge_time_s = td;
  row->discharge_current_A = qd / td;
  row->v_start_V = vs;
  row->v_end_V = ve;
  row->capacitance_slope_F = slope_capacitance(t, v, sg, d, qd / td);
  energy_values(row);
  row->retention = NAN;
}

/* Merge the segments into half-cycles; returns how many (<= ns). */
static size_t halves(const nimc_span *sg, size_t ns, half *h) {
  size_t m = 0;
  for (size_t s = 0; s < ns; s++) {
    if (sg[s].sign == 0) continue;
    size_t n = sg[s].b - sg[s].a + 1;
    if (m > 0 && h[m - 1].sign == sg[s].sign) { /* only rests between */
      h[m - 1].s1 = s;
      h[m - 1].b = sg[s].b;
      h[m - 1].nsamp += n;
      continue;
    }
    h[m++] = (half){s, s, sg[s].a, sg[s].b, n, sg[s].sign};
  }
  return m;
}

/* Is h full: >= 3 samples under current over a positive time? */
static int full(const double *t, half h) {
  return h.nsamp >= 3 && t[h.b] > t[h.a];
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
  half *h = malloc((ns ? ns : 1) * sizeof *h);
  nimc_gcd_cycle *rows = calloc(ns ? ns : 1, sizeof *rows);
  if (!rows || !h) {
    free(sg);
    free(h);
    free(rows);
    return nimc_err_set(err, NIMC_ENOMEM, "out of memory");
  }
  size_t nh = halves(sg, ns, h), m = 0;
  int pairs = 0, any_d = 0;
  double c_first = NAN;
  for (size_t k = 0; k < nh; k++) {
    if (h[k].sign > 0) continue;
    any_d = 1;
    if (!full(t, h[k])) continue;
    half c = {0, 0, 0, 0, 0, 0};
    if (k > 0 && full(t, h[k - 1])) c = h[k - 1];
    gcd_row(t, v, i, fc, sg, c, h[k], &rows[m]);
    rows[m].instrument_charge_C = rows[m].instrument_discharge_C = NAN;
    rows[m].instrument_energy_charge_J = NAN;
    rows[m].instrument_energy_discharge_J = NAN;
    rows[m].instrument_coulombic_efficiency = NAN;
    if (c.sign > 0) {
      rows[m].index = ++pairs;
      if (pairs == 1) c_first = rows[m].capacitance_F;
      rows[m].retention = rows[m].capacitance_F / c_first;
    }
    m++;
  }
  free(sg);
  free(h);
  if (m == 0) {
    free(rows);
    return nimc_err_set(err, NIMC_EANALYSIS,
                        any_d ? "no full discharge (current < 0 for at least 3 "
                                "samples and a positive time)"
                              : "no discharge (current < 0) in the data");
  }
  *out = rows;
  *ncycles = m;
  return NIMC_OK;
}

/* a[k], or NaN without the column */
static double at(const double *a, size_t k) {
  return a ? a[k] : NAN;
}

void nimc_gcd_cycles_instrument(const nimc_data *d, nimc_gcd_cycle *c,
                                size_t n) {
  if (!d || !c) return;
  for (size_t k = 0; k < n; k++) {
    size_t b = c[k].discharge.b, end = b;
    if (b >= d->n) continue;
    /* the efficiency is final when the file's half-cycle ends, after the
     * rest that follows the step */
    while (d->half_cycle && end + 1 < d->n &&
           d->half_cycle[end + 1] == d->half_cycle[b])
      end++;
    c[k].instrument_discharge_C = at(d->q_discharge_C, b);
    c[k].instrument_energy_discharge_J = at(d->energy_discharge_J, b);
    if (c[k].charge.sign > 0 && c[k].charge.b < d->n) {
      size_t e = c[k].charge.b;
      c[k].instrument_charge_C = at(d->q_charge_C, e);
      c[k].instrument_energy_charge_J = at(d->energy_charge_J, e);
      c[k].instrument_coulombic_efficiency = at(d->efficiency, end);
    }
  }
}

int nimc_metrics_of_cycles(const nimc_gcd_cycle *c, size_t n,
                           const nimc_norm *norm, nimc_metrics *out,
                           nimc_err *err) {
  if (!c || !out || n == 0)
    return nimc_err_set(err, NIMC_EMISUSE, "nimc_metrics_of_cycles: no cycles");
  const nimc_gcd_cycle *l = &c[n - 1], *first = NULL;
  nimc_metrics m = nimc_metrics_undefined();
  for (size_t k = 0; k < n; k++)
    if (c[k].index > 0) {
      m.ncycles++;
      if (!first) first = &c[k];
    }
  m.have_discharge = 1;
  m.have_cycle = m.ncycles > 0;
  m.cycle = l->index;
  m.capacitance_F = l->capacitance_F;
  m.energy_J = l->energy_discharge_J;
  m.power_W = l->power_W;
  m.esr_ohm = l->esr_ohm;
  m.coulombic_efficiency = l->coulombic_efficiency;
  if (m.ncycles >= 2 && l->index > 0)
    m.capacitance_retention = l->capacitance_F / first->capacitance_F;
  m.discharge_time_s = l->discharge_time_s;
  m.discharge_current_A = l->discharge_current_A;
  int rc = nimc_metrics_normalise(&m, norm, err);
  if (rc) return rc;
  *out = m;
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

int nimc_cv_sweeps(const double *v, size_t n, nimc_span **out, size_t *nsweeps,
                   nimc_err *err) {
  *out = NULL;
  *nsweeps = 0;
  if (!v || n < 2)
    return nimc_err_set(err, NIMC_EDATA, "%zu samples: at least 2 needed",
                        v ? n : 0);
  double vmin = INFINITY, vmax = -INFINITY;
  for (size_t k = 0; k < n; k++) {
    if (!isfinite(v[k]))
      return nimc_err_set(err, NIMC_EDATA,
                          "sample %zu (from 0): a voltage that is not a "
                          "finite number",
                          k);
    vmin = fmin(vmin, v[k]);
    vmax = fmax(vmax, v[k]);
  }
  nimc_span *sw = malloc(n * sizeof *sw);
  if (!sw) return nimc_err_set(err, NIMC_ENOMEM, "out of memory");
  *nsweeps = vmax > vmin ? sweeps(v, n, 0.02 * (vmax - vmin), sw) : 0;
  *out = sw;
  return NIMC_OK;
}

int nimc_cv_cycles(const double *t, const double *v, const double *i, size_t n,
                   nimc_cv_cycle **out, size_t *ncycles, nimc_err *err) {
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

int nimc_cv_b_value(const double *rate, const double *peak, size_t n, double *b,
                    double *r2, nimc_err *err) {
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
  linfit(x, y, n, b, NULL, r2);
  free(x);
  return NIMC_OK;
}

/* Current of a sweep at voltage u by linear interpolation between the
 * first pair of samples that brackets it; NaN when none does. */
static double current_at(const double *v, const double *i, size_t n, double u) {
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
    return nimc_err_set(err, NIMC_EINPUT, "the sweeps share no voltage range");
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
    double u =
        lo + (hi - lo) * (1e-9 + (1 - 2e-9) * (double)g / (double)(ng - 1));
    vg[g] = u;
    for (size_t k = 0; k < nr; k++) {
      ik[k] = current_at(volt[k], cur[k], n[k], u);
      x[k] = sqrt(rate[k]);
      y[k] = ik[k] / x[k];
    }
    linfit(x, y, nr, &k1[g], &k2[g], NULL);
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
  out->v_ref_V = v[0];
  out->time_to_threshold_s = NAN;
  double vt = threshold * v[0];
  for (size_t k = 1; k < n; k++)
    if (v[k] <= vt) {
      double f = v[k - 1] > v[k] ? (v[k - 1] - vt) / (v[k - 1] - v[k]) : 1.0;
      out->time_to_threshold_s = t[k - 1] - t[0] + f * (t[k] - t[k - 1]);
      break;
    }
  double *x = malloc(5 * n * sizeof *x);
  if (!x) return nimc_err_set(err, NIMC_ENOMEM, "out of memory");
  double *xs = x + n, *y = x + 2 * n, *xt = x + 3 * n, *yl = x + 4 * n;
  size_t m = 0;
  int positive = 1;
  for (size_t k = 0; k < n; k++)
    if (t[k] > t[0]) {
      x[m] = log10(t[k] - t[0]);
      xs[m] = sqrt(t[k] - t[0]);
      xt[m] = t[k] - t[0];
      y[m] = v[k];
      if (v[k] > 0)
        yl[m] = log(v[k]);
      else
        positive = 0;
      m++;
    }
  if (m < 3) {
    free(x);
    return nimc_err_set(err, NIMC_EANALYSIS,
                        "a rest with %zu samples after its start: too few to "
                        "fit",
                        m);
  }
  linfit(x, y, m, &out->slope_log_V, NULL, &out->r2_log);
  linfit(xs, y, m, &out->slope_sqrt_V, NULL, &out->r2_sqrt);
  out->slope_ln_per_s = out->r2_ln = NAN;
  if (positive) linfit(xt, yl, m, &out->slope_ln_per_s, NULL, &out->r2_ln);
  free(x);
  return NIMC_OK;
}

int nimc_lsv_analyze(const double *t, const double *v, const double *i,
                     size_t n, double threshold, nimc_lsv_result *out,
                     nimc_err *err) {
  if (!t || !v || !i || !out)
    return nimc_err_set(err, NIMC_EMISUSE, "nimc_lsv_analyze: NULL argument");
  if (!(threshold > 0) || !isfinite(threshold))
    return nimc_err_set(err, NIMC_EINPUT,
                        "the onset current %g A must be positive", threshold);
  int rc = validate(t, v, i, n, err);
  if (rc) return rc;
  if (n < 3 || !(t[n - 1] > t[0]) || !(fabs(v[n - 1] - v[0]) > 1e-3))
    return nimc_err_set(err, NIMC_EANALYSIS,
                        "%zu samples from %g V to %g V: not a voltage sweep",
                        n, n ? v[0] : 0.0, n ? v[n - 1] : 0.0);
  memset(out, 0, sizeof *out);
  double dir = v[n - 1] > v[0] ? 1.0 : -1.0;
  out->v_start_V = v[0];
  out->v_end_V = v[n - 1];
  out->scan_rate_V_s = fabs(v[n - 1] - v[0]) / (t[n - 1] - t[0]);
  out->threshold_A = threshold;
  out->i_start_A = i[0];
  out->i_end_A = i[n - 1];
  out->onset_V = NAN;
  for (size_t k = 0; k < n; k++) {
    if (!(dir * i[k] >= threshold)) continue;
    if (k == 0) {
      out->onset_V = v[0];
    } else {
      double a = dir * i[k - 1], b = dir * i[k];
      double f = b > a ? (threshold - a) / (b - a) : 1.0;
      out->onset_V = v[k - 1] + f * (v[k] - v[k - 1]);
    }
    break;
  }
  return NIMC_OK;
}

/* The fraction of Vmax a self-discharge runs to: <= 0 is 0.6, else it
 * must be in (0, 1) (NIMC_EINPUT). */
static int sd_fraction(double *fraction, nimc_err *err) {
  if (*fraction <= 0) *fraction = 0.6;
  if (!(*fraction < 1) || !isfinite(*fraction))
    return nimc_err_set(err, NIMC_EINPUT,
                        "the self-discharge fraction %g of Vmax must be in "
                        "(0, 1)",
                        *fraction);
  return NIMC_OK;
}

int nimc_result_self_discharge(const nimc_result *res, double fraction,
                               nimc_rest_result *out, nimc_err *err) {
  if (!res || !out)
    return nimc_err_set(err, NIMC_EMISUSE,
                        "nimc_result_self_discharge: NULL argument");
  int rc = sd_fraction(&fraction, err);
  if (rc) return rc;
  const nimc_series *v = &res->series;
  if (!res->nsteps || res->steps[res->nsteps - 1].type != NIMC_STEP_REST)
    return nimc_err_set(err, NIMC_EANALYSIS,
                        "no self-discharge: the last step is not a rest");
  if (!v->n || !v->step)
    return nimc_err_set(err, NIMC_EANALYSIS,
                        "no self-discharge: the run kept no samples");
  int last = v->step[v->n - 1];
  size_t a = v->n - 1;
  while (a > 0 && v->step[a - 1] == last)
    a--;
  double vmax = a > 0 ? v->voltage_V[a - 1] : v->voltage_V[a];
  return nimc_rest_analyze_vmax(v->time_s + a, v->voltage_V + a, v->n - a,
                                fraction, vmax, out, err);
}

int nimc_rest_analyze_vmax(const double *t, const double *v, size_t n,
                           double fraction, double vmax, nimc_rest_result *out,
                           nimc_err *err) {
  if (!t || !v || !out || !n)
    return nimc_err_set(err, NIMC_EMISUSE,
                        "nimc_rest_analyze_vmax: NULL argument or no sample");
  int rc = sd_fraction(&fraction, err);
  if (rc) return rc;
  if (!(vmax > 0) || !isfinite(vmax)) vmax = v[0];
  double v0 = v[0];
  /* the threshold as a fraction of the rest's first voltage; a rest that
   * starts at or below it is there at once */
  double f = v0 > fraction * vmax && v0 > 0 ? fraction * vmax / v0 : 0.5;
  rc = nimc_rest_analyze(t, v, n, f, out, err);
  if (rc) return rc;
  out->v_ref_V = vmax;
  if (!(v0 > fraction * vmax)) {
    out->threshold = v0 > 0 ? fraction * vmax / v0 : NAN;
    out->time_to_threshold_s = 0.0;
  }
  return NIMC_OK;
}
