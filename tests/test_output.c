/*
 * test_output.c -- results, CSV, summary JSON, atomic writes and figures.
 *
 * Everything is written under a fresh mkdtemp directory (tests run in
 * parallel) that is removed at the end.  Failures are provoked on purpose:
 * a missing directory, a directory where the file should be, a temporary
 * name that is taken, an unwritable directory (not as root, who may write
 * anywhere), gnuplot missing from PATH; each must leave the old file
 * intact, no temporary behind, and a message naming the path.
 */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/result.h"
#include "nimc/report.h"
#include "testlib.h"

/* Read the whole file at path (malloc'd, NUL-terminated) or NULL. */
static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  char *buf = NULL;
  size_t n = 0, cap = 0, got;
  if (!f) return NULL;
  do {
    if (cap - n < 4096) {
      char *b = realloc(buf, cap = 2 * cap + 4096);
      if (!b) break;
      buf = b;
    }
    got = fread(buf + n, 1, cap - n - 1, f);
    n += got;
  } while (got > 0);
  fclose(f);
  if (buf) buf[n] = '\0';
  if (len) *len = n;
  return buf;
}

/* Number of entries of dir whose name contains ".tmp.". */
static int count_temporaries(const char *dir) {
  DIR *d = opendir(dir);
  int n = 0;
  if (!d) return -1;
  for (struct dirent *e; (e = readdir(d));)
    n += strstr(e->d_name, ".tmp.") != 0;
  closedir(d);
  return n;
}

/* Remove dir and the files (and empty directories) in it. */
static void remove_tree(const char *dir) {
  DIR *d = opendir(dir);
  char path[1024];
  if (!d) return;
  for (struct dirent *e; (e = readdir(d));) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (remove(path) != 0) remove_tree(path);
  }
  closedir(d);
  rmdir(dir);
}

static void test_result_helpers(void) {
  nimc_series s = {0};
  for (int k = 0; k < 1000; k++)
    CHECK(nimc_series_push(&s, k, 2.0 * k, -k, k / 10) == NIMC_OK);
  CHECK(s.n == 1000 && s.cap >= 1000);
  CHECK(s.time_s[999] == 999 && s.voltage_V[500] == 1000 &&
        s.current_A[3] == -3 && s.step[999] == 99);
  nimc_series_free(&s);
  CHECK(s.n == 0 && s.cap == 0 && s.time_s == NULL);
  nimc_series_free(NULL);
  CHECK(nimc_series_push(NULL, 0, 0, 0, 0) == NIMC_EMISUSE);

  nimc_result r = {0};
  nimc_step_result st = {NIMC_STEP_HOLD,   0,   0,   1.0, 2.0, 3.0, 0.1, 0.2,
                         NIMC_END_CURRENT, NAN, NAN, NAN, 298.15, 0.0};
  for (int k = 0; k < 100; k++) {
    st.index = k;
    CHECK(nimc_result_push_step(&r, &st) == NIMC_OK);
  }
  CHECK(nimc_series_push(&r.series, 0, 0, 0, 0) == NIMC_OK);
  CHECK(r.nsteps == 100 && r.steps[99].index == 99 &&
        r.steps[5].end_reason == NIMC_END_CURRENT);
  nimc_result_free(&r);
  CHECK(r.nsteps == 0 && r.steps == NULL && r.series.n == 0);
  nimc_result_free(NULL);

  CHECK(!strcmp(nimc_step_type_name(NIMC_STEP_CHARGE), "charge"));
  CHECK(!strcmp(nimc_step_type_name(NIMC_STEP_DISCHARGE), "discharge"));
  CHECK(!strcmp(nimc_step_type_name(NIMC_STEP_REST), "rest"));
  CHECK(!strcmp(nimc_step_type_name(NIMC_STEP_HOLD), "hold"));
  CHECK(!strcmp(nimc_step_type_name(NIMC_STEP_SWEEP), "sweep"));
  CHECK(!strcmp(nimc_end_reason_name(NIMC_END_TIME), "time"));
  CHECK(!strcmp(nimc_end_reason_name(NIMC_END_VOLTAGE), "voltage"));
  CHECK(!strcmp(nimc_end_reason_name(NIMC_END_CURRENT), "current"));
  CHECK(!strcmp(nimc_end_reason_name(NIMC_END_LIMIT), "limit"));
  CHECK(!strcmp(nimc_step_type_name((nimc_step_type)42), "unknown"));
}

static void test_csv_round_trip(const char *dir) {
  char path[512];
  nimc_series s = {0};
  nimc_err err;
  snprintf(path, sizeof path, "%s/series.csv", dir);
  const double t[] = {0, 0.1, 1.0 / 3.0, 1e5, 123456.789012};
  for (int k = 0; k < 5; k++)
    CHECK(nimc_series_push(&s, t[k], 3.5 - k * 1e-7, k % 2 ? -1e-4 : 2.5e-5,
                           k - 1) == NIMC_OK);
  CHECK(nimc_series_write_csv(&s, path, &err) == NIMC_OK);
  CHECK(count_temporaries(dir) == 0);
  char *text = slurp(path, NULL);
  CHECK(text != NULL);
  if (text) {
    CHECK(!strncmp(text, "time_s,voltage_V,current_A,step\n", 32));
    char *p = strchr(text, '\n') + 1;
    int rows = 0;
    for (; *p; rows++) {
      char *end;
      double tt = strtod(p, &end), v = strtod(end + 1, &end),
             i = strtod(end + 1, &end);
      long step = strtol(end + 1, &end, 10);
      CHECK(*end == '\n');
      if (rows < 5) {
        CHECK_REL(tt, t[rows], 1e-9);
        CHECK_REL(v, s.voltage_V[rows], 1e-9);
        CHECK_REL(i, s.current_A[rows], 1e-9);
        CHECK(step == rows - 1);
      }
      p = end + 1;
    }
    CHECK(rows == 5);
  }
  free(text);
  /* a series without step labels writes -1 */
  free(s.step);
  s.step = NULL;
  CHECK(nimc_series_write_csv(&s, path, &err) == NIMC_OK);
  text = slurp(path, NULL);
  CHECK(text && strstr(text, ",-1\n0.1,"));
  free(text);
  nimc_series_free(&s);
}

static void test_atomic_failures(const char *dir) {
  char path[512], tmp[600], sub[512];
  nimc_err err;
  snprintf(path, sizeof path, "%s/keep.txt", dir);
  CHECK(nimc_write_atomic(path, "old\n", 4, &err) == NIMC_OK);
  CHECK(count_temporaries(dir) == 0);

  /* the old fixed temporary name ("<path>.tmp.<pid>", issue 12) is taken by
   * a directory: mkstemp picks a fresh name, so the write succeeds and
   * leaves no temporary of its own */
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
  CHECK(mkdir(tmp, 0700) == 0);
  CHECK(nimc_write_atomic(path, "mid\n", 4, &err) == NIMC_OK);
  char *text = slurp(path, NULL);
  CHECK(text && !strcmp(text, "mid\n"));
  free(text);
  CHECK(count_temporaries(dir) == 1); /* the directory only */
  rmdir(tmp);
  struct stat st;
  CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0644);
  CHECK(nimc_write_atomic(path, "old\n", 4, &err) == NIMC_OK);

  /* the target is a directory: rename fails and the temporary goes */
  snprintf(sub, sizeof sub, "%s/adir", dir);
  CHECK(mkdir(sub, 0700) == 0);
  CHECK(nimc_write_atomic(sub, "x", 1, &err) == NIMC_EIO);
  CHECK_CONTAINS(err.msg, "cannot replace");
  CHECK_CONTAINS(err.msg, sub);
  CHECK(count_temporaries(dir) == 0);

  /* a directory that does not exist */
  snprintf(sub, sizeof sub, "%s/no/such/dir/x.csv", dir);
  CHECK(nimc_write_atomic(sub, "x", 1, &err) == NIMC_EIO);
  CHECK_CONTAINS(err.msg, sub);
  CHECK_CONTAINS(err.msg, "No such file or directory");

  /* an unwritable directory (root ignores permissions) */
  snprintf(sub, sizeof sub, "%s/ro", dir);
  snprintf(path, sizeof path, "%s/ro/keep.txt", dir);
  CHECK(mkdir(sub, 0700) == 0);
  CHECK(nimc_write_atomic(path, "old\n", 4, &err) == NIMC_OK);
  if (geteuid() == 0) {
    /* not a pass: the whole program reports skipped (exit 77) */
    fprintf(stderr, "skipped: unwritable-directory check (running as "
                    "root)\n");
    tl_skipped = 1;
  } else {
    CHECK(chmod(sub, 0500) == 0);
    CHECK(nimc_write_atomic(path, "new\n", 4, &err) == NIMC_EIO);
    CHECK_CONTAINS(err.msg, path);
    CHECK_CONTAINS(err.msg, "Permission denied");
    text = slurp(path, NULL);
    CHECK(text && !strcmp(text, "old\n"));
    free(text);
    CHECK(count_temporaries(sub) == 0);
    chmod(sub, 0700);
  }
  CHECK(nimc_write_atomic(NULL, "x", 1, &err) == NIMC_EMISUSE);
}

static void test_summary_json(void) {
  nimc_result r = {0};
  nimc_step_result st = {NIMC_STEP_CHARGE, 0, 0, 100.0, 1e-3, 2e-3, 0.0, 3.5,
                         NIMC_END_VOLTAGE, NAN, NAN, NAN, 298.15, 0.0};
  CHECK(nimc_result_push_step(&r, &st) == NIMC_OK);
  st = (nimc_step_result){NIMC_STEP_DISCHARGE, 1, 2, 90.0, -9e-4, NAN, 3.4, 0.0,
                          NIMC_END_TIME, NAN, NAN, NAN, 353.15, 1.0};
  CHECK(nimc_result_push_step(&r, &st) == NIMC_OK);
  nimc_metrics m = {.have_discharge = 1,
                    .have_cycle = 1,
                    .ncycles = 1,
                    .cycle = 1,
                    .capacitance_F = 2.5e-3,
                    .capacitance_areal_F_m2 = 12.5,
                    .capacitance_volumetric_F_m3 = NAN,
                    .energy_J = 3e-3,
                    .energy_volumetric_J_m3 = NAN,
                    .energy_areal_J_m2 = INFINITY,
                    .power_W = 1e-4,
                    .power_volumetric_W_m3 = NAN,
                    .power_areal_W_m2 = 5e-3,
                    .esr_ohm = 12.0,
                    .coulombic_efficiency = 0.98,
                    .capacitance_retention = NAN,
                    .discharge_time_s = 90.0,
                    .discharge_current_A = 1e-4};
  nimc_solver_stats ss = {120, 400, 30, 30, 250, 3, 1, 0, 5000, 70000, 4, 26, 90000};
  nimc_summary sum = {.device = "NTO//AG-NIMC",
                      .temperature_C = 80.0,
                      .result = &r,
                      .metrics = &m,
                      .stats = &ss};
  char *text = NULL;
  nimc_err err;
  CHECK(nimc_summary_json(&sum, &text, &err) == NIMC_OK);
  CHECK(text && !strstr(text, "nan") && !strstr(text, "inf") &&
        !strstr(text, "null"));
  CHECK(text && strchr(text, '\n')); /* pretty-printed */
  cJSON *j = cJSON_Parse(text);
  CHECK(j != NULL);
  if (j) {
    CHECK(!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(j, "device")),
                  "NTO//AG-NIMC"));
    CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(j, "temperature_C")) ==
          80.0);
    cJSON *steps = cJSON_GetObjectItem(j, "steps");
    CHECK(cJSON_GetArraySize(steps) == 2);
    cJSON *s0 = cJSON_GetArrayItem(steps, 0),
          *s1 = cJSON_GetArrayItem(steps, 1);
    CHECK(!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(s0, "type")),
                  "charge"));
    CHECK(!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(s0, "end_reason")),
                  "voltage"));
    CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(s0, "v_end_V")) == 3.5);
    CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(s1, "cycle")) == 2);
    CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(s1, "index")) == 1);
    CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(s1, "charge_C")) == -9e-4);
    CHECK(!cJSON_HasObjectItem(s1, "energy_J")); /* NaN: omitted */
    /* each step's temperature and its own output spacing (none: left out) */
    CHECK(fabs(cJSON_GetNumberValue(cJSON_GetObjectItem(s1, "temperature_C")) -
               80.0) < 1e-9);
    CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(s1, "output_interval_s")) ==
          1.0);
    CHECK(fabs(cJSON_GetNumberValue(cJSON_GetObjectItem(s0, "temperature_C")) -
               25.0) < 1e-9);
    CHECK(!cJSON_HasObjectItem(s0, "output_interval_s"));
    cJSON *mj = cJSON_GetObjectItem(j, "metrics");
    CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(mj, "capacitance_F")) ==
          2.5e-3);
    CHECK(cJSON_GetNumberValue(
              cJSON_GetObjectItem(mj, "capacitance_areal_mF_cm2")) == 1.25);
    CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(mj, "esr_ohm")) == 12.0);
    CHECK(cJSON_GetNumberValue(
              cJSON_GetObjectItem(mj, "coulombic_efficiency")) == 0.98);
    CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(mj, "energy_J")) == 3e-3);
    CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(mj, "power_W")) == 1e-4);
    CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(mj, "discharge_time_s")) ==
          90.0);
    CHECK(cJSON_HasObjectItem(mj, "discharge_current_A"));
    CHECK(cJSON_HasObjectItem(mj, "power_areal_mW_cm2"));
    CHECK(!cJSON_HasObjectItem(mj, "capacitance_volumetric_F_cm3"));
    CHECK(!cJSON_HasObjectItem(mj, "energy_volumetric_mWh_cm3"));
    CHECK(!cJSON_HasObjectItem(mj, "energy_areal_uWh_cm2")); /* infinite */
    CHECK(!cJSON_HasObjectItem(mj, "power_volumetric_W_cm3"));
    CHECK(!cJSON_HasObjectItem(mj, "capacitance_retention"));
    /* the cycle the metrics were read from */
    CHECK(cJSON_IsNumber(cJSON_GetObjectItem(mj, "cycle")) &&
          cJSON_GetNumberValue(cJSON_GetObjectItem(mj, "cycle")) == 1);
    CHECK(cJSON_GetArraySize(mj) == 10);
    CHECK(!cJSON_HasObjectItem(j, "steady")); /* not a run until steady */
    cJSON *sj = cJSON_GetObjectItem(j, "solver");
    CHECK(cJSON_GetArraySize(sj) == 12);
    CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(sj, "full_factorizations")) ==
          4);
    CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(sj, "refactorizations")) ==
          26);
    CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(sj, "lu_nonzeros")) ==
          90000);
    CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(sj, "residual_evals")) ==
          400);
    CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(sj, "jacobian_nonzeros")) ==
          70000);
    CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(sj, "unknowns")) == 5000);
  }
  cJSON_Delete(j);
  free(text);

  /* a run until steady: the "steady" object, its criterion, the last
   * cycle; steady_cycle only when it converged, NaN changes left out */
  nimc_steady_info si = {.opts = nimc_steady_opts_default(),
                         .cycles = 6,
                         .converged = 1,
                         .steady_cycle = 6,
                         .coulombic_efficiency = 0.995,
                         .capacitance_F = 2.5e-3,
                         .capacitance_change = 2e-4,
                         .ce_change = NAN};
  sum.steady = &si;
  CHECK(nimc_summary_json(&sum, &text, &err) == NIMC_OK);
  j = cJSON_Parse(text);
  cJSON *sj = cJSON_GetObjectItem(j, "steady");
  CHECK(cJSON_IsObject(sj));
  CHECK(cJSON_IsTrue(cJSON_GetObjectItem(sj, "converged")));
  CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(sj, "cycles")) == 6);
  CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(sj, "steady_cycle")) == 6);
  CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(sj, "coulombic_efficiency")) ==
        0.995);
  CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(sj, "capacitance_F")) ==
        2.5e-3);
  CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(sj, "capacitance_change")) ==
        2e-4);
  CHECK(!cJSON_HasObjectItem(sj, "ce_change"));
  CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(sj, "min_cycles")) == 3);
  CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(sj, "max_cycles")) == 30);
  CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(sj, "ce_min")) == 0.99);
  CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(sj, "rel_tol")) == 3e-4);
  cJSON_Delete(j);
  free(text);
  si.converged = 0;
  si.steady_cycle = 0;
  CHECK(nimc_summary_json(&sum, &text, &err) == NIMC_OK);
  j = cJSON_Parse(text);
  sj = cJSON_GetObjectItem(j, "steady");
  CHECK(cJSON_IsFalse(cJSON_GetObjectItem(sj, "converged")));
  CHECK(!cJSON_HasObjectItem(sj, "steady_cycle"));
  cJSON_Delete(j);
  free(text);

  /* the minimal summary: no device, temperature, steps, metrics or stats */
  nimc_summary bare = {.temperature_C = NAN};
  CHECK(nimc_summary_json(&bare, &text, &err) == NIMC_OK);
  j = cJSON_Parse(text);
  CHECK(j && !cJSON_HasObjectItem(j, "device") &&
        !cJSON_HasObjectItem(j, "temperature_C") &&
        !cJSON_HasObjectItem(j, "solver"));
  CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(j, "steps")) == 0);
  CHECK(cJSON_IsObject(cJSON_GetObjectItem(j, "metrics")));
  cJSON_Delete(j);
  free(text);
  CHECK(nimc_summary_json(NULL, &text, &err) == NIMC_EMISUSE);
  nimc_result_free(&r);
}

/* Does the file at path start with the n bytes of magic? */
static int starts_with(const char *path, const char *magic, size_t n) {
  size_t len;
  char *b = slurp(path, &len);
  int ok = b && len >= n && memcmp(b, magic, n) == 0;
  free(b);
  return ok;
}

static void test_plot(const char *dir) {
  char fig[512], path[600];
  nimc_series s = {0};
  nimc_err err;
  snprintf(fig, sizeof fig, "%s/fig", dir);
  CHECK(mkdir(fig, 0700) == 0);
  for (int k = 0; k <= 50; k++)
    nimc_series_push(&s, k, k <= 25 ? 0.1 * k : 5.0 - 0.1 * k,
                     k <= 25 ? 1e-3 : -1e-3, 0);
  int rc =
      nimc_plot_gcd(&s, fig, "GCD of 'it' \"quoted\"\nwith a newline", &err);
  CHECK(rc == NIMC_OK);
  if (rc) fprintf(stderr, "nimc_plot_gcd: %s\n", err.msg);
  snprintf(path, sizeof path, "%s/gcd.png", fig);
  CHECK(starts_with(path, "\x89PNG\r\n\x1a\n", 8));
  snprintf(path, sizeof path, "%s/gcd.svg", fig);
  char *svg = slurp(path, NULL);
  CHECK(svg && strstr(svg, "<svg"));
  free(svg);
  snprintf(path, sizeof path, "%s/gcd.dat", fig);
  CHECK(starts_with(path, "# time_s voltage_V\n0 0\n1 0.1\n", 29));
  snprintf(path, sizeof path, "%s/gcd.gp", fig);
  char *gp = slurp(path, NULL);
  CHECK(gp && strstr(gp, "set title 'GCD of ''it'' \"quoted\" with a "
                         "newline' noenhanced\n"));
  free(gp);
  CHECK(count_temporaries(fig) == 0);

  /* gnuplot missing from PATH: EEXTERNAL naming gnuplot and the log, the
   * figures of the previous run untouched */
  char *old = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
  setenv("PATH", "/nonexistent-nimc-test", 1);
  rc = nimc_plot_gcd(&s, fig, "x", &err);
  if (old) setenv("PATH", old, 1);
  free(old);
  CHECK(rc == NIMC_EEXTERNAL);
  CHECK_CONTAINS(err.msg, "gnuplot");
  CHECK_CONTAINS(err.msg, "gnuplot.log");
  snprintf(path, sizeof path, "%s/gcd.png", fig);
  CHECK(starts_with(path, "\x89PNG", 4));
  CHECK(count_temporaries(fig) == 0);

  /* a gnuplot that fails, and one that exits 0 but draws nothing: the
   * message gives the status and quotes the log's last line */
  char bin[512], fake[600];
  snprintf(bin, sizeof bin, "%s/bin", dir);
  snprintf(fake, sizeof fake, "%s/gnuplot", bin);
  CHECK(mkdir(bin, 0700) == 0);
  const char *scripts[] = {"#!/bin/sh\necho 'line 3: boom' >&2\nexit 3\n",
                           "#!/bin/sh\nexit 0\n"};
  const char *want[] = {"gnuplot failed (exit status 3) on", "wrote no"};
  for (int k = 0; k < 2; k++) {
    CHECK(nimc_write_atomic(fake, scripts[k], strlen(scripts[k]), &err) ==
          NIMC_OK);
    CHECK(chmod(fake, 0700) == 0);
    old = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
    setenv("PATH", bin, 1);
    rc = nimc_plot_gcd(&s, fig, "x", &err);
    if (old) setenv("PATH", old, 1);
    free(old);
    CHECK(rc == NIMC_EEXTERNAL);
    CHECK_CONTAINS(err.msg, want[k]);
    CHECK_CONTAINS(err.msg, "gnuplot.log");
    if (k == 0) CHECK_CONTAINS(err.msg, "line 3: boom");
    CHECK(count_temporaries(fig) == 0);
  }

  /* gcd.dat cannot be written */
  snprintf(path, sizeof path, "%s/gcd.dat", fig);
  remove(path);
  CHECK(mkdir(path, 0700) == 0); /* gcd.dat cannot be written */
  rc = nimc_plot_gcd(&s, fig, NULL, &err);
  CHECK(rc == NIMC_EIO);
  CHECK_CONTAINS(err.msg, "gcd.dat");
  rmdir(path);

  /* no directory, no data */
  snprintf(path, sizeof path, "%s/missing", dir);
  CHECK(nimc_plot_gcd(&s, path, NULL, &err) == NIMC_EIO);
  CHECK_CONTAINS(err.msg, path);
  nimc_series_free(&s);
  CHECK(nimc_plot_gcd(&s, fig, NULL, &err) == NIMC_EINPUT);
  CHECK_CONTAINS(err.msg, "empty");
}

/* A small synthetic snapshot: an nx x nz grid over a 1.5 mm x 100 um
 * cross-section with an anode (5 um) and a cathode (10 um) on the bottom,
 * or a 1D stack when nz is 1. */
typedef struct synth {
  nimc_fields f;
  double buf[7][64];
  int region[64];
} synth;

static void make_fields(synth *s, int nx, int nz, double t_s) {
  static const double zf[] = {2.5e-6, 7.5e-6, 30e-6, 75e-6};
  static const double hz[] = {5e-6, 5e-6, 40e-6, 50e-6};
  memset(s, 0, sizeof *s);
  s->f.n = (size_t)(nx * nz);
  s->f.t_s = t_s;
  s->f.x_m = s->buf[0], s->f.z_m = s->buf[1], s->f.dx_m = s->buf[2];
  s->f.dz_m = s->buf[3], s->f.c_mol_m3 = s->buf[4], s->f.phi_e_V = s->buf[5];
  s->f.reaction_A_m3 = s->buf[6], s->f.region = s->region;
  for (int j = 0; j < nz; j++)
    for (int i = 0; i < nx; i++) {
      int k = j * nx + i;
      double x = (i + 0.5) * 1.5e-3 / nx;
      s->f.x_m[k] = x;
      s->f.dx_m[k] = 1.5e-3 / nx;
      s->f.z_m[k] = nz == 1 ? 50e-6 : zf[j];
      s->f.dz_m[k] = nz == 1 ? 100e-6 : hz[j];
      int anode = x < 0.5e-3 && (nz == 1 || j == 0);
      int cathode = x > 1e-3 && (nz == 1 || j <= 1);
      s->f.region[k] = anode     ? NIMC_CELL_ANODE
                       : cathode ? NIMC_CELL_CATHODE
                                 : NIMC_CELL_GEL;
      s->f.c_mol_m3[k] = 750.0 + 300.0 * (x / 1.5e-3 - 0.5) - 10.0 * j;
      s->f.phi_e_V[k] = -0.1 * x / 1.5e-3;
      s->f.reaction_A_m3[k] = anode ? -2e6 * (1 + i) : cathode ? 1e6 : 0.0;
    }
}

static void test_fields_csv(const char *dir) {
  char path[512];
  synth s;
  nimc_err err;
  make_fields(&s, 4, 3, 12.5);
  snprintf(path, sizeof path, "%s/fields.csv", dir);
  CHECK(nimc_fields_write_csv(&s.f, path, &err) == NIMC_OK);
  char *text = slurp(path, NULL);
  static const char header[] =
      "x_m,z_m,dx_m,dz_m,region,c_mol_m3,phi_e_V,reaction_A_m3\n";
  CHECK(text && !strncmp(text, header, sizeof header - 1));
  int rows = 0;
  for (char *p = text ? strchr(text, '\n') : NULL; p && p[1]; rows++) {
    char *end = p;
    double v[8];
    const char *q = p + 1;
    for (int c = 0; c < 8; c++) {
      v[c] = strtod(q, &end);
      CHECK(*end == (c < 7 ? ',' : '\n'));
      q = end + 1;
    }
    if (rows < 12) {
      CHECK_REL(v[0], s.f.x_m[rows], 1e-9);
      CHECK_REL(v[3], s.f.dz_m[rows], 1e-9);
      CHECK(v[4] == s.f.region[rows]);
      CHECK_REL(v[5], s.f.c_mol_m3[rows], 1e-9);
      CHECK_ABS(v[7], s.f.reaction_A_m3[rows], 1e-3);
    }
    p = end;
  }
  CHECK(rows == 12);
  free(text);
  CHECK(count_temporaries(dir) == 0);
  CHECK(nimc_fields_write_csv(NULL, path, &err) == NIMC_EMISUSE);
}

static void test_plot_fields(const char *dir) {
  char fig[512], path[600];
  synth a, b, stack;
  nimc_err err;
  snprintf(fig, sizeof fig, "%s/fields", dir);
  CHECK(mkdir(fig, 0700) == 0);
  make_fields(&a, 6, 4, 10.0);
  make_fields(&b, 6, 4, 20.0);
  for (size_t k = 0; k < b.f.n; k++)
    b.f.c_mol_m3[k] *= 0.5; /* shared scale */
  const nimc_fields *two[2] = {&a.f, &b.f};
  const char *titles[2] = {"uncovered 'A'", NULL};
  int rc = nimc_plot_fields(two, titles, 2, fig, "maps", &err);
  CHECK(rc == NIMC_OK);
  if (rc) fprintf(stderr, "nimc_plot_fields: %s\n", err.msg);
  snprintf(path, sizeof path, "%s/maps.png", fig);
  CHECK(starts_with(path, "\x89PNG\r\n\x1a\n", 8));
  snprintf(path, sizeof path, "%s/maps.svg", fig);
  char *svg = slurp(path, NULL);
  CHECK(svg && strstr(svg, "<svg"));
  free(svg);
  snprintf(path, sizeof path, "%s/maps.gp", fig);
  char *gp = slurp(path, NULL);
  CHECK(gp && strstr(gp, "boxxyerror"));
  CHECK(gp && strstr(gp, "uncovered ''A''"));
  /* z is cut at 3x the 10 um finger; one concentration scale spans both
   * columns (b's lowest value is half of a's), one reaction scale is
   * symmetric about 0 at the largest |reaction| (2 x 2e6 A/m3) */
  CHECK(gp && strstr(gp, "set yrange [0:30]"));
  char want[64];
  double cmin = 0.5 * (750.0 + 300.0 * (0.5 / 6.0 - 0.5) - 10.0 * 2);
  snprintf(want, sizeof want, "set cbrange [%.10g:", cmin);
  CHECK_CONTAINS(gp, want);
  CHECK_CONTAINS(gp, "set cbrange [-4:4]");
  free(gp);
  /* the cells above the window are left out of the data */
  snprintf(path, sizeof path, "%s/maps.dat", fig);
  char *dat = slurp(path, NULL);
  CHECK(dat && !strstr(dat, " 75 "));
  CHECK(dat && strstr(dat, " 30 "));
  free(dat);
  CHECK(count_temporaries(fig) == 0);

  /* a 1D stack: value against x */
  make_fields(&stack, 12, 1, 5.0);
  const nimc_fields *one[1] = {&stack.f};
  rc = nimc_plot_fields(one, NULL, 1, fig, "stack", &err);
  CHECK(rc == NIMC_OK);
  if (rc) fprintf(stderr, "nimc_plot_fields: %s\n", err.msg);
  snprintf(path, sizeof path, "%s/stack.png", fig);
  CHECK(starts_with(path, "\x89PNG", 4));
  snprintf(path, sizeof path, "%s/stack.svg", fig);
  svg = slurp(path, NULL);
  CHECK(svg && strstr(svg, "<svg"));
  free(svg);
  snprintf(path, sizeof path, "%s/stack.gp", fig);
  gp = slurp(path, NULL);
  CHECK(gp && strstr(gp, "linespoints") && !strstr(gp, "boxxyerror"));
  free(gp);

  /* gnuplot missing: EEXTERNAL naming the figure's own log */
  char *old = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
  setenv("PATH", "/nonexistent-nimc-test", 1);
  rc = nimc_plot_fields(two, titles, 2, fig, "maps", &err);
  if (old) setenv("PATH", old, 1);
  free(old);
  CHECK(rc == NIMC_EEXTERNAL);
  CHECK_CONTAINS(err.msg, "maps.log");
  snprintf(path, sizeof path, "%s/maps.png", fig);
  CHECK(starts_with(path, "\x89PNG", 4)); /* the old figure stays */
  CHECK(count_temporaries(fig) == 0);

  /* misuse and empty input */
  CHECK(nimc_plot_fields(two, titles, 2, fig, "../x", &err) == NIMC_EMISUSE);
  CHECK(nimc_plot_fields(two, titles, 2, fig, NULL, &err) == NIMC_EMISUSE);
  CHECK(nimc_plot_fields(NULL, NULL, 1, fig, "x", &err) == NIMC_EMISUSE);
  CHECK(nimc_plot_fields(two, NULL, 0, fig, "x", &err) == NIMC_EINPUT);
  nimc_fields empty = {0};
  const nimc_fields *none[1] = {&empty};
  CHECK(nimc_plot_fields(none, NULL, 1, fig, "x", &err) == NIMC_EINPUT);
  CHECK_CONTAINS(err.msg, "empty");
}

static void test_plot_curves(const char *dir) {
  char fig[512], path[600];
  nimc_err err;
  snprintf(fig, sizeof fig, "%s/curves", dir);
  CHECK(mkdir(fig, 0700) == 0);
  const double x[] = {0.1, 0.2, 0.5, 1.0}, y[] = {19, NAN, 15, 12};
  const double px[] = {0.1, 1.0}, py[] = {19.5, 11.7};
  nimc_curve c[] = {{"model", x, y, 4, 2, 1},
                    {"paper 'x'", px, py, 2, 1, 1},
                    {"nothing", x, y + 1, 1, 0, 0}, /* only NaN: left out */
                    {NULL, px, py, 2, 0, 0}};
  int rc = nimc_plot_curves(c, 4, "J (mA/cm2)", "C (F/cm3)", "rate", fig,
                            "rate", &err);
  CHECK(rc == NIMC_OK);
  if (rc) fprintf(stderr, "nimc_plot_curves: %s\n", err.msg);
  snprintf(path, sizeof path, "%s/rate.png", fig);
  CHECK(starts_with(path, "\x89PNG\r\n\x1a\n", 8));
  snprintf(path, sizeof path, "%s/rate.svg", fig);
  char *svg = slurp(path, NULL);
  CHECK(svg && strstr(svg, "<svg"));
  free(svg);
  snprintf(path, sizeof path, "%s/rate.dat", fig);
  char *dat = slurp(path, NULL);
  /* the NaN breaks the model's line; the NaN-only curve has no block */
  CHECK(dat && strstr(dat, "0.1 19\n\n0.5 15\n"));
  CHECK(dat && !strstr(dat, "nothing"));
  free(dat);
  snprintf(path, sizeof path, "%s/rate.gp", fig);
  char *gp = slurp(path, NULL);
  CHECK(gp && strstr(gp, "index 2 ") && !strstr(gp, "index 3 "));
  CHECK(gp && strstr(gp, "title 'paper ''x'''"));
  free(gp);
  CHECK(count_temporaries(fig) == 0);
  nimc_curve nan_only = {"n", x, y + 1, 1, 0, 0};
  CHECK(nimc_plot_curves(&nan_only, 1, NULL, NULL, NULL, fig, "n", &err) ==
        NIMC_EINPUT);
  CHECK(nimc_plot_curves(c, 4, NULL, NULL, NULL, fig, "a/b", &err) ==
        NIMC_EMISUSE);
}

/* A spectrum of R0 + (R1 || C1) at n log-spaced frequencies. */
static void rc_spectrum(nimc_spectrum *s, size_t n) {
  CHECK(nimc_spectrum_alloc(s, n) == NIMC_OK);
  for (size_t k = 0; k < n; k++) {
    double f = pow(10.0, 5.0 - 7.0 * (double)k / (double)(n - 1));
    double w = 2 * 3.141592653589793 * f, R0 = 10, R1 = 100, C1 = 1e-3;
    double d = 1 + w * w * R1 * R1 * C1 * C1;
    s->freq_Hz[k] = f;
    s->z_re_ohm[k] = R0 + R1 / d;
    s->z_im_ohm[k] = -w * R1 * R1 * C1 / d;
  }
}

/* Nyquist (square frame, equal spans, -Im Z up), Bode (two panels, log
 * axes, points that are not positive left out of a log axis), the
 * spectrum CSV with its optional columns. */
static void test_spectra(const char *dir) {
  char fig[512], path[600];
  nimc_err err;
  snprintf(fig, sizeof fig, "%s/eis", dir);
  CHECK(mkdir(fig, 0700) == 0);
  nimc_spectrum s;
  rc_spectrum(&s, 8);
  nimc_zcurve z[1] = {{"data", &s, 1, 1}};
  int rc = nimc_plot_nyquist(z, 1, "RC", fig, "nyquist", &err);
  CHECK(rc == NIMC_OK);
  if (rc) fprintf(stderr, "nimc_plot_nyquist: %s\n", err.msg);
  snprintf(path, sizeof path, "%s/nyquist.png", fig);
  CHECK(starts_with(path, "\x89PNG\r\n\x1a\n", 8));
  snprintf(path, sizeof path, "%s/nyquist.gp", fig);
  char *gp = slurp(path, NULL);
  double x0 = 0, x1 = 0, y0 = 0, y1 = 0;
  const char *xr = gp ? strstr(gp, "set xrange [") : NULL;
  const char *yr = gp ? strstr(gp, "set yrange [") : NULL;
  CHECK(xr && sscanf(xr, "set xrange [%lf:%lf]", &x0, &x1) == 2);
  CHECK(yr && sscanf(yr, "set yrange [%lf:%lf]", &y0, &y1) == 2);
  CHECK_REL(x1 - x0, y1 - y0, 1e-9);       /* one scale on both axes */
  CHECK(x0 < 10.0 && x1 > 110.0);          /* Re Z from 10 to 110 ohm */
  CHECK(y0 <= 0.0 && y1 > 50.0);           /* -Im Z up to 50 ohm */
  CHECK(gp && strstr(gp, "set size square"));
  CHECK(gp && strstr(gp, "-Im Z (ohm)"));
  free(gp);
  snprintf(path, sizeof path, "%s/nyquist.dat", fig);
  char *dat = slurp(path, NULL);
  char want[64];
  snprintf(want, sizeof want, "%.10g %.10g\n", s.z_re_ohm[0], -s.z_im_ohm[0]);
  CHECK(dat && strstr(dat, want)); /* -Im Z is drawn */
  free(dat);
  rc = nimc_plot_bode(z, 1, "RC", fig, "bode", &err);
  CHECK(rc == NIMC_OK);
  if (rc) fprintf(stderr, "nimc_plot_bode: %s\n", err.msg);
  snprintf(path, sizeof path, "%s/bode.gp", fig);
  gp = slurp(path, NULL);
  CHECK(gp && strstr(gp, "set multiplot layout 2,1"));
  CHECK(gp && strstr(gp, "set logscale x") && strstr(gp, "set logscale y"));
  CHECK(gp && strstr(gp, "-phase (deg)"));
  free(gp);
  snprintf(path, sizeof path, "%s/bode.svg", fig);
  char *svg = slurp(path, NULL);
  CHECK(svg && strstr(svg, "<svg"));
  free(svg);
  /* a log axis leaves out what is not positive */
  const double x[] = {1, 10, 100}, y[] = {-1, 2, 3};
  nimc_curve c = {"y", x, y, 3, 2, 1};
  nimc_panel p = {&c, 1, {"x", "y", "log", 1, 1, 0}};
  CHECK(nimc_plot_panels(&p, 1, NULL, fig, "logy", &err) == NIMC_OK);
  snprintf(path, sizeof path, "%s/logy.dat", fig);
  dat = slurp(path, NULL);
  CHECK(dat && !strstr(dat, "1 -1") && strstr(dat, "10 2\n100 3\n"));
  free(dat);
  nimc_curve neg = {"y", x, y, 1, 2, 1};
  nimc_panel pn = {&neg, 1, {"x", "y", "log", 1, 1, 0}};
  CHECK(nimc_plot_panels(&pn, 1, NULL, fig, "neg", &err) == NIMC_EINPUT);
  CHECK(nimc_plot_panels(NULL, 1, NULL, fig, "x", &err) == NIMC_EMISUSE);
  /* a panel without one finite value (the retention of cycles without a
   * discharge) is an empty frame that says so, not a gnuplot failure */
  const double nan3[] = {NAN, NAN, NAN};
  nimc_curve none = {"retention", x, nan3, 3, 2, 1};
  nimc_panel pe[2] = {{&none, 1, {"cycle", "retention", "", 0, 0, 0}},
                      {&c, 1, {"x", "y", "", 0, 0, 0}}};
  rc = nimc_plot_panels(pe, 2, NULL, fig, "empty", &err);
  CHECK(rc == NIMC_OK);
  if (rc) fprintf(stderr, "  empty panel: %s\n", err.msg);
  snprintf(path, sizeof path, "%s/empty.gp", fig);
  gp = slurp(path, NULL);
  CHECK(gp && strstr(gp, "no value to draw"));
  free(gp);
  CHECK(nimc_plot_nyquist(z, 0, NULL, fig, "x", &err) == NIMC_EMISUSE);
  CHECK(count_temporaries(fig) == 0);

  /* the CSV: the spectrum, then the fit and the Lin-KK residuals */
  double fr[8], fi[8], kr[8], ki[8];
  for (int k = 0; k < 8; k++)
    fr[k] = 1.0 + k, fi[k] = -k, kr[k] = 1e-3 * k, ki[k] = -1e-3 * k;
  nimc_fit fit = {0};
  fit.n = 8, fit.z_re_fit = fr, fit.z_im_fit = fi;
  nimc_linkk kk = {0};
  kk.n = 8, kk.res_re = kr, kk.res_im = ki;
  snprintf(path, sizeof path, "%s/spectrum.csv", fig);
  CHECK(nimc_spectrum_write_csv(&s, &fit, &kk, path, &err) == NIMC_OK);
  char *csv = slurp(path, NULL);
  CHECK(csv && !strncmp(csv,
                        "frequency_Hz,z_re_ohm,z_im_ohm,z_mod_ohm,phase_deg,"
                        "z_re_fit_ohm,z_im_fit_ohm,kk_res_re,kk_res_im\n",
                        90));
  /* the first row: 100 kHz, |Z| and arg Z in degrees */
  double f0, re, im, mod, ph, a, b, c2, d;
  const char *row = csv ? strchr(csv, '\n') + 1 : NULL;
  CHECK(row && sscanf(row, "%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf", &f0, &re,
                      &im, &mod, &ph, &a, &b, &c2, &d) == 9);
  CHECK_REL(mod, hypot(s.z_re_ohm[0], s.z_im_ohm[0]), 1e-9);
  CHECK_REL(ph, atan2(s.z_im_ohm[0], s.z_re_ohm[0]) * 180 / 3.141592653589793,
            1e-9);
  free(csv);
  CHECK(nimc_spectrum_write_csv(&s, NULL, NULL, path, &err) == NIMC_OK);
  csv = slurp(path, NULL);
  CHECK(csv && !strncmp(csv, "frequency_Hz,z_re_ohm,z_im_ohm,z_mod_ohm,"
                             "phase_deg\n", 47));
  free(csv);
  fit.n = 3; /* does not match the spectrum */
  CHECK(nimc_spectrum_write_csv(&s, &fit, NULL, path, &err) == NIMC_EMISUSE);
  nimc_spectrum_free(&s);
}

/* The impedance keys of the summary JSON: the spectrum as arrays, the
 * circuit with parameters, standard errors and correlations (null where
 * not finite), Lin-KK, the operating point, the metrics. */
static void test_eis_json(void) {
  nimc_spectrum s;
  rc_spectrum(&s, 5);
  nimc_circuit *circ = NULL;
  nimc_err err;
  CHECK(nimc_circuit_parse(&circ, "R0-p(R1,C1)", &err) == NIMC_OK);
  double p[3] = {10, 100, 1e-3}, se[3] = {0.1, NAN, 1e-5};
  double corr[9] = {1, NAN, 0.5, NAN, NAN, NAN, 0.5, NAN, 1};
  nimc_fit fit = {0};
  fit.np = 3, fit.n = 5, fit.p = p, fit.std_err = se, fit.corr = corr;
  fit.rmse_ohm = 0.25, fit.chi2 = 1.5, fit.grad_rel = 1e-9;
  fit.iterations = 7, fit.starts = 1, fit.converged = 1;
  nimc_linkk kk = {0};
  kk.M = 4, kk.mu = 0.9, kk.max_residual = 1e-3, kk.rms_residual = 5e-4;
  nimc_eis_info info = {0};
  info.voltage_V = 1.5, info.unknowns = 10;
  nimc_eis_summary es = {.spectrum = &s, .circuit = circ, .fit = &fit,
                         .linkk = &kk, .r_ohmic_ohm = 10.0,
                         .r_ct_ohm = 100.0, .info = &info,
                         .settle_time_s = NAN, .drift = 0.5};
  nimc_summary sum = {.device = "d", .temperature_C = 25, .eis = &es};
  char *text = NULL;
  CHECK(nimc_summary_json(&sum, &text, &err) == NIMC_OK);
  cJSON *root = text ? cJSON_Parse(text) : NULL;
  CHECK(root != NULL);
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "metrics");
  CHECK(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(m, "r_ohmic_ohm")) == 10.0);
  CHECK(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(m, "r_ct_ohm")) == 100.0);
  CHECK(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(m, "rmse_ohm")) == 0.25);
  const cJSON *sp = cJSON_GetObjectItemCaseSensitive(root, "spectrum");
  const char *arrays[] = {"frequency_Hz", "z_re_ohm", "z_im_ohm", "z_mod_ohm",
                          "phase_deg"};
  for (int k = 0; k < 5; k++)
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(sp, arrays[k])) == 5);
  CHECK(!strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "circuit")),
                "R0-p(R1,C1)"));
  const cJSON *par = cJSON_GetObjectItemCaseSensitive(root, "parameters");
  const cJSON *ser = cJSON_GetObjectItemCaseSensitive(root, "standard_errors");
  CHECK(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(par, "C1")) == 1e-3);
  CHECK(cJSON_GetObjectItemCaseSensitive(ser, "R0") != NULL);
  CHECK(cJSON_GetObjectItemCaseSensitive(ser, "R1") == NULL); /* NaN: left out */
  const cJSON *cr = cJSON_GetObjectItemCaseSensitive(
      cJSON_GetObjectItemCaseSensitive(root, "fit"), "correlation");
  CHECK(cJSON_GetArraySize(cr) == 3);
  CHECK(cJSON_IsNull(cJSON_GetArrayItem(cJSON_GetArrayItem(cr, 0), 1)));
  CHECK(cJSON_GetNumberValue(cJSON_GetArrayItem(cJSON_GetArrayItem(cr, 2), 0)) == 0.5);
  const cJSON *lk = cJSON_GetObjectItemCaseSensitive(root, "linkk");
  CHECK(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(lk, "M")) == 4);
  const cJSON *op = cJSON_GetObjectItemCaseSensitive(root, "operating_point");
  CHECK(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(op, "voltage_V")) == 1.5);
  CHECK(cJSON_GetObjectItemCaseSensitive(op, "settle_time_s") == NULL);
  CHECK(cJSON_GetObjectItemCaseSensitive(root, "eis_solver") != NULL);
  CHECK(cJSON_GetObjectItemCaseSensitive(root, "source") == NULL);
  cJSON_Delete(root);
  free(text);
  /* without a fit or a model: no circuit keys, no operating point */
  nimc_eis_summary bare = {.spectrum = &s, .r_ohmic_ohm = 10.0,
                           .r_ct_ohm = NAN, .settle_time_s = NAN,
                           .drift = NAN, .source = "x.csv", .read_as = "csv"};
  sum.eis = &bare;
  CHECK(nimc_summary_json(&sum, &text, &err) == NIMC_OK);
  root = text ? cJSON_Parse(text) : NULL;
  CHECK(root && !cJSON_GetObjectItemCaseSensitive(root, "circuit") &&
        !cJSON_GetObjectItemCaseSensitive(root, "operating_point") &&
        cJSON_GetObjectItemCaseSensitive(root, "source"));
  m = cJSON_GetObjectItemCaseSensitive(root, "metrics");
  CHECK(m && !cJSON_GetObjectItemCaseSensitive(m, "r_ct_ohm"));
  cJSON_Delete(root);
  free(text);
  nimc_circuit_destroy(circ);
  nimc_spectrum_free(&s);
}

static void test_validation(const char *dir) {
  const nimc_validation_row rows[] = {
      {"cv_0.1", "volumetric capacitance at 0.1 mA/cm2", "F/cm3", 19.5, 17.0, 5,
       0, NULL, "calibration"},
      {"cv_0.2", "capacitance at 0.2 mA/cm2, \"covered\"", "F/cm3", 13.7, NAN,
       0, 0, NULL, "calibration"},
      {"zero", "a paper value of 0", "1", 0.0, 1.0, 0, 0, NULL, NULL},
      {"ratio", "C at 1.5 over C at 0.2", "1", 0.58, 0.5, 7, 4,
       "not steady after 30 cycles, \"CE\" 0.9", "calibration"},
      /* a prediction the paper gives no value for: the model's alone */
      {"cv_2_80C", "capacitance at 2 mA/cm2, 80 C", "F/cm3", NAN, 9.5, 12, 0,
       NULL, "prediction"}};
  CHECK_REL(nimc_validation_rel_error(&rows[0]), (17.0 - 19.5) / 19.5, 1e-15);
  CHECK(isnan(nimc_validation_rel_error(&rows[1])));
  CHECK(isnan(nimc_validation_rel_error(&rows[2])));
  CHECK(isnan(nimc_validation_rel_error(&rows[3]))); /* excluded */
  CHECK(isnan(nimc_validation_rel_error(&rows[4]))); /* no paper value */
  CHECK(isnan(nimc_validation_rel_error(NULL)));

  nimc_summary sum = {.device = "NTO//AG-NIMC",
                      .temperature_C = 25.0,
                      .validation = rows,
                      .nvalidation = 5};
  char *text = NULL;
  nimc_err err;
  CHECK(nimc_summary_json(&sum, &text, &err) == NIMC_OK);
  cJSON *j = cJSON_Parse(text);
  CHECK(j != NULL);
  cJSON *v = cJSON_GetObjectItem(j, "validation");
  CHECK(cJSON_IsArray(v) && cJSON_GetArraySize(v) == 5);
  cJSON *r0 = cJSON_GetArrayItem(v, 0), *r1 = cJSON_GetArrayItem(v, 1),
        *r2 = cJSON_GetArrayItem(v, 2), *r3 = cJSON_GetArrayItem(v, 3),
        *r4 = cJSON_GetArrayItem(v, 4);
  /* every row has every key */
  for (int k = 0; k < 5; k++)
    CHECK(cJSON_GetArraySize(cJSON_GetArrayItem(v, k)) == 10);
  CHECK(!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(r0, "id")), "cv_0.1"));
  CHECK(!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(r0, "quantity")),
                "volumetric capacitance at 0.1 mA/cm2"));
  CHECK(
      !strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(r0, "unit")), "F/cm3"));
  CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(r0, "paper")) == 19.5);
  CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(r0, "model")) == 17.0);
  CHECK_REL(cJSON_GetNumberValue(cJSON_GetObjectItem(r0, "rel_error")),
            (17.0 - 19.5) / 19.5, 1e-12);
  /* a model value that was not computed is null, and so is its error */
  CHECK(cJSON_IsNull(cJSON_GetObjectItem(r1, "model")));
  CHECK(cJSON_IsNull(cJSON_GetObjectItem(r1, "rel_error")));
  CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(r1, "paper")) == 13.7);
  /* which cycle the model value was read from; null when none */
  CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(r0, "cycle")) == 5);
  CHECK(cJSON_IsNull(cJSON_GetObjectItem(r0, "cycle_ref")));
  CHECK(cJSON_IsNull(cJSON_GetObjectItem(r0, "excluded")));
  CHECK(cJSON_IsNull(cJSON_GetObjectItem(r1, "cycle")));
  /* an excluded row keeps its model value, without a comparison */
  CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(r3, "model")) == 0.5);
  CHECK(cJSON_IsNull(cJSON_GetObjectItem(r3, "rel_error")));
  CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(r3, "cycle")) == 7);
  CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(r3, "cycle_ref")) == 4);
  CHECK(!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(r3, "excluded")),
                "not steady after 30 cycles, \"CE\" 0.9"));
  /* the role: which table the row belongs to; null when not given */
  CHECK(!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(r0, "role")),
                "calibration"));
  CHECK(cJSON_IsNull(cJSON_GetObjectItem(r2, "role")));
  CHECK(!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(r4, "role")),
                "prediction"));
  /* a model-only row: paper and rel_error null, the model's value kept */
  CHECK(cJSON_IsNull(cJSON_GetObjectItem(r4, "paper")));
  CHECK(cJSON_IsNull(cJSON_GetObjectItem(r4, "rel_error")));
  CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(r4, "model")) == 9.5);
  CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(r4, "cycle")) == 12);
  CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(j, "steps")) == 0);
  CHECK(cJSON_IsObject(cJSON_GetObjectItem(j, "metrics")));
  cJSON_Delete(j);
  free(text);

  /* without rows there is no "validation" key */
  sum.validation = NULL;
  sum.nvalidation = 0;
  CHECK(nimc_summary_json(&sum, &text, &err) == NIMC_OK);
  j = cJSON_Parse(text);
  CHECK(j && !cJSON_HasObjectItem(j, "validation"));
  cJSON_Delete(j);
  free(text);

  char path[512];
  snprintf(path, sizeof path, "%s/validation.csv", dir);
  CHECK(nimc_validation_write_csv(rows, 5, path, &err) == NIMC_OK);
  text = slurp(path, NULL);
  /* role is the last column (added after the others, which keep their
   * places) */
  CHECK(text &&
        !strcmp(text, "id,quantity,unit,paper,model,rel_error,cycle,"
                      "cycle_ref,excluded,role\n"
                      "cv_0.1,volumetric capacitance at 0.1 mA/cm2,F/cm3,"
                      "19.5,17,-0.1282051282,5,,,calibration\n"
                      "cv_0.2,\"capacitance at 0.2 mA/cm2, \"\"covered\"\"\","
                      "F/cm3,13.7,,,,,,calibration\n"
                      "zero,a paper value of 0,1,0,1,,,,,\n"
                      "ratio,C at 1.5 over C at 0.2,1,0.58,0.5,,7,4,"
                      "\"not steady after 30 cycles, \"\"CE\"\" 0.9\","
                      "calibration\n"
                      "cv_2_80C,\"capacitance at 2 mA/cm2, 80 C\",F/cm3,,9.5,,"
                      "12,,,prediction\n"));
  free(text);
  CHECK(count_temporaries(dir) == 0);
  CHECK(nimc_validation_write_csv(NULL, 1, path, &err) == NIMC_EMISUSE);
}

/* RUN for tests that take the scratch directory. */
#define RUN_IN(fn, dir)                                                        \
  do {                                                                         \
    int before_ = tl_fail;                                                     \
    fn(dir);                                                                   \
    fprintf(stderr, "%s %s\n", tl_fail == before_ ? "ok  " : "FAIL", #fn);     \
  } while (0)

/* ---- the figures of a run, by technique (nimc_plot_run) ---- */

/* Append a step of type t and its samples to r: npts samples over dur_s
 * from v0 to v1 at current i_A (a linear ramp); cycle as the Repeat's. */
static void push_step(nimc_result *r, nimc_step_type t, int cycle, double dur_s,
                      double v0, double v1, double i_A, int npts) {
  int idx = (int)r->nsteps;
  double t0 = r->series.n ? r->series.time_s[r->series.n - 1] : 0.0;
  nimc_step_result *st = realloc(r->steps, (r->nsteps + 1) * sizeof *st);
  CHECK(st != NULL);
  if (!st) return;
  r->steps = st;
  r->steps[r->nsteps++] = (nimc_step_result){
      .type = t, .index = idx, .cycle = cycle, .duration_s = dur_s,
      .charge_C = i_A * dur_s, .v_start_V = v0, .v_end_V = v1,
      .freq_Hz = NAN, .z_re_ohm = NAN, .z_im_ohm = NAN};
  for (int k = 1; k <= npts; k++) {
    double f = (double)k / npts;
    nimc_series_push(&r->series, t0 + f * dur_s, v0 + f * (v1 - v0), i_A, idx);
  }
}

/* Append a cycle summary of the steps first.. of r. */
static void push_cycle(nimc_result *r, int first, int nsteps, double t0,
                       double dur, double retention, double ce) {
  nimc_cycle_result *c = realloc(r->cycles, (r->ncycles + 1) * sizeof *c);
  CHECK(c != NULL);
  if (!c) return;
  r->cycles = c;
  memset(&c[r->ncycles], 0, sizeof *c);
  c[r->ncycles] = (nimc_cycle_result){.cycle = (int)r->ncycles + 1,
                                      .first_step = first,
                                      .nsteps = nsteps,
                                      .t_start_s = t0,
                                      .duration_s = dur,
                                      .capacitance_retention = retention,
                                      .coulombic_efficiency = ce};
  r->ncycles++;
}

/* Width, height and dots per inch (pHYs; 0 without one) of the PNG at
 * path; 0 or -1. */
static int png_info(const char *path, long *w, long *h, double *dpi) {
  size_t n;
  unsigned char *b = (unsigned char *)slurp(path, &n);
  *dpi = 0;
  if (!b || n < 33 || memcmp(b + 12, "IHDR", 4)) {
    free(b);
    return -1;
  }
#define BE32(p) ((long)(p)[0] << 24 | (long)(p)[1] << 16 | (long)(p)[2] << 8 | (long)(p)[3])
  *w = BE32(b + 16), *h = BE32(b + 20);
  for (size_t at = 8; at + 12 <= n;) {
    long len = BE32(b + at);
    if (!memcmp(b + at + 4, "pHYs", 4) && b[at + 16] == 1)
      *dpi = (double)BE32(b + at + 8) * 0.0254;
    at += (size_t)len + 12;
  }
#undef BE32
  free(b);
  return 0;
}

/* The number of lines of the file at path that are data (not blank, not a
 * comment), and of its blocks (runs of them). */
static size_t data_lines(const char *path, size_t *blocks) {
  char *t = slurp(path, NULL);
  size_t n = 0, nb = 0;
  for (char *line = t ? strtok(t, "\n") : NULL; line; line = strtok(NULL, "\n"))
    if (line[0] != '#') n++;
  free(t);
  /* blocks: counted from the "# panel P curve C" headers */
  t = slurp(path, NULL);
  for (char *q = t; q && (q = strstr(q, "# panel ")); q++)
    nb++;
  free(t);
  *blocks = nb;
  return n;
}

/* Does the file dir/name exist, and (text non-NULL) contain text? */
static int has_file(const char *dir, const char *name, const char *text) {
  char path[1500];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  char *t = slurp(path, NULL);
  int ok = t && (!text || strstr(t, text));
  free(t);
  return ok;
}

/* One technique: draw r into dir/sub; the stems drawn must be want
 * (NULL-terminated), each with its PNG at 300 dpi and its SVG holding
 * svg_text. */
static void check_run_figures(const char *dir, const char *sub,
                              const nimc_result *r, const char *tech,
                              const char *const *want, const char *svg_text) {
  char fig[600], name[700];
  nimc_err err;
  const char *stems[NIMC_RUN_FIGURES_MAX + 1];
  nimc_run_info info = {"dev_1", 25.0, 1e-4}; /* 1 cm2 */
  snprintf(fig, sizeof fig, "%s/%s", dir, sub);
  CHECK(mkdir(fig, 0700) == 0);
  CHECK_CONTAINS(nimc_run_technique(r), tech);
  int rc = nimc_plot_run(r, &info, fig, stems, &err);
  CHECK(rc == NIMC_OK);
  if (rc) fprintf(stderr, "nimc_plot_run (%s): %s\n", sub, err.msg);
  size_t n = 0;
  while (want[n]) n++;
  for (size_t k = 0; k <= n; k++) {
    CHECK(rc || (stems[k] == NULL) == (want[k] == NULL));
    if (rc || !want[k] || !stems[k]) continue;
    CHECK_CONTAINS(stems[k], want[k]);
    long w = 0, h = 0;
    double dpi = 0;
    snprintf(name, sizeof name, "%s/%s.png", fig, want[k]);
    CHECK(png_info(name, &w, &h, &dpi) == 0);
    CHECK(w == 1920); /* 6.4 in at 300 dpi */
    CHECK_ABS(dpi, 300.0, 0.5);
    snprintf(name, sizeof name, "%s.svg", want[k]);
    CHECK(has_file(fig, name, k == 0 ? svg_text : "<svg"));
  }
  /* the device name escaped, the temperature and units typeset */
  snprintf(name, sizeof name, "%s.gp", want[0]);
  CHECK(has_file(fig, name, "dev\\_1"));
  CHECK(has_file(fig, name, "25 \302\260C"));
  CHECK(!has_file(fig, "gcd.png", NULL) || !strcmp(tech, "gcd") ||
        !strcmp(tech, "cycling"));
  CHECK(count_temporaries(fig) == 0);
}

static void test_plot_run(const char *dir) {
  nimc_result r;
  /* a CV: two cycles at 10 mV/s in a Repeat, then one at 20 mV/s */
  memset(&r, 0, sizeof r);
  for (int c = 0; c < 2; c++) {
    push_step(&r, NIMC_STEP_SWEEP, c, 350, 0, 3.5, 1e-4, 50);
    push_step(&r, NIMC_STEP_SWEEP, c, 350, 3.5, 0, -1e-4, 50);
  }
  push_step(&r, NIMC_STEP_SWEEP, 0, 175, 0, 3.5, 2e-4, 50);
  push_step(&r, NIMC_STEP_SWEEP, 0, 175, 3.5, 0, -2e-4, 50);
  const char *cv[] = {"cv", NULL};
  check_run_figures(dir, "cv", &r, "cv", cv, "current density");
  char path[700];
  snprintf(path, sizeof path, "%s/cv/cv.gp", dir);
  char *gp = slurp(path, NULL);
  /* one curve per cycle and rate, units typeset */
  CHECK(gp && strstr(gp, "10 mV s^{-1}, cycle 2"));
  CHECK(gp && strstr(gp, "20 mV s^{-1}, cycle 1"));
  CHECK(gp && strstr(gp, "mA cm^{-2}") && strstr(gp, "CV at 10, 20 mV s^{-1}"));
  CHECK(gp && strstr(gp, "index 2 ") && !strstr(gp, "index 3 "));
  free(gp);
  nimc_result_free(&r);

  /* a CV of 20 cycles: the first and last three */
  memset(&r, 0, sizeof r);
  for (int c = 0; c < 20; c++) {
    push_step(&r, NIMC_STEP_SWEEP, c, 350, 0, 3.5, 1e-4, 20);
    push_step(&r, NIMC_STEP_SWEEP, c, 350, 3.5, 0, -1e-4, 20);
  }
  check_run_figures(dir, "cv20", &r, "cv", cv, "current density");
  snprintf(path, sizeof path, "%s/cv20/cv.gp", dir);
  gp = slurp(path, NULL);
  CHECK(gp && strstr(gp, "'10 mV s^{-1}, cycle 3'") &&
        strstr(gp, "'10 mV s^{-1}, cycle 18'") &&
        strstr(gp, "'10 mV s^{-1}, cycle 20'") &&
        !strstr(gp, "'10 mV s^{-1}, cycle 4'") &&
        !strstr(gp, "'10 mV s^{-1}, cycle 17'"));
  free(gp);
  nimc_result_free(&r);

  /* 200 cycles of charge and discharge: retention and efficiency against
   * cycle, and the voltage of the first and last three cycles only */
  memset(&r, 0, sizeof r);
  for (int c = 0; c < 200; c++) {
    double t0 = r.series.n ? r.series.time_s[r.series.n - 1] : 0.0;
    push_step(&r, NIMC_STEP_CHARGE, c, 100, 0, 3.5, 1e-4, 40);
    push_step(&r, NIMC_STEP_DISCHARGE, c, 100, 3.5, 0, -1e-4, 40);
    push_cycle(&r, 2 * c, 2, t0, 200, 1.0 - 0.001 * c, 0.99);
  }
  const char *cyc[] = {"cycling", "gcd", NULL};
  check_run_figures(dir, "cycling", &r, "cycling", cyc,
                    "coulombic efficiency");
  size_t blocks;
  snprintf(path, sizeof path, "%s/cycling/gcd.dat", dir);
  size_t pts = data_lines(path, &blocks);
  CHECK(blocks == 6);   /* cycles 1, 2, 3, 198, 199, 200 */
  CHECK(pts <= 6 * 81); /* not the 16000 samples of the run */
  snprintf(path, sizeof path, "%s/cycling/gcd.gp", dir);
  gp = slurp(path, NULL);
  CHECK(gp && strstr(gp, "'cycle 200'") && !strstr(gp, "'cycle 4'"));
  free(gp);
  snprintf(path, sizeof path, "%s/cycling/cycling.dat", dir);
  CHECK(data_lines(path, &blocks) == 400 && blocks == 2);
  /* --cycles-only: no samples, the cycling figure alone */
  nimc_series_free(&r.series);
  const char *cyc_only[] = {"cycling", NULL};
  check_run_figures(dir, "cycles-only", &r, "cycling", cyc_only,
                    "capacitance retention");
  nimc_result_free(&r);

  /* a charge, then a rest: Conway's three panels */
  memset(&r, 0, sizeof r);
  push_step(&r, NIMC_STEP_CHARGE, 0, 100, 0, 3.5, 1e-4, 20);
  push_step(&r, NIMC_STEP_REST, 0, 36000, 3.5, 2.1, 0, 200);
  const char *rest[] = {"rest", NULL};
  check_run_figures(dir, "rest", &r, "rest", rest, "logarithmic");
  snprintf(path, sizeof path, "%s/rest/rest.gp", dir);
  gp = slurp(path, NULL);
  CHECK(gp && strstr(gp, "set logscale x") && strstr(gp, "t^{1/2} (h^{1/2})"));
  CHECK(gp && strstr(gp, "rest from 3.5 V"));
  free(gp);
  nimc_result_free(&r);

  /* a charge, then a resistor: voltage, current and power */
  memset(&r, 0, sizeof r);
  push_step(&r, NIMC_STEP_CHARGE, 0, 100, 0, 3.5, 1e-4, 20);
  push_step(&r, NIMC_STEP_LOAD_RESISTOR, 0, 100, 3.5, 0.5, -1e-4, 20);
  const char *load[] = {"load", NULL};
  check_run_figures(dir, "load", &r, "load", load, "power density");
  snprintf(path, sizeof path, "%s/load/load.gp", dir);
  gp = slurp(path, NULL);
  /* at the middle sample (the 11th of 20): 1.85 V over 0.1 mA */
  CHECK(gp && strstr(gp, "load: 18.5 k\316\251 resistor"));
  free(gp);
  nimc_result_free(&r);

  /* a plain GCD, long: decimated to a bounded number of points */
  memset(&r, 0, sizeof r);
  push_step(&r, NIMC_STEP_CHARGE, 0, 1000, 0, 3.5, 1e-4, 10000);
  push_step(&r, NIMC_STEP_DISCHARGE, 0, 1000, 3.5, 0, -1e-4, 10000);
  const char *gcd[] = {"gcd", NULL};
  check_run_figures(dir, "gcd", &r, "gcd", gcd, "voltage (V)");
  snprintf(path, sizeof path, "%s/gcd/gcd.dat", dir);
  pts = data_lines(path, &blocks);
  CHECK(pts <= 4001 && pts >= 3000);
  nimc_result_free(&r);

  /* nothing to draw: no figure, no error */
  memset(&r, 0, sizeof r);
  const char *stems[NIMC_RUN_FIGURES_MAX + 1];
  nimc_run_info info = {NULL, NAN, 0};
  nimc_err err;
  CHECK(nimc_plot_run(&r, &info, dir, stems, &err) == NIMC_OK);
  CHECK(stems[0] == NULL);
  CHECK(nimc_plot_run(NULL, &info, dir, stems, &err) == NIMC_EMISUSE);
}

int main(void) {
  char dir[] = "/tmp/nimc_test_output.XXXXXX";
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  RUN(test_result_helpers);
  RUN(test_summary_json);
  RUN_IN(test_csv_round_trip, dir);
  RUN_IN(test_atomic_failures, dir);
  RUN_IN(test_plot, dir);
  RUN_IN(test_fields_csv, dir);
  RUN_IN(test_plot_fields, dir);
  RUN_IN(test_plot_curves, dir);
  RUN_IN(test_plot_run, dir);
  RUN_IN(test_validation, dir);
  RUN_IN(test_spectra, dir);
  RUN(test_eis_json);
  remove_tree(dir);
  return TEST_REPORT();
}
