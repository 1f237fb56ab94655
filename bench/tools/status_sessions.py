#!/usr/bin/env python3
"""Reads `mailpulse status --json` on stdin and prints the tracker's session counters."""
import json
import sys

t = json.load(sys.stdin).get("tracker", {})
print(" ".join(f"{k}={t[k]}" for k in ("packets", "sessions_open", "sessions_total", "sessions_evicted") if k in t))
