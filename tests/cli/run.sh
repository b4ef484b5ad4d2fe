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
  ls "$TMP/o/deep" | grep -q '\.tmp' && bad "temporary files left behind" || ok
else
  bad "nimc run -o failed: $(cat "$TMP/err")"
fi

# ---- success: --fields writes the fields at the end of the run ----
for fdev in $DEV devices/nimc.ini; do
  fo="$TMP/fields-$(basename "$fdev" .ini)"
  if "$NIMC" run "$fdev" -e 'Charge at 1 mA/cm2 for 2 s' --fields -q -o "$fo" >/dev/null 2>"$TMP/err"; then
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
expect_error 2 "--temperature '-300 degC'" -- run $DEV -e "$CH" --temperature '-300 degC'
expect_error 2 "--min-cycles '1'" -- run $DEV -e "$CH" -e "$DIS" --until-steady --min-cycles 1
expect_error 2 "--max-cycles 'many'" -- run $DEV -e "$CH" -e "$DIS" --until-steady --max-cycles many
expect_error 2 "--max-cycles '2'" "--min-cycles (3)" -- run $DEV -e "$CH" -e "$DIS" --until-steady --max-cycles 2
expect_error 2 "--ce-min '1.5'" -- run $DEV -e "$CH" -e "$DIS" --until-steady --ce-min 1.5
expect_error 2 "--steady-tol '-1e-3'" -- run $DEV -e "$CH" -e "$DIS" --until-steady --steady-tol -1e-3
expect_error 2 "option '--ce-min' needs a number" -- run $DEV -e "$CH" -e "$DIS" --until-steady --ce-min
expect_error 2 "'--max-cycles' needs --until-steady" -- run $DEV -e "$CH" -e "$DIS" --max-cycles 5
expect_error 2 "--until-steady" "Charge step followed by a Discharge" -- run $DEV -e "$CH" --until-steady

# ---- bad experiment steps: the offending text is quoted ----
expect_error 2 "'Charge at 0.1 mA/cm2 untill 3.5 V'" "untill" -- run $DEV -e 'Charge at 0.1 mA/cm2 untill 3.5 V'
expect_error 2 "'Dance for 1 h'" "unknown step" -- run $DEV -e 'Dance for 1 h'
expect_error 2 "'5 V' is not a current" -- run $DEV -e 'Charge at 5 V until 3.5 V'
expect_error 2 "step 2" "'Discharge at -1 mA until 0 V'" -- run $DEV -e "$CH" -e 'Discharge at -1 mA until 0 V'
expect_error 2 "'Rest'" -- run $DEV -e 'Rest'
expect_error 2 "Repeat" -- run $DEV -e 'Repeat 0 times: Charge at 1 mA until 3 V'

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
expect_error 2 "--set anode.thickness" -- run $DEV -e "$CH" --set anode.thickness=-5um
expect_error 2 "--set" "anode.colour" -- run $DEV -e "$CH" --set anode.colour=blue
expect_error 2 "--set" "nodot" -- run $DEV -e "$CH" --set nodot=3

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
