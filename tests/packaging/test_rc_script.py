"""rc.d/mailpulse: syntax, the rc.subr layout rules, and behaviour under an rc.subr stand-in.

The layout rules come from the Porter's Handbook ("Starting and Stopping Services") and
OPNsense's rc.freebsd, which finds services with grep "^name[[:blank:]]*=" (see
freebsd-packaging.md §1). The behaviour tests run the real script with tests/packaging/harness/
rc.subr, which reproduces run_rc_command's handling of _flags, _user, precmd and _cmd.
"""

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import REPO, require_tool

RC = REPO / "rc.d" / "mailpulse"
HARNESS = Path(__file__).resolve().parent / "harness"


def rc_lines():
    return RC.read_text().splitlines()


def test_sh_syntax():
    sh = require_tool("sh", "dash")
    subprocess.run([sh, "-n", str(RC)], check=True)


def test_file_name_has_no_sh_suffix_and_is_executable():
    assert not RC.name.endswith(".sh")
    assert os.access(RC, os.X_OK)


def test_header_block():
    text = RC.read_text()
    assert text.startswith("#!/bin/sh\n")
    assert re.search(r"^# PROVIDE: mailpulse$", text, re.M)
    require = re.search(r"^# REQUIRE: (.+)$", text, re.M)
    assert require and "LOGIN" in require.group(1).split()
    assert re.search(r"^# KEYWORD: .*\bshutdown\b", text, re.M)


def test_body_order_and_column_zero_assignments():
    lines = rc_lines()

    def index(pattern):
        hits = [i for i, line in enumerate(lines) if re.fullmatch(pattern, line)]
        assert len(hits) == 1, f"expected exactly one line matching {pattern!r}, got {hits}"
        return hits[0]

    subr = index(r"\. /etc/rc\.subr")
    name = index(r"name=mailpulse")
    rcvar = index(r"rcvar=mailpulse_enable")
    load = index(r"load_rc_config \$name")
    enable_default = index(r': \$\{mailpulse_enable:="NO"\}')
    run = index(r'run_rc_command "\$1"')
    assert subr < name < rcvar < load < enable_default < run
    assert run == len(lines) - 1, "run_rc_command must be the last line"
    # Defaults for the optional knobs use the "=" form and sit after load_rc_config.
    for knob in ("config", "flags", "user"):
        i = index(r": \$\{mailpulse_%s=.*\}" % knob)
        assert load < i < run


def test_prefix_placeholder_is_used_not_usr_local():
    text = RC.read_text()
    assert "%%PREFIX%%/bin/mailpulse" in text
    assert "/usr/local" not in text


# --- behaviour under the rc.subr stand-in -------------------------------------------------


@pytest.fixture
def rc(tmp_path):
    """Prepares a runnable copy of the script; returns a function that runs one verb."""
    prefix = tmp_path / "prefix"
    (prefix / "bin").mkdir(parents=True)
    program = prefix / "bin" / "mailpulse"
    program.write_bytes((HARNESS / "stub-mailpulse").read_bytes())
    program.chmod(0o755)
    script = tmp_path / "mailpulse"
    body = RC.read_text().replace("%%PREFIX%%", str(prefix))
    body = body.replace(". /etc/rc.subr", f". {HARNESS / 'rc.subr'}")
    script.write_text(body)
    config = tmp_path / "mailpulse.toml"
    config.write_text('[daemon]\nsocket = "/var/run/mailpulse.sock"\n')
    rcconf = tmp_path / "rc.conf"
    rcconf.write_text(
        'mailpulse_enable="YES"\n'
        f'mailpulse_config="{config}"\n'
        f'mailpulse_rundir="{tmp_path}/run"\n'
        f'mailpulse_statedir="{tmp_path}/db"\n'
    )
    (tmp_path / "run").mkdir()
    log = tmp_path / "harness.log"
    hup_log = tmp_path / "hup.log"

    def run(verb, extra_conf=""):
        if extra_conf:
            rcconf.write_text(rcconf.read_text() + extra_conf)
        env = {
            "PATH": f"{HARNESS}:/usr/bin:/bin",
            "RC_HARNESS_CONF": str(rcconf),
            "RC_HARNESS_LOG": str(log),
            "STUB_HUP_LOG": str(hup_log),
        }
        return subprocess.run(["sh", str(script), verb], env=env, capture_output=True,
                              text=True, timeout=20)

    run.tmp = tmp_path
    run.prefix = prefix
    run.program = program
    run.config = config
    run.log = log
    run.hup_log = hup_log
    run.read_log = lambda: log.read_text().splitlines() if log.exists() else []
    return run


def dumpvars(rc, extra_conf=""):
    out = rc("dumpvars", extra_conf)
    assert out.returncode == 0, out.stderr
    return dict(line.split("=", 1) for line in out.stdout.splitlines())


def test_daemon_supervision_pidfiles(rc):
    v = dumpvars(rc)
    assert v["name"] == "mailpulse" and v["rcvar"] == "mailpulse_enable"
    assert v["command"] == "/usr/sbin/daemon"
    # procname stays unset: status/stop match the supervisor ("daemon:" title) in -P's file.
    assert v["procname"] == ""
    args = v["command_args"].split()
    assert args[args.index("-P") + 1] == v["pidfile"]
    child = args[args.index("-p") + 1]
    assert child != v["pidfile"] and child.startswith(str(rc.tmp / "run"))
    assert "-r" in args or "-R" in args
    assert "reload" in v["extra_commands"].split()


def test_start_runs_daemon_with_config_and_flags_after_the_program(rc):
    out = rc("start", 'mailpulse_flags="--extra-test-flag"\n')
    assert out.returncode == 0, out.stderr
    log = rc.read_log()
    started = [line for line in log if line.startswith("/usr/sbin/daemon")]
    assert len(started) == 1, log
    words = started[0].split()
    program_at = words.index(str(rc.program))
    assert words[program_at + 1] == "daemon"
    # daemon(8) -f: the supervisor lets go of the caller's terminal (a start over ssh returns).
    assert "-f" in words[:program_at]
    # Without --foreground mailpulse copies nothing to stderr, so -S logs nothing twice;
    # what does reach stderr (a crash) is logged at err, above the viewers' default filter.
    assert "--foreground" not in words
    assert words[words.index("-s") + 1] == "err" and "-S" in words[:program_at]
    assert words[words.index("-c") + 1] == str(rc.config)
    # The flags reach mailpulse, not daemon(8).
    assert words.index("--extra-test-flag") > program_at
    # Not wrapped in su: mailpulse needs root to open /dev/bpf and drops privileges itself.
    assert not any(line.startswith("su ") for line in log)


def test_start_creates_run_and_state_directories_with_owner(rc):
    assert rc("start").returncode == 0
    installs = [line.split() for line in rc.read_log() if line.startswith("install ")]
    state = [w for w in installs if w[-1] == str(rc.tmp / "db")]
    run = [w for w in installs if w[-1] == str(rc.tmp / "run")]
    assert state and run, installs
    s = state[0]
    assert s[s.index("-o") + 1] == "mailpulse" and s[s.index("-g") + 1] == "mailpulse"
    assert s[s.index("-m") + 1] == "0750" and "-d" in s
    r = run[0]
    assert r[r.index("-o") + 1] == "root"


def test_empty_user_keeps_state_directory_root_owned(rc):
    assert rc("start", 'mailpulse_user=""\n').returncode == 0
    installs = [line.split() for line in rc.read_log() if line.startswith("install ")]
    state = [w for w in installs if w[-1] == str(rc.tmp / "db")][0]
    assert state[state.index("-o") + 1] == "root" and state[state.index("-g") + 1] == "wheel"


def test_bad_config_refuses_to_start_and_shows_the_message(rc):
    rc.config.write_text("[daemon]\nbogus = 1\n")
    out = rc("start")
    assert out.returncode != 0
    assert f"{rc.config}:2:1: unknown key" in out.stderr
    assert "not valid" in out.stderr
    assert not [line for line in rc.read_log() if line.startswith("/usr/sbin/daemon")]


def test_restart_with_bad_config_keeps_the_service_running(rc):
    rc.config.write_text("[daemon]\nbogus = 1\n")
    out = rc("restart")
    assert out.returncode != 0
    assert "unknown key" in out.stderr
    assert "stop" not in rc.read_log(), "a bad configuration must not stop the running daemon"


def test_restart_with_good_config_stops_then_starts(rc):
    out = rc("restart")
    assert out.returncode == 0, out.stderr
    log = rc.read_log()
    assert log[0] == "stop" and any(line.startswith("/usr/sbin/daemon") for line in log)


def test_missing_config_refuses_to_start(rc):
    rc.config.unlink()
    out = rc("start")
    assert out.returncode != 0
    assert str(rc.config) in out.stderr


def test_disabled_service_does_not_start(rc):
    out = rc("start", 'mailpulse_enable="NO"\n')
    assert "Cannot 'start'" in out.stdout
    assert not rc.read_log()


def start_child(rc):
    """Runs the stub daemon the way daemon(8) would and writes its pid to the -p file."""
    # SIGHUP back to its default: a shell cannot trap a signal ignored when it started, and a
    # test run under nohup(1) would hand that on.
    proc = subprocess.Popen([str(rc.program), "daemon", "--foreground"],
                            env={"STUB_HUP_LOG": str(rc.hup_log), "PATH": "/usr/bin:/bin"},
                            preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL))
    (rc.tmp / "run" / "mailpulse.child.pid").write_text(f"{proc.pid}\n")
    # The stub says when its trap is in place (a machine under load may take a while).
    ready = rc.hup_log.with_name(rc.hup_log.name + ".ready")
    deadline = time.time() + 10
    while not ready.exists():
        assert time.time() < deadline, "the stub daemon did not start"
        time.sleep(0.02)
    return proc


def wait_for(path, timeout=5.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists() and path.read_text().strip():
            return True
        time.sleep(0.05)
    return False


def test_reload_sends_hup_to_mailpulse_not_the_supervisor(rc):
    child = start_child(rc)
    try:
        out = rc("reload")
        assert out.returncode == 0, out.stderr
        assert wait_for(rc.hup_log), "the child pid did not receive SIGHUP"
        assert child.poll() is None, "SIGHUP must not kill mailpulse"
    finally:
        child.send_signal(signal.SIGTERM)
        child.wait(timeout=5)


def test_reload_with_bad_config_does_not_signal(rc):
    child = start_child(rc)
    try:
        rc.config.write_text("[daemon]\nbogus = 1\n")
        out = rc("reload")
        assert out.returncode != 0
        assert "unknown key" in out.stderr
        time.sleep(0.3)
        assert not rc.hup_log.exists()
    finally:
        child.send_signal(signal.SIGTERM)
        child.wait(timeout=5)


def test_reload_when_not_running_says_so(rc):
    out = rc("reload")
    assert out.returncode != 0
    assert "not running" in out.stderr
