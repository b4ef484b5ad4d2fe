/*
 * sensitivity.c -- the table of how every number of `nimc reproduce`
 * moves with each fitted parameter, from the runs that
 * scripts/prediction-sensitivity.sh makes.
 *
 * Each run is `nimc reproduce --json` on a copy of devices/ in which one
 * parameter was multiplied by exp(step); DIR/base/reproduce.json is the
 * unchanged copy.  For every row of the base's validation array and every
 * parameter p it prints the logarithmic sensitivity
 *   s = (ln value_p - ln value_base) / step
 * and the change of the value for a one-sigma change of the parameter,
 * linearised: s * sigma_p (sigma_p the standard error of ln p).  Where
 * s * sigma_p is large the linearisation says only that the row is not
 * determined by the calibration; a value that vanished in a run (a
 * simulation that failed, or nothing to measure) is printed as "-".
 * The rows come in the base's order, calibration first, each with its
 * role; the tables are Markdown, for docs/calibration.md.
 *
 * usage: nimc-sensitivity DIR STEP NAME=SIGMA ...
 */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXP 16

/* The validation array of DIR/NAME/reproduce.json, or NULL (a message
 * said why). *doc receives the document to free. */
static cJSON *load(const char *dir, const char *name, cJSON **doc) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s/reproduce.json", dir, name);
  *doc = NULL;
  FILE *fp = fopen(path, "rb");
  if (!fp) {
    fprintf(stderr, "nimc-sensitivity: cannot open %s\n", path);
    return NULL;
  }
  char *buf = NULL;
  size_t len = 0, cap = 0, n;
  char chunk[65536];
  while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0) {
    if (len + n + 1 > cap) {
      cap = 2 * (len + n + 1);
      char *b = realloc(buf, cap);
      if (!b) {
        free(buf);
        fclose(fp);
        fprintf(stderr, "nimc-sensitivity: out of memory\n");
        return NULL;
      }
      buf = b;
    }
    memcpy(buf + len, chunk, n);
    len += n;
  }
  fclose(fp);
  if (!buf) {
    fprintf(stderr, "nimc-sensitivity: %s is empty\n", path);
    return NULL;
  }
  buf[len] = '\0';
  *doc = cJSON_Parse(buf);
  free(buf);
  cJSON *v = *doc ? cJSON_GetObjectItemCaseSensitive(*doc, "validation") : NULL;
  if (!cJSON_IsArray(v)) {
    fprintf(stderr, "nimc-sensitivity: %s has no validation array\n", path);
    return NULL;
  }
  return v;
}

/* The model value of row id in a validation array, or NAN. */
static double model_of(const cJSON *arr, const char *id) {
  const cJSON *r;
  cJSON_ArrayForEach(r, arr) {
    const cJSON *i = cJSON_GetObjectItemCaseSensitive(r, "id");
    if (cJSON_IsString(i) && strcmp(i->valuestring, id) == 0) {
      const cJSON *m = cJSON_GetObjectItemCaseSensitive(r, "model");
      return cJSON_IsNumber(m) ? m->valuedouble : NAN;
    }
  }
  return NAN;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: nimc-sensitivity DIR STEP NAME=SIGMA ...\n");
    return 2;
  }
  const char *dir = argv[1];
  char *end;
  double step = strtod(argv[2], &end);
  if (*end || !(step != 0.0) || !isfinite(step)) {
    fprintf(stderr, "nimc-sensitivity: STEP '%s' is not a nonzero number\n",
            argv[2]);
    return 2;
  }
  int np = argc - 3;
  if (np > MAXP) {
    fprintf(stderr, "nimc-sensitivity: at most %d parameters\n", MAXP);
    return 2;
  }
  char name[MAXP][64];
  double sigma[MAXP];
  cJSON *doc[MAXP] = {NULL}, *arr[MAXP] = {NULL}, *bdoc = NULL;
  int rc = 1;
  for (int p = 0; p < np; p++) {
    const char *eq = strchr(argv[3 + p], '=');
    size_t nl = eq ? (size_t)(eq - argv[3 + p]) : 0;
    if (!eq || nl == 0 || nl >= sizeof name[p]) {
      fprintf(stderr, "nimc-sensitivity: '%s' is not NAME=SIGMA\n",
              argv[3 + p]);
      return 2;
    }
    memcpy(name[p], argv[3 + p], nl);
    name[p][nl] = '\0';
    sigma[p] = strtod(eq + 1, &end);
    if (*end || !(sigma[p] > 0.0) || !isfinite(sigma[p])) {
      fprintf(stderr, "nimc-sensitivity: sigma '%s' is not positive\n",
              eq + 1);
      return 2;
    }
  }
  cJSON *base = load(dir, "base", &bdoc);
  if (!base) goto done;
  for (int p = 0; p < np; p++)
    if (!(arr[p] = load(dir, name[p], &doc[p]))) goto done;

  for (int table = 0; table < 2; table++) {
    printf(table ? "\nChange for a 1-sigma change of the parameter "
                   "(linearised, %%):\n\n"
                 : "Sensitivity d ln(value) / d ln(parameter), step %g:\n\n",
           step);
    printf("| row | role |");
    for (int p = 0; p < np; p++)
      printf(table ? " %s (%.3g) |" : " %s |", name[p], sigma[p]);
    printf("\n|---|---|");
    for (int p = 0; p < np; p++)
      printf("---|");
    printf("\n");
    const cJSON *r;
    cJSON_ArrayForEach(r, base) {
      const cJSON *id = cJSON_GetObjectItemCaseSensitive(r, "id");
      const cJSON *role = cJSON_GetObjectItemCaseSensitive(r, "role");
      if (!cJSON_IsString(id)) continue;
      double b = model_of(base, id->valuestring);
      printf("| %s | %s |", id->valuestring,
             cJSON_IsString(role) ? role->valuestring : "");
      for (int p = 0; p < np; p++) {
        double v = model_of(arr[p], id->valuestring);
        if (!(b > 0.0) || !(v > 0.0)) {
          printf(" - |");
          continue;
        }
        double s = (log(v) - log(b)) / step;
        if (table)
          printf(" %+.3g |", 100.0 * s * sigma[p]);
        else
          printf(" %+.3f |", s);
      }
      printf("\n");
    }
  }
  rc = 0;
done:
  cJSON_Delete(bdoc);
  for (int p = 0; p < np; p++)
    cJSON_Delete(doc[p]);
  return rc;
}
