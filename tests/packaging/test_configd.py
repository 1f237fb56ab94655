"""configd/actions_mailpulse.conf, parsed and expanded the way configd does it.

Static checks only; test_configd_live.py runs the commands against a real daemon.
"""

import json
import os
import subprocess

import pytest

from configd_emulation import build_command, cache_ttl, load_actions
from conftest import REPO

ACTIONS = REPO / "configd" / "actions_mailpulse.conf"
RC_SCRIPT = "/usr/local/etc/rc.d/mailpulse"
PROGRAM = "/usr/local/bin/mailpulse"
# Where the plugin installs configd/apply.sh and configd/stdout_reason.sh.
HELPERS = "/usr/local/opnsense/scripts/Mailpulse"
REASON = f"{HELPERS}/stdout_reason.sh"

SERVICE_VERBS = {"start", "stop", "restart", "reload", "status"}
JSON_ACTIONS = {"state", "events", "failures", "clients", "explain", "probe"}
POLLED = {"state", "events", "failures", "clients"}  # what the dashboard and pages poll
WITH_PARAMETER = {"events", "failures", "explain", "probe"}
KNOWN_KEYS = {"command", "parameters", "type", "message", "description", "errors",
              "cache_ttl", "allowed_groups"}


@pytest.fixture(scope="module")
def actions():
    topic, sections = load_actions(ACTIONS)
    assert topic == "mailpulse"
    return sections


def test_expected_actions_and_no_overlay_clash(actions):
    assert SERVICE_VERBS | JSON_ACTIONS <= set(actions)
    # A leaf and a sub-tree of the same name clash in configd ("unsupported overlay command").
    leaves = {s for s in actions if "." not in s}
    trees = {s.split(".")[0] for s in actions if "." in s}
    assert not leaves & trees


def test_every_action_is_well_formed(actions):
    for name, action in actions.items():
        assert set(action) <= KNOWN_KEYS, f"[{name}] unknown keys {set(action) - KNOWN_KEYS}"
        assert action.get("command"), f"[{name}] has no command"
        assert action.get("type") in ("script", "script_output"), f"[{name}] type"
        assert action.get("message"), f"[{name}] has no message for configd's log"
        if "errors" in action:
            assert action["errors"] == "no"
        if "cache_ttl" in action:
            assert cache_ttl(action) is not None, f"[{name}] cache_ttl is not a number"


def test_every_action_is_limited_to_wheel(actions):
    # configd's socket is 0666 on OPNsense and actions run as root: without allowed_groups any
    # local process could stop the daemon or run probes as root.
    for name, action in actions.items():
        assert action.get("allowed_groups") == "wheel", f"[{name}] allowed_groups"


def test_service_verbs_use_the_rc_script(actions):
    for verb in SERVICE_VERBS - {"reload"}:
        assert actions[verb]["command"] == f"{RC_SCRIPT} {verb}"
    for verb in SERVICE_VERBS - {"status", "reload"}:
        assert actions[verb]["type"] == "script"
    # reload answers with what was applied, so the page can show it.
    assert actions["reload"]["command"] == f"{HELPERS}/apply.sh"
    assert actions["reload"]["type"] == "script_output"
    assert actions["reload"]["errors"] == "no"
    # rc status exits 1 when stopped; the text must still reach the service controller.
    assert actions["status"]["type"] == "script_output"
    assert actions["status"]["errors"] == "no"


def test_json_actions(actions):
    for name in JSON_ACTIONS:
        action = actions[name]
        assert action["type"] == "script_output", name
        assert action.get("errors") == "no", name
        assert "--json" in action["command"], name
        assert PROGRAM in action["command"], name
        # configd returns stdout only: the reason of a failure must be printed there.
        assert action["command"].startswith(f"{REASON} "), name
        expected = 1 if name in WITH_PARAMETER else 0
        assert action.get("parameters", "").count("%s") == expected, name
    for name in POLLED:
        ttl = cache_ttl(actions[name])
        assert ttl is not None and 1 <= ttl <= 30, f"[{name}] needs a short cache_ttl"
    for name in JSON_ACTIONS - POLLED:
        assert cache_ttl(actions[name]) is None, f"[{name}] answers one question; no cache"


def test_parameter_mismatch_is_rejected_like_configd(actions):
    with pytest.raises(TypeError):
        build_command(actions["explain"], ["192.0.2.1", "extra"])


@pytest.fixture
def argv_stub(tmp_path):
    """A fake mailpulse that prints its arguments as JSON, to see what the shell passes."""
    stub = tmp_path / "mailpulse"
    stub.write_text('#!/usr/bin/env python3\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n')
    stub.chmod(0o755)
    return stub


def run_with_stub(action, params, stub):
    command = build_command(action, params).replace(PROGRAM, str(stub))
    command = command.replace(HELPERS, str(REPO / "configd"))
    out = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=10,
                         env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    assert out.returncode == 0, (command, out.stderr)
    return json.loads(out.stdout)


@pytest.mark.parametrize(
    "name, params, expected",
    [
        ("state", [], ["status", "--json"]),
        ("clients", [], ["clients", "--json"]),
        ("events", ["20"], ["events", "--json", "--limit", "20"]),
        ("events", [], ["events", "--json", "--limit", "50"]),
        ("failures", [], ["events", "--json", "--failures", "--limit", "10"]),
        ("failures", ["5"], ["events", "--json", "--failures", "--limit", "5"]),
        ("explain", ["192.168.1.23"], ["explain", "--json", "192.168.1.23"]),
        ("probe", ["imaps://imap.gmail.com"], ["probe", "--json", "imaps://imap.gmail.com"]),
    ],
)
def test_command_lines_reach_mailpulse_as_intended(actions, argv_stub, name, params, expected):
    assert run_with_stub(actions[name], params, argv_stub) == expected


def test_hostile_parameter_stays_one_argument(actions, argv_stub, tmp_path):
    marker = tmp_path / "pwned"
    hostile = f"1.2.3.4'; touch {marker}; echo '"
    assert run_with_stub(actions["explain"], [hostile], argv_stub) == ["explain", "--json", hostile]
    hostile_limit = f"5\"; touch {marker}; \""
    argv = run_with_stub(actions["events"], [hostile_limit], argv_stub)
    assert argv[-1] == hostile_limit
    assert not marker.exists()


# --- the helpers configd runs -------------------------------------------------------------------


def run_helper(args, env=None, timeout=10):
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                          env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **(env or {})})


def test_stdout_reason_passes_stdout_and_adds_the_reason_on_failure(tmp_path):
    helper = str(REPO / "configd" / "stdout_reason.sh")
    env = {"TMPDIR": str(tmp_path)}
    ok = run_helper([helper, "sh", "-c", "echo '{\"a\":1}'; echo noise >&2"], env)
    assert ok.returncode == 0 and ok.stdout == '{"a":1}\n'
    down = run_helper([helper, "sh", "-c", "echo 'the daemon is not running' >&2; exit 69"],
                      env)
    assert down.returncode == 69
    assert down.stdout == "the daemon is not running\n"
    # A failing command that still answered (a failed probe's JSON) keeps its answer intact.
    probe = run_helper([helper, "sh", "-c", "echo '{\"ok\":false}'; echo warning >&2; exit 69"],
                       env)
    assert probe.returncode == 69 and probe.stdout == '{"ok":false}\n'
    assert not list(tmp_path.glob("mailpulse-configd.*"))


def test_daemon_down_reason_reaches_stdout_through_the_state_action(actions, tmp_path):
    # The real CLI against a socket nobody listens on: its reason must come back on stdout.
    from conftest import mailpulse_binary
    command = build_command(actions["state"], []).replace(HELPERS, str(REPO / "configd"))
    command = command.replace(PROGRAM, f"{mailpulse_binary()} ") + \
        f" --socket {tmp_path / 'none.sock'}"
    out = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=20)
    assert out.returncode == 69
    assert "not running" in out.stdout


@pytest.fixture
def fake_service(tmp_path):
    """A stand-in rc script and mailpulse CLI whose answers the test picks."""
    log = tmp_path / "calls"
    rc = tmp_path / "rc"
    rc.write_text(f"""#!/bin/sh
echo "rc $1" >> {log}
case "$1" in
status) [ -e {tmp_path}/running ] && echo "mailpulse is running as pid 42." && exit 0
        echo "mailpulse is not running."; exit 1 ;;
start) if [ -e {tmp_path}/badconfig ]; then
           echo "mailpulse.toml:3:1: unknown key" >&2; exit 1; fi
       echo "Starting mailpulse."; touch {tmp_path}/running ;;
esac
""")
    cli = tmp_path / "mailpulse"
    cli.write_text(f"""#!/bin/sh
echo "cli $*" >> {log}
cat {tmp_path}/answer
exit $(cat {tmp_path}/status)
""")
    for f in (rc, cli):
        f.chmod(0o755)

    def apply(answer="", status=0, stream="stdout"):
        text = answer if stream == "stdout" else ""
        (tmp_path / "answer").write_text(text)
        (tmp_path / "status").write_text(str(status))
        if stream == "stderr":
            cli.write_text(cli.read_text().replace(f"cat {tmp_path}/answer",
                                                   f"echo '{answer}' >&2"))
        if log.exists():
            log.unlink()
        out = run_helper([str(REPO / "configd" / "apply.sh")],
                         env={"MAILPULSE_PROGRAM": str(cli), "MAILPULSE_RC": str(rc)})
        calls = log.read_text().splitlines() if log.exists() else []
        return out, calls

    return tmp_path, apply


def test_apply_reloads_a_running_daemon_and_passes_its_sentence(fake_service):
    tmp, apply = fake_service
    (tmp / "running").touch()
    out, calls = apply("Applied: probe interval 30s -> 60s.\n", 0)
    assert calls == ["rc status", "cli reload"]
    assert out.returncode == 0
    assert out.stdout == "ok\nApplied: probe interval 30s -> 60s.\n"


def test_apply_shows_why_an_invalid_configuration_was_refused(fake_service):
    tmp, apply = fake_service
    (tmp / "running").touch()
    out, calls = apply("/usr/local/etc/mailpulse/mailpulse.toml:7:12: unknown key `x`", 78,
                       stream="stderr")
    assert calls == ["rc status", "cli reload"]  # never restarted: the old config keeps running
    assert out.returncode == 78
    assert out.stdout.splitlines() == ["failed 78",
                                       "/usr/local/etc/mailpulse/mailpulse.toml:7:12: unknown key `x`"]


def test_apply_starts_a_stopped_daemon(fake_service):
    tmp, apply = fake_service
    out, calls = apply()
    assert calls == ["rc status", "rc start"]
    assert out.returncode == 0 and out.stdout.startswith("ok\n")
    assert "started" in out.stdout


def test_apply_starts_when_the_daemon_vanished_after_the_status_check(fake_service):
    tmp, apply = fake_service
    (tmp / "running").touch()
    out, calls = apply("mailpulse: the mailpulse daemon is not running", 69)
    assert calls == ["rc status", "cli reload", "rc start"]
    assert out.returncode == 0


def test_apply_reports_a_failed_start(fake_service):
    tmp, apply = fake_service
    (tmp / "badconfig").touch()
    out, calls = apply()
    assert out.returncode == 1
    assert out.stdout.splitlines() == ["failed 1", "mailpulse.toml:3:1: unknown key"]
