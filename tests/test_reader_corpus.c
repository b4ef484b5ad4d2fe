/*
 * test_reader_corpus.c -- every reader of measured data against the fuzz
 * corpus, the fuzzers' crash reproducers and damaged copies of the real
 * files: a read either succeeds or fails with NIMC_EDATA or NIMC_EIO and a
 * message that names the file; it never crashes and never reads out of
 * bounds (the sanitizer build of `make check` sees that).
 *
 * The readers are not named here: the test walks io/spectrum_read.c's
 * table (nimc_reader_count, nimc_reader_at) and asks each of them, and
 * auto-detection, about every input, so a new reader is covered the day
 * its row is added.  The inputs:
 *  - tests/fuzz/corpus/<name>/: the fuzz targets' seeds (make fuzz); for a
 *    reader of that name at least one of them must read, so that the seeds
 *    stay seeds of their format;
 *  - tests/fuzz/regress/: inputs that once crashed or broke the contract,
 *    or were read wrong, kept after the fix (and what the fix promises);
 *  - ../shared/data/real/<dir>/<file>: every real file, cut short (at every
 *    length below 1 KiB, else at 50 lengths) and with bytes overwritten at
 *    random (a fixed seed, so a failure repeats).  300 damaged copies of a
 *    small file while the table holds one reader; fewer as readers are
 *    added (about 600 reads of damaged copies per file in all) and for a
 *    large file (about 8 MiB read per file and reader), never fewer than
 *    20: the test stays within about 20 s in the sanitizer build.
 * The damaged copies are read from memory (nimc_spectrum_read_fp with
 * fmemopen) under a name that says how they were damaged.
 */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/datafile.h"
#include "nimc/nimc.h"
#include "testlib.h"

#define CORPUS "tests/fuzz/corpus"
#define REGRESS "tests/fuzz/regress"
#define REAL "../shared/data/real"
#define FLIP_BYTES (8u << 20) /* bytes read per file and reader in flips */
#define FLIP_READS 600        /* reads of damaged copies per file */
#define MAX_FLIPS 300
#define MIN_FLIPS 20

/* Reads done and refused, over all inputs. */
static size_t n_ok, n_refused;

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted names of the entries of dir (without hidden files and
 * READMEs), of regular files when want_dirs is 0, else of directories; NULL
 * when dir cannot be opened.  Free with free_names. */
static char **list_dir(const char *dir, int want_dirs, size_t *n) {
  *n = 0;
  DIR *d = opendir(dir);
  if (!d) return NULL;
  size_t cap = 16;
  char **v = malloc(cap * sizeof *v);
  struct dirent *e;
  while (v && (e = readdir(d))) {
    /* hidden files, and the READMEs that say what a directory is for */
    if (e->d_name[0] == '.' || strncmp(e->d_name, "README", 6) == 0) continue;
    char path[1024];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (stat(path, &st) != 0) continue;
    if (want_dirs ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) continue;
    if (*n == cap) {
      char **nv = realloc(v, 2 * cap * sizeof *v);
      if (!nv) break;
      v = nv;
      cap *= 2;
    }
    v[(*n)++] = strdup(e->d_name);
  }
  closedir(d);
  if (v) qsort(v, *n, sizeof *v, by_name);
  return v;
}

static void free_names(char **v, size_t n) {
  for (size_t i = 0; v && i < n; i++)
    free(v[i]);
  free(v);
}

/* The format option for reader k: its name, or "auto" after the last. */
static const char *format_at(size_t k) {
  return k < nimc_reader_count() ? nimc_reader_at(k)->name : "auto";
}

/* Check the outcome of one read of path (named so in messages) with
 * format; returns 1 when it read a spectrum. */
static int check_outcome(int rc, const nimc_spectrum *s, const nimc_err *err,
                         const char *path, const char *format) {
  if (rc == NIMC_OK) {
    int good = s->n > 0;
    for (size_t i = 0; good && i < s->n; i++)
      good = s->freq_Hz[i] > 0.0 && isfinite(s->freq_Hz[i]) &&
             isfinite(s->z_re_ohm[i]) && isfinite(s->z_im_ohm[i]);
    if (!good)
      fprintf(stderr,
              "%s (%s): a spectrum with a value that is not finite "
              "or a frequency <= 0\n",
              path, format);
    CHECK(good);
    n_ok++;
    return 1;
  }
  int status_ok = rc == NIMC_EDATA || rc == NIMC_EIO;
  int named = strstr(err->msg, path) != NULL;
  if (!status_ok || !named)
    fprintf(stderr, "%s (%s): status %d (%s), message '%s'\n", path, format, rc,
            nimc_strerror(rc), err->msg);
  CHECK(status_ok);
  CHECK(named);
  n_refused++;
  return 0;
}

/* Read the file at path with format; 1 when it read. */
static int read_file(const char *path, const char *format) {
  nimc_read_opts o = nimc_read_opts_default();
  o.format = format;
  nimc_spectrum s;
  nimc_err err;
  err.msg[0] = '\0';
  char how[512];
  int rc = nimc_spectrum_read(path, &o, &s, how, sizeof how, &err);
  int ok = check_outcome(rc, &s, &err, path, format);
  if (rc == NIMC_OK) nimc_spectrum_free(&s);
  return ok;
}

/* Read n bytes from memory as a data set of time series (nimc analyze's
 * and nimc fit's reader, auto-detected), under the name label: a read
 * gives finite columns and a time that never goes backwards, or a
 * located refusal. */
static void read_bytes_series(const unsigned char *data, size_t n,
                              const char *label) {
  FILE *fp = fmemopen((void *)(uintptr_t)data, n, "rb");
  CHECK(fp != NULL);
  if (!fp) return;
  nimc_data d;
  nimc_err err;
  err.msg[0] = '\0';
  char how[1024];
  int rc = nimc_data_read_fp(fp, label, NULL, &d, how, sizeof how, &err);
  fclose(fp);
  if (rc == NIMC_OK) {
    int good = d.n > 0 && d.time_s != NULL;
    const double *cols[3] = {d.time_s, d.voltage_V, d.current_A};
    for (size_t i = 0; good && i < d.n; i++) {
      for (int c = 0; c < 3; c++)
        if (cols[c] && !isfinite(cols[c][i])) good = 0;
      if (i && d.time_s[i] < d.time_s[i - 1]) good = 0;
    }
    if (!good)
      fprintf(stderr, "%s (series): a value that is not finite, or time "
                      "going backwards\n", label);
    CHECK(good);
    nimc_data_free(&d);
    n_ok++;
    return;
  }
  int status_ok = rc == NIMC_EDATA || rc == NIMC_EIO;
  int named = strstr(err.msg, label) != NULL;
  if (!status_ok || !named)
    fprintf(stderr, "%s (series): status %d (%s), message '%s'\n", label, rc,
            nimc_strerror(rc), err.msg);
  CHECK(status_ok);
  CHECK(named);
  n_refused++;
}

/* Read n bytes from memory with format, under the name label (and, with
 * auto-detection, as a data set too). */
static void read_bytes(const unsigned char *data, size_t n, const char *label,
                       const char *format) {
  /* fmemopen wants a writable pointer; "rb" never writes through it */
  FILE *fp = fmemopen((void *)(uintptr_t)data, n, "rb");
  CHECK(fp != NULL);
  if (!fp) return;
  nimc_read_opts o = nimc_read_opts_default();
  o.format = format;
  nimc_spectrum s;
  nimc_err err;
  err.msg[0] = '\0';
  char how[512];
  int rc = nimc_spectrum_read_fp(fp, label, &o, &s, how, sizeof how, &err);
  fclose(fp);
  check_outcome(rc, &s, &err, label, format);
  if (rc == NIMC_OK) nimc_spectrum_free(&s);
  if (strcmp(format, "auto") == 0) read_bytes_series(data, n, label);
}

/* Every file of dir through every reader and auto-detection; the number
 * of files, and in *own how many the reader called own (may be NULL) read. */
static size_t replay_dir(const char *dir, const char *own, size_t *nown) {
  size_t n;
  char **names = list_dir(dir, 0, &n);
  *nown = 0;
  for (size_t i = 0; i < n; i++) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    for (size_t k = 0; k <= nimc_reader_count(); k++) {
      int ok = read_file(path, format_at(k));
      if (own && ok && strcmp(format_at(k), own) == 0) (*nown)++;
    }
  }
  free_names(names, n);
  return n;
}

/* Is name the name of a reader in the table? */
static int is_reader(const char *name) {
  for (size_t k = 0; k < nimc_reader_count(); k++)
    if (strcmp(nimc_reader_at(k)->name, name) == 0) return 1;
  return 0;
}

static void test_reader_table(void) {
  CHECK(nimc_reader_count() >= 1);
  CHECK(nimc_reader_at(nimc_reader_count()) == NULL);
  CHECK(is_reader("csv"));
  for (size_t k = 0; k < nimc_reader_count(); k++) {
    const nimc_reader *r = nimc_reader_at(k);
    CHECK(r && r->name && r->name[0] && r->detect && r->read);
  }
}

static void test_corpus(void) {
  size_t nd, total = 0;
  char **dirs = list_dir(CORPUS, 1, &nd);
  CHECK(dirs != NULL && nd > 0);
  for (size_t i = 0; i < nd; i++) {
    char dir[512];
    snprintf(dir, sizeof dir, CORPUS "/%s", dirs[i]);
    int mine = is_reader(dirs[i]);
    size_t own, n = replay_dir(dir, mine ? dirs[i] : NULL, &own);
    total += n;
    printf("corpus/%-8s %2zu files%s", dirs[i], n, mine ? "" : "\n");
    if (!mine) continue;
    printf(", %zu read by the reader '%s'\n", own, dirs[i]);
    if (own == 0)
      fprintf(stderr, "corpus/%s: no seed is a spectrum its reader reads\n",
              dirs[i]);
    CHECK(own > 0);
  }
  free_names(dirs, nd);
  CHECK(total > 0);
}

static void test_regress(void) {
  size_t n;
  char **names = list_dir(REGRESS, 0, &n);
  CHECK(names != NULL); /* moved or lost, the reproducers would not run */
  free_names(names, n);
  size_t own;
  n = replay_dir(REGRESS, NULL, &own);
  printf("regress: %zu files\n", n);
}

/* What the fixes behind tests/fuzz/regress/ promise, beyond "no crash". */
static void test_regress_fixes(void) {
  nimc_read_opts o = nimc_read_opts_default();
  o.format = "csv";
  nimc_spectrum s;
  nimc_err err;
  err.msg[0] = '\0';
  /* "ohm @ 5" (5 ohm at its zero) was taken as a factor of 6 */
  int rc =
      nimc_spectrum_read(REGRESS "/csv-offset-unit.csv", &o, &s, NULL, 0, &err);
  CHECK(rc == NIMC_EDATA);
  if (rc == NIMC_OK) nimc_spectrum_free(&s);
  CHECK_CONTAINS(err.msg, "csv-offset-unit.csv:1: column 2 ('re (ohm @ 5)'): "
                          "unit 'ohm @ 5' has an offset");
}

/* Every real file cut short and damaged, through every reader. */
static void damage_file(const char *path) {
  FILE *fp = fopen(path, "rb");
  CHECK(fp != NULL);
  if (!fp) return;
  fseek(fp, 0, SEEK_END);
  long len = ftell(fp);
  rewind(fp);
  size_t n = len > 0 ? (size_t)len : 0;
  unsigned char *data = malloc(n ? n : 1);
  CHECK(data && fread(data, 1, n, fp) == n);
  fclose(fp);
  if (!data || n == 0) {
    free(data);
    return;
  }
  char label[1200];
  size_t ncut = n < 1024 ? n : 50;
  for (size_t c = 0; c < ncut; c++) {
    size_t cut = n < 1024 ? c : c * (n - 1) / (ncut - 1);
    snprintf(label, sizeof label, "%s(first %zu bytes)", path, cut);
    for (size_t k = 0; k <= nimc_reader_count(); k++)
      read_bytes(data, cut, label, format_at(k));
  }
  size_t flips = FLIP_BYTES / n,
         per_reader = FLIP_READS / (nimc_reader_count() + 1);
  if (flips > per_reader) flips = per_reader;
  flips = flips > MAX_FLIPS ? MAX_FLIPS : flips < MIN_FLIPS ? MIN_FLIPS : flips;
  uint64_t st = 0x9e3779b97f4a7c15u ^ n; /* fixed: a failure repeats */
  for (size_t t = 0; t < flips; t++) {
    size_t at[4];
    unsigned char was[4];
    st = st * 6364136223846793005u + 1442695040888963407u;
    size_t nb = 1 + (size_t)(st >> 62); /* 1 to 4 bytes */
    for (size_t b = 0; b < nb; b++) {
      st = st * 6364136223846793005u + 1442695040888963407u;
      at[b] = (size_t)(st >> 24) % n;
      was[b] = data[at[b]];
      /* half the time a byte that matters to a text parser */
      static const unsigned char special[] = {
          0, '\n', '\r', '\t', ',', ';', '"', '#', '-', 'e', '.', ' ', 0xff};
      data[at[b]] = (st >> 8) & 1 ? special[(st >> 9) % sizeof special]
                                  : (unsigned char)(st >> 16);
    }
    snprintf(label, sizeof label, "%s(damaged copy %zu)", path, t);
    for (size_t k = 0; k <= nimc_reader_count(); k++)
      read_bytes(data, n, label, format_at(k));
    for (size_t b = nb; b-- > 0;)
      data[at[b]] = was[b];
  }
  free(data);
}

static void test_real_files(void) {
  size_t nd;
  char **dirs = list_dir(REAL, 1, &nd);
  if (!dirs) {
    printf("%s is absent: the real files are not damaged and read\n", REAL);
    return;
  }
  size_t files = 0;
  for (size_t i = 0; i < nd; i++) {
    char dir[512];
    snprintf(dir, sizeof dir, REAL "/%s", dirs[i]);
    size_t n;
    char **names = list_dir(dir, 0, &n);
    for (size_t j = 0; j < n; j++) {
      char path[1024];
      snprintf(path, sizeof path, "%s/%s", dir, names[j]);
      damage_file(path);
      files++;
    }
    free_names(names, n);
  }
  free_names(dirs, nd);
  printf("real files: %zu cut short and damaged\n", files);
  CHECK(files > 0);
}

int main(void) {
  RUN(test_reader_table);
  RUN(test_corpus);
  RUN(test_regress);
  RUN(test_regress_fixes);
  RUN(test_real_files);
  printf("%zu reads: %zu spectra, %zu refused (readers: %zu and auto)\n",
         n_ok + n_refused, n_ok, n_refused, nimc_reader_count());
  CHECK(n_ok > 0 && n_refused > 0);
  return TEST_REPORT();
}
