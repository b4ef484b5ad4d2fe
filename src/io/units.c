/*
 * units.c -- the udunits2 boundary.
 *
 * The unit databases are read once per process each (pthread_once), when
 * first needed, and never changed afterwards: immutable caches, not
 * mutable global state.  Its
 * error handler is silenced so that the library never prints; failures come
 * back as text in the caller's buffer.  Numbers are split from units here
 * (strtod) so that offset units convert correctly ("25 degC" is 298.15 K,
 * not 25 times a unit).  A quantity is one number and one unit: a second
 * number in the unit text ("5 um 1000", "0.44 0.5") is an error, not the
 * product udunits2 would make of it, and the converted value must be
 * finite ("1e308 km" overflows, a strange unit can give NaN).
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <udunits2.h>

#include "core/params.h"
#include "io/units.h"

static pthread_once_t core_once = PTHREAD_ONCE_INIT;
static pthread_once_t full_once = PTHREAD_ONCE_INIT;
static ut_system *core_system, *full_system;

#ifndef NIMC_SHARE_DIR
#define NIMC_SHARE_DIR "."
#endif

/* Two databases, read when first needed.  The core
 * (share/udunits/nimc-units-core.xml: SI prefixes, base and derived units,
 * minute, hour, day, litre, degC, percent) reads in about 60 % of the time
 * of the full one and knows every unit the shipped devices and materials
 * write; the full one (share/udunits/nimc-units.xml: the SI part of the
 * udunits2 database, the accepted units included) is read only for a unit
 * text the core does not know.  A text both know is the same unit in both
 * (test_units checks every prefixed name and symbol), so which one
 * answered never shows.  NIMC_UNITS_XML names the one file to read
 * instead (no core); the whole udunits2 database is the fallback. */
static void core_load(void) {
  ut_set_error_message_handler(ut_ignore);
  if (!getenv("NIMC_UNITS_XML"))
    core_system =
        ut_read_xml(NIMC_SHARE_DIR "/share/udunits/nimc-units-core.xml");
}

static void full_load(void) {
  ut_set_error_message_handler(ut_ignore);
  const char *path = getenv("NIMC_UNITS_XML");
  if (!path) path = NIMC_SHARE_DIR "/share/udunits/nimc-units.xml";
  full_system = ut_read_xml(path);
  if (!full_system) full_system = ut_read_xml(NULL);
}

/* Unit texts a and b parsed in one system, into *u and *t (NULL where
 * that system does not know them): the core when it knows both, else the
 * full one.  Returns the system, NULL when no database could be read. */
static ut_system *parse_pair(const char *a, const char *b, ut_unit **u,
                             ut_unit **t) {
  pthread_once(&core_once, core_load);
  if (core_system) {
    *u = ut_parse(core_system, a, UT_ASCII);
    *t = ut_parse(core_system, b, UT_ASCII);
    if (*u && *t) return core_system;
    ut_free(*u);
    ut_free(*t);
  }
  pthread_once(&full_once, full_load);
  *u = full_system ? ut_parse(full_system, a, UT_ASCII) : NULL;
  *t = full_system ? ut_parse(full_system, b, UT_ASCII) : NULL;
  return full_system;
}

int nimc_units_same_in_both(const char *unit) {
  pthread_once(&core_once, core_load);
  pthread_once(&full_once, full_load);
  if (!core_system || !full_system) return -1;
  ut_unit *c = ut_parse(core_system, unit, UT_ASCII);
  ut_unit *f = ut_parse(full_system, unit, UT_ASCII);
  char cd[256], fd[256];
  int same = !c; /* unknown to the core: the full one answers alone */
  if (c && f && ut_format(c, cd, sizeof cd, UT_ASCII | UT_DEFINITION) > 0 &&
      ut_format(f, fd, sizeof fd, UT_ASCII | UT_DEFINITION) > 0)
    same = strcmp(cd, fd) == 0;
  ut_free(c);
  ut_free(f);
  return same;
}

/* Copy s without leading/trailing blanks into buf. */
static void trim_copy(char *buf, size_t len, const char *s) {
  while (isspace((unsigned char)*s)) s++;
  size_t n = strlen(s);
  while (n > 0 && isspace((unsigned char)s[n - 1])) n--;
  if (n >= len) n = len - 1;
  memcpy(buf, s, n);
  buf[n] = '\0';
}

/* The first whitespace-separated word of unit text u that is a number by
 * itself ("1000" in "um 1000"), copied into buf; 0 when there is none.
 * Digits inside a unit ("cm2", "m^-3", "1/um") are not such words, nor is
 * the origin of a shifted unit ("K @ 273.15"): its own checks answer it. */
static int stray_number(const char *u, char *buf, size_t len) {
  int shift = 0; /* the word before was "@" (or ended in it) */
  while (*u) {
    while (isspace((unsigned char)*u))
      u++;
    size_t n = 0;
    while (u[n] && !isspace((unsigned char)u[n]))
      n++;
    if (!n) break;
    char word[64], *end;
    size_t m = n < sizeof word ? n : sizeof word - 1;
    memcpy(word, u, m);
    word[m] = '\0';
    (void)strtod(word, &end);
    if (end != word && !*end && !shift) {
      snprintf(buf, len, "%s", word);
      return 1;
    }
    shift = word[m - 1] == '@';
    u += n;
  }
  return 0;
}

/* Units as people write them, and what they mean: tried only when the
 * text as written is unknown to udunits2 or of the wrong dimension, for
 * the dimension si.  means NULL: refused, with the hint.  One table. */
static const struct spelling {
  const char *written, *si, *means, *hint;
} spellings[] = {
    {"C", "K", NULL, "'C' is the coulomb: did you mean degC?"},
    {"c", "K", NULL, "did you mean degC?"},
    {"F", "K", NULL, "'F' is the farad: did you mean degF?"},
    {"M", "mol/m3", "mol/L", "M read as mol/L"},
    {"mM", "mol/m3", "mmol/L", "mM read as mmol/L"},
    {"m", "mol/m3", NULL, "did you mean mol/L (M)?"},
    {"v", "V", "V", "v read as V"},
    {"mv", "V", "mV", "mv read as mV"},
    {"micron", "m", "um", "micron read as um"},
    {"microns", "m", "um", "microns read as um"},
    {"mAh", "C", "mA h", "mAh read as mA h"},
};

/* The spelling of unit text u for dimension si, or NULL. */
static const struct spelling *spelling_of(const char *u, const char *si) {
  for (size_t k = 0; k < sizeof spellings / sizeof spellings[0]; k++)
    if (!strcmp(spellings[k].written, u) && !strcmp(spellings[k].si, si))
      return &spellings[k];
  return NULL;
}

/* u parsed, and its ratio to t dimensionless (the same dimension)? */
static int same_dimension(const ut_unit *u, const ut_unit *t) {
  ut_unit *ratio = u && t ? ut_divide(u, t) : NULL;
  int same = ratio && ut_is_dimensionless(ratio);
  ut_free(ratio);
  return same;
}

int nimc_units_convertible(const char *unit, const char *si) {
  ut_unit *u, *t;
  if (!parse_pair(unit, si, &u, &t)) return NIMC_EIO;
  int ok = same_dimension(u, t);
  ut_free(u);
  ut_free(t);
  /* a common spelling that nimc_units_parse reads as what it means: of
   * dimension si, or known at all when asked against itself */
  for (size_t k = 0; !ok && k < sizeof spellings / sizeof spellings[0]; k++)
    if (spellings[k].means && !strcmp(spellings[k].written, unit) &&
        (!strcmp(unit, si) || !strcmp(spellings[k].si, si)))
      ok = nimc_units_convertible(spellings[k].means, spellings[k].si);
  return ok;
}

int nimc_units_parse(const char *text, const char *si, double *out,
                     char *why, size_t whylen) {
  char buf[256];
  trim_copy(buf, sizeof buf, text ? text : "");
  if (!buf[0]) {
    snprintf(why, whylen, "empty value (expected a number with unit %s)", si);
    return NIMC_EINPUT;
  }
  char *end;
  errno = 0;
  double v = strtod(buf, &end);
  if (end == buf) {
    snprintf(why, whylen, "'%s' does not start with a number", buf);
    return NIMC_EINPUT;
  }
  if (errno == ERANGE || !isfinite(v)) {
    snprintf(why, whylen, "'%s' is out of range", buf);
    return NIMC_EINPUT;
  }
  while (isspace((unsigned char)*end)) end++;
  int dimensionless = strcmp(si, "1") == 0;
  if (!*end) {
    if (dimensionless) {
      *out = v;
      return NIMC_OK;
    }
    snprintf(why, whylen, "'%s' has no unit (expected a unit convertible to %s)",
             buf, si);
    return NIMC_EINPUT;
  }
  char stray[64];
  if (stray_number(end, stray, sizeof stray)) {
    snprintf(why, whylen,
             "'%s' is not one quantity: '%s' after the number (write one "
             "number and one unit, e.g. '5000 um', not '5 um 1000')",
             buf, stray);
    return NIMC_EINPUT;
  }
  ut_unit *u, *t;
  ut_system *sys = parse_pair(end, dimensionless ? "1" : si, &u, &t);
  if (!sys) {
    snprintf(why, whylen, "the udunits2 database could not be read");
    return NIMC_EIO;
  }
  int rc = NIMC_OK;
  /* udunits also converts a unit into its reciprocal (S into ohm): a
   * quantity must have the dimension itself, so u / t must be a number */
  int same = same_dimension(u, t);
  const struct spelling *sp = same ? NULL : spelling_of(end, si);
  if (sp && sp->means) { /* a common spelling: read as what it means */
    ut_free(u);
    u = ut_parse(sys, sp->means, UT_ASCII);
    same = same_dimension(u, t);
  }
  if (!u) {
    snprintf(why, whylen, "unknown unit '%s'%s%s", end, sp ? ": " : "",
             sp ? sp->hint : "");
    rc = NIMC_EINPUT;
  } else if (!t || !same) {
    snprintf(why, whylen,
             "unit '%s' cannot be converted to %s (wrong dimension)%s%s", end,
             dimensionless ? "a pure number" : si, sp ? ": " : "",
             sp ? sp->hint : "");
    rc = NIMC_EINPUT;
  } else {
    cv_converter *cv = ut_get_converter(u, t);
    if (!cv) {
      snprintf(why, whylen, "cannot convert '%s' to %s", end, si);
      rc = NIMC_EINPUT;
    } else {
      double x = cv_convert_double(cv, v);
      cv_free(cv);
      if (!isfinite(x)) {
        snprintf(why, whylen,
                 "'%s' is out of range (not a finite number in %s)", buf,
                 dimensionless ? "1" : si);
        rc = NIMC_EINPUT;
      } else {
        *out = x;
      }
    }
  }
  ut_free(u);
  ut_free(t);
  return rc;
}

int nimc_quantity_parse(const char *text, const char *si_unit, double *out,
                        nimc_err *err) {
  char why[512];
  int rc = nimc_units_parse(text, si_unit, out, why, sizeof why);
  if (rc) return nimc_err_set(err, rc, "%s", why);
  return NIMC_OK;
}
