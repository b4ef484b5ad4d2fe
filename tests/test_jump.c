/*
 * test_jump.c -- cycle jumping (src/protocol/jump.c) against brute force:
 *  - 300 cycles of an ageing stack device (side reactions on both
 *    electrodes, fast enough that the capacitance falls to about a third)
 *    run cycle by cycle and with "Repeat 300 times with cycle jumping":
 *    the last cycle's capacitance retention agrees within 0.5 % (absolute),
 *    with fewer than half of the cycles simulated;
 *  - the table says which cycles ran: numbers increase, each row's
 *    skipped_before is the gap before it, the last cycle (300) is simulated
 *    and the gaps and rows add up to 300;
 *  - a jump keeps the linear invariants: after the jumped run, the
 *    electrodes' stored charges plus what the side reactions took still
 *    sum to zero, the ionic liquid's cations lost are the anode's side
 *    charge over F, and the sodium is unchanged, to round-off;
 *  - a Repeat shorter than NIMC_JUMP_MIN_CYCLES is not jumped, and the
 *    --cycle-jump option (nimc_sim_opts.cycle_jump) jumps a plain Repeat;
 *  - the words: "Repeat N times with cycle jumping:" on one line or
 *    several; anything else after "times" is refused, naming the form;
 *  - a jumping run resumed from a checkpoint taken right after a jump, or
 *    a cycle later, gives the unbroken run's cycles bit for bit;
 *  - the error control sees curvature: fed capacitances whose slope changes
 *    over a jump while the capacitance lands on the extrapolated line, the
 *    jumper takes no longer jump but starts afresh: five cycles in a row
 *    before the next jump.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/constants.h"
#include "nimc/nimc.h"
#include "protocol/experiment.h"
#include "protocol/jump.h"
#include "protocol/sim.h"
#include "testlib.h"

#define DEVICE "devices/nimc-stack.ini"

/* ageing fast enough to show in 300 cycles, by the Tafel reactions alone
 * (the materials' trapping off: the ionic liquid's cations lost are then
 * the anode's side charge) */
static const char *const SETS[] = {
    "cathode.side_reaction_trapping=0", "anode.side_reaction_trapping=0",
    "cathode.side_reaction_current=1e-6 A/m2",
    "cathode.side_reaction_potential=4.0 V",
    "cathode.side_reaction_blocking_charge=2 C/m2",
    "anode.side_reaction_current=1e-7 A/m2",
    "anode.side_reaction_potential=0.8 V",
    "anode.side_reaction_film_resistance=1e-4 ohm.m4/C",
    /* a coarser mesh than the file's: the test compares two runs */
    "mesh.anode_cells=8", "mesh.separator_cells=4", "mesh.cathode_cells=8"};
#define NSETS (sizeof SETS / sizeof SETS[0])

/* Run line on dev (jumping when jump); *sim kept for the caller. */
static int run(const nimc_device *dev, const char *line, int jump,
               nimc_result *res, nimc_sim **sim) {
  nimc_experiment *exp = NULL;
  nimc_err err;
  memset(res, 0, sizeof *res);
  *sim = NULL;
  if (nimc_experiment_parse(&exp, &line, 1, &err)) {
    fprintf(stderr, "  %s\n", err.msg);
    return -1;
  }
  nimc_sim_opts o = nimc_sim_opts_default();
  o.cycle_jump = jump;
  int rc = nimc_sim_create(sim, dev, &o, &err);
  if (!rc) {
    nimc_sinks sk = {NULL, NULL, NULL, NULL, NIMC_KEEP_CYCLES};
    nimc_sim_set_sinks(*sim, &sk);
    rc = nimc_sim_run(*sim, exp, res);
    if (rc) fprintf(stderr, "  run: %s\n", nimc_sim_errmsg(*sim));
  }
  nimc_experiment_destroy(exp);
  return rc;
}

static void test_jumping_against_brute_force(void) {
  nimc_device *dev = NULL;
  nimc_err err;
  CHECK(nimc_device_load(&dev, DEVICE, SETS, NSETS, &err) == NIMC_OK);
  if (!dev) return;
  nimc_result brute, jumped;
  nimc_sim *sb = NULL, *sj = NULL;
  CHECK(run(dev,
            "Repeat 300 times: Charge at 0.8 mA/cm2 until 3.5 V; Discharge "
            "at 0.8 mA/cm2 until 0 V",
            0, &brute, &sb) == 0);
  CHECK(run(dev,
            "Repeat 300 times with cycle jumping: Charge at 0.8 mA/cm2 "
            "until 3.5 V; Discharge at 0.8 mA/cm2 until 0 V",
            0, &jumped, &sj) == 0);
  CHECK(brute.ncycles == 300);
  if (brute.ncycles != 300 || jumped.ncycles < 2) goto done;
  const nimc_cycle_result *b = &brute.cycles[299],
                          *j = &jumped.cycles[jumped.ncycles - 1];
  fprintf(stderr,
          "  300 cycles: retention %.5f brute force, %.5f jumped (%zu cycles "
          "simulated); coulombic efficiency %.5f, %.5f\n",
          b->capacitance_retention, j->capacitance_retention, jumped.ncycles,
          b->coulombic_efficiency, j->coulombic_efficiency);
  /* the ageing is strong: the test is not of a flat line */
  CHECK(b->capacitance_retention < 0.5);
  CHECK_ABS(j->capacitance_retention, b->capacitance_retention, 0.005);
  CHECK_ABS(j->coulombic_efficiency, b->coulombic_efficiency, 0.005);
  CHECK(jumped.ncycles < 150);
  /* the table says which cycles ran */
  long rows = 0, gaps = 0;
  int prev = 0, ok = 1;
  for (size_t k = 0; k < jumped.ncycles; k++) {
    const nimc_cycle_result *c = &jumped.cycles[k];
    ok &= c->cycle == prev + 1 + c->skipped_before;
    rows++, gaps += c->skipped_before, prev = c->cycle;
  }
  CHECK(ok);
  CHECK(j->cycle == 300 && j->skipped_before == 0);
  CHECK(rows + gaps == 300 && gaps > 150);
  /* the invariants survive the jumps */
  nimc_model *m = nimc_sim_model(sj);
  const double *y = nimc_sim_state(sj);
  double *y0 = malloc(sizeof(double) * m->n), *yp0 = malloc(sizeof(double) * m->n);
  nimc_model_initial(m, y0, yp0);
  double qa = nimc_model_electrode_charge(m, 0, y),
         qc = nimc_model_electrode_charge(m, 1, y),
         sa = nimc_model_side_charge(m, 0, y),
         sc = nimc_model_side_charge(m, 1, y);
  double moved = fabs(brute.cycles[0].charge_C);
  fprintf(stderr,
          "  after the jumps: stored %.4e + %.4e C, side %.4e + %.4e C, sum "
          "%.2e C\n",
          qa, qc, sa, sc, qa + qc + sa + sc);
  CHECK(sa < 0.0 && sc > 0.0);
  CHECK_ABS(qa + qc + sa + sc, 0.0, 1e-9 * moved);
  double n0 = nimc_model_cation_inventory(m, y0),
         n1 = nimc_model_cation_inventory(m, y);
  CHECK_REL(n1, n0, 1e-9);
  double p0 = nimc_model_il_cation_inventory(m, y0),
         p1 = nimc_model_il_cation_inventory(m, y);
  CHECK_REL(p1 - sa / NIMC_F, p0, 1e-9);
  free(y0), free(yp0);
done:
  nimc_result_free(&brute), nimc_result_free(&jumped);
  nimc_sim_destroy(sb), nimc_sim_destroy(sj);
  nimc_device_destroy(dev);
}

static void test_when_it_jumps(void) {
  nimc_device *dev = NULL;
  nimc_err err;
  CHECK(nimc_device_load(&dev, DEVICE, SETS, NSETS, &err) == NIMC_OK);
  if (!dev) return;
  nimc_result res;
  nimc_sim *s = NULL;
  char line[160];
  /* too short a Repeat: every cycle runs */
  snprintf(line, sizeof line,
           "Repeat %d times with cycle jumping: Charge at 0.8 mA/cm2 until "
           "3.5 V; Discharge at 0.8 mA/cm2 until 0 V",
           NIMC_JUMP_MIN_CYCLES - 1);
  CHECK(run(dev, line, 0, &res, &s) == 0);
  CHECK(res.ncycles == (size_t)NIMC_JUMP_MIN_CYCLES - 1);
  nimc_result_free(&res), nimc_sim_destroy(s);
  /* the option jumps a plain Repeat */
  CHECK(run(dev,
            "Repeat 60 times: Charge at 0.8 mA/cm2 until 3.5 V; Discharge at "
            "0.8 mA/cm2 until 0 V",
            1, &res, &s) == 0);
  CHECK(res.ncycles < 60 && res.ncycles >= 10);
  CHECK(res.ncycles && res.cycles[res.ncycles - 1].cycle == 60);
  nimc_result_free(&res), nimc_sim_destroy(s);
  nimc_device_destroy(dev);
}

/* The experiment language: "Repeat N times with cycle jumping:", one line
 * or several (until End); anything else after "times" is refused. */
static void test_the_words(void) {
  const char *one = "Repeat 50 times with cycle jumping: Charge at 1 mA "
                    "until 3 V; Discharge at 1 mA until 1 V";
  const char *several[] = {"Repeat 50 times with cycle jumping:",
                           "Charge at 1 mA until 3 V",
                           "Discharge at 1 mA until 1 V", "End",
                           "Repeat 2 times: Rest for 1 s; Rest for 2 s"};
  nimc_experiment *x = NULL;
  nimc_err err;
  CHECK(nimc_experiment_parse(&x, &one, 1, &err) == NIMC_OK);
  CHECK(x && x->nblocks == 1 && x->blocks[0].jump == 1 &&
        x->blocks[0].repeat == 50 && x->blocks[0].nsteps == 2);
  nimc_experiment_destroy(x);
  CHECK(nimc_experiment_parse(&x, several, 5, &err) == NIMC_OK);
  CHECK(x && x->nblocks == 2 && x->blocks[0].jump == 1 &&
        x->blocks[1].jump == 0);
  nimc_experiment_destroy(x);
  const char *bad[] = {
      "Repeat 50 times with cycle: Rest for 1 s; Rest for 2 s",
      "Repeat 50 times with cycle jumping now: Rest for 1 s; Rest for 2 s",
      "Repeat 50 times jumping: Rest for 1 s; Rest for 2 s"};
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    x = NULL;
    CHECK(nimc_experiment_parse(&x, &bad[k], 1, &err) == NIMC_EINPUT);
    CHECK(x == NULL);
    CHECK_CONTAINS(err.msg, "'times with cycle jumping:'");
  }
}

/* The checkpoint callback of a jumping run: notes which boundaries came
 * right after a jump, and writes the checkpoint of boundary `at`. */
typedef struct jwriter {
  int calls, at, written, first_after_jump;
  char path[256];
} jwriter;

static int on_boundary(void *user, nimc_sim *sim, const nimc_result *res) {
  jwriter *w = user;
  w->calls++;
  const nimc_jumper *J = nimc_sim_jumper(sim);
  if (J && J->pending > 0 && !w->first_after_jump)
    w->first_after_jump = w->calls;
  if (w->calls != w->at) return 0;
  nimc_err err;
  int rc = nimc_checkpoint_write(sim, res, NULL, 0, w->path, &err);
  if (rc) fprintf(stderr, "  write: %s\n", err.msg);
  w->written = !rc;
  return rc;
}

static void test_resumed_jumping_run(void) {
  static const char *const coarse[] = {
      "mesh.anode_cells=3", "mesh.separator_cells=2", "mesh.cathode_cells=3",
      "mesh.particle_shells=3", "mesh.micropore_shells=2"};
  const char *line = "Repeat 40 times with cycle jumping: Charge at 1 mA/cm2 "
                     "until 3.5 V; Discharge at 1 mA/cm2 until 0.5 V";
  nimc_device *dev = NULL;
  nimc_err err;
  CHECK(nimc_device_load(&dev, DEVICE, coarse, 5, &err) == NIMC_OK);
  if (!dev) return;
  nimc_experiment *exp = NULL;
  CHECK(nimc_experiment_parse(&exp, &line, 1, &err) == NIMC_OK);
  nimc_sim_opts o = nimc_sim_opts_default();
  o.checkpoint_every = 1, o.checkpoint = on_boundary;
  jwriter all = {0, -1, 0, 0, ""};
  o.checkpoint_user = &all;
  nimc_sim *s = NULL;
  nimc_result u;
  memset(&u, 0, sizeof u);
  CHECK(nimc_sim_create(&s, dev, &o, &err) == NIMC_OK);
  CHECK(s && nimc_sim_run(s, exp, &u) == NIMC_OK);
  nimc_sim_destroy(s);
  CHECK(u.ncycles < 40 && all.first_after_jump > 0);
  /* right after the first jump, and a cycle later */
  for (int k = 0; k < 2 && all.first_after_jump > 0; k++) {
    jwriter w = {0, all.first_after_jump + k, 0, 0, ""};
    snprintf(w.path, sizeof w.path, "/tmp/nimc_test_jump_%d.nimc",
             (int)getpid());
    o.checkpoint_user = &w;
    nimc_result part, r;
    memset(&part, 0, sizeof part), memset(&r, 0, sizeof r);
    s = NULL;
    CHECK(nimc_sim_create(&s, dev, &o, &err) == NIMC_OK);
    CHECK(s && nimc_sim_run(s, exp, &part) == NIMC_OK && w.written);
    nimc_sim_destroy(s);
    nimc_checkpoint *ck = NULL;
    CHECK(nimc_checkpoint_read(w.path, &ck, &err) == NIMC_OK);
    o.checkpoint_user = &all;
    s = NULL;
    CHECK(nimc_sim_create(&s, dev, &o, &err) == NIMC_OK);
    int rc = s && ck ? nimc_sim_resume(s, ck, &r) : -1;
    if (!rc) rc = nimc_sim_run(s, exp, &r);
    if (rc && s) fprintf(stderr, "  resume: %s\n", nimc_sim_errmsg(s));
    CHECK(rc == NIMC_OK);
    int same = r.ncycles == u.ncycles;
    for (size_t c = 0; same && c < u.ncycles; c++)
      same &= !memcmp(&r.cycles[c], &u.cycles[c], sizeof u.cycles[c]);
    CHECK(same);
    nimc_checkpoint_destroy(ck);
    nimc_sim_destroy(s);
    nimc_result_free(&part), nimc_result_free(&r);
    remove(w.path);
  }
  nimc_result_free(&u);
  nimc_experiment_destroy(exp);
  nimc_device_destroy(dev);
}

/* Feed jumper J the capacitance cap of the cycle ending at rep (state y0
 * unchanged: no fast part, lambda 0); the cycles it skips. */
static int feed(nimc_jumper *J, const nimc_model *m, const double *y0,
                double *y, double cap, int rep) {
  double t = 100.0 * rep;
  memcpy(y, y0, sizeof(double) * (size_t)m->n);
  return nimc_jumper_after_cycle(J, m, y, &t, cap, rep, 1000);
}

static void test_error_sees_curvature(void) {
  nimc_device *dev = NULL;
  nimc_err err;
  CHECK(nimc_device_load(&dev, DEVICE, SETS, NSETS, &err) == NIMC_OK);
  if (!dev) return;
  nimc_sim *s = NULL;
  nimc_sim_opts o = nimc_sim_opts_default();
  CHECK(nimc_sim_create(&s, dev, &o, &err) == NIMC_OK);
  nimc_model *m = s ? nimc_sim_model(s) : NULL;
  nimc_jumper J;
  if (!m || nimc_jumper_init(&J, m, 1e-3)) goto done;
  double *y0 = malloc(sizeof(double) * m->n),
         *y = malloc(sizeof(double) * m->n),
         *yp = malloc(sizeof(double) * m->n);
  nimc_model_initial(m, y0, yp);
  /* five cycles on a straight line, slope -1e-4 of the first capacitance:
   * a first jump of 4 (cycles 5 to 8 skipped) */
  int n = 0;
  for (int rep = 0; rep < 5; rep++)
    n = feed(&J, m, y0, y, 1.0 - 1e-4 * rep, rep);
  CHECK(n == 4);
  /* four cycles (9 to 12) that end on the line the jump took, 1 - 1e-4 k,
   * with a slope of -2e-3: the line error is nil, the slope error
   * 16 / 2 * 1.9e-3 / 8 = 1.9 tol */
  int any = 0;
  for (int rep = 9; rep < 13; rep++)
    any |= feed(&J, m, y0, y, 1.0 - 1.2e-3 - 2e-3 * (rep - 12), rep);
  CHECK(any == 0);
  CHECK(J.jumps == 0 && J.nsim == 0 && J.last_jump == 1);
  /* started afresh: five cycles on the new line, then a first jump */
  for (int rep = 13; rep < 18; rep++)
    n = feed(&J, m, y0, y, 1.0 - 1.2e-3 - 2e-3 * (rep - 12), rep);
  CHECK(n == 4);
  free(y0), free(y), free(yp);
  nimc_jumper_free(&J);
done:
  nimc_sim_destroy(s);
  nimc_device_destroy(dev);
}

int main(void) {
  RUN(test_the_words);
  RUN(test_when_it_jumps);
  RUN(test_error_sees_curvature);
  RUN(test_resumed_jumping_run);
  RUN(test_jumping_against_brute_force);
  return TEST_REPORT();
}
