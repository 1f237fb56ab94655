"""Python's standard mail clients (imaplib, poplib, smtplib) as the matrix's clients.

    pystdlib.py imaplib|poplib|smtplib HOST PORT PROTO TLS USER PASSWORD RETRY

Arguments as in common.sh. After a refused login the client says goodbye politely (LOGOUT / QUIT),
as a well-behaved library user does. RETRY=yes: one more attempt, in the same process, a second
later. Exit 0 when mail was fetched (or sent).
"""

import imaplib
import warnings
import os
import poplib
import smtplib
import ssl
import sys
import time


warnings.filterwarnings("ignore", category=DeprecationWarning)  # TLS 1.0 on purpose


def context(tls: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=os.environ["MATRIX_CA"])
    if tls.endswith("+tls1.0"):
        # An old device's TLS stack: TLS 1.0 and nothing newer.
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1
    return ctx


def imap(host, port, mode, ctx, user, password):
    conn = (imaplib.IMAP4_SSL(host, port, ssl_context=ctx, timeout=30) if mode == "implicit"
            else imaplib.IMAP4(host, port, timeout=30))
    try:
        if mode == "starttls":
            conn.starttls(ssl_context=ctx)
        conn.login(user, password)
    except imaplib.IMAP4.error:
        conn.logout()
        raise
    conn.select("INBOX", readonly=True)
    typ, data = conn.search(None, "ALL")
    for num in data[0].split():
        conn.fetch(num, "(BODY.PEEK[])")
    conn.logout()


def pop3(host, port, mode, ctx, user, password):
    conn = (poplib.POP3_SSL(host, port, context=ctx, timeout=30) if mode == "implicit"
            else poplib.POP3(host, port, timeout=30))
    try:
        if mode == "starttls":
            conn.stls(context=ctx)
        conn.user(user)
        conn.pass_(password)
    except poplib.error_proto:
        conn.quit()
        raise
    count, _ = conn.stat()
    for i in range(1, count + 1):
        conn.retr(i)
    conn.quit()


def smtp(host, port, mode, ctx, user, password):
    conn = (smtplib.SMTP_SSL(host, port, context=ctx, timeout=30) if mode == "implicit"
            else smtplib.SMTP(host, port, timeout=30))
    try:
        conn.ehlo()
        if mode == "starttls":
            conn.starttls(context=ctx)
            conn.ehlo()
        conn.login(user, password)
    except smtplib.SMTPException:
        conn.quit()
        raise
    body = "hello\r\n" + ("The quick brown fox jumps over the lazy dog.\r\n" * 4000
                            if os.environ.get("MATRIX_LARGE") else "")
    conn.sendmail("alice@mail.test", ["alice@mail.test"],
                  "From: alice@mail.test\r\nTo: alice@mail.test\r\nSubject: matrix\r\n\r\n" + body)
    conn.quit()


def main() -> int:
    if len(sys.argv) != 9:
        print(__doc__, file=sys.stderr)
        return 64
    lib, host, port, proto, tls, user, password, retry = sys.argv[1:]
    run = {"imap": imap, "pop3": pop3, "smtp": smtp}[proto]
    mode = tls.split("+")[0]
    attempts = 2 if retry == "yes" else 1
    for attempt in range(attempts):
        try:
            run(host, int(port), mode, context(tls), user, password)
            return 0
        except (OSError, imaplib.IMAP4.error, poplib.error_proto, smtplib.SMTPException) as err:
            print(f"{lib}: attempt {attempt + 1}: {err}", file=sys.stderr)
            if attempt + 1 < attempts:
                time.sleep(1)
    return 1


if __name__ == "__main__":
    sys.exit(main())
