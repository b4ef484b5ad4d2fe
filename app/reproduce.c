/*
 * reproduce.c -- `nimc reproduce`: the paper's experiments, model against
 * paper, in two tables: the calibration (the points the model's unknown
 * parameters were fitted to) and the predictions (everything else).
 *
 * The experiments of Zheng et al. (Adv. Sci. 2019, 6, 1902147) that the
 * simulator can run so far are re-run on the shipped devices and on the
 * variants the paper builds from them (a table below: the covered device,
 * AG//AG, 80 C, the anode:cathode thickness series), and each published
 * number is set beside the model's:
 *   (a) GCD profiles of the uncovered device at a few current densities;
 *   (b) capacitance against current density for both devices;
 *       every GCD measured as the paper measured it, after formation: the
 *       cycle is repeated until it is steady (nimc_sim_run_until_steady),
 *       and the numbers are those of the steady cycle, which each row
 *       names;
 *   (c) maps of the fields at the end of a fast charge, both devices;
 *   (d) the impedance spectra of both devices at their initial state,
 *       fitted with nimc eis's default circuit, as the paper read its
 *       equivalent series and charge-transfer resistances;
 *   (e) the predictions figure: capacitance against current density of
 *       the uncovered, covered, AG//AG and 80 C devices, and capacitance
 *       against the thickness ratio;
 *   (f) the load test: the uncovered device, charged at 0.6 mA/cm2 for
 *       120 s (within its 3.5 V window), lights the LED of its [led]
 *       section until its voltage falls to the LED's forward voltage; how
 *       long it stays lit is a model-only row of the predictions table
 *       (led_lit_s) and a line below it.
 *   (g) cyclic voltammetry of the uncovered device at 5, 10 and 20 mV/s:
 *       the capacitance of a steady cycle from the integrated current,
 *       and the voltammograms.
 *   (h) the cycling study: the experiment file nimc-cycling-6000.txt of
 *       the --experiments directory (formation, then 6000 cycles at
 *       0.8 mA/cm2 with cycle jumping) on the uncovered device and at
 *       80 C; the retention and coulombic efficiency of the Repeat's last
 *       cycle (calibration rows at 25 C: the ageing is fitted on them;
 *       model-only predictions at 80 C), and the retention curve.  Only
 *       the cycle summaries are kept (a cycle sink, NIMC_KEEP_NONE), so
 *       memory does not grow with the cycles' samples.  It takes minutes,
 *       so --only calibration leaves it out (and says so): --only cycling
 *       runs it alone.
 * The calibration table is the rows of app/paper.h whose role is
 * calibration (devices/calibration.fit fits the same rows); the predictions
 * table is paper.h's prediction rows and the model-only rows below, for
 * which the paper gives no value.  Everything that varies from one
 * experiment to the next is data in the static tables below (variants,
 * currents, rows), so a new comparison is a new row, a new device a new
 * variant, not new code.  The simulations that the tables and figures
 * need are collected once (a variant at a current used by several is
 * simulated once; a variant is loaded only when something needs it) and
 * run one after the other.
 *
 * Nothing here tunes the model to the paper: the published values are
 * only printed beside the model's and drawn as markers.  A simulation that
 * fails is reported (which experiment, which device and current, why), its
 * values become null / "failed", the rest goes on, and the exit status is
 * 1.  A measurement that is not what the paper measured (its discharge
 * ended before 0 V, or its cycles were not steady within the cycle limit)
 * keeps its model value but is excluded from the comparison (no relative
 * error; the reason is printed and written with the row).  A model-only
 * row without a value (a GCD with nothing to measure) is a warning, not a
 * failure: there is nothing to compare.  The command uses the public API
 * only; figures come from the report layer (nimc_plot_curves,
 * nimc_plot_panels, nimc_plot_fields), files from the io layer.  The
 * experiment of (h) is data too: a file, so that a test can give a short
 * one.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nimc/nimc.h"
#include "nimc/report.h"
#include "paper.h"
#include "reproduce.h"

/* ---- the experiments, as data ---- */

/* The variants: a device file of the --devices directory, at a
 * temperature, with overrides, as `nimc run FILE --temperature T --set K=V`
 * would load it.  The first two are the devices of paper.h (its rows'
 * device indices); the rest differ from the uncovered device only where
 * the paper's devices differ (system.md: "80 C differs from 25 C only by
 * temperature", "the thickness-ratio series differs only in thickness").
 * The series keeps one electrode at the uncovered device's thickness and
 * varies the other: 1:2 is the uncovered device itself. */
enum {
  V_UNCOVERED = UNCOVERED,
  V_COVERED = COVERED,
  V_COMMERCIAL_3V5 = COMMERCIAL_3V5,
  V_COMMERCIAL_2V75 = COMMERCIAL_2V75,
  V_AG_AG,
  V_80C,
  V_1_1_CATHODE_FIXED,
  V_1_3_CATHODE_FIXED,
  V_1_4_CATHODE_FIXED,
  V_1_1_ANODE_FIXED,
  V_1_3_ANODE_FIXED,
  V_1_4_ANODE_FIXED,
  V_SERIES,   /* two uncovered NIMCs in series (a 2s1p pack) */
  V_PARALLEL, /* two in parallel (1s2p) */
  NVARIANT
};

#define MAX_SETS 2

static const struct variant {
  const char *id;          /* short name, for messages */
  const char *label;       /* after the device's name (and a space) in
                              messages and legends; NULL: the name alone */
  const char *file;        /* in --devices DIR */
  const char *temperature; /* NULL: the file's */
  const char *sets[MAX_SETS]; /* --set overrides; NULL ends the list */
  /* the least coulombic efficiency of a steady cycle (0: the default of
   * nimc_steady_opts_default, 0.99); lower only where the model predicts
   * a device that passes more charge than it gives back on every cycle,
   * whose cycles are steady all the same */
  double ce_min;
} variants[NVARIANT] = {
    [V_UNCOVERED] = {"uncovered", NULL, "nimc.ini", NULL, {NULL}},
    [V_COVERED] = {"covered", NULL, "nimc-covered.ini", NULL, {NULL}},
    [V_COMMERCIAL_3V5] =
        {"commercial 3.5 V", NULL, "commercial-3v5-25mF.ini", NULL, {NULL}},
    [V_COMMERCIAL_2V75] =
        {"commercial 2.75 V", NULL, "commercial-2v75-44mF.ini", NULL, {NULL}},
    [V_AG_AG] = {"AG//AG", NULL, "ag-ag-msc.ini", NULL, {NULL}},
    /* at 80 C the materials' trapping (20 kJ/mol) takes some 3 % of
     * each charge: a steady cycle's efficiency is about 0.97 */
    [V_80C] = {"80 C", "at 80 C", "nimc.ini", "80 degC", {NULL}, 0.95},
    [V_1_1_CATHODE_FIXED] = {"1:1 cathode fixed",
                             "1:1 (anode 10 um, cathode 10 um)",
                             "nimc.ini",
                             NULL,
                             {"anode.thickness=10 um", NULL}},
    [V_1_3_CATHODE_FIXED] = {"1:3 cathode fixed",
                             "1:3 (anode 3.33 um, cathode 10 um)",
                             "nimc.ini",
                             NULL,
                             {"anode.thickness=3.333333333 um", NULL}},
    [V_1_4_CATHODE_FIXED] = {"1:4 cathode fixed",
                             "1:4 (anode 2.5 um, cathode 10 um)",
                             "nimc.ini",
                             NULL,
                             {"anode.thickness=2.5 um", NULL}},
    [V_1_1_ANODE_FIXED] = {"1:1 anode fixed",
                           "1:1 (anode 5 um, cathode 5 um)",
                           "nimc.ini",
                           NULL,
                           {"cathode.thickness=5 um", NULL}},
    [V_1_3_ANODE_FIXED] = {"1:3 anode fixed",
                           "1:3 (anode 5 um, cathode 15 um)",
                           "nimc.ini",
                           NULL,
                           {"cathode.thickness=15 um", NULL}},
    [V_1_4_ANODE_FIXED] = {"1:4 anode fixed",
                           "1:4 (anode 5 um, cathode 20 um)",
                           "nimc.ini",
                           NULL,
                           {"cathode.thickness=20 um", NULL}},
    [V_SERIES] = {"2s1p", "two in series (2s1p)", "nimc.ini", NULL,
                  {"pack.series=2", NULL}},
    [V_PARALLEL] = {"1s2p", "two in parallel (1s2p)", "nimc.ini", NULL,
                    {"pack.parallel=2", NULL}},
};

/* The predictions: the rows of the second table that the paper gives no
 * value for (paper NaN: the model's alone), the same shape as paper.h's
 * rows, whose device is a variant here.  paper.h's prediction rows (with
 * a published value) come first in the table, then these. */
#define PREDICT(id, quantity, unit, kind, v, J, v_ref, J_ref)                   \
  {id, quantity, unit, NAN, PREDICTION, kind, v, J, v_ref, J_ref}
#define PREDICT_CV(id, quantity, v, J)                                         \
  PREDICT(id, quantity, "F/cm3", Q_VOLUMETRIC, v, J, v, 0)
static const struct paper_value predictions[] = {
    /* the covered device across rates (0.2 mA/cm2 is the calibration
     * row cv_0.2_covered), and the share of the uncovered device's
     * capacitance it keeps at each */
    PREDICT_CV("cv_0.1_covered", "volumetric capacitance at 0.1 mA/cm2, covered",
               V_COVERED, 0.1),
    PREDICT_CV("cv_0.3_covered", "volumetric capacitance at 0.3 mA/cm2, covered",
               V_COVERED, 0.3),
    PREDICT_CV("cv_0.5_covered", "volumetric capacitance at 0.5 mA/cm2, covered",
               V_COVERED, 0.5),
    PREDICT_CV("cv_1_covered", "volumetric capacitance at 1 mA/cm2, covered",
               V_COVERED, 1.0),
    PREDICT_CV("cv_1.5_covered", "volumetric capacitance at 1.5 mA/cm2, covered",
               V_COVERED, 1.5),
    PREDICT_CV("cv_2_covered", "volumetric capacitance at 2 mA/cm2, covered",
               V_COVERED, 2.0),
    PREDICT("cover_ratio_0.1", "covered / uncovered capacitance at 0.1 mA/cm2",
            "1", Q_RATIO, V_COVERED, 0.1, V_UNCOVERED, 0.1),
    PREDICT("cover_ratio_0.3", "covered / uncovered capacitance at 0.3 mA/cm2",
            "1", Q_RATIO, V_COVERED, 0.3, V_UNCOVERED, 0.3),
    PREDICT("cover_ratio_0.5", "covered / uncovered capacitance at 0.5 mA/cm2",
            "1", Q_RATIO, V_COVERED, 0.5, V_UNCOVERED, 0.5),
    PREDICT("cover_ratio_1", "covered / uncovered capacitance at 1 mA/cm2", "1",
            Q_RATIO, V_COVERED, 1.0, V_UNCOVERED, 1.0),
    PREDICT("cover_ratio_1.5", "covered / uncovered capacitance at 1.5 mA/cm2",
            "1", Q_RATIO, V_COVERED, 1.5, V_UNCOVERED, 1.5),
    PREDICT("cover_ratio_2", "covered / uncovered capacitance at 2 mA/cm2", "1",
            Q_RATIO, V_COVERED, 2.0, V_UNCOVERED, 2.0),
    PREDICT("esr_eis_covered", "equivalent series resistance (EIS), covered",
            "ohm", Q_R_OHMIC, V_COVERED, 0, V_COVERED, 0),
    /* the symmetric AG//AG micro-supercapacitor; its retention beside
     * the NIMC's (retention_1, a calibration row: 0.60) */
    PREDICT_CV("cv_0.1_ag_ag", "volumetric capacitance at 0.1 mA/cm2, AG//AG",
               V_AG_AG, 0.1),
    PREDICT_CV("cv_0.3_ag_ag", "volumetric capacitance at 0.3 mA/cm2, AG//AG",
               V_AG_AG, 0.3),
    PREDICT_CV("cv_1_ag_ag", "volumetric capacitance at 1 mA/cm2, AG//AG",
               V_AG_AG, 1.0),
    PREDICT_CV("cv_2_ag_ag", "volumetric capacitance at 2 mA/cm2, AG//AG",
               V_AG_AG, 2.0),
    PREDICT("retention_1_ag_ag",
            "capacitance at 1 relative to 0.1 mA/cm2, AG//AG (NIMC: "
            "retention_1)",
            "1", Q_RATIO, V_AG_AG, 1.0, V_AG_AG, 0.1),
    PREDICT("esr_eis_ag_ag", "equivalent series resistance (EIS), AG//AG", "ohm",
            Q_R_OHMIC, V_AG_AG, 0, V_AG_AG, 0),
    /* the uncovered device at 80 C */
    PREDICT_CV("cv_0.1_80C", "volumetric capacitance at 0.1 mA/cm2, 80 C",
               V_80C, 0.1),
    PREDICT_CV("cv_0.3_80C", "volumetric capacitance at 0.3 mA/cm2, 80 C",
               V_80C, 0.3),
    PREDICT_CV("cv_1_80C", "volumetric capacitance at 1 mA/cm2, 80 C", V_80C,
               1.0),
    PREDICT_CV("cv_1.5_80C", "volumetric capacitance at 1.5 mA/cm2, 80 C",
               V_80C, 1.5),
    PREDICT_CV("cv_2_80C", "volumetric capacitance at 2 mA/cm2, 80 C", V_80C,
               2.0),
    PREDICT("esr_eis_80C", "equivalent series resistance (EIS), 80 C", "ohm",
            Q_R_OHMIC, V_80C, 0, V_80C, 0),
    PREDICT("rct_eis_80C", "charge-transfer resistance (EIS), 80 C", "ohm",
            Q_R_CT, V_80C, 0, V_80C, 0),
    /* (h) the cycling study at 80 C, the paper's other cycling
     * temperature (it gives no number there): the ageing fitted at 25 C
     * with its Arrhenius laws */
    PREDICT("retention_6000_80C",
            "capacitance retention after 6000 cycles at 0.8 mA/cm2 (last / "
            "first cycle), 80 C",
            "1", Q_CYCLING_RETENTION, V_80C, PAPER_CYCLING_J, V_80C, 0),
    PREDICT("ce_6000_80C",
            "coulombic efficiency of cycle 6000 at 0.8 mA/cm2, 80 C", "1",
            Q_CYCLING_CE, V_80C, PAPER_CYCLING_J, V_80C, 0),
    /* the thickness-ratio series at 0.1 mA/cm2, each volumetric value per
     * the variant's own mean electrode thickness */
    /* (g) cyclic voltammetry of the uncovered device, 0 to 3.5 V: the
     * capacitance from the integrated current of a steady cycle; the paper
     * shows the voltammograms but gives no capacitance from them */
    PREDICT("cv_sweep_5mV_s",
            "volumetric capacitance, CV at 5 mV/s (cycle charge / 2 dV)",
            "F/cm3", Q_CV_SWEEP, V_UNCOVERED, 5, V_UNCOVERED, 0),
    PREDICT("cv_sweep_10mV_s",
            "volumetric capacitance, CV at 10 mV/s (cycle charge / 2 dV)",
            "F/cm3", Q_CV_SWEEP, V_UNCOVERED, 10, V_UNCOVERED, 0),
    PREDICT("cv_sweep_20mV_s",
            "volumetric capacitance, CV at 20 mV/s (cycle charge / 2 dV)",
            "F/cm3", Q_CV_SWEEP, V_UNCOVERED, 20, V_UNCOVERED, 0),
    PREDICT_CV("cv_0.1_1:1_cathode_fixed",
               "volumetric capacitance at 0.1 mA/cm2, 1:1 (anode 10, cathode "
               "10 um)",
               V_1_1_CATHODE_FIXED, 0.1),
    PREDICT_CV("cv_0.1_1:2_cathode_fixed",
               "volumetric capacitance at 0.1 mA/cm2, 1:2 (anode 5, cathode "
               "10 um)",
               V_UNCOVERED, 0.1),
    PREDICT_CV("cv_0.1_1:3_cathode_fixed",
               "volumetric capacitance at 0.1 mA/cm2, 1:3 (anode 3.33, cathode "
               "10 um)",
               V_1_3_CATHODE_FIXED, 0.1),
    PREDICT_CV("cv_0.1_1:4_cathode_fixed",
               "volumetric capacitance at 0.1 mA/cm2, 1:4 (anode 2.5, cathode "
               "10 um)",
               V_1_4_CATHODE_FIXED, 0.1),
    PREDICT_CV("cv_0.1_1:1_anode_fixed",
               "volumetric capacitance at 0.1 mA/cm2, 1:1 (anode 5, cathode "
               "5 um)",
               V_1_1_ANODE_FIXED, 0.1),
    PREDICT_CV("cv_0.1_1:2_anode_fixed",
               "volumetric capacitance at 0.1 mA/cm2, 1:2 (anode 5, cathode "
               "10 um)",
               V_UNCOVERED, 0.1),
    PREDICT_CV("cv_0.1_1:3_anode_fixed",
               "volumetric capacitance at 0.1 mA/cm2, 1:3 (anode 5, cathode "
               "15 um)",
               V_1_3_ANODE_FIXED, 0.1),
    PREDICT_CV("cv_0.1_1:4_anode_fixed",
               "volumetric capacitance at 0.1 mA/cm2, 1:4 (anode 5, cathode "
               "20 um)",
               V_1_4_ANODE_FIXED, 0.1),
};
#undef PREDICT_CV
#undef PREDICT

/* The self-discharge rows' experiment, per variant: a charge at `current`
 * to v_max (after one full cycle at the same current from the initial
 * state, when cycle_first), then open circuit until fraction x v_max or
 * for 200 h; the row's value is that rest's duration when it ended on the
 * voltage.  The NIMC's is devices/self-discharge.fit's target (0.1 mA/cm2,
 * the paper's lowest rate; the paper does not state its charge); the
 * commercial parts are charged at 1 mA (a minute and a half). */
static const struct self_discharge {
  int variant;
  const char *current;
  double v_max, fraction;
  int cycle_first;
} self_discharge[] = {
    {V_UNCOVERED, "0.1 mA/cm2", 3.5, 0.6, 1},
    {V_COMMERCIAL_3V5, "1 mA", 3.5, 0.5, 0},
    {V_COMMERCIAL_2V75, "1 mA", 2.75, 0.5, 0},
};
#define SELF_DISCHARGE_MAX_H 200.0

/* The GCD window of every measurement (the paper's 0 to 3.5 V).  Each
 * measurement cycles from the device's initial state until the cycle is
 * steady, by the defaults of nimc_steady_opts_default (at least 3 cycles,
 * coulombic efficiency >= 0.99, capacitance and efficiency within 3e-4 of
 * the cycle before, at most 30 cycles): the measurement
 * `nimc run DEVICE -e 'Charge ...' -e 'Discharge ...' --until-steady`
 * makes, which the calibration fits too; the metrics come from the steady
 * cycle's discharge. */
static const double gcd_v_max_V = 3.5, gcd_v_min_V = 0.0;

/* (a) GCD profiles of the uncovered device, mA/cm2 of footprint. */
static const double profile_J[] = {0.1, 0.2, 0.3};

/* (b) capacitance against current density, both devices, mA/cm2. */
static const double rate_J[] = {0.1, 0.2, 0.3, 0.5, 1.0, 1.5, 2.0};

/* (c) maps at the end of a charge from the as-made state, mA/cm2. */
static const double fields_J = 1.0;

/* (d) the impedance sweep of the paper: 100 kHz to 10 mHz (10 a decade). */
static const double eis_from_Hz = PAPER_EIS_FROM_HZ,
                    eis_to_Hz = PAPER_EIS_TO_HZ;
static const int eis_per_decade = PAPER_EIS_PER_DECADE;

/* (e) the predictions figure: capacitance against current density of
 * these variants (every current density simulated for them; the paper's
 * points as markers), and the thickness-ratio series at series_J against
 * the cathode:anode ratio series_ratio. */
static const int predicted_rate_variants[] = {V_UNCOVERED, V_COVERED, V_AG_AG,
                                              V_80C};
static const double series_J = 0.1;
static const double series_ratio[4] = {1, 2, 3, 4}; /* cathode per anode */
static const struct ratio_series {
  const char *label;
  int variant[4]; /* at series_ratio[k] */
} ratio_series[] = {
    {"cathode fixed at 10 um",
     {V_1_1_CATHODE_FIXED, V_UNCOVERED, V_1_3_CATHODE_FIXED,
      V_1_4_CATHODE_FIXED}},
    {"anode fixed at 5 um",
     {V_1_1_ANODE_FIXED, V_UNCOVERED, V_1_3_ANODE_FIXED, V_1_4_ANODE_FIXED}},
};

/* (g) cyclic voltammetry: the uncovered device, emptied from its initial
 * state by a discharge at cv_pre_J mA/cm2 to the window's bottom, swept
 * over the GCD window, cv_cycles cycles at each of these scan rates
 * (mV/s).  The capacitance is that of the last cycle, never the first
 * (which starts from the as-made state), as nimc analyze --kind cv reads
 * it (nimc_cv_cycles): the charge integral |I| dt over the cycle's two
 * sweeps / (2 (V_max - V_min)), i.e. integral |I| dV / (2 nu dV), per
 * footprint area and mean electrode thickness.  The last cycle is steady
 * when its capacitance is within cv_steady_tol of the cycle before; one
 * that is not keeps its value but says so. */
static const double cv_rate_mV_s[] = {5, 10, 20};
enum { CV_CYCLES = 3 };
static const double cv_steady_tol = 1e-2;
static const double cv_pre_J = 0.1;

/* (h) the cycling study: this file of the --experiments directory, run
 * from the as-made state of each of these variants (the rows' devices);
 * its last line's cycles are the study (the lines before it are
 * formation), and the rows read its last cycle. */
static const char *const cycling_file = "nimc-cycling-6000.txt";
static const int cycling_variants[] = {V_UNCOVERED, V_80C};
/* a progress line at most this often during a cycling run (s) */
static const double cycling_progress_s = 30.0;

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define NPAPER COUNT(paper_values)
#define NPRED COUNT(predictions)
#define NROWS (NPAPER + NPRED + 1) /* + the LED demonstration's row */

/* ---- the command line ---- */

static const char *usage =
    "usage: nimc reproduce [--json] [-o DIR] [--devices DIR] [--experiments "
    "DIR]\n"
    "                      [--only calibration|led|cv|cycling] [-q]\n"
    "\n"
    "Regenerate the experiments of the paper (Zheng et al., Adv. Sci. 2019)\n"
    "that the simulator can run, and print the model's numbers beside the\n"
    "published ones (quantity | unit | paper | model | rel. error | cycle)\n"
    "in two tables: 'calibration (fitted points)', the values the model's\n"
    "unknown parameters were fitted to (nimc fit --spec\n"
    "devices/calibration.fit) and numbers read\n"
    "from the same measurements, and 'predictions', everything else: the\n"
    "covered device across 0.1 to 2 mA/cm2, AG//AG across rates, the\n"
    "anode:cathode thickness series 1:1 to 1:4 (cathode fixed at 10 um,\n"
    "anode fixed at 5 um), 80 C across rates, and the resistances of the\n"
    "impedance, the capacitance of cyclic voltammograms at 5, 10 and 20\n"
    "mV/s, and the retention and coulombic efficiency after 6000 cycles at\n"
    "80 C; paper '-' where the paper gives no value.  The cycling study\n"
    "(nimc-cycling-6000.txt of --experiments: formation, then 6000 cycles\n"
    "at 0.8 mA/cm2 with cycle jumping, on the uncovered device and at 80 C)\n"
    "gives the calibration rows retention_6000 and ce_6000 (the ageing is\n"
    "fitted on them), read from the Repeat's last cycle, and takes minutes.\n"
    "Every GCD is measured after formation: the cycle 'Charge at J until\n"
    "3.5 V', 'Discharge at J until 0 V' is repeated from the device's\n"
    "initial state until it is steady (at least 3 cycles, coulombic\n"
    "efficiency >= 0.99, capacitance and efficiency within 0.03 % of the\n"
    "cycle before, at most 30 cycles: `nimc run --until-steady`), and the\n"
    "metrics are those of the steady cycle's discharge; the column 'cycle'\n"
    "says which cycle each number was read from (C/C_ref for a ratio).  A\n"
    "measurement whose discharge ended before 0 V, or that was not steady\n"
    "within 30 cycles, keeps its model value but is 'excluded' from the\n"
    "comparison, and the reason is printed below the table.  The\n"
    "resistances come from the impedance at the initial state, fitted as\n"
    "`nimc eis` does.  See docs/reproduce.md.\n"
    "\n"
    "  --json            print the summary JSON (with its \"validation\" "
    "array,\n"
    "                    each row with its \"role\": \"calibration\" or\n"
    "                    \"prediction\") on stdout, and nothing else\n"
    "  -o, --output DIR  write reproduce_gcd, reproduce_rate,\n"
    "                    reproduce_fields, reproduce_eis,\n"
    "                    reproduce_predictions, reproduce_cv_rates and\n"
    "                    reproduce_cycling (.png, .svg), reproduce.json\n"
    "                    and validation.csv into DIR\n"
    "  --devices DIR     where nimc.ini, nimc-covered.ini and ag-ag-msc.ini\n"
    "                    are (default: devices)\n"
    "  --experiments DIR where nimc-cycling-6000.txt, the cycling study, is\n"
    "                    (default: experiments)\n"
    "  --only calibration\n"
    "                    the calibration table alone: no predictions table,\n"
    "                    no prediction variants (AG//AG, 80 C, the thickness\n"
    "                    series), no reproduce_predictions, and the covered\n"
    "                    device only at its calibration point, and not the\n"
    "                    cycling study (its rows retention_6000 and ce_6000\n"
    "                    are left out, and a line says so); minutes\n"
    "  --only led        the LED demonstration alone (f): charge the\n"
    "                    uncovered device at 0.6 mA/cm2 for 120 s (or to\n"
    "                    3.5 V), then 'Discharge through LED' until the\n"
    "                    LED's forward voltage ([led] of nimc.ini); prints\n"
    "                    how long the LED stays lit (row led_lit_s)\n"
    "  --only cv         the cyclic voltammetry alone (experiment (g)): the\n"
    "                    uncovered device at 5, 10 and 20 mV/s, 3 cycles "
    "each,\n"
    "                    the capacitance of the last cycle (charge / 2 dV) "
    "and\n"
    "                    reproduce_cv_rates (I against V); about 20 s\n"
    "  --only cycling    the cycling study alone (h): the rows\n"
    "                    retention_6000, ce_6000 (calibration) and\n"
    "                    retention_6000_80C, ce_6000_80C (predictions), and\n"
    "                    reproduce_cycling\n"
    "                    (retention and coulombic efficiency against cycle,\n"
    "                    25 and 80 C); minutes with the shipped experiment\n"
    "  -q, --quiet       no progress on stderr\n"
    "  -h, --help        this help\n"
    "\n"
    "Exit status: 0 success, 1 a simulation or an output failed, or a value\n"
    "the paper gives has no model value (the rest is still reported), 2 bad\n"
    "usage or a bad device file.\n";

void cli_reproduce_usage(FILE *out) {
  fputs(usage, out);
}

typedef struct args {
  const char *outdir, *devdir, *expdir;
  int json, quiet;
  int calibration_only; /* --only calibration */
  int led_only;         /* --only led */
  int cv_only;          /* --only cv */
  int cycling_only;     /* --only cycling */
} args;

/* Is a part run alone that draws no GCD (--only led, cv or cycling)? */
static int part_alone(const args *a) {
  return a->led_only || a->cv_only || a->cycling_only;
}

/* 0 to go on, -1 after --help, or an exit status. */
static int parse_args(int argc, char **argv, args *a) {
  memset(a, 0, sizeof *a);
  a->devdir = "devices";
  a->expdir = "experiments";
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i];
    int has_value = i + 1 < argc;
    if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
      fputs(usage, stdout);
      return -1;
    } else if (!strcmp(o, "--json")) {
      a->json = 1;
    } else if (!strcmp(o, "-q") || !strcmp(o, "--quiet")) {
      a->quiet = 1;
    } else if (!strcmp(o, "-o") || !strcmp(o, "--output")) {
      if (!has_value)
        return cli_fail_usage("reproduce", "option '%s' needs a directory", o);
      a->outdir = argv[++i];
    } else if (!strcmp(o, "--devices")) {
      if (!has_value)
        return cli_fail_usage("reproduce", "option '%s' needs a directory", o);
      a->devdir = argv[++i];
    } else if (!strcmp(o, "--experiments")) {
      if (!has_value)
        return cli_fail_usage("reproduce", "option '%s' needs a directory", o);
      a->expdir = argv[++i];
    } else if (!strcmp(o, "--only")) {
      if (!has_value)
        return cli_fail_usage("reproduce",
                              "option '%s' needs a part: calibration, led, "
                              "cv or cycling",
                              o);
      if (a->calibration_only || part_alone(a))
        return cli_fail_usage("reproduce",
                              "--only '%s': one part only (--only was given "
                              "before)",
                              argv[i + 1]);
      if (!strcmp(argv[++i], "calibration"))
        a->calibration_only = 1;
      else if (!strcmp(argv[i], "led"))
        a->led_only = 1;
      else if (!strcmp(argv[i], "cv"))
        a->cv_only = 1;
      else if (!strcmp(argv[i], "cycling"))
        a->cycling_only = 1;
      else
        return cli_fail_usage("reproduce",
                              "--only '%s': the parts to run alone are "
                              "'calibration', 'led', 'cv' and 'cycling'",
                              argv[i]);
    } else if (o[0] == '-') {
      return cli_fail_usage("reproduce", "unknown option '%s'", o);
    } else {
      return cli_fail_usage("reproduce", "unexpected argument '%s'", o);
    }
  }
  return 0;
}

/* ---- the simulations ---- */

/* One GCD measurement: a variant at a current density, cycled until
 * steady. */
typedef struct gcd_run {
  int variant;
  double J;         /* mA/cm2 */
  int done;         /* simulated (the metrics may still be missing) */
  int have_metrics; /* m holds the steady cycle's metrics */
  nimc_metrics m;   /* m.cycle: the cycle they were read from */
  nimc_steady_info info;
  char excluded[256]; /* "" or why it is not compared with the paper */
  nimc_result res;
  double wall_s;
} gcd_run;

/* One map of experiment (c). */
typedef struct fields_run {
  int done;
  nimc_fields f;
  double wall_s;
} fields_run;

/* One spectrum (experiment (d), or a resistance row), fitted. */
typedef struct eis_run {
  int wanted;
  int done, fitted;
  nimc_spectrum s;
  nimc_circuit *circuit;
  nimc_fit fit;
  double r_ohmic, r_ct;
  double wall_s;
} eis_run;

/* (f) the LED demonstration. */
typedef struct led_run {
  int done;            /* simulated */
  double v_f, i_f;     /* the LED's forward voltage (V) and current (A) */
  double charge_s;     /* how long the charge ran */
  double charge_end_V; /* where it ended */
  double lit_s;        /* how long the LED stayed lit; NaN: not computed */
  char quantity[200];  /* the row's quantity, naming the LED */
  double wall_s;
} led_run;


/* The pack rows (Q_SERIES_TIME, Q_PARALLEL_TIME): from the as-made state
 * at pack_J, one cell charged to 3.5 V and discharged to 0 V, two in
 * series charged to 7.0 V, two in parallel charged and discharged as the
 * one; the steps' durations (NaN until measured). */
typedef struct pack_runs {
  int wanted;
  double t_charge_1, t_discharge_1; /* one NIMC */
  double t_charge_series;           /* 2s1p to 7.0 V */
  double t_discharge_parallel;      /* 1s2p, 3.5 to 0 V */
} pack_runs;


/* One CV of experiment (g): the uncovered device at one scan rate. */
typedef struct cv_run {
  double rate_mV_s;
  int done;            /* simulated */
  int have;            /* last holds a full cycle */
  int cycle;           /* the cycle read, 1-based */
  nimc_cv_cycle last;  /* that cycle */
  double c_vol_F_cm3;  /* its volumetric capacitance */
  double change;       /* relative to the cycle before (NaN: none) */
  char excluded[160];  /* "" or why it is not a steady cycle */
  nimc_result res;
  double wall_s;
} cv_run;

/* One self-discharge of the table above. */
typedef struct sd_run {
  int wanted, done;
  double hours; /* NaN: not reached within SELF_DISCHARGE_MAX_H */
  double wall_s;
} sd_run;

/* One simulated cycle of the cycling study (h). */
typedef struct cycling_point {
  int cycle;          /* its number in its Repeat, 1-based */
  int skipped_before; /* cycles jumped over just before it */
  double retention;   /* capacitance over the Repeat's first (NaN: none) */
  double ce;          /* coulombic efficiency (NaN: no charge) */
} cycling_point;

/* The cycling study (h) on one variant: the simulated cycles of the
 * experiment's last line (its Repeat), in order; the formation cycles
 * before it are not kept. */
typedef struct cycling_run {
  int wanted, done; /* done: the whole experiment ran */
  cycling_point *pts;
  size_t n, cap;
  size_t simulated; /* cycles simulated in all, formation included */
  int oom;          /* a point could not be kept: the run was stopped */
  double wall_s;
} cycling_run;

typedef struct state {
  args a;
  led_run led;
  pack_runs packs;
  cv_run cv[COUNT(cv_rate_mV_s)];
  int want_cv;
  nimc_device *dev[NVARIANT]; /* NULL: not needed, not loaded */
  int needed[NVARIANT];
  gcd_run *runs;
  size_t nruns;
  fields_run maps[NDEV];
  eis_run eis[NVARIANT];
  sd_run sd[NVARIANT];
  cycling_run cyc[NVARIANT];
  int want_cycling;
  nimc_experiment *cycling_exp; /* read before anything is simulated */
  char cycling_path[4096];
  /* the rows compared, calibration first: spec[k] is what row k
   * measures, rows[k] its value */
  const struct paper_value *spec[NROWS];
  nimc_validation_row rows[NROWS];
  char row_excluded[NROWS][600]; /* the rows' excluded texts */
  size_t nrows;
  int failed; /* something failed: exit status 1 */
  size_t nsims, done_sims;
  double start_s;
} state;

static int same_J(double a, double b) {
  return fabs(a - b) <= 1e-9 * fmax(fabs(a), fabs(b));
}

static gcd_run *find_run(state *s, int variant, double J) {
  for (size_t k = 0; k < s->nruns; k++)
    if (s->runs[k].variant == variant && same_J(s->runs[k].J, J))
      return &s->runs[k];
  return NULL;
}

/* Schedule a GCD of variant at J unless one is scheduled; 0 or -1
 * (memory). */
static int want_run(state *s, int variant, double J) {
  s->needed[variant] = 1;
  if (find_run(s, variant, J)) return 0;
  gcd_run *r = realloc(s->runs, (s->nruns + 1) * sizeof *r);
  if (!r) return -1;
  s->runs = r;
  memset(&r[s->nruns], 0, sizeof *r);
  r[s->nruns].variant = variant;
  r[s->nruns].J = J;
  s->nruns++;
  return 0;
}

static void want_eis(state *s, int variant) {
  s->needed[variant] = 1;
  s->eis[variant].wanted = 1;
}

/* Does experiment (b) run variant v?  Both devices; with --only
 * calibration the uncovered device alone, since the covered device's rate
 * series is a prediction (the covered calibration point is scheduled by
 * its row, and drawn). */
static int in_experiment_b(const state *s, int v) {
  return v == UNCOVERED || (v == COVERED && !s->a.calibration_only);
}

/* Is variant v at J a point of the predictions figure (e)? */
static int in_figure_e(const state *s, int v, double J) {
  if (s->a.calibration_only) return 0;
  for (size_t k = 0; k < COUNT(predicted_rate_variants); k++)
    if (predicted_rate_variants[k] == v) return 1;
  for (size_t k = 0; k < COUNT(ratio_series); k++)
    for (size_t i = 0; i < COUNT(series_ratio); i++)
      if (ratio_series[k].variant[i] == v && same_J(J, series_J)) return 1;
  return 0;
}

/* Is row p one of the part run alone (--only cv: experiment (g)'s rows,
 * --only cycling: (h)'s)? */
static int in_part(const args *a, const struct paper_value *p) {
  return (a->cv_only && p->kind == Q_CV_SWEEP) ||
         (a->cycling_only && paper_is_cycling(p));
}

/* The rows compared: the calibration rows of paper.h (with --only
 * calibration not the cycling study's), then (unless --only calibration)
 * its prediction rows and the model-only ones; with --only cv or cycling
 * the rows of that part alone, in the same order. */
static void select_rows(state *s) {
  if (s->a.cv_only || s->a.cycling_only) {
    for (size_t k = 0; k < NPAPER; k++)
      if (in_part(&s->a, &paper_values[k]))
        s->spec[s->nrows++] = &paper_values[k];
    for (size_t k = 0; k < NPRED; k++)
      if (in_part(&s->a, &predictions[k]))
        s->spec[s->nrows++] = &predictions[k];
    return;
  }
  for (size_t k = 0; k < NPAPER; k++)
    if (paper_values[k].role == CALIBRATION &&
        !(s->a.calibration_only && paper_is_cycling(&paper_values[k])))
      s->spec[s->nrows++] = &paper_values[k];
  if (s->a.calibration_only) return;
  for (size_t k = 0; k < NPAPER; k++)
    if (paper_values[k].role == PREDICTION)
      s->spec[s->nrows++] = &paper_values[k];
  for (size_t k = 0; k < NPRED; k++)
    s->spec[s->nrows++] = &predictions[k];
}

/* The simulations that the experiments, the rows and the figures need,
 * in the order: rate series of (b), then the rows' (variant by
 * variant as the tables list them), then the ratio series; the maps and
 * spectra of (c) and (d).  Marks the variants to load. */
static int plan_runs(state *s) {
  for (size_t k = 0; k < s->nrows; k++) /* (g) */
    if (s->spec[k]->kind == Q_CV_SWEEP) {
      s->want_cv = 1;
      s->needed[s->spec[k]->device] = 1;
    }
  for (size_t k = 0; k < COUNT(cv_rate_mV_s); k++)
    s->cv[k].rate_mV_s = cv_rate_mV_s[k];
  for (size_t k = 0; k < s->nrows; k++) /* (h) */
    if (paper_is_cycling(s->spec[k])) {
      s->want_cycling = 1;
      s->needed[s->spec[k]->device] = 1;
      s->cyc[s->spec[k]->device].wanted = 1;
    }
  if (s->a.cv_only || s->a.cycling_only) return 0;
  for (int d = 0; d < NDEV; d++)
    for (size_t k = 0; k < COUNT(rate_J) && in_experiment_b(s, d); k++)
      if (want_run(s, d, rate_J[k])) return -1;
  for (size_t k = 0; k < COUNT(profile_J); k++)
    if (want_run(s, UNCOVERED, profile_J[k])) return -1;
  for (size_t k = 0; k < s->nrows; k++) {
    const struct paper_value *p = s->spec[k];
    if (paper_is_eis(p)) {
      want_eis(s, p->device);
      continue;
    }
    if (paper_is_pack(p)) {
      s->packs.wanted = 1;
      s->needed[V_UNCOVERED] = s->needed[V_SERIES] = s->needed[V_PARALLEL] = 1;
      continue;
    }
    if (p->kind == Q_CV_SWEEP || paper_is_cycling(p)) continue; /* above */
    if (p->kind == Q_SELF_DISCHARGE) {
      s->needed[p->device] = 1;
      s->sd[p->device].wanted = 1;
      continue;
    }
    if (want_run(s, p->device, p->J) ||
        (p->kind == Q_RATIO && want_run(s, p->device_ref, p->J_ref)))
      return -1;
  }
  if (!s->a.calibration_only)
    for (size_t k = 0; k < COUNT(ratio_series); k++)
      for (size_t i = 0; i < COUNT(series_ratio); i++)
        if (want_run(s, ratio_series[k].variant[i], series_J)) return -1;
  for (int d = 0; d < NDEV; d++) { /* (c) and (d) */
    s->needed[d] = 1;
    want_eis(s, d);
  }
  return 0;
}

/* The name of variant v in messages and legends: "NTO//AG-NIMC at 80 C". */
static const char *variant_name(const state *s, int v, char *buf, size_t cap) {
  const char *name = s->dev[v] ? nimc_device_name(s->dev[v]) : variants[v].id;
  snprintf(buf, cap, "%s%s%s", name, variants[v].label ? " " : "",
           variants[v].label ? variants[v].label : "");
  return buf;
}

/* Append ", " (unless first) and text to buf (capacity cap, length *len). */
static void add_user(char *buf, size_t cap, size_t *len, const char *text) {
  if (*len >= cap) return;
  int n = snprintf(buf + *len, cap - *len, "%s%s", *len ? ", " : "", text);
  *len += n > 0 ? (size_t)n : 0;
}

/* What a GCD run is used for, for messages: "(a) GCD profiles, cv_0.1". */
static void run_users(const state *s, const gcd_run *r, char *buf,
                      size_t cap) {
  size_t len = 0;
  buf[0] = '\0';
  for (size_t k = 0; k < COUNT(profile_J); k++)
    if (r->variant == UNCOVERED && same_J(r->J, profile_J[k]))
      add_user(buf, cap, &len, "experiment (a) GCD profiles");
  for (size_t k = 0; k < COUNT(rate_J); k++)
    if (in_experiment_b(s, r->variant) && same_J(r->J, rate_J[k]))
      add_user(buf, cap, &len,
               "experiment (b) capacitance against current density");
  if (in_figure_e(s, r->variant, r->J))
    add_user(buf, cap, &len, "the predictions figure (e)");
  for (size_t k = 0; k < s->nrows; k++) {
    const struct paper_value *p = s->spec[k];
    if (paper_is_eis(p) || paper_is_pack(p) || p->kind == Q_SELF_DISCHARGE ||
        paper_is_cycling(p))
      continue;
    if ((p->device == r->variant && same_J(p->J, r->J)) ||
        (p->kind == Q_RATIO && p->device_ref == r->variant &&
         same_J(p->J_ref, r->J))) {
      char row[128];
      snprintf(row, sizeof row, "%s %s", row_role_name(p->role), p->id);
      add_user(buf, cap, &len, row);
    }
  }
}

/* Parse the lines of an experiment; on failure say why (a bug here, since
 * the lines are ours) and return NULL. */
static nimc_experiment *experiment(const char *const *lines, size_t n) {
  nimc_experiment *exp = NULL;
  nimc_err err;
  if (nimc_experiment_parse(&exp, lines, n, &err)) {
    fprintf(stderr, "nimc reproduce: %s\n", err.msg);
    return NULL;
  }
  return exp;
}

static void progress_line(state *s, const char *what, double wall_s,
                          const char *outcome) {
  s->done_sims++;
  if (s->a.quiet) return;
  fprintf(stderr,
          "nimc reproduce: [%zu/%zu] %s: %s in %.2f s (%.1f s in "
          "all)\n",
          s->done_sims, s->nsims, what, outcome, wall_s,
          cli_now_s() - s->start_s);
}

/* Run lines[0..n) on dev from its as-made state into *res (zeroed by the
 * caller); the simulation stays in *sim for the caller to read and destroy
 * (NULL when it could not be made).  The status, and *why the reason of a
 * failure (err's message, or the simulation's: read it before destroying
 * *sim). */
static int run_lines(const nimc_device *dev, const char *const *lines,
                     size_t n, nimc_sim **sim, nimc_result *res,
                     const char **why, nimc_err *err) {
  *sim = NULL;
  nimc_experiment *exp = experiment(lines, n);
  if (!exp) {
    *why = "the experiment could not be parsed";
    return NIMC_EINPUT;
  }
  int rc = nimc_sim_create(sim, dev, NULL, err);
  if (rc)
    *why = err->msg;
  else if ((rc = nimc_sim_run(*sim, exp, res)))
    *why = nimc_sim_errmsg(*sim);
  nimc_experiment_destroy(exp);
  return rc;
}

/* Say which steps of res from step first on (the measured cycle) ended
 * before their cut-off voltage (the model's answer, kept; but the
 * capacitance then measures a shorter window). */
static void warn_early_ends(const char *what, const nimc_result *res,
                            size_t first) {
  char list[256] = "";
  size_t len = 0, n = 0;
  for (size_t k = first; k < res->nsteps; k++) {
    const nimc_step_result *st = &res->steps[k];
    if (st->end_reason == NIMC_END_VOLTAGE || len >= sizeof list) continue;
    int w = snprintf(list + len, sizeof list - len, "%s%zu (%s, by %s)",
                     n ? ", " : "", k + 1, nimc_step_type_name(st->type),
                     nimc_end_reason_name(st->end_reason));
    len += w > 0 ? (size_t)w : 0;
    n++;
  }
  if (n)
    fprintf(stderr,
            "nimc reproduce: warning: %s: step%s %s ended before %s "
            "cut-off voltage\n",
            what, n > 1 ? "s" : "", list, n > 1 ? "their" : "its");
}

/* Why r's steady cycle is not the paper's measurement, into r->excluded
 * (left empty when it is): its discharge, the one measured, ended on
 * something other than the cut-off voltage, or its cycles were not steady
 * (rc NIMC_NOTSTEADY). */
static void check_measurement(gcd_run *r, int rc) {
  const nimc_result *res = &r->res;
  const nimc_step_result *d = NULL;
  for (size_t k = r->info.first_step; k < res->nsteps; k++)
    if (res->steps[k].type == NIMC_STEP_DISCHARGE) d = &res->steps[k];
  r->excluded[0] = '\0';
  if (d && d->end_reason != NIMC_END_VOLTAGE)
    snprintf(r->excluded, sizeof r->excluded,
             "the discharge of cycle %d ended by %s at %.4g V, before its "
             "cut-off %g V",
             r->info.cycles, nimc_end_reason_name(d->end_reason), d->v_end_V,
             gcd_v_min_V);
  else if (rc == NIMC_NOTSTEADY)
    snprintf(r->excluded, sizeof r->excluded,
             "not steady after %d cycles (coulombic efficiency %.4g, "
             "capacitance still changing by %.2g %% a cycle)",
             r->info.cycles, r->info.coulombic_efficiency,
             100.0 * r->info.capacitance_change);
}

/* Cycle r's device at r's current density from its initial state until
 * the cycle is steady, and read the metrics of the steady cycle. */
static void simulate_gcd(state *s, gcd_run *r) {
  const nimc_device *dev = s->dev[r->variant];
  char line[2][128], name[160], what[256], users[1024], outcome[96];
  const char *lines[2] = {line[0], line[1]};
  snprintf(line[0], sizeof line[0], "Charge at %g mA/cm2 until %g V", r->J,
           gcd_v_max_V);
  snprintf(line[1], sizeof line[1], "Discharge at %g mA/cm2 until %g V", r->J,
           gcd_v_min_V);
  snprintf(what, sizeof what, "%s, GCD at %g mA/cm2 until steady",
           variant_name(s, r->variant, name, sizeof name), r->J);
  run_users(s, r, users, sizeof users);

  nimc_experiment *exp = experiment(lines, COUNT(lines));
  nimc_sim *sim = NULL;
  nimc_sim_opts opts = nimc_sim_opts_default();
  nimc_steady_opts steady = nimc_steady_opts_default();
  if (variants[r->variant].ce_min > 0.0)
    steady.ce_min = variants[r->variant].ce_min;
  nimc_norm norm = {nimc_device_footprint_area_m2(dev),
                    nimc_device_norm_thickness_m(dev)};
  nimc_err err;
  double t0 = cli_now_s();
  int rc = exp ? NIMC_OK : NIMC_EINPUT;
  const char *why = "the experiment could not be parsed";
  if (!rc && (rc = nimc_sim_create(&sim, dev, &opts, &err))) why = err.msg;
  if (!rc && (rc = nimc_sim_run_until_steady(sim, exp, &steady, &norm, &r->res,
                                             &r->info)))
    why = nimc_sim_errmsg(sim);
  r->wall_s = cli_now_s() - t0;
  /* a finished simulation without a capacitance to read (the IR drop
   * alone took the voltage past the cut-off, say: NIMC_EANALYSIS) is the
   * model's answer, not a failure: its points are left out, and
   * fill_rows fails a validation value that needed it */
  if (rc < 0 && rc != NIMC_EANALYSIS) {
    fprintf(stderr, "nimc reproduce: %s failed (needed by %s): %s\n", what,
            users, why);
    s->failed = 1;
    progress_line(s, what, r->wall_s, "FAILED");
    goto done;
  }
  r->done = 1;
  warn_early_ends(what, &r->res, r->info.first_step);
  r->m = r->info.metrics;
  if (rc != NIMC_EANALYSIS && r->m.have_discharge &&
      isfinite(r->m.capacitance_F))
    r->have_metrics = 1;
  else if (rc == NIMC_EANALYSIS) /* "cycle N has no capacitance to read" */
    fprintf(stderr, "nimc reproduce: warning: %s (needed by %s): %s\n", what,
            users, why);
  else
    fprintf(stderr,
            "nimc reproduce: warning: %s (needed by %s): no capacitance to "
            "read: %s\n",
            what, users,
            !r->m.have_discharge ? "no full discharge"
                                 : "the voltage does not fall");
  if (r->have_metrics) {
    check_measurement(r, rc);
    if (r->excluded[0])
      fprintf(stderr,
              "nimc reproduce: warning: %s (needed by %s): excluded from the "
              "comparison with the paper: %s\n",
              what, users, r->excluded);
  }
  if (!r->have_metrics)
    snprintf(outcome, sizeof outcome, "no metrics after %d cycles",
             r->info.cycles);
  else if (rc == NIMC_NOTSTEADY)
    snprintf(outcome, sizeof outcome, "not steady after %d cycles",
             r->info.cycles);
  else
    snprintf(outcome, sizeof outcome, "steady at cycle %d", r->m.cycle);
  progress_line(s, what, r->wall_s, outcome);
done:
  nimc_sim_destroy(sim);
  nimc_experiment_destroy(exp);
}

/* (c): charge device d from its as-made state at fields_J and keep the
 * fields at the end. */
static void simulate_map(state *s, int d) {
  const nimc_device *dev = s->dev[d];
  char line[128], what[256];
  const char *lines[1] = {line};
  snprintf(line, sizeof line, "Charge at %g mA/cm2 until %g V", fields_J,
           gcd_v_max_V);
  snprintf(what, sizeof what, "%s, charge at %g mA/cm2 for the maps",
           nimc_device_name(dev), fields_J);
  nimc_sim *sim;
  nimc_result res;
  memset(&res, 0, sizeof res);
  nimc_err err;
  double t0 = cli_now_s();
  const char *why = NULL;
  int rc = run_lines(dev, lines, 1, &sim, &res, &why, &err);
  if (!rc && (rc = nimc_sim_fields(sim, &s->maps[d].f)))
    why = nimc_sim_errmsg(sim);
  s->maps[d].wall_s = cli_now_s() - t0;
  if (rc) {
    fprintf(stderr,
            "nimc reproduce: %s failed (needed by experiment (c) maps of the "
            "fields): %s\n",
            what, why);
    s->failed = 1;
  } else {
    s->maps[d].done = 1;
  }
  progress_line(s, what, s->maps[d].wall_s, rc ? "FAILED" : "done");
  nimc_result_free(&res);
  nimc_sim_destroy(sim);
}

/* What the spectrum of variant v is used for, for messages. */
static void eis_users(const state *s, int v, char *buf, size_t cap) {
  size_t len = 0;
  buf[0] = '\0';
  if (v < NDEV) add_user(buf, cap, &len, "experiment (d) impedance");
  for (size_t k = 0; k < s->nrows; k++)
    if (paper_is_eis(s->spec[k]) && s->spec[k]->device == v) {
      char row[128];
      snprintf(row, sizeof row, "%s %s", row_role_name(s->spec[k]->role),
               s->spec[k]->id);
      add_user(buf, cap, &len, row);
    }
}

/* (d), and the resistance rows: the impedance of variant v at its initial
 * state, fitted with the default circuit of nimc eis (automatic start,
 * global search, seed 1). */
static void simulate_eis(state *s, int v) {
  const nimc_device *dev = s->dev[v];
  eis_run *e = &s->eis[v];
  char name[160], what[256], users[512];
  snprintf(what, sizeof what, "%s, impedance %g Hz to %g Hz",
           variant_name(s, v, name, sizeof name), eis_from_Hz, eis_to_Hz);
  eis_users(s, v, users, sizeof users);
  nimc_sim *sim = NULL;
  nimc_err err;
  double *f = NULL;
  size_t n = 0;
  double t0 = cli_now_s();
  const char *why = NULL;
  e->r_ohmic = e->r_ct = NAN;
  if (nimc_freq_logspace(eis_from_Hz, eis_to_Hz, eis_per_decade, &f, &n,
                         &err) ||
      nimc_sim_create(&sim, dev, NULL, &err))
    why = err.msg;
  else if (nimc_sim_at_rest(sim) || nimc_sim_impedance(sim, f, n, &e->s, NULL))
    why = nimc_sim_errmsg(sim);
  if (!why) {
    e->done = 1;
    e->r_ohmic = nimc_spectrum_r_ohmic(&e->s);
    nimc_fit_opts o = nimc_fit_opts_default();
    o.global = 1;
    o.seed = 1;
    if (nimc_circuit_parse(&e->circuit, PAPER_EIS_CIRCUIT, &err) ||
        nimc_circuit_fit(e->circuit, &e->s, &o, &e->fit, &err)) {
      why = err.msg;
    } else {
      e->fitted = 1;
      int k = nimc_circuit_rct_index(e->circuit);
      if (k >= 0) e->r_ct = e->fit.p[k];
    }
  }
  e->wall_s = cli_now_s() - t0;
  if (why) {
    fprintf(stderr, "nimc reproduce: %s failed (needed by %s): %s\n", what,
            users, why);
    s->failed = 1;
  }
  progress_line(s, what, e->wall_s, why ? "FAILED" : "done");
  free(f);
  nimc_sim_destroy(sim);
}

/* (f): the LED demonstration of the paper's load test, "after charging
 * at 0.6 mA/cm2 for 120 s, one NIMC lights an LED logo display": the
 * uncovered device is first emptied (discharged to 0 V, the state a
 * tested device is charged from), then charged at 0.6 mA/cm2 for 120 s
 * or until the top of the paper's window, 3.5 V, whichever comes first,
 * then discharged through the LED of its [led] section until its voltage
 * falls to the LED's forward voltage: the time the LED stays lit. */
static const double led_J = 0.6, led_charge_s = 120.0;

/* The LED of the uncovered device's file (its forward point, for the
 * step and the row), before anything is simulated: 0, or exit status 2
 * when the file has no [led] section. */
static int led_check(state *s) {
  led_run *l = &s->led;
  char path[4096];
  nimc_err err;
  snprintf(path, sizeof path, "%s/%s", s->a.devdir, variants[V_UNCOVERED].file);
  if (nimc_device_param(path, NULL, 0, "led.forward_voltage", &l->v_f, NULL,
                        0, &err) ||
      nimc_device_param(path, NULL, 0, "led.forward_current", &l->i_f, NULL,
                        0, &err)) {
    fprintf(stderr,
            "nimc reproduce: %s: the LED demonstration (f) needs the "
            "device's LED, its [led] section (forward_voltage, "
            "forward_current): %s\n",
            path, err.msg);
    return 2;
  }
  snprintf(l->quantity, sizeof l->quantity,
           "LED (%g V at %g mA) lit after a charge at %g mA/cm2 for %g s "
           "(or to %g V)",
           l->v_f, 1e3 * l->i_f, led_J, led_charge_s, gcd_v_max_V);
  return 0;
}

static void simulate_led(state *s) {
  led_run *l = &s->led;
  const nimc_device *dev = s->dev[V_UNCOVERED];
  char line[3][128], what[256];
  const char *lines[3] = {line[0], line[1], line[2]};
  nimc_err err;
  l->lit_s = NAN;
  snprintf(what, sizeof what, "%s, LED demonstration (f)",
           nimc_device_name(dev));
  double t0 = cli_now_s();
  snprintf(line[0], sizeof line[0], "Discharge at %g mA/cm2 until %g V", led_J,
           gcd_v_min_V);
  snprintf(line[1], sizeof line[1], "Charge at %g mA/cm2 for %g s or until %g V",
           led_J, led_charge_s, gcd_v_max_V);
  snprintf(line[2], sizeof line[2], "Discharge through LED until %.10g V",
           l->v_f);
  nimc_sim *sim;
  nimc_result res;
  memset(&res, 0, sizeof res);
  const char *why = NULL;
  int rc = run_lines(dev, lines, COUNT(lines), &sim, &res, &why, &err);
  l->wall_s = cli_now_s() - t0;
  if (!rc && res.nsteps == 3) {
    const nimc_step_result *ch = &res.steps[1], *led = &res.steps[2];
    l->done = 1;
    l->charge_s = ch->duration_s;
    l->charge_end_V = ch->v_end_V;
    if (led->end_reason == NIMC_END_VOLTAGE)
      l->lit_s = led->duration_s;
    else
      fprintf(stderr,
              "nimc reproduce: warning: %s: the LED step ended by %s at %.4g "
              "V, before the forward voltage: no lit time\n",
              what, nimc_end_reason_name(led->end_reason), led->v_end_V);
  } else {
    fprintf(stderr, "nimc reproduce: %s failed: %s\n", what,
            rc ? why : "not every step ran");
    s->failed = 1;
  }
  progress_line(s, what, l->wall_s, l->done ? "done" : "FAILED");
  nimc_result_free(&res);
  nimc_sim_destroy(sim);
}

/* (g): sweep the uncovered device CV_CYCLES times over the GCD window at
 * r's scan rate from its initial state, and read the last cycle. */
static void simulate_cv(state *s, cv_run *r) {
  const nimc_device *dev = s->dev[V_UNCOVERED];
  char line[256], first[128], name[160], what[256], outcome[128];
  const char *lines[2] = {first, line};
  /* the as-made device (about 2.6 V) is first emptied gently, so that the
   * first sweep starts where the device is, not with a jump to 0 V */
  snprintf(first, sizeof first, "Discharge at %g mA/cm2 until %g V", cv_pre_J,
           gcd_v_min_V);
  snprintf(line, sizeof line,
           "Repeat %d times: Sweep from %g V to %g V at %g mV/s; Sweep from "
           "%g V to %g V at %g mV/s",
           CV_CYCLES, gcd_v_min_V, gcd_v_max_V, r->rate_mV_s, gcd_v_max_V,
           gcd_v_min_V, r->rate_mV_s);
  snprintf(what, sizeof what, "%s, CV at %g mV/s, %d cycles",
           variant_name(s, V_UNCOVERED, name, sizeof name), r->rate_mV_s,
           CV_CYCLES);
  nimc_sim *sim;
  nimc_cv_cycle *cyc = NULL;
  size_t nc = 0;
  nimc_err err;
  double t0 = cli_now_s();
  const char *why = NULL; /* set on a failure */
  run_lines(dev, lines, 2, &sim, &r->res, &why, &err);
  r->wall_s = cli_now_s() - t0;
  r->change = NAN;
  if (!why) {
    r->done = 1;
    /* the cycles of the sweeps, after the emptying discharge (step 0) */
    const nimc_series *se = &r->res.series;
    size_t a = 0;
    while (a < se->n && se->step && se->step[a] < 1)
      a++;
    if (a >= se->n)
      why = "no sweep ran";
    else if (nimc_cv_cycles(se->time_s + a, se->voltage_V + a,
                            se->current_A + a, se->n - a, &cyc, &nc, &err))
      why = err.msg;
    else if (nc < 2)
      why = "fewer than 2 full cycles (the first is never read)";
    for (size_t k = 0; !why && k < nc; k++) /* back to the whole series */
      for (int j = 0; j < 2; j++)
        cyc[k].sweep[j].a += a, cyc[k].sweep[j].b += a;
  }
  if (why) {
    fprintf(stderr, "nimc reproduce: %s failed (needed by cv_sweep_%gmV_s): %s\n",
            what, r->rate_mV_s, why);
    s->failed = 1;
    progress_line(s, what, r->wall_s, "FAILED");
  } else {
    double v = nimc_device_footprint_area_m2(dev) *
               nimc_device_norm_thickness_m(dev) * 1e6; /* cm3 */
    r->have = 1;
    r->cycle = (int)nc;
    r->last = cyc[nc - 1];
    r->c_vol_F_cm3 = r->last.capacitance_F / v;
    r->change = r->last.capacitance_F / cyc[nc - 2].capacitance_F - 1.0;
    r->excluded[0] = '\0';
    if (!(fabs(r->change) <= cv_steady_tol))
      snprintf(r->excluded, sizeof r->excluded,
               "cycle %d not steady: its capacitance differs by %.2g %% "
               "from cycle %d's",
               r->cycle, 100.0 * r->change, r->cycle - 1);
    snprintf(outcome, sizeof outcome,
             "cycle %d: %.4g F/cm3, %+.2g %% from the cycle before", r->cycle,
             r->c_vol_F_cm3, 100.0 * r->change);
    progress_line(s, what, r->wall_s, outcome);
  }
  free(cyc);
  nimc_sim_destroy(sim);
}

/* Run lines[0..n) on variant v from its as-made state; the durations of
 * its steps into t[0..n), NaN for a step that did not end at its cut-off
 * voltage (said on stderr) or when the simulation failed (which fails the
 * command). */
static void time_steps(state *s, int v, const char *const *lines, size_t n,
                       double *t) {
  char name[160], what[256];
  snprintf(what, sizeof what, "%s, %s%s", variant_name(s, v, name, sizeof name),
           lines[0], n > 1 ? " and a discharge" : "");
  for (size_t k = 0; k < n; k++)
    t[k] = NAN;
  nimc_sim *sim;
  nimc_result res;
  memset(&res, 0, sizeof res);
  nimc_err err;
  double t0 = cli_now_s();
  const char *why = NULL;
  int rc = run_lines(s->dev[v], lines, n, &sim, &res, &why, &err);
  if (rc) {
    fprintf(stderr,
            "nimc reproduce: %s failed (needed by the rows of two NIMCs in "
            "series and in parallel): %s\n",
            what, why);
    s->failed = 1;
  } else {
    warn_early_ends(what, &res, 0);
    for (size_t k = 0; k < n && k < res.nsteps; k++)
      if (res.steps[k].end_reason == NIMC_END_VOLTAGE)
        t[k] = res.steps[k].duration_s;
  }
  progress_line(s, what, cli_now_s() - t0, rc ? "FAILED" : "done");
  nimc_result_free(&res);
  nimc_sim_destroy(sim);
}

/* A self-discharge row's experiment on variant v (the table
 * self_discharge). */
static void simulate_sd(state *s, int v) {
  const struct self_discharge *x = NULL;
  for (size_t k = 0; k < COUNT(self_discharge); k++)
    if (self_discharge[k].variant == v) x = &self_discharge[k];
  sd_run *r = &s->sd[v];
  r->hours = NAN;
  char name[160], what[512], l[4][128];
  const char *lines[4] = {l[0], l[1], l[2], l[3]};
  size_t n = 0;
  if (!x) { /* a row without an experiment: a bug of the tables */
    fprintf(stderr, "nimc reproduce: no self-discharge experiment for %s\n",
            variant_name(s, v, name, sizeof name));
    s->failed = 1;
    return;
  }
  if (x->cycle_first) {
    snprintf(l[n++], 128, "Charge at %s until %g V", x->current, x->v_max);
    snprintf(l[n++], 128, "Discharge at %s until 0 V", x->current);
  }
  snprintf(l[n++], 128, "Charge at %s until %g V", x->current, x->v_max);
  snprintf(l[n++], 128, "Rest until %.6g V or for %g h", x->fraction * x->v_max,
           SELF_DISCHARGE_MAX_H);
  snprintf(what, sizeof what, "%s, self-discharge from %g V to %g V",
           variant_name(s, v, name, sizeof name), x->v_max,
           x->fraction * x->v_max);
  nimc_sim *sim;
  nimc_result res;
  memset(&res, 0, sizeof res);
  nimc_err err;
  double t0 = cli_now_s();
  const char *why = NULL;
  int rc = run_lines(s->dev[v], lines, n, &sim, &res, &why, &err);
  r->wall_s = cli_now_s() - t0;
  if (rc) {
    fprintf(stderr, "nimc reproduce: %s failed: %s\n", what, why);
    s->failed = 1;
  } else {
    r->done = 1;
    const nimc_step_result *rest = &res.steps[res.nsteps - 1];
    if (rest->type == NIMC_STEP_REST && rest->end_reason == NIMC_END_VOLTAGE)
      r->hours = rest->duration_s / 3600.0;
  }
  progress_line(s, what, r->wall_s,
                rc                   ? "FAILED"
                : isfinite(r->hours) ? "done"
                                     : "not reached");
  nimc_result_free(&res);
  nimc_sim_destroy(sim);
}

/* What the cycle sink of a cycling run needs: the run it fills, and for
 * its progress lines the command's state and the run's name. */
typedef struct cycling_sink {
  state *s;
  cycling_run *r;
  const char *what;
  double t0, last_said;
} cycling_sink;

/* The cycle sink of (h): keep the cycle's point (a cycle 1 begins a new
 * line of the experiment: the points of the line before, formation, are
 * dropped), and say where the run is every cycling_progress_s. */
static int on_cycling_cycle(void *user, const nimc_cycle_result *c) {
  cycling_sink *k = user;
  cycling_run *r = k->r;
  if (c->cycle == 1) r->n = 0;
  if (r->n == r->cap) {
    size_t cap = r->cap ? 2 * r->cap : 256;
    cycling_point *p = realloc(r->pts, cap * sizeof *p);
    if (!p) {
      r->oom = 1;
      return -1; /* stops the run */
    }
    r->pts = p;
    r->cap = cap;
  }
  r->pts[r->n++] =
      (cycling_point){c->cycle, c->skipped_before, c->capacitance_retention,
                      c->coulombic_efficiency};
  r->simulated++;
  double now = cli_now_s();
  if (!k->s->a.quiet && now - k->last_said >= cycling_progress_s) {
    fprintf(stderr,
            "nimc reproduce: %s: at cycle %d of its line, retention %.4g, "
            "%zu cycles simulated, %.0f s\n",
            k->what, c->cycle, c->capacitance_retention, r->simulated,
            now - k->t0);
    k->last_said = now;
  }
  return 0;
}

/* What the cycling run of variant v is used for, for messages. */
static void cycling_users(const state *s, int v, char *buf, size_t cap) {
  size_t len = 0;
  buf[0] = '\0';
  add_user(buf, cap, &len, "experiment (h) the cycling figure");
  for (size_t k = 0; k < s->nrows; k++)
    if (paper_is_cycling(s->spec[k]) && s->spec[k]->device == v) {
      char row[128];
      snprintf(row, sizeof row, "%s %s", row_role_name(s->spec[k]->role),
               s->spec[k]->id);
      add_user(buf, cap, &len, row);
    }
}

/* (h): run the cycling experiment on variant v from its as-made state,
 * keeping only the cycle summaries (memory bounded however many cycles),
 * and collect the points of its last line. */
static void simulate_cycling(state *s, int v) {
  cycling_run *r = &s->cyc[v];
  char name[160], what[sizeof s->cycling_path + 200], users[512], outcome[160];
  snprintf(what, sizeof what, "%s, cycling study %s",
           variant_name(s, v, name, sizeof name), s->cycling_path);
  cycling_users(s, v, users, sizeof users);
  nimc_sim *sim = NULL;
  nimc_result res;
  memset(&res, 0, sizeof res);
  nimc_err err;
  const char *why = NULL;
  double t0 = cli_now_s();
  cycling_sink k = {s, r, what, t0, t0};
  nimc_sinks sinks = {NULL, NULL, on_cycling_cycle, &k, NIMC_KEEP_NONE};
  if (nimc_sim_create(&sim, s->dev[v], NULL, &err))
    why = err.msg;
  else if (nimc_sim_set_sinks(sim, &sinks) ||
           nimc_sim_run(sim, s->cycling_exp, &res))
    why = r->oom ? "out of memory" : nimc_sim_errmsg(sim);
  r->wall_s = cli_now_s() - t0;
  if (why) {
    fprintf(stderr, "nimc reproduce: %s failed (needed by %s): %s\n", what,
            users, why);
    s->failed = 1;
    progress_line(s, what, r->wall_s, "FAILED");
  } else {
    r->done = 1;
    if (r->n)
      snprintf(outcome, sizeof outcome,
               "cycle %d: retention %.4g, coulombic efficiency %.4g (%zu of "
               "its Repeat's %d cycles simulated, %zu in all)",
               r->pts[r->n - 1].cycle, r->pts[r->n - 1].retention,
               r->pts[r->n - 1].ce, r->n, r->pts[r->n - 1].cycle, r->simulated);
    else
      snprintf(outcome, sizeof outcome,
               "no cycle (the experiment has no Repeat)");
    progress_line(s, what, r->wall_s, outcome);
  }
  nimc_result_free(&res);
  nimc_sim_destroy(sim);
}

/* Read the cycling experiment (h) before anything is simulated: 0, or
 * exit status 2 (the message names the file, and the line). */
static int cycling_read(state *s) {
  nimc_err err;
  snprintf(s->cycling_path, sizeof s->cycling_path, "%s/%s", s->a.expdir,
           cycling_file);
  int rc =
      nimc_experiment_read(s->cycling_path, &s->cycling_exp, NULL, NULL, &err);
  if (!rc) return 0;
  fprintf(stderr,
          "nimc reproduce: the cycling study (h) (--experiments %s): %s\n",
          s->a.expdir, err.msg);
  return rc == NIMC_ENOMEM ? EXIT_FAIL : EXIT_USAGE;
}

/* The LED demonstration's row (led_lit_s), model-only, appended to the
 * predictions after the rows of paper.h and the table above (its spec
 * only gives the role: the value is the demonstration's). */
static const struct paper_value led_spec = {
    "led_lit_s", "LED lit", "s", NAN, PREDICTION, Q_VOLUMETRIC,
    V_UNCOVERED, 0.6, V_UNCOVERED, 0};

static void add_led_row(state *s) {
  const led_run *l = &s->led;
  s->spec[s->nrows] = &led_spec;
  s->rows[s->nrows] = (nimc_validation_row){
      .id = led_spec.id,
      .quantity = l->quantity[0] ? l->quantity : led_spec.quantity,
      .unit = led_spec.unit,
      .paper = NAN,
      .model = l->lit_s,
      .role = row_role_name(PREDICTION)};
  s->nrows++;
}

/* The demonstration's line below the tables. */
static void print_led(const state *s) {
  const led_run *l = &s->led;
  if (!l->done) return;
  printf("\nLED demonstration (f): %s charged at %g mA/cm2 for %.1f s "
         "(to %.3f V%s), then through the LED (%g V at %g mA, [led] of "
         "%s): lit for %.1f s, until the voltage falls to %g V\n",
         nimc_device_name(s->dev[V_UNCOVERED]), led_J, l->charge_s,
         l->charge_end_V,
         l->charge_s < led_charge_s * (1 - 1e-9) ? ", the window's top" : "",
         l->v_f, 1e3 * l->i_f, variants[V_UNCOVERED].file, l->lit_s, l->v_f);
}

/* The pack rows' simulations (pack_runs). */
static void simulate_packs(state *s) {
  const double J = 0.1; /* mA/cm2 of ONE cell's footprint (docs/cli.md) */
  char ch[96], ch2[96], dis[96];
  snprintf(ch, sizeof ch, "Charge at %g mA/cm2 until %g V", J, gcd_v_max_V);
  snprintf(ch2, sizeof ch2, "Charge at %g mA/cm2 until %g V", J,
           2.0 * gcd_v_max_V);
  snprintf(dis, sizeof dis, "Discharge at %g mA/cm2 until %g V", J,
           gcd_v_min_V);
  const char *one[2] = {ch, dis}, *series[1] = {ch2};
  double t[2];
  time_steps(s, V_UNCOVERED, one, 2, t);
  s->packs.t_charge_1 = t[0], s->packs.t_discharge_1 = t[1];
  time_steps(s, V_SERIES, series, 1, t);
  s->packs.t_charge_series = t[0];
  time_steps(s, V_PARALLEL, one, 2, t);
  s->packs.t_discharge_parallel = t[1];
}

/* The CV of experiment (g) at rate mV/s, or NULL. */
static const cv_run *find_cv(const state *s, double rate) {
  for (size_t k = 0; k < COUNT(cv_rate_mV_s); k++)
    if (same_J(s->cv[k].rate_mV_s, rate)) return &s->cv[k];
  return NULL;
}

/* ---- the comparison ---- */

/* The model's value of p, NaN where its simulations failed. */
static double model_value(state *s, const struct paper_value *p) {
  if (p->kind == Q_SERIES_TIME)
    return s->packs.t_charge_series / s->packs.t_charge_1;
  if (p->kind == Q_PARALLEL_TIME)
    return s->packs.t_discharge_parallel / s->packs.t_discharge_1;
  if (p->kind == Q_R_OHMIC) return s->eis[p->device].r_ohmic;
  if (p->kind == Q_R_CT) return s->eis[p->device].r_ct;
  if (p->kind == Q_CV_SWEEP) {
    const cv_run *c = find_cv(s, p->J);
    return c && c->have ? c->c_vol_F_cm3 : NAN;
  }
  if (p->kind == Q_SELF_DISCHARGE) return s->sd[p->device].hours;
  if (paper_is_cycling(p)) {
    const cycling_run *c = &s->cyc[p->device];
    if (!c->done || !c->n) return NAN;
    return p->kind == Q_CYCLING_RETENTION ? c->pts[c->n - 1].retention
                                          : c->pts[c->n - 1].ce;
  }
  const gcd_run *r = find_run(s, p->device, p->J);
  if (!r || !r->have_metrics) return NAN;
  switch (p->kind) {
  case Q_VOLUMETRIC:
    return nimc_metric_value(&r->m, "capacitance_volumetric_F_cm3");
  case Q_AREAL:
    return nimc_metric_value(&r->m, "capacitance_areal_mF_cm2");
  case Q_RATIO: {
    const gcd_run *ref = find_run(s, p->device_ref, p->J_ref);
    if (!ref || !ref->have_metrics) return NAN;
    return r->m.capacitance_F / ref->m.capacitance_F;
  }
  case Q_R_OHMIC:
  case Q_R_CT:
  case Q_SERIES_TIME:
  case Q_PARALLEL_TIME:
  case Q_CV_SWEEP:
  case Q_SELF_DISCHARGE:
  case Q_CYCLING_RETENTION:
  case Q_CYCLING_CE:
    break;
  }
  return NAN;
}

/* The cycles row k was read from and, when it is not compared with the
 * paper, why (into s->row_excluded[k]); a ratio is excluded when either
 * of its measurements is. */
static void row_cycles(state *s, size_t k) {
  const struct paper_value *p = s->spec[k];
  nimc_validation_row *row = &s->rows[k];
  if (paper_is_eis(p) || paper_is_pack(p) || p->kind == Q_SELF_DISCHARGE)
    return;
  if (p->kind == Q_CV_SWEEP) {
    const cv_run *c = find_cv(s, p->J);
    if (!c || !c->have) return;
    row->cycle = c->cycle;
    if (c->excluded[0]) row->excluded = c->excluded;
    return;
  }
  if (paper_is_cycling(p)) { /* the last cycle of the study's Repeat */
    const cycling_run *c = &s->cyc[p->device];
    if (!isfinite(row->model)) return;
    row->cycle = c->pts[c->n - 1].cycle;
    /* a shorter (or longer) study than the paper's is not its
     * measurement: kept, not compared */
    if (isfinite(p->paper) && row->cycle != PAPER_CYCLING_CYCLES) {
      snprintf(s->row_excluded[k], sizeof s->row_excluded[k],
               "read at cycle %d, the last of the Repeat of %.400s, not "
               "after the paper's %d cycles",
               row->cycle, s->cycling_path, PAPER_CYCLING_CYCLES);
      row->excluded = s->row_excluded[k];
    }
    return;
  }
  const gcd_run *r = find_run(s, p->device, p->J);
  const gcd_run *ref =
      p->kind == Q_RATIO ? find_run(s, p->device_ref, p->J_ref) : NULL;
  if (r && r->have_metrics) row->cycle = r->m.cycle;
  if (ref && ref->have_metrics) row->cycle_ref = ref->m.cycle;
  if (!row->cycle || (ref && !row->cycle_ref)) return; /* no model value */
  char *x = s->row_excluded[k];
  size_t cap = sizeof s->row_excluded[k], len = 0;
  x[0] = '\0';
  if (!ref) {
    snprintf(x, cap, "%s", r->excluded);
  } else { /* say which of the two measurements, of which device */
    const gcd_run *part[2] = {r, ref};
    for (int i = 0; i < 2; i++) {
      char name[160];
      if (!part[i]->excluded[0] || len + 1 >= cap) continue;
      int n = snprintf(
          x + len, cap - len, "%s%s at %g mA/cm2: %s", len ? "; " : "",
          variant_name(s, part[i]->variant, name, sizeof name), part[i]->J,
          part[i]->excluded);
      len += n > 0 ? (size_t)n : 0;
    }
  }
  if (x[0]) row->excluded = x;
}

/* The rows' values; a value the paper gives that could not be computed is
 * reported and fails the command; a model-only value that could not is
 * reported as a warning (a simulation that failed has failed the command
 * already). */
static void fill_rows(state *s) {
  for (size_t k = 0; k < s->nrows; k++) {
    const struct paper_value *p = s->spec[k];
    s->rows[k] = (nimc_validation_row){.id = p->id,
                                       .quantity = p->quantity,
                                       .unit = p->unit,
                                       .paper = p->paper,
                                       .model = model_value(s, p),
                                       .role = row_role_name(p->role)};
    row_cycles(s, k);
    if (isfinite(s->rows[k].model)) continue;
    int model_only = !isfinite(p->paper);
    const char *why;
    if (paper_is_eis(p)) {
      why = "the impedance of its device failed (see above)";
    } else if (paper_is_pack(p)) {
      why = "a simulation of one or two NIMCs failed (see above)";
    } else if (p->kind == Q_CV_SWEEP) {
      why = "its CV failed (see above)";
    } else if (p->kind == Q_SELF_DISCHARGE) {
      why = s->sd[p->device].done
                ? "the voltage did not fall that far within 200 h"
                : "its simulation failed (see above)";
    } else if (paper_is_cycling(p)) {
      const cycling_run *c = &s->cyc[p->device];
      if (!c->done)
        why = "its cycling run failed (see above)";
      else if (!c->n)
        why = "the cycling experiment ran no cycle (it has no Repeat)";
      else if (p->kind == Q_CYCLING_RETENTION)
        why = "the last cycle has no capacitance to read (no full "
              "discharge, or no capacitance in the Repeat's first cycle)";
      else
        why = "the last cycle has no coulombic efficiency (no charge)";
    } else {
      const gcd_run *r = find_run(s, p->device, p->J);
      const gcd_run *ref =
          p->kind == Q_RATIO ? find_run(s, p->device_ref, p->J_ref) : NULL;
      int crashed = (r && !r->done) || (ref && !ref->done);
      why = crashed ? "a simulation it needs failed (see above)"
                    : "a GCD it needs has no discharge to measure (see above)";
    }
    fprintf(stderr, "nimc reproduce: %s%s %s (%s) has no model value: %s\n",
            model_only ? "warning: " : "", row_role_name(p->role), p->id,
            p->quantity, why);
    if (!model_only) s->failed = 1;
  }
}

/* The cells of a row: paper, model, rel. error, cycle. */
enum { CELL_W = 32, NCOL = 6 };
static void row_cells(const nimc_validation_row *r, char cell[4][CELL_W]) {
  double e = nimc_validation_rel_error(r);
  if (isfinite(r->paper))
    snprintf(cell[0], CELL_W, "%.4g", r->paper);
  else
    snprintf(cell[0], CELL_W, "-");
  if (isfinite(r->model))
    snprintf(cell[1], CELL_W, "%.4g", r->model);
  else
    snprintf(cell[1], CELL_W, "failed");
  if (r->excluded && isfinite(r->model))
    snprintf(cell[2], CELL_W, "excluded");
  else if (isfinite(e))
    snprintf(cell[2], CELL_W, "%+.1f %%", 100.0 * e);
  else if (!isfinite(r->paper)) /* nothing to compare with */
    snprintf(cell[2], CELL_W, "-");
  else
    snprintf(cell[2], CELL_W, "failed");
  /* the cycle read (C/C_ref for a ratio); "-" for what has none */
  if (r->cycle > 0 && r->cycle_ref > 0)
    snprintf(cell[3], CELL_W, "%d/%d", r->cycle, r->cycle_ref);
  else if (r->cycle > 0)
    snprintf(cell[3], CELL_W, "%d", r->cycle);
  else
    snprintf(cell[3], CELL_W, "-");
}

/* Which calibration rows devices/calibration.fit fits (the rest of the table is
 * read from the same measurements): the line below that table. */
static void print_fitted(void) {
  const char *sep = "";
  printf("fitted by nimc fit --spec devices/calibration.fit: ");
  for (size_t k = 0; k < NPAPER; k++)
    if (paper_is_fitted(&paper_values[k])) {
      printf("%s%s", sep, paper_values[k].id);
      sep = ", ";
    }
  printf("; which parameter each sets: docs/reproduce.md\n");
  printf("fitted on their own: ");
  sep = "";
  for (size_t k = 0; k < NPAPER; k++)
    if (paper_values[k].kind == Q_SELF_DISCHARGE) {
      printf("%s%s", sep, paper_values[k].id);
      sep = ", ";
    }
  printf(" (each device's shunt_resistance: devices/self-discharge.fit, "
         "the commercial device files; docs/calibration.md)");
  sep = "; ";
  for (size_t k = 0; k < NPAPER; k++)
    if (paper_values[k].role == CALIBRATION &&
        paper_is_cycling(&paper_values[k])) {
      printf("%s%s", sep, paper_values[k].id);
      sep = ", ";
    }
  printf(" (the ageing parameters, side_reaction_* of the material files, "
         "on the cycling study (h))\n");
}

/* The calibration rows --only calibration leaves out (the cycling study
 * takes minutes), and how to get them: a line below the table (on stderr
 * with --json, which prints nothing else on stdout). */
static void print_left_out(const state *s) {
  FILE *out = s->a.json ? stderr : stdout;
  const char *sep = "";
  if (!s->a.calibration_only || (s->a.json && s->a.quiet)) return;
  fprintf(out, "%snot run with --only calibration: ",
          s->a.json ? "nimc reproduce: " : "");
  for (size_t k = 0; k < NPAPER; k++)
    if (paper_values[k].role == CALIBRATION &&
        paper_is_cycling(&paper_values[k])) {
      fprintf(out, "%s%s", sep, paper_values[k].id);
      sep = ", ";
    }
  fprintf(out, " (the cycling study (h), minutes): `nimc reproduce --only "
               "cycling` gives them\n");
}

/* The tables on stdout, one per role, under a title line, with the same
 * columns (quantity | unit | paper | model | rel. error | cycle, one width
 * for both tables), each followed by one line per row excluded from the
 * comparison, saying why. */
static void print_tables(const state *s) {
  static const char *const title[2] = {
      [CALIBRATION] = "calibration (fitted points): what the model's unknown "
                      "parameters were fitted to",
      [PREDICTION] = "predictions: not fitted; paper '-' where the paper "
                     "gives no value"};
  const char *head[NCOL] = {"quantity", "unit",       "paper",
                            "model",    "rel. error", "cycle"};
  char cell[4][CELL_W];
  size_t w[NCOL];
  for (int c = 0; c < NCOL; c++)
    w[c] = strlen(head[c]);
  for (size_t k = 0; k < s->nrows; k++) {
    const nimc_validation_row *r = &s->rows[k];
    row_cells(r, cell);
    w[0] = strlen(r->quantity) > w[0] ? strlen(r->quantity) : w[0];
    w[1] = strlen(r->unit) > w[1] ? strlen(r->unit) : w[1];
    for (int c = 0; c < 4; c++)
      if (strlen(cell[c]) > w[c + 2]) w[c + 2] = strlen(cell[c]);
  }
  for (int role = CALIBRATION; role <= PREDICTION; role++) {
    size_t n = 0;
    for (size_t k = 0; k < s->nrows; k++)
      n += s->spec[k]->role == (row_role)role;
    if (!n) continue;
    printf("%s%s\n\n", role == CALIBRATION ? "" : "\n", title[role]);
    printf("%-*s | %-*s | %*s | %*s | %*s | %*s\n", (int)w[0], head[0],
           (int)w[1], head[1], (int)w[2], head[2], (int)w[3], head[3],
           (int)w[4], head[4], (int)w[5], head[5]);
    for (size_t c = 0, len = w[0] + w[1] + w[2] + w[3] + w[4] + w[5] + 15;
         c < len; c++)
      putchar('-');
    putchar('\n');
    for (size_t k = 0; k < s->nrows; k++) {
      if (s->spec[k]->role != (row_role)role) continue;
      row_cells(&s->rows[k], cell);
      printf("%-*s | %-*s | %*s | %*s | %*s | %*s\n", (int)w[0],
             s->rows[k].quantity, (int)w[1], s->rows[k].unit, (int)w[2],
             cell[0], (int)w[3], cell[1], (int)w[4], cell[2], (int)w[5],
             cell[3]);
    }
    for (size_t k = 0; k < s->nrows; k++)
      if (s->spec[k]->role == (row_role)role && s->rows[k].excluded &&
          isfinite(s->rows[k].model))
        printf("excluded: %s (%s): %s\n", s->rows[k].id, s->rows[k].quantity,
               s->rows[k].excluded);
    if (role == CALIBRATION) {
      print_fitted();
      print_left_out(s);
    }
  }
}

/* ---- the outputs ---- */

/* Report a failed output; sets the exit status. */
static void output_failed(state *s, const char *what, const nimc_err *err) {
  fprintf(stderr, "nimc reproduce: %s not written: %s\n", what, err->msg);
  s->failed = 1;
}

/* (a): voltage against time of the steady (last) cycle, one curve per
 * current. */
static void figure_profiles(state *s, const char *dir) {
  nimc_curve c[COUNT(profile_J)];
  char label[COUNT(profile_J)][64];
  double *t[COUNT(profile_J)] = {NULL};
  size_t nc = 0;
  nimc_err err;
  for (size_t k = 0; k < COUNT(profile_J); k++) {
    const gcd_run *r = find_run(s, UNCOVERED, profile_J[k]);
    if (!r || !r->done) continue;
    const nimc_series *se = &r->res.series;
    size_t first = r->info.first_sample;
    if (first >= se->n || !(t[nc] = malloc((se->n - first) * sizeof(double))))
      continue;
    for (size_t i = first; i < se->n; i++)
      t[nc][i - first] = se->time_s[i] - se->time_s[first];
    snprintf(label[nc], sizeof label[nc], "%g mA/cm2, cycle %d", profile_J[k],
             r->info.cycles);
    c[nc] = (nimc_curve){label[nc],     t[nc], se->voltage_V + first,
                         se->n - first, 0,     (int)nc + 1};
    nc++;
  }
  char title[256];
  snprintf(title, sizeof title, "%s: GCD, steady cycle (model)",
           nimc_device_name(s->dev[UNCOVERED]));
  if (!nc)
    fprintf(stderr, "nimc reproduce: reproduce_gcd not drawn: none of its "
                    "simulations succeeded\n");
  else if (nimc_plot_curves(c, nc, "time from the start of the cycle (s)",
                            "voltage (V)", title, dir, "reproduce_gcd", &err))
    output_failed(s, "reproduce_gcd", &err);
  for (size_t k = 0; k < nc; k++)
    free(t[k]);
}

/* (b): volumetric capacitance against current density, model lines for
 * both devices and the published points as markers. */
static void figure_rate(state *s, const char *dir) {
  double x[NDEV][COUNT(rate_J)], y[NDEV][COUNT(rate_J)];
  double px[NDEV][NPAPER], py[NDEV][NPAPER];
  size_t np[NDEV] = {0};
  char label[2 * NDEV][160];
  nimc_curve c[2 * NDEV];
  nimc_err err;
  for (int d = 0; d < NDEV; d++) {
    for (size_t k = 0; k < COUNT(rate_J); k++) {
      const gcd_run *r = find_run(s, d, rate_J[k]);
      x[d][k] = rate_J[k];
      /* a measurement excluded from the comparison is left out */
      y[d][k] = r && r->have_metrics && !r->excluded[0]
                    ? nimc_metric_value(&r->m, "capacitance_volumetric_F_cm3")
                    : NAN;
    }
    for (size_t k = 0; k < NPAPER; k++)
      if (paper_values[k].kind == Q_VOLUMETRIC && paper_values[k].device == d) {
        px[d][np[d]] = paper_values[k].J;
        py[d][np[d]++] = paper_values[k].paper;
      }
    snprintf(label[2 * d], sizeof label[0], "%s, model",
             nimc_device_name(s->dev[d]));
    snprintf(label[2 * d + 1], sizeof label[0], "%s, paper",
             nimc_device_name(s->dev[d]));
    c[2 * d] = (nimc_curve){label[2 * d], x[d], y[d], COUNT(rate_J), 2, d + 1};
    c[2 * d + 1] =
        (nimc_curve){label[2 * d + 1], px[d], py[d], np[d], 1, d + 1};
  }
  if (nimc_plot_curves(c, COUNT(c), "current density (mA/cm2)",
                       "volumetric capacitance (F/cm3)",
                       "capacitance against current density: lines model, "
                       "points paper",
                       dir, "reproduce_rate", &err))
    output_failed(s, "reproduce_rate", &err);
}

/* (c): the maps, uncovered next to covered (those that were computed). */
static void figure_fields(state *s, const char *dir) {
  const nimc_fields *f[NDEV];
  const char *titles[NDEV];
  size_t n = 0;
  nimc_err err;
  for (int d = 0; d < NDEV; d++)
    if (s->maps[d].done) {
      f[n] = &s->maps[d].f;
      titles[n++] = nimc_device_name(s->dev[d]);
    }
  if (!n)
    fprintf(stderr, "nimc reproduce: reproduce_fields not drawn: none of its "
                    "simulations succeeded\n");
  else if (nimc_plot_fields(f, titles, n, dir, "reproduce_fields", &err))
    output_failed(s, "reproduce_fields", &err);
}

/* (d): Nyquist plots of both devices: the model's points and the fitted
 * circuit's line. */
static void figure_eis(state *s, const char *dir) {
  nimc_zcurve z[2 * NDEV];
  nimc_spectrum fit[NDEV];
  char label[2 * NDEV][200];
  size_t nz = 0;
  nimc_err err;
  for (int d = 0; d < NDEV; d++) {
    const eis_run *e = &s->eis[d];
    if (!e->done) continue;
    snprintf(label[nz], sizeof label[0], "%s, model", nimc_device_name(s->dev[d]));
    z[nz] = (nimc_zcurve){label[nz], &e->s, 1, d + 1};
    nz++;
    if (!e->fitted) continue;
    fit[d] = (nimc_spectrum){e->s.n, e->s.freq_Hz, e->fit.z_re_fit,
                             e->fit.z_im_fit};
    snprintf(label[nz], sizeof label[0], "fit: R0 %.0f, R1 %.0f ohm",
             e->fit.p[0], e->r_ct);
    z[nz] = (nimc_zcurve){label[nz], &fit[d], 0, d + 1};
    nz++;
  }
  if (!nz)
    fprintf(stderr, "nimc reproduce: reproduce_eis not drawn: none of its "
                    "simulations succeeded\n");
  else if (nimc_plot_nyquist(z, nz,
                             "impedance at the initial state, 100 kHz to 10 "
                             "mHz, fitted with R0-p(R1,CPE1)-CPE2",
                             dir, "reproduce_eis", &err))
    output_failed(s, "reproduce_eis", &err);
}

/* The volumetric capacitance of variant v at J for a figure: NaN when it
 * was not computed or is excluded from the comparison (left out). */
static double figure_cv(state *s, int v, double J) {
  const gcd_run *r = find_run(s, v, J);
  return r && r->have_metrics && !r->excluded[0]
             ? nimc_metric_value(&r->m, "capacitance_volumetric_F_cm3")
             : NAN;
}

/* (e): the predictions.  Above, volumetric capacitance against current
 * density of the predicted_rate_variants at every current simulated for
 * them (model lines), with the paper's points as markers; below, the
 * thickness-ratio series at series_J against the cathode:anode ratio. */
static void figure_predictions(state *s, const char *dir) {
  enum { NV = COUNT(predicted_rate_variants), NS = COUNT(ratio_series) };
  nimc_curve rate[2 * NV], series[NS];
  char label[2 * NV + NS][200];
  double *x[NV] = {NULL}, *y[NV] = {NULL};
  double px[NV][NPAPER], py[NV][NPAPER];
  double sy[NS][COUNT(series_ratio)];
  size_t nrate = 0;
  nimc_err err;
  for (size_t k = 0; k < NV; k++) {
    int v = predicted_rate_variants[k];
    char name[160];
    size_t n = 0, np = 0;
    if (!s->dev[v]) continue;
    x[k] = malloc((s->nruns ? s->nruns : 1) * sizeof(double));
    y[k] = malloc((s->nruns ? s->nruns : 1) * sizeof(double));
    if (!x[k] || !y[k]) continue;
    for (size_t i = 0; i < s->nruns; i++) /* by J, as simulated */
      if (s->runs[i].variant == v) {
        size_t j = n++;
        for (; j > 0 && x[k][j - 1] > s->runs[i].J; j--) {
          x[k][j] = x[k][j - 1];
          y[k][j] = y[k][j - 1];
        }
        x[k][j] = s->runs[i].J;
        y[k][j] = figure_cv(s, v, s->runs[i].J);
      }
    for (size_t i = 0; i < NPAPER; i++)
      if (paper_values[i].kind == Q_VOLUMETRIC && paper_values[i].device == v) {
        px[k][np] = paper_values[i].J;
        py[k][np++] = paper_values[i].paper;
      }
    variant_name(s, v, name, sizeof name);
    snprintf(label[nrate], sizeof label[0], "%s, model", name);
    rate[nrate] = (nimc_curve){label[nrate], x[k], y[k], n, 2, (int)k + 1};
    nrate++;
    if (!np) continue;
    snprintf(label[nrate], sizeof label[0], "%s, paper", name);
    rate[nrate] = (nimc_curve){label[nrate], px[k], py[k], np, 1, (int)k + 1};
    nrate++;
  }
  for (size_t k = 0; k < NS; k++) {
    for (size_t i = 0; i < COUNT(series_ratio); i++)
      sy[k][i] = figure_cv(s, ratio_series[k].variant[i], series_J);
    snprintf(label[nrate + k], sizeof label[0], "%s, model",
             ratio_series[k].label);
    series[k] = (nimc_curve){label[nrate + k], series_ratio, sy[k],
                             COUNT(series_ratio), 2, (int)k + 1};
  }
  char stitle[160];
  snprintf(stitle, sizeof stitle,
           "anode:cathode thickness series at %g mA/cm2 (1:2 is the "
           "uncovered device)",
           series_J);
  nimc_panel panels[2] = {
      {rate,
       nrate,
       {"current density (mA/cm2)", "volumetric capacitance (F/cm3)",
        "capacitance against current density", 0, 0, 0}},
      {series,
       NS,
       {"cathode thickness / anode thickness (anode:cathode 1:x)",
        "volumetric capacitance (F/cm3)", stitle, 0, 0, 0}}};
  if (nimc_plot_panels(panels, 2,
                       "predictions: lines model (not fitted), points paper",
                       dir, "reproduce_predictions", &err))
    output_failed(s, "reproduce_predictions", &err);
  for (size_t k = 0; k < NV; k++) {
    free(x[k]);
    free(y[k]);
  }
}

/* (g): current density against voltage of the CV's steady (last) cycle,
 * one curve per scan rate. */
static void figure_cv_rates(state *s, const char *dir) {
  enum { NR = COUNT(cv_rate_mV_s) };
  nimc_curve c[NR];
  char label[NR][64];
  double *y[NR] = {NULL};
  size_t nc = 0;
  nimc_err err;
  const nimc_device *dev = s->dev[V_UNCOVERED];
  double area_cm2 = dev ? nimc_device_footprint_area_m2(dev) * 1e4 : 0.0;
  for (size_t k = 0; k < NR && area_cm2 > 0.0; k++) {
    const cv_run *r = &s->cv[k];
    if (!r->have) continue;
    size_t a = r->last.sweep[0].a, b = r->last.sweep[1].b + 1;
    if (b > r->res.series.n || b <= a || !(y[nc] = malloc((b - a) * sizeof(double))))
      continue;
    for (size_t i = a; i < b; i++)
      y[nc][i - a] = 1e3 * r->res.series.current_A[i] / area_cm2;
    snprintf(label[nc], sizeof label[nc], "%g mV s^{-1}, cycle %d",
             r->rate_mV_s, r->cycle);
    c[nc] = (nimc_curve){label[nc], r->res.series.voltage_V + a, y[nc],
                         b - a, 0, (int)nc + 1};
    nc++;
  }
  char name[160], title[320];
  nimc_plot_escape(dev ? nimc_device_name(dev) : "", name, sizeof name);
  snprintf(title, sizeof title,
           "%s: CV, steady cycle, %g to %g V, %.4g \302\260C (model)", name,
           gcd_v_min_V, gcd_v_max_V,
           dev ? nimc_device_temperature_K(dev) - 273.15 : NAN);
  nimc_panel p = {c, nc,
                  {"voltage (V)", "current density (mA cm^{-2})", title, 0, 0,
                   0}};
  if (!nc)
    fprintf(stderr, "nimc reproduce: reproduce_cv_rates not drawn: none of "
                    "its simulations succeeded\n");
  else if (nimc_plot_panels_text(&p, 1, NULL, 1, dir, "reproduce_cv_rates",
                                 &err))
    output_failed(s, "reproduce_cv_rates", &err);
  for (size_t k = 0; k < nc; k++)
    free(y[k]);
}

/* (h): capacitance retention (above) and coulombic efficiency (below), in
 * %, against the cycle of the study's Repeat, one line per variant through
 * its simulated cycles (marked; the line spans the cycles jumped over),
 * and the paper's values at its last cycle as filled markers of the
 * colour of their device.  A run that failed is drawn as far as it went. */
static void figure_cycling(state *s, const char *dir) {
  enum { NV = COUNT(cycling_variants) };
  nimc_curve ret[NV + NPAPER], ce[NV + NPAPER];
  char label[2 * NV + 2 * NPAPER][320];
  double *x[NV] = {NULL}, *yr[NV] = {NULL}, *yc[NV] = {NULL};
  double px = PAPER_CYCLING_CYCLES, py[NPAPER];
  size_t nr = 0, nc = 0, nl = 0, nmodel = 0;
  nimc_err err;
  for (size_t k = 0; k < NV; k++) {
    const cycling_run *r = &s->cyc[cycling_variants[k]];
    char name[160];
    size_t n = r->n;
    if (!n) continue;
    x[k] = malloc(n * sizeof(double));
    yr[k] = malloc(n * sizeof(double));
    yc[k] = malloc(n * sizeof(double));
    if (!x[k] || !yr[k] || !yc[k]) continue;
    for (size_t i = 0; i < n; i++) {
      x[k][i] = r->pts[i].cycle;
      yr[k][i] = 100.0 * r->pts[i].retention;
      yc[k][i] = 100.0 * r->pts[i].ce;
    }
    variant_name(s, cycling_variants[k], name, sizeof name);
    snprintf(label[nl], sizeof label[0], "%s, model (%zu cycles simulated%s)",
             name, n, r->done ? "" : ", failed");
    ret[nr++] = (nimc_curve){label[nl], x[k], yr[k], n, 2, (int)k + 1};
    ce[nc++] = (nimc_curve){label[nl], x[k], yc[k], n, 2, (int)k + 1};
    nl++;
    nmodel++;
  }
  for (size_t i = 0; i < NPAPER; i++) { /* the paper's points */
    const struct paper_value *p = &paper_values[i];
    int color = 0;
    if (!paper_is_cycling(p) || !isfinite(p->paper)) continue;
    for (size_t k = 0; k < NV; k++)
      if (cycling_variants[k] == p->device) color = (int)k + 1;
    py[i] = 100.0 * p->paper;
    snprintf(label[nl], sizeof label[0], "paper, %s: %g %% at cycle %d",
             s->dev[p->device] ? nimc_device_name(s->dev[p->device]) : "",
             py[i], PAPER_CYCLING_CYCLES);
    nimc_curve c = {label[nl++], &px, &py[i], 1, 1, color};
    if (p->kind == Q_CYCLING_RETENTION)
      ret[nr++] = c;
    else
      ce[nc++] = c;
  }
  char title[512];
  snprintf(title, sizeof title,
           "cycling (%s): lines model through the simulated cycles, "
           "filled points paper",
           cycling_file);
  nimc_panel panels[2] = {
      {ret,
       nr,
       {"cycle", "capacitance retention (%)",
        "capacitance against that of the Repeat's first cycle", 0, 0, 0}},
      {ce, nc, {"cycle", "coulombic efficiency (%)", NULL, 0, 0, 0}}};
  if (!nmodel)
    fprintf(stderr, "nimc reproduce: reproduce_cycling not drawn: none of "
                    "its simulations ran a cycle\n");
  else if (nimc_plot_panels(panels, 2, title, dir, "reproduce_cycling", &err))
    output_failed(s, "reproduce_cycling", &err);
  for (size_t k = 0; k < NV; k++) {
    free(x[k]);
    free(yr[k]);
    free(yc[k]);
  }
}

/* The files of reproduce -o, for its manifest: each figure's image,
 * script, data and log, the JSON and the table. */
static const char *const reproduce_files[] = {"reproduce_gcd.png",
                                              "reproduce_gcd.svg",
                                              "reproduce_gcd.gp",
                                              "reproduce_gcd.dat",
                                              "reproduce_gcd.log",
                                              "reproduce_rate.png",
                                              "reproduce_rate.svg",
                                              "reproduce_rate.gp",
                                              "reproduce_rate.dat",
                                              "reproduce_rate.log",
                                              "reproduce_fields.png",
                                              "reproduce_fields.svg",
                                              "reproduce_fields.gp",
                                              "reproduce_fields.dat",
                                              "reproduce_fields.log",
                                              "reproduce_eis.png",
                                              "reproduce_eis.svg",
                                              "reproduce_eis.gp",
                                              "reproduce_eis.dat",
                                              "reproduce_eis.log",
                                              "reproduce_predictions.png",
                                              "reproduce_predictions.svg",
                                              "reproduce_predictions.gp",
                                              "reproduce_predictions.dat",
                                              "reproduce_predictions.log",
                                              "reproduce_cv_rates.png",
                                              "reproduce_cv_rates.svg",
                                              "reproduce_cv_rates.gp",
                                              "reproduce_cv_rates.dat",
                                              "reproduce_cv_rates.log",
                                              "reproduce_cycling.png",
                                              "reproduce_cycling.svg",
                                              "reproduce_cycling.gp",
                                              "reproduce_cycling.dat",
                                              "reproduce_cycling.log",
                                              "reproduce.json",
                                              "validation.csv",
                                              NULL};

/* Write the set of files into the output directory: the old manifest goes
 * first, the new one is written last, only when every file was written;
 * SIGINT, SIGTERM and SIGHUP wait until then (no temporary is left). */
static void write_files(state *s, const char *json) {
  char path[4096];
  nimc_err err;
  const char *dir = s->a.outdir;
  sigset_t old;
  cli_block_signals(1, &old);
  if (cli_clear_manifest("reproduce", dir)) {
    s->failed = 1;
    cli_block_signals(0, &old);
    return;
  }
  int failed = s->failed;
  s->failed = 0;
  if (!part_alone(&s->a)) { /* the LED demonstration, the CV and the
                               cycling alone draw no GCD */
    figure_profiles(s, dir);
    figure_rate(s, dir);
    figure_fields(s, dir);
    figure_eis(s, dir);
  }
  if (!s->a.calibration_only && !part_alone(&s->a)) figure_predictions(s, dir);
  if (s->want_cv) figure_cv_rates(s, dir);
  if (s->want_cycling) figure_cycling(s, dir);
  snprintf(path, sizeof path, "%s/reproduce.json", dir);
  if (nimc_write_atomic(path, json, strlen(json), &err))
    output_failed(s, "reproduce.json", &err);
  snprintf(path, sizeof path, "%s/validation.csv", dir);
  if (nimc_validation_write_csv(s->rows, s->nrows, path, &err))
    output_failed(s, "validation.csv", &err);
  if (!s->failed && cli_write_manifest("reproduce", dir, reproduce_files, 1))
    s->failed = 1;
  s->failed |= failed;
  cli_block_signals(0, &old);
  if (!s->a.quiet && s->a.led_only) {
    fprintf(stderr, "nimc reproduce: wrote %s/reproduce.json, validation.csv\n",
            dir);
  } else if (!s->a.quiet) {
    char figs[512] = "";
    size_t len = 0;
    if (!part_alone(&s->a))
      add_user(figs, sizeof figs, &len,
               "reproduce_gcd, reproduce_rate, reproduce_fields, "
               "reproduce_eis");
    if (!s->a.calibration_only && !part_alone(&s->a))
      add_user(figs, sizeof figs, &len, "reproduce_predictions");
    if (s->want_cv) add_user(figs, sizeof figs, &len, "reproduce_cv_rates");
    if (s->want_cycling) add_user(figs, sizeof figs, &len, "reproduce_cycling");
    fprintf(stderr,
            "nimc reproduce: wrote %s/%s (.png, .svg), reproduce.json, "
            "validation.csv\n",
            dir, figs);
  }
}

static void release(state *s) {
  for (size_t k = 0; k < s->nruns; k++)
    nimc_result_free(&s->runs[k].res);
  free(s->runs);
  for (size_t k = 0; k < COUNT(cv_rate_mV_s); k++)
    nimc_result_free(&s->cv[k].res);
  for (int d = 0; d < NDEV; d++)
    if (s->maps[d].done) nimc_fields_free(&s->maps[d].f);
  nimc_experiment_destroy(s->cycling_exp);
  for (int v = 0; v < NVARIANT; v++) {
    free(s->cyc[v].pts);
    nimc_spectrum_free(&s->eis[v].s);
    if (s->eis[v].fitted) nimc_fit_free(&s->eis[v].fit);
    nimc_circuit_destroy(s->eis[v].circuit);
    nimc_device_destroy(s->dev[v]);
  }
}

/* Load the variants something needs; 0, or the exit status (the message
 * said why). */
static int load_variants(state *s) {
  for (int v = 0; v < NVARIANT; v++) {
    const struct variant *va = &variants[v];
    char path[4096];
    size_t nsets = 0;
    if (!s->needed[v]) continue;
    while (nsets < MAX_SETS && va->sets[nsets])
      nsets++;
    snprintf(path, sizeof path, "%s/%s", s->a.devdir, va->file);
    int rc = cli_load_device("reproduce", path, va->sets, nsets,
                             va->temperature, &s->dev[v]);
    if (rc) return rc;
  }
  return 0;
}

int cli_reproduce(int argc, char **argv) {
  state s;
  memset(&s, 0, sizeof s);
  char *json = NULL;
  nimc_err err;
  int rc = parse_args(argc, argv, &s.a);
  if (rc) return rc < 0 ? 0 : rc;
  s.start_s = cli_now_s();

  if (!s.a.led_only) select_rows(&s);
  if (s.a.led_only)
    s.needed[V_UNCOVERED] = 1;
  else if (plan_runs(&s)) {
    fprintf(stderr, "nimc reproduce: out of memory\n");
    rc = EXIT_FAIL;
    goto done;
  }
  /* bad input is answered before anything is simulated */
  if ((rc = load_variants(&s))) goto done;
  if (s.want_cycling && (rc = cycling_read(&s))) goto done;
  int led = !s.a.calibration_only && !s.a.cv_only && !s.a.cycling_only;
  if (led && (rc = led_check(&s))) goto done;
  if ((rc = cli_outdir_ready("reproduce", s.a.outdir))) goto done;

  s.nsims = s.nruns + (part_alone(&s.a) ? 0 : NDEV) + (size_t)led +
            (s.packs.wanted ? 3 : 0);
  for (int v = 0; v < NVARIANT; v++)
    s.nsims += (size_t)s.eis[v].wanted + (size_t)s.sd[v].wanted +
               (size_t)s.cyc[v].wanted;
  s.nsims += s.want_cv ? COUNT(cv_rate_mV_s) : 0;
  for (size_t k = 0; k < s.nruns; k++)
    simulate_gcd(&s, &s.runs[k]);
  for (int d = 0; d < NDEV && !part_alone(&s.a); d++)
    simulate_map(&s, d);
  for (int v = 0; v < NVARIANT; v++)
    if (s.eis[v].wanted) simulate_eis(&s, v);
  if (s.packs.wanted) simulate_packs(&s);
  for (size_t k = 0; k < COUNT(cv_rate_mV_s) && s.want_cv; k++)
    simulate_cv(&s, &s.cv[k]);
  for (int v = 0; v < NVARIANT; v++)
    if (s.sd[v].wanted) simulate_sd(&s, v);
  for (size_t k = 0; k < COUNT(cycling_variants); k++) /* the longest last */
    if (s.cyc[cycling_variants[k]].wanted)
      simulate_cycling(&s, cycling_variants[k]);
  fill_rows(&s);
  if (led) {
    simulate_led(&s);
    add_led_row(&s);
  }

  nimc_summary sum = {.device = nimc_device_name(s.dev[UNCOVERED]),
                      .temperature_C =
                          nimc_device_temperature_K(s.dev[UNCOVERED]) - 273.15,
                      .validation = s.rows,
                      .nvalidation = s.nrows};
  if (nimc_summary_json(&sum, &json, &err)) {
    fprintf(stderr, "nimc reproduce: %s\n", err.msg);
    rc = EXIT_FAIL;
    goto done;
  }
  if (s.a.json) {
    printf("%s\n", json);
    print_left_out(&s);
  } else {
    print_tables(&s);
    print_led(&s);
  }
  fflush(stdout);
  if (s.a.outdir) write_files(&s, json);
  if (!s.a.quiet)
    fprintf(stderr, "nimc reproduce: %zu simulations, %.1f s in all%s\n",
            s.nsims, cli_now_s() - s.start_s,
            s.failed ? "; some failed (see above)" : "");
  rc = s.failed ? EXIT_FAIL : 0;
done:
  free(json);
  release(&s);
  return rc;
}
