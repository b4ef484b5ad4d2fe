/*
 * paper.h -- the published measurements the model is compared with and
 * calibrated against, as data: one table, shared by `nimc reproduce`
 * (app/reproduce.c) and the calibration (devices/calibration.fit, whose
 * targets tests/cli/fit.sh checks against this table), so the two
 * can never disagree on what the paper says, nor on which of its values
 * the model is fitted to (the calibration rows) and which it predicts.
 */
#ifndef NIMC_PAPER_H
#define NIMC_PAPER_H

#include <string.h>

/* The two devices of the paper's rate study. */
enum { UNCOVERED = 0, COVERED = 1, NDEV = 2 };
/* The commercial supercapacitors the paper compares the NIMC's
 * self-discharge with (devices/commercial-*.ini; variants of
 * app/reproduce.c after the two above). */
enum { COMMERCIAL_3V5 = NDEV, COMMERCIAL_2V75 = NDEV + 1 };

typedef enum quantity_kind {
  Q_VOLUMETRIC, /* capacitance_volumetric_F_cm3 of the GCD at J */
  Q_AREAL,      /* capacitance_areal_mF_cm2 of the GCD at J */
  Q_RATIO,      /* capacitance at J / capacitance of device_ref at J_ref */
  Q_R_OHMIC,    /* r_ohmic_ohm of the impedance spectrum (J unused) */
  Q_R_CT,       /* r_ct_ohm: the charge-transfer arc of the fitted circuit */
  Q_SERIES_TIME,  /* two in series (2s1p) at J: time to 2 x 3.5 V over one
                     cell's to 3.5 V, both from the as-made state */
  Q_PARALLEL_TIME, /* two in parallel (1s2p) at J: time of the discharge
                      from 3.5 to 0 V over one cell's at the same current,
                      each after a charge at J from the as-made state */
  Q_CV_SWEEP,   /* volumetric capacitance of a cyclic voltammogram: the
                   charge of a steady cycle / (2 dV), J its scan rate in
                   mV/s (app/reproduce.c, experiment (g)) */
  Q_SELF_DISCHARGE, /* h: a rest from Vmax to a fraction of it, the
                       experiment of app/reproduce.c's self_discharge table
                       (J: the NIMC's charge, mA/cm2) */
  Q_CYCLING_RETENTION, /* the capacitance retention of the last cycle of a
                          long cycling study (app/reproduce.c, experiment
                          (h): its capacitance over that of the first cycle
                          of its Repeat; J its current, mA/cm2) */
  Q_CYCLING_CE         /* the coulombic efficiency of that last cycle */
} quantity_kind;

/* What a row is for.  A calibration row is a point the model's unknown
 * parameters are fitted to (devices/calibration.fit fits every one of a kind it
 * can fit: Q_VOLUMETRIC and the impedance rows), or a number read from the
 * same measurements (an areal value, a ratio of two fitted points); a
 * prediction is anything else, compared with the paper where the paper
 * gives a value. */
typedef enum row_role { CALIBRATION, PREDICTION } row_role;

static inline const char *row_role_name(row_role r) {
  return r == CALIBRATION ? "calibration" : "prediction";
}

/* The published values compared with the model.  Source: Zheng et al.,
 * Adv. Sci. 2019, 6, 1902147, the GCD rate-capability results of the
 * uncovered (NTO//AG-NIMC) and covered (NTO//AG-NIMC-C) devices at 25 C,
 * anode:cathode thickness 1:2, as listed in the table "Measured results"
 * of shared/docs/system.md.  Volumetric values are per footprint area times
 * the mean electrode thickness (7.5 um); 1.5 relative to 0.2 mA/cm2 is the
 * paper's "about 58 % of its low-rate value" (10.1 / 17.4), 1 relative to
 * 0.1 mA/cm2 its "60 % of the above".  These rows also give the markers of
 * the capacitance-against-current figures.  Calibration rows first, in the
 * order they are printed and fitted.  device and device_ref are
 * UNCOVERED or COVERED; device_ref and J_ref only matter for Q_RATIO. */
static const struct paper_value {
  const char *id, *quantity, *unit;
  double paper;
  row_role role;
  quantity_kind kind;
  int device;
  double J;       /* mA/cm2 */
  int device_ref; /* Q_RATIO: the denominator's device and current */
  double J_ref;
} paper_values[] = {
    /* the 25 C rate table of the uncovered device */
    {"cv_0.1", "volumetric capacitance at 0.1 mA/cm2", "F/cm3", 19.5,
     CALIBRATION, Q_VOLUMETRIC, UNCOVERED, 0.1, UNCOVERED, 0},
    {"cv_0.2", "volumetric capacitance at 0.2 mA/cm2, uncovered", "F/cm3", 17.4,
     CALIBRATION, Q_VOLUMETRIC, UNCOVERED, 0.2, UNCOVERED, 0},
    {"cv_0.3", "volumetric capacitance at 0.3 mA/cm2", "F/cm3", 15.8,
     CALIBRATION, Q_VOLUMETRIC, UNCOVERED, 0.3, UNCOVERED, 0},
    {"ca_0.3", "areal capacitance at 0.3 mA/cm2 (same GCD as cv_0.3)",
     "mF/cm2", 11.8, CALIBRATION, Q_AREAL, UNCOVERED, 0.3, UNCOVERED, 0},
    {"cv_1", "volumetric capacitance at 1 mA/cm2", "F/cm3", 11.7, CALIBRATION,
     Q_VOLUMETRIC, UNCOVERED, 1.0, UNCOVERED, 0},
    {"retention_1", "capacitance at 1 relative to 0.1 mA/cm2 (cv_1 / cv_0.1)",
     "1", 0.60, CALIBRATION, Q_RATIO, UNCOVERED, 1.0, UNCOVERED, 0.1},
    {"cv_1.5", "volumetric capacitance at 1.5 mA/cm2", "F/cm3", 10.1,
     CALIBRATION, Q_VOLUMETRIC, UNCOVERED, 1.5, UNCOVERED, 0},
    {"retention_1.5",
     "capacitance at 1.5 relative to 0.2 mA/cm2 (cv_1.5 / cv_0.2)", "1", 0.58,
     CALIBRATION, Q_RATIO, UNCOVERED, 1.5, UNCOVERED, 0.2},
    /* the cover, from one point */
    {"cv_0.2_covered", "volumetric capacitance at 0.2 mA/cm2, covered", "F/cm3",
     13.7, CALIBRATION, Q_VOLUMETRIC, COVERED, 0.2, COVERED, 0},
    /* the impedance results (Nyquist plots fitted with an equivalent
     * circuit, 100 kHz to 10 mHz, 5 mV) */
    {"esr_eis", "equivalent series resistance (EIS), uncovered", "ohm", 450,
     CALIBRATION, Q_R_OHMIC, UNCOVERED, 0, UNCOVERED, 0},
    {"rct_eis", "charge-transfer resistance (EIS), uncovered", "ohm", 173,
     CALIBRATION, Q_R_CT, UNCOVERED, 0, UNCOVERED, 0},
    /* the self-discharge (open circuit after a charge to Vmax): the
     * NIMC's 44 h to 0.6 Vmax, and the commercial supercapacitors the
     * paper compares it with, 8 h and 21 h to 0.5 Vmax (system.md).  Each
     * is the one number its device's shunt_resistance is fitted to
     * (devices/self-discharge.fit, the commercial files' comments): a
     * calibration row, not a prediction */
    {"sd_nimc", "self-discharge from 3.5 V to 2.1 V (0.6 Vmax), uncovered", "h",
     44, CALIBRATION, Q_SELF_DISCHARGE, UNCOVERED, 0.1, UNCOVERED, 0},
    {"sd_commercial_3.5V",
     "self-discharge to 0.5 Vmax, commercial supercapacitor 3.5 V / 25 mF", "h",
     8, CALIBRATION, Q_SELF_DISCHARGE, COMMERCIAL_3V5, 0, COMMERCIAL_3V5, 0},
    {"sd_commercial_2.75V",
     "self-discharge to 0.5 Vmax, commercial supercapacitor 2.75 V / 44 mF",
     "h", 21, CALIBRATION, Q_SELF_DISCHARGE, COMMERCIAL_2V75, 0,
     COMMERCIAL_2V75, 0},
    /* the cycling stability: 75 % of the capacitance kept after 6000
     * cycles at 0.8 mA/cm2, and a coulombic efficiency of about 99 %
     * (system.md; the paper states that efficiency for the GCD after 2000
     * bends, the issue of long runs asks it of the cycling).  The model's
     * ageing parameters (the side_reaction_* keys of the material files)
     * are fitted on these two, so they are calibration rows; their cycle
     * is the last of the 6000 (PAPER_CYCLING_CYCLES) */
    {"retention_6000",
     "capacitance retention after 6000 cycles at 0.8 mA/cm2 (last / first "
     "cycle)",
     "1", 0.75, CALIBRATION, Q_CYCLING_RETENTION, UNCOVERED, 0.8, UNCOVERED, 0},
    {"ce_6000", "coulombic efficiency of cycle 6000 at 0.8 mA/cm2", "1", 0.99,
     CALIBRATION, Q_CYCLING_CE, UNCOVERED, 0.8, UNCOVERED, 0},
    /* not fitted: the cover is fitted to cv_0.2_covered alone */
    {"rct_eis_covered", "charge-transfer resistance (EIS), covered", "ohm",
     368, PREDICTION, Q_R_CT, COVERED, 0, COVERED, 0},
    /* two NIMCs in series ("the voltage window doubles": the same current
     * for the same time takes them to 7.0 V) and in parallel ("current and
     * time double": at the same current, twice as long); the paper states
     * the ratios, 1 and 2 */
    {"series_time_ratio",
     "two in series to 7.0 V / one to 3.5 V, time at 0.1 mA/cm2", "1", 1.0,
     PREDICTION, Q_SERIES_TIME, UNCOVERED, 0.1, UNCOVERED, 0},
    {"parallel_time_ratio",
     "two in parallel / one, discharge time 3.5 to 0 V at 0.1 mA/cm2", "1",
     2.0, PREDICTION, Q_PARALLEL_TIME, UNCOVERED, 0.1, UNCOVERED, 0},
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

/* The paper's cycling study: the cycle its retention and efficiency are
 * read at (the last of the study) and its current density (mA/cm2). */
#define PAPER_CYCLING_CYCLES 6000
#define PAPER_CYCLING_J 0.8

/* Is p a result of the impedance spectrum (not of a GCD)? */
static inline int paper_is_eis(const struct paper_value *p) {
  return p->kind == Q_R_OHMIC || p->kind == Q_R_CT;
}

/* Is p a result of two NIMCs in series or in parallel (a pack)? */
static inline int paper_is_pack(const struct paper_value *p) {
  return p->kind == Q_SERIES_TIME || p->kind == Q_PARALLEL_TIME;
}

/* Is p a result of the long cycling study (retention, efficiency)? */
static inline int paper_is_cycling(const struct paper_value *p) {
  return p->kind == Q_CYCLING_RETENTION || p->kind == Q_CYCLING_CE;
}

/* Is p a row that devices/calibration.fit fits: a calibration row of a kind it
 * can simulate (a volumetric capacitance or an impedance result)? */
static inline int paper_is_fitted(const struct paper_value *p) {
  return p->role == CALIBRATION && (p->kind == Q_VOLUMETRIC || paper_is_eis(p));
}

/* The row with identifier id, or NULL. */
static inline const struct paper_value *paper_find(const char *id) {
  for (size_t k = 0; k < NPAPER_VALUES; k++)
    if (!strcmp(paper_values[k].id, id)) return &paper_values[k];
  return NULL;
}

#endif
