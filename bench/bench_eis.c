/*
 * bench_eis.c -- time of the impedance spectrum of a device, and of the
 * analysis that follows it.
 *
 * The spectrum of the paper's sweep (100 kHz to 10 mHz, 10 points a
 * decade: 71 frequencies) of devices/nimc.ini (the 2D NIMC) at its
 * operating point (the initial state at rest, as nimc eis takes it), from
 * a fresh simulation: set-up (mesh, model, pattern, solver), the operating
 * point (nimc_sim_at_rest), the linearisation and the 71 complex solves,
 * REPEATS times; median wall and CPU time, and the statistics of
 * the complex solver (full factorisations and refactorisations counted
 * apart, solves, refinement steps, backward error, the last refinement
 * correction).  Then, apart, the median time of what nimc eis does next:
 * the fit of the default circuit (global search) and Lin-KK.  Then the
 * operating point held at 1.5 V (nimc_sim_settle) with its solver
 * statistics.  A benchmark, not a test: it never fails on time.
 *
 * usage: bench_eis [DEVICE] [REPEATS]
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchutil.h"
#include "nimc/nimc.h"

/* CPU time of this process in seconds. */
static double cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : NIMC_SOURCE_DIR "/devices/nimc.ini";
  int reps = argc > 2 ? atoi(argv[2]) : 21;
  if (reps < 1) reps = 1;
  nimc_err err;
  nimc_device *dev = NULL;
  double *f = NULL;
  size_t nf = 0;
  if (nimc_device_load(&dev, path, NULL, 0, &err) ||
      nimc_freq_logspace(1e5, 1e-2, 10, &f, &nf, &err)) {
    fprintf(stderr, "bench_eis: %s\n", err.msg);
    return 1;
  }
  double *wall = malloc(sizeof(double) * (size_t)reps);
  double *cpu = malloc(sizeof(double) * (size_t)reps);
  double *tfit = malloc(sizeof(double) * (size_t)reps);
  double *tkk = malloc(sizeof(double) * (size_t)reps);
  if (!wall || !cpu || !tfit || !tkk) return 1;
  nimc_eis_info info;
  memset(&info, 0, sizeof info);
  nimc_circuit *c = NULL;
  if (nimc_circuit_parse(&c, "R0-p(R1,CPE1)-CPE2", &err)) {
    fprintf(stderr, "bench_eis: %s\n", err.msg);
    return 1;
  }
  double rct = 0.0;
  int M = 0;
  for (int r = 0; r < reps; r++) {
    double t0 = bench_now_s(), c0 = cpu_s();
    nimc_sim *sim = NULL;
    nimc_spectrum s;
    if (nimc_sim_create(&sim, dev, NULL, &err)) {
      fprintf(stderr, "bench_eis: %s\n", err.msg);
      return 1;
    }
    if (nimc_sim_at_rest(sim) || nimc_sim_impedance(sim, f, nf, &s, &info)) {
      fprintf(stderr, "bench_eis: %s\n", nimc_sim_errmsg(sim));
      return 1;
    }
    wall[r] = bench_now_s() - t0;
    cpu[r] = cpu_s() - c0;
    nimc_sim_destroy(sim);
    /* the analysis of nimc eis, timed apart */
    nimc_fit_opts o = nimc_fit_opts_default();
    o.global = 1;
    nimc_fit fit;
    t0 = bench_now_s();
    if (nimc_circuit_fit(c, &s, &o, &fit, &err)) {
      fprintf(stderr, "bench_eis: %s\n", err.msg);
      return 1;
    }
    tfit[r] = bench_now_s() - t0;
    rct = fit.p[1];
    nimc_fit_free(&fit);
    nimc_linkk kk;
    t0 = bench_now_s();
    if (nimc_spectrum_linkk(&s, NULL, &kk, &err)) {
      fprintf(stderr, "bench_eis: %s\n", err.msg);
      return 1;
    }
    tkk[r] = bench_now_s() - t0;
    M = kk.M;
    nimc_linkk_free(&kk);
    nimc_spectrum_free(&s);
  }
  printf("bench_eis: %s, %zu frequencies (100 kHz to 10 mHz), operating "
         "point: the initial state\n",
         nimc_device_name(dev), nf);
  printf("  spectrum, set-up included: median %.4f s wall, %.4f s CPU "
         "(%d runs)\n",
         bench_median(wall, (size_t)reps), bench_median(cpu, (size_t)reps),
         reps);
  printf("  %ld unknowns, %ld Jacobian non-zeros; %ld full factorisations, "
         "%ld refactorisations, %ld solves (%ld refinement steps); backward "
         "error <= %.1e, last correction <= %.1e\n",
         info.unknowns, info.jacobian_nonzeros, info.full_factorizations,
         info.refactorizations, info.solves, info.refinements,
         info.max_backward_error, info.max_correction);
  printf("  fit of R0-p(R1,CPE1)-CPE2 (global, 50 starts): median %.4f s "
         "(R1 = %.5g ohm)\n",
         bench_median(tfit, (size_t)reps), rct);
  printf("  Lin-KK: median %.4f s (M = %d)\n", bench_median(tkk, (size_t)reps),
         M);
  /* the operating point held at 1.5 V */
  nimc_sim *sim = NULL;
  double ts = 0.0, t0 = bench_now_s();
  if (nimc_sim_create(&sim, dev, NULL, &err) ||
      nimc_sim_settle(sim, 1.5, 1.0 / (2 * 3.141592653589793 * 1e-2), 1e-4,
                      1e9, &ts)) {
    fprintf(stderr, "bench_eis: settle: %s\n",
            sim ? nimc_sim_errmsg(sim) : err.msg);
    return 1;
  }
  double tset = bench_now_s() - t0;
  nimc_solver_stats st = nimc_sim_stats(sim);
  printf("  held at 1.5 V until steady: %.4g s simulated in %.3f s wall; %ld "
         "steps, %ld residual and %ld Jacobian evaluations, %ld linear "
         "set-ups\n",
         ts, tset, st.steps, st.residual_evals, st.jacobian_evals,
         st.linear_setups);
  nimc_sim_destroy(sim);
  nimc_circuit_destroy(c);
  nimc_device_destroy(dev);
  free(f), free(wall), free(cpu), free(tfit), free(tkk);
  return 0;
}
