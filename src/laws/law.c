/*
 * law.c -- property laws: f(x, T) = base(x) * scale * tfactor(T).
 *
 * The base is a constant, a table interpolated with GSL's Steffen method
 * (monotone between points, continuous first derivative, so Newton sees a
 * smooth function) clamped at the ends, or a built-in function.  The
 * temperature factor is Arrhenius or Vogel-Tammann-Fulcher, equal to 1 at
 * the reference temperature, so every parameter is given at one reference
 * temperature and moved by its law, never re-fitted per temperature.  The
 * factor is an exp, and the residual evaluates the laws thousands of times
 * per Jacobian at one temperature: the law keeps its factor at the
 * device's temperature (nimc_law_tcache_set), checked against the law's
 * parameters at each use, so the cache can never be stale, only unused.
 */
#include <gsl/gsl_errno.h>
#include <gsl/gsl_interp.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/constants.h"
#include "core/error.h"
#include "laws/law.h"

nimc_law nimc_law_constant(double value) {
  nimc_law law;
  memset(&law, 0, sizeof law);
  law.kind = NIMC_LAW_CONSTANT;
  law.value = value;
  law.scale = 1.0;
  law.Tref_K = NIMC_TREF_K;
  return law;
}

double nimc_law_tfactor(const nimc_law *law, double T_K) {
  if (T_K == law->Tref_K) return 1.0; /* what the exp gives: exp(0) */
  switch (law->tlaw) {
  case NIMC_TLAW_ARRHENIUS:
    return exp(-law->Ea_J_mol / NIMC_R * (1.0 / T_K - 1.0 / law->Tref_K));
  case NIMC_TLAW_VTF:
    return exp(-law->vtf_B_K / (T_K - law->vtf_T0_K) +
               law->vtf_B_K / (law->Tref_K - law->vtf_T0_K));
  case NIMC_TLAW_NONE:
  default:
    return 1.0;
  }
}

void nimc_law_tcache_set(nimc_law *law, double T_K) {
  nimc_law_tcache *c = &law->tcache;
  c->tlaw = (int)law->tlaw;
  c->Ea_J_mol = law->Ea_J_mol;
  c->vtf_B_K = law->vtf_B_K;
  c->vtf_T0_K = law->vtf_T0_K;
  c->Tref_K = law->Tref_K;
  c->T_K = T_K;
  c->factor = nimc_law_tfactor(law, T_K);
}

/* The temperature factor, from the cache when it was made from the law's
 * present parameters at T_K (bitwise the value nimc_law_tfactor gives). */
static double tfactor_at(const nimc_law *law, double T_K) {
  const nimc_law_tcache *c = &law->tcache;
  if (c->tlaw == (int)law->tlaw && c->T_K == T_K &&
      c->Ea_J_mol == law->Ea_J_mol && c->vtf_B_K == law->vtf_B_K &&
      c->vtf_T0_K == law->vtf_T0_K && c->Tref_K == law->Tref_K)
    return c->factor;
  return nimc_law_tfactor(law, T_K);
}

double nimc_law_eval_any(const nimc_law *law, double x, double T_K,
                         double *dfdx) {
  double f, df = 0.0;
  switch (law->kind) {
  case NIMC_LAW_TABLE: {
    const gsl_interp *ip = law->interp;
    double lo = law->x[0], hi = law->x[law->n - 1];
    if (x <= lo) {
      f = law->y[0];
    } else if (x >= hi) {
      f = law->y[law->n - 1];
    } else {
      f = gsl_interp_eval(ip, law->x, law->y, x, NULL);
      df = gsl_interp_eval_deriv(ip, law->x, law->y, x, NULL);
    }
    f *= law->scale;
    df *= law->scale;
    break;
  }
  case NIMC_LAW_BUILTIN:
    f = law->scale * law->fn(x, T_K, &df);
    df *= law->scale;
    break;
  case NIMC_LAW_CONSTANT:
  default:
    f = law->value;
    break;
  }
  if (law->tlaw != NIMC_TLAW_NONE) {
    double tf = tfactor_at(law, T_K);
    f *= tf;
    df *= tf;
  }
  if (dfdx) *dfdx = df;
  return f;
}

int nimc_law_table_init(nimc_law *law, nimc_err *err) {
  if (law->n < 2)
    return nimc_err_set(err, NIMC_EDATA, "a table needs at least 2 rows, has %zu",
                        law->n);
  for (size_t i = 1; i < law->n; i++)
    if (!(law->x[i] > law->x[i - 1]))
      return nimc_err_set(err, NIMC_EDATA,
                          "table x values must increase strictly (row %zu: %g after %g)",
                          i + 1, law->x[i], law->x[i - 1]);
  gsl_set_error_handler_off();
  const gsl_interp_type *type = law->n >= 3 ? gsl_interp_steffen : gsl_interp_linear;
  gsl_interp *ip = gsl_interp_alloc(type, law->n);
  if (!ip) return nimc_err_set(err, NIMC_ENOMEM, "out of memory for a table");
  if (gsl_interp_init(ip, law->x, law->y, law->n) != GSL_SUCCESS) {
    gsl_interp_free(ip);
    return nimc_err_set(err, NIMC_EDATA, "table cannot be interpolated");
  }
  law->interp = ip;
  law->kind = NIMC_LAW_TABLE;
  if (law->scale == 0.0) law->scale = 1.0;
  return NIMC_OK;
}

void nimc_law_clear(nimc_law *law) {
  if (!law) return;
  if (law->interp) gsl_interp_free(law->interp);
  free(law->x);
  free(law->y);
  law->interp = NULL;
  law->x = law->y = NULL;
  law->n = 0;
}

/* Integral of a table's clamped interpolant from a to b (a <= b). */
static double table_integral(const nimc_law *law, double a, double b) {
  double lo = law->x[0], hi = law->x[law->n - 1], sum = 0.0;
  if (a < lo) {
    double e = b < lo ? b : lo;
    sum += law->y[0] * (e - a);
    a = e;
  }
  if (b > hi) {
    double s = a > hi ? a : hi;
    sum += law->y[law->n - 1] * (b - s);
    b = s;
  }
  if (b > a)
    sum += gsl_interp_eval_integ(law->interp, law->x, law->y, a, b, NULL);
  return sum;
}

double nimc_law_integral(const nimc_law *law, double a, double b,
                         double T_K) {
  double sign = 1.0, r;
  if (b < a) {
    double t = a;
    a = b, b = t, sign = -1.0;
  }
  switch (law->kind) {
  case NIMC_LAW_TABLE:
    r = law->scale * table_integral(law, a, b);
    break;
  case NIMC_LAW_CONSTANT:
    r = law->value * (b - a);
    break;
  default:
    return NAN; /* built-ins have no closed-form integral */
  }
  return sign * r * nimc_law_tfactor(law, T_K);
}
