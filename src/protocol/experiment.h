/*
 * experiment.h -- the parsed form of the experiment language.
 *
 * An experiment is a list of blocks; a block is a list of steps run
 * `repeat` times (1 for a plain step), or, for a Repeat that holds other
 * Repeats (nesting), a list of blocks run `repeat` times.  The parser
 * (experiment.c) fills these; the runner (protocol/run.c) executes them.
 * Values are SI.
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
  /* Options in brackets after the step ("(1 minute period)",
   * "(at 80 degC)"): the spacing of its recorded samples, and the
   * temperature it runs at (else the simulation's output interval and the
   * device's temperature). */
  int has_period;
  double period_s; /* > 0 */
  int has_temperature;
  double temperature_K;          /* > 0 */
  char text[NIMC_STEP_TEXT_MAX]; /* the step as written */
} nimc_step;

/* Most levels of Repeats inside Repeats. */
#define NIMC_REPEAT_MAX_DEPTH 8

typedef struct nimc_block {
  int repeat;                /* >= 1 */
  size_t nsteps;
  nimc_step *steps; /* owned; a leaf block (nblocks == 0) */
  /* A Repeat that holds Repeats: its items, run in order `repeat` times
   * (nsteps is then 0).  An item is a block: a Repeat, or one step
   * written without a Repeat (plain set). */
  size_t nblocks;
  struct nimc_block *blocks; /* owned */
  int plain;                 /* a step as written, not a Repeat: never a
                                cycle (docs/experiments.md, "Cycles") */
  size_t line;               /* the input line it starts on (1-based; 0
                                when not parsed) */
  int jump;                  /* "Repeat N times with cycle jumping:" (a
                                Repeat of steps: jump.h) */
} nimc_block;

struct nimc_experiment {
  size_t nblocks;
  nimc_block *blocks;        /* owned */
};

#endif
