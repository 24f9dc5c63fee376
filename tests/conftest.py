"""Shared test helpers: the repository root, scratch repositories, running the real CLI, and the
markers that say what a test needs (`slow`, `needs_kubectl`, `needs_root`), applied here from what
each test uses so `-m "not slow"` and friends select by it."""

from __future__ import annotations

import atexit
import io
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
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
# The tool's user cache (charts, chart facts, compiled validators, CRD schemas) goes into a folder of
# this session, never into ~/.cache/homelab: a run neither writes the user's home nor depends on what
# an earlier run left there. Set at import, so every CLI the tests start inherits it (and xdist
# workers the controller's folder, which its creator removes at exit); a HOMELAB_CACHE_DIR given from
# outside (a warm cache for quick local runs) is kept.
if not os.environ.get("HOMELAB_CACHE_DIR"):
    os.environ["HOMELAB_CACHE_DIR"] = tempfile.mkdtemp(prefix="homelab-test-cache-")
    atexit.register(shutil.rmtree, os.environ["HOMELAB_CACHE_DIR"], ignore_errors=True)


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
        yaml.indent(mapping=2, sequence=4, offset=2)  # the bundled file's layout, so lines stay where they were
        yaml.width = 4096
        yaml.preserve_quotes = True
        doc = yaml.load(text)
        edit(doc)
        buf = io.StringIO()
        yaml.dump(doc, buf)
        text = buf.getvalue()
    (dest / "homelab.yaml").write_text(text)
    return render_glue(dest)


OWN_REPOSITORY = "https://github.com/jdoe/homelab"


def own_lab(doc: dict) -> None:
    """Replace the example values the bundled homelab.yaml ships with by a user's own (same keys, same lines),
    so `homelab up` accepts the copy: what a new user does first."""
    site = doc["site"]
    site["domain"], site["acme_email"] = "jdoe-lab.net", "admin@jdoe-lab.net"
    site["ssh_public_keys"][0] = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdoeOwnPublicKeyForTheTestLabOnlyAAAAAAAAAA jdoe@laptop"
    doc["flux"]["repository"] = OWN_REPOSITORY
    bw = doc["bitwarden"]
    bw["organization_id"] = "5f0c6a52-3c1e-4d8e-9a61-0b7e2f4c9d10"
    for i, name in enumerate(bw["secrets"]):
        bw["secrets"][name] = f"7a1e9c3b-52d4-4f6a-8b0e-{i + 1:012d}"


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """A scratch copy of the bundled config plus its rendered glue, to break and mend."""
    return copy_repo(tmp_path)


# ------------------------------------------------------------------ charts: mirror, cache, registry

SHARED_CHARTS = SHARED / "charts"


@pytest.fixture(scope="session")
def shared_charts() -> Path:
    """The offline chart mirror beside the repository (`../shared/charts`, as CI lays it out)."""
    if not (SHARED_CHARTS / "traefik.github.io" / "charts" / "index.yaml").is_file():
        pytest.skip(f"the offline chart mirror is not at {SHARED_CHARTS} (clone shared/ beside the repository)")
    return SHARED_CHARTS


@pytest.fixture
def chart_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """An empty chart cache of this test's own (HOMELAB_CACHE_DIR), and no mirror set."""
    from homelab.charts import ChartCache

    monkeypatch.setenv("HOMELAB_CACHE_DIR", str(tmp_path / "user-cache"))
    monkeypatch.delenv("HOMELAB_CHART_MIRROR", raising=False)
    return ChartCache()


@pytest.fixture
def chart_server(shared_charts: Path):
    """`../shared/charts` served over HTTP on 127.0.0.1 (a `chartmirror.ChartServer`)."""
    from chartmirror import ChartServer

    server = ChartServer(shared_charts)
    yield server
    server.close()


@pytest.fixture
def chart_mirror(chart_server, chart_cache, monkeypatch: pytest.MonkeyPatch):
    """HOMELAB_CHART_MIRROR pointing at the served `../shared/charts`, with an empty cache."""
    monkeypatch.setenv("HOMELAB_CHART_MIRROR", chart_server.url)
    return chart_server


@pytest.fixture(scope="session")
def oci_registry(tmp_path_factory: pytest.TempPathFactory):
    """A real OCI registry (Debian's docker-registry) on 127.0.0.1, empty at the start of the session."""
    from chartmirror import Registry

    try:
        registry = Registry(tmp_path_factory.mktemp("registry"))
    except RuntimeError as exc:
        pytest.skip(str(exc))
    yield registry
    registry.close()


SNAPSHOTS = ROOT / "tests" / "snapshots"
UPDATE_SNAPSHOTS = "HOMELAB_UPDATE_SNAPSHOTS"  # =1: rewrite the snapshots (and the README's command table)


def assert_snapshot(name: str, text: str) -> None:
    """`text` must equal tests/snapshots/NAME; with HOMELAB_UPDATE_SNAPSHOTS=1 it becomes the new snapshot.

    The snapshots are kept in the repository so a reviewer sees each screen as a user would.
    """
    import difflib

    path = SNAPSHOTS / name
    if os.environ.get(UPDATE_SNAPSHOTS) == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    want = path.read_text(encoding="utf-8") if path.exists() else ""
    if text != want:
        diff = "".join(difflib.unified_diff(want.splitlines(True), text.splitlines(True), f"{path} (kept)", "now"))
        pytest.fail(f"output drifted from {path.relative_to(ROOT)}:\n{diff}\nIf the change is intended, refresh with "
                    f"`{UPDATE_SNAPSHOTS}=1 .venv/bin/python -m pytest tests/cli/test_screens.py` and review the diff.",
                    pytrace=False)


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
