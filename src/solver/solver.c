/*
 * solver.c -- IDA + KLU glue (see solver.h).
 *
 * The residual and Jacobian callbacks call nimc_model_eval; a residual that
 * meets an out-of-range concentration returns 1 so that IDA cuts its step
 * (recoverable), as SUNDIALS documents.  Only algebraic/differential ids
 * and per-variable tolerances are model knowledge; the rest is generic.
 */
#include <ida/ida.h>
#include <math.h>
#include <nvector/nvector_serial.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sundials/sundials_context.h>
#include <sunmatrix/sunmatrix_sparse.h>

#include "solver/klu_ls.h"
#include "solver/nvec_fast.h"
#include "solver/solver.h"

struct nimc_solver {
  nimc_model *m;
  SUNContext ctx;
  void *ida;
  N_Vector y, yp, atol, id, work;
  SUNMatrix A;
  SUNLinearSolver LS;
  nimc_root_fn root_fn;
  void *root_user;
  int nroots;
  nimc_solver_stats acc; /* counters of finished IDA runs */
  double rtol, max_step; /* as created */
  int cj_policy_set;     /* the Newton matrix's cj policy chosen */
  char msg[NIMC_ERRMSG_MAX];
};

static int res_cb(sunrealtype t, N_Vector y, N_Vector yp, N_Vector r,
                  void *user) {
  nimc_solver *s = user;
  return nimc_model_eval(s->m, t, N_VGetArrayPointer(y), N_VGetArrayPointer(yp),
                         N_VGetArrayPointer(r), 0.0, NULL);
}

static int jac_cb(sunrealtype t, sunrealtype cj, N_Vector y, N_Vector yp,
                  N_Vector r, SUNMatrix J, void *user, N_Vector t1, N_Vector t2,
                  N_Vector t3) {
  (void)r, (void)t2, (void)t3;
  nimc_solver *s = user;
  const nimc_model *m = s->m;
  sunindextype *ptr = SM_INDEXPTRS_S(J), *ind = SM_INDEXVALS_S(J);
  for (int64_t k = 0; k <= m->n; k++)
    ptr[k] = (sunindextype)m->rowptr[k];
  for (int64_t k = 0; k < m->nnz; k++)
    ind[k] = (sunindextype)m->colind[k];
  /* t1 is scratch for the residual, which the Jacobian pass recomputes */
  return nimc_model_eval(m, t, N_VGetArrayPointer(y), N_VGetArrayPointer(yp),
                         N_VGetArrayPointer(t1), cj, SM_DATA_S(J));
}

/* SUNMatZero for the Jacobian, which IDA calls before every jac_cb:
 * SUNDIALS' own loops at -O0 (nvec_fast.h says why) cost more than the
 * Jacobian's assembly in the 1D cases; memset does the same. */
static int sparse_zero(SUNMatrix A) {
  memset(SM_DATA_S(A), 0, sizeof(sunrealtype) * (size_t)SM_NNZ_S(A));
  memset(SM_INDEXVALS_S(A), 0, sizeof(sunindextype) * (size_t)SM_NNZ_S(A));
  memset(SM_INDEXPTRS_S(A), 0, sizeof(sunindextype) * (size_t)(SM_NP_S(A) + 1));
  return SUNMAT_SUCCESS;
}

static int root_cb(sunrealtype t, N_Vector y, N_Vector yp, sunrealtype *g,
                   void *user) {
  (void)yp;
  nimc_solver *s = user;
  return s->root_fn(t, N_VGetArrayPointer(y), g, s->root_user);
}

static void err_cb(int code, const char *module, const char *function,
                   char *msg, void *user) {
  nimc_solver *s = user;
  snprintf(s->msg, sizeof s->msg, "%s/%s (%d): %s", module, function, code,
           msg);
}

/* A SUNDIALS return at the boundary: NIMC_OK, or NIMC_ESOLVER with the
 * function's name and code in the handle's message (after IDA's own words,
 * when its error handler gave some). */
static int check(nimc_solver *s, int flag, const char *fn) {
  if (flag == IDA_SUCCESS) return NIMC_OK;
  char ida[NIMC_ERRMSG_MAX];
  memcpy(ida, s->msg, sizeof ida);
  snprintf(s->msg, sizeof s->msg, "%s failed (%d)%s%.900s", fn, flag,
           ida[0] ? ": " : "", ida);
  return NIMC_ESOLVER;
}

void nimc_solver_destroy(nimc_solver *s) {
  if (!s) return;
  if (s->ida) IDAFree(&s->ida);
  if (s->LS) SUNLinSolFree(s->LS);
  if (s->A) SUNMatDestroy(s->A);
  if (s->y) N_VDestroy(s->y);
  if (s->yp) N_VDestroy(s->yp);
  if (s->atol) N_VDestroy(s->atol);
  if (s->id) N_VDestroy(s->id);
  if (s->work) N_VDestroy(s->work);
  if (s->ctx) SUNContext_Free(&s->ctx);
  free(s);
}

int nimc_solver_create(nimc_solver **out, nimc_model *m, double rtol,
                       double atol_scale, double max_step_s, double newton_coef,
                       nimc_err *err) {
  *out = NULL;
  nimc_solver *s = calloc(1, sizeof *s);
  if (!s) return nimc_err_set(err, NIMC_ENOMEM, "solver: out of memory");
  s->m = m;
  s->rtol = rtol;
  s->max_step = max_step_s;
  const char *what = "SUNContext_Create";
  if (SUNContext_Create(NULL, &s->ctx)) goto fail;
  what = "N_VNew_Serial";
  s->y = N_VNew_Serial((sunindextype)m->n, s->ctx);
  s->yp = N_VNew_Serial((sunindextype)m->n, s->ctx);
  s->atol = N_VNew_Serial((sunindextype)m->n, s->ctx);
  s->id = N_VNew_Serial((sunindextype)m->n, s->ctx);
  s->work = N_VNew_Serial((sunindextype)m->n, s->ctx);
  if (!s->y || !s->yp || !s->atol || !s->id || !s->work) goto fail;
  /* IDA clones its work vectors from y: with the fused operations its
   * predictor and interpolation (at every root check) make one pass over
   * memory per combination instead of one per term */
  what = "N_VEnableFusedOps_Serial";
  if (N_VEnableFusedOps_Serial(s->y, SUNTRUE)) goto fail;
  /* compiled vector arithmetic (Debian's SUNDIALS is built at -O0) in
   * every vector IDA computes with or clones: y's clones are its work
   * vectors, yp the derivative it writes, atol the clone of its weights */
  what = "the compiled vector operations";
  N_Vector all[5] = {s->y, s->yp, s->atol, s->id, s->work};
  for (int k = 0; k < 5; k++)
    if (nimc_nvec_fast_install(all[k])) goto fail;
  nimc_model_initial(m, N_VGetArrayPointer(s->y), N_VGetArrayPointer(s->yp));
  nimc_model_atol(m, atol_scale, N_VGetArrayPointer(s->atol));
  nimc_model_id(m, N_VGetArrayPointer(s->id));
  what = "IDACreate";
  s->ida = IDACreate(s->ctx);
  if (!s->ida) goto fail;
  what = "IDASetErrHandlerFn";
  if (IDASetErrHandlerFn(s->ida, err_cb, s)) goto fail;
  what = "IDAInit";
  if (IDAInit(s->ida, res_cb, 0.0, s->y, s->yp)) goto fail;
  what = "IDASVtolerances";
  if (IDASVtolerances(s->ida, rtol, s->atol)) goto fail;
  what = "IDASetUserData";
  if (IDASetUserData(s->ida, s)) goto fail;
  what = "SUNSparseMatrix";
  s->A = SUNSparseMatrix((sunindextype)m->n, (sunindextype)m->n,
                         (sunindextype)m->nnz, CSR_MAT, s->ctx);
  if (!s->A) goto fail;
  s->A->ops->zero = sparse_zero;
  what = "the KLU linear solver";
  s->LS = nimc_klu_ls_create(s->ctx);
  if (!s->LS) goto fail;
  what = "IDASetLinearSolver";
  if (IDASetLinearSolver(s->ida, s->LS, s->A)) goto fail;
  what = "IDASetJacFn";
  if (IDASetJacFn(s->ida, jac_cb)) goto fail;
  what = "IDASetId";
  if (IDASetId(s->ida, s->id)) goto fail;
  what = "IDASetSuppressAlg";
  if (IDASetSuppressAlg(s->ida, SUNTRUE)) goto fail;
  what = "IDASetMaxNumSteps";
  if (IDASetMaxNumSteps(s->ida, 100000)) goto fail;
  what = "IDASetMaxConvFails";
  if (IDASetMaxConvFails(s->ida, 20)) goto fail;
  what = "IDASetMaxErrTestFails";
  if (IDASetMaxErrTestFails(s->ida, 20)) goto fail;
  what = "IDASetMaxStep";
  if (max_step_s > 0.0 && IDASetMaxStep(s->ida, max_step_s)) goto fail;
  what = "IDASetNonlinConvCoef";
  if (newton_coef > 0.0 && IDASetNonlinConvCoef(s->ida, newton_coef))
    goto fail;
  s->acc.unknowns = (long)m->n;
  s->acc.jacobian_nonzeros = (long)m->nnz;
  *out = s;
  return NIMC_OK;
fail:
  nimc_err_set(err, NIMC_ESOLVER, "solver setup failed in %s%s%s", what,
               s->msg[0] ? ": " : "", s->msg);
  nimc_solver_destroy(s);
  return NIMC_ESOLVER;
}

double *nimc_solver_y(nimc_solver *s) {
  return N_VGetArrayPointer(s->y);
}
double *nimc_solver_yp(nimc_solver *s) {
  return N_VGetArrayPointer(s->yp);
}
double nimc_solver_drift(const nimc_solver *s, double t_scale,
                         double rel_tol) {
  const double *y = N_VGetArrayPointer(s->y), *yp = N_VGetArrayPointer(s->yp);
  const double *atol = N_VGetArrayPointer(s->atol);
  const double *id = N_VGetArrayPointer(s->id);
  double sum = 0.0, k = rel_tol / s->rtol;
  long cnt = 0;
  for (int64_t i = 0; i < s->m->iQ; i++) {
    if (id[i] == 0.0) continue;
    double v = yp[i] * t_scale / (rel_tol * fabs(y[i]) + atol[i] * k);
    sum += v * v;
    cnt++;
  }
  return cnt ? sqrt(sum / (double)cnt) : 0.0;
}

int nimc_solver_set_max_step(nimc_solver *s, double max_step_s) {
  double h = max_step_s > 0.0 ? max_step_s : s->max_step;
  /* IDA takes 0 as "no bound" */
  return check(s, IDASetMaxStep(s->ida, h > 0.0 ? h : 0.0), "IDASetMaxStep");
}

const char *nimc_solver_errmsg(const nimc_solver *s) {
  return s->msg;
}

/* Add IDA's counters since its last (re)initialisation to a. */
static void add_counters(void *ida, nimc_solver_stats *a) {
  long v;
  if (IDAGetNumSteps(ida, &v) == IDA_SUCCESS) a->steps += v;
  if (IDAGetNumResEvals(ida, &v) == IDA_SUCCESS) a->residual_evals += v;
  if (IDAGetNumJacEvals(ida, &v) == IDA_SUCCESS) a->jacobian_evals += v;
  if (IDAGetNumLinSolvSetups(ida, &v) == IDA_SUCCESS) a->linear_setups += v;
  if (IDAGetNumNonlinSolvIters(ida, &v) == IDA_SUCCESS) a->nonlinear_iters += v;
  if (IDAGetNumErrTestFails(ida, &v) == IDA_SUCCESS) a->error_test_fails += v;
  if (IDAGetNumNonlinSolvConvFails(ida, &v) == IDA_SUCCESS)
    a->nonlinear_conv_fails += v;
  if (IDAGetNumGEvals(ida, &v) == IDA_SUCCESS) a->root_evals += v;
}

void nimc_solver_get_stats(const nimc_solver *s, nimc_solver_stats *st) {
  *st = s->acc;
  add_counters(s->ida, st);
  nimc_klu_ls_stats k = nimc_klu_ls_stats_get(s->LS);
  st->full_factorizations = k.full_factorizations;
  st->refactorizations = k.refactorizations;
  st->lu_nonzeros = k.lu_nonzeros;
}

int nimc_solver_restart(nimc_solver *s, double t0, int nroots, const int *dir,
                        nimc_root_fn fn, void *user) {
  add_counters(s->ida, &s->acc); /* IDAReInit resets IDA's own counters */
  s->msg[0] = '\0';
  if (check(s, IDAReInit(s->ida, t0, s->y, s->yp), "IDAReInit"))
    return NIMC_ESOLVER;
  s->root_fn = fn;
  s->root_user = user;
  s->nroots = nroots;
  if (check(s, IDARootInit(s->ida, nroots, nroots ? root_cb : NULL),
            "IDARootInit"))
    return NIMC_ESOLVER;
  if (nroots &&
      (check(s, IDASetRootDirection(s->ida, (int *)dir),
             "IDASetRootDirection") ||
       check(s, IDASetNoInactiveRootWarn(s->ida), "IDASetNoInactiveRootWarn")))
    return NIMC_ESOLVER;
  /* first trial step for the consistent-initialisation Newton iteration */
  int rc = IDACalcIC(s->ida, IDA_YA_YDP_INIT, t0 + 1e-6);
  if (rc < 0) {
    if (!s->msg[0])
      snprintf(s->msg, sizeof s->msg, "consistent initialisation failed (%d)",
               rc);
    return NIMC_ESOLVER;
  }
  if (check(s, IDAGetConsistentIC(s->ida, s->y, s->yp), "IDAGetConsistentIC"))
    return NIMC_ESOLVER;
  return NIMC_OK;
}

int nimc_solver_reset(nimc_solver *s, double t0) {
  add_counters(s->ida, &s->acc); /* IDAReInit resets IDA's own counters */
  s->msg[0] = '\0';
  s->root_fn = NULL, s->root_user = NULL, s->nroots = 0;
  if (IDAReInit(s->ida, t0, s->y, s->yp) != IDA_SUCCESS ||
      IDARootInit(s->ida, 0, NULL) != IDA_SUCCESS) {
    if (!s->msg[0])
      snprintf(s->msg, sizeof s->msg, "cannot reinitialise IDA at t = %g s",
               t0);
    return NIMC_ESOLVER;
  }
  return NIMC_OK;
}

void nimc_solver_forget(nimc_solver *s) {
  if (s) nimc_klu_ls_forget(s->LS);
}

int nimc_solver_derivatives_at(nimc_solver *s, double t0) {
  sunrealtype tret = t0;
  /* one step, as long as IDA likes, bounded for a state at equilibrium */
  if (IDASetStopTime(s->ida, t0 + 1e6) != IDA_SUCCESS ||
      IDASolve(s->ida, t0 + 1e6, &tret, s->work, s->yp, IDA_ONE_STEP) < 0 ||
      IDAGetDky(s->ida, t0, 0, s->work) != IDA_SUCCESS ||
      IDAGetDky(s->ida, t0, 1, s->yp) != IDA_SUCCESS) {
    if (!s->msg[0])
      snprintf(s->msg, sizeof s->msg, "the rates of change at t = %g s "
                                      "could not be estimated", t0);
    return NIMC_ESOLVER;
  }
  N_VScale(1.0, s->work, s->y);
  add_counters(s->ida, &s->acc);
  return check(s, IDAReInit(s->ida, t0, s->y, s->yp), "IDAReInit");
}

int nimc_solver_root_info(nimc_solver *s, int *info) {
  return check(s, IDAGetRootInfo(s->ida, info), "IDAGetRootInfo");
}

int nimc_solver_interpolate(nimc_solver *s, double t, double *y) {
  if (check(s, IDAGetDky(s->ida, t, 0, s->work), "IDAGetDky"))
    return NIMC_ESOLVER;
  memcpy(y, N_VGetArrayPointer(s->work), sizeof(double) * s->m->n);
  return NIMC_OK;
}

/* Newton matrices kept over larger changes of cj where a factorisation
 * is dear: IDA sets up a new one when cj = alpha / h has moved by more
 * than DCJ_COSTLY (its default: 25 %) once KLU's analysis puts a
 * factorisation above COST_RATIO_COSTLY flops per non-zero of L and U (a
 * solve does two per non-zero: above some 32 solves).  On the 2D
 * NIMC's twice-refined mesh (ratio 95) 0.5 takes the set-ups of a GCD
 * cycle from 63 to 33 for 534 -> 821 Newton iterations, 15-30 % less CPU,
 * the capacitance moved by 8.5e-7; the `edge` array (8452 unknowns) 53 ->
 * 32 set-ups, 8-13 % less.  The default mesh (47) would gain about 12 %,
 * but its results stay those of IDA's default, as do the 1D cells' (below
 * 2), whose factorisation costs about a solve: with the older Newton
 * matrix two formulations equal in exact arithmetic (a one-cell pack and
 * its cell, a step "(at 80 degC)" and the device at 80 degC) no longer
 * take the same steps, and the tests that hold them to 1e-9 would need
 * tolerances derived anew (docs/performance.md). */
#define COST_RATIO_COSTLY 64.0
#define DCJ_COSTLY 0.5

/* Choose the cj policy once the symbolic analysis (the first set-up,
 * IDACalcIC's) has been done; the same in a solver resumed from a
 * checkpoint, since the analysis is a function of the pattern alone. */
static int cj_policy(nimc_solver *s) {
  double ratio = nimc_klu_ls_cost_ratio(s->LS);
  if (s->cj_policy_set || ratio <= 0.0) return NIMC_OK;
  s->cj_policy_set = 1;
  if (ratio <= COST_RATIO_COSTLY) return NIMC_OK;
  return check(s, IDASetDeltaCjLSetup(s->ida, DCJ_COSTLY),
               "IDASetDeltaCjLSetup");
}

int nimc_solver_step(nimc_solver *s, double tstop, double *t, int *event) {
  sunrealtype tret = 0.0;
  *event = 0;
  if (cj_policy(s)) return NIMC_ESOLVER;
  if (check(s, IDASetStopTime(s->ida, tstop), "IDASetStopTime"))
    return NIMC_ESOLVER;
  int rc = IDASolve(s->ida, tstop, &tret, s->y, s->yp, IDA_ONE_STEP);
  *t = tret;
  *event = 0;
  if (rc == IDA_ROOT_RETURN)
    *event = 1;
  else if (rc == IDA_TSTOP_RETURN)
    *event = 2;
  else if (rc < 0) {
    if (!s->msg[0]) snprintf(s->msg, sizeof s->msg, "IDASolve failed (%d)", rc);
    return NIMC_ESOLVER;
  }
  return NIMC_OK;
}
