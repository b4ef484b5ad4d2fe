/*
 * experiment_file.c -- an experiment file: one step of the experiment
 * language per line, '#' starting a comment, blank lines ignored
 * (docs/experiments.md).  Read safely (readfile.h: a regular file of at
 * most NIMC_EXPERIMENT_MAX_BYTES, no NUL byte), then parsed whole, line
 * for line (a Repeat may span lines, up to its End), so that an error
 * names the file and the line.
 */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/params.h"
#include "io/readfile.h"
#include "nimc/nimc.h"

/* The largest experiment file read (bytes). */
#define NIMC_EXPERIMENT_MAX_BYTES (1L << 20)

void nimc_experiment_lines_free(char **lines, size_t n) {
  for (size_t k = 0; lines && k < n; k++)
    free(lines[k]);
  free(lines);
}

int nimc_experiment_read(const char *path, nimc_experiment **out,
                         char ***lines_out, size_t *nlines_out,
                         nimc_err *err) {
  *out = NULL;
  if (lines_out) *lines_out = NULL;
  if (nlines_out) *nlines_out = 0;
  char *buf = NULL;
  size_t len = 0;
  int rc = nimc_text_file_read(path, NIMC_EXPERIMENT_MAX_BYTES,
                               "experiment file", &buf, &len, err);
  if (rc) return rc;
  /* every line without its comment and surrounding blanks (blank ones
   * kept, so that the parser's line numbers are the file's) */
  size_t cap = 1;
  for (size_t i = 0; i < len; i++)
    cap += buf[i] == '\n';
  const char **all = calloc(cap, sizeof *all);
  char **lines = calloc(cap, sizeof *lines);
  size_t n = 0, nall = 0;
  if (!lines || !all) {
    rc = nimc_err_set(err, NIMC_ENOMEM, "out of memory");
    goto done;
  }
  for (char *p = buf; p && p <= buf + len && *p;) {
    char *eol = strchr(p, '\n');
    if (eol) *eol = '\0';
    char *hash = strchr(p, '#');
    if (hash) *hash = '\0';
    while (isspace((unsigned char)*p))
      p++;
    char *e = p + strlen(p);
    while (e > p && isspace((unsigned char)e[-1]))
      *--e = '\0';
    all[nall++] = p;
    if (*p && !(lines[n++] = strdup(p))) {
      rc = nimc_err_set(err, NIMC_ENOMEM, "out of memory");
      goto done;
    }
    p = eol ? eol + 1 : NULL;
  }
  if (!n) {
    rc = nimc_err_set(err, NIMC_EINPUT,
                      "%s: no steps (one step a line; '#' starts a comment)",
                      path);
    goto done;
  }
  /* parsed whole (a Repeat may span lines): "step L 'text': why" becomes
   * "FILE:L: 'text': why", any other message "FILE: why" */
  rc = nimc_experiment_parse(out, all, nall, err);
  if (rc) {
    char msg[sizeof err->msg], *end = msg;
    snprintf(msg, sizeof msg, "%s", err->msg);
    unsigned long line = 0;
    if (!strncmp(msg, "step ", 5)) line = strtoul(msg + 5, &end, 10);
    if (line > 0 && *end == ' ')
      nimc_err_set(err, rc, "%s:%lu: %s", path, line, end + 1);
    else
      nimc_err_set(err, rc, "%s: %s", path, msg);
  }
done:
  free(buf);
  free(all);
  if (!rc && lines_out) {
    *lines_out = lines;
    *nlines_out = n;
  } else {
    nimc_experiment_lines_free(lines, n);
  }
  return rc;
}
