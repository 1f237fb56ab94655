#!/usr/bin/env python3
"""Measure how a server answers a wrong password, as a client sees it on the wire.

    probe-failure.py PROTO HOST PORT USER PASSWORD CAFILE [ATTEMPTS]

PROTO is imap, pop3 (plain LOGIN / USER+PASS on the given port, no TLS), imaps, pop3s
(implicit TLS) or submission (SMTP with STARTTLS, then AUTH PLAIN). Makes up to ATTEMPTS (default
3) failed logins on one connection and prints one line per attempt:

    attempt=N seconds=S reply=<the server's final reply line>

(and `unsolicited=<line>` for anything the server sends unasked, e.g. before closing), then
`closed-after=N` if the server closed the connection after attempt N (within 3 s of its
reply), or `closed-after=none`. Only the standard library: it runs in any lab namespace.
"""
import base64
import socket
import ssl
import sys
import time


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def tls(self, cafile, host):
        ctx = ssl.create_default_context(cafile=cafile)
        self.sock = ctx.wrap_socket(self.sock, server_hostname=host)

    def line(self, timeout):
        self.sock.settimeout(timeout)
        while b"\n" not in self.buf:
            try:
                data = self.sock.recv(4096)
            except (socket.timeout, TimeoutError):
                return None
            except (ConnectionError, ssl.SSLError, OSError):
                data = b""
            if not data:
                return ""
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode("utf-8", "replace").rstrip("\r")

    def send(self, text):
        self.sock.sendall(text.encode() + b"\r\n")

    def closed_soon(self):
        """True if the server closes the connection within 3 s (nothing else arrives)."""
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            got = self.line(max(0.1, deadline - time.monotonic()))
            if got == "":
                return True
            if got is None:
                return False
            print("unsolicited=%s" % got, flush=True)
        return False


def final_reply(conn, proto, tag):
    """Read lines until the command's final reply; return it (or '<closed>' / '<timeout>')."""
    while True:
        got = conn.line(30)
        if got is None:
            return "<timeout>"
        if got == "":
            return "<closed>"
        if proto.startswith("imap") and got.startswith(tag + " "):
            return got
        if proto.startswith("pop3") and got.startswith(("+OK", "-ERR")):
            return got
        if proto == "submission" and len(got) >= 4 and got[3] == " ":
            return got


def main():
    proto, host, port, user, password, cafile = sys.argv[1:7]
    attempts = int(sys.argv[7]) if len(sys.argv) > 7 else 3
    conn = Conn(socket.create_connection((host, int(port)), timeout=10))
    if proto in ("imaps", "pop3s"):
        conn.tls(cafile, host)
    final_reply(conn, proto, "*")  # greeting (a "* OK" line, "+OK" or "220 ")
    if proto == "submission":
        conn.send("EHLO probe.lab")
        final_reply(conn, proto, "")
        conn.send("STARTTLS")
        final_reply(conn, proto, "")
        conn.tls(cafile, host)
        conn.send("EHLO probe.lab")
        final_reply(conn, proto, "")
    for n in range(1, attempts + 1):
        start = time.monotonic()
        if proto.startswith("imap"):
            tag = "a%d" % n
            conn.send('%s LOGIN "%s" "%s"' % (tag, user, password))
            reply = final_reply(conn, proto, tag)
        elif proto.startswith("pop3"):
            conn.send("USER " + user)
            reply = final_reply(conn, proto, "")
            if reply.startswith("+OK"):
                conn.send("PASS " + password)
                reply = final_reply(conn, proto, "")
        else:
            token = base64.b64encode(("\0%s\0%s" % (user, password)).encode()).decode()
            conn.send("AUTH PLAIN " + token)
            reply = final_reply(conn, proto, "")
        print("attempt=%d seconds=%.1f reply=%s" % (n, time.monotonic() - start, reply), flush=True)
        if reply in ("<closed>", "<timeout>"):
            print("closed-after=%d" % (n - 1 if reply == "<closed>" else n))
            return
        if conn.closed_soon():
            print("closed-after=%d" % n)
            return
    print("closed-after=none")


if __name__ == "__main__":
    main()
