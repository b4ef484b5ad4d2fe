/*
 * sim.h -- internal access to a simulation's model and state, for tests,
 * benchmarks and later layers (sweeps, EIS) that need more than the public
 * API.  Not part of the public contract.
 */
#ifndef NIMC_SIM_H
#define NIMC_SIM_H

#include "model/model.h"

nimc_model *nimc_sim_model(nimc_sim *s);
/* The current state vector y (length model->n). */
double *nimc_sim_state(nimc_sim *s);
/* Its time derivative y' (consistent after a step or a restart). */
double *nimc_sim_state_dot(nimc_sim *s);
/* The solver of the simulation (solver/solver.h). */
struct nimc_solver *nimc_sim_solver(nimc_sim *s);
/* Simulated time, and moving it (after the solver advanced by itself). */
double nimc_sim_time(const nimc_sim *s);
void nimc_sim_set_time(nimc_sim *s, double t_s);
/* The number of steps executed (the index of the next), and setting it
 * (a state put back, nimc_sim_set_state). */
int nimc_sim_steps_done(const nimc_sim *s);
void nimc_sim_set_steps_done(nimc_sim *s, int n);
/* Set what runs keep in their result (nimc_sinks.keep); the old value. */
nimc_keep nimc_sim_swap_keep(nimc_sim *s, nimc_keep keep);
/* The device the simulation was made for. */
const nimc_device *nimc_sim_device(const nimc_sim *s);
/* The text of a state file for st (docs/experiments.md, "State files"),
 * malloc'd into *out (*len bytes, not NUL-terminated); NIMC_ENOMEM. */
int nimc_state_text(const nimc_state *st, char **out, size_t *len,
                    nimc_err *err);
/* Parse a state file's text (modified in place: lines are cut) from its
 * version line to its 'end', with nothing after it; messages name path
 * and the line, counted from line0 (the lines before text). */
int nimc_state_parse(char *text, const char *path, long line0, nimc_state **out,
                     nimc_err *err);

/* Where a run stands at a checkpoint boundary (checkpoint.c, run.c): the
 * steps of the running nimc_sim_run done, the experiment line (top-level
 * block) it is in, the cycles of that line done and the capacitance of its
 * first cycle that had one, the checkpoint boundaries passed, and the
 * iteration (0-based) of each Repeat around the point, outermost first. */
#define NIMC_POSITION_DEPTH 32
typedef struct nimc_position {
  size_t done, total;
  size_t line;
  int ncycles;
  double c_first;
  long boundaries;
  int depth;
  int iter[NIMC_POSITION_DEPTH];
} nimc_position;
/* The position of sim's run at its last checkpoint boundary (before any
 * run: nothing done, c_first NaN). */
nimc_position nimc_sim_position(const nimc_sim *s);
/* Make the next nimc_sim_run continue from pos: the spans before it are
 * skipped (they ran before the checkpoint), checked against pos. */
void nimc_sim_set_resume(nimc_sim *s, const nimc_position *pos);
/* The solver statistics of the runs before a resume, added to the
 * solver's own by nimc_sim_stats (counters; unknowns and nonzeros are
 * the solver's, lu_nonzeros this one's until the solver has its own). */
void nimc_sim_set_stats_base(nimc_sim *s, const nimc_solver_stats *base);

/* Cycle jumping (protocol/jump.h): the jumper of the Repeat that is
 * running (NULL: none), for a checkpoint; and the one a resumed run takes
 * back when it reaches the checkpoint's position (copied). */
struct nimc_jumper;
const struct nimc_jumper *nimc_sim_jumper(const nimc_sim *s);
int nimc_sim_set_jump_resume(nimc_sim *s, const struct nimc_jumper *J);

/* Record the handle's error message (printf-style); returns code. */
int nimc_sim_fail(nimc_sim *s, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#endif
