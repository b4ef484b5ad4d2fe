/*
 * eis.c -- the impedance of a simulated device: its operating point and
 * the linearised response around it.
 *
 * The operating point is a state of the simulation: what an experiment
 * left, or a steady state reached by holding a voltage (nimc_sim_settle,
 * an ordinary potentiostatic hold integrated by IDA until the state stops
 * moving over the slowest time scale of interest).  Nothing is assumed
 * about which unknowns are conserved: the time integration finds the
 * steady state that the history leads to, as a potentiostat does before a
 * measurement.
 *
 * The impedance is the DAE's small-signal response at that state:
 * F(t, y, y') = 0 with the current set to I0 + dI e^{jwt} gives
 *   (dF/dy + j w dF/dy') dy = e_I dI,
 * e_I the row of the control equation I - i_set = 0 (the control is taken
 * as galvanostatic for the linearisation; potentiostatic control gives the
 * same Z = dV/dI, the ratio of the same two unknowns).  The two Jacobians
 * come from the model's own analytic assembly (nimc_model_jacobians), so
 * the impedance is exact for the discretised equations: no finite
 * differences, no time-domain sine.  One complex solve per frequency by
 * KLU (solver/zsolve.c), the symbolic analysis done once per spectrum.
 *
 * Unknowns of the linear system.  At low frequency the potentials are
 * large (the electrolyte floats with the double layers, |Z| dI volts) while
 * their differences inside a phase, which carry the currents, are small.
 * Written in the model's unknowns (phi_e in every cell, dphi = phi_s -
 * phi_e in the electrodes), a solid potential is the difference of two
 * large numbers, and in double precision the solution then carries errors
 * of eps |Z| dI volts that the solid's conductances G_s turn into spurious
 * currents: a relative error of about G_s eps |Z| in Z, which for a
 * metallic film on a fine mesh is 1e-3 and more at 1 mHz, and the
 * refinement of solver/zsolve.c stops converging.  So the linear system is
 * solved, by the substitution x = T x', for potentials that are small:
 *   Phi         the electrolyte potential of one reference cell (cell 0);
 *   phi_e - Phi the electrolyte potential of every other cell;
 *   psi         the solid potential relative to the terminal it is
 *               connected to (0 for the grounded negative electrode, V for
 *               the positive one): dphi = psi + phi_term - phi_e.
 * The equations do not change when every potential shifts together, so
 * in the conduction rows the columns of Phi and V of A T add up to zero,
 * exactly so because the linearisation is quantized (nimc_model_jacobians)
 * and those entries are dropped.  What remains of the columns of Phi and V
 * (the double-layer relations, the collectors) is ordered last by the
 * factorisation, where it makes no fill.  The output V itself is untouched
 * by T.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/constants.h"
#include "model/model.h"
#include "protocol/sim.h"
#include "solver/solver.h"
#include "solver/zsolve.h"

double nimc_sim_drift(nimc_sim *sim, double t_scale_s, double rel_tol) {
  return nimc_solver_drift(nimc_sim_solver(sim), t_scale_s, rel_tol);
}

int nimc_sim_at_rest(nimc_sim *sim) {
  nimc_model *m = nimc_sim_model(sim);
  nimc_solver *sv = nimc_sim_solver(sim);
  nimc_control open_circuit = {.kind = NIMC_CONTROL_CURRENT, .i_set_A = 0.0};
  nimc_model_set_control(m, &open_circuit); /* cannot fail */
  if (nimc_solver_restart(sv, nimc_sim_time(sim), 0, NULL, NULL, NULL) ||
      nimc_solver_derivatives_at(sv, nimc_sim_time(sim)))
    return nimc_sim_fail(sim, NIMC_ESOLVER,
                         "open circuit at t = %.6g s: the consistent "
                         "initialisation failed: %s",
                         nimc_sim_time(sim), nimc_solver_errmsg(sv));
  return NIMC_OK;
}

int nimc_sim_settle(nimc_sim *sim, double V, double t_scale_s, double rel_tol,
                    double max_time_s, double *settle_time_s) {
  nimc_model *m = nimc_sim_model(sim);
  nimc_solver *sv = nimc_sim_solver(sim);
  double t0 = nimc_sim_time(sim), t = t0;
  if (settle_time_s) *settle_time_s = 0.0;
  if (!(isfinite(V) && isfinite(t_scale_s) && t_scale_s > 0.0 &&
        rel_tol > 0.0 && max_time_s > 0.0))
    return nimc_sim_fail(sim, NIMC_EINPUT,
                         "settle: voltage, time scale, tolerance and time "
                         "limit must be finite and positive");
  nimc_control hold = {.kind = NIMC_CONTROL_VOLTAGE, .v_set_V = V, .t0_s = t0};
  nimc_model_set_control(m, &hold); /* V was checked finite above */
  if (nimc_solver_restart(sv, t0, 0, NULL, NULL, NULL))
    return nimc_sim_fail(sim, NIMC_ESOLVER,
                         "holding at %.6g V to reach the operating point: "
                         "cannot start: %s",
                         V, nimc_solver_errmsg(sv));
  double drift = nimc_solver_drift(sv, t_scale_s, rel_tol);
  while (!(drift <= 1.0)) {
    int ev = 0;
    int rc = nimc_solver_step(sv, t0 + max_time_s, &t, &ev);
    nimc_sim_set_time(sim, t);
    if (rc)
      return nimc_sim_fail(sim, NIMC_ESOLVER,
                           "holding at %.6g V to reach the operating point "
                           "failed at t = %.6g s: %s",
                           V, t, nimc_solver_errmsg(sv));
    drift = nimc_solver_drift(sv, t_scale_s, rel_tol);
    if (ev == 2 && !(drift <= 1.0))
      return nimc_sim_fail(
          sim, NIMC_ESOLVER,
          "holding at %.6g V: not steady after %.6g s (the state still "
          "moves %.3g times the tolerance %g over %.6g s)",
          V, max_time_s, drift, rel_tol, t_scale_s);
  }
  if (settle_time_s) *settle_time_s = t - t0;
  return NIMC_OK;
}

/* The substitution x = T x' of the unknowns (see the essay above): each
 * model unknown c is a signed sum of at most XT new unknowns.  New
 * unknowns reuse the indices of the model's: the column of dphi holds psi,
 * the column of phi_e holds phi_e - Phi, and the phi_e column of the
 * reference cell holds Phi itself. */
#define XT 4
typedef struct subst {
  int nt;
  int64_t tgt[XT];
  double coef[XT];
} subst;

static void subst_add(subst *s, int64_t t, double c) {
  if (t >= 0) s->tgt[s->nt] = t, s->coef[s->nt++] = c;
}

/* T for model m; the reference cell's phi_e column into *phi_ref. */
static subst *subst_build(const nimc_model *m, int64_t *phi_ref) {
  subst *T = calloc((size_t)m->n, sizeof *T);
  if (!T) return NULL;
  for (int64_t i = 0; i < m->n; i++)
    subst_add(&T[i], i, 1.0);
  int64_t ref, dref, tref;
  nimc_model_potential_columns(m, 0, &ref, &dref, &tref);
  *phi_ref = ref;
  for (int c = 0; c < m->mesh->ncells; c++) {
    int64_t pe, dp, tm;
    nimc_model_potential_columns(m, c, &pe, &dp, &tm);
    if (pe != ref) subst_add(&T[pe], ref, 1.0);
    if (dp < 0) continue;
    subst_add(&T[dp], tm, 1.0);
    if (pe != ref) subst_add(&T[dp], pe, -1.0);
    subst_add(&T[dp], ref, -1.0);
  }
  return T;
}

/* The linear system A T x' = b: its CSR pattern and the values of
 * G T and C T, without the entries that are exactly zero in both (the
 * shifts of all potentials that the equations do not see; the quantized
 * Jacobian makes them cancel exactly), the diagonal always kept. */
typedef struct xsys {
  int64_t n, nnz;
  int64_t *rowptr, *colind;
  double *G, *C;
} xsys;

static void xsys_free(xsys *x) {
  free(x->rowptr), free(x->colind), free(x->G), free(x->C);
  memset(x, 0, sizeof *x);
}

static int cmp_i64(const void *a, const void *b) {
  int64_t u = *(const int64_t *)a, v = *(const int64_t *)b;
  return (u > v) - (u < v);
}

/* Position of column c in the sorted columns cols[0..len), or -1. */
static int64_t find_sorted(const int64_t *cols, int64_t len, int64_t c) {
  int64_t lo = 0, hi = len - 1;
  while (lo <= hi) {
    int64_t mid = (lo + hi) / 2;
    if (cols[mid] == c) return mid;
    if (cols[mid] < c)
      lo = mid + 1;
    else
      hi = mid - 1;
  }
  return -1;
}

/* Build x from the model's pattern, T and the Jacobians G, C. */
static int xsys_build(xsys *x, const nimc_model *m, const subst *T,
                      const double *G, const double *C) {
  memset(x, 0, sizeof *x);
  /* a row holds at most its diagonal and every target of its entries */
  int64_t n = m->n, cap = 0;
  size_t room = 0;
  for (int64_t r = 0; r < n; r++) {
    int64_t len = 1;
    for (int64_t k = m->rowptr[r]; k < m->rowptr[r + 1]; k++)
      len += T[m->colind[k]].nt;
    if (len > cap) cap = len;
    room += (size_t)len;
  }
  int64_t *cols = malloc(sizeof(int64_t) * (size_t)cap);
  double *g = malloc(sizeof(double) * (size_t)cap);
  double *c = malloc(sizeof(double) * (size_t)cap);
  x->n = n;
  x->rowptr = calloc((size_t)n + 1, sizeof(int64_t));
  x->colind = malloc(sizeof(int64_t) * room);
  x->G = malloc(sizeof(double) * room);
  x->C = malloc(sizeof(double) * room);
  if (!cols || !g || !c || !x->rowptr || !x->colind || !x->G || !x->C) {
    free(cols), free(g), free(c);
    xsys_free(x);
    return NIMC_ENOMEM;
  }
  int64_t nnz = 0;
  for (int64_t r = 0; r < n; r++) {
    /* the row's columns after substitution, sorted and unique */
    int64_t len = 0;
    cols[len++] = r; /* the diagonal is always kept */
    for (int64_t k = m->rowptr[r]; k < m->rowptr[r + 1]; k++) {
      const subst *t = &T[m->colind[k]];
      for (int j = 0; j < t->nt; j++)
        cols[len++] = t->tgt[j];
    }
    qsort(cols, (size_t)len, sizeof(int64_t), cmp_i64);
    int64_t u = 0;
    for (int64_t j = 0; j < len; j++)
      if (u == 0 || cols[j] != cols[u - 1]) cols[u++] = cols[j];
    len = u;
    memset(g, 0, sizeof(double) * (size_t)len);
    memset(c, 0, sizeof(double) * (size_t)len);
    for (int64_t k = m->rowptr[r]; k < m->rowptr[r + 1]; k++) {
      const subst *t = &T[m->colind[k]];
      for (int j = 0; j < t->nt; j++) {
        int64_t pos = find_sorted(cols, len, t->tgt[j]);
        g[pos] += t->coef[j] * G[k];
        c[pos] += t->coef[j] * C[k];
      }
    }
    for (int64_t j = 0; j < len; j++) {
      if (g[j] == 0.0 && c[j] == 0.0 && cols[j] != r) continue;
      x->colind[nnz] = cols[j];
      x->G[nnz] = g[j];
      x->C[nnz] = c[j];
      nnz++;
    }
    x->rowptr[r + 1] = nnz;
  }
  x->nnz = nnz;
  free(cols), free(g), free(c);
  return NIMC_OK;
}

int nimc_sim_impedance(nimc_sim *sim, const double *freq_Hz, size_t n,
                       nimc_spectrum *out, nimc_eis_info *info) {
  nimc_model *m = nimc_sim_model(sim);
  const double *y = nimc_sim_state(sim), *yp = nimc_sim_state_dot(sim);
  double t = nimc_sim_time(sim);
  nimc_zsolver *zs = NULL;
  xsys xs = {0};
  subst *T = NULL;
  int64_t phi_ref = -1;
  double *F = NULL, *G = NULL, *C = NULL, *b = NULL, *x = NULL;
  nimc_err err;
  int rc;
  memset(out, 0, sizeof *out);
  if (m->pack) /* one linearisation per cell's mesh: not tied together */
    return nimc_sim_fail(sim, NIMC_EINPUT,
                         "the impedance of a pack is not computed in the "
                         "frequency domain: measure it with a Sine step of "
                         "nimc run, or compute one cell's");
  if (info) memset(info, 0, sizeof *info);
  if (n == 0 || !freq_Hz)
    return nimc_sim_fail(sim, NIMC_EINPUT, "impedance: no frequencies");
  for (size_t k = 0; k < n; k++)
    if (!(isfinite(freq_Hz[k]) && freq_Hz[k] > 0.0))
      return nimc_sim_fail(sim, NIMC_EINPUT,
                           "impedance: frequency %zu is %g Hz (must be finite "
                           "and positive)",
                           k + 1, freq_Hz[k]);
  size_t N = (size_t)m->n, nnz = (size_t)m->nnz;
  F = malloc(sizeof(double) * N);
  G = malloc(sizeof(double) * nnz);
  C = malloc(sizeof(double) * nnz);
  b = calloc(2 * N, sizeof(double));
  x = malloc(sizeof(double) * 2 * N);
  if (!F || !G || !C || !b || !x || !(T = subst_build(m, &phi_ref)) ||
      nimc_spectrum_alloc(out, n)) {
    rc = nimc_sim_fail(sim, NIMC_ENOMEM, "out of memory");
    goto done;
  }
  /* the linearisation with the current as the input: control row
   * I - i_set, i_set at the operating point's current */
  nimc_control control = nimc_model_get_control(m);
  nimc_control galvanostatic = {.kind = NIMC_CONTROL_CURRENT,
                                .i_set_A = y[m->iI]};
  int bad = nimc_model_set_control(m, &galvanostatic) != NIMC_OK ||
            nimc_model_jacobians(m, t, y, yp, F, G, C);
  nimc_model_set_control(m, &control); /* was in force: cannot fail */
  if (bad) {
    rc = nimc_sim_fail(sim, NIMC_ESOLVER,
                       "impedance: the operating point at t = %.6g s is "
                       "outside the physical range (a concentration is not "
                       "positive)",
                       t);
    goto done;
  }
  if (xsys_build(&xs, m, T, G, C)) {
    rc = nimc_sim_fail(sim, NIMC_ENOMEM, "out of memory");
    goto done;
  }
  int64_t last[2] = {m->iV, phi_ref};
  if ((rc = nimc_zsolver_create(&zs, xs.n, xs.rowptr, xs.colind, m->rowptr,
                                m->colind, last, 2, &err))) {
    rc = nimc_sim_fail(sim, rc, "impedance: %s", err.msg);
    goto done;
  }
  b[2 * m->iI] = 1.0; /* dI = 1 A */
  for (size_t k = 0; k < n; k++) {
    double w = 2.0 * NIMC_PI * freq_Hz[k];
    if ((rc = nimc_zsolver_solve(zs, xs.G, xs.C, w, b, x, m->iV,
                                 &err))) {
      rc = nimc_sim_fail(sim, rc, "impedance at %g Hz: %s", freq_Hz[k],
                         err.msg);
      goto done;
    }
    out->freq_Hz[k] = freq_Hz[k];
    out->z_re_ohm[k] = x[2 * m->iV];
    out->z_im_ohm[k] = x[2 * m->iV + 1];
  }
  rc = NIMC_OK;
done:
  if (info) {
    info->t_s = t;
    info->voltage_V = y[m->iV];
    info->current_A = y[m->iI];
    info->unknowns = (long)m->n;
    info->jacobian_nonzeros = (long)m->nnz;
    if (zs) {
      nimc_zsolver_stats st = nimc_zsolver_get_stats(zs);
      info->full_factorizations = st.full_factorizations;
      info->refactorizations = st.refactorizations;
      info->solves = st.solves;
      info->refinements = st.refinements;
      info->max_backward_error = st.max_backward_error;
      info->max_correction = st.max_correction;
    }
  }
  if (rc) nimc_spectrum_free(out);
  nimc_zsolver_destroy(zs);
  xsys_free(&xs);
  free(T);
  free(F), free(G), free(C), free(b), free(x);
  return rc;
}
