"""Renders OPNsense configd templates the way configd does, for tests.

Mirrors opnsense/core:src/opnsense/service/modules/template.py (Template: +TARGETS read as
`source:target` lines, jinja2.Environment(trim_blocks=True, extensions=["jinja2.ext.do"]),
the config dict as the render context, `helpers` as a global) and the helpers the mailpulse
templates use from modules/addons/template_helpers.py (getNodeByTag, exists, empty, toList,
physical_interface, physical_interfaces), with the same semantics.
"""

from pathlib import Path

import jinja2


class Helpers:
    def __init__(self, data):
        self._data = data

    def getNodeByTag(self, tag):
        node = self._data
        for item in tag.split("."):
            if item in node:
                node = node[item]
            else:
                return None
        return node

    def exists(self, tag):
        return self.getNodeByTag(tag) is not None

    def empty(self, tag):
        node = self.getNodeByTag(tag)
        if node is None:
            return True
        if len(node) == 0:
            return True
        if hasattr(node, "strip") and node.strip() in ("", "0"):
            return True
        return False

    def toList(self, tag, sortBy=None, sortAs=None):
        result = self.getNodeByTag(tag)
        if result is None:
            return []
        if type(result) != list:
            result = [result]
        if sortBy is None:
            return result
        if sortAs == "int":
            return sorted(result, key=lambda d: int(d[sortBy]))
        return sorted(result, key=lambda d: d[sortBy])

    def physical_interface(self, name):
        return self.getNodeByTag("interfaces." + name + ".if") or name

    def physical_interfaces(self, names):
        result = [self.getNodeByTag("interfaces." + name + ".if") for name in names]
        return list(filter(None, result))


def read_targets(path: Path) -> dict:
    """template.py _read_targets: `source:target`, lines starting with '#' skipped."""
    result = {}
    for line in path.read_text().split("\n"):
        parts = line.split(":")
        if len(parts) > 1 and parts[0].strip()[0] != "#":
            result[parts[0]] = ":".join(parts[1:]).strip()
    return result


def render_module(templates_root: Path, module: str, config: dict) -> dict:
    """Renders every target of `module` (e.g. "OPNsense/Mailpulse"): {target path: text}."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_root)),
                             trim_blocks=True, extensions=["jinja2.ext.do"])
    targets = read_targets(templates_root / module / "+TARGETS")
    out = {}
    for source, target in targets.items():
        template = env.get_template(f"{module}/{source}")
        env.globals["helpers"] = Helpers(config)
        content = template.render(config)
        # template.py restores a final newline Jinja drops when the template had one.
        if len(content) > 1 and content[-1] != "\n":
            if (templates_root / module / source).read_text().endswith("\n"):
                content += "\n"
        out[target] = content
    return out
