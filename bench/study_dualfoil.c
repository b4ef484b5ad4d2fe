/*
 * study_dualfoil.c -- mesh and tolerance study of the DUALFOIL comparison.
 *
 * Runs devices/dualfoil-li-ion.ini ("Discharge at 17.5 A/m2 until 2.8 V")
 * on a ladder of meshes (cells per region, particle shells and their
 * grading) and solver tolerances, and prints for each: the RMS and maximum
 * voltage difference to DUALFOIL's reference curve, the same to the finest
 * nimc solution of the ladder, the discharge time against DUALFOIL's, and
 * the wall time of the simulation.  It shows that the answer is converged
 * (the differences to the finest solution shrink with refinement) and what
 * is left is the difference between the two codes.
 *
 * usage: study_dualfoil [REFERENCE.csv]   (default
 * ../shared/data/reference/...)
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "benchutil.h"
#include "nimc/nimc.h"
#include "refcurve.h"

typedef struct setting {
  const char *label;
  int na, ns, nc, shells;
  double pgrading, rtol;
} setting;

/* Simulate one setting; the voltage at the reference times goes to v. */
static int run(const setting *st, const nimc_refcurve *ref, double *v,
               double *tend, double *wall) {
  char sets[6][64];
  snprintf(sets[0], 64, "mesh.anode_cells=%d", st->na);
  snprintf(sets[1], 64, "mesh.separator_cells=%d", st->ns);
  snprintf(sets[2], 64, "mesh.cathode_cells=%d", st->nc);
  snprintf(sets[3], 64, "mesh.particle_shells=%d", st->shells);
  snprintf(sets[4], 64, "mesh.particle_grading=%g", st->pgrading);
  snprintf(sets[5], 64, "solver.rtol=%g", st->rtol);
  const char *sp[6] = {sets[0], sets[1], sets[2], sets[3], sets[4], sets[5]};
  double t0 = bench_now_s();
  int rc = nimc_refcurve_dualfoil(NIMC_SOURCE_DIR, sp, 6, 0.5, ref, v, tend);
  *wall = bench_now_s() - t0;
  return rc;
}

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1]
                              : NIMC_SOURCE_DIR
                         "/../shared/data/reference/"
                         "dualfoil-licoo2-mcmb-17.5Am2.csv";
  nimc_refcurve ref;
  if (nimc_refcurve_read(path, &ref)) {
    fprintf(stderr, "study_dualfoil: cannot read %s\n", path);
    return 2;
  }
  static const setting ladder[] = {
      {"coarse", 5, 3, 5, 5, 1.0, 1e-5},
      {"default", 10, 5, 10, 20, 4.0, 1e-5},
      {"cells x2", 20, 10, 20, 20, 4.0, 1e-5},
      {"shells x2", 10, 5, 10, 40, 4.0, 1e-5},
      {"rtol /10", 10, 5, 10, 20, 4.0, 1e-6},
      {"rtol /100", 10, 5, 10, 20, 4.0, 1e-7},
      {"10 graded", 10, 5, 10, 10, 8.0, 1e-5},
      {"uniform 10", 10, 5, 10, 10, 1.0, 1e-6},
      {"uniform 20", 10, 5, 10, 20, 1.0, 1e-6},
      {"uniform 40", 10, 5, 10, 40, 1.0, 1e-6},
      {"x2, 40 sh", 20, 10, 20, 40, 4.0, 1e-8},
      {"finest", 40, 20, 40, 80, 4.0, 1e-9},
  };
  size_t nl = sizeof ladder / sizeof ladder[0];
  double **v = calloc(nl, sizeof *v), *tend = calloc(nl, sizeof(double));
  double *wall = calloc(nl, sizeof(double));
  for (size_t k = 0; k < nl; k++) {
    v[k] = malloc(sizeof(double) * ref.n);
    if (run(&ladder[k], &ref, v[k], &tend[k], &wall[k])) return 1;
  }
  const double *fine = v[nl - 1];
  printf("DUALFOIL comparison, %s (%zu points, reference reaches 2.8 V at %.2f "
         "s)\n",
         path, ref.n, ref.t_cut_s);
  printf("%-11s %4s %4s %4s %6s %5s %7s | %9s %9s | %9s %9s | %9s %8s\n",
         "setting", "na", "ns", "nc", "shells", "grad", "rtol", "rms ref",
         "max ref", "rms fine", "max fine", "t_end err", "wall");
  for (size_t k = 0; k < nl; k++) {
    const setting *st = &ladder[k];
    nimc_refdiff dr = nimc_refcurve_diff(&ref, v[k], ref.v, tend[k]);
    nimc_refdiff df =
        nimc_refcurve_diff(&ref, v[k], fine, fmin(tend[k], tend[nl - 1]));
    printf("%-11s %4d %4d %4d %6d %5g %7.0e | %6.3f mV %6.3f mV | %6.3f mV "
           "%6.3f mV | %8.3f%% %5.1f ms\n",
           st->label, st->na, st->ns, st->nc, st->shells, st->pgrading,
           st->rtol, 1e3 * dr.rms, 1e3 * dr.max, 1e3 * df.rms, 1e3 * df.max,
           100.0 * (tend[k] - ref.t_cut_s) / ref.t_cut_s, 1e3 * wall[k]);
  }
  for (size_t k = 0; k < nl; k++)
    free(v[k]);
  free(v), free(tend), free(wall);
  nimc_refcurve_free(&ref);
  return 0;
}
