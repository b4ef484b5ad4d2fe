/*
 * test_analyze.c -- the metrics of measured data (analysis/echem.c) and
 * the measured-data layer (io/data_read.c), on data whose answers are
 * known in closed form:
 *
 *  - an ideal capacitor C = 1 mF behind R = 10 ohm cycled at +-1 mA:
 *    capacitance from the charge balance, the slope and the integral all
 *    C, ESR R, coulombic efficiency 1, energies the exact integrals;
 *  - a non-linear (battery-like) discharge V = 1 + (1 - t/T)^2 at
 *    constant current, where the three capacitances differ as computed by
 *    hand;
 *  - the CV of an ideal RC (the capacitance recovered), the b-value of
 *    peaks proportional to v^0.75, Dunn's split of i = k1 v + k2 v^1/2;
 *  - the self-discharge V0 exp(-t / tau) (time to 0.6 V0 = tau ln(1/0.6))
 *    and Conway's two fits on a log and a square-root decay;
 *  - CSV files read into SI columns, and every error located.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nimc/nimc.h"
#include "testlib.h"

#define REAL_DIR "../shared/data/real/eclab"

/* A growable series of (t, V, I). */
typedef struct tvi {
  size_t n, cap;
  double *t, *v, *i;
} tvi;

static void push(tvi *s, double t, double v, double i) {
  if (s->n == s->cap) {
    s->cap = s->cap ? 2 * s->cap : 1024;
    s->t = realloc(s->t, s->cap * sizeof *s->t);
    s->v = realloc(s->v, s->cap * sizeof *s->v);
    s->i = realloc(s->i, s->cap * sizeof *s->i);
    if (!s->t || !s->v || !s->i) abort();
  }
  s->t[s->n] = t;
  s->v[s->n] = v;
  s->i[s->n] = i;
  s->n++;
}

static void tvi_free(tvi *s) {
  free(s->t);
  free(s->v);
  free(s->i);
  memset(s, 0, sizeof *s);
}

/* ---- GCD ---- */

/* C in series with R at +-I between 0 and vmax on the capacitor, ncyc
 * cycles; the switch sampled twice at one time. */
static void ideal_rc_gcd(tvi *s, double C, double R, double I, double vmax,
                         int ncyc, int per_half) {
  double th = C * vmax / I, t0 = 0;
  for (int c = 0; c < ncyc; c++) {
    for (int k = 0; k <= per_half; k++) {
      double t = th * k / per_half;
      push(s, t0 + t, I * t / C + I * R, I);
    }
    t0 += th;
    for (int k = 0; k <= per_half; k++) {
      double t = th * k / per_half;
      push(s, t0 + t, vmax - I * t / C - I * R, -I);
    }
    t0 += th;
  }
}

static void test_ideal_capacitor(void) {
  const double C = 1e-3, R = 10, I = 1e-3, vmax = 0.8;
  tvi s = {0};
  ideal_rc_gcd(&s, C, R, I, vmax, 2, 80);
  nimc_gcd_cycle *cy = NULL;
  size_t nc = 0;
  nimc_err err;
  CHECK(nimc_gcd_cycles(s.t, s.v, s.i, NULL, s.n, 0, &cy, &nc, &err) == 0);
  CHECK(nc == 2);
  for (size_t k = 0; k < nc; k++) {
    CHECK(cy[k].index == (int)k + 1);
    CHECK_REL(cy[k].capacitance_F, C, 1e-12);
    CHECK_REL(cy[k].capacitance_slope_F, C, 1e-9);
    CHECK_REL(cy[k].capacitance_integral_F, C, 1e-9);
    CHECK_REL(cy[k].esr_ohm, R, 1e-9);
    CHECK_REL(cy[k].coulombic_efficiency, 1.0, 1e-12);
    CHECK_REL(cy[k].charge_C, C * vmax, 1e-12);
    CHECK_REL(cy[k].discharge_C, C * vmax, 1e-12);
    /* E = I int (Vc -+ I R) dt = C vmax^2 / 2 -+ I R C vmax */
    double ed = C * vmax * vmax / 2 - I * R * C * vmax;
    double ec = C * vmax * vmax / 2 + I * R * C * vmax;
    CHECK_REL(cy[k].energy_discharge_J, ed, 1e-12);
    CHECK_REL(cy[k].energy_charge_J, ec, 1e-12);
    CHECK_REL(cy[k].energy_efficiency, ed / ec, 1e-12);
    CHECK_REL(cy[k].power_W, ed / (C * vmax / I), 1e-12);
    CHECK_REL(cy[k].v_start_V, vmax - I * R, 1e-12);
    CHECK_REL(cy[k].retention, 1.0, 1e-12);
    CHECK(cy[k].file_cycle == -1);
  }
  free(cy);
  tvi_free(&s);
}

/* V = 1 + (1 - t/T)^2 at I = -1 mA for T = 100 s: Q = 0.1 C over dV = 1 V
 * (C = 0.1 F), E = I T (1 + 1/3) (C_int = 2E / (2^2 - 1^2) = 0.0889 F),
 * and the slope over V in [1.1, 1.9] is dV/dt at the window's middle
 * time (a quadratic's least-squares slope over equispaced points). */
static void test_nonlinear_discharge(void) {
  const double T = 100, I = 1e-3;
  const int N = 10000;
  tvi s = {0};
  for (int k = 0; k <= N; k++) {
    double t = T * k / N, u = 1 - t / T;
    push(&s, t, 1 + u * u, -I);
  }
  nimc_gcd_cycle *cy = NULL;
  size_t nc = 0;
  nimc_err err;
  CHECK(nimc_gcd_cycles(s.t, s.v, s.i, NULL, s.n, 0, &cy, &nc, &err) == 0);
  CHECK(nc == 1);
  if (nc == 1) {
    CHECK(cy[0].index == 0); /* no charge before it */
    CHECK(isnan(cy[0].coulombic_efficiency) && isnan(cy[0].charge_C));
    CHECK(isnan(cy[0].esr_ohm) && isnan(cy[0].retention));
    CHECK_REL(cy[0].capacitance_F, 0.1, 1e-9);
    double e = I * T * 4.0 / 3.0;
    CHECK_REL(cy[0].energy_discharge_J, e, 1e-7);
    CHECK_REL(cy[0].capacitance_integral_F, 2 * e / 3.0, 1e-7);
    /* the counter rule, |I| V at the right end of each of the N intervals
     * of T / N, is the trapezoid plus |I| (T / N) / 2 times the change of
     * V (-1 V): the default is the trapezoid, both are kept, and
     * nimc_gcd_cycles_set_energy_rule moves between them */
    double ec = e - I * (T / N) / 2.0;
    CHECK(cy[0].energy_rule == NIMC_ENERGY_TRAPEZOID);
    CHECK(cy[0].energy_discharge_trapezoid_J == cy[0].energy_discharge_J);
    CHECK_REL(cy[0].energy_discharge_counter_J, ec, 1e-8);
    CHECK(nimc_gcd_cycles_set_energy_rule(cy, nc, NIMC_ENERGY_COUNTER,
                                          &err) == 0);
    CHECK(cy[0].energy_rule == NIMC_ENERGY_COUNTER);
    CHECK_REL(cy[0].energy_discharge_J, ec, 1e-8);
    CHECK_REL(cy[0].capacitance_integral_F, 2 * ec / 3.0, 1e-8);
    CHECK_REL(cy[0].power_W, ec / T, 1e-8);
    CHECK_REL(cy[0].capacitance_F, 0.1, 1e-9); /* not an energy: unchanged */
    CHECK(nimc_gcd_cycles_set_energy_rule(cy, nc, (nimc_energy_rule)7,
                                          &err) == NIMC_EINPUT);
    CHECK(cy[0].energy_rule == NIMC_ENERGY_COUNTER); /* left unchanged */
    CHECK(nimc_gcd_cycles_set_energy_rule(cy, nc, NIMC_ENERGY_TRAPEZOID,
                                          &err) == 0);
    CHECK_REL(cy[0].energy_discharge_J, e, 1e-7);
    CHECK(!strcmp(nimc_energy_rule_name(NIMC_ENERGY_COUNTER), "counter"));
    CHECK(nimc_energy_rule_of("trapezoid") == NIMC_ENERGY_TRAPEZOID);
    CHECK(nimc_energy_rule_of("Counter") == -1 && !nimc_energy_rule_name(2));
    /* the window: u^2 in [0.1, 0.9], u = 1 - t/T */
    double t1 = T * (1 - sqrt(0.9)), t2 = T * (1 - sqrt(0.1));
    double um = 1 - 0.5 * (t1 + t2) / T, slope = 2 * um / T;
    CHECK_REL(cy[0].capacitance_slope_F, I / slope, 1e-3);
    /* the three differ: the curve is not a capacitor's */
    CHECK(fabs(cy[0].capacitance_slope_F / cy[0].capacitance_F - 1) > 0.1);
    CHECK(fabs(cy[0].capacitance_integral_F / cy[0].capacitance_F - 1) > 0.05);
  }
  free(cy);
  tvi_free(&s);
}

static void test_gcd_failures(void) {
  tvi s = {0};
  for (int k = 0; k < 10; k++)
    push(&s, k, 1.0 + 0.1 * k, 1e-3);
  nimc_gcd_cycle *cy = NULL;
  size_t nc = 0;
  nimc_err err;
  CHECK(nimc_gcd_cycles(s.t, s.v, s.i, NULL, s.n, 0, &cy, &nc, &err) ==
        NIMC_EANALYSIS);
  CHECK_CONTAINS(err.msg, "no discharge");
  CHECK(cy == NULL && nc == 0);
  push(&s, 10, 1.5, -1e-3); /* one discharge sample: not full */
  CHECK(nimc_gcd_cycles(s.t, s.v, s.i, NULL, s.n, 0, &cy, &nc, &err) ==
        NIMC_EANALYSIS);
  CHECK_CONTAINS(err.msg, "no full discharge");
  s.t[3] = 1.0; /* time goes backwards */
  CHECK(nimc_gcd_cycles(s.t, s.v, s.i, NULL, s.n, 0, &cy, &nc, &err) ==
        NIMC_EDATA);
  CHECK_CONTAINS(err.msg, "sample 4");
  tvi_free(&s);
}

static void test_segments(void) {
  /* charge, a noisy rest (below 1 % of max|I|), discharge */
  double i[] = {1, 1, 1, 1e-4, -2e-3, 0, -1, -1, -1};
  nimc_span *sg = NULL;
  size_t n = 0;
  nimc_err err;
  CHECK(nimc_segments_find(i, 9, 0, &sg, &n, &err) == 0);
  CHECK(n == 3);
  if (n == 3) {
    CHECK(sg[0].sign == 1 && sg[0].a == 0 && sg[0].b == 2);
    CHECK(sg[1].sign == 0 && sg[1].a == 3 && sg[1].b == 5);
    CHECK(sg[2].sign == -1 && sg[2].a == 6 && sg[2].b == 8);
  }
  free(sg);
  CHECK(nimc_segments_find(i, 9, 1e-6, &sg, &n, &err) == 0);
  CHECK(n == 4); /* a finer threshold sees the noise: +, -, 0, - */
  free(sg);
}

/* ---- CV ---- */

/* An ideal RC driven by a triangle 0 .. vmax at rate v from Vc = 0, the
 * capacitor's voltage advanced exactly over each step. */
static void ideal_rc_cv(tvi *s, double C, double R, double v, double vmax,
                        int ncyc, double dt) {
  double tau = R * C, vc = 0, t = 0, V = 0;
  int up = 1;
  double th = vmax / v;
  long steps = lround(2 * ncyc * th / dt);
  push(s, 0, 0, 0);
  for (long k = 1; k <= steps; k++) {
    double sr = up ? v : -v;
    double V1 = V + sr * dt;
    vc = V1 - sr * tau + (vc - V + sr * tau) * exp(-dt / tau);
    V = V1;
    t = (double)k * dt;
    push(s, t, V, (V - vc) / R);
    if (up && V >= vmax - 1e-12)
      up = 0;
    else if (!up && V <= 1e-12)
      up = 1;
  }
}

static void test_cv_ideal_rc(void) {
  const double C = 1e-3, R = 10, v = 0.1;
  tvi s = {0};
  ideal_rc_cv(&s, C, R, v, 1.0, 3, 0.01);
  nimc_cv_cycle *cy = NULL;
  size_t nc = 0;
  nimc_err err;
  CHECK(nimc_cv_cycles(s.t, s.v, s.i, s.n, &cy, &nc, &err) == 0);
  CHECK(nc == 3);
  if (nc >= 2) {
    nimc_cv_cycle *c = &cy[nc - 1];
    CHECK_REL(c->capacitance_F, C, 5e-3);
    CHECK_REL(c->scan_rate_V_s, v, 1e-9);
    CHECK_REL(c->v_max_V - c->v_min_V, 1.0, 1e-9);
    CHECK_REL(c->peak_anodic_A, v * C, 1e-3);
    CHECK_REL(c->peak_cathodic_A, -v * C, 1e-3);
  }
  free(cy);
  /* one sweep is no cycle */
  CHECK(nimc_cv_cycles(s.t, s.v, s.i, 101, &cy, &nc, &err) == NIMC_EANALYSIS);
  CHECK_CONTAINS(err.msg, "no full cycle");
  tvi_free(&s);
}

static void test_b_value(void) {
  double v[] = {1e-3, 1e-2, 1e-1, 1.0}, ip[4];
  for (int k = 0; k < 4; k++)
    ip[k] = 3e-3 * pow(v[k], 0.75);
  double b = 0, r2 = 0;
  nimc_err err;
  CHECK(nimc_cv_b_value(v, ip, 4, &b, &r2, &err) == 0);
  CHECK_REL(b, 0.75, 1e-12);
  CHECK_REL(r2, 1.0, 1e-12);
  for (int k = 0; k < 4; k++) /* cathodic peaks: their magnitude counts */
    ip[k] = -ip[k];
  CHECK(nimc_cv_b_value(v, ip, 4, &b, &r2, &err) == 0);
  CHECK_REL(b, 0.75, 1e-12);
  CHECK(nimc_cv_b_value(v, ip, 1, &b, &r2, &err) == NIMC_EINPUT);
  double same[] = {0.1, 0.1};
  CHECK(nimc_cv_b_value(same, ip, 2, &b, &r2, &err) == NIMC_EINPUT);
  CHECK_CONTAINS(err.msg, "two different scan rates");
}

static double k1_of(double V) {
  return 1e-3 * (1 + V);
}
static double k2_of(double V) {
  return 2e-4 * sin(3.14159265358979323846 * V) + 1e-4;
}

static void test_dunn(void) {
  enum { NR = 4, NS = 401, NG = 21 };
  double rate[NR] = {1e-3, 5e-3, 2e-2, 1e-1};
  double vs[NR][NS], is[NR][NS];
  const double *vp[NR], *ip[NR];
  size_t n[NR];
  for (int k = 0; k < NR; k++) {
    for (int j = 0; j < NS; j++) {
      double V = 1.0 * j / (NS - 1);
      vs[k][j] = V;
      is[k][j] = k1_of(V) * rate[k] + k2_of(V) * sqrt(rate[k]);
    }
    vp[k] = vs[k];
    ip[k] = is[k];
    n[k] = NS;
  }
  double vg[NG], k1[NG], k2[NG], frac[NR];
  nimc_err err;
  CHECK(nimc_cv_dunn(vp, ip, n, rate, NR, NG, vg, k1, k2, frac, &err) == 0);
  for (int g = 0; g < NG; g++) {
    CHECK_REL(k1[g], k1_of(vg[g]), 1e-4);
    CHECK_REL(k2[g], k2_of(vg[g]), 1e-4);
  }
  /* the capacitive fraction at each rate, by the trapezoid rule on a
   * fine grid */
  for (int k = 0; k < NR; k++) {
    double a = 0, b = 0;
    for (int j = 0; j <= 2000; j++) {
      double V = j / 2000.0, w = j == 0 || j == 2000 ? 0.5 : 1;
      a += w * k1_of(V) * rate[k];
      b += w * (k1_of(V) * rate[k] + k2_of(V) * sqrt(rate[k]));
    }
    CHECK_REL(frac[k], a / b, 2e-3);
  }
  CHECK(frac[NR - 1] > frac[0]); /* capacitive at fast sweeps */
  CHECK(nimc_cv_dunn(vp, ip, n, rate, 1, NG, vg, k1, k2, frac, &err) ==
        NIMC_EINPUT);
  double same[NR] = {1e-3, 1e-3, 2e-2, 1e-1};
  CHECK(nimc_cv_dunn(vp, ip, n, same, NR, NG, vg, k1, k2, frac, &err) ==
        NIMC_EINPUT);
  CHECK_CONTAINS(err.msg, "same scan rate");
}

/* ---- rest ---- */

/* A sweep at nu over an exponential oxidation current a exp((V - 5 V) / b)
 * plus a capacitive C nu: the onset at I_t is V = 5 V + b ln((I_t - C nu)
 * / a),
 * found by interpolation between samples 0.1 mV apart; a falling sweep
 * with the mirrored (negative) current gives the same voltage; the
 * failures are provoked. */
static void test_lsv_onset(void) {
  const double a = 1e-5, b = 0.06, C = 1e-5, nu = 2e-3, thr = 2e-5;
  const int N = 22000; /* 3 V to 5.2 V */
  double *t = malloc(3 * (N + 1) * sizeof *t), *v = t + N + 1, *i = v + N + 1;
  for (int k = 0; k <= N; k++) {
    v[k] = 3.0 + 2.2 * k / N;
    t[k] = (v[k] - 3.0) / nu;
    i[k] = a * exp((v[k] - 5.0) / b) + C * nu;
  }
  nimc_lsv_result r;
  nimc_err err;
  CHECK(nimc_lsv_analyze(t, v, i, N + 1, thr, &r, &err) == 0);
  double von = 5.0 + b * log((thr - C * nu) / a);
  CHECK(fabs(r.onset_V - von) < 1e-6);
  CHECK_REL(r.scan_rate_V_s, nu, 1e-12);
  CHECK(r.v_start_V == 3.0 && r.v_end_V == v[N] && r.i_end_A == i[N]);
  /* a reduction: the sweep falls and the current is negative */
  for (int k = 0; k <= N; k++) {
    v[k] = -v[k];
    i[k] = -i[k];
  }
  CHECK(nimc_lsv_analyze(t, v, i, N + 1, thr, &r, &err) == 0);
  CHECK(fabs(r.onset_V + von) < 1e-6);
  /* never reached: NaN, not an error */
  CHECK(nimc_lsv_analyze(t, v, i, N + 1, 1.0, &r, &err) == 0);
  CHECK(isnan(r.onset_V));
  CHECK(nimc_lsv_analyze(t, v, i, N + 1, 0.0, &r, &err) == NIMC_EINPUT);
  CHECK(nimc_lsv_analyze(t, v, i, N + 1, NAN, &r, &err) == NIMC_EINPUT);
  for (int k = 0; k <= N; k++)
    v[k] = 3.0; /* no sweep */
  CHECK(nimc_lsv_analyze(t, v, i, N + 1, thr, &r, &err) == NIMC_EANALYSIS);
  i[5] = NAN;
  CHECK(nimc_lsv_analyze(t, v, i, N + 1, thr, &r, &err) == NIMC_EDATA);
  CHECK(strstr(err.msg, "sample 6") != NULL);
  free(t);
}

static void test_rest(void) {
  const double V0 = 2.5, tau = 3600;
  enum { N = 10001 };
  static double t[N], v[N];
  for (int k = 0; k < N; k++) {
    t[k] = 100.0 + k; /* the rest need not start at t = 0 */
    v[k] = V0 * exp(-k / tau);
  }
  nimc_rest_result r;
  nimc_err err;
  CHECK(nimc_rest_analyze(t, v, N, 0, &r, &err) == 0);
  CHECK_REL(r.threshold, 0.6, 0);
  CHECK_REL(r.time_to_threshold_s, tau * log(1 / 0.6), 1e-6);
  CHECK_REL(r.v0_V, V0, 0);
  /* Conway's ohmic leak: ln V is a straight line in t, slope -1 / tau */
  CHECK_REL(r.slope_ln_per_s, -1.0 / tau, 1e-9);
  CHECK_REL(r.r2_ln, 1.0, 1e-9);
  CHECK(r.r2_log < 0.99 && r.r2_sqrt < 0.999);
  CHECK(nimc_rest_analyze(t, v, N, 0.5, &r, &err) == 0);
  CHECK_REL(r.time_to_threshold_s, tau * log(2.0), 1e-6);
  CHECK(nimc_rest_analyze(t, v, N, 0.01, &r, &err) == 0);
  CHECK(isnan(r.time_to_threshold_s)); /* not reached */
  CHECK(nimc_rest_analyze(t, v, N, 1.5, &r, &err) == NIMC_EINPUT);
  /* after a charge to Vmax = 2.6 V (the rest starts lower, by the IR
   * drop): to 0.6 Vmax at tau ln(V0 / (0.6 Vmax)); a Vmax not given is
   * the rest's first voltage; a rest that starts below is there at once */
  CHECK(nimc_rest_analyze_vmax(t, v, N, 0.6, 2.6, &r, &err) == 0);
  CHECK_REL(r.time_to_threshold_s, tau * log(V0 / (0.6 * 2.6)), 1e-6);
  CHECK(r.v_ref_V == 2.6);
  CHECK(nimc_rest_analyze_vmax(t, v, N, 0.6, NAN, &r, &err) == 0);
  CHECK_REL(r.time_to_threshold_s, tau * log(1 / 0.6), 1e-6);
  CHECK(nimc_rest_analyze_vmax(t, v, N, 0.6, 5.0, &r, &err) == 0);
  CHECK(r.time_to_threshold_s == 0.0);
  CHECK(nimc_rest_analyze_vmax(t, v, N, 1.0, 2.6, &r, &err) == NIMC_EINPUT);
  /* Conway: a log-time decay and a square-root decay */
  v[0] = 2.5;
  for (int k = 1; k < N; k++)
    v[k] = 2.4 - 0.1 * log10((double)k);
  CHECK(nimc_rest_analyze(t, v, N, 0, &r, &err) == 0);
  CHECK_REL(r.slope_log_V, -0.1, 1e-9);
  CHECK_REL(r.r2_log, 1.0, 1e-9);
  CHECK(r.r2_sqrt < 0.99 && r.r2_ln < 0.99);
  for (int k = 0; k < N; k++)
    v[k] = 2.5 - 0.01 * sqrt((double)k);
  CHECK(nimc_rest_analyze(t, v, N, 0, &r, &err) == 0);
  CHECK_REL(r.slope_sqrt_V, -0.01, 1e-9);
  CHECK_REL(r.r2_sqrt, 1.0, 1e-9);
  CHECK(r.r2_log < 0.99);
  CHECK(nimc_rest_analyze(t, v, 2, 0, &r, &err) == NIMC_EANALYSIS);
}

/* ---- reading data files ---- */

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (!f) abort();
  fputs(text, f);
  fclose(f);
}

static void test_technique_table(void) {
  CHECK(nimc_technique_of("GCPL") == NIMC_TECH_GCD);
  CHECK(nimc_technique_of("gcpl") == NIMC_TECH_GCD);
  CHECK(nimc_technique_of("Cyclic Voltammetry") == NIMC_TECH_CV);
  CHECK(nimc_technique_of("CV") == NIMC_TECH_CV);
  CHECK(nimc_technique_of("PEIS") == NIMC_TECH_EIS);
  CHECK(nimc_technique_of("GEIS") == NIMC_TECH_EIS);
  CHECK(nimc_technique_of("OCV") == NIMC_TECH_REST);
  CHECK(nimc_technique_of("CP") == NIMC_TECH_CP);
  CHECK(nimc_technique_of("LSV") == NIMC_TECH_LSV);
  CHECK(nimc_technique_of("XYZ") == NIMC_TECH_UNKNOWN);
  CHECK(nimc_technique_of("") == NIMC_TECH_UNKNOWN);
  CHECK(!strcmp(nimc_technique_name(NIMC_TECH_REST), "rest"));
}

static void test_read_csv(void) {
  char dir[] = "/tmp/nimc_analyze_XXXXXX", path[128];
  if (!mkdtemp(dir)) abort();
  snprintf(path, sizeof path, "%s/a.csv", dir);
  nimc_data d;
  nimc_err err;
  char how[512];
  /* EC-Lab-like names and units */
  write_file(path, "Time (min),Ewe/V,<I>/mA,cycle number,Q charge/mA.h,"
                   "Energy discharge/W.h,Efficiency/%,comment\n"
                   "0,1.0,2.0,1,0.5,0.001,50,x\n"
                   "1,1.5,-2.0,1,1.0,0.002,99,y\n");
  CHECK(nimc_data_read(path, NULL, &d, how, sizeof how, &err) == 0);
  CHECK(d.n == 2);
  if (d.n == 2) {
    CHECK_REL(d.time_s[1], 60, 1e-12);
    CHECK_REL(d.voltage_V[1], 1.5, 1e-12);
    CHECK_REL(d.current_A[0], 2e-3, 1e-12);
    CHECK_REL(d.current_A[1], -2e-3, 1e-12);
    CHECK(d.cycle && d.cycle[1] == 1);
    CHECK(d.q_charge_C && fabs(d.q_charge_C[1] - 3.6) < 1e-12);
    CHECK(d.energy_discharge_J && fabs(d.energy_discharge_J[1] - 7.2) < 1e-9);
    CHECK(d.efficiency && fabs(d.efficiency[1] - 0.99) < 1e-12);
    CHECK(d.charge_C == NULL && d.freq_Hz == NULL && d.half_cycle == NULL);
    CHECK(d.line[0] == 2 && d.line[1] == 3);
    CHECK(d.technique == NIMC_TECH_UNKNOWN);
  }
  CHECK_CONTAINS(how, "'<I>/mA' as current (mA)");
  CHECK_CONTAINS(how, "'Time (min)' as time (min)");
  nimc_data_free(&d);
  nimc_data_free(&d); /* twice: zeroed */

  /* nimc's own names */
  write_file(path, "time_s,voltage_V,current_A,step\n0,1,1e-3,0\n1,2,1e-3,0\n");
  CHECK(nimc_data_read(path, NULL, &d, how, sizeof how, &err) == 0);
  CHECK(d.n == 2 && d.voltage_V && d.voltage_V[1] == 2.0 &&
        d.current_A[0] == 1e-3);
  nimc_data_free(&d);

  /* no time column */
  write_file(path, "# a comment\nvoltage_V,current_A\n1,1\n2,2\n");
  CHECK(nimc_data_read(path, NULL, &d, how, sizeof how, &err) == NIMC_EDATA);
  CHECK_CONTAINS(err.msg, ":2: no time column");
  CHECK(d.n == 0 && d.time_s == NULL);
  /* a cell that is not a number, by its line */
  write_file(path, "time_s,voltage_V,current_A\n0,1,1\n1,abc,1\n");
  CHECK(nimc_data_read(path, NULL, &d, how, sizeof how, &err) == NIMC_EDATA);
  CHECK_CONTAINS(err.msg, "a.csv:3: column 2 ('voltage_V'): 'abc'");
  /* time going backwards */
  write_file(path, "time_s,voltage_V,current_A\n0,1,1\n5,1,1\n4,1,1\n");
  CHECK(nimc_data_read(path, NULL, &d, how, sizeof how, &err) == NIMC_EDATA);
  CHECK_CONTAINS(err.msg, "a.csv:4: time 4 s goes backwards");
  /* a unit of the wrong dimension */
  write_file(path, "time/s,Ewe/A,I/mA\n0,1,1\n1,1,1\n");
  CHECK(nimc_data_read(path, NULL, &d, how, sizeof how, &err) == NIMC_EDATA);
  CHECK_CONTAINS(err.msg, "a.csv:1: column 2 ('Ewe/A'), read as voltage");
  /* neither voltage nor current */
  write_file(path, "time/s,foo\n0,1\n1,1\n");
  CHECK(nimc_data_read(path, NULL, &d, how, sizeof how, &err) == NIMC_EDATA);
  CHECK_CONTAINS(err.msg, "neither a voltage column");
  /* a missing file */
  snprintf(path, sizeof path, "%s/absent.csv", dir);
  CHECK(nimc_data_read(path, NULL, &d, how, sizeof how, &err) == NIMC_EIO);
  CHECK_CONTAINS(err.msg, "absent.csv");
  snprintf(path, sizeof path, "%s/a.csv", dir);
  unlink(path);
  rmdir(dir);
}

/* ---- real data: EC-Lab exports ---- */

/* The GCPL file's half-cycles against the instrument's own counters. */
static void check_gcpl(const nimc_data *d) {
  CHECK(d->n == 2533);
  CHECK(d->q_charge_C && d->q_discharge_C && d->energy_discharge_J &&
        d->energy_charge_J && d->efficiency && d->cycle);
  if (!d->q_charge_C || !d->q_discharge_C || !d->energy_discharge_J ||
      !d->energy_charge_J || !d->efficiency || !d->current_A)
    return;
  nimc_gcd_cycle *cy = NULL;
  size_t nc = 0;
  nimc_err err;
  CHECK(nimc_gcd_cycles(d->time_s, d->voltage_V, d->current_A, d->cycle, d->n,
                        0, &cy, &nc, &err) == 0);
  CHECK(nc == 4); /* the first discharge, then three cycles */
  for (size_t k = 0; k < nc; k++) /* nimc_gcd_cycles leaves them NaN */
    CHECK(isnan(cy[k].instrument_discharge_C) &&
          isnan(cy[k].instrument_coulombic_efficiency));
  nimc_gcd_cycles_instrument(d, cy, nc);
  for (size_t k = 0; k < nc; k++) {
    const nimc_gcd_cycle *c = &cy[k];
    size_t b = c->discharge.b, end = b, ce = c->charge.b;
    /* the counters are final at the end of the file's half-cycle (the
     * rest that follows a step belongs to it) */
    while (d->half_cycle && end + 1 < d->n &&
           d->half_cycle[end + 1] == d->half_cycle[b])
      end++;
    CHECK(c->index == (int)k);
    CHECK(c->file_cycle == (int)k); /* EC-Lab's cycle: charge, discharge */
    CHECK_REL(c->discharge_C, d->q_discharge_C[b], 5e-3);
    CHECK(c->instrument_discharge_C == d->q_discharge_C[b]);
    CHECK(c->instrument_energy_discharge_J == d->energy_discharge_J[b]);
    if (c->index > 0) {
      CHECK(c->instrument_charge_C == d->q_charge_C[ce]);
      CHECK(c->instrument_energy_charge_J == d->energy_charge_J[ce]);
      CHECK(c->instrument_coulombic_efficiency == d->efficiency[end]);
    } else {
      CHECK(isnan(c->instrument_charge_C)); /* a lone first discharge */
    }
    if (c->index > 0) {
      CHECK_REL(c->charge_C, d->q_charge_C[ce], 5e-3);
      CHECK_REL(c->coulombic_efficiency, d->efficiency[end], 5e-3);
      CHECK_REL(c->energy_charge_J, d->energy_charge_J[ce], 2e-2);
    }
    /* the energy: the instrument sums dq_k Ewe_k over its recorded points
     * (the right end of each interval); that rule on the rows read agrees
     * within 0.5 %, nimc's trapezoid within 2 % (docs/metrics.md) */
    double e = 0;
    for (size_t j = c->discharge.a; j <= b; j++)
      if (j > 0)
        e += fabs(d->current_A[j]) * (d->time_s[j] - d->time_s[j - 1]) *
             d->voltage_V[j];
    CHECK_REL(e, d->energy_discharge_J[b], 5e-3);
    CHECK_REL(c->energy_discharge_J, d->energy_discharge_J[b], 2e-2);
    /* nimc's counter rule is that sum: the instrument's counters within
     * 1e-4 (charge and discharge), where the trapezoid is 1 % off */
    CHECK_REL(c->energy_discharge_counter_J, d->energy_discharge_J[b], 1e-4);
    if (c->index > 0)
      CHECK_REL(c->energy_charge_counter_J, d->energy_charge_J[ce], 1e-4);
    printf("  cycle %d: discharge energy %.7g J (trapezoid), %.7g J "
           "(counter rule), instrument %.7g J\n",
           c->index, c->energy_discharge_J, c->energy_discharge_counter_J,
           d->energy_discharge_J[b]);
    /* which is right: Richardson's extrapolation from the trapezoid over
     * every point and over every second point, an integral of Simpson's
     * order, agrees with nimc's trapezoid within 5e-4 and differs from
     * the instrument's counter by more than 1 % */
    double t1 = 0, t2 = 0, q = 0, q2 = 0, v2 = d->voltage_V[c->discharge.a];
    size_t a = c->discharge.a;
    for (size_t j = a + 1; j <= b; j++) {
      double dq = fabs(d->current_A[j]) * (d->time_s[j] - d->time_s[j - 1]);
      t1 += dq * 0.5 * (d->voltage_V[j] + d->voltage_V[j - 1]);
      q += dq;
      if ((j - a) % 2 == 0 || j == b) {
        t2 += (q - q2) * 0.5 * (d->voltage_V[j] + v2);
        q2 = q, v2 = d->voltage_V[j];
      }
    }
    double rich = (4.0 * t1 - t2) / 3.0;
    CHECK_REL(c->energy_discharge_J, rich, 5e-4);
    CHECK(fabs(d->energy_discharge_J[b] / rich - 1.0) > 0.01);
  }
  free(cy);
}

static void test_real_eclab(void) {
  struct stat st;
  if (stat(REAL_DIR, &st) != 0) {
    fprintf(stderr, "skipped: test_real_eclab (%s is absent)\n", REAL_DIR);
    tl_skipped = 1;
    return;
  }
  nimc_data d, b;
  nimc_err err;
  char how[1024];
  CHECK(nimc_data_read(REAL_DIR "/gcpl.pr_182.1.mpt", NULL, &d, how, sizeof how,
                       &err) == 0);
  /* its 3-line header names no technique (the .mpr's does) */
  CHECK(d.technique == NIMC_TECH_UNKNOWN);
  CHECK_CONTAINS(how, "'<I>/mA' as current (mA)");
  check_gcpl(&d);
  /* the binary file of the same measurement keeps dq, not <I>: the
   * current is dq / dt, and the cycles are the text export's */
  CHECK(nimc_data_read(REAL_DIR "/gcpl.pr_182.1.mpr", NULL, &b, how, sizeof how,
                       &err) == 0);
  CHECK_CONTAINS(how, "dq / dt");
  CHECK(b.n == d.n && b.technique == NIMC_TECH_GCD);
  if (b.n == d.n && b.current_A && d.current_A) {
    nimc_gcd_cycle *ct = NULL, *cb = NULL;
    size_t nt = 0, nb = 0;
    CHECK(nimc_gcd_cycles(d.time_s, d.voltage_V, d.current_A, d.cycle, d.n, 0,
                          &ct, &nt, &err) == 0);
    CHECK(nimc_gcd_cycles(b.time_s, b.voltage_V, b.current_A, b.cycle, b.n, 0,
                          &cb, &nb, &err) == 0);
    CHECK(nt == nb && nt == 4);
    for (size_t k = 0; k < nt && k < nb; k++) {
      CHECK_REL(cb[k].discharge_C, ct[k].discharge_C, 1e-4);
      CHECK_REL(cb[k].energy_discharge_J, ct[k].energy_discharge_J, 1e-4);
      if (k > 0) CHECK_REL(cb[k].charge_C, ct[k].charge_C, 1e-4);
    }
    free(ct);
    free(cb);
  }
  nimc_data_free(&b);
  nimc_data_free(&d);

  /* a real CV: a full cycle at the file's 0.1 mV/s, a finite capacitance */
  CHECK(nimc_data_read(REAL_DIR "/cv.mpt", NULL, &d, how, sizeof how, &err) ==
        0);
  CHECK(d.technique == NIMC_TECH_CV);
  if (d.current_A && d.voltage_V) {
    nimc_cv_cycle *cy = NULL;
    size_t nc = 0;
    CHECK(nimc_cv_cycles(d.time_s, d.voltage_V, d.current_A, d.n, &cy, &nc,
                         &err) == 0);
    CHECK(nc >= 1);
    if (nc >= 1) {
      CHECK(isfinite(cy[0].capacitance_F) && cy[0].capacitance_F > 0);
      CHECK_REL(cy[0].scan_rate_V_s, 1e-4, 0.05); /* dE/dt 0.1 mV/s */
    }
    free(cy);
  }
  nimc_data_free(&d);

  /* the open-circuit file: no current column, one rest */
  CHECK(nimc_data_read(REAL_DIR "/ocv.mpt", NULL, &d, how, sizeof how, &err) ==
        0);
  CHECK(d.technique == NIMC_TECH_REST);
  CHECK(d.current_A == NULL && d.voltage_V != NULL);
  nimc_rest_result r;
  if (d.voltage_V)
    CHECK(nimc_rest_analyze(d.time_s, d.voltage_V, d.n, 0, &r, &err) == 0);
  nimc_data_free(&d);

  /* the impedance columns of a PEIS export, -Im Z turned into Im Z */
  CHECK(nimc_data_read(REAL_DIR "/peis.mpt", NULL, &d, how, sizeof how, &err) ==
        0);
  CHECK(d.technique == NIMC_TECH_EIS);
  CHECK(d.freq_Hz && d.z_re_ohm && d.z_im_ohm);
  CHECK_CONTAINS(how, "as minus Im Z");
  if (d.z_im_ohm) CHECK(d.z_im_ohm[d.n - 1] < 0); /* capacitive at 1 Hz */
  nimc_data_free(&d);
}

int main(void) {
  RUN(test_ideal_capacitor);
  RUN(test_nonlinear_discharge);
  RUN(test_gcd_failures);
  RUN(test_segments);
  RUN(test_cv_ideal_rc);
  RUN(test_b_value);
  RUN(test_dunn);
  RUN(test_lsv_onset);
  RUN(test_rest);
  RUN(test_technique_table);
  RUN(test_read_csv);
  RUN(test_real_eclab);
  return TEST_REPORT();
}
