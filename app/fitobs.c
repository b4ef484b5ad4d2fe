/*
 * fitobs.c -- the observations of `nimc fit`: a measured file read into a
 * curve or a spectrum with its experiment, and fit files (--spec) read
 * into several observations, each key checked against one table.
 */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fitobs.h"
#include "reproduce.h"

void fobs_free(fobs *f) {
  if (!f) return;
  free(f->device);
  free(f->data);
  for (size_t k = 0; k < f->nsets; k++)
    free(f->sets[k]);
  for (size_t k = 0; k < f->nsteps; k++)
    free(f->steps[k]);
  free(f->sets);
  free(f->steps);
  nimc_protocol_free(&f->proto);
  nimc_experiment_destroy(f->exp);
  nimc_series_free(&f->series);
  nimc_spectrum_free(&f->spec);
  free(f->freq);
  free(f->metric);
  free(f->circuit);
  memset(f, 0, sizeof *f);
}

/* The given steps of f parsed into f->exp (none: exp stays NULL); 0 or
 * the exit status. */
static int given_steps(fobs *f) {
  if (!f->nsteps) return 0;
  nimc_err err;
  int rc = nimc_experiment_parse(&f->exp, (const char *const *)f->steps,
                                 f->nsteps, &err);
  if (rc) {
    fprintf(stderr, "nimc fit: %s: %s\n", f->name, err.msg);
    return cli_exit_for(rc);
  }
  f->lines = (const char *const *)f->steps;
  f->nlines = f->nsteps;
  f->o.exp = f->exp;
  return 0;
}

/* The spectrum of f->data into f->spec; 0 or the exit status. */
static int load_spectrum(fobs *f, int quiet) {
  nimc_read_opts ro = nimc_read_opts_default();
  ro.format = f->format;
  nimc_err err;
  char how[1024];
  int rc = nimc_spectrum_read(f->data, &ro, &f->spec, how, sizeof how, &err);
  if (rc) {
    fprintf(stderr, "nimc fit: %s\n", err.msg);
    return rc == NIMC_ENOMEM ? EXIT_FAIL : EXIT_USAGE;
  }
  if (!quiet) fprintf(stderr, "nimc fit: %s\n", how);
  f->o.kind = NIMC_OBS_IMPEDANCE;
  f->o.spectrum = &f->spec;
  return given_steps(f);
}

int fobs_load_data(fobs *f, int quiet) {
  f->o.name = f->name;
  f->o.device = f->device;
  f->o.sets = (const char *const *)f->sets;
  f->o.nsets = f->nsets;
  if (f->kind_word == 'e') return load_spectrum(f, quiet);
  nimc_read_opts ro = nimc_read_opts_default();
  ro.format = f->format;
  nimc_data d;
  nimc_err err;
  char how[1024];
  int rc = nimc_data_read(f->data, &ro, &d, how, sizeof how, &err);
  if (rc && !f->kind_word) {
    /* a spectrum has no time column: try it as one */
    nimc_spectrum_free(&f->spec);
    nimc_read_opts r2 = ro;
    nimc_err e2;
    if (!nimc_spectrum_read(f->data, &r2, &f->spec, NULL, 0, &e2)) {
      nimc_spectrum_free(&f->spec);
      return load_spectrum(f, quiet);
    }
  }
  if (rc) {
    fprintf(stderr, "nimc fit: %s\n", err.msg);
    return rc == NIMC_ENOMEM ? EXIT_FAIL : EXIT_USAGE;
  }
  if (!f->kind_word && d.freq_Hz && d.z_re_ohm && d.z_im_ohm) {
    nimc_data_free(&d);
    return load_spectrum(f, quiet);
  }
  if (!quiet) fprintf(stderr, "nimc fit: %s\n", how);
  int cv = f->kind_word == 'c' ||
           (!f->kind_word && (d.technique == NIMC_TECH_CV ||
                              d.technique == NIMC_TECH_LSV));
  if (!d.voltage_V || !d.current_A) {
    fprintf(stderr,
            "nimc fit: %s:%ld: the fit needs a voltage and a current column "
            "(found: %s%s)\n",
            f->data, d.header_line, d.voltage_V ? "voltage" : "no voltage",
            d.current_A ? ", current" : ", no current");
    nimc_data_free(&d);
    return EXIT_USAGE;
  }
  if (d.n < 3) {
    fprintf(stderr, "nimc fit: %s: %zu data rows (at least 3 needed)\n",
            f->data, d.n);
    nimc_data_free(&d);
    return EXIT_USAGE;
  }
  for (size_t k = 0; k < d.n; k++)
    if (nimc_series_push(&f->series, d.time_s[k], d.voltage_V[k],
                         d.current_A[k], -1)) {
      fprintf(stderr, "nimc fit: out of memory\n");
      nimc_data_free(&d);
      return EXIT_FAIL;
    }
  nimc_data_free(&d);
  f->o.kind = cv ? NIMC_OBS_CURRENT : NIMC_OBS_VOLTAGE;
  f->o.series = &f->series;
  if (f->nsteps) return given_steps(f);
  rc = cv ? nimc_protocol_from_sweeps(&f->series, &f->proto, &err)
          : nimc_protocol_from_series(&f->series, NULL, &f->proto, &err);
  if (rc) {
    fprintf(stderr, "nimc fit: %s: %s\n", f->data, err.msg);
    return cli_exit_for(rc);
  }
  f->lines = (const char *const *)f->proto.lines;
  f->nlines = f->proto.n;
  f->from_data = 1;
  f->o.exp = f->proto.exp;
  return 0;
}

/* ---- fit files ---- */

enum { IN_FIT = 1, IN_DATA = 2, IN_TARGET = 4 };

/* The largest fit file read (bytes). */
#define SPEC_MAX_BYTES (1L << 20)

/* The keys of a fit file: where each may stand, and whether it may be
 * repeated.  The one list the reader, its messages and docs/fitting.md
 * follow. */
static const struct spec_key {
  const char *name;
  unsigned where;
  int many;
} spec_keys[] = {
    {"params", IN_FIT, 1},       {"method", IN_FIT, 0},
    {"max_iter", IN_FIT, 0},     {"rtol", IN_FIT, 0},
    {"device", IN_DATA | IN_TARGET, 0},
    {"file", IN_DATA, 0},        {"kind", IN_DATA, 0},
    {"format", IN_DATA, 0},      {"set", IN_DATA | IN_TARGET, 1},
    {"step", IN_DATA | IN_TARGET, 1},
    {"sigma", IN_DATA | IN_TARGET, 0},
    {"metric", IN_TARGET, 0},    {"value", IN_TARGET, 0},
    {"until_steady", IN_TARGET, 0},
    {"circuit", IN_TARGET, 0},   {"from", IN_TARGET, 0},
    {"to", IN_TARGET, 0},        {"per_decade", IN_TARGET, 0},
};
#define NSPEC_KEYS (sizeof spec_keys / sizeof spec_keys[0])

typedef struct sentry {
  const char *key;
  char *value;
  int line;
} sentry;

typedef struct ssection {
  char *name;     /* as written: "fit", "data gcd", "target cv_0.1" */
  unsigned type;  /* IN_FIT, IN_DATA, IN_TARGET */
  int line;
  sentry *e;
  size_t ne;
} ssection;

typedef struct sreader {
  const char *path;
  FILE *fp;
  int line, long_line, failed;
  int header_line; /* the line of the last [section] header */
  ssection *sec;
  size_t nsec;
} sreader;

/* libinih's line source: counts lines, refuses a line longer than its
 * buffer and a NUL byte. */
static char *spec_line(char *str, int num, void *stream) {
  sreader *r = stream;
  if (r->failed || !fgets(str, num, r->fp)) return NULL;
  r->line++;
  size_t n = strlen(str);
  if (n + 1 == (size_t)num && str[n - 1] != '\n') {
    r->long_line = r->line;
    return NULL;
  }
  /* a section header: its line, and its kind checked here, since a
   * section without keys never reaches spec_pair */
  const char *p = str;
  while (isspace((unsigned char)*p))
    p++;
  if (*p == '[') {
    const char *e = strchr(p, ']');
    size_t len = e ? (size_t)(e - p - 1) : 0;
    r->header_line = r->line;
    if (e && !(len == 3 && !strncmp(p + 1, "fit", 3)) &&
        strncmp(p + 1, "data ", 5) && strncmp(p + 1, "target ", 7)) {
      fprintf(stderr,
              "nimc fit: %s:%d: [%.*s] unknown section: expected [fit], "
              "[data NAME] or [target NAME]\n",
              r->path, r->line, (int)(len > 100 ? 100 : len), p + 1);
      r->failed = 1;
      return NULL;
    }
  }
  return str;
}

/* Say "nimc fit: FILE:LINE: [SECTION] KEY: message" and fail. */
static int spec_fail(sreader *r, int line, const ssection *s, const char *key,
                     const char *fmt, const char *arg) {
  fprintf(stderr, "nimc fit: %s:%d: ", r->path, line);
  if (s) fprintf(stderr, "[%s] ", s->name);
  if (key) fprintf(stderr, "%s: ", key);
  fprintf(stderr, fmt, arg);
  fputc('\n', stderr);
  r->failed = 1;
  return 0;
}

static int spec_pair(void *user, const char *sec, const char *key,
                     const char *val) {
  sreader *r = user;
  if (r->failed) return 0;
  if (!*sec) return spec_fail(r, r->line, NULL, key, "%s", "key outside any [section]");
  ssection *s = r->nsec ? &r->sec[r->nsec - 1] : NULL;
  if (!s || strcmp(s->name, sec)) {
    for (size_t k = 0; k < r->nsec; k++)
      if (!strcmp(r->sec[k].name, sec))
        return spec_fail(r, r->line, &r->sec[k], NULL, "%s",
                         "section given twice");
    unsigned type = !strcmp(sec, "fit")         ? IN_FIT
                    : !strncmp(sec, "data ", 5) ? IN_DATA
                                                : IN_TARGET; /* spec_line
                                                                checked */
    ssection *g = realloc(r->sec, (r->nsec + 1) * sizeof *g);
    if (!g) return spec_fail(r, r->line, NULL, NULL, "%s", "out of memory");
    r->sec = g;
    s = &r->sec[r->nsec++];
    memset(s, 0, sizeof *s);
    s->name = strdup(sec);
    s->type = type;
    s->line = r->header_line;
    if (!s->name) return spec_fail(r, r->line, NULL, NULL, "%s", "out of memory");
  }
  const struct spec_key *k = NULL;
  for (size_t j = 0; j < NSPEC_KEYS && !k; j++)
    if (!strcmp(spec_keys[j].name, key)) k = &spec_keys[j];
  if (!k || !(k->where & s->type))
    return spec_fail(r, r->line, s, key, "%s",
                     "unknown key here (docs/fitting.md lists the keys of "
                     "each section)");
  for (size_t j = 0; j < s->ne && !k->many; j++)
    if (!strcmp(s->e[j].key, k->name))
      return spec_fail(r, r->line, s, key, "%s", "duplicate key");
  sentry *e = realloc(s->e, (s->ne + 1) * sizeof *e);
  if (!e) return spec_fail(r, r->line, NULL, NULL, "%s", "out of memory");
  s->e = e;
  s->e[s->ne] = (sentry){k->name, strdup(val ? val : ""), r->line};
  if (!s->e[s->ne].value)
    return spec_fail(r, r->line, NULL, NULL, "%s", "out of memory");
  s->ne++;
  return 1;
}

/* The entry of key in s, or NULL. */
static const sentry *get(const ssection *s, const char *key) {
  for (size_t k = 0; k < s->ne; k++)
    if (!strcmp(s->e[k].key, key)) return &s->e[k];
  return NULL;
}

/* path relative to the fit file's folder (absolute stays), malloc'd. */
static char *relative_to(const char *spec, const char *path) {
  const char *slash = strrchr(spec, '/');
  size_t n = path[0] == '/' || !slash ? 0 : (size_t)(slash - spec) + 1;
  char *out = malloc(n + strlen(path) + 1);
  if (out) {
    memcpy(out, spec, n);
    strcpy(out + n, path);
  }
  return out;
}

/* Collect the values of the repeatable key of s into *out (malloc'd
 * copies); 0 or -1. */
static int collect(const ssection *s, const char *key, char ***out,
                   size_t *n) {
  *n = 0;
  *out = calloc(s->ne + 1, sizeof **out);
  if (!*out) return -1;
  for (size_t k = 0; k < s->ne; k++)
    if (!strcmp(s->e[k].key, key) && !((*out)[(*n)++] = strdup(s->e[k].value)))
      return -1;
  return 0;
}

/* A relative standard deviation "5 %" or "0.05" into *out; 0 or -1. */
static int relative_sigma(const char *text, double *out) {
  char *end;
  double v = strtod(text, &end);
  while (isspace((unsigned char)*end))
    end++;
  if (*end == '%') {
    v /= 100.0;
    end++;
    while (isspace((unsigned char)*end))
      end++;
  }
  if (end == text || *end || !(v > 0.0 && isfinite(v))) return -1;
  *out = v;
  return 0;
}

/* A section into observation f; 0 or the exit status. */
static int spec_obs(sreader *r, const ssection *s, fobs *f, int quiet) {
  const char *which = s->type == IN_DATA ? "data" : "target";
  snprintf(f->name, sizeof f->name, "%s", s->name + strlen(which) + 1);
  const sentry *dev = get(s, "device");
  if (!dev) {
    spec_fail(r, s->line, s, NULL, "%s", "no device key");
    return EXIT_USAGE;
  }
  if (!(f->device = relative_to(r->path, dev->value)) ||
      collect(s, "set", &f->sets, &f->nsets) ||
      collect(s, "step", &f->steps, &f->nsteps)) {
    fprintf(stderr, "nimc fit: out of memory\n");
    return EXIT_FAIL;
  }
  const sentry *sg = get(s, "sigma");
  if (s->type == IN_DATA) {
    const sentry *file = get(s, "file"), *kind = get(s, "kind"),
                 *fmt = get(s, "format");
    if (!file) {
      spec_fail(r, s->line, s, NULL, "%s", "no file key");
      return EXIT_USAGE;
    }
    if (kind) {
      const char *k = kind->value;
      f->kind_word = !strcmp(k, "gcd") ? 'g'
                     : !strcmp(k, "cv") ? 'c'
                     : !strcmp(k, "eis") ? 'e'
                                         : -1;
      if (f->kind_word < 0) {
        spec_fail(r, kind->line, s, "kind", "'%s': expected gcd, cv or eis",
                  k);
        return EXIT_USAGE;
      }
    }
    f->format = fmt ? fmt->value : NULL;
    if (!(f->data = relative_to(r->path, file->value))) return EXIT_FAIL;
    int rc = fobs_load_data(f, quiet);
    if (rc) {
      fprintf(stderr, "nimc fit: %s:%d: [%s]: in this section\n", r->path,
              s->line, s->name);
      return rc;
    }
    if (sg) {
      nimc_err err;
      int ok = f->o.kind == NIMC_OBS_IMPEDANCE
                   ? !relative_sigma(sg->value, &f->o.sigma)
                   : !nimc_quantity_parse(sg->value,
                                          f->o.kind == NIMC_OBS_VOLTAGE ? "V"
                                                                        : "A",
                                          &f->o.sigma, &err) &&
                         f->o.sigma > 0.0;
      if (!ok) {
        spec_fail(r, sg->line, s, "sigma",
                  f->o.kind == NIMC_OBS_IMPEDANCE
                      ? "'%s': expected a positive relative error (2 %%, 0.02)"
                  : f->o.kind == NIMC_OBS_VOLTAGE
                      ? "'%s': expected a positive voltage (5 mV)"
                      : "'%s': expected a positive current (1 uA)",
                  sg->value);
        return EXIT_USAGE;
      }
    }
    return 0;
  }
  /* a target */
  const sentry *met = get(s, "metric"), *val = get(s, "value"),
               *us = get(s, "until_steady"), *circ = get(s, "circuit");
  if (!met || !val) {
    spec_fail(r, s->line, s, NULL, "%s", "a target needs metric and value");
    return EXIT_USAGE;
  }
  int known = 0, spectrum = 0;
  for (size_t k = 0; nimc_fit_metric_name(k, NULL) && !known; k++)
    known = !strcmp(nimc_fit_metric_name(k, &spectrum), met->value);
  if (!known) {
    spec_fail(r, met->line, s, "metric",
              "'%s': unknown (docs/fitting.md lists the metrics)", met->value);
    return EXIT_USAGE;
  }
  char *end;
  double v = strtod(val->value, &end);
  while (isspace((unsigned char)*end))
    end++;
  if (end == val->value || *end || !isfinite(v) || v == 0.0) {
    spec_fail(r, val->line, s, "value",
              "'%s': expected a number, not 0, in the unit the metric's name "
              "ends in",
              val->value);
    return EXIT_USAGE;
  }
  if (!(f->metric = strdup(met->value)) ||
      (circ && !(f->circuit = strdup(circ->value))))
    return EXIT_FAIL;
  f->o.kind = NIMC_OBS_METRIC;
  f->o.name = f->name;
  f->o.device = f->device;
  f->o.sets = (const char *const *)f->sets;
  f->o.nsets = f->nsets;
  f->o.metric = f->metric;
  f->o.circuit = f->circuit;
  f->o.value = v;
  f->o.until_steady = f->nsteps > 0;
  if (us) {
    if (!strcmp(us->value, "yes") || !strcmp(us->value, "true"))
      f->o.until_steady = 1;
    else if (!strcmp(us->value, "no") || !strcmp(us->value, "false"))
      f->o.until_steady = 0;
    else {
      spec_fail(r, us->line, s, "until_steady", "'%s': expected yes or no",
                us->value);
      return EXIT_USAGE;
    }
  }
  if (sg && relative_sigma(sg->value, &f->o.sigma)) {
    spec_fail(r, sg->line, s, "sigma",
              "'%s': expected a positive relative error (5 %%, 0.05)",
              sg->value);
    return EXIT_USAGE;
  }
  if (!spectrum && !f->nsteps) {
    spec_fail(r, s->line, s, NULL, "the metric '%s' needs the experiment (step = ...)",
              met->value);
    return EXIT_USAGE;
  }
  const sentry *fr = get(s, "from"), *to = get(s, "to"),
               *pd = get(s, "per_decade");
  if ((fr || to || pd) && !spectrum) {
    spec_fail(r, (fr ? fr : to ? to : pd)->line, s, NULL,
              "frequencies are for the spectrum's metrics, not '%s'",
              met->value);
    return EXIT_USAGE;
  }
  if (fr || to || pd) {
    double lo = 1e5, hi = 1e-2;
    long n = 10;
    nimc_err err;
    if (fr && nimc_quantity_parse(fr->value, "Hz", &lo, &err)) {
      spec_fail(r, fr->line, s, "from", "%s", err.msg);
      return EXIT_USAGE;
    }
    if (to && nimc_quantity_parse(to->value, "Hz", &hi, &err)) {
      spec_fail(r, to->line, s, "to", "%s", err.msg);
      return EXIT_USAGE;
    }
    if (pd) {
      n = strtol(pd->value, &end, 10);
      if (end == pd->value || *end || n < 1 || n > 1000) {
        spec_fail(r, pd->line, s, "per_decade",
                  "'%s': expected a whole number from 1 to 1000", pd->value);
        return EXIT_USAGE;
      }
    }
    if (nimc_freq_logspace(lo, hi, (int)n, &f->freq, &f->nfreq, &err)) {
      spec_fail(r, (fr ? fr : to ? to : pd)->line, s, NULL, "%s", err.msg);
      return EXIT_USAGE;
    }
    f->o.freq_Hz = f->freq;
    f->o.nfreq = f->nfreq;
  }
  return given_steps(f);
}

/* Targets that simulate the same experiment on the same device share one
 * parsed experiment (so nimc_fit_run runs it once per evaluation). */
static void share_experiments(fit_spec *sp) {
  for (size_t j = 1; j < sp->nobs; j++) {
    fobs *b = &sp->obs[j];
    if (b->o.kind != NIMC_OBS_METRIC || !b->exp) continue;
    for (size_t i = 0; i < j; i++) {
      const fobs *a = &sp->obs[i];
      int same = a->o.kind == NIMC_OBS_METRIC && a->exp &&
                 !strcmp(a->device, b->device) && a->nsets == b->nsets &&
                 a->nsteps == b->nsteps;
      for (size_t k = 0; same && k < a->nsets; k++)
        same = !strcmp(a->sets[k], b->sets[k]);
      for (size_t k = 0; same && k < a->nsteps; k++)
        same = !strcmp(a->steps[k], b->steps[k]);
      if (same) {
        b->o.exp = a->o.exp;
        break;
      }
    }
  }
}

int fit_spec_read(const char *path, int quiet, fit_spec *sp) {
  memset(sp, 0, sizeof *sp);
  sreader r;
  memset(&r, 0, sizeof r);
  r.path = path;
  /* a regular file of at most SPEC_MAX_BYTES, without NUL bytes, read
   * whole before parsing: nothing can hang on /dev/zero or a pipe */
  char *text = NULL;
  size_t len = 0;
  nimc_err err;
  int rd = nimc_text_file_read(path, SPEC_MAX_BYTES, NULL, &text, &len, &err);
  if (rd == NIMC_EIO) { /* "PATH: why" */
    size_t lp = strlen(path);
    fprintf(stderr, "nimc fit: %s: cannot open: %s\n", path,
            !strncmp(err.msg, path, lp) && err.msg[lp] == ':'
                ? err.msg + lp + 2
                : err.msg);
    return EXIT_USAGE;
  }
  if (rd) {
    fprintf(stderr, "nimc fit: %s\n", err.msg);
    return rd == NIMC_ENOMEM ? EXIT_FAIL : EXIT_USAGE;
  }
  if (!(r.fp = fmemopen(text, len ? len : 1, "r"))) {
    free(text);
    return EXIT_FAIL;
  }
  int rc = ini_parse_stream(spec_line, &r, spec_pair, &r);
  fclose(r.fp);
  free(text);
  int out = 0;
  if (r.failed) {
    out = EXIT_USAGE;
  } else if (r.long_line) {
    fprintf(stderr, "nimc fit: %s:%d: line too long\n", path, r.long_line);
    out = EXIT_USAGE;
  } else if (rc > 0) {
    fprintf(stderr,
            "nimc fit: %s:%d: syntax error: expected '[section]' or 'key = "
            "value'\n",
            path, rc);
    out = EXIT_USAGE;
  } else if (rc < 0) {
    fprintf(stderr, "nimc fit: out of memory\n");
    out = EXIT_FAIL;
  }
  const ssection *fit = NULL;
  size_t nobs = 0;
  for (size_t k = 0; !out && k < r.nsec; k++) {
    if (r.sec[k].type == IN_FIT) fit = &r.sec[k];
    nobs += r.sec[k].type != IN_FIT;
  }
  if (!out && (!fit || !get(fit, "params"))) {
    fprintf(stderr, "nimc fit: %s: no [fit] section with params = ...\n",
            path);
    out = EXIT_USAGE;
  }
  if (!out && !nobs) {
    fprintf(stderr, "nimc fit: %s: no [data NAME] or [target NAME] section\n",
            path);
    out = EXIT_USAGE;
  }
  if (!out) {
    const sentry *m = get(fit, "method"), *it = get(fit, "max_iter"),
                 *rt = get(fit, "rtol");
    char *end;
    /* params may be given on several lines: joined by commas */
    size_t plen = 1;
    for (size_t k = 0; k < fit->ne; k++)
      if (!strcmp(fit->e[k].key, "params"))
        plen += strlen(fit->e[k].value) + 1;
    if (!(sp->params = calloc(plen, 1))) out = EXIT_FAIL;
    for (size_t k = 0; !out && k < fit->ne; k++)
      if (!strcmp(fit->e[k].key, "params")) {
        if (*sp->params) strcat(sp->params, ",");
        strcat(sp->params, fit->e[k].value);
      }
    if (m && !out) {
      if (!strcmp(m->value, "simplex"))
        sp->simplex = 1;
      else if (strcmp(m->value, "levenberg-marquardt"))
        out = EXIT_USAGE, spec_fail(&r, m->line, fit, "method",
                                    "'%s': expected levenberg-marquardt or "
                                    "simplex",
                                    m->value);
    }
    if (it && !out) {
      long n = strtol(it->value, &end, 10);
      if (end == it->value || *end || n < 1 || n > 100000)
        out = EXIT_USAGE, spec_fail(&r, it->line, fit, "max_iter",
                                    "'%s': expected a whole number from 1 to "
                                    "100000",
                                    it->value);
      sp->max_iter = (int)n;
    }
    if (rt && !out) {
      sp->rtol = strtod(rt->value, &end);
      if (end == rt->value || *end || !(sp->rtol > 0.0 && sp->rtol < 0.1))
        out = EXIT_USAGE, spec_fail(&r, rt->line, fit, "rtol",
                                    "'%s': expected a number in (0, 0.1)",
                                    rt->value);
    }
  }
  if (!out && !(sp->obs = calloc(nobs, sizeof *sp->obs))) out = EXIT_FAIL;
  for (size_t k = 0; !out && k < r.nsec; k++)
    if (r.sec[k].type != IN_FIT)
      out = spec_obs(&r, &r.sec[k], &sp->obs[sp->nobs++], quiet);
  if (!out) share_experiments(sp);
  for (size_t k = 0; k < r.nsec; k++) {
    for (size_t j = 0; j < r.sec[k].ne; j++)
      free(r.sec[k].e[j].value);
    free(r.sec[k].e);
    free(r.sec[k].name);
  }
  free(r.sec);
  if (out) fit_spec_free(sp);
  return out;
}

void fit_spec_free(fit_spec *sp) {
  for (size_t k = 0; sp->obs && k < sp->nobs; k++)
    fobs_free(&sp->obs[k]);
  free(sp->obs);
  free(sp->params);
  memset(sp, 0, sizeof *sp);
}
