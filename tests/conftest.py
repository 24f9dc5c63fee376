"""Shared test helpers: the repository root, scratch repositories, running the real CLI, and the
markers that say what a test needs (`slow`, `needs_kubectl`, `needs_root`), applied here from what
each test uses so `-m "not slow"` and friends select by it."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
# CRD JSON schemas: the project's shared catalogue beside the repository (as CI lays it out),
# else the copy vendored in schema/crds (what `homelab check` uses by default).
CRD_SCHEMAS = SHARED / "crd-schemas" if (SHARED / "crd-schemas").is_dir() else ROOT / "schema" / "crds"


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `homelab` as a user would (a separate process), from the source tree."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), **(env or {})}
    return subprocess.run([sys.executable, "-m", "homelab", *args], cwd=cwd or ROOT, env=full_env,
                          capture_output=True, text=True, timeout=timeout, check=False)


def render_glue(repo: Path) -> Path:
    """Write the glue files of `repo`'s homelab.yaml, as `homelab render` does."""
    from homelab.config import load_config
    from homelab.render import render_all, write

    write(render_all(load_config(repo / "homelab.yaml")), repo)
    return repo


def copy_repo(dest: Path, *parts: str, edit: Callable[[dict], None] | None = None,
              config: Path = ROOT / "homelab.yaml", overlay: Path | None = None) -> Path:
    """The one scratch repository: `config` as homelab.yaml (changed by `edit` on its round-trip YAML,
    comments kept), the named top-level folders (`"kubernetes"`, `"ansible"`, ...), the files of
    `overlay` (a fixture tree) on top, and the glue rendered from homelab.yaml."""
    from ruamel.yaml import YAML

    dest.mkdir(parents=True, exist_ok=True)
    for part in parts:
        shutil.copytree(ROOT / part, dest / part, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*", "collections"))
    if overlay is not None:
        shutil.copytree(overlay, dest, dirs_exist_ok=True)
    text = config.read_text()
    if edit is not None:
        yaml = YAML()
        doc = yaml.load(text)
        edit(doc)
        buf = io.StringIO()
        yaml.dump(doc, buf)
        text = buf.getvalue()
    (dest / "homelab.yaml").write_text(text)
    return render_glue(dest)


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """A scratch copy of the bundled config plus its rendered glue, to break and mend."""
    return copy_repo(tmp_path)


# -- markers from what a test uses -----------------------------------------------------------------

# A module that imports these runs real programs the marker names (the check and tree helpers build
# the Flux tree with `kubectl kustomize`; the hosts harness boots systemd-nspawn machines as root).
_USES = {"needs_kubectl": ("check_helpers", "fluxtree", "load_tree(", "run_checks("),
         "needs_root": ("hosts.lab",)}


def _markers_of(item: pytest.Item) -> set[str]:
    found: set[str] = set()
    module = getattr(item, "module", None)
    text = Path(module.__file__).read_text(encoding="utf-8") if module is not None and module.__file__ else ""
    for marker, needles in _USES.items():
        if any(n in text for n in needles):
            found.add(marker)
    for mark in item.iter_markers("skipif"):  # a test that skips without kubectl or root needs it
        reason = str(mark.kwargs.get("reason", ""))
        if "kubectl" in reason:
            found.add("needs_kubectl")
        if "root" in reason:
            found.add("needs_root")
    if "needs_root" in found:
        found.add("slow")  # booting test hosts takes minutes
    return found


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for name in sorted(_markers_of(item) - {m.name for m in item.iter_markers()}):
            item.add_marker(name)
