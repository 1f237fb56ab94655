# shellcheck shell=bash
# The hostile-LAN section of bench/run.sh (`--only hostile`): what a LAN host that fabricates
# traffic costs the daemon. Sourced after common.sh, lab.sh and sections.sh.
#
# (a) Replay. tools/gen_hostile.py writes fabricated half-open TLS sessions (a ClientHello
#     fragment announcing 16 KiB, out-of-order data both ways after a gap) from many addresses,
#     plus a DNS-failure flood (NXDOMAIN for distinct mail-like names from one client); and the
#     same sessions from ONE client at 1 k, 10 k and 100 k flows. mailpulse replay and
#     tcpdump -r read each file: peak RSS, and time per packet (flat from 1 k to 100 k flows
#     when the flow table stays O(1) per packet).
# (b) Live. The lab (namespaces $NS_CLI/$NS_RTR: run with LAB_PREFIX=mph for mph-cli/mph-rtr),
#     the daemon capturing on lan0, tcpreplay sending the many-address flood from the client
#     namespace while curl runs real IMAPS sessions against the lab's dovecot. The daemon's
#     peak RSS (VmHWM) and the real sessions' verdicts, checked against dovecot's log.

HOSTILE_RSS_TARGET_MB=64
# Frames per second tcpreplay sends the flood at in the live part.
HOSTILE_PPS=${HOSTILE_PPS:-20000}

hostile_gen() {
    say "generating hostile capture: $*"
    python3 "$BENCH_DIR/tools/gen_hostile.py" "$@" >&2 || { say "gen_hostile.py failed: $*"; return 1; }
}

bench_hostile() {
    say "== hostile LAN"
    need tcpreplay tcpreplay
    need curl curl
    local flows=70000 dns=12000 series=(1000 10000 100000) runs=3
    if [[ $QUICK == 1 ]]; then
        flows=20000; dns=4000; series=(1000 10000 30000); runs=1
    fi
    local flood=$W/hostile-many.pcap
    hostile_gen --flows "$flows" --clients many --dns "$dns" --server "$RTR4" "$flood" ||
        { fail_row "hostile LAN" "capture generator failed"; return 0; }
    hostile_replay "$flood" "$flows" "$dns" "$runs"
    local n f prev=""
    for n in "${series[@]}"; do
        f=$W/hostile-one-$n.pcap
        hostile_gen --flows "$n" --clients one --payload 100 --server "$RTR4" "$f" ||
            { fail_row "hostile LAN one client $n flows" "capture generator failed"; continue; }
        hostile_per_packet "$f" "$n" "$runs"
        rm -f "$f"
    done
    hostile_live "$flood"
    rm -f "$flood"
}

# hostile_replay FILE FLOWS DNS RUNS: peak RSS and packet rate, mailpulse vs tcpdump.
hostile_replay() {
    local f=$1 flows=$2 dns=$3 runs=$4 pk i mp_wall=() mp_rss=() td_wall=() td_rss=()
    pk=$(packets_in "$f")
    cat "$f" >/dev/null
    for ((i = 0; i < runs; i++)); do
        timed "$W/t.mp" "$MAILPULSE" replay "$f" --json || { fail_row "hostile replay" "mailpulse replay failed"; return 0; }
        mp_wall+=("$(wall_s_of "$W/t.mp")"); mp_rss+=("$(peak_rss_kb_of "$W/t.mp")")
        timed "$W/t.td" tcpdump -r "$f" -w /dev/null || { fail_row "hostile replay" "tcpdump -r failed"; return 0; }
        td_wall+=("$(wall_s_of "$W/t.td")"); td_rss+=("$(peak_rss_kb_of "$W/t.td")")
    done
    # The events the flood made: at most a few DNS events, whatever the lookups.
    "$MAILPULSE" replay "$f" --json >"$W/hostile-replay.jsonl" 2>/dev/null || true
    local events
    events=$(grep -c '"kind":"dns-failure"' "$W/hostile-replay.jsonl" || true)
    local mpr tdr mp td r
    mpr=$(max_of "${mp_rss[@]}"); tdr=$(max_of "${td_rss[@]}")
    mp=$(calc "$pk / $(median "${mp_wall[@]}")"); td=$(calc "$pk / $(median "${td_wall[@]}")")
    r=$(ratio "$mp" "$td")
    row "hostile replay ($flows fabricated sessions, $dns failed lookups): peak RSS MB vs tcpdump" \
        "$(mb "$mpr")" "$(mb "$tdr")" "$(ratio "$mpr" "$tdr")" "≤ $HOSTILE_RSS_TARGET_MB" \
        "$(met "$(mb "$mpr")" "<=" "$HOSTILE_RSS_TARGET_MB")"
    row "hostile replay: packets/s vs tcpdump -r -w /dev/null" "$mp" "$td" "$r" "" ""
    note "hostile replay: $pk frames ($flows fabricated half-open TLS sessions from $flows addresses, 7 frames each, and $dns NXDOMAIN lookups of distinct mail-like names from one client); $runs run(s) each; mailpulse wall ${mp_wall[*]} s, peak RSS ${mp_rss[*]} kB; tcpdump wall ${td_wall[*]} s; dns-failure events in mailpulse's output: $events"
}

# hostile_per_packet FILE FLOWS RUNS: ns per packet for FLOWS sessions from one client.
hostile_per_packet() {
    local f=$1 n=$2 runs=$3 pk i mp_wall=() td_wall=() mp_rss=()
    pk=$(packets_in "$f")
    cat "$f" >/dev/null
    for ((i = 0; i < runs; i++)); do
        timed "$W/t.mp" "$MAILPULSE" replay "$f" --json || { fail_row "hostile one client $n" "mailpulse replay failed"; return 0; }
        mp_wall+=("$(wall_s_of "$W/t.mp")"); mp_rss+=("$(peak_rss_kb_of "$W/t.mp")")
        timed "$W/t.td" tcpdump -r "$f" -w /dev/null || { fail_row "hostile one client $n" "tcpdump -r failed"; return 0; }
        td_wall+=("$(wall_s_of "$W/t.td")")
    done
    local mp td
    mp=$(calc "$(median "${mp_wall[@]}") * 1e9 / $pk"); td=$(calc "$(median "${td_wall[@]}") * 1e9 / $pk")
    row "hostile one client, $n flows: ns per packet vs tcpdump" "$mp" "$td" "$(ratio "$mp" "$td")" "flat across flows" ""
    note "hostile one client, $n flows: $pk frames; mailpulse wall ${mp_wall[*]} s (peak RSS ${mp_rss[*]} kB), tcpdump wall ${td_wall[*]} s"
}

max_of() { printf '%s\n' "$@" | sort -n | tail -1; }

# hostile_live FLOOD: the daemon in the lab under the flood, real curl sessions beside it.
hostile_live() {
    local flood=$1
    lab_up
    start_syslog_listener
    write_daemon_conf "$W/hostile.toml" 1
    start_daemon "$W/hostile.toml"
    local url="imaps://$RTR4:993/INBOX" good=0 bad=0 i
    local frames
    frames=$(packets_in "$flood")
    say "tcpreplay: $frames frames at $HOSTILE_PPS/s from $NS_CLI"
    in_ns "$NS_CLI" timeout 300 tcpreplay -i eth0 --pps="$HOSTILE_PPS" "$flood" >"$W/tcpreplay-hostile.txt" 2>&1 &
    local replay_pid=$!
    BG_PIDS+=("$replay_pid")
    sleep 1
    # Real sessions during the flood: good logins and wrong passwords, one a second.
    for i in 1 2 3 4 5 6; do
        if ((i % 3 == 0)); then
            in_ns "$NS_CLI" curl -s -o /dev/null --cacert "$W/pki/ca.crt" --max-time 10 \
                -u bench:wrong-password "$url" && true
            bad=$((bad + 1))
        else
            in_ns "$NS_CLI" curl -s -o /dev/null --cacert "$W/pki/ca.crt" --max-time 10 \
                -u bench:bench-password "$url" || say "curl good login $i failed"
            good=$((good + 1))
        fi
        sleep 1
    done
    wait "$replay_pid" || true
    sleep 4
    local hwm
    hwm=$(hwm_kb "$DAEMON_PID")
    status_json >"$W/hostile-status.json"
    "$MAILPULSE" events --json --socket "$W/mailpulse.sock" --client "$CLI4" >"$W/hostile-events.json"
    local logins refused
    logins=$(grep -c 'Login: user=<bench>' "$W/dovecot.log" || true)
    refused=$(grep -c 'auth failed' "$W/dovecot.log" || true)
    local verdicts
    verdicts=$(python3 - "$W/hostile-events.json" <<'PY'
import json, sys
events = json.load(open(sys.argv[1]))
if isinstance(events, dict):
    events = events.get("events", [])
# One verdict per session (a revision replaces the earlier one), in order.
last = {}
for e in events:
    if not str(e.get("kind", "")).startswith("session") or e.get("server_port") != 993:
        continue
    key = (e.get("session") or {}).get("client_port") or e.get("id")
    last[key] = e.get("verdict")
print(" ".join(v or "none" for v in last.values()))
PY
)
    local ok_n auth_n other
    ok_n=$(tr ' ' '\n' <<<"$verdicts" | grep -cx ok || true)
    auth_n=$(tr ' ' '\n' <<<"$verdicts" | grep -cxE 'auth-rejected|unknown' || true)
    other=$(tr ' ' '\n' <<<"$verdicts" | grep -vxE 'ok|auth-rejected|unknown|' | tr '\n' ' ' || true)
    local right=no
    [[ $ok_n == "$logins" && $auth_n == "$refused" && -z ${other// /} ]] && right=yes
    row "hostile live (flood via tcpreplay at $HOSTILE_PPS frames/s): daemon peak RSS MB" "$(mb "$hwm")" "" "" \
        "≤ $HOSTILE_RSS_TARGET_MB" "$(met "$(mb "$hwm")" "<=" "$HOSTILE_RSS_TARGET_MB")"
    row "hostile live: real sessions' verdicts right (ok = dovecot logins, refused = dovecot auth failures)" \
        "$ok_n ok, $auth_n refused-login" "$logins logins, $refused auth failures" "" "all right" "$right"
    note "hostile live: capture counters $(python3 -c 'import json,sys; print([c.get("stats") for c in json.load(open(sys.argv[1]))["captures"]])' "$W/hostile-status.json"); $frames frames sent by tcpreplay ($(grep -oE 'Actual: [0-9]+ packets[^\n]*' "$W/tcpreplay-hostile.txt" | head -1)); curl sessions: $good with the right password, $bad with a wrong one; session verdicts for $CLI4 on 993: ${verdicts:-none}; tracker counters: $(python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["tracker"]; print(", ".join(f"{k} {v}" for k, v in t.items()))' "$W/hostile-status.json")"
    note "hostile live: the daemon's syslog lines for $CLI4: $(grep -F "client=$CLI4 " "$W/syslog.txt" | grep -oE 'verdict=[a-z-]+' | sort | uniq -c | tr -s ' \n' ' '); all its syslog lines by verdict: $(grep -oE 'verdict=[a-z-]+' "$W/syslog.txt" | sort | uniq -c | tr -s ' \n' ' ')(\`events\` answers from the daemon's last 10 000 events)"
    stop_daemon
    lab_down
}
