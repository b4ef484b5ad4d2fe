#!/bin/sh
# Paired CPU-time comparison of two nimc binaries on the 2D NIMC GCD cycle
# at 0.1 mA/cm2 (bench_nimc2d's default-mesh cycle, run as `nimc run`):
# the binaries alternate, OLD then NEW, N times each, so that a machine
# shared with other work slows both alike; prints each run's CPU seconds
# (user + system), the medians and their ratio, and each binary's unknowns,
# solver steps and capacitance, since two commits may differ in their
# device files.  Each binary runs on its own DEVICE.
# usage: bench/paired.sh OLD_NIMC OLD_DEVICE NEW_NIMC NEW_DEVICE [N]
#   e.g. bench/paired.sh /tmp/base/build/nimc /tmp/base/devices/nimc.ini \
#        build/nimc devices/nimc.ini 7
set -eu
[ $# -ge 4 ] || { sed -n '2,12p' "$0"; exit 2; }
OLD=$1 OLDDEV=$2 NEW=$3 NEWDEV=$4 N=${5:-7}
S1='Charge at 0.1 mA/cm2 until 3.5 V'
S2='Discharge at 0.1 mA/cm2 until 0 V'
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# cpu BIN DEV OUT: append the CPU seconds of one run to OUT
cpu() {
  /usr/bin/time -f '%U %S' -o "$TMP/t" "$1" run "$2" -e "$S1" -e "$S2" --json \
    >"$TMP/json" 2>/dev/null
  awk '{ printf "%.3f\n", $1 + $2 }' "$TMP/t" >>"$3"
}
i=0
while [ $i -lt "$N" ]; do
  cpu "$OLD" "$OLDDEV" "$TMP/old"
  cp "$TMP/json" "$TMP/old.json"
  cpu "$NEW" "$NEWDEV" "$TMP/new"
  cp "$TMP/json" "$TMP/new.json"
  i=$((i + 1))
done
med() { sort -g "$1" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
num() { sed -n "s/.*\"$1\":[[:space:]]*\([-0-9.eE+][-0-9.eE+]*\).*/\1/p" "$2" | head -1; }
for w in old new; do
  f=$TMP/$w.json
  printf '%s: CPU s %s; median %s; unknowns %s, steps %s, set-ups %s, fresh factorisations %s, C %s F\n' \
    "$w" "$(tr '\n' ' ' <"$TMP/$w")" "$(med "$TMP/$w")" "$(num unknowns "$f")" \
    "$(grep -A1 '"solver"' "$f" | sed -n 's/.*"steps":[[:space:]]*\([0-9]*\).*/\1/p')" \
    "$(num linear_setups "$f")" "$(num full_factorizations "$f")" "$(num capacitance_F "$f")"
done
echo "old/new median CPU: $(echo "$(med "$TMP/old") $(med "$TMP/new")" | awk '{ printf "%.2f", $1 / $2 }')"
