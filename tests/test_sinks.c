/*
 * test_sinks.c -- what a run reports as it goes and what it keeps
 * (nimc_sinks, nimc_keep, nimc_cycle_result), on the stack device:
 *  - the sinks see every sample and every step record the result keeps,
 *    identical, and one summary per cycle of a Repeat;
 *  - a cycle's summary: charges and energies are the sums of its steps'
 *    records, its capacitance and ESR those nimc_metrics_gcd_result reads
 *    from the cycle's own samples and records, the retention against the
 *    first cycle;
 *  - without samples the result keeps none, yet the step records, the
 *    cycle summaries and a sine's impedance are those of a full run, and
 *    the series never holds more than about one cycle's samples;
 *  - NIMC_KEEP_CYCLES keeps no record of a Repeat's steps, NIMC_KEEP_NONE
 *    not even its cycles (the sink still gets them);
 *  - a sink that returns non-zero stops the run; a bad keep is refused;
 *  - the run until steady still reads its cycles when samples are not kept;
 *  - the cycle table's CSV header and the summary's "cycles" keys agree.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nimc/nimc.h"
#include "nimc/report.h"
#include "testlib.h"

#define DEVICE "devices/nimc-stack.ini"
#define NCYC 4

/* A sine outside the Repeat (its impedance is read from its own samples),
 * then the Repeat, then a rest outside. */
static const char *const lines[] = {
    "Sine 5 mV at 20 Hz for 0.2 s",
    "Repeat 4 times: Charge at 1 mA/cm2 until 3.5 V; Rest for 5 s; Discharge "
    "at 1 mA/cm2 until 0.5 V",
    "Rest for 10 s"};
#define NLINES 3
#define NSTEPS (1 + 3 * NCYC + 1)

/* What the sinks saw. */
typedef struct seen {
  nimc_series samples;
  nimc_step_result steps[64];
  size_t nsteps;
  nimc_cycle_result cycles[16];
  size_t ncycles;
  size_t stop_after_steps; /* > 0: the step sink stops the run there */
} seen;

static int on_sample(void *user, double t, double v, double i, int step) {
  seen *s = user;
  return nimc_series_push(&s->samples, t, v, i, step) ? 1 : 0;
}

static int on_step(void *user, const nimc_step_result *r) {
  seen *s = user;
  if (s->nsteps < 64) s->steps[s->nsteps] = *r;
  s->nsteps++;
  return s->stop_after_steps && s->nsteps >= s->stop_after_steps;
}

static int on_cycle(void *user, const nimc_cycle_result *c) {
  seen *s = user;
  if (s->ncycles < 16) s->cycles[s->ncycles] = *c;
  s->ncycles++;
  return 0;
}

static nimc_device *dev;
static nimc_experiment *exp_;

/* Run the experiment with sinks keeping keep; the status. */
static int run(nimc_keep keep, seen *sn, nimc_result *res, char *msg,
               size_t len) {
  memset(res, 0, sizeof *res);
  nimc_sim *sim = NULL;
  nimc_err err;
  int rc = nimc_sim_create(&sim, dev, NULL, &err);
  if (rc) return rc;
  nimc_sinks sk = {on_sample, on_step, on_cycle, sn, keep};
  rc = nimc_sim_set_sinks(sim, &sk);
  if (!rc) rc = nimc_sim_run(sim, exp_, res);
  if (msg) snprintf(msg, len, "%s", nimc_sim_errmsg(sim));
  nimc_sim_destroy(sim);
  return rc;
}

static nimc_result full; /* the run keeping everything */
static seen full_seen;

static void test_sinks_see_what_is_kept(void) {
  CHECK(run(NIMC_KEEP_ALL, &full_seen, &full, NULL, 0) == NIMC_OK);
  const nimc_series *a = &full.series, *b = &full_seen.samples;
  CHECK(a->n > 100 && a->n == b->n);
  int same = a->n == b->n;
  for (size_t k = 0; same && k < a->n; k++)
    same = a->time_s[k] == b->time_s[k] && a->voltage_V[k] == b->voltage_V[k] &&
           a->current_A[k] == b->current_A[k] && a->step[k] == b->step[k];
  CHECK(same);
  CHECK(full.nsteps == NSTEPS && full_seen.nsteps == NSTEPS);
  for (size_t k = 0; k < full.nsteps && k < full_seen.nsteps; k++)
    CHECK(!memcmp(&full.steps[k], &full_seen.steps[k], sizeof full.steps[k]));
  CHECK(full.ncycles == NCYC && full_seen.ncycles == NCYC);
  for (size_t k = 0; k < full.ncycles && k < full_seen.ncycles; k++)
    CHECK(
        !memcmp(&full.cycles[k], &full_seen.cycles[k], sizeof full.cycles[k]));
}

/* Each cycle's summary against its records and its own metrics. */
static void test_cycle_summaries(void) {
  if (full.ncycles != NCYC || full.nsteps != NSTEPS) {
    CHECK(!"the full run has its cycles");
    return;
  }
  nimc_norm norm = {nimc_device_footprint_area_m2(dev),
                    nimc_device_norm_thickness_m(dev)};
  double c_first = NAN;
  for (int k = 0; k < NCYC; k++) {
    const nimc_cycle_result *c = &full.cycles[k];
    /* its steps: 1 + 3k .. 3 + 3k (after the sine) */
    const nimc_step_result *ch = &full.steps[1 + 3 * k],
                           *rest = &full.steps[2 + 3 * k],
                           *dis = &full.steps[3 + 3 * k];
    CHECK(c->cycle == k + 1 && c->first_step == 1 + 3 * k && c->nsteps == 3);
    CHECK(ch->cycle == k && dis->cycle == k);
    CHECK(ch->charge_C > 0 && dis->charge_C < 0);
    double qin = ch->charge_C + (rest->charge_C > 0 ? rest->charge_C : 0);
    double qout = -dis->charge_C - (rest->charge_C < 0 ? rest->charge_C : 0);
    CHECK_REL(c->charge_C, qin, 1e-12);
    CHECK_REL(c->discharge_C, qout, 1e-12);
    CHECK_REL(c->energy_charge_J, ch->energy_J, 1e-6);
    CHECK_REL(c->energy_discharge_J, -dis->energy_J, 1e-6);
    CHECK_REL(c->coulombic_efficiency, qout / qin, 1e-12);
    CHECK_REL(c->duration_s,
              ch->duration_s + rest->duration_s + dis->duration_s, 1e-9);
    CHECK_ABS(c->v_end_V, dis->v_end_V, 1e-12);
    /* the metrics of the cycle's own samples and records */
    nimc_result v = full;
    size_t a = 0;
    while (a < v.series.n && v.series.step[a] < c->first_step)
      a++;
    size_t b = a;
    while (b < v.series.n && v.series.step[b] < c->first_step + c->nsteps)
      b++;
    v.series.time_s += a, v.series.voltage_V += a, v.series.current_A += a;
    v.series.step += a, v.series.n = b - a;
    v.steps += c->first_step, v.nsteps = 3;
    nimc_metrics m;
    nimc_err err;
    CHECK(nimc_metrics_gcd_result(&v, &norm, &m, &err) == NIMC_OK);
    CHECK(c->metrics.have_cycle && m.have_cycle);
    CHECK_REL(c->metrics.capacitance_F, m.capacitance_F, 1e-12);
    CHECK_REL(c->metrics.esr_ohm, m.esr_ohm, 1e-12);
    CHECK_REL(c->metrics.energy_J, -dis->energy_J, 1e-12);
    CHECK(isfinite(nimc_metric_value(&c->metrics, "capacitance_areal_mF_cm2")));
    if (k == 0) c_first = m.capacitance_F;
    CHECK_REL(c->capacitance_retention, m.capacitance_F / c_first, 1e-12);
  }
  /* the last cycle is the whole run's last discharge */
  nimc_metrics all;
  nimc_err err;
  CHECK(nimc_metrics_gcd_result(&full, &norm, &all, &err) == NIMC_OK);
  CHECK_REL(full.cycles[NCYC - 1].metrics.capacitance_F, all.capacitance_F,
            1e-12);
  fprintf(stderr, "  cycles: C %.6g, %.6g, %.6g, %.6g F; CE %.6g\n",
          full.cycles[0].metrics.capacitance_F,
          full.cycles[1].metrics.capacitance_F,
          full.cycles[2].metrics.capacitance_F,
          full.cycles[3].metrics.capacitance_F,
          full.cycles[3].coulombic_efficiency);
}

/* Without samples: the same records and summaries, no series. */
static void test_keep_levels(void) {
  size_t max_cycle = 0; /* the most samples of one step outside a cycle or
                           of one cycle, in the full run */
  for (int k = 0; k < NCYC; k++) {
    size_t n = 0;
    for (size_t j = 0; j < full.series.n; j++)
      n += full.series.step[j] >= 1 + 3 * k && full.series.step[j] < 4 + 3 * k;
    if (n > max_cycle) max_cycle = n;
  }
  const nimc_keep keeps[] = {NIMC_KEEP_SUMMARIES, NIMC_KEEP_CYCLES,
                             NIMC_KEEP_NONE};
  for (size_t q = 0; q < 3; q++) {
    seen sn;
    memset(&sn, 0, sizeof sn);
    nimc_result r;
    CHECK(run(keeps[q], &sn, &r, NULL, 0) == NIMC_OK);
    CHECK(r.series.n == 0);
    /* at most one cycle's samples at a time (the series doubles) */
    CHECK(r.series.cap <= 2 * max_cycle + 64);
    CHECK(r.series.cap < full.series.n / 2);
    CHECK(sn.samples.n == full.series.n);
    CHECK(sn.nsteps == NSTEPS && sn.ncycles == NCYC);
    for (size_t k = 0; k < sn.nsteps && k < full.nsteps; k++)
      CHECK(!memcmp(&sn.steps[k], &full.steps[k], sizeof sn.steps[k]));
    for (size_t k = 0; k < sn.ncycles && k < full.ncycles; k++)
      CHECK(!memcmp(&sn.cycles[k], &full.cycles[k], sizeof sn.cycles[k]));
    size_t want_steps = keeps[q] == NIMC_KEEP_SUMMARIES ? NSTEPS : 2;
    size_t want_cycles = keeps[q] == NIMC_KEEP_NONE ? 0 : NCYC;
    CHECK(r.nsteps == want_steps && r.ncycles == want_cycles);
    /* the sine's impedance is read before its samples go */
    CHECK(r.nsteps > 0 && isfinite(r.steps[0].z_re_ohm) &&
          r.steps[0].z_re_ohm == full.steps[0].z_re_ohm);
    if (keeps[q] != NIMC_KEEP_SUMMARIES && r.nsteps == 2)
      CHECK(r.steps[1].index == NSTEPS - 1 &&
            r.steps[1].type == NIMC_STEP_REST);
    nimc_series_free(&sn.samples);
    nimc_result_free(&r);
  }
}

static void test_stop_and_misuse(void) {
  seen sn;
  memset(&sn, 0, sizeof sn);
  sn.stop_after_steps = 3;
  nimc_result r;
  char msg[NIMC_ERRMSG_MAX];
  CHECK(run(NIMC_KEEP_ALL, &sn, &r, msg, sizeof msg) == NIMC_ESOLVER);
  CHECK_CONTAINS(msg, "interrupted");
  CHECK(r.nsteps == 3 && sn.nsteps == 3);
  nimc_result_free(&r);
  nimc_series_free(&sn.samples);
  nimc_sim *sim = NULL;
  nimc_err err;
  CHECK(nimc_sim_create(&sim, dev, NULL, &err) == NIMC_OK);
  nimc_sinks bad = {NULL, NULL, NULL, NULL, (nimc_keep)7};
  CHECK(nimc_sim_set_sinks(sim, &bad) == NIMC_EMISUSE);
  CHECK_CONTAINS(nimc_sim_errmsg(sim), "keep 7");
  CHECK(nimc_sim_set_sinks(sim, NULL) == NIMC_OK);
  CHECK(nimc_sim_set_sinks(NULL, NULL) == NIMC_EMISUSE);
  nimc_sim_destroy(sim);
}

/* The run until steady reads each cycle's samples: it keeps them even when
 * the sinks say not to, and finds the same steady cycle. */
static void test_steady_keeps_its_samples(void) {
  const char *cyc[] = {"Charge at 1 mA/cm2 until 3.5 V",
                       "Discharge at 1 mA/cm2 until 0 V"};
  nimc_experiment *e = NULL;
  nimc_err err;
  CHECK(nimc_experiment_parse(&e, cyc, 2, &err) == NIMC_OK);
  nimc_steady_opts o = nimc_steady_opts_default();
  o.max_cycles = 4;
  nimc_steady_info inf[2];
  for (int k = 0; k < 2; k++) {
    nimc_sim *sim = NULL;
    nimc_result r;
    memset(&r, 0, sizeof r);
    seen sn;
    memset(&sn, 0, sizeof sn);
    CHECK(nimc_sim_create(&sim, dev, NULL, &err) == NIMC_OK);
    if (!sim) continue;
    nimc_sinks sk = {NULL, on_step, NULL, &sn, NIMC_KEEP_NONE};
    if (k) CHECK(nimc_sim_set_sinks(sim, &sk) == NIMC_OK);
    int rc = nimc_sim_run_until_steady(sim, e, &o, NULL, &r, &inf[k]);
    CHECK(rc == NIMC_OK || rc == NIMC_NOTSTEADY);
    CHECK(r.series.n > 0);
    if (k) CHECK(sn.nsteps == r.nsteps && r.nsteps > 0);
    nimc_result_free(&r);
    nimc_sim_destroy(sim);
  }
  CHECK(inf[0].cycles == inf[1].cycles);
  CHECK_REL(inf[1].capacitance_F, inf[0].capacitance_F, 1e-12);
  nimc_experiment_destroy(e);
}

/* cycles.csv's header and the summary's "cycles" keys are one list. */
static void test_csv_and_json_agree(void) {
  if (!full.ncycles) return;
  nimc_summary s = {.device = "x", .result = &full};
  char *text = NULL;
  nimc_err err;
  CHECK(nimc_summary_json(&s, &text, &err) == NIMC_OK);
  cJSON *root = text ? cJSON_Parse(text) : NULL;
  cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "cycles");
  CHECK(cJSON_IsArray(arr) && cJSON_GetArraySize(arr) == NCYC);
  cJSON *first = cJSON_GetArrayItem(arr, 0);
  char header[1024];
  snprintf(header, sizeof header, ",%s", nimc_cycle_csv_header());
  header[strlen(header) - 1] = ','; /* ",a,b,...,z," */
  int nkeys = 0, ncols = 0;
  for (cJSON *it = first ? first->child : NULL; it; it = it->next) {
    char key[96];
    snprintf(key, sizeof key, ",%s,", it->string);
    CHECK_CONTAINS(header, key);
    nkeys++;
  }
  for (const char *p = header; *p; p++)
    ncols += *p == ',';
  ncols -= 1;
  /* every column has a value in the first cycle (its retention is 1) */
  CHECK(nkeys == ncols && ncols == 22);
  cJSON *cap = cJSON_GetObjectItemCaseSensitive(first, "capacitance_F");
  CHECK(cJSON_IsNumber(cap) &&
        fabs(cap->valuedouble / full.cycles[0].metrics.capacitance_F - 1) <
            1e-9);
  char row[NIMC_CYCLE_CSV_ROW_MAX];
  CHECK(nimc_cycle_csv_row(&full.cycles[0], row, sizeof row) > 0);
  int commas = 0;
  for (const char *p = row; *p; p++)
    commas += *p == ',';
  CHECK(commas == ncols - 1 && !strncmp(row, "1,1,", 4));
  CHECK(nimc_cycle_csv_row(&full.cycles[0], row, 16) == NIMC_EMISUSE);
  cJSON_Delete(root);
  free(text);
}

int main(void) {
  nimc_err err;
  if (nimc_device_load(&dev, DEVICE, NULL, 0, &err) ||
      nimc_experiment_parse(&exp_, lines, NLINES, &err)) {
    fprintf(stderr, "%s\n", err.msg);
    return 1;
  }
  RUN(test_sinks_see_what_is_kept);
  RUN(test_cycle_summaries);
  RUN(test_keep_levels);
  RUN(test_stop_and_misuse);
  RUN(test_steady_keeps_its_samples);
  RUN(test_csv_and_json_agree);
  nimc_result_free(&full);
  nimc_series_free(&full_seen.samples);
  nimc_experiment_destroy(exp_);
  nimc_device_destroy(dev);
  return TEST_REPORT();
}
