/*
 * nvec_fast.c -- compiled serial vector operations for IDA (see
 * nvec_fast.h).
 *
 * Debian's SUNDIALS 6.4 is built without optimisation (its CMake build
 * type is empty, so -O0): every element of every N_Vector operation goes
 * through memory, and IDA's vector arithmetic (prediction, the error
 * test's weighted norms, the Newton update, the interpolation at each root
 * check) was a quarter of the 2D NIMC cycle and about half of the DUALFOIL
 * process (docs/performance.md).  Building SUNDIALS ourselves would add a vendored
 * dependency; instead the serial vector's ops table, which SUNDIALS made
 * replaceable for exactly this, gets these loops, compiled with the
 * library's flags.
 *
 * The arithmetic is SUNDIALS' own, term for term, so results are bitwise
 * those of the library's routines: a linear sum a x + b y is computed as
 * a (x + y) when a == b and a (x - y) when a == -b (SUNDIALS' ScaleSum and
 * ScaleDiff), and as a x + b y otherwise, which equals every other special
 * case SUNDIALS takes (a or b of +-1 multiply exactly); sums run in index
 * order; the weighted norms square x_i w_i.  Only the operations IDA calls
 * are replaced; the rest stay SUNDIALS'.
 */
#include <math.h>

#include <nvector/nvector_serial.h>

#include "solver/nvec_fast.h"

#define LEN(v) ((size_t)NV_LENGTH_S(v))
#define DATA(v) NV_DATA_S(v)

/* z = a x + b y with SUNDIALS' rounding (see the top of the file). */
static void lsum(size_t n, double a, const double *x, double b,
                 const double *y, double *z) {
  if (a == b) {
    for (size_t i = 0; i < n; i++) z[i] = a * (x[i] + y[i]);
  } else if (a == -b) {
    for (size_t i = 0; i < n; i++) z[i] = a * (x[i] - y[i]);
  } else if (b == 1.0) {
    for (size_t i = 0; i < n; i++) z[i] = a * x[i] + y[i];
  } else {
    for (size_t i = 0; i < n; i++) z[i] = a * x[i] + b * y[i];
  }
}

static void linear_sum(double a, N_Vector x, double b, N_Vector y,
                       N_Vector z) {
  lsum(LEN(z), a, DATA(x), b, DATA(y), DATA(z));
}

static void vconst(double c, N_Vector z) {
  double *zd = DATA(z);
  for (size_t i = 0, n = LEN(z); i < n; i++) zd[i] = c;
}

static void prod(N_Vector x, N_Vector y, N_Vector z) {
  const double *xd = DATA(x), *yd = DATA(y);
  double *zd = DATA(z);
  for (size_t i = 0, n = LEN(z); i < n; i++) zd[i] = xd[i] * yd[i];
}

static void vdiv(N_Vector x, N_Vector y, N_Vector z) {
  const double *xd = DATA(x), *yd = DATA(y);
  double *zd = DATA(z);
  for (size_t i = 0, n = LEN(z); i < n; i++) zd[i] = xd[i] / yd[i];
}

static void scale(double c, N_Vector x, N_Vector z) {
  const double *xd = DATA(x);
  double *zd = DATA(z);
  size_t n = LEN(z);
  if (c == 1.0) {
    if (zd != xd)
      for (size_t i = 0; i < n; i++) zd[i] = xd[i];
    return;
  }
  for (size_t i = 0; i < n; i++) zd[i] = c * xd[i];
}

static void vabs(N_Vector x, N_Vector z) {
  const double *xd = DATA(x);
  double *zd = DATA(z);
  for (size_t i = 0, n = LEN(z); i < n; i++) zd[i] = fabs(xd[i]);
}

static void inv(N_Vector x, N_Vector z) {
  const double *xd = DATA(x);
  double *zd = DATA(z);
  for (size_t i = 0, n = LEN(z); i < n; i++) zd[i] = 1.0 / xd[i];
}

static void add_const(N_Vector x, double b, N_Vector z) {
  const double *xd = DATA(x);
  double *zd = DATA(z);
  for (size_t i = 0, n = LEN(z); i < n; i++) zd[i] = xd[i] + b;
}

static double max_norm(N_Vector x) {
  const double *xd = DATA(x);
  double m = 0.0;
  for (size_t i = 0, n = LEN(x); i < n; i++)
    if (fabs(xd[i]) > m) m = fabs(xd[i]);
  return m;
}

static double vmin(N_Vector x) {
  const double *xd = DATA(x);
  double m = xd[0];
  for (size_t i = 1, n = LEN(x); i < n; i++)
    if (xd[i] < m) m = xd[i];
  return m;
}

static void compare(double c, N_Vector x, N_Vector z) {
  const double *xd = DATA(x);
  double *zd = DATA(z);
  for (size_t i = 0, n = LEN(z); i < n; i++)
    zd[i] = fabs(xd[i]) >= c ? 1.0 : 0.0;
}

static double wsqrsum(N_Vector x, N_Vector w) {
  const double *xd = DATA(x), *wd = DATA(w);
  double s = 0.0;
  for (size_t i = 0, n = LEN(x); i < n; i++) {
    double p = xd[i] * wd[i];
    s += p * p;
  }
  return s;
}

static double wsqrsum_mask(N_Vector x, N_Vector w, N_Vector id) {
  const double *xd = DATA(x), *wd = DATA(w), *idd = DATA(id);
  double s = 0.0;
  for (size_t i = 0, n = LEN(x); i < n; i++)
    if (idd[i] > 0.0) {
      double p = xd[i] * wd[i];
      s += p * p;
    }
  return s;
}

static double wrms_norm(N_Vector x, N_Vector w) {
  return sqrt(wsqrsum(x, w) / (double)LEN(x));
}

static double wrms_norm_mask(N_Vector x, N_Vector w, N_Vector id) {
  return sqrt(wsqrsum_mask(x, w, id) / (double)LEN(x));
}

/* z = sum c_k X_k, the terms added in k order as SUNDIALS does; one
 * term is a scale, two a linear sum (SUNDIALS' own dispatch). */
static int linear_combination(int nvec, double *c, N_Vector *X, N_Vector z) {
  if (nvec < 1) return -1;
  if (nvec == 1) {
    scale(c[0], X[0], z);
    return 0;
  }
  if (nvec == 2) {
    linear_sum(c[0], X[0], c[1], X[1], z);
    return 0;
  }
  double *zd = DATA(z);
  size_t n = LEN(z);
  if (X[0] == z) {
    if (c[0] != 1.0)
      for (size_t i = 0; i < n; i++) zd[i] *= c[0];
  } else {
    const double *x0 = DATA(X[0]);
    for (size_t i = 0; i < n; i++) zd[i] = c[0] * x0[i];
  }
  for (int k = 1; k < nvec; k++) {
    const double *xk = DATA(X[k]);
    double ck = c[k];
    for (size_t i = 0; i < n; i++) zd[i] += ck * xk[i];
  }
  return 0;
}

/* Z_k = a_k x + Y_k. */
static int scale_add_multi(int nvec, double *a, N_Vector x, N_Vector *Y,
                           N_Vector *Z) {
  if (nvec < 1) return -1;
  const double *xd = DATA(x);
  size_t n = LEN(x);
  for (int k = 0; k < nvec; k++)
    lsum(n, a[k], xd, 1.0, DATA(Y[k]), DATA(Z[k]));
  return 0;
}

static int linear_sum_array(int nvec, double a, N_Vector *X, double b,
                            N_Vector *Y, N_Vector *Z) {
  if (nvec < 1) return -1;
  for (int k = 0; k < nvec; k++)
    lsum(LEN(Z[k]), a, DATA(X[k]), b, DATA(Y[k]), DATA(Z[k]));
  return 0;
}

static int scale_array(int nvec, double *c, N_Vector *X, N_Vector *Z) {
  if (nvec < 1) return -1;
  for (int k = 0; k < nvec; k++) scale(c[k], X[k], Z[k]);
  return 0;
}

static int const_array(int nvec, double c, N_Vector *Z) {
  if (nvec < 1) return -1;
  for (int k = 0; k < nvec; k++) vconst(c, Z[k]);
  return 0;
}

static int wrms_norm_array(int nvec, N_Vector *X, N_Vector *W, double *nrm) {
  if (nvec < 1) return -1;
  for (int k = 0; k < nvec; k++) nrm[k] = wrms_norm(X[k], W[k]);
  return 0;
}

static int wrms_norm_mask_array(int nvec, N_Vector *X, N_Vector *W,
                                N_Vector id, double *nrm) {
  if (nvec < 1) return -1;
  for (int k = 0; k < nvec; k++) nrm[k] = wrms_norm_mask(X[k], W[k], id);
  return 0;
}

int nimc_nvec_fast_install(N_Vector v) {
  if (!v || N_VGetVectorID(v) != SUNDIALS_NVEC_SERIAL) return -1;
  N_Vector_Ops o = v->ops;
  o->nvlinearsum = linear_sum;
  o->nvconst = vconst;
  o->nvprod = prod;
  o->nvdiv = vdiv;
  o->nvscale = scale;
  o->nvabs = vabs;
  o->nvinv = inv;
  o->nvaddconst = add_const;
  o->nvmaxnorm = max_norm;
  o->nvmaxnormlocal = max_norm;
  o->nvmin = vmin;
  o->nvminlocal = vmin;
  o->nvcompare = compare;
  o->nvwrmsnorm = wrms_norm;
  o->nvwrmsnormmask = wrms_norm_mask;
  o->nvwsqrsumlocal = wsqrsum;
  o->nvwsqrsummasklocal = wsqrsum_mask;
  o->nvlinearcombination = linear_combination;
  o->nvscaleaddmulti = scale_add_multi;
  o->nvlinearsumvectorarray = linear_sum_array;
  o->nvscalevectorarray = scale_array;
  o->nvconstvectorarray = const_array;
  o->nvwrmsnormvectorarray = wrms_norm_array;
  o->nvwrmsnormmaskvectorarray = wrms_norm_mask_array;
  return 0;
}
