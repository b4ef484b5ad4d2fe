/*
 * zsolve.c -- complex KLU solves of (G + j w C) x = b (see zsolve.h).
 *
 * The model stores its Jacobian pattern by rows (CSR).  KLU factors by
 * columns (CSC), and the CSR arrays of A read as CSC are A's transpose, so
 * this file factors A^T and solves with klu_z_tsolve (conj_solve = 0: the
 * plain transpose, not the conjugate), which gives A x = b without ever
 * transposing the pattern.  The indices are copied once to int, KLU's
 * index type for klu_z_*.
 *
 * Scaling and pivoting.  The model's rows range over twenty orders of
 * magnitude in SI units.  Each row is scaled here by its largest entry
 * (|re| + |im|) at the frequency being solved, and KLU's own scaling then
 * equilibrates what it sees as rows (A's columns, the unknowns).  KLU's
 * default pivot tolerance (0.001) lets the factors grow badly on this
 * matrix (the solution of the NIMC at 100 kHz had a backward error of
 * 1e-5); plain partial pivoting (tol = 1) with the COLAMD ordering gives
 * backward errors near 1e-12 with almost no refinement (AMD: 1e-8 after
 * refinement, at slightly less fill).
 *
 * Pivot order across frequencies.  A spectrum sweeps w over many decades,
 * and the matrix moves from C-dominated (high w) to G-dominated (low w)
 * rows.  Refactoring with the pivots of the last full factorisation is
 * several times cheaper than factoring afresh, and accurate while those
 * pivots stay acceptable.  Each solution is therefore checked by its
 * componentwise backward error (Oettli-Prager)
 *   eta = max_i |b - A x|_i / (|A| |x| + |b|)_i,
 * with |z| taken as |re| + |im| (within a factor 2 of the modulus), which
 * does not depend on how rows are scaled.  Above ETA_REFINE, iterative
 * refinement steps are taken while they at least halve eta; if eta is
 * still above ETA_ACCEPT the matrix is factored afresh (new pivots) and
 * solved again.  A fresh factorisation that fails the test is reported,
 * not accepted.
 */
#include <klu.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/params.h"
#include "solver/zsolve.h"

#define ETA_REFINE 1e-12
#define ETA_ACCEPT 1e-7
#define MAX_REFINE 4

struct nimc_zsolver {
  int n, nnz;
  int *ptr, *ind;      /* the pattern as int (CSR of A = CSC of A^T) */
  double *Ax;          /* interleaved complex values, 2 nnz */
  double *r, *d;       /* residual and correction, 2 n each */
  double *rs, *bs;     /* row scaling (n) and the scaled right side (2 n) */
  klu_common common;
  klu_symbolic *sym;
  klu_numeric *num;
  nimc_zsolver_stats st;
};

void nimc_zsolver_destroy(nimc_zsolver *z) {
  if (!z) return;
  if (z->num) klu_z_free_numeric(&z->num, &z->common);
  if (z->sym) klu_free_symbolic(&z->sym, &z->common);
  free(z->ptr), free(z->ind), free(z->Ax), free(z->r), free(z->d);
  free(z->rs), free(z->bs);
  free(z);
}

int nimc_zsolver_create(nimc_zsolver **out, int64_t n, const int64_t *rowptr,
                        const int64_t *colind, nimc_err *err) {
  *out = NULL;
  if (n <= 0 || n > 100000000 || rowptr[n] > 2000000000)
    return nimc_err_set(err, NIMC_EMISUSE, "zsolve: bad matrix size");
  nimc_zsolver *z = calloc(1, sizeof *z);
  if (!z) return nimc_err_set(err, NIMC_ENOMEM, "zsolve: out of memory");
  z->n = (int)n;
  z->nnz = (int)rowptr[n];
  z->ptr = malloc(sizeof(int) * (size_t)(n + 1));
  z->ind = malloc(sizeof(int) * (size_t)(z->nnz ? z->nnz : 1));
  z->Ax = malloc(sizeof(double) * 2 * (size_t)(z->nnz ? z->nnz : 1));
  z->r = malloc(sizeof(double) * 2 * (size_t)n);
  z->d = malloc(sizeof(double) * 2 * (size_t)n);
  z->rs = malloc(sizeof(double) * (size_t)n);
  z->bs = malloc(sizeof(double) * 2 * (size_t)n);
  if (!z->ptr || !z->ind || !z->Ax || !z->r || !z->d || !z->rs || !z->bs) {
    nimc_zsolver_destroy(z);
    return nimc_err_set(err, NIMC_ENOMEM, "zsolve: out of memory");
  }
  for (int64_t k = 0; k <= n; k++)
    z->ptr[k] = (int)rowptr[k];
  for (int k = 0; k < z->nnz; k++)
    z->ind[k] = (int)colind[k];
  klu_defaults(&z->common);
  z->common.tol = 1.0;    /* plain partial pivoting */
  z->common.ordering = 1; /* COLAMD */
  z->sym = klu_analyze(z->n, z->ptr, z->ind, &z->common);
  if (!z->sym) {
    int status = z->common.status;
    nimc_zsolver_destroy(z);
    return nimc_err_set(err, NIMC_ESOLVER,
                        "zsolve: KLU could not analyse the pattern (status "
                        "%d)",
                        status);
  }
  *out = z;
  return NIMC_OK;
}

nimc_zsolver_stats nimc_zsolver_get_stats(const nimc_zsolver *z) {
  return z->st;
}

/* Residual r = b - A x (A in z->Ax, by rows) and the componentwise
 * backward error of x. */
static double residual(const nimc_zsolver *z, const double *b, const double *x,
                       double *r) {
  double eta = 0.0;
  for (int i = 0; i < z->n; i++) {
    double rr = b[2 * i], ri = b[2 * i + 1];
    double scale = fabs(rr) + fabs(ri);
    for (int k = z->ptr[i]; k < z->ptr[i + 1]; k++) {
      int j = z->ind[k];
      double ar = z->Ax[2 * k], ai = z->Ax[2 * k + 1];
      double xr = x[2 * j], xi = x[2 * j + 1];
      rr -= ar * xr - ai * xi;
      ri -= ar * xi + ai * xr;
      scale += (fabs(ar) + fabs(ai)) * (fabs(xr) + fabs(xi));
    }
    r[2 * i] = rr, r[2 * i + 1] = ri;
    double e = fabs(rr) + fabs(ri);
    if (e > 0.0) {
      double q = scale > 0.0 ? e / scale : INFINITY;
      if (!(q <= eta)) eta = q; /* a NaN makes eta NaN: rejected */
    }
  }
  return eta;
}

/* x = A^-1 b with the current factors, checked, refined once if needed;
 * returns the backward error reached. */
static double solve_checked(nimc_zsolver *z, const double *b, double *x) {
  memcpy(x, b, sizeof(double) * 2 * (size_t)z->n);
  klu_z_tsolve(z->sym, z->num, z->n, 1, x, 0, &z->common);
  z->st.solves++;
  double eta = residual(z, b, x, z->r);
  for (int it = 0; it < MAX_REFINE && !(eta <= ETA_REFINE); it++) {
    memcpy(z->d, z->r, sizeof(double) * 2 * (size_t)z->n);
    klu_z_tsolve(z->sym, z->num, z->n, 1, z->d, 0, &z->common);
    z->st.solves++;
    z->st.refinements++;
    for (int i = 0; i < 2 * z->n; i++)
      x[i] += z->d[i];
    double prev = eta;
    eta = residual(z, b, x, z->r);
    if (!(eta < 0.5 * prev)) break; /* refinement stalled */
  }
  return eta;
}

/* A fresh factorisation of the values in z->Ax. */
static int factor(nimc_zsolver *z) {
  if (z->num) klu_z_free_numeric(&z->num, &z->common);
  z->num = klu_z_factor(z->ptr, z->ind, z->Ax, z->sym, &z->common);
  z->st.full_factorizations++;
  return z->num != NULL && z->common.status == KLU_OK;
}

int nimc_zsolver_solve(nimc_zsolver *z, const double *G, const double *C,
                       double w, const double *b, double *x, nimc_err *err) {
  for (int i = 0; i < z->n; i++) {
    double mx = 0.0;
    for (int k = z->ptr[i]; k < z->ptr[i + 1]; k++) {
      double a = fabs(G[k]) + fabs(w * C[k]);
      if (a > mx) mx = a;
    }
    double sc = mx > 0.0 ? 1.0 / mx : 1.0;
    z->rs[i] = sc;
    for (int k = z->ptr[i]; k < z->ptr[i + 1]; k++) {
      z->Ax[2 * k] = sc * G[k];
      z->Ax[2 * k + 1] = sc * w * C[k];
    }
  }
  for (int i = 0; i < z->n; i++) {
    z->bs[2 * i] = z->rs[i] * b[2 * i];
    z->bs[2 * i + 1] = z->rs[i] * b[2 * i + 1];
  }
  b = z->bs;
  int fresh = 0;
  if (z->num) {
    z->st.refactorizations++;
    if (!klu_z_refactor(z->ptr, z->ind, z->Ax, z->sym, z->num, &z->common))
      fresh = 1;
  } else {
    fresh = 1;
  }
  double eta = NAN;
  if (!fresh) {
    eta = solve_checked(z, b, x);
    if (!(eta <= ETA_ACCEPT)) fresh = 1;
  }
  if (fresh) {
    if (!factor(z))
      return nimc_err_set(err, NIMC_ESOLVER,
                          "the linearised system is singular at w = %g rad/s "
                          "(KLU status %d)",
                          w, z->common.status);
    eta = solve_checked(z, b, x);
    if (!(eta <= ETA_ACCEPT))
      return nimc_err_set(err, NIMC_ESOLVER,
                          "the linearised system at w = %g rad/s is solved "
                          "only to a backward error of %.3g (tolerance %g)",
                          w, eta, ETA_ACCEPT);
  }
  if (eta > z->st.max_backward_error) z->st.max_backward_error = eta;
  return NIMC_OK;
}
