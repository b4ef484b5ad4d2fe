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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/result.h"
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
  nimc_step_result st = {NIMC_STEP_HOLD,  0, 0, 1.0, 2.0, 3.0, 0.1, 0.2,
                         NIMC_END_CURRENT};
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

  /* the temporary's name is taken by a directory: the write fails, the
   * old file stays */
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
  CHECK(mkdir(tmp, 0700) == 0);
  CHECK(nimc_write_atomic(path, "new\n", 4, &err) == NIMC_EIO);
  CHECK(err.code == NIMC_EIO);
  CHECK_CONTAINS(err.msg, path);
  char *text = slurp(path, NULL);
  CHECK(text && !strcmp(text, "old\n"));
  free(text);
  rmdir(tmp);

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
    fprintf(stderr, "skipped: unwritable-directory check (running as "
                    "root)\n");
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
                         NIMC_END_VOLTAGE};
  CHECK(nimc_result_push_step(&r, &st) == NIMC_OK);
  st = (nimc_step_result){NIMC_STEP_DISCHARGE, 1, 2, 90.0, -9e-4, NAN, 3.4, 0.0,
                          NIMC_END_TIME};
  CHECK(nimc_result_push_step(&r, &st) == NIMC_OK);
  nimc_metrics m = {.have_discharge = 1,
                    .have_cycle = 1,
                    .ncycles = 1,
                    .capacitance_F = 2.5e-3,
                    .capacitance_areal_mF_cm2 = 1.25,
                    .capacitance_volumetric_F_cm3 = NAN,
                    .energy_J = 3e-3,
                    .energy_volumetric_mWh_cm3 = NAN,
                    .energy_areal_uWh_cm2 = INFINITY,
                    .power_W = 1e-4,
                    .power_volumetric_W_cm3 = NAN,
                    .power_areal_mW_cm2 = 5e-4,
                    .esr_ohm = 12.0,
                    .coulombic_efficiency = 0.98,
                    .capacitance_retention = NAN,
                    .discharge_time_s = 90.0,
                    .discharge_current_A = 1e-4};
  nimc_solver_stats ss = {120, 400, 30, 30, 250, 3, 1, 0, 5000, 70000};
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
    CHECK(cJSON_GetArraySize(mj) == 9);
    cJSON *sj = cJSON_GetObjectItem(j, "solver");
    CHECK(cJSON_GetArraySize(sj) == 9);
    CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(sj, "residual_evals")) ==
          400);
    CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(sj, "jacobian_nonzeros")) ==
          70000);
    CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(sj, "unknowns")) == 5000);
  }
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

static void test_validation(const char *dir) {
  const nimc_validation_row rows[] = {
      {"cv_0.1", "volumetric capacitance at 0.1 mA/cm2", "F/cm3", 19.5, 17.0},
      {"cv_0.2", "capacitance at 0.2 mA/cm2, \"covered\"", "F/cm3", 13.7, NAN},
      {"zero", "a paper value of 0", "1", 0.0, 1.0}};
  CHECK_REL(nimc_validation_rel_error(&rows[0]), (17.0 - 19.5) / 19.5, 1e-15);
  CHECK(isnan(nimc_validation_rel_error(&rows[1])));
  CHECK(isnan(nimc_validation_rel_error(&rows[2])));
  CHECK(isnan(nimc_validation_rel_error(NULL)));

  nimc_summary sum = {.device = "NTO//AG-NIMC",
                      .temperature_C = 25.0,
                      .validation = rows,
                      .nvalidation = 3};
  char *text = NULL;
  nimc_err err;
  CHECK(nimc_summary_json(&sum, &text, &err) == NIMC_OK);
  cJSON *j = cJSON_Parse(text);
  CHECK(j != NULL);
  cJSON *v = cJSON_GetObjectItem(j, "validation");
  CHECK(cJSON_IsArray(v) && cJSON_GetArraySize(v) == 3);
  cJSON *r0 = cJSON_GetArrayItem(v, 0), *r1 = cJSON_GetArrayItem(v, 1);
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
  CHECK(nimc_validation_write_csv(rows, 3, path, &err) == NIMC_OK);
  text = slurp(path, NULL);
  CHECK(text &&
        !strcmp(text, "id,quantity,unit,paper,model,rel_error\n"
                      "cv_0.1,volumetric capacitance at 0.1 mA/cm2,F/cm3,"
                      "19.5,17,-0.1282051282\n"
                      "cv_0.2,\"capacitance at 0.2 mA/cm2, \"\"covered\"\"\","
                      "F/cm3,13.7,,\n"
                      "zero,a paper value of 0,1,0,1,\n"));
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
  RUN_IN(test_validation, dir);
  remove_tree(dir);
  return TEST_REPORT();
}
