/*
 * gcd.h -- the GCD metrics with a chosen rest threshold (internal).
 *
 * nimc_metrics_gcd classes |I| <= 1e-9 max|I| as rest, right for
 * simulated series; measured ones carry noise in their rests, so the
 * analysis of measured data (echem.c) reads the same metrics with its own
 * threshold.  Not part of the public API.
 */
#ifndef NIMC_ANALYSIS_GCD_H
#define NIMC_ANALYSIS_GCD_H

#include "nimc/nimc.h"

/* nimc_metrics_gcd with the rest class |I| <= rel_eps max|I|. */
int nimc_metrics_gcd_eps(const nimc_series *s, const nimc_norm *norm,
                         double rel_eps, nimc_metrics *out, nimc_err *err);

#endif /* NIMC_ANALYSIS_GCD_H */
