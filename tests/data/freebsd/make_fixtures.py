#!/usr/bin/env python3
"""Writes the FreeBSD 14 LP64 byte fixtures in this directory from the C header layouts.

Independent of the Rust parser: every offset is taken from FreeBSD's headers (route.h struct
rt_msghdr, if.h struct if_msghdr / if_data / ifa_msghdr / if_announcemsghdr, if_dl.h struct
sockaddr_dl; bpf.h struct bpf_xhdr and bpf.c catchpacket framing; see docs/freebsd-abi.md).
Little-endian, as on amd64 and aarch64. Run it to regenerate: python3 make_fixtures.py
"""
import ipaddress
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

RTM_ADD, RTM_DELETE, RTM_CHANGE = 1, 2, 3
RTM_NEWADDR, RTM_DELADDR, RTM_IFINFO, RTM_IFANNOUNCE = 0xC, 0xD, 0xE, 0x11
RTA_DST, RTA_GATEWAY, RTA_NETMASK, RTA_IFP, RTA_IFA, RTA_BRD = 1, 2, 4, 0x10, 0x20, 0x80
RTF_UP, RTF_GATEWAY, RTF_DONE, RTF_STATIC = 0x1, 0x2, 0x40, 0x800
IFF_UP, IFF_BROADCAST, IFF_RUNNING, IFF_SIMPLEX, IFF_MULTICAST = 0x1, 0x2, 0x40, 0x800, 0x8000
LINK_STATE_DOWN, LINK_STATE_UP = 1, 2


def sa_size(raw):
    """route.h SA_SIZE with sizeof(long) == 8."""
    n = len(raw)
    return 8 if n == 0 else 1 + ((n - 1) | 7)


def pad(raw):
    return raw + b"\0" * (sa_size(raw) - len(raw))


def sin(addr):
    """struct sockaddr_in: len 16, AF_INET 2, port, addr@4, zero[8]."""
    return struct.pack("<BBH4s8x", 16, 2, 0, ipaddress.IPv4Address(addr).packed)


def sin6(addr):
    """struct sockaddr_in6: len 28, AF_INET6 28, port, flowinfo, addr@8, scope_id@24."""
    return struct.pack("<BBHI16sI", 28, 28, 0, 0, ipaddress.IPv6Address(addr).packed, 0)


def mask4(prefix):
    return sin(str(ipaddress.IPv4Network(f"0.0.0.0/{prefix}").netmask))


def mask6(prefix):
    return sin6(str(ipaddress.IPv6Network(f"::/{prefix}").netmask))


def sdl(index, name, mac=b"\x02\x00\x00\x00\x00\x01"):
    """struct sockaddr_dl as if_attach builds it (sdl_len = max(8 + nlen + alen, 54))."""
    length = max(8 + len(name) + len(mac), 54)
    body = struct.pack("<BBHBBBB", length, 18, index, 6, len(name), len(mac), 0)
    body += name.encode() + mac
    return body + b"\0" * (length - len(body))


def with_len(header, sockaddrs):
    msg = header + b"".join(pad(sa) for sa in sockaddrs)
    return struct.pack("<H", len(msg)) + msg[2:]


def rt_msghdr(rtm_type, index, flags, addrs, sockaddrs, errno=0):
    # msglen u16@0, version u8@2, type u8@3, index u16@4, spare u16@6, flags i32@8,
    # addrs i32@12, pid@16, seq@20, errno@24, fmask@28, inits u_long@32, rt_metrics@40 (112).
    header = struct.pack("<HBBHHiiiiiiQ", 0, 5, rtm_type, index, 0, flags, addrs, 4321, 7,
                         errno, 0, 0) + b"\0" * 112
    assert len(header) == 152
    return with_len(header, sockaddrs)


def if_msghdr(index, flags, link_state, addrs=0, sockaddrs=()):
    # msglen, version, type, addrs i32@4, flags i32@8, index u16@12, spare@14, if_data@16:
    # ifi_type@0 (6 = IFT_ETHER), physical, addrlen, hdrlen, link_state@4, vhid, datalen u16@6,
    # mtu u32@8, metric u32@12, baudrate u64@16, 13 counters, epoch, lastchange (152 in all).
    if_data = struct.pack("<BBBBBBHIIQ", 6, 0, 6, 14, link_state, 0, 152, 1500, 0, 1000000000)
    if_data += b"\0" * (152 - len(if_data))
    header = struct.pack("<HBBiiHH", 0, 5, RTM_IFINFO, addrs, flags, index, 0) + if_data
    assert len(header) == 168
    return with_len(header, sockaddrs)


def ifa_msghdr(rtm_type, index, addrs, sockaddrs):
    # msglen, version, type, addrs i32@4, flags i32@8, index u16@12, spare@14, metric i32@16.
    header = struct.pack("<HBBiiHHi", 0, 5, rtm_type, addrs, 0, index, 0, 0)
    assert len(header) == 20
    return with_len(header, sockaddrs)


def if_announcemsghdr(index, name, what):
    # msglen, version, type, index u16@4, name[16]@6, what u16@22.
    header = struct.pack("<HBBH16sH", 24, 5, RTM_IFANNOUNCE, index, name.encode(), what)
    assert len(header) == 24
    return header


def bpf_xhdr_records(records):
    """bpf_xhdr: bt_sec i64@0, bt_frac u64@8 (ns for BPF_T_NANOTIME), caplen u32@16,
    datalen u32@20, hdrlen u16@24; next record at BPF_WORDALIGN(hdrlen + caplen), 8 on LP64."""
    out = b""
    for sec, nsec, hdrlen, datalen, data in records:
        out += b"\0" * (-len(out) % 8)
        header = struct.pack("<qQIIH", sec, nsec, len(data), datalen, hdrlen)
        out += header + b"\0" * (hdrlen - len(header)) + data
    return out


GW = "198.51.100.1"
DEFAULT_V4 = [sin("0.0.0.0"), sin(GW), mask4(0)]
FLAGS = RTF_UP | RTF_GATEWAY | RTF_DONE | RTF_STATIC

fixtures = {
    # Cable pulled on igb0 (index 2): rt_ifmsg sends no sockaddrs.
    "ifinfo_igb0_down.bin": if_msghdr(2, IFF_UP | IFF_BROADCAST | IFF_RUNNING | IFF_SIMPLEX
                                      | IFF_MULTICAST, LINK_STATE_DOWN),
    # DHCP on igb0 gave 198.51.100.7/24, then a PPPoE-style burst in one buffer: the old
    # default route deleted, igb0 up, a new v6 address, the new default route, tun0 destroyed.
    "newaddr_igb0_v4.bin": ifa_msghdr(RTM_NEWADDR, 2, RTA_NETMASK | RTA_IFP | RTA_IFA | RTA_BRD,
                                      [mask4(24), sdl(2, "igb0"), sin("198.51.100.7"),
                                       sin("198.51.100.255")]),
    "burst.bin": b"".join([
        rt_msghdr(RTM_DELETE, 2, RTF_GATEWAY | RTF_DONE | RTF_STATIC,
                  RTA_DST | RTA_GATEWAY | RTA_NETMASK, DEFAULT_V4),
        if_msghdr(2, IFF_UP | IFF_RUNNING, LINK_STATE_UP),
        ifa_msghdr(RTM_NEWADDR, 2, RTA_NETMASK | RTA_IFP | RTA_IFA,
                   [mask6(64), sdl(2, "igb0"), sin6("2001:db8:5::7")]),
        rt_msghdr(RTM_ADD, 2, FLAGS, RTA_DST | RTA_GATEWAY | RTA_NETMASK,
                  [sin("0.0.0.0"), sin("198.51.100.254"), mask4(0)]),
        rt_msghdr(RTM_CHANGE, 2, FLAGS, RTA_DST | RTA_GATEWAY | RTA_NETMASK,
                  [sin6("::"), sin6("fe80::1"), mask6(0)]),
        ifa_msghdr(RTM_DELADDR, 2, RTA_IFA, [sin("198.51.100.7")]),
        if_announcemsghdr(5, "tun0", 1),
    ]),
    # Three BPF records as one read returns them: Ethernet (hdrlen 26), then 54 bytes of a
    # 1514-byte frame, then DLT_NULL-sized (hdrlen 28).
    "bpf_nanotime_3.bin": bpf_xhdr_records([
        (1763800000, 123456789, 26, 60, bytes(range(60))),
        (1763800001, 5, 26, 1514, b"\xab" * 54),
        (1763800002, 999999999, 28, 44, b"\x02\0\0\0" + b"\x45" * 40),
    ]),
}

for name, data in fixtures.items():
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)
    print(f"{name}: {len(data)} bytes")
