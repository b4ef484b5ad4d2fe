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

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
