# The two commands a user needs: `make demo` and `make check`.
# Both install missing Debian packages first (scripts/install-deps.sh).
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= 2
WERROR     ?= ON
NIMC        = $(BUILD)/nimc
# make fuzz: seconds per target, extra seed directories (e.g. real files:
# FUZZ_CORPUS="../shared/data/real/impedance.py ../shared/data/real/cap")
# and the longest input libFuzzer makes (bytes)
FUZZ_BUILD  ?= build-fuzz
FUZZ_TIME   ?= 60
FUZZ_CORPUS ?=
FUZZ_MAX_LEN ?= 16384

.PHONY: all deps build build-asan demo check test test-asan bench fuzz clean format

all: build

deps:
	@sh scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DNIMC_WERROR=$(WERROR) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

build-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DNIMC_SANITIZE=ON -DNIMC_WERROR=$(WERROR) >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)

# The main job: a simulated GCD cycle of the shipped stack device, its
# metrics printed and its figure written to out/demo; then the paper's
# experiments re-run, model against paper (docs/reproduce.md).
demo: build
	$(NIMC) run devices/nimc-stack.ini \
	  -e 'Charge at 0.1 mA/cm2 until 3.5 V' -e 'Discharge at 0.1 mA/cm2 until 0.5 V' \
	  -o out/demo
	@echo "figure: out/demo/gcd.png, out/demo/gcd.svg"
	$(NIMC) eis devices/nimc.ini -o out/eis
	@echo "figures: out/eis/nyquist.png, bode.png, fit_residuals.png, linkk.png (and .svg)"
	$(NIMC) reproduce -o out/reproduce
	@echo "figures: out/reproduce/reproduce_gcd.png, reproduce_rate.png, reproduce_fields.png, reproduce_eis.png (and .svg);" \
	  "table: out/reproduce/validation.csv, out/reproduce/reproduce.json"

test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
test-asan: build-asan
	@cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(JOBS)

# Every test, in the plain and in the sanitizer build.
check: test test-asan
	@sh tests/summarize.sh $(BUILD)/Testing/Temporary/LastTest.log $(ASAN_BUILD)/Testing/Temporary/LastTest.log

# Benchmarks and studies (never part of check): median wall times and
# solver statistics.
bench: build
	@$(BUILD)/bench_gcd
	@sh bench/dualfoil.sh $(BUILD)
	@$(BUILD)/study_dualfoil
	@$(BUILD)/bench_eis

# libFuzzer on every reader of measured data and the device-file parser
# (tests/fuzz; docs/testing.md): clang with ASan and UBSan, FUZZ_TIME
# seconds per target; prints each target's executions.  Never part of check.
fuzz:
	@sh scripts/install-deps.sh fuzz
	@CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNIMC_FUZZ=ON -DNIMC_WERROR=$(WERROR) >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz-targets
	@FUZZ_MAX_LEN=$(FUZZ_MAX_LEN) sh tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_TIME) $(FUZZ_CORPUS)

format:
	clang-format -i include/nimc/*.h src/*/*.[ch] app/*.[ch] tests/*.[ch] tests/fuzz/*.c bench/*.c

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) out
