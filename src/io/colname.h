/*
 * colname.h -- what a column's header says: its name, its unit, its sign.
 *
 * Instruments write a quantity and its unit in one header cell in several
 * ways: "Ewe/V" (EC-Lab), "Time (s)", "Z' [kOhm]", nimc's own "time_s",
 * "-Im(Z)/Ohm" (a leading minus: the column holds minus the quantity).
 * The readers of spectra (spectrum_read.c) and of time series
 * (data_read.c) both split a header cell here, then look the name up in
 * their own table of roles by its key (nimc_colname_key), and convert the
 * unit with udunits2 (io/units.c).  Nothing here allocates or prints.
 */
#ifndef NIMC_COLNAME_H
#define NIMC_COLNAME_H

#include <stddef.h>

typedef struct nimc_colname {
  int neg;         /* a leading minus (or U+2212) */
  char whole[128]; /* the cell without its sign, trimmed */
  char name[128];  /* the name without sign and unit, trimmed */
  char unit[64];   /* the unit as written ("" when none) */
  char su[80];     /* the unit as udunits reads it (nimc_unit_normalise) */
} nimc_colname;

/* Split the header cell raw: an optional leading minus, then the unit
 * from a trailing "(unit)" or "[unit]", else after the last '/', else
 * after the last '_' when what follows is a unit udunits knows ("time_s",
 * but not "cycle_number").  A name that is whole in itself (a caller's
 * key such as "Re(Z)") is the caller's to try first. */
void nimc_colname_split(const char *raw, nimc_colname *out);

/* The key a name is matched by: ASCII lower case, primes as apostrophes
 * (a double quote or U+2033 as two), blanks, '_', '.', '-', ':' and
 * brackets dropped: "Re(Z)" -> "rez", "Z''" -> "z''", "cycle number" ->
 * "cyclenumber", "<I>" -> "<i>". */
void nimc_colname_key(const char *name, char *key, size_t len);

/* The unit text as udunits reads it: micro signs (UTF-8 or latin-1) as
 * 'u', ohm signs as "ohm", hertz in any capitalisation as "Hz". */
void nimc_unit_normalise(const char *in, char *out, size_t len);

/* Copy text into dst (len >= 4) for a message: control characters and
 * bytes that are not UTF-8 as '?', shortened with "..." when too long. */
void nimc_printable(char *dst, size_t len, const char *text);

/* The factor that takes a column in unit su (as nimc_unit_normalise
 * writes it) to the SI unit si, or why not in why (NIMC_EDATA, NIMC_EIO
 * from udunits).  A column is multiplied by the factor, so a unit with an
 * origin of its own ("ohm @ 5", degC) is refused: it is not a factor, and
 * would be read as 6 ohm. */
int nimc_unit_factor(const char *su, const char *si, double *factor,
                     char *why, size_t len);

/* Text helpers the readers share.  nimc_trim: s without leading and
 * trailing blanks and tabs; nimc_unquote: the same without one pair of
 * enclosing double quotes (both modify s); nimc_is_blank: nothing but
 * blanks and tabs. */
char *nimc_trim(char *s);
char *nimc_unquote(char *s);
int nimc_is_blank(const char *s);

/* Append printf text to the how sentence how (len bytes; *pos its
 * length), cut short at the end; how may be NULL. */
void nimc_how_add(char *how, size_t len, size_t *pos, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

#endif /* NIMC_COLNAME_H */
