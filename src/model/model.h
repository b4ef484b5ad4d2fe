/*
 * model.h -- the porous-electrode DAE: unknowns, residual and Jacobian.
 *
 * One residual code serves every geometry: the mesh supplies cells, faces
 * and region tags; this layer puts the physics of docs/model.md on them.
 * Unknowns per cell: salt concentration c and electrolyte potential phi_e
 * everywhere; in electrode cells also the interfacial potential difference
 * dphi = phi_s - phi_e; where there is a double layer, its charge q and the
 * cell's total cation content m (dissolved plus held in the double layer),
 * and the charge q2 of its slow branch (micropores reached through a
 * resistance) when it has one;
 * for intercalation, the faradaic current density j_F, the particle surface
 * concentration and the particle shell concentrations.  Storage is written in conservative form (the time
 * derivative of a stored quantity, never C(E) dE/dt), so BDF conserves
 * charge and cations exactly even with potential-dependent capacitance.  Four global
 * unknowns close the system: terminal voltage V, current I (> 0 charging),
 * and the running charge Q and energy E (integrals of I and I V).
 *
 * The residual and the analytic Jacobian dF/dy + cj dF/dy' are computed by
 * one function so that they cannot disagree; the sparsity pattern is
 * recorded by running the same code once in pattern mode.  Nothing here
 * allocates after nimc_model_create, prints, or knows about IDA.
 */
#ifndef NIMC_MODEL_H
#define NIMC_MODEL_H

#include <stdint.h>

#include "core/params.h"
#include "mesh/mesh.h"

/* What the control row of the model holds (docs/model.md, "Control"). */
typedef enum nimc_control_kind {
  NIMC_CONTROL_CURRENT = 0,  /* I = i_set */
  NIMC_CONTROL_VOLTAGE,      /* V = v_set */
  NIMC_CONTROL_SWEEP,        /* V = v_set + rate (t - t0) */
  NIMC_CONTROL_SINE_VOLTAGE, /* V = v_set + A sin(w (t - t0)) */
  NIMC_CONTROL_SINE_CURRENT, /* I = i_set + A sin(w (t - t0)) */
  NIMC_CONTROL_POWER,        /* I V = p_set */
  NIMC_CONTROL_RESISTANCE,   /* V = -I r_load (a resistor across the
                                terminals: the device discharges) */
  NIMC_CONTROL_DIODE         /* a light-emitting diode (with its series
                                resistance) across the terminals: the
                                diode law of docs/experiments.md, "The
                                LED load" */
} nimc_control_kind;

/* The control of the model: which quantity the control row holds and to
 * what.  The protocol layer sets it with nimc_model_set_control (one call
 * per step), never field by field; fields a kind does not use are
 * ignored (zeros are fine). */
typedef struct nimc_control {
  nimc_control_kind kind;
  double i_set_A;          /* CURRENT, SINE_CURRENT: the current (level), A,
                              > 0 charging */
  double v_set_V;          /* VOLTAGE: the voltage; SWEEP: its start;
                              SINE_VOLTAGE: the level, V */
  double sweep_rate_V_s;   /* SWEEP: dV/dt, signed */
  double t0_s;             /* SWEEP, SINE_*: the time the control starts */
  double sine_amplitude;   /* SINE_*: V or A (the kind's quantity) */
  double sine_omega_rad_s; /* SINE_*: angular frequency */
  double p_set_W;          /* POWER: I V, W, > 0 charging (non-zero) */
  double r_load_ohm;       /* RESISTANCE: the load, ohm (> 0) */
  /* DIODE: the LED draws led_forward_current_A at led_forward_voltage_V
   * across its junction (V_d); its slope n k T / q (V, > 0: ideality
   * times the thermal voltage) and its series resistance R_s (ohm, >= 0):
   * -I = i_f (exp(x) - e0) / (1 - e0), x = (V_d - V_f) / slope,
   * e0 = exp(-V_f / slope), V_d = V + I R_s (I < 0: discharging) */
  double led_forward_current_A;
  double led_forward_voltage_V; /* > 0 */
  double led_slope_V;
  double led_series_ohm;
} nimc_control;

/* The kinds of unknown a cell may hold, in the order they sit in it.
 * model.c declares each once, in its table of variables (how many a cell
 * of each class has, the absolute tolerance, whether differential, the
 * initial value); nimc_model_create lays the cells out from it. */
typedef enum nimc_var {
  NIMC_VAR_C,    /* salt (Na+) concentration, mol/m3 */
  NIMC_VAR_PHIE, /* electrolyte potential, V */
  NIMC_VAR_DPHI, /* interfacial potential difference phi_s - phi_e, V */
  NIMC_VAR_Q,    /* double-layer charge per electrode volume, C/m3 */
  NIMC_VAR_M,    /* cation content, dissolved and in the double layer, mol/m3 */
  NIMC_VAR_Q2,   /* charge of the slow double-layer branch, C/m3 */
  NIMC_VAR_JF,   /* faradaic current density, A/m2 */
  NIMC_VAR_CS,   /* particle surface concentration, then its shells, mol/m3 */
  NIMC_VAR_QMP,  /* micropore shell charges, C/m3 */
  NIMC_VAR_C2,   /* ternary electrolyte: the ionic liquid's cation, mol/m3 */
  NIMC_VAR_M2,   /* its content in a double-layer cell, mol/m3 */
  NIMC_VAR_FILM, /* ageing: side-reaction charge per m2 of an intercalation
                    solid's surface (its film), C/m2 */
  NIMC_VAR_BLOCK,/* ageing: blocked share of a capacitive surface, 1 */
  NIMC_VAR_TRAP, /* ageing: sodium trapped in an intercalation solid, as
                    charge per m2 of its particles' surface, C/m2 */
  NIMC_NVAR
} nimc_var;

/* Where the unknowns of a cell of one class (electrolyte, anode,
 * cathode) sit: off[v] the offset of the first of count[v] unknowns of
 * kind v in the cell (-1 and 0 when it has none), nvars in all. */
typedef struct nimc_cell_layout {
  int off[NIMC_NVAR];
  int count[NIMC_NVAR];
  int nvars;
} nimc_cell_layout;

/* The name of a kind of unknown ("salt concentration", ...). */
const char *nimc_var_name(nimc_var v);

/* Per-electrode data derived from its parameters at setup. */
typedef struct nimc_elec {
  const nimc_electrode_params *p;
  int has_int;        /* intercalation reaction present */
  double a;           /* specific interfacial area of the active solid, 1/m */
  double sigma_eff;   /* effective solid conductivity, S/m */
  double cdl_v;       /* a * C_dl, F/m3 */
  double cap_v;       /* volumetric double-layer capacitance at pzc, F/m3 */
  double pzc;         /* potential of zero charge of the double layer, V:
                         the material's pzc, or for a double layer on an
                         intercalation solid alone the solid's potential
                         as made (its double layer is uncharged then) */
  double vol;         /* volume of the electrode, m3 */
  int has_dl;         /* double layer present: unknowns q and m */
  int iq, im, ij, is; /* offsets in the cell of q, m, j_F, surface conc.
                         (from the layout; -1: none) */
  int i2;             /* offset of the slow double-layer charge q2, or -1 */
  double cap2_v;      /* slow branch: capacitance, F/m3 */
  double tau2_s;      /* slow branch: time constant, s */
  double qw;          /* counter-ion model: charge width around pzc, C/m3 */
  int nmp;            /* micropore shells (0: none) */
  int imp;            /* offset of the first micropore shell charge */
  double capmp_v;     /* micropore capacitance, F/m3 of electrode */
  double taump_s;     /* its time constant at the model's temperature */
  double *mp_meas;    /* nmp shell measures (slab: widths, sum 1) */
  double *mp_w;       /* nmp conductance weights of each shell's outer face,
                         face measure over centre distance */
  /* ageing (the material's side reaction, docs/model.md): on (sr), its
   * surface per electrode volume, exchange current at the model's
   * temperature (A/m2) and alpha F / (R T) (1/V), the trapped share of
   * the charging current (capacitive); the offsets of the film charge and
   * of the blocked share and of the trapped sodium in the cell (-1: none) */
  int sr;
  double sr_a, sr_i0, sr_f, sr_trap;
  int ifilm, iblock, itrap;
  int ns;             /* particle shells */
  double *rho_face;   /* ns+1 dimensionless shell-face radii */
  double *rho_mid;    /* ns shell centres (midpoints) */
  double *face_meas;  /* rho^shape at each face */
  double *shell_meas; /* dimensionless shell measures */
  double *shell_w;    /* ns diffusion weights of each shell's outer face:
                         face measure / centre distance / R^2 (1/m2) */
  double particle_meas; /* sum of shell measures = 1/(shape+1) */
} nimc_elec;

typedef struct nimc_model {
  const nimc_device *dev;
  nimc_mesh *mesh;
  double T_K;
  int64_t n;          /* unknowns */
  int *off;           /* first unknown of each cell */
  int *elec;          /* electrode of each cell: -1, 0 anode, 1 cathode */
  nimc_cell_layout lay[3]; /* of the cells of electrode e at lay[e + 1] */
  double *eps;        /* electrolyte volume fraction of each cell */
  double *beta;       /* eps^bruggeman: transport factor of each cell */
  int64_t iV, iI, iQ, iE;
  int tern;           /* ternary electrolyte: second cation c2 (and its
                         content m2 in double-layer cells) last in a cell */
  double mobility;    /* ternary: measured conductivity / Nernst-Einstein */
  double initial_charge_C; /* the charge moved from the neutral device to
                              reach [device] initial_voltage (0 without) */
  double r_collector_ohm; /* lumped along-finger collector resistance, both electrodes */
  double r_series_ohm;    /* contact + collector resistance in series */
  double g_shunt_S;       /* 1 / [device] shunt_resistance, 0 without */
  nimc_elec el[2];
  /* the control: written only by nimc_model_set_control (the creator
   * sets zero current, open circuit) */
  nimc_control control;
  /* Jacobian pattern, CSR */
  int64_t nnz;
  int64_t *rowptr, *colind;
  /* the CSR place of each put() of an assembly, in call order: a cache of
   * the binary search, checked at each use (model.c: place_of) */
  int64_t nplaces;
  int64_t *place;
  /* non-NULL: this model is a pack of cells (model/pack.h), and the
   * functions below dispatch there */
  struct nimc_pack *pack;
} nimc_model;

/* Number of variables stored per cell of electrode e (0/1) or electrolyte. */
int nimc_model_cell_nvars(const nimc_model *m, int cell);
/* The layout of a cell's unknowns. */
const nimc_cell_layout *nimc_model_cell_layout(const nimc_model *m, int cell);

/* Index of the ternary electrolyte's second cation (the ionic liquid's)
 * in a cell; -1 with a binary electrolyte.  In a double-layer cell its
 * content m2 follows it. */
int nimc_model_c2_index(const nimc_model *m, int cell);

/* Build the model of dev on mesh (the model takes ownership of mesh). */
int nimc_model_create(nimc_model **out, const nimc_device *dev,
                      nimc_mesh *mesh, nimc_err *err);
void nimc_model_destroy(nimc_model *m);

/* Initial state: equilibrium at rest (y' = 0). */
void nimc_model_initial(const nimc_model *m, double *y, double *yp);
/* Per-unknown absolute tolerance and differential (1) / algebraic (0) id. */
void nimc_model_atol(const nimc_model *m, double scale, double *atol);
void nimc_model_id(const nimc_model *m, double *id);

/* Set the control of m: the control row holds c's quantity to c's
 * target from now on (the solver must then be restarted, as a step does).
 * NIMC_EINPUT, m unchanged, when c's kind is unknown or a value it uses
 * is not finite (a sine's frequency must also be positive, a power
 * non-zero, a load resistance positive, a diode's forward current,
 * forward voltage and slope positive and its series resistance >= 0). */
int nimc_model_set_control(nimc_model *m, const nimc_control *c);
/* Run m at temperature T_K (K) from now on: recomputes exactly what
 * nimc_model_create derives from the device's temperature (the laws take
 * m->T_K as they go); the state carries over (isothermal steps: the
 * solver must then be restarted, as a step does).  NIMC_EINPUT, m
 * unchanged, when T_K is not a positive finite number (the charge that
 * [device] initial_voltage needs is not recomputed: it is found once, at
 * creation, for the initial state); the plausible
 * range and a VTF law's floor are the caller's (nimc_device_set_temperature
 * checks them for a device). */
int nimc_model_set_temperature(nimc_model *m, double T_K);
/* The control in force. */
nimc_control nimc_model_get_control(const nimc_model *m);
/* Whether the control holds the current (1) or the voltage (0); a power
 * or a load holds a relation of both (0). */
int nimc_control_by_current(nimc_control_kind kind);

/* The diode law of a DIODE control c: the current the LED draws (A, > 0
 * forward) when its junction is at x = (V_d - V_f) / slope, and in *dx
 * (may be NULL) its derivative in x.  Exact exponential up to 1e4 times
 * the forward current (x = ln 1e4), continued linearly (value and slope
 * continuous) beyond, where no LED survives, so that Newton's iterates
 * far from the solution meet a linear function, not an overflow. */
double nimc_control_diode_current(const nimc_control *c, double x, double *dx);

/* What the control row holds I (current controls) or V (voltage
 * controls) to at time t; for a power, the power I V (W); for a load or
 * a diode, 0 (the row is I + V / R, or I plus the diode's current). */
double nimc_model_control_target(const nimc_model *m, double t);

/* The control row of m at time t for terminal voltage V and current I:
 * its residual, and its derivatives in I and V (*dI, *dV).  One function
 * for a cell (model.c) and a pack (pack.c). */
double nimc_model_control_row(const nimc_model *m, double t, double V,
                              double I_A, double *dI, double *dV);

/* Residual F(t, y, y'), and when jac_values is non-NULL the values of
 * dF/dy + cj dF/dy' in the CSR pattern (rowptr, colind).  Returns 0, or 1
 * (recoverable: a concentration left its physical range, IDA should cut
 * the step), never a fatal code for finite input. */
int nimc_model_eval(const nimc_model *m, double t, const double *y,
                    const double *yp, double *F, double cj,
                    double *jac_values);

/* The residual F and, apart, the two Jacobians dF/dy and dF/dy' in the
 * CSR pattern: the linearisation (dF/dy + j w dF/dy') dy = b of the
 * impedance.  Returns as nimc_model_eval. */
int nimc_model_jacobians(const nimc_model *m, double t, const double *y,
                         const double *yp, double *F, double *dfdy,
                         double *dfdyp);

/* The unknowns of a cell's potentials: *phie the electrolyte potential
 * and, in an electrode cell, *dphi the interfacial difference phi_s -
 * phi_e (-1 elsewhere), so that phi_s = y[dphi] + y[phie]; *term is the
 * unknown of the potential of the terminal the cell's solid is connected
 * to (the voltage V for the positive electrode), or -1 for the grounded
 * negative electrode and outside the electrodes. */
void nimc_model_potential_columns(const nimc_model *m, int cell, int64_t *phie,
                                  int64_t *dphi, int64_t *term);

/* Interfacial current per volume of a cell (A/m3, > 0 anodic; 0 outside
 * the electrodes): faradaic, double-layer and leakage parts together. */
double nimc_model_cell_reaction(const nimc_model *m, int cell, const double *y,
                                const double *yp);

/* The ionic liquid's cations (mol) of a ternary electrolyte, dissolved
 * and in double layers (0 with a binary one), for conservation checks. */
double nimc_model_il_cation_inventory(const nimc_model *m, const double *y);

/* Lowest electrolyte concentration over the cells (mol/m3; of Na+ in a
 * ternary electrolyte). */
double nimc_model_min_concentration(const nimc_model *m, const double *y);
/* Whether y is a state the model's laws take (a state made by
 * extrapolation, cycle jumping): every concentration positive, every
 * particle shell's stoichiometry in (0, 1), every film charge >= 0 and
 * blocked share in [0, 1) -- and, with a reference state yref (NULL:
 * none), no bounded quantity gone more than half of the way from its
 * value in yref to its bound, so that the laws stay gentle.  A pack is
 * judged by its concentrations alone. */
int nimc_model_state_near(const nimc_model *m, const double *y,
                          const double *yref);

/* Charge stored in electrode e (C) relative to the neutral, as-assembled
 * device: double-layer charge minus F times the sodium inserted beyond the
 * as-made content.  The two electrodes' charges sum to zero in every state
 * reached from the neutral start. */
double nimc_model_electrode_charge(const nimc_model *m, int e,
                                   const double *y);
/* Charge (C) that electrode e has passed to its side reaction since the
 * start (ageing): the oxidation's on a capacitive electrode (positive),
 * the reduction's on an intercalation one (negative); 0 without.  The
 * electrodes' stored charges plus these sum to zero. */
double nimc_model_side_charge(const nimc_model *m, int e, const double *y);
/* Cation inventory (mol): electrolyte, solid, and cations held in double
 * layers, for conservation checks. */
double nimc_model_cation_inventory(const nimc_model *m, const double *y);

#endif
