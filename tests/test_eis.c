/*
 * test_eis.c -- the linearised impedance of the model, specified by what
 * it must reproduce:
 *  - the complex sparse solver solves a known system, and reports its
 *    backward error;
 *  - an ideal double-layer capacitor with a series resistance (stack,
 *    capacitive electrodes, fast transport): Z = R + 1/(j w C);
 *  - capacitive porous electrodes with a uniform electrolyte resistance:
 *    de Levie's transmission line Z = sqrt(R/(j w C)) coth(sqrt(j w R C)),
 *    with its 45-degree region;
 *  - an intercalation electrode with fast kinetics and slow diffusion in
 *    slab particles: the finite-space Warburg impedance of the particle,
 *    (-dU/dc) R_p coth(s) / (F D s), s = R_p sqrt(j w / D), in series with
 *    the charge-transfer resistance, inside the porous electrode's
 *    transmission line;
 * each from 1 MHz to 1 mHz within 1e-3 relative; and that a hold reaches a
 * steady operating point whose impedance does not depend on the history.
 * The analytic answers are written here from the device's parameters,
 * never read back from the model.
 */
#include <complex.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/constants.h"
#include "model/model.h"
#include "model_fixtures.h"
#include "nimc/nimc.h"
#include "protocol/sim.h"
#include "solver/zsolve.h"
#include "testlib.h"

typedef double complex cplx;

/* coth(x) for complex x, stable for large Re x. */
static cplx ccoth(cplx x) {
  return 1.0 / ctanh(x);
}

/* The transmission line of a porous electrode (Newman and Tiedemann; the
 * form of Paasch et al.): ionic resistance Rion and electronic resistance
 * Rel across the electrode (ohm), interface impedance z of the whole
 * electrode (ohm); current enters the electrolyte at one face and the
 * solid at the other.  With nu = sqrt((Rion + Rel) / z):
 *   Z = Rion Rel / (Rion + Rel) [1 + (2 + (Rion/Rel + Rel/Rion) cosh nu)
 *                                     / (nu sinh nu)];
 * for Rel -> 0 it is de Levie's sqrt(Rion z) coth(sqrt(Rion / z)). */
static cplx tlm(double Rion, double Rel, cplx z) {
  if (Rel == 0.0) return csqrt(Rion * z) * ccoth(csqrt(Rion / z));
  cplx nu = csqrt((Rion + Rel) / z);
  double s = Rion / Rel + Rel / Rion;
  /* cosh/(nu sinh) = coth/nu; 1/(nu sinh) = 2 e^-nu / (nu (1 - e^-2nu)) */
  cplx e = cexp(-nu);
  cplx a = 2.0 * 2.0 * e / (nu * (1.0 - e * e)) + s * ccoth(nu) / nu;
  return Rion * Rel / (Rion + Rel) * (1.0 + a);
}

/* The frequencies of the analytic checks: 1 MHz to 1 mHz, 10 a decade,
 * 91 in all. */
static double *freqs(size_t *n) {
  double *f;
  nimc_err err;
  if (nimc_freq_logspace(1e6, 1e-3, 10, &f, n, &err)) abort();
  return f;
}

/* Impedance of device d at its initial state; 0 on success. */
static int spectrum(const nimc_device *d, const double *f, size_t n,
                    nimc_spectrum *s, nimc_eis_info *info) {
  nimc_sim *sim;
  nimc_err err;
  nimc_sim_opts o = nimc_sim_opts_default();
  if (nimc_sim_create(&sim, d, &o, &err)) {
    fprintf(stderr, "  create: %s\n", err.msg);
    return -1;
  }
  int rc = nimc_sim_impedance(sim, f, n, s, info);
  if (rc) fprintf(stderr, "  impedance: %s\n", nimc_sim_errmsg(sim));
  nimc_sim_destroy(sim);
  return rc;
}

/* Worst relative error |Z - Zexact| / |Zexact| over the spectrum. */
static double worst_error(const nimc_spectrum *s, const cplx *zx,
                          double *at_Hz) {
  double worst = 0.0;
  for (size_t k = 0; k < s->n; k++) {
    cplx z = s->z_re_ohm[k] + I * s->z_im_ohm[k];
    double e = cabs(z - zx[k]) / cabs(zx[k]);
    if (!(e <= worst)) worst = e, *at_Hz = s->freq_Hz[k];
  }
  return worst;
}

/* ---- the complex solver ---- */

static void test_zsolver_known_system(void) {
  /* A = [[2+j w, 1], [1, 3]] by rows, b = [1, j]; x = A^-1 b */
  int64_t rp[] = {0, 2, 4}, ci[] = {0, 1, 0, 1};
  double G[] = {2, 1, 1, 3}, C[] = {1, 0, 0, 0};
  double b[] = {1, 0, 0, 1}, x[4];
  nimc_zsolver *z;
  nimc_err err;
  CHECK(nimc_zsolver_create(&z, 2, rp, ci, NULL, NULL, NULL, 0, &err) == NIMC_OK);
  for (double w = 0.5; w < 100; w *= 7) {
    CHECK(nimc_zsolver_solve(z, G, C, w, b, x, -1, &err) == NIMC_OK);
    cplx a11 = 2 + I * w, det = a11 * 3 - 1;
    cplx x0 = (3 * 1 - 1 * I) / det, x1 = (a11 * I - 1) / det;
    CHECK_ABS(cabs(x[0] + I * x[1] - x0), 0, 1e-14);
    CHECK_ABS(cabs(x[2] + I * x[3] - x1), 0, 1e-14);
  }
  nimc_zsolver_stats st = nimc_zsolver_get_stats(z);
  CHECK(st.full_factorizations == 1); /* later frequencies refactor */
  CHECK(st.refactorizations == 2);
  CHECK(st.max_backward_error < 1e-15);
  /* a singular matrix is reported, not solved */
  double Gs[] = {1, 1, 1, 1}, Cs[] = {0, 0, 0, 0};
  nimc_zsolver_destroy(z);
  CHECK(nimc_zsolver_create(&z, 2, rp, ci, NULL, NULL, NULL, 0, &err) == NIMC_OK);
  CHECK(nimc_zsolver_solve(z, Gs, Cs, 1.0, b, x, -1, &err) == NIMC_ESOLVER);
  CHECK_CONTAINS(err.msg, "singular");
  nimc_zsolver_destroy(z);
}

/* ---- an ideal capacitor ---- */

/* Two equal constant capacitances with transport so fast that the pores
 * add 2e-4 of the series resistance: Z = R + 2 / (j w Ce) within 1e-3,
 * R = R_contact + R_sep + 2 (R_ion + R_el) / 3; and the transmission line
 * of each electrode, which the model discretises, within 2e-5. */
static void test_ideal_capacitor(void) {
  nimc_device d;
  const double kap = 100, sig = 1000, L = 10e-6, cap = 1e7;
  fx_device(&d, kap, 1e-6);
  d.electrolyte.thermo_factor = nimc_law_constant(0.0);
  fx_capacitive(&d.anode, L, cap, 0.0);
  fx_capacitive(&d.cathode, L, cap, 0.0);
  d.anode.conductivity_S_m = d.cathode.conductivity_S_m = sig;
  d.contact_resistance_ohm = 10.0;
  double A = d.area_m2, Ce = cap * L * A;
  double Rsep = d.separator.thickness_m / (kap * pow(0.6, 1.5) * A);
  double Rion = L / (kap * pow(0.5, 1.5) * A), Rel = L / (sig * A);
  double R = d.contact_resistance_ohm + Rsep + 2 * (Rion + Rel) / 3;
  size_t n;
  double *f = freqs(&n), at = 0, at2 = 0;
  nimc_spectrum s;
  nimc_eis_info info;
  CHECK(spectrum(&d, f, n, &s, &info) == 0);
  cplx *zx = malloc(n * sizeof *zx), *zt = malloc(n * sizeof *zt);
  for (size_t k = 0; k < n; k++) {
    double w = 2 * NIMC_PI * f[k];
    zx[k] = R + 2.0 / (I * w * Ce);
    zt[k] = d.contact_resistance_ohm + Rsep +
            2.0 * tlm(Rion, Rel, 1.0 / (I * w * Ce));
  }
  double e = s.n == n ? worst_error(&s, zx, &at) : 1.0;
  double e2 = s.n == n ? worst_error(&s, zt, &at2) : 1.0;
  fprintf(stderr,
          "  R + 1/(jwC): worst relative error %.2e at %g Hz (R = %.6g ohm, "
          "C = %.6g F); against the electrodes' transmission lines %.2e at "
          "%g Hz; %ld factorisations, %ld refactorisations, backward error "
          "%.1e\n",
          e, at, R, Ce / 2, e2, at2, info.full_factorizations,
          info.refactorizations, info.max_backward_error);
  CHECK(e < 1e-3);
  CHECK(e2 < 2e-5); /* the discretisation, 10 cells an electrode */
  free(zx), free(zt), free(f);
  nimc_spectrum_free(&s);
}

/* ---- de Levie's transmission line ---- */

/* Two equal capacitive porous electrodes with a finite, uniform
 * electrolyte conductivity, no concentration polarisation (thermodynamic
 * factor 0) and a solid 3e5 times as conductive: Z = R_sep + 2 Z_deLevie,
 * R C of each electrode 1.6e-4 s, so that w R C runs from 1e-6 at 1 mHz
 * to 1e3 at 1 MHz, deep into the 45-degree region. */
static void test_de_levie(void) {
  nimc_device d;
  const double kap = 1.0, L = 10e-6, cap = 5.6e5, sig = 1e5;
  fx_device(&d, kap, 1e-9);
  d.electrolyte.thermo_factor = nimc_law_constant(0.0);
  d.separator.thickness_m = 1e-6;
  fx_capacitive(&d.anode, L, cap, 0.0);
  fx_capacitive(&d.cathode, L, cap, 0.0);
  d.anode.conductivity_S_m = d.cathode.conductivity_S_m = sig;
  d.mesh.anode_cells = d.mesh.cathode_cells = 160;
  d.mesh.separator_cells = 4;
  d.mesh.grading = 8;
  double A = d.area_m2, Ce = cap * L * A;
  double Rion = L / (kap * pow(0.5, 1.5) * A), Rel = L / (sig * A);
  double Rsep = d.separator.thickness_m / (kap * pow(0.6, 1.5) * A);
  size_t n;
  double *f = freqs(&n), at = 0, at2 = 0;
  nimc_spectrum s;
  CHECK(spectrum(&d, f, n, &s, NULL) == 0);
  cplx *zx = malloc(n * sizeof *zx), *zt = malloc(n * sizeof *zt);
  double worst45 = 0, f45 = 0;
  for (size_t k = 0; k < n; k++) {
    double w = 2 * NIMC_PI * f[k];
    cplx zc = 1.0 / (I * w * Ce);
    zx[k] = Rsep + 2.0 * csqrt(Rion * zc) * ccoth(csqrt(Rion / zc));
    zt[k] = Rsep + 2.0 * tlm(Rion, Rel, zc);
    /* the 45-degree region: w R C from 30 to 1e3, seen in the model's
     * own impedance less the separator */
    double wrc = w * Rion * Ce;
    if (k < s.n && wrc > 30 && wrc < 1e4) {
      cplx zm = s.z_re_ohm[k] - Rsep + I * s.z_im_ohm[k];
      double ph = carg(zm) * 180 / NIMC_PI;
      if (fabs(ph + 45) > worst45) worst45 = fabs(ph + 45), f45 = f[k];
    }
  }
  double e = s.n == n ? worst_error(&s, zx, &at) : 1.0;
  double e2 = s.n == n ? worst_error(&s, zt, &at2) : 1.0;
  fprintf(stderr,
          "  de Levie (R C = %.3g s): worst relative error %.2e at %g Hz "
          "(%.2e at %g Hz with the solid's resistance); phase within %.3f "
          "deg of -45 for w R C > 30 (worst at %g Hz)\n",
          Rion * Ce, e, at, e2, at2, worst45, f45);
  CHECK(e < 1e-3);
  CHECK(e2 < 1e-3);
  CHECK(f45 > 0 && worst45 < 0.5);
  free(zx), free(zt), free(f);
  nimc_spectrum_free(&s);
}

/* ---- the finite-space Warburg of intercalation particles ---- */

/* An intercalation electrode (slab particles, a linear OCP, fast
 * Butler-Volmer kinetics, no double layer) against a large capacitive
 * counter electrode.  The particle's surface concentration answers an
 * inward flux N with dc_s = N (R_p / D) coth(s) / s, s = R_p sqrt(jw/D),
 * so the electrode's interface impedance is R_ct + Z_W with
 * Z_W = (-dU/dc) R_p coth(s) / (F D s a_total); the porous electrode and
 * the counter electrode are transmission lines in series. */
static void test_particle_warburg(void) {
  nimc_device d;
  const double kap = 100.0, La = 2e-6, Rp = 1e-6, Ds = 1e-14, th0 = 0.5;
  const double capc = 1e9, Lc = 20e-6, sig = 1e4, k0 = 1e-6;
  static const double ux[] = {0.0, 1.0}, uy[] = {1.5, 0.5};
  fx_device(&d, kap, 1e-9);
  d.electrolyte.thermo_factor = nimc_law_constant(0.0);
  d.separator.thickness_m = 5e-6;
  fx_intercalation(&d.anode, La, "nto_ocp", th0);
  /* a linear OCP, 1 V over the stoichiometry range: a table law */
  d.anode.ocp = nimc_law_constant(0.0);
  d.anode.ocp.kind = NIMC_LAW_TABLE;
  d.anode.ocp.x = malloc(sizeof ux), d.anode.ocp.y = malloc(sizeof uy);
  memcpy(d.anode.ocp.x, ux, sizeof ux), memcpy(d.anode.ocp.y, uy, sizeof uy);
  d.anode.ocp.n = 2, d.anode.ocp.scale = 1.0, d.anode.ocp.Tref_K = 298.15;
  CHECK(nimc_law_table_init(&d.anode.ocp, NULL) == NIMC_OK);
  d.anode.shape = NIMC_PARTICLE_SLAB;
  d.anode.particle_radius_m = Rp;
  d.anode.solid_diffusivity = nimc_law_constant(Ds);
  d.anode.rate_constant = nimc_law_constant(k0);
  d.anode.conductivity_S_m = sig;
  fx_capacitive(&d.cathode, Lc, capc, 1.0);
  d.cathode.conductivity_S_m = sig;
  d.mesh.anode_cells = d.mesh.cathode_cells = 40;
  d.mesh.separator_cells = 4;
  /* shells fine enough at the surface for 1 MHz (graded 1e4 : 1) */
  d.mesh.particle_shells = 160;
  d.mesh.particle_grading = 1e4;
  const nimc_electrode_params *p = &d.anode;
  double A = d.area_m2, T = d.temperature_K, fRT = NIMC_F / (NIMC_R * T);
  double cmax = p->c_max_mol_m3, dUdc = (uy[1] - uy[0]) / cmax;
  /* interfacial area of the electrode (slab: a = eps_s / R_p) and the
   * exchange current density of docs/model.md at c0, theta0 */
  double area = p->active_fraction / Rp * La * A;
  double i0 = NIMC_F * k0 * cmax *
              pow(d.electrolyte.c0_mol_m3 / p->c_ref_mol_m3, p->alpha_a) *
              pow(1 - th0, p->alpha_a) * pow(th0, p->alpha_c);
  double Rct = 1.0 / (i0 * fRT * (p->alpha_a + p->alpha_c) * area);
  double Z0 = -dUdc * Rp / (NIMC_F * Ds * area), tau = Rp * Rp / Ds;
  double Ria = La / (kap * pow(0.4, 1.5) * A), Rea = La / (sig * A);
  double Ric = Lc / (kap * pow(0.5, 1.5) * A), Rec = Lc / (sig * A);
  double Cc = capc * Lc * A;
  double Rsep = d.separator.thickness_m / (kap * pow(0.6, 1.5) * A);
  size_t n;
  double *f = freqs(&n), at = 0;
  nimc_spectrum s;
  CHECK(spectrum(&d, f, n, &s, NULL) == 0);
  cplx *zx = malloc(n * sizeof *zx);
  size_t dominated = 0;
  for (size_t k = 0; k < n; k++) {
    double w = 2 * NIMC_PI * f[k];
    cplx sq = csqrt(I * w * tau);
    cplx zw = Z0 * ccoth(sq) / sq;
    cplx za = Rct + zw, zc = 1.0 / (I * w * Cc);
    zx[k] = Rsep + tlm(Ria, Rea, za) + tlm(Ric, Rec, zc);
    if (cabs(zw) > 0.5 * cabs(zx[k])) dominated++;
  }
  double e = s.n == n ? worst_error(&s, zx, &at) : 1.0;
  fprintf(stderr,
          "  particle Warburg (Z0 = %.4g ohm, tau = %g s, Rct = %.3g ohm, "
          "series %.3g ohm): worst relative error %.2e at %g Hz; the Warburg "
          "is over half of |Z| at %zu of %zu frequencies\n",
          Z0, tau, Rct, Rsep + Ria / 3, e, at, dominated, n);
  CHECK(e < 1e-3);
  CHECK(dominated > n / 2);
  free(zx), free(f);
  nimc_spectrum_free(&s);
  nimc_law_clear(&d.anode.ocp);
}

/* ---- the micropores' transmission line ---- */

/* A capacitive electrode whose capacitance sits 90 % in micropores (a
 * transmission line across slab particles, tau = R^2 Cm / kappa_pore)
 * against a counter electrode of huge capacitance, with fast transport
 * elsewhere.  A shell charge obeys q' = q''/tau with q(1) = Cm E_s and no
 * flux at the centre, so the micropores admit, per electrode volume,
 *   Y = j w Cm tanh(k)/k,  k = sqrt(j w tau),
 * in parallel with the fast part's j w Cf; the porous electrodes are
 * transmission lines in series, as above. */
static void test_micropore_line(void) {
  nimc_device d;
  const double kap = 10.0, La = 4e-6, cap = 2e7, frac = 0.9, tau = 10.0;
  const double capc = 1e9, Lc = 20e-6, sig = 1e5;
  fx_device(&d, kap, 1e-9);
  d.electrolyte.thermo_factor = nimc_law_constant(0.0);
  d.separator.thickness_m = 2e-6;
  fx_capacitive(&d.anode, La, cap, 0.0);
  d.anode.mp_fraction = frac;
  d.anode.mp_tau_s = tau;
  d.anode.mp_Tref_K = d.temperature_K;
  fx_capacitive(&d.cathode, Lc, capc, 0.0);
  d.anode.conductivity_S_m = d.cathode.conductivity_S_m = sig;
  d.mesh.anode_cells = d.mesh.cathode_cells = 160;
  d.mesh.separator_cells = 4;
  d.mesh.grading = 8;
  d.mesh.micropore_shells = 80;
  double A = d.area_m2, Va = La * A, Cm = frac * cap, Cf = (1 - frac) * cap;
  double Ria = La / (kap * pow(0.5, 1.5) * A), Rea = La / (sig * A);
  double Ric = Lc / (kap * pow(0.5, 1.5) * A), Rec = Lc / (sig * A);
  double Rsep = d.separator.thickness_m / (kap * pow(0.6, 1.5) * A);
  size_t n;
  double *f = freqs(&n), at = 0;
  nimc_spectrum s;
  CHECK(spectrum(&d, f, n, &s, NULL) == 0);
  cplx *zx = malloc(n * sizeof *zx);
  size_t matter = 0;
  for (size_t k = 0; k < n; k++) {
    double w = 2 * NIMC_PI * f[k];
    cplx kk = csqrt(I * w * tau);
    cplx ym = I * w * Cm * ctanh(kk) / kk, yf = I * w * Cf;
    cplx za = 1.0 / (Va * (ym + yf)), zc = 1.0 / (I * w * capc * Lc * A);
    zx[k] = Rsep + tlm(Ria, Rea, za) + tlm(Ric, Rec, zc);
    if (cabs(ym) > cabs(yf)) matter++;
  }
  /* where the shells resolve the penetration depth 1/|k| of the particle
   * (|k| <= 20: below 6.4 Hz, where the micropores carry the current)
   * the line is the analytic one; above, the 80 shells' error is at most
   * 1 % of |Z| (the fast part carries it there) */
  double e = 0.0, ehigh = 0.0, athigh = 0;
  for (size_t k = 0; k < n && s.n == n; k++) {
    cplx z = s.z_re_ohm[k] + I * s.z_im_ohm[k];
    double ek = cabs(z - zx[k]) / cabs(zx[k]);
    double kk = sqrt(2 * NIMC_PI * f[k] * tau);
    if (kk <= 20.0 && ek > e) e = ek, at = f[k];
    if (kk > 20.0 && ek > ehigh) ehigh = ek, athigh = f[k];
  }
  if (s.n != n) e = ehigh = 1.0;
  fprintf(stderr,
          "  micropores (tau = %g s, 90 %% of C, 80 shells): worst relative "
          "error %.2e at %g Hz where |k| <= 20 (%.2e at %g Hz above); they "
          "carry most of the current at %zu of %zu frequencies\n",
          tau, e, at, ehigh, athigh, matter, n);
  CHECK(e < 1e-3);
  CHECK(ehigh < 1.5e-2);
  CHECK(matter > n / 3);
  free(zx), free(f);
  nimc_spectrum_free(&s);
}

/* ---- shipped devices ---- */

static const char *const shipped[] = {"nimc.ini", "nimc-covered.ini",
                                      "ag-ag-msc.ini", "nimc-stack.ini",
                                      "dualfoil-li-ion.ini"};

/* Load devices/NAME; NULL (and a failed check) when it cannot. */
static nimc_device *load(const char *name) {
  char path[512];
  nimc_err err;
  nimc_device *d = NULL;
  snprintf(path, sizeof path, "%s/devices/%s", NIMC_SOURCE_DIR, name);
  if (nimc_device_load(&d, path, NULL, 0, &err)) {
    fprintf(stderr, "  %s\n", err.msg);
    CHECK(0);
  }
  return d;
}

/* The spectrum of every shipped device (100 kHz to 10 mHz, 10 a decade,
 * at its initial state) is Kramers-Kronig consistent: Lin-KK residuals
 * below 0.5 %. */
static void test_shipped_spectra_pass_linkk(void) {
  double *f;
  size_t n;
  nimc_err err;
  CHECK(nimc_freq_logspace(1e5, 1e-2, 10, &f, &n, &err) == NIMC_OK);
  CHECK(n == 71);
  for (size_t d = 0; d < sizeof shipped / sizeof shipped[0]; d++) {
    nimc_device *dev = load(shipped[d]);
    if (!dev) continue;
    nimc_spectrum s;
    nimc_eis_info info;
    nimc_linkk kk;
    int ok = spectrum(dev, f, n, &s, &info) == 0;
    CHECK(ok);
    if (ok) {
      nimc_linkk_opts o = nimc_linkk_opts_default();
      CHECK(nimc_spectrum_linkk(&s, &o, &kk, &err) == NIMC_OK);
      fprintf(stderr,
              "  %-20s Lin-KK M = %2d, mu = %.3f, max residual %.2e, rms "
              "%.2e; Z from %.4g to %.4g ohm; worst refinement correction "
              "%.1e\n",
              shipped[d], kk.M, kk.mu, kk.max_residual, kk.rms_residual,
              hypot(s.z_re_ohm[0], s.z_im_ohm[0]),
              hypot(s.z_re_ohm[n - 1], s.z_im_ohm[n - 1]), info.max_correction);
      CHECK(kk.mu >= o.c); /* a fit mu accepts */
      CHECK(kk.max_residual < 5e-3);
      nimc_linkk_free(&kk);
      nimc_spectrum_free(&s);
    }
    nimc_device_destroy(dev);
  }
  free(f);
}

/* Lock-in impedance of a sine step run on sim: the last `keep` of
 * `periods` periods; 0 on success. */
static int sine_impedance(nimc_sim *sim, const char *step, double freq,
                          int periods, int keep, double *re, double *im) {
  nimc_experiment *exp = NULL;
  nimc_result res;
  nimc_err err;
  memset(&res, 0, sizeof res);
  const char *lines[1] = {step};
  int rc = nimc_experiment_parse(&exp, lines, 1, &err);
  if (rc) fprintf(stderr, "  %s\n", err.msg);
  double t0 = nimc_sim_time(sim);
  if (!rc && (rc = nimc_sim_run(sim, exp, &res)))
    fprintf(stderr, "  %s\n", nimc_sim_errmsg(sim));
  double t1 = t0 + periods / freq;
  if (!rc &&
      (rc = nimc_series_impedance(&res.series, freq, t1 - keep / freq, t1, re,
                                  im, &err)))
    fprintf(stderr, "  %s\n", err.msg);
  nimc_result_free(&res);
  nimc_experiment_destroy(exp);
  return rc;
}

/* The linearisation against the full nonlinear model in the time domain:
 * a 5 mV sine applied with the step `nimc run` executes ("Sine 5 mV at f
 * around ..."), its impedance read by a lock-in over the last periods,
 * equals nimc_sim_impedance within 1 % at three frequencies -- on the 2D
 * NIMC at its initial state, and on the stack held at 1.5 V. */
static void test_linearisation_matches_time_domain(void) {
  static const double freqs3[] = {1e3, 10.0, 0.1};
  for (int dv = 0; dv < 2; dv++) {
    nimc_device *dev = load(dv ? "nimc-stack.ini" : "nimc.ini");
    if (!dev) continue;
    for (int k = 0; k < 3; k++) {
      double fr = freqs3[k];
      nimc_sim_opts o = nimc_sim_opts_default();
      o.output_dt_s = 1.0 / (64 * fr); /* even samples for the lock-in */
      nimc_sim *sim;
      nimc_err err;
      if (nimc_sim_create(&sim, dev, &o, &err)) {
        fprintf(stderr, "  %s\n", err.msg);
        CHECK(0);
        continue;
      }
      if (dv) CHECK(nimc_sim_settle(sim, 1.5, 1e3, 1e-4, 1e8, NULL) == 0);
      nimc_spectrum s;
      CHECK(nimc_sim_impedance(sim, &fr, 1, &s, NULL) == NIMC_OK);
      char step[128];
      snprintf(step, sizeof step, "Sine 5 mV at %g Hz for %g s", fr, 12 / fr);
      double re = NAN, im = NAN;
      CHECK(sine_impedance(sim, step, fr, 12, 4, &re, &im) == 0);
      double e = hypot(re - s.z_re_ohm[0], im - s.z_im_ohm[0]) /
                 hypot(s.z_re_ohm[0], s.z_im_ohm[0]);
      fprintf(stderr,
              "  %s at %g Hz: linearised %.6g %+.6gj, time domain %.6g "
              "%+.6gj ohm: relative difference %.2e\n",
              dv ? "stack at 1.5 V" : "2D NIMC", fr, s.z_re_ohm[0],
              s.z_im_ohm[0], re, im, e);
      CHECK(e < 1e-2);
      nimc_spectrum_free(&s);
      nimc_sim_destroy(sim);
    }
    nimc_device_destroy(dev);
  }
}

/* A hold reaches a steady operating point whose impedance does not depend
 * on how the device got there: straight from the initial state, or after
 * a charge past it. */
static void test_settled_operating_point(void) {
  nimc_device *dev = load("nimc-stack.ini");
  if (!dev) return;
  static const double fr[] = {1e3, 1.0, 1e-2};
  nimc_spectrum s[2];
  for (int h = 0; h < 2; h++) {
    nimc_sim *sim;
    nimc_err err;
    double ts = 0;
    memset(&s[h], 0, sizeof s[h]);
    if (nimc_sim_create(&sim, dev, NULL, &err)) {
      CHECK(0);
      continue;
    }
    if (h) {
      /* a different history: charged to 2.5 V first */
      nimc_experiment *exp = NULL;
      nimc_result res;
      memset(&res, 0, sizeof res);
      const char *lines[1] = {"Charge at 0.2 mA/cm2 until 2.5 V"};
      CHECK(nimc_experiment_parse(&exp, lines, 1, &err) == NIMC_OK);
      CHECK(nimc_sim_run(sim, exp, &res) == NIMC_OK);
      nimc_result_free(&res);
      nimc_experiment_destroy(exp);
    }
    CHECK(nimc_sim_settle(sim, 1.5, 1.0 / (2 * NIMC_PI * 1e-2), 1e-4, 1e9,
                          &ts) == NIMC_OK);
    CHECK(nimc_sim_drift(sim, 1.0 / (2 * NIMC_PI * 1e-2), 1e-4) <= 1.0);
    CHECK(nimc_sim_impedance(sim, fr, 3, &s[h], NULL) == NIMC_OK);
    fprintf(stderr, "  history %d: steady at 1.5 V after %.4g s\n", h, ts);
    nimc_sim_destroy(sim);
  }
  for (int k = 0; k < 3 && s[0].n == 3 && s[1].n == 3; k++) {
    double e = hypot(s[0].z_re_ohm[k] - s[1].z_re_ohm[k],
                     s[0].z_im_ohm[k] - s[1].z_im_ohm[k]) /
               hypot(s[0].z_re_ohm[k], s[0].z_im_ohm[k]);
    fprintf(stderr, "  %g Hz: %.6g %+.6gj and %.6g %+.6gj: %.1e\n", fr[k],
            s[0].z_re_ohm[k], s[0].z_im_ohm[k], s[1].z_re_ohm[k],
            s[1].z_im_ohm[k], e);
    CHECK(e < 1e-3);
  }
  nimc_spectrum_free(&s[0]);
  nimc_spectrum_free(&s[1]);
  /* at rest: a device without leakage stays steady; one with leakage
   * (every term, below) does not */
  {
    nimc_sim *r;
    nimc_err e2;
    if (nimc_sim_create(&r, dev, NULL, &e2) == NIMC_OK) {
      CHECK(nimc_sim_at_rest(r) == NIMC_OK);
      CHECK(nimc_sim_drift(r, 100.0, 1e-4) <= 1.0);
      nimc_sim_destroy(r);
    }
    nimc_device lk;
    fx_full_device(&lk);
    lk.cathode.leak_A_m3 = 1e5; /* a strong leak at the initial state */
    lk.cathode.leak_E_V = 2.8;
    if (nimc_sim_create(&r, &lk, NULL, &e2) == NIMC_OK) {
      CHECK(nimc_sim_drift(r, 100.0, 1e-4) == 0.0); /* y' = 0 as created */
      CHECK(nimc_sim_at_rest(r) == NIMC_OK);
      double dr = nimc_sim_drift(r, 100.0, 1e-4);
      fprintf(stderr, "  a leaking device at rest drifts %.3g times the "
                      "tolerance over 100 s\n", dr);
      CHECK(dr > 1.0);
      nimc_sim_destroy(r);
    }
    fx_free_device(&lk);
  }
  /* a hold that cannot become steady in the time it is given says so */
  nimc_sim *sim;
  nimc_err err;
  if (nimc_sim_create(&sim, dev, NULL, &err) == NIMC_OK) {
    CHECK(nimc_sim_settle(sim, 1.5, 100.0, 1e-4, 1.0, NULL) == NIMC_ESOLVER);
    CHECK_CONTAINS(nimc_sim_errmsg(sim), "not steady after 1 s");
    double f0 = -1.0;
    nimc_spectrum bad;
    CHECK(nimc_sim_impedance(sim, &f0, 1, &bad, NULL) == NIMC_EINPUT);
    nimc_sim_destroy(sim);
  }
  nimc_device_destroy(dev);
}

/* Every term of the model at once (model_fixtures.h: an intercalation
 * anode with a double layer, a V-shaped capacitor with counter-ion
 * exchange, a slow branch and Tafel leakage, concentration-dependent
 * electrolyte properties, a contact resistance), and the same with a
 * hybrid anode (intercalation and a double-layer capacitance): held at
 * 0.6 V until steady (the leakage keeps a current flowing), then the
 * linearisation against a 5 mV sine in the time domain at three
 * frequencies, and Lin-KK on the spectrum. */
static void test_every_term(void) {
  static const double fr[] = {100.0, 1.0, 0.05};
  for (int hybrid = 0; hybrid < 2; hybrid++) {
    nimc_device d;
    fx_full_device(&d);
    d.cathode.leak_A_m3 = 1.0; /* a leak the source holds up at 0.6 V */
    d.cathode.leak_E_V = 1.0;
    if (hybrid) {
      d.anode.kind = NIMC_ELECTRODE_HYBRID;
      d.anode.cap_F_m3 = 2e7;
      d.anode.E_pzc_V = 1.0;
      d.anode.dl_cation_fraction = 0.5;
    }
    nimc_sim_opts o = nimc_sim_opts_default();
    o.rtol = 1e-8;
    nimc_sim *sim;
    nimc_err err;
    if (nimc_sim_create(&sim, &d, &o, &err)) {
      fprintf(stderr, "  %s\n", err.msg);
      CHECK(0);
      fx_free_device(&d);
      continue;
    }
    CHECK(nimc_sim_settle(sim, 0.6, 100.0, 1e-5, 1e9, NULL) == NIMC_OK);
    nimc_spectrum s;
    nimc_eis_info info;
    CHECK(nimc_sim_impedance(sim, fr, 3, &s, &info) == NIMC_OK);
    fprintf(stderr, "  %s: steady at %.4g V with %.3g A of leakage\n",
            hybrid ? "hybrid anode" : "every term", info.voltage_V,
            info.current_A);
    CHECK(info.current_A > 0.0); /* the leak is held up by the source */
    for (int k = 0; k < 3 && s.n == 3; k++) {
      char step[128];
      double re = NAN, im = NAN;
      snprintf(step, sizeof step, "Sine 5 mV at %g Hz for %g s", fr[k],
               12 / fr[k]);
      /* each sine from the same steady state: a fresh simulation */
      nimc_sim *ts;
      nimc_sim_opts to = o;
      to.output_dt_s = 1.0 / (64 * fr[k]);
      if (nimc_sim_create(&ts, &d, &to, &err) ||
          nimc_sim_settle(ts, 0.6, 100.0, 1e-5, 1e9, NULL)) {
        CHECK(0);
        continue;
      }
      CHECK(sine_impedance(ts, step, fr[k], 12, 4, &re, &im) == 0);
      double e = hypot(re - s.z_re_ohm[k], im - s.z_im_ohm[k]) /
                 hypot(s.z_re_ohm[k], s.z_im_ohm[k]);
      fprintf(stderr,
              "    %g Hz: linearised %.6g %+.6gj, time domain %.6g %+.6gj: "
              "%.2e\n",
              fr[k], s.z_re_ohm[k], s.z_im_ohm[k], re, im, e);
      CHECK(e < 1e-2);
      nimc_sim_destroy(ts);
    }
    nimc_spectrum_free(&s);
    double *f;
    size_t n;
    nimc_linkk kk;
    CHECK(nimc_freq_logspace(1e4, 1e-2, 10, &f, &n, &err) == NIMC_OK);
    CHECK(nimc_sim_impedance(sim, f, n, &s, NULL) == NIMC_OK);
    CHECK(nimc_spectrum_linkk(&s, NULL, &kk, &err) == NIMC_OK);
    fprintf(stderr, "    Lin-KK: M = %d, max residual %.2e\n", kk.M,
            kk.max_residual);
    CHECK(kk.max_residual < 5e-3);
    nimc_linkk_free(&kk);
    nimc_spectrum_free(&s);
    free(f);
    nimc_sim_destroy(sim);
    fx_free_device(&d);
  }
}

int main(void) {
  RUN(test_zsolver_known_system);
  RUN(test_ideal_capacitor);
  RUN(test_de_levie);
  RUN(test_particle_warburg);
  RUN(test_micropore_line);
  RUN(test_shipped_spectra_pass_linkk);
  RUN(test_linearisation_matches_time_domain);
  RUN(test_settled_operating_point);
  RUN(test_every_term);
  return TEST_REPORT();
}
