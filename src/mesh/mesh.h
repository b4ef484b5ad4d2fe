/*
 * mesh.h -- finite-volume meshes for every nimc geometry.
 *
 * A mesh is a tensor-product grid in the x-z plane (x across the device,
 * z up from the substrate) with a depth in y, built from segments along
 * each axis.  Each (x segment, z segment) block carries a region tag or no
 * cells at all.  The depth may differ between the columns of x segments
 * (the interdigitated symmetry cell stands for more finger halves than
 * gaps).  The 1D stack is the special case of one z segment whose height
 * times depth is the electrode area; the 2D interdigitated cell uses
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
 * (side 0), or towards its end (side +1) or its start (side -1) only.
 * On an x segment, depth_scale multiplies the mesh's depth in the column
 * of the segment (all its z blocks); 0 (an initialiser that leaves it
 * out) means 1.  Ignored on z segments. */
typedef struct nimc_segment {
  double length_m;
  int n;
  double grading;
  int side;
  double depth_scale;
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

/* The most cells a mesh may have (the product of its x and z counts,
 * checked in 64 bits before anything is allocated): about 2 GB of
 * Jacobian for the 2D model, far beyond any converged mesh. */
#define NIMC_MESH_MAX_CELLS 2000000

/* Build the tensor-product mesh, of depth depth_m times each x segment's
 * depth_scale.  A cell's volume and its z faces take its column's depth;
 * an x face between two columns the smaller of their depths (the face
 * cannot be wider than either side); a boundary face its cell's.  More
 * than NIMC_MESH_MAX_CELLS cells is NIMC_EINPUT.  The mesh is owned by the
 * caller. */
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

/* The 2D cross-section of the interdigitated array, z up from the
 * substrate to the top of the gel; fingers (and their covers) stand on the
 * substrate, the gel fills the rest; collectors under the fingers.  x runs
 * across fingers (anode first, then alternating) and gaps; each finger is
 * two halves of finger_cells_x cells graded fine towards its edges, each
 * gap gap_cells_x cells graded fine towards both walls.  dev->idg.array
 * chooses which fingers and how deep:
 *  - NIMC_ARRAY_EDGE (the default): the array of 2 + 2 fingers, one
 *    finger length deep, except its middle gap with the half fingers on
 *    either side of it, which stands for the 2N - 3 inner gaps of the
 *    array and is 2N - 3 finger lengths deep.  The edge fingers, both of
 *    their neighbours' halves that face them and the two outer gaps are
 *    the array's; the inner gaps are lumped into one symmetry cell.  The
 *    x faces between the lumped cell and its neighbours (the middles of
 *    the second and second-to-last fingers) take the smaller depth, one
 *    finger length.  N <= 2: the whole array.
 *  - NIMC_ARRAY_FULL: the whole cross-section, 2N fingers with the 2N - 1
 *    gaps between them, one finger length deep.
 *  - NIMC_ARRAY_SYMMETRY: the symmetry cell, from the middle of an anode
 *    finger across the gap to the middle of a cathode finger.  The gap's
 *    column is the finger length times the 2N - 1 gaps deep, the finger
 *    columns (with the cover and gel above them) the finger length times
 *    2N, the number of finger halves of each electrode: the edge fingers'
 *    outer halves are lumped with the inner ones.
 * The gel ends at the outer edges of the edge fingers (no flux there).
 * Every way the mesh is the whole device: N L w t of each electrode, the
 * gel and covers over them, 2N - 1 gaps. */
int nimc_mesh_interdigitated(nimc_mesh **out, const nimc_device *dev,
                             nimc_err *err);

#endif
