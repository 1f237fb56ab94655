# shellcheck shell=bash
# mailpulse lab: shared functions. Sourced by tests/lab/lab, capture-fixtures, run-all and
# scripts/demo.sh. Nothing here runs on its own.
#
# Topology (every address lives inside namespaces this file creates; nothing reaches the host):
#
#   mpl-cli (192.168.77.10, fd77::10)        mpl-cli2 (192.168.77.11, fd77::11)
#        eth0                                      eth0
#         |                                         |
#        lan0 ---------- bridge br-lan ------------ lan2        (in mpl-rtr)
#   mpl-rtr: br-lan = 192.168.77.1/24, fd77::1/64; unbound resolver for the LAN;
#            NAT (nftables masquerade) for IPv4, plain routing for IPv6
#        wan0 203.0.113.2/24, 2001:db8:1::2/64
#         |
#        isp0 203.0.113.1/24 (+ .254 used after a WAN address change), 2001:db8:1::1/64
#   mpl-net: "the internet". Its loopback carries the servers' addresses:
#            198.51.100.10/11 imap/pop  (dovecot "main": TLS 1.0 .. 1.3 accepted)
#            198.51.100.12    tls12     (dovecot "tls12": TLS 1.2+ only)
#            198.51.100.13    slow      (dovecot "slow": checkpassword that sleeps 8 s)
#            198.51.100.53    ns        (unbound, authoritative local-data for mail.test)
#            198.51.100.99    dead      (an nftables rule drops everything sent there)
#            and the same hosts in 2001:db8:100::/64 with the same last number.
#
# The capture point is the router's LAN side. The LAN is a bridge (br-lan) so that a second
# client can share it; tcpdump listens on "lan0", the router's port towards the client under
# test, which is what a router's LAN interface sees of that client.

set -euo pipefail

LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$LAB_DIR/../.." && pwd)

# Every name the lab gives out derives from one prefix: namespaces PREFIX-net, -rtr, -cli, -cli2,
# nftables tables PREFIX_..., dovecot instances PREFIX-NAME, state /tmp/PREFIX-lab. Teardown
# removes exactly these and nothing else, so a second lab with another prefix (MPL_PREFIX=mpm, the
# client matrix's) can run beside the default one.
MPL_PREFIX=${MPL_PREFIX:-mpl}
[[ $MPL_PREFIX =~ ^[a-z][a-z0-9]{1,7}$ ]] || { echo "MPL_PREFIX must be 2-8 of a-z0-9" >&2; exit 64; }
NFT_PREFIX=${MPL_PREFIX}_
NS_NET=$MPL_PREFIX-net
NS_RTR=$MPL_PREFIX-rtr
NS_CLI=$MPL_PREFIX-cli
NS_CLI2=$MPL_PREFIX-cli2
ALL_NS=("$NS_CLI" "$NS_CLI2" "$NS_RTR" "$NS_NET")

# State (configs, logs, pid registry). A fixed path so that `lab down` finds it after a crash.
STATE=${MPL_STATE:-/tmp/$MPL_PREFIX-lab}
PIDDIR=$STATE/pids
# Network-namespace ids of the lab (outside $STATE: it must outlive teardown for the check).
NSIDS=${STATE}.nsids

# Addresses.
LAN4_RTR=192.168.77.1;  LAN6_RTR=fd77::1
CLI4=192.168.77.10;     CLI6=fd77::10
CLI2_4=192.168.77.11;   CLI2_6=fd77::11
WAN4_RTR=203.0.113.2;   WAN6_RTR=2001:db8:1::2
WAN4_RTR_NEW=203.0.113.3
ISP4=203.0.113.1;       ISP6=2001:db8:1::1
ISP4_NEW=203.0.113.254
SRV4=198.51.100;        SRV6=2001:db8:100:
IMAP4=$SRV4.10; IMAP6=$SRV6:10
POP4=$SRV4.11;  POP6=$SRV6:11
TLS12_4=$SRV4.12; TLS12_6=$SRV6:12
SLOW4=$SRV4.13;  SLOW6=$SRV6:13
DNS4=$SRV4.53;   DNS6=$SRV6:53
DEAD4=$SRV4.99;  DEAD6=$SRV6:99

# Mail accounts (passwd-file, PLAIN scheme: this is a lab).
USER_A=alice; PASS_A=${MPL_ALICE_PASSWORD:-Correct-Horse-77}
USER_B=bob;   PASS_B=Battery-Staple-77
WRONG_PASS=not-the-password

# The ports the router's capture keeps (mail + DNS), as a tcpdump filter.
CAPTURE_FILTER='port 143 or port 993 or port 110 or port 995 or port 587 or port 465 or port 53'

# ---------------------------------------------------------------------------------------------
# Small helpers

say()  { printf '[lab %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die()  { printf '[lab] ERROR: %s\n' "$*" >&2; exit 1; }

# Run a command inside one of the lab namespaces.
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# Every program the lab needs, with the Debian package that provides it. A missing one is an
# error that names it; the lab never skips silently.
require_tools() {
    local missing=() pair bin pkg
    for pair in ip:iproute2 nft:nftables tc:iproute2 dovecot:dovecot-core unbound:unbound \
                unbound-control:unbound tcpdump:tcpdump tshark:tshark curl:curl openssl:openssl \
                fetchmail:fetchmail conntrack:conntrack dig:bind9-dnsutils jq:jq timeout:coreutils \
                ss:iproute2 ping:iputils-ping stunnel:stunnel4 ethtool:ethtool setsid:util-linux; do
        bin=${pair%%:*}; pkg=${pair#*:}
        command -v "$bin" >/dev/null 2>&1 || missing+=("$bin (package $pkg)")
    done
    [[ -x /usr/lib/dovecot/imap-login && -x /usr/lib/dovecot/pop3-login ]] \
        || missing+=("dovecot IMAP/POP3 (packages dovecot-imapd dovecot-pop3d)")
    [[ -x /usr/lib/dovecot/checkpassword-reply ]] || missing+=("checkpassword-reply (dovecot-core)")
    if ((${#missing[@]})); then
        printf '[lab] MISSING prerequisite: %s\n' "${missing[@]}" >&2
        printf '[lab] install with: apt-get install $(cat %s/packages.txt)\n' "$LAB_DIR" >&2
        exit 1
    fi
    [[ $(id -u) == 0 ]] || die "the lab needs root (network namespaces, nftables)"
}

# ---------------------------------------------------------------------------------------------
# Background processes: every long-running program the lab starts is registered here, so that
# teardown stops exactly what the lab started (by pid) and nothing else.

# bg_start NAME NS LOGFILE CMD...   start CMD inside NS, remember its pid under NAME
bg_start() {
    local name=$1 ns=$2 log=$3; shift 3
    mkdir -p "$PIDDIR"
    # setsid: own process group, so stopping it also stops its children.
    setsid ip netns exec "$ns" "$@" >"$log" 2>&1 </dev/null &
    echo $! >"$PIDDIR/$name.pid"
}

bg_running() { local f=$PIDDIR/$1.pid; [[ -f $f ]] && kill -0 "$(cat "$f")" 2>/dev/null; }

# bg_stop NAME [SIGNAL]   polite signal first, then KILL after 3 s
bg_stop() {
    local name=$1 sig=${2:-TERM} f=$PIDDIR/$1.pid pid i
    [[ -f $f ]] || return 0
    pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then
        kill "-$sig" -- "-$pid" 2>/dev/null || kill "-$sig" "$pid" 2>/dev/null || true
        for ((i = 0; i < 30; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
    rm -f "$f"
}

bg_stop_all() {
    local f
    [[ -d $PIDDIR ]] || return 0
    for f in "$PIDDIR"/*.pid; do [[ -e $f ]] && bg_stop "$(basename "$f" .pid)"; done
    return 0
}

# wait_for DESCRIPTION SECONDS CMD...   poll until CMD succeeds
wait_for() {
    local what=$1 secs=$2 i; shift 2
    for ((i = 0; i < secs * 10; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    die "timed out after ${secs}s waiting for $what"
}

listening() { # NS PROTO(t|u) ADDR PORT
    in_ns "$1" ss "-ln$2" | awk '{print $4}' | grep -qx -- "$3:$4"
}

# ---------------------------------------------------------------------------------------------
# Teardown. Idempotent: safe after a crash, safe to run twice, touches only mpl- objects.

lab_down() {
    local ns pid
    bg_stop_all
    for ns in "${ALL_NS[@]}"; do
        ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$ns" || continue
        # Anything still running in our namespaces was started by the lab (for example a client
        # that a killed script left behind): stop it by pid.
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -TERM "$pid" 2>/dev/null || true; done
        sleep 0.2
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
        ip netns del "$ns" 2>/dev/null || true
    done
    for ns in "${ALL_NS[@]}"; do rm -rf "/etc/netns/$ns"; done
    if [[ ${MPL_KEEP_STATE:-0} != 1 ]]; then rm -rf "$STATE"; fi
    return 0
}

# Lists whatever the lab might have left behind; prints nothing when clean.
# Processes are recognised by the network namespace they live in (the namespace ids are noted
# at `lab up` in $NSIDS) or by the lab's state directory in their command line, so that mail
# daemons that belong to someone else on the same machine are never reported or touched.
lab_leftovers() {
    local ns pid id
    ip netns list 2>/dev/null | awk -v p="^$MPL_PREFIX-" '$1 ~ p {print "namespace " $1}'
    ip -o link show 2>/dev/null | awk -F': ' -v p="^($MPL_PREFIX-|wan0|lan0|lan2|isp0|br-lan|srv0)" '$2 ~ p {print "host interface " $2}'
    nft list tables 2>/dev/null | awk -v p="^$NFT_PREFIX" '$3 ~ p {print "host nft table " $2 " " $3}'
    for ns in "${ALL_NS[@]}"; do [[ -e /etc/netns/$ns ]] && echo "file /etc/netns/$ns"; done
    for pid in $(pgrep -f -- "$STATE/" 2>/dev/null); do
        [[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
        echo "process $pid $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)"
    done
    if [[ -s $NSIDS ]]; then
        for pid in $(ls /proc | grep -E '^[0-9]+$'); do
            id=$(readlink "/proc/$pid/ns/net" 2>/dev/null) || continue
            grep -qxF "$id" "$NSIDS" && echo "process $pid $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) (in a lab namespace)"
        done
    fi
    [[ -e $STATE ]] && echo "state directory $STATE"
    return 0
}

# ---------------------------------------------------------------------------------------------
# Build the whole lab. The functions live in net.sh and servers.sh.
lab_up() {
    say "cleaning up any earlier lab first"
    lab_down
    mkdir -p "$STATE" "$PIDDIR" "$STATE/cap"
    chmod 755 "$STATE"
    say "namespaces and links"
    make_namespaces
    make_internet
    make_router
    make_clients
    disable_offloads
    write_resolv_confs
    say "certificates, mailboxes"
    make_pki
    write_openssl_conf
    make_maildirs
    say "DNS: internet authoritative, router resolver"
    start_internet_dns
    start_router_dns
    say "mail servers: dovecot main, tls12, slow"
    start_dovecots
    [[ ${MPL_NO_SELFTEST:-0} == 1 ]] || lab_selftest
    say "lab is up (state in $STATE)"
}

# Quick proof that the plumbing works before any scenario relies on it.
lab_selftest() {
    in_ns "$NS_CLI" ping -c1 -W2 "$LAN4_RTR" >/dev/null || die "client cannot reach the router"
    in_ns "$NS_CLI" ping -c1 -W2 "$DNS4" >/dev/null || die "client cannot reach the internet (NAT/routing)"
    in_ns "$NS_CLI" ping -6 -c1 -W2 "$DNS6" >/dev/null || die "client cannot reach the internet over IPv6"
    local a
    a=$(in_ns "$NS_CLI" timeout 10 dig +short +time=3 +tries=1 @"$LAN4_RTR" imap.mail.test A) || true
    [[ $a == "$IMAP4" ]] || die "router resolver does not resolve imap.mail.test (got '$a')"
}

lab_status() {
    local ns
    ip netns list | grep "^$MPL_PREFIX-" || { echo "lab is down"; return 0; }
    for ns in "${ALL_NS[@]}"; do
        echo "== $ns"; in_ns "$ns" ip -br addr 2>/dev/null | grep -v '^lo' || true
    done
    echo "== background processes"
    local f
    for f in "$PIDDIR"/*.pid; do
        [[ -e $f ]] || continue
        printf '%-16s pid %-7s %s\n' "$(basename "$f" .pid)" "$(cat "$f")" \
            "$(kill -0 "$(cat "$f")" 2>/dev/null && echo running || echo gone)"
    done
    echo "== router nftables tables"; in_ns "$NS_RTR" nft list tables
}
