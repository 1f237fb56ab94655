#!/usr/bin/env python3
"""Writes expect.tsv: what really happened in every mail session of the peer captures, read
from tshark's dissection of the packets (never from mailpulse's output).

    tests/data/peers/derive-expect.py > tests/data/peers/expect.tsv

It also writes damaged.tsv: the captures tshark calls cut or damaged, with its words.

Needs tshark. A session is a TCP stream to a mail port (25, 110, 143, 465, 587, 993, 995).
Columns:
  capture      file under tests/data/peers/
  client_port  the port of the side that sent the SYN (else the side not on a mail port)
  server_port
  truth        server-refused  the server answered the SYN with a reset
               no-answer       SYNs and nothing back
               tls-failed      a TLS alert of level fatal, or a ClientHello the server never
                               answered with a ServerHello before the session closed
               login-refused   the server's plaintext reply refused the last login
               login-ok        the server's plaintext reply accepted the last login
               server-silent   the server sent no data at all before the session closed
               server-slow     a reply took longer than 5 s, or the client closed that long
                               after a command the server never answered
               cut-by-capture-end  no FIN or RST from either side before the capture ends
               completed       none of the above: the session ran and was closed
  login        ok / refused / none (plaintext replies only: IMAP tagged OK/NO/BAD to LOGIN
               or AUTHENTICATE, POP3 +OK/-ERR to PASS/APOP/AUTH, SMTP 235 / 5xx to AUTH)
  close        fin / rst / none: the first FIN or RST of the session
  closed_by    client / server / -: who sent it
  spoke_last   client / server / -: who sent the last data
  mid_stream   yes when the capture starts after the SYN (no handshake seen)
"""
import concurrent.futures
import os
import subprocess
import sys

MAIL_PORTS = {25, 110, 143, 465, 587, 993, 995}
# A reply slower than this is a slow server (the default of the `slow_server` setting in the configuration).
SLOW_REPLY = 5.0
HERE = os.path.dirname(os.path.abspath(__file__))
FIELDS = [
    "frame.number", "tcp.stream", "ip.src", "ipv6.src", "ip.dst", "ipv6.dst", "tcp.srcport", "tcp.dstport",
    "tcp.flags.syn", "tcp.flags.ack", "tcp.flags.fin", "tcp.flags.reset", "tcp.len",
    "tcp.seq_raw", "frame.time_epoch", "tls.handshake.type",
    "tls.alert_message.level", "imap.request_tag", "imap.request.command",
    "imap.response_tag", "imap.response.status", "pop.request.command",
    "pop.response.indicator", "smtp.req.command", "smtp.response.code",
]
PORT_FILTER = "tcp.port in {%s}" % ",".join(str(p) for p in sorted(MAIL_PORTS))


def packets(path):
    cmd = ["tshark", "-r", path, "-n", "-Y", PORT_FILTER, "-T", "fields",
           "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=|",
           # Dissect the mail protocols on every mail port, as mailpulse reads them.
           "-d", "tcp.port==587,smtp", "-d", "tcp.port==143,imap", "-d", "tcp.port==110,pop"]
    for f in FIELDS:
        cmd += ["-e", f]
    run = subprocess.run(cmd, capture_output=True, text=True, check=False)
    complaint = " ".join(l.strip() for l in run.stderr.splitlines()
                         if l.strip() and "Running as user" not in l).replace(HERE + "/", "")
    return complaint, list(fields_of(run.stdout))


def fields_of(out):
    for line in out.splitlines():
        cols = line.split("\t")
        cols += [""] * (len(FIELDS) - len(cols))
        p = dict(zip(FIELDS, cols))
        if not p["tcp.stream"]:
            continue
        # Tunnels: the innermost header is the last occurrence.
        p["src"] = (p["ipv6.src"] or p["ip.src"]).split("|")[-1]
        p["dst"] = (p["ipv6.dst"] or p["ip.dst"]).split("|")[-1]
        for k in ("tcp.srcport", "tcp.dstport", "tcp.stream", "tcp.len", "tcp.seq_raw"):
            p[k] = int(p[k].split("|")[-1] or 0)
        p["time"] = float(p["frame.time_epoch"])
        for k in ("tcp.flags.syn", "tcp.flags.ack", "tcp.flags.fin", "tcp.flags.reset"):
            p[k] = p[k].split("|")[-1] in ("1", "True")
        yield p


def four_tuple(p):
    return frozenset([(p["src"], p["tcp.srcport"]), (p["dst"], p["tcp.dstport"])])


def sessions(pkts):
    """tshark's TCP streams, made into connection attempts: a SYN after a FIN or RST, or with a
    new initial sequence number, starts another attempt (a client retrying from the same port), and a
    stream of nothing but empty segments belongs to the one before it on the same addresses
    and ports (the last ACK of a close), or is no session at all."""
    streams = {}
    for p in pkts:
        streams.setdefault(p["tcp.stream"], []).append(p)
    out = []
    last_on = {}
    for sid in sorted(streams):
        stream = streams[sid]
        key = four_tuple(stream[0])
        empty = all(p["tcp.len"] == 0 and not p["tcp.flags.syn"] for p in stream)
        if empty:
            # Without a handshake or any data there is no session to judge.
            if key in last_on:
                last_on[key].extend(stream)
            continue
        current, isn = [], None
        for p in stream:
            if p["tcp.flags.syn"] and not p["tcp.flags.ack"]:
                closed = any(q["tcp.flags.fin"] or q["tcp.flags.reset"] for q in current)
                if current and (closed or (isn is not None and p["tcp.seq_raw"] != isn)):
                    out.append(current)
                    current = []
                isn = p["tcp.seq_raw"]
            current.append(p)
        out.append(current)
        last_on[key] = current
    return out


def any_server_data_before(stream, packet, from_client):
    for q in stream:
        if q is packet:
            return False
        if q["tcp.len"] > 0 and not from_client(q):
            return True
    return False


def values(p, field):
    return [v for v in p[field].split("|") if v]


def judge(stream):
    first = stream[0]
    syns = [p for p in stream if p["tcp.flags.syn"] and not p["tcp.flags.ack"]]
    if syns:
        client = (syns[0]["src"], syns[0]["tcp.srcport"])
        server_port = syns[0]["tcp.dstport"]
    elif first["tcp.dstport"] in MAIL_PORTS:
        client = (first["src"], first["tcp.srcport"])
        server_port = first["tcp.dstport"]
    else:
        # No handshake and the first packet is the server's: the client is its receiver.
        client = (first["dst"], first["tcp.dstport"])
        server_port = first["tcp.srcport"]
    from_client = lambda p: (p["src"], p["tcp.srcport"]) == client
    synack = any(p["tcp.flags.syn"] and p["tcp.flags.ack"] and not from_client(p) for p in stream)
    from_server = [p for p in stream if not from_client(p)]
    close, closed_by = "none", "-"
    for p in stream:
        if p["tcp.flags.fin"] or p["tcp.flags.reset"]:
            close = "rst" if p["tcp.flags.reset"] else "fin"
            closed_by = "client" if from_client(p) else "server"
            break
    login = "none"
    imap_logins = {}
    pending = None  # POP3/SMTP: a login command waiting for its reply
    for p in stream:
        if from_client(p):
            tags = values(p, "imap.request_tag")
            for tag, cmd in zip(tags, values(p, "imap.request.command")):
                if cmd.upper() in ("LOGIN", "AUTHENTICATE"):
                    imap_logins[tag] = True
            for cmd in values(p, "pop.request.command"):
                if cmd.upper() in ("PASS", "APOP", "AUTH"):
                    pending = "pop"
            for cmd in values(p, "smtp.req.command"):
                if cmd.upper() == "AUTH":
                    pending = "smtp"
        else:
            for tag, status in zip(values(p, "imap.response_tag"), values(p, "imap.response.status")):
                if tag in imap_logins:
                    login = "ok" if status.upper() == "OK" else "refused"
                    del imap_logins[tag]
            if pending == "pop":
                for ind in values(p, "pop.response.indicator"):
                    if ind in ("+OK", "-ERR"):
                        login = "ok" if ind == "+OK" else "refused"
                        pending = None
                        break
            if pending == "smtp":
                for code in values(p, "smtp.response.code"):
                    if code == "235":
                        login, pending = "ok", None
                        break
                    if code[:1] in ("4", "5"):
                        login, pending = "refused", None
                        break
    fatal_alert = any("2" in values(p, "tls.alert_message.level") for p in stream)
    client_hello = any("1" in values(p, "tls.handshake.type") for p in stream if from_client(p))
    server_hello = any("2" in values(p, "tls.handshake.type") for p in stream if not from_client(p))
    server_spoke = any(p["tcp.len"] > 0 for p in from_server)
    # The slowest reply: from a client segment with data to the server's next data.
    # The client's request is complete at its last data before the server answers; on the
    # plaintext ports the server's first data is its greeting, not an answer, so a request
    # sent before it waits from the greeting on.
    greets = server_port in (25, 587, 110, 143)
    slowest, waiting_since, spoke_last = 0.0, None, "-"
    sent_up_to = {}  # per side: the end of the highest sequence sent (retransmissions are not news)
    for p in stream:
        if p["tcp.len"] == 0:
            continue
        side = from_client(p)
        end = p["tcp.seq_raw"] + p["tcp.len"]
        if side in sent_up_to and (end - sent_up_to[side]) % 2**32 > 2**31 or sent_up_to.get(side) == end:
            continue
        sent_up_to[side] = end
        if from_client(p):
            spoke_last = "client"
            waiting_since = p["time"]
        else:
            if greets and spoke_last != "server" and not any_server_data_before(stream, p, from_client):
                waiting_since = p["time"] if waiting_since is not None else None
            elif waiting_since is not None:
                slowest = max(slowest, p["time"] - waiting_since)
                waiting_since = None
            spoke_last = "server"
    closes = [p for p in stream if p["tcp.flags.fin"] or p["tcp.flags.reset"]]
    if waiting_since is not None and closes and from_client(closes[0]):
        # The client closed with its last command unanswered: it waited this long.
        slowest = max(slowest, closes[0]["time"] - waiting_since)
    if syns and not synack and any(p["tcp.flags.reset"] for p in from_server):
        truth = "server-refused"
    elif syns and not from_server:
        truth = "no-answer"
    elif fatal_alert or (client_hello and not server_hello and closes):
        truth = "tls-failed"
    elif login == "refused":
        truth = "login-refused"
    elif login == "ok":
        truth = "login-ok"
    elif not server_spoke and closes:
        truth = "server-silent"
    elif slowest > SLOW_REPLY:
        truth = "server-slow"
    elif close == "none":
        truth = "cut-by-capture-end"
    else:
        truth = "completed"
    mid = "no" if syns else "yes"
    return client[1], server_port, truth, login, close, closed_by, spoke_last, mid


def main():
    print("#capture\tclient_port\tserver_port\ttruth\tlogin\tclose\tclosed_by\tspoke_last\tmid_stream")
    names = sorted(n for n in os.listdir(HERE) if n.endswith((".pcap", ".pcapng", ".pcap.gz")))
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        dissected = list(pool.map(lambda n: packets(os.path.join(HERE, n)), names))
    damaged = []
    for name, (complaint, pkts) in zip(names, dissected):
        if complaint:
            damaged.append(f"{name}\t{complaint}")
        for session in sessions(pkts):
            row = judge(session)
            print("\t".join([name] + [str(c) for c in row]))
    with open(os.path.join(HERE, "damaged.tsv"), "w") as f:
        f.write("#capture\twhat tshark says about the file\n")
        for line in damaged:
            f.write(line + "\n")


if __name__ == "__main__":
    if subprocess.run(["sh", "-c", "command -v tshark"], capture_output=True).returncode:
        sys.exit("missing prerequisite: tshark")
    main()
