"""Scripted mail clients that replay documented command sequences of clients the lab cannot run.

    scripted.py ios|outlook HOST PORT PROTO TLS USER PASSWORD RETRY

Arguments as in common.sh. Exit 0 when every connection logged in and fetched.

ios -- iOS Mail (IMAP). Sequence per connection: CAPABILITY, ID, AUTHENTICATE PLAIN (the
  credentials after the server's "+" continuation, no SASL-IR), and after a NO a LOGIN fallback;
  after a second NO a polite LOGOUT. Logged in: ID, NAMESPACE, LIST "" "*" RETURN (SPECIAL-USE),
  SELECT INBOX, UID FETCH of flags and bodies, a short IDLE, DONE, LOGOUT. Several connections at
  once (one per mailbox task), and after a failure one more round a few seconds later.
  Sources (public server logs of real iOS Mail sessions):
  - stalwartlabs/stalwart issue 1144 (iOS 18.2.1): `2 ID ("name" "iPhone Mail" "version" "22C161"
    "os" "iOS" "os-version" "18.2.1 (22C161)")` and several connections from the same phone,
    https://github.com/stalwartlabs/stalwart/issues/1144
  - zone-eu/wildduck issue 869 (iOS 26): `1 CAPABILITY`, `2 AUTHENTICATE PLAIN`, `S: +`, then the
    base64 credentials, https://github.com/zone-eu/wildduck/issues/869
  - stalwartlabs/stalwart issue 765 (iOS 18): `NAMESPACE`, `LIST "" "*" RETURN (SPECIAL-USE)`,
    https://github.com/stalwartlabs/stalwart/issues/765
  - RFC 2971 (IMAP4 ID extension), section 3.3 for the ID syntax.

outlook -- Outlook 2010 / Windows Live Mail on Windows 7 (IMAP or POP3). The Windows TLS stack of
  that era offers TLS 1.0 and 1.1 only (1.2 off by default); STARTTLS on 143/110 or implicit TLS on
  993/995. IMAP: CAPABILITY, STARTTLS, CAPABILITY, LOGIN "user" "password"; after a NO it logs out
  politely and asks the user, who retries a few seconds later. POP3: CAPA, STLS, USER, PASS; after
  -ERR a QUIT. Logged in: IMAP SELECT INBOX, UID FETCH sizes then bodies, LOGOUT; POP3 STAT, UIDL,
  RETR each, QUIT.
  Sources: "Windows Mail and TLS" (ctrl.blog, https://ctrl.blog/entry/windows-mail-tls: SSL on
  993 first, STARTTLS on 143, LOGIN even when LOGINDISABLED); "How to disable outdated email
  encryption on Windows" (hostm.com, https://hostm.com/tutorials/security/outdated-email-encryption-windows:
  Windows 7 / old Outlook without TLS 1.2 fail against TLS 1.2-only servers); Mailu issue 4054
  (a TLS 1.0 client whose refused login dovecot logs as "Aborted login by logging out (auth
  failed, 1 attempts)", https://github.com/Mailu/Mailu/issues/4054).
"""

import base64
import warnings
import os
import socket
import ssl
import sys
import threading
import time

TIMEOUT = 30
# TLS 1.0 and 1.1 are what these clients offer; Python warns about them.
warnings.filterwarnings("ignore", category=DeprecationWarning)


class Conn:
    """A line-oriented mail connection that can switch to TLS (implicit or STARTTLS)."""

    def __init__(self, host, port, ctx, implicit):
        self.host, self.ctx = host, ctx
        self.sock = socket.create_connection((host, port), timeout=TIMEOUT)
        if implicit:
            self.tls()
        self.buf = b""

    def tls(self):
        self.sock = self.ctx.wrap_socket(self.sock, server_hostname=self.host)

    def line(self) -> str:
        while b"\r\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("server closed the connection")
            self.buf += data
        out, self.buf = self.buf.split(b"\r\n", 1)
        text = out.decode("utf-8", "replace")
        # A literal {N} follows the line: read it (and the rest of the line after it).
        if text.endswith("}") and "{" in text:
            n = int(text[text.rindex("{") + 1:-1])
            while len(self.buf) < n:
                data = self.sock.recv(65536)
                if not data:
                    raise ConnectionError("server closed the connection")
                self.buf += data
            self.buf = self.buf[n:]
            text += " " + self.line()
        return text

    def send(self, text: str):
        self.sock.sendall(text.encode() + b"\r\n")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Imap:
    def __init__(self, conn):
        self.c, self.n = conn, 0
        self.greeting = conn.line()

    def cmd(self, text, tag_prefix="") -> tuple[str, list[str]]:
        self.n += 1
        tag = f"{tag_prefix}{self.n}"
        self.c.send(f"{tag} {text}")
        return self.wait(tag)

    def wait(self, tag):
        lines = []
        while True:
            line = self.c.line()
            if line.startswith(tag + " "):
                return line.split(" ", 2)[1], lines
            lines.append(line)


def context(tls: str, versions) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=os.environ["MATRIX_CA"])
    lo, hi = versions
    if tls.endswith("+tls1.0"):
        lo, hi = ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1
    if lo < ssl.TLSVersion.TLSv1_2:
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    ctx.minimum_version, ctx.maximum_version = lo, hi
    return ctx


# ------------------------------------------------------------------------------------------
# iOS Mail

IOS_ID = '("name" "iPhone Mail" "version" "22C161" "os" "iOS" "os-version" "18.2.1 (22C161)")'


def ios_connection(host, port, mode, ctx, user, password, idle_secs):
    conn = Conn(host, port, ctx, mode == "implicit")
    try:
        imap = Imap(conn)
        if mode == "starttls":
            st, _ = imap.cmd("STARTTLS")
            if st != "OK":
                raise RuntimeError("STARTTLS refused")
            conn.tls()
        imap.cmd("CAPABILITY")
        imap.cmd(f"ID {IOS_ID}")
        # AUTHENTICATE PLAIN with the credentials after the continuation.
        imap.n += 1
        tag = str(imap.n)
        conn.send(f"{tag} AUTHENTICATE PLAIN")
        cont = conn.line()
        if cont.startswith("+"):
            conn.send(base64.b64encode(f"\0{user}\0{password}".encode()).decode())
            st, _ = imap.wait(tag)
        else:
            st = cont.split(" ", 2)[1] if cont.startswith(tag + " ") else "NO"
        if st != "OK":
            st, _ = imap.cmd(f'LOGIN "{user}" "{password}"')
        if st != "OK":
            imap.cmd("LOGOUT")
            return False
        imap.cmd(f"ID {IOS_ID}")
        imap.cmd("NAMESPACE")
        imap.cmd('LIST "" "*" RETURN (SPECIAL-USE)')
        st, _ = imap.cmd("SELECT INBOX")
        imap.cmd("UID FETCH 1:* (FLAGS RFC822.SIZE)")
        imap.cmd("UID FETCH 1:* (BODY.PEEK[])")
        if idle_secs:
            imap.n += 1
            tag = str(imap.n)
            conn.send(f"{tag} IDLE")
            conn.line()  # "+ idling"
            time.sleep(idle_secs)
            conn.send("DONE")
            imap.wait(tag)
        imap.cmd("LOGOUT")
        return st == "OK"
    finally:
        conn.close()


def ios(host, port, proto, tls, user, password, retry) -> int:
    if proto != "imap":
        print("ios: IMAP only", file=sys.stderr)
        return 64
    mode = tls.split("+")[0]
    ctx = context(tls, (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3))
    rounds = 2 if retry == "yes" else 1
    for r in range(rounds):
        results = [False] * 3
        # Three connections at once: INBOX with a short IDLE, and two mailbox tasks.
        def worker(i):
            try:
                results[i] = ios_connection(host, port, mode, ctx, user, password, 2 if i == 0 else 0)
            except (OSError, ConnectionError, RuntimeError) as err:
                print(f"ios: connection {i}: {err}", file=sys.stderr)
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(3)]
        for i, t in enumerate(threads):
            t.start()
            time.sleep(0.1 * (i + 1))
        for t in threads:
            t.join()
        if all(results):
            return 0
        if r + 1 < rounds:
            time.sleep(3)  # the account is tried again a few seconds later
    return 1


# ------------------------------------------------------------------------------------------
# Outlook / Windows Live Mail

def outlook_imap(host, port, mode, ctx, user, password) -> bool:
    conn = Conn(host, port, ctx, mode == "implicit")
    try:
        imap = Imap(conn)
        imap.cmd("CAPABILITY")
        if mode == "starttls":
            st, _ = imap.cmd("STARTTLS")
            if st != "OK":
                raise RuntimeError("STARTTLS refused")
            conn.tls()
            imap.cmd("CAPABILITY")
        st, _ = imap.cmd(f'LOGIN "{user}" "{password}"')
        if st != "OK":
            imap.cmd("LOGOUT")
            return False
        imap.cmd("SELECT INBOX")
        imap.cmd("UID FETCH 1:* (UID RFC822.SIZE FLAGS)")
        imap.cmd("UID FETCH 1:* (UID BODY.PEEK[])")
        imap.cmd("LOGOUT")
        return True
    finally:
        conn.close()


def pop_ok(conn) -> bool:
    return conn.line().startswith("+OK")


def pop_multi(conn):
    while conn.line() != ".":
        pass


def outlook_pop3(host, port, mode, ctx, user, password) -> bool:
    conn = Conn(host, port, ctx, mode == "implicit")
    try:
        pop_ok(conn)
        conn.send("CAPA")
        if pop_ok(conn):
            pop_multi(conn)
        if mode == "starttls":
            conn.send("STLS")
            if not pop_ok(conn):
                raise RuntimeError("STLS refused")
            conn.tls()
        conn.send(f"USER {user}")
        pop_ok(conn)
        conn.send(f"PASS {password}")
        if not pop_ok(conn):
            conn.send("QUIT")
            pop_ok(conn)
            return False
        conn.send("STAT")
        stat = conn.line()
        count = int(stat.split()[1]) if stat.startswith("+OK") else 0
        conn.send("UIDL")
        if pop_ok(conn):
            pop_multi(conn)
        for i in range(1, count + 1):
            conn.send(f"RETR {i}")
            if pop_ok(conn):
                pop_multi(conn)
        conn.send("QUIT")
        pop_ok(conn)
        return True
    finally:
        conn.close()


def outlook(host, port, proto, tls, user, password, retry) -> int:
    run = {"imap": outlook_imap, "pop3": outlook_pop3}.get(proto)
    if run is None:
        print("outlook: IMAP or POP3 only", file=sys.stderr)
        return 64
    mode = tls.split("+")[0]
    ctx = context(tls, (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1))
    attempts = 2 if retry == "yes" else 1
    for a in range(attempts):
        try:
            if run(host, port, mode, ctx, user, password):
                return 0
        except (OSError, ConnectionError, RuntimeError) as err:
            print(f"outlook: {err}", file=sys.stderr)
        if a + 1 < attempts:
            time.sleep(3)  # the password dialog, then "OK"
    return 1


def main() -> int:
    if len(sys.argv) != 9:
        print(__doc__, file=sys.stderr)
        return 64
    who, host, port, proto, tls, user, password, retry = sys.argv[1:]
    return {"ios": ios, "outlook": outlook}[who](host, int(port), proto, tls, user, password, retry)


if __name__ == "__main__":
    sys.exit(main())
