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
/* Record the handle's error message (printf-style); returns code. */
int nimc_sim_fail(nimc_sim *s, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#endif
