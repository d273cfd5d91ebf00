#!/bin/sh
# check-layers.sh - fail when an #include crosses a layer the wrong way.
#
#   scripts/check-layers.sh [TOP]
#
# lib/ is a stack of layers, one folder each; lib/LAYER/Makemodule.am says on
# its "## May use:" line which other layers its modules may include (for
# example "## May use: lib/util, lib/global."). A program folder (master,
# smtpd, qmgr, delivery, popd, imapd, admin) may include any lib/ layer and
# its own headers, never another program's. Tests and fuzz targets are not
# checked.
#
# Inside a folder, an optional ORDER file lists its files bottom up, one rank
# per line (files on one line share a rank; '#' starts a comment line): then a
# file may include only the headers of its rank or below, and a .c file may
# call only functions that the .c files of its rank or below define (read from
# the source: a name defined at the left margin, not static, of a file above
# is looked for as NAME( outside comments). Every .c and .h of such a folder
# must be listed. lib/mstore/ORDER is one.
#
# Prints each offence as FILE:LINE: message; exits 1 when there is one.
set -eu
top=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$top"
programs="master smtpd qmgr delivery popd imapd admin"
bad=0

# where_is HEADER - the folder (lib/LAYER or a program folder) that holds it
where_is() {
    for d in lib/*/ $programs; do
        d=${d%/}
        if [ -f "$d/$1" ]; then
            echo "$d"
            return
        fi
    done
}

check_file() { # FILE ALLOWED-FOLDERS
    f=$1 allowed=$2
    grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" |
        sed 's/^\([0-9]*\):.*"\([^"]*\)".*/\1 \2/' |
        while read -r line hdr; do
            home=$(where_is "$hdr")
            [ -n "$home" ] || continue # config.h and the like
            case " $allowed " in
            *" $home "*) ;;
            *)
                echo "$f:$line: includes $home/$hdr, which $(dirname "$f") may not use"
                echo x >>"$tmp"
                ;;
            esac
        done
}

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
for mk in lib/*/Makemodule.am; do
    layer=$(dirname "$mk")
    uses=$(sed -n 's/^## May use: *//p' "$mk" | tr -d ',.')
    if [ -z "$uses" ]; then
        echo "$mk: no '## May use:' line"
        bad=1
        continue
    fi
    allowed="$layer"
    for u in $uses; do
        case "$u" in lib/*) allowed="$allowed $u" ;; esac
    done
    for f in "$layer"/*.c "$layer"/*.h; do
        [ -f "$f" ] && check_file "$f" "$allowed"
    done
done
# rank_in ORDER NAME - the rank (line number among the listing lines) of NAME, or nothing
rank_in() {
    awk -v n="$2" '!/^#/ && NF { r++; for (i = 1; i <= NF; i++) if ($i == n) { print r; exit } }' "$1"
}

# order_includes DIR - each file includes only headers of its rank or below
order_includes() {
    dir=$1 order=$1/ORDER
    for f in "$dir"/*.c "$dir"/*.h; do
        [ -f "$f" ] || continue
        r=$(rank_in "$order" "$(basename "$f")")
        if [ -z "$r" ]; then
            echo "$f: not listed in $order"
            echo x >>"$tmp"
            continue
        fi
        grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" |
            sed 's/^\([0-9]*\):.*"\([^"]*\)".*/\1 \2/' |
            while read -r line hdr; do
                [ -f "$dir/$hdr" ] || continue
                hr=$(rank_in "$order" "$hdr")
                if [ -n "$hr" ] && [ "$hr" -gt "$r" ]; then
                    echo "$f:$line: includes $hdr, which lies above it in $order"
                    echo x >>"$tmp"
                fi
            done
    done
}

# order_calls DIR - no .c file calls a function defined by a .c file above it
order_calls() {
    dir=$1 order=$1/ORDER
    for h in "$dir"/*.c; do
        hr=$(rank_in "$order" "$(basename "$h")")
        [ -n "$hr" ] || continue
        names=$(grep -v '^static' "$h" |
            sed -n 's/^[A-Za-z][^(;=]*[ *]\([A-Za-z_][A-Za-z_0-9]*\)(.*[^;]$/\1/p' |
            sort -u | paste -sd '|' -)
        [ -n "$names" ] || continue
        for l in "$dir"/*.c; do
            lr=$(rank_in "$order" "$(basename "$l")")
            if [ -z "$lr" ] || [ "$lr" -ge "$hr" ]; then
                continue
            fi
            # comments blanked (line numbers kept), then NAME( anywhere
            perl -0pe 's{/\*.*?\*/}{my $c = $&; $c =~ s/[^\n]//g; $c}gse' "$l" |
                grep -nE "(^|[^A-Za-z0-9_])($names)[[:space:]]*\(" |
                while IFS=: read -r line text; do
                    echo "$l:$line: calls a function of $(basename "$h"), which lies above it" \
                        "in $order: $(echo "$text" | sed 's/^[[:space:]]*//')"
                    echo x >>"$tmp"
                done
        done
    done
}

for order in lib/*/ORDER; do
    [ -f "$order" ] || continue
    order_includes "$(dirname "$order")"
    order_calls "$(dirname "$order")"
done

libs=$(for d in lib/*/; do printf '%s ' "${d%/}"; done)
for p in $programs; do
    for f in "$p"/*.c "$p"/*.h; do
        [ -f "$f" ] && check_file "$f" "$p $libs"
    done
done
if [ -s "$tmp" ] || [ "$bad" -ne 0 ]; then
    exit 1
fi
echo "layers: every include goes down or sideways within its folder; where a folder" \
    "has an ORDER, includes and calls go down it"
