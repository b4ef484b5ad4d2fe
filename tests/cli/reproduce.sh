#!/bin/bash
# Command-line specification of `nimc reproduce`: the summary JSON with its
# "validation" array (every published value beside the model's, each row
# with its role), the figures and tables written with -o, the two text
# tables (calibration, predictions), failures reported without stopping the
# rest (null / "failed", exit status 1; a model-only prediction without a
# value is a warning), and bad usage (2).
# The shipped devices are run with --only calibration (the full command
# takes several times as long); the prediction machinery (variants,
# model-only rows, the predictions table and figure) is checked on the fast
# stack device copied under the three names.  The cycling study (h) runs a
# short experiment of --experiments (20 cycles, not the shipped 6000: that
# takes minutes).
# Nothing here asserts that the model is close to the paper: that is
# calibration, not the command's contract.
# usage: reproduce.sh PATH/TO/nimc   (run from the repository root)
set -u
NIMC=${1:?usage: reproduce.sh NIMC}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
pass=0 fail=0
# the calibration rows (app/paper.h), and the predictions (paper.h's and
# the model-only rows of app/reproduce.c)
CAL_IDS='cv_0.1 cv_0.2 cv_0.3 ca_0.3 cv_1 retention_1 cv_1.5 retention_1.5
         cv_0.2_covered esr_eis rct_eis
         sd_nimc sd_commercial_3.5V sd_commercial_2.75V'
# the cycling study's rows (h): calibration rows that --only calibration
# leaves out, and the model-only rows at 80 C
CYC_CAL_IDS='retention_6000 ce_6000'
CYC_PRED_IDS='retention_6000_80C ce_6000_80C'
PRED_IDS='rct_eis_covered series_time_ratio parallel_time_ratio
  cv_0.1_covered cv_0.3_covered cv_0.5_covered cv_1_covered cv_1.5_covered
  cv_2_covered cover_ratio_0.1 cover_ratio_0.3 cover_ratio_0.5 cover_ratio_1
  cover_ratio_1.5 cover_ratio_2 esr_eis_covered
  cv_0.1_ag_ag cv_0.3_ag_ag cv_1_ag_ag cv_2_ag_ag retention_1_ag_ag
  esr_eis_ag_ag
  cv_0.1_80C cv_0.3_80C cv_1_80C cv_1.5_80C cv_2_80C esr_eis_80C rct_eis_80C
  cv_sweep_5mV_s cv_sweep_10mV_s cv_sweep_20mV_s
  cv_0.1_1:1_cathode_fixed cv_0.1_1:2_cathode_fixed cv_0.1_1:3_cathode_fixed
  cv_0.1_1:4_cathode_fixed cv_0.1_1:1_anode_fixed cv_0.1_1:2_anode_fixed
  cv_0.1_1:3_anode_fixed cv_0.1_1:4_anode_fixed
  led_lit_s'
# the predictions the paper gives a value for
PRED_PAPER_IDS='rct_eis_covered series_time_ratio parallel_time_ratio'

# a short cycling study in place of experiments/nimc-cycling-6000.txt:
# formation, then a Repeat of 20 cycles (the fewest that jump)
X=$TMP/exp
mkdir -p "$X"
printf '%s\n' '# a short cycling study for the tests' \
  'Repeat 2 times: Charge at 0.8 mA/cm2 until 3.5 V; Discharge at 0.8 mA/cm2 until 0 V' \
  'Repeat 20 times with cycle jumping: Charge at 0.8 mA/cm2 until 3.5 V; Discharge at 0.8 mA/cm2 until 0 V' \
  >"$X/nimc-cycling-6000.txt"

ok()  { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
count() { echo $#; }

# check_rows FILE ROLE IDS...: every id has one row in "validation", each
# with paper (a number; null for a model-only prediction), model,
# rel_error, the cycle it was read from (and the reference's, for a ratio),
# whether it is excluded, and its role (cJSON prints one key per line)
check_rows() {
  local file=$1 role=$2 id paper
  shift 2
  grep -q '"validation"' "$file" && ok || bad "$file has no \"validation\""
  for id in "$@"; do
    paper='[-0-9]'
    [ "$role" = prediction ] && ! echo " $PRED_PAPER_IDS " | grep -q " $id " && paper='null'
    awk -v id="$id" -v paper="$paper" -v role="$role" '
      $0 ~ "\"id\":[[:space:]]*\"" id "\"" { inrow = 1; n++; next }
      inrow && /"id":/ { inrow = 0 }
      inrow && $0 ~ "\"paper\":[[:space:]]*" paper { p++ }
      inrow && /"model":[[:space:]]*([-0-9]|null)/ { m++ }
      inrow && /"rel_error":[[:space:]]*([-0-9]|null)/ { e++ }
      inrow && /"cycle":[[:space:]]*([0-9]|null)/ { c++ }
      inrow && /"cycle_ref":[[:space:]]*([0-9]|null)/ { r++ }
      inrow && /"excluded":[[:space:]]*("|null)/ { x++ }
      inrow && $0 ~ "\"role\":[[:space:]]*\"" role "\"" { o++ }
      END { exit !(n == 1 && p == 1 && m == 1 && e == 1 && c == 1 && r == 1 && x == 1 && o == 1) }' "$file" \
      && ok || bad "$file: row $id missing or lacks paper ($paper)/model/rel_error/cycle/cycle_ref/excluded/role $role"
  done
}

# check_tables FILE: the text output: the calibration table, then (unless
# --only calibration, argument 2 = 1) the predictions, each under its title
# line and a header, all columns aligned
check_tables() {
  local t=$1 only=${2:-0} ntables=2 nrows
  [ "$only" = 1 ] && ntables=1
  head -1 "$t" | grep -q '^calibration (fitted points)' && ok \
    || bad "the first line is not the calibration table's title: $(head -1 "$t")"
  grep -q '^predictions' "$t"
  [ $? -eq $((only)) ] && ok || bad "predictions table present: expected $((1 - only)): $(cat "$t")"
  [ "$(grep -Ec '^quantity +\| unit +\| +paper \| +model \| +rel\. error \| +cycle$' "$t")" -eq $ntables ] && ok \
    || bad "table headers: $(grep '^quantity' "$t")"
  nrows=$(count $CAL_IDS)
  [ "$only" = 1 ] || nrows=$((nrows + $(count $PRED_IDS $CYC_CAL_IDS $CYC_PRED_IDS)))
  [ "$(grep -c '|' "$t")" -eq $((nrows + ntables)) ] && ok || bad "table rows: $(grep -c '|' "$t"), expected $((nrows + ntables))"
  # the calibration rows come before the predictions' title
  awk '/^predictions/ { p = 1 } p && /^volumetric capacitance at 0.1 mA\/cm2 +\|/ { exit 1 }' "$t" && ok \
    || bad "a calibration row in the predictions table"
  [ "$(grep '|' "$t" | awk '{ print index($0, "|") }' | sort -u | wc -l)" -eq 1 ] && ok \
    || bad "the tables' columns are not aligned"
}

# ---- the shipped devices: --only calibration --json -o DIR ----
OUT=$TMP/out
"$NIMC" reproduce --only calibration --json -o "$OUT" >"$TMP/sum.json" 2>"$TMP/err"
rc=$?
[ $rc -eq 0 ] && ok || bad "nimc reproduce --only calibration --json -o exited $rc: $(grep -v '\[[0-9]*/[0-9]*\]' "$TMP/err")"
[ "$(head -c1 "$TMP/sum.json")" = "{" ] && ok || bad "--json stdout does not start with '{'"
[ "$(tail -n1 "$TMP/sum.json")" = "}" ] && ok || bad "--json stdout does not end with '}'"
for key in '"device"' '"temperature_C"' '"steps"' '"metrics"'; do
  grep -qF "$key" "$TMP/sum.json" && ok || bad "summary lacks $key"
done
check_rows "$TMP/sum.json" calibration $CAL_IDS
grep -q '"role":[[:space:]]*"prediction"' "$TMP/sum.json" && bad "--only calibration has prediction rows" || ok
grep -q 'AG//AG\|80 C' "$TMP/err" && bad "--only calibration simulated a prediction variant" || ok
# the cycling study (minutes) is not run, and a line says how to get it
grep -q '"id":[[:space:]]*"\(retention\|ce\)_6000' "$TMP/sum.json" && bad "--only calibration has the cycling rows" || ok
grep -q ', cycling study ' "$TMP/err" && bad "--only calibration ran the cycling study" || ok
grep -q '^nimc reproduce: not run with --only calibration: retention_6000, ce_6000 .*`nimc reproduce --only cycling` gives them$' "$TMP/err" && ok \
  || bad "--only calibration --json does not say how to get the cycling rows: $(grep -v '\[[0-9]*/' "$TMP/err")"
for f in reproduce_gcd.png reproduce_gcd.svg reproduce_rate.png reproduce_rate.svg \
         reproduce_fields.png reproduce_fields.svg reproduce_eis.png \
         reproduce_eis.svg reproduce.json validation.csv; do
  [ -s "$OUT/$f" ] && ok || bad "$f not written"
done
[ -e "$OUT/reproduce_predictions.png" ] && bad "--only calibration drew the predictions" || ok
for f in reproduce_gcd reproduce_rate reproduce_fields reproduce_eis; do
  [ "$(head -c4 "$OUT/$f.png" 2>/dev/null | tail -c3)" = "PNG" ] && ok || bad "$f.png is not a PNG"
  grep -q '<svg' "$OUT/$f.svg" 2>/dev/null && ok || bad "$f.svg is not an SVG"
done
# reproduce.json is what --json printed
printf '%s\n' "$(cat "$OUT/reproduce.json" 2>/dev/null)" | cmp -s - "$TMP/sum.json" && ok \
  || bad "reproduce.json differs from the --json output"
HEADER=id,quantity,unit,paper,model,rel_error,cycle,cycle_ref,excluded,role
[ "$(head -1 "$OUT/validation.csv")" = "$HEADER" ] && ok \
  || bad "validation.csv header: $(head -1 "$OUT/validation.csv")"
# every GCD value was read after formation, from a cycle >= 3 (the minimum);
# the impedance and self-discharge values from none
# (quoted text fields emptied first: they may hold commas)
sed 's/"[^"]*"//g' "$OUT/validation.csv" | awk -F, '
  NR > 1 && $1 !~ /eis|^sd_/ && $5 != "" && !($7 >= 3) { exit 1 }
  NR > 1 && $1 ~ /eis|^sd_/ && $7 != "" { exit 1 }' && ok \
  || bad "validation.csv: a GCD value not read from a cycle >= 3: $(cat "$OUT/validation.csv")"
sed 's/"[^"]*"//g' "$OUT/validation.csv" | grep -q '^retention_1.5,.*,[0-9][0-9]*,[0-9][0-9]*,[^,]*,calibration$' && ok \
  || bad "validation.csv: the ratio lacks its two cycles"
grep -Eq '"cycle":[[:space:]]*([3-9]|[1-9][0-9])' "$TMP/sum.json" && ok || bad "no row says its cycle"
[ "$(($(wc -l <"$OUT/validation.csv") - 1))" -eq "$(count $CAL_IDS)" ] && ok \
  || bad "validation.csv has $(($(wc -l <"$OUT/validation.csv") - 1)) rows"
for id in $CAL_IDS; do
  grep -q "^$id,.*,calibration\$" "$OUT/validation.csv" && ok || bad "validation.csv lacks $id (role calibration)"
done
ls "$OUT" | grep -q '\.tmp\.' && bad "temporary files left behind" || ok

# ---- the LED demonstration (f) alone, on the shipped device ----
"$NIMC" reproduce --only led >"$TMP/led" 2>"$TMP/err" && ok || bad "reproduce --only led failed: $(cat "$TMP/err")"
grep -Eq '^LED \(1.8 V at 1 mA\) lit after a charge at 0.6 mA/cm2 for 120 s \(or to 3.5 V\) +\| s +\| +- \| +[0-9.]+ \| +- \| +- *$' "$TMP/led" && ok \
  || bad "--only led: the row led_lit_s: $(cat "$TMP/led")"
grep -Eq '^LED demonstration \(f\): .* lit for [0-9.]+ s, until the voltage falls to 1.8 V$' "$TMP/led" && ok \
  || bad "--only led: the demonstration's line: $(cat "$TMP/led")"
[ "$(grep -c '|' "$TMP/led")" -eq 2 ] && ok || bad "--only led printed other rows: $(cat "$TMP/led")"
"$NIMC" reproduce --only led --json -q >"$TMP/led.json" 2>"$TMP/err" && ok || bad "--only led --json failed"
check_rows "$TMP/led.json" prediction led_lit_s
lit=$(awk '/"id":[[:space:]]*"led_lit_s"/ { r = 1 } r && /"model":/ { sub(/.*:[[:space:]]*/, ""); sub(/,$/, ""); print; exit }' "$TMP/led.json")
awk -v x="$lit" 'BEGIN { exit !(x + 0 > 1 && x + 0 < 1e4) }' && ok || bad "led_lit_s = '$lit' s, not a plausible time"
# a devices directory whose nimc.ini has no [led]: exit 2 before anything runs
mkdir -p "$TMP/noled"
cp -r devices/materials "$TMP/noled/"
grep -v '^\[led\]\|^forward_\|^ideality\|^series_resistance' devices/nimc.ini >"$TMP/noled/nimc.ini"
"$NIMC" reproduce --only led --devices "$TMP/noled" >"$TMP/noled.out" 2>"$TMP/err"
rc=$?
[ $rc -eq 2 ] && grep -q "$TMP/noled/nimc.ini: the LED demonstration (f) needs the device's LED, its \[led\] section" "$TMP/err" && ok \
  || bad "no [led]: status $rc, $(cat "$TMP/err")"
grep -q 'LED demonstration (f): done' "$TMP/err" && bad "no [led]: something ran" || ok
# ---- --only cv: the CV of the shipped device at 5, 10 and 20 mV/s, the
# capacitance of a steady cycle (never the first), the I-V figure ----
"$NIMC" reproduce --only cv --json -o "$TMP/cv" >"$TMP/cv.json" 2>"$TMP/err"
rc=$?
[ $rc -eq 0 ] && ok || bad "nimc reproduce --only cv exited $rc: $(cat "$TMP/err")"
check_rows "$TMP/cv.json" prediction cv_sweep_5mV_s cv_sweep_10mV_s cv_sweep_20mV_s
[ "$(grep -c '"id":' "$TMP/cv.json")" = 3 ] && ok || bad "--only cv: not 3 rows"
grep -q 'GCD\|impedance' "$TMP/err" && bad "--only cv ran a GCD or an impedance" || ok
# read from cycle 3 of 3, a value of the order of the GCD's (5 to 40 F/cm3)
sed 's/"[^"]*"//g' "$TMP/cv/validation.csv" | awk -F, '
  NR > 1 { n++; if ($7 != 3 || !($5 > 5 && $5 < 40)) exit 1 } END { exit n != 3 }' && ok \
  || bad "--only cv: rows not read from cycle 3, or out of range: $(cat "$TMP/cv/validation.csv")"
[ "$(head -c4 "$TMP/cv/reproduce_cv_rates.png" 2>/dev/null | tail -c3)" = "PNG" ] \
  && grep -q 'mA cm' "$TMP/cv/reproduce_cv_rates.svg" && [ "$(grep -c '^# panel 0 curve' "$TMP/cv/reproduce_cv_rates.dat")" = 3 ] \
  && ok || bad "--only cv: reproduce_cv_rates not one curve per scan rate"
[ -e "$TMP/cv/reproduce_gcd.png" ] && bad "--only cv drew the GCD profiles" || ok

# ---- --only cycling: the cycling study (h) alone, on the shipped devices
# with the short experiment of $X: the retention and efficiency of the
# Repeat's last cycle at 25 C (calibration) and 80 C (model-only), and the
# figure ----
"$NIMC" reproduce --only cycling --experiments "$X" --json -o "$TMP/cyc" >"$TMP/cyc.json" 2>"$TMP/err"
rc=$?
[ $rc -eq 0 ] && ok || bad "nimc reproduce --only cycling exited $rc: $(cat "$TMP/err")"
check_rows "$TMP/cyc.json" calibration $CYC_CAL_IDS
check_rows "$TMP/cyc.json" prediction $CYC_PRED_IDS
[ "$(grep -c '"id":' "$TMP/cyc.json")" = 4 ] && ok || bad "--only cycling: not 4 rows: $(grep '"id":' "$TMP/cyc.json")"
grep -q 'GCD\|impedance\|LED\|self-discharge' "$TMP/err" && bad "--only cycling ran something else: $(cat "$TMP/err")" || ok
[ "$(grep -c ", cycling study $X/nimc-cycling-6000.txt: cycle 20: " "$TMP/err")" = 2 ] \
  && grep -q 'at 80 C, cycling study' "$TMP/err" && ok \
  || bad "--only cycling: not one run at 25 C and one at 80 C: $(cat "$TMP/err")"
# values in (0, 1.5), read from cycle 20, the last of the Repeat; the
# paper's rows excluded (its 6000 cycles were not run), the 80 C rows not
# compared with anything
sed 's/"[^"]*"//g' "$TMP/cyc/validation.csv" | awk -F, '
  NR > 1 { n++; if ($7 != 20 || !($5 > 0 && $5 < 1.5) || $6 != "") exit 1 } END { exit n != 4 }' && ok \
  || bad "--only cycling: rows not read from cycle 20, or out of (0, 1.5): $(cat "$TMP/cyc/validation.csv")"
for id in $CYC_CAL_IDS; do
  grep -q "^$id,.*,0.[0-9]*,[0-9.e+-]*,,20,,\"read at cycle 20, the last of the Repeat of $X/nimc-cycling-6000.txt, not after the paper's 6000 cycles\",calibration\$" "$TMP/cyc/validation.csv" && ok \
    || bad "--only cycling: $id not excluded as read at cycle 20: $(grep "^$id," "$TMP/cyc/validation.csv")"
done
for id in $CYC_PRED_IDS; do
  grep -q "^$id,.*,1,,[0-9.e+-]*,,20,,,prediction\$" "$TMP/cyc/validation.csv" && ok \
    || bad "--only cycling: the model-only row $id: $(grep "^$id," "$TMP/cyc/validation.csv")"
done
# the figure: PNG and SVG; two panels (retention, efficiency), each with a
# curve per variant through the simulated cycles of the Repeat (from its
# cycle 1 to its cycle 20, the formation cycles not drawn, increasing) and
# the paper's point at cycle 6000
[ "$(head -c4 "$TMP/cyc/reproduce_cycling.png" 2>/dev/null | tail -c3)" = "PNG" ] && ok || bad "reproduce_cycling.png is not a PNG"
grep -q '<svg' "$TMP/cyc/reproduce_cycling.svg" 2>/dev/null && ok || bad "reproduce_cycling.svg is not an SVG"
for p in 0 1; do
  [ "$(grep -c "^# panel $p curve" "$TMP/cyc/reproduce_cycling.dat")" = 3 ] && ok \
    || bad "reproduce_cycling: panel $p has not 3 curves: $(grep '^#' "$TMP/cyc/reproduce_cycling.dat")"
done
awk '/^# panel 0 curve [01]:/ { c = 1; first = ""; last = 0; next }
     /^# panel 0 curve 2:/ { c = 0; paper = 1; next }
     /^#/ { c = 0; next }
     NF == 0 { if (c && n) { if (first != 1 || last != 20) exit 1; curves++ } n = 0; next }
     c { if (first == "") first = $1; if ($1 <= last || $1 != int($1) || !($2 > 0 && $2 <= 150)) exit 1; last = $1; n++ }
     paper && NF == 2 { if ($1 != 6000 || $2 != 75) exit 1; paper = 0; seen = 1 }
     END { if (c && n) { if (first != 1 || last != 20) exit 1; curves++ } exit !(curves == 2 && seen) }' \
  "$TMP/cyc/reproduce_cycling.dat" && ok \
  || bad "reproduce_cycling: the retention curves are not the Repeat's cycles 1 to 20 in %, or the paper's 75 % at 6000 is missing: $(cat "$TMP/cyc/reproduce_cycling.dat")"
for f in reproduce_gcd.png reproduce_predictions.png reproduce_cv_rates.png; do
  [ -e "$TMP/cyc/$f" ] && bad "--only cycling drew $f" || ok
done
# a devices directory whose cycles have nothing to measure (every step ends
# at once): no retention, no efficiency; the paper's rows fail the command
# with the reason, the model-only ones are warnings
mkdir -p "$TMP/nocap"
cp -r devices/materials "$TMP/nocap/"
sed 's/^contact_resistance = .*/contact_resistance = 1e9 ohm/' devices/nimc-stack.ini >"$TMP/nocap/nimc.ini"
grep -q '^contact_resistance = 1e9 ohm' "$TMP/nocap/nimc.ini" && ok || bad "could not make the device without capacitance"
"$NIMC" reproduce --only cycling --devices "$TMP/nocap" --experiments "$X" -q -o "$TMP/nocap.out" >"$TMP/table" 2>"$TMP/err"
rc=$?
[ $rc -eq 1 ] && ok || bad "--only cycling without a capacitance: exit status $rc, expected 1: $(cat "$TMP/err")"
grep -q '^nimc reproduce: calibration retention_6000 (.*) has no model value: the last cycle has no capacitance to read' "$TMP/err" && ok \
  || bad "retention_6000 without a value does not say why: $(cat "$TMP/err")"
grep -q '^nimc reproduce: warning: prediction retention_6000_80C (.*) has no model value' "$TMP/err" && ok \
  || bad "retention_6000_80C without a value is not a warning: $(cat "$TMP/err")"
grep -E '^capacitance retention after 6000 cycles at 0.8 mA/cm2 \(last / first cycle\) +\|' "$TMP/table" | grep -Eq '\| +failed \| +failed \| +- *$' && ok \
  || bad "the failed retention row: $(cat "$TMP/table")"
grep -q '^retention_6000,.*,0.75,,,,,,calibration$' "$TMP/nocap.out/validation.csv" && ok \
  || bad "the failed retention row in validation.csv: $(cat "$TMP/nocap.out/validation.csv")"

# ---- the predictions, and failures reported while the rest goes on ----
# Fast: the stack device on a coarse mesh under all three names (the whole
# command in seconds).  The "covered" device has a contact resistance that
# ends every step at once, so none of its GCDs has a discharge to measure:
# cv_0.2_covered (a value the paper gives) fails the command, its
# model-only predictions are warnings.
D=$TMP/dev
mkdir -p "$D"
cp -r devices/materials "$D/"
sed -e 's/^anode_cells = .*/anode_cells = 5/' -e 's/^separator_cells = .*/separator_cells = 3/' \
    -e 's/^cathode_cells = .*/cathode_cells = 5/' -e 's/^particle_shells = .*/particle_shells = 3/' \
    -e 's/^max_current = .*/max_current = 1 A\/cm2/' \
    -e 's/^contact_resistance = .*/&\nshunt_resistance = 10 Mohm/' \
    devices/nimc-stack.ini >"$TMP/stack.ini"
grep -q '^anode_cells = 5' "$TMP/stack.ini" && grep -q '^max_current = 1 A/cm2' "$TMP/stack.ini" && ok \
  || bad "could not coarsen the stack device (and lift its current limit: the stack's low resistance draws more than 10 mA/cm2 from an LED or a sweep's start)"
# a shunt, so that the self-discharge rows have a value (the commercial
# devices are the stack too: their experiments run, not their numbers)
grep -q '^shunt_resistance = 10 Mohm' "$TMP/stack.ini" && ok || bad "could not add the shunt"
# the LED of the demonstration (f), as in devices/nimc.ini
printf '\n[led]\nforward_voltage = 1.8 V\nforward_current = 1 mA\nseries_resistance = 20 ohm\n' >>"$TMP/stack.ini"
failing() { sed 's/^contact_resistance = .*/contact_resistance = 1e9 ohm/' "$TMP/stack.ini"; }
cp "$TMP/stack.ini" "$D/nimc.ini"
cp "$TMP/stack.ini" "$D/ag-ag-msc.ini"
cp "$TMP/stack.ini" "$D/commercial-3v5-25mF.ini"
cp "$TMP/stack.ini" "$D/commercial-2v75-44mF.ini"
failing >"$D/nimc-covered.ini"
grep -q '^contact_resistance = 1e9 ohm' "$D/nimc-covered.ini" && ok || bad "could not make the failing device"
"$NIMC" reproduce --devices "$D" --experiments "$X" -o "$TMP/o2" >"$TMP/table" 2>"$TMP/err"
rc=$?
[ $rc -eq 1 ] && ok || bad "a failing experiment: exit status $rc, expected 1"
grep -q 'cv_0.2_covered' "$TMP/err" && ok || bad "the failure does not name the value it affects: $(cat "$TMP/err")"
grep -q 'capacitance against current density' "$TMP/err" && ok || bad "the failure does not name the experiment"
grep -q 'warning: prediction cv_1_covered .*has no model value' "$TMP/err" && ok \
  || bad "a model-only prediction without a value is not a warning: $(grep cv_1_covered "$TMP/err")"
check_tables "$TMP/table"
# the uncovered rows say from which cycle (>= 3) they were read
grep -E '^volumetric capacitance at 0.1 mA/cm2 +\|' "$TMP/table" | grep -Eq '\| +([3-9]|[1-9][0-9]+)$' && ok \
  || bad "the table does not say the cycle: $(cat "$TMP/table")"
grep -E '^volumetric capacitance at 0.2 mA/cm2, covered +\|' "$TMP/table" | grep -q 'failed' && ok \
  || bad "the covered row does not say failed: $(cat "$TMP/table")"
grep -E '^volumetric capacitance at 0.1 mA/cm2 +\|' "$TMP/table" | grep -q failed && \
  bad "the uncovered rows failed too" || ok
# a model-only prediction: paper and rel. error "-", the model's value
grep -E '^volumetric capacitance at 0.1 mA/cm2, 80 C +\| F/cm3 +\| +- \| +[0-9.e+-]+ \| +- \| +[0-9]+$' "$TMP/table" >/dev/null && ok \
  || bad "a model-only row: $(grep '80 C' "$TMP/table")"
grep -E '^volumetric capacitance at 0.1 mA/cm2, 1:4 \(anode 5, cathode 20 um\) +\|.*\| +[0-9]+$' "$TMP/table" >/dev/null && ok \
  || bad "a ratio-series row: $(grep '1:4' "$TMP/table")"
grep -q '"model":[[:space:]]*null' "$TMP/o2/reproduce.json" && ok || bad "failed model value is not null"
check_rows "$TMP/o2/reproduce.json" calibration $CAL_IDS $CYC_CAL_IDS
check_rows "$TMP/o2/reproduce.json" prediction $PRED_IDS $CYC_PRED_IDS
grep -q '^cv_0.2_covered,.*,13.7,,,,,,calibration$' "$TMP/o2/validation.csv" && ok || bad "failed row in validation.csv: $(cat "$TMP/o2/validation.csv")"
grep -q '^cv_1_covered,.*,F/cm3,,,,,,,prediction$' "$TMP/o2/validation.csv" && ok || bad "failed prediction in validation.csv: $(grep cv_1_covered "$TMP/o2/validation.csv")"
grep -q '^cv_2_80C,.*,F/cm3,,[0-9][-0-9.e+]*,,[0-9]*,,[^,]*,prediction$' "$TMP/o2/validation.csv" && ok || bad "model-only row in validation.csv: $(grep cv_2_80C "$TMP/o2/validation.csv")"
# the self-discharge rows: the rest's time in hours, beside the paper's
for r in 'sd_nimc|44' 'sd_commercial_3.5V|8' 'sd_commercial_2.75V|21'; do
  grep -Eq "^${r%|*},\"[^\"]*\",h,${r#*|},[0-9][-0-9.e+]*,[-0-9.e+]+,,,,calibration$" "$TMP/o2/validation.csv" && ok \
    || bad "self-discharge row ${r%|*} in validation.csv: $(grep "^${r%|*}," "$TMP/o2/validation.csv")"
done
grep -q 'self-discharge from 3.5 V to 2.1 V: done' "$TMP/err" && ok || bad "the NIMC's self-discharge was not run: $(grep self-discharge "$TMP/err")"
[ "$(($(wc -l <"$TMP/o2/validation.csv") - 1))" -eq "$(count $CAL_IDS $PRED_IDS $CYC_CAL_IDS $CYC_PRED_IDS)" ] && ok \
  || bad "validation.csv has $(($(wc -l <"$TMP/o2/validation.csv") - 1)) rows"
# the 1:2 points of both series are the uncovered device at 0.1 mA/cm2
v1=$(grep '^cv_0.1,' "$TMP/o2/validation.csv" | cut -d, -f5)
v2=$(grep '^cv_0.1_1:2_anode_fixed,' "$TMP/o2/validation.csv" | sed 's/"[^"]*"//' | cut -d, -f5)
[ -n "$v1" ] && [ "$v1" = "$v2" ] && ok || bad "the 1:2 point ($v2) is not the uncovered device's ($v1)"
# each variant at each current was simulated once
grep -c 'GCD at 0.1 mA/cm2 until steady:' "$TMP/err" | grep -qx 10 && ok \
  || bad "GCDs at 0.1 mA/cm2: $(grep 'GCD at 0.1 mA/cm2 until steady:' "$TMP/err")"
for f in reproduce_gcd.png reproduce_rate.png reproduce_fields.png reproduce_predictions.png reproduce_predictions.svg \
         reproduce_cycling.png reproduce_cycling.svg; do
  [ -s "$TMP/o2/$f" ] && ok || bad "$f not written after a failure"
done
# the full command runs the cycling study (h) of --experiments, on the
# uncovered device and at 80 C, after everything else
[ "$(grep -c ", cycling study $X/nimc-cycling-6000.txt: cycle 20: " "$TMP/err")" = 2 ] && ok \
  || bad "the full command did not run the cycling study on two variants: $(grep 'cycling' "$TMP/err")"
# (the longest, so last; the LED demonstration, after the tables' rows)
[ "$(grep '\[[0-9]*/[0-9]*\]' "$TMP/err" | grep -v 'LED demonstration' | tail -n 2 | grep -c ', cycling study ')" = 2 ] && ok \
  || bad "the cycling study did not run last: $(grep '\[[0-9]*/[0-9]*\]' "$TMP/err")"
# a prediction without a value alone fails nothing: covered works here,
# AG//AG has nothing to measure
cp "$TMP/stack.ini" "$D/nimc-covered.ini"
failing >"$D/ag-ag-msc.ini"
"$NIMC" reproduce --devices "$D" --experiments "$X" -q >"$TMP/table" 2>"$TMP/err"
rc=$?
[ $rc -eq 0 ] && ok || bad "model-only predictions without values: exit status $rc, expected 0: $(cat "$TMP/err")"
grep -E '^volumetric capacitance at 1 mA/cm2, AG//AG +\|' "$TMP/table" | grep -q failed && ok \
  || bad "the AG//AG row does not say failed: $(grep AG "$TMP/table")"
# -q: no progress, the failures still said
failing >"$D/nimc-covered.ini"
"$NIMC" reproduce --devices "$D" --only calibration -q --json >"$TMP/q.json" 2>"$TMP/err"
grep -q '\[1/' "$TMP/err" && bad "-q printed progress" || ok
grep -q 'cv_0.2_covered' "$TMP/err" && ok || bad "-q hid the failure"
[ "$(head -c1 "$TMP/q.json")" = "{" ] && ok || bad "--json stdout with a failure is not JSON"
# --only calibration: the prediction variants are not even loaded
rm "$D/ag-ag-msc.ini"
# nor is the cycling experiment read (it does not exist here)
"$NIMC" reproduce --devices "$D" --experiments "$TMP/noexp" --only calibration -q >"$TMP/table" 2>"$TMP/err"
[ $? -eq 1 ] && ok || bad "--only calibration without ag-ag-msc.ini and the cycling experiment: not the covered failure: $(cat "$TMP/err")"
check_tables "$TMP/table" 1
grep -q '^not run with --only calibration: retention_6000, ce_6000 (the cycling study (h), minutes): `nimc reproduce --only cycling` gives them$' "$TMP/table" && ok \
  || bad "--only calibration does not say how to get the cycling rows: $(cat "$TMP/table")"

# ---- usage ----
"$NIMC" reproduce --help >"$TMP/help" 2>&1 && grep -q -- '--devices' "$TMP/help" && ok || bad "reproduce --help"
grep -q -- '--only calibration' "$TMP/help" && ok || bad "reproduce --help lacks --only"
grep -q -- '--only cycling' "$TMP/help" && grep -q -- '--experiments DIR' "$TMP/help" && ok \
  || bad "reproduce --help lacks --only cycling or --experiments"
"$NIMC" help reproduce >"$TMP/help" 2>&1 && grep -q -- 'validation' "$TMP/help" && ok || bad "help reproduce"
"$NIMC" --help | grep -q reproduce && ok || bad "nimc --help does not list reproduce"
expect2() {
  local needle=$1; shift
  "$NIMC" "$@" >"$TMP/stdout" 2>"$TMP/err"
  local rc=$?
  [ $rc -eq 2 ] && ok || bad "nimc $* -> status $rc, expected 2"
  [ -s "$TMP/stdout" ] && bad "nimc $* wrote to stdout on error" || ok
  grep -qF -- "$needle" "$TMP/err" && ok || bad "nimc $*: message lacks '$needle': $(cat "$TMP/err")"
}
expect2 "unknown option '--bogus'" reproduce --bogus
expect2 "unexpected argument 'extra'" reproduce extra
expect2 "option '-o' needs a directory" reproduce -o
expect2 "option '--only' needs a part: calibration, led, cv or cycling" reproduce --only
expect2 "--only 'predictions'" reproduce --only predictions
expect2 "'calibration', 'led', 'cv' and 'cycling'" reproduce --only CV
expect2 "--only 'cycling': one part only" reproduce --only calibration --only cycling
expect2 "option '--experiments' needs a directory" reproduce --experiments
# the cycling experiment: missing, or a line that does not parse, is bad
# input, answered before anything runs (the message names the file)
expect2 "$TMP/noexp/nimc-cycling-6000.txt" reproduce --only cycling --experiments "$TMP/noexp"
mkdir -p "$TMP/badexp"
printf 'Repeat 2 times: Charge at 0.8 mA/cm2 until 3.5 V; Discharge at 0.8 mA/cm2 until 0 V\nRepeat 20 times: Charge at 0.8 mA/cm2 untill 3.5 V\n' \
  >"$TMP/badexp/nimc-cycling-6000.txt"
expect2 "$TMP/badexp/nimc-cycling-6000.txt:2" reproduce --only cycling --experiments "$TMP/badexp"
grep -q 'cycling study /' "$TMP/err" && bad "a bad cycling experiment: something ran" || ok
expect2 "--only 'calibration': one part only" reproduce --only cv --only calibration
expect2 "$TMP/nowhere/nimc.ini" reproduce --devices "$TMP/nowhere"
# the full command needs the AG//AG device file
expect2 "$D/ag-ag-msc.ini" reproduce --devices "$D"
: >"$TMP/file"
expect2 "not a directory" reproduce --devices "$D" --only calibration -o "$TMP/file"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
