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
    ip netns list | awk '{print $1}' | grep '^mpl-' | while read -r ns; do
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
table inet mpl_dead {
    chain pre {
        type filter hook prerouting priority -300; policy accept;
        ip daddr $DEAD4 drop
        ip6 daddr $DEAD6 drop
    }
}
EOF
}

make_router() {
    in_ns "$NS_RTR" ip addr add "$WAN4_RTR/24" dev wan0
    in_ns "$NS_RTR" ip addr add "$WAN6_RTR/64" dev wan0 nodad
    # Keep the IPv6 address when the link goes down, as IPv4 does; the fault is the link.
    ns_sysctl "$NS_RTR" net.ipv6.conf.wan0.keep_addr_on_down=1
    in_ns "$NS_RTR" ip link set wan0 up
    router_default_routes "$ISP4"

    # LAN: a bridge with one port per client. lan0 is the port of the client under test and the
    # capture point; lan2 is a second client's port (used to load the WAN in "congestion").
    in_ns "$NS_RTR" ip link add br-lan type bridge
    in_ns "$NS_RTR" ip addr add "$LAN4_RTR/24" dev br-lan
    in_ns "$NS_RTR" ip addr add "$LAN6_RTR/64" dev br-lan nodad
    in_ns "$NS_RTR" ip link set br-lan up
    ip -n "$NS_RTR" link add lan0 type veth peer name eth0 netns "$NS_CLI"
    ip -n "$NS_RTR" link add lan2 type veth peer name eth0 netns "$NS_CLI2"
    in_ns "$NS_RTR" ip link set lan0 master br-lan up
    in_ns "$NS_RTR" ip link set lan2 master br-lan up

    ns_sysctl "$NS_RTR" net.ipv4.ip_forward=1
    ns_sysctl "$NS_RTR" net.ipv6.conf.all.forwarding=1

    # IPv4 NAT in a table of its own. IPv6 is routed without translation: the internet
    # namespace has a route to fd77::/64 (a lab shortcut for a delegated prefix).
    in_ns "$NS_RTR" nft -f - <<'EOF'
table ip mpl_nat {
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

make_clients() {
    local ns a4 a6
    for ns in "$NS_CLI" "$NS_CLI2"; do
        if [[ $ns == "$NS_CLI" ]]; then a4=$CLI4; a6=$CLI6; else a4=$CLI2_4; a6=$CLI2_6; fi
        in_ns "$ns" ip addr add "$a4/24" dev eth0
        in_ns "$ns" ip addr add "$a6/64" dev eth0 nodad
        in_ns "$ns" ip link set eth0 up
        in_ns "$ns" ip route add default via "$LAN4_RTR"
        in_ns "$ns" ip -6 route add default via "$LAN6_RTR"
    done
}
