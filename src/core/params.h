/*
 * params.h -- the plain-data description of a device, in SI units.
 *
 * The io layer fills these structs from device and material files; the mesh
 * and model layers read them.  Nothing here allocates except the property
 * laws that hold tables (released by nimc_law_clear).  A property that
 * depends on a state variable (stoichiometry, concentration, potential) and
 * on temperature is an nimc_law: a base function of the state variable at
 * the reference temperature, times a temperature factor.
 */
#ifndef NIMC_PARAMS_H
#define NIMC_PARAMS_H

#include "nimc/nimc.h"

#define NIMC_NAME_MAX 128
#define NIMC_PATH_MAX 1024

/* ---- property laws ---- */

typedef enum nimc_law_kind {
  NIMC_LAW_CONSTANT = 0, /* value */
  NIMC_LAW_TABLE,        /* (x, y) table, monotone cubic (Steffen), clamped */
  NIMC_LAW_BUILTIN       /* a named function of the library (model/builtin) */
} nimc_law_kind;

typedef enum nimc_tlaw_kind {
  NIMC_TLAW_NONE = 0,
  NIMC_TLAW_ARRHENIUS, /* exp(-Ea/R (1/T - 1/Tref)) */
  NIMC_TLAW_VTF        /* exp(-B/(T-T0) + B/(Tref-T0)) */
} nimc_tlaw_kind;

/* f(x, T) for built-in laws; writes df/dx. */
typedef double (*nimc_builtin_fn)(double x, double T_K, double *dfdx);

typedef struct nimc_law {
  nimc_law_kind kind;
  double value;            /* CONSTANT: SI value at Tref */
  double scale;            /* TABLE/BUILTIN: multiplies the base (default 1) */
  size_t n;                /* TABLE: number of points */
  double *x, *y;           /* TABLE: owned, x strictly increasing */
  void *interp;            /* TABLE: gsl_interp *, owned */
  nimc_builtin_fn fn;      /* BUILTIN */
  char name[NIMC_NAME_MAX];/* BUILTIN name or TABLE file, for messages */
  nimc_tlaw_kind tlaw;
  double Ea_J_mol;         /* ARRHENIUS */
  double vtf_B_K, vtf_T0_K;/* VTF */
  double Tref_K;           /* reference temperature of value/table */
} nimc_law;

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
  nimc_electrode_params anode, cathode;
  nimc_separator_params separator;
  nimc_interdigitated_params idg;  /* geometry = interdigitated */
  nimc_electrolyte_params electrolyte;
  nimc_mesh_params mesh;
  nimc_solver_params solver;
};

/* Evaluate a law at state x and temperature T; *dfdx (may be NULL) gets
 * the derivative in x.  Tables are clamped outside their range (derivative
 * zero there). */
double nimc_law_eval(const nimc_law *law, double x, double T_K, double *dfdx);
/* Integral of a CONSTANT or TABLE law over x from a to b at T (NaN for
 * built-ins). */
double nimc_law_integral(const nimc_law *law, double a, double b, double T_K);
/* Temperature factor of a law (1 at Tref). */
double nimc_law_tfactor(const nimc_law *law, double T_K);
/* A constant law. */
nimc_law nimc_law_constant(double value);
/* Build the interpolant of a TABLE law whose x, y, n are set.  The law
 * owns x and y either way: nimc_law_clear releases them, also after a
 * failure. */
int nimc_law_table_init(nimc_law *law, nimc_err *err);
void nimc_law_clear(nimc_law *law);
/* Look up a built-in function by name; NULL when unknown. */
nimc_builtin_fn nimc_builtin_find(const char *name);
/* Comma-separated list of built-in names, for messages. */
const char *nimc_builtin_names(void);

/* Record an error: sets err->code and formats err->msg; returns code. */
int nimc_err_set(nimc_err *err, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#endif /* NIMC_PARAMS_H */
