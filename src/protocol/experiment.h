/*
 * experiment.h -- the parsed form of the experiment language.
 *
 * An experiment is a list of blocks; a block is a list of steps run
 * `repeat` times (1 for a plain step).  The parser (experiment.c) fills
 * these; the runner (protocol/run.c) executes them.  Values are SI.
 */
#ifndef NIMC_EXPERIMENT_H
#define NIMC_EXPERIMENT_H

#include "nimc/nimc.h"

#define NIMC_STEP_TEXT_MAX 256

typedef struct nimc_step {
  nimc_step_type type;
  /* CHARGE / DISCHARGE: magnitude of the current (> 0); A, or A/m2 of
   * footprint when current_per_area is set. */
  double current;
  int current_per_area;
  /* HOLD: the held voltage.  SWEEP: start voltage. */
  double voltage_V;
  /* SWEEP: end voltage and rate (> 0, V/s; the direction follows from
   * start and end). */
  double sweep_to_V, sweep_rate_V_s;
  /* SINE: amplitude (> 0; V, or A, or A/m2 of footprint when
   * current_per_area is set), whether it is a current, the frequency, and
   * the level it oscillates around when given (else: the voltage at the
   * start of the step, or zero current) in the amplitude's kind. */
  double sine_amplitude, sine_freq_Hz, sine_level;
  int sine_is_current, has_sine_level, sine_level_per_area;
  /* Terminations; any that are set may end the step, whichever first. */
  int has_duration;
  double duration_s;         /* "for <time>" */
  int has_v_cut;
  double v_cut_V;            /* "until <voltage>" (charge: rising to it) */
  int has_i_cut;
  double i_cut;              /* HOLD "until <current>": |I| falls to it */
  int i_cut_per_area;
  char text[NIMC_STEP_TEXT_MAX]; /* the step as written */
} nimc_step;

typedef struct nimc_block {
  int repeat;                /* >= 1 */
  size_t nsteps;
  nimc_step *steps;          /* owned */
} nimc_block;

struct nimc_experiment {
  size_t nblocks;
  nimc_block *blocks;        /* owned */
};

#endif
