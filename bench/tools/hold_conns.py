#!/usr/bin/env python3
"""Opens and holds many real TCP connections, for the 10 k-session footprint measurement.

  hold_conns.py serve ADDR PORT MAX SECONDS    accept up to MAX connections, hold them, exit
  hold_conns.py connect ADDR PORT COUNT BATCH SECONDS STATUS_FILE
        open COUNT connections in batches of BATCH (each batch waited for), write
        "open N" to STATUS_FILE once all are up, hold them SECONDS, then close them all.

Every loop is bounded in count and time. Needs RLIMIT_NOFILE above COUNT (raised here)."""
import resource
import selectors
import socket
import sys
import time


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(max(n, soft), hard) if hard != resource.RLIM_INFINITY else max(n, soft)
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def serve(addr, port, maximum, seconds):
    raise_nofile(maximum + 100)
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind((addr, port))
    lsock.listen(4096)
    lsock.settimeout(0.5)
    held = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if len(held) >= maximum:
            time.sleep(0.5)
            continue
        try:
            conn, _ = lsock.accept()
        except socket.timeout:
            continue
        held.append(conn)
    for c in held:
        c.close()


def connect(addr, port, count, batch, seconds, status_file):
    raise_nofile(count + 100)
    sel = selectors.DefaultSelector()
    socks = []
    started = time.monotonic()
    for first in range(0, count, batch):
        pending = set()
        for _ in range(min(batch, count - first)):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex((addr, port))
            sel.register(s, selectors.EVENT_WRITE)
            pending.add(s)
            socks.append(s)
        batch_deadline = time.monotonic() + 10
        while pending and time.monotonic() < batch_deadline:
            for key, _ in sel.select(timeout=0.5):
                sel.unregister(key.fileobj)
                pending.discard(key.fileobj)
        for s in pending:
            sel.unregister(s)
        if pending:
            print(f"{len(pending)} connections of batch at {first} did not complete", file=sys.stderr)
    up = sum(1 for s in socks if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0)
    with open(status_file, "w") as f:
        f.write(f"open {up} {time.monotonic() - started:.1f}\n")
    time.sleep(seconds)
    for s in socks:
        s.close()


def main():
    mode = sys.argv[1]
    if mode == "serve":
        serve(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))
    elif mode == "connect":
        connect(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]),
                float(sys.argv[6]), sys.argv[7])
    else:
        sys.exit(f"hold_conns.py: unknown mode {mode!r} (serve or connect)")


if __name__ == "__main__":
    main()
