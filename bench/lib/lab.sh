# shellcheck shell=bash
# The bench lab: two network namespaces joined by a veth pair, a dovecot with a test CA, and the
# real daemon capturing on the router's LAN side. Sourced by bench/run.sh after common.sh.
#
#   mpx-cli                                   mpx-rtr
#   eth0 192.168.78.10/24  <--- veth --->     lan0 192.168.78.1/24 (+ .2 for the 10 k listener)
#                                             wan0 203.0.113.2/24 (veth to wanp0, also in
#                                             mpx-rtr: a link that leads nowhere), default via .1
#
# Nothing is routed anywhere: mpx-rtr's only other link is a veth whose far end it also holds, so no packet made
# here leaves the two namespaces. Every namespace carries the prefix mpx-; teardown removes
# exactly those.

# LAB_PREFIX names the namespaces and veths (mpx by default), so two harnesses can run apart.
LAB_PREFIX=${LAB_PREFIX:-mpx}
NS_CLI=$LAB_PREFIX-cli
NS_RTR=$LAB_PREFIX-rtr
CLI4=192.168.78.10
RTR4=192.168.78.1
HOLD4=192.168.78.2
# dovecot's implicit-TLS ports: 993 and nine more, so that 10 probe targets are 10 listeners.
PROBE_PORTS=(993 9931 9932 9933 9934 9935 9936 9937 9938 9939)

in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# pids this harness started, stopped in reverse order at teardown (only these, by id).
BG_PIDS=()

lab_down() {
    local i pid
    for ((i = ${#BG_PIDS[@]} - 1; i >= 0; i--)); do
        pid=${BG_PIDS[i]}
        kill "$pid" 2>/dev/null || true
    done
    for ((i = ${#BG_PIDS[@]} - 1; i >= 0; i--)); do
        pid=${BG_PIDS[i]}
        for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    done
    BG_PIDS=()
    rm -f "${W:?}/syslog.sock"
    local ns
    for ns in "$NS_CLI" "$NS_RTR"; do
        ip netns del "$ns" 2>/dev/null || true
    done
}

# bg NAME LOG CMD...: starts CMD in the background, remembers its pid in BG_PIDS and $BG_PID.
bg() {
    local name=$1 log=$2; shift 2
    "$@" >"$log" 2>&1 &
    BG_PID=$!
    BG_PIDS+=("$BG_PID")
    say "started $name (pid $BG_PID)"
}

# wait_until WHAT SECONDS CMD...: polls CMD every 0.1 s until it succeeds; dies naming WHAT.
wait_until() {
    local what=$1 secs=$2; shift 2
    local end=$((SECONDS + secs))
    while ((SECONDS < end)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    die "timed out after ${secs}s waiting for $what"
}

listening() { in_ns "$1" ss -Hltn "sport = :$2" | grep -q .; }

lab_up() {
    need ip iproute2
    need dovecot dovecot-imapd
    need openssl openssl
    need python3 python3
    lab_down
    ip netns add "$NS_CLI"
    ip netns add "$NS_RTR"
    ip link add "$LAB_PREFIX-c0" type veth peer name "$LAB_PREFIX-r0"
    ip link set "$LAB_PREFIX-c0" netns "$NS_CLI"
    ip link set "$LAB_PREFIX-r0" netns "$NS_RTR"
    in_ns "$NS_CLI" ip link set "$LAB_PREFIX-c0" name eth0
    in_ns "$NS_RTR" ip link set "$LAB_PREFIX-r0" name lan0
    in_ns "$NS_CLI" ip link set lo up
    in_ns "$NS_RTR" ip link set lo up
    in_ns "$NS_CLI" ip addr add "$CLI4/24" dev eth0
    in_ns "$NS_RTR" ip addr add "$RTR4/24" dev lan0
    in_ns "$NS_RTR" ip addr add "$HOLD4/24" dev lan0
    in_ns "$NS_CLI" ip link set eth0 up
    in_ns "$NS_RTR" ip link set lan0 up
    # The WAN: a veth pair whose far end (wanp0) stays in mpx-rtr, unaddressed: a link with
    # carrier that leads nowhere.
    in_ns "$NS_RTR" ip link add wan0 type veth peer name wanp0
    in_ns "$NS_RTR" ip addr add 203.0.113.2/24 dev wan0
    in_ns "$NS_RTR" ip link set wanp0 up
    in_ns "$NS_RTR" ip link set wan0 up
    in_ns "$NS_RTR" ip route add default via 203.0.113.1 dev wan0
    # veth offloads would hand the capture 64 KB super-segments; a router's NIC sees wire-size
    # frames, so switch them off on both ends.
    in_ns "$NS_CLI" ethtool -K eth0 tso off gso off gro off >/dev/null 2>&1 || true
    in_ns "$NS_RTR" ethtool -K lan0 tso off gso off gro off >/dev/null 2>&1 || true
    make_pki
    start_dovecot
}

make_pki() {
    local d=$W/pki
    mkdir -p "$d"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -sha256 \
        -subj "/O=mailpulse bench/CN=mailpulse bench CA" \
        -keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 \
        -subj "/O=mailpulse bench/CN=imap.bench.test" \
        -keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null
    printf '%s\n' "basicConstraints = CA:FALSE" "extendedKeyUsage = serverAuth" \
        "subjectAltName = DNS:imap.bench.test, IP:$RTR4" >"$d/server.ext"
    openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
        -days 2 -sha256 -extfile "$d/server.ext" -out "$d/server.crt" 2>/dev/null
    chmod 644 "$d/ca.crt" "$d/server.crt" "$d/server.key"
}

start_dovecot() {
    local d=$W/dovecot p listeners=""
    mkdir -p "$d/run" "$d/state" "$W/mail"
    chmod 755 "$W" "$d" "$d/run"
    printf 'bench:{PLAIN}bench-password::::::\n' >"$W/users"
    chmod 644 "$W/users"
    for p in "${PROBE_PORTS[@]}"; do
        # 993 keeps dovecot's built-in listener name, or it counts as a second one on 993.
        listeners+="  inet_listener imaps$([[ $p == 993 ]] || echo "$p") {
    port = $p
    ssl = yes
  }
"
    done
    cat >"$d/dovecot.conf" <<EOF
# dovecot for bench/run.sh (generated)
instance_name = $LAB_PREFIX-bench
base_dir = $d/run
state_dir = $d/state
log_path = $W/dovecot.log
protocols = imap
listen = $RTR4
ssl = yes
ssl_cert = <$W/pki/server.crt
ssl_key = <$W/pki/server.key
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
auth_mechanisms = plain
login_trusted_networks = 192.168.78.0/24 127.0.0.0/8
mail_location = maildir:~/Maildir
first_valid_uid = 1
login_greeting = bench ready
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $W/users
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$W/mail/%u
}
service imap-login {
  inet_listener imap {
    port = 143
  }
$listeners}
EOF
    bg dovecot "$W/dovecot.stdout" ip netns exec "$NS_RTR" dovecot -F -c "$d/dovecot.conf"
    wait_until "dovecot on $RTR4:993" 20 listening "$NS_RTR" 993
    wait_until "dovecot on $RTR4:9939" 20 listening "$NS_RTR" 9939
}

# write_daemon_conf FILE TARGET_COUNT [INTERVAL]: the daemon's configuration for the lab.
write_daemon_conf() {
    local f=$1 n=$2 interval=${3:-30s} targets="" i
    for ((i = 0; i < n; i++)); do
        targets+="\"imaps://$RTR4:${PROBE_PORTS[i]}\", "
    done
    cat >"$f" <<EOF
[daemon]
socket = "$W/mailpulse.sock"
state_dir = "$W/state"
user = ""
syslog = true
syslog_socket = "$W/syslog.sock"
log_level = "info"

[wan]
interfaces = ["wan0"]
dpinger_sockets = "$W/no-dpinger-*.sock"

[lan]
interfaces = ["lan0"]

[probe]
interval = "$interval"
targets = [${targets%, }]
nameservers = ["127.0.0.1:53"]
ca_file = "$W/pki/ca.crt"
EOF
}

# start_daemon CONF: the daemon in mpx-rtr (capturing on lan0, watching wan0). Sets DAEMON_PID.
# The syslog listener must already be bound to $W/syslog.sock (the config's syslog_socket).
start_daemon() {
    local conf=$1
    rm -rf "$W/state"
    mkdir -p "$W/state"
    bg mailpulse-daemon "$W/daemon.log" ip netns exec "$NS_RTR" "$MAILPULSE" daemon -c "$conf" --foreground
    DAEMON_PID=$BG_PID
    wait_until "the daemon's control socket" 30 "$MAILPULSE" status --socket "$W/mailpulse.sock"
    # Let the capture open and the first probes finish.
    sleep 1
}

stop_daemon() {
    [[ -n ${DAEMON_PID:-} ]] || return 0
    kill "$DAEMON_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$DAEMON_PID" 2>/dev/null || true
    DAEMON_PID=""
}

# start_syslog_listener: a datagram listener on $W/syslog.sock writing "receipt-time<TAB>line"
# to $W/syslog.txt (one per run of the harness; later calls keep the running one).
start_syslog_listener() {
    [[ -S $W/syslog.sock ]] && return 0
    : >"$W/syslog.txt"
    bg syslog-listener "$W/syslog-listener.log" \
        python3 "$BENCH_DIR/tools/syslog_listener.py" "$W/syslog.sock" "$W/syslog.txt" 3600
    wait_until "the syslog listener on $W/syslog.sock" 10 test -S "$W/syslog.sock"
}

status_json() { "$MAILPULSE" status --json --socket "$W/mailpulse.sock"; }

# capture_counter NAME: the sum of captures[].stats.NAME in the daemon's status.
capture_counter() {
    status_json | python3 -c '
import json, sys
s = json.load(sys.stdin)
print(sum(c.get("stats", {}).get(sys.argv[1], 0) for c in s.get("captures", [])))' "$1"
}
