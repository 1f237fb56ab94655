"""The shipped sample configuration is accepted by `mailpulse check-config` ($MAILPULSE)."""

import subprocess
import tomllib

from conftest import PACKAGING, mailpulse_binary

SAMPLE = PACKAGING / "freebsd" / "files" / "mailpulse.toml.sample"


def test_sample_parses_as_toml_with_the_contract_sections():
    data = tomllib.loads(SAMPLE.read_text())
    assert set(data) == {"daemon", "wan", "lan", "probe", "diagnosis", "capture"}


def test_sample_passes_check_config():
    out = subprocess.run([mailpulse_binary(), "check-config", "-c", str(SAMPLE)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr


def test_check_config_rejects_an_unknown_key(tmp_path):
    """Guards the test above: the binary really validates (exit 78, file:line in message)."""
    bad = tmp_path / "bad.toml"
    bad.write_text(SAMPLE.read_text() + "\n[probe2]\nbogus = 1\n")
    out = subprocess.run([mailpulse_binary(), "check-config", "-c", str(bad)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 78, out.stdout + out.stderr
    assert str(bad) in out.stdout + out.stderr
