/*
 * spectrum_read.c -- impedance spectra from measured data files.
 *
 * Three layers, so that a new instrument format is one reader and one row:
 *
 *  1. The table of readers (readers[] below).  Each reader is a name, a
 *     detect() that scores the first bytes of a file, and a read() that
 *     turns the file into a table of named columns (nimc_dtable,
 *     io/datafile.h).  "auto" picks the reader with the highest score; a
 *     name picks that reader.  "csv" accepts any text table and scores 1,
 *     the last resort; readers of formats with a signature score higher
 *     and win: BioLogic's "EC-Lab ASCII FILE" text export ("mpt") and
 *     "BIO-LOGIC MODULAR FILE" binary ("mpr"), in io/read_biologic.c;
 *     Gamry's "EXPLAIN", ZPlot's "ZPLOT2 ASCII", CH Instruments'
 *     "Instrument Model:  CHI...", Autolab's "Z60W Data File", in
 *     io/read_text_eis.c.  A format may fix the sign of its imaginary
 *     column (nimc_dtable.im_sign); a leading minus in the column's name
 *     still says more.
 *  2. The csv reader: delimiters ',', ';', tab or blanks (detected from the
 *     first lines), '#' comment lines, blank lines, CR / LF / CRLF line
 *     ends, a UTF-8 byte order mark, decimal commas when the delimiter is
 *     ';' or tab, an optional header row.  Lines are read through a small
 *     buffer by hand, not with fgets or getline, so that a line end of any
 *     kind, a NUL byte or an overlong line is seen and reported by line
 *     number, and nothing is ever read past what was read.
 *  3. The spectrum from the table, the same for every format: the columns
 *     of frequency, Re Z and Im Z found by their names ("freq (kHz)",
 *     "Z' [kOhm]", "-Z'' (Ohm)", "Re(Z)/Ohm", nimc's own "frequency_Hz,
 *     z_re_ohm, z_im_ohm") or, without a header, as the first three numeric
 *     columns; units converted to SI with udunits2 (io/units.c; a unit
 *     with an offset, "ohm @ 5", is not a factor and refused); the sign of
 *     the imaginary column from the header ("-Z''", "-Im(Z)") or else from
 *     the data (a column that is mostly positive holds -Im Z, because
 *     electrochemical spectra are capacitive); the frequencies checked
 *     (positive, no repeats, one direction).  A sentence for the user says
 *     what was read as what and why.
 *
 * A plain header name such as "Im(Z)" or "Z''" does not count as saying
 * the sign: files label -Im Z so (the Maxwell coin-cell file of the test
 * data has "Im(Z)" over positive, capacitive values).  Only a leading minus
 * says -Im Z, and only nimc's own "z_im_ohm" or a format that fixes the
 * sign (Gamry's Zimag, ZPlot's Z''(b), CH Instruments' Z") says Im Z.
 *
 * Every error names the file and the line (and the column where it
 * matters): "data.csv:14: frequency 3.2 Hz breaks the decreasing order of
 * lines 2-13".  Nothing here prints.
 */
#define _POSIX_C_SOURCE 200809L

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/params.h"
#include "io/colname.h"
#include "io/datafile.h"
#include "io/units.h"

static const double TWO_PI = 6.283185307179586476925286766559;

/* ======================================================================
 * The table of named columns
 * ====================================================================== */

int nimc_dtable_init(nimc_dtable *t, const char *path, size_t ncol,
                     const char *const *names) {
  memset(t, 0, sizeof *t);
  t->path = path;
  if (ncol == 0 || ncol > NIMC_DT_MAXCOL) return NIMC_EINPUT;
  t->col = calloc(ncol, sizeof *t->col);
  if (!t->col) return NIMC_ENOMEM;
  t->ncol = ncol;
  for (size_t c = 0; c < ncol; c++)
    if (names && names[c])
      snprintf(t->col[c].name, sizeof t->col[c].name, "%s", names[c]);
  return NIMC_OK;
}

int nimc_dtable_add_row(nimc_dtable *t, long line) {
  if (t->nrow == t->cap) {
    size_t cap = t->cap ? 2 * t->cap : 256;
    long *nl = realloc(t->line, cap * sizeof *nl);
    if (!nl) return NIMC_ENOMEM;
    t->line = nl;
    for (size_t c = 0; c < t->ncol; c++) {
      double *nv = realloc(t->col[c].v, cap * sizeof *nv);
      if (!nv) return NIMC_ENOMEM;
      t->col[c].v = nv;
    }
    t->cap = cap;
  }
  t->line[t->nrow] = line;
  for (size_t c = 0; c < t->ncol; c++)
    t->col[c].v[t->nrow] = NAN;
  t->nrow++;
  return NIMC_OK;
}

void nimc_dtable_set(nimc_dtable *t, size_t col, double v) {
  t->col[col].v[t->nrow - 1] = v;
}

void nimc_dtable_set_bad(nimc_dtable *t, size_t col, nimc_dcell why,
                         const char *text) {
  nimc_dcol *c = &t->col[col];
  c->v[t->nrow - 1] = NAN;
  if (c->nbad++ == 0) {
    c->bad_row = t->nrow - 1;
    c->bad_kind = why;
    nimc_printable(c->bad_text, sizeof c->bad_text, text ? text : "");
  }
}

void nimc_dtable_free(nimc_dtable *t) {
  if (!t) return;
  for (size_t c = 0; c < t->ncol; c++)
    free(t->col[c].v);
  free(t->col);
  free(t->line);
  memset(t, 0, sizeof *t);
}

/* ======================================================================
 * Lines of a text file
 * ====================================================================== */

typedef enum lr_status {
  LR_LINE = 1,  /* a line was read */
  LR_EOF = 0,   /* nothing left */
  LR_LONG = -1, /* the line is longer than NIMC_DT_MAXLINE */
  LR_NUL = -2,  /* the line holds a NUL byte */
  LR_IOERR = -3
} lr_status;

typedef struct lines {
  FILE *fp;
  unsigned char buf[8192];
  size_t pos, len;
  int eof;
  long lineno; /* of the line last returned */
} lines;

/* Next byte of the file, or -1 at its end (or on a read error). */
static int lr_byte(lines *lr) {
  if (lr->pos == lr->len) {
    if (lr->eof) return -1;
    lr->len = fread(lr->buf, 1, sizeof lr->buf, lr->fp);
    lr->pos = 0;
    if (lr->len == 0) {
      lr->eof = 1;
      return -1;
    }
  }
  return lr->buf[lr->pos++];
}

/* The next line without its end (CR, LF or CRLF) into out, which holds
 * NIMC_DT_MAXLINE + 1 bytes; *nulcol is the 1-based byte of the first NUL
 * for LR_NUL. */
static lr_status lr_next(lines *lr, char *out, size_t *len, size_t *nulcol) {
  size_t n = 0;
  int c, any = 0;
  *nulcol = 0;
  while ((c = lr_byte(lr)) >= 0) {
    any = 1;
    if (c == '\n') break;
    if (c == '\r') {
      int d = lr_byte(lr);
      if (d >= 0 && d != '\n') lr->pos--; /* d is still in the buffer */
      break;
    }
    if (n == NIMC_DT_MAXLINE) {
      lr->lineno++;
      return LR_LONG;
    }
    if (c == 0 && !*nulcol) *nulcol = n + 1;
    out[n++] = (char)c;
  }
  if (!any) return ferror(lr->fp) ? LR_IOERR : LR_EOF;
  lr->lineno++;
  out[n] = '\0';
  *len = n;
  return *nulcol ? LR_NUL : LR_LINE;
}

/* Turn a bad lr_status into an error naming the file and line. */
static int lr_error(const lines *lr, lr_status st, const char *path,
                    const char *line, size_t nulcol, nimc_err *err) {
  const unsigned char *u = (const unsigned char *)line;
  switch (st) {
  case LR_LONG:
    return nimc_err_set(err, NIMC_EDATA,
                        "%s:%ld: the line is longer than %d KiB (not a text "
                        "table?)",
                        path, lr->lineno, NIMC_DT_MAXLINE / 1024);
  case LR_NUL:
    if (lr->lineno == 1 &&
        ((u[0] == 0xff && u[1] == 0xfe) || (u[0] == 0xfe && u[1] == 0xff)))
      return nimc_err_set(err, NIMC_EDATA,
                          "%s:1: the file is UTF-16 text; save it as UTF-8 "
                          "or ASCII",
                          path);
    return nimc_err_set(err, NIMC_EDATA,
                        "%s:%ld: a NUL byte at column %zu: a binary or "
                        "corrupted file, not a text table",
                        path, lr->lineno, nulcol);
  case LR_IOERR:
    return nimc_err_set(err, NIMC_EIO, "%s: cannot read: %s", path,
                        strerror(errno));
  default:
    return nimc_err_set(err, NIMC_EMISUSE, "%s: line reader status %d", path,
                        (int)st);
  }
}

/* ======================================================================
 * The csv reader
 * ====================================================================== */

static int is_comment_line(const char *s) {
  while (*s == ' ' || *s == '\t')
    s++;
  return *s == '#';
}

/* Split s in place at delim (0: runs of blanks; 2: tabs or runs of two or
 * more spaces), honouring double quotes.  Up to max fields go into f,
 * cleaned (see clean); the return value counts all of them. */
static size_t split(char *s, int delim, char **f, size_t max) {
  size_t n = 0;
  char *p = s;
  if (delim == 0 || delim == 2) {
    while (*p == ' ' || *p == '\t')
      p++;
    if (!*p) return 0;
  }
  for (;;) {
    char *start = p;
    int inq = 0;
    while (*p) {
      if (*p == '"') {
        inq = !inq;
      } else if (!inq) {
        if (delim == 0 && (*p == ' ' || *p == '\t')) break;
        if (delim == 2 && (*p == '\t' || (p[0] == ' ' && p[1] == ' '))) break;
        if (delim != 0 && delim != 2 && *p == delim) break;
      }
      p++;
    }
    if (n < max) f[n] = start;
    n++;
    if (!*p) break;
    *p++ = '\0';
    if (delim == 0 || delim == 2) {
      while (*p == ' ' || *p == '\t')
        p++;
      if (!*p) break;
    }
  }
  for (size_t k = 0; k < n && k < max; k++)
    f[k] = nimc_unquote(f[k]);
  return n;
}

/* Parse all of s (already cleaned) as a number; a decimal comma is taken
 * when dcomma is set (exactly one comma and no point). */
static nimc_dcell parse_number(const char *s, int dcomma, int *used_comma,
                               double *out) {
  if (!*s) return NIMC_DCELL_EMPTY;
  char buf[128];
  const char *comma = strchr(s, ',');
  if (comma) {
    if (!dcomma || strchr(comma + 1, ',') || strchr(s, '.') ||
        strlen(s) >= sizeof buf)
      return NIMC_DCELL_TEXT;
    memcpy(buf, s, strlen(s) + 1);
    buf[comma - s] = '.';
    s = buf;
    *used_comma = 1;
  }
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (end == s || *end) return NIMC_DCELL_TEXT;
  if (!isfinite(v)) return NIMC_DCELL_NONFINITE;
  *out = v;
  return NIMC_DCELL_OK;
}

/* Does the line (split into fields) hold at least one number?  A header
 * holds none. */
static int has_number(char **f, size_t nf, int dcomma) {
  for (size_t k = 0; k < nf; k++) {
    double v;
    int uc = 0;
    nimc_dcell c = parse_number(f[k], dcomma, &uc, &v);
    if (c == NIMC_DCELL_OK || c == NIMC_DCELL_NONFINITE) return 1;
  }
  return 0;
}

/* Number of fields up to the last non-empty one. */
static size_t nonempty_count(char **f, size_t nf) {
  while (nf > 0 && !*f[nf - 1])
    nf--;
  return nf;
}

/* Count tabs, semicolons and commas outside double quotes. */
static void count_delims(const char *s, size_t cnt[3]) {
  int inq = 0;
  cnt[0] = cnt[1] = cnt[2] = 0;
  for (; *s; s++) {
    if (*s == '"') inq = !inq;
    if (inq) continue;
    if (*s == '\t') cnt[0]++;
    if (*s == ';') cnt[1]++;
    if (*s == ',') cnt[2]++;
  }
}

/* Which delimiter, from up to 64 content lines at the start of the file:
 * the first of tab, ';', ',' present on more than half of them; blanks when
 * none is.  Leaves fp at its start. */
static int csv_delimiter(lines *lr, char *line, const char *path, int *delim,
                         nimc_err *err) {
  static const int cand[3] = {'\t', ';', ','};
  size_t present[3] = {0, 0, 0}, content = 0, len, nulcol;
  lr_status st;
  while (content < 64 && (st = lr_next(lr, line, &len, &nulcol)) != LR_EOF) {
    if (st != LR_LINE) return lr_error(lr, st, path, line, nulcol, err);
    if (nimc_is_blank(line) || is_comment_line(line)) continue;
    size_t cnt[3];
    count_delims(line, cnt);
    for (int k = 0; k < 3; k++)
      if (cnt[k] > 0) present[k]++;
    content++;
  }
  *delim = 0;
  for (int k = 0; k < 3; k++)
    if (2 * present[k] > content) {
      *delim = cand[k];
      break;
    }
  if (fseek(lr->fp, 0, SEEK_SET) != 0)
    return nimc_err_set(err, NIMC_EIO, "%s: cannot rewind: %s", path,
                        strerror(errno));
  clearerr(lr->fp);
  lr->pos = lr->len = 0;
  lr->eof = 0;
  lr->lineno = 0;
  return NIMC_OK;
}

/* Score any text as a table, the last resort. */
static int csv_detect(const unsigned char *head, size_t n) {
  (void)head;
  (void)n;
  return 1;
}

/* Working memory of the csv reader. */
typedef struct csvbuf {
  char *line; /* the current line */
  char *cur;  /* a copy of it before it is split */
  char *hdr;  /* the last header candidate: a line without numbers */
  char *chdr; /* the last comment line before the data */
  char *tmp;  /* scratch for splitting the header twice */
  char **f;   /* fields of a line */
  char **hf;  /* fields of the header */
} csvbuf;

static void csvbuf_free(csvbuf *b) {
  free(b->line);
  free(b->cur);
  free(b->hdr);
  free(b->chdr);
  free(b->tmp);
  free(b->f);
  free(b->hf);
}

static int csvbuf_alloc(csvbuf *b) {
  memset(b, 0, sizeof *b);
  b->line = malloc(NIMC_DT_MAXLINE + 1);
  b->cur = malloc(NIMC_DT_MAXLINE + 1);
  b->hdr = malloc(NIMC_DT_MAXLINE + 1);
  b->chdr = malloc(NIMC_DT_MAXLINE + 1);
  b->tmp = malloc(NIMC_DT_MAXLINE + 1);
  b->f = malloc((NIMC_DT_MAXCOL + 1) * sizeof *b->f);
  b->hf = malloc((NIMC_DT_MAXCOL + 1) * sizeof *b->hf);
  return b->line && b->cur && b->hdr && b->chdr && b->tmp && b->f && b->hf
             ? NIMC_OK
             : NIMC_ENOMEM;
}

/* At most the number of field slots of a split. */
static size_t stored(size_t nf) {
  return nf < NIMC_DT_MAXCOL + 1 ? nf : NIMC_DT_MAXCOL + 1;
}

/* The header for a table whose first data row has nf fields: the last line
 * without numbers before the data (a title above it is passed over), else
 * the last comment line before the data when its fields match the data in
 * number and hold no numbers ("# freq, re, im", as numpy writes).  Splits
 * it into hf and returns the number of names (0: no header).  A
 * blank-separated header whose count does not match the data is split
 * again at tabs and runs of two or more spaces, so that a name may hold a
 * single space ("freq (kHz)"). */
static size_t csv_header(csvbuf *b, int delim, int dcomma, long hdr_line,
                         long chdr_line, size_t nf) {
  if (hdr_line) {
    size_t len = strlen(b->hdr);
    memcpy(b->tmp, b->hdr, len + 1);
    size_t n = split(b->hdr, delim, b->hf, NIMC_DT_MAXCOL + 1);
    if (delim == 0 && n != nf) {
      memcpy(b->hdr, b->tmp, len + 1);
      size_t n2 = split(b->hdr, 2, b->hf, NIMC_DT_MAXCOL + 1);
      if (n2 == nf) return n2;
      memcpy(b->hdr, b->tmp, len + 1);
      n = split(b->hdr, delim, b->hf, NIMC_DT_MAXCOL + 1);
    }
    return n;
  }
  if (chdr_line) {
    char *s = b->chdr;
    while (*s == ' ' || *s == '\t')
      s++;
    s++; /* the '#' */
    size_t n = split(s, delim, b->hf, NIMC_DT_MAXCOL + 1);
    if (n == nf && !has_number(b->hf, stored(n), dcomma)) return n;
  }
  return 0;
}

/* Start the table from the header (nh names, found on line hline) or from
 * the first data row (nf fields). */
static int csv_start(nimc_dtable *t, const char *path, csvbuf *b, size_t nh,
                     long hline, size_t nf, long lineno, nimc_err *err) {
  size_t n = nh ? nh : nf;
  size_t ncol =
      n > NIMC_DT_MAXCOL + 1 ? n : nonempty_count(nh ? b->hf : b->f, stored(n));
  if (ncol == 0) ncol = 1;
  if (ncol > NIMC_DT_MAXCOL)
    return nimc_err_set(err, NIMC_EDATA,
                        "%s:%ld: %zu columns, more than the %d a table may "
                        "have",
                        path, nh ? hline : lineno, ncol, NIMC_DT_MAXCOL);
  const char *names[NIMC_DT_MAXCOL];
  for (size_t c = 0; c < ncol; c++)
    names[c] = nh ? b->hf[c] : NULL;
  if (nimc_dtable_init(t, path, ncol, nh ? names : NULL))
    return nimc_err_set(err, NIMC_ENOMEM, "%s: out of memory", path);
  t->header_line = nh ? hline : 0;
  return NIMC_OK;
}

/* Store one data row (nf fields in f) read at line lineno. */
static int csv_row(nimc_dtable *t, const char *path, char **f, size_t nf,
                   long lineno, int dcomma, int *used_comma, nimc_err *err) {
  size_t ne = nf > NIMC_DT_MAXCOL + 1 ? nf : nonempty_count(f, nf);
  if (nf < t->ncol || ne > t->ncol) {
    size_t shown = nf < t->ncol ? nf : ne;
    if (t->header_line)
      return nimc_err_set(err, NIMC_EDATA,
                          "%s:%ld: %zu field%s, but the header (line %ld) "
                          "has %zu",
                          path, lineno, shown, shown == 1 ? "" : "s",
                          t->header_line, t->ncol);
    return nimc_err_set(err, NIMC_EDATA,
                        "%s:%ld: %zu field%s, but the first row (line %ld) "
                        "has %zu",
                        path, lineno, shown, shown == 1 ? "" : "s",
                        t->nrow ? t->line[0] : lineno, t->ncol);
  }
  if (t->nrow >= NIMC_DT_MAXROW)
    return nimc_err_set(err, NIMC_EDATA,
                        "%s:%ld: more than %d data rows; split the file", path,
                        lineno, NIMC_DT_MAXROW);
  if (nimc_dtable_add_row(t, lineno))
    return nimc_err_set(err, NIMC_ENOMEM, "%s:%ld: out of memory", path,
                        lineno);
  for (size_t c = 0; c < t->ncol; c++) {
    const char *s = f[c];
    double v;
    nimc_dcell why = parse_number(s, dcomma, used_comma, &v);
    if (why == NIMC_DCELL_OK)
      nimc_dtable_set(t, c, v);
    else
      nimc_dtable_set_bad(t, c, why, s);
  }
  return NIMC_OK;
}

/* The error for a file that ended before its first data row. */
static int csv_no_data(const char *path, long hdr_line, long nlines,
                       nimc_err *err) {
  if (hdr_line)
    return nimc_err_set(err, NIMC_EDATA, "%s:%ld: a header but no data rows",
                        path, hdr_line);
  if (nlines == 0)
    return nimc_err_set(err, NIMC_EDATA, "%s: the file is empty", path);
  return nimc_err_set(err, NIMC_EDATA,
                      "%s: no data rows in %ld line%s (only blank or comment "
                      "lines)",
                      path, nlines, nlines == 1 ? "" : "s");
}

/* Read a text table into t (see the essay). */
static int csv_read(FILE *fp, const char *path, nimc_dtable *t, nimc_err *err) {
  memset(t, 0, sizeof *t);
  lines *lr = calloc(1, sizeof *lr);
  csvbuf b;
  int rc = csvbuf_alloc(&b);
  if (rc || !lr) {
    rc = nimc_err_set(err, NIMC_ENOMEM, "%s: out of memory", path);
    goto done;
  }
  lr->fp = fp;
  int delim = 0;
  rc = csv_delimiter(lr, b.line, path, &delim, err);
  if (rc) goto done;
  int dcomma = delim == ';' || delim == '\t', used_comma = 0, started = 0;
  long hdr_line = 0, chdr_line = 0;
  size_t len, nulcol;
  lr_status st;
  while ((st = lr_next(lr, b.line, &len, &nulcol)) != LR_EOF) {
    if (st != LR_LINE) {
      rc = lr_error(lr, st, path, b.line, nulcol, err);
      goto done;
    }
    char *s = b.line;
    if (lr->lineno == 1 && (unsigned char)s[0] == 0xef &&
        (unsigned char)s[1] == 0xbb && (unsigned char)s[2] == 0xbf)
      s += 3; /* a UTF-8 byte order mark */
    if (nimc_is_blank(s)) continue;
    if (is_comment_line(s)) {
      if (!started) {
        memmove(b.chdr, s, strlen(s) + 1);
        chdr_line = lr->lineno;
      }
      continue;
    }
    if (!started) memcpy(b.cur, s, strlen(s) + 1);
    size_t nf = split(s, delim, b.f, NIMC_DT_MAXCOL + 1);
    if (!started) {
      if (!has_number(b.f, stored(nf), dcomma)) {
        /* a header, or a title above it: the last one before the data
         * counts */
        char *swap = b.hdr;
        b.hdr = b.cur;
        b.cur = swap;
        hdr_line = lr->lineno;
        chdr_line = 0;
        continue;
      }
      size_t nh = csv_header(&b, delim, dcomma, hdr_line, chdr_line, nf);
      rc = csv_start(t, path, &b, nh, hdr_line ? hdr_line : chdr_line, nf,
                     lr->lineno, err);
      if (rc) goto done;
      started = 1;
    }
    rc = csv_row(t, path, b.f, nf, lr->lineno, dcomma, &used_comma, err);
    if (rc) goto done;
  }
  if (!started) {
    rc = csv_no_data(path, hdr_line, lr->lineno, err);
    goto done;
  }
  snprintf(t->format, sizeof t->format, "%s%s",
           delim == ','    ? "comma-separated"
           : delim == ';'  ? "';'-separated"
           : delim == '\t' ? "tab-separated"
                           : "blank-separated",
           used_comma ? ", decimal commas" : "");
done:
  if (rc) nimc_dtable_free(t);
  csvbuf_free(&b);
  free(lr);
  return rc;
}

int nimc_csv_read(FILE *fp, const char *path, nimc_dtable *t, nimc_err *err) {
  return csv_read(fp, path, t, err);
}

/* ======================================================================
 * The table of readers
 * ====================================================================== */

static const nimc_reader csv_reader = {
    "csv",
    "text table: comma, semicolon, tab or blank separated, optional header "
    "with units",
    csv_detect, csv_read};
static const nimc_reader gamry_reader = {
    "gamry", "Gamry .DTA (its ZCURVE table)", nimc_gamry_detect,
    nimc_gamry_read};
static const nimc_reader chi_reader = {
    "chi", "CH Instruments text export (A.C. Impedance)", nimc_chi_detect,
    nimc_chi_read};
static const nimc_reader zplot_reader = {
    "zplot", "ZPlot .z (ZPlot 2 \"ZPLOT2 ASCII\" and ZPlotW text)",
    nimc_zplot_detect, nimc_zplot_read};
static const nimc_reader autolab_reader = {
    "autolab", "Autolab text export (Z60W for ZView, or Nova's ASCII)",
    nimc_autolab_detect, nimc_autolab_read};

/* The csv row first: it is the last resort, and the first name listed. */
static const nimc_reader *const readers[] = {
    &csv_reader,
    &nimc_reader_mpt, /* io/read_biologic.c */
    &nimc_reader_mpr,
    &gamry_reader, /* io/read_text_eis.c */
    &chi_reader,
    &zplot_reader,
    &autolab_reader,
};
static const size_t nreaders = sizeof readers / sizeof readers[0];

size_t nimc_reader_count(void) {
  return nreaders;
}

const nimc_reader *nimc_reader_at(size_t i) {
  return i < nreaders ? readers[i] : NULL;
}

/* "csv, ..." : the names of the readers, for messages. */
static void reader_names(char *buf, size_t len) {
  size_t pos = 0;
  buf[0] = '\0';
  for (size_t k = 0; k < nreaders && pos < len; k++) {
    int w =
        snprintf(buf + pos, len - pos, "%s%s", k ? ", " : "", readers[k]->name);
    if (w < 0) break;
    pos += (size_t)w;
  }
}

/* ======================================================================
 * From the table to the spectrum
 * ====================================================================== */

/* What t's line numbers count: "line", or "byte" for a binary file. */
static const char *where(const nimc_dtable *t) {
  return t->binary ? "byte" : "line";
}

enum { ROLE_NONE = 0, ROLE_F, ROLE_RE, ROLE_IM, NROLES };
static const char *const role_words[NROLES] = {"", "frequency", "Re Z", "Im Z"};

/* Header names (as keys: see name_key) that identify a column. */
static const char *const keys_f[] = {"f", "freq", "frequency", NULL};
static const char *const keys_re[] = {"re",  "real",  "z'", "zre", "zreal",
                                      "rez", "realz", "zr", NULL};
static const char *const keys_im[] = {"im",  "imag",       "imaginary", "z''",
                                      "zim", "zimag",      "imz",       "imagz",
                                      "zi",  "zimaginary", NULL};

/* The kind of a unit: what it converts to. */
typedef enum ukind {
  UNIT_UNKNOWN = 0,
  UNIT_FREQ,     /* Hz */
  UNIT_OHM,      /* ohm */
  UNIT_AREA_OHM, /* ohm m2: area-specific */
  UNIT_LEN_OHM   /* ohm m: resistivity */
} ukind;

/* What a header name says about its column. */
typedef struct hname {
  int role;      /* ROLE_* */
  int neg;       /* a leading minus: the column holds minus the quantity */
  int nimc_im;   /* nimc's own "z_im_ohm": Im Z itself */
  char unit[64]; /* the unit as written ("" when none) */
  char su[80];   /* the unit as udunits reads it */
  ukind kind;
} hname;

/* Append src to dst (len bytes) at *n. */
static void put(char *dst, size_t len, size_t *n, const char *src) {
  for (; *src && *n + 1 < len; src++)
    dst[(*n)++] = *src;
  dst[*n] = '\0';
}

static int in_list(const char *key, const char *const *list) {
  for (; *list; list++)
    if (strcmp(key, *list) == 0) return 1;
  return 0;
}

static int role_of(const char *name) {
  char key[128];
  nimc_colname_key(name, key, sizeof key);
  return in_list(key, keys_f)    ? ROLE_F
         : in_list(key, keys_re) ? ROLE_RE
         : in_list(key, keys_im) ? ROLE_IM
                                 : ROLE_NONE;
}

static ukind unit_kind(const char *su) {
  if (!*su) return UNIT_UNKNOWN;
  if (nimc_units_convertible(su, "Hz") == 1) return UNIT_FREQ;
  if (nimc_units_convertible(su, "ohm") == 1) return UNIT_OHM;
  if (nimc_units_convertible(su, "ohm.m2") == 1) return UNIT_AREA_OHM;
  if (nimc_units_convertible(su, "ohm.m") == 1) return UNIT_LEN_OHM;
  return UNIT_UNKNOWN;
}

/* Read a header name: its role, sign and unit (see the essay and
 * io/colname.h). */
static void header_name(const char *raw, hname *h) {
  memset(h, 0, sizeof *h);
  nimc_colname cn;
  nimc_colname_split(raw, &cn);
  h->neg = cn.neg;
  h->role = role_of(cn.whole); /* "Re(Z)", "Im(Z)": the brackets are the
                                  name's */
  if (h->role) return;
  memcpy(h->unit, cn.unit, sizeof h->unit);
  memcpy(h->su, cn.su, sizeof h->su);
  h->kind = unit_kind(h->su);
  h->nimc_im =
      !h->neg && h->kind != UNIT_UNKNOWN && strcmp(cn.name, "z_im") == 0;
  h->role = role_of(cn.name);
}

/* What the spectrum is read from: a column per role and how. */
typedef struct pick {
  size_t col[NROLES];    /* column index per role */
  hname h[NROLES];       /* what its header said */
  int by_header;         /* columns found by their names, else by position */
  double factor[NROLES]; /* to SI */
} pick;

/* "column 3 ('-Z'' (Ohm)')" for messages, or "column 3" without a name. */
static void col_label(const nimc_dtable *t, size_t c, char *buf, size_t len) {
  if (t->col[c].name[0]) {
    char p[64];
    nimc_printable(p, sizeof p, t->col[c].name);
    snprintf(buf, len, "column %zu ('%s')", c + 1, p);
  } else {
    snprintf(buf, len, "column %zu", c + 1);
  }
}

/* Find the columns by the header's names. */
static int pick_by_header(const nimc_dtable *t, pick *pk, nimc_err *err) {
  int found = 0;
  for (size_t c = 0; c < t->ncol; c++) {
    hname h;
    header_name(t->col[c].name, &h);
    if (h.role && !pk->h[h.role].role) {
      pk->col[h.role] = c;
      pk->h[h.role] = h;
      found++;
    }
  }
  if (found == 0) return NIMC_OK; /* names that say nothing: by position */
  if (found < 3) {
    char names[256];
    size_t pos = 0;
    names[0] = '\0';
    for (int r = ROLE_F; r < NROLES; r++)
      if (!pk->h[r].role) {
        put(names, sizeof names, &pos, pos ? " and " : "");
        put(names, sizeof names, &pos, role_words[r]);
      }
    return nimc_err_set(err, NIMC_EDATA,
                        "%s:%ld: the header names no column for %s (a "
                        "frequency is called f, freq or frequency; Re Z re, "
                        "real, Z', zreal or Re(Z); Im Z im, imag, Z'', zimag, "
                        "Im(Z), or -Z'' / -Im(Z) for -Im Z)",
                        t->path, t->header_line, names);
  }
  pk->by_header = 1;
  return NIMC_OK;
}

/* Without a usable header: the first three columns whose cells are mostly
 * numbers. */
static int pick_by_position(const nimc_dtable *t, pick *pk, nimc_err *err) {
  int r = ROLE_F;
  for (size_t c = 0; c < t->ncol && r < NROLES; c++)
    if (2 * t->col[c].nbad <= t->nrow) pk->col[r++] = c;
  if (r < NROLES)
    return nimc_err_set(err, NIMC_EDATA,
                        "%s:%ld: only %d numeric column%s; a spectrum needs 3 "
                        "(frequency, Re Z, Im Z)",
                        t->path, t->header_line ? t->header_line : t->line[0],
                        r - 1, r - 1 == 1 ? "" : "s");
  return NIMC_OK;
}

/* Conversion factors to SI for the picked columns, or why not. */
static int pick_units(const nimc_dtable *t, pick *pk, nimc_err *err) {
  for (int r = ROLE_F; r < NROLES; r++) {
    hname *h = &pk->h[r];
    char lab[96];
    col_label(t, pk->col[r], lab, sizeof lab);
    pk->factor[r] = 1.0;
    if (!h->unit[0]) continue;
    const char *si = r == ROLE_F ? "Hz" : "ohm";
    ukind want = r == ROLE_F ? UNIT_FREQ : UNIT_OHM;
    if (h->kind != want) {
      char u[64];
      nimc_printable(u, sizeof u, h->unit);
      const char *why =
          h->kind == UNIT_AREA_OHM
              ? "is an area-specific impedance; nimc reads ohm (multiply by "
                "the area first)"
          : h->kind == UNIT_LEN_OHM ? "is a resistivity, not an impedance"
          : h->kind == UNIT_UNKNOWN
              ? (r == ROLE_F ? "is not understood (Hz, kHz, mHz expected)"
                             : "is not understood (ohm, kohm, mohm expected)")
          : r == ROLE_F ? "is not a frequency"
                        : "is not an impedance";
      return nimc_err_set(err, NIMC_EDATA, "%s:%ld: %s: unit '%s' %s", t->path,
                          t->header_line, lab, u, why);
    }
    char why[200];
    int rc = nimc_unit_factor(h->su, si, &pk->factor[r], why, sizeof why);
    if (rc)
      return nimc_err_set(err, rc, "%s:%ld: %s: %s", t->path, t->header_line,
                          lab, why);
    if (r == ROLE_F && strstr(h->su, "rad")) pk->factor[r] /= TWO_PI;
  }
  return NIMC_OK;
}

/* The first cell of the picked columns that is not a finite number. */
static int check_cells(const nimc_dtable *t, const pick *pk, nimc_err *err) {
  size_t row = SIZE_MAX, col = 0;
  for (int r = ROLE_F; r < NROLES; r++) {
    const nimc_dcol *c = &t->col[pk->col[r]];
    if (c->nbad && c->bad_row < row) {
      row = c->bad_row;
      col = pk->col[r];
    }
  }
  if (row == SIZE_MAX) return NIMC_OK;
  const nimc_dcol *c = &t->col[col];
  char lab[96];
  col_label(t, col, lab, sizeof lab);
  switch (c->bad_kind) {
  case NIMC_DCELL_EMPTY:
    return nimc_err_set(err, NIMC_EDATA, "%s:%ld: %s is empty", t->path,
                        t->line[row], lab);
  case NIMC_DCELL_NONFINITE:
    return nimc_err_set(err, NIMC_EDATA,
                        "%s:%ld: %s: '%s' is not a finite number", t->path,
                        t->line[row], lab, c->bad_text);
  default:
    return nimc_err_set(err, NIMC_EDATA, "%s:%ld: %s: '%s' is not a number",
                        t->path, t->line[row], lab, c->bad_text);
  }
}

/* Frequencies positive, never repeated, in one direction. */
static int check_freq(const nimc_dtable *t, const pick *pk, nimc_err *err) {
  const double *v = t->col[pk->col[ROLE_F]].v;
  double k = pk->factor[ROLE_F];
  char lab[96];
  col_label(t, pk->col[ROLE_F], lab, sizeof lab);
  int dir = 0;
  for (size_t i = 0; i < t->nrow; i++) {
    double f = v[i] * k;
    if (!(f > 0.0) || !isfinite(f))
      return nimc_err_set(err, NIMC_EDATA,
                          "%s:%ld: %s: the frequency %g Hz is not positive "
                          "and finite",
                          t->path, t->line[i], lab, f);
    if (i == 0) continue;
    double p = v[i - 1] * k;
    if (f == p)
      return nimc_err_set(err, NIMC_EDATA,
                          "%s:%ld: the frequency %g Hz repeats %s %ld",
                          t->path, t->line[i], f, where(t), t->line[i - 1]);
    int d = f > p ? 1 : -1;
    if (dir == 0) dir = d;
    if (d != dir)
      return nimc_err_set(err, NIMC_EDATA,
                          "%s:%ld: frequency %g Hz breaks the %s order of "
                          "%ss %ld-%ld",
                          t->path, t->line[i], f,
                          dir > 0 ? "increasing" : "decreasing", where(t),
                          t->line[0],
                          t->line[i - 1]);
  }
  return NIMC_OK;
}


/* The unit words for the how sentence: as written, or the SI default. */
static void unit_words(const pick *pk, int r, char *buf, size_t len) {
  const char *si = r == ROLE_F ? "Hz" : "ohm";
  if (pk->h[r].unit[0]) {
    char u[64];
    nimc_printable(u, sizeof u, pk->h[r].unit);
    snprintf(buf, len, "%s%s", u,
             r == ROLE_F && strstr(pk->h[r].su, "rad") ? ", divided by 2 pi"
                                                       : "");
  } else {
    snprintf(buf, len, "%s%s", si, pk->by_header ? ", assumed" : "");
  }
}

/* The sign convention of the imaginary column: +1 it is Im Z, -1 it is
 * -Im Z; the reason goes into the how sentence. */
static int im_sign_of(const nimc_dtable *t, const pick *pk, int forced,
                      const char *fmt, char *how, size_t len, size_t *pos) {
  size_t c = pk->col[ROLE_IM];
  const hname *h = &pk->h[ROLE_IM];
  char raw[64];
  nimc_printable(raw, sizeof raw, t->col[c].name);
  if (forced) {
    nimc_how_add(how, len, pos,
            "column %zu holds %s (im_sign = %+d, set by the "
            "caller)",
            c + 1, forced > 0 ? "Im Z" : "-Im Z", forced);
    return forced;
  }
  if (pk->by_header && h->neg) {
    nimc_how_add(how, len, pos, "column %zu holds -Im Z: its header '%s' says so",
            c + 1, raw);
    return -1;
  }
  if (pk->by_header && t->im_sign) {
    nimc_how_add(how, len, pos,
            "column %zu holds %s: the %s format writes it so (header '%s')",
            c + 1, t->im_sign > 0 ? "Im Z itself" : "-Im Z", fmt, raw);
    return t->im_sign > 0 ? 1 : -1;
  }
  if (pk->by_header && h->nimc_im) {
    nimc_how_add(how, len, pos,
            "column %zu holds Im Z: its header '%s' (nimc's own) says so",
            c + 1, raw);
    return 1;
  }
  size_t pos_n = 0;
  for (size_t i = 0; i < t->nrow; i++)
    if (t->col[c].v[i] > 0.0) pos_n++;
  if (2 * pos_n > t->nrow) {
    nimc_how_add(how, len, pos,
            "column %zu holds -Im Z: %zu of %zu points are positive (a "
            "capacitive spectrum has Im Z < 0)",
            c + 1, pos_n, t->nrow);
    return -1;
  }
  nimc_how_add(how, len, pos,
          "column %zu holds Im Z itself: %zu of %zu points are positive (a "
          "capacitive spectrum has Im Z < 0)",
          c + 1, pos_n, t->nrow);
  return 1;
}

/* The spectrum from the table (every format alike). */
static int table_to_spectrum(const nimc_dtable *t, const nimc_reader *rd,
                             const nimc_read_opts *o, nimc_spectrum *out,
                             char *how, size_t howlen, nimc_err *err) {
  pick pk;
  memset(&pk, 0, sizeof pk);
  if (t->ncol < 3)
    return nimc_err_set(err, NIMC_EDATA,
                        "%s:%ld: only %zu column%s; a spectrum needs 3 "
                        "(frequency, Re Z, Im Z)",
                        t->path, t->header_line ? t->header_line : t->line[0],
                        t->ncol, t->ncol == 1 ? "" : "s");
  int rc = t->header_line ? pick_by_header(t, &pk, err) : NIMC_OK;
  if (!rc && !pk.by_header) rc = pick_by_position(t, &pk, err);
  if (!rc) rc = pick_units(t, &pk, err);
  if (!rc) rc = check_cells(t, &pk, err);
  if (!rc) rc = check_freq(t, &pk, err);
  if (rc) return rc;

  size_t pos = 0;
  char uf[96], ur[96], ui[96];
  unit_words(&pk, ROLE_F, uf, sizeof uf);
  unit_words(&pk, ROLE_RE, ur, sizeof ur);
  unit_words(&pk, ROLE_IM, ui, sizeof ui);
  nimc_how_add(how, howlen, &pos, "%s (%s): ", rd->name,
          t->format[0] ? t->format : rd->name);
  size_t cf = pk.col[ROLE_F], cr = pk.col[ROLE_RE], ci = pk.col[ROLE_IM];
  if (pk.by_header) {
    char a[64], b[64], c[64];
    nimc_printable(a, sizeof a, t->col[cf].name);
    nimc_printable(b, sizeof b, t->col[cr].name);
    nimc_printable(c, sizeof c, t->col[ci].name);
    nimc_how_add(how, howlen, &pos,
            "columns %zu '%s', %zu '%s', %zu '%s' (header on %s %ld)", cf + 1,
            a, cr + 1, b, ci + 1, c, where(t), t->header_line);
  } else if (cf == 0 && cr == 1 && ci == 2) {
    nimc_how_add(how, howlen, &pos, "columns 1-3");
  } else {
    nimc_how_add(how, howlen, &pos, "columns %zu, %zu, %zu", cf + 1, cr + 1, ci + 1);
  }
  if (!pk.by_header && t->header_line)
    nimc_how_add(how, howlen, &pos,
            " (the header on %s %ld names none of them: taken in order)",
            where(t), t->header_line);
  else if (!pk.by_header)
    nimc_how_add(how, howlen, &pos, " (no header)");
  nimc_how_add(how, howlen, &pos, " read as frequency (%s), Re Z (%s), Im Z (%s); ",
          uf, ur, ui);
  int sign = im_sign_of(t, &pk, o->im_sign, rd->name, how, howlen, &pos);

  if (nimc_spectrum_alloc(out, t->nrow))
    return nimc_err_set(err, NIMC_ENOMEM, "%s: out of memory", t->path);
  for (size_t i = 0; i < t->nrow; i++) {
    out->freq_Hz[i] = t->col[cf].v[i] * pk.factor[ROLE_F];
    out->z_re_ohm[i] = t->col[cr].v[i] * pk.factor[ROLE_RE];
    out->z_im_ohm[i] = sign * t->col[ci].v[i] * pk.factor[ROLE_IM];
    if (!isfinite(out->z_re_ohm[i]) || !isfinite(out->z_im_ohm[i])) {
      nimc_spectrum_free(out);
      return nimc_err_set(err, NIMC_EDATA,
                          "%s:%ld: the impedance overflows when converted to "
                          "ohm",
                          t->path, t->line[i]);
    }
  }
  return NIMC_OK;
}

/* ======================================================================
 * The public functions
 * ====================================================================== */

nimc_read_opts nimc_read_opts_default(void) {
  nimc_read_opts o;
  o.format = NULL;
  o.im_sign = 0;
  return o;
}

const char *nimc_spectrum_format(size_t k, const char **what) {
  if (k >= nreaders) return NULL;
  if (what) *what = readers[k]->what;
  return readers[k]->name;
}

/* The reader called name (case-insensitive), or NULL. */
static const nimc_reader *reader_named(const char *name) {
  for (size_t k = 0; k < nreaders; k++) {
    const char *a = readers[k]->name, *b = name;
    while (*a && tolower((unsigned char)*a) == tolower((unsigned char)*b)) {
      a++;
      b++;
    }
    if (!*a && !*b) return readers[k];
  }
  return NULL;
}

int nimc_dtable_read_fp(FILE *fp, const char *path, const char *format,
                        nimc_dtable *t, const nimc_reader **used,
                        nimc_err *err) {
  memset(t, 0, sizeof *t);
  if (!fp || !path)
    return nimc_err_set(err, NIMC_EMISUSE,
                        "nimc_dtable_read_fp: fp and path are required");
  const nimc_reader *rd = NULL;
  char known[256];
  reader_names(known, sizeof known);
  int autodetect = !format || strcmp(format, "auto") == 0;
  if (!autodetect) {
    rd = reader_named(format);
    if (!rd)
      return nimc_err_set(err, NIMC_EINPUT,
                          "unknown data format '%s' (known: auto, %s)", format,
                          known);
  }
  unsigned char head[4096];
  size_t nhead = fread(head, 1, sizeof head, fp);
  if (ferror(fp) || fseek(fp, 0, SEEK_SET) != 0)
    return nimc_err_set(err, NIMC_EIO, "cannot read '%s': %s", path,
                        strerror(errno));
  if (autodetect) {
    int best = 0;
    for (size_t k = 0; k < nreaders; k++) {
      int sc = readers[k]->detect(head, nhead);
      if (sc > best) {
        best = sc;
        rd = readers[k];
      }
    }
    if (!rd)
      return nimc_err_set(err, NIMC_EDATA,
                          "%s: not a format nimc reads (known: %s)", path,
                          known);
  }
  int rc = rd->read(fp, path, t, err);
  if (rc) nimc_dtable_free(t);
  if (!rc && used) *used = rd;
  return rc;
}

int nimc_dtable_read(const char *path, const char *format, nimc_dtable *t,
                     const nimc_reader **used, nimc_err *err) {
  memset(t, 0, sizeof *t);
  if (!path || !*path)
    return nimc_err_set(err, NIMC_EINPUT, "no data file named");
  /* an unknown format name is reported before the file is opened */
  if (format && strcmp(format, "auto") != 0 && !reader_named(format)) {
    char known[256];
    reader_names(known, sizeof known);
    return nimc_err_set(err, NIMC_EINPUT,
                        "unknown data format '%s' (known: auto, %s)", format,
                        known);
  }
  FILE *fp = fopen(path, "rb");
  if (!fp)
    return nimc_err_set(err, NIMC_EIO, "cannot open '%s': %s", path,
                        strerror(errno));
  int rc = nimc_dtable_read_fp(fp, path, format, t, used, err);
  fclose(fp);
  return rc;
}

/* The spectrum's options checked, and *o set from them. */
static int spectrum_opts(const nimc_read_opts *opts, nimc_read_opts *o,
                         nimc_spectrum *out, char *how, size_t howlen,
                         nimc_err *err) {
  if (how && howlen) how[0] = '\0';
  if (!out) return nimc_err_set(err, NIMC_EMISUSE, "no spectrum to read into");
  memset(out, 0, sizeof *out);
  *o = opts ? *opts : nimc_read_opts_default();
  if (o->im_sign < -1 || o->im_sign > 1)
    return nimc_err_set(err, NIMC_EINPUT,
                        "im_sign must be -1, 0 (detect) or +1, found %d",
                        o->im_sign);
  return NIMC_OK;
}

/* The spectrum of a table read by rd (the table is freed). */
static int spectrum_of(nimc_dtable *t, const nimc_reader *rd,
                       const nimc_read_opts *o, nimc_spectrum *out, char *how,
                       size_t howlen, nimc_err *err) {
  int rc = table_to_spectrum(t, rd, o, out, how, howlen, err);
  nimc_dtable_free(t);
  return rc;
}

int nimc_spectrum_read(const char *path, const nimc_read_opts *opts,
                       nimc_spectrum *out, char *how, size_t howlen,
                       nimc_err *err) {
  nimc_read_opts o;
  int rc = spectrum_opts(opts, &o, out, how, howlen, err);
  if (rc) return rc;
  if (!path || !*path)
    return nimc_err_set(err, NIMC_EINPUT, "no data file named");
  nimc_dtable t;
  const nimc_reader *rd = NULL;
  if ((rc = nimc_dtable_read(path, o.format, &t, &rd, err))) return rc;
  return spectrum_of(&t, rd, &o, out, how, howlen, err);
}

int nimc_spectrum_read_fp(FILE *fp, const char *path,
                          const nimc_read_opts *opts, nimc_spectrum *out,
                          char *how, size_t howlen, nimc_err *err) {
  nimc_read_opts o;
  int rc = spectrum_opts(opts, &o, out, how, howlen, err);
  if (rc) return rc;
  nimc_dtable t;
  const nimc_reader *rd = NULL;
  if ((rc = nimc_dtable_read_fp(fp, path, o.format, &t, &rd, err))) return rc;
  return spectrum_of(&t, rd, &o, out, how, howlen, err);
}
