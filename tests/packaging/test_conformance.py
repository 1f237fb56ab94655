"""The plugin and the pfSense package against what each supported release offers
(firewall_releases.py). Each test runs once per release, so a change that uses something newer
than the oldest supported point release fails here, naming the release."""

import configparser
import re
import xml.etree.ElementTree as ET

import pytest

import firewall_releases as fr
from conftest import OPNSENSE_SRC, PFSENSE, REPO

MVC = OPNSENSE_SRC / "opnsense" / "mvc" / "app"
VIEWS = MVC / "views" / "OPNsense" / "Mailpulse"
MODEL = MVC / "models" / "OPNsense" / "Mailpulse" / "Mailpulse.xml"
FORMS = MVC / "controllers" / "OPNsense" / "Mailpulse" / "forms"
WIDGETS = OPNSENSE_SRC / "opnsense" / "www" / "js" / "widgets"
ACTIONS = REPO / "configd" / "actions_mailpulse.conf"
PHP_8_4_AND_LATER = ("array_find", "array_find_key", "array_any", "array_all", "array_first",
                     "array_last", "mb_trim", "mb_ucfirst", "request_parse_body")


def available(first, last, release):
    """Whether a feature present from `first` (to `last`, inclusive) exists on every point
    release of the series."""
    info = fr.OPNSENSE[release]
    return first <= info["oldest"] and (last is None or last >= info["newest"])


def volt_sources():
    return {p.name: p.read_text() for p in VIEWS.glob("*.volt")}


opnsense = pytest.mark.parametrize("release", sorted(fr.OPNSENSE))
pfsense = pytest.mark.parametrize("release", sorted(fr.PFSENSE))


@opnsense
def test_volt_partials_exist(release):
    for name, text in volt_sources().items():
        for partial in re.findall(r"partial\(\s*'layout_partials/(\w+)'", text):
            assert partial in fr.VOLT_PARTIALS, f"{name}: unknown partial {partial}"
            assert available(fr.VOLT_PARTIALS[partial], None, release), \
                f"{name}: {partial} is newer than OPNsense {release}"


@opnsense
def test_apply_button_variables(release):
    for name, text in volt_sources().items():
        for args in re.findall(r"partial\(\s*'layout_partials/base_apply_button'\s*,\s*\{(.*?)\}\s*\)",
                               text, re.S):
            for var in re.findall(r"'(\w+)'\s*:", args):
                first, last = fr.APPLY_BUTTON_VARS[var]
                assert available(first, last, release), \
                    f"{name}: base_apply_button '{var}' is not on every OPNsense {release}"


@opnsense
def test_widget_uses_the_global_base_classes_and_old_methods(release):
    assert fr.WIDGET_GLOBALS_FROM <= fr.OPNSENSE[release]["oldest"]
    for js in WIDGETS.glob("*.js"):
        text = js.read_text()
        assert not re.search(r"^\s*import\b", text, re.M), f"{js.name}: base classes are globals"
        base = re.search(r"export default class \w+ extends (\w+)", text)
        assert base and base.group(1) in fr.WIDGET_BASE_CLASSES, js.name
        for method in set(re.findall(r"\b(?:this|super)\.(\w+)\(", text)):
            if method in fr.WIDGET_METHODS:
                assert available(fr.WIDGET_METHODS[method], None, release), \
                    f"{js.name}: {method}() is newer than OPNsense {release}"


@opnsense
def test_widget_metadata_passes_the_lint_of_the_release(release):
    for meta in (WIDGETS / "Metadata").glob("*.xml"):
        for widget in ET.parse(meta).getroot():
            endpoints = widget.find("endpoints")
            has_endpoint = endpoints is not None and endpoints.find("endpoint") is not None
            independent = endpoints is not None and endpoints.find("independent") is not None
            # Without an endpoint the lint fails before 26.1.11 whatever the metadata says.
            assert has_endpoint or (independent and available(
                fr.WIDGET_LINT_INDEPENDENT_FROM, None, release)), f"{meta.name}: {widget.tag}"


@opnsense
def test_form_field_types(release):
    for form in FORMS.glob("*.xml"):
        for field in ET.parse(form).getroot().iter("field"):
            kind = field.findtext("type")
            assert kind in fr.FORM_TYPES, f"{form.name}: unknown type {kind}"
            assert available(fr.FORM_TYPES[kind], None, release), \
                f"{form.name}: <type>{kind}</type> is newer than OPNsense {release}"


@opnsense
def test_model_field_types_and_option_labels(release):
    for field in ET.parse(MODEL).getroot().find("items").iter():
        kind = field.get("type")
        if kind is None:
            continue
        assert kind in fr.FIELD_TYPES, f"{field.tag}: unknown field type {kind}"
        first, last = fr.FIELD_TYPES[kind]
        assert available(first, last, release), f"{field.tag}: {kind} not on every {release}"
        options = field.find("OptionValues")
        for option in options if options is not None else []:
            label = (option.text or "").strip()
            key = option.get("value", option.tag)
            if not available(fr.EMPTY_OPTION_LABEL_FALLBACK_FROM, None, release):
                assert label, f"{field.tag}: option {key} shows blank on OPNsense {release}"
            assert label != key, f"{field.tag}: option {key}: the 26.1.9+ lint refuses it"


@opnsense
def test_configd_keys_and_types(release):
    cnf = configparser.RawConfigParser()
    cnf.read(ACTIONS)
    for section in cnf.sections():
        for key, value in cnf.items(section):
            assert key in fr.CONFIGD_KEYS, f"[{section}] unknown key {key}"
            assert available(fr.CONFIGD_KEYS[key], None, release), \
                f"[{section}] {key} is not honoured on every OPNsense {release}"
        assert cnf.get(section, "type") in fr.CONFIGD_TYPES


@opnsense
def test_controllers_use_no_helper_missing_on_the_release(release):
    for php in MVC.rglob("*.php"):
        text = php.read_text()
        for helper, removed in fr.CONTROLLER_HELPERS_REMOVED.items():
            if removed <= fr.OPNSENSE[release]["newest"]:
                assert helper not in text, f"{php.name}: {helper} is gone in {release}"
        for helper, added in fr.CONTROLLER_HELPERS_ADDED.items():
            if added > fr.OPNSENSE[release]["oldest"]:
                assert helper not in text, f"{php.name}: {helper} is not in {release}"
        for function in PHP_8_4_AND_LATER:
            assert not re.search(rf"\b{function}\(", text), \
                f"{php.name}: {function}() needs PHP 8.4+ ({release} has {fr.OPNSENSE[release]['php']})"


def pfsense_files():
    return [p for p in (PFSENSE / "files").rglob("*") if p.is_file()]


@pfsense
def test_pfsense_menu_names(release):
    root = ET.parse(PFSENSE / "files/usr/local/pkg/mailpulse.xml").getroot()
    menus = [(m.findtext("name").strip(), m.findtext("section")) for m in root.findall("menu")]
    if fr.PFSENSE[release]["menu_names_unique_across_sections"]:
        names = [name for name, _ in menus]
        assert len(names) == len(set(names)), f"pfSense {release} installs one menu per name"
    else:
        assert len(menus) == len(set(menus))


@pfsense
def test_pfsense_icons_exist_in_its_font_awesome(release):
    for path in pfsense_files():
        text = path.read_text()
        for classes in re.findall(r'class="([^"]*\bfa[s]?\b[^"]*)"', text):
            words = classes.split()
            assert not {"fa-solid", "fa-regular", "fa-brands"} & set(words), path.name
            for word in words:
                if word.startswith("fa-") and word not in ("fa-fw", "fa-lg", "fa-spin", "fa-pulse"):
                    name = word[3:]
                    assert not name.endswith("-o") or fr.PFSENSE[release]["fa4_shims"], path.name
                    assert name in fr.FA_ICONS_IN_5_AND_6, \
                        f"{path.name}: fa-{name} is not known to exist in Font Awesome 5 and 6"
            assert {w for w in words if not w.startswith("fa-")} & fr.FA_PREFIXES_IN_BOTH


@pfsense
def test_pfsense_php_runs_on_its_php(release):
    for path in pfsense_files():
        if path.suffix in (".php", ".inc"):
            text = path.read_text()
            for function in PHP_8_4_AND_LATER:
                assert not re.search(rf"\b{function}\(", text), \
                    f"{path.name}: {function}() needs PHP 8.4+ (pfSense {release}: {fr.PFSENSE[release]['php']})"
            # Typed class constants need PHP 8.3; 2.7.2 runs 8.2.
            assert not re.search(r"\bconst\s+(int|string|float|bool|array)\s+\w+\s*=", text), path.name


# --- the ACL lint of core Scripts/dashboard-acl.sh (10a3591fb1), rule by rule --------------------


def lint_acl():
    """Scripts/dashboard-acl.sh: the endpoints of each widget (this.ajaxCall( and
    super.openEventSource( first arguments, quotes stripped, ${...} -> *) must equal its
    metadata <endpoint> list, and each must be an ACL <pattern> exactly or one level up with /*
    (one more level when it already ends in /*). Returns the failures."""
    patterns = set()
    for acl in (MVC / "models").rglob("ACL.xml"):
        patterns |= {p.text for p in ET.parse(acl).getroot().iter("pattern")}
    failures = []
    for js in sorted(WIDGETS.glob("*.js")):
        if js.name.startswith("Base"):
            continue
        text = js.read_text()
        calls = re.findall(r"this\.ajaxCall\(([^,)]*)", text) + \
            re.findall(r"super\.openEventSource\(([^,)]*)", text)
        found = {re.sub(r"\$.*", "*", c.replace("'", "").replace("`", "").replace('"', ""))
                 for c in calls}
        registered = None
        for meta in (WIDGETS / "Metadata").glob("*.xml"):
            for widget in ET.parse(meta).getroot():
                if widget.findtext("filename") == js.name:
                    if widget.find("endpoints/independent") is not None:
                        registered = "independent"
                    else:
                        registered = {e.text for e in widget.iter("endpoint")}
        if registered == "independent":
            continue
        if not found:
            failures.append(f"No endpoints found for {js.name}")
            continue
        if not registered:
            failures.append(f"Did not find metadata for {js.name}")
            continue
        if registered != found:
            failures.append(f"Registered widget endpoints do not match: {js.name}")
            continue
        for endpoint in sorted(found):
            pattern = endpoint.lstrip("/")
            if pattern in patterns:
                continue
            if pattern.endswith("/*"):
                pattern = pattern.rsplit("/", 1)[0]
            if pattern.rsplit("/", 1)[0] + "/*" not in patterns:
                failures.append(f"Unknown ACL for {js.name}: {endpoint}")
    return failures


def test_dashboard_acl_lint():
    assert lint_acl() == []


def test_dashboard_acl_lint_catches_a_blanket_pattern(tmp_path, monkeypatch):
    # The plugin's old ACL (one blanket api/mailpulse/*) fails the upstream rule.
    acl = tmp_path / "models" / "OPNsense" / "Mailpulse" / "ACL"
    acl.mkdir(parents=True)
    (acl / "ACL.xml").write_text("<acl><p><patterns><pattern>api/mailpulse/*</pattern>"
                                 "</patterns></p></acl>")
    monkeypatch.setattr(__import__(__name__), "MVC", tmp_path)
    assert any("Unknown ACL" in f for f in lint_acl())


def test_supported_releases_are_declared_everywhere():
    series = ", ".join(sorted(fr.OPNSENSE)[:-1]) + " and " + sorted(fr.OPNSENSE)[-1]
    assert f"OPNsense {series}" in (OPNSENSE_SRC.parent / "pkg-descr").read_text()
    assert "pfSense CE 2.7.2 (FreeBSD 14) and 2.8.x" in (PFSENSE / "pkg-descr").read_text()
    readme = (REPO / "README.md").read_text()
    install = (REPO / "docs" / "install.md").read_text()
    for release in fr.OPNSENSE:
        assert release in readme.split("## Supported firewall releases")[1].split("##")[0]
        assert release in install
    for release in ("2.7.2", "2.8"):
        assert release in readme and release in install
