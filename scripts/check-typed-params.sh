#!/bin/sh
# check-typed-params.sh - prove that a misspelt or wrong-typed parameter fails the build.
#
#   scripts/check-typed-params.sh [TOP]
#
# Compiles tests/typed_params_negative.c once per case with $CC (default cc)
# and no warning options, so that the errors come from cfg.h itself and not
# from -Werror: CASE_RIGHT (correct uses of P_<name> ids) must compile; each
# other case (misspelt name, parameter of another type given to a getter,
# through a variable or to a list helper, a string for an id, a getter's
# value used as another type) must fail, with the diagnostic that names the
# mistake. Prints one line per case; exits 1 when any case behaves wrongly.
set -u
top=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cc=${CC:-cc}
src="$top/tests/typed_params_negative.c"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
bad=0

# try CASE WANT PATTERN - compile case CASE; WANT is ok or fail; a failure must print PATTERN
try() {
    if $cc -fsyntax-only -I"$top/lib/util" -I"$top/lib/global" "-DCASE_$1" "$src" >"$out" 2>&1; then
        got=ok
    else
        got=fail
    fi
    if [ "$got" != "$2" ]; then
        echo "FAIL: $1: compiled $got, want $2"
        sed 's/^/    /' "$out" | head -n 20
        bad=1
    elif [ "$got" = fail ] && ! grep -Eq "$3" "$out"; then
        echo "FAIL: $1: failed, but not with /$3/"
        sed 's/^/    /' "$out" | head -n 20
        bad=1
    else
        echo "ok: $1 ($got)"
    fi
}

try RIGHT ok ""
try MISSPELT fail "P_smtpd_timeuot"
try WRONG_TYPE fail "enum cfg_str_param.*enum cfg_time_param|enum-conversion"
try WRONG_TYPE_VARIABLE fail "enum cfg_bool_param.*enum cfg_int_param|enum-conversion"
try WRONG_TYPE_HELPER fail "enum cfg_str_param.*enum cfg_list_param|enum-conversion"
try STRING fail "incompatible type|int-conversion|integer from pointer"
try RETURN_TYPE fail "int-conversion|pointer from integer"
exit $bad
