/*
 * paper.h -- the published measurements the model is compared with and
 * calibrated against, as data: one table, shared by `nimc reproduce`
 * (app/reproduce.c) and the calibration (tools/calibrate.c), so the two
 * can never disagree on what the paper says.
 */
#ifndef NIMC_PAPER_H
#define NIMC_PAPER_H

#include <string.h>

/* The two devices of the paper's rate study. */
enum { UNCOVERED = 0, COVERED = 1, NDEV = 2 };

typedef enum quantity_kind {
  Q_VOLUMETRIC, /* capacitance_volumetric_F_cm3 of the GCD at J */
  Q_AREAL,      /* capacitance_areal_mF_cm2 of the GCD at J */
  Q_RATIO,      /* capacitance at J / capacitance at J_ref, same device */
  Q_R_OHMIC,    /* r_ohmic_ohm of the impedance spectrum (J unused) */
  Q_R_CT        /* r_ct_ohm: the charge-transfer arc of the fitted circuit */
} quantity_kind;

/* The published values compared with the model.  Source: Zheng et al.,
 * Adv. Sci. 2019, 6, 1902147, the GCD rate-capability results of the
 * uncovered (NTO//AG-NIMC) and covered (NTO//AG-NIMC-C) devices at 25 C,
 * anode:cathode thickness 1:2, as listed in the table "Measured results"
 * of shared/docs/system.md.  Volumetric values are per footprint area times
 * the mean electrode thickness (7.5 um); 1.5 relative to 0.2 mA/cm2 is the
 * paper's "about 58 % of its low-rate value" (10.1 / 17.4).  These rows
 * also give the markers of the capacitance-against-current figure. */
static const struct paper_value {
  const char *id, *quantity, *unit;
  double paper;
  quantity_kind kind;
  int device;
  double J, J_ref; /* mA/cm2; J_ref only for Q_RATIO */
} paper_values[] = {
    {"cv_0.1", "volumetric capacitance at 0.1 mA/cm2", "F/cm3", 19.5,
     Q_VOLUMETRIC, UNCOVERED, 0.1, 0},
    {"cv_1", "volumetric capacitance at 1 mA/cm2", "F/cm3", 11.7, Q_VOLUMETRIC,
     UNCOVERED, 1.0, 0},
    {"cv_0.2", "volumetric capacitance at 0.2 mA/cm2, uncovered", "F/cm3", 17.4,
     Q_VOLUMETRIC, UNCOVERED, 0.2, 0},
    {"cv_0.2_covered", "volumetric capacitance at 0.2 mA/cm2, covered", "F/cm3",
     13.7, Q_VOLUMETRIC, COVERED, 0.2, 0},
    {"cv_1.5", "volumetric capacitance at 1.5 mA/cm2", "F/cm3", 10.1,
     Q_VOLUMETRIC, UNCOVERED, 1.5, 0},
    {"retention_1.5", "capacitance at 1.5 relative to 0.2 mA/cm2", "1", 0.58,
     Q_RATIO, UNCOVERED, 1.5, 0.2},
    {"ca_0.3", "areal capacitance at 0.3 mA/cm2", "mF/cm2", 11.8, Q_AREAL,
     UNCOVERED, 0.3, 0},
    {"cv_0.3", "volumetric capacitance at 0.3 mA/cm2", "F/cm3", 15.8,
     Q_VOLUMETRIC, UNCOVERED, 0.3, 0},
    /* the impedance results (Nyquist plots fitted with an equivalent
     * circuit, 100 kHz to 10 mHz, 5 mV) */
    {"esr_eis", "equivalent series resistance (EIS), uncovered", "ohm", 450,
     Q_R_OHMIC, UNCOVERED, 0, 0},
    {"rct_eis", "charge-transfer resistance (EIS), uncovered", "ohm", 173,
     Q_R_CT, UNCOVERED, 0, 0},
    {"rct_eis_covered", "charge-transfer resistance (EIS), covered", "ohm",
     368, Q_R_CT, COVERED, 0, 0},
};

#define NPAPER_VALUES (sizeof(paper_values) / sizeof(paper_values[0]))

/* The paper's impedance measurement, 100 kHz to 10 mHz (10 a decade),
 * and the circuit its Nyquist plots are read with: an ohmic intercept,
 * the charge-transfer arc (R1 with a constant-phase double layer) and a
 * constant-phase low-frequency branch (nimc eis's default too). */
#define PAPER_EIS_FROM_HZ 1e5
#define PAPER_EIS_TO_HZ 1e-2
#define PAPER_EIS_PER_DECADE 10
#define PAPER_EIS_CIRCUIT "R0-p(R1,CPE1)-CPE2"

/* Is p a result of the impedance spectrum (not of a GCD)? */
static inline int paper_is_eis(const struct paper_value *p) {
  return p->kind == Q_R_OHMIC || p->kind == Q_R_CT;
}

/* The row with identifier id, or NULL. */
static inline const struct paper_value *paper_find(const char *id) {
  for (size_t k = 0; k < NPAPER_VALUES; k++)
    if (!strcmp(paper_values[k].id, id)) return &paper_values[k];
  return NULL;
}

#endif
