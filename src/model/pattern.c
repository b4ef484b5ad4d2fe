/*
 * pattern.c -- the recorded entries of a sparse Jacobian into CSR
 * (pattern.h).
 */
#include "model/pattern.h"

#include "nimc/nimc.h"

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

int nimc_pattern_csr(nimc_pattern *p, int64_t **rowptr, int64_t **colind,
                     int64_t *nnz) {
  *rowptr = NULL, *colind = NULL, *nnz = 0;
  if (p->oom) {
    free(p->pairs);
    p->pairs = NULL;
    return NIMC_ENOMEM;
  }
  qsort(p->pairs, (size_t)p->npairs, sizeof(int64_t), cmp_i64);
  int64_t u = 0;
  for (int64_t k = 0; k < p->npairs; k++)
    if (u == 0 || p->pairs[k] != p->pairs[u - 1]) p->pairs[u++] = p->pairs[k];
  int64_t *rp = calloc((size_t)p->n + 1, sizeof(int64_t));
  int64_t *ci = malloc(sizeof(int64_t) * (size_t)(u ? u : 1));
  if (!rp || !ci) {
    free(rp), free(ci), free(p->pairs);
    p->pairs = NULL;
    return NIMC_ENOMEM;
  }
  for (int64_t k = 0; k < u; k++) {
    ci[k] = p->pairs[k] % p->n;
    rp[p->pairs[k] / p->n + 1]++;
  }
  for (int64_t r = 0; r < p->n; r++)
    rp[r + 1] += rp[r];
  free(p->pairs);
  p->pairs = NULL;
  *rowptr = rp, *colind = ci, *nnz = u;
  return NIMC_OK;
}
