/*
 * builtin.c -- named material functions that device files may reference
 * as "builtin:<name>".
 *
 * Each returns f(x) at temperature T and its derivative in x.  Only
 * functions with a documented origin belong here (docs/materials.md).
 */
#include <math.h>
#include <string.h>

#include "core/constants.h"
#include "core/error.h"
#include "laws/law.h"

/* Open-circuit potential of Na2Ti3O7 against Na/Na+, x = theta, the
 * sodium inserted as a fraction of the accessible capacity (the material's
 * max_concentration; Na(2+y)Ti3O7, y = theta times the accessible sodium
 * per formula unit).  No public table exists: this is a smooth function
 * built to match the reported features (docs/materials.md):
 *   - a two-phase plateau near 0.3 V (U0), nearly flat (w = 0.5);
 *   - a slope up to about 1 V at low sodium content (A, thA);
 *   - a steep rise above 2 V as the host empties (B, thB): the as-made
 *     Na2Ti3O7 rests near 2 V and cannot give up sodium it does not have;
 *   - a fall below 0 V as it fills (C, thC): past its accessible capacity
 *     the NTO cannot take more sodium, and the cell voltage, not the
 *     solver, responds.
 *   U = U0 - w (RT/F) ln(th/(1-th)) + A exp(-th/thA) + B exp(-th/thB)
 *       - C exp(-(1-th)/thC)
 * The logarithm makes both ends unreachable, as they are in practice. */
static double nto_ocp(double th, double T, double *d) {
  const double U0 = 0.30, w = 0.5, A = 0.7, thA = 0.05, B = 1.5, thB = 0.005,
               C = 1.5, thC = 0.005;
  const double lo = 1e-12, hi = 1.0 - 1e-12;
  if (th < lo) th = lo;
  if (th > hi) th = hi;
  double rt = w * NIMC_R * T / NIMC_F;
  double ea = A * exp(-th / thA), eb = B * exp(-th / thB),
         ec = C * exp(-(1.0 - th) / thC);
  *d = -rt * (1.0 / th + 1.0 / (1.0 - th)) - ea / thA - eb / thB - ec / thC;
  return U0 - rt * log(th / (1.0 - th)) + ea + eb - ec;
}

/* tanh(z) from one exp: (1 - e) / (1 + e), e = exp(-2|z|).  libm's tanh
 * goes through expm1 and costs about twice as much; this one is within
 * 2.3e-16 of it in absolute terms everywhere (it loses relative accuracy
 * only near z = 0, where the sums below need none: they add tanh times
 * coefficients of 0.01-2 V to potentials of volts).  The tanh sums of the
 * open-circuit potentials are a tenth of the DUALFOIL case's time. */
static double tanh_sum_term(double z) {
  double e = exp(-2.0 * fabs(z)), t = (1.0 - e) / (1.0 + e);
  return z < 0.0 ? -t : t;
}

/* ---- DUALFOIL's Li-ion example (Doyle, Fuller, Newman; dualfoil 5.2),
 * re-implemented from the published correlations its property routines
 * cite; docs/materials.md gives the sources. ---- */

/* MCMB 2528 graphite against Li/Li+, x = c_s/c_max (dualfoil nneg = 3;
 * fit of Verbrugge and Koch's data). */
static double mcmb2528_ocp(double x, double T, double *d) {
  (void)T;
  static const double a[8] = {0.0351, -0.0045, -0.035, -0.0147,
                              -0.102, -0.022,  -0.011, 0.0155};
  static const double b[8] = {0.286, 0.849, 0.9233, 0.5,
                              0.194, 0.9,   0.124,  0.105};
  static const double w[8] = {0.083, 0.119,  0.05,   0.034,
                              0.142, 0.0164, 0.0226, 0.029};
  double e = 1.5 * exp(-120.0 * x);
  double U = 0.194 + e, dU = -120.0 * e;
  for (int k = 0; k < 8; k++) {
    double th = tanh_sum_term((x - b[k]) / w[k]);
    U += a[k] * th;
    dU += a[k] * (1.0 - th * th) / w[k];
  }
  *d = dU;
  return U;
}

/* LiCoO2 against Li/Li+, y = c_s/c_max (dualfoil npos = 6; fit with the
 * stoichiometry stretched by 1.062). */
static double licoo2_ocp(double y, double T, double *d) {
  (void)T;
  double s = 1.062 * y;
  /* U = 2.16216 + sum c_k tanh(p_k + q_k s) */
  static const double c[6] = {0.07645, 2.1581, -0.14169,
                              0.2051,  0.2531, -0.02167};
  static const double p[6] = {30.834, 52.294,           11.0923,
                              1.4684, 0.56478 / 0.1316, -0.525 / 0.006};
  static const double q[6] = {-54.4806, -50.294,       -19.8543,
                              -5.4888,  -1.0 / 0.1316, 1.0 / 0.006};
  double U = 2.16216, dU = 0.0;
  for (int k = 0; k < 6; k++) {
    double th = tanh_sum_term(p[k] + q[k] * s);
    U += c[k] * th;
    dU += c[k] * (1.0 - th * th) * q[k];
  }
  *d = 1.062 * dU;
  return U;
}

/* LiPF6 in EC:DMC, bulk conductivity (S/m) against c (mol/m3) at 25 C
 * (dualfoil nprop = 11). */
static double lipf6_ecdmc_conductivity(double c, double T, double *d) {
  (void)T;
  double x = 1e-3 * c;
  *d = 1e-3 * (1.9101 - 2.0 * 1.052 * x + 3.0 * 0.1554 * x * x);
  return 0.0911 + 1.9101 * x - 1.052 * x * x + 0.1554 * x * x * x;
}

/* LiPF6 in EC:DMC, salt diffusivity (m2/s) against c (mol/m3) at 25 C. */
static double lipf6_ecdmc_diffusivity(double c, double T, double *d) {
  (void)T;
  double D = 5.34e-10 * exp(-0.65e-3 * c);
  *d = -0.65e-3 * D;
  return D;
}

/* A linear potential U = 1 - x: for tests of OCP recovery. */
static double linear_ocp(double x, double T, double *d) {
  (void)T;
  *d = -1.0;
  return 1.0 - x;
}

static const struct {
  const char *name;
  nimc_builtin_fn fn;
} builtins[] = {
    {"nto_ocp", nto_ocp},
    {"mcmb2528_ocp", mcmb2528_ocp},
    {"licoo2_ocp", licoo2_ocp},
    {"lipf6_ecdmc_conductivity", lipf6_ecdmc_conductivity},
    {"lipf6_ecdmc_diffusivity", lipf6_ecdmc_diffusivity},
    {"linear_ocp", linear_ocp},
};

nimc_builtin_fn nimc_builtin_find(const char *name) {
  for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
    if (strcmp(builtins[i].name, name) == 0) return builtins[i].fn;
  return NULL;
}

const char *nimc_builtin_names(void) {
  return "nto_ocp, mcmb2528_ocp, licoo2_ocp, lipf6_ecdmc_conductivity, "
         "lipf6_ecdmc_diffusivity, linear_ocp";
}
