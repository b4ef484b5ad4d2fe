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
 * nimc_device_fit is tools/calibrate.c's method made general: every
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

#define SET_MAX 256

/* Everything an evaluation needs. */
typedef struct fitctx {
  const char *path;
  const char *const *base;
  size_t nbase;
  const nimc_fit_param *par;
  nimc_fit_value *val;  /* units and bounds as used */
  size_t np, n;
  const nimc_series *meas;
  const nimc_experiment *exp;
  const nimc_device_fit_opts *o;
  double vspan;         /* measured voltage range */
  const char **sets;    /* nbase + np */
  char (*setbuf)[SET_MAX];
  double *p;            /* np values, scratch */
  double *model;        /* n, the last evaluation's model voltages */
  double *rcache;       /* n, weighted residuals at ucache */
  double *ucache;       /* np */
  int have_cache;
  double *rtmp;         /* n */
  size_t held;          /* of the last evaluation: points held at a
                           step's end or start */
  int by_step;          /* the last evaluation compared step by step */
  segment *seg;         /* the measured segments */
  size_t nseg;
  int *seglab;          /* n: each sample's segment, -1 none */
  size_t *sa, *sb;      /* nseg: a simulated step's first and last sample */
  double rest;          /* a rest's current bound (A) */
  int last_failed;      /* the last simulation stopped early */
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

/* The overrides: the fixed ones, then "key=value unit" for values p. */
static void make_sets(fitctx *c, const double *p) {
  for (size_t k = 0; k < c->np; k++) {
    const char *u = c->val[k].unit;
    snprintf(c->setbuf[k], SET_MAX, "%s=%.12g %s", c->par[k].key, p[k],
             strcmp(u, "1") ? u : "");
    c->sets[c->nbase + k] = c->setbuf[k];
  }
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

/* The model voltage at measured time t by time alone: within the
 * simulated step that holds t, never across a switch (at a switch, within
 * tie, the step whose current is nearer the measured current Im); after
 * the end, the last voltage (*held set). */
static double model_by_time(const nimc_series *sv, double t, double Im,
                            double tie, int *held) {
  size_t n = sv->n, a = 0, b = 0;
  *held = 0;
  if (t > sv->time_s[n - 1] + tie) {
    *held = 1;
    return sv->voltage_V[n - 1];
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
    return sv->voltage_V[b + 1];
  if (a > 0 && t - sv->time_s[a - 1] <= tie &&
      fabs(sv->current_A[a - 1] - Im) < fabs(sv->current_A[a] - Im))
    return sv->voltage_V[a - 1];
  if (j >= b) return sv->voltage_V[b];
  double dt = sv->time_s[j + 1] - sv->time_s[j];
  double w = dt > 0 ? (t - sv->time_s[j]) / dt : 1.0;
  return (1.0 - w) * sv->voltage_V[j] + w * sv->voltage_V[j + 1];
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

/* The model voltage at the measured times from the simulated series sv
 * into c->model (see nimc_device_fit).  When the simulation has one step
 * per measured segment, of the same kinds, each measured sample is
 * compared with its own step (by step); else by time alone. */
static void model_at_times(fitctx *c, const nimc_series *sv) {
  const nimc_series *m = c->meas;
  double t0 = m->time_s[0];
  double tie = 1e-9 * (m->time_s[m->n - 1] - t0);
  c->held = 0;
  c->by_step = 0;
  if (!sv->n) {
    for (size_t i = 0; i < c->n; i++)
      c->model[i] = NAN;
    c->held = c->n;
    return;
  }
  /* the simulated steps, as runs of sv->step */
  size_t k = 0, ok = 1;
  for (size_t i = 0; i < sv->n && ok; i++) {
    if (i && sv->step[i] == sv->step[i - 1]) {
      c->sb[k - 1] = i;
      continue;
    }
    if (k == c->nseg) {
      ok = 0;
      break;
    }
    c->sa[k] = c->sb[k] = i;
    ok = current_class(sv->current_A[i], c->rest) == c->seg[k].cls;
    k++;
  }
  c->by_step = ok && k == c->nseg;
  for (size_t i = 0; i < c->n; i++) {
    double t = m->time_s[i] - t0;
    int held, g = c->seglab[i];
    if (c->by_step && g >= 0)
      c->model[i] = model_in_step(sv, c->sa[g], c->sb[g], t, &held);
    else
      c->model[i] = model_by_time(sv, t, m->current_A[i], tie, &held);
    c->held += (size_t)held;
  }
}

/* Simulate with the parameter values p and write the weighted residuals
 * into r (n).  Returns 0, or the status of a failure before the
 * simulation started (the residuals are then the voltage range). */
static int evaluate(fitctx *c, const double *p, double *r) {
  nimc_device *dev = NULL;
  nimc_sim *sim = NULL;
  nimc_result res;
  memset(&res, 0, sizeof res);
  nimc_err err;
  make_sets(c, p);
  c->sims++;
  c->last_failed = 0;
  int rc = nimc_device_load(&dev, c->path, c->sets, c->nbase + c->np, &err);
  if (!rc) rc = nimc_sim_create(&sim, dev, &c->o->sim, &err);
  if (!rc) {
    int run = nimc_sim_run(sim, c->exp, &res);
    if (run) {
      c->last_failed = 1;
      c->failed++;
      if (!c->first_err.msg[0])
        nimc_err_set(&c->first_err, run, "%s", nimc_sim_errmsg(sim));
    }
  } else {
    c->last_failed = 1;
    c->failed++;
    if (!c->first_err.msg[0]) c->first_err = err;
  }
  model_at_times(c, &res.series);
  const nimc_series *m = c->meas;
  for (size_t i = 0; i < c->n; i++) {
    double d = isfinite(c->model[i]) ? c->model[i] - m->voltage_V[i] : c->vspan;
    r[i] = c->o->sigma_V ? d / c->o->sigma_V[i] : d;
  }
  nimc_result_free(&res);
  nimc_sim_destroy(sim);
  nimc_device_destroy(dev);
  return rc;
}

/* Residuals at fit coordinates u (cached: the LM asks for the Jacobian
 * where it has just evaluated). */
static int eval_u(fitctx *c, const double *u, double *r) {
  if (c->have_cache && !memcmp(u, c->ucache, c->np * sizeof *u)) {
    memcpy(r, c->rcache, c->n * sizeof *r);
    return 0;
  }
  for (size_t k = 0; k < c->np; k++)
    c->p[k] = to_value(c, k, u[k]);
  int rc = evaluate(c, c->p, r);
  memcpy(c->ucache, u, c->np * sizeof *u);
  memcpy(c->rcache, r, c->n * sizeof *r);
  c->have_cache = 1;
  return rc;
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
                  nimc_device_fit_result *out) {
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
    double chi2 = chi * chi, s2 = chi2 / (double)(c->n - c->np);
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
                       nimc_device_fit_result *out) {
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

/* Check and complete the parameters into c->val; NIMC_EINPUT with the key
 * named on a bad one. */
static int setup_params(fitctx *c, nimc_err *err) {
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
    int rc = nimc_device_param(c->path, c->base, c->nbase, q->key, &dv, si,
                               sizeof si, &e2);
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
  /* the device must accept both bounds of every parameter */
  for (size_t k = 0; k < c->np; k++) {
    for (int side = 0; side < 2; side++) {
      for (size_t j = 0; j < c->np; j++)
        c->p[j] = c->val[j].start;
      c->p[k] = side ? c->val[k].hi : c->val[k].lo;
      make_sets(c, c->p);
      nimc_device *dev = NULL;
      nimc_err e2;
      int rc =
          nimc_device_load(&dev, c->path, c->sets, c->nbase + c->np, &e2);
      nimc_device_destroy(dev);
      if (rc)
        return nimc_err_set(err, NIMC_EINPUT,
                            "parameter '%s': the %s bound %g %s is not "
                            "accepted by the device: %s",
                            c->par[k].key, side ? "upper" : "lower", c->p[k],
                            c->val[k].unit, e2.msg);
    }
  }
  return NIMC_OK;
}

/* Fill the statistics of out from the Jacobian J at u (weighted residuals
 * r there). */
static int statistics(fitctx *c, const gsl_vector *u, const gsl_matrix *J,
                      nimc_device_fit_result *out) {
  size_t np = c->np;
  gsl_matrix *cov = gsl_matrix_alloc(np, np);
  if (!cov) return NIMC_ENOMEM;
  gsl_multifit_nlinear_covar(J, 0.0, cov);
  double s2 = c->n > np ? out->chi2 / (double)(c->n - np) : NAN;
  for (size_t k = 0; k < np; k++) {
    double ckk = gsl_matrix_get(cov, k, k);
    double se_ln = dlnp_du(c, k, gsl_vector_get(u, k)) * sqrt(s2 * ckk);
    out->param[k].std_err =
        isfinite(se_ln) && ckk > 0 ? out->param[k].value * se_ln : NAN;
    for (size_t j = 0; j < np; j++) {
      double d = sqrt(ckk * gsl_matrix_get(cov, j, j));
      out->corr[k * np + j] =
          d > 0 && isfinite(d) ? gsl_matrix_get(cov, k, j) / d : NAN;
    }
  }
  gsl_matrix_free(cov);
  return NIMC_OK;
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
    return nimc_err_set(err, NIMC_EINPUT, "nimc_device_fit: unknown method");
  int rc = check_series(meas, np + 1, err);
  if (rc) return rc;
  if (o.sim.output_dt_s <= 0.0) {
    /* the model is read between its samples by straight lines: sample it
     * at a quarter of the measured spacing (IDA's interpolant), not at the
     * solver's steps, which may be seconds apart */
    double *d = malloc((meas->n - 1) * sizeof *d);
    if (!d) return nimc_err_set(err, NIMC_ENOMEM, "out of memory");
    for (size_t i = 1; i < meas->n; i++)
      d[i - 1] = meas->time_s[i] - meas->time_s[i - 1];
    qsort(d, meas->n - 1, sizeof *d, cmp_double);
    double span = meas->time_s[meas->n - 1] - meas->time_s[0];
    o.sim.output_dt_s = fmax(0.25 * d[(meas->n - 1) / 2], 1e-5 * span);
    free(d);
    if (!(o.sim.output_dt_s > 0.0)) o.sim.output_dt_s = 0.0;
  }
  if (!nimc_experiment_nsteps(exp))
    return nimc_err_set(err, NIMC_EINPUT, "the experiment has no steps");
  if (o.sigma_V)
    for (size_t i = 0; i < meas->n; i++)
      if (!(o.sigma_V[i] > 0.0 && isfinite(o.sigma_V[i])))
        return nimc_err_set(err, NIMC_EINPUT,
                            "sigma_V[%zu] = %g: standard deviations must be "
                            "positive",
                            i, o.sigma_V[i]);

  fitctx c;
  memset(&c, 0, sizeof c);
  c.path = path;
  c.base = sets;
  c.nbase = nsets;
  c.par = params;
  c.np = np;
  c.n = meas->n;
  c.meas = meas;
  c.exp = exp;
  c.o = &o;
  double vmin = INFINITY, vmax = -INFINITY;
  for (size_t i = 0; i < meas->n; i++) {
    vmin = fmin(vmin, meas->voltage_V[i]);
    vmax = fmax(vmax, meas->voltage_V[i]);
  }
  c.vspan = vmax - vmin;
  gsl_vector *u = NULL;
  gsl_matrix *J = NULL;
  gsl_error_handler_t *old = gsl_set_error_handler_off();
  c.val = calloc(np, sizeof *c.val);
  c.sets = calloc(nsets + np, sizeof *c.sets);
  c.setbuf = calloc(np, sizeof *c.setbuf);
  c.p = calloc(np, sizeof *c.p);
  c.ucache = calloc(np, sizeof *c.ucache);
  c.model = calloc(c.n, sizeof *c.model);
  c.rcache = calloc(c.n, sizeof *c.rcache);
  c.rtmp = calloc(c.n, sizeof *c.rtmp);
  out->param = calloc(np, sizeof *out->param);
  out->corr = calloc(np * np, sizeof *out->corr);
  out->model_V = calloc(c.n, sizeof *out->model_V);
  out->residual_V = calloc(c.n, sizeof *out->residual_V);
  u = gsl_vector_alloc(np);
  J = gsl_matrix_alloc(c.n, np);
  if (!c.val || !c.sets || !c.setbuf || !c.p || !c.ucache || !c.model ||
      !c.rcache || !c.rtmp || !out->param || !out->corr || !out->model_V ||
      !out->residual_V || !u || !J) {
    rc = nimc_err_set(err, NIMC_ENOMEM, "out of memory");
    goto done;
  }
  for (size_t k = 0; k < nsets; k++)
    c.sets[k] = sets[k];
  /* the measured segments, to compare each with its own simulated step */
  {
    nimc_protocol_opts po = nimc_protocol_opts_default();
    double Imax = 0.0;
    for (size_t i = 0; i < c.n; i++)
      Imax = fmax(Imax, fabs(meas->current_A[i]));
    c.rest = 1e-3 * Imax;
    c.seglab = malloc(c.n * sizeof *c.seglab);
    if (!c.seglab || segments_find(meas, po.rel_tol, c.rest, &c.seg, &c.nseg) ||
        !(c.sa = calloc(c.nseg + 1, sizeof *c.sa)) ||
        !(c.sb = calloc(c.nseg + 1, sizeof *c.sb))) {
      rc = nimc_err_set(err, NIMC_ENOMEM, "out of memory");
      goto done;
    }
    for (size_t i = 0; i < c.n; i++)
      c.seglab[i] = -1;
    for (size_t g = 0; g < c.nseg; g++)
      for (size_t i = c.seg[g].first; i <= c.seg[g].last; i++)
        c.seglab[i] = (int)g;
  }
  if ((rc = setup_params(&c, err))) goto done;

  /* the start: a simulation that fails there is the caller's problem */
  for (size_t k = 0; k < np; k++)
    gsl_vector_set(u, k, to_coord(&c, k, c.val[k].start));
  int load = eval_u(&c, u->data, c.rtmp);
  if (load || c.last_failed) {
    rc = nimc_err_set(err, NIMC_ESOLVER,
                      "the simulation at the start values fails: %s",
                      c.first_err.msg);
    goto done;
  }
  out->chi2_start = sumsq(c.rtmp, c.n);
  {
    double s = 0.0;
    for (size_t i = 0; i < c.n; i++) {
      double d = c.model[i] - meas->voltage_V[i];
      s += d * d;
    }
    out->rms_start_V = sqrt(s / (double)c.n);
  }
  rc = o.method == NIMC_FIT_LM ? run_lm(&c, u, J, out)
                               : run_simplex(&c, u, J, out);
  if (rc) {
    rc = nimc_err_set(err, rc, "out of memory");
    goto done;
  }
  /* the final point, evaluated afresh so model and residuals belong to it */
  c.have_cache = 0;
  eval_u(&c, u->data, c.rtmp);
  out->chi2 = sumsq(c.rtmp, c.n);
  out->n_held = c.held;
  out->by_step = c.by_step;
  double s = 0.0;
  for (size_t i = 0; i < c.n; i++) {
    out->model_V[i] = c.model[i];
    out->residual_V[i] = c.model[i] - meas->voltage_V[i];
    s += out->residual_V[i] * out->residual_V[i];
  }
  out->rms_V = sqrt(s / (double)c.n);
  out->np = np;
  out->n = c.n;
  for (size_t k = 0; k < np; k++) {
    out->param[k] = c.val[k];
    out->param[k].value = to_value(&c, k, gsl_vector_get(u, k));
  }
  if ((rc = statistics(&c, u, J, out))) {
    rc = nimc_err_set(err, rc, "out of memory");
    goto done;
  }
  out->simulations = c.sims;
  out->failed_simulations = c.failed;
done:
  gsl_set_error_handler(old);
  if (rc) nimc_device_fit_result_free(out);
  gsl_vector_free(u);
  gsl_matrix_free(J);
  free(c.val);
  free(c.sets);
  free(c.setbuf);
  free(c.p);
  free(c.ucache);
  free(c.model);
  free(c.rcache);
  free(c.rtmp);
  free(c.seg);
  free(c.seglab);
  free(c.sa);
  free(c.sb);
  return rc;
}
