"""How OPNsense's configd reads actions_*.conf and builds a command line.

Mirrors opnsense/core:src/opnsense/service/modules/processhandler.py (ActionHandler.load_config:
RawConfigParser, topic from the file name, dotted sections as sub-commands) and
modules/actions/base.py (BaseAction._cmd_builder: parameters appended after a space, each %s
single-quoted with embedded quotes escaped, missing ones filled with '', extra ones rejected).
"""

import configparser
from pathlib import Path


def load_actions(path: Path):
    """Returns (topic, {section: {key: value}}) the way configd's load_config sees the file."""
    topic = path.name.split("actions_")[-1].split(".")[0]
    cnf = configparser.RawConfigParser()
    read = cnf.read(path)
    assert read, f"configparser could not read {path}"
    return topic, {section: dict(cnf.items(section)) for section in cnf.sections()}


def cache_ttl(action: dict):
    """base.py: cache_ttl counts only when it is all digits."""
    value = action.get("cache_ttl", "")
    return int(value) if value.isdigit() else None


def build_command(action: dict, parameters: list) -> str:
    """BaseAction._cmd_builder."""
    command = action["command"]
    template = action.get("parameters")
    if template is None:
        return command
    params = list(parameters)
    if template.find("%s") > -1:
        wanted = template.count("%s")
        if wanted > len(params):
            params += [""] * (wanted - len(params))
        elif len(params) > wanted:
            raise TypeError("Parameter mismatch")
        params = ["'" + p.replace("'", "'\"'\"'") + "'" for p in params]
        template = template % tuple(params)
    return command + " " + template
