"""Small helpers shared by rules."""

from __future__ import annotations

from homelab.checks.context import CheckContext
from homelab.gitops import K8sObject


def line_containing(ctx: CheckContext, file: str, needle: str, start: int = 1) -> int | None:
    """First line at or after `start` in `file` that contains `needle` (then anywhere), 1-based."""
    text = ctx.text(file) if file else None
    if text is None:
        return None
    lines = text.splitlines()
    for n in list(range(max(start, 1), len(lines) + 1)) + list(range(1, max(start, 1))):
        if needle in lines[n - 1]:
            return n
    return None


def where(obj: K8sObject) -> str:
    """`Kind namespace/name`; for a chart's rendered object also the HelmRelease and template."""
    what = f"{obj.kind} {obj.namespace + '/' if obj.namespace else ''}{obj.name}"
    return f"{what} (rendered by HelmRelease {obj.release} from {obj.template})" if obj.release else what
