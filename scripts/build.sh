#!/bin/sh
# build.sh - configure and build Petrel into a build directory.
#
#   scripts/build.sh [DIR [configure options...]]    (default DIR: build)
#
# Re-runs configure when the build directory is new, the options changed or
# the machine's packages changed (a build configured before libcmocka-dev was
# installed would otherwise never build the unit tests), then runs make with
# one job per CPU.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-build}
[ $# -gt 0 ] && shift
cd "$top"
[ -x configure ] && [ configure -nt configure.ac ] || autoreconf -fi >/dev/null 2>&1 || autoreconf -fi
mkdir -p "$dir"
cd "$dir"
# what configure saw: the options and the version of every package deps.sh knows
pkgs=$(dpkg-query -W -f='${Package}=${Version}:${Status} ' $("$top/scripts/deps.sh" --list --test) 2>/dev/null |
    cksum) || pkgs=unknown
opts="$* [packages $pkgs]"
if [ ! -f Makefile ] || [ "$(cat .petrel-configure-opts 2>/dev/null)" != "$opts" ] ||
   [ Makefile -ot "$top/configure" ]; then
    "$top/configure" -q "$@"
    echo "$opts" > .petrel-configure-opts
fi
# all programs plus the unit test programs (check_PROGRAMS), without running them
{ make -j"$(nproc)" && make -j"$(nproc)" check TESTS=; } >/dev/null || { make && make check TESTS=; }
