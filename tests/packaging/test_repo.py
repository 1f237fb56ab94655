"""packaging/build-repos.sh: the daemon and plugin packages for FreeBSD 14 and 15 and one pkg(8)
repository per ABI, checked the way pkg reads them (freebsd/pkg libpkg/pkg_repo_create.c,
pkg_repo_meta.c, pkg_manifest.c; freebsd-packaging.md §3)."""

import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile

import pytest

from conftest import PACKAGING, REPO
from test_pkg import Package, decompress, standin_elf

ABIS = {"FreeBSD:14:amd64": "freebsd:14:x86:64", "FreeBSD:15:amd64": "freebsd:15:x86:64"}
BIG_KEYS = {"files", "directories", "scripts", "lua_scripts", "config"}


@pytest.fixture(scope="module")
def repos(tmp_path_factory):
    binary = os.environ.get("MAILPULSE_FREEBSD_BIN") or \
        str(standin_elf(tmp_path_factory.mktemp("bin") / "mailpulse"))
    out = tmp_path_factory.mktemp("repos")
    result = subprocess.run([str(PACKAGING / "build-repos.sh"), binary, str(out)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def catalogue(repo, archive, member):
    with tarfile.open(fileobj=io.BytesIO(decompress((repo / archive).read_bytes())),
                      mode="r:") as tar:
        names = tar.getnames()
        assert names == [member], names
        entry = tar.getmember(member)
        assert (entry.uname, entry.gname, entry.mode) == ("root", "wheel", 0o644)
        return tar.extractfile(entry).read().decode()


def meta(repo):
    text = (repo / "meta.conf").read_text()
    assert text == (repo / "meta").read_text()
    return dict(re.findall(r'^(\w+) = "?([^";]*)"?;$', text, re.M))


@pytest.mark.parametrize("abi", ABIS)
def test_two_packages_per_abi_with_the_abi_and_arch_strings(repos, abi):
    repo = repos / abi
    files = sorted(p.name for p in (repo / "All").iterdir())
    version = re.search(r'^version = "([^"]+)"', (REPO / "Cargo.toml").read_text(), re.M).group(1)
    assert files == [f"mailpulse-{version}.pkg", "os-mailpulse-0.1.pkg"]
    for name in files:
        pkg = Package(repo / "All" / name)
        for manifest in (pkg.manifest, pkg.compact):
            assert manifest["abi"] == abi and manifest["arch"] == ABIS[abi], name
    plugin = Package(repo / "All" / "os-mailpulse-0.1.pkg").manifest
    assert plugin["deps"] == {"mailpulse": {"origin": "net-mgmt/mailpulse", "version": version}}
    # pkg 2.0 fails installing a manifest whose `conflicts` names a package that is not
    # installed; release and -devel conflict through their identical files instead.
    assert "conflicts" not in plugin


@pytest.mark.parametrize("abi", ABIS)
def test_catalogue_entries_point_at_the_files(repos, abi):
    repo = repos / abi
    m = meta(repo)
    assert m["version"] == "2" and m["packing_format"] == "txz"
    site = catalogue(repo, m["manifests_archive"] + ".pkg", m["manifests"])
    entries = [json.loads(line) for line in site.splitlines()]
    assert len(entries) == 2
    data = json.loads(catalogue(repo, "data.pkg", m["data"]))
    assert data["groups"] == [] and data["expired_packages"] == []
    assert data["packages"] == entries
    for entry in entries:
        blob = (repo / entry["repopath"]).read_bytes()
        assert entry["path"] == entry["repopath"] and entry["repopath"].startswith("All/")
        assert entry["sum"] == hashlib.sha256(blob).hexdigest()
        assert entry["pkgsize"] == len(blob)
        assert entry["abi"] == abi
        assert not BIG_KEYS & set(entry), "the catalogue carries compact manifests"
        compact = Package(repo / entry["repopath"]).compact
        assert {k: v for k, v in entry.items() if k not in ("sum", "pkgsize", "repopath", "path")} \
            == compact


def test_plugin_package_installs_the_plugin_tree(repos):
    pkg = Package(repos / "FreeBSD:15:amd64" / "All" / "os-mailpulse-0.1.pkg")
    src = PACKAGING / "opnsense" / "src"
    expected = {f"/usr/local/{p.relative_to(src)}" for p in src.rglob("*") if not p.is_dir()}
    assert set(pkg.manifest["files"]) == expected
    # Symlinked sources arrive as the files they point to.
    actions = "/usr/local/opnsense/service/conf/actions.d/actions_mailpulse.conf"
    assert pkg.read(actions) == (REPO / "configd" / "actions_mailpulse.conf").read_bytes()
    helper = pkg.member("/usr/local/opnsense/scripts/Mailpulse/apply.sh")
    assert helper.mode == 0o755 and helper.isfile()
    assert pkg.manifest["name"] == "os-mailpulse" and pkg.manifest["origin"] == "opnsense/os-mailpulse"
    assert "run_migrations.php OPNsense/Mailpulse" in pkg.manifest["scripts"]["post-install"]


def test_devel_plugin_is_named_and_conflicts_by_the_rule(tmp_path):
    out = subprocess.run([sys.executable, str(PACKAGING / "opnsense" / "build-plugin.py"),
                          "--out", str(tmp_path), "--devel"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    pkg = Package(tmp_path / "os-mailpulse-devel-0.1.pkg")
    assert pkg.manifest["name"] == "os-mailpulse-devel"
    assert pkg.manifest["origin"] == "opnsense/os-mailpulse-devel"
    release = subprocess.run([sys.executable, str(PACKAGING / "opnsense" / "build-plugin.py"),
                              "--out", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert release.returncode == 0, release.stderr
    # Same files: that overlap is how pkg(8) sees the two conflict.
    assert set(Package(tmp_path / "os-mailpulse-0.1.pkg").manifest["files"]) == \
        set(pkg.manifest["files"])


def test_a_repository_serves_one_abi(repos, tmp_path):
    mixed = [repos / "FreeBSD:14:amd64" / "All" / "os-mailpulse-0.1.pkg",
             next((repos / "FreeBSD:15:amd64" / "All").glob("mailpulse-*.pkg"))]
    out = subprocess.run([sys.executable, str(PACKAGING / "freebsd" / "build-repo.py"), "--out",
                          str(tmp_path / "r"), *map(str, mixed)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode != 0 and "different ABIs" in out.stderr


def test_repository_file_for_the_firewall():
    conf = (PACKAGING / "freebsd" / "mailpulse.conf").read_text()
    assert re.search(r'url: ".*/\$\{ABI\}"', conf)
    assert 'signature_type: "none"' in conf and "enabled: yes" in conf
