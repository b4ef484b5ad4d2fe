/*
 * jump.c -- cycle jumping (jump.h, docs/experiments.md "Cycle jumping").
 *
 * Over thousands of cycles the state at the end of a cycle changes slowly
 * and smoothly: the ageing unknowns (a film's charge, a blocked share) and
 * what follows from them (the electrodes' drifting inventories).  After
 * two simulated cycles k-1 and k that end in y_{k-1} and y_k, the end of
 * cycle k+N is taken as
 *
 *     y_{k+N} = y_k + N (y_k - y_{k-1}),
 *
 * every unknown alike: a linear extrapolation keeps every linear
 * invariant of the simulated states (charge, sodium, the ionic liquid's
 * cations counting what the side reactions took), which a per-variable
 * rule would break.  Cycles k+1 .. k+N are not simulated: the run goes
 * on with cycle k+N+1 from y_{k+N}.  The first
 * cycle after a jump lets the fast part of the state settle; the next two
 * give the new rate of change.
 *
 * Error control: over a jump of N cycles a rate of change that itself
 * changes by r per cycle leaves an error of about N^2 r / 2.  The
 * capacitance -- the quantity a cycling study reports -- measures r: from
 * three simulated cycles in a row, or right after a jump from its change
 * per cycle after the jump against that before it (r N), which also
 * estimates that jump's error (last_error, in units of tol).  The next
 * jump is the N of an error 0.81 tol, at most twice the last (the first
 * at most JUMP_FIRST), and limited so that the capacitance moves by at
 * most JUMP_MAX_CHANGE of its first value per jump (the retention curve
 * stays resolved).  A state that is not admissible (a concentration or a
 * share out of its range) halves the jump.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/jump.h"

enum {
  JUMP_START = 5, /* cycles simulated before the first jump */
  JUMP_SETTLE = 1, /* cycles after a jump whose ends are not used */
  JUMP_FIRST = 4, /* the first jump's length */
  JUMP_TAIL = 3   /* the last cycles of a Repeat: always simulated */
};
#define JUMP_GROW 2.0
#define JUMP_SHRINK 0.25
#define JUMP_MAX_CHANGE 0.025

int nimc_jumper_init(nimc_jumper *J, const nimc_model *m, double tol) {
  memset(J, 0, sizeof *J);
  J->n = m->n;
  J->ya = malloc(sizeof(double) * (size_t)m->n);
  J->yb = malloc(sizeof(double) * (size_t)m->n);
  if (!J->ya || !J->yb) {
    nimc_jumper_free(J);
    return NIMC_ENOMEM;
  }
  J->c_first = NAN;
  J->last_error = NAN;
  J->tol = tol;
  return NIMC_OK;
}

void nimc_jumper_free(nimc_jumper *J) {
  free(J->ya), free(J->yb);
  J->ya = J->yb = NULL;
}

int nimc_jumper_copy(nimc_jumper *dst, const nimc_jumper *src) {
  if (dst->n != src->n || !dst->ya || !src->ya) return NIMC_EINPUT;
  double *ya = dst->ya, *yb = dst->yb;
  *dst = *src;
  dst->ya = ya, dst->yb = yb;
  memcpy(ya, src->ya, sizeof(double) * (size_t)src->n);
  memcpy(yb, src->yb, sizeof(double) * (size_t)src->n);
  return NIMC_OK;
}

int nimc_jumper_after_cycle(nimc_jumper *J, const nimc_model *m, double *y,
                            double *t, double cap, int rep, int repeat) {
  J->pending = 0;
  if (!isfinite(cap)) { /* no full discharge: nothing to judge a jump by */
    J->nsim = 0;
    return 0;
  }
  if (isnan(J->c_first)) J->c_first = cap;
  double *sw = J->ya;
  J->ya = J->yb, J->yb = sw;
  memcpy(J->yb, y, sizeof(double) * (size_t)J->n);
  J->ta = J->tb, J->tb = *t;
  J->cc = J->ca, J->ca = J->cb, J->cb = cap;
  J->nsim++;
  if (J->nsim < (J->jumps ? JUMP_SETTLE + 2 : JUMP_START)) return 0;
  double dc = J->cb - J->ca, dt = J->tb - J->ta, c1 = fabs(J->c_first);
  /* r: how fast the capacitance's change per cycle changes.  Right after
   * a jump from the change across it, which also gives that jump's
   * error; later from three cycles in a row (none of them settling) */
  double r;
  if (J->jumps && J->nsim == JUMP_SETTLE + 2) {
    r = fabs(dc - J->dc_before) / J->last_jump;
    J->last_error = 0.5 * J->last_jump * J->last_jump * r / (J->tol * c1);
  } else {
    r = fabs(dc - (J->ca - J->cc));
  }
  double N = r > 0.0 ? 0.9 * sqrt(2.0 * J->tol * c1 / r) : INFINITY;
  double cap_n = J->jumps ? JUMP_GROW * J->last_jump : JUMP_FIRST;
  if (N > cap_n) N = cap_n;
  if (dc != 0.0 && N > JUMP_MAX_CHANGE * c1 / fabs(dc))
    N = JUMP_MAX_CHANGE * c1 / fabs(dc);
  int left = repeat - 1 - rep - JUMP_TAIL; /* cycles that may be skipped */
  if (N > left) N = left;
  int n = N >= 2.0 ? (int)N : 0;
  for (; n >= 2; n /= 2) {
    for (int64_t i = 0; i < J->n; i++)
      y[i] = J->yb[i] + n * (J->yb[i] - J->ya[i]);
    if (nimc_model_state_admissible(m, y)) break;
  }
  if (n < 2) {
    memcpy(y, J->yb, sizeof(double) * (size_t)J->n);
    return 0;
  }
  *t = J->tb + n * dt;
  J->dc_before = dc;
  J->last_jump = n;
  J->nsim = 0;
  J->jumps++;
  J->skipped += n;
  J->pending = n;
  return n;
}
