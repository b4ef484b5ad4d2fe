/*
 * test_dualfoil.c -- cross-validation of the porous-electrode core against
 * DUALFOIL 5.2 on its own Li-ion example (../shared/data/reference).
 *
 * The shipped device devices/dualfoil-li-ion.ini, discharged at 17.5 A/m2
 * to 2.8 V, must follow DUALFOIL's voltage within 5 mV RMS and 20 mV at
 * most, and reach 2.8 V within 0.5 % of DUALFOIL's time; and the answer
 * must be converged: a mesh refined twice over (cells and particle shells)
 * moves it by less than 0.5 mV RMS.  The material functions are checked
 * against values DUALFOIL itself prints.  Skipped, with a message, only
 * where ../shared is absent.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/params.h"
#include "refcurve.h"
#include "testlib.h"

#define REFERENCE "../shared/data/reference/dualfoil-licoo2-mcmb-17.5Am2.csv"

static void test_material_functions(void) {
  double d;
  /* open-circuit potentials at DUALFOIL's initial state (its print-out) */
  CHECK_ABS(nimc_builtin_find("mcmb2528_ocp")(0.8, 298.15, &d),
            0.17519318402833506, 1e-12);
  CHECK_ABS(nimc_builtin_find("licoo2_ocp")(0.6, 298.15, &d),
            4.0270138473420616, 1e-12);
  /* LiPF6 in EC:DMC at 1 mol/L: bulk conductivity and diffusivity */
  CHECK_REL(nimc_builtin_find("lipf6_ecdmc_conductivity")(1000.0, 298.15, &d),
            1.1046, 1e-12);
  CHECK_REL(nimc_builtin_find("lipf6_ecdmc_diffusivity")(1000.0, 298.15, &d),
            5.34e-10 * exp(-0.65), 1e-12);
  /* derivatives agree with central differences */
  const char *names[4] = {"mcmb2528_ocp", "licoo2_ocp",
                          "lipf6_ecdmc_conductivity",
                          "lipf6_ecdmc_diffusivity"};
  const double at[4] = {0.45, 0.7, 1200.0, 800.0};
  for (int k = 0; k < 4; k++) {
    nimc_builtin_fn f = nimc_builtin_find(names[k]);
    double x = at[k], h = 1e-6 * x, dp, dm;
    double fd = (f(x + h, 298.15, &dp) - f(x - h, 298.15, &dm)) / (2 * h);
    f(x, 298.15, &d);
    CHECK_REL(d, fd, 1e-6);
  }
}

static void test_against_dualfoil(void) {
  nimc_refcurve ref;
  if (nimc_refcurve_read(REFERENCE, &ref)) {
    fprintf(stderr, "  skipped: %s not found (../shared absent)\n", REFERENCE);
    tl_skipped = 1;
    return;
  }
  double *v = malloc(sizeof(double) * ref.n),
         *vf = malloc(sizeof(double) * ref.n);
  double tend = 0, tendf = 0;
  /* IDA's interpolant every second, not straight lines between steps */
  CHECK(nimc_refcurve_dualfoil(".", NULL, 0, 1.0, &ref, v, &tend) == 0);
  nimc_refdiff d = nimc_refcurve_diff(&ref, v, ref.v, fmin(tend, ref.t_cut_s));
  double terr = (tend - ref.t_cut_s) / ref.t_cut_s;
  fprintf(stderr,
          "  against DUALFOIL: %.3f mV RMS, %.3f mV max (at %.0f s), 2.8 V at "
          "%.2f s vs %.2f s (%+.3f %%)\n",
          1e3 * d.rms, 1e3 * d.max, d.t_at_max, tend, ref.t_cut_s, 100 * terr);
  CHECK(d.rms < 5e-3);
  CHECK(d.max < 20e-3);
  CHECK(fabs(terr) < 5e-3);
  /* converged, not lucky: twice the cells and twice the shells */
  const char *fine[4] = {"mesh.anode_cells=20", "mesh.separator_cells=10",
                         "mesh.cathode_cells=20", "mesh.particle_shells=40"};
  CHECK(nimc_refcurve_dualfoil(".", fine, 4, 1.0, &ref, vf, &tendf) == 0);
  nimc_refdiff c = nimc_refcurve_diff(&ref, v, vf, fmin(tend, tendf));
  fprintf(
      stderr,
      "  against the refined mesh: %.3f mV RMS, %.3f mV max, end %+.3f %%\n",
      1e3 * c.rms, 1e3 * c.max, 100 * (tend - tendf) / tendf);
  CHECK(c.rms < 0.5e-3);
  CHECK(c.max < 3e-3);
  CHECK(fabs(tend - tendf) / tendf < 1e-3);
  free(v), free(vf);
  nimc_refcurve_free(&ref);
}

int main(void) {
  RUN(test_material_functions);
  RUN(test_against_dualfoil);
  return TEST_REPORT(); /* 77 when skipped: CTest SKIP_RETURN_CODE */
}
