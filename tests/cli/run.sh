#!/bin/bash
# Command-line specification of `nimc run`: the summary JSON of a GCD, the
# output directory, and bad input answered with exit status 2 and a message
# that locates the problem (file:line and key, the quoted step, the option).
# usage: run.sh PATH/TO/nimc   (run from the repository root)
set -u
NIMC=${1:?usage: run.sh NIMC}
DEV=devices/nimc-stack.ini
CH='Charge at 0.1 mA/cm2 until 3.5 V'
DIS='Discharge at 0.1 mA/cm2 until 0.5 V'
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
. "$(dirname "$0")/lib.bash"

# a device file with one line replaced: mkdev NAME SED-EXPRESSION
mkdev() {
  mkdir -p "$TMP/dev"
  cp -r devices/materials "$TMP/dev/" 2>/dev/null
  sed "$2" "$DEV" >"$TMP/dev/$1.ini"
  echo "$TMP/dev/$1.ini"
}

# within_1s NEEDLE ARGS...: nimc answers within 1 s with status 2 and NEEDLE
within_1s() { # NEEDLE ARGS...: timeout 1 s, status 2, NEEDLE in stderr
  local needle=$1; shift
  timeout 1 "$NIMC" "$@" >/dev/null 2>"$TMP/err"
  local rc=$?
  [ $rc -eq 2 ] && grep -qF -- "$needle" "$TMP/err" && ok \
    || bad "nimc $* -> status $rc (124: timed out), expected 2 and '$needle': $(head -c 300 "$TMP/err")"
}

# ---- success: the summary JSON of a GCD cycle ----
if "$NIMC" run $DEV -e "$CH" -e "$DIS" --json >"$TMP/sum.json" 2>"$TMP/err"; then
  ok
  for key in '"device"' '"temperature_C"' '"steps"' '"metrics"' '"capacitance_F"' \
             '"capacitance_volumetric_F_cm3"' '"energy_volumetric_mWh_cm3"' \
             '"power_volumetric_W_cm3"' '"esr_ohm"' '"coulombic_efficiency"' \
             '"end_reason"' '"cycle"'; do
    grep -qF "$key" "$TMP/sum.json" && ok || bad "summary lacks $key"
  done
  cap=$(sed -n 's/.*"capacitance_F":[[:space:]]*\([-0-9.eE+]*\).*/\1/p' "$TMP/sum.json" | head -1)
  awk -v c="$cap" 'BEGIN { exit !(c + 0 > 0) }' && ok || bad "capacitance_F '$cap' not positive"
  [ "$(head -c1 "$TMP/sum.json")" = "{" ] && ok || bad "--json stdout is not only JSON"
  # one charge and one discharge: the metrics are read from cycle 1
  grep -Eq '"cycle":[[:space:]]*1,?$' "$TMP/sum.json" && ok || bad "metrics.cycle is not 1"
  grep -q '"steady"' "$TMP/sum.json" && bad "a plain run has a \"steady\" object" || ok
else
  bad "nimc run --json failed: $(cat "$TMP/err")"
fi

# ---- success: --until-steady repeats the steps as one cycle until steady ----
SCH='Charge at 1 mA/cm2 until 3.5 V'
SDIS='Discharge at 1 mA/cm2 until 0 V'
# the value of "key" inside the object "obj" of a summary (cJSON: one key a line)
json_in() {
  awk -v obj="\"$2\":" -v key="\"$3\":" '
    index($0, obj) && /\{/ { inobj = 1; next }
    inobj && /^[[:space:]]*\}/ { inobj = 0 }
    inobj && index($0, key) { sub(/.*:[[:space:]]*/, ""); sub(/,$/, ""); print; exit }' "$1"
}
if "$NIMC" run $DEV -e "$SCH" -e "$SDIS" --until-steady --json >"$TMP/steady.json" 2>"$TMP/err"; then
  ok
  [ "$(json_in "$TMP/steady.json" steady converged)" = true ] && ok || bad "steady.converged is not true"
  n=$(json_in "$TMP/steady.json" steady cycles)
  [ -n "$n" ] && [ "$n" -ge 3 ] && [ "$n" -le 30 ] && ok || bad "steady.cycles '$n' not in 3..30"
  [ "$(json_in "$TMP/steady.json" steady steady_cycle)" = "$n" ] && ok || bad "steady.steady_cycle is not $n"
  [ "$(json_in "$TMP/steady.json" metrics cycle)" = "$n" ] && ok || bad "metrics.cycle is not $n"
  ce=$(json_in "$TMP/steady.json" metrics coulombic_efficiency)
  awk -v c="$ce" 'BEGIN { exit !(c + 0 >= 0.99) }' && ok || bad "steady coulombic_efficiency '$ce' < 0.99"
  [ "$(grep -c '"end_reason"' "$TMP/steady.json")" -eq $((2 * n)) ] && ok || bad "not 2 steps a cycle"
  [ "$(json_in "$TMP/steady.json" steady min_cycles)" = 3 ] && ok || bad "steady.min_cycles is not the default 3"
else
  bad "nimc run --until-steady failed: $(cat "$TMP/err")"
fi
# the report says which cycle
"$NIMC" run $DEV -e "$SCH" -e "$SDIS" --until-steady --min-cycles 4 --ce-min 0.95 \
  --steady-tol 0.01 >"$TMP/steady.txt" 2>"$TMP/err" && ok || bad "--until-steady with options failed: $(cat "$TMP/err")"
grep -q '^steady at cycle [4-9]' "$TMP/steady.txt" && ok || bad "report lacks the steady cycle: $(cat "$TMP/steady.txt")"
grep -q '^metrics (last full discharge, cycle [4-9])' "$TMP/steady.txt" && ok || bad "report lacks the metrics' cycle"
# not steady within --max-cycles: everything reported, exit status 1
"$NIMC" run $DEV -e "$SCH" -e "$SDIS" --until-steady --min-cycles 2 --max-cycles 2 \
  --steady-tol 1e-9 --json >"$TMP/ns.json" 2>"$TMP/err"
rc=$?
[ $rc -eq 1 ] && ok || bad "not steady: exit status $rc, expected 1"
grep -q 'not steady after 2 cycles' "$TMP/err" && ok || bad "not steady: message: $(cat "$TMP/err")"
[ "$(json_in "$TMP/ns.json" steady converged)" = false ] && ok || bad "not steady: steady.converged is not false"
[ "$(json_in "$TMP/ns.json" metrics cycle)" = 2 ] && ok || bad "not steady: metrics.cycle is not 2"
# a cycle with no capacitance to read (the discharge ends at once): exit 1, why
"$NIMC" run $DEV -e "$SCH" -e 'Discharge at 1 mA/cm2 until 3.4999 V' --until-steady \
  >/dev/null 2>"$TMP/err"
rc=$?
[ $rc -eq 1 ] && ok || bad "no capacitance to read: exit status $rc, expected 1"
grep -q 'cycle 3 has no capacitance to read' "$TMP/err" && ok || bad "no capacitance to read: message: $(cat "$TMP/err")"
"$NIMC" run --help | grep -q -- '--until-steady' && ok || bad "run --help lacks --until-steady"

# ---- success: the metrics do not depend on --output-interval ----
# (energy and charges are the solver's integrals, not sums over the samples;
# from the samples alone the 2D device's energy moved by 0.3 % at 60 s)
OCH='Charge at 0.1 mA/cm2 until 3.5 V'
ODIS='Discharge at 0.1 mA/cm2 until 0 V'
"$NIMC" run devices/nimc.ini -e "$OCH" -e "$ODIS" --json -q >"$TMP/oi0.json" 2>"$TMP/err" \
  && ok || bad "nimc run devices/nimc.ini failed: $(cat "$TMP/err")"
"$NIMC" run devices/nimc.ini -e "$OCH" -e "$ODIS" --output-interval 60s --json -q \
  >"$TMP/oi60.json" 2>"$TMP/err" && ok || bad "--output-interval 60s failed: $(cat "$TMP/err")"
for key in energy_volumetric_mWh_cm3 power_volumetric_W_cm3 coulombic_efficiency \
           capacitance_volumetric_F_cm3; do
  a=$(json_in "$TMP/oi0.json" metrics $key) b=$(json_in "$TMP/oi60.json" metrics $key)
  awk -v a="$a" -v b="$b" 'BEGIN { d = (b - a) / a; exit !(a + 0 > 0 && d < 1e-3 && d > -1e-3) }' \
    && ok || bad "metrics.$key: $a by default, $b at --output-interval 60s (not within 0.1 %)"
done

# ---- success: -o DIR writes the time series, summary and figure ----
if "$NIMC" run $DEV -e "$CH" -e "$DIS" -q -o "$TMP/o/deep" >/dev/null 2>"$TMP/err"; then
  ok
  [ "$(head -1 "$TMP/o/deep/timeseries.csv")" = "time_s,voltage_V,current_A,step" ] && ok \
    || bad "timeseries.csv header"
  for f in summary.json gcd.png gcd.svg; do
    [ -s "$TMP/o/deep/$f" ] && ok || bad "$f not written"
  done
  ls -A "$TMP/o/deep" | grep -q '\.tmp\|nimc-probe' && bad "temporary files left behind" || ok
  # the manifest, written last, lists the set with the sizes
  [ -s "$TMP/o/deep/manifest.txt" ] && ok || bad "manifest.txt not written"
  for f in timeseries.csv summary.json gcd.png gcd.svg; do
    grep -qx "$f $(stat -c %s "$TMP/o/deep/$f")" "$TMP/o/deep/manifest.txt" && ok \
      || bad "manifest.txt lacks '$f SIZE': $(cat "$TMP/o/deep/manifest.txt")"
  done
  # an old set's manifest goes before the new set is written: a failed
  # write (the figure's place taken by a directory) leaves none
  mkdir "$TMP/o/deep/gcd.png.d" && rm "$TMP/o/deep/gcd.png" && mkdir "$TMP/o/deep/gcd.png"
  "$NIMC" run $DEV -e 'Rest for 1 s' -q -o "$TMP/o/deep" >/dev/null 2>"$TMP/err"
  rc=$?
  [ $rc -eq 1 ] && [ ! -e "$TMP/o/deep/manifest.txt" ] && ok \
    || bad "a failed write: status $rc, manifest $(ls "$TMP/o/deep" | tr '\n' ' ')"
  ls -A "$TMP/o/deep" | grep -q '\.tmp' && bad "a failed write left temporaries" || ok
else
  bad "nimc run -o failed: $(cat "$TMP/err")"
fi

# ---- a device file copied alone finds the shipped materials; a material or
# table found nowhere names every place tried (exit status 2) ----
mkdir -p "$TMP/alone" && cp $DEV "$TMP/alone/dev.ini"
"$NIMC" run "$TMP/alone/dev.ini" -e 'Rest for 1 s' -q >/dev/null 2>"$TMP/err" \
  && ok || bad "a device file copied alone does not run: $(cat "$TMP/err")"
expect_error 2 "--set anode.material: unknown material 'materials/unobtainium.ini'" \
  "no file $TMP/alone/materials/unobtainium.ini, nor " "devices/materials/unobtainium.ini" \
  -- run "$TMP/alone/dev.ini" -e "$CH" --set anode.material=materials/unobtainium.ini
expect_error 2 "--set cathode.capacitance_shape: cannot read table 'nope.csv': no file $TMP/alone/nope.csv, nor " \
  -- run "$TMP/alone/dev.ini" -e "$CH" --set cathode.capacitance_shape=table:nope.csv
n=$(grep -n '^material = materials/nto.ini' "$TMP/alone/dev.ini" | head -1 | cut -d: -f1)
sed 's|^material = materials/nto.ini|material = materials/ntoo.ini|' "$TMP/alone/dev.ini" >"$TMP/alone/typo.ini"
expect_error 2 "$TMP/alone/typo.ini:$n: [anode] material: unknown material 'materials/ntoo.ini'" ", nor " \
  -- run "$TMP/alone/typo.ini" -e "$CH"
# -o naming a regular file: refused before the run
: >"$TMP/plain"
expect_error 2 "-o: cannot use output directory $TMP/plain: not a directory" -- run $DEV -e "$CH" -o "$TMP/plain"

# ---- the figures follow the technique: a CV is current against voltage,
# a Repeat of cycles retention and efficiency against cycle ----
SW1='Sweep from 0 V to 3.5 V at 100 mV/s'; SW2='Sweep from 3.5 V to 0 V at 100 mV/s'
"$NIMC" run $DEV --set device.max_current=10A/cm2 -e "Repeat 2 times: $SW1; $SW2" -q -o "$TMP/fcv" >/dev/null 2>"$TMP/err" \
  && [ -s "$TMP/fcv/cv.png" ] && [ -s "$TMP/fcv/cv.svg" ] && [ ! -e "$TMP/fcv/gcd.png" ] \
  && grep -q 'current density' "$TMP/fcv/cv.svg" && grep -q '^cv.png ' "$TMP/fcv/manifest.txt" \
  && ok || bad "a CV's figure is not cv.png (current against voltage): $(ls "$TMP/fcv") $(cat "$TMP/err")"
"$NIMC" run $DEV -e "Repeat 8 times: Charge at 1 mA/cm2 until 3.5 V; Discharge at 1 mA/cm2 until 0.5 V" \
  -q -o "$TMP/fcy" >/dev/null 2>"$TMP/err" \
  && [ -s "$TMP/fcy/cycling.png" ] && [ -s "$TMP/fcy/gcd.png" ] && [ -s "$TMP/fcy/cycles.csv" ] \
  && [ "$(grep -c '^# panel 0 curve' "$TMP/fcy/gcd.dat")" = 6 ] \
  && grep -q '^cycling.svg ' "$TMP/fcy/manifest.txt" \
  && ok || bad "a Repeat of 8 cycles: no cycling figure, or gcd.png not the first and last 3 cycles: $(ls "$TMP/fcy") $(cat "$TMP/err")"

# ---- -o into a folder that has other files: nothing removed, and the
# manifest lists only what this run wrote ----
mkdir -p "$TMP/keep" && echo mine >"$TMP/keep/notes.txt"
"$NIMC" run $DEV -e "$CH" -e "$DIS" -q -o "$TMP/keep" >/dev/null 2>&1 \
  && "$NIMC" run $DEV --set device.max_current=10A/cm2 -e "$SW1" -e "$SW2" -q -o "$TMP/keep" >/dev/null 2>"$TMP/err" \
  && [ "$(cat "$TMP/keep/notes.txt")" = mine ] && [ -s "$TMP/keep/gcd.png" ] && [ -s "$TMP/keep/cv.png" ] \
  && ! grep -q '^gcd\.\|^notes' "$TMP/keep/manifest.txt" \
  && ok || bad "-o into a non-empty folder removed a file or listed one it did not write: $(ls "$TMP/keep"); $(cat "$TMP/keep/manifest.txt")"

# ---- success: --fields writes the fields at the end of the run ----
for fdev in $DEV devices/nimc.ini; do
  fo="$TMP/fields-$(basename "$fdev" .ini)"
  if "$NIMC" run "$fdev" -e 'Charge at 0.1 mA/cm2 for 2 s' --fields -q -o "$fo" >/dev/null 2>"$TMP/err"; then
    ok
    [ "$(head -1 "$fo/fields.csv")" = "x_m,z_m,dx_m,dz_m,region,c_mol_m3,phi_e_V,reaction_A_m3" ] && ok \
      || bad "$fdev: fields.csv header: $(head -1 "$fo/fields.csv")"
    [ "$(wc -l <"$fo/fields.csv")" -gt 10 ] && ok || bad "$fdev: fields.csv has no cells"
    awk -F, 'NR > 1 && NF != 8 { exit 1 }' "$fo/fields.csv" && ok || bad "$fdev: fields.csv rows are not 8 columns"
    [ "$(head -c4 "$fo/fields.png" 2>/dev/null | tail -c3)" = "PNG" ] && ok || bad "$fdev: fields.png not written"
    grep -q '<svg' "$fo/fields.svg" 2>/dev/null && ok || bad "$fdev: fields.svg not written"
  else
    bad "nimc run $fdev --fields failed: $(cat "$TMP/err")"
  fi
done

# ---- success: overrides and temperature change the result ----
"$NIMC" run $DEV -e "$CH" -e "$DIS" --json --set anode.thickness=10um --temperature 80degC \
  >"$TMP/hot.json" 2>"$TMP/err" && ok || bad "--set/--temperature run failed: $(cat "$TMP/err")"
grep -Eq '"temperature_C":[[:space:]]*80([.,]|$)' "$TMP/hot.json" && ok || bad "temperature_C is not 80"
hot=$(sed -n 's/.*"capacitance_F":[[:space:]]*\([-0-9.eE+]*\).*/\1/p' "$TMP/hot.json" | head -1)
[ -n "$hot" ] && [ -n "$cap" ] && [ "$hot" != "$cap" ] && ok \
  || bad "--set/--temperature did not change capacitance_F ($cap -> $hot)"

# ---- bad command lines ----
expect_error 2 "unknown command 'fly'" -- fly
expect_error 2 "missing DEVICE" -- run -e "$CH"
expect_error 2 "no experiment" -- run $DEV
expect_error 2 "unknown option '--frobnicate'" -- run $DEV -e "$CH" --frobnicate
expect_error 2 "option '-e' needs a step" -- run $DEV -e
expect_error 2 "--fields needs an output directory" -- run $DEV -e "$CH" --fields
expect_error 2 "--rtol 'abc'" -- run $DEV -e "$CH" --rtol abc
expect_error 2 "--temperature '25 parsecs'" "unit" -- run $DEV -e "$CH" --temperature '25 parsecs'
expect_error 2 "--temperature '3 V'" "wrong dimension" -- run $DEV -e "$CH" --temperature '3 V'
expect_error 2 "--temperature '-300 degC'" "temperature must be positive" -- run $DEV -e "$CH" --temperature '-300 degC'
expect_error 2 "--temperature '1e6 K'" "outside the plausible range 150 K to 600 K" -- run $DEV -e "$CH" --temperature '1e6 K'
# issue 12: --output-interval is checked, its unit named, its budget estimated
expect_error 2 "--output-interval '1 zork'" "unknown unit 'zork'" -- run $DEV -e "$CH" --output-interval '1 zork'
expect_error 2 "--output-interval '0 s'" "must be a positive time" -- run $DEV -e "$CH" --output-interval '0 s'
expect_error 2 "--output-interval '1 ns'" "shorter than 1 us" -- run $DEV -e "$CH" --output-interval '1 ns'
expect_error 2 "--output-interval '2 s 5'" "not one quantity: '5' after the number" -- run $DEV -e "$CH" --output-interval '2 s 5'
expect_error 2 "option '--output-interval' needs a time" -- run $DEV -e "$CH" --output-interval
expect_error 2 "--min-cycles '1'" -- run $DEV -e "$CH" -e "$DIS" --until-steady --min-cycles 1
expect_error 2 "--max-cycles 'many'" -- run $DEV -e "$CH" -e "$DIS" --until-steady --max-cycles many
expect_error 2 "--max-cycles '2'" "--min-cycles (3)" -- run $DEV -e "$CH" -e "$DIS" --until-steady --max-cycles 2
expect_error 2 "--ce-min '1.5'" -- run $DEV -e "$CH" -e "$DIS" --until-steady --ce-min 1.5
expect_error 2 "--steady-tol '-1e-3'" -- run $DEV -e "$CH" -e "$DIS" --until-steady --steady-tol -1e-3
expect_error 2 "option '--ce-min' needs a number" -- run $DEV -e "$CH" -e "$DIS" --until-steady --ce-min
expect_error 2 "'--max-cycles' needs --until-steady" -- run $DEV -e "$CH" -e "$DIS" --max-cycles 5
expect_error 2 "--until-steady" "Charge step followed by a Discharge" -- run $DEV -e "$CH" --until-steady

# ---- issue 12: output paths checked before the simulation (nothing on
# stdout: no report was printed), budgets estimated before the run ----
expect_error 2 "-o: cannot use output directory '': an empty path" -- run $DEV -e "$CH" -o ''
expect_error 2 "-o: cannot use output directory /dev/null" "Not a directory" -- run $DEV -e "$CH" -o /dev/null/x
within_1s "the experiment would run 2147483647 steps (Repeats counted), more than the budget of 100000 steps; --force" \
  run $DEV -e 'Repeat 2147483647 times: Rest for 1 s'
within_1s "would run 3000000 steps (Repeats and --max-cycles counted)" run $DEV -e 'Repeat 50000 times: Charge at 1 mA until 3 V; Discharge at 1 mA until 1 V' --until-steady
within_1s "would record about 3.6e+09 samples over the 3.6e+06 s of steps of known length, more than the budget of 10000000 samples" \
  run $DEV -e 'Rest for 1000 h' --output-interval '1 ms'
# --force goes on (the estimate counts the 'for 1e8 s', the step ends at 3.5 V)
"$NIMC" run $DEV -e 'Charge at 1 mA/cm2 until 3.5 V or for 1e8 s' --output-interval 1s --json \
  >/dev/null 2>"$TMP/err" && bad "beyond the sample budget without --force: status 0" || ok
grep -qF "more than the budget of 10000000 samples" "$TMP/err" && ok || bad "no budget message: $(cat "$TMP/err")"
timeout 60 "$NIMC" run $DEV -e 'Charge at 1 mA/cm2 until 3.5 V or for 1e8 s' --output-interval 1s --force --json \
  >/dev/null 2>"$TMP/err" && ok || bad "--force: $(cat "$TMP/err")"

# ---- bad experiment steps: the offending text is quoted ----
expect_error 2 "'Charge at 0.1 mA/cm2 untill 3.5 V'" "untill" -- run $DEV -e 'Charge at 0.1 mA/cm2 untill 3.5 V'
expect_error 2 "'Dance for 1 h'" "unknown step" -- run $DEV -e 'Dance for 1 h'
expect_error 2 "'5 V' is not a current" -- run $DEV -e 'Charge at 5 V until 3.5 V'
expect_error 2 "step 2" "'Discharge at -1 mA until 0 V'" -- run $DEV -e "$CH" -e 'Discharge at -1 mA until 0 V'
expect_error 2 "'Rest'" "expected 'for <time>' or 'until <voltage>' after 'Rest', found nothing" -- run $DEV -e 'Rest'
expect_error 2 "'Repeat 0 times'" "expected a whole number >= 1 after 'Repeat'" -- run $DEV -e 'Repeat 0 times: Charge at 1 mA until 3 V'
# issue 12: values the solver used to fail on (exit 1), or ran with to nonsense
expect_error 2 "step 1 'Rest for 1e-300 s'" "duration from 1 us" -- run $DEV -e 'Rest for 1e-300 s'
expect_error 2 "step 1 'Rest for 1e308 h'" "not a finite number in s" -- run $DEV -e 'Rest for 1e308 h'
expect_error 2 "step 1 'Charge at 1e6 A/cm2 until 3.5 V'" "current density of at most 10 A/cm2" -- run $DEV -e 'Charge at 1e6 A/cm2 until 3.5 V'
# issue 10: power, loads, C-rates, per mass, rest until, ends on charge
expect_error 2 "step 1 'Charge at 0 mW until 3 V'" "a power must be positive" -- run $DEV -e 'Charge at 0 mW until 3 V'
expect_error 2 "step 1 'Discharge at 2 kW until 0 V'" "a power of at most 1 kW" -- run $DEV -e 'Discharge at 2 kW until 0 V'
expect_error 2 "step 2 'Discharge through 5 V until 0 V'" "'5 V' is not a resistance" -- run $DEV -e "$CH" -e 'Discharge through 5 V until 0 V'
expect_error 2 "step 1 'Discharge through 0 ohm until 0 V'" "a resistance must be positive" -- run $DEV -e 'Discharge through 0 ohm until 0 V'
expect_error 2 "step 1 'Discharge through 5 kohm'" "after the resistance, found nothing" -- run $DEV -e 'Discharge through 5 kohm'
expect_error 2 "step 1 'Charge at C/0 until 3 V'" "C-rate 'C/N' must be positive" -- run $DEV -e 'Charge at C/0 until 3 V'
expect_error 2 "step 2 'Charge at 2C until 3.5 V'" "[device] nominal_capacity (in C or mAh) is not given in $DEV" -- run $DEV -e "$CH" -e 'Charge at 2C until 3.5 V'
expect_error 2 "step 1 'Charge at 1 A/g for 1 s'" "[anode] active_density is not given in $DEV" -- run $DEV -e 'Charge at 1 A/g for 1 s'
expect_error 2 "--set device.nominal_capacity" "positive" -- run $DEV -e 'Charge at 2C until 3.5 V' --set device.nominal_capacity=-1mAh
expect_error 2 "step 1 'Rest until 1 mC'" "'1 mC' is not a voltage" -- run $DEV -e 'Rest until 1 mC'
expect_error 2 "step 1 'Charge at 1 mA until 1 mC or until 2 mC'" "'until <charge>' is given twice" -- run $DEV -e 'Charge at 1 mA until 1 mC or until 2 mC'
# ... and run: each kind ends where it should
if "$NIMC" run $DEV --set device.nominal_capacity=0.02mAh -e 'Charge at 2C until 3.5 V' \
     -e 'Rest until 3.45 V' -e 'Discharge at 0.1 mW/cm2 until 2 V' \
     -e 'Discharge through 5 kohm until 1 V or until 1 mC' -e 'Charge at 10 uW until 2 V' \
     --json >"$TMP/loads.json" 2>"$TMP/err"; then
  n=$(sed -n 's/.*"type":[[:space:]]*"\([a-z_]*\)".*/\1/p' "$TMP/loads.json" | tr '\n' ' ')
  [ "$n" = 'charge rest discharge_power load_resistor charge_power ' ] && ok || bad "loads: steps $n"
  n=$(sed -n 's/.*"end_reason":[[:space:]]*"\([a-z]*\)".*/\1/p' "$TMP/loads.json" | tr '\n' ' ')
  [ "$n" = 'voltage voltage voltage charge voltage ' ] && ok || bad "loads: end reasons $n"
else
  bad "nimc run of the loads failed: $(cat "$TMP/err")"
fi

# ---- the device's safe window: a run that leaves it stops there, exit 1 ----
# (issue 10: the stack charged at 1 mA for half an hour reached 7.06 V and
# reported 460 mWh/cm3 with exit 0)
"$NIMC" run $DEV -e 'Charge at 1 mA for 0.5 hours' >"$TMP/win.txt" 2>"$TMP/err"
rc=$?
[ $rc -eq 1 ] && grep -q '^nimc run: warning: step 1 .*max_voltage = 3.5 V' "$TMP/err" \
  && grep -qE '^ +1 charge .* 3\.50[01][0-9] V .*end: window' "$TMP/win.txt" \
  && ! grep -q 'mWh/cm3' "$TMP/win.txt" \
  && ok || bad "the 7.06 V case: status $rc (1 expected), $(cat "$TMP/err") $(cat "$TMP/win.txt")"
"$NIMC" run $DEV -e 'Charge at 1 mA for 0.5 hours' --json >"$TMP/win.json" 2>"$TMP/err"
rc=$?
[ $rc -eq 1 ] && grep -q '"warnings":[[:space:]]*\[{' "$TMP/win.json" \
  && grep -q '"end_reason":[[:space:]]*"window"' "$TMP/win.json" \
  && grep -q 'warning:' "$TMP/err" && [ "$(head -c1 "$TMP/win.json")" = "{" ] \
  && ok || bad "the 7.06 V case --json: status $rc, no warnings array or window end: $(cat "$TMP/win.json")"
# a GCD cut at the window's edges: no warning, an empty warnings array, exit 0
grep -q '"warnings":[[:space:]]*\[\]' "$TMP/sum.json" && ok || bad "a plain GCD has no empty warnings array"
"$NIMC" run $DEV -e 'Charge at 1 mA/cm2 until 3.5 V' -e 'Hold at 3.5 V for 10 s' \
  -e 'Discharge at 1 mA/cm2 until 0 V' -e 'Sweep from 0 V to 3.5 V at 50 mV/s' -q >"$TMP/edge.txt" 2>"$TMP/err" \
  && ! grep -q warning "$TMP/err" && ok || bad "steps at the window's edges warned or failed: $(cat "$TMP/err")"
# the metrics come from the complete steps only: the cycle before the stop
"$NIMC" run $DEV -e "$CH" -e "$DIS" -e 'Charge at 1 mA for 1 h' --json >"$TMP/win2.json" 2>"$TMP/err"
rc=$?
a=$(json_in "$TMP/sum.json" metrics capacitance_F) b=$(json_in "$TMP/win2.json" metrics capacitance_F)
[ $rc -eq 1 ] && [ -n "$a" ] && [ "$a" = "$b" ] && ok \
  || bad "metrics after a window stop: status $rc, capacitance '$b', expected the GCD's '$a'"
# a solver failure in physics words, no metric from the failed step
"$NIMC" run $DEV -e 'Charge at 1 mA for 0.5 hours' --set device.max_voltage=10V >"$TMP/fail.txt" 2>"$TMP/err"
rc=$?
[ $rc -eq 1 ] && grep -q "failed at t = .*intercalation solid of the anode (NTO) is full.*\[IDA" "$TMP/err" \
  && grep -q '^metrics: none' "$TMP/fail.txt" \
  && ok || bad "a solver failure: status $rc, $(cat "$TMP/err")"
# bad window keys: exit 2, the file and line or the --set named
expect_error 2 "--set device.max_voltage" "'abc'" -- run $DEV -e "$CH" --set device.max_voltage=abc
expect_error 2 "--set device.max_voltage" "must be above min_voltage (0 V)" -- run $DEV -e "$CH" --set device.max_voltage=0V
expect_error 2 "--set device.max_current" "must be positive" -- run $DEV -e "$CH" --set device.max_current=-1mA
expect_error 2 "--set device.max_current" "a current per footprint area such as '10 mA/cm2'" -- run $DEV -e "$CH" --set device.max_current=3V
expect_error 2 "--set device.min_voltage" "wrong dimension" -- run $DEV -e "$CH" --set device.min_voltage=2mA
d=$(mkdev winorder 's/^max_voltage = 3.5 V/max_voltage = -1 V/'); n=$(grep -n '^max_voltage = -1 V' "$d" | cut -d: -f1)
expect_error 2 "$d:$n: [device] max_voltage" "must be above min_voltage" -- run "$d" -e "$CH"
d=$(mkdev winunit 's/^min_voltage = 0 V/min_voltage = 0/'); n=$(grep -n '^min_voltage = 0$' "$d" | cut -d: -f1)
expect_error 2 "$d:$n: [device] min_voltage" "no unit" -- run "$d" -e "$CH"
d=$(mkdev winnum 's/^max_current = 10 mA\/cm2/max_current = lots/'); n=$(grep -n '^max_current = lots' "$d" | cut -d: -f1)
expect_error 2 "$d:$n: [device] max_current" "'lots'" -- run "$d" -e "$CH"
d=$(mkdev winbig 's/^max_current = 10 mA\/cm2/max_current = 1 MA/'); n=$(grep -n '^max_current = 1 MA' "$d" | cut -d: -f1)
expect_error 2 "$d:$n: [device] max_current" "plausible range up to 1 kA" -- run "$d" -e "$CH"

# ---- bad device files: file, line and key named ----
expect_error 2 "no-such.ini" -- run "$TMP/no-such.ini" -e "$CH"
d=$(mkdev unknownkey 's/^porosity = 0.44/porosityy = 0.44/'); n=$(grep -n '^porosityy' "$d" | cut -d: -f1)
expect_error 2 "$d:$n" "porosityy" "unknown key" -- run "$d" -e "$CH"
d=$(mkdev nounit 's/^thickness = 5 um.*/thickness = 5/'); n=$(grep -n '^thickness = 5$' "$d" | cut -d: -f1)
expect_error 2 "$d:$n" "thickness" "no unit" -- run "$d" -e "$CH"
d=$(mkdev dimension 's/^thickness = 5 um.*/thickness = 5 s/'); n=$(grep -n '^thickness = 5 s' "$d" | cut -d: -f1)
expect_error 2 "$d:$n" "thickness" "wrong dimension" -- run "$d" -e "$CH"
d=$(mkdev negative 's/^thickness = 10 um.*/thickness = -10 um/'); n=$(grep -n '^thickness = -10' "$d" | cut -d: -f1)
expect_error 2 "$d:$n" "[cathode] thickness" "positive" -- run "$d" -e "$CH"
d=$(mkdev zero 's/^thickness = 30 um.*/thickness = 0 um/'); n=$(grep -n '^thickness = 0 um' "$d" | cut -d: -f1)
expect_error 2 "$d:$n" "[separator] thickness" -- run "$d" -e "$CH"
d=$(mkdev porosity 's/^porosity = 0.75.*/porosity = 1.3/'); n=$(grep -n '^porosity = 1.3' "$d" | cut -d: -f1)
expect_error 2 "$d:$n" "[cathode] porosity" -- run "$d" -e "$CH"
d=$(mkdev material 's|^material = materials/ag.ini|material = materials/unobtainium.ini|'); n=$(grep -n 'unobtainium' "$d" | cut -d: -f1)
expect_error 2 "$d:$n" "unknown material" "unobtainium" -- run "$d" -e "$CH"
mkdir -p "$TMP/dev"; printf 'x,y\n0,1\nfoo,2\n' >"$TMP/dev/broken.csv"
d=$(mkdev table 's|^material = materials/ag.ini|material = materials/ag.ini\ncapacitance_shape = table:broken.csv|')
expect_error 2 "broken.csv" "capacitance_shape" -- run "$d" -e "$CH"
d=$(mkdev csvmissing 's|^material = materials/ag.ini|material = materials/ag.ini\ncapacitance_shape = table:nowhere.csv|')
expect_error 2 "nowhere.csv" "capacitance_shape" -- run "$d" -e "$CH"
# issue 12: special files and NUL bytes answered at once (they hung, or grew
# memory, for ever): within 1 s, exit status 2, the file (and line) named
within_1s "/dev/zero: cannot read device file: not a regular file (a character device)" \
  run /dev/zero -e 'Rest for 1 s'
d=$(mkdev zeromat 's|^material = materials/ag.ini|material = /dev/zero|'); n=$(grep -n '/dev/zero' "$d" | cut -d: -f1)
within_1s "$d:$n: [cathode] material: cannot read material file /dev/zero: not a regular file" run "$d" -e "$CH"
d=$(mkdev zerotab 's|^material = materials/ag.ini|material = materials/ag.ini\ncapacitance_shape = table:/dev/zero|')
within_1s "capacitance_shape: cannot read table '/dev/zero': not a regular file" run "$d" -e "$CH"
d=$(mkdev nul 's/^porosity = 0.44.*/porosity = 0.44/'); n=$(grep -n '^porosity = 0.44' "$d" | cut -d: -f1)
sed -i "${n}s/0.44/0.4\x004/" "$d"
within_1s "$d:$n: a NUL byte" run "$d" -e "$CH"
expect_error 2 "--set anode.thickness" "must be positive" -- run $DEV -e "$CH" --set anode.thickness=-5um
expect_error 2 "--set device.initial_voltage: " "not a finite number in V" -- run $DEV -e "$CH" --set device.initial_voltage=1e308kV
expect_error 2 "--set anode.thickness: " "outside the plausible range 1 nm to 10 mm" -- run $DEV -e "$CH" --set anode.thickness=1km
d=$(mkdev product 's/^thickness = 5 um.*/thickness = 5 um 1000/'); n=$(grep -n '^thickness = 5 um 1000' "$d" | cut -d: -f1)
expect_error 2 "$d:$n" "[anode] thickness" "not one quantity: '1000' after the number" -- run "$d" -e "$CH"
d=$(mkdev product2 's/^porosity = 0.44.*/porosity = 0.44 0.5/'); n=$(grep -n '^porosity = 0.44 0.5' "$d" | cut -d: -f1)
expect_error 2 "$d:$n" "[anode] porosity" "not one quantity: '0.5' after the number" -- run "$d" -e "$CH"
# a run that ends with a rest reports its self-discharge from Vmax (the
# charge's 3.5 V, not the rest's first voltage after the IR drop)
if "$NIMC" run $DEV --set device.shunt_resistance=1Mohm -e 'Charge at 1 mA/cm2 until 3.5 V' \
     -e 'Rest until 2.1 V or for 100 h' --json -q >"$TMP/sd.json" 2>"$TMP/err"; then
  ok
  j=$TMP/sd.json
  num() { sed -n "s/.*\"$1\":[[:space:]]*\([-0-9.eE+]*\).*/\1/p" "$j" | head -1; }
  dur=$(sed -n 's/.*"duration_s":[[:space:]]*\([-0-9.eE+]*\).*/\1/p' "$j" | tail -1)
  awk -v vm="$(num v_max_V)" -v vt="$(num threshold_V)" -v v0="$(num rest_v_start_V)" \
      -v th="$(num self_discharge_time_h)" -v d="$dur" \
      'BEGIN { e = th - d / 3600; if (e < 0) e = -e
               exit !(vm > 3.5 - 1e-9 && vm < 3.5 + 1e-9 && vt > 2.1 - 1e-9 && vt < 2.1 + 1e-9 && v0 < 3.499 &&
                      d > 0 && e <= 1e-9 * d) }' && ok \
    || bad "self_discharge of the run: $(grep -A14 '"self_discharge"' "$j")"
  for key in conway_r2_log conway_r2_sqrt conway_r2_ln; do
    grep -q "\"$key\"" "$j" && ok || bad "self_discharge lacks $key"
  done
else
  bad "a rest with a shunt failed: $(cat "$TMP/err")"
fi
"$NIMC" run $DEV -e "$CH" --json -q | grep -q '"self_discharge"' && bad "self_discharge without a rest" || ok
# the shunt across the cell (issue 10): sign, unit, plausibility, a short
for sh in "-15 Mohm|must be >= 0" "15 MF|wrong dimension" "15e6|has no unit" \
          "1e20 ohm|outside the plausible range 0 (none) or 1 ohm to 1e15 ohm" \
          "0.5 ohm|a shunt below 1 ohm shorts the device"; do
  v=${sh%%|*}; why=${sh#*|}
  d=$(mkdev shunt 's/^\[device\]$/[device]\nshunt_resistance = '"$v"'/'); n=$(grep -n '^shunt_resistance' "$d" | cut -d: -f1)
  expect_error 2 "$d:$n" "[device] shunt_resistance" "$why" -- run "$d" -e "$CH"
done
expect_error 2 "--set" "anode.colour" -- run $DEV -e "$CH" --set anode.colour=blue
expect_error 2 "--set" "nodot" -- run $DEV -e "$CH" --set nodot=3

# ---- the LED load: 'Discharge through LED' and the [led] section ----
LED=(--set led.forward_voltage=1.8V --set led.forward_current=1mA --set led.series_resistance=50ohm)
"$NIMC" run $DEV "${LED[@]}" --set device.max_current=10A/cm2 -e 'Charge at 0.6 mA/cm2 for 50 s' -e 'Discharge through LED until 1.9 V' \
  --json >"$TMP/led.json" 2>"$TMP/err" && ok || bad "run with the LED failed: $(cat "$TMP/err")"
grep -q '"type":[[:space:]]*"load_led"' "$TMP/led.json" && ok || bad "no load_led step in the summary"
expect_error 2 "step 1 'Discharge through LED until 1.9 V'" "the [led] section" "$DEV" -- \
  run $DEV -e 'Discharge through LED until 1.9 V'
expect_error 2 "step 1 'Discharge through LEDD until 1.9 V'" "the word 'LED' after 'through', found 'LEDD" -- \
  run $DEV "${LED[@]}" -e 'Discharge through LEDD until 1.9 V'
expect_error 2 "step 1 'Discharge through LED until 1 mAh'" "not on a charge" -- \
  run $DEV "${LED[@]}" -e 'Discharge through LED until 1 mAh'
expect_error 2 "step 1 'Discharge through LED'" "after 'LED', found nothing" -- \
  run $DEV "${LED[@]}" -e 'Discharge through LED'
expect_error 2 "step 1 'Charge through LED until 3 V'" "expected 'at <current>'" -- \
  run $DEV "${LED[@]}" -e 'Charge through LED until 3 V'
expect_error 2 "--set led.ideality" "must be >= 1" -- run $DEV "${LED[@]}" --set led.ideality=-2 -e "$CH"
expect_error 2 "--set led.forward_voltage" "V" -- run $DEV --set led.forward_voltage=1.8mA --set led.forward_current=1mA -e "$CH"
expect_error 2 "--set led.forward_current" "outside the plausible range 1 nA to 10 A" -- \
  run $DEV --set led.forward_voltage=1.8V --set led.forward_current=1kA -e "$CH"
expect_error 2 "[led] forward_current: missing" -- run $DEV --set led.forward_voltage=1.8V -e "$CH"
expect_error 2 "--set led.idealty" "did you mean 'ideality'" -- run $DEV "${LED[@]}" --set led.idealty=2 -e "$CH"
expect_error 2 "--set led.series_resistance" "must be >= 0" -- run $DEV "${LED[@]}" --set led.series_resistance=-5ohm -e "$CH"
d=$(mkdev ledsec '$a\
\
[led]\
forward_voltage = 1.8 V\
forward_current = 1 mA\
ideality = 0.5')
n=$(grep -n '^ideality = 0.5' "$d" | cut -d: -f1)
expect_error 2 "$d:$n: [led] ideality" "must be >= 1" -- run "$d" -e "$CH"

# ---- an experiment file (-x): one step a line, '#' comments ----
printf '# formation\nRepeat 2 times: Charge at 1 mA/cm2 until 3.5 V; Discharge at 1 mA/cm2 until 0 V  # two cycles\n\nRest for 10 s\n' >"$TMP/x.exp"
"$NIMC" run $DEV -x "$TMP/x.exp" --json >"$TMP/x.json" 2>"$TMP/err" && ok || bad "run -x failed: $(cat "$TMP/err")"
n=$(sed -n 's/.*"type":[[:space:]]*"\([a-z]*\)".*/\1/p' "$TMP/x.json" | tr '\n' ' ')
[ "$n" = 'charge discharge charge discharge rest ' ] \
  && ok || bad "run -x: steps $n"
printf 'Rest for 1 s\n\n  Dance for 1 h # no\n' >"$TMP/bad.exp"
expect_error 2 "$TMP/bad.exp:3: 'Dance for 1 h': unknown step 'Dance'" -- run $DEV -x "$TMP/bad.exp"
printf '# nothing\n\n' >"$TMP/empty.exp"
expect_error 2 "$TMP/empty.exp: no steps" -- run $DEV -x "$TMP/empty.exp"
printf 'Rest for 1 s\nRest\000for 1 s\n' >"$TMP/nul.exp"
expect_error 2 "$TMP/nul.exp:2: a NUL byte" -- run $DEV -x "$TMP/nul.exp"
expect_error 2 "/dev/zero: cannot read experiment file: not a regular file" -- run $DEV -x /dev/zero
expect_error 2 "$TMP/none.exp: cannot read experiment file" -- run $DEV -x "$TMP/none.exp"
expect_error 2 "-x FILE and -e STEP exclude each other" -- run $DEV -x "$TMP/x.exp" -e "$CH"
expect_error 2 "one experiment file" -- run $DEV -x "$TMP/x.exp" -x "$TMP/x.exp"

# ---- issue 10: nested Repeats (brackets on one line, 'Repeat N times:' ...
# 'End' over lines), '(<time> period)' and '(at <temperature>)' after a step ----
printf '# 2 x (2 cycles, a rest)\nRepeat 2 times:   # the outer\n  Repeat 2 times: Charge at 1 mA/cm2 until 3.5 V; Discharge at 1 mA/cm2 until 0.5 V\n  Rest for 5 s (1 s period, at 40 degC)\nEnd\n' >"$TMP/nest.exp"
"$NIMC" run $DEV -x "$TMP/nest.exp" --json >"$TMP/nest.json" 2>"$TMP/err" && ok || bad "run -x nested failed: $(cat "$TMP/err")"
n=$(sed -n 's/.*"type":[[:space:]]*"\([a-z]*\)".*/\1/p' "$TMP/nest.json" | tr '\n' ' ')
[ "$n" = 'charge discharge charge discharge rest charge discharge charge discharge rest ' ] \
  && [ "$(grep -c '"first_step":' "$TMP/nest.json")" = 4 ] \
  && ok || bad "run -x nested: steps '$n' or not 4 cycles"
"$NIMC" run $DEV -e 'Repeat 2 times: (Repeat 2 times: Charge at 1 mA/cm2 until 3.5 V; Discharge at 1 mA/cm2 until 0.5 V); Rest for 5 s (1 s period, at 40 degC)' \
  --json >"$TMP/nest1.json" 2>"$TMP/err" && ok || bad "run -e nested failed: $(cat "$TMP/err")"
diff <(grep -v '"device"' "$TMP/nest.json") <(grep -v '"device"' "$TMP/nest1.json") >/dev/null \
  && ok || bad "the nested Repeat on one line differs from the file's"
"$NIMC" run $DEV -e 'Repeat 2 times:' -e "$CH (at 80 degC)" -e "$DIS" -e 'End' --json >/dev/null 2>"$TMP/err" \
  && ok || bad "run -e 'Repeat 2 times:' ... -e End failed: $(cat "$TMP/err")"
expect_error 2 "step 1 'Repeat 2 times: (Repeat 3 times: Rest for 1 s'" "the '(' at byte 17 is never closed" -- run $DEV -e 'Repeat 2 times: (Repeat 3 times: Rest for 1 s'
expect_error 2 "the ')' at byte 29 closes no '('" -- run $DEV -e 'Repeat 2 times: Rest for 1 s)'
printf 'Rest for 1 s\nRepeat 3 times:\n  Rest for 2 s\n' >"$TMP/noend.exp"
expect_error 2 "$TMP/noend.exp:2: 'Repeat 3 times:': the Repeat has no 'End'" -- run $DEV -x "$TMP/noend.exp"
printf 'Rest for 1 s\n\nEnd\n' >"$TMP/end.exp"
expect_error 2 "$TMP/end.exp:3: 'End': 'End' without a Repeat to close" -- run $DEV -x "$TMP/end.exp"
printf 'Repeat 3 times:\n# nothing\nEnd\n' >"$TMP/empty_rep.exp"
expect_error 2 "$TMP/empty_rep.exp:1: 'Repeat 3 times:': the Repeat has no steps before its 'End' on line 3" -- run $DEV -x "$TMP/empty_rep.exp"
expect_error 2 "step 1 (item 1 of the Repeat) 'Repeat 0 times'" "expected a whole number >= 1" -- run $DEV -e 'Repeat 2 times: (Repeat 0 times: Rest for 1 s)'
expect_error 2 "(item 2 of the Repeat)" "without brackets" -- run $DEV -e 'Repeat 2 times: Rest for 1 s; Repeat 2 times: Rest for 1 s'
expect_error 2 "brackets hold a nested Repeat" -- run $DEV -e 'Repeat 2 times: (Rest for 1 s)'
within_1s "the experiment would run 2000000 steps (Repeats counted), more than the budget of 100000 steps" \
  run $DEV -e 'Repeat 1000 times: (Repeat 1000 times: Charge at 1 mA until 3 V; Discharge at 1 mA until 1 V)'
within_1s "would run 1e+18 steps (Repeats expanded), more than the 2147483647 one run can count" \
  run $DEV -e 'Repeat 1000000000 times: (Repeat 1000000000 times: Rest for 1 s)'
within_1s "Repeats nest at most 8 deep" \
  run $DEV -e "$(printf '(Repeat 2 times: %.0s' 1 2 3 4 5 6 7 8 9)Rest for 1 s$(printf ')%.0s' 1 2 3 4 5 6 7 8 9)"
expect_error 2 "'Rest for 1 h (0 s period)'" "an output period must be positive, found '0 s'" -- run $DEV -e 'Rest for 1 h (0 s period)'
expect_error 2 "'1 V' is not an output period (unit 'V' is not s)" -- run $DEV -e 'Rest for 1 h (1 V period)'
expect_error 2 "the output period '(<time> period)' is given twice" -- run $DEV -e 'Rest for 1 h (1 s period) (2 s period)'
expect_error 2 "'1e6 degC' is outside the plausible range: expected a temperature from 150 K to 600 K" -- run $DEV -e "$CH (at 1e6 degC)"
expect_error 2 "'80 V' is not a temperature (unit 'V' is not K or degC)" -- run $DEV -e "$CH (at 80 V)"
expect_error 2 "'80C' is not a temperature" "did you mean degC?" -- run $DEV -e "$CH (at 80C)"
expect_error 2 "the temperature '(at <temperature>)' is given twice" -- run $DEV -e "$CH (at 80 degC, at 25 degC)"
expect_error 2 "expected '<time> period' or 'at <temperature>' in the brackets, found 'hot'" -- run $DEV -e "$CH (hot)"
expect_error 2 "step 2 'Rest for 1 s (at 160 K)': temperature 160 K is not above the VTF T0 = 165 K" -- run $DEV -e "$CH" -e 'Rest for 1 s (at 160 K)'
within_1s "the steps' '(<time> period)' would record about 3.6e+09 samples over their known length, more than the budget of 10000000 samples" \
  run $DEV -e 'Rest for 1000 h (1 ms period)'
# the step with its own period counts at it (3.6e6), the other at the interval
within_1s "--output-interval '1 ms' would record about 1.44e+07 samples" \
  run $DEV -e 'Rest for 1000 h (1 s period)' -e 'Rest for 3 h' --output-interval '1 ms'

# ---- cycles of a Repeat: the table, cycles.csv, "cycles", --cycles-only ----
R='Repeat 3 times: Charge at 1 mA/cm2 until 3.5 V; Discharge at 1 mA/cm2 until 0 V'
rows() { grep -cE '^ +[0-9]+( +[-0-9.e+na]+){8}$' "$1"; }
"$NIMC" run $DEV -e 'Rest for 5 s' -e "$R" -q -o "$TMP/cyc" >"$TMP/cyc.txt" 2>"$TMP/err" \
  && ok || bad "run with a Repeat failed: $(cat "$TMP/err")"
grep -q '^cycles:' "$TMP/cyc.txt" && [ "$(rows "$TMP/cyc.txt")" = 3 ] \
  && ok || bad "run with a Repeat: no table of 3 cycles: $(cat "$TMP/cyc.txt")"
[ "$(wc -l <"$TMP/cyc/cycles.csv")" = 4 ] && head -1 "$TMP/cyc/cycles.csv" | grep -q '^cycle,first_step,.*,coulombic_efficiency,.*capacitance_F,capacitance_retention,' \
  && grep -q '^cycles.csv ' "$TMP/cyc/manifest.txt" && [ -s "$TMP/cyc/timeseries.csv" ] \
  && ok || bad "run -o with a Repeat: cycles.csv or manifest wrong"
"$NIMC" run $DEV -e "$R" --json >"$TMP/cyc.json" 2>"$TMP/err" && ok || bad "run --json with a Repeat failed"
[ "$(grep -c '"first_step":' "$TMP/cyc.json")" = 3 ] && grep -q '"cycles":' "$TMP/cyc.json" \
  && ok || bad "run --json with a Repeat: no cycles array of 3"
# --cycles-only: the same cycles, no time series; a stale file is kept, not listed
mkdir -p "$TMP/cyo" && echo stale >"$TMP/cyo/timeseries.csv"
"$NIMC" run $DEV -e 'Rest for 5 s' -e "$R" --cycles-only -q -o "$TMP/cyo" >"$TMP/cyo.txt" 2>"$TMP/err" \
  && ok || bad "run --cycles-only failed: $(cat "$TMP/err")"
[ "$(rows "$TMP/cyo.txt")" = 3 ] && grep -q 'capacitance_F' "$TMP/cyo.txt" \
  && ok || bad "run --cycles-only: no 3 cycle rows and metrics: $(cat "$TMP/cyo.txt")"
cmp -s "$TMP/cyc/cycles.csv" "$TMP/cyo/cycles.csv" && ok || bad "run --cycles-only: cycles.csv differs from the full run's"
[ "$(cat "$TMP/cyo/timeseries.csv")" = stale ] && [ ! -e "$TMP/cyo/gcd.png" ] \
  && ! grep -q timeseries "$TMP/cyo/manifest.txt" && grep -q '^summary.json ' "$TMP/cyo/manifest.txt" \
  && ok || bad "run --cycles-only -o: wrote or listed a time series"
"$NIMC" run $DEV -e "$R" --cycles-only --json >"$TMP/cyo.json" 2>"$TMP/err" \
  && [ "$(grep -c '"first_step":' "$TMP/cyo.json")" = 3 ] && grep -q '"capacitance_F":' "$TMP/cyo.json" \
  && ok || bad "run --cycles-only --json: no cycles or metrics"
expect_error 2 "--cycles-only and --until-steady exclude each other" -- run $DEV -e "$CH" -e "$DIS" --cycles-only --until-steady

# ---- --save-state, --load-state: A then B straight, or B from A's state ----
A1='Charge at 1 mA/cm2 until 3.5 V'; A2='Hold at 3.5 V for 30 s'
B1='Discharge at 1 mA/cm2 until 1 V'; B2='Rest for 20 s'
"$NIMC" run $DEV -q -e "$A1" -e "$A2" -e "$B1" -e "$B2" -o "$TMP/ab" >/dev/null 2>"$TMP/err" \
  && "$NIMC" run $DEV -q -e "$A1" -e "$A2" --save-state "$TMP/a.state" >/dev/null 2>>"$TMP/err" \
  && "$NIMC" run $DEV -q -e "$B1" -e "$B2" --load-state "$TMP/a.state" -o "$TMP/b" >/dev/null 2>>"$TMP/err" \
  && ok || bad "run --save-state / --load-state failed: $(cat "$TMP/err")"
# the last sample (time, voltage, step index) of B agrees to 1e-6
paste -d, <(tail -n 1 "$TMP/ab/timeseries.csv") <(tail -n 1 "$TMP/b/timeseries.csv") \
  | awk -F, '{ok = $4 == $8 && $4 == 3; for (k = 1; k <= 2; k++) { d = $k - $(k + 4); if (d < 0) d = -d; if (d > 1e-6 * ($k < 0 ? -$k : $k) + 1e-9) ok = 0 } exit !ok}' \
  && ok || bad "run --load-state: B differs from the straight run: $(tail -n 1 "$TMP/ab/timeseries.csv") vs $(tail -n 1 "$TMP/b/timeseries.csv")"
head -1 "$TMP/a.state" | grep -qx 'nimc-state 3' && ok || bad "--save-state: no version line"
expect_error 2 "--load-state: $TMP/a.state: the state has 694 unknowns" "has 711" -- run $DEV -e "$B2" --load-state "$TMP/a.state" --set mesh.anode_cells=21
expect_error 2 "--load-state: $TMP/none.state: cannot read state file" -- run $DEV -e "$B2" --load-state "$TMP/none.state"
printf 'nimc-state 2\nunknowns 694\n' >"$TMP/cut.state"
expect_error 2 "--load-state: $TMP/cut.state:2: the file ends before its 'values' line" -- run $DEV -e "$B2" --load-state "$TMP/cut.state"
expect_error 2 "option '--load-state' needs a file" -- run $DEV -e "$B2" --load-state

# ---- packs: --pack NsMp and [pack] ----
# two cells in series reach 7.0 V at the same current in one cell's time
t1=$("$NIMC" run $DEV -e "$CH" --json 2>/dev/null | sed -n 's/.*"duration_s":[[:space:]]*\([-0-9.eE+]*\).*/\1/p' | head -1)
"$NIMC" run $DEV --pack 2s1p -e 'Charge at 0.1 mA/cm2 until 7 V' >"$TMP/pack.txt" 2>"$TMP/err" \
  && ok || bad "run --pack 2s1p failed: $(cat "$TMP/err")"
grep -qF "as a 2s1p pack" "$TMP/pack.txt" && ok || bad "--pack: the report does not say the pack"
grep -qF "pack cells at the end (voltage, charge passed): 3.5000 V" "$TMP/pack.txt" && ok \
  || bad "--pack: no per-cell voltages: $(cat "$TMP/pack.txt")"
t2=$("$NIMC" run $DEV --pack 2s1p -e 'Charge at 0.1 mA/cm2 until 7 V' --json 2>/dev/null | sed -n 's/.*"duration_s":[[:space:]]*\([-0-9.eE+]*\).*/\1/p' | head -1)
awk -v a="$t1" -v b="$t2" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a > 0 && d < 0.005 * a) }' \
  && ok || bad "--pack 2s1p to 7 V took $t2 s, one cell to 3.5 V $t1 s"
# the pack's window is its cells' over a string: 2 x 3.5 V
"$NIMC" run $DEV --pack 2s1p -e 'Charge at 0.1 mA/cm2 for 2 h' >/dev/null 2>"$TMP/err"
[ $? -eq 1 ] && grep -qF "max_voltage (2 in series) = 7 V" "$TMP/err" && ok ||
  bad "a 2s1p charged past 7 V: not stopped at its window: $(cat "$TMP/err")"
# the same through the device file and --set
"$NIMC" run $DEV --set pack.series=2 -e 'Charge at 0.1 mA/cm2 until 7 V' >"$TMP/pack2.txt" 2>"$TMP/err" \
  && grep -qF "as a 2s1p pack" "$TMP/pack2.txt" && ok || bad "--set pack.series=2: $(cat "$TMP/err")"
# bad packs: exit 2, located
expect_error 2 "--pack '0s1p': a pack needs at least one cell in series" -- run $DEV --pack 0s1p -e "$CH"
expect_error 2 "--pack '2x': expected NsMp" -- run $DEV --pack 2x -e "$CH"
expect_error 2 "--pack '1000s1000p'" "more than the 64 a pack may have" -- run $DEV --pack 1000s1000p -e "$CH"
expect_error 2 "--pack '8s9p': 8s9p is 72 cells, more than the 64" -- run $DEV --pack 8s9p -e "$CH"
expect_error 2 "option '--pack' needs a shape such as 2s1p" -- run $DEV -e "$CH" --pack
expect_error 2 "--fields: the fields of a pack are not mapped" -- run $DEV --pack 1s2p -e "$CH" --fields -o "$TMP/pf"
[ -e "$TMP/pf" ] && bad "--pack --fields created its output directory" || ok
D=$(mkdev packneg '$a [pack]\nseries = -1')
L=$(grep -n 'series = -1' "$D" | cut -d: -f1)
expect_error 2 "$D:$L: [pack] series: must be a whole number from 1 to 64, got '-1'" -- run "$D" -e "$CH"
D=$(mkdev packkey '$a [pack]\nseries = 2\nspread = cathode.colour 5 %')
L=$(grep -n 'spread =' "$D" | cut -d: -f1)
expect_error 2 "$D:$L: [pack] spread: item 1: 'cathode.colour' cannot be spread (spreadable: anode.thickness" -- run "$D" -e "$CH"
D=$(mkdev packpc '$a [pack]\nseries = 2\nspread = cathode.thickness 60 %')
L=$(grep -n 'spread =' "$D" | cut -d: -f1)
expect_error 2 "$D:$L: [pack] spread: item 1: the spread of 'cathode.thickness' must be above 0 % and at most 50 %, got 60 %" -- run "$D" -e "$CH"
expect_error 2 "--set pack.parallel: must be a whole number from 1 to 64, got '0'" -- run $DEV --set pack.parallel=0 -e "$CH"
expect_error 2 "--set pack.spread: item 1: the spread of 'anode.porosity' is a percentage" -- run $DEV --set "pack.spread=anode.porosity 2" -e "$CH"
expect_error 2 "[pack]: the impedance of a pack is not computed" -- eis $DEV --set pack.series=2
# a spread that takes a cell's porosity out of (0, 1): the cell named
expect_error 2 "[pack] spread: cell" "'s cathode.porosity is" "outside (0, 1)" -- run $DEV --set pack.series=8 --set "pack.spread=cathode.porosity 50 %" --set pack.seed=1 -e "$CH"
# a state of one cell does not go into a pack
"$NIMC" run $DEV -q -e "$CH" --save-state "$TMP/one.state" >/dev/null 2>"$TMP/err" || bad "save-state: $(cat "$TMP/err")"
expect_error 2 "--load-state: $TMP/one.state: the state has 694 unknowns" "has 1392" -- run $DEV --pack 2s1p -e "$DIS" --load-state "$TMP/one.state"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
