/*
 * fit.c -- fitting device parameters to a measured curve: the protocol a
 * measured series followed, and the least-squares fit of named device
 * keys so that the simulated experiment reproduces the measured voltage.
 *
 * nimc_protocol_from_series reads the experiment off the data: segments of
 * constant current and rests become steps of the experiment language, a
 * segment that ended on a voltage limit "until V", any other "for D s".
 * The step lines are returned as text so the user can see and edit them.
 *
 * nimc_fit_run fits one parameter set to several observations: every
 * evaluation loads the device with the parameters as "section.key=value"
 * overrides (the same strings as `nimc run --set`), simulates the
 * experiment from the device's initial state with the public API, and
 * compares voltages at the measured times.  The parameters live on bounded
 * logarithmic coordinates (a logit of the position of ln p between ln lo
 * and ln hi), so GSL's unconstrained trust-region Levenberg-Marquardt can
 * never step outside the bounds and moves every parameter by ratios.  The
 * Jacobian is a central difference in ln p, with a step sized for the
 * solver's tolerance: a simulation is a noisy function at the level of its
 * rtol, so the simulations of a fit run at a tighter rtol than a plain run
 * and the step is 30 sqrt(rtol) (3e-3 at the fit's rtol 1e-8: at 1e-4 the
 * solver's noise already inflates J^T J and shrinks the standard errors).
 * Central, because two parameters the curve fixes only in combination
 * leave a narrow valley, and forward differences' O(h) error bends the
 * Gauss-Newton step out of it: on the 2D NIMC they put the correlation of
 * gel thickness and micropore share at 0.92 instead of 0.99, the standard
 * errors three times too small, and LM crawled.  The fit stops when the
 * Gauss-Newton step would gain less than a hundredth of the residual
 * variance (the minimum within 0.1 standard errors), not when the last
 * step gained little, which a crawl does far from the minimum.
 * Nelder-Mead (nmsimplex2) on chi2 is the derivative-free alternative for
 * curves whose residuals jump (a step that ends on a limit in one
 * simulation and on time in the next); the covariance then comes from one
 * difference Jacobian at its end.
 *
 * What does not live here: reading data files (io/), the command line
 * (app/fit.c), and the figures.  Nothing here prints.
 */
#define _POSIX_C_SOURCE 200809L
#include <gsl/gsl_blas.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_multifit_nlinear.h>
#include <gsl/gsl_multimin.h>
#include <gsl/gsl_vector.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/params.h"
#include "nimc/nimc.h"

/* ---- the protocol of a measured series -------------------------------- */

/* The defaults of nimc_protocol_opts (the header says which). */
nimc_protocol_opts nimc_protocol_opts_default(void) {
  nimc_protocol_opts o;
  memset(&o, 0, sizeof o);
  o.rel_tol = 0.02;
  return o;
}

void nimc_protocol_free(nimc_protocol *p) {
  if (!p) return;
  for (size_t k = 0; k < p->n; k++)
    free(p->lines[k]);
  free(p->lines);
  free(p->first);
  free(p->last);
  nimc_experiment_destroy(p->exp);
  memset(p, 0, sizeof *p);
}

/* NIMC_EDATA unless s has at least min samples, all finite, with time
 * that never goes backwards. */
static int check_series(const nimc_series *s, size_t min, nimc_err *err) {
  if (!s || s->n < min)
    return nimc_err_set(err, NIMC_EDATA,
                        "the measured series has %zu samples (at least %zu "
                        "needed)",
                        s ? s->n : 0, min);
  for (size_t i = 0; i < s->n; i++) {
    if (!isfinite(s->time_s[i]) || !isfinite(s->voltage_V[i]) ||
        !isfinite(s->current_A[i]))
      return nimc_err_set(err, NIMC_EDATA,
                          "sample %zu (from 0): a time, voltage or current "
                          "that is not a finite number",
                          i);
    if (i && s->time_s[i] < s->time_s[i - 1])
      return nimc_err_set(err, NIMC_EDATA,
                          "sample %zu (from 0): time goes backwards (%.10g s "
                          "after %.10g s)",
                          i, s->time_s[i], s->time_s[i - 1]);
  }
  return NIMC_OK;
}

/* qsort's order of doubles, ascending. */
static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* The noise of the voltage, from fourth differences inside segments
 * (seg[i] labels sample i): 1.4826 MAD / sqrt(70) of white noise.  Fourth
 * differences, not second, so that the curvature of a smooth, coarsely
 * sampled curve does not pass for noise. */
static double voltage_noise(const nimc_series *s, const int *seg) {
  double *d = malloc(s->n * sizeof *d);
  size_t m = 0;
  if (!d) return 0.0;
  const double *v = s->voltage_V;
  for (size_t i = 2; i + 2 < s->n; i++)
    if (seg[i - 2] >= 0 && seg[i - 2] == seg[i + 2])
      d[m++] = fabs(v[i - 2] - 4.0 * v[i - 1] + 6.0 * v[i] - 4.0 * v[i + 1] +
                    v[i + 2]);
  double sigma = 0.0;
  if (m) {
    qsort(d, m, sizeof *d, cmp_double);
    sigma = 1.4826 * d[m / 2] / sqrt(70.0);
  }
  free(d);
  return sigma;
}

/* Class of a current: 0 rest, +1 charge, -1 discharge. */
static int current_class(double I, double rest) {
  return fabs(I) <= rest ? 0 : I > 0 ? 1 : -1;
}

typedef struct segment {
  size_t first, last;
  int cls;
  double I;  /* mean current */
} segment;

/* Cut s into segments of constant current; *nseg of them in *out
 * (malloc'd). */
static int segments_find(const nimc_series *s, double rel, double rest,
                         segment **out, size_t *nseg) {
  segment *g = malloc(s->n * sizeof *g);
  if (!g) return NIMC_ENOMEM;
  size_t n = 0;
  double sum = 0.0;
  for (size_t i = 0; i < s->n; i++) {
    double I = s->current_A[i];
    int c = current_class(I, rest);
    if (n) {
      segment *q = &g[n - 1];
      double mean = sum / (double)(i - q->first);
      if (c == q->cls && (c == 0 || fabs(I - mean) <= rel * fabs(mean))) {
        q->last = i;
        sum += I;
        q->I = sum / (double)(i - q->first + 1);
        continue;
      }
    }
    g[n++] = (segment){i, i, c, I};
    sum = I;
  }
  /* a lone sample between two segments is the switch: drop it, and join
   * its neighbours when they are then one segment */
  size_t m = 0;
  for (size_t k = 0; k < n; k++) {
    if (g[k].first == g[k].last && k > 0 && k + 1 < n) continue;
    if (m && g[m - 1].cls == g[k].cls &&
        (g[k].cls == 0 || fabs(g[k].I - g[m - 1].I) <= rel * fabs(g[m - 1].I))) {
      double w0 = (double)(g[m - 1].last - g[m - 1].first + 1),
             w1 = (double)(g[k].last - g[k].first + 1);
      g[m - 1].I = (w0 * g[m - 1].I + w1 * g[k].I) / (w0 + w1);
      g[m - 1].last = g[k].last;
      continue;
    }
    g[m++] = g[k];
  }
  *out = g;
  *nseg = m;
  return NIMC_OK;
}

/* The voltage a limit-ended segment q stopped at, for its step line.
 * Without noise (sigma below 0.1 mV) its last voltage.  With noise, the
 * parabola through its last samples (at most 30) at its end, then the
 * roundest number (fewest decimals of a volt) within 2.5 standard errors
 * of that: a potentiostat's limit is a round number that the noisy last
 * sample overshoots. */
static double limit_voltage(const nimc_series *s, const segment *q,
                            double sigma) {
  double vend = s->voltage_V[q->last];
  size_t m = q->last - q->first + 1;
  if (sigma < 1e-4 || m < 6) return vend;
  if (m > 30) m = 30;
  size_t a = q->last + 1 - m;
  /* least squares in x = (t - t_end) / span: V = c0 + c1 x + c2 x^2, the
   * end value c0 and its variance sigma^2 [(X^T X)^-1]_00 */
  double span = s->time_s[q->last] - s->time_s[a];
  if (!(span > 0.0)) return vend;
  double S[5] = {0}, R[3] = {0};
  for (size_t i = a; i <= q->last; i++) {
    double x = (s->time_s[i] - s->time_s[q->last]) / span, p = 1.0;
    for (int k = 0; k < 5; k++, p *= x) {
      S[k] += p;
      if (k < 3) R[k] += p * s->voltage_V[i];
    }
  }
  double A[3][3] = {{S[0], S[1], S[2]}, {S[1], S[2], S[3]}, {S[2], S[3], S[4]}};
  double det = A[0][0] * (A[1][1] * A[2][2] - A[1][2] * A[2][1]) -
               A[0][1] * (A[1][0] * A[2][2] - A[1][2] * A[2][0]) +
               A[0][2] * (A[1][0] * A[2][1] - A[1][1] * A[2][0]);
  if (!(fabs(det) > 1e-12)) return vend;
  double inv00 = (A[1][1] * A[2][2] - A[1][2] * A[2][1]) / det;
  double inv01 = -(A[0][1] * A[2][2] - A[0][2] * A[2][1]) / det;
  double inv02 = (A[0][1] * A[1][2] - A[0][2] * A[1][1]) / det;
  double v = inv00 * R[0] + inv01 * R[1] + inv02 * R[2];
  double se = sigma * sqrt(inv00);
  for (int d = 0; d <= 6; d++) {
    double f = pow(10.0, d), r = round(v * f) / f;
    if (fabs(r - v) <= 2.5 * se) return r;
  }
  return v;
}

/* A number for a step line: 6 significant digits, no "-0". */
static void fmt_num(char *buf, size_t len, double x) {
  if (fabs(x) < 1e-300) x = 0.0;
  snprintf(buf, len, "%.6g", x);
}

int nimc_protocol_from_series(const nimc_series *s,
                              const nimc_protocol_opts *opts,
                              nimc_protocol *out, nimc_err *err) {
  nimc_protocol_opts o = opts ? *opts : nimc_protocol_opts_default();
  memset(out, 0, sizeof *out);
  int rc = check_series(s, 2, err);
  if (rc) return rc;
  if (!(o.rel_tol > 0.0 && o.rel_tol < 1.0) || !(o.rest_current_A >= 0.0) ||
      !(o.v_tol_V >= 0.0))
    return nimc_err_set(err, NIMC_EINPUT,
                        "nimc_protocol_from_series: rel_tol must be in (0, "
                        "1), rest_current_A and v_tol_V at least 0");
  double Imax = 0.0, vmin = INFINITY, vmax = -INFINITY;
  for (size_t i = 0; i < s->n; i++) {
    Imax = fmax(Imax, fabs(s->current_A[i]));
    vmin = fmin(vmin, s->voltage_V[i]);
    vmax = fmax(vmax, s->voltage_V[i]);
  }
  double rest = o.rest_current_A > 0.0 ? o.rest_current_A : 1e-3 * Imax;
  segment *g = NULL;
  size_t ng = 0;
  int *lab = NULL;
  if (segments_find(s, o.rel_tol, rest, &g, &ng) ||
      !(lab = malloc(s->n * sizeof *lab))) {
    free(g);
    return nimc_err_set(err, NIMC_ENOMEM, "out of memory");
  }
  for (size_t i = 0; i < s->n; i++)
    lab[i] = -1;
  for (size_t k = 0; k < ng; k++)
    for (size_t i = g[k].first; i <= g[k].last; i++)
      lab[i] = (int)k;
  double vtol = o.v_tol_V, sigma = voltage_noise(s, lab);
  if (vtol <= 0.0) vtol = fmax(1e-3 * (vmax - vmin), 5.0 * sigma);
  free(lab);

  out->lines = calloc(ng, sizeof *out->lines);
  out->first = malloc(ng * sizeof *out->first);
  out->last = malloc(ng * sizeof *out->last);
  if (!out->lines || !out->first || !out->last) {
    rc = nimc_err_set(err, NIMC_ENOMEM, "out of memory");
    goto fail;
  }
  for (size_t k = 0; k < ng; k++) {
    const segment *q = &g[k];
    double t0 = k ? 0.5 * (s->time_s[g[k - 1].last] + s->time_s[q->first])
                  : s->time_s[q->first];
    double t1 = k + 1 < ng
                    ? 0.5 * (s->time_s[q->last] + s->time_s[g[k + 1].first])
                    : s->time_s[q->last];
    char line[160], a[32], b[32];
    fmt_num(b, sizeof b, t1 - t0);
    if (q->cls == 0) {
      snprintf(line, sizeof line, "Rest for %s s", b);
    } else {
      /* ended on a voltage limit: the extreme of the segment in the
       * direction of its current, and the extreme of the series or the
       * end of another segment of that direction */
      double sg = q->cls, vend = s->voltage_V[q->last], ext = -INFINITY;
      for (size_t i = q->first; i <= q->last; i++)
        ext = fmax(ext, sg * s->voltage_V[i]);
      int limit = sg * vend >= ext - vtol;
      if (limit) {
        int shared = sg * vend >= (sg > 0 ? vmax : -vmin) - vtol;
        for (size_t j = 0; j < ng && !shared; j++)
          shared = j != k && g[j].cls == q->cls &&
                   fabs(s->voltage_V[g[j].last] - vend) <= vtol;
        limit = shared;
      }
      snprintf(a, sizeof a, "%.4g", fabs(q->I)); /* an instrument's digits */
      char v[32];
      fmt_num(v, sizeof v, round(limit_voltage(s, q, sigma) * 1e6) / 1e6);
      snprintf(line, sizeof line, "%s at %s A %s %s %s",
               sg > 0 ? "Charge" : "Discharge", a, limit ? "until" : "for",
               limit ? v : b, limit ? "V" : "s");
    }
    if (!(out->lines[k] = strdup(line))) {
      rc = nimc_err_set(err, NIMC_ENOMEM, "out of memory");
      goto fail;
    }
    out->first[k] = q->first;
    out->last[k] = q->last;
    out->n = k + 1;
  }
  if ((rc = nimc_experiment_parse(&out->exp, (const char *const *)out->lines,
                                  out->n, err)))
    goto fail;
  free(g);
  return NIMC_OK;
fail:
  free(g);
  out->n = ng; /* lines past the failure are NULL: free() takes them */
  nimc_protocol_free(out);
  return rc;
}

/* ---- the protocol of a cyclic voltammogram ----------------------------- */

/* The number with the fewest decimals (up to 6) within tol of v: an
 * instrument's set point is a round number the data scatter around. */
static double roundest(double v, double tol) {
  for (int d = 0; d <= 6; d++) {
    double f = pow(10.0, d), r = round(v * f) / f;
    if (fabs(r - v) <= tol) return r;
  }
  return v;
}

/* Least squares V = a + b t over samples [i0, i1] of s: *a at t = 0. */
static void line_fit(const nimc_series *s, size_t i0, size_t i1, double *a,
                     double *b) {
  double n = (double)(i1 - i0 + 1), st = 0, sv = 0, stt = 0, stv = 0;
  double t0 = s->time_s[i0];
  for (size_t i = i0; i <= i1; i++) {
    double t = s->time_s[i] - t0, v = s->voltage_V[i];
    st += t, sv += v, stt += t * t, stv += t * v;
  }
  double den = n * stt - st * st;
  *b = den > 0 ? (n * stv - st * sv) / den : 0.0;
  *a = (sv - *b * st) / n - *b * t0;
}

int nimc_protocol_from_sweeps(const nimc_series *s, nimc_protocol *out,
                              nimc_err *err) {
  memset(out, 0, sizeof *out);
  int rc = check_series(s, 2, err);
  if (rc) return rc;
  nimc_span *sw = NULL;
  size_t nsw = 0;
  if ((rc = nimc_cv_sweeps(s->voltage_V, s->n, &sw, &nsw, err))) return rc;
  /* sweeps of at least 3 samples; a short run at a turn joins neither */
  size_t m = 0;
  for (size_t k = 0; k < nsw; k++)
    if (sw[k].b >= sw[k].a + 2) sw[m++] = sw[k];
  if (!m) {
    free(sw);
    return nimc_err_set(err, NIMC_EANALYSIS,
                        "the voltage does not sweep (no run of one direction "
                        "over 2 %% of its range with 3 samples or more)");
  }
  out->lines = calloc(m, sizeof *out->lines);
  out->first = malloc(m * sizeof *out->first);
  out->last = malloc(m * sizeof *out->last);
  if (!out->lines || !out->first || !out->last) {
    rc = nimc_err_set(err, NIMC_ENOMEM, "out of memory");
    goto fail;
  }
  double vprev = 0.0;
  for (size_t k = 0; k < m; k++) {
    /* the line through the sweep's middle 80 % (its ends bend at a turn) */
    size_t a = sw[k].a, b = sw[k].b, w = (b - a) / 10;
    double c0, c1;
    line_fit(s, a + w, b - w, &c0, &c1);
    double ta = k ? 0.5 * (s->time_s[sw[k - 1].b] + s->time_s[a])
                  : s->time_s[a];
    double tb = s->time_s[b];
    /* a sweep starts where the one before turned (the potential is
     * continuous) */
    double va = k ? vprev : roundest(c0 + c1 * ta, 1e-3),
           vb = roundest(c0 + c1 * tb, 1e-3);
    vprev = vb;
    double rate = fabs(c1) * 1e3; /* mV/s, with the fewest digits within
                                     1e-3 of it (4 at most) */
    for (int d = 1; d <= 4; d++) {
      char t[32];
      snprintf(t, sizeof t, "%.*g", d, rate);
      if (fabs(atof(t) - rate) <= 1e-3 * rate || d == 4) {
        rate = atof(t);
        break;
      }
    }
    char line[160], r[32], x[32], y[32];
    snprintf(r, sizeof r, "%.4g", rate);
    fmt_num(x, sizeof x, va);
    fmt_num(y, sizeof y, vb);
    if (!(fabs(c1) > 0.0) || va == vb) {
      rc = nimc_err_set(err, NIMC_EANALYSIS,
                        "sweep %zu (samples %zu to %zu) has no slope", k + 1,
                        a, b);
      goto fail;
    }
    snprintf(line, sizeof line, "Sweep from %s V to %s V at %s mV/s", x, y,
             r);
    if (!(out->lines[k] = strdup(line))) {
      rc = nimc_err_set(err, NIMC_ENOMEM, "out of memory");
      goto fail;
    }
    out->first[k] = k ? a + 1 : a;
    out->last[k] = b;
    out->n = k + 1;
  }
  if ((rc = nimc_experiment_parse(&out->exp, (const char *const *)out->lines,
                                  out->n, err)))
    goto fail;
  free(sw);
  return NIMC_OK;
fail:
  free(sw);
  out->n = m;
  nimc_protocol_free(out);
  return rc;
}

/* ---- the device fit ---------------------------------------------------- */

/* The defaults of nimc_device_fit_opts; 0 fields get theirs in the fit. */
nimc_device_fit_opts nimc_device_fit_opts_default(void) {
  nimc_device_fit_opts o;
  memset(&o, 0, sizeof o);
  o.method = NIMC_FIT_LM;
  o.xtol = 0.0; /* 0: the method's default */
  o.gtol = 0.0;
  o.sim = nimc_sim_opts_default();
  o.sim.rtol = 1e-8;
  o.central = 1;
  return o;
}

void nimc_device_fit_result_free(nimc_device_fit_result *r) {
  if (!r) return;
  free(r->param);
  free(r->corr);
  free(r->model_V);
  free(r->residual_V);
  memset(r, 0, sizeof *r);
}

void nimc_fit_result_free(nimc_fit_result *r) {
  if (!r) return;
  for (size_t k = 0; r->obs && k < r->nobs; k++) {
    free(r->obs[k].x);
    free(r->obs[k].data);
    free(r->obs[k].model);
    free(r->obs[k].sensitivity);
  }
  free(r->obs);
  free(r->param);
  free(r->std_err_sigma);
  free(r->corr);
  memset(r, 0, sizeof *r);
}

/* The metrics an observation can name: one table.  A GCD metric is a key
 * of nimc_metric_value (in its units); spectrum: read off the simulated
 * spectrum; rest: read off the experiment's last step, a rest. */
typedef struct metric_def {
  const char *name;
  int spectrum, rest;
} metric_def;

#define GCD_METRIC(f) {#f, 0, 0}
static const metric_def metric_table[] = {
    GCD_METRIC(capacitance_F),
    GCD_METRIC(capacitance_areal_mF_cm2),
    GCD_METRIC(capacitance_volumetric_F_cm3),
    GCD_METRIC(energy_J),
    GCD_METRIC(energy_volumetric_mWh_cm3),
    GCD_METRIC(energy_areal_uWh_cm2),
    GCD_METRIC(power_W),
    GCD_METRIC(power_volumetric_W_cm3),
    GCD_METRIC(power_areal_mW_cm2),
    GCD_METRIC(esr_ohm),
    GCD_METRIC(coulombic_efficiency),
    GCD_METRIC(discharge_time_s),
    {"r_ohmic_ohm", 1, 0},
    {"r_ct_ohm", 1, 0},
    /* the time the last step, a rest, takes to fall to 0.6 Vmax, Vmax the
     * voltage the step before it ended at (last_rest_h), in hours */
    {"self_discharge_time_h", 0, 1},
};
#define NMETRICS (sizeof metric_table / sizeof metric_table[0])

const char *nimc_fit_metric_name(size_t k, int *of_spectrum) {
  if (k >= NMETRICS) return NULL;
  if (of_spectrum) *of_spectrum = metric_table[k].spectrum;
  return metric_table[k].name;
}

#define SET_MAX 256
#define DEFAULT_CIRCUIT "R0-p(R1,CPE1)-CPE2"

/* One observation during the fit. */
typedef struct obsst {
  const nimc_fit_obs *o;
  size_t off, n;        /* its block of the residuals */
  int share;            /* the earlier observation whose simulation this one
                           reads, or -1 */
  const metric_def *metric;
  double sigma;         /* resolved (> 0) */
  double span;          /* VOLTAGE, CURRENT: the measured range, the
                           residual of a failed simulation */
  nimc_sim_opts sim;    /* its simulations' options */
  /* VOLTAGE: the measured segments, each compared with its own step */
  segment *seg;
  size_t nseg;
  int *seglab;          /* n: each sample's segment, -1 none */
  size_t *sa, *sb;      /* nseg: a simulated step's first and last sample */
  double rest;          /* a rest's current bound (A) */
  /* the last evaluation */
  double *model;        /* n */
  size_t held;
  int by_step, not_steady, failed;
  nimc_metrics mt;      /* METRIC of a GCD metric */
  double rest_h;        /* and the self-discharge time of its last step */
  nimc_spectrum spec;   /* IMPEDANCE, METRIC of a spectrum */
  const double *freq;   /* its frequencies */
  size_t nfreq;
  double *own_freq;     /* the default frequencies, when they are */
} obsst;

/* Everything an evaluation needs. */
typedef struct fitctx {
  const nimc_fit_param *par;
  nimc_fit_value *val;  /* units and bounds as used */
  size_t np, n, nobs;
  obsst *ob;
  const nimc_device_fit_opts *o;
  const char **sets;    /* scratch: an observation's overrides, then the
                           parameters' */
  size_t maxsets;
  char (*setbuf)[SET_MAX];
  double *p;            /* np values, scratch */
  double *rcache;       /* n, weighted residuals at ucache */
  double *ucache;       /* np */
  int have_cache;
  double *rtmp;         /* n */
  int last_failed;      /* a simulation of the last evaluation failed */
  long sims, failed;
  nimc_err first_err;   /* why the first failed simulation failed */
  int stop;             /* the progress callback asked to stop */
} fitctx;

/* Parameter k's value at fit coordinate u, and back. */
static double to_value(const fitctx *c, size_t k, double u) {
  double l = log(c->val[k].lo), h = log(c->val[k].hi);
  return exp(l + (h - l) / (1.0 + exp(-u)));
}
static double to_coord(const fitctx *c, size_t k, double v) {
  double l = log(c->val[k].lo), h = log(c->val[k].hi);
  double w = (log(v) - l) / (h - l);
  w = fmin(fmax(w, 1e-9), 1.0 - 1e-9); /* a start on a bound: just inside */
  return log(w / (1.0 - w));
}
/* d ln p / du at u. */
static double dlnp_du(const fitctx *c, size_t k, double u) {
  double l = log(c->val[k].lo), h = log(c->val[k].hi);
  double sg = 1.0 / (1.0 + exp(-u));
  return (h - l) * sg * (1.0 - sg);
}

/* The overrides of observation o with the parameter values p: its fixed
 * ones, then "key=value unit" for each parameter; their count. */
static size_t make_sets(fitctx *c, const nimc_fit_obs *o, const double *p) {
  for (size_t k = 0; k < o->nsets; k++)
    c->sets[k] = o->sets[k];
  for (size_t k = 0; k < c->np; k++) {
    const char *u = c->val[k].unit;
    snprintf(c->setbuf[k], SET_MAX, "%s=%.12g %s", c->par[k].key, p[k],
             strcmp(u, "1") ? u : "");
    c->sets[o->nsets + k] = c->setbuf[k];
  }
  return o->nsets + c->np;
}

/* Index of the sample of sim series sv in [a, b] at or before t (the
 * samples' times ascending). */
static size_t locate(const nimc_series *sv, size_t a, size_t b, double t) {
  while (b - a > 1) {
    size_t m = a + (b - a) / 2;
    if (sv->time_s[m] <= t)
      a = m;
    else
      b = m;
  }
  return a;
}

/* The model's value y (voltage or current of sv) at measured time t by
 * time alone: within the simulated step that holds t, never across a
 * switch (at a switch, within tie, the step whose current is nearer the
 * measured current Im); after the end, the last value (*held set). */
static double model_by_time(const nimc_series *sv, const double *y, double t,
                            double Im, double tie, int *held) {
  size_t n = sv->n, a = 0, b = 0;
  *held = 0;
  if (t > sv->time_s[n - 1] + tie) {
    *held = 1;
    return y[n - 1];
  }
  /* the step whose samples a..b hold t (steps are contiguous runs) */
  size_t j = locate(sv, 0, n - 1, t);
  a = b = j;
  while (a > 0 && sv->step[a - 1] == sv->step[j])
    a--;
  while (b + 1 < n && sv->step[b + 1] == sv->step[j])
    b++;
  if (b + 1 < n && sv->time_s[b + 1] - t <= tie &&
      fabs(sv->current_A[b + 1] - Im) < fabs(sv->current_A[b] - Im))
    return y[b + 1];
  if (a > 0 && t - sv->time_s[a - 1] <= tie &&
      fabs(sv->current_A[a - 1] - Im) < fabs(sv->current_A[a] - Im))
    return y[a - 1];
  if (j >= b) return y[b];
  double dt = sv->time_s[j + 1] - sv->time_s[j];
  double w = dt > 0 ? (t - sv->time_s[j]) / dt : 1.0;
  return (1.0 - w) * y[j] + w * y[j + 1];
}

/* The model voltage at time t within the simulated samples a..b of one
 * step: interpolated inside, held at the step's first or last voltage
 * outside (*held set). */
static double model_in_step(const nimc_series *sv, size_t a, size_t b,
                            double t, int *held) {
  *held = t < sv->time_s[a] || t > sv->time_s[b];
  if (t <= sv->time_s[a]) return sv->voltage_V[a];
  if (t >= sv->time_s[b]) return sv->voltage_V[b];
  size_t j = locate(sv, a, b, t);
  double dt = sv->time_s[j + 1] - sv->time_s[j];
  double w = dt > 0 ? (t - sv->time_s[j]) / dt : 1.0;
  return (1.0 - w) * sv->voltage_V[j] + w * sv->voltage_V[j + 1];
}

/* The model at the measured times of observation s (VOLTAGE or CURRENT)
 * from the simulated series sv into s->model (see nimc_device_fit).  A
 * voltage is compared step by step when the simulation has one step per
 * measured segment, of the same kinds; else, and always for a current, by
 * time. */
static void model_at_times(obsst *s, const nimc_series *sv) {
  const nimc_series *m = s->o->series;
  int volt = s->o->kind == NIMC_OBS_VOLTAGE;
  double t0 = m->time_s[0];
  double tie = 1e-9 * (m->time_s[m->n - 1] - t0);
  s->held = 0;
  s->by_step = 0;
  if (!sv->n) {
    for (size_t i = 0; i < s->n; i++)
      s->model[i] = NAN;
    s->held = s->n;
    return;
  }
  /* the simulated steps, as runs of sv->step */
  size_t k = 0, ok = volt;
  for (size_t i = 0; i < sv->n && ok; i++) {
    if (i && sv->step[i] == sv->step[i - 1]) {
      s->sb[k - 1] = i;
      continue;
    }
    if (k == s->nseg) {
      ok = 0;
      break;
    }
    s->sa[k] = s->sb[k] = i;
    ok = current_class(sv->current_A[i], s->rest) == s->seg[k].cls;
    k++;
  }
  s->by_step = ok && k == s->nseg;
  const double *y = volt ? sv->voltage_V : sv->current_A;
  for (size_t i = 0; i < s->n; i++) {
    double t = m->time_s[i] - t0;
    int held, g = s->seglab ? s->seglab[i] : -1;
    if (s->by_step && g >= 0)
      s->model[i] = model_in_step(sv, s->sa[g], s->sb[g], t, &held);
    else
      s->model[i] = model_by_time(sv, y, t, m->current_A[i], tie, &held);
    s->held += (size_t)held;
  }
}

/* A simulation of observation s failed: count it, keep the first reason. */
static void sim_failed(fitctx *c, obsst *s, int code, const char *msg) {
  s->failed = 1;
  c->last_failed = 1;
  c->failed++;
  if (!c->first_err.msg[0])
    nimc_err_set(&c->first_err, code, "%s: %s", s->o->name, msg);
}

/* Load the device of s with the parameter values p and create its
 * simulation; 0, or -1 after sim_failed. */
static int sim_open(fitctx *c, obsst *s, const double *p, nimc_device **dev,
                    nimc_sim **sim) {
  nimc_err err;
  size_t ns = make_sets(c, s->o, p);
  c->sims++;
  int rc = nimc_device_load(dev, s->o->device, c->sets, ns, &err);
  if (!rc) rc = nimc_sim_create(sim, *dev, &s->sim, &err);
  if (rc) sim_failed(c, s, rc, err.msg);
  return rc ? -1 : 0;
}

/* The simulated spectrum of s into s->spec (after s->o->exp, else at rest
 * in the initial state); 0 or -1. */
static int simulate_spectrum(fitctx *c, obsst *s, const double *p) {
  nimc_device *dev = NULL;
  nimc_sim *sim = NULL;
  nimc_result res;
  memset(&res, 0, sizeof res);
  nimc_spectrum_free(&s->spec);
  int rc = sim_open(c, s, p, &dev, &sim);
  if (!rc) {
    int e = s->o->exp ? nimc_sim_run(sim, s->o->exp, &res)
                      : nimc_sim_at_rest(sim);
    if (!e) e = nimc_sim_impedance(sim, s->freq, s->nfreq, &s->spec, NULL);
    if (e) {
      sim_failed(c, s, e, nimc_sim_errmsg(sim));
      rc = -1;
    }
  }
  nimc_result_free(&res);
  nimc_sim_destroy(sim);
  nimc_device_destroy(dev);
  return rc;
}

/* The self-discharge time (h) of the last step of res when it is a rest:
 * from its start to 0.6 Vmax (nimc_result_self_discharge); NaN when it is
 * not a rest or the voltage does not fall that far. */
static double last_rest_h(const nimc_result *res) {
  nimc_rest_result rr;
  nimc_err err;
  if (nimc_result_self_discharge(res, 0.6, &rr, &err)) return NAN;
  return rr.time_to_threshold_s / 3600.0;
}

/* The GCD metrics of s into s->mt, and the self-discharge time of its
 * last step into s->rest_h; 0 or -1. */
static int simulate_metrics(fitctx *c, obsst *s, const double *p) {
  nimc_device *dev = NULL;
  nimc_sim *sim = NULL;
  nimc_result res;
  memset(&res, 0, sizeof res);
  s->mt = nimc_metrics_undefined();
  s->rest_h = NAN;
  s->not_steady = 0;
  int rc = sim_open(c, s, p, &dev, &sim);
  if (!rc) {
    nimc_norm norm = {nimc_device_footprint_area_m2(dev),
                      nimc_device_norm_thickness_m(dev)};
    int e;
    if (s->o->until_steady) {
      nimc_steady_info info;
      e = nimc_sim_run_until_steady(sim, s->o->exp, NULL, &norm, &res, &info);
      if (e >= 0) s->mt = info.metrics;
      if (e == NIMC_NOTSTEADY) s->not_steady = 1, e = 0;
      if (e) sim_failed(c, s, e, nimc_sim_errmsg(sim));
    } else {
      nimc_err err;
      e = nimc_sim_run(sim, s->o->exp, &res);
      if (e) {
        sim_failed(c, s, e, nimc_sim_errmsg(sim));
      } else {
        s->rest_h = last_rest_h(&res);
        /* a rest metric needs no discharge to measure */
        if ((e = nimc_metrics_gcd_result(&res, &norm, &s->mt, &err)) &&
            s->metric->rest)
          e = 0, s->mt = nimc_metrics_undefined();
        else if (e)
          sim_failed(c, s, e, err.msg);
      }
    }
    rc = e ? -1 : 0;
  }
  nimc_result_free(&res);
  nimc_sim_destroy(sim);
  nimc_device_destroy(dev);
  return rc;
}

/* The metric of s from its (or its sharer's) simulation; NaN when there
 * is none. */
static double metric_value(fitctx *c, obsst *s) {
  const obsst *src = s->share >= 0 ? &c->ob[s->share] : s;
  if (src->failed) return NAN;
  if (s->metric->rest) return src->rest_h;
  if (!s->metric->spectrum)
    return nimc_metric_value(&src->mt, s->metric->name);
  if (!strcmp(s->metric->name, "r_ohmic_ohm"))
    return nimc_spectrum_r_ohmic(&src->spec);
  /* r_ct_ohm: the circuit fitted to the simulated spectrum, as `nimc eis`
   * and `nimc reproduce` fit it (multi-start, seeded) */
  nimc_circuit *circ = NULL;
  nimc_fit fit;
  memset(&fit, 0, sizeof fit);
  nimc_err err;
  double v = NAN;
  nimc_fit_opts fo = nimc_fit_opts_default();
  fo.global = 1;
  fo.seed = 1;
  const char *text = s->o->circuit ? s->o->circuit : DEFAULT_CIRCUIT;
  int rc = nimc_circuit_parse(&circ, text, &err);
  if (!rc) rc = nimc_circuit_fit(circ, &src->spec, &fo, &fit, &err);
  if (!rc) {
    int k = nimc_circuit_rct_index(circ);
    if (k >= 0) v = fit.p[k];
  } else {
    sim_failed(c, s, rc, err.msg);
  }
  nimc_fit_free(&fit);
  nimc_circuit_destroy(circ);
  return v;
}

/* Simulate observation s with the parameter values p (unless it shares
 * an earlier observation's simulation) and write its weighted residuals
 * into r (its block) and its model values into s->model. */
static void evaluate_obs(fitctx *c, obsst *s, const double *p, double *r) {
  const nimc_fit_obs *o = s->o;
  s->failed = 0;
  if (o->kind == NIMC_OBS_VOLTAGE || o->kind == NIMC_OBS_CURRENT) {
    nimc_device *dev = NULL;
    nimc_sim *sim = NULL;
    nimc_result res;
    memset(&res, 0, sizeof res);
    if (!sim_open(c, s, p, &dev, &sim)) {
      int e = nimc_sim_run(sim, o->exp, &res);
      if (e) sim_failed(c, s, e, nimc_sim_errmsg(sim));
    }
    model_at_times(s, &res.series);
    nimc_result_free(&res);
    nimc_sim_destroy(sim);
    nimc_device_destroy(dev);
    const nimc_series *m = o->series;
    const double *y = o->kind == NIMC_OBS_VOLTAGE ? m->voltage_V : m->current_A;
    for (size_t i = 0; i < s->n; i++) {
      double d = isfinite(s->model[i]) ? s->model[i] - y[i] : s->span;
      r[i] = d / (o->sigma_pt ? o->sigma_pt[i] : s->sigma);
    }
    return;
  }
  int spectrum = o->kind == NIMC_OBS_IMPEDANCE || s->metric->spectrum;
  if (s->share < 0) {
    if (spectrum)
      simulate_spectrum(c, s, p);
    else
      simulate_metrics(c, s, p);
  }
  if (o->kind == NIMC_OBS_IMPEDANCE) {
    const nimc_spectrum *z = &(s->share >= 0 ? &c->ob[s->share] : s)->spec;
    const nimc_spectrum *d = o->spectrum;
    size_t nf = d->n;
    int ok = !(s->share >= 0 ? c->ob[s->share].failed : s->failed) &&
             z->n == nf;
    for (size_t i = 0; i < nf; i++) {
      double mod = hypot(d->z_re_ohm[i], d->z_im_ohm[i]) * s->sigma;
      s->model[i] = ok ? z->z_re_ohm[i] : NAN;
      s->model[nf + i] = ok ? z->z_im_ohm[i] : NAN;
      r[i] = ok ? (z->z_re_ohm[i] - d->z_re_ohm[i]) / mod : 1.0 / s->sigma;
      r[nf + i] = ok ? (z->z_im_ohm[i] - d->z_im_ohm[i]) / mod : 1.0 / s->sigma;
    }
    return;
  }
  double v = metric_value(c, s);
  s->model[0] = v;
  r[0] = isfinite(v) ? (v / o->value - 1.0) / s->sigma : -1.0 / s->sigma;
}

/* Simulate every observation with the parameter values p and write the
 * weighted residuals into r (n). */
static void evaluate(fitctx *c, const double *p, double *r) {
  c->last_failed = 0;
  for (size_t k = 0; k < c->nobs; k++)
    evaluate_obs(c, &c->ob[k], p, r + c->ob[k].off);
}

/* Residuals at fit coordinates u (cached: the LM asks for the Jacobian
 * where it has just evaluated). */
static void eval_u(fitctx *c, const double *u, double *r) {
  if (c->have_cache && !memcmp(u, c->ucache, c->np * sizeof *u)) {
    memcpy(r, c->rcache, c->n * sizeof *r);
    return;
  }
  for (size_t k = 0; k < c->np; k++)
    c->p[k] = to_value(c, k, u[k]);
  evaluate(c, c->p, r);
  memcpy(c->ucache, u, c->np * sizeof *u);
  memcpy(c->rcache, r, c->n * sizeof *r);
  c->have_cache = 1;
}
/* The difference Jacobian of the weighted residuals in u at u (residuals
 * r0 there) into J (n x np): forward differences in ln p, or central ones
 * (two simulations a parameter, error O(h^2) instead of O(h): in a narrow
 * valley the forward differences' O(h) error bends the Gauss-Newton step
 * and Levenberg-Marquardt crawls). */
static void jacobian(fitctx *c, const double *u, const double *r0,
                     gsl_matrix *J) {
  double h = c->o->fd_step;
  double *p = malloc(c->np * sizeof *p), *rm = malloc(c->n * sizeof *rm);
  if (!p || !rm) {
    free(p);
    free(rm);
    gsl_matrix_set_zero(J);
    return;
  }
  for (size_t k = 0; k < c->np; k++)
    p[k] = to_value(c, k, u[k]);
  for (size_t k = 0; k < c->np; k++) {
    double pk = p[k], s = dlnp_du(c, k, u[k]);
    int central = c->o->central && pk * exp(h) <= c->val[k].hi &&
                  pk * exp(-h) >= c->val[k].lo;
    if (central) {
      p[k] = pk * exp(h);
      evaluate(c, p, c->rtmp);
      p[k] = pk * exp(-h);
      evaluate(c, p, rm);
      for (size_t i = 0; i < c->n; i++)
        gsl_matrix_set(J, i, k, (c->rtmp[i] - rm[i]) * s / (2.0 * h));
    } else {
      double hk = pk * exp(h) <= c->val[k].hi ? h : -h;
      p[k] = pk * exp(hk);
      evaluate(c, p, c->rtmp);
      for (size_t i = 0; i < c->n; i++)
        gsl_matrix_set(J, i, k, (c->rtmp[i] - r0[i]) * s / hk);
    }
    p[k] = pk;
  }
  free(p);
  free(rm);
}

/* GSL's residual callback: the weighted residuals at x. */
static int gsl_f(const gsl_vector *x, void *user, gsl_vector *f) {
  fitctx *c = user;
  eval_u(c, x->data, c->rtmp);
  for (size_t i = 0; i < c->n; i++)
    gsl_vector_set(f, i, c->rtmp[i]);
  return GSL_SUCCESS;
}

/* GSL's Jacobian callback: differences around x (its residuals cached). */
static int gsl_df(const gsl_vector *x, void *user, gsl_matrix *J) {
  fitctx *c = user;
  double *r0 = malloc(c->n * sizeof *r0);
  if (!r0) return GSL_ENOMEM;
  eval_u(c, x->data, r0);
  jacobian(c, x->data, r0, J);
  free(r0);
  return GSL_SUCCESS;
}

/* Sum of the squares of r[0..n). */
static double sumsq(const double *r, size_t n) {
  double s = 0.0;
  for (size_t i = 0; i < n; i++)
    s += r[i] * r[i];
  return s;
}

/* The simplex's objective: chi2 at x. */
static double gsl_chi2(const gsl_vector *x, void *user) {
  fitctx *c = user;
  eval_u(c, x->data, c->rtmp);
  return sumsq(c->rtmp, c->n);
}

/* Report an iteration; sets c->stop when the caller wants to stop. */
static void report(fitctx *c, int iter, const double *u, double chi2) {
  if (!c->o->progress) return;
  double *p = malloc(c->np * sizeof *p);
  if (!p) return;
  for (size_t k = 0; k < c->np; k++)
    p[k] = to_value(c, k, u[k]);
  if (c->o->progress(c->o->progress_user, iter, chi2, p, c->np)) c->stop = 1;
  free(p);
}

/* g^T (J^T J)^-1 g with g = J^T r: the decrease of chi2 = r^T r that a
 * Gauss-Newton step would bring, if the problem were linear; NaN when
 * J^T J is singular. */
static double gn_decrease(const gsl_matrix *J, const gsl_vector *r) {
  size_t np = J->size2;
  gsl_matrix *H = gsl_matrix_alloc(np, np);
  gsl_vector *g = gsl_vector_alloc(np), *x = gsl_vector_alloc(np);
  double dec = NAN;
  if (H && g && x) {
    gsl_blas_dgemm(CblasTrans, CblasNoTrans, 1.0, J, J, 0.0, H);
    gsl_blas_dgemv(CblasTrans, 1.0, J, r, 0.0, g);
    if (!gsl_linalg_cholesky_decomp1(H) && !gsl_linalg_cholesky_solve(H, g, x))
      gsl_blas_ddot(g, x, &dec);
  }
  gsl_matrix_free(H);
  gsl_vector_free(g);
  gsl_vector_free(x);
  return dec;
}

/* LM from u (updated in place); J (n x np) receives the Jacobian at the
 * end. */
static int run_lm(fitctx *c, gsl_vector *u, gsl_matrix *J,
                  nimc_fit_result *out) {
  const nimc_device_fit_opts *o = c->o;
  gsl_multifit_nlinear_parameters fp =
      gsl_multifit_nlinear_default_parameters();
  fp.trs = o->accel ? gsl_multifit_nlinear_trs_lmaccel
                    : gsl_multifit_nlinear_trs_lm;
  fp.scale = gsl_multifit_nlinear_scale_more;
  gsl_multifit_nlinear_workspace *w =
      gsl_multifit_nlinear_alloc(gsl_multifit_nlinear_trust, &fp, c->n, c->np);
  if (!w) return NIMC_ENOMEM;
  gsl_multifit_nlinear_fdf fdf;
  memset(&fdf, 0, sizeof fdf);
  fdf.f = gsl_f;
  fdf.df = gsl_df;
  fdf.fvv = NULL;
  fdf.n = c->n;
  fdf.p = c->np;
  fdf.params = c;
  gsl_multifit_nlinear_init(u, &fdf, w);
  int it = 0, info = 0;
  snprintf(out->reason, sizeof out->reason, "iteration limit (%d) reached",
           o->max_iter);
  for (it = 1; it <= o->max_iter; it++) {
    int st = gsl_multifit_nlinear_iterate(w);
    double chi = gsl_blas_dnrm2(gsl_multifit_nlinear_residual(w));
    /* the residual variance; with as many parameters as residuals (one
     * target, one parameter) none is left to estimate it: the stated
     * sigmas' (1), else the test below would stop at once */
    double chi2 = chi * chi,
           s2 = c->n > c->np ? chi2 / (double)(c->n - c->np) : 1.0;
    report(c, it, gsl_multifit_nlinear_position(w)->data, chi2);
    if (st == GSL_ENOPROG) {
      snprintf(out->reason, sizeof out->reason,
               "no step lowers chi2 any more (converged to the solver's "
               "noise)");
      out->converged = 1;
      break;
    }
    if (st) {
      snprintf(out->reason, sizeof out->reason, "GSL: %s", gsl_strerror(st));
      break;
    }
    if (c->stop) {
      snprintf(out->reason, sizeof out->reason, "interrupted");
      break;
    }
    if (gsl_multifit_nlinear_test(o->xtol, o->gtol, 0.0, &info, w) ==
        GSL_SUCCESS) {
      snprintf(out->reason, sizeof out->reason, "%s",
               info == 1 ? "small step (xtol)" : "small gradient (gtol)");
      out->converged = 1;
      break;
    }
    /* the Gauss-Newton step from here would lower chi2 by less than
     * chi2_tol residual variances: the minimum of the linearised problem
     * is within sqrt(chi2_tol) standard errors.  (Not the decrease the
     * last step achieved: in a curved valley LM crawls, each step small,
     * far from the minimum.) */
    double dec = gn_decrease(gsl_multifit_nlinear_jac(w),
                             gsl_multifit_nlinear_residual(w));
    if (!st && isfinite(dec) && dec < o->chi2_tol * s2) {
      snprintf(out->reason, sizeof out->reason,
               "within %.2g standard errors of the minimum",
               sqrt(o->chi2_tol));
      out->converged = 1;
      break;
    }
  }
  out->iterations = it > o->max_iter ? o->max_iter : it;
  gsl_vector_memcpy(u, gsl_multifit_nlinear_position(w));
  gsl_matrix_memcpy(J, gsl_multifit_nlinear_jac(w));
  gsl_multifit_nlinear_free(w);
  return NIMC_OK;
}

/* Nelder-Mead from u (updated in place), then the Jacobian there. */
static int run_simplex(fitctx *c, gsl_vector *u, gsl_matrix *J,
                       nimc_fit_result *out) {
  const nimc_device_fit_opts *o = c->o;
  gsl_multimin_function fn = {gsl_chi2, c->np, c};
  gsl_vector *step = gsl_vector_alloc(c->np);
  gsl_multimin_fminimizer *m =
      gsl_multimin_fminimizer_alloc(gsl_multimin_fminimizer_nmsimplex2, c->np);
  if (!step || !m) {
    gsl_vector_free(step);
    gsl_multimin_fminimizer_free(m);
    return NIMC_ENOMEM;
  }
  gsl_vector_set_all(step, 0.5);
  gsl_multimin_fminimizer_set(m, &fn, u, step);
  int it;
  snprintf(out->reason, sizeof out->reason, "iteration limit (%d) reached",
           o->max_iter);
  for (it = 1; it <= o->max_iter; it++) {
    int st = gsl_multimin_fminimizer_iterate(m);
    report(c, it, gsl_multimin_fminimizer_x(m)->data,
           gsl_multimin_fminimizer_minimum(m));
    if (st) {
      snprintf(out->reason, sizeof out->reason, "GSL: %s", gsl_strerror(st));
      break;
    }
    if (c->stop) {
      snprintf(out->reason, sizeof out->reason, "interrupted");
      break;
    }
    if (gsl_multimin_test_size(gsl_multimin_fminimizer_size(m), o->xtol) ==
        GSL_SUCCESS) {
      snprintf(out->reason, sizeof out->reason,
               "simplex smaller than xtol in the fit coordinates");
      out->converged = 1;
      break;
    }
  }
  out->iterations = it > o->max_iter ? o->max_iter : it;
  gsl_vector_memcpy(u, gsl_multimin_fminimizer_x(m));
  gsl_multimin_fminimizer_free(m);
  gsl_vector_free(step);
  double *r0 = malloc(c->n * sizeof *r0);
  if (!r0) return NIMC_ENOMEM;
  eval_u(c, u->data, r0);
  jacobian(c, u->data, r0, J);
  free(r0);
  return NIMC_OK;
}

/* Do observations a and b load the same device with the same overrides? */
static int same_device(const nimc_fit_obs *a, const nimc_fit_obs *b) {
  if (strcmp(a->device, b->device) || a->nsets != b->nsets) return 0;
  for (size_t k = 0; k < a->nsets; k++)
    if (strcmp(a->sets[k], b->sets[k])) return 0;
  return 1;
}

/* Check and complete the parameters into c->val; NIMC_EINPUT with the key
 * named on a bad one. */
static int setup_params(fitctx *c, nimc_err *err) {
  const nimc_fit_obs *o0 = c->ob[0].o;
  for (size_t k = 0; k < c->np; k++) {
    const nimc_fit_param *q = &c->par[k];
    nimc_fit_value *v = &c->val[k];
    char si[32];
    double dv;
    if (!q->key)
      return nimc_err_set(err, NIMC_EINPUT, "parameter %zu has no key", k + 1);
    for (size_t j = 0; j < k; j++)
      if (!strcmp(c->par[j].key, q->key))
        return nimc_err_set(err, NIMC_EINPUT, "parameter '%s' given twice",
                            q->key);
    nimc_err e2;
    int rc = nimc_device_param(o0->device, o0->sets, o0->nsets, q->key, &dv,
                               si, sizeof si, &e2);
    if (rc)
      return nimc_err_set(err, rc == NIMC_EIO ? NIMC_EIO : NIMC_EINPUT,
                          "parameter '%s': %s", q->key, e2.msg);
    snprintf(v->unit, sizeof v->unit, "%s",
             q->unit && *q->unit ? q->unit : si);
    v->lo = q->lo;
    v->hi = q->hi;
    v->start = isnan(q->start) ? dv : q->start;
    if (!(isfinite(v->lo) && isfinite(v->hi) && v->lo > 0.0 && v->hi > v->lo))
      return nimc_err_set(err, NIMC_EINPUT,
                          "parameter '%s': bounds %g..%g: need 0 < lo < hi "
                          "(the fit works on logarithms)",
                          q->key, v->lo, v->hi);
    if (!(v->start >= v->lo && v->start <= v->hi))
      return nimc_err_set(err, NIMC_EINPUT,
                          "parameter '%s': start %g %s is outside its bounds "
                          "%g..%g",
                          q->key, v->start, v->unit, v->lo, v->hi);
  }
  /* every device must accept both bounds of every parameter */
  for (size_t b = 0; b < c->nobs; b++) {
    const nimc_fit_obs *o = c->ob[b].o;
    size_t a = 0;
    while (a < b && !same_device(c->ob[a].o, o))
      a++;
    if (a < b) continue;
    for (size_t k = 0; k < c->np; k++) {
      for (int side = 0; side < 2; side++) {
        for (size_t j = 0; j < c->np; j++)
          c->p[j] = c->val[j].start;
        c->p[k] = side ? c->val[k].hi : c->val[k].lo;
        size_t ns = make_sets(c, o, c->p);
        nimc_device *dev = NULL;
        nimc_err e2;
        int rc = nimc_device_load(&dev, o->device, c->sets, ns, &e2);
        nimc_device_destroy(dev);
        if (rc)
          return nimc_err_set(err, NIMC_EINPUT,
                              "parameter '%s': the %s bound %g %s is not "
                              "accepted by the device: %s",
                              c->par[k].key, side ? "upper" : "lower",
                              c->p[k], c->val[k].unit, e2.msg);
      }
    }
  }
  return NIMC_OK;
}

/* Fill the statistics of out from the Jacobian J at u. */
static int statistics(fitctx *c, const gsl_vector *u, const gsl_matrix *J,
                      nimc_fit_result *out) {
  size_t np = c->np;
  gsl_matrix *cov = gsl_matrix_alloc(np, np);
  if (!cov) return NIMC_ENOMEM;
  gsl_multifit_nlinear_covar(J, 0.0, cov);
  double s2 = c->n > np ? out->chi2 / (double)(c->n - np) : NAN;
  for (size_t k = 0; k < np; k++) {
    double ckk = gsl_matrix_get(cov, k, k);
    double d = dlnp_du(c, k, gsl_vector_get(u, k)), pk = out->param[k].value;
    double se_ln = d * sqrt(s2 * ckk), se0 = d * sqrt(ckk);
    out->param[k].std_err = isfinite(se_ln) && ckk > 0 ? pk * se_ln : NAN;
    out->std_err_sigma[k] = isfinite(se0) && ckk > 0 ? pk * se0 : NAN;
    for (size_t j = 0; j < np; j++) {
      double dd = sqrt(ckk * gsl_matrix_get(cov, j, j));
      out->corr[k * np + j] =
          dd > 0 && isfinite(dd) ? gsl_matrix_get(cov, k, j) / dd : NAN;
    }
  }
  gsl_matrix_free(cov);
  /* the metrics' sensitivities: r = (m / value - 1) / sigma, so
   * d ln m / d ln p_k = J_ik value sigma / (m dlnp_du_k) */
  for (size_t b = 0; b < c->nobs; b++) {
    obsst *s = &c->ob[b];
    nimc_fit_obs_result *ro = &out->obs[b];
    if (s->o->kind != NIMC_OBS_METRIC) continue;
    if (!(ro->sensitivity = malloc(np * sizeof *ro->sensitivity)))
      return NIMC_ENOMEM;
    for (size_t k = 0; k < np; k++)
      ro->sensitivity[k] = gsl_matrix_get(J, s->off, k) * s->o->value *
                           s->sigma /
                           (s->model[0] * dlnp_du(c, k, gsl_vector_get(u, k)));
  }
  return NIMC_OK;
}

/* Check observation k and set up its state s (block at *off). */
static int setup_obs(fitctx *c, size_t k, obsst *s, size_t *off,
                     nimc_err *err) {
  const nimc_fit_obs *o = s->o;
  const nimc_device_fit_opts *op = c->o;
  s->share = -1;
  s->sigma = o->sigma > 0.0 ? o->sigma : 1.0;
  s->sim = op->sim;
  if (!o->device)
    return nimc_err_set(err, NIMC_EINPUT, "%s: no device", o->name);
  if (!isfinite(s->sigma))
    return nimc_err_set(err, NIMC_EINPUT, "%s: sigma %g is not finite",
                        o->name, o->sigma);
  switch (o->kind) {
  case NIMC_OBS_VOLTAGE:
  case NIMC_OBS_CURRENT: {
    const nimc_series *m = o->series;
    int rc;
    if (!m || !o->exp)
      return nimc_err_set(err, NIMC_EINPUT,
                          "%s: a curve needs the measured series and the "
                          "experiment",
                          o->name);
    if ((rc = check_series(m, 2, err))) return rc;
    if (!nimc_experiment_nsteps(o->exp))
      return nimc_err_set(err, NIMC_EINPUT, "%s: the experiment has no steps",
                          o->name);
    s->n = m->n;
    const double *y =
        o->kind == NIMC_OBS_VOLTAGE ? m->voltage_V : m->current_A;
    double lo = INFINITY, hi = -INFINITY, Imax = 0.0;
    for (size_t i = 0; i < m->n; i++) {
      lo = fmin(lo, y[i]);
      hi = fmax(hi, y[i]);
      Imax = fmax(Imax, fabs(m->current_A[i]));
      if (o->sigma_pt && !(o->sigma_pt[i] > 0.0 && isfinite(o->sigma_pt[i])))
        return nimc_err_set(err, NIMC_EINPUT,
                            "%s: sigma[%zu] = %g: standard deviations must "
                            "be positive",
                            o->name, i, o->sigma_pt[i]);
    }
    s->span = hi - lo;
    if (s->sim.output_dt_s <= 0.0) {
      /* the model is read between its samples by straight lines: sample
       * it at a quarter of the measured spacing (IDA's interpolant), not
       * at the solver's steps, which may be seconds apart */
      double *d = malloc((m->n - 1) * sizeof *d);
      if (!d) return nimc_err_set(err, NIMC_ENOMEM, "out of memory");
      for (size_t i = 1; i < m->n; i++)
        d[i - 1] = m->time_s[i] - m->time_s[i - 1];
      qsort(d, m->n - 1, sizeof *d, cmp_double);
      double span = m->time_s[m->n - 1] - m->time_s[0];
      s->sim.output_dt_s = fmax(0.25 * d[(m->n - 1) / 2], 1e-5 * span);
      free(d);
      if (!(s->sim.output_dt_s > 0.0)) s->sim.output_dt_s = 0.0;
    }
    if (o->kind == NIMC_OBS_VOLTAGE) {
      /* the measured segments, to compare each with its own step */
      nimc_protocol_opts po = nimc_protocol_opts_default();
      s->rest = 1e-3 * Imax;
      if (!(s->seglab = malloc(m->n * sizeof *s->seglab)) ||
          segments_find(m, po.rel_tol, s->rest, &s->seg, &s->nseg) ||
          !(s->sa = calloc(s->nseg + 1, sizeof *s->sa)) ||
          !(s->sb = calloc(s->nseg + 1, sizeof *s->sb)))
        return nimc_err_set(err, NIMC_ENOMEM, "out of memory");
      for (size_t i = 0; i < m->n; i++)
        s->seglab[i] = -1;
      for (size_t g = 0; g < s->nseg; g++)
        for (size_t i = s->seg[g].first; i <= s->seg[g].last; i++)
          s->seglab[i] = (int)g;
    }
    break;
  }
  case NIMC_OBS_IMPEDANCE:
    if (!o->spectrum || !o->spectrum->n)
      return nimc_err_set(err, NIMC_EINPUT, "%s: no measured spectrum",
                          o->name);
    for (size_t i = 0; i < o->spectrum->n; i++)
      if (!(o->spectrum->freq_Hz[i] > 0.0 && isfinite(o->spectrum->freq_Hz[i]) &&
            isfinite(o->spectrum->z_re_ohm[i]) &&
            isfinite(o->spectrum->z_im_ohm[i]) &&
            hypot(o->spectrum->z_re_ohm[i], o->spectrum->z_im_ohm[i]) > 0.0))
        return nimc_err_set(err, NIMC_EDATA,
                            "%s: point %zu of the spectrum: a frequency that "
                            "is not positive, or an impedance that is zero "
                            "or not finite",
                            o->name, i + 1);
    s->n = 2 * o->spectrum->n;
    s->freq = o->spectrum->freq_Hz;
    s->nfreq = o->spectrum->n;
    break;
  case NIMC_OBS_METRIC:
    for (size_t j = 0; j < NMETRICS && !s->metric; j++)
      if (o->metric && !strcmp(o->metric, metric_table[j].name))
        s->metric = &metric_table[j];
    if (!s->metric)
      return nimc_err_set(err, NIMC_EINPUT,
                          "%s: unknown metric '%s' (known: "
                          "capacitance_volumetric_F_cm3, r_ohmic_ohm, "
                          "r_ct_ohm and the other keys of docs/fitting.md)",
                          o->name, o->metric ? o->metric : "");
    if (!(isfinite(o->value) && o->value != 0.0))
      return nimc_err_set(err, NIMC_EINPUT,
                          "%s: the measured value %g must be finite and not "
                          "0 (the residual is relative)",
                          o->name, o->value);
    if (!s->metric->spectrum && !o->exp)
      return nimc_err_set(err, NIMC_EINPUT,
                          "%s: the metric '%s' needs an experiment", o->name,
                          o->metric);
    if (s->metric->spectrum) {
      if (o->freq_Hz) {
        s->freq = o->freq_Hz;
        s->nfreq = o->nfreq;
      } else {
        int rc = nimc_freq_logspace(1e5, 1e-2, 10, &s->own_freq, &s->nfreq,
                                    err);
        if (rc) return rc;
        s->freq = s->own_freq;
      }
    }
    s->n = 1;
    break;
  default:
    return nimc_err_set(err, NIMC_EINPUT, "%s: unknown kind %d", o->name,
                        (int)o->kind);
  }
  if (!(s->model = calloc(s->n, sizeof *s->model)))
    return nimc_err_set(err, NIMC_ENOMEM, "out of memory");
  s->off = *off;
  *off += s->n;
  /* an earlier observation that simulates the same thing */
  int spec = o->kind == NIMC_OBS_IMPEDANCE ||
             (o->kind == NIMC_OBS_METRIC && s->metric->spectrum);
  int gcd = o->kind == NIMC_OBS_METRIC && !s->metric->spectrum;
  for (size_t j = 0; j < k && s->share < 0 && (spec || gcd); j++) {
    const obsst *q = &c->ob[j];
    int qspec = q->o->kind == NIMC_OBS_IMPEDANCE ||
                (q->o->kind == NIMC_OBS_METRIC && q->metric->spectrum);
    int qgcd = q->o->kind == NIMC_OBS_METRIC && !q->metric->spectrum;
    if (q->share >= 0 || !same_device(q->o, o) || q->o->exp != o->exp)
      continue;
    if (spec && qspec && q->nfreq == s->nfreq &&
        !memcmp(q->freq, s->freq, s->nfreq * sizeof *s->freq))
      s->share = (int)j;
    if (gcd && qgcd && q->o->until_steady == o->until_steady)
      s->share = (int)j;
  }
  return NIMC_OK;
}

/* The measured value behind residual i of observation s. */
static double obs_data(const obsst *s, size_t i) {
  const nimc_fit_obs *o = s->o;
  switch (o->kind) {
  case NIMC_OBS_VOLTAGE:
    return o->series->voltage_V[i];
  case NIMC_OBS_CURRENT:
    return o->series->current_A[i];
  case NIMC_OBS_IMPEDANCE: {
    size_t nf = o->spectrum->n;
    return i < nf ? o->spectrum->z_re_ohm[i] : o->spectrum->z_im_ohm[i - nf];
  }
  default:
    return o->value;
  }
}

/* The rms of model - data of observation s at its last evaluation. */
static double obs_rms(const obsst *s) {
  double ss = 0.0;
  for (size_t i = 0; i < s->n; i++) {
    double e = s->model[i] - obs_data(s, i);
    ss += e * e;
  }
  return sqrt(ss / (double)s->n);
}

int nimc_fit_run(const nimc_fit_param *params, size_t np,
                 const nimc_fit_obs *obs, size_t nobs,
                 const nimc_device_fit_opts *opts, nimc_fit_result *out,
                 nimc_err *err) {
  memset(out, 0, sizeof *out);
  if (!params || !np || !obs || !nobs)
    return nimc_err_set(err, NIMC_EMISUSE,
                        "nimc_fit_run: parameters and observations are "
                        "required");
  nimc_device_fit_opts o = opts ? *opts : nimc_device_fit_opts_default();
  if (o.max_iter <= 0) o.max_iter = o.method == NIMC_FIT_SIMPLEX
                                        ? 100 * (int)np
                                        : 50;
  if (o.xtol <= 0.0) o.xtol = o.method == NIMC_FIT_SIMPLEX ? 1e-3 : 1e-5;
  if (o.gtol <= 0.0) o.gtol = 1e-8;
  if (o.chi2_tol <= 0.0) o.chi2_tol = 1e-2;
  if (o.fd_step <= 0.0) {
    double rt = o.sim.rtol > 0.0 ? o.sim.rtol : 1e-6;
    o.fd_step = fmax(1e-3, 30.0 * sqrt(rt));
  }
  if (o.method != NIMC_FIT_LM && o.method != NIMC_FIT_SIMPLEX)
    return nimc_err_set(err, NIMC_EINPUT, "nimc_fit_run: unknown method");

  fitctx c;
  memset(&c, 0, sizeof c);
  c.par = params;
  c.np = np;
  c.nobs = nobs;
  c.o = &o;
  int rc = NIMC_OK;
  gsl_vector *u = NULL;
  gsl_matrix *J = NULL;
  gsl_error_handler_t *old = gsl_set_error_handler_off();
  char(*names)[96] = calloc(nobs, sizeof *names);
  nimc_fit_obs *ocopy = calloc(nobs, sizeof *ocopy);
  double *rms_start = calloc(nobs, sizeof *rms_start);
  c.ob = calloc(nobs, sizeof *c.ob);
  if (!names || !ocopy || !rms_start || !c.ob) {
    rc = nimc_err_set(err, NIMC_ENOMEM, "out of memory");
    goto done;
  }
  size_t off = 0;
  for (size_t k = 0; k < nobs; k++) {
    ocopy[k] = obs[k];
    if (obs[k].name)
      snprintf(names[k], sizeof names[k], "%s", obs[k].name);
    else
      snprintf(names[k], sizeof names[k], "observation %zu", k + 1);
    ocopy[k].name = names[k];
    c.ob[k].o = &ocopy[k];
    if (ocopy[k].nsets && !ocopy[k].sets) {
      rc = nimc_err_set(err, NIMC_EMISUSE, "%s: nsets without sets", names[k]);
      goto done;
    }
    c.maxsets = ocopy[k].nsets > c.maxsets ? ocopy[k].nsets : c.maxsets;
    if ((rc = setup_obs(&c, k, &c.ob[k], &off, err))) goto done;
  }
  c.n = off;
  if (c.n < np) {
    rc = nimc_err_set(err, NIMC_EINPUT,
                      "%zu residuals for %zu parameters: at least as many "
                      "residuals as parameters needed",
                      c.n, np);
    goto done;
  }
  c.val = calloc(np, sizeof *c.val);
  c.sets = calloc(c.maxsets + np, sizeof *c.sets);
  c.setbuf = calloc(np, sizeof *c.setbuf);
  c.p = calloc(np, sizeof *c.p);
  c.ucache = calloc(np, sizeof *c.ucache);
  c.rcache = calloc(c.n, sizeof *c.rcache);
  c.rtmp = calloc(c.n, sizeof *c.rtmp);
  out->param = calloc(np, sizeof *out->param);
  out->std_err_sigma = calloc(np, sizeof *out->std_err_sigma);
  out->corr = calloc(np * np, sizeof *out->corr);
  out->obs = calloc(nobs, sizeof *out->obs);
  u = gsl_vector_alloc(np);
  J = gsl_matrix_alloc(c.n, np);
  if (!c.val || !c.sets || !c.setbuf || !c.p || !c.ucache || !c.rcache ||
      !c.rtmp || !out->param || !out->std_err_sigma || !out->corr ||
      !out->obs || !u || !J) {
    rc = nimc_err_set(err, NIMC_ENOMEM, "out of memory");
    goto done;
  }
  out->nobs = nobs;
  if ((rc = setup_params(&c, err))) goto done;

  /* the start: a simulation that fails there is the caller's problem */
  for (size_t k = 0; k < np; k++)
    gsl_vector_set(u, k, to_coord(&c, k, c.val[k].start));
  eval_u(&c, u->data, c.rtmp);
  if (c.last_failed) {
    rc = nimc_err_set(err, NIMC_ESOLVER,
                      "the simulation at the start values fails: %s",
                      c.first_err.msg);
    goto done;
  }
  out->chi2_start = sumsq(c.rtmp, c.n);
  for (size_t b = 0; b < nobs; b++)
    rms_start[b] = obs_rms(&c.ob[b]);
  if (o.evaluate_only) {
    /* the model at the start values, nothing fitted */
    out->converged = 1;
    snprintf(out->reason, sizeof out->reason,
             "evaluated at the start values (no fit)");
  } else {
    rc = o.method == NIMC_FIT_LM ? run_lm(&c, u, J, out)
                                 : run_simplex(&c, u, J, out);
    if (rc) {
      rc = nimc_err_set(err, rc, "out of memory");
      goto done;
    }
    /* the final point, evaluated afresh so model and residuals belong to
     * it */
    c.have_cache = 0;
    eval_u(&c, u->data, c.rtmp);
  }
  out->chi2 = sumsq(c.rtmp, c.n);
  out->np = np;
  out->n = c.n;
  for (size_t k = 0; k < np; k++) {
    out->param[k] = c.val[k];
    out->param[k].value = to_value(&c, k, gsl_vector_get(u, k));
  }
  for (size_t b = 0; b < nobs; b++) {
    obsst *s = &c.ob[b];
    nimc_fit_obs_result *ro = &out->obs[b];
    const nimc_fit_obs *ob = s->o;
    snprintf(ro->name, sizeof ro->name, "%s", ob->name);
    ro->n = s->n;
    ro->data = malloc(s->n * sizeof *ro->data);
    ro->model = malloc(s->n * sizeof *ro->model);
    if (ob->kind != NIMC_OBS_METRIC) ro->x = malloc(s->n * sizeof *ro->x);
    if (!ro->data || !ro->model || (ob->kind != NIMC_OBS_METRIC && !ro->x)) {
      rc = nimc_err_set(err, NIMC_ENOMEM, "out of memory");
      goto done;
    }
    size_t nf = ob->kind == NIMC_OBS_IMPEDANCE ? ob->spectrum->n : 0;
    for (size_t i = 0; i < s->n; i++) {
      if (ob->kind == NIMC_OBS_VOLTAGE || ob->kind == NIMC_OBS_CURRENT)
        ro->x[i] = ob->series->time_s[i] - ob->series->time_s[0];
      else if (ob->kind == NIMC_OBS_IMPEDANCE)
        ro->x[i] = ob->spectrum->freq_Hz[i % nf];
      ro->data[i] = obs_data(s, i);
      ro->model[i] = s->model[i];
      ro->chi2 += c.rtmp[s->off + i] * c.rtmp[s->off + i];
    }
    ro->rms = obs_rms(s);
    ro->rms_start = rms_start[b];
    ro->n_held = s->held;
    ro->by_step = s->by_step;
    ro->not_steady = s->share >= 0 ? c.ob[s->share].not_steady : s->not_steady;
    ro->failed = s->share >= 0 ? c.ob[s->share].failed : s->failed;
  }
  if (o.evaluate_only) {
    for (size_t k = 0; k < np; k++) {
      out->param[k].std_err = out->std_err_sigma[k] = NAN;
      for (size_t j = 0; j < np; j++)
        out->corr[k * np + j] = NAN;
    }
  } else if ((rc = statistics(&c, u, J, out))) {
    rc = nimc_err_set(err, rc, "out of memory");
    goto done;
  }
  out->simulations = c.sims;
  out->failed_simulations = c.failed;
done:
  gsl_set_error_handler(old);
  if (rc) nimc_fit_result_free(out);
  gsl_vector_free(u);
  gsl_matrix_free(J);
  for (size_t k = 0; c.ob && k < nobs; k++) {
    obsst *s = &c.ob[k];
    free(s->seg);
    free(s->seglab);
    free(s->sa);
    free(s->sb);
    free(s->model);
    free(s->own_freq);
    nimc_spectrum_free(&s->spec);
  }
  free(c.ob);
  free(ocopy);
  free(rms_start);
  free(names);
  free(c.val);
  free(c.sets);
  free(c.setbuf);
  free(c.p);
  free(c.ucache);
  free(c.rcache);
  free(c.rtmp);
  return rc;
}

int nimc_device_fit(const char *path, const char *const *sets, size_t nsets,
                    const nimc_fit_param *params, size_t np,
                    const nimc_series *meas, const nimc_experiment *exp,
                    const nimc_device_fit_opts *opts,
                    nimc_device_fit_result *out, nimc_err *err) {
  memset(out, 0, sizeof *out);
  if (!path || !params || !np || !meas || !exp || (nsets && !sets))
    return nimc_err_set(err, NIMC_EMISUSE,
                        "nimc_device_fit: path, params, meas and exp are "
                        "required");
  int rc = check_series(meas, np + 1, err);
  if (rc) return rc;
  nimc_fit_obs ob;
  memset(&ob, 0, sizeof ob);
  ob.kind = NIMC_OBS_VOLTAGE;
  ob.name = "the measured curve";
  ob.device = path;
  ob.sets = sets;
  ob.nsets = nsets;
  ob.exp = exp;
  ob.series = meas;
  ob.sigma_pt = opts ? opts->sigma_V : NULL;
  nimc_fit_result r;
  /* the messages name no observation when there is one */
  if ((rc = nimc_fit_run(params, np, &ob, 1, opts, &r, err))) {
    const char *pre = "the measured curve: ";
    size_t lp = strlen(pre);
    if (!strncmp(err->msg, pre, lp))
      memmove(err->msg, err->msg + lp, strlen(err->msg + lp) + 1);
    return rc;
  }
  nimc_fit_obs_result *ro = &r.obs[0];
  out->np = r.np;
  out->n = ro->n;
  out->param = r.param;
  out->corr = r.corr;
  r.param = NULL;
  r.corr = NULL;
  out->model_V = ro->model;
  out->residual_V = ro->data;
  ro->model = ro->data = NULL;
  for (size_t i = 0; i < out->n; i++)
    out->residual_V[i] = out->model_V[i] - out->residual_V[i];
  out->chi2 = r.chi2;
  out->chi2_start = r.chi2_start;
  out->rms_V = ro->rms;
  out->n_held = ro->n_held;
  out->by_step = ro->by_step;
  out->simulations = r.simulations;
  out->failed_simulations = r.failed_simulations;
  out->iterations = r.iterations;
  out->converged = r.converged;
  snprintf(out->reason, sizeof out->reason, "%s", r.reason);
  out->rms_start_V = ro->rms_start;
  nimc_fit_result_free(&r);
  return NIMC_OK;
}
