/*
 * output.c -- atomic file writes, the series CSV and the summary JSON.
 *
 * Files are built in memory and handed to nimc_write_atomic, which writes
 * a temporary beside the target (mkstemp, TARGET.tmp.XXXXXX, mode 0644;
 * same directory, hence same file system,
 * so rename(2) is atomic), fsyncs it and renames it over the target: a
 * reader sees the old file or the new one, never a mixture.  The JSON is
 * built with cJSON; the one rule it adds is that a value that is not a
 * finite number is omitted with its key (cJSON would print "null", and a
 * script must be able to tell "not defined for this run" by the absence of
 * the key, interfaces.md).  The exception is the "validation" array of
 * reproduce, a table whose rows all have the same keys: there a model
 * value that could not be computed, or a paper value the paper does not
 * give (a prediction), is null.  Key names here are the
 * user-facing contract.
 */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/params.h"
#include "nimc/report.h"

/* Record an I/O failure on path (written through tmp) with the system's
 * reason for errnum; returns NIMC_EIO. */
static int io_fail(nimc_err *err, const char *what, const char *path,
                   const char *tmp, int errnum) {
  char sys[128];
  if (strerror_r(errnum, sys, sizeof sys) != 0)
    snprintf(sys, sizeof sys, "error %d", errnum);
  return nimc_err_set(err, NIMC_EIO, "%s '%s' (temporary file '%s'): %s", what,
                      path, tmp, sys);
}

/* Write all of data to fd, retrying short writes and EINTR; 0 or errno. */
static int write_all(int fd, const char *data, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n < 0 ? errno : EIO;
    data += n;
    len -= (size_t)n;
  }
  return 0;
}

int nimc_write_atomic(const char *path, const char *data, size_t len,
                      nimc_err *err) {
  if (!path || (len && !data))
    return nimc_err_set(err, NIMC_EMISUSE, "nimc_write_atomic: NULL argument");
  size_t tlen = strlen(path) + 32;
  char *tmp = malloc(tlen);
  int fd, rc = NIMC_OK, e = 0, created = 0;
  if (!tmp) return nimc_err_set(err, NIMC_ENOMEM, "out of memory");
  /* a fresh, unique name beside the target (mkstemp: never an existing
   * file, never another process's temporary) */
  snprintf(tmp, tlen, "%s.tmp.XXXXXX", path);
  fd = mkstemp(tmp);
  if (fd < 0) {
    rc = io_fail(err, "cannot write", path, tmp, errno);
    goto cleanup;
  }
  created = 1;
  if (fchmod(fd, 0644) != 0) e = errno; /* mkstemp makes it 0600 */
  if (!e && (e = write_all(fd, data, len)) == 0 && fsync(fd) != 0) e = errno;
  if (close(fd) != 0 && !e) e = errno;
  if (e) {
    rc = io_fail(err, "cannot write", path, tmp, e);
    goto cleanup;
  }
  if (rename(tmp, path) != 0) {
    rc = io_fail(err, "cannot replace", path, tmp, errno);
    goto cleanup;
  }
  created = 0;
cleanup:
  if (created) unlink(tmp);
  free(tmp);
  return rc;
}

int nimc_series_write_csv(const nimc_series *s, const char *path,
                          nimc_err *err) {
  static const char header[] = "time_s,voltage_V,current_A,step\n";
  enum { ROW_MAX = 96 }; /* 3 x "%.10g" (<= 17) + int (<= 11) + 4 */
  if (!s || !path || (s->n && (!s->time_s || !s->voltage_V || !s->current_A)))
    return nimc_err_set(err, NIMC_EMISUSE,
                        "nimc_series_write_csv: NULL argument");
  if (s->n > (SIZE_MAX - sizeof header) / ROW_MAX)
    return nimc_err_set(err, NIMC_ENOMEM, "out of memory");
  size_t cap = sizeof header + s->n * ROW_MAX, len = sizeof header - 1;
  char *buf = malloc(cap);
  if (!buf) return nimc_err_set(err, NIMC_ENOMEM, "out of memory");
  memcpy(buf, header, len);
  for (size_t k = 0; k < s->n; k++)
    len += (size_t)snprintf(buf + len, cap - len, "%.10g,%.10g,%.10g,%d\n",
                            s->time_s[k], s->voltage_V[k], s->current_A[k],
                            s->step ? s->step[k] : -1);
  int rc = nimc_write_atomic(path, buf, len, err);
  free(buf);
  return rc;
}

static void put_csv_num(char *buf, size_t cap, size_t *len, double v);

int nimc_spectrum_write_csv(const nimc_spectrum *s, const nimc_fit *fit,
                            const nimc_linkk *kk, const char *path,
                            nimc_err *err) {
  if (!s || !path ||
      (s->n && (!s->freq_Hz || !s->z_re_ohm || !s->z_im_ohm)) ||
      (fit && s->n && (fit->n != s->n || !fit->z_re_fit || !fit->z_im_fit)) ||
      (kk && s->n && (kk->n != s->n || !kk->res_re || !kk->res_im)))
    return nimc_err_set(err, NIMC_EMISUSE,
                        "nimc_spectrum_write_csv: NULL or mismatched "
                        "argument");
  enum { ROW_MAX = 10 * 18 + 16 };
  if (s->n > (SIZE_MAX - 256) / ROW_MAX)
    return nimc_err_set(err, NIMC_ENOMEM, "out of memory");
  size_t cap = 256 + s->n * ROW_MAX, len = 0;
  char *buf = malloc(cap);
  if (!buf) return nimc_err_set(err, NIMC_ENOMEM, "out of memory");
  len += (size_t)snprintf(buf, cap,
                          "frequency_Hz,z_re_ohm,z_im_ohm,z_mod_ohm,phase_deg%s%s\n",
                          fit ? ",z_re_fit_ohm,z_im_fit_ohm" : "",
                          kk ? ",kk_res_re,kk_res_im" : "");
  for (size_t k = 0; k < s->n; k++) {
    double re = s->z_re_ohm[k], im = s->z_im_ohm[k];
    len += (size_t)snprintf(buf + len, cap - len, "%.10g,%.10g,%.10g,%.10g,%.10g",
                            s->freq_Hz[k], re, im, hypot(re, im),
                            atan2(im, re) * 180.0 / 3.14159265358979323846);
    if (fit) put_csv_num(buf, cap, &len, fit->z_re_fit[k]);
    if (fit) put_csv_num(buf, cap, &len, fit->z_im_fit[k]);
    if (kk) put_csv_num(buf, cap, &len, kk->res_re[k]);
    if (kk) put_csv_num(buf, cap, &len, kk->res_im[k]);
    buf[len++] = '\n';
  }
  int rc = nimc_write_atomic(path, buf, len, err);
  free(buf);
  return rc;
}

int nimc_fields_write_csv(const nimc_fields *f, const char *path,
                          nimc_err *err) {
  static const char header[] =
      "x_m,z_m,dx_m,dz_m,region,c_mol_m3,phi_e_V,reaction_A_m3\n";
  enum { ROW_MAX = 160 }; /* 7 x "%.10g" (<= 17) + int (<= 11) + 8 */
  if (!f || !path ||
      (f->n && (!f->x_m || !f->z_m || !f->dx_m || !f->dz_m || !f->region ||
                !f->c_mol_m3 || !f->phi_e_V || !f->reaction_A_m3)))
    return nimc_err_set(err, NIMC_EMISUSE,
                        "nimc_fields_write_csv: NULL argument");
  if (f->n > (SIZE_MAX - sizeof header) / ROW_MAX)
    return nimc_err_set(err, NIMC_ENOMEM, "out of memory");
  size_t cap = sizeof header + f->n * ROW_MAX, len = sizeof header - 1;
  char *buf = malloc(cap);
  if (!buf) return nimc_err_set(err, NIMC_ENOMEM, "out of memory");
  memcpy(buf, header, len);
  for (size_t k = 0; k < f->n; k++)
    len += (size_t)snprintf(
        buf + len, cap - len, "%.10g,%.10g,%.10g,%.10g,%d,%.10g,%.10g,%.10g\n",
        f->x_m[k], f->z_m[k], f->dx_m[k], f->dz_m[k], f->region[k],
        f->c_mol_m3[k], f->phi_e_V[k], f->reaction_A_m3[k]);
  int rc = nimc_write_atomic(path, buf, len, err);
  free(buf);
  return rc;
}

double nimc_validation_rel_error(const nimc_validation_row *row) {
  if (!row || row->excluded || !isfinite(row->paper) || !isfinite(row->model) ||
      row->paper == 0.0)
    return NAN;
  return (row->model - row->paper) / row->paper;
}

/* Append s to buf (capacity cap, length *len) as a CSV field: quoted, with
 * quotes doubled, when it holds a comma, quote or line break. */
static void put_csv_text(char *buf, size_t cap, size_t *len, const char *s) {
  int quote = s && strpbrk(s, ",\"\r\n") != NULL;
  if (quote && *len + 1 < cap) buf[(*len)++] = '"';
  for (; s && *s && *len + 2 < cap; s++) {
    if (*s == '"') buf[(*len)++] = '"';
    buf[(*len)++] = *s;
  }
  if (quote && *len + 1 < cap) buf[(*len)++] = '"';
  buf[*len] = '\0';
}

/* Append ",%.10g" (or "," alone when v is not finite). */
static void put_csv_num(char *buf, size_t cap, size_t *len, double v) {
  if (isfinite(v))
    *len += (size_t)snprintf(buf + *len, cap - *len, ",%.10g", v);
  else if (*len + 1 < cap)
    buf[(*len)++] = ',';
}

/* ---- cycle tables (CSV and the summary's "cycles") ---- */

/* The columns of a cycle's row, one table for the CSV and the JSON. */
#define CYCLE_NCOLS 22
static const char *const cycle_cols[CYCLE_NCOLS] = {
    "cycle",
    "first_step",
    "t_start_s",
    "duration_s",
    "charge_C",
    "discharge_C",
    "energy_charge_J",
    "energy_discharge_J",
    "coulombic_efficiency",
    "energy_efficiency",
    "capacitance_F",
    "capacitance_retention",
    "capacitance_areal_mF_cm2",
    "capacitance_volumetric_F_cm3",
    "energy_volumetric_mWh_cm3",
    "energy_areal_uWh_cm2",
    "power_W",
    "esr_ohm",
    "discharge_time_s",
    "discharge_current_A",
    "v_end_V",
    "skipped_before",
};

static void cycle_values(const nimc_cycle_result *c, double v[CYCLE_NCOLS]) {
  const nimc_metrics *m = &c->metrics;
  double x[CYCLE_NCOLS] = {c->cycle,
                           c->first_step,
                           c->t_start_s,
                           c->duration_s,
                           c->charge_C,
                           c->discharge_C,
                           c->energy_charge_J,
                           c->energy_discharge_J,
                           c->coulombic_efficiency,
                           c->energy_efficiency,
                           m->capacitance_F,
                           c->capacitance_retention,
                           nimc_metric_value(m, "capacitance_areal_mF_cm2"),
                           nimc_metric_value(m, "capacitance_volumetric_F_cm3"),
                           nimc_metric_value(m, "energy_volumetric_mWh_cm3"),
                           nimc_metric_value(m, "energy_areal_uWh_cm2"),
                           m->power_W,
                           m->esr_ohm,
                           m->discharge_time_s,
                           m->discharge_current_A,
                           c->v_end_V,
                           c->skipped_before};
  memcpy(v, x, sizeof x);
}

const char *nimc_cycle_csv_header(void) {
  /* cycle_cols joined (test_sinks checks that they agree) */
  return "cycle,first_step,t_start_s,duration_s,charge_C,discharge_C,"
         "energy_charge_J,energy_discharge_J,coulombic_efficiency,"
         "energy_efficiency,capacitance_F,capacitance_retention,"
         "capacitance_areal_mF_cm2,capacitance_volumetric_F_cm3,"
         "energy_volumetric_mWh_cm3,energy_areal_uWh_cm2,power_W,esr_ohm,"
         "discharge_time_s,discharge_current_A,v_end_V,skipped_before\n";
}

int nimc_cycle_csv_row(const nimc_cycle_result *c, char *buf, size_t cap) {
  if (!c || !buf || cap < NIMC_CYCLE_CSV_ROW_MAX) return NIMC_EMISUSE;
  double v[CYCLE_NCOLS];
  cycle_values(c, v);
  size_t len = (size_t)snprintf(buf, cap, "%d", c->cycle);
  for (size_t k = 1; k < CYCLE_NCOLS; k++)
    put_csv_num(buf, cap, &len, v[k]);
  len += (size_t)snprintf(buf + len, cap - len, "\n");
  return (int)len;
}

int nimc_cycles_write_csv(const nimc_cycle_result *c, size_t n,
                          const char *path, nimc_err *err) {
  if (!path || (n && !c))
    return nimc_err_set(err, NIMC_EMISUSE,
                        "nimc_cycles_write_csv: NULL argument");
  const char *header = nimc_cycle_csv_header();
  if (n > (SIZE_MAX - 1024) / NIMC_CYCLE_CSV_ROW_MAX)
    return nimc_err_set(err, NIMC_ENOMEM, "out of memory");
  size_t cap = strlen(header) + 1 + n * NIMC_CYCLE_CSV_ROW_MAX;
  char *buf = malloc(cap);
  if (!buf) return nimc_err_set(err, NIMC_ENOMEM, "out of memory");
  size_t len = (size_t)snprintf(buf, cap, "%s", header);
  for (size_t k = 0; k < n; k++)
    len += (size_t)nimc_cycle_csv_row(&c[k], buf + len, NIMC_CYCLE_CSV_ROW_MAX);
  int rc = nimc_write_atomic(path, buf, len, err);
  free(buf);
  return rc;
}

int nimc_validation_write_csv(const nimc_validation_row *rows, size_t nrows,
                              const char *path, nimc_err *err) {
  static const char header[] =
      "id,quantity,unit,paper,model,rel_error,cycle,cycle_ref,excluded,role\n";
  if (!path || (nrows && !rows))
    return nimc_err_set(err, NIMC_EMISUSE,
                        "nimc_validation_write_csv: NULL argument");
  size_t cap = sizeof header;
  for (size_t k = 0; k < nrows; k++) {
    const nimc_validation_row *r = &rows[k];
    /* each of the 5 texts at worst doubles and gains two quotes; 3 numbers
     * <= 18, two cycles <= 12; 9 commas and a line break */
    cap += 2 * ((r->id ? strlen(r->id) : 0) +
                (r->quantity ? strlen(r->quantity) : 0) +
                (r->unit ? strlen(r->unit) : 0) +
                (r->excluded ? strlen(r->excluded) : 0) +
                (r->role ? strlen(r->role) : 0)) +
           5 * 2 + 3 * 18 + 2 * 12 + 10 + 8;
  }
  char *buf = malloc(cap);
  if (!buf) return nimc_err_set(err, NIMC_ENOMEM, "out of memory");
  size_t len = sizeof header - 1;
  memcpy(buf, header, sizeof header);
  for (size_t k = 0; k < nrows; k++) {
    const nimc_validation_row *r = &rows[k];
    put_csv_text(buf, cap, &len, r->id);
    buf[len++] = ',';
    put_csv_text(buf, cap, &len, r->quantity);
    buf[len++] = ',';
    put_csv_text(buf, cap, &len, r->unit);
    put_csv_num(buf, cap, &len, r->paper);
    put_csv_num(buf, cap, &len, r->model);
    put_csv_num(buf, cap, &len, nimc_validation_rel_error(r));
    put_csv_num(buf, cap, &len, r->cycle > 0 ? (double)r->cycle : NAN);
    put_csv_num(buf, cap, &len, r->cycle_ref > 0 ? (double)r->cycle_ref : NAN);
    buf[len++] = ',';
    if (r->excluded) put_csv_text(buf, cap, &len, r->excluded);
    buf[len++] = ',';
    if (r->role) put_csv_text(buf, cap, &len, r->role);
    buf[len++] = '\n';
  }
  int rc = nimc_write_atomic(path, buf, len, err);
  free(buf);
  return rc;
}

/* Add key: v to o unless v is not finite; 0, or -1 when out of memory. */
static int add_num(cJSON *o, const char *key, double v) {
  if (!isfinite(v)) return 0;
  return cJSON_AddNumberToObject(o, key, v) ? 0 : -1;
}

/* The "steps" array: one object per executed step. */
static int add_steps(cJSON *root, const nimc_result *r) {
  cJSON *arr = cJSON_AddArrayToObject(root, "steps");
  if (!arr) return -1;
  for (size_t k = 0; r && k < r->nsteps; k++) {
    const nimc_step_result *st = &r->steps[k];
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddItemToArray(arr, o)) {
      cJSON_Delete(o);
      return -1;
    }
    if (add_num(o, "index", st->index) || add_num(o, "cycle", st->cycle) ||
        !cJSON_AddStringToObject(o, "type", nimc_step_type_name(st->type)) ||
        add_num(o, "duration_s", st->duration_s) ||
        add_num(o, "charge_C", st->charge_C) ||
        add_num(o, "energy_J", st->energy_J) ||
        add_num(o, "v_start_V", st->v_start_V) ||
        add_num(o, "v_end_V", st->v_end_V) ||
        !cJSON_AddStringToObject(o, "end_reason",
                                 nimc_end_reason_name(st->end_reason)) ||
        add_num(o, "temperature_C",
                st->temperature_K > 0 ? st->temperature_K - 273.15 : NAN) ||
        add_num(o, "output_interval_s",
                st->output_dt_s > 0 ? st->output_dt_s : NAN))
      return -1;
    if (st->type == NIMC_STEP_SINE &&
        (add_num(o, "freq_Hz", st->freq_Hz) ||
         add_num(o, "z_re_ohm", st->z_re_ohm) ||
         add_num(o, "z_im_ohm", st->z_im_ohm)))
      return -1;
  }
  return 0;
}

/* The "warnings" array of a run: one object per warning (step, t_s,
 * text); present, empty, when there are none. */
static int add_warnings(cJSON *root, const nimc_result *r) {
  cJSON *arr = cJSON_AddArrayToObject(root, "warnings");
  if (!arr) return -1;
  for (size_t k = 0; r && k < r->nwarnings; k++) {
    const nimc_warning *w = &r->warnings[k];
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddItemToArray(arr, o)) {
      cJSON_Delete(o);
      return -1;
    }
    if ((w->step >= 0 && add_num(o, "step", w->step)) ||
        add_num(o, "t_s", w->t_s) ||
        !cJSON_AddStringToObject(o, "text", w->text))
      return -1;
  }
  return 0;
}

/* The "cycles" array of a run: one object per cycle of its Repeats (the
 * columns of cycles.csv; a value that is not finite is left out). */
static int add_run_cycles(cJSON *root, const nimc_result *r) {
  cJSON *arr = cJSON_AddArrayToObject(root, "cycles");
  if (!arr) return -1;
  for (size_t k = 0; k < r->ncycles; k++) {
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddItemToArray(arr, o)) {
      cJSON_Delete(o);
      return -1;
    }
    double v[CYCLE_NCOLS];
    cycle_values(&r->cycles[k], v);
    for (size_t j = 0; j < CYCLE_NCOLS; j++)
      if (add_num(o, cycle_cols[j], v[j])) return -1;
  }
  return 0;
}

/* The "metrics" object (empty when m is NULL): the keys of the metrics'
 * table in their units (nimc_metric_key, nimc_metric_value), then the
 * cycle they were read from. */
static int add_metrics(cJSON *root, const nimc_metrics *m) {
  cJSON *o = cJSON_AddObjectToObject(root, "metrics");
  if (!o) return -1;
  if (!m) return 0;
  const char *key;
  for (size_t k = 0; (key = nimc_metric_key(k, NULL)); k++)
    if (add_num(o, key, nimc_metric_value(m, key))) return -1;
  /* which cycle (pair) the numbers were read from, 0: not a pair */
  return add_num(o, "cycle", m->cycle) ? -1 : 0;
}

/* The "steady" object of a run until steady: the criterion, how many
 * cycles ran, whether and where the cycles settled, the last cycle. */
static int add_steady(cJSON *root, const nimc_steady_info *in) {
  cJSON *o = cJSON_AddObjectToObject(root, "steady");
  if (!o || !cJSON_AddBoolToObject(o, "converged", in->converged) ||
      add_num(o, "cycles", in->cycles) ||
      (in->converged && add_num(o, "steady_cycle", in->steady_cycle)) ||
      add_num(o, "coulombic_efficiency", in->coulombic_efficiency) ||
      add_num(o, "capacitance_F", in->capacitance_F) ||
      add_num(o, "capacitance_change", in->capacitance_change) ||
      add_num(o, "ce_change", in->ce_change) ||
      add_num(o, "min_cycles", in->opts.min_cycles) ||
      add_num(o, "max_cycles", in->opts.max_cycles) ||
      add_num(o, "ce_min", in->opts.ce_min) ||
      add_num(o, "rel_tol", in->opts.rel_tol))
    return -1;
  return 0;
}

/* The "solver" object of the solver's counters. */
static int add_solver(cJSON *root, const nimc_solver_stats *st) {
  cJSON *o = cJSON_AddObjectToObject(root, "solver");
  if (!o) return -1;
  const struct {
    const char *key;
    long v;
  } kv[] = {
      {"steps", st->steps},
      {"residual_evals", st->residual_evals},
      {"jacobian_evals", st->jacobian_evals},
      {"linear_setups", st->linear_setups},
      {"nonlinear_iters", st->nonlinear_iters},
      {"error_test_fails", st->error_test_fails},
      {"nonlinear_conv_fails", st->nonlinear_conv_fails},
      {"unknowns", st->unknowns},
      {"jacobian_nonzeros", st->jacobian_nonzeros},
      {"full_factorizations", st->full_factorizations},
      {"refactorizations", st->refactorizations},
      {"lu_nonzeros", st->lu_nonzeros},
  };
  for (size_t k = 0; k < sizeof kv / sizeof kv[0]; k++)
    if (add_num(o, kv[k].key, (double)kv[k].v)) return -1;
  return 0;
}

/* Add key: v to o, or key: null when v is not finite. */
static int add_num_or_null(cJSON *o, const char *key, double v) {
  return (isfinite(v) ? cJSON_AddNumberToObject(o, key, v)
                      : cJSON_AddNullToObject(o, key))
             ? 0
             : -1;
}

/* The "validation" array of reproduce: every row has every key. */
static int add_validation(cJSON *root, const nimc_validation_row *rows,
                          size_t n) {
  cJSON *arr = cJSON_AddArrayToObject(root, "validation");
  if (!arr) return -1;
  for (size_t k = 0; k < n; k++) {
    const nimc_validation_row *r = &rows[k];
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddItemToArray(arr, o)) {
      cJSON_Delete(o);
      return -1;
    }
    if (!cJSON_AddStringToObject(o, "id", r->id ? r->id : "") ||
        !cJSON_AddStringToObject(o, "quantity",
                                 r->quantity ? r->quantity : "") ||
        !cJSON_AddStringToObject(o, "unit", r->unit ? r->unit : "") ||
        add_num_or_null(o, "paper", r->paper) ||
        add_num_or_null(o, "model", r->model) ||
        add_num_or_null(o, "rel_error", nimc_validation_rel_error(r)) ||
        add_num_or_null(o, "cycle", r->cycle > 0 ? (double)r->cycle : NAN) ||
        add_num_or_null(o, "cycle_ref",
                        r->cycle_ref > 0 ? (double)r->cycle_ref : NAN) ||
        !(r->excluded ? cJSON_AddStringToObject(o, "excluded", r->excluded)
                      : cJSON_AddNullToObject(o, "excluded")) ||
        !(r->role ? cJSON_AddStringToObject(o, "role", r->role)
                  : cJSON_AddNullToObject(o, "role")))
      return -1;
  }
  return 0;
}

/* An array of n numbers (null where not finite) under key in o. */
static int add_array(cJSON *o, const char *key, const double *v, size_t n,
                     double (*f)(const double *, size_t, const void *),
                     const void *user) {
  cJSON *arr = cJSON_AddArrayToObject(o, key);
  if (!arr) return -1;
  for (size_t k = 0; k < n; k++) {
    double x = f ? f(v, k, user) : v[k];
    cJSON *it = isfinite(x) ? cJSON_CreateNumber(x) : cJSON_CreateNull();
    if (!it || !cJSON_AddItemToArray(arr, it)) {
      cJSON_Delete(it);
      return -1;
    }
  }
  return 0;
}

static double z_mod(const double *re, size_t k, const void *user) {
  return hypot(re[k], ((const double *)user)[k]);
}
static double z_phase(const double *re, size_t k, const void *user) {
  return atan2(((const double *)user)[k], re[k]) * 180.0 / 3.14159265358979323846;
}

/* The impedance keys: spectrum, circuit and its fit, Lin-KK, operating
 * point, the source of measured data. */
static int add_eis(cJSON *root, const nimc_eis_summary *e) {
  const nimc_spectrum *sp = e->spectrum;
  if (e->source && !cJSON_AddStringToObject(root, "source", e->source))
    return -1;
  if (e->read_as && !cJSON_AddStringToObject(root, "read_as", e->read_as))
    return -1;
  if (e->info) {
    cJSON *op = cJSON_AddObjectToObject(root, "operating_point");
    if (!op || add_num(op, "t_s", e->info->t_s) ||
        add_num(op, "voltage_V", e->info->voltage_V) ||
        add_num(op, "current_A", e->info->current_A) ||
        add_num(op, "settle_time_s", e->settle_time_s) ||
        add_num(op, "drift", e->drift))
      return -1;
  }
  if (sp) {
    cJSON *o = cJSON_AddObjectToObject(root, "spectrum");
    if (!o || add_array(o, "frequency_Hz", sp->freq_Hz, sp->n, NULL, NULL) ||
        add_array(o, "z_re_ohm", sp->z_re_ohm, sp->n, NULL, NULL) ||
        add_array(o, "z_im_ohm", sp->z_im_ohm, sp->n, NULL, NULL) ||
        add_array(o, "z_mod_ohm", sp->z_re_ohm, sp->n, z_mod, sp->z_im_ohm) ||
        add_array(o, "phase_deg", sp->z_re_ohm, sp->n, z_phase, sp->z_im_ohm))
      return -1;
  }
  if (e->circuit && e->fit) {
    const nimc_fit *f = e->fit;
    size_t np = f->np;
    if (!cJSON_AddStringToObject(root, "circuit",
                                 nimc_circuit_text(e->circuit)))
      return -1;
    cJSON *par = cJSON_AddObjectToObject(root, "parameters");
    cJSON *se = cJSON_AddObjectToObject(root, "standard_errors");
    cJSON *units = cJSON_AddObjectToObject(root, "units");
    if (!par || !se || !units) return -1;
    for (size_t k = 0; k < np; k++) {
      const char *name = nimc_circuit_param_name(e->circuit, k);
      if (add_num(par, name, f->p[k]) || add_num(se, name, f->std_err[k]) ||
          !cJSON_AddStringToObject(units, name,
                                   nimc_circuit_param_unit(e->circuit, k)))
        return -1;
    }
    cJSON *fo = cJSON_AddObjectToObject(root, "fit");
    cJSON *corr = fo ? cJSON_AddArrayToObject(fo, "correlation") : NULL;
    if (!fo || !corr || add_num(fo, "chi2", f->chi2) ||
        add_num(fo, "grad_rel", f->grad_rel) ||
        add_num(fo, "iterations", f->iterations) ||
        add_num(fo, "starts", f->starts) ||
        !cJSON_AddBoolToObject(fo, "converged", f->converged))
      return -1;
    for (size_t i = 0; i < np; i++) {
      cJSON *row = cJSON_CreateArray();
      if (!row || !cJSON_AddItemToArray(corr, row)) {
        cJSON_Delete(row);
        return -1;
      }
      for (size_t j = 0; j < np; j++) {
        double c = f->corr[i * np + j];
        cJSON *it = isfinite(c) ? cJSON_CreateNumber(c) : cJSON_CreateNull();
        if (!it || !cJSON_AddItemToArray(row, it)) {
          cJSON_Delete(it);
          return -1;
        }
      }
    }
  }
  if (e->linkk) {
    cJSON *o = cJSON_AddObjectToObject(root, "linkk");
    if (!o || add_num(o, "M", e->linkk->M) || add_num(o, "mu", e->linkk->mu) ||
        !cJSON_AddBoolToObject(o, "capacitance", e->linkk->capacitance) ||
        add_num(o, "max_residual", e->linkk->max_residual) ||
        add_num(o, "rms_residual", e->linkk->rms_residual))
      return -1;
  }
  if (e->info) {
    cJSON *o = cJSON_AddObjectToObject(root, "eis_solver");
    const nimc_eis_info *i = e->info;
    if (!o || add_num(o, "unknowns", (double)i->unknowns) ||
        add_num(o, "jacobian_nonzeros", (double)i->jacobian_nonzeros) ||
        add_num(o, "full_factorizations", (double)i->full_factorizations) ||
        add_num(o, "refactorizations", (double)i->refactorizations) ||
        add_num(o, "solves", (double)i->solves) ||
        add_num(o, "refinements", (double)i->refinements) ||
        add_num(o, "max_backward_error", i->max_backward_error) ||
        add_num(o, "max_correction", i->max_correction))
      return -1;
  }
  return 0;
}

/* The impedance metrics, added to the "metrics" object. */
static int add_eis_metrics(cJSON *root, const nimc_eis_summary *e) {
  cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "metrics");
  if (!m) return -1;
  return add_num(m, "r_ohmic_ohm", e->r_ohmic_ohm) ||
                 add_num(m, "r_ct_ohm", e->r_ct_ohm) ||
                 (e->fit && add_num(m, "rmse_ohm", e->fit->rmse_ohm))
             ? -1
             : 0;
}

/* The per-cycle objects of a GCD or cycling analysis. */
static int add_gcd_cycles(cJSON *root, const nimc_gcd_cycle *c, size_t n) {
  cJSON *arr = cJSON_AddArrayToObject(root, "cycles");
  if (!arr) return -1;
  for (size_t k = 0; k < n; k++) {
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddItemToArray(arr, o)) {
      cJSON_Delete(o);
      return -1;
    }
    const struct {
      const char *key;
      double v;
    } kv[] = {
        {"cycle", c[k].index},
        {"file_cycle", c[k].file_cycle >= 0 ? (double)c[k].file_cycle : NAN},
        {"charge_C", c[k].charge_C},
        {"discharge_C", c[k].discharge_C},
        {"energy_charge_J", c[k].energy_charge_J},
        {"energy_discharge_J", c[k].energy_discharge_J},
        {"coulombic_efficiency", c[k].coulombic_efficiency},
        {"energy_efficiency", c[k].energy_efficiency},
        {"capacitance_F", c[k].capacitance_F},
        {"capacitance_slope_F", c[k].capacitance_slope_F},
        {"capacitance_integral_F", c[k].capacitance_integral_F},
        {"esr_ohm", c[k].esr_ohm},
        {"capacitance_retention", c[k].retention},
        {"discharge_time_s", c[k].discharge_time_s},
        {"discharge_current_A", c[k].discharge_current_A},
        {"power_W", c[k].power_W},
        {"v_start_V", c[k].v_start_V},
        {"v_end_V", c[k].v_end_V},
        {"instrument_charge_C", c[k].instrument_charge_C},
        {"instrument_discharge_C", c[k].instrument_discharge_C},
        {"instrument_energy_charge_J", c[k].instrument_energy_charge_J},
        {"instrument_energy_discharge_J", c[k].instrument_energy_discharge_J},
        {"instrument_coulombic_efficiency",
         c[k].instrument_coulombic_efficiency},
        {"energy_charge_trapezoid_J", c[k].energy_charge_trapezoid_J},
        {"energy_discharge_trapezoid_J", c[k].energy_discharge_trapezoid_J},
        {"energy_charge_counter_J", c[k].energy_charge_counter_J},
        {"energy_discharge_counter_J", c[k].energy_discharge_counter_J},
    };
    for (size_t j = 0; j < sizeof kv / sizeof kv[0]; j++)
      if (add_num(o, kv[j].key, kv[j].v)) return -1;
    const char *rule = nimc_energy_rule_name(c[k].energy_rule);
    if (rule && !cJSON_AddStringToObject(o, "energy_rule", rule)) return -1;
  }
  return 0;
}

/* The per-cycle objects of a CV analysis. */
static int add_cv_cycles(cJSON *root, const nimc_cv_cycle *c, size_t n) {
  cJSON *arr = cJSON_AddArrayToObject(root, "cv_cycles");
  if (!arr) return -1;
  for (size_t k = 0; k < n; k++) {
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddItemToArray(arr, o)) {
      cJSON_Delete(o);
      return -1;
    }
    const struct {
      const char *key;
      double v;
    } kv[] = {
        {"cycle", (double)(k + 1)},
        {"scan_rate_V_s", c[k].scan_rate_V_s},
        {"v_min_V", c[k].v_min_V},
        {"v_max_V", c[k].v_max_V},
        {"charge_C", c[k].charge_C},
        {"capacitance_F", c[k].capacitance_F},
        {"peak_current_anodic_A", c[k].peak_anodic_A},
        {"peak_current_cathodic_A", c[k].peak_cathodic_A},
    };
    for (size_t j = 0; j < sizeof kv / sizeof kv[0]; j++)
      if (add_num(o, kv[j].key, kv[j].v)) return -1;
  }
  return 0;
}

/* The "analysis" object, the extra metrics and the per-cycle arrays. */
static int add_analysis(cJSON *root, const nimc_analysis_summary *a) {
  cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "metrics");
  cJSON *o = cJSON_AddObjectToObject(root, "analysis");
  if (!m || !o) return -1;
  if ((a->source && !cJSON_AddStringToObject(o, "source", a->source)) ||
      (a->read_as && !cJSON_AddStringToObject(o, "read_as", a->read_as)) ||
      (a->kind && !cJSON_AddStringToObject(o, "kind", a->kind)) ||
      (a->technique && !cJSON_AddStringToObject(o, "technique", a->technique)))
    return -1;
  for (size_t k = 0; k < a->nvalues; k++)
    if (a->values[k].key &&
        !cJSON_GetObjectItemCaseSensitive(m, a->values[k].key) &&
        add_num(m, a->values[k].key, a->values[k].value))
      return -1;
  if (a->cycles && add_gcd_cycles(root, a->cycles, a->ncycles)) return -1;
  if (a->cv_cycles && add_cv_cycles(root, a->cv_cycles, a->ncv_cycles))
    return -1;
  return 0;
}

/* The "self_discharge" object of a run that ends with a rest: the same
 * keys as nimc analyze --kind rest, and Vmax and the threshold in volts. */
static int add_self_discharge(cJSON *root, const nimc_rest_result *r) {
  cJSON *o = cJSON_AddObjectToObject(root, "self_discharge");
  if (!o) return -1;
  double f = r->v_ref_V > 0 ? r->threshold * r->v0_V / r->v_ref_V : NAN;
  return add_num(o, "self_discharge_time_h", r->time_to_threshold_s / 3600.0) ||
         add_num(o, "v_max_V", r->v_ref_V) ||
         add_num(o, "self_discharge_fraction", f) ||
         add_num(o, "threshold_V", r->threshold * r->v0_V) ||
         add_num(o, "rest_v_start_V", r->v0_V) ||
         add_num(o, "rest_v_end_V", r->v_end_V) ||
         add_num(o, "rest_duration_h", r->duration_s / 3600.0) ||
         add_num(o, "conway_slope_log_V", r->slope_log_V) ||
         add_num(o, "conway_r2_log", r->r2_log) ||
         add_num(o, "conway_slope_sqrt_V_s05", r->slope_sqrt_V) ||
         add_num(o, "conway_r2_sqrt", r->r2_sqrt) ||
         add_num(o, "conway_slope_ln_per_h", r->slope_ln_per_s * 3600.0) ||
         add_num(o, "conway_r2_ln", r->r2_ln);
}

int nimc_summary_json(const nimc_summary *s, char **out_text, nimc_err *err) {
  if (!s || !out_text)
    return nimc_err_set(err, NIMC_EMISUSE, "nimc_summary_json: NULL argument");
  *out_text = NULL;
  cJSON *root = cJSON_CreateObject();
  int rc = NIMC_OK;
  if (!root ||
      (s->device && !cJSON_AddStringToObject(root, "device", s->device)) ||
      add_num(root, "temperature_C", s->temperature_C) ||
      add_steps(root, s->result) ||
      (s->result && add_warnings(root, s->result)) ||
      add_metrics(root, s->metrics) ||
      (s->steady && add_steady(root, s->steady)) ||
      (s->stats && add_solver(root, s->stats)) ||
      (s->validation && add_validation(root, s->validation, s->nvalidation)) ||
      (s->eis && (add_eis_metrics(root, s->eis) || add_eis(root, s->eis))) ||
      (s->analysis && add_analysis(root, s->analysis)) ||
      (s->self_discharge && add_self_discharge(root, s->self_discharge)) ||
      (s->result && s->result->ncycles &&
       !(s->analysis && s->analysis->cycles) &&
       add_run_cycles(root, s->result)) ||
      !(*out_text = cJSON_Print(root)))
    rc = nimc_err_set(err, NIMC_ENOMEM, "out of memory building the summary");
  cJSON_Delete(root);
  return rc;
}
