/*
 * test_fit.c -- specification of the device fit (src/fit/fit.c): the
 * protocol read off a measured series, and the recovery of perturbed
 * device parameters from a simulated, noisy GCD curve.
 *
 * The recovery test simulates "measured" data with two parameters 30 %
 * above the shipped values, adds Gaussian noise of 0.5 % of the 3.5 V
 * window (sigma = 17.5 mV, GSL's mt19937 with a fixed seed), and fits the
 * two parameters from the shipped values: each must come back within two
 * of its own standard errors, the standard errors must be below 10 % of
 * the values (so the check is not vacuous), and the fit must have been
 * needed (the starting rms residual well above the final one, which is
 * the noise).  CTest runs it on the 1D stack (devices/nimc-stack.ini),
 * fitting the AG's micropore time constant and share (a 30 % change moves
 * the curve by 0.09 V and 0.58 V rms; the separator's thickness, the
 * stack's IR drop, by 3 mV only, below the noise of one point);
 * `test_fit --nimc` fits the gel thickness (0.52 V rms) and the micropore
 * share of the shipped 2D NIMC (devices/nimc.ini, minutes: docs/fitting.md
 * quotes its output).
 */
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nimc/nimc.h"
#include "testlib.h"

static void push(nimc_series *s, double t, double v, double i) {
  nimc_series_push(s, t, v, i, -1);
}

/* (a) a charge to 3.5 V, the sample at the switch, a rest, a discharge to
 * 0 V, and a charge stopped on time at 1.5 V: exactly the expected lines. */
static void test_protocol_synthetic(void) {
  nimc_series s;
  memset(&s, 0, sizeof s);
  for (int k = 0; k <= 10; k++)
    push(&s, 10.0 * k, 0.35 * k, 1e-3 * (1.0 + 1e-4 * (k % 3)));
  push(&s, 105.0, 3.4, 0.5e-3); /* the potentiostat's sample at the switch */
  for (int k = 0; k < 3; k++)
    push(&s, 110.0 + 10.0 * k, 3.3 - 0.1 * k, 0.0);
  for (int k = 0; k <= 10; k++)
    push(&s, 140.0 + 10.0 * k, 3.0 - 0.3 * k, -1e-3);
  for (int k = 0; k <= 5; k++)
    push(&s, 250.0 + 10.0 * k, 0.3 * k, 2e-3);
  nimc_protocol p;
  nimc_err err;
  int rc = nimc_protocol_from_series(&s, NULL, &p, &err);
  CHECK(rc == NIMC_OK);
  if (rc) {
    fprintf(stderr, "  %s\n", err.msg);
    nimc_series_free(&s);
    return;
  }
  const char *want[] = {"Charge at 0.001 A until 3.5 V", "Rest for 30 s",
                        "Discharge at 0.001 A until 0 V",
                        "Charge at 0.002 A for 55 s"};
  CHECK(p.n == 4);
  for (size_t k = 0; k < 4 && k < p.n; k++) {
    CHECK(!strcmp(p.lines[k], want[k]));
    if (strcmp(p.lines[k], want[k]))
      fprintf(stderr, "  line %zu: '%s', expected '%s'\n", k, p.lines[k],
              want[k]);
  }
  /* the switch sample (index 11) belongs to no step */
  CHECK(p.n == 4 && p.first[0] == 0 && p.last[0] == 10 && p.first[1] == 12 &&
        p.last[1] == 14 && p.first[3] == 26 && p.last[3] == 31);
  CHECK(p.exp && nimc_experiment_nsteps(p.exp) == 4);
  nimc_protocol_free(&p);
  CHECK(p.lines == NULL && p.n == 0);

  /* time going backwards is named */
  s.time_s[3] = 1.0;
  rc = nimc_protocol_from_series(&s, NULL, &p, &err);
  CHECK(rc == NIMC_EDATA);
  CHECK_CONTAINS(err.msg, "sample 3");
  nimc_series_free(&s);
}

/* Noisy data (sigma 17.5 mV, 0.5 % of 3.5 V): the limits are still the
 * round numbers the noisy last samples overshoot, and a noiseless,
 * coarsely sampled curved charge keeps its exact last voltage. */
static void test_protocol_noisy(void) {
  gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(rng, 7);
  nimc_series s;
  memset(&s, 0, sizeof s);
  for (int k = 0; k <= 200; k++) /* a curved charge to 3.5 V */
    push(&s, k, 3.5 * sqrt(k / 200.0) + gsl_ran_gaussian(rng, 0.0175), 1e-3);
  for (int k = 1; k <= 200; k++)
    push(&s, 200 + k, 3.5 * (1.0 - k / 200.0) + gsl_ran_gaussian(rng, 0.0175),
         -1e-3);
  gsl_rng_free(rng);
  nimc_protocol p;
  nimc_err err;
  int rc = nimc_protocol_from_series(&s, NULL, &p, &err);
  CHECK(rc == NIMC_OK && p.n == 2);
  if (!rc && p.n == 2) {
    CHECK(!strcmp(p.lines[0], "Charge at 0.001 A until 3.5 V"));
    CHECK(!strcmp(p.lines[1], "Discharge at 0.001 A until 0 V"));
    fprintf(stderr, "  noisy: '%s', '%s'\n", p.lines[0], p.lines[1]);
  }
  nimc_protocol_free(&p);
  /* noiseless, 2 s sampling of a curved charge ending at 3.4987 V */
  nimc_series_free(&s);
  memset(&s, 0, sizeof s);
  for (int k = 0; k <= 100; k++)
    push(&s, 2.0 * k, 3.4987 * sqrt(k / 100.0), 1e-3);
  rc = nimc_protocol_from_series(&s, NULL, &p, &err);
  CHECK(rc == NIMC_OK && p.n == 1);
  if (!rc && p.n == 1) CHECK(!strcmp(p.lines[0], "Charge at 0.001 A until 3.4987 V"));
  nimc_protocol_free(&p);
  nimc_series_free(&s);
}

/* Simulate lines on the device at path with sets, every dt_s, at rtol. */
static int simulate(const char *path, const char *const *sets, size_t nsets,
                    const char *const *lines, size_t nlines, double dt_s,
                    nimc_series *out) {
  nimc_device *dev = NULL;
  nimc_experiment *exp = NULL;
  nimc_sim *sim = NULL;
  nimc_result res;
  memset(&res, 0, sizeof res);
  nimc_err err;
  nimc_sim_opts o = nimc_sim_opts_default();
  o.rtol = 1e-8;
  o.output_dt_s = dt_s;
  int rc = nimc_device_load(&dev, path, sets, nsets, &err);
  if (!rc) rc = nimc_experiment_parse(&exp, lines, nlines, &err);
  if (!rc) rc = nimc_sim_create(&sim, dev, &o, &err);
  if (!rc && (rc = nimc_sim_run(sim, exp, &res)))
    fprintf(stderr, "  simulation: %s\n", nimc_sim_errmsg(sim));
  else if (rc)
    fprintf(stderr, "  %s\n", err.msg);
  *out = res.series;
  memset(&res.series, 0, sizeof res.series);
  nimc_result_free(&res);
  nimc_sim_destroy(sim);
  nimc_experiment_destroy(exp);
  nimc_device_destroy(dev);
  return rc;
}

static int progress(void *user, int iter, double chi2, const double *v,
                    size_t np) {
  (void)user;
  fprintf(stderr, "    iteration %d: chi2 %.6g", iter, chi2);
  for (size_t k = 0; k < np; k++)
    fprintf(stderr, " %.6g", v[k]);
  fprintf(stderr, "\n");
  return 0;
}

typedef struct recovery {
  const char *device;
  const char *key[2];
  double lo[2], hi[2]; /* bounds, SI */
} recovery;

/* (b) recover two parameters perturbed by +30 % from a noisy GCD. */
static void recover(const recovery *rc_) {
  const char *path = rc_->device;
  const char *lines[] = {"Discharge at 1 mA/cm2 until 0 V",
                         "Charge at 1 mA/cm2 until 3.5 V", "Rest for 10 s",
                         "Discharge at 1 mA/cm2 until 0 V"};
  double shipped[2], truth[2];
  char unit[2][32], setbuf[2][128];
  const char *sets[2];
  nimc_err err;
  for (int k = 0; k < 2; k++) {
    int rc = nimc_device_param(path, NULL, 0, rc_->key[k], &shipped[k],
                               unit[k], sizeof unit[k], &err);
    CHECK(rc == NIMC_OK);
    if (rc) {
      fprintf(stderr, "  %s\n", err.msg);
      return;
    }
    truth[k] = 1.3 * shipped[k];
    snprintf(setbuf[k], sizeof setbuf[k], "%s=%.12g %s", rc_->key[k], truth[k],
             strcmp(unit[k], "1") ? unit[k] : "");
    sets[k] = setbuf[k];
  }
  nimc_series meas;
  memset(&meas, 0, sizeof meas);
  /* the "measurement": 0.5 s sampling, true parameters */
  int rc = simulate(path, sets, 2, lines, 4, 0.5, &meas);
  CHECK(rc == NIMC_OK && meas.n > 50);
  if (rc || meas.n <= 50) {
    nimc_series_free(&meas);
    return;
  }
  /* noise: 0.5 % of the 3.5 V window, sigma = 17.5 mV */
  gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(rng, 20261130);
  for (size_t i = 0; i < meas.n; i++)
    meas.voltage_V[i] += gsl_ran_gaussian(rng, 0.005 * 3.5);
  gsl_rng_free(rng);
  for (size_t i = 0; i < meas.n; i++)
    meas.step[i] = -1; /* measured data carry no step labels */

  nimc_experiment *exp = NULL;
  rc = nimc_experiment_parse(&exp, lines, 4, &err);
  CHECK(rc == NIMC_OK);
  nimc_fit_param par[2];
  for (int k = 0; k < 2; k++)
    par[k] = (nimc_fit_param){rc_->key[k], NULL, rc_->lo[k], rc_->hi[k], NAN};
  nimc_device_fit_opts o = nimc_device_fit_opts_default();
  o.progress = progress;
  nimc_device_fit_result r;
  rc = nimc_device_fit(path, NULL, 0, par, 2, &meas, exp, &o, &r, &err);
  CHECK(rc == NIMC_OK);
  if (rc) {
    fprintf(stderr, "  fit: %s\n", err.msg);
  } else {
    fprintf(stderr,
            "  %s: %s after %d iterations, %ld simulations; rms %.4g V -> "
            "%.4g V; correlation %.3f\n",
            path, r.reason, r.iterations, r.simulations, r.rms_start_V,
            r.rms_V, r.corr[1]);
    for (int k = 0; k < 2; k++) {
      const nimc_fit_value *v = &r.param[k];
      fprintf(stderr,
              "    %-40s start %.6g  true %.6g  fitted %.6g +- %.3g %s "
              "(%.2f SE off, SE %.2f %%)\n",
              rc_->key[k], v->start, truth[k], v->value, v->std_err, v->unit,
              fabs(v->value - truth[k]) / v->std_err,
              100.0 * v->std_err / v->value);
      CHECK_REL(v->start, shipped[k], 1e-12);
      CHECK(fabs(v->value - truth[k]) <= 2.0 * v->std_err);
      CHECK(v->std_err < 0.10 * v->value);
      CHECK(v->std_err > 0.0);
    }
    CHECK(r.converged);
    /* the final residual is the noise (17.5 mV), the start's far above it */
    CHECK(r.rms_V < 1.2 * 0.0175 && r.rms_V > 0.8 * 0.0175);
    CHECK(r.rms_start_V > 3.0 * r.rms_V);
    CHECK(r.chi2 < r.chi2_start);
    CHECK(r.n == meas.n && r.np == 2);
    CHECK(r.simulations > 3);
    CHECK(fabs(r.corr[1] - r.corr[2]) < 1e-12 && fabs(r.corr[0] - 1.0) < 1e-12);
  }
  nimc_device_fit_result_free(&r);
  nimc_experiment_destroy(exp);
  nimc_series_free(&meas);
}

static void test_recovery_stack(void) {
  recovery r = {"devices/nimc-stack.ini",
                {"cathode.micropore_time_constant",
                 "cathode.micropore_capacitance_fraction"},
                {10.0, 0.05},
                {5000.0, 0.95}};
  recover(&r);
}

static void test_recovery_nimc(void) {
  recovery r = {"devices/nimc.ini",
                {"geometry.gel_thickness", "cathode.micropore_capacitance_fraction"},
                {100e-6, 0.05},
                {2e-3, 0.95}};
  recover(&r);
}

/* The protocol of a noiseless simulated GCD sampled every 0.5 s (as an
 * instrument would), read back from its series,
 * is the experiment that made it, and a fit at the true values is exact
 * to the solver's accuracy. */
static void test_protocol_of_simulation(void) {
  const char *path = "devices/nimc-stack.ini";
  const char *lines[] = {"Discharge at 0.00056 A until 0 V",
                         "Charge at 0.00056 A until 3.5 V", "Rest for 10 s",
                         "Discharge at 0.00056 A until 0 V"};
  nimc_series s;
  int rc = simulate(path, NULL, 0, lines, 4, 0.5, &s);
  CHECK(rc == NIMC_OK);
  nimc_protocol p;
  nimc_err err;
  rc = nimc_protocol_from_series(&s, NULL, &p, &err);
  CHECK(rc == NIMC_OK);
  CHECK(!rc && p.n == 4);
  for (size_t k = 0; !rc && k < 4 && k < p.n; k++) {
    CHECK(!strcmp(p.lines[k], lines[k]));
    if (strcmp(p.lines[k], lines[k]))
      fprintf(stderr, "  line %zu: '%s', expected '%s'\n", k, p.lines[k],
              lines[k]);
  }
  if (!rc) {
    nimc_fit_param par = {"separator.thickness", NULL, 1e-6, 1e-3, NAN};
    nimc_device_fit_opts o = nimc_device_fit_opts_default();
    o.max_iter = 1;
    nimc_device_fit_result r;
    rc = nimc_device_fit(path, NULL, 0, &par, 1, &s, p.exp, &o, &r, &err);
    CHECK(rc == NIMC_OK);
    if (!rc) {
      fprintf(stderr, "  at the true values: rms %.3g V, %zu points held\n",
              r.rms_start_V, r.n_held);
      CHECK(r.rms_start_V < 1e-4);
      CHECK(r.by_step == 1);
    }
    nimc_device_fit_result_free(&r);
    /* the derivative-free fallback: Nelder-Mead from 20 % below finds the
     * micropores' time constant again, with a standard error from its
     * closing Jacobian */
    nimc_fit_param tau = {"cathode.micropore_time_constant", NULL, 10.0,
                          5000.0, 0.8 * 286.0};
    o = nimc_device_fit_opts_default();
    o.method = NIMC_FIT_SIMPLEX;
    o.max_iter = 40;
    rc = nimc_device_fit(path, NULL, 0, &tau, 1, &s, p.exp, &o, &r, &err);
    CHECK(rc == NIMC_OK);
    if (!rc) {
      fprintf(stderr, "  simplex: %s after %d iterations, %ld simulations: "
                      "%.6g +- %.3g s, rms %.3g V -> %.3g V\n",
              r.reason, r.iterations, r.simulations, r.param[0].value,
              r.param[0].std_err, r.rms_start_V, r.rms_V);
      CHECK_REL(r.param[0].value, 286.0, 0.01);
      CHECK(isfinite(r.param[0].std_err) && r.param[0].std_err > 0.0);
      CHECK(r.rms_V < 0.05 * r.rms_start_V);
    }
    nimc_device_fit_result_free(&r);
  }
  nimc_protocol_free(&p);
  nimc_series_free(&s);
}

/* Every bad parameter is refused with its key named. */
static void test_bad_params(void) {
  const char *path = "devices/nimc-stack.ini";
  const char *lines[] = {"Charge at 0.00056 A until 3.5 V"};
  nimc_series s;
  memset(&s, 0, sizeof s);
  for (int k = 0; k < 10; k++)
    push(&s, k, 0.1 * k, 5.6e-4);
  nimc_experiment *exp = NULL;
  nimc_err err;
  CHECK(nimc_experiment_parse(&exp, lines, 1, &err) == NIMC_OK);
  struct {
    nimc_fit_param p;
    const char *needle;
  } bad[] = {
      {{"separator.thicknes", NULL, 1e-6, 1e-3, NAN}, "separator.thicknes"},
      {{"separator.thickness", NULL, 1e-3, 1e-6, NAN}, "need 0 < lo < hi"},
      {{"separator.thickness", NULL, 0.0, 1e-3, NAN}, "need 0 < lo < hi"},
      {{"separator.thickness", NULL, 1e-6, 1e-5, NAN}, "outside its bounds"},
      {{"separator.thickness", NULL, 1e-6, 1e-3, 2e-3}, "outside its bounds"},
      {{"separator.porosity", NULL, 0.1, 2.0, NAN}, "upper bound 2"},
      {{"anode.ocp", NULL, 0.1, 2.0, NAN}, "not a number"},
  };
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    nimc_device_fit_result r;
    int rc = nimc_device_fit(path, NULL, 0, &bad[k].p, 1, &s, exp, NULL, &r,
                             &err);
    CHECK(rc == NIMC_EINPUT);
    CHECK_CONTAINS(err.msg, bad[k].needle);
    CHECK_CONTAINS(err.msg, bad[k].p.key);
  }
  /* the device's own value and unit */
  double v;
  char si[32];
  CHECK(nimc_device_param(path, NULL, 0, "separator.thickness", &v, si,
                          sizeof si, &err) == NIMC_OK);
  CHECK_REL(v, 30e-6, 1e-12);
  CHECK(!strcmp(si, "m"));
  const char *over[] = {"anode.rate_constant=2e-11 m/s"};
  CHECK(nimc_device_param(path, over, 1, "anode.rate_constant", &v, si,
                          sizeof si, &err) == NIMC_OK);
  CHECK_REL(v, 2e-11, 1e-12);
  CHECK(!strcmp(si, "m/s"));
  nimc_experiment_destroy(exp);
  nimc_series_free(&s);
}

/* (c) A CV: the protocol read off a noiseless simulated voltammogram is
 * the experiment that made it, and the micropores' share of the AG's
 * capacitance, 30 % off, comes back from its current with 0.5 % noise (of the peak
 * current) within two standard errors. */
static void test_cv_recovery(void) {
  const char *path = "devices/nimc-stack.ini";
  const char *lines[] = {"Sweep from 0 V to 3.5 V at 20 mV/s",
                         "Sweep from 3.5 V to 0 V at 20 mV/s",
                         "Sweep from 0 V to 3.5 V at 20 mV/s",
                         "Sweep from 3.5 V to 0 V at 20 mV/s"};
  const char *key = "cathode.micropore_capacitance_fraction";
  double shipped;
  char unit[32], set[128];
  nimc_err err;
  CHECK(nimc_device_param(path, NULL, 0, key, &shipped, unit, sizeof unit,
                          &err) == NIMC_OK);
  snprintf(set, sizeof set, "%s=%.12g", key, 1.3 * shipped);
  /* the first sweep jumps from the neutral device's 2.6 V to 0 V and
   * draws 0.4 A/cm2 for an instant, beyond the stack's safe current
   * ([device] max_current 10 mA/cm2): the limit is lifted here */
  const char *lift[] = {"device.max_current=1 A/cm2"};
  const char *sets[] = {set, lift[0]};
  nimc_series meas;
  int rc = simulate(path, sets, 2, lines, 4, 1.0, &meas);
  CHECK(rc == NIMC_OK && meas.n > 600);
  if (rc) return;
  for (size_t i = 0; i < meas.n; i++)
    meas.step[i] = -1;
  nimc_protocol p;
  rc = nimc_protocol_from_sweeps(&meas, &p, &err);
  CHECK(rc == NIMC_OK && p.n == 4);
  for (size_t k = 0; !rc && k < p.n && k < 4; k++) {
    CHECK(!strcmp(p.lines[k], lines[k]));
    if (strcmp(p.lines[k], lines[k]))
      fprintf(stderr, "  sweep %zu: '%s', expected '%s'\n", k, p.lines[k],
              lines[k]);
  }
  if (rc) {
    fprintf(stderr, "  %s\n", err.msg);
    nimc_series_free(&meas);
    return;
  }
  /* the peak current of the later sweeps (the first begins with the
   * jump from the neutral device's open-circuit voltage to 0 V) */
  double ipk = 0.0;
  for (size_t i = meas.n / 2; i < meas.n; i++)
    ipk = fmax(ipk, fabs(meas.current_A[i]));
  gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(rng, 20261130);
  for (size_t i = 0; i < meas.n; i++)
    meas.current_A[i] += gsl_ran_gaussian(rng, 0.005 * ipk);
  gsl_rng_free(rng);
  nimc_fit_param par = {key, NULL, 0.05, 0.95, NAN};
  nimc_fit_obs ob = {.kind = NIMC_OBS_CURRENT,
                     .device = path,
                     .sets = lift,
                     .nsets = 1,
                     .exp = p.exp,
                     .series = &meas,
                     .sigma = 0.005 * ipk};
  nimc_fit_result r;
  rc = nimc_fit_run(&par, 1, &ob, 1, NULL, &r, &err);
  CHECK(rc == NIMC_OK);
  if (!rc) {
    const nimc_fit_value *v = &r.param[0];
    fprintf(stderr,
            "  CV: %s, %d iterations; %s %.6g (true %.6g) +- %.3g; rms %.3g "
            "A -> %.3g A (noise %.3g A)\n",
            r.reason, r.iterations, key, v->value, 1.3 * shipped, v->std_err,
            r.obs[0].rms_start, r.obs[0].rms, 0.005 * ipk);
    CHECK(r.converged);
    CHECK(fabs(v->value - 1.3 * shipped) <= 2.0 * v->std_err);
    CHECK(v->std_err > 0.0 && v->std_err < 0.05 * v->value);
    CHECK(r.obs[0].rms < 1.2 * 0.005 * ipk);
    CHECK(r.obs[0].rms_start > 3.0 * r.obs[0].rms);
    /* sigma is the noise: the stated and the scaled errors agree */
    CHECK_REL(r.std_err_sigma[0], v->std_err, 0.2);
    CHECK(!strcmp(r.obs[0].name, "observation 1"));
  } else {
    fprintf(stderr, "  %s\n", err.msg);
  }
  nimc_fit_result_free(&r);
  nimc_protocol_free(&p);
  nimc_series_free(&meas);
}

/* The spectrum of the stack at rest with parameters q[] set to values. */
static int stack_spectrum(const char *const *sets, size_t nsets,
                          nimc_spectrum *z) {
  nimc_device *dev = NULL;
  nimc_sim *sim = NULL;
  nimc_err err;
  double *f = NULL;
  size_t nf = 0;
  int rc = nimc_device_load(&dev, "devices/nimc-stack.ini", sets, nsets, &err);
  if (!rc) rc = nimc_freq_logspace(1e5, 1e-2, 5, &f, &nf, &err);
  if (!rc) rc = nimc_sim_create(&sim, dev, NULL, &err);
  if (!rc) rc = nimc_sim_at_rest(sim);
  if (!rc) rc = nimc_sim_impedance(sim, f, nf, z, NULL);
  free(f);
  nimc_sim_destroy(sim);
  nimc_device_destroy(dev);
  return rc;
}

/* (d) An impedance spectrum: the gel's thickness and the micropores' time
 * constant, 30 % off, come back from a spectrum with 1 % noise. */
static void test_eis_recovery(void) {
  const char *keys[2] = {"separator.thickness",
                         "cathode.micropore_time_constant"};
  double shipped[2];
  char unit[2][32], setbuf[2][128];
  const char *sets[2];
  nimc_err err;
  for (int k = 0; k < 2; k++) {
    CHECK(nimc_device_param("devices/nimc-stack.ini", NULL, 0, keys[k],
                            &shipped[k], unit[k], sizeof unit[k],
                            &err) == NIMC_OK);
    snprintf(setbuf[k], sizeof setbuf[k], "%s=%.12g %s", keys[k],
             1.3 * shipped[k], unit[k]);
    sets[k] = setbuf[k];
  }
  nimc_spectrum z;
  memset(&z, 0, sizeof z);
  int rc = stack_spectrum(sets, 2, &z);
  CHECK(rc == NIMC_OK && z.n == 36);
  if (rc) return;
  gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(rng, 20261130);
  for (size_t i = 0; i < z.n; i++) {
    double m = hypot(z.z_re_ohm[i], z.z_im_ohm[i]);
    z.z_re_ohm[i] += gsl_ran_gaussian(rng, 0.01 * m);
    z.z_im_ohm[i] += gsl_ran_gaussian(rng, 0.01 * m);
  }
  gsl_rng_free(rng);
  nimc_fit_param par[2] = {{keys[0], NULL, 1e-6, 1e-3, NAN},
                           {keys[1], NULL, 10.0, 5000.0, NAN}};
  nimc_fit_obs ob = {.kind = NIMC_OBS_IMPEDANCE,
                     .name = "spectrum",
                     .device = "devices/nimc-stack.ini",
                     .spectrum = &z,
                     .sigma = 0.01};
  nimc_device_fit_opts o = nimc_device_fit_opts_default();
  o.sim.rtol = 1e-6;
  nimc_fit_result r;
  rc = nimc_fit_run(par, 2, &ob, 1, &o, &r, &err);
  CHECK(rc == NIMC_OK);
  if (!rc) {
    fprintf(stderr, "  EIS: %s, %d iterations, %ld simulations\n", r.reason,
            r.iterations, r.simulations);
    CHECK(r.converged);
    CHECK(r.obs[0].n == 2 * z.n && r.n == 2 * z.n);
    for (int k = 0; k < 2; k++) {
      const nimc_fit_value *v = &r.param[k];
      fprintf(stderr, "    %-36s %.6g (true %.6g) +- %.3g (stated %.3g)\n",
              keys[k], v->value, 1.3 * shipped[k], v->std_err,
              r.std_err_sigma[k]);
      CHECK(fabs(v->value - 1.3 * shipped[k]) <= 2.0 * v->std_err);
      /* the spectrum fixes the gel's resistance to 0.3 %, the micropores'
       * time constant (their low-frequency arc) to about 10 % */
      CHECK(v->std_err > 0.0 && v->std_err < 0.15 * v->value);
    }
    CHECK(r.obs[0].x[0] == z.freq_Hz[0] && r.obs[0].x[z.n] == z.freq_Hz[0]);
    CHECK(r.obs[0].data[z.n] == z.z_im_ohm[0]);
  } else {
    fprintf(stderr, "  %s\n", err.msg);
  }
  nimc_fit_result_free(&r);
  nimc_spectrum_free(&z);
}

/* (e) Metrics: a capacitance of a cycle run until steady, and the
 * resistances of the spectrum, as the calibration fits them.  The model's
 * own values come back as the targets at the true parameter; observations
 * of one simulation share it. */
static void test_metrics(void) {
  const char *path = "devices/nimc-stack.ini";
  const char *lines[] = {"Charge at 1 mA/cm2 until 3.5 V",
                         "Discharge at 1 mA/cm2 until 0 V"};
  nimc_experiment *exp = NULL;
  nimc_err err;
  CHECK(nimc_experiment_parse(&exp, lines, 2, &err) == NIMC_OK);
  /* the truth: the share of the micropores 20 % above the shipped one */
  const char *key = "cathode.micropore_capacitance_fraction";
  double shipped;
  CHECK(nimc_device_param(path, NULL, 0, key, &shipped, NULL, 0, &err) ==
        NIMC_OK);
  char set[128];
  snprintf(set, sizeof set, "%s=%.12g", key, 1.2 * shipped);
  nimc_fit_obs probe[3] = {
      {.kind = NIMC_OBS_METRIC, .name = "C", .device = path, .exp = exp,
       .metric = "capacitance_volumetric_F_cm3", .value = 1.0,
       .until_steady = 1},
      {.kind = NIMC_OBS_METRIC, .name = "E", .device = path, .exp = exp,
       .metric = "energy_J", .value = 1.0, .until_steady = 1},
      {.kind = NIMC_OBS_METRIC, .name = "R", .device = path,
       .metric = "r_ohmic_ohm", .value = 1.0}};
  /* the targets: the model's values at the truth (a fit of the separator,
   * which they barely depend on, with no iteration) */
  const char *sets[] = {set};
  for (int k = 0; k < 3; k++) {
    probe[k].sets = sets;
    probe[k].nsets = 1;
  }
  nimc_fit_param sep = {"separator.thickness", NULL, 1e-6, 1e-3, NAN};
  nimc_device_fit_opts o = nimc_device_fit_opts_default();
  o.sim.rtol = 1e-6;
  o.max_iter = 1;
  nimc_fit_result r;
  int rc = nimc_fit_run(&sep, 1, probe, 3, &o, &r, &err);
  CHECK(rc == NIMC_OK);
  if (rc) {
    fprintf(stderr, "  %s\n", err.msg);
    nimc_experiment_destroy(exp);
    return;
  }
  /* C and E shared one simulation per evaluation, R its own */
  CHECK(!r.obs[0].failed && !r.obs[1].failed && !r.obs[2].failed);
  CHECK(r.obs[1].sensitivity && fabs(r.obs[1].sensitivity[0]) < 0.5);
  double target[3];
  for (int k = 0; k < 3; k++) {
    target[k] = r.obs[k].model[0];
    fprintf(stderr, "  %s at the truth: %.6g\n", r.obs[k].name, target[k]);
    CHECK(isfinite(target[k]) && target[k] > 0.0);
  }
  nimc_fit_result_free(&r);
  /* and at the shipped value: the secant of ln C against ln p */
  for (int k = 0; k < 3; k++)
    probe[k].nsets = 0;
  rc = nimc_fit_run(&sep, 1, probe, 3, &o, &r, &err);
  CHECK(rc == NIMC_OK);
  double secant = rc ? NAN : log(target[0] / r.obs[0].model[0]) / log(1.2);
  nimc_fit_result_free(&r);
  /* fit the share from the shipped value to the three targets */
  nimc_fit_obs ob[3];
  for (int k = 0; k < 3; k++) {
    ob[k] = probe[k];
    ob[k].sets = NULL;
    ob[k].nsets = 0;
    ob[k].value = target[k];
    ob[k].sigma = 0.01;
  }
  nimc_fit_param par = {key, NULL, 0.05, 0.95, NAN};
  o.max_iter = 20;
  rc = nimc_fit_run(&par, 1, ob, 3, &o, &r, &err);
  CHECK(rc == NIMC_OK);
  if (!rc) {
    fprintf(stderr,
            "  metrics: %s, %d iterations, %ld simulations: %.6g (true "
            "%.6g); d ln C / d ln p = %.3f (secant %.3f)\n",
            r.reason, r.iterations, r.simulations, r.param[0].value,
            1.2 * shipped, r.obs[0].sensitivity[0], secant);
    CHECK(r.converged);
    CHECK_REL(r.param[0].value, 1.2 * shipped, 2e-3);
    CHECK(fabs(r.obs[0].model[0] / target[0] - 1.0) < 1e-3);
    /* the sensitivity from the Jacobian against the secant over the 20 %
     * and at its upper end, which differ by the curvature (at 1 mA/cm2
     * the micropores are too slow: more of them, less C) */
    CHECK(fabs(r.obs[0].sensitivity[0] - secant) < 0.3 * fabs(secant));
    CHECK(fabs(secant) > 0.1);
    CHECK(r.obs[2].sensitivity && r.obs[0].x == NULL);
    CHECK(r.n == 3 && r.nobs == 3);
  } else {
    fprintf(stderr, "  %s\n", err.msg);
  }
  nimc_fit_result_free(&r);
  nimc_experiment_destroy(exp);
}

/* (f) The self-discharge metric: the time the last step, a rest, takes to
 * fall to 0.6 Vmax, Vmax the voltage the charge before it ended at (3.5 V,
 * not the rest's first voltage, lower by the IR drop), as
 * nimc_rest_analyze reads it off the same simulation; and it falls faster
 * with a stronger leak. */
static void test_self_discharge_metric(void) {
  const char *path = "devices/nimc-stack.ini";
  const char *lines[] = {"Charge at 1 mA/cm2 until 3.5 V", "Rest for 20 h"};
  const char *leak[] = {"cathode.leakage_potential=3.5 V",
                        "cathode.leakage_tafel_n=20",
                        "cathode.leakage_current=1e4 A/m3"};
  nimc_experiment *exp = NULL;
  nimc_err err;
  CHECK(nimc_experiment_parse(&exp, lines, 2, &err) == NIMC_OK);
  nimc_series s;
  int rc = simulate(path, leak, 3, lines, 2, 0.0, &s);
  CHECK(rc == NIMC_OK);
  size_t a = 0;
  while (a < s.n && s.step[a] != 1)
    a++;
  nimc_rest_result rr;
  double vmax = s.voltage_V[a - 1];
  CHECK_ABS(vmax, 3.5, 1e-6);
  CHECK(s.voltage_V[a] < 3.5 - 1e-3); /* the IR drop: 6 mV */
  CHECK(nimc_rest_analyze(s.time_s + a, s.voltage_V + a, s.n - a,
                          0.6 * vmax / s.voltage_V[a], &rr, &err) == NIMC_OK);
  double want = rr.time_to_threshold_s / 3600.0;
  fprintf(stderr, "  self-discharge from %.4g V to 0.6 x %.4g V: %.4g h\n",
          s.voltage_V[a], vmax, want);
  CHECK(isfinite(want) && want > 0.0 && want < 20.0);
  nimc_fit_obs ob = {.kind = NIMC_OBS_METRIC, .name = "sd", .device = path,
                     .sets = leak, .nsets = 3, .exp = exp,
                     .metric = "self_discharge_time_h", .value = want,
                     .sigma = 0.1};
  /* the separator barely moves it: a fit of it with no iteration */
  nimc_fit_param par = {"separator.thickness", NULL, 1e-6, 1e-3, NAN};
  nimc_device_fit_opts o = nimc_device_fit_opts_default();
  o.max_iter = 1;
  nimc_fit_result r;
  rc = nimc_fit_run(&par, 1, &ob, 1, &o, &r, &err);
  CHECK(rc == NIMC_OK);
  if (!rc) {
    fprintf(stderr, "  the metric: %.4g h\n", r.obs[0].model[0]);
    CHECK_REL(r.param[0].start, 30e-6, 1e-12);
    /* the start's value, evaluated again at the end with the same rtol
     * (measured to 0.6 of the rest's first voltage instead: 0.85 % longer) */
    CHECK(fabs(r.obs[0].model[0] / want - 1.0) < 0.003);
  } else {
    fprintf(stderr, "  %s\n", err.msg);
  }
  nimc_fit_result_free(&r);
  /* ten times the leak: sooner */
  const char *leak10[] = {leak[0], leak[1], "cathode.leakage_current=1e5 A/m3"};
  ob.sets = leak10;
  rc = nimc_fit_run(&par, 1, &ob, 1, &o, &r, &err);
  CHECK(rc == NIMC_OK && r.obs[0].model[0] < 0.8 * want);
  nimc_fit_result_free(&r);
  /* one target, one parameter (no residual variance left): the fit goes
   * from ten times the leak back to it, instead of stopping after its
   * first step as "within 0.1 standard errors" of a variance 1/0 */
  const char *two[] = {leak[0], leak[1]};
  ob.sets = two, ob.nsets = 2;
  nimc_fit_param lk = {"cathode.leakage_current", NULL, 1e3, 1e6, 1e5};
  o.max_iter = 20;
  rc = nimc_fit_run(&lk, 1, &ob, 1, &o, &r, &err);
  CHECK(rc == NIMC_OK);
  if (!rc) {
    fprintf(stderr, "  from 1e5 A/m3: %.6g A/m3 in %d iterations (%s)\n",
            r.param[0].value, r.iterations, r.reason);
    CHECK(r.converged);
    CHECK_REL(r.param[0].value, 1e4, 0.02);
  }
  nimc_fit_result_free(&r);
  nimc_series_free(&s);
  nimc_experiment_destroy(exp);
}

/* Every observation that lacks what its kind needs is refused, named. */
static void test_bad_observations(void) {
  const char *path = "devices/nimc-stack.ini";
  nimc_fit_param par = {"separator.thickness", NULL, 1e-6, 1e-3, NAN};
  nimc_spectrum zero;
  memset(&zero, 0, sizeof zero);
  CHECK(nimc_spectrum_alloc(&zero, 2) == NIMC_OK);
  zero.freq_Hz[0] = 1.0, zero.freq_Hz[1] = 2.0;
  zero.z_re_ohm[0] = 1.0, zero.z_re_ohm[1] = 0.0; /* Z = 0 at 2 Hz */
  struct {
    nimc_fit_obs o;
    const char *needle;
  } bad[] = {
      {{.kind = NIMC_OBS_METRIC, .name = "m1", .device = path,
        .metric = "capacitance_volumetric", .value = 1.0},
       "unknown metric 'capacitance_volumetric'"},
      {{.kind = NIMC_OBS_METRIC, .name = "m2", .device = path,
        .metric = "r_ohmic_ohm", .value = 0.0},
       "must be finite and not 0"},
      {{.kind = NIMC_OBS_METRIC, .name = "m3", .device = path,
        .metric = "energy_J", .value = 1.0},
       "needs an experiment"},
      {{.kind = NIMC_OBS_IMPEDANCE, .name = "z1", .device = path},
       "no measured spectrum"},
      {{.kind = NIMC_OBS_IMPEDANCE, .name = "z2", .device = path,
        .spectrum = &zero},
       "point 2 of the spectrum"},
      {{.kind = NIMC_OBS_CURRENT, .name = "cv", .device = path},
       "needs the measured series and the experiment"},
      {{.kind = NIMC_OBS_METRIC, .name = "nodev", .metric = "r_ohmic_ohm",
        .value = 1.0},
       "no device"},
      {{.kind = (nimc_fit_obs_kind)17, .name = "k", .device = path},
       "unknown kind"},
  };
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    nimc_fit_result r;
    nimc_err err;
    int rc = nimc_fit_run(&par, 1, &bad[k].o, 1, NULL, &r, &err);
    CHECK(rc == NIMC_EINPUT || rc == NIMC_EDATA);
    CHECK_CONTAINS(err.msg, bad[k].needle);
    CHECK_CONTAINS(err.msg, bad[k].o.name);
  }
  /* a series that does not sweep has no CV protocol */
  nimc_series s;
  memset(&s, 0, sizeof s);
  for (int k = 0; k < 10; k++)
    push(&s, k, 1.0, 1e-3);
  nimc_protocol p;
  nimc_err err;
  CHECK(nimc_protocol_from_sweeps(&s, &p, &err) == NIMC_EANALYSIS);
  CHECK_CONTAINS(err.msg, "does not sweep");
  nimc_series_free(&s);
  nimc_spectrum_free(&zero);
}

int main(int argc, char **argv) {
  if (argc > 1 && !strcmp(argv[1], "--nimc")) {
    RUN(test_recovery_nimc);
    return TEST_REPORT();
  }
  RUN(test_protocol_synthetic);
  RUN(test_protocol_noisy);
  RUN(test_bad_params);
  RUN(test_protocol_of_simulation);
  RUN(test_recovery_stack);
  RUN(test_bad_observations);
  RUN(test_cv_recovery);
  RUN(test_eis_recovery);
  RUN(test_metrics);
  RUN(test_self_discharge_metric);
  return TEST_REPORT();
}
