#!/bin/bash
# Command-line specification of checkpoints: `nimc run -o DIR
# --checkpoint-every N | --checkpoint-interval T` killed with SIGKILL at
# random moments (seeded, printed) and continued with `nimc run --resume
# DIR` (killed again while it goes on) writes the same cycles.csv,
# summary.json and timeseries.csv, byte for byte, as the same command run
# unbroken; a finished run's checkpoint says so; a bad or mismatched
# checkpoint is answered with exit status 2 and a message naming the file,
# the line and the key.
# usage: checkpoint.sh PATH/TO/nimc   (run from the repository root)
set -u
NIMC=${1:?usage: checkpoint.sh NIMC}
DEV=devices/nimc-stack.ini
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
. "$(dirname "$0")/lib.bash"
SEED=${NIMC_CHECKPOINT_SEED:-20261201}
RANDOM=$SEED
echo "checkpoint.sh: kill moments seeded with $SEED (NIMC_CHECKPOINT_SEED)"

# nested Repeats, steps with their own period and temperature: 17 steps
cat >"$TMP/exp.txt" <<'EOF'
# nested Repeats, a step's own period and temperature
Rest for 2 s (0.5 s period)
Repeat 3 times:
  Repeat 2 times: Charge at 0.2 mA/cm2 until 3.5 V; Discharge at 0.2 mA/cm2 until 0 V (at 40 degC)
  Rest for 10 s (2 s period)
End
Charge at 0.2 mA/cm2 until 3 V
EOF

now() { date +%s.%N; }

# killed_runs NAME KILLS OPTIONS...: the run into $TMP/NAME killed KILLS
# times, each at a random moment of the unbroken run's wall time W (5 % to
# 30 % of it after that process started: three kills cannot outrun the
# run), each time continued with
# --resume (or started again when it died before its first checkpoint),
# then resumed to the end.  Prints the moments and what each kill hit.
killed_runs() {
  local name=$1 kills=$2; shift 2
  local dir="$TMP/$name" hit=0 k
  for ((k = 1; k <= kills; k++)); do
    local frac=$((5 + RANDOM % 26)) # percent of W
    local d
    d=$(awk -v w="$W" -v f="$frac" 'BEGIN { printf "%.3f", w * f / 100 }')
    # in a session of its own, killed with its children (gnuplot) as a
    # power cut would: an orphaned gnuplot would write its figure's
    # temporary after the next run swept it away
    if [ -f "$dir/checkpoint.nimc" ]; then
      setsid "$NIMC" run --resume "$dir" -q >/dev/null 2>"$TMP/kill.err" &
    else
      setsid "$NIMC" run "$DEV" -x "$TMP/exp.txt" -q -o "$dir" "$@" >/dev/null 2>"$TMP/kill.err" &
    fi
    local pid=$!
    sleep "$d"
    kill -KILL -- -$pid 2>/dev/null
    wait $pid 2>/dev/null
    local st=$?
    local at
    at=$(grep -m1 '^position_done' "$dir/checkpoint.nimc" 2>/dev/null | cut -d' ' -f2)
    if [ $st -eq 137 ]; then
      hit=$((hit + 1))
      echo "  $name: kill $k at $d s ($frac % of W): killed; the checkpoint after ${at:-?} steps"
    else
      echo "  $name: kill $k at $d s ($frac % of W): the process had ended (status $st)"
    fi
  done
  "$NIMC" run --resume "$dir" -q >/dev/null 2>"$TMP/err" \
    && ok || bad "$name: the last resume failed: $(cat "$TMP/err")"
  # at least two of the kills must have hit a running process
  [ $hit -ge 2 ] && ok || bad "$name: only $hit of $kills kills hit a running nimc (W = $W s)"
}

# same NAME REF FILES...: the resumed outputs are the unbroken run's
same() {
  local name=$1 ref=$2 f; shift 2
  for f in "$@"; do
    cmp -s "$TMP/$ref/$f" "$TMP/$name/$f" && ok \
      || bad "$name: $f differs from the unbroken run's: $(diff "$TMP/$ref/$f" "$TMP/$name/$f" | head -5)"
  done
}

# ---- every N boundaries, the time series kept ----
t0=$(now)
"$NIMC" run $DEV -x "$TMP/exp.txt" -q -o "$TMP/ref" --checkpoint-every 2 >/dev/null 2>"$TMP/err" \
  && ok || bad "unbroken run failed: $(cat "$TMP/err")"
W=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }')
echo "checkpoint.sh: the unbroken run took W = $W s"
grep -q '^finished 1$' "$TMP/ref/checkpoint.nimc" && grep -q '^status 0$' "$TMP/ref/checkpoint.nimc" \
  && ok || bad "a finished run's checkpoint is not marked finished: $(head -5 "$TMP/ref/checkpoint.nimc")"
[ "$(wc -l <"$TMP/ref/cycles.csv")" = 7 ] && ok || bad "unbroken run: not 6 cycles in cycles.csv"
killed_runs every 3 --checkpoint-every 2
same every ref cycles.csv summary.json timeseries.csv
# what killed runs left half written (NAME.tmp.XXXXXX) is swept away
ls "$TMP/every" | grep -q '\.tmp\.' && bad "a temporary file was left in the output directory: $(ls "$TMP/every")" || ok

# a finished run: said, exit 0, nothing rewritten
cp "$TMP/every/summary.json" "$TMP/summary.before"
"$NIMC" run --resume "$TMP/every" >"$TMP/out" 2>"$TMP/err"
[ $? -eq 0 ] && grep -q 'the run finished (exit status 0)' "$TMP/err" && grep -qF "$TMP/every/checkpoint.nimc" "$TMP/err" \
  && cmp -s "$TMP/summary.before" "$TMP/every/summary.json" \
  && ok || bad "resume of a finished run: $(cat "$TMP/err")"

# ---- every T of wall time, cycles only ----
t0=$(now)
"$NIMC" run $DEV -x "$TMP/exp.txt" -q -o "$TMP/ref2" --cycles-only --checkpoint-interval '0.05 s' >/dev/null 2>"$TMP/err" \
  && ok || bad "unbroken --cycles-only run failed: $(cat "$TMP/err")"
W=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }')
echo "checkpoint.sh: the unbroken --cycles-only run took W = $W s"
killed_runs interval 3 --cycles-only --checkpoint-interval '0.05 s'
same interval ref2 cycles.csv summary.json
# the same numbers as the run with the time series (another schedule of
# boundaries: the cycles agree to the printed precision, not the counters)
cmp -s "$TMP/ref/cycles.csv" "$TMP/ref2/cycles.csv" && ok \
  || bad "--cycles-only with an interval: cycles.csv differs from --checkpoint-every 2's"

# ---- bad checkpoints and mismatches: status 2, the file named ----
C="$TMP/bad/checkpoint.nimc"
mkdir -p "$TMP/bad" "$TMP/dev"
cp -r devices/materials "$TMP/dev/" 2>/dev/null
cp $DEV "$TMP/dev/d.ini"
"$NIMC" run "$TMP/dev/d.ini" -x "$TMP/exp.txt" -q -o "$TMP/mid" --checkpoint-every 1 >/dev/null 2>&1 &
pid=$!
for _ in $(seq 100); do # wait for a checkpoint past the start
  grep -q '^position_done [1-9]' "$TMP/mid/checkpoint.nimc" 2>/dev/null && break
  sleep 0.05
done
kill -KILL $pid 2>/dev/null
wait $pid 2>/dev/null
cp "$TMP/mid/checkpoint.nimc" "$TMP/good"
grep -q '^finished 0$' "$TMP/good" && ok || bad "no checkpoint of a run under way to spoil"
head -c 3000 "$TMP/good" >"$C"
expect_error 2 "$C:" -- run --resume "$TMP/bad"
head -n -2 "$TMP/good" >"$C"
expect_error 2 "$C:" "values of y and y'" -- run --resume "$TMP/bad"
sed '1s/.*/nimc-checkpoint 99/' "$TMP/good" >"$C"
expect_error 2 "$C:1: checkpoint version '99'" -- run --resume "$TMP/bad"
sed 's/^position_cycles .*/position_cycles many/' "$TMP/good" >"$C"
expect_error 2 "$C:" "position_cycles" -- run --resume "$TMP/bad"
sed 's/^step_fields type/step_fields kind/' "$TMP/good" >"$C"
expect_error 2 "$C:" "step_fields" "another version" -- run --resume "$TMP/bad"
printf 'hello\n' >"$C"
expect_error 2 "$C:1: not a nimc checkpoint" -- run --resume "$TMP/bad"
cp "$TMP/good" "$C"
echo '# edited' >>"$TMP/dev/d.ini"
expect_error 2 "$C:" "device_hash" "$TMP/dev/d.ini" "has changed" -- run --resume "$TMP/bad"
cp $DEV "$TMP/dev/d.ini"
# another experiment (one step more) under the same device: the position
sed 's/^position_total .*/position_total 18/' "$TMP/good" >"$C"
expect_error 2 "$C" "another experiment" -- run --resume "$TMP/bad"
expect_error 2 "$TMP/none/checkpoint.nimc: cannot read the checkpoint" -- run --resume "$TMP/none"
expect_error 2 "only -q and --json may go with it" -- run --resume "$TMP/bad" --rtol 1e-5
expect_error 2 "add -o DIR" -- run $DEV -e 'Rest for 1 s' --checkpoint-every 2
expect_error 2 "--checkpoint-interval '5 furlongs'" -- run $DEV -e 'Rest for 1 s' -o "$TMP/x" --checkpoint-interval '5 furlongs'
expect_error 2 "--until-steady runs are not checkpointed" -- run $DEV -e 'Charge at 1 mA/cm2 until 3.5 V' -e 'Discharge at 1 mA/cm2 until 0 V' -o "$TMP/x" --until-steady --checkpoint-every 1

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
