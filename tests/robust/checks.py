"""The robustness checks (issue 7 §2). Each returns a list of (name, ok, detail) results.

Every check is bounded: fixed counts and timeouts; `short` shrinks the counts for CI.
"""

import json
import os
import signal
import socket
import struct
import subprocess
import threading
import time

import lab
from lab import (CLI4, IMAP4, NS_CLI, NS_RTR, NS_SRV, Daemon, proc_status, run,
                 session_events, wait_for)

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENTS = os.path.join(HERE, "imap_clients.py")


def imap_clients(count, concurrency, sources=None, timeout=300):
    """Runs COUNT IMAP fetches from the client namespace; returns the client's JSON summary."""
    args = ["ip", "netns", "exec", NS_CLI, "python3", CLIENTS, str(count), str(concurrency),
            IMAP4, ",".join(sources or [])]
    out = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"imap_clients exited {out.returncode}: {out.stderr[-500:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def imap_clients_bg(count, concurrency, sources=None):
    args = ["ip", "netns", "exec", NS_CLI, "python3", CLIENTS, str(count), str(concurrency),
            IMAP4, ",".join(sources or [])]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def session_kinds(status):
    kinds = status.get("events_by_kind", {})
    return kinds.get("session-ok", 0) + kinds.get("session-failed", 0)


def wait_judged(daemon, client, want, seconds):
    """Waits until `events --client` lists at least `want` session events for `client`."""
    found = []

    def enough():
        found[:] = session_events(daemon, client)
        return len(found) >= want

    try:
        wait_for(enough, seconds, f"{want} session events for {client}")
    except TimeoutError:
        pass
    return found


# --------------------------------------------------------------------------------------------
def check_flood(workdir, short):
    """SYN flood + half-open connections to 993: RSS bounded, evictions counted, a real session
    made during the flood still judged."""
    max_sessions = 64
    d = Daemon(workdir, max_sessions=max_sessions).start()
    results = []
    try:
        time.sleep(1)
        rss0, fds0, _ = proc_status(d.pid)
        syns = 20000 if short else 200000
        # hping3: SYNs to 993 from random sources (the server's answers go nowhere, so every
        # one stays a never-completed attempt in the tracker); -i u20 = 50 000/s at most.
        flood = subprocess.Popen(
            ["ip", "netns", "exec", NS_CLI, "hping3", "-q", "-S", "-p", "993", "--rand-source",
             "-c", str(syns), "-i", "u20", IMAP4],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        # Half-open at the application level: completed TCP handshakes that never speak TLS.
        half_open = 300 if short else 1000
        holder = subprocess.Popen(
            ["ip", "netns", "exec", NS_CLI, "python3", "-c", HOLD_OPEN, IMAP4,
             str(half_open), "15"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        time.sleep(1.0)
        # The real session, from its own address so its verdict can be found.
        real = imap_clients(1, 1, ["192.168.78.20"], timeout=60)
        # Asked while the flood goes on: its verdict is served over the socket.
        judged = wait_judged(d, "192.168.78.20", 1, 20)
        peak = rss0
        deadline = time.monotonic() + (40 if short else 120)
        while flood.poll() is None and time.monotonic() < deadline:
            peak = max(peak, proc_status(d.pid)[0])
            time.sleep(0.2)
        if flood.poll() is None:
            os.killpg(flood.pid, signal.SIGKILL)
        flood.wait()
        held = holder.communicate(timeout=60)[0].strip()
        peak = max(peak, proc_status(d.pid)[0])
        st = d.cli_json("status")
        evicted = st["tracker"]["sessions_evicted"]
        packets = st["tracker"]["packets"]
        # Bound: baseline + 16 KiB per table slot + 24 MiB for the evidence ring writer, the
        # event history and allocator slack. Unbounded growth at 20k+ flows would pass it.
        bound = rss0 + max_sessions * 16 + 24 * 1024
        results.append(("flood: daemon alive", d.alive(), f"pid {d.pid}"))
        results.append(("flood: RSS bounded", peak < bound,
                        f"baseline {rss0} KiB, peak {peak} KiB, bound {bound} KiB "
                        f"(max_sessions {max_sessions}); {packets} packets seen; "
                        f"half-open holder: {held}"))
        results.append(("flood: evictions counted", evicted > 0,
                        f"tracker.sessions_evicted = {evicted} after {syns} SYNs"))
        # Still listed once the flood is over (evicted attempts make no events).
        after = session_events(d, "192.168.78.20")
        kinds = st.get("events_by_kind", {})
        results.append(("flood: real session judged once, ok, during the flood",
                        real["ok"] == 1 and [e.get("verdict") for e in judged] == ["ok"],
                        f"client result {real}; verdicts for 192.168.78.20 during the flood: "
                        f"{[e.get('verdict') for e in judged]}, still listed after it: "
                        f"{len(after)}; events by kind {kinds}"))
    finally:
        d.stop()
    return results


# One plaintext IMAP login on port 143.
PLAIN_LOGIN = r"""
import imaplib, sys
m = imaplib.IMAP4(sys.argv[1], 143)
m.login(sys.argv[2], sys.argv[3])
m.logout()
"""


# Opens N TCP connections and holds them silent for S seconds.
HOLD_OPEN = r"""
import socket, sys, time
host, n, hold = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
socks, failed = [], 0
for i in range(n):
    s = socket.socket(); s.settimeout(3)
    try:
        s.connect((host, 993)); socks.append(s)
    except OSError:
        failed += 1; s.close()
time.sleep(hold)
for s in socks: s.close()
print(f"{len(socks)} held, {failed} failed")
"""


# --------------------------------------------------------------------------------------------
def check_load(workdir, short):
    """Many clients fetching at once; every session judged."""
    count, concurrency = (100, 50) if short else (1000, 200)
    sources = [f"192.168.78.{i}" for i in range(21, 30)]
    d = Daemon(workdir, max_sessions=4096).start()
    try:
        before = session_kinds(d.status())
        res = imap_clients(count, concurrency, sources, timeout=600)

        def all_judged():
            return session_kinds(d.status()) - before >= res["ok"] + res["failed"]

        try:
            wait_for(all_judged, 30, "every session judged")
        except TimeoutError:
            pass
        judged = session_kinds(d.status()) - before
        events = [e for e in d.cli_json("events") if e["kind"].startswith("session-")
                  and e.get("client") in sources]
        verdicts = {}
        for e in events:
            verdicts[e["verdict"]] = verdicts.get(e["verdict"], 0) + 1
        ok = res["ok"] == count and judged == count and len(events) == count \
            and verdicts.get("ok", 0) == count
        return [("load: %d clients (%d at once) all judged" % (count, concurrency), ok,
                 f"clients: {res['ok']} ok, {res['failed']} failed in {res['seconds']} s "
                 f"{res['errors'] or ''}; daemon judged {judged}; events listed {len(events)}; "
                 f"verdicts {verdicts}; not ok: "
                 f"{[(e.get('session') or {}).get('evidence') for e in events if e['verdict'] != 'ok'][:3]}")]
    finally:
        d.stop()


# --------------------------------------------------------------------------------------------
def journal_lines(path):
    with open(path, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    complete = [json.loads(x) for x in lines[:-1] if x.strip()]
    return complete, lines[-1]


def check_kill9(workdir, short):
    """kill -9 while events are written; the journal loads, ids continue."""
    d = Daemon(workdir).start()
    journal = os.path.join(d.state_dir, "journal.jsonl")
    results = []
    try:
        load = imap_clients_bg(400 if short else 2000, 20, ["192.168.78.21"])
        wait_for(lambda: os.path.getsize(journal) > 20000, 60, "the journal growing")
        os.kill(d.pid, signal.SIGKILL)
        d.proc.wait()
        os.killpg(load.pid, signal.SIGKILL)
        load.wait()
        complete, tail = journal_lines(journal)
        old_max = max(e["id"] for e in complete)
        torn = len(tail) > 0
        if not torn:
            # The writer's whole-line writes did not tear here; leave the torn tail a crash in
            # the middle of write(2) would leave, so the recovery path is exercised either way.
            with open(journal, "ab") as f:
                f.write(b'{"id":999999999,"time":"2026-11-')
        lines_before = len(complete)
        d.start()
        log = d.log_text()
        warned = [line for line in log.splitlines() if "incomplete last line" in line]
        events = d.cli_json("events")
        ids = [e["id"] for e in events]
        results.append(("kill9: journal loaded after restart",
                        old_max in ids and d.alive(),
                        f"{lines_before} complete lines before the kill, max id {old_max}; "
                        f"{len(events)} events served after restart (max {max(ids)})"))
        results.append(("kill9: partial line warned and only it lost",
                        len(warned) == 1 and "journal.jsonl" in warned[0]
                        and journal_lines(journal)[1] == b""
                        and len(journal_lines(journal)[0]) >= lines_before,
                        f"torn by the kill: {torn}; warning: {warned[:1]}"))
        imap_clients(3, 1, ["192.168.78.22"])
        new = wait_judged(d, "192.168.78.22", 3, 20)
        new_ids = [e["id"] for e in new]
        results.append(("kill9: event ids continue", len(new_ids) == 3 and
                        min(new_ids) > old_max,
                        f"old max {old_max}, new session ids {new_ids}"))
    finally:
        d.stop()
    return results


# --------------------------------------------------------------------------------------------
def check_disk_full(workdir, short):
    """state_dir on a 1 MB tmpfs, filled: the daemon keeps judging and says so."""
    mnt = os.path.join(workdir, "small")
    os.makedirs(mnt)
    run("mount", "-t", "tmpfs", "-o", "size=1m", "mpr-robust", mnt)
    results = []
    try:
        d = Daemon(workdir, state_dir=os.path.join(mnt, "state"), evidence_ring="256KB").start()
        try:
            imap_clients(2, 1, ["192.168.78.23"])
            wait_judged(d, "192.168.78.23", 2, 20)
            # Fill what is left.
            subprocess.run(["dd", "if=/dev/zero", f"of={mnt}/filler", "bs=4k"],
                           capture_output=True)
            res = imap_clients(20, 5, ["192.168.78.24"])
            judged = wait_judged(d, "192.168.78.24", 20, 30)
            st = d.cli_json("status")
            j, ev = st["journal"], st["evidence"]
            log = d.log_text()
            said = [line for line in log.splitlines()
                    if "No space left" in line or "ENOSPC" in line or "space" in line.lower()]
            results.append(("diskfull: still judging", d.alive() and len(judged) == 20
                            and res["ok"] == 20,
                            f"{res['ok']} fetches ok, {len(judged)} judged after the disk filled"))
            results.append(("diskfull: status says so",
                            j["healthy"] is False and j["events_lost"] > 0
                            and ev["error"] is not None,
                            f"journal healthy={j['healthy']} lost={j['events_lost']} "
                            f"error={j['last_error']!r}; evidence error={ev['error']!r}"))
            journal_said = [line for line in said if "journal" in line]
            evidence_said = [line for line in said if "evidence ring" in line]
            results.append(("diskfull: logged", bool(journal_said) and bool(evidence_said),
                            f"{journal_said[:1]} {evidence_said[:1]}"))
            # Space back: the journal recovers on its own.
            os.unlink(f"{mnt}/filler")
            imap_clients(2, 1, ["192.168.78.25"])
            wait_judged(d, "192.168.78.25", 2, 20)
            j2 = d.cli_json("status")["journal"]
            results.append(("diskfull: journal healthy again once space is back",
                            j2["healthy"] is True, f"journal {j2}"))
        finally:
            d.stop()
    finally:
        run("umount", mnt, check=False)
    return results


# --------------------------------------------------------------------------------------------
def raw_exchange(path, payload, close_write=True, timeout=8):
    """Sends raw bytes on the control socket, returns the decoded answer or what happened."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        try:
            s.sendall(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass
        if close_write:
            s.shutdown(socket.SHUT_WR)
        try:
            return lab.read_frame(s)
        except (ConnectionError, socket.timeout) as e:
            return {"closed": str(e)}


def frame(body):
    return struct.pack(">Q", len(body)) + body


def check_control(workdir, short):
    d = Daemon(workdir, extra="max_control_clients = 8\n").start()
    results = []
    try:
        # Warm up so lazily made allocations are in the baseline.
        for _ in range(20):
            d.request({"request": "status"})
            d.request({"request": "events", "limit": 10})
        time.sleep(0.5)
        rss0, fds0, _ = proc_status(d.pid)
        # 100 concurrent clients, each several requests.
        errors, answered = [], [0]
        lock = threading.Lock()

        def client(i):
            for req in ({"request": "status"}, {"request": "events"}, {"request": "clients"},
                        {"request": "metrics"}, {"request": "explain", "client": CLI4}):
                try:
                    r = d.request(req, timeout=30)
                    with lock:
                        answered[0] += 1
                        if r["response"] == "error" and req["request"] != "explain":
                            errors.append(r)
                except Exception as e:  # noqa: BLE001 - counted
                    with lock:
                        errors.append(repr(e))

        threads = [threading.Thread(target=client, args=(i,)) for i in range(100)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        took = time.monotonic() - t0
        results.append(("control: 100 concurrent clients answered",
                        answered[0] == 500 and not errors,
                        f"{answered[0]}/500 answered in {took:.1f} s; errors {errors[:3]}"))
        # Malformed, truncated, oversized.
        bad = {
            "not json": frame(b"\xff\xfe not json"),
            "unknown request": frame(b'{"request":"reboot"}'),
            "wrong type": frame(b'{"request":"events","limit":"ten"}'),
            "bad ip": frame(b'{"request":"explain","client":"999.1.1.1"}'),
            "deep nesting": frame(b"[" * 100000 + b"]" * 100000),
            "length u64::MAX": struct.pack(">Q", 2**64 - 1),
            "length 2 MiB (over 1 MiB cap), body sent": struct.pack(">Q", 2 << 20)
            + b"x" * (2 << 20),
            "truncated body": struct.pack(">Q", 100) + b'{"request":',
            "truncated prefix": b"\x00\x00\x00",
            "empty": b"",
            "zero length": struct.pack(">Q", 0),
        }
        answers = {}
        for name, payload in bad.items():
            answers[name] = raw_exchange(d.socket, payload)
        wrong = {k: v for k, v in answers.items()
                 if not (v.get("response") == "error" or
                         (k in ("empty", "truncated prefix") and "closed" in v))}
        # serde ignores extra fields on a unit variant of an internally tagged enum, whatever
        # `deny_unknown_fields` says: a request with an extra key is answered, not refused.
        extra = raw_exchange(d.socket, frame(b'{"request":"status","x":1}'))
        results.append(("control: malformed requests get errors",
                        not wrong and d.alive(),
                        f"{len(bad)} kinds sent; not answered with an error: {wrong}; e.g. "
                        f"{answers['length u64::MAX']}; an extra key on status is answered "
                        f"({extra.get('response')}), not refused"))
        # Silent clients: more than max_control_clients hold connections open without sending.
        idle = []
        for _ in range(12):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(d.socket)
            idle.append(s)
        t0 = time.monotonic()
        r = d.request({"request": "status"}, timeout=30)
        waited = time.monotonic() - t0
        for s in idle:
            s.close()
        results.append(("control: answers again after silent clients time out",
                        r["response"] == "status" and waited < 12,
                        f"12 silent connections (cap 8): next request answered after "
                        f"{waited:.1f} s"))
        # Leak check.
        for _ in range(3):
            threads = [threading.Thread(target=client, args=(i,)) for i in range(100)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            for payload in bad.values():
                raw_exchange(d.socket, payload)
        time.sleep(6)  # idle connections' timeouts have run out
        rss1, fds1, _ = proc_status(d.pid)
        results.append(("control: fds and RSS back to baseline",
                        fds1 <= fds0 and rss1 < rss0 + 8 * 1024,
                        f"fds {fds0} -> {fds1}; RSS {rss0} -> {rss1} KiB after 1 500 more "
                        f"requests and {3 * len(bad)} malformed ones"))
        results.append(("control: daemon alive", d.alive(), f"pid {d.pid}"))
    finally:
        d.stop()
    return results


# --------------------------------------------------------------------------------------------
def check_sighup(workdir, short):
    d = Daemon(workdir).start()
    results = []
    try:
        good = d.config_text()
        d.write_config(good.replace("[probe]", "[probe]\nintervall = \"5s\"\n")
                       + "\n[diagnosis]\nwindow = \"sixty\"\n")
        os.kill(d.pid, signal.SIGHUP)
        wait_for(lambda: "reload refused" in d.log_text(), 10, "the reload refusal in the log")
        log = [line for line in d.log_text().splitlines() if "reload refused" in line]
        st = d.cli_json("status")
        imap_clients(1, 1, ["192.168.78.26"])
        judged = wait_judged(d, "192.168.78.26", 1, 20)
        results.append(("sighup: broken config refused, named, old config kept",
                        d.alive() and st["config_path"] == d.config and len(log) == 1
                        and "mailpulse.toml" in log[0] and len(judged) == 1,
                        f"log: {log[:1]}; still judging: {len(judged)} session"))
        # A good config after a bad one is taken.
        d.write_config(good.replace('[diagnosis]', '[diagnosis]'))
        os.kill(d.pid, signal.SIGHUP)
        wait_for(lambda: "configuration reloaded" in d.log_text(), 10, "the reload notice")
        results.append(("sighup: a fixed config is then reloaded", d.alive(),
                        "configuration reloaded"))
    finally:
        d.stop()
    return results


# --------------------------------------------------------------------------------------------
def capturing(st, iface):
    for c in st["captures"]:
        if c["interface"] == iface:
            return c
    return None


def check_iface_recreate(workdir, short, net):
    d = Daemon(workdir).start()
    try:
        imap_clients(1, 1, ["192.168.78.27"])
        wait_judged(d, "192.168.78.27", 1, 20)
        before = capturing(d.cli_json("status"), "lan0")
        net.recreate_lan()
        wait_for(lambda: lab.port_listening(NS_SRV, 993), 5, "server")
        seen = []

        def resumed():
            c = capturing(d.cli_json("status"), "lan0")
            seen.append(c)
            return c is not None and c.get("error") is None

        try:
            wait_for(resumed, 30, "lan0 capturing again")
        except TimeoutError:
            pass
        time.sleep(1)
        res = imap_clients(2, 1, ["192.168.78.28"], timeout=60)
        judged = wait_judged(d, "192.168.78.28", 2, 20)
        after = capturing(d.cli_json("status"), "lan0")
        states = [(c or {}).get("error") for c in seen]
        return [("iface: capture resumes after lan0 is deleted and re-created",
                 d.alive() and len(judged) == 2 and res["ok"] == 2
                 and any(s is not None for s in states) and after is not None
                 and after["error"] is None and after["stats"] is not None,
                 f"before {before}; capture errors seen while waiting {states[:3]}...; after: "
                 f"{after}; new sessions judged {len(judged)}")]
    finally:
        d.stop()


# --------------------------------------------------------------------------------------------
def check_privileges(workdir, short):
    """Runs the daemon as a real `mailpulse` user and reports what it keeps."""
    made = run("id", "mailpulse", check=False).returncode != 0
    if made:
        run("useradd", "-r", "-s", "/usr/sbin/nologin", "-M", "mailpulse")
    results = []
    try:
        os.chmod(workdir, 0o755)
        d = Daemon(workdir, user="mailpulse")
        os.makedirs(d.state_dir, exist_ok=True)
        run("chown", "mailpulse:", d.state_dir)
        d.start()
        try:
            time.sleep(1)
            _, fds, status = proc_status(d.pid)
            links = sorted(os.readlink(f"/proc/{d.pid}/fd/{fd}")
                           for fd in os.listdir(f"/proc/{d.pid}/fd"))
            sock = os.stat(d.socket)
            uid = int(run("id", "-u", "mailpulse").stdout)
            uids = status["Uid"].split()
            detail = {k: status[k] for k in ("Uid", "Gid", "Groups", "CapInh", "CapPrm",
                                             "CapEff", "CapBnd", "CapAmb", "NoNewPrivs",
                                             "Seccomp")}
            detail["fds"] = links
            detail["socket_mode"] = oct(sock.st_mode & 0o777)
            detail["socket_owner"] = f"{sock.st_uid}:{sock.st_gid}"
            with open(os.path.join(workdir, "privileges.json"), "w") as f:
                json.dump(detail, f, indent=1)
            imap_clients(1, 1, ["192.168.78.29"])
            # A plaintext login on 143 (what old clients do): does the password reach disk?
            run("python3", "-c", PLAIN_LOGIN, IMAP4, lab.USER, lab.PASSWORD, ns=NS_CLI)
            judged = wait_judged(d, "192.168.78.29", 1, 20)
            time.sleep(2)  # the evidence ring is flushed once a second
            files = {}
            for name in sorted(os.listdir(d.state_dir)):
                st = os.stat(os.path.join(d.state_dir, name))
                with open(os.path.join(d.state_dir, name), "rb") as f:
                    has_password = lab.PASSWORD.encode() in f.read()
                files[name] = f"{oct(st.st_mode & 0o777)} uid {st.st_uid}" + (
                    ", holds the plaintext password" if has_password else "")
            sd = os.stat(d.state_dir)
            detail["state_dir"] = f"{oct(sd.st_mode & 0o777)} uid {sd.st_uid}"
            detail["state_files"] = files
            with open(os.path.join(workdir, "privileges.json"), "w") as f:
                json.dump(detail, f, indent=1)
            world_readable = [n for n in os.listdir(d.state_dir)
                              if os.stat(os.path.join(d.state_dir, n)).st_mode & 0o004]
            results.append(("privileges: journal and evidence not readable by others",
                            not world_readable, f"state files: {files}"))
            # CAP_NET_RAW alone stays (a re-created or newly configured LAN interface needs a
            # new packet socket); nothing can be regained through exec.
            results.append(("privileges: runs as mailpulse, CAP_NET_RAW only, still judges",
                            all(int(u) == uid for u in uids)
                            and detail["CapEff"] == "0000000000002000"
                            and detail["CapPrm"] == "0000000000002000"
                            and detail["CapBnd"] == "0000000000000000"
                            and detail["NoNewPrivs"] == "1"
                            and len(judged) == 1,
                            json.dumps({k: v for k, v in detail.items() if k != "fds"})
                            + f"; {fds} fds: {links}"))
        finally:
            d.stop()
    finally:
        if made:
            run("userdel", "mailpulse", check=False)
    return results
