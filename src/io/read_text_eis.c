/*
 * read_text_eis.c -- the text exports of impedance instruments: Gamry
 * .DTA, CH Instruments, ZPlot .z (ZPlot 2's "ZPLOT2 ASCII" and ZPlotW's
 * quoted header) and Autolab (its Z60W export here, its Nova ASCII export
 * through the csv reader).
 *
 * Each format is a detect() that looks for its signature in the first
 * bytes of the file and a read() that fills a nimc_dtable with the file's
 * impedance table: its columns named with units where the format gives
 * them ("Freq/Hz", "Zreal/ohm") or where the format's own names would be
 * misread (ZPlot's "Z'(a)" is Z' in ohm, not Z' in a unit "a"), the file
 * line of every row, the technique, and the sign of the imaginary column,
 * which each of these formats fixes: Gamry's Zimag, CH Instruments' Z" and
 * ZPlot's Z''(b) are Im Z itself, negative for a capacitive response.  So
 * an inductive spectrum (mostly Im Z > 0) is not mistaken for -Im Z, as a
 * guess from the data would.  Picking the columns, converting units and
 * checking the frequencies are left to spectrum_read.c, as for every
 * format.
 *
 * A file is read whole into memory (a text export is small; more than
 * TEXT_MAX bytes is refused) and checked once before any parsing: no NUL
 * byte, no UTF-16, no line longer than NIMC_DT_MAXLINE.  Lines are then
 * cut in place at their ends (CR, LF or CRLF), so that every parser below
 * works on NUL-terminated strings inside one buffer and cannot read past
 * it, however the file was cut short or corrupted.  Every error names the
 * file and the line: a header that does not end, a table without its
 * column names or units, a row with the wrong number of fields, a table
 * that announces more rows than follow.
 *
 * What does not live here: the csv reader and the step from the table to
 * the spectrum (spectrum_read.c); BioLogic's .mpt.
 */
#define _POSIX_C_SOURCE 200809L

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/params.h"
#include "io/colname.h"
#include "io/datafile.h"

#define TEXT_MAX ((size_t)256 * 1024 * 1024) /* largest file read */
#define MAXF                                                                   \
  (NIMC_DT_MAXCOL + 2) /* field slots: a leading empty and one over */

/* ======================================================================
 * A text file in memory, line by line
 * ====================================================================== */

typedef struct text {
  const char *path;
  char *buf;   /* the file and a NUL after it */
  size_t len;  /* bytes of the file */
  size_t pos;  /* where the next line starts */
  long lineno; /* of the line last taken (1-based) */
} text;

/* Release the buffer of tx and zero it. */
static void text_free(text *tx) {
  free(tx->buf);
  memset(tx, 0, sizeof *tx);
}

/* Line and byte in the line (both 1-based) of offset off. */
static void text_locate(const text *tx, size_t off, long *line, size_t *col) {
  long l = 1;
  size_t start = 0;
  for (size_t k = 0; k < off; k++) {
    if (tx->buf[k] == '\r' || tx->buf[k] == '\n') {
      if (tx->buf[k] == '\r' && k + 1 < off && tx->buf[k + 1] == '\n') k++;
      l++;
      start = k + 1;
    }
  }
  *line = l;
  *col = off - start + 1;
}

/* The checks before parsing: UTF-16, NUL bytes, overlong lines; skips a
 * UTF-8 byte order mark. */
static int text_check(text *tx, nimc_err *err) {
  const unsigned char *u = (const unsigned char *)tx->buf;
  if (tx->len >= 2 &&
      ((u[0] == 0xff && u[1] == 0xfe) || (u[0] == 0xfe && u[1] == 0xff)))
    return nimc_err_set(err, NIMC_EDATA,
                        "%s:1: the file is UTF-16 text; save it as UTF-8 or "
                        "ASCII",
                        tx->path);
  if (tx->len >= 3 && u[0] == 0xef && u[1] == 0xbb && u[2] == 0xbf) tx->pos = 3;
  const char *nul = memchr(tx->buf, '\0', tx->len);
  if (nul) {
    long line;
    size_t col;
    text_locate(tx, (size_t)(nul - tx->buf), &line, &col);
    return nimc_err_set(err, NIMC_EDATA,
                        "%s:%ld: a NUL byte at column %zu: a binary or "
                        "corrupted file, not a text export",
                        tx->path, line, col);
  }
  long line = 1;
  size_t start = 0;
  for (size_t k = 0; k <= tx->len; k++) {
    int end = k == tx->len || tx->buf[k] == '\r' || tx->buf[k] == '\n';
    if (!end) continue;
    if (k - start > NIMC_DT_MAXLINE)
      return nimc_err_set(err, NIMC_EDATA,
                          "%s:%ld: the line is longer than %d KiB (not a text "
                          "export?)",
                          tx->path, line, NIMC_DT_MAXLINE / 1024);
    if (k < tx->len && tx->buf[k] == '\r' && k + 1 < tx->len &&
        tx->buf[k + 1] == '\n')
      k++;
    line++;
    start = k + 1;
  }
  return NIMC_OK;
}

/* Read all of fp into tx and check it (text_check). */
static int text_load(FILE *fp, const char *path, text *tx, nimc_err *err) {
  memset(tx, 0, sizeof *tx);
  tx->path = path;
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap + 1);
  if (!buf) return nimc_err_set(err, NIMC_ENOMEM, "%s: out of memory", path);
  for (;;) {
    if (n == cap) {
      if (cap >= TEXT_MAX) {
        free(buf);
        return nimc_err_set(err, NIMC_EDATA,
                            "%s: %zu MiB or more: too large for a text export",
                            path, TEXT_MAX >> 20);
      }
      char *nb = realloc(buf, 2 * cap + 1);
      if (!nb) {
        free(buf);
        return nimc_err_set(err, NIMC_ENOMEM, "%s: out of memory", path);
      }
      buf = nb;
      cap *= 2;
    }
    size_t got = fread(buf + n, 1, cap - n, fp);
    n += got;
    if (got == 0) break;
  }
  if (ferror(fp)) {
    free(buf);
    return nimc_err_set(err, NIMC_EIO, "%s: cannot read: %s", path,
                        strerror(errno));
  }
  buf[n] = '\0';
  tx->buf = buf;
  tx->len = n;
  return text_check(tx, err);
}

/* The next line, cut at its end (CR, LF or CRLF), or NULL after the last.
 * The strings stay valid until text_free. */
static char *text_line(text *tx) {
  if (tx->pos >= tx->len) return NULL;
  char *s = tx->buf + tx->pos;
  size_t k = tx->pos;
  while (k < tx->len && tx->buf[k] != '\n' && tx->buf[k] != '\r')
    k++;
  size_t next = k;
  if (k < tx->len) {
    next = k + 1;
    if (tx->buf[k] == '\r' && next < tx->len && tx->buf[next] == '\n') next++;
    tx->buf[k] = '\0';
  }
  tx->pos = next;
  tx->lineno++;
  return s;
}

/* ======================================================================
 * Fields and numbers
 * ====================================================================== */




/* Does s begin with prefix, ignoring ASCII case? */
static int starts_with_ci(const char *s, const char *prefix) {
  for (; *prefix; s++, prefix++)
    if (tolower((unsigned char)*s) != tolower((unsigned char)*prefix)) return 0;
  return 1;
}

/* Split s in place at delim (a tab or a comma; 0: tabs or runs of two or
 * more spaces, with leading and trailing blanks dropped); each field
 * trimmed.  Up to MAXF fields go into f; the return value counts all. */
static size_t cells(char *s, int delim, char **f) {
  size_t n = 0;
  if (delim == 0) {
    s = nimc_trim(s);
    if (!*s) return 0;
  }
  for (;;) {
    char *start = s;
    while (*s) {
      if (delim == 0 && (*s == '\t' || (s[0] == ' ' && s[1] == ' '))) break;
      if (delim != 0 && *s == delim) break;
      s++;
    }
    if (n < MAXF) f[n] = start;
    n++;
    if (!*s) break;
    *s++ = '\0';
    if (delim == 0)
      while (*s == ' ' || *s == '\t')
        s++;
  }
  for (size_t k = 0; k < n && k < MAXF; k++)
    f[k] = nimc_trim(f[k]);
  return n;
}

/* The number in all of s (trimmed), or why not; a decimal comma is taken
 * when dcomma is set (one comma, no point) and noted in *used_comma. */
static nimc_dcell number(const char *s, int dcomma, int *used_comma,
                         double *v) {
  if (!*s) return NIMC_DCELL_EMPTY;
  char buf[64];
  const char *comma = strchr(s, ',');
  if (comma) {
    size_t n = strlen(s);
    if (!dcomma || strchr(comma + 1, ',') || strchr(s, '.') || n >= sizeof buf)
      return NIMC_DCELL_TEXT;
    memcpy(buf, s, n + 1);
    buf[comma - s] = '.';
    s = buf;
    if (used_comma) *used_comma = 1;
  }
  char *end;
  errno = 0;
  double x = strtod(s, &end);
  if (end == s || *end) return NIMC_DCELL_TEXT;
  if (!isfinite(x)) return NIMC_DCELL_NONFINITE;
  *v = x;
  return NIMC_DCELL_OK;
}

/* Is any of the n fields (at most MAXF kept) a number? */
static int any_number(char **f, size_t n, int dcomma) {
  for (size_t k = 0; k < n && k < MAXF; k++) {
    double v;
    nimc_dcell c = number(f[k], dcomma, NULL, &v);
    if (c == NIMC_DCELL_OK || c == NIMC_DCELL_NONFINITE) return 1;
  }
  return 0;
}

/* Does the line start with a number followed by a tab or a comma (a data
 * row, not a "key: value" line of a header)? */
static int row_like(const char *s) {
  while (*s == ' ' || *s == '\t')
    s++;
  char *end;
  (void)strtod(s, &end);
  while (end != s && *end == ' ')
    end++;
  return end != s && (*end == '\t' || *end == ',');
}

/* ======================================================================
 * The table
 * ====================================================================== */

/* Start t with the n column names in names, found on line hline. */
static int table_start(nimc_dtable *t, const char *path,
                       const char *const *names, size_t n, long hline,
                       nimc_err *err) {
  if (n == 0)
    return nimc_err_set(err, NIMC_EDATA, "%s:%ld: no column names", path,
                        hline);
  if (n > NIMC_DT_MAXCOL)
    return nimc_err_set(err, NIMC_EDATA,
                        "%s:%ld: %zu columns, more than the %d a table may "
                        "have",
                        path, hline, n, NIMC_DT_MAXCOL);
  if (nimc_dtable_init(t, path, n, names))
    return nimc_err_set(err, NIMC_ENOMEM, "%s: out of memory", path);
  t->header_line = hline;
  return NIMC_OK;
}

/* Add the row of nf fields f read on line `line`: as many fields as
 * columns (empty ones at the end aside), each a number or remembered as
 * not one.  f holds at most cap of them (nf counts all the line has). */
static int table_row(nimc_dtable *t, char **f, size_t cap, size_t nf,
                     long line, int dcomma, int *used_comma, nimc_err *err) {
  while (nf > t->ncol && nf <= cap && !*f[nf - 1])
    nf--;
  if (nf != t->ncol)
    return nimc_err_set(err, NIMC_EDATA,
                        "%s:%ld: %zu field%s, but the column names (line "
                        "%ld) give %zu",
                        t->path, line, nf, nf == 1 ? "" : "s", t->header_line,
                        t->ncol);
  if (t->nrow >= NIMC_DT_MAXROW)
    return nimc_err_set(err, NIMC_EDATA,
                        "%s:%ld: more than %d data rows; split the file",
                        t->path, line, NIMC_DT_MAXROW);
  if (nimc_dtable_add_row(t, line))
    return nimc_err_set(err, NIMC_ENOMEM, "%s:%ld: out of memory", t->path,
                        line);
  for (size_t c = 0; c < t->ncol; c++) {
    double v;
    nimc_dcell why = number(f[c], dcomma, used_comma, &v);
    if (why == NIMC_DCELL_OK)
      nimc_dtable_set(t, c, v);
    else
      nimc_dtable_set_bad(t, c, why, f[c]);
  }
  return NIMC_OK;
}

/* The rows after the column names up to the end of the file: blank lines
 * passed over; fields at tabs when the line has one, else at commas. */
static int table_rows_to_end(text *tx, nimc_dtable *t, char **f,
                             int *used_comma, nimc_err *err) {
  char *s;
  while ((s = text_line(tx))) {
    if (nimc_is_blank(s)) continue;
    int delim = strchr(s, '\t') ? '\t' : ',';
    size_t nf = cells(s, delim, f);
    int rc = table_row(t, f, MAXF, nf, tx->lineno, delim == '\t', used_comma,
                       err);
    if (rc) return rc;
  }
  if (t->nrow == 0)
    return nimc_err_set(err, NIMC_EDATA,
                        "%s:%ld: the column names (line %ld) are followed by "
                        "no data rows",
                        t->path, tx->lineno, t->header_line);
  return NIMC_OK;
}

/* The technique of an impedance sweep from the words of a header: "PEIS"
 * under potential control, "GEIS" under current control, else "EIS". */
static void sweep_technique(const char *words, char *out, size_t len) {
  const char *tech = "EIS";
  for (const char *p = words; *p; p++) {
    if (starts_with_ci(p, "control voltage") ||
        starts_with_ci(p, "control potential"))
      tech = "PEIS";
    if (starts_with_ci(p, "control current")) tech = "GEIS";
  }
  snprintf(out, len, "%s", tech);
}

/* A format's parser: the file in tx into t, with f and g MAXF field
 * slots each to split lines into. */
typedef int (*parse_fn)(text *tx, nimc_dtable *t, char **f, char **g,
                        nimc_err *err);

/* Run parse on the file with the buffers it needs; t is emptied on
 * failure. */
static int run_parser(FILE *fp, const char *path, nimc_dtable *t, nimc_err *err,
                      parse_fn parse) {
  memset(t, 0, sizeof *t);
  text tx;
  int rc = text_load(fp, path, &tx, err);
  if (rc) {
    text_free(&tx); /* a file that failed its checks is loaded */
    return rc;
  }
  char **f = malloc(MAXF * sizeof *f), **g = malloc(MAXF * sizeof *g);
  if (!f || !g)
    rc = nimc_err_set(err, NIMC_ENOMEM, "%s: out of memory", path);
  else if (tx.len == tx.pos)
    rc = nimc_err_set(err, NIMC_EDATA, "%s: the file is empty", path);
  else
    rc = parse(&tx, t, f, g, err);
  if (rc) nimc_dtable_free(t);
  free(f);
  free(g);
  text_free(&tx);
  return rc;
}

/* The first line of the first n bytes of a file (a UTF-8 byte order mark
 * skipped) into out, trimmed. */
static void head_line(const unsigned char *head, size_t n, char *out,
                      size_t len) {
  size_t k = 0, o = 0;
  if (n >= 3 && head[0] == 0xef && head[1] == 0xbb && head[2] == 0xbf) k = 3;
  for (; k < n && head[k] != '\r' && head[k] != '\n' && o + 1 < len; k++)
    out[o++] = head[k] ? (char)head[k] : '?';
  out[o] = '\0';
  char *s = nimc_trim(out);
  memmove(out, s, strlen(s) + 1);
}

/* Does a line of the first n bytes start with prefix (after blanks)? */
static int head_has_line(const unsigned char *head, size_t n,
                         const char *prefix) {
  size_t lp = strlen(prefix);
  for (size_t k = 0; k < n; k++) {
    if (k > 0 && head[k - 1] != '\n' && head[k - 1] != '\r') continue;
    size_t j = k;
    while (j < n && (head[j] == ' ' || head[j] == '\t'))
      j++;
    if (j + lp <= n && memcmp(head + j, prefix, lp) == 0) return 1;
  }
  return 0;
}

/* ======================================================================
 * Gamry .DTA
 *
 * "EXPLAIN", then one "KEY<tab>TYPE<tab>value..." line per setting (TAG
 * gives the experiment: EISPOT, EISGALV), then tables: "ZCURVE<tab>TABLE"
 * (a point count may follow), a line of column names and a line of units,
 * each after a leading tab, and one row per point, each after a leading
 * tab, up to the first line that does not start with a tab (the end of
 * the file, the next setting or table, "EXPERIMENTABORTED").  The first
 * ZCURVE table is the spectrum: Freq (Hz), Zreal and Zimag (ohm, Zimag is
 * Im Z).  Decimal commas are read (European Windows settings write them).
 * ====================================================================== */

/* 10 for a first line "EXPLAIN", else 0. */
int nimc_gamry_detect(const unsigned char *head, size_t n) {
  char first[16];
  head_line(head, n, first, sizeof first);
  return strcmp(first, "EXPLAIN") == 0 ? 10 : 0;
}

/* Names "Freq/Hz" from the names and units, into t's start. */
static int gamry_start(nimc_dtable *t, const char *path, char **names,
                       char **units, size_t n, long hline, nimc_err *err) {
  if (n == 0 || n > NIMC_DT_MAXCOL)
    return table_start(t, path, (const char *const *)names, n, hline, err);
  char(*buf)[128] = malloc(n * sizeof *buf);
  const char **nm = malloc(n * sizeof *nm);
  int rc = NIMC_OK;
  if (!buf || !nm) {
    rc = nimc_err_set(err, NIMC_ENOMEM, "%s: out of memory", path);
  } else {
    for (size_t c = 0; c < n; c++) {
      int plain = !*units[c] || strcmp(units[c], "#") == 0;
      snprintf(buf[c], sizeof buf[c], plain ? "%s" : "%s/%s", names[c],
               units[c]);
      nm[c] = buf[c];
    }
    rc = table_start(t, path, nm, n, hline, err);
  }
  free(buf);
  free(nm);
  return rc;
}

/* The ZCURVE table whose "ZCURVE TABLE" line (zline) was just read;
 * count: the points it announces, or -1. */
static int gamry_zcurve(text *tx, nimc_dtable *t, char **f, char **g,
                        long zline, long count, nimc_err *err) {
  const char *path = tx->path;
  char *s = text_line(tx);
  if (!s || *s != '\t') {
    if (!s)
      return nimc_err_set(err, NIMC_EDATA,
                          "%s:%ld: the file ends after 'ZCURVE TABLE', "
                          "before its column names",
                          path, zline);
    return nimc_err_set(err, NIMC_EDATA,
                        "%s:%ld: the ZCURVE table (line %ld) has no column "
                        "names (a tab, then 'Pt  Time  Freq  Zreal  Zimag "
                        "...')",
                        path, tx->lineno, zline);
  }
  long nline = tx->lineno;
  size_t nn = cells(s, '\t', g);
  if (nn < 2 || nn > MAXF || any_number(g + 1, nn - 1, 1))
    return nimc_err_set(err, NIMC_EDATA,
                        "%s:%ld: the ZCURVE table (line %ld) has no column "
                        "names (a tab, then 'Pt  Time  Freq  Zreal  Zimag "
                        "...')",
                        path, nline, zline);
  s = text_line(tx);
  if (!s)
    return nimc_err_set(err, NIMC_EDATA,
                        "%s:%ld: the file ends after the column names of the "
                        "ZCURVE table: no units line, no data",
                        path, nline);
  int tab = *s == '\t';
  size_t nu = cells(s, '\t', f);
  if (!tab || nu < 2 || nu > MAXF || any_number(f + 1, nu - 1, 1))
    return nimc_err_set(err, NIMC_EDATA,
                        "%s:%ld: the ZCURVE table has no units line: line "
                        "%ld should give the units of the column names on "
                        "line %ld (a tab, then '#  s  Hz  ohm  ohm ...')",
                        path, tx->lineno, tx->lineno, nline);
  if (nu != nn)
    return nimc_err_set(err, NIMC_EDATA,
                        "%s:%ld: %zu units for the %zu column names on line "
                        "%ld",
                        path, tx->lineno, nu - 1, nn - 1, nline);
  int rc = gamry_start(t, path, g + 1, f + 1, nn - 1, nline, err);
  if (rc) return rc;
  int used_comma = 0;
  long last = tx->lineno;
  while ((s = text_line(tx)) && *s == '\t') {
    size_t nf = cells(s, '\t', f);
    /* the leading tab's empty field is not a column */
    rc = table_row(t, f + 1, MAXF - 1, nf - 1, tx->lineno, 1, &used_comma,
                   err);
    if (rc) return rc;
    last = tx->lineno;
  }
  if (t->nrow == 0)
    return nimc_err_set(err, NIMC_EDATA,
                        "%s:%ld: the ZCURVE table (line %ld) has no data rows",
                        path, last, zline);
  if (count >= 0 && (size_t)count != t->nrow)
    return nimc_err_set(err, NIMC_EDATA,
                        "%s:%ld: the ZCURVE table (line %ld) announces %ld "
                        "points, but %zu follow (a file cut short?)",
                        path, last, zline, count, t->nrow);
  t->im_sign = 1;
  snprintf(t->format, sizeof t->format, "Gamry DTA, ZCURVE table%s",
           used_comma ? ", decimal commas" : "");
  return NIMC_OK;
}

/* The first ZCURVE table of a Gamry file (see above) into t. */
static int gamry_parse(text *tx, nimc_dtable *t, char **f, char **g,
                       nimc_err *err) {
  char *s = text_line(tx);
  if (!s || strcmp(nimc_trim(s), "EXPLAIN") != 0)
    return nimc_err_set(err, NIMC_EDATA,
                        "%s:1: not a Gamry DTA file: the first line is not "
                        "'EXPLAIN'",
                        tx->path);
  char tag[32] = "";
  while ((s = text_line(tx))) {
    if (*s == '\t' || nimc_is_blank(s)) continue; /* notes, rows of other tables */
    size_t n = cells(s, '\t', f);
    if (n >= 2 && strcmp(f[0], "TAG") == 0 && !tag[0])
      snprintf(tag, sizeof tag, "%s", f[1]);
    if (n >= 2 && strcmp(f[0], "ZCURVE") == 0 && strcmp(f[1], "TABLE") == 0) {
      long count = -1;
      if (n >= 3 && *f[2]) {
        char *end;
        long c = strtol(f[2], &end, 10);
        if (*end || c < 0)
          return nimc_err_set(err, NIMC_EDATA,
                              "%s:%ld: the point count '%.20s' of the ZCURVE "
                              "table is not a whole number",
                              tx->path, tx->lineno, f[2]);
        count = c;
      }
      int rc = gamry_zcurve(tx, t, f, g, tx->lineno, count, err);
      if (rc) return rc;
      if (strcmp(tag, "EISPOT") == 0)
        snprintf(t->technique, sizeof t->technique, "PEIS");
      else if (strcmp(tag, "EISGALV") == 0)
        snprintf(t->technique, sizeof t->technique, "GEIS");
      else
        snprintf(t->technique, sizeof t->technique, "%s", tag);
      return NIMC_OK;
    }
  }
  return nimc_err_set(err, NIMC_EDATA,
                      "%s:%ld: no ZCURVE table in the file (TAG '%s'): not "
                      "an impedance spectrum",
                      tx->path, tx->lineno, tag);
}

/* Read a Gamry .DTA (see the essay of the section). */
int nimc_gamry_read(FILE *fp, const char *path, nimc_dtable *t, nimc_err *err) {
  return run_parser(fp, path, t, err, gamry_parse);
}

/* ======================================================================
 * CH Instruments text export
 *
 * The date and time, the technique ("A.C. Impedance"), "File:", "Data
 * Source:", "Instrument Model:  CHI660E", the parameters ("Init E (V) =
 * 0"), a line of comma-separated column names with units
 * ("Freq/Hz, Z'/ohm, Z"/ohm, Z/ohm, Phase/deg"), a blank line and the
 * comma-separated rows.  Z" is Im Z (the phase is negative where Z" is).
 * ====================================================================== */

/* 10 for CH Instruments' model line or its "A.C. Impedance", else 0. */
int nimc_chi_detect(const unsigned char *head, size_t n) {
  if (head_has_line(head, n, "Instrument Model:  CHI") ||
      head_has_line(head, n, "Instrument Model: CHI"))
    return 10;
  /* without the model line: the technique on line 2 and the names */
  size_t k = 0;
  while (k < n && head[k] != '\n' && head[k] != '\r')
    k++;
  while (k < n && (head[k] == '\n' || head[k] == '\r'))
    k++;
  char second[32];
  head_line(head + k, n - k, second, sizeof second);
  if (strcmp(second, "A.C. Impedance") == 0 &&
      head_has_line(head, n, "Freq/Hz,"))
    return 10;
  return 0;
}

/* Is the line (split into n fields) a CHI line of column names: two or
 * more fields, each "name/unit", none a number? */
static int chi_names(char **f, size_t n) {
  if (n < 2 || n > MAXF) return 0;
  for (size_t k = 0; k < n; k++) {
    const char *slash = strrchr(f[k], '/');
    if (!slash || slash == f[k] || !slash[1]) return 0;
  }
  return !any_number(f, n, 0);
}

/* The table of a CH Instruments export (see above) into t. */
static int chi_parse(text *tx, nimc_dtable *t, char **f, char **g,
                     nimc_err *err) {
  (void)g;
  (void)text_line(tx); /* the date */
  char tech[32] = "";
  char *s = text_line(tx);
  if (s) snprintf(tech, sizeof tech, "%s", nimc_trim(s));
  long nline = 0;
  size_t nn = 0;
  while (!nline && (s = text_line(tx))) {
    nn = cells(s, ',', f);
    if (chi_names(f, nn)) nline = tx->lineno;
  }
  if (!nline)
    return nimc_err_set(err, NIMC_EDATA,
                        "%s:%ld: the file ends without a line of column names "
                        "(such as 'Freq/Hz, Z'/ohm, Z\"/ohm, Z/ohm, "
                        "Phase/deg')",
                        tx->path, tx->lineno);
  int rc = table_start(t, tx->path, (const char *const *)f, nn, nline, err);
  int used_comma = 0;
  if (!rc) rc = table_rows_to_end(tx, t, f, &used_comma, err);
  if (rc) return rc;
  if (strcmp(tech, "A.C. Impedance") == 0)
    snprintf(t->technique, sizeof t->technique, "PEIS");
  else
    snprintf(t->technique, sizeof t->technique, "%s", tech);
  t->im_sign = 1;
  snprintf(t->format, sizeof t->format,
           "CH Instruments text export, comma-separated");
  return NIMC_OK;
}

/* Read a CH Instruments text export (see the essay of the section). */
int nimc_chi_read(FILE *fp, const char *path, nimc_dtable *t, nimc_err *err) {
  return run_parser(fp, path, t, err, chi_parse);
}

/* ======================================================================
 * ZPlot and Z60W names
 *
 * Scribner's formats name the columns "Freq(Hz)  Ampl  Bias  Time(Sec)
 * Z'(a)  Z''(b)  GD  Err  Range"; "(a)" and "(b)" are the labels of the
 * two measured columns, not units.  For an impedance sweep they are Z' and
 * Z'' in ohm, Z'' being Im Z.
 * ====================================================================== */

/* The table's name for a ZPlot column name (blanks ignored, any case). */
static const char *zplot_name(const char *raw) {
  static const char *const map[][2] = {{"freq(hz)", "Freq/Hz"},
                                       {"z'(a)", "Z'/ohm"},
                                       {"z''(b)", "Z''/ohm"},
                                       {"time(sec)", "Time/s"}};
  char key[32];
  size_t n = 0;
  for (const char *p = raw; *p && n + 1 < sizeof key; p++)
    if (*p != ' ') key[n++] = (char)tolower((unsigned char)*p);
  key[n] = '\0';
  for (size_t k = 0; k < sizeof map / sizeof map[0]; k++)
    if (strcmp(key, map[k][0]) == 0) return map[k][1];
  return raw;
}

/* Start t from the ZPlot column names in names (n of them, line hline). */
static int zplot_start(nimc_dtable *t, const char *path, char **names, size_t n,
                       long hline, nimc_err *err) {
  const char *nm[MAXF];
  for (size_t k = 0; k < n && k < MAXF; k++)
    nm[k] = zplot_name(names[k]);
  return table_start(t, path, nm, n, hline, err);
}

/* Are the n fields ZPlot column names (none a number, one "Freq...")? */
static int zplot_names(char **f, size_t n) {
  if (n < 3 || n > MAXF || any_number(f, n, 0)) return 0;
  for (size_t k = 0; k < n; k++)
    if (starts_with_ci(f[k], "freq")) return 1;
  return 0;
}

/* ======================================================================
 * ZPlot 2 .z ("ZPLOT2 ASCII")
 *
 * "ZPLOT2 ASCII", a header of "Key:  value" lines (among them "Experiment
 * Type:  Sweep Frequency, Control Voltage" and "Data Points:"), the column
 * names on the last line of the header, the line "End Comments", then one
 * row per point, tab-separated (or comma-separated).  The header's "Data
 * Points" is not checked: the files in the wild disagree with it.
 * ====================================================================== */

/* The table of a ZPlot 2 file (see above) into t. */
static int zplot2_parse(text *tx, nimc_dtable *t, char **f, char **g,
                        nimc_err *err) {
  (void)g;
  char *s = text_line(tx);
  if (!s || strcmp(nimc_trim(s), "ZPLOT2 ASCII") != 0)
    return nimc_err_set(err, NIMC_EDATA,
                        "%s:1: not a ZPlot 2 file: the first line is not "
                        "'ZPLOT2 ASCII'",
                        tx->path);
  char *names = NULL, tech[32] = "";
  long nline = 0, end = 0;
  while (!end && (s = text_line(tx))) {
    char *u = nimc_trim(s);
    if (strcmp(u, "End Comments") == 0) {
      end = tx->lineno;
    } else if (row_like(u)) {
      return nimc_err_set(err, NIMC_EDATA,
                          "%s:%ld: a data row before the line 'End Comments' "
                          "that ends a ZPlot header",
                          tx->path, tx->lineno);
    } else if (*u) {
      if (starts_with_ci(u, "Experiment Type:"))
        sweep_technique(u, tech, sizeof tech);
      names = u;
      nline = tx->lineno;
    }
  }
  if (!end)
    return nimc_err_set(err, NIMC_EDATA,
                        "%s:%ld: the file ends without the line 'End "
                        "Comments' that ends a ZPlot header",
                        tx->path, tx->lineno);
  size_t nn = names ? cells(names, strchr(names, '\t') ? '\t' : 0, f) : 0;
  if (!zplot_names(f, nn))
    return nimc_err_set(err, NIMC_EDATA,
                        "%s:%ld: no column names (\"Freq(Hz)  Ampl  Bias  "
                        "Time(Sec)  Z'(a)  Z''(b) ...\") on the line before "
                        "'End Comments'",
                        tx->path, nline ? nline : end);
  int rc = zplot_start(t, tx->path, f, nn, nline, err);
  int used_comma = 0;
  if (!rc) rc = table_rows_to_end(tx, t, f, &used_comma, err);
  if (rc) return rc;
  snprintf(t->technique, sizeof t->technique, "%s", tech);
  t->im_sign = 1;
  snprintf(t->format, sizeof t->format, "ZPlot 2 text, Z'(a), Z''(b) in ohm");
  return NIMC_OK;
}

/* ======================================================================
 * Z60W and ZPlotW text ("Z60W Data File: Version 1.1")
 *
 * A quoted title, a few quoted or free header lines (ZPlotW: the date,
 * "Sweep Frequency: Control Voltage"), a line of settings
 * ("0,2,0,1,0.1,10000"), the number of points, the quoted column names
 * separated by runs of blanks ("  Freq (Hz)    Ampl ...  Z'(a)    Z''(b)
 * ..."), then comma-separated rows.  Autolab's FRA software exports this
 * format for ZView.  The point count before the names is checked, so a
 * file cut short at a line end is refused.
 * ====================================================================== */

/* The table of a Z60W or ZPlotW file (see above) into t. */
static int z60w_parse(text *tx, nimc_dtable *t, char **f, char **g,
                      nimc_err *err) {
  (void)g;
  char *s = text_line(tx), *prev = NULL, tech[32] = "";
  const char *title = s ? nimc_unquote(s) : "";
  int z60w = strncmp(title, "Z60W Data File", 14) == 0;
  if (!z60w && strncmp(title, "ZPlotW Data File", 16) != 0)
    return nimc_err_set(err, NIMC_EDATA,
                        "%s:1: not a Z60W or ZPlotW text file: the first line "
                        "is not \"Z60W Data File: ...\"",
                        tx->path);
  long nline = 0, pline = 0;
  size_t nn = 0;
  while ((s = text_line(tx))) {
    char *u = nimc_unquote(s);
    if (starts_with_ci(u, "Sweep Frequency"))
      sweep_technique(u, tech, sizeof tech);
    if (starts_with_ci(u, "freq")) {
      nn = cells(u, strchr(u, '\t') ? '\t' : 0, f);
      if (zplot_names(f, nn)) {
        nline = tx->lineno;
        break;
      }
    }
    prev = u;
    pline = tx->lineno;
  }
  if (!nline)
    return nimc_err_set(err, NIMC_EDATA,
                        "%s:%ld: no line of column names (\"Freq(Hz)  Ampl  "
                        "Bias  Time(Sec)  Z'(a)  Z''(b) ...\") in the file",
                        tx->path, tx->lineno);
  long count = -1;
  if (prev && *prev) {
    char *end;
    long c = strtol(prev, &end, 10);
    if (!*end && c >= 0) count = c;
  }
  int rc = zplot_start(t, tx->path, f, nn, nline, err);
  int used_comma = 0;
  if (!rc) rc = table_rows_to_end(tx, t, f, &used_comma, err);
  if (rc) return rc;
  if (count >= 0 && (size_t)count != t->nrow)
    return nimc_err_set(err, NIMC_EDATA,
                        "%s:%ld: %zu data rows, but line %ld announces %ld (a "
                        "file cut short?)",
                        tx->path, t->line[t->nrow - 1], t->nrow, pline, count);
  snprintf(t->technique, sizeof t->technique, "%s", tech);
  t->im_sign = 1;
  snprintf(t->format, sizeof t->format,
           "%s text, comma-separated, Z'(a), Z''(b) in ohm",
           z60w ? "Z60W" : "ZPlotW");
  return NIMC_OK;
}

/* ======================================================================
 * The zplot reader: ZPlot 2 and ZPlotW
 * ====================================================================== */

/* 10 for "ZPLOT2 ASCII" or a quoted "ZPlotW Data File" first, else 0. */
int nimc_zplot_detect(const unsigned char *head, size_t n) {
  char first[32];
  head_line(head, n, first, sizeof first);
  if (strcmp(first, "ZPLOT2 ASCII") == 0) return 10;
  if (strncmp(first, "\"ZPlotW Data File", 17) == 0) return 10;
  return 0;
}

/* Read a ZPlot 2 or ZPlotW file, told apart by the first line. */
int nimc_zplot_read(FILE *fp, const char *path, nimc_dtable *t, nimc_err *err) {
  unsigned char head[32];
  size_t n = fread(head, 1, sizeof head, fp);
  if (ferror(fp) || fseek(fp, 0, SEEK_SET) != 0)
    return nimc_err_set(err, NIMC_EIO, "%s: cannot read: %s", path,
                        strerror(errno));
  char first[32];
  head_line(head, n, first, sizeof first);
  return run_parser(fp, path, t, err,
                    strncmp(first, "\"ZPlotW Data File", 17) == 0
                        ? z60w_parse
                        : zplot2_parse);
}

/* ======================================================================
 * The autolab reader: the Z60W export, or Nova's ASCII export
 *
 * Nova writes a header line such as "Index;Frequency (Hz);Z' (Ω);-Z''
 * (Ω);Z (Ω);-Phase (°);Time (s)" and ';'- or tab-separated rows: a text
 * table that the csv reader reads as it is (the header says -Z''), so this
 * reader only recognises it and hands it over.
 * ====================================================================== */

/* Does the first line hold Nova's names for frequency, Z' and -Z'', with
 * its ohm signs (U+03A9)?  A plain "Z' (Ohm)" is any table's, left to the
 * csv reader. */
static int nova_header(const char *line) {
  return strstr(line, "Frequency (Hz)") && strstr(line, "Z' (\xce\xa9)") &&
         strstr(line, "-Z'' (\xce\xa9)");
}

/* 10 for a quoted "Z60W Data File" first, 5 for Nova's header, else 0
 * (a plain table with such names is the csv reader's). */
int nimc_autolab_detect(const unsigned char *head, size_t n) {
  char first[512];
  head_line(head, n, first, sizeof first);
  if (strncmp(first, "\"Z60W Data File", 15) == 0) return 10;
  if (nova_header(first)) return 5;
  return 0;
}

/* Read a Z60W export, or hand a Nova export to the csv reader and say so
 * in the format's words. */
int nimc_autolab_read(FILE *fp, const char *path, nimc_dtable *t,
                      nimc_err *err) {
  unsigned char head[32];
  size_t n = fread(head, 1, sizeof head, fp);
  if (ferror(fp) || fseek(fp, 0, SEEK_SET) != 0)
    return nimc_err_set(err, NIMC_EIO, "%s: cannot read: %s", path,
                        strerror(errno));
  char first[32];
  head_line(head, n, first, sizeof first);
  if (strncmp(first, "\"Z60W Data File", 15) == 0)
    return run_parser(fp, path, t, err, z60w_parse);
  int rc = nimc_csv_read(fp, path, t, err);
  if (rc) return rc;
  char fmt[sizeof t->format];
  snprintf(fmt, sizeof fmt, "%s", t->format);
  snprintf(t->format, sizeof t->format, "Autolab Nova export, %.60s", fmt);
  return NIMC_OK;
}
