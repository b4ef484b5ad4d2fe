/*
 * test_model.c -- the physics core specified by what it must satisfy:
 *  - the analytic Jacobian equals finite differences of the residual, and
 *    its sparsity pattern holds every entry that is not zero;
 *  - the discretisation conserves cations and charge exactly (an identity
 *    of the residual, to round-off) and in time (a whole cycle);
 *  - a constant-capacitance EDLC with fast transport is an ideal
 *    capacitor: Q = C dV, a linear GCD, and the analytic series resistance
 *    at the switch;
 *  - an intercalation electrode at low rate recovers its OCP curve, with
 *    an error that falls in proportion to the rate;
 *  - mesh refinement converges at second order.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/constants.h"
#include "jacobian_check.h"
#include "model/model.h"
#include "model_fixtures.h"
#include "nimc/nimc.h"
#include "protocol/sim.h"
#include "testlib.h"

/* variant 0: intercalation anode with a double layer, capacitive cathode;
 * variant 1: hybrid anode (intercalation + capacitance, counter-ion
 * model), capacitive cathode with a fixed cation share and a capacitance
 * table; variant 2: two intercalation electrodes without double layers
 * (algebraic dphi), a surface film, a sphere and a cylinder, and a shunt
 * across the terminals; variants 3 and 4: the ternary electrolyte;
 * variant 5: variant 4 ageing (side reactions on both electrodes);
 * variant 6: variant 5 with trapping on the cathode too; variant 7:
 * variant 4 with trapping alone on the cathode (no oxidation); variant 8:
 * variant 7 with trapping in the anode's solid too. */
static void jacobian_variant(nimc_device *d, int variant) {
  if (variant == 6) {
    jacobian_variant(d, 5);
    d->cathode.sr_trapping = nimc_law_constant(0.3);
    return;
  }
  if (variant == 8) {
    /* trapping in the anode's solid and on the cathode's surface */
    jacobian_variant(d, 7);
    d->anode.sr_trapping = nimc_law_constant(0.2);
    d->anode.sr_film_ohm_m4_C = 1e-2;
    return;
  }
  if (variant == 7) {
    jacobian_variant(d, 4);
    d->cathode.sr_trapping = nimc_law_constant(0.3);
    d->cathode.sr_block_C_m2 = 1.0;
    d->cathode.surface_m2_m3 = 6.5e8;
    return;
  }
  if (variant == 5) {
    /* ageing: a film-growing reduction on the anode, a blocking
     * oxidation on the cathode, on variant 4's device */
    jacobian_variant(d, 4);
    d->anode.sr_current = nimc_law_constant(1e-2);
    d->anode.sr_E_V = 0.5, d->anode.sr_alpha = 0.5;
    d->anode.sr_film_ohm_m4_C = 1e-2;
    d->cathode.sr_current = nimc_law_constant(1e-3);
    d->cathode.sr_E_V = 3.0, d->cathode.sr_alpha = 0.4;
    d->cathode.sr_block_C_m2 = 1.0;
    d->cathode.surface_m2_m3 = 6.5e8;
    return;
  }
  if (variant >= 3) {
    /* the ternary electrolyte: Na+, the ionic liquid's cation, the anion;
     * variant 4 also with the slow branch and a fixed cation share */
    fx_ternary(d);
    if (variant == 4) {
      /* micropores: a transmission line in the cathode's particles */
      d->cathode.mp_fraction = 0.4;
      d->cathode.mp_tau_s = 50.0;
      d->cathode.mp_Tref_K = 298.15;
      d->mesh.micropore_shells = 5;
      d->cathode.dl_cation_fraction = 0.3;
      d->anode.kind = NIMC_ELECTRODE_HYBRID;
      d->anode.cap_F_m3 = 2e7;
      d->anode.E_pzc_V = 1.0;
    }
  } else if (variant == 1) {
    d->anode.kind = NIMC_ELECTRODE_HYBRID;
    d->anode.cap_F_m3 = 2e7;
    d->anode.E_pzc_V = 1.0;
    d->cathode.dl_cation_fraction = 0.3;
    d->anode.slow_fraction = 0.2;
    d->anode.slow_tau_s = 5.0;
    static const double ex[] = {0.0, 1.5, 2.5, 4.0};
    static const double ey[] = {1.3, 1.0, 1.1, 1.6};
    d->cathode.cap_k2_per_V2 = 0.0;
    d->cathode.cap_shape = fx_table_law(ex, ey, 4);
  } else if (variant == 2) {
    d->anode.cdl_F_m2 = 0.0;
    d->anode.film_ohm_m2 = 0.01;
    d->anode.shape = NIMC_PARTICLE_SPHERE;
    fx_intercalation(&d->cathode, 10e-6, "linear_ocp", 0.4);
    d->cathode.shape = NIMC_PARTICLE_CYLINDER;
    /* a conductance comparable to the collector's (the fixture's is
     * large): a wrong entry of V / R_sh would show (without it, 8 %) */
    d->shunt_resistance_ohm = 1e-3;
  }
}

static void test_jacobian_matches_finite_differences(void) {
  for (int variant = 0; variant < 9; variant++) {
    nimc_device d;
    fx_full_device(&d);
    jacobian_variant(&d, variant);
    d.mesh.anode_cells = 4, d.mesh.separator_cells = 3,
    d.mesh.cathode_cells = 4;
    d.mesh.particle_shells = 4;
    d.mesh.grading = 2.0;
    nimc_mesh *mesh;
    nimc_model *m;
    CHECK(nimc_mesh_stack(&mesh, &d, NULL) == NIMC_OK);
    CHECK(nimc_model_create(&m, &d, mesh, NULL) == NIMC_OK);
    int64_t n = m->n;
    double *y = malloc(sizeof(double) * n), *yp = malloc(sizeof(double) * n);
    double *F = malloc(sizeof(double) * n);
    double *J = malloc(sizeof(double) * m->nnz);
    double cj = 37.0;
    /* every kind of control row: current, voltage, sweep, and those
     * that tie I to V (a power, a load, and an LED twice: on its
     * exponential at 1.9 V, and at 2.5 V where it is continued linearly) */
    static const nimc_control_kind modes[] = {
        NIMC_CONTROL_CURRENT, NIMC_CONTROL_VOLTAGE,    NIMC_CONTROL_SWEEP,
        NIMC_CONTROL_POWER,   NIMC_CONTROL_RESISTANCE, NIMC_CONTROL_DIODE,
        NIMC_CONTROL_DIODE};
    for (int mode = 0; mode < 7; mode++) {
      nimc_control c = {.kind = modes[mode],
                        .i_set_A = 2e-5,
                        .v_set_V = 1.0,
                        .sweep_rate_V_s = 0.01,
                        .p_set_W = -3e-5,
                        .r_load_ohm = 2e3,
                        .led_forward_current_A = 1e-3,
                        .led_forward_voltage_V = 1.8,
                        .led_slope_V = 0.05,
                        .led_series_ohm = 100.0};
      CHECK(nimc_model_set_control(m, &c) == NIMC_OK);
      jac_random_state(m, 7u + (unsigned)(mode % 3), y, yp);
      if (mode >= 5) y[m->iV] = mode == 5 ? 1.9 : 2.5;
      CHECK(nimc_model_eval(m, 3.0, y, yp, F, cj, J) == 0);
      /* the residual alone (the derivative work skipped) is the Jacobian
       * pass's residual, bit for bit */
      double *F1 = malloc(sizeof(double) * n);
      CHECK(nimc_model_eval(m, 3.0, y, yp, F1, 0.0, NULL) == 0);
      CHECK(memcmp(F, F1, sizeof(double) * n) == 0);
      free(F1);
      char label[64];
      snprintf(label, sizeof label, "variant %d, mode %d:", variant, mode);
      long outside = 0;
      double worst = 0.0;
      long bad = jac_check_fd(m, 3.0, y, yp, cj, J, label, &outside, &worst);
      fprintf(stderr,
              "  variant %d, control %d: worst relative Jacobian error %.2e, "
              "%ld unknowns, %ld nonzeros\n",
              variant, mode, worst, (long)n, (long)m->nnz);
      CHECK(bad == 0);
      CHECK(outside == 0);
      /* the places of put() kept at set-up (model.c: place_of) are
       * checked at each use: with every one of them wrong, the Jacobian
       * is the same, bit for bit */
      CHECK(m->nplaces > 0);
      double *J1 = malloc(sizeof(double) * m->nnz);
      double *J2 = malloc(sizeof(double) * m->nnz);
      int64_t *wrong = malloc(sizeof(int64_t) * m->nplaces), *kept = m->place;
      for (int64_t k = 0; k < m->nplaces; k++)
        wrong[k] = (kept[k] + 1 + k % 5) % m->nnz;
      CHECK(nimc_model_eval(m, 3.0, y, yp, F, cj, J1) == 0);
      m->place = wrong;
      CHECK(nimc_model_eval(m, 3.0, y, yp, F, cj, J2) == 0);
      m->place = kept;
      CHECK(memcmp(J1, J2, sizeof(double) * m->nnz) == 0);
      free(J1), free(J2), free(wrong);
    }
    free(y), free(yp), free(F), free(J);
    nimc_model_destroy(m);
    nimc_law_clear(&d.cathode.cap_shape);
    fx_free_device(&d);
  }
}

/* The residual is conservative: weighted sums of the equations equal the
 * rate of change of the inventories for ANY state, to round-off. */
static void test_discrete_conservation_identity(void) {
  nimc_device d;
  fx_full_device(&d);
  d.mesh.grading = 3.0;
  nimc_mesh *mesh;
  nimc_model *m;
  CHECK(nimc_mesh_stack(&mesh, &d, NULL) == NIMC_OK);
  CHECK(nimc_model_create(&m, &d, mesh, NULL) == NIMC_OK);
  double *y = malloc(sizeof(double) * m->n),
         *yp = malloc(sizeof(double) * m->n);
  double *F = malloc(sizeof(double) * m->n);
  for (unsigned seed = 1; seed <= 5; seed++) {
    jac_random_state(m, seed, y, yp);
    nimc_model_eval(m, 0.0, y, yp, F, 0.0, NULL);
    /* cations: electrolyte + held in double layers + solid */
    double lhs = 0.0, rate = 0.0, mag = 0.0, charge = 0.0, cmag = 0.0;
    for (int i = 0; i < m->mesh->ncells; i++) {
      int o = m->off[i], e = m->elec[i];
      double vol = m->mesh->vol[i];
      const nimc_elec *el = e >= 0 ? &m->el[e] : NULL;
      int dl = el && el->has_dl;
      int cr = dl ? o + el->im : o;
      lhs += F[cr];
      rate += dl ? vol * yp[cr] : vol * m->eps[i] * yp[o];
      mag += fabs(F[cr]) + fabs(rate);
      charge += F[o + 1];
      cmag += fabs(F[o + 1]);
      if (!el) continue;
      int sr = dl ? o + el->iq : o + 2;
      charge += F[sr];
      cmag += fabs(F[sr]);
      if (!el->has_int) continue;
      double w = vol * el->p->active_fraction / el->particle_meas;
      for (int k = 0; k < el->ns; k++) {
        lhs += w * F[o + el->is + 1 + k];
        rate += w * el->shell_meas[k] * yp[o + el->is + 1 + k];
        mag += fabs(w * F[o + el->is + 1 + k]);
      }
      lhs += vol * el->a * F[o + el->is];
      mag += fabs(vol * el->a * F[o + el->is]);
    }
    CHECK_ABS(lhs, rate, 1e-13 * mag);
    /* charge: the currents telescope; only the collectors remain */
    double collectors = F[m->iV] - y[m->iI];
    for (int f = 0; f < m->mesh->nfaces; f++) {
      if (m->mesh->btag[f] != NIMC_BOUNDARY_ANODE_CC) continue;
      int o = m->off[m->mesh->c0[f]];
      collectors += m->el[0].sigma_eff * m->mesh->area[f] / m->mesh->d0[f] *
                    (y[o + 1] + y[o + 2]);
    }
    CHECK_ABS(charge, collectors, 1e-13 * (cmag + fabs(collectors)));
  }
  free(y), free(yp), free(F);
  nimc_model_destroy(m);
  fx_free_device(&d);
}

/* Run exp on dev; returns 0 on success. */
static int simulate(const nimc_device *d, const nimc_experiment *exp,
                    double rtol, nimc_result *res, nimc_sim **keep) {
  nimc_sim_opts o = nimc_sim_opts_default();
  o.rtol = rtol;
  nimc_sim *s;
  nimc_err err;
  memset(res, 0, sizeof *res);
  if (nimc_sim_create(&s, d, &o, &err)) {
    fprintf(stderr, "  create: %s\n", err.msg);
    return -1;
  }
  int rc = nimc_sim_run(s, exp, res);
  if (rc) fprintf(stderr, "  run: %s\n", nimc_sim_errmsg(s));
  if (keep)
    *keep = s;
  else
    nimc_sim_destroy(s);
  return rc;
}

/* ternary: 0 binary, 1 ternary with micropores, 2 that with side
 * reactions on both electrodes (ageing), 3 that with trapping alone on
 * the cathode (and the anode's reduction), 4 trapping on both electrodes
 * and no reaction: the sodium trapped in the anode counts in the
 * inventory, and the ionic liquid's cations are untouched */
static void cycle_conservation(int ternary) {
  nimc_device d;
  fx_full_device(&d);
  if (ternary) { /* and micropores in the cathode */
    fx_ternary(&d);
    d.cathode.mp_fraction = 0.3;
    d.cathode.mp_tau_s = 40.0;
    d.cathode.mp_Tref_K = 298.15;
  }
  if (ternary >= 2) {
    /* rates that take a few per cent of the charge */
    d.anode.sr_current = nimc_law_constant(1e-7);
    d.anode.sr_E_V = 0.6, d.anode.sr_alpha = 0.5;
    d.anode.sr_film_ohm_m4_C = 1e-3;
    d.cathode.sr_current = nimc_law_constant(ternary == 2 ? 1e-5 : 0.0);
    d.cathode.sr_E_V = 3.2, d.cathode.sr_alpha = 0.5;
    d.cathode.sr_block_C_m2 = 0.05;
    d.cathode.surface_m2_m3 = 3.6e7 / 0.055;
  }
  /* trapping: 2 % of what the cathode's surface takes up while charging
   * (and with 4, of the sodium the anode takes up, without its reduction) */
  const double kappa = 0.02;
  if (ternary >= 3) d.cathode.sr_trapping = nimc_law_constant(kappa);
  if (ternary == 4) {
    d.anode.sr_trapping = nimc_law_constant(kappa);
    d.anode.sr_current = nimc_law_constant(0.0);
  }
  d.cathode.leak_A_m3 = 0.0; /* leakage stores no charge */
  fx_exp x;
  fx_exp_init(&x);
  fx_gcd(&x, 2e-4, 3.0, 0.5);
  nimc_step *r = fx_add(&x, NIMC_STEP_REST);
  r->has_duration = 1, r->duration_s = 50.0;
  nimc_result res;
  nimc_sim *s = NULL;
  CHECK(simulate(&d, &x.exp, 1e-9, &res, &s) == 0);
  if (!s) return;
  nimc_model *m = nimc_sim_model(s);
  double *y0 = malloc(sizeof(double) * m->n),
         *yp0 = malloc(sizeof(double) * m->n);
  nimc_model_initial(m, y0, yp0);
  const double *y = nimc_sim_state(s);
  double n0 = nimc_model_cation_inventory(m, y0);
  double n1 = nimc_model_cation_inventory(m, y);
  fprintf(stderr, "  cation inventory drift %.2e (relative)\n", (n1 - n0) / n0);
  CHECK_REL(n1, n0, 1e-13);
  double qa = nimc_model_electrode_charge(m, 0, y) -
              nimc_model_electrode_charge(m, 0, y0);
  double qc = nimc_model_electrode_charge(m, 1, y) -
              nimc_model_electrode_charge(m, 1, y0);
  double qin = y[m->iQ];
  double qcharge = res.steps[0].charge_C;
  /* what the side reactions took (ageing) */
  double sa = nimc_model_side_charge(m, 0, y),
         sc = nimc_model_side_charge(m, 1, y);
  fprintf(stderr,
          "  charge in %.9e C, cathode %.9e C, anode %.9e C (of %.3e moved); "
          "side reactions %.3e C, %.3e C\n",
          qin, qc, -qa, qcharge, sc, -sa);
  if (ternary == 2) {
    CHECK(sc > 1e-3 * qcharge && -sa > 1e-3 * qcharge);
    /* the blocked share and the film grew */
    CHECK(sc < 0.2 * qcharge && -sa < 0.2 * qcharge);
  } else if (ternary == 4) {
    /* each electrode traps kappa of what it takes up while charging:
     * about the same charge (the anode's double layer takes a little) */
    fprintf(stderr, "  trapped %.4f and %.4f of the charge (kappa %.4f)\n",
            sc / qcharge, -sa / qcharge, kappa);
    CHECK(sc > 0.9 * kappa * qcharge && sc < 1.1 * kappa * qcharge);
    CHECK(-sa > 0.8 * kappa * qcharge && -sa < 1.1 * kappa * qcharge);
  } else if (ternary == 3) {
    /* the cathode is all double layer and micropores: it traps kappa of
     * the charge, give or take what its micropores take up and give back
     * while the cell discharges and rests; nothing on discharge */
    fprintf(stderr, "  trapped %.4f of the charge (kappa %.4f)\n",
            sc / qcharge, kappa);
    CHECK(sc > 0.9 * kappa * qcharge && sc < 1.1 * kappa * qcharge);
    CHECK(-sa > 1e-3 * qcharge);
  } else {
    CHECK(sa == 0.0 && sc == 0.0);
  }
  /* to round-off of the sums over the cells: 1e-12 of the largest
   * charge in them (the charge in, |qin|, is several times the charge a
   * step moves) */
  double qtol = 1e-12 * fmax(qcharge, fabs(qin));
  CHECK_ABS(qc + sc, qin, qtol);
  CHECK_ABS(-(qa + sa), qin, qtol);
  /* from the neutral start: no electrode holds charge as assembled, and
   * the two electrodes' charges sum to zero in every state after it (the
   * binary electrolyte is electroneutral in every cell) */
  CHECK(nimc_model_electrode_charge(m, 0, y0) == 0.0);
  CHECK(nimc_model_electrode_charge(m, 1, y0) == 0.0);
  double qa1 = nimc_model_electrode_charge(m, 0, y),
         qc1 = nimc_model_electrode_charge(m, 1, y);
  fprintf(stderr, "  after the cycle: anode %.3e C + cathode %.3e C = %.2e C\n",
          qa1, qc1, qa1 + qc1);
  CHECK_ABS(qa1 + qc1 + sa + sc, 0.0, 1e-12 * qcharge);
  /* the ionic liquid's cations are neither made nor consumed */
  double p0 = nimc_model_il_cation_inventory(m, y0),
         p1 = nimc_model_il_cation_inventory(m, y);
  if (ternary) {
    /* consumed only by the anode's side reaction, one per electron */
    double used = ternary == 2 || ternary == 3 ? -sa / NIMC_F : 0.0;
    fprintf(stderr, "  ionic liquid cations: drift %.2e (relative), "
            "%.3e mol consumed\n", (p1 + used - p0) / p0, used);
    CHECK(p0 > 0.0);
    CHECK_REL(p1 + used, p0, 1e-13);
  } else {
    CHECK(p0 == 0.0 && p1 == 0.0);
  }
  CHECK(res.nsteps == 3);
  free(y0), free(yp0);
  nimc_result_free(&res);
  nimc_sim_destroy(s);
  fx_free_device(&d);
}

/* A whole cycle from the neutral start conserves sodium (solid,
 * electrolyte, double layers), the ionic liquid's cations and charge, to
 * the solver's tolerance, with the binary and the ternary electrolyte;
 * with side reactions (ageing), charge counting what they took, and the
 * ionic liquid's cations counting those the anode's reduced. */
static void test_cycle_conservation(void) {
  cycle_conservation(0);
  cycle_conservation(1);
  cycle_conservation(2);
  cycle_conservation(3);
  cycle_conservation(4);
}

/* An initial cell voltage is reached from the neutral device without
 * creating charge: the electrodes' charges are equal and opposite, the
 * device rests at that voltage, and the cations (electrolyte, double
 * layers, solid) are those of the neutral device.  A voltage that would
 * need sodium the anode does not have is refused with a message. */
static void test_initial_voltage_conserves_charge(void) {
  nimc_device d;
  fx_full_device(&d);
  d.cathode.leak_A_m3 = 0.0;
  nimc_mesh *mesh;
  nimc_model *m0 = NULL, *m1 = NULL;
  CHECK(nimc_mesh_stack(&mesh, &d, NULL) == NIMC_OK);
  CHECK(nimc_model_create(&m0, &d, mesh, NULL) == NIMC_OK);
  nimc_device d1 = d; /* shares d's laws: only d is freed */
  d1.initial_voltage_given = 1;
  d1.initial_voltage_V = 3.2;
  CHECK(nimc_mesh_stack(&mesh, &d1, NULL) == NIMC_OK);
  CHECK(nimc_model_create(&m1, &d1, mesh, NULL) == NIMC_OK);
  if (m0 && m1) {
    double *y0 = malloc(sizeof(double) * m0->n),
           *yp0 = malloc(sizeof(double) * m0->n);
    double *y1 = malloc(sizeof(double) * m1->n),
           *yp1 = malloc(sizeof(double) * m1->n),
           *F = malloc(sizeof(double) * m1->n);
    nimc_model_initial(m0, y0, yp0);
    nimc_model_initial(m1, y1, yp1);
    double qa = nimc_model_electrode_charge(m1, 0, y1),
           qc = nimc_model_electrode_charge(m1, 1, y1);
    fprintf(stderr,
            "  neutral rest voltage %.4f V; at %.4f V the cathode holds "
            "%.4e C, the anode %.4e C\n",
            y0[m0->iV], y1[m1->iV], qc, qa);
    CHECK_ABS(y1[m1->iV], 3.2, 1e-9);
    CHECK(qc > 0.0);
    CHECK_ABS(qa + qc, 0.0, 1e-9 * qc);
    CHECK_REL(nimc_model_cation_inventory(m1, y1),
              nimc_model_cation_inventory(m0, y0), 1e-12);
    /* it is a state at rest: the residual vanishes with y' = 0 */
    nimc_control rest = {.kind = NIMC_CONTROL_CURRENT, .i_set_A = 0.0};
    CHECK(nimc_model_set_control(m1, &rest) == NIMC_OK);
    CHECK(nimc_model_eval(m1, 0.0, y1, yp1, F, 0.0, NULL) == 0);
    double worst = 0.0;
    for (int64_t k = 0; k < m1->n; k++)
      if (fabs(F[k]) > worst) worst = fabs(F[k]);
    fprintf(stderr, "  largest residual at rest %.2e\n", worst);
    CHECK(worst < 1e-6);
    free(y0), free(yp0), free(y1), free(yp1), free(F);
  }
  nimc_model_destroy(m0);
  nimc_model_destroy(m1);
  /* 0 V from an anode made with almost no sodium: the AG would have to go
   * far below its pzc, the anode give up sodium it does not have */
  d1.anode.theta0 = 1e-4;
  d1.initial_voltage_V = 0.0;
  nimc_err err;
  m1 = NULL;
  CHECK(nimc_mesh_stack(&mesh, &d1, NULL) == NIMC_OK);
  CHECK(nimc_model_create(&m1, &d1, mesh, &err) == NIMC_EINPUT);
  if (!m1) CHECK(strstr(err.msg, "initial_voltage = 0 V cannot be reached"));
  nimc_model_destroy(m1);
  fx_free_device(&d);
}

/* An EDLC of two equal constant capacitances with fast transport. */
#define KAPPA 1e4
/* The control interface: a new model is at open circuit (zero current);
 * each kind of control sets the target of the control row, and the
 * residual's control row is the controlled quantity minus that target; a
 * control with an unknown kind or a value that is not finite is refused
 * and leaves the one in force. */
static void test_control_interface(void) {
  nimc_device d;
  fx_device(&d, KAPPA, 1e-6);
  fx_capacitive(&d.anode, 10e-6, 1e7, 0.0);
  fx_capacitive(&d.cathode, 10e-6, 1e7, 0.0);
  nimc_mesh *mesh;
  nimc_model *m;
  CHECK(nimc_mesh_stack(&mesh, &d, NULL) == NIMC_OK);
  CHECK(nimc_model_create(&m, &d, mesh, NULL) == NIMC_OK);
  nimc_control c0 = nimc_model_get_control(m);
  CHECK(c0.kind == NIMC_CONTROL_CURRENT && c0.i_set_A == 0.0);
  CHECK(nimc_model_control_target(m, 5.0) == 0.0);
  double *y = malloc(sizeof(double) * m->n),
         *yp = malloc(sizeof(double) * m->n);
  double *F = malloc(sizeof(double) * m->n);
  nimc_model_initial(m, y, yp);
  y[m->iI] = 3e-4, y[m->iV] = 0.7;
  const double t = 12.0, t0 = 2.0, w = 2.0 * NIMC_PI * 0.05;
  struct {
    nimc_control c;
    double target; /* at t */
  } cases[] = {
      {{.kind = NIMC_CONTROL_CURRENT, .i_set_A = -1e-3}, -1e-3},
      {{.kind = NIMC_CONTROL_VOLTAGE, .v_set_V = 2.5}, 2.5},
      {{.kind = NIMC_CONTROL_SWEEP,
        .v_set_V = 1.0,
        .sweep_rate_V_s = -0.01,
        .t0_s = t0},
       1.0 - 0.01 * (t - t0)},
      {{.kind = NIMC_CONTROL_SINE_VOLTAGE,
        .v_set_V = 1.5,
        .sine_amplitude = 5e-3,
        .sine_omega_rad_s = w,
        .t0_s = t0},
       1.5 + 5e-3 * sin(w * (t - t0))},
      {{.kind = NIMC_CONTROL_SINE_CURRENT,
        .i_set_A = 1e-4,
        .sine_amplitude = 2e-5,
        .sine_omega_rad_s = w,
        .t0_s = t0},
       1e-4 + 2e-5 * sin(w * (t - t0))},
  };
  /* a power holds I V, a load I + V / R */
  nimc_control cp = {.kind = NIMC_CONTROL_POWER, .p_set_W = -2e-4};
  CHECK(nimc_model_set_control(m, &cp) == NIMC_OK);
  CHECK(nimc_control_by_current(cp.kind) == 0);
  CHECK(nimc_model_control_target(m, t) == -2e-4);
  CHECK(nimc_model_eval(m, t, y, yp, F, 0.0, NULL) == 0);
  CHECK_ABS(F[m->iI], 3e-4 * 0.7 + 2e-4, 1e-15);
  nimc_control cr = {.kind = NIMC_CONTROL_RESISTANCE, .r_load_ohm = 5e3};
  CHECK(nimc_model_set_control(m, &cr) == NIMC_OK);
  CHECK(nimc_model_get_control(m).r_load_ohm == 5e3);
  CHECK(nimc_model_eval(m, t, y, yp, F, 0.0, NULL) == 0);
  CHECK_ABS(F[m->iI], 3e-4 + 0.7 / 5e3, 1e-15);
  /* an LED (i_f 1 mA at 1.8 V, slope 50 mV, 100 ohm) holds I plus the
   * diode's current at V_d = V + I R_s: Shockley's law through (V_f, i_f),
   * zero at V_d = 0, continued linearly above 1e4 i_f with value and
   * slope continuous */
  nimc_control cd = {.kind = NIMC_CONTROL_DIODE,
                     .led_forward_current_A = 1e-3,
                     .led_forward_voltage_V = 1.8,
                     .led_slope_V = 0.05,
                     .led_series_ohm = 100.0};
  CHECK(nimc_model_set_control(m, &cd) == NIMC_OK);
  CHECK(nimc_control_by_current(cd.kind) == 0);
  CHECK(nimc_model_control_target(m, t) == 0.0);
  y[m->iV] = 1.85;
  CHECK(nimc_model_eval(m, t, y, yp, F, 0.0, NULL) == 0);
  y[m->iV] = 0.7;
  {
    double e0 = exp(-1.8 / 0.05), vd = 1.85 + 3e-4 * 100.0;
    double led = 1e-3 * (exp(vd / 0.05) - 1.0) / (1.0 / e0 - 1.0);
    CHECK_REL(F[m->iI] - 3e-4, led, 1e-12);
    double dx, xm = log(1e4), h = 1e-7;
    CHECK_REL(nimc_control_diode_current(&cd, 0.0, NULL), 1e-3, 1e-14);
    CHECK_ABS(nimc_control_diode_current(&cd, -1.8 / 0.05, NULL), 0.0, 1e-25);
    double below = nimc_control_diode_current(&cd, xm - h, NULL);
    double above = nimc_control_diode_current(&cd, xm + h, &dx);
    CHECK_REL(above, below, 1e-6);
    CHECK_REL(dx, 10.0 * (1.0 + 1e-15), 1e-6); /* 1e4 i_f per unit x */
    CHECK_REL(nimc_control_diode_current(&cd, xm + 1.0, NULL),
              1e-3 * (2e4 - e0) / (1.0 - e0), 1e-12);
  }
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    CHECK(nimc_model_set_control(m, &cases[k].c) == NIMC_OK);
    CHECK(nimc_model_get_control(m).kind == cases[k].c.kind);
    CHECK_ABS(nimc_model_control_target(m, t), cases[k].target, 1e-15);
    int by_i = nimc_control_by_current(cases[k].c.kind);
    CHECK(by_i == (k == 0 || k == 4));
    CHECK(nimc_model_eval(m, t, y, yp, F, 0.0, NULL) == 0);
    CHECK_ABS(F[m->iI], (by_i ? y[m->iI] : y[m->iV]) - cases[k].target, 1e-15);
  }
  /* refused: the control in force (the last case) stays */
  nimc_control bad[] = {
      {.kind = (nimc_control_kind)99},
      {.kind = NIMC_CONTROL_CURRENT, .i_set_A = NAN},
      {.kind = NIMC_CONTROL_VOLTAGE, .v_set_V = INFINITY},
      {.kind = NIMC_CONTROL_SWEEP, .v_set_V = 1.0, .sweep_rate_V_s = NAN},
      {.kind = NIMC_CONTROL_SINE_VOLTAGE,
       .v_set_V = 1.0,
       .sine_amplitude = 1e-3,
       .sine_omega_rad_s = 0.0},
      {.kind = NIMC_CONTROL_POWER, .p_set_W = 0.0},
      {.kind = NIMC_CONTROL_POWER, .p_set_W = NAN},
      {.kind = NIMC_CONTROL_RESISTANCE, .r_load_ohm = 0.0},
      {.kind = NIMC_CONTROL_RESISTANCE, .r_load_ohm = -5.0},
      {.kind = NIMC_CONTROL_RESISTANCE, .r_load_ohm = INFINITY},
      {.kind = NIMC_CONTROL_DIODE,
       .led_forward_current_A = 0.0,
       .led_forward_voltage_V = 1.8,
       .led_slope_V = 0.05},
      {.kind = NIMC_CONTROL_DIODE,
       .led_forward_current_A = 1e-3,
       .led_forward_voltage_V = 0.0,
       .led_slope_V = 0.05},
      {.kind = NIMC_CONTROL_DIODE,
       .led_forward_current_A = 1e-3,
       .led_forward_voltage_V = 1.8,
       .led_slope_V = -0.05},
      {.kind = NIMC_CONTROL_DIODE,
       .led_forward_current_A = 1e-3,
       .led_forward_voltage_V = 1.8,
       .led_slope_V = 0.05,
       .led_series_ohm = -1.0},
      {.kind = NIMC_CONTROL_DIODE,
       .led_forward_current_A = NAN,
       .led_forward_voltage_V = 1.8,
       .led_slope_V = 0.05},
  };
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    CHECK(nimc_model_set_control(m, &bad[k]) == NIMC_EINPUT);
    CHECK(nimc_model_get_control(m).kind == NIMC_CONTROL_SINE_CURRENT);
  }
  CHECK_ABS(nimc_model_control_target(m, t), cases[4].target, 1e-15);
  free(y), free(yp), free(F);
  nimc_model_destroy(m);
}

static void test_edlc_is_an_ideal_capacitor(void) {
  nimc_device d;
  fx_device(&d, KAPPA, 1e-6);
  fx_capacitive(&d.anode, 10e-6, 1e7, 0.0);
  fx_capacitive(&d.cathode, 10e-6, 1e7, 0.0);
  d.anode.conductivity_S_m = d.cathode.conductivity_S_m = 1e5;
  d.contact_resistance_ohm = 10.0;
  double Ce = 1e7 * 10e-6 * d.area_m2, C = Ce / 2; /* series */
  double I = 1e-3;
  fx_exp x;
  fx_exp_init(&x);
  fx_gcd(&x, I, 1.0, 0.1);
  nimc_result res;
  CHECK(simulate(&d, &x.exp, 1e-9, &res, NULL) == 0);
  CHECK(res.nsteps == 2);
  if (res.nsteps != 2) {
    nimc_result_free(&res);
    return;
  }
  const nimc_step_result *ch = &res.steps[0], *dis = &res.steps[1];
  /* Q = C dV on both half cycles */
  CHECK_REL(ch->charge_C, I * ch->duration_s, 1e-9);
  CHECK_REL(dis->duration_s * I / (dis->v_start_V - dis->v_end_V), C, 1e-6);
  CHECK_REL(ch->duration_s * I / (ch->v_end_V - ch->v_start_V), C, 1e-6);
  CHECK(dis->end_reason == NIMC_END_VOLTAGE);
  CHECK_ABS(dis->v_end_V, 0.1, 1e-9);
  /* the switch: instantaneous resistance of collector contact, separator
   * and each porous electrode (electrolyte and solid in parallel) */
  double ke = KAPPA * pow(0.5, 1.5), A = d.area_m2;
  double Rsep = d.separator.thickness_m / (KAPPA * pow(0.6, 1.5) * A);
  double Rel = 10e-6 / ((ke + 1e5) * A);
  double R = d.contact_resistance_ohm + Rsep + 2 * Rel;
  CHECK_REL(ch->v_end_V - dis->v_start_V, 2 * I * R, 1e-6);
  /* linear in time within the discharge */
  const nimc_series *se = &res.series;
  double worst = 0.0;
  for (size_t k = 0; k < se->n; k++) {
    if (se->step[k] != 1) continue;
    double t = se->time_s[k] - ch->duration_s;
    double v = dis->v_start_V - I * t / C;
    double e = fabs(se->voltage_V[k] - v);
    if (e > worst) worst = e;
  }
  fprintf(
      stderr,
      "  EDLC: C = %.9e F (exact %.9e), worst deviation from the line %.2e V\n",
      dis->duration_s * I / (dis->v_start_V - dis->v_end_V), C, worst);
  CHECK(worst < 1e-6 * 0.9);
  nimc_result_free(&res);
}

/* A capacitor whose double layer has a slow branch (a share f behind an
 * access resistance, time constant tau) relaxes at open circuit as
 * exp(-t / ((1 - f) tau)): charge flows from the fast into the slow part. */
static void test_slow_branch_relaxation(void) {
  nimc_device d;
  const double f = 0.4, tau = 20.0;
  fx_device(&d, KAPPA, 1e-6);
  fx_capacitive(&d.anode, 10e-6, 1e7, 0.0);
  fx_capacitive(&d.cathode, 10e-6, 1e7, 0.0);
  d.anode.slow_fraction = d.cathode.slow_fraction = f;
  d.anode.slow_tau_s = d.cathode.slow_tau_s = tau;
  fx_exp x;
  fx_exp_init(&x);
  nimc_step *c = fx_add(&x, NIMC_STEP_CHARGE);
  c->current = 1e-3, c->has_duration = 1, c->duration_s = 2.0;
  nimc_step *r = fx_add(&x, NIMC_STEP_REST);
  r->has_duration = 1, r->duration_s = 40.0 * tau;
  nimc_result res;
  CHECK(simulate(&d, &x.exp, 1e-10, &res, NULL) == 0);
  const nimc_series *se = &res.series;
  double vinf = se->voltage_V[se->n - 1], t1 = 2.0 + 5.0, t2 = 2.0 + 25.0;
  double v1 = NAN, v2 = NAN;
  for (size_t k = 1; k < se->n; k++) {
    double ta = se->time_s[k - 1], tb = se->time_s[k];
    if (ta <= t1 && tb > t1 && tb > ta)
      v1 = se->voltage_V[k - 1] +
           (t1 - ta) / (tb - ta) * (se->voltage_V[k] - se->voltage_V[k - 1]);
    if (ta <= t2 && tb > t2 && tb > ta)
      v2 = se->voltage_V[k - 1] +
           (t2 - ta) / (tb - ta) * (se->voltage_V[k] - se->voltage_V[k - 1]);
  }
  double tau_r = (t2 - t1) / log((v1 - vinf) / (v2 - vinf));
  fprintf(stderr, "  relaxation time %.6f s (analytic %.6f s)\n", tau_r,
          (1 - f) * tau);
  CHECK_REL(tau_r, (1 - f) * tau, 2e-3); /* linear interpolation of samples */
  /* and the charge ends shared: V_inf = Q / C_total in series */
  double Ce = 1e7 * 10e-6 * d.area_m2;
  CHECK_REL(vinf, 2e-3 / (Ce / 2), 1e-6);
  nimc_result_free(&res);
}

/* Maximum |V - (E_cathode - U(theta))| over the charge, theta from the
 * charge passed: the OCP recovered by a slow charge. */
static double ocp_error(double hours) {
  nimc_device d;
  fx_device(&d, 1.0, 1e-9);
  fx_intercalation(&d.anode, 10e-6, "nto_ocp", 0.05);
  double Cv = 1e12; /* a counter electrode that barely moves */
  fx_capacitive(&d.cathode, 10e-6, Cv, 3.0);
  d.cathode.dl_cation_fraction = 1.0; /* it releases the Na+ the anode takes */
  double cap = NIMC_F * d.anode.c_max_mol_m3 * d.anode.active_fraction *
               d.anode.thickness_m * d.area_m2;
  double I = 0.8 * cap / (hours * 3600.0);
  fx_exp x;
  fx_exp_init(&x);
  nimc_step *c = fx_add(&x, NIMC_STEP_CHARGE);
  c->current = I, c->has_duration = 1, c->duration_s = hours * 3600.0;
  nimc_result res;
  double worst = -1.0;
  if (simulate(&d, &x.exp, 1e-8, &res, NULL) == 0) {
    worst = 0.0;
    double Cc = Cv * 10e-6 * d.area_m2;
    for (size_t k = 0; k < res.series.n; k++) {
      double q = I * res.series.time_s[k];
      double th = 0.05 + q / cap;
      if (th < 0.1 || th > 0.8) continue;
      double U = nimc_law_eval(&d.anode.ocp, th, d.temperature_K, NULL);
      double e = fabs(res.series.voltage_V[k] - (3.0 + q / Cc - U));
      if (e > worst) worst = e;
    }
  }
  nimc_result_free(&res);
  return worst;
}

static void test_ocp_recovered_at_low_rate(void) {
  double e1 = ocp_error(100.0), e2 = ocp_error(50.0);
  fprintf(stderr, "  OCP error: %.3e V at C/125, %.3e V at C/62.5\n", e1, e2);
  CHECK(e1 >= 0.0 && e1 < 1e-3);
  CHECK(e2 / e1 > 1.7 && e2 / e1 < 2.3); /* error proportional to rate */
}

/* Voltage after a fixed-time fast charge on a mesh of n cells per region. */
static double fast_charge_voltage(int n) {
  nimc_device d;
  fx_full_device(&d);
  fx_free_device(&d);
  fx_device(&d, 0.05, 3e-12);
  d.electrolyte.c0_mol_m3 = 900.0;
  fx_intercalation(&d.anode, 20e-6, "nto_ocp", 0.1);
  d.anode.conductivity_S_m = 1.0;
  fx_capacitive(&d.cathode, 20e-6, 3e7, 1.0);
  d.cathode.conductivity_S_m = 1.0;
  d.mesh.anode_cells = d.mesh.separator_cells = d.mesh.cathode_cells = n;
  fx_exp x;
  fx_exp_init(&x);
  nimc_step *c = fx_add(&x, NIMC_STEP_CHARGE);
  c->current = 20.0 * d.area_m2, c->has_duration = 1, c->duration_s = 5.0;
  nimc_result res;
  double v = NAN;
  if (simulate(&d, &x.exp, 1e-11, &res, NULL) == 0) v = res.steps[0].v_end_V;
  nimc_result_free(&res);
  return v;
}

/* nimc_model_set_temperature(T) gives the model nimc_model_create gives at
 * T, to the bit: its derived quantities (the micropores' time constant,
 * the ternary mobility factor, the pzc) and its residual and Jacobian at a
 * random state, and back again (issue 10, per-step temperature). */
static void test_set_temperature_is_create_at_it(void) {
  nimc_device *d25 = NULL, *d80 = NULL;
  nimc_err err;
  CHECK(nimc_device_load(&d25, "devices/nimc-stack.ini", NULL, 0, &err) ==
        NIMC_OK);
  CHECK(nimc_device_load(&d80, "devices/nimc-stack.ini", NULL, 0, &err) ==
        NIMC_OK);
  if (!d25 || !d80) return;
  CHECK(nimc_device_set_temperature(d80, 353.15, &err) == NIMC_OK);
  nimc_model *m[3] = {NULL, NULL, NULL}; /* 25 -> 80 -> 25, 80, 25 */
  const nimc_device *dv[3] = {d25, d80, d25};
  for (int k = 0; k < 3; k++) {
    nimc_mesh *mesh = NULL;
    CHECK(nimc_mesh_stack(&mesh, dv[k], NULL) == NIMC_OK);
    CHECK(nimc_model_create(&m[k], dv[k], mesh, NULL) == NIMC_OK);
  }
  if (!m[0] || !m[1] || !m[2]) goto done;
  CHECK(m[0]->tern && m[0]->el[1].nmp > 0); /* what the test exercises */
  int64_t n = m[0]->n, nnz = m[0]->nnz;
  double *y = malloc(sizeof(double) * (size_t)n);
  double *yp = malloc(sizeof(double) * (size_t)n);
  double *F[2], *J[2];
  for (int k = 0; k < 2; k++) {
    F[k] = malloc(sizeof(double) * (size_t)n);
    J[k] = malloc(sizeof(double) * (size_t)nnz);
  }
  jac_random_state(m[0], 7u, y, yp);
  double taump25 = m[0]->el[1].taump_s, mob25 = m[0]->mobility;
  CHECK(nimc_model_set_temperature(m[0], 353.15) == NIMC_OK);
  CHECK(m[0]->T_K == 353.15);
  CHECK(m[0]->el[1].taump_s == m[1]->el[1].taump_s);
  CHECK(m[0]->mobility == m[1]->mobility);
  CHECK(m[0]->el[1].taump_s < 0.5 * taump25); /* the gel conducts better */
  CHECK(m[0]->mobility != mob25);
  for (int e = 0; e < 2; e++)
    CHECK(m[0]->el[e].pzc == m[1]->el[e].pzc);
  nimc_model_eval(m[0], 0.0, y, yp, F[0], 10.0, J[0]);
  nimc_model_eval(m[1], 0.0, y, yp, F[1], 10.0, J[1]);
  CHECK(!memcmp(F[0], F[1], sizeof(double) * (size_t)n));
  CHECK(!memcmp(J[0], J[1], sizeof(double) * (size_t)nnz));
  /* back at 25 degC: the model created at 25 degC, and not the one at 80 */
  CHECK(nimc_model_set_temperature(m[0], 298.15) == NIMC_OK);
  nimc_model_eval(m[0], 0.0, y, yp, F[0], 10.0, J[0]);
  nimc_model_eval(m[2], 0.0, y, yp, F[1], 10.0, J[1]);
  CHECK(!memcmp(F[0], F[1], sizeof(double) * (size_t)n));
  CHECK(!memcmp(J[0], J[1], sizeof(double) * (size_t)nnz));
  nimc_model_eval(m[1], 0.0, y, yp, F[1], 10.0, J[1]);
  CHECK(memcmp(F[0], F[1], sizeof(double) * (size_t)n) != 0);
  CHECK(m[0]->el[1].taump_s == taump25 && m[0]->mobility == mob25);
  /* not a temperature: refused, the model unchanged */
  CHECK(nimc_model_set_temperature(m[0], -5.0) == NIMC_EINPUT);
  CHECK(nimc_model_set_temperature(m[0], NAN) == NIMC_EINPUT);
  CHECK(nimc_model_set_temperature(NULL, 300.0) == NIMC_EINPUT);
  CHECK(m[0]->T_K == 298.15);
  free(y), free(yp);
  for (int k = 0; k < 2; k++)
    free(F[k]), free(J[k]);
done:
  for (int k = 0; k < 3; k++)
    nimc_model_destroy(m[k]);
  nimc_device_destroy(d25);
  nimc_device_destroy(d80);
}

static void test_mesh_convergence_order(void) {
  double v[4];
  int n[4] = {5, 10, 20, 40};
  for (int k = 0; k < 4; k++)
    v[k] = fast_charge_voltage(n[k]);
  double p1 = log2(fabs(v[0] - v[1]) / fabs(v[1] - v[2]));
  double p2 = log2(fabs(v[1] - v[2]) / fabs(v[2] - v[3]));
  fprintf(stderr, "  V = %.9f %.9f %.9f %.9f; observed order %.2f, %.2f\n",
          v[0], v[1], v[2], v[3], p1, p2);
  CHECK(p2 > 1.8 && p2 < 2.3);
  CHECK(fabs(v[2] - v[3]) < 1e-3); /* the changes are small and shrinking */
}

int main(void) {
  RUN(test_jacobian_matches_finite_differences);
  RUN(test_discrete_conservation_identity);
  RUN(test_control_interface);
  RUN(test_set_temperature_is_create_at_it);
  RUN(test_edlc_is_an_ideal_capacitor);
  RUN(test_cycle_conservation);
  RUN(test_initial_voltage_conserves_charge);
  RUN(test_slow_branch_relaxation);
  RUN(test_ocp_recovered_at_low_rate);
  RUN(test_mesh_convergence_order);
  return TEST_REPORT();
}
