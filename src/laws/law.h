/*
 * law.h -- material property laws, shared by the device reader (io/) and
 * the model (model/).
 *
 * A property that depends on a state variable (stoichiometry,
 * concentration, potential) and on temperature is an nimc_law: a base
 * function of the state variable at the reference temperature -- a
 * constant, a table read from a material file, or a named built-in
 * function (builtin.c, docs/materials.md) -- times a temperature factor
 * (Arrhenius or VTF).  Laws that hold tables own them (nimc_law_clear).
 */
#ifndef NIMC_LAW_H
#define NIMC_LAW_H

#include <stddef.h>

#include "nimc/nimc.h"

#define NIMC_NAME_MAX 128

typedef enum nimc_law_kind {
  NIMC_LAW_CONSTANT = 0, /* value */
  NIMC_LAW_TABLE,        /* (x, y) table, monotone cubic (Steffen), clamped */
  NIMC_LAW_BUILTIN       /* a named function of the library (builtin.c) */
} nimc_law_kind;

typedef enum nimc_tlaw_kind {
  NIMC_TLAW_NONE = 0,
  NIMC_TLAW_ARRHENIUS, /* exp(-Ea/R (1/T - 1/Tref)) */
  NIMC_TLAW_VTF        /* exp(-B/(T-T0) + B/(Tref-T0)) */
} nimc_tlaw_kind;

/* f(x, T) for built-in laws; writes df/dx. */
typedef double (*nimc_builtin_fn)(double x, double T_K, double *dfdx);

/* A law's temperature factor at one temperature, with the parameters it
 * was computed from: a law evaluated many times at one temperature (the
 * residual's) uses it instead of an exp per evaluation, and a cache whose
 * parameters no longer match (a law changed by a fit, or another
 * temperature) is simply not used. */
typedef struct nimc_law_tcache {
  int tlaw; /* nimc_tlaw_kind; NONE: empty */
  double Ea_J_mol, vtf_B_K, vtf_T0_K, Tref_K, T_K;
  double factor;
} nimc_law_tcache;

typedef struct nimc_law {
  nimc_law_kind kind;
  double value;            /* CONSTANT: SI value at Tref */
  double scale;            /* TABLE/BUILTIN: multiplies the base (default 1) */
  size_t n;                /* TABLE: number of points */
  double *x, *y;           /* TABLE: owned, x strictly increasing */
  void *interp;            /* TABLE: gsl_interp *, owned */
  nimc_builtin_fn fn;      /* BUILTIN */
  char name[NIMC_NAME_MAX];/* BUILTIN name or TABLE file, for messages */
  nimc_tlaw_kind tlaw;
  double Ea_J_mol;         /* ARRHENIUS */
  double vtf_B_K, vtf_T0_K;/* VTF */
  double Tref_K;           /* reference temperature of value/table */
  nimc_law_tcache tcache;  /* the factor at the device's temperature */
} nimc_law;

/* Evaluate a law at state x and temperature T; *dfdx (may be NULL) gets
 * the derivative in x.  Tables are clamped outside their range (derivative
 * zero there). */
double nimc_law_eval_any(const nimc_law *law, double x, double T_K,
                         double *dfdx);
/* The same; a constant without a temperature law (most of a material's
 * numbers, evaluated per particle shell and face in the residual) is
 * answered inline, without the call. */
static inline double nimc_law_eval(const nimc_law *law, double x, double T_K,
                                   double *dfdx) {
  if (law->kind == NIMC_LAW_CONSTANT && law->tlaw == NIMC_TLAW_NONE) {
    if (dfdx) *dfdx = 0.0;
    return law->value;
  }
  return nimc_law_eval_any(law, x, T_K, dfdx);
}
/* Integral of a CONSTANT or TABLE law over x from a to b at T (NaN for
 * built-ins). */
double nimc_law_integral(const nimc_law *law, double a, double b, double T_K);
/* Temperature factor of a law (1 at Tref). */
double nimc_law_tfactor(const nimc_law *law, double T_K);
/* Keep the law's temperature factor at T_K (law->tcache) for the
 * evaluations at that temperature; the owner of the law calls it when
 * the temperature the law will be evaluated at changes. */
void nimc_law_tcache_set(nimc_law *law, double T_K);
/* A constant law. */
nimc_law nimc_law_constant(double value);
/* Build the interpolant of a TABLE law whose x, y, n are set.  The law
 * owns x and y either way: nimc_law_clear releases them, also after a
 * failure. */
int nimc_law_table_init(nimc_law *law, nimc_err *err);
void nimc_law_clear(nimc_law *law);
/* Look up a built-in function by name; NULL when unknown. */
nimc_builtin_fn nimc_builtin_find(const char *name);
/* Comma-separated list of built-in names, for messages. */
const char *nimc_builtin_names(void);

#endif /* NIMC_LAW_H */
