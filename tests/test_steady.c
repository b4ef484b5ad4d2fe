/*
 * test_steady.c -- formation, then measurement: nimc_sim_run_until_steady
 * specified on the 1D stack device (devices/nimc-stack.ini, a few hundred
 * unknowns, well under a second for all of it):
 *  - with the defaults it stops at a steady cycle, no sooner than
 *    min_cycles, with a coulombic efficiency of at least ce_min and a
 *    cycle that repeats the one before within rel_tol; what it reports
 *    (cycles, steady cycle, C and CE of the last cycle, the metrics and
 *    their cycle index) agrees with nimc_metrics_gcd_result of the result;
 *  - with max_cycles below what steadiness needs it reports
 *    NIMC_NOTSTEADY with everything it ran, and says so in the message;
 *  - it continues from the simulation's current state and counts the
 *    metrics' cycle among all the pairs of the result;
 *  - bad options, a cycle without a charge/discharge pair, and a cycle
 *    with no capacitance to read are answered with their own status and
 *    a message;
 *  - the steady cycle does not depend on the starting state (neutral, or
 *    at rest at 3.2 V or 1.5 V), on the stack and on the in-plane NIMC.
 * The test uses the public API only.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nimc/nimc.h"
#include "testlib.h"

#define DEVICE "devices/nimc-stack.ini"

static const char *const gcd_lines[2] = {"Charge at 1 mA/cm2 until 3.5 V",
                                         "Discharge at 1 mA/cm2 until 0 V"};

typedef struct fixture {
  nimc_device *dev;
  nimc_sim *sim;
  nimc_experiment *cycle;
  nimc_norm norm;
  nimc_result res;
} fixture;

/* A fresh simulation of the stack device and the experiment lines[] as
 * its cycle; 0, or -1 when something could not be built. */
static int setup(fixture *f, const char *const *lines, size_t n) {
  nimc_err err;
  memset(f, 0, sizeof *f);
  if (nimc_device_load(&f->dev, DEVICE, NULL, 0, &err) ||
      nimc_experiment_parse(&f->cycle, lines, n, &err) ||
      nimc_sim_create(&f->sim, f->dev, NULL, &err)) {
    fprintf(stderr, "setup: %s\n", err.msg);
    return -1;
  }
  f->norm = (nimc_norm){nimc_device_footprint_area_m2(f->dev),
                        nimc_device_norm_thickness_m(f->dev)};
  return 0;
}

static void teardown(fixture *f) {
  nimc_result_free(&f->res);
  nimc_sim_destroy(f->sim);
  nimc_experiment_destroy(f->cycle);
  nimc_device_destroy(f->dev);
}

/* Run until steady with opts on a fresh fixture; returns the status. */
static int run_fresh(fixture *f, const nimc_steady_opts *opts,
                     nimc_steady_info *info) {
  if (setup(f, gcd_lines, 2)) return -1000;
  return nimc_sim_run_until_steady(f->sim, f->cycle, opts, &f->norm, &f->res,
                                   info);
}

static void test_defaults(void) {
  nimc_steady_opts d = nimc_steady_opts_default();
  CHECK(d.min_cycles == 3 && d.max_cycles == 30);
  CHECK(d.ce_min == 0.99 && d.rel_tol == 3e-4);
}

static void test_converges(void) {
  fixture f;
  nimc_steady_info in;
  nimc_steady_opts o = nimc_steady_opts_default();
  int rc = run_fresh(&f, NULL, &in);
  CHECK(rc == NIMC_OK);
  if (rc) fprintf(stderr, "  %s\n", nimc_sim_errmsg(f.sim));
  CHECK(in.converged == 1);
  CHECK(in.cycles >= o.min_cycles && in.cycles <= o.max_cycles);
  CHECK(in.steady_cycle == in.cycles);
  CHECK(in.coulombic_efficiency >= o.ce_min);
  CHECK(in.capacitance_change <= o.rel_tol && in.ce_change <= o.rel_tol);
  CHECK(in.opts.min_cycles == 3 && in.opts.max_cycles == 30);
  CHECK(!strcmp(nimc_sim_errmsg(f.sim), ""));
  /* two steps a cycle, labelled with their cycle; the last cycle's
   * first step and sample */
  CHECK(f.res.nsteps == 2 * (size_t)in.cycles);
  for (size_t k = 0; k < f.res.nsteps; k++)
    CHECK(f.res.steps[k].cycle == (int)k / 2);
  CHECK(in.first_step == f.res.nsteps - 2);
  CHECK(in.first_sample < f.res.series.n &&
        f.res.series.step[in.first_sample] == f.res.steps[in.first_step].index);
  CHECK(in.first_sample == 0 || f.res.series.step[in.first_sample - 1] !=
                                    f.res.series.step[in.first_sample]);
  /* the metrics are those of the last cycle, read from the whole result,
   * and say which cycle: the number of pairs */
  nimc_metrics m, ms;
  nimc_err err;
  CHECK(nimc_metrics_gcd_result(&f.res, &f.norm, &m, &err) == NIMC_OK);
  /* the samples alone (trapezoids) agree at this constant current */
  CHECK(nimc_metrics_gcd(&f.res.series, &f.norm, &ms, &err) == NIMC_OK);
  CHECK_REL(ms.capacitance_F, m.capacitance_F, 1e-9);
  CHECK_REL(ms.coulombic_efficiency, m.coulombic_efficiency, 1e-9);
  CHECK(m.ncycles == in.cycles && m.cycle == in.cycles);
  CHECK(in.metrics.have_cycle && in.metrics.cycle == in.cycles);
  CHECK(in.metrics.ncycles == in.cycles);
  CHECK_REL(in.metrics.capacitance_F, in.capacitance_F, 1e-12);
  CHECK_REL(in.metrics.coulombic_efficiency, in.coulombic_efficiency, 1e-12);
  CHECK_REL(nimc_metric_value(&m, "capacitance_volumetric_F_cm3"),
            nimc_metric_value(&in.metrics, "capacitance_volumetric_F_cm3"), 1e-15);
  CHECK(isfinite(nimc_metric_value(&in.metrics, "capacitance_volumetric_F_cm3")));
  /* the measured discharge is the last step, ended at its cut-off */
  CHECK(f.res.steps[f.res.nsteps - 1].type == NIMC_STEP_DISCHARGE &&
        f.res.steps[f.res.nsteps - 1].end_reason == NIMC_END_VOLTAGE);
  fprintf(stderr,
          "  steady after %d cycles: C %.6g F, CE %.6g, dC %.2g, "
          "dCE %.2g\n",
          in.cycles, in.capacitance_F, in.coulombic_efficiency,
          in.capacitance_change, in.ce_change);
  teardown(&f);
}

static void test_not_steady(void) {
  /* with min_cycles 2: the cycle at which it is steady, n */
  fixture f;
  nimc_steady_info in;
  nimc_steady_opts o = nimc_steady_opts_default();
  o.min_cycles = 2;
  int rc = run_fresh(&f, &o, &in);
  CHECK(rc == NIMC_OK);
  int n = in.cycles;
  teardown(&f);
  /* the stack needs formation: its second cycle does not yet repeat the
   * first (so that max_cycles = n - 1 >= min_cycles below) */
  CHECK(n >= 3);
  if (n < 3) return;

  /* the same cycles, but max_cycles stops them one short */
  o.max_cycles = n - 1;
  rc = run_fresh(&f, &o, &in);
  CHECK(rc == NIMC_NOTSTEADY);
  CHECK(rc > 0 && !strcmp(nimc_strerror(rc), "not steady"));
  CHECK(in.converged == 0 && in.steady_cycle == 0);
  CHECK(in.cycles == n - 1);
  CHECK(f.res.nsteps == 2 * (size_t)(n - 1));
  char want[64];
  snprintf(want, sizeof want, "not steady after %d cycles", n - 1);
  CHECK_CONTAINS(nimc_sim_errmsg(f.sim), want);
  CHECK_CONTAINS(nimc_sim_errmsg(f.sim), "coulombic efficiency");
  /* what ran is measured all the same */
  CHECK(isfinite(in.capacitance_F) && isfinite(in.coulombic_efficiency));
  CHECK(in.metrics.have_cycle && in.metrics.cycle == n - 1);
  teardown(&f);

  /* a tolerance nothing meets: max_cycles run, not steady */
  o = nimc_steady_opts_default();
  o.max_cycles = 3;
  o.rel_tol = 1e-300;
  rc = run_fresh(&f, &o, &in);
  CHECK(rc == NIMC_NOTSTEADY && in.cycles == 3 && !in.converged);
  CHECK_CONTAINS(nimc_sim_errmsg(f.sim), "not steady after 3 cycles");
  teardown(&f);

  /* whatever stops it, the criterion holds: a steady cycle meets all of
   * it, and a run that is not steady ran max_cycles and its last cycle
   * misses some of it (here ce_min = 1 is met only by a cycle that gives
   * back all its charge) */
  o = nimc_steady_opts_default();
  o.max_cycles = 4;
  o.ce_min = 1.0;
  o.rel_tol = 1e-2;
  rc = run_fresh(&f, &o, &in);
  int meets = in.coulombic_efficiency >= o.ce_min &&
              in.capacitance_change <= o.rel_tol && in.ce_change <= o.rel_tol;
  CHECK(rc == NIMC_OK || rc == NIMC_NOTSTEADY);
  if (rc == NIMC_OK) CHECK(meets && in.cycles >= 3 && in.cycles <= 4);
  if (rc == NIMC_NOTSTEADY) CHECK(!meets && in.cycles == 4);
  teardown(&f);
}

/* It continues from the current state: after a first run until steady,
 * a second one is steady at once (min_cycles), and the metrics count the
 * pairs of the whole result. */
static void test_continues(void) {
  fixture f;
  nimc_steady_info a, b;
  int rc = run_fresh(&f, NULL, &a);
  CHECK(rc == NIMC_OK);
  rc = nimc_sim_run_until_steady(f.sim, f.cycle, NULL, &f.norm, &f.res, &b);
  CHECK(rc == NIMC_OK);
  CHECK(b.cycles == 3 && b.steady_cycle == 3);
  CHECK(b.metrics.cycle == a.cycles + b.cycles);
  CHECK(f.res.nsteps == 2 * (size_t)(a.cycles + b.cycles));
  CHECK(b.first_step == f.res.nsteps - 2);
  CHECK_REL(b.capacitance_F, a.capacitance_F, 2e-3);
  /* the steps of the second call are labelled with its own cycles */
  CHECK(f.res.steps[2 * a.cycles].cycle == 0);
  CHECK(f.res.steps[f.res.nsteps - 1].cycle == 2);
  teardown(&f);
}

static void test_bad_input(void) {
  fixture f;
  if (setup(&f, gcd_lines, 2)) {
    CHECK(0);
    return;
  }
  nimc_steady_info in;
  struct {
    nimc_steady_opts o;
    const char *needle;
  } bad[] = {
      {{1, 30, 0.99, 1e-3}, "min_cycles"}, {{5, 4, 0.99, 1e-3}, "max_cycles"},
      {{3, 30, 1.5, 1e-3}, "ce_min"},      {{3, 30, NAN, 1e-3}, "ce_min"},
      {{3, 30, 0.99, 0.0}, "rel_tol"},     {{3, 30, 0.99, INFINITY}, "rel_tol"},
  };
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    in.cycles = -1;
    CHECK(nimc_sim_run_until_steady(f.sim, f.cycle, &bad[k].o, &f.norm, &f.res,
                                    &in) == NIMC_EINPUT);
    CHECK_CONTAINS(nimc_sim_errmsg(f.sim), bad[k].needle);
    CHECK(in.cycles == 0 && !in.converged);
  }
  nimc_norm neg = {-1.0, 0.0};
  CHECK(nimc_sim_run_until_steady(f.sim, f.cycle, NULL, &neg, &f.res, &in) ==
        NIMC_EINPUT);
  CHECK(f.res.nsteps == 0); /* nothing ran */
  CHECK(nimc_sim_run_until_steady(f.sim, NULL, NULL, NULL, &f.res, &in) ==
        NIMC_EMISUSE);
  CHECK(nimc_sim_run_until_steady(NULL, f.cycle, NULL, NULL, &f.res, &in) ==
        NIMC_EMISUSE);
  CHECK(nimc_sim_run_until_steady(f.sim, f.cycle, NULL, NULL, NULL, NULL) ==
        NIMC_EMISUSE);
  teardown(&f);

  /* a cycle with nothing to pair: only a charge, or a discharge first */
  const char *charge_only[] = {"Charge at 1 mA/cm2 until 3.5 V",
                               "Rest for 1 s"};
  if (setup(&f, charge_only, 2) == 0) {
    CHECK(nimc_sim_run_until_steady(f.sim, f.cycle, NULL, NULL, &f.res, &in) ==
          NIMC_EINPUT);
    CHECK_CONTAINS(nimc_sim_errmsg(f.sim),
                   "Charge step followed by a Discharge");
    CHECK(f.res.nsteps == 0);
  }
  teardown(&f);
  const char *backwards[] = {"Discharge at 1 mA/cm2 until 0 V",
                             "Charge at 1 mA/cm2 until 3.5 V"};
  if (setup(&f, backwards, 2) == 0)
    CHECK(nimc_sim_run_until_steady(f.sim, f.cycle, NULL, NULL, &f.res, &in) ==
          NIMC_EINPUT);
  teardown(&f);
  /* ... but in a Repeat, a charge pairs with the next iteration's
   * discharge */
  const char *repeat[] = {"Repeat 2 times: Discharge at 1 mA/cm2 until 0 V; "
                          "Charge at 1 mA/cm2 until 3.5 V"};
  if (setup(&f, repeat, 1) == 0) {
    nimc_steady_opts o = nimc_steady_opts_default();
    o.max_cycles = 3;
    int rc = nimc_sim_run_until_steady(f.sim, f.cycle, &o, NULL, &f.res, &in);
    CHECK(rc == NIMC_OK || rc == NIMC_NOTSTEADY);
    CHECK(in.cycles >= 3 && isfinite(in.capacitance_F));
  }
  teardown(&f);
}

/* A cycle whose discharge cannot be measured (it ends at once: the IR
 * drop alone takes the voltage past a cut-off just below the top) is
 * formation while fewer than min_cycles have run; the min_cycles-th
 * stops the loop, with the reason. */
static void test_nothing_to_measure(void) {
  const char *lines[] = {"Charge at 1 mA/cm2 until 3.5 V",
                         "Discharge at 1 mA/cm2 until 3.4999 V"};
  fixture f;
  nimc_steady_info in;
  if (setup(&f, lines, 2)) {
    CHECK(0);
    return;
  }
  int rc =
      nimc_sim_run_until_steady(f.sim, f.cycle, NULL, &f.norm, &f.res, &in);
  CHECK(rc == NIMC_EANALYSIS);
  CHECK(in.cycles == 3 && !in.converged && isnan(in.capacitance_F));
  CHECK_CONTAINS(nimc_sim_errmsg(f.sim), "cycle 3 has no capacitance to read");
  CHECK(f.res.nsteps == 6);
  teardown(&f);
}

/* The steady cycle forgets how the device started: from the neutral,
 * as-assembled state, or from the same device at rest at 3.2 V or at
 * 1.5 V (initial_voltage, reached without creating charge), the cycle
 * measured after formation has the same capacitance to 0.5 %, on the
 * stack and on the in-plane NIMC.  (Formation settles the double layers
 * and the electrolyte; the sodium inventory is the material's and the
 * same in every start.) */
static void test_starting_state_forgotten(void) {
  static const char *const paths[2] = {DEVICE, "devices/nimc.ini"};
  static const char *const starts[3] = {NULL, "device.initial_voltage=3.2 V",
                                        "device.initial_voltage=1.5 V"};
  for (int p = 0; p < 2; p++) {
    double c[3] = {NAN, NAN, NAN};
    for (int k = 0; k < 3; k++) {
      nimc_device *dev = NULL;
      nimc_experiment *cyc = NULL;
      nimc_sim *sim = NULL;
      nimc_result res;
      nimc_steady_info in;
      nimc_err err;
      memset(&res, 0, sizeof res);
      if (nimc_device_load(&dev, paths[p], &starts[k], starts[k] ? 1 : 0,
                           &err) ||
          nimc_experiment_parse(&cyc, gcd_lines, 2, &err) ||
          nimc_sim_create(&sim, dev, NULL, &err)) {
        fprintf(stderr, "  %s: %s\n", paths[p], err.msg);
        CHECK(0);
      } else {
        nimc_norm norm = {nimc_device_footprint_area_m2(dev),
                          nimc_device_norm_thickness_m(dev)};
        int rc = nimc_sim_run_until_steady(sim, cyc, NULL, &norm, &res, &in);
        CHECK(rc == NIMC_OK);
        if (rc == NIMC_OK) c[k] = in.capacitance_F;
        fprintf(stderr, "  %s from %s: %.6g F at cycle %d\n", paths[p],
                starts[k] ? starts[k] : "the neutral state", in.capacitance_F,
                in.cycles);
      }
      nimc_result_free(&res);
      nimc_sim_destroy(sim);
      nimc_experiment_destroy(cyc);
      nimc_device_destroy(dev);
    }
    for (int k = 1; k < 3; k++) CHECK_REL(c[k], c[0], 5e-3);
  }
}

int main(void) {
  RUN(test_defaults);
  RUN(test_converges);
  RUN(test_not_steady);
  RUN(test_continues);
  RUN(test_bad_input);
  RUN(test_nothing_to_measure);
  RUN(test_starting_state_forgotten);
  return TEST_REPORT();
}
