/*
 * steady.c -- formation cycles, then the measurement: one cycle repeated
 * until it is steady (nimc_sim_run_until_steady).
 *
 * A device starts as assembled, and its first cycles are not the ones a
 * paper reports: ions settle into the electrodes, the coulombic
 * efficiency is far from 1 and the capacitance drifts.  Experiments are
 * therefore measured after formation: the cycle runs again and again
 * from wherever the last one left the device, and the first cycle that
 * (a) is at least the min_cycles-th, (b) returns at least ce_min of its
 * charge, and (c) repeats the cycle before it to rel_tol in capacitance
 * and in coulombic efficiency, is the measured one.
 *
 * A formation cycle (one before the min_cycles-th) with nothing to
 * measure is no error: from the neutral start a fast first charge may end
 * at once on its IR drop.
 *
 * Each cycle is read by nimc_metrics_gcd_result from its own part of the
 * result (a view of its samples and step records, no copy), so the loop
 * costs O(samples) in all, and its charges come from the solver's
 * integrals whatever the output spacing; the metrics handed back are read
 * once more from the whole result, so that their cycle index counts every
 * pair the result holds.  This file runs the simulation (nimc_sim_run)
 * and reads results through the analysis API like any caller would: it knows
 * the experiment's steps only to check that a cycle has a charge and a
 * discharge to measure.  It never prints; every message goes to the
 * simulation's handle.  It keeps every sample of its cycles whatever the
 * simulation's sinks say (nimc_sinks.keep), since it reads them.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "protocol/experiment.h"
#include "protocol/sim.h"

nimc_steady_opts nimc_steady_opts_default(void) {
  nimc_steady_opts o;
  o.min_cycles = 3;
  o.max_cycles = 30;
  o.ce_min = 0.99;
  o.rel_tol = 3e-4;
  return o;
}

/* Metrics with nothing measured: flags 0, values NaN. */
static nimc_metrics no_metrics(void) {
  nimc_metrics m;
  memset(&m, 0, sizeof m);
  m.capacitance_F = m.capacitance_areal_F_m2 = NAN;
  m.capacitance_volumetric_F_m3 = m.energy_J = NAN;
  m.energy_volumetric_J_m3 = m.energy_areal_J_m2 = m.power_W = NAN;
  m.power_volumetric_W_m3 = m.power_areal_W_m2 = m.esr_ohm = NAN;
  m.coulombic_efficiency = m.capacitance_retention = NAN;
  m.discharge_time_s = m.discharge_current_A = NAN;
  return m;
}

/* The options' own check; the message names the field. */
static int check_opts(nimc_sim *sim, const nimc_steady_opts *o) {
  if (o->min_cycles < 2)
    return nimc_sim_fail(sim, NIMC_EINPUT,
                         "steady cycles: min_cycles is %d, must be at least 2 "
                         "(steadiness compares a cycle with the one before)",
                         o->min_cycles);
  if (o->max_cycles < o->min_cycles)
    return nimc_sim_fail(sim, NIMC_EINPUT,
                         "steady cycles: max_cycles %d is below min_cycles %d",
                         o->max_cycles, o->min_cycles);
  if (!(o->ce_min >= 0.0 && o->ce_min <= 1.0))
    return nimc_sim_fail(sim, NIMC_EINPUT,
                         "steady cycles: ce_min %g must be from 0 to 1",
                         o->ce_min);
  if (!(o->rel_tol > 0.0 && isfinite(o->rel_tol)))
    return nimc_sim_fail(sim, NIMC_EINPUT,
                         "steady cycles: rel_tol %g must be a positive number",
                         o->rel_tol);
  return NIMC_OK;
}

/* Does one execution of exp run a Charge and, after it, a Discharge?  A
 * cycle's capacitance and efficiency are read from such a pair. */
static int block_pair(const nimc_block *bl, int *charged) {
  /* a Repeat runs its items twice or more: a charge late in it pairs
   * with a discharge early in its next iteration */
  for (int pass = 0; pass < (bl->repeat > 1 ? 2 : 1); pass++) {
    for (size_t k = 0; k < bl->nsteps; k++) {
      if (bl->steps[k].type == NIMC_STEP_CHARGE) *charged = 1;
      if (bl->steps[k].type == NIMC_STEP_DISCHARGE && *charged) return 1;
    }
    for (size_t i = 0; i < bl->nblocks; i++) /* nested Repeats */
      if (block_pair(&bl->blocks[i], charged)) return 1;
  }
  return 0;
}

static int has_pair(const nimc_experiment *exp) {
  int charged = 0;
  for (size_t b = 0; b < exp->nblocks; b++)
    if (block_pair(&exp->blocks[b], &charged)) return 1;
  return 0;
}

/* The samples of res from index first on and its step records from
 * index first_step on, as a result of their own (a view: nothing is
 * copied, nothing may be freed). */
static nimc_result tail_view(const nimc_result *res, size_t first,
                             size_t first_step) {
  nimc_result v = *res;
  nimc_series *s = &v.series;
  if (first > s->n) first = s->n;
  s->time_s += first, s->voltage_V += first, s->current_A += first;
  if (s->step) s->step += first;
  s->n -= first;
  s->cap = s->n;
  if (first_step > v.nsteps) first_step = v.nsteps;
  if (v.steps) v.steps += first_step;
  v.nsteps -= first_step;
  v.cap = v.nsteps;
  return v;
}

int nimc_sim_run_until_steady(nimc_sim *sim, const nimc_experiment *cycle,
                              const nimc_steady_opts *opts,
                              const nimc_norm *norm, nimc_result *res,
                              nimc_steady_info *info) {
  nimc_steady_info inf;
  memset(&inf, 0, sizeof inf);
  inf.opts = opts ? *opts : nimc_steady_opts_default();
  inf.coulombic_efficiency = inf.capacitance_F = NAN;
  inf.capacitance_change = inf.ce_change = NAN;
  inf.metrics = no_metrics();
  if (info) *info = inf;
  if (!sim) return NIMC_EMISUSE;
  if (!cycle || !res)
    return nimc_sim_fail(sim, NIMC_EMISUSE,
                         "nimc_sim_run_until_steady: NULL argument");
  int rc = check_opts(sim, &inf.opts);
  if (rc) return rc;
  if (norm && !(norm->area_m2 >= 0 && norm->thickness_m >= 0 &&
                isfinite(norm->area_m2) && isfinite(norm->thickness_m)))
    return nimc_sim_fail(sim, NIMC_EINPUT,
                         "steady cycles: normalisation area %g m2 and "
                         "thickness %g m must be >= 0 (0 = not normalised)",
                         norm->area_m2, norm->thickness_m);
  if (!has_pair(cycle))
    return nimc_sim_fail(sim, NIMC_EINPUT,
                         "the cycle needs a Charge step followed by a "
                         "Discharge step (their capacitance and coulombic "
                         "efficiency tell when it is steady)");

  const nimc_steady_opts *o = &inf.opts;
  double c_prev = NAN, ce_prev = NAN;
  /* each cycle is read from its samples: keep them whatever the sinks'
   * keep says (restored below) */
  nimc_keep keep = nimc_sim_swap_keep(sim, NIMC_KEEP_ALL);
  for (int k = 1; k <= o->max_cycles && !inf.converged; k++) {
    inf.first_step = res->nsteps;
    inf.first_sample = res->series.n;
    inf.cycles = k;
    rc = nimc_sim_run(sim, cycle, res);
    for (size_t j = inf.first_step; j < res->nsteps; j++)
      res->steps[j].cycle = k - 1;
    if (rc) goto finish; /* the message is nimc_sim_run's */

    nimc_result view = tail_view(res, inf.first_sample, inf.first_step);
    nimc_metrics m;
    nimc_err err;
    int mrc = nimc_metrics_gcd_result(&view, norm, &m, &err);
    if (mrc == NIMC_OK && !m.have_cycle)
      snprintf(err.msg, sizeof err.msg,
               "its last full discharge is not paired with a charge");
    else if (mrc == NIMC_OK && !isfinite(m.capacitance_F))
      snprintf(err.msg, sizeof err.msg,
               "the voltage does not fall in its discharge");
    if (mrc == NIMC_OK && (!m.have_cycle || !isfinite(m.capacitance_F)))
      mrc = NIMC_EANALYSIS;
    if (mrc && k < o->min_cycles) {
      /* formation: from the neutral start a fast first charge may end at
       * once on its IR drop; the cycles after it are the formation */
      c_prev = ce_prev = NAN;
      continue;
    }
    if (mrc) {
      rc = nimc_sim_fail(sim, mrc, "cycle %d has no capacitance to read: %s", k,
                         err.msg);
      goto finish;
    }
    inf.capacitance_F = m.capacitance_F;
    inf.coulombic_efficiency = m.coulombic_efficiency;
    inf.capacitance_change = fabs(m.capacitance_F / c_prev - 1.0);
    inf.ce_change = fabs(m.coulombic_efficiency - ce_prev);
    /* NaN changes (the first cycle) compare false: not steady */
    inf.converged = k >= o->min_cycles && m.coulombic_efficiency >= o->ce_min &&
                    inf.capacitance_change <= o->rel_tol &&
                    inf.ce_change <= o->rel_tol;
    c_prev = m.capacitance_F;
    ce_prev = m.coulombic_efficiency;
  }
  if (inf.converged) {
    inf.steady_cycle = inf.cycles;
  } else {
    rc = nimc_sim_fail(
        sim, NIMC_NOTSTEADY,
        "not steady after %d cycles: the last one has a coulombic "
        "efficiency of %.6g (at least %g wanted), and from the one before "
        "its capacitance changed by %.3g (relative) and its coulombic "
        "efficiency by %.3g (at most %g wanted)",
        inf.cycles, inf.coulombic_efficiency, o->ce_min, inf.capacitance_change,
        inf.ce_change, o->rel_tol);
  }
finish:
  nimc_sim_swap_keep(sim, keep);
  /* the metrics of the whole series: the last discharge, counted among
   * all the pairs of res (what nimc_metrics_gcd_result of res says) */
  {
    nimc_err ignore;
    if (nimc_metrics_gcd_result(res, norm, &inf.metrics, &ignore) != NIMC_OK)
      inf.metrics = no_metrics();
  }
  if (info) *info = inf;
  return rc;
}
