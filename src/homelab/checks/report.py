"""Reporters: text grouped by file for people; JSON and SARIF 2.1.0 for machines."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable

from homelab import __version__
from homelab.checks.registry import Rule, all_ids
from homelab.checks.runner import Report
from homelab.findings import Severity
from homelab.terminal import MIN_LAST_COLUMN, wrap

SARIF_LEVEL = {Severity.error: "error", Severity.warning: "warning", Severity.info: "note"}


def text(report: Report, width: int | None = None) -> str:
    """Findings grouped by file, one row per finding: line, severity, rule, message and hint.

    `width` fits the report to a screen: the message and hint wrap in their column, or, when that
    column would be narrower than `terminal.MIN_LAST_COLUMN`, go below the row (stacked). None keeps
    every finding on one line (for grep, files and `--wide`).
    """
    out: list[str] = []
    groups: dict[str, list] = defaultdict(list)
    for f in report.findings:
        groups[f.file or "(repository)"].append(f)
    rule_w = max((len(f.rule) for f in report.findings), default=0)
    lead = 2 + 5 + 2 + 7 + 1 + rule_w + 1  # "  LINE  SEVERITY RULE "
    stacked = width is not None and width - lead < MIN_LAST_COLUMN
    for file, items in groups.items():
        out.append(file)
        for f in items:
            row = f"  {f.line or '-':>5}  {f.severity.value:<7} {f.rule:<{rule_w}} "
            if stacked:
                out.append(row.rstrip())
                row = " " * 9
            indent = " " * len(row)
            out += wrap(f.message, width, indent, first=row)
            if f.hint:
                out += wrap(f"hint: {f.hint}", width, indent + "      ", first=indent)
        out.append("")
    if report.waived:
        out.append("waived:")
        for f, w in report.waived:
            out += wrap(f"{f.location}  {f.rule}  {f.message}  (waiver at {w.file}:{w.line}: {w.reason})",
                        width, " " * 4, first="  ")
        out.append("")
    for n in report.notes:
        out += wrap(f"note: {n}", width, " " * 6, first="")
    errors = sum(1 for f in report.findings if f.severity is Severity.error)
    warnings = sum(1 for f in report.findings if f.severity is Severity.warning)
    s = report.stats
    tree = f", {s['kustomizations']} Flux Kustomizations, {s['objects']} objects" if "objects" in s else ""
    verdict = (f"{'clean: ' if report.exit_code == 0 else ''}{errors} error(s), {warnings} warning(s), "
               f"{len(report.waived)} waived")
    run = f"{len(report.rules_run)} rules{tree} in {s.get('seconds', 0):.2f}s"
    # The verdict stays the last line, whole, for whoever reads only that.
    out += [f"{verdict}; {run}"] if width is None or len(verdict) + len(run) + 2 <= width else [run, verdict]
    return "\n".join(out) + "\n"


def rule_list(rules: Iterable[Rule], width: int | None = None) -> str:
    """`--list-rules`: id, default severity, the command that reports it, and the summary (wrapped in its column)."""
    rules = list(rules)
    heads = [f"{r.id:<36} {r.severity.value:<7} {r.reported_by:<8} " for r in rules]
    lead = max(map(len, heads), default=0)
    stacked = width is not None and width - lead < MIN_LAST_COLUMN
    out: list[str] = []
    for head, r in zip(heads, rules):
        if stacked:
            out += [head.rstrip(), *wrap(r.summary, width, "    ")]
        else:
            out += wrap(r.summary, width, " " * lead, first=head)
    return "\n".join(out) + "\n"


def to_json(report: Report) -> str:
    return json.dumps({
        "version": __version__,
        "exit_code": report.exit_code,
        "findings": [f.to_dict() for f in report.findings],
        "waived": [{**f.to_dict(), "waiver": {"file": w.file, "line": w.line, "reason": w.reason}}
                   for f, w in report.waived],
        "notes": report.notes,
        "rules_run": report.rules_run,
        "stats": report.stats,
    }, indent=2) + "\n"


def to_sarif(report: Report) -> str:
    ids = all_ids()
    used = sorted({f.rule for f in report.findings} | {f.rule for f, _ in report.waived} | set(report.rules_run))
    rules = [{"id": i, "shortDescription": {"text": ids.get(i, i)}} for i in used]
    index = {r["id"]: n for n, r in enumerate(rules)}

    def result(f, suppressed=None):
        r = {"ruleId": f.rule, "ruleIndex": index[f.rule], "level": SARIF_LEVEL[f.severity],
             "message": {"text": f.message + (f" (hint: {f.hint})" if f.hint else "")}}
        if f.file:
            loc = {"artifactLocation": {"uri": f.file, "uriBaseId": "SRCROOT"}}
            if f.line:
                loc["region"] = {"startLine": f.line}
            r["locations"] = [{"physicalLocation": loc}]
        if suppressed is not None:
            r["suppressions"] = [{"kind": "inSource", "justification": suppressed.reason}]
        return r

    run = {
        "tool": {"driver": {"name": "homelab check", "version": __version__, "informationUri":
                            "https://github.com/example/homelab", "rules": rules}},
        "originalUriBaseIds": {"SRCROOT": {"uri": report.root.as_uri() + "/" if report.root else "./"}},
        "results": [result(f) for f in report.findings] + [result(f, w) for f, w in report.waived],
        "invocations": [{"executionSuccessful": True, "exitCode": report.exit_code,
                         "toolExecutionNotifications": [{"level": "note", "message": {"text": n}}
                                                        for n in report.notes]}],
    }
    return json.dumps({"$schema": "https://json.schemastore.org/sarif-2.1.0.json", "version": "2.1.0",
                       "runs": [run]}, indent=2) + "\n"
