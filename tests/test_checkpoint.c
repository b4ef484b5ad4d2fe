/*
 * test_checkpoint.c -- a run's checkpoint written at a boundary, read back
 * and continued in a new simulation (nimc_checkpoint_write,
 * nimc_checkpoint_read, nimc_sim_resume):
 *  - on the stack device, an experiment with nested Repeats, steps with
 *    their own period and temperature, run unbroken with a checkpoint at
 *    every boundary, and the same run continued from the checkpoint of
 *    each of several boundaries in a new simulation, give the same step
 *    records, cycle summaries, samples and solver counters, bit for bit;
 *  - the position is checked: a checkpoint continued with another
 *    experiment is refused (NIMC_EINPUT, "another experiment");
 *  - the caller's meta lines come back verbatim, a meta line with a
 *    newline is refused; a finished run's checkpoint says so and is not
 *    resumed (NIMC_EMISUSE);
 *  - a file cut short (at 300 places), of another version or with a bad
 *    number is refused with NIMC_EINPUT naming the file and the line.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nimc/nimc.h"
#include "testlib.h"

#define DEVICE "devices/nimc-stack.ini"

/* 12 steps, 4 cycles (an iteration of the inner Repeat), 8 boundaries (the
 * cycles, the steps outside them) */
static const char *const EXP[] = {
    "Rest for 2 s (0.5 s period)",
    "Repeat 2 times:",
    "Repeat 2 times: Charge at 1 mA/cm2 until 3.5 V; Discharge at 1 mA/cm2 "
    "until 0.5 V (at 40 degC)",
    "Rest for 5 s (1 s period)",
    "End",
    "Charge at 1 mA/cm2 until 3 V"};
#define NEXP (sizeof EXP / sizeof EXP[0])
#define NBOUNDARIES 8

static const char *const META[] = {"arg -o some dir", "path C:\\tmp\\x y",
                                   "# not a comment here", ""};
#define NMETA (sizeof META / sizeof META[0])

static char tmpdir[256];

/* The checkpoint callback: writes the checkpoint of boundary `at` (1-based)
 * to path. */
typedef struct writer {
  int calls, at, written;
  char path[512];
} writer;

static int on_boundary(void *user, nimc_sim *sim, const nimc_result *res) {
  writer *w = user;
  if (++w->calls != w->at) return 0;
  nimc_err err;
  int rc = nimc_checkpoint_write(sim, res, META, NMETA, w->path, &err);
  if (rc) fprintf(stderr, "  write: %s\n", err.msg);
  w->written = !rc;
  return rc;
}

static int run_exp(nimc_sim *sim, const char *const *lines, size_t n,
                   nimc_result *res) {
  nimc_experiment *exp = NULL;
  nimc_err err;
  int rc = nimc_experiment_parse(&exp, lines, n, &err);
  if (rc) fprintf(stderr, "  parse: %s\n", err.msg);
  if (!rc) rc = nimc_sim_run(sim, exp, res);
  nimc_experiment_destroy(exp);
  return rc;
}

static int same_result(const nimc_result *a, const nimc_result *b) {
  const nimc_series *p = &a->series, *q = &b->series;
  int same = a->nsteps == b->nsteps && a->ncycles == b->ncycles &&
             a->nwarnings == b->nwarnings && p->n == q->n;
  if (!same) return 0;
  for (size_t k = 0; k < a->nsteps; k++)
    same &= !memcmp(&a->steps[k], &b->steps[k], sizeof a->steps[k]);
  for (size_t k = 0; k < a->ncycles; k++)
    same &= !memcmp(&a->cycles[k], &b->cycles[k], sizeof a->cycles[k]);
  same &= !memcmp(p->time_s, q->time_s, p->n * sizeof(double)) &&
          !memcmp(p->voltage_V, q->voltage_V, p->n * sizeof(double)) &&
          !memcmp(p->current_A, q->current_A, p->n * sizeof(double)) &&
          !memcmp(p->step, q->step, p->n * sizeof(int));
  return same;
}

static void test_resumed_runs_are_the_unbroken_one(void) {
  nimc_device *dev = NULL;
  nimc_err err;
  CHECK(nimc_device_load(&dev, DEVICE, NULL, 0, &err) == NIMC_OK);
  if (!dev) return;
  nimc_sim_opts o = nimc_sim_opts_default();
  o.checkpoint_every = 1;
  o.checkpoint = on_boundary;
  writer none = {0, -1, 0, ""};
  o.checkpoint_user = &none;
  nimc_sim *sim = NULL;
  nimc_result u;
  memset(&u, 0, sizeof u);
  CHECK(nimc_sim_create(&sim, dev, &o, &err) == NIMC_OK);
  CHECK(sim && run_exp(sim, EXP, NEXP, &u) == NIMC_OK);
  CHECK(none.calls == NBOUNDARIES && u.nsteps == 12 && u.ncycles == 4);
  nimc_solver_stats su = nimc_sim_stats(sim);
  nimc_sim_destroy(sim);
  /* from the first boundary (the rest), a cycle inside the outer Repeat,
   * its end, the last but one */
  const int at[] = {1, 2, 4, 5};
  for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
    writer w = {0, at[i], 0, ""};
    snprintf(w.path, sizeof w.path, "%s/c%d.nimc", tmpdir, at[i]);
    o.checkpoint_user = &w;
    nimc_result part, r;
    memset(&part, 0, sizeof part), memset(&r, 0, sizeof r);
    sim = NULL;
    CHECK(nimc_sim_create(&sim, dev, &o, &err) == NIMC_OK);
    CHECK(sim && run_exp(sim, EXP, NEXP, &part) == NIMC_OK && w.written);
    nimc_sim_destroy(sim);
    /* a new simulation, the checkpoint put in, the same experiment */
    nimc_checkpoint *ck = NULL;
    int rc = nimc_checkpoint_read(w.path, &ck, &err);
    if (rc) fprintf(stderr, "  read: %s\n", err.msg);
    CHECK(rc == NIMC_OK && !nimc_checkpoint_finished(ck, NULL));
    o.checkpoint_user = &none;
    sim = NULL;
    CHECK(nimc_sim_create(&sim, dev, &o, &err) == NIMC_OK);
    CHECK(ck && sim && nimc_sim_resume(sim, ck, &r) == NIMC_OK);
    CHECK(r.nsteps < u.nsteps); /* the part before the checkpoint */
    CHECK(sim && run_exp(sim, EXP, NEXP, &r) == NIMC_OK);
    CHECK(same_result(&u, &r));
    nimc_solver_stats sr = nimc_sim_stats(sim);
    CHECK(!memcmp(&sr, &su, sizeof sr));
    fprintf(stderr,
            "  from boundary %d: %zu steps, %zu samples, %ld solver steps and "
            "%ld fresh factorisations (unbroken: %zu, %zu, %ld, %ld)\n",
            at[i], r.nsteps, r.series.n, sr.steps, sr.full_factorizations,
            u.nsteps, u.series.n, su.steps, su.full_factorizations);
    /* the meta lines, verbatim */
    long line = 0;
    for (size_t k = 0; k < NMETA; k++) {
      const char *m = nimc_checkpoint_meta(ck, k, &line);
      CHECK(m && !strcmp(m, META[k]) && line == 6 + (long)k);
    }
    CHECK(!nimc_checkpoint_meta(ck, NMETA, NULL));
    /* the position checked: another experiment is refused */
    if (at[i] == 2) {
      nimc_sim *other = NULL;
      nimc_result ro;
      memset(&ro, 0, sizeof ro);
      const char *const EXP2[] = {"Rest for 2 s (0.5 s period)",
                                  "Repeat 3 times: Charge at 1 mA/cm2 until "
                                  "3.5 V; Discharge at 1 mA/cm2 until 0.5 V"};
      CHECK(nimc_sim_create(&other, dev, &o, &err) == NIMC_OK);
      CHECK(other && nimc_sim_resume(other, ck, &ro) == NIMC_OK);
      CHECK(other && run_exp(other, EXP2, 2, &ro) == NIMC_EINPUT &&
            strstr(nimc_sim_errmsg(other), "another experiment"));
      nimc_sim_destroy(other);
      nimc_result_free(&ro);
    }
    unlink(w.path);
    nimc_checkpoint_destroy(ck);
    nimc_sim_destroy(sim);
    nimc_result_free(&part), nimc_result_free(&r);
  }
  nimc_result_free(&u);
  nimc_device_destroy(dev);
}

static void test_finished_and_meta(void) {
  char path[512];
  snprintf(path, sizeof path, "%s/finished.nimc", tmpdir);
  nimc_err err;
  CHECK(nimc_checkpoint_write_finished(META, NMETA, 1, path, &err) == NIMC_OK);
  nimc_checkpoint *ck = NULL;
  CHECK(nimc_checkpoint_read(path, &ck, &err) == NIMC_OK);
  int status = 0;
  CHECK(nimc_checkpoint_finished(ck, &status) == 1 && status == 1);
  CHECK(ck && !strcmp(nimc_checkpoint_meta(ck, 1, NULL), META[1]));
  nimc_device *dev = NULL;
  nimc_sim *sim = NULL;
  nimc_result r;
  memset(&r, 0, sizeof r);
  CHECK(nimc_device_load(&dev, DEVICE, NULL, 0, &err) == NIMC_OK);
  CHECK(dev && nimc_sim_create(&sim, dev, NULL, &err) == NIMC_OK);
  CHECK(sim && nimc_sim_resume(sim, ck, &r) == NIMC_EMISUSE &&
        strstr(nimc_sim_errmsg(sim), "finished"));
  const char *bad[] = {"two\nlines"};
  CHECK(nimc_checkpoint_write_finished(bad, 1, 0, path, &err) == NIMC_EMISUSE);
  unlink(path);
  nimc_checkpoint_destroy(ck);
  nimc_sim_destroy(sim);
  nimc_device_destroy(dev);
}

/* text with line `line` (1-based) replaced by repl, or cut after it
 * (repl NULL) */
static void write_edited(const char *path, const char *text, int line,
                         const char *repl) {
  FILE *f = fopen(path, "w");
  if (!f) return;
  int l = 1;
  for (const char *p = text; *p; p++) {
    if (l == line && repl) {
      fputs(repl, f);
      fputc('\n', f);
      while (*p && *p != '\n')
        p++;
      l++;
      if (!*p) break;
      continue;
    }
    fputc(*p, f);
    if (*p == '\n' && l++ == line && !repl) break;
  }
  fclose(f);
}

static void test_bad_files(void) {
  nimc_device *dev = NULL;
  nimc_err err;
  CHECK(nimc_device_load(&dev, DEVICE, NULL, 0, &err) == NIMC_OK);
  if (!dev) return;
  nimc_sim_opts o = nimc_sim_opts_default();
  writer w = {0, 1, 0, ""};
  snprintf(w.path, sizeof w.path, "%s/good.nimc", tmpdir);
  o.checkpoint_every = 1, o.checkpoint = on_boundary, o.checkpoint_user = &w;
  nimc_sim *sim = NULL;
  nimc_result r;
  memset(&r, 0, sizeof r);
  CHECK(nimc_sim_create(&sim, dev, &o, &err) == NIMC_OK);
  CHECK(sim && run_exp(sim, EXP, 1, &r) == NIMC_OK && w.written);
  nimc_sim_destroy(sim);
  nimc_result_free(&r);
  nimc_device_destroy(dev);
  FILE *f = fopen(w.path, "r");
  static char text[1 << 20];
  size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
  if (f) fclose(f);
  text[n] = '\0';
  CHECK(n > 1000);
  char bad[512], want[600];
  snprintf(bad, sizeof bad, "%s/bad.nimc", tmpdir);
  const struct {
    int line;
    const char *repl, *needle;
  } cases[] = {
      {1, "nimc-checkpoint 1", ":1: checkpoint version '1'"},
      {1, "nimc-state 3", ":1: not a nimc checkpoint"},
      {4, "finished maybe", ":4: finished: expected a whole number"},
      {13, "position_done", ":13: position_done: expected a whole number"},
      {18, NULL, ": position_iterations: expected this key here"},
      {40, NULL, "cut short"},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    write_edited(bad, text, cases[k].line, cases[k].repl);
    nimc_checkpoint *ck = NULL;
    int rc = nimc_checkpoint_read(bad, &ck, &err);
    snprintf(want, sizeof want, "%s", bad);
    CHECK(rc == NIMC_EINPUT && !ck && strstr(err.msg, want) &&
          strstr(err.msg, cases[k].needle));
    if (rc != NIMC_EINPUT || !strstr(err.msg, cases[k].needle))
      fprintf(stderr, "  case %zu: %d '%s'\n", k, rc, err.msg);
    nimc_checkpoint_destroy(ck);
  }
  /* cut short anywhere (300 places), it is refused, never half read */
  int refused = 0, tries = 0;
  for (size_t k = 0; k < 300 && n; k++, tries++) {
    size_t cut = k * n / 300;
    FILE *g = fopen(bad, "w");
    if (!g) break;
    fwrite(text, 1, cut, g);
    fclose(g);
    nimc_checkpoint *ck = NULL;
    int rc = nimc_checkpoint_read(bad, &ck, &err);
    refused += rc == NIMC_EINPUT && !ck && strstr(err.msg, bad) != NULL;
    if (rc != NIMC_EINPUT)
      fprintf(stderr, "  cut at %zu of %zu bytes: %d '%s'\n", cut, n, rc,
              err.msg);
    nimc_checkpoint_destroy(ck);
  }
  CHECK(tries == 300 && refused == tries);
  unlink(bad);
  unlink(w.path);
}

int main(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/nimc-test-checkpoint.XXXXXX");
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 1;
  }
  RUN(test_resumed_runs_are_the_unbroken_one);
  RUN(test_finished_and_meta);
  RUN(test_bad_files);
  rmdir(tmpdir);
  return TEST_REPORT();
}
