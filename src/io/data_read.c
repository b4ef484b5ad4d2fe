/*
 * data_read.c -- measured time series (and spectra) as SI columns.
 *
 * A data file is first read into a table of named columns by one of the
 * readers of io/spectrum_read.c (nimc_dtable_read: csv today, instrument
 * formats as they are added).  What each column is then comes from ONE
 * table below, roles[]: a role (time, voltage, current, cumulative charge,
 * cycle number, ...), the names it is recognised by (as keys of
 * io/colname.c: "Ewe/V" is the key "ewe" with the unit "V"), in order of
 * preference, and its SI unit.  The unit written in the header is
 * converted with udunits2 ("mA.h" to C, "W.h" to J, "%" to a fraction); a
 * column without a unit is taken as SI and the how sentence says so.
 *
 * The instrument's name for the technique maps to a kind through ONE
 * other table, techniques[] (GCPL -> GCD, CV -> CV, PEIS/GEIS -> EIS, OCV
 * -> REST, CP -> CP, LSV -> LSV), short and long names alike.
 *
 * The sign of the current: nimc's is > 0 charging.  EC-Lab writes <I> > 0
 * for an oxidation at the working electrode, which charges a cell wired
 * with its positive electrode as the working electrode, so EC-Lab's
 * current is taken as it is; nimc's own "current_A" is nimc's convention;
 * any other current column is read as a potentiostat's (> 0 anodic).
 *
 * Errors name the file and the line: the header's for a missing column or
 * a bad unit, the row's for a bad cell or a time that goes backwards.
 * Nothing here prints.
 */
#define _POSIX_C_SOURCE 200809L

#include <ctype.h>
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

/* ---- techniques ---- */

static const struct {
  const char *name; /* as instruments write it, compared without case */
  nimc_technique kind;
} techniques[] = {
    {"GCPL", NIMC_TECH_GCD},
    {"GCD", NIMC_TECH_GCD},
    {"Galvanostatic Cycling with Potential Limitation", NIMC_TECH_GCD},
    {"Galvanostatic Cycling", NIMC_TECH_GCD},
    {"CV", NIMC_TECH_CV},
    {"CVA", NIMC_TECH_CV},
    {"Cyclic Voltammetry", NIMC_TECH_CV},
    {"Cyclic Voltammetry Advanced", NIMC_TECH_CV},
    {"PEIS", NIMC_TECH_EIS},
    {"GEIS", NIMC_TECH_EIS},
    {"EIS", NIMC_TECH_EIS},
    {"Potentio Electrochemical Impedance Spectroscopy", NIMC_TECH_EIS},
    {"Galvano Electrochemical Impedance Spectroscopy", NIMC_TECH_EIS},
    {"OCV", NIMC_TECH_REST},
    {"Open Circuit Voltage", NIMC_TECH_REST},
    {"Rest", NIMC_TECH_REST},
    {"CP", NIMC_TECH_CP},
    {"Chronopotentiometry", NIMC_TECH_CP},
    {"LSV", NIMC_TECH_LSV},
    {"Linear Sweep Voltammetry", NIMC_TECH_LSV},
};

const char *nimc_technique_name(nimc_technique t) {
  switch (t) {
  case NIMC_TECH_GCD:
    return "gcd";
  case NIMC_TECH_CV:
    return "cv";
  case NIMC_TECH_EIS:
    return "eis";
  case NIMC_TECH_REST:
    return "rest";
  case NIMC_TECH_CP:
    return "cp";
  case NIMC_TECH_LSV:
    return "lsv";
  default:
    return "unknown";
  }
}

/* a and b equal without case and without blanks at the ends of a. */
static int same_name(const char *a, const char *b) {
  while (*a == ' ' || *a == '\t')
    a++;
  size_t na = strlen(a);
  while (na > 0 && (a[na - 1] == ' ' || a[na - 1] == '\t'))
    na--;
  if (strlen(b) != na) return 0;
  for (size_t k = 0; k < na; k++)
    if (tolower((unsigned char)a[k]) != tolower((unsigned char)b[k])) return 0;
  return 1;
}

nimc_technique nimc_technique_of(const char *name) {
  if (!name) return NIMC_TECH_UNKNOWN;
  for (size_t k = 0; k < sizeof techniques / sizeof techniques[0]; k++)
    if (same_name(name, techniques[k].name)) return techniques[k].kind;
  return NIMC_TECH_UNKNOWN;
}

/* ---- roles of columns ---- */

enum {
  R_TIME,
  R_VOLT,
  R_CURR,
  R_CHARGE,
  R_CYCLE,
  R_HALF,
  R_FREQ,
  R_RE,
  R_IM,
  R_QCH,
  R_QDIS,
  R_ECH,
  R_EDIS,
  R_EFF,
  R_DQ, /* the charge of each interval: the current where none is given */
  NROLE
};

/* One role: what it is called in messages, its SI unit ("1": a number),
 * whether it holds whole numbers, and its names as keys (colname.h), in
 * order of preference. */
static const struct rolespec {
  const char *what;
  const char *si;
  int integer;
  const char *names[12];
} roles[NROLE] = {
    [R_TIME] = {"time", "s", 0, {"time", "t", "elapsedtime", "testtime"}},
    [R_VOLT] = {"voltage",
                "V",
                0,
                {"ewe", "<ewe>", "voltage", "ecell", "<ecell>", "cellvoltage",
                 "potential", "v", "e", "u", "eweece"}},
    [R_CURR] = {"current", "A", 0, {"<i>", "i", "current", "iwe", "cur"}},
    [R_CHARGE] = {"charge", "C", 0, {"qqo", "charge", "q"}},
    [R_CYCLE] = {"cycle number",
                 "1",
                 1,
                 {"cyclenumber", "cycle", "cycleindex", "cycleno"}},
    [R_HALF] = {"half cycle", "1", 1, {"halfcycle"}},
    [R_FREQ] = {"frequency", "Hz", 0, {"freq", "frequency", "f"}},
    [R_RE] = {"Re Z", "ohm", 0, {"rez", "zre", "re", "z'", "zreal"}},
    [R_IM] = {"Im Z", "ohm", 0, {"imz", "zim", "im", "z''", "zimag"}},
    [R_QCH] = {"Q charge", "C", 0, {"qcharge"}},
    [R_QDIS] = {"Q discharge", "C", 0, {"qdischarge"}},
    [R_ECH] = {"energy charge", "J", 0, {"energycharge"}},
    [R_EDIS] = {"energy discharge", "J", 0, {"energydischarge"}},
    [R_EFF] = {"efficiency", "1", 0, {"efficiency"}},
    [R_DQ] = {"charge increment", "C", 0, {"dq"}},
};

/* The column picked for each role. */
typedef struct picked {
  int have[NROLE];
  size_t col[NROLE];
  double factor[NROLE];
  nimc_colname cn[NROLE];
} picked;


/* Pick the columns by their header names (roles[] order of preference). */
static void pick_by_name(const nimc_dtable *t, picked *pk) {
  nimc_colname *cn = calloc(t->ncol, sizeof *cn);
  char(*key)[128] = calloc(t->ncol, sizeof *key);
  char(*wkey)[128] = calloc(t->ncol, sizeof *wkey);
  if (!cn || !key || !wkey) goto done;
  for (size_t c = 0; c < t->ncol; c++) {
    nimc_colname_split(t->col[c].name, &cn[c]);
    nimc_colname_key(cn[c].name, key[c], sizeof key[c]);
    nimc_colname_key(cn[c].whole, wkey[c], sizeof wkey[c]);
  }
  for (int r = 0; r < NROLE; r++)
    for (size_t k = 0; roles[r].names[k] && !pk->have[r]; k++)
      for (size_t c = 0; c < t->ncol; c++) {
        int whole = strcmp(wkey[c], roles[r].names[k]) == 0;
        if (!whole && strcmp(key[c], roles[r].names[k]) != 0) continue;
        pk->have[r] = 1;
        pk->col[r] = c;
        pk->cn[r] = cn[c];
        if (whole) pk->cn[r].unit[0] = pk->cn[r].su[0] = '\0';
        break;
      }
done:
  free(cn);
  free(key);
  free(wkey);
}

/* "column 3 ('Ewe/V')" for messages. */
static void col_label(const nimc_dtable *t, size_t c, char *buf, size_t len) {
  char p[64];
  nimc_printable(p, sizeof p, t->col[c].name);
  if (p[0])
    snprintf(buf, len, "column %zu ('%s')", c + 1, p);
  else
    snprintf(buf, len, "column %zu", c + 1);
}

/* Conversion factors to SI of the picked columns. */
static int pick_units(const nimc_dtable *t, picked *pk, nimc_err *err) {
  for (int r = 0; r < NROLE; r++) {
    pk->factor[r] = 1.0;
    if (!pk->have[r] || !pk->cn[r].su[0]) continue;
    char why[200], lab[96];
    int rc = nimc_unit_factor(pk->cn[r].su, roles[r].si, &pk->factor[r], why,
                              sizeof why);
    if (rc) {
      col_label(t, pk->col[r], lab, sizeof lab);
      return nimc_err_set(err, rc, "%s:%ld: %s, read as %s: %s", t->path,
                          t->header_line, lab, roles[r].what, why);
    }
  }
  return NIMC_OK;
}

/* The first cell of a picked column that is not a number. */
static int check_cells(const nimc_dtable *t, const picked *pk, nimc_err *err) {
  size_t row = SIZE_MAX, col = 0;
  for (int r = 0; r < NROLE; r++) {
    if (!pk->have[r]) continue;
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
  if (c->bad_kind == NIMC_DCELL_EMPTY)
    return nimc_err_set(err, NIMC_EDATA, "%s:%ld: %s is empty", t->path,
                        t->line[row], lab);
  return nimc_err_set(err, NIMC_EDATA, "%s:%ld: %s: '%s' is not a %snumber",
                      t->path, t->line[row], lab, c->bad_text,
                      c->bad_kind == NIMC_DCELL_NONFINITE ? "finite " : "");
}

void nimc_data_free(nimc_data *d) {
  if (!d) return;
  double **arr[] = {&d->time_s,
                    &d->voltage_V,
                    &d->current_A,
                    &d->charge_C,
                    &d->freq_Hz,
                    &d->z_re_ohm,
                    &d->z_im_ohm,
                    &d->q_charge_C,
                    &d->q_discharge_C,
                    &d->energy_charge_J,
                    &d->energy_discharge_J,
                    &d->efficiency};
  for (size_t k = 0; k < sizeof arr / sizeof arr[0]; k++)
    free(*arr[k]);
  free(d->cycle);
  free(d->half_cycle);
  free(d->line);
  memset(d, 0, sizeof *d);
}

/* The array of nimc_data that holds role r (NULL for the integer ones). */
static double **slot(nimc_data *d, int r) {
  switch (r) {
  case R_TIME:
    return &d->time_s;
  case R_VOLT:
    return &d->voltage_V;
  case R_CURR:
    return &d->current_A;
  case R_CHARGE:
    return &d->charge_C;
  case R_FREQ:
    return &d->freq_Hz;
  case R_RE:
    return &d->z_re_ohm;
  case R_IM:
    return &d->z_im_ohm;
  case R_QCH:
    return &d->q_charge_C;
  case R_QDIS:
    return &d->q_discharge_C;
  case R_ECH:
    return &d->energy_charge_J;
  case R_EDIS:
    return &d->energy_discharge_J;
  case R_EFF:
    return &d->efficiency;
  default:
    return NULL;
  }
}

/* Copy the picked columns into d, converted; sign of Im Z as the header
 * says (a leading minus, or else mostly positive values: -Im Z). */
static int fill(const nimc_dtable *t, const picked *pk, nimc_data *d,
                nimc_err *err) {
  size_t n = t->nrow;
  double *dq = NULL;
  d->n = n;
  d->line = malloc(n * sizeof *d->line);
  if (!d->line) goto oom;
  memcpy(d->line, t->line, n * sizeof *d->line);
  for (int r = 0; r < NROLE; r++) {
    if (!pk->have[r]) continue;
    const double *v = t->col[pk->col[r]].v;
    double f = pk->factor[r];
    if (pk->cn[r].neg) f = -f;
    if (r == R_IM && !pk->cn[r].neg) {
      size_t npos = 0;
      for (size_t i = 0; i < n; i++)
        npos += v[i] > 0;
      if (2 * npos > n) f = -f;
    }
    if (roles[r].integer) {
      int *a = malloc(n * sizeof *a);
      if (!a) goto oom;
      for (size_t i = 0; i < n; i++)
        a[i] = fabs(v[i]) < 1e9 ? (int)lround(v[i]) : -1;
      if (r == R_CYCLE)
        d->cycle = a;
      else
        d->half_cycle = a;
      continue;
    }
    double *a = malloc(n * sizeof *a);
    if (!a) goto oom;
    for (size_t i = 0; i < n; i++)
      a[i] = v[i] * f;
    if (r == R_DQ)
      dq = a;
    else
      *slot(d, r) = a;
  }
  for (size_t i = 1; i < n; i++)
    if (d->time_s[i] < d->time_s[i - 1]) {
      free(dq);
      return nimc_err_set(err, NIMC_EDATA,
                          "%s:%ld: time %g s goes backwards (%g s on %s "
                          "%ld)",
                          t->path, t->line[i], d->time_s[i], d->time_s[i - 1],
                          t->binary ? "byte" : "line", t->line[i - 1]);
    }
  if (!d->current_A && dq) {
    /* EC-Lab's binary GCPL keeps dq, not <I> (which its text export
     * computes as dq / dt): the mean current of the interval ending at
     * each row; a row at its interval's start time takes the next one's */
    d->current_A = malloc(n * sizeof *d->current_A);
    if (!d->current_A) goto oom;
    const double *tt = d->time_s;
    for (size_t i = 0; i < n; i++) {
      size_t k = i;
      if (!(k > 0 && tt[k] > tt[k - 1]) && k + 1 < n && tt[k + 1] > tt[k])
        k = i + 1;
      d->current_A[i] =
          k > 0 && tt[k] > tt[k - 1] ? dq[k] / (tt[k] - tt[k - 1]) : 0.0;
    }
  }
  free(dq);
  return NIMC_OK;
oom:
  free(dq);
  return nimc_err_set(err, NIMC_ENOMEM, "%s: out of memory", t->path);
}

/* The how sentence: which column was read as what. */
static void describe(const nimc_dtable *t, const nimc_reader *rd,
                     const picked *pk, int by_position, char *how,
                     size_t howlen) {
  size_t pos = 0;
  nimc_how_add(how, howlen, &pos, "%s (%s): ", rd ? rd->name : "?",
          t->format[0] ? t->format : (rd ? rd->name : "?"));
  int first = 1;
  for (int r = 0; r < NROLE; r++) {
    if (!pk->have[r]) continue;
    char name[64], unit[64];
    nimc_printable(name, sizeof name, t->col[pk->col[r]].name);
    nimc_printable(unit, sizeof unit, pk->cn[r].unit);
    nimc_how_add(how, howlen, &pos, "%scolumn %zu%s%s%s as %s%s (%s%s)",
            first ? "" : ", ", pk->col[r] + 1, name[0] ? " '" : "", name,
            name[0] ? "'" : "", pk->cn[r].neg ? "minus " : "", roles[r].what,
            unit[0] ? unit : roles[r].si,
            unit[0] ? "" : (strcmp(roles[r].si, "1") ? ", assumed" : ""));
    first = 0;
  }
  if (by_position) nimc_how_add(how, howlen, &pos, " (no header: taken in order)");
  if (pk->have[R_CURR])
    nimc_how_add(how, howlen, &pos, "; current > 0 charging, as written");
  else if (pk->have[R_DQ])
    nimc_how_add(how, howlen, &pos,
            "; no current column: the current is dq / dt of each interval");
  if (t->technique[0]) {
    char tn[40];
    nimc_printable(tn, sizeof tn, t->technique);
    nimc_how_add(how, howlen, &pos, "; technique '%s'", tn);
  }
}

/* The data set of a table read by rd (the table is freed). */
static int data_of(nimc_dtable *tp, const nimc_reader *rd, nimc_data *out,
                   char *how, size_t howlen, nimc_err *err);

int nimc_data_read(const char *path, const nimc_read_opts *opts, nimc_data *out,
                   char *how, size_t howlen, nimc_err *err) {
  if (how && howlen) how[0] = '\0';
  if (!out) return nimc_err_set(err, NIMC_EMISUSE, "no data to read into");
  memset(out, 0, sizeof *out);
  nimc_dtable t;
  const nimc_reader *rd = NULL;
  int rc = nimc_dtable_read(path, opts ? opts->format : NULL, &t, &rd, err);
  return rc ? rc : data_of(&t, rd, out, how, howlen, err);
}

int nimc_data_read_fp(FILE *fp, const char *path, const nimc_read_opts *opts,
                      nimc_data *out, char *how, size_t howlen,
                      nimc_err *err) {
  if (how && howlen) how[0] = '\0';
  if (!out) return nimc_err_set(err, NIMC_EMISUSE, "no data to read into");
  memset(out, 0, sizeof *out);
  nimc_dtable t;
  const nimc_reader *rd = NULL;
  int rc =
      nimc_dtable_read_fp(fp, path, opts ? opts->format : NULL, &t, &rd, err);
  return rc ? rc : data_of(&t, rd, out, how, howlen, err);
}

static int data_of(nimc_dtable *tp, const nimc_reader *rd, nimc_data *out,
                   char *how, size_t howlen, nimc_err *err) {
  nimc_dtable t = *tp; /* owned here from now on */
  const char *path = t.path;
  int rc = NIMC_OK;
  picked pk;
  memset(&pk, 0, sizeof pk);
  int by_position = 0;
  long hline = t.header_line ? t.header_line : (t.nrow ? t.line[0] : 1);
  if (t.header_line) {
    pick_by_name(&t, &pk);
  } else {
    /* no header: time, voltage, current in SI, the first columns */
    by_position = 1;
    int order[3] = {R_TIME, R_VOLT, R_CURR};
    for (size_t c = 0; c < t.ncol && c < 3; c++) {
      pk.have[order[c]] = 1;
      pk.col[order[c]] = c;
    }
  }
  if (!pk.have[R_TIME]) {
    rc = nimc_err_set(err, NIMC_EDATA,
                      "%s:%ld: no time column (nimc reads a column named "
                      "time or t with a unit, e.g. time/s, Time (s), "
                      "time_s)",
                      path, hline);
    goto done;
  }
  if (!pk.have[R_VOLT] && !pk.have[R_CURR] && !pk.have[R_FREQ]) {
    rc = nimc_err_set(err, NIMC_EDATA,
                      "%s:%ld: neither a voltage column (Ewe/V, voltage_V, "
                      "E (V), ...) nor a current column (<I>/mA, I/mA, "
                      "current_A, ...)",
                      path, hline);
    goto done;
  }
  if (t.nrow == 0) {
    rc = nimc_err_set(err, NIMC_EDATA, "%s:%ld: no data rows", path, hline);
    goto done;
  }
  if ((rc = pick_units(&t, &pk, err)) || (rc = check_cells(&t, &pk, err)) ||
      (rc = fill(&t, &pk, out, err)))
    goto done;
  snprintf(out->technique_name, sizeof out->technique_name, "%s", t.technique);
  out->technique = nimc_technique_of(t.technique);
  out->header_line = t.header_line;
  describe(&t, rd, &pk, by_position, how, howlen);
done:
  if (rc) nimc_data_free(out);
  nimc_dtable_free(&t);
  return rc;
}
