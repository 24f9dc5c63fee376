"""The plan's screens, kept in the repository (tests/snapshots/) so a reviewer sees what a user sees.

Each snapshot is `homelab plan --no-check` on this repository at a terminal width; the test fails when
the screen drifts. After a deliberate change, refresh them with
`HOMELAB_UPDATE_SNAPSHOTS=1 pytest tests/plan/test_plan_screens.py` and review the diff.
"""

from __future__ import annotations

import os
import shutil

import pytest

from conftest import CHART_MIRROR, ROOT, run_cli

SNAPSHOTS = ROOT / "tests" / "snapshots"
UPDATE = os.environ.get("HOMELAB_UPDATE_SNAPSHOTS") == "1"
pytestmark = [
    pytest.mark.skipif(shutil.which("kubectl") is None,
                       reason="kubectl (built-in kustomize) is not installed: the screens include the Flux tree"),
    pytest.mark.skipif(not CHART_MIRROR.is_dir(),
                       reason=f"the test chart mirror {CHART_MIRROR} is absent: the screens show the charts rendered from it"),
]


@pytest.fixture(scope="module", autouse=True)
def own_chart_cache(tmp_path_factory):
    """Charts come from the test mirror alone, never from what a user cache happens to hold, so the budget's rendered charts are the same
    on every machine; one cache for the module, so only the first screen renders them."""
    saved = {k: os.environ.get(k) for k in ("HOMELAB_CACHE_DIR", "HOMELAB_CHART_MIRROR")}
    os.environ["HOMELAB_CACHE_DIR"] = str(tmp_path_factory.mktemp("chart-cache"))
    # relative to the repository (the command's working directory), so a path on the screen is the same
    # in any checkout
    os.environ["HOMELAB_CHART_MIRROR"] = os.path.relpath(CHART_MIRROR, ROOT)
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def screen(columns: int | None, *args: str) -> str:
    env = {"COLUMNS": str(columns)} if columns else {}
    base = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    res = run_cli("plan", "--no-check", *args, env={**base, **env, "TERM": "dumb"}, timeout=600)
    assert res.returncode == 0, res.stderr
    return "\n".join(line.rstrip() for line in res.stdout.splitlines()) + "\n"


@pytest.mark.parametrize("columns", [80, 160])
def test_the_plan_screen_matches_its_snapshot(columns):
    text = screen(columns)
    snap = SNAPSHOTS / f"plan-{columns}.txt"
    if UPDATE:
        snap.write_text(text, encoding="utf-8")
    assert snap.is_file(), f"{snap} is missing: HOMELAB_UPDATE_SNAPSHOTS=1 pytest {__file__}"
    assert text == snap.read_text(encoding="utf-8"), \
        f"the {columns}-column plan drifted from {snap.relative_to(ROOT)}; if the change is meant, refresh it " \
        "with HOMELAB_UPDATE_SNAPSHOTS=1 pytest tests/plan/test_plan_screens.py and review the diff"


@pytest.mark.parametrize("columns", [80, 160])
def test_no_line_is_wider_than_the_terminal_and_no_cell_is_cut(columns):
    text = screen(columns)
    wide = [line for line in text.splitlines() if len(line) > columns]
    assert wide == []
    assert "…" not in text
    assert "external-dns-pihole" in text and "external-dns-cloudflare" in text   # the DNS owner is never cut


def test_a_pipe_without_columns_gets_the_80_column_screen():
    assert screen(None) == screen(80)


def test_wide_lays_tables_out_past_the_terminal():
    text = screen(80, "--wide")
    assert max(len(line) for line in text.splitlines()) > 120
    assert "auth.example.com             │ authentik/authentik" in text   # the tree's routes as a table, not stacked
