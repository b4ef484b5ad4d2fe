/*
 * test_units.c -- quantities with units (io/units.c over udunits2): the
 * conversions device files and command lines rely on, and the errors.
 */
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

int main(void) {
  RUN(test_conversions);
  RUN(test_errors);
  RUN(test_one_finite_quantity);
  RUN(test_spellings);
  return TEST_REPORT();
}
