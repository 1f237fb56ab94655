"""packaging/freebsd/build-pkg.py: the .pkg it writes follows pkg(8)'s format rules.

Each rule is from freebsd-packaging.md §3 (freebsd/pkg libpkg sources, checked there by
installing hand-built packages with pkg 2.0.6). The package is built from
$MAILPULSE_FREEBSD_BIN when set (CI's cross-compiled binary), otherwise from a stand-in ELF
header, since the payload's content does not change the format.
"""

import gzip
import hashlib
import io
import json
import lzma
import os
import re
import struct
import subprocess
import sys
import tarfile
import tomllib

import pytest

from conftest import PACKAGING, REPO, require_tool

BUILDER = PACKAGING / "freebsd" / "build-pkg.py"
PORT = PACKAGING / "freebsd"
REQUIRED = ("origin", "name", "comment", "version", "desc", "maintainer", "www", "prefix")
COMPACT_OMITS = {"files", "directories", "scripts", "lua_scripts", "config"}
SUM = re.compile(r"^1\$[0-9a-f]{64}$")


def standin_elf(path):
    """A 64-byte ELF header: class 64, little endian, OSABI 9 (FreeBSD), x86-64 executable."""
    ident = b"\x7fELF" + bytes([2, 1, 1, 9]) + bytes(8)
    header = ident + struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0x400000, 0, 0, 0, 64, 56, 0,
                                 64, 0, 0)
    path.write_bytes(header)
    return path


@pytest.fixture(scope="module")
def binary(tmp_path_factory):
    given = os.environ.get("MAILPULSE_FREEBSD_BIN")
    if given:
        return given
    return str(standin_elf(tmp_path_factory.mktemp("bin") / "mailpulse"))


def build(binary, out, compression="xz"):
    result = subprocess.run([sys.executable, str(BUILDER), binary, "--out", str(out),
                             "--compression", compression],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return out / result.stdout.strip().rsplit("/", 1)[-1]


def decompress(blob):
    if blob.startswith(b"\xfd7zXZ\x00"):
        return lzma.decompress(blob)
    if blob.startswith(b"\x28\xb5\x2f\xfd"):
        zstd = require_tool("zstd", "zstd")
        return subprocess.run([zstd, "-dc"], input=blob, capture_output=True, check=True).stdout
    return blob


class Package:
    """The archive opened for inspection: members in order, raw header names, contents."""

    def __init__(self, path):
        self.path = path
        self.blob = path.read_bytes()
        self.raw = decompress(self.blob)
        self.tar = tarfile.open(fileobj=io.BytesIO(self.raw), mode="r:")
        self.members = self.tar.getmembers()
        # tarfile strips a directory's trailing "/" on reading; pkg writes it, so read the
        # ustar name field itself (our names are short enough not to need pax records).
        self.raw_names = [self.raw[m.offset:m.offset + 100].split(b"\0", 1)[0].decode()
                          for m in self.members]
        self.manifest = json.loads(self.read("+MANIFEST"))
        self.compact = json.loads(self.read("+COMPACT_MANIFEST"))

    def member(self, name):
        return next(m for m in self.members if m.name == name)

    def read(self, name):
        return self.tar.extractfile(self.member(name)).read()


@pytest.fixture(scope="module")
def pkg(binary, tmp_path_factory):
    return Package(build(binary, tmp_path_factory.mktemp("pkg")))


def cargo_version():
    return tomllib.loads((REPO / "Cargo.toml").read_text())["package"]["version"]


def test_name_and_default_compression(pkg):
    assert pkg.path.name == f"mailpulse-{cargo_version()}.pkg"
    assert pkg.blob.startswith(b"\xfd7zXZ\x00"), "default must be xz (pkg's TXZ)"


@pytest.mark.parametrize("compression, magic", [("zstd", b"\x28\xb5\x2f\xfd"), ("none", None)])
def test_other_compressions_hold_the_same_archive(binary, tmp_path, pkg, compression, magic):
    if compression == "zstd":
        require_tool("zstd", "zstd")
    other = Package(build(binary, tmp_path, compression))
    if magic:
        assert other.blob.startswith(magic)
    assert [m.name for m in other.members] == [m.name for m in pkg.members]
    assert other.manifest == pkg.manifest


def test_metadata_first_then_files_then_directories(pkg):
    names = pkg.raw_names
    assert names[:2] == ["+COMPACT_MANIFEST", "+MANIFEST"]
    payload = pkg.members[2:]
    kinds = ["dir" if m.isdir() else "file" for m in payload]
    assert kinds == sorted(kinds, key=lambda k: k == "dir"), "directories must come last"
    for member, raw in zip(payload, names[2:]):
        assert raw.startswith("/"), f"{raw}: payload paths must be absolute"
        assert not raw.startswith("./")
        assert raw.endswith("/") == member.isdir(), raw
        assert not raw.startswith("+")


def test_metadata_entries(pkg):
    for name in ("+COMPACT_MANIFEST", "+MANIFEST"):
        m = pkg.member(name)
        assert (m.mode, m.uname, m.gname) == (0o644, "root", "wheel")


def test_archive_is_pax(pkg):
    raw_magic = pkg.raw[257:263]
    assert raw_magic == b"ustar\x00", "pax (restricted) archives carry the POSIX ustar magic"


def test_manifests_required_keys_and_abi(pkg):
    m = pkg.manifest
    for key in REQUIRED:
        assert isinstance(m.get(key), str) and m[key], f"missing required key {key}"
    assert m["name"] == "mailpulse"
    assert m["version"] == cargo_version()
    assert m["prefix"] == "/usr/local"
    assert m["abi"] == "FreeBSD:14:amd64"
    assert m["arch"] == "freebsd:14:x86:64"
    assert m["desc"] == (PORT / "pkg-descr").read_text().strip()
    assert m["users"] == ["mailpulse"] and m["groups"] == ["mailpulse"]


def test_compact_manifest_is_manifest_without_the_big_keys(pkg):
    expected = {k: v for k, v in pkg.manifest.items() if k not in COMPACT_OMITS}
    assert pkg.compact == expected
    assert not COMPACT_OMITS & set(pkg.compact)


def test_files_sums_and_flatsize(pkg):
    files = pkg.manifest["files"]
    in_archive = {m.name if m.name.startswith("/") else "/" + m.name: m
                  for m in pkg.members[2:] if m.isfile()}
    assert set(files) == set(in_archive), "every archive file is in files, and vice versa"
    total = 0
    for path, checksum in files.items():
        assert SUM.match(checksum), f"{path}: {checksum} is not 1$<sha256 hex>"
        data = pkg.tar.extractfile(in_archive[path]).read()
        assert checksum == "1$" + hashlib.sha256(data).hexdigest(), path
        total += len(data)
    assert pkg.manifest["flatsize"] == total


def test_directories(pkg):
    dirs = {"/" + m.name.lstrip("/") for m in pkg.members if m.isdir()}
    assert set(pkg.manifest["directories"]) == dirs
    assert all(v == "y" for v in pkg.manifest["directories"].values())


def test_ownership_and_modes(pkg):
    expected = {
        "/usr/local/bin/mailpulse": (0o755, "root", "wheel"),
        "/usr/local/etc/rc.d/mailpulse": (0o755, "root", "wheel"),
        "/usr/local/etc/mailpulse/mailpulse.toml.sample": (0o644, "root", "wheel"),
        "/usr/local/share/man/man8/mailpulse.8.gz": (0o644, "root", "wheel"),
        "/usr/local/share/man/man5/mailpulse.toml.5.gz": (0o644, "root", "wheel"),
        "/usr/local/etc/mailpulse": (0o755, "root", "wheel"),
        "/var/db/mailpulse": (0o750, "mailpulse", "mailpulse"),
    }
    seen = {"/" + m.name.lstrip("/"): (m.mode, m.uname, m.gname) for m in pkg.members[2:]}
    assert seen == expected


def plist_paths():
    """pkg-plist expanded as the ports framework would (ETCDIR, PREFIX, @sample, @dir)."""
    paths = {}
    for line in (PORT / "pkg-plist").read_text().splitlines():
        line = line.strip().replace("%%ETCDIR%%", "etc/mailpulse")
        if not line:
            continue
        owner = ("root", "wheel", None)
        if line.startswith("@sample "):
            line = line.split()[1]
        elif line.startswith("@dir"):
            match = re.match(r"@dir(?:\((\w*),(\w*),(\d*)\))? (.+)", line)
            assert match, line
            user, group, mode, line = match.groups()
            owner = (user or "root", group or "wheel", int(mode, 8) if mode else None)
        path = line if line.startswith("/") else "/usr/local/" + line
        paths[path] = owner
    # USE_RC_SUBR adds the rc script to the plist.
    paths["/usr/local/etc/rc.d/mailpulse"] = ("root", "wheel", None)
    return paths


def test_every_plist_entry_is_packaged(pkg):
    seen = {"/" + m.name.lstrip("/"): m for m in pkg.members[2:]}
    for path, (user, group, mode) in plist_paths().items():
        assert path in seen, f"pkg-plist lists {path}, the package lacks it"
        member = seen[path]
        assert (member.uname, member.gname) == (user, group), path
        if mode is not None:
            assert member.mode == mode, path
    assert set(seen) == set(plist_paths()), "the package and the port install the same paths"


def test_payload_contents(pkg, binary):
    with open(binary, "rb") as f:
        assert pkg.read("/usr/local/bin/mailpulse") == f.read()
    rc = pkg.read("/usr/local/etc/rc.d/mailpulse").decode()
    assert rc == (REPO / "rc.d" / "mailpulse").read_text().replace("%%PREFIX%%", "/usr/local")
    assert "%%" not in rc
    for section, page in (("man8", "mailpulse.8"), ("man5", "mailpulse.toml.5")):
        packed = pkg.read(f"/usr/local/share/man/{section}/{page}.gz")
        assert gzip.decompress(packed) == (PACKAGING / "man" / page).read_bytes()
    sample = pkg.read("/usr/local/etc/mailpulse/mailpulse.toml.sample")
    assert sample == (PORT / "files" / "mailpulse.toml.sample").read_bytes()


def test_scripts(pkg):
    scripts = pkg.manifest["scripts"]
    assert {"pre-install", "post-install", "pre-deinstall"} <= set(scripts)
    for name, body in scripts.items():
        subprocess.run(["sh", "-n"], input=body, text=True, check=True)
    pre = scripts["pre-install"]
    # The ids of packaging/freebsd/UIDs and GIDs, as the port's USERS/GROUPS create them.
    assert re.search(r"\$\{PW\} groupadd mailpulse -g 363\b", pre)
    assert re.search(r"\$\{PW\} useradd mailpulse -u 363 -g mailpulse\b", pre)
    assert "pw -R ${PKG_ROOTDIR}" in pre
    # The user must exist before extraction so the state directory gets its owner.
    assert "pre-install" in scripts


def test_sample_scripts_behave_like_at_sample(pkg, tmp_path):
    scripts = pkg.manifest["scripts"]
    etc = tmp_path / "usr/local/etc/mailpulse"
    etc.mkdir(parents=True)
    sample = etc / "mailpulse.toml.sample"
    sample.write_bytes(pkg.read("/usr/local/etc/mailpulse/mailpulse.toml.sample"))
    config = etc / "mailpulse.toml"
    env = {"PKG_ROOTDIR": str(tmp_path), "PATH": "/usr/bin:/bin"}

    def run(name):
        subprocess.run(["sh", "-c", scripts[name], "mailpulse-x"], env=env, check=True)

    run("post-install")
    assert config.read_bytes() == sample.read_bytes(), "first install copies the sample"
    config.write_text("[probe]\ninterval = \"60s\"\n")
    run("post-install")
    assert "60s" in config.read_text(), "an existing configuration is kept"
    run("pre-deinstall")
    assert config.exists(), "an edited configuration survives removal"
    config.write_bytes(sample.read_bytes())
    run("pre-deinstall")
    assert not config.exists(), "an unchanged configuration is removed with the package"


def test_non_elf_binary_is_refused(tmp_path):
    fake = tmp_path / "mailpulse"
    fake.write_text("#!/bin/sh\n")
    out = subprocess.run([sys.executable, str(BUILDER), str(fake), "--out", str(tmp_path)],
                         capture_output=True, text=True)
    assert out.returncode != 0 and "not an ELF" in out.stderr
