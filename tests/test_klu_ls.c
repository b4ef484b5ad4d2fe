/*
 * test_klu_ls.c -- the KLU linear solver's cost estimate
 * (solver/klu_ls.c), which decides whether IDA keeps its Newton matrices
 * over larger changes of cj (solver.c): a factorisation of a chain (a 1D
 * cell) costs about a solve, one of a 2D grid many, more on a finer grid.
 */
#include <sundials/sundials_context.h>
#include <sunmatrix/sunmatrix_sparse.h>

#include "solver/klu_ls.h"
#include "testlib.h"

/* The cost ratio after the first set-up of the CSR matrix of an nx-by-ny
 * grid's 5-point operator plus 4 on the diagonal (ny = 1: a chain); -1 on
 * failure.  *before: the ratio before the set-up. */
static double grid_ratio(int nx, int ny, double *before) {
  SUNContext ctx = NULL;
  if (SUNContext_Create(NULL, &ctx)) return -1.0;
  sunindextype n = (sunindextype)nx * ny;
  SUNMatrix A = SUNSparseMatrix(n, n, 5 * n, CSR_MAT, ctx);
  SUNLinearSolver S = nimc_klu_ls_create(ctx);
  double r = -1.0;
  if (A && S) {
    sunindextype *ptr = SM_INDEXPTRS_S(A), *ind = SM_INDEXVALS_S(A), k = 0;
    double *v = SM_DATA_S(A);
    for (sunindextype i = 0; i < n; i++) {
      ptr[i] = k;
      sunindextype x = i % nx, y = i / nx;
      sunindextype nb[5] = {y > 0 ? i - nx : -1, x > 0 ? i - 1 : -1, i,
                            x < nx - 1 ? i + 1 : -1, y < ny - 1 ? i + nx : -1};
      for (int j = 0; j < 5; j++)
        if (nb[j] >= 0) ind[k] = nb[j], v[k++] = nb[j] == i ? 8.0 : -1.0;
    }
    ptr[n] = k;
    *before = nimc_klu_ls_cost_ratio(S);
    if (SUNLinSolSetup(S, A) == SUNLS_SUCCESS) r = nimc_klu_ls_cost_ratio(S);
  }
  if (S) SUNLinSolFree(S);
  if (A) SUNMatDestroy(A);
  SUNContext_Free(&ctx);
  return r;
}

static void test_cost_ratio(void) {
  double before = -1.0;
  double chain = grid_ratio(500, 1, &before);
  CHECK(before == 0.0); /* no analysis yet */
  double coarse = grid_ratio(20, 20, &before);
  double fine = grid_ratio(80, 80, &before);
  printf("  flops of a factorisation per L+U non-zero: chain %.2f, "
         "20x20 grid %.2f, 80x80 %.2f\n",
         chain, coarse, fine);
  CHECK(chain > 0.0 && chain < 3.0);
  CHECK(coarse > 2.0 * chain);
  CHECK(fine > 2.0 * coarse);
  CHECK(nimc_klu_ls_cost_ratio(NULL) == 0.0);
}

int main(void) {
  RUN(test_cost_ratio);
  return TEST_REPORT();
}
