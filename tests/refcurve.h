/*
 * refcurve.h -- a reference voltage curve (time_s, voltage_V columns of a
 * CSV file, e.g. DUALFOIL's) and the comparison of a simulated series with
 * it.  Shared by tests/test_dualfoil.c and bench/study_dualfoil.c.
 */
#ifndef NIMC_REFCURVE_H
#define NIMC_REFCURVE_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nimc/nimc.h"

typedef struct nimc_refcurve {
  size_t n;
  double *t, *v;
  double t_cut_s; /* time the curve crosses 2.8 V (interpolated) */
} nimc_refcurve;

typedef struct nimc_refdiff {
  double rms, max, t_at_max;
} nimc_refdiff;

static inline void nimc_refcurve_free(nimc_refcurve *r) {
  free(r->t);
  free(r->v);
  memset(r, 0, sizeof *r);
}

/* Read the columns time_s and voltage_V (header line names them). */
static inline int nimc_refcurve_read(const char *path, nimc_refcurve *r) {
  memset(r, 0, sizeof *r);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  char line[512];
  int ct = -1, cv = -1;
  if (fgets(line, sizeof line, f)) {
    int col = 0;
    for (char *tok = strtok(line, ",\r\n"); tok;
         tok = strtok(NULL, ",\r\n"), col++) {
      if (!strcmp(tok, "time_s")) ct = col;
      if (!strcmp(tok, "voltage_V")) cv = col;
    }
  }
  size_t cap = 0;
  while (ct >= 0 && cv >= 0 && fgets(line, sizeof line, f)) {
    double t = NAN, v = NAN;
    int col = 0;
    for (char *tok = strtok(line, ",\r\n"); tok;
         tok = strtok(NULL, ",\r\n"), col++) {
      if (col == ct) t = atof(tok);
      if (col == cv) v = atof(tok);
    }
    if (!isfinite(t) || !isfinite(v)) continue;
    if (r->n == cap) {
      cap = cap ? 2 * cap : 1024;
      r->t = realloc(r->t, sizeof(double) * cap);
      r->v = realloc(r->v, sizeof(double) * cap);
    }
    r->t[r->n] = t, r->v[r->n] = v, r->n++;
  }
  fclose(f);
  if (r->n < 2) return -1;
  r->t_cut_s = r->t[r->n - 1];
  for (size_t k = 1; k < r->n; k++)
    if (r->v[k] < 2.8 && r->v[k - 1] >= 2.8) {
      r->t_cut_s = r->t[k - 1] + (2.8 - r->v[k - 1]) * (r->t[k] - r->t[k - 1]) /
                                     (r->v[k] - r->v[k - 1]);
      break;
    }
  return 0;
}

/* Sample the series at the reference times (linear interpolation; the
 * pre-step sample at t = 0 is skipped by using the last sample at a time). */
static inline void nimc_refcurve_sample(const nimc_series *s,
                                        const nimc_refcurve *r, double *v) {
  size_t j = 0;
  for (size_t k = 0; k < r->n; k++) {
    double t = r->t[k];
    while (j + 1 < s->n && s->time_s[j + 1] <= t)
      j++;
    if (j + 1 >= s->n || s->time_s[j + 1] == s->time_s[j]) {
      v[k] = s->voltage_V[j];
      continue;
    }
    double w = (t - s->time_s[j]) / (s->time_s[j + 1] - s->time_s[j]);
    v[k] = s->voltage_V[j] + w * (s->voltage_V[j + 1] - s->voltage_V[j]);
  }
}

/* RMS and maximum of a - b over the reference times in (0, tmax]. */
static inline nimc_refdiff nimc_refcurve_diff(const nimc_refcurve *r,
                                              const double *a, const double *b,
                                              double tmax) {
  nimc_refdiff d = {0, 0, 0};
  size_t m = 0;
  for (size_t k = 0; k < r->n; k++) {
    if (r->t[k] <= 0.0 || r->t[k] > tmax) continue;
    double e = a[k] - b[k];
    d.rms += e * e;
    if (fabs(e) > d.max) d.max = fabs(e), d.t_at_max = r->t[k];
    m++;
  }
  d.rms = m ? sqrt(d.rms / (double)m) : NAN;
  return d;
}

/* Discharge DUALFOIL's example cell (devices/dualfoil-li-ion.ini under
 * root) at 17.5 A/m2 to 2.8 V with the overrides sets[], recording every
 * output_dt seconds; the voltage at the reference times goes to v, the
 * discharge time to *tend.  Returns 0 or the failing status (the message
 * on stderr). */
static inline int nimc_refcurve_dualfoil(const char *root,
                                         const char *const *sets, size_t nsets,
                                         double output_dt,
                                         const nimc_refcurve *ref, double *v,
                                         double *tend) {
  const char *step[1] = {"Discharge at 17.5 A/m2 until 2.8 V"};
  char path[4096];
  snprintf(path, sizeof path, "%s/devices/dualfoil-li-ion.ini", root);
  nimc_err err;
  nimc_result res;
  memset(&res, 0, sizeof res);
  nimc_sim_opts o = nimc_sim_opts_default();
  o.output_dt_s = output_dt;
  int rc = nimc_simulate(path, sets, nsets, step, 1, &o, &res, NULL, &err);
  if (rc) {
    fprintf(stderr, "  %s\n", err.msg);
  } else {
    *tend = res.steps[0].duration_s;
    nimc_refcurve_sample(&res.series, ref, v);
  }
  nimc_result_free(&res);
  return rc;
}

#endif
