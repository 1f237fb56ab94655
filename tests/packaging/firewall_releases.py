"""What each supported firewall release offers a plugin, as data for the conformance tests.

Read from the upstream repositories at the tags and commits named beside each fact
(opnsense/core, opnsense/plugins, pfsense/pfsense); a fact with a "first" version applies to
that release and every later one. The plugin must work on every release in SUPPORTED, so it may
use only what the oldest of them has: adding a release here, or using something newer in the
plugin, makes test_conformance.py fail until the plugin fits every release.
"""

# --- OPNsense ------------------------------------------------------------------------------------

# Supported series, each at the newest point release read, and the oldest point release the
# plugin promises to work on (what the "first" versions below are compared against).
OPNSENSE = {
    # core tags: 25.7 .. 25.7.11 (41587bb2d4), 26.1 .. 26.1.11 (c930ab586f), 26.7 .. 26.7.2
    # (3fa8a4cfb5); runtime versions from opnsense/tools config/<series>/build.conf.
    "25.7": {"oldest": (25, 7, 0), "newest": (25, 7, 11), "freebsd": "14.3", "php": "8.3",
             "python": "3.11"},
    "26.1": {"oldest": (26, 1, 0), "newest": (26, 1, 11), "freebsd": "14.3", "php": "8.3",
             "python": "3.11"},
    "26.7": {"oldest": (26, 7, 0), "newest": (26, 7, 2), "freebsd": "15.1", "php": "8.5",
             "python": "3.13"},
}

# core src/opnsense/mvc/app/views/layout_partials/*.volt, by first tag.
VOLT_PARTIALS = {
    "base_dialog": (24, 7, 0), "base_dialog_processing": (24, 7, 0), "base_form": (24, 7, 0),
    "base_menu_system": (24, 7, 0), "base_tabs_content": (24, 7, 0),
    "base_tabs_header": (24, 7, 0), "form_input_tr": (24, 7, 0),
    "base_bootgrid_table": (25, 1, 0),          # a7a99fcdfe
    "base_apply_button": (25, 1, 2),            # 19c27eced0 (stable/25.1); 24a61420cf (master)
}

# Variables base_apply_button reads, with the first (and last) tag that has them.
APPLY_BUTTON_VARS = {
    "data_endpoint": ((25, 1, 2), None), "button_id": ((25, 1, 2), None),
    "data_label": ((25, 1, 2), None), "data_error_title": ((25, 1, 2), None),
    "data_service_widget": ((25, 1, 2), None), "data_grid_reload": ((25, 1, 2), None),
    "data_change_message_content": ((25, 7, 8), None),   # dd70a40ab2
    "data_exclude_scope": ((26, 1, 9), None),            # deefc3b60e
    "message_id": ((25, 1, 2), (26, 1, 8)),              # dropped in 26.1.9
}

# Dashboard widget base classes: globals from 24.7.3 (e00d11524c), methods by first tag.
WIDGET_GLOBALS_FROM = (24, 7, 3)
WIDGET_BASE_CLASSES = {"BaseWidget", "BaseTableWidget", "BaseGaugeWidget"}
WIDGET_METHODS = {
    "ajaxCall": (24, 7, 3), "dataChanged": (24, 7, 3), "openEventSource": (24, 7, 3),
    "createTable": (24, 7, 3), "updateTable": (24, 7, 3),
    "isTitleVisible": (26, 1, 0), "refreshStyles": (26, 7, 0),
}
# The widget lint (core Scripts/dashboard-acl.sh, 10a3591fb1 in 26.1.11; fcacf66e12 in 26.7):
# a widget with no endpoint fails unless its metadata has <endpoints><independent/>.
WIDGET_LINT_INDEPENDENT_FROM = (26, 1, 11)

# form_input_tr <type> values, by first tag.
FORM_TYPES = {
    "checkbox": (24, 7, 0), "dropdown": (24, 7, 0), "hidden": (24, 7, 0), "info": (24, 7, 0),
    "password": (24, 7, 0), "select_multiple": (24, 7, 0), "text": (24, 7, 0),
    "textbox": (24, 7, 0),
    "color": (25, 7, 0), "datetime-local": (25, 7, 4), "buttons": (26, 1, 9), "file": (26, 7, 0),
}

# Model field types (core models/OPNsense/Base/FieldTypes/*.php): present from 24.7 unless noted,
# with an upper bound where a type was removed again.
_FIELD_TYPES_247 = (
    "ArrayField AuthGroupField AuthenticationServerField AutoNumberField Base64Field BaseField "
    "BaseListField BooleanField CSVListField CertificateField ConfigdActionsField ContainerField "
    "CountryField DescriptionField EmailField HostnameField IPPortField IntegerField "
    "InterfaceField JsonKeyValueStoreField LegacyLinkField MacAddressField ModelRelationField "
    "NetworkAliasField NetworkField NumericField OptionField PortField ProtocolField TextField "
    "UniqueIdField UpdateOnlyTextField UrlField VirtualIPField").split()
FIELD_TYPES = {name: ((24, 7, 0), None) for name in _FIELD_TYPES_247}
FIELD_TYPES.update({
    "BaseSetField": ((25, 7, 0), None),
    "RegexField": ((25, 7, 6), (25, 7, 11)),     # reverted on master (1db3193cfc)
    "JsonField": ((26, 1, 7), None),
    "StrictTextField": ((26, 1, 10), None),
})
# OptionField: an option with an empty text shows a blank label up to 26.1.8 (fixed by
# 855301203e in 26.1.9, b187227683 in 26.7); the same commits add the lint rule "option key and
# value are the same" (case-sensitive).
EMPTY_OPTION_LABEL_FALLBACK_FROM = (26, 1, 9)

# configd action keys (core service/modules/actions/base.py), by first tag.
CONFIGD_KEYS = {
    "command": (24, 7, 0), "parameters": (24, 7, 0), "message": (24, 7, 0), "type": (24, 7, 0),
    "description": (24, 7, 0),            # 3166ac7eb2
    "allowed_groups": (24, 1, 0),         # 86c1087dd6
    "cache_ttl": (24, 7, 0),              # 06d507704e
    "errors": (25, 1, 6),                 # 5d1acf81b1 (stable/25.1); 9f7a1fa062 (master)
}
CONFIGD_TYPES = {"script", "script_output", "stream_output", "inline", "none"}

# Controller helpers that are not on every supported release.
CONTROLLER_HELPERS_REMOVED = {"isValidUUID": (26, 1, 3)}        # 903c250b87
CONTROLLER_HELPERS_ADDED = {"OPNsense\\Core\\Type": (26, 1, 3)}

# --- pfSense CE ----------------------------------------------------------------------------------

PFSENSE = {
    # RELENG_2_7_2 5060f7cf25: install_package_xml() (pkg-utils.inc 908-920) keeps only the
    # first menu of a name; Font Awesome 5.14.0 with the v4 shims; PHP 8.2.
    "2.7.2": {"menu_names_unique_across_sections": True, "fontawesome": 5, "fa4_shims": True,
              "php": "8.2"},
    # master at a3671d9bb6^ ("2.8"): menus compared by name and section (b3b1f3517d);
    # Font Awesome 6.5.1 without shims (e0cb987c7e); PHP 8.3.
    "2.8": {"menu_names_unique_across_sections": False, "fontawesome": 6, "fa4_shims": False,
            "php": "8.3"},
}
# Icon names used by the package, checked present under the same name in Font Awesome 5.14 and
# 6.5 (free, solid). FA6 renamed many icons (c1d304b347) and FA4 "-o" names need 2.7.2's shims.
FA_ICONS_IN_5_AND_6 = {"circle", "envelope", "check", "spinner", "play", "stop", "info"}
FA_PREFIXES_IN_BOTH = {"fa", "fas"}
