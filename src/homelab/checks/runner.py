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


def run_checks(root: Path, cfg: HomelabConfig, *, select: list[str] | None = None, ignore: list[str] | None = None,  # noqa: C901
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
    raw: list[Finding] = []
    skipped_optional = []
    chosen = []
    for r in check_rules():
        if not any(selected(i, select, ignore) for i in r.ids):
            continue
        if r.optional and not options.infra:
            skipped_optional.append(r.id)
            continue
        report.rules_run.append(r.id)
        chosen.append(r)

    def run(r: Rule) -> list[Finding]:
        assert r.fn is not None
        try:
            return [f for f in r.fn(ctx) if selected(f.rule, select, ignore)]
        except HomelabError:
            raise
        except Exception as exc:  # a broken rule must not hide the others' findings
            return [RULE_FAILED.finding(f"rule {r.id} failed: {type(exc).__name__}: {exc}",
                                        hint="this is a bug in homelab check; please report it")]

    # Rules that do not need the Flux tree (file scans, render check) run in a second thread while
    # this one waits for kustomize: their work fills the time the builds leave idle.
    _ = ctx.files
    background = [r for r in chosen if not r.needs_tree and not r.optional]
    with ThreadPoolExecutor(max_workers=1) as pool:
        side = pool.submit(lambda: [f for r in background for f in run(r)])
        for r in chosen:
            if r not in background:
                raw.extend(run(r))
        raw.extend(side.result())
    if skipped_optional:
        ctx.note(f"not run: {', '.join(skipped_optional)} (pass --infra to run terraform fmt, ansible-lint and yamllint)")

    # waivers: malformed ones are findings; valid ones remove matching findings and are listed
    all_waivers: list[waiver_mod.Waiver] = []
    if selected("waiver/reason-missing", select, ignore) or raw:
        for rel in ctx.files:
            text = ctx.text(rel)
            if text is None or "homelab:" not in text:
                continue
            ws, problems = waiver_mod.scan(rel, text)
            all_waivers.extend(ws)
            if selected("waiver/reason-missing", select, ignore):
                raw.extend(problems)
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
    report.notes = ctx.notes
    report.stats = {"seconds": round(time.perf_counter() - t0, 3), "cache_hits": ctx.cache.hits,
                    "cache_misses": ctx.cache.misses}
    if "tree" in ctx.__dict__:
        report.stats.update(kustomizations=len(ctx.tree.kustomizations), objects=len(ctx.tree.objects),
                            built=ctx.tree.builds, reused=ctx.tree.cached)
    return report
