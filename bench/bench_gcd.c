/*
 * bench_gcd.c -- wall time and solver statistics of one 1D GCD cycle.
 *
 * Loads devices/nimc-stack.ini (or the file given), runs
 * "Charge at 0.1 mA/cm2 until 3.5 V; Discharge at 0.1 mA/cm2 until 0.5 V"
 * REPEATS times from a fresh simulation and prints the median, minimum and
 * maximum wall time of simulation set-up plus run, with the solver
 * statistics of one run.  A benchmark, not a test: it never fails on time.
 *
 * usage: bench_gcd [DEVICE] [REPEATS] [CURRENT]
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "benchutil.h"
#include "nimc/nimc.h"

int main(int argc, char **argv) {
  const char *path =
      argc > 1 ? argv[1] : NIMC_SOURCE_DIR "/devices/nimc-stack.ini";
  int reps = argc > 2 ? atoi(argv[2]) : 21;
  const char *cur = argc > 3 ? argv[3] : "0.1 mA/cm2";
  if (reps < 1) reps = 1;
  char s1[128], s2[128];
  snprintf(s1, sizeof s1, "Charge at %s until 3.5 V", cur);
  snprintf(s2, sizeof s2, "Discharge at %s until 0.5 V", cur);
  const char *steps[2] = {s1, s2};
  nimc_err err;
  nimc_device *dev;
  nimc_experiment *exp;
  if (nimc_device_load(&dev, path, NULL, 0, &err) ||
      nimc_experiment_parse(&exp, steps, 2, &err)) {
    fprintf(stderr, "bench_gcd: %s\n", err.msg);
    return 2;
  }
  double *t = malloc(sizeof(double) * (size_t)reps);
  nimc_solver_stats st;
  memset(&st, 0, sizeof st);
  double cap = 0.0;
  for (int r = 0; r < reps; r++) {
    double t0 = bench_now_s();
    nimc_sim *sim;
    nimc_result res;
    memset(&res, 0, sizeof res);
    if (nimc_sim_create(&sim, dev, NULL, &err)) {
      fprintf(stderr, "bench_gcd: %s\n", err.msg);
      return 1;
    }
    if (nimc_sim_run(sim, exp, &res)) {
      fprintf(stderr, "bench_gcd: %s\n", nimc_sim_errmsg(sim));
      return 1;
    }
    t[r] = bench_now_s() - t0;
    st = nimc_sim_stats(sim);
    nimc_metrics mt;
    nimc_norm norm = {nimc_device_footprint_area_m2(dev),
                      nimc_device_norm_thickness_m(dev)};
    if (nimc_metrics_gcd_result(&res, &norm, &mt, &err) == NIMC_OK)
      cap = mt.capacitance_F;
    nimc_result_free(&res);
    nimc_sim_destroy(sim);
  }
  bench_median(t, (size_t)reps);
  printf("bench_gcd: %s, %s / %s, %d runs\n", path, s1, s2, reps);
  printf("  wall time per cycle: median %.3f ms, min %.3f ms, max %.3f ms\n",
         1e3 * t[reps / 2], 1e3 * t[0], 1e3 * t[reps - 1]);
  printf("  solver: %ld unknowns, %ld Jacobian nonzeros\n", st.unknowns,
         st.jacobian_nonzeros);
  printf("  steps %ld, residual evals %ld, Jacobian evals %ld, linear "
         "set-ups %ld\n"
         "  (fresh factorisations %ld, refactorisations %ld; LU nonzeros "
         "%ld),\n"
         "  nonlinear iterations %ld, error-test fails %ld, convergence fails "
         "%ld, root evals %ld\n",
         st.steps, st.residual_evals, st.jacobian_evals, st.linear_setups,
         st.full_factorizations, st.refactorizations, st.lu_nonzeros,
         st.nonlinear_iters, st.error_test_fails, st.nonlinear_conv_fails,
         st.root_evals);
  printf("  capacitance %.6g F\n", cap);
  free(t);
  nimc_experiment_destroy(exp);
  nimc_device_destroy(dev);
  return 0;
}
