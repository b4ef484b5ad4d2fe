/*
 * pack_spec.h -- what a pack is made of, as the user writes it: the shape
 * "2s1p" (--pack), the [pack] spread list, and the cells' devices with
 * the spread applied.  In core/ because both the loader (io/device.c
 * reads [pack]) and the model (model/pack.c makes the cells) use it, and
 * neither may reach into the other.  The pack's circuit is model/pack.c's
 * business.
 */
#ifndef NIMC_PACK_SPEC_H
#define NIMC_PACK_SPEC_H

#include <stddef.h>

#include "core/params.h"

/* The largest relative spread (50 %): beyond it a lognormal factor is no
 * longer a "spread" of one design, and a porosity or a fraction leaves
 * (0, 1) for most cells. */
#define NIMC_PACK_MAX_REL_SPREAD 0.5

/* nimc_pack_shape_parse (nimc.h) parses "NsMp". */

/* Check a shape (series, parallel) read elsewhere; NIMC_EINPUT with the
 * reason in why. */
int nimc_pack_check_shape(long series, long parallel, char *why, size_t cap);

/* Parse a spread list "cathode.thickness 5 %, anode.porosity 2 %" (each
 * item a spreadable key and a percentage above 0 and at most 50 %) into
 * p->spread, p->nspread.  NIMC_EINPUT with the reason in why. */
int nimc_pack_parse_spread(const char *text, nimc_pack_params *p, char *why,
                           size_t cap);

/* The comma-separated spreadable keys, for messages and docs. */
const char *nimc_pack_spread_keys(void);
/* The key of spread parameter index i ("cathode.thickness"). */
const char *nimc_pack_spread_key(int i);

/* The device of cell k (0 .. series*parallel - 1) of base's pack: a
 * shallow copy of base (its laws shared with base: free it with free(),
 * never nimc_device_destroy) with no pack of its own and each spread
 * parameter multiplied by exp(rel z), z standard normal from a generator
 * seeded with the pack's seed (cells drawn in order, so cell k's factors
 * are the same whatever the pack's later cells).  *factors (may be NULL)
 * gets the nspread factors of the cell.  NIMC_EINPUT when a parameter
 * leaves its range (a porosity at or above 1, a gel no longer above the
 * fingers), naming the cell and the parameter. */
int nimc_pack_cell_device(const nimc_device *base, int k, nimc_device **out,
                          double *factors, nimc_err *err);

#endif
