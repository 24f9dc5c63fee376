"""The rule registry: every rule is a small named function that yields Findings.

A rule is registered with `@rule("family/name", "what it checks", ...)`. `optional` rules (the
`infra/*` linters) run only when asked (`--infra`); they are excluded from the speed targets.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from homelab.errors import HomelabError
from homelab.findings import Finding, Severity


@dataclass(frozen=True)
class Rule:
    id: str
    summary: str
    fn: Callable[..., Iterable[Finding]]
    severity: Severity = Severity.error
    optional: bool = False
    needs_tree: bool = True
    emits: tuple[str, ...] = ()

    @property
    def ids(self) -> tuple[str, ...]:
        return (self.id, *self.emits)

    @property
    def family(self) -> str:
        return self.id.split("/", 1)[0]


RULES: dict[str, Rule] = {}
# Ids a rule function may emit besides its own (e.g. the yaml reader emits both yaml/* ids).
EXTRA_IDS: dict[str, str] = {}


def rule(rule_id: str, summary: str, *, severity: Severity = Severity.error, optional: bool = False,
         needs_tree: bool = True, also: dict[str, str] | None = None) -> Callable:
    def deco(fn: Callable[..., Iterable[Finding]]) -> Callable[..., Iterable[Finding]]:
        RULES[rule_id] = Rule(rule_id, summary, fn, severity, optional, needs_tree, tuple(also or ()))
        for extra, text in (also or {}).items():
            EXTRA_IDS[extra] = text
        return fn
    return deco


def all_ids() -> dict[str, str]:
    """Every finding id a check can produce, with its summary (for --select, SARIF and docs)."""
    out = {r.id: r.summary for r in RULES.values()}
    out.update(EXTRA_IDS)
    return dict(sorted(out.items()))


def _matches(rule_id: str, pattern: str) -> bool:
    pattern = pattern.strip()
    if pattern.endswith("/*"):
        pattern = pattern[:-2]
    if "/" not in pattern and not any(c in pattern for c in "*?["):
        return rule_id.split("/", 1)[0] == pattern
    return fnmatch.fnmatchcase(rule_id, pattern)


def expand(patterns: Iterable[str]) -> list[str]:
    """Split comma lists; reject a pattern that matches no known id (a typo must not select nothing)."""
    out: list[str] = []
    known = all_ids()
    for item in patterns:
        for p in item.split(","):
            p = p.strip()
            if not p:
                continue
            if not any(_matches(i, p) for i in known):
                raise HomelabError.single("--select/--ignore", f"'{p}' matches no rule",
                                          hint="run `homelab check --list-rules` to see them")
            out.append(p)
    return out


def selected(rule_id: str, select: list[str], ignore: list[str]) -> bool:
    if select and not any(_matches(rule_id, p) for p in select):
        return False
    return not any(_matches(rule_id, p) for p in ignore)
