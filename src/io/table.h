/*
 * table.h -- two-column numeric tables (CSV) for material laws.
 *
 * A table file holds rows "x,y" in SI units: '#' starts a comment, blank
 * lines are skipped, and the first non-blank line may be a header (any
 * line that is not two numbers).  At least two rows, x strictly
 * increasing.  This file only reads; the interpolant lives in laws/law.c.
 */
#ifndef NIMC_TABLE_H
#define NIMC_TABLE_H

#include <stddef.h>

/* Read the table at path.  On success *x and *y are malloc'd arrays of *n
 * rows, owned by the caller.  On failure nothing is allocated, the return
 * is NIMC_EIO (cannot open or read), NIMC_EDATA (bad content) or
 * NIMC_ENOMEM, and why says what, as "path:line: what" for content. */
int nimc_table_read(const char *path, double **x, double **y, size_t *n,
                    char *why, size_t whylen);

#endif
