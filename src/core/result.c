/*
 * result.c -- the growable arrays of a result and the names of its enums.
 *
 * A series is four parallel arrays sharing one length and capacity; they
 * grow by doubling so that a run of n samples costs O(n) copies in all.  A
 * failed growth leaves the series exactly as it was (arrays already moved
 * are kept, they are only larger), so the caller may still write out what
 * was computed before memory ran out.  Names are the strings of the summary
 * JSON and the CSV, so they are part of the user-facing contract.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/result.h"

/* New capacity for at least one more element of size elem: double the
 * old one, starting at 64. */
static int grow_cap(size_t cap, size_t elem, size_t *out) {
  size_t n = cap ? cap : 32;
  if (n > SIZE_MAX / 2 / elem) return NIMC_ENOMEM;
  *out = 2 * n;
  return NIMC_OK;
}

/* Resize *p to n doubles; *p is untouched on failure. */
static int resize_doubles(double **p, size_t n) {
  double *q = realloc(*p, n * sizeof *q);
  if (!q) return NIMC_ENOMEM;
  *p = q;
  return NIMC_OK;
}

int nimc_series_push(nimc_series *s, double t, double v, double i, int step) {
  if (!s) return NIMC_EMISUSE;
  if (s->n == s->cap) {
    size_t cap;
    if (grow_cap(s->cap, sizeof(double), &cap) ||
        resize_doubles(&s->time_s, cap) || resize_doubles(&s->voltage_V, cap) ||
        resize_doubles(&s->current_A, cap))
      return NIMC_ENOMEM;
    int *st = realloc(s->step, cap * sizeof *st);
    if (!st) return NIMC_ENOMEM;
    s->step = st;
    s->cap = cap;
  }
  s->time_s[s->n] = t;
  s->voltage_V[s->n] = v;
  s->current_A[s->n] = i;
  s->step[s->n] = step;
  s->n++;
  return NIMC_OK;
}

void nimc_series_free(nimc_series *s) {
  if (!s) return;
  free(s->time_s);
  free(s->voltage_V);
  free(s->current_A);
  free(s->step);
  memset(s, 0, sizeof *s);
}

void nimc_result_free(nimc_result *res) {
  if (!res) return;
  nimc_series_free(&res->series);
  free(res->steps);
  free(res->cycles);
  free(res->warnings);
  memset(res, 0, sizeof *res);
}

int nimc_result_push_step(nimc_result *r, const nimc_step_result *s) {
  if (!r || !s) return NIMC_EMISUSE;
  if (r->nsteps == r->cap) {
    size_t cap;
    if (grow_cap(r->cap, sizeof *r->steps, &cap)) return NIMC_ENOMEM;
    nimc_step_result *st = realloc(r->steps, cap * sizeof *st);
    if (!st) return NIMC_ENOMEM;
    r->steps = st;
    r->cap = cap;
  }
  r->steps[r->nsteps++] = *s;
  return NIMC_OK;
}

int nimc_result_push_cycle(nimc_result *r, const nimc_cycle_result *c) {
  if (!r || !c) return NIMC_EMISUSE;
  if (r->ncycles == r->cycles_cap) {
    size_t cap;
    if (grow_cap(r->cycles_cap, sizeof *r->cycles, &cap)) return NIMC_ENOMEM;
    nimc_cycle_result *cy = realloc(r->cycles, cap * sizeof *cy);
    if (!cy) return NIMC_ENOMEM;
    r->cycles = cy;
    r->cycles_cap = cap;
  }
  r->cycles[r->ncycles++] = *c;
  return NIMC_OK;
}

int nimc_result_warn(nimc_result *r, int step, double t_s, const char *fmt,
                     ...) {
  if (!r || !fmt) return NIMC_EMISUSE;
  if (r->nwarnings == r->warnings_cap) {
    size_t cap;
    if (grow_cap(r->warnings_cap, sizeof *r->warnings, &cap))
      return NIMC_ENOMEM;
    nimc_warning *w = realloc(r->warnings, cap * sizeof *w);
    if (!w) return NIMC_ENOMEM;
    r->warnings = w;
    r->warnings_cap = cap;
  }
  nimc_warning *w = &r->warnings[r->nwarnings++];
  w->step = step;
  w->t_s = t_s;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(w->text, sizeof w->text, fmt, ap);
  va_end(ap);
  return NIMC_OK;
}

const char *nimc_step_type_name(nimc_step_type t) {
  switch (t) {
  case NIMC_STEP_CHARGE:
    return "charge";
  case NIMC_STEP_DISCHARGE:
    return "discharge";
  case NIMC_STEP_REST:
    return "rest";
  case NIMC_STEP_HOLD:
    return "hold";
  case NIMC_STEP_SWEEP:
    return "sweep";
  case NIMC_STEP_SINE:
    return "sine";
  case NIMC_STEP_CHARGE_POWER:
    return "charge_power";
  case NIMC_STEP_DISCHARGE_POWER:
    return "discharge_power";
  case NIMC_STEP_LOAD_RESISTOR:
    return "load_resistor";
  case NIMC_STEP_LOAD_LED:
    return "load_led";
  }
  return "unknown";
}

const char *nimc_end_reason_name(nimc_end_reason r) {
  switch (r) {
  case NIMC_END_TIME:
    return "time";
  case NIMC_END_VOLTAGE:
    return "voltage";
  case NIMC_END_CURRENT:
    return "current";
  case NIMC_END_LIMIT:
    return "limit";
  case NIMC_END_DEPLETION:
    return "depletion";
  case NIMC_END_CHARGE:
    return "charge";
  case NIMC_END_WINDOW:
    return "window";
  }
  return "unknown";
}
