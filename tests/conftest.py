"""Shared test helpers: the repository root, the bundled config, and running the real CLI."""

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


def copy_repo(dest: Path, *parts: str, edit: Callable[[dict], None] | None = None) -> Path:
    """A scratch copy of the repository: homelab.yaml (changed by `edit` on its round-trip YAML, comments
    kept), the named top-level folders (`"kubernetes"`, `"ansible"`, ...) and the glue rendered from it."""
    from ruamel.yaml import YAML

    from homelab.config import load_config
    from homelab.render import render_all, write

    dest.mkdir(parents=True, exist_ok=True)
    for part in parts:
        shutil.copytree(ROOT / part, dest / part, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*", "collections"))
    text = (ROOT / "homelab.yaml").read_text()
    if edit is not None:
        yaml = YAML()
        doc = yaml.load(text)
        edit(doc)
        buf = io.StringIO()
        yaml.dump(doc, buf)
        text = buf.getvalue()
    (dest / "homelab.yaml").write_text(text)
    write(render_all(load_config(dest / "homelab.yaml")), dest)
    return dest


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """A scratch copy of the bundled config plus its rendered glue, to break and mend."""
    return copy_repo(tmp_path)
