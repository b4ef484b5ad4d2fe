/*
 * plot.c -- the figures, drawn by gnuplot: the GCD figure (voltage against
 * time), several curves on one pair of axes (nimc_plot_curves), panels of
 * them (nimc_plot_panels, nimc_plot_panels_text with typeset units), and
 * maps of the fields over the cross-section (nimc_plot_fields).
 *
 * The data (STEM.dat) and a self-contained script (STEM.gp) are written
 * next to the figures; gnuplot is then started with fork/execvp, no shell,
 * in that directory, with its stdout and stderr sent to a log (gnuplot.log
 * for the GCD figure, STEM.log for the others, so that several figures in
 * one directory keep their own) and the names of temporary output files
 * passed with -e.  Only when gnuplot exits cleanly and both files are
 * non-empty are they renamed to STEM.png and STEM.svg, so a failed run
 * never leaves a truncated figure where an old one was.  Run by hand, the
 * script writes STEM.png and STEM.svg directly.  A failure to start
 * gnuplot is reported from the child through a close-on-exec pipe, so "not
 * installed" is told apart from "failed".  The library prints nothing:
 * what gnuplot says stays in the log, and the error message quotes its
 * last line.
 *
 * The PNG is drawn for print, at 300 dpi (twice the SVG's pixels, fonts
 * and lines scaled alike, the resolution written into the file's pHYs
 * chunk; a PNG redrawn by hand from STEM.gp has the pixels, not the
 * mark).  Which figures a run gets, by its technique, is runfig.c's.
 *
 * Units are converted here, at the edge, for the reader of the figure
 * (mm and um for lengths, A/cm3 for the reaction current); the data files
 * say which in their first line.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/params.h"
#include "nimc/report.h"

#define TITLE_MAX 200

#define STEM_MAX 48

/* The files of one figure: final and temporary names, each dir/name. */
typedef struct files {
  char dat[NIMC_PATH_MAX], gp[NIMC_PATH_MAX], log[NIMC_PATH_MAX];
  char png[NIMC_PATH_MAX], svg[NIMC_PATH_MAX];
  char png_tmp[NIMC_PATH_MAX], svg_tmp[NIMC_PATH_MAX];
  char stem[STEM_MAX];             /* the figure's base name */
  char gp_name[STEM_MAX + 4];      /* the script, relative to dir */
  char png_name[96], svg_name[96]; /* temporaries relative to dir */
} files;

/* dir/name into buf; 0, or -1 when it does not fit. */
static int join(char *buf, const char *dir, const char *name) {
  int n = snprintf(buf, NIMC_PATH_MAX, "%s/%s", dir, name);
  return n < 0 || n >= NIMC_PATH_MAX ? -1 : 0;
}

/* The system's text for errnum into buf. */
static void reason(int errnum, char *buf, size_t cap) {
  if (strerror_r(errnum, buf, cap) != 0) snprintf(buf, cap, "error %d", errnum);
}

/* The last non-empty line of the file at path (for messages), or "". */
static void last_line(const char *path, char *buf, size_t cap) {
  char line[TITLE_MAX];
  FILE *f = fopen(path, "r");
  buf[0] = '\0';
  if (!f) return;
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\r\n")] = '\0';
    if (line[0]) snprintf(buf, cap, "%s", line);
  }
  fclose(f);
}

/* Append to b (capacity cap, length *len) the text of a gnuplot
 * single-quoted string: quotes doubled, control characters as blanks. */
static void put_quoted(char *b, size_t cap, size_t *len, const char *s) {
  for (size_t k = 0; s[k] && k < TITLE_MAX && *len + 3 < cap; k++) {
    char c = s[k];
    if (c == '\'') b[(*len)++] = '\'';
    b[(*len)++] = (unsigned char)c < 0x20 || c == 0x7f ? ' ' : c;
  }
  b[*len] = '\0';
}

/* The PNGs are drawn for print at 300 dots per inch: a figure the SVG
 * draws w x h pixels is a PNG of 2w x 2h pixels (960 x 640 -> 1920 x 1280,
 * 6.4 x 4.27 in), with fonts and lines scaled alike so that it looks as
 * the SVG does, and mark_dpi writes the resolution into the PNG (its pHYs
 * chunk) so that it prints at that size. */
#define PNG_DPI 300
#define DPI_SCALE 2.0

/* Append to b the PNG terminal of a figure of width x height (SVG
 * pixels): pngcairo where there is one. */
static void png_terminal(char *b, size_t cap, size_t *len, int width,
                         int height) {
  int w = (int)lround(width * DPI_SCALE), h = (int)lround(height * DPI_SCALE);
  int n = snprintf(b + *len, cap - *len,
                   "set encoding utf8\n"
                   "if (strstrt(GPVAL_TERMINALS, \"pngcairo\") > 0) {\n"
                   "  set terminal pngcairo size %d,%d fontscale %.4g "
                   "linewidth %.4g\n"
                   "} else {\n  set terminal png size %d,%d\n}\n",
                   w, h, DPI_SCALE, DPI_SCALE, w, h);
  if (n > 0) *len += (size_t)n < cap - *len ? (size_t)n : cap - *len - 1;
}

/* Write gcd.dat and gcd.gp. */
static int write_inputs(const nimc_series *s, const files *f, const char *title,
                        nimc_err *err) {
  enum { ROW_MAX = 40, SCRIPT_MAX = 4096 }; /* 2 x "%.10g" <= 17 + 2 */
  if (s->n > (SIZE_MAX - SCRIPT_MAX) / ROW_MAX)
    return nimc_err_set(err, NIMC_ENOMEM, "out of memory");
  size_t cap = SCRIPT_MAX + s->n * ROW_MAX, len;
  char *b = malloc(cap);
  int rc;
  if (!b) return nimc_err_set(err, NIMC_ENOMEM, "out of memory");
  len = (size_t)snprintf(b, cap, "# time_s voltage_V\n");
  for (size_t k = 0; k < s->n; k++)
    len += (size_t)snprintf(b + len, cap - len, "%.10g %.10g\n", s->time_s[k],
                            s->voltage_V[k]);
  rc = nimc_write_atomic(f->dat, b, len, err);
  if (rc) goto cleanup;
  len = (size_t)snprintf(
      b, cap,
      "# gcd.gp -- voltage against time, written by nimc.  Run 'gnuplot "
      "gcd.gp' in\n# this directory to redraw gcd.png and gcd.svg.\n"
      "if (!exists(\"png\")) png = \"gcd.png\"\n"
      "if (!exists(\"svg\")) svg = \"gcd.svg\"\n"
      "set xlabel \"time (s)\"\nset ylabel \"voltage (V)\"\n"
      "set grid\nset key off\n"
      "set style line 1 linecolor rgb \"#1f4e9a\" linewidth 2\n"
      "set title '");
  put_quoted(b, cap, &len, title ? title : "");
  len += (size_t)snprintf(b + len, cap - len, "' noenhanced\n");
  png_terminal(b, cap, &len, 960, 640);
  len += (size_t)snprintf(
      b + len, cap - len,
      "set output png\n"
      "plot \"gcd.dat\" using 1:2 with lines linestyle 1\n"
      "set terminal svg size 960,640\nset output svg\nreplot\nunset output\n");
  rc = nimc_write_atomic(f->gp, b, len, err);
cleanup:
  free(b);
  return rc;
}

/* Run gnuplot on gcd.gp in dir, output to f->log; NIMC_EEXTERNAL with the
 * reason when it cannot start or fails. */
static int run_gnuplot(const char *dir, const files *f, nimc_err *err) {
  char defs[2 * 96 + 32], tail[TITLE_MAX], why[128];
  int logfd = -1, pfd[2] = {-1, -1}, rc = NIMC_OK, status = 0;
  int report[2] = {0, 0}; /* child's failed stage (1 chdir, 2 exec), errno */
  snprintf(defs, sizeof defs, "png='%s'; svg='%s'", f->png_name, f->svg_name);
  char *argv[] = {"gnuplot", "-e", defs, (char *)f->gp_name, NULL};
  logfd = open(f->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (logfd < 0) {
    reason(errno, why, sizeof why);
    return nimc_err_set(err, NIMC_EIO, "cannot write '%s': %s", f->log, why);
  }
  if (pipe(pfd) != 0 || fcntl(pfd[0], F_SETFD, FD_CLOEXEC) != 0 ||
      fcntl(pfd[1], F_SETFD, FD_CLOEXEC) != 0) {
    reason(errno, why, sizeof why);
    rc = nimc_err_set(err, NIMC_EEXTERNAL, "cannot run gnuplot: %s", why);
    goto cleanup;
  }
  pid_t pid = fork();
  if (pid < 0) {
    reason(errno, why, sizeof why);
    rc = nimc_err_set(err, NIMC_EEXTERNAL, "cannot run gnuplot: %s", why);
    goto cleanup;
  }
  if (pid == 0) { /* child: only async-signal-safe calls until exec */
    int nul = open("/dev/null", O_RDONLY);
    if (nul >= 0) dup2(nul, 0);
    dup2(logfd, 1);
    dup2(logfd, 2);
    report[0] = 1;
    if (chdir(dir) == 0) {
      report[0] = 2;
      execvp(argv[0], argv);
    }
    report[1] = errno;
    ssize_t w = write(pfd[1], report, sizeof report);
    _exit(w == (ssize_t)sizeof report ? 127 : 126);
  }
  close(pfd[1]);
  pfd[1] = -1;
  ssize_t n;
  do
    n = read(pfd[0], report, sizeof report);
  while (n < 0 && errno == EINTR);
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      reason(errno, why, sizeof why);
      rc =
          nimc_err_set(err, NIMC_EEXTERNAL, "cannot wait for gnuplot: %s", why);
      goto cleanup;
    }
  }
  if (n == (ssize_t)sizeof report) {
    reason(report[1], why, sizeof why);
    dprintf(logfd, "nimc: cannot %s: %s\n",
            report[0] == 1 ? "enter the output directory" : "execute gnuplot",
            why);
    rc = nimc_err_set(err, NIMC_EEXTERNAL,
                      report[0] == 1
                          ? "cannot run gnuplot in '%s': %s (see %s)"
                          : "cannot run gnuplot%.0s: %s (is gnuplot installed "
                            "and on PATH? see %s)",
                      dir, why, f->log);
    goto cleanup;
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    last_line(f->log, tail, sizeof tail);
    if (WIFSIGNALED(status))
      snprintf(why, sizeof why, "was killed by signal %d", WTERMSIG(status));
    else
      snprintf(why, sizeof why, "failed (exit status %d)",
               WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    rc = nimc_err_set(err, NIMC_EEXTERNAL, "gnuplot %s on '%s'; see %s%s%s",
                      why, f->gp, f->log, tail[0] ? ": " : "", tail);
  }
cleanup:
  if (pfd[0] >= 0) close(pfd[0]);
  if (pfd[1] >= 0) close(pfd[1]);
  close(logfd);
  return rc;
}

/* Has the file at path some content? */
static int non_empty(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
}

/* Is stem a plain file name of letters, digits, '_', '-', '.' (it goes
 * into scripts and messages unquoted)? */
static int stem_ok(const char *stem) {
  size_t n = stem ? strlen(stem) : 0;
  if (n == 0 || n >= STEM_MAX || stem[0] == '.') return 0;
  for (size_t k = 0; k < n; k++) {
    char c = stem[k];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
      return 0;
  }
  return 1;
}

/* Fill f with the names of figure stem in dir, its log named log_name. */
static int files_init(files *f, const char *dir, const char *stem,
                      const char *log_name, nimc_err *err) {
  char name[STEM_MAX + 8];
  snprintf(f->stem, sizeof f->stem, "%s", stem);
  snprintf(f->gp_name, sizeof f->gp_name, "%s.gp", stem);
  /* the temporaries' names are made by mkstemp in draw() */
  snprintf(f->png_name, sizeof f->png_name, "%s.png.tmp.XXXXXX", stem);
  snprintf(f->svg_name, sizeof f->svg_name, "%s.svg.tmp.XXXXXX", stem);
  int bad = join(f->gp, dir, f->gp_name) || join(f->log, dir, log_name) ||
            join(f->png_tmp, dir, f->png_name) ||
            join(f->svg_tmp, dir, f->svg_name);
  snprintf(name, sizeof name, "%s.dat", stem);
  bad = bad || join(f->dat, dir, name);
  snprintf(name, sizeof name, "%s.png", stem);
  bad = bad || join(f->png, dir, name);
  snprintf(name, sizeof name, "%s.svg", stem);
  bad = bad || join(f->svg, dir, name);
  if (bad)
    return nimc_err_set(err, NIMC_EINPUT,
                        "output directory name too long: '%.100s...'", dir);
  return NIMC_OK;
}

/* Create the temporary tmp (a mkstemp template dir/NAME.tmp.XXXXXX) and
 * write its final name back into name, its name relative to dir. */
static int make_temporary(char *tmp, char *name, size_t namelen) {
  int fd = mkstemp(tmp);
  if (fd < 0) return -1;
  (void)fchmod(fd, 0644); /* mkstemp's 0600 would stay with the figure */
  close(fd);
  const char *slash = strrchr(tmp, '/'), *base = slash ? slash + 1 : tmp;
  size_t n = strlen(base); /* as long as the template's name: it fits */
  if (n >= namelen) {
    unlink(tmp);
    errno = ENAMETOOLONG;
    return -1;
  }
  memcpy(name, base, n + 1);
  return 0;
}

/* The CRC of PNG chunks (ISO 3309, as the PNG specification gives it). */
static uint32_t png_crc(const unsigned char *b, size_t n) {
  uint32_t c = 0xffffffffu;
  for (size_t k = 0; k < n; k++) {
    c ^= b[k];
    for (int j = 0; j < 8; j++)
      c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
  }
  return c ^ 0xffffffffu;
}

static void put_be32(unsigned char *b, uint32_t v) {
  b[0] = (unsigned char)(v >> 24), b[1] = (unsigned char)(v >> 16);
  b[2] = (unsigned char)(v >> 8), b[3] = (unsigned char)v;
}

/* Write PNG_DPI into the PNG at path: a pHYs chunk after its IHDR (the
 * place the specification allows), unless it has one.  0, or -1 with
 * errno (EINVAL: not a PNG as gnuplot writes them). */
static int mark_dpi(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  unsigned char *b = NULL;
  size_t n = 0, cap = 0, got;
  do {
    if (n == cap) {
      unsigned char *nb = realloc(b, cap = 2 * cap + 65536);
      if (!nb) {
        free(b), fclose(f);
        errno = ENOMEM;
        return -1;
      }
      b = nb;
    }
    got = fread(b + n, 1, cap - n, f);
    n += got;
  } while (got > 0);
  fclose(f);
  /* signature (8), IHDR: length 13, type, data, CRC (25) */
  if (n < 33 || memcmp(b, "\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR", 16)) {
    free(b);
    errno = EINVAL;
    return -1;
  }
  for (size_t at = 8; at + 12 <= n;) { /* the chunks before the image */
    size_t len = (size_t)b[at] << 24 | (size_t)b[at + 1] << 16 |
                 (size_t)b[at + 2] << 8 | b[at + 3];
    if (!memcmp(b + at + 4, "IDAT", 4)) break;
    if (!memcmp(b + at + 4, "pHYs", 4)) { /* already marked */
      free(b);
      return 0;
    }
    at += len + 12;
  }
  unsigned char c[21]; /* length, "pHYs", x and y per metre, unit, CRC */
  uint32_t ppm = (uint32_t)lround(PNG_DPI / 0.0254);
  put_be32(c, 9);
  memcpy(c + 4, "pHYs", 4);
  put_be32(c + 8, ppm);
  put_be32(c + 12, ppm);
  c[16] = 1; /* the metre */
  put_be32(c + 17, png_crc(c + 4, 13));
  int rc = -1;
  f = fopen(path, "wb");
  if (f) {
    int ok = fwrite(b, 1, 33, f) == 33 && fwrite(c, 1, 21, f) == 21 &&
             fwrite(b + 33, 1, n - 33, f) == n - 33;
    rc = fclose(f) == 0 && ok ? 0 : -1;
  }
  free(b);
  return rc;
}

/* Run the script written for f, then move its figures into place; the
 * temporaries (unique names from mkstemp, in dir) are gone afterwards
 * whatever happened. */
static int draw(const char *dir, files *f, nimc_err *err) {
  int rc;
  if (make_temporary(f->png_tmp, f->png_name, sizeof f->png_name) ||
      make_temporary(f->svg_tmp, f->svg_name, sizeof f->svg_name)) {
    char why[128];
    reason(errno, why, sizeof why);
    rc = nimc_err_set(err, NIMC_EIO,
                      "cannot create a temporary file in '%s': %s", dir, why);
    goto cleanup;
  }
  rc = run_gnuplot(dir, f, err);
  if (rc) goto cleanup;
  const char *missing = !non_empty(f->png_tmp)   ? f->png
                        : !non_empty(f->svg_tmp) ? f->svg
                                                 : NULL;
  if (missing) {
    rc = nimc_err_set(err, NIMC_EEXTERNAL, "gnuplot wrote no '%s' (see %s)",
                      missing, f->log);
    goto cleanup;
  }
  if (mark_dpi(f->png_tmp) != 0) {
    char why[128];
    reason(errno, why, sizeof why);
    rc = nimc_err_set(err, NIMC_EIO, "cannot mark '%s' as %d dpi: %s", f->png,
                      PNG_DPI, why);
    goto cleanup;
  }
  if (rename(f->png_tmp, f->png) != 0 || rename(f->svg_tmp, f->svg) != 0) {
    char why[128];
    reason(errno, why, sizeof why);
    rc = nimc_err_set(err, NIMC_EIO, "cannot move the figures into '%s': %s",
                      dir, why);
  }
cleanup:
  /* gone after a rename; a failed run's leftovers (a template that
   * mkstemp did not fill in names no file) */
  unlink(f->png_tmp);
  unlink(f->svg_tmp);
  return rc;
}

int nimc_plot_gcd(const nimc_series *s, const char *dir, const char *title,
                  nimc_err *err) {
  if (!s || !dir || (s->n && (!s->time_s || !s->voltage_V)))
    return nimc_err_set(err, NIMC_EMISUSE, "nimc_plot_gcd: NULL argument");
  if (s->n == 0)
    return nimc_err_set(err, NIMC_EINPUT,
                        "nothing to plot in '%s': the series is empty", dir);
  files *f = calloc(1, sizeof *f);
  int rc;
  if (!f) return nimc_err_set(err, NIMC_ENOMEM, "out of memory");
  if (!(rc = files_init(f, dir, "gcd", "gnuplot.log", err)) &&
      !(rc = write_inputs(s, f, title, err)))
    rc = draw(dir, f, err);
  free(f);
  return rc;
}

/* ---- a growing text buffer for data files and scripts ---- */

typedef struct sbuf {
  char *b;
  size_t len, cap;
  int oom; /* an allocation failed: the text is incomplete */
} sbuf;

static void sb_printf(sbuf *s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void sb_printf(sbuf *s, const char *fmt, ...) {
  if (s->oom) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(s->b ? s->b + s->len : NULL, s->b ? s->cap - s->len : 0,
                      fmt, ap);
    va_end(ap);
    if (n < 0) {
      s->oom = 1;
      return;
    }
    if (s->b && (size_t)n < s->cap - s->len) {
      s->len += (size_t)n;
      return;
    }
    size_t cap = 2 * s->cap + (size_t)n + 4096;
    char *b = realloc(s->b, cap);
    if (!b) {
      s->oom = 1;
      return;
    }
    s->b = b;
    s->cap = cap;
  }
}

/* Append text as the inside of a gnuplot single-quoted string. */
static void sb_quoted(sbuf *s, const char *text) {
  char q[2 * TITLE_MAX + 4];
  size_t len = 0;
  q[0] = '\0';
  put_quoted(q, sizeof q, &len, text ? text : "");
  sb_printf(s, "%s", q);
}

/* Write the text of s to path; NIMC_ENOMEM when building it failed. */
static int sb_write(const sbuf *s, const char *path, nimc_err *err) {
  if (s->oom) return nimc_err_set(err, NIMC_ENOMEM, "out of memory");
  return nimc_write_atomic(path, s->b ? s->b : "", s->len, err);
}

/* The opening of every script: the names of the figures, then the PNG
 * terminal (pngcairo where there is one) of the given size. */
static void script_head(sbuf *s, const char *stem, const char *what, int width,
                        int height) {
  char term[512];
  size_t len = 0;
  png_terminal(term, sizeof term, &len, width, height);
  sb_printf(s,
            "# %s.gp -- %s, written by nimc.  Run 'gnuplot %s.gp' in\n"
            "# this directory to redraw %s.png and %s.svg.\n"
            "if (!exists(\"png\")) png = \"%s.png\"\n"
            "if (!exists(\"svg\")) svg = \"%s.svg\"\n%s",
            stem, what, stem, stem, stem, stem, stem, term);
}

/* ---- several curves on one pair of axes ---- */

/* Line colours: curves of one colour index share one of these. */
static const char *const palette8[] = {"#1f4e9a", "#c0392b", "#2e8b57",
                                       "#8e44ad", "#d68910", "#17a2b8",
                                       "#555555", "#a0522d"};

/* Is point k of curve c drawn (finite, and positive on a log axis)? */
static int drawn(const nimc_curve *c, size_t k, const nimc_axes *ax) {
  double x = c->x[k], y = c->y[k];
  return isfinite(x) && isfinite(y) && (!ax->logx || x > 0) &&
         (!ax->logy || y > 0);
}

/* Write the data of the panels' curves, one gnuplot index block per curve
 * with a point to draw (a point that is not drawn breaks the line); *blocks
 * receives the block of each curve, -1 when it has none.  Returns the
 * number of blocks. */
static size_t panels_data(sbuf *dat, const nimc_panel *p, size_t np,
                          long *blocks) {
  size_t nb = 0, idx = 0;
  sb_printf(dat, "# x y, one block per curve\n");
  for (size_t q = 0; q < np; q++)
    for (size_t c = 0; c < p[q].ncurves; c++, idx++) {
      const nimc_curve *cv = &p[q].curves[c];
      size_t shown = 0;
      for (size_t k = 0; k < cv->n; k++)
        shown += (size_t)drawn(cv, k, &p[q].axes);
      blocks[idx] = -1;
      if (!shown) continue;
      sb_printf(dat, "# panel %zu curve %zu: %s\n", q, c,
                cv->label ? cv->label : "");
      int gap = 0;
      for (size_t k = 0; k < cv->n; k++) {
        if (drawn(cv, k, &p[q].axes)) {
          sb_printf(dat, "%.10g %.10g\n", cv->x[k], cv->y[k]);
          gap = 0;
        } else if (!gap) {
          sb_printf(dat, "\n");
          gap = 1;
        }
      }
      sb_printf(dat, "%s\n\n", gap ? "# (gap)" : "");
      blocks[idx] = (long)nb++;
    }
  return nb;
}

/* The plot command of one panel. */
static void panel_script(sbuf *gp, const char *stem, const nimc_panel *p,
                         const long *blocks, int enhanced) {
  const nimc_axes *ax = &p->axes;
  const char *how = enhanced ? "enhanced" : "noenhanced";
  sb_printf(gp, "set xlabel '");
  sb_quoted(gp, ax->xlabel);
  sb_printf(gp, "' %s\nset ylabel '", how);
  sb_quoted(gp, ax->ylabel);
  sb_printf(gp, "' %s\nset title '", how);
  sb_quoted(gp, ax->title);
  sb_printf(gp, "' %s\n%s\n%s\n", how,
            ax->logx ? "set logscale x" : "unset logscale x",
            ax->logy ? "set logscale y" : "unset logscale y");
  sb_printf(gp, "set format x '%s'\n",
            ax->logx && enhanced ? "10^{%L}" : "% h");
  if (ax->equal) {
    /* one scale: a square frame whose two ranges have the same span,
     * each centred on the data */
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (size_t c = 0; c < p->ncurves; c++)
      for (size_t k = 0; k < p->curves[c].n; k++) {
        if (!drawn(&p->curves[c], k, ax)) continue;
        x0 = fmin(x0, p->curves[c].x[k]), x1 = fmax(x1, p->curves[c].x[k]);
        y0 = fmin(y0, p->curves[c].y[k]), y1 = fmax(y1, p->curves[c].y[k]);
      }
    double span = 1.08 * fmax(x1 - x0, y1 - y0);
    if (isfinite(span) && span > 0.0) {
      double xc = 0.5 * (x0 + x1), yc = 0.5 * (y0 + y1);
      sb_printf(gp,
                "set size square\nset key top left\nset xrange [%.10g:%.10g]\n"
                "set yrange [%.10g:%.10g]\n",
                xc - 0.5 * span, xc + 0.5 * span, yc - 0.5 * span,
                yc + 0.5 * span);
    } else {
      sb_printf(gp, "set size ratio -1\n");
    }
  } else {
    sb_printf(gp, "set size noratio\nset autoscale xy\nset key top right\n");
  }
  size_t left = 0;
  for (size_t c = 0; c < p->ncurves; c++)
    left += blocks[c] >= 0;
  if (!left) { /* nothing finite: an empty frame that says so (gnuplot
                   cannot autoscale a plot without a point) */
    sb_printf(gp, "set xrange [0:1]\nset yrange [0:1]\n"
                  "set label 99 'no value to draw' at graph 0.5,0.5 center\n"
                  "plot NaN notitle\nunset label 99\n");
    return;
  }
  sb_printf(gp, "plot \\\n");
  for (size_t c = 0; c < p->ncurves; c++) {
    if (blocks[c] < 0) continue;
    const nimc_curve *cv = &p->curves[c];
    int colour = cv->color > 0 ? cv->color - 1 : (int)c;
    const char *rgb = palette8[colour % 8];
    sb_printf(gp, "  \"%s.dat\" index %ld using 1:2 ", stem, blocks[c]);
    if (cv->markers == 1)
      sb_printf(gp,
                "with points pointtype 7 pointsize 1.2 linecolor rgb \"%s\"",
                rgb);
    else if (cv->markers == 2)
      sb_printf(gp,
                "with linespoints pointtype 6 pointsize 1.2 linewidth 2 "
                "linecolor rgb \"%s\"",
                rgb);
    else
      sb_printf(gp, "with lines linewidth 2 linecolor rgb \"%s\"", rgb);
    if (cv->label) {
      sb_printf(gp, " title '");
      sb_quoted(gp, cv->label);
      sb_printf(gp, "' %s", how);
    } else {
      sb_printf(gp, " notitle");
    }
    sb_printf(gp, "%s\n", --left ? ", \\" : "");
  }
}

int nimc_plot_panels(const nimc_panel *panels, size_t npanels,
                     const char *title, const char *dir, const char *stem,
                     nimc_err *err) {
  return nimc_plot_panels_text(panels, npanels, title, 0, dir, stem, err);
}

int nimc_plot_panels_text(const nimc_panel *panels, size_t npanels,
                          const char *title, int enhanced, const char *dir,
                          const char *stem, nimc_err *err) {
  if (!dir || !panels || npanels == 0)
    return nimc_err_set(err, NIMC_EMISUSE, "nimc_plot_panels: NULL argument");
  if (!stem_ok(stem))
    return nimc_err_set(err, NIMC_EMISUSE,
                        "nimc_plot_panels: bad figure name '%.60s'",
                        stem ? stem : "(null)");
  size_t ncurves = 0;
  for (size_t q = 0; q < npanels; q++) {
    if (panels[q].ncurves && !panels[q].curves)
      return nimc_err_set(err, NIMC_EMISUSE,
                          "nimc_plot_panels: panel %zu has no curves", q);
    for (size_t c = 0; c < panels[q].ncurves; c++)
      if (panels[q].curves[c].n &&
          (!panels[q].curves[c].x || !panels[q].curves[c].y))
        return nimc_err_set(err, NIMC_EMISUSE,
                            "nimc_plot_panels: curve %zu has no data", c);
    ncurves += panels[q].ncurves;
  }
  files *f = calloc(1, sizeof *f);
  long *blocks = calloc(ncurves ? ncurves : 1, sizeof *blocks);
  sbuf dat = {0}, gp = {0};
  int rc;
  if (!f || !blocks) {
    free(f), free(blocks);
    return nimc_err_set(err, NIMC_ENOMEM, "out of memory");
  }
  char logname[STEM_MAX + 8];
  snprintf(logname, sizeof logname, "%s.log", stem);
  if ((rc = files_init(f, dir, stem, logname, err))) goto cleanup;
  if (!panels_data(&dat, panels, npanels, blocks)) {
    rc = nimc_err_set(err, NIMC_EINPUT,
                      "nothing to plot in '%s/%s': no curve has a point", dir,
                      stem);
    goto cleanup;
  }
  int height = npanels > 1 ? 420 * (int)npanels : 640;
  script_head(&gp, stem, "curves", 960, height);
  sb_printf(&gp, "set grid\nset key top right\nset output png\n");
  for (int pass = 0; pass < 2; pass++) {
    if (pass) sb_printf(&gp, "set terminal svg size 960,%d\nset output svg\n",
                        height);
    if (npanels > 1) {
      sb_printf(&gp, "set multiplot layout %zu,1 title '", npanels);
      sb_quoted(&gp, title);
      sb_printf(&gp, "' %s\n",
                enhanced ? "enhanced" : "noenhanced");
    }
    for (size_t q = 0, idx = 0; q < npanels; idx += panels[q].ncurves, q++) {
      nimc_panel p = panels[q];
      if (npanels == 1 && !p.axes.title) p.axes.title = title;
      panel_script(&gp, stem, &p, blocks + idx, enhanced);
    }
    if (npanels > 1) sb_printf(&gp, "unset multiplot\n");
  }
  sb_printf(&gp, "unset output\n");
  if ((rc = sb_write(&dat, f->dat, err)) || (rc = sb_write(&gp, f->gp, err)))
    goto cleanup;
  rc = draw(dir, f, err);
cleanup:
  free(dat.b);
  free(gp.b);
  free(blocks);
  free(f);
  return rc;
}

int nimc_plot_curves(const nimc_curve *curves, size_t ncurves,
                     const char *xlabel, const char *ylabel, const char *title,
                     const char *dir, const char *stem, nimc_err *err) {
  if (!dir || (ncurves && !curves))
    return nimc_err_set(err, NIMC_EMISUSE, "nimc_plot_curves: NULL argument");
  nimc_panel p = {curves, ncurves, {xlabel, ylabel, title, 0, 0, 0}};
  return nimc_plot_panels(&p, 1, NULL, dir, stem, err);
}

/* ---- impedance spectra ---- */

/* The x and y arrays of a spectrum figure: Nyquist (Re Z, -Im Z), or Bode
 * (f, |Z|) and (f, -phase in degrees). */
typedef enum zview { Z_NYQUIST, Z_MODULUS, Z_PHASE } zview;

static int zcurves(const nimc_zcurve *z, size_t n, zview v, nimc_curve *out,
                   double **store) {
  for (size_t c = 0; c < n; c++) {
    const nimc_spectrum *s = z[c].s;
    size_t m = s ? s->n : 0;
    double *x = malloc(sizeof(double) * (m ? 2 * m : 1));
    if (!x) return -1;
    store[c] = x;
    double *y = x + m;
    for (size_t k = 0; k < m; k++) {
      double re = s->z_re_ohm[k], im = s->z_im_ohm[k];
      switch (v) {
      case Z_NYQUIST:
        x[k] = re, y[k] = -im;
        break;
      case Z_MODULUS:
        x[k] = s->freq_Hz[k], y[k] = hypot(re, im);
        break;
      case Z_PHASE:
        x[k] = s->freq_Hz[k], y[k] = -atan2(im, re) * 180.0 / 3.14159265358979323846;
        break;
      }
    }
    out[c] = (nimc_curve){z[c].label, x, y, m, z[c].markers, z[c].color};
  }
  return 0;
}

/* Check the arguments of the spectrum figures. */
static int zcheck(const nimc_zcurve *z, size_t n, const char *dir,
                  const char *fn, nimc_err *err) {
  if (!dir || !z || n == 0)
    return nimc_err_set(err, NIMC_EMISUSE, "%s: NULL argument", fn);
  for (size_t c = 0; c < n; c++)
    if (z[c].s && z[c].s->n &&
        (!z[c].s->freq_Hz || !z[c].s->z_re_ohm || !z[c].s->z_im_ohm))
      return nimc_err_set(err, NIMC_EMISUSE, "%s: spectrum %zu has no data",
                          fn, c);
  return NIMC_OK;
}

int nimc_plot_nyquist(const nimc_zcurve *z, size_t n, const char *title,
                      const char *dir, const char *stem, nimc_err *err) {
  int rc = zcheck(z, n, dir, "nimc_plot_nyquist", err);
  if (rc) return rc;
  nimc_curve *c = calloc(n, sizeof *c);
  double **store = calloc(n, sizeof *store);
  if (!c || !store || zcurves(z, n, Z_NYQUIST, c, store)) {
    rc = nimc_err_set(err, NIMC_ENOMEM, "out of memory");
  } else {
    nimc_panel p = {c, n, {"Re Z (ohm)", "-Im Z (ohm)", title, 0, 0, 1}};
    rc = nimc_plot_panels(&p, 1, NULL, dir, stem, err);
  }
  for (size_t k = 0; store && k < n; k++)
    free(store[k]);
  free(store), free(c);
  return rc;
}

int nimc_plot_bode(const nimc_zcurve *z, size_t n, const char *title,
                   const char *dir, const char *stem, nimc_err *err) {
  int rc = zcheck(z, n, dir, "nimc_plot_bode", err);
  if (rc) return rc;
  nimc_curve *c = calloc(2 * n, sizeof *c);
  double **store = calloc(2 * n, sizeof *store);
  if (!c || !store || zcurves(z, n, Z_MODULUS, c, store) ||
      zcurves(z, n, Z_PHASE, c + n, store + n)) {
    rc = nimc_err_set(err, NIMC_ENOMEM, "out of memory");
  } else {
    nimc_panel p[2] = {
        {c, n, {"frequency (Hz)", "|Z| (ohm)", NULL, 1, 1, 0}},
        {c + n, n, {"frequency (Hz)", "-phase (deg)", NULL, 1, 0, 0}}};
    rc = nimc_plot_panels(p, 2, title, dir, stem, err);
  }
  for (size_t k = 0; store && k < 2 * n; k++)
    free(store[k]);
  free(store), free(c);
  return rc;
}

/* ---- maps of the fields ---- */

/* The extent of what a field figure shows, over all its snapshots. */
typedef struct extent {
  int map;              /* 1: cross-section (z varies), 0: 1D stack */
  double x0, x1;        /* m */
  double z0, z1, z_top; /* m: shown window, top of the mesh */
  double finger;        /* m: the thickest electrode (0: none) */
  double c0, c1;        /* concentration range, mol/m3 */
  double r_abs;         /* largest |reaction| shown, A/m3 */
} extent;

/* Is cell i inside the shown z window? */
static int shown(const nimc_fields *f, size_t i, const extent *e) {
  return !e->map || f->z_m[i] - 0.5 * f->dz_m[i] < e->z1;
}

static void find_extent(const nimc_fields *const *f, size_t nf, extent *e) {
  double top = -INFINITY; /* of the electrodes */
  memset(e, 0, sizeof *e);
  /* the extent of every snapshot's cells; an electrode's thickness is
   * measured from the substrate (z = 0, or the mesh's bottom above it) */
  e->x0 = e->z0 = INFINITY;
  e->x1 = e->z_top = -INFINITY;
  for (size_t k = 0; k < nf; k++)
    for (size_t i = 0; i < f[k]->n; i++) {
      const double *z = f[k]->z_m, *dz = f[k]->dz_m;
      if (z[i] != f[0]->z_m[0]) e->map = 1;
      e->x0 = fmin(e->x0, f[k]->x_m[i] - 0.5 * f[k]->dx_m[i]);
      e->x1 = fmax(e->x1, f[k]->x_m[i] + 0.5 * f[k]->dx_m[i]);
      e->z0 = fmin(e->z0, z[i] - 0.5 * dz[i]);
      e->z_top = fmax(e->z_top, z[i] + 0.5 * dz[i]);
      if (f[k]->region[i] == NIMC_CELL_ANODE ||
          f[k]->region[i] == NIMC_CELL_CATHODE)
        top = fmax(top, z[i] + 0.5 * dz[i]);
    }
  double bottom = fmax(e->z0, 0.0);
  e->finger = top > bottom ? top - bottom : 0.0;
  e->z1 = e->finger > 0.0 ? fmin(bottom + 3.0 * e->finger, e->z_top) : e->z_top;
  e->c0 = INFINITY;
  e->c1 = -INFINITY;
  for (size_t k = 0; k < nf; k++)
    for (size_t i = 0; i < f[k]->n; i++) {
      if (!shown(f[k], i, e)) continue;
      double c = f[k]->c_mol_m3[i], r = f[k]->reaction_A_m3[i];
      if (isfinite(c)) e->c0 = fmin(e->c0, c), e->c1 = fmax(e->c1, c);
      if (isfinite(r)) e->r_abs = fmax(e->r_abs, fabs(r));
    }
  if (!(e->c0 <= e->c1)) e->c0 = 0.0, e->c1 = 1.0;
  if (e->c1 - e->c0 <= 1e-9 * fmax(fabs(e->c1), 1.0)) {
    double pad = fmax(1e-3 * fabs(e->c1), 1e-3);
    e->c0 -= pad, e->c1 += pad;
  }
  if (!(e->r_abs > 0.0)) e->r_abs = 1.0;
}

/* gnuplot's text for a number in data files: %.10g, NaN as "NaN". */
static void sb_num(sbuf *s, double v, const char *sep) {
  if (isfinite(v))
    sb_printf(s, "%.10g%s", v, sep);
  else
    sb_printf(s, "NaN%s", sep);
}

int nimc_plot_fields(const nimc_fields *const *f, const char *const *titles,
                     size_t nf, const char *dir, const char *stem,
                     nimc_err *err) {
  if (!dir || (nf && !f))
    return nimc_err_set(err, NIMC_EMISUSE, "nimc_plot_fields: NULL argument");
  if (!stem_ok(stem))
    return nimc_err_set(err, NIMC_EMISUSE,
                        "nimc_plot_fields: bad figure name '%.60s'",
                        stem ? stem : "(null)");
  for (size_t k = 0; k < nf; k++) {
    const nimc_fields *g = f[k];
    if (!g || (g->n && (!g->x_m || !g->z_m || !g->dx_m || !g->dz_m ||
                        !g->region || !g->c_mol_m3 || !g->reaction_A_m3)))
      return nimc_err_set(err, NIMC_EMISUSE,
                          "nimc_plot_fields: snapshot %zu has no data", k);
    if (g->n == 0)
      return nimc_err_set(err, NIMC_EINPUT,
                          "nothing to plot in '%s/%s': snapshot %zu is empty",
                          dir, stem, k);
  }
  if (nf == 0)
    return nimc_err_set(err, NIMC_EINPUT,
                        "nothing to plot in '%s/%s': no snapshot", dir, stem);
  files *fl = calloc(1, sizeof *fl);
  sbuf dat = {0}, gp = {0}, panels = {0};
  extent e;
  int rc;
  if (!fl) return nimc_err_set(err, NIMC_ENOMEM, "out of memory");
  char logname[STEM_MAX + 8];
  snprintf(logname, sizeof logname, "%s.log", stem);
  if ((rc = files_init(fl, dir, stem, logname, err))) goto cleanup;
  find_extent(f, nf, &e);

  /* lengths for the reader: x in mm on a cross-section or a wide stack,
   * in um across a thin one; z in um */
  const int x_um = !e.map && e.x1 - e.x0 < 1e-3;
  const double xs = x_um ? 1e6 : 1e3, zs = 1e6, rs = 1e-6; /* A/m3->A/cm3 */
  const char *xu = x_um ? "um" : "mm";

  /* data: one index block per snapshot, cells of the shown window */
  sb_printf(&dat,
            "# x_%s z_um half_dx_%s half_dz_um c_mol_m3 "
            "reaction_A_cm3 region, one block per snapshot\n",
            xu, xu);
  for (size_t k = 0; k < nf; k++) {
    const nimc_fields *g = f[k];
    sb_printf(&dat, "# snapshot %zu: %s, t = %.10g s\n", k,
              titles && titles[k] ? titles[k] : "", g->t_s);
    for (size_t i = 0; i < g->n; i++) {
      if (!shown(g, i, &e)) continue;
      sb_num(&dat, g->x_m[i] * xs, " ");
      sb_num(&dat, g->z_m[i] * zs, " ");
      sb_num(&dat, 0.5 * g->dx_m[i] * xs, " ");
      sb_num(&dat, 0.5 * g->dz_m[i] * zs, " ");
      sb_num(&dat, g->c_mol_m3[i], " ");
      sb_num(&dat, g->reaction_A_m3[i] * rs, " ");
      sb_printf(&dat, "%d\n", g->region[i]);
    }
    sb_printf(&dat, "\n\n");
  }

  /* the panels are drawn twice, once per terminal: a multiplot cannot be
   * replotted */
  int width = (int)(nf < 2 ? 960 : 640 * nf), height = 900;
  script_head(&gp, stem, "maps of the fields", width, height);
  sb_printf(&gp,
            "set style fill solid 1.0 noborder\n"
            "set xrange [%.10g:%.10g]\nset xlabel '%s (%s)'\n",
            e.x0 * xs, e.x1 * xs, e.map ? "x" : "position x", xu);
  const char *c_pal = "set palette defined (0 '#30123b', 0.25 '#4686fb', "
                      "0.5 '#1ae4b6', 0.75 '#f9ba38', 1 '#7a0403')";
  const char *r_pal = "set palette defined (0 '#2166ac', 0.5 '#f7f7f7', "
                      "1 '#b2182b')";
  char note[160] = "";
  if (e.map) {
    sb_printf(&gp, "set yrange [%.10g:%.10g]\n", e.z0 * zs, e.z1 * zs);
    if (e.z1 < e.z_top) {
      sb_printf(&gp, "set ylabel 'z (um), to 3x the thickest finger' "
                     "noenhanced\n");
      snprintf(note, sizeof note,
               "cross-section; z shown up to 3x the thickest electrode "
               "finger (%.3g um), the mesh reaches %.4g um",
               e.finger * zs, e.z_top * zs);
    } else {
      sb_printf(&gp, "set ylabel 'z (um)' noenhanced\n");
    }
  } else {
    sb_printf(&gp, "set grid\nset key off\n");
  }
  sb_printf(&panels,
            "set multiplot layout 2,%zu columnsfirst title '%s' "
            "noenhanced\n",
            nf, note);
  for (size_t k = 0; k < nf; k++) {
    const char *t = titles && titles[k] ? titles[k] : "";
    /* top: concentration; bottom: reaction current (columnsfirst) */
    for (int q = 0; q < 2; q++) {
      sb_printf(&panels, "set title '");
      sb_quoted(&panels, t);
      sb_printf(&panels, "%s%s, t = %.4g s' noenhanced\n", t[0] ? ": " : "",
                q ? "reaction current (A/cm3, > 0 anodic)"
                  : "salt concentration (mol/m3)",
                f[k]->t_s);
      if (e.map) {
        sb_printf(&panels, "%s\nset cbrange [%.10g:%.10g]\n", q ? r_pal : c_pal,
                  q ? -e.r_abs * rs : e.c0, q ? e.r_abs * rs : e.c1);
        sb_printf(&panels,
                  "plot \"%s.dat\" index %zu using 1:2:3:4:%d with "
                  "boxxyerror fillcolor palette notitle\n",
                  stem, k, q ? 6 : 5);
      } else {
        sb_printf(&panels, "set ylabel '%s' noenhanced\n",
                  q ? "reaction current (A/cm3)" : "concentration (mol/m3)");
        sb_printf(&panels, "set yrange [%.10g:%.10g]\n",
                  q ? -1.05 * e.r_abs * rs : e.c0,
                  q ? 1.05 * e.r_abs * rs : e.c1);
        sb_printf(&panels,
                  "plot \"%s.dat\" index %zu using 1:%d with linespoints "
                  "pointtype 7 pointsize 0.6 linewidth 2 linecolor rgb "
                  "\"%s\" notitle\n",
                  stem, k, q ? 6 : 5, q ? "#c0392b" : "#1f4e9a");
      }
    }
  }
  sb_printf(&panels, "unset multiplot\n");
  if (panels.oom) {
    rc = nimc_err_set(err, NIMC_ENOMEM, "out of memory");
    goto cleanup;
  }
  sb_printf(&gp, "set output png\n%s", panels.b);
  sb_printf(&gp,
            "set terminal svg size %d,%d\nset output svg\n%s"
            "unset output\n",
            width, height, panels.b);
  if ((rc = sb_write(&dat, fl->dat, err)) || (rc = sb_write(&gp, fl->gp, err)))
    goto cleanup;
  rc = draw(dir, fl, err);
cleanup:
  free(dat.b);
  free(gp.b);
  free(panels.b);
  free(fl);
  return rc;
}
