#!/bin/bash
# Command-line specification of `nimc eis` and `nimc fit-eis`: the summary
# JSON of a simulated and of a measured spectrum, the output directory, and
# bad input (circuit strings, starting values, data files, options)
# answered with exit status 2 and a message that locates the problem.
# usage: eis.sh PATH/TO/nimc   (run from the repository root)
set -u
NIMC=${1:?usage: eis.sh NIMC}
DATA=../shared/data/real/impedance.py/exampleData.csv
BAD=tests/data/eis
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
. "$(dirname "$0")/lib.bash"

# json_num FILE KEY: the first number under "KEY" in FILE
json_num() {
  sed -n "s/.*\"$2\":[[:space:]]*\([-0-9.eE+]*\).*/\1/p" "$1" | head -1
}

# the entries of the array "KEY" (a numeric array is printed on one line)
json_count() {
  grep -F "\"$2\":" "$1" | head -1 | sed 's/.*\[\(.*\)\].*/\1/' |
    tr -cd ',' | wc -c | awk '{ print $1 + 1 }'
}

# ---- nimc eis: the 2D NIMC and NIMC-C, summary JSON ----
for dev in nimc nimc-covered; do
  if "$NIMC" eis devices/$dev.ini --json >"$TMP/$dev.json" 2>"$TMP/err"; then
    ok
    for key in '"device"' '"spectrum"' '"frequency_Hz"' '"z_re_ohm"' \
               '"z_im_ohm"' '"z_mod_ohm"' '"phase_deg"' '"metrics"' \
               '"r_ohmic_ohm"' '"r_ct_ohm"' '"rmse_ohm"' '"circuit"' \
               '"parameters"' '"standard_errors"' '"R0"' '"CPE1_1"' \
               '"linkk"' '"operating_point"' '"eis_solver"'; do
      grep -qF "$key" "$TMP/$dev.json" && ok || bad "$dev summary lacks $key"
    done
    [ "$(head -c1 "$TMP/$dev.json")" = "{" ] && ok || bad "--json stdout is not only JSON"
    [ "$(json_count "$TMP/$dev.json" frequency_Hz)" = 71 ] && ok ||
      bad "$dev: $(json_count "$TMP/$dev.json" frequency_Hz) frequencies, expected 71"
    r=$(json_num "$TMP/$dev.json" r_ohmic_ohm)
    rct=$(json_num "$TMP/$dev.json" r_ct_ohm)
    awk -v r="$r" -v c="$rct" 'BEGIN { exit !(r > 0 && c > 0) }' && ok ||
      bad "$dev: r_ohmic_ohm '$r', r_ct_ohm '$rct' not positive"
    kk=$(json_num "$TMP/$dev.json" max_residual)
    awk -v k="$kk" 'BEGIN { exit !(k >= 0 && k < 5e-3) }' && ok ||
      bad "$dev: Lin-KK max residual '$kk' not below 0.5 %"
  else
    bad "nimc eis devices/$dev.ini --json failed: $(cat "$TMP/err")"
  fi
done
# the covered device's charge transfer is the slower one
r1=$(json_num "$TMP/nimc.json" r_ohmic_ohm)
r2=$(json_num "$TMP/nimc-covered.json" r_ohmic_ohm)
awk -v a="$r1" -v b="$r2" 'BEGIN { exit !(b > a) }' && ok ||
  bad "covered r_ohmic $r2 not above uncovered $r1"

# ---- the linearisation against `nimc run` with a 5 mV sine ----
# the eis spectrum at 1 kHz, 100 Hz, 10 Hz, 1 Hz, 0.1 Hz; the sines at 1 kHz,
# 10 Hz and 0.1 Hz, 20 periods each, read over their last 10
if "$NIMC" eis devices/nimc.ini --from 1kHz --to 0.1Hz --per-decade 1 --no-fit \
     --json >"$TMP/lin.json" 2>"$TMP/err"; then
  ok
  row() { grep -F "\"$2\":" "$1" | head -1 | sed 's/.*\[\(.*\)\].*/\1/' | tr -d ' \t'; }
  RE=$(row "$TMP/lin.json" z_re_ohm)
  IM=$(row "$TMP/lin.json" z_im_ohm)
  i=1
  for sine in "1 kHz:0.02 s" "10 Hz:2 s" "0.1 Hz:200 s"; do
    f=${sine%%:*} T=${sine#*:}
    if "$NIMC" run devices/nimc.ini -e "Sine 5 mV at $f for $T" --json \
         >"$TMP/sine.json" 2>"$TMP/err"; then
      zr=$(json_num "$TMP/sine.json" z_re_ohm)
      zi=$(json_num "$TMP/sine.json" z_im_ohm)
      lr=$(echo "$RE" | cut -d, -f$i)
      li=$(echo "$IM" | cut -d, -f$i)
      awk -v a="$zr" -v b="$zi" -v c="$lr" -v d="$li" 'BEGIN {
            e = sqrt((a - c)^2 + (b - d)^2) / sqrt(c^2 + d^2); exit !(e < 0.01) }' &&
        ok || bad "sine at $f: nimc run $zr $zi, nimc eis $lr $li differ by 1 % or more"
    else
      bad "nimc run 'Sine 5 mV at $f' failed: $(cat "$TMP/err")"
    fi
    i=$((i + 2))
  done
else
  bad "nimc eis --from 1kHz failed: $(cat "$TMP/err")"
fi

# ---- an operating point held at 1.5 V, the files of -o ----
if "$NIMC" eis devices/nimc-stack.ini --at 1.5V --no-fit --per-decade 5 \
     -o "$TMP/o" -q >"$TMP/report" 2>"$TMP/err"; then
  ok
  grep -qF "held until steady" "$TMP/report" && ok || bad "report lacks the held operating point"
  for f in spectrum.csv summary.json nyquist.png nyquist.svg bode.png bode.svg \
           linkk.png linkk.svg; do
    [ -s "$TMP/o/$f" ] && ok || bad "-o did not write $f"
  done
  [ ! -e "$TMP/o/fit_residuals.png" ] && ok || bad "--no-fit drew fit residuals"
  # the manifest, written last, lists what the set holds and nothing else
  for f in spectrum.csv summary.json nyquist.png bode.png linkk.png; do
    grep -q "^$f [0-9][0-9]*$" "$TMP/o/manifest.txt" && ok || bad "manifest.txt lacks $f"
  done
  grep -q "^fit_residuals" "$TMP/o/manifest.txt" && bad "manifest lists an absent file" || ok
  head -1 "$TMP/o/spectrum.csv" | grep -qx \
    'frequency_Hz,z_re_ohm,z_im_ohm,z_mod_ohm,phase_deg,kk_res_re,kk_res_im' &&
    ok || bad "spectrum.csv header: $(head -1 "$TMP/o/spectrum.csv")"
  [ "$(wc -l <"$TMP/o/spectrum.csv")" -eq 37 ] && ok || bad "spectrum.csv rows"
  v=$(json_num "$TMP/o/summary.json" voltage_V)
  awk -v v="$v" 'BEGIN { exit !(v > 1.4999 && v < 1.5001) }' && ok ||
    bad "operating point at $v V, expected 1.5 V"
  grep -qF '"r_ct_ohm"' "$TMP/o/summary.json" && bad "--no-fit reported r_ct_ohm" || ok
else
  bad "nimc eis --at 1.5V failed: $(cat "$TMP/err")"
fi

# ---- the operating point after experiment steps ----
if "$NIMC" eis devices/nimc-stack.ini --after 'Charge at 0.1 mA/cm2 for 60 s' \
     --no-fit --json >"$TMP/after.json" 2>"$TMP/err"; then
  ok
  grep -qF '"steps"' "$TMP/after.json" && grep -qF '"charge"' "$TMP/after.json" &&
    ok || bad "--after: the summary lacks its steps"
else
  bad "nimc eis --after failed: $(cat "$TMP/err")"
fi

# ---- nimc fit-eis on a real spectrum (impedance.py's example) ----
if [ -r "$DATA" ]; then
  C='R0-p(R1,C1)-p(R2-Wo1,C2)'
  I0=0.01,0.01,100,0.01,0.05,100,1
  if "$NIMC" fit-eis "$DATA" --circuit "$C" --initial $I0 --capacitive-only \
       --json >"$TMP/fit.json" 2>"$TMP/err"; then
    ok
    # impedance.py's published fit of this file: R0 = 1.65e-2, R1 = 8.68e-3
    r0=$(json_num "$TMP/fit.json" R0)
    awk -v r="$r0" 'BEGIN { exit !(r > 0.01650 && r < 0.01654) }' && ok ||
      bad "fit-eis R0 = $r0"
    grep -qF '"Wo1_1"' "$TMP/fit.json" && ok || bad "fit-eis lacks Wo1_1"
    grep -qF '"source"' "$TMP/fit.json" && grep -qF '"read_as"' "$TMP/fit.json" &&
      ok || bad "fit-eis summary lacks source/read_as"
    grep -qF "57 of 66 points kept" "$TMP/err" && ok || bad "--capacitive-only note"
  else
    bad "nimc fit-eis failed: $(cat "$TMP/err")"
  fi
  # a parameter held, the others started from values; modulus weighting
  if "$NIMC" fit-eis "$DATA" --circuit "$C" --constant R0=0.0165 \
       --initial 0.01,100,0.01,0.05,100,1 --weight modulus --capacitive-only \
       --json >"$TMP/fit2.json" 2>"$TMP/err"; then
    [ "$(json_num "$TMP/fit2.json" R0)" = 0.0165 ] && ok || bad "--constant R0 not held"
  else
    bad "fit-eis --constant failed: $(cat "$TMP/err")"
  fi
  # the text report and the files
  if "$NIMC" fit-eis "$DATA" --circuit "$C" --initial $I0 --global --starts 8 \
       --capacitive-only -o "$TMP/f" >"$TMP/report" 2>"$TMP/err"; then
    ok
    grep -qF "correlation:" "$TMP/report" && grep -qF "std. error" "$TMP/report" &&
      ok || bad "fit-eis report lacks standard errors or correlations"
    grep -qF "8 starts" "$TMP/report" && ok || bad "--starts 8 not reported"
    for f in spectrum.csv summary.json nyquist.png bode.png fit_residuals.png \
             linkk.png; do
      [ -s "$TMP/f/$f" ] && ok || bad "fit-eis -o did not write $f"
    done
  else
    bad "fit-eis --global failed: $(cat "$TMP/err")"
  fi
else
  echo "skipped: $DATA is absent" >&2
fi

# ---- other instruments' exports: a ZPlot .z of an R-RC dummy circuit ----
Z=../shared/data/real/impedance.py/Circuit1_EIS_1.z
if [ -r "$Z" ]; then
  if "$NIMC" fit-eis "$Z" --format zplot --circuit 'R0-p(R1,C1)' \
       --initial 100,400,1e-5 --json >"$TMP/z.json" 2>"$TMP/err"; then
    ok
    grep -F '"read_as"' "$TMP/z.json" | grep -qF '"zplot (ZPlot 2 text' && ok ||
      bad "fit-eis --format zplot: read_as does not name zplot"
    # impedance.py's published fit of this file: R1 = 4.67e+01 ohm
    r1=$(json_num "$TMP/z.json" R1)
    awk -v r="$r1" 'BEGIN { exit !(r > 46.5 && r < 46.8) }' && ok ||
      bad "fit-eis of Circuit1_EIS_1.z: R1 = $r1"
  else
    bad "nimc fit-eis --format zplot failed: $(cat "$TMP/err")"
  fi
else
  echo "skipped: $Z is absent" >&2
fi
"$NIMC" fit-eis --help >"$TMP/help" 2>&1
for f in csv gamry chi zplot autolab; do
  grep -qE "^  $f " "$TMP/help" && ok || bad "fit-eis --help does not list $f"
done
expect_error 2 "$BAD/good_crlf.csv:1: not a Gamry DTA file" -- \
  fit-eis $BAD/good_crlf.csv --format gamry --circuit R0

# ---- bad input: exit 2 and a located message ----
G=$BAD/good_nimc.csv
# circuit strings: the column, and a caret under it
expect_error 2 "column 11" "missing ')'" "          ^" -- fit-eis $G --circuit 'R0-p(R1,C1'
expect_error 2 "column 12" "unmatched ')'" -- fit-eis $G --circuit 'R0-p(R1,C1))'
expect_error 2 "unknown element type 'X'" "known types" -- fit-eis $G --circuit 'R0-X1'
expect_error 2 "did you mean 'CPE'" -- fit-eis $G --circuit 'R0-CEP1'
expect_error 2 "element 'R' has no number" -- fit-eis $G --circuit 'R0-R'
expect_error 2 "'R0' is used twice" -- fit-eis $G --circuit 'R0-R0'
expect_error 2 "column 4" "missing element" -- fit-eis $G --circuit 'R0--R1'
expect_error 2 "the circuit is empty" -- fit-eis $G --circuit ''
expect_error 2 "missing --circuit" -- fit-eis $G
# starting values and constants
expect_error 2 "--initial: 2 values for 3 free parameters (R0, R1, C1)" -- \
  fit-eis $G --circuit 'R0-p(R1,C1)' --initial 1,2
expect_error 2 "value 2 ('nan') is not a finite number" -- \
  fit-eis $G --circuit 'R0-p(R1,C1)' --initial 1,nan,3
expect_error 2 "no parameter 'R5'" "R0, R1, C1" -- \
  fit-eis $G --circuit 'R0-p(R1,C1)' --constant R5=1 --initial 1,2,3
expect_error 2 "--constant needs --initial" -- \
  fit-eis $G --circuit 'R0-p(R1,C1)' --constant R0=1
expect_error 2 "--weight 'heavy'" -- fit-eis $G --circuit R0 --weight heavy
# data files: the file and the line
expect_error 2 "$BAD/bad_nan.csv:4" "not a finite number" -- fit-eis $BAD/bad_nan.csv --circuit R0
expect_error 2 "$BAD/bad_empty.csv" "empty" -- fit-eis $BAD/bad_empty.csv --circuit R0
expect_error 2 "$BAD/bad_one_column.csv:1" "only 1 column" -- fit-eis $BAD/bad_one_column.csv --circuit R0
expect_error 2 "$BAD/bad_not_monotonic.csv:6" "breaks the decreasing order" -- \
  fit-eis $BAD/bad_not_monotonic.csv --circuit R0
expect_error 2 "$BAD/bad_repeated_freq.csv:4" "repeats line 3" -- \
  fit-eis $BAD/bad_repeated_freq.csv --circuit R0
expect_error 2 "cannot open '$TMP/none.csv'" -- fit-eis $TMP/none.csv --circuit R0
# BioLogic EC-Lab binary: read, and an unknown column ID (the third of the
# list at byte 6913 of peis.mpr, patched to 999) is bad input
MPR=../shared/data/real/eclab/peis.mpr
if [ -r "$MPR" ]; then
  if "$NIMC" fit-eis "$MPR" --circuit 'R0-p(R1,C1)' --json >"$TMP/mpr.json" 2>"$TMP/err"; then
    grep -qF '"read_as"' "$TMP/mpr.json" && grep -qF 'mpr (EC-Lab binary' "$TMP/mpr.json" &&
      ok || bad "fit-eis peis.mpr: read_as does not name the mpr reader"
  else
    bad "fit-eis peis.mpr failed: $(cat "$TMP/err")"
  fi
  cp "$MPR" "$TMP/bad.mpr" && chmod u+w "$TMP/bad.mpr"
  printf '\347\003' | dd of="$TMP/bad.mpr" bs=1 seek=6917 conv=notrunc 2>/dev/null
  expect_error 2 "$TMP/bad.mpr:6917: unknown column ID 999" "listed from byte 6913" -- \
    fit-eis "$TMP/bad.mpr" --circuit R0
else
  echo "skipped: $MPR is absent" >&2
fi
# nimc eis options
expect_error 2 "--from '0 Hz'" -- eis devices/nimc-stack.ini --from '0 Hz'
expect_error 2 "--per-decade '0'" -- eis devices/nimc-stack.ini --per-decade 0
expect_error 2 "--at '1.5'" "no unit" -- eis devices/nimc-stack.ini --at 1.5
expect_error 2 "give one" -- eis devices/nimc-stack.ini --at 1V --after 'Rest for 1 s'
expect_error 2 "--after" "Dance" -- eis devices/nimc-stack.ini --after 'Dance for 1 s'
expect_error 2 "missing ')'" -- eis devices/nimc-stack.ini --fit 'R0-p(R1'
expect_error 2 "unknown option '--bogus'" -- eis devices/nimc-stack.ini --bogus
expect_error 2 "missing DEVICE" -- eis

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
