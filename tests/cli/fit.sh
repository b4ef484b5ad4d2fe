#!/bin/bash
# Command-line specification of `nimc fit`: a parameter recovered from a
# small simulated data file (made here by `nimc run -o`), the summary JSON,
# the output directory (fitted.ini reloads with the fitted value, from any
# directory), and bad input answered with exit status 2 and a message that
# names the key, the file and the line; a simulation that fails at the
# start, exit status 1.
# usage: fit.sh PATH/TO/nimc   (run from the repository root)
set -u
NIMC=${1:?usage: fit.sh NIMC}
case $NIMC in /*) ;; *) NIMC=$PWD/$NIMC ;; esac
DEV=devices/nimc-stack.ini
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
. "$(dirname "$0")/lib.bash"

# ---- the data: the stack with the micropores' time constant at 370 s ----
"$NIMC" run $DEV -e 'Discharge at 1 mA/cm2 until 0 V' -e 'Charge at 1 mA/cm2 until 3.5 V' \
  -e 'Rest for 10 s' -e 'Discharge at 1 mA/cm2 until 0 V' \
  --set cathode.micropore_time_constant=370s --output-interval 2s -o "$TMP/data" -q --json \
  >/dev/null 2>"$TMP/err" && ok || bad "nimc run for the data failed: $(cat "$TMP/err")"
DATA=$TMP/data/timeseries.csv
P=cathode.micropore_time_constant

# ---- success: the time constant comes back, JSON on stdout only ----
if "$NIMC" fit $DEV "$DATA" --params "$P=10s:5000s" --json -o "$TMP/res" \
     >"$TMP/fit.json" 2>"$TMP/err"; then
  ok
  [ "$(head -c1 "$TMP/fit.json")" = "{" ] && ok || bad "--json stdout is not only JSON"
  for key in '"device"' '"data"' '"method"' '"experiment"' '"parameters"' \
             '"standard_errors"' '"relative_errors"' '"start"' '"units"' '"bounds"' \
             '"correlation"' '"chi2"' '"chi2_start"' '"rms_V"' '"rms_start_V"' \
             '"simulations"' '"iterations"' '"converged": true' '"reason"'; do
    grep -qF "$key" "$TMP/fit.json" && ok || bad "summary lacks $key"
  done
  # the protocol read off the data is the one that made it
  grep -qF '"Discharge at 0.00056 A until 0 V", "Charge at 0.00056 A until 3.5 V", "Rest for 10 s", "Discharge at 0.00056 A until 0 V"' \
    "$TMP/fit.json" && ok || bad "experiment read off the data: $(grep experiment "$TMP/fit.json")"
  v=$(sed -n 's/.*"parameters": {"[^"]*": \([-0-9.eE+]*\)}.*/\1/p' "$TMP/fit.json")
  awk -v v="$v" 'BEGIN { exit !(v > 366.3 && v < 373.7) }' && ok || bad "fitted $P '$v' not 370 s within 1 %"
  # progress on stderr, one line per iteration
  grep -q '^nimc fit: iteration *1 *chi2' "$TMP/err" && ok || bad "no progress on stderr: $(cat "$TMP/err")"
  for f in fitted.ini report.json fit.csv fit.png fit.svg; do
    [ -s "$TMP/res/$f" ] && ok || bad "-o did not write $f"
  done
  head -1 "$TMP/res/fit.csv" | grep -qx 'time_s,voltage_measured_V,voltage_model_V,residual_V' \
    && ok || bad "fit.csv header: $(head -1 "$TMP/res/fit.csv")"
  cmp -s "$TMP/fit.json" "$TMP/res/report.json" && ok || bad "report.json differs from --json"
  # the manifest, written last, lists the set with its sizes
  for f in fitted.ini fitted.set report.json fit.csv fit.png; do
    grep -q "^$f [0-9][0-9]*$" "$TMP/res/manifest.txt" && ok || bad "manifest.txt lacks $f: $(cat "$TMP/res/manifest.txt")"
  done
  # fitted.ini: the fitted value written in, marked, and read back
  grep -q "^micropore_time_constant = 3[67][0-9.]* s ; fitted by nimc fit" "$TMP/res/fitted.ini" \
    && ok || bad "fitted.ini lacks the fitted key: $(grep micropore "$TMP/res/fitted.ini")"
  grep -q "^; fitted by nimc fit on $DATA" "$TMP/res/fitted.ini" && ok || bad "fitted.ini lacks its comment"
  # reloads, from another directory too, with the fitted value
  (cd "$TMP" && "$NIMC" fit res/fitted.ini "$DATA" --params "$P=10s:5000s" --max-iter 1 \
     --json -q >"$TMP/refit.json" 2>"$TMP/err2") ; rc=$?
  [ $rc -le 1 ] && ok || bad "fitted.ini does not load: $(cat "$TMP/err2")"
  s=$(sed -n 's/.*"start": {"[^"]*": \([-0-9.eE+]*\)}.*/\1/p' "$TMP/refit.json")
  awk -v a="$s" -v b="$v" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 1e-6 * b) }' \
    && ok || bad "fitted.ini reads back $P = '$s', fitted '$v'"
else
  bad "nimc fit failed: $(cat "$TMP/err")"
fi

# ---- --evaluate: the model at the start values, one simulation, nothing fitted ----
if "$NIMC" fit $DEV "$DATA" --params "$P=10s:5000s" --evaluate --json >"$TMP/ev.json" 2>"$TMP/err"; then
  ok
  grep -qF '"simulations": 1,' "$TMP/ev.json" && ok || bad "--evaluate ran more than one simulation: $(grep -o '"simulations": [0-9]*' "$TMP/ev.json")"
  grep -qF '"reason": "evaluated at the start values (no fit)"' "$TMP/ev.json" && ok || bad "--evaluate reason"
  s=$(sed -n 's/.*"start": {"[^"]*": \([-0-9.eE+]*\)}.*/\1/p' "$TMP/ev.json")
  v=$(sed -n 's/.*"parameters": {"[^"]*": \([-0-9.eE+]*\)}.*/\1/p' "$TMP/ev.json")
  [ "$s" = "$v" ] && ok || bad "--evaluate moved the parameter: $s -> $v"
else
  bad "nimc fit --evaluate failed: $(cat "$TMP/err")"
fi

# ---- the human report: protocol, table, correlation ----
"$NIMC" fit $DEV "$DATA" --params "$P=10s:5000s" -q >"$TMP/report.txt" 2>"$TMP/err" \
  && ok || bad "nimc fit (report) failed: $(cat "$TMP/err")"
grep -qF "  -e 'Rest for 10 s'" "$TMP/report.txt" && ok || bad "report lacks the protocol"
grep -q "^  $P  *3[67][0-9.]*  *[0-9.e-]*  *[0-9.]*%  s " "$TMP/report.txt" && ok || bad "report lacks the table row: $(cat "$TMP/report.txt")"
grep -q '^correlation:' "$TMP/report.txt" && ok || bad "report lacks the correlation"

# ---- bad input: exit status 2, the key, file or line named ----
expect_error 2 "$P"x "no such numeric key" -- fit $DEV "$DATA" --params "${P}x"
expect_error 2 "$P" "need 0 < lo < hi" -- fit $DEV "$DATA" --params "$P=5000s:10s"
expect_error 2 "$P" "outside its bounds" -- fit $DEV "$DATA" --params "$P=400s:5000s"
expect_error 2 "$P" "cannot be converted" -- fit $DEV "$DATA" --params "$P=1um:2um"
expect_error 2 "cathode.micropore_capacitance_fraction" "upper bound 2" "not accepted" -- \
  fit $DEV "$DATA" --params cathode.micropore_capacitance_fraction=0.1:2
expect_error 2 "expected KEY=LO:HI" -- fit $DEV "$DATA" --params "$P=10s"
sed '1s/time_s/foo/' "$DATA" >"$TMP/notime.csv"
expect_error 2 "$TMP/notime.csv:1:" "no time column" -- fit $DEV "$TMP/notime.csv" --params "$P"
sed '3s/^[^,]*,/x,/' "$DATA" >"$TMP/badnum.csv"
expect_error 2 "$TMP/badnum.csv:3:" "not a number" -- fit $DEV "$TMP/badnum.csv" --params "$P"
expect_error 2 "$TMP/none.csv" "cannot open" -- fit $DEV "$TMP/none.csv" --params "$P"
expect_error 2 "the experiment has no steps" -- fit $DEV "$DATA" --params "$P" -e ''
expect_error 2 "Charge at" -- fit $DEV "$DATA" --params "$P" -e 'Charge at 1 mA/cm2'
expect_error 2 "missing DATA" -- fit $DEV --params "$P"
expect_error 2 "no parameters" -- fit $DEV "$DATA"
expect_error 2 "from-data" -- fit $DEV "$DATA" --params "$P" --experiment guess
expect_error 2 "--set anode.thicknes" -- fit $DEV "$DATA" --params "$P" --set anode.thicknes=5um
# a simulation that fails at the start values: exit 1, and why
expect_error 1 "fails" "Charge at 1 A for 10 s" -- fit $DEV "$DATA" --params "$P" -e 'Charge at 1 A for 10 s'

# ---- a spectrum: fitted by its impedance (nimc eis -o writes one) ----
"$NIMC" eis $DEV --set cathode.micropore_time_constant=370s --from 10kHz --to 10mHz \
  --per-decade 4 --no-fit -o "$TMP/eis" -q >/dev/null 2>"$TMP/err" && ok || bad "nimc eis for the data failed: $(cat "$TMP/err")"
if "$NIMC" fit $DEV "$TMP/eis/spectrum.csv" --params "$P=10s:5000s" --json -o "$TMP/eisfit" \
     >"$TMP/eisfit.json" 2>"$TMP/err"; then
  ok
  grep -qF '"kind": "eis"' "$TMP/eisfit.json" && ok || bad "spectrum not fitted as eis"
  v=$(sed -n 's/.*"parameters": {"[^"]*": \([-0-9.eE+]*\)}.*/\1/p' "$TMP/eisfit.json")
  awk -v v="$v" 'BEGIN { exit !(v > 366.3 && v < 373.7) }' && ok || bad "EIS: fitted $P '$v' not 370 s within 1 %"
  head -1 "$TMP/eisfit/fit.csv" | grep -qx 'freq_Hz,z_re_measured_ohm,z_im_measured_ohm,z_re_model_ohm,z_im_model_ohm' \
    && ok || bad "EIS fit.csv header: $(head -1 "$TMP/eisfit/fit.csv")"
  [ -s "$TMP/eisfit/fit.png" ] && ok || bad "EIS: no Nyquist figure"
else
  bad "nimc fit of a spectrum failed: $(cat "$TMP/err")"
fi

# ---- a CV: fitted by its current, its sweeps read off the data ----
# (the first sweep jumps from the neutral 2.6 V to 0 V and draws 0.4 A/cm2
# for an instant, beyond the stack's max_current of 10 mA/cm2: lifted)
LIFT=device.max_current=1A/cm2
"$NIMC" run $DEV -e 'Sweep from 0 V to 3.5 V at 20 mV/s' -e 'Sweep from 3.5 V to 0 V at 20 mV/s' \
  --set $LIFT --set cathode.micropore_capacitance_fraction=0.5 --output-interval 2s -o "$TMP/cv" -q --json \
  >/dev/null 2>"$TMP/err" && ok || bad "nimc run for the CV failed: $(cat "$TMP/err")"
Q=cathode.micropore_capacitance_fraction
if "$NIMC" fit $DEV "$TMP/cv/timeseries.csv" --kind cv --params "$Q=0.05:0.95" --set $LIFT --json \
     >"$TMP/cvfit.json" 2>"$TMP/err"; then
  ok
  grep -qF '"Sweep from 0 V to 3.5 V at 20 mV/s", "Sweep from 3.5 V to 0 V at 20 mV/s"' "$TMP/cvfit.json" \
    && ok || bad "CV experiment read off the data: $(grep experiment "$TMP/cvfit.json" | head -1)"
  v=$(sed -n 's/.*"parameters": {"[^"]*": \([-0-9.eE+]*\)}.*/\1/p' "$TMP/cvfit.json")
  awk -v v="$v" 'BEGIN { exit !(v > 0.495 && v < 0.505) }' && ok || bad "CV: fitted $Q '$v' not 0.5 within 1 %"
else
  bad "nimc fit of a CV failed: $(cat "$TMP/err")"
fi

# ---- a fit file: the GCD and a target on one device, fitted together ----
mkdir -p "$TMP/spec"
cp "$DATA" "$TMP/spec/gcd.csv"
cat >"$TMP/spec/both.fit" <<EOF2
[fit]
params = $P=10s:5000s
[data gcd]
device = $PWD/$DEV
file = gcd.csv
sigma = 2 mV
[target R]
device = $PWD/$DEV
metric = r_ohmic_ohm
value = 4.65
sigma = 5 %
EOF2
if "$NIMC" fit --spec "$TMP/spec/both.fit" --json -o "$TMP/specout" >"$TMP/spec.json" 2>"$TMP/err"; then
  ok
  v=$(sed -n 's/.*"parameters": {"[^"]*": \([-0-9.eE+]*\)}.*/\1/p' "$TMP/spec.json")
  awk -v v="$v" 'BEGIN { exit !(v > 366.3 && v < 373.7) }' && ok || bad "spec: fitted $P '$v' not 370 s within 1 %"
  grep -qF '"name": "R", "kind": "target"' "$TMP/spec.json" && ok || bad "spec: no target R in the JSON"
  grep -qF '"standard_errors_stated"' "$TMP/spec.json" && ok || bad "spec: no stated standard errors"
  for f in fitted.ini fitted.set report.json fit-1.csv fit-1.png targets.csv; do
    [ -s "$TMP/specout/$f" ] && ok || bad "--spec -o did not write $f"
  done
  grep -q "^$P=3[67][0-9.]* s$" "$TMP/specout/fitted.set" && ok || bad "fitted.set: $(cat "$TMP/specout/fitted.set")"
  grep -q '^R,.*,r_ohmic_ohm,4.65,' "$TMP/specout/targets.csv" && ok || bad "targets.csv: $(cat "$TMP/specout/targets.csv")"
else
  bad "nimc fit --spec failed: $(cat "$TMP/err")"
fi

# ---- the calibration's targets are the paper's calibration rows ----
awk '/^\[target /{id=substr($2, 1, length($2)-1)} /^value *=/{print id, $3}' \
  devices/calibration.fit | sort >"$TMP/spec-values"
awk -F'"' '/^    \{"/{id=$2; row=$0; getline nxt; row=row nxt;
             if (row ~ /CALIBRATION/ && (row ~ /Q_VOLUMETRIC/ || row ~ /Q_R_OHMIC/ || row ~ /Q_R_CT/)) {
               split(row, f, ","); for (i = 1; i <= length(f); i++) if (f[i] ~ /^ *[0-9.]+ *$/) { v = f[i]; break }
               gsub(/ /, "", v); print id, v } }' app/paper.h | sort >"$TMP/paper-values"
[ -s "$TMP/spec-values" ] && cmp -s "$TMP/spec-values" "$TMP/paper-values" && ok \
  || bad "devices/calibration.fit targets differ from app/paper.h: $(diff "$TMP/spec-values" "$TMP/paper-values")"

# ---- the self-discharge fit's target is the paper's sd_nimc row ----
sdv=$(awk '/^value *=/{print $3}' devices/self-discharge.fit)
pv=$(grep -A1 '{"sd_nimc"' app/paper.h | tr -d '\n' | sed 's/.*"h", *\([0-9.]*\),.*/\1/')
[ -n "$sdv" ] && [ "$sdv" = "$pv" ] && ok || bad "devices/self-discharge.fit's value ($sdv) is not app/paper.h's sd_nimc ($pv)"
grep -q '^params = device.shunt_resistance=' devices/self-discharge.fit && ok || bad "self-discharge.fit does not fit the shunt"

# ---- fit files: every fault named by file, line, section and key ----
spec() { printf '%s\n' "$@" >"$TMP/bad.fit"; }
spec '[fit]' 'params = separator.thickness'
expect_error 2 "$TMP/bad.fit" "no [data NAME] or [target NAME]" -- fit --spec "$TMP/bad.fit"
spec '[target x]' "device = $PWD/$DEV" 'metric = r_ohmic_ohm' 'value = 1'
expect_error 2 "$TMP/bad.fit" "no [fit] section" -- fit --spec "$TMP/bad.fit"
spec '[fit]' 'params = separator.thickness' '[target x]' "device = $PWD/$DEV" 'metric = r_ohmic' 'value = 1'
expect_error 2 "$TMP/bad.fit:5: [target x] metric: 'r_ohmic': unknown" -- fit --spec "$TMP/bad.fit"
spec '[fit]' 'params = separator.thickness' '[target x]' "device = $PWD/$DEV" 'metric = r_ohmic_ohm' 'value = 0'
expect_error 2 "$TMP/bad.fit:6: [target x] value: '0'" -- fit --spec "$TMP/bad.fit"
spec '[fit]' 'params = separator.thickness' '[target x]' "device = $PWD/$DEV" 'metric = energy_J' 'value = 1'
expect_error 2 "$TMP/bad.fit:3: [target x]" "needs the experiment" -- fit --spec "$TMP/bad.fit"
spec '[fit]' 'params = separator.thickness' '[target x]' "device = $PWD/$DEV" 'metric = r_ohmic_ohm' 'value = 1' 'file = a.csv'
expect_error 2 "$TMP/bad.fit:7: [target x] file: unknown key here" -- fit --spec "$TMP/bad.fit"
spec '[fit]' 'params = separator.thickness' '[target x]' "device = $PWD/$DEV" 'metric = r_ohmic_ohm' 'metric = r_ct_ohm'
expect_error 2 "$TMP/bad.fit:6: [target x] metric: duplicate key" -- fit --spec "$TMP/bad.fit"
spec '[fit]' 'params = separator.thickness' '[target x]' "device = $PWD/$DEV" 'metric = r_ohmic_ohm' 'value = 1' 'sigma = -5 %'
expect_error 2 "$TMP/bad.fit:7: [target x] sigma: '-5 %'" -- fit --spec "$TMP/bad.fit"
spec '[fit]' 'params = separator.thickness' '[curve x]'
expect_error 2 "$TMP/bad.fit:3: [curve x]" "unknown section" -- fit --spec "$TMP/bad.fit"
spec '[fit]' 'params = separator.thickness' 'method = newton' '[target x]' "device = $PWD/$DEV" 'metric = r_ohmic_ohm' 'value = 1'
expect_error 2 "$TMP/bad.fit:3: [fit] method: 'newton'" -- fit --spec "$TMP/bad.fit"
spec '[fit]' 'params = separator.thickness' '[data d]' "device = $PWD/$DEV" "file = $DATA" 'sigma = 2 mA'
expect_error 2 "$TMP/bad.fit:6: [data d] sigma: '2 mA': expected a positive voltage" -- fit --spec "$TMP/bad.fit"
spec '[fit]' 'params = separator.thickness' '[data d]' "device = $PWD/$DEV" 'file = none.csv'
expect_error 2 "$TMP/none.csv" "cannot open" "$TMP/bad.fit:3: [data d]" -- fit --spec "$TMP/bad.fit"
spec '[fit]' 'params = separator.thickness' '[data d]' "device = $PWD/$DEV" "file = $DATA" 'kind = xrd'
expect_error 2 "$TMP/bad.fit:6: [data d] kind: 'xrd'" -- fit --spec "$TMP/bad.fit"
expect_error 2 "cannot open" -- fit --spec "$TMP/nothere.fit"
expect_error 2 "/dev/zero: not a regular file" -- fit --spec /dev/zero
printf '[fit]\nparams = a\000b\n' >"$TMP/nul.fit"
expect_error 2 "$TMP/nul.fit:2: a NUL byte" -- fit --spec "$TMP/nul.fit"
# -o is checked before the fit: nothing is fitted into a folder that cannot be written
: >"$TMP/afile"
expect_error 2 "-o: cannot use output directory" "$TMP/afile" -- fit $DEV "$DATA" --params "$P" -o "$TMP/afile/sub"
expect_error 2 "-o: cannot use output directory" -- fit $DEV "$DATA" --params "$P" -o ""
expect_error 2 "--spec FILE holds" -- fit --spec "$TMP/bad.fit" $DEV
expect_error 2 "--kind 'xrd'" -- fit $DEV "$DATA" --params "$P" --kind xrd

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
