/*
 * pack_spec.c -- the shape of a pack ("2s1p"), its spread list, and the
 * devices of its cells (see pack_spec.h).
 *
 * The spread: each listed parameter of each cell is the base device's
 * value times exp(rel z), z drawn from a standard normal by GSL's
 * Mersenne twister seeded with [pack] seed, cell after cell and, within a
 * cell, in the order of the list.  A lognormal factor keeps a positive
 * parameter positive; its median is 1 and, for small rel, its relative
 * standard deviation is rel.
 */
#include <ctype.h>
#include <errno.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/pack_spec.h"

/* The spreadable parameters: where each lives in the device and whether
 * it must stay below 1 (a volume fraction). */
static const struct {
  const char *key;
  size_t off;
  int fraction;
} params[] = {
    {"anode.thickness", offsetof(nimc_device, anode.thickness_m), 0},
    {"anode.porosity", offsetof(nimc_device, anode.porosity), 1},
    {"anode.conductivity", offsetof(nimc_device, anode.conductivity_S_m), 0},
    {"anode.particle_radius", offsetof(nimc_device, anode.particle_radius_m),
     0},
    {"anode.active_fraction", offsetof(nimc_device, anode.active_fraction), 1},
    {"anode.volumetric_capacitance", offsetof(nimc_device, anode.cap_F_m3), 0},
    {"anode.leakage_current", offsetof(nimc_device, anode.leak_A_m3), 0},
    {"cathode.thickness", offsetof(nimc_device, cathode.thickness_m), 0},
    {"cathode.porosity", offsetof(nimc_device, cathode.porosity), 1},
    {"cathode.conductivity", offsetof(nimc_device, cathode.conductivity_S_m),
     0},
    {"cathode.particle_radius",
     offsetof(nimc_device, cathode.particle_radius_m), 0},
    {"cathode.active_fraction", offsetof(nimc_device, cathode.active_fraction),
     1},
    {"cathode.volumetric_capacitance", offsetof(nimc_device, cathode.cap_F_m3),
     0},
    {"cathode.leakage_current", offsetof(nimc_device, cathode.leak_A_m3), 0},
    {"device.contact_resistance", offsetof(nimc_device, contact_resistance_ohm),
     0},
};
#define NPARAMS ((int)(sizeof params / sizeof params[0]))

const char *nimc_pack_spread_keys(void) {
  static char buf[1024];
  if (!buf[0])
    for (int i = 0; i < NPARAMS; i++) {
      size_t n = strlen(buf);
      snprintf(buf + n, sizeof buf - n, "%s%s", i ? ", " : "", params[i].key);
    }
  return buf;
}

const char *nimc_pack_spread_key(int i) {
  return i >= 0 && i < NPARAMS ? params[i].key : "";
}

int nimc_pack_check_shape(long series, long parallel, char *why, size_t cap) {
  if (series < 1 || parallel < 1) {
    snprintf(why, cap,
             "a pack needs at least one cell in series and one string in "
             "parallel (got %lds%ldp)",
             series, parallel);
    return NIMC_EINPUT;
  }
  if (series > NIMC_PACK_MAX_CELLS || parallel > NIMC_PACK_MAX_CELLS ||
      series * parallel > NIMC_PACK_MAX_CELLS) {
    snprintf(why, cap,
             "%lds%ldp is %ld cells, more than the %d a pack may have (each "
             "cell is a full model in one solve: its time and memory grow "
             "with the cells)",
             series, parallel,
             series > 100000 || parallel > 100000 ? 0L : series * parallel,
             NIMC_PACK_MAX_CELLS);
    return NIMC_EINPUT;
  }
  return NIMC_OK;
}

/* A whole number at *p (digits only), advanced past it; -1 when none or
 * too long. */
static long whole(const char **p) {
  const char *s = *p;
  long v = 0;
  int nd = 0;
  while (isdigit((unsigned char)*s)) {
    if (++nd > 9) return -1;
    v = 10 * v + (*s++ - '0');
  }
  if (!nd) return -1;
  *p = s;
  return v;
}

int nimc_pack_shape_parse(const char *text, int *series, int *parallel,
                          char *why, size_t cap) {
  const char *p = text ? text : "";
  long ns = whole(&p), np = -1;
  if (ns >= 0 && (*p == 's' || *p == 'S')) {
    p++;
    np = whole(&p);
    if (np >= 0 && (*p == 'p' || *p == 'P'))
      p++;
    else
      np = -1;
  }
  if (ns < 0 || np < 0 || *p) {
    snprintf(why, cap,
             "expected NsMp, N cells in series and M strings in parallel, "
             "such as 2s1p or 1s2p");
    return NIMC_EINPUT;
  }
  int rc = nimc_pack_check_shape(ns, np, why, cap);
  if (rc) return rc;
  *series = (int)ns, *parallel = (int)np;
  return NIMC_OK;
}

int nimc_pack_parse_spread(const char *text, nimc_pack_params *pp, char *why,
                           size_t cap) {
  pp->nspread = 0;
  const char *s = text;
  for (int item = 1;; item++) {
    while (isspace((unsigned char)*s))
      s++;
    const char *k0 = s;
    while (*s && !isspace((unsigned char)*s) && *s != ',')
      s++;
    size_t kl = (size_t)(s - k0);
    if (!kl) {
      snprintf(why, cap,
               "item %d: expected KEY PERCENT %%, such as "
               "'cathode.thickness 5 %%'",
               item);
      return NIMC_EINPUT;
    }
    int idx = -1;
    for (int i = 0; i < NPARAMS; i++)
      if (strlen(params[i].key) == kl && !strncmp(params[i].key, k0, kl))
        idx = i;
    if (idx < 0) {
      snprintf(why, cap, "item %d: '%.*s' cannot be spread (spreadable: %s)",
               item, (int)(kl > 64 ? 64 : kl), k0, nimc_pack_spread_keys());
      return NIMC_EINPUT;
    }
    for (int j = 0; j < pp->nspread; j++)
      if (pp->spread[j].param == idx) {
        snprintf(why, cap, "item %d: '%s' is spread twice", item,
                 params[idx].key);
        return NIMC_EINPUT;
      }
    char *end;
    errno = 0;
    double pc = strtod(s, &end);
    if (end == s || errno) {
      snprintf(why, cap, "item %d: '%s' needs a percentage, such as '%s 5 %%'",
               item, params[idx].key, params[idx].key);
      return NIMC_EINPUT;
    }
    s = end;
    while (isspace((unsigned char)*s))
      s++;
    if (*s != '%') {
      snprintf(why, cap,
               "item %d: the spread of '%s' is a percentage: write '%g %%'",
               item, params[idx].key, pc);
      return NIMC_EINPUT;
    }
    s++;
    if (!(pc > 0.0) || !(pc <= 100.0 * NIMC_PACK_MAX_REL_SPREAD)) {
      snprintf(why, cap,
               "item %d: the spread of '%s' must be above 0 %% and at most "
               "%g %%, got %g %%",
               item, params[idx].key, 100.0 * NIMC_PACK_MAX_REL_SPREAD, pc);
      return NIMC_EINPUT;
    }
    if (pp->nspread == NIMC_PACK_MAX_SPREAD) {
      snprintf(why, cap, "more than %d parameters spread",
               NIMC_PACK_MAX_SPREAD);
      return NIMC_EINPUT;
    }
    pp->spread[pp->nspread].param = idx;
    pp->spread[pp->nspread].rel = pc / 100.0;
    pp->nspread++;
    while (isspace((unsigned char)*s))
      s++;
    if (!*s) return NIMC_OK;
    if (*s != ',') {
      snprintf(why, cap,
               "item %d: unexpected '%.16s' (items are separated by commas)",
               item, s);
      return NIMC_EINPUT;
    }
    s++;
  }
}

int nimc_pack_cell_device(const nimc_device *base, int k, nimc_device **out,
                          double *factors, nimc_err *err) {
  *out = NULL;
  nimc_device *d = malloc(sizeof *d);
  if (!d) return nimc_err_set(err, NIMC_ENOMEM, "out of memory");
  *d = *base;
  memset(&d->pack, 0, sizeof d->pack);
  const nimc_pack_params *pp = &base->pack;
  if (pp->nspread > 0) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    if (!r) {
      free(d);
      return nimc_err_set(err, NIMC_ENOMEM, "out of memory");
    }
    gsl_rng_set(r, (unsigned long)pp->seed);
    double z[NIMC_PACK_MAX_SPREAD];
    for (int c = 0; c <= k; c++)
      for (int j = 0; j < pp->nspread; j++)
        z[j] = gsl_ran_gaussian(r, 1.0);
    gsl_rng_free(r);
    for (int j = 0; j < pp->nspread; j++) {
      int i = pp->spread[j].param;
      double f = exp(pp->spread[j].rel * z[j]);
      double *v = (double *)((char *)d + params[i].off);
      *v *= f;
      if (factors) factors[j] = f;
      if (params[i].fraction && !(*v > 0.0 && *v < 1.0)) {
        int rc = nimc_err_set(
            err, NIMC_EINPUT,
            "%s: [pack] spread: cell %d's %s is %g (factor %.4g), outside "
            "(0, 1): a smaller spread or another seed",
            base->path, k + 1, params[i].key, *v, f);
        free(d);
        return rc;
      }
    }
  }
  if (d->geometry == NIMC_GEOMETRY_INTERDIGITATED) {
    const nimc_interdigitated_params *g = &d->idg;
    double top = fmax(d->anode.thickness_m, d->cathode.thickness_m) +
                 (g->cover_enabled ? g->cover_thickness_m : 0.0);
    if (!(g->gel_thickness_m > top)) {
      int rc = nimc_err_set(
          err, NIMC_EINPUT,
          "%s: [pack] spread: cell %d's fingers (%g um with the cover) are "
          "no longer below the gel's top (%g um): a smaller thickness spread",
          base->path, k + 1, top * 1e6, g->gel_thickness_m * 1e6);
      free(d);
      return rc;
    }
  }
  *out = d;
  return NIMC_OK;
}

/* ---- the public face ---- */

int nimc_device_set_pack(nimc_device *dev, int series, int parallel,
                         nimc_err *err) {
  char why[256];
  if (!dev) return nimc_err_set(err, NIMC_EMISUSE, "no device");
  if (nimc_pack_check_shape(series, parallel, why, sizeof why))
    return nimc_err_set(err, NIMC_EINPUT, "pack: %s", why);
  dev->pack.given = 1;
  dev->pack.series = series;
  dev->pack.parallel = parallel;
  return NIMC_OK;
}

int nimc_device_pack(const nimc_device *dev, int *series, int *parallel) {
  int ns = dev && dev->pack.given ? dev->pack.series : 1;
  int np = dev && dev->pack.given ? dev->pack.parallel : 1;
  if (series) *series = ns;
  if (parallel) *parallel = np;
  return dev && dev->pack.given ? ns * np : 0;
}
