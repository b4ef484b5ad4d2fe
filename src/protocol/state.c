/*
 * state.c -- the full state of a simulation, taken, put back, written and
 * read (nimc_sim_get_state, nimc_sim_set_state, nimc_state_write,
 * nimc_state_read): the basis of checkpoints and of cycle jumping.
 *
 * What the next step of a simulation depends on is small: the time, the
 * unknowns y and their rates y', the model's control, and the count of
 * executed steps (the next step's index).  Every step starts with a
 * consistent initialisation from y under its own control, so nothing of
 * IDA's history (its step size, its order, its interpolating polynomial)
 * needs to be kept: a simulation given a state goes on as the one it was
 * taken from, to the solver's tolerance.  What the solver keeps across
 * steps (the KLU factorisation) is dropped (nimc_solver_forget) and
 * rebuilt on the first Newton iteration, so that a state put back into a
 * simulation that ran gives the same numbers as in a new one.  The
 * checkpoints of a run (checkpoint.c) carry a state in this format.
 *
 * The file is text (docs/experiments.md, "State files"): a version line,
 * one "key value" line per scalar, then one line of "y y'" per unknown,
 * every real number a C99 hexadecimal float (%a), so that a state read
 * back is the same bits as the one written.  The device is not stored,
 * only its name (for messages) and its number of unknowns, which is
 * checked when the state is put into a simulation.  The file is read
 * whole (a regular file of bounded size), and every error names the file
 * and the line.
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

#include "core/params.h"
#include "io/readfile.h"
#include "model/model.h"
#include "protocol/sim.h"
#include "solver/solver.h"

#define STATE_MAGIC "nimc-state"
#define STATE_VERSION 3
/* The oldest version read: version 2 lacks the LED's control fields
 * (read as zeros: a version-2 state never holds an LED control). */
#define STATE_VERSION_OLDEST 2
/* The largest state file read (1 GiB: some 20 million unknowns, far more
 * than any device nimc meshes). */
#define STATE_MAX_BYTES (1L << 30)

struct nimc_state {
  size_t n;
  double t_s;
  int steps_done;
  nimc_control control;
  double *y, *yp;
  char device[NIMC_NAME_MAX];
  char source[NIMC_PATH_MAX]; /* the file it was read from, "" */
};

/* The real fields of the control, written and read by name, with the
 * version of the format that brought each.  A field added to nimc_control
 * must be added here (and the format's version raised): the assertions
 * fail to compile until it is. */
static const struct {
  const char *key;
  size_t off;
  int since; /* the first version that has it */
} control_fields[] = {
    {"control_i_set_A", offsetof(nimc_control, i_set_A), 2},
    {"control_v_set_V", offsetof(nimc_control, v_set_V), 2},
    {"control_sweep_rate_V_s", offsetof(nimc_control, sweep_rate_V_s), 2},
    {"control_t0_s", offsetof(nimc_control, t0_s), 2},
    {"control_sine_amplitude", offsetof(nimc_control, sine_amplitude), 2},
    {"control_sine_omega_rad_s", offsetof(nimc_control, sine_omega_rad_s), 2},
    {"control_p_set_W", offsetof(nimc_control, p_set_W), 2},
    {"control_r_load_ohm", offsetof(nimc_control, r_load_ohm), 2},
    {"control_led_forward_current_A",
     offsetof(nimc_control, led_forward_current_A), 3},
    {"control_led_forward_voltage_V",
     offsetof(nimc_control, led_forward_voltage_V), 3},
    {"control_led_slope_V", offsetof(nimc_control, led_slope_V), 3},
    {"control_led_series_ohm", offsetof(nimc_control, led_series_ohm), 3},
};
#define NCONTROL (sizeof control_fields / sizeof control_fields[0])
_Static_assert(offsetof(nimc_control, i_set_A) <= sizeof(double) &&
                   offsetof(nimc_control, led_series_ohm) ==
                       offsetof(nimc_control, i_set_A) +
                           (NCONTROL - 1) * sizeof(double) &&
                   sizeof(nimc_control) ==
                       offsetof(nimc_control, led_series_ohm) + sizeof(double),
               "nimc_control has changed: write and read its new fields in "
               "the state file (src/protocol/state.c)");

static double *control_field(nimc_control *c, size_t k) {
  return (double *)((char *)c + control_fields[k].off);
}

void nimc_state_destroy(nimc_state *st) {
  if (!st) return;
  free(st->y), free(st->yp);
  free(st);
}

/* A state of n unknowns, its arrays allocated; NULL when out of memory. */
static nimc_state *state_new(size_t n) {
  nimc_state *st = calloc(1, sizeof *st);
  if (!st) return NULL;
  st->n = n;
  st->y = malloc(sizeof(double) * (n ? n : 1));
  st->yp = malloc(sizeof(double) * (n ? n : 1));
  if (!st->y || !st->yp) {
    nimc_state_destroy(st);
    return NULL;
  }
  return st;
}

double nimc_state_time_s(const nimc_state *st) {
  return st ? st->t_s : NAN;
}

size_t nimc_state_unknowns(const nimc_state *st) {
  return st ? st->n : 0;
}

int nimc_sim_get_state(nimc_sim *sim, nimc_state **out) {
  if (!out) return NIMC_EMISUSE;
  *out = NULL;
  if (!sim) return NIMC_EMISUSE;
  const nimc_model *m = nimc_sim_model(sim);
  nimc_state *st = state_new((size_t)m->n);
  if (!st) return nimc_sim_fail(sim, NIMC_ENOMEM, "out of memory");
  st->t_s = nimc_sim_time(sim);
  st->steps_done = nimc_sim_steps_done(sim);
  st->control = nimc_model_get_control(m);
  memcpy(st->y, nimc_sim_state(sim), sizeof(double) * st->n);
  memcpy(st->yp, nimc_sim_state_dot(sim), sizeof(double) * st->n);
  snprintf(st->device, sizeof st->device, "%s",
           nimc_device_name(nimc_sim_device(sim)));
  *out = st;
  return NIMC_OK;
}

int nimc_sim_set_state(nimc_sim *sim, const nimc_state *st) {
  if (!sim) return NIMC_EMISUSE;
  if (!st) return nimc_sim_fail(sim, NIMC_EMISUSE, "nimc_sim_set_state: NULL");
  nimc_model *m = nimc_sim_model(sim);
  const nimc_device *dev = nimc_sim_device(sim);
  const char *from = st->source[0] ? st->source : "the state";
  if (st->n != (size_t)m->n)
    return nimc_sim_fail(
        sim, NIMC_EINPUT,
        "%s: the state has %zu unknowns (device '%s'), the device '%s' (%s) "
        "has %lld: a state goes back only into a simulation of the device "
        "(and mesh) it was taken from",
        from, st->n, st->device, nimc_device_name(dev), nimc_device_path(dev),
        (long long)m->n);
  for (size_t i = 0; i < st->n; i++)
    if (!isfinite(st->y[i]) || !isfinite(st->yp[i]))
      return nimc_sim_fail(sim, NIMC_EINPUT,
                           "%s: unknown %zu of the state is not a finite "
                           "number",
                           from, i + 1);
  nimc_control old = nimc_model_get_control(m);
  if (!isfinite(st->t_s) || st->steps_done < 0 ||
      nimc_model_set_control(m, &st->control))
    return nimc_sim_fail(sim, NIMC_EINPUT,
                         "%s: the state's time, step count or control (kind "
                         "%d) is not one this model takes",
                         from, (int)st->control.kind);
  nimc_solver *sv = nimc_sim_solver(sim);
  double *y = nimc_sim_state(sim), *yp = nimc_sim_state_dot(sim);
  memcpy(y, st->y, sizeof(double) * st->n);
  memcpy(yp, st->yp, sizeof(double) * st->n);
  nimc_solver_forget(sv); /* go on as a new simulation would */
  if (nimc_solver_reset(sv, st->t_s)) {
    nimc_model_set_control(m, &old); /* was in force: cannot fail */
    return nimc_sim_fail(sim, NIMC_ESOLVER, "%s: %s", from,
                         nimc_solver_errmsg(sv));
  }
  nimc_sim_set_time(sim, st->t_s);
  nimc_sim_set_steps_done(sim, st->steps_done);
  return NIMC_OK;
}

/* ---- the file ---- */

/* Append to buf (cap bytes, len used) what fits; the caller sized it. */
static void put(char *buf, size_t cap, size_t *len, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

static void put(char *buf, size_t cap, size_t *len, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(buf + *len, cap - *len, fmt, ap);
  va_end(ap);
  if (k > 0) *len += (size_t)k < cap - *len ? (size_t)k : cap - *len - 1;
}

int nimc_state_text(const nimc_state *st, char **out, size_t *outlen,
                    nimc_err *err) {
  *out = NULL, *outlen = 0;
  /* a "%a" double takes at most 24 bytes ("-0x1.fffffffffffffp+1023") */
  enum { HEAD = 4096, ROW = 2 * 26 + 2 };
  if (st->n > ((size_t)-1 - HEAD) / ROW)
    return nimc_err_set(err, NIMC_ENOMEM, "out of memory");
  size_t cap = HEAD + st->n * ROW, len = 0;
  char *buf = malloc(cap);
  if (!buf) return nimc_err_set(err, NIMC_ENOMEM, "out of memory");
  char name[NIMC_NAME_MAX];
  snprintf(name, sizeof name, "%s", st->device);
  for (char *p = name; *p; p++) /* one line, whatever the name holds */
    if (*p == '\n' || *p == '\r') *p = ' ';
  put(buf, cap, &len,
      "%s %d\n"
      "# the state of a nimc simulation (docs/experiments.md, \"State "
      "files\");\n"
      "# real numbers are C99 hexadecimal floats, read back bit for bit\n"
      "device %s\n"
      "unknowns %zu\n"
      "time_s %a\n"
      "steps_done %d\n"
      "control_kind %d\n",
      STATE_MAGIC, STATE_VERSION, name, st->n, st->t_s, st->steps_done,
      (int)st->control.kind);
  nimc_control c = st->control;
  for (size_t k = 0; k < NCONTROL; k++)
    put(buf, cap, &len, "%s %a\n", control_fields[k].key,
        *control_field(&c, k));
  put(buf, cap, &len, "# y y' of each unknown\nvalues\n");
  for (size_t i = 0; i < st->n; i++)
    put(buf, cap, &len, "%a %a\n", st->y[i], st->yp[i]);
  put(buf, cap, &len, "end\n");
  *out = buf, *outlen = len;
  return NIMC_OK;
}

int nimc_state_write(const nimc_state *st, const char *path, nimc_err *err) {
  if (!st || !path)
    return nimc_err_set(err, NIMC_EMISUSE, "nimc_state_write: NULL argument");
  char *buf;
  size_t len;
  int rc = nimc_state_text(st, &buf, &len, err);
  if (rc) return nimc_err_set(err, rc, "%s: out of memory", path);
  rc = nimc_write_atomic(path, buf, len, err);
  free(buf);
  return rc;
}

/* The reader's position: the file and its current line. */
typedef struct reader {
  const char *path;
  char *p;   /* start of the next line */
  long line; /* the number of the line last taken */
} reader;

/* The next line that is not blank or a comment, its end cut (NUL); NULL at
 * the end of the text. */
static char *next_line(reader *r) {
  return nimc_text_next_line(&r->p, &r->line, 0);
}

/* A real number at *s (hexadecimal or decimal), finite; *s moves past it.
 * 0 or -1. */
static int real_at(char **s, double *out) {
  char *end;
  errno = 0;
  double v = strtod(*s, &end);
  if (end == *s || errno == ERANGE || !isfinite(v)) return -1;
  *s = end;
  *out = v;
  return 0;
}

/* The whole number in text, within [lo, hi]; 0 or -1. */
static int whole(const char *text, long long lo, long long hi, long long *out) {
  char *end;
  errno = 0;
  long long v = strtoll(text, &end, 10);
  if (end == text || *end || errno || v < lo || v > hi) return -1;
  *out = v;
  return 0;
}

static int bad(nimc_err *err, const reader *r, const char *what,
               const char *text) {
  return nimc_err_set(err, NIMC_EINPUT, "%s:%ld: %s, found '%.80s'", r->path,
                      r->line, what, text);
}

/* The scalar lines of the header of a file of the given version into st
 * (whose arrays are not made yet); every key of that version exactly once,
 * in any order, then "values". */
static int read_header(reader *r, nimc_state *st, int version,
                       nimc_err *err) {
  enum { K_DEVICE, K_UNKNOWNS, K_TIME, K_STEPS, K_KIND, K_CONTROL };
  int seen[K_CONTROL + NCONTROL] = {0};
  char *s;
  while ((s = next_line(r)) && strcmp(s, "values")) {
    char *val = s;
    while (*val && !isspace((unsigned char)*val))
      val++;
    if (*val) *val++ = '\0';
    while (isspace((unsigned char)*val))
      val++;
    int key = -1;
    const char *keys[K_CONTROL] = {"device", "unknowns", "time_s", "steps_done",
                                   "control_kind"};
    for (int k = 0; k < K_CONTROL; k++)
      if (!strcmp(s, keys[k])) key = k;
    for (size_t k = 0; k < NCONTROL; k++)
      if (!strcmp(s, control_fields[k].key)) key = K_CONTROL + (int)k;
    if (key < 0)
      return bad(err, r,
                 "expected a key of a state file (unknowns, time_s, "
                 "steps_done, control_..., device) or 'values'",
                 s);
    if (seen[key]++)
      return nimc_err_set(err, NIMC_EINPUT, "%s:%ld: '%s' is given twice",
                          r->path, r->line, s);
    long long v;
    char *q = val;
    double x;
    switch (key) {
    case K_DEVICE:
      snprintf(st->device, sizeof st->device, "%s", val);
      break;
    case K_UNKNOWNS:
      if (whole(val, 1, 100000000, &v))
        return bad(err, r, "expected the number of unknowns (1 to 1e8)", val);
      st->n = (size_t)v;
      break;
    case K_STEPS:
      if (whole(val, 0, 2147483647, &v))
        return bad(err, r, "expected the number of steps done (0 or more)",
                   val);
      st->steps_done = (int)v;
      break;
    case K_KIND:
      if (whole(val, 0, 1000, &v))
        return bad(err, r, "expected the control's kind (a whole number)", val);
      st->control.kind = (nimc_control_kind)v;
      break;
    default: /* K_TIME and the control's reals */
      if (real_at(&q, &x) || *q)
        return bad(err, r, "expected one finite real number", val);
      if (key == K_TIME)
        st->t_s = x;
      else
        *control_field(&st->control, (size_t)(key - K_CONTROL)) = x;
    }
  }
  if (!s)
    return nimc_err_set(err, NIMC_EINPUT,
                        "%s:%ld: the file ends before its 'values' line",
                        r->path, r->line);
  const char *need[] = {"device", "unknowns", "time_s", "steps_done",
                        "control_kind"};
  for (int k = 0; k < K_CONTROL + (int)NCONTROL; k++)
    if (!seen[k] &&
        (k < K_CONTROL || control_fields[k - K_CONTROL].since <= version))
      return nimc_err_set(
          err, NIMC_EINPUT, "%s:%ld: the header lacks '%s' (before 'values')",
          r->path, r->line,
          k < K_CONTROL ? need[k] : control_fields[k - K_CONTROL].key);
  return NIMC_OK;
}

int nimc_state_parse(char *text, const char *path, long line0, nimc_state **out,
                     nimc_err *err) {
  int rc = NIMC_OK;
  *out = NULL;
  reader r = {path, text, line0};
  nimc_state head, *st = NULL;
  memset(&head, 0, sizeof head);
  char *s = next_line(&r);
  long long version;
  size_t ml = strlen(STATE_MAGIC);
  if (!s || strncmp(s, STATE_MAGIC, ml) || !isspace((unsigned char)s[ml])) {
    rc = nimc_err_set(err, NIMC_EINPUT,
                      "%s:%ld: not a nimc state file (its first line is not "
                      "'" STATE_MAGIC " VERSION')",
                      path, r.line);
    goto done;
  }
  if (whole(s + ml + 1, 1, 1000000, &version) ||
      version < STATE_VERSION_OLDEST || version > STATE_VERSION) {
    rc = nimc_err_set(err, NIMC_EINPUT,
                      "%s:%ld: state file version '%s', this nimc reads "
                      "versions %d to %d",
                      path, r.line, s + ml + 1, STATE_VERSION_OLDEST,
                      STATE_VERSION);
    goto done;
  }
  if ((rc = read_header(&r, &head, (int)version, err))) goto done;
  st = state_new(head.n);
  if (!st) {
    rc = nimc_err_set(err, NIMC_ENOMEM, "%s: out of memory", path);
    goto done;
  }
  st->t_s = head.t_s;
  st->steps_done = head.steps_done;
  st->control = head.control;
  memcpy(st->device, head.device, sizeof st->device);
  snprintf(st->source, sizeof st->source, "%s", path);
  for (size_t i = 0; i < st->n; i++) {
    char *q = next_line(&r);
    if (!q || !strcmp(q, "end")) {
      rc = nimc_err_set(err, NIMC_EINPUT,
                        "%s:%ld: %zu values of y and y' where the header says "
                        "%zu unknowns",
                        path, r.line, i, st->n);
      goto done;
    }
    char *line = q;
    if (real_at(&q, &st->y[i]) || real_at(&q, &st->yp[i]) || *q) {
      rc = bad(err, &r, "expected two finite real numbers (y and y')", line);
      goto done;
    }
  }
  s = next_line(&r);
  if (!s || strcmp(s, "end")) {
    rc = s ? nimc_err_set(err, NIMC_EINPUT,
                          "%s:%ld: more values than the %zu unknowns of the "
                          "header, found '%.80s'",
                          path, r.line, st->n, s)
           : nimc_err_set(err, NIMC_EINPUT,
                          "%s:%ld: the file ends without its 'end' line "
                          "(cut short?)",
                          path, r.line);
    goto done;
  }
  if ((s = next_line(&r))) {
    rc = bad(err, &r, "expected nothing after 'end'", s);
    goto done;
  }
  *out = st;
  st = NULL;
done:
  nimc_state_destroy(st);
  return rc;
}

int nimc_state_read(const char *path, nimc_state **out, nimc_err *err) {
  if (!out) return nimc_err_set(err, NIMC_EMISUSE, "nimc_state_read: NULL");
  *out = NULL;
  if (!path) return nimc_err_set(err, NIMC_EMISUSE, "nimc_state_read: NULL");
  char *buf = NULL;
  size_t len = 0;
  int rc =
      nimc_text_file_read(path, STATE_MAX_BYTES, "state file", &buf, &len, err);
  if (rc) return rc;
  rc = nimc_state_parse(buf, path, 0, out, err);
  free(buf);
  return rc;
}
