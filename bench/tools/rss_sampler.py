#!/usr/bin/env python3
"""Runs a command (its stdout discarded) and samples its resident set size every INTERVAL
seconds until it exits. Writes one "seconds-since-start rss-KiB" line per sample to OUT, and
exits with the command's exit code. Bounded by --max-seconds (the command is killed then).

  rss_sampler.py OUT INTERVAL MAX_SECONDS CMD [ARGS...]"""
import subprocess
import sys
import time


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def main():
    out, interval, max_seconds, cmd = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4:]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    with open(out, "w") as f:
        while proc.poll() is None:
            now = time.monotonic() - start
            if now > max_seconds:
                proc.kill()
                break
            rss = rss_kib(proc.pid)
            if rss:
                f.write(f"{now:.3f} {rss}\n")
            time.sleep(interval)
    sys.exit(proc.wait())


if __name__ == "__main__":
    main()
