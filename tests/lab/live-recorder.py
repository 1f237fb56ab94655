#!/usr/bin/env python3
"""mailpulse lab: records what a live daemon reports, with the time each report arrived.

    live-recorder.py MAILPULSE CONTROL_SOCKET SYSLOG_SOCKET OUTDIR

- Binds SYSLOG_SOCKET (a Unix datagram socket, the daemon's `[daemon] syslog_socket`) and appends
  every datagram to OUTDIR/syslog.jsonl as {"arrived": EPOCH, "line": TEXT}.
- Every 0.2 s runs `MAILPULSE events --json --since 2m --socket CONTROL_SOCKET` and appends each
  event not seen before (by id) to OUTDIR/events.jsonl as {"seen": EPOCH, "event": {...}}.

Arrival times are this machine's clock (the same clock the lab's captures and scripts use), so a
scenario can compare them with the moment its failure became visible. Runs until killed.
"""

import json
import os
import select
import socket
import subprocess
import sys
import time

POLL_EVERY = 0.2


def main() -> int:
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        return 64
    mailpulse, control, syslog_path, outdir = sys.argv[1:]
    os.makedirs(outdir, exist_ok=True)
    try:
        os.unlink(syslog_path)
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(syslog_path)
    os.chmod(syslog_path, 0o666)
    syslog_out = open(os.path.join(outdir, "syslog.jsonl"), "a", buffering=1)
    events_out = open(os.path.join(outdir, "events.jsonl"), "a", buffering=1)
    errors_out = open(os.path.join(outdir, "poll-errors.log"), "a", buffering=1)
    seen_ids = set()
    next_poll = time.time()
    while True:
        wait = max(0.0, next_poll - time.time())
        ready, _, _ = select.select([sock], [], [], wait)
        if ready:
            data = sock.recv(65536)
            syslog_out.write(json.dumps({"arrived": time.time(),
                                         "line": data.decode("utf-8", "replace")}) + "\n")
            continue
        next_poll = time.time() + POLL_EVERY
        if not os.path.exists(control):
            continue
        polled = time.time()
        try:
            run = subprocess.run([mailpulse, "events", "--json", "--since", "2m", "--socket", control],
                                 capture_output=True, timeout=5, check=False)
        except subprocess.TimeoutExpired:
            errors_out.write(f"{polled:.3f} events timed out\n")
            continue
        if run.returncode != 0:
            errors_out.write(f"{polled:.3f} exit {run.returncode}: {run.stderr[:300]!r}\n")
            continue
        try:
            events = json.loads(run.stdout)
        except ValueError as e:
            errors_out.write(f"{polled:.3f} not JSON: {e}\n")
            continue
        answered = time.time()
        for event in events if isinstance(events, list) else []:
            key = event.get("id")
            if key in seen_ids:
                continue
            seen_ids.add(key)
            # When the answer holding it came back: an upper bound on when the daemon had it
            # (the CLI's start-up time counts against the daemon, never for it).
            events_out.write(json.dumps({"seen": answered, "event": event}) + "\n")


if __name__ == "__main__":
    sys.exit(main())
