/*
 * circuit.h -- what the fitter (eisfit.c) needs of a parsed circuit beyond
 * the public API: an evaluation that takes its workspace from the caller,
 * so the fit loop allocates nothing per iteration, and the physical role of
 * each parameter, so initial values can be guessed from a spectrum.
 *
 * Nothing here is part of the public contract; only analysis/ includes it.
 */
#ifndef NIMC_ANALYSIS_CIRCUIT_H
#define NIMC_ANALYSIS_CIRCUIT_H

#include <complex.h>
#include <stddef.h>

#include "core/params.h"

/* glibc's <complex.h> gives C11's CMPLX to gcc only; clang (the fuzz build,
 * tests/fuzz) has the same builtin under its own name. */
#if !defined(CMPLX) && defined(__clang__)
#define CMPLX(x, y) __builtin_complex((double)(x), (double)(y))
#endif

/* What a parameter means physically (drives the automatic initial values). */
typedef enum nimc_param_role {
  NIMC_ROLE_R,    /* a resistance, ohm */
  NIMC_ROLE_C,    /* a capacitance, F */
  NIMC_ROLE_Q,    /* a CPE coefficient, ohm^-1 s^a */
  NIMC_ROLE_L,    /* an inductance, H */
  NIMC_ROLE_LA,   /* a CPE-like inductance, H s^(a-1) */
  NIMC_ROLE_EXP,  /* an exponent in [0, 1] */
  NIMC_ROLE_TAU,  /* a time constant, s */
  NIMC_ROLE_AW,   /* a Warburg coefficient, ohm s^-1/2 */
  NIMC_ROLE_RATIO /* a dimensionless shape factor > 0 (Gs phi) */
} nimc_param_role;

/* Where a parameter sits: its role, the ordinal of its element in string
 * order, and whether that element is inside any p(...). */
typedef struct nimc_param_info {
  nimc_param_role role;
  int elem;        /* 0-based element ordinal, string order */
  int in_parallel; /* 1 when some p(...) encloses the element */
  int has_time;    /* 1 when the element has a characteristic frequency
                      (anything but R and L) */
} nimc_param_info;

/* The role and place of parameter k (k < nparams). */
nimc_param_info nimc_circuit_param_info(const nimc_circuit *c, size_t k);

/* Complex values of workspace nimc_circuit_eval_ws needs. */
size_t nimc_circuit_ws_len(const nimc_circuit *c);

/* nimc_circuit_eval with caller-owned workspace ws (nimc_circuit_ws_len
 * values): no allocation. */
int nimc_circuit_eval_ws(const nimc_circuit *c, const double *p,
                         const double *freq_Hz, size_t n, double *z_re,
                         double *z_im, double *dre, double *dim,
                         double complex *ws);

#endif /* NIMC_ANALYSIS_CIRCUIT_H */
