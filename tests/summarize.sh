#!/bin/sh
# Sum the "N passed, N failed" lines of every test program in the given
# ctest logs and print the total in the same form (the line CI reads).
awk '/^[0-9]+ passed, [0-9]+ failed/ { p += $1; f += $3 }
     END { printf "%d passed, %d failed\n", p, f; exit (f > 0) }' "$@"
