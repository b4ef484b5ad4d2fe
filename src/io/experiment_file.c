/*
 * experiment_file.c -- an experiment file: one step of the experiment
 * language per line, '#' starting a comment, blank lines ignored
 * (docs/experiments.md).  Read safely (readfile.h: a regular file of at
 * most NIMC_EXPERIMENT_MAX_BYTES, no NUL byte), each step checked on its
 * own so that an error names the file and the line, then parsed whole.
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
  /* the steps: each line without its comment and surrounding blanks */
  size_t cap = 1;
  for (size_t i = 0; i < len; i++)
    cap += buf[i] == '\n';
  char **lines = calloc(cap, sizeof *lines);
  int *lineno = calloc(cap, sizeof *lineno);
  size_t n = 0;
  if (!lines || !lineno) {
    rc = nimc_err_set(err, NIMC_ENOMEM, "out of memory");
    goto done;
  }
  int line = 0;
  for (char *p = buf; p && p <= buf + len && *p;) {
    char *eol = strchr(p, '\n');
    if (eol) *eol = '\0';
    line++;
    char *hash = strchr(p, '#');
    if (hash) *hash = '\0';
    while (isspace((unsigned char)*p))
      p++;
    char *e = p + strlen(p);
    while (e > p && isspace((unsigned char)e[-1]))
      *--e = '\0';
    if (*p) {
      /* each step alone first: an error then names its line */
      nimc_experiment *one = NULL;
      nimc_err e1;
      const char *l1[1] = {p};
      int r1 = nimc_experiment_parse(&one, l1, 1, &e1);
      nimc_experiment_destroy(one);
      if (r1) {
        /* "step 1 'text': why" -> "FILE:LINE: 'text': why" */
        const char *m = e1.msg;
        if (!strncmp(m, "step 1 ", 7)) m += 7;
        rc = nimc_err_set(err, r1, "%s:%d: %s", path, line, m);
        goto done;
      }
      if (!(lines[n] = strdup(p))) {
        rc = nimc_err_set(err, NIMC_ENOMEM, "out of memory");
        goto done;
      }
      lineno[n++] = line;
    }
    p = eol ? eol + 1 : NULL;
  }
  if (!n) {
    rc = nimc_err_set(err, NIMC_EINPUT,
                      "%s: no steps (one step a line; '#' starts a comment)",
                      path);
    goto done;
  }
  rc = nimc_experiment_parse(out, (const char *const *)lines, n, err);
  if (rc) {
    /* the whole failed where every step alone did not (a limit of the
     * whole, such as its size): say which file */
    char msg[sizeof err->msg];
    snprintf(msg, sizeof msg, "%s", err->msg);
    nimc_err_set(err, rc, "%s: %s", path, msg);
  }
done:
  free(buf);
  free(lineno);
  if (!rc && lines_out) {
    *lines_out = lines;
    *nlines_out = n;
  } else {
    nimc_experiment_lines_free(lines, n);
  }
  return rc;
}
