#!/bin/bash
# Fault and load checks against the real daemon (issue 7 §2).
#   tests/robust/run.sh [--short] [--keep] [CHECK...]
# Needs root, iproute2, hping3, dovecot (imapd), openssl, python3 (3.9+).
# The daemon is $MAILPULSE or target/debug/mailpulse. Namespaces are named mpr-* and removed
# on exit. Prints PASS/FAIL per check and "N passed, N failed" last; exits 1 on any failure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
command -v python3 >/dev/null || { echo "FAIL prerequisites: python3 missing"; echo "0 passed, 1 failed"; exit 1; }
exec python3 "$here/run.py" "$@"
