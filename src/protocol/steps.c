/*
 * steps.c -- what each kind of step does: the table of step operations,
 * and the cut-off lists that end steps (steps.h has the contract).
 *
 * A kind's entry says how the step drives the device (the model's control
 * and the bound on its time), which of the step's "until" clauses become
 * cut-offs and in which direction they fire, and what the step measures
 * at its end beyond what every step records.  Nothing here runs the
 * solver, prints or keeps state: run.c applies a plan, and the cut-offs
 * are plain data that its root function evaluates.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/constants.h"
#include "protocol/steps.h"

/* ---- cut-offs ---- */

double nimc_watch_voltage(const nimc_model *m, const double *y) {
  return y[m->iV];
}

double nimc_watch_abs_current(const nimc_model *m, const double *y) {
  return fabs(y[m->iI]);
}

double nimc_watch_min_concentration(const nimc_model *m, const double *y) {
  return nimc_model_min_concentration(m, y);
}

double nimc_watch_charge(const nimc_model *m, const double *y) {
  return y[m->iQ];
}

int nimc_cutoffs_add(nimc_cutoffs *l, nimc_end_reason reason,
                     nimc_watch_fn watch, double level, int dir) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 4;
    nimc_cutoff *c = realloc(l->c, cap * sizeof *c);
    if (c) l->c = c;
    int *d = realloc(l->dir, cap * sizeof *d);
    if (d) l->dir = d;
    int *in = realloc(l->info, cap * sizeof *in);
    if (in) l->info = in;
    if (!c || !d || !in) return NIMC_ENOMEM;
    l->cap = cap;
  }
  l->c[l->n] = (nimc_cutoff){reason, watch, level, dir};
  l->dir[l->n] = dir;
  l->info[l->n] = 0;
  l->n++;
  return NIMC_OK;
}

void nimc_cutoffs_free(nimc_cutoffs *l) {
  free(l->c), free(l->dir), free(l->info);
  l->c = NULL, l->dir = l->info = NULL;
  l->n = l->cap = 0;
}

void nimc_cutoffs_eval(const nimc_cutoffs *l, const nimc_model *m,
                       const double *y, double *g) {
  for (size_t k = 0; k < l->n; k++)
    g[k] = l->c[k].watch(m, y) - l->c[k].level;
}

long nimc_cutoffs_passed(const nimc_cutoffs *l, const nimc_model *m,
                         const double *y) {
  for (size_t k = 0; k < l->n; k++) {
    double g = l->c[k].watch(m, y) - l->c[k].level;
    if ((l->c[k].dir > 0 && g >= 0.0) || (l->c[k].dir < 0 && g <= 0.0) ||
        (l->c[k].dir == 0 && g == 0.0))
      return (long)k;
  }
  return -1;
}

long nimc_cutoffs_fired(const nimc_cutoffs *l) {
  for (size_t k = 0; k < l->n; k++)
    if (l->info[k]) return (long)k;
  return -1;
}

/* ---- set-up of each kind ---- */

/* A current of the experiment language in A: per area or absolute. */
static double amperes(double value, int per_area, const nimc_step_env *env) {
  return value * (per_area ? env->area_m2 : 1.0);
}

double nimc_step_active_mass_kg(const nimc_model *m, const char **missing) {
  double mass = 0.0;
  for (int e = 0; e < 2; e++) {
    double rho = m->el[e].p->active_density_kg_m3;
    if (!(rho > 0.0)) {
      if (missing) *missing = e ? "cathode" : "anode";
      return 0.0;
    }
    mass += rho * m->el[e].vol;
  }
  return mass;
}

int nimc_step_check(const nimc_step *st, const nimc_model *m, char *why,
                    size_t cap) {
  const char *missing = NULL;
  if (st->c_rate && !(m->dev->nominal_capacity_C > 0.0)) {
    snprintf(why, cap,
             "a C-rate needs the device's nominal capacity: [device] "
             "nominal_capacity (in C or mAh) is not given in %s",
             m->dev->path);
    return NIMC_EINPUT;
  }
  if (st->current_per_mass && !(nimc_step_active_mass_kg(m, &missing) > 0.0)) {
    snprintf(why, cap,
             "a current per mass needs the device's active mass: [%s] "
             "active_density is not given in %s",
             missing ? missing : "anode", m->dev->path);
    return NIMC_EINPUT;
  }
  if (st->type == NIMC_STEP_LOAD_LED && !m->dev->led.present) {
    snprintf(why, cap,
             "a discharge through an LED needs the device's LED: the [led] "
             "section (forward_voltage, forward_current, ideality, "
             "series_resistance) is not given in %s",
             m->dev->path);
    return NIMC_EINPUT;
  }
  return NIMC_OK;
}

/* The current of a charge or discharge step in A (its magnitude):
 * absolute, per footprint area, per active mass, or a C-rate against the
 * nominal capacity (nimc_step_check has made sure the device states
 * what it needs). */
static double step_amperes(const nimc_step *st, const nimc_step_env *env) {
  if (st->c_rate) return st->current * env->m->dev->nominal_capacity_C / 3600.0;
  if (st->current_per_mass)
    return st->current * nimc_step_active_mass_kg(env->m, NULL);
  return amperes(st->current, st->current_per_area, env);
}

static void setup_charge(const nimc_step *st, const nimc_step_env *env,
                         nimc_step_plan *p) {
  p->control.i_set_A = step_amperes(st, env);
}

static void setup_discharge(const nimc_step *st, const nimc_step_env *env,
                            nimc_step_plan *p) {
  p->control.i_set_A = -step_amperes(st, env);
}

/* Constant power: I V = P, into the device (> 0) or out of it. */
static void setup_charge_power(const nimc_step *st, const nimc_step_env *env,
                               nimc_step_plan *p) {
  p->control.kind = NIMC_CONTROL_POWER;
  p->control.p_set_W = amperes(st->power, st->power_per_area, env);
}

static void setup_discharge_power(const nimc_step *st, const nimc_step_env *env,
                                  nimc_step_plan *p) {
  p->control.kind = NIMC_CONTROL_POWER;
  p->control.p_set_W = -amperes(st->power, st->power_per_area, env);
}

/* A resistor across the terminals: V = -I R. */
static void setup_load_resistor(const nimc_step *st, const nimc_step_env *env,
                                nimc_step_plan *p) {
  (void)env;
  p->control.kind = NIMC_CONTROL_RESISTANCE;
  p->control.r_load_ohm = st->resistance_ohm;
}

/* The device's LED across the terminals (nimc_step_check has made sure
 * the device has one), at the model's temperature: its slope is the
 * ideality times the thermal voltage k T / q. */
static void setup_load_led(const nimc_step *st, const nimc_step_env *env,
                           nimc_step_plan *p) {
  (void)st;
  const nimc_led_params *led = &env->m->dev->led;
  nimc_control *c = &p->control;
  c->kind = NIMC_CONTROL_DIODE;
  c->led_forward_current_A = led->forward_current_A;
  c->led_forward_voltage_V = led->forward_voltage_V;
  c->led_slope_V = led->ideality * NIMC_R * env->m->T_K / NIMC_F;
  c->led_series_ohm = led->series_resistance_ohm;
}

static void setup_rest(const nimc_step *st, const nimc_step_env *env,
                       nimc_step_plan *p) {
  (void)st, (void)env;
  p->control.i_set_A = 0.0;
}

static void setup_hold(const nimc_step *st, const nimc_step_env *env,
                       nimc_step_plan *p) {
  (void)env;
  p->control.kind = NIMC_CONTROL_VOLTAGE;
  p->control.v_set_V = st->voltage_V;
}

/* A sweep ends where it reaches its end voltage, or earlier "for" time. */
static void setup_sweep(const nimc_step *st, const nimc_step_env *env,
                        nimc_step_plan *p) {
  (void)env;
  double dv = st->sweep_to_V - st->voltage_V;
  p->control.kind = NIMC_CONTROL_SWEEP;
  p->control.v_set_V = st->voltage_V;
  p->control.sweep_rate_V_s =
      dv >= 0 ? st->sweep_rate_V_s : -st->sweep_rate_V_s;
  double tsweep = fabs(dv) / st->sweep_rate_V_s;
  if (!st->has_duration || tsweep < p->duration_s) p->duration_s = tsweep;
  p->bound_is_safety = 0;
}

static void setup_sine(const nimc_step *st, const nimc_step_env *env,
                       nimc_step_plan *p) {
  nimc_control *c = &p->control;
  c->sine_amplitude = amperes(st->sine_amplitude, st->current_per_area, env);
  c->sine_omega_rad_s = 2.0 * NIMC_PI * st->sine_freq_Hz;
  if (st->sine_is_current) {
    c->kind = NIMC_CONTROL_SINE_CURRENT;
    c->i_set_A = st->has_sine_level
                     ? amperes(st->sine_level, st->sine_level_per_area, env)
                     : 0.0;
  } else {
    c->kind = NIMC_CONTROL_SINE_VOLTAGE;
    c->v_set_V = st->has_sine_level ? st->sine_level : env->y[env->m->iV];
  }
  /* at least 20 solver steps a period, so the wave is followed */
  p->max_step_s = 0.05 / st->sine_freq_Hz;
}

/* ---- cut-offs of each kind ---- */

/* The step's "until" clauses: a voltage reached in direction vdir, a
 * current whose magnitude falls to its level, a charge moved in the step
 * (the running charge rising by it, or falling for vdir < 0). */
static int until_clauses(const nimc_step *st, const nimc_step_env *env,
                         nimc_cutoffs *l, int vdir) {
  int rc = NIMC_OK;
  if (st->has_v_cut)
    rc = nimc_cutoffs_add(l, NIMC_END_VOLTAGE, nimc_watch_voltage, st->v_cut_V,
                          vdir);
  if (!rc && st->has_i_cut)
    rc = nimc_cutoffs_add(l, NIMC_END_CURRENT, nimc_watch_abs_current,
                          amperes(st->i_cut, st->i_cut_per_area, env), -1);
  if (!rc && st->has_q_cut) {
    int qdir = vdir < 0 ? -1 : 1;
    rc = nimc_cutoffs_add(l, NIMC_END_CHARGE, nimc_watch_charge,
                          env->y[env->m->iQ] + qdir * st->q_cut_C, qdir);
  }
  return rc;
}

/* a charge's voltage rises to its cut-off (as does any other kind's) */
static int cutoffs_rising(const nimc_step *st, const nimc_step_env *env,
                          nimc_cutoffs *l) {
  return until_clauses(st, env, l, +1);
}

/* a discharge's voltage falls to its cut-off */
static int cutoffs_falling(const nimc_step *st, const nimc_step_env *env,
                           nimc_cutoffs *l) {
  return until_clauses(st, env, l, -1);
}

/* a rest's voltage reaches its cut-off whichever way it moves (relaxing
 * down after a charge, up after a discharge) */
static int cutoffs_either(const nimc_step *st, const nimc_step_env *env,
                          nimc_cutoffs *l) {
  return until_clauses(st, env, l, 0);
}

/* ---- what a kind measures at its end ---- */

/* The impedance of a finished sine step st (begun at t0, its samples
 * from index first of the series) over its last half, whole periods (at
 * least one); left NaN when there is not a whole period. */
static void finish_sine(const nimc_step *st, const nimc_series *series,
                        size_t first, double t0, nimc_step_result *sr) {
  double T = 1.0 / st->sine_freq_Hz, t1 = t0 + sr->duration_s;
  double periods = floor(0.5 * sr->duration_s / T + 1e-9);
  if (periods < 1.0) periods = sr->duration_s >= T * (1 - 1e-9) ? 1.0 : 0.0;
  sr->freq_Hz = st->sine_freq_Hz;
  if (periods < 1.0 || first >= series->n) return;
  nimc_series view = *series;
  view.time_s += first, view.voltage_V += first, view.current_A += first;
  if (view.step) view.step += first;
  view.n -= first;
  nimc_err err;
  double re, im;
  if (nimc_series_impedance(&view, st->sine_freq_Hz, t1 - periods * T, t1, &re,
                            &im, &err) == NIMC_OK)
    sr->z_re_ohm = re, sr->z_im_ohm = im;
}

/* ---- the table: one entry per kind ---- */

static const nimc_step_ops step_ops[] = {
    [NIMC_STEP_CHARGE] = {NIMC_STEP_CHARGE, setup_charge, cutoffs_rising, NULL},
    [NIMC_STEP_DISCHARGE] = {NIMC_STEP_DISCHARGE, setup_discharge,
                             cutoffs_falling, NULL},
    [NIMC_STEP_REST] = {NIMC_STEP_REST, setup_rest, cutoffs_either, NULL},
    [NIMC_STEP_HOLD] = {NIMC_STEP_HOLD, setup_hold, cutoffs_rising, NULL},
    [NIMC_STEP_SWEEP] = {NIMC_STEP_SWEEP, setup_sweep, cutoffs_rising, NULL},
    [NIMC_STEP_SINE] = {NIMC_STEP_SINE, setup_sine, cutoffs_rising,
                        finish_sine},
    [NIMC_STEP_CHARGE_POWER] = {NIMC_STEP_CHARGE_POWER, setup_charge_power,
                                cutoffs_rising, NULL},
    [NIMC_STEP_DISCHARGE_POWER] = {NIMC_STEP_DISCHARGE_POWER,
                                   setup_discharge_power, cutoffs_falling,
                                   NULL},
    [NIMC_STEP_LOAD_RESISTOR] = {NIMC_STEP_LOAD_RESISTOR, setup_load_resistor,
                                 cutoffs_falling, NULL},
    [NIMC_STEP_LOAD_LED] = {NIMC_STEP_LOAD_LED, setup_load_led,
                            cutoffs_falling, NULL},
};

const nimc_step_ops *nimc_step_ops_of(nimc_step_type type) {
  size_t k = (size_t)type;
  if (k >= sizeof step_ops / sizeof step_ops[0] || !step_ops[k].setup)
    return NULL;
  return &step_ops[k];
}
