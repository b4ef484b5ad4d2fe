/* benchutil.h -- the clocks and the median shared by the benchmarks. */
#ifndef NIMC_BENCHUTIL_H
#define NIMC_BENCHUTIL_H

#include <stdlib.h>
#include <time.h>

/* Monotonic wall-clock time in seconds. */
static inline double bench_now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU time of this process (all its threads) in seconds. */
static inline double bench_cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static inline int bench_cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Sort t[0..n) and return its median. */
static inline double bench_median(double *t, size_t n) {
  qsort(t, n, sizeof(double), bench_cmp_double);
  return t[n / 2];
}

#endif
