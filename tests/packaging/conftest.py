"""Shared helpers for the packaging tests (rc.d, configd, the .pkg builder, the plugins)."""

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGING = REPO / "packaging"
OPNSENSE = PACKAGING / "opnsense"
OPNSENSE_SRC = OPNSENSE / "src"
PFSENSE = PACKAGING / "pfsense"


def require_env(var: str, what: str) -> str:
    """Returns $var, or fails the test naming the variable (never a silent skip)."""
    value = os.environ.get(var)
    if not value:
        pytest.fail(f"${var} is not set: it must name {what}", pytrace=False)
    return value


def require_tool(tool: str, package: str) -> str:
    """Returns the path of `tool`, or fails naming the Debian package that provides it."""
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} not found: install the Debian package '{package}'", pytrace=False)
    return path


def mailpulse_binary() -> str:
    """The mailpulse binary under test, from $MAILPULSE."""
    path = require_env("MAILPULSE", "the mailpulse binary to run (e.g. target/debug/mailpulse)")
    if not os.access(path, os.X_OK):
        pytest.fail(f"$MAILPULSE={path} is not an executable file", pytrace=False)
    return path
