#!/bin/sh
# The NIMC's cycling study: experiments/nimc-cycling-6000.txt (3 formation
# cycles, then 6000 at 0.8 mA/cm2 with cycle jumping) run REPEATS times
# (default 3) as `nimc run --cycles-only -o DIR`, one core each time.
# Prints each run's wall and CPU seconds and peak RSS (GNU time), their
# medians, and of the last run: the cycles simulated of the 6003, the
# last cycle's retention and coulombic efficiency, and the solver line.
# Minutes a run today (docs/performance.md): not part of `make bench`.
# Options after the device go to nimc run as they are (the ageing overrides
# of docs/performance.md: --set cathode.side_reaction_current=1.2A/m2 ...).
# usage: bench/cycling.sh [BUILD_DIR] [REPEATS] [DEVICE] [NIMC_RUN_OPTION...]
set -eu
B=${1:-build}
N=${2:-3}
DEV=${3:-devices/nimc.ini}
[ $# -gt 3 ] && shift 3 || set --
EXP=experiments/nimc-cycling-6000.txt
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
echo "== nimc run $DEV -x $EXP${*:+ $*} --cycles-only, $N runs"
i=0
while [ $i -lt "$N" ]; do
  /usr/bin/time -f '%e %U %S %M' -o "$TMP/t" "$B/nimc" run "$DEV" -x "$EXP" "$@" \
    --cycles-only -q -o "$TMP/out" >"$TMP/log" 2>&1
  awk '{ printf "run: wall %.1f s, CPU %.1f s, peak RSS %.1f MB\n", $1, $2 + $3,
         $4 / 1024 }' "$TMP/t"
  cat "$TMP/t" >>"$TMP/all"
  i=$((i + 1))
done
sort -n -k1 "$TMP/all" | awk '{ w[NR] = $1 } END { printf "median wall %.1f s\n", w[int((NR + 1) / 2)] }'
awk '{ print $2 + $3 }' "$TMP/all" | sort -n |
  awk '{ c[NR] = $1 } END { printf "median CPU %.1f s\n", c[int((NR + 1) / 2)] }'
awk -F, 'NR > 1 { n++; last = $0 } END {
  split(last, f, ",");
  printf "cycles simulated %d of 6003; last cycle %s: retention %s, coulombic efficiency %s\n",
         n, f[1], f[12], f[9] }' "$TMP/out/cycles.csv"
grep '^solver' "$TMP/log" || true
