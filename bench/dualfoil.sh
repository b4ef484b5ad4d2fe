#!/bin/sh
# Whole-process timing of the DUALFOIL comparison: `nimc run` from start to
# summary written, for the discharge DUALFOIL 5.2 takes 2.8 s over on this
# 2-core machine at its fastest settings (../shared/data/reference/README.md).
# Prints the median of REPEATS runs and the solver statistics of one.
# usage: bench/dualfoil.sh [BUILD_DIR] [REPEATS]
set -eu
B=${1:-build}
N=${2:-51}
STEP='Discharge at 17.5 A/m2 until 2.8 V'
DEV=devices/dualfoil-li-ion.ini
echo "== nimc run $DEV -e '$STEP' --json (whole process)"
"$B/bench_process" "$N" "$B/nimc" run $DEV -e "$STEP" --json
"$B/nimc" run $DEV -e "$STEP" | tail -1
echo "DUALFOIL 5.2 (gfortran -O2, tmmax 10 s, short print-out): 2.8 s; 1/100 of it is 28 ms"
