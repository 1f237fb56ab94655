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


def test_service_verbs_use_the_rc_script(actions):
    for verb in SERVICE_VERBS:
        assert actions[verb]["command"] == f"{RC_SCRIPT} {verb}"
    for verb in SERVICE_VERBS - {"status"}:
        assert actions[verb]["type"] == "script"
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
