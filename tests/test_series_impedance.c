/*
 * test_series_impedance.c -- impedance from a time series
 * (analysis/series_impedance.c) against circuits solved exactly in the
 * time domain: an R - p(R, C) network driven by a sine voltage, sampled
 * unevenly, with and without a drifting bias; a capacitor's sign; errors.
 */
#include <complex.h>
#include <stdlib.h>

#include "nimc/nimc.h"
#include "testlib.h"

static const double PI = 3.14159265358979323846;

/* A reproducible uniform number in [0, 1). */
static double uniform(unsigned long long *state) {
  *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
  return (double)(*state >> 11) / 9007199254740992.0;
}

/* Uneven sample times from 0 to at least t_end, steps h (0.3 .. 1.7). */
static void sample_times(nimc_series *s, double t_end, double h) {
  unsigned long long st = 42;
  double t = 0.0;
  while (t <= t_end) {
    CHECK(nimc_series_push(s, t, 0.0, 0.0, -1) == NIMC_OK);
    t += h * (0.3 + 1.4 * uniform(&st));
  }
}

/* R1 in series with p(R2, C), driven by V(t) = V0 + k t + Va sin(w t) from
 * rest (capacitor voltage u(0) = 0).  The capacitor obeys
 *   u' + a u = V / (R1 C),   a = (R1 + R2) / (R1 R2 C),
 * solved exactly: a ramp A + B t, the sine's steady state
 *   b (a sin w t - w cos w t) / (a^2 + w^2),   b = Va / (R1 C),
 * and the transient E e^{-a t} that makes u(0) = 0.  I = (V - u) / R1. */
typedef struct circuit {
  double R1, R2, C, V0, k, Va, w;
} circuit;

static void drive(nimc_series *s, const circuit *c) {
  double a = (c->R1 + c->R2) / (c->R1 * c->R2 * c->C);
  double p = c->V0 / (c->R1 * c->C), q = c->k / (c->R1 * c->C);
  double B = q / a, A = (p - B) / a;
  double b = c->Va / (c->R1 * c->C), den = a * a + c->w * c->w;
  double E = -(A - b * c->w / den);
  for (size_t i = 0; i < s->n; i++) {
    double t = s->time_s[i];
    double V = c->V0 + c->k * t + c->Va * sin(c->w * t);
    double u = A + B * t +
               b * (a * sin(c->w * t) - c->w * cos(c->w * t)) / den +
               E * exp(-a * t);
    s->voltage_V[i] = V;
    s->current_A[i] = (V - u) / c->R1;
  }
}

static double complex expected(const circuit *c) {
  return c->R1 + c->R2 / (1.0 + I * c->w * c->R2 * c->C);
}

static void test_rc_network(void) {
  /* tau = R1 R2 C / (R1 + R2) = 1.7 ms; 50 Hz, w R2 C = 3.1 */
  circuit c = {2.0, 10.0, 1e-3, 0.0, 0.0, 0.01, 2.0 * PI * 50.0};
  nimc_series s = {0};
  sample_times(&s, 0.25, 2.5e-4);
  CHECK(s.n > 500);
  drive(&s, &c);
  nimc_err err;
  double zr, zi;
  double complex z = expected(&c);
  /* from 0.1 s (60 time constants: the transient is e^-60) over 5 periods */
  CHECK(nimc_series_impedance(&s, 50.0, 0.1, 0.2, &zr, &zi, &err) == NIMC_OK);
  printf("R-RC at 50 Hz: Z = %.12g %+.12g j, exact %.12g %+.12g j\n", zr, zi,
         creal(z), cimag(z));
  CHECK(cabs((zr + I * zi) - z) <= 1e-9 * cabs(z));
  CHECK(zi < 0.0);
  /* a window that is not whole periods still works (least squares) */
  CHECK(nimc_series_impedance(&s, 50.0, 0.1, 0.1737, &zr, &zi, &err) ==
        NIMC_OK);
  CHECK(cabs((zr + I * zi) - z) <= 1e-9 * cabs(z));
  /* a bias that drifts: V0 = 3.2 V and 0.5 V/s; the network responds
   * with a ramp in I as well */
  c.V0 = 3.2;
  c.k = 0.5;
  drive(&s, &c);
  CHECK(nimc_series_impedance(&s, 50.0, 0.1, 0.2, &zr, &zi, &err) == NIMC_OK);
  printf("with drift:    Z = %.12g %+.12g j (rel err %.2g)\n", zr, zi,
         cabs((zr + I * zi) - z) / cabs(z));
  CHECK(cabs((zr + I * zi) - z) <= 1e-6 * cabs(z));
  /* a window that still holds the transient is visibly off: the test can
   * tell */
  CHECK(nimc_series_impedance(&s, 50.0, 0.0, 0.02, &zr, &zi, &err) == NIMC_OK);
  CHECK(cabs((zr + I * zi) - z) > 1e-3 * cabs(z));
  nimc_series_free(&s);
}

static void test_capacitor_sign(void) {
  /* I = C dV/dt into the positive terminal (charging is > 0) */
  const double C = 2e-3, f = 10.0, w = 2.0 * PI * f;
  nimc_series s = {0};
  sample_times(&s, 1.0, 2e-3);
  for (size_t i = 0; i < s.n; i++) {
    double t = s.time_s[i];
    s.voltage_V[i] = 1.5 + 0.01 * sin(w * t);
    s.current_A[i] = C * 0.01 * w * cos(w * t);
  }
  nimc_err err;
  double zr, zi;
  CHECK(nimc_series_impedance(&s, f, 0.2, 0.9, &zr, &zi, &err) == NIMC_OK);
  CHECK(zi < 0.0);
  CHECK_REL(zi, -1.0 / (w * C), 1e-9);
  CHECK_ABS(zr, 0.0, 1e-9 / (w * C));
  /* the inductor's sign is the other one: V = L dI/dt */
  for (size_t i = 0; i < s.n; i++) {
    double t = s.time_s[i];
    s.current_A[i] = 0.01 * sin(w * t);
    s.voltage_V[i] = 1e-3 * 0.01 * w * cos(w * t);
  }
  CHECK(nimc_series_impedance(&s, f, 0.2, 0.9, &zr, &zi, &err) == NIMC_OK);
  CHECK_REL(zi, w * 1e-3, 1e-9);
  nimc_series_free(&s);
}

static void test_errors(void) {
  circuit c = {2.0, 10.0, 1e-3, 0.0, 0.0, 0.01, 2.0 * PI * 50.0};
  nimc_series s = {0};
  sample_times(&s, 0.25, 2.5e-4);
  drive(&s, &c);
  double tend = s.time_s[s.n - 1];
  nimc_err err;
  double zr = 0.0, zi = 0.0;
  CHECK(nimc_series_impedance(&s, 0.0, 0.1, 0.2, &zr, &zi, &err) ==
        NIMC_EINPUT);
  CHECK_CONTAINS(err.msg, "frequency must be finite and positive");
  CHECK(isnan(zr) && isnan(zi));
  CHECK(nimc_series_impedance(&s, -50.0, 0.1, 0.2, &zr, &zi, &err) ==
        NIMC_EINPUT);
  CHECK(nimc_series_impedance(&s, NAN, 0.1, 0.2, &zr, &zi, &err) ==
        NIMC_EINPUT);
  CHECK(nimc_series_impedance(&s, 50.0, 0.2, 0.1, &zr, &zi, &err) ==
        NIMC_EINPUT);
  CHECK_CONTAINS(err.msg, "end after it starts");
  CHECK(nimc_series_impedance(&s, 50.0, 0.1, tend + 0.01, &zr, &zi, &err) ==
        NIMC_EINPUT);
  CHECK_CONTAINS(err.msg, "not inside the series");
  CHECK(nimc_series_impedance(&s, 50.0, -0.1, 0.1, &zr, &zi, &err) ==
        NIMC_EINPUT);
  CHECK_CONTAINS(err.msg, "not inside the series");
  /* the whole series is a valid window */
  CHECK(nimc_series_impedance(&s, 50.0, 0.0, tend, &zr, &zi, &err) == NIMC_OK);
  /* a window between samples: too few of them */
  CHECK(nimc_series_impedance(&s, 50.0, 0.1, 0.1 + 1e-3, &zr, &zi, &err) ==
        NIMC_EINPUT);
  CHECK_CONTAINS(err.msg, "at least 8 are needed");
  /* a sample that is not finite inside the window */
  size_t mid = s.n / 2;
  double keep = s.current_A[mid];
  s.current_A[mid] = NAN;
  CHECK(nimc_series_impedance(&s, 50.0, 0.0, tend, &zr, &zi, &err) ==
        NIMC_EINPUT);
  CHECK_CONTAINS(err.msg, "not finite");
  s.current_A[mid] = keep;
  /* a current with no sine in it */
  for (size_t i = 0; i < s.n; i++)
    s.current_A[i] = 1e-3;
  CHECK(nimc_series_impedance(&s, 50.0, 0.1, 0.2, &zr, &zi, &err) ==
        NIMC_EANALYSIS);
  CHECK_CONTAINS(err.msg, "no component at 50 Hz");
  for (size_t i = 0; i < s.n; i++)
    s.current_A[i] = 0.0;
  CHECK(nimc_series_impedance(&s, 50.0, 0.1, 0.2, &zr, &zi, &err) ==
        NIMC_EANALYSIS);
  nimc_series_free(&s);

  /* samples only at the sine's zero crossings: sin is never seen */
  nimc_series z = {0};
  for (int k = 0; k <= 40; k++) {
    double t = k / (2.0 * 50.0);
    CHECK(nimc_series_push(&z, t, cos(2.0 * PI * 50.0 * t),
                           0.1 * cos(2.0 * PI * 50.0 * t), -1) == NIMC_OK);
  }
  CHECK(nimc_series_impedance(&z, 50.0, 0.0, 0.4, &zr, &zi, &err) ==
        NIMC_EANALYSIS);
  CHECK_CONTAINS(err.msg, "cannot tell the sine");
  nimc_series_free(&z);

  nimc_series empty = {0};
  CHECK(nimc_series_impedance(&empty, 50.0, 0.0, 1.0, &zr, &zi, &err) ==
        NIMC_EINPUT);
  CHECK_CONTAINS(err.msg, "empty");
  CHECK(nimc_series_impedance(NULL, 50.0, 0.0, 1.0, &zr, &zi, &err) ==
        NIMC_EMISUSE);
  CHECK(nimc_series_impedance(&empty, 50.0, 0.0, 1.0, NULL, &zi, &err) ==
        NIMC_EMISUSE);
}

int main(void) {
  RUN(test_rc_network);
  RUN(test_capacitor_sign);
  RUN(test_errors);
  return TEST_REPORT();
}
