/*
 * test_mesh.c -- the finite-volume mesh: graded segments, the 1D stack and
 * a 2D tensor-product mesh with an empty block (the shape of the
 * interdigitated cross-section), checked by exact geometry.
 */
#include <math.h>
#include <stdlib.h>

#include "mesh/mesh.h"
#include "model_fixtures.h"
#include "testlib.h"

static void test_graded_segment(void) {
  for (int n = 1; n <= 9; n++) {
    nimc_segment s = {3e-6, n, 4.0, 0};
    double sz[16], sum = 0.0, lo = 1e9, hi = 0.0;
    nimc_segment_sizes(&s, sz);
    for (int k = 0; k < n; k++) {
      sum += sz[k];
      lo = fmin(lo, sz[k]);
      hi = fmax(hi, sz[k]);
      CHECK_REL(sz[k], sz[n - 1 - k], 1e-12); /* symmetric */
    }
    CHECK_REL(sum, 3e-6, 1e-12);
    if (n >= 3) CHECK_REL(hi / lo, 4.0, 1e-12);
    CHECK(sz[0] <= sz[n / 2]); /* small at the ends */
  }
}

static void test_one_sided_grading(void) {
  for (int side = -1; side <= 1; side += 2) {
    nimc_segment s = {1.0, 6, 8.0, side};
    double sz[6], sum = 0.0;
    nimc_segment_sizes(&s, sz);
    for (int k = 0; k < 6; k++) sum += sz[k];
    CHECK_REL(sum, 1.0, 1e-12);
    double fine = side > 0 ? sz[5] : sz[0], coarse = side > 0 ? sz[0] : sz[5];
    CHECK_REL(coarse / fine, 8.0, 1e-12);
    for (int k = 1; k < 6; k++) CHECK(side > 0 ? sz[k] < sz[k - 1] : sz[k] > sz[k - 1]);
  }
}

static void test_stack_mesh(void) {
  nimc_device d;
  fx_device(&d, 1.0, 1e-10);
  fx_capacitive(&d.anode, 5e-6, 1e7, 0.0);
  fx_capacitive(&d.cathode, 10e-6, 1e7, 0.0);
  d.mesh.grading = 3.0;
  nimc_mesh *m;
  CHECK(nimc_mesh_stack(&m, &d, NULL) == NIMC_OK);
  CHECK(m->ncells == 26);
  double vol = 0.0;
  for (int i = 0; i < m->ncells; i++)
    vol += m->vol[i];
  CHECK_REL(vol, (5e-6 + 20e-6 + 10e-6) * d.area_m2, 1e-12);
  int nb = 0, na = 0, nc = 0;
  for (int f = 0; f < m->nfaces; f++) {
    if (m->c1[f] >= 0) {
      CHECK_REL(m->area[f], d.area_m2, 1e-12);
      CHECK_REL(m->xc[m->c1[f]] - m->xc[m->c0[f]], m->d0[f] + m->d1[f], 1e-9);
      continue;
    }
    nb++;
    if (m->btag[f] == NIMC_BOUNDARY_ANODE_CC) {
      na++;
      CHECK(m->region[m->c0[f]] == NIMC_REGION_ANODE);
      CHECK_REL(m->xc[m->c0[f]], m->d0[f], 1e-12);
    }
    if (m->btag[f] == NIMC_BOUNDARY_CATHODE_CC) {
      nc++;
      CHECK(m->region[m->c0[f]] == NIMC_REGION_CATHODE);
    }
  }
  CHECK(nb == 2 && na == 1 && nc == 1);
  CHECK(m->nfaces == 25 + 2);
  nimc_mesh_destroy(m);
}

/* 2D: x = [finger | gap | finger], z = [fingers | gel]; the gap below the
 * gel is empty (substrate), the top is gel; collectors under the fingers. */
static int region2d(void *u, int ix, int iz) {
  (void)u;
  if (iz == 1) return NIMC_REGION_GEL;
  if (ix == 1) return NIMC_REGION_NONE;
  return ix == 0 ? NIMC_REGION_ANODE : NIMC_REGION_CATHODE;
}

static int btag2d(void *u, nimc_side side, int reg) {
  (void)u;
  if (side != NIMC_ZMIN) return 0;
  if (reg == NIMC_REGION_ANODE) return NIMC_BOUNDARY_ANODE_CC;
  if (reg == NIMC_REGION_CATHODE) return NIMC_BOUNDARY_CATHODE_CC;
  return 0;
}

static void test_2d_mesh(void) {
  nimc_segment xs[3] = {{500e-6, 6, 5.0, 0}, {500e-6, 4, 3.0, 0}, {500e-6, 6, 5.0, 0}};
  nimc_segment zs[2] = {{10e-6, 3, 1.0, 0}, {200e-6, 5, 2.0, 0}};
  double depth = 14e-3;
  nimc_mesh *m;
  CHECK(nimc_mesh_create(&m, xs, 3, zs, 2, depth, region2d, btag2d, NULL,
                         NULL) == NIMC_OK);
  CHECK(m->ncells == 16 * 5 + 12 * 3);
  double vol = 0.0, gel = 0.0;
  for (int i = 0; i < m->ncells; i++) {
    vol += m->vol[i];
    if (m->region[i] == NIMC_REGION_GEL) gel += m->vol[i];
  }
  CHECK_REL(vol, (1500e-6 * 200e-6 + 1000e-6 * 10e-6) * depth, 1e-12);
  CHECK_REL(gel, 1500e-6 * 200e-6 * depth, 1e-12);
  /* internal faces: x-neighbours plus z-neighbours that both exist */
  int xf = 0, zf = 0, bottom = 0;
  double cc_area = 0.0;
  for (int f = 0; f < m->nfaces; f++) {
    if (m->c1[f] < 0) {
      bottom++;
      cc_area += m->area[f];
      CHECK(m->axis[f] == 1);
      continue;
    }
    if (m->axis[f] == 0)
      xf++;
    else
      zf++;
    double dist = m->axis[f] == 0 ? m->xc[m->c1[f]] - m->xc[m->c0[f]]
                                  : m->zc[m->c1[f]] - m->zc[m->c0[f]];
    CHECK_REL(dist, m->d0[f] + m->d1[f], 1e-9);
  }
  CHECK(xf == 15 * 5 + 2 * 5 * 3);   /* gel rows + two finger blocks */
  CHECK(zf == 16 * 4 + 12 * 2 + 12); /* gel columns, fingers, finger tops */
  CHECK(bottom == 12);
  CHECK_REL(cc_area, 1000e-6 * depth, 1e-12);
  nimc_mesh_destroy(m);
}

static void test_empty_segment_rejected(void) {
  nimc_segment xs[1] = {{0.0, 3, 1.0, 0}};
  nimc_segment zs[1] = {{1.0, 1, 1.0, 0}};
  nimc_mesh *m;
  nimc_err err;
  CHECK(nimc_mesh_create(&m, xs, 1, zs, 1, 1.0, region2d, NULL, NULL, &err) ==
        NIMC_EINPUT);
  CHECK(m == NULL);
  CHECK_CONTAINS(err.msg, "x segment 0");
}

int main(void) {
  RUN(test_graded_segment);
  RUN(test_one_sided_grading);
  RUN(test_stack_mesh);
  RUN(test_2d_mesh);
  RUN(test_empty_segment_rejected);
  return TEST_REPORT();
}
