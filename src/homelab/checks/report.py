"""Reporters: text grouped by file for people; JSON and SARIF 2.1.0 for machines."""

from __future__ import annotations

import json
from collections import defaultdict

from homelab import __version__
from homelab.checks.registry import all_ids
from homelab.checks.runner import Report
from homelab.findings import Severity

SARIF_LEVEL = {Severity.error: "error", Severity.warning: "warning", Severity.info: "note"}


def text(report: Report) -> str:
    out: list[str] = []
    groups: dict[str, list] = defaultdict(list)
    for f in report.findings:
        groups[f.file or "(repository)"].append(f)
    for file, items in groups.items():
        out.append(file)
        for f in items:
            where = f"{f.line}" if f.line else "-"
            out.append(f"  {where:>5}  {f.severity.value:<7} {f.rule:<32} {f.message}")
            if f.hint:
                out.append(f"  {'':>5}  {'':<7} {'':<32} hint: {f.hint}")
        out.append("")
    if report.waived:
        out.append("waived:")
        for f, w in report.waived:
            out.append(f"  {f.location}  {f.rule}  {f.message}  (waiver at {w.file}:{w.line}: {w.reason})")
        out.append("")
    for n in report.notes:
        out.append(f"note: {n}")
    errors = sum(1 for f in report.findings if f.severity is Severity.error)
    warnings = sum(1 for f in report.findings if f.severity is Severity.warning)
    s = report.stats
    tree = f", {s['kustomizations']} Flux Kustomizations, {s['objects']} objects" if "objects" in s else ""
    summary = (f"{errors} error(s), {warnings} warning(s), {len(report.waived)} waived; "
               f"{len(report.rules_run)} rules{tree} in {s.get('seconds', 0):.2f}s")
    out.append(("clean: " if report.exit_code == 0 else "") + summary)
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
