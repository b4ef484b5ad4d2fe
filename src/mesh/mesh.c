/*
 * mesh.c -- tensor-product finite-volume meshes (see mesh.h).
 *
 * Cells are numbered x-fastest within the full grid, skipping empty
 * blocks.  Face geometry is exact for orthogonal grids, so the two-point
 * flux approximation used by the model is consistent.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mesh/mesh.h"

void nimc_segment_sizes(const nimc_segment *s, double *sizes) {
  int n = s->n;
  int half = (n + 1) / 2; /* cells from an end to the middle */
  double q = 1.0;
  if (s->grading > 1.0 && half > 1) q = pow(s->grading, 1.0 / (half - 1));
  double sum = 0.0;
  for (int k = 0; k < n; k++) {
    int e = k < n - 1 - k ? k : n - 1 - k;
    sizes[k] = pow(q, e);
    sum += sizes[k];
  }
  for (int k = 0; k < n; k++) sizes[k] *= s->length_m / sum;
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

/* Expand segments into per-cell sizes, centres and segment indices. */
static int axis_cells(const nimc_segment *segs, int ns, double **size,
                      double **centre, int **seg, int *n) {
  int total = 0;
  for (int s = 0; s < ns; s++) total += segs[s].n;
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
  for (int s = 0; s < nx; s++)
    if (xs[s].n < 1 || !(xs[s].length_m > 0)) {
      rc = nimc_err_set(err, NIMC_EINPUT, "mesh: x segment %d is empty", s);
      goto fail;
    }
  for (int s = 0; s < nz; s++)
    if (zs[s].n < 1 || !(zs[s].length_m > 0)) {
      rc = nimc_err_set(err, NIMC_EINPUT, "mesh: z segment %d is empty", s);
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
  if (!m->vol || !m->xc || !m->zc || !m->dx || !m->dz || !m->region ||
      !m->c0 || !m->c1 || !m->area || !m->d0 || !m->d1 || !m->axis ||
      !m->btag)
    goto fail;
  int nf = 0;
  for (int k = 0; k < Nz; k++)
    for (int i = 0; i < Nx; i++) {
      int c = id[k * Nx + i];
      if (c < 0) continue;
      int reg = region(user, gx[i], gz[k]);
      m->vol[c] = sx[i] * sz[k] * depth_m;
      m->xc[c] = cx[i];
      m->zc[c] = cz[k];
      m->dx[c] = sx[i];
      m->dz[c] = sz[k];
      m->region[c] = reg;
      /* x faces: to the right neighbour, or the domain boundary */
      int right = i + 1 < Nx ? id[k * Nx + i + 1] : -2;
      if (right >= 0) {
        m->c0[nf] = c, m->c1[nf] = right, m->area[nf] = sz[k] * depth_m;
        m->d0[nf] = 0.5 * sx[i], m->d1[nf] = 0.5 * sx[i + 1];
        m->axis[nf] = 0, m->btag[nf] = 0, nf++;
      }
      int up = k + 1 < Nz ? id[(k + 1) * Nx + i] : -2;
      if (up >= 0) {
        m->c0[nf] = c, m->c1[nf] = up, m->area[nf] = sx[i] * depth_m;
        m->d0[nf] = 0.5 * sz[k], m->d1[nf] = 0.5 * sz[k + 1];
        m->axis[nf] = 1, m->btag[nf] = 0, nf++;
      }
      /* tagged domain boundaries (an empty neighbour block is no-flux) */
      const struct {
        nimc_side side;
        int onedge;
      } sides[4] = {{NIMC_XMIN, i == 0}, {NIMC_XMAX, i == Nx - 1},
                    {NIMC_ZMIN, k == 0}, {NIMC_ZMAX, k == Nz - 1}};
      for (int s = 0; s < 4; s++) {
        if (!sides[s].onedge || !btag) continue;
        int tag = btag(user, sides[s].side, reg);
        if (!tag) continue;
        int xn = sides[s].side == NIMC_XMIN || sides[s].side == NIMC_XMAX;
        m->c0[nf] = c, m->c1[nf] = -1;
        m->area[nf] = (xn ? sz[k] : sx[i]) * depth_m;
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
  if (side == NIMC_XMIN && reg == NIMC_REGION_ANODE) return NIMC_BOUNDARY_ANODE_CC;
  if (side == NIMC_XMAX && reg == NIMC_REGION_CATHODE) return NIMC_BOUNDARY_CATHODE_CC;
  return 0;
}

int nimc_mesh_stack(nimc_mesh **out, const nimc_device *dev, nimc_err *err) {
  nimc_segment xs[3] = {
      {dev->anode.thickness_m, dev->mesh.anode_cells, dev->mesh.grading},
      {dev->separator.thickness_m, dev->mesh.separator_cells, dev->mesh.grading},
      {dev->cathode.thickness_m, dev->mesh.cathode_cells, dev->mesh.grading}};
  /* one z cell: height times unit depth is the electrode area */
  nimc_segment zs[1] = {{dev->area_m2, 1, 1.0}};
  return nimc_mesh_create(out, xs, 3, zs, 1, 1.0, stack_region, stack_btag,
                          NULL, err);
}
