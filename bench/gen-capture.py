#!/usr/bin/env python3
"""Make a large pcap of many short IMAPS sessions by cloning one real lab session.

    bench/gen-capture.py [--packets N] [--source PCAP] [--step-ms MS] OUT

Takes the TCP packets of the IMAPS session in the source capture (default: the lab's
tests/data/imaps-good.pcap: curl <-> dovecot, TLS 1.3), and writes clones of it until N packets
(default 1,000,000) are written. Clone i gets its own client address (10.0.0.0/8, one per
clone) and client port, and starts i * step-ms later, so sessions overlap like a busy LAN.
IPv4 and TCP checksums are updated incrementally (RFC 1624), so tcpdump and tshark see
valid packets. Only the standard library is used.
"""

import argparse
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SOURCE = os.path.join(HERE, "..", "tests", "data", "imaps-good.pcap")


def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = data[:4]
    if magic == b"\xd4\xc3\xb2\xa1":
        endian, nano = "<", False
    elif magic == b"\xa1\xb2\xc3\xd4":
        endian, nano = ">", False
    elif magic == b"\x4d\x3c\xb2\xa1":
        endian, nano = "<", True
    elif magic == b"\xa1\xb2\x3c\x4d":
        endian, nano = ">", True
    else:
        sys.exit(f"{path}: not a classic pcap file")
    _, _, _, _, snaplen, linktype = struct.unpack(endian + "HHiIII", data[4:24])
    if linktype != 1:
        sys.exit(f"{path}: link type {linktype}, expected Ethernet (1)")
    packets, off = [], 24
    while off + 16 <= len(data):
        sec, frac, incl, orig = struct.unpack(endian + "IIII", data[off:off + 16])
        usec = frac // 1000 if nano else frac
        packets.append((sec * 1_000_000 + usec, data[off + 16:off + 16 + incl], orig))
        off += 16 + incl
    return packets


def fold(x):
    while x >> 16:
        x = (x & 0xFFFF) + (x >> 16)
    return x


def adjust(checksum, old_words, new_words):
    """RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m')."""
    total = (~checksum) & 0xFFFF
    for old, new in zip(old_words, new_words):
        total += ((~old) & 0xFFFF) + new
    return (~fold(total)) & 0xFFFF


def words(addr4):
    return (addr4[0] << 8 | addr4[1], addr4[2] << 8 | addr4[3])


def session_template(packets, server_port=993):
    """The TCP packets to/from server_port, with the client's address and port."""
    out, client = [], None
    for ts, frame, orig in packets:
        if len(frame) < 14 + 20 or frame[12:14] != b"\x08\x00":
            continue
        ihl = (frame[14] & 0x0F) * 4
        if frame[23] != 6:
            continue
        tcp = 14 + ihl
        sport, dport = struct.unpack("!HH", frame[tcp:tcp + 4])
        if server_port not in (sport, dport):
            continue
        if client is None:
            client = (frame[26:30], sport) if dport == server_port else (frame[30:34], dport)
        out.append((ts, frame, orig))
    if not out:
        sys.exit(f"no TCP packets to port {server_port} in the source capture")
    return out, client


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--source", default=DEFAULT_SOURCE)
    ap.add_argument("--step-ms", type=float, default=2.0)
    args = ap.parse_args()

    template, (client_ip, client_port) = session_template(read_pcap(args.source))
    t0 = template[0][0]
    old_ip_words = words(client_ip)
    old_port = client_port
    step_us = int(args.step_ms * 1000)
    # (time, clone, index) for every packet to write, in time order: clones overlap, and a
    # real capture is written in arrival order.
    per_clone = len(template)
    clones = (args.packets + per_clone - 1) // per_clone
    order = [
        (template[i][0] - t0 + c * step_us, c, i)
        for c in range(clones)
        for i in range(per_clone)
    ][: args.packets]
    order.sort()
    base = template[0][0]
    with open(args.out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        for rel, clone, i in order:
            _, frame, orig = template[i]
            n = clone + 1
            new_ip = bytes((10, (n >> 16) & 0xFF, (n >> 8) & 0xFF, n & 0xFF))
            new_ip_words = words(new_ip)
            new_port = 1024 + (clone % 64000)
            b = bytearray(frame)
            ihl = (b[14] & 0x0F) * 4
            tcp = 14 + ihl
            from_client = b[26:30] == client_ip
            ip_off, port_off = (26, tcp) if from_client else (30, tcp + 2)
            b[ip_off:ip_off + 4] = new_ip
            b[port_off:port_off + 2] = struct.pack("!H", new_port)
            ip_sum = struct.unpack("!H", b[24:26])[0]
            b[24:26] = struct.pack("!H", adjust(ip_sum, old_ip_words, new_ip_words))
            if len(b) >= tcp + 18:
                tcp_sum = struct.unpack("!H", b[tcp + 16:tcp + 18])[0]
                tcp_sum = adjust(tcp_sum, old_ip_words + (old_port,), new_ip_words + (new_port,))
                b[tcp + 16:tcp + 18] = struct.pack("!H", tcp_sum)
            t = base + rel
            f.write(struct.pack("<IIII", t // 1_000_000, t % 1_000_000, len(b), orig))
            f.write(b)
    written, clone = len(order), clones
    print(f"{args.out}: {written} packets, {clone} sessions cloned from {args.source}")


if __name__ == "__main__":
    main()
