"""The namespaces, servers and daemon the robustness checks run against.

Topology (every address lives inside namespaces created here; nothing reaches the host):

    mpr-cli  eth0 192.168.78.10/24 (+ .20-.29 for "other clients")
       |
    mpr-rtr  lan0 192.168.78.1/24   <- the daemon captures here (LAN)
             wan0 203.0.113.2/24    <- WAN (routing only, no NAT)
       |
    mpr-srv  isp0 203.0.113.1/24, lo 198.51.100.10 (dovecot: imaps 993, imap 143)

Every namespace carries the prefix `mpr-`; teardown removes exactly those this run made.
"""

import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time

PREFIX = "mpr-"
NS_CLI, NS_RTR, NS_SRV = "mpr-cli", "mpr-rtr", "mpr-srv"
CLI4 = "192.168.78.10"
RTR_LAN4 = "192.168.78.1"
RTR_WAN4 = "203.0.113.2"
ISP4 = "203.0.113.1"
IMAP4 = "198.51.100.10"
USER, PASSWORD = "alice", "Correct-Horse-78"

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


class Missing(Exception):
    """A prerequisite is absent; the message names it."""


def run(*args, check=True, ns=None, **kw):
    cmd = list(args)
    if ns:
        cmd = ["ip", "netns", "exec", ns] + cmd
    return subprocess.run(cmd, check=check, capture_output=True, text=True, **kw)


def require(tools):
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        raise Missing("missing prerequisite: " + ", ".join(missing))


def daemon_binary():
    path = os.environ.get("MAILPULSE") or os.path.join(REPO, "target", "debug", "mailpulse")
    if not os.access(path, os.X_OK):
        raise Missing(f"missing prerequisite: the daemon binary {path} (cargo build, or set $MAILPULSE)")
    return path


def proc_status(pid):
    """VmRSS in KiB, open fd count, and the raw /proc/<pid>/status fields of interest."""
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            fields[k] = v.strip()
    rss = int(fields.get("VmRSS", "0 kB").split()[0])
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return rss, fds, fields


class Net:
    """The three namespaces and the links between them."""

    def __init__(self):
        self.made = []

    def up(self):
        for ns in (NS_CLI, NS_RTR, NS_SRV):
            if os.path.exists(f"/run/netns/{ns}"):
                # Left by a run that was killed: ours by prefix, safe to remove.
                run("ip", "netns", "del", ns, check=False)
            run("ip", "netns", "add", ns)
            self.made.append(ns)
            run("ip", "link", "set", "lo", "up", ns=ns)
        run("ip", "-n", NS_RTR, "link", "add", "lan0", "type", "veth", "peer", "name", "eth0",
            "netns", NS_CLI)
        run("ip", "-n", NS_RTR, "link", "add", "wan0", "type", "veth", "peer", "name", "isp0",
            "netns", NS_SRV)
        run("ip", "addr", "add", CLI4 + "/24", "dev", "eth0", ns=NS_CLI)
        for i in range(20, 30):
            run("ip", "addr", "add", f"192.168.78.{i}/24", "dev", "eth0", ns=NS_CLI)
        run("ip", "link", "set", "eth0", "up", ns=NS_CLI)
        run("ip", "route", "add", "default", "via", RTR_LAN4, ns=NS_CLI)
        self.lan_up()
        run("ip", "addr", "add", RTR_WAN4 + "/24", "dev", "wan0", ns=NS_RTR)
        run("ip", "link", "set", "wan0", "up", ns=NS_RTR)
        run("ip", "route", "add", "default", "via", ISP4, ns=NS_RTR)
        run("sysctl", "-qw", "net.ipv4.ip_forward=1", ns=NS_RTR)
        run("ip", "addr", "add", ISP4 + "/24", "dev", "isp0", ns=NS_SRV)
        run("ip", "link", "set", "isp0", "up", ns=NS_SRV)
        run("ip", "addr", "add", IMAP4 + "/32", "dev", "lo", ns=NS_SRV)
        run("ip", "route", "add", "192.168.78.0/24", "via", RTR_WAN4, ns=NS_SRV)
        # A flood fills the server's SYN queue: answer with cookies, as a real server would.
        run("sysctl", "-qw", "net.ipv4.tcp_syncookies=1", ns=NS_SRV)

    def lan_up(self):
        run("ip", "addr", "add", RTR_LAN4 + "/24", "dev", "lan0", ns=NS_RTR)
        run("ip", "link", "set", "lan0", "up", ns=NS_RTR)

    def recreate_lan(self):
        """Deletes the router's LAN interface and makes it again (same name)."""
        run("ip", "-n", NS_RTR, "link", "del", "lan0")
        time.sleep(1.0)
        run("ip", "-n", NS_RTR, "link", "add", "lan0", "type", "veth", "peer", "name", "eth0",
            "netns", NS_CLI)
        run("ip", "addr", "add", CLI4 + "/24", "dev", "eth0", ns=NS_CLI)
        for i in range(20, 30):
            run("ip", "addr", "add", f"192.168.78.{i}/24", "dev", "eth0", ns=NS_CLI)
        run("ip", "link", "set", "eth0", "up", ns=NS_CLI)
        run("ip", "route", "add", "default", "via", RTR_LAN4, ns=NS_CLI)
        self.lan_up()

    def down(self):
        for ns in reversed(self.made):
            run("ip", "netns", "del", ns, check=False)
        self.made = []


class Dovecot:
    """One dovecot in mpr-srv: imaps on 993, plain imap on 143, user alice."""

    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "dovecot")
        self.proc = None

    def start(self):
        d = self.dir
        os.makedirs(os.path.join(d, "run"), exist_ok=True)
        os.makedirs(os.path.join(d, "state"), exist_ok=True)
        os.chmod(d, 0o755)
        os.chmod(os.path.join(d, "run"), 0o755)
        run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=imap.mail.test", "-addext", "subjectAltName=DNS:imap.mail.test",
            "-keyout", f"{d}/server.key", "-out", f"{d}/server.crt")
        with open(f"{d}/users", "w") as f:
            f.write(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
        maildir = f"{d}/mail/{USER}/Maildir"
        for sub in ("cur", "new", "tmp"):
            os.makedirs(f"{maildir}/{sub}", exist_ok=True)
        with open(f"{maildir}/cur/1000000001.M1.robust:2,", "w") as f:
            f.write("From: a@mail.test\r\nSubject: robust\r\n\r\n" + "hello\r\n" * 50)
        run("chown", "-R", "nobody:nogroup", f"{d}/mail")
        os.chmod(f"{d}/users", 0o644)
        with open(f"{d}/dovecot.conf", "w") as f:
            f.write(f"""instance_name = mpr-robust
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
protocols = imap
listen = {IMAP4}
ssl = yes
ssl_cert = <{d}/server.crt
ssl_key = <{d}/server.key
disable_plaintext_auth = no
auth_mechanisms = plain login
login_trusted_networks = 192.168.78.0/24
mail_location = maildir:~/Maildir
first_valid_uid = 1
default_client_limit = 4000
default_process_limit = 2000
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/users
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={d}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    port = 143
  }}
  inet_listener imaps {{
    port = 993
    ssl = yes
  }}
  # Performance mode: a few login processes serve many clients (the load test opens hundreds).
  service_count = 0
  process_min_avail = 2
  client_limit = 2000
}}
service imap {{
  process_limit = 2000
}}
# Every load-test client logs in as alice from one of a few addresses.
mail_max_userip_connections = 2000
service auth {{
  client_limit = 4000
}}
service anvil {{
  client_limit = 4000
}}
""")
        log = open(os.path.join(d, "stdout"), "w")
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", NS_SRV, "dovecot", "-F", "-c", f"{d}/dovecot.conf"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
        wait_for(lambda: port_listening(NS_SRV, 993), 15, "dovecot listening on 993")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None


def port_listening(ns, port):
    out = run("ss", "-Hltn", f"sport = :{port}", ns=ns, check=False).stdout
    return bool(out.strip())


def wait_for(cond, seconds, what):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            if cond():
                return True
        except Exception:  # noqa: BLE001 - a condition that cannot be read yet is "not yet"
            pass
        time.sleep(0.2)
    raise TimeoutError(f"timed out after {seconds}s waiting for {what}")


class Daemon:
    """The real daemon in mpr-rtr, in the foreground, stderr to a file."""

    def __init__(self, workdir, state_dir=None, max_sessions=256, evidence_ring="1MB",
                 user="", extra=""):
        self.workdir = workdir
        self.socket = os.path.join(workdir, "mailpulse.sock")
        self.state_dir = state_dir or os.path.join(workdir, "state")
        self.config = os.path.join(workdir, "mailpulse.toml")
        self.log = os.path.join(workdir, "daemon.log")
        self.max_sessions = max_sessions
        self.evidence_ring = evidence_ring
        self.user = user
        self.extra = extra
        self.proc = None
        self.write_config()

    def config_text(self):
        return f"""[daemon]
socket = "{self.socket}"
state_dir = "{self.state_dir}"
user = "{self.user}"
syslog = false
log_level = "debug"
{self.extra}
[lan]
interfaces = ["lan0"]

[wan]
interfaces = ["wan0"]

[probe]
targets = []

[capture]
max_sessions = {self.max_sessions}
evidence_ring = "{self.evidence_ring}"
"""

    def write_config(self, text=None):
        with open(self.config, "w") as f:
            f.write(text if text is not None else self.config_text())

    def start(self):
        os.makedirs(self.state_dir, exist_ok=True)
        self.logf = open(self.log, "a")
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", NS_RTR, daemon_binary(), "daemon", "-c", self.config,
             "--foreground"],
            stdout=self.logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
        wait_for(lambda: self.request({"request": "status"})["response"] == "status", 20,
                 "the daemon's control socket")
        return self

    @property
    def pid(self):
        """The daemon's own pid (`ip netns exec` execs it, so it is the Popen pid)."""
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM):
        if self.alive():
            os.kill(self.proc.pid, sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def log_text(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    # -- the control socket, spoken directly (src/control/frame.rs: u64 BE length + JSON) --
    def request(self, body, timeout=10):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(self.socket)
            data = json.dumps(body).encode()
            s.sendall(struct.pack(">Q", len(data)) + data)
            return read_frame(s)

    def status(self):
        return self.request({"request": "status"})["body"]

    def cli(self, *args, timeout=30):
        """The real CLI (`mailpulse status --json` etc.) against this daemon's socket."""
        out = subprocess.run([daemon_binary(), *args, "--socket", self.socket],
                             capture_output=True, text=True, timeout=timeout)
        return out

    def cli_json(self, *args):
        out = self.cli(*args, "--json")
        if out.returncode != 0:
            raise RuntimeError(f"mailpulse {' '.join(args)} exited {out.returncode}: {out.stderr}")
        return json.loads(out.stdout)


def read_frame(s, max_len=16 << 20):
    prefix = recv_exact(s, 8)
    (length,) = struct.unpack(">Q", prefix)
    if length > max_len:
        raise ValueError(f"response length {length} over {max_len}")
    return json.loads(recv_exact(s, length))


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError(f"closed after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def session_events(daemon, client=None):
    """Session events (ok or failed) the daemon reports, via `mailpulse events --json`."""
    args = ["events"]
    if client:
        args += ["--client", client]
    events = daemon.cli_json(*args)
    return [e for e in events if e.get("kind") in ("session-ok", "session-failed")]


def workdir():
    path = tempfile.mkdtemp(prefix="mpr-robust-")
    # dovecot's auth process and the unprivileged daemon must reach their files inside.
    os.chmod(path, 0o755)
    return path
