/*
 * test_spectrum_read.c -- the measured-data reader (io/spectrum_read.c):
 * small files in tests/data/eis/ written in every header, delimiter, line
 * end and sign style it claims to read, each read to the same SI spectrum;
 * the bad files, each reported with the file and the right line; files cut
 * short and corrupted on purpose (no crash, no read out of bounds: the
 * sanitizer build checks); and two real files from ../shared/data/real.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nimc/nimc.h"
#include "testlib.h"

#define DIR "tests/data/eis/"

/* The spectrum every good file holds, from 1 kHz down to 1 Hz. */
static const double F[4] = {1000.0, 100.0, 10.0, 1.0};
static const double RE[4] = {10.5, 12.0, 20.0, 35.0};
static const double IM[4] = {-1.5, -4.0, -9.0, -25.0};

/* Read file; check the canonical spectrum (in increasing order when up)
 * and that the how sentence contains each of the hows. */
static void check_good(const char *file, int up, const char *how1,
                       const char *how2) {
  char path[256], how[512];
  snprintf(path, sizeof path, DIR "%s", file);
  nimc_spectrum s;
  nimc_err err;
  err.msg[0] = '\0';
  int rc = nimc_spectrum_read(path, NULL, &s, how, sizeof how, &err);
  if (rc != NIMC_OK) fprintf(stderr, "%s: %s\n", file, err.msg);
  CHECK(rc == NIMC_OK);
  if (rc) return;
  printf("%-28s %s\n", file, how);
  CHECK(s.n == 4);
  for (size_t i = 0; i < s.n && i < 4; i++) {
    size_t j = up ? 3 - i : i;
    CHECK_REL(s.freq_Hz[i], F[j], 1e-12);
    CHECK_REL(s.z_re_ohm[i], RE[j], 1e-12);
    CHECK_REL(s.z_im_ohm[i], IM[j], 1e-12);
  }
  if (how1) CHECK_CONTAINS(how, how1);
  if (how2) CHECK_CONTAINS(how, how2);
  nimc_spectrum_free(&s);
}

static void test_good_files(void) {
  check_good("good_units_paren.csv", 0, "frequency (kHz), Re Z (kOhm)",
             "column 3 holds -Im Z: its header '-Z'' (Ohm)' says so");
  check_good("good_units_brackets.csv", 0, "(header on line 1)",
             "column 3 holds Im Z itself: 0 of 4 points are positive");
  check_good("good_units_slash.csv", 0, "';'-separated, decimal commas",
             "its header '-Im(Z)/Ohm' says so");
  check_good("good_nimc.csv", 0, "'z_im_ohm' (nimc's own) says so",
             "columns 1 'frequency_Hz', 2 'z_re_ohm', 3 'z_im_ohm'");
  check_good("good_tsv_decimal_comma.tsv", 0, "tab-separated, decimal commas",
             "frequency (kHz)");
  check_good("good_crlf.csv", 0, "comma-separated", "Re Z (ohm, assumed)");
  check_good("good_cr_only.csv", 0, "columns 1-3 (no header)",
             "column 3 holds -Im Z: 4 of 4 points are positive");
  check_good("good_bom.csv", 0, "columns 1 'Freq (Hz)'",
             "Re Z (\xce\xa9), Im Z (\xe2\x84\xa6)");
  check_good("good_comments.csv", 0, "(header on line 4)", "Im Z itself");
  check_good("good_increasing.csv", 1, "columns 1-3 (no header)", NULL);
  check_good("good_blank_separated.txt", 0, "blank-separated", "Re Z (mOhm)");
  check_good("good_text_column.csv", 0, "columns 2, 3, 4 (no header)", NULL);
  check_good("good_comment_header.csv", 0, "(header on line 1)", "nimc's own");
  check_good("good_quoted.csv", 0, "columns 1 'Frequency (Hz)'",
             "header '-Z'' (Ohm)' says so");
  check_good("good_trailing_delim.csv", 0, "(header on line 1)", NULL);
  check_good("good_title_line.csv", 0, "(header on line 2)", "frequency (HZ)");
  check_good("good_angular.csv", 0, "frequency (rad/s, divided by 2 pi)",
             "Re Z (kohm)");
  check_good("good_unknown_header.csv", 0,
             "columns 1-3 (the header on line 1 names none of them: taken "
             "in order)",
             NULL);
}

/* The sign of the imaginary column: a mostly positive column is read as
 * -Im Z unless the header says otherwise, so an inductive spectrum needs
 * im_sign = +1; im_sign forces either reading over the header too. */
static void test_im_sign(void) {
  nimc_spectrum s;
  nimc_err err;
  char how[512];
  nimc_read_opts o = nimc_read_opts_default();
  CHECK(o.format == NULL && o.im_sign == 0);
  /* detection reads a mostly positive column as -Im Z */
  CHECK(nimc_spectrum_read(DIR "good_inductive.csv", &o, &s, how, sizeof how,
                           &err) == NIMC_OK);
  CHECK(s.n == 4 && s.z_im_ohm[0] == -5.0);
  CHECK_CONTAINS(how, "4 of 4 points are positive");
  nimc_spectrum_free(&s);
  o.im_sign = 1;
  CHECK(nimc_spectrum_read(DIR "good_inductive.csv", &o, &s, how, sizeof how,
                           &err) == NIMC_OK);
  CHECK(s.z_im_ohm[0] == 5.0 && s.z_im_ohm[3] == 8.0);
  CHECK_CONTAINS(how, "im_sign = +1, set by the caller");
  nimc_spectrum_free(&s);
  /* forcing overrides a header that says -Im Z */
  o.im_sign = -1;
  CHECK(nimc_spectrum_read(DIR "good_units_brackets.csv", &o, &s, how,
                           sizeof how, &err) == NIMC_OK);
  CHECK(s.z_im_ohm[0] == 1.5);
  nimc_spectrum_free(&s);
  o.im_sign = 1;
  CHECK(nimc_spectrum_read(DIR "good_units_paren.csv", &o, &s, how, sizeof how,
                           &err) == NIMC_OK);
  CHECK(s.z_im_ohm[0] == 1.5);
  nimc_spectrum_free(&s);
  o.im_sign = 2;
  CHECK(nimc_spectrum_read(DIR "good_crlf.csv", &o, &s, how, sizeof how,
                           &err) == NIMC_EINPUT);
  CHECK_CONTAINS(err.msg, "im_sign");
}

/* Read a bad file: code, and the message names it (and the line). */
static void check_bad(const char *file, int code, const char *where,
                      const char *what) {
  char path[256], how[256];
  snprintf(path, sizeof path, DIR "%s", file);
  nimc_spectrum s;
  nimc_err err;
  err.msg[0] = '\0';
  strcpy(how, "untouched");
  int rc = nimc_spectrum_read(path, NULL, &s, how, sizeof how, &err);
  printf("%-28s %s\n", file, err.msg);
  CHECK(rc == code);
  CHECK(err.code == code);
  CHECK_CONTAINS(err.msg, where);
  if (what) CHECK_CONTAINS(err.msg, what);
  CHECK(s.n == 0 && s.freq_Hz == NULL);
  CHECK(how[0] == '\0');
  if (rc == NIMC_OK) nimc_spectrum_free(&s);
}

static void test_bad_files(void) {
  check_bad("bad_empty.csv", NIMC_EDATA,
            "bad_empty.csv: ", "the file is empty");
  check_bad("bad_header_only.csv", NIMC_EDATA,
            "bad_header_only.csv:1: ", "a header but no data rows");
  check_bad("bad_one_column.csv", NIMC_EDATA,
            "bad_one_column.csv:1: ", "only 1 column;");
  check_bad("bad_two_columns.csv", NIMC_EDATA,
            "bad_two_columns.csv:1: ", "only 2 columns;");
  check_bad("bad_nan.csv", NIMC_EDATA,
            "bad_nan.csv:4: ", "column 1 ('f'): 'nan' is not a finite number");
  check_bad("bad_inf.csv", NIMC_EDATA,
            "bad_inf.csv:3: ", "column 2 ('re'): 'inf' is not a finite number");
  check_bad("bad_text.csv", NIMC_EDATA,
            "bad_text.csv:5: ", "column 3 ('im'): 'abc' is not a number");
  check_bad("bad_empty_field.csv", NIMC_EDATA,
            "bad_empty_field.csv:3: ", "column 2 ('re') is empty");
  check_bad("bad_repeated_freq.csv", NIMC_EDATA,
            "bad_repeated_freq.csv:4: ", "the frequency 100 Hz repeats line 3");
  check_bad("bad_not_monotonic.csv", NIMC_EDATA, "bad_not_monotonic.csv:6: ",
            "frequency 50 Hz breaks the decreasing order of lines 2-5");
  check_bad("bad_zero_freq.csv", NIMC_EDATA,
            "bad_zero_freq.csv:3: ", "the frequency 0 Hz is not positive");
  check_bad("bad_negative_freq.csv", NIMC_EDATA, "bad_negative_freq.csv:3: ",
            "the frequency -10 Hz is not positive");
  check_bad("bad_short_row.csv", NIMC_EDATA,
            "bad_short_row.csv:4: ", "2 fields, but the header (line 1) has 3");
  check_bad("bad_extra_field.csv", NIMC_EDATA, "bad_extra_field.csv:3: ",
            "4 fields, but the header (line 1) has 3");
  check_bad("bad_nul.csv", NIMC_EDATA,
            "bad_nul.csv:3: ", "a NUL byte at column 6");
  check_bad("bad_comments_only.csv", NIMC_EDATA,
            "bad_comments_only.csv: ", "no data rows in 3 lines");
  check_bad("bad_area_unit.csv", NIMC_EDATA, "bad_area_unit.csv:1: ",
            "unit 'ohm cm2' is an area-specific impedance");
  check_bad("bad_no_im_column.csv", NIMC_EDATA,
            "bad_no_im_column.csv:1: ", "the header names no column for Im Z");
  check_bad("bad_freq_unit.csv", NIMC_EDATA, "bad_freq_unit.csv:1: ",
            "column 1 ('freq (ohm)'): unit 'ohm' is not a frequency");
  check_bad("bad_unknown_unit.csv", NIMC_EDATA,
            "bad_unknown_unit.csv:1: ", "unit 'furlongs' is not understood");
  check_bad("bad_text_columns.csv", NIMC_EDATA,
            "bad_text_columns.csv:1: ", "only 2 numeric columns");
  check_bad("bad_utf16.csv", NIMC_EDATA, "bad_utf16.csv:1: ", "UTF-16");
  check_bad("bad_binary.dat", NIMC_EDATA, "bad_binary.dat:", NULL);
  check_bad("bad_binary_nonul.dat", NIMC_EDATA, "bad_binary_nonul.dat:", NULL);
  check_bad("no_such_file.csv", NIMC_EIO,
            "cannot open 'tests/data/eis/"
            "no_such_file.csv': No such file or directory",
            NULL);
  check_bad("", NIMC_EIO, "tests/data/eis/", NULL); /* a directory */
}

static void test_formats(void) {
  nimc_spectrum s;
  nimc_err err;
  nimc_read_opts o = nimc_read_opts_default();
  o.format = "csv";
  CHECK(nimc_spectrum_read(DIR "good_crlf.csv", &o, &s, NULL, 0, &err) ==
        NIMC_OK);
  nimc_spectrum_free(&s);
  o.format = "CSV";
  CHECK(nimc_spectrum_read(DIR "good_crlf.csv", &o, &s, NULL, 0, &err) ==
        NIMC_OK);
  nimc_spectrum_free(&s);
  o.format = "auto";
  char tiny[12];
  CHECK(nimc_spectrum_read(DIR "good_crlf.csv", &o, &s, tiny, sizeof tiny,
                           &err) == NIMC_OK);
  CHECK(strlen(tiny) == sizeof tiny - 1); /* cut, terminated */
  nimc_spectrum_free(&s);
  o.format = "gamry";
  CHECK(nimc_spectrum_read(DIR "good_crlf.csv", &o, &s, NULL, 0, &err) ==
        NIMC_EINPUT);
  CHECK_CONTAINS(err.msg,
                 "unknown data format 'gamry' (known: auto, csv, mpt, mpr)");
  /* the format is checked before the file is opened */
  CHECK(nimc_spectrum_read("no/such/file", &o, &s, NULL, 0, &err) ==
        NIMC_EINPUT);
  CHECK(nimc_spectrum_read(NULL, NULL, &s, NULL, 0, &err) == NIMC_EINPUT);
  CHECK(nimc_spectrum_read(DIR "good_crlf.csv", NULL, NULL, NULL, 0, &err) ==
        NIMC_EMISUSE);
}

/* Write n bytes to a fresh temporary file; its name into path. */
static int write_temp(char *path, size_t len, const void *data, size_t n) {
  snprintf(path, len, "/tmp/nimc_test_read_XXXXXX");
  int fd = mkstemp(path);
  if (fd < 0) return 0;
  FILE *fp = fdopen(fd, "wb");
  if (!fp) return 0;
  size_t w = fwrite(data, 1, n, fp);
  fclose(fp);
  return w == n;
}

static char *slurp(const char *path, size_t *n) {
  FILE *fp = fopen(path, "rb");
  if (!fp) return NULL;
  char *buf = malloc(1 << 16);
  *n = buf ? fread(buf, 1, 1 << 16, fp) : 0;
  fclose(fp);
  return buf;
}

static void test_long_lines(void) {
  size_t big = 64 * 1024;
  char *data = malloc(big + 64), path[64];
  nimc_spectrum s;
  nimc_err err;
  /* a comment line of exactly 64 KiB is still a line */
  data[0] = '#';
  memset(data + 1, 'x', big - 1);
  memcpy(data + big, "\n1,2,3\n2,2,3\n3,2,3\n", 19);
  CHECK(write_temp(path, sizeof path, data, big + 19));
  CHECK(nimc_spectrum_read(path, NULL, &s, NULL, 0, &err) == NIMC_OK);
  CHECK(s.n == 3);
  nimc_spectrum_free(&s);
  unlink(path);
  /* one byte more is not, and the line is named */
  memcpy(data, "f,re,im\n", 8);
  memset(data + 8, '7', big + 1);
  memcpy(data + 8 + big + 1, "\n", 1);
  CHECK(write_temp(path, sizeof path, data, big + 10));
  CHECK(nimc_spectrum_read(path, NULL, &s, NULL, 0, &err) == NIMC_EDATA);
  CHECK_CONTAINS(err.msg, ":2: the line is longer than 64 KiB");
  unlink(path);
  /* more columns than a table may have */
  size_t n = 0;
  for (int k = 0; k < 300; k++)
    n += (size_t)sprintf(data + n, "%d,", k + 1);
  data[n - 1] = '\n'; /* the last comma */
  CHECK(write_temp(path, sizeof path, data, n));
  CHECK(nimc_spectrum_read(path, NULL, &s, NULL, 0, &err) == NIMC_EDATA);
  CHECK_CONTAINS(err.msg, ":1: 300 columns, more than the 256");
  unlink(path);
  free(data);
}

/* Every prefix of some good files, and random corruptions of them: each
 * read succeeds or fails with NIMC_EDATA, and never crashes (ASan). */
static void test_truncated_and_corrupted(void) {
  static const char *files[] = {"good_units_paren.csv", "good_cr_only.csv",
                                "good_bom.csv", "good_comments.csv",
                                "good_tsv_decimal_comma.tsv"};
  unsigned long long st = 99;
  size_t ok = 0, bad = 0, other = 0;
  for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
    char src[256], path[64];
    snprintf(src, sizeof src, DIR "%s", files[k]);
    size_t n;
    char *data = slurp(src, &n);
    CHECK(data != NULL);
    if (!data) continue;
    for (size_t cut = 0; cut <= n; cut++) {
      nimc_spectrum s;
      nimc_err err;
      CHECK(write_temp(path, sizeof path, data, cut));
      int rc = nimc_spectrum_read(path, NULL, &s, NULL, 0, &err);
      rc == NIMC_OK ? ok++ : rc == NIMC_EDATA ? bad++ : other++;
      if (rc == NIMC_OK) nimc_spectrum_free(&s);
      unlink(path);
    }
    for (int trial = 0; trial < 40; trial++) {
      char *c = malloc(n);
      memcpy(c, data, n);
      for (int flips = 0; flips < 3; flips++) {
        st = st * 6364136223846793005ULL + 1442695040888963407ULL;
        c[(st >> 33) % n] = (char)(st >> 20);
      }
      nimc_spectrum s;
      nimc_err err;
      CHECK(write_temp(path, sizeof path, c, n));
      int rc = nimc_spectrum_read(path, NULL, &s, NULL, 0, &err);
      rc == NIMC_OK ? ok++ : rc == NIMC_EDATA ? bad++ : other++;
      if (rc == NIMC_OK) nimc_spectrum_free(&s);
      unlink(path);
      free(c);
    }
    free(data);
  }
  printf("truncated/corrupted: %zu read, %zu refused (NIMC_EDATA), %zu "
         "other\n",
         ok, bad, other);
  CHECK(other == 0);
  CHECK(ok > 0 && bad > 0);
}

static void test_real_files(void) {
  nimc_spectrum s;
  nimc_err err;
  char how[512];
  int rc = nimc_spectrum_read("../shared/data/real/impedance.py/"
                              "exampleData.csv",
                              NULL, &s, how, sizeof how, &err);
  if (rc == NIMC_EIO) {
    fprintf(stderr, "skipped: ../shared/data/real is absent\n");
    tl_skipped = 1;
    return;
  }
  CHECK(rc == NIMC_OK);
  printf("exampleData.csv: %s\n", how);
  CHECK(s.n == 66);
  CHECK_CONTAINS(how, "columns 1-3 (no header)");
  CHECK_CONTAINS(how, "holds Im Z itself");
  if (s.n == 66) {
    /* first and last lines of the file */
    CHECK_REL(s.freq_Hz[0], 3.1623e-03, 1e-12);
    CHECK_REL(s.z_re_ohm[0], 4.949989776405060160e-02, 1e-12);
    CHECK_REL(s.z_im_ohm[0], -2.043869854441892481e-02, 1e-12);
    CHECK_REL(s.freq_Hz[65], 1e4, 1e-9);
    CHECK(s.z_im_ohm[65] > 0.0); /* inductive at 10 kHz, as written */
  }
  nimc_spectrum_free(&s);

  rc = nimc_spectrum_read("../shared/data/real/cap/"
                          "maxwell-teabf4-coin-cell-eis.csv",
                          NULL, &s, how, sizeof how, &err);
  if (rc) fprintf(stderr, "maxwell: %s\n", err.msg);
  CHECK(rc == NIMC_OK);
  printf("maxwell-teabf4-coin-cell-eis.csv: %s\n", how);
  /* header "Re(Z),Im(Z),Frequency (Hz)", 38 rows, CR line ends (none
   * after the last); the Im(Z) column is positive: -Im Z of a capacitor */
  CHECK(s.n == 38);
  CHECK_CONTAINS(how, "columns 3 'Frequency (Hz)', 1 'Re(Z)', 2 'Im(Z)'");
  CHECK_CONTAINS(how, "column 2 holds -Im Z");
  if (s.n == 38) {
    CHECK_REL(s.freq_Hz[0], 200019.0, 1e-12);
    CHECK_REL(s.z_re_ohm[0], 2.17224, 1e-12);
    CHECK_REL(s.z_im_ohm[0], -0.181331, 1e-12);
    CHECK_REL(s.freq_Hz[3], 61679.7, 1e-12);
    CHECK_REL(s.z_re_ohm[3], 2.521, 1e-12);
    CHECK_REL(s.z_im_ohm[3], -0.347822, 1e-12);
    CHECK_REL(s.freq_Hz[37], 0.0999271, 1e-12);
    CHECK_REL(s.z_re_ohm[37], 3.5823, 1e-12);
    CHECK_REL(s.z_im_ohm[37], -6.11606, 1e-12);
  }
  nimc_spectrum_free(&s);
}

int main(void) {
  RUN(test_good_files);
  RUN(test_im_sign);
  RUN(test_bad_files);
  RUN(test_formats);
  RUN(test_long_lines);
  RUN(test_truncated_and_corrupted);
  RUN(test_real_files);
  return TEST_REPORT();
}
