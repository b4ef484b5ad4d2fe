/*
 * fuzz_read.c -- the libFuzzer target for the readers of measured data.
 *
 * One source, one binary per reader: NIMC_FUZZ_FORMAT names the reader at
 * compile time ("csv", "mpt", ...; "auto" lets detection choose), and
 * tests/fuzz/CMakeLists.txt builds fuzz_read_<format> for every name in its
 * one list.  NIMC_FUZZ_ENTRY says what is read from the bytes: a spectrum
 * (ENTRY_SPECTRUM, nimc_spectrum_read_fp) or a data set of time series
 * (ENTRY_SERIES, nimc_data_read_fp, the reader of nimc analyze and fit).
 *
 * The input bytes are read from memory through fmemopen, never the disk,
 * so a run does tens of thousands of reads a second.  Besides the
 * sanitizers (address, undefined) the target checks the readers' contract
 * and aborts, which libFuzzer reports as a crash with its input:
 *  - a read succeeds with finite values and positive frequencies, or
 *  - it fails with NIMC_EDATA or NIMC_EIO and a message naming the file
 *    (and, for the text table reader "csv", a line that is in the file).
 * Not part of the library: this file may abort, the library never does.
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/datafile.h"
#include "nimc/nimc.h"

#ifndef NIMC_FUZZ_FORMAT
#error "compile with -DNIMC_FUZZ_FORMAT=\"csv\" (a reader's name, or \"auto\")"
#endif
#define ENTRY_SPECTRUM 1
#define ENTRY_SERIES 2
#ifndef NIMC_FUZZ_ENTRY
#define NIMC_FUZZ_ENTRY ENTRY_SPECTRUM
#endif

/* The name every message must quote (an input has no path of its own). */
static const char PATH[] = "fuzz-input." NIMC_FUZZ_FORMAT;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Report a broken contract and abort: libFuzzer saves the input. */
static void fail(const char *what, int rc, const nimc_err *err) {
  fprintf(stderr, "fuzz_read(%s): %s (rc %d: %s)\n", NIMC_FUZZ_FORMAT, what, rc,
          err->msg);
  abort();
}

/* A target for a reader that is not in the table would only ever test the
 * "unknown format" message: refuse to run. */
int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  if (strcmp(NIMC_FUZZ_FORMAT, "auto") == 0) return 0;
  for (size_t i = 0; i < nimc_reader_count(); i++)
    if (strcmp(nimc_reader_at(i)->name, NIMC_FUZZ_FORMAT) == 0) return 0;
  fprintf(stderr, "fuzz_read: no reader '%s' in io/spectrum_read.c\n",
          NIMC_FUZZ_FORMAT);
  exit(1);
}

/* A text reader's message "PATH:N: ..." must name a line of the input:
 * 1 <= N <= its number of lines (CR, LF or CRLF ends; a last line without
 * an end counts). */
static void check_line(const uint8_t *data, size_t size, const nimc_err *err,
                       int rc) {
  size_t plen = strlen(PATH);
  if (strncmp(err->msg, PATH, plen) != 0 || err->msg[plen] != ':') return;
  char *end;
  long n = strtol(err->msg + plen + 1, &end, 10);
  if (end == err->msg + plen + 1 || *end != ':') return; /* no line named */
  long lines = 0;
  for (size_t i = 0; i < size; i++)
    if (data[i] == '\n' ||
        (data[i] == '\r' && (i + 1 == size || data[i + 1] != '\n')))
      lines++;
  if (size > 0 && data[size - 1] != '\n' && data[size - 1] != '\r') lines++;
  if (n < 1 || n > lines)
    fail("a message naming a line not in the input", rc, err);
}

#if NIMC_FUZZ_ENTRY == ENTRY_SPECTRUM
/* Read the bytes as a spectrum and check what came back. */
static void read_one(FILE *fp, const uint8_t *data, size_t size) {
  nimc_read_opts o = nimc_read_opts_default();
  o.format = NIMC_FUZZ_FORMAT;
  nimc_spectrum s;
  nimc_err err;
  char how[512];
  err.msg[0] = '\0';
  int rc = nimc_spectrum_read_fp(fp, PATH, &o, &s, how, sizeof how, &err);
  if (rc == NIMC_OK) {
    if (s.n == 0 || !how[0]) fail("an empty spectrum, or no how", rc, &err);
    for (size_t i = 0; i < s.n; i++)
      if (!(s.freq_Hz[i] > 0.0) || !isfinite(s.freq_Hz[i]) ||
          !isfinite(s.z_re_ohm[i]) || !isfinite(s.z_im_ohm[i]))
        fail("a value that is not finite, or a frequency <= 0", rc, &err);
    nimc_spectrum_free(&s);
    return;
  }
  if (rc != NIMC_EDATA && rc != NIMC_EIO)
    fail("an unexpected status", rc, &err);
  if (!strstr(err.msg, PATH)) fail("a message without the path", rc, &err);
  if (strcmp(NIMC_FUZZ_FORMAT, "csv") == 0) check_line(data, size, &err, rc);
}
#elif NIMC_FUZZ_ENTRY == ENTRY_SERIES
/* Read the bytes as a data set and check what came back: time never goes
 * backwards, and every column read is finite. */
static void read_one(FILE *fp, const uint8_t *data, size_t size) {
  nimc_read_opts o = nimc_read_opts_default();
  o.format = NIMC_FUZZ_FORMAT;
  nimc_data d;
  nimc_err err;
  char how[1024];
  err.msg[0] = '\0';
  int rc = nimc_data_read_fp(fp, PATH, &o, &d, how, sizeof how, &err);
  if (rc == NIMC_OK) {
    if (d.n == 0 || !d.time_s || !how[0])
      fail("no rows, no time, or no how", rc, &err);
    const double *cols[3] = {d.time_s, d.voltage_V, d.current_A};
    for (size_t i = 0; i < d.n; i++) {
      for (int c = 0; c < 3; c++)
        if (cols[c] && !isfinite(cols[c][i]))
          fail("a value that is not finite", rc, &err);
      if (i && d.time_s[i] < d.time_s[i - 1])
        fail("time going backwards", rc, &err);
    }
    nimc_data_free(&d);
    return;
  }
  if (rc != NIMC_EDATA && rc != NIMC_EIO)
    fail("an unexpected status", rc, &err);
  if (!strstr(err.msg, PATH)) fail("a message without the path", rc, &err);
  if (strcmp(NIMC_FUZZ_FORMAT, "csv") == 0) check_line(data, size, &err, rc);
}
#else
#error "unknown NIMC_FUZZ_ENTRY"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* fmemopen wants a writable pointer; "rb" never writes through it */
  FILE *fp = fmemopen((void *)(uintptr_t)data, size, "rb");
  if (!fp) return 0;
  read_one(fp, data, size);
  fclose(fp);
  return 0;
}
