/*
 * status.c -- status names and error reports.
 *
 * The status list lives in nimc.h (NIMC_STATUS_LIST); this file turns it
 * into text, and formats the messages that functions without a handle
 * return through an nimc_err.
 */
#include <stdarg.h>
#include <stdio.h>

#include "core/params.h"

const char *nimc_strerror(int status) {
  switch (status) {
#define NIMC_X_CASE(name, value, text)                                     \
  case value:                                                              \
    return text;
    NIMC_STATUS_LIST(NIMC_X_CASE)
#undef NIMC_X_CASE
  default:
    return "unknown status";
  }
}

int nimc_err_set(nimc_err *err, int code, const char *fmt, ...) {
  if (err) {
    va_list ap;
    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
  }
  return code;
}
