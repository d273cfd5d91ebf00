#!/bin/sh
# build.sh - build the libFuzzer targets with clang into a build directory.
#
#   tests/fuzz/build.sh [DIR]          (default DIR: build-fuzz)
#
# Configures a clang build of lib/ with AddressSanitizer, UBSan and
# libFuzzer's coverage instrumentation, then links each tests/fuzz/fuzz_*.c
# against it: DIR/fuzz_mime, DIR/fuzz_imap_cmd. Running: tests/fuzz/README.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
dir=${1:-build-fuzz}
cd "$top"
[ -x configure ] || autoreconf -fi
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
if [ ! -f "$dir/Makefile" ]; then
    (cd "$dir" && "$top/configure" -q --disable-werror CC=clang \
        CFLAGS="-g -O1 -fsanitize=fuzzer-no-link $san")
fi
make -C "$dir" -j"$(nproc)" lib/libpetrel.a >/dev/null
libs=$(sed -n 's/^LIBS = //p' "$dir/Makefile")
for src in "$top"/tests/fuzz/fuzz_*.c; do
    name=$(basename "$src" .c)
    # shellcheck disable=SC2086
    clang -g -O1 -fsanitize=fuzzer $san -include "$dir/config.h" -I"$top/lib" \
        "$src" "$dir/lib/libpetrel.a" $libs -o "$dir/$name"
    echo "built $dir/$name"
done
