/*
 * params.h -- the plain-data description of a device, in SI units.
 *
 * The io layer fills these structs from device and material files; the mesh
 * and model layers read them.  Nothing here allocates except the property
 * laws that hold tables (laws/law.h, released by nimc_law_clear).
 */
#ifndef NIMC_PARAMS_H
#define NIMC_PARAMS_H

#include "core/error.h"
#include "laws/law.h"
#include "nimc/nimc.h"

#define NIMC_PATH_MAX 1024

/* ---- electrodes ---- */

typedef enum nimc_electrode_kind {
  NIMC_ELECTRODE_INTERCALATION = 0,
  NIMC_ELECTRODE_CAPACITIVE,
  NIMC_ELECTRODE_HYBRID
} nimc_electrode_kind;

typedef enum nimc_particle_shape {
  NIMC_PARTICLE_SLAB = 0,   /* radius = half thickness */
  NIMC_PARTICLE_CYLINDER = 1,
  NIMC_PARTICLE_SPHERE = 2
} nimc_particle_shape;

typedef struct nimc_electrode_params {
  nimc_electrode_kind kind;
  char material[NIMC_NAME_MAX];   /* material name, for messages */
  double thickness_m;
  double porosity;                /* electrolyte volume fraction */
  double bruggeman;               /* x_eff = x * porosity^b */
  double conductivity_S_m;        /* solid (electronic), bulk of the film */
  double solid_bruggeman;         /* sigma_eff = sigma * (1-porosity)^b; 0 = use sigma as the film's */

  /* mass of active material per electrode volume (kg/m3; 0 = not given):
   * a capacitive electrode's capacitance per mass times it is its
   * capacitance per volume; any electrode's gives its active mass, the
   * basis of currents per mass (A/g) */
  double active_density_kg_m3;

  /* intercalation (and hybrid) */
  double active_fraction;         /* volume fraction of intercalation solid */
  double particle_radius_m;
  nimc_particle_shape shape;
  double c_max_mol_m3;
  double theta0;                  /* initial stoichiometry c/c_max */
  nimc_law ocp;                   /* U(theta) [V vs Na/Na+ (or Li/Li+)] */
  nimc_law solid_diffusivity;     /* D_s(theta, T) [m2/s] */
  nimc_law rate_constant;         /* k(T) [m/s]: i0 = F k c_max (c/c_ref)^aa (1-th)^aa th^ac */
  double alpha_a, alpha_c;
  double c_ref_mol_m3;            /* reference electrolyte concentration of k */
  double cdl_F_m2;                /* double layer per interfacial area (0 = none) */
  double film_ohm_m2;             /* surface film resistance: eta = dphi - U - R_f j_F */

  /* capacitive (and hybrid) */
  double cap_F_m3;                /* volumetric capacitance at E_pzc [F/m3 of electrode] */
  double cap_k2_per_V2;           /* C(E) = C0 (1 + k2 (E - Epzc)^2) ... */
  nimc_law cap_shape;             /* ... or C(E) = C0 shape(E), a table (then k2 = 0);
                                     CONSTANT 1 when unused */
  double E_pzc_V;                 /* potential of zero charge vs reference */
  double E0_V;                    /* initial potential of the double layer */
  int E0_given;
  double dl_cation_fraction;      /* s in [0,1]: share of dl charge balanced by cations; <0 = counter-ion model */
  double slow_fraction;           /* share of cap_F_m3 behind a slow access path (micropores) */
  double slow_tau_s;              /* its charging time constant */
  /* micropores: a share of cap_F_m3 inside the particles, reached through
   * their pores (a transmission line across a slab particle, in shells);
   * tau = R^2 C / kappa_pore at mp_Tref_K, scaled with the electrolyte's
   * conductivity in temperature */
  double mp_fraction;
  double mp_tau_s;
  double mp_Tref_K;

  /* ageing: decomposition of the electrolyte on the material's surface
   * (docs/model.md, "Ageing"), Tafel in the interfacial potential E:
   * an oxidation on a capacitive material, i = i0(T) exp(alpha F (E - E_sr)
   * / (R T)), whose products block its surface (sr_block_C_m2 of them per
   * m2 block it all); a reduction on an intercalation material,
   * i = -i0(T) exp(-alpha F (E - E_sr) / (R T)), whose products grow a
   * film of sr_film_ohm_m4_C of resistance per C/m2.  i0 = 0: none.
   * On a capacitive material, trapping too: a share kappa(T) of the
   * anions its surface takes up while it charges (its net capacitive
   * current, when anodic) stays in the pores, passed but not stored, and
   * blocks the surface like the oxidation's products.  kappa = 0: none */
  nimc_law sr_current;            /* i0(T) [A/m2 of surface] */
  nimc_law sr_trapping;           /* kappa(T) [1] */
  double sr_E_V;                  /* E_sr [V vs Na/Na+] */
  double sr_alpha;                /* transfer coefficient (default 0.5) */
  double sr_block_C_m2;           /* capacitive: charge that blocks 1 m2 */
  double sr_film_ohm_m4_C;        /* intercalation: film resistance per charge */
  double surface_m2_m3;           /* capacitive: the surface (BET area) per
                                     electrode volume, 0 when not known */

  /* parasitic (leakage) current, Tafel: i = i0 exp(F (E - E_leak)/(n R T)) per electrode volume */
  double leak_A_m3;
  double leak_E_V;
  double leak_n;
} nimc_electrode_params;

typedef struct nimc_separator_params {
  double thickness_m;
  double porosity;
  double bruggeman;
} nimc_separator_params;

/* The electrolyte: a binary salt (concentrated-solution theory: one salt
 * concentration, kappa, D, t+, thermodynamic factor) or a ternary ionic-
 * liquid electrolyte (Na+, the ionic liquid's cation, the common anion:
 * Nernst-Planck fluxes of each ion with electroneutrality, docs/model.md). */
typedef struct nimc_electrolyte_params {
  char material[NIMC_NAME_MAX];
  int ternary;                    /* 0 binary salt, 1 ternary */
  double c0_mol_m3;               /* initial salt (ternary: Na+) concentration */
  double c2_0_mol_m3;             /* ternary: the ionic liquid's cation */
  nimc_law diffusivity2;          /* ternary: D of the ionic liquid's cation */
  nimc_law diffusivity_anion;     /* ternary: D of the anion */
  nimc_law conductivity;          /* kappa(c, T) [S/m] */
  nimc_law diffusivity;           /* D(c, T) [m2/s] (ternary: of Na+) */
  nimc_law transference;          /* t+(c) [-] */
  nimc_law thermo_factor;         /* 1 + dln f/dln c (c) [-] */
} nimc_electrolyte_params;

/* How the in-plane array is meshed (mesh.h nimc_mesh_interdigitated):
 * one symmetry cell whose finger columns stand for all 2N finger halves
 * (the default: the speed of design loops), the edge fingers and their
 * gaps exactly with the inner gaps lumped into one, or the whole
 * cross-section of 2N fingers (the exact reference). */
typedef enum nimc_array {
  NIMC_ARRAY_SYMMETRY = 0,
  NIMC_ARRAY_EDGE = 1,
  NIMC_ARRAY_FULL = 2
} nimc_array;

/* The in-plane (interdigitated) array: N fingers per electrode, each
 * finger_length long and finger_width wide, gap apart, under an ionogel
 * layer (its top at gel_thickness above the substrate), with an optional
 * porous cover on the top surface of every finger. */
typedef struct nimc_interdigitated_params {
  int fingers_per_electrode;
  double finger_length_m, finger_width_m, gap_m;
  double gel_thickness_m;         /* substrate to top of the gel */
  double gel_porosity, gel_bruggeman; /* transport in the gel layer (1, 0: the
                                     measured conductivity is the gel's) */
  double collector_sheet_ohm;     /* EG collector sheet resistance, ohm/sq */
  int cover_enabled;
  double cover_thickness_m, cover_porosity, cover_bruggeman;
  /* mesh of the cross-section ([mesh]); cells per finger half */
  int finger_cells_x, gap_cells_x, electrode_cells_z, gel_cells_z, cover_cells_z;
  double grading_x, grading_z;
  nimc_array array;               /* [mesh] array */
} nimc_interdigitated_params;

typedef enum nimc_geometry {
  NIMC_GEOMETRY_STACK = 0,        /* 1D anode | separator | cathode */
  NIMC_GEOMETRY_INTERDIGITATED    /* 2D in-plane cross-section (later) */
} nimc_geometry;

typedef struct nimc_mesh_params {
  int anode_cells, separator_cells, cathode_cells;
  int particle_shells;
  int micropore_shells;           /* shells of the micropore transmission line */
  double grading;                 /* ratio of largest to smallest cell in a region (1 = uniform) */
  double particle_grading;        /* ratio of innermost to outermost shell (1 = uniform) */
} nimc_mesh_params;

typedef struct nimc_solver_params {
  double rtol;
  double atol_scale;
} nimc_solver_params;

/* A light-emitting diode as a load ([led], docs/device-files.md): it
 * draws forward_current at forward_voltage across its junction, with an
 * ideality factor and a resistance in series; the step 'Discharge through
 * LED' connects it across the terminals.  The LED is at the device's
 * temperature. */
typedef struct nimc_led_params {
  int present;                  /* the device file has a [led] section */
  double forward_voltage_V;     /* > 0 */
  double forward_current_A;     /* > 0 */
  double ideality;              /* >= 1 */
  double series_resistance_ohm; /* >= 0 */
} nimc_led_params;
/* A pack (docs/model.md, "Packs"): series cells in each string, parallel
 * strings, each cell the full model of this device; optionally each cell's
 * copy of chosen parameters multiplied by a seeded lognormal factor
 * (core/pack_spec.c). */
#define NIMC_PACK_MAX_SPREAD 8
typedef struct nimc_pack_spread {
  int param;  /* index in the table of core/pack_spec.c */
  double rel; /* the relative spread (0.05 for 5 %): the log of the
                 factor is normal with this standard deviation */
} nimc_pack_spread;
typedef struct nimc_pack_params {
  int given; /* a [pack] section or --pack: the model is a pack (even
                1s1p) */
  int series, parallel;
  int seed; /* of the spread's generator */
  int nspread;
  nimc_pack_spread spread[NIMC_PACK_MAX_SPREAD];
} nimc_pack_params;

struct nimc_device {
  char name[NIMC_NAME_MAX];
  char path[NIMC_PATH_MAX];
  nimc_geometry geometry;
  double area_m2;                 /* footprint area (stack: electrode area;
                                     interdigitated: computed from the array
                                     unless given) */
  double norm_thickness_m;        /* 0 = mean electrode thickness */
  double temperature_K;
  double contact_resistance_ohm;  /* lumped series resistance (leads, collectors) */
  double shunt_resistance_ohm;    /* leakage path across the terminals; 0 =
                                     none */
  double initial_voltage_V;
  int initial_voltage_given;
  double nominal_capacity_C;      /* the capacity C-rates refer to; 0 = not
                                     stated */
  /* the safe operating window ([device] min_voltage, max_voltage,
   * max_current): a step that leaves it ends there and the run stops
   * (docs/experiments.md, "The device's safe window").  Each limit is
   * optional; a zero flag or a zero current means "not declared" (no
   * limit), so a zeroed struct has no window. */
  int min_voltage_given, max_voltage_given;
  double min_voltage_V, max_voltage_V;
  double max_current_A;            /* absolute limit of |I|, > 0; 0 = none */
  double max_current_A_m2;         /* or per footprint area, > 0; 0 = none */
  nimc_electrode_params anode, cathode;
  nimc_separator_params separator;
  nimc_interdigitated_params idg;  /* geometry = interdigitated */
  nimc_electrolyte_params electrolyte;
  nimc_mesh_params mesh;
  nimc_solver_params solver;
  nimc_led_params led;             /* [led], optional */
  nimc_pack_params pack; /* [pack]; given = 0: one cell */
};

#endif /* NIMC_PARAMS_H */
