/*
 * test_nimc2d.c -- the in-plane NIMC (2D interdigitated cross-section):
 *  - the default mesh is converged: capacitance within 1 % of a mesh with
 *    twice the cells in every direction, at 0.1 and at 1 mA/cm2;
 *  - the lumped along-finger collector resistance adds exactly
 *    2 R_sheet L / (3 w N) to the series resistance seen at a switch;
 *  - the cover only takes away: the covered device stores less at
 *    0.2 mA/cm2 than the uncovered one (the files differ only in the cover,
 *    test_device checks that);
 *  - the symmetry cell (the default, [mesh] array = symmetry) holds the
 *    whole array: with fast ion transport its capacitance is within 1 % of
 *    the whole cross-section's (array = full, all 2N fingers and 2N - 1
 *    gaps) at 1 mA/cm2; with the gel's transport it stores more, by the
 *    measured 1.5 % at 0.1 and 12 % at 1 mA/cm2 (the edge fingers' outer
 *    halves are farther from a gap than the cell has them), checked at
 *    3 % and 15 % -- on one coarser mesh for both (the full one has 8x
 *    the cells).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nimc/nimc.h"
#include "testlib.h"

/* One GCD cycle at j (mA/cm2) on path with overrides; metrics to *mt. */
static int gcd(const char *path, double j, const char *const *sets,
               size_t nsets, nimc_metrics *mt) {
  char s1[96], s2[96];
  snprintf(s1, sizeof s1, "Charge at %g mA/cm2 until 3.5 V", j);
  snprintf(s2, sizeof s2, "Discharge at %g mA/cm2 until 0 V", j);
  const char *steps[2] = {s1, s2};
  nimc_result res;
  nimc_err err;
  memset(&res, 0, sizeof res);
  int rc = nimc_simulate(path, sets, nsets, steps, 2, NULL, &res, mt, &err);
  if (rc) fprintf(stderr, "  %s\n", err.msg);
  nimc_result_free(&res);
  return rc || !mt->have_discharge;
}

static void test_mesh_converged(void) {
  static const char *const fine[] = {
      "mesh.finger_cells_x=16",   "mesh.gap_cells_x=16",
      "mesh.electrode_cells_z=8", "mesh.gel_cells_z=16",
      "mesh.cover_cells_z=4",     "mesh.particle_shells=6"};
  const double js[2] = {0.1, 1.0};
  for (int k = 0; k < 2; k++) {
    nimc_metrics a, b;
    CHECK(gcd("devices/nimc.ini", js[k], NULL, 0, &a) == 0);
    CHECK(gcd("devices/nimc.ini", js[k], fine, 6, &b) == 0);
    double rel = a.capacitance_F / b.capacitance_F - 1.0;
    fprintf(
        stderr,
        "  %.1f mA/cm2: default %.4f F/cm3, refined %.4f F/cm3 (%+.3f %%)\n",
        js[k], a.capacitance_volumetric_F_cm3, b.capacitance_volumetric_F_cm3,
        100 * rel);
    CHECK(fabs(rel) < 0.01);
  }
}

static void test_collector_resistance(void) {
  static const char *const none[] = {
      "geometry.collector_sheet_resistance=0 ohm"};
  static const char *const some[] = {
      "geometry.collector_sheet_resistance=9 ohm"};
  nimc_metrics a, b;
  CHECK(gcd("devices/nimc.ini", 0.3, none, 1, &a) == 0);
  CHECK(gcd("devices/nimc.ini", 0.3, some, 1, &b) == 0);
  double expect = 2.0 * 9.0 * 14e-3 / (3.0 * 1e-3 * 4); /* 21 ohm */
  fprintf(stderr, "  ESR %.4f -> %.4f ohm (+%.4f, lumped %.4f)\n", a.esr_ohm,
          b.esr_ohm, b.esr_ohm - a.esr_ohm, expect);
  CHECK_REL(b.esr_ohm - a.esr_ohm, expect, 1e-3);
}

static void test_cover_takes_away(void) {
  nimc_metrics u, c;
  CHECK(gcd("devices/nimc.ini", 0.2, NULL, 0, &u) == 0);
  CHECK(gcd("devices/nimc-covered.ini", 0.2, NULL, 0, &c) == 0);
  fprintf(stderr, "  0.2 mA/cm2: uncovered %.3f F/cm3, covered %.3f F/cm3\n",
          u.capacitance_volumetric_F_cm3, c.capacitance_volumetric_F_cm3);
  CHECK(c.capacitance_F < u.capacitance_F);
  CHECK(c.esr_ohm >= u.esr_ohm);
}

/* Symmetry cell against the whole cross-section.  The bookkeeping is
 * exact (test_mesh: the same volumes and faces), and with fast ion
 * transport the two agree within 1 %.  With the gel's own transport they
 * do not: the symmetry cell puts the outer halves of the two edge fingers
 * (1/8 of each electrode at N = 4) as close to a gap as the inner halves,
 * while in the array they are half a finger farther (w/2..w from the
 * nearest gap, with no-flux beyond), so at a rate where the fingers are
 * used unevenly the symmetry cell stores more, and the more the higher the
 * rate.  Measured on this mesh: +1.46 % at 0.1 mA/cm2 and +12.1 % at
 * 1 mA/cm2 (with the neutral initial state of later physics: +2.5 % and
 * +14.1 %; 100x transport: +0.40 %, +0.57 %).  Agreement within 1 % holds
 * only with fast transport; with the gel's, the checks are the measured
 * gaps with some room (3 %, 15 %), their sign and their order. */
static void test_symmetry_cell_is_the_array(void) {
  /* the same resolution on both sides: the full cross-section meshes every
   * finger as the symmetry cell meshes its two halves */
  static const char *const sym[] = {"mesh.finger_cells_x=6",
                                    "mesh.gap_cells_x=6", "mesh.array=symmetry",
                                    "electrolyte.conductivity=50 mS/cm",
                                    "electrolyte.diffusivity=3.37e-9 m2/s"};
  static const char *const full[] = {"mesh.finger_cells_x=6",
                                     "mesh.gap_cells_x=6", "mesh.array=full",
                                     "electrolyte.conductivity=50 mS/cm",
                                     "electrolyte.diffusivity=3.37e-9 m2/s"};
  /* the gel's transport (3 overrides), then 100x faster (all 5) */
  const double js[3] = {0.1, 1.0, 1.0}, tol[3] = {0.03, 0.15, 0.01};
  const size_t nsets[3] = {3, 3, 5};
  double rels[3] = {0};
  for (int k = 0; k < 3; k++) {
    nimc_metrics a, b;
    CHECK(gcd("devices/nimc.ini", js[k], sym, nsets[k], &a) == 0);
    CHECK(gcd("devices/nimc.ini", js[k], full, nsets[k], &b) == 0);
    double rel = a.capacitance_F / b.capacitance_F - 1.0;
    fprintf(stderr,
            "  %.1f mA/cm2%s: symmetry %.4f F/cm3, full %.4f F/cm3 "
            "(%+.3f %%)\n",
            js[k], k == 2 ? ", 100x ion transport" : "",
            a.capacitance_volumetric_F_cm3, b.capacitance_volumetric_F_cm3,
            100 * rel);
    CHECK(fabs(rel) < tol[k]);
    CHECK(rel > 0.0); /* the lumped outer halves are too close to a gap */
    rels[k] = rel;
  }
  CHECK(rels[1] > rels[0]); /* the outer halves lag more at a high rate */
}

int main(void) {
  RUN(test_mesh_converged);
  RUN(test_collector_resistance);
  RUN(test_cover_takes_away);
  RUN(test_symmetry_cell_is_the_array);
  return TEST_REPORT();
}
