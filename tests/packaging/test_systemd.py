"""packaging/systemd: the unit passes systemd-analyze and has what mailpulse.toml(5)'s Linux paths need."""

import re
import subprocess

from conftest import PACKAGING, require_tool

UNIT = PACKAGING / "systemd" / "mailpulse.service"
SYSUSERS = PACKAGING / "systemd" / "mailpulse.sysusers"


def directives():
    """[Service] etc. as {key: [values]} (systemd allows repeated keys)."""
    result = {}
    for line in UNIT.read_text().splitlines():
        match = re.match(r"^(\w+)=(.*)$", line)
        if match:
            result.setdefault(match.group(1), []).append(match.group(2))
    return result


def test_systemd_analyze_verify(tmp_path):
    analyze = require_tool("systemd-analyze", "systemd")
    # verify wants the executables to exist; the unit's own path is checked below.
    unit = tmp_path / "mailpulse.service"
    unit.write_text(UNIT.read_text().replace("/usr/local/bin/mailpulse", "/bin/true"))
    out = subprocess.run([analyze, "verify", "--man=no", str(unit)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0 and not out.stderr.strip(), out.stderr


def test_service_contract():
    d = directives()
    assert d["Type"] == ["simple"]
    assert d["ExecStart"] == [
        "/usr/local/bin/mailpulse daemon --foreground -c /etc/mailpulse/mailpulse.toml"]
    assert d["ExecStartPre"] == [
        "/usr/local/bin/mailpulse check-config -c /etc/mailpulse/mailpulse.toml"]
    assert d["ExecReload"][-1] == "/bin/kill -HUP $MAINPID"
    assert any("check-config" in r for r in d["ExecReload"][:-1]), "check before HUP"
    # The Linux state directory is /var/lib/mailpulse (mailpulse.toml(5), src/sys/paths.rs).
    assert d["StateDirectory"] == ["mailpulse"] and d["RuntimeDirectory"] == ["mailpulse"]
    assert d["Restart"] == ["on-failure"]


def test_unprivileged_user_keeps_capture_capabilities():
    d = directives()
    user = d["User"][0]
    assert user != "root"
    caps = set(d["AmbientCapabilities"][0].split())
    assert caps == {"CAP_NET_RAW"}, "capture needs CAP_NET_RAW and nothing more"
    assert caps <= set(d["CapabilityBoundingSet"][0].split())
    assert "AF_PACKET" in d["RestrictAddressFamilies"][0] and "AF_NETLINK" in d["RestrictAddressFamilies"][0]
    fields = SYSUSERS.read_text().splitlines()[-1].split()
    assert fields[0] == "u" and fields[1] == user
    # The socket must be inside RuntimeDirectory, and the unit says how.
    assert 'socket = "/run/mailpulse/mailpulse.sock"' in UNIT.read_text()
