/*
 * reproduce.h -- what the commands of the nimc program share: the helpers
 * that main.c defines for every command, and the commands that live in
 * files of their own (reproduce.c).  Not part of the library.
 */
#ifndef NIMC_APP_REPRODUCE_H
#define NIMC_APP_REPRODUCE_H

#include <signal.h>
#include <stddef.h>
#include <stdio.h>

#define EXIT_FAIL 1
#define EXIT_USAGE 2

/* ---- main.c ---- */

/* Say "nimc CMD: <fmt with arg>" and where the help is on stderr; returns
 * EXIT_USAGE.  cmd may be NULL (the program itself). */
int cli_fail_usage(const char *cmd, const char *fmt, const char *arg);
/* Exit status for a library status: input errors are the user's (2). */
int cli_exit_for(int status);
/* mkdir -p path; 0, or -1 with the reason in why. */
int cli_mkdir_p(const char *path, char *why, size_t len);
/* mkdir -p path, then check that a file can be created in it (mkstemp,
 * removed at once): an output directory checked before any work; 0, or
 * -1 with the reason in why. */
int cli_check_outdir(const char *path, char *why, size_t len);
/* The same for -o of command cmd (NULL path: nothing to check): 0, or
 * EXIT_USAGE after "nimc CMD: -o: cannot use output directory ..." */
int cli_outdir_ready(const char *cmd, const char *path);
/* The manifest a command writing a set of files (-o DIR) writes last and
 * removes first, so that a set without one is incomplete (docs/cli.md). */
#define CLI_MANIFEST "manifest.txt"
/* Remove DIR's manifest; 0, or the exit status of the message printed. */
int cli_clear_manifest(const char *cmd, const char *dir);
/* Write DIR's manifest: each of the NULL-terminated names that is a file
 * in dir, with its size ("fields*" only when fields is set); 0 or the
 * exit status of the message printed. */
int cli_write_manifest(const char *cmd, const char *dir,
                       const char *const *names, int fields);
/* block 1: hold SIGINT, SIGTERM and SIGHUP (the old mask into *old) while
 * a set of files is written; block 0: restore *old, and with it deliver
 * what arrived meanwhile. */
void cli_block_signals(int block, sigset_t *old);
/* Load the device file at path with the overrides sets[] and, when
 * temperature is non-NULL, set it ("80degC"); on failure say why as
 * "nimc CMD: ..." and return the exit status (0 on success). */
struct nimc_device;
int cli_load_device(const char *cmd, const char *path, const char *const *sets,
                    size_t nsets, const char *temperature,
                    struct nimc_device **out);
/* The end of every command's option loop: -o/--output DIR, --json,
 * -q/--quiet, an unknown option, and the command's one positional
 * argument (what: "DEVICE", "DATAFILE"), taken into *arg.  0 when taken,
 * else the exit status of the message printed. */
int cli_tail_option(const char *cmd, const char *what, int argc, char **argv,
                    int *i, const char **outdir, int *json, int *quiet,
                    const char **arg);
/* Monotonic wall-clock time in seconds. */
double cli_now_s(void);

/* ---- eis.c ---- */

/* nimc eis ARGS and nimc fit-eis ARGS (argv[0] is the command); return the
 * exit status. */
int cli_eis(int argc, char **argv);
int cli_fit_eis(int argc, char **argv);
void cli_eis_usage(FILE *out);
void cli_fit_eis_usage(FILE *out);
/* The circuit nimc eis fits by default (docs/eis.md). */
extern const char *const cli_eis_default_circuit;

/* ---- analyze.c ---- */

/* nimc analyze ARGS (argv[0] is "analyze"); returns the exit status. */
int cli_analyze(int argc, char **argv);
void cli_analyze_usage(FILE *out);

/* ---- fit.c ---- */

/* nimc fit ARGS (argv[0] is "fit"); returns the exit status. */
int cli_fit(int argc, char **argv);
void cli_fit_usage(FILE *out);

/* ---- reproduce.c ---- */

/* nimc reproduce ARGS (argv[0] is "reproduce"); returns the exit status. */
int cli_reproduce(int argc, char **argv);
/* The text of 'nimc reproduce --help'. */
void cli_reproduce_usage(FILE *out);

#endif /* NIMC_APP_REPRODUCE_H */
