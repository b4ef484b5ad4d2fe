#!/bin/sh
# The change of every number `nimc reproduce` prints for a change of each
# fitted parameter (docs/calibration.md, "Identifiability").
#
# usage: scripts/prediction-sensitivity.sh [BUILD] [OUT] [STEP]
#
# For each of the seven parameters devices/calibration.fit fits, a copy of devices/
# is made with that one value multiplied by exp(STEP) (default 0.1) in the
# file where it lives (a material file, or all three in-plane device
# files), and `nimc reproduce --devices COPY --json` is run on it; the base
# is run on an unchanged copy.  nimc-sensitivity then prints, for every
# row, d ln(value) / d ln(parameter) and the change for a 1-sigma change of
# the parameter (linearised), with the sigmas of docs/calibration.md.
# About 10 minutes per run on one core, 8 runs.
set -eu
BUILD=${1:-build}
OUT=${2:-out/sensitivity}
STEP=${3:-0.1}
NIMC=$BUILD/nimc
[ -x "$NIMC" ] || { echo "$0: no $NIMC (make build first)" >&2; exit 2; }
mkdir -p "$OUT"
F=$(awk -v s="$STEP" 'BEGIN { printf "%.12g", exp(s) }')

# name | files (under devices/) | [section] or - | key | sigma of ln(value)
# sigmas: docs/calibration.md, "for 5 % data"
PARAMS='inventory|materials/nto.ini|-|initial_stoichiometry|0.47
D_Na|materials/ionogel.ini|-|diffusivity|6.40
gel|nimc.ini nimc-covered.ini ag-ag-msc.ini|[geometry]|gel_thickness|0.089
mp_share|materials/ag.ini|-|micropore_capacitance_fraction|0.30
mp_tau|materials/ag.ini|-|micropore_time_constant|1.67
k_NTO|materials/nto.ini|-|rate_constant|0.11
cover|nimc.ini nimc-covered.ini ag-ag-msc.ini|[cover]|porosity|6.43'

# scale FILE SECTION KEY: multiply KEY's value (in SECTION, or anywhere
# for -) by F, keeping its unit and comment.
scale() {
  awk -v sec="$2" -v key="$3" -v f="$F" '
    /^\[/ { cur = $1 }
    (sec == "-" || cur == sec) && $1 == key && $2 == "=" {
      rest = ""
      for (i = 4; i <= NF; i++) rest = rest " " $i
      printf "%s = %.10g%s\n", key, $3 * f, rest
      n++
      next
    }
    { print }
    END { if (n != 1) exit 3 }' "$1" > "$1.new" || {
    echo "$0: $1: [$2] $3 found $? times, not once" >&2; exit 2; }
  mv "$1.new" "$1"
}

# prepare NAME: a copy of devices/ for NAME; false when it was made before
# (a rerun resumes: the finished runs are kept).
prepare() {
  [ -d "$OUT/$1/devices" ] && return 1
  mkdir -p "$OUT/$1"
  cp -r devices "$OUT/$1/devices.tmp"
  return 0
}

prepare base && mv "$OUT/base/devices.tmp" "$OUT/base/devices"
echo "$PARAMS" | while IFS='|' read -r name files sec key sigma; do
  prepare "$name" || continue
  for f in $files; do scale "$OUT/$name/devices.tmp/$f" "$sec" "$key"; done
  mv "$OUT/$name/devices.tmp" "$OUT/$name/devices"
done
for d in base $(echo "$PARAMS" | cut -d'|' -f1); do
  [ -s "$OUT/$d/reproduce.json" ] && continue # resumable
  echo "$0: $d" >&2
  "$NIMC" reproduce --devices "$OUT/$d/devices" --json -q \
    > "$OUT/$d/reproduce.json.tmp" || true
  mv "$OUT/$d/reproduce.json.tmp" "$OUT/$d/reproduce.json"
done
set --
echo "$PARAMS" | { while IFS='|' read -r name files sec key sigma; do
  set -- "$@" "$name=$sigma"; done
  "$BUILD/nimc-sensitivity" "$OUT" "$STEP" "$@"; }
