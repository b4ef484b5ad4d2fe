/*
 * model_fixtures.h -- devices and experiments built in code for the
 * physics tests, so that each test states exactly the parameters its
 * analytic answer depends on.
 */
#ifndef NIMC_MODEL_FIXTURES_H
#define NIMC_MODEL_FIXTURES_H

#include <stdlib.h>
#include <string.h>

#include "core/params.h"
#include "protocol/experiment.h"

/* A capacitive electrode of volumetric capacitance cap (F/m3). */
static inline void fx_capacitive(nimc_electrode_params *p, double L,
                                 double cap, double E0) {
  memset(p, 0, sizeof *p);
  p->kind = NIMC_ELECTRODE_CAPACITIVE;
  strcpy(p->material, "test-capacitive");
  p->thickness_m = L;
  p->porosity = 0.5;
  p->bruggeman = 1.5;
  p->conductivity_S_m = 1e4;
  p->cap_F_m3 = cap;
  p->E_pzc_V = 0.0;
  p->E0_V = E0;
  p->E0_given = 1;
  p->dl_cation_fraction = 0.5;
  p->cap_shape = nimc_law_constant(1.0);
  p->ocp = nimc_law_constant(0.0);
  p->solid_diffusivity = nimc_law_constant(0.0);
  p->rate_constant = nimc_law_constant(0.0);
  p->leak_n = 1.0;
}

/* An intercalation electrode with a built-in OCP. */
static inline void fx_intercalation(nimc_electrode_params *p, double L,
                                    const char *ocp, double theta0) {
  memset(p, 0, sizeof *p);
  p->kind = NIMC_ELECTRODE_INTERCALATION;
  strcpy(p->material, "test-intercalation");
  p->thickness_m = L;
  p->porosity = 0.4;
  p->bruggeman = 1.5;
  p->conductivity_S_m = 100.0;
  p->active_fraction = 0.5;
  p->particle_radius_m = 1e-6;
  p->shape = NIMC_PARTICLE_SPHERE;
  p->c_max_mol_m3 = 20000.0;
  p->theta0 = theta0;
  p->ocp.kind = NIMC_LAW_BUILTIN;
  p->ocp.fn = nimc_builtin_find(ocp);
  p->ocp.scale = 1.0;
  p->ocp.Tref_K = 298.15;
  p->solid_diffusivity = nimc_law_constant(1e-14);
  p->rate_constant = nimc_law_constant(1e-9);
  p->alpha_a = p->alpha_c = 0.5;
  p->c_ref_mol_m3 = 1000.0;
  p->cap_shape = nimc_law_constant(1.0);
  p->dl_cation_fraction = -1.0;
  p->leak_n = 1.0;
}

static inline void fx_device(nimc_device *d, double kappa, double D) {
  memset(d, 0, sizeof *d);
  strcpy(d->name, "fixture");
  strcpy(d->path, "fixture.ini");
  d->geometry = NIMC_GEOMETRY_STACK;
  d->area_m2 = 1e-4;
  d->temperature_K = 298.15;
  d->separator.thickness_m = 20e-6;
  d->separator.porosity = 0.6;
  d->separator.bruggeman = 1.5;
  d->electrolyte.c0_mol_m3 = 1000.0;
  d->electrolyte.conductivity = nimc_law_constant(kappa);
  d->electrolyte.diffusivity = nimc_law_constant(D);
  d->electrolyte.transference = nimc_law_constant(0.3);
  d->electrolyte.thermo_factor = nimc_law_constant(1.0);
  d->mesh.anode_cells = 10;
  d->mesh.separator_cells = 6;
  d->mesh.cathode_cells = 10;
  d->mesh.particle_shells = 6;
  d->mesh.grading = 1.0;
  d->solver.rtol = 1e-6;
  d->solver.atol_scale = 1.0;
}

/* An experiment of plain steps (no repeat), owned by the caller. */
typedef struct fx_exp {
  nimc_experiment exp;
  nimc_block block;
  nimc_step steps[8];
} fx_exp;

static inline void fx_exp_init(fx_exp *x) {
  memset(x, 0, sizeof *x);
  x->block.repeat = 1;
  x->block.steps = x->steps;
  x->exp.nblocks = 1;
  x->exp.blocks = &x->block;
}

static inline nimc_step *fx_add(fx_exp *x, nimc_step_type type) {
  nimc_step *s = &x->steps[x->block.nsteps++];
  s->type = type;
  strcpy(s->text, nimc_step_type_name(type));
  return s;
}

static inline void fx_gcd(fx_exp *x, double I_A, double vmax, double vmin) {
  nimc_step *c = fx_add(x, NIMC_STEP_CHARGE);
  c->current = I_A, c->has_v_cut = 1, c->v_cut_V = vmax;
  nimc_step *d = fx_add(x, NIMC_STEP_DISCHARGE);
  d->current = I_A, d->has_v_cut = 1, d->v_cut_V = vmin;
}

/* A table law y(x) for concentration-dependent electrolyte properties. */
static inline nimc_law fx_table_law(const double *x, const double *y, size_t n) {
  nimc_law law = nimc_law_constant(0.0);
  law.x = malloc(sizeof(double) * n);
  law.y = malloc(sizeof(double) * n);
  memcpy(law.x, x, sizeof(double) * n);
  memcpy(law.y, y, sizeof(double) * n);
  law.n = n;
  law.scale = 1.0;
  if (nimc_law_table_init(&law, NULL)) abort();
  return law;
}

/* The hybrid NTO//AG-like fixture with every term of the model switched
 * on: intercalation with a double layer, a potential-dependent capacitor
 * with counter-ion exchange and leakage, concentration-dependent
 * electrolyte properties, a contact resistance. */
static inline void fx_full_device(nimc_device *d) {
  fx_device(d, 0.05, 3e-12);
  static const double cx[] = {0, 400, 900, 1500, 3000};
  static const double kap[] = {0.005, 0.04, 0.06, 0.05, 0.02};
  static const double dif[] = {5e-12, 4e-12, 3e-12, 2e-12, 1e-12};
  static const double tp[] = {0.15, 0.12, 0.1, 0.08, 0.05};
  d->electrolyte.c0_mol_m3 = 900.0;
  d->electrolyte.conductivity = fx_table_law(cx, kap, 5);
  d->electrolyte.diffusivity = fx_table_law(cx, dif, 5);
  d->electrolyte.transference = fx_table_law(cx, tp, 5);
  fx_intercalation(&d->anode, 5e-6, "nto_ocp", 0.3);
  d->anode.particle_radius_m = 5e-9;
  d->anode.shape = NIMC_PARTICLE_SLAB;
  d->anode.c_max_mol_m3 = 22770;
  d->anode.solid_diffusivity = nimc_law_constant(1e-17);
  d->anode.rate_constant = nimc_law_constant(1e-11);
  d->anode.cdl_F_m2 = 0.1;
  d->anode.conductivity_S_m = 2e4;
  fx_capacitive(&d->cathode, 10e-6, 3.6e7, 1.0);
  d->cathode.cap_k2_per_V2 = 0.05;
  d->cathode.E_pzc_V = 2.9;
  d->cathode.dl_cation_fraction = -1.0;
  d->cathode.leak_A_m3 = 1e-3;
  d->cathode.leak_E_V = 3.5;
  d->cathode.leak_n = 2.0;
  d->cathode.slow_fraction = 0.25; /* micropores behind a resistance */
  d->cathode.slow_tau_s = 30.0;
  d->cathode.E0_given = 0; /* neutral: the AG at its pzc */
  d->contact_resistance_ohm = 5.0;
}

/* Make d's electrolyte the ternary one of an ionic liquid: Na+ at the
 * binary salt's concentration (its diffusivity the binary table), the
 * ionic liquid's cation at 2800 mol/m3 and the anion, each with its own
 * diffusivity (the anion's with an Arrhenius law). */
static inline void fx_ternary(nimc_device *d) {
  d->electrolyte.ternary = 1;
  d->electrolyte.c2_0_mol_m3 = 2800.0;
  d->electrolyte.diffusivity2 = nimc_law_constant(2e-11);
  d->electrolyte.diffusivity_anion = nimc_law_constant(1.5e-11);
  d->electrolyte.diffusivity_anion.tlaw = NIMC_TLAW_ARRHENIUS;
  d->electrolyte.diffusivity_anion.Ea_J_mol = 20e3;
  d->electrolyte.diffusivity_anion.Tref_K = 298.15;
}

static inline void fx_free_device(nimc_device *d) {
  nimc_law_clear(&d->electrolyte.conductivity);
  nimc_law_clear(&d->electrolyte.diffusivity);
  nimc_law_clear(&d->electrolyte.transference);
}

#endif
