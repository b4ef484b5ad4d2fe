#!/bin/sh
# Install the Debian packages nimc builds and runs with, if any is missing.
# Works as root or as a user with sudo; does nothing when all are present.
# `install-deps.sh fuzz` (make fuzz) adds clang and libFuzzer, which is
# Debian's libclang-rt-dev (libclang_rt.fuzzer of the default clang); no
# other target needs them.
set -eu
PKGS="build-essential cmake pkg-config libsundials-dev libsuitesparse-dev
libgsl-dev libudunits2-dev libinih-dev libcjson-dev gnuplot-nox"
if [ "${1:-}" = fuzz ]; then PKGS="$PKGS clang libclang-rt-dev"; fi
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
    missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing" >&2
if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
