#!/bin/sh
# test.sh - install dependencies, build, and run every Petrel test.
#
# Builds twice: a normal build (-Wall -Wextra -Werror) and one with
# AddressSanitizer + UndefinedBehaviorSanitizer, and runs the unit tests
# (cmocka) and the end-to-end tests (pytest, real daemons and clients) on
# both, then every libFuzzer target for a short fixed time (tests/fuzz/run;
# each target counts as one test), after the source checks
# (scripts/check-layers.sh, check-typed-params.sh, check-dist.sh,
# check-format.sh: every C file as .clang-format lays it out). Ends with one
# line "N passed, N failed"; exits non-zero on failure.
#
#   scripts/test.sh [--quick]     --quick: normal build only, no fuzzing
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
quick=0
[ "${1:-}" = "--quick" ] && quick=1

scripts/deps.sh --test || exit 1
scripts/build.sh build || { echo "0 passed, 1 failed"; exit 1; }
total_pass=0
total_fail=0
run() {
    out=$(tests/run-suite.sh "$@")
    status=$?
    echo "$out"
    counts=$(echo "$out" | tail -n 1)
    p=$(echo "$counts" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p')
    f=$(echo "$counts" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p')
    [ -z "$p" ] && { p=0; f=1; }
    [ "$status" -ne 0 ] && [ "$f" -eq 0 ] && f=1
    total_pass=$((total_pass + p))
    total_fail=$((total_fail + f))
}
# checks of the source tree itself, one test each
source_check() {
    echo "== $1"
    if out=$("$@" 2>&1); then
        total_pass=$((total_pass + 1))
    else
        total_fail=$((total_fail + 1))
        echo "FAIL: $1"
    fi
    echo "$out" | tail -n 40
}
source_check scripts/check-layers.sh
source_check scripts/check-typed-params.sh
source_check scripts/check-dist.sh build
source_check scripts/check-format.sh
run build
run_fuzz() {
    out=$(tests/fuzz/run -t "${PETREL_FUZZ_SECONDS:-10}")
    echo "== fuzz targets"
    echo "$out"
    # shellcheck disable=SC2046
    set -- $(echo "$out" | tail -n 1 | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p')
    total_pass=$((total_pass + ${1:-0}))
    total_fail=$((total_fail + ${2:-1}))
}
if [ "$quick" -eq 0 ]; then
    if scripts/build.sh build-asan --enable-sanitizers; then
        run build-asan --sanitizers
    else
        total_fail=$((total_fail + 1))
    fi
    run_fuzz
fi
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
