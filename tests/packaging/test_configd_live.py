"""Runs every configd action that calls mailpulse against a live daemon; checks the JSON.

Needs $MAILPULSE (the binary) and $MAILPULSE_SOCKET (a running daemon's control socket);
without them every test here fails, naming the variable. Optional: $MAILPULSE_PROBE_URL
(default imaps://127.0.0.1:1, which fails fast but must still answer in JSON).
Command lines are built exactly as configd builds them (configd_emulation.py), then the
installed paths are swapped for the binary under test and --socket is added.
"""

import json
import os
import re
import shlex
import subprocess

import pytest

from configd_emulation import build_command, load_actions
from conftest import REPO, mailpulse_binary, require_env

ACTIONS = REPO / "configd" / "actions_mailpulse.conf"
PROGRAM = "/usr/local/bin/mailpulse"
SOCKET_SUBCOMMANDS = ("status", "events", "clients", "explain")
EVENT_KEYS = {"id", "time", "kind", "severity", "verdict", "credentials", "client",
              "server_name", "server", "server_port", "protocol", "message", "advice",
              "session", "evidence"}
FAILURE_KINDS = {"session-failed", "wan-down", "wan-address-changed", "probe-failed",
                 "probe-slow", "probe-cert-invalid", "dns-failure", "dns-slow", "gateway-loss",
                 "capture-drops"}


@pytest.fixture(scope="module")
def live():
    binary = mailpulse_binary()
    socket = require_env("MAILPULSE_SOCKET", "the control socket of a running mailpulse daemon")
    _, actions = load_actions(ACTIONS)
    return binary, socket, actions


def run_action(live, name, params=()):
    binary, socket, actions = live
    command = build_command(actions[name], list(params))
    pattern = re.escape(PROGRAM) + r" (%s)\b" % "|".join(SOCKET_SUBCOMMANDS)
    command = re.sub(pattern, lambda m: f"{shlex.quote(binary)} {m.group(1)} --socket "
                     f"{shlex.quote(socket)}", command)
    command = command.replace(PROGRAM, shlex.quote(binary))
    # The plugin installs configd/'s helper scripts there.
    command = command.replace("/usr/local/opnsense/scripts/Mailpulse", str(REPO / "configd"))
    # errors:no: configd keeps stdout whatever the exit status, so do the same.
    out = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=60)
    try:
        return json.loads(out.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"`configctl mailpulse {name}` ran `{command}` (exit {out.returncode}) and "
                    f"printed no JSON: stdout={out.stdout[:300]!r} stderr={out.stderr[:300]!r}")


def test_every_mailpulse_action_is_covered(live):
    _, _, actions = live
    calling = {n for n, a in actions.items() if PROGRAM in a["command"] and "--json" in a["command"]}
    assert calling == {"state", "events", "failures", "clients", "explain", "probe"}


def test_state(live):
    state = run_action(live, "state")
    assert isinstance(state, dict)
    # The status report nests the engine's picture under "engine" (control::StatusReport).
    engine = state.get("engine", state)
    assert "wan" in engine and "probes" in engine, sorted(state)
    assert isinstance(engine["probes"], list)


def check_events(events, limit):
    assert isinstance(events, list)
    assert len(events) <= limit
    for event in events:
        assert EVENT_KEYS <= set(event), EVENT_KEYS - set(event)
    ids = [e["id"] for e in events]
    assert ids == sorted(ids), "events must come oldest first"


def test_events_with_and_without_limit(live):
    check_events(run_action(live, "events", ["3"]), 3)
    check_events(run_action(live, "events"), 50)


def test_failures(live):
    events = run_action(live, "failures", ["10"])
    check_events(events, 10)
    assert all(e["kind"] in FAILURE_KINDS for e in events), [e["kind"] for e in events]


def test_clients(live):
    clients = run_action(live, "clients")
    assert isinstance(clients, list)
    for client in clients:
        assert "client" in client and "last_verdict" in client


def test_explain(live):
    clients = run_action(live, "clients")
    ip = clients[0]["client"] if clients else "192.0.2.10"
    answer = run_action(live, "explain", [ip])
    assert isinstance(answer, (dict, list))


def test_probe(live):
    url = os.environ.get("MAILPULSE_PROBE_URL", "imaps://127.0.0.1:1")
    answer = run_action(live, "probe", [url])
    assert isinstance(answer, (dict, list))
