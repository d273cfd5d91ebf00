#!/bin/sh
# deps.sh - install the Debian 12 packages Petrel needs to build (and test).
#
#   scripts/deps.sh          build dependencies
#   scripts/deps.sh --test   build and test dependencies
#   scripts/deps.sh --list [--test]   print the package names, one per line
#
# As root, missing packages are installed with apt-get; as an ordinary user
# the script only checks and names what is missing. Every program a test runs
# comes from this list: a bare Debian 12 has none of them.
#
# Test packages, and why each is there:
#   libcmocka-dev            C unit tests
#   python3 python3-pytest   end-to-end tests (smtplib, poplib, imaplib, ssl)
#   curl swaks fetchmail isync   independent SMTP/POP3/IMAP clients
#   libnet-ssleay-perl libio-socket-ssl-perl   swaks's TLS (recommends only)
#   dnsmasq-base             a real DNS server for MX tests
#   postfix                  smtp-sink, a real SMTP peer for the smtp client;
#                            installed with debconf's "No configuration", so
#                            no system Postfix is configured or started
#   clang                    libFuzzer targets (tests/fuzz), run briefly by CI
#   libclang-rt-14-dev       clang's sanitizer and libFuzzer runtimes
#   iproute2                 ss: which process serves a connection (imapd cost tests)
#   clang-format             scripts/check-format.sh (clang-format 14, as .clang-format expects)
#   git                      scripts/check-dist.sh compares the tarball with git ls-files
set -eu

BUILD_PKGS="gcc make autoconf automake pkg-config libc6-dev libdb5.3-dev libssl-dev libcrypt-dev openssl"
TEST_PKGS="libcmocka-dev python3 python3-pytest curl swaks libnet-ssleay-perl libio-socket-ssl-perl dnsmasq-base fetchmail isync postfix clang libclang-rt-14-dev iproute2 strace clang-format git"

list=0
[ "${1:-}" = "--list" ] && { list=1; shift; }
pkgs=$BUILD_PKGS
[ "${1:-}" = "--test" ] && pkgs="$pkgs $TEST_PKGS"
if [ "$list" -eq 1 ]; then
    for p in $pkgs; do echo "$p"; done
    exit 0
fi

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
case " $missing " in
*" postfix "*)
    # Only smtp-sink is wanted: no mail system is configured or started.
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections ;;
esac
apt-get -o DPkg::Lock::Timeout=300 update -qq
# shellcheck disable=SC2086
apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends $missing >/dev/null
