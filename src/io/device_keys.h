/*
 * device_keys.h -- the key tables of the device file's own sections
 * (io/device.c), for the documentation's check (tests/test_device.c).
 */
#ifndef NIMC_DEVICE_KEYS_H
#define NIMC_DEVICE_KEYS_H

#include <stddef.h>

/* The k-th key (0, 1, ...) of section ("device", "separator", "geometry",
 * "cover", "mesh", "solver", "led", "pack") in the order of its table;
 * NULL past the last, or for a section without a table. */
const char *nimc_device_section_key(const char *section, size_t k);

#endif
