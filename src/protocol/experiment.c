/*
 * experiment.c -- the parser of the experiment language.
 *
 * One input line is one step ("Charge at 0.1 mA/cm2 until 3.5 V"), one
 * "Repeat N times: step; (Repeat M times: step; ...); ..." block (nested
 * Repeats in brackets), or the head "Repeat N times:" of a block whose
 * items are the lines up to "End"; a step may end with options in
 * brackets, "(1 minute period)", "(at 80 degC)".  docs/experiments.md is
 * the grammar.  The parser is a hand-written recursive descent over
 * whitespace-separated words: keywords compare case-insensitively, and a
 * quantity is a number with its unit glued on ("3.5V") or in the next word
 * ("3.5 V"), converted to SI by udunits2 (io/units), so a unit is always
 * one word ("mA/cm2", "mV/s").  Keeping units to one word is what lets a
 * misspelt keyword ("untill") be reported as such instead of as a strange
 * unit.  Every failure names the input line (and the item of a Repeat),
 * quotes the step, says what was expected and what was found.  Nothing is
 * executed here: protocol/run.c interprets the blocks.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/params.h"
#include "io/units.h"
#include "protocol/experiment.h"

#define QTEXT_MAX 128 /* longest quantity text, "0.1 mA/cm2" */

/* Plausible magnitudes of a step's quantities (SI; docs/experiments.md).
 * The shortest duration is the solver's resolution: a step shorter than
 * 1 us ends before IDA can take a step at the times a long run reaches. */
#define NIMC_STEP_MAX_CURRENT_A 100.0
#define NIMC_STEP_MAX_CURRENT_A_M2 1e5 /* 10 A/cm2 */
#define NIMC_STEP_MAX_VOLTAGE_V 10.0
#define NIMC_STEP_MIN_DURATION_S 1e-6
#define NIMC_STEP_MAX_DURATION_S 1e9
#define NIMC_STEP_MAX_RATE_V_S 1e6
#define NIMC_STEP_MIN_FREQ_HZ 1e-6
#define NIMC_STEP_MAX_FREQ_HZ 1e9
#define NIMC_STEP_MAX_CURRENT_A_KG 1e5 /* 100 A/g */
#define NIMC_STEP_MAX_C_RATE 1e4       /* 1e4 C: a charge in 0.36 s */
#define NIMC_STEP_MAX_POWER_W 1e3
#define NIMC_STEP_MAX_POWER_W_M2 1e5 /* 10 W/cm2 */
#define NIMC_STEP_MIN_RESISTANCE_OHM 1e-3
#define NIMC_STEP_MAX_RESISTANCE_OHM 1e12
#define NIMC_STEP_MAX_CHARGE_C 1e6
#define QUOTE_MAX 160 /* longest quoted text in a message */

#define NIMC_STEP_MIN_TEMPERATURE_K 150.0 /* as [device] temperature */
#define NIMC_STEP_MAX_TEMPERATURE_K 600.0
/* The most steps one execution of an experiment may run: a run counts
 * its steps in an int. */
#define NIMC_EXPERIMENT_MAX_STEPS 2147483647.0
#define ITEM_MAX 48 /* longest item path, "2.1.3" */

/* Where a step came from, for messages. */
typedef struct ctx {
  size_t line;      /* 1-based input line */
  const char *item; /* the item of a one-line Repeat ("2", or "2.1" inside
                       a bracketed Repeat), "" or NULL on a plain line */
  const char *text; /* the step as written, trimmed */
  nimc_err *err;
} ctx;

/* The kinds of quantity a step reads. */
typedef enum qkind {
  Q_CURRENT,
  Q_VOLTAGE,
  Q_TIME,
  Q_RATE,
  Q_FREQ,
  Q_WAVE, /* a sine's amplitude or level: a voltage or a current */
  Q_POWER,
  Q_RESIST,
  Q_CHARGE,
  Q_PERIOD, /* a step's output period "(1 minute period)" */
  Q_TEMP    /* a step's temperature "(at 80 degC)" */
} qkind;

/* Terminations a step accepts, as flags. */
enum { T_UNTIL_V = 1, T_UNTIL_I = 2, T_FOR = 4, T_UNTIL_Q = 8 };

/* Copy src into dst (capacity cap), ending with "..." when it does not fit
 * and never cutting a UTF-8 sequence in two. */
static void clip(char *dst, size_t cap, const char *src, size_t srclen) {
  size_t n = srclen;
  int cut = n >= cap;
  if (cut) {
    n = cap > 4 ? cap - 4 : 0;
    while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
      n--;
  }
  memcpy(dst, src, n);
  strcpy(dst + n, cut && cap > 4 ? "..." : "");
}

/* Record an input error about the step in c; returns NIMC_EINPUT. */
static int fail(const ctx *c, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static int fail(const ctx *c, const char *fmt, ...) {
  char detail[NIMC_ERRMSG_MAX / 2], quote[QUOTE_MAX], where[64];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  clip(quote, sizeof quote, c->text, strlen(c->text));
  if (c->item && *c->item)
    snprintf(where, sizeof where, "step %zu (item %s of the Repeat)", c->line,
             c->item);
  else
    snprintf(where, sizeof where, "step %zu", c->line);
  return nimc_err_set(c->err, NIMC_EINPUT, "%s '%s': %s", where, quote, detail);
}

/* p moved past any blanks. */
static const char *skip_ws(const char *p) {
  while (isspace((unsigned char)*p))
    p++;
  return p;
}

/* Length of the word at p (up to whitespace or the end). */
static size_t word_len(const char *p) {
  size_t n = 0;
  while (p[n] && !isspace((unsigned char)p[n]))
    n++;
  return n;
}

/* Is the word at p the keyword kw (lower case), ignoring case? */
static int word_is(const char *p, const char *kw) {
  size_t n = word_len(p);
  if (n != strlen(kw)) return 0;
  for (size_t i = 0; i < n; i++)
    if (tolower((unsigned char)p[i]) != kw[i]) return 0;
  return 1;
}

/* Past the keyword kw and the blanks after it when p starts with it, else
 * NULL. */
static const char *accept(const char *p, const char *kw) {
  return word_is(p, kw) ? skip_ws(p + word_len(p)) : NULL;
}

/* Is the word at p one of the words that end a quantity? */
static int is_keyword(const char *p) {
  static const char *const kws[] = {"until", "for",    "or",      "to",    "at",
                                    "from",  "around", "through", "period"};
  for (size_t i = 0; i < sizeof kws / sizeof kws[0]; i++)
    if (word_is(p, kws[i])) return 1;
  return 0;
}

/* The rest of the step for "found ..." in messages (quoted, or "nothing"). */
static const char *found(char *buf, size_t cap, const char *p) {
  if (!*p) return "nothing";
  char q[QUOTE_MAX];
  clip(q, sizeof q, p, strlen(p));
  snprintf(buf, cap, "'%s'", q);
  return buf;
}

/* What a quantity kind is called, for messages ("a current"). */
static const char *qname(qkind k) {
  static const char *const names[] = {
      "a current",        "a voltage",    "a time",
      "a sweep rate",     "a frequency",  "a voltage or a current",
      "a power",          "a resistance", "a charge",
      "an output period", "a temperature"};
  return names[k];
}
/* The units a quantity kind takes, for messages ("A or A/m2"). */
static const char *qunits(qkind k) {
  static const char *const units[] = {
      "A or A/m2", "V",   "s",        "V/s", "Hz",       "V, A or A/m2",
      "W or W/m2", "ohm", "C or mAh", "s",   "K or degC"};
  return units[k];
}

/* Read the quantity text at *pp ("3.5 V" or "3.5V") into q and move *pp
 * past it; `after` names what precedes it, for the message. */
static int read_quantity(const ctx *c, const char **pp, qkind k,
                         const char *after, char *q) {
  const char *p = *pp;
  char buf[QUOTE_MAX + 2], *end;
  size_t n = word_len(p);
  (void)strtod(p, &end);
  if (n == 0 || end == p)
    return fail(c, "expected %s after '%s', found %s", qname(k), after,
                found(buf, sizeof buf, p));
  if (end == p + n) { /* bare number: the unit is the next word */
    const char *u = skip_ws(p + n);
    if (*u && !is_keyword(u)) n = (size_t)(u - p) + word_len(u);
  }
  if (n >= QTEXT_MAX) {
    clip(buf, 44, p, n);
    return fail(c, "'%s' is too long for %s", buf, qname(k));
  }
  memcpy(q, p, n);
  q[n] = '\0';
  *pp = skip_ws(p + n);
  return NIMC_OK;
}

/* Convert quantity text q of kind k (not Q_WAVE) to SI in *v; a current
 * (a power) may be absolute (A, W) or per footprint area (A/m2, W/m2,
 * *per_area set), and a current per active mass (A/kg, *per_mass set)
 * when per_mass is not NULL.  Every kind but a voltage must be positive
 * unless any_sign is set. */
static int convert_as(const ctx *c, const char *q, qkind k, double *v,
                      int *per_area, int *per_mass, int any_sign) {
  static const char *const si[] = {"A", "V",   "s", "V/s", "Hz", "",
                                   "W", "ohm", "C", "s",   "K"};
  char why[256], unit[QTEXT_MAX], *u;
  (void)strtod(q, &u);
  snprintf(unit, sizeof unit, "%s", skip_ws(u));
  if (!*unit)
    return fail(c, "'%s' has no unit (expected %s in %s)", q, qname(k),
                qunits(k));
  const char *area_si = k == Q_CURRENT ? "A/m2" : k == Q_POWER ? "W/m2" : NULL;
  int known = nimc_units_convertible(unit, unit);
  int abs_ok = nimc_units_convertible(unit, si[k]);
  int area_ok = area_si ? nimc_units_convertible(unit, area_si) : 0;
  int mass_ok = per_mass ? nimc_units_convertible(unit, "A/kg") : 0;
  if (known < 0 || abs_ok < 0 || area_ok < 0 || mass_ok < 0)
    return nimc_err_set(c->err, NIMC_EIO,
                        "the udunits2 unit database could not be read");
  /* a Charge's or Discharge's drive: a current, a power or a C-rate */
  static const char drive_units[] = "A, A/m2, A/g, W or W/m2, nor a C-rate "
                                    "such as 2C";
  if (!known)
    return fail(c, "'%s' has an unknown unit '%s' (expected %s in %s)", q, unit,
                per_mass ? "a current or a power" : qname(k),
                per_mass ? drive_units : qunits(k));
  if (!abs_ok && !area_ok && !mass_ok && k == Q_TEMP &&
      nimc_units_parse(q, "K", v, why, sizeof why) &&
      strstr(why, "did you mean")) /* "80 C": the coulomb */
    return fail(c, "'%s' is not a temperature: %s", q, why);
  if (!abs_ok && !area_ok && !mass_ok)
    return fail(c, "'%s' is not %s (unit '%s' is not %s)", q,
                per_mass ? "a current or a power" : qname(k), unit,
                per_mass ? drive_units : qunits(k));
  if (per_area) *per_area = !abs_ok && area_ok;
  if (per_mass) *per_mass = !abs_ok && !area_ok;
  const char *to = abs_ok ? si[k] : area_ok ? area_si : "A/kg";
  if (nimc_units_parse(q, to, v, why, sizeof why)) return fail(c, "%s", why);
  if (k != Q_VOLTAGE && !any_sign && !(*v > 0)) {
    static const char *const what[] = {
        "a current must be positive (the verb gives the direction)",
        "",
        "a duration must be positive",
        "a sweep rate must be positive",
        "a frequency must be positive",
        "",
        "a power must be positive (the verb gives the direction)",
        "a resistance must be positive",
        "a charge must be positive (the charge moved in the step)",
        "an output period must be positive",
        "a temperature must be above absolute zero"};
    return fail(c, "%s, found '%s'", what[k], q);
  }
  /* plausibility: beyond these a step is a slip of the unit, and would
   * only fail in the solver (or run for ever) */
  double lo = 0.0, hi;
  const char *range;
  switch (k) {
  case Q_CURRENT:
    hi = abs_ok    ? NIMC_STEP_MAX_CURRENT_A
         : area_ok ? NIMC_STEP_MAX_CURRENT_A_M2
                   : NIMC_STEP_MAX_CURRENT_A_KG;
    range = abs_ok    ? "a current of at most 100 A"
            : area_ok ? "a current density of at most 10 A/cm2"
                      : "a current per mass of at most 100 A/g";
    break;
  case Q_POWER:
    hi = abs_ok ? NIMC_STEP_MAX_POWER_W : NIMC_STEP_MAX_POWER_W_M2;
    range = abs_ok ? "a power of at most 1 kW"
                   : "a power density of at most 10 W/cm2";
    break;
  case Q_RESIST:
    lo = NIMC_STEP_MIN_RESISTANCE_OHM;
    hi = NIMC_STEP_MAX_RESISTANCE_OHM;
    range = "a resistance from 1 mohm to 1 Tohm";
    break;
  case Q_CHARGE:
    hi = NIMC_STEP_MAX_CHARGE_C;
    range = "a charge of at most 1e6 C";
    break;
  case Q_VOLTAGE:
    hi = NIMC_STEP_MAX_VOLTAGE_V;
    range = "a voltage from -10 V to 10 V";
    break;
  case Q_TIME:
    lo = NIMC_STEP_MIN_DURATION_S;
    hi = NIMC_STEP_MAX_DURATION_S;
    range = "a duration from 1 us (the solver's time resolution) to 1e9 s "
            "(about 32 years)";
    break;
  case Q_PERIOD:
    lo = NIMC_STEP_MIN_DURATION_S;
    hi = NIMC_STEP_MAX_DURATION_S;
    range = "an output period from 1 us (the solver's time resolution) to "
            "1e9 s (about 32 years)";
    break;
  case Q_TEMP:
    lo = NIMC_STEP_MIN_TEMPERATURE_K;
    hi = NIMC_STEP_MAX_TEMPERATURE_K;
    range = "a temperature from 150 K to 600 K (-123 degC to 327 degC)";
    break;
  case Q_RATE:
    hi = NIMC_STEP_MAX_RATE_V_S;
    range = "a sweep rate of at most 1e6 V/s";
    break;
  default:
    lo = NIMC_STEP_MIN_FREQ_HZ;
    hi = NIMC_STEP_MAX_FREQ_HZ;
    range = "a frequency from 1 uHz to 1 GHz";
    break;
  }
  if (fabs(*v) < lo || fabs(*v) > hi)
    return fail(c, "'%s' is outside the plausible range: expected %s", q,
                range);
  return NIMC_OK;
}

static int convert(const ctx *c, const char *q, qkind k, double *v,
                   int *per_area, int any_sign) {
  return convert_as(c, q, k, v, per_area, NULL, any_sign);
}

/* Read and convert one quantity. */
static int quantity(const ctx *c, const char **pp, qkind k, const char *after,
                    double *v, int *per_area) {
  char q[QTEXT_MAX];
  int rc = read_quantity(c, pp, k, after, q);
  return rc ? rc : convert(c, q, k, v, per_area, 0);
}

/* Read a sine's amplitude (positive) or level (any sign) at *pp: a
 * voltage, or a current (absolute or per area); *is_current says which. */
static int wave_quantity(const ctx *c, const char **pp, const char *after,
                         int amplitude, double *v, int *is_current,
                         int *per_area) {
  char q[QTEXT_MAX], *u;
  int rc = read_quantity(c, pp, Q_WAVE, after, q);
  if (rc) return rc;
  (void)strtod(q, &u);
  u = (char *)skip_ws(u);
  if (!*u)
    return fail(c, "'%s' has no unit (expected %s in %s)", q, qname(Q_WAVE),
                qunits(Q_WAVE));
  int as_v = nimc_units_convertible(u, "V");
  int as_a = nimc_units_convertible(u, "A");
  int as_j = nimc_units_convertible(u, "A/m2");
  if (as_v < 0 || as_a < 0 || as_j < 0)
    return nimc_err_set(c->err, NIMC_EIO,
                        "the udunits2 unit database could not be read");
  if (nimc_units_convertible(u, u) == 1 && !as_v && !as_a && !as_j)
    return fail(c, "'%s' is not a voltage or a current (unit '%s' is not %s)",
                q, u, qunits(Q_WAVE));
  *is_current = !as_v;
  rc = convert(c, q, *is_current ? Q_CURRENT : Q_VOLTAGE, v, per_area,
               !amplitude);
  if (!rc && amplitude && !(*v > 0))
    return fail(c, "a sine amplitude must be positive, found '%s'", q);
  return rc;
}

/* Expect keyword kw at *pp; `expected` describes it for the message. */
static int expect(const ctx *c, const char **pp, const char *kw,
                  const char *expected, const char *after) {
  char buf[QUOTE_MAX + 2];
  const char *q = accept(*pp, kw);
  if (!q)
    return fail(c, "expected %s after %s, found %s", expected, after,
                found(buf, sizeof buf, *pp));
  *pp = q;
  return NIMC_OK;
}

/* Is the quantity at p ("1 mC", "2mAh") a charge?  1 yes, 0 no (or not
 * a quantity at all: the caller's reading says what is wrong). */
static int is_charge(const ctx *c, const char *p) {
  char q[QTEXT_MAX], *u;
  nimc_err quiet;
  ctx cq = *c;
  cq.err = &quiet;
  if (read_quantity(&cq, &p, Q_CHARGE, "until", q)) return 0;
  (void)strtod(q, &u);
  u = (char *)skip_ws(u);
  return *u && nimc_units_convertible(u, "C") == 1;
}

/* The terminations at p: one or more of those in `allowed`, joined by
 * "or", each at most once, then the end of the step.  `after` says what
 * they follow, for the message. */
static int terminations(const ctx *c, const char *p, int allowed,
                        const char *after, nimc_step *st) {
  char expected[96], buf[QUOTE_MAX + 2], last[QTEXT_MAX + 8];
  const char *parts[4];
  size_t np = 0;
  if (allowed & T_UNTIL_V) parts[np++] = "'until <voltage>'";
  if (allowed & T_FOR) parts[np++] = "'for <time>'";
  if (allowed & T_UNTIL_I) parts[np++] = "'until <current>'";
  if (allowed & T_UNTIL_Q) parts[np++] = "'until <charge>'";
  snprintf(expected, sizeof expected, "%s%s%s", parts[0], np > 1 ? " or " : "",
           np > 1 ? parts[1] : "");
  while (*p) {
    const char *start = p, *q;
    int rc;
    if ((q = accept(p, "until")) && (allowed & T_UNTIL_Q) &&
        is_charge(c, q) == 1) {
      if (st->has_q_cut) return fail(c, "'until <charge>' is given twice");
      rc = quantity(c, &q, Q_CHARGE, "until", &st->q_cut_C, NULL);
      st->has_q_cut = 1;
    } else if ((q = accept(p, "until")) &&
               (allowed & (T_UNTIL_V | T_UNTIL_I))) {
      if (st->has_v_cut || st->has_i_cut)
        return fail(c, "'until' is given twice");
      if (allowed & T_UNTIL_V) {
        rc = quantity(c, &q, Q_VOLTAGE, "until", &st->v_cut_V, NULL);
        st->has_v_cut = 1;
      } else {
        rc = quantity(c, &q, Q_CURRENT, "until", &st->i_cut,
                      &st->i_cut_per_area);
        st->has_i_cut = 1;
      }
    } else if ((q = accept(p, "for")) && (allowed & T_FOR)) {
      if (st->has_duration) return fail(c, "'for' is given twice");
      rc = quantity(c, &q, Q_TIME, "for", &st->duration_s, NULL);
      st->has_duration = 1;
    } else {
      return fail(c, "expected %s %s, found %s", expected, after,
                  found(buf, sizeof buf, p));
    }
    if (rc) return rc;
    p = q;
    clip(last, sizeof last, start, (size_t)(p - start));
    while (*last && isspace((unsigned char)last[strlen(last) - 1]))
      last[strlen(last) - 1] = '\0';
    if (!*p) break;
    if (!(q = accept(p, "or")))
      return fail(c,
                  "expected 'or' or the end of the step after '%s', "
                  "found %s",
                  last, found(buf, sizeof buf, p));
    if (!*q) return fail(c, "expected %s after 'or', found nothing", expected);
    p = q;
    after = "after 'or'";
  }
  return NIMC_OK;
}

/* A C-rate at p ("2C", "0.5 C", "C/20")?  1 with *rate (1/h) and *end
 * past it, 0 when the word is not one, or an error for a malformed or
 * implausible one. */
static int c_rate(const ctx *c, const char *p, double *rate, const char **end) {
  size_t n = word_len(p);
  char *e;
  double x;
  if (n >= 2 && (p[0] == 'C' || p[0] == 'c') && p[1] == '/') {
    x = strtod(p + 2, &e);
    if (e == p + 2 || e != p + n)
      return fail(c, "a C-rate is written '2C', '0.5C' or 'C/20', found '%.*s'",
                  (int)(n < 40 ? n : 40), p);
    if (!(x > 0) || !isfinite(x))
      return fail(c, "the N of a C-rate 'C/N' must be positive, found '%.*s'",
                  (int)(n < 40 ? n : 40), p);
    x = 1.0 / x;
  } else {
    x = strtod(p, &e);
    if (e == p) return 0;
    const char *u = e;
    if (e == p + n) { /* "2 C": the unit is the next word */
      u = skip_ws(p + n);
      if (word_len(u) != 1) return 0;
      n = (size_t)(u - p) + 1;
    }
    if (u + 1 != p + n || (*u != 'C' && *u != 'c')) return 0;
    if (!(x > 0) || !isfinite(x))
      return fail(c, "a C-rate must be positive, found '%.*s'",
                  (int)(n < 40 ? n : 40), p);
  }
  if (x > NIMC_STEP_MAX_C_RATE)
    return fail(c,
                "the C-rate '%.*s' is outside the plausible range: "
                "expected at most 1e4 C",
                (int)(n < 40 ? n : 40), p);
  *rate = x;
  *end = skip_ws(p + n);
  return 1;
}

/* The drive of a Charge or Discharge at *pp: a current (A, A/m2, A/g), a
 * C-rate, or a power (W, W/m2: st->type is then set to
 * NIMC_STEP_CHARGE_POWER, the caller picks the direction). */
static int drive(const ctx *c, const char **pp, nimc_step *st) {
  char q[QTEXT_MAX], *u;
  const char *end = *pp;
  int rc = c_rate(c, *pp, &st->current, &end);
  if (rc == 1) {
    st->c_rate = 1;
    *pp = end;
    return NIMC_OK;
  }
  if (rc) return rc;
  if ((rc = read_quantity(c, pp, Q_CURRENT, "at", q))) return rc;
  (void)strtod(q, &u);
  u = (char *)skip_ws(u);
  int as_w = *u ? nimc_units_convertible(u, "W") : 0;
  int as_wa = *u ? nimc_units_convertible(u, "W/m2") : 0;
  if (as_w < 0 || as_wa < 0)
    return nimc_err_set(c->err, NIMC_EIO,
                        "the udunits2 unit database could not be read");
  if (as_w || as_wa) {
    st->type = NIMC_STEP_CHARGE_POWER;
    return convert(c, q, Q_POWER, &st->power, &st->power_per_area, 0);
  }
  return convert_as(c, q, Q_CURRENT, &st->current, &st->current_per_area,
                    &st->current_per_mass, 0);
}

/* The rest of 'Discharge through LED' at p: it ends at a voltage (the
 * LED going out) or after a time, never on a charge or a current. */
static int load_led(const ctx *c, const char *p, nimc_step *st) {
  const char *q;
  st->type = NIMC_STEP_LOAD_LED;
  if (!*p)
    return fail(c, "expected 'until <voltage>' or 'for <time>' after 'LED', "
                   "found nothing");
  for (q = p; *q; q = skip_ws(q + word_len(q)))
    if ((word_is(q, "until")) && is_charge(c, skip_ws(q + 5)) == 1)
      return fail(c, "a discharge through the LED ends at a voltage ('until "
                     "<voltage>') or after a time ('for <time>'), not on a "
                     "charge");
  return terminations(c, p, T_UNTIL_V | T_FOR, "after 'LED'", st);
}

/* Parse the step body (text without its options in brackets) of the step
 * text (trimmed, NUL-terminated) into *st. */
static int parse_body(const ctx *c, const char *text, const char *body,
                      nimc_step *st) {
  const char *p = body, *q;
  int rc = NIMC_OK;
  size_t n = strlen(text);
  memset(st, 0, sizeof *st);
  if (n >= sizeof st->text) { /* truncate, never inside a UTF-8 sequence */
    n = sizeof st->text - 1;
    while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80)
      n--;
  }
  memcpy(st->text, text, n);
  st->text[n] = '\0';
  if ((q = accept(p, "discharge")) && accept(q, "through")) {
    p = accept(q, "through");
    if ((q = accept(p, "led"))) /* the device's LED ([led]) */
      return load_led(c, q, st);
    st->type = NIMC_STEP_LOAD_RESISTOR;
    char *end, buf[QUOTE_MAX + 2];
    (void)strtod(p, &end);
    if (*p && end == p && !is_keyword(p)) /* a word: a misspelt LED? */
      return fail(c,
                  "expected a resistance such as '5 kohm' or the word 'LED' "
                  "after 'through', found %s",
                  found(buf, sizeof buf, p));
    if ((rc = quantity(c, &p, Q_RESIST, "through", &st->resistance_ohm, NULL)))
      return rc;
    if (!*p)
      return fail(c, "expected 'until <voltage>' or 'for <time>' after the "
                     "resistance, found nothing");
    return terminations(c, p, T_UNTIL_V | T_FOR | T_UNTIL_Q,
                        "after the resistance", st);
  }
  if ((q = accept(p, "charge")) || (q = accept(p, "discharge"))) {
    int charge = word_is(p, "charge");
    const char *verb = charge ? "'Charge'" : "'Discharge'";
    p = q;
    if ((rc = expect(c, &p, "at", "'at <current>'", verb)) ||
        (rc = drive(c, &p, st)))
      return rc;
    int power = st->type == NIMC_STEP_CHARGE_POWER;
    if (power)
      st->type = charge ? NIMC_STEP_CHARGE_POWER : NIMC_STEP_DISCHARGE_POWER;
    else
      st->type = charge ? NIMC_STEP_CHARGE : NIMC_STEP_DISCHARGE;
    if (!*p)
      return fail(c,
                  "expected 'until <voltage>' or 'for <time>' after the "
                  "%s, found nothing",
                  power ? "power" : "current");
    return terminations(c, p, T_UNTIL_V | T_FOR | T_UNTIL_Q,
                        power ? "after the power" : "after the current", st);
  }
  if ((q = accept(p, "rest"))) {
    st->type = NIMC_STEP_REST;
    if (!*q)
      return fail(c, "expected 'for <time>' or 'until <voltage>' after "
                     "'Rest', found nothing");
    return terminations(c, q, T_FOR | T_UNTIL_V, "after 'Rest'", st);
  }
  if ((q = accept(p, "hold"))) {
    st->type = NIMC_STEP_HOLD;
    p = q;
    if ((rc = expect(c, &p, "at", "'at <voltage>'", "'Hold'")) ||
        (rc = quantity(c, &p, Q_VOLTAGE, "at", &st->voltage_V, NULL)))
      return rc;
    if (!*p)
      return fail(c, "expected 'for <time>' or 'until <current>' after the "
                     "voltage, found nothing");
    return terminations(c, p, T_FOR | T_UNTIL_I, "after the voltage", st);
  }
  if ((q = accept(p, "sweep"))) {
    st->type = NIMC_STEP_SWEEP;
    p = q;
    if ((rc = expect(c, &p, "from", "'from <voltage>'", "'Sweep'")) ||
        (rc = quantity(c, &p, Q_VOLTAGE, "from", &st->voltage_V, NULL)) ||
        (rc = expect(c, &p, "to", "'to <voltage>'", "the start voltage")) ||
        (rc = quantity(c, &p, Q_VOLTAGE, "to", &st->sweep_to_V, NULL)) ||
        (rc = expect(c, &p, "at", "'at <rate>'", "the end voltage")) ||
        (rc = quantity(c, &p, Q_RATE, "at", &st->sweep_rate_V_s, NULL)) ||
        (rc = terminations(c, p, T_FOR, "after the rate", st)))
      return rc;
    if (st->voltage_V == st->sweep_to_V)
      return fail(c, "the sweep starts and ends at the same voltage");
    if (fabs(st->sweep_to_V - st->voltage_V) / st->sweep_rate_V_s >
        NIMC_STEP_MAX_DURATION_S)
      return fail(c,
                  "the sweep would take %.3g s, more than 1e9 s (about 32 "
                  "years): a faster rate",
                  fabs(st->sweep_to_V - st->voltage_V) / st->sweep_rate_V_s);
    return NIMC_OK;
  }
  if ((q = accept(p, "sine"))) {
    st->type = NIMC_STEP_SINE;
    p = q;
    int level_current = 0;
    if ((rc = wave_quantity(c, &p, "Sine", 1, &st->sine_amplitude,
                            &st->sine_is_current, &st->current_per_area)) ||
        (rc = expect(c, &p, "at", "'at <frequency>'", "the amplitude")) ||
        (rc = quantity(c, &p, Q_FREQ, "at", &st->sine_freq_Hz, NULL)))
      return rc;
    if ((q = accept(p, "around"))) {
      p = q;
      if ((rc = wave_quantity(c, &p, "around", 0, &st->sine_level,
                              &level_current, &st->sine_level_per_area)))
        return rc;
      if (level_current != st->sine_is_current)
        return fail(c, "the level after 'around' must be a %s, like the "
                       "amplitude",
                    st->sine_is_current ? "current" : "voltage");
      st->has_sine_level = 1;
    }
    if (!*p)
      return fail(c, "expected 'for <time>' after the frequency, found "
                     "nothing");
    return terminations(c, p, T_FOR, "after the frequency", st);
  }
  if (accept(p, "repeat"))
    return fail(c, "a Repeat cannot be nested inside another Repeat without "
                   "brackets: write the inner one as one item, "
                   "'(Repeat <N> times: <step>; ...)'");
  char verb[44];
  clip(verb, sizeof verb, p, word_len(p));
  return fail(c,
              "unknown step '%s' (expected Charge, Discharge, Rest, "
              "Hold, Sweep, Sine or Repeat)",
              verb);
}

/* Strip blanks from both ends of s in place; returns the new start. */
static char *trim(char *s) {
  s = (char *)skip_ws(s);
  size_t n = strlen(s);
  while (n > 0 && isspace((unsigned char)s[n - 1]))
    s[--n] = '\0';
  return s;
}

/* The ')' that closes the '(' at p, or NULL when none does. */
static char *closing(char *p) {
  int depth = 0;
  for (; *p; p++)
    if (*p == '(')
      depth++;
    else if (*p == ')' && --depth == 0)
      return p;
  return NULL;
}

/* Where the options of the step s (trimmed) begin: the '(' of the first
 * of the bracketed groups that end it, or the end of s when none does. */
static char *options_start(char *s) {
  char *e = s + strlen(s);
  for (;;) {
    char *t = e;
    while (t > s && isspace((unsigned char)t[-1]))
      t--;
    if (t == s || t[-1] != ')') return e;
    int depth = 0;
    char *q = t - 1;
    for (; q >= s; q--)
      if (*q == ')')
        depth++;
      else if (*q == '(' && --depth == 0)
        break;
    if (q < s) return e; /* unbalanced: the line's check says where */
    e = q;
  }
}

/* Is the last word of s (trimmed) kw (lower case), ignoring case? */
static int last_word_is(const char *s, const char *kw) {
  size_t n = strlen(s), k = strlen(kw);
  if (n < k || (n > k && !isspace((unsigned char)s[n - k - 1]))) return 0;
  return word_is(s + n - k, kw);
}

/* The options in brackets that end a step, at p (writable; each group
 * "(...)" holds one or more options separated by ','): "<time> period",
 * the spacing of the step's recorded samples, and "at <temperature>",
 * the temperature it runs at.  Each is given at most once. */
static int step_options(const ctx *c, char *p, nimc_step *st) {
  static const char expected[] = "expected '<time> period' or 'at "
                                 "<temperature>' in the brackets";
  char buf[QUOTE_MAX + 2];
  while (*p == '(') {
    char *q = closing(p);
    if (!q) return fail(c, "'(' is never closed (expected ')')");
    *q = '\0';
    char *next = (char *)skip_ws(q + 1);
    for (char *opt = p + 1; opt;) {
      char *comma = strchr(opt, ',');
      if (comma) *comma = '\0';
      char *o = trim(opt);
      const char *r;
      int rc;
      opt = comma ? comma + 1 : NULL;
      if (!*o) return fail(c, "%s, found nothing", expected);
      if ((r = accept(o, "at"))) {
        if (st->has_temperature)
          return fail(c, "the temperature '(at <temperature>)' is given "
                         "twice");
        if ((rc = quantity(c, &r, Q_TEMP, "at", &st->temperature_K, NULL)))
          return rc;
        if (*r)
          return fail(c, "expected ')' or ',' after the temperature, found %s",
                      found(buf, sizeof buf, r));
        st->has_temperature = 1;
      } else if (last_word_is(o, "period")) {
        if (st->has_period)
          return fail(c, "the output period '(<time> period)' is given twice");
        r = o;
        if ((rc = quantity(c, &r, Q_PERIOD, "(", &st->period_s, NULL)))
          return rc;
        const char *e = accept(r, "period");
        if (!e || *e)
          return fail(c, "expected 'period' after the output period, found %s",
                      found(buf, sizeof buf, r));
        st->has_period = 1;
      } else {
        return fail(c, "%s, found %s", expected, found(buf, sizeof buf, o));
      }
    }
    p = next;
  }
  if (*p)
    return fail(c,
                "expected the end of the step after its options in "
                "brackets, found %s",
                found(buf, sizeof buf, p));
  return NIMC_OK;
}

/* Parse one step (trimmed, NUL-terminated text, with its options in
 * brackets) into *st. */
static int parse_step(const ctx *c, const char *text, nimc_step *st) {
  size_t n = strlen(text);
  char *buf = malloc(2 * (n + 1));
  if (!buf) return nimc_err_set(c->err, NIMC_ENOMEM, "out of memory");
  memcpy(buf, text, n + 1);
  size_t k = (size_t)(options_start(buf) - buf);
  char *opts = buf + n + 1;
  memcpy(opts, buf + k, n + 1 - k);
  buf[k] = '\0';
  char *body = trim(buf);
  int rc = *body ? parse_body(c, text, body, st)
                 : fail(c, "expected a step before the brackets, found "
                           "nothing");
  if (!rc) rc = step_options(c, opts, st);
  free(buf);
  return rc;
}

/* Every '(' of the line s (trimmed; at offset `at` in the line as given)
 * closed by a ')' after it, and no ')' without its '(' before it. */
static int check_brackets(const ctx *c, const char *s, size_t at) {
  size_t depth = 0, outer = 0;
  for (const char *p = s; *p; p++) {
    if (*p == '(') {
      if (depth++ == 0) outer = (size_t)(p - s);
    } else if (*p == ')') {
      if (depth == 0)
        return fail(c,
                    "unbalanced brackets: the ')' at byte %zu closes no "
                    "'('",
                    at + (size_t)(p - s) + 1);
      depth--;
    }
  }
  if (depth)
    return fail(c,
                "unbalanced brackets: the '(' at byte %zu is never closed "
                "(expected ')')",
                at + outer + 1);
  return NIMC_OK;
}

/* ---- Repeats ---- */

/* A growing list of blocks (owned). */
typedef struct blist {
  size_t n, cap;
  nimc_block *b;
} blist;

static void block_free(nimc_block *b) {
  free(b->steps);
  for (size_t i = 0; i < b->nblocks; i++)
    block_free(&b->blocks[i]);
  free(b->blocks);
}

static void blist_free(blist *l) {
  for (size_t i = 0; i < l->n; i++)
    block_free(&l->b[i]);
  free(l->b);
  memset(l, 0, sizeof *l);
}

/* Append *b (taken over: freed when it cannot be appended). */
static int blist_push(blist *l, nimc_block *b, nimc_err *err) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 4;
    nimc_block *nb = realloc(l->b, cap * sizeof *nb);
    if (!nb) {
      block_free(b);
      return nimc_err_set(err, NIMC_ENOMEM, "out of memory");
    }
    l->b = nb, l->cap = cap;
  }
  l->b[l->n++] = *b;
  return NIMC_OK;
}

/* The steps one execution of b runs (in floating point: no overflow). */
static double block_steps(const nimc_block *b) {
  double n = (double)b->nsteps;
  for (size_t i = 0; i < b->nblocks; i++)
    n += block_steps(&b->blocks[i]);
  return (double)b->repeat * n;
}

/* *out: the Repeat `count` times of items (taken over), begun on input
 * line `line`: a block of steps when every item is a plain step, else a
 * block of blocks. */
static int make_repeat(int count, blist *items, size_t line, nimc_block *out,
                       nimc_err *err) {
  int nested = 0;
  memset(out, 0, sizeof *out);
  out->repeat = count;
  out->line = line;
  for (size_t i = 0; i < items->n; i++)
    nested |= !items->b[i].plain;
  if (nested) {
    out->blocks = items->b, out->nblocks = items->n;
    memset(items, 0, sizeof *items);
    return NIMC_OK;
  }
  out->steps = calloc(items->n ? items->n : 1, sizeof *out->steps);
  if (!out->steps) {
    blist_free(items);
    return nimc_err_set(err, NIMC_ENOMEM, "out of memory");
  }
  for (size_t i = 0; i < items->n; i++)
    out->steps[i] = items->b[i].steps[0];
  out->nsteps = items->n;
  blist_free(items);
  return NIMC_OK;
}

/* The head "Repeat N times:" of s (trimmed, writable, starting with the
 * word Repeat): *count, and *body the text after its ':' (s is cut there;
 * c->text is s, so that messages quote the head). */
static int repeat_head(const ctx *c, char *s, int *count, int *jump,
                       char **body) {
  char buf[QUOTE_MAX + 2], *colon = strchr(s, ':');
  const char *p = accept(s, "repeat");
  if (!colon)
    return fail(c, "expected 'Repeat <N> times: <step>; <step>; ...', "
                   "found no ':'");
  *colon = '\0';
  trim(s);
  size_t n = word_len(p);
  char *end;
  errno = 0;
  long v = strtol(p, &end, 10);
  if (n == 0 || end != p + n || errno || v < 1 || v > INT_MAX)
    return fail(c, "expected a whole number >= 1 after 'Repeat', found %s",
                found(buf, sizeof buf, p));
  p = skip_ws(p + n);
  const char *rest = accept(p, "times");
  if (!rest) rest = accept(p, "time");
  /* "with cycle jumping": jump.h */
  const char *w = rest ? accept(rest, "with") : NULL;
  const char *cj = w ? accept(w, "cycle") : NULL;
  const char *jj = cj ? accept(cj, "jumping") : NULL;
  *jump = jj && !*jj;
  if (*jump) rest = jj;
  if (!rest || *rest)
    return fail(c, "expected 'times:' (or 'times with cycle jumping:') after "
                   "the repeat count, found %s",
                found(buf, sizeof buf, p));
  *count = (int)v;
  *body = colon + 1;
  return NIMC_OK;
}

static int parse_repeat(const ctx *c, char *s, const char *path, int depth,
                        nimc_block *out);

/* An item in brackets, t (trimmed, writable, starting with '('): a nested
 * Repeat "(Repeat N times: ...)" at level depth. */
static int bracketed(const ctx *c, char *t, const char *path, int depth,
                     nimc_block *out) {
  char buf[QUOTE_MAX + 2], *q = closing(t);
  if (!q) return fail(c, "'(' is never closed (expected ')')");
  if (*skip_ws(q + 1))
    return fail(c,
                "expected ';' or the end of the Repeat after the ')' of "
                "the nested Repeat, found %s",
                found(buf, sizeof buf, skip_ws(q + 1)));
  *q = '\0';
  char *in = trim(t + 1);
  if (!word_is(in, "repeat"))
    return fail(c,
                "brackets hold a nested Repeat: expected '(Repeat <N> "
                "times: <step>; ...)', found %s",
                found(buf, sizeof buf, in));
  ctx ic = *c;
  ic.text = in;
  return parse_repeat(&ic, in, path, depth, out);
}

/* The one-line Repeat s (trimmed, writable: "Repeat N times: a; (Repeat M
 * times: b; c); d") into *out; path is its item path inside enclosing
 * one-line Repeats ("" when none), depth the Repeats around it. */
static int parse_repeat(const ctx *c, char *s, const char *path, int depth,
                        nimc_block *out) {
  int count, jump, rc;
  char *body;
  memset(out, 0, sizeof *out);
  if ((rc = repeat_head(c, s, &count, &jump, &body))) return rc;
  if (depth >= NIMC_REPEAT_MAX_DEPTH)
    return fail(c, "Repeats nest at most %d deep", NIMC_REPEAT_MAX_DEPTH);
  blist items = {0, 0, NULL};
  char *item = body;
  for (size_t k = 1; item; k++) {
    char *semi = NULL;
    int d = 0;
    for (char *q = item; *q && !semi; q++)
      if (*q == '(')
        d++;
      else if (*q == ')')
        d--;
      else if (*q == ';' && d == 0)
        semi = q;
    if (semi) *semi = '\0';
    char *t = trim(item);
    item = semi ? semi + 1 : NULL;
    if (!*t) continue; /* "a;; b" and a trailing ';' are harmless */
    char ipath[192];
    snprintf(ipath, sizeof ipath, "%s%s%zu", path, *path ? "." : "", k);
    ctx ic = {c->line, ipath, t, c->err};
    nimc_block b;
    memset(&b, 0, sizeof b);
    if (*t == '(') {
      rc = bracketed(&ic, t, ipath, depth + 1, &b);
    } else {
      b.repeat = 1, b.plain = 1, b.line = c->line;
      b.steps = calloc(1, sizeof *b.steps);
      rc = b.steps ? parse_step(&ic, t, b.steps)
                   : nimc_err_set(c->err, NIMC_ENOMEM, "out of memory");
      if (!rc) b.nsteps = 1;
    }
    if (rc)
      block_free(&b);
    else
      rc = blist_push(&items, &b, c->err);
    if (rc) {
      blist_free(&items);
      return rc;
    }
  }
  if (items.n == 0)
    return fail(c, "expected steps after ':' (separated by ';'), found "
                   "nothing");
  rc = make_repeat(count, &items, c->line, out, c->err);
  out->jump = jump;
  return rc;
}

/* A Repeat whose items follow on their own lines, until its "End". */
typedef struct open_repeat {
  size_t line; /* of its head */
  int count;
  int jump; /* with cycle jumping */
  blist items;
  char text[NIMC_STEP_TEXT_MAX]; /* its head, for messages */
} open_repeat;

/* The experiment being parsed: its blocks, and the Repeats still open. */
typedef struct parser {
  blist top;
  open_repeat open[NIMC_REPEAT_MAX_DEPTH];
  int nopen;
  nimc_err *err;
} parser;

/* Where an item of the current line goes: the innermost open Repeat, or
 * the experiment. */
static blist *target(parser *ps) {
  return ps->nopen ? &ps->open[ps->nopen - 1].items : &ps->top;
}

/* Parse input line number lineno (1-based): a step, a one-line Repeat, the
 * head of a Repeat of several lines, or its End. */
static int parse_line(parser *ps, const char *line, size_t lineno) {
  size_t len = strlen(line);
  char *copy = malloc(len + 1), buf[QUOTE_MAX + 2];
  if (!copy) return nimc_err_set(ps->err, NIMC_ENOMEM, "out of memory");
  memcpy(copy, line, len + 1);
  char *s = trim(copy), *colon;
  ctx c = {lineno, "", s, ps->err};
  nimc_block b;
  memset(&b, 0, sizeof b);
  int rc = NIMC_OK, have = 0;
  if (!*s || *s == '#') goto done;
  if ((rc = check_brackets(&c, s, (size_t)(s - copy)))) goto done;
  if (word_is(s, "end")) {
    const char *rest = accept(s, "end");
    if (*rest) {
      rc = fail(&c, "expected nothing after 'End', found %s",
                found(buf, sizeof buf, rest));
    } else if (!ps->nopen) {
      rc = fail(&c, "'End' without a Repeat to close (a Repeat of several "
                    "lines begins with a line 'Repeat <N> times:')");
    } else {
      open_repeat *o = &ps->open[--ps->nopen];
      ctx oc = {o->line, "", o->text, ps->err};
      if (o->items.n == 0)
        rc = fail(&oc, "the Repeat has no steps before its 'End' on line %zu",
                  lineno);
      else
        rc = make_repeat(o->count, &o->items, o->line, &b, ps->err);
      b.jump = o->jump; /* with cycle jumping */
      blist_free(&o->items);
      have = !rc;
    }
  } else if (word_is(s, "repeat") && (colon = strchr(s, ':')) &&
             !*skip_ws(colon + 1)) {
    /* the head of a Repeat whose items follow, one a line, until End */
    if (ps->nopen >= NIMC_REPEAT_MAX_DEPTH) {
      rc = fail(&c, "Repeats nest at most %d deep", NIMC_REPEAT_MAX_DEPTH);
      goto done;
    }
    open_repeat *o = &ps->open[ps->nopen];
    char *body;
    int count;
    clip(o->text, sizeof o->text, s, strlen(s));
    int jump;
    if ((rc = repeat_head(&c, s, &count, &jump, &body))) goto done;
    memset(&o->items, 0, sizeof o->items);
    o->line = lineno, o->count = count, o->jump = jump;
    ps->nopen++;
  } else if (word_is(s, "repeat")) {
    rc = parse_repeat(&c, s, "", ps->nopen, &b);
    have = !rc;
  } else if (*s == '(') {
    rc = bracketed(&c, s, "", ps->nopen, &b);
    have = !rc;
  } else if (strchr(s, ';')) {
    rc = fail(&c, "several steps on one line (';') are only allowed inside "
                  "'Repeat <N> times: ...'");
  } else {
    b.repeat = 1, b.plain = 1, b.line = lineno;
    b.steps = calloc(1, sizeof *b.steps);
    rc = b.steps ? parse_step(&c, s, b.steps)
                 : nimc_err_set(ps->err, NIMC_ENOMEM, "out of memory");
    if (!rc) b.nsteps = 1;
    have = !rc;
  }
done:
  if (have) {
    rc = blist_push(target(ps), &b, ps->err);
  } else {
    block_free(&b);
  }
  free(copy);
  return rc;
}

int nimc_experiment_parse(nimc_experiment **out, const char *const *lines,
                          size_t nlines, nimc_err *err) {
  nimc_experiment *exp = NULL;
  parser ps;
  int rc = NIMC_OK;
  if (!out || (nlines && !lines))
    return nimc_err_set(err, NIMC_EMISUSE,
                        "nimc_experiment_parse: NULL argument");
  *out = NULL;
  memset(&ps, 0, sizeof ps);
  ps.err = err;
  for (size_t i = 0; i < nlines && !rc; i++) {
    if (!lines[i])
      rc = nimc_err_set(err, NIMC_EMISUSE,
                        "nimc_experiment_parse: line %zu is NULL", i + 1);
    else
      rc = parse_line(&ps, lines[i], i + 1);
  }
  if (!rc && ps.nopen) {
    const open_repeat *o = &ps.open[ps.nopen - 1];
    ctx oc = {o->line, "", o->text, err};
    rc = fail(&oc, "the Repeat has no 'End' (a Repeat whose steps follow on "
                   "their own lines ends at a line 'End')");
  }
  /* a run counts its steps in an int: beyond, refused here, where the
   * line can be named (in floating point: nests of Repeats cannot
   * overflow it) */
  double total = 0.0;
  for (size_t i = 0; i < ps.top.n && !rc; i++) {
    total += block_steps(&ps.top.b[i]);
    if (total > NIMC_EXPERIMENT_MAX_STEPS) {
      const nimc_block *b = &ps.top.b[i];
      char text[NIMC_STEP_TEXT_MAX];
      clip(text, sizeof text, lines[b->line - 1], strlen(lines[b->line - 1]));
      ctx bc = {b->line, "", trim(text), err};
      rc = fail(&bc,
                "the experiment would run %.4g steps (Repeats expanded), more "
                "than the %.0f one run can count",
                total, NIMC_EXPERIMENT_MAX_STEPS);
    }
  }
  if (!rc && total == 0.0)
    rc = nimc_err_set(err, NIMC_EINPUT,
                      "the experiment has no steps (expected at least one "
                      "line such as 'Charge at 0.1 mA/cm2 until 3.5 V')");
  if (!rc && !(exp = calloc(1, sizeof *exp)))
    rc = nimc_err_set(err, NIMC_ENOMEM, "out of memory");
  for (int k = 0; k < ps.nopen; k++)
    blist_free(&ps.open[k].items);
  if (rc) {
    blist_free(&ps.top);
    return rc;
  }
  exp->blocks = ps.top.b, exp->nblocks = ps.top.n;
  *out = exp;
  return NIMC_OK;
}

void nimc_experiment_destroy(nimc_experiment *exp) {
  if (!exp) return;
  for (size_t i = 0; i < exp->nblocks; i++)
    block_free(&exp->blocks[i]);
  free(exp->blocks);
  free(exp);
}

size_t nimc_experiment_nsteps(const nimc_experiment *exp) {
  double n = 0.0;
  if (!exp) return 0;
  for (size_t i = 0; i < exp->nblocks; i++)
    n += block_steps(&exp->blocks[i]);
  return n >= (double)SIZE_MAX ? SIZE_MAX : (size_t)n;
}

/* The simulated time of step st when it is known before the run (its
 * 'for', a sweep's span over its rate), else 0. */
static double step_timed(const nimc_step *st) {
  double d = st->has_duration ? st->duration_s : 0.0;
  if (st->type == NIMC_STEP_SWEEP) {
    double sweep = fabs(st->sweep_to_V - st->voltage_V) / st->sweep_rate_V_s;
    d = st->has_duration && d < sweep ? d : sweep;
  }
  return d;
}

/* Over one execution of b: the known time (samples 0), or the samples
 * recorded over it at each step's period or else dt_s (samples 1). */
static double block_sum(const nimc_block *b, int samples, double dt_s) {
  double t = 0.0;
  for (size_t k = 0; k < b->nsteps; k++) {
    const nimc_step *st = &b->steps[k];
    double d = step_timed(st), p = st->has_period ? st->period_s : dt_s;
    t += !samples ? d : p > 0.0 ? d / p : 0.0;
  }
  for (size_t i = 0; i < b->nblocks; i++)
    t += block_sum(&b->blocks[i], samples, dt_s);
  return (double)b->repeat * t;
}

double nimc_experiment_timed_s(const nimc_experiment *exp) {
  double t = 0.0;
  if (!exp) return 0.0;
  for (size_t i = 0; i < exp->nblocks; i++)
    t += block_sum(&exp->blocks[i], 0, 0.0);
  return t;
}

double nimc_experiment_samples(const nimc_experiment *exp, double dt_s) {
  double n = 0.0;
  if (!exp) return 0.0;
  for (size_t i = 0; i < exp->nblocks; i++)
    n += block_sum(&exp->blocks[i], 1, dt_s);
  return n;
}
