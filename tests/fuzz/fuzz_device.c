/*
 * fuzz_device.c -- the libFuzzer target for the device-file parser.
 *
 * nimc_device_load reads a path and resolves the material files a device
 * names relative to it, so each input is written to device.ini in a
 * private temporary directory whose materials/ links to the shipped
 * devices/materials: a mutated copy of a shipped device then loads its
 * real materials and the fuzzer reaches past the INI syntax into the
 * checks of every section, unit and law.  The contract checked (abort:
 * libFuzzer saves the input): a load succeeds with a device, or fails with
 * NIMC_EINPUT, NIMC_EIO or NIMC_EDATA, no device and a message.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nimc/nimc.h"

#ifndef NIMC_SOURCE_DIR
#error "compile with -DNIMC_SOURCE_DIR=\"/path/to/nimc\""
#endif

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64], file[96], link_[96];

static void cleanup(void) {
  unlink(file);
  unlink(link_);
  rmdir(dir);
}

/* The private directory, its materials link and the input's file name. */
int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  snprintf(dir, sizeof dir, "/tmp/nimc_fuzz_device_XXXXXX");
  if (!mkdtemp(dir)) {
    perror("fuzz_device: mkdtemp");
    exit(1);
  }
  snprintf(file, sizeof file, "%s/device.ini", dir);
  snprintf(link_, sizeof link_, "%s/materials", dir);
  if (symlink(NIMC_SOURCE_DIR "/devices/materials", link_) != 0) {
    perror("fuzz_device: symlink");
    exit(1);
  }
  atexit(cleanup);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  FILE *fp = fopen(file, "wb");
  if (!fp || fwrite(data, 1, size, fp) != size || fclose(fp) != 0) {
    perror("fuzz_device: writing the input");
    abort();
  }
  nimc_device *dev = (nimc_device *)1;
  nimc_err err;
  err.msg[0] = '\0';
  int rc = nimc_device_load(&dev, file, NULL, 0, &err);
  if (rc == NIMC_OK && !dev) {
    fprintf(stderr, "fuzz_device: success without a device\n");
    abort();
  }
  if (rc != NIMC_OK &&
      (dev || !err.msg[0] ||
       (rc != NIMC_EINPUT && rc != NIMC_EIO && rc != NIMC_EDATA))) {
    fprintf(stderr, "fuzz_device: rc %d, device %p, message '%s'\n", rc,
            (void *)dev, err.msg);
    abort();
  }
  nimc_device_destroy(dev);
  return 0;
}
