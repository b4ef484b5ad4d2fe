/*
 * test_device.c -- the device-file loader (src/io/device.c): the shipped
 * device read into SI, --set overrides, and every kind of bad input
 * answered with NIMC_EINPUT (NIMC_EIO for a device file that cannot be
 * opened), no device, and a message naming file, line and key.
 *
 * Bad inputs are made from one small valid fixture (written into a fresh
 * temporary directory) by replacing one piece of text in one of its files;
 * the expected "file:line:" is the line where the replacement put the
 * offending text.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/params.h"
#include "core/constants.h"
#include "io/device_keys.h"
#include "testlib.h"

/* ---- fixtures ---- */

static const char *const fixture_names[] = {"dev.ini",
                                            "idg.ini",
                                            "materials/nto.ini",
                                            "materials/ag.ini",
                                            "materials/ionogel.ini",
                                            "materials/ocp.csv",
                                            "materials/bad.csv",
                                            "materials/dec.csv",
                                            "materials/one.csv",
                                            NULL};

static const char *const fixture_texts[] = {
    "; test device\n"
    "[device]\n"
    "name = test\n"
    "geometry = stack\n"
    "area = 1 cm2\n"
    "\n"
    "[anode]\n"
    "material = materials/nto.ini\n"
    "thickness = 5 um\n"
    "porosity = 0.45 ; inline comment\n"
    "active_fraction = 0.42\n"
    "particle_radius = 4 nm\n"
    "particle_shape = slab\n"
    "initial_stoichiometry = 0.01\n"
    "conductivity = 200 S/cm\n"
    "\n"
    "[separator]\n"
    "thickness = 30 um\n"
    "porosity = 0.8\n"
    "\n"
    "[cathode]\n"
    "material = materials/ag.ini\n"
    "thickness = 10 um\n"
    "porosity = 0.75\n"
    "conductivity = 100 S/cm\n"
    "active_density = 0.36 g/cm3\n"
    "\n"
    "[electrolyte]\n"
    "material = materials/ionogel.ini\n"
    "\n"
    "[mesh]\n"
    "anode_cells = 20\n",

    "; test in-plane device: only what is required, and a disabled cover\n"
    "[device]\n"
    "name = idg\n"
    "geometry = interdigitated\n"
    "\n"
    "[geometry]\n"
    "fingers_per_electrode = 4\n"
    "finger_length = 14 mm\n"
    "finger_width = 1 mm\n"
    "gap = 0.5 mm\n"
    "gel_thickness = 300 um\n"
    "\n"
    "[cover]\n"
    "enabled = false\n"
    "\n"
    "[anode]\n"
    "material = materials/nto.ini\n"
    "thickness = 5 um\n"
    "porosity = 0.45\n"
    "active_fraction = 0.42\n"
    "particle_radius = 4 nm\n"
    "initial_stoichiometry = 0.01\n"
    "conductivity = 200 S/cm\n"
    "\n"
    "[cathode]\n"
    "material = materials/ag.ini\n"
    "thickness = 10 um\n"
    "porosity = 0.75\n"
    "conductivity = 100 S/cm\n"
    "active_density = 0.36 g/cm3\n"
    "\n"
    "[electrolyte]\n"
    "material = materials/ionogel.ini\n"
    "\n"
    "[mesh]\n"
    "gap_cells_x = 8\n",

    "[material]\n"
    "kind = intercalation\n"
    "max_concentration = 22770 mol/m3\n"
    "ocp = table:ocp.csv\n"
    "diffusivity = 1e-17 m2/s\n"
    "rate_constant = 1e-11 m/s\n"
    "rate_constant_activation_energy = 37 kJ/mol\n",

    "[material]\n"
    "kind = capacitive\n"
    "specific_capacitance = 100 F/g\n"
    "pzc = 2.9 V\n",

    "[material]\n"
    "kind = electrolyte\n"
    "concentration = 886 mol/m3\n"
    "conductivity = 0.5 mS/cm\n"
    "conductivity_vtf_B = 785 K\n"
    "conductivity_vtf_T0 = 165 K\n"
    "diffusivity = 3e-12 m2/s\n"
    "transference_number = 0.1\n",

    "# open-circuit potential, SI\n"
    "theta,U\n"
    "0.0, 1.0\n"
    "\n"
    "0.5, 0.3  # the plateau\n"
    "1.0, 0.0\n",

    "x,y\n0,1\n0.5,0.3\n1.0,abc\n",
    "x,y\n0,1\n0,0.3\n1,0\n",
    "0.5,1\n",
    NULL};

/* Write the fixture into dir, with the first `find` in file `which`
 * replaced by `repl` (which NULL: unchanged).  Returns the line of `at` in
 * the edited file (0 when at is NULL or absent). */
static int write_fixture(const char *dir, const char *which, const char *find,
                         const char *repl, const char *at) {
  char path[512], text[4096];
  int line = 0;
  snprintf(path, sizeof path, "%s/materials", dir);
  mkdir(path, 0700);
  for (int i = 0; fixture_names[i]; i++) {
    const char *src = fixture_texts[i];
    snprintf(text, sizeof text, "%s", src);
    if (which && !strcmp(which, fixture_names[i])) {
      const char *hit = strstr(src, find);
      if (!hit) CHECK(hit != NULL);
      if (hit)
        snprintf(text, sizeof text, "%.*s%s%s", (int)(hit - src), src, repl,
                 hit + strlen(find));
      const char *a = at ? strstr(text, at) : NULL;
      if (a) {
        line = 1;
        for (const char *c = text; c < a; c++)
          line += *c == '\n';
      }
    }
    snprintf(path, sizeof path, "%s/%s", dir, fixture_names[i]);
    FILE *fp = fopen(path, "w");
    if (!fp) {
      CHECK(fp != NULL);
      continue;
    }
    fputs(text, fp);
    fclose(fp);
  }
  return line;
}

/* Remove the fixture from dir (dir itself stays). */
static void remove_fixture(const char *dir) {
  char path[512];
  for (int i = 0; fixture_names[i]; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, fixture_names[i]);
    remove(path);
  }
  snprintf(path, sizeof path, "%s/materials", dir);
  rmdir(path);
}

static char tmp[64];

static const char *fixture_dir(void) {
  if (!tmp[0]) {
    snprintf(tmp, sizeof tmp, "/tmp/nimc_test_device_XXXXXX");
    if (!mkdtemp(tmp)) tmp[0] = '\0';
  }
  return tmp;
}

/* ---- the shipped device ---- */

static void test_shipped_device(void) {
  nimc_device *d = NULL;
  nimc_err err;
  int rc = nimc_device_load(&d, "devices/nimc-stack.ini", NULL, 0, &err);
  CHECK(rc == NIMC_OK);
  if (rc) {
    fprintf(stderr, "  %s\n", err.msg);
    return;
  }
  CHECK(!strcmp(nimc_device_name(d), "NTO//AG stack"));
  CHECK(!strcmp(nimc_device_path(d), "devices/nimc-stack.ini"));
  CHECK(d->geometry == NIMC_GEOMETRY_STACK);
  CHECK_REL(nimc_device_footprint_area_m2(d), 5.6e-5, 1e-12);
  CHECK_REL(nimc_device_temperature_K(d), 298.15, 1e-12);
  CHECK(d->contact_resistance_ohm == 0.0);
  CHECK(d->initial_voltage_given == 0); /* neutral, as assembled */
  CHECK(d->norm_thickness_m == 0.0);
  CHECK_REL(nimc_device_norm_thickness_m(d), 7.5e-6, 1e-12);

  const nimc_electrode_params *a = &d->anode;
  CHECK(a->kind == NIMC_ELECTRODE_INTERCALATION);
  CHECK(!strcmp(a->material, "NTO"));
  CHECK_REL(a->thickness_m, 5e-6, 1e-12);
  CHECK_REL(a->porosity, 0.44, 1e-12);
  CHECK_REL(a->bruggeman, 1.5, 1e-12);
  CHECK_REL(a->conductivity_S_m, 2e4, 1e-12);
  CHECK(a->solid_bruggeman == 0.0);
  CHECK_REL(a->active_fraction, 0.47, 1e-12);
  CHECK_REL(a->particle_radius_m, 4e-9, 1e-12);
  CHECK(a->shape == NIMC_PARTICLE_SLAB);
  /* the sodium inventory comes from the material (calibrated there) */
  CHECK(a->theta0 > 0.0 && a->theta0 < 1.0);
  CHECK_REL(a->cdl_F_m2, 0.1, 1e-12);
  CHECK_REL(a->c_max_mol_m3, 13182, 1e-12); /* 103 mAh/g at 3.43 g/cm3 */
  CHECK(a->ocp.kind == NIMC_LAW_BUILTIN);
  CHECK(a->ocp.fn == nimc_builtin_find("nto_ocp"));
  CHECK(a->solid_diffusivity.kind == NIMC_LAW_CONSTANT);
  CHECK_REL(nimc_law_eval(&a->solid_diffusivity, 0.5, 298.15, NULL), 1e-17,
            1e-12);
  CHECK(a->rate_constant.tlaw == NIMC_TLAW_ARRHENIUS);
  CHECK_REL(a->rate_constant.Ea_J_mol, 37e3, 1e-12);
  CHECK_REL(a->rate_constant.Tref_K, 298.15, 1e-12);
  CHECK_REL(nimc_law_eval(&a->rate_constant, 0.5, 298.15, NULL), 1.11e-11, 1e-12);
  CHECK_REL(nimc_law_eval(&a->rate_constant, 0.5, 353.15, NULL),
            1.11e-11 * exp(-37e3 / NIMC_R * (1 / 353.15 - 1 / 298.15)), 1e-12);
  CHECK_REL(a->alpha_a, 0.5, 1e-12);
  CHECK_REL(a->alpha_c, 0.5, 1e-12);
  CHECK_REL(a->c_ref_mol_m3, 1000, 1e-12);
  CHECK(a->leak_A_m3 == 0.0 && a->leak_n == 1.0);
  CHECK(a->cap_shape.kind == NIMC_LAW_CONSTANT && a->cap_shape.value == 1.0);

  CHECK_REL(d->separator.thickness_m, 30e-6, 1e-12);
  CHECK_REL(d->separator.porosity, 0.8, 1e-12);
  CHECK(d->separator.bruggeman == 0.0);

  const nimc_electrode_params *c = &d->cathode;
  CHECK(c->kind == NIMC_ELECTRODE_CAPACITIVE);
  CHECK(!strcmp(c->material, "AG"));
  CHECK_REL(c->thickness_m, 10e-6, 1e-12);
  CHECK_REL(c->porosity, 0.75, 1e-12);
  CHECK_REL(c->conductivity_S_m, 1e4, 1e-12);
  /* BET area x areal capacitance x AG density */
  CHECK_REL(c->cap_F_m3, 2380e3 * 0.055 * 400.0, 1e-12);
  CHECK_REL(c->cap_k2_per_V2, 0.05, 1e-12);
  CHECK_REL(c->E_pzc_V, 2.9, 1e-12);
  CHECK_REL(c->E0_V, 2.9, 1e-12);
  CHECK(c->E0_given == 0);
  CHECK(c->dl_cation_fraction < 0.0);
  CHECK_REL(nimc_law_eval(&c->cap_shape, 2.0, 298.15, NULL), 1.0, 1e-12);

  const nimc_electrolyte_params *e = &d->electrolyte;
  CHECK(!strcmp(e->material, "NaTFSI/P14TFSI ionogel"));
  CHECK_REL(e->c0_mol_m3, 886, 1e-12);
  CHECK(e->conductivity.tlaw == NIMC_TLAW_VTF);
  CHECK_REL(nimc_law_eval(&e->conductivity, 886, 298.15, NULL), 0.05, 1e-12);
  CHECK_REL(nimc_law_eval(&e->conductivity, 886, 353.15, NULL), 0.28, 0.02);
  /* ternary: Na+ (own Arrhenius law), P14+ (about 3:1 to Na+) and
   * TFSI-, the ionic liquid's ions on the conductivity's VTF law */
  CHECK(e->ternary == 1);
  CHECK(e->c2_0_mol_m3 > 2.5 * e->c0_mol_m3 && e->c2_0_mol_m3 < 3.5 * e->c0_mol_m3);
  CHECK(e->diffusivity.tlaw == NIMC_TLAW_ARRHENIUS);
  CHECK(e->diffusivity.Ea_J_mol > 0.0);
  const nimc_law *il[2] = {&e->diffusivity2, &e->diffusivity_anion};
  for (int k = 0; k < 2; k++)
    CHECK_REL(nimc_law_eval(il[k], 886, 353.15, NULL) /
                  nimc_law_eval(&e->conductivity, 886, 353.15, NULL),
              nimc_law_eval(il[k], 886, 298.15, NULL) / 0.05, 1e-12);
  CHECK_REL(nimc_law_eval(&e->thermo_factor, 886, 298.15, NULL), 1.0, 1e-12);

  CHECK(d->mesh.anode_cells == 20 && d->mesh.separator_cells == 10 &&
        d->mesh.cathode_cells == 20 && d->mesh.particle_shells == 6);
  CHECK(d->mesh.grading == 1.0);
  CHECK_REL(d->solver.rtol, 1e-5, 1e-12);
  CHECK(d->solver.atol_scale == 1.0);

  /* temperature: above the VTF T0 of the ionogel (165 K) only */
  CHECK(nimc_device_set_temperature(d, 353.15, &err) == NIMC_OK);
  CHECK_REL(nimc_device_temperature_K(d), 353.15, 1e-12);
  /* the laws keep their temperature factor at the device's temperature */
  CHECK(e->conductivity.tcache.T_K == 353.15);
  CHECK(e->conductivity.tcache.factor ==
        nimc_law_tfactor(&e->conductivity, 353.15));
  CHECK(a->rate_constant.tcache.T_K == 353.15);
  CHECK(nimc_device_set_temperature(d, 0.0, &err) == NIMC_EINPUT);
  CHECK(nimc_device_set_temperature(d, -5.0, &err) == NIMC_EINPUT);
  CHECK(nimc_device_set_temperature(d, 165.0, &err) == NIMC_EINPUT);
  CHECK_CONTAINS(err.msg, "165");
  CHECK_CONTAINS(err.msg, "[electrolyte] conductivity");
  CHECK(nimc_device_set_temperature(d, 150.0, &err) == NIMC_EINPUT);
  /* issue 12: 1e6 K ran to exit 0 with nonsense results */
  CHECK(nimc_device_set_temperature(d, 1e6, &err) == NIMC_EINPUT);
  CHECK_CONTAINS(err.msg, "outside the plausible range 150 K to 600 K");
  CHECK_REL(nimc_device_temperature_K(d), 353.15, 1e-12);
  nimc_device_destroy(d);
  nimc_device_destroy(NULL);
}

/* Every law key of the shipped materials must be in SI after loading;
 * this checks the fixture's own extras: a CSV table law and the
 * per-section overrides. */
static void test_fixture_and_overrides(void) {
  const char *dir = fixture_dir();
  char path[256];
  snprintf(path, sizeof path, "%s/dev.ini", dir);
  write_fixture(dir, NULL, NULL, NULL, NULL);
  nimc_device *d = NULL;
  nimc_err err;
  int rc = nimc_device_load(&d, path, NULL, 0, &err);
  CHECK(rc == NIMC_OK);
  if (rc) fprintf(stderr, "  %s\n", err.msg);
  if (d) {
    CHECK(d->anode.ocp.kind == NIMC_LAW_TABLE && d->anode.ocp.n == 3);
    CHECK_REL(nimc_law_eval(&d->anode.ocp, 0.5, 298.15, NULL), 0.3, 1e-12);
    CHECK_ABS(nimc_law_eval(&d->anode.ocp, 2.0, 298.15, NULL), 0.0, 1e-15);
    CHECK(!strcmp(d->anode.material, "nto")); /* the file's stem */
    CHECK(d->anode.shape == NIMC_PARTICLE_SLAB);
    CHECK_REL(d->anode.porosity, 0.45, 1e-12);
    CHECK(d->mesh.cathode_cells == 20);
  }
  nimc_device_destroy(d);

  const char *sets[] = {"anode.thickness=10um",
                        "cathode.specific_capacitance=120F/g",
                        " mesh . grading = 2 ",
                        "electrolyte.initial_concentration=500 mol/m3",
                        "electrolyte.conductivity=1 mS/cm",
                        "device.normalisation_thickness=8 um",
                        "anode.particle_shape=sphere",
                        "solver.rtol=1e-4"};
  d = NULL;
  rc = nimc_device_load(&d, path, sets, sizeof sets / sizeof sets[0], &err);
  CHECK(rc == NIMC_OK);
  if (rc) fprintf(stderr, "  %s\n", err.msg);
  if (d) {
    CHECK_REL(d->anode.thickness_m, 1e-5, 1e-12);
    CHECK_REL(d->cathode.cap_F_m3, 120e3 * 360, 1e-12);
    CHECK_REL(d->mesh.grading, 2.0, 1e-12);
    CHECK_REL(d->electrolyte.c0_mol_m3, 500, 1e-12);
    /* the overridden constant keeps the material's VTF law */
    CHECK(d->electrolyte.conductivity.tlaw == NIMC_TLAW_VTF);
    CHECK_REL(nimc_law_eval(&d->electrolyte.conductivity, 500, 298.15, NULL),
              0.1, 1e-12);
    CHECK_REL(nimc_device_norm_thickness_m(d), 8e-6, 1e-12);
    CHECK(d->anode.shape == NIMC_PARTICLE_SPHERE);
    CHECK_REL(d->solver.rtol, 1e-4, 1e-12);
  }
  nimc_device_destroy(d);

  /* a capacitance shape table replaces the quadratic C(E) */
  const char *shp[] = {"cathode.capacitance_shape=table:materials/ocp.csv",
                       "cathode.capacitance_curvature=0 1/V2"};
  d = NULL;
  rc = nimc_device_load(&d, path, shp, 2, &err);
  CHECK(rc == NIMC_OK);
  if (rc) fprintf(stderr, "  %s\n", err.msg);
  if (d) {
    CHECK(d->cathode.cap_shape.kind == NIMC_LAW_TABLE);
    CHECK_REL(nimc_law_eval(&d->cathode.cap_shape, 0.5, 298.15, NULL), 0.3,
              1e-12);
  }
  nimc_device_destroy(d);

  /* volumetric_capacitance wins over specific_capacitance x density */
  const char *vol[] = {"cathode.volumetric_capacitance=42 F/cm3"};
  d = NULL;
  CHECK(nimc_device_load(&d, path, vol, 1, &err) == NIMC_OK);
  if (d) CHECK_REL(d->cathode.cap_F_m3, 4.2e7, 1e-12);
  nimc_device_destroy(d);

  /* a hybrid electrode takes the capacitive keys from its section */
  const char *hyb[] = {"anode.kind=hybrid", "anode.specific_capacitance=50F/g",
                       "anode.pzc=1V", "anode.active_density=0.1 g/cm3"};
  d = NULL;
  rc = nimc_device_load(&d, path, hyb, 4, &err);
  CHECK(rc == NIMC_OK);
  if (rc) fprintf(stderr, "  %s\n", err.msg);
  if (d) {
    CHECK(d->anode.kind == NIMC_ELECTRODE_HYBRID);
    CHECK_REL(d->anode.cap_F_m3, 5e4 * 100, 1e-12);
    CHECK_REL(d->anode.c_max_mol_m3, 22770, 1e-12);
  }
  nimc_device_destroy(d);
  remove_fixture(dir);
}

/* ---- bad inputs ---- */

typedef struct bad_case {
  const char *file; /* fixture file to edit */
  const char *find, *repl;
  const char *at;   /* text on the line to cite; NULL: no line */
  const char *key;  /* "[section] key" expected in the message */
  const char *what; /* what is wrong, expected in the message */
} bad_case;

static const bad_case bad_cases[] = {
    {"dev.ini", "thickness = 5 um", "thicknes = 5 um", "thicknes",
     "[anode] thicknes",
     "unknown key (did you mean 'thickness'? known: material, kind"},
    {"dev.ini", "[mesh]", "[meshes]", "anode_cells", "[meshes] anode_cells",
     "unknown section"},
    {"dev.ini", "thickness = 5 um", "thickness = 5", "thickness = 5",
     "[anode] thickness", "no unit"},
    {"dev.ini", "thickness = 5 um", "thickness = 5 s", "thickness = 5",
     "[anode] thickness", "wrong dimension"},
    {"dev.ini", "thickness = 5 um", "thickness = 5 furlongz", "thickness = 5",
     "[anode] thickness", "unknown unit 'furlongz'"},
    {"dev.ini", "thickness = 5 um", "thickness = 0 um", "thickness = 0",
     "[anode] thickness", "must be positive, got '0 um'"},
    {"dev.ini", "thickness = 5 um", "thickness = -5 um", "thickness = -5",
     "[anode] thickness", "must be positive, got '-5 um'"},
    {"dev.ini", "porosity = 0.45", "porosity = 0", "porosity = 0",
     "[anode] porosity", "strictly between 0 and 1, got '0'"},
    {"dev.ini", "porosity = 0.8", "porosity = 1.2", "porosity = 1.2",
     "[separator] porosity", "strictly between 0 and 1, got '1.2'"},
    {"dev.ini", "materials/nto.ini", "materials/nope.ini", "nope",
     "[anode] material", "unknown material 'materials/nope.ini' (no file"},
    {"dev.ini", "materials/nto.ini", "materials/ionogel.ini",
     "materials/ionogel.ini", "[anode] material", "electrolyte, not an"},
    {"dev.ini", "materials/ionogel.ini", "materials/ag.ini",
     "material = materials/ag.ini\n\n[mesh]", "[electrolyte] material",
     "is of kind capacitive, expected an electrolyte"},
    {"materials/nto.ini", "table:ocp.csv", "table:nope.csv", "ocp",
     "[material] ocp", "cannot read table"},
    {"materials/nto.ini", "table:ocp.csv", "table:bad.csv", "ocp",
     "[material] ocp", "bad.csv:4: expected two numbers"},
    {"materials/nto.ini", "table:ocp.csv", "table:dec.csv", "ocp",
     "[material] ocp", "dec.csv:3: x must increase strictly"},
    {"materials/nto.ini", "table:ocp.csv", "table:one.csv", "ocp",
     "[material] ocp", "at least 2 rows"},
    {"materials/nto.ini", "table:ocp.csv", "builtin:nope", "ocp",
     "[material] ocp", "unknown built-in 'nope' (known: nto_ocp"},
    {"materials/nto.ini", "table:ocp.csv", "0.3 V", "ocp", "[material] ocp",
     "must be a table"},
    {"dev.ini", "thickness = 5 um\n", "", NULL, "[anode] thickness",
     "missing (required, a length"},
    {"materials/nto.ini", "max_concentration = 22770 mol/m3\n", "", NULL,
     "[material] max_concentration", "missing (required"},
    {"materials/ag.ini", "kind = capacitive\n", "", NULL, "[material] kind",
     "missing (required"},
    {"materials/ag.ini", "kind = capacitive", "kind = supercap", "kind",
     "[material] kind", "unknown value 'supercap'"},
    {"dev.ini", "porosity = 0.45", "porosity = 0.45\nporosity = 0.5",
     "porosity = 0.5", "[anode] porosity", "duplicate key (first given at"},
    {"dev.ini", "porosity = 0.45", "porosity = 0.45\n  particle_radius = 4 nm",
     "  particle", "[anode] porosity", "indented"},
    {"dev.ini", "anode_cells = 20", "anode_cells = 5.5", "anode_cells",
     "[mesh] anode_cells", "must be a whole number from 1 to 1000, got '5.5'"},
    /* issue 12: one quantity, finite, plausible; counts bounded */
    {"dev.ini", "thickness = 5 um", "thickness = 5 um 1000", "thickness = 5 um",
     "[anode] thickness", "is not one quantity: '1000' after the number"},
    {"dev.ini", "porosity = 0.45", "porosity = 0.44 0.5", "porosity",
     "[anode] porosity", "is not one quantity: '0.5' after the number"},
    {"dev.ini", "thickness = 5 um", "thickness = 1e308 km", "thickness = 1e308",
     "[anode] thickness", "not a finite number in m"},
    {"dev.ini", "thickness = 5 um", "thickness = 1 km", "thickness = 1 km",
     "[anode] thickness", "outside the plausible range 1 nm to 10 mm"},
    {"dev.ini", "area = 1 cm2", "area = 1 cm2\ntemperature = 1e6 K",
     "temperature", "[device] temperature",
     "outside the plausible range 150 K to 600 K"},
    {"dev.ini", "area = 1 cm2", "area = 1 cm2\ninitial_voltage = 17 kV",
     "initial_voltage", "[device] initial_voltage",
     "outside the plausible range -10 V to 10 V"},
    /* issue 10: the shunt across the cell */
    {"dev.ini", "area = 1 cm2", "area = 1 cm2\nshunt_resistance = -15 Mohm",
     "shunt_resistance", "[device] shunt_resistance",
     "must be >= 0, got '-15 Mohm'"},
    {"dev.ini", "area = 1 cm2", "area = 1 cm2\nshunt_resistance = 15 MF",
     "shunt_resistance", "[device] shunt_resistance", "wrong dimension"},
    {"dev.ini", "area = 1 cm2", "area = 1 cm2\nshunt_resistance = 15e6",
     "shunt_resistance", "[device] shunt_resistance", "no unit"},
    {"dev.ini", "area = 1 cm2", "area = 1 cm2\nshunt_resistance = 1e20 ohm",
     "shunt_resistance", "[device] shunt_resistance",
     "outside the plausible range 0 (none) or 1 ohm to 1e15 ohm"},
    {"dev.ini", "area = 1 cm2", "area = 1 cm2\nshunt_resistance = 1 mohm",
     "shunt_resistance", "[device] shunt_resistance",
     "a shunt below 1 ohm shorts the device"},
    {"dev.ini", "anode_cells = 20", "anode_cells = 2000000000", "anode_cells",
     "[mesh] anode_cells", "whole number from 1 to 1000"},
    {"dev.ini", "anode_cells = 20", "particle_shells = 2147483647",
     "particle_shells", "[mesh] particle_shells",
     "whole number from 2 to 1000"},
    /* issue 12: special files are refused, not read for ever */
    {"dev.ini", "material = materials/ag.ini", "material = /dev/zero",
     "material = /dev/zero", "[cathode] material",
     "cannot read material file /dev/zero: not a regular file (a character "
     "device)"},
    {"materials/nto.ini", "table:ocp.csv", "table:/dev/zero", "ocp",
     "[material] ocp",
     "cannot read table '/dev/zero': not a regular file (a character device)"},
    {"dev.ini", "anode_cells = 20", "anode_cells = x", "anode_cells",
     "[mesh] anode_cells", "whole number"},
    {"dev.ini", "anode_cells = 20", "particle_shells = 1", "particle_shells",
     "[mesh] particle_shells", "whole number from 2 to 1000"},
    {"materials/ionogel.ini", "conductivity_vtf_B = 785 K",
     "conductivity_vtf_B = 785 K\nconductivity_activation_energy = 27 kJ/mol",
     "conductivity_activation", "[material] conductivity_activation_energy",
     "Arrhenius or VTF"},
    {"materials/ionogel.ini", "conductivity_vtf_T0 = 165 K\n", "",
     "conductivity_vtf_B", "[material] conductivity_vtf_B",
     "needs conductivity_vtf_T0"},
    {"dev.ini", "geometry = stack", "geometry = interdigitated",
     "thickness = 30", "[separator] thickness",
     "[separator] is for geometry = stack (the in-plane device has no "
     "separator)"},
    {"dev.ini", "area = 1 cm2\n", "", NULL, "[device] area",
     "missing (required, an area"},
    {"dev.ini", "[mesh]", "[geometry]\ngap = 0.5 mm\n\n[mesh]", "gap = 0.5",
     "[geometry] gap", "[geometry] is for geometry = interdigitated"},
    {"dev.ini", "[mesh]", "[cover]\nenabled = false\n\n[mesh]", "enabled",
     "[cover] enabled", "[cover] is for geometry = interdigitated"},
    {"dev.ini", "[mesh]", "[mesh]\ngrading_x = 0.5", "grading_x",
     "[mesh] grading_x", "must be >= 1, got '0.5'"},
    {"dev.ini", "geometry = stack", "geometry = round", "geometry",
     "[device] geometry", "choices: stack, interdigitated"},
    {"dev.ini", "[separator]", "[separator", "[separator", NULL,
     "syntax error"},
    {"dev.ini", "active_fraction = 0.42", "active_fraction = 0.6",
     "active_fraction", "[anode] active_fraction", "1 - porosity"},
    {"dev.ini", "active_density = 0.36 g/cm3",
     "active_density = 0.36 g/cm3\nparticle_radius = 5 nm",
     "particle_radius = 5", "[cathode] particle_radius", "unknown key"},
    {"materials/ag.ini", "pzc = 2.9 V", "pzc = 2.9 V\nocp = builtin:nto_ocp",
     "ocp", "[material] ocp", "unknown key"},
    {"dev.ini", "; test device", "; test device\nfoo = 1", "foo", "foo",
     "outside any [section]"},
    {"dev.ini", "[mesh]", "[solver]\nrtol = 0.5\n[mesh]", "rtol",
     "[solver] rtol", "between 0 and 0.1"},
    {"dev.ini", "area = 1 cm2", "area = 1 cm2\ntemperature = -120 degC",
     "temperature", "[device] temperature", "VTF T0 = 165 K"},
    {"dev.ini", "area = 1 cm2", "area = 1 cm2\ntemperature = 0 K",
     "temperature", "[device] temperature", "must be positive"},
    {"dev.ini", "area = 1 cm2", "area = 0 cm2", "area", "[device] area",
     "must be positive"},
    {"dev.ini", "name = test", "name = \"\"", "name", "[device] name",
     "empty value"},
    {"dev.ini", "particle_shape = slab", "particle_shape = cube",
     "particle_shape", "[anode] particle_shape", "choices: slab"},
    {"dev.ini", "conductivity = 200 S/cm",
     "conductivity = 200 S/cm\nkind = electrolyte", "kind = e", "[anode] kind",
     "unknown value 'electrolyte'"},
    {"dev.ini", "conductivity = 200 S/cm",
     "conductivity = 200 S/cm\nleakage_current = 1 A/m3", NULL,
     "[anode] leakage_potential", "missing"},
    {"materials/ionogel.ini", "transference_number = 0.1",
     "transference_number = 1.5", "transference",
     "[material] "
     "transference_number",
     "strictly between 0 and 1"},
    {"materials/ag.ini", "pzc = 2.9 V", "pzc = 2.9 V\ndl_cation_fraction = 2",
     "dl_cation", "[material] dl_cation_fraction", "between 0 and 1"},
    {"materials/ag.ini", "pzc = 2.9 V", "pzc = 2.9 V\ncapacitance_shape = 1",
     "capacitance_shape", "[material] capacitance_shape", "must be a table"},
    {"materials/ag.ini", "pzc = 2.9 V",
     "pzc = 2.9 V\ncapacitance_curvature = 0.05 1/V2\n"
     "capacitance_shape = table:ocp.csv",
     "capacitance_shape", "[material] capacitance_shape",
     "cannot be combined with capacitance_curvature"},
    {"materials/ag.ini", "pzc = 2.9 V", "pzc = 2.9 V\n[extra]\nx = 1", "x = 1",
     "[extra] x", "unknown section"},
    /* [pack] */
    {"dev.ini", "anode_cells = 20", "anode_cells = 20\n[pack]\nseries = -1",
     "series = -1", "[pack] series", "whole number from 1 to 64, got '-1'"},
    {"dev.ini", "anode_cells = 20", "anode_cells = 20\n[pack]\nparallel = 0",
     "parallel = 0", "[pack] parallel", "whole number from 1 to 64, got '0'"},
    {"dev.ini", "anode_cells = 20",
     "anode_cells = 20\n[pack]\nseries = 8\nparallel = 9", "parallel = 9",
     "[pack] parallel", "8s9p is 72 cells, more than the 64"},
    {"dev.ini", "anode_cells = 20", "anode_cells = 20\n[pack]\nserie = 2",
     "serie = 2", "[pack] serie", "unknown key (did you mean 'series'?"},
    {"dev.ini", "anode_cells = 20",
     "anode_cells = 20\n[pack]\nspread = anode.colour 5 %", "spread =",
     "[pack] spread", "item 1: 'anode.colour' cannot be spread (spreadable: "},
    {"dev.ini", "anode_cells = 20",
     "anode_cells = 20\n[pack]\nspread = anode.porosity 1 %, "
     "cathode.thickness 80 %",
     "spread =", "[pack] spread",
     "item 2: the spread of 'cathode.thickness' must be above 0 % and at "
     "most 50 %, got 80 %"},
    {"dev.ini", "anode_cells = 20",
     "anode_cells = 20\n[pack]\nspread = cathode.thickness 5",
     "spread =", "[pack] spread", "is a percentage: write '5 %'"},
    {"dev.ini", "anode_cells = 20",
     "anode_cells = 20\n[pack]\nspread = cathode.thickness 5 %, "
     "cathode.thickness 2 %",
     "spread =", "[pack] spread",
     "item 2: 'cathode.thickness' is spread twice"},
    {"dev.ini", "anode_cells = 20",
     "anode_cells = 20\n[pack]\nspread = cathode.thickness 5 % "
     "anode.porosity 2 %",
     "spread =", "[pack] spread", "items are separated by commas"},
    {"dev.ini", "anode_cells = 20", "anode_cells = 20\n[pack]\nseed = one",
     "seed = one", "[pack] seed", "whole number from 0 to"},
};

/* The same kind of cases made from the in-plane fixture, idg.ini. */
static const bad_case idg_bad_cases[] = {
    {"idg.ini", "gel_thickness = 300 um", "gel_thickness = 8 um",
     "gel_thickness", "[geometry] gel_thickness",
     "max(anode 5 um, cathode 10 um) = 10 um, got '8 um'"},
    {"idg.ini", "gel_thickness = 300 um", "gel_thickness = 10 um",
     "gel_thickness", "[geometry] gel_thickness", "= 10 um, got '10 um'"},
    {"idg.ini", "fingers_per_electrode = 4", "fingers_per_electrode = 0",
     "fingers_per", "[geometry] fingers_per_electrode",
     "must be a whole number from 1 to 1000, got '0'"},
    {"idg.ini", "fingers_per_electrode = 4", "fingers_per_electrode = 2.5",
     "fingers_per", "[geometry] fingers_per_electrode",
     "must be a whole number from 1 to 1000, got '2.5'"},
    {"idg.ini", "fingers_per_electrode = 4\n", "", NULL,
     "[geometry] fingers_per_electrode", "missing (required, a whole number"},
    {"idg.ini", "finger_width = 1 mm\n", "", NULL, "[geometry] finger_width",
     "missing (required, a length"},
    {"idg.ini", "gap = 0.5 mm", "gap = 0.5 mm\nfinger_widht = 1 mm",
     "finger_widht", "[geometry] finger_widht",
     "unknown key (did you mean 'finger_width'? known: fingers_per_electrode"},
    {"idg.ini", "gap = 0.5 mm", "gap = 0.5 s", "gap", "[geometry] gap",
     "wrong dimension"},
    {"idg.ini", "gap = 0.5 mm", "gap = 0 mm", "gap", "[geometry] gap",
     "must be positive"},
    {"idg.ini", "gap = 0.5 mm", "gap = 0.5 mm\ngel_porosity = 0",
     "gel_porosity", "[geometry] gel_porosity", "must be in (0, 1], got '0'"},
    {"idg.ini", "gap = 0.5 mm", "gap = 0.5 mm\ngel_porosity = 1.1",
     "gel_porosity", "[geometry] gel_porosity", "must be in (0, 1]"},
    {"idg.ini", "gap = 0.5 mm", "gap = 0.5 mm\ngel_bruggeman = -1",
     "gel_bruggeman", "[geometry] gel_bruggeman", "must be >= 0"},
    {"idg.ini", "gap = 0.5 mm",
     "gap = 0.5 mm\ncollector_sheet_resistance = -5 ohm", "collector",
     "[geometry] collector_sheet_resistance", "must be >= 0"},
    {"idg.ini", "gap = 0.5 mm",
     "gap = 0.5 mm\ncollector_sheet_resistance = 5 V", "collector",
     "[geometry] collector_sheet_resistance", "wrong dimension"},
    {"idg.ini", "[electrolyte]",
     "[separator]\nthickness = 30 um\n\n[electrolyte]", "thickness = 30 um",
     "[separator] thickness",
     "[separator] is for geometry = stack (the in-plane device has no "
     "separator)"},
    {"idg.ini", "enabled = false", "enabled = maybe", "enabled",
     "[cover] enabled", "must be true or false"},
    {"idg.ini", "enabled = false", "enabled = true\nporosity = 0.05", NULL,
     "[cover] thickness", "missing (required, a length"},
    {"idg.ini", "enabled = false", "enabled = YES\nthickness = 2 um", NULL,
     "[cover] porosity", "missing (required, a number"},
    {"idg.ini", "enabled = false", "enabled = false\nporosity = 1.5",
     "porosity = 1.5", "[cover] porosity",
     "strictly between 0 and 1, got '1.5'"},
    {"idg.ini", "enabled = false", "enabled = false\nthickness = -2 um",
     "thickness = -2", "[cover] thickness", "must be positive"},
    {"idg.ini", "enabled = false", "enabled = false\nbruggeman = -1",
     "bruggeman", "[cover] bruggeman", "must be >= 0"},
    {"idg.ini", "enabled = false", "enabled = false\ngap = 1 mm", "gap = 1",
     "[cover] gap", "unknown key (known: enabled, thickness"},
    {"idg.ini", "geometry = interdigitated", "geometry = spiral", "spiral",
     "[device] geometry",
     "unknown value 'spiral' (choices: stack, interdigitated)"},
    {"idg.ini", "geometry = interdigitated",
     "geometry = interdigitated\narea = 0 cm2", "area", "[device] area",
     "must be positive"},
    {"idg.ini", "gap_cells_x = 8", "gel_cells_z = 0", "gel_cells_z",
     "[mesh] gel_cells_z", "whole number from 1 to 1000, got '0'"},
    {"idg.ini", "gap_cells_x = 8", "gap_cells_x = 8\narray = mirror", "array",
     "[mesh] array", "unknown value 'mirror' (choices: symmetry, edge, full)"},
    {"idg.ini", "gap_cells_x = 8", "electrode_cells_z = 99999",
     "electrode_cells_z", "[mesh] electrode_cells_z",
     "whole number from 1 to 1000, got '99999'"},
    {"idg.ini", "gap_cells_x = 8", "gap_cells_x = 8\narays = full", "arays",
     "[mesh] arays", "unknown key (did you mean 'array'?"},
};

/* Load the fixture's dev (dev.ini or idg.ini) edited by each of n cases. */
static void run_bad_cases(const bad_case *cases, size_t n, const char *dev) {
  const char *dir = fixture_dir();
  char devpath[256], where[512], key[256];
  snprintf(devpath, sizeof devpath, "%s/%s", dir, dev);
  for (size_t i = 0; i < n; i++) {
    const bad_case *b = &cases[i];
    int line = write_fixture(dir, b->file, b->find, b->repl, b->at);
    if (b->at) {
      CHECK(line > 0);
      snprintf(where, sizeof where, "%s/%s:%d: ", dir, b->file, line);
    } else {
      snprintf(where, sizeof where, "%s/%s: ", dir, b->file);
    }
    nimc_device *d = (nimc_device *)&d; /* must be reset to NULL */
    nimc_err err;
    int rc = nimc_device_load(&d, devpath, NULL, 0, &err);
    CHECK(rc == NIMC_EINPUT);
    CHECK(err.code == rc);
    CHECK(d == NULL);
    CHECK_CONTAINS(err.msg, where);
    if (b->key) {
      snprintf(key, sizeof key, "%s: ", b->key);
      CHECK_CONTAINS(err.msg, key);
    }
    CHECK_CONTAINS(err.msg, b->what);
    if (getenv("NIMC_TEST_VERBOSE")) fprintf(stderr, "  %s\n", err.msg);
    remove_fixture(dir);
  }
}

static void test_bad_inputs(void) {
  run_bad_cases(bad_cases, sizeof bad_cases / sizeof bad_cases[0], "dev.ini");
  run_bad_cases(idg_bad_cases, sizeof idg_bad_cases / sizeof idg_bad_cases[0],
                "idg.ini");
}

/* A line longer than libinih's buffer is refused, not split in two. */
static void test_long_line(void) {
  const char *dir = fixture_dir();
  char devpath[256], where[300], repl[600];
  memset(repl, 'x', sizeof repl - 1);
  repl[sizeof repl - 1] = '\0';
  memcpy(repl, "name = ", 7);
  int line = write_fixture(dir, "dev.ini", "name = test", repl, "name = ");
  snprintf(devpath, sizeof devpath, "%s/dev.ini", dir);
  snprintf(where, sizeof where, "%s:%d: ", devpath, line);
  nimc_device *d = NULL;
  nimc_err err;
  CHECK(nimc_device_load(&d, devpath, NULL, 0, &err) == NIMC_EINPUT);
  CHECK(d == NULL);
  CHECK_CONTAINS(err.msg, where);
  CHECK_CONTAINS(err.msg, "line too long");
  remove_fixture(dir);
}

/* Write n bytes of text to dir/name. */
static void write_bytes(const char *dir, const char *name, const char *text,
                        size_t n) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *fp = fopen(path, "wb");
  CHECK(fp != NULL);
  if (!fp) return;
  CHECK(fwrite(text, 1, n, fp) == n);
  fclose(fp);
}

/* issue 12: a NUL byte is reported with its line (it hid the rest of a
 * 225-character line from the length limit), and a file has a size limit */
static void test_nul_and_size(void) {
  const char *dir = fixture_dir();
  char devpath[256], want[320], text[400];
  snprintf(devpath, sizeof devpath, "%s/dev.ini", dir);
  nimc_device *d = NULL;
  nimc_err err;
  write_fixture(dir, NULL, NULL, NULL, NULL);
  int n = snprintf(text, sizeof text, "; test\n[device]\nname = test");
  text[n++] = '\0';
  memset(text + n, 'x', 225);
  n += 225;
  text[n++] = '\n';
  write_bytes(dir, "dev.ini", text, (size_t)n);
  CHECK(nimc_device_load(&d, devpath, NULL, 0, &err) == NIMC_EINPUT);
  CHECK(d == NULL);
  snprintf(want, sizeof want, "%s:3: a NUL byte", devpath);
  CHECK_CONTAINS(err.msg, want);

  /* in a material file and in a table */
  write_fixture(dir, NULL, NULL, NULL, NULL);
  static const char mat[] = "[material]\nkind = capac\0itive\n";
  write_bytes(dir, "materials/ag.ini", mat, sizeof mat - 1);
  CHECK(nimc_device_load(&d, devpath, NULL, 0, &err) == NIMC_EINPUT);
  snprintf(want, sizeof want, "%s/materials/ag.ini:2: a NUL byte", dir);
  CHECK_CONTAINS(err.msg, want);
  write_fixture(dir, NULL, NULL, NULL, NULL);
  static const char csv[] = "x,y\n0,1\n0.5,\0.3\n1,0\n";
  write_bytes(dir, "materials/ocp.csv", csv, sizeof csv - 1);
  CHECK(nimc_device_load(&d, devpath, NULL, 0, &err) == NIMC_EINPUT);
  snprintf(want, sizeof want, "%s/materials/ocp.csv:3: a NUL byte", dir);
  CHECK_CONTAINS(err.msg, want);
  CHECK_CONTAINS(err.msg, "[material] ocp: ");

  /* a device file larger than 1 MiB, however it is made up */
  write_fixture(dir, NULL, NULL, NULL, NULL);
  size_t big = (1u << 20) + 1;
  char *blob = malloc(big);
  CHECK(blob != NULL);
  if (blob) {
    memset(blob, ';', big);
    for (size_t i = 80; i < big; i += 80)
      blob[i] = '\n';
    write_bytes(dir, "dev.ini", blob, big);
    free(blob);
    CHECK(nimc_device_load(&d, devpath, NULL, 0, &err) == NIMC_EINPUT);
    CHECK_CONTAINS(err.msg, "larger than the limit of 1048576 bytes");
  }
  remove_fixture(dir);
}

static void expect_set_error(const char *devpath, const char *set,
                             const char *a, const char *b) {
  nimc_device *d = (nimc_device *)&d;
  nimc_err err;
  CHECK(nimc_device_load(&d, devpath, &set, 1, &err) == NIMC_EINPUT);
  CHECK(d == NULL);
  CHECK_CONTAINS(err.msg, a);
  CHECK_CONTAINS(err.msg, b);
}

/* Ageing: a material file may declare its side reaction (the keys of
 * either kind's material), with its temperature law; a capacitive one
 * needs its surface (bet_area), a film belongs to an intercalation one. */
static void test_side_reaction_in_material_files(void) {
  const char *dir = fixture_dir();
  char devpath[256];
  snprintf(devpath, sizeof devpath, "%s/dev.ini", dir);
  write_fixture(dir, "materials/nto.ini", "kind = intercalation\n",
                "kind = intercalation\n"
                "side_reaction_current = 1e-9 A/m2\n"
                "side_reaction_current_activation_energy = 50 kJ/mol\n"
                "side_reaction_potential = 0.8 V\n"
                "side_reaction_film_resistance = 1e-4 ohm.m4/C\n",
                NULL);
  nimc_device *d = NULL;
  nimc_err err;
  CHECK(nimc_device_load(&d, devpath, NULL, 0, &err) == NIMC_OK);
  if (d) {
    CHECK_REL(d->anode.sr_current.value, 1e-9, 1e-15);
    CHECK(d->anode.sr_current.tlaw == NIMC_TLAW_ARRHENIUS);
    CHECK_REL(d->anode.sr_current.Ea_J_mol, 5e4, 1e-15);
    CHECK_REL(d->anode.sr_E_V, 0.8, 1e-15);
    CHECK_REL(d->anode.sr_alpha, 0.5, 1e-15);
    CHECK_REL(d->anode.sr_film_ohm_m4_C, 1e-4, 1e-12);
    CHECK(d->cathode.sr_current.value == 0.0);
    nimc_device_destroy(d);
  }
  /* the fixture's AG gives a capacitance per mass, not a surface */
  write_fixture(dir, "materials/ag.ini", "kind = capacitive\n",
                "kind = capacitive\n"
                "side_reaction_current = 1 A/m2\n"
                "side_reaction_potential = 3.5 V\n"
                "side_reaction_blocking_charge = 10 C/m2\n",
                NULL);
  d = NULL;
  CHECK(nimc_device_load(&d, devpath, NULL, 0, &err) == NIMC_EINPUT);
  CHECK(d == NULL);
  CHECK_CONTAINS(err.msg, "materials/ag.ini");
  CHECK_CONTAINS(err.msg, "needs bet_area and areal_capacitance");
  write_fixture(dir, "materials/nto.ini", "kind = intercalation\n",
                "kind = intercalation\n"
                "side_reaction_blocking_charge = 10 C/m2\n",
                NULL);
  CHECK(nimc_device_load(&d, devpath, NULL, 0, &err) == NIMC_EINPUT);
  CHECK_CONTAINS(err.msg, "materials/nto.ini:3: [material] "
                          "side_reaction_blocking_charge");
  CHECK_CONTAINS(err.msg, "applies to capacitive materials only");
  /* trapping: in an intercalation solid, without a film of its own (no
   * film resistance needed) */
  write_fixture(dir, "materials/nto.ini", "kind = intercalation\n",
                "kind = intercalation\n"
                "side_reaction_trapping = 0.01\n"
                "side_reaction_trapping_activation_energy = 30 kJ/mol\n",
                NULL);
  d = NULL;
  CHECK(nimc_device_load(&d, devpath, NULL, 0, &err) == NIMC_OK);
  if (d) {
    CHECK_REL(d->anode.sr_trapping.value, 0.01, 1e-15);
    CHECK_REL(d->anode.sr_trapping.Ea_J_mol, 3e4, 1e-15);
    CHECK(d->anode.sr_current.value == 0.0);
    nimc_device_destroy(d);
    d = NULL;
  }
  /* in a capacitive one, in its micropores */
  write_fixture(dir, "materials/ag.ini", "kind = capacitive\n",
                "kind = capacitive\n"
                "side_reaction_trapping = 0.01\n"
                "side_reaction_blocking_charge = 10 C/m2\n",
                NULL);
  CHECK(nimc_device_load(&d, devpath, NULL, 0, &err) == NIMC_EINPUT);
  CHECK_CONTAINS(err.msg, "materials/ag.ini:3: [material] "
                          "side_reaction_trapping");
  CHECK_CONTAINS(err.msg, "needs micropores");
  /* with micropores, it still needs the surface it blocks (a crash
   * before: the message was hung on a side_reaction_current not given) */
  write_fixture(dir, "materials/ag.ini", "kind = capacitive\n",
                "kind = capacitive\n"
                "micropore_capacitance_fraction = 0.3\n"
                "micropore_time_constant = 10 s\n"
                "side_reaction_trapping = 0.01\n",
                NULL);
  CHECK(nimc_device_load(&d, devpath, NULL, 0, &err) == NIMC_EINPUT);
  CHECK_CONTAINS(err.msg, "materials/ag.ini:5: [material] "
                          "side_reaction_trapping: needs bet_area");
  remove_fixture(dir);
  /* on the NIMC's AG (micropores, a BET surface): its value and law, and
   * the blocking charge it needs */
  const char *ok[] = {"cathode.side_reaction_trapping=0.01",
                      "cathode.side_reaction_trapping_activation_energy="
                      "20kJ/mol",
                      "cathode.side_reaction_blocking_charge=10C/m2"};
  CHECK(nimc_device_load(&d, "devices/nimc.ini", ok, 3, &err) == NIMC_OK);
  if (d) {
    CHECK_REL(d->cathode.sr_trapping.value, 0.01, 1e-15);
    CHECK(d->cathode.sr_trapping.tlaw == NIMC_TLAW_ARRHENIUS);
    CHECK_REL(d->cathode.sr_trapping.Ea_J_mol, 2e4, 1e-15);
    CHECK(d->cathode.sr_current.value == 0.0);
    nimc_device_destroy(d);
    d = NULL;
  }
  const char *big = "cathode.side_reaction_trapping=1.5";
  CHECK(nimc_device_load(&d, "devices/nimc.ini", &big, 1, &err) ==
        NIMC_EINPUT);
  CHECK_CONTAINS(err.msg, "side_reaction_trapping: must be between 0 and 1");
}

static void test_bad_sets(void) {
  const char *dir = fixture_dir();
  char devpath[256];
  snprintf(devpath, sizeof devpath, "%s/dev.ini", dir);
  write_fixture(dir, NULL, NULL, NULL, NULL);
  expect_set_error(devpath, "anode.thickness", "--set 'anode.thickness'",
                   "expected section.key=value");
  expect_set_error(devpath, "thickness=5um", "--set 'thickness=5um'",
                   "expected section.key=value");
  expect_set_error(devpath, ".thickness=5um", "--set '.thickness=5um'",
                   "expected");
  expect_set_error(devpath, "anode.thickness=-5um",
                   "--set anode.thickness: must be positive, got '-5um'", "");
  expect_set_error(devpath, "anode.thickness=5",
                   "--set anode.thickness: ", "no unit");
  expect_set_error(devpath, "anode.thicknes=5um",
                   "--set anode.thicknes: ", "unknown key");
  expect_set_error(devpath, "foo.bar=1", "--set foo.bar: ", "unknown section");
  expect_set_error(devpath, "anode.material=materials/zz.ini",
                   "--set anode.material: ", "unknown material");
  expect_set_error(devpath, "mesh.anode_cells=0",
                   "--set mesh.anode_cells: ", "whole number from 1 to 1000");
  /* issue 12: infinite after conversion (IDA failed on it, exit 1) */
  expect_set_error(
      devpath, "device.initial_voltage=1e308kV",
      "--set device.initial_voltage: ", "not a finite number in V");
  expect_set_error(
      devpath, "anode.thickness=5um 1000",
      "--set anode.thickness: ", "not one quantity: '1000' after the number");
  /* the capacitance per mass from a surface area needs both factors, and
   * not a capacitance per mass as well */
  expect_set_error(devpath, "cathode.bet_area=2000 m2/g",
                   "--set cathode.bet_area: ", "needs areal_capacitance");
  expect_set_error(devpath, "cathode.areal_capacitance=5 uF/cm2",
                   "--set cathode.areal_capacitance: ", "needs bet_area");
  /* the electrolyte's model is a word; a ternary one needs its ions */
  expect_set_error(devpath, "electrolyte.model=quaternary",
                   "--set electrolyte.model: ",
                   "unknown value 'quaternary' (choices: binary, ternary)");
  expect_set_error(devpath, "electrolyte.model=ternary",
                   "ionic_liquid_concentration", "missing");
  /* ageing: a side reaction needs its potential; a film belongs to an
   * intercalation material, a blocked surface to a capacitive one */
  expect_set_error(devpath, "anode.side_reaction_current=1e-9 A/m2",
                   "side_reaction_potential", "missing");
  expect_set_error(devpath, "anode.side_reaction_blocking_charge=1 C/m2",
                   "side_reaction_blocking_charge",
                   "applies to capacitive materials only");
  expect_set_error(devpath, "cathode.side_reaction_film_resistance=1e-4 ohm.m4/C",
                   "side_reaction_film_resistance",
                   "applies to intercalation materials only");
  expect_set_error(devpath, "cathode.side_reaction_current=-1 A/m2",
                   "side_reaction_current", "");
  /* a double layer charged at assembly would create charge */
  expect_set_error(devpath, "cathode.initial_potential=3 V",
                   "--set cathode.initial_potential: ",
                   "the device starts neutral");
  /* without an nimc_err the status alone reports the failure */
  const char *neg = "anode.thickness=-5um";
  nimc_device *d = (nimc_device *)&d;
  CHECK(nimc_device_load(&d, devpath, &neg, 1, NULL) == NIMC_EINPUT);
  CHECK(d == NULL);
  remove_fixture(dir);
}

static void test_missing_device(void) {
  nimc_device *d = (nimc_device *)&d;
  nimc_err err;
  CHECK(nimc_device_load(&d, "devices/no-such-device.ini", NULL, 0, &err) ==
        NIMC_EIO);
  CHECK(d == NULL);
  CHECK_CONTAINS(err.msg, "devices/no-such-device.ini");
  CHECK_CONTAINS(err.msg, "cannot open");

  /* a directory, a device or a pipe is refused before a byte is read
   * (issue 12: /dev/zero looped for ever) */
  d = (nimc_device *)&d;
  CHECK(nimc_device_load(&d, "devices", NULL, 0, &err) == NIMC_EINPUT);
  CHECK(d == NULL);
  CHECK_CONTAINS(err.msg, "devices: cannot read device file: not a regular "
                          "file (a directory)");
  d = (nimc_device *)&d;
  CHECK(nimc_device_load(&d, "/dev/zero", NULL, 0, &err) == NIMC_EINPUT);
  CHECK(d == NULL);
  CHECK_CONTAINS(err.msg, "/dev/zero: cannot read device file: not a regular "
                          "file (a character device)");

  CHECK(nimc_device_load(NULL, "devices/nimc-stack.ini", NULL, 0, &err) ==
        NIMC_EMISUSE);
  d = (nimc_device *)&d;
  CHECK(nimc_device_load(&d, "devices/nimc-stack.ini", NULL, 1, NULL) ==
        NIMC_EMISUSE);
  CHECK(d == NULL);
}

/* ---- the shipped in-plane devices ---- */

/* Load path with the overrides sets[0..n); NULL (and the message on
 * stderr) on failure. */
static nimc_device *load_ok(const char *path, const char *const *sets,
                            size_t n) {
  nimc_device *d = NULL;
  nimc_err err;
  int rc = nimc_device_load(&d, path, sets, n, &err);
  CHECK(rc == NIMC_OK);
  if (rc) fprintf(stderr, "  %s: %s\n", path, err.msg);
  return d;
}

static void test_nimc_device(void) {
  nimc_device *d = load_ok("devices/nimc.ini", NULL, 0);
  if (!d) return;
  const nimc_interdigitated_params *g = &d->idg;
  CHECK(!strcmp(nimc_device_name(d), "NTO//AG-NIMC"));
  CHECK(d->geometry == NIMC_GEOMETRY_INTERDIGITATED);
  CHECK(g->fingers_per_electrode == 4);
  CHECK_REL(g->finger_length_m, 0.014, 1e-12);
  CHECK_REL(g->finger_width_m, 1e-3, 1e-12);
  CHECK_REL(g->gap_m, 5e-4, 1e-12);
  CHECK_REL(g->gel_thickness_m, 408e-6, 1e-12);
  CHECK(g->gel_porosity == 1.0 && g->gel_bruggeman == 0.0);
  CHECK_REL(g->collector_sheet_ohm, 5.0, 1e-12);
  CHECK(g->cover_enabled == 0);
  /* written in the file although disabled, so that enabling needs no more */
  CHECK_REL(g->cover_thickness_m, 2e-6, 1e-12);
  CHECK_REL(g->cover_porosity, 0.0434, 1e-12);
  CHECK_REL(g->cover_bruggeman, 1.5, 1e-12);
  /* the footprint of the pattern: L (2N w + (2N - 1) g) */
  CHECK_REL(nimc_device_footprint_area_m2(d), 0.014 * (8e-3 + 3.5e-3), 1e-12);
  CHECK_REL(nimc_device_footprint_area_m2(d), 1.61e-4, 1e-12);
  CHECK_REL(nimc_device_norm_thickness_m(d), 7.5e-6, 1e-12);
  CHECK_REL(nimc_device_temperature_K(d), 298.15, 1e-12);
  CHECK(d->contact_resistance_ohm == 0.0);
  CHECK(d->initial_voltage_given == 0); /* neutral, as assembled */
  /* the stack's anode and cathode */
  CHECK(d->anode.kind == NIMC_ELECTRODE_INTERCALATION);
  CHECK(!strcmp(d->anode.material, "NTO"));
  CHECK_REL(d->anode.thickness_m, 5e-6, 1e-12);
  CHECK_REL(d->anode.porosity, 0.44, 1e-12);
  CHECK_REL(d->anode.active_fraction, 0.47, 1e-12);
  CHECK_REL(d->anode.particle_radius_m, 4e-9, 1e-12);
  CHECK(d->anode.shape == NIMC_PARTICLE_SLAB);
  CHECK(d->anode.theta0 > 0.0 && d->anode.theta0 < 1.0);
  CHECK_REL(d->anode.conductivity_S_m, 2e4, 1e-12);
  CHECK_REL(d->anode.cdl_F_m2, 0.1, 1e-12);
  CHECK(d->cathode.kind == NIMC_ELECTRODE_CAPACITIVE);
  CHECK_REL(d->cathode.thickness_m, 1e-5, 1e-12);
  CHECK_REL(d->cathode.porosity, 0.75, 1e-12);
  CHECK_REL(d->cathode.conductivity_S_m, 1e4, 1e-12);
  CHECK_REL(d->cathode.cap_F_m3, 2380e3 * 0.055 * 400.0, 1e-12);
  CHECK(!strcmp(d->electrolyte.material, "NaTFSI/P14TFSI ionogel"));
  CHECK(d->mesh.particle_shells == 3);
  CHECK(g->finger_cells_x == 8 && g->gap_cells_x == 8 &&
        g->electrode_cells_z == 4 && g->gel_cells_z == 8 &&
        g->cover_cells_z == 2);
  CHECK(g->grading_x == 4.0 && g->grading_z == 4.0);
  nimc_device_destroy(d);

  d = load_ok("devices/nimc-covered.ini", NULL, 0);
  if (d) {
    CHECK(!strcmp(nimc_device_name(d), "NTO//AG-NIMC-C"));
    CHECK(d->geometry == NIMC_GEOMETRY_INTERDIGITATED);
    CHECK(d->idg.cover_enabled == 1);
    CHECK_REL(d->idg.cover_thickness_m, 2e-6, 1e-12);
    CHECK_REL(d->idg.cover_porosity, 0.0434, 1e-12);
    CHECK_REL(d->idg.cover_bruggeman, 1.5, 1e-12);
    CHECK_REL(nimc_device_footprint_area_m2(d), 1.61e-4, 1e-12);
  }
  nimc_device_destroy(d);

  d = load_ok("devices/ag-ag-msc.ini", NULL, 0);
  if (d) {
    CHECK(!strcmp(nimc_device_name(d), "AG//AG-MSC"));
    CHECK(d->anode.kind == NIMC_ELECTRODE_CAPACITIVE);
    CHECK(!strcmp(d->anode.material, "AG"));
    CHECK_REL(d->anode.thickness_m, 1e-5, 1e-12);
    CHECK_REL(d->anode.porosity, 0.75, 1e-12);
    CHECK_REL(d->anode.conductivity_S_m, 1e4, 1e-12);
    CHECK_REL(d->anode.cap_F_m3, 2380e3 * 0.055 * 400.0, 1e-12);
    CHECK_REL(d->anode.E_pzc_V, 2.9, 1e-12);
    CHECK(d->cathode.kind == NIMC_ELECTRODE_CAPACITIVE);
    CHECK(d->idg.cover_enabled == 0);
    CHECK_REL(nimc_device_footprint_area_m2(d), 1.61e-4, 1e-12);
    CHECK_REL(nimc_device_norm_thickness_m(d), 1e-5, 1e-12);
  }
  nimc_device_destroy(d);
}

/* The lines of the file at path into lines[max][160]; the count, or -1. */
static int read_lines(const char *path, char (*lines)[160], int max) {
  FILE *fp = fopen(path, "r");
  if (!fp) return -1;
  int n = 0;
  while (n < max && fgets(lines[n], sizeof lines[n], fp))
    n++;
  fclose(fp);
  return n;
}

/* The three in-plane files differ only where the paper's devices do: the
 * covered one in its name and [cover] enabled, the symmetric one in its
 * name and [anode] section. */
static void test_device_variants_differ_minimally(void) {
  static char a[200][160], b[200][160];
  int na = read_lines("devices/nimc.ini", a, 200);
  int nb = read_lines("devices/nimc-covered.ini", b, 200);
  CHECK(na > 20 && na < 200 && na == nb);
  int ndiff = 0, name = 0, enabled = 0;
  for (int i = 0; i < na && i < nb; i++) {
    if (!strcmp(a[i], b[i])) continue;
    ndiff++;
    if (!strcmp(a[i], "name = \"NTO//AG-NIMC\"\n") &&
        !strcmp(b[i], "name = \"NTO//AG-NIMC-C\"\n"))
      name++;
    if (!strncmp(a[i], "enabled = false", 15) &&
        !strncmp(b[i], "enabled = true", 14))
      enabled++;
  }
  CHECK(ndiff == 2 && name == 1 && enabled == 1);

  /* ag-ag-msc.ini: outside [anode], only the name differs */
  nb = read_lines("devices/ag-ag-msc.ini", b, 200);
  CHECK(nb > 20 && nb < 200);
  int i = 0, j = 0;
  ndiff = name = 0;
  while (i < na && j < nb) {
    if (!strcmp(a[i], "[anode]\n") && !strcmp(b[j], "[anode]\n")) {
      while (i < na && a[i][0] != '\n') /* to the blank line ending it */
        i++;
      while (j < nb && b[j][0] != '\n')
        j++;
      continue;
    }
    if (strcmp(a[i], b[j])) {
      ndiff++;
      name += !strcmp(b[j], "name = \"AG//AG-MSC\"\n");
    }
    i++, j++;
  }
  CHECK(i == na && j == nb);
  CHECK(ndiff == 1 && name == 1);
}

static void test_interdigitated_overrides(void) {
  /* the covered device with its cover disabled is the uncovered one */
  const char *off[] = {"cover.enabled=false"};
  nimc_device *d = load_ok("devices/nimc-covered.ini", off, 1);
  if (d) CHECK(d->idg.cover_enabled == 0);
  nimc_device_destroy(d);
  const char *words[] = {"cover.enabled=OFF", "cover.enabled=No",
                         "cover.enabled=0", "cover.enabled=FALSE"};
  for (size_t i = 0; i < 4; i++) {
    d = load_ok("devices/nimc-covered.ini", &words[i], 1);
    if (d) CHECK(d->idg.cover_enabled == 0);
    nimc_device_destroy(d);
  }
  const char *on[] = {"cover.enabled=True", "cover.enabled=yes",
                      "cover.enabled=on", "cover.enabled=1"};
  for (size_t i = 0; i < 4; i++) {
    d = load_ok("devices/nimc.ini", &on[i], 1);
    if (d) CHECK(d->idg.cover_enabled == 1);
    nimc_device_destroy(d);
  }

  /* the area follows the pattern ... */
  const char *gap[] = {"geometry.gap=1mm"};
  d = load_ok("devices/nimc.ini", gap, 1);
  if (d) {
    CHECK_REL(d->idg.gap_m, 1e-3, 1e-12);
    CHECK_REL(nimc_device_footprint_area_m2(d), 0.014 * (8e-3 + 7e-3), 1e-12);
  }
  nimc_device_destroy(d);
  const char *fingers[] = {"geometry.fingers_per_electrode=2",
                           "geometry.finger_length=10 mm"};
  d = load_ok("devices/nimc.ini", fingers, 2);
  if (d) {
    CHECK(d->idg.fingers_per_electrode == 2);
    CHECK_REL(nimc_device_footprint_area_m2(d), 0.01 * (4e-3 + 1.5e-3), 1e-12);
  }
  nimc_device_destroy(d);
  /* ... unless given */
  const char *area[] = {"device.area=2 cm2", "geometry.gap=1mm"};
  d = load_ok("devices/nimc.ini", area, 2);
  if (d) CHECK_REL(nimc_device_footprint_area_m2(d), 2e-4, 1e-12);
  nimc_device_destroy(d);

  const char *mesh[] = {"mesh.finger_cells_x=3", "mesh.grading_z=1",
                        "geometry.gel_porosity=0.9", "cover.bruggeman=0",
                        "mesh.anode_cells=5"};
  d = load_ok("devices/nimc.ini", mesh, 5);
  if (d) {
    CHECK(d->idg.finger_cells_x == 3 && d->idg.grading_z == 1.0);
    CHECK(d->idg.gap_cells_x == 8);
    CHECK_REL(d->idg.gel_porosity, 0.9, 1e-12);
    CHECK(d->idg.cover_bruggeman == 0.0);
    CHECK(d->mesh.anode_cells == 5); /* accepted, unused in-plane */
    CHECK(d->idg.array == NIMC_ARRAY_SYMMETRY);
  }
  nimc_device_destroy(d);
  d = load_ok("devices/nimc.ini", (const char *[]){"mesh.array=full"}, 1);
  if (d) CHECK(d->idg.array == NIMC_ARRAY_FULL);
  nimc_device_destroy(d);
  d = load_ok("devices/nimc.ini", (const char *[]){"mesh.array=symmetry"}, 1);
  if (d) CHECK(d->idg.array == NIMC_ARRAY_SYMMETRY);
  nimc_device_destroy(d);
  d = load_ok("devices/nimc.ini", (const char *[]){"mesh.array=edge"}, 1);
  if (d) CHECK(d->idg.array == NIMC_ARRAY_EDGE);
  nimc_device_destroy(d);
  /* accepted in a stack, which has no array */
  d = load_ok("devices/nimc-stack.ini", (const char *[]){"mesh.array=full"}, 1);
  nimc_device_destroy(d);
  expect_set_error("devices/nimc.ini", "mesh.array=Full", "--set mesh.array: ",
                   "unknown value 'Full' (choices: symmetry, edge, full)");

  /* the gel must cover the cover: 10 um + 2 um */
  expect_set_error("devices/nimc-covered.ini", "geometry.gel_thickness=11um",
                   "--set geometry.gel_thickness: ",
                   "max(anode 5 um, cathode 10 um) + cover 2 um = 12 um, got "
                   "'11um'");
  d = load_ok("devices/nimc.ini",
              (const char *[]){"geometry.gel_thickness=11um"}, 1);
  if (d) CHECK_REL(d->idg.gel_thickness_m, 11e-6, 1e-12);
  nimc_device_destroy(d);
  expect_set_error("devices/nimc.ini", "cover.enabled=maybe",
                   "--set cover.enabled: ", "must be true or false");
  expect_set_error(
      "devices/nimc.ini", "separator.thickness=30um",
      "--set separator.thickness: ", "[separator] is for geometry = stack");
  expect_set_error(
      "devices/nimc-stack.ini", "cover.enabled=false",
      "--set cover.enabled: ", "[cover] is for geometry = interdigitated");
  expect_set_error(
      "devices/nimc-stack.ini", "geometry.gap=1mm",
      "--set geometry.gap: ", "[geometry] is for geometry = interdigitated");
  expect_set_error("devices/nimc.ini", "geometry.fingers_per_electrode=2.5",
                   "--set geometry.fingers_per_electrode: ",
                   "whole number from 1 to 1000, got '2.5'");
}

/* The in-plane fixture: what is not given takes its default. */
static void test_interdigitated_defaults(void) {
  const char *dir = fixture_dir();
  char path[256];
  snprintf(path, sizeof path, "%s/idg.ini", dir);
  write_fixture(dir, NULL, NULL, NULL, NULL);
  nimc_device *d = load_ok(path, NULL, 0);
  if (d) {
    const nimc_interdigitated_params *g = &d->idg;
    CHECK(d->geometry == NIMC_GEOMETRY_INTERDIGITATED);
    CHECK(g->gel_porosity == 1.0 && g->gel_bruggeman == 0.0);
    CHECK(g->collector_sheet_ohm == 0.0);
    CHECK(g->cover_enabled == 0);
    CHECK(g->cover_thickness_m == 0.0 && g->cover_porosity == 0.0);
    CHECK(g->cover_bruggeman == 1.5);
    CHECK(g->finger_cells_x == 8 && g->gap_cells_x == 8 &&
          g->electrode_cells_z == 4 && g->gel_cells_z == 8 &&
          g->cover_cells_z == 2);
    CHECK(g->grading_x == 4.0 && g->grading_z == 4.0);
    CHECK(g->array == NIMC_ARRAY_SYMMETRY);
    CHECK_REL(nimc_device_footprint_area_m2(d), 1.61e-4, 1e-12);
  }
  nimc_device_destroy(d);
  /* a cover needs only its thickness and porosity */
  const char *cov[] = {"cover.enabled=true", "cover.thickness=2um",
                       "cover.porosity=0.05"};
  d = load_ok(path, cov, 3);
  if (d) {
    CHECK(d->idg.cover_enabled == 1);
    CHECK_REL(d->idg.cover_thickness_m, 2e-6, 1e-12);
    CHECK(d->idg.cover_bruggeman == 1.5);
  }
  nimc_device_destroy(d);
  remove_fixture(dir);
}

/* [pack]: the shape, the seed and the spread list read into the
 * device; --set pack.series makes a pack of a device without one; the
 * library's nimc_device_set_pack checks the shape; a pack's footprint (the
 * basis of its areal metrics) is that of all its cells. */
static void test_pack_section(void) {
  const char *dir = fixture_dir();
  char devpath[256];
  snprintf(devpath, sizeof devpath, "%s/dev.ini", dir);
  write_fixture(dir, "dev.ini", "anode_cells = 20",
                "anode_cells = 20\n[pack]\nseries = 2\nparallel = 3\n"
                "seed = 7\nspread = cathode.thickness 5 %, anode.porosity "
                "2.5%",
                NULL);
  nimc_device *d = NULL;
  nimc_err err;
  CHECK(nimc_device_load(&d, devpath, NULL, 0, &err) == NIMC_OK);
  if (d) {
    int ns = 0, np = 0;
    CHECK(nimc_device_pack(d, &ns, &np) == 6);
    CHECK(ns == 2 && np == 3);
    CHECK(d->pack.seed == 7);
    CHECK(d->pack.nspread == 2);
    CHECK_REL(d->pack.spread[0].rel, 0.05, 1e-15);
    CHECK_REL(d->pack.spread[1].rel, 0.025, 1e-15);
    CHECK_REL(nimc_device_footprint_area_m2(d), 6.0 * d->area_m2, 1e-15);
    CHECK(nimc_device_set_pack(d, 1, 2, &err) == NIMC_OK);
    CHECK(nimc_device_pack(d, &ns, &np) == 2 && ns == 1 && np == 2);
    CHECK(d->pack.nspread == 2); /* the spread stays */
    CHECK(nimc_device_set_pack(d, 0, 2, &err) == NIMC_EINPUT);
    CHECK_CONTAINS(err.msg, "at least one cell in series");
    CHECK(nimc_device_set_pack(d, 65, 1, &err) == NIMC_EINPUT);
    CHECK_CONTAINS(err.msg, "more than the 64");
    CHECK(nimc_device_pack(d, &ns, &np) == 2); /* unchanged by a refusal */
    nimc_device_destroy(d);
  }
  remove_fixture(dir);
  /* no [pack]: one cell; --set pack.series=2 makes it a 2s1p pack */
  write_fixture(dir, NULL, NULL, NULL, NULL);
  d = NULL;
  CHECK(nimc_device_load(&d, devpath, NULL, 0, &err) == NIMC_OK);
  if (d) {
    int ns = 0, np = 0;
    CHECK(nimc_device_pack(d, &ns, &np) == 0 && ns == 1 && np == 1);
    CHECK_REL(nimc_device_footprint_area_m2(d), d->area_m2, 1e-15);
    nimc_device_destroy(d);
  }
  const char *sets[] = {"pack.series=2"};
  d = NULL;
  CHECK(nimc_device_load(&d, devpath, sets, 1, &err) == NIMC_OK);
  if (d) {
    int ns = 0, np = 0;
    CHECK(nimc_device_pack(d, &ns, &np) == 2 && ns == 2 && np == 1);
    nimc_device_destroy(d);
  }
  const char *bad_sets[] = {"pack.series=0"};
  d = NULL;
  CHECK(nimc_device_load(&d, devpath, bad_sets, 1, &err) == NIMC_EINPUT);
  CHECK_CONTAINS(err.msg, "--set pack.series: must be a whole number from 1");
  remove_fixture(dir);
  /* nimc_pack_shape_parse: what --pack reads */
  char why[256];
  int ns = 0, np = 0;
  CHECK(nimc_pack_shape_parse("2s1p", &ns, &np, why, sizeof why) == 0);
  CHECK(ns == 2 && np == 1);
  CHECK(nimc_pack_shape_parse("1s2p", &ns, &np, why, sizeof why) == 0);
  CHECK(ns == 1 && np == 2);
  static const char *const bad_shapes[] = {
      "0s1p",  "2x",         "2s",    "s1p", "2s1",
      "2s1px", "1000s1000p", "-1s1p", "",    "99999999999s1p"};
  for (size_t k = 0; k < sizeof bad_shapes / sizeof bad_shapes[0]; k++)
    CHECK(nimc_pack_shape_parse(bad_shapes[k], &ns, &np, why, sizeof why) ==
          NIMC_EINPUT);
}

/* A device file copied alone somewhere keeps working: a material path
 * that is not next to it is looked up in the material directories
 * (installed, then the source tree's); one found nowhere is refused with
 * every place tried (issue 10, item 8). */
static void test_material_search(void) {
  char dir[] = "/tmp/nimc_test_alone_XXXXXX", path[128];
  nimc_err err;
  CHECK(mkdtemp(dir) != NULL);
  snprintf(path, sizeof path, "%s/nimc.ini", dir);
  size_t len;
  char *text = NULL;
  FILE *f = fopen("devices/nimc.ini", "rb");
  CHECK(f != NULL);
  if (f) {
    text = malloc(1 << 20);
    len = text ? fread(text, 1, 1 << 20, f) : 0;
    fclose(f);
    FILE *g = fopen(path, "wb");
    CHECK(g && fwrite(text, 1, len, g) == len);
    if (g) fclose(g);
  }
  nimc_device *d = NULL;
  int rc = nimc_device_load(&d, path, NULL, 0, &err);
  CHECK(rc == NIMC_OK);
  if (rc) fprintf(stderr, "  %s\n", err.msg);
  nimc_device_destroy(d);
  /* nowhere: the message names the key and each place tried */
  const char *set[] = {"anode.material=materials/no-such.ini"};
  d = (nimc_device *)&d;
  CHECK(nimc_device_load(&d, path, set, 1, &err) == NIMC_EINPUT);
  CHECK(d == NULL);
  CHECK_CONTAINS(err.msg, "anode.material");
  CHECK_CONTAINS(err.msg, "no file");
  CHECK_CONTAINS(err.msg, ", nor ");
  CHECK_CONTAINS(err.msg, dir);
  CHECK_CONTAINS(err.msg, "devices/materials/no-such.ini");
  free(text);
  remove(path);
  rmdir(dir);
}

/* The key lists of docs/device-files.md are the device's tables: under
 * each section's heading ("### `[device]`" ...) the rows of its key table
 * ("| `key` | ...") name exactly the keys io/device.c reads there. */
static void test_docs_list_every_key(void) {
  static const char *const secs[] = {"device", "separator", "geometry",
                                     "cover",  "mesh",      "solver",
                                     "led",    "pack"};
  FILE *f = fopen("docs/device-files.md", "r");
  CHECK(f != NULL);
  if (!f) return;
  char line[4096];
  char docs[8][64][48];
  size_t ndocs[8] = {0};
  int cur = -1;
  while (fgets(line, sizeof line, f)) {
    if (!strncmp(line, "#", 1)) {
      cur = -1;
      for (int k = 0; k < 8; k++) {
        char head[64];
        snprintf(head, sizeof head, "### `[%s]`", secs[k]);
        if (!strncmp(line, head, strlen(head))) cur = k;
      }
      continue;
    }
    if (cur < 0 || strncmp(line, "| `", 3)) continue;
    const char *a = line + 3, *b = strchr(a, '`');
    if (!b || (size_t)(b - a) >= sizeof docs[0][0] || ndocs[cur] >= 64)
      continue;
    snprintf(docs[cur][ndocs[cur]++], sizeof docs[0][0], "%.*s", (int)(b - a),
             a);
  }
  fclose(f);
  for (int k = 0; k < 8; k++) {
    size_t n = 0;
    const char *key;
    for (; (key = nimc_device_section_key(secs[k], n, NULL)); n++) {
      int found = 0;
      for (size_t j = 0; j < ndocs[k]; j++)
        found |= !strcmp(docs[k][j], key);
      if (!found)
        fprintf(stderr, "  [%s] %s: not in docs/device-files.md\n", secs[k],
                key);
      CHECK(found);
    }
    CHECK(n > 0);
    for (size_t j = 0; j < ndocs[k]; j++) {
      int found = 0;
      for (size_t i = 0; (key = nimc_device_section_key(secs[k], i, NULL)); i++)
        found |= !strcmp(docs[k][j], key);
      if (!found)
        fprintf(stderr, "  [%s] %s: documented, but no such key\n", secs[k],
                docs[k][j]);
      CHECK(found);
    }
  }
  CHECK(nimc_device_section_key("nowhere", 0, NULL) == NULL);
}

/* The first backticked names of the key tables of docs/device-files.md
 * from the heading that starts with head up to the next "## " heading
 * (a row may name several keys: "| `alpha_a`, `alpha_c` |"), into
 * names[n]; returns n. */
static size_t doc_keys(const char *head, char names[][64], size_t cap) {
  FILE *f = fopen("docs/device-files.md", "r");
  if (!f) return 0;
  char line[4096];
  size_t n = 0;
  int on = 0;
  while (fgets(line, sizeof line, f)) {
    if (!strncmp(line, head, strlen(head))) {
      on = 1;
      continue;
    }
    if (on && !strncmp(line, "## ", 3)) break;
    if (!on || strncmp(line, "| `", 3)) continue;
    const char *end = strchr(line + 1, '|'), *p = line + 1;
    while (end && (p = strchr(p, '`')) && p < end && n < cap) {
      const char *q = strchr(p + 1, '`');
      if (!q || q > end) break;
      snprintf(names[n++], 64, "%.*s", (int)(q - p - 1), p + 1);
      p = q + 1;
    }
  }
  fclose(f);
  return n;
}

/* The electrode and material keys: every key of [anode]'s tables that
 * the section itself takes is documented under [anode] and [cathode]
 * (initial_potential, refused with its reason, is not), and every key of
 * a material file under "Material files" (the temperature laws' keys,
 * K_activation_energy, K_vtf_B and K_vtf_T0, are documented as a rule
 * there). */
static void test_docs_list_electrode_and_material_keys(void) {
  static char el[128][64], ma[128][64];
  size_t ne = doc_keys("### `[anode]` and `[cathode]`", el, 128);
  size_t nm = doc_keys("## Material files", ma, 128);
  CHECK(ne > 10 && nm > 20);
  const char *key;
  int mat;
  for (size_t k = 0; (key = nimc_device_section_key("anode", k, &mat)); k++) {
    if (mat || !strcmp(key, "initial_potential")) continue;
    int found = 0;
    for (size_t j = 0; j < ne; j++)
      found |= !strcmp(el[j], key);
    if (!found) fprintf(stderr, "  [anode] %s: not documented\n", key);
    CHECK(found);
  }
  size_t nkeys = 0;
  for (size_t k = 0; (key = nimc_device_section_key("material", k, &mat));
       k++, nkeys++) {
    CHECK(mat == 1);
    if (strstr(key, "_activation_energy") || strstr(key, "_vtf_")) continue;
    int found = 0;
    for (size_t j = 0; j < nm; j++)
      found |= !strcmp(ma[j], key);
    if (!found) fprintf(stderr, "  [material] %s: not documented\n", key);
    CHECK(found);
  }
  CHECK(nkeys > 30);
  /* each key once, though active_density is in two of [anode]'s tables */
  size_t nad = 0;
  for (size_t k = 0; (key = nimc_device_section_key("anode", k, NULL)); k++)
    nad += !strcmp(key, "active_density");
  CHECK(nad == 1);
}

/* A law's kept temperature factor (law.h: nimc_law_tcache) is used at its
 * temperature, and never once the law or the temperature differ. */
static void test_law_temperature_cache(void) {
  nimc_law law = nimc_law_constant(2.0);
  law.tlaw = NIMC_TLAW_ARRHENIUS;
  law.Ea_J_mol = 30e3;
  double fresh = nimc_law_eval(&law, 0.0, 353.15, NULL);
  nimc_law_tcache_set(&law, 353.15);
  CHECK(nimc_law_eval(&law, 0.0, 353.15, NULL) == fresh); /* bitwise */
  law.tcache.factor = 7.0; /* poisoned: shows whether it is used */
  CHECK(nimc_law_eval(&law, 0.0, 353.15, NULL) == 14.0);
  CHECK(nimc_law_eval(&law, 0.0, 333.15, NULL) ==
        2.0 * nimc_law_tfactor(&law, 333.15));
  law.Ea_J_mol = 40e3; /* changed after the cache was made (a fit) */
  CHECK_REL(nimc_law_eval(&law, 0.0, 353.15, NULL),
            2.0 * exp(-40e3 / NIMC_R * (1 / 353.15 - 1 / 298.15)), 1e-14);
  law.Ea_J_mol = 30e3;
  law.tlaw = NIMC_TLAW_VTF, law.vtf_B_K = 800.0, law.vtf_T0_K = 160.0;
  CHECK_REL(nimc_law_eval(&law, 0.0, 353.15, NULL),
            2.0 * exp(-800.0 / (353.15 - 160.0) + 800.0 / (298.15 - 160.0)),
            1e-14);
  /* at the reference temperature the factor is exactly 1 */
  CHECK(nimc_law_tfactor(&law, 298.15) == 1.0);
}

int main(void) {
  RUN(test_shipped_device);
  RUN(test_law_temperature_cache);
  RUN(test_fixture_and_overrides);
  RUN(test_bad_inputs);
  RUN(test_long_line);
  RUN(test_nul_and_size);
  RUN(test_bad_sets);
  RUN(test_side_reaction_in_material_files);
  RUN(test_missing_device);
  RUN(test_material_search);
  RUN(test_docs_list_every_key);
  RUN(test_docs_list_electrode_and_material_keys);
  RUN(test_nimc_device);
  RUN(test_device_variants_differ_minimally);
  RUN(test_interdigitated_overrides);
  RUN(test_interdigitated_defaults);
  RUN(test_pack_section);
  if (tmp[0]) rmdir(tmp);
  return TEST_REPORT();
}
