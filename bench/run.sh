#!/usr/bin/env bash
# mailpulse measured side by side with its peers (tcpdump, tshark, curl, openssl), every peer
# measured in the same run on the same machine. Prints a Markdown table
# (metric | mailpulse | peer | ratio | target | met?) and the machine it ran on.
#
# Usage: bench/run.sh [--quick] [--only SECTIONS] [--out FILE]
#   --quick     CI-sized smoke run (under 3 minutes): smaller captures, fewer rounds, shorter
#               windows. Numbers are noisier; the full run is the one to quote.
#   --only      comma-separated subset of: replay,live,latency,probe,footprint,soak,size,hostile
#               (REPLAY_CAPS="mix-dns 1000000" limits replay to the listed "profile packets")
#   --out FILE  also write the report to FILE
#
# Needs root (network namespaces, AF_PACKET). Builds the release binary once if it is missing
# (override with MAILPULSE=/path/to/mailpulse). Every network packet stays inside the two
# namespaces it creates (mpx-cli, mpx-rtr; LAB_PREFIX=mph makes them mph-*), which are removed
# on exit, even on failure. MPX_WORKDIR sets the scratch directory (emptied at start).
# Exits non-zero when a measurement could not be made (its row says MISSING and why); a missed
# target is reported in the table, not as a failure of the harness.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$BENCH_DIR/.." && pwd)
# shellcheck source=bench/lib/common.sh
source "$BENCH_DIR/lib/common.sh"
# shellcheck source=bench/lib/lab.sh
source "$BENCH_DIR/lib/lab.sh"
# shellcheck source=bench/lib/sections.sh
source "$BENCH_DIR/lib/sections.sh"
# shellcheck source=bench/lib/hostile.sh
source "$BENCH_DIR/lib/hostile.sh"

QUICK=0
ONLY="replay,live,latency,probe,footprint,soak,size,hostile"
OUT=""
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1; shift ;;
        --only) ONLY="${2:?--only needs a list}"; shift 2 ;;
        --only=*) ONLY="${1#--only=}"; shift ;;
        --out) OUT="${2:?--out needs a file}"; shift 2 ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "bench/run.sh: unknown argument: $1" >&2; exit 64 ;;
    esac
done
wants() { [[ ",$ONLY," == *",$1,"* ]]; }

[[ $(id -u) == 0 ]] || die "bench/run.sh needs root (network namespaces and packet capture)"
need /usr/bin/time time
need python3 python3
need tcpdump tcpdump
need tshark tshark
need capinfos wireshark-common

W=${MPX_WORKDIR:-/tmp/mpx-bench}
rm -rf "$W"
mkdir -p "$W"
RESULTS_ROWS=$W/rows.md
RESULTS_NOTES=$W/notes.md
: >"$RESULTS_ROWS"
: >"$RESULTS_NOTES"
FAILED=0
trap 'lab_down' EXIT
trap 'exit 130' INT TERM

MAILPULSE=${MAILPULSE:-$REPO_DIR/target/release/mailpulse}
if [[ ! -x $MAILPULSE ]]; then
    say "no release binary at $MAILPULSE: cargo build --release (a few minutes)"
    (cd "$REPO_DIR" && cargo build --release) >&2
fi
[[ -x $MAILPULSE ]] || die "no mailpulse binary at $MAILPULSE"

STARTED=$(date -u +%Y-%m-%dT%H:%M:%SZ)
T0=$SECONDS
LOAD_AT_START=$(cut -d" " -f1-3 /proc/loadavg)
say "mode: $([[ $QUICK == 1 ]] && echo quick || echo full); sections: $ONLY; workdir $W"

wants replay && bench_replay
if wants live || wants latency || wants probe || wants footprint; then
    lab_up
    wants live && bench_live
    wants latency && bench_latency
    wants probe && bench_probe
    wants footprint && bench_footprint
    lab_down
fi
wants hostile && bench_hostile
wants soak && bench_soak
wants size && bench_size

report() {
    echo "# mailpulse benchmarks"
    echo
    echo "- date: $STARTED (run took $((SECONDS - T0)) s, mode $([[ $QUICK == 1 ]] && echo quick || echo full))"
    echo "- machine: $(nproc) CPUs, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)," \
        "$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM," \
        "load average at start $LOAD_AT_START"
    echo "- kernel: $(uname -srm); $(. /etc/os-release && echo "$PRETTY_NAME")"
    echo "- mailpulse: $("$MAILPULSE" --version 2>/dev/null || echo '?') ($(cd "$REPO_DIR" && git rev-parse --short HEAD 2>/dev/null || echo '?'))," \
        "peers: tcpdump $(tcpdump --version 2>&1 | awk 'NR==1 {print $3}'), tshark $(tshark --version 2>/dev/null | awk 'NR==1 {print $3}')," \
        "curl $(curl --version | awk 'NR==1 {print $2}'), $(openssl version | awk '{print $1, $2}')"
    echo
    echo "| metric | mailpulse | peer | ratio | target | met? |"
    echo "|---|---|---|---|---|---|"
    cat "$RESULTS_ROWS"
    echo
    echo "Notes:"
    echo
    cat "$RESULTS_NOTES"
    [[ -f $W/appendix.md ]] && cat "$W/appendix.md"
    return 0
}
report | tee "${OUT:-/dev/null}"
if ((FAILED > 0)); then
    say "$FAILED measurement(s) could not be made: see the rows marked MISSING"
    exit 1
fi
