/*
 * klu_ls.h -- a SUNDIALS linear solver over KLU that refactors with the
 * pivots it has and factors afresh only when they have gone bad.
 *
 * SUNDIALS' own KLU module decides between a refactorisation and a fresh
 * factorisation by KLU's reciprocal pivot ratio against a fixed threshold
 * (uround^(2/3)).  The model's rows span twenty orders of magnitude in SI
 * units, so that ratio is always below the threshold: every Jacobian
 * set-up paid for a refactorisation, a condition estimate AND a fresh
 * factorisation.  This solver judges the pivots relative to those of its
 * last fresh factorisation instead (klu_ls.c says how), and counts
 * refactorisations and fresh factorisations apart.
 */
#ifndef NIMC_KLU_LS_H
#define NIMC_KLU_LS_H

#include <sundials/sundials_linearsolver.h>

/* Counters of one solver. */
typedef struct nimc_klu_ls_stats {
  long full_factorizations; /* klu_l_factor: fresh pivoting */
  long refactorizations;    /* klu_l_refactor with the pivots kept */
  long lu_nonzeros;         /* nonzeros of L + U (+ off-diagonal blocks) at
                               the last fresh factorisation */
} nimc_klu_ls_stats;

/* A direct linear solver for CSR SUNSparseMatrix systems of size n
 * (factored as the CSC matrix of A^T and solved with the transpose
 * solve), or NULL when out of memory.  Free with SUNLinSolFree. */
SUNLinearSolver nimc_klu_ls_create(SUNContext ctx);

/* Drop the numeric factorisation (its pivots) that set-ups keep and
 * refactor with: the next set-up factors afresh, as a new solver's first
 * does.  The symbolic analysis (a function of the pattern alone) stays.
 * A checkpoint boundary calls it, so that a run resumed from there in a
 * new solver computes the same numbers (docs/cli.md, "Checkpoints"). */
void nimc_klu_ls_forget(SUNLinearSolver LS);

/* What a factorisation costs against a solve, from the symbolic analysis
 * (a function of the pattern alone, so the same in a solver resumed from a
 * checkpoint): AMD's flop estimate of a factorisation over the non-zeros
 * of L and U, of which a solve does two flops each (the ratio is about
 * twice the solves a factorisation costs).  0 before the first set-up or
 * for NULL.  About 1.5 for the DUALFOIL cell, 47 for the 2D
 * NIMC's default mesh, 95 for the twice-refined one. */
double nimc_klu_ls_cost_ratio(SUNLinearSolver LS);

/* Its counters (zero for NULL). */
nimc_klu_ls_stats nimc_klu_ls_stats_get(SUNLinearSolver LS);

#endif
