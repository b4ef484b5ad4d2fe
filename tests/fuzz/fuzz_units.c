/*
 * fuzz_units.c -- the libFuzzer target for quantities with units and for
 * the --set overrides of a device.
 *
 * The first byte chooses: an even byte reads the rest as a quantity in one
 * of the SI units the library asks for (the byte picks which) through
 * nimc_quantity_parse; an odd byte applies the rest as one --set override
 * ("section.key=value") to the shipped stack, devices/nimc-stack.ini,
 * through nimc_device_load.  The contract checked (abort: libFuzzer saves
 * the input): a quantity parses to a finite number or fails with
 * NIMC_EINPUT and a message; a load succeeds with a device or fails with
 * NIMC_EINPUT/NIMC_EIO/NIMC_EDATA, no device and a message that names
 * the override ("--set ...") or the device file.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nimc/nimc.h"

#ifndef NIMC_SOURCE_DIR
#error "compile with -DNIMC_SOURCE_DIR=\"/path/to/nimc\""
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const si[] = {"m",    "m2",    "K",     "V",    "s",
                                 "A",    "A/m2",  "S/m",   "m2/s", "1",
                                 "F/m2", "J/mol", "mol/m3", "Hz",  "V/s",
                                 "ohm"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  char *text = malloc(size);
  if (!text) abort();
  memcpy(text, data + 1, size - 1);
  text[size - 1] = '\0';
  nimc_err err;
  err.msg[0] = '\0';
  if (data[0] % 2 == 0) {
    const char *unit = si[(data[0] / 2) % (sizeof si / sizeof si[0])];
    double v = NAN;
    int rc = nimc_quantity_parse(text, unit, &v, &err);
    if (rc == NIMC_OK && !isfinite(v)) {
      fprintf(stderr, "fuzz_units: '%s' in %s gave %g\n", text, unit, v);
      abort();
    }
    if (rc != NIMC_OK && (rc != NIMC_EINPUT || !err.msg[0])) {
      fprintf(stderr, "fuzz_units: rc %d, message '%s'\n", rc, err.msg);
      abort();
    }
  } else {
    const char *set = text;
    nimc_device *dev = (nimc_device *)1;
    int rc = nimc_device_load(&dev, NIMC_SOURCE_DIR "/devices/nimc-stack.ini",
                              &set, 1, &err);
    if (rc == NIMC_OK && !dev) {
      fprintf(stderr, "fuzz_units: success without a device\n");
      abort();
    }
    if (rc != NIMC_OK &&
        (dev || !err.msg[0] ||
         (rc != NIMC_EINPUT && rc != NIMC_EIO && rc != NIMC_EDATA))) {
      fprintf(stderr, "fuzz_units: rc %d, device %p, message '%s'\n", rc,
              (void *)dev, err.msg);
      abort();
    }
    nimc_device_destroy(rc == NIMC_OK ? dev : NULL);
  }
  free(text);
  return 0;
}
