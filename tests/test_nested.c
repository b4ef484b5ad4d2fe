/*
 * test_nested.c -- how nested Repeats, per-step output periods and
 * per-step temperatures run (docs/experiments.md), on the stack device:
 *  - a nested Repeat runs exactly its expansion (the same step records as
 *    the lines written out, to 1e-12), its cycles are the iterations of its
 *    innermost Repeat, numbered on through the outer iterations, and
 *    NIMC_KEEP_CYCLES keeps no record of any step inside it;
 *  - "(<time> period)" spaces that step's samples (and only that step's)
 *    and changes none of its record;
 *  - "(at 80 degC)" runs the step as a device at 80 degC runs it (to 1e-9;
 *    measured 2e-13), a step back at 25 degC runs as 25 degC runs from the
 *    same state (to 1e-9), the model is back at the device's temperature
 *    after the run, and a temperature the device's laws cannot take is
 *    refused before anything runs.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nimc/nimc.h"
#include "protocol/sim.h"
#include "testlib.h"

#define DEVICE "devices/nimc-stack.ini"
#define CH "Charge at 1 mA/cm2 until 3.5 V"
#define DIS "Discharge at 1 mA/cm2 until 0.5 V"

static nimc_device *dev25, *dev80;

/* Run lines on a fresh simulation of d (output interval dt_s, keep);
 * the status; res is the caller's to free; *sim_out (may be NULL) gets
 * the simulation, else it is destroyed. */
static int run_on(const nimc_device *d, const char *const *lines, size_t n,
                  double dt_s, nimc_keep keep, nimc_result *res,
                  nimc_sim **sim_out) {
  nimc_experiment *exp = NULL;
  nimc_sim *sim = NULL;
  nimc_err err;
  nimc_sim_opts o = nimc_sim_opts_default();
  o.output_dt_s = dt_s;
  memset(res, 0, sizeof *res);
  int rc = nimc_experiment_parse(&exp, lines, n, &err);
  if (!rc) rc = nimc_sim_create(&sim, d, &o, &err);
  nimc_sinks sk = {NULL, NULL, NULL, NULL, keep};
  if (!rc) rc = nimc_sim_set_sinks(sim, &sk);
  if (!rc) rc = nimc_sim_run(sim, exp, res);
  if (rc) fprintf(stderr, "  run: %s\n", sim ? nimc_sim_errmsg(sim) : err.msg);
  nimc_experiment_destroy(exp);
  if (sim_out)
    *sim_out = sim;
  else
    nimc_sim_destroy(sim);
  return rc;
}

/* Records a and b agree to rel (duration, charge, energy, end voltage). */
static int same_record(const nimc_step_result *a, const nimc_step_result *b,
                       double rel) {
  double x[4] = {a->duration_s, a->charge_C, a->energy_J, a->v_end_V};
  double y[4] = {b->duration_s, b->charge_C, b->energy_J, b->v_end_V};
  if (a->type != b->type || a->end_reason != b->end_reason) return 0;
  for (int k = 0; k < 4; k++)
    if (!(fabs(x[k] - y[k]) <= rel * fmax(fabs(x[k]), fabs(y[k])) + 1e-15))
      return 0;
  return 1;
}

static void test_nested_is_its_expansion(void) {
  const char *nested[] = {"Repeat 2 times: (Repeat 2 times: " CH "; " DIS
                          "); Rest for 5 s"};
  const char *flat[] = {"Repeat 2 times: " CH "; " DIS, "Rest for 5 s",
                        "Repeat 2 times: " CH "; " DIS, "Rest for 5 s"};
  nimc_result a, b;
  CHECK(run_on(dev25, nested, 1, 0.0, NIMC_KEEP_ALL, &a, NULL) == NIMC_OK);
  CHECK(run_on(dev25, flat, 4, 0.0, NIMC_KEEP_ALL, &b, NULL) == NIMC_OK);
  CHECK(a.nsteps == 10 && b.nsteps == 10);
  for (size_t k = 0; k < a.nsteps && k < b.nsteps; k++) {
    CHECK(same_record(&a.steps[k], &b.steps[k], 1e-12));
    CHECK(a.steps[k].index == (int)k);
  }
  /* the cycles: the 4 iterations of the inner Repeat, numbered 1..4 (the
   * lines written out number each line's own: 1, 2, 1, 2) */
  CHECK(a.ncycles == 4 && b.ncycles == 4);
  for (size_t k = 0; k < a.ncycles && k < b.ncycles; k++) {
    CHECK(a.cycles[k].cycle == (int)k + 1);
    CHECK(b.cycles[k].cycle == (int)(k % 2) + 1);
    CHECK(a.cycles[k].nsteps == 2);
    CHECK_REL(a.cycles[k].discharge_C, b.cycles[k].discharge_C, 1e-12);
    CHECK(a.cycles[k].discharge_C > 0.0);
  }
  /* the records of a cycle's steps carry its index; a rest of the outer
   * Repeat the outer iteration */
  if (a.nsteps == 10) {
    CHECK(a.steps[2].cycle == 1 && a.steps[5].cycle == 2);
    CHECK(a.steps[4].type == NIMC_STEP_REST && a.steps[4].cycle == 0);
    CHECK(a.steps[9].type == NIMC_STEP_REST && a.steps[9].cycle == 1);
  }
  /* retention against the line's first cycle, through the nest */
  if (a.ncycles == 4)
    CHECK_REL(a.cycles[3].capacitance_retention,
              a.cycles[3].metrics.capacitance_F /
                  a.cycles[0].metrics.capacitance_F,
              1e-12);
  nimc_result c;
  CHECK(run_on(dev25, nested, 1, 0.0, NIMC_KEEP_CYCLES, &c, NULL) == NIMC_OK);
  CHECK(c.nsteps == 0 && c.ncycles == 4 && c.series.n == 0);
  nimc_result_free(&a), nimc_result_free(&b), nimc_result_free(&c);
}

static void test_period(void) {
  const char *with[] = {CH, "Rest for 100 s (10 s period)", DIS " (1 s period)",
                        "Rest for 20 s"};
  const char *without[] = {CH, "Rest for 100 s", DIS, "Rest for 20 s"};
  nimc_result a, b;
  /* a global interval of 5 s: the steps with their own period keep it */
  CHECK(run_on(dev25, with, 4, 5.0, NIMC_KEEP_ALL, &a, NULL) == NIMC_OK);
  CHECK(run_on(dev25, without, 4, 5.0, NIMC_KEEP_ALL, &b, NULL) == NIMC_OK);
  CHECK(a.nsteps == 4 && b.nsteps == 4);
  for (size_t k = 0; k < a.nsteps && k < b.nsteps; k++)
    CHECK(same_record(&a.steps[k], &b.steps[k], 1e-12));
  /* spacing of each step's samples after its first and before its last */
  double want[4] = {5.0, 10.0, 1.0, 5.0}, wantb[4] = {5.0, 5.0, 5.0, 5.0};
  const nimc_result *rs[2] = {&a, &b};
  for (int r = 0; r < 2; r++) {
    const nimc_series *se = &rs[r]->series;
    for (int st = 0; st < 4; st++) {
      size_t first = 0, n = 0;
      int spaced = 1;
      for (size_t k = 0; k < se->n; k++) {
        if (se->step[k] != st) continue;
        if (!n) first = k;
        n++;
      }
      /* samples first+1 .. first+n-2 are the interval's */
      for (size_t k = first + 2; n >= 4 && k + 1 < first + n; k++)
        spaced &= fabs(se->time_s[k] - se->time_s[k - 1] -
                       (r ? wantb : want)[st]) < 1e-9;
      CHECK(n >= 4 && spaced);
      if (st == 1) CHECK(n == (r ? 21u : 11u)); /* start, 9 or 19, end */
    }
  }
  CHECK(a.series.n != b.series.n);
  nimc_result_free(&a), nimc_result_free(&b);
}

static void test_temperature(void) {
  const char *hot[] = {CH " (at 80 degC)", DIS " (at 80 degC)"};
  const char *plain[] = {CH, DIS};
  nimc_result a, b, c;
  nimc_sim *sa = NULL;
  CHECK(run_on(dev25, hot, 2, 0.0, NIMC_KEEP_ALL, &a, &sa) == NIMC_OK);
  CHECK(run_on(dev80, plain, 2, 0.0, NIMC_KEEP_ALL, &b, NULL) == NIMC_OK);
  CHECK(run_on(dev25, plain, 2, 0.0, NIMC_KEEP_ALL, &c, NULL) == NIMC_OK);
  CHECK(a.nsteps == 2 && b.nsteps == 2 && c.nsteps == 2);
  for (size_t k = 0; k < 2 && k < a.nsteps && k < b.nsteps; k++)
    CHECK(same_record(&a.steps[k], &b.steps[k], 1e-9));
  /* and 80 degC is not 25 degC: the ionogel conducts better, the
   * discharge's IR drop is smaller and it lasts longer */
  if (a.nsteps == 2 && c.nsteps == 2)
    CHECK(a.steps[1].duration_s > c.steps[1].duration_s * 1.01);
  /* back at the device's temperature once the run is over */
  if (sa) CHECK(nimc_sim_model(sa)->T_K == nimc_device_temperature_K(dev25));
  nimc_sim_destroy(sa);
  nimc_result_free(&a), nimc_result_free(&b), nimc_result_free(&c);

  /* a step back at 25 degC after one at 80 degC runs as 25 degC runs from
   * the same state */
  const char *charge_hot[] = {CH " (at 80 degC)"}, *dis[] = {DIS};
  const char *both[] = {CH " (at 80 degC)", DIS};
  nimc_sim *s1 = NULL, *s2 = NULL;
  nimc_state *st = NULL;
  nimc_result r1, r2, r3;
  nimc_err err;
  CHECK(run_on(dev25, both, 2, 0.0, NIMC_KEEP_ALL, &r1, NULL) == NIMC_OK);
  CHECK(run_on(dev25, charge_hot, 1, 0.0, NIMC_KEEP_ALL, &r2, &s1) == NIMC_OK);
  CHECK(s1 && nimc_sim_get_state(s1, &st) == NIMC_OK);
  CHECK(nimc_sim_create(&s2, dev25, NULL, &err) == NIMC_OK);
  if (s2 && st) {
    nimc_experiment *exp = NULL;
    memset(&r3, 0, sizeof r3);
    CHECK(nimc_sim_set_state(s2, st) == NIMC_OK);
    CHECK(nimc_experiment_parse(&exp, dis, 1, &err) == NIMC_OK);
    CHECK(nimc_sim_run(s2, exp, &r3) == NIMC_OK);
    CHECK(r1.nsteps == 2 && r3.nsteps == 1);
    if (r1.nsteps == 2 && r3.nsteps == 1)
      CHECK(same_record(&r1.steps[1], &r3.steps[0], 1e-9));
    nimc_experiment_destroy(exp);
    nimc_result_free(&r3);
  }
  nimc_state_destroy(st);
  nimc_sim_destroy(s1), nimc_sim_destroy(s2);
  nimc_result_free(&r1), nimc_result_free(&r2);
}

/* A temperature within the plausible range but at or below the VTF T0 of
 * the ionogel (165 K) is refused before anything runs. */
static void test_temperature_refused(void) {
  const char *cold[] = {CH, "Rest for 1 s (at 160 K)"};
  nimc_experiment *exp = NULL;
  nimc_sim *sim = NULL;
  nimc_result res;
  nimc_err err;
  memset(&res, 0, sizeof res);
  CHECK(nimc_experiment_parse(&exp, cold, 2, &err) == NIMC_OK);
  CHECK(nimc_sim_create(&sim, dev25, NULL, &err) == NIMC_OK);
  if (exp && sim) {
    CHECK(nimc_sim_run(sim, exp, &res) == NIMC_EINPUT);
    CHECK_CONTAINS(nimc_sim_errmsg(sim),
                   "step 2 'Rest for 1 s (at 160 K)': temperature 160 K is "
                   "not above the VTF T0 = 165 K");
    CHECK(res.nsteps == 0 && res.series.n == 0);
  }
  nimc_experiment_destroy(exp);
  nimc_sim_destroy(sim);
  nimc_result_free(&res);
}

int main(void) {
  nimc_err err;
  if (nimc_device_load(&dev25, DEVICE, NULL, 0, &err) ||
      nimc_device_load(&dev80, DEVICE, NULL, 0, &err) ||
      nimc_device_set_temperature(dev80, 353.15, &err)) {
    fprintf(stderr, "%s\n", err.msg);
    return 1;
  }
  RUN(test_nested_is_its_expansion);
  RUN(test_period);
  RUN(test_temperature);
  RUN(test_temperature_refused);
  nimc_device_destroy(dev25);
  nimc_device_destroy(dev80);
  return TEST_REPORT();
}
