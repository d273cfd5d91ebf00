#!/bin/sh
# run-suite.sh - run the unit and end-to-end tests against one build directory.
#
#   tests/run-suite.sh BUILD_DIR [--sanitizers] [pytest args...]
#
# Unit tests run with cmocka's TAP output and are counted per test case; a
# binary that fails without a failing case (a crash, a sanitizer report)
# counts as one failure. End-to-end tests are counted from pytest's JUnit
# report. With --sanitizers, sanitizer reports of every process go to files
# that the test fixtures check. Last line: "N passed, N failed".
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$1" && pwd)
shift
label=$(basename "$build")
san=0
if [ "${1:-}" = "--sanitizers" ]; then san=1; shift; fi
pass=0
fail=0
work=$(mktemp -d /tmp/petrel-suite-XXXXXX)
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT

if [ "$san" -eq 1 ]; then
    mkdir -m 1777 "$work/san"
    ASAN_OPTIONS="log_path=$work/san/asan:detect_leaks=1"
    UBSAN_OPTIONS="log_path=$work/san/ubsan:print_stacktrace=1:halt_on_error=1"
    LSAN_OPTIONS="suppressions=$top/tests/lsan.supp:print_suppressions=0"
    PETREL_SANITIZER_DIR="$work/san"
    export ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS PETREL_SANITIZER_DIR
fi

echo "== [$label] unit tests"
nunit=0
for t in "$build"/tests/unit/test_*; do
    [ -x "$t" ] || continue
    case "$t" in *.o|*.log|*.trs) continue ;; esac
    nunit=$((nunit + 1))
    out=$(CMOCKA_MESSAGE_OUTPUT=TAP "$t" 2>&1)
    rc=$?
    ok=$(echo "$out" | grep -c '^ok ')
    notok=$(echo "$out" | grep -c '^not ok ')
    pass=$((pass + ok))
    fail=$((fail + notok))
    if [ "$rc" -ne 0 ] && [ "$notok" -eq 0 ]; then
        fail=$((fail + 1))
        echo "FAIL: $(basename "$t") exited with $rc"
    fi
    [ "$notok" -ne 0 ] || [ "$rc" -ne 0 ] && echo "$out" | grep -v '^ok ' | head -40
    echo "  $(basename "$t"): $ok passed, $notok failed"
done
if [ "$nunit" -eq 0 ]; then
    echo "FAIL: no unit test programs in $build/tests/unit (build them with: make check TESTS=)"
    fail=$((fail + 1))
fi
if [ "$san" -eq 1 ] && ls "$work/san" | grep -q .; then
    echo "FAIL: sanitizer reports from unit tests:"
    cat "$work"/san/* | head -60
    fail=$((fail + 1))
    rm -f "$work"/san/*
fi

echo "== [$label] end-to-end tests"
PETREL_BUILD="$build" /usr/bin/python3 -m pytest -q -p no:cacheprovider \
    --junitxml="$work/junit.xml" "$top/tests/integration" "$@"
prc=$?
if [ -f "$work/junit.xml" ]; then
    set -- $(/usr/bin/python3 - "$work/junit.xml" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else list(root)
t = sum(int(s.get("tests", 0)) for s in suites)
f = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
sk = sum(int(s.get("skipped", 0)) for s in suites)
print(t - f - sk, f)
PY
)
    pass=$((pass + $1))
    fail=$((fail + $2))
    # pytest failing without a failed test (usage error, collection error, no tests)
    if [ "$prc" -ne 0 ] && [ "$2" -eq 0 ]; then
        echo "FAIL: pytest exited with status $prc"
        fail=$((fail + 1))
    fi
else
    fail=$((fail + 1))
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
