/*
 * test_steps.c -- the experiment engine's step kinds and cut-offs
 * (src/protocol/steps.h, run.c):
 *  - a step may have any number of cut-offs: the list grows, every root
 *    function is evaluated, the first cut-off passed at the start and the
 *    first one fired name the end;
 *  - every kind of step of the experiment language has its entry in the
 *    table of operations, and a kind without one is refused by the run
 *    with a message, not run with a stale control;
 *  - each kind's set-up gives the control and time bound of its
 *    definition (docs/experiments.md), and its "until" clauses become
 *    cut-offs in the right direction;
 *  - the device's own cut-off (depletion of a binary salt) ends a step;
 *  - the GCD metrics of a run are the solver's integrals, the same at any
 *    output spacing;
 *  - constant power holds I V = P at every sample and delivers P times
 *    its duration; a resistive load holds I = -V/R at every sample and
 *    dissipates the integral of V^2/R; on an ideal capacitor with series
 *    resistance both discharge in their closed-form times, and so do a
 *    constant-current charge, a voltage hold (the charge it passes) and a
 *    linear sweep (its charge and final current); C-rates and currents
 * per mass are the device's nominal capacity / 3600 h times the rate and its
 * active mass times the current per mass, and refused (naming the key) on a
 *    device that does not state them; a Rest until a voltage ends there
 *    whichever way the voltage moves; an end on charge ends when the
 *    charge moved in the step reaches it;
 *  - a discharge through an LED (a diode law with series resistance) of
 *    the ideal capacitor takes the time of the ODE C du/dt = -I(u),
 *    solved independently with GSL's odeiv2, and holds the diode law at
 *    every sample; it is refused on a device without [led].
 */
#include <gsl/gsl_errno.h>
#include <gsl/gsl_odeiv2.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mesh/mesh.h"
#include "core/constants.h"
#include "model/model.h"
#include "model_fixtures.h"
#include "nimc/nimc.h"
#include "protocol/experiment.h"
#include "protocol/sim.h"
#include "protocol/steps.h"
#include "testlib.h"

/* A small capacitor model (binary electrolyte) and its initial state. */
typedef struct small {
  nimc_device d;
  nimc_model *m;
  double *y, *yp;
} small;

static int small_open(small *s) {
  memset(s, 0, sizeof *s);
  fx_device(&s->d, 1.0, 1e-10);
  fx_capacitive(&s->d.anode, 10e-6, 1e7, 0.0);
  fx_capacitive(&s->d.cathode, 10e-6, 1e7, 0.0);
  nimc_mesh *mesh;
  if (nimc_mesh_stack(&mesh, &s->d, NULL) ||
      nimc_model_create(&s->m, &s->d, mesh, NULL))
    return -1;
  s->y = malloc(sizeof(double) * s->m->n);
  s->yp = malloc(sizeof(double) * s->m->n);
  nimc_model_initial(s->m, s->y, s->yp);
  return 0;
}

static void small_close(small *s) {
  free(s->y), free(s->yp);
  nimc_model_destroy(s->m);
  fx_free_device(&s->d);
}

static void test_any_number_of_cutoffs(void) {
  small s;
  CHECK(small_open(&s) == 0);
  const nimc_model *m = s.m;
  nimc_cutoffs l;
  memset(&l, 0, sizeof l);
  /* 40 voltage cut-offs at 0, 0.1, ... 3.9 V: falling up to 2.0 V,
   * rising above, and one on the current */
  enum { NV = 40 };
  for (int k = 0; k < NV; k++)
    CHECK(nimc_cutoffs_add(&l, NIMC_END_VOLTAGE, nimc_watch_voltage, 0.1 * k,
                           k <= 20 ? -1 : +1) == NIMC_OK);
  CHECK(nimc_cutoffs_add(&l, NIMC_END_CURRENT, nimc_watch_abs_current, 1e-3,
                         -1) == NIMC_OK);
  CHECK(l.n == NV + 1 && l.cap >= l.n);
  for (int k = 0; k < NV; k++)
    CHECK(l.dir[k] == (k <= 20 ? -1 : +1));
  CHECK(l.dir[NV] == -1 && l.c[NV].reason == NIMC_END_CURRENT);
  /* every root function is evaluated */
  s.y[m->iV] = 2.05, s.y[m->iI] = -2e-3;
  double g[NV + 1];
  for (int k = 0; k <= NV; k++)
    g[k] = NAN;
  nimc_cutoffs_eval(&l, m, s.y, g);
  int all = 1;
  for (int k = 0; k < NV; k++)
    all &= fabs(g[k] - (2.05 - 0.1 * k)) < 1e-12;
  CHECK(all);
  CHECK_ABS(g[NV], 2e-3 - 1e-3, 1e-15);
  /* at 2.05 V and 2 mA none is passed; at 0.5 mA the current one is */
  CHECK(nimc_cutoffs_passed(&l, m, s.y) == -1);
  s.y[m->iI] = 5e-4;
  CHECK(nimc_cutoffs_passed(&l, m, s.y) == NV);
  /* at 3 V the rising ones at 2.1 ... 3.0 V are: the first names it */
  s.y[m->iV] = 3.0;
  CHECK(nimc_cutoffs_passed(&l, m, s.y) == 21);
  /* at 0.05 V the falling ones at 0.1 ... 2.0 V are */
  s.y[m->iV] = 0.05;
  CHECK(nimc_cutoffs_passed(&l, m, s.y) == 1);
  /* either way (dir 0): passed only exactly at its level */
  nimc_cutoffs e;
  memset(&e, 0, sizeof e);
  CHECK(nimc_cutoffs_add(&e, NIMC_END_VOLTAGE, nimc_watch_voltage, 0.05, 0) ==
        NIMC_OK);
  CHECK(nimc_cutoffs_passed(&e, m, s.y) == 0);
  s.y[m->iV] = 0.06;
  CHECK(nimc_cutoffs_passed(&e, m, s.y) == -1);
  s.y[m->iV] = 0.04;
  CHECK(nimc_cutoffs_passed(&e, m, s.y) == -1);
  nimc_cutoffs_free(&e);
  s.y[m->iV] = 0.05;
  /* the first flagged root names the end */
  CHECK(nimc_cutoffs_fired(&l) == -1);
  l.info[38] = 1, l.info[35] = -1;
  CHECK(nimc_cutoffs_fired(&l) == 35);
  nimc_cutoffs_free(&l);
  CHECK(l.n == 0 && l.cap == 0 && !l.c && !l.dir && !l.info);
  small_close(&s);
}

static void test_table_has_every_kind(void) {
  for (int t = NIMC_STEP_CHARGE; t <= NIMC_STEP_LAST; t++) {
    const nimc_step_ops *o = nimc_step_ops_of((nimc_step_type)t);
    CHECK(o != NULL);
    if (!o) continue;
    CHECK(o->type == (nimc_step_type)t);
    CHECK(o->setup != NULL && o->cutoffs != NULL);
    /* only the sine measures something of its own (its impedance) */
    CHECK((o->finish != NULL) == (t == NIMC_STEP_SINE));
  }
  CHECK(nimc_step_ops_of((nimc_step_type)(NIMC_STEP_LAST + 1)) == NULL);
  CHECK(nimc_step_ops_of((nimc_step_type)-1) == NULL);
}

/* A step of kind 42 is refused by the run, which names it. */
static void test_unknown_kind_refused(void) {
  nimc_device *dev;
  nimc_sim *sim;
  nimc_err err;
  if (nimc_device_load(&dev, "devices/nimc-stack.ini", NULL, 0, &err) ||
      nimc_sim_create(&sim, dev, NULL, &err)) {
    fprintf(stderr, "  %s\n", err.msg);
    CHECK(0);
    return;
  }
  fx_exp x;
  fx_exp_init(&x);
  nimc_step *st = fx_add(&x, NIMC_STEP_CHARGE);
  st->type = (nimc_step_type)42;
  strcpy(st->text, "Levitate at 1 mA");
  nimc_result res;
  memset(&res, 0, sizeof res);
  CHECK(nimc_sim_run(sim, &x.exp, &res) == NIMC_EINPUT);
  CHECK_CONTAINS(nimc_sim_errmsg(sim), "step 1 'Levitate at 1 mA'");
  CHECK_CONTAINS(nimc_sim_errmsg(sim), "unknown kind of step");
  CHECK(res.nsteps == 0 && res.series.n == 0);
  nimc_result_free(&res);
  nimc_sim_destroy(sim);
  nimc_device_destroy(dev);
}

/* The plan and cut-offs of the parsed step text from a state at 1.23 V
 * at t = 7 s, on 2 cm2. */
typedef struct planned {
  int ok;
  nimc_step_plan plan;
  nimc_cutoffs cut;
} planned;

static planned plan_of(small *s, const char *text) {
  planned p;
  memset(&p, 0, sizeof p);
  nimc_experiment *exp;
  nimc_err err;
  const char *lines[1] = {text};
  if (nimc_experiment_parse(&exp, lines, 1, &err)) {
    fprintf(stderr, "  %s\n", err.msg);
    return p;
  }
  const nimc_step *st = &exp->blocks[0].steps[0];
  const nimc_step_ops *o = nimc_step_ops_of(st->type);
  s->y[s->m->iV] = 1.23;
  nimc_step_env env = {s->m, s->y, 7.0, 2e-4, 1e5};
  p.plan.control.kind = NIMC_CONTROL_CURRENT;
  p.plan.control.t0_s = env.t_s;
  p.plan.duration_s = st->has_duration ? st->duration_s : env.max_step_time_s;
  p.plan.bound_is_safety = !st->has_duration;
  if (o) {
    o->setup(st, &env, &p.plan);
    p.ok = o->cutoffs(st, &env, &p.cut) == NIMC_OK;
  }
  nimc_experiment_destroy(exp);
  return p;
}

static void test_setup_of_each_kind(void) {
  small s;
  CHECK(small_open(&s) == 0);
  const double A = 2e-4; /* m2 */
  planned p = plan_of(&s, "Charge at 0.5 mA/cm2 until 3.5 V");
  CHECK(p.ok && p.plan.control.kind == NIMC_CONTROL_CURRENT);
  CHECK_REL(p.plan.control.i_set_A, 5.0 * A, 1e-12); /* 0.5 mA/cm2 = 5 A/m2 */
  CHECK(p.plan.bound_is_safety && p.plan.duration_s == 1e5);
  CHECK(p.cut.n == 1 && p.cut.c[0].reason == NIMC_END_VOLTAGE &&
        p.cut.c[0].level == 3.5 && p.cut.dir[0] == +1);
  nimc_cutoffs_free(&p.cut);

  p = plan_of(&s, "Discharge at 2 mA until 0.5 V or for 1 h");
  CHECK(p.ok && p.plan.control.i_set_A == -2e-3);
  CHECK(!p.plan.bound_is_safety && p.plan.duration_s == 3600.0);
  CHECK(p.cut.n == 1 && p.cut.c[0].level == 0.5 && p.cut.dir[0] == -1);
  nimc_cutoffs_free(&p.cut);

  p = plan_of(&s, "Rest for 10 min");
  CHECK(p.ok && p.plan.control.kind == NIMC_CONTROL_CURRENT &&
        p.plan.control.i_set_A == 0.0 && p.plan.duration_s == 600.0);
  CHECK(p.cut.n == 0);
  nimc_cutoffs_free(&p.cut);

  p = plan_of(&s, "Hold at 3.5 V for 10 min or until 0.01 mA/cm2");
  CHECK(p.ok && p.plan.control.kind == NIMC_CONTROL_VOLTAGE &&
        p.plan.control.v_set_V == 3.5 && p.plan.duration_s == 600.0);
  CHECK(p.cut.n == 1 && p.cut.c[0].reason == NIMC_END_CURRENT &&
        p.cut.dir[0] == -1);
  CHECK_REL(p.cut.c[0].level, 0.1 * A, 1e-12);
  nimc_cutoffs_free(&p.cut);

  /* a falling sweep: negative rate, ends at its end voltage */
  p = plan_of(&s, "Sweep from 2 V to 1 V at 10 mV/s");
  CHECK(p.ok && p.plan.control.kind == NIMC_CONTROL_SWEEP);
  CHECK(p.plan.control.v_set_V == 2.0 && p.plan.control.t0_s == 7.0);
  CHECK_REL(p.plan.control.sweep_rate_V_s, -0.01, 1e-12);
  CHECK_REL(p.plan.duration_s, 100.0, 1e-12);
  CHECK(!p.plan.bound_is_safety);
  nimc_cutoffs_free(&p.cut);
  p = plan_of(&s, "Sweep from 0 V to 3.5 V at 10 mV/s for 30 s");
  CHECK(p.ok && p.plan.duration_s == 30.0 && p.plan.control.sweep_rate_V_s > 0);
  nimc_cutoffs_free(&p.cut);

  /* a sine around the voltage at the start, at least 20 steps a period */
  p = plan_of(&s, "Sine 5 mV at 2 Hz for 20 s");
  CHECK(p.ok && p.plan.control.kind == NIMC_CONTROL_SINE_VOLTAGE);
  CHECK(p.plan.control.v_set_V == 1.23 &&
        p.plan.control.sine_amplitude == 5e-3);
  CHECK_REL(p.plan.control.sine_omega_rad_s, 4.0 * NIMC_PI, 1e-12);
  CHECK_REL(p.plan.max_step_s, 0.025, 1e-12);
  nimc_cutoffs_free(&p.cut);
  p = plan_of(&s, "Sine 0.01 mA/cm2 at 1 Hz around 0.1 mA/cm2 for 5 s");
  CHECK(p.ok && p.plan.control.kind == NIMC_CONTROL_SINE_CURRENT);
  CHECK_REL(p.plan.control.i_set_A, 1.0 * A, 1e-12);
  CHECK_REL(p.plan.control.sine_amplitude, 0.1 * A, 1e-12);
  nimc_cutoffs_free(&p.cut);

  /* constant power, signed by the verb, per area times the footprint */
  p = plan_of(&s, "Discharge at 1 mW/cm2 until 0.5 V");
  CHECK(p.ok && p.plan.control.kind == NIMC_CONTROL_POWER);
  CHECK_REL(p.plan.control.p_set_W, -10.0 * A, 1e-12);
  CHECK(p.cut.n == 1 && p.cut.dir[0] == -1 && p.cut.c[0].level == 0.5);
  nimc_cutoffs_free(&p.cut);
  p = plan_of(&s, "Charge at 10 mW until 3 V");
  CHECK(p.ok && p.plan.control.kind == NIMC_CONTROL_POWER &&
        p.plan.control.p_set_W == 0.01 && p.cut.dir[0] == +1);
  nimc_cutoffs_free(&p.cut);
  /* a resistor: its voltage falls to the cut-off */
  p = plan_of(&s, "Discharge through 5 kohm until 0.5 V");
  CHECK(p.ok && p.plan.control.kind == NIMC_CONTROL_RESISTANCE &&
        p.plan.control.r_load_ohm == 5e3);
  CHECK(p.cut.n == 1 && p.cut.dir[0] == -1);
  nimc_cutoffs_free(&p.cut);
  /* a rest until a voltage: either way */
  p = plan_of(&s, "Rest until 2.1 V");
  CHECK(p.ok && p.plan.control.kind == NIMC_CONTROL_CURRENT &&
        p.plan.control.i_set_A == 0.0 && p.plan.bound_is_safety);
  CHECK(p.cut.n == 1 && p.cut.dir[0] == 0 && p.cut.c[0].level == 2.1);
  nimc_cutoffs_free(&p.cut);
  /* an end on charge: the running charge moves by it from the start */
  s.y[s.m->iQ] = 0.25;
  p = plan_of(&s, "Charge at 1 mA until 3 V or until 1 mC");
  CHECK(p.ok && p.cut.n == 2 && p.cut.c[1].reason == NIMC_END_CHARGE &&
        p.cut.dir[1] == +1);
  CHECK_REL(p.cut.c[1].level, 0.251, 1e-12);
  nimc_cutoffs_free(&p.cut);
  p = plan_of(&s, "Discharge through 1 kohm until 1 mC");
  CHECK(p.ok && p.cut.n == 1 && p.cut.dir[0] == -1);
  CHECK_REL(p.cut.c[0].level, 0.249, 1e-12);
  nimc_cutoffs_free(&p.cut);
  s.y[s.m->iQ] = 0.0;
  small_close(&s);
}

/* A capacitor with far too little salt for its double layers: charging
 * empties the electrolyte and the device's cut-off ends the step
 * (depletion) before its voltage, as it ends a second charge from there
 * at once (the floor is then half the starting concentration, and the
 * charge keeps emptying it). */
static void test_depletion_ends_a_step(void) {
  nimc_device d;
  fx_device(&d, 1.0, 1e-10);
  fx_capacitive(&d.anode, 10e-6, 1e7, 0.0);
  fx_capacitive(&d.cathode, 10e-6, 1e7, 0.0);
  /* each double layer takes its counter-ions from the electrolyte: the
   * negative one cations, the positive one anions, so charging removes
   * salt, and the pores hold less than the double layers take by 1 V */
  d.anode.dl_cation_fraction = 1.0;
  d.cathode.dl_cation_fraction = 0.0;
  d.electrolyte.c0_mol_m3 = 10.0;
  fx_exp x;
  fx_exp_init(&x);
  for (int k = 0; k < 2; k++) {
    nimc_step *c = fx_add(&x, NIMC_STEP_CHARGE);
    c->current = 1e-4, c->has_v_cut = 1, c->v_cut_V = 1.0;
  }
  nimc_sim *sim;
  nimc_err err;
  nimc_result res;
  memset(&res, 0, sizeof res);
  if (nimc_sim_create(&sim, &d, NULL, &err)) {
    fprintf(stderr, "  %s\n", err.msg);
    CHECK(0);
    fx_free_device(&d);
    return;
  }
  int rc = nimc_sim_run(sim, &x.exp, &res);
  if (rc) fprintf(stderr, "  %s\n", nimc_sim_errmsg(sim));
  CHECK(rc == NIMC_OK && res.nsteps == 2);
  if (res.nsteps == 2) {
    fprintf(
        stderr,
        "  charge ends at %.4f V after %.4g s (%s), again after %.2g s (%s)\n",
        res.steps[0].v_end_V, res.steps[0].duration_s,
        nimc_end_reason_name(res.steps[0].end_reason), res.steps[1].duration_s,
        nimc_end_reason_name(res.steps[1].end_reason));
    CHECK(res.steps[0].end_reason == NIMC_END_DEPLETION);
    CHECK(res.steps[0].v_end_V < 0.9 && res.steps[0].duration_s > 1.0);
    CHECK(res.steps[1].end_reason == NIMC_END_DEPLETION);
    CHECK(res.steps[1].duration_s < 1e-3);
  }
  nimc_result_free(&res);
  nimc_sim_destroy(sim);
  fx_free_device(&d);
}

/* The GCD metrics of a simulation come from the solver's integrals: a
 * charge, a hold whose current decays within seconds, and a discharge on
 * the stack device give the same energy, power, coulombic efficiency and
 * capacitance recorded at every solver step and every 60 s (the samples
 * alone miss the hold's charge: a coulombic efficiency 34 % off). */
static void test_metrics_do_not_depend_on_output_spacing(void) {
  const char *lines[3] = {"Charge at 1 mA/cm2 until 3.5 V",
                          "Hold at 3.5 V for 5 min",
                          "Discharge at 1 mA/cm2 until 0.5 V"};
  nimc_metrics m[2], ms[2];
  size_t nsamples[2] = {0, 0};
  for (int k = 0; k < 2; k++) {
    nimc_sim_opts o = nimc_sim_opts_default();
    o.output_dt_s = k ? 60.0 : 0.0;
    nimc_result res;
    nimc_err err;
    memset(&res, 0, sizeof res);
    int rc = nimc_simulate("devices/nimc-stack.ini", NULL, 0, lines, 3, &o,
                           &res, &m[k], &err);
    if (rc) fprintf(stderr, "  %s\n", err.msg);
    CHECK(rc == NIMC_OK && m[k].have_cycle);
    CHECK(nimc_metrics_gcd(&res.series, NULL, &ms[k], &err) == NIMC_OK);
    nsamples[k] = res.series.n;
    /* the metrics are the records' integrals */
    if (res.nsteps == 3) {
      CHECK_REL(m[k].energy_J, -res.steps[2].energy_J, 1e-14);
      CHECK_REL(m[k].coulombic_efficiency,
                -res.steps[2].charge_C /
                    (res.steps[0].charge_C + res.steps[1].charge_C),
                1e-14);
    }
    nimc_result_free(&res);
  }
  fprintf(stderr,
          "  %zu and %zu samples: energy %.9g and %.9g J, CE %.9g and %.9g "
          "(from the samples alone: %.6g and %.6g)\n",
          nsamples[0], nsamples[1], m[0].energy_J, m[1].energy_J,
          m[0].coulombic_efficiency, m[1].coulombic_efficiency,
          ms[0].coulombic_efficiency, ms[1].coulombic_efficiency);
  CHECK(nsamples[1] < nsamples[0] / 4);
  CHECK_REL(m[1].energy_J, m[0].energy_J, 1e-3);
  CHECK_REL(m[1].power_W, m[0].power_W, 1e-3);
  CHECK_REL(m[1].coulombic_efficiency, m[0].coulombic_efficiency, 1e-3);
  CHECK_REL(m[1].capacitance_F, m[0].capacitance_F, 1e-3);
  CHECK_REL(nimc_metric_value(&m[1], "capacitance_volumetric_F_cm3"),
            nimc_metric_value(&m[0], "capacitance_volumetric_F_cm3"), 1e-3);
}

/* Run lines on the stack device with overrides sets; rc. */
static int stack_run(const char *const *sets, size_t nsets,
                     const char *const *lines, size_t n, double output_dt_s,
                     nimc_result *res, nimc_err *err) {
  nimc_sim_opts o = nimc_sim_opts_default();
  o.output_dt_s = output_dt_s;
  memset(res, 0, sizeof *res);
  int rc = nimc_simulate("devices/nimc-stack.ini", sets, nsets, lines, n, &o,
                         res, NULL, err);
  if (rc) fprintf(stderr, "  %s\n", err->msg);
  return rc;
}

/* Constant power on the stack (0.56 cm2): a discharge at 0.1 mW/cm2 to
 * 0.5 V and a charge at 50 uW to 3 V.  The energy of each record is P
 * times its duration (1e-6), and I V = P at every sample (the control
 * row is solved with the rest of the state, to the solver's tolerance;
 * measured: 1.0e-4 at worst at the default rtol 1e-5). */
static void test_constant_power(void) {
  const char *lines[3] = {"Charge at 0.1 mA/cm2 until 3.5 V",
                          "Discharge at 0.1 mW/cm2 until 0.5 V",
                          "Charge at 50 uW until 3 V"};
  nimc_result res;
  nimc_err err;
  CHECK(stack_run(NULL, 0, lines, 3, 0.0, &res, &err) == NIMC_OK);
  CHECK(res.nsteps == 3);
  if (res.nsteps == 3) {
    const double P[3] = {0.0, -0.1e-3 * 1e4 * 0.56e-4, 50e-6}; /* W */
    for (int k = 1; k < 3; k++) {
      const nimc_step_result *r = &res.steps[k];
      CHECK(r->type ==
            (k == 1 ? NIMC_STEP_DISCHARGE_POWER : NIMC_STEP_CHARGE_POWER));
      CHECK(r->end_reason == NIMC_END_VOLTAGE);
      double worst = 0.0;
      size_t n = 0;
      for (size_t i = 0; i < res.series.n; i++) {
        if (res.series.step[i] != k) continue;
        double e =
            fabs(res.series.voltage_V[i] * res.series.current_A[i] - P[k]) /
            fabs(P[k]);
        if (e > worst) worst = e;
        n++;
      }
      fprintf(stderr,
              "  %s at %.3g W: %.1f s, energy %.9g J against P t %.9g J, "
              "worst |I V - P|/|P| %.2e over %zu samples\n",
              nimc_step_type_name(r->type), P[k], r->duration_s, r->energy_J,
              P[k] * r->duration_s, worst, n);
      CHECK(n > 10 && r->duration_s > 100.0);
      CHECK_REL(r->energy_J, P[k] * r->duration_s, 1e-6);
      /* the solver's tolerance: rtol (the default, 1e-5) per unknown,
       * and a Newton iteration converged in the RMS norm over the
       * state's 634 unknowns leaves one of them up to sqrt(634) = 25
       * times that (measured: 1.0e-4; 1.6e-5 at rtol 1e-6) */
      CHECK(worst < 50.0 * 1e-5);
    }
  }
  nimc_result_free(&res);
}

/* A 5 kohm resistor across the charged stack: I = -V/R at every sample
 * and the energy of the record is minus the integral of V^2/R over the
 * samples (trapezoids at 0.05 s output, within 0.5 %). */
static void test_resistive_load(void) {
  const double R = 5e3;
  const char *lines[2] = {"Charge at 0.1 mA/cm2 until 3.5 V",
                          "Discharge through 5 kohm until 0.5 V"};
  nimc_result res;
  nimc_err err;
  CHECK(stack_run(NULL, 0, lines, 2, 0.05, &res, &err) == NIMC_OK);
  CHECK(res.nsteps == 2);
  if (res.nsteps == 2) {
    const nimc_step_result *r = &res.steps[1];
    CHECK(r->type == NIMC_STEP_LOAD_RESISTOR &&
          r->end_reason == NIMC_END_VOLTAGE);
    double worst = 0.0, heat = 0.0;
    size_t n = 0, prev = 0;
    for (size_t i = 0; i < res.series.n; i++) {
      if (res.series.step[i] != 1) continue;
      double v = res.series.voltage_V[i], I = res.series.current_A[i];
      double e = fabs(I + v / R) / (fabs(v) / R);
      if (e > worst) worst = e;
      if (n++) {
        double v0 = res.series.voltage_V[prev];
        heat += 0.5 * (v0 * v0 + v * v) / R *
                (res.series.time_s[i] - res.series.time_s[prev]);
      }
      prev = i;
    }
    fprintf(stderr,
            "  %.1f s through 5 kohm: energy %.9g J, integral of V^2/R %.9g "
            "J (%zu samples), worst |I + V/R|/|V/R| %.2e\n",
            r->duration_s, r->energy_J, heat, n, worst);
    CHECK(n > 1000);
    CHECK(worst < 1e-9);
    CHECK_REL(-r->energy_J, heat, 5e-3);
  }
  nimc_result_free(&res);
}

/* C-rates against [device] nominal_capacity (0.02 mAh = 72 mC) and a
 * current per mass against the active mass (active_density times each
 * electrode's volume): the records' charge over their duration is the
 * current.  Without the key, the run is refused before it starts. */
static void test_c_rate_and_per_mass(void) {
  const char *cap[1] = {"device.nominal_capacity=0.02 mAh"};
  const char *lines[3] = {"Charge at 2C for 10 s", "Discharge at C/20 for 10 s",
                          "Charge at 0.5 C for 5 s"};
  const double rate[3] = {2.0, -0.05, 0.5};
  nimc_result res;
  nimc_err err;
  CHECK(stack_run(cap, 1, lines, 3, 0.0, &res, &err) == NIMC_OK);
  CHECK(res.nsteps == 3);
  for (size_t k = 0; k < res.nsteps && k < 3; k++)
    CHECK_REL(res.steps[k].charge_C / res.steps[k].duration_s,
              0.072 / 3600.0 * rate[k], 1e-9);
  nimc_result_free(&res);
  /* NTO 0.45 mg in 0.56 cm2 x 5 um is 1.607 g/cm3 of electrode */
  const char *mass[1] = {"anode.active_density=1.607 g/cm3"};
  const char *ag[1] = {"Charge at 1 A/g for 10 s"};
  double kg = (1607.0 * 5e-6 + 400.0 * 10e-6) * 0.56e-4;
  CHECK(stack_run(mass, 1, ag, 1, 0.0, &res, &err) == NIMC_OK);
  CHECK(res.nsteps == 1);
  if (res.nsteps == 1)
    CHECK_REL(res.steps[0].charge_C / res.steps[0].duration_s, 1e3 * kg, 1e-9);
  nimc_result_free(&res);
  /* refused without the key, naming it, before anything runs */
  memset(&res, 0, sizeof res);
  nimc_sim_opts o = nimc_sim_opts_default();
  CHECK(nimc_simulate("devices/nimc-stack.ini", NULL, 0, lines, 3, &o, &res,
                      NULL, &err) == NIMC_EINPUT);
  CHECK_CONTAINS(err.msg, "step 1 'Charge at 2C for 10 s'");
  CHECK_CONTAINS(err.msg, "[device] nominal_capacity");
  CHECK(res.nsteps == 0);
  nimc_result_free(&res);
  CHECK(nimc_simulate("devices/nimc-stack.ini", NULL, 0, ag, 1, &o, &res, NULL,
                      &err) == NIMC_EINPUT);
  CHECK_CONTAINS(err.msg, "[anode] active_density");
  CHECK(res.nsteps == 0);
  nimc_result_free(&res);
  /* the step is named by its first execution: after 2 x 3 rests, 7 */
  const char *later[2] = {"Repeat 3 times: Rest for 1 s; Rest for 1 s",
                          "Discharge at C/5 for 1 s"};
  CHECK(nimc_simulate("devices/nimc-stack.ini", NULL, 0, later, 2, &o, &res,
                      NULL, &err) == NIMC_EINPUT);
  CHECK_CONTAINS(err.msg, "step 7 'Discharge at C/5 for 1 s': a C-rate");
  CHECK(res.nsteps == 0);
  nimc_result_free(&res);
}

/* The device file's nominal capacity: C or mAh, positive. */
static void test_nominal_capacity_key(void) {
  nimc_device *dev;
  nimc_err err;
  const char *ok[1] = {"device.nominal_capacity=0.02 mAh"};
  CHECK(nimc_device_load(&dev, "devices/nimc-stack.ini", ok, 1, &err) ==
        NIMC_OK);
  if (dev) CHECK_REL(dev->nominal_capacity_C, 0.072, 1e-12);
  nimc_device_destroy(dev);
  CHECK(nimc_device_load(&dev, "devices/nimc-stack.ini", NULL, 0, &err) ==
        NIMC_OK);
  if (dev) CHECK(dev->nominal_capacity_C == 0.0);
  nimc_device_destroy(dev);
  const char *bad[] = {"device.nominal_capacity=-1 C",
                       "device.nominal_capacity=3 V",
                       "device.nominal_capacity=0 mAh"};
  for (size_t k = 0; k < 3; k++) {
    CHECK(nimc_device_load(&dev, "devices/nimc-stack.ini", &bad[k], 1, &err) ==
          NIMC_EINPUT);
    CHECK_CONTAINS(err.msg, "nominal_capacity");
  }
}

/* Rest until a voltage: after a charge the voltage relaxes down to it,
 * after a discharge up to it; each rest ends there (end reason voltage).
 * An end on charge: 1 mC at 1 mA takes 1 s, 0.25 mC at 0.5 mA 0.5 s. */
static void test_rest_until_and_charge_ends(void) {
  const char *lines[6] = {"Charge at 0.1 mA/cm2 until 3.5 V",
                          "Rest until 3.45 V",
                          "Discharge at 0.1 mA/cm2 until 0.5 V",
                          "Rest until 0.55 V",
                          "Charge at 1 mA until 1 mC",
                          "Discharge at 0.5 mA until 0.25 mC or until 0 V"};
  nimc_result res;
  nimc_err err;
  CHECK(stack_run(NULL, 0, lines, 6, 0.0, &res, &err) == NIMC_OK);
  CHECK(res.nsteps == 6);
  if (res.nsteps == 6) {
    const nimc_step_result *r = res.steps;
    fprintf(stderr,
            "  rest %.4f -> %.6f V in %.1f s, rest %.4f -> %.6f V in %.1f s\n",
            r[1].v_start_V, r[1].v_end_V, r[1].duration_s, r[3].v_start_V,
            r[3].v_end_V, r[3].duration_s);
    CHECK(r[1].end_reason == NIMC_END_VOLTAGE && r[1].v_start_V > 3.45);
    CHECK_ABS(r[1].v_end_V, 3.45, 1e-9);
    CHECK(r[3].end_reason == NIMC_END_VOLTAGE && r[3].v_start_V < 0.55);
    CHECK_ABS(r[3].v_end_V, 0.55, 1e-9);
    CHECK(r[1].duration_s > 1.0 && r[3].duration_s > 1.0);
    CHECK(r[4].end_reason == NIMC_END_CHARGE &&
          r[5].end_reason == NIMC_END_CHARGE);
    CHECK_REL(r[4].charge_C, 1e-3, 1e-9);
    CHECK_REL(r[4].duration_s, 1.0, 1e-9);
    CHECK_REL(r[5].charge_C, -0.25e-3, 1e-9);
    CHECK_REL(r[5].duration_s, 0.5, 1e-9);
  }
  nimc_result_free(&res);
}

/* The fixture's ideal capacitor (test_model's EDLC): two capacitive
 * electrodes of 1e7 F/m3 and 10 um in series, C = 5 mF, and the series
 * resistance R of its contact, separator and electrodes, both in closed
 * form. */
static void ideal_capacitor(nimc_device *d, double *C, double *R) {
  const double kappa = 1e4;
  fx_device(d, kappa, 1e-6);
  fx_capacitive(&d->anode, 10e-6, 1e7, 0.0);
  fx_capacitive(&d->cathode, 10e-6, 1e7, 0.0);
  d->anode.conductivity_S_m = d->cathode.conductivity_S_m = 1e5;
  d->contact_resistance_ohm = 10.0;
  double A = d->area_m2, ke = kappa * pow(0.5, 1.5);
  *C = 1e7 * 10e-6 * A / 2;
  *R = d->contact_resistance_ohm +
       d->separator.thickness_m / (kappa * pow(0.6, 1.5) * A) +
       2 * 10e-6 / ((ke + 1e5) * A);
}

/* Run exp on d at rtol 1e-9 into *res (zeroed first); the status, the
 * solver's message on stderr when it fails. */
static int run_tight(const nimc_device *d, const nimc_experiment *exp,
                     nimc_result *res) {
  nimc_sim_opts o = nimc_sim_opts_default();
  o.rtol = 1e-9;
  nimc_sim *sim;
  nimc_err err;
  memset(res, 0, sizeof *res);
  int rc = nimc_sim_create(&sim, d, &o, &err);
  if (rc) {
    fprintf(stderr, "  %s\n", err.msg);
    return rc;
  }
  if ((rc = nimc_sim_run(sim, exp, res)))
    fprintf(stderr, "  %s\n", nimc_sim_errmsg(sim));
  nimc_sim_destroy(sim);
  return rc;
}

/* The fixture's ideal capacitor (test_model's EDLC: C = 5 mF with a
 * series resistance R, both known in closed form) charged to 1 V at
 * 1 mA, then discharged at constant power 1 mW to 0.3 V, charged again,
 * and discharged through 200 ohm to 0.3 V.  With the capacitor's own
 * voltage u = V + i R (i the discharge current):
 *  - power: i (u - i R) = P, so du/dt = -i/C with
 *    i = (u - sqrt(u^2 - 4 P R)) / (2 R), and the time from u0 to u1 is
 *    C / (2P) [u^2/2 + (u s - a^2 ln(u + s))/2] from u1 to u0, s =
 *    sqrt(u^2 - a^2), a^2 = 4 P R; u1 = V1 + R P / V1;
 *  - load: u decays as exp(-t / ((R_L + R) C)) and V = u R_L / (R_L + R),
 *    so the time to V1 is (R_L + R) C ln(u0 R_L / ((R_L + R) V1)). */
static double cp_antiderivative(double u, double a2) {
  double sq = sqrt(u * u - a2);
  return 0.5 * u * u + 0.5 * (u * sq - a2 * log(u + sq));
}

static void test_power_and_load_on_an_ideal_capacitor(void) {
  const double I = 1e-3, P = 1e-3, RL = 200.0, V1 = 0.3;
  nimc_device d;
  double C, R;
  ideal_capacitor(&d, &C, &R);
  fx_exp x;
  fx_exp_init(&x);
  for (int k = 0; k < 2; k++) {
    nimc_step *c = fx_add(&x, NIMC_STEP_CHARGE);
    c->current = I, c->has_v_cut = 1, c->v_cut_V = 1.0;
    nimc_step *dis =
        fx_add(&x, k ? NIMC_STEP_LOAD_RESISTOR : NIMC_STEP_DISCHARGE_POWER);
    dis->power = P, dis->resistance_ohm = RL;
    dis->has_v_cut = 1, dis->v_cut_V = V1;
  }
  nimc_result res;
  int rc = run_tight(&d, &x.exp, &res);
  CHECK(rc == NIMC_OK && res.nsteps == 4);
  if (res.nsteps == 4) {
    const nimc_step_result *r = res.steps;
    /* power */
    double u0 = r[0].v_end_V - I * R, a2 = 4 * P * R;
    double u1 = V1 + R * P / V1;
    double t_cp =
        C / (2 * P) * (cp_antiderivative(u0, a2) - cp_antiderivative(u1, a2));
    double i0 = (u0 - sqrt(u0 * u0 - a2)) / (2 * R);
    /* load */
    double w0 = r[2].v_end_V - I * R;
    double t_cr = (RL + R) * C * log(w0 * RL / ((RL + R) * V1));
    fprintf(stderr,
            "  ideal C %.4g F, R %.6g ohm: 1 mW for %.9g s (closed form "
            "%.9g s), 200 ohm for %.9g s (closed form %.9g s)\n",
            C, R, r[1].duration_s, t_cp, r[3].duration_s, t_cr);
    CHECK(r[1].end_reason == NIMC_END_VOLTAGE &&
          r[3].end_reason == NIMC_END_VOLTAGE);
    CHECK_REL(r[1].duration_s, t_cp, 1e-5);
    CHECK_REL(r[1].v_start_V, u0 - i0 * R, 1e-6);
    CHECK_REL(r[1].energy_J, -P * r[1].duration_s, 1e-7);
    CHECK_REL(r[3].duration_s, t_cr, 1e-5);
    CHECK_REL(r[3].v_start_V, w0 * RL / (RL + R), 1e-6);
  }
  /* a power or a resistor is no galvanostatic discharge: no GCD metrics */
  nimc_metrics mt;
  nimc_err err;
  CHECK(nimc_metrics_gcd_result(&res, NULL, &mt, &err) == NIMC_EANALYSIS);
  nimc_result_free(&res);
  fx_free_device(&d);
}

/* The GCD metrics of a run are read only from constant-current steps: a
 * charge that ends in a voltage hold (CC-CV) pairs with the constant-
 * current discharge after it (its coulombic efficiency counts the hold's
 * charge), while a sweep, or a discharge that a resistor step continues,
 * is no half-cycle. */
static void test_metrics_only_from_constant_current(void) {
  nimc_device d;
  double C, R;
  ideal_capacitor(&d, &C, &R);
  fx_exp x;
  fx_exp_init(&x);
  nimc_step *c = fx_add(&x, NIMC_STEP_CHARGE);
  c->current = 1e-3, c->has_v_cut = 1, c->v_cut_V = 1.0;
  nimc_step *h = fx_add(&x, NIMC_STEP_HOLD);
  h->voltage_V = 1.0, h->has_duration = 1, h->duration_s = 0.5;
  nimc_step *dis = fx_add(&x, NIMC_STEP_DISCHARGE);
  dis->current = 1e-3, dis->has_v_cut = 1, dis->v_cut_V = 0.1;
  nimc_result res;
  int rc = run_tight(&d, &x.exp, &res);
  CHECK(rc == NIMC_OK && res.nsteps == 3);
  nimc_metrics mt;
  nimc_err err;
  CHECK(nimc_metrics_gcd_result(&res, NULL, &mt, &err) == NIMC_OK);
  if (res.nsteps == 3) {
    CHECK(mt.ncycles == 1 && mt.cycle == 1);
    CHECK_REL(mt.coulombic_efficiency,
              -res.steps[2].charge_C /
                  (res.steps[0].charge_C + res.steps[1].charge_C),
              1e-9);
  }
  nimc_result_free(&res);
  /* the same discharge continued by a resistor: one segment, not CC */
  nimc_step *l = fx_add(&x, NIMC_STEP_LOAD_RESISTOR);
  l->resistance_ohm = 200.0, l->has_duration = 1, l->duration_s = 0.1;
  rc = run_tight(&d, &x.exp, &res);
  CHECK(rc == NIMC_OK && res.nsteps == 4);
  CHECK(nimc_metrics_gcd_result(&res, NULL, &mt, &err) == NIMC_EANALYSIS);
  nimc_result_free(&res);
  fx_free_device(&d);
}

/* Constant current, a voltage hold and a linear sweep on the same ideal
 * capacitor (C, series R): from the neutral device a charge at I reaches
 * V1 at t = C (V1 - I R) / I; a hold at V1 then passes the capacitor's
 * remaining charge, C (V1 - u0) (1 - exp(-T / RC)), u0 = V1 - I R; a
 * sweep from V1 to 0 at s V/s, RC u' + u = V1 - s t, moves the capacitor
 * to u(T) = s RC + (u_h - V1 - s RC) exp(-T / RC) at T = V1 / s and ends
 * with the current C u'(T) = -C s + (V1 + s RC - u_h) / R exp(-T / RC). */
static void test_current_hold_sweep_on_an_ideal_capacitor(void) {
  const double I = 1e-3, V1 = 1.0, Th = 0.5, s = 0.1;
  nimc_device d;
  double C, R;
  ideal_capacitor(&d, &C, &R);
  double RC = R * C;
  fx_exp x;
  fx_exp_init(&x);
  nimc_step *c = fx_add(&x, NIMC_STEP_CHARGE);
  c->current = I, c->has_v_cut = 1, c->v_cut_V = V1;
  nimc_step *h = fx_add(&x, NIMC_STEP_HOLD);
  h->voltage_V = V1, h->has_duration = 1, h->duration_s = Th;
  nimc_step *w = fx_add(&x, NIMC_STEP_SWEEP);
  w->voltage_V = V1, w->sweep_to_V = 0.0, w->sweep_rate_V_s = s;
  nimc_result res;
  int rc = run_tight(&d, &x.exp, &res);
  CHECK(rc == NIMC_OK && res.nsteps == 3);
  if (res.nsteps == 3) {
    const nimc_step_result *r = res.steps;
    double t_cc = C * (V1 - I * R) / I;
    double u0 = V1 - I * R;
    double q_hold = C * (V1 - u0) * (1.0 - exp(-Th / RC));
    double uh = u0 + q_hold / C, T = V1 / s, e = exp(-T / RC);
    double uT = s * RC + (uh - V1 - s * RC) * e;
    double iT = -C * s + (V1 + s * RC - uh) / R * e;
    const nimc_series *v = &res.series;
    fprintf(stderr,
            "  ideal C %.4g F, R %.6g ohm: charge %.9g s (closed form %.9g), "
            "hold %.6g C (%.6g), sweep %.6g C (%.6g), last current %.6g A "
            "(%.6g)\n",
            C, R, r[0].duration_s, t_cc, r[1].charge_C, q_hold, r[2].charge_C,
            C * (uT - uh), v->current_A[v->n - 1], iT);
    CHECK(r[0].end_reason == NIMC_END_VOLTAGE);
    CHECK_REL(r[0].duration_s, t_cc, 1e-5);
    CHECK_REL(r[0].charge_C, I * t_cc, 1e-5);
    CHECK_REL(r[1].charge_C, q_hold, 1e-4);
    CHECK_REL(r[2].duration_s, T, 1e-9);
    CHECK_REL(r[2].charge_C, C * (uT - uh), 1e-5);
    CHECK_REL(v->current_A[v->n - 1], iT, 1e-4);
    CHECK(fabs(v->voltage_V[v->n - 1]) < 1e-9);
  }
  nimc_result_free(&res);
  fx_free_device(&d);
}

/* Run exp on d (default tolerances) into *res (zeroed first); the
 * status, the message in *msg (cap bytes). */
static int run_on(const nimc_device *d, const nimc_experiment *exp,
                  nimc_result *res, char *msg, size_t cap) {
  nimc_sim *sim;
  nimc_err err;
  memset(res, 0, sizeof *res);
  msg[0] = '\0';
  int rc = nimc_sim_create(&sim, d, NULL, &err);
  if (rc) {
    snprintf(msg, cap, "%s", err.msg);
    return rc;
  }
  rc = nimc_sim_run(sim, exp, res);
  snprintf(msg, cap, "%s", nimc_sim_errmsg(sim));
  nimc_sim_destroy(sim);
  return rc;
}

/* The device's window ([device] max_voltage 1 V on the ideal capacitor):
 * a charge "until 2 V" ends where the voltage passes 1 V by the window's
 * tolerance (end reason window), the run stops there (NIMC_EWINDOW, the
 * rest after it not run) and the result holds one warning naming the
 * step, the time and the key. */
static void test_window_ends_a_charge(void) {
  nimc_device d;
  double C, R;
  ideal_capacitor(&d, &C, &R);
  d.max_voltage_given = 1, d.max_voltage_V = 1.0;
  fx_exp x;
  fx_exp_init(&x);
  nimc_step *c = fx_add(&x, NIMC_STEP_CHARGE);
  c->current = 1e-3, c->has_v_cut = 1, c->v_cut_V = 2.0;
  strcpy(c->text, "Charge at 1 mA until 2 V");
  nimc_step *r = fx_add(&x, NIMC_STEP_REST);
  r->has_duration = 1, r->duration_s = 1.0;
  nimc_result res;
  char msg[NIMC_ERRMSG_MAX];
  int rc = run_on(&d, &x.exp, &res, msg, sizeof msg);
  fprintf(stderr, "  %s\n", msg);
  CHECK(rc == NIMC_EWINDOW);
  CHECK(res.nsteps == 1 && res.nwarnings == 1);
  if (res.nsteps == 1) {
    const nimc_step_result *s0 = &res.steps[0];
    CHECK(s0->end_reason == NIMC_END_WINDOW);
    CHECK(!strcmp(nimc_end_reason_name(s0->end_reason), "window"));
    CHECK_ABS(s0->v_end_V, 1.0 + NIMC_WINDOW_TOL_V, 1e-6);
    /* it charged all the way: C (V1 + tol - I R) / I */
    CHECK_REL(s0->duration_s, C * (1.0 + NIMC_WINDOW_TOL_V - 1e-3 * R) / 1e-3,
              1e-4);
  }
  if (res.nwarnings == 1) {
    CHECK(res.warnings[0].step == 0);
    CHECK_CONTAINS(res.warnings[0].text, "step 1 'Charge at 1 mA until 2 V'");
    CHECK_CONTAINS(res.warnings[0].text, "max_voltage = 1 V");
    CHECK_CONTAINS(res.warnings[0].text, "the run stopped there");
    CHECK(res.warnings[0].t_s > 0.0);
  }
  CHECK_CONTAINS(msg, "safe window");
  CHECK(!strcmp(nimc_strerror(NIMC_EWINDOW), "the device left its safe window"));
  nimc_result_free(&res);
  fx_free_device(&d);
}

/* Steps cut exactly at the window's edges (0 V and 1 V) end with their
 * own reasons and no warning: a charge until 1 V, a hold at 1 V, a sweep
 * from 1 V down to 0 V, a rest that starts at 0 V, a discharge at a
 * current exactly at max_current (1 mA) until 0 V after a charge. */
static void test_window_edges_are_inside(void) {
  nimc_device d;
  double C, R;
  ideal_capacitor(&d, &C, &R);
  d.min_voltage_given = d.max_voltage_given = 1;
  d.min_voltage_V = 0.0, d.max_voltage_V = 1.0;
  d.max_current_A = 1e-3;
  fx_exp x;
  fx_exp_init(&x);
  nimc_step *c = fx_add(&x, NIMC_STEP_CHARGE);
  c->current = 1e-3, c->has_v_cut = 1, c->v_cut_V = 1.0;
  nimc_step *h = fx_add(&x, NIMC_STEP_HOLD);
  h->voltage_V = 1.0, h->has_duration = 1, h->duration_s = 0.5;
  nimc_step *w = fx_add(&x, NIMC_STEP_SWEEP);
  w->voltage_V = 1.0, w->sweep_to_V = 0.0, w->sweep_rate_V_s = 0.002;
  nimc_step *r = fx_add(&x, NIMC_STEP_REST);
  r->has_duration = 1, r->duration_s = 0.1;
  nimc_step *c2 = fx_add(&x, NIMC_STEP_CHARGE);
  c2->current = 1e-3, c2->has_v_cut = 1, c2->v_cut_V = 0.5;
  nimc_step *dis = fx_add(&x, NIMC_STEP_DISCHARGE);
  dis->current = 1e-3, dis->has_v_cut = 1, dis->v_cut_V = 0.0;
  nimc_result res;
  char msg[NIMC_ERRMSG_MAX];
  int rc = run_on(&d, &x.exp, &res, msg, sizeof msg);
  if (rc) fprintf(stderr, "  %s\n", msg);
  CHECK(rc == NIMC_OK && res.nsteps == 6 && res.nwarnings == 0);
  if (res.nsteps == 6) {
    const nimc_step_result *s0 = res.steps;
    CHECK(s0[0].end_reason == NIMC_END_VOLTAGE);
    CHECK(s0[1].end_reason == NIMC_END_TIME);
    CHECK(s0[2].end_reason == NIMC_END_TIME);
    CHECK_ABS(s0[2].v_end_V, 0.0, 1e-9);
    CHECK(s0[3].end_reason == NIMC_END_TIME);
    CHECK(s0[4].end_reason == NIMC_END_VOLTAGE);
    CHECK(s0[5].end_reason == NIMC_END_VOLTAGE);
  }
  nimc_result_free(&res);
  fx_free_device(&d);
}

/* A step outside the window at its start ends at once with reason
 * window (a rest of the neutral capacitor, 0 V, under min_voltage
 * 0.5 V), unless its own cut-off ends it there first: a discharge until
 * 0.6 V from 0 V passes no charge and ends with reason voltage. */
static void test_window_at_the_start(void) {
  nimc_device d;
  double C, R;
  ideal_capacitor(&d, &C, &R);
  d.min_voltage_given = 1, d.min_voltage_V = 0.5;
  fx_exp x;
  fx_exp_init(&x);
  nimc_step *dis = fx_add(&x, NIMC_STEP_DISCHARGE);
  dis->current = 1e-3, dis->has_v_cut = 1, dis->v_cut_V = 0.6;
  nimc_step *r = fx_add(&x, NIMC_STEP_REST);
  r->has_duration = 1, r->duration_s = 10.0;
  nimc_result res;
  char msg[NIMC_ERRMSG_MAX];
  int rc = run_on(&d, &x.exp, &res, msg, sizeof msg);
  fprintf(stderr, "  %s\n", msg);
  CHECK(rc == NIMC_EWINDOW && res.nsteps == 2 && res.nwarnings == 1);
  if (res.nsteps == 2) {
    CHECK(res.steps[0].end_reason == NIMC_END_VOLTAGE);
    CHECK(res.steps[0].duration_s == 0.0);
    CHECK(res.steps[1].end_reason == NIMC_END_WINDOW);
    CHECK(res.steps[1].duration_s == 0.0);
  }
  if (res.nwarnings == 1) {
    CHECK(res.warnings[0].step == 1);
    CHECK_CONTAINS(res.warnings[0].text, "at its start");
    CHECK_CONTAINS(res.warnings[0].text, "min_voltage = 0.5 V");
  }
  nimc_result_free(&res);
  fx_free_device(&d);
}

/* The current limit: per footprint area (10 A/m2 on 1 cm2: 1 mA), a
 * charge at 1 mA runs and one at 1.5 mA ends at once; absolute (5 mA), a
 * hold at 0.5 V from rest, which draws 0.5 V / R (about 50 mA) at its
 * start, ends at once.  Both with reason window and a warning naming
 * max_current. */
static void test_current_limit(void) {
  nimc_device d;
  double C, R;
  ideal_capacitor(&d, &C, &R);
  d.max_current_A_m2 = 10.0; /* 1 mA on the fixture's 1 cm2 */
  double vmin, vmax, imax;
  CHECK(nimc_device_window(&d, &vmin, &vmax, &imax) == 1);
  CHECK(isinf(vmin) && vmin < 0 && isinf(vmax) && vmax > 0);
  CHECK_REL(imax, 1e-3, 1e-12);
  fx_exp x;
  fx_exp_init(&x);
  nimc_step *c = fx_add(&x, NIMC_STEP_CHARGE);
  c->current = 1e-3, c->has_v_cut = 1, c->v_cut_V = 0.5;
  nimc_step *c2 = fx_add(&x, NIMC_STEP_CHARGE);
  c2->current = 1.5e-3, c2->has_duration = 1, c2->duration_s = 1.0;
  nimc_result res;
  char msg[NIMC_ERRMSG_MAX];
  int rc = run_on(&d, &x.exp, &res, msg, sizeof msg);
  fprintf(stderr, "  %s\n", msg);
  CHECK(rc == NIMC_EWINDOW && res.nsteps == 2 && res.nwarnings == 1);
  if (res.nsteps == 2) {
    CHECK(res.steps[0].end_reason == NIMC_END_VOLTAGE);
    CHECK(res.steps[1].end_reason == NIMC_END_WINDOW &&
          res.steps[1].duration_s == 0.0);
  }
  if (res.nwarnings == 1)
    CHECK_CONTAINS(res.warnings[0].text, "max_current");
  nimc_result_free(&res);

  d.max_current_A_m2 = 0.0, d.max_current_A = 5e-3;
  fx_exp y;
  fx_exp_init(&y);
  nimc_step *h = fx_add(&y, NIMC_STEP_HOLD);
  h->voltage_V = 0.5, h->has_duration = 1, h->duration_s = 1.0;
  rc = run_on(&d, &y.exp, &res, msg, sizeof msg);
  fprintf(stderr, "  %s\n", msg);
  CHECK(rc == NIMC_EWINDOW && res.nsteps == 1 && res.nwarnings == 1);
  if (res.nsteps == 1)
    CHECK(res.steps[0].end_reason == NIMC_END_WINDOW &&
          res.steps[0].duration_s == 0.0);
  nimc_result_free(&res);
  /* no limit declared: the same hold runs */
  d.max_current_A = 0.0;
  CHECK(nimc_device_window(&d, NULL, NULL, NULL) == 0);
  rc = run_on(&d, &y.exp, &res, msg, sizeof msg);
  CHECK(rc == NIMC_OK && res.nsteps == 1 && res.nwarnings == 0);
  if (res.nsteps == 1) CHECK(res.steps[0].end_reason == NIMC_END_TIME);
  nimc_result_free(&res);
  fx_free_device(&d);
}

/* A solver failure says what in the device was at its limit: the stack's
 * NTO full of sodium after a charge far past its capacity (window
 * lifted), with the solver's own words kept in brackets; a constant-power
 * discharge beyond what the device delivers says so. */
static void test_failure_in_physics_words(void) {
  const char *sets[3] = {"device.max_voltage=10 V",
                         "device.max_current=10 A/cm2",
                         "device.min_voltage=-10 V"};
  const char *over[1] = {"Charge at 1 mA for 0.5 hours"};
  nimc_result res;
  nimc_err err;
  nimc_sim_opts o = nimc_sim_opts_default();
  memset(&res, 0, sizeof res);
  int rc = nimc_simulate("devices/nimc-stack.ini", sets, 3, over, 1, &o, &res,
                         NULL, &err);
  fprintf(stderr, "  %s\n", err.msg);
  CHECK(rc == NIMC_ESOLVER);
  CHECK_CONTAINS(err.msg, "step 1 'Charge at 1 mA for 0.5 hours' failed at t");
  CHECK_CONTAINS(err.msg, "intercalation solid of the anode");
  CHECK_CONTAINS(err.msg, "is full");
  CHECK_CONTAINS(err.msg, "[IDA");
  nimc_result_free(&res);
  const char *cp[2] = {"Charge at 1 mA/cm2 until 3.5 V",
                       "Discharge at 50 mW until 0.5 V"};
  memset(&res, 0, sizeof res);
  rc = nimc_simulate("devices/nimc-stack.ini", sets, 3, cp, 2, &o, &res, NULL,
                     &err);
  fprintf(stderr, "  %s\n", err.msg);
  CHECK(rc == NIMC_ESOLVER);
  CHECK_CONTAINS(err.msg, "step 2 'Discharge at 50 mW until 0.5 V'");
  CHECK_CONTAINS(err.msg, "constant-power discharge of 0.05 W is not "
                          "deliverable");
  nimc_result_free(&res);
}

/* The window keys of [device]: volts, a current or a current per area;
 * min below max; positive current; each error names the key. */
static void test_window_keys(void) {
  nimc_device *dev;
  nimc_err err;
  const char *ok[3] = {"device.min_voltage=-0.5 V", "device.max_voltage=3 V",
                       "device.max_current=2 mA"};
  CHECK(nimc_device_load(&dev, "devices/nimc-stack.ini", ok, 3, &err) ==
        NIMC_OK);
  double lo, hi, imax;
  if (dev) {
    CHECK(nimc_device_window(dev, &lo, &hi, &imax) == 1);
    CHECK(lo == -0.5 && hi == 3.0);
    CHECK_REL(imax, 2e-3, 1e-12);
  }
  nimc_device_destroy(dev);
  /* the shipped stack: 0 V to 3.5 V, 10 mA/cm2 on 0.56 cm2 */
  CHECK(nimc_device_load(&dev, "devices/nimc-stack.ini", NULL, 0, &err) ==
        NIMC_OK);
  if (dev) {
    CHECK(nimc_device_window(dev, &lo, &hi, &imax) == 1);
    CHECK(lo == 0.0 && hi == 3.5);
    CHECK_REL(imax, 100.0 * 0.56e-4, 1e-12);
  }
  nimc_device_destroy(dev);
  const struct {
    const char *set, *why;
  } bad[] = {
      {"device.max_voltage=abc", "--set device.max_voltage"},
      {"device.max_voltage=0 V", "must be above min_voltage"},
      {"device.min_voltage=3 mA", "--set device.min_voltage"},
      {"device.max_voltage=35 V", "plausible range"},
      {"device.max_current=-1 mA", "must be positive"},
      {"device.max_current=0 A/m2", "must be positive"},
      {"device.max_current=3 V", "a current per footprint area"},
      {"device.max_current=100 A/cm2", "plausible range"},
      {"device.max_currents=1 mA", "did you mean 'max_current'"},
  };
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    CHECK(nimc_device_load(&dev, "devices/nimc-stack.ini", &bad[k].set, 1,
                           &err) == NIMC_EINPUT);
    CHECK(dev == NULL);
    CHECK_CONTAINS(err.msg, bad[k].why);
  }
}

/* The LED of the closed-form test and the ideal capacitor's series
 * resistance R: the LED draws led(V_d) = i_f (exp((V_d - V_f)/s) - e0) /
 * (1 - e0), e0 = exp(-V_f / s), s = n k T / q, at its junction voltage
 * V_d; the capacitor's own voltage is u = V_d + led (R + R_s). */
typedef struct led_ode {
  double i_f, v_f, slope, r_s, R, C;
} led_ode;

static double led_law(const led_ode *p, double vd) {
  double e0 = exp(-p->v_f / p->slope);
  return p->i_f * (exp((vd - p->v_f) / p->slope) - e0) / (1.0 - e0);
}

/* The junction voltage V_d where V_d + led(V_d) r = w (r the resistance
 * between w and the junction), by bisection: the left side rises
 * monotonically from -w at 0 to above w at w, for w > 0. */
static double led_junction(const led_ode *p, double w, double r) {
  double lo = 0.0, hi = w;
  for (int k = 0; k < 200 && hi - lo > 0.0; k++) {
    double mid = 0.5 * (lo + hi);
    if (mid == lo || mid == hi) break;
    if (mid + led_law(p, mid) * r > w)
      hi = mid;
    else
      lo = mid;
  }
  return 0.5 * (lo + hi);
}

/* dt/du = -C / I(u): the ODE C du/dt = -I with the capacitor's voltage u
 * as the independent variable, so that the time to a level is its value
 * there (no event to locate). */
static int led_dt_du(double u, const double y[], double dydu[], void *user) {
  (void)y;
  const led_ode *p = user;
  double vd = led_junction(p, u, p->R + p->r_s);
  dydu[0] = -p->C / led_law(p, vd);
  return GSL_SUCCESS;
}

/* The time the LED takes to bring the terminal voltage V = V_d + led R_s
 * from the capacitor's voltage u0 to V1, by odeiv2 (Runge-Kutta
 * Prince-Dormand 8(9), relative and absolute error 1e-13 per step); NaN
 * when it fails. */
static double led_ode_time(const led_ode *p, double u0, double V1) {
  double vd1 = led_junction(p, V1, p->r_s);
  double u1 = V1 + led_law(p, vd1) * p->R;
  gsl_odeiv2_system sys = {led_dt_du, NULL, 1, (void *)p};
  gsl_odeiv2_driver *drv = gsl_odeiv2_driver_alloc_y_new(
      &sys, gsl_odeiv2_step_rk8pd, -1e-6, 1e-13, 1e-13);
  double u = u0, t[1] = {0.0};
  int rc = gsl_odeiv2_driver_apply(drv, &u, u1, t);
  gsl_odeiv2_driver_free(drv);
  return rc == GSL_SUCCESS ? t[0] : NAN;
}

/* The ideal capacitor (C = 5 mF, series R) charged at 1 mA to 2.5 V, then
 * discharged through an LED (0.1 mA at 1.8 V, ideality 2, 100 ohm in
 * series) until 1.75 V: the time is the ODE's, and -I = led(V + I R_s) at
 * every sample.  The DAE runs at rtol 1e-9 and the ODE at 1e-13 (its
 * error is nothing beside the DAE's), so they agree to the DAE's
 * tolerance and the ideal capacitor's own fidelity, 1e-5 as for the other
 * closed forms here (measured 4.3e-7); an ideality 10 % off moves the
 * time by 0.3 %, 300 times that. */
static void test_led_on_an_ideal_capacitor(void) {
  const double I = 1e-3, V0 = 2.5, V1 = 1.75;
  nimc_device d;
  double C, R;
  ideal_capacitor(&d, &C, &R);
  d.led = (nimc_led_params){1, 1.8, 1e-4, 2.0, 100.0};
  fx_exp x;
  fx_exp_init(&x);
  nimc_step *c = fx_add(&x, NIMC_STEP_CHARGE);
  c->current = I, c->has_v_cut = 1, c->v_cut_V = V0;
  nimc_step *l = fx_add(&x, NIMC_STEP_LOAD_LED);
  l->has_v_cut = 1, l->v_cut_V = V1;
  nimc_result res;
  int rc = run_tight(&d, &x.exp, &res);
  CHECK(rc == NIMC_OK && res.nsteps == 2);
  if (res.nsteps == 2) {
    const nimc_step_result *r = res.steps;
    led_ode p = {1e-4, 1.8, 2.0 * NIMC_R * d.temperature_K / NIMC_F, 100.0,
                 R, C};
    double u0 = r[0].v_end_V - I * R;
    double t_ode = led_ode_time(&p, u0, V1);
    double vd0 = led_junction(&p, u0, R + p.r_s);
    double v_start = vd0 + led_law(&p, vd0) * p.r_s;
    led_ode off = p;
    off.slope *= 1.1;
    double t_off = led_ode_time(&off, u0, V1);
    double worst = 0.0;
    size_t n = 0;
    for (size_t i = 0; i < res.series.n; i++) {
      if (res.series.step[i] != 1) continue;
      double v = res.series.voltage_V[i], il = -res.series.current_A[i];
      double e = fabs(il - led_law(&p, v - il * p.r_s)) / il;
      if (e > worst) worst = e;
      n++;
    }
    fprintf(stderr,
            "  ideal C %.4g F, R %.6g ohm: LED from %.6f V for %.9g s (ODE "
            "%.9g s, rel. %.2e; ideality 2.2: %.6g s), start %.9f V (%.9f), "
            "worst diode-law error %.2e over %zu samples\n",
            C, R, r[1].v_start_V, r[1].duration_s, t_ode,
            fabs(r[1].duration_s - t_ode) / t_ode, t_off, r[1].v_start_V,
            v_start, worst, n);
    CHECK(r[1].type == NIMC_STEP_LOAD_LED &&
          r[1].end_reason == NIMC_END_VOLTAGE);
    CHECK(isfinite(t_ode) && t_ode > 1.0);
    CHECK_REL(r[1].duration_s, t_ode, 1e-5);
    CHECK_REL(r[1].v_start_V, v_start, 1e-6);
    /* the control row holds to the Newton iteration's tolerance, which
     * an exponential row feels most: IDA keeps its Jacobian (and its
     * estimate of the convergence rate) over several steps, and the
     * diode's conductance changes along them; measured 8.0e-4, 2.5e-5
     * and 9.6e-7 at rtol 1e-7, 1e-9 and 1e-11 (the duration: 2.5e-6,
     * 4.3e-7 and 1.3e-7 from the ODE's) */
    CHECK(n > 10 && worst < 1e-4);
    /* the comparison can fail: a 10 % different ideality misses it */
    CHECK(fabs(r[1].duration_s - t_off) > 100 * 1e-5 * t_ode);
  }
  nimc_result_free(&res);
  fx_free_device(&d);
}

/* 'Discharge through LED' on a device without [led] is refused before
 * anything runs, naming the section and the file; with the section given
 * by overrides it runs and ends at its voltage. */
static void test_led_needs_its_section(void) {
  const char *lines[2] = {"Charge at 0.1 mA/cm2 for 60 s",
                          "Discharge through LED until 1.9 V"};
  nimc_result res;
  nimc_err err;
  nimc_sim_opts o = nimc_sim_opts_default();
  memset(&res, 0, sizeof res);
  CHECK(nimc_simulate("devices/nimc-stack.ini", NULL, 0, lines, 2, &o, &res,
                      NULL, &err) == NIMC_EINPUT);
  CHECK_CONTAINS(err.msg, "step 2 'Discharge through LED until 1.9 V'");
  CHECK_CONTAINS(err.msg, "[led] section");
  CHECK_CONTAINS(err.msg, "devices/nimc-stack.ini");
  CHECK(res.nsteps == 0 && res.series.n == 0);
  nimc_result_free(&res);
  /* (the stack's current limit, 10 mA/cm2, widened: the LED draws more
   * at the start of its discharge) */
  const char *led[4] = {"led.forward_voltage=1.8 V", "led.forward_current=1 mA",
                        "led.series_resistance=50 ohm",
                        "device.max_current=10 A/cm2"};
  /* the section in SI, its defaults (ideality 2, no series resistance) */
  nimc_device *dev = NULL;
  const char *full[4] = {"led.forward_voltage=2100 mV", "led.forward_current=20 uA",
                         "led.ideality=1.5", "led.series_resistance=1 kohm"};
  CHECK(nimc_device_load(&dev, "devices/nimc-stack.ini", full, 4, &err) ==
        NIMC_OK);
  if (dev) {
    CHECK(dev->led.present && dev->led.ideality == 1.5);
    CHECK_REL(dev->led.forward_voltage_V, 2.1, 1e-12);
    CHECK_REL(dev->led.forward_current_A, 2e-5, 1e-12);
    CHECK_REL(dev->led.series_resistance_ohm, 1e3, 1e-12);
  }
  nimc_device_destroy(dev);
  CHECK(nimc_device_load(&dev, "devices/nimc-stack.ini", led, 2, &err) ==
        NIMC_OK);
  if (dev)
    CHECK(dev->led.present && dev->led.ideality == 2.0 &&
          dev->led.series_resistance_ohm == 0.0);
  nimc_device_destroy(dev);
  CHECK(nimc_device_load(&dev, "devices/nimc-stack.ini", NULL, 0, &err) ==
        NIMC_OK);
  if (dev) CHECK(!dev->led.present);
  nimc_device_destroy(dev);
  CHECK(stack_run(led, 4, lines, 2, 0.0, &res, &err) == NIMC_OK);
  CHECK(res.nsteps == 2);
  if (res.nsteps == 2) {
    CHECK(res.steps[1].type == NIMC_STEP_LOAD_LED &&
          res.steps[1].end_reason == NIMC_END_VOLTAGE);
    CHECK(res.steps[1].charge_C < 0.0 && res.steps[1].v_start_V > 1.9);
    CHECK_ABS(res.steps[1].v_end_V, 1.9, 1e-9);
  }
  nimc_result_free(&res);
}

/* A shunt R_sh across the ideal capacitor, inside its contact resistance
 * Rc (C, series R = Rc + Ri): at rest (I = 0) the capacitor's voltage u
 * discharges through Ri + R_sh, so the terminal voltage V = u R_sh /
 * (R_sh + Ri) decays as V0 exp(-t / tau), tau = (R_sh + Ri) C, and falls
 * to 0.6 V0 at tau ln(1 / 0.6).  While charging at I, behind Rc, the
 * shunt takes (V - I Rc) / R_sh: u' = (I R_sh - u) / tau, and the voltage
 * behind Rc is (u + I Ri) R_sh / (R_sh + Ri). */
static void test_shunt_rest_on_an_ideal_capacitor(void) {
  const double I = 1e-3, V1 = 1.0, Rsh = 2000.0, T = 20.0;
  nimc_device d;
  double C, R;
  ideal_capacitor(&d, &C, &R);
  d.shunt_resistance_ohm = Rsh;
  /* Rc = 10 ohm, and the charge's end shows it: a shunt outside Rc would
   * shorten it by 0.5 % */
  double Rc = d.contact_resistance_ohm, Ri = R - Rc;
  double tau = (Rsh + Ri) * C;
  fx_exp x;
  fx_exp_init(&x);
  nimc_step *c = fx_add(&x, NIMC_STEP_CHARGE);
  c->current = I, c->has_v_cut = 1, c->v_cut_V = V1;
  nimc_step *r = fx_add(&x, NIMC_STEP_REST);
  r->has_duration = 1, r->duration_s = T;
  nimc_result res;
  int rc = run_tight(&d, &x.exp, &res);
  CHECK(rc == NIMC_OK && res.nsteps == 2);
  if (res.nsteps == 2) {
    const nimc_step_result *s = res.steps;
    double u1 = (V1 - I * Rc) * (Rsh + Ri) / Rsh - I * Ri;
    double t_cc = tau * log(I * Rsh / (I * Rsh - u1));
    double v0 = u1 * Rsh / (Rsh + Ri);
    const nimc_series *v = &res.series;
    size_t a = 0;
    while (a < v->n && v->step[a] != 1)
      a++;
    nimc_rest_result rr;
    nimc_err err;
    CHECK(v->n - a >= 3 &&
          nimc_rest_analyze(v->time_s + a, v->voltage_V + a, v->n - a, 0.6, &rr,
                            &err) == NIMC_OK);
    fprintf(stderr,
            "  ideal C %.4g F, Rc %g + Ri %.6g ohm, shunt %g ohm: charge "
            "%.9g s (closed form %.9g), rest %.9g -> %.9g V (closed form "
            "%.9g -> %.9g), to 0.6 V0 in %.6g s (closed form %.6g)\n",
            C, Rc, Ri, Rsh, s[0].duration_s, t_cc, s[1].v_start_V, s[1].v_end_V,
            v0, v0 * exp(-T / tau), rr.time_to_threshold_s, tau * log(1 / 0.6));
    CHECK_REL(s[0].duration_s, t_cc, 1e-5);
    CHECK_REL(s[1].v_start_V, v0, 1e-6);
    CHECK_REL(s[1].v_end_V, v0 * exp(-T / tau), 1e-5);
    CHECK_REL(rr.time_to_threshold_s, tau * log(1 / 0.6), 1e-3);
    /* from Vmax = V1, the charge's end, not from v0: to 0.6 V1 at
     * tau ln(v0 / (0.6 V1)) */
    nimc_rest_result sd;
    CHECK(nimc_result_self_discharge(&res, 0.6, &sd, &err) == NIMC_OK);
    fprintf(stderr, "  to 0.6 Vmax in %.6g s (closed form %.6g)\n",
            sd.time_to_threshold_s, tau * log(v0 / (0.6 * V1)));
    CHECK_REL(sd.v_ref_V, V1, 1e-9);
    CHECK_REL(sd.threshold * sd.v0_V, 0.6 * V1, 1e-12);
    CHECK_REL(sd.time_to_threshold_s, tau * log(v0 / (0.6 * V1)), 1e-3);
    /* a fraction the rest starts below: at once */
    CHECK(nimc_result_self_discharge(&res, 0.995, &sd, &err) == NIMC_OK);
    CHECK(sd.time_to_threshold_s == 0.0);
  }
  nimc_result_free(&res);
  fx_free_device(&d);
}

int main(void) {
  RUN(test_any_number_of_cutoffs);
  RUN(test_table_has_every_kind);
  RUN(test_unknown_kind_refused);
  RUN(test_setup_of_each_kind);
  RUN(test_depletion_ends_a_step);
  RUN(test_metrics_do_not_depend_on_output_spacing);
  RUN(test_constant_power);
  RUN(test_resistive_load);
  RUN(test_power_and_load_on_an_ideal_capacitor);
  RUN(test_current_hold_sweep_on_an_ideal_capacitor);
  RUN(test_metrics_only_from_constant_current);
  RUN(test_shunt_rest_on_an_ideal_capacitor);
  RUN(test_c_rate_and_per_mass);
  RUN(test_nominal_capacity_key);
  RUN(test_window_ends_a_charge);
  RUN(test_window_edges_are_inside);
  RUN(test_window_at_the_start);
  RUN(test_current_limit);
  RUN(test_failure_in_physics_words);
  RUN(test_window_keys);
  RUN(test_led_on_an_ideal_capacitor);
  RUN(test_led_needs_its_section);
  RUN(test_rest_until_and_charge_ends);
  return TEST_REPORT();
}
