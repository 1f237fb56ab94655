"""The state directory cannot lead root anywhere: the real daemon, started as root with a real
unprivileged user, finds links planted by that user in its state directory (as after a crash
that the supervisor answers with a restart) and must leave their targets exactly as they were.

    python3 tests/robust/state_dir.py        (as root; also run by tests/robust/run.sh)

Needs: root, useradd/userdel, runuser (util-linux), the daemon binary ($MAILPULSE or
target/debug/mailpulse). Uses no network namespace: the daemon captures on `lo` only.
Prints PASS/FAIL per check; exits 1 on any failure.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

USER = "mpp-statedir"
# What a shadow file holds: the daemon must neither own, change nor read it.
SECRET = b"root:$6$rounds=5000$standin$hash:19700:0:99999:7:::\n"
# Every name the daemon writes in its state directory, plus one it never uses (a blanket chown
# of the directory's entries would reach it too).
PLANTED = ["journal.jsonl", "journal.1.jsonl", "evidence.0.pcapng", "evidence.1.pcapng",
           "timeline.jsonl", "planted"]


def daemon_binary():
    repo = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    path = os.environ.get("MAILPULSE") or os.path.join(repo, "target", "debug", "mailpulse")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"missing prerequisite: the daemon binary {path}")
    return path


def run(*args, check=True):
    return subprocess.run(list(args), check=check, capture_output=True, text=True)


def fingerprint(path):
    st = os.stat(path, follow_symlinks=False)
    with open(path, "rb") as f:
        return (st.st_uid, st.st_gid, oct(st.st_mode & 0o7777), f.read())


def config(work, state, user):
    path = os.path.join(work, "mailpulse.toml")
    with open(path, "w") as f:
        f.write(f"""[daemon]
socket = "{work}/mailpulse.sock"
state_dir = "{state}"
user = "{user}"
syslog = false
log_level = "debug"

[lan]
interfaces = ["lo"]

[wan]
interfaces = ["lo"]

[probe]
targets = []

[capture]
evidence_ring = "1MB"
""")
    return path


def status_answers(sock):
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(2)
            s.connect(sock)
            body = b'{"request":"status"}'
            s.sendall(len(body).to_bytes(8, "big") + body)
            return len(s.recv(8)) == 8
    except OSError:
        return False


def start_and_stop(work, conf, log):
    """Starts the daemon, waits for its socket, makes it write, stops it; returns its exit
    code, its /proc status while it ran (or None) and its output."""
    with open(log, "w") as out:
        proc = subprocess.Popen([daemon_binary(), "daemon", "-c", conf, "--foreground"],
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    sock = os.path.join(work, "mailpulse.sock")
    status = None
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and proc.poll() is None:
        if status_answers(sock):
            with open(f"/proc/{proc.pid}/status") as f:
                status = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
            break
        time.sleep(0.1)
    if proc.poll() is None:
        # Some traffic on lo so the evidence ring and the journal have something to write.
        for _ in range(3):
            try:
                socket.create_connection(("127.0.0.1", 993), timeout=0.5).close()
            except OSError:
                pass
        time.sleep(2.5)  # the journal and the evidence ring are flushed once a second
        proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = proc.wait()
    with open(log, errors="replace") as f:
        return code, status, f.read()


def main():
    results = []

    def report(name, ok, detail):
        results.append(ok)
        print(f"{'PASS' if ok else 'FAIL'} {name}: {detail}", flush=True)

    if os.geteuid() != 0:
        report("state-dir: prerequisites", False, "must run as root")
        return 1
    missing = [t for t in ("useradd", "userdel", "runuser") if shutil.which(t) is None]
    if missing:
        report("state-dir: prerequisites", False, "missing prerequisite: " + ", ".join(missing))
        return 1
    made = run("id", USER, check=False).returncode != 0
    if made:
        run("useradd", "-r", "-M", "-s", "/usr/sbin/nologin", USER)
    work = tempfile.mkdtemp(prefix="mpp-statedir-")
    try:
        os.chmod(work, 0o755)
        uid = int(run("id", "-u", USER).stdout)
        gid = int(run("id", "-g", USER).stdout)
        # Root's files the links point at: one per planted name.
        secrets = os.path.join(work, "etc")
        os.mkdir(secrets, 0o755)
        targets = {}
        for name in PLANTED:
            target = os.path.join(secrets, f"shadow-for-{name}")
            with open(target, "wb") as f:
                f.write(SECRET)
            os.chmod(target, 0o640)
            targets[name] = target
        before = {name: fingerprint(t) for name, t in targets.items()}
        state = os.path.join(work, "state")
        os.mkdir(state, 0o750)
        os.chown(state, uid, gid)
        for name, target in targets.items():
            run("runuser", "-u", USER, "--", "ln", "-s", target, os.path.join(state, name))
        conf = config(work, state, USER)

        # Twice: the second start is the supervisor's restart after a crash.
        runs = [start_and_stop(work, conf, os.path.join(work, f"daemon-{i}.log")) for i in (1, 2)]
        changed = {name: (before[name][:3], fingerprint(t)[:3], fingerprint(t)[3] == SECRET)
                   for name, t in targets.items() if fingerprint(t) != before[name]}
        started = all(status is not None for _, status, _ in runs)
        report("state-dir: links planted by the daemon's user lead nowhere (owner, mode, content)",
               started and not changed,
               f"changed targets: {changed or 'none'}; daemon answered on both starts: {started}; "
               f"exit codes {[c for c, _, _ in runs]}; log tail: {runs[-1][2][-300:]!r}")
        status = runs[0][1] or {}
        uids = status.get("Uid", "").split()
        report("state-dir: the daemon ran as its user, CAP_NET_RAW only, no-new-privs",
               bool(uids) and all(int(u) == uid for u in uids)
               and status.get("CapEff") == "0000000000002000"
               and status.get("CapBnd") == "0000000000000000"
               and status.get("NoNewPrivs") == "1",
               {k: status.get(k) for k in ("Uid", "CapEff", "CapPrm", "CapBnd", "NoNewPrivs")})
        # A state directory others can write into is refused, by name, before anything opens.
        os.chmod(state, 0o777)
        code, _, log = start_and_stop(work, conf, os.path.join(work, "daemon-open.log"))
        report("state-dir: a world-writable state directory stops the start (78, path named)",
               code == 78 and state in log and "writable by every user" in log,
               f"exit {code}; {log.strip()[-300:]!r}")
    finally:
        if made:
            run("userdel", USER, check=False)
        shutil.rmtree(work, ignore_errors=True)
    print(f"{sum(results)} passed, {len(results) - sum(results)} failed")
    return 0 if all(results) else 1


def check(workdir, short):
    """For tests/robust/run.py: the same checks, reported there."""
    code = subprocess.run([sys.executable, os.path.abspath(__file__)], capture_output=True,
                          text=True)
    lines = [line for line in code.stdout.splitlines() if line.startswith(("PASS", "FAIL"))]
    return [(line.split(" ", 1)[1].split(":", 1)[0] + ":" + line.split(":", 2)[1],
             line.startswith("PASS"), line.split(": ", 2)[-1]) for line in lines] or [
        ("state-dir", False, code.stdout[-500:] + code.stderr[-500:])]


if __name__ == "__main__":
    sys.exit(main())
