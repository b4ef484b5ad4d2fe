/*
 * fitobs.h -- the observations of `nimc fit` as the command builds them:
 * from a DEVICE and a DATA file on the command line, or from a fit file
 * (--spec, docs/fitting.md).  Each owns what its nimc_fit_obs points to.
 */
#ifndef NIMC_APP_FITOBS_H
#define NIMC_APP_FITOBS_H

#include "nimc/nimc.h"

typedef struct fobs {
  nimc_fit_obs o;        /* what nimc_fit_run gets; points into the rest */
  char name[96];
  char *device, *data;   /* paths as used (data NULL for a target) */
  const char *format;    /* the data's format, NULL: detect */
  int kind_word;         /* 0 from the file, 'g' gcd, 'c' cv, 'e' eis */
  char **sets, **steps;  /* given overrides and steps */
  size_t nsets, nsteps;
  nimc_protocol proto;   /* the steps read off the data */
  nimc_experiment *exp;  /* the given steps, parsed (owned) */
  const char *const *lines; /* the experiment's step lines, shown */
  size_t nlines;
  int from_data;         /* the lines were read off the data */
  nimc_series series;
  nimc_spectrum spec;
  double *freq;          /* a target's spectrum frequencies */
  size_t nfreq;
  char *metric, *circuit;
} fobs;

/* Release what f owns (not f itself). */
void fobs_free(fobs *f);

/* Read f->data (as f->format, of kind f->kind_word) into f's series or
 * spectrum, choose the kind and build the experiment (given steps, else
 * read off the data); say what was read on stderr unless quiet.  0, or
 * the exit status of the message printed ("nimc fit: ..."). */
int fobs_load_data(fobs *f, int quiet);

/* A fit file (docs/fitting.md, "Several observations"): the parameter
 * list, the options, and the observations. */
typedef struct fit_spec {
  char *params;          /* as --params */
  int simplex, max_iter; /* 0: not given */
  double rtol;           /* 0: not given */
  fobs *obs;
  size_t nobs;
} fit_spec;

/* Read the fit file at path into *s (paths in it are relative to its
 * folder); 0, or the exit status of the message printed, which names the
 * file, the line, the [section] and the key. */
int fit_spec_read(const char *path, int quiet, fit_spec *s);
void fit_spec_free(fit_spec *s);

#endif
