/*
 * datafile.h -- what every reader of measured data fills, and the row a
 * reader adds to the table of readers in io/spectrum_read.c.
 *
 * Instruments write their data in many shapes (CSV with or without a
 * header, BioLogic .mpt/.mpr, Gamry .DTA, CH Instruments, Autolab, ZPlot
 * .z, ...).  A reader only turns its format into a table of named columns
 * with units (nimc_dtable); picking the frequency, Re Z and Im Z columns,
 * converting units, the sign convention of Im Z and the checks of the
 * frequencies are done once, on the table, for every format alike
 * (spectrum_read.c).  Adding a format is a new file with a detect and a
 * read function and one row in the reader table.
 *
 * A cell that is not a finite number is stored as NaN and remembered (the
 * first such cell of each column, with its text), so that a column nobody
 * uses (a comment, a phase in degrees) may hold anything, while a used one
 * is reported by line and column.
 */
#ifndef NIMC_DATAFILE_H
#define NIMC_DATAFILE_H

#include <stddef.h>
#include <stdio.h>

#include "nimc/nimc.h"

#define NIMC_DT_MAXCOL 256          /* most columns a table may have */
#define NIMC_DT_MAXROW 10000000     /* most data rows a file may have */
#define NIMC_DT_MAXLINE (64 * 1024) /* longest line (bytes, no line end) */

/* Why a cell is not a number. */
typedef enum nimc_dcell {
  NIMC_DCELL_OK = 0,
  NIMC_DCELL_EMPTY,    /* nothing between the delimiters */
  NIMC_DCELL_TEXT,     /* not a number */
  NIMC_DCELL_NONFINITE /* a number, but NaN or infinite (or overflows) */
} nimc_dcell;

typedef struct nimc_dcol {
  char name[128]; /* the header's text for the column, "" without one */
  double *v;      /* nrow values; NaN where the cell is not a number */
  size_t nbad;    /* cells that are not finite numbers */
  size_t bad_row; /* the first of them (row index), when nbad > 0 */
  nimc_dcell bad_kind;
  char bad_text[48]; /* its text, printable, shortened */
} nimc_dcol;

typedef struct nimc_dtable {
  const char *path; /* for messages; not owned */
  size_t ncol, nrow, cap;
  nimc_dcol *col;   /* ncol columns */
  long *line;       /* nrow file lines, one per row (1-based) */
  long header_line; /* line of the header, 0 when there is none */
  char format[96];  /* the reader's words for what it found ("';'-separated,
                       decimal commas"); the how sentence quotes them */
  int binary;       /* line[] and header_line are byte offsets (a binary
                       file has no lines); messages say "byte" */
  char technique[32]; /* the instrument's name for the technique, as the
                         file gives it ("GCPL", "CV", "PEIS", "OCV"), or ""
                         when the format does not say */
  int im_sign;        /* the format's own sign of its imaginary column: +1
                         it is Im Z, -1 it is -Im Z, 0 the format does not
                         fix it (the header or the data decide) */
} nimc_dtable;

/* Start an empty table of ncol columns (1 .. NIMC_DT_MAXCOL) named after
 * names[] (may be NULL: no header); NIMC_ENOMEM. */
int nimc_dtable_init(nimc_dtable *t, const char *path, size_t ncol,
                     const char *const *names);
/* Append a row read from file line `line` with every cell NaN; its index
 * is t->nrow - 1 afterwards.  NIMC_ENOMEM. */
int nimc_dtable_add_row(nimc_dtable *t, long line);
/* Set a cell of the last row: a finite value, or why it is not one (text is
 * the cell as written, for the message). */
void nimc_dtable_set(nimc_dtable *t, size_t col, double v);
void nimc_dtable_set_bad(nimc_dtable *t, size_t col, nimc_dcell why,
                         const char *text);
/* Release the table's arrays and zero it. */
void nimc_dtable_free(nimc_dtable *t);

/* One data format.  detect() looks at the first bytes of the file (up to
 * 4 KiB; n may be 0) and answers how sure it is that they are its format:
 * 0 not at all, 1 "a text table, as a last resort", higher for a format
 * that has its own signature.  read() fills t from fp (at its start) or
 * fails with NIMC_EDATA / NIMC_EIO / NIMC_ENOMEM and a message that names
 * the file and the line. */
typedef struct nimc_reader {
  const char *name; /* "csv": what --format accepts */
  const char *what; /* a few words for the list of formats */
  int (*detect)(const unsigned char *head, size_t n);
  int (*read)(FILE *fp, const char *path, nimc_dtable *t, nimc_err *err);
} nimc_reader;

/* Read the data file at path into t with the reader called format (NULL
 * or "auto": the one whose detect() scores highest); *used (may be NULL)
 * receives the reader.  NIMC_EINPUT for an unknown format name, NIMC_EIO
 * when the file cannot be opened, else the reader's errors.  On failure t
 * holds nothing.  (io/spectrum_read.c: the table of readers lives there.) */
int nimc_dtable_read(const char *path, const char *format, nimc_dtable *t,
                     const nimc_reader **used, nimc_err *err);
/* The same on a stream that is already open: fp at its start and seekable
 * (a file, or fmemopen'd bytes); path only names it in messages.  fp stays
 * open and belongs to the caller. */
int nimc_dtable_read_fp(FILE *fp, const char *path, const char *format,
                        nimc_dtable *t, const nimc_reader **used,
                        nimc_err *err);

/* The readers of other files than spectrum_read.c, rows of its table
 * (io/read_biologic.c).  A binary file has no lines: the mpr reader's
 * line[] and header_line are byte offsets (of each record, of the
 * column-ID list), and its format words say so. */
extern const nimc_reader nimc_reader_mpt; /* BioLogic EC-Lab text export */
extern const nimc_reader nimc_reader_mpr; /* BioLogic EC-Lab binary file */

/* The csv reader (spectrum_read.c), for readers of formats that are a
 * text table once recognised. */
int nimc_csv_read(FILE *fp, const char *path, nimc_dtable *t, nimc_err *err);

/* The text exports of impedance instruments (io/read_text_eis.c): Gamry
 * .DTA, CH Instruments, ZPlot .z (ZPlot 2 and ZPlotW), Autolab (Z60W and
 * Nova exports). */
int nimc_gamry_detect(const unsigned char *head, size_t n);
int nimc_gamry_read(FILE *fp, const char *path, nimc_dtable *t, nimc_err *err);
int nimc_chi_detect(const unsigned char *head, size_t n);
int nimc_chi_read(FILE *fp, const char *path, nimc_dtable *t, nimc_err *err);
int nimc_zplot_detect(const unsigned char *head, size_t n);
int nimc_zplot_read(FILE *fp, const char *path, nimc_dtable *t, nimc_err *err);
int nimc_autolab_detect(const unsigned char *head, size_t n);
int nimc_autolab_read(FILE *fp, const char *path, nimc_dtable *t,
                      nimc_err *err);

/* The readers of io/spectrum_read.c's table, in the order auto-detection
 * asks them: nimc_reader_count() of them, nimc_reader_at(i) the i-th (NULL
 * past the end).  For tests and fuzz targets that must cover every reader
 * without naming them (tests/test_reader_corpus.c, tests/fuzz/). */
size_t nimc_reader_count(void);
const nimc_reader *nimc_reader_at(size_t i);

/* nimc_data_read on a stream that is already open (as
 * nimc_spectrum_read_fp; io/data_read.c). */
int nimc_data_read_fp(FILE *fp, const char *path, const nimc_read_opts *opts,
                      nimc_data *out, char *how, size_t howlen,
                      nimc_err *err);

/* nimc_spectrum_read on a stream that is already open: fp at its start and
 * seekable (a file, or fmemopen'd bytes); path only names it in messages.
 * fp stays open and belongs to the caller. */
int nimc_spectrum_read_fp(FILE *fp, const char *path,
                          const nimc_read_opts *opts, nimc_spectrum *out,
                          char *how, size_t howlen, nimc_err *err);

#endif /* NIMC_DATAFILE_H */
