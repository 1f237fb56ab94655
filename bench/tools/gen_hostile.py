#!/usr/bin/env python3
"""Write a hostile-LAN capture: fabricated half-open TLS sessions and a DNS-failure flood.

    bench/tools/gen_hostile.py [--flows N] [--clients one|many] [--payload BYTES]
                               [--dns N] [--server IP] [--client-net A.B] OUT

Each fabricated session (client -> SERVER:993): SYN, SYN-ACK, ACK, the first fragment of a
ClientHello whose record and handshake headers announce 16 KiB (so the hello never completes),
then out-of-order data after a one-byte gap: two client segments and one server segment of
--payload bytes each. Seven frames a session. `--clients one` sends every session from one
address (ports 1024 upwards, then the next source port range); `many` gives each session its
own address in --client-net.0.0/16 (a host can send from any address).

--dns N adds N failed lookups from one client (a query and an NXDOMAIN answer each) of
distinct mail-like names (imapN.mail.example), interleaved with the sessions.

Frames are Ethernet/IPv4 with valid IPv4 and TCP/UDP checksums, one every 20 microseconds.
Only the standard library is used.
"""

import argparse
import struct

SRC_MAC = bytes.fromhex("020000000001")
DST_MAC = bytes.fromhex("020000000002")


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return (~total) & 0xFFFF


def ipv4(src, dst, proto, l4):
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 0, 0x4000, 64, proto, 0, src, dst)
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    return header + l4


def pseudo(src, dst, proto, length):
    return src + dst + struct.pack("!BBH", 0, proto, length)


def tcp(src, dst, sport, dport, seq, ack, flags, data=b""):
    seg = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 0x50, flags, 0xFFFF, 0, 0) + data
    csum = checksum(pseudo(src, dst, 6, len(seg)) + seg)
    seg = seg[:16] + struct.pack("!H", csum) + seg[18:]
    return ipv4(src, dst, 6, seg)


def udp(src, dst, sport, dport, data):
    dgram = struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data
    csum = checksum(pseudo(src, dst, 17, len(dgram)) + dgram) or 0xFFFF
    dgram = dgram[:6] + struct.pack("!H", csum) + dgram[8:]
    return ipv4(src, dst, 17, dgram)


def dns(qid, name, response):
    flags = 0x8183 if response else 0x0100  # NXDOMAIN answer / recursive query
    m = struct.pack("!HHHHHH", qid, flags, 1, 0, 0, 0)
    for label in name.split("."):
        m += bytes([len(label)]) + label.encode()
    return m + b"\0" + struct.pack("!HH", 1, 1)


SYN, ACK, PSH = 0x02, 0x10, 0x08


def session(client, server, port, payload):
    c, s = 1000, 50000
    # Record header: handshake, 16 384 bytes; handshake header: ClientHello, 16 380 bytes.
    hello = bytes([22, 3, 1, 0x40, 0x00, 1, 0, 0x3F, 0xFC]) + b"\x03\x03" + b"\x11" * max(payload - 11, 0)
    gap_c = c + 1 + len(hello) + 1
    gap_s = s + 1 + 1
    data = b"\x42" * payload
    return [
        tcp(client, server, port, 993, c, 0, SYN),
        tcp(server, client, 993, port, s, c + 1, SYN | ACK),
        tcp(client, server, port, 993, c + 1, s + 1, ACK),
        tcp(client, server, port, 993, c + 1, s + 1, PSH | ACK, hello),
        tcp(client, server, port, 993, gap_c, s + 1, PSH | ACK, data),
        tcp(client, server, port, 993, gap_c + payload, s + 1, PSH | ACK, data),
        tcp(server, client, 993, port, gap_s, c + 1, PSH | ACK, data),
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--flows", type=int, default=10000)
    ap.add_argument("--clients", choices=["one", "many"], default="many")
    ap.add_argument("--payload", type=int, default=1200)
    ap.add_argument("--dns", type=int, default=0)
    ap.add_argument("--server", default="192.168.78.1")
    ap.add_argument("--client-net", default="10.77")
    ap.add_argument("--one-client", default="192.168.78.66")
    ap.add_argument("--resolver", default="192.168.78.1")
    ap.add_argument("out")
    a = ap.parse_args()
    server = bytes(map(int, a.server.split(".")))
    resolver = bytes(map(int, a.resolver.split(".")))
    one = bytes(map(int, a.one_client.split(".")))
    net = list(map(int, a.client_net.split(".")))
    every = max(a.flows // a.dns, 1) if a.dns else 0
    t = 1_700_000_000 * 1_000_000
    n = 0
    with open(a.out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))

        def put(packet):
            nonlocal t, n
            frame = DST_MAC + SRC_MAC + b"\x08\x00" + packet
            f.write(struct.pack("<IIII", t // 1_000_000, t % 1_000_000, len(frame), len(frame)))
            f.write(frame)
            t += 20
            n += 1

        lookups = 0
        for i in range(a.flows):
            if a.clients == "one":
                client, port = one, 1024 + i % 64000
            else:
                client, port = bytes([net[0], net[1], (i >> 8) & 0xFF, i & 0xFF]), 40000 + (i >> 16)
            for p in session(client, server, port, a.payload):
                put(p)
            if every and i % every == 0 and lookups < a.dns:
                name = f"imap{lookups}.mail.example"
                put(udp(one, resolver, 53000 + lookups % 1000, 53, dns(lookups & 0xFFFF, name, False)))
                put(udp(resolver, one, 53, 53000 + lookups % 1000, dns(lookups & 0xFFFF, name, True)))
                lookups += 1
        while lookups < a.dns:
            name = f"imap{lookups}.mail.example"
            put(udp(one, resolver, 53000 + lookups % 1000, 53, dns(lookups & 0xFFFF, name, False)))
            put(udp(resolver, one, 53, 53000 + lookups % 1000, dns(lookups & 0xFFFF, name, True)))
            lookups += 1
    print(f"{a.out}: {n} frames, {a.flows} sessions ({a.clients} client(s)), {lookups} failed lookups")


if __name__ == "__main__":
    main()
