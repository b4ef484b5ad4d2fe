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
 * threshold partial pivoting (tol 0.001, its default) keeps to the
 * fill-reducing order, which matters: with plain partial pivoting (tol 1)
 * the factors of the 2D NIMC had twice the nonzeros.  Pivots that a small
 * tolerance accepts can grow; the refinement below catches what that
 * costs in accuracy (and answers with a fresh factorisation).
 *
 * Accuracy.  At low frequency the system is ill-conditioned (the
 * double layers' charges grow as 1/w against conductances that do not),
 * so a small backward error alone does not make Z accurate: a solution
 * with a componentwise backward error of 1e-16 was still 0.4 % off at 10
 * mHz on the 2D NIMC.  Every solution is therefore refined iteratively
 * with residuals b - A x accumulated in extended precision (long double),
 * which improves the forward error, not only the backward error, as long
 * as the factorisation is a fair approximate inverse; refinement stops
 * when the relative correction of the watched component (the output) falls
 * below REFINE_TOL or stops shrinking.  A solution is accepted when its
 * componentwise backward error (Oettli-Prager, |z| read as |re| + |im|)
 *   eta = max_i |b - A x|_i / (|A| |x| + |b|)_i
 * is below ETA_ACCEPT and the last correction below FWD_ACCEPT.
 *
 * Pivot order across frequencies.  A spectrum sweeps w over many decades,
 * and the matrix moves from C-dominated (high w) to G-dominated (low w)
 * rows.  Refactoring with the pivots of the last full factorisation is
 * several times cheaper than factoring afresh, and with refinement it stays
 * accurate while those pivots stay acceptable; when a refactored solution
 * is not accepted, the matrix is factored afresh (new pivots) and solved
 * again.  A fresh factorisation that fails the test is reported, not
 * accepted.
 */
#include <klu.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/params.h"
#include "solver/zsolve.h"

#define ETA_ACCEPT 1e-8   /* backward error accepted */
#define FWD_ACCEPT 1e-6   /* last relative correction accepted */
#define REFINE_TOL 1e-12  /* refinement stops below this correction */
#define MAX_REFINE 8

struct nimc_zsolver {
  int n, nnz;
  int *ptr, *ind;      /* the pattern as int (CSR of A = CSC of A^T) */
  double *Ax;          /* interleaved complex values, 2 nnz */
  double *r, *d;       /* residual and correction, 2 n each */
  double *bs;          /* the row-scaled right side, 2 n */
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
  free(z->bs);
  free(z);
}

/* The symbolic analysis: KLU's ordering (BTF and AMD) of the hint pattern
 * (or of the matrix's own when there is no hint) with the unknowns last[]
 * moved to the end of both permutations, given to KLU as its order. */
static klu_symbolic *analyze(nimc_zsolver *z, int64_t n,
                             const int64_t *hint_rowptr,
                             const int64_t *hint_colind, const int64_t *last,
                             int nlast) {
  int *hp = NULL, *hi = NULL, *P = NULL;
  const int *ap = z->ptr, *ai = z->ind;
  klu_symbolic *s0 = NULL, *sym = NULL;
  if (hint_rowptr) {
    hp = malloc(sizeof(int) * (size_t)(n + 1));
    hi = malloc(sizeof(int) * (size_t)(hint_rowptr[n] ? hint_rowptr[n] : 1));
    if (!hp || !hi) goto done;
    for (int64_t k = 0; k <= n; k++)
      hp[k] = (int)hint_rowptr[k];
    for (int64_t k = 0; k < hint_rowptr[n]; k++)
      hi[k] = (int)hint_colind[k];
    ap = hp, ai = hi;
  }
  s0 = klu_analyze(z->n, (int *)ap, (int *)ai, &z->common);
  if (!s0 || nlast == 0) {
    sym = s0, s0 = NULL;
    goto done;
  }
  P = malloc(sizeof(int) * 2 * (size_t)n);
  if (!P) goto done;
  int *Q = P + n;
  for (int pass = 0; pass < 2; pass++) {
    const int *from = pass ? s0->Q : s0->P;
    int *to = pass ? Q : P, np = 0;
    for (int k = 0; k < z->n; k++) {
      int moved = 0;
      for (int j = 0; j < nlast; j++)
        moved |= from[k] == last[j];
      if (!moved) to[np++] = from[k];
    }
    for (int j = 0; j < nlast && np < z->n; j++)
      to[np++] = (int)last[j];
  }
  z->common.btf = 0; /* the order is given whole */
  z->common.tol = 0.1; /* partial pivoting nearer the largest entry: the
                          ternary electrolyte's rows at high frequency
                          need it for a small backward error */
  sym = klu_analyze_given(z->n, z->ptr, z->ind, P, Q, &z->common);
done:
  if (s0) klu_free_symbolic(&s0, &z->common);
  free(hp), free(hi), free(P);
  return sym;
}

int nimc_zsolver_create(nimc_zsolver **out, int64_t n, const int64_t *rowptr,
                        const int64_t *colind, const int64_t *hint_rowptr,
                        const int64_t *hint_colind, const int64_t *last,
                        int nlast, nimc_err *err) {
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
  z->bs = malloc(sizeof(double) * 2 * (size_t)n);
  if (!z->ptr || !z->ind || !z->Ax || !z->r || !z->d || !z->bs) {
    nimc_zsolver_destroy(z);
    return nimc_err_set(err, NIMC_ENOMEM, "zsolve: out of memory");
  }
  for (int64_t k = 0; k <= n; k++)
    z->ptr[k] = (int)rowptr[k];
  for (int k = 0; k < z->nnz; k++)
    z->ind[k] = (int)colind[k];
  klu_defaults(&z->common);
  z->sym = analyze(z, n, hint_rowptr, hint_colind, last, nlast);
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

/* Residual r = b - A x (A in z->Ax, by rows), accumulated in extended
 * precision so that refinement improves the forward error, not only the
 * backward error; returns the componentwise backward error of x. */
static double residual(const nimc_zsolver *z, const double *b, const double *x,
                       double *r) {
  double eta = 0.0;
  for (int i = 0; i < z->n; i++) {
    long double rr = b[2 * i], ri = b[2 * i + 1];
    double scale = fabs(b[2 * i]) + fabs(b[2 * i + 1]);
    for (int k = z->ptr[i]; k < z->ptr[i + 1]; k++) {
      int j = z->ind[k];
      long double ar = z->Ax[2 * k], ai = z->Ax[2 * k + 1];
      long double xr = x[2 * j], xi = x[2 * j + 1];
      rr -= ar * xr - ai * xi;
      ri -= ar * xi + ai * xr;
      scale += (fabs(z->Ax[2 * k]) + fabs(z->Ax[2 * k + 1])) *
               (fabs(x[2 * j]) + fabs(x[2 * j + 1]));
    }
    r[2 * i] = (double)rr, r[2 * i + 1] = (double)ri;
    double e = fabs(r[2 * i]) + fabs(r[2 * i + 1]);
    if (e > 0.0) {
      double q = scale > 0.0 ? e / scale : INFINITY;
      if (!(q <= eta)) eta = q; /* a NaN makes eta NaN: rejected */
    }
  }
  return eta;
}

/* |v| of component k (|re| + |im|), or the largest over all when k < 0. */
static double size_of(const nimc_zsolver *z, const double *v, int64_t k) {
  if (k >= 0) return fabs(v[2 * k]) + fabs(v[2 * k + 1]);
  double m = 0.0;
  for (int i = 0; i < z->n; i++) {
    double a = fabs(v[2 * i]) + fabs(v[2 * i + 1]);
    if (!(a <= m)) m = a;
  }
  return m;
}

/* x = A^-1 b with the current factors, then iterative refinement with
 * extended-precision residuals until the correction of the watched
 * component falls below REFINE_TOL relative (or stops shrinking).  *eta
 * receives the backward error of the final x; returns the last relative
 * correction, an estimate of x's forward error. */
static double solve_refined(nimc_zsolver *z, const double *b, double *x,
                            int64_t watch, double *eta) {
  memcpy(x, b, sizeof(double) * 2 * (size_t)z->n);
  klu_z_tsolve(z->sym, z->num, z->n, 1, x, 0, &z->common);
  z->st.solves++;
  double corr = INFINITY;
  *eta = residual(z, b, x, z->r);
  for (int it = 0; it < MAX_REFINE; it++) {
    memcpy(z->d, z->r, sizeof(double) * 2 * (size_t)z->n);
    klu_z_tsolve(z->sym, z->num, z->n, 1, z->d, 0, &z->common);
    z->st.solves++;
    z->st.refinements++;
    for (int i = 0; i < 2 * z->n; i++)
      x[i] += z->d[i];
    double prev = corr, xs = size_of(z, x, watch);
    corr = xs > 0.0 ? size_of(z, z->d, watch) / xs : 0.0;
    *eta = residual(z, b, x, z->r);
    if (!(corr > REFINE_TOL) || !(corr < 0.5 * prev)) break;
  }
  return corr;
}

/* A fresh factorisation of the values in z->Ax. */
static int factor(nimc_zsolver *z) {
  if (z->num) klu_z_free_numeric(&z->num, &z->common);
  z->num = klu_z_factor(z->ptr, z->ind, z->Ax, z->sym, &z->common);
  z->st.full_factorizations++;
  return z->num != NULL && z->common.status == KLU_OK;
}

int nimc_zsolver_solve(nimc_zsolver *z, const double *G, const double *C,
                       double w, const double *b, double *x, int64_t watch,
                       nimc_err *err) {
  for (int i = 0; i < z->n; i++) {
    double mx = 0.0;
    for (int k = z->ptr[i]; k < z->ptr[i + 1]; k++) {
      double a = fabs(G[k]) + fabs(w * C[k]);
      if (a > mx) mx = a;
    }
    double sc = mx > 0.0 ? 1.0 / mx : 1.0;
    for (int k = z->ptr[i]; k < z->ptr[i + 1]; k++) {
      z->Ax[2 * k] = sc * G[k];
      z->Ax[2 * k + 1] = sc * w * C[k];
    }
    z->bs[2 * i] = sc * b[2 * i];
    z->bs[2 * i + 1] = sc * b[2 * i + 1];
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
  double eta = NAN, corr = NAN;
  if (!fresh) {
    corr = solve_refined(z, b, x, watch, &eta);
    if (!(eta <= ETA_ACCEPT && corr <= FWD_ACCEPT)) fresh = 1;
  }
  if (fresh) {
    if (!factor(z))
      return nimc_err_set(err, NIMC_ESOLVER,
                          "the linearised system is singular at w = %g rad/s "
                          "(KLU status %d)",
                          w, z->common.status);
    corr = solve_refined(z, b, x, watch, &eta);
    if (!(eta <= ETA_ACCEPT && corr <= FWD_ACCEPT))
      return nimc_err_set(err, NIMC_ESOLVER,
                          "the linearised system at w = %g rad/s is solved "
                          "only to a backward error of %.3g and a last "
                          "correction of %.3g (tolerances %g, %g)",
                          w, eta, corr, ETA_ACCEPT, FWD_ACCEPT);
  }
  if (corr > z->st.max_correction) z->st.max_correction = corr;
  if (eta > z->st.max_backward_error) z->st.max_backward_error = eta;
  return NIMC_OK;
}
