#!/bin/bash
# The browser test end to end: installs what is missing (Debian's chromium with apt, the npm
# packages of tests/browser with `npm ci`), builds the live lab with the real daemon
# (live-daemon.sh), runs test.mjs against it in headless Chromium, tears everything down.
# Last line: "N passed, N failed"; exit status non-zero on any failure or missing prerequisite.
# Run as root. The daemon binary: $MAILPULSE, else target/debug/mailpulse (`cargo build`).
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
export MAILPULSE=${MAILPULSE:-$ROOT/target/debug/mailpulse}

fail() {
    echo "run.sh: $*"
    echo "0 passed, 1 failed"
    exit 1
}

[[ $(id -u) == 0 ]] || fail "must run as root (network namespaces, apt)"
command -v node >/dev/null || fail "missing prerequisite: node (Debian package nodejs)"
command -v npm >/dev/null || fail "missing prerequisite: npm (Debian package npm)"
command -v python3 >/dev/null || fail "missing prerequisite: python3"
[[ -x $MAILPULSE ]] || fail "missing prerequisite: the mailpulse binary $MAILPULSE (cargo build, or set MAILPULSE)"

if [[ ! -x /usr/bin/chromium ]]; then
    echo "run.sh: installing chromium with apt" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y chromium >/dev/null 2>&1 ||
        fail "missing prerequisite: chromium (apt-get install -y chromium failed)"
fi

# npm ci when node_modules is missing or older than the lock file.
if [[ ! -f $HERE/node_modules/.package-lock.json || $HERE/package-lock.json -nt $HERE/node_modules/.package-lock.json ]]; then
    echo "run.sh: npm ci in tests/browser" >&2
    (cd "$HERE" && npm ci --no-audit --no-fund >/dev/null 2>&1) ||
        fail "missing prerequisite: npm packages of tests/browser (npm ci failed)"
fi

out=$(mktemp /tmp/mpb-run.XXXXXX)
trap 'rm -f "$out"' EXIT
# live-daemon.sh removes its namespaces and processes on every exit path.
timeout -k 10 110 "$HERE/live-daemon.sh" -- node "$HERE/test.mjs" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
last=$(tail -n 1 "$out")
if ! [[ $last =~ ^[0-9]+\ passed,\ [0-9]+\ failed$ ]]; then
    # The lab or the daemon failed before the test could run (its reason is above).
    [[ $rc == 124 ]] && echo "run.sh: timed out after 110 s"
    echo "0 passed, 1 failed"
    exit 1
fi
[[ $rc == 0 ]] || exit 1
[[ $last =~ ^[0-9]+\ passed,\ 0\ failed$ ]] || exit 1
exit 0
