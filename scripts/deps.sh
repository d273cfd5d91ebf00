#!/bin/sh
# deps.sh - install the Debian 12 packages Petrel needs to build (and test).
#
#   scripts/deps.sh          build dependencies
#   scripts/deps.sh --test   build and test dependencies
#
# As root, missing packages are installed with apt-get; as an ordinary user
# the script only checks and names what is missing.
set -eu

BUILD_PKGS="gcc make autoconf automake pkg-config libc6-dev libdb5.3-dev libssl-dev libcrypt-dev openssl"
TEST_PKGS="libcmocka-dev python3 python3-pytest curl swaks dnsmasq-base fetchmail isync"

pkgs=$BUILD_PKGS
[ "${1:-}" = "--test" ] && pkgs="$pkgs $TEST_PKGS"

missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "deps.sh: missing Debian packages:$missing" >&2
    echo "deps.sh: install them as root: apt-get install -y$missing" >&2
    exit 1
fi
echo "deps.sh: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=300 update -qq
# shellcheck disable=SC2086
apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends $missing >/dev/null
