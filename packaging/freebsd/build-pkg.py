#!/usr/bin/env python3
"""Builds an installable FreeBSD package, mailpulse-<version>.pkg, without FreeBSD or pkg(8).

Input: a mailpulse binary cross-compiled for FreeBSD (x86_64-unknown-freebsd), plus the rc
script, sample configuration and man pages from this source tree. Output: a pkg archive laid
out as `pkg create` lays it out (freebsd-packaging.md §3, from freebsd/pkg libpkg/pkg_create.c,
packing.c, pkg_manifest.c, pkg_add.c):

  - a pax tar, compressed with xz (pkg's compiled-in default, TXZ) or zstd, or uncompressed;
  - +COMPACT_MANIFEST then +MANIFEST first, mode 0644, root/wheel, no "./" prefix;
  - then every file, then every directory (trailing "/"), all with absolute paths, because
    pkg_add refuses relative ones ("not specified in the manifest");
  - manifests in compact JSON with all of pkg_is_valid's required keys, both abi and arch,
    files as {"<path>": "1$<sha256 hex>"}, directories as {"<path>": "y"}, flatsize the sum
    of the regular files' sizes;
  - owner, group and mode taken from the tar headers (pkg_add reads them from there), so the
    state directory is mailpulse:mailpulse 0750 and everything else root:wheel;
  - a pre-install script that creates the mailpulse user and group with pw(8), as the ports
    framework's do-users-groups.sh does, and post-install/pre-deinstall scripts that do what
    `@sample` does for the configuration file.

Usage: build-pkg.py FREEBSD_BINARY [--out DIR] [--abi FreeBSD:14:amd64] [--compression xz]
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PREFIX = "/usr/local"
ORIGIN = "net-mgmt/mailpulse"
MAINTAINER = "ports@mailpulse.invalid"
WWW = "https://github.com/mailpulse/mailpulse"
COMMENT = "Tells whether a failed mail login was the password or the network"
USER = GROUP = "mailpulse"
# The ids of packaging/freebsd/UIDs and GIDs, which the port's USERS/GROUPS use.
UID = GID = 363
CONFIG = f"{PREFIX}/etc/mailpulse/mailpulse.toml"
STATE_DIR = "/var/db/mailpulse"

# pkg's legacy "arch" string for each new-style ABI architecture (pkg_emit_object).
LEGACY_ARCH = {"amd64": "x86:64", "aarch64": "aarch64:64", "i386": "x86:32"}

ELF_MAGIC = b"\x7fELF"
ELFOSABI_FREEBSD = 9


@dataclass
class Entry:
    """One payload entry: an absolute path with its content (None for a directory)."""

    path: str
    data: bytes | None
    mode: int
    uname: str = "root"
    gname: str = "wheel"

    @property
    def is_dir(self) -> bool:
        return self.data is None


def cargo_version() -> str:
    return tomllib.loads((REPO / "Cargo.toml").read_text())["package"]["version"]


def check_binary(path: Path) -> bytes:
    """Reads the binary; refuses anything that is not an ELF file (a Linux build is flagged)."""
    data = path.read_bytes()
    if data[:4] != ELF_MAGIC:
        sys.exit(f"build-pkg: {path} is not an ELF executable")
    # e_ident[EI_OSABI]; rustc's FreeBSD target sets ELFOSABI_FREEBSD. Stand-ins may not.
    if len(data) > 7 and data[7] != ELFOSABI_FREEBSD:
        print(f"build-pkg: warning: {path} is not marked as a FreeBSD ELF (OSABI {data[7]})",
              file=sys.stderr)
    return data


def man_page(path: Path) -> bytes:
    """gzip-compressed as the ports framework installs man pages, with no name or time inside."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(path.read_bytes())
    return buf.getvalue()


def payload(binary: bytes) -> list:
    rc = (REPO / "rc.d" / "mailpulse").read_text().replace("%%PREFIX%%", PREFIX)
    sample = (REPO / "packaging" / "freebsd" / "files" / "mailpulse.toml.sample").read_bytes()
    man = REPO / "packaging" / "man"
    return [
        Entry(f"{PREFIX}/bin/mailpulse", binary, 0o755),
        Entry(f"{PREFIX}/etc/rc.d/mailpulse", rc.encode(), 0o755),
        Entry(f"{CONFIG}.sample", sample, 0o644),
        Entry(f"{PREFIX}/share/man/man5/mailpulse.toml.5.gz", man_page(man / "mailpulse.toml.5"),
              0o644),
        Entry(f"{PREFIX}/share/man/man8/mailpulse.8.gz", man_page(man / "mailpulse.8"), 0o644),
        Entry(f"{PREFIX}/etc/mailpulse", None, 0o755),
        Entry(STATE_DIR, None, 0o750, USER, GROUP),
    ]


# Scripts run by /bin/sh with PKG_ROOTDIR set; pw -R keeps `pkg -r ROOT add` inside ROOT, as
# Mk/Scripts/do-users-groups.sh does.
PRE_INSTALL = f"""\
if [ -n "${{PKG_ROOTDIR}}" ] && [ "${{PKG_ROOTDIR}}" != "/" ]; then
  PW="/usr/sbin/pw -R ${{PKG_ROOTDIR}}"
else
  PW=/usr/sbin/pw
fi
if ! ${{PW}} groupshow {GROUP} >/dev/null 2>&1; then
  echo "===> Creating group {GROUP}"
  ${{PW}} groupadd {GROUP} -g {GID}
fi
if ! ${{PW}} usershow {USER} >/dev/null 2>&1; then
  echo "===> Creating user {USER}"
  ${{PW}} useradd {USER} -u {UID} -g {GROUP} -c "mailpulse daemon" -d /nonexistent -s /usr/sbin/nologin -h -
fi
"""

# What @sample does (Keywords/sample.ucl): install the sample as the configuration if there is
# none, and on removal delete the configuration only if it is still the unmodified sample.
POST_INSTALL = f"""\
cfg="${{PKG_ROOTDIR}}{CONFIG}"
if [ ! -e "${{cfg}}" ]; then
  cp -p "${{cfg}}.sample" "${{cfg}}"
fi
"""

PRE_DEINSTALL = f"""\
cfg="${{PKG_ROOTDIR}}{CONFIG}"
if [ -e "${{cfg}}" ] && cmp -s "${{cfg}}" "${{cfg}}.sample"; then
  rm -f "${{cfg}}"
fi
"""

MESSAGE = f"""\
mailpulse is installed. Review {CONFIG} (see mailpulse.toml(5)), then:
  sysrc mailpulse_enable=YES
  service mailpulse start
On OPNsense install the os-mailpulse plugin instead of enabling it by hand.
"""


def sha256_sum(data: bytes) -> str:
    """pkg's `1$<hex>` form: PKG_HASH_TYPE_SHA256_HEX (index 1) formatted as "%d$%s"."""
    return "1$" + hashlib.sha256(data).hexdigest()


def manifest_path(path: str) -> str:
    """Paths are URL-encoded in manifests; only '%' needs escaping for our names."""
    return path.replace("%", "%25")


def manifests(entries: list, version: str, abi: str) -> tuple:
    osname, major, machine = abi.split(":")
    if machine not in LEGACY_ARCH:
        sys.exit(f"build-pkg: unsupported architecture in ABI {abi!r}")
    descr = (REPO / "packaging" / "freebsd" / "pkg-descr").read_text().strip()
    files = [e for e in entries if not e.is_dir]
    compact = {
        "name": "mailpulse",
        "origin": ORIGIN,
        "version": version,
        "comment": COMMENT,
        "maintainer": MAINTAINER,
        "www": WWW,
        "abi": abi,
        "arch": f"{osname.lower()}:{major}:{LEGACY_ARCH[machine]}",
        "prefix": PREFIX,
        "flatsize": sum(len(e.data) for e in files),
        "licenselogic": "single",
        "licenses": ["BSD2CLAUSE"],
        "desc": descr,
        "categories": ["net-mgmt", "mail"],
        "users": [USER],
        "groups": [GROUP],
        "messages": [{"message": MESSAGE}],
    }
    full = dict(compact)
    full["files"] = {manifest_path(e.path): sha256_sum(e.data) for e in files}
    full["directories"] = {manifest_path(e.path): "y" for e in entries if e.is_dir}
    full["scripts"] = {
        "pre-install": PRE_INSTALL,
        "post-install": POST_INSTALL,
        "pre-deinstall": PRE_DEINSTALL,
    }
    return compact, full


def tar_entry(name: str, data: bytes | None, mode: int, uname: str, gname: str,
              mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode = mode
    info.uname, info.gname = uname, gname
    info.uid = info.gid = 0  # pkg_add resolves uname/gname and ignores numeric ids
    info.mtime = mtime
    if data is None:
        info.type = tarfile.DIRTYPE
    else:
        info.size = len(data)
    return info


def write_tar(out, compact: dict, full: dict, entries: list, mtime: int) -> None:
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, obj in (("+COMPACT_MANIFEST", compact), ("+MANIFEST", full)):
            blob = json.dumps(obj, separators=(",", ":")).encode()
            tar.addfile(tar_entry(name, blob, 0o644, "root", "wheel", mtime), io.BytesIO(blob))
        # pkg_create_from_dir writes every file, then every directory.
        for entry in [e for e in entries if not e.is_dir] + [e for e in entries if e.is_dir]:
            info = tar_entry(entry.path, entry.data, entry.mode, entry.uname, entry.gname, mtime)
            tar.addfile(info, io.BytesIO(entry.data) if entry.data is not None else None)


def compress(raw: bytes, compression: str) -> bytes:
    if compression == "none":
        return raw
    if compression == "xz":
        import lzma
        return lzma.compress(raw, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64)
    if compression == "zstd":
        zstd = shutil.which("zstd")
        if zstd is None:
            sys.exit("build-pkg: --compression zstd needs the zstd program (Debian: zstd)")
        return subprocess.run([zstd, "-q", "-19", "-c"], input=raw, capture_output=True,
                              check=True).stdout
    sys.exit(f"build-pkg: unknown compression {compression!r}")


def build(binary_path: Path, out_dir: Path, abi: str, compression: str) -> Path:
    version = cargo_version()
    entries = payload(check_binary(binary_path))
    compact, full = manifests(entries, version, abi)
    mtime = int(os.environ.get("SOURCE_DATE_EPOCH", time.time()))
    raw = io.BytesIO()
    write_tar(raw, compact, full, entries, mtime)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"mailpulse-{version}.pkg"
    target.write_bytes(compress(raw.getvalue(), compression))
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("binary", type=Path, help="mailpulse built for x86_64-unknown-freebsd")
    parser.add_argument("--out", type=Path, default=Path("."), help="output directory")
    parser.add_argument("--abi", default="FreeBSD:14:amd64",
                        help="pkg ABI string (default FreeBSD:14:amd64)")
    parser.add_argument("--compression", choices=("xz", "zstd", "none"), default="xz")
    args = parser.parse_args()
    if not args.binary.is_file():
        sys.exit(f"build-pkg: {args.binary}: no such file")
    print(build(args.binary, args.out, args.abi, args.compression))


if __name__ == "__main__":
    main()
