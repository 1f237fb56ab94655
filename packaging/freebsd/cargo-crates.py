#!/usr/bin/env python3
"""Writes the port's Makefile.crates from Cargo.lock, as `make cargo-crates` does on FreeBSD.

Same selection as freebsd-ports:Mk/Scripts/cargo-crates.awk: every package whose source is
the crates.io registry, as `name-version`, sorted. Usage: cargo-crates.py [Cargo.lock] > Makefile.crates
"""

import sys
import tomllib
from pathlib import Path

REGISTRY = "registry+https://github.com/rust-lang/crates.io-index"


def crates(lock_path: Path) -> list:
    lock = tomllib.loads(lock_path.read_text())
    names = {f"{p['name']}-{p['version']}" for p in lock.get("package", [])
             if p.get("source") == REGISTRY}
    return sorted(names)


def render(names: list) -> str:
    if not names:
        return "CARGO_CRATES=\n"
    lines = [f"CARGO_CRATES=\t{names[0]}"] + [f"\t\t{n}" for n in names[1:]]
    return " \\\n".join(lines) + "\n"


if __name__ == "__main__":
    default = Path(__file__).resolve().parents[2] / "Cargo.lock"
    sys.stdout.write(render(crates(Path(sys.argv[1]) if len(sys.argv) > 1 else default)))
