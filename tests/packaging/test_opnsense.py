"""packaging/opnsense (os-mailpulse): PHP syntax, XML, the model lint rules, configd
templates rendered as configd renders them, ACL coverage and the dashboard widget.

The rules are those of opnsense-plugin.md (opnsense/core Mk/lint.mk lint-model,
Scripts/dashboard-acl.sh, template.py, ApiMutableServiceControllerBase).
"""

import json
import re
import subprocess
import tomllib
import xml.etree.ElementTree as ET

import pytest

from conftest import OPNSENSE, OPNSENSE_SRC, REPO, mailpulse_binary, require_tool
from opnsense_templates import render_module

MVC = OPNSENSE_SRC / "opnsense" / "mvc" / "app"
MODEL_DIR = MVC / "models" / "OPNsense" / "Mailpulse"
CONTROLLERS = MVC / "controllers" / "OPNsense" / "Mailpulse"
TEMPLATES = OPNSENSE_SRC / "opnsense" / "service" / "templates"
WIDGETS = OPNSENSE_SRC / "opnsense" / "www" / "js" / "widgets"
HARNESS = REPO / "tests" / "packaging" / "harness"


def all_files(*suffixes):
    return sorted(p for p in OPNSENSE.rglob("*") if p.is_file() and p.suffix in suffixes)


# --- files ---------------------------------------------------------------------------------


def test_php_lint():
    php = require_tool("php", "php-cli")
    files = all_files(".php", ".inc")
    assert len(files) >= 10
    for path in files:
        out = subprocess.run([php, "-l", str(path)], capture_output=True, text=True)
        assert out.returncode == 0, out.stdout + out.stderr


def test_xml_well_formed():
    files = all_files(".xml")
    assert len(files) >= 5
    for path in files:
        ET.parse(path)


def test_plugin_makefile_and_descr():
    make = (OPNSENSE / "Makefile").read_text()
    for var in ("PLUGIN_NAME", "PLUGIN_VERSION", "PLUGIN_COMMENT"):
        assert re.search(rf"^{var}=\s*\S", make, re.M), var
    assert re.search(r"^PLUGIN_NAME=\s*mailpulse$", make, re.M)
    # The daemon comes from the FreeBSD package built by packaging/freebsd.
    assert re.search(r"^PLUGIN_DEPENDS=\s*mailpulse$", make, re.M)
    assert '.include "../../Mk/plugins.mk"' in make
    assert re.search(r"^WWW: https?://", (OPNSENSE / "pkg-descr").read_text(), re.M)


def test_actions_file_is_the_configd_source():
    link = OPNSENSE_SRC / "opnsense/service/conf/actions.d/actions_mailpulse.conf"
    assert link.resolve() == (REPO / "configd" / "actions_mailpulse.conf").resolve()


# --- model -----------------------------------------------------------------------------------


def model():
    return ET.parse(MODEL_DIR / "Mailpulse.xml").getroot()


def fields():
    return {f.tag: f for f in model().find("items/general")}


def test_model_lint_rules():
    text = (MODEL_DIR / "Mailpulse.xml").read_text()
    root = model()
    assert root.find("mount").text == "//OPNsense/Mailpulse"
    assert re.search(r"<description>[^\n<]+</description>", text), "description on one line"
    for name, field in fields().items():
        required = field.findtext("Required")
        assert required != "N" and field.findtext("Multiple") != "N", name
        if field.find("Default") is not None:
            assert required == "Y", f"{name}: Default on a non-required field"
        message = field.findtext("ValidationMessage")
        if message is not None:
            assert message[0].isupper() and message.endswith("."), name
        options = field.find("OptionValues")
        if options is not None:
            for option in options:
                label = (option.text or "").strip()
                value = option.get("value", option.tag)
                # Empty labels show blank before 26.1.9; key == label fails 26.1.9+ lint.
                assert label, f"{name}: option {value} has no label"
                assert label != value, f"{name}: option {value} label equals its key"
        if field.get("type") == "CSVListField" and field.find("Mask") is not None:
            assert field.findtext("MaskPerItem") == "Y", f"{name}: Mask needs MaskPerItem"


def test_model_has_the_settings():
    f = fields()
    assert f["enabled"].get("type") == "BooleanField"
    for name in ("wan_interfaces", "lan_interfaces"):
        assert f[name].get("type") == "InterfaceField" and f[name].findtext("Multiple") == "Y"
    assert f["targets"].get("type") == "CSVListField"
    for name in ("interval", "timeout", "window", "slow_dns", "slow_server", "evidence_ring"):
        assert f[name].get("type") == "IntegerField"
    # 0 switches the evidence ring off.
    assert f["evidence_ring"].findtext("MinimumValue") == "0"
    levels = [o.tag for o in f["log_level"].find("OptionValues")]
    assert levels == ["error", "warn", "info", "debug", "trace"]


def test_target_mask_accepts_urls_and_rejects_garbage():
    mask = fields()["targets"].findtext("Mask")
    pattern = re.compile(mask.strip("/").replace("\\/", "/"))
    for good in ("imaps://imap.gmail.com", "pop3s://outlook.office365.com:995",
                 "submission://smtp.example.org:587", "imap://10.0.0.5"):
        assert pattern.match(good), good
    for bad in ("https://example.com", "imaps://", "imaps://host;rm -rf /", "imaps://a b"):
        assert not pattern.match(bad), bad


def test_form_and_model_agree():
    form = ET.parse(CONTROLLERS / "forms" / "settings.xml").getroot()
    ids = [f.findtext("id") for f in form.findall("field")]
    assert all(i.startswith("mailpulse.general.") for i in ids)
    assert {i.split(".")[-1] for i in ids} == set(fields())


# --- templates -------------------------------------------------------------------------------


def opnsense_config(general):
    return {
        "interfaces": {"wan": {"if": "igb0"}, "lan": {"if": "igb1"}, "opt1": {"if": "vlan0.20"}},
        "OPNsense": {"Mailpulse": {"general": general}} if general is not None else {},
    }


FULL = {
    "enabled": "1",
    "wan_interfaces": "wan",
    "lan_interfaces": "lan,opt1",
    "targets": "imaps://imap.gmail.com,pop3s://outlook.office365.com:995",
    "interval": "45",
    "timeout": "8",
    "window": "120",
    "slow_dns": "1500",
    "slow_server": "4000",
    "log_level": "debug",
    "evidence_ring": "64",
}
TOML_TARGET = "/usr/local/etc/mailpulse/mailpulse.toml"
RC_TARGET = "/etc/rc.conf.d/mailpulse"


def render(general):
    return render_module(TEMPLATES, "OPNsense/Mailpulse", opnsense_config(general))


def test_targets_point_where_the_rc_script_looks():
    rendered = render(FULL)
    assert set(rendered) == {TOML_TARGET, RC_TARGET}
    rc = (REPO / "rc.d" / "mailpulse").read_text().replace("%%PREFIX%%", "/usr/local")
    assert f'mailpulse_config="{TOML_TARGET}"' in rc
    # load_rc_config reads /etc/rc.conf.d/$name.
    assert re.search(r"^name=(\S+)$", rc, re.M).group(1) == RC_TARGET.rsplit("/", 1)[1]


def test_rendered_toml_has_the_settings():
    data = tomllib.loads(render(FULL)[TOML_TARGET])
    assert data["wan"]["interfaces"] == ["igb0"]
    assert data["lan"]["interfaces"] == ["igb1", "vlan0.20"]
    assert data["probe"]["targets"] == ["imaps://imap.gmail.com", "pop3s://outlook.office365.com:995"]
    assert data["probe"]["interval"] == "45s" and data["probe"]["timeout"] == "8s"
    assert data["diagnosis"] == {"window": "120s", "slow_dns": "1500ms", "slow_server": "4000ms"}
    assert data["daemon"]["log_level"] == "debug"
    assert data["daemon"]["socket"] == "/var/run/mailpulse.sock"
    assert data["capture"]["evidence_ring"] == "64MB"


def test_evidence_ring_off_and_default():
    off = tomllib.loads(render({**FULL, "evidence_ring": "0"})[TOML_TARGET])
    assert off["capture"]["evidence_ring"] == 0
    default = tomllib.loads(render({"enabled": "1"})[TOML_TARGET])
    assert default["capture"]["evidence_ring"] == "16MB"


def test_rendered_toml_with_defaults_and_no_saved_settings():
    for general in (None, {"enabled": "0"}):
        data = tomllib.loads(render(general)[TOML_TARGET])
        assert data["wan"]["interfaces"] == [] and data["lan"]["interfaces"] == []
        assert "targets" not in data["probe"], "no targets: the daemon's defaults apply"
        assert data["probe"]["interval"] == "30s"
        assert data["diagnosis"]["slow_dns"] == "2000ms"


def test_rendered_toml_passes_check_config(tmp_path):
    binary = mailpulse_binary()
    for name, general in (("full", FULL), ("empty", None),
                          ("ring-off", {**FULL, "evidence_ring": "0"})):
        path = tmp_path / f"{name}.toml"
        path.write_text(render(general)[TOML_TARGET])
        out = subprocess.run([binary, "check-config", "-c", str(path)], capture_output=True,
                             text=True, timeout=30)
        assert out.returncode == 0, f"{name}: {out.stdout}{out.stderr}\n{path.read_text()}"


def rc_conf_value(text, tmp_path):
    conf = tmp_path / "mailpulse.rc"
    conf.write_text(text)
    out = subprocess.run(["sh", "-c", f'. "{conf}"; printf %s "$mailpulse_enable"'],
                         capture_output=True, text=True, check=True)
    return out.stdout


def test_rc_conf_d_enables_and_disables(tmp_path):
    assert rc_conf_value(render(FULL)[RC_TARGET], tmp_path) == "YES"
    assert rc_conf_value(render(dict(FULL, enabled="0"))[RC_TARGET], tmp_path) == "NO"
    assert rc_conf_value(render(None)[RC_TARGET], tmp_path) == "NO"


def test_syslog_local_filter_matches_the_program_name():
    text = (TEMPLATES / "OPNsense/Syslog/local/mailpulse.conf").read_text()
    assert re.findall(r"filter (\w+) \{", text) == ["f_local_mailpulse"]
    assert 'program("mailpulse");' in text
    rc = (REPO / "rc.d" / "mailpulse").read_text()
    assert "-T ${name}" in rc  # daemon(8) tags stray output with the same program name


# --- controllers, ACL, menu ------------------------------------------------------------------


BASE_ACTIONS = {
    "settings": {"get", "set"},
    "service": {"start", "stop", "restart", "reconfigure", "status"},
}


def api_urls(text):
    return set(re.findall(r"/api/mailpulse/([a-z_]+)/([a-z_]+)", text))


def camel(snake):
    head, *rest = snake.split("_")
    return head + "".join(p.title() for p in rest)


def test_every_api_url_used_has_an_action():
    sources = [p for p in OPNSENSE.rglob("*") if p.suffix in (".volt", ".js", ".xml")]
    used = set().union(*(api_urls(p.read_text()) for p in sources))
    assert ("events", "search") in used and ("status", "state") in used
    for controller, action in used:
        php = CONTROLLERS / "Api" / f"{camel(controller).title()}Controller.php"
        assert php.exists(), f"/api/mailpulse/{controller}: no {php.name}"
        if action in BASE_ACTIONS.get(controller, set()):
            continue
        assert re.search(rf"function {camel(action)}Action\(", php.read_text()), \
            f"/api/mailpulse/{controller}/{action}"


def test_service_controller_matches_configd_and_template():
    text = (CONTROLLERS / "Api" / "ServiceController.php").read_text()
    assert "$internalServiceName = 'mailpulse';" in text
    assert "$internalServiceTemplate = 'OPNsense/Mailpulse';" in text
    assert "$internalServiceEnabled = 'general.enabled';" in text
    assert (TEMPLATES / "OPNsense" / "Mailpulse" / "+TARGETS").exists()


def acl_patterns():
    root = ET.parse(MODEL_DIR / "ACL" / "ACL.xml").getroot()
    return [p.text for p in root.iter("pattern")]


def acl_allows(url, patterns=None):
    """opnsense/core ACL::urlMatch: the mask as a regex ("*" any text) against "/" + pattern;
    a trailing /* also matches the bare path."""
    for pattern in acl_patterns() if patterns is None else patterns:
        if re.fullmatch("/" + re.escape(pattern).replace(r"\*", ".*"), url):
            return True
        if pattern.endswith("/*") and url == "/" + pattern[:-2]:
            return True
    return False


def privileges():
    root = ET.parse(MODEL_DIR / "ACL" / "ACL.xml").getroot()
    return {p.tag: [x.text for x in p.iter("pattern")] for p in root}


def test_acl_separates_viewing_settings_and_service_control():
    privs = privileges()
    view = privs["page-services-mailpulse-status"]
    settings = privs["page-services-mailpulse-settings"]
    service = privs["page-services-mailpulse-service"]
    for url in ("/ui/mailpulse/events/", "/api/mailpulse/events/search",
                "/api/mailpulse/status/state", "/api/mailpulse/service/status",
                "/api/mailpulse/explain/client/192.0.2.1"):
        assert acl_allows(url, view), url
    for url in ("/api/mailpulse/settings/set", "/api/mailpulse/service/start",
                "/api/mailpulse/service/stop", "/api/mailpulse/service/reconfigure",
                "/ui/mailpulse/"):
        assert not acl_allows(url, view), f"viewing must not allow {url}"
    assert acl_allows("/api/mailpulse/settings/set", settings)
    assert acl_allows("/ui/mailpulse/", settings)
    for url in ("/api/mailpulse/service/start", "/api/mailpulse/service/reconfigure"):
        assert not acl_allows(url, settings), url
        assert acl_allows(url, service), url
    assert not acl_allows("/api/mailpulse/settings/set", service)
    # One pattern per controller; no blanket api/mailpulse/* (dashboard ACL lint).
    assert "api/mailpulse/*" not in sum(privs.values(), [])


def test_menu_urls_are_covered_by_the_acl():
    root = ET.parse(MODEL_DIR / "Menu" / "Menu.xml").getroot()
    urls = [e.get("url") for e in root.iter() if e.get("url")]
    assert "/ui/diagnostics/log/core/mailpulse" in urls
    for url in urls:
        assert acl_allows(url), url


def test_services_pidfile_is_the_rc_supervisor_pidfile():
    inc = (OPNSENSE_SRC / "etc/inc/plugins.inc.d/mailpulse.inc").read_text()
    pid = re.search(r"MAILPULSE_PIDFILE = '([^']+)'", inc).group(1)
    rc = (REPO / "rc.d" / "mailpulse").read_text()
    rundir = re.search(r': \$\{mailpulse_rundir="([^"]+)"\}', rc).group(1)
    assert re.search(r'^pidfile="\$\{mailpulse_rundir\}/\$\{name\}\.pid"$', rc, re.M)
    assert pid == f"{rundir}/mailpulse.pid"
    for hook in ("mailpulse_services", "mailpulse_syslog", "mailpulse_xmlrpc_sync",
                 "mailpulse_configure"):
        assert re.search(rf"^function {hook}\(", inc, re.M), hook
    assert "'newwanip'" in inc


# --- widget ------------------------------------------------------------------------------------


def widget_metadata():
    return ET.parse(WIDGETS / "Metadata" / "Mailpulse.xml").getroot().find("mailpulse")


def test_widget_endpoints_equal_its_ajax_calls():
    js = (WIDGETS / "Mailpulse.js").read_text()
    assert "extends BaseTableWidget" in js and "import " not in js
    calls = set(re.findall(r"this\.ajaxCall\(\s*['\"`]([^'\"`]+)['\"`]", js))
    calls |= set(re.findall(r"openEventSource\(\s*['\"`]([^'\"`]+)['\"`]", js))
    endpoints = {e.text for e in widget_metadata().iter("endpoint")}
    assert calls == endpoints
    assert widget_metadata().findtext("filename") == "Mailpulse.js"
    for endpoint in endpoints:
        assert acl_allows(endpoint), f"{endpoint} not covered by ACL.xml"


def test_widget_translations_cover_what_the_js_uses():
    js = (WIDGETS / "Mailpulse.js").read_text()
    used = set(re.findall(r"this\.translations\.(\w+)", js))
    defined = {t.tag for t in widget_metadata().find("translations")}
    assert used <= defined, used - defined
    assert "title" in defined


def duration(ms):
    return {"secs": ms // 1000, "nanos": (ms % 1000) * 1_000_000}


def event(eid, verdict, credentials, client, server_name, kind="session-failed"):
    return {"id": eid, "time": "2026-11-22T05:00:00Z", "kind": kind, "severity": "warning",
            "verdict": verdict, "credentials": credentials, "client": client,
            "server_name": server_name, "server": "192.0.2.7", "server_port": 993,
            "protocol": "imap", "message": "m", "advice": None, "session": None, "evidence": []}


WIDGET_FIXTURES = {
    "/api/mailpulse/service/status": {"status": "running", "widget": {}},
    "/api/mailpulse/status/state": {"status": "ok", "data": {
      "version": "0.1.0", "uptime_seconds": 60, "engine": {
        "wan": {"state": "up", "interfaces": [], "last_change": None},
        "gateways": [], "counters": {}, "firewall": None,
        "probes": [
            {"target": "imaps://imap.gmail.com", "state": "ok", "last_ok": None,
             "consecutive_failures": 0,
             "last": {"phases": [{"phase": "dns", "duration": duration(12)},
                                 {"phase": "connect", "duration": duration(30)},
                                 {"phase": "tls", "duration": duration(58)}],
                      "failure": None}},
            {"target": "pop3s://outlook.office365.com", "state": "failed", "last_ok": None,
             "consecutive_failures": 3,
             "last": {"phases": [{"phase": "dns", "duration": duration(5)}],
                      "failure": {"phase": "connect", "error": "timed out after 10 s"}}},
        ]}}},
    "/api/mailpulse/events/failures": {"status": "ok", "data": [
        event(1, "auth-rejected", "rejected", "192.168.1.20", "outlook.office365.com"),
        event(2, "wan-down", "not-at-fault", None, None, kind="wan-down"),
        event(3, "state-expired", "not-at-fault", "192.168.1.<b>21</b>", "imap.gmail.com"),
    ]},
}


def run_widget(tmp_path, fixtures):
    node = require_tool("node", "nodejs")
    fixture_file = tmp_path / "fixtures.json"
    fixture_file.write_text(json.dumps(fixtures))
    translations = tmp_path / "translations.json"
    translations.write_text(json.dumps({t.tag: t.text for t in widget_metadata().find("translations")}))
    out = subprocess.run([node, str(HARNESS / "widget.mjs"), str(WIDGETS / "Mailpulse.js"),
                          str(fixture_file), str(translations)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_widget_renders_wan_probes_and_failures(tmp_path):
    result = run_widget(tmp_path, WIDGET_FIXTURES)
    assert set(result["calls"]) == {e.text for e in widget_metadata().iter("endpoint")}
    health = result["tables"]["mailpulse-health"]["rows"]
    assert health[0][0] == "WAN" and "text-success" in health[0][1] and "up" in health[0][1]
    gmail = next(r for r in health if r[0] == "imaps://imap.gmail.com")
    assert "text-success" in gmail[1] and "(100 ms)" in gmail[1]  # 12 + 30 + 58 ms
    outlook = next(r for r in health if r[0] == "pop3s://outlook.office365.com")
    assert "text-danger" in outlook[1] and "timed out after 10 s" in outlook[1]

    failures = result["tables"]["mailpulse-failures"]["rows"]
    assert len(failures) == 2, "only failed sessions, not the wan-down event"
    newest, older = failures
    assert "state-expired" in newest[3] and "text-warning" in newest[3]
    assert "text-warning" in newest[4] and "Not at fault" in newest[4]
    assert "&lt;b&gt;" in newest[1] and "<b>" not in newest[1], "client text is escaped"
    assert "auth-rejected" in older[3] and "text-danger" in older[3]
    assert "text-danger" in older[4] and "Rejected" in older[4]


def test_widget_when_service_is_stopped(tmp_path):
    result = run_widget(tmp_path, {"/api/mailpulse/service/status": {"status": "stopped"}})
    assert result["calls"] == ["/api/mailpulse/service/status"]
    rows = result["tables"]["mailpulse-health"]["rows"]
    assert "not running" in rows[0][1]


# --- Apply: the daemon's answer reaches the page --------------------------------------------------


def apply_answer(answer, tmp_path):
    """ServiceController::applyAnswer() run with php-cli, core's base classes stubbed."""
    php = require_tool("php", "php-cli")
    script = tmp_path / "apply.php"
    script.write_text(
        "<?php\nnamespace OPNsense\\Base { class ApiMutableServiceControllerBase {}\n"
        "  class UserException extends \\Exception {} }\n"
        "namespace { if (!function_exists('gettext')) { function gettext($s) { return $s; } }\n"
        f"  require '{CONTROLLERS / 'Api' / 'ServiceController.php'}';\n"
        "  echo json_encode(\\OPNsense\\Mailpulse\\Api\\ServiceController::applyAnswer("
        "stream_get_contents(STDIN))); }\n")
    out = subprocess.run([php, str(script)], input=answer, capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(out.stdout)


def test_apply_shows_the_sentence_or_the_reason(tmp_path):
    ok = apply_answer("ok\nApplied: probe interval 30s -> 60s.\n", tmp_path)
    assert ok == {"status": "ok", "message": "Applied: probe interval 30s -> 60s."}
    # A refusal is the status itself, so the Apply button's own error dialog shows it.
    refused = apply_answer("failed 78\n/usr/local/etc/mailpulse/mailpulse.toml:3:1: unknown key\n",
                           tmp_path)
    assert refused["status"] == refused["message"] == \
        "/usr/local/etc/mailpulse/mailpulse.toml:3:1: unknown key"
    # configd's empty answer (timeout, or "Execute error" turned into '') is not success.
    silent = apply_answer("", tmp_path)
    assert silent["status"] != "ok" and "did not answer" in silent["message"]
