"""Flux `postBuild` variable substitution, as kustomize-controller does it (drone/envsubst rules).

Forms: `${VAR}`, `$VAR`, `${VAR:=default}`, `${VAR:-default}`, `${VAR=default}`, `${VAR-default}`;
`$$` escapes a dollar. Values lose their newlines (the controller strips them). An undefined
variable without a default becomes the empty string on a real cluster, which is almost never what
the author meant, so every such name is reported back.
"""

from __future__ import annotations

import re

VAR_NAME = re.compile(r"^[_A-Za-z][_A-Za-z0-9]*$")
_TOKEN = re.compile(r"\$\$|\$\{([_A-Za-z][_A-Za-z0-9]*)(?:(:?[-=])([^}]*))?\}|\$([_A-Za-z][_A-Za-z0-9]*)")
DISABLE_KEY = "kustomize.toolkit.fluxcd.io/substitute"


def substitute(text: str, variables: dict[str, str]) -> tuple[str, list[str]]:
    """Return the substituted text and the names used without a value or default (in order, unique)."""
    missing: list[str] = []

    def repl(m: re.Match[str]) -> str:
        whole = m.group(0)
        if whole == "$$":
            return "$"
        name = m.group(1) or m.group(4)
        op, default = m.group(2), m.group(3)
        value = variables.get(name)
        if op is not None:
            if value is None or (op.startswith(":") and value == ""):
                return default or ""
            return value
        if value is None:
            if name not in missing:
                missing.append(name)
            return ""
        return value

    if "$" not in text:
        return text, missing
    return _TOKEN.sub(repl, text), missing


def references(text: str) -> list[str]:
    """Every variable name a text refers to (with or without default)."""
    return [m.group(1) or m.group(4) for m in _TOKEN.finditer(text) if m.group(0) != "$$"]
