/*
 * fuzz_checkpoint.c -- the libFuzzer target for the readers of the files a
 * run writes to go on later: checkpoints (nimc_checkpoint_read, `nimc run
 * --resume`) and state files (nimc_state_read, `--load-state`).
 *
 * Both read a path, so each input is written to a file in a private
 * temporary directory and read by both readers (a checkpoint embeds a
 * state, so the two share their seeds: tests/fuzz/corpus/checkpoint holds
 * a checkpoint of a run with a jumping Repeat and a state file).  The
 * contract checked (abort: libFuzzer saves the input): a read succeeds
 * with an object, or fails with NIMC_EINPUT or NIMC_EIO, no object and a
 * message that names the file.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nimc/nimc.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64], file[96];

static void cleanup(void) {
  unlink(file);
  rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  snprintf(dir, sizeof dir, "/tmp/nimc_fuzz_checkpoint_XXXXXX");
  if (!mkdtemp(dir)) {
    perror("fuzz_checkpoint: mkdtemp");
    exit(1);
  }
  snprintf(file, sizeof file, "%s/checkpoint.nimc", dir);
  atexit(cleanup);
  return 0;
}

/* The contract of one read: object iff success, else a named failure. */
static void check(const char *who, int rc, const void *obj,
                  const nimc_err *err) {
  int ok = rc == NIMC_OK ? obj != NULL
                         : !obj && (rc == NIMC_EINPUT || rc == NIMC_EIO) &&
                               strstr(err->msg, file) != NULL;
  if (!ok) {
    fprintf(stderr, "fuzz_checkpoint: %s: rc %d, object %p, message '%s'\n",
            who, rc, obj, err->msg);
    abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  FILE *fp = fopen(file, "wb");
  if (!fp || fwrite(data, 1, size, fp) != size || fclose(fp) != 0) {
    perror("fuzz_checkpoint: writing the input");
    abort();
  }
  nimc_err err;
  err.msg[0] = '\0';
  nimc_checkpoint *ck = NULL;
  int rc = nimc_checkpoint_read(file, &ck, &err);
  check("nimc_checkpoint_read", rc, ck, &err);
  nimc_checkpoint_destroy(ck);
  err.msg[0] = '\0';
  nimc_state *st = NULL;
  rc = nimc_state_read(file, &st, &err);
  check("nimc_state_read", rc, st, &err);
  nimc_state_destroy(st);
  return 0;
}
