/*
 * jacobian_check.h -- the analytic Jacobian of a model against central
 * finite differences of its residual, for the tests of the model and of
 * packs (one checker, shared).
 */
#ifndef NIMC_JACOBIAN_CHECK_H
#define NIMC_JACOBIAN_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"

/* A pseudo-random number in [0, 1] (a fixed LCG: the same everywhere). */
static inline double jac_urand(unsigned *seed) {
  *seed = *seed * 1103515245u + 12345u;
  return ((*seed >> 8) & 0xffff) / 65535.0;
}

/* A random, physically admissible state near the initial one. */
static inline void jac_random_state(const nimc_model *m, unsigned seed,
                                    double *y, double *yp) {
  nimc_model_initial(m, y, yp);
  for (int64_t k = 0; k < m->n; k++) {
    double r = jac_urand(&seed) - 0.5;
    y[k] += fabs(y[k]) > 1.0 ? 0.05 * r * y[k] : 0.05 * r;
    yp[k] = 1e-3 * (jac_urand(&seed) - 0.5) * (fabs(y[k]) > 1.0 ? y[k] : 1.0);
  }
  /* double layers charged by about a volt (the neutral start holds none),
   * so that finite differences of their charge are well scaled */
  for (int i = 0; i < m->mesh->ncells; i++) {
    int e = m->elec[i];
    if (e < 0 || !m->el[e].has_dl) continue;
    y[m->off[i] + m->el[e].iq] += 1e7 * (jac_urand(&seed) - 0.5);
    if (m->el[e].i2 >= 0) y[m->off[i] + m->el[e].i2] += 1e6 * jac_urand(&seed);
    for (int k = 0; k < m->el[e].nmp; k++)
      y[m->off[i] + m->el[e].imp + k] += 1e6 * jac_urand(&seed);
    /* an aged surface: a film, a blocked share */
    if (m->el[e].ifilm >= 0)
      y[m->off[i] + m->el[e].ifilm] = 2.0 * jac_urand(&seed);
    if (m->el[e].iblock >= 0)
      y[m->off[i] + m->el[e].iblock] = 0.4 * jac_urand(&seed);
  }
  y[m->iI] = 1e-4 * (jac_urand(&seed) - 0.5);
}

/* Compare J = dF/dy + cj dF/dy' (values in m's CSR pattern, as
 * nimc_model_eval gave them at t, y, yp) with central differences of the
 * residual in every unknown of y and of yp.  Returns the number of entries
 * whose relative error (against the entry, or a millionth of the row's
 * largest) exceeds 1e-4, printing the first few with label; *outside gets
 * the number of finite-difference entries that are not zero but lie
 * outside the pattern, *worst the largest relative error.  y and yp are
 * restored.  -1 when out of memory. */
static inline long jac_check_fd(const nimc_model *m, double t, double *y,
                                double *yp, double cj, const double *J,
                                const char *label, long *outside,
                                double *worst) {
  int64_t n = m->n;
  double *Fp = malloc(sizeof(double) * n), *Fm = malloc(sizeof(double) * n);
  double *fd = malloc(sizeof(double) * n), *rowmax = malloc(sizeof(double) * n);
  long bad = 0;
  *outside = 0, *worst = 0.0;
  if (!Fp || !Fm || !fd || !rowmax) {
    free(Fp), free(Fm), free(fd), free(rowmax);
    return -1;
  }
  for (int64_t r = 0; r < n; r++) {
    rowmax[r] = 0.0;
    for (int64_t k = m->rowptr[r]; k < m->rowptr[r + 1]; k++)
      if (fabs(J[k]) > rowmax[r]) rowmax[r] = fabs(J[k]);
  }
  for (int64_t j = 0; j < n; j++) {
    double *v[2] = {y, yp};
    memset(fd, 0, sizeof(double) * n);
    for (int w = 0; w < 2; w++) {
      /* the step in y' as large as that in y: the residual is linear in
       * y', and a step of 1e-6 in a y' that is small beside its row's
       * residual (a charge of 1e6 C/m3 changing by 1e-4 C/m3/s) loses
       * the difference to round-off */
      double s = fabs(v[w][j]) > 1.0 ? fabs(v[w][j]) : 1.0;
      if (w && fabs(y[j]) > s) s = fabs(y[j]);
      double h = 1e-6 * s;
      double keep = v[w][j];
      v[w][j] = keep + h;
      nimc_model_eval(m, t, y, yp, Fp, 0.0, NULL);
      v[w][j] = keep - h;
      nimc_model_eval(m, t, y, yp, Fm, 0.0, NULL);
      v[w][j] = keep;
      for (int64_t r = 0; r < n; r++)
        fd[r] += (w ? cj : 1.0) * (Fp[r] - Fm[r]) / (2 * h);
    }
    for (int64_t r = 0; r < n; r++) {
      double a = 0.0, b = fd[r];
      int inpattern = 0;
      for (int64_t k = m->rowptr[r]; k < m->rowptr[r + 1]; k++)
        if (m->colind[k] == j) a = J[k], inpattern = 1;
      double scale = fabs(b) + 1e-6 * (fabs(a) + 1e-30);
      double err = fabs(a - b) / (scale + 1e-6 * rowmax[r]);
      if (err > *worst) *worst = err;
      if (err > 1e-4) {
        if (bad < 5)
          fprintf(stderr, "  %s J[%ld][%ld] = %.9g, fd %.9g\n", label, (long)r,
                  (long)j, a, b);
        bad++;
      }
      if (!inpattern && fabs(b) > 1e-9 * (rowmax[r] + 1e-30)) (*outside)++;
    }
  }
  free(Fp), free(Fm), free(fd), free(rowmax);
  return bad;
}

#endif
