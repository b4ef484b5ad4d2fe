/*
 * testlib.h -- the in-house test runner: a few macros, no framework.
 *
 * Each test file defines test functions and a main() that runs them with
 * RUN(fn).  CHECK records a failure with file:line and goes on; the program
 * ends with the line "N passed, N failed" (counting checks) and exits
 * non-zero when any check failed.
 */
#ifndef NIMC_TESTLIB_H
#define NIMC_TESTLIB_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int tl_pass, tl_fail;
static int tl_skipped; /* a test found its data absent (../shared) */

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (cond) {                                                                \
      tl_pass++;                                                               \
    } else {                                                                   \
      tl_fail++;                                                               \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                          \
  } while (0)

/* |a - b| <= tol * max(|b|, tiny): relative closeness. */
#define CHECK_REL(a, b, tol)                                                   \
  do {                                                                         \
    double tl_a = (a), tl_b = (b), tl_t = (tol);                               \
    double tl_d = fabs(tl_a - tl_b),                                           \
           tl_s = fabs(tl_b) > 1e-300 ? fabs(tl_b) : 1e-300;                   \
    if (tl_d <= tl_t * tl_s) {                                                 \
      tl_pass++;                                                               \
    } else {                                                                   \
      tl_fail++;                                                               \
      fprintf(stderr,                                                          \
              "%s:%d: %s = %.12g, expected %s = %.12g (rel %.3g > %.3g)\n",    \
              __FILE__, __LINE__, #a, tl_a, #b, tl_b, tl_d / tl_s, tl_t);      \
    }                                                                          \
  } while (0)

#define CHECK_ABS(a, b, tol)                                                   \
  do {                                                                         \
    double tl_a = (a), tl_b = (b), tl_t = (tol);                               \
    if (fabs(tl_a - tl_b) <= tl_t) {                                           \
      tl_pass++;                                                               \
    } else {                                                                   \
      tl_fail++;                                                               \
      fprintf(stderr,                                                          \
              "%s:%d: %s = %.12g, expected %s = %.12g (abs %.3g > %.3g)\n",    \
              __FILE__, __LINE__, #a, tl_a, #b, tl_b, fabs(tl_a - tl_b),       \
              tl_t);                                                           \
    }                                                                          \
  } while (0)

#define CHECK_CONTAINS(hay, needle)                                            \
  do {                                                                         \
    const char *tl_h = (hay), *tl_n = (needle);                                \
    if (tl_h && strstr(tl_h, tl_n)) {                                          \
      tl_pass++;                                                               \
    } else {                                                                   \
      tl_fail++;                                                               \
      fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", __FILE__,     \
              __LINE__, tl_h ? tl_h : "(null)", tl_n);                         \
    }                                                                          \
  } while (0)

#define RUN(fn)                                                                \
  do {                                                                         \
    int tl_before = tl_fail;                                                   \
    fn();                                                                      \
    fprintf(stderr, "%s %s\n", tl_fail == tl_before ? "ok  " : "FAIL", #fn);   \
  } while (0)

/* Exit status: 1 on a failure, else 77 (CTest: skipped) when a test found
 * its reference data absent and set tl_skipped, else 0. */
#define TEST_REPORT()                                                          \
  (printf("%d passed, %d failed\n", tl_pass, tl_fail), tl_fail      ? 1        \
                                                       : tl_skipped ? 77       \
                                                                    : 0)

#endif
