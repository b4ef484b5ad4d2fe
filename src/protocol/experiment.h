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
   * footprint when current_per_area is set, or A/kg of the device's
   * active mass when current_per_mass is set, or a C-rate (1/h, against
   * the device's nominal capacity) when c_rate is set. */
  double current;
  int current_per_area, current_per_mass, c_rate;
  /* CHARGE_POWER / DISCHARGE_POWER: magnitude of the power (> 0); W, or
   * W/m2 of footprint when power_per_area is set. */
  double power;
  int power_per_area;
  /* LOAD_RESISTOR: the load's resistance, ohm (> 0). */
  double resistance_ohm;
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
  double v_cut_V;            /* "until <voltage>" (charge: rising to it;
                                rest: either way) */
  int has_i_cut;
  double i_cut;              /* HOLD "until <current>": |I| falls to it */
  int i_cut_per_area;
  int has_q_cut;
  double q_cut_C;            /* "until <charge>": the charge moved in the
                                step (its magnitude, > 0) reaches it */
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
