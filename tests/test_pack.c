/*
 * test_pack.c -- packs (model/pack.h) specified by what they must do:
 *  - a 1s1p pack is the cell: the same steps to the solver's tolerance;
 *  - two cells in series charge to twice the voltage in the time one
 *    takes to its voltage, at the same current (the paper's "voltage
 *    window doubles");
 *  - two strings in parallel at a current I are each cell at I/2, and at a
 *    low rate discharge twice as long as one cell at I ("current and time
 *    double");
 *  - with a spread, the cells differ, their voltages sum to the pack's and
 *    one current runs through them;
 *  - each cell conserves its charge and its cations;
 *  - the pack's analytic Jacobian equals finite differences (the checker
 *    shared with test_model);
 *  - what a pack cannot do is refused with NIMC_EINPUT.
 * The measured devices are devices/nimc-stack.ini (1D, fast).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/pack_spec.h"
#include "jacobian_check.h"
#include "model/model.h"
#include "model/pack.h"
#include "model_fixtures.h"
#include "nimc/nimc.h"
#include "protocol/sim.h"
#include "testlib.h"

#define STACK NIMC_SOURCE_DIR "/devices/nimc-stack.ini"

/* The stack device, as a pack of series x parallel when series > 0. */
static nimc_device *stack(int series, int parallel, const char *const *sets,
                          size_t nsets) {
  nimc_device *d = NULL;
  nimc_err err;
  if (nimc_device_load(&d, STACK, sets, nsets, &err)) {
    fprintf(stderr, "  %s\n", err.msg);
    return NULL;
  }
  if (series > 0 && nimc_device_set_pack(d, series, parallel, &err)) {
    fprintf(stderr, "  %s\n", err.msg);
    nimc_device_destroy(d);
    return NULL;
  }
  return d;
}

/* Run the steps on d; the simulation into *keep (or destroyed).  0 on
 * success. */
static int run(const nimc_device *d, const char *const *steps, size_t n,
               nimc_result *res, nimc_sim **keep) {
  nimc_experiment *x = NULL;
  nimc_sim *s = NULL;
  nimc_err err;
  memset(res, 0, sizeof *res);
  if (keep) *keep = NULL;
  if (!d || nimc_experiment_parse(&x, steps, n, &err)) return -1;
  int rc = nimc_sim_create(&s, d, NULL, &err);
  if (rc) fprintf(stderr, "  create: %s\n", err.msg);
  if (!rc) {
    rc = nimc_sim_run(s, x, res);
    if (rc) fprintf(stderr, "  run: %s\n", nimc_sim_errmsg(s));
  }
  nimc_experiment_destroy(x);
  if (keep)
    *keep = s;
  else
    nimc_sim_destroy(s);
  return rc;
}

/* The voltage of a series at time t within executed step `step` (linear
 * between that step's samples; NaN when t is outside them). */
static double v_at(const nimc_series *se, int step, double t) {
  for (size_t i = 1; i < se->n; i++)
    if (se->step[i] == step && se->step[i - 1] == step && se->time_s[i] >= t &&
        se->time_s[i - 1] <= t && se->time_s[i] > se->time_s[i - 1]) {
      double w = (t - se->time_s[i - 1]) / (se->time_s[i] - se->time_s[i - 1]);
      return se->voltage_V[i - 1] +
             w * (se->voltage_V[i] - se->voltage_V[i - 1]);
    }
  return NAN;
}

/* A 1s1p pack is the cell: every step's duration, charge, energy and end
 * voltage, and the voltage along the way, to the solver's tolerance. */
static void test_one_cell_pack_is_the_cell(void) {
  const char *steps[] = {"Charge at 0.3 mA/cm2 until 3.5 V",
                         "Hold at 3.5 V for 60 s", "Rest for 30 s",
                         "Discharge at 0.3 mA/cm2 until 0.5 V"};
  nimc_device *d1 = stack(0, 0, NULL, 0), *dp = stack(1, 1, NULL, 0);
  nimc_result r1, rp;
  nimc_sim *sp = NULL;
  CHECK(run(d1, steps, 4, &r1, NULL) == 0);
  CHECK(run(dp, steps, 4, &rp, &sp) == 0);
  CHECK(sp && nimc_pack_ncells(nimc_sim_model(sp)) == 1);
  CHECK(r1.nsteps == 4 && rp.nsteps == 4);
  for (size_t k = 0; k < 4 && k < r1.nsteps && k < rp.nsteps; k++) {
    const nimc_step_result *a = &r1.steps[k], *b = &rp.steps[k];
    fprintf(stderr, "  step %zu: cell %.6f s %.6e C, pack %.6f s %.6e C\n",
            k + 1, a->duration_s, a->charge_C, b->duration_s, b->charge_C);
    CHECK_ABS(b->duration_s, a->duration_s, 1e-4 * (a->duration_s + 1.0));
    CHECK_REL(b->charge_C, a->charge_C, 1e-4);
    CHECK_REL(b->energy_J, a->energy_J, 1e-4);
    CHECK_ABS(b->v_end_V, a->v_end_V, 1e-5);
    CHECK(a->end_reason == b->end_reason);
  }
  double worst = 0.0;
  size_t compared = 0;
  for (size_t i = 0; i < rp.series.n; i++) {
    double v1 = v_at(&r1.series, rp.series.step[i], rp.series.time_s[i]);
    if (isnan(v1)) continue; /* past the cell's step end by round-off */
    double dv = fabs(rp.series.voltage_V[i] - v1);
    if (dv > worst) worst = dv;
    compared++;
  }
  fprintf(stderr,
          "  worst voltage difference along the run %.2e V (%zu of %zu "
          "samples)\n",
          worst, compared, rp.series.n);
  CHECK(compared + 8 >= rp.series.n);
  /* the cell's samples interpolated linearly: a solver tolerance and the
   * interpolation's error */
  CHECK(worst < 5e-4);
  /* the same metrics, per the same footprint (one cell) */
  nimc_metrics m1, mp;
  nimc_norm norm = {nimc_device_footprint_area_m2(d1),
                    nimc_device_norm_thickness_m(d1)};
  nimc_norm normp = {nimc_device_footprint_area_m2(dp),
                     nimc_device_norm_thickness_m(dp)};
  nimc_err err;
  CHECK(normp.area_m2 == norm.area_m2);
  CHECK(nimc_metrics_gcd_result(&r1, &norm, &m1, &err) == NIMC_OK);
  CHECK(nimc_metrics_gcd_result(&rp, &normp, &mp, &err) == NIMC_OK);
  CHECK_REL(mp.capacitance_F, m1.capacitance_F, 1e-4);
  nimc_result_free(&r1), nimc_result_free(&rp);
  nimc_sim_destroy(sp);
  nimc_device_destroy(d1), nimc_device_destroy(dp);
}

/* Two cells in series at the same current reach 7.0 V in the time one
 * reaches 3.5 V; each carries the string's current and holds half. */
static void test_series_doubles_the_voltage(void) {
  const char *one[] = {"Charge at 0.1 mA/cm2 until 3.5 V"};
  const char *two[] = {"Charge at 0.1 mA/cm2 until 7.0 V"};
  nimc_device *d1 = stack(0, 0, NULL, 0), *d2 = stack(2, 1, NULL, 0);
  nimc_result r1, r2;
  nimc_sim *s2 = NULL;
  CHECK(run(d1, one, 1, &r1, NULL) == 0);
  CHECK(run(d2, two, 1, &r2, &s2) == 0);
  if (r1.nsteps == 1 && r2.nsteps == 1 && s2) {
    double t1 = r1.steps[0].duration_s, t2 = r2.steps[0].duration_s;
    fprintf(stderr,
            "  one cell to 3.5 V: %.3f s; 2s1p to 7.0 V: %.3f s "
            "(ratio %.6f)\n",
            t1, t2, t2 / t1);
    CHECK_REL(t2, t1, 0.005);
    CHECK_REL(r2.steps[0].charge_C, r1.steps[0].charge_C, 0.005);
    CHECK_ABS(r2.steps[0].v_end_V, 7.0, 1e-6);
    CHECK(r2.steps[0].end_reason == NIMC_END_VOLTAGE);
    /* twice the energy: two cells charged */
    CHECK_REL(r2.steps[0].energy_J, 2.0 * r1.steps[0].energy_J, 0.005);
    double v[2], q[2];
    CHECK(nimc_sim_pack_cells(s2, v, q, 2) == 2);
    CHECK_ABS(v[0] + v[1], 7.0, 1e-6);
    CHECK_ABS(v[0], 3.5, 1e-6);
    CHECK_REL(q[0], r2.steps[0].charge_C, 1e-9);
    CHECK_REL(q[1], r2.steps[0].charge_C, 1e-9);
  }
  nimc_result_free(&r1), nimc_result_free(&r2);
  nimc_sim_destroy(s2);
  nimc_device_destroy(d1), nimc_device_destroy(d2);
}

/* Two strings in parallel at a current I: each cell at I/2, exactly as
 * one cell at I/2; at a low rate (where the capacity does not depend on
 * the rate) twice as long as one cell at I. */
static void test_parallel_doubles_the_time(void) {
  const char *at_i[] = {"Charge at 0.1 mA/cm2 until 3.5 V",
                        "Hold at 3.5 V for 2 h",
                        "Discharge at 0.01 mA/cm2 until 1 V"};
  const char *at_half[] = {"Charge at 0.1 mA/cm2 until 3.5 V",
                           "Hold at 3.5 V for 2 h",
                           "Discharge at 0.005 mA/cm2 until 1 V"};
  nimc_device *d1 = stack(0, 0, NULL, 0), *d2 = stack(1, 2, NULL, 0);
  nimc_result r1, rh, r2;
  nimc_sim *s2 = NULL;
  CHECK(run(d1, at_i, 3, &r1, NULL) == 0);
  CHECK(run(d1, at_half, 3, &rh, NULL) == 0);
  CHECK(run(d2, at_i, 3, &r2, &s2) == 0);
  if (r1.nsteps == 3 && rh.nsteps == 3 && r2.nsteps == 3 && s2) {
    double t1 = r1.steps[2].duration_s, th = rh.steps[2].duration_s,
           t2 = r2.steps[2].duration_s;
    fprintf(stderr,
            "  discharge to 1 V: one cell at I %.2f s, at I/2 %.2f s; 1s2p "
            "at I %.2f s (ratio to one cell at I %.5f)\n",
            t1, th, t2, t2 / t1);
    CHECK_REL(t2, th, 1e-4);
    CHECK_REL(t2 / t1, 2.0, 0.005);
    CHECK_REL(r2.steps[2].charge_C, 2.0 * r1.steps[2].charge_C, 0.005);
    double v[2], q[2];
    CHECK(nimc_sim_pack_cells(s2, v, q, 2) == 2);
    CHECK_ABS(v[0], 1.0, 1e-6);
    CHECK_ABS(v[1], 1.0, 1e-6);
    CHECK_REL(q[0], q[1], 1e-6); /* identical strings share equally */
  }
  nimc_result_free(&r1), nimc_result_free(&rh), nimc_result_free(&r2);
  nimc_sim_destroy(s2);
  nimc_device_destroy(d1), nimc_device_destroy(d2);
}

/* A 2s1p with a spread of the cathode's thickness: the cells differ (the
 * thinner cathode's cell charges to a higher voltage), their voltages sum
 * to the pack's at every state, one current runs through both, and the
 * same seed gives the same pack.  Each cell conserves its charge: its
 * electrodes' charges are equal and opposite and its cathode holds the
 * charge that passed through it. */
static void test_spread_and_conservation(void) {
  const char *sets[] = {"pack.spread=cathode.thickness 10 %", "pack.seed=3",
                        "pack.series=2"};
  nimc_device *d = stack(-1, 0, sets, 3);
  CHECK(d && nimc_device_pack(d, NULL, NULL) == 2);
  const char *steps[] = {"Charge at 0.2 mA/cm2 until 6.6 V",
                         "Discharge at 0.1 mA/cm2 for 100 s"};
  nimc_result r;
  nimc_sim *s = NULL;
  CHECK(run(d, steps, 2, &r, &s) == 0);
  if (s) {
    const nimc_model *m = nimc_sim_model(s);
    const double *y = nimc_sim_state(s);
    double v[2], q[2];
    CHECK(nimc_sim_pack_cells(s, v, q, 2) == 2);
    const double *f0 = nimc_pack_factors(m, 0), *f1 = nimc_pack_factors(m, 1);
    CHECK(f0 && f1 && f0[0] != f1[0]);
    if (f0 && f1)
      fprintf(stderr,
              "  cathode thickness factors %.4f, %.4f: cells at %.4f V and "
              "%.4f V, pack %.4f V\n",
              f0[0], f1[0], v[0], v[1], y[m->iV]);
    CHECK(fabs(v[0] - v[1]) > 1e-2);
    CHECK_ABS(v[0] + v[1], y[m->iV], 1e-9);
    /* the thinner cathode holds less: its cell's voltage is higher */
    if (f0 && f1) CHECK((f0[0] < f1[0]) == (v[0] > v[1]));
    CHECK_REL(q[0], q[1], 1e-9);
    CHECK_REL(q[0], y[m->iQ], 1e-9);
    for (int k = 0; k < 2; k++) {
      int64_t b;
      const nimc_model *c = nimc_pack_cell(m, k, &b);
      double *y0 = malloc(sizeof(double) * c->n),
             *yp0 = malloc(sizeof(double) * c->n);
      nimc_model_initial(c, y0, yp0);
      double qa = nimc_model_electrode_charge(c, 0, y + b),
             qc = nimc_model_electrode_charge(c, 1, y + b);
      double n0 = nimc_model_cation_inventory(c, y0),
             n1 = nimc_model_cation_inventory(c, y + b);
      fprintf(stderr,
              "  cell %d: passed %.9e C, cathode %.9e C, anode %.9e C; "
              "cations drift %.1e\n",
              k + 1, y[b + c->iQ], qc, qa, (n1 - n0) / n0);
      /* (the shipped device has no leakage: all charge passed is stored,
       * or taken by the side reactions, ageing) */
      double sa = nimc_model_side_charge(c, 0, y + b),
             sc = nimc_model_side_charge(c, 1, y + b);
      CHECK_ABS(qa + qc + sa + sc, 0.0, 1e-9 * fabs(q[k]));
      CHECK_REL(qc + sc, y[b + c->iQ], 1e-6);
      CHECK_REL(n1, n0, 1e-10);
      free(y0), free(yp0);
    }
    /* the same seed, the same cells; another seed, others */
    nimc_device *d2 = stack(-1, 0, sets, 3);
    nimc_sim *s2 = NULL;
    nimc_err err;
    CHECK(d2 && nimc_sim_create(&s2, d2, NULL, &err) == NIMC_OK);
    if (s2 && f0) CHECK(nimc_pack_factors(nimc_sim_model(s2), 0)[0] == f0[0]);
    nimc_sim_destroy(s2);
    nimc_device_destroy(d2);
    const char *sets2[] = {"pack.spread=cathode.thickness 10 %", "pack.seed=4",
                           "pack.series=2"};
    d2 = stack(-1, 0, sets2, 3);
    s2 = NULL;
    CHECK(d2 && nimc_sim_create(&s2, d2, NULL, &err) == NIMC_OK);
    if (s2 && f0) CHECK(nimc_pack_factors(nimc_sim_model(s2), 0)[0] != f0[0]);
    nimc_sim_destroy(s2);
    nimc_device_destroy(d2);
  }
  nimc_result_free(&r);
  nimc_sim_destroy(s);
  nimc_device_destroy(d);
}

/* The Jacobian of a 2s2p pack of small fixture cells, with a spread, under
 * every kind of control, against finite differences. */
static void test_pack_jacobian(void) {
  nimc_device d;
  fx_full_device(&d);
  /* the mesh of test_model's Jacobian test */
  d.mesh.anode_cells = 4, d.mesh.separator_cells = 3, d.mesh.cathode_cells = 4;
  d.mesh.particle_shells = 4;
  d.mesh.grading = 2.0;
  d.pack.given = 1, d.pack.series = 2, d.pack.parallel = 2, d.pack.seed = 5;
  d.pack.nspread = 1;
  d.pack.spread[0].param = 7; /* cathode.thickness */
  d.pack.spread[0].rel = 0.1;
  CHECK(!strcmp(nimc_pack_spread_key(7), "cathode.thickness"));
  nimc_model *m = NULL;
  nimc_err err;
  CHECK(nimc_pack_create(&m, &d, &err) == NIMC_OK);
  if (!m) {
    fx_free_device(&d);
    return;
  }
  int64_t n = m->n;
  double *y = malloc(sizeof(double) * n), *yp = malloc(sizeof(double) * n);
  double *F = malloc(sizeof(double) * n), *J = malloc(sizeof(double) * m->nnz);
  static const nimc_control_kind modes[] = {
      NIMC_CONTROL_CURRENT, NIMC_CONTROL_VOLTAGE, NIMC_CONTROL_SWEEP,
      NIMC_CONTROL_POWER, NIMC_CONTROL_RESISTANCE};
  for (int mode = 0; mode < 5; mode++) {
    nimc_control c = {.kind = modes[mode],
                      .i_set_A = 2e-5,
                      .v_set_V = 1.0,
                      .sweep_rate_V_s = 0.01,
                      .p_set_W = -3e-5,
                      .r_load_ohm = 2e3};
    CHECK(nimc_model_set_control(m, &c) == NIMC_OK);
    nimc_model_initial(m, y, yp);
    for (int k = 0; k < 4; k++) {
      int64_t b;
      const nimc_model *cell = nimc_pack_cell(m, k, &b);
      jac_random_state(cell, 7u + (unsigned)(mode % 3), y + b, yp + b);
    }
    unsigned seed = 99u + (unsigned)mode;
    y[m->iV] = 2.0 + jac_urand(&seed),
    y[m->iI] = 1e-4 * (jac_urand(&seed) - 0.5);
    yp[m->iQ] = 1e-5 * jac_urand(&seed);
    CHECK(nimc_model_eval(m, 3.0, y, yp, F, 37.0, J) == 0);
    char label[64];
    snprintf(label, sizeof label, "pack, control %d:", mode);
    long outside = 0;
    double worst = 0.0;
    long bad = jac_check_fd(m, 3.0, y, yp, 37.0, J, label, &outside, &worst);
    fprintf(stderr,
            "  2s2p, control %d: worst relative Jacobian error %.2e, %ld "
            "unknowns, %ld nonzeros\n",
            mode, worst, (long)n, (long)m->nnz);
    CHECK(bad == 0);
    CHECK(outside == 0);
    /* the split Jacobians of the impedance agree with the combined one */
    double *G = malloc(sizeof(double) * m->nnz),
           *C = malloc(sizeof(double) * m->nnz);
    CHECK(nimc_model_jacobians(m, 3.0, y, yp, F, G, C) == 0);
    double dmax = 0.0;
    for (int64_t k = 0; k < m->nnz; k++) {
      double dd = fabs(G[k] + 37.0 * C[k] - J[k]) / (fabs(J[k]) + 1e-300);
      if (fabs(J[k]) > 1e-12 && dd > dmax) dmax = dd;
    }
    CHECK(dmax < 1e-9);
    free(G), free(C);
  }
  free(y), free(yp), free(F), free(J);
  nimc_model_destroy(m);
  fx_free_device(&d);
}

/* What a pack cannot do is refused, not crashed: the fields (one map per
 * cell's mesh) and the frequency-domain impedance. */
static void test_refusals(void) {
  nimc_device *d = stack(2, 1, NULL, 0);
  nimc_sim *s = NULL;
  nimc_err err;
  CHECK(d && nimc_sim_create(&s, d, NULL, &err) == NIMC_OK);
  if (s) {
    nimc_fields f;
    CHECK(nimc_sim_fields(s, &f) == NIMC_EINPUT);
    CHECK_CONTAINS(nimc_sim_errmsg(s), "fields of a pack");
    double freq = 1.0;
    nimc_spectrum sp;
    CHECK(nimc_sim_impedance(s, &freq, 1, &sp, NULL) == NIMC_EINPUT);
    CHECK_CONTAINS(nimc_sim_errmsg(s), "impedance of a pack");
    /* a spread that leaves a porosity's range names the cell */
  }
  nimc_sim_destroy(s);
  nimc_device_destroy(d);
  const char *sets[] = {"pack.series=8", "pack.seed=1",
                        "pack.spread=cathode.porosity 50 %"};
  d = stack(-1, 0, sets, 3);
  s = NULL;
  CHECK(d && nimc_sim_create(&s, d, NULL, &err) == NIMC_EINPUT);
  CHECK(s == NULL);
  CHECK_CONTAINS(err.msg, "'s cathode.porosity is");
  CHECK_CONTAINS(err.msg, "outside (0, 1)");
  nimc_device_destroy(d);
}

int main(void) {
  RUN(test_one_cell_pack_is_the_cell);
  RUN(test_series_doubles_the_voltage);
  RUN(test_parallel_doubles_the_time);
  RUN(test_spread_and_conservation);
  RUN(test_pack_jacobian);
  RUN(test_refusals);
  return TEST_REPORT();
}
