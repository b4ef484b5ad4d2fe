#!/bin/sh
# The solver tolerance study of docs/validation.md: three GCD cycles of a
# device at two current densities for each relative tolerance, and the
# change of the last cycle's capacitance, energy and Coulombic efficiency
# against the tightest tolerance (the reference), with the solver's steps.
# usage: bench/tolerance.sh [BUILD_DIR] [DEVICE ...]
#        (default devices/nimc.ini devices/nimc-stack.ini; about 1 min)
set -eu
B=${1:-build}
[ $# -gt 0 ] && shift
DEVICES=${*:-devices/nimc.ini devices/nimc-stack.ini}
RTOLS="1e-8 1e-7 1e-6 3e-6 1e-5 3e-5 1e-4"
TMP=$(mktemp)
trap 'rm -f "$TMP"' EXIT
# num KEY: the first number under "KEY" in $TMP
num() { sed -n "s/.*\"$1\":[[:space:]]*\([-0-9.eE+][-0-9.eE+]*\).*/\1/p" "$TMP" | head -1; }
printf '%-16s %-6s %-6s %6s %9s %9s %9s\n' device mA/cm2 rtol steps dC/C dE/E dCE
for dev in $DEVICES; do
  for i in 0.1 1; do
    ref=""
    for r in $RTOLS; do
      "$B/nimc" run "$dev" --rtol "$r" -q --json -e \
        "Repeat 3 times: Charge at $i mA/cm2 until 3.5 V; Discharge at $i mA/cm2 until 0 V" >"$TMP"
      cur="$(num capacitance_F) $(num energy_volumetric_mWh_cm3) $(num coulombic_efficiency)"
      [ -z "$ref" ] && ref=$cur
      echo "$ref $cur" | awk -v d="$(basename "$dev")" -v i="$i" -v r="$r" -v s="$(num steps)" '
        function rel(a, b) { x = a / b - 1; return x < 0 ? -x : x }
        { ce = $6 - $3; if (ce < 0) ce = -ce
          printf "%-16s %-6s %-6s %6d %9.1e %9.1e %9.1e\n", d, i, r, s, rel($4, $1), rel($5, $2), ce }'
    done
  done
done
