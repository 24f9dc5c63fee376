"""The plan's screens, kept in the repository (tests/snapshots/) so a reviewer sees what a user sees.

Each snapshot is `homelab plan --no-check` on this repository at a terminal width; the test fails when
the screen drifts. After a deliberate change, refresh them with
`HOMELAB_UPDATE_SNAPSHOTS=1 pytest tests/test_plan_screens.py` and review the diff.
"""

from __future__ import annotations

import os
import shutil

import pytest

from conftest import ROOT, run_cli

SNAPSHOTS = ROOT / "tests" / "snapshots"
UPDATE = os.environ.get("HOMELAB_UPDATE_SNAPSHOTS") == "1"
pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None,
                                reason="kubectl (built-in kustomize) is not installed: the screens include the Flux tree")


def screen(columns: int | None, *args: str) -> str:
    env = {"COLUMNS": str(columns)} if columns else {}
    base = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    res = run_cli("plan", "--no-check", *args, env={**base, **env, "TERM": "dumb"})
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
        "with HOMELAB_UPDATE_SNAPSHOTS=1 pytest tests/test_plan_screens.py and review the diff"


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
