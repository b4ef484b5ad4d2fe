/*
 * run.c -- the simulation handle and the execution of experiments.
 *
 * A step sets the control of the model (current, voltage or sweep),
 * restarts the solver there (consistent initialisation: the double layers
 * and concentrations carry over, the potentials and the current jump), and
 * integrates until a root function (voltage or current cut-off) fires or
 * the step's time runs out.  Every internal solver step is recorded in the
 * series; the first sample of a step shares its time with the last sample
 * of the previous one, which is how the IR drop at a switch is seen.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/result.h"
#include "mesh/mesh.h"
#include "model/constants.h"
#include "model/model.h"
#include "protocol/experiment.h"
#include "protocol/sim.h"
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
  nimc_mesh *mesh = NULL;
  int rc;
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
  return st;
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

/* The events that can end a step, one root function each. */
typedef struct step_ctx {
  const nimc_model *m;
  const nimc_step *st;
  double i_cut_A;
  double c_floor;             /* depletion: concentration floor, mol/m3 */
  int nroots;
  nimc_end_reason reason[3];  /* what each root means */
} step_ctx;

static int step_roots(double t, const double *y, double *g, void *user) {
  (void)t;
  step_ctx *c = user;
  for (int k = 0; k < c->nroots; k++) switch (c->reason[k]) {
    case NIMC_END_VOLTAGE:
      g[k] = y[c->m->iV] - c->st->v_cut_V;
      break;
    case NIMC_END_CURRENT:
      g[k] = fabs(y[c->m->iI]) - c->i_cut_A;
      break;
    default:
      g[k] = nimc_model_min_concentration(c->m, y) - c->c_floor;
    }
  return 0;
}

static int record(nimc_sim *s, nimc_result *res, int index) {
  const double *y = nimc_solver_y(s->solver);
  const nimc_model *m = s->model;
  return nimc_series_push(&res->series, s->t, y[m->iV], y[m->iI], index);
}

/* With a fixed output interval: record the interpolated state at every
 * multiple of output_dt in (t_prev, t] (the step's own end is recorded by
 * the caller).  *next is the next output time. */
static int record_interval(nimc_sim *s, nimc_result *res, int index,
                           double *next) {
  const nimc_model *m = s->model;
  while (*next < s->t) {
    if (nimc_solver_interpolate(s->solver, *next, s->ywork))
      return NIMC_ESOLVER;
    int rc = nimc_series_push(&res->series, *next, s->ywork[m->iV],
                              s->ywork[m->iI], index);
    if (rc) return rc;
    *next += s->opts.output_dt_s;
  }
  return NIMC_OK;
}

/* The impedance of a finished sine step st (begun at t0, its samples
 * from index first of res's series) over its last half, whole periods
 * (at least one); left NaN when there is not a whole period. */
static void sine_impedance(const nimc_step *st, const nimc_result *res,
                           size_t first, double t0, nimc_step_result *sr) {
  double T = 1.0 / st->sine_freq_Hz, t1 = t0 + sr->duration_s;
  double periods = floor(0.5 * sr->duration_s / T + 1e-9);
  if (periods < 1.0) periods = sr->duration_s >= T * (1 - 1e-9) ? 1.0 : 0.0;
  sr->freq_Hz = st->sine_freq_Hz;
  if (periods < 1.0 || first >= res->series.n) return;
  nimc_series view = res->series;
  view.time_s += first, view.voltage_V += first, view.current_A += first;
  if (view.step) view.step += first;
  view.n -= first;
  nimc_err err;
  double re, im;
  if (nimc_series_impedance(&view, st->sine_freq_Hz, t1 - periods * T, t1,
                            &re, &im, &err) == NIMC_OK)
    sr->z_re_ohm = re, sr->z_im_ohm = im;
}

static int run_step(nimc_sim *s, const nimc_step *st, int index, int cycle,
                    nimc_result *res) {
  nimc_model *m = s->model;
  double area = s->dev->area_m2;
  double duration = st->has_duration ? st->duration_s : s->opts.max_step_time_s;
  int limit_is_safety = !st->has_duration;
  double max_step = 0.0; /* 0: the simulation's own bound */
  nimc_control ctl = {.kind = NIMC_CONTROL_CURRENT, .t0_s = s->t};
  switch (st->type) {
  case NIMC_STEP_CHARGE:
  case NIMC_STEP_DISCHARGE: {
    double I = st->current * (st->current_per_area ? area : 1.0);
    ctl.i_set_A = st->type == NIMC_STEP_CHARGE ? I : -I;
    break;
  }
  case NIMC_STEP_REST:
    ctl.i_set_A = 0.0;
    break;
  case NIMC_STEP_HOLD:
    ctl.kind = NIMC_CONTROL_VOLTAGE;
    ctl.v_set_V = st->voltage_V;
    break;
  case NIMC_STEP_SWEEP: {
    double dv = st->sweep_to_V - st->voltage_V;
    ctl.kind = NIMC_CONTROL_SWEEP;
    ctl.v_set_V = st->voltage_V;
    ctl.sweep_rate_V_s = dv >= 0 ? st->sweep_rate_V_s : -st->sweep_rate_V_s;
    double tsweep = fabs(dv) / st->sweep_rate_V_s;
    if (!st->has_duration || tsweep < duration) duration = tsweep;
    limit_is_safety = 0;
    break;
  }
  case NIMC_STEP_SINE: {
    const double *y0 = nimc_solver_y(s->solver);
    double k = st->current_per_area ? area : 1.0;
    ctl.sine_amplitude = st->sine_amplitude * k;
    ctl.sine_omega_rad_s = 2.0 * NIMC_PI * st->sine_freq_Hz;
    if (st->sine_is_current) {
      ctl.kind = NIMC_CONTROL_SINE_CURRENT;
      ctl.i_set_A = st->has_sine_level
                        ? st->sine_level * (st->sine_level_per_area ? area : 1.0)
                        : 0.0;
    } else {
      ctl.kind = NIMC_CONTROL_SINE_VOLTAGE;
      ctl.v_set_V = st->has_sine_level ? st->sine_level : y0[m->iV];
    }
    /* at least 20 solver steps a period, so the wave is followed */
    max_step = 0.05 / st->sine_freq_Hz;
    break;
  }
  }
  if (nimc_model_set_control(m, &ctl)) {
    snprintf(s->msg, sizeof s->msg,
             "step %d '%s' at t = %.6g s: its control is not a finite value",
             index + 1, st->text, s->t);
    return NIMC_EINPUT;
  }
  step_ctx ctx;
  memset(&ctx, 0, sizeof ctx);
  ctx.m = m, ctx.st = st;
  /* The depletion event sits at 1e-3 of the initial concentration; a step
   * that starts at or below it (after a step that ended there) gets its own
   * floor at half its starting value, so a step that refills the
   * electrolyte goes on and one that keeps emptying it still stops. */
  double c_start = nimc_model_min_concentration(m, nimc_solver_y(s->solver));
  ctx.c_floor = 1e-3 * s->dev->electrolyte.c0_mol_m3;
  if (c_start < 1.01 * ctx.c_floor) ctx.c_floor = 0.5 * c_start;
  int dir[3], nroots = 0;
  if (st->has_v_cut) {
    ctx.reason[nroots] = NIMC_END_VOLTAGE;
    dir[nroots++] = st->type == NIMC_STEP_DISCHARGE ? -1 : 1;
  }
  if (st->has_i_cut) {
    ctx.i_cut_A = st->i_cut * (st->i_cut_per_area ? area : 1.0);
    ctx.reason[nroots] = NIMC_END_CURRENT;
    dir[nroots++] = -1;
  }
  /* the binary salt's diffusion potential diverges as c -> 0: a step ends
   * before it; the ternary electrolyte keeps its conductivity and its Na+
   * reaction is first order in c (Na+ runs out only asymptotically; the
   * residual refuses c <= 0), so no event is needed */
  if (!s->dev->electrolyte.ternary) {
    ctx.reason[nroots] = NIMC_END_DEPLETION; /* ends any step before c = 0 */
    dir[nroots++] = -1;
  }
  ctx.nroots = nroots;
  double *y = nimc_solver_y(s->solver);
  double q0 = y[m->iQ], e0 = y[m->iE], t0 = s->t;
  int rc = nimc_solver_set_max_step(s->solver, max_step);
  if (!rc)
    rc = nimc_solver_restart(s->solver, s->t, nroots, dir, step_roots, &ctx);
  if (rc) {
    snprintf(s->msg, sizeof s->msg,
             "step %d '%s' at t = %.6g s: cannot start: %s", index + 1,
             st->text, s->t, nimc_solver_errmsg(s->solver));
    return NIMC_ESOLVER;
  }
  size_t first = res->series.n; /* this step's first sample */
  if ((rc = record(s, res, index))) return rc;
  nimc_step_result sr;
  memset(&sr, 0, sizeof sr);
  sr.type = st->type;
  sr.index = index;
  sr.cycle = cycle;
  sr.v_start_V = y[m->iV];
  /* A cut-off already passed at the start ends the step at once. */
  int done = 0;
  if (st->has_v_cut) {
    double v = y[m->iV];
    if ((st->type == NIMC_STEP_DISCHARGE && v <= st->v_cut_V) ||
        (st->type != NIMC_STEP_DISCHARGE && v >= st->v_cut_V)) {
      sr.end_reason = NIMC_END_VOLTAGE;
      done = 1;
    }
  }
  if (!done && st->has_i_cut && fabs(y[m->iI]) <= ctx.i_cut_A) {
    sr.end_reason = NIMC_END_CURRENT;
    done = 1;
  }
  double tend = t0 + duration;
  long nsolver = 0;
  double dt_out = s->opts.output_dt_s, next_out = t0 + dt_out;
  while (!done) {
    int ev;
    /* long steps report progress too, every few hundred solver steps */
    if (++nsolver % 256 == 0 && s->opts.progress &&
        s->opts.progress(s->opts.progress_user, s->run_done, s->run_total,
                         s->t)) {
      snprintf(s->msg, sizeof s->msg,
               "interrupted in step %d '%s' at t = %.6g s", index + 1, st->text,
               s->t);
      return NIMC_ESOLVER;
    }
    rc = nimc_solver_step(s->solver, tend, &s->t, &ev);
    if (rc) {
      snprintf(s->msg, sizeof s->msg, "step %d '%s' failed at t = %.6g s: %s",
               index + 1, st->text, s->t, nimc_solver_errmsg(s->solver));
      return NIMC_ESOLVER;
    }
    if (dt_out > 0.0) {
      if ((rc = record_interval(s, res, index, &next_out))) return rc;
      if (ev == 0) continue; /* the end is recorded below */
    }
    if ((rc = record(s, res, index))) return rc;
    if (ev == 1) {
      int info[3] = {0, 0, 0};
      nimc_solver_root_info(s->solver, info);
      sr.end_reason = ctx.reason[0];
      for (int k = nroots - 1; k >= 0; k--)
        if (info[k]) sr.end_reason = ctx.reason[k];
      done = 1;
    } else if (ev == 2) {
      sr.end_reason = limit_is_safety ? NIMC_END_LIMIT : NIMC_END_TIME;
      done = 1;
    }
  }
  sr.duration_s = s->t - t0;
  sr.charge_C = y[m->iQ] - q0;
  sr.energy_J = y[m->iE] - e0;
  sr.v_end_V = y[m->iV];
  sr.freq_Hz = sr.z_re_ohm = sr.z_im_ohm = NAN;
  if (st->type == NIMC_STEP_SINE) sine_impedance(st, res, first, t0, &sr);
  return nimc_result_push_step(res, &sr);
}

int nimc_sim_run(nimc_sim *s, const nimc_experiment *exp, nimc_result *res) {
  size_t total = nimc_experiment_nsteps(exp), done = 0;
  s->msg[0] = '\0';
  s->run_done = 0;
  s->run_total = total;
  for (size_t b = 0; b < exp->nblocks; b++) {
    const nimc_block *bl = &exp->blocks[b];
    for (int rep = 0; rep < bl->repeat; rep++)
      for (size_t k = 0; k < bl->nsteps; k++) {
        int rc = run_step(s, &bl->steps[k], s->steps_done, rep, res);
        if (rc) {
          if (rc == NIMC_ENOMEM)
            snprintf(s->msg, sizeof s->msg, "out of memory");
          return rc;
        }
        s->steps_done++;
        s->run_done = ++done;
        if (s->opts.progress &&
            s->opts.progress(s->opts.progress_user, done, total, s->t)) {
          snprintf(s->msg, sizeof s->msg, "interrupted after step %zu of %zu",
                   done, total);
          return NIMC_ESOLVER;
        }
      }
  }
  return NIMC_OK;
}
