"""packaging/pfsense (pfSense-pkg-mailpulse): PHP syntax, XML, the package layout rules of
freebsd-packaging.md §4, the TOML the package writes, and the widget run against a stub CLI.
"""

import json
import re
import subprocess
import tomllib
import xml.etree.ElementTree as ET

import pytest

from conftest import PFSENSE, REPO, mailpulse_binary, require_tool

FILES = PFSENSE / "files"
PKG_XML = FILES / "usr/local/pkg/mailpulse.xml"
INC = FILES / "usr/local/pkg/mailpulse.inc"
TOML_INC = FILES / "usr/local/pkg/mailpulse/mailpulse_toml.inc"
WIDGET = FILES / "usr/local/www/widgets/widgets/mailpulse.widget.php"
STATUS_PAGE = FILES / "usr/local/www/mailpulse_status.php"


def php_files():
    return sorted(p for p in PFSENSE.rglob("*") if p.suffix in (".php", ".inc"))


def test_php_lint():
    php = require_tool("php", "php-cli")
    assert len(php_files()) >= 6
    for path in php_files():
        out = subprocess.run([php, "-l", str(path)], capture_output=True, text=True)
        assert out.returncode == 0, out.stdout + out.stderr


def test_xml_well_formed():
    files = sorted(PFSENSE.rglob("*.xml"))
    assert len(files) >= 2
    for path in files:
        ET.parse(path)


def test_package_xml():
    root = ET.parse(PKG_XML).getroot()
    assert root.tag == "packagegui" and root.findtext("name") == "mailpulse"
    assert root.findtext("include_file") == "/usr/local/pkg/mailpulse.inc"
    rcfile = root.findtext("service/rcfile")
    assert rcfile == "mailpulse.sh", "pfSense starts only /usr/local/etc/rc.d/*.sh"
    inc = INC.read_text()
    for hook in ("custom_php_validation_command", "custom_php_resync_config_command",
                 "custom_php_pre_deinstall_command"):
        call = root.findtext(hook).strip()
        function = re.match(r"(\w+)\(", call).group(1)
        assert re.search(rf"^function {function}\(", inc, re.M), hook
    names = {f.findtext("fieldname") for f in root.iter("field")}
    assert {"enable", "wan_interfaces", "lan_interfaces", "targets", "interval", "slow_dns",
            "slow_server", "log_level", "evidence_ring"} <= names
    # 2.7.2 installs only the first menu of a name, whatever its section.
    menus = [m.findtext("name").strip() for m in root.findall("menu")]
    assert len(menus) == len(set(menus)) == 2, menus
    for option in root.iter("option"):
        assert option.findtext("name") != option.findtext("value"), "options need labels"
    for name in ("wan_interfaces", "lan_interfaces"):
        field = next(f for f in root.iter("field") if f.findtext("fieldname") == name)
        assert field.findtext("type") == "interfaces_selection" and field.find("multiple") is not None


def test_rc_file_written_with_write_rcfile():
    inc = INC.read_text()
    call = re.search(r"write_rcfile\(\[(.*?)\]\);", inc, re.S).group(1)
    assert "'file' => 'mailpulse.sh'" in call
    assert "MAILPULSE_RC . ' onestart'" in call and "MAILPULSE_RC . ' onestop'" in call
    assert 'define("MAILPULSE_RC", "/usr/local/etc/rc.d/mailpulse");' in inc
    assert 'define("MAILPULSE_RCFILE", "/usr/local/etc/rc.d/mailpulse.sh");' in inc


def test_info_xml_and_install_scripts():
    info = ET.parse(FILES / "usr/local/share/pfSense-pkg-mailpulse/info.xml").getroot()
    package = info.find("package")
    assert package.findtext("name") == "mailpulse"
    assert package.findtext("version") == "%%PKGVERSION%%"
    assert package.findtext("configurationfile") == "mailpulse.xml"
    install = (FILES / "pkg-install.in").read_text()
    assert 'if [ "${2}" != "POST-INSTALL" ]' in install
    assert "/usr/local/bin/php -f /etc/rc.packages %%PORTNAME%% ${2}" in install
    assert "/usr/local/bin/php -f /etc/rc.packages %%PORTNAME%% ${2}" in \
        (FILES / "pkg-deinstall.in").read_text()


def plist_to_files():
    result = {}
    for line in (PFSENSE / "pkg-plist").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("@"):
            continue
        line = line.replace("%%DATADIR%%", "share/pfSense-pkg-mailpulse")
        source = FILES / line.lstrip("/") if line.startswith("/") else FILES / "usr/local" / line
        result[line] = source
    return result


def test_plist_matches_files_and_makefile():
    plist = plist_to_files()
    for line, source in plist.items():
        assert source.is_file(), f"pkg-plist lists {line}; {source} is missing"
    shipped = {p for p in FILES.rglob("*") if p.is_file() and p.parent != FILES}
    assert shipped == set(plist.values()), "every file under files/ is in pkg-plist"
    make = (PFSENSE / "Makefile").read_text()
    for source in plist.values():
        assert source.name in make, f"Makefile does not install {source.name}"
    assert re.search(r"^RUN_DEPENDS=\s*mailpulse>0:net-mgmt/mailpulse$", make, re.M)
    assert re.search(r"^NO_BUILD=\s*yes$", make, re.M)


def test_privileges_separate_viewing_from_settings():
    priv = (FILES / "etc/inc/priv/mailpulse.priv.inc").read_text()
    matches = {}
    for name, match in re.findall(r"\$priv_list\['([\w-]+)'\]\['match'\]\[\] = \"([^\"]+)\";", priv):
        matches.setdefault(name, set()).add(match)
    assert matches == {
        "page-status-mailpulse": {"mailpulse_status.php*", "widgets/widgets/mailpulse.widget.php*"},
        "page-services-mailpulse": {"pkg_edit.php?xml=mailpulse.xml*"},
    }


# --- the TOML the package writes -------------------------------------------------------------


def php_eval(code, tmp_path):
    php = require_tool("php", "php-cli")
    script = tmp_path / "run.php"
    script.write_text(f"<?php\nrequire '{TOML_INC}';\n{code}\n")
    out = subprocess.run([php, str(script)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


SETTINGS = {
    "enable": "on",
    "wan_interfaces": "wan",
    "lan_interfaces": "lan,opt1",
    "targets": "imaps://imap.gmail.com\r\npop3s://outlook.office365.com:995\r\n",
    "interval": "45",
    "slow_dns": "1500",
    "slow_server": "4000",
    "log_level": "debug",
    "evidence_ring": "32",
}
DEVICES = {"wan": "igb0", "lan": "igb1", "opt1": "igb1.20"}


def render_toml(settings, tmp_path):
    code = (f"$devices = json_decode({json.dumps(json.dumps(DEVICES))}, true);\n"
            f"$settings = json_decode({json.dumps(json.dumps(settings))}, true);\n"
            "echo mailpulse_render_toml($settings, function ($n) use ($devices) {"
            " return $devices[$n] ?? ''; });")
    return php_eval(code, tmp_path)


def test_rendered_toml(tmp_path):
    data = tomllib.loads(render_toml(SETTINGS, tmp_path))
    assert data["wan"]["interfaces"] == ["igb0"]
    assert data["lan"]["interfaces"] == ["igb1", "igb1.20"]
    assert data["probe"]["targets"] == ["imaps://imap.gmail.com", "pop3s://outlook.office365.com:995"]
    assert data["probe"]["interval"] == "45s"
    assert data["diagnosis"] == {"slow_dns": "1500ms", "slow_server": "4000ms"}
    assert data["daemon"]["log_level"] == "debug"
    assert data["capture"]["evidence_ring"] == "32MB"
    off = tomllib.loads(render_toml({**SETTINGS, "evidence_ring": "0"}, tmp_path))
    assert off["capture"]["evidence_ring"] == 0
    empty = tomllib.loads(render_toml({}, tmp_path))
    assert empty["capture"]["evidence_ring"] == "16MB"
    assert empty["wan"]["interfaces"] == [] and "targets" not in empty["probe"]
    assert empty["probe"]["interval"] == "30s" and empty["daemon"]["log_level"] == "info"


def test_rendered_toml_passes_check_config(tmp_path):
    binary = mailpulse_binary()
    for name, settings in (("full", SETTINGS), ("empty", {}),
                           ("ring-off", {**SETTINGS, "evidence_ring": "0"})):
        path = tmp_path / f"{name}.toml"
        path.write_text(render_toml(settings, tmp_path))
        out = subprocess.run([binary, "check-config", "-c", str(path)], capture_output=True,
                             text=True, timeout=30)
        assert out.returncode == 0, out.stdout + out.stderr


def test_validation(tmp_path):
    bad = {"targets": "imaps://imap.gmail.com\nhttps://example.com\nimaps://x;reboot",
           "interval": "2", "slow_dns": "abc", "slow_server": "5000", "log_level": "loud",
           "evidence_ring": "2048"}
    errors = json.loads(php_eval(
        f"echo json_encode(mailpulse_settings_errors(json_decode({json.dumps(json.dumps(bad))}, true)));",
        tmp_path))
    text = " ".join(errors)
    assert len(errors) == 6, errors
    assert "evidence_ring" in text
    assert "https://example.com" in text and "imaps://x;reboot" in text
    assert "interval" in text and "slow_dns" in text and "loud" in text
    good = json.loads(php_eval(
        f"echo json_encode(mailpulse_settings_errors(json_decode({json.dumps(json.dumps(SETTINGS))}, true)));",
        tmp_path))
    assert good == []


# --- the widget against a stub CLI ---------------------------------------------------------------


STUB_CLI = r"""#!/usr/bin/env python3
import json, os, sys
with open(os.environ["STUB_LOG"], "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\n")
answers = json.load(open(os.environ["STUB_ANSWERS"]))
print(json.dumps(answers[sys.argv[1]]))
"""


def event(eid, verdict, credentials, client, kind="session-failed"):
    return {"id": eid, "time": "2026-11-22T05:00:00Z", "kind": kind, "severity": "warning",
            "verdict": verdict, "credentials": credentials, "client": client,
            "server_name": "outlook.office365.com", "server": "192.0.2.7", "server_port": 993,
            "protocol": "imap", "message": "m", "advice": None, "session": None, "evidence": []}


def run_page(page, tmp_path, answers, request):
    """Runs a page with pfSense's includes stubbed and the CLI replaced by a logging stub."""
    php = require_tool("php", "php-cli")
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    for name in ("config.inc", "functions.inc", "util.inc", "interfaces.inc", "service-utils.inc",
                 "guiconfig.inc", "head.inc", "foot.inc"):
        (stubs / name).write_text("<?php\n")
    (stubs / "guiconfig.inc").write_text(
        "<?php\nfunction display_top_tabs($t) {}\n")
    pkg = tmp_path / "pkg"
    (pkg / "mailpulse").mkdir(parents=True)
    cli = tmp_path / "mailpulse"
    cli.write_text(STUB_CLI)
    cli.chmod(0o755)
    (pkg / "mailpulse" / "mailpulse_toml.inc").write_text(TOML_INC.read_text())
    (pkg / "mailpulse.inc").write_text(INC.read_text()
                                       .replace("/usr/local/pkg/", f"{pkg}/")
                                       .replace("/usr/local/bin/mailpulse", str(cli)))
    copy = tmp_path / page.name
    copy.write_text(page.read_text().replace("/usr/local/pkg/", f"{pkg}/"))
    answers_file = tmp_path / "answers.json"
    answers_file.write_text(json.dumps(answers))
    log = tmp_path / "cli.log"
    runner = tmp_path / "runner.php"
    runner.write_text(f"<?php\n$_REQUEST = $_GET = {php_array(request)};\n"
                      f"$widgetkey = 'mailpulse-0';\ninclude '{copy}';\n")
    out = subprocess.run([php, "-d", f"include_path={stubs}", str(runner)], capture_output=True,
                         text=True, timeout=30,
                         env={"STUB_LOG": str(log), "STUB_ANSWERS": str(answers_file),
                              "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stdout + out.stderr
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return out.stdout, calls


def php_array(values):
    items = ", ".join(f"{json.dumps(k)} => {json.dumps(v)}" for k, v in values.items())
    return f"[{items}]"


ANSWERS = {
    "status": {"version": "0.1.0", "engine": {"wan": {"state": "up"}, "probes": [
        {"target": "imaps://imap.gmail.com", "state": "ok", "last": None},
        {"target": "pop3s://outlook.office365.com", "state": "failed",
         "last": {"failure": {"phase": "connect", "error": "timed out"}}}]}},
    "events": [event(1, "auth-rejected", "rejected", "192.168.1.20"),
               event(2, "wan-down", "not-at-fault", None, kind="wan-down"),
               event(3, "dns-failure", "not-at-fault", "192.168.1.<i>21</i>")],
}


def test_widget_runs_the_documented_commands_and_colours_the_verdicts(tmp_path):
    html, calls = run_page(WIDGET, tmp_path, ANSWERS, {"ajax": "ajax"})
    assert ["status", "--json"] in calls
    assert ["events", "--failures", "--limit", "10", "--json"] in calls
    rows = re.findall(r"<tr>(.*?)</tr>", html, re.S)
    wan = next(r for r in rows if ">WAN<" in r)
    assert "text-success" in wan and "up" in wan
    assert any("pop3s://outlook.office365.com" in r and "text-danger" in r for r in rows)
    sessions = [r for r in rows if "/mailpulse_status.php?client=" in r]
    assert len(sessions) == 2, "failed sessions only, newest first"
    assert "dns-failure" in sessions[0] and "text-warning" in sessions[0]
    assert "Not the password" in sessions[0]
    assert "&lt;i&gt;21&lt;/i&gt;" in sessions[0] and "<i>21" not in sessions[0]
    assert "auth-rejected" in sessions[1] and "text-danger" in sessions[1]
    assert "Password rejected" in sessions[1]


def test_widget_when_daemon_is_down(tmp_path):
    html, _ = run_page(WIDGET, tmp_path, {"status": "not json", "events": []}, {"ajax": "ajax"})
    # The stub prints the JSON string "not json"; anything that is not an object is "no answer".
    assert "text-warning" in html


def test_status_page_lists_events(tmp_path):
    html, calls = run_page(STATUS_PAGE, tmp_path, ANSWERS, {})
    assert ["events", "--limit", "200", "--json"] in calls
    assert html.count("<td class=\"text-danger\">auth-rejected</td>") == 1
    assert "192.168.1.20" in html and "outlook.office365.com:993" in html
    second = tmp_path / "filtered"
    second.mkdir()
    html, calls = run_page(STATUS_PAGE, second, ANSWERS, {"client": "192.168.1.20", "failures": "1"})
    assert ["events", "--limit", "200", "--failures", "--client", "192.168.1.20", "--json"] in calls


# --- Save: the daemon applies the file and its sentence is shown -------------------------------


def run_apply(tmp_path, running, cli_out, cli_status):
    """mailpulse_apply() then mailpulse_show_apply_result(), with pfSense's service functions
    stubbed and `mailpulse reload` answered by a stand-in CLI."""
    php = require_tool("php", "php-cli")
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    for name in ("config.inc", "functions.inc", "util.inc", "interfaces.inc"):
        (stubs / name).write_text("<?php\n")
    calls = tmp_path / "calls"
    (stubs / "service-utils.inc").write_text(f"""<?php
function is_service_running($n) {{ return {'true' if running else 'false'}; }}
function start_service($n) {{ file_put_contents('{calls}', "start_service $n\\n", FILE_APPEND); }}
function print_info_box($msg, $class) {{ echo "[$class] $msg\\n"; }}
""")
    cli = tmp_path / "mailpulse"
    cli.write_text(f"#!/bin/sh\necho \"cli $*\" >> {calls}\nprintf '%s\\n' '{cli_out}' >&2\n"
                   f"exit {cli_status}\n")
    cli.chmod(0o755)
    result = tmp_path / "apply.json"
    inc = tmp_path / "mailpulse.inc"
    inc.write_text(INC.read_text().replace("/usr/local/pkg/mailpulse/", f"{TOML_INC.parent}/")
                   .replace("/usr/local/bin/mailpulse", str(cli))
                   .replace("/var/run/mailpulse_apply.json", str(result)))
    runner = tmp_path / "runner.php"
    runner.write_text(f"<?php\nrequire '{inc}';\nlist($ok, $text) = mailpulse_apply();\n"
                      "mailpulse_save_apply_result($ok, $text);\n"
                      "mailpulse_show_apply_result();\nmailpulse_show_apply_result();\n")
    out = subprocess.run([php, "-d", f"include_path={stubs}", str(runner)], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout, calls.read_text().splitlines() if calls.exists() else []


def test_save_reloads_and_shows_what_was_applied(tmp_path):
    shown, calls = run_apply(tmp_path, True, "Applied: 2 probe targets, slow_dns 2000ms -> 1500ms.", 0)
    assert calls == ["cli reload"]
    # Shown once, then gone.
    assert shown == "[success] Applied: 2 probe targets, slow_dns 2000ms -&gt; 1500ms.\n"


def test_save_shows_why_the_daemon_refused(tmp_path):
    shown, calls = run_apply(tmp_path, True,
                             "/usr/local/etc/mailpulse/mailpulse.toml:12:1: unknown key `x`", 78)
    assert calls == ["cli reload"]
    assert shown.startswith("[danger] /usr/local/etc/mailpulse/mailpulse.toml:12:1:")


def test_save_starts_a_stopped_daemon(tmp_path):
    shown, calls = run_apply(tmp_path, False, "", 0)
    assert calls == ["start_service mailpulse"]
    assert shown.startswith("[success]") and "started" in shown


def test_save_starts_when_reload_finds_no_daemon(tmp_path):
    shown, calls = run_apply(tmp_path, True, "the mailpulse daemon is not running", 69)
    assert calls == ["cli reload", "start_service mailpulse"]
    assert shown.startswith("[success]")
