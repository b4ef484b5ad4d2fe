/*
 * bench_process.c -- wall time of whole `nimc` processes.
 *
 * Runs a command line REPEATS times (fork + exec, stdout to /dev/null) and
 * prints the median, minimum and maximum wall time from start to exit, i.e.
 * everything a user waits for: start-up, device and material files, the
 * simulation and the summary written; and the median CPU time (user plus
 * system) of the process, which a machine shared with other work inflates
 * less than the wall time.  Used for the DUALFOIL comparison
 * (bench/dualfoil.sh).  A benchmark, not a test: it never fails on time.
 *
 * usage: bench_process REPEATS PROGRAM [ARGS...]
 */
#define _DEFAULT_SOURCE /* wait4 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "benchutil.h"

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: bench_process REPEATS PROGRAM [ARGS...]\n");
    return 2;
  }
  int reps = atoi(argv[1]);
  if (reps < 1) reps = 1;
  double *t = malloc(sizeof(double) * (size_t)reps);
  double *tc = malloc(sizeof(double) * (size_t)reps);
  if (!t || !tc) return 1;
  for (int r = 0; r < reps; r++) {
    double t0 = bench_now_s();
    pid_t pid = fork();
    if (pid < 0) {
      perror("bench_process: fork");
      return 1;
    }
    if (pid == 0) {
      int fd = open("/dev/null", O_WRONLY);
      if (fd >= 0) dup2(fd, 1);
      execvp(argv[2], argv + 2);
      _exit(127);
    }
    int status;
    struct rusage ru;
    wait4(pid, &status, 0, &ru);
    t[r] = bench_now_s() - t0;
    tc[r] = (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
            (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      fprintf(stderr, "bench_process: %s exited with status %d\n", argv[2],
              WIFEXITED(status) ? WEXITSTATUS(status) : -1);
      return 1;
    }
  }
  bench_median(t, (size_t)reps);
  double cpu = bench_median(tc, (size_t)reps);
  printf("whole process, %d runs: median %.2f ms, min %.2f ms, max %.2f ms "
         "wall; median %.2f ms CPU\n",
         reps, 1e3 * t[reps / 2], 1e3 * t[0], 1e3 * t[reps - 1], 1e3 * cpu);
  free(t), free(tc);
  return 0;
}
