#!/usr/bin/env python3
"""A stand-in for the OPNsense web server around the mailpulse plugin, for the browser test.

It serves
  /ui/dashboard/           a page hosting the plugin's dashboard widget the way OPNsense's widget
                           manager does (construct, translations from the widget's Metadata XML,
                           getMarkup, onMarkupRendered, onWidgetTick every tickTimeout seconds),
                           with standin/base-widgets.js in place of BaseWidget/BaseTableWidget;
  /ui/mailpulse/events/    the plugin's events.volt, its {{ lang._('...') }} rendered as Volt
                           does with no translation, inside a page with standin/uibootgrid.js;
  /ui/js/widgets/<file>    the plugin's widget JavaScript, unmodified;
  /api/mailpulse/...       the plugin's API controllers, each doing what its PHP does: run the
                           configd action from configd/actions_mailpulse.conf (the command line
                           built as configd builds it, through /bin/sh as configd runs it) and
                           wrap the output as OPNsense\\Mailpulse\\Daemon::query does.

The configd actions name /usr/local/bin/mailpulse and the default control socket; here that path
is mapped to a small wrapper that runs $MAILPULSE with `--socket $MAILPULSE_SOCKET` after the
subcommand, so the commands are the configd ones against a live daemon's socket.

Usage: server.py [--port N]   (MAILPULSE and MAILPULSE_SOCKET from the environment)
Prints "listening on http://127.0.0.1:PORT" once it accepts connections.
"""

import argparse
import html
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PLUGIN = ROOT / "packaging" / "opnsense" / "src" / "opnsense"
WIDGETS = PLUGIN / "www" / "js" / "widgets"
VIEWS = PLUGIN / "mvc" / "app" / "views" / "OPNsense" / "Mailpulse"
ACTIONS = ROOT / "configd" / "actions_mailpulse.conf"
STANDIN = HERE / "standin"
VENDOR = HERE / "node_modules"
INSTALLED_BINARY = "/usr/local/bin/mailpulse"

# configd's command-line builder, shared with the packaging tests (no .pyc left in their tree).
sys.dont_write_bytecode = True
sys.path.insert(0, str(ROOT / "tests" / "packaging"))
from configd_emulation import build_command, load_actions  # noqa: E402

# EventsController::PAGE_LIMIT
EVENTS_PAGE_LIMIT = 500

CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".ttf": "font/ttf",
    ".svg": "image/svg+xml",
    ".eot": "application/vnd.ms-fontobject",
    ".map": "application/json",
}


class Configd:
    """Runs actions from actions_mailpulse.conf the way configd's script_output type does."""

    def __init__(self, mailpulse: str, socket: str, workdir: Path):
        self.topic, self.actions = load_actions(ACTIONS)
        self.wrapper = workdir / "mailpulse"
        # The subcommand comes first; --socket is an option of each subcommand.
        self.wrapper.write_text(
            "#!/bin/sh\n"
            'sub="$1"; shift\n'
            f'exec {shlex.quote(mailpulse)} "$sub" --socket {shlex.quote(socket)} "$@"\n'
        )
        self.wrapper.chmod(0o755)

    def run(self, action: str, params=()) -> str:
        """stdout of the action; like errors:no, a non-zero exit still returns the output."""
        command = build_command(self.actions[action], list(params))
        if INSTALLED_BINARY not in command:
            raise RuntimeError(f"configd action [{action}] does not run {INSTALLED_BINARY}: {command}")
        command = command.replace(INSTALLED_BINARY, str(self.wrapper))
        # The plugin installs configd/'s helper scripts (stdout_reason.sh, apply.sh) there.
        command = command.replace("/usr/local/opnsense/scripts/Mailpulse", str(ROOT / "configd"))
        done = subprocess.run(
            ["/bin/sh", "-c", command], capture_output=True, text=True, timeout=30, check=False
        )
        return done.stdout

    def query(self, action: str, params=()) -> dict:
        """OPNsense\\Mailpulse\\Daemon::query."""
        text = self.run(action, params).strip()
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        # PHP's json_decode(..., true) + is_array(): objects and arrays only.
        if not isinstance(data, (dict, list)):
            return {
                "status": "unavailable",
                "message": text or "mailpulse did not answer. Is the service running?",
            }
        return {"status": "ok", "data": data}

    def service_status(self) -> dict:
        """ApiMutableServiceControllerBase::statusAction.

        The real [status] action runs the FreeBSD rc script, which prints "mailpulse is running
        as pid N." when the daemon runs. There is no rc script here; the daemon counts as running
        when it answers on its control socket.
        """
        answer = self.query("state")
        return {"status": "running" if answer["status"] == "ok" else "stopped", "widget": {}}


def events_row(event: dict) -> dict:
    """Api\\EventsController::row."""
    server = event.get("server_name") or event.get("server") or ""
    if event.get("server_port"):
        server = f"{server}:{event['server_port']}"

    def text(key):
        value = event.get(key)
        return "" if value is None else value

    return {
        "id": text("id"),
        "time": text("time"),
        "kind": text("kind"),
        "severity": text("severity"),
        "verdict": text("verdict"),
        "credentials": text("credentials"),
        "client": text("client"),
        "server": server,
        "protocol": text("protocol"),
        "message": text("message"),
        "advice": text("advice"),
    }


def search_recordset(rows: list, request: dict) -> dict:
    """ApiControllerBase::searchRecordsetBase: phrase filter, sort, page."""
    phrase = str(request.get("searchPhrase") or "").lower()
    if phrase:
        rows = [r for r in rows if any(phrase in str(v).lower() for v in r.values())]
    sort = request.get("sort") or {}
    for field, order in reversed(list(sort.items())):
        rows = sorted(rows, key=lambda r: str(r.get(field, "")), reverse=order == "desc")
    total = len(rows)
    try:
        count = int(request.get("rowCount", -1))
        current = max(1, int(request.get("current", 1)))
    except (TypeError, ValueError):
        count, current = -1, 1
    if count > 0:
        rows = rows[(current - 1) * count : current * count]
    return {"total": total, "rowCount": count, "current": current, "rows": rows}


def widget_metadata():
    """(filename, translations) of the plugin's widget, from Metadata/Mailpulse.xml."""
    root = ET.parse(WIDGETS / "Metadata" / "Mailpulse.xml").getroot()
    widget = root.find("mailpulse")
    if widget is None:
        raise RuntimeError("Metadata/Mailpulse.xml has no <mailpulse> widget")
    translations = {t.tag: (t.text or "") for t in widget.find("translations")}
    endpoints = [e.text for e in widget.find("endpoints")]
    return widget.findtext("filename"), translations, endpoints


def render_volt(path: Path) -> str:
    """The only Volt the events view uses: {{ lang._('text') }} (no translation loaded)."""
    source = path.read_text()
    source = re.sub(r"\{#.*?#\}", "", source, flags=re.S)

    def lang(match):
        return match.group(2)

    return re.sub(r"\{\{\s*lang\._\((['\"])(.*?)\1\)\s*\}\}", lang, source)


PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<link rel="stylesheet" href="/vendor/bootstrap/dist/css/bootstrap.min.css">
<link rel="stylesheet" href="/vendor/font-awesome/css/font-awesome.min.css">
<link rel="stylesheet" href="/standin/opnsense.css">
<script src="/vendor/jquery/dist/jquery.min.js"></script>
{head}
</head>
<body>
<header class="page-head"><span class="brand">OPNsense</span> <span class="crumb">{crumb}</span></header>
<main class="page-content-main">
{body}
</main>
</body>
</html>
"""


def dashboard_page() -> str:
    filename, translations, endpoints = widget_metadata()
    config = {"module": filename, "translations": translations, "endpoints": endpoints}
    head = (
        '<script src="/standin/base-widgets.js"></script>\n'
        f"<script>window.MAILPULSE_WIDGET = {json.dumps(config)};</script>\n"
        '<script type="module" src="/standin/widget-manager.js"></script>'
    )
    body = '<div id="grid" class="dashboard-grid"></div>'
    return PAGE.format(title="Dashboard", crumb="Lobby: Dashboard", head=head, body=body)


def events_page() -> str:
    head = '<script src="/standin/uibootgrid.js"></script>'
    body = render_volt(VIEWS / "events.volt")
    return PAGE.format(
        title="Services: MailPulse: Events", crumb="Services: MailPulse: Events", head=head, body=body
    )


class Handler(BaseHTTPRequestHandler):
    configd: Configd = None  # set in main()

    def log_message(self, fmt, *args):
        if os.environ.get("MPB_SERVER_LOG"):
            sys.stderr.write("server: " + (fmt % args) + "\n")

    def send(self, code: int, body: bytes, content_type: str):
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def send_json(self, value, code=200):
        self.send(code, json.dumps(value).encode(), "application/json; charset=utf-8")

    def send_file(self, base: Path, rel: str):
        path = (base / rel).resolve()
        if base.resolve() not in path.parents or not path.is_file():
            self.send(404, f"not found: {html.escape(rel)}".encode(), "text/plain")
            return
        self.send(200, path.read_bytes(), CONTENT_TYPES.get(path.suffix, "application/octet-stream"))

    def body_json(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            value = json.loads(raw or b"{}")
        except ValueError:
            value = {k: v[0] for k, v in parse_qs(raw.decode(errors="replace")).items()}
        return value if isinstance(value, dict) else {}

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    def route(self, method: str):
        url = urlparse(self.path)
        path = unquote(url.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        configd = self.configd
        try:
            if path == "/favicon.ico":
                self.send(204, b"", "image/x-icon")
            elif path in ("/ui/dashboard", "/ui/dashboard/"):
                self.send(200, dashboard_page().encode(), CONTENT_TYPES[".html"])
            elif path in ("/ui/mailpulse/events", "/ui/mailpulse/events/"):
                self.send(200, events_page().encode(), CONTENT_TYPES[".html"])
            elif path.startswith("/ui/js/widgets/"):
                self.send_file(WIDGETS, path[len("/ui/js/widgets/") :])
            elif path.startswith("/standin/"):
                self.send_file(STANDIN, path[len("/standin/") :])
            elif path.startswith("/vendor/"):
                self.send_file(VENDOR, path[len("/vendor/") :])
            elif path == "/api/mailpulse/service/status":
                self.send_json(configd.service_status())
            elif path == "/api/mailpulse/status/state":
                self.send_json(configd.query("state"))
            elif path == "/api/mailpulse/status/clients":
                self.send_json(configd.query("clients"))
            elif path == "/api/mailpulse/events/failures":
                # EventsController::failuresAction: limit 1..100, default 10.
                try:
                    limit = int(query.get("limit", 10))
                except ValueError:
                    limit = 10
                limit = max(1, min(100, limit))
                self.send_json(configd.query("failures", [str(limit)]))
            elif path == "/api/mailpulse/events/search":
                request = self.body_json() if method == "POST" else query
                answer = configd.query("events", [str(EVENTS_PAGE_LIMIT)])
                rows = []
                if answer["status"] == "ok" and isinstance(answer["data"], list):
                    rows = [events_row(e) for e in reversed(answer["data"]) if isinstance(e, dict)]
                self.send_json(search_recordset(rows, request))
            elif path.startswith("/api/mailpulse/explain/client"):
                ip = path[len("/api/mailpulse/explain/client") :].strip("/") or query.get("ip", "")
                self.send_json(configd.query("explain", [ip]))
            else:
                self.send(404, f"not found: {html.escape(path)}".encode(), "text/plain")
        except (BrokenPipeError, ConnectionResetError):
            pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: any free)")
    args = parser.parse_args()
    mailpulse = os.environ.get("MAILPULSE")
    socket = os.environ.get("MAILPULSE_SOCKET")
    if not mailpulse or not socket:
        sys.exit("server.py: MAILPULSE and MAILPULSE_SOCKET must be set (live-daemon.sh sets them)")
    for path in (WIDGETS / "Mailpulse.js", VIEWS / "events.volt", ACTIONS):
        if not path.is_file():
            sys.exit(f"server.py: missing {path}")
    # The test stops the server with SIGTERM; leave through the with-block so its files go.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with tempfile.TemporaryDirectory(prefix="mpb-server.") as workdir:
        Handler.configd = Configd(mailpulse, socket, Path(workdir))
        httpd = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
        print(f"listening on http://127.0.0.1:{httpd.server_address[1]}", flush=True)
        try:
            httpd.serve_forever()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
