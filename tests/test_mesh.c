/*
 * test_mesh.c -- the finite-volume mesh: graded segments, the 1D stack,
 * a 2D tensor-product mesh with an empty block (the shape of the
 * interdigitated cross-section), columns of different depth, and the
 * interdigitated array all three ways (edge fingers with the inner gaps
 * lumped, whole cross-section, symmetry cell), checked by exact geometry:
 * each holds all N fingers of each electrode, the shipped devices' too.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mesh/mesh.h"
#include "model_fixtures.h"
#include "testlib.h"

static void test_graded_segment(void) {
  for (int n = 1; n <= 9; n++) {
    nimc_segment s = {3e-6, n, 4.0, 0, 1.0};
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
    nimc_segment s = {1.0, 6, 8.0, side, 1.0};
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

/* issue 12: counts whose sum or product overflows an int (UBSan in
 * axis_cells) are refused before anything is allocated */
static void test_mesh_too_large(void) {
  nimc_segment xs[3] = {{500e-6, 2000000000, 5.0, 0, 1.0},
                        {500e-6, 2000000000, 3.0, 0, 1.0},
                        {500e-6, 6, 5.0, 0, 1.0}};
  nimc_segment zs[2] = {{10e-6, 3, 1.0, 0, 1.0}, {200e-6, 5, 2.0, 0, 1.0}};
  nimc_mesh *m = (nimc_mesh *)&m;
  nimc_err err;
  CHECK(nimc_mesh_create(&m, xs, 3, zs, 2, 14e-3, region2d, btag2d, NULL,
                         &err) == NIMC_EINPUT);
  CHECK(m == NULL);
  CHECK_CONTAINS(err.msg, "mesh: 4000000006 x 8 cells is more than the limit "
                          "of 2000000 cells");
  /* within each axis, beyond in the product */
  xs[0].n = xs[1].n = 1000;
  zs[0].n = 1000;
  CHECK(nimc_mesh_create(&m, xs, 3, zs, 2, 14e-3, region2d, btag2d, NULL,
                         &err) == NIMC_EINPUT);
  CHECK_CONTAINS(err.msg, "2006 x 1005 cells");
}

static void test_2d_mesh(void) {
  nimc_segment xs[3] = {{500e-6, 6, 5.0, 0, 1.0},
                        {500e-6, 4, 3.0, 0, 1.0},
                        {500e-6, 6, 5.0, 0, 1.0}};
  nimc_segment zs[2] = {{10e-6, 3, 1.0, 0, 1.0}, {200e-6, 5, 2.0, 0, 1.0}};
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

/* Columns of different depth: volumes and z faces take their column's
 * depth, an x face between columns the smaller, boundary faces their
 * cell's; the default scale (0) is 1. */
static void test_column_depths(void) {
  nimc_segment xs[3] = {{500e-6, 6, 5.0, +1, 8.0},
                        {500e-6, 4, 3.0, 0, 7.0},
                        {500e-6, 6, 5.0, -1, 0.0}};
  nimc_segment zs[2] = {{10e-6, 3, 1.0, 0, 1.0}, {200e-6, 5, 2.0, 0, 1.0}};
  double depth = 14e-3, dcol[3] = {8 * depth, 7 * depth, depth};
  nimc_mesh *m;
  CHECK(nimc_mesh_create(&m, xs, 3, zs, 2, depth, region2d, btag2d, NULL,
                         NULL) == NIMC_OK);
  double vol = 0.0, anode = 0.0, cathode = 0.0;
  for (int i = 0; i < m->ncells; i++) {
    vol += m->vol[i];
    if (m->region[i] == NIMC_REGION_ANODE) anode += m->vol[i];
    if (m->region[i] == NIMC_REGION_CATHODE) cathode += m->vol[i];
  }
  CHECK_REL(vol, 500e-6 * (210e-6 * 9 * depth + 200e-6 * 7 * depth), 1e-12);
  CHECK_REL(anode, 500e-6 * 10e-6 * 8 * depth, 1e-12);
  CHECK_REL(cathode, 500e-6 * 10e-6 * depth, 1e-12);
  double x01 = 0.0, x12 = 0.0, cc_a = 0.0, cc_c = 0.0;
  for (int f = 0; f < m->nfaces; f++) {
    int p = m->c0[f], q = m->c1[f];
    int col = m->xc[p] < 500e-6 ? 0 : m->xc[p] < 1000e-6 ? 1 : 2;
    if (q < 0) {
      if (m->btag[f] == NIMC_BOUNDARY_ANODE_CC) cc_a += m->area[f];
      if (m->btag[f] == NIMC_BOUNDARY_CATHODE_CC) cc_c += m->area[f];
      continue;
    }
    int colq = m->xc[q] < 500e-6 ? 0 : m->xc[q] < 1000e-6 ? 1 : 2;
    if (m->axis[f] == 1) {
      CHECK(col == colq);
      CHECK_REL(m->area[f], m->dx[p] * dcol[col], 1e-12);
    } else if (col == colq) {
      CHECK_REL(m->area[f], m->dz[p] * dcol[col], 1e-12);
    } else if (col == 0) {
      x01 += m->area[f];
    } else {
      x12 += m->area[f];
    }
  }
  CHECK_REL(x01, 200e-6 * 7 * depth, 1e-12); /* the gap's depth, not 8 */
  CHECK_REL(x12, 200e-6 * depth, 1e-12);     /* the narrow side's */
  CHECK_REL(cc_a, 500e-6 * 8 * depth, 1e-12);
  CHECK_REL(cc_c, 500e-6 * depth, 1e-12);
  nimc_mesh_destroy(m);
  /* a bad depth is an input error */
  nimc_err err;
  xs[1].depth_scale = -1.0;
  CHECK(nimc_mesh_create(&m, xs, 3, zs, 2, depth, region2d, btag2d, NULL,
                         &err) == NIMC_EINPUT);
  CHECK(m == NULL);
  CHECK_CONTAINS(err.msg, "x segment 1 has depth scale -1");
}

/* An in-plane device of N fingers per electrode, enough for the mesh. */
static void idg_device(nimc_device *d, int N, int cover, nimc_array array) {
  memset(d, 0, sizeof *d);
  strcpy(d->path, "fixture.ini");
  d->geometry = NIMC_GEOMETRY_INTERDIGITATED;
  d->anode.thickness_m = 5e-6;
  d->cathode.thickness_m = 10e-6;
  nimc_interdigitated_params *g = &d->idg;
  g->fingers_per_electrode = N;
  g->finger_length_m = 14e-3;
  g->finger_width_m = 1e-3;
  g->gap_m = 0.5e-3;
  g->gel_thickness_m = 458e-6;
  g->cover_enabled = cover;
  g->cover_thickness_m = 2e-6;
  g->finger_cells_x = 5, g->gap_cells_x = 6;
  g->electrode_cells_z = 3, g->gel_cells_z = 7, g->cover_cells_z = 2;
  g->grading_x = 4.0, g->grading_z = 3.0;
  g->array = array;
}

/* Is x (m) in a gap of the array?  Symmetry cell: between the half
 * fingers; the edge array and the whole cross-section: after each finger,
 * period w + g. */
static int in_gap(const nimc_device *d, double x) {
  const nimc_interdigitated_params *g = &d->idg;
  double w = g->finger_width_m;
  if (g->array == NIMC_ARRAY_SYMMETRY)
    return x > 0.5 * w && x < 0.5 * w + g->gap_m;
  return fmod(x, w + g->gap_m) > w;
}

static const char *const array_names[3] = {"edge", "full", "symmetry"};

/* Every way of meshing the array holds the whole device: N fingers of
 * each electrode (N L w t), the gel and covers over them, the 2N - 1
 * gaps' side walls, collectors and finger tops of N L w each. */
static void test_interdigitated_array(void) {
  const int Ns[4] = {1, 2, 3, 4};
  const nimc_array arrays[3] = {NIMC_ARRAY_EDGE, NIMC_ARRAY_FULL,
                                NIMC_ARRAY_SYMMETRY};
  for (int cover = 0; cover < 2; cover++)
    for (int k = 0; k < 4; k++)
      for (int a = 0; a < 3; a++) {
        nimc_device d;
        int N = Ns[k];
        idg_device(&d, N, cover, arrays[a]);
        const nimc_interdigitated_params *g = &d.idg;
        double L = g->finger_length_m, w = g->finger_width_m, gap = g->gap_m;
        double h = g->gel_thickness_m, ta = d.anode.thickness_m,
               tc = d.cathode.thickness_m, tcov = cover ? 2e-6 : 0.0;
        nimc_mesh *m;
        nimc_err err;
        CHECK(nimc_mesh_interdigitated(&m, &d, &err) == NIMC_OK);
        if (!m) continue;
        double vol[5] = {0}, tot = 0.0;
        int bad_place = 0;
        for (int i = 0; i < m->ncells; i++) {
          vol[m->region[i]] += m->vol[i];
          tot += m->vol[i];
          int r = m->region[i];
          if (arrays[a] != NIMC_ARRAY_SYMMETRY &&
              (r == NIMC_REGION_ANODE || r == NIMC_REGION_CATHODE)) {
            /* fingers alternate: anode first, period 2 (w + g) */
            double x = fmod(m->xc[i] + (r == NIMC_REGION_CATHODE) * (w + gap),
                            2.0 * (w + gap));
            bad_place += !(x < w);
          }
        }
        CHECK(bad_place == 0);
        CHECK_REL(vol[NIMC_REGION_ANODE], N * L * w * ta, 1e-12);
        CHECK_REL(vol[NIMC_REGION_CATHODE], N * L * w * tc, 1e-12);
        CHECK_REL(vol[NIMC_REGION_GEL],
                  L * (N * w * (h - ta - tcov) + N * w * (h - tc - tcov) +
                       (2 * N - 1) * gap * h),
                  1e-12);
        if (cover)
          CHECK_REL(vol[NIMC_REGION_COVER], 2 * N * L * w * tcov, 1e-12);
        CHECK(vol[NIMC_REGION_SEPARATOR] == 0.0);
        /* all of it: the footprint times the gel's height */
        CHECK_REL(tot, L * (2 * N * w + (2 * N - 1) * gap) * h, 1e-12);
        /* faces: collectors, finger tops, the gaps' walls */
        double cc[3] = {0}, tops = 0.0, walls = 0.0, gapfaces = 0.0;
        for (int f = 0; f < m->nfaces; f++) {
          int p = m->c0[f], q = m->c1[f];
          if (q < 0) {
            CHECK(m->axis[f] == 1);
            cc[m->btag[f]] += m->area[f];
            continue;
          }
          int rp = m->region[p], rq = m->region[q];
          int ep = rp == NIMC_REGION_ANODE || rp == NIMC_REGION_CATHODE;
          int eq = rq == NIMC_REGION_ANODE || rq == NIMC_REGION_CATHODE;
          if (m->axis[f] == 1 && ep != eq) tops += m->area[f];
          if (m->axis[f] == 0 && in_gap(&d, m->xc[p]) != in_gap(&d, m->xc[q])) {
            gapfaces += m->area[f];
            if (ep != eq) walls += m->area[f];
          }
        }
        CHECK_REL(cc[NIMC_BOUNDARY_ANODE_CC], N * L * w, 1e-12);
        CHECK_REL(cc[NIMC_BOUNDARY_CATHODE_CC], N * L * w, 1e-12);
        CHECK_REL(tops, 2 * N * L * w, 1e-12);
        /* both sides of each of the 2N - 1 gaps, from substrate to top */
        CHECK_REL(gapfaces, 2 * (2 * N - 1) * L * h, 1e-12);
        CHECK_REL(walls, (2 * N - 1) * L * (ta + tc), 1e-12);
        if (cover && N == 4)
          fprintf(stderr, "  N = %d, %s: %d cells, %d faces\n", N,
                  array_names[arrays[a]], m->ncells, m->nfaces);
        nimc_mesh_destroy(m);
      }
}

/* The edge array: the 2 + 2 fingers of the array's two ends, one finger
 * length deep, with the middle gap and the half fingers beside it 2N - 3
 * deep (N = 4: 5 of the 7 gaps).  x faces within a column take its
 * depth, those at the middles of the second and third fingers (between
 * the lumped cell and the edge fingers' neighbours) one finger length.
 * N = 1 and 2: the whole cross-section, cell for cell. */
static void test_edge_array(void) {
  for (int N = 1; N <= 4; N++) {
    nimc_device d;
    nimc_mesh *me, *mf;
    idg_device(&d, N, 1, NIMC_ARRAY_EDGE);
    CHECK(nimc_mesh_interdigitated(&me, &d, NULL) == NIMC_OK);
    idg_device(&d, N, 1, NIMC_ARRAY_FULL);
    CHECK(nimc_mesh_interdigitated(&mf, &d, NULL) == NIMC_OK);
    if (!me || !mf) goto next;
    const nimc_interdigitated_params *g = &d.idg;
    double L = g->finger_length_m, w = g->finger_width_m, gap = g->gap_m;
    if (N <= 2) {
      CHECK(me->ncells == mf->ncells && me->nfaces == mf->nfaces);
      int same = me->ncells == mf->ncells && me->nfaces == mf->nfaces;
      for (int i = 0; same && i < me->ncells; i++)
        same = fabs(me->vol[i] - mf->vol[i]) <= 1e-12 * mf->vol[i] &&
               fabs(me->xc[i] - mf->xc[i]) <= 1e-12 * mf->xc[i] &&
               me->region[i] == mf->region[i];
      for (int f = 0; same && f < me->nfaces; f++)
        same = me->c0[f] == mf->c0[f] && me->c1[f] == mf->c1[f] &&
               fabs(me->area[f] - mf->area[f]) <= 1e-12 * mf->area[f];
      CHECK(same);
      goto next;
    }
    /* four fingers, 3 gaps: the cell sizes of the whole cross-section's
     * first two and last two fingers */
    CHECK(me->ncells == mf->ncells * (4 * 10 + 3 * 6) /
                            ((2 * N) * 10 + (2 * N - 1) * 6));
    double M = 2.0 * N - 3.0, p = w + gap;
    /* depth of each column: x in [1.5 w + g, 2.5 w + 2 g] is lumped */
    int bad_depth = 0;
    for (int i = 0; i < me->ncells; i++) {
      double x = me->xc[i], depth = me->vol[i] / (me->dx[i] * me->dz[i]);
      double want = x > p + 0.5 * w && x < 2 * p + 0.5 * w ? M * L : L;
      bad_depth += fabs(depth - want) > 1e-12 * want;
    }
    CHECK(bad_depth == 0);
    /* the x faces at the lumped cell's two sides: one finger length
     * deep over the whole height of the gel */
    double sides[2] = {0.0, 0.0};
    for (int f = 0; f < me->nfaces; f++) {
      int c0 = me->c0[f], c1 = me->c1[f];
      if (c1 < 0 || me->axis[f] != 0) continue;
      for (int k = 0; k < 2; k++) {
        double xf = (k ? 2 * p : p) + 0.5 * w;
        if (me->xc[c0] < xf && me->xc[c1] > xf) sides[k] += me->area[f];
      }
    }
    CHECK_REL(sides[0], L * g->gel_thickness_m, 1e-12);
    CHECK_REL(sides[1], L * g->gel_thickness_m, 1e-12);
  next:
    nimc_mesh_destroy(me);
    nimc_mesh_destroy(mf);
  }
}

/* The edge array and the whole cross-section mesh each finger as the
 * symmetry cell meshes its two halves, mirrored, and each gap alike: the
 * same cell sizes; 2N fingers and 2N - 1 gaps of them (full), 4 and 3
 * (edge). */
static void test_array_resolution(void) {
  nimc_device d;
  nimc_mesh *m[3] = {NULL, NULL, NULL};
  const nimc_array arrays[3] = {NIMC_ARRAY_SYMMETRY, NIMC_ARRAY_FULL,
                                NIMC_ARRAY_EDGE};
  for (int k = 0; k < 3; k++) {
    idg_device(&d, 4, 1, arrays[k]);
    CHECK(nimc_mesh_interdigitated(&m[k], &d, NULL) == NIMC_OK);
  }
  if (!m[0] || !m[1] || !m[2]) goto done;
  /* per region: smallest and largest dx, and the cell count */
  const int regs[3] = {NIMC_REGION_ANODE, NIMC_REGION_GEL, NIMC_REGION_CATHODE};
  const int halves[3] = {1, 8, 4}; /* finger halves of each electrode */
  for (int r = 0; r < 3; r++) {
    double lo[3] = {1, 1, 1}, hi[3] = {0, 0, 0};
    int n[3] = {0, 0, 0};
    for (int k = 0; k < 3; k++) {
      for (int i = 0; i < m[k]->ncells; i++) {
        if (m[k]->region[i] != regs[r]) continue;
        lo[k] = fmin(lo[k], m[k]->dx[i]), hi[k] = fmax(hi[k], m[k]->dx[i]);
        n[k]++;
      }
    }
    for (int k = 1; k < 3; k++) {
      CHECK_REL(lo[k], lo[0], 1e-12);
      CHECK_REL(hi[k], hi[0], 1e-12);
      if (r != 1) CHECK(n[k] == halves[k] * n[0]);
    }
  }
  /* x: 5 + 6 + 5 (symmetry); 8 fingers of 2 x 5 cells and 7 gaps of 6
   * (full); 4 fingers and 3 gaps (edge) */
  int nzs = m[0]->ncells / 16;
  CHECK(m[0]->ncells == 16 * nzs);
  CHECK(m[1]->ncells == (8 * 10 + 7 * 6) * nzs);
  CHECK(m[2]->ncells == (4 * 10 + 3 * 6) * nzs);
done:
  for (int k = 0; k < 3; k++) nimc_mesh_destroy(m[k]);
}

/* The shipped in-plane devices, meshed the default way (edge) and whole:
 * the electrodes, the gel and the cover hold the volumes the device's
 * numbers give, and all of it is the footprint that normalises the
 * metrics times the gel's height. */
static void test_shipped_devices(void) {
  const char *const paths[2] = {"devices/nimc.ini", "devices/nimc-covered.ini"};
  const char *const sets[2] = {"mesh.array=edge", "mesh.array=full"};
  for (int p = 0; p < 2; p++)
    for (int a = 0; a < 2; a++) {
      nimc_device *d = NULL;
      nimc_mesh *m = NULL;
      nimc_err err;
      CHECK(nimc_device_load(&d, paths[p], &sets[a], 1, &err) == NIMC_OK);
      if (!d) continue;
      CHECK(d->idg.array == (a ? NIMC_ARRAY_FULL : NIMC_ARRAY_EDGE));
      CHECK(nimc_mesh_interdigitated(&m, d, &err) == NIMC_OK);
      if (m) {
        const nimc_interdigitated_params *g = &d->idg;
        int N = g->fingers_per_electrode;
        double L = g->finger_length_m, w = g->finger_width_m,
               h = g->gel_thickness_m, ta = d->anode.thickness_m,
               tc = d->cathode.thickness_m;
        double tcov = g->cover_enabled ? g->cover_thickness_m : 0.0;
        double vol[5] = {0}, tot = 0.0;
        for (int i = 0; i < m->ncells; i++)
          vol[m->region[i]] += m->vol[i], tot += m->vol[i];
        double foot = nimc_device_footprint_area_m2(d);
        CHECK_REL(foot, L * (2 * N * w + (2 * N - 1) * g->gap_m), 1e-12);
        CHECK_REL(vol[NIMC_REGION_ANODE], N * L * w * ta, 1e-12);
        CHECK_REL(vol[NIMC_REGION_CATHODE], N * L * w * tc, 1e-12);
        CHECK_REL(vol[NIMC_REGION_COVER] + vol[NIMC_REGION_GEL],
                  foot * h - N * L * w * (ta + tc), 1e-12);
        CHECK_REL(vol[NIMC_REGION_COVER], 2 * N * L * w * tcov, 1e-12);
        CHECK_REL(tot, foot * h, 1e-12);
        fprintf(stderr,
                "  %s, %s: anode %.4g mm3, cathode %.4g mm3, gel %.4g mm3, "
                "%d cells\n",
                paths[p], array_names[d->idg.array], vol[NIMC_REGION_ANODE] * 1e9,
                vol[NIMC_REGION_CATHODE] * 1e9, vol[NIMC_REGION_GEL] * 1e9,
                m->ncells);
      }
      nimc_mesh_destroy(m);
      nimc_device_destroy(d);
    }
}

static void test_empty_segment_rejected(void) {
  nimc_segment xs[1] = {{0.0, 3, 1.0, 0, 1.0}};
  nimc_segment zs[1] = {{1.0, 1, 1.0, 0, 1.0}};
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
  RUN(test_mesh_too_large);
  RUN(test_2d_mesh);
  RUN(test_column_depths);
  RUN(test_interdigitated_array);
  RUN(test_edge_array);
  RUN(test_array_resolution);
  RUN(test_shipped_devices);
  RUN(test_empty_segment_rejected);
  return TEST_REPORT();
}
