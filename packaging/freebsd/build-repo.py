#!/usr/bin/env python3
"""Builds a pkg(8) repository from .pkg files, as `pkg repo` lays one out, without FreeBSD.

Layout written into OUT (freebsd/pkg libpkg/pkg_repo_create.c and pkg_repo_meta.c, repository
meta version 2):

  meta.conf, meta     the repository meta in UCL: version 2, packing_format, and the names of
                      the catalogue files (packagesite.yaml in packagesite.pkg, data in
                      data.pkg); pkg(8) fetches meta.conf first
  packagesite.pkg     a tar holding packagesite.yaml: one compact JSON manifest per line, each
                      the package's +COMPACT_MANIFEST plus `sum` (SHA-256 of the .pkg file,
                      hex), `pkgsize` and `repopath` (and the older `path`) pointing at the file
  data.pkg            a tar holding data: {"groups":[],"expired_packages":[],"packages":[...]}
                      with the same manifests (what pkg 2.x reads)
  All/                the .pkg files themselves

Every package must carry the same `abi`: a repository serves one ABI, and a firewall's pkg.conf
points at .../${ABI}/. The repository is not signed (signature_type "none" in the client's
repository file; see docs/install.md).

Usage: build-repo.py --out DIR [--compression xz] PKG...
"""

import argparse
import hashlib
import importlib.util
import io
import json
import lzma
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("build_pkg", REPO / "packaging/freebsd/build-pkg.py")
build_pkg = importlib.util.module_from_spec(spec)
spec.loader.exec_module(build_pkg)

# packing_format names in meta (pkg_repo_meta.c's schema: tzst, txz, tbz, tgz, tar).
PACKING = {"xz": "txz", "zstd": "tzst", "none": "tar"}


def decompress(blob: bytes) -> bytes:
    if blob.startswith(b"\xfd7zXZ\x00"):
        return lzma.decompress(blob)
    if blob.startswith(b"\x28\xb5\x2f\xfd"):
        zstd = shutil.which("zstd")
        if zstd is None:
            sys.exit("build-repo: a zstd-compressed package needs the zstd program")
        return subprocess.run([zstd, "-dc"], input=blob, capture_output=True, check=True).stdout
    return blob


def compact_manifest(path: Path) -> dict:
    """The package's +COMPACT_MANIFEST (the first archive entries are the manifests)."""
    with tarfile.open(fileobj=io.BytesIO(decompress(path.read_bytes())), mode="r:") as tar:
        for member in tar:
            if member.name == "+COMPACT_MANIFEST":
                return json.loads(tar.extractfile(member).read())
            if not member.name.startswith("+"):
                break
    sys.exit(f"build-repo: {path} has no +COMPACT_MANIFEST; not a package")


def one_file_archive(name: str, data: bytes, compression: str) -> bytes:
    """A catalogue archive: one root:wheel 0644 entry, as pkg_repo_pack_db writes it."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = build_pkg.tar_entry(name, data, 0o644, "root", "wheel", 0)
        tar.addfile(info, io.BytesIO(data))
    return build_pkg.compress(raw.getvalue(), compression)


def meta_conf(compression: str) -> str:
    """pkg_repo_meta_to_ucl for the default v2 meta, in UCL config syntax."""
    return (
        "version = 2;\n"
        f"packing_format = \"{PACKING[compression]}\";\n"
        "manifests = \"packagesite.yaml\";\n"
        "data = \"data\";\n"
        "filesite = \"filesite.yaml\";\n"
        "manifests_archive = \"packagesite\";\n"
        "filesite_archive = \"filesite\";\n"
    )


def build(out: Path, packages: list, compression: str) -> list:
    out.mkdir(parents=True, exist_ok=True)
    (out / "All").mkdir(exist_ok=True)
    entries = []
    abis = set()
    for source in sorted(packages):
        manifest = compact_manifest(source)
        abis.add(manifest.get("abi"))
        name = f"{manifest['name']}-{manifest['version']}.pkg"
        target = out / "All" / name
        shutil.copyfile(source, target)
        blob = target.read_bytes()
        entry = dict(manifest)
        entry["sum"] = hashlib.sha256(blob).hexdigest()
        entry["pkgsize"] = len(blob)
        entry["repopath"] = entry["path"] = f"All/{name}"
        entries.append(entry)
    if len(abis) != 1:
        sys.exit(f"build-repo: the packages are for different ABIs {sorted(map(str, abis))}; "
                 "a repository serves one")
    names = [e["name"] for e in entries]
    if len(names) != len(set(names)):
        sys.exit(f"build-repo: more than one version of a package: {sorted(names)}")
    lines = "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in entries)
    data = json.dumps({"groups": [], "expired_packages": [], "packages": entries},
                      separators=(",", ":"))
    (out / "packagesite.pkg").write_bytes(one_file_archive("packagesite.yaml", lines.encode(),
                                                          compression))
    (out / "data.pkg").write_bytes(one_file_archive("data", data.encode(), compression))
    meta = meta_conf(compression)
    (out / "meta.conf").write_text(meta)
    (out / "meta").write_text(meta)
    return entries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="repository directory")
    parser.add_argument("--compression", choices=tuple(PACKING), default="xz")
    parser.add_argument("packages", nargs="+", type=Path, help=".pkg files, one ABI")
    args = parser.parse_args()
    for path in args.packages:
        if not path.is_file():
            sys.exit(f"build-repo: {path}: no such file")
    for entry in build(args.out, args.packages, args.compression):
        print(f"{entry['repopath']}  {entry['abi']}  sha256 {entry['sum']}")


if __name__ == "__main__":
    main()
