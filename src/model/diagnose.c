/*
 * diagnose.c -- a solver failure told in the words of the device.
 *
 * When IDA gives up (repeated residual errors, a Newton iteration that
 * does not converge), the reason is nearly always physical: the salt of
 * the electrolyte runs out somewhere, an intercalation solid is full or
 * empty of sodium, or the control asks for something no state delivers
 * (a constant power beyond the maximum E^2 / 4R of the device's
 * open-circuit voltage E and internal resistance R).  This file reads the
 * last state the solver reached and says which of these it is, where
 * (region and position of the cell) and how close to the limit.  It only
 * reads the state: no residual is evaluated, nothing is printed, and the
 * caller (the runner) adds the step, the time and the solver's own code.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "model/diagnose.h"

/* Thresholds of "near the limit": the salt below 5 % of its initial
 * concentration, a stoichiometry within 2 % of 0 or 1, a potential
 * beyond 10 V (no cell of this chemistry has one). */
#define SALT_LOW 0.05
#define THETA_EDGE 0.02
#define POTENTIAL_MAX_V 10.0

/* Findings appended to one buffer. */
typedef struct text {
  char *buf;
  size_t cap, len;
  int n;
} text;

static void add(text *t, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void add(text *t, const char *fmt, ...) {
  if (t->len + 1 >= t->cap) return;
  if (t->n++) {
    int k = snprintf(t->buf + t->len, t->cap - t->len, "; ");
    t->len += (size_t)k < t->cap - t->len ? (size_t)k : t->cap - t->len - 1;
  }
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
  va_end(ap);
  if (k > 0)
    t->len += (size_t)k < t->cap - t->len ? (size_t)k : t->cap - t->len - 1;
}

static const char *region_name(int r) {
  switch (r) {
  case NIMC_REGION_ANODE:
    return "anode";
  case NIMC_REGION_SEPARATOR:
    return "separator";
  case NIMC_REGION_CATHODE:
    return "cathode";
  case NIMC_REGION_GEL:
    return "electrolyte gel between the fingers";
  case NIMC_REGION_COVER:
    return "cover";
  }
  return "device";
}

/* "the cathode (cell 12 at x = 3.1 um)", z too for the in-plane device. */
static void where(const nimc_model *m, int cell, char *buf, size_t cap) {
  const nimc_mesh *me = m->mesh;
  if (m->dev->geometry == NIMC_GEOMETRY_INTERDIGITATED)
    snprintf(buf, cap, "the %s (cell %d at x = %.4g um, z = %.4g um)",
             region_name(me->region[cell]), cell, 1e6 * me->xc[cell],
             1e6 * me->zc[cell]);
  else
    snprintf(buf, cap, "the %s (cell %d at x = %.4g um)",
             region_name(me->region[cell]), cell, 1e6 * me->xc[cell]);
}

/* The salt: the cell of the lowest concentration. */
static void salt(const nimc_model *m, const double *y, text *t) {
  double c0 = m->dev->electrolyte.c0_mol_m3, cmin = INFINITY;
  int at = -1;
  for (int i = 0; i < m->mesh->ncells; i++)
    if (y[m->off[i]] < cmin) cmin = y[m->off[i]], at = i;
  if (at < 0 || !(c0 > 0.0) || cmin > SALT_LOW * c0) return;
  char loc[160];
  where(m, at, loc, sizeof loc);
  add(t,
      "the %s concentration of the electrolyte is near zero in %s: "
      "%.3g mol/m3, %.2g %% of its initial %.4g mol/m3 (the electrolyte "
      "there is depleted and cannot carry the current)",
      m->tern ? "Na+" : "salt", loc, cmin, 100.0 * cmin / c0, c0);
}

/* An intercalation solid: its stoichiometry (surface and shells) at 0 or
 * 1 in some cell of electrode e. */
static void solid(const nimc_model *m, const double *y, int e, text *t) {
  const nimc_elec *el = &m->el[e];
  if (!el->has_int || el->is < 0) return;
  double cmax = el->p->c_max_mol_m3, lo = INFINITY, hi = -INFINITY;
  int at_lo = -1, at_hi = -1;
  for (int i = 0; i < m->mesh->ncells; i++) {
    if (m->elec[i] != e) continue;
    for (int k = 0; k <= el->ns; k++) {
      double th = y[m->off[i] + el->is + k] / cmax;
      if (th < lo) lo = th, at_lo = i;
      if (th > hi) hi = th, at_hi = i;
    }
  }
  const char *name = e ? "cathode" : "anode";
  char loc[160];
  if (at_hi >= 0 && hi >= 1.0 - THETA_EDGE) {
    where(m, at_hi, loc, sizeof loc);
    add(t,
        "the intercalation solid of the %s (%s) is full: its stoichiometry "
        "is %.4g in %s, at its limit 1 (no more sodium can go in)",
        name, el->p->material, hi, loc);
  }
  if (at_lo >= 0 && lo <= THETA_EDGE) {
    where(m, at_lo, loc, sizeof loc);
    add(t,
        "the intercalation solid of the %s (%s) is empty: its stoichiometry "
        "is %.4g in %s, at its limit 0 (no more sodium can come out)",
        name, el->p->material, lo, loc);
  }
}

/* Potentials no cell of these chemistries reaches. */
static void potentials(const nimc_model *m, const double *y, text *t) {
  double V = y[m->iV];
  if (!(fabs(V) <= POTENTIAL_MAX_V))
    add(t, "the terminal voltage is %.4g V, out of any physical range", V);
  double worst = 0.0;
  int at = -1;
  for (int i = 0; i < m->mesh->ncells; i++) {
    double p = fabs(y[m->off[i] + 1]);
    if (!(p <= worst)) worst = p, at = i;
  }
  if (at >= 0 && !(worst <= POTENTIAL_MAX_V)) {
    char loc[160];
    where(m, at, loc, sizeof loc);
    add(t, "the electrolyte potential is %.4g V in %s, out of any physical "
           "range",
        y[m->off[at] + 1], loc);
  }
}

/* A constant-power discharge asks for I V = P: beyond the device's
 * maximum power E^2 / 4R no current does, and the solution ends at the
 * fold (the voltage then near E/2). */
static void power(const nimc_model *m, const double *y, text *t) {
  const nimc_control *c = &m->control;
  if (c->kind != NIMC_CONTROL_POWER || !(c->p_set_W < 0.0)) return;
  double V = y[m->iV], I = y[m->iI];
  add(t,
      "the constant-power discharge of %.4g W is not deliverable: at "
      "%.4g V the device gives %.4g A (%.4g W), and a power beyond "
      "E^2/4R (E its open-circuit voltage, R its internal resistance) "
      "has no current that delivers it",
      -c->p_set_W, V, -I, fabs(V * I));
}

int nimc_model_diagnose(const nimc_model *m, const double *y, char *buf,
                        size_t cap) {
  if (!buf || cap == 0) return 0;
  buf[0] = '\0';
  text t = {buf, cap, 0, 0};
  power(m, y, &t);
  salt(m, y, &t);
  solid(m, y, 0, &t);
  solid(m, y, 1, &t);
  potentials(m, y, &t);
  if (!t.n) {
    snprintf(buf, cap,
             "no quantity of the device was at a physical limit in the last "
             "state reached (%.4g V, %.4g A): the solver's step control gave "
             "up (a tighter relative tolerance may help)",
             y[m->iV], y[m->iI]);
  }
  return t.n;
}
