/*
 * main.c -- the nimc command line, a thin layer over the library.
 *
 * It parses arguments, calls the public API (and the output helpers of the
 * io and report layers), and does all the talking: results on stdout,
 * progress and diagnostics on stderr.  Exit status: 0 success, 1 a failed
 * simulation or analysis, 2 bad usage or bad input (docs/cli.md).
 */
#define _XOPEN_SOURCE 700 /* POSIX 2008 and realpath */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "nimc/nimc.h"
#include "nimc/report.h"
#include "reproduce.h"

static const char *usage_main =
    "usage: nimc COMMAND [ARGS]\n"
    "\n"
    "Simulate and analyse hybrid ion micro-capacitors.\n"
    "\n"
    "commands:\n"
    "  run       run an experiment on a device (nimc run --help)\n"
    "  eis       impedance spectrum of a device, fitted with a circuit\n"
    "            (nimc eis --help)\n"
    "  fit-eis   fit an equivalent circuit to a measured spectrum\n"
    "            (nimc fit-eis --help)\n"
    "  analyze   metrics of measured data: GCD, cycling, CV, rest, EIS\n"
    "            (nimc analyze --help)\n"
    "  fit       fit device parameters to a measured charge/discharge\n"
    "            curve (nimc fit --help)\n"
    "  reproduce regenerate the paper's experiments and compare the model\n"
    "            with the published values (nimc reproduce --help)\n"
    "  help      show help for a command\n"
    "\n"
    "options:\n"
    "  -h, --help     this help\n"
    "  --version      print the version\n"
    "\n"
    "Exit status: 0 success, 1 failed simulation, 2 bad usage or input.\n";

static const char *usage_run =
    "usage: nimc run DEVICE -e STEP [-e STEP ...] [options]\n"
    "       nimc run DEVICE -x FILE [options]\n"
    "\n"
    "Run an experiment on the device described by the INI file DEVICE.\n"
    "\n"
    "  -e, --step STEP        a step of the experiment language, e.g.\n"
    "                           'Charge at 0.1 mA/cm2 until 3.5 V'\n"
    "                           'Discharge at 10 uA for 30 min'\n"
    "                           'Rest for 1 h', 'Hold at 3.5 V until 1 uA'\n"
    "                           'Sweep from 0 V to 3.5 V at 10 mV/s'\n"
    "                           'Discharge at 1 mW/cm2 until 0.5 V'\n"
    "                           'Discharge through 5 kohm until 0.5 V'\n"
    "                           'Discharge through LED until 1.8 V' (the\n"
    "                           device's [led] section)\n"
    "                           'Charge at 2C until 3.5 V', 'Rest until 2.1 V'\n"
    "                           'Repeat 10 times: Charge at ...; Discharge at "
    "...'\n"
    "                           'Repeat 9 times: (Repeat 5 times: ...); Rest "
    "...'\n"
    "                           'Rest for 1 h (1 minute period)', "
    "'... (at 80 degC)'\n"
    "                         a line 'Repeat N times:' opens a Repeat over the "
    "next\n"
    "                         lines (-e or file), a line 'End' closes it\n"
    "  -x, --experiment-file FILE  the steps from FILE, one a line ('#' "
    "starts a\n"
    "                         comment)\n"
    "  --temperature T        operating temperature, e.g. 80degC (default: "
    "device)\n"
    "  --pack NsMp            a pack: N cells in series, M strings in "
    "parallel\n"
    "                           (e.g. 2s1p, 1s2p; at most 64 cells), each "
    "the\n"
    "                           device's full model, solved as one circuit; "
    "a\n"
    "                           current per area is per ONE cell's footprint\n"
    "  --set SECTION.KEY=VAL  override a device-file value, e.g. "
    "anode.thickness=10um\n"
    "  -o, --output DIR       write timeseries.csv, summary.json, the "
    "figures of\n"
    "                           the technique (gcd, cv, cycling, rest or "
    "load:\n"
    "                           .png and .svg), and cycles.csv when a Repeat "
    "ran\n"
    "  --json                 print the summary JSON on stdout (and nothing "
    "else)\n"
    "  --fields               with -o: also write the fields at the end of the "
    "run\n"
    "                           (fields.csv, fields.png, fields.svg: salt\n"
    "                           concentration and reaction current per cell)\n"
    "  --rtol X               solver relative tolerance (default: device, "
    "1e-5)\n"
    "  --output-interval T    record the time series every T (e.g. 1s) "
    "instead\n"
    "                           of at every solver step\n"
    "  --until-steady         formation first: repeat the steps, as one "
    "cycle (a\n"
    "                           Charge, then a Discharge), until the cycle "
    "is steady;\n"
    "                           the metrics are those of the steady cycle, "
    "and say\n"
    "                           which cycle it was.  Not steady after "
    "--max-cycles:\n"
    "                           everything is still reported, exit status 1\n"
    "  --min-cycles N         with --until-steady: run at least N cycles "
    "(>= 2,\n"
    "                           default 3)\n"
    "  --max-cycles N         with --until-steady: run at most N cycles "
    "(default 30)\n"
    "  --ce-min X             with --until-steady: a steady cycle's coulombic\n"
    "                           efficiency is at least X (0 to 1, default "
    "0.99)\n"
    "  --steady-tol X         with --until-steady: and its capacitance and "
    "coulombic\n"
    "                           efficiency are within X of the cycle before "
    "(> 0,\n"
    "                           default 3e-4: 0.03 %)\n"
    "  --load-state FILE      start from the state in FILE (written by "
    "--save-state\n"
    "                           on the same device) instead of the device at "
    "rest\n"
    "  --save-state FILE      after the run, write the simulation's state "
    "to FILE\n"
    "  --cycle-jump           every Repeat of at least 20 cycles jumps "
    "cycles: a few\n"
    "                           simulated, the state extrapolated over "
    "those between\n"
    "                           (as 'Repeat N times with cycle jumping:'); "
    "cycles.csv\n"
    "                           says which were skipped\n"
    "  --cycle-jump-tol X     the capacitance error allowed per jump, of "
    "the first\n"
    "                           cycle's (default 1e-3)\n"
    "  --cycles-only          keep no time series: one row per cycle of a "
    "Repeat\n"
    "                           on stdout as it ends, cycles.csv and "
    "summary.json\n"
    "                           with -o (no timeseries.csv; of the figures "
    "cycling\n"
    "                           alone); "
    "memory does\n"
    "                           not grow with the cycles (docs/cli.md)\n"
    "  --checkpoint-every N   with -o: write DIR/checkpoint.nimc at "
    "every\n"
    "                           N-th checkpoint boundary (the end of a "
    "cycle,\n"
    "                           or of a step outside any cycle), and at the\n"
    "                           start (docs/cli.md, \"Checkpoints\")\n"
    "  --checkpoint-interval T  with -o: write it at the first boundary "
    "after\n"
    "                           each T of wall time (e.g. 60s, '5 min')\n"
    "  --resume DIR           go on with the run whose checkpoint is in "
    "DIR\n"
    "                           (its options, device and experiment are "
    "the\n"
    "                           checkpoint's; only -q and --json may be\n"
    "                           added): the same outputs as the unbroken "
    "run;\n"
    "                           a finished run's: says so, exit 0\n"
    "  --force                run even beyond the budget of steps and "
    "samples\n"
    "                           (docs/cli.md)\n"
    "  -q, --quiet            no progress on stderr\n"
    "  -h, --help             this help\n";

/* ---- small helpers (shared with the other commands: reproduce.h) ---- */

int cli_fail_usage(const char *cmd, const char *fmt, const char *arg) {
  fprintf(stderr, "nimc%s%s: ", cmd ? " " : "", cmd ? cmd : "");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n(see 'nimc%s%s --help')\n", cmd ? " " : "",
          cmd ? cmd : "");
  return EXIT_USAGE;
}

/* Exit status for a library status: input errors are the user's (2). */
int cli_exit_for(int status) {
  switch (status) {
  case NIMC_OK:
    return 0;
  case NIMC_EINPUT:
  case NIMC_EDATA:
  case NIMC_EIO:
    return EXIT_USAGE;
  default:
    return EXIT_FAIL;
  }
}

int cli_mkdir_p(const char *path, char *why, size_t len) {
  char buf[4096];
  if (!*path) {
    snprintf(why, len, "'': an empty path");
    return -1;
  }
  if (strlen(path) >= sizeof buf) {
    snprintf(why, len, "path too long");
    return -1;
  }
  strcpy(buf, path);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(buf, 0777) && errno != EEXIST) {
      snprintf(why, len, "%s: %s", buf, strerror(errno));
      return -1;
    }
    *p = '/';
  }
  if (mkdir(buf, 0777) && errno != EEXIST) {
    snprintf(why, len, "%s: %s", buf, strerror(errno));
    return -1;
  }
  struct stat st;
  if (stat(buf, &st) || !S_ISDIR(st.st_mode)) {
    snprintf(why, len, "%s: not a directory", buf);
    return -1;
  }
  return 0;
}

int cli_check_outdir(const char *path, char *why, size_t len) {
  if (cli_mkdir_p(path, why, len)) return -1;
  char probe[4200];
  snprintf(probe, sizeof probe, "%s/.nimc-probe.XXXXXX", path);
  int fd = mkstemp(probe);
  if (fd < 0) {
    snprintf(why, len, "%s: cannot write: %s", path, strerror(errno));
    return -1;
  }
  close(fd);
  unlink(probe);
  return 0;
}

int cli_outdir_ready(const char *cmd, const char *path) {
  char why[512];
  if (!path || !cli_check_outdir(path, why, sizeof why)) return 0;
  fprintf(stderr, "nimc %s: -o: cannot use output directory %s\n", cmd, why);
  return EXIT_USAGE;
}

int cli_clear_manifest(const char *cmd, const char *dir) {
  char path[4096];
  snprintf(path, sizeof path, "%s/" CLI_MANIFEST, dir);
  if (unlink(path) && errno != ENOENT) {
    fprintf(stderr, "nimc %s: cannot remove %s: %s\n", cmd, path,
            strerror(errno));
    return EXIT_FAIL;
  }
  return 0;
}

int cli_write_manifest(const char *cmd, const char *dir,
                       const char *const *names, int fields) {
  char text[4096], path[4096];
  size_t n = (size_t)snprintf(text, sizeof text,
                              "# nimc %s: the complete set of files of one "
                              "run (name size), written last\n",
                              cmd);
  for (size_t k = 0; names[k] && n < sizeof text; k++) {
    struct stat st;
    if (!fields && !strncmp(names[k], "fields", 6)) continue;
    snprintf(path, sizeof path, "%s/%s", dir, names[k]);
    if (stat(path, &st) || !S_ISREG(st.st_mode)) continue;
    n += (size_t)snprintf(text + n, sizeof text - n, "%s %lld\n", names[k],
                          (long long)st.st_size);
  }
  if (n >= sizeof text) n = sizeof text - 1;
  nimc_err err;
  snprintf(path, sizeof path, "%s/" CLI_MANIFEST, dir);
  if (nimc_write_atomic(path, text, n, &err)) {
    fprintf(stderr, "nimc %s: %s\n", cmd, err.msg);
    return EXIT_FAIL;
  }
  return 0;
}

void cli_block_signals(int block, sigset_t *old) {
  if (!block) {
    sigprocmask(SIG_SETMASK, old, NULL);
    return;
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  sigprocmask(SIG_BLOCK, &set, old);
}

int cli_load_device(const char *cmd, const char *path, const char *const *sets,
                    size_t nsets, const char *temperature,
                    nimc_device **out) {
  nimc_err err;
  int rc = nimc_device_load(out, path, sets, nsets, &err);
  if (rc) {
    fprintf(stderr, "nimc %s: %s\n", cmd, err.msg);
    return cli_exit_for(rc);
  }
  double T;
  if (temperature && (nimc_quantity_parse(temperature, "K", &T, &err) ||
                      nimc_device_set_temperature(*out, T, &err))) {
    fprintf(stderr, "nimc %s: --temperature '%s': %s\n", cmd, temperature,
            err.msg);
    return EXIT_USAGE;
  }
  return 0;
}

int cli_tail_option(const char *cmd, const char *what, int argc, char **argv,
                    int *i, const char **outdir, int *json, int *quiet,
                    const char **arg) {
  const char *o = argv[*i];
  if (!strcmp(o, "-o") || !strcmp(o, "--output")) {
    if (*i + 1 >= argc)
      return cli_fail_usage(cmd, "option '%s' needs a directory", o);
    *outdir = argv[++*i];
  } else if (!strcmp(o, "--json")) {
    *json = 1;
  } else if (!strcmp(o, "-q") || !strcmp(o, "--quiet")) {
    *quiet = 1;
  } else if (o[0] == '-' && o[1]) {
    return cli_fail_usage(cmd, "unknown option '%s'", o);
  } else if (!*arg) {
    *arg = o;
  } else {
    char fmt[96];
    snprintf(fmt, sizeof fmt, "unexpected argument '%%s' (one %s only)", what);
    return cli_fail_usage(cmd, fmt, o);
  }
  return 0;
}

double cli_now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct progress {
  int quiet;
  double start, last;
} progress;

/* Progress on stderr: at most about once a second, and only once the run
 * has taken a second, so short runs stay silent. */
static int on_progress(void *user, size_t done, size_t total, double t_s) {
  progress *p = user;
  double now = cli_now_s();
  if (p->quiet || now - p->start < 1.0 || now - p->last < 1.0) return 0;
  p->last = now;
  fprintf(
      stderr,
      "nimc run: step %zu of %zu done, t = %.1f s simulated, %.1f s elapsed\n",
      done, total, t_s, now - p->start);
  return 0;
}

static void print_metric(const char *name, double v, const char *unit) {
  if (isfinite(v)) printf("  %-32s %.6g %s\n", name, v, unit);
}

/* The per-cycle table on stdout: its header, and one row. */
static void print_cycle_header(void) {
  printf("cycles:\n  %5s %12s %11s %11s %9s %11s %9s %11s %9s\n", "cycle",
         "t_start_s", "charge_C", "discharge_C", "CE", "C_F", "retention",
         "E_dis_J", "esr_ohm");
}

static void print_cycle_row(const nimc_cycle_result *c) {
  printf("  %5d %12.6g %11.5g %11.5g %9.6f %11.5g %9.5f %11.5g %9.4g\n",
         c->cycle, c->t_start_s, c->charge_C, c->discharge_C,
         c->coulombic_efficiency, c->metrics.capacitance_F,
         c->capacitance_retention, c->energy_discharge_J, c->metrics.esr_ohm);
}

/* The cycles of res: all of them up to 12, else the first and last 5. */
static void print_cycles(const nimc_result *res) {
  if (!res->ncycles) return;
  print_cycle_header();
  for (size_t k = 0; k < res->ncycles; k++) {
    if (res->ncycles > 12 && k >= 5 && k + 5 < res->ncycles) {
      if (k == 5)
        printf("  ... (%zu cycles not shown; all in cycles.csv with -o, or "
               "--json)\n",
               res->ncycles - 10);
      continue;
    }
    print_cycle_row(&res->cycles[k]);
  }
}

/* Human-readable report on stdout. */
static void print_device(const nimc_device *dev) {
  int ns, np, cells = nimc_device_pack(dev, &ns, &np);
  char pack[64] = "";
  if (cells) snprintf(pack, sizeof pack, " as a %ds%dp pack", ns, np);
  printf("device: %s (%s)%s at %.2f degC\n", nimc_device_name(dev),
         nimc_device_path(dev), pack, nimc_device_temperature_K(dev) - 273.15);
}

/* A pack's cells at the end: voltage and charge passed of each. */
static void print_pack_cells(nimc_sim *sim) {
  double v[NIMC_PACK_MAX_CELLS], q[NIMC_PACK_MAX_CELLS];
  int K = nimc_sim_pack_cells(sim, v, q, NIMC_PACK_MAX_CELLS);
  if (K <= 0) return;
  printf("pack cells at the end (voltage, charge passed):");
  for (int k = 0; k < K && k < NIMC_PACK_MAX_CELLS; k++)
    printf("%s %.4f V %.4g C", k ? "," : "", v[k], q[k]);
  printf("\n");
}

/* Human-readable report on stdout (the device line and the cycles were
 * printed as the run went when streamed). */
static void print_report(const nimc_device *dev, const nimc_result *res,
                         const nimc_metrics *mt, int have_metrics,
                         const nimc_steady_info *steady,
                         const nimc_solver_stats *st, double wall, int streamed,
                         const nimc_rest_result *sd) {
  if (!streamed) print_device(dev);
  printf("steps:%s\n", streamed ? " (outside the Repeats)" : "");
  size_t shown = 0;
  for (size_t k = 0; k < res->nsteps; k++) {
    if (res->nsteps > 12 && k >= 5 && k + 5 < res->nsteps) {
      if (!shown++) printf("  ... (%zu steps not shown)\n", res->nsteps - 10);
      continue;
    }
    const nimc_step_result *s = &res->steps[k];
    printf("  %4d %-9s %10.2f s  %8.4f -> %8.4f V  %11.4g C  end: %s\n",
           s->index + 1, nimc_step_type_name(s->type), s->duration_s,
           s->v_start_V, s->v_end_V, s->charge_C,
           nimc_end_reason_name(s->end_reason));
    if (s->type == NIMC_STEP_SINE && isfinite(s->z_re_ohm))
      printf("       impedance at %g Hz: %.6g %+.6gj ohm (the step's last "
             "half)\n",
             s->freq_Hz, s->z_re_ohm, s->z_im_ohm);
  }
  if (!streamed) print_cycles(res);
  if (steady && steady->converged)
    printf("steady at cycle %d of %d: coulombic efficiency %.6g; from the "
           "cycle before, capacitance changed by %.2g %%, efficiency by "
           "%.2g\n",
           steady->steady_cycle, steady->cycles, steady->coulombic_efficiency,
           100.0 * steady->capacitance_change, steady->ce_change);
  else if (steady)
    printf("NOT steady after %d cycles (--max-cycles %d): coulombic "
           "efficiency %.6g (at least %g wanted); from the cycle before, "
           "capacitance changed by %.2g %%, efficiency by %.2g (at most %g "
           "wanted)\n",
           steady->cycles, steady->opts.max_cycles,
           steady->coulombic_efficiency, steady->opts.ce_min,
           100.0 * steady->capacitance_change, steady->ce_change,
           steady->opts.rel_tol);
  if (have_metrics) {
    if (streamed)
      printf("metrics (the last cycle's last full discharge, cycle %d of its "
             "Repeat; retention against its first):\n",
             mt->cycle);
    else if (mt->cycle > 0)
      printf("metrics (last full discharge, cycle %d):\n", mt->cycle);
    else
      printf("metrics (last full discharge):\n");
    print_metric("capacitance_F", mt->capacitance_F, "F");
    print_metric("capacitance_areal_mF_cm2", nimc_metric_value(mt, "capacitance_areal_mF_cm2"),
                 "mF/cm2");
    print_metric("capacitance_volumetric_F_cm3",
                 nimc_metric_value(mt, "capacitance_volumetric_F_cm3"), "F/cm3");
    print_metric("energy_volumetric_mWh_cm3", nimc_metric_value(mt, "energy_volumetric_mWh_cm3"),
                 "mWh/cm3");
    print_metric("energy_areal_uWh_cm2", nimc_metric_value(mt, "energy_areal_uWh_cm2"), "uWh/cm2");
    print_metric("power_volumetric_W_cm3", nimc_metric_value(mt, "power_volumetric_W_cm3"), "W/cm3");
    print_metric("power_areal_mW_cm2", nimc_metric_value(mt, "power_areal_mW_cm2"), "mW/cm2");
    print_metric("esr_ohm", mt->esr_ohm, "ohm");
    print_metric("coulombic_efficiency", mt->coulombic_efficiency, "");
    print_metric("capacitance_retention", mt->capacitance_retention, "");
  } else {
    printf("metrics: none (no full discharge at constant current in this "
           "experiment)\n");
  }
  if (sd) {
    double vt = sd->threshold * sd->v0_V;
    if (isfinite(sd->time_to_threshold_s))
      printf("self-discharge: %.4g h from the rest's start (%.4g V) to %.4g V "
             "(0.6 x Vmax %.4g V)\n",
             sd->time_to_threshold_s / 3600.0, sd->v0_V, vt, sd->v_ref_V);
    else
      printf("self-discharge: not to %.4g V (0.6 x Vmax %.4g V) in the rest's "
             "%.4g h (%.4g -> %.4g V)\n",
             vt, sd->v_ref_V, sd->duration_s / 3600.0, sd->v0_V, sd->v_end_V);
    printf("  Conway: R^2 of V against log t %.4f, against sqrt t %.4f, of "
           "ln V against t %.4f\n",
           sd->r2_log, sd->r2_sqrt, sd->r2_ln);
  }
  printf("solver: %ld unknowns, %ld steps, %ld residual and %ld Jacobian "
         "evaluations, %ld factorisations (%ld fresh, %ld refactorisations), "
         "%.3f s\n",
         st->unknowns, st->steps, st->residual_evals, st->jacobian_evals,
         st->linear_setups, st->full_factorizations, st->refactorizations,
         wall);
}

/* ---- nimc run ---- */

typedef struct run_args {
  const char *device, *outdir, *temperature, *interval;
  const char *xfile; /* -x: the experiment file */
  const char **steps, **sets;
  size_t nsteps, nsets;
  int json, quiet, fields, force;
  int cycles_only; /* --cycles-only */
  int cycle_jump;  /* --cycle-jump */
  double cycle_jump_tol; /* --cycle-jump-tol */
  const char *load_state, *save_state;
  int ckpt_every;            /* --checkpoint-every N (0: none) */
  const char *ckpt_interval; /* --checkpoint-interval T */
  const char *pack; /* --pack NsMp */
  int pack_series, pack_parallel;
  double rtol;
  int until_steady;
  nimc_steady_opts steady;
  const char *steady_option; /* the first --min-cycles etc. given */
} run_args;

/* The integer value of option o (argv[*i]) into *out, at least lo; 0 or
 * the exit status of the message printed. */
static int int_option(int argc, char **argv, int *i, int lo, int *out) {
  const char *o = argv[*i];
  char fmt[128];
  if (*i + 1 >= argc)
    return cli_fail_usage("run", "option '%s' needs a number", o);
  const char *v = argv[++*i];
  char *end;
  errno = 0;
  long n = strtol(v, &end, 10);
  if (end == v || *end || errno || n < lo || n > 1000000) {
    snprintf(fmt, sizeof fmt,
             "%s '%%s': expected a whole number from %d to 1000000", o, lo);
    return cli_fail_usage("run", fmt, v);
  }
  *out = (int)n;
  return 0;
}

/* The number value of option o (argv[*i]) into *out, within [lo, hi]
 * (lo excluded when open_lo); 0 or the exit status of the message. */
static int num_option(int argc, char **argv, int *i, double lo, int open_lo,
                      double hi, const char *range, double *out) {
  const char *o = argv[*i];
  char fmt[128];
  if (*i + 1 >= argc)
    return cli_fail_usage("run", "option '%s' needs a number", o);
  const char *v = argv[++*i];
  char *end;
  double x = strtod(v, &end);
  if (end == v || *end || !isfinite(x) || x < lo || (open_lo && x == lo) ||
      x > hi) {
    snprintf(fmt, sizeof fmt, "%s '%%s': expected a number %s", o, range);
    return cli_fail_usage("run", fmt, v);
  }
  *out = x;
  return 0;
}

static int parse_run_args(int argc, char **argv, run_args *a) {
  memset(a, 0, sizeof *a);
  a->steady = nimc_steady_opts_default();
  a->steps = calloc((size_t)argc, sizeof *a->steps);
  a->sets = calloc((size_t)argc, sizeof *a->sets);
  if (!a->steps || !a->sets) {
    fprintf(stderr, "nimc run: out of memory\n");
    return EXIT_FAIL;
  }
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i];
    int has_value = i + 1 < argc;
    if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
      fputs(usage_run, stdout);
      return -1;
    } else if (!strcmp(o, "-e") || !strcmp(o, "--step")) {
      if (!has_value)
        return cli_fail_usage("run", "option '%s' needs a step", o);
      a->steps[a->nsteps++] = argv[++i];
    } else if (!strcmp(o, "-x") || !strcmp(o, "--experiment-file")) {
      if (!has_value)
        return cli_fail_usage("run", "option '%s' needs a file", o);
      if (a->xfile)
        return cli_fail_usage("run", "%s", "one experiment file (-x) only");
      a->xfile = argv[++i];
    } else if (!strcmp(o, "--set")) {
      if (!has_value)
        return cli_fail_usage("run", "option '%s' needs SECTION.KEY=VALUE", o);
      a->sets[a->nsets++] = argv[++i];
    } else if (!strcmp(o, "--pack")) {
      char why[256], fmt[320];
      if (!has_value)
        return cli_fail_usage("run", "option '%s' needs a shape such as 2s1p",
                              o);
      a->pack = argv[++i];
      if (nimc_pack_shape_parse(a->pack, &a->pack_series, &a->pack_parallel,
                                why, sizeof why)) {
        snprintf(fmt, sizeof fmt, "--pack '%%s': %s", why);
        return cli_fail_usage("run", fmt, a->pack);
      }
    } else if (!strcmp(o, "--temperature")) {
      if (!has_value)
        return cli_fail_usage("run", "option '%s' needs a temperature", o);
      a->temperature = argv[++i];
    } else if (!strcmp(o, "--rtol")) {
      if (!has_value)
        return cli_fail_usage("run", "option '%s' needs a number", o);
      char *end;
      a->rtol = strtod(argv[++i], &end);
      if (*end || !(a->rtol > 0.0 && a->rtol < 0.1))
        return cli_fail_usage(
            "run", "--rtol '%s': expected a number in (0, 0.1)", argv[i]);
    } else if (!strcmp(o, "--output-interval")) {
      if (!has_value)
        return cli_fail_usage("run", "option '%s' needs a time", o);
      a->interval = argv[++i];
    } else if (!strcmp(o, "--fields")) {
      a->fields = 1;
    } else if (!strcmp(o, "--force")) {
      a->force = 1;
    } else if (!strcmp(o, "--cycles-only")) {
      a->cycles_only = 1;
    } else if (!strcmp(o, "--cycle-jump")) {
      a->cycle_jump = 1;
    } else if (!strcmp(o, "--cycle-jump-tol")) {
      if (!has_value)
        return cli_fail_usage("run", "option '%s' needs a number", o);
      char *end;
      a->cycle_jump_tol = strtod(argv[++i], &end);
      if (*end || !(a->cycle_jump_tol > 0.0 && a->cycle_jump_tol < 0.1))
        return cli_fail_usage(
            "run", "--cycle-jump-tol '%s': expected a number in (0, 0.1)",
            argv[i]);
    } else if (!strcmp(o, "--load-state") || !strcmp(o, "--save-state")) {
      if (!has_value)
        return cli_fail_usage("run", "option '%s' needs a file", o);
      *(!strcmp(o, "--load-state") ? &a->load_state : &a->save_state) =
          argv[++i];
    } else if (!strcmp(o, "--checkpoint-every")) {
      int rc = int_option(argc, argv, &i, 1, &a->ckpt_every);
      if (rc) return rc;
    } else if (!strcmp(o, "--checkpoint-interval")) {
      if (!has_value)
        return cli_fail_usage("run", "option '%s' needs a time", o);
      a->ckpt_interval = argv[++i];
    } else if (!strcmp(o, "--resume")) {
      return cli_fail_usage("run", "%s",
                            "--resume DIR takes the run's options from its "
                            "checkpoint: only -q and --json may go with it");
    } else if (!strcmp(o, "--until-steady")) {
      a->until_steady = 1;
    } else if (!strcmp(o, "--min-cycles") || !strcmp(o, "--max-cycles") ||
               !strcmp(o, "--ce-min") || !strcmp(o, "--steady-tol")) {
      nimc_steady_opts *st = &a->steady;
      int rc = !strcmp(o, "--min-cycles")
                   ? int_option(argc, argv, &i, 2, &st->min_cycles)
               : !strcmp(o, "--max-cycles")
                   ? int_option(argc, argv, &i, 1, &st->max_cycles)
               : !strcmp(o, "--ce-min")
                   ? num_option(argc, argv, &i, 0.0, 0, 1.0, "from 0 to 1",
                                &st->ce_min)
                   : num_option(argc, argv, &i, 0.0, 1, 1.0,
                                "above 0, at most 1", &st->rel_tol);
      if (rc) return rc;
      if (!a->steady_option) a->steady_option = o;
    } else {
      int rc = cli_tail_option("run", "DEVICE", argc, argv, &i, &a->outdir,
                               &a->json, &a->quiet, &a->device);
      if (rc) return rc;
    }
  }
  if (!a->device) return cli_fail_usage("run", "%s", "missing DEVICE file");
  if (!a->nsteps && !a->xfile)
    return cli_fail_usage("run", "%s",
                          "no experiment: give at least one -e STEP, or -x "
                          "FILE");
  if (a->nsteps && a->xfile)
    return cli_fail_usage("run", "%s",
                          "-x FILE and -e STEP exclude each other: put the "
                          "steps in the file");
  if (a->fields && !a->outdir)
    return cli_fail_usage("run", "%s",
                          "--fields needs an output directory: add -o DIR");
  if (a->cycles_only && a->until_steady)
    return cli_fail_usage("run", "%s",
                          "--cycles-only and --until-steady exclude each "
                          "other (the steady cycle is read from its time "
                          "series)");
  if ((a->ckpt_every || a->ckpt_interval) && !a->outdir)
    return cli_fail_usage("run", "%s",
                          "checkpoints go into the output directory: add "
                          "-o DIR");
  if ((a->ckpt_every || a->ckpt_interval) && a->until_steady)
    return cli_fail_usage("run", "%s",
                          "--until-steady runs are not checkpointed (its "
                          "cycles are read from their time series)");
  if (a->steady_option && !a->until_steady)
    return cli_fail_usage("run", "option '%s' needs --until-steady",
                          a->steady_option);
  if (a->steady.max_cycles < a->steady.min_cycles) {
    char fmt[128];
    snprintf(fmt, sizeof fmt,
             "--max-cycles '%%s': must be at least --min-cycles (%d)",
             a->steady.min_cycles);
    char v[32];
    snprintf(v, sizeof v, "%d", a->steady.max_cycles);
    return cli_fail_usage("run", fmt, v);
  }
  return 0;
}

/* The budget of a run, checked before it starts (docs/cli.md): steps to
 * execute, Repeats (nested ones expanded) and --until-steady cycles
 * counted, and time-series samples the steps' own '(<time> period)' and
 * an --output-interval would record over the steps of known length.
 * Beyond it: exit status 2 with the estimate, unless --force. */
#define RUN_MAX_STEPS 100000
#define RUN_MAX_SAMPLES 10000000

#define RUN_MANIFEST CLI_MANIFEST

/* 0 when the run fits the budget, else the exit status of the message. */
static int check_budget(const run_args *a, const nimc_experiment *exp,
                        double dt_s) {
  double cycles = a->until_steady ? a->steady.max_cycles : 1.0;
  double steps = (double)nimc_experiment_nsteps(exp) * cycles;
  if (steps > RUN_MAX_STEPS) {
    fprintf(stderr,
            "nimc run: the experiment would run %.0f steps (Repeats%s "
            "counted), more than the budget of %d steps; --force runs it "
            "anyway\n",
            steps, a->until_steady ? " and --max-cycles" : "", RUN_MAX_STEPS);
    return EXIT_USAGE;
  }
  /* the steps' own '(<time> period)' first: over them --output-interval
   * does not count */
  double own = nimc_experiment_samples(exp, 0.0) * cycles;
  if (own > RUN_MAX_SAMPLES) {
    fprintf(stderr,
            "nimc run: the steps' '(<time> period)' would record about %.3g "
            "samples over their known length, more than the budget of %d "
            "samples; a longer period, or --force runs it anyway\n",
            own, RUN_MAX_SAMPLES);
    return EXIT_USAGE;
  }
  if (dt_s > 0.0) {
    double t = nimc_experiment_timed_s(exp) * cycles;
    double samples = nimc_experiment_samples(exp, dt_s) * cycles;
    if (samples > RUN_MAX_SAMPLES) {
      fprintf(stderr,
              "nimc run: --output-interval '%s' would record about %.3g "
              "samples over the %.3g s of steps of known length, more than "
              "the budget of %d samples; a longer interval, or --force runs "
              "it anyway\n",
              a->interval, samples, t, RUN_MAX_SAMPLES);
      return EXIT_USAGE;
    }
  }
  return 0;
}

/* The files of a run with -o, for its manifest: the time series (not
 * with --cycles-only), cycles.csv (when a Repeat ran), the summary, the
 * fields (--fields), and each figure drawn (nimc_plot_run: by technique). */
static const char *const run_other_files[] = {
    "summary.json", "fields.csv", "fields.png", "fields.svg",
    "fields.gp",    "fields.dat", "fields.log", NULL};
static const char *const figure_exts[] = {".png", ".svg", ".gp", ".dat",
                                          ".log"};
#define NFIGURE_EXT (sizeof figure_exts / sizeof figure_exts[0])
#define RUN_FILES_MAX                                                       \
  (2 + NIMC_RUN_FIGURES_MAX * NFIGURE_EXT +                                 \
   sizeof run_other_files / sizeof run_other_files[0])

/* The names of the files this run wrote, into names (NULL-terminated,
 * room for RUN_FILES_MAX; the figures' names in fig, stems[k] as written
 * by nimc_plot_run). */
static void run_file_names(int series, int cycles, const char *const *stems,
                           char fig[][64], const char **names) {
  size_t n = 0, nf = 0;
  if (series) names[n++] = "timeseries.csv";
  if (cycles) names[n++] = "cycles.csv";
  for (size_t k = 0; stems[k]; k++)
    for (size_t e = 0; e < NFIGURE_EXT; e++) {
      snprintf(fig[nf], 64, "%s%s", stems[k], figure_exts[e]);
      names[n++] = fig[nf++];
    }
  for (size_t k = 0; run_other_files[k]; k++)
    names[n++] = run_other_files[k];
  names[n] = NULL;
}

/* Write the outputs into dir: time series (unless --cycles-only), the
 * cycle table (when a Repeat ran), the summary, and the figures of the
 * run's technique, whose names go into stems. */
static int write_outputs(const char *dir, const nimc_device *dev,
                         const nimc_result *res, const char *json, int series,
                         const char **stems) {
  char why[512], path[4096];
  nimc_err err;
  stems[0] = NULL;
  if (cli_mkdir_p(dir, why, sizeof why)) {
    fprintf(stderr, "nimc run: cannot create output directory %s\n", why);
    return EXIT_USAGE;
  }
  int rc = cli_clear_manifest("run", dir);
  if (rc) return rc;
  snprintf(path, sizeof path, "%s/timeseries.csv", dir);
  if (series && nimc_series_write_csv(&res->series, path, &err)) {
    fprintf(stderr, "nimc run: %s\n", err.msg);
    return EXIT_FAIL;
  }
  snprintf(path, sizeof path, "%s/cycles.csv", dir);
  if (res->ncycles &&
      nimc_cycles_write_csv(res->cycles, res->ncycles, path, &err)) {
    fprintf(stderr, "nimc run: %s\n", err.msg);
    return EXIT_FAIL;
  }
  snprintf(path, sizeof path, "%s/summary.json", dir);
  if (nimc_write_atomic(path, json, strlen(json), &err)) {
    fprintf(stderr, "nimc run: %s\n", err.msg);
    return EXIT_FAIL;
  }
  nimc_run_info info = {nimc_device_name(dev),
                        nimc_device_temperature_K(dev) - 273.15,
                        nimc_device_footprint_area_m2(dev)};
  nimc_result shown = *res; /* --cycles-only: no series to draw */
  if (!series) memset(&shown.series, 0, sizeof shown.series);
  if (nimc_plot_run(&shown, &info, dir, stems, &err)) {
    fprintf(stderr, "nimc run: figure not written: %s\n", err.msg);
    return EXIT_FAIL;
  }
  return 0;
}

/* Write the fields of sim's current state into dir: fields.csv and the
 * maps fields.png / fields.svg. */
static int write_fields(const char *dir, const nimc_device *dev,
                        nimc_sim *sim) {
  char path[4096];
  nimc_err err;
  nimc_fields f;
  int rc = 0;
  if (nimc_sim_fields(sim, &f)) {
    fprintf(stderr, "nimc run: fields not written: %s\n", nimc_sim_errmsg(sim));
    return EXIT_FAIL;
  }
  const nimc_fields *snap[1] = {&f};
  const char *title[1] = {nimc_device_name(dev)};
  snprintf(path, sizeof path, "%s/fields.csv", dir);
  if (nimc_fields_write_csv(&f, path, &err)) {
    fprintf(stderr, "nimc run: %s\n", err.msg);
    rc = EXIT_FAIL;
  } else if (nimc_plot_fields(snap, title, 1, dir, "fields", &err)) {
    fprintf(stderr, "nimc run: fields figure not written: %s\n", err.msg);
    rc = EXIT_FAIL;
  }
  nimc_fields_free(&f);
  return rc;
}

/* --cycles-only: each cycle's row printed as it ends (unless --json), and
 * the last cycle remembered for the metrics. */
typedef struct cycle_stream {
  int print;
  size_t n;
  nimc_cycle_result last;
} cycle_stream;

static int on_cycle(void *user, const nimc_cycle_result *c) {
  cycle_stream *cs = user;
  if (cs->print) {
    print_cycle_row(c);
    fflush(stdout);
  }
  cs->last = *c;
  cs->n++;
  return 0;
}

/* The part of a run that failed or stopped at the device's window whose
 * steps all completed: the step records before the first that ended at
 * the window, and the samples of those steps (a view of res: nothing
 * copied, nothing to free).  The metrics are read from it, never from a
 * step the solver could not finish or one cut at the window. */
static nimc_result complete_part(const nimc_result *res) {
  nimc_result v = *res;
  size_t nrec = 0;
  while (nrec < res->nsteps && res->steps[nrec].end_reason != NIMC_END_WINDOW)
    nrec++;
  v.nsteps = nrec;
  int last = nrec ? res->steps[nrec - 1].index : -1;
  size_t n = 0;
  while (res->series.step && n < res->series.n && res->series.step[n] <= last)
    n++;
  v.series.n = n;
  return v;
}

/* ---- checkpoints (docs/cli.md, "Checkpoints") ---- */

#define CKPT_FILE "checkpoint.nimc"

/* The meta lines of a checkpoint: what the command needs to go on (its
 * arguments, the device file's absolute path and a hash of its content,
 * the experiment's lines), "KEY VALUE" with the value escaped (\\ and \n). */
typedef struct meta_list {
  char **line;
  size_t n, cap;
} meta_list;

static void meta_free(meta_list *m) {
  for (size_t k = 0; k < m->n; k++)
    free(m->line[k]);
  free(m->line);
  memset(m, 0, sizeof *m);
}

/* Append the string l (malloc'd; taken, freed on failure); 0 or -1. */
static int meta_push(meta_list *m, char *l) {
  if (l && m->n == m->cap) {
    size_t cap = 2 * m->cap + 16;
    char **nl = realloc(m->line, cap * sizeof *nl);
    if (!nl) {
      free(l);
      return -1;
    }
    m->line = nl, m->cap = cap;
  }
  if (!l) return -1;
  m->line[m->n++] = l;
  return 0;
}

static int meta_add(meta_list *m, const char *key, const char *value) {
  size_t len = strlen(key) + 2 + 2 * strlen(value);
  char *l = malloc(len), *o = l;
  if (!l) return -1;
  o += sprintf(o, "%s ", key);
  for (const char *v = value; *v; v++) {
    if (*v == '\\' || *v == '\n' || *v == '\r') {
      *o++ = '\\';
      *o++ = *v == '\\' ? '\\' : *v == '\n' ? 'n' : 'r';
    } else {
      *o++ = *v;
    }
  }
  *o = '\0';
  return meta_push(m, l);
}

/* Undo meta_add's escapes in place; -1 for a stray backslash. */
static int meta_unescape(char *s) {
  char *o = s;
  for (; *s; s++) {
    if (*s != '\\') {
      *o++ = *s;
      continue;
    }
    s++;
    if (*s == '\\' || *s == 'n' || *s == 'r')
      *o++ = *s == '\\' ? '\\' : *s == 'n' ? '\n' : '\r';
    else
      return -1;
  }
  *o = '\0';
  return 0;
}

/* "fnv1a64 HASH SIZE" of the file at path (FNV-1a, 64 bits: a check that
 * the device file is the one the run began with, not a seal); 0, or -1
 * with why. */
static int file_hash(const char *path, char *out, size_t cap, char *why,
                     size_t wlen) {
  char *text = NULL;
  size_t len = 0;
  nimc_err err;
  if (nimc_text_file_read(path, 64L << 20, "device file", &text, &len, &err)) {
    snprintf(why, wlen, "%s", err.msg);
    return -1;
  }
  unsigned long long h = 0xcbf29ce484222325ULL;
  for (size_t k = 0; k < len; k++) {
    h ^= (unsigned char)text[k];
    h *= 0x100000001b3ULL;
  }
  free(text);
  snprintf(out, cap, "fnv1a64 %016llx %zu", h, len);
  return 0;
}

/* The meta lines of a run with checkpoints: argv (the command's
 * arguments after "run"), the device, the experiment's lines. */
static int run_meta(int argc, char **argv, const char *device,
                    const char *const *lines, size_t nlines, meta_list *m) {
  char abs[4096], hash[128], why[NIMC_ERRMSG_MAX + 64];
  if (!realpath(device, abs)) {
    fprintf(stderr, "nimc run: %s: %s\n", device, strerror(errno));
    return EXIT_USAGE;
  }
  if (file_hash(abs, hash, sizeof hash, why, sizeof why)) {
    fprintf(stderr, "nimc run: %s\n", why);
    return EXIT_USAGE;
  }
  int bad = meta_add(m, "nimc", NIMC_VERSION);
  for (int k = 1; k < argc && !bad; k++)
    bad = meta_add(m, "arg", argv[k]);
  bad = bad || meta_add(m, "device_path", abs) ||
        meta_add(m, "device_hash", hash);
  for (size_t k = 0; k < nlines && !bad; k++)
    bad = meta_add(m, "experiment", lines[k]);
  if (bad) {
    fprintf(stderr, "nimc run: out of memory\n");
    return EXIT_FAIL;
  }
  return 0;
}

/* Remove the temporaries that a killed run left in dir: nimc_write_atomic's
 * and the figures' NAME.tmp.XXXXXX, for the kinds of file a run writes
 * (SIGKILL cannot be waited for, so a run killed while it wrote its
 * checkpoint or its outputs leaves them). */
static void sweep_temporaries(const char *dir) {
  static const char *const kinds[] = {".nimc", ".csv", ".json", ".txt", ".png",
                                      ".svg",  ".gp",  ".dat",  ".log"};
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  char path[4096];
  while ((e = readdir(d))) {
    const char *t = strstr(e->d_name, ".tmp.");
    if (!t || strlen(t) != 5 + 6 || strchr(t + 5, '.')) continue;
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
      size_t n = strlen(kinds[k]);
      if ((size_t)(t - e->d_name) > n && !strncmp(t - n, kinds[k], n)) {
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
        break;
      }
    }
  }
  closedir(d);
}

/* The run's checkpoints: where, what, and when (the library calls at its
 * scheduled boundaries; with --checkpoint-interval that is every one, and
 * a file is written when the time has come). */
typedef struct ckpt_ctx {
  char path[4096];
  const meta_list *meta;
  int every;         /* write at every every-th call (0: by time only) */
  double interval_s; /* and after interval_s of wall time (0: never) */
  long since;
  double last_s;
} ckpt_ctx;

static int ckpt_write(ckpt_ctx *c, nimc_sim *sim, const nimc_result *res) {
  nimc_err err;
  sigset_t old;
  cli_block_signals(1, &old);
  int rc = nimc_checkpoint_write(sim, res, (const char *const *)c->meta->line,
                                 c->meta->n, c->path, &err);
  cli_block_signals(0, &old);
  if (rc) fprintf(stderr, "nimc run: checkpoint not written: %s\n", err.msg);
  c->since = 0;
  c->last_s = cli_now_s();
  return rc;
}

static int on_checkpoint(void *user, nimc_sim *sim, const nimc_result *res) {
  ckpt_ctx *c = user;
  c->since++;
  int due = (c->every && c->since >= c->every) ||
            (c->interval_s > 0.0 && cli_now_s() - c->last_s >= c->interval_s);
  return due ? ckpt_write(c, sim, res) : 0;
}

/* The args of `nimc run --resume DIR [-q] [--json]`: the checkpoint's,
 * read from DIR/checkpoint.nimc into *ck (its meta lines parsed into a:
 * the original arguments, then the device file's absolute path, checked
 * against its hash, and the experiment's lines; -o is DIR).  0, -1 when
 * there is nothing to do (a finished run: said), or the exit status of
 * the message printed.  The strings of a point into *store. */
static int resume_args(int argc, char **argv, run_args *a, nimc_checkpoint **ck,
                       meta_list *store) {
  const char *dir = NULL;
  int quiet = 0, json = 0;
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i];
    if (!strcmp(o, "--resume") && i + 1 < argc && !dir)
      dir = argv[++i];
    else if (!strcmp(o, "-q") || !strcmp(o, "--quiet"))
      quiet = 1;
    else if (!strcmp(o, "--json"))
      json = 1;
    else
      return cli_fail_usage("run",
                            "--resume DIR takes the run's options from its "
                            "checkpoint: only -q and --json may go with it, "
                            "not '%s'",
                            o);
  }
  if (!dir)
    return cli_fail_usage("run", "%s", "option '--resume' needs a directory");
  char path[4096];
  snprintf(path, sizeof path, "%s/" CKPT_FILE, dir);
  nimc_err err;
  int rc = nimc_checkpoint_read(path, ck, &err);
  if (rc) {
    fprintf(stderr, "nimc run: --resume: %s\n", err.msg);
    return cli_exit_for(rc);
  }
  int status;
  if (nimc_checkpoint_finished(*ck, &status)) {
    fprintf(stderr,
            "nimc run: --resume: %s: the run finished (exit status %d); its "
            "outputs are in %s: nothing to resume\n",
            path, status, dir);
    return -1;
  }
  /* the stored argv, the device and the experiment */
  const char *dev_path = NULL, *dev_hash = NULL;
  long dev_path_line = 0, dev_hash_line = 0, line;
  size_t nargs = 1, nexp = 0;
  const char *l;
  for (size_t k = 0; (l = nimc_checkpoint_meta(*ck, k, &line)); k++) {
    const char *sp = strchr(l, ' ');
    size_t klen = sp ? (size_t)(sp - l) : strlen(l);
    if (meta_push(store, strdup(sp ? sp + 1 : ""))) {
      fprintf(stderr, "nimc run: out of memory\n");
      return EXIT_FAIL;
    }
    char *v = store->line[store->n - 1];
    if (meta_unescape(v)) {
      fprintf(stderr,
              "nimc run: --resume: %s:%ld: %.*s: a backslash that escapes "
              "nothing\n",
              path, line, (int)klen, l);
      return EXIT_USAGE;
    }
    if (klen == 3 && !strncmp(l, "arg", 3))
      nargs++;
    else if (klen == 10 && !strncmp(l, "experiment", 10))
      nexp++;
    else if (klen == 11 && !strncmp(l, "device_path", 11))
      dev_path = v, dev_path_line = line;
    else if (klen == 11 && !strncmp(l, "device_hash", 11))
      dev_hash = v, dev_hash_line = line;
    else if (klen == 4 && !strncmp(l, "nimc", 4)) {
      if (strcmp(v, NIMC_VERSION))
        fprintf(stderr,
                "nimc run: --resume: warning: %s:%ld: written by nimc %s, "
                "this is nimc %s: the numbers may differ from an unbroken "
                "run's\n",
                path, line, v, NIMC_VERSION);
    } else {
      fprintf(stderr,
              "nimc run: --resume: %s:%ld: unknown key '%.*s' of the run's "
              "options\n",
              path, line, (int)klen, l);
      return EXIT_USAGE;
    }
  }
  if (!dev_path || !dev_hash || !nexp) {
    fprintf(stderr,
            "nimc run: --resume: %s: the checkpoint lacks the run's %s\n", path,
            !dev_path   ? "device_path"
            : !dev_hash ? "device_hash"
                        : "experiment");
    return EXIT_USAGE;
  }
  char **av = calloc(nargs + 1, sizeof *av);
  const char **exp_lines = calloc(nexp, sizeof *exp_lines);
  if (!av || !exp_lines) {
    free(av), free(exp_lines);
    fprintf(stderr, "nimc run: out of memory\n");
    return EXIT_FAIL;
  }
  av[0] = "run";
  size_t ia = 1, ie = 0;
  for (size_t k = 0; (l = nimc_checkpoint_meta(*ck, k, NULL)); k++) {
    if (!strncmp(l, "arg ", 4)) av[ia++] = store->line[k];
    if (!strncmp(l, "experiment ", 11)) exp_lines[ie++] = store->line[k];
  }
  rc = parse_run_args((int)nargs, av, a);
  free(av);
  if (rc) {
    free(exp_lines);
    fprintf(stderr,
            "nimc run: --resume: %s: the run's options (above) do not "
            "parse\n",
            path);
    return rc < 0 ? EXIT_USAGE : rc;
  }
  char hash[128], why[NIMC_ERRMSG_MAX + 64];
  int unreadable = file_hash(dev_path, hash, sizeof hash, why, sizeof why);
  if (unreadable || strcmp(hash, dev_hash)) {
    if (unreadable)
      fprintf(stderr,
              "nimc run: --resume: %s:%ld: device_path: the run's device "
              "file cannot be read: %s\n",
              path, dev_path_line, why);
    else
      fprintf(stderr,
              "nimc run: --resume: %s:%ld: device_hash: the device file %s "
              "has changed since the run began (the checkpoint's '%s', now "
              "'%s'): resume with the device file the run began with\n",
              path, dev_hash_line, dev_path, dev_hash, hash);
    free(exp_lines);
    return EXIT_USAGE;
  }
  a->device = dev_path;
  a->xfile = NULL;
  free(a->steps);
  a->steps = exp_lines;
  a->nsteps = nexp;
  a->outdir = dir;
  a->load_state = NULL; /* the state is the checkpoint's */
  a->quiet |= quiet;
  a->json |= json;
  return 0;
}

static int cmd_run(int argc, char **argv) {
  run_args a;
  nimc_device *dev = NULL;
  nimc_experiment *exp = NULL;
  nimc_sim *sim = NULL;
  nimc_result res;
  memset(&res, 0, sizeof res);
  char *json = NULL;
  nimc_err err;
  memset(&a, 0, sizeof a);
  nimc_checkpoint *ck = NULL; /* --resume: the checkpoint gone on from */
  meta_list store = {0}, meta = {0};
  char **xlines = NULL;
  size_t nxlines = 0;
  ckpt_ctx cc;
  memset(&cc, 0, sizeof cc);
  int resume = 0;
  for (int i = 1; i < argc; i++)
    resume |= !strcmp(argv[i], "--resume");
  int rc = resume ? resume_args(argc, argv, &a, &ck, &store)
                  : parse_run_args(argc, argv, &a);
  if (rc) {
    rc = rc < 0 ? 0 : rc;
    goto done;
  }
  int checkpoints = a.ckpt_every || a.ckpt_interval;
  if ((rc = cli_load_device("run", a.device, a.sets, a.nsets, a.temperature,
                            &dev)))
    goto done;
  if (a.pack &&
      nimc_device_set_pack(dev, a.pack_series, a.pack_parallel, &err)) {
    fprintf(stderr, "nimc run: --pack '%s': %s\n", a.pack, err.msg);
    rc = EXIT_USAGE;
    goto done;
  }
  if (a.fields && nimc_device_pack(dev, NULL, NULL)) {
    fprintf(stderr, "nimc run: --fields: the fields of a pack are not "
                    "mapped (each cell has its own mesh): run one cell\n");
    rc = EXIT_USAGE;
    goto done;
  }
  if ((rc = a.xfile
                ? nimc_experiment_read(a.xfile, &exp, &xlines, &nxlines, &err)
                : nimc_experiment_parse(&exp, a.steps, a.nsteps, &err))) {
    fprintf(stderr, "nimc run: %s%s\n",
            ck ? "--resume: the run's experiment: " : "", err.msg);
    rc = cli_exit_for(rc);
    goto done;
  }
  if (checkpoints) { /* where, when, and what the checkpoints hold */
    snprintf(cc.path, sizeof cc.path, "%s/" CKPT_FILE, a.outdir);
    cc.meta = &meta;
    if (a.ckpt_interval) {
      const char *why = NULL;
      if (nimc_quantity_parse(a.ckpt_interval, "s", &cc.interval_s, &err))
        why = err.msg;
      else if (!(cc.interval_s > 0.0))
        why = "must be a positive time";
      if (why) {
        fprintf(stderr, "nimc run: --checkpoint-interval '%s': %s\n",
                a.ckpt_interval, why);
        rc = EXIT_USAGE;
        goto done;
      }
    }
    cc.every = a.ckpt_interval ? a.ckpt_every : 1;
    const char *l;
    if (ck) { /* the run's own, as it began */
      for (size_t k = 0; (l = nimc_checkpoint_meta(ck, k, NULL)); k++)
        if (meta_push(&meta, strdup(l))) {
          fprintf(stderr, "nimc run: out of memory\n");
          rc = EXIT_FAIL;
          goto done;
        }
    } else if ((rc = a.xfile
                         ? run_meta(argc, argv, a.device,
                                    (const char *const *)xlines, nxlines, &meta)
                         : run_meta(argc, argv, a.device, a.steps, a.nsteps,
                                    &meta)))
      goto done;
  }
  progress prog = {a.quiet, cli_now_s(), cli_now_s()};
  nimc_sim_opts opts = nimc_sim_opts_default();
  if (a.interval) {
    const char *why = NULL;
    if (nimc_quantity_parse(a.interval, "s", &opts.output_dt_s, &err))
      why = err.msg; /* names the unknown unit, the stray number, ... */
    else if (!(opts.output_dt_s > 0.0))
      why = "must be a positive time";
    else if (opts.output_dt_s < 1e-6)
      why = "shorter than 1 us, the solver's time resolution";
    if (why) {
      fprintf(stderr, "nimc run: --output-interval '%s': %s\n", a.interval,
              why);
      rc = EXIT_USAGE;
      goto done;
    }
  }
  if (!a.force && (rc = check_budget(&a, exp, opts.output_dt_s))) goto done;
  /* before the simulation, not after it */
  if ((rc = cli_outdir_ready("run", a.outdir))) goto done;
  opts.rtol = a.rtol;
  opts.cycle_jump = a.cycle_jump;
  opts.cycle_jump_tol = a.cycle_jump_tol;
  opts.progress = on_progress;
  opts.progress_user = &prog;
  if (checkpoints) { /* with an interval: every boundary a candidate */
    opts.checkpoint_every = a.ckpt_interval ? 1 : a.ckpt_every;
    opts.checkpoint = on_checkpoint;
    opts.checkpoint_user = &cc;
  }
  if ((rc = nimc_sim_create(&sim, dev, &opts, &err))) {
    fprintf(stderr, "nimc run: %s\n", err.msg);
    rc = cli_exit_for(rc);
    goto done;
  }
  if (ck && (rc = nimc_sim_resume(sim, ck, &res))) {
    fprintf(stderr, "nimc run: --resume: %s/" CKPT_FILE ": %s\n", a.outdir,
            nimc_sim_errmsg(sim));
    rc = cli_exit_for(rc);
    goto done;
  }
  if (a.load_state) { /* a bad file, or a state of another device: 2 */
    nimc_state *st = NULL;
    if ((rc = nimc_state_read(a.load_state, &st, &err))) {
      fprintf(stderr, "nimc run: --load-state: %s\n", err.msg);
      rc = cli_exit_for(rc);
      goto done;
    }
    rc = nimc_sim_set_state(sim, st);
    nimc_state_destroy(st);
    if (rc) {
      fprintf(stderr, "nimc run: --load-state: %s\n", nimc_sim_errmsg(sim));
      rc = cli_exit_for(rc);
      goto done;
    }
  }
  /* --cycles-only: no samples kept; the cycles kept only for cycles.csv
   * and the summary (-o, --json), else printed as they end */
  cycle_stream cs = {!a.json, 0, {0}};
  if (res.ncycles) { /* resumed: the cycles before the checkpoint */
    cs.n = res.ncycles;
    cs.last = res.cycles[res.ncycles - 1];
  }
  /* a run with checkpoints has one from its start on */
  if (checkpoints) sweep_temporaries(a.outdir);
  if (checkpoints && !ck && ckpt_write(&cc, sim, &res)) {
    rc = EXIT_FAIL;
    goto done;
  }
  if (a.cycles_only) {
    nimc_sinks sk = {NULL, NULL, on_cycle, &cs,
                     a.json || a.outdir ? NIMC_KEEP_CYCLES : NIMC_KEEP_NONE};
    nimc_sim_set_sinks(sim, &sk); /* a valid keep: cannot fail */
    if (!a.json) {
      print_device(dev);
      print_cycle_header();
      fflush(stdout);
    }
  }
  nimc_metrics mt;
  nimc_norm norm = {nimc_device_footprint_area_m2(dev),
                    nimc_device_norm_thickness_m(dev)};
  nimc_steady_info steady;
  int run_rc = a.until_steady ? nimc_sim_run_until_steady(sim, exp, &a.steady,
                                                          &norm, &res, &steady)
                              : nimc_sim_run(sim, exp, &res);
  double wall = cli_now_s() - prog.start;
  if (run_rc == NIMC_EINPUT) { /* a cycle it cannot measure, or a step the
                                  device cannot run: nothing ran; or a
                                  checkpoint of another experiment */
    fprintf(stderr, "nimc run: %s%s%s%s%s\n",
            a.until_steady ? "--until-steady: " : "", ck ? "--resume: " : "",
            ck ? cc.path : "", ck ? ": " : "", nimc_sim_errmsg(sim));
    rc = EXIT_USAGE;
    goto done;
  }
  if (run_rc == NIMC_NOTSTEADY) /* "not steady after N cycles: ..." */
    fprintf(stderr, "nimc run: %s\n", nimc_sim_errmsg(sim));
  else if (run_rc == NIMC_EANALYSIS) /* "cycle N has no capacitance ..." */
    fprintf(stderr, "nimc run: --until-steady: %s\n", nimc_sim_errmsg(sim));
  else if (run_rc && run_rc != NIMC_EWINDOW) /* the window: a warning */
    fprintf(stderr, "nimc run: simulation failed: %s\n", nimc_sim_errmsg(sim));
  for (size_t k = 0; k < res.nwarnings; k++)
    fprintf(stderr, "nimc run: warning: %s\n", res.warnings[k].text);
  /* a run that failed or stopped at the window: the metrics of its
   * complete steps only */
  nimc_result done_part = run_rc < 0 ? complete_part(&res) : res;
  /* the GCD metrics read a discharge at constant current: a run of sines
   * alone has none to read (its impedance is in its steps) */
  int gcd = 0;
  for (size_t k = 0; k < done_part.nsteps; k++)
    gcd |= done_part.steps[k].type != NIMC_STEP_SINE;
  int have_metrics =
      gcd && nimc_metrics_gcd_result(&done_part, &norm, &mt, &err) == NIMC_OK;
  /* with a Repeat, the retention of its cycles, as the per-cycle table and
   * --cycles-only give it: the last cycle's capacitance over that of the
   * first cycle of its Repeat, not of a formation cycle before it */
  if (have_metrics && done_part.ncycles > 0 &&
      isfinite(done_part.cycles[done_part.ncycles - 1].capacitance_retention))
    mt.capacitance_retention =
        done_part.cycles[done_part.ncycles - 1].capacitance_retention;
  if (a.cycles_only) { /* no samples: the last cycle's own metrics */
    have_metrics = cs.n > 0 && cs.last.metrics.have_discharge;
    mt = cs.last.metrics;
    mt.capacitance_retention = cs.last.capacitance_retention;
    mt.cycle = cs.last.cycle;
    mt.ncycles = (int)cs.n;
  }
  /* a run that ends with a rest: its self-discharge from Vmax */
  nimc_rest_result sd;
  int have_sd = !a.cycles_only && res.nsteps &&
                res.steps[res.nsteps - 1].type == NIMC_STEP_REST &&
                nimc_result_self_discharge(&res, 0.6, &sd, &err) == NIMC_OK;
  nimc_solver_stats st = nimc_sim_stats(sim);
  nimc_summary sum = {.device = nimc_device_name(dev),
                      .temperature_C = nimc_device_temperature_K(dev) - 273.15,
                      .result = &res,
                      .metrics = have_metrics ? &mt : NULL,
                      .stats = &st,
                      .steady = a.until_steady ? &steady : NULL,
                      .self_discharge = have_sd ? &sd : NULL};
  if (nimc_summary_json(&sum, &json, &err)) {
    fprintf(stderr, "nimc run: %s\n", err.msg);
    rc = EXIT_FAIL;
    goto done;
  }
  if (a.json)
    printf("%s\n", json);
  else {
    print_report(dev, &res, &mt, have_metrics, a.until_steady ? &steady : NULL,
                 &st, wall, a.cycles_only, have_sd ? &sd : NULL);
    print_pack_cells(sim);
  }
  /* what was computed is written even when the run failed part-way.
   * SIGINT, SIGTERM and SIGHUP wait until the set is written (or its
   * temporaries removed): an interrupted write leaves no temporary, and
   * the manifest, last, marks the set complete. */
  const char *stems[NIMC_RUN_FIGURES_MAX + 1] = {NULL};
  if (a.outdir) {
    sigset_t old;
    cli_block_signals(1, &old);
    const char *names[RUN_FILES_MAX + 1];
    char fig[NIMC_RUN_FIGURES_MAX * NFIGURE_EXT][64];
    rc = write_outputs(a.outdir, dev, &res, json, !a.cycles_only, stems);
    run_file_names(!a.cycles_only, res.ncycles > 0, stems, fig, names);
    if (!rc && a.fields) rc = write_fields(a.outdir, dev, sim);
    if (!rc) rc = cli_write_manifest("run", a.outdir, names, a.fields);
    cli_block_signals(0, &old);
    if (rc) goto done;
  }
  if (a.outdir && !a.json && !a.quiet) {
    fprintf(stderr, "nimc run: wrote %s/%s%ssummary.json", a.outdir,
            a.cycles_only ? "" : "timeseries.csv, ",
            res.ncycles ? "cycles.csv, " : "");
    for (size_t k = 0; stems[k]; k++)
      fprintf(stderr, ", %s.png, %s.svg", stems[k], stems[k]);
    fprintf(stderr, "%s, " RUN_MANIFEST " (figures of the technique %s)\n",
            a.fields ? ", fields.csv, fields.png, fields.svg" : "",
            nimc_run_technique(&res));
  }
  if (a.save_state && !run_rc) {
    nimc_state *snap = NULL;
    if (nimc_sim_get_state(sim, &snap) ||
        nimc_state_write(snap, a.save_state, &err)) {
      fprintf(stderr, "nimc run: --save-state: %s\n",
              snap ? err.msg : "out of memory");
      nimc_state_destroy(snap);
      rc = EXIT_FAIL;
      goto done;
    }
    nimc_state_destroy(snap);
  } else if (a.save_state) {
    fprintf(stderr, "nimc run: --save-state: not written (the run did not "
                    "complete)\n");
  }
  rc = run_rc ? EXIT_FAIL : 0;
  /* the run ended: its checkpoint says so (a resume has nothing to do) */
  if (checkpoints &&
      nimc_checkpoint_write_finished((const char *const *)meta.line, meta.n, rc,
                                     cc.path, &err)) {
    fprintf(stderr, "nimc run: %s\n", err.msg);
    rc = EXIT_FAIL;
  }
done:
  nimc_checkpoint_destroy(ck);
  meta_free(&meta);
  meta_free(&store);
  nimc_experiment_lines_free(xlines, nxlines);
  free(json);
  nimc_result_free(&res);
  nimc_sim_destroy(sim);
  nimc_experiment_destroy(exp);
  nimc_device_destroy(dev);
  free(a.steps);
  free(a.sets);
  return rc;
}

static void run_usage(FILE *out) {
  fputs(usage_run, out);
}

/* The sub-commands: a new one is a row here (and a line of usage_main). */
typedef struct command {
  const char *name;
  int (*run)(int argc, char **argv); /* argv[0] is the command's name */
  void (*usage)(FILE *out);
} command;

static const command commands[] = {
    {"run", cmd_run, run_usage},
    {"eis", cli_eis, cli_eis_usage},
    {"fit-eis", cli_fit_eis, cli_fit_eis_usage},
    {"analyze", cli_analyze, cli_analyze_usage},
    {"fit", cli_fit, cli_fit_usage},
    {"reproduce", cli_reproduce, cli_reproduce_usage},
};

static const command *command_named(const char *name) {
  for (size_t k = 0; k < sizeof commands / sizeof commands[0]; k++)
    if (!strcmp(commands[k].name, name)) return &commands[k];
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fputs(usage_main, stderr);
    return EXIT_USAGE;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help")) {
    fputs(usage_main, stdout);
    return 0;
  }
  if (!strcmp(cmd, "--version")) {
    printf("nimc %s\n", NIMC_VERSION);
    return 0;
  }
  if (!strcmp(cmd, "help")) {
    const command *c = argc > 2 ? command_named(argv[2]) : NULL;
    if (c)
      c->usage(stdout);
    else
      fputs(usage_main, stdout);
    return 0;
  }
  const command *c = command_named(cmd);
  if (c) return c->run(argc - 1, argv + 1);
  return cli_fail_usage(NULL, "unknown command '%s'", cmd);
}
