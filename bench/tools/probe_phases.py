#!/usr/bin/env python3
"""Reads `mailpulse probe --json` output (FILE) and prints two numbers in milliseconds:
TCP connect + TLS handshake, and the sum of all phases (to the greeting/capabilities).
Accepts a phase duration as {"secs","nanos"} (serde's Duration), or a number under a key
ending in _ms (milliseconds). Exits 1 when no phases are found."""
import json
import sys


def ms(value, key):
    if isinstance(value, dict) and "secs" in value:
        return value["secs"] * 1000 + value.get("nanos", 0) / 1e6
    if isinstance(value, (int, float)):
        return float(value) if key.endswith("_ms") else float(value) * 1000
    raise ValueError(f"unknown duration {value!r}")


def find_phases(obj):
    if isinstance(obj, dict):
        if isinstance(obj.get("phases"), list):
            return obj["phases"]
        for v in obj.values():
            found = find_phases(v)
            if found is not None:
                return found
    elif isinstance(obj, list):
        for v in obj:
            found = find_phases(v)
            if found is not None:
                return found
    return None


def main():
    with open(sys.argv[1]) as f:
        phases = find_phases(json.load(f))
    if not phases:
        sys.exit(1)
    connect_tls = total = 0.0
    for p in phases:
        name = str(p.get("phase", ""))
        key = next(k for k in p if k.startswith("duration"))
        d = ms(p[key], key)
        total += d
        if "tcp" in name or "connect" in name or "tls" in name:
            connect_tls += d
    print(f"{connect_tls:.3f} {total:.3f}")


if __name__ == "__main__":
    main()
