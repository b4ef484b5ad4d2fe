/*
 * simulate.c -- the one-shot path from a device file and experiment steps
 * to a result and its metrics (nimc_simulate), for programs that do not
 * need to hold on to the device or the simulation: tests, benchmarks,
 * the calibration and sweeps.
 */
#include <math.h>
#include <string.h>

#include "core/params.h"

int nimc_simulate(const char *path, const char *const *sets, size_t nsets,
                  const char *const *steps, size_t nsteps,
                  const nimc_sim_opts *opts, nimc_result *res, nimc_metrics *mt,
                  nimc_err *err) {
  nimc_device *dev = NULL;
  nimc_experiment *exp = NULL;
  nimc_sim *sim = NULL;
  if (mt) memset(mt, 0, sizeof *mt);
  int rc = nimc_device_load(&dev, path, sets, nsets, err);
  if (!rc) rc = nimc_experiment_parse(&exp, steps, nsteps, err);
  if (!rc) rc = nimc_sim_create(&sim, dev, opts, err);
  if (!rc && (rc = nimc_sim_run(sim, exp, res)))
    nimc_err_set(err, rc, "%s: %s", path, nimc_sim_errmsg(sim));
  if (!rc && mt) {
    nimc_norm norm = {nimc_device_footprint_area_m2(dev),
                      nimc_device_norm_thickness_m(dev)};
    nimc_err ignore;
    if (nimc_metrics_gcd_result(res, &norm, mt, &ignore) != NIMC_OK)
      mt->have_discharge = 0;
  }
  nimc_sim_destroy(sim);
  nimc_experiment_destroy(exp);
  nimc_device_destroy(dev);
  return rc;
}
