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

int nimc_sim_impedance(nimc_sim *sim, const double *freq_Hz, size_t n,
                       nimc_spectrum *out, nimc_eis_info *info) {
  nimc_model *m = nimc_sim_model(sim);
  const double *y = nimc_sim_state(sim), *yp = nimc_sim_state_dot(sim);
  double t = nimc_sim_time(sim);
  nimc_zsolver *zs = NULL;
  double *F = NULL, *G = NULL, *C = NULL, *b = NULL, *x = NULL;
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
  if (!F || !G || !C || !b || !x || nimc_spectrum_alloc(out, n)) {
    rc = nimc_sim_fail(sim, NIMC_ENOMEM, "out of memory");
    goto done;
  }
  /* the linearisation with the current as the input: control row
   * I - i_set, i_set at the operating point's current */
  nimc_control control = m->control;
  double i_set = m->i_set_A;
  m->control = NIMC_CONTROL_CURRENT;
  m->i_set_A = y[m->iI];
  int bad = nimc_model_jacobians(m, t, y, yp, F, G, C);
  m->control = control;
  m->i_set_A = i_set;
  if (bad) {
    rc = nimc_sim_fail(sim, NIMC_ESOLVER,
                       "impedance: the operating point at t = %.6g s is "
                       "outside the physical range (a concentration is not "
                       "positive)",
                       t);
    goto done;
  }
  if ((rc = nimc_zsolver_create(&zs, m->n, m->rowptr, m->colind, &err))) {
    rc = nimc_sim_fail(sim, rc, "impedance: %s", err.msg);
    goto done;
  }
  b[2 * m->iI] = 1.0; /* dI = 1 A */
  for (size_t k = 0; k < n; k++) {
    double w = 2.0 * NIMC_PI * freq_Hz[k];
    if ((rc = nimc_zsolver_solve(zs, G, C, w, b, x, &err))) {
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
  free(F), free(G), free(C), free(b), free(x);
  return rc;
}
