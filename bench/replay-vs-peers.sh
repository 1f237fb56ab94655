#!/bin/sh
# Compare `mailpulse replay --json` with tcpdump and tshark reading the same capture.
#
#   bench/replay-vs-peers.sh [CAPTURE]        (default: /tmp/mailpulse-bench.pcap, made by
#                                              bench/gen-capture.py when missing)
#   RUNS=5 bench/replay-vs-peers.sh           runs per tool (default 5; tshark: TSHARK_RUNS, 3)
#
# tcpdump and replay runs alternate. Prints, per tool, the median wall time over the runs, packets/s, and peak RSS (from
# /usr/bin/time -v), then the ratios the targets are stated in: replay >= 50 % of tcpdump's
# packet rate, >= 30x tshark's, RSS < 64 MB. Uses the release build (built when missing).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
capture=${1:-/tmp/mailpulse-bench.pcap}
runs=${RUNS:-5}
tshark_runs=${TSHARK_RUNS:-3}
bin=$root/target/release/mailpulse

need() { command -v "$1" >/dev/null 2>&1 || { echo "replay-vs-peers: $1 is required" >&2; exit 69; }; }
need tcpdump
need tshark
need capinfos
need python3
[ -x /usr/bin/time ] || { echo "replay-vs-peers: /usr/bin/time (GNU time) is required" >&2; exit 69; }

if [ ! -f "$capture" ]; then
    python3 "$here/gen-capture.py" "$capture"
fi
if [ ! -x "$bin" ]; then
    (cd "$root" && cargo build --release --bin mailpulse)
fi
"$bin" replay "$capture" --json >/dev/null || { echo "replay-vs-peers: mailpulse replay failed on $capture" >&2; exit 70; }

packets=$(capinfos -c -M "$capture" | awk -F': *' '/Number of packets/ {print $2}')
echo "capture: $capture ($packets packets, $(du -h "$capture" | cut -f1))"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# once NAME COMMAND...: appends one "seconds max_rss_kb" line to $tmp/NAME
once() {
    name=$1; shift
    /usr/bin/time -v -o "$tmp/$name.time" "$@" >/dev/null 2>"$tmp/$name.err" || {
        echo "replay-vs-peers: $name failed:" >&2; cat "$tmp/$name.err" >&2; exit 70; }
    awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, p, ":"); s = 0;
                    for (j = 1; j <= n; j++) s = s * 60 + p[j]; secs = s}
                /Maximum resident set size/ {rss = $2}
                END {print secs, rss}' "$tmp/$name.time" >> "$tmp/$name"
}

median() { sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

# tcpdump and replay alternate, so a change in the machine's load hits both alike.
: > "$tmp/tcpdump"; : > "$tmp/mailpulse"; : > "$tmp/tshark"
i=0
while [ "$i" -lt "$runs" ]; do
    once tcpdump tcpdump -r "$capture" -w /dev/null
    once mailpulse "$bin" replay "$capture" --json
    i=$((i + 1))
done
i=0
while [ "$i" -lt "$tshark_runs" ]; do
    once tshark tshark -r "$capture" -T fields -e tls.handshake.extensions_server_name
    i=$((i + 1))
done

printf '%-10s %5s %10s %14s %10s\n' tool runs median_s packets/s peak_rss_MB
for tool in tcpdump tshark mailpulse; do
    secs=$(cut -d' ' -f1 "$tmp/$tool" | median)
    rss=$(cut -d' ' -f2 "$tmp/$tool" | sort -n | tail -1)
    pps=$(awk -v p="$packets" -v s="$secs" 'BEGIN {printf "%.0f", (s > 0) ? p / s : 0}')
    printf '%-10s %5s %10s %14s %10.1f\n' "$tool" "$(wc -l < "$tmp/$tool")" "$secs" "$pps" "$(awk -v r="$rss" 'BEGIN {print r / 1024}')"
    eval "pps_$tool=$pps; rss_$tool=$rss"
done
awk -v m="$pps_mailpulse" -v d="$pps_tcpdump" -v t="$pps_tshark" -v r="$rss_mailpulse" 'BEGIN {
    printf "replay / tcpdump packet rate: %.0f %%  (target >= 50 %%)\n", 100 * m / d
    printf "replay / tshark packet rate:  %.1fx  (target >= 30x)\n", m / t
    printf "replay peak RSS:              %.1f MB (target < 64 MB)\n", r / 1024
}'
