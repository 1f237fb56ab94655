#!/usr/bin/env python3
"""Session end -> verdict latency. Runs ROUNDS real IMAPS sessions (TLS handshake, greeting,
LOGOUT, close) against HOST:PORT, and after each one polls the daemon's control socket every
5 ms until a new session event for this client appears. Prints one line per round:
"<seconds from the client's close() to the event's appearance> <event kind>".

  session_end_latency.py SOCKET CA HOST PORT CLIENT_IP ROUNDS

The control protocol is mailpulse's (src/control/frame.rs): a u64 big-endian length, then JSON.
Bounded: each poll loop gives up after 30 s (printed as "timeout")."""
import json
import socket
import ssl
import struct
import sys
import time

POLL = 0.005
GIVE_UP = 30.0


def request(path, body):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(path)
    data = json.dumps(body).encode()
    s.sendall(struct.pack(">Q", len(data)) + data)
    head = b""
    while len(head) < 8:
        chunk = s.recv(8 - len(head))
        if not chunk:
            raise RuntimeError("control socket closed before a reply")
        head += chunk
    (n,) = struct.unpack(">Q", head)
    if n > 16 << 20:
        raise RuntimeError(f"reply of {n} bytes is over the 16 MiB cap")
    body = b""
    while len(body) < n:
        chunk = s.recv(min(65536, n - len(body)))
        if not chunk:
            raise RuntimeError("truncated reply")
        body += chunk
    s.close()
    return json.loads(body)


def session_events(path, client):
    reply = request(path, {"request": "events", "client": client, "limit": 50})
    if reply.get("response") != "events":
        raise RuntimeError(f"unexpected reply: {reply}")
    return [e for e in reply["body"] if str(e.get("kind", "")).startswith("session-")]


def one_session(ctx, host, port):
    raw = socket.create_connection((host, port), timeout=10)
    tls = ctx.wrap_socket(raw, server_hostname="imap.bench.test")
    f = tls.makefile("rb")
    f.readline()  # greeting
    tls.sendall(b"a LOGOUT\r\n")
    while True:
        line = f.readline()
        if not line or line.startswith(b"a "):
            break
    f.close()
    tls.close()
    return time.time()


def main():
    path, ca, host, port, client, rounds = sys.argv[1:7]
    ctx = ssl.create_default_context(cafile=ca)
    for _ in range(int(rounds)):
        seen = {e["id"] for e in session_events(path, client)}
        t_close = one_session(ctx, host, int(port))
        deadline = time.monotonic() + GIVE_UP
        result = "timeout -"
        while time.monotonic() < deadline:
            new = [e for e in session_events(path, client) if e["id"] not in seen]
            if new:
                result = f"{time.time() - t_close:.4f} {new[0]['kind']}"
                break
            time.sleep(POLL)
        print(result, flush=True)
        time.sleep(0.2)


if __name__ == "__main__":
    main()
