/*
 * units.h -- quantities with units, parsed by udunits2.
 *
 * A quantity is "<number> <unit>" (the space is optional: "5um").  It is
 * converted to the SI unit the caller names ("m", "S/m", "K", "A/m2"); a
 * unit of another dimension, an unknown unit or a missing unit is an
 * error whose text says which (the caller adds file, line and key).
 */
#ifndef NIMC_UNITS_H
#define NIMC_UNITS_H

#include <stddef.h>

/* Parse text as a quantity in unit si.  si == "1" accepts a bare number
 * (and a dimensionless unit such as "%").  On failure returns NIMC_EINPUT
 * and writes the reason into why. */
int nimc_units_parse(const char *text, const char *si, double *out,
                     char *why, size_t whylen);

/* Is unit text (no number) convertible to si?  Returns 1/0, or a negative
 * status when the unit system cannot be loaded. */
int nimc_units_convertible(const char *unit, const char *si);

/* Does unit text (no number) mean the same unit in both databases that
 * units.c reads (the core and the full one)?  1 when it does or the core
 * does not know it (the full one then answers alone), 0 when the two
 * disagree, negative when either cannot be read (NIMC_UNITS_XML set: there
 * is no core).  For tests. */
int nimc_units_same_in_both(const char *unit);

#endif
