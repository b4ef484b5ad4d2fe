/*
 * test_units.c -- quantities with units (io/units.c over udunits2): the
 * conversions device files and command lines rely on, and the errors.
 */
#include <stdio.h>
#include <string.h>

#include "io/units.h"
#include "nimc/nimc.h"
#include "testlib.h"

static void test_conversions(void) {
  nimc_err err;
  double v;
  CHECK(nimc_quantity_parse("25 degC", "K", &v, &err) == NIMC_OK);
  CHECK_REL(v, 298.15, 1e-12);
  CHECK(nimc_quantity_parse("0.5 mS/cm", "S/m", &v, &err) == NIMC_OK);
  CHECK_REL(v, 0.05, 1e-12);
  CHECK(nimc_quantity_parse("5um", "m", &v, &err) == NIMC_OK);
  CHECK_REL(v, 5e-6, 1e-12);
  CHECK(nimc_quantity_parse("0.1 mA/cm2", "A/m2", &v, &err) == NIMC_OK);
  CHECK_REL(v, 1.0, 1e-12);
  CHECK(nimc_quantity_parse("44 h", "s", &v, &err) == NIMC_OK);
  CHECK_REL(v, 44 * 3600.0, 1e-12);
  CHECK(nimc_quantity_parse("0.0035 ohm m2", "ohm.m2", &v, &err) == NIMC_OK);
  CHECK_REL(v, 0.0035, 1e-12);
  CHECK(nimc_quantity_parse("37 kJ/mol", "J/mol", &v, &err) == NIMC_OK);
  CHECK_REL(v, 37000.0, 1e-12);
  CHECK(nimc_quantity_parse("10 mV/s", "V/s", &v, &err) == NIMC_OK);
  CHECK_REL(v, 0.01, 1e-12);
  CHECK(nimc_quantity_parse("0.4", "1", &v, &err) == NIMC_OK);
  CHECK_REL(v, 0.4, 1e-12);
  CHECK(nimc_quantity_parse("45 %", "1", &v, &err) == NIMC_OK);
  CHECK_REL(v, 0.45, 1e-12);
}

static void test_errors(void) {
  nimc_err err;
  double v;
  CHECK(nimc_quantity_parse("5", "m", &v, &err) == NIMC_EINPUT);
  CHECK_CONTAINS(err.msg, "no unit");
  CHECK(nimc_quantity_parse("5 s", "m", &v, &err) == NIMC_EINPUT);
  CHECK_CONTAINS(err.msg, "wrong dimension");
  /* udunits would convert a reciprocal: a quantity must not be one */
  CHECK(nimc_quantity_parse("5 S", "ohm", &v, &err) == NIMC_EINPUT);
  CHECK_CONTAINS(err.msg, "wrong dimension");
  CHECK(nimc_quantity_parse("5 1/um", "m", &v, &err) == NIMC_EINPUT);
  CHECK(nimc_quantity_parse("5 blorps", "m", &v, &err) == NIMC_EINPUT);
  CHECK_CONTAINS(err.msg, "unknown unit 'blorps'");
  CHECK(nimc_quantity_parse("um 5", "m", &v, &err) == NIMC_EINPUT);
  CHECK_CONTAINS(err.msg, "does not start with a number");
  CHECK(nimc_quantity_parse("", "m", &v, &err) == NIMC_EINPUT);
  CHECK(nimc_quantity_parse("1e999 m", "m", &v, &err) == NIMC_EINPUT);
  CHECK_CONTAINS(err.msg, "out of range");
}

/* issue 12: the value after conversion must be finite, and the unit text
 * one unit (juxtaposed numbers are not a product) */
static void test_one_finite_quantity(void) {
  nimc_err err;
  double v = -1.0;
  CHECK(nimc_quantity_parse("1e308 km", "m", &v, &err) == NIMC_EINPUT);
  CHECK_CONTAINS(err.msg, "not a finite number in m");
  CHECK(v == -1.0);
  CHECK(nimc_quantity_parse("7%-237-2", "1", &v, &err) == NIMC_EINPUT);
  CHECK(v == -1.0);
  CHECK(nimc_quantity_parse("5 um 1000", "m", &v, &err) == NIMC_EINPUT);
  CHECK_CONTAINS(err.msg, "not one quantity: '1000' after the number");
  CHECK(nimc_quantity_parse("0.44 0.5", "1", &v, &err) == NIMC_EINPUT);
  CHECK_CONTAINS(err.msg, "not one quantity: '0.5' after the number");
  CHECK(nimc_quantity_parse("5 1e3 um", "m", &v, &err) == NIMC_EINPUT);
  CHECK_CONTAINS(err.msg, "'1e3' after the number");
  CHECK(v == -1.0);
  CHECK(nimc_quantity_parse("5 K @ 1", "K", &v, &err) == NIMC_OK);
  CHECK_REL(v, 6.0, 1e-12); /* a shifted unit's origin is not a stray number */
  /* digits that belong to a unit stay allowed */
  CHECK(nimc_quantity_parse("2 m^-3", "1/m3", &v, &err) == NIMC_OK);
  CHECK_REL(v, 2.0, 1e-12);
  CHECK(nimc_quantity_parse("3 1/um", "1/m", &v, &err) == NIMC_OK);
  CHECK_REL(v, 3e6, 1e-12);
}

/* Units as people write them: read as what they mean, or refused with a
 * hint -- only for the dimension they belong to. */
static void test_spellings(void) {
  nimc_err err;
  double v;
  CHECK(nimc_quantity_parse("80C", "K", &v, &err) == NIMC_EINPUT);
  CHECK_CONTAINS(err.msg, "did you mean degC?");
  CHECK(nimc_quantity_parse("80 degC", "K", &v, &err) == NIMC_OK);
  CHECK_REL(v, 353.15, 1e-12);
  CHECK(nimc_quantity_parse("1 M", "mol/m3", &v, &err) == NIMC_OK);
  CHECK_REL(v, 1000.0, 1e-12);
  CHECK(nimc_quantity_parse("750 mM", "mol/m3", &v, &err) == NIMC_OK);
  CHECK_REL(v, 750.0, 1e-12);
  CHECK(nimc_quantity_parse("1 m", "mol/m3", &v, &err) == NIMC_EINPUT);
  CHECK_CONTAINS(err.msg, "did you mean mol/L (M)?");
  CHECK(nimc_quantity_parse("3.5v", "V", &v, &err) == NIMC_OK);
  CHECK_REL(v, 3.5, 1e-12);
  CHECK(nimc_quantity_parse("100 mv", "V", &v, &err) == NIMC_OK);
  CHECK_REL(v, 0.1, 1e-12);
  CHECK(nimc_quantity_parse("100 microns", "m", &v, &err) == NIMC_OK);
  CHECK_REL(v, 1e-4, 1e-12);
  CHECK(nimc_quantity_parse("2 mAh", "C", &v, &err) == NIMC_OK);
  CHECK_REL(v, 7.2, 1e-12);
  /* not for another dimension: a metre is a metre, 1 M no temperature */
  CHECK(nimc_quantity_parse("1 m", "m", &v, &err) == NIMC_OK);
  CHECK_REL(v, 1.0, 1e-12);
  CHECK(nimc_quantity_parse("1 M", "K", &v, &err) == NIMC_EINPUT);
  CHECK(nimc_quantity_parse("3.5v", "A", &v, &err) == NIMC_EINPUT);
  /* what the experiment parser asks first */
  CHECK(nimc_units_convertible("v", "V") == 1);
  CHECK(nimc_units_convertible("v", "v") == 1);
  CHECK(nimc_units_convertible("v", "A") == 0);
  CHECK(nimc_units_convertible("C", "K") == 0);
}

/* Every <tag>word</tag> of an XML file, with its plural ("word" + "s")
 * when tag is "singular", written into words (up to max, 64 bytes each);
 * returns the count, -1 when the file cannot be read. */
static int xml_words(const char *path, const char *tag, char (*words)[64],
                     int n, int max) {
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  static char text[200000];
  size_t len = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  text[len] = '\0';
  char open[32];
  snprintf(open, sizeof open, "<%s>", tag);
  for (const char *p = strstr(text, open); p && n + 2 <= max;
       p = strstr(p, open)) {
    p += strlen(open);
    const char *e = strchr(p, '<');
    if (!e || e - p >= 60 || e == p) continue;
    int k = (int)(e - p);
    snprintf(words[n++], 64, "%.*s", k, p);
    if (!strcmp(tag, "singular")) snprintf(words[n++], 64, "%.*ss", k, p);
  }
  return n;
}

/* The core database that units.c reads first and the full one it falls
 * back to agree on every unit text the core knows: each name, plural and
 * symbol of the udunits2 SI files, bare and with each prefix name and
 * symbol (a core that defined the minute as 61 s, or "rad" otherwise than
 * the full one, fails here); and a unit only the full one knows converts. */
static void test_core_and_full_agree(void) {
  static const char *const files[] = {"base", "derived", "accepted"};
  static char units[600][64], prefixes[100][64];
  int nu = 0, np = 0;
  for (int k = 0; k < 3 && nu >= 0; k++) {
    char path[128];
    snprintf(path, sizeof path, "/usr/share/xml/udunits/udunits2-%s.xml",
             files[k]);
    static const char *const tags[] = {"singular", "plural", "symbol"};
    for (int t = 0; t < 3 && nu >= 0; t++)
      nu = xml_words(path, tags[t], units, nu, 600);
  }
  np = xml_words("/usr/share/xml/udunits/udunits2-prefixes.xml", "name",
                 prefixes, 0, 100);
  if (np >= 0)
    np = xml_words("/usr/share/xml/udunits/udunits2-prefixes.xml", "symbol",
                   prefixes, np, 100);
  CHECK(nu > 150 && np > 30);
  int differ = 0, asked = 0;
  for (int p = -1; p < np; p++)
    for (int u = 0; u < nu; u++) {
      char text[160];
      snprintf(text, sizeof text, "%.63s%.63s", p < 0 ? "" : prefixes[p],
               units[u]);
      int same = nimc_units_same_in_both(text);
      asked++;
      if (same != 1 && differ++ < 5)
        fprintf(stderr, "  '%s': the core and the full database differ (%d)\n",
                text, same);
    }
  CHECK(asked > 5000);
  CHECK(differ == 0);
  CHECK(nimc_units_same_in_both("min") == 1 &&
        nimc_units_same_in_both("L") == 1);
  nimc_err err;
  double v;
  CHECK(nimc_quantity_parse("2 bar", "Pa", &v, &err) == NIMC_OK);
  CHECK_REL(v, 2e5, 1e-12);
  CHECK(nimc_quantity_parse("1.5 t", "kg", &v, &err) == NIMC_OK);
  CHECK_REL(v, 1500.0, 1e-12);
  CHECK(nimc_units_convertible("eV", "J") == 1);
}

int main(void) {
  RUN(test_conversions);
  RUN(test_errors);
  RUN(test_one_finite_quantity);
  RUN(test_spellings);
  RUN(test_core_and_full_agree);
  return TEST_REPORT();
}
