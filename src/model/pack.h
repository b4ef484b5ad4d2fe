/*
 * pack.h -- N cells in series and M strings in parallel, each cell the
 * full model of its device, solved as one circuit (one DAE, one IDA, one
 * KLU): docs/model.md, "Packs".
 *
 * A pack is itself an nimc_model (m->pack non-NULL): its unknowns are the
 * K = N M cells' unknowns one cell after the other (each with its own
 * V_k, I_k, Q_k, E_k), then the pack's own V, I, Q, E at m->iV .. m->iE,
 * so that the solver, the steps and their cut-offs, the sinks and the
 * state files see the terminal quantities where they always do.  Cell k
 * is cell j (0 .. N-1) of string s (0 .. M-1), k = s N + j.  Each cell's
 * residual is its model's own, except its control row, which holds the
 * circuit:
 *   j > 0:  I_{s,j} - I_{s,j-1} = 0      (one current through a string)
 *   j = 0:  sum_j V_{s,j} - V = 0         (each string spans the pack)
 * and the pack's rows are
 *   iV:     I - sum_s I_{s,0} = 0         (the strings' currents add up)
 *   iI:     the control (current, voltage, sweep, sine, power, load) on
 *           V and I, as a cell's control row
 *   iQ, iE: Q' = I, E' = I V.
 * The Jacobian pattern is the union of the cells' patterns, shifted, and
 * the circuit's entries; a cell's values are copied in two blocks (its
 * rows before and after its control row), so a pack costs its cells'
 * residuals and nothing else of note.
 *
 * The functions of model.h dispatch here for a pack.  What has no meaning
 * for a pack: the mesh (m->mesh is NULL: fields and the EIS operating
 * point are refused by the protocol layer), nimc_model_cell_nvars and
 * nimc_model_c2_index (cells of one mesh).  m->el[] is cell 1's (shallow;
 * the basis of currents per mass: one cell's mass), m->dev the base
 * device (currents per area and C-rates: one cell's footprint and
 * capacity).
 */
#ifndef NIMC_PACK_H
#define NIMC_PACK_H

#include "model/model.h"

/* Build the pack of dev->pack (series, parallel, spread) of dev.  The
 * pack keeps pointers into dev: dev must outlive it. */
int nimc_pack_create(nimc_model **out, const nimc_device *dev, nimc_err *err);

/* Number of cells of a pack; 0 for a single cell's model. */
int nimc_pack_ncells(const nimc_model *m);
/* Cell k of the pack m (0 .. ncells-1), and in *base (may be NULL) the
 * index of its first unknown in the pack's state; NULL when out of range. */
const nimc_model *nimc_pack_cell(const nimc_model *m, int k, int64_t *base);
/* The spread factors of cell k (nimc_device's pack.nspread of them, in
 * the order of the spread list); NULL without a spread. */
const double *nimc_pack_factors(const nimc_model *m, int k);

/* model.h's functions for a pack (called by them when m->pack is set). */
void nimc_pack_destroy(nimc_model *m);
void nimc_pack_initial(const nimc_model *m, double *y, double *yp);
void nimc_pack_atol(const nimc_model *m, double scale, double *atol);
void nimc_pack_id(const nimc_model *m, double *id);
/* Every cell at temperature T_K (nimc_model_set_temperature). */
int nimc_pack_set_temperature(nimc_model *m, double T_K);
int nimc_pack_control_ok(nimc_control_kind kind);
int nimc_pack_eval(const nimc_model *m, double t, const double *y,
                   const double *yp, double *F, double cj, double *jac_values);
int nimc_pack_jacobians(const nimc_model *m, double t, const double *y,
                        const double *yp, double *F, double *dfdy,
                        double *dfdyp);
/* Cells of the cells' meshes are numbered one cell (model) after another. */
void nimc_pack_potential_columns(const nimc_model *m, int cell, int64_t *phie,
                                 int64_t *dphi, int64_t *term);
double nimc_pack_cell_reaction(const nimc_model *m, int cell, const double *y,
                               const double *yp);
double nimc_pack_min_concentration(const nimc_model *m, const double *y);
double nimc_pack_il_cation_inventory(const nimc_model *m, const double *y);
double nimc_pack_electrode_charge(const nimc_model *m, int e, const double *y);
double nimc_pack_cation_inventory(const nimc_model *m, const double *y);

#endif
