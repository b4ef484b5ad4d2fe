/*
 * error.h -- the library's error channel: every function that can fail
 * takes an nimc_err (may be NULL) and returns its code.
 */
#ifndef NIMC_ERROR_H
#define NIMC_ERROR_H

#include "nimc/nimc.h"

/* Record an error: sets err->code and formats err->msg; returns code. */
int nimc_err_set(nimc_err *err, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#endif /* NIMC_ERROR_H */
