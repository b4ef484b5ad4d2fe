#!/bin/bash
# Command-line specification of `nimc reproduce`: the summary JSON with its
# "validation" array (every published value beside the model's), the figures
# and tables written with -o, the text table, failures reported without
# stopping the rest (null / "failed", exit status 1), and bad usage (2).
# Nothing here asserts that the model is close to the paper: that is
# calibration, not the command's contract.
# usage: reproduce.sh PATH/TO/nimc   (run from the repository root)
set -u
NIMC=${1:?usage: reproduce.sh NIMC}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
pass=0 fail=0
IDS='cv_0.1 cv_1 cv_0.2 cv_0.2_covered cv_1.5 retention_1.5 ca_0.3 cv_0.3
     esr_eis rct_eis rct_eis_covered'

ok()  { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

# check_rows FILE: every id has one row in "validation", each with paper,
# model, rel_error, the cycle it was read from (and the reference's, for a
# ratio) and whether it is excluded (cJSON prints one key per line)
check_rows() {
  grep -q '"validation"' "$1" && ok || bad "$1 has no \"validation\""
  for id in $IDS; do
    awk -v id="$id" '
      $0 ~ "\"id\":[[:space:]]*\"" id "\"" { inrow = 1; n++; next }
      inrow && /"id":/ { inrow = 0 }
      inrow && /"paper":[[:space:]]*[-0-9]/ { p++ }
      inrow && /"model":[[:space:]]*([-0-9]|null)/ { m++ }
      inrow && /"rel_error":[[:space:]]*([-0-9]|null)/ { e++ }
      inrow && /"cycle":[[:space:]]*([0-9]|null)/ { c++ }
      inrow && /"cycle_ref":[[:space:]]*([0-9]|null)/ { r++ }
      inrow && /"excluded":[[:space:]]*("|null)/ { x++ }
      END { exit !(n == 1 && p == 1 && m == 1 && e == 1 && c == 1 && r == 1 && x == 1) }' "$1" \
      && ok || bad "$1: row $id missing or lacks paper/model/rel_error/cycle/cycle_ref/excluded"
  done
}

# ---- the shipped devices: --json -o DIR ----
OUT=$TMP/out
"$NIMC" reproduce --json -o "$OUT" >"$TMP/sum.json" 2>"$TMP/err"
rc=$?
[ $rc -eq 0 ] && ok || bad "nimc reproduce --json -o exited $rc: $(grep -v '\[[0-9]*/[0-9]*\]' "$TMP/err")"
[ "$(head -c1 "$TMP/sum.json")" = "{" ] && ok || bad "--json stdout does not start with '{'"
[ "$(tail -n1 "$TMP/sum.json")" = "}" ] && ok || bad "--json stdout does not end with '}'"
for key in '"device"' '"temperature_C"' '"steps"' '"metrics"'; do
  grep -qF "$key" "$TMP/sum.json" && ok || bad "summary lacks $key"
done
check_rows "$TMP/sum.json"
for f in reproduce_gcd.png reproduce_gcd.svg reproduce_rate.png reproduce_rate.svg \
         reproduce_fields.png reproduce_fields.svg reproduce_eis.png \
         reproduce_eis.svg reproduce.json validation.csv; do
  [ -s "$OUT/$f" ] && ok || bad "$f not written"
done
for f in reproduce_gcd reproduce_rate reproduce_fields reproduce_eis; do
  [ "$(head -c4 "$OUT/$f.png" 2>/dev/null | tail -c3)" = "PNG" ] && ok || bad "$f.png is not a PNG"
  grep -q '<svg' "$OUT/$f.svg" 2>/dev/null && ok || bad "$f.svg is not an SVG"
done
# reproduce.json is what --json printed
printf '%s\n' "$(cat "$OUT/reproduce.json" 2>/dev/null)" | cmp -s - "$TMP/sum.json" && ok \
  || bad "reproduce.json differs from the --json output"
[ "$(head -1 "$OUT/validation.csv")" = "id,quantity,unit,paper,model,rel_error,cycle,cycle_ref,excluded" ] && ok \
  || bad "validation.csv header: $(head -1 "$OUT/validation.csv")"
# every GCD value was read after formation, from a cycle >= 3 (the minimum);
# the impedance values from none
# (quoted text fields emptied first: they may hold commas)
sed 's/"[^"]*"//g' "$OUT/validation.csv" | awk -F, '
  NR > 1 && $1 !~ /eis/ && $5 != "" && !($7 >= 3) { exit 1 }
  NR > 1 && $1 ~ /eis/ && $7 != "" { exit 1 }' && ok \
  || bad "validation.csv: a GCD value not read from a cycle >= 3: $(cat "$OUT/validation.csv")"
grep -q '^retention_1.5,.*,[0-9][0-9]*,[0-9][0-9]*,[^,]*$' "$OUT/validation.csv" && ok \
  || bad "validation.csv: the ratio lacks its two cycles"
grep -Eq '"cycle":[[:space:]]*([3-9]|[1-9][0-9])' "$TMP/sum.json" && ok || bad "no row says its cycle"
[ "$(($(wc -l <"$OUT/validation.csv") - 1))" -eq "$(echo $IDS | wc -w)" ] && ok \
  || bad "validation.csv has $(($(wc -l <"$OUT/validation.csv") - 1)) rows"
for id in $IDS; do
  grep -q "^$id," "$OUT/validation.csv" && ok || bad "validation.csv lacks $id"
done
ls "$OUT" | grep -q '\.tmp\.' && bad "temporary files left behind" || ok

# ---- failures are reported and the rest goes on (fast: stack devices) ----
# the "covered" device has a contact resistance that ends every step at
# once, so none of its GCDs has a discharge to measure
D=$TMP/dev
mkdir -p "$D"
cp -r devices/materials "$D/"
cp devices/nimc-stack.ini "$D/nimc.ini"
sed 's/^contact_resistance = .*/contact_resistance = 1e9 ohm/' devices/nimc-stack.ini >"$D/nimc-covered.ini"
grep -q '^contact_resistance = 1e9 ohm' "$D/nimc-covered.ini" && ok || bad "could not make the failing device"
"$NIMC" reproduce --devices "$D" -o "$TMP/o2" >"$TMP/table" 2>"$TMP/err"
rc=$?
[ $rc -eq 1 ] && ok || bad "a failing experiment: exit status $rc, expected 1"
grep -q 'cv_0.2_covered' "$TMP/err" && ok || bad "the failure does not name the value it affects: $(cat "$TMP/err")"
grep -q 'capacitance against current density' "$TMP/err" && ok || bad "the failure does not name the experiment"
head -1 "$TMP/table" | grep -Eq '^quantity +\| unit +\| +paper \| +model \| +rel\. error \| +cycle$' && ok \
  || bad "table header: $(head -1 "$TMP/table")"
# the uncovered rows say from which cycle (>= 3) they were read
grep -E '^volumetric capacitance at 0.1 mA/cm2 +\|' "$TMP/table" | grep -Eq '\| +([3-9]|[1-9][0-9]+)$' && ok \
  || bad "the table does not say the cycle: $(cat "$TMP/table")"
grep -E '^volumetric capacitance at 0.2 mA/cm2, covered +\|' "$TMP/table" | grep -q 'failed' && ok \
  || bad "the covered row does not say failed: $(cat "$TMP/table")"
grep -E '^volumetric capacitance at 0.1 mA/cm2 +\|' "$TMP/table" | grep -q failed && \
  bad "the uncovered rows failed too" || ok
[ "$(grep -c '|' "$TMP/table")" -eq "$(($(echo $IDS | wc -w) + 1))" ] && ok || bad "table rows"
# the columns line up
[ "$(grep '|' "$TMP/table" | awk '{ print index($0, "|") }' | sort -u | wc -l)" -eq 1 ] && ok \
  || bad "the table's columns are not aligned"
grep -q '"model":[[:space:]]*null' "$TMP/o2/reproduce.json" && ok || bad "failed model value is not null"
check_rows "$TMP/o2/reproduce.json"
grep -q '^cv_0.2_covered,.*,13.7,,,,,$' "$TMP/o2/validation.csv" && ok || bad "failed row in validation.csv: $(cat "$TMP/o2/validation.csv")"
for f in reproduce_gcd.png reproduce_rate.png reproduce_fields.png; do
  [ -s "$TMP/o2/$f" ] && ok || bad "$f not written after a failure"
done
# -q: no progress, the failures still said
"$NIMC" reproduce --devices "$D" -q --json >"$TMP/q.json" 2>"$TMP/err"
grep -q '\[1/' "$TMP/err" && bad "-q printed progress" || ok
grep -q 'cv_0.2_covered' "$TMP/err" && ok || bad "-q hid the failure"
[ "$(head -c1 "$TMP/q.json")" = "{" ] && ok || bad "--json stdout with a failure is not JSON"

# ---- usage ----
"$NIMC" reproduce --help >"$TMP/help" 2>&1 && grep -q -- '--devices' "$TMP/help" && ok || bad "reproduce --help"
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
expect2 "$TMP/nowhere/nimc.ini" reproduce --devices "$TMP/nowhere"
: >"$TMP/file"
expect2 "not a directory" reproduce --devices "$D" -o "$TMP/file"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
