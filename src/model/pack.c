/*
 * pack.c -- cells in series and parallel as one DAE (see pack.h for the
 * layout and the circuit's equations).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/pack_spec.h"
#include "mesh/mesh.h"
#include "model/pack.h"
#include "model/pattern.h"

/* The pack's limit on unknowns, as one cell's (model.c). */
#define PACK_MAX_UNKNOWNS 20000000

struct nimc_pack {
  int ns, np, K;
  nimc_device **dev; /* each cell's device (shallow copies, free()) */
  nimc_model **cell;
  int64_t *base;        /* first pack unknown of each cell */
  int *cell0;           /* first mesh cell of each cell, in the pack's
                           numbering of mesh cells; cell0[K] = their count */
  int64_t *posA, *posB; /* pack CSR position of a cell's rows before its
                           control row, and of those after it */
  double *s1, *s2;      /* scratch of the largest cell's nnz */
  double *factors;      /* K x nspread spread factors */
};

/* ---- Jacobian entries of the circuit ---- */

typedef struct cj_asm {
  int pattern;
  nimc_pattern pat;
  const nimc_model *m;
  double *val, *valp, cj;
} cj_asm;

static void cput(cj_asm *J, int64_t row, int64_t col, double dfdy,
                 double dfdyp) {
  if (!J) return;
  if (J->pattern) {
    nimc_pattern_add(&J->pat, row, col);
    return;
  }
  int64_t lo = nimc_csr_find(J->m->rowptr, J->m->colind, row, col);
  if (J->valp) {
    J->val[lo] += dfdy;
    J->valp[lo] += dfdyp;
  } else {
    J->val[lo] += dfdy + J->cj * dfdyp;
  }
}

int nimc_pack_control_ok(nimc_control_kind kind) {
  switch (kind) {
  case NIMC_CONTROL_CURRENT:
  case NIMC_CONTROL_VOLTAGE:
  case NIMC_CONTROL_SWEEP:
  case NIMC_CONTROL_SINE_VOLTAGE:
  case NIMC_CONTROL_SINE_CURRENT:
  case NIMC_CONTROL_POWER:
  case NIMC_CONTROL_RESISTANCE:
  case NIMC_CONTROL_DIODE:
    return 1;
  }
  return 0; /* a kind the pack's circuit does not know */
}

/* The circuit's rows (each cell's control row, the pack's four rows). */
static void circuit(const nimc_model *m, double t, const double *y,
                    const double *yp, double *F, cj_asm *J) {
  const struct nimc_pack *pk = m->pack;
  double V = y[m->iV], I = y[m->iI];
  for (int s = 0; s < pk->np; s++) {
    for (int j = 0; j < pk->ns; j++) {
      int k = s * pk->ns + j;
      const nimc_model *c = pk->cell[k];
      int64_t b = pk->base[k], r = b + c->iI;
      if (j > 0) { /* the string's current through this cell */
        const nimc_model *cp = pk->cell[k - 1];
        int64_t ip = pk->base[k - 1] + cp->iI;
        F[r] = y[b + c->iI] - y[ip];
        cput(J, r, b + c->iI, 1.0, 0), cput(J, r, ip, -1.0, 0);
      } else { /* the string's voltage is the pack's */
        double sum = 0.0;
        for (int jj = 0; jj < pk->ns; jj++) {
          int kk = s * pk->ns + jj;
          int64_t iv = pk->base[kk] + pk->cell[kk]->iV;
          sum += y[iv];
          cput(J, r, iv, 1.0, 0);
        }
        F[r] = sum - V;
        cput(J, r, m->iV, -1.0, 0);
      }
    }
  }
  /* the strings' currents add up to the pack's */
  F[m->iV] = I;
  cput(J, m->iV, m->iI, 1.0, 0);
  for (int s = 0; s < pk->np; s++) {
    int k = s * pk->ns;
    int64_t ii = pk->base[k] + pk->cell[k]->iI;
    F[m->iV] -= y[ii];
    cput(J, m->iV, ii, -1.0, 0);
  }
  /* the control row, as on a cell */
  double dI, dV;
  F[m->iI] = nimc_model_control_row(m, t, V, I, &dI, &dV);
  cput(J, m->iI, m->iI, dI, 0);
  cput(J, m->iI, m->iV, dV, 0);
  F[m->iQ] = yp[m->iQ] - I;
  cput(J, m->iQ, m->iQ, 0, 1.0), cput(J, m->iQ, m->iI, -1.0, 0);
  F[m->iE] = yp[m->iE] - I * V;
  cput(J, m->iE, m->iE, 0, 1.0), cput(J, m->iE, m->iI, -V, 0);
  cput(J, m->iE, m->iV, -I, 0);
}

/* ---- creation ---- */

static int cell_model(nimc_model **out, const nimc_device *d, nimc_err *err) {
  nimc_mesh *mesh = NULL;
  int rc;
  if (d->geometry == NIMC_GEOMETRY_STACK)
    rc = nimc_mesh_stack(&mesh, d, err);
  else if (d->geometry == NIMC_GEOMETRY_INTERDIGITATED)
    rc = nimc_mesh_interdigitated(&mesh, d, err);
  else
    rc = nimc_err_set(err, NIMC_EINPUT, "%s: unknown geometry", d->path);
  if (rc) return rc;
  return nimc_model_create(out, d, mesh, err); /* takes mesh */
}

void nimc_pack_destroy(nimc_model *m) {
  if (!m) return;
  struct nimc_pack *pk = m->pack;
  if (pk) {
    for (int k = 0; k < pk->K; k++) {
      if (pk->cell) nimc_model_destroy(pk->cell[k]);
      if (pk->dev) free(pk->dev[k]);
    }
    free(pk->cell), free(pk->dev), free(pk->base), free(pk->cell0);
    free(pk->posA), free(pk->posB), free(pk->s1), free(pk->s2);
    free(pk->factors);
    free(pk);
  }
  free(m->rowptr), free(m->colind);
  free(m);
}

int nimc_pack_create(nimc_model **out, const nimc_device *dev, nimc_err *err) {
  *out = NULL;
  char why[256];
  const nimc_pack_params *pp = &dev->pack;
  if (nimc_pack_check_shape(pp->series, pp->parallel, why, sizeof why))
    return nimc_err_set(err, NIMC_EINPUT, "%s: [pack] %s", dev->path, why);
  int rc = NIMC_ENOMEM, K = pp->series * pp->parallel;
  double *y = NULL, *yp = NULL, *F = NULL;
  cj_asm J = {0};
  nimc_model *m = calloc(1, sizeof *m);
  struct nimc_pack *pk = calloc(1, sizeof *pk);
  if (!m || !pk) {
    free(m), free(pk);
    return nimc_err_set(err, rc, "pack: out of memory");
  }
  m->pack = pk;
  m->dev = dev;
  m->T_K = dev->temperature_K;
  m->tern = dev->electrolyte.ternary;
  pk->ns = pp->series, pk->np = pp->parallel, pk->K = K;
  pk->dev = calloc((size_t)K, sizeof *pk->dev);
  pk->cell = calloc((size_t)K, sizeof *pk->cell);
  pk->base = calloc((size_t)K, sizeof *pk->base);
  pk->cell0 = calloc((size_t)K + 1, sizeof *pk->cell0);
  pk->posA = calloc((size_t)K, sizeof *pk->posA);
  pk->posB = calloc((size_t)K, sizeof *pk->posB);
  pk->factors = calloc((size_t)K * (pp->nspread ? (size_t)pp->nspread : 1),
                       sizeof *pk->factors);
  if (!pk->dev || !pk->cell || !pk->base || !pk->cell0 || !pk->posA ||
      !pk->posB || !pk->factors)
    goto fail;
  int64_t n = 0, maxnnz = 1;
  for (int k = 0; k < K; k++) {
    if ((rc = nimc_pack_cell_device(
             dev, k, &pk->dev[k], pk->factors + (size_t)k * pp->nspread, err)))
      goto fail;
    if ((rc = cell_model(&pk->cell[k], pk->dev[k], err))) goto fail;
    pk->base[k] = n;
    n += pk->cell[k]->n;
    pk->cell0[k + 1] = pk->cell0[k] + pk->cell[k]->mesh->ncells;
    if (pk->cell[k]->nnz > maxnnz) maxnnz = pk->cell[k]->nnz;
    if (n > PACK_MAX_UNKNOWNS) {
      rc = nimc_err_set(err, NIMC_EINPUT,
                        "%s: [pack] %d cells of %lld unknowns each are more "
                        "than the limit of %d unknowns (fewer cells, or a "
                        "coarser [mesh])",
                        dev->path, K, (long long)pk->cell[k]->n,
                        PACK_MAX_UNKNOWNS);
      goto fail;
    }
  }
  rc = NIMC_ENOMEM;
  m->iV = n, m->iI = n + 1, m->iQ = n + 2, m->iE = n + 3;
  m->n = n + 4;
  const nimc_model *c0 = pk->cell[0];
  m->el[0] = c0->el[0], m->el[1] = c0->el[1]; /* shallow: cell 1's */
  m->mobility = c0->mobility;
  m->initial_charge_C = c0->initial_charge_C;
  m->r_collector_ohm = c0->r_collector_ohm;
  m->r_series_ohm = c0->r_series_ohm;
  pk->s1 = malloc(sizeof(double) * (size_t)maxnnz);
  pk->s2 = malloc(sizeof(double) * (size_t)maxnnz);
  if (!pk->s1 || !pk->s2) goto fail;

  /* the pattern: the cells' own (their control rows left out), the
   * circuit's, and the full diagonal */
  J.pattern = 1, J.pat.n = m->n, J.m = m;
  for (int64_t r = 0; r < m->n; r++)
    cput(&J, r, r, 0, 0);
  for (int k = 0; k < K; k++) {
    const nimc_model *c = pk->cell[k];
    int64_t b = pk->base[k];
    for (int64_t r = 0; r < c->n; r++) {
      if (r == c->iI) continue;
      for (int64_t q = c->rowptr[r]; q < c->rowptr[r + 1]; q++)
        cput(&J, b + r, b + c->colind[q], 0, 0);
    }
  }
  y = malloc(sizeof(double) * (size_t)m->n);
  yp = calloc((size_t)m->n, sizeof(double));
  F = malloc(sizeof(double) * (size_t)m->n);
  if (!y || !yp || !F) goto fail;
  nimc_pack_initial(m, y, yp);
  circuit(m, 0.0, y, yp, F, &J);
  if (nimc_pattern_csr(&J.pat, &m->rowptr, &m->colind, &m->nnz)) goto fail;
  /* a cell's rows other than its control row are its own, shifted: the
   * same entries in the same order, so its values copy in two blocks */
  for (int k = 0; k < K; k++) {
    const nimc_model *c = pk->cell[k];
    int64_t b = pk->base[k];
    pk->posA[k] = m->rowptr[b];
    pk->posB[k] = m->rowptr[b + c->iI + 1];
    if (m->rowptr[b + c->iI] - pk->posA[k] != c->rowptr[c->iI] ||
        m->rowptr[b + c->n] - pk->posB[k] != c->nnz - c->rowptr[c->iI + 1]) {
      rc = nimc_err_set(err, NIMC_EMISUSE,
                        "pack: cell %d's Jacobian rows are not its own", k + 1);
      goto fail;
    }
  }
  free(J.pat.pairs), free(y), free(yp), free(F);
  *out = m;
  return NIMC_OK;
fail:
  if (rc == NIMC_ENOMEM) nimc_err_set(err, rc, "pack: out of memory");
  free(J.pat.pairs), free(y), free(yp), free(F);
  nimc_pack_destroy(m);
  return rc;
}

/* ---- accessors ---- */

int nimc_pack_ncells(const nimc_model *m) {
  return m && m->pack ? m->pack->K : 0;
}

const nimc_model *nimc_pack_cell(const nimc_model *m, int k, int64_t *base) {
  if (!m || !m->pack || k < 0 || k >= m->pack->K) return NULL;
  if (base) *base = m->pack->base[k];
  return m->pack->cell[k];
}

const double *nimc_pack_factors(const nimc_model *m, int k) {
  if (!m || !m->pack || k < 0 || k >= m->pack->K || !m->dev->pack.nspread)
    return NULL;
  return m->pack->factors + (size_t)k * m->dev->pack.nspread;
}

/* ---- model.h for a pack ---- */

void nimc_pack_initial(const nimc_model *m, double *y, double *yp) {
  const struct nimc_pack *pk = m->pack;
  double V = 0.0;
  for (int k = 0; k < pk->K; k++) {
    const nimc_model *c = pk->cell[k];
    int64_t b = pk->base[k];
    nimc_model_initial(c, y + b, yp + b);
    if (k < pk->ns) V += y[b + c->iV]; /* string 1 */
  }
  y[m->iV] = V;
  y[m->iI] = y[m->iQ] = y[m->iE] = 0.0;
  yp[m->iV] = yp[m->iI] = yp[m->iQ] = yp[m->iE] = 0.0;
}

void nimc_pack_atol(const nimc_model *m, double scale, double *atol) {
  const struct nimc_pack *pk = m->pack;
  for (int k = 0; k < pk->K; k++)
    nimc_model_atol(pk->cell[k], scale, atol + pk->base[k]);
  double iscale = m->dev->area_m2 * pk->np; /* 1 A/m2 of every string */
  atol[m->iV] = 1e-8 * scale;
  atol[m->iI] = 1e-9 * iscale * scale;
  atol[m->iQ] = 1e-9 * iscale * scale;
  atol[m->iE] = 1e-9 * iscale * scale;
}

int nimc_pack_set_temperature(nimc_model *m, double T_K) {
  m->T_K = T_K;
  for (int k = 0; k < m->pack->K; k++) {
    int rc = nimc_model_set_temperature(m->pack->cell[k], T_K);
    if (rc) return rc;
  }
  return NIMC_OK;
}

void nimc_pack_id(const nimc_model *m, double *id) {
  const struct nimc_pack *pk = m->pack;
  for (int k = 0; k < pk->K; k++)
    nimc_model_id(pk->cell[k], id + pk->base[k]);
  id[m->iV] = id[m->iI] = 0.0;
  id[m->iQ] = id[m->iE] = 1.0;
}

/* The residual, and the Jacobian: val (dF/dy + cj dF/dy') or, with valp,
 * the two apart. */
static int pack_assemble(const nimc_model *m, double t, const double *y,
                         const double *yp, double *F, double cj, double *val,
                         double *valp) {
  const struct nimc_pack *pk = m->pack;
  int bad = 0;
  if (val) memset(val, 0, sizeof(double) * (size_t)m->nnz);
  if (valp) memset(valp, 0, sizeof(double) * (size_t)m->nnz);
  for (int k = 0; k < pk->K; k++) {
    const nimc_model *c = pk->cell[k];
    int64_t b = pk->base[k];
    if (!val) {
      bad |= nimc_model_eval(c, t, y + b, yp + b, F + b, 0.0, NULL);
      continue;
    }
    if (valp)
      bad |= nimc_model_jacobians(c, t, y + b, yp + b, F + b, pk->s1, pk->s2);
    else
      bad |= nimc_model_eval(c, t, y + b, yp + b, F + b, cj, pk->s1);
    int64_t na = c->rowptr[c->iI], nb0 = c->rowptr[c->iI + 1];
    int64_t nb = c->nnz - nb0;
    memcpy(val + pk->posA[k], pk->s1, sizeof(double) * (size_t)na);
    memcpy(val + pk->posB[k], pk->s1 + nb0, sizeof(double) * (size_t)nb);
    if (valp) {
      memcpy(valp + pk->posA[k], pk->s2, sizeof(double) * (size_t)na);
      memcpy(valp + pk->posB[k], pk->s2 + nb0, sizeof(double) * (size_t)nb);
    }
  }
  cj_asm J = {0};
  J.m = m, J.val = val, J.valp = valp, J.cj = cj;
  circuit(m, t, y, yp, F, val ? &J : NULL);
  return bad;
}

int nimc_pack_eval(const nimc_model *m, double t, const double *y,
                   const double *yp, double *F, double cj, double *jac_values) {
  return pack_assemble(m, t, y, yp, F, cj, jac_values, NULL);
}

int nimc_pack_jacobians(const nimc_model *m, double t, const double *y,
                        const double *yp, double *F, double *dfdy,
                        double *dfdyp) {
  return pack_assemble(m, t, y, yp, F, 0.0, dfdy, dfdyp);
}

/* The cell (model) that holds mesh cell i of the pack's numbering, and
 * i within it. */
static int which(const nimc_model *m, int i, int *local) {
  const struct nimc_pack *pk = m->pack;
  int k = 0;
  while (k + 1 < pk->K && i >= pk->cell0[k + 1])
    k++;
  *local = i - pk->cell0[k];
  return k;
}

void nimc_pack_potential_columns(const nimc_model *m, int cell, int64_t *phie,
                                 int64_t *dphi, int64_t *term) {
  int i, k = which(m, cell, &i);
  int64_t b = m->pack->base[k];
  nimc_model_potential_columns(m->pack->cell[k], i, phie, dphi, term);
  *phie += b;
  if (*dphi >= 0) *dphi += b;
  if (*term >= 0) *term += b;
}

double nimc_pack_cell_reaction(const nimc_model *m, int cell, const double *y,
                               const double *yp) {
  int i, k = which(m, cell, &i);
  int64_t b = m->pack->base[k];
  return nimc_model_cell_reaction(m->pack->cell[k], i, y + b, yp + b);
}

double nimc_pack_min_concentration(const nimc_model *m, const double *y) {
  double c = INFINITY;
  for (int k = 0; k < m->pack->K; k++) {
    double ck =
        nimc_model_min_concentration(m->pack->cell[k], y + m->pack->base[k]);
    if (ck < c) c = ck;
  }
  return c;
}

double nimc_pack_il_cation_inventory(const nimc_model *m, const double *y) {
  double s = 0.0;
  for (int k = 0; k < m->pack->K; k++)
    s += nimc_model_il_cation_inventory(m->pack->cell[k], y + m->pack->base[k]);
  return s;
}

double nimc_pack_electrode_charge(const nimc_model *m, int e, const double *y) {
  double s = 0.0;
  for (int k = 0; k < m->pack->K; k++)
    s += nimc_model_electrode_charge(m->pack->cell[k], e, y + m->pack->base[k]);
  return s;
}

double nimc_pack_cation_inventory(const nimc_model *m, const double *y) {
  double s = 0.0;
  for (int k = 0; k < m->pack->K; k++)
    s += nimc_model_cation_inventory(m->pack->cell[k], y + m->pack->base[k]);
  return s;
}
