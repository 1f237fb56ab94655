#!/usr/bin/env python3
"""A syslog datagram listener for the bench: binds a Unix datagram socket at PATH and appends
"receipt-time<TAB>message" (time.time(), CLOCK_REALTIME) to OUT for each datagram, flushed at
once so that the harness can read it while it runs. Stops on SIGTERM or after --max-seconds."""
import os
import signal
import socket
import sys
import time


def main():
    path, out = sys.argv[1], sys.argv[2]
    max_seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 3600.0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    os.chmod(path, 0o666)
    sock.settimeout(1.0)
    deadline = time.monotonic() + max_seconds
    with open(out, "a", buffering=1) as f:
        while time.monotonic() < deadline:
            try:
                data = sock.recv(65536)
            except socket.timeout:
                continue
            t = time.time()
            line = data.decode("utf-8", "replace").replace("\n", " ").replace("\t", " ")
            f.write(f"{t:.6f}\t{line}\n")


if __name__ == "__main__":
    main()
