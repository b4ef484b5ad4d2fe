/*
 * jump.h -- cycle jumping: a long Repeat simulated a few cycles at a time,
 * the slowly varying state extrapolated over the cycles in between
 * (docs/experiments.md, "Cycle jumping").  Internal to the protocol layer.
 */
#ifndef NIMC_JUMP_H
#define NIMC_JUMP_H

#include "model/model.h"

/* What a jumper remembers of the simulated cycles of one Repeat: the states
 * at the ends of the last JUMP_KEEP in a row (y[0] the oldest), their times
 * and capacitances, how many cycles ran since the last jump, and that
 * jump's length and the slow capacitance change per cycle before it (for
 * its error estimate). */
#define NIMC_JUMP_KEEP 4
typedef struct nimc_jumper {
  int64_t n;
  double *y[NIMC_JUMP_KEEP];
  double t[NIMC_JUMP_KEEP], c[NIMC_JUMP_KEEP];
  double *w;            /* weights of the unknowns (1 / their scale), for
                           the decay ratio; made by init, not kept */
  int nsim;             /* cycles simulated in a row since the start or the
                           last jump */
  int last_jump;        /* length of the last jump (0: none yet); after
                           one whose error was too large, a quarter of it:
                           the longest first jump of the fresh start */
  double dc_before;     /* slow capacitance change per cycle before it */
  double c_from;        /* the capacitance of the cycle it jumped from */
  double c_first;       /* the Repeat's first capacitance */
  double tol;           /* error allowed per jump, relative to c_first */
  int jumps;            /* jumps made */
  int pending;          /* the cycles jumped over after the last cycle
                           (the next cycle's skipped_before) */
} nimc_jumper;

/* A jumper for the unknowns of m with error tolerance tol (> 0, relative
 * to the Repeat's first capacitance).  NIMC_ENOMEM. */
int nimc_jumper_init(nimc_jumper *J, const nimc_model *m, double tol);
void nimc_jumper_free(nimc_jumper *J);
/* Make dst (made by nimc_jumper_init for as many unknowns) a copy of src;
 * NIMC_EINPUT when their sizes differ. */
int nimc_jumper_copy(nimc_jumper *dst, const nimc_jumper *src);

/* After a simulated cycle that ended in state y at time t with capacitance
 * cap (NaN when it had no full discharge), rep of them done of repeat
 * (0-based index of the cycle that ended): how many of the next cycles to
 * skip (0: simulate the next one).  When it returns N > 0 it has written
 * the extrapolated state into y (and *t): y + N s, t + N (t - t_prev),
 * with s the slow part of the change per cycle (jump.c), admissible for
 * m.  The last three cycles of the Repeat are always simulated. */
int nimc_jumper_after_cycle(nimc_jumper *J, const nimc_model *m, double *y,
                            double *t, double cap, int rep, int repeat);

#endif
