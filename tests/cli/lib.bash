# lib.bash -- what the command-line specifications (tests/cli/*.sh) share:
# the pass/fail counters and expect_error.  Sourced, never run; the caller
# sets NIMC (the binary) and TMP (a scratch directory).
pass=0 fail=0

ok()  { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

# expect_error STATUS NEEDLE... -- ARGS: exit status and every needle in stderr
expect_error() {
  local want=$1; shift
  local needles=()
  while [ "$1" != "--" ]; do needles+=("$1"); shift; done
  shift
  "$NIMC" "$@" >"$TMP/out" 2>"$TMP/err"
  local rc=$?
  if [ $rc -ne "$want" ]; then
    bad "nimc $* -> status $rc, expected $want: $(cat "$TMP/err")"
    return
  fi
  if [ -s "$TMP/out" ]; then bad "nimc $* wrote to stdout on error"; return; fi
  for n in "${needles[@]}"; do
    if ! grep -qF -- "$n" "$TMP/err"; then
      bad "nimc $*: message lacks '$n': $(cat "$TMP/err")"
      return
    fi
  done
  ok
}
