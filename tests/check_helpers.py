"""Helpers for the `homelab check` tests: build a scratch repository from the clean fixture tree,
break it with a rule's fixture overlay, and run the checks in-process."""

from __future__ import annotations

import os
from pathlib import Path

from conftest import CHART_MIRROR, CRD_SCHEMAS, copy_repo, render_glue

FIXTURES = Path(__file__).parent / "fixtures" / "check"
NOT_IN_FIXTURES = ("site/placeholder", "site/service-unrouted")
CLEAN = FIXTURES / "clean-tree"


def chart_ignores() -> list[str]:
    """`helm/chart-unavailable` when no chart can be had (no shared mirror beside the repository and none
    set by the test itself): that warning is then the only difference the charts make, so it is ignored."""
    return [] if CHART_MIRROR.is_dir() or os.environ.get("HOMELAB_CHART_MIRROR") else ["helm/chart-unavailable"]


def line_starting(path: Path, prefix: str) -> int:
    """The 1-based line of `path` that starts with `prefix` (where a finding must point)."""
    [line] = [i for i, text in enumerate(path.read_text().splitlines(), 1) if text.startswith(prefix)]
    return line


def make_repo(dest: Path) -> Path:
    """homelab.yaml + rendered glue + the clean Flux tree (a repository `homelab check` finds clean)."""
    return copy_repo(dest, overlay=CLEAN)


def apply_overlay(repo: Path, overlay: Path, replacements: dict[str, str] | None = None) -> list[str]:
    """Copy every file of `overlay` over the repository (re-rendering glue when homelab.yaml changes)."""
    changed = []
    for src in sorted(p for p in overlay.rglob("*") if p.is_file()):
        rel = src.relative_to(overlay).as_posix()
        text = src.read_text(encoding="utf-8")
        for k, v in (replacements or {}).items():
            text = text.replace(k, v)
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text, encoding="utf-8")
        changed.append(rel)
    if "homelab.yaml" in changed:
        render_glue(repo)
    return changed


def check(repo: Path, **kw):
    """Run every non-optional rule in-process, with the shared CRD schemas and a cache in the repo."""
    from homelab.checks import Options, run_checks
    from homelab.config import load_config
    from homelab.gitops import Cache

    cache = Cache(repo / ".homelab" / "cache" / "check.pickle")
    opts = Options(schemas=kw.pop("schemas", CRD_SCHEMAS), **kw.pop("options", {}))
    # the bundled homelab.yaml is the example (site/placeholder) and the clean tree routes only homepage of its
    # services (site/service-unrouted); tests/render/test_site.py makes both fire
    kw.setdefault("ignore", list(NOT_IN_FIXTURES))
    kw["ignore"] = [*kw["ignore"], *chart_ignores()]
    report = run_checks(repo, load_config(repo / "homelab.yaml"), options=opts, cache=cache, **kw)
    cache.save()
    return report
