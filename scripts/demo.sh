#!/bin/bash
# mailpulse demo (root, Linux): builds the lab (tests/lab), runs three real scenarios and shows,
# side by side, what really happened and what mailpulse concluded from the router's capture:
#
#   1. a good IMAPS fetch
#   2. a WAN flap (link down 4 s) during a fetch
#   3. a real wrong password (plaintext IMAP, the server says NO [AUTHENTICATIONFAILED])
#
#   scripts/demo.sh                      uses target/release/mailpulse
#   MAILPULSE=path/to/mailpulse scripts/demo.sh
#
# mailpulse reads each capture with `mailpulse replay CAPTURE --json`. The lab is always torn
# down at the end (also on Ctrl-C or failure).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
MAILPULSE=${MAILPULSE:-target/release/mailpulse}
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

# show NAME TITLE: run one scenario, then print ground truth and mailpulse's view.
mismatches=0
show() {
    local name=$1 title=$2 out
    out=$CAPS/$1.replay.jsonl
    echo
    echo "=== $title"
    run_scenario "$name" "$CAPS" 2>"$STATE/out/$name.progress" || true
    printf '  %-22s %s\n' "what really happened:" "$M_WHAT"
    printf '  %-22s exit %s (%s)\n' "client (curl):" "$RC" "$(curl_meaning "$RC")"
    printf '  %-22s %s\n' "server log:" "${M_SERVER_LOG:-(no line)}"
    printf '  %-22s verdict %s, credentials %s\n' "expected:" "$M_VERDICT" "$M_CRED"
    if ! timeout 60 "$MP" replay "$CAPS/$name.pcap" --json >"$out" 2>"$out.err"; then
        printf '  %-22s replay FAILED: %s\n' "mailpulse:" "$(head -c 400 "$out.err")"
        mismatches=$((mismatches + 1)); return
    fi
    local sessions
    sessions=$(jq -c --arg port "$M_PORT" 'select(.type == "session" and ((.server_port|tostring) == $port))' "$out")
    if [[ -z $sessions ]]; then
        printf '  %-22s no session to port %s in its output\n' "mailpulse:" "$M_PORT"
        mismatches=$((mismatches + 1)); return
    fi
    local s verdict
    while read -r s; do
        verdict=$(jq -r .verdict <<<"$s")
        printf '  %-22s verdict %s, credentials %s (%s -> %s:%s, server name %s)\n' "mailpulse concluded:" \
            "$verdict" "$(jq -r .credentials <<<"$s")" "$(jq -r .client <<<"$s")" \
            "$(jq -r .server <<<"$s")" "$(jq -r .server_port <<<"$s")" "$(jq -r '.server_name // "?"' <<<"$s")"
        jq -r '.evidence[]? | "                         - " + .' <<<"$s"
        if [[ $verdict == "$M_VERDICT" ]]; then echo "  => agrees with what happened"
        else echo "  => DIFFERS from what happened (expected $M_VERDICT)"; mismatches=$((mismatches + 1)); fi
    done <<<"$sessions"
}

say "building the lab (network namespaces mpl-*, dovecot, unbound, a router with NAT)"
lab_up
CAPS=$STATE/demo
mkdir -p "$CAPS" "$STATE/out"
show imaps-good "1. A good IMAPS fetch (correct password)"
show imaps-wan-flap "2. The WAN link flaps (down 4 s) while a fetch is running"
show imap-wrong-password "3. A real wrong password (plaintext IMAP on port 143)"
echo
if ((mismatches)); then echo "demo: mailpulse disagreed with the ground truth $mismatches time(s)"; exit 1; fi
echo "demo: mailpulse agreed with the ground truth in all three scenarios"
