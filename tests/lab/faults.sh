# shellcheck shell=bash
# mailpulse lab: WAN faults, each switched on and off in the router (or internet) namespace.
# Each fault that uses nftables gets a table of its own (PREFIX_fault_NAME, mpl_fault_NAME by default), so faults combine and
# switching one off deletes exactly its table.
#
#   wan-link-down            ip link set wan0 down (the router's default routes go with it)
#   wan-blackhole            link stays up, nftables drops everything crossing wan0
#   wan-loss [PERCENT]       nftables numgen random mod 100 < PERCENT drop, both directions
#   congestion [RATE]        tc tbf on both ends of the WAN link (default 1mbit, deep queue)
#   dns-upstream-dead        the internet DNS server stops answering the router's resolver
#   wan-address-change       wan0 203.0.113.2 -> .3, default gateway .1 -> .254 (off: back)
#   short-conntrack-timeout  established TCP state expires after 5 s idle, and packets that
#                            belong to no state (non-SYN "new") are dropped, like pf/OPNsense

FAULTS=(wan-link-down wan-blackhole wan-loss congestion dns-upstream-dead wan-address-change
        short-conntrack-timeout)

nft_table_add() { in_ns "$NS_RTR" nft -f -; }
nft_table_del() { in_ns "$NS_RTR" nft delete table inet "$1" 2>/dev/null || true; }

fault_wan-link-down() {
    case $1 in
    on) in_ns "$NS_RTR" ip link set wan0 down ;;
    off)
        in_ns "$NS_RTR" ip link set wan0 up
        # Taking a link down deletes the routes through it; a DHCP/PPP client would add them
        # back on link-up, here we do.
        router_default_routes "$(current_gateway)"
        ;;
    esac
}

fault_wan-blackhole() {
    case $1 in
    on) nft_table_add <<EOF ;;
table inet ${NFT_PREFIX}fault_blackhole {
    chain forward {
        type filter hook forward priority -10; policy accept;
        iifname "wan0" drop
        oifname "wan0" drop
    }
    chain input {
        type filter hook input priority -10; policy accept;
        iifname "wan0" drop
    }
    chain output {
        type filter hook output priority -10; policy accept;
        oifname "wan0" drop
    }
}
EOF
    off) nft_table_del ${NFT_PREFIX}fault_blackhole ;;
    esac
}

fault_wan-loss() {
    local pct=${2:-30}
    case $1 in
    on) nft_table_add <<EOF ;;
table inet ${NFT_PREFIX}fault_loss {
    chain forward {
        type filter hook forward priority -10; policy accept;
        iifname "wan0" numgen random mod 100 < $pct counter drop
        oifname "wan0" numgen random mod 100 < $pct counter drop
    }
}
EOF
    off) nft_table_del ${NFT_PREFIX}fault_loss ;;
    esac
}

# How many packets the wan-loss fault has dropped so far (both directions); 0 when it is off.
wan_loss_dropped() {
    in_ns "$NS_RTR" nft list table inet ${NFT_PREFIX}fault_loss 2>/dev/null |
        awk '/counter packets/ { for (i = 1; i < NF; i++) if ($i == "packets") n += $(i + 1) }
             END { print n + 0 }'
}

fault_congestion() {
    local rate=${2:-1mbit}
    case $1 in
    on)
        # Upload: router wan0 egress. Download: the internet's isp0 egress. A deep queue
        # (latency 3s) is what a congested DSL/LTE uplink does: delay rather than loss.
        in_ns "$NS_RTR" tc qdisc replace dev wan0 root tbf rate "$rate" burst 16kb latency 3s
        in_ns "$NS_NET" tc qdisc replace dev isp0 root tbf rate "$rate" burst 16kb latency 3s
        ;;
    off)
        in_ns "$NS_RTR" tc qdisc del dev wan0 root 2>/dev/null || true
        in_ns "$NS_NET" tc qdisc del dev isp0 root 2>/dev/null || true
        ;;
    esac
}

# The internet's DNS server stops answering (its packets vanish on the way), so the router's
# resolver waits, retries and finally answers its clients SERVFAIL, or they time out first.
# Dropped on the far side on purpose: a drop in the router's own output hook would fail
# unbound's sendto() at once and turn a slow failure into an instant one.
fault_dns-upstream-dead() {
    case $1 in
    on) in_ns "$NS_NET" nft -f - <<EOF ;;
table inet ${NFT_PREFIX}fault_dnsdead {
    chain input {
        type filter hook input priority -10; policy accept;
        ip daddr $DNS4 meta l4proto { tcp, udp } th dport 53 drop
        ip6 daddr $DNS6 meta l4proto { tcp, udp } th dport 53 drop
    }
}
EOF
    off) in_ns "$NS_NET" nft delete table inet ${NFT_PREFIX}fault_dnsdead 2>/dev/null || true ;;
    esac
    # Either way start from a cold cache: the fault is meant to hit a lookup.
    flush_router_dns
}

current_gateway() {
    if in_ns "$NS_RTR" ip -4 addr show dev wan0 | grep -q "$WAN4_RTR_NEW/"; then
        echo "$ISP4_NEW"
    else
        echo "$ISP4"
    fi
}

fault_wan-address-change() {
    local from to gw
    case $1 in
    on)  from=$WAN4_RTR; to=$WAN4_RTR_NEW; gw=$ISP4_NEW ;;
    off) from=$WAN4_RTR_NEW; to=$WAN4_RTR; gw=$ISP4 ;;
    esac
    in_ns "$NS_RTR" ip addr add "$to/24" dev wan0 2>/dev/null || true
    # Removing the old address makes the kernel flush the NAT (masquerade) mappings made with
    # it: sessions going through them are lost, as on a PPPoE reconnect with a new address.
    in_ns "$NS_RTR" ip addr del "$from/24" dev wan0 2>/dev/null || true
    router_default_routes "$gw"
}

fault_short-conntrack-timeout() {
    case $1 in
    on)
        ns_sysctl "$NS_RTR" net.netfilter.nf_conntrack_tcp_timeout_established=5
        nft_table_add <<EOF
table inet ${NFT_PREFIX}fault_ctexpire {
    # A packet that belongs to no tracked session and is not a SYN opens nothing: dropped.
    chain forward {
        type filter hook forward priority -10; policy accept;
        ct state invalid counter drop
        ct state new tcp flags & (syn | ack | fin | rst) != syn counter drop
    }
    chain input {
        type filter hook input priority -10; policy accept;
        iifname "wan0" ct state invalid counter drop
        iifname "wan0" ct state new tcp flags & (syn | ack | fin | rst) != syn counter drop
    }
}
EOF
        ;;
    off)
        nft_table_del ${NFT_PREFIX}fault_ctexpire
        ns_sysctl "$NS_RTR" net.netfilter.nf_conntrack_tcp_timeout_established=432000
        ;;
    esac
}

# Packets dropped so far by the stateless-packet rules of short-conntrack-timeout.
ctexpire_drops() {
    in_ns "$NS_RTR" nft list table inet ${NFT_PREFIX}fault_ctexpire 2>/dev/null \
        | grep -o 'packets [0-9]*' | awk '{n += $2} END {print n + 0}'
}

# fault NAME on|off [ARG]
fault() {
    local name=$1 state=${2:-on}
    declare -F "fault_$name" >/dev/null || die "unknown fault '$name' (known: ${FAULTS[*]})"
    [[ $state == on || $state == off ]] || die "fault $name: say on or off, not '$state'"
    say "fault $name $state${3:+ ($3)}"
    "fault_$name" "$state" "${3:-}"
}

# Switch every fault off (between scenarios, so one scenario's fault never leaks into the next).
all_faults_off() {
    local f
    for f in "${FAULTS[@]}"; do "fault_$f" off "" >/dev/null 2>&1 || true; done
}
