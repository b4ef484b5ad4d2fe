/*
 * test_biologic.c -- the BioLogic EC-Lab readers (io/read_biologic.c):
 * each real .mpr of ../shared/data/real/eclab against the .mpt text export
 * of the same measurement (points, column names, every value to the
 * digits the text prints), the techniques, the impedance spectra of real
 * PEIS files read through nimc_spectrum_read, the .mpt variants (no header
 * block, decimal commas, CRLF), the older .mpr data-module layout (version
 * 0), and the error paths: .mpr files cut short and corrupted (no crash,
 * no read out of bounds under the sanitizer; the message names the byte
 * offset), an unknown column ID, wrong or missing header counts.
 */
#define _POSIX_C_SOURCE 200809L

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/datafile.h"
#include "nimc/nimc.h"
#include "testlib.h"

#define ECLAB "../shared/data/real/eclab/"
#define CAP_PEIS "../shared/data/real/cap/BC52-7-100C_C01-peis.mpt"
#define IMPY_PEIS "../shared/data/real/impedance.py/exampleDataBioLogic.mpt"

/* ---- helpers ---------------------------------------------------------- */

/* Is the real data there?  Sets tl_skipped when not. */
static int have_data(const char *what) {
  struct stat st;
  if (stat(ECLAB, &st) == 0) return 1;
  fprintf(stderr, "skipped: %s (%s is absent)\n", what, ECLAB);
  tl_skipped = 1;
  return 0;
}

/* The whole file (NUL-terminated), or NULL. */
static char *load(const char *path, size_t *n) {
  FILE *fp = fopen(path, "rb");
  if (!fp) return NULL;
  size_t cap = 1 << 20, len = 0, got;
  char *b = malloc(cap + 1);
  while (b && (got = fread(b + len, 1, cap - len, fp)) > 0) {
    len += got;
    if (len == cap) {
      char *nb = realloc(b, 2 * cap + 1);
      if (!nb) {
        free(b);
        b = NULL;
        break;
      }
      b = nb;
      cap *= 2;
    }
  }
  fclose(fp);
  if (b) b[len] = '\0';
  *n = len;
  return b;
}

/* Write n bytes to a fresh temporary file; its name into path (64). */
static int write_temp(char *path, const void *data, size_t n) {
  snprintf(path, 64, "/tmp/nimc_test_biologic_XXXXXX");
  int fd = mkstemp(path);
  if (fd < 0) return 0;
  FILE *fp = fdopen(fd, "wb");
  if (!fp) return 0;
  size_t w = fwrite(data, 1, n, fp);
  fclose(fp);
  return w == n;
}

/* Read path with reader rd into t. */
static int read_with(const nimc_reader *rd, const char *path, nimc_dtable *t,
                     nimc_err *err) {
  memset(t, 0, sizeof *t);
  err->msg[0] = '\0';
  FILE *fp = fopen(path, "rb");
  if (!fp) {
    snprintf(err->msg, sizeof err->msg, "cannot open %s", path);
    return NIMC_EIO;
  }
  int rc = rd->read(fp, path, t, err);
  fclose(fp);
  return rc;
}

/* The column of t called name, or -1. */
static int col_of(const nimc_dtable *t, const char *name) {
  for (size_t c = 0; c < t->ncol; c++)
    if (strcmp(t->col[c].name, name) == 0) return (int)c;
  return -1;
}

static int in_list(const char *name, const char *const *list) {
  for (; list && *list; list++)
    if (strcmp(name, *list) == 0) return 1;
  return 0;
}

/* Offset of "MODULE" + the short name of a module, or SIZE_MAX. */
static size_t find_module(const unsigned char *b, size_t n, const char *name) {
  size_t m = strlen(name);
  for (size_t k = 0; k + 6 + m <= n; k++)
    if (memcmp(b + k, "MODULE", 6) == 0 && memcmp(b + k + 6, name, m) == 0)
      return k;
  return SIZE_MAX;
}

/* ---- the .mpt as printed: an oracle independent of the reader -------- */

/* The cells of a .mpt export as text: rows of ncol strings. */
typedef struct mpt_text {
  char *buf;
  size_t nrow, ncol;
  char **cell; /* nrow * ncol */
} mpt_text;

static void mpt_text_free(mpt_text *m) {
  free(m->buf);
  free(m->cell);
  memset(m, 0, sizeof *m);
}

/* Split the export at path into its cells (LF ends, as the test files
 * have; the header count from line 2). */
static int mpt_text_load(const char *path, mpt_text *m) {
  size_t n;
  memset(m, 0, sizeof *m);
  m->buf = load(path, &n);
  if (!m->buf) return 0;
  char *line2 = strchr(m->buf, '\n');
  long nhdr = 0;
  if (!line2 || sscanf(line2 + 1, "Nb header lines : %ld", &nhdr) != 1)
    return 0;
  char *p = m->buf;
  for (long k = 1; k < nhdr; k++)
    p = strchr(p, '\n') + 1;
  size_t lines = 0;
  for (char *q = p; *q; q++)
    lines += *q == '\n';
  char *names_end = strchr(p, '\n');
  for (char *q = p; q < names_end; q++)
    m->ncol += *q == '\t';
  if (names_end[-1] != '\t') m->ncol++;                   /* no trailing tab */
  m->nrow = lines - 1 + (n > 0 && m->buf[n - 1] != '\n'); /* no last LF */
  m->cell = malloc(m->nrow * m->ncol * sizeof *m->cell);
  p = names_end + 1;
  for (size_t i = 0; i < m->nrow; i++) {
    for (size_t c = 0; c < m->ncol; c++) {
      m->cell[i * m->ncol + c] = p;
      p += strcspn(p, "\t\n");
      *p++ = '\0';
    }
  }
  return 1;
}

/* Half a unit of the last digit the cell prints ("-3.4493880E+000": 5e-8),
 * 0 for an integer ("37"): the most a correctly rounded print of the
 * stored number can differ from it. */
static double half_unit(const char *s) {
  const char *e = strpbrk(s, "Ee"), *dot = strpbrk(s, ".,");
  if (!dot) return 0.0;
  int frac = (int)((e ? (size_t)(e - dot) : strlen(dot)) - 1);
  int ex = e ? atoi(e + 1) : 0;
  return 0.5 * pow(10.0, ex - frac);
}

/* ---- .mpr against .mpt, one measurement ------------------------------ */

/* What one pair of files should hold. */
typedef struct pair {
  const char *stem;              /* ECLAB stem.mpr, stem.mpt */
  size_t npts;                   /* points */
  const char *technique;         /* from the .mpr settings */
  const char *mpt_technique;     /* from the .mpt header */
  const char *const *only_mpt;   /* columns EC-Lab computes at export */
  const char *const *recomputed; /* in both, but the export recomputes
                                    them from float32 columns */
} pair;

/* The .mpr and .mpt of one measurement: same points, same columns (but
 * the listed ones), every value equal to the printed precision.
 *
 * The tolerance: EC-Lab prints float32 columns as %.7E (8 significant
 * digits) and float64 ones as %.15E (16), integers and flags as integers.
 * A correctly rounded print differs from the stored number by at most half
 * a unit of its last digit, so each .mpr value must lie within that half
 * unit (read off the cell's own text: its digits and exponent) of the
 * printed one, plus two ulps for the decimal-to-binary rounding of the
 * printed number; integers must be equal.  8 digits are finer than a
 * float32's spacing (2^-24 relative and up), so this is as tight as the
 * text allows, and a value off by one float32 step fails.  The columns
 * listed in p->recomputed are the exception: stored as float64 in the
 * .mpr, but recomputed by the export from a float32 column, so they agree
 * to a float32 step (2^-23 relative) only; for them the test also checks
 * that the strict tolerance does fail, so that the list cannot go stale. */
static void check_pair(const pair *p) {
  char mpr[256], mpt[256];
  snprintf(mpr, sizeof mpr, ECLAB "%s.mpr", p->stem);
  snprintf(mpt, sizeof mpt, ECLAB "%s.mpt", p->stem);
  nimc_dtable b, a;
  nimc_err err;
  mpt_text tx;
  int rb = read_with(&nimc_reader_mpr, mpr, &b, &err);
  if (rb) fprintf(stderr, "%s\n", err.msg);
  int ra = read_with(&nimc_reader_mpt, mpt, &a, &err);
  if (ra) fprintf(stderr, "%s\n", err.msg);
  int rt = mpt_text_load(mpt, &tx);
  CHECK(rb == NIMC_OK);
  CHECK(ra == NIMC_OK);
  CHECK(rt);
  if (rb || ra || !rt) goto done;
  printf("%-18s mpr: %zu points, %zu columns, %s; mpt: %zu columns, %s\n",
         p->stem, b.nrow, b.ncol, b.technique, a.ncol, a.format);

  /* points and techniques */
  CHECK(b.nrow == p->npts);
  CHECK(a.nrow == p->npts);
  if (tx.nrow != p->npts || tx.ncol != a.ncol)
    fprintf(stderr, "%s: text %zu rows, %zu columns\n", p->stem, tx.nrow,
            tx.ncol);
  CHECK(tx.nrow == p->npts && tx.ncol == a.ncol);
  CHECK(strcmp(b.technique, p->technique) == 0);
  CHECK(strcmp(a.technique, p->mpt_technique) == 0);
  if (a.nrow != b.nrow || tx.nrow != a.nrow || tx.ncol != a.ncol) goto done;

  /* columns: every .mpt column is in the .mpr or listed; every listed one
   * is in the .mpt and not in the .mpr; every .mpr column is in the .mpt,
   * in the same order */
  for (size_t c = 0; c < a.ncol; c++) {
    int in_b = col_of(&b, a.col[c].name) >= 0;
    int listed = in_list(a.col[c].name, p->only_mpt);
    if (in_b == listed)
      fprintf(stderr, "%s: column '%s' %s\n", p->stem, a.col[c].name,
              in_b ? "is in the .mpr but listed as .mpt-only"
                   : "is not in the .mpr and not listed");
    CHECK(in_b != listed);
  }
  for (const char *const *l = p->only_mpt; l && *l; l++)
    CHECK(col_of(&a, *l) >= 0);
  int last = -1;
  for (size_t c = 0; c < b.ncol; c++) {
    int k = col_of(&a, b.col[c].name);
    if (k < 0)
      fprintf(stderr, "%s: .mpr column '%s' not in the .mpt\n", p->stem,
              b.col[c].name);
    CHECK(k > last);
    if (k > last) last = k;
  }

  /* values */
  for (size_t c = 0; c < b.ncol; c++) {
    int k = col_of(&a, b.col[c].name);
    if (k < 0) continue;
    int loose = in_list(b.col[c].name, p->recomputed);
    size_t nbad = 0, nparse = 0, worst_i = 0, nstrict = 0;
    double worst = 0.0;
    for (size_t i = 0; i < b.nrow; i++) {
      const char *cell = tx.cell[i * tx.ncol + (size_t)k];
      char tmp[64];
      snprintf(tmp, sizeof tmp, "%s", cell);
      char *comma = strchr(tmp, ',');
      if (comma) *comma = '.';
      double printed = strtod(tmp, NULL);
      double va = a.col[k].v[i], vb = b.col[c].v[i];
      if (va != printed) nparse++;
      double tol =
          half_unit(cell) * (1 + 1e-12) + 2 * DBL_EPSILON * fabs(printed);
      double d = fabs(vb - printed);
      if (!(d <= tol)) nstrict++;
      if (loose) tol += fabs(printed) * 0x1p-23;
      if (!(d <= tol)) {
        nbad++;
        if (d / (tol > 0 ? tol : 1e-300) > worst) {
          worst = d / (tol > 0 ? tol : 1e-300);
          worst_i = i;
        }
      }
    }
    if (nbad || nparse)
      fprintf(stderr,
              "%s: column '%s': %zu values off by more than the printed "
              "precision (worst row %zu: mpr %.17g, mpt '%s'), %zu parsed "
              "differently by the mpt reader\n",
              p->stem, b.col[c].name, nbad, worst_i, b.col[c].v[worst_i],
              tx.cell[worst_i * tx.ncol + (size_t)k], nparse);
    CHECK(nbad == 0);
    CHECK(nparse == 0);
    if (loose) {
      printf("%s: '%s' recomputed by the export: %zu of %zu values differ "
             "by more than the printed precision, all within a float32 "
             "step\n",
             p->stem, b.col[c].name, nstrict, b.nrow);
      CHECK(nstrict > 0);
    }
  }
done:
  nimc_dtable_free(&a);
  nimc_dtable_free(&b);
  mpt_text_free(&tx);
}

/* The columns the .mpt has and the .mpr lacks, per file: EC-Lab computes
 * them when it writes the text export ("process data" options: power,
 * Ewe - Ece, admittance, per-cycle charges and energies, the cycle
 * counter), from columns the .mpr stores; nimc does not recompute them.
 * No file has a .mpr column that the .mpt lacks (check_pair checks it). */
static const char *const cp_only[] = {"Energy charge/W.h",
                                      "Energy discharge/W.h",
                                      "Capacitance charge/\xb5"
                                      "F",
                                      "Capacitance discharge/\xb5"
                                      "F",
                                      "Q discharge/mA.h",
                                      "Q charge/mA.h",
                                      "Capacity/mA.h",
                                      "Efficiency/%",
                                      "cycle number",
                                      "P/W",
                                      "Ewe-Ece/V",
                                      NULL};
/* cp's export recomputes Q charge/discharge from the float32 (Q-Qo)/C
 * (mA.h = C / 3.6) instead of printing the stored float64 */
static const char *const cp_recomputed[] = {"Q charge/discharge/mA.h", NULL};
static const char *const cv_only[] = {"P/W", NULL};
/* gcpl also splits control/V/mA into control/V and control/mA, and
 * computes x (the insertion coefficient) and <I> from dq */
static const char *const gcpl_only[] = {"<I>/mA",
                                        "x",
                                        "Q discharge/mA.h",
                                        "Q charge/mA.h",
                                        "Capacity/mA.h",
                                        "Efficiency/%",
                                        "control/V",
                                        "control/mA",
                                        "cycle number",
                                        "Ewe-Ece/V",
                                        NULL};
static const char *const lsv_only[] = {"P/W", "Ewe-Ece/V", NULL};
static const char *const peis_only[] = {
    "Re(Y)/Ohm-1", "Im(Y)/Ohm-1", "|Y|/Ohm-1", "Phase(Y)/deg", "dq/mA.h", NULL};

static void test_cp(void) {
  if (!have_data("test_cp")) return;
  pair p = {"cp", 121, "CP", "CP", cp_only, cp_recomputed};
  check_pair(&p);
}
static void test_cv(void) {
  if (!have_data("test_cv")) return;
  pair p = {"cv", 5103, "CV", "CV", cv_only, NULL};
  check_pair(&p);
}
/* Its export has the short header (3 lines): no technique in the text. */
static void test_gcpl(void) {
  if (!have_data("test_gcpl")) return;
  pair p = {"gcpl.pr_182.1", 2533, "GCPL", "", gcpl_only, NULL};
  check_pair(&p);
}
static void test_lsv(void) {
  if (!have_data("test_lsv")) return;
  pair p = {"lsv", 1186, "LSV", "LSV", lsv_only, NULL};
  check_pair(&p);
}
static void test_ocv(void) {
  if (!have_data("test_ocv")) return;
  pair p = {"ocv", 602, "OCV", "OCV", NULL, NULL};
  check_pair(&p);
}
static void test_peis(void) {
  if (!have_data("test_peis")) return;
  pair p = {"peis", 32, "PEIS", "PEIS", peis_only, NULL};
  check_pair(&p);
}

/* ---- techniques of every .mpt --------------------------------------- */

static void test_techniques(void) {
  if (!have_data("test_techniques")) return;
  static const struct {
    const char *path, *technique;
  } cases[] = {
      {ECLAB "cp.mpt", "CP"},
      {ECLAB "cv.mpt", "CV"},
      {ECLAB "lsv.mpt", "LSV"},
      {ECLAB "ocv.mpt", "OCV"},
      {ECLAB "peis.mpt", "PEIS"},
      {CAP_PEIS, "PEIS"},
      {IMPY_PEIS, "PEIS"},
      /* a 3-line header: the export does not say */
      {ECLAB "gcpl.pr_182.1.mpt", ""},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    nimc_dtable t;
    nimc_err err;
    int rc = read_with(&nimc_reader_mpt, cases[k].path, &t, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    CHECK(rc == NIMC_OK);
    if (strcmp(t.technique, cases[k].technique) != 0)
      fprintf(stderr, "%s: technique '%s', expected '%s'\n", cases[k].path,
              t.technique, cases[k].technique);
    CHECK(strcmp(t.technique, cases[k].technique) == 0);
    nimc_dtable_free(&t);
  }
}

/* ---- spectra through nimc_spectrum_read ------------------------------ */

/* Read path as a spectrum: finite, positive frequencies, mostly
 * capacitive; the how sentence names the reader. */
static int check_spectrum(const char *path, const char *reader,
                          nimc_spectrum *s) {
  char how[512];
  nimc_err err;
  int rc = nimc_spectrum_read(path, NULL, s, how, sizeof how, &err);
  if (rc) fprintf(stderr, "%s\n", err.msg);
  CHECK(rc == NIMC_OK);
  if (rc) return 0;
  printf("%s: %s\n", path, how);
  CHECK_CONTAINS(how, reader);
  CHECK_CONTAINS(how, "'freq/Hz'");
  CHECK_CONTAINS(how, "its header '-Im(Z)/Ohm' says so");
  size_t neg = 0, finite = 1;
  for (size_t i = 0; i < s->n; i++) {
    finite &= isfinite(s->freq_Hz[i]) && isfinite(s->z_re_ohm[i]) &&
              isfinite(s->z_im_ohm[i]) && s->freq_Hz[i] > 0.0;
    neg += s->z_im_ohm[i] < 0.0;
  }
  CHECK(s->n >= 10);
  CHECK(finite);
  CHECK(2 * neg > s->n);
  return 1;
}

static void test_spectra(void) {
  if (!have_data("test_spectra")) return;
  nimc_spectrum t, b, s;
  int ok_t = check_spectrum(ECLAB "peis.mpt", "mpt (EC-Lab text export", &t);
  int ok_b = check_spectrum(ECLAB "peis.mpr", "mpr (EC-Lab binary", &b);
  if (ok_t && ok_b) {
    CHECK(t.n == 32 && b.n == t.n);
    /* float32 against 8 printed digits: within 5e-8 relative */
    for (size_t i = 0; i < t.n && i < b.n; i++) {
      CHECK_REL(b.freq_Hz[i], t.freq_Hz[i], 5.0001e-8);
      CHECK_REL(b.z_re_ohm[i], t.z_re_ohm[i], 5.0001e-8);
      CHECK_REL(b.z_im_ohm[i], t.z_im_ohm[i], 5.0001e-8);
    }
    CHECK_REL(t.freq_Hz[0], 1.9999814e5, 1e-15); /* first row, as printed */
    CHECK_REL(t.z_re_ohm[0], 1.0512296e1, 1e-15);
    CHECK_REL(t.z_im_ohm[0], -7.3047662e-1, 1e-15);
  }
  if (ok_t) nimc_spectrum_free(&t);
  if (ok_b) nimc_spectrum_free(&b);
  if (check_spectrum(CAP_PEIS, "mpt (EC-Lab text export, PEIS)", &s)) {
    CHECK(s.n == 38);
    nimc_spectrum_free(&s);
  }
  if (check_spectrum(IMPY_PEIS, "mpt (EC-Lab text export, PEIS)", &s)) {
    CHECK(s.n == 43);
    nimc_spectrum_free(&s);
  }
}

/* ---- .mpt variants ---------------------------------------------------- */

/* Detection scores: signatures win over the csv reader's 1. */
static void test_detect(void) {
  const unsigned char *mpt = (const unsigned char *)"EC-Lab ASCII FILE\r\nNb";
  const unsigned char *bare =
      (const unsigned char *)"freq/Hz\tRe(Z)/Ohm\t-Im(Z)/Ohm\n1\t2\t3\n";
  const unsigned char *csv = (const unsigned char *)"freq,re,im\n1,2,3\n";
  const unsigned char *mpr =
      (const unsigned char *)"BIO-LOGIC MODULAR FILE\x1a   ";
  CHECK(nimc_reader_mpt.detect(mpt, strlen((const char *)mpt)) == 10);
  CHECK(nimc_reader_mpt.detect(bare, strlen((const char *)bare)) == 5);
  CHECK(nimc_reader_mpt.detect(csv, strlen((const char *)csv)) == 0);
  CHECK(nimc_reader_mpt.detect(mpr, strlen((const char *)mpr)) == 0);
  CHECK(nimc_reader_mpt.detect(mpt, 0) == 0);
  CHECK(nimc_reader_mpr.detect(mpr, strlen((const char *)mpr)) == 10);
  CHECK(nimc_reader_mpr.detect(mpr, 10) == 0);
  CHECK(nimc_reader_mpr.detect(mpt, strlen((const char *)mpt)) == 0);
  CHECK(strcmp(nimc_reader_mpt.name, "mpt") == 0);
  CHECK(strcmp(nimc_reader_mpr.name, "mpr") == 0);
}

/* Compare every cell of two tables of the same file. */
static void check_same_table(const nimc_dtable *x, const nimc_dtable *y) {
  CHECK(x->ncol == y->ncol && x->nrow == y->nrow);
  if (x->ncol != y->ncol || x->nrow != y->nrow) return;
  size_t diff = 0;
  for (size_t c = 0; c < x->ncol; c++) {
    CHECK(strcmp(x->col[c].name, y->col[c].name) == 0);
    for (size_t i = 0; i < x->nrow; i++)
      diff += !(x->col[c].v[i] == y->col[c].v[i]);
  }
  CHECK(diff == 0);
}

/* peis.mpt without its header block; with decimal commas and CRLF. */
static void test_mpt_variants(void) {
  if (!have_data("test_mpt_variants")) return;
  size_t n;
  char *src = load(ECLAB "peis.mpt", &n), path[64];
  CHECK(src != NULL);
  if (!src) return;
  nimc_dtable ref, t;
  nimc_err err;
  CHECK(read_with(&nimc_reader_mpt, ECLAB "peis.mpt", &ref, &err) == NIMC_OK);

  /* no header block: the column names are line 1 */
  char *p = src;
  for (int k = 1; k < 70; k++)
    p = strchr(p, '\n') + 1;
  size_t m = n - (size_t)(p - src);
  CHECK(write_temp(path, p, m));
  CHECK(read_with(&nimc_reader_mpt, path, &t, &err) == NIMC_OK);
  CHECK(t.header_line == 1 && t.line[0] == 2 && t.technique[0] == '\0');
  CHECK_CONTAINS(t.format, "without header");
  check_same_table(&ref, &t);
  nimc_dtable_free(&t);
  nimc_spectrum s;
  char how[512];
  CHECK(nimc_spectrum_read(path, NULL, &s, how, sizeof how, &err) == NIMC_OK);
  CHECK_CONTAINS(how, "mpt (EC-Lab text export without header)");
  nimc_spectrum_free(&s);
  unlink(path);

  /* decimal commas in the data, CRLF line ends */
  char *w = malloc(2 * n + 1);
  size_t k = 0, line = 1;
  for (size_t i = 0; i < n; i++) {
    if (src[i] == '\n') {
      w[k++] = '\r';
      line++;
    }
    w[k++] = src[i] == '.' && line > 70 ? ',' : src[i];
  }
  CHECK(write_temp(path, w, k));
  CHECK(read_with(&nimc_reader_mpt, path, &t, &err) == NIMC_OK);
  CHECK(t.header_line == 70 && strcmp(t.technique, "PEIS") == 0);
  CHECK_CONTAINS(t.format, "decimal commas");
  check_same_table(&ref, &t);
  nimc_dtable_free(&t);
  unlink(path);
  free(w);
  nimc_dtable_free(&ref);
  free(src);
}

/* peis.mpt with line 2 replaced by hdr (and optionally a data row cut). */
static void check_bad_mpt(const char *src, size_t n, const char *hdr,
                          int cut_row, const char *where, const char *what) {
  const char *l2 = strchr(src, '\n') + 1, *l3 = strchr(l2, '\n') + 1;
  size_t m = strlen(hdr);
  char *w = malloc(n + m + 2), path[64];
  size_t k = (size_t)(l2 - src);
  memcpy(w, src, k);
  memcpy(w + k, hdr, m);
  k += m;
  w[k++] = '\n';
  memcpy(w + k, l3, n - (size_t)(l3 - src));
  k += n - (size_t)(l3 - src);
  if (cut_row) { /* drop the last field of line 72 */
    char *p = w;
    for (int j = 1; j < 72; j++)
      p = strchr(p, '\n') + 1;
    char *e = strchr(p, '\n'), *tab = e;
    while (*--tab != '\t') {
    }
    memmove(tab, e, (size_t)(w + k - e));
    k -= (size_t)(e - tab);
  }
  CHECK(write_temp(path, w, k));
  nimc_dtable t;
  nimc_err err;
  int rc = read_with(&nimc_reader_mpt, path, &t, &err);
  printf("bad mpt (%s): %s\n", hdr, err.msg);
  CHECK(rc == NIMC_EDATA);
  char loc[96];
  snprintf(loc, sizeof loc, "%s:%s", path, where);
  CHECK_CONTAINS(err.msg, loc);
  CHECK_CONTAINS(err.msg, what);
  if (rc == NIMC_OK) nimc_dtable_free(&t);
  unlink(path);
  free(w);
}

static void test_mpt_errors(void) {
  if (!have_data("test_mpt_errors")) return;
  size_t n;
  char *src = load(ECLAB "peis.mpt", &n);
  CHECK(src != NULL);
  if (!src) return;
  /* too small: line 40 is header text */
  check_bad_mpt(src, n, "Nb header lines : 40", 0,
                "40: ", "line 2 says there are 40 header lines");
  /* too large: line 75 is a data row */
  check_bad_mpt(src, n, "Nb header lines : 75", 0,
                "75: ", "is the header count wrong?");
  /* absent */
  check_bad_mpt(src, n, "Run on channel : 1", 0, "2: ",
                "'Nb header lines : N' expected, found 'Run on channel : 1'");
  check_bad_mpt(src, n, "Nb header lines : ", 0,
                "2: ", "'Nb header lines : N' expected");
  check_bad_mpt(src, n, "Nb header lines : 2", 0, "2: ", "at least 3");
  check_bad_mpt(src, n, "Nb header lines : 9999", 0,
                "2: ", "9999 header lines, but the file ends at line 102");
  /* a row short of a field */
  check_bad_mpt(src, n, "Nb header lines : 70", 1,
                "72: ", "29 fields, but the column names (line 70) are 30");
  /* prefixes: inside the header an error naming the file and a line, from
   * the first data row on a table of the rows there (the last one maybe
   * cut: a short row, or a shorter last number) */
  size_t nok = 0, nbad = 0;
  for (size_t j = 0; j <= 97; j++) {
    size_t cut = n * j / 97;
    char path[64];
    CHECK(write_temp(path, src, cut));
    nimc_dtable t;
    nimc_err err;
    int rc = read_with(&nimc_reader_mpt, path, &t, &err);
    CHECK(rc == NIMC_OK || rc == NIMC_EDATA);
    if (rc == NIMC_OK) {
      nok++;
      CHECK(t.nrow >= 1 && t.nrow <= 32 && t.ncol == 30);
      nimc_dtable_free(&t);
    } else {
      nbad++;
      CHECK(strncmp(err.msg, path, strlen(path)) == 0);
    }
    unlink(path);
  }
  printf("peis.mpt prefixes: %zu read, %zu refused\n", nok, nbad);
  CHECK(nok > 0 && nbad > 0);
  free(src);

  /* a NUL byte, an empty file, a file that is not an export */
  char path[64];
  nimc_dtable t;
  nimc_err err;
  const char nul[] = "EC-Lab ASCII FILE\nNb header lines : 3\na\0b\tc\n";
  CHECK(write_temp(path, nul, sizeof nul - 1));
  CHECK(read_with(&nimc_reader_mpt, path, &t, &err) == NIMC_EDATA);
  CHECK_CONTAINS(err.msg, ":3: a NUL byte (byte 39 of the file)");
  unlink(path);
  CHECK(write_temp(path, "", 0));
  CHECK(read_with(&nimc_reader_mpt, path, &t, &err) == NIMC_EDATA);
  CHECK_CONTAINS(err.msg, ": the file is empty");
  unlink(path);
  CHECK(write_temp(path, "freq,re,im\n1,2,3\n", 17));
  CHECK(read_with(&nimc_reader_mpt, path, &t, &err) == NIMC_EDATA);
  CHECK_CONTAINS(err.msg, ":1: neither 'EC-Lab ASCII FILE' nor");
  unlink(path);
  /* the mpr reader asked to read a text export */
  nimc_read_opts o = nimc_read_opts_default();
  nimc_spectrum s;
  o.format = "mpr";
  CHECK(nimc_spectrum_read(ECLAB "peis.mpt", &o, &s, NULL, 0, &err) ==
        NIMC_EDATA);
  CHECK_CONTAINS(err.msg, "peis.mpt:0: not an EC-Lab .mpr file");
}

/* ---- .mpr layouts and errors ------------------------------------------ */

/* ocv.mpr rewritten with a version-0 data module: column IDs as bytes and
 * records from byte 100 (wide = 0), or as big-endian u16 and records from
 * byte 0x3ef (wide = 1), as older EC-Lab versions write; reads to the same
 * table. */
static void check_version0(const unsigned char *f, size_t n,
                           const nimc_dtable *ref, int wide) {
  size_t at = find_module(f, n, "VMP data");
  CHECK(at != SIZE_MAX);
  if (at == SIZE_MAX) return;
  const unsigned char *h = f + at + 6, *d = h + 51;
  size_t len = (size_t)h[35] | (size_t)h[36] << 8 | (size_t)h[37] << 16 |
               (size_t)h[38] << 24;
  size_t ncol = d[4], old_start = 0x196, start = wide ? 0x3ef : 100;
  size_t recs = len - old_start, newlen = start + recs;
  unsigned char *w = calloc(n + start, 1);
  memcpy(w, f, at + 6 + 51);
  unsigned char *nh = w + at + 6, *nd = nh + 51;
  nh[35] = (unsigned char)newlen;
  nh[36] = (unsigned char)(newlen >> 8);
  nh[37] = (unsigned char)(newlen >> 16);
  nh[38] = (unsigned char)(newlen >> 24);
  memset(nh + 39, 0, 4); /* version 0 */
  memcpy(nd, d, 5);
  for (size_t k = 0; k < ncol; k++) {
    unsigned id = (unsigned)(d[5 + 2 * k] | d[6 + 2 * k] << 8);
    if (wide) {
      nd[5 + 2 * k] = (unsigned char)(id >> 8);
      nd[6 + 2 * k] = (unsigned char)id;
    } else {
      nd[5 + k] = (unsigned char)id;
    }
  }
  memcpy(nd + start, d + old_start, recs);
  size_t rest = n - (at + 6 + 51 + len);
  memcpy(nd + newlen, d + len, rest);
  size_t total = (size_t)(nd - w) + newlen + rest;
  char path[64];
  CHECK(write_temp(path, w, total));
  nimc_dtable t;
  nimc_err err;
  int rc = read_with(&nimc_reader_mpr, path, &t, &err);
  if (rc) fprintf(stderr, "version 0 (%s): %s\n", wide ? "u16" : "u8", err.msg);
  CHECK(rc == NIMC_OK);
  if (!rc) {
    CHECK_CONTAINS(t.format, "data module version 0");
    check_same_table(ref, &t);
    nimc_dtable_free(&t);
  }
  unlink(path);
  free(w);
}

static void test_mpr_version0(void) {
  if (!have_data("test_mpr_version0")) return;
  size_t n;
  unsigned char *f = (unsigned char *)load(ECLAB "ocv.mpr", &n);
  nimc_dtable ref;
  nimc_err err;
  CHECK(f &&
        read_with(&nimc_reader_mpr, ECLAB "ocv.mpr", &ref, &err) == NIMC_OK);
  if (!f) return;
  check_version0(f, n, &ref, 0);
  check_version0(f, n, &ref, 1);
  nimc_dtable_free(&ref);
  free(f);
}

/* Read a (damaged) .mpr image: OK or NIMC_EDATA naming the file and a
 * byte offset ("path:1234: "), never a crash.  Returns rc. */
static int read_image(const unsigned char *w, size_t n, nimc_err *err,
                      char *path) {
  CHECK(write_temp(path, w, n));
  nimc_dtable t;
  int rc = read_with(&nimc_reader_mpr, path, &t, err);
  CHECK(rc == NIMC_OK || rc == NIMC_EDATA);
  if (rc == NIMC_OK) {
    nimc_dtable_free(&t);
  } else {
    size_t pl = strlen(path);
    int named = strncmp(err->msg, path, pl) == 0 && err->msg[pl] == ':' &&
                err->msg[pl + 1] >= '0' && err->msg[pl + 1] <= '9';
    if (!named) fprintf(stderr, "no offset: %s\n", err->msg);
    CHECK(named);
  }
  unlink(path);
  return rc;
}

static const char *const mprs[] = {"cp",  "cv",  "gcpl.pr_182.1",
                                   "lsv", "ocv", "peis"};

/* Every .mpr cut at many lengths: the ones inside a module fail, naming
 * the offset; the full file reads. */
static void test_mpr_truncated(void) {
  if (!have_data("test_mpr_truncated")) return;
  size_t nok = 0, nbad = 0;
  for (size_t k = 0; k < sizeof mprs / sizeof mprs[0]; k++) {
    char src[256], path[64];
    snprintf(src, sizeof src, ECLAB "%s.mpr", mprs[k]);
    size_t n;
    unsigned char *f = (unsigned char *)load(src, &n);
    CHECK(f != NULL);
    if (!f) continue;
    size_t data = find_module(f, n, "VMP data");
    size_t cuts[64], nc = 0;
    size_t fixed[] = {0,
                      1,
                      23,
                      51,
                      52,
                      53,
                      58,
                      60,
                      100,
                      data - 1,
                      data,
                      data + 6,
                      data + 40,
                      data + 57,
                      data + 60,
                      data + 57 + 0x195,
                      data + 57 + 0x196,
                      data + 57 + 0x197,
                      n - 1};
    for (size_t j = 0; j < sizeof fixed / sizeof fixed[0]; j++)
      if (fixed[j] < n) cuts[nc++] = fixed[j];
    for (size_t j = 1; j < 30; j++)
      cuts[nc++] = n * j / 30;
    nimc_err err;
    for (size_t j = 0; j < nc; j++) {
      int rc = read_image(f, cuts[j], &err, path);
      rc ? nbad++ : nok++;
      /* cut inside the signature or a module: always an error */
      CHECK(rc == NIMC_EDATA);
    }
    CHECK(read_image(f, n, &err, path) == NIMC_OK);
    /* cut inside the records, with the module length patched to fit:
     * the point count no longer fits, and that is named */
    unsigned char *w = malloc(n);
    memcpy(w, f, n);
    size_t h = data + 6, len = (size_t)w[h + 35] | (size_t)w[h + 36] << 8 |
                               (size_t)w[h + 37] << 16 |
                               (size_t)w[h + 38] << 24;
    size_t newlen = len - 7;
    w[h + 35] = (unsigned char)newlen;
    w[h + 36] = (unsigned char)(newlen >> 8);
    w[h + 37] = (unsigned char)(newlen >> 16);
    w[h + 38] = (unsigned char)(newlen >> 24);
    CHECK(read_image(w, h + 51 + newlen, &err, path) == NIMC_EDATA);
    CHECK_CONTAINS(err.msg, "bytes from byte");
    CHECK_CONTAINS(err.msg, "but the data module ends");
    free(w);
    free(f);
  }
  printf("truncated .mpr: %zu read, %zu refused\n", nok, nbad);
}

/* Byte flips: in the module headers and column list on purpose, and at
 * random places; each read succeeds or fails naming an offset. */
static void test_mpr_corrupted(void) {
  if (!have_data("test_mpr_corrupted")) return;
  unsigned long long st = 12345;
  size_t nok = 0, nbad = 0;
  for (size_t k = 0; k < sizeof mprs / sizeof mprs[0]; k++) {
    char src[256], path[64];
    snprintf(src, sizeof src, ECLAB "%s.mpr", mprs[k]);
    size_t n;
    unsigned char *f = (unsigned char *)load(src, &n);
    if (!f) continue;
    unsigned char *w = malloc(n);
    size_t data = find_module(f, n, "VMP data"), d = data + 6 + 51;
    size_t at[] = {0,         52,        58,        data,      data + 6,
                   data + 41, data + 42, data + 44, data + 45, d,
                   d + 3,     d + 4,     d + 5,     d + 6,     d + 7,
                   d + 0x195, d + 0x196};
    nimc_err err;
    for (size_t j = 0; j < sizeof at / sizeof at[0]; j++)
      for (unsigned bit = 0; bit < 8; bit += 3) {
        memcpy(w, f, n);
        w[at[j]] ^= (unsigned char)(1u << bit);
        read_image(w, n, &err, path) ? nbad++ : nok++;
      }
    for (int trial = 0; trial < 40; trial++) {
      memcpy(w, f, n);
      for (int flips = 0; flips < 4; flips++) {
        st = st * 6364136223846793005ULL + 1442695040888963407ULL;
        size_t pos = (size_t)(st >> 33) % (trial < 20 ? d + 0x196 : n);
        w[pos] ^= (unsigned char)(st >> 13);
      }
      read_image(w, n, &err, path) ? nbad++ : nok++;
    }
    /* a huge point count and the most columns */
    memcpy(w, f, n);
    w[d + 3] = 0x7f;
    CHECK(read_image(w, n, &err, path) == NIMC_EDATA);
    CHECK_CONTAINS(err.msg, "points of");
    memcpy(w, f, n);
    w[d + 4] = 255;
    CHECK(read_image(w, n, &err, path) == NIMC_EDATA);
    CHECK_CONTAINS(err.msg, "255 column IDs");
    memcpy(w, f, n);
    w[data + 6 + 39] = 7; /* the data module's version */
    CHECK(read_image(w, n, &err, path) == NIMC_EDATA);
    CHECK_CONTAINS(err.msg, "data module version 7; nimc reads versions");
    free(w);
    free(f);
  }
  printf("corrupted .mpr: %zu read, %zu refused\n", nok, nbad);
}

/* An unknown column ID: the message names the ID and where it sits. */
static void test_mpr_unknown_id(void) {
  if (!have_data("test_mpr_unknown_id")) return;
  size_t n;
  unsigned char *f = (unsigned char *)load(ECLAB "peis.mpr", &n);
  CHECK(f != NULL);
  if (!f) return;
  size_t ids = find_module(f, n, "VMP data") + 6 + 51 + 5;
  CHECK(f[ids + 4] == 38 && f[ids + 5] == 0); /* the third: -Im(Z) */
  f[ids + 4] = 999 & 0xff;
  f[ids + 5] = 999 >> 8;
  char path[64], want[160];
  nimc_err err;
  CHECK(read_image(f, n, &err, path) == NIMC_EDATA);
  printf("unknown ID: %s\n", err.msg);
  snprintf(want, sizeof want,
           "%s:%zu: unknown column ID 999 (entry 3 of the 25 column IDs "
           "listed from byte %zu)",
           path, ids + 4, ids);
  CHECK_CONTAINS(err.msg, want);
  free(f);
}

int main(void) {
  RUN(test_cp);
  RUN(test_cv);
  RUN(test_gcpl);
  RUN(test_lsv);
  RUN(test_ocv);
  RUN(test_peis);
  RUN(test_techniques);
  RUN(test_spectra);
  RUN(test_detect);
  RUN(test_mpt_variants);
  RUN(test_mpt_errors);
  RUN(test_mpr_version0);
  RUN(test_mpr_truncated);
  RUN(test_mpr_corrupted);
  RUN(test_mpr_unknown_id);
  return TEST_REPORT();
}
