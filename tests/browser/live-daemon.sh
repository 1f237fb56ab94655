#!/bin/bash
# A small live lab for the browser test: three network namespaces (mpb-cli, mpb-rtr, mpb-srv),
# a real dovecot and unbound on the "internet" side, the real `mailpulse daemon --foreground`
# in the router, and real mail traffic from the client made with curl:
#   one good IMAPS fetch, one wrong password (plaintext IMAP: dovecot answers NO
#   [AUTHENTICATIONFAILED]), one connection to an address that never answers, a WAN link flap
#   with a fetch attempted while the link is down.
#
# Usage: live-daemon.sh [-- CMD ARGS...]
#   Builds the lab, makes the traffic, waits until the daemon has judged the failed sessions,
#   then runs CMD (default: an interactive wait for Enter) with MAILPULSE_SOCKET and MAILPULSE
#   in its environment. Everything (namespaces, processes, files) is removed on exit, also on
#   failure or Ctrl-C. Run as root on Linux. The daemon binary: $MAILPULSE, else
#   target/debug/mailpulse of this checkout.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
MAILPULSE=${MAILPULSE:-$ROOT/target/debug/mailpulse}

NS_CLI=mpb-cli NS_RTR=mpb-rtr NS_SRV=mpb-srv
LAN_CLI=192.168.77.10 LAN_RTR=192.168.77.1
WAN_RTR=198.51.100.2 WAN_ISP=198.51.100.1
IMAP=203.0.113.10 DNS=203.0.113.53 DEAD=203.0.113.99
USER_NAME=alice USER_PASS=correct-horse-battery

log() { printf 'live-daemon: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

need() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || die "missing prerequisite: $c"
    done
}

[[ $(id -u) == 0 ]] || die "must run as root (network namespaces)"
need ip nft dovecot unbound openssl curl
[[ -x $MAILPULSE ]] || die "missing prerequisite: the mailpulse binary ($MAILPULSE); run 'cargo build' or set MAILPULSE"

STATE=$(mktemp -d /tmp/mpb-live.XXXXXX)
chmod 755 "$STATE"
PIDS=()

cleanup() {
    local rc=$? pid ns
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    for ns in "$NS_CLI" "$NS_RTR" "$NS_SRV"; do
        # Anything still running in the namespace (dovecot's children) goes with it.
        ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
        ip netns del "$ns" 2>/dev/null || true
        rm -rf "/etc/netns/$ns"
    done
    if [[ ${KEEP_STATE:-} == 1 ]]; then
        log "state kept in $STATE"
    else
        rm -rf "$STATE"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# bg NAME NS CMD...: start CMD in the background in namespace NS, output to $STATE/NAME.log.
bg() {
    local name=$1 ns=$2; shift 2
    ip netns exec "$ns" "$@" >"$STATE/$name.log" 2>&1 &
    PIDS+=("$!")
}

# wait_for WHAT SECONDS CMD...: poll CMD every 0.2 s until it succeeds.
wait_for() {
    local what=$1 secs=$2 i; shift 2
    for ((i = 0; i < secs * 5; i++)); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.2
    done
    die "timed out after ${secs}s waiting for $what"
}

listening() { in_ns "$1" ss -Hltn "src $2:$3" | grep -q .; }

# Leftovers of an earlier run that was killed hard.
for ns in "$NS_CLI" "$NS_RTR" "$NS_SRV"; do
    ip netns del "$ns" 2>/dev/null || true
done

# --- network ---------------------------------------------------------------------------------
for ns in "$NS_CLI" "$NS_RTR" "$NS_SRV"; do
    ip netns add "$ns"
    in_ns "$ns" ip link set lo up
    in_ns "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
done
ip -n "$NS_RTR" link add lan0 type veth peer name eth0 netns "$NS_CLI"
ip -n "$NS_RTR" link add wan0 type veth peer name isp0 netns "$NS_SRV"
# Checksums are filled in by the NIC on real hardware; on veth they would stay partial in the
# capture, so offloads are switched off as on the lab's links.
offloads_off() { in_ns "$1" ethtool -K "$2" rx off tx off gso off tso off gro off >/dev/null 2>&1 || true; }
offloads_off "$NS_RTR" lan0
offloads_off "$NS_RTR" wan0
offloads_off "$NS_CLI" eth0
offloads_off "$NS_SRV" isp0
in_ns "$NS_CLI" ip addr add "$LAN_CLI/24" dev eth0
in_ns "$NS_CLI" ip link set eth0 up
in_ns "$NS_CLI" ip route add default via "$LAN_RTR"
in_ns "$NS_RTR" ip addr add "$LAN_RTR/24" dev lan0
in_ns "$NS_RTR" ip addr add "$WAN_RTR/24" dev wan0
in_ns "$NS_RTR" ip link set lan0 up
in_ns "$NS_RTR" ip link set wan0 up
in_ns "$NS_RTR" ip route add default via "$WAN_ISP"
in_ns "$NS_RTR" sysctl -qw net.ipv4.ip_forward=1
in_ns "$NS_SRV" ip addr add "$WAN_ISP/24" dev isp0
in_ns "$NS_SRV" ip link set isp0 up
for a in "$IMAP" "$DNS" "$DEAD"; do
    in_ns "$NS_SRV" ip addr add "$a/32" dev lo
done
in_ns "$NS_SRV" ip route add 192.168.77.0/24 via "$WAN_RTR"
# The dead address takes SYNs and answers nothing, not even an ICMP error.
in_ns "$NS_SRV" nft -f - <<NFT
table ip mpb_dead {
    chain pre {
        type filter hook prerouting priority -300; policy accept;
        ip daddr $DEAD drop
    }
}
NFT
mkdir -p "/etc/netns/$NS_CLI" "/etc/netns/$NS_RTR"
printf 'nameserver %s\noptions timeout:2 attempts:1\n' "$DNS" >"/etc/netns/$NS_CLI/resolv.conf"
printf 'nameserver %s\noptions timeout:2 attempts:1\n' "$DNS" >"/etc/netns/$NS_RTR/resolv.conf"

# --- a test CA and the mail server's certificate ----------------------------------------------
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -sha256 -subj "/CN=mailpulse browser-test CA" \
    -keyout "$STATE/ca.key" -out "$STATE/ca.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=imap.mail.test" \
    -keyout "$STATE/server.key" -out "$STATE/server.csr" 2>/dev/null
printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:imap.mail.test,DNS:dead.mail.test,IP:%s\n' \
    "$IMAP" >"$STATE/server.ext"
openssl x509 -req -in "$STATE/server.csr" -CA "$STATE/ca.crt" -CAkey "$STATE/ca.key" \
    -CAcreateserial -days 2 -sha256 -extfile "$STATE/server.ext" -out "$STATE/server.crt" 2>/dev/null
chmod 644 "$STATE/ca.crt" "$STATE/server.crt"

# --- DNS: unbound, authoritative for mail.test from local data only ----------------------------
cat >"$STATE/unbound.conf" <<UNB
server:
    interface: $DNS
    port: 53
    do-daemonize: no
    chroot: ""
    username: ""
    directory: "$STATE"
    pidfile: "$STATE/unbound.pid"
    use-syslog: no
    logfile: ""
    access-control: 0.0.0.0/0 allow
    module-config: "iterator"
    local-zone: "." static
    local-zone: "mail.test." static
    local-data: "imap.mail.test. 60 IN A $IMAP"
    local-data: "dead.mail.test. 60 IN A $DEAD"
remote-control:
    control-enable: no
UNB
bg unbound "$NS_SRV" unbound -d -c "$STATE/unbound.conf"

# --- dovecot: plaintext IMAP on 143 and IMAPS on 993 with one known user ----------------------
mkdir -p "$STATE/mail/$USER_NAME/Maildir"/{cur,new,tmp} "$STATE/dovecot/run" "$STATE/dovecot/state"
for i in 1 2 3; do
    printf 'From: sender@mail.test\r\nTo: %s@mail.test\r\nSubject: message %s\r\n\r\nHello.\r\n' \
        "$USER_NAME" "$i" >"$STATE/mail/$USER_NAME/Maildir/cur/100000000$i.M$i.mpb:2,"
done
chown -R nobody:nogroup "$STATE/mail"
chmod 755 "$STATE/dovecot" "$STATE/dovecot/run"
printf '%s:{PLAIN}%s::::::\n' "$USER_NAME" "$USER_PASS" >"$STATE/users"
chmod 644 "$STATE/users"
cat >"$STATE/dovecot/dovecot.conf" <<DOV
instance_name = mpb-dovecot
base_dir = $STATE/dovecot/run
state_dir = $STATE/dovecot/state
log_path = $STATE/dovecot.log
protocols = imap
listen = $IMAP
ssl = yes
ssl_cert = <$STATE/server.crt
ssl_key = <$STATE/server.key
disable_plaintext_auth = no
auth_mechanisms = plain login
# No "auth penalty" delays between the runs' logins from the same address.
login_trusted_networks = 192.168.77.0/24
mail_location = maildir:~/Maildir
first_valid_uid = 1
login_greeting = mail.test ready
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $STATE/users
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$STATE/mail/%u
}
service imap-login {
  inet_listener imap {
    port = 143
  }
  inet_listener imaps {
    port = 993
    ssl = yes
  }
}
DOV
bg dovecot "$NS_SRV" dovecot -F -c "$STATE/dovecot/dovecot.conf"
wait_for "dovecot on $IMAP:993" 15 listening "$NS_SRV" "$IMAP" 993
wait_for "dovecot on $IMAP:143" 15 listening "$NS_SRV" "$IMAP" 143
wait_for "unbound on $DNS:53" 15 in_ns "$NS_SRV" ss -Hlun "src $DNS:53"

# --- the daemon in the router ------------------------------------------------------------------
SOCKET=$STATE/mailpulse.sock
mkdir -p "$STATE/db"
cat >"$STATE/mailpulse.toml" <<TOML
[daemon]
socket = "$SOCKET"
state_dir = "$STATE/db"
user = ""
syslog = false

[lan]
interfaces = ["lan0"]

[wan]
interfaces = ["wan0"]

[probe]
interval = "5s"
timeout = "3s"
targets = ["imaps://imap.mail.test", "imap://imap.mail.test", "imaps://dead.mail.test"]
nameservers = ["$DNS"]
ca_file = "$STATE/ca.crt"
TOML
"$MAILPULSE" check-config -c "$STATE/mailpulse.toml" >/dev/null \
    || die "mailpulse check-config rejected $STATE/mailpulse.toml"
bg daemon "$NS_RTR" "$MAILPULSE" daemon -c "$STATE/mailpulse.toml" --foreground
wait_for "the daemon's socket $SOCKET" 20 "$MAILPULSE" status --json --socket "$SOCKET"
# Let the first probe round finish so the status shows latencies.
wait_for "a first probe result" 20 bash -c \
    "'$MAILPULSE' status --json --socket '$SOCKET' | grep -q '\"last\": *{'"

# --- traffic from the client -----------------------------------------------------------------
client_curl() { in_ns "$NS_CLI" curl -sS --cacert "$STATE/ca.crt" "$@"; }

log "good IMAPS fetch"
client_curl -u "$USER_NAME:$USER_PASS" "imaps://imap.mail.test/INBOX;UID=1" -o /dev/null \
    || die "the good fetch failed"
log "wrong password (plaintext IMAP)"
if client_curl -u "$USER_NAME:wrong-password" "imap://imap.mail.test/INBOX" -o /dev/null 2>/dev/null; then
    die "the wrong password was accepted"
fi
log "connection to an address that never answers"
if client_curl --connect-timeout 5 -u "$USER_NAME:$USER_PASS" "imaps://dead.mail.test/INBOX" \
    -o /dev/null 2>/dev/null; then
    die "dead.mail.test answered"
fi
log "WAN link flap, with a fetch attempted while it is down"
in_ns "$NS_RTR" ip link set wan0 down
sleep 1
# The address is literal: the resolver is beyond the dead link too.
client_curl --connect-timeout 3 -u "$USER_NAME:$USER_PASS" "imaps://$IMAP/INBOX" -o /dev/null \
    2>/dev/null || true
sleep 1
in_ns "$NS_RTR" ip link set wan0 up
# Taking the link down removed the routes through it; a real router's DHCP client or
# gateway config puts the default route back, as this does.
in_ns "$NS_RTR" ip route replace default via "$WAN_ISP"

# Wait until the daemon has judged the failures (it decides within its diagnosis window).
judged() {
    local ev
    ev=$("$MAILPULSE" events --json --failures --socket "$SOCKET") || return 1
    grep -q '"auth-rejected"' <<<"$ev" && grep -q '"upstream-unreachable"' <<<"$ev"
}
if ! (wait_for "the daemon's verdicts auth-rejected and upstream-unreachable" 45 judged); then
    # Say what the daemon did see, so a build without session tracking is obvious.
    log "the daemon's tracker: $("$MAILPULSE" status --json --socket "$SOCKET" | tr -d ' \n' |
        grep -o '"tracker":{[^}]*}' || echo unknown)"
    log "its events: $("$MAILPULSE" events --socket "$SOCKET" 2>&1 | cut -c1-160 | tail -n +2 | tr '\n' ';')"
    die "the daemon did not judge the client's failed sessions within 45 s"
fi
wait_for "WAN up again in the daemon's status" 20 bash -c \
    "'$MAILPULSE' status --json --socket '$SOCKET' | grep -q '\"state\": *\"up\"'"
log "ready: socket $SOCKET"

export MAILPULSE MAILPULSE_SOCKET=$SOCKET
if (($# > 0)) && [[ $1 == -- ]]; then
    shift
fi
if (($# > 0)); then
    "$@"
else
    log "press Enter to tear down"
    read -r _
fi
