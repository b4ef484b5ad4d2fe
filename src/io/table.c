/*
 * table.c -- reader of the two-column CSV tables that material laws
 * reference as "table:<file.csv>".
 *
 * Deliberately strict: exactly two comma-separated numbers per row, one
 * optional header line, x strictly increasing, every fault reported with
 * the file and line so that the device loader can prefix the key that
 * referenced the table.  The file must be a regular file of at most
 * NIMC_TABLE_MAX_BYTES with at most NIMC_TABLE_MAX_ROWS rows and no NUL
 * byte (io/readfile.h); within that, lines may be of any length.
 */
#define _POSIX_C_SOURCE 200809L

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/params.h"
#include "io/readfile.h"
#include "io/table.h"

/* s without leading and trailing blanks (modifies s). */
static char *trim(char *s) {
  while (isspace((unsigned char)*s))
    s++;
  size_t n = strlen(s);
  while (n > 0 && isspace((unsigned char)s[n - 1]))
    s[--n] = '\0';
  return s;
}

/* Parse all of s as one finite number. */
static int number(char *s, double *out) {
  s = trim(s);
  char *end;
  errno = 0;
  *out = strtod(s, &end);
  return end != s && !*end && errno != ERANGE && isfinite(*out);
}

int nimc_table_read(const char *path, double **x_out, double **y_out,
                    size_t *n_out, char *why, size_t whylen) {
  char *text, sys[256];
  size_t len;
  int errnum;
  int rc = nimc_file_slurp(path, NIMC_TABLE_MAX_BYTES, &text, &len, &errnum,
                           sys, sizeof sys);
  if (rc) {
    snprintf(why, whylen, "cannot read table '%s': %s", path, sys);
    return rc == NIMC_EINPUT ? NIMC_EDATA : rc;
  }
  size_t nul = nimc_nul_line(text, len);
  if (nul) {
    snprintf(why, whylen, "%s:%zu: a NUL byte (not a text file?)", path, nul);
    free(text);
    return NIMC_EDATA;
  }
  size_t n = 0, cap = 0, content = 0;
  double *x = NULL, *y = NULL;
  int lineno = 0;
  char *next = text;
  while (*next) {
    char *line = next, *nl = strchr(line, '\n');
    if (nl) *nl = '\0';
    next = nl ? nl + 1 : line + strlen(line);
    lineno++;
    char *hash = strchr(line, '#');
    if (hash) *hash = '\0';
    char *s = trim(line);
    if (!*s) continue;
    content++;
    char *comma = strchr(s, ',');
    double xv, yv;
    int ok = comma && !strchr(comma + 1, ',');
    if (ok) {
      *comma = '\0';
      ok = number(s, &xv) && number(comma + 1, &yv);
      if (!ok) *comma = ',';
    }
    if (!ok && content == 1) continue; /* the header */
    if (!ok) {
      snprintf(why, whylen, "%s:%d: expected two numbers 'x,y', got '%s'", path,
               lineno, s);
      rc = NIMC_EDATA;
      goto done;
    }
    if (n > 0 && !(xv > x[n - 1])) {
      snprintf(why, whylen, "%s:%d: x must increase strictly (%g after %g)",
               path, lineno, xv, x[n - 1]);
      rc = NIMC_EDATA;
      goto done;
    }
    if (n == NIMC_TABLE_MAX_ROWS) {
      snprintf(why, whylen, "%s:%d: more than %d rows", path, lineno,
               NIMC_TABLE_MAX_ROWS);
      rc = NIMC_EDATA;
      goto done;
    }
    if (n == cap) {
      cap = cap ? 2 * cap : 32;
      double *nx = realloc(x, cap * sizeof *x);
      if (nx) x = nx;
      double *ny = nx ? realloc(y, cap * sizeof *y) : NULL;
      if (ny) y = ny;
      if (!nx || !ny) {
        snprintf(why, whylen, "out of memory reading table '%s'", path);
        rc = NIMC_ENOMEM;
        goto done;
      }
    }
    x[n] = xv;
    y[n] = yv;
    n++;
  }
  if (n < 2) {
    snprintf(why, whylen, "%s: a table needs at least 2 rows, has %zu", path,
             n);
    rc = NIMC_EDATA;
  }
done:
  free(text);
  if (rc) {
    free(x);
    free(y);
    return rc;
  }
  *x_out = x;
  *y_out = y;
  *n_out = n;
  return NIMC_OK;
}
