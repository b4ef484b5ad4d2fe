/*
 * colname.c -- header cells split into name, unit and sign (colname.h).
 *
 * Shared by the readers of spectra and of time series, so that "Ewe/V",
 * "Time (s)", "Z' [kOhm]" and "time_s" are understood the same way
 * everywhere.  The underscore form is the only guess: "cycle_number" is a
 * name, "time_s" a name and a unit, told apart by asking udunits2 whether
 * the part after the last '_' is a unit.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "io/colname.h"
#include "nimc/nimc.h"
#include "io/units.h"

/* Append src to dst (len bytes) at *n. */
static void put(char *dst, size_t len, size_t *n, const char *src) {
  for (; *src && *n + 1 < len; src++)
    dst[(*n)++] = *src;
  dst[*n] = '\0';
}

/* s without leading and trailing blanks (modifies s). */
char *nimc_trim(char *s) {
  while (*s == ' ' || *s == '\t')
    s++;
  size_t n = strlen(s);
  while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
    s[--n] = '\0';
  return s;
}

/* Length of the valid UTF-8 sequence of two to four bytes at p, or 0. */
static size_t utf8_len(const unsigned char *p) {
  size_t n = p[0] >= 0xc2 && p[0] <= 0xdf   ? 2
             : p[0] >= 0xe0 && p[0] <= 0xef ? 3
             : p[0] >= 0xf0 && p[0] <= 0xf4 ? 4
                                            : 0;
  for (size_t k = 1; k < n; k++)
    if ((p[k] & 0xc0) != 0x80) return 0;
  return n;
}

void nimc_printable(char *dst, size_t len, const char *text) {
  const unsigned char *p = (const unsigned char *)text;
  size_t n = 0, max = len - 1, cut = 0; /* cut: room left for "..." */
  while (*p) {
    size_t u = *p >= 0x80 ? utf8_len(p) : 0, w = u ? u : 1;
    if (n + w > max) break;
    if (n + w + 3 <= max) cut = n + w;
    if (u)
      memcpy(dst + n, p, u);
    else
      dst[n] = *p >= 0x20 && *p < 0x7f ? (char)*p : '?';
    n += w;
    p += w;
  }
  if (*p) {
    memcpy(dst + cut, "...", 3);
    n = cut + 3;
  }
  dst[n] = '\0';
}

void nimc_colname_key(const char *name, char *key, size_t len) {
  size_t n = 0;
  key[0] = '\0';
  for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
    if (p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xb2 || p[2] == 0xb3)) {
      put(key, len, &n, p[2] == 0xb2 ? "'" : "''");
      p += 2;
    } else if (*p == '"') {
      put(key, len, &n, "''");
    } else if (strchr(" \t_.-:()[]", *p)) {
      continue;
    } else {
      char c[2] = {(char)tolower(*p), '\0'};
      put(key, len, &n, c);
    }
  }
}

void nimc_unit_normalise(const char *in, char *out, size_t len) {
  size_t n = 0;
  out[0] = '\0';
  for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
    if (p[0] == 0xc2 && p[1] == 0xb5) { /* MICRO SIGN */
      put(out, len, &n, "u");
      p++;
    } else if (p[0] == 0xce && p[1] == 0xbc) { /* GREEK SMALL MU */
      put(out, len, &n, "u");
      p++;
    } else if (p[0] == 0xb5) { /* latin-1 micro */
      put(out, len, &n, "u");
    } else if (p[0] == 0xce && p[1] == 0xa9) { /* GREEK CAPITAL OMEGA */
      put(out, len, &n, "ohm");
      p++;
    } else if (p[0] == 0xe2 && p[1] == 0x84 && p[2] == 0xa6) { /* OHM SIGN */
      put(out, len, &n, "ohm");
      p += 2;
    } else {
      char c[2] = {(char)*p, '\0'};
      put(out, len, &n, c);
    }
  }
  if (n >= 2 && tolower((unsigned char)out[n - 2]) == 'h' &&
      tolower((unsigned char)out[n - 1]) == 'z') {
    if (n == 3 && out[0] == 'K') out[0] = 'k';
    out[n - 2] = 'H';
    out[n - 1] = 'z';
  }
}

/* Record unit text u (trimmed copy) in out. */
static void set_unit(nimc_colname *out, const char *u) {
  char buf[64];
  snprintf(buf, sizeof buf, "%s", u);
  snprintf(out->unit, sizeof out->unit, "%s", nimc_trim(buf));
  nimc_unit_normalise(out->unit, out->su, sizeof out->su);
}

void nimc_colname_split(const char *raw, nimc_colname *out) {
  memset(out, 0, sizeof *out);
  char buf[128];
  snprintf(buf, sizeof buf, "%s", raw ? raw : "");
  char *s = nimc_trim(buf);
  const unsigned char *u = (const unsigned char *)s;
  if (s[0] == '-') {
    out->neg = 1;
    s = nimc_trim(s + 1);
  } else if (u[0] == 0xe2 && u[1] == 0x88 && u[2] == 0x92) { /* U+2212 */
    out->neg = 1;
    s = nimc_trim(s + 3);
  }
  snprintf(out->whole, sizeof out->whole, "%s", s);
  size_t n = strlen(s);
  if (n > 1 && (s[n - 1] == ')' || s[n - 1] == ']')) {
    char close = s[n - 1], open = close == ')' ? '(' : '[';
    int depth = 0;
    for (size_t k = n; k-- > 0;) {
      if (s[k] == close) depth++;
      if (s[k] == open && --depth == 0) {
        s[n - 1] = '\0';
        set_unit(out, s + k + 1);
        s[k] = '\0';
        break;
      }
    }
  } else if (strchr(s, '/')) {
    char *slash = strrchr(s, '/');
    *slash = '\0';
    set_unit(out, slash + 1);
  } else if (strchr(s, '_')) {
    char *us = strrchr(s, '_');
    nimc_colname t;
    memset(&t, 0, sizeof t);
    set_unit(&t, us + 1);
    if (t.su[0] && nimc_units_convertible(t.su, t.su) == 1) {
      *us = '\0';
      memcpy(out->unit, t.unit, sizeof out->unit);
      memcpy(out->su, t.su, sizeof out->su);
    }
  }
  snprintf(out->name, sizeof out->name, "%s", nimc_trim(s));
}

int nimc_unit_factor(const char *su, const char *si, double *factor,
                     char *why, size_t len) {
  char q[96];
  snprintf(q, sizeof q, "1 %s", su);
  int rc = nimc_units_parse(q, si, factor, why, len);
  if (rc) return rc == NIMC_EIO ? NIMC_EIO : NIMC_EDATA;
  double zero = 0.0;
  snprintf(q, sizeof q, "0 %s", su);
  if (nimc_units_parse(q, si, &zero, why, len) == NIMC_OK && zero != 0.0) {
    char u[64];
    nimc_printable(u, sizeof u, su);
    snprintf(why, len,
             "unit '%s' has an offset (0 %s is %g %s); nimc reads units that "
             "are a factor of %s",
             u, u, zero, si, si);
    return NIMC_EDATA;
  }
  return NIMC_OK;
}

char *nimc_unquote(char *s) {
  s = nimc_trim(s);
  size_t n = strlen(s);
  if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
    s[n - 1] = '\0';
    s = nimc_trim(s + 1);
  }
  return s;
}

int nimc_is_blank(const char *s) {
  while (*s == ' ' || *s == '\t')
    s++;
  return *s == '\0';
}

void nimc_how_add(char *how, size_t len, size_t *pos, const char *fmt, ...) {
  if (!how || *pos + 1 >= len) return;
  va_list ap;
  va_start(ap, fmt);
  int w = vsnprintf(how + *pos, len - *pos, fmt, ap);
  va_end(ap);
  if (w > 0) *pos += (size_t)w;
  if (*pos >= len) *pos = len - 1;
}
