/*
 * test_experiment.c -- the experiment language (docs/experiments.md).
 *
 * Every step form is parsed and its SI values checked against hand
 * conversions; every error path is provoked and its message checked for
 * the line number, the quoted step, what was expected and what was found;
 * a small deterministic fuzzer mutates valid lines to make sure that the
 * parser either accepts them or rejects them with a message (run it under
 * the sanitizers).
 */
#define _POSIX_C_SOURCE 200809L /* mkstemp, fdopen */
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/experiment.h"
#include "testlib.h"

/* Parse a single line; returns the status and fills *exp and err. */
static int parse1(const char *line, nimc_experiment **exp, nimc_err *err) {
  const char *lines[1] = {line};
  return nimc_experiment_parse(exp, lines, 1, err);
}

/* The one step of a one-line experiment (NULL when it failed). */
static const nimc_step *only_step(const nimc_experiment *exp) {
  return exp && exp->nblocks == 1 && exp->blocks[0].nsteps == 1
             ? &exp->blocks[0].steps[0]
             : NULL;
}

/* Is s well-formed UTF-8 (no sequence cut short)? */
static int utf8_ok(const char *s) {
  for (const unsigned char *p = (const unsigned char *)s; *p;) {
    int n = *p < 0x80             ? 0
            : (*p & 0xE0) == 0xC0 ? 1
            : (*p & 0xF0) == 0xE0 ? 2
            : (*p & 0xF8) == 0xF0 ? 3
                                  : -1;
    if (n < 0) return 0;
    p++;
    for (; n > 0; n--, p++)
      if ((*p & 0xC0) != 0x80) return 0;
  }
  return 1;
}

/* Parse line, expect failure, and check the message contains want. */
static void check_error(const char *line, const char *want) {
  nimc_experiment *exp = (nimc_experiment *)1;
  nimc_err err = {0, ""};
  int rc = parse1(line, &exp, &err);
  CHECK(rc == NIMC_EINPUT);
  CHECK(err.code == NIMC_EINPUT);
  CHECK(exp == NULL);
  CHECK_CONTAINS(err.msg, want);
  if (rc == NIMC_OK) nimc_experiment_destroy(exp);
}

static void test_charge_discharge(void) {
  nimc_experiment *exp = NULL;
  nimc_err err;
  const nimc_step *st;

  CHECK(parse1("Charge at 0.1 mA/cm2 until 3.5 V", &exp, &err) == NIMC_OK);
  st = only_step(exp);
  CHECK(st != NULL);
  if (st) {
    CHECK(st->type == NIMC_STEP_CHARGE);
    CHECK_REL(st->current, 1.0, 1e-12); /* 0.1 mA/cm2 = 1e-4 A / 1e-4 m2 */
    CHECK(st->current_per_area == 1);
    CHECK(st->has_v_cut && !st->has_duration && !st->has_i_cut);
    CHECK_REL(st->v_cut_V, 3.5, 1e-15);
    CHECK(strcmp(st->text, "Charge at 0.1 mA/cm2 until 3.5 V") == 0);
    CHECK(exp->blocks[0].repeat == 1);
  }
  CHECK(nimc_experiment_nsteps(exp) == 1);
  nimc_experiment_destroy(exp);

  /* case, spacing and glued units do not matter; the text is trimmed */
  CHECK(parse1("  dIsChArGe   AT 1mA  FOR   10 min  ", &exp, &err) == NIMC_OK);
  st = only_step(exp);
  CHECK(st != NULL);
  if (st) {
    CHECK(st->type == NIMC_STEP_DISCHARGE);
    CHECK_REL(st->current, 1e-3, 1e-12);
    CHECK(st->current_per_area == 0);
    CHECK(st->has_duration && !st->has_v_cut);
    CHECK_REL(st->duration_s, 600.0, 1e-15);
    CHECK(strcmp(st->text, "dIsChArGe   AT 1mA  FOR   10 min") == 0);
  }
  nimc_experiment_destroy(exp);

  /* both terminations, in either order */
  const char *both[] = {"Charge at 5 uA until 3.5 V or for 1 h",
                        "Charge at 5 uA for 1 h or until 3.5 V"};
  for (int k = 0; k < 2; k++) {
    CHECK(parse1(both[k], &exp, &err) == NIMC_OK);
    st = only_step(exp);
    CHECK(st != NULL);
    if (st) {
      CHECK_REL(st->current, 5e-6, 1e-12);
      CHECK(st->has_v_cut && st->has_duration);
      CHECK_REL(st->v_cut_V, 3.5, 1e-15);
      CHECK_REL(st->duration_s, 3600.0, 1e-15);
    }
    nimc_experiment_destroy(exp);
  }

  /* a negative cut-off voltage is fine (the sign of a current is not) */
  CHECK(parse1("Discharge at 2 A/m2 until -0.5 V", &exp, &err) == NIMC_OK);
  st = only_step(exp);
  if (st) CHECK_REL(st->v_cut_V, -0.5, 1e-15);
  CHECK(st && st->current_per_area == 1);
  nimc_experiment_destroy(exp);
}

/* Constant power, a resistive load, C-rates, currents per mass, a rest
 * until a voltage, an end on charge. */
static void test_power_load_rates(void) {
  nimc_experiment *exp = NULL;
  nimc_err err;
  const nimc_step *st;
  struct {
    const char *line;
    nimc_step_type type;
    double value; /* power, resistance or current */
    int per_area, per_mass, c_rate;
  } ok[] = {
      {"Charge at 10 mW until 3 V", NIMC_STEP_CHARGE_POWER, 0.01, 0, 0, 0},
      {"Discharge at 1 mW/cm2 until 0.5 V", NIMC_STEP_DISCHARGE_POWER, 10.0, 1,
       0, 0},
      {"discharge AT 2uW for 1 h", NIMC_STEP_DISCHARGE_POWER, 2e-6, 0, 0, 0},
      {"Discharge through 5 kohm until 0.5 V", NIMC_STEP_LOAD_RESISTOR, 5e3, 0,
       0, 0},
      {"Discharge through 100ohm for 10 s", NIMC_STEP_LOAD_RESISTOR, 100.0, 0,
       0, 0},
      {"Charge at 2C until 3.5 V", NIMC_STEP_CHARGE, 2.0, 0, 0, 1},
      {"Charge at 0.5 C until 3.5 V", NIMC_STEP_CHARGE, 0.5, 0, 0, 1},
      {"Discharge at C/20 until 0 V", NIMC_STEP_DISCHARGE, 0.05, 0, 0, 1},
      {"Charge at 1 A/g for 10 s", NIMC_STEP_CHARGE, 1e3, 0, 1, 0},
      {"Discharge at 500 mA/g until 0 V", NIMC_STEP_DISCHARGE, 500.0, 0, 1, 0},
  };
  for (size_t k = 0; k < sizeof ok / sizeof ok[0]; k++) {
    CHECK(parse1(ok[k].line, &exp, &err) == NIMC_OK);
    st = only_step(exp);
    CHECK(st != NULL);
    if (!st) {
      fprintf(stderr, "  %s: %s\n", ok[k].line, err.msg);
      continue;
    }
    CHECK(st->type == ok[k].type);
    double v = st->type == NIMC_STEP_LOAD_RESISTOR ? st->resistance_ohm
               : (st->type == NIMC_STEP_CHARGE_POWER ||
                  st->type == NIMC_STEP_DISCHARGE_POWER)
                   ? st->power
                   : st->current;
    CHECK_REL(v, ok[k].value, 1e-12);
    int per_area = st->current_per_area || st->power_per_area;
    CHECK(per_area == ok[k].per_area);
    CHECK(st->current_per_mass == ok[k].per_mass);
    CHECK(st->c_rate == ok[k].c_rate);
    nimc_experiment_destroy(exp);
  }
  /* a rest until a voltage; ends on charge, with the others */
  CHECK(parse1("Rest until 2.1 V", &exp, &err) == NIMC_OK);
  st = only_step(exp);
  CHECK(st && st->type == NIMC_STEP_REST && st->has_v_cut &&
        st->v_cut_V == 2.1 && !st->has_duration);
  nimc_experiment_destroy(exp);
  CHECK(parse1("Rest for 44 h or until 2.1 V", &exp, &err) == NIMC_OK);
  st = only_step(exp);
  CHECK(st && st->has_v_cut && st->has_duration);
  nimc_experiment_destroy(exp);
  CHECK(parse1("Charge at 1 mA until 3 V or until 2 mAh or for 1 h", &exp,
               &err) == NIMC_OK);
  st = only_step(exp);
  CHECK(st && st->has_v_cut && st->has_q_cut && st->has_duration);
  if (st) CHECK_REL(st->q_cut_C, 7.2, 1e-12);
  nimc_experiment_destroy(exp);
  CHECK(parse1("Discharge through 1 kohm until 1 mC", &exp, &err) == NIMC_OK);
  st = only_step(exp);
  CHECK(st && st->has_q_cut && !st->has_v_cut);
  if (st) CHECK_REL(st->q_cut_C, 1e-3, 1e-12);
  nimc_experiment_destroy(exp);

  /* bad input: each names the step and says what is wrong */
  check_error("Charge at 0 mW until 3 V", "a power must be positive");
  check_error("Charge at 2 kW until 3 V",
              "'2 kW' is outside the plausible range: expected a power of at "
              "most 1 kW");
  check_error("Discharge at 20 W/cm2 until 0 V",
              "expected a power density of at most 10 W/cm2");
  check_error("Discharge at 1 mW", "expected 'until <voltage>' or 'for "
                                   "<time>' after the power, found nothing");
  check_error("Discharge through 5 kohm",
              "step 1 'Discharge through 5 kohm': expected 'until <voltage>' "
              "or 'for <time>' after the resistance, found nothing");
  check_error("Discharge through 0 ohm until 0 V",
              "a resistance must be positive");
  check_error("Discharge through 1e-6 ohm until 0 V",
              "expected a resistance from 1 mohm to 1 Tohm");
  check_error("Discharge through 5 V until 0 V",
              "'5 V' is not a resistance (unit 'V' is not ohm)");
  check_error("Discharge through until 0 V",
              "expected a resistance after 'through', found 'until 0 V'");
  check_error("Charge through 5 ohm until 3 V",
              "expected 'at <current>' after 'Charge', found 'through 5 ohm");
  check_error("Charge at C/0 until 3 V",
              "the N of a C-rate 'C/N' must be positive, found 'C/0'");
  check_error("Charge at C/x until 3 V",
              "a C-rate is written '2C', '0.5C' or 'C/20', found 'C/x'");
  check_error("Charge at -2C until 3 V", "a C-rate must be positive");
  check_error("Charge at 1e5C until 3 V",
              "the C-rate '1e5C' is outside the plausible range");
  check_error("Charge at 1 kA/g until 3 V",
              "expected a current per mass of at most 100 A/g");
  check_error("Hold at 3 V until 1 A/g", "'1 A/g' is not a current");
  check_error("Charge at 1 mA until 1 mC or until 2 mC",
              "'until <charge>' is given twice");
  check_error("Charge at 1 mA until 0 mC", "a charge must be positive");
  check_error("Charge at 1 mA until 2e6 C",
              "expected a charge of at most 1e6 C");
  check_error("Rest until 3 V or until 2 V", "'until' is given twice");
  check_error("Rest until 1 mC", "'1 mC' is not a voltage");
  check_error("Sweep from 0 V to 1 V at 1 mV/s until 1 mC",
              "expected 'for <time>' after the rate, found 'until 1 mC'");

  /* the LED load: through the device's LED, until a voltage or for a
   * time, keywords in any case */
  CHECK(parse1("Discharge through LED until 1.9 V", &exp, &err) == NIMC_OK);
  st = only_step(exp);
  CHECK(st && st->type == NIMC_STEP_LOAD_LED && st->has_v_cut &&
        st->v_cut_V == 1.9 && !st->has_duration && !st->has_q_cut);
  nimc_experiment_destroy(exp);
  CHECK(parse1("discharge THROUGH led for 10 min or until 1.8V", &exp, &err) ==
        NIMC_OK);
  st = only_step(exp);
  CHECK(st && st->type == NIMC_STEP_LOAD_LED && st->has_v_cut &&
        st->has_duration && st->duration_s == 600.0);
  nimc_experiment_destroy(exp);
  check_error("Discharge through LED",
              "step 1 'Discharge through LED': expected 'until <voltage>' or "
              "'for <time>' after 'LED', found nothing");
  check_error("Discharge through LED until 1 mAh",
              "ends at a voltage ('until <voltage>') or after a time ('for "
              "<time>'), not on a charge");
  check_error("Discharge through LED for 1 s or until 2 mC", "not on a charge");
  check_error("Discharge through LED until 0.1 mA",
              "'0.1 mA' is not a voltage");
  check_error("Discharge through LEDD until 1.9 V",
              "expected a resistance such as '5 kohm' or the word 'LED' after "
              "'through', found 'LEDD until 1.9 V'");
  check_error("Discharge through a LED until 1.9 V",
              "or the word 'LED' after 'through', found 'a LED");
  check_error("Discharge through LED at 1 mA until 1.9 V",
              "expected 'until <voltage>' or 'for <time>' after 'LED', found "
              "'at 1 mA");
}

static void test_rest_hold_sweep(void) {
  nimc_experiment *exp = NULL;
  nimc_err err;
  const nimc_step *st;

  CHECK(parse1("Rest for 44 h", &exp, &err) == NIMC_OK);
  st = only_step(exp);
  CHECK(st && st->type == NIMC_STEP_REST && st->has_duration);
  if (st) CHECK_REL(st->duration_s, 44 * 3600.0, 1e-15);
  nimc_experiment_destroy(exp);

  CHECK(parse1("Hold at 3.5 V for 10 min", &exp, &err) == NIMC_OK);
  st = only_step(exp);
  CHECK(st && st->type == NIMC_STEP_HOLD && st->has_duration && !st->has_i_cut);
  if (st) {
    CHECK_REL(st->voltage_V, 3.5, 1e-15);
    CHECK_REL(st->duration_s, 600.0, 1e-15);
  }
  nimc_experiment_destroy(exp);

  CHECK(parse1("hold at 3.5V until 1 uA", &exp, &err) == NIMC_OK);
  st = only_step(exp);
  CHECK(st && st->has_i_cut && !st->has_duration && !st->i_cut_per_area);
  if (st) CHECK_REL(st->i_cut, 1e-6, 1e-12);
  nimc_experiment_destroy(exp);

  CHECK(parse1("Hold at 3.5 V until 0.01 mA/cm2 or for 1 h", &exp, &err) ==
        NIMC_OK);
  st = only_step(exp);
  CHECK(st && st->has_i_cut && st->has_duration && st->i_cut_per_area);
  if (st) {
    CHECK_REL(st->i_cut, 0.1, 1e-12);
    CHECK_REL(st->duration_s, 3600.0, 1e-15);
  }
  nimc_experiment_destroy(exp);

  CHECK(parse1("Sweep from 0 V to 3.5 V at 10 mV/s", &exp, &err) == NIMC_OK);
  st = only_step(exp);
  CHECK(st && st->type == NIMC_STEP_SWEEP && !st->has_duration);
  if (st) {
    CHECK_ABS(st->voltage_V, 0.0, 0.0);
    CHECK_REL(st->sweep_to_V, 3.5, 1e-15);
    CHECK_REL(st->sweep_rate_V_s, 0.01, 1e-12);
  }
  nimc_experiment_destroy(exp);

  CHECK(parse1("SWEEP FROM 3.5V TO 0V AT 1 V/min FOR 2 min", &exp, &err) ==
        NIMC_OK);
  st = only_step(exp);
  CHECK(st && st->has_duration);
  if (st) {
    CHECK_REL(st->sweep_rate_V_s, 1.0 / 60.0, 1e-12);
    CHECK_REL(st->duration_s, 120.0, 1e-15);
  }
  nimc_experiment_destroy(exp);
}

/* The sine of a time-domain impedance measurement, of voltage or current,
 * around the present state or a level. */
static void test_sine(void) {
  nimc_experiment *exp = NULL;
  nimc_err err;
  CHECK(parse1("Sine 5 mV at 1 kHz for 20 ms", &exp, &err) == NIMC_OK);
  const nimc_step *st = only_step(exp);
  CHECK(st && st->type == NIMC_STEP_SINE);
  if (st) {
    CHECK_REL(st->sine_amplitude, 5e-3, 1e-15);
    CHECK_REL(st->sine_freq_Hz, 1e3, 1e-15);
    CHECK(!st->sine_is_current && !st->has_sine_level);
    CHECK(st->has_duration && fabs(st->duration_s - 0.02) < 1e-15);
  }
  nimc_experiment_destroy(exp);
  CHECK(parse1("sine 10 uA at 0.1 Hz around -2 uA for 100 s", &exp, &err) ==
        NIMC_OK);
  st = only_step(exp);
  CHECK(st && st->sine_is_current && st->has_sine_level);
  if (st) {
    CHECK_REL(st->sine_amplitude, 1e-5, 1e-15);
    CHECK_REL(st->sine_level, -2e-6, 1e-15);
    CHECK(!st->current_per_area && !st->sine_level_per_area);
  }
  nimc_experiment_destroy(exp);
  CHECK(parse1("Sine 0.01 mA/cm2 at 1 Hz around 0.1 mA/cm2 for 10 s", &exp,
               &err) == NIMC_OK);
  st = only_step(exp);
  CHECK(st && st->sine_is_current && st->current_per_area &&
        st->sine_level_per_area);
  nimc_experiment_destroy(exp);
  CHECK(parse1("Sine 5mV at 10Hz around 1.5V for 2s", &exp, &err) == NIMC_OK);
  st = only_step(exp);
  CHECK(st && st->has_sine_level && st->sine_level == 1.5);
  nimc_experiment_destroy(exp);
  check_error("Sine 5 ohm at 1 Hz for 1 s",
              "'5 ohm' is not a voltage or a current (unit 'ohm' is not V, "
              "A or A/m2)");
  check_error("Sine 5 at 1 Hz for 1 s", "'5' has no unit");
  check_error("Sine -5 mV at 1 Hz for 1 s",
              "a sine amplitude must be positive, found '-5 mV'");
  check_error("Sine 5 mV at 1 s for 1 s", "'1 s' is not a frequency");
  check_error("Sine 5 mV at 0 Hz for 1 s", "a frequency must be positive");
  check_error("Sine 5 mV for 1 s", "expected 'at <frequency>' after the "
                                   "amplitude, found 'for 1 s'");
  check_error("Sine 5 mV at 1 Hz", "expected 'for <time>' after the "
                                   "frequency, found nothing");
  check_error("Sine 5 mV at 1 Hz around 1 mA for 1 s",
              "the level after 'around' must be a voltage, like the "
              "amplitude");
  check_error("Sine 1 mA at 1 Hz around 1 V for 1 s",
              "the level after 'around' must be a current");
  check_error("Sine 5 mV at 1 Hz until 1 V",
              "expected 'for <time>' after the frequency, found 'until 1 V'");
}

static void test_repeat_and_lines(void) {
  const char *lines[] = {
      "# formation",
      "Charge at 0.1 mA/cm2 until 3.5 V",
      "",
      ("Repeat 6000 times: Charge at 0.8 mA/cm2 until 3.5 V; "
       "Discharge at 0.8 mA/cm2 until 0 V;"),
      "   ",
      "repeat 1 time : Rest for 1 s",
  };
  nimc_experiment *exp = NULL;
  nimc_err err = {0, ""};
  CHECK(nimc_experiment_parse(&exp, lines, 6, &err) == NIMC_OK);
  CHECK(exp != NULL);
  if (!exp) return;
  CHECK(exp->nblocks == 3);
  CHECK(exp->blocks[0].repeat == 1 && exp->blocks[0].nsteps == 1);
  CHECK(exp->blocks[1].repeat == 6000 && exp->blocks[1].nsteps == 2);
  CHECK(exp->blocks[2].repeat == 1 && exp->blocks[2].nsteps == 1);
  CHECK(exp->blocks[1].steps[0].type == NIMC_STEP_CHARGE);
  CHECK(exp->blocks[1].steps[1].type == NIMC_STEP_DISCHARGE);
  CHECK_REL(exp->blocks[1].steps[1].current, 8.0, 1e-12);
  CHECK(strcmp(exp->blocks[1].steps[1].text,
               "Discharge at 0.8 mA/cm2 until 0 V") == 0);
  CHECK(nimc_experiment_nsteps(exp) == 1 + 12000 + 1);
  nimc_experiment_destroy(exp);

  CHECK(nimc_experiment_nsteps(NULL) == 0);
  nimc_experiment_destroy(NULL);
}

static void test_long_text(void) {
  char line[600];
  nimc_experiment *exp = NULL;
  nimc_err err;
  /* blanks between words are free, so a valid step can be longer than
   * the text buffer: it is truncated, not overflowed */
  snprintf(line, sizeof line, "Rest for%*s", 500, "1 s");
  CHECK(parse1(line, &exp, &err) == NIMC_OK);
  const nimc_step *st = only_step(exp);
  CHECK(st && strlen(st->text) == NIMC_STEP_TEXT_MAX - 1);
  CHECK(st && strncmp(st->text, "Rest for   ", 11) == 0);
  if (st) CHECK_REL(st->duration_s, 1.0, 0.0);
  nimc_experiment_destroy(exp);
  /* a quantity longer than any unit is refused, not overflowed */
  snprintf(line, sizeof line, "Rest for 1%*s", 300, "s");
  check_error(line, "is too long for a time");
  /* a long step is quoted shortened in messages, never cutting a UTF-8
   * character in two */
  char junk[700] = "Dance";
  for (int k = 0; k < 300; k++)
    strcat(junk, "\xc2\xb5");
  check_error(junk, "unknown step 'Dance\xc2\xb5");
  nimc_err err2;
  CHECK(parse1(junk, &exp, &err2) == NIMC_EINPUT);
  CHECK_CONTAINS(err2.msg, "\xc2\xb5...'");
  CHECK(strlen(err2.msg) < 400);
  CHECK(utf8_ok(err2.msg));
}

static void test_errors_from_brief(void) {
  const char *lines[] = {"Charge at 0.1 mA/cm2 until 3.5 V",
                         "Charge at 0.1 mA/cm2 untill 3.5 V"};
  nimc_experiment *exp = (nimc_experiment *)1;
  nimc_err err;
  CHECK(nimc_experiment_parse(&exp, lines, 2, &err) == NIMC_EINPUT);
  CHECK(exp == NULL);
  CHECK(strcmp(err.msg,
               "step 2 'Charge at 0.1 mA/cm2 untill 3.5 V': expected 'until "
               "<voltage>' or 'for <time>' after the current, found 'untill "
               "3.5 V'") == 0);
  CHECK_CONTAINS(err.msg, "step 2");

  CHECK(parse1("Charge at 5 V until 3.5 V", &exp, &err) == NIMC_EINPUT);
  CHECK(strcmp(err.msg, "step 1 'Charge at 5 V until 3.5 V': '5 V' is not a "
                        "current or a power (unit 'V' is not A, A/m2, A/g, "
                        "W or W/m2, nor a C-rate such as 2C)") == 0);

  const char *three[] = {"Rest for 1 s", "Rest for 2 s", "Dance for 1 h"};
  CHECK(nimc_experiment_parse(&exp, three, 3, &err) == NIMC_EINPUT);
  CHECK(strcmp(err.msg, "step 3 'Dance for 1 h': unknown step 'Dance' "
                        "(expected Charge, Discharge, Rest, Hold, Sweep, "
                        "Sine or Repeat)") == 0);
}

static void test_errors(void) {
  check_error("Charge at 1 mA", "expected 'until <voltage>' or 'for <time>' "
                                "after the current, found nothing");
  check_error("Charge 1 mA until 3 V", "expected 'at <current>' after "
                                       "'Charge', found '1 mA until 3 V'");
  check_error("Discharge at -1 mA until 0 V",
              "a current must be positive (the verb gives the direction), "
              "found '-1 mA'");
  check_error("Charge at 0 mA until 3 V", "must be positive");
  check_error("Charge at mA until 3 V",
              "expected a current after 'at', found 'mA until 3 V'");
  check_error("Charge at 1 until 3 V",
              "'1' has no unit (expected a current in A or A/m2)");
  check_error("Charge at 1 kg until 3 V",
              "'1 kg' is not a current or a power (unit 'kg' is not A");
  check_error(
      "Charge at 1 mA until 3 zorks",
      "'3 zorks' has an unknown unit 'zorks' (expected a voltage in V)");
  check_error("Charge at 1 mA until 3 A",
              "'3 A' is not a voltage (unit 'A' is not V)");
  check_error("Charge at 1 mA for 3 V",
              "'3 V' is not a time (unit 'V' is not s)");
  check_error("Charge at 1 mA until 3 V or until 4 V",
              "'until' is given twice");
  check_error("Charge at 1 mA for 1 h or for 2 h", "'for' is given twice");
  check_error("Charge at 1 mA until 3 V for 1 h",
              "expected 'or' or the end of the step after 'until 3 V', found "
              "'for 1 h'");
  check_error("Charge at 1 mA until 3 V or",
              "expected 'until <voltage>' or 'for <time>' after 'or', found "
              "nothing");
  check_error("Charge at 1 mA until 3 V or xyz",
              "expected 'until <voltage>' or 'for <time>' after 'or', found "
              "'xyz'");
  check_error("Charge at nan mA until 3 V", "out of range");
  check_error("Rest", "expected 'for <time>' or 'until <voltage>' after "
                      "'Rest', found nothing");
  check_error("Rest until 3 A", "'3 A' is not a voltage (unit 'A' is not V)");
  check_error("Rest until 1 mC", "'1 mC' is not a voltage");
  check_error("Rest for 0 s", "a duration must be positive, found '0 s'");
  check_error("Rest for -5 min", "a duration must be positive");
  check_error("Hold at 3 V", "expected 'for <time>' or 'until <current>' "
                             "after the voltage, found nothing");
  check_error("Hold 3 V for 1 h", "expected 'at <voltage>' after 'Hold'");
  check_error("Hold at 3 V until 2 V",
              "'2 V' is not a current (unit 'V' is not A or A/m2)");
  check_error("Sweep 0 V to 1 V at 1 mV/s", "expected 'from <voltage>'");
  check_error("Sweep from 0 V 1 V at 1 mV/s",
              "expected 'to <voltage>' after the start voltage, found '1 V at");
  check_error("Sweep from 0 V to 1 V",
              "expected 'at <rate>' after the end voltage, found nothing");
  check_error("Sweep from 0 V to 1 V at", "expected a sweep rate after 'at'");
  check_error("Sweep from 0 V to 1 V 1 mV/s",
              "expected 'at <rate>' after the end voltage, found '1 mV/s'");
  check_error("Sweep from 0 V to 1 V at 1 mA", "is not a sweep rate");
  check_error("Sweep from 0 V to 1 V at 0 mV/s",
              "a sweep rate must be positive");
  check_error("Sweep from 1 V to 1 V at 1 mV/s",
              "starts and ends at the same voltage");
  check_error("Sweep from 0 V to 1 V at 1 mV/s until 2 V",
              "expected 'for <time>' after the rate, found 'until 2 V'");
  check_error("Charge at 1 mA until 3 V; Rest for 1 h",
              "only allowed inside 'Repeat <N> times: ...'");
  check_error("Repeat 0 times: Rest for 1 s",
              "step 1 'Repeat 0 times': expected a whole number >= 1 after "
              "'Repeat', found '0 times'");
  check_error("Repeat two times: Rest for 1 s", "found 'two times'");
  check_error("Repeat 99999999999 times: Rest for 1 s", "whole number");
  check_error("Repeat 3 : Rest for 1 s",
              "expected 'times:' (or 'times with cycle jumping:') after the repeat count, found nothing");
  check_error("Repeat 3 times Rest for 1 s", "found no ':'");
  check_error("Repeat 3 times:  ; ;", "expected steps after ':'");
  check_error("Repeat 3 times: Rest for 1 s; Repeat 2 times: Rest for 1 s",
              "cannot be nested");
  check_error("Repeat 2 times: Rest for 1 s; Dance for 1 h",
              "step 1 (item 2 of the Repeat) 'Dance for 1 h': unknown step "
              "'Dance'");
}

/* issue 12: every quantity finite and plausible, one quantity per value,
 * durations the solver can resolve -- answered at the input, never by IDA */
static void test_bounds(void) {
  check_error("Rest for 1e-300 s",
              "'1e-300 s' is outside the plausible range: expected a "
              "duration from 1 us");
  check_error("Rest for 1e308 h", "'1e308 h' is out of range (not a finite");
  check_error("Rest for 1e300 h", "to 1e9 s (about 32 years)");
  check_error("Charge at 1e6 A/cm2 until 3.5 V",
              "'1e6 A/cm2' is outside the plausible range: expected a current "
              "density of at most 10 A/cm2");
  check_error("Discharge at 1 kA for 1 s", "a current of at most 100 A");
  check_error("Hold at 17 kV for 1 s", "a voltage from -10 V to 10 V");
  check_error("Sweep from 0 V to 1 V at 1e-300 V/s",
              "the sweep would take 1e+300 s, more than 1e9 s");
  check_error("Sweep from 0 V to 1 V at 1e-10 V/s",
              "the sweep would take 1e+10 s, more than 1e9 s");
  check_error("Sine 5 mV at 1e12 Hz for 1 s", "a frequency from 1 uHz");
  check_error("Rest for 5 s 3",
              "expected 'or' or the end of the step after 'for 5 s', found "
              "'3'");
}

/* the known simulated time that output budgets are estimated from */
static void test_timed(void) {
  nimc_experiment *exp = NULL;
  nimc_err err;
  const char *lines[] = {
      "Repeat 3 times: Rest for 1 h; Charge at 1 mA until 3 V",
      "Sweep from 0 V to 1 V at 10 mV/s",
      "Discharge at 1 mA until 0 V or for 10 s"};
  CHECK(nimc_experiment_parse(&exp, lines, 3, &err) == NIMC_OK);
  CHECK_REL(nimc_experiment_timed_s(exp), 3 * 3600.0 + 100.0 + 10.0, 1e-12);
  nimc_experiment_destroy(exp);
  CHECK(nimc_experiment_timed_s(NULL) == 0.0);
}

/* The fuzz target's seeds (tests/fuzz/corpus/experiment, make fuzz) under
 * its contract, in every make check: parsed with finite, bounded values,
 * or refused with a message naming the step. */
static void test_fuzz_corpus(void) {
  const char *dirname = "tests/fuzz/corpus/experiment";
  DIR *dir = opendir(dirname);
  CHECK(dir != NULL);
  if (!dir) return;
  size_t files = 0, parsed = 0;
  struct dirent *e;
  while ((e = readdir(dir))) {
    if (e->d_name[0] == '.') continue;
    char path[512], text[4096];
    snprintf(path, sizeof path, "%s/%s", dirname, e->d_name);
    FILE *fp = fopen(path, "rb");
    CHECK(fp != NULL);
    if (!fp) continue;
    size_t n = fread(text, 1, sizeof text - 1, fp);
    fclose(fp);
    text[n] = '\0';
    const char *lines[64];
    size_t nl = 0;
    for (char *p = text; p && nl < 64;) {
      lines[nl++] = p;
      p = strchr(p, '\n');
      if (p) *p++ = '\0';
    }
    nimc_experiment *exp = NULL;
    nimc_err err = {0, ""};
    int rc = nimc_experiment_parse(&exp, lines, nl, &err);
    files++;
    if (rc == NIMC_OK) {
      parsed++;
      double t = nimc_experiment_timed_s(exp);
      CHECK(isfinite(t) && t >= 0);
      nimc_experiment_destroy(exp);
    } else {
      CHECK(rc == NIMC_EINPUT && exp == NULL);
      CHECK_CONTAINS(err.msg, "step ");
    }
  }
  closedir(dir);
  CHECK(files >= 5);
  CHECK(parsed >= 4 && parsed < files); /* bounds.txt must be refused */
}

static void test_misuse_and_empty(void) {
  nimc_experiment *exp = (nimc_experiment *)1;
  nimc_err err;
  const char *blank[] = {"", "  # nothing here"};
  CHECK(nimc_experiment_parse(&exp, blank, 2, &err) == NIMC_EINPUT);
  CHECK(exp == NULL);
  CHECK_CONTAINS(err.msg, "no steps");
  CHECK(nimc_experiment_parse(&exp, NULL, 0, &err) == NIMC_EINPUT);
  CHECK(nimc_experiment_parse(NULL, blank, 2, &err) == NIMC_EMISUSE);
  CHECK(nimc_experiment_parse(&exp, NULL, 3, &err) == NIMC_EMISUSE);
  const char *hole[] = {"Rest for 1 s", NULL};
  CHECK(nimc_experiment_parse(&exp, hole, 2, &err) == NIMC_EMISUSE);
  CHECK(exp == NULL);
}

/* Mutate valid lines byte by byte (xorshift, fixed seed): the parser must
 * answer every one with OK or EINPUT and, on EINPUT, a message that names
 * the step. */
static void test_fuzz(void) {
  static const char *seeds[] = {
      "Charge at 0.1 mA/cm2 until 3.5 V or for 1 h",
      "Hold at 3.5 V until 0.01 mA/cm2 or for 10 min",
      "Sweep from 0 V to 3.5 V at 10 mV/s for 1 h",
      ("Repeat 3 times: Charge at 1 mA until 3 V; Rest for 1 s; Discharge at "
       "1 mA until 0 V")};
  const char alphabet[] = " ;:#aAtuVmsh0123456789.-e/";
  uint64_t x = 0x9E3779B97F4A7C15u;
  int bad = 0, ok = 0;
  for (int iter = 0; iter < 4000; iter++) {
    char line[200];
    snprintf(line, sizeof line, "%s", seeds[iter % 4]);
    size_t len = strlen(line);
    for (int m = 0; m < 1 + iter % 4; m++) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      size_t at = (size_t)(x % len);
      char ch = alphabet[(x >> 32) % (sizeof alphabet - 1)];
      if ((x >> 40) % 3 == 0) { /* delete */
        memmove(line + at, line + at + 1, len - at);
        len--;
      } else {
        line[at] = ch;
      }
      if (len == 0) break;
    }
    nimc_experiment *exp = NULL;
    nimc_err err = {0, ""};
    int rc = parse1(line, &exp, &err);
    if (rc == NIMC_OK) {
      ok++;
      if (nimc_experiment_nsteps(exp) < 1) bad++;
    } else if (rc != NIMC_EINPUT || exp != NULL ||
               (strncmp(err.msg, "step 1", 6) != 0 &&
                !strstr(err.msg, "no steps"))) {
      if (bad++ < 5)
        fprintf(stderr, "fuzz: '%s' -> %d '%s'\n", line, rc, err.msg);
    }
    nimc_experiment_destroy(exp);
  }
  CHECK(bad == 0);
  CHECK(ok > 0); /* some mutations (digits) stay valid */
}

/* ---- issue 10: nested Repeats, step options ---- */

/* Parse n lines, expect failure, and check the message contains want. */
static void check_error_lines(const char *const *lines, size_t n,
                              const char *want) {
  nimc_experiment *exp = (nimc_experiment *)1;
  nimc_err err = {0, ""};
  int rc = nimc_experiment_parse(&exp, lines, n, &err);
  CHECK(rc == NIMC_EINPUT);
  CHECK(exp == NULL);
  CHECK_CONTAINS(err.msg, want);
  if (rc == NIMC_OK) nimc_experiment_destroy(exp);
}

/* One line, brackets: a Repeat of a Repeat and a step; counts expanded. */
static void test_nested_one_line(void) {
  nimc_experiment *exp = NULL;
  nimc_err err = {0, ""};
  CHECK(parse1("Repeat 10 times: (Repeat 5 times: Charge at 1 mA until 3 V; "
               "Discharge at 1 mA until 1 V or for 20 s); Rest for 1 h",
               &exp, &err) == NIMC_OK);
  CHECK(exp != NULL);
  if (!exp) return;
  CHECK(exp->nblocks == 1);
  const nimc_block *b = &exp->blocks[0];
  CHECK(b->repeat == 10 && b->nsteps == 0 && b->nblocks == 2 && !b->plain);
  if (b->nblocks == 2) {
    const nimc_block *in = &b->blocks[0], *rest = &b->blocks[1];
    CHECK(in->repeat == 5 && in->nsteps == 2 && in->nblocks == 0 && !in->plain);
    CHECK(in->steps[1].type == NIMC_STEP_DISCHARGE);
    CHECK(strcmp(in->steps[1].text,
                 "Discharge at 1 mA until 1 V or for 20 s") == 0);
    CHECK(rest->plain && rest->repeat == 1 && rest->nsteps == 1);
    CHECK(rest->steps[0].type == NIMC_STEP_REST);
  }
  CHECK(nimc_experiment_nsteps(exp) == 10 * (5 * 2 + 1));
  CHECK_REL(nimc_experiment_timed_s(exp), 10 * (5 * 20.0 + 3600.0), 1e-12);
  nimc_experiment_destroy(exp);
  /* a whole line in brackets, three levels, items numbered for messages */
  CHECK(parse1("(Repeat 2 times: Rest for 1 s; (Repeat 3 times: (Repeat 4 "
               "times: Rest for 2 s); Rest for 3 s))",
               &exp, &err) == NIMC_OK);
  CHECK(nimc_experiment_nsteps(exp) == 2 * (1 + 3 * (4 + 1)));
  CHECK_REL(nimc_experiment_timed_s(exp), 2 * (1 + 3 * (4 * 2.0 + 3)), 1e-12);
  nimc_experiment_destroy(exp);
  check_error("Repeat 2 times: Rest for 1 s; (Repeat 3 times: Rest for 1 s; "
              "Dance)",
              "step 1 (item 2.2 of the Repeat) 'Dance': unknown step");
  check_error("Repeat 2 times: (Repeat 0 times: Rest for 1 s)",
              "step 1 (item 1 of the Repeat) 'Repeat 0 times': expected a "
              "whole number >= 1 after 'Repeat', found '0 times'");
}

/* Over lines: "Repeat N times:" on its own line, its items, "End". */
static void test_nested_lines(void) {
  const char *lines[] = {"Repeat 3 times:",
                         "  Charge at 1 mA until 3 V",
                         "  # a comment inside",
                         "  repeat 2 TIMES:",
                         "    Rest for 1 s",
                         "    Rest for 2 s (0.5 s period)",
                         "  end",
                         "  Repeat 2 times: Rest for 4 s; Rest for 5 s",
                         "End",
                         "Rest for 5 s"};
  nimc_experiment *exp = NULL;
  nimc_err err = {0, ""};
  CHECK(nimc_experiment_parse(&exp, lines, 10, &err) == NIMC_OK);
  CHECK(exp != NULL);
  if (!exp) return;
  CHECK(exp->nblocks == 2);
  const nimc_block *b = &exp->blocks[0];
  CHECK(b->repeat == 3 && b->nblocks == 3 && b->line == 1);
  if (b->nblocks == 3) {
    CHECK(b->blocks[0].plain && b->blocks[0].nsteps == 1);
    CHECK(!b->blocks[1].plain && b->blocks[1].repeat == 2 &&
          b->blocks[1].nsteps == 2 && b->blocks[1].line == 4);
    CHECK(b->blocks[1].steps[1].has_period);
    CHECK(b->blocks[2].repeat == 2 && b->blocks[2].nsteps == 2);
  }
  CHECK(exp->blocks[1].plain && exp->blocks[1].line == 10);
  CHECK(nimc_experiment_nsteps(exp) == 3 * (1 + 2 * 2 + 2 * 2) + 1);
  CHECK_REL(nimc_experiment_timed_s(exp), 3 * (2 * 3.0 + 2 * 9.0) + 5, 1e-12);
  nimc_experiment_destroy(exp);
  /* a Repeat of steps over lines is the one-line Repeat */
  const char *flat[] = {"Repeat 4 times:", "Charge at 1 mA until 3 V",
                        "Discharge at 1 mA until 1 V", "End"};
  CHECK(nimc_experiment_parse(&exp, flat, 4, &err) == NIMC_OK);
  CHECK(exp && exp->nblocks == 1 && exp->blocks[0].repeat == 4 &&
        exp->blocks[0].nsteps == 2 && exp->blocks[0].nblocks == 0);
  nimc_experiment_destroy(exp);
}

/* Steps counted without overflow; a run counts at most INT_MAX steps. */
static void test_nested_budget(void) {
  nimc_experiment *exp = NULL;
  nimc_err err = {0, ""};
  /* 1000 x 1000 parses (the CLI's budget of 100000 steps refuses it) */
  CHECK(parse1("Repeat 1000 times: (Repeat 1000 times: Rest for 1 s)", &exp,
               &err) == NIMC_OK);
  CHECK(nimc_experiment_nsteps(exp) == 1000000);
  nimc_experiment_destroy(exp);
  check_error("Repeat 1000000000 times: (Repeat 1000000000 times: Rest for 1 "
              "s)",
              "step 1 'Repeat 1000000000 times: (Repeat 1000000000 times: "
              "Rest for 1 s)': the experiment would run 1e+18 steps (Repeats "
              "expanded), more than the 2147483647 one run can count");
  const char *lines[] = {
      "Rest for 1 s", "Repeat 2147483647 times:", "Rest for 1 s",
      "(Repeat 1000000000 times: (Repeat 1000000000 times: Rest for 1 s))",
      "End"};
  check_error_lines(lines, 5,
                    "step 2 'Repeat 2147483647 times:': the "
                    "experiment would run 2.147e+27 steps");
  /* deeper than 8 levels, on one line or over lines */
  char deep[512] = "";
  for (int k = 0; k < 9; k++)
    strcat(deep, "(Repeat 2 times: ");
  strcat(deep, "Rest for 1 s");
  for (int k = 0; k < 9; k++)
    strcat(deep, ")");
  check_error(deep, "Repeats nest at most 8 deep");
  deep[0] = '\0';
  for (int k = 0; k < 8; k++)
    strcat(deep, "(Repeat 2 times: ");
  strcat(deep, "Rest for 1 s");
  for (int k = 0; k < 8; k++)
    strcat(deep, ")");
  CHECK(parse1(deep, &exp, &err) == NIMC_OK);
  CHECK(nimc_experiment_nsteps(exp) == 256);
  nimc_experiment_destroy(exp);
  const char *heads[10];
  for (int k = 0; k < 9; k++)
    heads[k] = "Repeat 2 times:";
  heads[9] = "Rest for 1 s";
  check_error_lines(heads, 10,
                    "step 9 'Repeat 2 times:': Repeats nest at "
                    "most 8 deep");
}

/* Bad nests: each refused, located (line, item, byte). */
static void test_nested_errors(void) {
  check_error("Repeat 2 times: (Repeat 3 times: Rest for 1 s",
              "step 1 'Repeat 2 times: (Repeat 3 times: Rest for 1 s': "
              "unbalanced brackets: the '(' at byte 17 is never closed");
  check_error("  Repeat 2 times: Rest for 1 s)",
              "unbalanced brackets: the ')' at byte 31 closes no '('");
  check_error("Rest for 1 h (1 s period", "the '(' at byte 14 is never closed");
  check_error("Repeat 2 times: (Rest for 1 s)",
              "step 1 (item 1 of the Repeat) '(Rest for 1 s': brackets hold a "
              "nested Repeat: expected '(Repeat <N> times: <step>; ...)', "
              "found 'Rest for 1 s'");
  check_error("Repeat 2 times: (Repeat 3 times: Rest for 1 s) Rest for 2 s",
              "expected ';' or the end of the Repeat after the ')' of the "
              "nested Repeat, found 'Rest for 2 s'");
  check_error("Repeat 2 times: (Repeat 3 times: ; )",
              "expected steps after ':'");
  check_error("Repeat 2 times: Rest for 1 s; Repeat 2 times: Rest for 1 s",
              "cannot be nested inside another Repeat without brackets: "
              "write the inner one as one item, '(Repeat <N> times: <step>; "
              "...)'");
  const char *no_end[] = {"Rest for 1 s", "Repeat 3 times:", "Rest for 2 s"};
  check_error_lines(no_end, 3,
                    "step 2 'Repeat 3 times:': the Repeat has no "
                    "'End' (a Repeat whose steps follow on their "
                    "own lines ends at a line 'End')");
  const char *no_end2[] = {"Repeat 3 times:", "Repeat 2 times:", "Rest for 2 s",
                           "End"};
  check_error_lines(no_end2, 4,
                    "step 1 'Repeat 3 times:': the Repeat has no "
                    "'End'");
  const char *stray[] = {"Rest for 1 s", "End"};
  check_error_lines(stray, 2, "step 2 'End': 'End' without a Repeat to close");
  const char *empty[] = {"Repeat 3 times:", "# nothing", "End"};
  check_error_lines(empty, 3,
                    "step 1 'Repeat 3 times:': the Repeat has no "
                    "steps before its 'End' on line 3");
  const char *endx[] = {"Repeat 3 times:", "Rest for 1 s", "End it"};
  check_error_lines(endx, 3,
                    "step 3 'End it': expected nothing after 'End', "
                    "found 'it'");
  const char *zero[] = {"Repeat 0 times:", "Rest for 1 s", "End"};
  check_error_lines(zero, 3,
                    "step 1 'Repeat 0 times': expected a whole "
                    "number >= 1 after 'Repeat', found '0 times'");
  const char *inner[] = {"Repeat 3 times:", "Rest for 1 s", "Dance", "End"};
  check_error_lines(inner, 4, "step 3 'Dance': unknown step 'Dance'");
}

/* "(<time> period)" and "(at <temperature>)" after a step. */
static void test_step_options(void) {
  nimc_experiment *exp = NULL;
  nimc_err err = {0, ""};
  const nimc_step *st;
  CHECK(parse1("Rest for 1 h (1 minute period)", &exp, &err) == NIMC_OK);
  st = only_step(exp);
  CHECK(st && st->has_period && !st->has_temperature);
  if (st) {
    CHECK_REL(st->period_s, 60.0, 1e-15);
    CHECK_REL(st->duration_s, 3600.0, 1e-15);
    CHECK(strcmp(st->text, "Rest for 1 h (1 minute period)") == 0);
  }
  nimc_experiment_destroy(exp);
  CHECK(parse1("Charge at 1 mA/cm2 until 3.5 V (at 80 degC)", &exp, &err) ==
        NIMC_OK);
  st = only_step(exp);
  CHECK(st && st->has_temperature && !st->has_period);
  if (st) {
    CHECK_REL(st->temperature_K, 353.15, 1e-12);
    CHECK_REL(st->v_cut_V, 3.5, 1e-15);
  }
  nimc_experiment_destroy(exp);
  CHECK(parse1("Hold at 3 V for 10 min (2 s period, at 300 K)", &exp, &err) ==
        NIMC_OK);
  st = only_step(exp);
  CHECK(st && st->has_temperature && st->has_period);
  if (st) CHECK(st->temperature_K == 300.0 && st->period_s == 2.0);
  nimc_experiment_destroy(exp);
  CHECK(parse1("Sweep from 0 V to 1 V at 10 mV/s (at 50 degC) (0.1 s period)",
               &exp, &err) == NIMC_OK);
  st = only_step(exp);
  CHECK(st && st->has_temperature && st->has_period);
  if (st) CHECK_REL(st->sweep_rate_V_s, 0.01, 1e-15);
  nimc_experiment_destroy(exp);
  CHECK(parse1("Repeat 2 times: Charge at 1 mA until 3 V (at 80 degC); Rest "
               "for 1 s (0.1 s period)",
               &exp, &err) == NIMC_OK);
  CHECK(exp && exp->blocks[0].nsteps == 2 &&
        exp->blocks[0].steps[0].has_temperature &&
        exp->blocks[0].steps[1].has_period);
  nimc_experiment_destroy(exp);
  /* the samples a budget counts: 60 at the step's period, plus 100 s at
   * the default */
  const char *two[] = {"Rest for 1 h (1 minute period)", "Rest for 100 s",
                       "Charge at 1 mA until 3 V (1 s period)"};
  CHECK(nimc_experiment_parse(&exp, two, 3, &err) == NIMC_OK);
  CHECK_REL(nimc_experiment_samples(exp, 0.0), 60.0, 1e-12);
  CHECK_REL(nimc_experiment_samples(exp, 10.0), 70.0, 1e-12);
  nimc_experiment_destroy(exp);
  CHECK(parse1("Repeat 10 times: (Repeat 5 times: Rest for 10 s (1 s "
               "period)); Rest for 1 s",
               &exp, &err) == NIMC_OK);
  CHECK_REL(nimc_experiment_samples(exp, 0.5), 10 * (5 * 10.0 + 2.0), 1e-12);
  nimc_experiment_destroy(exp);
  CHECK(nimc_experiment_samples(NULL, 1.0) == 0.0);
}

/* Bad options: each refused with what was expected and found. */
static void test_step_option_errors(void) {
  check_error("Rest for 1 h (0 s period)",
              "step 1 'Rest for 1 h (0 s period)': an output period must be "
              "positive, found '0 s'");
  check_error("Rest for 1 h (1 V period)",
              "'1 V' is not an output period (unit 'V' is not s)");
  check_error("Rest for 1 h (1e-9 s period)",
              "'1e-9 s' is outside the plausible range: expected an output "
              "period from 1 us");
  check_error("Rest for 1 h (1 period)",
              "'1' has no unit (expected an output period in s)");
  check_error("Rest for 1 h (1 s period) (2 s period)",
              "the output period '(<time> period)' is given twice");
  check_error("Rest for 1 h (1 s period, 1 s period)", "is given twice");
  check_error("Charge at 1 mA until 3 V (at 1e6 degC)",
              "'1e6 degC' is outside the plausible range: expected a "
              "temperature from 150 K to 600 K (-123 degC to 327 degC)");
  check_error("Charge at 1 mA until 3 V (at -300 degC)",
              "a temperature must be above absolute zero, found '-300 degC'");
  check_error("Charge at 1 mA until 3 V (at 80 V)",
              "'80 V' is not a temperature (unit 'V' is not K or degC)");
  check_error("Charge at 1 mA until 3 V (at 80C)",
              "'80C' is not a temperature: ");
  check_error("Charge at 1 mA until 3 V (at 80C)", "degC");
  check_error("Charge at 1 mA until 3 V (at 80 degC) (at 25 degC)",
              "the temperature '(at <temperature>)' is given twice");
  check_error("Charge at 1 mA until 3 V (at 80 degC now)",
              "expected ')' or ',' after the temperature, found 'now'");
  check_error("Charge at 1 mA until 3 V (quickly)",
              "expected '<time> period' or 'at <temperature>' in the "
              "brackets, found 'quickly'");
  check_error("Charge at 1 mA until 3 V ()",
              "expected '<time> period' or 'at <temperature>' in the "
              "brackets, found nothing");
  check_error("Charge at 1 mA until 3 V (1 s period,)", "found nothing");
  check_error("Charge at 1 mA until 3 V (1 s period) now",
              "expected 'or' or the end of the step after 'until 3 V', found "
              "'(1 s period) now'");
  check_error("Charge at 1 mA (1 s period)",
              "expected 'until <voltage>' or 'for <time>' after the current, "
              "found nothing");
}

/* Experiment files: a Repeat over lines, comments, errors at the file's
 * own line numbers. */
static void test_nested_file(void) {
  char path[] = "/tmp/nimc_test_experiment_XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  if (fd < 0) return;
  FILE *fp = fdopen(fd, "w");
  fputs("# a formation, then 3 x (2 cycles, a rest)\n"
        "Charge at 1 mA until 3 V (1 s period)\n"
        "\n"
        "Repeat 3 times:   # the outer\n"
        "  Repeat 2 times: Charge at 1 mA until 3 V; Discharge at 1 mA until "
        "1 V\n"
        "  Rest for 1 h (at 40 degC)\n"
        "End\n",
        fp);
  fclose(fp);
  nimc_experiment *exp = NULL;
  nimc_err err = {0, ""};
  char **lines = NULL;
  size_t n = 0;
  CHECK(nimc_experiment_read(path, &exp, &lines, &n, &err) == NIMC_OK);
  CHECK(exp && exp->nblocks == 2 && exp->blocks[1].nblocks == 2);
  CHECK(nimc_experiment_nsteps(exp) == 1 + 3 * (2 * 2 + 1));
  CHECK(n == 5 && lines && strcmp(lines[1], "Repeat 3 times:") == 0);
  nimc_experiment_lines_free(lines, n);
  nimc_experiment_destroy(exp);
  fp = fopen(path, "w");
  fputs("Rest for 1 s\n# then\nRepeat 3 times:\n  Rest for 2 s\n\n", fp);
  fclose(fp);
  char want[256];
  snprintf(want, sizeof want,
           "%s:3: 'Repeat 3 times:': the Repeat has no 'End'", path);
  CHECK(nimc_experiment_read(path, &exp, NULL, NULL, &err) == NIMC_EINPUT);
  CHECK(exp == NULL);
  CHECK_CONTAINS(err.msg, want);
  fp = fopen(path, "w");
  fputs("Repeat 2 times: Rest for 1 s; (Repeat 2 times: Dance)\n", fp);
  fclose(fp);
  snprintf(want, sizeof want,
           "%s:1: (item 2.1 of the Repeat) 'Dance': unknown step", path);
  CHECK(nimc_experiment_read(path, &exp, NULL, NULL, &err) == NIMC_EINPUT);
  CHECK_CONTAINS(err.msg, want);
  remove(path);
}

/* Mutations of nested Repeats and options (brackets among the mutated
 * bytes): OK or EINPUT with a located message, never a crash. */
static void test_fuzz_nested(void) {
  static const char *seeds[] = {
      "Repeat 3 times: (Repeat 2 times: Charge at 1 mA until 3 V; Rest for 1 "
      "s); Rest for 2 s (1 s period)",
      "Charge at 1 mA until 3 V (at 80 degC, 1 s period)",
      "(Repeat 2 times: (Repeat 2 times: Rest for 1 s); Rest for 1 s)"};
  const char alphabet[] = " ;:()(),#aAtuVmsh0123456789.-e/";
  uint64_t x = 0x2545F4914F6CDD1Du;
  int bad = 0, ok = 0;
  for (int iter = 0; iter < 3000; iter++) {
    char line[200];
    snprintf(line, sizeof line, "%s", seeds[iter % 3]);
    size_t len = strlen(line);
    for (int m = 0; m < 1 + iter % 4; m++) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      size_t at = (size_t)(x % len);
      char ch = alphabet[(x >> 32) % (sizeof alphabet - 1)];
      if ((x >> 40) % 3 == 0) {
        memmove(line + at, line + at + 1, len - at);
        len--;
      } else {
        line[at] = ch;
      }
      if (len == 0) break;
    }
    nimc_experiment *exp = NULL;
    nimc_err err = {0, ""};
    int rc = parse1(line, &exp, &err);
    if (rc == NIMC_OK) {
      ok++;
      if (nimc_experiment_nsteps(exp) < 1 ||
          !isfinite(nimc_experiment_timed_s(exp)))
        bad++;
    } else if (rc != NIMC_EINPUT || exp != NULL ||
               (strncmp(err.msg, "step 1", 6) != 0 &&
                !strstr(err.msg, "no steps"))) {
      if (bad++ < 5)
        fprintf(stderr, "fuzz: '%s' -> %d '%s'\n", line, rc, err.msg);
    }
    nimc_experiment_destroy(exp);
  }
  CHECK(bad == 0);
  CHECK(ok > 0);
}

int main(void) {
  RUN(test_charge_discharge);
  RUN(test_rest_hold_sweep);
  RUN(test_power_load_rates);
  RUN(test_sine);
  RUN(test_repeat_and_lines);
  RUN(test_long_text);
  RUN(test_errors_from_brief);
  RUN(test_errors);
  RUN(test_bounds);
  RUN(test_timed);
  RUN(test_fuzz_corpus);
  RUN(test_misuse_and_empty);
  RUN(test_fuzz);
  RUN(test_nested_one_line);
  RUN(test_nested_lines);
  RUN(test_nested_budget);
  RUN(test_nested_errors);
  RUN(test_step_options);
  RUN(test_step_option_errors);
  RUN(test_nested_file);
  RUN(test_fuzz_nested);
  return TEST_REPORT();
}
