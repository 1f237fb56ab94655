# shellcheck shell=bash
# mailpulse lab: namespaces, links, addresses, routes, NAT. Sourced after lib.sh.

# sysctl inside a namespace (these knobs are per network namespace; the host's are untouched).
ns_sysctl() { in_ns "$1" sysctl -qw "$2" >/dev/null; }

make_namespaces() {
    local ns
    for ns in "${ALL_NS[@]}"; do
        ip netns add "$ns"
        in_ns "$ns" ip link set lo up
        # Addresses are ready at once (no duplicate address detection wait in a lab).
        ns_sysctl "$ns" net.ipv6.conf.all.accept_dad=0
        ns_sysctl "$ns" net.ipv6.conf.default.accept_dad=0
        # No router advertisements: every address and route here is set by hand.
        ns_sysctl "$ns" net.ipv6.conf.all.accept_ra=0
        ns_sysctl "$ns" net.ipv6.conf.default.accept_ra=0
    done
    ip netns list | awk '{print $1}' | grep "^$MPL_PREFIX-" | while read -r ns; do
        in_ns "$ns" readlink /proc/self/ns/net
    done >"$NSIDS"
}

# Resolver files: `ip netns exec` bind-mounts /etc/netns/NS/resolv.conf over /etc/resolv.conf,
# so programs in a namespace ask the lab's DNS and never the host's.
write_resolv_confs() {
    local ns
    for ns in "$NS_CLI" "$NS_CLI2"; do
        mkdir -p "/etc/netns/$ns"
        # timeout:3 attempts:2 keeps a dead resolver from stalling a scenario for long.
        printf 'nameserver %s\nnameserver %s\noptions timeout:3 attempts:2\n' \
            "$LAN4_RTR" "$LAN6_RTR" >"/etc/netns/$ns/resolv.conf"
    done
    mkdir -p "/etc/netns/$NS_RTR" "/etc/netns/$NS_NET"
    printf 'nameserver 127.0.0.1\n' >"/etc/netns/$NS_RTR/resolv.conf"
    printf 'nameserver %s\n' "$DNS4" >"/etc/netns/$NS_NET/resolv.conf"
}

make_internet() {
    # The WAN link: router wan0 <-> internet isp0. Created directly inside the namespaces
    # (ip -n ... peer ... netns ...), so no interface ever appears on the host.
    ip -n "$NS_RTR" link add wan0 type veth peer name isp0 netns "$NS_NET"
    in_ns "$NS_NET" ip addr add "$ISP4/24" dev isp0
    in_ns "$NS_NET" ip addr add "$ISP4_NEW/24" dev isp0   # the "other" gateway after a WAN change
    in_ns "$NS_NET" ip addr add "$ISP6/64" dev isp0 nodad
    in_ns "$NS_NET" ip link set isp0 up

    # Servers' addresses sit on the internet namespace's loopback (local addresses reached
    # through isp0; a dummy interface would do too, but not every kernel has that module).
    local h
    for h in 10 11 12 13 53; do
        in_ns "$NS_NET" ip addr add "$SRV4.$h/32" dev lo
        in_ns "$NS_NET" ip addr add "$SRV6:$h/128" dev lo nodad
    done
    # The internet knows the way back to the LAN's IPv6 prefix (routed, not translated).
    in_ns "$NS_NET" ip -6 route add fd77::/64 via "$WAN6_RTR" dev isp0

    # dead.mail.test: its address answers nothing, not even an ICMP error; SYNs vanish.
    in_ns "$NS_NET" nft -f - <<EOF
table inet ${NFT_PREFIX}dead {
    chain pre {
        type filter hook prerouting priority -300; policy accept;
        ip daddr $DEAD4 drop
        ip6 daddr $DEAD6 drop
    }
}
EOF
}

make_router() {
    # When the old WAN address is removed (wan-address-change), keep the new one: without
    # promote_secondaries, deleting a primary address deletes its secondaries with it.
    ns_sysctl "$NS_RTR" net.ipv4.conf.all.promote_secondaries=1
    ns_sysctl "$NS_RTR" net.ipv4.conf.default.promote_secondaries=1
    ns_sysctl "$NS_RTR" net.ipv4.conf.wan0.promote_secondaries=1
    in_ns "$NS_RTR" ip addr add "$WAN4_RTR/24" dev wan0
    in_ns "$NS_RTR" ip addr add "$WAN6_RTR/64" dev wan0 nodad
    # Keep the IPv6 address when the link goes down, as IPv4 does; the fault is the link.
    ns_sysctl "$NS_RTR" net.ipv6.conf.wan0.keep_addr_on_down=1
    in_ns "$NS_RTR" ip link set wan0 up
    router_default_routes "$ISP4"

    # LAN: a bridge with one port per client (ports are added by make_client). lan0 is the port
    # of the client under test and the capture point; lan2 is a second client's port (used to
    # load the WAN in "congestion").
    in_ns "$NS_RTR" ip link add br-lan type bridge
    in_ns "$NS_RTR" ip addr add "$LAN4_RTR/24" dev br-lan
    in_ns "$NS_RTR" ip addr add "$LAN6_RTR/64" dev br-lan nodad
    in_ns "$NS_RTR" ip link set br-lan up

    ns_sysctl "$NS_RTR" net.ipv4.ip_forward=1
    ns_sysctl "$NS_RTR" net.ipv6.conf.all.forwarding=1

    # IPv4 NAT in a table of its own. IPv6 is routed without translation: the internet
    # namespace has a route to fd77::/64 (a lab shortcut for a delegated prefix).
    in_ns "$NS_RTR" nft -f - <<EOF
table ip ${NFT_PREFIX}nat {
    chain postrouting {
        type nat hook postrouting priority srcnat; policy accept;
        oifname "wan0" masquerade
    }
}
EOF
}

# Default routes of the router via the given IPv4 gateway (IPv6 gateway is fixed).
router_default_routes() {
    in_ns "$NS_RTR" ip route replace default via "$1" dev wan0
    in_ns "$NS_RTR" ip -6 route replace default via "$ISP6" dev wan0
}

# veth pairs do segmentation offload by default: tcpdump would then see 20-60 KB "packets".
# A router's real LAN port sees frames of at most the MTU, so the lab turns offloads off.
no_offload() { # no_offload NS DEV
    in_ns "$1" ethtool -K "$2" tso off gso off gro off >/dev/null 2>&1 \
        || die "cannot turn off segmentation offload on $2 in $1 (ethtool)"
}

disable_offloads() {
    no_offload "$NS_RTR" wan0; no_offload "$NS_NET" isp0
    no_offload "$NS_RTR" br-lan
}

# make_client NS PORT ADDR4 ADDR6   a client namespace on the LAN bridge through router port PORT
make_client() {
    local ns=$1 port=$2 a4=$3 a6=$4
    ip -n "$NS_RTR" link add "$port" type veth peer name eth0 netns "$ns"
    in_ns "$NS_RTR" ip link set "$port" master br-lan up
    in_ns "$ns" ip addr add "$a4/24" dev eth0
    in_ns "$ns" ip addr add "$a6/64" dev eth0 nodad
    in_ns "$ns" ip link set eth0 up
    in_ns "$ns" ip route add default via "$LAN4_RTR"
    in_ns "$ns" ip -6 route add default via "$LAN6_RTR"
    no_offload "$NS_RTR" "$port"; no_offload "$ns" eth0
}

make_clients() {
    make_client "$NS_CLI" lan0 "$CLI4" "$CLI6"
    make_client "$NS_CLI2" lan2 "$CLI2_4" "$CLI2_6"
    client_tcp_settings
}

# The client under test has a small TCP receive window (an old phone's), so a throttled
# fetch keeps data in flight for seconds and captures stay small.
client_tcp_settings() {
    ns_sysctl "$NS_CLI" net.ipv4.tcp_rmem="4096 8192 16384"
    ns_sysctl "$NS_CLI" net.ipv4.tcp_wmem="4096 16384 65536"
}

# A fresh client for every scenario. A session cut by a fault leaves its socket behind in the
# kernel (FIN-WAIT, retransmitting for minutes); in a reused client namespace those packets
# would show up in the next scenario's capture. Deleting the namespace deletes them.
reset_client_ns() {
    local ns pid
    for ns in "$NS_CLI" "$NS_CLI2"; do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    done
    # Delete the router's ports first (a veth takes its peer with it at once); the namespaces'
    # own cleanup runs asynchronously in the kernel and may take a while.
    in_ns "$NS_RTR" ip link del lan0 2>/dev/null || true
    in_ns "$NS_RTR" ip link del lan2 2>/dev/null || true
    for ns in "$NS_CLI" "$NS_CLI2"; do ip netns del "$ns" 2>/dev/null || true; done
    for ns in "$NS_CLI" "$NS_CLI2"; do
        ip netns add "$ns"
        in_ns "$ns" ip link set lo up
        ns_sysctl "$ns" net.ipv6.conf.all.accept_dad=0
        ns_sysctl "$ns" net.ipv6.conf.default.accept_dad=0
        ns_sysctl "$ns" net.ipv6.conf.all.accept_ra=0
        ns_sysctl "$ns" net.ipv6.conf.default.accept_ra=0
        in_ns "$ns" readlink /proc/self/ns/net >>"$NSIDS"
    done
    make_clients
}
