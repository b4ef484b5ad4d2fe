/*
 * jump.c -- cycle jumping (jump.h, docs/experiments.md "Cycle jumping").
 *
 * Over thousands of cycles the state at the end of a cycle changes slowly:
 * the ageing unknowns (a film's charge, a blocked share) and what follows
 * from them (the electrodes' drifting inventories).  After simulated
 * cycles that end in y_{k-3} .. y_k, the end of cycle k+N is taken as
 *
 *     y_{k+N} = y_k + N s,
 *
 * every unknown alike: a linear extrapolation keeps every linear
 * invariant of the simulated states (charge, sodium, the ionic liquid's
 * cations counting what the side reactions took), which a per-variable
 * rule would break.  Cycles k+1 .. k+N are not simulated: the run goes on
 * with cycle k+N+1 from y_{k+N}.
 *
 * The slope s.  The change per cycle d_k = y_k - y_{k-1} holds, besides
 * the slow drift, the decay of fast parts of the state (the micropores'
 * charge relaxes over a cycle or two: a decay ratio lambda of about 0.6
 * per cycle on the NIMC).  Extrapolated, such a part grows by N (1 -
 * lambda) at every jump: cycle jumping is then an explicit method on a
 * stiff problem, stable only for N < 2 / (1 - lambda).  With one dominant
 * fast part, y_k = S_k + F lambda^k with S_k linear in k, the slow slope is
 *
 *     s = (d_k - lambda d_{k-1}) / (1 - lambda),
 *
 * and lambda is the ratio of successive second differences,
 * <d2_k, d2_{k-1}> / <d2_{k-1}, d2_{k-1}> in the unknowns' weights (the
 * slow part's second differences are nil).  Four cycles in a row give it.
 * The capacitance's slow slope dc, which error control and the jump's
 * length go by, is filtered the same way with the capacitance's own decay
 * ratio (of its four values; 0 where their second differences are within
 * JUMP_NOISE of the first capacitance): the unknowns' ratio, a mean over
 * fast parts that decay at 0.6 to 0.8 a cycle, wanders from 0 to 0.9 from
 * one jump to the next on the NIMC, and with it dc by 40 % of its value,
 * which the error control took for curvature.
 *
 * Error control, on the capacitance -- the quantity a cycling study
 * reports.  Four cycles after a jump (in units of tol):
 *  - the line error: the capacitance now against the line the jump
 *    extrapolated along (the capacitance at its start plus its slow slope
 *    times the cycles since): what of the perturbation of the fast part
 *    is left, and a state/capacitance relation that is not linear;
 *  - the slope error: the slow slope now, dc_1, against the one the jump
 *    took, dc_0.  The line error cannot see the curvature of the
 *    trajectory (the capacitance of the jumped state lies on the line it
 *    was extrapolated along, whatever the true trajectory did), nor a slow
 *    relaxation the jump disturbed.  With the slope changing linearly
 *    over the N + 4 cycles from one to the other, the jump's truncation
 *    error is N^2 / 2 (dc_1 - dc_0) / (N + 4).  On the NIMC with ageing
 *    (1000 cycles against brute force) the line error alone let the
 *    retention drift 0.4 % from the brute-force curve with every jump
 *    judged well within tol; with the slope error, 0.19 %.
 * Their sum is the jump's error e; it grows as N^2.  The next jump is the
 * last scaled by 0.9 / sqrt(e), at most doubled, at least quartered; after
 * e > 1 the jumper starts afresh (JUMP_START cycles in a row, since the
 * changes it would measure still hold the perturbation), with a first
 * jump of at most a quarter of the failed one (at least JUMP_FIRST).
 * Without a jump before (or after a jump declined), the slow second
 * difference r of cycles in a row gives N = 0.9 sqrt(2 tol / r), the first
 * at most JUMP_FIRST.  Every jump is limited so that the capacitance moves
 * by at most JUMP_MAX_CHANGE of its first value (the retention curve stays
 * resolved), and to JUMP_MAX cycles.  A state that is not admissible (a
 * concentration, a stoichiometry or a share out of its range, or more
 * than half-way to its bound from where it was: nimc_model_state_near)
 * halves the jump.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/jump.h"

enum {
  JUMP_START = 5, /* cycles simulated before the first jump (>= KEEP) */
  JUMP_FIRST = 4, /* the first jump's length */
  JUMP_TAIL = 3   /* the last cycles of a Repeat: always simulated */
};
#define JUMP_GROW 2.0
#define JUMP_SHRINK 0.25
#define JUMP_MAX_CHANGE 0.025
/* the longest jump: slow relaxations (the gel's salt profile settles over
 * some 70 cycles on the NIMC: lambda = 0.985) are extrapolated linearly,
 * which is stable only for N (1 - lambda) < 2, about 130 cycles; longer
 * jumps leave excursions of the retention (0.45 % after a jump of 310 on
 * the NIMC with ageing) that the next jumps amplify */
#define JUMP_MAX 128
#define JUMP_LAMBDA_MAX 0.9
/* second differences of the capacitance below this share of the first
 * one are noise (a cycle's capacitance is within some 1e-6 of it) */
#define JUMP_NOISE 1e-5

int nimc_jumper_init(nimc_jumper *J, const nimc_model *m, double tol) {
  memset(J, 0, sizeof *J);
  J->n = m->n;
  size_t bytes = sizeof(double) * (size_t)m->n;
  int ok = (J->w = malloc(bytes)) != NULL;
  for (int k = 0; k < NIMC_JUMP_KEEP; k++)
    ok &= (J->y[k] = malloc(bytes)) != NULL;
  if (!ok) {
    nimc_jumper_free(J);
    return NIMC_ENOMEM;
  }
  /* the solver's absolute tolerances set each unknown's scale */
  nimc_model_atol(m, 1.0, J->w);
  J->c_first = NAN;
  J->tol = tol;
  return NIMC_OK;
}

void nimc_jumper_free(nimc_jumper *J) {
  free(J->w);
  J->w = NULL;
  for (int k = 0; k < NIMC_JUMP_KEEP; k++) {
    free(J->y[k]);
    J->y[k] = NULL;
  }
}

int nimc_jumper_copy(nimc_jumper *dst, const nimc_jumper *src) {
  if (dst->n != src->n || !dst->w || !src->y[0]) return NIMC_EINPUT;
  nimc_jumper keep = *dst;
  *dst = *src;
  dst->w = keep.w;
  for (int k = 0; k < NIMC_JUMP_KEEP; k++) {
    dst->y[k] = keep.y[k];
    memcpy(dst->y[k], src->y[k], sizeof(double) * (size_t)src->n);
  }
  return NIMC_OK;
}

/* Keep state y (at time t, capacitance c) as the newest of the ring. */
static void push(nimc_jumper *J, const double *y, double t, double c) {
  double *old = J->y[0];
  for (int k = 0; k + 1 < NIMC_JUMP_KEEP; k++) {
    J->y[k] = J->y[k + 1];
    J->t[k] = J->t[k + 1], J->c[k] = J->c[k + 1];
  }
  J->y[NIMC_JUMP_KEEP - 1] = old;
  memcpy(old, y, sizeof(double) * (size_t)J->n);
  J->t[NIMC_JUMP_KEEP - 1] = t, J->c[NIMC_JUMP_KEEP - 1] = c;
}

/* The decay ratio of the fast part from four states in a row. */
static double decay_ratio(const nimc_jumper *J) {
  double num = 0.0, den = 0.0;
  const double *const *y = (const double *const *)J->y;
  for (int64_t i = 0; i < J->n; i++) {
    double sc = 1e3 * J->w[i] + 1e-3 * fabs(y[3][i]);
    double a = (y[2][i] - 2.0 * y[1][i] + y[0][i]) / sc;
    double b = (y[3][i] - 2.0 * y[2][i] + y[1][i]) / sc;
    num += a * b, den += a * a;
  }
  double l = den > 0.0 ? num / den : 0.0;
  if (!(l > 0.0)) l = 0.0;
  return l < JUMP_LAMBDA_MAX ? l : JUMP_LAMBDA_MAX;
}

/* The decay ratio of the capacitance's fast part from four cycles in a
 * row: 0 where their second differences are lost in the solver's noise. */
static double capacitance_ratio(const double *c, double c1) {
  double a = c[2] - 2.0 * c[1] + c[0], b = c[3] - 2.0 * c[2] + c[1];
  if (!(fabs(a) > JUMP_NOISE * c1)) return 0.0;
  double l = b / a;
  if (!(l > 0.0)) return 0.0;
  return l < JUMP_LAMBDA_MAX ? l : JUMP_LAMBDA_MAX;
}

int nimc_jumper_after_cycle(nimc_jumper *J, const nimc_model *m, double *y,
                            double *t, double cap, int rep, int repeat) {
  J->pending = 0;
  if (!isfinite(cap)) { /* no full discharge: nothing to judge a jump by */
    J->nsim = 0;
    return 0;
  }
  if (isnan(J->c_first)) J->c_first = cap;
  push(J, y, *t, cap);
  J->nsim++;
  if (J->nsim < (J->jumps ? NIMC_JUMP_KEEP : JUMP_START)) return 0;
  double l = decay_ratio(J), c1 = fabs(J->c_first);
  const double *c = J->c;
  double lc = capacitance_ratio(c, c1);
  double dc = ((c[3] - c[2]) - lc * (c[2] - c[1])) / (1.0 - lc);
  double d2 =
      ((c[3] - 2 * c[2] + c[1]) - lc * (c[2] - 2 * c[1] + c[0])) / (1.0 - lc);
  double dt = J->t[3] - J->t[2];
  double N;
  if (J->jumps && J->nsim == NIMC_JUMP_KEEP) {
    /* right after a jump: its error, the capacitance now against the
     * line it was extrapolated along and the slope now against the one
     * it took; the next jump scaled by it */
    double pred = J->c_from + (J->last_jump + NIMC_JUMP_KEEP) * J->dc_before;
    double nl = J->last_jump;
    double e = (fabs(c[3] - pred) + 0.5 * nl * nl * fabs(dc - J->dc_before) /
                                        (nl + NIMC_JUMP_KEEP)) /
               (J->tol * c1);
    if (e > 1.0) {
      /* too far off: the perturbation it left is still in these cycles'
       * changes; start afresh, as at the Repeat's start, with a shorter
       * first jump */
      J->nsim = 0, J->jumps = 0;
      J->last_jump = (int)(J->last_jump * JUMP_SHRINK);
      return 0;
    }
    double f = e > 0.0 ? 0.9 / sqrt(e) : JUMP_GROW;
    if (f > JUMP_GROW) f = JUMP_GROW;
    if (f < JUMP_SHRINK) f = JUMP_SHRINK;
    N = f * J->last_jump;
  } else {
    /* from the slow second difference of cycles in a row */
    double r = fabs(d2);
    N = r > 0.0 ? 0.9 * sqrt(2.0 * J->tol * c1 / r) : INFINITY;
    double cap_n = J->jumps                    ? JUMP_GROW * J->last_jump
                   : J->last_jump > JUMP_FIRST ? J->last_jump
                                               : JUMP_FIRST;
    if (N > cap_n) N = cap_n;
  }
  if (dc != 0.0 && N > JUMP_MAX_CHANGE * c1 / fabs(dc))
    N = JUMP_MAX_CHANGE * c1 / fabs(dc);
  if (N > JUMP_MAX) N = JUMP_MAX;
  int left = repeat - 1 - rep - JUMP_TAIL; /* cycles that may be skipped */
  if (N > left) N = left;
  int n = N >= 2.0 ? (int)N : 0;
  const double *y1 = J->y[1], *y2 = J->y[2], *y3 = J->y[3];
  for (; n >= 2; n /= 2) {
    for (int64_t i = 0; i < J->n; i++)
      y[i] = y3[i] + n * ((y3[i] - y2[i]) - l * (y2[i] - y1[i])) / (1.0 - l);
    if (nimc_model_state_near(m, y, y3)) break;
  }
  if (n < 2) {
    memcpy(y, y3, sizeof(double) * (size_t)J->n);
    return 0;
  }
  *t = J->t[3] + n * dt;
  J->dc_before = dc;
  J->c_from = c[3];
  J->last_jump = n;
  J->nsim = 0;
  J->jumps++;
  J->pending = n;
  return n;
}
