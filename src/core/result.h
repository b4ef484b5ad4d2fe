/*
 * result.h -- internal helpers for building an nimc_result.
 *
 * The public header offers nimc_series_push for samples; the runner also
 * appends one summary per executed step and one per cycle of a Repeat,
 * and those appends are not part of the public contract (callers never
 * build results by hand), so they live here.
 */
#ifndef NIMC_RESULT_H
#define NIMC_RESULT_H

#include "nimc/nimc.h"

/* Append a copy of *s to r->steps (grows geometrically); NIMC_ENOMEM on
 * failure, leaving r unchanged. */
int nimc_result_push_step(nimc_result *r, const nimc_step_result *s);

/* Append a copy of *c to r->cycles, likewise. */
int nimc_result_push_cycle(nimc_result *r, const nimc_cycle_result *c);

/* Append a warning (text formatted like printf) for executed step
 * `step` (-1: none) at time t_s; NIMC_ENOMEM, r unchanged. */
int nimc_result_warn(nimc_result *r, int step, double t_s, const char *fmt,
                     ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

#endif
