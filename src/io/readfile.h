/*
 * readfile.h -- whole small text files read safely: the input readers'
 * (device and material files, table: files) one way into a file.
 *
 * Only a regular file is read (a device such as /dev/zero, a pipe or a
 * directory is refused before any byte is read, so nothing can hang on
 * it), and only up to a size limit, so that no input can grow memory
 * without bound.  The caller then checks for NUL bytes, which would cut
 * a C string and hide the rest of their line.
 */
#ifndef NIMC_READFILE_H
#define NIMC_READFILE_H

#include <stddef.h>

/* Largest device or material file (bytes). */
#define NIMC_INI_MAX_BYTES (1L << 20)
/* Largest table: file (bytes) and its most rows. */
#define NIMC_TABLE_MAX_BYTES (64L << 20)
#define NIMC_TABLE_MAX_ROWS 1000000

/* Read all of the regular file at path, at most max bytes, into a fresh
 * buffer ending in an extra NUL (*out, to free; *len bytes without it).
 * Returns NIMC_OK; NIMC_EIO when it cannot be opened or read (*errnum
 * gets errno, why the reason without the path); NIMC_EINPUT when it is
 * not a regular file or larger than max (*errnum 0); NIMC_ENOMEM. */
int nimc_file_slurp(const char *path, long max, char **out, size_t *len,
                    int *errnum, char *why, size_t whylen);

/* The next line of the text at *p (writable, NUL-terminated): cut at its
 * end (the '\n' becomes NUL), *p moved past it and *line counted.  raw:
 * the line as it is; else trimmed of blank space, and blank lines and
 * '#' comments skipped.  NULL at the end of the text. */
char *nimc_text_next_line(char **p, long *line, int raw);

/* The 1-based line of the first NUL byte of buf[0, len), 0 if none. */
size_t nimc_nul_line(const char *buf, size_t len);

#endif
