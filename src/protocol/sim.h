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
/* Record the handle's error message (printf-style); returns code. */
int nimc_sim_fail(nimc_sim *s, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#endif
