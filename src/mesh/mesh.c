/*
 * mesh.c -- tensor-product finite-volume meshes (see mesh.h).
 *
 * Cells are numbered x-fastest within the full grid, skipping empty
 * blocks.  Face geometry is exact for orthogonal grids, so the two-point
 * flux approximation used by the model is consistent.  The depth may
 * change from one x segment's column to the next; an x face between two
 * columns then takes the smaller depth, the part of the wider column that
 * faces the narrower one (the rest of its side is no-flux).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mesh/mesh.h"

void nimc_segment_sizes(const nimc_segment *s, double *sizes) {
  int n = s->n;
  /* cells from the fine end(s) to the coarsest cell */
  int span = s->side ? n : (n + 1) / 2;
  double q = 1.0;
  if (s->grading > 1.0 && span > 1) q = pow(s->grading, 1.0 / (span - 1));
  double sum = 0.0;
  for (int k = 0; k < n; k++) {
    int e = s->side > 0   ? n - 1 - k
            : s->side < 0 ? k
                          : (k < n - 1 - k ? k : n - 1 - k);
    sizes[k] = pow(q, e);
    sum += sizes[k];
  }
  for (int k = 0; k < n; k++)
    sizes[k] *= s->length_m / sum;
}

void nimc_mesh_destroy(nimc_mesh *m) {
  if (!m) return;
  free(m->vol);
  free(m->xc);
  free(m->zc);
  free(m->dx);
  free(m->dz);
  free(m->region);
  free(m->c0);
  free(m->c1);
  free(m->area);
  free(m->d0);
  free(m->d1);
  free(m->axis);
  free(m->btag);
  free(m);
}

/* The depth factor of x segment s (0 means 1). */
static double depth_scale(const nimc_segment *s) {
  return s->depth_scale == 0.0 ? 1.0 : s->depth_scale;
}

/* Expand segments into per-cell sizes, centres and segment indices. */
static int axis_cells(const nimc_segment *segs, int ns, double **size,
                      double **centre, int **seg, int *n) {
  int total = 0;
  for (int s = 0; s < ns; s++)
    total += segs[s].n;
  *size = malloc(sizeof(double) * total);
  *centre = malloc(sizeof(double) * total);
  *seg = malloc(sizeof(int) * total);
  if (!*size || !*centre || !*seg) return NIMC_ENOMEM;
  int k = 0;
  double x = 0.0;
  for (int s = 0; s < ns; s++) {
    nimc_segment_sizes(&segs[s], *size + k);
    for (int j = 0; j < segs[s].n; j++, k++) {
      (*centre)[k] = x + 0.5 * (*size)[k];
      (*seg)[k] = s;
      x += (*size)[k];
    }
  }
  *n = total;
  return NIMC_OK;
}

int nimc_mesh_create(nimc_mesh **out, const nimc_segment *xs, int nx,
                     const nimc_segment *zs, int nz, double depth_m,
                     nimc_region_fn region, nimc_btag_fn btag, void *user,
                     nimc_err *err) {
  *out = NULL;
  double *sx = NULL, *cx = NULL, *sz = NULL, *cz = NULL;
  int *gx = NULL, *gz = NULL, *id = NULL;
  int Nx = 0, Nz = 0, rc = NIMC_ENOMEM;
  nimc_mesh *m = calloc(1, sizeof *m);
  if (!m) goto fail;
  for (int s = 0; s < nx; s++) {
    if (xs[s].n < 1 || !(xs[s].length_m > 0)) {
      rc = nimc_err_set(err, NIMC_EINPUT, "mesh: x segment %d is empty", s);
      goto fail;
    }
    if (!(depth_scale(&xs[s]) > 0) || !isfinite(xs[s].depth_scale)) {
      rc = nimc_err_set(err, NIMC_EINPUT,
                        "mesh: x segment %d has depth scale %g (must be > 0)",
                        s, xs[s].depth_scale);
      goto fail;
    }
  }
  if (!(depth_m > 0) || !isfinite(depth_m)) {
    rc = nimc_err_set(err, NIMC_EINPUT, "mesh: depth %g m (must be > 0)",
                      depth_m);
    goto fail;
  }
  for (int s = 0; s < nz; s++)
    if (zs[s].n < 1 || !(zs[s].length_m > 0)) {
      rc = nimc_err_set(err, NIMC_EINPUT, "mesh: z segment %d is empty", s);
      goto fail;
    }
  /* the size in 64 bits, before any int arithmetic on it can overflow */
  int64_t tx = 0, tz = 0;
  for (int s = 0; s < nx; s++)
    tx += xs[s].n;
  for (int s = 0; s < nz; s++)
    tz += zs[s].n;
  if (tx > NIMC_MESH_MAX_CELLS || tz > NIMC_MESH_MAX_CELLS ||
      tx * tz > NIMC_MESH_MAX_CELLS) {
    rc = nimc_err_set(err, NIMC_EINPUT,
                      "mesh: %lld x %lld cells is more than the limit of %d "
                      "cells (fewer cells per layer, finger or gap)",
                      (long long)tx, (long long)tz, NIMC_MESH_MAX_CELLS);
    goto fail;
  }
  if (axis_cells(xs, nx, &sx, &cx, &gx, &Nx) ||
      axis_cells(zs, nz, &sz, &cz, &gz, &Nz))
    goto fail;
  id = malloc(sizeof(int) * Nx * Nz);
  if (!id) goto fail;
  int nc = 0;
  for (int k = 0; k < Nz; k++)
    for (int i = 0; i < Nx; i++) {
      int r = region(user, gx[i], gz[k]);
      id[k * Nx + i] = r == NIMC_REGION_NONE ? -1 : nc++;
    }
  m->ncells = nc;
  m->vol = malloc(sizeof(double) * nc);
  m->xc = malloc(sizeof(double) * nc);
  m->zc = malloc(sizeof(double) * nc);
  m->dx = malloc(sizeof(double) * nc);
  m->dz = malloc(sizeof(double) * nc);
  m->region = malloc(sizeof(int) * nc);
  int maxf = 2 * nc + 2 * (Nx + Nz) + 4;
  m->c0 = malloc(sizeof(int) * maxf);
  m->c1 = malloc(sizeof(int) * maxf);
  m->area = malloc(sizeof(double) * maxf);
  m->d0 = malloc(sizeof(double) * maxf);
  m->d1 = malloc(sizeof(double) * maxf);
  m->axis = malloc(sizeof(int) * maxf);
  m->btag = malloc(sizeof(int) * maxf);
  if (!m->vol || !m->xc || !m->zc || !m->dx || !m->dz || !m->region || !m->c0 ||
      !m->c1 || !m->area || !m->d0 || !m->d1 || !m->axis || !m->btag)
    goto fail;
  int nf = 0;
  for (int k = 0; k < Nz; k++)
    for (int i = 0; i < Nx; i++) {
      int c = id[k * Nx + i];
      if (c < 0) continue;
      int reg = region(user, gx[i], gz[k]);
      double dep = depth_m * depth_scale(&xs[gx[i]]);
      m->vol[c] = sx[i] * sz[k] * dep;
      m->xc[c] = cx[i];
      m->zc[c] = cz[k];
      m->dx[c] = sx[i];
      m->dz[c] = sz[k];
      m->region[c] = reg;
      /* x faces: to the right neighbour, or the domain boundary */
      int right = i + 1 < Nx ? id[k * Nx + i + 1] : -2;
      if (right >= 0) {
        double dr = depth_m * depth_scale(&xs[gx[i + 1]]);
        m->c0[nf] = c, m->c1[nf] = right, m->area[nf] = sz[k] * fmin(dep, dr);
        m->d0[nf] = 0.5 * sx[i], m->d1[nf] = 0.5 * sx[i + 1];
        m->axis[nf] = 0, m->btag[nf] = 0, nf++;
      }
      int up = k + 1 < Nz ? id[(k + 1) * Nx + i] : -2;
      if (up >= 0) {
        m->c0[nf] = c, m->c1[nf] = up, m->area[nf] = sx[i] * dep;
        m->d0[nf] = 0.5 * sz[k], m->d1[nf] = 0.5 * sz[k + 1];
        m->axis[nf] = 1, m->btag[nf] = 0, nf++;
      }
      /* tagged domain boundaries (an empty neighbour block is no-flux) */
      const struct {
        nimc_side side;
        int onedge;
      } sides[4] = {{NIMC_XMIN, i == 0},
                    {NIMC_XMAX, i == Nx - 1},
                    {NIMC_ZMIN, k == 0},
                    {NIMC_ZMAX, k == Nz - 1}};
      for (int s = 0; s < 4; s++) {
        if (!sides[s].onedge || !btag) continue;
        int tag = btag(user, sides[s].side, reg);
        if (!tag) continue;
        int xn = sides[s].side == NIMC_XMIN || sides[s].side == NIMC_XMAX;
        m->c0[nf] = c, m->c1[nf] = -1;
        m->area[nf] = (xn ? sz[k] : sx[i]) * dep;
        m->d0[nf] = 0.5 * (xn ? sx[i] : sz[k]), m->d1[nf] = 0.0;
        m->axis[nf] = xn ? 0 : 1, m->btag[nf] = tag, nf++;
      }
    }
  m->nfaces = nf;
  free(sx), free(cx), free(gx), free(sz), free(cz), free(gz), free(id);
  *out = m;
  return NIMC_OK;
fail:
  if (rc == NIMC_ENOMEM) nimc_err_set(err, rc, "mesh: out of memory");
  free(sx), free(cx), free(gx), free(sz), free(cz), free(gz), free(id);
  nimc_mesh_destroy(m);
  return rc;
}

static int stack_region(void *user, int ix, int iz) {
  (void)user, (void)iz;
  static const int map[3] = {NIMC_REGION_ANODE, NIMC_REGION_SEPARATOR,
                             NIMC_REGION_CATHODE};
  return map[ix];
}

static int stack_btag(void *user, nimc_side side, int reg) {
  (void)user;
  if (side == NIMC_XMIN && reg == NIMC_REGION_ANODE)
    return NIMC_BOUNDARY_ANODE_CC;
  if (side == NIMC_XMAX && reg == NIMC_REGION_CATHODE)
    return NIMC_BOUNDARY_CATHODE_CC;
  return 0;
}

int nimc_mesh_stack(nimc_mesh **out, const nimc_device *dev, nimc_err *err) {
  nimc_segment xs[3] = {{dev->anode.thickness_m, dev->mesh.anode_cells,
                         dev->mesh.grading, 0, 1.0},
                        {dev->separator.thickness_m, dev->mesh.separator_cells,
                         dev->mesh.grading, 0, 1.0},
                        {dev->cathode.thickness_m, dev->mesh.cathode_cells,
                         dev->mesh.grading, 0, 1.0}};
  /* one z cell: a square of the electrode area seen edge-on, so that
   * height times depth is the area and both stay lengths */
  double side = sqrt(dev->area_m2);
  nimc_segment zs[1] = {{side, 1, 1.0, 0, 1.0}};
  return nimc_mesh_create(out, xs, 3, zs, 1, side, stack_region, stack_btag,
                          NULL, err);
}

/* ---- the interdigitated cross-section ---- */

/* What an x segment of the cross-section is. */
enum { COL_ANODE, COL_GAP, COL_CATHODE };

typedef struct idg_layout {
  const nimc_device *dev;
  const int *col; /* COL_* of each x segment */
  double z[8];    /* z segment boundaries */
  int nz;
} idg_layout;

/* Region of a block: x segment ix is an anode finger (or half of one), a
 * gap or a cathode finger; z segment iz spans z[iz]..z[iz+1]. */
static int idg_region(void *user, int ix, int iz) {
  const idg_layout *L = user;
  const nimc_device *d = L->dev;
  double z0 = L->z[iz], z1 = L->z[iz + 1], tol = 1e-12;
  int col = L->col[ix];
  if (col == COL_GAP) return NIMC_REGION_GEL;
  int anode = col == COL_ANODE;
  double t = anode ? d->anode.thickness_m : d->cathode.thickness_m;
  if (z1 <= t + tol) return anode ? NIMC_REGION_ANODE : NIMC_REGION_CATHODE;
  if (d->idg.cover_enabled && z0 >= t - tol &&
      z1 <= t + d->idg.cover_thickness_m + tol)
    return NIMC_REGION_COVER;
  return NIMC_REGION_GEL;
}

static int idg_btag(void *user, nimc_side side, int reg) {
  (void)user;
  if (side != NIMC_ZMIN) return 0;
  if (reg == NIMC_REGION_ANODE) return NIMC_BOUNDARY_ANODE_CC;
  if (reg == NIMC_REGION_CATHODE) return NIMC_BOUNDARY_CATHODE_CC;
  return 0;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* The z segments: the fingers' and covers' tops split z, each piece
 * meshed as finely as the finest need of the two fingers at its height,
 * the gel above everything graded towards the fingers.  Writes L->z,
 * L->nz and zs (room for 7); returns the number of z segments. */
static int idg_z_segments(const nimc_device *dev, idg_layout *L,
                          nimc_segment *zs) {
  const nimc_interdigitated_params *g = &dev->idg;
  double ta = dev->anode.thickness_m, tc = dev->cathode.thickness_m;
  double tcov = g->cover_enabled ? g->cover_thickness_m : 0.0;
  double zb[6] = {0.0, ta, tc, ta + tcov, tc + tcov, g->gel_thickness_m};
  qsort(zb, 6, sizeof(double), cmp_double);
  L->nz = 0;
  for (int k = 0; k < 6; k++)
    if (L->nz == 0 || zb[k] > L->z[L->nz - 1] * (1 + 1e-9) + 1e-15)
      L->z[L->nz++] = zb[k];
  int nzs = L->nz - 1;
  for (int k = 0; k < nzs; k++) {
    double z0 = L->z[k], z1 = L->z[k + 1], tol = 1e-15;
    nimc_segment *s = &zs[k];
    s->length_m = z1 - z0;
    s->grading = 1.0;
    s->side = 0;
    s->depth_scale = 1.0;
    if (k == nzs - 1) { /* the gel above everything: fine at the bottom */
      s->n = g->gel_cells_z, s->grading = g->grading_z, s->side = -1;
      continue;
    }
    s->n = 1;
    for (int e = 0; e < 2; e++) {
      double t = e ? tc : ta;
      if (z1 <= t + tol) {
        s->n = s->n > g->electrode_cells_z ? s->n : g->electrode_cells_z;
        s->grading = g->grading_z;
      } else if (z0 >= t - tol && z1 <= t + tcov + tol) {
        s->n = s->n > g->cover_cells_z ? s->n : g->cover_cells_z;
      }
    }
  }
  return nzs;
}

/* The x segments of a cross-section, appended left to right: half
 * fingers and gaps, each with its column's depth in finger lengths. */
typedef struct idg_columns {
  nimc_segment *xs;
  int *col; /* COL_* */
  int n;
} idg_columns;

/* Half a finger of electrode col (COL_ANODE or COL_CATHODE), its cells
 * graded fine towards the finger's edge: its end (fine = +1, the right
 * half) or its start (-1, the left half). */
static void idg_half(idg_columns *c, const nimc_interdigitated_params *g,
                     int col, int fine, double depth) {
  c->col[c->n] = col;
  c->xs[c->n++] = (nimc_segment){0.5 * g->finger_width_m, g->finger_cells_x,
                                 g->grading_x, fine, depth};
}

/* A whole finger: its left half depth_l deep, its right half depth_r. */
static void idg_finger(idg_columns *c, const nimc_interdigitated_params *g,
                       int col, double depth_l, double depth_r) {
  idg_half(c, g, col, -1, depth_l);
  idg_half(c, g, col, +1, depth_r);
}

/* A gap, graded fine towards both finger walls. */
static void idg_gap(idg_columns *c, const nimc_interdigitated_params *g,
                    double depth) {
  c->col[c->n] = COL_GAP;
  c->xs[c->n++] =
      (nimc_segment){g->gap_m, g->gap_cells_x, g->grading_x, 0, depth};
}

int nimc_mesh_interdigitated(nimc_mesh **out, const nimc_device *dev,
                             nimc_err *err) {
  const nimc_interdigitated_params *g = &dev->idg;
  *out = NULL;
  double ta = dev->anode.thickness_m, tc = dev->cathode.thickness_m;
  double tcov = g->cover_enabled ? g->cover_thickness_m : 0.0;
  double top = fmax(ta, tc) + tcov;
  if (!(g->gel_thickness_m > top))
    return nimc_err_set(
        err, NIMC_EINPUT,
        "%s: gel_thickness %g m must exceed the fingers' top %g m", dev->path,
        g->gel_thickness_m, top);
  int N = g->fingers_per_electrode;
  if (N < 1)
    return nimc_err_set(err, NIMC_EINPUT,
                        "%s: fingers_per_electrode %d must be >= 1", dev->path,
                        N);
  idg_layout L = {dev, NULL, {0}, 0};
  nimc_segment zs[7];
  int nzs = idg_z_segments(dev, &L, zs);

  /* x: half fingers and gaps, at most 2 halves of each of the 2N fingers
   * and 2N - 1 gaps */
  idg_columns c = {NULL, NULL, 0};
  c.xs = malloc(sizeof *c.xs * (size_t)(6 * N - 1));
  c.col = malloc(sizeof *c.col * (size_t)(6 * N - 1));
  if (!c.xs || !c.col) {
    free(c.xs), free(c.col);
    return nimc_err_set(err, NIMC_ENOMEM, "mesh: out of memory");
  }
  if (g->array == NIMC_ARRAY_SYMMETRY) {
    /* the symmetry cell: each electrode has 2N finger halves, the array
     * 2N - 1 gaps; the finger columns are 2N finger lengths deep, the
     * gap's 2N - 1 */
    idg_half(&c, g, COL_ANODE, +1, 2.0 * N);
    idg_gap(&c, g, 2.0 * N - 1.0);
    idg_half(&c, g, COL_CATHODE, -1, 2.0 * N);
  } else if (g->array == NIMC_ARRAY_EDGE && N > 1) {
    /* the array of 2 + 2 fingers, anode first, whose middle gap and the
     * half fingers beside it stand for the 2N - 3 inner gaps and their
     * finger halves: the edge fingers and the two gaps next to them are
     * exact, the inner gaps lumped (N = 2: the whole array) */
    double M = 2.0 * N - 3.0;
    idg_finger(&c, g, COL_ANODE, 1.0, 1.0);
    idg_gap(&c, g, 1.0);
    idg_finger(&c, g, COL_CATHODE, 1.0, M);
    idg_gap(&c, g, M);
    idg_finger(&c, g, COL_ANODE, M, 1.0);
    idg_gap(&c, g, 1.0);
    idg_finger(&c, g, COL_CATHODE, 1.0, 1.0);
  } else {
    /* the whole cross-section: finger, gap, finger, ..., anode first
     * (also the edge array of N = 1) */
    for (int f = 0; f < 2 * N; f++) {
      if (f) idg_gap(&c, g, 1.0);
      idg_finger(&c, g, f % 2 == 0 ? COL_ANODE : COL_CATHODE, 1.0, 1.0);
    }
  }
  L.col = c.col;
  int rc = nimc_mesh_create(out, c.xs, c.n, zs, nzs, g->finger_length_m,
                            idg_region, idg_btag, &L, err);
  free(c.xs), free(c.col);
  return rc;
}
