/*
 * test_state.c -- the state of a simulation taken, written, read and put
 * back (nimc_sim_get_state, nimc_state_write, nimc_state_read,
 * nimc_sim_set_state):
 *  - on the stack device, experiment A then B run straight gives the same
 *    B (step records, samples, final unknowns) as A, its state written to
 *    a file, read into a fresh simulation of the same device, then B;
 *  - the file gives back the same bits it was written from;
 *  - a state of a device with another number of unknowns is refused with
 *    NIMC_EINPUT naming the file, and leaves the simulation as it was;
 *  - a file that is not a state, of another version, cut short, or with a
 *    bad number is refused with NIMC_EINPUT naming the file and the line;
 *  - a state put back into the simulation it was taken from goes on as in
 *    a new simulation: the same records bit for bit and the same solver
 *    work (the factorisation kept across steps is dropped).
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/model.h"
#include "nimc/nimc.h"
#include "protocol/sim.h"
#include "testlib.h"

#define DEVICE "devices/nimc-stack.ini"

/* A (ends under a voltage control, a hold) and B (a discharge, a rest and
 * a charge cut by time, so that B's own times matter). */
static const char *const A[] = {"Charge at 1 mA/cm2 until 3.5 V",
                                "Hold at 3.5 V for 30 s"};
static const char *const B[] = {"Discharge at 1 mA/cm2 until 1 V",
                                "Rest for 20 s",
                                "Charge at 0.5 mA/cm2 for 40 s"};

static char tmpdir[256];

static void path_in_tmp(char *out, size_t len, const char *name) {
  snprintf(out, len, "%s/%s", tmpdir, name);
}

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (!f) return;
  fputs(text, f);
  fclose(f);
}

/* Run the steps on sim into res; the status. */
static int run_lines(nimc_sim *sim, const char *const *lines, size_t n,
                     nimc_result *res) {
  nimc_experiment *exp = NULL;
  nimc_err err;
  int rc = nimc_experiment_parse(&exp, lines, n, &err);
  if (!rc) rc = nimc_sim_run(sim, exp, res);
  if (rc) fprintf(stderr, "  run: %s %s\n", err.msg, nimc_sim_errmsg(sim));
  nimc_experiment_destroy(exp);
  return rc;
}

static void test_checkpoint_gives_the_same_b(void) {
  nimc_device *dev = NULL;
  nimc_err err;
  CHECK(nimc_device_load(&dev, DEVICE, NULL, 0, &err) == NIMC_OK);
  if (!dev) return;
  nimc_sim *straight = NULL, *first = NULL, *second = NULL;
  CHECK(nimc_sim_create(&straight, dev, NULL, &err) == NIMC_OK);
  CHECK(nimc_sim_create(&first, dev, NULL, &err) == NIMC_OK);
  CHECK(nimc_sim_create(&second, dev, NULL, &err) == NIMC_OK);
  if (!straight || !first || !second) goto done;

  /* straight: A then B in one simulation */
  nimc_result ra, rb, r1, r2;
  memset(&ra, 0, sizeof ra), memset(&rb, 0, sizeof rb);
  memset(&r1, 0, sizeof r1), memset(&r2, 0, sizeof r2);
  CHECK(run_lines(straight, A, 2, &ra) == NIMC_OK);
  CHECK(run_lines(straight, B, 3, &rb) == NIMC_OK);

  /* A, its state through a file, B in a fresh simulation */
  CHECK(run_lines(first, A, 2, &r1) == NIMC_OK);
  nimc_state *st = NULL, *back = NULL;
  CHECK(nimc_sim_get_state(first, &st) == NIMC_OK);
  char path[512];
  path_in_tmp(path, sizeof path, "a.state");
  CHECK(st && nimc_state_write(st, path, &err) == NIMC_OK);
  CHECK(nimc_state_read(path, &back, &err) == NIMC_OK);
  if (!back) fprintf(stderr, "  read: %s\n", err.msg);
  CHECK(back && nimc_state_unknowns(back) == nimc_state_unknowns(st));
  CHECK(back && nimc_state_time_s(back) == nimc_state_time_s(st));
  CHECK(back && nimc_sim_set_state(second, back) == NIMC_OK);
  /* the same bits as the state written, control and time included */
  const nimc_model *m1 = nimc_sim_model(first), *m2 = nimc_sim_model(second);
  size_t n = (size_t)m1->n;
  CHECK(!memcmp(nimc_sim_state(first), nimc_sim_state(second),
                n * sizeof(double)));
  CHECK(!memcmp(nimc_sim_state_dot(first), nimc_sim_state_dot(second),
                n * sizeof(double)));
  nimc_control c1 = nimc_model_get_control(m1), c2 = nimc_model_get_control(m2);
  CHECK(c2.kind == NIMC_CONTROL_VOLTAGE && c1.kind == c2.kind &&
        c1.v_set_V == c2.v_set_V && c1.t0_s == c2.t0_s);
  CHECK(nimc_sim_time(second) == nimc_sim_time(first));
  CHECK(run_lines(second, B, 3, &r2) == NIMC_OK);

  /* B the same: records (index counts on from A's), samples, end state */
  CHECK(r2.nsteps == rb.nsteps && rb.nsteps == 3);
  for (size_t k = 0; k < r2.nsteps && k < rb.nsteps; k++) {
    const nimc_step_result *p = &rb.steps[k], *q = &r2.steps[k];
    CHECK(p->index == q->index && p->index == (int)(2 + k));
    CHECK(p->end_reason == q->end_reason);
    CHECK_REL(q->duration_s, p->duration_s, 1e-6);
    CHECK_REL(q->charge_C, p->charge_C, 1e-6);
    CHECK_REL(q->energy_J, p->energy_J, 1e-6);
    CHECK_ABS(q->v_start_V, p->v_start_V, 1e-6);
    CHECK_ABS(q->v_end_V, p->v_end_V, 1e-6);
  }
  CHECK(r2.series.n > 10 && rb.series.n > 10);
  if (r2.series.n && rb.series.n) {
    CHECK_REL(r2.series.time_s[0], rb.series.time_s[0], 1e-12);
    CHECK_REL(r2.series.time_s[r2.series.n - 1],
              rb.series.time_s[rb.series.n - 1], 1e-6);
    CHECK_ABS(r2.series.voltage_V[r2.series.n - 1],
              rb.series.voltage_V[rb.series.n - 1], 1e-6);
  }
  const double *ys = nimc_sim_state(straight), *y2 = nimc_sim_state(second);
  CHECK_REL(y2[m2->iQ], ys[m2->iQ], 1e-6);
  CHECK_REL(y2[m2->iE], ys[m2->iE], 1e-6);
  fprintf(stderr,
          "  B straight and from the file: %zu and %zu samples, discharge "
          "%.12g and %.12g C, end %.12g and %.12g V\n",
          rb.series.n, r2.series.n, rb.nsteps ? rb.steps[0].charge_C : NAN,
          r2.nsteps ? r2.steps[0].charge_C : NAN,
          rb.nsteps ? rb.steps[rb.nsteps - 1].v_end_V : NAN,
          r2.nsteps ? r2.steps[r2.nsteps - 1].v_end_V : NAN);
  unlink(path);
  nimc_state_destroy(st);
  nimc_state_destroy(back);
  nimc_result_free(&ra), nimc_result_free(&rb);
  nimc_result_free(&r1), nimc_result_free(&r2);
done:
  nimc_sim_destroy(straight), nimc_sim_destroy(first), nimc_sim_destroy(second);
  nimc_device_destroy(dev);
}

/* A state of the stack device does not go into one with another mesh. */
static void test_other_device_refused(void) {
  nimc_device *dev = NULL, *other = NULL;
  nimc_err err;
  const char *sets[] = {"mesh.anode_cells=21"};
  CHECK(nimc_device_load(&dev, DEVICE, NULL, 0, &err) == NIMC_OK);
  CHECK(nimc_device_load(&other, DEVICE, sets, 1, &err) == NIMC_OK);
  nimc_sim *a = NULL, *b = NULL;
  if (dev) CHECK(nimc_sim_create(&a, dev, NULL, &err) == NIMC_OK);
  if (other) CHECK(nimc_sim_create(&b, other, NULL, &err) == NIMC_OK);
  if (!a || !b) goto done;
  nimc_state *st = NULL, *back = NULL;
  char path[512];
  path_in_tmp(path, sizeof path, "stack.state");
  CHECK(nimc_sim_get_state(a, &st) == NIMC_OK);
  CHECK(st && nimc_state_write(st, path, &err) == NIMC_OK);
  CHECK(nimc_state_read(path, &back, &err) == NIMC_OK);
  double t0 = nimc_sim_time(b), v0 = nimc_sim_state(b)[nimc_sim_model(b)->iV];
  CHECK(back && nimc_sim_set_state(b, back) == NIMC_EINPUT);
  CHECK_CONTAINS(nimc_sim_errmsg(b), path);
  CHECK_CONTAINS(nimc_sim_errmsg(b), "unknowns");
  CHECK(nimc_sim_time(b) == t0 &&
        nimc_sim_state(b)[nimc_sim_model(b)->iV] == v0);
  /* the one read from memory names no file, still refused */
  CHECK(nimc_sim_set_state(b, st) == NIMC_EINPUT);
  unlink(path);
  nimc_state_destroy(st);
  nimc_state_destroy(back);
done:
  nimc_sim_destroy(a), nimc_sim_destroy(b);
  nimc_device_destroy(dev), nimc_device_destroy(other);
}

/* Bad files, each refused with the file and the line. */
static void test_bad_files(void) {
  char path[512];
  path_in_tmp(path, sizeof path, "bad.state");
  const char *head = "nimc-state 2\n"
                     "device x\n"
                     "unknowns 2\n"
                     "time_s 0x1p+0\n"
                     "steps_done 3\n"
                     "control_kind 0\n"
                     "control_i_set_A 0x0p+0\n"
                     "control_v_set_V 0x0p+0\n"
                     "control_sweep_rate_V_s 0x0p+0\n"
                     "control_t0_s 0x0p+0\n"
                     "control_sine_amplitude 0x0p+0\n"
                     "control_sine_omega_rad_s 0x0p+0\n"
                     "control_p_set_W 0x0p+0\n"
                     "control_r_load_ohm 0x0p+0\n"
                     "values\n";
  char text[2048];
  const struct {
    const char *tail, *needle;
    int prefix; /* 0: the text alone; 1: head + tail */
  } cases[] = {
      {"1 2\n3 4\nend\n", NULL, 1}, /* good: decimal numbers are read too */
      {"hello\n", ":1: not a nimc state file", 0},
      {"nimc-state 1\n", ":1: state file version '1'", 0},
      {"nimc-state 4\n", ":1: state file version '4'", 0},
      {"1 2\n3 4\n", "without its 'end'", 1},
      {"1 2\nend\n", ":17: 1 values of y and y'", 1},
      {"1 2\n3 4\n5 6\nend\n", ":18: more values", 1},
      {"1 2\n3 nan\nend\n", ":17: expected two finite real numbers", 1},
      {"1 2\n3 4 5\nend\n", ":17: expected two finite", 1},
      {"1 2\n3 4\nend\nmore\n", ":19: expected nothing after 'end'", 1},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    snprintf(text, sizeof text, "%s%s", cases[k].prefix ? head : "",
             cases[k].tail);
    write_text(path, text);
    nimc_state *st = NULL;
    nimc_err err;
    int rc = nimc_state_read(path, &st, &err);
    if (!cases[k].needle) {
      CHECK(rc == NIMC_OK && st && nimc_state_unknowns(st) == 2 &&
            nimc_state_time_s(st) == 1.0);
    } else {
      CHECK(rc == NIMC_EINPUT && !st);
      if (rc) {
        CHECK_CONTAINS(err.msg, path);
        CHECK_CONTAINS(err.msg, cases[k].needle);
      }
    }
    nimc_state_destroy(st);
  }
  /* header errors: a key twice, an unknown key, a key missing */
  const struct {
    const char *from, *to, *needle;
  } edits[] = {
      {"steps_done 3\n", "steps_done 3\nsteps_done 4\n",
       ":6: 'steps_done' is given twice"},
      {"device x\n", "colour blue\n", ":2: expected a key of a state file"},
      {"time_s 0x1p+0\n", "", "lacks 'time_s'"},
      {"unknowns 2\n", "unknowns -2\n", ":3: expected the number of unknowns"},
      {"time_s 0x1p+0\n", "time_s 1e999\n", ":4: expected one finite real"},
  };
  for (size_t k = 0; k < sizeof edits / sizeof edits[0]; k++) {
    const char *at = strstr(head, edits[k].from);
    snprintf(text, sizeof text, "%.*s%s%s1 2\n3 4\nend\n", (int)(at - head),
             head, edits[k].to, at + strlen(edits[k].from));
    write_text(path, text);
    nimc_state *st = NULL;
    nimc_err err;
    CHECK(nimc_state_read(path, &st, &err) == NIMC_EINPUT && !st);
    CHECK_CONTAINS(err.msg, edits[k].needle);
    nimc_state_destroy(st);
  }
  /* version 3 adds the LED's control: required there, not in version 2
   * (the head above, read as good) */
  const char *led = "control_led_forward_current_A 0x1p-10\n"
                    "control_led_forward_voltage_V 0x1.cp+0\n"
                    "control_led_slope_V 0x1p-4\n"
                    "control_led_series_ohm 0x1p+6\n";
  const char *vals = strstr(head, "values\n");
  for (int with = 0; with < 2; with++) {
    snprintf(text, sizeof text, "nimc-state 3\n%.*s%s%s1 2\n3 4\nend\n",
             (int)(vals - head - 13), head + 13, with ? led : "", vals);
    write_text(path, text);
    nimc_state *st = NULL;
    nimc_err err;
    int rc = nimc_state_read(path, &st, &err);
    if (with) {
      CHECK(rc == NIMC_OK && st && nimc_state_unknowns(st) == 2);
    } else {
      CHECK(rc == NIMC_EINPUT && !st);
      CHECK_CONTAINS(err.msg, "lacks 'control_led_forward_current_A'");
    }
    nimc_state_destroy(st);
  }
  nimc_state *st = NULL;
  nimc_err err;
  path_in_tmp(path, sizeof path, "absent.state");
  CHECK(nimc_state_read(path, &st, &err) == NIMC_EIO && !st);
  CHECK_CONTAINS(err.msg, path);
  path_in_tmp(path, sizeof path, "bad.state");
  unlink(path);
}

/* A state put back into a simulation that ran goes on exactly as a new
 * simulation given it: nothing kept from before (the KLU pivots) shows. */
static void test_set_state_forgets(void) {
  nimc_device *dev = NULL;
  nimc_err err;
  CHECK(nimc_device_load(&dev, DEVICE, NULL, 0, &err) == NIMC_OK);
  if (!dev) return;
  nimc_sim *ran = NULL, *fresh = NULL;
  nimc_result ra, rb, rc;
  memset(&ra, 0, sizeof ra), memset(&rb, 0, sizeof rb);
  memset(&rc, 0, sizeof rc);
  nimc_state *st = NULL;
  CHECK(nimc_sim_create(&ran, dev, NULL, &err) == NIMC_OK);
  CHECK(nimc_sim_create(&fresh, dev, NULL, &err) == NIMC_OK);
  if (!ran || !fresh) goto done;
  CHECK(run_lines(ran, A, 2, &ra) == NIMC_OK);
  CHECK(nimc_sim_get_state(ran, &st) == NIMC_OK);
  CHECK(st && nimc_sim_set_state(ran, st) == NIMC_OK);
  CHECK(st && nimc_sim_set_state(fresh, st) == NIMC_OK);
  nimc_solver_stats s0 = nimc_sim_stats(ran);
  CHECK(run_lines(ran, B, 3, &rb) == NIMC_OK);
  CHECK(run_lines(fresh, B, 3, &rc) == NIMC_OK);
  nimc_solver_stats s1 = nimc_sim_stats(ran), sf = nimc_sim_stats(fresh);
  CHECK(rb.nsteps == 3 && rc.nsteps == 3 && rb.series.n == rc.series.n);
  for (size_t k = 0; k < rb.nsteps && k < rc.nsteps; k++)
    CHECK(!memcmp(&rb.steps[k], &rc.steps[k], sizeof rb.steps[k]));
  CHECK(s1.steps - s0.steps == sf.steps &&
        s1.full_factorizations - s0.full_factorizations ==
            sf.full_factorizations &&
        s1.refactorizations - s0.refactorizations == sf.refactorizations);
  fprintf(stderr,
          "  B after the state put back: %ld steps, %ld fresh factorisations "
          "and %ld refactorisations (a new simulation: %ld, %ld, %ld)\n",
          s1.steps - s0.steps, s1.full_factorizations - s0.full_factorizations,
          s1.refactorizations - s0.refactorizations, sf.steps,
          sf.full_factorizations, sf.refactorizations);
done:
  nimc_state_destroy(st);
  nimc_result_free(&ra), nimc_result_free(&rb), nimc_result_free(&rc);
  nimc_sim_destroy(ran), nimc_sim_destroy(fresh);
  nimc_device_destroy(dev);
}

int main(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/nimc-test-state.XXXXXX");
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 1;
  }
  RUN(test_checkpoint_gives_the_same_b);
  RUN(test_other_device_refused);
  RUN(test_bad_files);
  RUN(test_set_state_forgets);
  rmdir(tmpdir);
  return TEST_REPORT();
}
