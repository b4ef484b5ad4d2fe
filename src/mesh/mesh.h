/*
 * mesh.h -- finite-volume meshes for every nimc geometry.
 *
 * A mesh is a tensor-product grid in the x-z plane (x across the device,
 * z up from the substrate) with a depth in y, built from segments along
 * each axis.  Each (x segment, z segment) block carries a region tag or no
 * cells at all.  The 1D stack is the special case of one z segment whose
 * height times depth is the electrode area; the 2D interdigitated cell uses
 * several segments on both axes.  Faces join neighbouring cells, or a cell
 * to a tagged boundary (collectors); untagged boundaries are no-flux and
 * have no face.  Distances from each cell centre to the face are kept per
 * side so that fluxes between regions with different effective properties
 * use the series (harmonic) combination.  The mesh knows nothing of the
 * physics above it.
 */
#ifndef NIMC_MESH_H
#define NIMC_MESH_H

#include "core/params.h"

typedef enum nimc_region {
  NIMC_REGION_NONE = -1,
  NIMC_REGION_ANODE = 0,
  NIMC_REGION_SEPARATOR = 1,
  NIMC_REGION_CATHODE = 2,
  NIMC_REGION_GEL = 3,
  NIMC_REGION_COVER = 4
} nimc_region;

typedef enum nimc_boundary {
  NIMC_BOUNDARY_NONE = 0,
  NIMC_BOUNDARY_ANODE_CC = 1,   /* anode current collector (ground) */
  NIMC_BOUNDARY_CATHODE_CC = 2  /* cathode current collector (terminal) */
} nimc_boundary;

typedef enum nimc_side { NIMC_XMIN, NIMC_XMAX, NIMC_ZMIN, NIMC_ZMAX } nimc_side;

/* One axis segment: a length split into n cells, graded so that
 * largest/smallest = grading (>= 1): symmetrically towards both ends
 * (side 0), or towards its end (side +1) or its start (side -1) only. */
typedef struct nimc_segment {
  double length_m;
  int n;
  double grading;
  int side;
} nimc_segment;

typedef struct nimc_mesh {
  int ncells;
  double *vol;      /* m3 */
  double *xc, *zc;  /* centroid, m */
  double *dx, *dz;  /* cell size, m */
  int *region;      /* nimc_region */
  int nfaces;
  int *c0, *c1;     /* cells on each side; c1 = -1 on a boundary face */
  double *area;     /* m2 */
  double *d0, *d1;  /* centre-to-face distance on each side, m (d1 = 0 on boundaries) */
  int *axis;        /* 0 = x-normal, 1 = z-normal */
  int *btag;        /* nimc_boundary for boundary faces, 0 inside */
} nimc_mesh;

/* Region of block (ix, iz); NIMC_REGION_NONE leaves it empty. */
typedef int (*nimc_region_fn)(void *user, int ix_seg, int iz_seg);
/* Boundary tag of a domain boundary face of a cell in region reg on side;
 * 0 = no face (no flux). */
typedef int (*nimc_btag_fn)(void *user, nimc_side side, int reg);

/* Build the tensor-product mesh.  The mesh is owned by the caller. */
int nimc_mesh_create(nimc_mesh **out, const nimc_segment *xs, int nx,
                     const nimc_segment *zs, int nz, double depth_m,
                     nimc_region_fn region, nimc_btag_fn btag, void *user,
                     nimc_err *err);
void nimc_mesh_destroy(nimc_mesh *m);

/* The cell sizes of one graded segment (n values summing to length). */
void nimc_segment_sizes(const nimc_segment *s, double *sizes);

/* The 1D stack of a device: anode | separator | cathode along x, anode
 * collector at x = 0, cathode collector at x = L. */
int nimc_mesh_stack(nimc_mesh **out, const nimc_device *dev, nimc_err *err);

/* The 2D symmetry cell of the interdigitated array: x from the middle of
 * an anode finger across the gap to the middle of a cathode finger, z up
 * from the substrate to the top of the gel; fingers (and their covers)
 * stand on the substrate, the gel fills the rest; collectors under the
 * fingers.  Its depth is the finger length times the 2N - 1 gaps, so the
 * mesh is the whole device. */
int nimc_mesh_interdigitated(nimc_mesh **out, const nimc_device *dev,
                             nimc_err *err);

#endif
