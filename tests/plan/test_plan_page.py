"""`homelab plan -f html`: one self-contained page, checked in a real headless Chromium (Debian's package)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from test_plan import lab

from browser import CHROMIUM, open_page

from conftest import run_cli

needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (scripts/setup-test-env "
                                                              "installs Debian's chromium package)")
pytest.importorskip("websocket", reason="websocket-client (a test extra) is not installed")

MEASURE = """(() => {
  const svgs = [...document.querySelectorAll('svg')].map(s => {
    const r = s.getBoundingClientRect();
    return {label: s.getAttribute('aria-label'), width: r.width, height: r.height, boxes: s.querySelectorAll('rect').length};
  });
  const cells = [...document.querySelectorAll('table.matrix td.cell')].map(td => td.classList[1]);
  const links = [...document.querySelectorAll('a.loc')].map(a => a.getAttribute('href'));
  return {svgs, cells, links, text: document.body.innerText};
})()"""


def html_plan(repo: Path, out: Path) -> Path:
    res = run_cli("plan", "-f", "html", "-o", str(out), "--no-check", cwd=repo)
    assert res.returncode == 0, res.stderr
    assert f"wrote {out}" in res.stderr and res.stdout == ""
    return out


@needs_chromium
def test_the_page_opens_offline_with_no_console_errors_and_shows_its_diagrams(tmp_path):
    repo = lab(tmp_path / "repo", tree=shutil.which("kubectl") is not None)
    page = html_plan(repo, repo / "site" / "plan.html")
    shot = tmp_path / "plan-1280x800.png"
    run = open_page(page, shot, measure=MEASURE)
    print(f"\nscreenshot of the HTML plan at 1280x800: {shot}")
    assert run.console_errors == []
    assert [u for u in run.requests if u != page.resolve().as_uri()] == [], "the page loaded something"
    diagrams = {s["label"].split()[0].rstrip(":"): s for s in run.facts["svgs"]}
    assert set(diagrams) == {"architecture", "provisioning"}
    assert all(s["width"] > 300 and s["height"] > 150 and s["boxes"] >= 5 for s in diagrams.values()), diagrams
    # the drill matrix: 8 drills x 7 answers, coloured by severity; pve2 fails
    assert len(run.facts["cells"]) == 8 * 7 and {"ok", "fail"} <= set(run.facts["cells"])
    text = run.facts["text"]
    assert "host-down:pve2" in text and "no placement of 3 K3s servers" in text
    # every finding links to its file:line, relative to the page, and the file is there
    assert run.facts["links"], "no finding links"
    for href in run.facts["links"]:
        target, _, anchor = href.partition("#")
        assert (page.parent / target).resolve().is_file(), href
        assert anchor == "" or (anchor.startswith("L") and anchor[1:].isdigit()), href
    assert any(h.startswith("../homelab.yaml#L") for h in run.facts["links"])
    assert shot.stat().st_size > 20_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@needs_chromium
def test_the_browser_check_sees_console_errors_and_requests(tmp_path):
    """The harness can say no: a script error and a request to a closed local port are both reported."""
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><html><body><img src="http://127.0.0.1:9/x.png">'
                    '<script>console.error("boom")</script></body></html>')
    run = open_page(page, tmp_path / "bad.png")
    assert "boom" in run.console_errors
    assert "http://127.0.0.1:9/x.png" in run.requests


def test_the_page_is_self_contained(tmp_path):
    page = html_plan(lab(tmp_path / "repo"), tmp_path / "plan.html").read_text()
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert "<script" not in page and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert page.count("<svg") == 2 and "<style>" in page


def test_an_unwritable_output_is_a_clear_error(tmp_path):
    (tmp_path / "file").write_text("")
    res = run_cli("plan", "-f", "html", "-o", str(tmp_path / "file" / "plan.html"), "--no-check", cwd=lab(tmp_path / "repo"))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "cannot write the plan" in res.stderr
