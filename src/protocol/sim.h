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

#endif
