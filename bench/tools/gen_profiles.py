#!/usr/bin/env python3
"""Capture profiles beyond bench/gen-capture.py's short IMAPS sessions, built with its pcap
reader and RFC 1624 checksum helpers (imported, not copied):

  gen_profiles.py --profile idle|mix-dns --packets N [--step-ms MS] OUT

  idle     clones of the lab's IMAP IDLE session (tests/data/imap-idle-state-expired.pcap:
           DNS lookups, login, SELECT, IDLE; the capture ends with the session still open), so
           every cloned session stays open and idle in the tracker;
  mix-dns  clones of the lab's IMAPS session with its DNS lookup (imaps-good.pcap) alternating
           with the lab's failing lookups (dns-servfail.pcap): about 20 % of packets are DNS.

Each clone gets its own client address in 10.128.0.0/9 and its own TCP client port; IPv4
packets only (the sources' IPv6 DNS packets are left out). Writes a classic pcap."""
import argparse
import importlib.util
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "tests", "data")
_spec = importlib.util.spec_from_file_location(
    "gen_capture", os.environ.get("GEN_CAPTURE_PY") or os.path.join(HERE, "..", "gen-capture.py"))
gen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen)

PROFILES = {
    "idle": ["imap-idle-state-expired.pcap"],
    "mix-dns": ["imaps-good.pcap", "dns-servfail.pcap"],
}


def template(path):
    """IPv4 packets to or from the source's client (the first IPv4 packet's sender)."""
    out, client, tcp_port = [], None, None
    for ts, frame, orig in gen.read_pcap(path):
        if len(frame) < 34 or frame[12:14] != b"\x08\x00":
            continue
        if client is None:
            client = bytes(frame[26:30])
        if client not in (frame[26:30], frame[30:34]):
            continue
        ihl = (frame[14] & 0x0F) * 4
        if frame[23] == 6 and tcp_port is None and len(frame) >= 14 + ihl + 4:
            sport, dport = struct.unpack("!HH", frame[14 + ihl:14 + ihl + 4])
            tcp_port = sport if frame[26:30] == client else dport
        out.append((ts, frame, orig))
    return out, client, tcp_port


def clone(frame, client, tcp_port, new_ip, new_port):
    b = bytearray(frame)
    ihl = (b[14] & 0x0F) * 4
    l4 = 14 + ihl
    from_client = bytes(b[26:30]) == client
    ip_off = 26 if from_client else 30
    old_w, new_w = gen.words(client), gen.words(new_ip)
    b[ip_off:ip_off + 4] = new_ip
    b[24:26] = struct.pack("!H", gen.adjust(struct.unpack("!H", b[24:26])[0], old_w, new_w))
    if b[23] == 6 and len(b) >= l4 + 18:
        port_off = l4 if from_client else l4 + 2
        old_port = struct.unpack("!H", b[port_off:port_off + 2])[0]
        port = new_port if old_port == tcp_port else old_port
        b[port_off:port_off + 2] = struct.pack("!H", port)
        s = struct.unpack("!H", b[l4 + 16:l4 + 18])[0]
        b[l4 + 16:l4 + 18] = struct.pack("!H", gen.adjust(s, old_w + (old_port,), new_w + (port,)))
    elif b[23] == 17 and len(b) >= l4 + 8:
        s = struct.unpack("!H", b[l4 + 6:l4 + 8])[0]
        if s != 0:  # a zero UDP checksum means "none" and stays so
            b[l4 + 6:l4 + 8] = struct.pack("!H", gen.adjust(s, old_w, new_w))
    return bytes(b)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--profile", choices=sorted(PROFILES), required=True)
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--step-ms", type=float, default=2.0)
    args = ap.parse_args()
    sources = [template(os.path.join(DATA, name)) for name in PROFILES[args.profile]]
    base = min(t[0][0] for t, _, _ in sources)
    step_us = int(args.step_ms * 1000)
    written = n = 0
    with open(args.out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        while written < args.packets:
            tpl, client, tcp_port = sources[n % len(sources)]
            k = n + 1
            new_ip = bytes((10, 128 | ((k >> 16) & 0x7F), (k >> 8) & 0xFF, k & 0xFF))
            new_port = 1024 + (n % 64000)
            t0 = tpl[0][0]
            for ts, frame, orig in tpl:
                if written >= args.packets:
                    break
                t = base + (ts - t0) + n * step_us
                data = clone(frame, client, tcp_port, new_ip, new_port)
                f.write(struct.pack("<IIII", t // 1_000_000, t % 1_000_000, len(data), orig))
                f.write(data)
                written += 1
            n += 1
    print(f"{args.out}: {written} packets, {n} sessions ({args.profile})")


if __name__ == "__main__":
    main()
