#!/bin/sh
# build.sh - build the libFuzzer targets with clang into a build directory.
#
#   tests/fuzz/build.sh [DIR]          (default DIR: build-fuzz)
#
# Configures a clang build of the lib/ layers with AddressSanitizer, UBSan and
# libFuzzer's coverage instrumentation, then links each tests/fuzz/fuzz_*.c
# against it into DIR/fuzz_NAME. A target that needs a source file outside
# lib/ names it on a "fuzz-sources:" line of its opening comment (paths from
# the top of the tree; the next comment lines may continue the list); that
# directory is added to the include path.
# Running: tests/fuzz/run (and tests/fuzz/README).
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
dir=${1:-build-fuzz}
cd "$top"
[ -x configure ] || autoreconf -fi
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
if [ ! -f "$dir/Makefile" ] || [ "$dir/Makefile" -ot "$top/configure" ]; then
    (cd "$dir" && "$top/configure" -q --disable-werror CC=clang \
        CFLAGS="-g -O1 -fsanitize=fuzzer-no-link $san")
fi
# the layer libraries, as lib/Makemodule.am's PETREL_LIBS names them (after
# make has regenerated a Makefile older than Makefile.am, so it runs once)
make -C "$dir" Makefile >/dev/null
plibs=$(printf 'petrel-libs:\n\t@echo $(PETREL_LIBS)\n' | make -s -C "$dir" -f Makefile -f - petrel-libs)
# shellcheck disable=SC2086
make -C "$dir" -j"$(nproc)" $plibs >/dev/null
libs=$(sed -n 's/^LIBS = //p' "$dir/Makefile")
archives="" incdirs="" newest=""
for l in $plibs; do
    archives="$archives $dir/$l"
    incdirs="$incdirs -I$top/$(dirname "$l")"
    if [ -z "$newest" ] || [ "$dir/$l" -nt "$newest" ]; then newest="$dir/$l"; fi
done
for src in "$top"/tests/fuzz/fuzz_*.c; do
    name=$(basename "$src" .c)
    # the "fuzz-sources:" line and the comment lines of file names that continue it
    # (clang-format wraps a long one)
    extra=$(awk '/^ \* fuzz-sources:/ { sub(/^ \* fuzz-sources: */, ""); print; more = 1; next }
                 more && /^ \* [^ ]+\.c( [^ ]+\.c)*$/ { sub(/^ \* /, ""); print; next }
                 { more = 0 }' "$src")
    srcs="" incs=""
    for e in $extra; do
        srcs="$srcs $top/$e"
        incs="$incs -I$top/$(dirname "$e")"
    done
    if [ "$dir/$name" -nt "$src" ] && [ "$dir/$name" -nt "$newest" ]; then
        continue
    fi
    # shellcheck disable=SC2086
    clang -g -O1 -fsanitize=fuzzer $san -include "$dir/config.h" $incdirs $incs \
        "$src" $srcs $archives $libs -o "$dir/$name"
    echo "built $dir/$name"
done
