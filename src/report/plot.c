/*
 * plot.c -- the GCD figure (voltage against time), drawn by gnuplot.
 *
 * The data (gcd.dat) and a self-contained script (gcd.gp) are written next
 * to the figures; gnuplot is then started with fork/execvp, no shell, in
 * that directory, with its stdout and stderr sent to gnuplot.log and the
 * names of temporary output files passed with -e.  Only when gnuplot exits
 * cleanly and both files are non-empty are they renamed to gcd.png and
 * gcd.svg, so a failed run never leaves a truncated figure where an old
 * one was.  Run by hand, the script writes gcd.png and gcd.svg directly.
 * A failure to start gnuplot is reported from the child through a
 * close-on-exec pipe, so "not installed" is told apart from "failed".
 * The library prints nothing: what gnuplot says stays in the log, and the
 * error message quotes its last line.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/params.h"

#define TITLE_MAX 200

/* The files of one figure: final and temporary names, each dir/name. */
typedef struct files {
  char dat[NIMC_PATH_MAX], gp[NIMC_PATH_MAX], log[NIMC_PATH_MAX];
  char png[NIMC_PATH_MAX], svg[NIMC_PATH_MAX];
  char png_tmp[NIMC_PATH_MAX], svg_tmp[NIMC_PATH_MAX];
  char png_name[64], svg_name[64]; /* temporaries relative to dir */
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
  len += (size_t)snprintf(
      b + len, cap - len,
      "' noenhanced\n"
      "if (strstrt(GPVAL_TERMINALS, \"pngcairo\") > 0) {\n"
      "  set terminal pngcairo size 960,640\n"
      "} else {\n  set terminal png size 960,640\n}\n"
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
  char defs[2 * 64 + 32], tail[TITLE_MAX], why[128];
  int logfd = -1, pfd[2] = {-1, -1}, rc = NIMC_OK, status = 0;
  int report[2] = {0, 0}; /* child's failed stage (1 chdir, 2 exec), errno */
  snprintf(defs, sizeof defs, "png='%s'; svg='%s'", f->png_name, f->svg_name);
  char *argv[] = {"gnuplot", "-e", defs, "gcd.gp", NULL};
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

int nimc_plot_gcd(const nimc_series *s, const char *dir, const char *title,
                  nimc_err *err) {
  if (!s || !dir || (s->n && (!s->time_s || !s->voltage_V)))
    return nimc_err_set(err, NIMC_EMISUSE, "nimc_plot_gcd: NULL argument");
  if (s->n == 0)
    return nimc_err_set(err, NIMC_EINPUT,
                        "nothing to plot in '%s': the series is empty", dir);
  files *f = calloc(1, sizeof *f);
  int rc = NIMC_OK;
  if (!f) return nimc_err_set(err, NIMC_ENOMEM, "out of memory");
  long pid = (long)getpid();
  snprintf(f->png_name, sizeof f->png_name, "gcd.png.tmp.%ld", pid);
  snprintf(f->svg_name, sizeof f->svg_name, "gcd.svg.tmp.%ld", pid);
  if (join(f->dat, dir, "gcd.dat") || join(f->gp, dir, "gcd.gp") ||
      join(f->log, dir, "gnuplot.log") || join(f->png, dir, "gcd.png") ||
      join(f->svg, dir, "gcd.svg") || join(f->png_tmp, dir, f->png_name) ||
      join(f->svg_tmp, dir, f->svg_name)) {
    rc = nimc_err_set(err, NIMC_EINPUT,
                      "output directory name too long: "
                      "'%.100s...'",
                      dir);
    goto cleanup;
  }
  if ((rc = write_inputs(s, f, title, err)) || (rc = run_gnuplot(dir, f, err)))
    goto cleanup;
  const char *missing = !non_empty(f->png_tmp)   ? f->png
                        : !non_empty(f->svg_tmp) ? f->svg
                                                 : NULL;
  if (missing) {
    rc = nimc_err_set(err, NIMC_EEXTERNAL, "gnuplot wrote no '%s' (see %s)",
                      missing, f->log);
    goto cleanup;
  }
  if (rename(f->png_tmp, f->png) != 0 || rename(f->svg_tmp, f->svg) != 0) {
    char why[128];
    reason(errno, why, sizeof why);
    rc = nimc_err_set(err, NIMC_EIO, "cannot move the figures into '%s': %s",
                      dir, why);
  }
cleanup:
  unlink(f->png_tmp); /* gone after a rename; a failed run's leftovers */
  unlink(f->svg_tmp);
  free(f);
  return rc;
}
