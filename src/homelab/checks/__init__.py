"""`homelab check`: named rules over the repository, the Flux tree and homelab.yaml.

    from homelab.checks import run_checks, Options
    report = run_checks(root, cfg, select=["flux"], options=Options(schemas=Path(...)))
    report.findings, report.waived, report.notes, report.exit_code

Names are loaded on first use, so a rule module importing `homelab.checks.registry` does not pull
in the runner (and the config and Flux tree it reads).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "CheckContext": "homelab.checks.context", "Options": "homelab.checks.context",
    "RULES": "homelab.checks.registry", "Rule": "homelab.checks.registry", "all_ids": "homelab.checks.registry",
    "rule": "homelab.checks.registry", "Report": "homelab.checks.runner", "run_checks": "homelab.checks.runner",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'homelab.checks' has no attribute {name!r}")
