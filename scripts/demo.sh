#!/bin/bash
# mailpulse demo (root, Debian 12): installs what is missing, builds mailpulse, builds the lab
# (tests/lab), starts the real mailpulse daemon in the lab's router, runs three real scenarios
# and shows, side by side, what really happened and the event the daemon reported (over its
# control socket; the same line went to syslog):
#
#   1. a good IMAPS fetch
#   2. a WAN flap (link down 4 s) during a fetch
#   3. a real wrong password (plaintext IMAP, the server says NO [AUTHENTICATIONFAILED])
#
#   scripts/demo.sh               install (the lab's Debian packages, Rust), cargo build --release,
#                                 then the demo
#   scripts/demo.sh --no-install  install nothing; build if cargo is there, else use
#                                 target/release/mailpulse or target/debug/mailpulse
#   MAILPULSE=path/to/mailpulse scripts/demo.sh   use that binary, build nothing
#
# The first run on a fresh machine spends several minutes installing and building; after that
# the demo itself takes about a minute. The lab is always torn down at the end (also on Ctrl-C
# or failure).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)

install=1
for arg in "$@"; do
    case $arg in
    --no-install) install=0 ;;
    -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "demo: unknown argument: $arg (see scripts/demo.sh --help)" >&2; exit 64 ;;
    esac
done
[[ $(id -u) == 0 ]] || { echo "demo: run as root (apt, network namespaces)" >&2; exit 1; }

# shellcheck source=scripts/lib/install.sh
source "$REPO/scripts/lib/install.sh"
if ((install)); then
    install_for_demo || { echo "demo: installing the prerequisites failed" >&2; exit 1; }
fi
if [[ -z ${MAILPULSE:-} ]]; then
    if command -v cargo >/dev/null; then
        # Quick when the binary is up to date; a few minutes the first time.
        echo "demo: cargo build --release" >&2
        (cd "$REPO" && cargo build --release --locked --quiet)
    fi
    MAILPULSE=target/release/mailpulse
    [[ -x $REPO/$MAILPULSE ]] || MAILPULSE=target/debug/mailpulse
fi
MP=$MAILPULSE
[[ $MP == /* ]] || MP=$REPO/$MP
if [[ ! -x $MP ]]; then
    echo "demo: mailpulse binary not found at $MAILPULSE" >&2
    echo "demo: build it first (cargo build --release) or set MAILPULSE=/path/to/mailpulse" >&2
    exit 1
fi

source "$REPO/tests/lab/lib.sh"
source "$REPO/tests/lab/net.sh"
source "$REPO/tests/lab/servers.sh"
source "$REPO/tests/lab/faults.sh"
source "$REPO/tests/lab/scenarios.sh"
source "$REPO/tests/lab/live.sh"

require_tools
trap 'lab_down' EXIT
trap 'exit 130' INT TERM

curl_meaning() {
    case $1 in
    0) echo "fetch completed" ;; 6) echo "could not resolve the host" ;;
    7) echo "could not connect" ;; 28) echo "timed out / stalled" ;;
    35) echo "TLS handshake failed" ;; 56) echo "connection reset" ;;
    67) echo "login denied by the server" ;; *) echo "see curl(1)" ;;
    esac
}

# show NAME TITLE: run one scenario with the daemon watching, then print ground truth and the
# daemon's events about the client.
mismatches=0
show() {
    local name=$1 title=$2 since
    echo
    echo "=== $title"
    since=$(now_epoch)
    run_scenario "$name" "$CAPS" 2>"$STATE/out/$name.progress" || true
    local agrees=1
    live_check "$name" "$since" 2>"$STATE/out/$name.explain" || agrees=0
    printf '  %-22s %s\n' "what really happened:" "$M_WHAT"
    printf '  %-22s exit %s (%s)\n' "client (curl):" "$RC" "$(curl_meaning "$RC")"
    printf '  %-22s %s\n' "server log:" "${M_SERVER_LOG:-(no line)}"
    printf '  %-22s verdict %s, credentials %s\n' "expected:" "$M_VERDICT" "$M_CRED"
    local shown=0 e
    while read -r e; do
        [[ -n $e ]] || continue
        shown=1
        printf '  %-22s verdict %s, credentials %s\n' "mailpulse daemon said:" \
            "$(jq -r '.verdict // "-"' <<<"$e")" "$(jq -r '.credentials // "-"' <<<"$e")"
        printf '  %-22s "%s"\n' "" "$(jq -r .message <<<"$e")"
        jq -r '.evidence[]? | "                         - " + .' <<<"$e"
    done < <(jq -c --argjson since "$since" --arg client "$M_CLIENT" \
        'select(.seen >= $since and .event.client == $client and .event.session != null) | .event' \
        "$LIVE_DIR/events.jsonl")
    ((shown)) || printf '  %-22s no session event for %s\n' "mailpulse daemon said:" "$M_CLIENT"
    if ((agrees)); then
        echo "  => agrees with what happened (${LIVE_MSG#live: })"
    else
        echo "  => DIFFERS from what happened: ${LIVE_MSG#live: }"
        sed 's/^/  /' "$STATE/out/$name.explain"
        mismatches=$((mismatches + 1))
    fi
}

say "building the lab (network namespaces mpl-*, dovecot, unbound, a router with NAT)"
lab_up
CAPS=$STATE/demo
mkdir -p "$CAPS" "$STATE/out"
say "starting mailpulse daemon in the router (config $LIVE_CONF)"
live_start "$MP"
show imaps-good "1. A good IMAPS fetch (correct password)"
show imaps-wan-flap "2. The WAN link flaps (down 4 s) while a fetch is running"
show imap-wrong-password "3. A real wrong password (plaintext IMAP on port 143)"
echo
echo "syslog lines the daemon sent during the demo:"
jq -r '.line' "$LIVE_DIR/syslog.jsonl" | grep -E 'client=' | sed 's/^/  /' || true
live_stop
echo
if ((mismatches)); then echo "demo: the daemon disagreed with the ground truth $mismatches time(s)"; exit 1; fi
echo "demo: the daemon agreed with the ground truth in all three scenarios"
