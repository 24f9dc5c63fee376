"""The one rule registry: every finding id any command reports, with its family, severity and docs.

It is a leaf module (it needs only the Finding and error types), so every package that reports
findings can register its ids here without importing the checks; `homelab.checks.registry` is
the same registry under the name check rules import it by.

Two ways in, one table:
- `@rule("family/name", "what it checks", ...)` registers a `homelab check` rule: a small function
  over a `CheckContext` that yields Findings. `optional` rules (the `infra/*` linters) run only
  when asked (`--infra`); `also={id: summary}` names the other ids the function reports.
- `declare("family/name", "what it means", reported_by=...)` registers an id reported elsewhere:
  `validate` (homelab.yaml's cross-field rules), `plan` (drills and tree findings), `up`
  (preflight), `status` (the live checks, one id per section), `check` (ids the runner itself reports).

`rule.finding(message, file, line, hint)` fills in the id and the default severity, so a finding
always names a registered rule; `finding(rule_id, ...)` does the same by id. `--list-rules`,
`--select/--ignore`, waivers and SARIF read this table (`all_rules()` imports every module that
registers ids).
"""

from __future__ import annotations

import fnmatch
import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from homelab.errors import HomelabError
from homelab.findings import Finding, Severity

# Which command reports an id.
REPORTED_BY = ("check", "validate", "plan", "up", "status", "input")


@dataclass(frozen=True)
class Rule:
    id: str
    summary: str
    fn: Callable[..., Iterable[Finding]] | None = None   # set for the rules `homelab check` runs
    severity: Severity = Severity.error
    optional: bool = False
    needs_tree: bool = True
    emits: tuple[str, ...] = ()
    reported_by: str = "check"
    docs: str = ""

    @property
    def ids(self) -> tuple[str, ...]:
        return (self.id, *self.emits)

    @property
    def family(self) -> str:
        return self.id.split("/", 1)[0]

    def finding(self, message: str, file: str | None = None, line: int | None = None, hint: str = "", *,
                severity: Severity | None = None, key: str = "") -> Finding:
        return Finding(self.id, severity or self.severity, message, file, line, hint, key)


RULES: dict[str, Rule] = {}

# Modules that register ids when imported; `all_rules()` imports them so every id is known.
MODULES = ("homelab.checks.rules", "homelab.config.rules", "homelab.drills.answers", "homelab.plan.tree",
           "homelab.pipeline.preflight", "homelab.hclvars", "homelab.status.model")


def _docs(fn: Callable[..., Any] | None, summary: str) -> str:
    doc = (fn.__doc__ or "").strip() if fn is not None else ""
    return doc or summary


def rule(rule_id: str, summary: str, *, severity: Severity = Severity.error, optional: bool = False,
         needs_tree: bool = True, also: dict[str, str] | None = None,
         docs: str | None = None) -> Callable[[Callable[..., Iterable[Finding]]], Callable[..., Iterable[Finding]]]:
    """Register a `homelab check` rule; `also` lists the other ids it reports (declared here unless known)."""
    def deco(fn: Callable[..., Iterable[Finding]]) -> Callable[..., Iterable[Finding]]:
        RULES[rule_id] = Rule(rule_id, summary, fn, severity, optional, needs_tree, tuple(also or ()),
                              "check", docs or _docs(fn, summary))
        for extra, text in (also or {}).items():
            if extra not in RULES:
                RULES[extra] = Rule(extra, text, None, severity, optional, needs_tree, (), "check", text)
        return fn
    return deco


def declare(rule_id: str, summary: str, *, reported_by: str, severity: Severity = Severity.error,
            docs: str = "") -> Rule:
    """Register an id that a command other than the check runner reports; returns its Rule."""
    if reported_by not in REPORTED_BY:
        raise ValueError(f"{rule_id}: reported_by must be one of {REPORTED_BY}")
    known = RULES.get(rule_id)
    if known is not None:
        return known
    RULES[rule_id] = Rule(rule_id, summary, None, severity, reported_by=reported_by, docs=docs or summary)
    return RULES[rule_id]


def get(rule_id: str) -> Rule:
    try:
        return RULES[rule_id]
    except KeyError:
        raise KeyError(f"finding id {rule_id!r} is not registered; register it with @rule or declare()") from None


def finding(rule_id: str, message: str, file: str | None = None, line: int | None = None, hint: str = "", *,
            severity: Severity | None = None, key: str = "") -> Finding:
    """A Finding of the registered rule `rule_id` (raises KeyError for an unregistered id)."""
    return get(rule_id).finding(message, file, line, hint, severity=severity, key=key)


def all_rules() -> dict[str, Rule]:
    """Every registered rule, by id, after importing every module that registers some."""
    for name in MODULES:
        importlib.import_module(name)
    return dict(sorted(RULES.items()))


def check_rules() -> list[Rule]:
    """The rules `homelab check` runs, in registration order."""
    importlib.import_module("homelab.checks.rules")
    return [r for r in RULES.values() if r.fn is not None]


def all_ids() -> dict[str, str]:
    """Every finding id any command can report, with its summary (for --select, SARIF and docs)."""
    return {i: r.summary for i, r in all_rules().items()}


def _matches(rule_id: str, pattern: str) -> bool:
    pattern = pattern.strip()
    if pattern.endswith("/*"):
        pattern = pattern[:-2]
    if "/" not in pattern and not any(c in pattern for c in "*?["):
        return rule_id.split("/", 1)[0] == pattern
    return fnmatch.fnmatchcase(rule_id, pattern)


matches = _matches


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


# Ids the check runner and the input layer report themselves.
RULE_FAILED = declare("check/rule-failed", "a rule raised an exception (a bug in homelab check)", reported_by="check")
WAIVER_REASON_MISSING = declare("waiver/reason-missing", "every `# homelab: ignore[...]` waiver names a rule and a reason",
                                reported_by="check")
declare("input/invalid", "an input file or command-line option is unreadable or invalid (exit code 2)",
        reported_by="input")

__all__ = ["RULES", "Rule", "all_ids", "all_rules", "check_rules", "declare", "expand", "finding", "get", "matches",
           "rule", "selected"]
