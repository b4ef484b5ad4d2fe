/*
 * nvec_fast.h -- IDA's serial vector operations, compiled with the
 * library's optimisation instead of Debian SUNDIALS' -O0 build.
 *
 * The results are bitwise those of SUNDIALS' serial operations (the same
 * arithmetic in the same order); only the speed differs.  Why, and the
 * measurements: nvec_fast.c and docs/performance.md.
 */
#ifndef NIMC_NVEC_FAST_H
#define NIMC_NVEC_FAST_H

#include <sundials/sundials_nvector.h>

/* Put the compiled operations into the ops table of the serial vector v
 * (after N_VEnableFusedOps_Serial, which would overwrite the fused ones);
 * vectors cloned from v afterwards (IDA's work vectors) inherit them.
 * 0, or -1 when v is not a serial vector. */
int nimc_nvec_fast_install(N_Vector v);

#endif
