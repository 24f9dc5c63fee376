"""Shared test helpers: the repository root, the bundled config, and running the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
# CRD JSON schemas: the project's shared catalogue beside the repository (as CI lays it out),
# else the copy vendored in schema/crds (what `homelab check` uses by default).
CRD_SCHEMAS = SHARED / "crd-schemas" if (SHARED / "crd-schemas").is_dir() else ROOT / "schema" / "crds"
# The offline Helm chart mirror beside the repository (as CI lays it out): every check renders the
# tree's charts from it. Without it charts are unavailable, and tests that need them skip.
CHART_MIRROR = SHARED / "charts"
if CHART_MIRROR.is_dir():
    os.environ.setdefault("HOMELAB_CHART_MIRROR", str(CHART_MIRROR))


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `homelab` as a user would (a separate process), from the source tree."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), **(env or {})}
    return subprocess.run([sys.executable, "-m", "homelab", *args], cwd=cwd or ROOT, env=full_env,
                          capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """A scratch copy of the bundled config plus its rendered glue, to break and mend."""
    from homelab.config import load_config
    from homelab.render import render_all, write

    (tmp_path / "homelab.yaml").write_text((ROOT / "homelab.yaml").read_text())
    write(render_all(load_config(tmp_path / "homelab.yaml")), tmp_path)
    return tmp_path
