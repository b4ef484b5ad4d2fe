/*
 * checkpoint.c -- a run written down at a checkpoint boundary, read back,
 * and put into a new simulation to go on (nimc_checkpoint_write,
 * nimc_checkpoint_read, nimc_sim_resume).
 *
 * A checkpoint is taken only at a checkpoint boundary of a run (run.c: the
 * end of a cycle or of a step outside a cycle), where every step starts
 * afresh from y and y' anyway, and where the solver has just forgotten the
 * factorisation it keeps across steps: a new simulation given the state
 * then computes exactly what the unbroken one computes.  Nothing of a
 * cycle is half done there, so the result so far is complete records
 * only: the samples kept, the step records, the cycle summaries, the
 * warnings.  With the position in the experiment (the steps done, which
 * fixes every Repeat's iteration, written too as a check), the first
 * capacitance of the running line (for the retention) and the solver's
 * counters, that is all a run needs to go on.
 *
 * The file is text (docs/experiments.md, "Checkpoint files"): a version
 * line, "key value" lines, counted sections of records (one line each,
 * fields in the order of a "fields" line that the reader checks), and last
 * the state in the state file's own format.  Real numbers are C99
 * hexadecimal floats, read back bit for bit.  The caller's meta lines
 * (the command's options, for the CLI) are kept verbatim and not read
 * here.  It is written whole by nimc_write_atomic: complete or absent.
 * What it does not hold: the device and the experiment, which the caller
 * gives again (the CLI checks them by its meta lines).
 */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/result.h"
#include "io/readfile.h"
#include "protocol/jump.h"
#include "protocol/sim.h"

#define CKPT_MAGIC "nimc-checkpoint"
#define CKPT_VERSION 2
/* The largest checkpoint read (4 GiB: a run that keeps its samples). */
#define CKPT_MAX_BYTES (1L << 32)

struct nimc_checkpoint {
  int finished, status;
  char **meta;
  long *meta_line;
  size_t nmeta;
  nimc_position pos;
  nimc_solver_stats stats;
  nimc_result res;
  nimc_jumper jump; /* the running Repeat's cycle jumper (y[0] NULL: none) */
  nimc_state *state;
};

/* ---- the records' fields, by name ---- */

typedef struct field {
  const char *key;
  char kind; /* 'i' int, 'd' double */
  size_t off;
} field;

#define SF(k, name)                                                            \
  { #name, k, offsetof(nimc_step_result, name) }
static const field step_fields[] = {
    SF('i', type),          SF('i', index),       SF('i', cycle),
    SF('d', duration_s),    SF('d', charge_C),    SF('d', energy_J),
    SF('d', v_start_V),     SF('d', v_end_V),     SF('i', end_reason),
    SF('d', freq_Hz),       SF('d', z_re_ohm),    SF('d', z_im_ohm),
    SF('d', temperature_K), SF('d', output_dt_s),
};
_Static_assert(sizeof(nimc_step_type) == sizeof(int) &&
                   sizeof(nimc_end_reason) == sizeof(int),
               "the step record's enums are written as ints");

#define CF(k, name)                                                            \
  { #name, k, offsetof(nimc_cycle_result, name) }
#define MF(k, name)                                                            \
  {                                                                            \
    "metrics." #name, k,                                                       \
        offsetof(nimc_cycle_result, metrics) + offsetof(nimc_metrics, name)    \
  }
static const field cycle_fields[] = {
    CF('i', cycle),
    CF('i', first_step),
    CF('i', nsteps),
    CF('d', t_start_s),
    CF('d', duration_s),
    CF('d', charge_C),
    CF('d', discharge_C),
    CF('d', energy_charge_J),
    CF('d', energy_discharge_J),
    CF('d', coulombic_efficiency),
    CF('d', energy_efficiency),
    CF('d', v_end_V),
    CF('d', capacitance_retention),
    CF('i', skipped_before),
    MF('i', have_discharge),
    MF('i', have_cycle),
    MF('i', ncycles),
    MF('i', cycle),
    MF('d', capacitance_F),
    MF('d', capacitance_areal_F_m2),
    MF('d', capacitance_volumetric_F_m3),
    MF('d', energy_J),
    MF('d', energy_volumetric_J_m3),
    MF('d', energy_areal_J_m2),
    MF('d', power_W),
    MF('d', power_volumetric_W_m3),
    MF('d', power_areal_W_m2),
    MF('d', esr_ohm),
    MF('d', coulombic_efficiency),
    MF('d', capacitance_retention),
    MF('d', discharge_time_s),
    MF('d', discharge_current_A),
};

#define XF(name)                                                               \
  { #name, offsetof(nimc_solver_stats, name) }
static const struct {
  const char *key;
  size_t off;
} stat_fields[] = {
    XF(steps),
    XF(residual_evals),
    XF(jacobian_evals),
    XF(linear_setups),
    XF(nonlinear_iters),
    XF(error_test_fails),
    XF(nonlinear_conv_fails),
    XF(root_evals),
    XF(unknowns),
    XF(jacobian_nonzeros),
    XF(full_factorizations),
    XF(refactorizations),
    XF(lu_nonzeros),
};
#define NSTAT (sizeof stat_fields / sizeof stat_fields[0])
_Static_assert(sizeof(nimc_solver_stats) == NSTAT * sizeof(long),
               "nimc_solver_stats has changed: add its new counters to "
               "stat_fields (src/protocol/checkpoint.c)");

static long *stat_at(nimc_solver_stats *st, size_t k) {
  return (long *)((char *)st + stat_fields[k].off);
}

/* ---- writing ---- */

/* A growing text buffer; a failed allocation sticks (oom). */
typedef struct text {
  char *b;
  size_t len, cap;
  int oom;
} text;

static void put(text *t, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void put(text *t, const char *fmt, ...) {
  if (t->oom) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(t->b ? t->b + t->len : NULL, t->b ? t->cap - t->len : 0,
                      fmt, ap);
    va_end(ap);
    if (k < 0) {
      t->oom = 1;
      return;
    }
    if (t->b && (size_t)k < t->cap - t->len) {
      t->len += (size_t)k;
      return;
    }
    size_t cap = 2 * t->cap + (size_t)k + 4096;
    char *nb = realloc(t->b, cap);
    if (!nb) {
      t->oom = 1;
      return;
    }
    t->b = nb, t->cap = cap;
  }
}

/* Text of one line: backslash and newline escaped (\\, \n). */
static void put_escaped(text *t, const char *s) {
  for (; *s && !t->oom; s++) {
    if (*s == '\\')
      put(t, "\\\\");
    else if (*s == '\n')
      put(t, "\\n");
    else if (*s == '\r')
      put(t, "\\r");
    else
      put(t, "%c", *s);
  }
}

static void put_record(text *t, const char *tag, const field *f, size_t nf,
                       const void *rec) {
  put(t, "%s", tag);
  for (size_t k = 0; k < nf; k++) {
    const char *p = (const char *)rec + f[k].off;
    if (f[k].kind == 'i') {
      int v;
      memcpy(&v, p, sizeof v);
      put(t, " %d", v);
    } else {
      double v;
      memcpy(&v, p, sizeof v);
      put(t, " %a", v);
    }
  }
  put(t, "\n");
}

static void put_fields(text *t, const char *key, const field *f, size_t nf) {
  put(t, "%s", key);
  for (size_t k = 0; k < nf; k++)
    put(t, " %s", f[k].key);
  put(t, "\n");
}

static int put_meta(text *t, const char *const *meta, size_t nmeta,
                    nimc_err *err) {
  put(t, "meta %zu\n", nmeta);
  for (size_t k = 0; k < nmeta; k++) {
    if (!meta[k] || strpbrk(meta[k], "\r\n"))
      return nimc_err_set(err, NIMC_EMISUSE,
                          "nimc_checkpoint_write: meta line %zu is NULL or "
                          "holds a newline",
                          k + 1);
    put(t, "%s\n", meta[k]);
  }
  return NIMC_OK;
}

static void put_head(text *t) {
  put(t,
      "%s %d\n"
      "# a checkpoint of a nimc run (docs/experiments.md, \"Checkpoint "
      "files\");\n"
      "# real numbers are C99 hexadecimal floats, read back bit for bit\n",
      CKPT_MAGIC, CKPT_VERSION);
}

/* The cycle jumper of the running Repeat (jump.h): what it remembers of
 * the cycles before, so that a resumed run jumps as the unbroken one. */
static void put_jumper(text *t, const nimc_jumper *J) {
  put(t, "# cycle jumping: the running Repeat's jumper (0: none)\njump %d\n",
      J != NULL);
  if (!J) return;
  put(t, "jump_counts %d %d %d %d\njump_values %a %a %a %a\n", J->nsim,
      J->last_jump, J->jumps, J->pending, J->dc_before, J->c_from, J->c_first,
      J->tol);
  put(t, "jump_cycles");
  for (int k = 0; k < NIMC_JUMP_KEEP; k++)
    put(t, " %a %a", J->t[k], J->c[k]);
  put(t, "\njump_states %lld\n", (long long)J->n);
  for (int64_t i = 0; i < J->n; i++) {
    for (int k = 0; k < NIMC_JUMP_KEEP; k++)
      put(t, k ? " %a" : "%a", J->y[k][i]);
    put(t, "\n");
  }
}

int nimc_checkpoint_write_finished(const char *const *meta, size_t nmeta,
                                   int status, const char *path,
                                   nimc_err *err) {
  if (!path || (nmeta && !meta))
    return nimc_err_set(err, NIMC_EMISUSE,
                        "nimc_checkpoint_write_finished: NULL argument");
  text t = {0};
  put_head(&t);
  put(&t, "finished 1\nstatus %d\n", status);
  int rc = put_meta(&t, meta, nmeta, err);
  put(&t, "end\n");
  if (!rc && t.oom)
    rc = nimc_err_set(err, NIMC_ENOMEM, "%s: out of memory", path);
  if (!rc) rc = nimc_write_atomic(path, t.b, t.len, err);
  free(t.b);
  return rc;
}

int nimc_checkpoint_write(nimc_sim *sim, const nimc_result *res,
                          const char *const *meta, size_t nmeta,
                          const char *path, nimc_err *err) {
  if (!sim || !res || !path || (nmeta && !meta))
    return nimc_err_set(err, NIMC_EMISUSE,
                        "nimc_checkpoint_write: NULL argument");
  nimc_position p = nimc_sim_position(sim);
  nimc_solver_stats st = nimc_sim_stats(sim);
  nimc_state *state = NULL;
  text t = {0};
  int rc = nimc_sim_get_state(sim, &state);
  if (rc) {
    nimc_err_set(err, rc, "%s: %s", path, nimc_sim_errmsg(sim));
    goto done;
  }
  put_head(&t);
  put(&t, "finished 0\n");
  if ((rc = put_meta(&t, meta, nmeta, err))) goto done;
  put(&t,
      "# where the run stands: the steps of its experiment done (of "
      "total),\n# the line, the cycles of the line and its first "
      "capacitance, the\n# checkpoint boundaries passed, the Repeats' "
      "iterations (0-based)\n"
      "position_done %zu\nposition_total %zu\nposition_line %zu\n"
      "position_cycles %d\nposition_c_first %a\nposition_boundaries %ld\n"
      "position_iterations %d",
      p.done, p.total, p.line, p.ncycles, p.c_first, p.boundaries, p.depth);
  for (int k = 0; k < p.depth; k++)
    put(&t, " %d", p.iter[k]);
  put(&t, "\n");
  for (size_t k = 0; k < NSTAT; k++)
    put(&t, "stats_%s %ld\n", stat_fields[k].key, *stat_at(&st, k));
  put_jumper(&t, nimc_sim_jumper(sim));
  put(&t, "warnings %zu\n", res->nwarnings);
  for (size_t k = 0; k < res->nwarnings; k++) {
    const nimc_warning *w = &res->warnings[k];
    put(&t, "w %d %a ", w->step, w->t_s);
    put_escaped(&t, w->text);
    put(&t, "\n");
  }
  const size_t nsf = sizeof step_fields / sizeof step_fields[0];
  const size_t ncf = sizeof cycle_fields / sizeof cycle_fields[0];
  put_fields(&t, "step_fields", step_fields, nsf);
  put(&t, "steps %zu\n", res->nsteps);
  for (size_t k = 0; k < res->nsteps; k++)
    put_record(&t, "s", step_fields, nsf, &res->steps[k]);
  put_fields(&t, "cycle_fields", cycle_fields, ncf);
  put(&t, "cycles %zu\n", res->ncycles);
  for (size_t k = 0; k < res->ncycles; k++)
    put_record(&t, "c", cycle_fields, ncf, &res->cycles[k]);
  const nimc_series *se = &res->series;
  put(&t, "# time_s voltage_V current_A step\nsamples %zu\n", se->n);
  for (size_t k = 0; k < se->n; k++)
    put(&t, "%a %a %a %d\n", se->time_s[k], se->voltage_V[k], se->current_A[k],
        se->step ? se->step[k] : -1);
  put(&t, "state\n");
  char *sb = NULL;
  size_t sl = 0;
  if ((rc = nimc_state_text(state, &sb, &sl, err))) {
    nimc_err_set(err, rc, "%s: out of memory", path);
    goto done;
  }
  put(&t, "%.*s", (int)sl, sb);
  free(sb);
  if (t.oom) {
    rc = nimc_err_set(err, NIMC_ENOMEM, "%s: out of memory", path);
    goto done;
  }
  rc = nimc_write_atomic(path, t.b, t.len, err);
done:
  nimc_state_destroy(state);
  free(t.b);
  return rc;
}

/* ---- reading ---- */

typedef struct reader {
  const char *path;
  char *p;   /* start of the next line */
  long line; /* the number of the line last taken */
  nimc_err *err;
} reader;

/* The next line, its end cut; comments and blank lines skipped unless
 * raw.  NULL at the end of the text. */
static char *next_line(reader *r, int raw) {
  return nimc_text_next_line(&r->p, &r->line, raw);
}

static int bad(reader *r, const char *key, const char *what,
               const char *found) {
  return nimc_err_set(r->err, NIMC_EINPUT, "%s:%ld: %s: %s, found '%.80s'",
                      r->path, r->line, key, what,
                      found ? found
                            : "(the end of "
                              "the file: "
                              "cut short?)");
}

/* The value of the next line, which must be "key VALUE". */
static char *value_of(reader *r, const char *key) {
  char *s = next_line(r, 0);
  size_t n = strlen(key);
  if (!s || strncmp(s, key, n) || (s[n] && !isspace((unsigned char)s[n]))) {
    bad(r, key, "expected this key here", s);
    return NULL;
  }
  s += n;
  while (isspace((unsigned char)*s))
    s++;
  return s;
}

static int whole_at(char **s, long long lo, long long hi, long long *out) {
  char *end;
  errno = 0;
  long long v = strtoll(*s, &end, 10);
  if (end == *s || errno || v < lo || v > hi) return -1;
  *s = end;
  *out = v;
  return 0;
}

/* A real (any, NaN and infinities too: result fields hold them). */
static int real_at(char **s, double *out) {
  char *end;
  errno = 0;
  double v = strtod(*s, &end);
  if (end == *s || (errno == ERANGE && isfinite(v) && v != 0.0)) return -1;
  *s = end;
  *out = v;
  return 0;
}

static int only_space(const char *s) {
  while (isspace((unsigned char)*s))
    s++;
  return !*s;
}

/* "key N" with N in [lo, hi]. */
static int key_whole(reader *r, const char *key, long long lo, long long hi,
                     long long *out) {
  char *v = value_of(r, key);
  if (!v) return NIMC_EINPUT;
  char *q = v;
  if (whole_at(&q, lo, hi, out) || !only_space(q))
    return bad(r, key, "expected a whole number", v);
  return NIMC_OK;
}

static int key_fields(reader *r, const char *key, const field *f, size_t nf) {
  char *v = value_of(r, key);
  if (!v) return NIMC_EINPUT;
  char want[2048] = "";
  size_t n = 0;
  for (size_t k = 0; k < nf; k++)
    n += (size_t)snprintf(want + n, sizeof want - n, "%s%s", k ? " " : "",
                          f[k].key);
  if (strcmp(v, want))
    return nimc_err_set(r->err, NIMC_EINPUT,
                        "%s:%ld: %s: the records' fields are not those this "
                        "nimc writes ('%s'): a checkpoint of another version",
                        r->path, r->line, key, want);
  return NIMC_OK;
}

static int get_record(reader *r, const char *tag, const field *f, size_t nf,
                      void *rec) {
  char *s = next_line(r, 0), *line = s;
  size_t n = strlen(tag);
  if (!s || strncmp(s, tag, n) || !isspace((unsigned char)s[n]))
    return bad(r, tag, "expected a record", s);
  s += n;
  for (size_t k = 0; k < nf; k++) {
    char *p = (char *)rec + f[k].off;
    if (f[k].kind == 'i') {
      long long v;
      if (whole_at(&s, -2147483647LL - 1, 2147483647LL, &v))
        return bad(r, f[k].key, "expected a whole number", line);
      int iv = (int)v;
      memcpy(p, &iv, sizeof iv);
    } else {
      double v;
      if (real_at(&s, &v)) return bad(r, f[k].key, "expected a number", line);
      memcpy(p, &v, sizeof v);
    }
  }
  if (!only_space(s)) return bad(r, tag, "more fields than expected", line);
  return NIMC_OK;
}

static int unescape(char *s) {
  char *o = s;
  for (; *s; s++) {
    if (*s != '\\') {
      *o++ = *s;
      continue;
    }
    s++;
    if (*s == '\\')
      *o++ = '\\';
    else if (*s == 'n')
      *o++ = '\n';
    else if (*s == 'r')
      *o++ = '\r';
    else
      return -1;
  }
  *o = '\0';
  return 0;
}

void nimc_checkpoint_destroy(nimc_checkpoint *ck) {
  if (!ck) return;
  for (size_t k = 0; k < ck->nmeta; k++)
    free(ck->meta[k]);
  free(ck->meta), free(ck->meta_line);
  nimc_result_free(&ck->res);
  nimc_jumper_free(&ck->jump);
  nimc_state_destroy(ck->state);
  free(ck);
}

static int read_meta(reader *r, nimc_checkpoint *ck) {
  long long n;
  int rc = key_whole(r, "meta", 0, 1000000, &n);
  if (rc) return rc;
  ck->meta = calloc((size_t)n + 1, sizeof *ck->meta);
  ck->meta_line = calloc((size_t)n + 1, sizeof *ck->meta_line);
  if (!ck->meta || !ck->meta_line)
    return nimc_err_set(r->err, NIMC_ENOMEM, "%s: out of memory", r->path);
  for (long long k = 0; k < n; k++) {
    char *s = next_line(r, 1);
    if (!s) return bad(r, "meta", "fewer lines than its count", NULL);
    if (!(ck->meta[k] = strdup(s)))
      return nimc_err_set(r->err, NIMC_ENOMEM, "%s: out of memory", r->path);
    ck->meta_line[k] = r->line;
    ck->nmeta = (size_t)k + 1;
  }
  return NIMC_OK;
}

static int read_position(reader *r, nimc_checkpoint *ck) {
  nimc_position *p = &ck->pos;
  long long v;
  int rc;
  if ((rc = key_whole(r, "position_done", 0, 2147483647, &v))) return rc;
  p->done = (size_t)v;
  if ((rc = key_whole(r, "position_total", 0, 2147483647, &v))) return rc;
  p->total = (size_t)v;
  if (p->done > p->total && p->total)
    return bad(r, "position_total", "fewer than the steps done", "");
  if ((rc = key_whole(r, "position_line", 0, 2147483647, &v))) return rc;
  p->line = (size_t)v;
  if ((rc = key_whole(r, "position_cycles", 0, 2147483647, &v))) return rc;
  p->ncycles = (int)v;
  char *s = value_of(r, "position_c_first"), *q = s;
  if (!s) return NIMC_EINPUT;
  if (real_at(&q, &p->c_first) || !only_space(q))
    return bad(r, "position_c_first", "expected a number", s);
  if ((rc = key_whole(r, "position_boundaries", 0, 1LL << 62, &v))) return rc;
  p->boundaries = (long)v;
  s = value_of(r, "position_iterations"), q = s;
  if (!s) return NIMC_EINPUT;
  if (whole_at(&q, 0, NIMC_POSITION_DEPTH, &v))
    return bad(r, "position_iterations",
               "expected the depth, then the "
               "iterations",
               s);
  p->depth = (int)v;
  for (int k = 0; k < p->depth; k++) {
    if (whole_at(&q, 0, 2147483647, &v))
      return bad(r, "position_iterations", "expected an iteration", s);
    p->iter[k] = (int)v;
  }
  if (!only_space(q))
    return bad(r, "position_iterations", "more iterations than its depth", s);
  return NIMC_OK;
}

/* The jumper (put_jumper), into ck->jump (its weights are not kept). */
static int read_jumper(reader *r, nimc_checkpoint *ck) {
  long long on, v[4], n;
  int rc;
  if ((rc = key_whole(r, "jump", 0, 1, &on)) || !on) return rc;
  nimc_jumper *J = &ck->jump;
  char *s = value_of(r, "jump_counts"), *q = s;
  if (!s) return NIMC_EINPUT;
  for (int k = 0; k < 4; k++)
    if (whole_at(&q, 0, 2147483647, &v[k]))
      return bad(r, "jump_counts", "expected four whole numbers", s);
  if (!only_space(q)) return bad(r, "jump_counts", "expected four numbers", s);
  J->nsim = (int)v[0], J->last_jump = (int)v[1], J->jumps = (int)v[2];
  J->pending = (int)v[3];
  s = value_of(r, "jump_values"), q = s;
  if (!s) return NIMC_EINPUT;
  double *x[] = {&J->dc_before, &J->c_from, &J->c_first, &J->tol};
  for (size_t k = 0; k < sizeof x / sizeof x[0]; k++)
    if (real_at(&q, x[k]))
      return bad(r, "jump_values", "expected four numbers", s);
  if (!only_space(q)) return bad(r, "jump_values", "expected four numbers", s);
  s = value_of(r, "jump_cycles"), q = s;
  if (!s) return NIMC_EINPUT;
  for (int k = 0; k < NIMC_JUMP_KEEP; k++)
    if (real_at(&q, &J->t[k]) || real_at(&q, &J->c[k]))
      return bad(r, "jump_cycles", "expected a time and a capacitance each",
                 s);
  if (!only_space(q))
    return bad(r, "jump_cycles", "expected a time and a capacitance each", s);
  if ((rc = key_whole(r, "jump_states", 1, 1LL << 31, &n))) return rc;
  J->n = (int64_t)n;
  for (int k = 0; k < NIMC_JUMP_KEEP; k++)
    if (!(J->y[k] = malloc(sizeof(double) * (size_t)n)))
      return nimc_err_set(r->err, NIMC_ENOMEM, "%s: out of memory", r->path);
  for (long long i = 0; i < n; i++) {
    s = next_line(r, 0), q = s;
    for (int k = 0; k < NIMC_JUMP_KEEP; k++)
      if (!s || real_at(&q, &J->y[k][i]) || !isfinite(J->y[k][i]))
        return bad(r, "jump_states", "expected the kept states' values", s);
    if (!only_space(q))
      return bad(r, "jump_states", "expected the kept states' values", s);
  }
  return NIMC_OK;
}

static int read_body(reader *r, nimc_checkpoint *ck) {
  int rc = read_position(r, ck);
  if (rc) return rc;
  long long n;
  for (size_t k = 0; k < NSTAT; k++) {
    char key[64];
    snprintf(key, sizeof key, "stats_%s", stat_fields[k].key);
    if ((rc = key_whole(r, key, 0, 1LL << 62, &n))) return rc;
    *stat_at(&ck->stats, k) = (long)n;
  }
  if ((rc = read_jumper(r, ck))) return rc;
  nimc_result *res = &ck->res;
  if ((rc = key_whole(r, "warnings", 0, 100000000, &n))) return rc;
  for (long long k = 0; k < n; k++) {
    char *s = next_line(r, 0), *q = s, *line = s;
    long long step;
    double t;
    if (!s || strncmp(s, "w ", 2))
      return bad(r, "warnings", "expected a warning 'w STEP T TEXT'", s);
    q += 2;
    if (whole_at(&q, -1, 2147483647, &step) || real_at(&q, &t) ||
        (*q && !isspace((unsigned char)*q)) || unescape(*q ? ++q : q))
      return bad(r, "warnings", "expected a warning 'w STEP T TEXT'", line);
    if (nimc_result_warn(res, (int)step, t, "%s", q))
      return nimc_err_set(r->err, NIMC_ENOMEM, "%s: out of memory", r->path);
  }
  const size_t nsf = sizeof step_fields / sizeof step_fields[0];
  const size_t ncf = sizeof cycle_fields / sizeof cycle_fields[0];
  if ((rc = key_fields(r, "step_fields", step_fields, nsf))) return rc;
  if ((rc = key_whole(r, "steps", 0, 1LL << 40, &n))) return rc;
  for (long long k = 0; k < n; k++) {
    nimc_step_result sr;
    memset(&sr, 0, sizeof sr);
    if ((rc = get_record(r, "s", step_fields, nsf, &sr))) return rc;
    if (nimc_result_push_step(res, &sr))
      return nimc_err_set(r->err, NIMC_ENOMEM, "%s: out of memory", r->path);
  }
  if ((rc = key_fields(r, "cycle_fields", cycle_fields, ncf))) return rc;
  if ((rc = key_whole(r, "cycles", 0, 1LL << 40, &n))) return rc;
  for (long long k = 0; k < n; k++) {
    nimc_cycle_result c;
    memset(&c, 0, sizeof c);
    if ((rc = get_record(r, "c", cycle_fields, ncf, &c))) return rc;
    if (nimc_result_push_cycle(res, &c))
      return nimc_err_set(r->err, NIMC_ENOMEM, "%s: out of memory", r->path);
  }
  if ((rc = key_whole(r, "samples", 0, 1LL << 40, &n))) return rc;
  for (long long k = 0; k < n; k++) {
    char *s = next_line(r, 0), *q = s;
    double t, v, i;
    long long step;
    if (!s || real_at(&q, &t) || real_at(&q, &v) || real_at(&q, &i) ||
        whole_at(&q, -1, 2147483647, &step) || !only_space(q))
      return bad(r, "samples", "expected a sample 'TIME VOLTAGE CURRENT STEP'",
                 s);
    if (nimc_series_push(&res->series, t, v, i, (int)step))
      return nimc_err_set(r->err, NIMC_ENOMEM, "%s: out of memory", r->path);
  }
  char *s = next_line(r, 0);
  if (!s || strcmp(s, "state"))
    return bad(r, "state", "expected the line 'state'", s);
  /* the rest is the state, in its own format */
  if (!r->p) return bad(r, "state", "expected the state after 'state'", NULL);
  return nimc_state_parse(r->p, r->path, r->line, &ck->state, r->err);
}

int nimc_checkpoint_read(const char *path, nimc_checkpoint **out,
                         nimc_err *err) {
  if (!out || !path)
    return nimc_err_set(err, NIMC_EMISUSE, "nimc_checkpoint_read: NULL");
  *out = NULL;
  char *buf = NULL;
  size_t len = 0;
  int rc = nimc_text_file_read(path, CKPT_MAX_BYTES, "the checkpoint", &buf,
                               &len, err);
  if (rc) return rc;
  nimc_checkpoint *ck = NULL;
  reader r = {path, buf, 0, err};
  char *s = next_line(&r, 0);
  size_t ml = strlen(CKPT_MAGIC);
  long long version;
  if (!s || strncmp(s, CKPT_MAGIC, ml) || !isspace((unsigned char)s[ml])) {
    rc = nimc_err_set(err, NIMC_EINPUT,
                      "%s:%ld: not a nimc checkpoint (its first line is not "
                      "'" CKPT_MAGIC " VERSION')",
                      path, r.line);
    goto done;
  }
  char *q = s + ml;
  if (whole_at(&q, 0, 1000000, &version) || !only_space(q) ||
      version != CKPT_VERSION) {
    rc = nimc_err_set(err, NIMC_EINPUT,
                      "%s:%ld: checkpoint version '%s', this nimc reads "
                      "version %d",
                      path, r.line, s + ml + 1, CKPT_VERSION);
    goto done;
  }
  ck = calloc(1, sizeof *ck);
  if (!ck) {
    rc = nimc_err_set(err, NIMC_ENOMEM, "%s: out of memory", path);
    goto done;
  }
  long long v;
  if ((rc = key_whole(&r, "finished", 0, 1, &v))) goto done;
  ck->finished = (int)v;
  if (ck->finished) {
    if ((rc = key_whole(&r, "status", -1000, 1000, &v))) goto done;
    ck->status = (int)v;
  }
  if ((rc = read_meta(&r, ck))) goto done;
  if (ck->finished) {
    s = next_line(&r, 0);
    if (!s || strcmp(s, "end") || next_line(&r, 0)) {
      rc = bad(&r, "end", "expected the line 'end', last", s);
      goto done;
    }
  } else if ((rc = read_body(&r, ck)))
    goto done;
  *out = ck;
  ck = NULL;
done:
  nimc_checkpoint_destroy(ck);
  free(buf);
  return rc;
}

int nimc_checkpoint_finished(const nimc_checkpoint *ck, int *status) {
  if (status) *status = ck && ck->finished ? ck->status : 0;
  return ck ? ck->finished : 0;
}

const char *nimc_checkpoint_meta(const nimc_checkpoint *ck, size_t k,
                                 long *line) {
  if (!ck || k >= ck->nmeta) return NULL;
  if (line) *line = ck->meta_line[k];
  return ck->meta[k];
}

int nimc_sim_resume(nimc_sim *sim, const nimc_checkpoint *ck,
                    nimc_result *res) {
  if (!sim) return NIMC_EMISUSE;
  if (!ck || !res || ck->finished || !ck->state || res->nsteps ||
      res->ncycles || res->series.n || res->nwarnings)
    return nimc_sim_fail(sim, NIMC_EMISUSE, "nimc_sim_resume: %s",
                         !ck || !res ? "NULL argument"
                         : ck->finished || !ck->state
                             ? "the checkpoint is of a finished run"
                             : "the result is not empty");
  int rc = nimc_sim_set_state(sim, ck->state);
  if (rc) return rc;
  const nimc_result *from = &ck->res;
  for (size_t k = 0; k < from->nsteps && !rc; k++)
    rc = nimc_result_push_step(res, &from->steps[k]);
  for (size_t k = 0; k < from->ncycles && !rc; k++)
    rc = nimc_result_push_cycle(res, &from->cycles[k]);
  for (size_t k = 0; k < from->nwarnings && !rc; k++)
    rc = nimc_result_warn(res, from->warnings[k].step, from->warnings[k].t_s,
                          "%s", from->warnings[k].text);
  const nimc_series *se = &from->series;
  for (size_t k = 0; k < se->n && !rc; k++)
    rc = nimc_series_push(&res->series, se->time_s[k], se->voltage_V[k],
                          se->current_A[k], se->step ? se->step[k] : -1);
  if (rc) return nimc_sim_fail(sim, NIMC_ENOMEM, "out of memory");
  if (ck->jump.y[0] && (rc = nimc_sim_set_jump_resume(sim, &ck->jump)))
    return rc;
  nimc_sim_set_stats_base(sim, &ck->stats);
  nimc_sim_set_resume(sim, &ck->pos);
  return NIMC_OK;
}
