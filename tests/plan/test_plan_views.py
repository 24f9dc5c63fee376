"""The table, Markdown, HTML and JSON plans carry the same things: what the table shows, the others show."""

from __future__ import annotations

import html
import json
import re
import shutil

import pytest
from test_plan import lab

from conftest import run_cli

BORDERS = re.compile(r"[│┃━╇┏┓┗┛┡┩┳┻╋─|`*]")


def tokens(text: str) -> set[str]:
    """The facts of a screen: every word that names or counts something (has a digit, a dot, a slash, a
    dash or a colon): addresses, VM ids, sizes, host and drill names, file:line locations."""
    words = BORDERS.sub(" ", text).split()
    return {w.strip(",;:()[]'\".") for w in words if re.search(r"[0-9./:-]", w) and len(w.strip(",;:()[]'\".")) > 1}


@pytest.fixture(scope="module")
def views(tmp_path_factory):
    repo = lab(tmp_path_factory.mktemp("views"), tree=shutil.which("kubectl") is not None)
    out = {}
    for name, args in (("table", ["--wide"]), ("markdown", ["-f", "markdown"]), ("json", ["-f", "json"]),
                       ("html", ["-f", "html", "-o", str(repo / "plan.html")])):
        res = run_cli("plan", "--no-check", "-v", *args, cwd=repo, env={"COLUMNS": "200"})
        assert res.returncode == 0, res.stderr
        out[name] = res.stdout
    out["html"] = html.unescape(re.sub(r"<[^>]+>", " ", (repo / "plan.html").read_text()))
    out["markdown"] = out["markdown"].replace("\\|", "|")
    return out


@pytest.mark.parametrize("other", ["markdown", "html"])
def test_markdown_and_html_show_every_fact_of_the_table(views, other):
    table = tokens(views["table"]) - {"--verbose", "--strict", "--no-check", "exit"}
    assert {"9000", "192.168.10.200-192.168.10.220", "host-down:pve2", "external-dns-cloudflare", "8GiB/32GiB"} <= table
    missing = sorted(t for t in table if t not in views[other])
    assert missing == [], f"{other} leaves out what the table shows: {missing[:20]}"


def test_json_carries_what_the_table_shows(views):
    doc = json.loads(views["json"])
    table = " ".join(views["table"].split())
    pve1 = next(h for h in doc["hosts"] if h["name"] == "pve1")
    assert pve1["template"]["vm_id"] == 9000 and f"template {pve1['template']['name']} (VM 9000)" in table
    m = doc["metallb"]
    assert f"{m['size']} addresses, {len(m['used'])} used" in table and f"{m['free']} free" in table
    for a in doc["addresses"]:
        assert a["address"] in table
    for d in doc["drills"]:
        assert d["id"] in table
        for f in d["findings"]:
            assert " ".join(f["message"].split()) in table, f   # -v: every answer is on the screen
        for u in d["users"]:
            assert " ".join(u["sees"].split()) in table
    for f in doc["facts"]:
        assert " ".join(f["message"].split()) in table
    for r in doc["routes"]:
        assert r["host"] in table and r["dns_owner"] in table
    assert f"{doc['nodes_budget']['cores']} cores" in table
    if doc["tree"]["available"]:
        for v in doc["tree"]["volumes"]:
            assert f"{v['namespace']}/{v['name']}" in table
        for lb in doc["tree"]["loadbalancers"]:
            assert lb["owner"] in table
