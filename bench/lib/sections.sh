# shellcheck shell=bash
# The measurements of bench/run.sh, one function per section. Sourced after common.sh and
# lab.sh; each section adds rows (row/fail_row) and notes.

# ---------------------------------------------------------------------------------------------
# Capture generator: bench/gen-capture.py (branch `wire`), which clones the lab's real IMAPS
# session (tests/data/imaps-good.pcap: curl <-> dovecot) with a new client address and port per
# clone, one clone every --step-ms. The one place that knows its command line:
#   gen-capture.py [--packets N] [--source PCAP] [--step-ms MS] OUT
# It has one profile: short IMAPS sessions (it keeps only the source's TCP port-993 packets).
find_generator() {
    local c
    for c in "${GEN_CAPTURE:-}" "$BENCH_DIR/gen-capture.py"; do
        [[ -n $c && -f $c ]] && { echo "$c"; return 0; }
    done
    return 1
}
GEN_MISSING="the capture generator bench/gen-capture.py (branch wire) is missing (git merge wire, or set GEN_CAPTURE=PATH)"
# Packets per cloned session: the source's port-993 packets.
GEN_SOURCE=${GEN_SOURCE:-$REPO_DIR/tests/data/imaps-good.pcap}

# gen_capture PACKETS OUT [SPAN_SECONDS]: PACKETS packets of short IMAPS sessions; with a span,
# the clones are spread evenly over SPAN_SECONDS of capture time.
gen_capture() {
    local gen packets=$1 out=$2 span=${3:-} step=()
    gen=$(find_generator) || { say "$GEN_MISSING"; return 1; }
    if [[ -n $span ]]; then
        local per
        per=$(tcpdump -r "$GEN_SOURCE" 'tcp port 993' 2>/dev/null | wc -l)
        ((per > 0)) || { say "no port-993 packets in $GEN_SOURCE"; return 1; }
        step=(--step-ms "$(calc "$span * 1000 / ($packets / $per)")")
    fi
    say "generating $packets packets of short IMAPS sessions${span:+ over $span s} -> $out"
    python3 "$gen" --packets "$packets" --source "$GEN_SOURCE" "${step[@]}" "$out" >&2 ||
        { say "generator failed: $gen --packets $packets ${step[*]} $out"; return 1; }
    [[ -s $out ]] || { say "generator wrote nothing to $out"; return 1; }
}

# gen_profile PROFILE PACKETS OUT: short-imaps from gen-capture.py; idle and mix-dns from
# tools/gen_profiles.py, which clones other lab captures with gen-capture.py's own helpers.
gen_profile() {
    local profile=$1 packets=$2 out=$3
    case $profile in
        short-imaps) gen_capture "$packets" "$out" ;;
        idle | mix-dns)
            find_generator >/dev/null || { say "$GEN_MISSING"; return 1; }
            say "generating $packets packets ($profile) -> $out"
            GEN_CAPTURE_PY=$(find_generator) python3 "$BENCH_DIR/tools/gen_profiles.py" \
                --profile "$profile" --packets "$packets" "$out" >&2 && [[ -s $out ]]
            ;;
        *) say "unknown capture profile $profile"; return 1 ;;
    esac
}

packets_in() { capinfos -M -T -r -c "$1" | awk -F'\t' '{print $2}'; }

# ---------------------------------------------------------------------------------------------
# Replay throughput: mailpulse replay vs tcpdump -r -w /dev/null vs tshark (SNI fields, conv,tcp)
bench_replay() {
    say "== replay throughput"
    if ! find_generator >/dev/null; then
        fail_row "replay throughput (packets/s)" "$GEN_MISSING"
        return 0
    fi
    local runs tshark_runs caps=()
    if [[ $QUICK == 1 ]]; then
        runs=3; tshark_runs=1
        caps=("short-imaps 200000" "mix-dns 100000")
    else
        runs=5; tshark_runs=1
        caps=("short-imaps 1000000" "idle 1000000" "mix-dns 1000000" "short-imaps 10000000")
    fi
    # REPLAY_CAPS="mix-dns 1000000[,profile packets…]": only these captures.
    [[ -n ${REPLAY_CAPS:-} ]] && IFS=, read -r -a caps <<<"$REPLAY_CAPS"
    local spec profile n f label
    for spec in "${caps[@]}"; do
        read -r profile n <<<"$spec"
        f=$W/replay-$profile-$n.pcap
        label="$(awk -v n="$n" 'BEGIN { if (n >= 1e6) printf "%g M", n/1e6; else printf "%g k", n/1e3 }') $profile"
        if ! gen_profile "$profile" "$n" "$f"; then
            fail_row "replay $label (packets/s)" "bench/gen-capture failed for profile $profile"
            continue
        fi
        replay_one "$f" "$label" "$runs" "$([[ $n -le 1000000 ]] && echo "$tshark_runs" || echo 0)"
        # The wire branch's own comparison, run once on the same file as a cross-check.
        if [[ $QUICK == 0 && $n == 1000000 && $profile == short-imaps && -f $BENCH_DIR/replay-vs-peers.sh ]]; then
            say "cross-check: bench/replay-vs-peers.sh on the same capture"
            {
                echo
                echo "## Cross-check: bench/replay-vs-peers.sh on the $label capture"
                echo
                echo '```'
                RUNS=$runs TSHARK_RUNS=1 timeout 900 sh "$BENCH_DIR/replay-vs-peers.sh" "$f" 2>&1 | tail -12 || true
                echo '```'
            } >>"$W/appendix.md"
        fi
        rm -f "$f"
    done
}

# replay_one FILE LABEL RUNS TSHARK_RUNS
replay_one() {
    local f=$1 label=$2 runs=$3 tshark_runs=$4 pk i
    pk=$(packets_in "$f")
    cat "$f" >/dev/null # page cache: every tool reads from memory
    local mp_wall=() mp_rss=() td_wall=() td_rss=() sni_wall=() sni_rss=() conv_wall=() conv_rss=()
    for ((i = 0; i < runs; i++)); do
        timed "$W/t.mp" "$MAILPULSE" replay "$f" --json || { fail_row "replay $label" "mailpulse replay failed"; return 0; }
        mp_wall+=("$(wall_s_of "$W/t.mp")"); mp_rss+=("$(peak_rss_kb_of "$W/t.mp")")
        timed "$W/t.td" tcpdump -r "$f" -w /dev/null || { fail_row "replay $label" "tcpdump -r failed"; return 0; }
        td_wall+=("$(wall_s_of "$W/t.td")"); td_rss+=("$(peak_rss_kb_of "$W/t.td")")
    done
    for ((i = 0; i < tshark_runs; i++)); do
        timed "$W/t.sni" tshark -r "$f" -Y 'tls.handshake.type == 1' -T fields \
            -e tls.handshake.extensions_server_name || { fail_row "replay $label" "tshark -T fields failed"; return 0; }
        sni_wall+=("$(wall_s_of "$W/t.sni")"); sni_rss+=("$(peak_rss_kb_of "$W/t.sni")")
        timed "$W/t.conv" tshark -r "$f" -q -z conv,tcp || { fail_row "replay $label" "tshark -z conv,tcp failed"; return 0; }
        conv_wall+=("$(wall_s_of "$W/t.conv")"); conv_rss+=("$(peak_rss_kb_of "$W/t.conv")")
    done
    local mp td mpr tdr
    mp=$(calc "$pk / $(median "${mp_wall[@]}")"); td=$(calc "$pk / $(median "${td_wall[@]}")")
    mpr=$(median "${mp_rss[@]}"); tdr=$(median "${td_rss[@]}")
    local r
    r=$(ratio "$mp" "$td")
    row "replay $label: packets/s vs tcpdump -r -w /dev/null" "$mp" "$td" "$r" "≥ 0.5" "$(met "$r" ">=" 0.5)"
    if ((tshark_runs > 0)); then
        local sni conv
        sni=$(calc "$pk / $(median "${sni_wall[@]}")"); conv=$(calc "$pk / $(median "${conv_wall[@]}")")
        r=$(ratio "$mp" "$sni")
        row "replay $label: packets/s vs tshark -T fields (SNI)" "$mp" "$sni" "$r" "≥ 30" "$(met "$r" ">=" 30)"
        r=$(ratio "$mp" "$conv")
        row "replay $label: packets/s vs tshark -z conv,tcp" "$mp" "$conv" "$r" "≥ 30" "$(met "$r" ">=" 30)"
        row "replay $label: peak RSS MB vs tshark -T fields" "$(mb "$mpr")" "$(mb "$(median "${sni_rss[@]}")")" \
            "$(ratio "$mpr" "$(median "${sni_rss[@]}")")" "" ""
    fi
    row "replay $label: peak RSS MB vs tcpdump" "$(mb "$mpr")" "$(mb "$tdr")" "$(ratio "$mpr" "$tdr")" "" ""
    # Each mailpulse run is followed at once by a tcpdump run; the ratio per pair is less
    # exposed to load that changes during the section than the ratio of medians.
    local paired=()
    for ((i = 0; i < runs; i++)); do paired+=("$(calc "${td_wall[i]} / ${mp_wall[i]}")"); done
    note "replay $label: mailpulse/tcpdump packet-rate ratio per adjacent pair of runs: ${paired[*]} (median $(median "${paired[@]}"))"
    note "replay $label: $pk packets, median of $runs run(s) (mailpulse/tcpdump) and $tshark_runs (tshark); wall times mailpulse ${mp_wall[*]} s, tcpdump ${td_wall[*]} s${sni_wall:+, tshark fields ${sni_wall[*]} s, conv ${conv_wall[*]} s}"
}

# ---------------------------------------------------------------------------------------------
# Live capture: tcpreplay at a set rate on the client's veth; the daemon captures on lan0 and
# tcpdump (the peer) captures the same interface with the same port filter at the same time.
LIVE_FILTER='tcp port 143 or tcp port 993 or tcp port 110 or tcp port 995 or tcp port 587 or tcp port 465 or port 53'

bench_live() {
    say "== live capture"
    need tcpreplay tcpreplay
    local pcap=$W/live.pcap src
    if find_generator >/dev/null && gen_capture 300000 "$pcap"; then
        src="a generated capture (bench/gen-capture.py, 300 k packets of short IMAPS sessions), looped"
    else
        # The lab's real captures (dovecot, unbound, curl, openssl), concatenated and looped.
        mergecap -a -F pcap -w "$pcap" "$REPO_DIR"/tests/data/{imaps-good,imap-wrong-password,pop3-wrong-password,dns-servfail,tls10-refused}.pcap
        src="the lab's real captures in tests/data (imaps, imap, pop3, dns, tls 1.0), concatenated and looped (bench/gen-capture missing)"
    fi
    start_syslog_listener
    write_daemon_conf "$W/live.toml" 0
    start_daemon "$W/live.toml"
    local rates secs
    if [[ $QUICK == 1 ]]; then rates=(50000); secs=4; else rates=(20000 50000 75000 100000); secs=10; fi
    local rate
    for rate in "${rates[@]}"; do
        live_one "$pcap" "$rate" "$secs"
    done
    note "live capture: traffic from tcpreplay $(tcpreplay --version 2>&1 | awk 'NR==1 {print $3}') replaying $src on mpx-cli's veth for ${secs} s per rate; mailpulse's counters from \`mailpulse status --json\` (captures[].stats), tcpdump's from its exit summary; CPU from /proc/PID/stat utime+stime over the burst, divided by the frames the daemon's tracker processed (\`tracker.packets\`) or tcpdump captured. The daemon refreshes its kernel counters only when frames arrive, so the harness sends $FLUSH more frames > 1 s after each burst (and before it) and subtracts them. Both capture the same frames at the same time on a 2-core machine shared with other work."
    stop_daemon
}

tracker_packets() { status_json | python3 -c 'import json, sys; print(json.load(sys.stdin)["tracker"]["packets"])'; }

# The daemon refreshes its kernel counters only when frames arrive (at most once a second), so
# after a burst the harness waits > 1 s and sends FLUSH frames to make it read them again.
FLUSH=5

# live_one PCAP RATE SECONDS
live_one() {
    local pcap=$1 rate=$2 secs=$3
    local limit=$((rate * secs))
    local r0 d0 c0 p0 r1 d1 c1 p1 tpid tc0 tc1
    bg tcpdump-peer "$W/tcpdump-live.txt" ip netns exec "$NS_RTR" tcpdump -i lan0 -n -q -B 4096 -w /dev/null "$LIVE_FILTER"
    tpid=$BG_PID
    sleep 1
    live_flush "$pcap"
    r0=$(capture_counter received); d0=$(capture_counter dropped); p0=$(tracker_packets)
    c0=$(cpu_ticks "$DAEMON_PID"); tc0=$(cpu_ticks "$tpid")
    in_ns "$NS_CLI" timeout $((secs * 3 + 10)) tcpreplay -i eth0 --pps="$rate" --loop=0 --limit="$limit" \
        "$pcap" >"$W/tcpreplay-$rate.txt" 2>&1 || true
    sleep 0.5
    c1=$(cpu_ticks "$DAEMON_PID"); tc1=$(cpu_ticks "$tpid")
    live_flush "$pcap"
    r1=$(capture_counter received); d1=$(capture_counter dropped); p1=$(tracker_packets)
    kill -INT "$tpid" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$tpid" 2>/dev/null || break; sleep 0.1; done
    local sent actual_pps got drop seen td_got td_drop cpu_mp cpu_td
    sent=$(awk '/Actual:/ {print $2; exit}' "$W/tcpreplay-$rate.txt")
    actual_pps=$(awk '/Rated:/ {for (i=1;i<=NF;i++) if ($i ~ /pps/) {print $(i-1); exit}}' "$W/tcpreplay-$rate.txt")
    [[ -n $sent ]] || { fail_row "live capture at $rate pps" "tcpreplay sent nothing: $(tail -2 "$W/tcpreplay-$rate.txt")"; return 0; }
    got=$((r1 - r0 - FLUSH)); drop=$((d1 - d0)); seen=$((p1 - p0 - FLUSH))
    td_got=$(awk '/packets captured/ {print $1}' "$W/tcpdump-live.txt")
    td_drop=$(awk '/dropped by kernel/ {print $1}' "$W/tcpdump-live.txt")
    td_got=$((td_got - 2 * FLUSH))
    cpu_mp=$(calc "($c1 - $c0) * 1000 / $CLK_TCK / ($seen / 10000)")
    cpu_td=$(calc "($tc1 - $tc0) * 1000 / $CLK_TCK / ($td_got / 10000 + 1e-9)")
    local k=$((rate / 1000))k
    row "live ${k} pps (tcpreplay sent $sent at ${actual_pps:-?} pps): frames received by the capture" "$got" "$td_got (tcpdump)" "$(ratio "$got" "$td_got")" "" ""
    row "live ${k} pps: frames the tracker processed / dropped by the kernel" "$seen / $drop" "$td_got / $td_drop (tcpdump)" "" \
        "$([[ $rate == 50000 ]] && echo "0 drops at 50 k pps" || echo "")" "$([[ $rate == 50000 ]] && met "$drop" "<=" 0 || echo "")"
    row "live ${k} pps: CPU ms per 10 k packets" "$cpu_mp" "$cpu_td (tcpdump)" "$(ratio "$cpu_mp" "$cpu_td")" "" ""
}

# live_flush PCAP: FLUSH frames, slowly, after a pause longer than the daemon's refresh interval.
live_flush() {
    sleep 1.2
    in_ns "$NS_CLI" timeout 10 tcpreplay -q -i eth0 --pps=50 --limit="$FLUSH" "$1" >/dev/null 2>&1 || true
    sleep 0.5
}

# ---------------------------------------------------------------------------------------------
# Latencies: WAN link down -> syslog line; session end -> verdict event over the control socket.
bench_latency() {
    say "== latencies"
    start_syslog_listener
    write_daemon_conf "$W/latency.toml" 0
    start_daemon "$W/latency.toml"
    local rounds i t0 t_syslog t_mon lat=() mon=()
    rounds=$([[ $QUICK == 1 ]] && echo 3 || echo 10)
    # The peer: `ip monitor link`, i.e. when the kernel's own notification reaches a listener.
    bg ip-monitor "$W/ipmon.txt" ip netns exec "$NS_RTR" stdbuf -oL python3 -u -c '
import subprocess, sys, time
p = subprocess.Popen(["ip", "monitor", "link", "dev", "wan0"], stdout=subprocess.PIPE, text=True)
for line in p.stdout:
    print(f"{time.time():.6f}\t{line.strip()}", flush=True)'
    sleep 1
    for ((i = 0; i < rounds; i++)); do
        local before_sys before_mon
        before_sys=$(wc -l <"$W/syslog.txt"); before_mon=$(wc -l <"$W/ipmon.txt")
        t0=$(now_s)
        in_ns "$NS_RTR" ip link set wan0 down
        t_syslog=$(wait_line "$W/syslog.txt" "$before_sys" 'wan-down' 10) || t_syslog=""
        t_mon=$(wait_line "$W/ipmon.txt" "$before_mon" 'state DOWN|DOWN' 10) || t_mon=""
        [[ -n $t_syslog ]] && lat+=("$(calc "($t_syslog - $t0) * 1000")")
        [[ -n $t_mon ]] && mon+=("$(calc "($t_mon - $t0) * 1000")")
        before_sys=$(wc -l <"$W/syslog.txt")
        in_ns "$NS_RTR" ip link set wan0 up
        in_ns "$NS_RTR" ip route replace default via 203.0.113.1 dev wan0
        wait_line "$W/syslog.txt" "$before_sys" 'wan-up' 10 >/dev/null || true
        sleep 0.5
    done
    if ((${#lat[@]} == 0)); then
        fail_row "WAN down → syslog line (ms)" "no wan-down line reached the syslog socket within 10 s in $rounds tries (daemon log: $(tail -2 "$W/daemon.log" | tr '\n' ' '))"
    else
        local m
        m=$(median "${lat[@]}")
        row "WAN down → syslog line, ms (median of ${#lat[@]})" "$m" "$(median "${mon[@]}") (ip monitor)" "$(ratio "$m" "$(median "${mon[@]}")")" "≤ 100" "$(met "$m" "<=" 100)"
        note "WAN down: from just before \`ip link set wan0 down\` (so each figure includes starting ip(8), a few ms) to the daemon's wan-down datagram arriving at a test listener (tools/syslog_listener.py) on the socket named by \`[daemon] syslog_socket\`; all rounds: ${lat[*]} ms. Peer: the same kernel event seen by \`ip monitor link\`: ${mon[*]} ms."
    fi
    local out=$W/session-end.txt n
    n=$([[ $QUICK == 1 ]] && echo 3 || echo 10)
    in_ns "$NS_CLI" timeout $((n * 40)) python3 "$BENCH_DIR/tools/session_end_latency.py" \
        "$W/mailpulse.sock" "$W/pki/ca.crt" "$RTR4" 993 "$CLI4" "$n" >"$out" 2>"$out.err" || true
    local ms=()
    mapfile -t ms < <(awk '$1 != "timeout" {printf "%.1f\n", $1 * 1000}' "$out")
    if ((${#ms[@]} == 0)); then
        fail_row "session end → verdict event (ms)" "no session event appeared over the control socket within 30 s ($(tail -1 "$out.err"))"
    else
        row "session end → verdict event over the socket, ms (median of ${#ms[@]}/$n)" "$(median "${ms[@]}")" "" "" "" ""
        note "session end: a Python IMAPS client (TLS, greeting, LOGOUT, close) in mpx-cli against dovecot; from the client's close() to the first new session event in \`events\` over the control socket, polled every 5 ms; all rounds: $(awk '{print $1*1000 "(" $2 ")"}' "$out" | tr '\n' ' ')"
    fi
    stop_daemon
}

# wait_line FILE SKIP_LINES REGEX SECONDS: prints the receipt time (first field) of the first
# line after SKIP_LINES matching REGEX; fails after SECONDS.
wait_line() {
    local file=$1 skip=$2 re=$3 secs=$4 end hit
    end=$(($(date +%s%N) + secs * 1000000000))
    while (($(date +%s%N) < end)); do
        hit=$(tail -n +"$((skip + 1))" "$file" | grep -E -m1 "$re" | cut -f1) || true
        [[ -n $hit ]] && { echo "$hit"; return 0; }
        sleep 0.01
    done
    return 1
}

# ---------------------------------------------------------------------------------------------
# Probe overhead: mailpulse probe's phase timings vs curl's and openssl s_time, same server.
bench_probe() {
    say "== probe vs curl and openssl s_time"
    need curl curl
    local rounds i url="imaps://$RTR4:993"
    rounds=$([[ $QUICK == 1 ]] && echo 5 || echo 15)
    local mp_tls=() mp_total=() mp_wall=() c_tls=() c_total=() c_wall=() t0 t1
    for ((i = 0; i < rounds; i++)); do
        t0=$(date +%s%N)
        in_ns "$NS_CLI" "$MAILPULSE" probe "$url" --ca-file "$W/pki/ca.crt" --json >"$W/probe.json" 2>"$W/probe.err" || true
        t1=$(date +%s%N)
        mp_wall+=("$(calc "($t1 - $t0) / 1e6")")
        read -r a b < <(python3 "$BENCH_DIR/tools/probe_phases.py" "$W/probe.json") || true
        [[ -n ${a:-} ]] && mp_tls+=("$a") && mp_total+=("$b")
        t0=$(date +%s%N)
        in_ns "$NS_CLI" curl -s -o /dev/null --cacert "$W/pki/ca.crt" --max-time 10 \
            -w '%{time_appconnect} %{time_total}\n' "$url/" >"$W/curl.txt" 2>/dev/null || true
        t1=$(date +%s%N)
        c_wall+=("$(calc "($t1 - $t0) / 1e6")")
        read -r a b <"$W/curl.txt" || true
        [[ -n ${a:-} ]] && c_tls+=("$(calc "$a * 1000")") && c_total+=("$(calc "$b * 1000")")
    done
    if ((${#mp_tls[@]} == 0)); then
        fail_row "probe: TCP connect + TLS handshake (ms)" "mailpulse probe gave no phase timings: $(head -c 300 "$W/probe.json") $(tail -1 "$W/probe.err")"
    else
        local m c
        m=$(median "${mp_tls[@]}"); c=$(median "${c_tls[@]}")
        row "probe: TCP connect + TLS handshake, ms (median of $rounds)" "$m" "$c (curl time_appconnect)" "$(ratio "$m" "$c")" "" ""
        m=$(median "${mp_total[@]}"); c=$(median "${c_total[@]}")
        row "probe: all phases to CAPABILITY (mailpulse) / whole session (curl), ms" "$m" "$c (curl time_total)" "$(ratio "$m" "$c")" "" ""
    fi
    local m c
    m=$(median "${mp_wall[@]}"); c=$(median "${c_wall[@]}")
    row "probe: whole process wall time, ms" "$m" "$c (curl)" "$(ratio "$m" "$c")" "" ""
    # openssl s_time: new TLS session per connection for a fixed time; ms per connection.
    local secs st conns real t_a t_b
    secs=$([[ $QUICK == 1 ]] && echo 3 || echo 10)
    t_a=$(date +%s%N)
    in_ns "$NS_CLI" openssl s_time -connect "$RTR4:993" -CAfile "$W/pki/ca.crt" -new -time "$secs" \
        >"$W/s_time.txt" 2>&1 || true
    t_b=$(date +%s%N)
    # Its own "real seconds" is a whole number, so divide the measured wall time instead.
    conns=$(awk '/connections in .* real seconds/ {print $1; exit}' "$W/s_time.txt")
    real=$(calc "($t_b - $t_a) / 1e9")
    if [[ -n ${conns:-} ]] && ((conns > 0)); then
        st=$(calc "$real * 1000 / $conns")
        row "probe: TLS handshake per connection vs openssl s_time -new, ms" "$(median "${mp_tls[@]}")" "$st (s_time)" "$(ratio "$(median "${mp_tls[@]}")" "$st")" "" ""
        note "openssl s_time: $conns new TLS connections (TCP connect + full handshake) back to back in $real s of wall time."
    else
        fail_row "openssl s_time" "no connection count in its output: $(tail -2 "$W/s_time.txt" | tr '\n' ' ')"
    fi
    note "probe: \`mailpulse probe $url --ca-file CA --json\` from mpx-cli to dovecot in mpx-rtr (TLS ≥ 1.2, ECDSA P-256 test CA), phases from its JSON (tools/probe_phases.py); curl $url/ -w time_appconnect (TCP+TLS) and time_total (after the handshake curl reads the greeting and sends CAPABILITY and LIST, which dovecot refuses before login (curl exit 21), close to a probe's work). Wall time includes process start and, for mailpulse, loading the system trust store. dovecot forks a login process per connection (its default), which is most of every handshake time here and is the same for all three tools."
}

# ---------------------------------------------------------------------------------------------
# Footprint: idle with 10 probe targets at 30 s; 10 000 real TCP sessions through the capture.
bench_footprint() {
    say "== footprint"
    start_syslog_listener
    write_daemon_conf "$W/idle.toml" 10 30s
    start_daemon "$W/idle.toml"
    local window step rss=() c0 c1 t0 t1 i
    window=$([[ $QUICK == 1 ]] && echo 35 || echo 180)
    step=5
    c0=$(cpu_ticks "$DAEMON_PID"); t0=$(date +%s%N)
    for ((i = 0; i < window / step; i++)); do
        sleep "$step"
        rss+=("$(rss_kb "$DAEMON_PID")")
    done
    c1=$(cpu_ticks "$DAEMON_PID"); t1=$(date +%s%N)
    local secs cpu_pct max_rss probes
    secs=$(calc "($t1 - $t0) / 1e9")
    cpu_pct=$(calc "($c1 - $c0) / $CLK_TCK / $secs * 100")
    max_rss=$(printf '%s\n' "${rss[@]}" | sort -n | tail -1)
    probes=$(status_json | python3 -c '
import json, sys
s = json.load(sys.stdin)
p = s.get("probes") or s.get("engine", {}).get("probes") or []
print(len(p))' 2>/dev/null || echo "?")
    row "idle, 10 probe targets at 30 s: RSS MB (max of samples)" "$(mb "$max_rss")" "" "" "" ""
    row "idle, 10 probe targets at 30 s: CPU % of one core" "$cpu_pct" "" "" "" ""
    note "idle: $secs s window ($(calc "$secs / 30") probe rounds of 10 targets; the status lists $probes probe targets), CPU $(( c1 - c0 )) ticks → $(calc "($c1 - $c0) / $CLK_TCK / $secs * 86400") CPU-seconds per day if extrapolated linearly; RSS samples every ${step} s: $(printf '%s ' "${rss[@]}")KiB"

    # 10 000 sessions: a Python client in mpx-cli holding sockets open to a listener on
    # $HOLD4:993 in mpx-rtr, opened in batches of 500; the capture sees every handshake.
    local n=10000 hold=25
    bg hold-server "$W/hold-server.log" ip netns exec "$NS_RTR" python3 "$BENCH_DIR/tools/hold_conns.py" serve "$HOLD4" 993 "$n" 120
    wait_until "the hold listener on $HOLD4:993" 10 bash -c "ip netns exec $NS_RTR ss -Hltn 'src $HOLD4 and sport = :993' | grep -q ."
    local before_rss status_file=$W/hold.status
    before_rss=$(rss_kb "$DAEMON_PID")
    rm -f "$status_file"
    bg hold-client "$W/hold-client.log" ip netns exec "$NS_CLI" python3 "$BENCH_DIR/tools/hold_conns.py" connect "$HOLD4" 993 "$n" 500 "$hold" "$status_file"
    local client_pid=$BG_PID
    wait_until "$n client connections" 90 test -s "$status_file"
    sleep 3
    local held_rss=() tracked
    for ((i = 0; i < 4; i++)); do held_rss+=("$(rss_kb "$DAEMON_PID")"); sleep 3; done
    tracked=$(status_json | python3 "$BENCH_DIR/tools/status_sessions.py" 2>/dev/null || echo "?")
    local top
    top=$(printf '%s\n' "${held_rss[@]}" | sort -n | tail -1)
    row "RSS MB with $(awk '{print $2}' "$status_file") concurrent TCP sessions" "$(mb "$top")" "" "" "≤ 32" "$(met "$(mb "$top")" "<=" 32)"
    for _ in $(seq 1 $((hold + 20))); do kill -0 "$client_pid" 2>/dev/null || break; sleep 1; done
    sleep 2
    note "10 k sessions: $(awk '{print $2 " connections up in " $3 " s"}' "$status_file"); daemon RSS before $(mb "$before_rss") MB, while held $(printf '%s ' "${held_rss[@]}")KiB, after close $(mb "$(rss_kb "$DAEMON_PID")") MB; tracker status: $tracked. The daemon kept its 10 probe targets running."
    stop_daemon
}

# ---------------------------------------------------------------------------------------------
# "24 h of simulated traffic": a generated capture whose time stamps span 24 h, replayed with
# `mailpulse replay`, RSS sampled every 50 ms; growth = last quarter's max vs second quarter's.
bench_soak() {
    say "== 24 h simulated traffic (time-compressed replay)"
    if ! find_generator >/dev/null; then
        fail_row "RSS over 24 h of simulated traffic" "$GEN_MISSING"
        return 0
    fi
    local n f=$W/soak.pcap
    # Full: 8 M packets = 205 k sessions, past the point (about 131 k sessions) where the
    # tracker's insertion-order queue reaches its compaction bound (2 x max_sessions entries).
    n=$([[ $QUICK == 1 ]] && echo 600000 || echo 8000000)
    gen_capture "$n" "$f" 86400 || { fail_row "RSS over 24 h of simulated traffic" "bench/gen-capture.py with a 24 h span failed"; return 0; }
    local first last pk
    pk=$(packets_in "$f")
    first=$(capinfos -S -M -T -r -a "$f" | cut -f2); last=$(capinfos -S -M -T -r -e "$f" | cut -f2)
    cat "$f" >/dev/null
    python3 "$BENCH_DIR/tools/rss_sampler.py" "$W/soak.rss" 0.002 600 "$MAILPULSE" replay "$f" --json ||
        { fail_row "RSS over 24 h of simulated traffic" "mailpulse replay failed on $f"; return 0; }
    local k q2 q3 q4 growth late
    k=$(wc -l <"$W/soak.rss")
    ((k >= 20)) || { fail_row "RSS over 24 h of simulated traffic" "replay ended after $k samples: too short to judge"; return 0; }
    # Max RSS in the second quarter of the samples and in the last quarter.
    q2=$(awk -v k="$k" 'NR > k/4 && NR <= k/2 && $2 > m {m = $2} END {print m}' "$W/soak.rss")
    q3=$(awk -v k="$k" 'NR > k/2 && NR <= 3*k/4 && $2 > m {m = $2} END {print m}' "$W/soak.rss")
    q4=$(awk -v k="$k" 'NR > 3*k/4 && $2 > m {m = $2} END {print m}' "$W/soak.rss")
    growth=$(calc "($q4 - $q2) * 100 / $q2")
    late=$(calc "($q4 - $q3) * 100 / $q3")
    timed "$W/t.soak.td" tcpdump -r "$f" -w /dev/null || true
    row "24 h simulated traffic: replay RSS MB, 2nd-quarter max → last-quarter max" "$(mb "$q2") → $(mb "$q4") ($growth %)" "$(mb "$(peak_rss_kb_of "$W/t.soak.td")") (tcpdump peak)" "" "growth ≤ 10 %" "$(met "$growth" "<=" 10)"
    row "24 h simulated traffic: replay RSS MB, 3rd-quarter max → last-quarter max" "$(mb "$q3") → $(mb "$q4") ($late %)" "" "" "" ""
    note "24 h soak: $pk packets ($(calc "$pk / $(tcpdump -r "$GEN_SOURCE" 'tcp port 993' 2>/dev/null | wc -l)") sessions) with time stamps from $first to $last (epoch s, $(calc "($last - $first) / 3600") h), replayed at full speed in $(tail -1 "$W/soak.rss" | cut -d' ' -f1) s with RSS sampled every 2 ms ($k samples; quartiles of the samples' RSS in KiB: $(awk -v k="$k" 'NR == int(k/4) || NR == int(k/2) || NR == int(3*k/4) || NR == k {printf "%s ", $2}' "$W/soak.rss")); growth from the second to the last quarter: $growth %, from the third to the last: $late %. RSS at each tenth of the run (KiB): $(awk -v k="$k" 'NR % int(k / 10) == 0 {printf "%s ", $2}' "$W/soak.rss")"
    rm -f "$f"
}

# ---------------------------------------------------------------------------------------------
# Binary size.
bench_size() {
    say "== binary size"
    local lin bsd=${MPX_FREEBSD_BIN:-$REPO_DIR/target/x86_64-unknown-freebsd/release/mailpulse} td
    cp "$MAILPULSE" "$W/mailpulse.stripped"
    strip "$W/mailpulse.stripped" 2>/dev/null || true
    lin=$(stat -c %s "$W/mailpulse.stripped")
    td=$(stat -c %s "$(command -v tcpdump)")
    if [[ -f $bsd ]]; then
        local b
        b=$(stat -c %s "$bsd")
        row "stripped FreeBSD x86_64 binary, MB" "$(calc "$b / 1e6")" "" "" "" ""
        note "FreeBSD size from ${bsd#"$REPO_DIR"/} ($(file -b "$bsd" | cut -d, -f1-2)), built by scripts/build-freebsd.sh at $(date -u -r "$bsd" +%FT%TZ)$([[ $bsd -ot $MAILPULSE ]] && echo ", before the Linux binary measured here ($(date -u -r "$MAILPULSE" +%FT%TZ)), so possibly from an earlier tree")."
    else
        note "no FreeBSD build at $bsd (scripts/build-freebsd.sh was not run here; set MPX_FREEBSD_BIN to measure one): the Linux size stands in for it."
    fi
    row "stripped Linux x86_64 release binary, MB" "$(calc "$lin / 1e6")" "$(calc "$td / 1e6") (tcpdump, without libpcap)" "$(ratio "$lin" "$td")" "" ""
    note "mailpulse is one static-Rust binary (tokio, rustls/ring, hickory, serde) linked dynamically only to libc; tcpdump's size excludes libpcap and libc."
}
