"""packaging/man: mandoc lint, and the pages document every subcommand, exit code and key."""

import re
import subprocess

from conftest import PACKAGING, require_tool

MAN = PACKAGING / "man"
SAMPLE = PACKAGING / "freebsd" / "files" / "mailpulse.toml.sample"
SUBCOMMANDS = ("daemon", "check-config", "status", "events", "clients", "explain", "probe",
               "replay", "metrics", "reload")
EXIT_CODES = ("0", "64", "66", "69", "70", "77", "78")  # sysexits(3), as mailpulse(8) fixes them


def test_mandoc_lint_clean():
    mandoc = require_tool("mandoc", "mandoc")
    for page in ("mailpulse.8", "mailpulse.toml.5"):
        out = subprocess.run([mandoc, "-T", "lint", "-W", "warning", str(MAN / page)],
                             capture_output=True, text=True)
        assert out.returncode == 0 and not out.stdout.strip() and not out.stderr.strip(), \
            out.stdout + out.stderr


def section(text, name):
    match = re.search(r"^\.Sh %s\n(.*?)(?=^\.Sh |\Z)" % re.escape(name), text, re.M | re.S)
    assert match, f"no .Sh {name}"
    return match.group(1)


def test_every_subcommand_in_synopsis_and_commands():
    text = (MAN / "mailpulse.8").read_text()
    synopsis, commands = section(text, "SYNOPSIS"), section(text, "COMMANDS")
    for sub in SUBCOMMANDS:
        assert re.search(r"^\.Cm %s$" % sub, synopsis, re.M), f"{sub} missing from SYNOPSIS"
        assert re.search(r"^\.It Cm %s\b" % sub, commands, re.M), f"{sub} missing from COMMANDS"
    for flag in ("-json", "-failures", "-since", "-limit", "-client", "-socket", "-foreground",
                 "-ca-file", "-timeline"):
        assert f"Fl {flag}" in synopsis, flag


def test_every_exit_code():
    codes = re.findall(r"^\.It (\d+)$", section((MAN / "mailpulse.8").read_text(), "EXIT STATUS"),
                       re.M)
    assert tuple(codes) == EXIT_CODES


def sample_keys():
    """(section, key, default) from the sample config's commented-out defaults."""
    keys, current = [], None
    for line in SAMPLE.read_text().splitlines():
        if m := re.match(r"^\[(\w+)\]$", line):
            current = m.group(1)
        elif m := re.match(r"^# (\w+) = (\S.*?)(?:\s+#.*)?$", line):
            keys.append((current, m.group(1), m.group(2)))
    return keys


def test_every_config_key_with_its_default():
    text = (MAN / "mailpulse.toml.5").read_text()
    keys = sample_keys()
    assert len(keys) >= 16
    for sect, key, default in keys:
        block = re.search(r"^\.Ss Bq %s\n(.*?)(?=^\.Ss |^\.Sh |\Z)" % sect, text, re.M | re.S)
        assert block, f"no subsection [{sect}]"
        item = re.search(r"^\.It Cm %s No = .*?(?=^\.It |^\.El)" % key, block.group(1),
                         re.M | re.S)
        assert item, f"[{sect}] {key} is not documented"
        body = item.group(0)
        assert "Default:" in body, f"[{sect}] {key} has no default"
        first = default.strip("[] ").split(",")[0].strip().strip('"')
        if first:
            assert first in body, f"[{sect}] {key}: default {first!r} not in the page"
