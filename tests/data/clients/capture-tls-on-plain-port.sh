#!/bin/bash
# Captures a client set to SSL/TLS on the plaintext IMAP port (curl imaps:// to port 143)
# against the lab's dovecot (root, Linux; hold the lab lock:
# flock /tmp/mpl-lab.lock tests/data/clients/capture-tls-on-plain-port.sh OUTDIR).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
LAB=$HERE/../../lab/lab
OUT=${1:?outdir}; mkdir -p "$OUT"
STATE=${MPL_STATE:-/tmp/mpl-lab}
command -v tcpdump >/dev/null || { echo "missing: tcpdump" >&2; exit 1; }
command -v curl >/dev/null || { echo "missing: curl" >&2; exit 1; }
"$LAB" up
trap '"$LAB" down' EXIT
pcap=$OUT/imap-tls-on-plain-port.pcap
before=$(wc -l <"$STATE/dovecot-main.log")
ip netns exec mpl-rtr tcpdump -i lan0 -n -U --immediate-mode -s 0 -w "$pcap" \
    'port 143 or port 993 or port 110 or port 995 or port 587 or port 465 or port 53' \
    2>/dev/null & td=$!
sleep 1
set +e
ip netns exec mpl-cli curl --cacert "$STATE/pki/ca.crt" -4 -sS -m 20 \
    -u alice:Correct-Horse-77 'imaps://imap.mail.test:143/' -o /dev/null
echo "client exit $?"
set -e
sleep 1; kill -INT $td; wait $td || true
tail -n +$((before + 1)) "$STATE/dovecot-main.log" || true
