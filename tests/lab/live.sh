# shellcheck shell=bash
# LIVE_HOLD, LIVE_MSG and friends are read by the scripts that source this file.
# shellcheck disable=SC2034
# mailpulse lab: the real daemon, live in the router namespace, judged per scenario.
# Sourced by run-all (when MAILPULSE is set) and scripts/demo.sh, after lib.sh and scenarios.sh.
#
# The daemon (`mailpulse daemon --foreground`) runs in mpl-rtr for the whole run with a config
# written here: it captures on br-lan (the LAN bridge: it carries the client's traffic with its
# real addresses, and unlike lan0 it is not re-created with each scenario's fresh client), watches
# wan0, and probes the lab's servers. live-recorder.py binds the daemon's syslog socket and polls
# `mailpulse events --json` every 0.2 s, noting when each line and each event arrived.
#
# For each scenario in LIVE_EXPECT the check finds, among what arrived since the scenario began,
# the client's event with the expected verdict (on the socket and in syslog), and measures its
# arrival against the moment the failure became visible to the router (LIVE_REF, see the table
# in README.md "Live checks"). Both must be within LIVE_LIMIT seconds.

LIVE_DIR=$STATE/live
LIVE_SOCK=$LIVE_DIR/mailpulse.sock
LIVE_SYSLOG=$LIVE_DIR/syslog.sock
LIVE_CONF=$LIVE_DIR/mailpulse.toml
LIVE_LIMIT=2.0
# How long after the reference moment to keep looking (a late event is reported with its latency).
LIVE_PATIENCE=6

# scenario -> "verdict|kind|reference|evidence pattern|router event"
#   kind       the event's kind (session-ok, session-failed, dns-failure)
#   reference  how the moment the failure became visible is read (live_reference)
#   evidence   an extended regex one of the event's evidence strings must match ("" = any)
#   router event  also required: this event kind (no client) within LIVE_LIMIT of the fault's
#              command completing (FAULT_AT, set by scenarios.sh)
declare -A LIVE_EXPECT=(
    [imaps-good]="ok|session-ok|session-end 993|"
    [imap-wrong-password]="auth-rejected|session-failed|frame tcp.srcport == 143 && frame contains \"NO [AUTHENTICATIONFAILED]\"|seen in plaintext"
    [tls10-refused]="tls-rejected|session-failed|frame tls.alert_message|"
    [imaps-wrong-password]="auth-rejected|session-failed|session-end 993 2|^inferred"
    [imaps-wan-down]="wan-down|session-failed|session-breaks 993||wan-down"
    [imaps-wan-blackhole]="upstream-unreachable|session-failed|session-breaks 993|"
    [imaps-dns-upstream-dead]="dns-failure|dns-failure|dns-failed imap.mail.test|"
    [imaps-slow-server]="server-slow|session-failed|session-breaks 993|"
    [imaps-wan-address-change]="wan-address-changed|session-failed|session-breaks 993||wan-address-changed"
    [imap-idle-state-expired]="state-expired|session-failed|session-breaks 143|^your firewall forgets idle TCP sessions after .*nf_conntrack_tcp_timeout_established"
    [imaps-wan-flap]="wan-down|session-failed|session-breaks 993||wan-down"
)
# The scenarios the live check covers, in the lab's order.
LIVE_SCENARIOS=()
for _s in "${SCENARIOS[@]}"; do [[ -n ${LIVE_EXPECT[$_s]:-} ]] && LIVE_SCENARIOS+=("$_s"); done
unset _s

# The unprivileged account the live daemon drops to, as on a real router: what it reads after
# the drop (conntrack's timeouts on every reload, captures reopened) is tested as it runs there.
LIVE_USER=mailpulse

live_write_config() {
    mkdir -p "$LIVE_DIR/state"
    # The package creates the state directory owned by the daemon's user; the daemon never
    # hands it over itself.
    chown "$LIVE_USER:" "$LIVE_DIR/state"
    chmod 750 "$LIVE_DIR/state"
    cat >"$LIVE_CONF" <<EOF
# Written by tests/lab/live.sh for the lab's router ($NS_RTR).
[daemon]
socket = "$LIVE_SOCK"
state_dir = "$LIVE_DIR/state"
user = "$LIVE_USER"
syslog_socket = "$LIVE_SYSLOG"
socket_mode = 0o600

[wan]
interfaces = ["wan0"]

[lan]
interfaces = ["br-lan"]

[probe]
interval = "5s"
timeout = "4s"
targets = ["imaps://imap.mail.test", "pop3s://pop.mail.test", "imaps://tls12.mail.test",
           "imaps://slow.mail.test"]
nameservers = ["127.0.0.1"]
ca_file = "$STATE/pki/ca.crt"

[diagnosis]
# The lab runs its scenarios 10-20 s apart; the default 60 s would let one scenario's fault (a
# probe that failed during it) count against the next one (LIVE-FINDINGS.md, F9).
window = "15s"
slow_dns = "2s"
# The slow server's login answer takes 8 s; curl gives up at 7.
slow_server = "5s"

[capture]
evidence_ring = 0
EOF
}

# live_start MAILPULSE   start the recorder and the daemon; wait until the daemon answers.
live_start() {
    LIVE_MP=$1
    command -v python3 >/dev/null || die "MISSING prerequisite: python3 (package python3)"
    if ! id "$LIVE_USER" >/dev/null 2>&1; then
        command -v useradd >/dev/null || die "MISSING prerequisite: useradd (package passwd)"
        useradd -r -M -s /usr/sbin/nologin "$LIVE_USER" \
            || die "cannot create the daemon's account $LIVE_USER"
    fi
    live_write_config
    "$LIVE_MP" check-config -c "$LIVE_CONF" >"$LIVE_DIR/check-config.out" 2>&1 \
        || die "the lab's daemon config is refused: $(cat "$LIVE_DIR/check-config.out")"
    bg_start live-recorder "$NS_RTR" "$LIVE_DIR/recorder.log" \
        python3 "$LAB_DIR/live-recorder.py" "$LIVE_MP" "$LIVE_SOCK" "$LIVE_SYSLOG" "$LIVE_DIR"
    wait_for "the syslog recorder to bind $LIVE_SYSLOG" 10 test -S "$LIVE_SYSLOG"
    # Like /dev/log: every local user may log (the daemon sends as $LIVE_USER).
    chmod 666 "$LIVE_SYSLOG"
    bg_start mailpulse "$NS_RTR" "$LIVE_DIR/daemon.log" "$LIVE_MP" daemon -c "$LIVE_CONF" --foreground
    wait_for "the daemon's control socket" 15 "$LIVE_MP" status --socket "$LIVE_SOCK"
    # Faults stay on this long after the client gave up (scenarios.sh, live_hold).
    LIVE_HOLD=3
    # The first probe round tells the engine the path is healthy.
    sleep 2
    bg_running mailpulse || die "mailpulse daemon exited: $(tail -5 "$LIVE_DIR/daemon.log")"
    say "mailpulse daemon running in $NS_RTR (log $LIVE_DIR/daemon.log)"
}

live_stop() {
    bg_stop mailpulse
    bg_stop live-recorder
}

# The daemon re-reads the firewall's timeouts on SIGHUP (as after a firewall settings change).
live_reload() {
    local f=$PIDDIR/mailpulse.pid
    [[ -f $f ]] || return 0
    # `ip netns exec` execs the daemon in place, so the registered pid is the daemon's own.
    kill -HUP "$(cat "$f")" 2>/dev/null || true
}

# Called by run_scenario before each scenario while the daemon runs. The daemon's probes ask the
# router's resolver every few seconds; a lookup still in flight when a DNS fault was lifted can
# leave a SERVFAIL behind in unbound right after the lab's flush (seen: the next scenario's
# client failed to resolve at once). Wait until the resolver answers the lab's names, then flush
# again, so each scenario still starts from a cold cache.
live_settle_dns() {
    local i host ok
    for ((i = 0; i < 40; i++)); do
        ok=1
        for host in imap.mail.test slow.mail.test tls12.mail.test; do
            [[ -n $(in_ns "$NS_RTR" timeout 3 dig +short +time=2 +tries=1 @127.0.0.1 "$host" A 2>/dev/null) ]] || ok=0
        done
        ((ok)) && break
        sleep 0.25
    done
    flush_router_dns
}

now_epoch() { date +%s.%N; }

# tshark epoch of the first frame matching a display filter in the scenario's capture.
first_frame() { timeout 60 tshark -r "$PCAP" -Y "$1" -T fields -e frame.time_epoch 2>/dev/null | head -1; }

# live_reference HOW   sets LIVE_REF to the epoch at which the failure became visible to the
# router ("" if the capture does not show it) and LIVE_REF_WHAT to say what that moment was.
live_reference() {
    local how=$1 kind arg n stream
    kind=${how%% *}; arg=${how#* }
    LIVE_REF=""
    case $kind in
    frame) # the first frame on the LAN that shows the failure (the server's reply, an alert)
        LIVE_REF_WHAT="the first frame matching '$arg'"
        LIVE_REF=$(first_frame "$arg") ;;
    session-end) # the last FIN/RST of the Nth session to PORT: the session is over
        read -r arg n <<<"$arg"; n=${n:-1}
        LIVE_REF_WHAT="the end of session $n to port $arg (its last FIN/RST on the LAN)"
        stream=$(timeout 60 tshark -r "$PCAP" -Y "tcp.port == $arg && tcp.flags.syn == 1 && tcp.flags.ack == 0" \
            -T fields -e tcp.stream 2>/dev/null | awk '!s[$1]++' | sed -n "${n}p")
        [[ -n $stream ]] || return 0
        LIVE_REF=$(timeout 60 tshark -r "$PCAP" -Y "tcp.stream == $stream && (tcp.flags.fin == 1 || tcp.flags.reset == 1)" \
            -T fields -e frame.time_epoch 2>/dev/null | tail -1) ;;
    session-breaks) # the first FIN/RST of a session on PORT, either side (client gives up, reset)
        LIVE_REF_WHAT="the session breaking (first FIN/RST on port $arg on the LAN, either side)"
        LIVE_REF=$(first_frame "tcp.port == $arg && (tcp.flags.fin == 1 || tcp.flags.reset == 1)") ;;
    client-gives-up) # the client's first FIN/RST to PORT
        LIVE_REF_WHAT="the client giving up (its first FIN/RST to port $arg on the LAN)"
        LIVE_REF=$(first_frame "(ip.src == $CLI4 || ipv6.src == $CLI6) && tcp.dstport == $arg && (tcp.flags.fin == 1 || tcp.flags.reset == 1)") ;;
    dns-failed) # a failure answer to the client, else the client's last unanswered query + 3 s
        LIVE_REF_WHAT="the resolver's failure answer for $arg to the client"
        LIVE_REF=$(first_frame "dns.flags.response == 1 && dns.qry.name == \"$arg\" && dns.flags.rcode != 0")
        if [[ -z $LIVE_REF ]]; then
            LIVE_REF_WHAT="the client's last query for $arg timing out (3 s, its resolv.conf)"
            LIVE_REF=$(timeout 60 tshark -r "$PCAP" -Y "dns.flags.response == 0 && dns.qry.name == \"$arg\"" \
                -T fields -e frame.time_epoch 2>/dev/null | tail -1)
            [[ -z $LIVE_REF ]] || LIVE_REF=$(awk -v t="$LIVE_REF" 'BEGIN{printf "%.6f", t + 3}')
        fi ;;
    *) die "live_reference: unknown reference '$how'" ;;
    esac
    return 0
}

# The syslog line of docs/architecture.md: RFC 3164 header, then `kind key=value…: sentence`.
LIVE_SYSLOG_RE='^<[0-9]{1,3}>[A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} mailpulse\[[0-9]+\]: [a-z-]+ client=[^ ]+( server=[^ ]+)? verdict=[a-z-]+ credentials=[a-z-]+: [^ ].*$'

# live_check NAME SINCE   judge one scenario; sets LIVE_MSG; status 0 = pass.
live_check() {
    local name=$1 since=$2 spec verdict kind how evid ref deadline ev line
    spec=${LIVE_EXPECT[$name]:-}
    [[ -n $spec ]] || { LIVE_MSG="no live expectation"; return 0; }
    local router_kind
    IFS='|' read -r verdict kind how evid router_kind <<<"$spec"
    live_reference "$how"; ref=$LIVE_REF
    LIVE_VERDICT_SEEN=""; LIVE_LATENCY=""; LIVE_ROUTER_MSG=""
    if [[ -z $ref ]]; then
        LIVE_MSG="live: could not find the reference moment ($LIVE_REF_WHAT) in the capture"
        live_explain; return 1
    fi
    deadline=$(awk -v r="$ref" -v p="$LIVE_PATIENCE" 'BEGIN{printf "%.3f", r + p}')
    # shellcheck disable=SC2016   # jq variables, not shell ones
    local filter='select(.event.client == $client and .event.verdict == $verdict and .event.kind == $kind
                  and ($evid == "" or any(.event.evidence[]?; test($evid))))'
    while :; do
        ev=$(jq -c --argjson since "$since" --arg client "$M_CLIENT" --arg verdict "$verdict" \
            --arg kind "$kind" --arg evid "$evid" "select(.seen >= \$since) | $filter" \
            "$LIVE_DIR/events.jsonl" 2>/dev/null | head -1)
        line=$(jq -c --argjson since "$since" --arg c "client=$M_CLIENT " --arg v "verdict=$verdict " \
            --arg k "$kind" 'select(.arrived >= $since and (.line | contains(": " + $k + " "))
                                   and (.line | contains($c)) and (.line | contains($v)))' \
            "$LIVE_DIR/syslog.jsonl" 2>/dev/null | head -1)
        [[ -n $ev && -n $line ]] && break
        awk -v d="$deadline" -v n="$(now_epoch)" 'BEGIN{exit !(n > d)}' && break
        sleep 0.2
    done
    # What the daemon said about this client during the scenario, for the report.
    LIVE_VERDICT_SEEN=$(jq -r --argjson since "$since" --arg client "$M_CLIENT" \
        'select(.seen >= $since and .event.client == $client) | "\(.event.kind)/\(.event.verdict // "-")"' \
        "$LIVE_DIR/events.jsonl" 2>/dev/null | paste -sd, -)
    local problems=() sock_lat="" log_lat=""
    if [[ -n $ev ]]; then
        sock_lat=$(jq -r --argjson r "$ref" '.seen - $r | . * 100 | round / 100' <<<"$ev")
        awk -v l="$sock_lat" -v m="$LIVE_LIMIT" 'BEGIN{exit !(l <= m)}' \
            || problems+=("socket event ${sock_lat}s after the failure (limit ${LIVE_LIMIT}s)")
    else
        problems+=("no $kind event with verdict $verdict${evid:+ and evidence /$evid/} for $M_CLIENT on the socket")
    fi
    if [[ -n $line ]]; then
        log_lat=$(jq -r --argjson r "$ref" '.arrived - $r | . * 100 | round / 100' <<<"$line")
        awk -v l="$log_lat" -v m="$LIVE_LIMIT" 'BEGIN{exit !(l <= m)}' \
            || problems+=("syslog line ${log_lat}s after the failure (limit ${LIVE_LIMIT}s)")
        jq -r .line <<<"$line" | grep -Eq "$LIVE_SYSLOG_RE" \
            || problems+=("syslog line not in the documented format: $(jq -r .line <<<"$line")")
    else
        problems+=("no syslog line with client=$M_CLIENT verdict=$verdict")
    fi
    if [[ -n $router_kind ]]; then
        local rev rlat
        rev=$(jq -c --argjson since "$since" --arg k "$router_kind" \
            'select(.seen >= $since and .event.kind == $k and .event.client == null)' \
            "$LIVE_DIR/events.jsonl" 2>/dev/null | head -1)
        if [[ -z $rev || -z $FAULT_AT ]]; then
            problems+=("no $router_kind router event after the fault")
        else
            rlat=$(jq -r --argjson r "$FAULT_AT" '.seen - $r | . * 100 | round / 100' <<<"$rev")
            LIVE_ROUTER_MSG="; router event $router_kind ${rlat}s after the fault"
            awk -v l="$rlat" -v m="$LIVE_LIMIT" 'BEGIN{exit !(l <= m)}' \
                || problems+=("$router_kind router event ${rlat}s after the fault (limit ${LIVE_LIMIT}s)")
        fi
    fi
    LIVE_LATENCY=-
    if [[ -n $sock_lat && -n $log_lat ]]; then
        LIVE_LATENCY=$(awk -v a="$sock_lat" -v b="$log_lat" 'BEGIN{printf "%.2f", (a > b ? a : b)}')
    fi
    if ((${#problems[@]})); then
        LIVE_MSG="live: expected $verdict, daemon said ${LIVE_VERDICT_SEEN:-nothing}; $(IFS=';'; echo "${problems[*]}") [reference: $LIVE_REF_WHAT]"
        live_explain
        return 1
    fi
    LIVE_MSG="live: $verdict in ${LIVE_LATENCY}s (socket ${sock_lat}s, syslog ${log_lat}s after $LIVE_REF_WHAT)$LIVE_ROUTER_MSG"
    return 0
}

# On failure: the daemon's own story of the client, so the cause is visible in the output.
live_explain() {
    {
        echo "    --- mailpulse explain $M_CLIENT"
        timeout 10 "$LIVE_MP" explain "$M_CLIENT" --socket "$LIVE_SOCK" 2>&1 | sed 's/^/    /' | tail -40
        echo "    ---"
    } >&2
}
