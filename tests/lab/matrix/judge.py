"""Judges the matrix's cells against their ground truth and prints the tables.

    judge.py subset                      cells on stdin ("VARIANT SERVER SCENARIO"), the CI subset
                                         on stdout: every client, server and scenario at least once
    judge.py cell CELL_DIR               one line: the cell's truth, verdicts and result
    judge.py report OUT [--mode M] [--seconds S] [--gap G] [--table FILE]
                                         confusion tables, worst cells, "N passed, N failed" last

Ground truth comes from the server's log (truth.txt: "<epoch> <proto> <ok|failed> <client-ip>",
one line per login attempt) and from what the runner injected (cell.json: scenario, fault, the
client's and the server's TLS versions), never from mailpulse's output.

Rules of pass (the product's requirements), for the live daemon and for replay alike:
- a session whose login the server refused is never `ok`;
- a session that failed for any other reason (or did not fail) never has `credentials=rejected`;
- a refused login that was repeated is `auth-rejected` (every session of the cell);
- a single refused login is `auth-rejected`, or `unknown` with the refused-login shape in its
  evidence;
- a network fault keeps its verdict whatever the client: a WAN outage is `wan-down` live (replay
  cannot see the link: `upstream-unreachable` or `unknown` there), a slow server `server-slow`,
  a refused TLS version `tls-rejected`;
- live and replay agree, except where only live can see the cause: the WAN link, and what the
  daemon learned from sessions outside the cell's capture (how quickly the server answered the
  sessions that went on past the login: a repeated quick refusal is `auth-rejected` live, citing
  it, and `unknown` with the refused-login shape in a replay of the cell's capture alone).
"""

import argparse
import json
import os
import sys
from collections import Counter, OrderedDict
from datetime import datetime, timezone

TRUTH_ORDER = ["login-ok", "refused-once", "refused-repeated", "tls-refused", "server-slow",
               "wan-down", "no-login", "mixed", "ok-then-refused"]
# A single refused login may stay `unknown` if its evidence says it has the refused-login shape.
SHAPE_EVIDENCE = "refused login looks like"
REPLAY_WAN = {"upstream-unreachable", "unknown", "wan-down"}
# Live evidence that rests on what the daemon learned of the server from other sessions.
TAUGHT_EVIDENCE = "in the sessions that went on past the login"
SEVERITY_OK_FOR_REFUSED = 3
SEVERITY_REJECTED_FOR_OTHER = 3


def load_jsonl(path):
    out = []
    if os.path.exists(path):
        with open(path, errors="replace") as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        out.append(json.loads(line))
                    except json.JSONDecodeError:
                        pass
    return out


def attempt_times(cell_dir):
    """When the server logged each login attempt of the cell (epochs, from truth.txt)."""
    times = []
    path = os.path.join(cell_dir, "truth.txt")
    if os.path.exists(path):
        for line in open(path):
            parts = line.split()
            if len(parts) >= 3 and parts[2] in ("ok", "failed"):
                try:
                    times.append(float(parts[0]))
                except ValueError:
                    pass
    return times


def truth_of(cell_dir):
    cell = json.load(open(os.path.join(cell_dir, "cell.json")))
    n_ok = n_failed = 0
    path = os.path.join(cell_dir, "truth.txt")
    if os.path.exists(path):
        for line in open(path):
            parts = line.split()
            if len(parts) >= 3:
                n_ok += parts[2] == "ok"
                n_failed += parts[2] == "failed"
    rcs = cell.get("exit_codes", [])
    failed_client = any(rc != 0 for rc in rcs)
    scen = cell["scenario"]
    tls_max = "1.0" if scen == "tls-refused" else cell.get("client_tls_max", "1.3")
    tls_blocked = cell["tls"] != "plain" and tls_max < cell.get("server_tls_min", "1.0")
    if scen == "wan-down" and cell.get("fault") and failed_client:
        cls = "wan-down"
    elif scen == "server-slow" and failed_client and n_failed == 0:
        cls = "server-slow"
    elif tls_blocked and n_ok == 0 and n_failed == 0:
        cls = "tls-refused"
    elif scen == "good-then-wrong" and n_ok and n_failed >= 2 and cell.get("wrong_from"):
        cls = "ok-then-refused"
    elif n_failed and n_ok:
        cls = "mixed"
    elif n_failed >= 2:
        cls = "refused-repeated"
    elif n_failed == 1:
        cls = "refused-once"
    elif n_ok:
        cls = "login-ok"
    else:
        cls = "no-login"
    return cell, cls, n_ok, n_failed


def live_sessions(cell_dir):
    """Final word per session from the daemon's events (a later event revises an earlier one)."""
    last = OrderedDict()
    for rec in load_jsonl(os.path.join(cell_dir, "live.jsonl")):
        ev = rec.get("event", {})
        if ev.get("verdict") is None:
            continue
        s = ev.get("session") or {}
        key = (s.get("client_port"), s.get("start")) if s else ("event", ev.get("id"))
        if key not in last or ev.get("id", 0) >= last[key].get("id", 0):
            last[key] = ev
    return [{"verdict": e.get("verdict"), "credentials": e.get("credentials"),
             "evidence": e.get("evidence") or [],
             "start": epoch_of((e.get("session") or {}).get("start")),
             "end": session_end(e.get("session") or {})} for e in last.values()]


def session_end(session):
    start = epoch_of(session.get("start"))
    ms = session.get("duration_ms")
    return None if start is None or ms is None else start + ms / 1000


def replay_sessions(cell_dir, cell):
    last = OrderedDict()
    clients = {cell.get("client_ip"), cell.get("client_ip6")}
    for rec in load_jsonl(os.path.join(cell_dir, "replay.jsonl")):
        if rec.get("verdict") is None:
            continue
        if rec.get("type") == "session":
            if rec.get("client") not in clients:
                continue
            key = (rec.get("client_port"), rec.get("start"))
        elif rec.get("verdict") == "dns-failure":
            key = ("dns", len(last))
        else:
            continue
        last[key] = rec
    return [{"verdict": r.get("verdict"), "credentials": r.get("credentials"),
             "evidence": r.get("evidence") or [], "start": epoch_of(r.get("start")),
             "end": epoch_of(r.get("end"))}
            for r in last.values()]


def epoch_of(iso):
    """Seconds since the epoch of a session's start ("2026-12-05T00:21:23.727Z"), or None."""
    if not iso:
        return None
    try:
        return datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        return None


def verdict_set(sessions):
    return "+".join(sorted({s["verdict"] for s in sessions})) or "none"


def without_attempts(sessions, attempts):
    """Sessions open at no login attempt the server logged (from a second before they started
    to two after they ended): a client that connected and never tried its password. Sessions
    whose span is unknown count as having tried."""
    return [s for s in sessions
            if s.get("start") is not None and s.get("end") is not None
            and not any(s["start"] - 1 <= t <= s["end"] + 2 for t in attempts)]


def judge_side(cls, sessions, side, wrong_from=None, attempts=None):
    """Problems as (severity, text). wrong_from: when the refused logins of a good-then-wrong
    cell began (epoch). attempts: when the server logged login attempts (epochs); a session
    open at none of them tried no password, so the cell's refusals are not its verdict's to
    explain (it must only not be blamed on the password)."""
    probs = []
    if not sessions:
        probs.append((2, f"{side}: no session reported"))
        return probs
    if attempts and cls in ("refused-once", "refused-repeated", "ok-then-refused"):
        untried = without_attempts(sessions, attempts)
        if any(s["verdict"] == "auth-rejected" or s["credentials"] == "rejected" for s in untried):
            probs.append((SEVERITY_REJECTED_FOR_OTHER, f"{side}: a session in which the server logged no login attempt judged auth-rejected"))
        if len(untried) < len(sessions):
            sessions = [s for s in sessions if s not in untried]
    verdicts = [s["verdict"] for s in sessions]
    if cls == "ok-then-refused":
        return judge_ok_then_refused(sessions, side, wrong_from)
    if cls == "mixed":
        # Refused logins, then a good one (the user fixed the password): the last session is
        # the good one, and it must never be blamed on the password.
        if sessions[-1]["verdict"] == "auth-rejected" or sessions[-1]["credentials"] == "rejected":
            probs.append((SEVERITY_REJECTED_FOR_OTHER, f"{side}: the good login after the refused one judged auth-rejected"))
        return probs
    if cls in ("refused-once", "refused-repeated", "mixed"):
        if cls != "mixed" and "ok" in verdicts:
            probs.append((SEVERITY_OK_FOR_REFUSED, f"{side}: `ok` for a login the server refused"))
        if cls == "refused-repeated":
            bad = sorted({v for v in verdicts if v != "auth-rejected"})
            if bad:
                probs.append((2, f"{side}: repeated refused login reported as {', '.join(bad)}"))
        elif cls == "refused-once":
            for s in sessions:
                shape = s["verdict"] == "unknown" and any(SHAPE_EVIDENCE in e for e in s["evidence"])
                if s["verdict"] != "auth-rejected" and not shape and s["verdict"] != "ok":
                    probs.append((2, f"{side}: single refused login reported as {s['verdict']} without the refused-login shape"))
                    break
        return probs
    if any(s["credentials"] == "rejected" for s in sessions):
        probs.append((SEVERITY_REJECTED_FOR_OTHER, f"{side}: credentials=rejected though the server refused no login"))
    if cls == "wan-down":
        want = {"wan-down"} if side == "live" else REPLAY_WAN
        if not want & set(verdicts):
            probs.append((1, f"{side}: WAN outage reported as {verdict_set(sessions)} (want {'/'.join(sorted(want))})"))
    elif cls == "server-slow" and "server-slow" not in verdicts:
        probs.append((1, f"{side}: slow server reported as {verdict_set(sessions)}"))
    elif cls == "tls-refused":
        if "tls-rejected" not in verdicts or "ok" in verdicts:
            probs.append((1, f"{side}: refused TLS version reported as {verdict_set(sessions)}"))
    return probs


def judge_ok_then_refused(sessions, side, wrong_from):
    """The client fetched mail, then its password was refused twice: the good session must not
    be blamed, and the refused ones (a repeat) must be `auth-rejected`, never `ok`."""
    probs = []
    good = [s for s in sessions if s["start"] is not None and s["start"] < wrong_from]
    refused = [s for s in sessions if s not in good]
    if any(s["verdict"] == "auth-rejected" or s["credentials"] == "rejected" for s in good):
        probs.append((SEVERITY_REJECTED_FOR_OTHER, f"{side}: the good login before the refused ones judged auth-rejected"))
    if not refused:
        probs.append((2, f"{side}: no session after the password stopped working"))
    if any(s["verdict"] == "ok" for s in refused):
        probs.append((SEVERITY_OK_FOR_REFUSED, f"{side}: `ok` for a login the server refused"))
    bad = sorted({s["verdict"] for s in refused if s["verdict"] != "auth-rejected"})
    if bad:
        probs.append((2, f"{side}: repeated refused login after a good one reported as {', '.join(bad)}"))
    return probs


def replay_lacks_history(cls, live, live_probs, replay, attempts):
    """A repeated refusal that the live daemon concluded from the server's pace, learned from
    sessions outside the cell (another client's that went on past the login), and that a replay
    of the cell's capture alone, without them, leaves `unknown` with the refused-login shape:
    the difference is what only the daemon saw. Never for an `ok`. Sessions open at no login
    attempt the server logged tried no password and are left out, as everywhere."""
    if cls != "refused-repeated" or live_probs or not live or not replay:
        return False
    untried = without_attempts(replay, attempts or [])
    replay = [s for s in replay if s not in untried] or replay
    taught = any(TAUGHT_EVIDENCE in e for s in live for e in s["evidence"])
    shapes = all(s["verdict"] == "unknown" and any(SHAPE_EVIDENCE in e for e in s["evidence"])
                 for s in replay)
    return taught and shapes


def judge_cell(cell_dir):
    cell, cls, n_ok, n_failed = truth_of(cell_dir)
    live = live_sessions(cell_dir)
    replay = replay_sessions(cell_dir, cell)
    wrong_from = cell.get("wrong_from")
    attempts = attempt_times(cell_dir)
    live_probs = judge_side(cls, live, "live", wrong_from, attempts)
    replay_probs = judge_side(cls, replay, "replay", wrong_from, attempts)
    explained = ""
    if replay_lacks_history(cls, live, live_probs, replay, attempts):
        replay_probs = []
        explained = "replay of the cell alone lacks the server's pace the daemon learned from other sessions"
    probs = live_probs + replay_probs
    lv, rv = verdict_set(live), verdict_set(replay)
    if lv != rv and cls != "wan-down" and not probs and not explained:
        probs.append((1, f"live ({lv}) and replay ({rv}) disagree"))
    return {"dir": cell_dir, "cell": cell, "truth": cls, "n_ok": n_ok, "n_failed": n_failed,
            "live": lv, "replay": rv, "problems": probs, "explained": explained,
            "severity": max((p[0] for p in probs), default=0)}


def load_known():
    """(variant, server, scenario) -> reason, from tests/lab/matrix/known-failures."""
    known = {}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "known-failures")
    if os.path.exists(path):
        for line in open(path):
            line = line.strip()
            if line and not line.startswith("#"):
                variant, server, scenario, reason = line.split(None, 3)
                known[(variant, server, scenario)] = reason
    return known


def cell_line(r):
    c = r["cell"]
    status = "FAIL" if r["problems"] else "PASS"
    why = "; ".join(p[1] for p in r["problems"])
    return (f"{status} {c['variant']} x {c['server']} x {c['scenario']}: truth {r['truth']} "
            f"(server log: {r['n_ok']} ok, {r['n_failed']} refused; client exit {','.join(map(str, c['exit_codes']))})"
            f"; live {r['live']}; replay {r['replay']}" + (f" -- {why}" if why else "")
            + (f" ({r['explained']})" if r.get("explained") else ""))


def failure_details(r):
    """What a failed cell's log needs to be understood without its directory (CI keeps only the
    log): each session's verdict and evidence on both sides, the router's events (link, probes)
    and the phase times."""
    d, cell = r["dir"], r["cell"]
    out = [f"    cell {os.path.basename(d)}: fault {cell.get('fault') or '-'}; {cell.get('note') or ''}"]
    for side, sessions in (("live", live_sessions(d)), ("replay", replay_sessions(d, cell))):
        for s in sessions:
            span = f"{s['start']:.2f}..{s['end']:.2f}" if s["start"] and s["end"] else "?"
            out.append(f"    {side} {span} {s['verdict']}: " + " | ".join(s["evidence"]))
    for rec in load_jsonl(os.path.join(d, "router.jsonl")):
        ev = rec.get("event", {})
        out.append(f"    router {ev.get('time')} {ev.get('kind')}: {ev.get('message')}")
    phases = os.path.join(d, "phases.txt")
    if os.path.exists(phases):
        out.append("    phases: " + ", ".join(l.strip() for l in open(phases) if l.strip()))
    return "\n".join(out)


def confusion(results, side):
    cols = sorted({r[side] for r in results})
    rows = [t for t in TRUTH_ORDER if any(r["truth"] == t for r in results)]
    counts = Counter((r["truth"], r[side]) for r in results)
    return rows, cols, counts


def text_table(rows, cols, counts):
    w0 = max([len("truth \\ verdict")] + [len(r) for r in rows])
    widths = [max(len(c), 3) for c in cols]
    out = ["  " + "truth \\ verdict".ljust(w0) + "  " + "  ".join(c.rjust(w) for c, w in zip(cols, widths))]
    for r in rows:
        out.append("  " + r.ljust(w0) + "  " + "  ".join(
            (str(counts[(r, c)]) if counts[(r, c)] else ".").rjust(w) for c, w in zip(cols, widths)))
    return "\n".join(out)


def md_table(rows, cols, counts):
    out = ["| truth \\ verdict | " + " | ".join(f"`{c}`" for c in cols) + " |",
           "|---|" + "---:|" * len(cols)]
    for r in rows:
        out.append(f"| {r} | " + " | ".join(str(counts[(r, c)]) if counts[(r, c)] else "" for c in cols) + " |")
    return "\n".join(out)


def subset(lines):
    """The CI subset: every client variant once, its scenario and server taken in turn (so the
    variants spread over the scenarios and servers), then any scenario or server still missing, and
    the known failure users met (a polite client retrying a refused login over IMAPS and POP3S).
    The slow wrong-again scenario is taken once."""
    cells = [tuple(l.split()) for l in lines if l.strip()]
    variants = list(OrderedDict.fromkeys(c[0] for c in cells))
    servers = list(OrderedDict.fromkeys(c[1] for c in cells))
    scenarios = list(OrderedDict.fromkeys(c[2] for c in cells))
    have = set(cells)
    chosen = [c for c in (("python-imaplib", "imap", "polite-retry"),
                          ("python-poplib", "imap", "polite-retry")) if c in have]
    for i, v in enumerate(variants):
        if any(c[0] == v for c in chosen):
            continue
        done = False
        for k in range(len(scenarios)):
            sc = scenarios[(i + k) % len(scenarios)]
            if sc == "wrong-again" and any(c[2] == sc for c in chosen):
                continue
            for j in range(len(servers)):
                cell = (v, servers[(i + j) % len(servers)], sc)
                if cell in have:
                    chosen.append(cell)
                    done = True
                    break
            if done:
                break
    for axis, values in ((2, scenarios), (1, servers)):
        for value in values:
            if not any(c[axis] == value for c in chosen):
                chosen.append(next(c for c in cells if c[axis] == value))
    # Here the one wrong-again cell runs before the WAN outage: no window's pause is needed after it.
    first = ["good", "wrong-once", "wrong-retry", "polite-retry", "wrong-again"]
    order = {c: i for i, c in enumerate(cells)}
    for c in sorted(set(chosen), key=lambda c: (c[2] not in first, order[c])):
        print(" ".join(c))


def report(args):
    cells_dir = os.path.join(args.out, "cells")
    results = [judge_cell(os.path.join(cells_dir, d)) for d in sorted(os.listdir(cells_dir))
               if os.path.exists(os.path.join(cells_dir, d, "cell.json"))]
    known = load_known()
    xfail, xpass = [], []
    for r in results:
        c = r["cell"]
        reason = known.get((c["variant"], c["server"], c["scenario"]))
        if reason and r["problems"]:
            xfail.append((r, reason))
        elif reason:
            xpass.append(r)
    xfailed = {id(r) for r, _ in xfail}
    passed = sum(1 for r in results if not r["problems"] and r not in xpass)
    failed = len(results) - passed - len(xfail)
    print()
    reasons = {id(r): reason for r, reason in xfail}
    for r in results:
        if id(r) in reasons:
            print(f"X{cell_line(r)} -- known: {reasons[id(r)]} (tests/lab/matrix/known-failures)")
        else:
            print(cell_line(r))
    for r in xpass:
        c = r["cell"]
        print(f"XPASS {c['variant']} x {c['server']} x {c['scenario']}: passes now; remove it "
              "from tests/lab/matrix/known-failures")
    down = []
    path = os.path.join(args.out, "server-failures.txt")
    if os.path.exists(path):
        down = [l.strip() for l in open(path) if l.strip()]
    for line in down:
        print(f"FAIL server {line.split(':')[0]} did not come up: {line.split(':', 1)[-1].strip()}")
    failed += len(down)
    args.down = down
    for side in ("live", "replay"):
        rows, cols, counts = confusion(results, side)
        print(f"\nConfusion, {side} (rows: ground truth from the server's log and the injected fault; "
              "columns: the verdicts of the cell's sessions):")
        print(text_table(rows, cols, counts))
    worst = sorted((r for r in results if r["problems"]), key=lambda r: -r["severity"])
    if worst:
        print("\nWorst cells (wrong verdict first):")
        for r in worst[:20]:
            c = r["cell"]
            print(f"  {c['variant']} x {c['server']} x {c['scenario']} [{r['truth']}]: "
                  + "; ".join(p[1] for p in r["problems"]) + f"  ({os.path.relpath(r['dir'], args.out)})")
    if args.table:
        write_markdown(args, results, passed, failed)
        print(f"\nmarkdown table written to {args.table}")
    print(f"\nmatrix: {args.mode}, {len(results)} cells, {args.seconds} s, wrong-again gap {args.gap} s; cells in {args.out}")
    if xfail:
        print(f"known failures: {len(xfail)} (tests/lab/matrix/known-failures)")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


def write_markdown(args, results, passed, failed):
    lines = [f"# mailpulse client x server x scenario matrix ({args.mode})", "",
             f"{len(results)} cells, {passed} passed, {failed} failed; run took {args.seconds} s; "
             f"gap of the wrong-again scenario {args.gap} s. Generated by `tests/lab/run-matrix`.", "",
             "Ground truth: the server's own log (login attempts) and the fault the runner injected. "
             "Verdicts: the final verdict of each of the cell's sessions (`a+b` when they differ).", ""]
    for line in args.down:
        lines += [f"- FAIL: server `{line.split(':')[0]}` did not come up: {line.split(':', 1)[-1].strip()}"]
    if args.down:
        lines.append("")
    for side in ("live", "replay"):
        rows, cols, counts = confusion(results, side)
        lines += [f"## Confusion, {side}", "", md_table(rows, cols, counts), ""]
    worst = sorted((r for r in results if r["problems"]), key=lambda r: -r["severity"])
    if worst:
        lines += ["## Failing cells", "", "| client | server | scenario | truth | live | replay | why |",
                  "|---|---|---|---|---|---|---|"]
        for r in worst:
            c = r["cell"]
            lines.append(f"| {c['variant']} | {c['server']} | {c['scenario']} | {r['truth']} "
                         f"({r['n_ok']} ok, {r['n_failed']} refused) | {r['live']} | {r['replay']} | "
                         + "; ".join(p[1] for p in r["problems"]).replace("|", "/") + " |")
        lines.append("")
    lines += ["## All cells", "", "| client | server | scenario | truth (server log) | live | replay | result |",
              "|---|---|---|---|---|---|---|"]
    for r in results:
        c = r["cell"]
        lines.append(f"| {c['variant']} | {c['server']} | {c['scenario']} | {r['truth']} "
                     f"({r['n_ok']} ok, {r['n_failed']} refused) | {r['live']} | {r['replay']} | "
                     f"{'FAIL' if r['problems'] else 'PASS'} |")
    lines += ["", f"{passed} passed, {failed} failed", ""]
    os.makedirs(os.path.dirname(os.path.abspath(args.table)), exist_ok=True)
    with open(args.table, "w") as f:
        f.write("\n".join(lines))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("subset")
    c = sub.add_parser("cell")
    c.add_argument("dir")
    r = sub.add_parser("report")
    r.add_argument("out")
    r.add_argument("--mode", default="ci")
    r.add_argument("--seconds", default="?")
    r.add_argument("--gap", default="?")
    r.add_argument("--table")
    args = p.parse_args()
    if args.cmd == "subset":
        subset(sys.stdin.read().splitlines())
        return 0
    if args.cmd == "cell":
        r = judge_cell(args.dir)
        print(cell_line(r), flush=True)
        if r["problems"]:
            print(failure_details(r), flush=True)
        return 0
    return report(args)


if __name__ == "__main__":
    sys.exit(main())
