# shellcheck shell=bash
# mailpulse lab: scenarios. Each scenario runs real clients against real servers while tcpdump
# records the router's LAN port (lan0), checks its ground truth (client exit code, server log
# line, what tshark sees in the capture) and writes one manifest entry.
#
# A scenario is two functions:
#   sc_NAME      sets the expected facts (M_*) and runs the clients (the capture is running)
#   verify_NAME  checks the ground truth after the capture is closed (optional)

SCENARIOS=(imaps-good imap-wrong-password pop3-wrong-password syn-dead-address tls10-refused
    dns-servfail imaps-wrong-password imaps-wan-down imaps-wan-blackhole imaps-dns-upstream-dead
    imaps-slow-server imaps-wan-address-change imap-idle-state-expired imaps-wan-loss
    imaps-congestion imaps-ipv6-good pop3s-good imap-starttls-good imaps-wan-flap)

# ---------------------------------------------------------------------------------------------
# Clients

# curl as a mail client inside the client namespace: trusts the lab CA, and may speak TLS 1.0
# (OPENSSL_CONF, see write_openssl_conf). Every call passes its own -m (max time).
client_curl() {
    in_ns "$NS_CLI" env OPENSSL_CONF="$STATE/openssl-legacy.cnf" \
        curl --cacert "$STATE/pki/ca.crt" "$@"
}

# client_run CMD...   run a client command in the client namespace, record it for the manifest.
# Sets RC. Output goes to the scenario's log. Never fails the script: the exit code is data.
client_run() {
    local start end
    start=$(date +%s.%N)
    set +e
    "$@" >>"$SC_LOG" 2>&1
    RC=$?
    set -e
    end=$(date +%s.%N)
    local shown=${*//$STATE/\$LAB} secs
    shown=${shown#in_ns $NS_CLI }
    secs=$(awk -v a="$start" -v b="$end" 'BEGIN{printf "%.2f", b - a}')
    CMDS+=("$(jq -cn --arg c "$shown" --argjson rc "$RC" --argjson s "$secs" \
        '{command: $c, exit_code: $rc, seconds: $s}')")
    printf '    client exit %s after %ss: %s\n' "$RC" "$secs" "$shown" >&2
    return 0
}

# The curl invocation as recorded: client_curl expands to this inside the namespace.
curl_cmd() { echo in_ns "$NS_CLI" env OPENSSL_CONF="$STATE/openssl-legacy.cnf" curl --cacert "$STATE/pki/ca.crt"; }

run_curl() { # run_curl ARGS...   (recorded with its full command line)
    # shellcheck disable=SC2046
    client_run $(curl_cmd) "$@"
}

# Start curl in the background (a fetch that a fault will interrupt). Sets BG_PID.
run_curl_bg() {
    (run_curl "$@"; echo "$RC" >"$STATE/bg-rc"; printf '%s\n' "${CMDS[@]}" >"$STATE/bg-cmds") &
    BG_PID=$!
}
wait_curl_bg() {
    wait "$BG_PID" || true
    RC=$(cat "$STATE/bg-rc")
    mapfile -t CMDS <"$STATE/bg-cmds"
}

# ---------------------------------------------------------------------------------------------
# Capture on the router's LAN port

# Stop whatever a scenario left running: its capture, its clients, its faults. Called after an
# aborted scenario (trap) and harmless otherwise.
scenario_cleanup() {
    local pid ns
    bg_stop tcpdump INT
    for ns in "$NS_CLI" "$NS_CLI2"; do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -TERM "$pid" 2>/dev/null || true; done
    done
    all_faults_off
}

capture_start() {
    local log=$STATE/cap/tcpdump.log
    bg_stop tcpdump INT
    rm -f "$STATE/cap/current.pcap" "$log"
    # -U: write each packet at once; -Z root: no privilege drop (file in a root-only dir);
    # timeout: a capture never outlives a stuck scenario.
    # --immediate-mode: hand each packet over at once; without it packets still waiting in the
    # kernel ring are lost when tcpdump is stopped a moment after a short exchange.
    bg_start tcpdump "$NS_RTR" "$log" timeout 180 tcpdump -i lan0 -n -U --immediate-mode -s 0 -Z root \
        -w "$STATE/cap/current.pcap" $CAPTURE_FILTER
    wait_for "tcpdump to listen" 10 grep -q 'listening on' "$log"
}

# capture_stop DEST   stop tcpdump with SIGINT (it then closes the file properly) and move it.
# Sets CAP_PACKETS (what tcpdump says it wrote).
capture_stop() {
    sleep 0.5   # let the last packets in flight reach the capture
    bg_stop tcpdump INT
    grep -E 'packets (captured|dropped by kernel)' "$STATE/cap/tcpdump.log" | sed 's/^/    tcpdump: /' >&2 || true
    CAP_PACKETS=$(awk '/packets captured/ {print $1}' "$STATE/cap/tcpdump.log")
    mv "$STATE/cap/current.pcap" "$1"
}

# ---------------------------------------------------------------------------------------------
# Ground-truth checks. Each failed check is printed and counted; a scenario passes with none.

check() { # check DESCRIPTION CMD...
    local what=$1; shift
    if "$@" >/dev/null 2>&1; then
        printf '    ok: %s\n' "$what" >&2
        CHECKS+=("$what")
    else
        printf '    CHECK FAILED: %s\n' "$what" >&2
        FAILED_CHECKS+=("$what")
    fi
}

exit_is() { local want; for want in "${@:2}"; do [[ $1 == "$want" ]] && return 0; done; return 1; }

# Count the packets of a capture that match a tshark display filter.
tshark_count() { timeout 60 tshark -r "$1" -Y "$2" 2>/dev/null | wc -l; }
tshark_has() { (($(tshark_count "$1" "$2") > 0)); }
tshark_none() { (($(tshark_count "$1" "$2") == 0)); }

# Log marks: remember a log's length at scenario start, look only at what came after.
log_mark() { local f; for f in "$STATE"/dovecot-*.log "$STATE"/unbound-*.log "$STATE"/stunnel-*.log; do
    [[ -e $f ]] && wc -l <"$f" >"$f.mark"; done; return 0; }
log_new() { # log_new NAME   (dovecot-main, unbound-rtr, ...)
    local f=$STATE/$1.log; tail -n +"$(($(cat "$f.mark" 2>/dev/null || echo 0) + 1))" "$f"; }
log_has() { log_new "$1" | grep -E -- "$2"; }

# The first log line matching a pattern (for the manifest's ground truth).
log_line() { log_new "$1" | grep -E -m1 -- "$2" || true; }

# Who closed the first session to PORT, from the capture: prints "fin|rst client|server".
close_facts() { # close_facts FILE PORT
    local row src fin rst
    row=$(timeout 60 tshark -r "$1" -Y "tcp.port == $2 && (tcp.flags.fin == 1 || tcp.flags.reset == 1)" \
        -T fields -e ip.src -e ipv6.src -e tcp.flags.fin -e tcp.flags.reset 2>/dev/null | head -1)
    [[ -n $row ]] || { echo "open none"; return; }
    read -r src fin rst <<<"$(echo "$row" | awk -F'\t' '{print ($1 != "" ? $1 : $2), $3, $4}')"
    local who=server
    [[ $src == "$CLI4" || $src == "$CLI6" ]] && who=client
    if [[ $rst == 1 || $rst == True ]]; then echo "rst $who"; else echo "fin $who"; fi
}

# Negotiated TLS version of the first ServerHello, as "1.0".."1.3" (empty if none).
tls_version_of() {
    local sv v
    sv=$(timeout 60 tshark -r "$1" -Y 'tls.handshake.type == 2' -T fields \
        -e tls.handshake.extensions.supported_version -e tls.handshake.version 2>/dev/null | head -1)
    [[ -n $sv ]] || return 0
    v=$(echo "$sv" | awk -F'\t' '{print ($1 != "" ? $1 : $2)}')
    case $v in 0x0304) echo 1.3 ;; 0x0303) echo 1.2 ;; 0x0302) echo 1.1 ;; 0x0301) echo 1.0 ;; esac
}

# ---------------------------------------------------------------------------------------------
# Expected facts. Every scenario sets these in sc_NAME; "" becomes null in the manifest, and so
# does "-" (used for close/closed_by when no TCP session exists, so they are not filled in from
# the capture).

reset_facts() {
    M_WHAT=""; M_VERDICT=""; M_CRED=""; M_CLIENT=$CLI4; M_SERVER=""; M_PORT=""; M_PROTO=""
    M_TLS=""; M_NAME=""; M_TLSV=""; M_ALERT=""; M_AUTH=""; M_CLOSE=""; M_CLOSED_BY=""
    M_FAULT=""; M_SERVER_LOG=""; M_NOTES=""; M_REPLAY_VERDICT=""
    CMDS=(); CHECKS=(); FAILED_CHECKS=(); RC=""; FAULT_AT=""
}

write_manifest_entry() { # write_manifest_entry NAME FILE OUT
    local cmds
    cmds=$(printf '%s\n' "${CMDS[@]}" | jq -cs .)
    jq -n \
        --arg file "$(basename "$2")" --arg scenario "$1" --arg what "$M_WHAT" \
        --arg verdict "$M_VERDICT" --arg cred "$M_CRED" --arg client "$M_CLIENT" \
        --arg server "$M_SERVER" --arg port "$M_PORT" --arg proto "$M_PROTO" --arg tls "$M_TLS" \
        --arg name "$M_NAME" --arg tlsv "$M_TLSV" --arg alert "$M_ALERT" --arg auth "$M_AUTH" \
        --arg close "$M_CLOSE" --arg closed_by "$M_CLOSED_BY" --arg fault "$M_FAULT" \
        --arg slog "$M_SERVER_LOG" --arg notes "$M_NOTES" --argjson cmds "$cmds" \
        --arg replay "$M_REPLAY_VERDICT" \
        --argjson checks "$(printf '%s\n' "${CHECKS[@]}" | jq -Rcs 'split("\n") | map(select(. != ""))')" \
        'def n: if . == "" or . == "-" then null else . end;
        {file: $file, scenario: $scenario, what_happened: $what,
         expected_verdict: $verdict, expected_credentials: $cred,
         replay_verdict: ($replay|n),
         client: ($client|n), server: ($server|n), server_port: ($port|n|if . == null then null else tonumber end),
         protocol: ($proto|n), tls: ($tls|n), server_name: ($name|n), tls_version: ($tlsv|n),
         tls_alert: ($alert|n), auth: ($auth|n), close: ($close|n), closed_by: ($closed_by|n),
         fault: ($fault|n),
         command: ($cmds[0].command // null), exit_code: ($cmds[0].exit_code // null),
         commands: $cmds, server_log: ($slog|n), verified: $checks, notes: ($notes|n)}
        | if .replay_verdict == null then del(.replay_verdict) else . end' \
        >"$3"
}

# run_scenario NAME OUTDIR   -> OUTDIR/NAME.pcap and $STATE/manifest/NAME.json; status = checks
run_scenario() {
    local name=$1 out=$2
    declare -F "sc_$name" >/dev/null || die "unknown scenario '$name' (known: ${SCENARIOS[*]})"
    mkdir -p "$out" "$STATE/manifest" "$STATE/out"
    SC_LOG=$STATE/out/$name.log; : >"$SC_LOG"
    PCAP=$out/$name.pcap
    say "scenario $name"
    all_faults_off
    reset_client_ns
    # Forget the previous scenario's NAT mappings: a server still retransmitting into a session
    # cut by the last fault would otherwise be forwarded to the new client and land in this
    # capture. Without a mapping the router answers such packets itself.
    in_ns "$NS_RTR" conntrack -F >/dev/null 2>&1 || true
    if [[ -n ${LIVE_HOLD:-} ]]; then live_settle_dns; fi
    flush_router_dns
    if [[ -e $STATE/auth-penalty ]]; then restart_main_dovecot; rm -f "$STATE/auth-penalty"; fi
    reset_facts
    log_mark
    capture_start
    "sc_$name"
    capture_stop "$PCAP"
    all_faults_off
    # (tshark takes ~1 s to start: the lab calls it only for checks that need a dissector.)
    check "tcpdump saw packets on lan0 (${CAP_PACKETS:-0})" test "${CAP_PACKETS:-0}" -gt 0
    if declare -F "verify_$name" >/dev/null; then "verify_$name"; fi
    # Negotiated TLS version from the capture when the scenario did not fix it itself.
    if [[ -z $M_TLSV && ( $M_TLS == implicit || $M_TLS == starttls ) ]]; then M_TLSV=$(tls_version_of "$PCAP"); fi
    # Close facts from the capture when the scenario did not fix them itself.
    if [[ -z $M_CLOSE && -n $M_PORT ]]; then read -r M_CLOSE M_CLOSED_BY <<<"$(close_facts "$PCAP" "$M_PORT")"; fi
    write_manifest_entry "$name" "$PCAP" "$STATE/manifest/$name.json"
    printf '    capture %s: %s packets, %s bytes\n' "$(basename "$PCAP")" \
        "${CAP_PACKETS:-0}" "$(stat -c %s "$PCAP")" >&2
    ((${#FAILED_CHECKS[@]} == 0))
}

# Write OUTDIR/manifest.json: the entries of the scenarios just run, plus the entries already in
# that manifest for scenarios not run this time; in the order of SCENARIOS.
assemble_manifest() { # assemble_manifest OUTDIR
    local out=$1 s old=$1/manifest.json tmp
    tmp=$(mktemp)
    for s in "${SCENARIOS[@]}"; do
        if [[ -e $STATE/manifest/$s.json ]]; then
            cat "$STATE/manifest/$s.json"
        elif [[ -e $old ]]; then
            jq -c --arg s "$s" '.[] | select(.scenario == $s)' "$old"
        fi
    done | jq -s . >"$tmp"
    mv "$tmp" "$old"
    chmod 644 "$old"
}

IMAPS_A="imaps://imap.mail.test/INBOX;UID=1"
BIG_A="imaps://imap.mail.test/Big;UID=1"

# Common facts of a session to the main IMAPS server.
imaps_main_facts() {
    M_SERVER=$IMAP4; M_PORT=993; M_PROTO=imap; M_TLS=implicit; M_NAME=imap.mail.test
}

# ---------------------------------------------------------------------------------------------
# The scenarios

sc_imaps-good() {
    M_WHAT="The client fetched message 1 over IMAPS with the correct password; the server logged in and out normally."
    M_VERDICT=ok; M_CRED=ok; imaps_main_facts; M_AUTH=unknown
    run_curl -4 -sS -m 20 -u "$USER_A:$PASS_A" "$IMAPS_A" -o /dev/null
}
verify_imaps-good() {
    check "curl exit 0" exit_is "$RC" 0
    check "dovecot logged the login" log_has dovecot-main "imap-login: .*Login: user=<$USER_A>"
    M_SERVER_LOG=$(log_line dovecot-main "imap-login: .*Login: user=<$USER_A>")
    check "SNI imap.mail.test in the ClientHello" tshark_has "$PCAP" 'tls.handshake.extensions_server_name == "imap.mail.test"'
    check "DNS answer for imap.mail.test" tshark_has "$PCAP" 'dns.flags.response == 1 && dns.qry.name == "imap.mail.test" && dns.flags.rcode == 0'
    M_TLSV=$(tls_version_of "$PCAP")
    check "TLS version negotiated ($M_TLSV)" test -n "$M_TLSV"
}

sc_imap-wrong-password() {
    touch "$STATE/auth-penalty"
    M_WHAT="The client logged in over plaintext IMAP on port 143 (STARTTLS offered but not used) with a wrong password; the server answered NO [AUTHENTICATIONFAILED] in clear."
    M_VERDICT=auth-rejected; M_CRED=rejected; M_SERVER=$IMAP4; M_PORT=143; M_PROTO=imap
    M_TLS=none; M_NAME=imap.mail.test; M_AUTH=failed
    # curl 7.88 logs in with AUTHENTICATE PLAIN (SASL-IR): the password travels base64-encoded
    # in clear, the answer is a plain tagged NO.
    run_curl -4 -sS -m 20 -u "$USER_A:$WRONG_PASS" \
        "imap://imap.mail.test/INBOX;UID=1" -o /dev/null
}
verify_imap-wrong-password() {
    check "curl exit 67 (login denied)" exit_is "$RC" 67
    check "dovecot logged the auth failure" log_has dovecot-main "auth failed.*user=<$USER_A>"
    M_SERVER_LOG=$(log_line dovecot-main "auth failed.*user=<$USER_A>")
    check "capability list offers STARTTLS" tshark_has "$PCAP" 'tcp.srcport == 143 && frame contains "STARTTLS"'
    check "NO [AUTHENTICATIONFAILED] in clear" tshark_has "$PCAP" 'tcp.srcport == 143 && frame contains "NO [AUTHENTICATIONFAILED]"'
    check "no STARTTLS command from the client" tshark_none "$PCAP" 'tcp.dstport == 143 && frame contains "STARTTLS"'
}

sc_pop3-wrong-password() {
    touch "$STATE/auth-penalty"
    M_WHAT="The client logged in over plaintext POP3 on port 110 (STLS offered but not used) with a wrong password; the server answered -ERR [AUTH] in clear."
    M_VERDICT=auth-rejected; M_CRED=rejected; M_SERVER=$POP4; M_PORT=110; M_PROTO=pop3
    M_TLS=none; M_NAME=pop.mail.test; M_AUTH=failed
    run_curl -4 -sS -m 20 -u "$USER_A:$WRONG_PASS" "pop3://pop.mail.test/1" -o /dev/null
}
verify_pop3-wrong-password() {
    check "curl exit 67 (login denied)" exit_is "$RC" 67
    check "dovecot logged the auth failure" log_has dovecot-main "pop3-login: .*auth failed.*user=<$USER_A>"
    M_SERVER_LOG=$(log_line dovecot-main "pop3-login: .*auth failed.*user=<$USER_A>")
    check "-ERR [AUTH] in clear" tshark_has "$PCAP" 'tcp.srcport == 110 && frame contains "-ERR [AUTH]"'
}

sc_syn-dead-address() {
    M_WHAT="The client connected to dead.mail.test:993, whose address drops everything; its SYNs went unanswered until curl gave up after 6 s."
    M_VERDICT=upstream-unreachable; M_CRED=not-at-fault; M_SERVER=$DEAD4; M_PORT=993
    M_PROTO=imap; M_TLS=implicit; M_NAME=dead.mail.test; M_AUTH=unknown
    M_CLOSE=timeout; M_CLOSED_BY=none
    run_curl -4 -sS --connect-timeout 6 -m 10 -u "$USER_A:$PASS_A" "imaps://dead.mail.test/INBOX;UID=1" -o /dev/null
}
verify_syn-dead-address() {
    check "curl exit 28 (timeout)" exit_is "$RC" 28
    check "SYNs sent to $DEAD4:993 (with retransmission)" test "$(tshark_count "$PCAP" "ip.dst == $DEAD4 && tcp.flags.syn == 1")" -ge 2
    check "no SYN-ACK, no RST from $DEAD4" tshark_none "$PCAP" "ip.src == $DEAD4"
    check "DNS answered dead.mail.test" tshark_has "$PCAP" 'dns.flags.response == 1 && dns.qry.name == "dead.mail.test" && dns.flags.rcode == 0'
}

sc_tls10-refused() {
    M_WHAT="A TLS 1.0-only client (curl --tls-max 1.0, like an old iPad) connected to tls12.mail.test:993, which accepts TLS 1.2+ only; the server answered with a protocol_version alert."
    M_VERDICT=tls-rejected; M_CRED=not-at-fault; M_SERVER=$TLS12_4; M_PORT=993; M_PROTO=imap
    M_TLS=implicit; M_NAME=tls12.mail.test; M_TLSV=1.0; M_ALERT=protocol_version; M_AUTH=unknown
    M_NOTES="tls_version is the client's highest offered version; no version was negotiated."
    run_curl -4 -sS -m 15 --tlsv1.0 --tls-max 1.0 -u "$USER_A:$PASS_A" "imaps://tls12.mail.test/INBOX;UID=1" -o /dev/null
}
verify_tls10-refused() {
    check "curl exit 35 (TLS handshake failed)" exit_is "$RC" 35
    check "ClientHello offers TLS 1.0 at most" tshark_has "$PCAP" 'tls.handshake.type == 1 && tls.handshake.version == 0x0301'
    check "server sent alert protocol_version (70)" tshark_has "$PCAP" "ip.src == $TLS12_4 && tls.alert_message.desc == 70"
    check "server (stunnel TLS front) logged the refused handshake" log_has stunnel-tls12 'SSL_accept.*unsupported protocol'
    M_SERVER_LOG=$(log_line stunnel-tls12 'SSL_accept.*unsupported protocol')
}

sc_dns-servfail() {
    M_WHAT="The client looked up broken.mail.test; the router's resolver answered SERVFAIL (the authoritative server refuses the zone), so curl never opened a connection."
    M_VERDICT=dns-failure; M_CRED=not-at-fault; M_SERVER=""; M_PORT=993; M_PROTO=imap
    M_TLS=implicit; M_NAME=broken.mail.test; M_AUTH=unknown; M_CLOSE=-; M_CLOSED_BY=-
    M_NOTES="No TCP session exists: the manifest facts describe the attempted connection; replay should report a dns-failure event for broken.mail.test."
    run_curl -4 -sS -m 15 -u "$USER_A:$PASS_A" "imaps://broken.mail.test/INBOX;UID=1" -o /dev/null
}
verify_dns-servfail() {
    check "curl exit 6 (could not resolve host)" exit_is "$RC" 6
    check "SERVFAIL for broken.mail.test" tshark_has "$PCAP" 'dns.flags.response == 1 && dns.qry.name == "broken.mail.test" && dns.flags.rcode == 2'
    check "no TCP connection attempt" tshark_none "$PCAP" 'tcp'
    check "router resolver logged the SERVFAIL" log_has unbound-rtr 'broken.mail.test'
    M_SERVER_LOG=$(log_line unbound-rtr 'broken.mail.test')
}

sc_imaps-wrong-password() {
    touch "$STATE/auth-penalty"
    M_WHAT="The client tried three times over IMAPS with a wrong password, each login refused by the server inside TLS; the path was healthy throughout."
    M_VERDICT=auth-rejected; M_CRED=rejected; imaps_main_facts; M_AUTH=unknown
    M_NOTES="Encrypted: the rejection can only be inferred from the sessions' shape (three short sessions on a healthy path)."
    local i
    for i in 1 2 3; do
        run_curl -4 -sS -m 20 -u "$USER_A:$WRONG_PASS" "$IMAPS_A" -o /dev/null
        sleep 1
    done
}
verify_imaps-wrong-password() {
    local c
    for c in "${CMDS[@]}"; do check "curl exit 67 (login denied)" exit_is "$(jq .exit_code <<<"$c")" 67; done
    check "dovecot logged three auth failures" test "$(log_new dovecot-main | grep -c "auth failed.*user=<$USER_A>")" -eq 3
    M_SERVER_LOG=$(log_line dovecot-main "auth failed.*user=<$USER_A>")
    check "three TLS sessions to 993" test "$(tshark_count "$PCAP" 'tls.handshake.type == 1')" -eq 3
}

# A fetch of the large message over a slow line (256 kbit/s token bucket on the WAN, like
# basic DSL), so it is still running when a fault hits it 2 s in.
slow_line() { # slow_line on|off
    if [[ $1 == on ]]; then
        in_ns "$NS_NET" tc qdisc replace dev isp0 root tbf rate 256kbit burst 4kb latency 200ms
        in_ns "$NS_RTR" tc qdisc replace dev wan0 root tbf rate 256kbit burst 4kb latency 200ms
    else
        fault_congestion off ""
    fi
}
interrupted_fetch() { # interrupted_fetch FAULT [ARG]
    slow_line on
    run_curl_bg -4 -sS -m 10 -u "$USER_A:$PASS_A" "$BIG_A" -o /dev/null
    sleep 2
    fault "$1" on ${2:+"$2"}
    # shellcheck disable=SC2034   # read by live.sh: the fault's command has completed
    FAULT_AT=$(date +%s.%N)
    wait_curl_bg
    live_hold
}

# With a live daemon watching (LIVE_HOLD set by live.sh), keep the fault on a few seconds after
# the client gave up, as a real outage outlasts a mail client's patience; the lab otherwise lifts
# it at once to save time, and the client's unanswered goodbye would then be answered.
live_hold() { if [[ -n ${LIVE_HOLD:-} ]]; then sleep "$LIVE_HOLD"; fi; }

sc_imaps-wan-down() {
    M_WHAT="An IMAPS fetch of a large message over a slow (256 kbit/s) line was in progress when the router's WAN link went down; no more data arrived and curl gave up at its 10 s limit."
    M_VERDICT=wan-down; M_CRED=not-at-fault; imaps_main_facts; M_AUTH=unknown; M_FAULT=wan-link-down
    M_REPLAY_VERDICT=upstream-unreachable   # the LAN shows only silence (tests/data/README.md)
    interrupted_fetch wan-link-down
}
verify_imaps-wan-down() {
    check "curl exit 28 (timeout, transfer stalled)" exit_is "$RC" 28
    check "server data reached the client before the cut" test "$(tshark_count "$PCAP" "ip.src == $IMAP4 && tcp.len > 0")" -ge 10
}

sc_imaps-wan-flap() {
    M_WHAT="An IMAPS fetch of a large message over a slow line was in progress when the WAN link went down for 4 s. Taking the link down flushed the router's NAT mappings, so when it came back the server's retransmissions were refused by the router (dovecot logged a reset) and the session never resumed; curl, like a mail client with a stall timeout, gave up about 10 s in (exit 28)."
    M_VERDICT=wan-down; M_CRED=not-at-fault; imaps_main_facts; M_AUTH=unknown; M_FAULT="wan-link-down for 4 s"
    M_REPLAY_VERDICT=unknown   # the LAN shows a stall, then a reset: no cause (tests/data/README.md)
    slow_line on
    # -y/-Y: abort when under 1000 bytes/s for 3 s, the way mail clients give up on a stall.
    run_curl_bg -4 -sS -m 15 -Y 1000 -y 3 -u "$USER_A:$PASS_A" "$BIG_A" -o /dev/null
    sleep 2
    fault wan-link-down on
    # shellcheck disable=SC2034   # read by live.sh
    FAULT_AT=$(date +%s.%N)
    sleep 4
    fault wan-link-down off
    wait_curl_bg
    # The client's FIN waits in its retransmission queue until the link is back; then the server
    # sees the close and logs it.
    local i
    for i in $(seq 1 30); do log_has dovecot-main "imap\($USER_A\).*Disconnected" >/dev/null && break; sleep 0.2; done
}
verify_imaps-wan-flap() {
    check "curl exit 28 (stalled, gave up)" exit_is "$RC" 28
    check "server data reached the client before the cut" test "$(tshark_count "$PCAP" "ip.src == $IMAP4 && tcp.len > 0")" -ge 10
    check "dovecot logged the session's end" log_has dovecot-main "imap\($USER_A\).*Disconnected"
    M_SERVER_LOG=$(log_line dovecot-main "imap\($USER_A\).*Disconnected")
}

sc_imaps-wan-blackhole() {
    M_WHAT="An IMAPS fetch of a large message over a slow (256 kbit/s) line was in progress when everything crossing the WAN started being dropped (link still up); the transfer stalled and curl gave up at its 10 s limit."
    M_VERDICT=upstream-unreachable; M_CRED=not-at-fault; imaps_main_facts; M_AUTH=unknown
    M_FAULT=wan-blackhole
    interrupted_fetch wan-blackhole
}
verify_imaps-wan-blackhole() { verify_imaps-wan-down; }

sc_imaps-dns-upstream-dead() {
    M_WHAT="The router's resolver could not reach its upstream DNS server (dropped), so the client's lookup of imap.mail.test failed and no mail session started."
    M_VERDICT=dns-failure; M_CRED=not-at-fault; imaps_main_facts; M_SERVER=""; M_AUTH=unknown
    M_CLOSE=-; M_CLOSED_BY=-; M_FAULT=dns-upstream-dead
    fault dns-upstream-dead on
    run_curl -4 -sS -m 15 -u "$USER_A:$PASS_A" "$IMAPS_A" -o /dev/null
}
verify_imaps-dns-upstream-dead() {
    check "curl exit 6 or 28 (lookup failed or timed out)" exit_is "$RC" 6 28
    check "client asked for imap.mail.test" tshark_has "$PCAP" 'dns.flags.response == 0 && dns.qry.name == "imap.mail.test"'
    check "no successful answer for imap.mail.test" tshark_none "$PCAP" 'dns.flags.response == 1 && dns.qry.name == "imap.mail.test" && dns.flags.rcode == 0 && dns.count.answers > 0'
    check "no TCP connection attempt" tshark_none "$PCAP" 'tcp'
    M_NOTES="curl exit $RC: $( ((RC == 6)) && echo 'the resolver answered SERVFAIL' || echo 'the lookup timed out')."
}

sc_imaps-slow-server() {
    M_WHAT="The client fetched from slow.mail.test, whose password check takes 8 s; the path was healthy and the TLS handshake quick, but the login reply had not come when curl gave up at 7 s."
    M_VERDICT=server-slow; M_CRED=not-at-fault; M_SERVER=$SLOW4; M_PORT=993; M_PROTO=imap
    M_TLS=implicit; M_NAME=slow.mail.test; M_AUTH=unknown
    M_NOTES="The delay is real: dovecot's checkpassword passdb runs a script that sleeps 8 s before answering."
    run_curl -4 -sS -m 7 -u "$USER_A:$PASS_A" "imaps://slow.mail.test/INBOX;UID=1" -o /dev/null
}
verify_imaps-slow-server() {
    check "curl exit 28 (timeout)" exit_is "$RC" 28
    check "TLS handshake completed (ServerHello seen)" tshark_has "$PCAP" "ip.src == $SLOW4 && tls.handshake.type == 2"
    M_TLSV=$(tls_version_of "$PCAP")
}

sc_imaps-wan-address-change() {
    M_WHAT="An IMAPS fetch of a large message over a slow (256 kbit/s) line was in progress when the router's WAN address changed (203.0.113.2 to .3, new gateway); the NAT mapping was lost and the session died."
    M_VERDICT=wan-address-changed; M_CRED=not-at-fault; imaps_main_facts; M_AUTH=unknown
    M_FAULT=wan-address-change
    M_REPLAY_VERDICT=unknown   # the LAN shows a stall, then a reset: no cause (tests/data/README.md)
    interrupted_fetch wan-address-change
}
verify_imaps-wan-address-change() {
    check "curl failed (exit 28 stall or 56 reset)" exit_is "$RC" 28 56
    check "server data reached the client before the change" test "$(tshark_count "$PCAP" "ip.src == $IMAP4 && tcp.len > 0")" -ge 10
    M_NOTES="curl exit $RC."
}

sc_imap-idle-state-expired() {
    M_WHAT="fetchmail sat in IMAP IDLE over plaintext port 143; the router's firewall state for the idle session expired after 5 s, so the server's keepalives and new-mail notice were dropped and the client never heard from the server again."
    M_VERDICT=state-expired; M_CRED=not-at-fault; M_SERVER=$IMAP4; M_PORT=143; M_PROTO=imap
    M_TLS=none; M_NAME=imap.mail.test; M_AUTH=ok; M_FAULT=short-conntrack-timeout
    M_CLOSE=open; M_CLOSED_BY=none
    # From the LAN alone: 19 s of quiet, then the client's goodbye is never answered, which reads
    # as a broken path; that the router's state had expired is only in its state table.
    M_REPLAY_VERDICT=upstream-unreachable
    fault short-conntrack-timeout on
    # A live daemon reads the firewall's timeout at start and on SIGHUP (a settings change).
    if declare -F live_reload >/dev/null; then live_reload; fi
    local rc=$STATE/fetchmailrc
    mkdir -p "$STATE/fetchmail"
    cat >"$rc" <<EOF
set no syslog
poll imap.mail.test proto imap port 143 timeout 30
  user "$USER_A" there with password "$PASS_A" is root here
  keep idle sslproto '' mda "/bin/cat >/dev/null"
EOF
    chmod 600 "$rc"
    local cmd=(in_ns "$NS_CLI" env FETCHMAILHOME="$STATE/fetchmail" timeout 60 fetchmail -f "$rc" -v --nodetach -d 0)
    "${cmd[@]}" >>"$SC_LOG" 2>&1 &
    local pid=$!
    wait_for "fetchmail to enter IDLE" 20 grep -q 'IMAP> A[0-9]* IDLE' "$SC_LOG"
    say "fetchmail is in IDLE; waiting 16 s (state expires after 5 s idle, server pings every 10 s)"
    sleep 16
    deliver_new_message
    sleep 3
    ROUTER_DROPS=$(ctexpire_drops)
    # Stop the client. Its goodbye (if any) cannot get through the router either. ($pid is the
    # subshell running in_ns: fetchmail itself is stopped by its pid in the client namespace.)
    local p
    for p in $(ip netns pids "$NS_CLI" 2>/dev/null); do kill -TERM "$p" 2>/dev/null || true; done
    RC=0; wait "$pid" || RC=$?
    live_hold
    local shown=${cmd[*]//$STATE/\$LAB}
    CMDS+=("$(jq -cn --arg c "${shown#in_ns $NS_CLI }" --argjson rc "$RC" '{command: $c, exit_code: $rc, note: "stopped with SIGTERM after 18 s in IDLE"}')")
}
verify_imap-idle-state-expired() {
    check "fetchmail entered IDLE" tshark_has "$PCAP" 'tcp.dstport == 143 && frame contains "IDLE"'
    check "server confirmed IDLE (+ idling)" tshark_has "$PCAP" 'tcp.srcport == 143 && frame contains "+ idling"'
    check "router dropped the server's stateless packets ($ROUTER_DROPS)" test "$ROUTER_DROPS" -gt 0
    local last
    last=$(timeout 60 tshark -r "$PCAP" -Y 'tcp.srcport == 143' -T fields -e frame.time_relative 2>/dev/null | tail -1)
    check "server silent towards the client for the last 8 s (last packet at ${last}s)" \
        awk -v l="$last" 'BEGIN{exit !(l < 11)}'
    check "the new-mail EXISTS never reached the client" tshark_none "$PCAP" 'tcp.srcport == 143 && frame contains "EXISTS" && frame.time_relative > 15'
    M_NOTES="The session is still open on both ends when the capture stops: the client never learns the state is gone. The router's stateless-drop rules dropped $ROUTER_DROPS packet(s) from the server (keepalive 'Still here', new-mail EXISTS)."
    check "dovecot logged the login" log_has dovecot-main "imap-login: .*Login: user=<$USER_A>"
    M_SERVER_LOG=$(log_line dovecot-main "imap-login: .*Login: user=<$USER_A>")
}

sc_imaps-wan-loss() {
    M_WHAT="The client fetched a message over IMAPS while 20% of packets crossing the WAN were dropped at random."
    M_CRED=not-at-fault; imaps_main_facts; M_AUTH=unknown; M_FAULT="wan-loss 20%"
    fault wan-loss on 20
    run_curl -4 -sS -m 20 -u "$USER_A:$PASS_A" "$IMAPS_A" -o /dev/null
    LOSS_DROPPED=$(wan_loss_dropped)
}
verify_imaps-wan-loss() {
    # Random loss: the outcome varies, the expectation follows what really happened.
    if ((RC == 0)); then M_VERDICT=ok; M_CRED=ok; M_WHAT+=" The fetch completed, with retransmissions."
    else M_VERDICT=upstream-unreachable; M_WHAT+=" The fetch did not complete (curl exit $RC)."; fi
    check "curl exit 0 or a network error" exit_is "$RC" 0 28 35 56
    M_TLSV=$(tls_version_of "$PCAP")
    # Server packets lost on the WAN and resent arrive on the LAN once, often in order: the
    # router's own drop counter is the ground truth that loss happened, the capture may not show it.
    check "the router dropped packets of the fetch ($LOSS_DROPPED)" test "${LOSS_DROPPED:-0}" -gt 0
    if tshark_has "$PCAP" 'tcp.analysis.retransmission || tcp.analysis.lost_segment || tcp.analysis.duplicate_ack'; then
        printf '    note: retransmissions or gaps visible on the LAN\n' >&2
    else
        printf '    note: no retransmission or gap visible on the LAN (the losses were repaired beyond it)\n' >&2
    fi
}

sc_imaps-congestion() {
    M_WHAT="The client fetched a message over IMAPS while the WAN (1 Mbit/s token bucket, 1 s queue) was saturated by another LAN client's large download."
    imaps_main_facts; M_AUTH=unknown; M_FAULT="congestion 1mbit"
    fault congestion on 1mbit
    # The competing download runs from the second client (not on the captured port).
    in_ns "$NS_CLI2" env OPENSSL_CONF="$STATE/openssl-legacy.cnf" timeout 25 curl --cacert "$STATE/pki/ca.crt" \
        -4 -sS -m 20 -u "$USER_B:$PASS_B" "imaps://imap.mail.test/Big;UID=1" -o /dev/null >/dev/null 2>&1 &
    local bulk=$!
    sleep 2
    run_curl -4 -sS -m 25 -u "$USER_A:$PASS_A" "$IMAPS_A" -o /dev/null
    kill "$bulk" 2>/dev/null || true; wait "$bulk" 2>/dev/null || true
}
verify_imaps-congestion() {
    local secs
    secs=$(jq .seconds <<<"${CMDS[0]}")
    if ((RC == 0)); then M_VERDICT=ok; M_CRED=ok; M_WHAT+=" The fetch completed in ${secs} s instead of a few ms."
    else M_VERDICT=upstream-unreachable; M_CRED=not-at-fault; M_WHAT+=" The fetch did not complete (curl exit $RC)."; fi
    check "curl exit 0 or timeout" exit_is "$RC" 0 28
    check "the fetch took over 1 s (queueing delay)" awk -v s="$secs" 'BEGIN{exit !(s > 1)}'
    M_TLSV=$(tls_version_of "$PCAP")
}

sc_imaps-ipv6-good() {
    M_WHAT="The client fetched message 1 over IMAPS on IPv6 (routed, no NAT) with the correct password."
    M_VERDICT=ok; M_CRED=ok; M_CLIENT=$CLI6; M_SERVER=$IMAP6; M_PORT=993; M_PROTO=imap
    M_TLS=implicit; M_NAME=imap.mail.test; M_AUTH=unknown
    run_curl -6 -sS -m 20 -u "$USER_A:$PASS_A" "$IMAPS_A" -o /dev/null
}
verify_imaps-ipv6-good() {
    check "curl exit 0" exit_is "$RC" 0
    check "session over IPv6 to $IMAP6" tshark_has "$PCAP" "ipv6.dst == $IMAP6 && tcp.dstport == 993"
    check "AAAA answer for imap.mail.test" tshark_has "$PCAP" 'dns.qry.type == 28 && dns.flags.response == 1 && dns.count.answers > 0'
    check "dovecot logged the login from $CLI6" log_has dovecot-main "imap-login: .*Login: user=<$USER_A>.*rip=$CLI6"
    M_SERVER_LOG=$(log_line dovecot-main "imap-login: .*Login: user=<$USER_A>")
    M_TLSV=$(tls_version_of "$PCAP")
}

sc_pop3s-good() {
    M_WHAT="The client retrieved message 1 over POP3S with the correct password."
    M_VERDICT=ok; M_CRED=ok; M_SERVER=$POP4; M_PORT=995; M_PROTO=pop3; M_TLS=implicit
    M_NAME=pop.mail.test; M_AUTH=unknown
    run_curl -4 -sS -m 20 -u "$USER_A:$PASS_A" "pop3s://pop.mail.test/1" -o /dev/null
}
verify_pop3s-good() {
    check "curl exit 0" exit_is "$RC" 0
    check "dovecot logged the POP3 login" log_has dovecot-main "pop3-login: .*Login: user=<$USER_A>"
    M_SERVER_LOG=$(log_line dovecot-main "pop3-login: .*Login: user=<$USER_A>")
    check "SNI pop.mail.test" tshark_has "$PCAP" 'tls.handshake.extensions_server_name == "pop.mail.test"'
    M_TLSV=$(tls_version_of "$PCAP")
}

sc_imap-starttls-good() {
    M_WHAT="The client fetched message 1 over IMAP port 143 after STARTTLS, with the correct password."
    M_VERDICT=ok; M_CRED=ok; M_SERVER=$IMAP4; M_PORT=143; M_PROTO=imap; M_TLS=starttls
    M_NAME=imap.mail.test; M_AUTH=unknown
    run_curl -4 -sS -m 20 --ssl-reqd -u "$USER_A:$PASS_A" "imap://imap.mail.test/INBOX;UID=1" -o /dev/null
}
verify_imap-starttls-good() {
    check "curl exit 0" exit_is "$RC" 0
    check "client sent STARTTLS in clear" tshark_has "$PCAP" 'tcp.dstport == 143 && frame contains "STARTTLS"'
    check "TLS handshake on port 143" tshark_has "$PCAP" 'tcp.port == 143 && tls.handshake.type == 2'
    check "dovecot logged the login with TLS" log_has dovecot-main "imap-login: .*Login: user=<$USER_A>.*TLS"
    M_SERVER_LOG=$(log_line dovecot-main "imap-login: .*Login: user=<$USER_A>")
    M_TLSV=$(tls_version_of "$PCAP")
}
