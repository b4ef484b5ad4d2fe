/*
 * solver.h -- the SUNDIALS boundary: IDA with the KLU sparse direct solver.
 *
 * Owns the SUNDIALS context, vectors, sparse matrix and linear solver for
 * one model.  Every SUNDIALS return is translated here; IDA's own error
 * output is captured into the handle's message instead of being printed.
 * Statistics survive re-initialisations (IDAReInit resets IDA's counters,
 * so they are accumulated before each restart).
 */
#ifndef NIMC_SOLVER_H
#define NIMC_SOLVER_H

#include "model/model.h"

typedef struct nimc_solver nimc_solver;

/* Root function of the running step: g[k](t, y) whose zero ends it. */
typedef int (*nimc_root_fn)(double t, const double *y, double *g, void *user);

int nimc_solver_create(nimc_solver **out, nimc_model *m, double rtol,
                       double atol_scale, double max_step_s, double newton_coef,
                       nimc_err *err);
void nimc_solver_destroy(nimc_solver *s);

/* State vectors (length m->n), valid between calls. */
double *nimc_solver_y(nimc_solver *s);
double *nimc_solver_yp(nimc_solver *s);

/* Restart at t0 from the current state after the control changed: the
 * differential unknowns are kept, the algebraic ones and the derivatives
 * are made consistent (IDACalcIC).  nroots/dir/fn define the step's root
 * functions (nroots = 0 for none). */
int nimc_solver_restart(nimc_solver *s, double t0, int nroots,
                        const int *dir, nimc_root_fn fn, void *user);

/* Reinitialise IDA at t0 from y and y' as they are now (after they were
 * written from outside, a state put back): no consistent initialisation,
 * no root functions; the next restart sets those. */
int nimc_solver_reset(nimc_solver *s, double t0);

/* Forget whatever the solver keeps from one experiment step to the next
 * (today: the linear solver's numeric factorisation and its pivots), so
 * that what follows is computed as a new solver given the same y, y'
 * would compute it.  Anything added that carries across restarts must be
 * dropped here too: checkpoints rely on it (docs/cli.md, "Checkpoints"). */
void nimc_solver_forget(nimc_solver *s);

/* Make y' at t0 the state's true rate of change: IDA's consistent
 * initialisation (restart) leaves y' alone when the residual is already
 * within tolerance (a slow leak at rest), so one internal step is taken
 * and the state and its derivative at t0 are read back from IDA's
 * interpolating polynomial; IDA is then reinitialised at t0 with them.
 * The run's time does not move.  Call after nimc_solver_restart. */
int nimc_solver_derivatives_at(nimc_solver *s, double t0);

/* Take one internal step, not past tstop.  *t receives the time reached;
 * *event is 0 (step), 1 (a root was found), 2 (tstop reached). */
int nimc_solver_step(nimc_solver *s, double tstop, double *t, int *event);

/* Which roots fired at the last root return: info[k] != 0 for root k. */
int nimc_solver_root_info(nimc_solver *s, int *info);

/* The state at t within the last step (IDA's interpolating polynomial),
 * written to y (length m->n). */
int nimc_solver_interpolate(nimc_solver *s, double t, double *y);

/* Steadiness of the current state: the rms over the differential
 * unknowns of the state (not the running charge and energy integrals) of
 * y'_i t_scale / (rel_tol |y_i| + atol_i rel_tol / rtol). */
double nimc_solver_drift(const nimc_solver *s, double t_scale, double rel_tol);

/* Upper bound on the internal step (0: none), e.g. to resolve a sine. */
int nimc_solver_set_max_step(nimc_solver *s, double max_step_s);

const char *nimc_solver_errmsg(const nimc_solver *s);
void nimc_solver_get_stats(const nimc_solver *s, nimc_solver_stats *st);

#endif
