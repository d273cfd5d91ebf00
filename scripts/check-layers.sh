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
# checked. Prints each offending include as FILE:LINE: message; exits 1 when
# there is one.
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
libs=$(for d in lib/*/; do printf '%s ' "${d%/}"; done)
for p in $programs; do
    for f in "$p"/*.c "$p"/*.h; do
        [ -f "$f" ] && check_file "$f" "$p $libs"
    done
done
if [ -s "$tmp" ] || [ "$bad" -ne 0 ]; then
    exit 1
fi
echo "layers: every include goes down or sideways within its folder"
