#!/bin/sh
# build.sh - configure and build Petrel into a build directory.
#
#   scripts/build.sh [DIR [configure options...]]    (default DIR: build)
#
# Re-runs configure only when the build directory is new or the options
# changed, then runs make with one job per CPU.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-build}
[ $# -gt 0 ] && shift
cd "$top"
[ -x configure ] && [ configure -nt configure.ac ] || autoreconf -fi >/dev/null 2>&1 || autoreconf -fi
mkdir -p "$dir"
cd "$dir"
opts="$*"
if [ ! -f Makefile ] || [ "$(cat .petrel-configure-opts 2>/dev/null)" != "$opts" ] ||
   [ Makefile -ot "$top/configure" ]; then
    # shellcheck disable=SC2086
    "$top/configure" -q $opts
    echo "$opts" > .petrel-configure-opts
fi
# all programs plus the unit test programs (check_PROGRAMS), without running them
{ make -j"$(nproc)" && make -j"$(nproc)" check TESTS=; } >/dev/null || { make && make check TESTS=; }
