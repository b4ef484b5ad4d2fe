/*
 * steps.h -- the kinds of step as a table of operations, and the cut-offs
 * that may end a step.
 *
 * A step kind is one entry of the table in steps.c: how the step sets the
 * model's control and bounds its time (setup), which cut-offs may end it
 * early (cutoffs), and what it measures once it has ended (finish).  The
 * runner (run.c) owns the loop that every kind shares: restart the solver,
 * record samples, stop at a cut-off or at the time bound, and fill the
 * step's record from the solver's integrals.  Adding a step kind is adding
 * its entry; adding a kind of cut-off is adding a function that reads the
 * watched quantity from the state.
 *
 * A cut-off watches one quantity of the state and fires when it crosses a
 * level in a given direction (an IDA root function); one already at or
 * past its level when the step starts ends the step at once.  A step may
 * have any number of them: the list grows as they are added.  Internal to
 * the protocol layer; not part of the public contract.
 */
#ifndef NIMC_STEPS_H
#define NIMC_STEPS_H

#include <stddef.h>

#include "model/model.h"
#include "protocol/experiment.h"

/* A quantity of the state that a cut-off watches (V, |I|, ...). */
typedef double (*nimc_watch_fn)(const nimc_model *m, const double *y);

double nimc_watch_voltage(const nimc_model *m, const double *y);
double nimc_watch_abs_current(const nimc_model *m, const double *y);
double nimc_watch_min_concentration(const nimc_model *m, const double *y);
/* The running charge Q = integral of I dt (C). */
double nimc_watch_charge(const nimc_model *m, const double *y);

/* One way for a step to end: watch(y) reaching level, rising (dir +1),
 * falling (dir -1) or either way (dir 0: whichever way the quantity
 * moves; passed at the start only when exactly at its level); the step
 * then ends with reason. */
typedef struct nimc_cutoff {
  nimc_end_reason reason;
  nimc_watch_fn watch;
  double level;
  int dir;
} nimc_cutoff;

/* The cut-offs of one step, in order of precedence (when two fire at one
 * time, or two are passed at the start, the first one names the end).
 * dir and info are the arrays the solver takes (n each). */
typedef struct nimc_cutoffs {
  size_t n, cap;
  nimc_cutoff *c;
  int *dir;  /* dir[k] = c[k].dir */
  int *info; /* the solver's flags of the roots that fired */
} nimc_cutoffs;

/* Append a cut-off (the arrays grow as needed); NIMC_ENOMEM. */
int nimc_cutoffs_add(nimc_cutoffs *l, nimc_end_reason reason,
                     nimc_watch_fn watch, double level, int dir);
/* Release the arrays and empty the list. */
void nimc_cutoffs_free(nimc_cutoffs *l);
/* g[k] = watch_k(y) - level_k for every cut-off (the root functions). */
void nimc_cutoffs_eval(const nimc_cutoffs *l, const nimc_model *m,
                       const double *y, double *g);
/* The index of the first cut-off already at or past its level in its
 * direction at y (rising: watch >= level; falling: watch <= level; either
 * way: watch == level), or -1 when none is. */
long nimc_cutoffs_passed(const nimc_cutoffs *l, const nimc_model *m,
                         const double *y);
/* The index of the first cut-off whose flag in l->info is set, or -1. */
long nimc_cutoffs_fired(const nimc_cutoffs *l);

/* What a step needs of the simulation to set itself up. */
typedef struct nimc_step_env {
  const nimc_model *m;
  const double *y;        /* the state the step starts from */
  double t_s;             /* the time it starts at */
  double area_m2;         /* footprint, for currents per area */
  double max_step_time_s; /* the simulation's safety bound on a step */
} nimc_step_env;

/* How a step runs: its control and the bound on its time. */
typedef struct nimc_step_plan {
  nimc_control control;
  double duration_s;   /* the step ends at t_s + duration_s at the latest */
  int bound_is_safety; /* that bound is the safety limit, not the step's
                          own time (end reason limit instead of time) */
  double max_step_s;   /* bound on the solver's internal step, 0: the
                          simulation's own */
} nimc_step_plan;

/* The operations of one step kind. */
typedef struct nimc_step_ops {
  nimc_step_type type;
  /* Fill p (which comes with the duration of "for <time>", or the safety
   * bound, and an open-circuit control starting at env->t_s). */
  void (*setup)(const nimc_step *st, const nimc_step_env *env,
                nimc_step_plan *p);
  /* Append the step's own cut-offs; NIMC_ENOMEM. */
  int (*cutoffs)(const nimc_step *st, const nimc_step_env *env,
                 nimc_cutoffs *l);
  /* After the step (NULL: nothing more): complete its record sr from its
   * samples, series[first..], which began at t0_s. */
  void (*finish)(const nimc_step *st, const nimc_series *series, size_t first,
                 double t0_s, nimc_step_result *sr);
} nimc_step_ops;

/* The operations of a step kind, NULL for a kind that has none. */
const nimc_step_ops *nimc_step_ops_of(nimc_step_type type);
/* The last kind of step (the table's kinds run from NIMC_STEP_CHARGE). */
#define NIMC_STEP_LAST NIMC_STEP_LOAD_LED

/* The active mass of m's device (kg): the sum over its electrodes of
 * active_density times the electrode's volume; 0 when an electrode has
 * no active_density (*missing then names it: "anode" or "cathode"). */
double nimc_step_active_mass_kg(const nimc_model *m, const char **missing);

/* Whether step st can run on m's device: a C-rate needs the device's
 * nominal capacity, a current per mass its active mass, a load through
 * an LED the device's [led] section.  NIMC_OK, or
 * NIMC_EINPUT with why (capacity cap) saying which key is missing. */
int nimc_step_check(const nimc_step *st, const nimc_model *m, char *why,
                    size_t cap);

#endif
