#!/bin/bash
# Captures Python standard-library mail clients against the lab's dovecot (root, Linux; hold
# the lab lock: flock /tmp/mpl-lab.lock tests/data/clients/capture-stdlib.sh OUTDIR).
# Same capture point and filter as tests/lab/capture-fixtures; prints the dovecot log lines the
# sessions produced (the ground truth).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
LAB=$HERE/../../lab/lab
OUT=${1:?outdir}; mkdir -p "$OUT"
STATE=${MPL_STATE:-/tmp/mpl-lab}
command -v tcpdump >/dev/null || { echo "missing: tcpdump" >&2; exit 1; }
[[ -x /usr/bin/python3 ]] || { echo "missing: python3" >&2; exit 1; }
"$LAB" up
trap '"$LAB" down' EXIT
run() { # run NAME PROTO HOST PASSWORD ATTEMPTS PAUSE
    local name=$1 pcap=$OUT/$1.pcap before
    before=$(wc -l <"$STATE/dovecot-main.log")
    ip netns exec mpl-rtr tcpdump -i lan0 -n -U --immediate-mode -s 0 -w "$pcap" \
        'port 143 or port 993 or port 110 or port 995 or port 587 or port 465 or port 53' \
        2>/dev/null & local td=$!
    sleep 1
    set +e
    ip netns exec mpl-cli /usr/bin/python3 "$HERE/imaplib-retry.py" "$2" "$3" alice "$4" \
        "$STATE/pki/ca.crt" "$5" "$6"
    echo "$name: client exit $?"
    set -e
    sleep 0.5; kill -INT $td; wait $td || true
    tail -n +$((before + 1)) "$STATE/dovecot-main.log" | grep -E 'Login|auth failed|Disconnected' || true
}
# Good first: dovecot delays logins from an address that failed recently (auth penalty).
run imaps-imaplib-good imaps imap.mail.test Correct-Horse-77 1 0
run imaps-imaplib-wrong-password imaps imap.mail.test not-the-password 3 3
run pop3s-poplib-wrong-password pop3s pop.mail.test not-the-password 3 3
