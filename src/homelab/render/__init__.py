"""homelab.yaml → small glue files in each tool's native format.

Each `render_*` function is pure: config in, {repo-relative path: text} out. Writing happens
only in `write`, all files as one all-or-nothing change after every one rendered, so neither bad
input nor a full disk nor a kill leaves some glue new and some old. The output is deterministic
(sorted keys, no timestamps), which is what makes `render --check` meaningful.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from homelab.atomicfile import commit
from homelab.config import HomelabConfig
from homelab.render.ansible import render_ansible
from homelab.render.flux import render_flux
from homelab.render.inventory import render_hosts_inventory
from homelab.render.packer import render_packer
from homelab.render.terraform import render_terraform

RENDERERS = (render_packer, render_terraform, render_ansible, render_hosts_inventory, render_flux)


def render_all(cfg: HomelabConfig) -> dict[str, str]:
    out: dict[str, str] = {}
    for renderer in RENDERERS:
        out.update(renderer(cfg))
    return dict(sorted(out.items()))


@dataclass(frozen=True)
class Drift:
    path: str
    state: str  # "missing" | "stale"
    line: int | None = None  # the first line that differs (stale files)


def check(cfg: HomelabConfig, root: Path) -> list[Drift]:
    """Glue files that are missing or differ from what homelab.yaml renders (hand edits included)."""
    drift = []
    for rel, text in render_all(cfg).items():
        target = root / rel
        if not target.is_file():
            drift.append(Drift(rel, "missing"))
            continue
        current = target.read_text(encoding="utf-8", errors="replace")
        if current != text:
            drift.append(Drift(rel, "stale", _first_difference(current, text)))
    return drift


def _first_difference(current: str, wanted: str) -> int:
    have, want = current.splitlines(), wanted.splitlines()
    return next((i for i, (a, b) in enumerate(zip(have, want, strict=False), 1) if a != b), min(len(have), len(want)) + 1)


def write(files: dict[str, str], root: Path) -> list[str]:
    """Write the glue files as one all-or-nothing change (see homelab.atomicfile); return those that changed."""
    staged: dict[str | Path, str | bytes] = {}
    staged.update(files)
    return commit(staged, root)
