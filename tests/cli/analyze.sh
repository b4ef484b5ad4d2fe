#!/bin/bash
# Command-line specification of `nimc analyze`: the summary JSON of GCD,
# cycling, CV (one and several scan rates), rest and impedance data written
# by this script with known answers, the output directory, and bad input
# answered with exit status 2 and a message that locates the problem (or 1
# when there is nothing to measure).
# usage: analyze.sh PATH/TO/nimc   (run from the repository root)
set -u
NIMC=${1:?usage: analyze.sh NIMC}
EIS=../shared/data/real/impedance.py/exampleData.csv
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
. "$(dirname "$0")/lib.bash"

# json_num FILE KEY: the first number under "KEY" in FILE
json_num() {
  sed -n "s/.*\"$2\":[[:space:]]*\([-0-9.eE+]*\).*/\1/p" "$1" | head -1
}
# near A B TOL: |A - B| <= TOL |B|
near() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; m = b < 0 ? -b : b; exit !(a != "" && d <= t * m) }'; }

# ---- data with known answers ----
# C = 1 mF behind R = 10 ohm at +-1 mA between 0 and 0.8 V, two cycles
awk 'BEGIN { C = 1e-3; R = 10; I = 1e-3; th = 0.8; t0 = 0;
  print "time_s,voltage_V,current_A";
  for (c = 0; c < 2; c++) {
    for (k = 0; k <= 80; k++) { t = th * k / 80; printf "%.10g,%.10g,%.10g\n", t0 + t, I * t / C + I * R, I }
    t0 += th;
    for (k = 0; k <= 80; k++) { t = th * k / 80; printf "%.10g,%.10g,%.10g\n", t0 + t, 0.8 - I * t / C - I * R, -I }
    t0 += th } }' >"$TMP/gcd.csv"
# a rest: V = 2.5 exp(-t / 3600 s), its time to 0.6 V0 is 3600 ln(1/0.6) s
awk 'BEGIN { print "Time (s),Ewe/V"; for (k = 0; k <= 3000; k++) printf "%d,%.10g\n", 3 * k, 2.5 * exp(-3 * k / 3600) }' >"$TMP/rest.csv"
# CVs of C = 1 mF behind 10 ohm, 0 to 1 V, at 100 mV/s and 20 mV/s
cv() {
  awk -v v="$1" 'BEGIN { C = 1e-3; R = 10; tau = R * C; dt = 0.002 / v; vc = 0; V = 0; up = 1;
    print "time/s,Ewe/V,<I>/mA"; print "0,0,0";
    n = int(6 / v / dt + 0.5);
    for (k = 1; k <= n; k++) { s = up ? v : -v; V1 = V + s * dt;
      vc = V1 - s * tau + (vc - V + s * tau) * exp(-dt / tau); V = V1;
      printf "%.10g,%.10g,%.10g\n", k * dt, V, 1e3 * (V - vc) / R;
      if (up && V >= 1 - 1e-9) up = 0; else if (!up && V <= 1e-9) up = 1 } }'
}
cv 0.1 >"$TMP/cv100.csv"
cv 0.02 >"$TMP/cv20.csv"

# ---- GCD: keys and values ----
if "$NIMC" analyze "$TMP/gcd.csv" --json --area 0.25cm2 --thickness 20um \
     --mass 1mg >"$TMP/gcd.json" 2>"$TMP/err"; then
  ok
  for key in '"metrics"' '"capacitance_F"' '"capacitance_areal_mF_cm2"' \
             '"capacitance_volumetric_F_cm3"' '"energy_J"' \
             '"energy_areal_uWh_cm2"' '"energy_volumetric_mWh_cm3"' \
             '"power_W"' '"power_areal_mW_cm2"' '"power_volumetric_W_cm3"' \
             '"esr_ohm"' '"coulombic_efficiency"' '"capacitance_retention"' \
             '"capacitance_slope_F"' '"capacitance_integral_F"' \
             '"energy_efficiency"' '"capacitance_gravimetric_F_g"' \
             '"energy_gravimetric_Wh_kg"' '"power_gravimetric_W_kg"' \
             '"cycles"' '"charge_C"' '"discharge_C"' '"energy_discharge_J"' \
             '"analysis"' '"read_as"'; do
    grep -qF "$key" "$TMP/gcd.json" && ok || bad "gcd summary lacks $key"
  done
  [ "$(head -c1 "$TMP/gcd.json")" = "{" ] && ok || bad "--json stdout is not only JSON"
  near "$(json_num "$TMP/gcd.json" capacitance_F)" 1e-3 1e-9 && ok || bad "capacitance_F $(json_num "$TMP/gcd.json" capacitance_F), expected 1e-3"
  near "$(json_num "$TMP/gcd.json" capacitance_slope_F)" 1e-3 1e-6 && ok || bad "capacitance_slope_F not 1e-3"
  near "$(json_num "$TMP/gcd.json" capacitance_integral_F)" 1e-3 1e-6 && ok || bad "capacitance_integral_F not 1e-3"
  near "$(json_num "$TMP/gcd.json" esr_ohm)" 10 1e-6 && ok || bad "esr_ohm $(json_num "$TMP/gcd.json" esr_ohm), expected 10"
  near "$(json_num "$TMP/gcd.json" coulombic_efficiency)" 1 1e-9 && ok || bad "coulombic_efficiency not 1"
  near "$(json_num "$TMP/gcd.json" capacitance_areal_mF_cm2)" 4 1e-6 && ok || bad "1 mF on 0.25 cm2 is not 4 mF/cm2"
  near "$(json_num "$TMP/gcd.json" capacitance_gravimetric_F_g)" 1 1e-6 && ok || bad "1 mF per mg is not 1 F/g"
  # E = C vmax^2 / 2 - I R C vmax = 3.12e-4 J
  near "$(json_num "$TMP/gcd.json" energy_J)" 3.12e-4 1e-6 && ok || bad "energy_J $(json_num "$TMP/gcd.json" energy_J), expected 3.12e-4"
  [ "$(grep -c '"discharge_C"' "$TMP/gcd.json")" = 3 ] && ok || bad "expected 2 cycles (+ the metrics' discharge_C)"
  ! grep -q '"instrument_' "$TMP/gcd.json" && ok || bad "instrument counters from a file that has none"
else
  bad "nimc analyze gcd.csv failed: $(cat "$TMP/err")"
fi

# the human summary and the output directory
if "$NIMC" analyze "$TMP/gcd.csv" -o "$TMP/gcdout" >"$TMP/human" 2>"$TMP/err"; then
  ok
  grep -q "C = 0.001 F" "$TMP/human" && ok || bad "human summary: $(cat "$TMP/human")"
  for f in summary.json gcd.png gcd.svg retention.png retention.svg; do
    [ -s "$TMP/gcdout/$f" ] && ok || bad "-o did not write $f"
    grep -q "^$f [0-9][0-9]*$" "$TMP/gcdout/manifest.txt" && ok || bad "manifest.txt lacks $f"
  done
else
  bad "nimc analyze -o failed: $(cat "$TMP/err")"
fi

# the normalisation of a device file: its footprint area and thickness
if "$NIMC" analyze "$TMP/gcd.csv" --device devices/nimc.ini --json \
     >"$TMP/dev.json" 2>"$TMP/err"; then
  for key in '"capacitance_areal_mF_cm2"' '"capacitance_volumetric_F_cm3"'; do
    grep -qF "$key" "$TMP/dev.json" && ok || bad "--device: summary lacks $key"
  done
else
  bad "nimc analyze --device failed: $(cat "$TMP/err")"
fi
grep -qF '"capacitance_areal_mF_cm2"' "$TMP/gcd.json" && ok || bad "--area: no areal value"

# ---- rest ----
if "$NIMC" analyze "$TMP/rest.csv" --json >"$TMP/rest.json" 2>"$TMP/err"; then
  ok
  near "$(json_num "$TMP/rest.json" self_discharge_time_h)" \
    "$(awk 'BEGIN { print log(1 / 0.6) }')" 1e-4 && ok ||
    bad "self_discharge_time_h $(json_num "$TMP/rest.json" self_discharge_time_h)"
  for key in '"conway_r2_log"' '"conway_r2_sqrt"' '"conway_slope_log_V"' '"conway_r2_ln"' '"conway_slope_ln_per_h"'; do
    grep -qF "$key" "$TMP/rest.json" && ok || bad "rest summary lacks $key"
  done
else
  bad "nimc analyze rest.csv failed: $(cat "$TMP/err")"
fi
"$NIMC" analyze "$TMP/rest.csv" --kind selfdischarge --threshold 0.5 --json \
  >"$TMP/rest5.json" 2>"$TMP/err" && ok || bad "--kind selfdischarge: $(cat "$TMP/err")"
near "$(json_num "$TMP/rest5.json" self_discharge_time_h)" \
  "$(awk 'BEGIN { print log(2) }')" 1e-4 && ok || bad "--threshold 0.5 not applied"

# ---- CV: one rate, then two (b-value, Dunn) ----
if "$NIMC" analyze "$TMP/cv100.csv" --kind cv --json -o "$TMP/cvout" \
     >"$TMP/cv.json" 2>"$TMP/err"; then
  ok
  near "$(json_num "$TMP/cv.json" capacitance_F)" 1e-3 1e-2 && ok || bad "CV capacitance_F $(json_num "$TMP/cv.json" capacitance_F)"
  near "$(json_num "$TMP/cv.json" scan_rate_V_s)" 0.1 1e-6 && ok || bad "scan_rate_V_s"
  grep -qF '"cv_cycles"' "$TMP/cv.json" && ok || bad "no cv_cycles"
  [ -s "$TMP/cvout/cv.png" ] && ok || bad "no cv.png"
else
  bad "nimc analyze cv100.csv failed: $(cat "$TMP/err")"
fi
if "$NIMC" analyze "$TMP/cv100.csv" "$TMP/cv20.csv" --kind cv --json \
     >"$TMP/cv2.json" 2>"$TMP/err"; then
  ok
  # an ideal capacitor: peaks v C, so b = 1, all capacitive
  near "$(json_num "$TMP/cv2.json" b_value)" 1 2e-2 && ok || bad "b_value $(json_num "$TMP/cv2.json" b_value), expected 1"
  near "$(json_num "$TMP/cv2.json" capacitive_fraction)" 1 5e-2 && ok || bad "capacitive_fraction $(json_num "$TMP/cv2.json" capacitive_fraction)"
else
  bad "nimc analyze with two CVs failed: $(cat "$TMP/err")"
fi

# ---- EIS: the high-frequency intercept ----
if [ -f "$EIS" ]; then
  if "$NIMC" analyze "$EIS" --kind eis --json >"$TMP/eis.json" 2>"$TMP/err"; then
    ok
    r=$(json_num "$TMP/eis.json" r_ohmic_ohm)
    awk -v r="$r" 'BEGIN { exit !(r > 0) }' && ok || bad "r_ohmic_ohm '$r'"
  else
    bad "nimc analyze --kind eis failed: $(cat "$TMP/err")"
  fi
  if "$NIMC" analyze "$EIS" --kind eis --circuit 'R0-p(R1,CPE1)' --json \
       >"$TMP/fit.json" 2>"$TMP/err"; then
    for key in '"parameters"' '"R1"' '"r_ohmic_ohm"' '"rmse_ohm"'; do
      grep -qF "$key" "$TMP/fit.json" && ok || bad "--circuit: summary lacks $key"
    done
  else
    bad "nimc analyze --kind eis --circuit failed: $(cat "$TMP/err")"
  fi
fi

# ---- real data: an EC-Lab GCPL and CV ----
REAL=../shared/data/real/eclab
# mpt_data FILE: from the header line on (line 2 gives its number)
mpt_data() { tail -n +"$(sed -n 2p "$1" | tr -cd '0-9')" "$1"; }
# cycle_values JSON KEY: KEY's values in the "cycles" array, one a line
cycle_values() {
  awk -v k="\"$2\":" '/"cycles":/ { on = 1 } on && index($0, k) { v = $0; sub(/.*:[[:space:]]*/, "", v); sub(/,$/, "", v); print v }' "$1"
}
if [ -d "$REAL" ]; then
  mpt_data "$REAL/gcpl.pr_182.1.mpt" >"$TMP/gcpl.tsv"
  if "$NIMC" analyze "$REAL/gcpl.pr_182.1.mpt" --json >"$TMP/gcpl.json" 2>"$TMP/err"; then
    ok
    grep -q '"kind":[[:space:]]*"cycling"' "$TMP/gcpl.json" && ok || bad "gcpl: not analysed as cycling"
    # the instrument's own counters beside nimc's, cycle by cycle
    [ "$(cycle_values "$TMP/gcpl.json" instrument_discharge_C | wc -l)" = 4 ] && ok ||
      bad "gcpl: instrument_discharge_C not in every cycle"
    [ "$(cycle_values "$TMP/gcpl.json" instrument_energy_discharge_J | wc -l)" = 4 ] && ok ||
      bad "gcpl: instrument_energy_discharge_J not in every cycle"
    # the instrument's counters at the end of each half-cycle (C, and %)
    awk -F'\t' 'NR > 1 { if (NR > 2 && $16 != h) print h, q, d, ef; h = $16; q = $25 * 3.6; d = $24 * 3.6; ef = $27 / 100 }
                END { print h, q, d, ef }' "$TMP/gcpl.tsv" >"$TMP/counters"
    # cycle k (1..3): charge = half-cycle 2k, discharge = 2k+1
    paste <(cycle_values "$TMP/gcpl.json" charge_C | tail -n +1) \
          <(cycle_values "$TMP/gcpl.json" discharge_C | tail -n +2) \
          <(cycle_values "$TMP/gcpl.json" coulombic_efficiency) >"$TMP/ours"
    [ "$(wc -l <"$TMP/ours")" = 3 ] && ok || bad "gcpl: $(wc -l <"$TMP/ours") cycles with a charge, expected 3"
    for k in 1 2 3; do
      read -r qc qd ce < <(sed -n "${k}p" "$TMP/ours")
      fq=$(awk -v h=$((2 * k)) '$1 == h { print $2 }' "$TMP/counters")
      fd=$(awk -v h=$((2 * k + 1)) '$1 == h { print $3 }' "$TMP/counters")
      fe=$(awk -v h=$((2 * k + 1)) '$1 == h { print $4 }' "$TMP/counters")
      near "$qc" "$fq" 5e-3 && ok || bad "gcpl cycle $k: charge_C $qc, the file's Q charge $fq C"
      near "$qd" "$fd" 5e-3 && ok || bad "gcpl cycle $k: discharge_C $qd, the file's Q discharge $fd C"
      near "$ce" "$fe" 5e-3 && ok || bad "gcpl cycle $k: coulombic_efficiency $ce, the file's $fe"
    done
  else
    bad "nimc analyze gcpl (EC-Lab) failed: $(cat "$TMP/err")"
  fi
  # the binary file of the same cycling: the technique from the file
  if "$NIMC" analyze "$REAL/gcpl.pr_182.1.mpr" --json >"$TMP/mpr.json" 2>"$TMP/err"; then
    grep -q '"technique":[[:space:]]*"GCPL"' "$TMP/mpr.json" && ok || bad "gcpl.mpr: technique GCPL not reported"
    near "$(json_num "$TMP/mpr.json" capacitance_F)" "$(json_num "$TMP/gcpl.json" capacitance_F)" 1e-4 && ok ||
      bad "gcpl.mpr and .mpt disagree on capacitance_F"
  else
    bad "nimc analyze gcpl.mpr failed: $(cat "$TMP/err")"
  fi
  # energies by the testers' counter rule: the instrument's Energy
  # charge/discharge (W.h, at the end of each half-cycle) within 0.5 %
  # (docs/metrics.md: the default trapezoid is 1.2-1.4 % from them)
  if "$NIMC" analyze "$REAL/gcpl.pr_182.1.mpr" --energy-rule counter --json >"$TMP/ctr.json" 2>"$TMP/err"; then
    awk -F'\t' 'NR > 1 { if (NR > 2 && $16 != h) print h, ec, ed; h = $16; ec = $18 * 3600; ed = $19 * 3600 }
                END { print h, ec, ed }' "$TMP/gcpl.tsv" >"$TMP/energies"
    [ "$(cycle_values "$TMP/ctr.json" energy_rule | sort -u)" = '"counter"' ] && ok ||
      bad "gcpl --energy-rule counter: energy_rule not counter in every cycle"
    paste <(cycle_values "$TMP/ctr.json" energy_charge_J) \
          <(cycle_values "$TMP/ctr.json" energy_discharge_J | tail -n +2) >"$TMP/ours_e"
    for k in 1 2 3; do
      read -r ec ed < <(sed -n "${k}p" "$TMP/ours_e")
      fc=$(awk -v h=$((2 * k)) '$1 == h { print $2 }' "$TMP/energies")
      fd=$(awk -v h=$((2 * k + 1)) '$1 == h { print $3 }' "$TMP/energies")
      near "$ec" "$fc" 5e-3 && ok || bad "gcpl cycle $k: counter-rule energy_charge_J $ec, the file's $fc J"
      near "$ed" "$fd" 5e-3 && ok || bad "gcpl cycle $k: counter-rule energy_discharge_J $ed, the file's $fd J"
      # and the default trapezoid is not that rule
      td=$(cycle_values "$TMP/mpr.json" energy_discharge_J | sed -n "$((k + 1))p")
      near "$td" "$fd" 5e-3 && bad "gcpl cycle $k: the trapezoid $td J equals the counter $fd J" || ok
    done
  else
    bad "nimc analyze gcpl.mpr --energy-rule counter failed: $(cat "$TMP/err")"
  fi
  if "$NIMC" analyze "$REAL/cv.mpt" --json -o "$TMP/cvreal" >"$TMP/cvr.json" 2>"$TMP/err"; then
    ok
    c=$(json_num "$TMP/cvr.json" capacitance_F)
    awk -v c="$c" 'BEGIN { exit !(c > 0 && c < 1e30) }' && ok || bad "cv.mpt: capacitance_F '$c'"
    [ -s "$TMP/cvreal/cv.png" ] && [ -s "$TMP/cvreal/cv.svg" ] && ok || bad "cv.mpt: no cv figure"
  else
    bad "nimc analyze cv (EC-Lab) failed: $(cat "$TMP/err")"
  fi
fi

# ---- bad input: exit 2, located ----
expect_error 2 "absent.csv" -- analyze "$TMP/absent.csv"
expect_error 2 "unknown --kind 'foo'" -- analyze "$TMP/gcd.csv" --kind foo
expect_error 2 "--area 'abc'" -- analyze "$TMP/gcd.csv" --area abc
expect_error 2 "--area '1 kg'" -- analyze "$TMP/gcd.csv" --area '1 kg'
expect_error 2 "--mass '-1 mg'" -- analyze "$TMP/gcd.csv" --mass '-1 mg'
expect_error 2 "--threshold" -- analyze "$TMP/rest.csv" --threshold 1.5
expect_error 2 "unknown --energy-rule 'simpson'" -- analyze "$TMP/gcd.csv" --energy-rule simpson
expect_error 2 "option '--energy-rule' needs a value" -- analyze "$TMP/gcd.csv" --energy-rule
expect_error 2 "missing FILE" -- analyze
printf 'voltage_V,current_A\n1,1\n2,2\n' >"$TMP/notime.csv"
expect_error 2 "notime.csv:1: no time column" -- analyze "$TMP/notime.csv"
printf 'time_s,voltage_V,current_A\n0,1,1\n1,x,1\n' >"$TMP/cell.csv"
expect_error 2 "cell.csv:3:" "'x'" -- analyze "$TMP/cell.csv"
expect_error 2 "rest.csv:1: no current column" -- analyze "$TMP/rest.csv" --kind gcd
# nothing to measure: exit 1 with the reason
head -82 "$TMP/gcd.csv" >"$TMP/charge.csv"
expect_error 1 "no discharge" -- analyze "$TMP/charge.csv" --kind gcd
head -120 "$TMP/cv100.csv" >"$TMP/sweep.csv"
expect_error 1 "no full cycle" -- analyze "$TMP/sweep.csv" --kind cv

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
