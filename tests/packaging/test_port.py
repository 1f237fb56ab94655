"""packaging/freebsd: the port skeleton agrees with the source tree."""

import re
import subprocess
import sys

from conftest import PACKAGING, REPO

PORT = PACKAGING / "freebsd"


def makefile_vars():
    values = {}
    for line in (PORT / "Makefile").read_text().splitlines():
        match = re.match(r"^([A-Z_]+)(\+?=)\s*(.*)$", line)
        if match:
            values[match.group(1)] = match.group(3).strip()
    return values


def test_makefile_essentials():
    v = makefile_vars()
    assert v["PORTNAME"] == "mailpulse"
    assert "cargo" in v["USES"].split()
    assert v["USE_RC_SUBR"] == "mailpulse"
    assert v["USERS"] == "mailpulse" and v["GROUPS"] == "mailpulse"
    for key in ("CATEGORIES", "MAINTAINER", "COMMENT", "WWW", "LICENSE"):
        assert v.get(key), key
    assert (PORT / "Makefile").read_text().rstrip().endswith(".include <bsd.port.mk>")


def test_port_version_matches_cargo():
    import tomllib
    version = tomllib.loads((REPO / "Cargo.toml").read_text())["package"]["version"]
    assert makefile_vars()["DISTVERSION"] == version


def test_rc_script_has_one_source():
    rc_in = PORT / "files" / "mailpulse.in"
    assert rc_in.is_symlink()
    assert rc_in.resolve() == (REPO / "rc.d" / "mailpulse").resolve()


def test_plist_sample_and_owned_state_directory():
    plist = (PORT / "pkg-plist").read_text().splitlines()
    assert "@sample %%ETCDIR%%/mailpulse.toml.sample" in plist
    assert "@dir(mailpulse,mailpulse,750) /var/db/mailpulse" in plist
    assert (PORT / "files" / "mailpulse.toml.sample").is_file()
    assert (PORT / "pkg-descr").read_text().strip()


def test_makefile_crates_is_current():
    """Makefile.crates must list exactly Cargo.lock's crates.io packages; regenerate with
    packaging/freebsd/cargo-crates.py > packaging/freebsd/Makefile.crates."""
    fresh = subprocess.run([sys.executable, str(PORT / "cargo-crates.py"), str(REPO / "Cargo.lock")],
                           capture_output=True, text=True, check=True).stdout
    assert (PORT / "Makefile.crates").read_text() == fresh
    lock = (REPO / "Cargo.lock").read_text()
    for entry in re.findall(r"^\t*(?:CARGO_CRATES=\t)?(\S+?)(?: \\)?$", fresh, re.M):
        name, version = re.match(r"(.+?)-(\d.*)$", entry).groups()
        assert f'name = "{name}"\nversion = "{version}"' in lock, entry


def test_users_and_groups_have_ids_for_the_ports_tree():
    # USERS/GROUPS are created from the tree's UIDs/GIDs files; the port ships its lines.
    uid = (PORT / "UIDs").read_text().strip().split(":")
    gid = (PORT / "GIDs").read_text().strip().split(":")
    assert uid[0] == gid[0] == makefile_vars()["USERS"] == makefile_vars()["GROUPS"] == "mailpulse"
    assert uid[2] == uid[3] == gid[2] == "363"
    assert uid[-1] == "/usr/sbin/nologin" and uid[-2] == "/nonexistent"
    builder = (PORT / "build-pkg.py").read_text()
    assert "UID = GID = 363" in builder and "-u {UID}" in builder and "-g {GID}" in builder
