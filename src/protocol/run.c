/*
 * run.c -- the simulation handle and the execution of experiments.
 *
 * A step sets the control of the model (current, voltage or sweep) as its
 * kind's entry in the table of step operations says (steps.c), restarts
 * the solver there (consistent initialisation: the double layers and
 * concentrations carry over, the potentials and the current jump), and
 * integrates until one of its cut-offs (IDA root functions, any number)
 * fires or the step's time runs out.  The device's safe window (its
 * [device] min_voltage, max_voltage, max_current) is one more cut-off of
 * every step: a step that reaches it ends there and the run stops with a
 * warning in the result (NIMC_EWINDOW).  Every internal solver step is recorded in
 * the series; the first sample of a step shares its time with the last sample
 * of the previous one, which is how the IR drop at a switch is seen.
 *
 * What is recorded also goes to the sinks as it is made (every sample, every
 * step's record, every cycle's summary), and the result keeps what the
 * sinks' keep says.  A cycle is one iteration of a Repeat (of an innermost
 * one when Repeats nest: run_block walks the nest); its summary is
 * made from its own samples and step records when it ends (charges and
 * energies from the records, the capacitance by nimc_metrics_gcd_result),
 * after which, when samples are not kept, its samples are dropped: memory
 * then holds at most one cycle's samples, however many cycles run.
 *
 * The end of a cycle, or of a step outside any cycle, is a checkpoint
 * boundary: nothing is half done there.  At every checkpoint_every-th one
 * the solver forgets its factorisation and the checkpoint callback runs
 * (checkpoint.c writes the run down there).  A run resumed from a
 * checkpoint walks the experiment again, skipping the cycles and steps
 * that ran before it (counting its cycles as it goes), and checks that it
 * stands where the checkpoint says before it goes on.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/result.h"
#include "mesh/mesh.h"
#include "model/diagnose.h"
#include "model/model.h"
#include "model/pack.h"
#include "protocol/experiment.h"
#include "protocol/jump.h"
#include "protocol/sim.h"
#include "protocol/steps.h"
#include "solver/solver.h"

struct nimc_sim {
  const nimc_device *dev;
  nimc_model *model;
  nimc_solver *solver;
  nimc_sim_opts opts;
  double t;
  double *ywork; /* interpolated state for fixed-interval output */
  int steps_done;
  size_t run_done, run_total; /* progress of the current nimc_sim_run */
  nimc_sinks sinks;           /* where a run reports; keep: what it keeps */
  nimc_position pos;          /* at the last checkpoint boundary */
  nimc_position resume;       /* where the next run goes on from */
  int resuming;               /* resume holds a position */
  nimc_solver_stats base;     /* of the runs before a resume */
  int have_base;
  nimc_jumper jump;           /* of the Repeat running (one at a time: only
                                 a Repeat of steps jumps) */
  int jumping;                /* jump is in use */
  nimc_jumper jump_resume;    /* resuming: the checkpoint's jumper (y[0]
                                 NULL: none) */
  char msg[NIMC_ERRMSG_MAX];
};

nimc_sim_opts nimc_sim_opts_default(void) {
  nimc_sim_opts o;
  memset(&o, 0, sizeof o);
  o.rtol = 0.0; /* 0: take the device's [solver] rtol */
  o.atol_scale = 0.0;
  o.max_step_s = 0.0;
  o.max_step_time_s = 1000.0 * 3600.0;
  return o;
}

int nimc_sim_create(nimc_sim **out, const nimc_device *dev,
                    const nimc_sim_opts *opts, nimc_err *err) {
  *out = NULL;
  nimc_sim *s = calloc(1, sizeof *s);
  if (!s) return nimc_err_set(err, NIMC_ENOMEM, "out of memory");
  s->dev = dev;
  s->opts = opts ? *opts : nimc_sim_opts_default();
  if (s->opts.rtol <= 0.0) s->opts.rtol = dev->solver.rtol;
  if (s->opts.atol_scale <= 0.0) s->opts.atol_scale = dev->solver.atol_scale;
  if (s->opts.max_step_time_s <= 0.0) s->opts.max_step_time_s = 1000.0 * 3600.0;
  s->pos.c_first = NAN;
  nimc_mesh *mesh = NULL;
  int rc;
  if (dev->pack.given) { /* cells in series and parallel: model/pack.h */
    rc = nimc_pack_create(&s->model, dev, err);
    if (rc) goto fail;
    goto model_made;
  }
  switch (dev->geometry) {
  case NIMC_GEOMETRY_STACK:
    rc = nimc_mesh_stack(&mesh, dev, err);
    break;
  case NIMC_GEOMETRY_INTERDIGITATED:
    rc = nimc_mesh_interdigitated(&mesh, dev, err);
    break;
  default:
    rc = nimc_err_set(err, NIMC_EINPUT, "%s: unknown geometry", dev->path);
  }
  if (rc) goto fail;
  rc = nimc_model_create(&s->model, dev, mesh, err); /* takes mesh */
  if (rc) goto fail;
model_made:
  s->ywork = malloc(sizeof(double) * s->model->n);
  if (!s->ywork) {
    rc = nimc_err_set(err, NIMC_ENOMEM, "out of memory");
    goto fail;
  }
  rc =
      nimc_solver_create(&s->solver, s->model, s->opts.rtol, s->opts.atol_scale,
                         s->opts.max_step_s, s->opts.newton_coef, err);
  if (rc) goto fail;
  *out = s;
  return NIMC_OK;
fail:
  nimc_sim_destroy(s);
  return rc;
}

void nimc_sim_destroy(nimc_sim *s) {
  if (!s) return;
  nimc_solver_destroy(s->solver);
  nimc_model_destroy(s->model);
  nimc_jumper_free(&s->jump_resume);
  free(s->ywork);
  free(s);
}

const char *nimc_sim_errmsg(const nimc_sim *s) {
  return s ? s->msg : "";
}

nimc_solver_stats nimc_sim_stats(const nimc_sim *s) {
  nimc_solver_stats st;
  memset(&st, 0, sizeof st);
  if (s && s->solver) nimc_solver_get_stats(s->solver, &st);
  if (s && s->have_base) {
    const nimc_solver_stats *b = &s->base;
    st.steps += b->steps, st.residual_evals += b->residual_evals;
    st.jacobian_evals += b->jacobian_evals;
    st.linear_setups += b->linear_setups;
    st.nonlinear_iters += b->nonlinear_iters;
    st.error_test_fails += b->error_test_fails;
    st.nonlinear_conv_fails += b->nonlinear_conv_fails;
    st.root_evals += b->root_evals;
    st.full_factorizations += b->full_factorizations;
    st.refactorizations += b->refactorizations;
    if (!st.lu_nonzeros) st.lu_nonzeros = b->lu_nonzeros;
  }
  return st;
}

nimc_position nimc_sim_position(const nimc_sim *s) {
  return s->pos;
}
void nimc_sim_set_resume(nimc_sim *s, const nimc_position *pos) {
  s->resume = *pos;
  s->resuming = 1;
  s->pos = *pos;
}
const nimc_jumper *nimc_sim_jumper(const nimc_sim *s) {
  return s->jumping ? &s->jump : NULL;
}
int nimc_sim_set_jump_resume(nimc_sim *s, const nimc_jumper *J) {
  nimc_jumper_free(&s->jump_resume);
  if (nimc_jumper_init(&s->jump_resume, s->model, J->tol))
    return nimc_sim_fail(s, NIMC_ENOMEM, "out of memory");
  if (nimc_jumper_copy(&s->jump_resume, J)) {
    nimc_jumper_free(&s->jump_resume);
    return nimc_sim_fail(s, NIMC_EINPUT,
                         "the checkpoint's cycle jumper holds %lld unknowns, "
                         "the model %lld",
                         (long long)J->n, (long long)s->model->n);
  }
  return NIMC_OK;
}
void nimc_sim_set_stats_base(nimc_sim *s, const nimc_solver_stats *base) {
  s->base = *base;
  s->have_base = 1;
}

nimc_model *nimc_sim_model(nimc_sim *s) {
  return s->model;
}
double *nimc_sim_state(nimc_sim *s) {
  return nimc_solver_y(s->solver);
}
double *nimc_sim_state_dot(nimc_sim *s) {
  return nimc_solver_yp(s->solver);
}
nimc_solver *nimc_sim_solver(nimc_sim *s) {
  return s->solver;
}
double nimc_sim_time(const nimc_sim *s) {
  return s->t;
}
void nimc_sim_set_time(nimc_sim *s, double t_s) {
  s->t = t_s;
}
int nimc_sim_steps_done(const nimc_sim *s) {
  return s->steps_done;
}
void nimc_sim_set_steps_done(nimc_sim *s, int n) {
  s->steps_done = n;
}
nimc_keep nimc_sim_swap_keep(nimc_sim *s, nimc_keep keep) {
  nimc_keep old = s->sinks.keep;
  s->sinks.keep = keep;
  return old;
}
const nimc_device *nimc_sim_device(const nimc_sim *s) {
  return s->dev;
}

int nimc_sim_set_sinks(nimc_sim *s, const nimc_sinks *sinks) {
  if (!s) return NIMC_EMISUSE;
  if (sinks && !(sinks->keep >= NIMC_KEEP_ALL && sinks->keep <= NIMC_KEEP_NONE))
    return nimc_sim_fail(s, NIMC_EMISUSE,
                         "nimc_sim_set_sinks: keep %d is not an nimc_keep",
                         (int)sinks->keep);
  if (sinks)
    s->sinks = *sinks;
  else
    memset(&s->sinks, 0, sizeof s->sinks);
  return NIMC_OK;
}
int nimc_sim_fail(nimc_sim *s, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s->msg, sizeof s->msg, fmt, ap);
  va_end(ap);
  return code;
}

void nimc_fields_free(nimc_fields *f) {
  if (!f) return;
  free(f->x_m), free(f->z_m), free(f->dx_m), free(f->dz_m), free(f->region);
  free(f->c_mol_m3), free(f->phi_e_V), free(f->reaction_A_m3);
  memset(f, 0, sizeof *f);
}

int nimc_sim_fields(nimc_sim *s, nimc_fields *f) {
  memset(f, 0, sizeof *f);
  const nimc_model *m = s->model;
  if (m->pack) /* K meshes, one per cell: no one map of them */
    return nimc_sim_fail(s, NIMC_EINPUT,
                         "the fields of a pack are not mapped (each cell has "
                         "its own mesh): simulate one cell for its fields");
  const nimc_mesh *me = m->mesh;
  size_t n = (size_t)me->ncells;
  f->n = n;
  f->t_s = s->t;
  f->x_m = malloc(sizeof(double) * n), f->z_m = malloc(sizeof(double) * n);
  f->dx_m = malloc(sizeof(double) * n), f->dz_m = malloc(sizeof(double) * n);
  f->region = malloc(sizeof(int) * n);
  f->c_mol_m3 = malloc(sizeof(double) * n), f->phi_e_V = malloc(sizeof(double) * n);
  f->reaction_A_m3 = malloc(sizeof(double) * n);
  if (!f->x_m || !f->z_m || !f->dx_m || !f->dz_m || !f->region || !f->c_mol_m3 ||
      !f->phi_e_V || !f->reaction_A_m3) {
    nimc_fields_free(f);
    snprintf(s->msg, sizeof s->msg, "out of memory");
    return NIMC_ENOMEM;
  }
  const double *y = nimc_solver_y(s->solver), *yp = nimc_solver_yp(s->solver);
  for (size_t i = 0; i < n; i++) {
    f->x_m[i] = me->xc[i], f->z_m[i] = me->zc[i];
    f->dx_m[i] = me->dx[i], f->dz_m[i] = me->dz[i];
    f->region[i] = me->region[i];
    f->c_mol_m3[i] = y[m->off[i]];
    f->phi_e_V[i] = y[m->off[i] + 1];
    f->reaction_A_m3[i] = nimc_model_cell_reaction(m, (int)i, y, yp);
  }
  return NIMC_OK;
}

/* ---- steps ---- */

/* The running step's cut-offs, for the solver's root function. */
typedef struct step_ctx {
  const nimc_model *m;
  nimc_cutoffs cut;
} step_ctx;

static int step_roots(double t, const double *y, double *g, void *user) {
  (void)t;
  const step_ctx *c = user;
  nimc_cutoffs_eval(&c->cut, c->m, y, g);
  return 0;
}

/* Record one sample: into the series (which keeps it for the step's or
 * the cycle's end at least) and to the sample sink. */
static int emit(nimc_sim *s, nimc_result *res, double t, double v, double i,
                int index) {
  int rc = nimc_series_push(&res->series, t, v, i, index);
  if (rc) return rc;
  if (s->sinks.sample && s->sinks.sample(s->sinks.user, t, v, i, index))
    return nimc_sim_fail(s, NIMC_ESOLVER,
                         "interrupted by the sample sink at t = %.6g s", t);
  return NIMC_OK;
}

static int record(nimc_sim *s, nimc_result *res, int index) {
  const double *y = nimc_solver_y(s->solver);
  const nimc_model *m = s->model;
  return emit(s, res, s->t, y[m->iV], y[m->iI], index);
}

/* With a fixed output interval dt (the step's period, or the
 * simulation's output_dt_s): record the interpolated state at every
 * multiple of dt in (t_prev, t] (the step's own end is recorded by the
 * caller).  *next is the next output time. */
static int record_interval(nimc_sim *s, nimc_result *res, int index, double dt,
                           double *next) {
  const nimc_model *m = s->model;
  while (*next < s->t) {
    if (nimc_solver_interpolate(s->solver, *next, s->ywork))
      return NIMC_ESOLVER;
    int rc = emit(s, res, *next, s->ywork[m->iV], s->ywork[m->iI], index);
    if (rc) return rc;
    *next += dt;
  }
  return NIMC_OK;
}

/* The cut-offs every step has whatever its kind: the binary salt's
 * diffusion potential diverges as c -> 0, so a step ends before it (end
 * reason depletion); the ternary electrolyte keeps its conductivity and
 * its Na+ reaction is first order in c (Na+ runs out only asymptotically;
 * the residual refuses c <= 0), so it needs no such event.  The depletion
 * event sits at 1e-3 of the initial concentration; a step that starts at
 * or below it (after a step that ended there) gets its own floor at half
 * its starting value, so a step that refills the electrolyte goes on and
 * one that keeps emptying it still stops. */
static int device_cutoffs(const nimc_sim *s, const double *y, nimc_cutoffs *l) {
  if (s->dev->electrolyte.ternary) return NIMC_OK;
  double c_start = nimc_model_min_concentration(s->model, y);
  double floor_c = 1e-3 * s->dev->electrolyte.c0_mol_m3;
  if (c_start < 1.01 * floor_c) floor_c = 0.5 * c_start;
  return nimc_cutoffs_add(l, NIMC_END_DEPLETION, nimc_watch_min_concentration,
                          floor_c, -1);
}

/* The device's safe window as cut-offs: the voltage rising past
 * max_voltage or falling past min_voltage by NIMC_WINDOW_TOL_V, |I|
 * rising past max_current by NIMC_WINDOW_TOL_I.  They come last in the
 * list: a step that its own cut-off ends at its start (the IR drop of a
 * fast "Charge ... until 3.5 V" from 3 V lands beyond 3.5 V) passes no
 * charge and ends with its own reason, as the formation cycles of a GCD
 * at high current do; a step outside the window at its start that
 * nothing else ends there ends at the window.  During the step the
 * tolerance lets its own cut-off at the window's edge fire first. */
static int window_cutoffs(const nimc_sim *s, nimc_cutoffs *l) {
  const nimc_device *d = s->dev;
  double vmin, vmax, imax;
  nimc_device_window(d, &vmin, &vmax, &imax);
  int rc = NIMC_OK;
  if (isfinite(vmax))
    rc = nimc_cutoffs_add(l, NIMC_END_WINDOW, nimc_watch_voltage,
                          vmax + NIMC_WINDOW_TOL_V, +1);
  if (!rc && isfinite(vmin))
    rc = nimc_cutoffs_add(l, NIMC_END_WINDOW, nimc_watch_voltage,
                          vmin - NIMC_WINDOW_TOL_V, -1);
  if (!rc && isfinite(imax))
    rc = nimc_cutoffs_add(l, NIMC_END_WINDOW, nimc_watch_abs_current,
                          imax * (1.0 + NIMC_WINDOW_TOL_I), +1);
  return rc;
}

/* Start step st: its plan (control and time bound) from its kind's
 * set-up, its cut-offs (the kind's, then the device's, its window last)
 * in ctx, and the solver restarted under the new control. */
static int start_step(nimc_sim *s, const nimc_step *st, int index,
                      const nimc_step_ops *ops, nimc_step_plan *plan,
                      step_ctx *ctx) {
  const double *y = nimc_solver_y(s->solver);
  nimc_step_env env = {s->model, y, s->t, s->dev->area_m2,
                       s->opts.max_step_time_s};
  memset(plan, 0, sizeof *plan);
  plan->control.kind = NIMC_CONTROL_CURRENT;
  plan->control.t0_s = s->t;
  plan->duration_s =
      st->has_duration ? st->duration_s : s->opts.max_step_time_s;
  plan->bound_is_safety = !st->has_duration;
  ops->setup(st, &env, plan);
  if (nimc_model_set_control(s->model, &plan->control))
    return nimc_sim_fail(s, NIMC_EINPUT,
                         "step %d '%s' at t = %.6g s: its control is not a "
                         "finite value",
                         index + 1, st->text, s->t);
  ctx->m = s->model;
  if (ops->cutoffs(st, &env, &ctx->cut) || device_cutoffs(s, y, &ctx->cut) ||
      window_cutoffs(s, &ctx->cut))
    return NIMC_ENOMEM;
  int rc = nimc_solver_set_max_step(s->solver, plan->max_step_s);
  if (!rc)
    rc = nimc_solver_restart(s->solver, s->t, (int)ctx->cut.n, ctx->cut.dir,
                             step_roots, ctx);
  if (rc) {
    char why[NIMC_ERRMSG_MAX / 2];
    nimc_model_diagnose(s->model, y, why, sizeof why);
    return nimc_sim_fail(
        s, NIMC_ESOLVER, "step %d '%s' at t = %.6g s: cannot start: %s [%s]",
        index + 1, st->text, s->t, why, nimc_solver_errmsg(s->solver));
  }
  return NIMC_OK;
}

/* A step the solver could not go on with: what in the device was at its
 * limit in the last state reached (nimc_model_diagnose), where and when,
 * the solver's own words in brackets for experts. */
static int step_failed(nimc_sim *s, const nimc_step *st, int index) {
  char why[NIMC_ERRMSG_MAX / 2];
  nimc_model_diagnose(s->model, nimc_solver_y(s->solver), why, sizeof why);
  return nimc_sim_fail(s, NIMC_ESOLVER,
                       "step %d '%s' failed at t = %.6g s: %s [%s]",
                       index + 1, st->text, s->t, why,
                       nimc_solver_errmsg(s->solver));
}

/* A step that ended at the device's window (end reason window): the
 * warning of the result says where and why, and the run stops there
 * (NIMC_EWINDOW, with the same words as its message). */
static int window_stop(nimc_sim *s, const nimc_step *st, int index,
                       const nimc_step_result *sr, nimc_result *res) {
  const double *y = nimc_solver_y(s->solver);
  const nimc_model *m = s->model;
  double vmin, vmax, imax, V = y[m->iV], I = y[m->iI];
  nimc_device_window(s->dev, &vmin, &vmax, &imax);
  char what[256], pv[64] = "", pi[64] = "";
  if (s->dev->pack.given) { /* a pack's window is its cells' summed */
    snprintf(pv, sizeof pv, " (%d in series)", s->dev->pack.series);
    snprintf(pi, sizeof pi, " (%d in parallel)", s->dev->pack.parallel);
  }
  if (V > vmax + 0.5 * NIMC_WINDOW_TOL_V)
    snprintf(what, sizeof what,
             "the voltage %.4f V is above [device] max_voltage%s = %g V", V,
             pv, vmax);
  else if (V < vmin - 0.5 * NIMC_WINDOW_TOL_V)
    snprintf(what, sizeof what,
             "the voltage %.4f V is below [device] min_voltage%s = %g V", V,
             pv, vmin);
  else
    snprintf(what, sizeof what,
             "the current %.4g A is beyond [device] max_current%s = %.4g A", I,
             pi, imax);
  const char *when = sr->duration_s > 0.0 ? "" : " at its start";
  if (nimc_result_warn(res, index, s->t,
                       "step %d '%s' left the device's safe window%s at "
                       "t = %.6g s: %s; the run stopped there",
                       index + 1, st->text, when, s->t, what))
    return NIMC_ENOMEM;
  return nimc_sim_fail(s, NIMC_EWINDOW, "%s",
                       res->warnings[res->nwarnings - 1].text);
}

/* Integrate the started step until a cut-off fires or the time bound is
 * reached, recording samples; sr->end_reason says which. */
static int integrate_step(nimc_sim *s, const nimc_step *st, int index,
                          const nimc_step_plan *plan, step_ctx *ctx,
                          nimc_result *res, nimc_step_result *sr) {
  double t0 = s->t, tend = t0 + plan->duration_s;
  long nsolver = 0;
  double dt_out = st->has_period ? st->period_s : s->opts.output_dt_s;
  double next_out = t0 + dt_out;
  for (;;) {
    int ev, rc;
    /* long steps report progress too, every few hundred solver steps */
    if (++nsolver % 256 == 0 && s->opts.progress &&
        s->opts.progress(s->opts.progress_user, s->run_done, s->run_total,
                         s->t))
      return nimc_sim_fail(s, NIMC_ESOLVER,
                           "interrupted in step %d '%s' at t = %.6g s",
                           index + 1, st->text, s->t);
    if (nimc_solver_step(s->solver, tend, &s->t, &ev))
      return step_failed(s, st, index);
    if (dt_out > 0.0) {
      if ((rc = record_interval(s, res, index, dt_out, &next_out))) return rc;
      if (ev == 0) continue; /* the end is recorded below */
    }
    if ((rc = record(s, res, index))) return rc;
    if (ev == 1) {
      for (size_t k = 0; k < ctx->cut.n; k++)
        ctx->cut.info[k] = 0;
      long k = nimc_solver_root_info(s->solver, ctx->cut.info)
                   ? -1
                   : nimc_cutoffs_fired(&ctx->cut);
      /* a root without a flag cannot happen; it is then the first */
      sr->end_reason =
          ctx->cut.n ? ctx->cut.c[k < 0 ? 0 : k].reason : NIMC_END_LIMIT;
      return NIMC_OK;
    }
    if (ev == 2) {
      sr->end_reason = plan->bound_is_safety ? NIMC_END_LIMIT : NIMC_END_TIME;
      return NIMC_OK;
    }
  }
}

/* Run one step: set up by its kind, integrated by the shared loop, its
 * record filled from the solver's integrals (charge and energy are the
 * changes of the state's running integrals Q and E, exact at any output
 * spacing) and completed by its kind. */
static int run_step(nimc_sim *s, const nimc_step *st, int index, int cycle,
                    nimc_result *res) {
  const nimc_step_ops *ops = nimc_step_ops_of(st->type);
  if (!ops)
    return nimc_sim_fail(s, NIMC_EINPUT,
                         "step %d '%s': unknown kind of step (%d)", index + 1,
                         st->text, (int)st->type);
  const nimc_model *m = s->model;
  step_ctx ctx;
  memset(&ctx, 0, sizeof ctx);
  nimc_step_plan plan;
  /* its temperature, or the device's (checked before the run) */
  double T_K = st->has_temperature ? st->temperature_K : s->dev->temperature_K;
  if (m->T_K != T_K) nimc_model_set_temperature(s->model, T_K);
  int rc = start_step(s, st, index, ops, &plan, &ctx);
  if (rc) goto done;
  const double *y = nimc_solver_y(s->solver);
  double q0 = y[m->iQ], e0 = y[m->iE], t0 = s->t;
  size_t first = res->series.n; /* this step's first sample */
  if ((rc = record(s, res, index))) goto done;
  nimc_step_result sr;
  memset(&sr, 0, sizeof sr);
  sr.type = st->type;
  sr.index = index;
  sr.cycle = cycle;
  sr.v_start_V = y[m->iV];
  sr.temperature_K = T_K;
  sr.output_dt_s = st->has_period ? st->period_s : s->opts.output_dt_s;
  /* a cut-off already passed at the start ends the step at once */
  long passed = nimc_cutoffs_passed(&ctx.cut, m, y);
  if (passed >= 0)
    sr.end_reason = ctx.cut.c[passed].reason;
  else if ((rc = integrate_step(s, st, index, &plan, &ctx, res, &sr)))
    goto done;
  sr.duration_s = s->t - t0;
  sr.charge_C = y[m->iQ] - q0;
  sr.energy_J = y[m->iE] - e0;
  sr.v_end_V = y[m->iV];
  sr.freq_Hz = sr.z_re_ohm = sr.z_im_ohm = NAN;
  if (ops->finish) ops->finish(st, &res->series, first, t0, &sr);
  rc = nimc_result_push_step(res, &sr);
  if (!rc && s->sinks.step && s->sinks.step(s->sinks.user, &sr))
    rc = nimc_sim_fail(s, NIMC_ESOLVER,
                       "interrupted by the step sink after step %d '%s'",
                       index + 1, st->text);
  if (!rc && sr.end_reason == NIMC_END_WINDOW)
    rc = window_stop(s, st, index, &sr, res);
done:
  nimc_cutoffs_free(&ctx.cut);
  return rc;
}

/* ---- cycles ---- */

/* Where a cycle (or a step outside a Repeat) began: its first sample and
 * step record in the result, its first executed step, its start time. */
typedef struct cycle_mark {
  size_t first_sample, first_record;
  int first_step;
  double t0_s;
} cycle_mark;

static cycle_mark mark(const nimc_sim *s, const nimc_result *res) {
  cycle_mark mk = {res->series.n, res->nsteps, s->steps_done, s->t};
  return mk;
}

/* The samples and step records of res from mk on, as a result of their
 * own (a view: nothing copied, nothing to free). */
static nimc_result view_from(const nimc_result *res, const cycle_mark *mk) {
  nimc_result v = *res;
  nimc_series *se = &v.series;
  size_t a = mk->first_sample, r = mk->first_record;
  se->time_s += a, se->voltage_V += a, se->current_A += a;
  if (se->step) se->step += a;
  se->n -= a, se->cap = se->n;
  if (v.steps) v.steps += r;
  v.nsteps -= r, v.cap = v.nsteps;
  v.cycles = NULL, v.ncycles = v.cycles_cap = 0;
  return v;
}

/* The summary of the cycle begun at mk, which has just ended: charges and
 * energies from its step records, the metrics of its last full discharge
 * from its own samples and records.  *c_first is the capacitance of the
 * Repeat's first cycle that had one (NaN until then). */
static void cycle_summary(const nimc_sim *s, const nimc_result *res,
                          const cycle_mark *mk, int cycle, double *c_first,
                          nimc_cycle_result *c) {
  memset(c, 0, sizeof *c);
  c->cycle = cycle;
  c->first_step = mk->first_step;
  c->nsteps = s->steps_done - mk->first_step;
  c->t_start_s = mk->t0_s;
  c->duration_s = s->t - mk->t0_s;
  for (size_t k = mk->first_record; k < res->nsteps; k++) {
    const nimc_step_result *r = &res->steps[k];
    if (r->charge_C > 0.0)
      c->charge_C += r->charge_C, c->energy_charge_J += fabs(r->energy_J);
    else if (r->charge_C < 0.0)
      c->discharge_C -= r->charge_C, c->energy_discharge_J += fabs(r->energy_J);
  }
  c->coulombic_efficiency =
      c->charge_C > 0.0 ? c->discharge_C / c->charge_C : NAN;
  c->energy_efficiency = c->energy_charge_J > 0.0
                             ? c->energy_discharge_J / c->energy_charge_J
                             : NAN;
  c->v_end_V = nimc_solver_y(s->solver)[s->model->iV];
  nimc_result v = view_from(res, mk);
  nimc_norm norm = {nimc_device_footprint_area_m2(s->dev),
                    nimc_device_norm_thickness_m(s->dev)};
  nimc_err err;
  if (nimc_metrics_gcd_result(&v, &norm, &c->metrics, &err) != NIMC_OK)
    c->metrics = nimc_metrics_undefined();
  double cap = c->metrics.capacitance_F;
  if (isnan(*c_first) && isfinite(cap)) *c_first = cap;
  c->capacitance_retention = cap / *c_first; /* NaN when either is */
}

/* After a step outside a cycle, or a cycle, begun at mk: its summary
 * (a cycle's) into the result when kept and to the cycle sink, then what
 * the result does not keep is dropped (the records of steps inside a
 * Repeat, inside set, as those of a cycle). */
static int end_span(nimc_sim *s, nimc_result *res, const cycle_mark *mk,
                    int is_cycle, int inside, int cycle, double *c_first,
                    int skipped, double *cap) {
  nimc_keep keep = s->sinks.keep;
  *cap = NAN;
  if (is_cycle) {
    nimc_cycle_result c;
    cycle_summary(s, res, mk, cycle, c_first, &c);
    c.skipped_before = skipped;
    *cap = c.metrics.capacitance_F;
    if (keep <= NIMC_KEEP_CYCLES && nimc_result_push_cycle(res, &c))
      return NIMC_ENOMEM;
    if (s->sinks.cycle && s->sinks.cycle(s->sinks.user, &c))
      return nimc_sim_fail(s, NIMC_ESOLVER,
                           "interrupted by the cycle sink after cycle %d",
                           cycle);
    if (keep >= NIMC_KEEP_CYCLES) res->nsteps = mk->first_record;
  } else if (inside && keep >= NIMC_KEEP_CYCLES) {
    res->nsteps = mk->first_record;
  }
  if (keep != NIMC_KEEP_ALL) res->series.n = mk->first_sample;
  return NIMC_OK;
}

/* Whether the device can run every step of block b (a C-rate needs a
 * nominal capacity, a step's temperature must suit its laws), checked
 * before anything runs; a step is named by its first execution, *first
 * the index of b's first (moved past all of b's executions). */
static int check_block(nimc_sim *s, const nimc_block *b, size_t *first) {
  size_t at = *first;
  char why[NIMC_ERRMSG_MAX / 2];
  for (size_t k = 0; k < b->nsteps; k++, at++) {
    const nimc_step *st = &b->steps[k];
    if (nimc_step_check(st, s->model, why, sizeof why))
      return nimc_sim_fail(s, NIMC_EINPUT, "step %zu '%s': %s", at + 1,
                           st->text, why);
    if (st->has_temperature) {
      nimc_device dev = *s->dev; /* its checks of a temperature, on a copy */
      nimc_err err;
      if (nimc_device_set_temperature(&dev, st->temperature_K, &err))
        return nimc_sim_fail(s, NIMC_EINPUT, "step %zu '%s': %s", at + 1,
                             st->text, err.msg);
    }
  }
  for (size_t i = 0; i < b->nblocks; i++) {
    int rc = check_block(s, &b->blocks[i], &at);
    if (rc) return rc;
  }
  *first += (size_t)b->repeat * (at - *first);
  return NIMC_OK;
}

/* A run through one line of the experiment: its progress, and the cycles
 * of the line so far with the capacitance of the first that had one. */
typedef struct run_ctx {
  size_t done, total;
  int ncycles;
  double c_first;
  size_t line;     /* the experiment line (top-level block) running */
  long boundaries; /* checkpoint boundaries passed */
  int iter[NIMC_POSITION_DEPTH]; /* the iteration of each Repeat around */
  size_t skip; /* resuming: the steps that ran before (0: none) */
} run_ctx;

/* A checkpoint boundary, after a span (a cycle, or a step outside a
 * cycle) of block depth `depth` ended: the position is noted, and at a
 * scheduled one the solver forgets what it keeps across steps (a resumed
 * run starts with a new solver: both then go on alike) and the
 * checkpoint callback is called. */
static int boundary(nimc_sim *s, nimc_result *res, run_ctx *r, int depth) {
  nimc_position *p = &s->pos;
  r->boundaries++;
  p->done = r->done, p->total = r->total, p->line = r->line;
  p->ncycles = r->ncycles, p->c_first = r->c_first;
  p->boundaries = r->boundaries;
  p->depth = depth + 1 < NIMC_POSITION_DEPTH ? depth + 1 : NIMC_POSITION_DEPTH;
  memcpy(p->iter, r->iter, sizeof p->iter);
  int every = s->opts.checkpoint_every;
  if (every <= 0 || r->boundaries % every) return NIMC_OK;
  nimc_solver_forget(s->solver);
  if (s->opts.checkpoint && s->opts.checkpoint(s->opts.checkpoint_user, s, res))
    return nimc_sim_fail(s, NIMC_ESOLVER,
                         "interrupted at a checkpoint after step %zu of %zu",
                         r->done, r->total);
  return NIMC_OK;
}

/* Resuming, where the steps that ran before the checkpoint end: the run
 * must stand where the checkpoint says (the same line, cycles and Repeat
 * iterations), and takes its first capacitance and boundary count. */
static int resumed_here(nimc_sim *s, run_ctx *r, int depth) {
  const nimc_position *w = &s->resume;
  int d = depth + 1 < NIMC_POSITION_DEPTH ? depth + 1 : NIMC_POSITION_DEPTH;
  if (r->line != w->line || r->ncycles != w->ncycles || d != w->depth ||
      memcmp(r->iter, w->iter, sizeof(int) * (size_t)d))
    return nimc_sim_fail(s, NIMC_EINPUT,
                         "the checkpoint's position (%zu steps done, line %zu, "
                         "cycle %d) is not where this experiment stands after "
                         "%zu steps (line %zu, cycle %d): another experiment",
                         w->done, w->line + 1, w->ncycles, r->done, r->line + 1,
                         r->ncycles);
  r->c_first = w->c_first;
  r->boundaries = w->boundaries;
  return NIMC_OK;
}

static int run_cycle(nimc_sim *s, const nimc_block *b, int depth, int rep,
                     int rep_outer, int is_cycle, nimc_result *res,
                     run_ctx *r, nimc_jumper *J, int *skip);

/* Run block b, inside a Repeat when depth > 0 (in iteration rep_outer of
 * the innermost one): a block of blocks runs them in order, repeat times;
 * a block of steps runs them repeat times, each time a cycle when it is a
 * Repeat of more than one step or more than once (docs/experiments.md,
 * "Cycles": with nesting, every iteration of an innermost Repeat). */
static int run_block(nimc_sim *s, const nimc_block *b, int depth, int rep_outer,
                     nimc_result *res, run_ctx *r) {
  for (int rep = 0; rep < b->repeat && b->nblocks; rep++) {
    if (depth < NIMC_POSITION_DEPTH) r->iter[depth] = rep;
    for (size_t i = 0; i < b->nblocks; i++) {
      int rc = run_block(s, &b->blocks[i], depth + 1, rep, res, r);
      if (rc) return rc;
    }
  }
  int is_cycle = !b->plain && (b->repeat > 1 || b->nsteps > 1);
  /* cycle jumping: a long Repeat of steps (jump.h) */
  int jumping = is_cycle && (s->opts.cycle_jump || b->jump) &&
                b->repeat >= NIMC_JUMP_MIN_CYCLES;
  nimc_jumper *J = jumping ? &s->jump : NULL;
  if (J && nimc_jumper_init(J, s->model, s->opts.cycle_jump_tol > 0.0
                                             ? s->opts.cycle_jump_tol
                                             : 1e-3)) {
    snprintf(s->msg, sizeof s->msg, "out of memory");
    return NIMC_ENOMEM;
  }
  s->jumping = jumping;
  int rc = NIMC_OK;
  for (int rep = 0; rep < b->repeat && b->nsteps && !rc; rep++) {
    if (depth < NIMC_POSITION_DEPTH) r->iter[depth] = rep;
    if (r->skip > r->done) { /* resuming: this span ran before */
      if (r->done + b->nsteps > r->skip) {
        rc = nimc_sim_fail(s, NIMC_EINPUT,
                           "the checkpoint's position (%zu steps done) is "
                           "inside a cycle of this experiment: another "
                           "experiment",
                           r->skip);
        break;
      }
      if (is_cycle) ++r->ncycles;
      s->run_done = r->done += b->nsteps;
      if (r->done == r->skip) {
        rc = resumed_here(s, r, depth);
        /* and the jumper's memory of the cycles before */
        if (!rc && J && s->jump_resume.y[0])
          rc = nimc_jumper_copy(J, &s->jump_resume);
      }
      continue;
    }
    int skipped;
    rc = run_cycle(s, b, depth, rep, rep_outer, is_cycle, res, r, J,
                   &skipped);
    rep += skipped;
  }
  if (J) {
    s->jumping = 0;
    nimc_jumper_free(J);
  }
  if (rc == NIMC_ENOMEM) snprintf(s->msg, sizeof s->msg, "out of memory");
  return rc;
}

/* One iteration rep of leaf block b (run_block); with a jumper J, *skip
 * gets the cycles it jumped over after it (0: none: the state is then
 * the extrapolated one), and the cycle says how many it follows. */
static int run_cycle(nimc_sim *s, const nimc_block *b, int depth, int rep,
                     int rep_outer, int is_cycle, nimc_result *res,
                     run_ctx *r, nimc_jumper *J, int *skip) {
  *skip = 0;
  cycle_mark mk = mark(s, res);
  int cycle = is_cycle ? ++r->ncycles : 0, rc = NIMC_OK;
  int tag = is_cycle ? cycle - 1 : depth ? rep_outer : rep;
  for (size_t k = 0; k < b->nsteps && !rc; k++) {
    rc = run_step(s, &b->steps[k], s->steps_done, tag, res);
    if (rc && rc != NIMC_EWINDOW) break;
    s->steps_done++; /* a step ended at the window ran: counted */
    s->run_done = ++r->done;
    if (rc) break; /* and the run stops there */
    if (s->opts.progress &&
        s->opts.progress(s->opts.progress_user, r->done, r->total, s->t))
      rc = nimc_sim_fail(s, NIMC_ESOLVER, "interrupted after step %zu of %zu",
                         r->done, r->total);
  }
  double cap;
  if (!rc)
    rc = end_span(s, res, &mk, is_cycle, depth > 0, cycle, &r->c_first,
                  J ? J->pending : 0, &cap);
  if (rc) return rc;
  if (J) {
    double *y = nimc_sim_state(s), t = s->t;
    int n = nimc_jumper_after_cycle(J, s->model, y, &t, cap, rep, b->repeat);
    if (n > 0) {
      /* the skipped cycles count as run: their cycle numbers, their
       * steps in the experiment's numbering */
      if (nimc_solver_reset(s->solver, t))
        return nimc_sim_fail(s, NIMC_ESOLVER,
                             "after a jump over %d cycles (to cycle %d): %s",
                             n, r->ncycles + n + 1,
                             nimc_solver_errmsg(s->solver));
      s->t = t;
      r->ncycles += n;
      /* the position is after the last cycle skipped (a run resumed
       * here walks the skipped cycles' iterations too) */
      if (depth < NIMC_POSITION_DEPTH) r->iter[depth] = rep + n;
      s->steps_done += n * (int)b->nsteps;
      s->run_done = r->done += (size_t)n * b->nsteps;
      *skip = n;
    }
  }
  /* the boundary after the jump: a checkpoint there holds the jumped
   * state and position */
  return boundary(s, res, r, depth);
}

int nimc_sim_run(nimc_sim *s, const nimc_experiment *exp, nimc_result *res) {
  run_ctx r;
  memset(&r, 0, sizeof r);
  r.total = nimc_experiment_nsteps(exp);
  r.c_first = NAN;
  s->msg[0] = '\0';
  if (s->resuming) {
    s->resuming = 0; /* once; a checkpoint at a run's start has no total */
    if (s->resume.done && s->resume.total != r.total)
      return nimc_sim_fail(s, NIMC_EINPUT,
                           "the checkpoint is of a run of %zu steps, this "
                           "experiment runs %zu: another experiment",
                           s->resume.total, r.total);
    r.skip = s->resume.done;
  }
  if (!r.skip) { /* a new run's position: its start */
    memset(&s->pos, 0, sizeof s->pos);
    s->pos.total = r.total;
    s->pos.c_first = NAN;
  }
  /* a step the device cannot run (a C-rate without a nominal capacity)
   * is refused before anything runs, named by its first execution */
  size_t first = (size_t)s->steps_done;
  for (size_t b = 0; b < exp->nblocks; b++) {
    int rc = check_block(s, &exp->blocks[b], &first);
    if (rc) return rc;
  }
  s->run_done = 0;
  s->run_total = r.total;
  int rc = NIMC_OK;
  for (size_t b = 0; b < exp->nblocks && !rc; b++) {
    /* cycles are numbered, and retained against their first, per line */
    r.ncycles = 0;
    r.c_first = NAN;
    r.line = b;
    rc = run_block(s, &exp->blocks[b], 0, 0, res, &r);
  }
  if (!rc && r.skip > r.done)
    rc = nimc_sim_fail(s, NIMC_EINPUT,
                       "the checkpoint's position (%zu steps done) is past "
                       "the end of this experiment (%zu steps): another "
                       "experiment",
                       r.skip, r.done);
  /* steps at their own temperature leave the device's behind them */
  nimc_model_set_temperature(s->model, s->dev->temperature_K);
  return rc;
}
