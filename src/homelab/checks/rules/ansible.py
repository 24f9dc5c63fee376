"""ansible/*: every variable a role takes is declared in its meta/argument_specs.yml.

Ansible validates a role's arguments against argument_specs before it runs, but only the ones
declared there: a default missing from the spec is neither type-checked nor documented, and a
typo in an inventory's override of it passes silently.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from homelab import yamlio
from homelab.checks.context import CheckContext
from homelab.checks.registry import finding, rule
from homelab.findings import Severity

SPEC_FILES = ("meta/argument_specs.yml", "meta/argument_specs.yaml")
DEFAULT_FILES = ("defaults/main.yml", "defaults/main.yaml")


def _load(ctx: CheckContext, rel: str) -> Any:
    text = ctx.text(rel)
    try:
        return yamlio.load(text) if text is not None else None
    except Exception:  # noqa: BLE001  (yaml/syntax reports an unreadable file)
        return None


def _declared(spec: Any) -> set[str]:
    """Option names of every entry point (main, and any other tasks_from)."""
    entries = spec.get("argument_specs") if isinstance(spec, dict) else None
    names: set[str] = set()
    for entry in (entries or {}).values() if isinstance(entries, dict) else []:
        options = entry.get("options") if isinstance(entry, dict) else None
        if isinstance(options, dict):
            names.update(str(k) for k in options)
    return names


@rule("ansible/argument-specs-missing", "every role default is declared in the role's meta/argument_specs.yml",
      severity=Severity.warning, needs_tree=False)
def argument_specs_missing(ctx: CheckContext):
    files = set(ctx.files)
    roles = sorted({str(PurePosixPath(f).parents[1]) for f in files
                    if any(f.endswith("/" + d) for d in DEFAULT_FILES) and "/roles/" in f"/{f}"})
    for role in roles:
        spec_rel = next((f"{role}/{s}" for s in SPEC_FILES if f"{role}/{s}" in files), None)
        if spec_rel is None:
            continue  # a role without argument_specs takes anything; ansible-lint asks for one
        declared = _declared(_load(ctx, spec_rel))
        defaults_rel = next(f"{role}/{d}" for d in DEFAULT_FILES if f"{role}/{d}" in files)
        defaults = _load(ctx, defaults_rel)
        for name in defaults if isinstance(defaults, dict) else {}:
            if str(name) not in declared:
                yield finding("ansible/argument-specs-missing",
                              f"role {PurePosixPath(role).name}: default '{name}' is not declared in {spec_rel}; "
                              "Ansible neither checks nor documents it", defaults_rel,
                              yamlio.line_of(ctx.root / defaults_rel, 0, [str(name)]),
                              f"add `{name}:` with its type and description under argument_specs.main.options")
