/*
 * result.h -- internal helpers for building an nimc_result.
 *
 * The public header offers nimc_series_push for samples; the runner also
 * appends one summary per executed step, and that append is not part of the
 * public contract (callers never build results by hand), so it lives here.
 */
#ifndef NIMC_RESULT_H
#define NIMC_RESULT_H

#include "nimc/nimc.h"

/* Append a copy of *s to r->steps (grows geometrically); NIMC_ENOMEM on
 * failure, leaving r unchanged. */
int nimc_result_push_step(nimc_result *r, const nimc_step_result *s);

#endif
