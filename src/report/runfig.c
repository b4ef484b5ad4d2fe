/*
 * runfig.c -- the figures of a run (nimc run -o), chosen by technique.
 *
 * Which steps a run made decides what its figures show: a CV is current
 * against voltage, a cycling run retention and efficiency against cycle
 * number, a rest Conway's diagnostic plots, a load voltage, current and
 * power against time, anything else voltage against time.  The techniques
 * are a table, most specific first; a new technique is one row: a test on
 * the run's steps and a function that builds its panels.  The drawing is
 * plot.c's (nimc_plot_panels_text); nothing here writes a file itself.
 *
 * Every curve is decimated to at most MAX_POINTS points and a long cycling
 * run draws its first and last FIRST_LAST cycles only, so a figure stays
 * readable (never a solid block) and its size bounded however long the
 * run.  Units are converted here, at the edge: mA cm^-2 (mA without an
 * area), mW cm^-2, time in s, min or h by the span shown.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/params.h"
#include "nimc/report.h" /* nimc_err_set */

#define MAX_POINTS 4000 /* per curve */
#define MAX_CURVES 8    /* per panel: the palette's colours */
#define FIRST_LAST 3    /* cycles drawn at each end of a long cycling run */
#define NPANEL 3

/* A figure being built: its panels' curves and the arrays they own. */
typedef struct fig {
  const nimc_result *res;
  const nimc_run_info *info;
  double t0_s, t_unit_s; /* time axis: (t - t0) / t_unit */
  double area_cm2;       /* current and power per this (1: absolute) */
  nimc_curve c[NPANEL][MAX_CURVES];
  size_t nc[NPANEL];
  char label[NPANEL][MAX_CURVES][96];
  double *mem[NPANEL * MAX_CURVES];
  size_t nmem;
  char title[400];
} fig;

/* ---- the quantities drawn: sample (or cycle) k of the run ---- */

typedef double (*getter)(const fig *f, size_t k);

static double g_t(const fig *f, size_t k) {
  return (f->res->series.time_s[k] - f->t0_s) / f->t_unit_s;
}
static double g_sqrt_t(const fig *f, size_t k) {
  double t = g_t(f, k);
  return t >= 0.0 ? sqrt(t) : NAN;
}
static double g_v(const fig *f, size_t k) {
  return f->res->series.voltage_V[k];
}
static double g_j(const fig *f, size_t k) { /* mA cm^-2 */
  return 1e3 * f->res->series.current_A[k] / f->area_cm2;
}
static double g_p(const fig *f, size_t k) { /* mW cm^-2, > 0 charging */
  return g_v(f, k) * g_j(f, k);
}
static double g_cycle(const fig *f, size_t k) {
  return f->res->cycles[k].cycle;
}
static double g_retention(const fig *f, size_t k) {
  return 100.0 * f->res->cycles[k].capacitance_retention;
}
static double g_ce(const fig *f, size_t k) {
  return 100.0 * f->res->cycles[k].coulombic_efficiency;
}

/* Add to panel p the curve of points a..b-1 (gx, gy), at most MAX_POINTS
 * of them, evenly strided and the last one kept; 0 or -1 (memory). */
static int add_curve(fig *f, int p, size_t a, size_t b, getter gx, getter gy,
                     const char *label, int color) {
  if (b <= a || f->nc[p] >= MAX_CURVES) return 0;
  size_t n = b - a, stride = (n + MAX_POINTS - 1) / MAX_POINTS;
  size_t m = (n + stride - 1) / stride + 1;
  double *x = malloc(2 * m * sizeof *x);
  if (!x) return -1;
  f->mem[f->nmem++] = x;
  double *y = x + m;
  size_t j = 0;
  for (size_t k = a; k < b; k += stride, j++)
    x[j] = gx(f, k), y[j] = gy(f, k);
  if ((n - 1) % stride) /* the last point */
    x[j] = gx(f, b - 1), y[j] = gy(f, b - 1), j++;
  size_t c = f->nc[p]++;
  snprintf(f->label[p][c], sizeof f->label[p][c], "%s", label ? label : "");
  f->c[p][c] = (nimc_curve){label ? f->label[p][c] : NULL, x, y, j, 0, color};
  return 0;
}

/* ---- what the steps say ---- */

static int is_cc(nimc_step_type t) {
  return t == NIMC_STEP_CHARGE || t == NIMC_STEP_DISCHARGE;
}

/* The samples of executed steps first..last: [*a, *b); 0 when none. */
static int step_samples(const nimc_result *res, int first, int last, size_t *a,
                        size_t *b) {
  const nimc_series *s = &res->series;
  if (!s->step) return 0;
  size_t k = 0;
  while (k < s->n && s->step[k] < first)
    k++;
  *a = k;
  while (k < s->n && s->step[k] <= last)
    k++;
  *b = k;
  return *b > *a;
}

/* |current| of step st in mA (per cm2 with an area), or NaN. */
static double step_j(const fig *f, const nimc_step_result *st) {
  if (!(st->duration_s > 0.0)) return NAN;
  return 1e3 * fabs(st->charge_C) / st->duration_s / f->area_cm2;
}

/* Scan rate of a sweep step, mV/s. */
static double step_rate(const nimc_step_result *st) {
  return st->duration_s > 0.0
             ? 1e3 * fabs(st->v_end_V - st->v_start_V) / st->duration_s
             : NAN;
}

/* Append to list (cap, at most 4 entries) the distinct values of steps of
 * type ok with value fn, "%.3g" each, ", " between. */
static void distinct(const fig *f, int (*ok)(nimc_step_type), int sweep,
                     char *list, size_t cap) {
  double seen[4];
  size_t n = 0, len = 0;
  list[0] = '\0';
  for (size_t k = 0; k < f->res->nsteps && n < 4; k++) {
    const nimc_step_result *st = &f->res->steps[k];
    if (!ok(st->type)) continue;
    double v = sweep ? step_rate(st) : step_j(f, st);
    int dup = !isfinite(v);
    for (size_t i = 0; i < n && !dup; i++)
      dup = fabs(seen[i] - v) <= 1e-3 * fabs(v);
    if (dup) continue;
    seen[n++] = v;
    int w = snprintf(list + len, cap - len, "%s%.3g", len ? ", " : "", v);
    if (w > 0 && (size_t)w < cap - len) len += (size_t)w;
  }
}

static int is_sweep(nimc_step_type t) {
  return t == NIMC_STEP_SWEEP;
}

/* The title: "DEVICE: WHAT, T degC". */
static void set_title(fig *f, const char *what) {
  char dev[160] = "", temp[48] = "";
  if (f->info->device) nimc_plot_escape(f->info->device, dev, sizeof dev);
  if (isfinite(f->info->temperature_C))
    snprintf(temp, sizeof temp, ", %.4g \302\260C", f->info->temperature_C);
  snprintf(f->title, sizeof f->title, "%s%s%s%s", dev, dev[0] ? ": " : "", what,
           temp);
}

/* The unit of current and power: per cm2 with an area. */
static const char *j_unit(const fig *f) {
  return f->info->area_m2 > 0 ? "mA cm^{-2}" : "mA";
}

/* A time axis for a span of span_s: unit and its name. */
static const char *time_unit(fig *f, double span_s) {
  if (span_s > 3 * 3600.0) {
    f->t_unit_s = 3600.0;
    return "h";
  }
  if (span_s > 3 * 60.0) {
    f->t_unit_s = 60.0;
    return "min";
  }
  f->t_unit_s = 1.0;
  return "s";
}

/* ---- the techniques ---- */

static int any_step(const nimc_result *r, int (*ok)(nimc_step_type)) {
  for (size_t k = 0; k < r->nsteps; k++)
    if (ok(r->steps[k].type)) return 1;
  return 0;
}

static int is_load(nimc_step_type t) {
  return t == NIMC_STEP_CHARGE_POWER || t == NIMC_STEP_DISCHARGE_POWER ||
         t == NIMC_STEP_LOAD_RESISTOR || t == NIMC_STEP_LOAD_LED;
}

/* The last rest after a step that charged the device; -1 when none. */
static long charged_rest(const nimc_result *r) {
  long found = -1;
  for (size_t k = 1; k < r->nsteps; k++)
    if (r->steps[k].type == NIMC_STEP_REST && r->steps[k - 1].charge_C > 0.0)
      found = (long)k;
  return found;
}

static int detect_cv(const nimc_result *r) {
  return any_step(r, is_sweep);
}
/* Two or more cycles with something to draw (a cycle without a
 * constant-current charge and discharge has neither retention nor
 * efficiency: its run is drawn as what its steps are). */
static int detect_cycling(const nimc_result *r) {
  size_t n = 0;
  for (size_t k = 0; k < r->ncycles; k++)
    n += isfinite(r->cycles[k].capacitance_retention) ||
         isfinite(r->cycles[k].coulombic_efficiency);
  return n >= 2;
}
static int detect_load(const nimc_result *r) {
  return any_step(r, is_load);
}
static int detect_rest(const nimc_result *r) {
  return charged_rest(r) >= 0;
}
static int detect_gcd(const nimc_result *r) {
  return r != NULL;
}

/* Each draw function fills f's panels (npanel of them) and names the
 * figure; it returns 0, -1 (memory), or 1 when there is nothing to draw. */

/* gcd: voltage against time, the whole run. */
static int build_gcd(fig *f, size_t *npanel, const char **stem) {
  const nimc_series *s = &f->res->series;
  char list[96], what[160];
  if (s->n < 2) return 1;
  *stem = "gcd";
  *npanel = 1;
  f->t0_s = s->time_s[0];
  time_unit(f, s->time_s[s->n - 1] - f->t0_s);
  distinct(f, is_cc, 0, list, sizeof list);
  snprintf(what, sizeof what, "GCD%s%s%s%s", list[0] ? " at " : "", list,
           list[0] ? " " : "", list[0] ? j_unit(f) : "");
  set_title(f, what);
  return add_curve(f, 0, 0, s->n, g_t, g_v, NULL, 1);
}

/* gcd of a cycling run: voltage against the time in the cycle, the first
 * and last FIRST_LAST cycles (all of them when there are few). */
static int build_cycles_gcd(fig *f, size_t *npanel, const char **stem) {
  const nimc_result *r = f->res;
  char list[96], what[200];
  if (r->series.n < 2) return 1;
  *stem = "gcd";
  *npanel = 1;
  double span = 0.0;
  for (size_t k = 0; k < r->ncycles; k++)
    span = fmax(span, r->cycles[k].duration_s);
  time_unit(f, span);
  for (size_t k = 0; k < r->ncycles; k++) {
    if (r->ncycles > 2 * FIRST_LAST && k >= FIRST_LAST &&
        k + FIRST_LAST < r->ncycles)
      continue;
    const nimc_cycle_result *c = &r->cycles[k];
    size_t a, b;
    if (!step_samples(r, c->first_step, c->first_step + c->nsteps - 1, &a, &b))
      continue;
    char label[32];
    snprintf(label, sizeof label, "cycle %d", c->cycle);
    f->t0_s = c->t_start_s;
    if (add_curve(f, 0, a, b, g_t, g_v, label, 0)) return -1;
  }
  distinct(f, is_cc, 0, list, sizeof list);
  snprintf(what, sizeof what, "GCD%s%s%s%s, %zu cycles%s",
           list[0] ? " at " : "", list, list[0] ? " " : "",
           list[0] ? j_unit(f) : "", r->ncycles,
           r->ncycles > 2 * FIRST_LAST ? " (first and last 3 shown)" : "");
  set_title(f, what);
  return f->nc[0] ? 0 : 1;
}

/* cycling: retention and coulombic efficiency against cycle number. */
static int build_cycling(fig *f, size_t *npanel, const char **stem) {
  const nimc_result *r = f->res;
  char what[200], list[96];
  if (r->ncycles < 1) return 1;
  *stem = "cycling";
  *npanel = 2;
  if (add_curve(f, 0, 0, r->ncycles, g_cycle, g_retention, NULL, 1) ||
      add_curve(f, 1, 0, r->ncycles, g_cycle, g_ce, NULL, 2))
    return -1;
  distinct(f, is_cc, 0, list, sizeof list);
  snprintf(what, sizeof what, "cycling%s%s%s%s, %zu cycles",
           list[0] ? " at " : "", list, list[0] ? " " : "",
           list[0] ? j_unit(f) : "", r->ncycles);
  set_title(f, what);
  return 0;
}

/* cv: current against voltage, one curve per cycle of the Repeat and per
 * scan rate; with more than MAX_CURVES, each rate's first and last. */
static int build_cv(fig *f, size_t *npanel, const char **stem) {
  const nimc_result *r = f->res;
  typedef struct group {
    int first, last, cycle;
    double rate;
  } group;
  group g[64];
  size_t ng = 0;
  char list[96], what[200];
  if (r->series.n < 2) return 1;
  *stem = "cv";
  *npanel = 1;
  for (size_t k = 0; k < r->nsteps; k++) { /* runs of sweeps */
    const nimc_step_result *st = &r->steps[k];
    if (st->type != NIMC_STEP_SWEEP) continue;
    double v = step_rate(st);
    group *last = ng ? &g[ng - 1] : NULL;
    if (last && last->last + 1 == st->index && last->cycle == st->cycle &&
        fabs(last->rate - v) <= 1e-3 * v) {
      last->last = st->index;
    } else {
      if (ng == 64) { /* keep the first half and the latest: drop one */
        memmove(g + 32, g + 33, 31 * sizeof *g);
        ng--;
      }
      g[ng++] = (group){st->index, st->index, st->cycle, v};
    }
  }
  /* more than MAX_CURVES: each rate's first and last few, shared out */
  size_t nrates = 0;
  for (size_t k = 0; k < ng; k++)
    nrates += !k || fabs(g[k - 1].rate - g[k].rate) > 1e-3 * g[k].rate;
  size_t keep = nrates ? MAX_CURVES / nrates / 2 : 1;
  keep = keep < 1 ? 1 : keep > FIRST_LAST ? FIRST_LAST : keep;
  for (size_t k = 0; k < ng; k++) {
    size_t before = 0, after = 0; /* groups of the same rate around k */
    while (before < k &&
           fabs(g[k - before - 1].rate - g[k].rate) <= 1e-3 * g[k].rate)
      before++;
    while (k + after + 1 < ng &&
           fabs(g[k + after + 1].rate - g[k].rate) <= 1e-3 * g[k].rate)
      after++;
    if (ng > MAX_CURVES && before >= keep && after >= keep) continue;
    size_t a, b;
    if (!step_samples(r, g[k].first, g[k].last, &a, &b)) continue;
    char label[64];
    snprintf(label, sizeof label, "%.3g mV s^{-1}, cycle %d", g[k].rate,
             g[k].cycle + 1);
    if (add_curve(f, 0, a, b, g_v, g_j, label, 0)) return -1;
  }
  distinct(f, is_sweep, 1, list, sizeof list);
  snprintf(what, sizeof what, "CV at %s mV s^{-1}", list);
  set_title(f, what);
  return f->nc[0] ? 0 : 1;
}

/* rest: the last rest after a charge, voltage against t, log t, t^1/2
 * from its start (Conway). */
static int build_rest(fig *f, size_t *npanel, const char **stem) {
  const nimc_result *r = f->res;
  long k = charged_rest(r);
  size_t a, b;
  char what[160];
  if (k < 0 || !step_samples(r, (int)k, (int)k, &a, &b) || b - a < 2) return 1;
  *stem = "rest";
  *npanel = 3;
  f->t0_s = r->series.time_s[a];
  time_unit(f, r->series.time_s[b - 1] - f->t0_s);
  for (int p = 0; p < 3; p++)
    if (add_curve(f, p, a, b, p == 2 ? g_sqrt_t : g_t, g_v, NULL, p + 1))
      return -1;
  snprintf(what, sizeof what, "rest from %.4g V after a charge",
           r->steps[k].v_start_V);
  set_title(f, what);
  return 0;
}

/* load: voltage, current and power against time, the whole run. */
static int build_load(fig *f, size_t *npanel, const char **stem) {
  const nimc_series *s = &f->res->series;
  if (s->n < 2) return 1;
  *stem = "load";
  *npanel = 3;
  f->t0_s = s->time_s[0];
  time_unit(f, s->time_s[s->n - 1] - f->t0_s);
  getter gy[3] = {g_v, g_j, g_p};
  for (int p = 0; p < 3; p++)
    if (add_curve(f, p, 0, s->n, g_t, gy[p], NULL, p + 1)) return -1;
  /* the condition: the first load's resistance or power, read at the
   * middle of its samples (the steps do not record their set-points) */
  char what[160] = "load";
  for (size_t k = 0; k < f->res->nsteps; k++) {
    const nimc_step_result *st = &f->res->steps[k];
    size_t a, b;
    if (!is_load(st->type) ||
        !step_samples(f->res, st->index, st->index, &a, &b))
      continue;
    size_t m = a + (b - a) / 2;
    double v = s->voltage_V[m], i = s->current_A[m];
    if (st->type == NIMC_STEP_LOAD_RESISTOR && i < 0.0)
      snprintf(what, sizeof what, "load: %.3g k\316\251 resistor",
               -v / i * 1e-3);
    else if (st->type == NIMC_STEP_LOAD_LED)
      snprintf(what, sizeof what, "load: LED");
    else if (st->type != NIMC_STEP_LOAD_RESISTOR)
      snprintf(what, sizeof what, "load: constant power %.3g mW%s",
               fabs(g_p(f, m)), f->info->area_m2 > 0 ? " cm^{-2}" : "");
    break;
  }
  set_title(f, what);
  return 0;
}

/* The axis labels of panel p of the figure stem. */
static void axes_of(const fig *f, const char *stem, size_t p, char *xl,
                    char *yl, size_t cap, int *logx) {
  const char *tu = f->t_unit_s == 3600.0 ? "h"
                   : f->t_unit_s == 60.0 ? "min"
                                         : "s";
  int area = f->info->area_m2 > 0;
  *logx = 0;
  if (!strcmp(stem, "cv")) {
    snprintf(xl, cap, "voltage (V)");
    snprintf(yl, cap, "current%s (%s)", area ? " density" : "", j_unit(f));
  } else if (!strcmp(stem, "cycling")) {
    snprintf(xl, cap, "cycle number");
    snprintf(yl, cap,
             p ? "coulombic efficiency (%%)" : "capacitance retention (%%)");
  } else if (!strcmp(stem, "rest")) {
    *logx = p == 1;
    snprintf(xl, cap, p == 2 ? "t^{1/2} (%s^{1/2})" : "time t (%s)%s", tu,
             p == 1 ? ", logarithmic" : "");
    snprintf(yl, cap, "voltage (V)");
  } else if (!strcmp(stem, "load")) {
    snprintf(xl, cap, "time (%s)", tu);
    static const char *const y[2][3] = {
        {"voltage (V)", "current (mA), > 0 charging",
         "power (mW), > 0 charging"},
        {"voltage (V)", "current density (mA cm^{-2}), > 0 charging",
         "power density (mW cm^{-2}), > 0 charging"}};
    snprintf(yl, cap, "%s", y[area][p]);
  } else { /* gcd */
    snprintf(xl, cap, f->nc[0] > 1 ? "time in the cycle (%s)" : "time (%s)",
             tu);
    snprintf(yl, cap, "voltage (V)");
  }
}

typedef int (*build_fn)(fig *f, size_t *npanel, const char **stem);

static const struct technique {
  const char *name;
  int (*detect)(const nimc_result *r);
  build_fn build[2]; /* its figures; NULL ends */
} techniques[] = {
    {"cv", detect_cv, {build_cv, NULL}},
    {"cycling", detect_cycling, {build_cycling, build_cycles_gcd}},
    {"load", detect_load, {build_load, NULL}},
    {"rest", detect_rest, {build_rest, NULL}},
    {"gcd", detect_gcd, {build_gcd, NULL}},
};

static const struct technique *technique_of(const nimc_result *r) {
  size_t n = sizeof techniques / sizeof techniques[0];
  for (size_t k = 0; k + 1 < n; k++)
    if (techniques[k].detect(r)) return &techniques[k];
  return &techniques[n - 1];
}

const char *nimc_run_technique(const nimc_result *res) {
  return res ? technique_of(res)->name : NULL;
}

void nimc_plot_escape(const char *text, char *buf, size_t cap) {
  size_t n = 0;
  if (!cap) return;
  for (; text && *text && n + 2 < cap; text++) {
    if (strchr("^_@&~{}\\", *text)) buf[n++] = '\\';
    buf[n++] = *text;
  }
  buf[n] = '\0';
}

/* Build and draw one figure; its stem into *stem (NULL when nothing was
 * drawn). */
static int draw_one(build_fn build, const nimc_result *res,
                    const nimc_run_info *info, const char *dir,
                    const char **stem, nimc_err *err) {
  fig *f = calloc(1, sizeof *f);
  if (!f) return nimc_err_set(err, NIMC_ENOMEM, "out of memory");
  f->res = res;
  f->info = info;
  f->t_unit_s = 1.0;
  f->area_cm2 = info->area_m2 > 0 ? info->area_m2 * 1e4 : 1.0;
  size_t np = 0;
  const char *name = NULL;
  int rc = NIMC_OK, b = build(f, &np, &name);
  if (b < 0) {
    rc = nimc_err_set(err, NIMC_ENOMEM, "out of memory");
  } else if (b == 0) {
    static const size_t cap = 96;
    char xl[NPANEL][96], yl[NPANEL][96];
    nimc_panel p[NPANEL];
    for (size_t q = 0; q < np; q++) {
      int logx;
      axes_of(f, name, q, xl[q], yl[q], cap, &logx);
      p[q] = (nimc_panel){f->c[q], f->nc[q], {xl[q], yl[q], NULL, logx, 0, 0}};
    }
    if (np == 1) p[0].axes.title = f->title;
    rc = nimc_plot_panels_text(p, np, np > 1 ? f->title : NULL, 1, dir, name,
                               err);
    if (!rc) *stem = name;
  }
  for (size_t k = 0; k < f->nmem; k++)
    free(f->mem[k]);
  free(f);
  return rc;
}

int nimc_plot_run(const nimc_result *res, const nimc_run_info *info,
                  const char *dir, const char **stems, nimc_err *err) {
  if (!res || !info || !dir || !stems)
    return nimc_err_set(err, NIMC_EMISUSE, "nimc_plot_run: NULL argument");
  const struct technique *t = technique_of(res);
  size_t n = 0;
  stems[0] = NULL;
  for (size_t k = 0; k < 2 && t->build[k]; k++) {
    const char *stem = NULL;
    int rc = draw_one(t->build[k], res, info, dir, &stem, err);
    if (rc) return rc;
    if (stem) stems[n++] = stem;
    stems[n] = NULL;
  }
  return NIMC_OK;
}
