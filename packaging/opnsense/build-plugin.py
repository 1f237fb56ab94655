#!/usr/bin/env python3
"""Builds the os-mailpulse plugin package, os-mailpulse-<version>.pkg, without an OPNsense
build host.

What opnsense/plugins' Mk/plugins.mk does with `make package` (its manifest, plist and
install targets), written out: the package is named os-<PLUGIN_NAME>, versioned
PLUGIN_VERSION[_PLUGIN_REVISION], depends on the PLUGIN_DEPENDS packages, and installs every
file under src/ to /usr/local/ (symlinks in src/ are followed, as `cp -RL` does when the
plugin is copied into opnsense/plugins). The archive itself is written by
packaging/freebsd/build-pkg.py's writer, so both packages share one format implementation.

The -devel rule: a plugin built with PLUGIN_DEVEL=yes is named os-<name>-devel (the
development channel, tier 4 on the Plugins page). Here `--devel` does the same. The two
packages install the same files, which is how pkg(8) sees that they conflict: it replaces one
with the other instead of installing both. The manifest's `conflicts` key is not used for
this; pkg 2.0 records it against installed packages only and fails on a name that is not
installed.

Usage: build-plugin.py [--out DIR] [--abi FreeBSD:14:amd64] [--devel] [--compression xz]
"""

import argparse
import importlib.util
import os
import re
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PREFIX = "/usr/local"

spec = importlib.util.spec_from_file_location("build_pkg", REPO / "packaging/freebsd/build-pkg.py")
build_pkg = importlib.util.module_from_spec(spec)
spec.loader.exec_module(build_pkg)


def makefile_vars(path: Path) -> dict:
    """VAR= value lines of the plugin Makefile (the only syntax it uses)."""
    values = {}
    for m in re.finditer(r"^([A-Z_]+)\??=\s*(.*)$", path.read_text(), re.M):
        values[m.group(1)] = m.group(2).strip()
    return values


def plugin_identity(devel: bool) -> tuple:
    v = makefile_vars(HERE / "Makefile")
    for required in ("PLUGIN_NAME", "PLUGIN_VERSION", "PLUGIN_COMMENT", "PLUGIN_MAINTAINER"):
        if not v.get(required):
            sys.exit(f"build-plugin: {required} not set in the Makefile")
    devel = devel or v.get("PLUGIN_DEVEL", "no") not in ("", "no")
    base = "os-" + v["PLUGIN_NAME"]
    name = base + ("-devel" if devel else "")
    version = v["PLUGIN_VERSION"]
    if v.get("PLUGIN_REVISION", "0") not in ("", "0"):
        version += "_" + v["PLUGIN_REVISION"]
    return v, name, version


def payload() -> list:
    entries = []
    src = HERE / "src"
    for path in sorted(src.rglob("*")):
        if path.is_dir():
            continue
        real = path.resolve()
        mode = 0o755 if os.access(real, os.X_OK) else 0o644
        entries.append(build_pkg.Entry(f"{PREFIX}/{path.relative_to(src)}", real.read_bytes(), mode))
    return entries


# After install and removal, what opnsense/plugins' Templates add to +POST_INSTALL and
# +POST_DEINSTALL for a plugin with configd actions, templates and a model: configd reloads its
# actions, the model's migrations run, the templates are written and the plugin hooks run
# (which also restarts syslog-ng for the new log filter). Each step only where OPNsense is.
POST_INSTALL = """\
if [ -n "${PKG_ROOTDIR}" ] && [ "${PKG_ROOTDIR}" != "/" ]; then exit 0; fi
[ -x /usr/local/etc/rc.d/configd ] && /usr/local/etc/rc.d/configd restart
[ -x /usr/local/opnsense/mvc/script/run_migrations.php ] && \\
    /usr/local/opnsense/mvc/script/run_migrations.php OPNsense/Mailpulse
if [ -x /usr/local/sbin/configctl ]; then
    /usr/local/sbin/configctl template reload OPNsense/Mailpulse
    /usr/local/sbin/configctl template reload OPNsense/Syslog
fi
[ -x /usr/local/etc/rc.configure_plugins ] && /usr/local/etc/rc.configure_plugins POST_INSTALL
exit 0
"""

POST_DEINSTALL = """\
if [ -n "${PKG_ROOTDIR}" ] && [ "${PKG_ROOTDIR}" != "/" ]; then exit 0; fi
[ -x /usr/local/etc/rc.d/configd ] && /usr/local/etc/rc.d/configd restart
[ -x /usr/local/etc/rc.configure_plugins ] && /usr/local/etc/rc.configure_plugins POST_DEINSTALL
exit 0
"""


def manifests(entries: list, abi: str, devel: bool) -> tuple:
    v, name, version = plugin_identity(devel)
    osname, major, machine = abi.split(":")
    descr = (HERE / "pkg-descr").read_text().strip()
    daemon_version = build_pkg.cargo_version()
    compact = {
        "name": name,
        "origin": f"opnsense/{name}",
        "version": version,
        "comment": v["PLUGIN_COMMENT"],
        "maintainer": v["PLUGIN_MAINTAINER"],
        "www": v.get("PLUGIN_WWW", "https://opnsense.org/"),
        "abi": abi,
        "arch": f"{osname.lower()}:{major}:{build_pkg.LEGACY_ARCH[machine]}",
        "prefix": PREFIX,
        "flatsize": sum(len(e.data) for e in entries),
        "licenselogic": "single",
        "licenses": ["BSD2CLAUSE"],
        "desc": descr,
        "categories": ["mail"],
        "deps": {dep: {"origin": build_pkg.ORIGIN, "version": daemon_version}
                 for dep in v.get("PLUGIN_DEPENDS", "").split()},
    }
    full = dict(compact)
    full["files"] = {build_pkg.manifest_path(e.path): build_pkg.sha256_sum(e.data) for e in entries}
    full["directories"] = {}
    full["scripts"] = {"post-install": POST_INSTALL, "post-deinstall": POST_DEINSTALL}
    return name, version, compact, full


def build(out_dir: Path, abi: str, devel: bool, compression: str) -> Path:
    import io
    entries = payload()
    name, version, compact, full = manifests(entries, abi, devel)
    mtime = int(os.environ.get("SOURCE_DATE_EPOCH", time.time()))
    raw = io.BytesIO()
    build_pkg.write_tar(raw, compact, full, entries, mtime)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{name}-{version}.pkg"
    target.write_bytes(build_pkg.compress(raw.getvalue(), compression))
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("."), help="output directory")
    parser.add_argument("--abi", default="FreeBSD:14:amd64", help="pkg ABI string")
    parser.add_argument("--devel", action="store_true", help="build os-mailpulse-devel")
    parser.add_argument("--compression", choices=("xz", "zstd", "none"), default="xz")
    args = parser.parse_args()
    print(build(args.out, args.abi, args.devel, args.compression))


if __name__ == "__main__":
    main()
