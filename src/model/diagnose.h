/*
 * diagnose.h -- what in a state of the model is at a physical limit, in
 * words, for the message of a solver failure (diagnose.c).
 */
#ifndef NIMC_DIAGNOSE_H
#define NIMC_DIAGNOSE_H

#include <stddef.h>

#include "model/model.h"

/* Describe what in state y of m (the last state the solver reached) is at
 * or near a physical limit: the salt of the electrolyte nearly used up,
 * an intercalation solid full or empty (its stoichiometry at 0 or 1), a
 * potential out of any physical range, a constant-power discharge beyond
 * what the device can deliver; each with its region and position.  Writes
 * one NUL-terminated text of findings separated by "; " to buf (cap bytes,
 * truncated to fit), or, with none, a sentence saying that nothing was at
 * a limit.  Returns the number of findings.  Reads y only. */
int nimc_model_diagnose(const nimc_model *m, const double *y, char *buf,
                        size_t cap);

#endif
