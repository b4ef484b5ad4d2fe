/*
 * readfile.c -- whole small text files read safely (see readfile.h): a
 * regular file only, opened without blocking and checked with fstat
 * before anything is read, and at most a given size.
 */
#define _POSIX_C_SOURCE 200809L

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/params.h"
#include "io/readfile.h"

int nimc_file_slurp(const char *path, long max, char **out, size_t *len,
                    int *errnum, char *why, size_t whylen) {
  *out = NULL;
  *len = 0;
  *errnum = 0;
  /* O_NONBLOCK: opening a FIFO must not wait for a writer */
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) {
    *errnum = errno;
    snprintf(why, whylen, "%s", strerror(errno));
    return NIMC_EIO;
  }
  struct stat st;
  if (fstat(fd, &st)) {
    *errnum = errno;
    snprintf(why, whylen, "%s", strerror(errno));
    close(fd);
    return NIMC_EIO;
  }
  if (!S_ISREG(st.st_mode)) {
    snprintf(why, whylen, "not a regular file (%s)",
             S_ISDIR(st.st_mode)    ? "a directory"
             : S_ISCHR(st.st_mode)  ? "a character device"
             : S_ISBLK(st.st_mode)  ? "a block device"
             : S_ISFIFO(st.st_mode) ? "a pipe"
                                    : "a special file");
    close(fd);
    return NIMC_EINPUT;
  }
  if (st.st_size > max) {
    snprintf(why, whylen, "larger than the limit of %ld bytes (%lld bytes)",
             max, (long long)st.st_size);
    close(fd);
    return NIMC_EINPUT;
  }
  /* the file may grow while it is read: never read past max + 1 */
  size_t cap = (size_t)st.st_size + 1, n = 0;
  char *buf = malloc(cap + 1);
  if (!buf) {
    close(fd);
    snprintf(why, whylen, "out of memory");
    return NIMC_ENOMEM;
  }
  for (;;) {
    if (n == cap) {
      if ((long)cap > max) break;
      size_t ncap = 2 * cap > (size_t)max + 1 ? (size_t)max + 1 : 2 * cap;
      char *nb = realloc(buf, ncap + 1);
      if (!nb) {
        free(buf);
        close(fd);
        snprintf(why, whylen, "out of memory");
        return NIMC_ENOMEM;
      }
      buf = nb;
      cap = ncap;
    }
    ssize_t r = read(fd, buf + n, cap - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      *errnum = errno;
      snprintf(why, whylen, "%s", strerror(errno));
      free(buf);
      close(fd);
      return NIMC_EIO;
    }
    if (r == 0) break;
    n += (size_t)r;
  }
  close(fd);
  if ((long)n > max) {
    snprintf(why, whylen, "larger than the limit of %ld bytes", max);
    free(buf);
    return NIMC_EINPUT;
  }
  buf[n] = '\0';
  *out = buf;
  *len = n;
  return NIMC_OK;
}

int nimc_text_file_read(const char *path, long max_bytes, const char *what,
                        char **text, size_t *len, nimc_err *err) {
  char why[256];
  int errnum = 0;
  int rc = nimc_file_slurp(path, max_bytes, text, len, &errnum, why,
                           sizeof why);
  if (rc)
    return nimc_err_set(err, rc, "%s: %s%s%s%s", path, what ? "cannot read " : "",
                        what ? what : "", what ? ": " : "", why);
  size_t nul = nimc_nul_line(*text, *len);
  if (nul) {
    free(*text);
    *text = NULL;
    *len = 0;
    return nimc_err_set(err, NIMC_EINPUT,
                        "%s:%zu: a NUL byte (not a text file?)", path, nul);
  }
  return NIMC_OK;
}

char *nimc_text_next_line(char **p, long *line, int raw) {
  while (*p && **p) {
    char *s = *p, *eol = strchr(s, '\n');
    *p = eol ? eol + 1 : NULL;
    if (eol) *eol = '\0';
    (*line)++;
    if (raw) return s;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
      s[--n] = '\0';
    while (isspace((unsigned char)*s))
      s++;
    if (*s && *s != '#') return s;
  }
  return NULL;
}

size_t nimc_nul_line(const char *buf, size_t len) {
  const char *z = memchr(buf, '\0', len);
  if (!z) return 0;
  size_t line = 1;
  for (const char *c = buf; c < z; c++)
    line += *c == '\n';
  return line;
}
