/*
 * fuzz_experiment.c -- the libFuzzer target for the experiment parser.
 *
 * The input is split at '\n' into lines, as the command line's -e steps
 * or a file of steps would be, and parsed by nimc_experiment_parse.  The
 * contract checked (abort: libFuzzer saves the input): a parse succeeds
 * with an experiment of at least one step whose every quantity is finite
 * and inside the plausible ranges of docs/experiments.md, or it fails with
 * NIMC_EINPUT, no experiment and a message that names the step.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nimc/nimc.h"
#include "protocol/experiment.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void broken(const char *what, double v) {
  fprintf(stderr, "fuzz_experiment: %s = %g\n", what, v);
  abort();
}

/* Every quantity of st finite and within the parser's bounds. */
static void check_step(const nimc_step *st) {
  if (!isfinite(st->current) || st->current < 0 || st->current > 1e5)
    broken("current", st->current);
  if (!isfinite(st->voltage_V) || fabs(st->voltage_V) > 10.0)
    broken("voltage_V", st->voltage_V);
  if (st->type == NIMC_STEP_SWEEP &&
      (!(st->sweep_rate_V_s > 0) || st->sweep_rate_V_s > 1e6 ||
       fabs(st->sweep_to_V) > 10.0))
    broken("sweep_rate_V_s", st->sweep_rate_V_s);
  if (st->type == NIMC_STEP_SINE &&
      (!(st->sine_freq_Hz >= 1e-6) || st->sine_freq_Hz > 1e9 ||
       !(st->sine_amplitude > 0) || !isfinite(st->sine_level)))
    broken("sine_freq_Hz", st->sine_freq_Hz);
  if (st->has_duration &&
      (!(st->duration_s >= 1e-6) || st->duration_s > 1e9))
    broken("duration_s", st->duration_s);
  if (st->has_v_cut && !(fabs(st->v_cut_V) <= 10.0))
    broken("v_cut_V", st->v_cut_V);
  if (st->has_i_cut && !(st->i_cut > 0 && st->i_cut <= 1e5))
    broken("i_cut", st->i_cut);
  if ((st->type == NIMC_STEP_CHARGE_POWER ||
       st->type == NIMC_STEP_DISCHARGE_POWER) &&
      !(st->power > 0 && st->power <= 1e5))
    broken("power", st->power);
  if (st->type == NIMC_STEP_LOAD_RESISTOR &&
      !(st->resistance_ohm >= 1e-3 && st->resistance_ohm <= 1e12))
    broken("resistance_ohm", st->resistance_ohm);
  if (st->type == NIMC_STEP_LOAD_LED && (st->has_q_cut || st->has_i_cut))
    broken("LED end", st->has_q_cut);
  if (st->c_rate && !(st->current > 0 && st->current <= 1e4))
    broken("c_rate", st->current);
  if (st->has_q_cut && !(st->q_cut_C > 0 && st->q_cut_C <= 1e6))
    broken("q_cut_C", st->q_cut_C);
  if (st->has_period && !(st->period_s >= 1e-6 && st->period_s <= 1e9))
    broken("period_s", st->period_s);
  if (st->has_temperature &&
      !(st->temperature_K >= 150.0 && st->temperature_K <= 600.0))
    broken("temperature_K", st->temperature_K);
}

/* A block and the blocks nested in it, at nesting level depth. */
static void check_block(const nimc_block *b, int depth) {
  if (b->repeat < 1) broken("repeat", b->repeat);
  if (depth > NIMC_REPEAT_MAX_DEPTH) broken("depth", depth);
  if (b->nsteps && b->nblocks) broken("steps and blocks", (double)b->nsteps);
  for (size_t k = 0; k < b->nsteps; k++)
    check_step(&b->steps[k]);
  for (size_t i = 0; i < b->nblocks; i++)
    check_block(&b->blocks[i], depth + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* NUL-terminated lines: a NUL inside the input ends its line early, as
   * it does for a command-line argument */
  char *text = malloc(size + 1);
  const char **lines = malloc((size + 1) * sizeof *lines);
  if (!text || !lines) abort();
  memcpy(text, data, size);
  text[size] = '\0';
  size_t n = 0;
  for (char *p = text;;) {
    lines[n++] = p;
    char *nl = memchr(p, '\n', (size_t)(text + size - p));
    if (!nl) break;
    *nl = '\0';
    p = nl + 1;
  }
  nimc_experiment *exp = (nimc_experiment *)1;
  nimc_err err;
  err.msg[0] = '\0';
  int rc = nimc_experiment_parse(&exp, lines, n, &err);
  if (rc == NIMC_OK) {
    if (!exp || nimc_experiment_nsteps(exp) < 1) {
      fprintf(stderr, "fuzz_experiment: success without a step\n");
      abort();
    }
    double t = nimc_experiment_timed_s(exp);
    if (!(t >= 0) || !isfinite(t)) broken("timed_s", t);
    for (size_t b = 0; b < exp->nblocks; b++)
      check_block(&exp->blocks[b], 1);
  } else if (rc != NIMC_EINPUT || exp || strncmp(err.msg, "step ", 5) != 0) {
    if (!(rc == NIMC_EINPUT && !exp && strstr(err.msg, "no steps"))) {
      fprintf(stderr, "fuzz_experiment: rc %d, experiment %p, message '%s'\n",
              rc, (void *)exp, err.msg);
      abort();
    }
  }
  nimc_experiment_destroy(exp == (nimc_experiment *)1 ? NULL : exp);
  free(lines);
  free(text);
  return 0;
}
