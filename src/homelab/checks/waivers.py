"""Inline waivers: `# homelab: ignore[rule-id] reason` on the finding's line or the line above.

A waiver needs a reason (otherwise it is itself a finding and waives nothing); every waiver that
applied is listed in the report, so a waived problem stays visible.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from homelab.checks.registry import WAIVER_REASON_MISSING, matches
from homelab.findings import Finding

WAIVER = re.compile(r"#\s*homelab:\s*ignore\[([^\]]*)\]\s*(.*)$")


@dataclass(frozen=True)
class Waiver:
    file: str
    line: int
    rules: tuple[str, ...]
    reason: str

    def covers(self, f: Finding) -> bool:
        return f.file == self.file and f.line in (self.line, self.line + 1) and \
            any(matches(f.rule, r) for r in self.rules)


def scan(file: str, text: str) -> tuple[list[Waiver], list[Finding]]:
    waivers, problems = [], []
    if "homelab:" not in text:
        return waivers, problems
    for n, line in enumerate(text.splitlines(), 1):
        m = WAIVER.search(line)
        if not m:
            continue
        rules = tuple(r.strip() for r in m.group(1).split(",") if r.strip())
        reason = m.group(2).strip()
        if not rules or len(reason) < 3:
            problems.append(WAIVER_REASON_MISSING.finding("waiver without a rule id and a reason waives nothing", file, n,
                                                         "write `# homelab: ignore[rule/id] why this is fine here`"))
            continue
        waivers.append(Waiver(file, n, rules, reason))
    return waivers, problems
