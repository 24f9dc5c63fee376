"""The screens of `homelab check` and `homelab status` at 80 and 160 columns, against the snapshots
kept in tests/snapshots/ (a reviewer reads them there). Refresh after an intended change with
`HOMELAB_UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/cli/test_screens.py`.

Every screen runs the real CLI in a pipe, as `homelab ... | less` would; COLUMNS sets the width.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from check_helpers import CRD_SCHEMAS, FIXTURES, apply_overlay, make_repo
from conftest import CHART_MIRROR, ROOT, assert_snapshot, run_cli

RECORDED = ROOT / "tests" / "fixtures" / "status"
# Overlays of the rule fixtures that together give findings with long messages and hints.
BROKEN = ("flux-cold-start", "flux-substitution-undefined", "secrets-secret-data")
# Only the rules these overlays break, plus the example values: the screen must not change with what
# else the machine has (a chart mirror, linters).
SELECT = "flux/cold-start,flux/substitution-undefined,secrets/secret-data,site/placeholder"
WIDTHS = (80, 160)


def _longest_line(text: str) -> int:
    return max(map(len, text.splitlines()), default=0)


@pytest.fixture(scope="module")
def broken_repo(tmp_path_factory) -> Path:
    repo = make_repo(tmp_path_factory.mktemp("screens") / "repo")
    for name in BROKEN:
        apply_overlay(repo, FIXTURES / name / "broken")
    return repo


@pytest.mark.parametrize("columns", WIDTHS)
@pytest.mark.parametrize("case", ["healthy", "unhealthy"])
def test_status_screen_fits_the_width_and_matches_its_snapshot(case, columns):
    res = run_cli("status", "--recorded", str(RECORDED / case), env={"COLUMNS": str(columns)})
    assert res.returncode == (0 if case == "healthy" else 1), res.stderr
    assert _longest_line(res.stdout) <= columns
    assert_snapshot(f"status-{case}-{columns}.txt", res.stdout)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed; check builds the tree with it")
@pytest.mark.skipif(not CHART_MIRROR.is_dir(), reason=f"the chart mirror {CHART_MIRROR} is absent: the snapshot "
                    "was recorded with the tree's charts rendered")
@pytest.mark.parametrize("columns", WIDTHS)
def test_check_screen_fits_the_width_and_matches_its_snapshot(broken_repo, columns):
    res = run_cli("-c", str(broken_repo / "homelab.yaml"), "check", "--schemas", str(CRD_SCHEMAS), "--select", SELECT,
                  cwd=broken_repo, env={"COLUMNS": str(columns)})
    assert res.returncode == 1, res.stderr
    # The run's statistics change with the machine (a chart mirror adds rendered objects), the time
    # with every run, the rule count with every new rule: the snapshot shows them as <n> and <t>.
    text = re.sub(r"\b\d+ rules, \d+ Flux Kustomizations, \d+ objects in \d+\.\d\ds$",
                  "<n> rules, <n> Flux Kustomizations, <n> objects in <t>s", res.stdout, flags=re.M)
    assert _longest_line(text) <= columns
    assert_snapshot(f"check-{columns}.txt", text)


def test_wide_keeps_each_status_row_on_one_line_whatever_columns_says():
    res = run_cli("status", "--recorded", str(RECORDED / "unhealthy"), "--wide", env={"COLUMNS": "80"})
    rows = [line for line in res.stdout.splitlines() if line.startswith("certificate")]
    assert len(rows) == 2 and "check the ClusterIssuer" in rows[1]
    assert all(line == line.rstrip() for line in res.stdout.splitlines())


def test_narrow_status_stacks_each_detail_below_its_row_instead_of_a_one_character_column():
    res = run_cli("status", "--recorded", str(RECORDED / "unhealthy"), env={"COLUMNS": "80"})
    lines = res.stdout.splitlines()
    assert len(lines) < 120, "one line per character of the detail column is back"
    i = lines.index("  k3s-3                ✗ stopped")
    assert lines[i + 1].startswith("      vmid 203 on pve2")


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed; check builds the tree with it")
def test_check_wide_and_output_file_keep_one_line_per_finding(broken_repo, tmp_path):
    args = ("-c", str(broken_repo / "homelab.yaml"), "check", "--schemas", str(CRD_SCHEMAS), "--select", SELECT)
    wide = run_cli(*args, "--wide", cwd=broken_repo, env={"COLUMNS": "80"}).stdout
    assert any(line.startswith("      2  error   flux/cold-start") and "its chain:" in line for line in wide.splitlines())
    run_cli(*args, "-o", str(tmp_path / "report.txt"), cwd=broken_repo, env={"COLUMNS": "80"})
    assert (tmp_path / "report.txt").read_text().splitlines()[:3] == wide.splitlines()[:3]


@pytest.mark.parametrize("columns", range(60, 201, 20))
def test_status_at_any_width_fits_and_never_squeezes_the_detail_to_a_sliver(columns):
    """In-process over many widths: every line fits, and no table column is narrower than it must be."""
    import io

    from rich.console import Console

    from homelab.commands.status import print_table
    from homelab.config import load_config
    from homelab.status import collect, recorded_sources
    from homelab.terminal import MIN_LAST_COLUMN

    report = collect(load_config(ROOT / "homelab.yaml"), recorded_sources(RECORDED / "unhealthy"))
    out = io.StringIO()
    print_table(report, Console(file=out, width=columns, emoji=False))
    lines = out.getvalue().splitlines()
    assert _longest_line(out.getvalue()) <= columns
    for line in lines:  # a table row's detail cell gets at least MIN_LAST_COLUMN columns
        if "│" in line:
            assert columns - line.rindex("│") - 2 >= MIN_LAST_COLUMN, line
    assert len(lines) < 3 * len(report.checks)


def test_check_report_wraps_in_its_column_or_stacks_and_wide_keeps_one_line_per_finding():
    from homelab.checks import report as rep
    from homelab.checks.runner import Report
    from homelab.registry import all_rules, finding

    all_rules()  # registers the check rules
    message = "first reconcile fails: " + "IngressRoute homepage/homepage needs CRD traefik.io/IngressRoute; " * 3
    report = Report(findings=[finding("flux/cold-start", message, "apps/x.yaml", 2, "add it to dependsOn")])
    wide = rep.text(report, None).splitlines()
    assert wide[1].startswith("      2  error   flux/cold-start ") and wide[1].endswith(message)
    roomy = rep.text(report, 120).splitlines()
    assert roomy[1].startswith("      2  error   flux/cold-start first reconcile fails:")
    assert all(len(line) <= 120 for line in roomy) and roomy[2].startswith(" " * 32)
    narrow = rep.text(report, 60).splitlines()
    assert narrow[1] == "      2  error   flux/cold-start" and narrow[2].startswith("         first reconcile")
    assert all(len(line) <= 60 for line in narrow)
