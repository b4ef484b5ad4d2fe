#!/bin/sh
# run.sh BUILD SECONDS [EXTRA_SEED_DIR ...] -- run every fuzz target that
# tests/fuzz/CMakeLists.txt recorded in BUILD/tests/fuzz/fuzz-targets.txt
# for SECONDS each (make fuzz; docs/testing.md).
#
# Each target starts from its seeds (the repository's corpus/<format>/,
# read only; extra directories, such as the real files of ../shared, go to
# the readers' targets) and keeps what it finds in BUILD/fuzz/corpus/<name>/,
# so a second run goes on where the first stopped.  A crash, a leak, a
# sanitizer report or a broken contract leaves its input in
# BUILD/fuzz/artifacts/; reproduce it with `BUILD/tests/fuzz/<name> FILE`,
# fix it, and add the input to tests/fuzz/regress/ (test_reader_corpus
# replays it in every `make check`).  Prints libFuzzer's counts per target
# and exits non-zero when any target failed.
set -u
build=$1
secs=$2
shift 2
list=$build/tests/fuzz/fuzz-targets.txt
[ -f "$list" ] || { echo "run.sh: no $list (configure with -DNIMC_FUZZ=ON)" >&2; exit 2; }
root=$(pwd)
export LSAN_OPTIONS="suppressions=$root/tests/lsan.supp"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
failed=0
tab=$(printf '\t')
while IFS="$tab" read -r name exe seeds dict; do
  work=$build/fuzz/corpus/$name
  art=$build/fuzz/artifacts
  log=$build/fuzz/$name.log
  mkdir -p "$work" "$art"
  extra=""
  case $name in fuzz_read_*) extra="$*" ;; esac
  dictopt=""
  [ "$dict" != "-" ] && dictopt="-dict=$dict"
  echo "$name: fuzzing for $secs s (log: $log)"
  # shellcheck disable=SC2086 # seeds and extra are lists of directories
  nice "$exe" -max_total_time="$secs" -print_final_stats=1 \
    -max_len="${FUZZ_MAX_LEN:-16384}" -timeout=10 $dictopt \
    -artifact_prefix="$art/$name-" "$work" $seeds $extra >"$log" 2>&1 </dev/null
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  took=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -n 1)
  size=$(find "$work" -type f | wc -l)
  if [ "$rc" -eq 0 ]; then
    echo "$name: ${runs:-?} executions in ${took:-$secs} s, corpus $size inputs, no failure"
  else
    failed=1
    echo "$name: FAILED (status $rc) after ${runs:-?} executions; the input:"
    grep -E "^(==[0-9]+==ERROR|SUMMARY|artifact_prefix|Test unit written|fuzz_)" "$log" | head -n 8
  fi
done <"$list"
exit $failed
