#!/bin/bash
# Command-line specification of the electrolyte's own experiments (the
# paper's characterisation of the ionogel): the linear sweep of a
# stainless steel / ionogel / Na cell, whose oxidation onset (10 uA/cm2 of
# steel) is the 5.0 V set in its device file, read back by
# `nimc analyze --kind lsv`; and the conductivity from the impedance of a
# steel / ionogel / steel cell, sigma = L / (R S), which must return the
# gel's 0.5 mS/cm at 25 C and 2.8 mS/cm at 80 C within 1 %.
# usage: electrolyte.sh PATH/TO/nimc   (run from the repository root)
set -u
NIMC=${1:?usage: electrolyte.sh NIMC}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
. "$(dirname "$0")/lib.bash"
json_num() {
  sed -n "s/.*\"$2\":[[:space:]]*\([-0-9.eE+][-0-9.eE+]*\).*/\1/p" "$1" | head -1
}
within() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a != "" && d <= t) }'; }

LSV=devices/lsv-ss-ionogel-na.ini
if "$NIMC" run $LSV -q -e 'Sweep from 3 V to 5.2 V at 2 mV/s' -o "$TMP/lsv" >/dev/null 2>"$TMP/err"; then
  ok
  if "$NIMC" analyze "$TMP/lsv/timeseries.csv" --device $LSV --json -o "$TMP/lsva" >"$TMP/lsv.json" 2>"$TMP/err"; then
    grep -q '"kind":[[:space:]]*"lsv"' "$TMP/lsv.json" && ok || bad "the sweep is not analysed as lsv"
    v=$(json_num "$TMP/lsv.json" lsv_onset_V)
    within "$v" 5.0 0.005 && ok || bad "LSV onset $v V, expected 5.0 V within 5 mV"
    r=$(json_num "$TMP/lsv.json" scan_rate_V_s)
    within "$r" 0.002 1e-6 && ok || bad "LSV scan rate $r V/s, expected 0.002"
    [ -s "$TMP/lsva/lsv.png" ] && [ -s "$TMP/lsva/lsv.svg" ] && ok || bad "no lsv figure"
  else
    bad "nimc analyze of the LSV failed: $(cat "$TMP/err")"
  fi
  # the onset at an absolute current: 1 uA is reached earlier
  "$NIMC" analyze "$TMP/lsv/timeseries.csv" --onset 1uA --json >"$TMP/lsv1.json" 2>/dev/null
  v1=$(json_num "$TMP/lsv1.json" lsv_onset_V)
  awk -v a="$v1" -v b="$v" 'BEGIN { exit !(a != "" && a < b - 0.05) }' && ok ||
    bad "onset at 1 uA ($v1 V) not well below the one at 10 uA/cm2 ($v V)"
else
  bad "the LSV run failed: $(cat "$TMP/err")"
fi

COND=devices/cond-ss-ionogel-ss.ini
# L = 100 um, S = 2.01 cm2 (the device file)
for case in "25degC 0.5" "80degC 2.8"; do
  set -- $case
  if "$NIMC" eis $COND --to 100Hz --temperature "$1" --json >"$TMP/eis.json" 2>"$TMP/err"; then
    R=$(json_num "$TMP/eis.json" r_ohmic_ohm)
    s=$(awk -v R="$R" 'BEGIN { if (R > 0) printf "%.6g", 100e-6 / (R * 2.01e-4) * 10 }') # mS/cm
    awk -v s="$s" -v w="$2" 'BEGIN { d = s / w - 1; if (d < 0) d = -d; exit !(s != "" && d <= 0.01) }' && ok ||
      bad "conductivity at $1 from the EIS: $s mS/cm (R = $R ohm), expected $2 mS/cm within 1 %"
  else
    bad "nimc eis $COND at $1 failed: $(cat "$TMP/err")"
  fi
done

# ---- bad input: exit 2, located ----
"$NIMC" run $LSV -q -e 'Sweep from 3 V to 4 V at 10 mV/s' -o "$TMP/l2" >/dev/null 2>&1
expect_error 2 "--onset '5 V'" -- analyze "$TMP/l2/timeseries.csv" --kind lsv --onset '5 V'
expect_error 2 "--onset '-1uA': must be positive" -- analyze "$TMP/l2/timeseries.csv" --kind lsv --onset -1uA
expect_error 2 "needs the electrode's area" -- analyze "$TMP/l2/timeseries.csv" --kind lsv
expect_error 2 "option '--onset' needs a value" -- analyze "$TMP/l2/timeseries.csv" --onset

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
