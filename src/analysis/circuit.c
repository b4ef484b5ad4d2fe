/*
 * circuit.c -- the equivalent-circuit language: parsing, parameter names,
 * units and bounds, and the impedance with its analytic derivatives.
 *
 * The language is impedance.py's: elements joined in series by '-', in
 * parallel by p(a, b, ...), nested freely; an element is a type name and a
 * number (R0, CPE1, Wo12).  Blanks (any white space) are ignored anywhere,
 * so the text is first compacted and every compact character remembers its
 * column in the string as given; error messages quote that column and end
 * with the string and a caret under the offending character (a string
 * longer than 160 characters is quoted as a window around the column, so
 * the message fits in an nimc_err; tabs are kept in both lines so the
 * caret stays aligned; other control characters are shown as blanks).
 * The string is at most 4096 characters and p(...) nests at most 64 deep.
 * The grammar is small enough for recursive descent:
 *
 *   circuit := series END
 *   series  := term ('-' term)*
 *   term    := TYPE NUMBER | 'p' '(' series (',' series)+ ')'
 *
 * The parse builds an expression tree stored flat in post order (children
 * before parents), so evaluation is two loops over an array: bottom-up for
 * Z (series: Z = sum Z_i; parallel: Z = 1/sum 1/Z_i), then top-down for
 * the chain factor of each node, dZ/dZ_node (1 through a series node,
 * (Z/Z_i)^2 through a parallel one), which multiplies each element's own
 * derivatives.  A branch with Z = 0 (R = 0, on its bound) shorts its
 * parallel group: Z = 0 and only that branch moves it.  One table (ELEMS)
 * drives parsing, names, units, bounds, roles and evaluation: adding an
 * element is one row and one function that returns Z and dZ/dp.
 *
 * Numerics of the diffusion-type elements: coth(x)/x and tanh(x)/x and
 * their derivatives are written with ctanh only (which saturates to +-1 for
 * a large real part instead of overflowing) and by their Taylor series for
 * |x| < 1e-2, where the closed forms cancel.  The transmission lines are
 * the finite-space Warburg in disguise: sqrt(R/(jwC)) coth(sqrt(jwRC)) =
 * R coth(x)/x with x = sqrt(jwRC), and likewise with a CPE interface.
 *
 * What does not live here: fitting (eisfit.c), spectra (spectrum.c).
 */
#include <complex.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/circuit.h"

#define MAX_LEN 4096  /* characters of a circuit string, as given */
#define MAX_DEPTH 64  /* nesting of p(...) */
#define MAX_DIGITS 9  /* of an element number */
#define MAX_NP 3      /* parameters of one element */
#define SERIES_X 1e-2 /* |x| below which the series forms are used */
#define ECHO_MAX 160  /* characters of the string quoted in a message */

static const double PI = 3.14159265358979323846;

typedef double complex cplx;

/* Z and dZ/dp_j (j < np) of an element at angular frequency w. */
typedef void (*elem_fn)(double w, const double *p, cplx *z, cplx *dz);

typedef struct elem_type {
  const char *name;
  int np;
  const char *unit[MAX_NP];
  double lo[MAX_NP], hi[MAX_NP];
  nimc_param_role role[MAX_NP];
  elem_fn fn;
} elem_type;

/* ---- special functions ---- */

/* a / b by Smith's algorithm: inline, and safe for a large |b| (the
 * library's C99 division, __divdc3, dominated the run time of a fit). */
static cplx cdiv(cplx a, cplx b) {
  double c = creal(b), d = cimag(b);
  if (fabs(c) >= fabs(d)) {
    double r = d / c, den = c + d * r;
    return CMPLX((creal(a) + cimag(a) * r) / den,
                 (cimag(a) - creal(a) * r) / den);
  }
  double r = c / d, den = c * r + d;
  return CMPLX((creal(a) * r + cimag(a)) / den,
               (cimag(a) * r - creal(a)) / den);
}

/* 1 / b. */
static cplx cinv(cplx b) {
  return cdiv(1.0, b);
}

/* ln(j w) = ln w + j pi/2. */
static cplx log_jw(double w) {
  return CMPLX(log(w), 0.5 * PI);
}

/* g(x) = coth(x)/x. */
static cplx coth_over_x(cplx x) {
  if (cabs(x) < SERIES_X) {
    cplx x2 = x * x;
    return cinv(x2) + 1.0 / 3.0 - x2 / 45.0 + 2.0 * x2 * x2 / 945.0;
  }
  return cinv(x * ctanh(x));
}

/* D(x) = csch^2(x) + coth(x)/x, so that x g'(x) = -D(x). */
static cplx coth_over_x_d(cplx x) {
  if (cabs(x) < SERIES_X) {
    cplx x2 = x * x;
    return 2.0 * cinv(x2) + 2.0 * x2 / 45.0 - 8.0 * x2 * x2 / 945.0;
  }
  cplx t = ctanh(x);
  return cdiv(1.0 - t * t, t * t) + cinv(x * t);
}

/* h(x) = tanh(x)/x. */
static cplx tanh_over_x(cplx x) {
  if (cabs(x) < SERIES_X) {
    cplx x2 = x * x;
    return 1.0 - x2 / 3.0 + 2.0 * x2 * x2 / 15.0 - 17.0 * x2 * x2 * x2 / 315.0;
  }
  return cdiv(ctanh(x), x);
}

/* E(x) = sech^2(x) - tanh(x)/x, so that x h'(x) = E(x). */
static cplx tanh_over_x_d(cplx x) {
  if (cabs(x) < SERIES_X) {
    cplx x2 = x * x, x4 = x2 * x2;
    return -2.0 * x2 / 3.0 + 8.0 * x4 / 15.0 - 34.0 * x4 * x2 / 105.0 +
           496.0 * x4 * x4 / 2835.0;
  }
  cplx t = ctanh(x);
  return (1.0 - t * t) - cdiv(t, x);
}

/* ---- elements: Z and dZ/dp ---- */

/* R: Z = R. */
static void el_r(double w, const double *p, cplx *z, cplx *dz) {
  (void)w;
  *z = p[0];
  dz[0] = 1.0;
}

/* C: Z = 1/(j w C). */
static void el_c(double w, const double *p, cplx *z, cplx *dz) {
  *z = CMPLX(0.0, -1.0 / (w * p[0]));
  dz[0] = -*z / p[0];
}

/* L: Z = j w L. */
static void el_l(double w, const double *p, cplx *z, cplx *dz) {
  *z = CMPLX(0.0, w * p[0]);
  dz[0] = CMPLX(0.0, w);
}

/* CPE: Z = 1/(Q (j w)^a). */
static void el_cpe(double w, const double *p, cplx *z, cplx *dz) {
  cplx l = log_jw(w);
  *z = cexp(-p[1] * l) / p[0];
  dz[0] = -*z / p[0];
  dz[1] = -*z * l;
}

/* W: Z = A (1 - j)/sqrt(w). */
static void el_w(double w, const double *p, cplx *z, cplx *dz) {
  double s = 1.0 / sqrt(w);
  dz[0] = CMPLX(s, -s);
  *z = p[0] * dz[0];
}

/* Wo: Z = Z0 coth(x)/x, x = sqrt(j w tau). */
static void el_wo(double w, const double *p, cplx *z, cplx *dz) {
  cplx x = csqrt(CMPLX(0.0, w * p[1]));
  cplx g = coth_over_x(x);
  *z = p[0] * g;
  dz[0] = g;
  dz[1] = -p[0] * coth_over_x_d(x) / (2.0 * p[1]);
}

/* Ws: Z = Z0 tanh(x)/x, x = sqrt(j w tau). */
static void el_ws(double w, const double *p, cplx *z, cplx *dz) {
  cplx x = csqrt(CMPLX(0.0, w * p[1]));
  cplx h = tanh_over_x(x);
  *z = p[0] * h;
  dz[0] = h;
  dz[1] = p[0] * tanh_over_x_d(x) / (2.0 * p[1]);
}

/* La: Z = L (j w)^a. */
static void el_la(double w, const double *p, cplx *z, cplx *dz) {
  cplx l = log_jw(w);
  cplx e = cexp(p[1] * l);
  *z = p[0] * e;
  dz[0] = e;
  dz[1] = *z * l;
}

/* G: Z = R / sqrt(1 + j w t). */
static void el_g(double w, const double *p, cplx *z, cplx *dz) {
  cplx d = CMPLX(1.0, w * p[1]);
  cplx s = csqrt(d);
  dz[0] = cinv(s);
  *z = p[0] * dz[0];
  dz[1] = cdiv(-*z * CMPLX(0.0, w), 2.0 * d);
}

/* Gs: Z = R / (s tanh(phi s)), s = sqrt(1 + j w t). */
static void el_gs(double w, const double *p, cplx *z, cplx *dz) {
  cplx s = csqrt(CMPLX(1.0, w * p[1]));
  cplx t = ctanh(p[2] * s);
  cplx q = cdiv(1.0 - t * t, t); /* sech^2 / tanh of phi s */
  dz[0] = cinv(s * t);
  *z = p[0] * dz[0];
  dz[1] = cdiv(-*z * (cinv(s) + p[2] * q) * CMPLX(0.0, w), 2.0 * s);
  dz[2] = -*z * s * q;
}

/* K (Voigt): Z = R/(1 + j w tau). */
static void el_k(double w, const double *p, cplx *z, cplx *dz) {
  cplx d = CMPLX(1.0, w * p[1]);
  dz[0] = cinv(d);
  *z = p[0] * dz[0];
  dz[1] = -*z * CMPLX(0.0, w) * dz[0];
}

/* Zarc: Z = R/(1 + (j w tau)^a). */
static void el_zarc(double w, const double *p, cplx *z, cplx *dz) {
  cplx l = CMPLX(log(w * p[1]), 0.5 * PI);
  cplx q = cexp(p[2] * l);
  cplx d = 1.0 + q;
  dz[0] = cinv(d);
  *z = p[0] * dz[0];
  cplx dzdq = -*z * dz[0];
  dz[1] = dzdq * p[2] * q / p[1];
  dz[2] = dzdq * q * l;
}

/* TLM: Z = sqrt(R/(j w C)) coth(sqrt(j w R C)) = R coth(x)/x. */
static void el_tlm(double w, const double *p, cplx *z, cplx *dz) {
  cplx x = csqrt(CMPLX(0.0, w * p[0] * p[1]));
  cplx g = coth_over_x(x), d = coth_over_x_d(x);
  *z = p[0] * g;
  dz[0] = g - 0.5 * d;
  dz[1] = -p[0] * d / (2.0 * p[1]);
}

/* TLMQ: Z = sqrt(R Zs) coth(sqrt(R/Zs)), Zs = 1/(Q (j w)^a); with
 * x = sqrt(R Q (j w)^a) this is R coth(x)/x. */
static void el_tlmq(double w, const double *p, cplx *z, cplx *dz) {
  cplx l = log_jw(w);
  cplx x = sqrt(p[0] * p[1]) * cexp(0.5 * p[2] * l);
  cplx g = coth_over_x(x), d = coth_over_x_d(x);
  *z = p[0] * g;
  dz[0] = g - 0.5 * d;
  dz[1] = -p[0] * d / (2.0 * p[1]);
  dz[2] = -0.5 * p[0] * d * l;
}

/* clang-format off */
#define INF HUGE_VAL
static const elem_type ELEMS[] = {
    {"R", 1, {"ohm"}, {0}, {INF}, {NIMC_ROLE_R}, el_r},
    {"C", 1, {"F"}, {0}, {INF}, {NIMC_ROLE_C}, el_c},
    {"L", 1, {"H"}, {0}, {INF}, {NIMC_ROLE_L}, el_l},
    {"CPE", 2, {"ohm^-1 s^a", "1"}, {0, 0}, {INF, 1},
     {NIMC_ROLE_Q, NIMC_ROLE_EXP}, el_cpe},
    {"W", 1, {"ohm s^-1/2"}, {0}, {INF}, {NIMC_ROLE_AW}, el_w},
    {"Wo", 2, {"ohm", "s"}, {0, 0}, {INF, INF},
     {NIMC_ROLE_R, NIMC_ROLE_TAU}, el_wo},
    {"Ws", 2, {"ohm", "s"}, {0, 0}, {INF, INF},
     {NIMC_ROLE_R, NIMC_ROLE_TAU}, el_ws},
    {"La", 2, {"H s^(a-1)", "1"}, {0, 0}, {INF, 1},
     {NIMC_ROLE_LA, NIMC_ROLE_EXP}, el_la},
    {"G", 2, {"ohm", "s"}, {0, 0}, {INF, INF},
     {NIMC_ROLE_R, NIMC_ROLE_TAU}, el_g},
    {"Gs", 3, {"ohm", "s", "1"}, {0, 0, 0}, {INF, INF, INF},
     {NIMC_ROLE_R, NIMC_ROLE_TAU, NIMC_ROLE_RATIO}, el_gs},
    {"K", 2, {"ohm", "s"}, {0, 0}, {INF, INF},
     {NIMC_ROLE_R, NIMC_ROLE_TAU}, el_k},
    {"Zarc", 3, {"ohm", "s", "1"}, {0, 0, 0}, {INF, INF, 1},
     {NIMC_ROLE_R, NIMC_ROLE_TAU, NIMC_ROLE_EXP}, el_zarc},
    {"TLM", 2, {"ohm", "F"}, {0, 0}, {INF, INF},
     {NIMC_ROLE_R, NIMC_ROLE_C}, el_tlm},
    {"TLMQ", 3, {"ohm", "ohm^-1 s^a", "1"}, {0, 0, 0}, {INF, INF, 1},
     {NIMC_ROLE_R, NIMC_ROLE_Q, NIMC_ROLE_EXP}, el_tlmq},
};
#undef INF
/* clang-format on */
#define NELEMS (sizeof ELEMS / sizeof ELEMS[0])
static const char KNOWN[] = "R, C, L, CPE, W, Wo, Ws, La, G, Gs, K, Zarc, "
                            "TLM, TLMQ";

/* ---- the circuit object ---- */

enum { NODE_ELEM, NODE_SERIES, NODE_PARALLEL };

typedef struct node {
  int kind;
  int type;   /* NODE_ELEM: index in ELEMS */
  int p0;     /* NODE_ELEM: first parameter */
  int first;  /* first child, -1 for none */
  int next;   /* next sibling, -1 for none */
  int parent; /* -1 for the root */
  int pos;    /* compact position of its first character */
} node;

#define NAME_LEN 32

struct nimc_circuit {
  char *text;  /* compact string */
  node *nodes; /* post order; the root is last */
  size_t nn, ne, np;
  char (*pname)[NAME_LEN];
  const char **punit;
  double *plo, *phi;
  nimc_param_info *pinfo;
};

/* ---- parsing ---- */

typedef struct parser {
  const char *orig; /* as given */
  size_t olen;
  char *s;  /* compact */
  int *col; /* 1-based column in orig of s[i]; col[len] = olen + 1 */
  size_t len, pos;
  int depth;
  nimc_circuit *c;
  size_t cap;              /* of c->nodes */
  char (*ename)[NAME_LEN]; /* element names, for duplicates */
  int *epos;
  nimc_err *err;
} parser;

/* Format "circuit: column N: <what>" and the two echo lines into err. */
static int fail_at(const char *orig, size_t olen, int col, nimc_err *err,
                   const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

static int fail_at(const char *orig, size_t olen, int col, nimc_err *err,
                   const char *fmt, ...) {
  char what[512], echo[ECHO_MAX + 8], caret[ECHO_MAX + 8];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  /* a window of the string around the column when it is long */
  size_t at = (size_t)(col - 1), from = 0, to = olen;
  if (olen > ECHO_MAX) {
    from = at > ECHO_MAX / 2 ? at - ECHO_MAX / 2 : 0;
    to = from + ECHO_MAX < olen ? from + ECHO_MAX : olen;
  }
  size_t e = 0, k = 0;
  if (from > 0) {
    memcpy(echo, "...", 3);
    memcpy(caret, "   ", 3);
    e = k = 3;
  }
  for (size_t i = from; i < to; i++) {
    unsigned char ch = (unsigned char)orig[i];
    echo[e++] = ch == '\t' ? '\t' : (ch >= 0x20 && ch < 0x7f) ? (char)ch : ' ';
  }
  if (to < olen) {
    memcpy(echo + e, "...", 3);
    e += 3;
  }
  echo[e] = '\0';
  /* the caret line copies tabs so the caret stays under its character */
  for (size_t i = from; i < at && k < ECHO_MAX + 4; i++)
    caret[k++] = i < to && orig[i] == '\t' ? '\t' : ' ';
  caret[k++] = '^';
  caret[k] = '\0';
  return nimc_err_set(err, NIMC_EINPUT, "circuit: column %d: %s\n%s\n%s", col,
                      what, echo, caret);
}

#define FAIL(st, at, ...)                                                      \
  fail_at((st)->orig, (st)->olen, (st)->col[(at)], (st)->err, __VA_ARGS__)

/* Character classes of the C locale, whatever the locale is. */
static int is_blank(char ch) {
  return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' ||
         ch == '\f';
}
static int is_alpha(char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}
static int is_digit(char ch) {
  return ch >= '0' && ch <= '9';
}
static char lower(char ch) {
  return ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
}

/* Optimal-string-alignment distance of a[0..na) and b, ignoring case. */
static int edit_distance(const char *a, size_t na, const char *b) {
  enum { M = 34 };
  size_t nb = strlen(b);
  if (na >= M - 1 || nb >= M - 1) return 99;
  int d[M][M];
  for (size_t i = 0; i <= na; i++)
    d[i][0] = (int)i;
  for (size_t j = 0; j <= nb; j++)
    d[0][j] = (int)j;
  for (size_t i = 1; i <= na; i++) {
    for (size_t j = 1; j <= nb; j++) {
      int cost = lower(a[i - 1]) != lower(b[j - 1]);
      int v = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < v) v = d[i][j - 1] + 1;
      if (d[i - 1][j - 1] + cost < v) v = d[i - 1][j - 1] + cost;
      if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) &&
          lower(a[i - 2]) == lower(b[j - 1]) && d[i - 2][j - 2] + 1 < v)
        v = d[i - 2][j - 2] + 1;
      d[i][j] = v;
    }
  }
  return d[na][nb];
}

/* The known type closest to name[0..n), or NULL when none is close. */
static const char *closest_type(const char *name, size_t n) {
  const char *best = NULL;
  int bd = 99;
  for (size_t t = 0; t < NELEMS; t++) {
    int d = edit_distance(name, n, ELEMS[t].name);
    if (d < bd) {
      bd = d;
      best = ELEMS[t].name;
    }
  }
  int limit = n <= 2 ? 1 : 2;
  return bd <= limit ? best : NULL;
}

/* What the parser stood after, for messages: "after '-'" etc. */
static const char *context(const parser *st) {
  if (st->pos == 0) return "at the start";
  switch (st->s[st->pos - 1]) {
  case '-':
    return "after '-'";
  case '(':
    return "after 'p('";
  case ',':
    return "after ','";
  default:
    return "here";
  }
}

/* Describe character ch for a message ('x' or a code). */
static const char *show_char(char ch, char buf[16]) {
  if ((unsigned char)ch >= 0x20 && (unsigned char)ch < 0x7f)
    snprintf(buf, 16, "'%c'", ch);
  else
    snprintf(buf, 16, "byte 0x%02x", (unsigned)(unsigned char)ch);
  return buf;
}

/* Append a node; returns its index. */
static int add_node(parser *st, int kind, int pos) {
  nimc_circuit *c = st->c;
  node *nd = &c->nodes[c->nn];
  nd->kind = kind;
  nd->type = -1;
  nd->p0 = -1;
  nd->first = nd->next = nd->parent = -1;
  nd->pos = pos;
  return (int)c->nn++;
}

static int parse_series(parser *st, int *out);

/* An element at st->pos (letters known to be there). */
static int parse_element(parser *st, int *out) {
  size_t start = st->pos, p = start;
  while (p < st->len && is_alpha(st->s[p]))
    p++;
  size_t nl = p - start;
  int type = -1;
  for (size_t t = 0; t < NELEMS; t++)
    if (strlen(ELEMS[t].name) == nl &&
        strncmp(ELEMS[t].name, st->s + start, nl) == 0)
      type = (int)t;
  if (type < 0) {
    if (nl == 1 && st->s[start] == 'P' && p < st->len && st->s[p] == '(')
      return FAIL(st, start,
                  "unknown element type 'P'; did you mean 'p('? (a parallel "
                  "group is written with a lower-case p: p(a,b))");
    const char *sug = closest_type(st->s + start, nl);
    if (sug)
      return FAIL(st, start,
                  "unknown element type '%.*s'; did you mean '%s'? (known "
                  "types: %s)",
                  (int)(nl > 40 ? 40 : nl), st->s + start, sug, KNOWN);
    return FAIL(st, start, "unknown element type '%.*s' (known types: %s)",
                (int)(nl > 40 ? 40 : nl), st->s + start, KNOWN);
  }
  size_t d0 = p;
  while (p < st->len && is_digit(st->s[p]))
    p++;
  if (p == d0)
    return FAIL(st, d0,
                "element '%s' has no number: expected a number after the "
                "type, as in '%s0'",
                ELEMS[type].name, ELEMS[type].name);
  if (p - d0 > MAX_DIGITS)
    return FAIL(st, d0, "element number has more than %d digits", MAX_DIGITS);
  nimc_circuit *c = st->c;
  char name[NAME_LEN];
  snprintf(name, sizeof name, "%.*s", (int)(p - start), st->s + start);
  for (size_t e = 0; e < c->ne; e++)
    if (strcmp(st->ename[e], name) == 0)
      return FAIL(st, start,
                  "element name '%s' is used twice (first at column %d); "
                  "each element needs its own number",
                  name, st->col[st->epos[e]]);
  memcpy(st->ename[c->ne], name, sizeof name);
  st->epos[c->ne] = (int)start;
  int id = add_node(st, NODE_ELEM, (int)start);
  c->nodes[id].type = type;
  c->nodes[id].p0 = (int)c->np;
  c->np += (size_t)ELEMS[type].np;
  c->ne++;
  st->pos = p;
  *out = id;
  return NIMC_OK;
}

/* A parallel group p(...) at st->pos. */
static int parse_parallel(parser *st, int *out) {
  size_t at = st->pos;
  if (++st->depth > MAX_DEPTH)
    return FAIL(st, at, "p(...) nested deeper than %d levels", MAX_DEPTH);
  st->pos += 2; /* "p(" */
  int first = -1, last = -1;
  size_t nk = 0;
  for (;;) {
    int kid;
    int rc = parse_series(st, &kid);
    if (rc) return rc;
    if (first < 0)
      first = kid;
    else
      st->c->nodes[last].next = kid;
    last = kid;
    nk++;
    if (st->pos >= st->len)
      return FAIL(st, st->len,
                  "unexpected end: missing ')' to close the 'p(' opened at "
                  "column %d",
                  st->col[at]);
    char ch = st->s[st->pos];
    if (ch == ',') {
      st->pos++;
      continue;
    }
    if (ch == ')') break;
    char b[16];
    return FAIL(st, st->pos,
                "expected '-', ',' or ')' in the p(...) opened at column %d, "
                "found %s%s",
                st->col[at], show_char(ch, b),
                is_alpha(ch) ? " (a '-' or ',' missing?)" : "");
  }
  if (nk < 2)
    return FAIL(st, st->pos,
                "the p(...) opened at column %d has one branch: a parallel "
                "group needs at least two, separated by ','",
                st->col[at]);
  int id = add_node(st, NODE_PARALLEL, (int)at);
  node *nodes = st->c->nodes;
  nodes[id].first = first;
  for (int k = first; k >= 0; k = nodes[k].next)
    nodes[k].parent = id;
  st->pos++; /* ')' */
  st->depth--;
  *out = id;
  return NIMC_OK;
}

/* One term: an element or a parallel group. */
static int parse_term(parser *st, int *out) {
  char b[16];
  if (st->pos >= st->len)
    return FAIL(st, st->len, "unexpected end: expected an element or p(...) %s",
                context(st));
  char ch = st->s[st->pos];
  if (ch == '-')
    return FAIL(st, st->pos,
                "missing element: expected an element or p(...) %s, found "
                "'-'",
                context(st));
  if (ch == ',' || ch == ')')
    return FAIL(st, st->pos,
                "empty branch: expected an element or p(...) %s, found '%c'",
                context(st), ch);
  if (ch == 'p') { /* no element type starts with a lower-case p */
    if (st->pos + 1 < st->len && st->s[st->pos + 1] == '(')
      return parse_parallel(st, out);
    return FAIL(st, st->pos + 1,
                "'p' must be followed by '(' to open a parallel group "
                "p(a,b,...)");
  }
  if (is_alpha(ch)) return parse_element(st, out);
  if (ch == '(')
    return FAIL(st, st->pos,
                "'(' without 'p': a parallel group is written p(a,b,...)");
  if (is_digit(ch))
    return FAIL(st, st->pos,
                "a number without an element type: expected a type such as "
                "R, C or CPE before it");
  return FAIL(st, st->pos,
              "unexpected character %s: expected an element (such as R0 or "
              "CPE1) or p(...) %s",
              show_char(ch, b), context(st));
}

/* term ('-' term)*: one node, a series node when there are several. */
static int parse_series(parser *st, int *out) {
  int first, last, n = 1;
  int rc = parse_term(st, &first);
  if (rc) return rc;
  last = first;
  while (st->pos < st->len && st->s[st->pos] == '-') {
    st->pos++;
    int kid;
    rc = parse_term(st, &kid);
    if (rc) return rc;
    st->c->nodes[last].next = kid;
    last = kid;
    n++;
  }
  if (n == 1) {
    *out = first;
    return NIMC_OK;
  }
  int id = add_node(st, NODE_SERIES, st->c->nodes[first].pos);
  node *nodes = st->c->nodes;
  nodes[id].first = first;
  for (int k = first; k >= 0; k = nodes[k].next)
    nodes[k].parent = id;
  *out = id;
  return NIMC_OK;
}

/* What is wrong with the character left over after a complete circuit. */
static int trailing(parser *st) {
  char ch = st->s[st->pos], b[16];
  if (ch == ')')
    return FAIL(st, st->pos, "unmatched ')': no 'p(' is open here");
  if (ch == ',')
    return FAIL(st, st->pos,
                "',' outside p(...): branches in parallel are written "
                "p(a,b), elements in series are joined by '-'");
  if (is_alpha(ch) || ch == '(')
    return FAIL(st, st->pos,
                "expected '-' (series) or the end of the circuit, found %s",
                show_char(ch, b));
  return FAIL(st, st->pos,
              "unexpected character %s: expected '-' (series) or the end of "
              "the circuit",
              show_char(ch, b));
}

/* Names, units, bounds and roles of every parameter, once parsed. */
static int describe(nimc_circuit *c) {
  size_t np = c->np ? c->np : 1;
  c->pname = calloc(np, sizeof *c->pname);
  c->punit = calloc(np, sizeof *c->punit);
  c->plo = calloc(np, sizeof *c->plo);
  c->phi = calloc(np, sizeof *c->phi);
  c->pinfo = calloc(np, sizeof *c->pinfo);
  if (!c->pname || !c->punit || !c->plo || !c->phi || !c->pinfo)
    return NIMC_ENOMEM;
  int ord = 0;
  for (size_t i = 0; i < c->nn; i++) {
    const node *nd = &c->nodes[i];
    if (nd->kind != NODE_ELEM) continue;
    const elem_type *t = &ELEMS[nd->type];
    int digits = 0;
    while (is_digit(c->text[nd->pos + (int)strlen(t->name) + digits]))
      digits++;
    int inpar = 0;
    for (int a = nd->parent; a >= 0; a = c->nodes[a].parent)
      if (c->nodes[a].kind == NODE_PARALLEL) inpar = 1;
    for (int j = 0; j < t->np; j++) {
      size_t k = (size_t)(nd->p0 + j);
      int nlen = (int)strlen(t->name) + digits;
      if (t->np == 1)
        snprintf(c->pname[k], NAME_LEN, "%.*s", nlen, c->text + nd->pos);
      else
        snprintf(c->pname[k], NAME_LEN, "%.*s_%d", nlen, c->text + nd->pos, j);
      c->punit[k] = t->unit[j];
      c->plo[k] = t->lo[j];
      c->phi[k] = t->hi[j];
      c->pinfo[k].role = t->role[j];
      c->pinfo[k].elem = ord;
      c->pinfo[k].in_parallel = inpar;
      c->pinfo[k].has_time =
          strcmp(t->name, "R") != 0 && strcmp(t->name, "L") != 0;
    }
    ord++;
  }
  return NIMC_OK;
}

/* Parse text into *out; on failure *out is NULL and err has the column
 * and the caret (see fail_at). */
int nimc_circuit_parse(nimc_circuit **out, const char *text, nimc_err *err) {
  *out = NULL;
  if (!text)
    return nimc_err_set(err, NIMC_EINPUT, "circuit: no circuit string given");
  size_t olen = strlen(text);
  if (olen > MAX_LEN)
    return fail_at(text, olen, MAX_LEN + 1, err,
                   "the circuit is longer than %d characters", MAX_LEN);
  parser st = {0};
  int rc = NIMC_ENOMEM;
  st.orig = text;
  st.olen = olen;
  st.err = err;
  nimc_circuit *c = calloc(1, sizeof *c);
  st.s = malloc(olen + 1);
  st.col = malloc((olen + 1) * sizeof *st.col);
  if (!c || !st.s || !st.col) goto fail_nomem;
  for (size_t i = 0; i < olen; i++) {
    if (is_blank(text[i])) continue;
    st.col[st.len] = (int)i + 1;
    st.s[st.len++] = text[i];
  }
  st.s[st.len] = '\0';
  st.col[st.len] = (int)olen + 1;
  /* every node owns at least one character of its own */
  st.cap = st.len + 1;
  c->nodes = malloc(st.cap * sizeof *c->nodes);
  st.ename = malloc(st.cap * sizeof *st.ename);
  st.epos = malloc(st.cap * sizeof *st.epos);
  if (!c->nodes || !st.ename || !st.epos) goto fail_nomem;
  st.c = c;
  if (st.len == 0) {
    rc = FAIL(&st, 0,
              "the circuit is empty: expected an element such as R0 or "
              "p(R1,C1)");
    goto fail;
  }
  int root;
  rc = parse_series(&st, &root);
  if (rc) goto fail;
  if (st.pos < st.len) {
    rc = trailing(&st);
    goto fail;
  }
  c->text = st.s;
  st.s = NULL;
  rc = describe(c);
  if (rc) goto fail_nomem;
  free(st.col);
  free(st.ename);
  free(st.epos);
  *out = c;
  return NIMC_OK;
fail_nomem:
  rc = nimc_err_set(err, NIMC_ENOMEM, "circuit: out of memory");
fail:
  free(st.s);
  free(st.col);
  free(st.ename);
  free(st.epos);
  nimc_circuit_destroy(c);
  return rc;
}

/* Release c (NULL-safe). */
void nimc_circuit_destroy(nimc_circuit *c) {
  if (!c) return;
  free(c->text);
  free(c->nodes);
  free(c->pname);
  free(c->punit);
  free(c->plo);
  free(c->phi);
  free(c->pinfo);
  free(c);
}

/* ---- queries ---- */

/* The compact string (blanks removed); owned by c. */
const char *nimc_circuit_text(const nimc_circuit *c) {
  return c->text;
}

/* Number of parameters. */
size_t nimc_circuit_nparams(const nimc_circuit *c) {
  return c->np;
}

/* Name of parameter k, NULL out of range; owned by c. */
const char *nimc_circuit_param_name(const nimc_circuit *c, size_t k) {
  return k < c->np ? c->pname[k] : NULL;
}

/* Unit of parameter k (static text), NULL out of range. */
const char *nimc_circuit_param_unit(const nimc_circuit *c, size_t k) {
  return k < c->np ? c->punit[k] : NULL;
}

/* Bounds of parameter k, NaN out of range; either pointer may be NULL. */
void nimc_circuit_param_bounds(const nimc_circuit *c, size_t k, double *lo,
                               double *hi) {
  if (lo) *lo = k < c->np ? c->plo[k] : NAN;
  if (hi) *hi = k < c->np ? c->phi[k] : NAN;
}

/* Index of the parameter called name, -1 when there is none. */
int nimc_circuit_param_index(const nimc_circuit *c, const char *name) {
  if (!name) return -1;
  for (size_t k = 0; k < c->np; k++)
    if (strcmp(c->pname[k], name) == 0) return (int)k;
  return -1;
}

/* Role and place of parameter k (k < nparams). */
nimc_param_info nimc_circuit_param_info(const nimc_circuit *c, size_t k) {
  return c->pinfo[k];
}

/* The nearest p(...) above node i, and through which of its branches
 * (the child of that p on the way up) it is reached; -1 when none. */
static int enclosing_parallel(const nimc_circuit *c, int i, int *branch) {
  int prev = i;
  for (int a = c->nodes[i].parent; a >= 0; a = c->nodes[a].parent) {
    if (c->nodes[a].kind == NODE_PARALLEL) {
      *branch = prev;
      return a;
    }
    prev = a;
  }
  *branch = -1;
  return -1;
}

/* "Directly inside" a p(...) means that p is the nearest one enclosing the
 * element (a series chain in between is allowed: p(R2-Wo1,C2) holds R2);
 * the C or CPE must sit in another branch of the same p. */
int nimc_circuit_rct_index(const nimc_circuit *c) {
  for (size_t i = 0; i < c->nn; i++) {
    const node *r = &c->nodes[i];
    if (r->kind != NODE_ELEM || strcmp(ELEMS[r->type].name, "R") != 0) continue;
    int rb, pr = enclosing_parallel(c, (int)i, &rb);
    if (pr < 0) continue;
    for (size_t j = 0; j < c->nn; j++) {
      const node *q = &c->nodes[j];
      if (q->kind != NODE_ELEM) continue;
      const char *tn = ELEMS[q->type].name;
      if (strcmp(tn, "C") != 0 && strcmp(tn, "CPE") != 0) continue;
      int qb, pq = enclosing_parallel(c, (int)j, &qb);
      if (pq == pr && qb != rb) return r->p0;
    }
  }
  return -1;
}

/* ---- evaluation ---- */

/* Z and chain factor per node. */
size_t nimc_circuit_ws_len(const nimc_circuit *c) {
  return 2 * c->nn;
}

/* Z (and dZ/dp) at n frequencies with the caller's workspace: two passes
 * over the post-ordered nodes per frequency (see the essay). */
int nimc_circuit_eval_ws(const nimc_circuit *c, const double *p,
                         const double *freq_Hz, size_t n, double *z_re,
                         double *z_im, double *dre, double *dim,
                         double complex *ws) {
  const size_t nn = c->nn, np = c->np;
  const int deriv = dre != NULL && dim != NULL;
  cplx *zn = ws, *mult = ws + nn;
  int ok = 1;
  for (size_t k = 0; k < n; k++) {
    double w = 2.0 * PI * freq_Hz[k];
    if (!(w > 0.0 && isfinite(w))) return NIMC_EINPUT;
    double *rre = deriv ? dre + k * np : NULL,
           *rim = deriv ? dim + k * np : NULL;
    /* bottom-up: Z of every node; elements leave their own dZ/dp in the row */
    for (size_t i = 0; i < nn; i++) {
      const node *nd = &c->nodes[i];
      if (nd->kind == NODE_ELEM) {
        cplx dz[MAX_NP];
        const elem_type *t = &ELEMS[nd->type];
        t->fn(w, p + nd->p0, &zn[i], dz);
        if (deriv)
          for (int j = 0; j < t->np; j++) {
            rre[nd->p0 + j] = creal(dz[j]);
            rim[nd->p0 + j] = cimag(dz[j]);
          }
      } else if (nd->kind == NODE_SERIES) {
        cplx s = 0.0;
        for (int ch = nd->first; ch >= 0; ch = c->nodes[ch].next)
          s += zn[ch];
        zn[i] = s;
      } else {
        /* a short (Z = 0) branch shorts the group: Z = 0, not 1/inf */
        cplx y = 0.0;
        int shorted = 0;
        for (int ch = nd->first; ch >= 0; ch = c->nodes[ch].next) {
          if (zn[ch] == 0.0)
            shorted = 1;
          else
            y += cinv(zn[ch]);
        }
        zn[i] = shorted ? 0.0 : cinv(y);
      }
    }
    cplx z = zn[nn - 1];
    z_re[k] = creal(z);
    z_im[k] = cimag(z);
    if (!isfinite(z_re[k]) || !isfinite(z_im[k])) ok = 0;
    if (!deriv) continue;
    /* top-down: chain factors dZ/dZ_node, applied to each element's row */
    mult[nn - 1] = 1.0;
    for (size_t i = nn; i-- > 0;) {
      const node *nd = &c->nodes[i];
      if (nd->kind == NODE_ELEM) {
        for (int j = 0; j < ELEMS[nd->type].np; j++) {
          cplx d = CMPLX(rre[nd->p0 + j], rim[nd->p0 + j]) * mult[i];
          rre[nd->p0 + j] = creal(d);
          rim[nd->p0 + j] = cimag(d);
          if (!isfinite(rre[nd->p0 + j]) || !isfinite(rim[nd->p0 + j])) ok = 0;
        }
        continue;
      }
      int nshort = 0;
      if (nd->kind == NODE_PARALLEL)
        for (int ch = nd->first; ch >= 0; ch = c->nodes[ch].next)
          nshort += zn[ch] == 0.0;
      for (int ch = nd->first; ch >= 0; ch = c->nodes[ch].next) {
        if (nd->kind == NODE_SERIES) {
          mult[ch] = mult[i];
        } else if (nshort > 0) {
          /* shorted: only a lone short branch moves Z, one for one */
          mult[ch] = nshort == 1 && zn[ch] == 0.0 ? mult[i] : 0.0;
        } else {
          cplx r = cdiv(zn[i], zn[ch]);
          mult[ch] = mult[i] * r * r;
        }
      }
    }
  }
  return ok ? NIMC_OK : NIMC_EINPUT;
}

/* nimc_circuit_eval_ws with a workspace allocated for the call. */
int nimc_circuit_eval(const nimc_circuit *c, const double *p,
                      const double *freq_Hz, size_t n, double *z_re,
                      double *z_im, double *dre, double *dim) {
  cplx *ws = malloc(nimc_circuit_ws_len(c) * sizeof *ws);
  if (!ws) return NIMC_ENOMEM;
  int rc = nimc_circuit_eval_ws(c, p, freq_Hz, n, z_re, z_im, dre, dim, ws);
  free(ws);
  return rc;
}
