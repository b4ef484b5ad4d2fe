/*
 * zsolve.h -- complex sparse solves with KLU for the linearised DAE.
 *
 * The impedance of a DAE F(t, y, y') = 0 at an operating point is the
 * response of (G + j w C) dy = b, G = dF/dy and C = dF/dy' in the model's
 * CSR sparsity pattern, one solve per angular frequency w.  This object
 * does KLU's symbolic analysis once for the pattern, refactors the numeric
 * factorisation for each new w with the pivot order of the last full
 * factorisation, and checks every solution by its componentwise backward
 * error (Oettli-Prager); when a refactor with stale pivots is not accurate
 * enough, one step of iterative refinement, and if that does not suffice a
 * full factorisation with fresh pivoting, restore it.  Nothing here knows
 * the physics; it prints nothing and allocates only at creation.
 */
#ifndef NIMC_ZSOLVE_H
#define NIMC_ZSOLVE_H

#include <stdint.h>

#include "nimc/nimc.h"

typedef struct nimc_zsolver nimc_zsolver;

/* Counters of one solver's work. */
typedef struct nimc_zsolver_stats {
  long full_factorizations; /* klu_z_factor: fresh pivoting */
  long refactorizations;    /* klu_z_refactor: pivots of the last factor */
  long solves;              /* triangular solve pairs (refinement included) */
  long refinements;         /* iterative-refinement steps taken */
  double max_backward_error; /* worst accepted componentwise backward error */
  double max_correction;     /* worst last relative refinement correction
                                accepted: an estimate of the forward error */
} nimc_zsolver_stats;

/* Analyse the n x n pattern (CSR: rowptr[n + 1], colind[nnz], sorted
 * rows) once.  The fill-reducing ordering is computed on the hint pattern
 * when one is given (NULL: on the matrix's own), with the nlast unknowns
 * last[] moved to the end: a pattern with a few dense columns is best
 * ordered as the sparser pattern it came from, its dense columns last.
 * NIMC_ESOLVER when KLU cannot analyse it. */
int nimc_zsolver_create(nimc_zsolver **out, int64_t n, const int64_t *rowptr,
                        const int64_t *colind, const int64_t *hint_rowptr,
                        const int64_t *hint_colind, const int64_t *last,
                        int nlast, nimc_err *err);
void nimc_zsolver_destroy(nimc_zsolver *z);

/* Solve (G + j w C) x = b, G and C the values in the pattern (length
 * nnz); b and x are interleaved complex (re, im), length 2 n.  Refinement
 * watches the accuracy of component `watch` (the output; -1: the largest
 * component).  NIMC_ESOLVER with a message when the matrix is singular or
 * no factorisation reaches the tolerances. */
int nimc_zsolver_solve(nimc_zsolver *z, const double *G, const double *C,
                       double w, const double *b, double *x, int64_t watch,
                       nimc_err *err);

nimc_zsolver_stats nimc_zsolver_get_stats(const nimc_zsolver *z);

#endif
