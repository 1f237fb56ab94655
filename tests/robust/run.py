"""Runs the robustness checks against the real daemon; see run.sh."""

import argparse
import os
import shutil
import signal
import sys
import time
import traceback

import checks
import lab
import state_dir

CHECKS = {
    "flood": checks.check_flood,
    "load": checks.check_load,
    "kill9": checks.check_kill9,
    "diskfull": checks.check_disk_full,
    "control": checks.check_control,
    "sighup": checks.check_sighup,
    "iface": None,  # needs the network object
    "privileges": checks.check_privileges,
    "statedir": state_dir.check,
}


def main():
    p = argparse.ArgumentParser(description="mailpulse fault and load checks")
    p.add_argument("--short", action="store_true", help="CI sizes (under 4 minutes)")
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    p.add_argument("only", nargs="*", help=f"checks to run (default all): {' '.join(CHECKS)}")
    a = p.parse_args()
    # A TERM (CI timeout) still runs the cleanup below: namespaces, mounts, daemons.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    names = a.only or list(CHECKS)
    unknown = [n for n in names if n not in CHECKS]
    if unknown:
        p.error(f"unknown check: {', '.join(unknown)}")

    passed = failed = 0

    def report(name, ok, detail):
        nonlocal passed, failed
        print(f"{'PASS' if ok else 'FAIL'} {name}: {detail}", flush=True)
        if ok:
            passed += 1
        else:
            failed += 1

    if os.geteuid() != 0:
        report("prerequisites", False, "must run as root (network namespaces, tmpfs mounts)")
        print(f"{passed} passed, {failed} failed")
        return 1
    try:
        lab.require(["ip", "hping3", "dovecot", "openssl", "ss", "mount", "dd", "useradd"])
        lab.daemon_binary()
    except lab.Missing as e:
        report("prerequisites", False, str(e))
        print(f"{passed} passed, {failed} failed")
        return 1

    work = lab.workdir()
    net = lab.Net()
    dovecot = lab.Dovecot(work)
    try:
        net.up()
        dovecot.start()
        for name in names:
            t0 = time.monotonic()
            sub = os.path.join(work, name)
            os.makedirs(sub)
            try:
                if name == "iface":
                    results = checks.check_iface_recreate(sub, a.short, net)
                else:
                    results = CHECKS[name](sub, a.short)
            except Exception as e:  # noqa: BLE001 - a check that breaks is a failure, named
                results = [(name, False, f"{type(e).__name__}: {e}\n"
                            + traceback.format_exc(limit=3))]
            for r in results:
                report(*r)
            print(f"     ({name}: {time.monotonic() - t0:.1f} s; daemon log "
                  f"{os.path.join(sub, 'daemon.log')})", flush=True)
    finally:
        dovecot.stop()
        net.down()
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"work directory kept: {work}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
