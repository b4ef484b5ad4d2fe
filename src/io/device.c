/*
 * device.c -- the device-file loader: INI files with units become a
 * struct nimc_device in SI units.
 *
 * Two phases, so that nothing is ever returned from a half-read device:
 *  1. read: libinih splits the device file into entries (section, key,
 *     value, file, line); syntax errors and duplicate keys stop here.  The
 *     --set overrides then replace or add entries, remembered as "--set".
 *  2. interpret: sections and keys are checked against the schema first
 *     (a misspelt key is an error, never a silent default), then each
 *     value is converted to SI by udunits2 (io/units.c) and range-checked.
 *     Electrodes and the electrolyte read their material file (same INI
 *     reader, one section [material]); any material key may be overridden
 *     in the device section that references the material.  Which
 *     sections a device has depends on its [device] geometry: a stack has
 *     a [separator], the in-plane (interdigitated) array has [geometry]
 *     and an optional [cover] instead; the other geometry's sections are
 *     errors.
 * Every error names where the value came from, "file:line: [section] key:"
 * or "--set section.key:", and what is wrong.  The schema is documented in
 * docs/device-files.md: keep the two in step.  What the parameters mean
 * physically is the model's business (model/), not this file's.
 */
#define _POSIX_C_SOURCE 200809L

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/pack_spec.h"
#include "core/params.h"
#include "io/device_keys.h"
#include "io/readfile.h"
#include "io/table.h"
#include "io/units.h"
#include "core/constants.h"

/* Return from the calling function when x fails (x < 0). */
#define TRY(x)                                                                 \
  do {                                                                         \
    int try_rc_ = (x);                                                         \
    if (try_rc_ < 0) return try_rc_;                                           \
  } while (0)

/* ---- phase 1: entries ------------------------------------------------- */

typedef struct entry {
  char *section, *key, *value; /* one allocation, starting at section */
  const char *file;            /* path of the owning table; NULL for --set */
  int line;                    /* 0 for --set */
} entry;

/* The entries of one INI file (the device file plus --set, or a material). */
typedef struct table {
  entry *e;
  size_t n, cap;
  char path[NIMC_PATH_MAX];
  nimc_err *err;
  const char *buf; /* the file's text (nimc_file_slurp) while it is parsed */
  size_t len, pos;
  int line;      /* lines read so far: the current line inside the handler */
  int indented;  /* the current line starts with a blank */
  int long_line; /* first line too long for libinih's buffer, 0 = none */
  int maxlen;
  int rc, fail_line; /* first error the handler reported and its line */
} table;

/* What nimc_device_param looks for: one key of one section, and what the
 * loader made of it (its SI unit and value, from the file, the material,
 * an override or the default), so that the value a fit starts from is
 * exactly the one the simulation would use. */
typedef struct probe {
  const char *sec, *key;
  int found;     /* 0 not read, 1 a number, -1 a table or a built-in */
  double value;  /* SI */
  char si[32];   /* the SI unit the loader converts it to */
} probe;

typedef struct loader {
  nimc_err *err;
  table dev;    /* the device file and the overrides */
  table mat[3]; /* anode, cathode and electrolyte material files */
  probe *probe; /* nimc_device_param's question, or NULL */
} loader;

/* Start an empty table for the file at path. */
static int table_init(table *t, const char *path, nimc_err *err) {
  memset(t, 0, sizeof *t);
  t->err = err;
  if (strlen(path) >= sizeof t->path)
    return nimc_err_set(err, NIMC_EINPUT, "%.64s...: path too long", path);
  strcpy(t->path, path);
  return NIMC_OK;
}

static void table_free(table *t) {
  for (size_t i = 0; i < t->n; i++)
    free(t->e[i].section);
  free(t->e);
  t->e = NULL;
  t->n = t->cap = 0;
}

static entry *find(const table *t, const char *sec, const char *key) {
  for (size_t i = 0; i < t->n; i++)
    if (!strcmp(t->e[i].section, sec) && !strcmp(t->e[i].key, key))
      return &t->e[i];
  return NULL;
}

/* Point e at fresh copies of sec, key and val (one block); 0 or -1. */
static int entry_fill(entry *e, const char *sec, const char *key,
                      const char *val) {
  size_t ls = strlen(sec) + 1, lk = strlen(key) + 1, lv = strlen(val) + 1;
  char *b = malloc(ls + lk + lv);
  if (!b) return -1;
  memcpy(b, sec, ls);
  memcpy(b + ls, key, lk);
  memcpy(b + ls + lk, val, lv);
  e->section = b;
  e->key = b + ls;
  e->value = b + ls + lk;
  return 0;
}

/* Append an entry read at line (0 = from --set); NIMC_ENOMEM on failure. */
static int add(table *t, const char *sec, const char *key, const char *val,
               int line) {
  if (t->n == t->cap) {
    size_t cap = t->cap ? 2 * t->cap : 32;
    entry *e = realloc(t->e, cap * sizeof *e);
    if (!e) return nimc_err_set(t->err, NIMC_ENOMEM, "out of memory");
    t->e = e;
    t->cap = cap;
  }
  entry *e = &t->e[t->n];
  if (entry_fill(e, sec, key, val))
    return nimc_err_set(t->err, NIMC_ENOMEM, "out of memory");
  e->file = line ? t->path : NULL;
  e->line = line;
  t->n++;
  return NIMC_OK;
}

/* libinih's line source: the next line of the text in memory (like
 * fgets), counting lines, and refusing (ending the parse at) a line longer
 * than the parser's buffer instead of splitting it into two lines.  The
 * text has no NUL byte (read_ini checked), so strlen sees all of a line. */
static char *read_line(char *str, int num, void *stream) {
  table *t = stream;
  if (t->long_line || t->pos >= t->len || num < 2) return NULL;
  size_t n = 0, cap = (size_t)num - 1;
  while (n < cap && t->pos < t->len) {
    char c = t->buf[t->pos++];
    str[n++] = c;
    if (c == '\n') break;
  }
  str[n] = '\0';
  t->line++;
  t->indented = *str == ' ' || *str == '\t';
  if (n == cap && str[n - 1] != '\n' && t->pos < t->len) {
    if (t->buf[t->pos] != '\n') {
      t->long_line = t->line;
      t->maxlen = num - 2;
      return NULL;
    }
    t->pos++; /* the line's own newline, just past the buffer */
  }
  return str;
}

/* libinih's handler: one call per key = value line. */
static int on_pair(void *user, const char *sec, const char *key,
                   const char *val) {
  table *t = user;
  if (t->rc) return 0;
  const entry *old = find(t, sec, key);
  if (!*sec)
    t->rc = nimc_err_set(t->err, NIMC_EINPUT,
                         "%s:%d: %s: key outside any [section]", t->path,
                         t->line, key);
  else if (old && t->indented)
    t->rc = nimc_err_set(t->err, NIMC_EINPUT,
                         "%s:%d: [%s] %s: an indented line continues the "
                         "value of the key above; remove the indentation",
                         t->path, t->line, sec, key);
  else if (old)
    t->rc = nimc_err_set(t->err, NIMC_EINPUT,
                         "%s:%d: [%s] %s: duplicate key (first given at line "
                         "%d)",
                         t->path, t->line, sec, key, old->line);
  else
    t->rc = add(t, sec, key, val ? val : "", t->line);
  if (t->rc) t->fail_line = t->line;
  return !t->rc;
}

/* Parse the INI text buf (len bytes, read from t->path) into t. */
static int read_ini(table *t, const char *buf, size_t len) {
  size_t nul = nimc_nul_line(buf, len);
  if (nul)
    return nimc_err_set(t->err, NIMC_EINPUT,
                        "%s:%zu: a NUL byte (not a text file?)", t->path, nul);
  t->buf = buf;
  t->len = len;
  t->pos = 0;
  int rc = ini_parse_stream(read_line, t, on_pair, t);
  t->buf = NULL;
  if (rc > 0 && (!t->rc || rc < t->fail_line))
    return nimc_err_set(t->err, NIMC_EINPUT,
                        "%s:%d: syntax error: expected '[section]' or "
                        "'key = value'",
                        t->path, rc);
  if (t->rc) return t->rc;
  if (rc < 0) return nimc_err_set(t->err, NIMC_ENOMEM, "out of memory");
  if (t->long_line)
    return nimc_err_set(t->err, NIMC_EINPUT,
                        "%s:%d: line too long (at most %d characters)", t->path,
                        t->long_line, t->maxlen);
  return NIMC_OK;
}

/* Copy [s, s+n) without surrounding blanks into buf of len; 0 or -1. */
static int span_copy(char *buf, size_t len, const char *s, size_t n) {
  while (n > 0 && isspace((unsigned char)*s))
    s++, n--;
  while (n > 0 && isspace((unsigned char)s[n - 1]))
    n--;
  if (n >= len) return -1;
  memcpy(buf, s, n);
  buf[n] = '\0';
  return 0;
}

/* Apply "section.key=value" overrides: replace or add entries. */
static int apply_sets(loader *L, const char *const *sets, size_t nsets) {
  for (size_t i = 0; i < nsets; i++) {
    const char *s = sets[i] ? sets[i] : "";
    const char *eq = strchr(s, '='), *dot = strchr(s, '.');
    char sec[NIMC_NAME_MAX], key[NIMC_NAME_MAX], val[NIMC_PATH_MAX];
    if (!eq || !dot || dot > eq ||
        span_copy(sec, sizeof sec, s, (size_t)(dot - s)) ||
        span_copy(key, sizeof key, dot + 1, (size_t)(eq - dot - 1)) ||
        span_copy(val, sizeof val, eq + 1, strlen(eq + 1)) || !*sec || !*key)
      return nimc_err_set(L->err, NIMC_EINPUT,
                          "--set '%s': expected section.key=value (for "
                          "example anode.thickness=10um)",
                          s);
    entry *e = find(&L->dev, sec, key);
    if (!e) {
      TRY(add(&L->dev, sec, key, val, 0));
      continue;
    }
    char *old = e->section;
    if (entry_fill(e, sec, key, val))
      return nimc_err_set(L->err, NIMC_ENOMEM, "out of memory");
    free(old);
    e->file = NULL;
    e->line = 0;
  }
  return NIMC_OK;
}

/* ---- phase 2: the schema ---------------------------------------------- */

static const char *const sections[] = {
    "device", "anode", "separator", "cathode", "electrolyte", "geometry",
    "cover",  "mesh",  "solver",    "led",     "pack",        NULL};
static const char *const electrolyte_models[] = {"binary", "ternary", NULL};

/* Material kinds; the first three are also the electrode kinds, in the
 * order of nimc_electrode_kind. */
enum { INTERCALATION, CAPACITIVE, HYBRID, ELECTROLYTE };
static const char *const kinds[] = {"intercalation", "capacitive", "hybrid",
                                    "electrolyte", NULL};
static const char *const electrode_kinds[] = {"intercalation", "capacitive",
                                              "hybrid", NULL};
static const char *const shapes[] = {"slab", "cylinder", "sphere", NULL};
static const char *const geometries[] = {"stack", "interdigitated", NULL};
static const char *const arrays[] = {"symmetry", "edge", "full",
                                     NULL}; /* nimc_array */

/* Upper bounds of the counts: cells of one segment of the mesh (a layer,
 * a finger, a gap), shells of a particle or a micropore, fingers of an
 * array.  The shipped devices use at most 160; the mesh bounds the total
 * too (mesh/mesh.c). */
#define NIMC_MAX_AXIS_CELLS 1000
#define NIMC_MAX_FINGERS 1000

/* Allowed ranges of numbers. */
enum { ANY, POS, NONNEG, FRAC, UNIT, GE1, RTOL, FRAC1 };
static const struct {
  double lo, hi;
  int lo_in, hi_in;
  const char *text;
} ranges[] = {
    [ANY] = {-INFINITY, INFINITY, 1, 1, "must be finite"},
    [POS] = {0, INFINITY, 0, 0, "must be positive"},
    [NONNEG] = {0, INFINITY, 1, 0, "must be >= 0"},
    [FRAC] = {0, 1, 0, 0, "must be strictly between 0 and 1"},
    [UNIT] = {0, 1, 1, 1, "must be between 0 and 1"},
    [GE1] = {1, INFINITY, 1, 0, "must be >= 1"},
    [RTOL] = {0, 0.1, 0, 0, "must be strictly between 0 and 0.1"},
    [FRAC1] = {0, 1, 0, 1, "must be in (0, 1]"},
};

/* Plausibility bounds (SI) on top of the ranges above: a value outside is
 * a typing error or a unit slip ("1 km" for "1 um"), never a device nimc
 * can say anything about.  The first row whose key (NULL: any key) and SI
 * unit match applies; a unit with no row has no bound beyond finiteness.
 * docs/device-files.md lists them: keep the two in step. */
static const struct bound {
  const char *key, *si;
  double lo, hi;
  const char *text;
} bounds[] = {
    {"ideality", "1", 1.0, 20.0, "1 to 20"},
    {"forward_voltage", "V", 0.1, 10.0, "0.1 V to 10 V"},
    {"forward_current", "A", 1e-9, 10.0, "1 nA to 10 A"},
    {"thickness", "m", 1e-9, 1e-2, "1 nm to 10 mm"},
    {"gel_thickness", "m", 1e-9, 1e-2, "1 nm to 10 mm"},
    {"normalisation_thickness", "m", 1e-9, 1e-2, "1 nm to 10 mm"},
    {"particle_radius", "m", 1e-10, 1e-3, "0.1 nm to 1 mm"},
    {"finger_length", "m", 1e-7, 1.0, "0.1 um to 1 m"},
    {"finger_width", "m", 1e-7, 0.1, "0.1 um to 10 cm"},
    {"gap", "m", 1e-7, 0.1, "0.1 um to 10 cm"},
    {NULL, "m", 1e-10, 1.0, "0.1 nm to 1 m"},
    {"area", "m2", 1e-12, 10.0, "1 um2 to 10 m2"},
    {"temperature", "K", 150.0, 600.0,
     "150 K to 600 K (-123 degC to 327 degC)"},
    {"reference_temperature", "K", 150.0, 600.0,
     "150 K to 600 K (-123 degC to 327 degC)"},
    {NULL, "K", 0.0, 1e5, "0 K to 1e5 K"},
    {NULL, "V", -10.0, 10.0, "-10 V to 10 V"},
    {NULL, "S/m", 0.0, 1e8, "up to 1e8 S/m"},
    {NULL, "m2/s", 0.0, 1e-2, "up to 1e-2 m2/s"},
    {NULL, "m/s", 0.0, 1.0, "up to 1 m/s"},
    {NULL, "mol/m3", 0.0, 1e6, "up to 1e6 mol/m3 (1000 mol/L)"},
    {NULL, "J/mol", 0.0, 1e6, "up to 1e6 J/mol"},
    {NULL, "F/m2", 0.0, 100.0, "up to 100 F/m2 (10 mF/cm2)"},
    {NULL, "F/m3", 0.0, 1e12, "up to 1e12 F/m3 (1e6 F/cm3)"},
    {NULL, "F/kg", 0.0, 1e7, "up to 1e7 F/kg (1e4 F/g)"},
    {NULL, "m2/kg", 0.0, 1e7, "up to 1e7 m2/kg (1e4 m2/g)"},
    {NULL, "kg/m3", 0.0, 1e5, "up to 1e5 kg/m3"},
    {NULL, "ohm.m2", 0.0, 1e6, "up to 1e6 ohm m2"},
    {"shunt_resistance", "ohm", 0.0, 1e15, "0 (none) or 1 ohm to 1e15 ohm"},
    {NULL, "ohm", 0.0, 1e12, "up to 1e12 ohm"},
    {NULL, "A/m3", 0.0, 1e12, "up to 1e12 A/m3"},
    {"max_current", "A", 0.0, 1e3, "up to 1 kA"},
    {"max_current", "A/m2", 0.0, 1e5, "up to 1e5 A/m2 (10 A/cm2)"},
    {NULL, "s", 0.0, 1e9, "up to 1e9 s (about 32 years)"},
    {NULL, "1/V2", 0.0, 1e6, "up to 1e6 1/V2"},
    {"bruggeman", "1", 0.0, 10.0, "up to 10"},
    {"solid_bruggeman", "1", 0.0, 10.0, "up to 10"},
    {"gel_bruggeman", "1", 0.0, 10.0, "up to 10"},
    {NULL, "1", -1e6, 1e6, "-1e6 to 1e6"},
};

/* The bound for key in unit si, or NULL. */
static const struct bound *bound_for(const char *key, const char *si) {
  for (size_t i = 0; i < sizeof bounds / sizeof bounds[0]; i++)
    if ((!bounds[i].key || !strcmp(bounds[i].key, key)) &&
        !strcmp(bounds[i].si, si))
      return &bounds[i];
  return NULL;
}

/* ---- the keys of the device's own sections ----
 *
 * One table per section lists every key it accepts, how its value is read
 * and where it goes.  The table drives the check for unknown keys (with
 * the suggestion of a near one), the reading and range checks of plain
 * numbers and whole numbers, and the documentation's key lists
 * (nimc_device_section_key; tests/test_device.c holds
 * docs/device-files.md to it).  A key whose reading depends on others (a
 * choice, a string, a value required only with another) is read by its
 * section's own code and listed as KEY_CODE.  A plain key is one row. */
typedef enum key_how { KEY_NUM, KEY_INT, KEY_CODE } key_how;
typedef struct key_def {
  const char *key;
  key_how how;
  const char *unit;    /* KEY_NUM: the SI unit its value converts to */
  int range;           /* KEY_NUM: a row of ranges[] */
  long lo, hi;         /* KEY_INT: the bounds */
  size_t off;          /* KEY_NUM, KEY_INT: the field in nimc_device
                          (a double, an int) */
  const char *example; /* the example of a required key; NULL: optional */
  int mat;             /* a key of the material file, which the section may
                          override */
} key_def;

#define KNUM(k, u, r, field, ex)                                               \
  {k, KEY_NUM, u, r, 0, 0, offsetof(nimc_device, field), ex, 0}
#define KINT(k, lo, hi, field, ex)                                             \
  {k, KEY_INT, NULL, 0, lo, hi, offsetof(nimc_device, field), ex, 0}
#define KCODE(k) {k, KEY_CODE, NULL, 0, 0, 0, 0, NULL, 0}
#define KEND {NULL, KEY_CODE, NULL, 0, 0, 0, 0, NULL, 0}
/* an electrode's keys: fields of nimc_electrode_params; of the section
 * (E) or of the material (M) */
#define ENUM(k, u, r, field, ex)                                               \
  {k, KEY_NUM, u, r, 0, 0, offsetof(nimc_electrode_params, field), ex, 0}
#define MNUM(k, u, r, field, ex)                                               \
  {k, KEY_NUM, u, r, 0, 0, offsetof(nimc_electrode_params, field), ex, 1}
#define MCODE(k) {k, KEY_CODE, NULL, 0, 0, 0, 0, NULL, 1}

static const key_def device_keys[] = {
    KCODE("name"),
    KCODE("geometry"),
    KCODE("area"), /* required for a stack only */
    KNUM("temperature", "K", POS, temperature_K, NULL),
    KNUM("contact_resistance", "ohm", NONNEG, contact_resistance_ohm, NULL),
    KCODE("shunt_resistance"), /* 0: none; below 1 ohm refused */
    KCODE("initial_voltage"), /* whether given matters */
    KNUM("normalisation_thickness", "m", POS, norm_thickness_m, NULL),
    KNUM("nominal_capacity", "C", POS, nominal_capacity_C, NULL),
    KCODE("min_voltage"), /* the window: window_keys */
    KCODE("max_voltage"),
    KCODE("max_current"),
    KEND};
static const key_def separator_keys[] = {
    KNUM("thickness", "m", POS, separator.thickness_m,
         "a length such as '30 um'"),
    KNUM("porosity", "1", FRAC, separator.porosity,
         "a number in (0, 1) such as 0.8"),
    KNUM("bruggeman", "1", NONNEG, separator.bruggeman, NULL),
    KEND};
static const key_def geometry_keys[] = {
    KINT("fingers_per_electrode", 1, NIMC_MAX_FINGERS,
         idg.fingers_per_electrode, "a whole number such as 4"),
    KNUM("finger_length", "m", POS, idg.finger_length_m,
         "a length such as '14 mm'"),
    KNUM("finger_width", "m", POS, idg.finger_width_m,
         "a length such as '1 mm'"),
    KNUM("gap", "m", POS, idg.gap_m, "a length such as '0.5 mm'"),
    KNUM("gel_thickness", "m", POS, idg.gel_thickness_m,
         "a length such as '300 um'"),
    KNUM("gel_porosity", "1", FRAC1, idg.gel_porosity, NULL),
    KNUM("gel_bruggeman", "1", NONNEG, idg.gel_bruggeman, NULL),
    KNUM("collector_sheet_resistance", "ohm", NONNEG, idg.collector_sheet_ohm,
         NULL),
    KEND};
static const key_def cover_keys[] = {
    KCODE("enabled"),
    KCODE("thickness"), /* required when enabled */
    KCODE("porosity"),
    KNUM("bruggeman", "1", NONNEG, idg.cover_bruggeman, NULL),
    KEND};
/* One table for both geometries: each ignores the other's keys, so that
 * one [mesh] section serves a device whatever its geometry. */
static const key_def mesh_keys[] = {
    KINT("anode_cells", 1, NIMC_MAX_AXIS_CELLS, mesh.anode_cells, NULL),
    KINT("separator_cells", 1, NIMC_MAX_AXIS_CELLS, mesh.separator_cells,
         NULL),
    KINT("cathode_cells", 1, NIMC_MAX_AXIS_CELLS, mesh.cathode_cells, NULL),
    KINT("particle_shells", 2, NIMC_MAX_AXIS_CELLS, mesh.particle_shells,
         NULL),
    KINT("micropore_shells", 1, NIMC_MAX_AXIS_CELLS, mesh.micropore_shells,
         NULL),
    KNUM("grading", "1", GE1, mesh.grading, NULL),
    KNUM("particle_grading", "1", GE1, mesh.particle_grading, NULL),
    KINT("finger_cells_x", 1, NIMC_MAX_AXIS_CELLS, idg.finger_cells_x, NULL),
    KINT("gap_cells_x", 1, NIMC_MAX_AXIS_CELLS, idg.gap_cells_x, NULL),
    KINT("electrode_cells_z", 1, NIMC_MAX_AXIS_CELLS, idg.electrode_cells_z,
         NULL),
    KINT("gel_cells_z", 1, NIMC_MAX_AXIS_CELLS, idg.gel_cells_z, NULL),
    KINT("cover_cells_z", 1, NIMC_MAX_AXIS_CELLS, idg.cover_cells_z, NULL),
    KNUM("grading_x", "1", GE1, idg.grading_x, NULL),
    KNUM("grading_z", "1", GE1, idg.grading_z, NULL),
    KCODE("array"),
    KEND};
static const key_def solver_keys[] = {
    KNUM("rtol", "1", RTOL, solver.rtol, NULL),
    KNUM("atol_scale", "1", POS, solver.atol_scale, NULL), KEND};
static const key_def led_keys[] = {
    KNUM("forward_voltage", "V", POS, led.forward_voltage_V,
         "the voltage at forward_current, such as '1.8 V'"),
    KNUM("forward_current", "A", POS, led.forward_current_A,
         "the current at forward_voltage, such as '1 mA'"),
    KNUM("ideality", "1", GE1, led.ideality, NULL),
    KNUM("series_resistance", "ohm", NONNEG, led.series_resistance_ohm, NULL),
    KEND};
static const key_def pack_keys[] = {
    KINT("series", 1, NIMC_PACK_MAX_CELLS, pack.series, NULL),
    KINT("parallel", 1, NIMC_PACK_MAX_CELLS, pack.parallel, NULL),
    KCODE("spread"),
    KINT("seed", 0, INT_MAX, pack.seed, NULL),
    KEND};

/* [anode] and [cathode]: the keys of every electrode, and those of an
 * intercalation (or hybrid) and of a capacitive (or hybrid) one. */
static const key_def electrode_keys[] = {
    KCODE("material"),
    KCODE("kind"),
    ENUM("thickness", "m", POS, thickness_m, "a length such as '5 um'"),
    ENUM("porosity", "1", FRAC, porosity, "a number in (0, 1) such as 0.45"),
    ENUM("bruggeman", "1", NONNEG, bruggeman, NULL),
    ENUM("conductivity", "S/m", POS, conductivity_S_m,
         "a conductivity such as '100 S/cm'"),
    /* 0: the conductivity is the film's own, as measured; b > 0: it is
     * the solid's, corrected by (1 - porosity)^b */
    ENUM("solid_bruggeman", "1", NONNEG, solid_bruggeman, NULL),
    KCODE("leakage_current"),   /* whether given matters */
    KCODE("leakage_potential"), /* required with a leakage current */
    ENUM("leakage_tafel_n", "1", POS, leak_n, NULL),
    KEND};
static const key_def intercalation_keys[] = {
    KCODE("active_fraction"), /* at most 1 - porosity */
    /* optional: the basis of currents per mass (A/g) */
    ENUM("active_density", "kg/m3", POS, active_density_kg_m3, NULL),
    ENUM("particle_radius", "m", POS, particle_radius_m,
         "a length such as '4 nm'"),
    KCODE("particle_shape"),
    ENUM("double_layer_capacitance", "F/m2", NONNEG, cdl_F_m2, NULL),
    ENUM("film_resistance", "ohm.m2", NONNEG, film_ohm_m2, NULL),
    KEND};
static const key_def capacitive_keys[] = {
    KCODE("active_density"),         /* required without the next */
    KCODE("volumetric_capacitance"), /* else specific x density */
    KCODE("initial_potential"),      /* refused, with the reason */
    KEND};
/* Ageing (docs/model.md): the electrolyte's decomposition on an electrode
 * material's surface, in a material file of either kind (side()). */
static const key_def material_side[] = {
    MCODE("side_reaction_current"),
    MCODE("side_reaction_current_activation_energy"),
    MCODE("side_reaction_current_vtf_B"),
    MCODE("side_reaction_current_vtf_T0"),
    MCODE("side_reaction_potential"),
    MCODE("side_reaction_trapping"),
    MCODE("side_reaction_trapping_activation_energy"),
    MCODE("side_reaction_trapping_vtf_B"),
    MCODE("side_reaction_trapping_vtf_T0"),
    MNUM("side_reaction_alpha", "1", FRAC, sr_alpha, NULL),
    MNUM("side_reaction_blocking_charge", "C/m2", POS, sr_block_C_m2, NULL),
    MNUM("side_reaction_film_resistance", "ohm.m4/C", NONNEG, sr_film_ohm_m4_C,
         NULL),
    KEND};
/* Material files: the head of every one, the part of it a section may
 * override, and the keys of each kind. */
static const key_def material_head[] = {MCODE("name"), MCODE("kind"),
                                        MCODE("reference_temperature"), KEND};
static const key_def material_over[] = {MCODE("name"),
                                        MCODE("reference_temperature"), KEND};
static const key_def material_intercalation[] = {
    MNUM("max_concentration", "mol/m3", POS, c_max_mol_m3,
         "a concentration such as '22770 mol/m3'"),
    MNUM("initial_stoichiometry", "1", FRAC, theta0,
         "a number in (0, 1) such as 0.01"),
    MCODE("ocp"),
    MCODE("diffusivity"),
    MCODE("diffusivity_activation_energy"),
    MCODE("diffusivity_vtf_B"),
    MCODE("diffusivity_vtf_T0"),
    MCODE("rate_constant"),
    MCODE("rate_constant_activation_energy"),
    MCODE("rate_constant_vtf_B"),
    MCODE("rate_constant_vtf_T0"),
    MNUM("alpha_a", "1", FRAC, alpha_a, NULL),
    MNUM("alpha_c", "1", FRAC, alpha_c, NULL),
    MNUM("reference_concentration", "mol/m3", POS, c_ref_mol_m3, NULL),
    KEND};
static const key_def material_capacitive[] = {
    MCODE("specific_capacitance"),
    MCODE("bet_area"),
    MCODE("areal_capacitance"),
    MCODE("micropore_capacitance_fraction"),
    MCODE("micropore_time_constant"),
    MCODE("pzc"),
    MNUM("capacitance_curvature", "1/V2", NONNEG, cap_k2_per_V2, NULL),
    MCODE("capacitance_shape"),
    MCODE("dl_cation_fraction"),
    MCODE("slow_capacitance_fraction"),
    MCODE("slow_time_constant"),
    KEND};
/* [electrolyte] and its material: every value a law or a choice, read by
 * electrolyte() */
static const key_def electrolyte_keys[] = {
    KCODE("material"), KCODE("initial_concentration"), KEND};
static const key_def material_electrolyte[] = {
    MCODE("concentration"),
    MCODE("conductivity"),
    MCODE("conductivity_activation_energy"),
    MCODE("conductivity_vtf_B"),
    MCODE("conductivity_vtf_T0"),
    MCODE("diffusivity"),
    MCODE("diffusivity_activation_energy"),
    MCODE("diffusivity_vtf_B"),
    MCODE("diffusivity_vtf_T0"),
    MCODE("transference_number"),
    MCODE("thermodynamic_factor"),
    MCODE("model"),
    MCODE("ionic_liquid_concentration"),
    MCODE("ionic_liquid_cation_diffusivity"),
    MCODE("ionic_liquid_cation_diffusivity_activation_energy"),
    MCODE("ionic_liquid_cation_diffusivity_vtf_B"),
    MCODE("ionic_liquid_cation_diffusivity_vtf_T0"),
    MCODE("anion_diffusivity"),
    MCODE("anion_diffusivity_activation_energy"),
    MCODE("anion_diffusivity_vtf_B"),
    MCODE("anion_diffusivity_vtf_T0"),
    KEND};

/* Every section and its tables (a section may take the keys of several:
 * an electrode those of every kind, a material file those of its kind). */
#define MAXT 5
static const struct {
  const char *section;
  const key_def *keys[MAXT + 1]; /* NULL-terminated */
} section_keys[] = {
    {"device", {device_keys}},
    {"separator", {separator_keys}},
    {"geometry", {geometry_keys}},
    {"cover", {cover_keys}},
    {"mesh", {mesh_keys}},
    {"solver", {solver_keys}},
    {"led", {led_keys}},
    {"pack", {pack_keys}},
    {"anode", {electrode_keys, intercalation_keys, capacitive_keys}},
    {"cathode", {electrode_keys, intercalation_keys, capacitive_keys}},
    {"electrolyte", {electrolyte_keys}},
    {"material",
     {material_head, material_intercalation, material_capacitive,
      material_side, material_electrolyte}},
};

/* Is key a row of one of the tables before table t of tabs? */
static int key_seen(const key_def *const *tabs, size_t t, size_t row,
                    const char *key) {
  for (size_t i = 0; i <= t; i++)
    for (size_t j = 0; tabs[i][j].key && (i < t || j < row); j++)
      if (!strcmp(tabs[i][j].key, key)) return 1;
  return 0;
}

const char *nimc_device_section_key(const char *section, size_t k,
                                    int *of_material) {
  for (size_t i = 0; i < sizeof section_keys / sizeof section_keys[0]; i++) {
    if (strcmp(section, section_keys[i].section)) continue;
    const key_def *const *tabs = section_keys[i].keys;
    size_t n = 0;
    for (size_t t = 0; tabs[t]; t++)
      for (size_t j = 0; tabs[t][j].key; j++) {
        if (key_seen(tabs, t, j, tabs[t][j].key)) continue;
        if (n++ == k) {
          if (of_material) *of_material = tabs[t][j].mat;
          return tabs[t][j].key;
        }
      }
    return NULL;
  }
  return NULL;
}

static int in_range(double v, int r) {
  if (!isfinite(v)) return 0;
  return (ranges[r].lo_in ? v >= ranges[r].lo : v > ranges[r].lo) &&
         (ranges[r].hi_in ? v <= ranges[r].hi : v < ranges[r].hi);
}

static int in_list(const char *s, const char *const *list) {
  for (; *list; list++)
    if (!strcmp(s, *list)) return 1;
  return 0;
}

/* Append the words of list to buf, comma-separated, ending in "..." when
 * buf is full. */
static void join(char *buf, size_t len, const char *const *list) {
  for (; *list; list++) {
    size_t n = strlen(buf);
    if (n >= 3 && !strcmp(buf + n - 3, "...")) return;
    if (n + strlen(*list) + 8 > len) {
      snprintf(buf + n, len - n, "%s...", n ? ", " : "");
      return;
    }
    snprintf(buf + n, len - n, "%s%s", n ? ", " : "", *list);
  }
}

/* Edit distance of a and b (for "did you mean"); large for long words. */
static size_t distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b), row[64];
  if (la >= 64 || lb >= 64) return SIZE_MAX;
  for (size_t j = 0; j <= lb; j++)
    row[j] = j;
  for (size_t i = 1; i <= la; i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= lb; j++) {
      size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
      if (up + 1 < best) best = up + 1;
      if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
      diag = up;
      row[j] = best;
    }
  }
  return row[lb];
}

/* Report what is wrong with the value of e; returns NIMC_EINPUT. */
static int bad(const loader *L, const entry *e, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static int bad(const loader *L, const entry *e, const char *fmt, ...) {
  char why[NIMC_ERRMSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  if (e->line)
    return nimc_err_set(L->err, NIMC_EINPUT, "%s:%d: [%s] %s: %s", e->file,
                        e->line, e->section, e->key, why);
  return nimc_err_set(L->err, NIMC_EINPUT, "--set %s.%s: %s", e->section,
                      e->key, why);
}

/* Every section of the device file must be one of sections[]. */
static int check_sections(const loader *L) {
  for (size_t i = 0; i < L->dev.n; i++)
    if (!in_list(L->dev.e[i].section, sections)) {
      char known[512] = "";
      join(known, sizeof known, sections);
      return bad(L, &L->dev.e[i], "unknown section [%s] (known: %s)",
                 L->dev.e[i].section, known);
    }
  return NIMC_OK;
}

/* Every key of section sec of t must be a row of one of the tables (a
 * NULL-terminated array of key tables). */
static int check_keys(const loader *L, const table *t, const char *sec,
                      const key_def *const *tabs) {
  for (size_t i = 0; i < t->n; i++) {
    const entry *e = &t->e[i];
    if (strcmp(e->section, sec)) continue;
    int ok = 0;
    for (size_t j = 0; tabs[j] && !ok; j++)
      for (size_t r = 0; tabs[j][r].key && !ok; r++)
        ok = !strcmp(e->key, tabs[j][r].key);
    if (ok) continue;
    char known[NIMC_ERRMSG_MAX / 2] = "";
    const char *near = NULL;
    size_t best = 3; /* suggest only close misspellings */
    for (size_t j = 0; tabs[j]; j++)
      for (size_t r = 0; tabs[j][r].key; r++) {
        const char *k = tabs[j][r].key;
        if (key_seen(tabs, j, r, k)) continue;
        const char *one[2] = {k, NULL};
        join(known, sizeof known, one);
        size_t dist = distance(e->key, k);
        if (dist < best) best = dist, near = k;
      }
    if (near)
      return bad(L, e, "unknown key (did you mean '%s'? known: %s)", near,
                 known);
    return bad(L, e, "unknown key (known: %s)", known);
  }
  return NIMC_OK;
}

/* Where a section's values come from: the device section and, for the
 * keys of a material, the material file it references (overridden by the
 * section). */
typedef struct scope {
  const loader *L;
  const char *sec;
  const table *mat; /* NULL: the device section only */
} scope;

static const entry *look(const scope *s, const char *key) {
  const entry *e = find(&s->L->dev, s->sec, key);
  if (!e && s->mat) e = find(s->mat, "material", key);
  return e;
}

/* Report that a required key is absent. */
static int missing(const scope *s, const char *key, const char *example) {
  if (s->mat)
    return nimc_err_set(s->L->err, NIMC_EINPUT,
                        "%s: [material] %s: missing (required, %s; or give "
                        "it in [%s] of %s)",
                        s->mat->path, key, example, s->sec, s->L->dev.path);
  return nimc_err_set(s->L->err, NIMC_EINPUT,
                      "%s: [%s] %s: missing (required, %s)", s->L->dev.path,
                      s->sec, key, example);
}

/* Convert the value of e to unit si and check it against range rng. */
static int parse_num(const loader *L, const entry *e, const char *si, int rng,
                     double *out) {
  char why[512];
  double v;
  if (nimc_units_parse(e->value, si, &v, why, sizeof why))
    return bad(L, e, "%s", why);
  if (!in_range(v, rng))
    return bad(L, e, "%s, got '%s'", ranges[rng].text, e->value);
  const struct bound *b = bound_for(e->key, si);
  if (b && !(v >= b->lo && v <= b->hi))
    return bad(L, e, "'%s' is outside the plausible range %s", e->value,
               b->text);
  *out = v;
  return NIMC_OK;
}

/* Tell the probe, when it asks for key of s's section, what was read:
 * found 1 (value in unit si) or -1 (not a number). */
static void probe_note(const scope *s, const char *key, const char *si,
                       int found, double value) {
  probe *p = s->L->probe;
  if (!p || strcmp(p->sec, s->sec) || strcmp(p->key, key)) return;
  p->found = found;
  p->value = value;
  snprintf(p->si, sizeof p->si, "%s", si);
}

/* Read key as a quantity in unit si within rng into *out.  Returns 1 when
 * read, 0 when absent and optional (example NULL; *out keeps its default),
 * < 0 on error. */
static int get_num(const scope *s, const char *key, const char *si, int rng,
                   const char *example, double *out) {
  const entry *e = look(s, key);
  if (!e && example) return missing(s, key, example);
  if (e) TRY(parse_num(s->L, e, si, rng, out));
  probe_note(s, key, si, 1, *out);
  return e ? 1 : 0;
}

/* Read key as an integer from min to max (required unless example is
 * NULL); 1, 0 or < 0. */
static int get_int(const scope *s, const char *key, long min, long max,
                   const char *example, int *out) {
  const entry *e = look(s, key);
  if (!e) return example ? missing(s, key, example) : 0;
  char *end;
  errno = 0;
  long v = strtol(e->value, &end, 10);
  while (isspace((unsigned char)*end))
    end++;
  if (end == e->value || *end || errno || v < min || v > max)
    return bad(s->L, e, "must be a whole number from %ld to %ld, got '%s'", min,
               max, e->value);
  *out = (int)v;
  return 1;
}

/* Read key as a string (surrounding double quotes removed) into buf of
 * len; *where (may be NULL) gets its entry.  1, 0 (absent, optional) or
 * < 0. */
static int get_str(const scope *s, const char *key, const char *example,
                   char *buf, size_t len, const entry **where) {
  const entry *e = look(s, key);
  if (!e) return example ? missing(s, key, example) : 0;
  const char *v = e->value;
  size_t n = strlen(v);
  if (n >= 2 && v[0] == '"' && v[n - 1] == '"') v++, n -= 2;
  if (n == 0) return bad(s->L, e, "empty value");
  if (n >= len) return bad(s->L, e, "longer than %zu characters", len - 1);
  memcpy(buf, v, n);
  buf[n] = '\0';
  if (where) *where = e;
  return 1;
}

/* Read key as a boolean: true/false, yes/no, on/off or 1/0, in any case.
 * 1 or 0 (absent: *out untouched) or < 0. */
static int get_bool(const scope *s, const char *key, int *out) {
  static const char *const words[] = {"false", "true", "no", "yes",
                                      "off",   "on",   "0",  "1"};
  const entry *e = look(s, key);
  if (!e) return 0;
  for (int i = 0; i < 8; i++)
    if (!strcasecmp(e->value, words[i])) {
      *out = i % 2;
      return 1;
    }
  return bad(s->L, e,
             "must be true or false (or yes/no, on/off, 1/0), got '%s'",
             e->value);
}

/* Read key as one of the words of choices; *out gets its index.  1 or 0
 * (absent: *out untouched) or < 0. */
static int get_choice(const scope *s, const char *key,
                      const char *const *choices, int *out) {
  const entry *e = look(s, key);
  if (!e) return 0;
  for (int i = 0; choices[i]; i++)
    if (!strcmp(e->value, choices[i])) {
      *out = i;
      return 1;
    }
  char known[256] = "";
  join(known, sizeof known, choices);
  return bad(s->L, e, "unknown value '%s' (choices: %s)", e->value, known);
}

/* Every key of section sec must be a row of its table. */
static int check_defs(const loader *L, const char *sec, const key_def *defs) {
  const key_def *tabs[] = {defs, NULL};
  return check_keys(L, &L->dev, sec, tabs);
}

/* Read the plain keys (KEY_NUM, KEY_INT) of a table into the struct at
 * base, in the table's order: a section's from s, a material's from ms
 * (which looks in the section first); the others are the section's own
 * code's. */
static int read_keys(const scope *s, const scope *ms, const key_def *defs,
                     void *base) {
  for (const key_def *k = defs; k->key; k++) {
    const scope *from = k->mat ? ms : s;
    void *field = (char *)base + k->off;
    if (k->how == KEY_NUM)
      TRY(get_num(from, k->key, k->unit, k->range, k->example, field));
    else if (k->how == KEY_INT)
      TRY(get_int(from, k->key, k->lo, k->hi, k->example, field));
  }
  return NIMC_OK;
}

/* The same for a section of the device's own (no material). */
static int read_defs(const scope *s, const key_def *defs, nimc_device *d) {
  return read_keys(s, s, defs, d);
}

/* Where a material or table path that is not next to the file naming it
 * is looked for: the installed material directory, then the source
 * tree's (a build used where it was built); CMakeLists.txt sets both. */
#ifndef NIMC_MATERIALS_DIR
#define NIMC_MATERIALS_DIR "/usr/local/share/nimc/materials"
#endif
#ifndef NIMC_SOURCE_MATERIALS_DIR
#define NIMC_SOURCE_MATERIALS_DIR "devices/materials"
#endif
static const char *const material_dirs[] = {NIMC_MATERIALS_DIR,
                                            NIMC_SOURCE_MATERIALS_DIR};

/* Resolve rel into out[NIMC_PATH_MAX]: against the directory of the file e
 * was read from (the device file's for --set), else (a relative path)
 * by its base name in each of material_dirs, so that a device file copied
 * alone keeps finding the shipped materials; the first candidate that
 * exists, or the first of all when none does.  tried[cap] (may be NULL)
 * receives the other candidates looked at, ", " between them, for the
 * message. */
static int resolve(const loader *L, const entry *e, const char *rel,
                   char *out, char *tried, size_t cap) {
  const char *base = e->file ? e->file : L->dev.path;
  const char *slash = strrchr(base, '/');
  const char *name = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
  int dirlen = rel[0] == '/' || !slash ? 0 : (int)(slash - base + 1);
  int n = snprintf(out, NIMC_PATH_MAX, "%.*s%s", dirlen, base, rel);
  if (n < 0 || n >= NIMC_PATH_MAX) return bad(L, e, "path too long");
  if (tried) tried[0] = '\0';
  if (rel[0] == '/' || access(out, F_OK) == 0) return NIMC_OK;
  char cand[NIMC_PATH_MAX];
  for (size_t k = 0; k < sizeof material_dirs / sizeof *material_dirs; k++) {
    n = snprintf(cand, sizeof cand, "%s/%s", material_dirs[k], name);
    if (n < 0 || n >= (int)sizeof cand) continue;
    if (tried) {
      size_t len = strlen(tried);
      snprintf(tried + len, cap - len, "%s%s", len ? ", nor " : "", cand);
    }
    if (access(cand, F_OK) == 0) {
      memcpy(out, cand, (size_t)n + 1);
      return NIMC_OK;
    }
  }
  return NIMC_OK;
}

/* The temperature law of law key K: K_activation_energy (Arrhenius) or
 * K_vtf_B with K_vtf_T0 (Vogel-Tammann-Fulcher), relative to law->Tref_K. */
static int get_tlaw(const scope *s, const char *key, nimc_law *law) {
  char kea[NIMC_NAME_MAX], kb[NIMC_NAME_MAX], kt[NIMC_NAME_MAX];
  snprintf(kea, sizeof kea, "%s_activation_energy", key);
  snprintf(kb, sizeof kb, "%s_vtf_B", key);
  snprintf(kt, sizeof kt, "%s_vtf_T0", key);
  const entry *ea = look(s, kea), *b = look(s, kb), *t0 = look(s, kt);
  if (ea && (b || t0))
    return bad(s->L, ea,
               "cannot be combined with %s (choose Arrhenius or "
               "VTF)",
               b ? kb : kt);
  if (ea) {
    TRY(parse_num(s->L, ea, "J/mol", NONNEG, &law->Ea_J_mol));
    law->tlaw = NIMC_TLAW_ARRHENIUS;
  } else if (b || t0) {
    if (!b || !t0)
      return bad(s->L, b ? b : t0, "needs %s as well", b ? kt : kb);
    TRY(parse_num(s->L, b, "K", POS, &law->vtf_B_K));
    TRY(parse_num(s->L, t0, "K", NONNEG, &law->vtf_T0_K));
    if (law->vtf_T0_K >= law->Tref_K)
      return bad(s->L, t0,
                 "must be below the reference temperature %g K, "
                 "got '%s'",
                 law->Tref_K, t0->value);
    law->tlaw = NIMC_TLAW_VTF;
  }
  return NIMC_OK;
}

enum {
  LAW_REQUIRED = 1,
  LAW_NO_CONSTANT = 2, /* a table or a built-in */
  LAW_TABLE_ONLY = 4,  /* the model integrates it: tables only */
  LAW_TEMPERATURE = 8
};

/* Read law key: a constant in unit si within rng, "table:<file.csv>" or
 * "builtin:<name>" (as flags allow), given at reference temperature Tref,
 * with its temperature law when flags has LAW_TEMPERATURE.  *law must hold a
 * constant default (no table); it is kept, with Tref and temperature law,
 * when the key is absent and optional.  1, 0 or < 0. */
static int get_law(const scope *s, const char *key, const char *si, int rng,
                   int flags, const char *example, double Tref, nimc_law *law) {
  nimc_law tmp = *law;
  tmp.Tref_K = Tref;
  if (flags & LAW_TEMPERATURE) TRY(get_tlaw(s, key, &tmp));
  const entry *e = look(s, key);
  if (!e) {
    if (flags & LAW_REQUIRED) return missing(s, key, example);
    *law = tmp;
    probe_note(s, key, si, tmp.kind == NIMC_LAW_CONSTANT ? 1 : -1, tmp.value);
    return 0;
  }
  const char *v = e->value;
  if ((flags & LAW_TABLE_ONLY) && strncmp(v, "table:", 6))
    return bad(s->L, e, "must be a table ('table:<file.csv>'), got '%s'", v);
  if (!strncmp(v, "builtin:", 8)) {
    v += 8;
    while (isspace((unsigned char)*v))
      v++;
    tmp.fn = nimc_builtin_find(v);
    if (!tmp.fn)
      return bad(s->L, e, "unknown built-in '%s' (known: %s)", v,
                 nimc_builtin_names());
    tmp.kind = NIMC_LAW_BUILTIN;
    tmp.scale = 1.0;
    snprintf(tmp.name, sizeof tmp.name, "%s", v);
  } else if (!strncmp(v, "table:", 6)) {
    v += 6;
    while (isspace((unsigned char)*v))
      v++;
    char path[NIMC_PATH_MAX], why[NIMC_ERRMSG_MAX / 2];
    char tried[3 * NIMC_PATH_MAX / 2];
    TRY(resolve(s->L, e, v, path, tried, sizeof tried));
    if (access(path, F_OK) != 0)
      return bad(s->L, e, "cannot read table '%s': no file %s%s%s", v, path,
                 tried[0] ? ", nor " : "", tried);
    int rc = nimc_table_read(path, &tmp.x, &tmp.y, &tmp.n, why, sizeof why);
    if (rc == NIMC_ENOMEM) return nimc_err_set(s->L->err, rc, "%s", why);
    if (rc) return bad(s->L, e, "%s", why);
    nimc_err terr;
    tmp.scale = 1.0;
    if (nimc_law_table_init(&tmp, &terr)) {
      nimc_law_clear(&tmp);
      return bad(s->L, e, "%s: %s", path, terr.msg);
    }
    snprintf(tmp.name, sizeof tmp.name, "%s", v); /* as written */
  } else if (flags & LAW_NO_CONSTANT) {
    return bad(s->L, e,
               "must be a table ('table:<file.csv>') or a built-in "
               "('builtin:<name>'), got '%s'",
               v);
  } else {
    TRY(parse_num(s->L, e, si, rng, &tmp.value));
    tmp.kind = NIMC_LAW_CONSTANT;
  }
  *law = tmp;
  probe_note(s, key, si, tmp.kind == NIMC_LAW_CONSTANT ? 1 : -1, tmp.value);
  return 1;
}

/* Read the material file named by e (value file) into mat; *kind gets its
 * kind (INTERCALATION..ELECTROLYTE).  Its keys are checked here, against
 * its own kind; the section that uses it reads the values. */
static int load_material(const loader *L, const entry *e, const char *file,
                         table *mat, int *kind) {
  char path[NIMC_PATH_MAX], tried[3 * NIMC_PATH_MAX / 2];
  TRY(resolve(L, e, file, path, tried, sizeof tried));
  TRY(table_init(mat, path, L->err));
  char *text, why[256];
  size_t len;
  int errnum;
  int rc = nimc_file_slurp(path, NIMC_INI_MAX_BYTES, &text, &len, &errnum, why,
                           sizeof why);
  if (rc == NIMC_ENOMEM)
    return nimc_err_set(L->err, NIMC_ENOMEM, "out of memory");
  if (rc && errnum == ENOENT)
    return bad(L, e, "unknown material '%s' (no file %s%s%s)", file, path,
               tried[0] ? ", nor " : "", tried);
  if (rc) return bad(L, e, "cannot read material file %s: %s", path, why);
  rc = read_ini(mat, text, len);
  free(text);
  TRY(rc);
  for (size_t i = 0; i < mat->n; i++)
    if (strcmp(mat->e[i].section, "material"))
      return bad(L, &mat->e[i],
                 "unknown section [%s] (a material file has "
                 "one section, [material])",
                 mat->e[i].section);
  const entry *k = find(mat, "material", "kind");
  if (!k)
    return nimc_err_set(L->err, NIMC_EINPUT,
                        "%s: [material] kind: missing (required, one of "
                        "intercalation, capacitive, hybrid, electrolyte)",
                        path);
  *kind = -1;
  for (int i = 0; kinds[i]; i++)
    if (!strcmp(k->value, kinds[i])) *kind = i;
  if (*kind < 0)
    return bad(L, k,
               "unknown value '%s' (choices: intercalation, "
               "capacitive, hybrid, electrolyte)",
               k->value);
  const key_def *lists[5] = {material_head, NULL, NULL, NULL, NULL};
  int n = 1;
  if (*kind == ELECTROLYTE) lists[n++] = material_electrolyte;
  if (*kind == INTERCALATION || *kind == HYBRID)
    lists[n++] = material_intercalation;
  if (*kind == CAPACITIVE || *kind == HYBRID) lists[n++] = material_capacitive;
  if (*kind != ELECTROLYTE) lists[n++] = material_side; /* ageing */
  return check_keys(L, mat, "material", lists);
}

/* The material's display name (its name key, else the file's stem) and
 * reference temperature. */
static int material_head_values(const scope *ms, const char *file, char *name,
                                size_t len, double *Tref) {
  const char *base = strrchr(file, '/');
  base = base ? base + 1 : file;
  snprintf(name, len, "%.*s", (int)strcspn(base, "."), base);
  TRY(get_str(ms, "name", NULL, name, len, NULL));
  *Tref = NIMC_TREF_K;
  TRY(get_num(ms, "reference_temperature", "K", POS, NULL, Tref));
  return NIMC_OK;
}

/* Keys of intercalation (and hybrid) electrodes. */
static int intercalation(const scope *es, const scope *ms, double Tref,
                         nimc_electrode_params *p) {
  TRY(get_num(es, "active_fraction", "1", POS, "a volume fraction such as 0.42",
              &p->active_fraction));
  if (p->active_fraction > 1.0 - p->porosity)
    return bad(es->L, look(es, "active_fraction"),
               "must not exceed 1 - porosity = %g, got '%s'", 1.0 - p->porosity,
               look(es, "active_fraction")->value);
  TRY(read_keys(es, ms, intercalation_keys, p));
  int shape = (int)p->shape;
  TRY(get_choice(es, "particle_shape", shapes, &shape));
  p->shape = (nimc_particle_shape)shape;
  TRY(read_keys(es, ms, material_intercalation, p));
  TRY(get_law(ms, "ocp", "V", ANY, LAW_REQUIRED | LAW_NO_CONSTANT,
              "'builtin:<name>' or 'table:<file.csv>'", Tref, &p->ocp));
  TRY(get_law(ms, "diffusivity", "m2/s", POS, LAW_REQUIRED | LAW_TEMPERATURE,
              "a diffusivity such as '1e-17 m2/s'", Tref,
              &p->solid_diffusivity));
  TRY(get_law(ms, "rate_constant", "m/s", POS, LAW_REQUIRED | LAW_TEMPERATURE,
              "a rate constant such as '1e-11 m/s'", Tref, &p->rate_constant));
  return NIMC_OK;
}

/* Keys of capacitive (and hybrid) electrodes. */
static int capacitive(const scope *es, const scope *ms, double Tref,
                      nimc_electrode_params *p) {
  double vol = 0.0, spec = 0.0, dens = 0.0;
  int have_vol;
  TRY(have_vol =
          get_num(es, "volumetric_capacitance", "F/m3", POS, NULL, &vol));
  /* the capacitance per mass: given, or the surface area (BET) times a
   * capacitance per area of that surface */
  double bet = 0.0, areal = 0.0;
  int have_bet, have_areal;
  TRY(have_bet = get_num(ms, "bet_area", "m2/kg", POS, NULL, &bet));
  TRY(have_areal = get_num(ms, "areal_capacitance", "F/m2", POS, NULL, &areal));
  if (have_bet != have_areal)
    return bad(ms->L, look(ms, have_bet ? "bet_area" : "areal_capacitance"),
               "needs %s as well (the capacitance per mass is their product)",
               have_bet ? "areal_capacitance" : "bet_area");
  if (have_bet && look(ms, "specific_capacitance"))
    return bad(ms->L, look(ms, "specific_capacitance"),
               "cannot be combined with bet_area and areal_capacitance "
               "(their product is the capacitance per mass)");
  if (have_bet)
    spec = bet * areal;
  else
    TRY(get_num(ms, "specific_capacitance", "F/kg", POS,
                have_vol ? NULL : "a capacitance such as '100 F/g'", &spec));
  TRY(get_num(es, "active_density", "kg/m3", POS,
              have_vol ? NULL : "a density such as '0.36 g/cm3'", &dens));
  p->cap_F_m3 = have_vol ? vol : spec * dens;
  if (have_areal) p->surface_m2_m3 = p->cap_F_m3 / areal;
  if (look(es, "active_density")) p->active_density_kg_m3 = dens;
  TRY(get_num(ms, "pzc", "V", ANY, "a potential such as '2.9 V'", &p->E_pzc_V));
  p->E0_V = p->E_pzc_V;
  if (look(es, "initial_potential"))
    return bad(es->L, look(es, "initial_potential"),
               "is no longer accepted: a double layer charged at assembly "
               "creates charge; the device starts neutral, every double "
               "layer at its pzc (use [device] initial_voltage, which is "
               "reached without creating charge)");
  TRY(read_keys(es, ms, material_capacitive, p)); /* the curvature */
  int shape;
  TRY(shape = get_law(ms, "capacitance_shape", "1", POS, LAW_TABLE_ONLY, NULL,
                      Tref, &p->cap_shape));
  if (shape && p->cap_k2_per_V2 > 0.0) /* the table replaces the quadratic */
    return bad(ms->L, look(ms, "capacitance_shape"),
               "cannot be combined with capacitance_curvature = %g 1/V2 "
               "(the table replaces C0 (1 + k2 (E - pzc)^2); set "
               "capacitance_curvature = 0)",
               p->cap_k2_per_V2);
  const entry *e = look(ms, "dl_cation_fraction");
  if (e && strcmp(e->value, "counterion"))
    TRY(parse_num(ms->L, e, "1", UNIT, &p->dl_cation_fraction));
  int slow;
  TRY(slow = get_num(ms, "slow_capacitance_fraction", "1", UNIT, NULL,
                     &p->slow_fraction));
  if (slow && p->slow_fraction >= 1.0)
    return bad(ms->L, look(ms, "slow_capacitance_fraction"),
               "must be below 1, got '%s'",
               look(ms, "slow_capacitance_fraction")->value);
  TRY(get_num(ms, "slow_time_constant", "s", POS,
              p->slow_fraction > 0.0 ? "a time such as '300 s'" : NULL,
              &p->slow_tau_s));
  int mp;
  TRY(mp = get_num(ms, "micropore_capacitance_fraction", "1", UNIT, NULL,
                   &p->mp_fraction));
  if (mp && p->mp_fraction >= 1.0)
    return bad(ms->L, look(ms, "micropore_capacitance_fraction"),
               "must be below 1, got '%s'",
               look(ms, "micropore_capacitance_fraction")->value);
  TRY(get_num(ms, "micropore_time_constant", "s", POS,
              p->mp_fraction > 0.0 ? "a time such as '100 s'" : NULL,
              &p->mp_tau_s));
  p->mp_Tref_K = Tref;
  return NIMC_OK;
}

/* The side reaction of an electrode material (material_side): a
 * reduction that grows a film on an intercalation material (inter), an
 * oxidation whose products block a capacitive one. */
static int side(const scope *ms, double Tref, int inter,
                nimc_electrode_params *p) {
  TRY(get_law(ms, "side_reaction_current", "A/m2", NONNEG, LAW_TEMPERATURE,
              NULL, Tref, &p->sr_current));
  if (p->sr_current.kind != NIMC_LAW_CONSTANT)
    return bad(ms->L, look(ms, "side_reaction_current"),
               "must be a current density such as '1e-9 A/m2', got '%s'",
               look(ms, "side_reaction_current")->value);
  TRY(get_law(ms, "side_reaction_trapping", "1", UNIT, LAW_TEMPERATURE, NULL,
              Tref, &p->sr_trapping));
  const entry *trap = look(ms, "side_reaction_trapping");
  if (trap && p->sr_trapping.kind != NIMC_LAW_CONSTANT)
    return bad(ms->L, trap, "must be a share such as '0.01', got '%s'",
               trap->value);
  if (trap && !inter && p->sr_trapping.value > 0.0 &&
      !(p->mp_fraction > 0.0))
    return bad(ms->L, trap,
               "needs micropores (micropore_capacitance_fraction): the ions "
               "are trapped in them");
  int on = p->sr_current.value > 0.0;
  TRY(read_keys(ms, ms, material_side, p));
  TRY(get_num(ms, "side_reaction_potential", "V", ANY,
              on ? "a potential such as '4.4 V'" : NULL, &p->sr_E_V));
  /* an intercalation material's film resistance is needed with its
   * reduction; with trapping alone it may be left out (no growth) */
  if (!inter) on = on || p->sr_trapping.value > 0.0;
  const char *need = inter ? "side_reaction_film_resistance"
                           : "side_reaction_blocking_charge";
  const char *other = inter ? "side_reaction_blocking_charge"
                            : "side_reaction_film_resistance";
  if (look(ms, other))
    return bad(ms->L, look(ms, other),
               "applies to %s materials only (this one is %s: use %s)",
               inter ? "capacitive" : "intercalation",
               inter ? "an intercalation material" : "capacitive", need);
  if (on && !inter && !(p->surface_m2_m3 > 0.0))
    return bad(ms->L,
               look(ms, "side_reaction_current")
                   ? look(ms, "side_reaction_current")
                   : trap,
               "needs bet_area and areal_capacitance (the surface the "
               "reaction runs on)");
  if (on && !look(ms, need))
    return missing(ms, need,
                   inter ? "a resistance per charge such as '1e-4 ohm.m4/C'"
                         : "a charge per area such as '10 C/m2'");
  return NIMC_OK;
}

/* Section sec ("anode" or "cathode") with its material file mat. */
static int electrode(const loader *L, const char *sec, table *mat,
                     nimc_electrode_params *p) {
  scope es = {L, sec, NULL}, ms = {L, sec, mat};
  const key_def *any[] = {electrode_keys,   material_over,
                          intercalation_keys, material_intercalation,
                          capacitive_keys,  material_capacitive,
                          material_side,    NULL};
  TRY(check_keys(L, &L->dev, sec, any));
  char file[NIMC_PATH_MAX];
  const entry *me;
  int kind;
  TRY(get_str(&es, "material", "a material file such as 'materials/nto.ini'",
              file, sizeof file, &me));
  TRY(load_material(L, me, file, mat, &kind));
  if (kind == ELECTROLYTE)
    return bad(L, me, "'%s' is an electrolyte, not an electrode material",
               file);
  TRY(get_choice(&es, "kind", electrode_kinds, &kind));
  int inter = kind != CAPACITIVE, cap = kind != INTERCALATION;
  const key_def *lists[8] = {electrode_keys, material_over, material_side};
  int nl = 3;
  if (inter) lists[nl++] = intercalation_keys;
  if (inter) lists[nl++] = material_intercalation;
  if (cap) lists[nl++] = capacitive_keys;
  if (cap) lists[nl++] = material_capacitive;
  TRY(check_keys(L, &L->dev, sec, lists));

  double Tref;
  p->kind = (nimc_electrode_kind)kind;
  TRY(material_head_values(&ms, file, p->material, sizeof p->material, &Tref));
  TRY(read_keys(&es, &ms, electrode_keys, p));
  int leak;
  TRY(leak =
          get_num(&es, "leakage_current", "A/m3", NONNEG, NULL, &p->leak_A_m3));
  TRY(get_num(&es, "leakage_potential", "V", ANY,
              leak && p->leak_A_m3 > 0 ? "a potential such as '3.6 V'" : NULL,
              &p->leak_E_V));
  if (inter) TRY(intercalation(&es, &ms, Tref, p));
  if (cap) TRY(capacitive(&es, &ms, Tref, p));
  TRY(side(&ms, Tref, inter, p));
  return NIMC_OK;
}

/* Section [electrolyte] with its material file mat. */
static int electrolyte(const loader *L, table *mat,
                       nimc_electrolyte_params *p) {
  scope es = {L, "electrolyte", NULL}, ms = {L, "electrolyte", mat};
  const key_def *lists[] = {electrolyte_keys, material_over,
                            material_electrolyte, NULL};
  TRY(check_keys(L, &L->dev, "electrolyte", lists));
  char file[NIMC_PATH_MAX];
  const entry *me;
  int kind;
  TRY(get_str(&es, "material",
              "a material file such as 'materials/ionogel.ini'", file,
              sizeof file, &me));
  TRY(load_material(L, me, file, mat, &kind));
  if (kind != ELECTROLYTE)
    return bad(L, me, "'%s' is of kind %s, expected an electrolyte material",
               file, kinds[kind]);
  double Tref, c;
  TRY(material_head_values(&ms, file, p->material, sizeof p->material, &Tref));
  int have;
  TRY(have = get_num(&es, "initial_concentration", "mol/m3", POS, NULL,
                     &p->c0_mol_m3));
  TRY(get_num(&ms, "concentration", "mol/m3", POS,
              have ? NULL : "a concentration such as '886 mol/m3'",
              have ? &c : &p->c0_mol_m3));
  TRY(get_law(&ms, "conductivity", "S/m", POS, LAW_REQUIRED | LAW_TEMPERATURE,
              "a conductivity such as '0.5 mS/cm'", Tref, &p->conductivity));
  TRY(get_law(&ms, "diffusivity", "m2/s", POS, LAW_REQUIRED | LAW_TEMPERATURE,
              "a diffusivity such as '3e-12 m2/s'", Tref, &p->diffusivity));
  TRY(get_choice(&ms, "model", electrolyte_models, &p->ternary));
  if (p->ternary) {
    /* Na+, the ionic liquid's cation and the anion, each with its own
     * diffusivity and temperature law; no transference number */
    TRY(get_num(&ms, "ionic_liquid_concentration", "mol/m3", POS,
                "a concentration such as '2797 mol/m3'", &p->c2_0_mol_m3));
    TRY(get_law(&ms, "ionic_liquid_cation_diffusivity", "m2/s", POS,
                LAW_REQUIRED | LAW_TEMPERATURE,
                "a diffusivity such as '2e-11 m2/s'", Tref, &p->diffusivity2));
    TRY(get_law(&ms, "anion_diffusivity", "m2/s", POS,
                LAW_REQUIRED | LAW_TEMPERATURE,
                "a diffusivity such as '1.5e-11 m2/s'", Tref,
                &p->diffusivity_anion));
    p->transference = nimc_law_constant(0.0);
    return NIMC_OK;
  }
  TRY(get_law(&ms, "transference_number", "1", FRAC, LAW_REQUIRED,
              "a number in (0, 1) such as 0.1", Tref, &p->transference));
  TRY(get_law(&ms, "thermodynamic_factor", "1", POS, 0, NULL, Tref,
              &p->thermo_factor));
  return NIMC_OK;
}

/* The safe window of [device]: min_voltage below max_voltage (each
 * optional), and max_current, a current (A) or a current per footprint
 * area (A/m2), positive.  None declared: no limit. */
static int window_keys(const scope *s, nimc_device *d) {
  TRY(d->min_voltage_given =
          get_num(s, "min_voltage", "V", ANY, NULL, &d->min_voltage_V));
  TRY(d->max_voltage_given =
          get_num(s, "max_voltage", "V", ANY, NULL, &d->max_voltage_V));
  if (d->min_voltage_given && d->max_voltage_given &&
      !(d->min_voltage_V < d->max_voltage_V)) {
    const entry *e = look(s, "max_voltage");
    return bad(s->L, e,
               "must be above min_voltage (%g V), got '%s': the window is "
               "min_voltage to max_voltage",
               d->min_voltage_V, e->value);
  }
  const entry *e = look(s, "max_current");
  if (!e) return NIMC_OK;
  /* a current, or a current per area: the unit says which */
  char why[512];
  double v;
  const char *si = "A";
  if (nimc_units_parse(e->value, "A", &v, why, sizeof why)) {
    si = "A/m2";
    if (nimc_units_parse(e->value, "A/m2", &v, why, sizeof why))
      return bad(s->L, e,
                 "expected a current such as '5 mA' or a current per "
                 "footprint area such as '10 mA/cm2', got '%s'",
                 e->value);
  }
  if (!in_range(v, POS))
    return bad(s->L, e, "%s, got '%s'", ranges[POS].text, e->value);
  const struct bound *b = bound_for("max_current", si);
  if (b && !(v <= b->hi))
    return bad(s->L, e, "'%s' is outside the plausible range %s", e->value,
               b->text);
  probe_note(s, "max_current", si, 1, v);
  if (si[1])
    d->max_current_A_m2 = v;
  else
    d->max_current_A = v;
  return NIMC_OK;
}

/* Section [device]. */
static int device_section(const loader *L, nimc_device *d) {
  scope s = {L, "device", NULL};
  TRY(check_defs(L, "device", device_keys));
  TRY(get_str(&s, "name", "a name such as \"NTO//AG stack\"", d->name,
              sizeof d->name, NULL));
  int g = NIMC_GEOMETRY_STACK;
  TRY(get_choice(&s, "geometry", geometries, &g));
  d->geometry = (nimc_geometry)g;
  /* the in-plane footprint follows from the pattern ([geometry]) unless
   * given; area_m2 stays 0 until then */
  TRY(get_num(&s, "area", "m2", POS,
              g == NIMC_GEOMETRY_STACK ? "an area such as '0.56 cm2'" : NULL,
              &d->area_m2));
  TRY(read_defs(&s, device_keys, d));
  /* a leakage path across the terminals: 0 (or absent) is none, anything
   * below an ohm a short circuit, not a leak */
  int sh;
  TRY(sh = get_num(&s, "shunt_resistance", "ohm", NONNEG, NULL,
                   &d->shunt_resistance_ohm));
  if (sh && d->shunt_resistance_ohm > 0.0 && d->shunt_resistance_ohm < 1.0)
    return bad(L, look(&s, "shunt_resistance"),
               "'%s' is outside the plausible range 0 (none) or 1 ohm to "
               "1e15 ohm (a shunt below 1 ohm shorts the device)",
               look(&s, "shunt_resistance")->value);
  TRY(d->initial_voltage_given = get_num(&s, "initial_voltage", "V", ANY, NULL,
                                         &d->initial_voltage_V));
  TRY(window_keys(&s, d));
  return NIMC_OK;
}

/* The first entry of section sec of t; NULL when it has none. */
static const entry *first_in(const table *t, const char *sec) {
  for (size_t i = 0; i < t->n; i++)
    if (!strcmp(t->e[i].section, sec)) return &t->e[i];
  return NULL;
}

/* Sections that belong to the other geometry are errors, not ignored: a
 * stack's [separator] has no meaning in the in-plane device (its gel is
 * [geometry] gel_*), and the in-plane sections none in a stack. */
static int geometry_sections(const loader *L, const nimc_device *d) {
  const entry *e;
  if (d->geometry == NIMC_GEOMETRY_INTERDIGITATED) {
    if ((e = first_in(&L->dev, "separator")))
      return bad(L, e,
                 "[separator] is for geometry = stack (the in-plane device "
                 "has no separator)");
    return NIMC_OK;
  }
  if ((e = first_in(&L->dev, "geometry")))
    return bad(L, e,
               "[geometry] is for geometry = interdigitated (this device is "
               "a stack: set [device] geometry)");
  if ((e = first_in(&L->dev, "cover")))
    return bad(L, e,
               "[cover] is for geometry = interdigitated (this device is a "
               "stack: set [device] geometry)");
  return NIMC_OK;
}

/* Section [separator] (geometry = stack). */
static int separator_section(const loader *L, nimc_device *d) {
  scope s = {L, "separator", NULL};
  TRY(check_defs(L, "separator", separator_keys));
  return read_defs(&s, separator_keys, d);
}

/* Sections [geometry] and [cover] (geometry = interdigitated); after the
 * electrodes, whose thicknesses bound the gel's.  Sets the footprint area
 * unless [device] gave it. */
static int interdigitated_sections(const loader *L, nimc_device *d) {
  nimc_interdigitated_params *g = &d->idg;
  scope s = {L, "geometry", NULL};
  TRY(check_defs(L, "geometry", geometry_keys));
  TRY(check_defs(L, "cover", cover_keys));
  TRY(read_defs(&s, geometry_keys, d));

  /* a disabled cover's keys are still checked but not required, so that
   * --set cover.enabled=false turns the covered device into the bare one */
  s.sec = "cover";
  TRY(get_bool(&s, "enabled", &g->cover_enabled));
  int on = g->cover_enabled;
  TRY(get_num(&s, "thickness", "m", POS, on ? "a length such as '2 um'" : NULL,
              &g->cover_thickness_m));
  TRY(get_num(&s, "porosity", "1", FRAC,
              on ? "a number in (0, 1) such as 0.05" : NULL,
              &g->cover_porosity));
  TRY(read_defs(&s, cover_keys, d));

  double ta = d->anode.thickness_m, tc = d->cathode.thickness_m;
  double tcov = on ? g->cover_thickness_m : 0.0, top = fmax(ta, tc) + tcov;
  if (!(g->gel_thickness_m > top)) {
    const entry *e = find(&L->dev, "geometry", "gel_thickness");
    if (on)
      return bad(L, e,
                 "must be above the top of the covered fingers, max(anode "
                 "%g um, cathode %g um) + cover %g um = %g um, got '%s'",
                 ta * 1e6, tc * 1e6, tcov * 1e6, top * 1e6, e->value);
    return bad(L, e,
               "must be above the top of the fingers, max(anode %g um, "
               "cathode %g um) = %g um, got '%s'",
               ta * 1e6, tc * 1e6, top * 1e6, e->value);
  }
  if (!find(&L->dev, "device", "area")) { /* the pattern's footprint */
    double n = g->fingers_per_electrode;
    d->area_m2 = g->finger_length_m *
                 (2.0 * n * g->finger_width_m + (2.0 * n - 1.0) * g->gap_m);
  }
  return NIMC_OK;
}

/* Sections [mesh] and [solver]. */
static int mesh_solver_sections(const loader *L, nimc_device *d) {
  scope s = {L, "mesh", NULL};
  nimc_interdigitated_params *g = &d->idg;
  TRY(check_defs(L, "mesh", mesh_keys));
  TRY(read_defs(&s, mesh_keys, d));
  int array = (int)g->array;
  TRY(get_choice(&s, "array", arrays, &array));
  g->array = (nimc_array)array;

  s.sec = "solver";
  TRY(check_defs(L, "solver", solver_keys));
  return read_defs(&s, solver_keys, d);
}

/* Section [led] (optional): an LED as a load for 'Discharge through LED'.
 * Once the section is there, its forward point is required; the ideality
 * defaults to 2 (typical of LEDs) and the series resistance to 0. */
static int led_section(const loader *L, nimc_device *d) {
  scope s = {L, "led", NULL};
  nimc_led_params *p = &d->led;
  TRY(check_defs(L, "led", led_keys));
  p->ideality = 2.0;
  p->series_resistance_ohm = 0.0;
  if (!first_in(&L->dev, "led")) return NIMC_OK;
  p->present = 1;
  return read_defs(&s, led_keys, d);
}

/* Section [pack] (core/pack_spec.h): cells in series and strings in
 * parallel, and a seeded spread of chosen parameters.  The section's
 * presence makes the device a pack, even 1s1p. */
static int pack_section(const loader *L, nimc_device *d) {
  const entry *first = first_in(&L->dev, "pack");
  if (!first) return NIMC_OK;
  scope s = {L, "pack", NULL};
  char why[NIMC_ERRMSG_MAX / 2];
  nimc_pack_params *p = &d->pack;
  TRY(check_defs(L, "pack", pack_keys));
  p->given = 1, p->series = p->parallel = 1;
  TRY(read_defs(&s, pack_keys, d));
  if (nimc_pack_check_shape(p->series, p->parallel, why, sizeof why)) {
    const entry *e = find(&L->dev, "pack", "parallel");
    return bad(L, e ? e : first, "%s", why);
  }
  char text[NIMC_ERRMSG_MAX / 2];
  const entry *e = NULL;
  int got = get_str(&s, "spread", NULL, text, sizeof text, &e);
  TRY(got);
  if (got && nimc_pack_parse_spread(text, p, why, sizeof why))
    return bad(L, e, "%s", why);
  return NIMC_OK;
}

/* ---- the device ------------------------------------------------------- */

static void electrode_defaults(nimc_electrode_params *p) {
  memset(p, 0, sizeof *p);
  p->bruggeman = 1.5;
  p->shape = NIMC_PARTICLE_SPHERE;
  p->ocp = nimc_law_constant(0.0);
  p->solid_diffusivity = nimc_law_constant(0.0);
  p->rate_constant = nimc_law_constant(0.0);
  p->alpha_a = p->alpha_c = 0.5;
  p->c_ref_mol_m3 = 1000.0;
  p->cap_shape = nimc_law_constant(1.0);
  p->dl_cation_fraction = -1.0; /* counter-ion model */
  p->leak_n = 1.0;
  p->sr_current = nimc_law_constant(0.0);
  p->sr_trapping = nimc_law_constant(0.0);
  p->sr_alpha = 0.5;
}

static void device_defaults(nimc_device *d) {
  memset(d, 0, sizeof *d);
  d->temperature_K = NIMC_TREF_K;
  electrode_defaults(&d->anode);
  electrode_defaults(&d->cathode);
  d->separator.bruggeman = 1.5;
  /* the gel's measured conductivity is its own: no porosity correction */
  d->idg.gel_porosity = 1.0;
  d->idg.gel_bruggeman = 0.0;
  d->idg.cover_bruggeman = 1.5;
  d->idg.finger_cells_x = 8;
  d->idg.gap_cells_x = 8;
  d->idg.electrode_cells_z = 4;
  d->idg.gel_cells_z = 8;
  d->idg.cover_cells_z = 2;
  d->idg.grading_x = 4.0;
  d->idg.grading_z = 4.0;
  d->electrolyte.conductivity = nimc_law_constant(0.0);
  d->electrolyte.diffusivity = nimc_law_constant(0.0);
  d->electrolyte.transference = nimc_law_constant(0.0);
  d->electrolyte.thermo_factor = nimc_law_constant(1.0);
  d->electrolyte.diffusivity2 = nimc_law_constant(0.0);
  d->electrolyte.diffusivity_anion = nimc_law_constant(0.0);
  d->mesh = (nimc_mesh_params){20, 10, 20, 6, 8, 1.0, 1.0};
  d->solver = (nimc_solver_params){1e-5, 1.0}; /* docs/validation.md */
}

#define DEVICE_NLAWS 18

/* The device's laws that depend on temperature, in laws[DEVICE_NLAWS], and
 * with names their names for messages. */
static void device_laws(nimc_device *d, nimc_law **out,
                        const char *const **names_out) {
  nimc_law *laws[DEVICE_NLAWS] = {&d->anode.ocp,
                                  &d->anode.solid_diffusivity,
                                  &d->anode.rate_constant,
                                  &d->anode.cap_shape,
                                  &d->cathode.ocp,
                                  &d->cathode.solid_diffusivity,
                                  &d->cathode.rate_constant,
                                  &d->cathode.cap_shape,
                                  &d->anode.sr_current,
                                  &d->cathode.sr_current,
                                  &d->anode.sr_trapping,
                                  &d->cathode.sr_trapping,
                                  &d->electrolyte.conductivity,
                                  &d->electrolyte.diffusivity,
                                  &d->electrolyte.transference,
                                  &d->electrolyte.thermo_factor,
                                  &d->electrolyte.diffusivity2,
                                  &d->electrolyte.diffusivity_anion};
  static const char *const names[] = {
      "[anode] ocp",
      "[anode] diffusivity",
      "[anode] rate_constant",
      "[anode] capacitance_shape",
      "[cathode] ocp",
      "[cathode] diffusivity",
      "[cathode] rate_constant",
      "[cathode] capacitance_shape",
      "[anode] side_reaction_current",
      "[cathode] side_reaction_current",
      "[anode] side_reaction_trapping",
      "[cathode] side_reaction_trapping",
      "[electrolyte] conductivity",
      "[electrolyte] diffusivity",
      "[electrolyte] transference_number",
      "[electrolyte] thermodynamic_factor",
      "[electrolyte] ionic_liquid_cation_diffusivity",
      "[electrolyte] anion_diffusivity"};
  memcpy(out, laws, sizeof laws);
  if (names_out) *names_out = names;
}

/* The highest VTF T0 of the device's laws (0 when none); *what names it. */
static double vtf_floor(nimc_device *d, const char **what) {
  nimc_law *laws[DEVICE_NLAWS];
  const char *const *names;
  device_laws(d, laws, &names);
  double T0 = 0.0;
  *what = "";
  for (size_t i = 0; i < DEVICE_NLAWS; i++)
    if (laws[i]->tlaw == NIMC_TLAW_VTF && laws[i]->vtf_T0_K > T0) {
      T0 = laws[i]->vtf_T0_K;
      *what = names[i];
    }
  return T0;
}

/* The laws' temperature factors kept at the device's temperature, where
 * the simulation evaluates them (law.h: nimc_law_tcache). */
static void laws_at_temperature(nimc_device *d) {
  nimc_law *laws[DEVICE_NLAWS];
  device_laws(d, laws, NULL);
  for (size_t i = 0; i < DEVICE_NLAWS; i++)
    nimc_law_tcache_set(laws[i], d->temperature_K);
}

/* Interpret the entries of L into d. */
static int interpret(loader *L, nimc_device *d) {
  TRY(check_sections(L));
  TRY(device_section(L, d));
  TRY(geometry_sections(L, d));
  TRY(electrode(L, "anode", &L->mat[0], &d->anode));
  TRY(electrode(L, "cathode", &L->mat[1], &d->cathode));
  TRY(electrolyte(L, &L->mat[2], &d->electrolyte));
  if (d->geometry == NIMC_GEOMETRY_STACK)
    TRY(separator_section(L, d));
  else
    TRY(interdigitated_sections(L, d));
  TRY(mesh_solver_sections(L, d));
  TRY(led_section(L, d));
  TRY(pack_section(L, d));
  const char *what;
  double T0 = vtf_floor(d, &what);
  if (d->temperature_K <= T0) {
    const entry *e = find(&L->dev, "device", "temperature");
    if (!e)
      return nimc_err_set(L->err, NIMC_EINPUT,
                          "%s: [device] temperature: the default %g K is not "
                          "above the VTF T0 = %g K of %s",
                          L->dev.path, d->temperature_K, T0, what);
    return bad(L, e, "must be above the VTF T0 = %g K of %s, got '%s'", T0,
               what, e->value);
  }
  laws_at_temperature(d);
  return NIMC_OK;
}

/* nimc_device_load, with the probe pr (may be NULL) told what the loader
 * reads for its key. */
static int device_load(nimc_device **out, const char *path,
                       const char *const *sets, size_t nsets, probe *pr,
                       nimc_err *err) {
  loader L;
  nimc_device *d = NULL;
  int rc;
  memset(&L, 0, sizeof L);
  L.err = err;
  L.probe = pr;
  if (err) {
    err->code = NIMC_OK;
    err->msg[0] = '\0';
  }
  if (!out || !path || (nsets && !sets)) {
    if (out) *out = NULL;
    return nimc_err_set(err, NIMC_EMISUSE,
                        "nimc_device_load: out, path and sets are required");
  }
  *out = NULL;
  if ((rc = table_init(&L.dev, path, err))) goto done;
  char *text, why[256];
  size_t len;
  int errnum;
  rc = nimc_file_slurp(path, NIMC_INI_MAX_BYTES, &text, &len, &errnum, why,
                       sizeof why);
  if (rc) {
    rc = rc == NIMC_ENOMEM
             ? nimc_err_set(err, NIMC_ENOMEM, "out of memory")
             : nimc_err_set(err, rc, "%s: cannot %s device file: %s", path,
                            errnum ? "open" : "read", why);
    goto done;
  }
  rc = read_ini(&L.dev, text, len);
  free(text);
  if (rc || (rc = apply_sets(&L, sets, nsets))) goto done;
  if (!(d = malloc(sizeof *d))) {
    rc = nimc_err_set(err, NIMC_ENOMEM, "out of memory");
    goto done;
  }
  device_defaults(d);
  snprintf(d->path, sizeof d->path, "%s", path);
  if ((rc = interpret(&L, d))) goto done;
  *out = d;
  d = NULL;
done:
  nimc_device_destroy(d);
  table_free(&L.dev);
  for (size_t i = 0; i < 3; i++)
    table_free(&L.mat[i]);
  return rc;
}

int nimc_device_load(nimc_device **out, const char *path,
                     const char *const *sets, size_t nsets, nimc_err *err) {
  return device_load(out, path, sets, nsets, NULL, err);
}

int nimc_device_param(const char *path, const char *const *sets, size_t nsets,
                      const char *key, double *value, char *si, size_t silen,
                      nimc_err *err) {
  char sec[NIMC_NAME_MAX];
  const char *dot = key ? strchr(key, '.') : NULL;
  if (!dot || dot == key || !dot[1] || (size_t)(dot - key) >= sizeof sec)
    return nimc_err_set(err, NIMC_EINPUT,
                        "'%s': expected section.key (for example "
                        "geometry.gel_thickness)",
                        key ? key : "");
  memcpy(sec, key, (size_t)(dot - key));
  sec[dot - key] = '\0';
  probe pr = {sec, dot + 1, 0, NAN, ""};
  nimc_device *d = NULL;
  int rc = device_load(&d, path, sets, nsets, &pr, err);
  nimc_device_destroy(d);
  if (rc) return rc;
  if (!pr.found)
    return nimc_err_set(err, NIMC_EINPUT,
                        "%s: '%s': no such numeric key in [%s] of this device "
                        "(docs/device-files.md lists the keys)",
                        path, key, sec);
  if (pr.found < 0)
    return nimc_err_set(err, NIMC_EINPUT,
                        "%s: '%s': a table or a built-in function, not a "
                        "number",
                        path, key);
  if (value) *value = pr.value;
  if (si) snprintf(si, silen, "%s", pr.si);
  return NIMC_OK;
}

/* Release the tables an electrode's laws hold. */
static void electrode_clear(nimc_electrode_params *p) {
  nimc_law_clear(&p->ocp);
  nimc_law_clear(&p->solid_diffusivity);
  nimc_law_clear(&p->rate_constant);
  nimc_law_clear(&p->cap_shape);
  nimc_law_clear(&p->sr_current);
  nimc_law_clear(&p->sr_trapping);
}

void nimc_device_destroy(nimc_device *dev) {
  if (!dev) return;
  electrode_clear(&dev->anode);
  electrode_clear(&dev->cathode);
  nimc_law_clear(&dev->electrolyte.conductivity);
  nimc_law_clear(&dev->electrolyte.diffusivity);
  nimc_law_clear(&dev->electrolyte.transference);
  nimc_law_clear(&dev->electrolyte.thermo_factor);
  nimc_law_clear(&dev->electrolyte.diffusivity2);
  nimc_law_clear(&dev->electrolyte.diffusivity_anion);
  free(dev);
}

const char *nimc_device_name(const nimc_device *dev) {
  return dev->name;
}

const char *nimc_device_path(const nimc_device *dev) {
  return dev->path;
}

double nimc_device_temperature_K(const nimc_device *dev) {
  return dev->temperature_K;
}

int nimc_device_set_temperature(nimc_device *dev, double T_K, nimc_err *err) {
  if (!dev) return nimc_err_set(err, NIMC_EMISUSE, "no device");
  if (!(T_K > 0.0) || !isfinite(T_K))
    return nimc_err_set(err, NIMC_EINPUT,
                        "temperature must be positive, got %g K", T_K);
  const struct bound *b = bound_for("temperature", "K");
  if (!(T_K >= b->lo && T_K <= b->hi))
    return nimc_err_set(err, NIMC_EINPUT,
                        "temperature %g K is outside the plausible range %s",
                        T_K, b->text);
  const char *what;
  double T0 = vtf_floor(dev, &what);
  if (T_K <= T0)
    return nimc_err_set(err, NIMC_EINPUT,
                        "temperature %g K is not above the VTF T0 = %g K of "
                        "%s (%s)",
                        T_K, T0, what, dev->path);
  dev->temperature_K = T_K;
  laws_at_temperature(dev);
  return NIMC_OK;
}

double nimc_device_footprint_area_m2(const nimc_device *dev) {
  /* a pack's metrics are per the footprint of all its cells */
  int cells = nimc_device_pack(dev, NULL, NULL);
  return dev->area_m2 * (cells > 0 ? cells : 1);
}

double nimc_device_norm_thickness_m(const nimc_device *dev) {
  if (dev->norm_thickness_m > 0.0) return dev->norm_thickness_m;
  return 0.5 * (dev->anode.thickness_m + dev->cathode.thickness_m);
}

int nimc_device_window(const nimc_device *dev, double *min_V, double *max_V,
                       double *max_A) {
  double lo = dev->min_voltage_given ? dev->min_voltage_V : -INFINITY;
  double hi = dev->max_voltage_given ? dev->max_voltage_V : INFINITY;
  double imax = INFINITY;
  if (dev->max_current_A > 0.0)
    imax = dev->max_current_A;
  else if (dev->max_current_A_m2 > 0.0 && dev->area_m2 > 0.0)
    imax = dev->max_current_A_m2 * dev->area_m2;
  int any = isfinite(lo) || isfinite(hi) || isfinite(imax);
  if (dev->pack.given) { /* the terminals of the pack */
    lo *= dev->pack.series, hi *= dev->pack.series;
    imax *= dev->pack.parallel;
  }
  if (min_V) *min_V = lo;
  if (max_V) *max_V = hi;
  if (max_A) *max_A = imax;
  return any;
}
