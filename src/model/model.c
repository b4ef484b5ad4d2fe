/*
 * model.c -- residual and analytic Jacobian of the porous-electrode DAE.
 *
 * Equations (docs/model.md), finite volumes, two-point fluxes:
 *   cation      V eps c' + sum_faces N_f - V (r_F + s r_dl)/F = 0
 *               N_f = -D G dc + t+ I_f / F   (cation flux, conservative
 *               form, valid for concentration-dependent t+)
 *   electrolyte sum_faces I_f - V R = 0,
 *               I_f = G [-kappa dphi_e + kappa_D d ln c],
 *               kappa_D = 2RT/F kappa (1 - t+) (1 + dlnf/dlnc)
 *   solid       sum_faces I_s + V R = 0, I_s = -sigma_eff A dphi_s / d
 *   R = r_F + r_dl + r_leak (A/m3): Butler-Volmer on intercalation
 *       particles, double-layer charging C(dphi) dphi', Tafel leakage
 *   particles   shell balances in a dimensionless radius, flux -jF/F at
 *               the surface (surface concentration is an unknown)
 * G = A / (d0/beta0 + d1/beta1) combines the Bruggeman factors of the two
 * cells in series, so a face between regions is treated exactly as two
 * resistors in series.  Electrolyte properties are taken at the mean
 * concentration of the face.
 *
 * Every term adds its value to F and its derivatives through put(); in
 * pattern mode put() records the structural position instead, so the
 * Jacobian pattern is by construction the pattern of this code.  put() is
 * called unconditionally for every structural entry (never "if nonzero").
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/constants.h"
#include "model/model.h"
#include "model/pattern.h"
#include "model/pack.h"

/* ---- Jacobian assembly ---- */

typedef struct jac_asm {
  int pattern;         /* 1: record the entries into pat */
  nimc_pattern pat;
  const nimc_model *m; /* values mode */
  double *val;         /* dF/dy + cj dF/dy' */
  double *valp;        /* NULL, or dF/dy' alone (the linearisation of EIS) */
  double cj;
  int64_t k;           /* put() calls so far */
  int64_t *rec, nrec;  /* non-NULL: record the first nrec calls' places */
} jac_asm;

/* x with its 13 lowest mantissa bits cleared (40 significant bits kept,
 * truncated towards zero, so that -x gives exactly -(x)).  Sums of a few
 * such numbers within a factor 1000 of each other are exact in double. */
static double quantize(double x) {
  uint64_t b;
  memcpy(&b, &x, sizeof b);
  b &= ~(uint64_t)0x1FFF;
  memcpy(&x, &b, sizeof b);
  return x;
}

/* Add a contribution to entry k of the split Jacobians of the impedance
 * (nimc_model_jacobians), quantized; kept out of put() so that the
 * time-stepping path stays small enough to inline. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static void put_split(jac_asm *J, int64_t k, double dfdy, double dfdyp) {
  J->val[k] += quantize(dfdy);
  J->valp[k] += quantize(dfdyp);
}

/* The CSR place of entry (row, col), the k-th put() of the assembly: put()
 * is called for every structural entry in the same order at every
 * assembly, so the place recorded at set-up is the answer -- unless a
 * change of the code made a call conditional, which the check catches
 * (the search then answers, as before the cache). */
static int64_t place_of(jac_asm *J, int64_t row, int64_t col) {
  const nimc_model *m = J->m;
  int64_t k = J->k++;
  if (k < m->nplaces) {
    int64_t lo = m->place[k];
    if (lo >= m->rowptr[row] && lo < m->rowptr[row + 1] &&
        m->colind[lo] == col)
      return lo;
  }
  int64_t lo = nimc_csr_find(m->rowptr, m->colind, row, col);
  if (J->rec && k < J->nrec) J->rec[k] = lo;
  return lo;
}

static void put(jac_asm *J, int64_t row, int64_t col, double dfdy,
                double dfdyp) {
  if (!J) return;
  if (J->pattern) {
    nimc_pattern_add(&J->pat, row, col);
    return;
  }
  int64_t lo = place_of(J, row, col);
  if (J->valp) {
    put_split(J, lo, dfdy, dfdyp);
    return;
  }
  J->val[lo] += dfdy + J->cj * dfdyp;
}

/* ---- material functions ---- */

typedef struct elyte {
  double kap, dkap, kd, dkd, D, dD, t, dt;
} elyte;

/* Electrolyte properties at c, and with deriv their concentration
 * derivatives (zero without). */
static void elyte_eval(const nimc_model *m, double c, int deriv, elyte *e) {
  const nimc_electrolyte_params *p = &m->dev->electrolyte;
  double T = m->T_K, dtf = 0.0;
  memset(e, 0, sizeof *e);
  e->kap = nimc_law_eval(&p->conductivity, c, T, deriv ? &e->dkap : NULL);
  e->D = nimc_law_eval(&p->diffusivity, c, T, deriv ? &e->dD : NULL);
  e->t = nimc_law_eval(&p->transference, c, T, deriv ? &e->dt : NULL);
  double tf = nimc_law_eval(&p->thermo_factor, c, T, deriv ? &dtf : NULL);
  double k = 2.0 * NIMC_R * T / NIMC_F;
  e->kd = k * e->kap * (1.0 - e->t) * tf;
  if (deriv)
    e->dkd = k * (e->dkap * (1.0 - e->t) * tf - e->kap * e->dt * tf +
                  e->kap * (1.0 - e->t) * dtf);
}

/* Double-layer charge per electrode volume Q(E) (C/m3, zero at the
 * potential of zero charge) and its capacitance dQ/dE (F/m3). */
static double dl_charge(const nimc_model *m, const nimc_elec *el, double E,
                        double *C) {
  const nimc_electrode_params *p = el->p;
  double x = E - el->pzc, q = el->cdl_v * x;
  *C = el->cdl_v;
  if (el->cap_v > 0.0) {
    if (p->cap_shape.kind == NIMC_LAW_TABLE) {
      q += el->cap_v * nimc_law_integral(&p->cap_shape, el->pzc, E, m->T_K);
      *C += el->cap_v * nimc_law_eval(&p->cap_shape, E, m->T_K, NULL);
    } else {
      double k2 = p->cap_k2_per_V2;
      q += el->cap_v * (x + k2 * x * x * x / 3.0);
      *C += el->cap_v * (1.0 + k2 * x * x);
    }
  }
  return q;
}

/* Cations held in the double layer per electrode volume (mol/m3, relative
 * to the pzc) as a function of its charge q, and the derivative.  A fixed
 * share s of the charge is balanced by cations (N = -s q / F), or, in the
 * counter-ion model, negative charge by cations and positive charge by
 * anions, switching smoothly over the charge qw held within RT/F of the
 * pzc: N = (sqrt(q^2 + qw^2) - q - qw) / 2F. */
static double dl_cations(const nimc_elec *el, double q, double *dN) {
  double s = el->p->dl_cation_fraction;
  if (s >= 0.0 || el->qw <= 0.0) {
    if (s < 0.0) s = 1.0; /* intercalation double layer: below any pzc */
    *dN = -s / NIMC_F;
    return -s * q / NIMC_F;
  }
  double r = sqrt(q * q + el->qw * el->qw);
  *dN = (q / r - 1.0) / (2.0 * NIMC_F);
  return (r - q - el->qw) / (2.0 * NIMC_F);
}

/* Butler-Volmer: reaction current density jF (A/m2, > 0 anodic) and its
 * derivatives in dphi, c (electrolyte) and cs (surface), those without
 * the open-circuit potential's slope unless deriv.  Returns 1 when a
 * concentration is out of range. */
static int bv_eval(const nimc_model *m, const nimc_elec *el, double dphi,
                   double c, double cs, int deriv, double *j, double *dj_dphi,
                   double *dj_dc, double *dj_dcs) {
  const nimc_electrode_params *p = el->p;
  double cmax = p->c_max_mol_m3, th = cs / cmax;
  if (!(th > 0.0) || !(th < 1.0)) return 1;
  if (!m->tern && !(c > 0.0)) return 1;
  double T = m->T_K, f = NIMC_F / (NIMC_R * T);
  double dU = 0.0, U = nimc_law_eval(&p->ocp, th, T, deriv ? &dU : NULL);
  double k = nimc_law_eval(&p->rate_constant, th, T, NULL);
  double aa = p->alpha_a, ac = p->alpha_c;
  double eta = dphi - U;
  double ea = exp(aa * f * eta), ec = exp(-ac * f * eta);
  double solid = pow(1.0 - th, aa) * pow(th, ac);
  double dsolid = solid * (ac / th - aa / (1.0 - th)) / cmax; /* d/dcs */
  if (m->tern) {
    /* With the ternary electrolyte phi_e is the electric potential, and
     * the equilibrium of Na+ + e- = Na(host) carries the Nernst term of the
     * local Na+ concentration (potentials against Na/Na+ at c0):
     * eta = dphi - U - ln(c/c0)/f.  Written out, the anodic (extracting)
     * current is independent of c and the cathodic (inserting) one is of
     * order aa + ac in c (first order for aa + ac = 1):
     *   j = F k cmax (c0/cref)^aa s(th) [e^{aa f (dphi-U)}
     *                                     - (c/c0)^{aa+ac} e^{-ac f (dphi-U)}]
     * continuous through c = 0 (continued as 0 below it), so Na+ runs out
     * only asymptotically. */
    double c0 = m->dev->electrolyte.c0_mol_m3, order = aa + ac;
    double K = NIMC_F * k * cmax * pow(c0 / p->c_ref_mol_m3, aa);
    double x = c / c0, xp, dxp;
    /* no Na+ (a slightly negative c within the solver's tolerance), no
     * insertion: x is continued smoothly and positively below c = 0,
     * x+ = (x + sqrt(x^2 + d^2)) / 2 with d = 1e-8 (x itself above a few
     * d), so that an iterate there never turns the inserting term into an
     * extracting one */
    const double dd = 1e-8;
    double r = sqrt(x * x + dd * dd), xs = 0.5 * (x + r);
    double dxs = 0.5 * (1.0 + x / r);
    if (fabs(order - 1.0) < 1e-12) {
      xp = xs, dxp = dxs;
    } else {
      xp = pow(xs, order), dxp = order * pow(xs, order - 1.0) * dxs;
    }
    double br = ea - xp * ec, dbr = f * (aa * ea + ac * xp * ec);
    *j = K * solid * br;
    *dj_dphi = K * solid * dbr;
    *dj_dc = -K * solid * dxp * ec / c0;
    *dj_dcs = K * dsolid * br - K * solid * dbr * dU / cmax;
    return 0;
  }
  /* Newman's phi_e (measured by a reference electrode in the local
   * electrolyte) holds the concentration term already */
  double kc = NIMC_F * k * cmax * pow(c / p->c_ref_mol_m3, aa);
  double i0 = kc * solid;
  double br = ea - ec, dbr = f * (aa * ea + ac * ec);
  *j = i0 * br;
  *dj_dphi = i0 * dbr;
  *dj_dc = i0 * aa / c * br;
  *dj_dcs = kc * dsolid * br - i0 * dbr * dU / cmax;
  return 0;
}

/* ---- layout: the table of variables ----
 *
 * Every kind of per-cell unknown is one row of vars[] (in the order of
 * nimc_var, which is their order in a cell): how many a cell holds (by
 * the class of the cell: electrolyte, or an electrode el), its absolute
 * tolerance per unit of the solver's scale, whether it is differential,
 * and its value in the initial state.  nimc_model_create lays the cells
 * out from the counts; nimc_model_atol, nimc_model_id and
 * nimc_model_initial loop over the table.  A new state variable is a new
 * nimc_var and a row here; its equations go into assemble. */

/* What the initial values of a cell's unknowns follow from (filled by
 * nimc_model_initial, cell by cell). */
typedef struct init_ctx {
  double c, c2;  /* the electrolyte's concentrations */
  double phie;   /* its potential */
  double E;      /* the electrode's interfacial potential difference */
  double theta;  /* the intercalation solid's stoichiometry */
  double q;      /* double-layer charge */
  double q2;     /* the slow branch's */
  double qmp;    /* each micropore shell's */
  double N;      /* cations bound by all the double layers of the cell */
  double x;      /* Na+'s share of the cations, c / (c + c2); 1 binary */
  double eps;    /* the cell's electrolyte fraction */
} init_ctx;

typedef struct var_def {
  const char *name;
  /* how many a cell holds: el NULL outside the electrodes */
  int (*count)(const nimc_model *m, const nimc_elec *el);
  /* absolute tolerance per unit of scale */
  double (*atol)(const nimc_model *m, const nimc_elec *el);
  /* 1 differential, 0 algebraic, for the k-th of the cell's */
  int (*differential)(const nimc_elec *el, int k);
  /* the initial value of the k-th */
  double (*initial)(const nimc_elec *el, const init_ctx *x, int k);
} var_def;

static int has_dl(const nimc_elec *el) {
  return el && el->has_dl;
}

static int n_one(const nimc_model *m, const nimc_elec *el) {
  (void)m, (void)el;
  return 1;
}
static int n_elec(const nimc_model *m, const nimc_elec *el) {
  (void)m;
  return el != NULL;
}
static int n_dl(const nimc_model *m, const nimc_elec *el) {
  (void)m;
  return has_dl(el);
}
static int n_slow(const nimc_model *m, const nimc_elec *el) {
  (void)m;
  return has_dl(el) && el->cap2_v > 0.0;
}
static int n_int(const nimc_model *m, const nimc_elec *el) {
  (void)m;
  return el && el->has_int;
}
static int n_shells(const nimc_model *m, const nimc_elec *el) {
  (void)m;
  return el && el->has_int ? el->ns + 1 : 0;
}
static int n_mp(const nimc_model *m, const nimc_elec *el) {
  (void)m;
  return el ? el->nmp : 0;
}
static int n_tern(const nimc_model *m, const nimc_elec *el) {
  (void)el;
  return m->tern != 0;
}
static int n_tern_dl(const nimc_model *m, const nimc_elec *el) {
  return m->tern && has_dl(el);
}

static int n_film(const nimc_model *m, const nimc_elec *el) {
  (void)m;
  return el && el->sr && el->has_int;
}
static int n_block(const nimc_model *m, const nimc_elec *el) {
  (void)m;
  return el && el->sr && !el->has_int;
}
static int n_trap(const nimc_model *m, const nimc_elec *el) {
  (void)m;
  return el && el->sr && el->has_int && el->p->sr_trapping.value > 0.0;
}

static double tol_conc(const nimc_model *m, const nimc_elec *el) {
  (void)el;
  return 1e-8 * m->dev->electrolyte.c0_mol_m3;
}
static double tol_volt(const nimc_model *m, const nimc_elec *el) {
  (void)m, (void)el;
  return 1e-8;
}
static double tol_q(const nimc_model *m, const nimc_elec *el) {
  (void)m;
  return 1e-8 * (el->cap_v + el->cdl_v);
}
static double tol_q2(const nimc_model *m, const nimc_elec *el) {
  (void)m;
  return 1e-8 * el->cap2_v;
}
static double tol_jf(const nimc_model *m, const nimc_elec *el) {
  (void)m, (void)el;
  return 1e-9; /* A/m2 */
}
static double tol_cs(const nimc_model *m, const nimc_elec *el) {
  (void)m;
  return 1e-9 * el->p->c_max_mol_m3;
}
static double tol_qmp(const nimc_model *m, const nimc_elec *el) {
  (void)m;
  return 1e-8 * el->capmp_v;
}

static double tol_film(const nimc_model *m, const nimc_elec *el) {
  (void)m, (void)el;
  return 1e-9; /* C/m2: a thousandth of a monolayer's charge */
}
static double tol_share(const nimc_model *m, const nimc_elec *el) {
  (void)m, (void)el;
  return 1e-9;
}

static int diff_yes(const nimc_elec *el, int k) {
  (void)el, (void)k;
  return 1;
}
static int diff_no(const nimc_elec *el, int k) {
  (void)el, (void)k;
  return 0;
}
/* a concentration follows from its content where a double layer holds
 * cations (the content is then what is stored) */
static int diff_unless_dl(const nimc_elec *el, int k) {
  (void)k;
  return !has_dl(el);
}
/* the particle's surface is algebraic, its shells store */
static int diff_shell(const nimc_elec *el, int k) {
  (void)el;
  return k > 0;
}

static double init_c(const nimc_elec *el, const init_ctx *x, int k) {
  (void)el, (void)k;
  return x->c;
}
static double init_phie(const nimc_elec *el, const init_ctx *x, int k) {
  (void)el, (void)k;
  return x->phie;
}
static double init_dphi(const nimc_elec *el, const init_ctx *x, int k) {
  (void)el, (void)k;
  return x->E;
}
static double init_q(const nimc_elec *el, const init_ctx *x, int k) {
  (void)el, (void)k;
  return x->q;
}
static double init_m(const nimc_elec *el, const init_ctx *x, int k) {
  (void)el, (void)k;
  return x->eps * x->c + x->x * x->N;
}
static double init_q2(const nimc_elec *el, const init_ctx *x, int k) {
  (void)el, (void)k;
  return x->q2;
}
static double init_zero(const nimc_elec *el, const init_ctx *x, int k) {
  (void)el, (void)x, (void)k;
  return 0.0;
}
static double init_cs(const nimc_elec *el, const init_ctx *x, int k) {
  (void)k;
  return x->theta * el->p->c_max_mol_m3;
}
static double init_qmp(const nimc_elec *el, const init_ctx *x, int k) {
  (void)el, (void)k;
  return x->qmp;
}
static double init_c2(const nimc_elec *el, const init_ctx *x, int k) {
  (void)el, (void)k;
  return x->c2;
}
static double init_m2(const nimc_elec *el, const init_ctx *x, int k) {
  (void)el, (void)k;
  return x->eps * x->c2 + (1.0 - x->x) * x->N;
}

static const var_def vars[NIMC_NVAR] = {
    [NIMC_VAR_C] = {"salt concentration", n_one, tol_conc, diff_unless_dl,
                    init_c},
    [NIMC_VAR_PHIE] = {"electrolyte potential", n_one, tol_volt, diff_no,
                       init_phie},
    [NIMC_VAR_DPHI] = {"interfacial potential difference", n_elec, tol_volt,
                       diff_no, init_dphi},
    [NIMC_VAR_Q] = {"double-layer charge", n_dl, tol_q, diff_yes, init_q},
    [NIMC_VAR_M] = {"cation content", n_dl, tol_conc, diff_yes, init_m},
    [NIMC_VAR_Q2] = {"slow double-layer charge", n_slow, tol_q2, diff_yes,
                     init_q2},
    [NIMC_VAR_JF] = {"faradaic current density", n_int, tol_jf, diff_no,
                     init_zero},
    [NIMC_VAR_CS] = {"solid concentration", n_shells, tol_cs, diff_shell,
                     init_cs},
    [NIMC_VAR_QMP] = {"micropore charge", n_mp, tol_qmp, diff_yes, init_qmp},
    [NIMC_VAR_C2] = {"ionic-liquid cation concentration", n_tern, tol_conc,
                     diff_unless_dl, init_c2},
    [NIMC_VAR_M2] = {"ionic-liquid cation content", n_tern_dl, tol_conc,
                     diff_yes, init_m2},
    [NIMC_VAR_FILM] = {"side-reaction film charge", n_film, tol_film,
                       diff_yes, init_zero},
    [NIMC_VAR_BLOCK] = {"blocked surface share", n_block, tol_share, diff_yes,
                        init_zero},
    [NIMC_VAR_TRAP] = {"trapped sodium charge", n_trap, tol_film, diff_yes,
                       init_zero},
};

const char *nimc_var_name(nimc_var v) {
  return (unsigned)v < NIMC_NVAR ? vars[v].name : "unknown";
}

/* The electrode of class k of the layout (0 electrolyte, 1 anode, 2
 * cathode), NULL for the electrolyte. */
static const nimc_elec *class_elec(const nimc_model *m, int k) {
  return k > 0 ? &m->el[k - 1] : NULL;
}

/* Lay out the cells of each class from the table, and give the
 * electrodes the offsets their equations use. */
static void layout_setup(nimc_model *m) {
  for (int k = 0; k < 3; k++) {
    nimc_cell_layout *l = &m->lay[k];
    const nimc_elec *el = class_elec(m, k);
    l->nvars = 0;
    for (int v = 0; v < NIMC_NVAR; v++) {
      l->count[v] = vars[v].count(m, el);
      l->off[v] = l->count[v] > 0 ? l->nvars : -1;
      l->nvars += l->count[v];
    }
  }
  for (int e = 0; e < 2; e++) {
    nimc_elec *el = &m->el[e];
    const int *off = m->lay[e + 1].off;
    el->iq = off[NIMC_VAR_Q];
    el->im = off[NIMC_VAR_M];
    el->i2 = off[NIMC_VAR_Q2];
    el->ij = off[NIMC_VAR_JF];
    el->is = off[NIMC_VAR_CS];
    el->imp = off[NIMC_VAR_QMP];
    el->ifilm = off[NIMC_VAR_FILM];
    el->iblock = off[NIMC_VAR_BLOCK];
    el->itrap = off[NIMC_VAR_TRAP];
  }
}

const nimc_cell_layout *nimc_model_cell_layout(const nimc_model *m, int cell) {
  return &m->lay[m->elec[cell] + 1];
}

static int cell_has_dl(const nimc_model *m, int cell) {
  return nimc_model_cell_layout(m, cell)->count[NIMC_VAR_Q] > 0;
}

int nimc_model_cell_nvars(const nimc_model *m, int cell) {
  return nimc_model_cell_layout(m, cell)->nvars;
}

int nimc_model_c2_index(const nimc_model *m, int cell) {
  int o = nimc_model_cell_layout(m, cell)->off[NIMC_VAR_C2];
  return o >= 0 ? m->off[cell] + o : -1;
}

/* Does el have capacitance besides its intercalation solid (a hybrid)?
 * A pure intercalation electrode's own double layer is uncharged at the
 * solid's as-made potential; a hybrid settles between the two. */
static int elec_is_hybrid(const nimc_elec *el) {
  return el->has_int && el->cap_v + el->cap2_v + el->capmp_v > 0.0;
}

static int region_electrode(int region) {
  if (region == NIMC_REGION_ANODE) return 0;
  if (region == NIMC_REGION_CATHODE) return 1;
  return -1;
}

/* The micropore shells of a slab particle: nmp shells from the centre
 * (rho = 0, no flux) to the surface (rho = 1, at the cell's double-layer
 * potential), shrinking geometrically towards the surface (innermost /
 * outermost = 4). */
static int micropore_setup(nimc_elec *el, int nmp, nimc_err *err) {
  el->nmp = nmp;
  el->mp_meas = malloc(sizeof(double) * nmp);
  el->mp_w = malloc(sizeof(double) * nmp);
  double *face = malloc(sizeof(double) * (nmp + 1));
  if (!el->mp_meas || !el->mp_w || !face) {
    free(face);
    return nimc_err_set(err, NIMC_ENOMEM, "model: out of memory");
  }
  double q = nmp > 1 ? pow(4.0, 1.0 / (nmp - 1)) : 1.0, sum = 0.0, w = 1.0;
  face[0] = 0.0;
  for (int k = 0; k < nmp; k++, w /= q)
    sum += w, face[k + 1] = sum;
  for (int k = 0; k <= nmp; k++)
    face[k] /= sum;
  face[nmp] = 1.0;
  for (int k = 0; k < nmp; k++) {
    el->mp_meas[k] = face[k + 1] - face[k];
    double mid = 0.5 * (face[k] + face[k + 1]);
    double next = k + 1 < nmp ? 0.5 * (face[k + 1] + face[k + 2]) : 1.0;
    el->mp_w[k] = 1.0 / (next - mid);
  }
  free(face);
  return NIMC_OK;
}

/* Bounds of the model's sizes (its shells, its system), checked in 64 bits
 * so that no count overflows an int downstream. */
#define NIMC_MODEL_MAX_SHELLS 1000
#define NIMC_MODEL_MAX_UNKNOWNS 20000000

static int elec_setup(nimc_elec *el, const nimc_electrode_params *p, int ns,
                      double grading, int nmp, nimc_err *err) {
  el->p = p;
  el->has_int = p->kind != NIMC_ELECTRODE_CAPACITIVE;
  el->sigma_eff = p->conductivity_S_m;
  if (p->solid_bruggeman > 0.0)
    el->sigma_eff *= pow(1.0 - p->porosity, p->solid_bruggeman);
  el->cap_v = p->kind != NIMC_ELECTRODE_INTERCALATION ? p->cap_F_m3 : 0.0;
  /* a share of it behind a slow access path: q2' = (dphi - pzc - q2/C2) C2/tau
   */
  el->cap2_v = el->cap_v > 0.0 && p->slow_fraction > 0.0
                   ? p->slow_fraction * el->cap_v
                   : 0.0;
  el->cap_v -= el->cap2_v;
  el->tau2_s = p->slow_tau_s;
  /* a share in micropores, a transmission line inside the particles */
  el->capmp_v = el->cap_v > 0.0 && p->mp_fraction > 0.0
                    ? p->mp_fraction * (el->cap_v + el->cap2_v)
                    : 0.0;
  el->cap_v -= el->capmp_v;
  el->nmp = 0;
  /* the counts come from a device file or the API: bounded here, before
   * any (ns + 1) can overflow an int */
  if ((el->has_int && (ns < 1 || ns > NIMC_MODEL_MAX_SHELLS)) ||
      nmp > NIMC_MODEL_MAX_SHELLS)
    return nimc_err_set(err, NIMC_EINPUT,
                        "model: %d particle shells or %d micropore shells "
                        "(each must be from 1 to %d)",
                        ns, nmp, NIMC_MODEL_MAX_SHELLS);
  if (el->capmp_v > 0.0) {
    int rc = micropore_setup(el, nmp > 0 ? nmp : 8, err);
    if (rc) return rc;
    el->taump_s = p->mp_tau_s; /* at mp_Tref_K; the model scales it */
  }
  el->a = 0.0;
  el->ns = 0;
  if (el->has_int) {
    el->a = (double)(p->shape + 1) * p->active_fraction / p->particle_radius_m;
    el->ns = ns;
    el->rho_face = malloc(sizeof(double) * (ns + 1));
    el->rho_mid = malloc(sizeof(double) * ns);
    el->face_meas = malloc(sizeof(double) * (ns + 1));
    el->shell_meas = malloc(sizeof(double) * ns);
    el->shell_w = malloc(sizeof(double) * ns);
    if (!el->rho_face || !el->rho_mid || !el->face_meas || !el->shell_meas ||
        !el->shell_w)
      return nimc_err_set(err, NIMC_ENOMEM, "model: out of memory");
    int s = (int)p->shape;
    el->particle_meas = 0.0;
    /* shells shrink geometrically towards the surface, where the
     * gradients are: innermost / outermost = grading */
    double q = ns > 1 ? pow(grading, 1.0 / (ns - 1)) : 1.0, sum = 0.0, w = 1.0;
    el->rho_face[0] = 0.0;
    for (int k = 0; k < ns; k++, w /= q)
      sum += w, el->rho_face[k + 1] = sum;
    for (int k = 0; k <= ns; k++) {
      el->rho_face[k] /= sum;
      el->face_meas[k] = pow(el->rho_face[k], s);
    }
    el->rho_face[ns] = 1.0;
    for (int k = 0; k < ns; k++)
      el->rho_mid[k] = 0.5 * (el->rho_face[k] + el->rho_face[k + 1]);
    /* the residual's per-shell weights, once (two divisions per shell
     * per evaluation were a tenth of a 1D residual) */
    double Rp = p->particle_radius_m;
    for (int k = 0; k < ns; k++) {
      double dist = (k + 1 < ns ? el->rho_mid[k + 1] : 1.0) - el->rho_mid[k];
      el->shell_w[k] = el->face_meas[k + 1] / dist / (Rp * Rp);
    }
    for (int k = 0; k < ns; k++) {
      el->shell_meas[k] =
          (pow(el->rho_face[k + 1], s + 1) - pow(el->rho_face[k], s + 1)) /
          (s + 1);
      el->particle_meas += el->shell_meas[k];
    }
  }
  el->cdl_v = el->a * p->cdl_F_m2;
  el->has_dl = el->cdl_v + el->cap_v > 0.0;
  /* the side reaction runs on the intercalation solid's surface, or on
   * the whole (BET) surface of a capacitive one */
  el->sr = p->sr_current.value > 0.0 || p->sr_trapping.value > 0.0;
  el->sr_a = el->has_int ? el->a : p->surface_m2_m3;
  if (el->sr && !el->has_int && !el->has_dl) el->sr = 0;
  el->qw = el->cap_v * NIMC_R * NIMC_TREF_K / NIMC_F;
  return NIMC_OK;
}

void nimc_model_destroy(nimc_model *m) {
  if (!m) return;
  if (m->pack) {
    nimc_pack_destroy(m);
    return;
  }
  nimc_mesh_destroy(m->mesh);
  free(m->off);
  free(m->elec);
  free(m->eps);
  free(m->beta);
  for (int e = 0; e < 2; e++) {
    free(m->el[e].rho_face);
    free(m->el[e].rho_mid);
    free(m->el[e].face_meas);
    free(m->el[e].shell_meas);
    free(m->el[e].shell_w);
    free(m->el[e].mp_meas);
    free(m->el[e].mp_w);
  }
  free(m->rowptr);
  free(m->colind);
  free(m->place);
  free(m);
}

static void assemble(const nimc_model *m, double t, const double *y,
                     const double *yp, double *F, jac_asm *J, int *bad);
static double charge_for_voltage(const nimc_model *m, double V);
static double rest_voltage(const nimc_model *m, double Qt, double E[2]);
static double elec_theta_at(const nimc_model *m, const nimc_elec *el,
                            double E);

/* What the model derives from its temperature m->T_K (the laws evaluate
 * the rest with m->T_K as they go): the micropores' time constant, the
 * ternary electrolyte's mobility factor, the potential of zero charge of a
 * double layer on an intercalation solid.  One function for
 * nimc_model_create and nimc_model_set_temperature. */
static void derive_temperature(nimc_model *m) {
  const nimc_device *dev = m->dev;
  for (int e = 0; e < 2; e++) {
    nimc_elec *el = &m->el[e];
    /* the micropores' time constant follows the electrolyte's
     * conductivity: tau(T) = tau(Tref) kappa(Tref) / kappa(T) */
    if (el->nmp > 0) {
      const nimc_law *kap = &dev->electrolyte.conductivity;
      const nimc_electrode_params *ep = el->p;
      el->taump_s = ep->mp_tau_s * nimc_law_tfactor(kap, ep->mp_Tref_K) /
                    nimc_law_tfactor(kap, m->T_K);
    }
    if (el->sr) {
      el->sr_i0 = nimc_law_eval(&el->p->sr_current, 0.0, m->T_K, NULL);
      el->sr_f = el->p->sr_alpha * NIMC_F / (NIMC_R * m->T_K);
      el->sr_trap = nimc_law_eval(&el->p->sr_trapping, 0.0, m->T_K, NULL);
    }
    el->pzc = el->p->E_pzc_V;
    if (el->has_int && !elec_is_hybrid(el))
      el->pzc = nimc_law_eval(&el->p->ocp, el->p->theta0, m->T_K, NULL);
  }
  if (m->tern) {
    /* the mobility factor: the measured conductivity over the Nernst-
     * Einstein one of the ions' diffusivities, at c0 */
    const nimc_electrolyte_params *ep = &dev->electrolyte;
    double T = m->T_K, c1 = ep->c0_mol_m3, c2 = ep->c2_0_mol_m3;
    double kap = nimc_law_eval(&ep->conductivity, c1, T, NULL);
    double sd = nimc_law_eval(&ep->diffusivity, c1, T, NULL) * c1 +
                nimc_law_eval(&ep->diffusivity2, c1, T, NULL) * c2 +
                nimc_law_eval(&ep->diffusivity_anion, c1, T, NULL) * (c1 + c2);
    m->mobility = kap / (NIMC_F * NIMC_F / (NIMC_R * T) * sd);
  }
}

int nimc_model_set_temperature(nimc_model *m, double T_K) {
  if (!m || !(T_K > 0.0) || !isfinite(T_K)) return NIMC_EINPUT;
  if (m->pack) return nimc_pack_set_temperature(m, T_K);
  m->T_K = T_K;
  derive_temperature(m);
  return NIMC_OK;
}

/* Record the CSR place of each of the nput put() calls of an assembly of m
 * (m->place; place_of).  NIMC_ENOMEM, or 0; an assembly that does not make
 * nput calls leaves the cache empty (every place searched). */
static int record_places(nimc_model *m, int64_t nput, const double *y,
                         const double *yp, double *F) {
  double *val = calloc((size_t)m->nnz, sizeof(double));
  m->place = malloc(sizeof(int64_t) * (size_t)(nput > 0 ? nput : 1));
  if (!val || !m->place) {
    free(val);
    return NIMC_ENOMEM;
  }
  jac_asm R = {0};
  R.m = m, R.val = val, R.rec = m->place, R.nrec = nput;
  int bad = 0;
  assemble(m, 0.0, y, yp, F, &R, &bad);
  m->nplaces = R.k == nput ? nput : 0;
  free(val);
  return NIMC_OK;
}

int nimc_model_create(nimc_model **out, const nimc_device *dev, nimc_mesh *mesh,
                      nimc_err *err) {
  *out = NULL;
  int rc = NIMC_ENOMEM;
  double *y = NULL, *yp = NULL, *F = NULL;
  jac_asm J = {0};
  nimc_model *m = calloc(1, sizeof *m);
  if (!m) {
    nimc_mesh_destroy(mesh);
    return nimc_err_set(err, rc, "model: out of memory");
  }
  m->dev = dev;
  m->mesh = mesh;
  m->T_K = dev->temperature_K;
  m->tern = dev->electrolyte.ternary;
  int nc = mesh->ncells;
  m->off = malloc(sizeof(int) * nc);
  m->elec = malloc(sizeof(int) * nc);
  m->eps = malloc(sizeof(double) * nc);
  m->beta = malloc(sizeof(double) * nc);
  if (!m->off || !m->elec || !m->eps || !m->beta) goto fail;
  for (int e = 0; e < 2; e++) {
    rc = elec_setup(
        &m->el[e], e ? &dev->cathode : &dev->anode, dev->mesh.particle_shells,
        dev->mesh.particle_grading > 1.0 ? dev->mesh.particle_grading : 1.0,
        dev->mesh.micropore_shells, err);
    if (rc) goto fail;
  }
  layout_setup(m);
  int64_t n = 0;
  for (int i = 0; i < nc; i++) {
    int reg = mesh->region[i];
    m->elec[i] = region_electrode(reg);
    double eps, b;
    if (m->elec[i] >= 0) {
      const nimc_electrode_params *p = m->el[m->elec[i]].p;
      eps = p->porosity, b = p->bruggeman;
    } else if (reg == NIMC_REGION_GEL) {
      eps = dev->idg.gel_porosity, b = dev->idg.gel_bruggeman;
    } else if (reg == NIMC_REGION_COVER) {
      eps = dev->idg.cover_porosity, b = dev->idg.cover_bruggeman;
    } else {
      eps = dev->separator.porosity, b = dev->separator.bruggeman;
    }
    m->eps[i] = eps;
    m->beta[i] = pow(eps, b);
    m->off[i] = (int)n;
    n += nimc_model_cell_nvars(m, i);
  }
  if (n > NIMC_MODEL_MAX_UNKNOWNS) {
    rc = nimc_err_set(err, NIMC_EINPUT,
                      "model: %lld unknowns is more than the limit of %d "
                      "(fewer cells or particle shells)",
                      (long long)n, NIMC_MODEL_MAX_UNKNOWNS);
    goto fail;
  }
  m->iV = n, m->iI = n + 1, m->iQ = n + 2, m->iE = n + 3;
  derive_temperature(m);
  for (int e = 0; e < 2; e++)
    m->el[e].vol = 0.0;
  for (int i = 0; i < nc; i++)
    if (m->elec[i] >= 0) m->el[m->elec[i]].vol += mesh->vol[i];
  if (dev->initial_voltage_given) {
    double E[2], V = dev->initial_voltage_V;
    double Qt = m->initial_charge_C = charge_for_voltage(m, V);
    double Vr = rest_voltage(m, Qt, E);
    int ok = fabs(Vr - V) <= 1e-6;
    for (int e = 0; e < 2 && ok; e++) {
      const nimc_elec *el = &m->el[e];
      if (!el->has_int) continue;
      double th = elec_theta_at(m, el, E[e]);
      ok = th > 1e-9 && th < 1.0 - 1e-9;
    }
    if (!ok) {
      rc = nimc_err_set(
          err, NIMC_EINPUT,
          "%s: initial_voltage = %g V cannot be reached from the neutral "
          "device (rest voltage %g V as assembled) without emptying or "
          "filling an electrode: choose a voltage nearer the neutral one, "
          "or leave initial_voltage out and let the experiment charge the "
          "device",
          dev->path, V, rest_voltage(m, 0.0, E));
      goto fail;
    }
  }
  rc = NIMC_ENOMEM; /* what the failures below mean */
  /* series resistance: contacts, and in the in-plane array the voltage
   * drop along the fingers' collectors, lumped (R_sheet L / (3 w N) per
   * electrode for current drawn uniformly along the finger) */
  m->r_collector_ohm = 0.0;
  if (dev->geometry == NIMC_GEOMETRY_INTERDIGITATED &&
      dev->idg.fingers_per_electrode > 0)
    m->r_collector_ohm =
        2.0 * dev->idg.collector_sheet_ohm * dev->idg.finger_length_m /
        (3.0 * dev->idg.finger_width_m * dev->idg.fingers_per_electrode);
  m->r_series_ohm = dev->contact_resistance_ohm + m->r_collector_ohm;
  m->g_shunt_S =
      dev->shunt_resistance_ohm > 0.0 ? 1.0 / dev->shunt_resistance_ohm : 0.0;
  m->n = n + 4;

  /* record the Jacobian pattern by running the assembly once */
  y = malloc(sizeof(double) * m->n);
  yp = calloc(m->n, sizeof(double));
  F = malloc(sizeof(double) * m->n);
  if (!y || !yp || !F) goto fail;
  nimc_model_initial(m, y, yp);
  J.pattern = 1;
  J.pat.n = m->n;
  J.m = m;
  for (int64_t r = 0; r < m->n; r++)
    put(&J, r, r, 0, 0); /* full diagonal */
  int bad = 0;
  assemble(m, 0.0, y, yp, F, &J, &bad);
  int64_t nput = J.pat.npairs - m->n; /* the assembly's, after the diagonal */
  if (nimc_pattern_csr(&J.pat, &m->rowptr, &m->colind, &m->nnz)) goto fail;
  if (record_places(m, nput, y, yp, F)) goto fail;
  free(y), free(yp), free(F);
  *out = m;
  return NIMC_OK;
fail:
  if (rc == NIMC_ENOMEM) nimc_err_set(err, rc, "model: out of memory");
  free(J.pat.pairs), free(y), free(yp), free(F);
  nimc_model_destroy(m);
  return rc;
}

/* ---- initial state ----
 *
 * The device is assembled neutral: every double layer at its potential of
 * zero charge, every intercalation solid at its as-made stoichiometry
 * theta0, the electrolyte uniform at c0.  An initial cell voltage is
 * reached from there without creating charge, as a slow charge or
 * discharge would reach it: a charge Qt leaves the negative electrode for
 * the positive one, each electrode settles at the uniform potential at
 * which it holds that charge (double layers and solids in equilibrium),
 * and the electrolyte gives up, uniformly, the cations the solids took in
 * or the double layers bound.  Charge and cations are then exactly those
 * of the neutral device. */

/* Stoichiometry at which an intercalation solid's potential is E
 * (bisection: the potential falls with theta; clamped to its range). */
static double elec_theta_at(const nimc_model *m, const nimc_elec *el,
                            double E) {
  double lo = 1e-12, hi = 1.0 - 1e-12;
  for (int k = 0; k < 100; k++) {
    double mid = 0.5 * (lo + hi);
    if (nimc_law_eval(&el->p->ocp, mid, m->T_K, NULL) > E)
      lo = mid;
    else
      hi = mid;
  }
  return 0.5 * (lo + hi);
}

/* Charge per electrode volume (C/m3) of electrode el at rest at the
 * uniform potential E, relative to the neutral state: its double layers'
 * charge minus F times the sodium inserted beyond theta0. */
static double elec_charge_at(const nimc_model *m, const nimc_elec *el,
                             double E) {
  double C, q = 0.0;
  if (el->has_dl)
    q += dl_charge(m, el, E, &C) + (el->cap2_v + el->capmp_v) * (E - el->pzc);
  if (el->has_int)
    q -= NIMC_F * el->p->active_fraction * el->p->c_max_mol_m3 *
         (elec_theta_at(m, el, E) - el->p->theta0);
  return q;
}

/* The neutral potential of an electrode without a double layer on an
 * intercalation solid: its double layer's pzc, or the as-made solid's
 * potential.  (A hybrid electrode, both at once, settles between the two:
 * elec_potential_for with no charge.) */
static double elec_neutral_potential(const nimc_model *m, const nimc_elec *el) {
  if (el->has_int)
    return nimc_law_eval(&el->p->ocp, el->p->theta0, m->T_K, NULL);
  return el->pzc;
}

/* Potential at which electrode el holds the charge Q (C) at rest.  The
 * charge rises with the potential; the search spans +-20 V around the
 * neutral potential (clamped there). */
static double elec_potential_for(const nimc_model *m, const nimc_elec *el,
                                 double Q) {
  double E0 = elec_neutral_potential(m, el), lo = E0 - 20.0, hi = E0 + 20.0;
  if (el->vol <= 0.0 || (Q == 0.0 && !elec_is_hybrid(el))) return E0;
  for (int k = 0; k < 100; k++) {
    double mid = 0.5 * (lo + hi);
    if (el->vol * elec_charge_at(m, el, mid) < Q)
      lo = mid;
    else
      hi = mid;
  }
  return 0.5 * (lo + hi);
}

/* Cell voltage at rest after a charge Qt (C) has passed from the negative
 * electrode to the positive one; *E gets the two electrodes' potentials. */
static double rest_voltage(const nimc_model *m, double Qt, double E[2]) {
  E[0] = elec_potential_for(m, &m->el[0], -Qt);
  E[1] = elec_potential_for(m, &m->el[1], Qt);
  return E[1] - E[0];
}

/* The charge that brings the device at rest to voltage V (bisection on a
 * bracket grown from the electrodes' double-layer and solid capacities). */
static double charge_for_voltage(const nimc_model *m, double V) {
  double E[2], V0 = rest_voltage(m, 0.0, E);
  if (V == V0) return 0.0;
  double step = 1e-12, lo = 0.0, hi = 0.0;
  for (int k = 0; k < 200; k++, step *= 2.0) {
    double q = V > V0 ? step : -step;
    double v = rest_voltage(m, q, E);
    if ((V > V0 && v >= V) || (V < V0 && v <= V)) {
      lo = V > V0 ? q / 2.0 : q, hi = V > V0 ? q : q / 2.0;
      break;
    }
    if (k == 199) return q; /* unreachable: the nearest state */
  }
  for (int k = 0; k < 100; k++) {
    double mid = 0.5 * (lo + hi);
    if (rest_voltage(m, mid, E) < V)
      lo = mid;
    else
      hi = mid;
  }
  return 0.5 * (lo + hi);
}

void nimc_model_initial(const nimc_model *m, double *y, double *yp) {
  if (m->pack) {
    nimc_pack_initial(m, y, yp);
    return;
  }
  const nimc_device *dev = m->dev;
  double E[2];
  double Qt = dev->initial_voltage_given ? m->initial_charge_C : 0.0;
  rest_voltage(m, Qt, E);
  double theta[2] = {0, 0};
  for (int e = 0; e < 2; e++) {
    const nimc_elec *el = &m->el[e];
    if (!el->has_int) continue;
    /* as made, exactly, unless charge moved or a hybrid redistributed */
    theta[e] = Qt == 0.0 && !elec_is_hybrid(el) ? el->p->theta0
                                                : elec_theta_at(m, el, E[e]);
  }
  /* cations the solids took in and the double layers bound, taken
   * uniformly from the electrolyte; in the ternary electrolyte the double
   * layers' share is split by the cations' fractions, which a few fixed-
   * point passes make consistent with the concentrations they leave */
  const nimc_electrolyte_params *ep = &dev->electrolyte;
  double c = ep->c0_mol_m3, c2v = ep->c2_0_mol_m3;
  for (int pass = 0; pass < (m->tern ? 4 : 1); pass++) {
    double taken = 0.0, taken2 = 0.0, pore = 0.0;
    double x = m->tern && c + c2v > 0.0 ? c / (c + c2v) : 1.0;
    for (int i = 0; i < m->mesh->ncells; i++) {
      int e = m->elec[i];
      pore += m->mesh->vol[i] * m->eps[i];
      if (e < 0) continue;
      const nimc_elec *el = &m->el[e];
      double n = 0.0, C, dN;
      if (el->has_int)
        taken += m->mesh->vol[i] * el->p->active_fraction *
                 el->p->c_max_mol_m3 * (theta[e] - el->p->theta0);
      if (el->has_dl)
        n = dl_cations(el,
                       dl_charge(m, el, E[e], &C) +
                           (el->cap2_v + el->capmp_v) * (E[e] - el->pzc),
                       &dN);
      taken += m->mesh->vol[i] * x * n;
      taken2 += m->mesh->vol[i] * (1.0 - x) * n;
    }
    c = ep->c0_mol_m3 - (pore > 0.0 ? taken / pore : 0.0);
    c2v = ep->c2_0_mol_m3 - (pore > 0.0 ? taken2 / pore : 0.0);
  }
  /* an electrode given an initial double-layer potential: a charged start
   * for analytic tests built in code (the device-file key is gone, since
   * it creates charge; the electrolyte is left at c0 there) */
  for (int e = 0; e < 2 && !dev->initial_voltage_given; e++)
    if (!m->el[e].has_int && m->el[e].p->E0_given) E[e] = m->el[e].p->E0_V;
  memset(yp, 0, sizeof(double) * m->n);
  for (int i = 0; i < m->mesh->ncells; i++) {
    int e = m->elec[i];
    const nimc_cell_layout *l = nimc_model_cell_layout(m, i);
    const nimc_elec *el = class_elec(m, e + 1);
    init_ctx x = {.c = c, .c2 = c2v, .phie = -E[0], /* anode at ground */
                  .x = 1.0, .eps = m->eps[i]};
    if (el) {
      x.E = E[e];
      x.theta = theta[e];
    }
    if (has_dl(el)) {
      double C, dN;
      x.q = dl_charge(m, el, E[e], &C);
      x.q2 = el->cap2_v * (E[e] - el->pzc);
      x.qmp = el->capmp_v * (E[e] - el->pzc);
      x.N = dl_cations(el, x.q + ((el->i2 >= 0 ? x.q2 : 0.0) + x.qmp), &dN);
      if (m->tern) x.x = c / (c + c2v);
    }
    for (int v = 0; v < NIMC_NVAR; v++)
      for (int k = 0; k < l->count[v]; k++)
        y[m->off[i] + l->off[v] + k] = vars[v].initial(el, &x, k);
  }
  y[m->iV] = E[1] - E[0];
  y[m->iI] = 0.0;
  y[m->iQ] = 0.0;
  y[m->iE] = 0.0;
}

void nimc_model_atol(const nimc_model *m, double scale, double *atol) {
  if (m->pack) {
    nimc_pack_atol(m, scale, atol);
    return;
  }
  double iscale = m->dev->area_m2 * 1.0; /* 1 A/m2 of footprint */
  for (int i = 0; i < m->mesh->ncells; i++) {
    const nimc_cell_layout *l = nimc_model_cell_layout(m, i);
    const nimc_elec *el = class_elec(m, m->elec[i] + 1);
    for (int v = 0; v < NIMC_NVAR; v++)
      for (int k = 0; k < l->count[v]; k++)
        atol[m->off[i] + l->off[v] + k] = vars[v].atol(m, el) * scale;
  }
  atol[m->iV] = 1e-8 * scale;
  atol[m->iI] = 1e-9 * iscale * scale;
  atol[m->iQ] = 1e-9 * iscale * scale;
  atol[m->iE] = 1e-9 * iscale * scale;
}

void nimc_model_id(const nimc_model *m, double *id) {
  if (m->pack) {
    nimc_pack_id(m, id);
    return;
  }
  for (int i = 0; i < m->mesh->ncells; i++) {
    const nimc_cell_layout *l = nimc_model_cell_layout(m, i);
    const nimc_elec *el = class_elec(m, m->elec[i] + 1);
    for (int v = 0; v < NIMC_NVAR; v++)
      for (int k = 0; k < l->count[v]; k++)
        id[m->off[i] + l->off[v] + k] = vars[v].differential(el, k);
  }
  id[m->iV] = 0.0;
  id[m->iI] = 0.0;
  id[m->iQ] = 1.0;
  id[m->iE] = 1.0;
}

/* ---- the residual ---- */

int nimc_control_by_current(nimc_control_kind kind) {
  return kind == NIMC_CONTROL_CURRENT || kind == NIMC_CONTROL_SINE_CURRENT;
}

int nimc_model_set_control(nimc_model *m, const nimc_control *c) {
  if (!m || !c) return NIMC_EMISUSE;
  if (m->pack && !nimc_pack_control_ok(c->kind)) return NIMC_EINPUT;
  int ok;
  switch (c->kind) {
  case NIMC_CONTROL_CURRENT:
    ok = isfinite(c->i_set_A);
    break;
  case NIMC_CONTROL_VOLTAGE:
    ok = isfinite(c->v_set_V);
    break;
  case NIMC_CONTROL_SWEEP:
    ok = isfinite(c->v_set_V) && isfinite(c->sweep_rate_V_s) &&
         isfinite(c->t0_s);
    break;
  case NIMC_CONTROL_SINE_VOLTAGE:
  case NIMC_CONTROL_SINE_CURRENT:
    ok = isfinite(nimc_control_by_current(c->kind) ? c->i_set_A : c->v_set_V) &&
         isfinite(c->sine_amplitude) && isfinite(c->t0_s) &&
         isfinite(c->sine_omega_rad_s) && c->sine_omega_rad_s > 0.0;
    break;
  case NIMC_CONTROL_POWER: /* P = 0 would make I V = 0 a double root */
    ok = isfinite(c->p_set_W) && c->p_set_W != 0.0;
    break;
  case NIMC_CONTROL_RESISTANCE:
    ok = isfinite(c->r_load_ohm) && c->r_load_ohm > 0.0;
    break;
  case NIMC_CONTROL_DIODE:
    ok = isfinite(c->led_forward_current_A) && c->led_forward_current_A > 0.0 &&
         isfinite(c->led_forward_voltage_V) && c->led_forward_voltage_V > 0.0 &&
         isfinite(c->led_slope_V) && c->led_slope_V > 0.0 &&
         isfinite(c->led_series_ohm) && c->led_series_ohm >= 0.0;
    break;
  default:
    ok = 0;
  }
  if (!ok) return NIMC_EINPUT;
  m->control = *c;
  return NIMC_OK;
}

nimc_control nimc_model_get_control(const nimc_model *m) {
  return m->control;
}

double nimc_model_control_target(const nimc_model *m, double t) {
  const nimc_control *c = &m->control;
  double dt = t - c->t0_s;
  switch (c->kind) {
  case NIMC_CONTROL_CURRENT:
    return c->i_set_A;
  case NIMC_CONTROL_VOLTAGE:
    return c->v_set_V;
  case NIMC_CONTROL_SWEEP:
    return c->v_set_V + c->sweep_rate_V_s * dt;
  case NIMC_CONTROL_SINE_VOLTAGE:
    return c->v_set_V + c->sine_amplitude * sin(c->sine_omega_rad_s * dt);
  case NIMC_CONTROL_SINE_CURRENT:
    return c->i_set_A + c->sine_amplitude * sin(c->sine_omega_rad_s * dt);
  case NIMC_CONTROL_POWER:
    return c->p_set_W;
  case NIMC_CONTROL_RESISTANCE:
  case NIMC_CONTROL_DIODE:
    return 0.0;
  }
  return c->i_set_A;
}

/* Where the diode's exponential is continued linearly: 1e4 times the
 * forward current. */
#define DIODE_X_MAX 9.210340371976184 /* ln 1e4 */

double nimc_control_diode_current(const nimc_control *c, double x, double *dx) {
  /* Shockley's law scaled so that it passes through (V_f, i_f) exactly:
   * i_s (exp(V_d / slope) - 1) with i_s = i_f / (exp(V_f / slope) - 1) */
  double e0 = exp(-c->led_forward_voltage_V / c->led_slope_V);
  double scale = c->led_forward_current_A / (1.0 - e0);
  double g, dg;
  if (x <= DIODE_X_MAX) {
    g = dg = exp(x);
  } else {
    dg = exp(DIODE_X_MAX);
    g = dg * (1.0 + (x - DIODE_X_MAX));
  }
  if (dx) *dx = scale * dg;
  return scale * (g - e0);
}

/* Row of the cation balance of a cell: the concentration's own row, or,
 * where a double layer holds cations, the row of the cation content m
 * (the concentration's row then holds the relation m = eps c + N(q)). */
static int cation_row(const nimc_model *m, int cell) {
  int e = m->elec[cell];
  if (e >= 0 && m->el[e].has_dl) return m->off[cell] + m->el[e].im;
  return m->off[cell];
}

/* The same for the ternary electrolyte's second cation: its own row, or
 * the row of its content m2 (right after it) in a double-layer cell. */
static int cation2_row(const nimc_model *m, int cell) {
  return nimc_model_c2_index(m, cell) + cell_has_dl(m, cell);
}

/* Bernoulli function B(x) = x / (e^x - 1) and its derivative (the
 * Scharfetter-Gummel flux). */
static double bernoulli(double x, double *d) {
  if (fabs(x) < 1e-4) {
    *d = -0.5 + x / 6.0;
    return 1.0 - 0.5 * x + x * x / 12.0;
  }
  double ex = expm1(x), B = x / ex;
  *d = (ex - x * (ex + 1.0)) / (ex * ex);
  return B;
}

/* Ternary fluxes through a face between cells p and q, G = A / distance
 * with the Bruggeman factors.  Each ion's flux is Nernst-Planck,
 * N = -D (grad c + z mu f c grad phi), in Scharfetter-Gummel form:
 *   N = G D [B(x) c_p - B(-x) c_q],  x = z mu f (phi_q - phi_p),
 * exact for a constant flux between the two centres and never negative-
 * driving a concentration.  The anion's concentration is c1 + c2
 * (electroneutrality); the current is F (N1 + N2 - NA). */
static void ternary_face(const nimc_model *m, int p, int q, double G,
                         const double *y, double *F, jac_asm *J) {
  const nimc_electrolyte_params *ep = &m->dev->electrolyte;
  double T = m->T_K, fmu = m->mobility * NIMC_F / (NIMC_R * T);
  int op = m->off[p], oq = m->off[q];
  int c2p = nimc_model_c2_index(m, p), c2q = nimc_model_c2_index(m, q);
  int col_c1[2] = {op, oq}, col_c2[2] = {c2p, c2q};
  double cp[3] = {y[op], y[c2p], y[op] + y[c2p]};
  double cq[3] = {y[oq], y[c2q], y[oq] + y[c2q]};
  double cmean = 0.5 * (cp[0] + cq[0]);
  /* the diffusivities at the face's mean Na+ concentration */
  double dD[3] = {0.0, 0.0, 0.0};
  double D[3] = {
      nimc_law_eval(&ep->diffusivity, cmean, T, J ? &dD[0] : NULL),
      nimc_law_eval(&ep->diffusivity2, cmean, T, J ? &dD[1] : NULL),
      nimc_law_eval(&ep->diffusivity_anion, cmean, T, J ? &dD[2] : NULL)};
  const double z[3] = {1.0, 1.0, -1.0};
  double dphi = y[oq + 1] - y[op + 1];
  int rows[2][2] = {{cation_row(m, p), cation_row(m, q)},
                    {cation2_row(m, p), cation2_row(m, q)}};
  /* B at +-x for all three ions from one exponential: B(-a) = B(a) + a
   * and B'(-a) = -B'(a) - 1, taken at a = |x| >= 0 so that the sum never
   * cancels */
  double x0 = fmu * dphi, a = fabs(x0), dBa, Ba = bernoulli(a, &dBa);
  double Bpos[2] = {Ba, Ba + a}, dBpos[2] = {dBa, -dBa - 1.0}; /* at a, -a */
  for (int s = 0; s < 3; s++) {
    double K = G * D[s], x = z[s] * x0;
    int neg = x < 0.0; /* x = -a: B(x) is B at -a, B(-x) at a */
    double B = Bpos[neg], Bm = Bpos[!neg], dB = dBpos[neg], dBm = dBpos[!neg];
    double N = K * (B * cp[s] - Bm * cq[s]);
    if (!J) { /* the residual alone */
      if (s < 2) F[rows[s][0]] += N, F[rows[s][1]] -= N;
      F[op + 1] += z[s] * NIMC_F * N, F[oq + 1] -= z[s] * NIMC_F * N;
      continue;
    }
    double dN_dx = K * (dB * cp[s] + dBm * cq[s]);
    double dN_dcp = K * B, dN_dcq = -K * Bm;
    double dN_dphq = dN_dx * z[s] * fmu, dN_dphp = -dN_dphq;
    double dN_dD = 0.5 * G * dD[s] * (B * cp[s] - Bm * cq[s]); /* per c1 */
    /* the ion's balance rows (the anion has none: it follows from the
     * charge balance), and the charge balance with z F N */
    double w[4];
    int rr[4];
    int k = 0;
    if (s < 2) rr[k] = rows[s][0], w[k++] = 1.0;
    if (s < 2) rr[k] = rows[s][1], w[k++] = -1.0;
    rr[k] = op + 1, w[k++] = z[s] * NIMC_F;
    rr[k] = oq + 1, w[k++] = -z[s] * NIMC_F;
    for (int r = 0; r < k; r++) {
      F[rr[r]] += w[r] * N;
      put(J, rr[r], op + 1, w[r] * dN_dphp, 0);
      put(J, rr[r], oq + 1, w[r] * dN_dphq, 0);
      for (int side = 0; side < 2; side++) {
        double dc = side ? dN_dcq : dN_dcp;
        put(J, rr[r], col_c1[side], w[r] * ((s != 1 ? dc : 0.0) + dN_dD), 0);
        if (s != 0) put(J, rr[r], col_c2[side], w[r] * dc, 0);
      }
    }
  }
}

/* Row of the solid charge balance: dphi's own row, or, with a double
 * layer, q's row (dphi's row then holds q = Q(dphi)). */
static int solid_row(const nimc_model *m, int cell) {
  const nimc_elec *el = &m->el[m->elec[cell]];
  return m->off[cell] + (el->has_dl ? el->iq : 2);
}

/* Electrolyte fluxes through the internal faces (none through the
 * collectors): the cation balance and the charge balance of the
 * electrolyte. */
static void electrolyte_faces(const nimc_model *m, const double *y,
                              double *F, jac_asm *J, int *bad) {
  const nimc_mesh *me = m->mesh;
  const double Fc = NIMC_F;
  for (int f = 0; f < me->nfaces; f++) {
    int p = me->c0[f], q = me->c1[f];
    if (q < 0) continue; /* no electrolyte flux through collectors */
    int op = m->off[p], oq = m->off[q];
    int rp = cation_row(m, p), rq = cation_row(m, q);
    double G = me->area[f] / (me->d0[f] / m->beta[p] + me->d1[f] / m->beta[q]);
    if (m->tern) { /* linear in the concentrations: no singularity */
      ternary_face(m, p, q, G, y, F, J);
      continue;
    }
    double cp = y[op], cq = y[oq];
    if (!(cp > 0.0) || !(cq > 0.0)) {
      *bad = 1;
      cp = cp > 0.0 ? cp : 1e-12 * m->dev->electrolyte.c0_mol_m3;
      cq = cq > 0.0 ? cq : 1e-12 * m->dev->electrolyte.c0_mol_m3;
    }
    elyte e;
    elyte_eval(m, 0.5 * (cp + cq), J != NULL, &e);
    double dphi = y[oq + 1] - y[op + 1], L = log(cq) - log(cp), dc = cq - cp;
    double I = G * (-e.kap * dphi + e.kd * L);
    if (!J) { /* the residual alone */
      double N = -G * e.D * dc + e.t * I / Fc;
      F[rp] += N, F[rq] -= N;
      F[op + 1] += I, F[oq + 1] -= I;
      continue;
    }
    double dI_dcp = G * (-0.5 * e.dkap * dphi + 0.5 * e.dkd * L - e.kd / cp);
    double dI_dcq = G * (-0.5 * e.dkap * dphi + 0.5 * e.dkd * L + e.kd / cq);
    double dI_dpp = G * e.kap, dI_dpq = -G * e.kap;
    double N = -G * e.D * dc + e.t * I / Fc;
    double dN_dcp =
        G * (-0.5 * e.dD * dc + e.D) + (0.5 * e.dt * I + e.t * dI_dcp) / Fc;
    double dN_dcq =
        G * (-0.5 * e.dD * dc - e.D) + (0.5 * e.dt * I + e.t * dI_dcq) / Fc;
    double dN_dpp = e.t * dI_dpp / Fc, dN_dpq = e.t * dI_dpq / Fc;
    F[rp] += N, F[rq] -= N;
    F[op + 1] += I, F[oq + 1] -= I;
    put(J, rp, op, dN_dcp, 0), put(J, rp, oq, dN_dcq, 0);
    put(J, rp, op + 1, dN_dpp, 0), put(J, rp, oq + 1, dN_dpq, 0);
    put(J, rq, op, -dN_dcp, 0), put(J, rq, oq, -dN_dcq, 0);
    put(J, rq, op + 1, -dN_dpp, 0), put(J, rq, oq + 1, -dN_dpq, 0);
    put(J, op + 1, op, dI_dcp, 0), put(J, op + 1, oq, dI_dcq, 0);
    put(J, op + 1, op + 1, dI_dpp, 0), put(J, op + 1, oq + 1, dI_dpq, 0);
    put(J, oq + 1, op, -dI_dcp, 0), put(J, oq + 1, oq, -dI_dcq, 0);
    put(J, oq + 1, op + 1, -dI_dpp, 0), put(J, oq + 1, oq + 1, -dI_dpq, 0);
  }
}

/* Solid current through the faces inside an electrode and at the
 * collectors: the anode's at ground, the cathode's at the terminal
 * voltage behind the series resistance (its current enters V's row). */
static void solid_faces(const nimc_model *m, const double *y, double *F,
                        jac_asm *J) {
  const nimc_mesh *me = m->mesh;
  double V = y[m->iV], I = y[m->iI], Rc = m->r_series_ohm;
  for (int f = 0; f < me->nfaces; f++) {
    int p = me->c0[f], q = me->c1[f];
    int e = m->elec[p];
    if (e < 0) continue;
    int op = m->off[p], sp = solid_row(m, p);
    double phisp = y[op + 2] + y[op + 1];
    if (q >= 0) {
      if (m->elec[q] != e) continue;
      int oq = m->off[q], sq = solid_row(m, q);
      double Gs = m->el[e].sigma_eff * me->area[f] / (me->d0[f] + me->d1[f]);
      double Is = -Gs * (y[oq + 2] + y[oq + 1] - phisp);
      F[sp] += Is, F[sq] -= Is;
      put(J, sp, op + 2, Gs, 0), put(J, sp, op + 1, Gs, 0);
      put(J, sp, oq + 2, -Gs, 0), put(J, sp, oq + 1, -Gs, 0);
      put(J, sq, op + 2, -Gs, 0), put(J, sq, op + 1, -Gs, 0);
      put(J, sq, oq + 2, Gs, 0), put(J, sq, oq + 1, Gs, 0);
      continue;
    }
    double Gb = m->el[e].sigma_eff * me->area[f] / me->d0[f];
    if (me->btag[f] == NIMC_BOUNDARY_ANODE_CC) {
      F[sp] += Gb * phisp; /* collector at ground */
      put(J, sp, op + 2, Gb, 0), put(J, sp, op + 1, Gb, 0);
    } else if (me->btag[f] == NIMC_BOUNDARY_CATHODE_CC) {
      double out = -Gb * (V - I * Rc - phisp);
      F[sp] += out;
      F[m->iV] += out;
      put(J, sp, op + 2, Gb, 0), put(J, sp, op + 1, Gb, 0);
      put(J, sp, m->iV, -Gb, 0), put(J, sp, m->iI, Gb * Rc, 0);
      put(J, m->iV, op + 2, Gb, 0), put(J, m->iV, op + 1, Gb, 0);
      put(J, m->iV, m->iV, -Gb, 0), put(J, m->iV, m->iI, Gb * Rc, 0);
    }
  }
}

/* Storage of the dissolved cations in a cell without a double layer
 * (with one, the content m stores them: double_layer). */
static void electrolyte_storage(const nimc_model *m, int i, const double *yp,
                                double *F, jac_asm *J) {
  int o = m->off[i], cr = cation_row(m, i);
  double vol = m->mesh->vol[i], eps = m->eps[i];
  F[cr] += vol * eps * yp[o];
  put(J, cr, o, 0, vol * eps);
  if (m->tern) {
    int c2 = nimc_model_c2_index(m, i);
    F[c2] += vol * eps * yp[c2];
    put(J, c2, c2, 0, vol * eps);
  }
}

/* The interfacial current of a cell's double layers (A/m3) and its
 * derivatives: the charging of q and q2 (through yp), and the current
 * into the micropores, which depends on dphi and the outermost shell. */
typedef struct dl_current {
  double qdot;          /* q' + q2' */
  double rmp, drmp_dphi, drmp_dq; /* into the micropores */
  double drmp_db;       /* ... and its derivative in the blocked share */
} dl_current;

/* The double layer of electrode cell i: q = Q(dphi), the cation contents
 * m = eps c + x N(q) (and m2 of the ternary electrolyte's second cation)
 * with their storage, the slow branch, and the micropores' transmission
 * line; its current in *out. */
static void double_layer(const nimc_model *m, int i, const double *y,
                         const double *yp, double *F, jac_asm *J,
                         dl_current *out) {
  const nimc_elec *el = &m->el[m->elec[i]];
  int o = m->off[i];
  double vol = m->mesh->vol[i], eps = m->eps[i];
  double dphi = y[o + 2], c = y[o];
  int iq = o + el->iq, im = o + el->im;
  /* the share u of the surface left open by the side reaction's
   * products (ageing): the capacitances scale with it, the micropores'
   * conductance does not */
  int ib = el->iblock >= 0 ? o + el->iblock : -1;
  double u = ib >= 0 ? 1.0 - y[ib] : 1.0;
  double C, dN;
  double Q0 = dl_charge(m, el, dphi, &C);
  double Q = u * Q0;
  C *= u;
  double q2 = el->i2 >= 0 ? y[o + el->i2] : 0.0;
  double qmp = 0.0; /* micropore charge: sum of the shells' */
  for (int k = 0; k < el->nmp; k++)
    qmp += el->mp_meas[k] * y[o + el->imp + k];
  double Nq = dl_cations(el, y[iq] + q2 + qmp, &dN);
  F[o + 2] = y[iq] - Q;
  put(J, o + 2, iq, 1.0, 0), put(J, o + 2, o + 2, -C, 0);
  if (ib >= 0) put(J, o + 2, ib, Q0, 0);
  /* the cations of the double layer: in the ternary electrolyte
   * shared between Na+ and the ionic liquid's cation in proportion to
   * their local concentrations, x = c1 / (c1 + c2) */
  double x = 1.0, dx1 = 0.0, dx2 = 0.0;
  int c2 = -1;
  if (m->tern) {
    c2 = nimc_model_c2_index(m, i);
    double s1 = y[o], s2 = y[c2], tot = s1 + s2;
    if (tot > 0.0) {
      x = s1 / tot;
      dx1 = s2 / (tot * tot), dx2 = -s1 / (tot * tot);
    }
    F[c2] = y[c2 + 1] - eps * s2 - (1.0 - x) * Nq;
    put(J, c2, c2 + 1, 1.0, 0), put(J, c2, c2, -eps + dx2 * Nq, 0);
    put(J, c2, o, dx1 * Nq, 0), put(J, c2, iq, -(1.0 - x) * dN, 0);
    if (el->i2 >= 0) put(J, c2, o + el->i2, -(1.0 - x) * dN, 0);
    for (int k = 0; k < el->nmp; k++)
      put(J, c2, o + el->imp + k, -(1.0 - x) * dN * el->mp_meas[k], 0);
    F[c2 + 1] += vol * yp[c2 + 1];
    put(J, c2 + 1, c2 + 1, 0, vol);
  }
  F[o] = y[im] - eps * c - x * Nq;
  put(J, o, im, 1.0, 0), put(J, o, o, -eps - dx1 * Nq, 0);
  put(J, o, iq, -x * dN, 0);
  if (c2 >= 0) put(J, o, c2, -dx2 * Nq, 0);
  for (int k = 0; k < el->nmp; k++)
    put(J, o, o + el->imp + k, -x * dN * el->mp_meas[k], 0);
  F[im] += vol * yp[im];
  put(J, im, im, 0, vol);
  out->qdot = yp[iq];
  if (el->i2 >= 0) {
    /* slow branch: q2' = (dphi - pzc - q2 / C2) C2 / tau */
    int i2 = o + el->i2;
    double g2 = el->cap2_v / el->tau2_s;
    F[i2] = yp[i2] - g2 * (dphi - el->pzc) + q2 / el->tau2_s;
    put(J, i2, i2, 1.0 / el->tau2_s, 1.0), put(J, i2, o + 2, -g2, 0);
    put(J, o, i2, -x * dN, 0);
    out->qdot += yp[i2];
  }
  if (el->nmp > 0) {
    /* micropores: a transmission line across the slab particle, shell
     * k (from the centre) holding q_k per electrode volume at the
     * potential q_k / Cm; with tau = R^2 Cm / kappa_pore,
     *   meas_k q_k' = (1/tau) [w_k (q_{k+1} - q_k) - w_{k-1} (q_k - q_{k-1})]
     * and the outermost shell exchanging with the surface, held at
     * Cm (dphi - pzc).  The current into the micropores is what
     * crosses the surface (algebraic: the sum telescopes). */
    int i0 = o + el->imp, last = i0 + el->nmp - 1;
    /* blocked (u < 1): a shell's potential is q_k / (u Cm) */
    double rt = 1.0 / el->taump_s, Cm = el->capmp_v, ru = 1.0 / u;
    for (int k = 0; k < el->nmp; k++) {
      int r = i0 + k;
      double w = el->mp_w[k] * rt;
      F[r] += el->mp_meas[k] * yp[r];
      put(J, r, r, w * ru, el->mp_meas[k]);
      if (k + 1 < el->nmp) {
        double fl = w * ru * (y[r] - y[r + 1]); /* outward, to shell k+1 */
        F[r] += fl, F[r + 1] -= fl;
        put(J, r, r + 1, -w * ru, 0);
        put(J, r + 1, r, -w * ru, 0), put(J, r + 1, r + 1, w * ru, 0);
        if (ib >= 0) put(J, r, ib, fl * ru, 0), put(J, r + 1, ib, -fl * ru, 0);
      } else {
        F[r] += w * (y[r] * ru - Cm * (dphi - el->pzc));
        put(J, r, o + 2, -w * Cm, 0);
        if (ib >= 0) put(J, r, ib, w * y[r] * ru * ru, 0);
      }
    }
    double ws = el->mp_w[el->nmp - 1] * rt;
    out->rmp = ws * (Cm * (dphi - el->pzc) - y[last] * ru);
    out->drmp_dphi = ws * Cm, out->drmp_dq = -ws * ru;
    out->drmp_db = -ws * y[last] * ru * ru;
  }
}

/* The faradaic current density j_F of an intercalation cell, an unknown
 * held by j_F = BV(dphi - U - R_f j_F); returns j_F, *bad set when the
 * kinetics left their range. */
static double faradaic(const nimc_model *m, int i, const double *y, double *F,
                       jac_asm *J, int *bad) {
  const nimc_elec *el = &m->el[m->elec[i]];
  const nimc_electrode_params *p = el->p;
  int o = m->off[i], ij = o + el->ij;
  /* the film: as made, and grown by the side reaction's charge s and by
   * the sodium trapped in it, t */
  int is = el->ifilm >= 0 ? o + el->ifilm : -1;
  int it = el->itrap >= 0 ? o + el->itrap : -1;
  double Rf = p->film_ohm_m2, jb = 0, djb = 0, dj_dc = 0, dj_dcs = 0;
  if (is >= 0) Rf += p->sr_film_ohm_m4_C * y[is];
  if (it >= 0) Rf += p->sr_film_ohm_m4_C * y[it];
  double jF = y[ij];
  if (bv_eval(m, el, y[o + 2] - Rf * jF, y[o], y[o + el->is], J != NULL, &jb,
              &djb, &dj_dc, &dj_dcs))
    *bad = 1;
  F[ij] = jF - jb;
  put(J, ij, ij, 1.0 + Rf * djb, 0), put(J, ij, o + 2, -djb, 0);
  put(J, ij, o, -dj_dc, 0), put(J, ij, o + el->is, -dj_dcs, 0);
  if (is >= 0) put(J, ij, is, djb * jF * p->sr_film_ohm_m4_C, 0);
  if (it >= 0) put(J, ij, it, djb * jF * p->sr_film_ohm_m4_C, 0);
  return jF;
}

/* The particle of an intercalation cell: the surface condition (the
 * flux jF / F leaves through the surface) and the shell balances in the
 * dimensionless radius. */
static void particle(const nimc_model *m, int i, double jF, const double *y,
                     const double *yp, double *F, jac_asm *J) {
  const nimc_elec *el = &m->el[m->elec[i]];
  const nimc_electrode_params *p = el->p;
  const double Fc = NIMC_F;
  int o = m->off[i];
  int ns = el->ns, is = o + el->is, i0 = is + 1;
  double Rp = p->particle_radius_m, cmax = p->c_max_mol_m3;
  double dD = 0.0, D; /* dD only for the Jacobian */
  {
    double csf = y[is], cl = y[i0 + ns - 1];
    D = nimc_law_eval(&p->solid_diffusivity, 0.5 * (csf + cl) / cmax, m->T_K,
                      J ? &dD : NULL);
    double g = 1.0 / ((1.0 - el->rho_mid[ns - 1]) * Rp);
    double Fs = D * g * (csf - cl) + jF / Fc;
    F[is] += Fs;
    double dgrad = 0.5 * dD / cmax * g * (csf - cl);
    put(J, is, is, D * g + dgrad, 0);
    put(J, is, i0 + ns - 1, -D * g + dgrad, 0);
    put(J, is, o + el->ij, 1.0 / Fc, 0);
  }
  for (int k = 0; k < ns; k++) {
    int r = i0 + k;
    F[r] += el->shell_meas[k] * yp[r];
    put(J, r, r, 0, el->shell_meas[k]);
    /* flux through the outer face of shell k into shell k+1 (or surface) */
    int rn = k + 1 < ns ? r + 1 : is;
    double cn = y[rn], ck = y[r];
    D = nimc_law_eval(&p->solid_diffusivity, 0.5 * (cn + ck) / cmax, m->T_K,
                      J ? &dD : NULL);
    double w = el->shell_w[k];
    double flux = -D * w * (cn - ck); /* outward, per unit measure */
    double dfl_dck = D * w - 0.5 * dD / cmax * w * (cn - ck);
    double dfl_dcn = -D * w - 0.5 * dD / cmax * w * (cn - ck);
    F[r] += flux;
    put(J, r, r, dfl_dck, 0), put(J, r, rn, dfl_dcn, 0);
    if (k + 1 < ns) {
      F[rn] -= flux;
      put(J, rn, r, -dfl_dck, 0), put(J, rn, rn, -dfl_dcn, 0);
    }
  }
}

/* The side reaction of electrode cell i (ageing, docs/model.md): on an
 * intercalation solid a reduction of the ionic liquid's cation (the
 * ternary electrolyte loses it; a binary one tracks no such species)
 * whose charge s per m2 grows a film, s' = i0 exp(-f (E - E_sr)); on a
 * capacitive surface an oxidation of the anion (implied by
 * electroneutrality) on the open share u = 1 - b of the surface, whose
 * products block it, b' = u i0 exp(f (E - E_sr)) / q_block.  *r is the
 * current per electrode volume (anodic positive), *dr its derivative in E
 * and *drb in b. */
static void side_reaction(const nimc_model *m, int i, const double *y,
                          const double *yp, double *F, jac_asm *J, double *r,
                          double *dr, double *drb) {
  const nimc_elec *el = &m->el[m->elec[i]];
  int o = m->off[i];
  double E = y[o + 2], f = el->sr_f, dE = E - el->p->sr_E_V;
  if (el->has_int) {
    int is = o + el->ifilm;
    double j = el->sr_i0 > 0.0 ? el->sr_i0 * exp(-f * dE) : 0.0; /* A/m2, cathodic */
    *r = -el->sr_a * j, *dr = f * el->sr_a * j;
    F[is] = yp[is] - j;
    put(J, is, is, 0, 1.0), put(J, is, o + 2, f * j, 0);
    if (m->tern) {
      int cr2 = cation2_row(m, i);
      double vol = m->mesh->vol[i];
      F[cr2] -= vol * *r / NIMC_F;
      put(J, cr2, o + 2, -vol * *dr / NIMC_F, 0);
    }
    return;
  }
  int ib = o + el->iblock;
  double u = 1.0 - y[ib], qb = el->p->sr_block_C_m2;
  /* A/m2 of open surface, anodic (none when only trapping is on) */
  double j = el->sr_i0 > 0.0 ? el->sr_i0 * exp(f * dE) : 0.0;
  *r = el->sr_a * u * j, *dr = f * *r, *drb = -el->sr_a * j;
  F[ib] = yp[ib] - u * j / qb;
  put(J, ib, ib, j / qb, 1.0), put(J, ib, o + 2, -f * u * j / qb, 0);
}

/* The width (A/m3) over which trapping turns on with the charging current:
 * some 1e-3 of the charging current of the NIMC's slowest test (0.1
 * mA/cm2 is about 3e5 A/m3 of cathode). */
#define TRAP_RAMP_A_M3 300.0

/* max(x, 0) with its corner rounded over [0, w] by a parabola, x^2 / (2 w),
 * so that the residual has a continuous derivative (*d), and exactly 0
 * for x <= 0: nothing is trapped at rest. */
static double ramp(double x, double *d) {
  const double w = TRAP_RAMP_A_M3;
  if (x <= 0.0) return *d = 0.0, 0.0;
  if (x >= w) return *d = 1.0, x - 0.5 * w;
  *d = x / w;
  return 0.5 * x * x / w;
}

/* Trapping in an intercalation solid (ageing, docs/model.md): a share
 * kappa of the sodium it takes up -- its faradaic current x = -a j_F, when
 * cathodic -- is lost to the film on its surface (the SEI the particle's
 * swelling cracks open): r = -kappa ramp(x) per electrode volume, a Na+
 * taken from the electrolyte per electron, and the trapped charge t per
 * m2 of surface grows, t' = -r / a, and with it the film's resistance.  Adds r to
 * *R and its derivatives to the rows of charge, of the cations and of t. */
static void trapping_solid(const nimc_model *m, int i, double *F, jac_asm *J,
                           const double *y, double *R) {
  const nimc_elec *el = &m->el[m->elec[i]];
  int o = m->off[i], it = o + el->itrap, sr = solid_row(m, i);
  int cr = cation_row(m, i);
  double dx, x = -el->a * y[o + el->ij];
  double r = -el->sr_trap * ramp(x, &dx);
  /* d r / d j_F = -kappa ramp'(x) dx/dj_F, dx/dj_F = -a */
  double dr = el->sr_trap * dx * el->a;
  double vol = m->mesh->vol[i];
  *R += r;
  F[cr] -= vol * r / NIMC_F;
  F[it] += r / el->a;
  int rows[4] = {o + 1, sr, cr, it};
  double sc[4] = {-vol, vol, -vol / NIMC_F, 1.0 / el->a};
  for (int k = 0; k < 4; k++) put(J, rows[k], o + el->ij, sc[k] * dr, 0);
}

/* Trapping on a capacitive surface (ageing, docs/model.md): a share kappa
 * of the anions the surface takes up while it charges -- its net
 * capacitive current x = q' + q2' + (into the micropores), when anodic --
 * stays in the pores, passed but not stored, and blocks the surface as
 * the oxidation's products do: r = kappa ramp(x) per electrode volume,
 * b' += r / (a q_block).  Adds r to *R and its derivatives to the rows
 * of charge (the electrolyte's and the solid's) and of b. */
static void trapping(const nimc_model *m, int i, const dl_current *dl,
                     double *F, jac_asm *J, double *R) {
  const nimc_elec *el = &m->el[m->elec[i]];
  int o = m->off[i], ib = o + el->iblock, sr = solid_row(m, i);
  double dx, r = el->sr_trap * ramp(dl->qdot + dl->rmp, &dx);
  double dr = el->sr_trap * dx; /* d r / d x */
  double vol = m->mesh->vol[i], g = 1.0 / (el->sr_a * el->p->sr_block_C_m2);
  *R += r;
  F[ib] -= g * r;
  int rows[3] = {o + 1, sr, ib};
  double sc[3] = {-vol, vol, -g};
  for (int k = 0; k < 3; k++) {
    double d = sc[k] * dr;
    put(J, rows[k], o + el->iq, 0, d);
    if (el->i2 >= 0) put(J, rows[k], o + el->i2, 0, d);
    if (el->nmp > 0) {
      put(J, rows[k], o + 2, d * dl->drmp_dphi, 0);
      put(J, rows[k], o + el->imp + el->nmp - 1, d * dl->drmp_dq, 0);
      put(J, rows[k], ib, d * dl->drmp_db, 0);
    }
  }
}

/* The terms of electrode cell i: its double layer, leakage and faradaic
 * reaction, their current R (A/m3) leaving the electrolyte's charge
 * balance for the solid's, the cations the solid takes in, and its
 * particle. */
static void electrode_cell(const nimc_model *m, int i, const double *y,
                           const double *yp, double *F, jac_asm *J,
                           int *bad) {
  const nimc_elec *el = &m->el[m->elec[i]];
  const nimc_electrode_params *p = el->p;
  int o = m->off[i], cr = cation_row(m, i), sr = solid_row(m, i);
  double vol = m->mesh->vol[i], dphi = y[o + 2];
  dl_current dl = {0};
  if (el->has_dl) double_layer(m, i, y, yp, F, J, &dl);
  /* leakage */
  double rlk = 0.0, drlk = 0.0;
  if (p->leak_A_m3 > 0.0) {
    double fl = NIMC_F / (p->leak_n * NIMC_R * m->T_K);
    rlk = p->leak_A_m3 * exp(fl * (dphi - p->leak_E_V));
    drlk = fl * rlk;
  }
  double jF = el->has_int ? faradaic(m, i, y, F, J, bad) : 0.0;
  double rF = el->has_int ? el->a * jF : 0.0;
  /* ageing: the side reaction's current rsr (A/m3) and the growth of
   * what it leaves (film charge or blocked share) */
  double rsr = 0.0, drsr = 0.0, drsr_db = 0.0;
  if (el->sr) side_reaction(m, i, y, yp, F, J, &rsr, &drsr, &drsr_db);
  /* charge: electrolyte gets -V R, solid gets +V R */
  double R = rF + dl.qdot + rlk + dl.rmp + rsr;
  /* the trapping's current and its derivatives go in at once */
  double rtrap = 0.0;
  if (el->itrap >= 0) {
    F[o + el->itrap] = yp[o + el->itrap];
    put(J, o + el->itrap, o + el->itrap, 0, 1.0);
    trapping_solid(m, i, F, J, y, &rtrap);
  } else if (el->sr && el->sr_trap > 0.0) {
    trapping(m, i, &dl, F, J, &rtrap);
  }
  R += rtrap;
  F[o + 1] -= vol * R;
  F[sr] += vol * R;
  for (int sg = -1; sg <= 1; sg += 2) {
    int row = sg < 0 ? o + 1 : sr;
    put(J, row, o + 2, sg * vol * (drlk + dl.drmp_dphi + drsr), 0);
    if (el->iblock >= 0)
      put(J, row, o + el->iblock, sg * vol * (drsr_db + dl.drmp_db), 0);
    if (el->nmp > 0)
      put(J, row, o + el->imp + el->nmp - 1, sg * vol * dl.drmp_dq, 0);
    if (el->has_dl) put(J, row, o + el->iq, 0, sg * vol);
    if (el->i2 >= 0) put(J, row, o + el->i2, 0, sg * vol);
    if (el->has_int) put(J, row, o + el->ij, sg * vol * el->a, 0);
  }
  if (!el->has_int) return;
  /* cations inserted into the solid leave the electrolyte */
  F[cr] -= vol * rF / NIMC_F;
  put(J, cr, o + el->ij, -vol * el->a / NIMC_F, 0);
  particle(m, i, jF, y, yp, F, J);
}

double nimc_model_control_row(const nimc_model *m, double t, double V,
                              double I_A, double *dI, double *dV) {
  double I = I_A;
  /* the controlled quantity (I or V) minus its target; a power holds
   * I V, a load I + V / R (a current, like the current controls, so that
   * the row is scaled alike) */
  const nimc_control *c = &m->control;
  double target = nimc_model_control_target(m, t);
  if (c->kind == NIMC_CONTROL_POWER) {
    *dI = V, *dV = I;
    return I * V - target;
  }
  if (c->kind == NIMC_CONTROL_RESISTANCE) {
    *dI = 1.0, *dV = 1.0 / c->r_load_ohm;
    return I + V / c->r_load_ohm;
  }
  if (c->kind == NIMC_CONTROL_DIODE) {
    /* a current too: I plus what the LED draws at its junction voltage
     * V_d = V + I R_s (the row is smooth, its slope in V the diode's
     * conductance, never an exponential of an unbounded argument) */
    double x = (V + I * c->led_series_ohm - c->led_forward_voltage_V) /
               c->led_slope_V;
    double dx, f = I + nimc_control_diode_current(c, x, &dx);
    *dV = dx / c->led_slope_V;
    *dI = 1.0 + *dV * c->led_series_ohm;
    return f;
  }
  int by_current = nimc_control_by_current(c->kind);
  *dI = by_current ? 1.0 : 0.0, *dV = by_current ? 0.0 : 1.0;
  return (by_current ? I : V) - target;
}

/* The global rows: the terminal current closes V's row, the control row
 * holds the controlled quantity, and Q and E integrate I and I V. */
static void global_rows(const nimc_model *m, double t, const double *y,
                        const double *yp, double *F, jac_asm *J) {
  double V = y[m->iV], I = y[m->iI], dI, dV, Rc = m->r_series_ohm;
  /* the terminal current I, through the lumped series resistance Rc,
   * feeds the electrodes and, with [device] shunt_resistance, a leakage
   * path across the cell inside Rc ((V - I Rc) / R_sh: through the gel or
   * substrate from collector to collector), so that a rest (I = 0)
   * discharges through it */
  double gs = m->g_shunt_S;
  F[m->iV] += I - gs * (V - I * Rc);
  put(J, m->iV, m->iI, 1.0 + gs * Rc, 0);
  put(J, m->iV, m->iV, -gs, 0);
  F[m->iI] = nimc_model_control_row(m, t, V, I, &dI, &dV);
  put(J, m->iI, m->iI, dI, 0);
  put(J, m->iI, m->iV, dV, 0);
  F[m->iQ] = yp[m->iQ] - I;
  put(J, m->iQ, m->iQ, 0, 1.0), put(J, m->iQ, m->iI, -1.0, 0);
  F[m->iE] = yp[m->iE] - I * V;
  put(J, m->iE, m->iE, 0, 1.0), put(J, m->iE, m->iI, -V, 0);
  put(J, m->iE, m->iV, -I, 0);
}

/* The whole residual, and with J the Jacobian: faces, then cells, then
 * the global rows (each term adds to F in this order). */
static void assemble(const nimc_model *m, double t, const double *y,
                     const double *yp, double *F, jac_asm *J, int *bad) {
  memset(F, 0, sizeof(double) * m->n);
  electrolyte_faces(m, y, F, J, bad);
  solid_faces(m, y, F, J);
  for (int i = 0; i < m->mesh->ncells; i++) {
    int e = m->elec[i];
    if (e < 0 || !m->el[e].has_dl) electrolyte_storage(m, i, yp, F, J);
    if (e >= 0) electrode_cell(m, i, y, yp, F, J, bad);
  }
  global_rows(m, t, y, yp, F, J);
}

int nimc_model_eval(const nimc_model *m, double t, const double *y,
                    const double *yp, double *F, double cj,
                    double *jac_values) {
  int bad = 0;
  if (m->pack) return nimc_pack_eval(m, t, y, yp, F, cj, jac_values);
  if (jac_values) {
    jac_asm J = {0};
    J.m = m;
    J.val = jac_values;
    J.cj = cj;
    memset(jac_values, 0, sizeof(double) * m->nnz);
    assemble(m, t, y, yp, F, &J, &bad);
  } else {
    assemble(m, t, y, yp, F, NULL, &bad);
  }
  return bad;
}

/* For the impedance, each contribution to the two Jacobians is quantized
 * to 40 significant bits (a relative change below 1e-12) before it is
 * summed.  The reason is conservation: a conductance G between two cells
 * enters the rows as +G and -G, and the diagonal of a row is the sum of
 * its faces' G.  In double precision fl(G1 + G2) - G1 - G2 is not zero but
 * a residue of order eps G, a spurious conductance from every cell to the
 * absolute potential.  At low frequency the potentials are large (|Z| dI),
 * and a metallic solid on a fine mesh then leaks enough to shift Z by
 * 1e-3 or more at 1 mHz.  Quantized contributions add exactly, so every
 * row of the linearisation conserves charge exactly and is invariant under
 * a shift of all potentials, as the equations are. */
int nimc_model_jacobians(const nimc_model *m, double t, const double *y,
                         const double *yp, double *F, double *dfdy,
                         double *dfdyp) {
  int bad = 0;
  if (m->pack) return nimc_pack_jacobians(m, t, y, yp, F, dfdy, dfdyp);
  jac_asm J = {0};
  J.m = m;
  J.val = dfdy;
  J.valp = dfdyp;
  J.cj = 0.0;
  memset(dfdy, 0, sizeof(double) * m->nnz);
  memset(dfdyp, 0, sizeof(double) * m->nnz);
  assemble(m, t, y, yp, F, &J, &bad);
  return bad;
}

void nimc_model_potential_columns(const nimc_model *m, int cell, int64_t *phie,
                                  int64_t *dphi, int64_t *term) {
  if (m->pack) {
    nimc_pack_potential_columns(m, cell, phie, dphi, term);
    return;
  }
  *phie = m->off[cell] + 1;
  *dphi = m->elec[cell] >= 0 ? m->off[cell] + 2 : -1;
  *term = m->elec[cell] == 1 ? m->iV : -1;
}

/* ---- inventories for conservation checks ---- */

double nimc_model_cell_reaction(const nimc_model *m, int cell, const double *y,
                                const double *yp) {
  if (m->pack) return nimc_pack_cell_reaction(m, cell, y, yp);
  int e = m->elec[cell];
  if (e < 0) return 0.0;
  const nimc_elec *el = &m->el[e];
  const double *yc = y + m->off[cell], *ypc = yp + m->off[cell];
  double R = 0.0;
  if (el->has_dl) R += ypc[el->iq];
  if (el->i2 >= 0) R += ypc[el->i2];
  if (el->nmp > 0)
    R += el->mp_w[el->nmp - 1] / el->taump_s *
         (el->capmp_v * (yc[2] - el->pzc) - yc[el->imp + el->nmp - 1]);
  if (el->has_int) R += el->a * yc[el->ij];
  if (el->p->leak_A_m3 > 0.0)
    R += el->p->leak_A_m3 * exp(NIMC_F * (yc[2] - el->p->leak_E_V) /
                                (el->p->leak_n * NIMC_R * m->T_K));
  return R;
}

double nimc_model_min_concentration(const nimc_model *m, const double *y) {
  if (m->pack) return nimc_pack_min_concentration(m, y);
  double c = INFINITY;
  for (int i = 0; i < m->mesh->ncells; i++)
    if (y[m->off[i]] < c) c = y[m->off[i]];
  return c;
}

/* Is x in (lo, hi), and, with a reference r, no closer to either bound
 * than half of r's distance? */
static int within(double x, double r, double lo, double hi, int have_ref) {
  if (!(x > lo && x < hi)) return 0;
  return !have_ref || (x - lo >= 0.5 * (r - lo) && hi - x >= 0.5 * (hi - r));
}

int nimc_model_state_near(const nimc_model *m, const double *y,
                          const double *yr) {
  int ref = yr != NULL;
  if (!yr) yr = y;
  if (m->pack) return nimc_pack_min_concentration(m, y) > 0.0;
  for (int i = 0; i < m->mesh->ncells; i++) {
    int o = m->off[i];
    if (!within(y[o], yr[o], 0.0, INFINITY, ref)) return 0;
    int k = nimc_model_c2_index(m, i);
    if (k >= 0 && !within(y[k], yr[k], 0.0, INFINITY, ref)) return 0;
    int e = m->elec[i];
    if (e < 0) continue;
    const nimc_elec *el = &m->el[e];
    double cm = el->has_int ? el->p->c_max_mol_m3 : 1.0;
    for (int j = 0; el->has_int && j <= el->ns; j++)
      if (!within(y[o + el->is + j] / cm, yr[o + el->is + j] / cm, 0.0, 1.0,
                  ref))
        return 0;
    if (el->ifilm >= 0 && !(y[o + el->ifilm] >= 0.0)) return 0;
    if (el->itrap >= 0 && !(y[o + el->itrap] >= 0.0)) return 0;
    if (el->iblock >= 0 &&
        !(y[o + el->iblock] >= 0.0 &&
          within(y[o + el->iblock], yr[o + el->iblock], -INFINITY, 1.0, ref)))
      return 0;
  }
  return 1;
}


double nimc_model_il_cation_inventory(const nimc_model *m, const double *y) {
  if (m->pack) return nimc_pack_il_cation_inventory(m, y);
  double n = 0.0;
  for (int i = 0; i < m->mesh->ncells && m->tern; i++) {
    int k = nimc_model_c2_index(m, i);
    n += m->mesh->vol[i] * (cell_has_dl(m, i) ? y[k + 1] : m->eps[i] * y[k]);
  }
  return n;
}

/* Sodium in the particles of a cell, per electrode volume (mol/m3). */
static double solid_sodium(const nimc_elec *el, const double *yc) {
  double ns = 0.0;
  for (int k = 0; k < el->ns; k++)
    ns += el->shell_meas[k] * yc[el->is + 1 + k];
  return ns * el->p->active_fraction / el->particle_meas;
}

double nimc_model_electrode_charge(const nimc_model *m, int e,
                                   const double *y) {
  if (m->pack) return nimc_pack_electrode_charge(m, e, y);
  const nimc_elec *el = &m->el[e];
  double q = 0.0;
  for (int i = 0; i < m->mesh->ncells; i++) {
    if (m->elec[i] != e) continue;
    const double *yc = y + m->off[i];
    double vol = m->mesh->vol[i];
    if (el->has_dl) q += vol * yc[el->iq];
    if (el->i2 >= 0) q += vol * yc[el->i2];
    for (int k = 0; k < el->nmp; k++)
      q += vol * el->mp_meas[k] * yc[el->imp + k];
    /* sodium inserted beyond the as-made content carries negative charge
     * into the solid */
    if (el->has_int)
      q -= NIMC_F * vol *
           (solid_sodium(el, yc) -
            el->p->active_fraction * el->p->c_max_mol_m3 * el->p->theta0);
  }
  return q;
}

double nimc_model_side_charge(const nimc_model *m, int e, const double *y) {
  if (m->pack) return 0.0;
  const nimc_elec *el = &m->el[e];
  if (!el->sr) return 0.0;
  double q = 0.0;
  for (int i = 0; i < m->mesh->ncells; i++) {
    if (m->elec[i] != e) continue;
    const double *yc = y + m->off[i];
    double v = m->mesh->vol[i] * el->sr_a;
    /* the film holds s C/m2 and the trapped sodium t C/m2; a blocked
     * share b took q_block b C/m2 */
    if (el->has_int)
      q -= v * (yc[el->ifilm] + (el->itrap >= 0 ? yc[el->itrap] : 0.0));
    else
      q += v * el->p->sr_block_C_m2 * yc[el->iblock];
  }
  return q;
}

double nimc_model_cation_inventory(const nimc_model *m, const double *y) {
  if (m->pack) return nimc_pack_cation_inventory(m, y);
  double n = 0.0;
  for (int i = 0; i < m->mesh->ncells; i++) {
    int e = m->elec[i];
    const double *yc = y + m->off[i];
    double vol = m->mesh->vol[i];
    if (e >= 0 && m->el[e].has_dl)
      n += vol * yc[m->el[e].im];
    else
      n += vol * m->eps[i] * yc[0];
    if (e >= 0 && m->el[e].has_int) n += vol * solid_sodium(&m->el[e], yc);
    /* the sodium trapped in it (ageing) */
    if (e >= 0 && m->el[e].itrap >= 0)
      n += vol * m->el[e].a * yc[m->el[e].itrap] / NIMC_F;
  }
  return n;
}
