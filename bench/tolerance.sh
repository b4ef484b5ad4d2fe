#!/bin/sh
# The solver tolerance study of docs/validation.md: three GCD cycles of a
# device at two current densities for each relative tolerance, and the
# change of the last cycle's capacitance, energy and Coulombic efficiency
# against the tightest tolerance (the reference), with the solver's steps.
# usage: bench/tolerance.sh [BUILD_DIR] [DEVICE ...]
#        (default devices/nimc.ini devices/nimc-stack.ini; about 3 min)
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

# Beyond a cycle's integrals (docs/validation.md, "Solver tolerance"): the
# quantities more sensitive to the tolerance, each against rtol 1e-8 --
# the impedance spectrum at the operating point a charge to 3 V leaves (the
# largest relative change of Z over 100 kHz..10 mHz), a 44 h rest after a
# charge to 3.5 V (its end voltage and the Conway sqrt(t) slope, fitted to
# samples every minute: on the solver's own steps the fit's points move
# with the tolerance and the slope by 1e-2), and ten
# cycles at 0.8 mA/cm2 (the tenth's capacitance, retention and Coulombic
# efficiency).  Only for the first device (about 2 min more).
dev=${DEVICES%% *}
LRTOLS="1e-8 1e-6 1e-5 1e-4"
D=$(mktemp -d)
trap 'rm -f "$TMP"; rm -rf "$D"' EXIT
echo
printf '%-16s %-6s %9s %9s %9s %9s %9s %9s\n' device rtol "max dZ/Z" dVrest "dslope/s" dC10/C dret10 dCE10
for r in $LRTOLS; do
  "$B/nimc" eis "$dev" --set "solver.rtol=$r" --after 'Charge at 0.1 mA/cm2 until 3 V' \
    --no-fit -q -o "$D/eis$r" >/dev/null
  "$B/nimc" run "$dev" --rtol "$r" -q --json --output-interval 1min \
    -e 'Charge at 0.1 mA/cm2 until 3.5 V' -e 'Rest for 44 h' >"$TMP"
  rest="$(num rest_v_end_V) $(num conway_slope_sqrt_V_s05)"
  "$B/nimc" run "$dev" --rtol "$r" -q --json --cycles-only -e \
    'Repeat 10 times: Charge at 0.8 mA/cm2 until 3.5 V; Discharge at 0.8 mA/cm2 until 0 V' >"$TMP"
  cyc="$(num capacitance_F) $(num capacitance_retention) $(num coulombic_efficiency)"
  [ "$r" = 1e-8 ] && { rref=$rest; cref=$cyc; }
  dz=$(paste -d, "$D/eis1e-8/spectrum.csv" "$D/eis$r/spectrum.csv" | awk -F, '
    NR > 1 { dre = $2 - $9; dim = $3 - $10; d = sqrt(dre * dre + dim * dim) / $4
             if (d > m) m = d } END { printf "%.1e", m }')
  echo "$rref $rest $cref $cyc" | awk -v d="$(basename "$dev")" -v r="$r" -v dz="$dz" '
    function rel(a, b) { x = a / b - 1; return x < 0 ? -x : x }
    function ab(x) { return x < 0 ? -x : x }
    { printf "%-16s %-6s %9s %9.1e %9.1e %9.1e %9.1e %9.1e\n", d, r, dz, ab($3 - $1),
        rel($4, $2), rel($8, $5), ab($9 - $6), ab($10 - $7) }'
done
