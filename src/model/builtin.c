/*
 * builtin.c -- named material functions that device files may reference
 * as "builtin:<name>".
 *
 * Each returns f(x) at temperature T and its derivative in x.  Only
 * functions with a documented origin belong here (docs/materials.md).
 */
#include <math.h>
#include <string.h>

#include "core/params.h"
#include "model/constants.h"

/* Open-circuit potential of Na2Ti3O7 against Na/Na+, x = sodiated fraction
 * theta of the 2 Na per formula unit (Na(2+2 theta)Ti3O7).  No public table
 * exists (physics.md): this is a smooth function built to match the
 * reported features: a two-phase plateau near 0.3 V, a slope up to about
 * 1 V at low sodium content, and a fall towards 0 V at full sodiation.
 *   U = U0 - w (RT/F) ln(th/(1-th)) + A exp(-th/thA) - B exp(-(1-th)/thB)
 * The ideal-solution term (w < 1 for a flat plateau) keeps U finite-sloped
 * and makes the ends unreachable, as they are in practice. */
static double nto_ocp(double th, double T, double *d) {
  const double U0 = 0.32, w = 0.5, A = 0.7, thA = 0.05, B = 0.2, thB = 0.03;
  const double lo = 1e-9, hi = 1.0 - 1e-9;
  if (th < lo) th = lo;
  if (th > hi) th = hi;
  double rt = w * NIMC_R * T / NIMC_F;
  double ea = A * exp(-th / thA), eb = B * exp(-(1.0 - th) / thB);
  *d = -rt * (1.0 / th + 1.0 / (1.0 - th)) - ea / thA - eb / thB;
  return U0 - rt * log(th / (1.0 - th)) + ea - eb;
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
    {"linear_ocp", linear_ocp},
};

nimc_builtin_fn nimc_builtin_find(const char *name) {
  for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
    if (strcmp(builtins[i].name, name) == 0) return builtins[i].fn;
  return NULL;
}

const char *nimc_builtin_names(void) { return "nto_ocp, linear_ocp"; }
