/*
 * pattern.h -- a sparse Jacobian assembled entry by entry: its pattern
 * recorded in a first pass over the code that assembles it (the entries
 * as row * n + col, in any order, repeated), then turned into CSR; later
 * passes add each value at its entry's place in the CSR arrays.  Shared by
 * the model (model.c) and the pack (pack.c), whose residuals put their
 * entries this way.
 */
#ifndef NIMC_PATTERN_H
#define NIMC_PATTERN_H

#include <stdint.h>
#include <stdlib.h>

/* The entries recorded so far of an n x n matrix (zeroed to start). */
typedef struct nimc_pattern {
  int64_t n;
  int64_t npairs, cap;
  int64_t *pairs; /* row * n + col */
  int oom;        /* an allocation failed: the pattern is incomplete */
} nimc_pattern;

/* Record entry (row, col) of p. */
static inline void nimc_pattern_add(nimc_pattern *p, int64_t row,
                                    int64_t col) {
  if (p->npairs == p->cap) {
    int64_t cap = p->cap ? 2 * p->cap : 1024;
    int64_t *q = realloc(p->pairs, sizeof(int64_t) * (size_t)cap);
    if (!q) {
      p->oom = 1;
      return;
    }
    p->pairs = q, p->cap = cap;
  }
  p->pairs[p->npairs++] = row * p->n + col;
}

/* The CSR arrays of p's entries, each once, columns sorted in each row:
 * *rowptr (n + 1) and *colind (*nnz), malloc'd; p's own array is freed.
 * NIMC_ENOMEM (nothing returned) when p is incomplete or memory runs out. */
int nimc_pattern_csr(nimc_pattern *p, int64_t **rowptr, int64_t **colind,
                     int64_t *nnz);

/* The place of entry (row, col) in a CSR pattern (it must be there). */
static inline int64_t nimc_csr_find(const int64_t *rowptr,
                                    const int64_t *colind, int64_t row,
                                    int64_t col) {
  int64_t lo = rowptr[row], hi = rowptr[row + 1] - 1;
  while (lo < hi) { /* binary search for col in the sorted row */
    int64_t mid = (lo + hi) / 2;
    if (colind[mid] < col)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

#endif
