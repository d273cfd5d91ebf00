#!/bin/sh
# check-dist.sh - fail when a git-tracked file that belongs in the tarball is not in it.
#
#   scripts/check-dist.sh [BUILDDIR]      (default BUILDDIR: build)
#
# Runs `make dist` in BUILDDIR (a configured build directory, as made by
# scripts/build.sh) and compares the tarball's file list with `git ls-files`
# for tests/, scripts/ and the top-level LICENSE, README.md and .clang-format:
# every tracked file there must ship, so that `make distcheck` and a user of
# the tarball run the whole test suite. Prints each missing file and exits 1
# when there is one. Takes a few seconds (make dist compiles nothing).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
cd "$top"
[ -f "$build/Makefile" ] || { echo "check-dist: $build is not a configured build directory" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
name=petrel-check-dist.$$
make -s -C "$build" distdir="$name" dist-gzip >/dev/null
mv "$build/$name.tar.gz" "$tmp/dist.tar.gz"
# the tarball's files, relative to its top directory
tar tzf "$tmp/dist.tar.gz" | sed -n "s|^$name/||p" | sed "s|/$||" | sort -u > "$tmp/shipped"
git ls-files -- tests scripts LICENSE README.md .clang-format | sort -u > "$tmp/tracked"
missing=$(comm -23 "$tmp/tracked" "$tmp/shipped")
if [ -n "$missing" ]; then
    echo "check-dist: tracked files missing from the dist tarball (add them to EXTRA_DIST):" >&2
    printf '%s\n' "$missing" >&2
    exit 1
fi
echo "check-dist: every tracked file under tests/ and scripts/ is in the tarball"
