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

/* Discharge the shipped device; its voltage at the reference times. */
static int discharge(const char *const *sets, size_t nsets,
                     const nimc_refcurve *ref, double *v, double *tend) {
  const char *step[1] = {"Discharge at 17.5 A/m2 until 2.8 V"};
  nimc_err err;
  nimc_device *dev = NULL;
  nimc_experiment *exp = NULL;
  nimc_sim *sim = NULL;
  nimc_result res;
  memset(&res, 0, sizeof res);
  int rc =
      nimc_device_load(&dev, "devices/dualfoil-li-ion.ini", sets, nsets, &err);
  if (!rc) rc = nimc_experiment_parse(&exp, step, 1, &err);
  nimc_sim_opts o = nimc_sim_opts_default();
  o.output_dt_s = 1.0; /* IDA's interpolant, not straight lines between steps */
  if (!rc) rc = nimc_sim_create(&sim, dev, &o, &err);
  if (rc) {
    fprintf(stderr, "  %s\n", err.msg);
    goto done;
  }
  if ((rc = nimc_sim_run(sim, exp, &res))) {
    fprintf(stderr, "  %s\n", nimc_sim_errmsg(sim));
    goto done;
  }
  *tend = res.steps[0].duration_s;
  nimc_refcurve_sample(&res.series, ref, v);
done:
  nimc_result_free(&res);
  nimc_sim_destroy(sim);
  nimc_experiment_destroy(exp);
  nimc_device_destroy(dev);
  return rc;
}

static void test_against_dualfoil(void) {
  nimc_refcurve ref;
  if (nimc_refcurve_read(REFERENCE, &ref)) {
    fprintf(stderr, "  skipped: %s not found (../shared absent)\n", REFERENCE);
    return;
  }
  double *v = malloc(sizeof(double) * ref.n),
         *vf = malloc(sizeof(double) * ref.n);
  double tend = 0, tendf = 0;
  CHECK(discharge(NULL, 0, &ref, v, &tend) == 0);
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
  CHECK(discharge(fine, 4, &ref, vf, &tendf) == 0);
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
  return TEST_REPORT();
}
