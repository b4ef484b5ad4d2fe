/*
 * bench_nimc2d.c -- wall time of one GCD cycle of the 2D NIMC, and how it
 * scales with the mesh.
 *
 * One cycle "Charge at 0.1 mA/cm2 until 3.5 V; Discharge at 0.1 mA/cm2
 * until 0 V" of devices/nimc.ini (the interdigitated cross-section) from a
 * fresh simulation, REPEATS times at the default mesh: median wall and
 * CPU time (set-up plus run) and solver statistics; then the same cycle with each
 * way of meshing the array ([mesh] array: edge, the default; full; the
 * symmetry cell), and on meshes with the cell counts scaled by 1/2, 1 and
 * 2 in both directions, with unknowns, Jacobian non-zeros, steps, wall
 * time and capacitance, to show the cost of each.  A benchmark, not a
 * test: it never fails on time.
 *
 * usage: bench_nimc2d [DEVICE] [REPEATS]
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchutil.h"
#include "nimc/nimc.h"

/* One cycle with the mesh scaled by f and the array meshed as array (NULL:
 * the device's); returns wall seconds or -1, and the CPU seconds in *cpu. */
static double cycle(const char *path, double f, const char *array,
                    nimc_solver_stats *st, double *cap, double *cpu) {
  static const struct {
    const char *key;
    int base;
  } mesh[] = {{"finger_cells_x", 8},
              {"gap_cells_x", 8},
              {"electrode_cells_z", 4},
              {"gel_cells_z", 8},
              {"cover_cells_z", 2}};
  char sets[6][64];
  const char *sp[6];
  int nsp = 0;
  if (f != 1.0)
    for (int k = 0; k < 5; k++) {
      int n = (int)(mesh[k].base * f + 0.5);
      snprintf(sets[nsp], sizeof sets[nsp], "mesh.%s=%d", mesh[k].key,
               n < 1 ? 1 : n);
      sp[nsp] = sets[nsp], nsp++;
    }
  if (array) {
    snprintf(sets[nsp], sizeof sets[nsp], "mesh.array=%s", array);
    sp[nsp] = sets[nsp], nsp++;
  }
  const char *steps[2] = {"Charge at 0.1 mA/cm2 until 3.5 V",
                          "Discharge at 0.1 mA/cm2 until 0 V"};
  nimc_err err;
  nimc_result res;
  nimc_metrics mt;
  memset(&res, 0, sizeof res);
  double t0 = bench_now_s(), c0 = bench_cpu_s(), wall = -1.0;
  /* the sim's statistics need the handle: run it through the parts */
  nimc_device *dev = NULL;
  nimc_experiment *exp = NULL;
  nimc_sim *sim = NULL;
  if (nimc_device_load(&dev, path, nsp ? sp : NULL, (size_t)nsp, &err) ||
      nimc_experiment_parse(&exp, steps, 2, &err) ||
      nimc_sim_create(&sim, dev, NULL, &err)) {
    fprintf(stderr, "bench_nimc2d: %s\n", err.msg);
  } else if (nimc_sim_run(sim, exp, &res)) {
    fprintf(stderr, "bench_nimc2d: %s\n", nimc_sim_errmsg(sim));
  } else {
    wall = bench_now_s() - t0;
    *cpu = bench_cpu_s() - c0;
    *st = nimc_sim_stats(sim);
    nimc_norm norm = {nimc_device_footprint_area_m2(dev),
                      nimc_device_norm_thickness_m(dev)};
    *cap = nimc_metrics_gcd_result(&res, &norm, &mt, &err) == NIMC_OK
               ? nimc_metric_value(&mt, "capacitance_volumetric_F_cm3")
               : -1.0;
  }
  nimc_result_free(&res);
  nimc_sim_destroy(sim);
  nimc_experiment_destroy(exp);
  nimc_device_destroy(dev);
  return wall;
}

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : NIMC_SOURCE_DIR "/devices/nimc.ini";
  int reps = argc > 2 ? atoi(argv[2]) : 7;
  if (reps < 1) reps = 1;
  double *t = malloc(sizeof(double) * (size_t)reps), cap = 0, cpu = 0;
  double *tc = malloc(sizeof(double) * (size_t)reps);
  nimc_solver_stats st;
  memset(&st, 0, sizeof st);
  for (int r = 0; r < reps; r++)
    if ((t[r] = cycle(path, 1.0, NULL, &st, &cap, &tc[r])) < 0) return 1;
  double med = bench_median(t, (size_t)reps);
  double medc = bench_median(tc, (size_t)reps);
  printf("bench_nimc2d: %s, one GCD cycle at 0.1 mA/cm2 (0 -> 3.5 -> 0 V), %d "
         "runs\n",
         path, reps);
  printf("  default mesh: median %.3f s wall (min %.3f, max %.3f), %.3f s "
         "CPU (min %.3f, max %.3f), %.3f F/cm3\n",
         med, t[0], t[reps - 1], medc, tc[0], tc[reps - 1], cap);
  printf(
      "  %ld unknowns, %ld Jacobian non-zeros; steps %ld, residual evals %ld,\n"
      "  Jacobian evals %ld, linear set-ups %ld (fresh factorisations %ld,\n"
      "  refactorisations %ld; LU nonzeros %ld), nonlinear iterations %ld,\n"
      "  error-test fails %ld, convergence fails %ld\n",
      st.unknowns, st.jacobian_nonzeros, st.steps, st.residual_evals,
      st.jacobian_evals, st.linear_setups, st.full_factorizations,
      st.refactorizations, st.lu_nonzeros, st.nonlinear_iters,
      st.error_test_fails, st.nonlinear_conv_fails);
  printf("  each way of meshing the array, default mesh:\n");
  printf("  %9s %9s %10s %7s %6s %6s %9s %9s %9s\n", "array", "unknowns",
         "nonzeros", "steps", "set-up", "fresh", "wall s", "CPU s", "F/cm3");
  static const char *const arrays[3] = {"edge", "full", "symmetry"};
  for (int k = 0; k < 3; k++) {
    double w = cycle(path, 1.0, arrays[k], &st, &cap, &cpu);
    printf("  %9s %9ld %10ld %7ld %6ld %6ld %9.3f %9.3f %9.3f\n", arrays[k],
           st.unknowns, st.jacobian_nonzeros, st.steps, st.linear_setups,
           st.full_factorizations, w, cpu, cap);
  }
  printf("  scaling with the mesh (cell counts times f in x and z):\n");
  printf("  %5s %9s %10s %7s %6s %6s %9s %9s %9s\n", "f", "unknowns",
         "nonzeros", "steps", "set-up", "fresh", "wall s", "CPU s", "F/cm3");
  static const double fs[3] = {0.5, 1.0, 2.0};
  for (int k = 0; k < 3; k++) {
    double w = cycle(path, fs[k], NULL, &st, &cap, &cpu);
    printf("  %5.1f %9ld %10ld %7ld %6ld %6ld %9.3f %9.3f %9.3f\n", fs[k],
           st.unknowns, st.jacobian_nonzeros, st.steps, st.linear_setups,
           st.full_factorizations, w, cpu, cap);
  }
  free(t), free(tc);
  return 0;
}
