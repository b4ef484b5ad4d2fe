/*
 * pack_cells.c -- what each cell of a pack holds now (nimc_sim_pack_cells).
 */
#include "model/pack.h"
#include "protocol/sim.h"

int nimc_sim_pack_cells(nimc_sim *sim, double *v_V, double *q_C, int cap) {
  if (!sim) return 0;
  const nimc_model *m = nimc_sim_model(sim);
  const double *y = nimc_sim_state(sim);
  int K = nimc_pack_ncells(m);
  for (int k = 0; k < K && k < cap; k++) {
    int64_t b;
    const nimc_model *c = nimc_pack_cell(m, k, &b);
    if (v_V) v_V[k] = y[b + c->iV];
    if (q_C) q_C[k] = y[b + c->iQ];
  }
  return K;
}
