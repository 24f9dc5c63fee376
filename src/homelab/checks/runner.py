"""Run the selected rules, apply waivers, and return one Report."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from homelab import paths
from homelab.checks import waivers as waiver_mod
from homelab.checks.context import CheckContext, Options
from homelab.checks.registry import RULE_FAILED, Rule, check_rules, selected
from homelab.config import HomelabConfig
from homelab.errors import HomelabError
from homelab.findings import Finding, Severity
from homelab.gitops import Cache

if TYPE_CHECKING:
    from homelab.charts.releases import Charts
    from homelab.gitops import FluxTree

FAILING = (Severity.error, Severity.warning)


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    waived: list[tuple[Finding, waiver_mod.Waiver]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rules_run: list[str] = field(default_factory=list)
    stats: dict[str, float | int] = field(default_factory=dict)
    root: Path | None = None

    @property
    def exit_code(self) -> int:
        return 1 if any(f.severity in FAILING for f in self.findings) else 0


def _sort_key(f: Finding) -> tuple:
    return (f.file or "~", f.line or 0, f.rule, f.message)


def run_checks(root: Path, cfg: HomelabConfig, *, select: list[str] | None = None, ignore: list[str] | None = None,
               options: Options | None = None, cache: Cache | None = None, config_file: str | None = None,
               given: tuple[FluxTree, Charts] | None = None) -> Report:
    """`given`: the tree and its charts, already read with the options' Kubernetes version and pull/offline
    (`homelab plan` reads them for its own sections first), so they are not read twice."""
    select, ignore = select or [], ignore or []
    options = options or Options()
    ctx = CheckContext(root=root.resolve(), cfg=cfg, cache=cache or Cache(None), options=options,
                       config_file=config_file or paths.CONFIG_FILE, given=given)
    report = Report(root=ctx.root)
    t0 = time.perf_counter()
    chosen, skipped_optional = _choose(select, ignore, options.infra)
    report.rules_run = [r.id for r in chosen]
    raw = _run_rules(ctx, chosen, select, ignore)
    if skipped_optional:
        ctx.note(f"not run: {', '.join(skipped_optional)} (pass --infra to run terraform fmt, ansible-lint and yamllint)")
    all_waivers, problems = _scan_waivers(ctx, select, ignore, any_findings=bool(raw))
    raw.extend(problems)
    _apply_waivers(report, raw, all_waivers)
    report.notes = ctx.notes
    report.stats = _stats(ctx, t0)
    return report


def _choose(select: list[str], ignore: list[str], infra: bool) -> tuple[list[Rule], list[str]]:
    """The selected rules to run, and the ids of the optional ones left out without --infra."""
    chosen: list[Rule] = []
    skipped_optional: list[str] = []
    for r in check_rules():
        if not any(selected(i, select, ignore) for i in r.ids):
            continue
        if r.optional and not infra:
            skipped_optional.append(r.id)
            continue
        chosen.append(r)
    return chosen, skipped_optional


def _run_rule(ctx: CheckContext, r: Rule, select: list[str], ignore: list[str]) -> list[Finding]:
    assert r.fn is not None
    try:
        return [f for f in r.fn(ctx) if selected(f.rule, select, ignore)]
    except HomelabError:
        raise
    except Exception as exc:  # a broken rule must not hide the others' findings
        return [RULE_FAILED.finding(f"rule {r.id} failed: {type(exc).__name__}: {exc}",
                                    hint="this is a bug in homelab check; please report it")]


def _run_rules(ctx: CheckContext, chosen: list[Rule], select: list[str], ignore: list[str]) -> list[Finding]:
    # Rules that do not need the Flux tree (file scans, render check) run in a second thread while
    # this one waits for kustomize: their work fills the time the builds leave idle.
    _ = ctx.files
    raw: list[Finding] = []
    background = [r for r in chosen if not r.needs_tree and not r.optional]
    with ThreadPoolExecutor(max_workers=1) as pool:
        side = pool.submit(lambda: [f for r in background for f in _run_rule(ctx, r, select, ignore)])
        for r in chosen:
            if r not in background:
                raw.extend(_run_rule(ctx, r, select, ignore))
        raw.extend(side.result())
    return raw


def _scan_waivers(ctx: CheckContext, select: list[str], ignore: list[str], *,
                  any_findings: bool) -> tuple[list[waiver_mod.Waiver], list[Finding]]:
    """The waivers in the scanned files, and the malformed ones as findings when waiver/reason-missing is
    selected; no file is read when there is nothing to waive and nothing to report."""
    all_waivers: list[waiver_mod.Waiver] = []
    problems: list[Finding] = []
    report_malformed = selected("waiver/reason-missing", select, ignore)
    if not (report_malformed or any_findings):
        return all_waivers, problems
    for rel in ctx.files:
        text = ctx.text(rel)
        if text is None or "homelab:" not in text:
            continue
        ws, found = waiver_mod.scan(rel, text)
        all_waivers.extend(ws)
        if report_malformed:
            problems.extend(found)
    return all_waivers, problems


def _apply_waivers(report: Report, raw: list[Finding], all_waivers: list[waiver_mod.Waiver]) -> None:
    """Each finding once, in file order: listed as waived when a valid waiver covers it, else reported."""
    seen: set[tuple] = set()
    for f in sorted(raw, key=_sort_key):
        k = (f.rule, f.file, f.line, f.message)
        if k in seen:
            continue
        seen.add(k)
        w = next((w for w in all_waivers if w.covers(f)), None)
        if w is not None and f.rule != "waiver/reason-missing":
            report.waived.append((f, w))
        else:
            report.findings.append(f)


def _stats(ctx: CheckContext, t0: float) -> dict[str, float | int]:
    stats: dict[str, float | int] = {"seconds": round(time.perf_counter() - t0, 3), "cache_hits": ctx.cache.hits,
                                     "cache_misses": ctx.cache.misses}
    if "tree" in ctx.__dict__:
        stats.update(kustomizations=len(ctx.tree.kustomizations), objects=len(ctx.tree.objects),
                     built=ctx.tree.builds, reused=ctx.tree.cached)
    return stats
