"""Fixes that work: a change to homelab.yaml a drill suggests is offered only once it has been tried.

A `Fix` is a sentence and a patch (key paths of homelab.yaml and their new values). `Trial` applies
the patch to the config, validates it as `homelab validate` would, runs every drill again on the
result and keeps the fix only if no drill still reports the rule at the same severity or worse and
the patched lab has no more errors than the original one: "move k3s-3 to pve1" is never offered when
it only moves the quorum loss to pve1.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from homelab.config import HomelabConfig
from homelab.config import rules as config_rules
from homelab.findings import Finding, Severity

Patch = tuple[tuple[tuple[str | int, ...], Any], ...]
RANK = {Severity.info: 0, Severity.warning: 1, Severity.error: 2}


@dataclass(frozen=True)
class Fix:
    text: str     # what to change, in the user's terms
    patch: Patch  # ((key path, new value), ...)


def patched(cfg: HomelabConfig, patch: Patch) -> HomelabConfig | None:
    """The config with the patch applied, or None when the result is not a valid homelab.yaml."""
    data: Any = cfg.model_dump(by_alias=True, mode="json", exclude_unset=True)
    for path, value in patch:
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    try:
        new = HomelabConfig.model_validate(data)
    except ValidationError:
        return None
    return None if config_rules.check(new, "homelab.yaml", lambda path: None) else new


# Plays every drill (and the config facts) on a config: `drills.findings_of`.
Replay = Callable[[HomelabConfig], list[Finding]]


class Trial:
    """Tries fixes on one lab; each patch is played once, however many findings suggest it."""

    def __init__(self, cfg: HomelabConfig, replay: Replay) -> None:
        self.cfg = cfg
        self.replay = replay
        self._played: dict[Patch, list[Finding] | None] = {}
        self._errors: int | None = None

    def _play(self, patch: Patch) -> list[Finding] | None:
        if patch not in self._played:
            new = patched(self.cfg, patch)
            self._played[patch] = None if new is None else self.replay(new)
        return self._played[patch]

    def holds(self, fix: Fix, rule: str, severity: Severity) -> bool:
        found = self._play(fix.patch)
        if found is None:
            return False
        if self._errors is None:
            self._errors = sum(1 for f in self.replay(self.cfg) if f.severity is Severity.error)
        if sum(1 for f in found if f.severity is Severity.error) > self._errors:
            return False
        return not any(f.rule == rule and RANK[f.severity] >= RANK[severity] for f in found)

    def working(self, fixes: Sequence[Fix], rule: str, severity: Severity) -> list[Fix]:
        return [f for f in fixes if self.holds(f, rule, severity)]
