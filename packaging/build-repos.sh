#!/bin/sh
# Builds the FreeBSD packages and one pkg(8) repository per ABI:
#   OUT/<ABI>/All/mailpulse-<version>.pkg      the daemon (packaging/freebsd/build-pkg.py)
#   OUT/<ABI>/All/os-mailpulse-<version>.pkg   the OPNsense plugin (packaging/opnsense/build-plugin.py)
#   OUT/<ABI>/{meta.conf,packagesite.pkg,data.pkg}   the catalogue (packaging/freebsd/build-repo.py)
# A firewall's /usr/local/etc/pkg/repos/mailpulse.conf points at OUT/${ABI}
# (packaging/freebsd/mailpulse.conf; docs/install.md).
#
# Usage: packaging/build-repos.sh BINARY OUT [ABI...]
#   BINARY  mailpulse cross-built for FreeBSD (scripts/build-freebsd.sh); the same binary
#           serves every FreeBSD major of one architecture (docs/freebsd-abi.md)
#   ABI     default: FreeBSD:14:amd64 FreeBSD:15:amd64
set -eu

[ $# -ge 2 ] || { echo "usage: $0 BINARY OUT [ABI...]" >&2; exit 64; }
binary=$1
out=$2
shift 2
[ $# -gt 0 ] || set -- FreeBSD:14:amd64 FreeBSD:15:amd64

here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-python3}

for abi in "$@"; do
	stage=$(mktemp -d)
	"$python" "$here/freebsd/build-pkg.py" "$binary" --out "$stage" --abi "$abi" >/dev/null
	"$python" "$here/opnsense/build-plugin.py" --out "$stage" --abi "$abi" >/dev/null
	rm -rf "$out/$abi"
	"$python" "$here/freebsd/build-repo.py" --out "$out/$abi" "$stage"/*.pkg
	rm -rf "$stage"
done
