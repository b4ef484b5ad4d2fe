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
 * Unknowns of the linear system.  The model's unknown in an electrode cell
 * is the interfacial difference dphi = phi_s - phi_e, and the solid
 * potential is the sum dphi + phi_e.  At low frequency both are large
 * (the electrolyte floats with the double layers, |Z| dI volts) while the
 * solid is nearly equipotential, so phi_s is the difference of two large
 * numbers: in double precision its error is eps |Z| dI, and the solid's
 * conductances G_s turn that into a spurious current, a relative error of
 * about G_s eps |Z| in Z (1e-4 for a metallic film on a fine mesh at 1
 * mHz).  The same holds in the positive electrode, whose solid sits
 * near the terminal voltage.  The linear system is therefore solved for
 * the solid potential relative to its terminal, psi = phi_s - phi_term
 * (phi_term = 0 for the grounded negative electrode, V for the positive
 * one), instead of dphi: with x = T x', T the substitution
 * dphi = psi + phi_term - phi_e, it is (A T) x' = b, in which the column
 * of dphi is kept for psi and also subtracted from the column of phi_e and
 * added to the column of V.  The output V itself is untouched by T.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/constants.h"
#include "model/model.h"
#include "protocol/sim.h"
#include "solver/solver.h"
#include "solver/zsolve.h"

double nimc_sim_drift(nimc_sim *sim, double t_scale_s, double rel_tol) {
  return nimc_solver_drift(nimc_sim_solver(sim), t_scale_s, rel_tol);
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
  m->control = NIMC_CONTROL_VOLTAGE;
  m->v_set_V = V;
  m->sweep_t0_s = t0;
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

/* The linear system in the unknowns x' (psi instead of dphi): the CSR
 * pattern of A T, and where each entry k of the model's pattern goes:
 * dst[k]; for an entry in a dphi column also, with a minus sign, dst2[k]
 * (the phi_e column of its cell) and, for the positive electrode, dst3[k]
 * (the V column); -1 where not. */
typedef struct xmap {
  int64_t n, nnz;
  int64_t *rowptr, *colind;
  int64_t *dst, *dst2, *dst3;
} xmap;

static void xmap_free(xmap *x) {
  free(x->rowptr), free(x->colind), free(x->dst), free(x->dst2), free(x->dst3);
  memset(x, 0, sizeof *x);
}

/* Position of column c in row r of x, or -1. */
static int64_t find_col(const xmap *x, int64_t r, int64_t c) {
  if (c < 0) return -1;
  for (int64_t k = x->rowptr[r]; k < x->rowptr[r + 1]; k++)
    if (x->colind[k] == c) return k;
  return -1;
}

static int cmp_i64(const void *a, const void *b) {
  int64_t u = *(const int64_t *)a, v = *(const int64_t *)b;
  return (u > v) - (u < v);
}

/* Build the map of m's pattern; NIMC_ENOMEM. */
static int xmap_build(xmap *x, const nimc_model *m) {
  memset(x, 0, sizeof *x);
  int64_t n = m->n, nnz = m->nnz;
  /* for a dphi column: its cell's phi_e and terminal columns */
  int64_t *phie = malloc(sizeof(int64_t) * (size_t)n);
  int64_t *term = malloc(sizeof(int64_t) * (size_t)n);
  int64_t *row = malloc(sizeof(int64_t) * 3 * (size_t)n);
  x->rowptr = calloc((size_t)n + 1, sizeof(int64_t));
  x->colind = malloc(sizeof(int64_t) * 3 * (size_t)nnz);
  x->dst = malloc(sizeof(int64_t) * (size_t)nnz);
  x->dst2 = malloc(sizeof(int64_t) * (size_t)nnz);
  x->dst3 = malloc(sizeof(int64_t) * (size_t)nnz);
  if (!phie || !term || !row || !x->rowptr || !x->colind || !x->dst ||
      !x->dst2 || !x->dst3) {
    free(phie), free(term), free(row);
    xmap_free(x);
    return NIMC_ENOMEM;
  }
  for (int64_t i = 0; i < n; i++)
    phie[i] = term[i] = -1;
  for (int c = 0; c < m->mesh->ncells; c++) {
    int64_t pe, dp, tm;
    nimc_model_potential_columns(m, c, &pe, &dp, &tm);
    if (dp >= 0) phie[dp] = pe, term[dp] = tm;
  }
  x->n = n;
  int64_t len = 0;
  for (int64_t r = 0; r < n; r++) {
    int64_t k0 = m->rowptr[r], k1 = m->rowptr[r + 1], nr = 0;
    for (int64_t k = k0; k < k1; k++) {
      int64_t c = m->colind[k];
      row[nr++] = c;
      if (phie[c] >= 0) row[nr++] = phie[c];
      if (term[c] >= 0) row[nr++] = term[c];
    }
    qsort(row, (size_t)nr, sizeof(int64_t), cmp_i64);
    x->rowptr[r] = len;
    for (int64_t j = 0; j < nr; j++)
      if (j == 0 || row[j] != row[j - 1]) x->colind[len++] = row[j];
    x->rowptr[r + 1] = len;
    for (int64_t k = k0; k < k1; k++) {
      int64_t c = m->colind[k];
      x->dst[k] = find_col(x, r, c);
      x->dst2[k] = find_col(x, r, phie[c]);
      x->dst3[k] = find_col(x, r, term[c]);
    }
  }
  x->nnz = len;
  free(phie), free(term), free(row);
  return NIMC_OK;
}

/* Values of A T from the model's values v (pattern m) into out. */
static void xmap_values(const xmap *x, int64_t nnz, const double *v,
                        double *out) {
  memset(out, 0, sizeof(double) * (size_t)x->nnz);
  for (int64_t k = 0; k < nnz; k++) {
    out[x->dst[k]] += v[k];
    if (x->dst2[k] >= 0) out[x->dst2[k]] -= v[k];
    if (x->dst3[k] >= 0) out[x->dst3[k]] += v[k];
  }
}

int nimc_sim_impedance(nimc_sim *sim, const double *freq_Hz, size_t n,
                       nimc_spectrum *out, nimc_eis_info *info) {
  nimc_model *m = nimc_sim_model(sim);
  const double *y = nimc_sim_state(sim), *yp = nimc_sim_state_dot(sim);
  double t = nimc_sim_time(sim);
  nimc_zsolver *zs = NULL;
  xmap xm = {0};
  double *F = NULL, *G = NULL, *C = NULL, *b = NULL, *x = NULL;
  double *G2 = NULL, *C2 = NULL;
  nimc_err err;
  int rc;
  memset(out, 0, sizeof *out);
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
  if (!F || !G || !C || !b || !x || xmap_build(&xm, m) ||
      !(G2 = malloc(sizeof(double) * (size_t)xm.nnz)) ||
      !(C2 = malloc(sizeof(double) * (size_t)xm.nnz)) ||
      nimc_spectrum_alloc(out, n)) {
    rc = nimc_sim_fail(sim, NIMC_ENOMEM, "out of memory");
    goto done;
  }
  /* the linearisation with the current as the input: control row
   * I - i_set, i_set at the operating point's current */
  nimc_control control = m->control;
  double i_set = m->i_set_A;
  m->control = NIMC_CONTROL_CURRENT;
  m->i_set_A = y[m->iI];
  double v_set = m->v_set_V;
  m->v_set_V = y[m->iV];
  int bad = nimc_model_jacobians(m, t, y, yp, F, G, C);
  m->control = control;
  m->i_set_A = i_set;
  m->v_set_V = v_set;
  if (bad) {
    rc = nimc_sim_fail(sim, NIMC_ESOLVER,
                       "impedance: the operating point at t = %.6g s is "
                       "outside the physical range (a concentration is not "
                       "positive)",
                       t);
    goto done;
  }
  xmap_values(&xm, m->nnz, G, G2);
  xmap_values(&xm, m->nnz, C, C2);
  if ((rc = nimc_zsolver_create(&zs, xm.n, xm.rowptr, xm.colind, &err))) {
    rc = nimc_sim_fail(sim, rc, "impedance: %s", err.msg);
    goto done;
  }
  b[2 * m->iI] = 1.0; /* dI = 1 A */
  for (size_t k = 0; k < n; k++) {
    double w = 2.0 * NIMC_PI * freq_Hz[k];
    if ((rc = nimc_zsolver_solve(zs, G2, C2, w, b, x, m->iV,
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
    }
  }
  if (rc) nimc_spectrum_free(out);
  nimc_zsolver_destroy(zs);
  xmap_free(&xm);
  free(F), free(G), free(C), free(b), free(x), free(G2), free(C2);
  return rc;
}
