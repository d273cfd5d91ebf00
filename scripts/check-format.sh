#!/bin/sh
# check-format.sh - fail when a C file is not laid out as .clang-format says.
#
#   scripts/check-format.sh [FILE...]
#
# Runs clang-format (Debian 12's clang-format 14: scripts/deps.sh --test
# installs it; CLANG_FORMAT=... picks another binary) with --dry-run -Werror
# over the given files, or over every git-tracked *.c and *.h file when none
# is given. Changes nothing. Prints each file that is not formatted and exits
# 1 when there is one; `clang-format -i FILE` fixes it.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
if [ -z "${CLANG_FORMAT:-}" ]; then
    CLANG_FORMAT=clang-format
    command -v clang-format-14 >/dev/null 2>&1 && CLANG_FORMAT=clang-format-14
fi
command -v "$CLANG_FORMAT" >/dev/null 2>&1 || {
    echo "check-format: $CLANG_FORMAT not found (scripts/deps.sh --test installs clang-format)" >&2
    exit 2
}
list=$(mktemp)
trap 'rm -f "$list"' EXIT
if [ $# -gt 0 ]; then
    printf '%s\n' "$@" > "$list"
else
    git ls-files -- '*.c' '*.h' > "$list"
fi
bad=0
while IFS= read -r f; do
    [ -n "$f" ] || continue
    if [ ! -f "$f" ]; then
        echo "check-format: $f: no such file" >&2
        bad=1
        continue
    fi
    if ! "$CLANG_FORMAT" --style=file --dry-run -Werror --ferror-limit=1 "$f" >/dev/null 2>&1; then
        echo "$f"
        bad=1
    fi
done < "$list"
if [ "$bad" -ne 0 ]; then
    echo "check-format: the files above are not formatted (clang-format -i FILE fixes one)" >&2
    exit 1
fi
echo "check-format: every file is formatted"
