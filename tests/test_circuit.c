/*
 * test_circuit.c -- the circuit language and the impedance of circuits.
 *
 * Every element's Z is compared with its closed form written again here,
 * independently (coth as cosh/sinh, powers with cpow), and with its limits:
 * the de Levie line against a ladder of 4000 R-C sections computed here and
 * against R/3 + 1/(jwC) at low frequency, the finite Warburgs at low
 * frequency, CPE with a = 1 against C, Zarc with a = 1 against K.  Series,
 * parallel and nested circuits are checked against formulas worked by hand.
 * The analytic derivatives of every element and of nested circuits are
 * compared with a fourth-order central difference from 1 MHz to 1 mHz.
 * Finally the parser's names, units, bounds and charge-transfer index, and
 * its error messages: for each malformed string the column named in the
 * message and the caret under it.
 */
#include <complex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/circuit.h"
#include "testlib.h"

static const double PI = 3.14159265358979323846;

typedef double complex cplx;

/* Z of text with parameters p at one frequency (checks that it parses). */
static cplx z_of(const char *text, const double *p, double f) {
  nimc_circuit *c = NULL;
  nimc_err err;
  double re = NAN, im = NAN;
  int rc = nimc_circuit_parse(&c, text, &err);
  CHECK(rc == NIMC_OK);
  if (rc) {
    fprintf(stderr, "  parse of %s failed: %s\n", text, err.msg);
    return NAN;
  }
  CHECK(nimc_circuit_eval(c, p, &f, 1, &re, &im, NULL, NULL) == NIMC_OK);
  nimc_circuit_destroy(c);
  return CMPLX(re, im);
}

/* |a - b| <= tol |b|, reported with the label. */
static void check_z(const char *label, double f, cplx a, cplx b, double tol) {
  double d = cabs(a - b), s = cabs(b);
  if (d <= tol * s) {
    tl_pass++;
  } else {
    tl_fail++;
    fprintf(stderr,
            "%s at %g Hz: Z = %.15g%+.15gj, expected %.15g%+.15gj (rel %.3g)\n",
            label, f, creal(a), cimag(a), creal(b), cimag(b), d / s);
  }
}

static cplx coth_(cplx x) {
  return ccosh(x) / csinh(x);
}
static cplx tanh_(cplx x) {
  return csinh(x) / ccosh(x);
}

static void test_elements_closed_form(void) {
  const double fs[] = {1e-2, 0.37, 1.0, 100.0, 1e4};
  for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++) {
    double f = fs[i], w = 2 * PI * f;
    cplx jw = CMPLX(0, w);
    {
      double p[] = {12.5};
      check_z("R", f, z_of("R3", p, f), 12.5, 1e-15);
    }
    {
      double p[] = {3e-5};
      check_z("C", f, z_of("C1", p, f), 1.0 / (jw * 3e-5), 1e-14);
    }
    {
      double p[] = {2e-6};
      check_z("L", f, z_of("L2", p, f), jw * 2e-6, 1e-14);
    }
    {
      double p[] = {4e-4, 0.83};
      check_z("CPE", f, z_of("CPE1", p, f), 1.0 / (4e-4 * cpow(jw, 0.83)),
              1e-13);
    }
    {
      double p[] = {7.0};
      check_z("W", f, z_of("W0", p, f), 7.0 * (1 - I) / sqrt(w), 1e-14);
    }
    {
      double p[] = {80.0, 3.0};
      cplx x = csqrt(jw * 3.0);
      check_z("Wo", f, z_of("Wo1", p, f), 80.0 * coth_(x) / x, 1e-12);
      check_z("Ws", f, z_of("Ws1", p, f), 80.0 * tanh_(x) / x, 1e-12);
    }
    {
      double p[] = {5e-3, 0.6};
      check_z("La", f, z_of("La4", p, f), 5e-3 * cpow(jw, 0.6), 1e-13);
    }
    {
      double p[] = {25.0, 0.02};
      check_z("G", f, z_of("G1", p, f), 25.0 / csqrt(1 + jw * 0.02), 1e-13);
    }
    {
      double p[] = {25.0, 0.02, 1.7};
      cplx s = csqrt(1 + jw * 0.02);
      check_z("Gs", f, z_of("Gs1", p, f), 25.0 / (s * tanh_(1.7 * s)), 1e-12);
    }
    {
      double p[] = {40.0, 0.003};
      check_z("K", f, z_of("K7", p, f), 40.0 / (1 + jw * 0.003), 1e-14);
    }
    {
      double p[] = {40.0, 0.003, 0.7};
      check_z("Zarc", f, z_of("Zarc1", p, f),
              40.0 / (1 + cpow(jw * 0.003, 0.7)), 1e-13);
    }
    {
      double R = 30.0, C = 0.02, p[] = {R, C};
      cplx y = csqrt(jw * R * C);
      check_z("TLM", f, z_of("TLM1", p, f), csqrt(R / (jw * C)) * coth_(y),
              1e-12);
    }
    {
      double R = 30.0, Q = 0.02, a = 0.9, p[] = {R, Q, a};
      cplx zs = 1.0 / (Q * cpow(jw, a));
      check_z("TLMQ", f, z_of("TLMQ1", p, f),
              csqrt(R * zs) * coth_(csqrt(R / zs)), 1e-12);
    }
  }
}

/* The de Levie line as a ladder of n sections (midpoint rule: half a
 * section of resistance before the first capacitor, none after the last). */
static cplx ladder(double R, double C, double w, int n) {
  double r = R / n;
  cplx yc = CMPLX(0, w * C / n);
  cplx z = 1.0 / yc;          /* the last capacitor, open behind it */
  for (int k = 1; k < n; k++) /* the resistor in front, then a shunt */
    z = 1.0 / (yc + 1.0 / (r + z));
  return 0.5 * r + z;
}

static void test_limits(void) {
  /* TLM against the ladder over wRC = 1e-3 .. 1e3 */
  double R = 30.0, C = 0.02, p[] = {R, C};
  for (double x = 1e-3; x <= 1e3 * 1.0001; x *= 10) {
    double w = x / (R * C), f = w / (2 * PI);
    check_z("TLM vs ladder", f, z_of("TLM1", p, f), ladder(R, C, w, 4000),
            1e-4);
  }
  /* TLM at low and at high frequency */
  {
    double w = 1e-5 / (R * C), f = w / (2 * PI);
    cplx z = z_of("TLM1", p, f);
    CHECK_REL(creal(z), R / 3, 1e-9);
    CHECK_REL(cimag(z), -1.0 / (w * C), 1e-9);
    w = 1e8 / (R * C), f = w / (2 * PI);
    check_z("TLM high f", f, z_of("TLM1", p, f), csqrt(R / (CMPLX(0, w) * C)),
            1e-12);
    /* far beyond overflow of cosh: coth saturates, Z stays finite */
    w = 1e16 / (R * C), f = w / (2 * PI);
    check_z("TLM huge x", f, z_of("TLM1", p, f), csqrt(R / (CMPLX(0, w) * C)),
            1e-12);
  }
  /* Wo -> Z0/(jw tau) + Z0/3, Ws -> Z0 */
  {
    double Z0 = 100.0, tau = 10.0, q[] = {Z0, tau};
    double w = 1e-6 / tau, f = w / (2 * PI);
    cplx z = z_of("Wo1", q, f);
    CHECK_REL(creal(z), Z0 / 3, 1e-9);
    CHECK_REL(cimag(z), -Z0 / (w * tau), 1e-9);
    z = z_of("Ws1", q, f);
    CHECK_REL(creal(z), Z0, 1e-9);
    CHECK(fabs(cimag(z)) < 1e-6 * Z0);
    /* both sides of the series/closed-form switch (|x| = 1e-2) agree */
    for (double x = 0.99e-2; x < 1.02e-2; x += 0.02e-2) {
      double wx = x * x / tau, fx = wx / (2 * PI);
      cplx xx = csqrt(CMPLX(0, wx * tau));
      check_z("Wo near switch", fx, z_of("Wo1", q, fx), Z0 * coth_(xx) / xx,
              1e-12);
      check_z("Ws near switch", fx, z_of("Ws1", q, fx), Z0 * tanh_(xx) / xx,
              1e-12);
    }
  }
  /* W at w = 1 is A (1 - j) */
  {
    double q[] = {3.25};
    cplx z = z_of("W1", q, 1.0 / (2 * PI));
    CHECK_REL(creal(z), 3.25, 1e-14);
    CHECK_REL(cimag(z), -3.25, 1e-14);
  }
  /* CPE with a = 1 is C; Zarc with a = 1 is K; La with a = 1 is L */
  for (double f = 1e-3; f < 1e6; f *= 31.6) {
    double q1[] = {2e-4, 1.0}, q2[] = {2e-4};
    check_z("CPE a=1", f, z_of("CPE1", q1, f), z_of("C1", q2, f), 1e-14);
    double k3[] = {15.0, 0.01, 1.0}, k2[] = {15.0, 0.01};
    check_z("Zarc a=1", f, z_of("Zarc1", k3, f), z_of("K1", k2, f), 1e-14);
    double l2[] = {1e-6, 1.0}, l1[] = {1e-6};
    check_z("La a=1", f, z_of("La1", l2, f), z_of("L1", l1, f), 1e-14);
  }
}

static void test_networks(void) {
  for (double f = 1e-3; f < 1e6; f *= 17.0) {
    double w = 2 * PI * f;
    cplx jw = CMPLX(0, w);
    {
      double p[] = {10.0, 50.0, 1e-4};
      check_z("Randles", f, z_of("R0-p(R1,C1)", p, f),
              10.0 + 50.0 / (1 + jw * 50.0 * 1e-4), 1e-14);
      check_z("Randles blanks", f, z_of("  R0 -\tp( R1 ,C1 ) ", p, f),
              10.0 + 50.0 / (1 + jw * 50.0 * 1e-4), 1e-14);
    }
    {
      double R = 20.0, C = 1e-5, L = 1e-3, p[] = {R, C, L};
      check_z("p(R,C,L)", f, z_of("p(R1,C1,L1)", p, f),
              1.0 / (1.0 / R + jw * C + 1.0 / (jw * L)), 1e-13);
    }
    {
      /* R0-p(R1-p(R2,C2),C1)-L0: a nested arc */
      double R0 = 5, R1 = 30, R2 = 70, C2 = 2e-3, C1 = 1e-5, L0 = 1e-6;
      double p[] = {R0, R1, R2, C2, C1, L0};
      cplx inner = R2 / (1 + jw * R2 * C2);
      cplx branch = R1 + inner;
      cplx arc = 1.0 / (1.0 / branch + jw * C1);
      check_z("nested", f, z_of("R0-p(R1-p(R2,C2),C1)-L0", p, f),
              R0 + arc + jw * L0, 1e-13);
    }
    {
      /* p(p(R1,C1),R2-C2): a parallel of a parallel and a series */
      double R1 = 3, C1 = 1e-3, R2 = 8, C2 = 5e-4, p[] = {R1, C1, R2, C2};
      cplx a = R1 / (1 + jw * R1 * C1), b = R2 + 1.0 / (jw * C2);
      check_z("p(p,series)", f, z_of("p(p(R1,C1),R2-C2)", p, f),
              a * b / (a + b), 1e-13);
    }
  }
}

/* Fourth-order central difference of Z in p[j]. */
static cplx fd(const nimc_circuit *c, double *p, size_t j, double f) {
  double h = 1e-4 * fabs(p[j]), v = p[j], re[4], im[4];
  const double off[] = {-2, -1, 1, 2};
  for (int i = 0; i < 4; i++) {
    p[j] = v + off[i] * h;
    nimc_circuit_eval(c, p, &f, 1, &re[i], &im[i], NULL, NULL);
  }
  p[j] = v;
  double dr = (re[0] - 8 * re[1] + 8 * re[2] - re[3]) / (12 * h);
  double di = (im[0] - 8 * im[1] + 8 * im[2] - im[3]) / (12 * h);
  return CMPLX(dr, di);
}

/* Analytic dZ/dp of text at p against fd over 1 MHz .. 1 mHz. */
static void check_derivs(const char *text, const double *p0) {
  nimc_circuit *c = NULL;
  nimc_err err;
  if (nimc_circuit_parse(&c, text, &err) != NIMC_OK) {
    tl_fail++;
    fprintf(stderr, "parse %s: %s\n", text, err.msg);
    return;
  }
  size_t np = nimc_circuit_nparams(c);
  double p[16], dre[16], dim[16];
  memcpy(p, p0, np * sizeof *p);
  int bad = 0, n = 0;
  for (double f = 1e6; f >= 1e-3 * 0.999; f /= sqrt(10.0)) {
    double re, im;
    CHECK(nimc_circuit_eval(c, p, &f, 1, &re, &im, dre, dim) == NIMC_OK);
    double zabs = hypot(re, im);
    for (size_t j = 0; j < np; j++) {
      cplx an = CMPLX(dre[j], dim[j]), num = fd(c, p, j, f);
      double tol = 1e-6 * cabs(an) + 1e-10 * zabs / fabs(p[j]);
      n++;
      if (!(cabs(an - num) <= tol)) {
        if (bad++ < 5)
          fprintf(stderr,
                  "%s: dZ/d%s at %g Hz = %.10g%+.10gj, numeric "
                  "%.10g%+.10gj\n",
                  text, nimc_circuit_param_name(c, j), f, creal(an), cimag(an),
                  creal(num), cimag(num));
      }
    }
  }
  CHECK(bad == 0);
  CHECK(n > 0);
  nimc_circuit_destroy(c);
}

static void test_derivatives(void) {
  const double r[] = {12.0}, cc[] = {3e-5}, l[] = {2e-6}, cpe[] = {4e-4, 0.83},
               w[] = {7.0}, wo[] = {80.0, 3.0}, wos[] = {80.0, 1e-3},
               la[] = {5e-3, 0.6}, g[] = {25.0, 0.02}, gs[] = {25.0, 0.02, 1.7},
               k[] = {40.0, 0.003}, zarc[] = {40.0, 0.003, 0.7},
               tlm[] = {30.0, 0.02}, tlms[] = {30.0, 1e-7},
               tlmq[] = {30.0, 0.02, 0.9};
  check_derivs("R1", r);
  check_derivs("C1", cc);
  check_derivs("L1", l);
  check_derivs("CPE1", cpe);
  check_derivs("W1", w);
  check_derivs("Wo1", wo);
  check_derivs("Wo1", wos); /* |x| < 1e-2 at the low end: the series */
  check_derivs("Ws1", wo);
  check_derivs("Ws1", wos);
  check_derivs("La1", la);
  check_derivs("G1", g);
  check_derivs("Gs1", gs);
  check_derivs("K1", k);
  check_derivs("Zarc1", zarc);
  check_derivs("TLM1", tlm);
  check_derivs("TLM1", tlms);
  check_derivs("TLMQ1", tlmq);
  const double a[] = {10, 50, 1e-4, 0.85, 100, 10};
  check_derivs("R0-p(R1,CPE1)-Wo1", a);
  const double b[] = {5, 30, 70, 2e-3, 1e-5, 1e-6};
  check_derivs("R0-p(R1-p(R2,C2),C1)-L0", b);
  const double d[] = {2e-6, 40,   0.003, 20, 0.001, 0.8, 30,
                      0.02, 1e-3, 0.7,   30, 0.02,  0.9, 7};
  check_derivs("L0-p(K1,Zarc1)-p(TLM1,La1)-TLMQ1-W1", d);
  const double e[] = {3, 1e-3, 8, 80, 1e-2, 25, 0.02, 1.7, 2e-4, 0.9};
  check_derivs("p(p(R1,C1),R2-Ws2-Gs1,CPE3)", e);
}

static void test_names(void) {
  nimc_circuit *c = NULL;
  nimc_err err;
  CHECK(nimc_circuit_parse(&c, " R0 - p(R1, CPE1) - Wo1 ", &err) == NIMC_OK);
  if (!c) return;
  CHECK(strcmp(nimc_circuit_text(c), "R0-p(R1,CPE1)-Wo1") == 0);
  const char *names[] = {"R0", "R1", "CPE1_0", "CPE1_1", "Wo1_0", "Wo1_1"};
  const char *units[] = {"ohm", "ohm", "ohm^-1 s^a", "1", "ohm", "s"};
  CHECK(nimc_circuit_nparams(c) == 6);
  for (size_t k = 0; k < 6; k++) {
    CHECK(strcmp(nimc_circuit_param_name(c, k), names[k]) == 0);
    CHECK(strcmp(nimc_circuit_param_unit(c, k), units[k]) == 0);
    CHECK(nimc_circuit_param_index(c, names[k]) == (int)k);
    double lo, hi;
    nimc_circuit_param_bounds(c, k, &lo, &hi);
    CHECK(lo == 0.0);
    CHECK(k == 3 ? hi == 1.0 : isinf(hi) && hi > 0);
  }
  CHECK(nimc_circuit_param_index(c, "CPE1") == -1);
  CHECK(nimc_circuit_param_index(c, "R2") == -1);
  CHECK(nimc_circuit_param_name(c, 6) == NULL);
  CHECK(nimc_circuit_param_unit(c, 6) == NULL);
  double lo = 0, hi = 0;
  nimc_circuit_param_bounds(c, 6, &lo, &hi);
  CHECK(isnan(lo) && isnan(hi));
  CHECK(nimc_circuit_rct_index(c) == 1);
  nimc_circuit_destroy(c);

  /* units of every element type */
  struct {
    const char *text;
    const char *units[3];
  } u[] = {{"C1", {"F"}},
           {"L1", {"H"}},
           {"W1", {"ohm s^-1/2"}},
           {"Ws1", {"ohm", "s"}},
           {"La1", {"H s^(a-1)", "1"}},
           {"G1", {"ohm", "s"}},
           {"Gs1", {"ohm", "s", "1"}},
           {"K1", {"ohm", "s"}},
           {"Zarc1", {"ohm", "s", "1"}},
           {"TLM1", {"ohm", "F"}},
           {"TLMQ1", {"ohm", "ohm^-1 s^a", "1"}}};
  for (size_t i = 0; i < sizeof u / sizeof u[0]; i++) {
    CHECK(nimc_circuit_parse(&c, u[i].text, &err) == NIMC_OK);
    if (!c) continue;
    for (size_t k = 0; k < nimc_circuit_nparams(c); k++)
      CHECK(strcmp(nimc_circuit_param_unit(c, k), u[i].units[k]) == 0);
    nimc_circuit_destroy(c);
  }

  /* the charge-transfer resistance */
  struct {
    const char *text;
    int rct;
  } r[] = {{"R0-p(R1,C1)-p(R2-Wo1,C2)", 1},
           {"R0-p(C1,R1)", 2},
           {"R0-p(R2-Wo1,CPE2)", 1},
           {"R0-L1", -1},
           {"p(R1,L1)", -1},
           {"R0-p(R1-C1,L1)", -1},
           {"p(R1,p(R2,C2))", 1},
           {"L0-R0-p(K1,R1)-p(R2,C2)", 5},
           {"R5", -1}};
  for (size_t i = 0; i < sizeof r / sizeof r[0]; i++) {
    CHECK(nimc_circuit_parse(&c, r[i].text, &err) == NIMC_OK);
    if (!c) continue;
    if (nimc_circuit_rct_index(c) != r[i].rct) {
      tl_fail++;
      fprintf(stderr, "rct of %s = %d, expected %d\n", r[i].text,
              nimc_circuit_rct_index(c), r[i].rct);
    } else {
      tl_pass++;
    }
    nimc_circuit_destroy(c);
  }
}

/* text must fail with NIMC_EINPUT at column col, the message holding
 * `needle`, ending with the string and a caret under column col. */
static void check_bad(const char *text, int col, const char *needle) {
  nimc_circuit *c = (nimc_circuit *)&c; /* must be reset to NULL */
  nimc_err err;
  memset(&err, 0, sizeof err);
  int rc = nimc_circuit_parse(&c, text, &err);
  CHECK(rc == NIMC_EINPUT);
  CHECK(err.code == NIMC_EINPUT);
  CHECK(c == NULL);
  char tag[32];
  snprintf(tag, sizeof tag, "column %d:", col);
  CHECK_CONTAINS(err.msg, tag);
  CHECK_CONTAINS(err.msg, needle);
  const char *l2 = strrchr(err.msg, '\n');
  if (!l2) {
    CHECK(l2 != NULL);
    return;
  }
  const char *l1 = l2;
  while (l1 > err.msg && l1[-1] != '\n')
    l1--;
  /* the caret line: one '^'; above it, the offending character */
  const char *caret = strchr(l2 + 1, '^');
  int at = caret ? (int)(caret - (l2 + 1)) : -1;
  int ok = caret && !strchr(caret + 1, '^');
  size_t len = strlen(text);
  if (ok && len <= 160) {
    /* short strings are quoted whole: the caret is at offset col - 1 */
    ok = at == col - 1 && (size_t)(l2 - l1) == len &&
         strncmp(l1, text, len) == 0;
  } else if (ok) {
    /* a window: the character above the caret is text[col - 1] */
    ok = (size_t)col <= len && at < (int)(l2 - l1) && l1[at] == text[col - 1];
  }
  if (!ok) {
    tl_fail++;
    fprintf(stderr, "caret for \"%s\" at %d, expected %d:\n%s\n", text, at + 1,
            col, err.msg);
  } else {
    tl_pass++;
  }
}

static void test_errors(void) {
  check_bad("", 1, "empty");
  check_bad("   ", 4, "empty");
  check_bad("p(R1,C1", 8, "missing ')' to close the 'p(' opened at column 1");
  check_bad("R0-p(R1,p(R2,C2)", 17, "opened at column 4");
  check_bad("R0-p(R1,C1))", 12, "unmatched ')'");
  check_bad("R0-CEP1", 4, "did you mean 'CPE'?");
  check_bad("R0-CEP1", 4, "Zarc"); /* the known types are listed */
  check_bad("R0 - p(R1, C1) - Wx2", 18, "did you mean 'W");
  check_bad("R0-Q2", 4, "unknown element type 'Q'");
  check_bad("r0", 1, "did you mean 'R'?");
  check_bad("R0-P(R1,C1)", 4, "did you mean 'p('?");
  check_bad("R0-R", 5, "element 'R' has no number");
  check_bad("R-C1", 2, "element 'R' has no number");
  check_bad("R1-p(R1,C1)", 6, "'R1' is used twice (first at column 1)");
  check_bad("p(R1,)", 6, "empty branch");
  check_bad("p(,R1)", 3, "empty branch");
  check_bad("R0--R1", 4, "after '-'");
  check_bad("-R0", 1, "at the start");
  check_bad("R0-", 4, "unexpected end");
  check_bad("p(R1)", 5, "at least two");
  check_bad("R0-p(R1,C1)#", 12, "unexpected character '#'");
  check_bad("R0-p(R1,C1$)", 11, "found '$'");
  check_bad("R0-pR1", 5, "'p' must be followed by '('");
  check_bad("R0-p", 5, "'p' must be followed by '('");
  check_bad("R0,R1", 3, "',' outside p(...)");
  check_bad("R0-(R1)", 4, "'(' without 'p'");
  check_bad("R0-p(R1,C1)R2", 12, "expected '-'");
  check_bad("R0-5", 4, "a number without an element type");
  check_bad("R0-R1234567890", 5, "more than 9 digits");
  check_bad("R0\t-\tCEP1", 6, "did you mean 'CPE'?");
  check_bad("p(R1 C1)", 6, "expected '-', ',' or ')'");

  /* nesting: 64 levels parse, 65 do not (the 65th 'p' is at column 129) */
  char deep[1024];
  for (int depth = 64; depth <= 65; depth++) {
    size_t k = 0;
    for (int i = 0; i < depth; i++)
      k += (size_t)sprintf(deep + k, "p(");
    k += (size_t)sprintf(deep + k, "R0");
    for (int i = 0; i < depth; i++)
      k += (size_t)sprintf(deep + k, ",C%d)", i);
    nimc_circuit *c = NULL;
    nimc_err err;
    int rc = nimc_circuit_parse(&c, deep, &err);
    if (depth == 64) {
      CHECK(rc == NIMC_OK);
      CHECK(nimc_circuit_nparams(c) == 65);
      nimc_circuit_destroy(c);
    } else {
      check_bad(deep, 129, "nested deeper than 64");
    }
  }
  /* length: the message quotes a window; the column is still right */
  size_t big = 5000;
  char *s = malloc(big + 1);
  for (size_t i = 0; i < big; i += 5)
    memcpy(s + i, "R0-R1", 5);
  s[big] = '\0';
  nimc_circuit *c = NULL;
  nimc_err err;
  CHECK(nimc_circuit_parse(&c, s, &err) == NIMC_EINPUT);
  CHECK_CONTAINS(err.msg, "column 4097:");
  CHECK_CONTAINS(err.msg, "longer than 4096");
  CHECK(strlen(err.msg) < sizeof err.msg - 1);
  free(s);
  CHECK(nimc_circuit_parse(&c, NULL, &err) == NIMC_EINPUT);
  nimc_circuit_destroy(NULL);
}

/* eval rejects a frequency or parameter that makes Z not finite */
static void test_eval_errors(void) {
  nimc_circuit *c = NULL;
  nimc_err err;
  CHECK(nimc_circuit_parse(&c, "R0-C1", &err) == NIMC_OK);
  double p[] = {1.0, 0.0}, f = 10.0, re, im;
  CHECK(nimc_circuit_eval(c, p, &f, 1, &re, &im, NULL, NULL) == NIMC_EINPUT);
  p[1] = 1e-3;
  f = 0.0;
  CHECK(nimc_circuit_eval(c, p, &f, 1, &re, &im, NULL, NULL) == NIMC_EINPUT);
  f = -1.0;
  CHECK(nimc_circuit_eval(c, p, &f, 1, &re, &im, NULL, NULL) == NIMC_EINPUT);
  f = 1.0;
  CHECK(nimc_circuit_eval(c, p, &f, 1, &re, &im, NULL, NULL) == NIMC_OK);
  nimc_circuit_destroy(c);

  /* R = 0 (on its bound) shorts a parallel group: Z = R0, dZ/dR1 = 1 */
  CHECK(nimc_circuit_parse(&c, "R0-p(R1,C1)", &err) == NIMC_OK);
  double q[] = {7.0, 0.0, 1e-3}, dre[3], dim[3];
  CHECK(nimc_circuit_eval(c, q, &f, 1, &re, &im, dre, dim) == NIMC_OK);
  CHECK(re == 7.0 && im == 0.0);
  CHECK(dre[0] == 1.0 && dre[1] == 1.0 && dre[2] == 0.0);
  CHECK(dim[0] == 0.0 && dim[1] == 0.0 && dim[2] == 0.0);
  /* NaN parameters are refused */
  q[1] = NAN;
  CHECK(nimc_circuit_eval(c, q, &f, 1, &re, &im, NULL, NULL) == NIMC_EINPUT);
  nimc_circuit_destroy(c);
}

int main(void) {
  RUN(test_elements_closed_form);
  RUN(test_limits);
  RUN(test_networks);
  RUN(test_derivatives);
  RUN(test_names);
  RUN(test_errors);
  RUN(test_eval_errors);
  return TEST_REPORT();
}
