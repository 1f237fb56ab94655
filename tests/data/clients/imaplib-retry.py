#!/usr/bin/python3
"""A mail client that logs in over IMAPS or POP3S with Python's standard library, logs out
politely after a refused login and retries a few seconds later (as desktop clients do).

    imaplib-retry.py imaps|pop3s HOST USER PASSWORD CAFILE [ATTEMPTS] [PAUSE_S]

Exit 0 when a login succeeded, 67 when every attempt was refused.
"""
import imaplib
import poplib
import ssl
import sys
import time


def imaps(host, user, password, ctx):
    conn = imaplib.IMAP4_SSL(host, 993, ssl_context=ctx, timeout=30)
    try:
        conn.login(user, password)
    except imaplib.IMAP4.error as e:
        print("refused:", e, flush=True)
        conn.logout()
        return False
    conn.select("INBOX", readonly=True)
    conn.logout()
    return True


def pop3s(host, user, password, ctx):
    conn = poplib.POP3_SSL(host, 995, context=ctx, timeout=30)
    try:
        conn.user(user)
        conn.pass_(password)
    except poplib.error_proto as e:
        print("refused:", e, flush=True)
        conn.quit()
        return False
    conn.stat()
    conn.quit()
    return True


def main():
    proto, host, user, password, cafile = sys.argv[1:6]
    attempts = int(sys.argv[6]) if len(sys.argv) > 6 else 3
    pause = float(sys.argv[7]) if len(sys.argv) > 7 else 3.0
    ctx = ssl.create_default_context(cafile=cafile)
    login = {"imaps": imaps, "pop3s": pop3s}[proto]
    for i in range(attempts):
        if i:
            time.sleep(pause)
        if login(host, user, password, ctx):
            print("logged in", flush=True)
            return 0
    return 67


if __name__ == "__main__":
    sys.exit(main())
