/*
 * device_keys.h -- the key tables of the device file's own sections
 * (io/device.c), for the documentation's check (tests/test_device.c).
 */
#ifndef NIMC_DEVICE_KEYS_H
#define NIMC_DEVICE_KEYS_H

#include <stddef.h>

/* The k-th key (0, 1, ...) of section ("device", "separator", "geometry",
 * "cover", "mesh", "solver", "led", "pack", "anode", "cathode",
 * "electrolyte", or "material": a material file's) in the order of its
 * tables, each key once; NULL past the last, or for an unknown section.
 * *of_material (may be NULL) is 1 for a key of the material file (which
 * an electrode section may override). */
const char *nimc_device_section_key(const char *section, size_t k,
                                    int *of_material);

#endif
