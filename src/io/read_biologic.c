/*
 * read_biologic.c -- BioLogic EC-Lab files: the text export (.mpt) and the
 * binary file the instrument writes (.mpr), two rows of the reader table
 * (io/spectrum_read.c).  Both fill the same nimc_dtable with the same
 * column names ("time/s", "Ewe/V", "<I>/mA", "freq/Hz", "Re(Z)/Ohm",
 * "-Im(Z)/Ohm", ...), exactly as EC-Lab writes them in the text export, so
 * that whatever reads a column by its name reads either file.
 *
 * The .mpt: line 1 "EC-Lab ASCII FILE", line 2 "Nb header lines : N", the
 * free-form header (the technique's long name, "Cyclic Voltammetry", on a
 * line of its own near line 4), the tab-separated column names on line N,
 * then one tab-separated row per point.  Latin-1 text (the micro sign is
 * the byte 0xB5: names keep their bytes), decimal points or commas, CR, LF
 * or CRLF line ends.  EC-Lab can also export without the header block: the
 * first line then holds the column names; it is recognised when at least
 * two of its names are names of the .mpr column table below.
 *
 * The .mpr, undocumented by BioLogic and read here as the galvani and yadg
 * projects worked it out (and as the test files confirm): the 52-byte
 * signature "BIO-LOGIC MODULAR FILE\x1a" padded with blanks and four zero
 * bytes, then modules, each "MODULE", a header (short name, 10 bytes;
 * long name, 25; length, u32; version, u32; date, 8 ASCII bytes; EC-Lab
 * 11.50 and later put a u32 0xFFFFFFFF before the length and another u32
 * after the version), and `length` bytes of data.  "VMP Set" holds the
 * settings, whose first byte names the technique; "VMP data" holds the
 * number of points (u32), the number of columns (u8), the column IDs
 * (little-endian u16 in versions 2 and 3; in version 0 either u8 or
 * big-endian u16) and, from a fixed offset that depends on the version,
 * the records, each the columns' values in the order of the IDs.  Flag
 * columns (mode, ox/red, error, ...) share one byte, placed where the first
 * of them is listed.  Every other module ("VMP LOG", "VMP loop", ...) is
 * walked over, not read.  One table (mpr_cols) says each ID's name, C type
 * and unit; an ID that it does not know is an error, because the record
 * size, and so every value after it, depends on it.  A binary file has no
 * lines: the table's "line" of a row is the byte offset of its record, and
 * its header line the offset of the column-ID list, so that the messages
 * of io/spectrum_read.c about the data point into the file too.
 *
 * Columns that the text export computes when it is written (P/W, Ewe-Ece/V,
 * Re(Y), the per-cycle charges, ...) are not in the .mpr; nothing here
 * computes them.  Every length and count of a .mpr is checked against the
 * file size before it is used, and every error names the file and the
 * byte offset ("cv.mpr:2061: ...") or, for the .mpt, the line.  Nothing here
 * prints.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/params.h"
#include "io/datafile.h"

/* ======================================================================
 * Techniques: the long name the .mpt header writes, the short name, and
 * the first byte of the .mpr settings module (-1: none known)
 * ====================================================================== */

typedef struct technique {
  const char *name; /* as on its own line in the .mpt header */
  const char *code; /* EC-Lab's short name, into nimc_dtable.technique */
  int mpr_id[2];    /* settings byte 0 in the .mpr */
} technique;

static const technique techniques[] = {
    {"Galvanostatic Cycling with Potential Limitation", "GCPL", {0x04, 0x77}},
    {"Cyclic Voltammetry", "CV", {0x06, -1}},
    {"Cyclic Voltammetry Advanced", "CVA", {0x33, -1}},
    {"Potentio Electrochemical Impedance Spectroscopy", "PEIS", {0x1d, -1}},
    {"Galvano Electrochemical Impedance Spectroscopy", "GEIS", {0x1e, -1}},
    {"Open Circuit Voltage", "OCV", {0x0b, -1}},
    {"Chronopotentiometry", "CP", {0x19, -1}},
    {"Chronoamperometry / Chronocoulometry", "CA", {0x18, -1}},
    {"Linear Sweep Voltammetry", "LSV", {0x6c, -1}},
    {"Modulo Bat", "MB", {0x7f, -1}},
};
static const size_t ntechniques = sizeof techniques / sizeof techniques[0];

/* The short name of the technique whose long name is s (n bytes, blanks
 * around it ignored), or NULL. */
static const char *technique_by_name(const char *s, size_t n) {
  while (n > 0 && (*s == ' ' || *s == '\t')) {
    s++;
    n--;
  }
  while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
    n--;
  for (size_t k = 0; k < ntechniques; k++)
    if (strlen(techniques[k].name) == n &&
        memcmp(techniques[k].name, s, n) == 0)
      return techniques[k].code;
  return NULL;
}

/* The short name of the technique with settings byte id, or "". */
static const char *technique_by_id(int id) {
  for (size_t k = 0; k < ntechniques; k++)
    if (techniques[k].mpr_id[0] == id || techniques[k].mpr_id[1] == id)
      return techniques[k].code;
  return "";
}

/* ======================================================================
 * The .mpr column table: ID -> name and unit as the .mpt writes them,
 * and the C type in the record
 * ====================================================================== */

typedef enum ctype { C_FLAG, C_U8, C_U16, C_U32, C_F32, C_F64 } ctype;
static const size_t ctype_size[] = {1, 1, 2, 4, 4, 8};

typedef struct mpr_col {
  unsigned id;
  const char *name; /* the quantity ("time", "Q charge/discharge") */
  const char *unit; /* the unit as EC-Lab writes it, latin-1; "" for none */
  ctype type;
  unsigned char mask; /* C_FLAG: its bits in the shared flags byte */
} mpr_col;

/* Latin-1 micro sign, as the .mpt writes it ("Cs/\xb5F"). */
#define MU "\xb5"

static const mpr_col mpr_cols[] = {
    {1, "mode", "", C_FLAG, 0x03},
    {2, "ox/red", "", C_FLAG, 0x04},
    {3, "error", "", C_FLAG, 0x08},
    {21, "control changes", "", C_FLAG, 0x10},
    {31, "Ns changes", "", C_FLAG, 0x20},
    {65, "counter inc.", "", C_FLAG, 0x80},
    {4, "time", "s", C_F64, 0},
    {5, "control", "V/mA", C_F32, 0},
    {6, "Ewe", "V", C_F32, 0},
    {7, "dq", "mA.h", C_F64, 0},
    {8, "I", "mA", C_F32, 0},
    {9, "Ece", "V", C_F32, 0},
    {11, "<I>", "mA", C_F64, 0},
    {13, "(Q-Qo)", "mA.h", C_F64, 0},
    {16, "Analog IN 1", "V", C_F32, 0},
    {17, "Analog IN 2", "V", C_F32, 0},
    {19, "control", "V", C_F32, 0},
    {20, "control", "mA", C_F32, 0},
    {23, "dQ", "mA.h", C_F64, 0},
    {24, "cycle number", "", C_F64, 0},
    {26, "Rapp", "Ohm", C_F32, 0},
    {27, "Ewe-Ece", "V", C_F32, 0},
    {32, "freq", "Hz", C_F32, 0},
    {33, "|Ewe|", "V", C_F32, 0},
    {34, "|I|", "A", C_F32, 0},
    {35, "Phase(Z)", "deg", C_F32, 0},
    {36, "|Z|", "Ohm", C_F32, 0},
    {37, "Re(Z)", "Ohm", C_F32, 0},
    {38, "-Im(Z)", "Ohm", C_F32, 0},
    {39, "I Range", "", C_U16, 0},
    {69, "R", "Ohm", C_F32, 0},
    {70, "P", "W", C_F32, 0},
    {74, "|Energy|", "W.h", C_F64, 0},
    {75, "Analog OUT", "V", C_F32, 0},
    {76, "<I>", "mA", C_F32, 0},
    {77, "<Ewe>", "V", C_F32, 0},
    {96, "|Ece|", "V", C_F32, 0},
    {98, "Phase(Zce)", "deg", C_F32, 0},
    {99, "|Zce|", "Ohm", C_F32, 0},
    {100, "Re(Zce)", "Ohm", C_F32, 0},
    {101, "-Im(Zce)", "Ohm", C_F32, 0},
    {123, "Energy charge", "W.h", C_F64, 0},
    {124, "Energy discharge", "W.h", C_F64, 0},
    {125, "Capacitance charge", MU "F", C_F64, 0},
    {126, "Capacitance discharge", MU "F", C_F64, 0},
    {131, "Ns", "", C_U16, 0},
    {163, "|Estack|", "V", C_F32, 0},
    {168, "Rcmp", "Ohm", C_F32, 0},
    {169, "Cs", MU "F", C_F32, 0},
    {172, "Cp", MU "F", C_F32, 0},
    {174, "<Ewe>", "V", C_F32, 0},
    {178, "(Q-Qo)", "C", C_F32, 0},
    {179, "dQ", "C", C_F32, 0},
    {182, "step time", "s", C_F64, 0},
    {211, "Q charge/discharge", "mA.h", C_F64, 0},
    {212, "half cycle", "", C_U32, 0},
    {213, "z cycle", "", C_U32, 0},
    {422, "Phase(Zstack)", "deg", C_F32, 0},
    {423, "|Zstack|", "Ohm", C_F32, 0},
    {424, "Re(Zstack)", "Ohm", C_F32, 0},
    {425, "-Im(Zstack)", "Ohm", C_F32, 0},
    {426, "<Estack>", "V", C_F32, 0},
    {430, "Phase(Zwe-ce)", "deg", C_F32, 0},
    {431, "|Zwe-ce|", "Ohm", C_F32, 0},
    {432, "Re(Zwe-ce)", "Ohm", C_F32, 0},
    {433, "-Im(Zwe-ce)", "Ohm", C_F32, 0},
    {434, "(Q-Qo)", "C", C_F32, 0},
    {435, "dQ", "C", C_F32, 0},
    {438, "step time", "s", C_F64, 0},
    {441, "<Ece>", "V", C_F32, 0},
    {462, "Temperature",
     "\xb0"
     "C",
     C_F32, 0},
    {467, "Q charge/discharge", "mA.h", C_F64, 0},
    {468, "half cycle", "", C_U32, 0},
    {469, "z cycle", "", C_U32, 0},
    {471, "<Ece>", "V", C_F32, 0},
    {473, "THD Ewe", "%", C_F32, 0},
    {474, "THD I", "%", C_F32, 0},
    {475, "THD Ece", "%", C_F32, 0},
    {476, "NSD Ewe", "%", C_F32, 0},
    {477, "NSD I", "%", C_F32, 0},
    {478, "NSD Ece", "%", C_F32, 0},
    {479, "NSR Ewe", "%", C_F32, 0},
    {480, "NSR I", "%", C_F32, 0},
    {481, "NSR Ece", "%", C_F32, 0},
    {505, "Rdc", "Ohm", C_F32, 0},
};
static const size_t nmpr_cols = sizeof mpr_cols / sizeof mpr_cols[0];

static const mpr_col *mpr_col_find(unsigned id) {
  for (size_t k = 0; k < nmpr_cols; k++)
    if (mpr_cols[k].id == id) return &mpr_cols[k];
  return NULL;
}

/* "name/unit", or "name" without a unit: the .mpt's column name. */
static void mpr_col_name(const mpr_col *c, char *buf, size_t len) {
  if (c->unit[0])
    snprintf(buf, len, "%s/%s", c->name, c->unit);
  else
    snprintf(buf, len, "%s", c->name);
}

/* Is s (n bytes) the .mpt name of a column of the table? */
static int mpr_col_known_name(const char *s, size_t n) {
  char buf[128];
  for (size_t k = 0; k < nmpr_cols; k++) {
    mpr_col_name(&mpr_cols[k], buf, sizeof buf);
    if (strlen(buf) == n && memcmp(buf, s, n) == 0) return 1;
  }
  return 0;
}

/* ======================================================================
 * The whole file in memory
 * ====================================================================== */

/* Read all of fp into a new buffer (*buf, *n bytes, NUL-terminated). */
static int slurp(FILE *fp, const char *path, unsigned char **buf, size_t *n,
                 nimc_err *err) {
  size_t cap = 1 << 16, len = 0;
  unsigned char *b = malloc(cap + 1);
  *buf = NULL;
  *n = 0;
  if (!b) return nimc_err_set(err, NIMC_ENOMEM, "%s: out of memory", path);
  for (;;) {
    if (len == cap) {
      if (cap > ((size_t)1 << 32)) {
        free(b);
        return nimc_err_set(err, NIMC_EDATA, "%s: larger than 4 GiB", path);
      }
      unsigned char *nb = realloc(b, 2 * cap + 1);
      if (!nb) {
        free(b);
        return nimc_err_set(err, NIMC_ENOMEM, "%s: out of memory", path);
      }
      b = nb;
      cap *= 2;
    }
    size_t got = fread(b + len, 1, cap - len, fp);
    len += got;
    if (got == 0) break;
  }
  if (ferror(fp)) {
    free(b);
    return nimc_err_set(err, NIMC_EIO, "%s: cannot read: %s", path,
                        strerror(errno));
  }
  b[len] = '\0';
  *buf = b;
  *n = len;
  return NIMC_OK;
}

/* ======================================================================
 * The .mpt text export
 * ====================================================================== */

static const char MPT_MAGIC[] = "EC-Lab ASCII FILE";

/* A cursor over the lines of a buffer. */
typedef struct cursor {
  const char *buf;
  size_t n, pos;
  long lineno; /* of the line last returned */
} cursor;

/* The next line (without its CR, LF or CRLF end) as *s, *len; 0 at the
 * end of the buffer. */
static int next_line(cursor *c, const char **s, size_t *len) {
  if (c->pos >= c->n) return 0;
  size_t a = c->pos, b = a;
  while (b < c->n && c->buf[b] != '\n' && c->buf[b] != '\r')
    b++;
  *s = c->buf + a;
  *len = b - a;
  if (b < c->n)
    b += c->buf[b] == '\r' && b + 1 < c->n && c->buf[b + 1] == '\n' ? 2 : 1;
  c->pos = b;
  c->lineno++;
  return 1;
}

/* Split line s (len bytes, copied into scratch, which holds len + 1) at
 * tabs into f (up to max fields); a last empty field after a trailing tab
 * is dropped.  Returns the number of fields (all of them, even past max). */
static size_t split_tabs(const char *s, size_t len, char *scratch, char **f,
                         size_t max) {
  memcpy(scratch, s, len);
  scratch[len] = '\0';
  size_t nf = 0;
  char *p = scratch;
  for (;;) {
    char *t = strchr(p, '\t');
    if (nf < max) f[nf] = p;
    nf++;
    if (!t) break;
    *t = '\0';
    p = t + 1;
  }
  if (nf > 1 && *p == '\0') nf--; /* p: the last field */
  return nf;
}

/* A cell as a number: blanks around it ignored, a decimal comma taken. */
static nimc_dcell mpt_number(const char *s, int *used_comma, double *out) {
  while (*s == ' ')
    s++;
  size_t n = strlen(s);
  while (n > 0 && s[n - 1] == ' ')
    n--;
  if (n == 0) return NIMC_DCELL_EMPTY;
  char buf[64];
  if (n >= sizeof buf) return NIMC_DCELL_TEXT;
  memcpy(buf, s, n);
  buf[n] = '\0';
  char *comma = strchr(buf, ',');
  if (comma) {
    if (strchr(comma + 1, ',') || strchr(buf, '.')) return NIMC_DCELL_TEXT;
    *comma = '.';
    *used_comma = 1;
  }
  char *end;
  double v = strtod(buf, &end);
  if (end == buf || *end) return NIMC_DCELL_TEXT;
  if (!isfinite(v)) return NIMC_DCELL_NONFINITE;
  *out = v;
  return NIMC_DCELL_OK;
}

/* Does any of the nf fields hold a number? */
static int any_number(char **f, size_t nf) {
  for (size_t k = 0; k < nf; k++) {
    double v;
    int uc = 0;
    nimc_dcell c = mpt_number(f[k], &uc, &v);
    if (c == NIMC_DCELL_OK || c == NIMC_DCELL_NONFINITE) return 1;
  }
  return 0;
}

/* The first line of a headerless export: tab-separated names, at least
 * two of them known to the .mpr column table (s is NUL-free, len bytes). */
static int headerless_names(const char *s, size_t len) {
  size_t known = 0, nf = 0, a = 0;
  for (size_t k = 0; k <= len; k++) {
    if (k == len || s[k] == '\t') {
      nf++;
      if (mpr_col_known_name(s + a, k - a)) known++;
      a = k + 1;
    }
  }
  return nf >= 2 && known >= 2;
}

static int mpt_detect(const unsigned char *head, size_t n) {
  size_t m = sizeof MPT_MAGIC - 1;
  if (n >= m && memcmp(head, MPT_MAGIC, m) == 0) return 10;
  size_t len = 0;
  while (len < n && head[len] != '\n' && head[len] != '\r' && head[len])
    len++;
  if (len == n && n == 4096) return 0; /* a first line longer than 4 KiB */
  return headerless_names((const char *)head, len) ? 5 : 0;
}

/* Line 2, "Nb header lines : N": N, or 0 when the line is not so. */
static long mpt_header_count(const char *s, size_t len) {
  static const char key[] = "Nb header lines";
  size_t k = sizeof key - 1;
  if (len < k || memcmp(s, key, k) != 0) return 0;
  while (k < len && s[k] == ' ')
    k++;
  if (k == len || s[k] != ':') return 0;
  k++;
  while (k < len && s[k] == ' ')
    k++;
  long v = 0;
  size_t d = k;
  while (k < len && s[k] >= '0' && s[k] <= '9' && v < 1000000)
    v = 10 * v + (s[k++] - '0');
  if (k == d) return 0;
  while (k < len && (s[k] == ' ' || s[k] == '\t'))
    k++;
  return k == len ? v : 0;
}

/* s (len bytes) shortened and made printable for a message. */
static void excerpt(const char *s, size_t len, char *out, size_t outlen) {
  size_t n = 0;
  for (size_t k = 0; k < len && n + 4 < outlen; k++) {
    unsigned char c = (unsigned char)s[k];
    out[n++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
  }
  if (n + 4 >= outlen && len > n) {
    memcpy(out + n, "...", 3);
    n += 3;
  }
  out[n] = '\0';
}

/* Working memory of the .mpt reader. */
typedef struct mptbuf {
  unsigned char *file;
  char *scratch;
  char **f;
} mptbuf;

/* The column names on line c->lineno (s, len): checked and made the table. */
static int mpt_columns(const char *path, nimc_dtable *t, mptbuf *b,
                       const char *s, size_t len, long count_line, long nhdr,
                       nimc_err *err) {
  long ln = nhdr ? nhdr : 1;
  size_t nf = split_tabs(s, len, b->scratch, b->f, NIMC_DT_MAXCOL + 1);
  char ex[64];
  excerpt(s, len, ex, sizeof ex);
  if (nf > NIMC_DT_MAXCOL)
    return nimc_err_set(err, NIMC_EDATA,
                        "%s:%ld: %zu columns, more than the %d a table may "
                        "have",
                        path, ln, nf, NIMC_DT_MAXCOL);
  if (nf < 2 || any_number(b->f, nf)) {
    if (count_line)
      return nimc_err_set(err, NIMC_EDATA,
                          "%s:%ld: line %ld should hold the tab-separated "
                          "column names (line %ld says there are %ld header "
                          "lines), but it reads '%s': is the header count "
                          "wrong?",
                          path, ln, ln, count_line, nhdr, ex);
    return nimc_err_set(err, NIMC_EDATA,
                        "%s:1: neither 'EC-Lab ASCII FILE' nor tab-separated "
                        "EC-Lab column names: '%s'",
                        path, ex);
  }
  if (nimc_dtable_init(t, path, nf, (const char *const *)b->f))
    return nimc_err_set(err, NIMC_ENOMEM, "%s: out of memory", path);
  t->header_line = ln;
  return NIMC_OK;
}

/* One data row (s, len) read at line ln. */
static int mpt_row(const char *path, nimc_dtable *t, mptbuf *b, const char *s,
                   size_t len, long ln, int *used_comma, nimc_err *err) {
  size_t nf = split_tabs(s, len, b->scratch, b->f, NIMC_DT_MAXCOL + 1);
  if (nf != t->ncol)
    return nimc_err_set(err, NIMC_EDATA,
                        "%s:%ld: %zu field%s, but the column names (line %ld) "
                        "are %zu",
                        path, ln, nf, nf == 1 ? "" : "s", t->header_line,
                        t->ncol);
  if (t->nrow >= NIMC_DT_MAXROW)
    return nimc_err_set(err, NIMC_EDATA,
                        "%s:%ld: more than %d data rows; split the file", path,
                        ln, NIMC_DT_MAXROW);
  if (nimc_dtable_add_row(t, ln))
    return nimc_err_set(err, NIMC_ENOMEM, "%s:%ld: out of memory", path, ln);
  for (size_t c = 0; c < nf; c++) {
    double v;
    nimc_dcell why = mpt_number(b->f[c], used_comma, &v);
    if (why == NIMC_DCELL_OK)
      nimc_dtable_set(t, c, v);
    else
      nimc_dtable_set_bad(t, c, why, b->f[c]);
  }
  return NIMC_OK;
}

/* The header block: line 2 ("Nb header lines : N") and lines 3 .. N - 1,
 * where the technique's long name may stand; leaves c at line N - 1. */
static int mpt_header(const char *path, cursor *c, char *technique_code,
                      size_t tlen, long *nhdr, nimc_err *err) {
  const char *s;
  size_t len;
  char ex[64];
  if (!next_line(c, &s, &len))
    return nimc_err_set(err, NIMC_EDATA,
                        "%s:2: the file ends after line 1; line 2 should say "
                        "'Nb header lines : N'",
                        path);
  long n = mpt_header_count(s, len);
  excerpt(s, len, ex, sizeof ex);
  if (n == 0)
    return nimc_err_set(err, NIMC_EDATA,
                        "%s:2: 'Nb header lines : N' expected, found '%s'",
                        path, ex);
  if (n < 3)
    return nimc_err_set(err, NIMC_EDATA,
                        "%s:2: %ld header lines, but an EC-Lab export has at "
                        "least 3 (title, count, column names)",
                        path, n);
  while (c->lineno < n - 1) {
    if (!next_line(c, &s, &len))
      return nimc_err_set(err, NIMC_EDATA,
                          "%s:2: %ld header lines, but the file ends at line "
                          "%ld",
                          path, n, c->lineno);
    const char *code = technique_code[0] ? NULL : technique_by_name(s, len);
    if (code) snprintf(technique_code, tlen, "%s", code);
  }
  *nhdr = n;
  return NIMC_OK;
}

/* The error for a NUL byte at offset at of the file: its line. */
static int mpt_nul(const char *path, const char *buf, size_t n, size_t at,
                   nimc_err *err) {
  cursor c = {buf, n, 0, 0};
  const char *s;
  size_t len;
  while (next_line(&c, &s, &len) && c.pos <= at) {
  }
  return nimc_err_set(err, NIMC_EDATA,
                      "%s:%ld: a NUL byte (byte %zu of the file): a binary or "
                      "corrupted file, not an EC-Lab text export",
                      path, c.lineno, at);
}

static int mpt_read(FILE *fp, const char *path, nimc_dtable *t, nimc_err *err) {
  memset(t, 0, sizeof *t);
  mptbuf b = {NULL, NULL, NULL};
  size_t n;
  int rc = slurp(fp, path, &b.file, &n, err);
  if (rc) return rc;
  char technique_code[sizeof t->technique] = "";
  cursor c = {(const char *)b.file, n, 0, 0};
  const char *s;
  size_t len;
  long nhdr = 0;
  int used_comma = 0;
  const unsigned char *nul = memchr(b.file, '\0', n);
  if (nul) {
    rc = mpt_nul(path, (const char *)b.file, n, (size_t)(nul - b.file), err);
    goto done;
  }
  b.scratch = malloc(n + 1);
  b.f = malloc((NIMC_DT_MAXCOL + 1) * sizeof *b.f);
  if (!b.scratch || !b.f) {
    rc = nimc_err_set(err, NIMC_ENOMEM, "%s: out of memory", path);
    goto done;
  }
  if (!next_line(&c, &s, &len)) {
    rc = nimc_err_set(err, NIMC_EDATA, "%s: the file is empty", path);
    goto done;
  }
  if (len >= sizeof MPT_MAGIC - 1 &&
      memcmp(s, MPT_MAGIC, sizeof MPT_MAGIC - 1) == 0) {
    rc =
        mpt_header(path, &c, technique_code, sizeof technique_code, &nhdr, err);
    if (rc) goto done;
    if (!next_line(&c, &s, &len)) {
      rc = nimc_err_set(err, NIMC_EDATA,
                        "%s:2: %ld header lines, but the file ends at line "
                        "%ld",
                        path, nhdr, c.lineno);
      goto done;
    }
  }
  rc = mpt_columns(path, t, &b, s, len, nhdr ? 2 : 0, nhdr, err);
  if (rc) goto done;
  while (next_line(&c, &s, &len)) {
    size_t k = 0;
    while (k < len && (s[k] == ' ' || s[k] == '\t'))
      k++;
    if (k == len) continue; /* a blank line */
    rc = mpt_row(path, t, &b, s, len, c.lineno, &used_comma, err);
    if (rc) goto done;
  }
  if (t->nrow == 0) {
    rc = nimc_err_set(err, NIMC_EDATA, "%s:%ld: column names but no data rows",
                      path, t->header_line);
    goto done;
  }
  memcpy(t->technique, technique_code, sizeof t->technique);
  snprintf(t->format, sizeof t->format, "EC-Lab text export%s%s%s%s",
           nhdr ? "" : " without header", used_comma ? ", decimal commas" : "",
           t->technique[0] ? ", " : "", t->technique);
done:
  if (rc) nimc_dtable_free(t);
  free(b.file);
  free(b.scratch);
  free(b.f);
  return rc;
}

/* ======================================================================
 * The .mpr binary file
 * ====================================================================== */

static const char MPR_MAGIC[] = "BIO-LOGIC MODULAR FILE\x1a";
enum { MPR_START = 52, MPR_MAXMOD = 64 };

static uint32_t get_u32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}
static uint16_t get_u16(const unsigned char *p) {
  return (uint16_t)(p[0] | p[1] << 8);
}

/* One module: where its data lie. */
typedef struct module {
  char name[11];    /* short name, blanks stripped */
  size_t at;        /* offset of "MODULE" */
  size_t data, len; /* its data: offset and length */
  uint32_t version;
  size_t version_at; /* offset of the version field */
} module;

/* Walk the modules from MPR_START to the end of the file. */
static int mpr_modules(const char *path, const unsigned char *f, size_t n,
                       module *mods, size_t *nmods, nimc_err *err) {
  size_t pos = MPR_START, k = 0;
  while (pos < n) {
    char ex[32];
    if (n - pos < 6 || memcmp(f + pos, "MODULE", 6) != 0) {
      excerpt((const char *)f + pos, n - pos < 8 ? n - pos : 8, ex, sizeof ex);
      return nimc_err_set(err, NIMC_EDATA,
                          "%s:%zu: 'MODULE' expected (the start of module "
                          "%zu), found '%s' (a corrupted or truncated file)",
                          path, pos, k + 1, ex);
    }
    if (k == MPR_MAXMOD)
      return nimc_err_set(err, NIMC_EDATA,
                          "%s:%zu: more than %d modules (a corrupted file?)",
                          path, pos, MPR_MAXMOD);
    const unsigned char *h = f + pos + 6;
    size_t avail = n - pos - 6, hsize = 51;
    if (avail >= 39 && get_u32(h + 35) == 0xffffffffu) hsize = 59;
    if (avail < hsize)
      return nimc_err_set(err, NIMC_EDATA,
                          "%s:%zu: the file ends inside the header of module "
                          "%zu (%zu of its %zu bytes are there)",
                          path, pos, k + 1, avail, hsize);
    module *m = &mods[k];
    memcpy(m->name, h, 10);
    m->name[10] = '\0';
    for (size_t j = 10; j > 0 && (m->name[j - 1] == ' ' || !m->name[j - 1]);
         j--)
      m->name[j - 1] = '\0';
    size_t lenat = hsize == 59 ? 39 : 35;
    m->at = pos;
    m->len = get_u32(h + lenat);
    m->version = get_u32(h + lenat + 4);
    m->version_at = pos + 6 + lenat + 4;
    m->data = pos + 6 + hsize;
    if (m->len > n - m->data) {
      excerpt(m->name, strlen(m->name), ex, sizeof ex);
      return nimc_err_set(err, NIMC_EDATA,
                          "%s:%zu: module '%s' says it holds %zu bytes from "
                          "byte %zu, but the file ends %zu bytes after it "
                          "(truncated?)",
                          path, pos + 6 + lenat, ex, m->len, m->data,
                          n - m->data);
    }
    pos = m->data + m->len;
    k++;
  }
  *nmods = k;
  return NIMC_OK;
}

/* The layout of the data module: where the IDs and the records start. */
typedef struct layout {
  size_t ncol, npts;
  size_t ids;     /* offset of the column-ID list */
  int id_width;   /* 1, 2 (little-endian) or -2 (big-endian) */
  size_t records; /* offset of the first record */
} layout;

static int mpr_layout(const char *path, const unsigned char *f, const module *m,
                      layout *L, nimc_err *err) {
  if (m->len < 6)
    return nimc_err_set(err, NIMC_EDATA,
                        "%s:%zu: the data module holds %zu bytes, too few for "
                        "its point and column counts",
                        path, m->data, m->len);
  const unsigned char *d = f + m->data;
  L->npts = get_u32(d);
  L->ncol = d[4];
  L->ids = m->data + 5;
  size_t start;
  switch (m->version) {
  case 2:
  case 3:
    L->id_width = 2;
    start = m->version == 3 ? 0x196 : 0x195;
    break;
  case 0:
    if (d[5]) {
      L->id_width = 1;
      start = 100;
    } else {
      L->id_width = -2;
      start = 0x3ef;
    }
    break;
  default:
    return nimc_err_set(err, NIMC_EDATA,
                        "%s:%zu: data module version %u; nimc reads versions "
                        "0, 2 and 3",
                        path, m->version_at, (unsigned)m->version);
  }
  size_t w = L->id_width < 0 ? 2 : (size_t)L->id_width;
  if (L->ncol == 0)
    return nimc_err_set(err, NIMC_EDATA,
                        "%s:%zu: the data module has no columns", path,
                        m->data + 4);
  if (5 + w * L->ncol > start || start > m->len)
    return nimc_err_set(err, NIMC_EDATA,
                        "%s:%zu: %zu column IDs and a data module of %zu bytes "
                        "leave no room for the records, which start at byte "
                        "%zu of the module (a corrupted file?)",
                        path, m->data + 4, L->ncol, m->len, start);
  L->records = m->data + start;
  if (L->npts == 0)
    return nimc_err_set(err, NIMC_EDATA,
                        "%s:%zu: the data module holds no points", path,
                        m->data);
  return NIMC_OK;
}

/* The ID of column k of the list. */
static unsigned mpr_id(const unsigned char *f, const layout *L, size_t k) {
  const unsigned char *p = f + L->ids;
  if (L->id_width == 1) return p[k];
  if (L->id_width == 2) return get_u16(p + 2 * k);
  return (unsigned)(p[2 * k] << 8 | p[2 * k + 1]);
}

/* The columns of the table, in the order of the IDs; each with its offset
 * in the record. */
typedef struct outcol {
  const mpr_col *c;
  size_t off;
} outcol;

static int mpr_columns(const char *path, const unsigned char *f,
                       const layout *L, outcol *oc, size_t *recsize,
                       nimc_err *err) {
  size_t off = 0, flags_off = SIZE_MAX;
  size_t w = L->id_width < 0 ? 2 : (size_t)L->id_width;
  for (size_t k = 0; k < L->ncol; k++) {
    unsigned id = mpr_id(f, L, k);
    const mpr_col *c = mpr_col_find(id);
    if (!c)
      return nimc_err_set(err, NIMC_EDATA,
                          "%s:%zu: unknown column ID %u (entry %zu of the %zu "
                          "column IDs listed from byte %zu); its size, and so "
                          "every column after it, is unknown: add it to "
                          "mpr_cols in src/io/read_biologic.c",
                          path, L->ids + w * k, id, k + 1, L->ncol, L->ids);
    oc[k].c = c;
    if (c->type == C_FLAG) {
      if (flags_off == SIZE_MAX) {
        flags_off = off;
        off += 1;
      }
      oc[k].off = flags_off;
    } else {
      oc[k].off = off;
      off += ctype_size[c->type];
    }
  }
  *recsize = off;
  return NIMC_OK;
}

/* The value of column oc in the record at p. */
static double mpr_value(const outcol *oc, const unsigned char *p) {
  p += oc->off;
  switch (oc->c->type) {
  case C_FLAG: {
    unsigned m = oc->c->mask, v = *p & m;
    while (m && !(m & 1u)) {
      m >>= 1;
      v >>= 1;
    }
    return v;
  }
  case C_U8:
    return *p;
  case C_U16:
    return get_u16(p);
  case C_U32:
    return get_u32(p);
  case C_F32: {
    uint32_t u = get_u32(p);
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
  }
  case C_F64: {
    uint64_t u = (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
    double x;
    memcpy(&x, &u, sizeof x);
    return x;
  }
  }
  return NAN;
}

static int mpr_detect(const unsigned char *head, size_t n) {
  size_t m = sizeof MPR_MAGIC - 1;
  return n >= m && memcmp(head, MPR_MAGIC, m) == 0 ? 10 : 0;
}

/* Fill t from the data module's records. */
static int mpr_table(const char *path, const unsigned char *f, const module *m,
                     const layout *L, nimc_dtable *t, nimc_err *err) {
  outcol oc[256];
  size_t recsize = 1;
  int rc = mpr_columns(path, f, L, oc, &recsize, err);
  if (rc) return rc;
  size_t room = m->data + m->len - L->records;
  if (L->npts > room / recsize)
    return nimc_err_set(err, NIMC_EDATA,
                        "%s:%zu: %zu points of %zu bytes need %zu bytes from "
                        "byte %zu, but the data module ends %zu bytes after "
                        "it (truncated or corrupted)",
                        path, m->data, L->npts, recsize,
                        L->npts <= SIZE_MAX / recsize ? L->npts * recsize : 0,
                        L->records, room);
  if (L->npts > NIMC_DT_MAXROW)
    return nimc_err_set(err, NIMC_EDATA, "%s:%zu: more than %d points", path,
                        m->data, NIMC_DT_MAXROW);
  char names[256][128];
  const char *np[256];
  for (size_t k = 0; k < L->ncol; k++) {
    mpr_col_name(oc[k].c, names[k], sizeof names[k]);
    np[k] = names[k];
  }
  if (nimc_dtable_init(t, path, L->ncol, np))
    return nimc_err_set(err, NIMC_ENOMEM, "%s: out of memory", path);
  t->header_line = (long)L->ids;
  for (size_t i = 0; i < L->npts; i++) {
    size_t at = L->records + i * recsize;
    if (nimc_dtable_add_row(t, (long)at))
      return nimc_err_set(err, NIMC_ENOMEM, "%s: out of memory", path);
    for (size_t k = 0; k < L->ncol; k++) {
      double v = mpr_value(&oc[k], f + at);
      if (isfinite(v)) {
        nimc_dtable_set(t, k, v);
      } else {
        char txt[32];
        snprintf(txt, sizeof txt, "%g (byte %zu)", v, at + oc[k].off);
        nimc_dtable_set_bad(t, k, NIMC_DCELL_NONFINITE, txt);
      }
    }
  }
  return NIMC_OK;
}

static int mpr_read(FILE *fp, const char *path, nimc_dtable *t, nimc_err *err) {
  memset(t, 0, sizeof *t);
  unsigned char *f;
  size_t n;
  int rc = slurp(fp, path, &f, &n, err);
  if (rc) return rc;
  module mods[MPR_MAXMOD];
  size_t nmods = 0;
  const module *data = NULL, *set = NULL;
  layout L;
  if (n < MPR_START || memcmp(f, MPR_MAGIC, sizeof MPR_MAGIC - 1) != 0) {
    rc = nimc_err_set(err, NIMC_EDATA,
                      "%s:0: not an EC-Lab .mpr file (no 'BIO-LOGIC MODULAR "
                      "FILE' signature of %d bytes)",
                      path, MPR_START);
    goto done;
  }
  rc = mpr_modules(path, f, n, mods, &nmods, err);
  if (rc) goto done;
  for (size_t k = 0; k < nmods; k++) {
    if (strcmp(mods[k].name, "VMP data") == 0) {
      if (data) {
        rc = nimc_err_set(err, NIMC_EDATA,
                          "%s:%zu: a second data module (the first is at byte "
                          "%zu)",
                          path, mods[k].at, data->at);
        goto done;
      }
      data = &mods[k];
    }
    if (strcmp(mods[k].name, "VMP Set") == 0 && !set) set = &mods[k];
  }
  if (!data) {
    rc = nimc_err_set(err, NIMC_EDATA,
                      "%s:%zu: no 'VMP data' module among the %zu modules",
                      path, n, nmods);
    goto done;
  }
  rc = mpr_layout(path, f, data, &L, err);
  if (!rc) rc = mpr_table(path, f, data, &L, t, err);
  if (rc) goto done;
  t->binary = 1;
  if (set && set->len > 0)
    snprintf(t->technique, sizeof t->technique, "%s",
             technique_by_id(f[set->data]));
  snprintf(t->format, sizeof t->format,
           "EC-Lab binary, data module version %u%s%s",
           (unsigned)data->version, t->technique[0] ? ", " : "", t->technique);
done:
  if (rc) nimc_dtable_free(t);
  free(f);
  return rc;
}

/* ======================================================================
 * The rows of the reader table
 * ====================================================================== */

const nimc_reader nimc_reader_mpt = {
    "mpt", "BioLogic EC-Lab text export (.mpt), with or without its header",
    mpt_detect, mpt_read};

const nimc_reader nimc_reader_mpr = {
    "mpr", "BioLogic EC-Lab binary file (.mpr)", mpr_detect, mpr_read};
