"""One rule registry: every finding id any command reports is registered, listed and selectable."""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

from homelab.checks.registry import all_rules, expand

from check_helpers import check, make_repo
from conftest import ROOT, run_cli

SRC = ROOT / "src" / "homelab"
# Calls whose first argument is a finding id: registry.finding/declare/rule, a Lab's finding; plain get().
ID_CALLS = {"finding", "declare", "rule"}


def _literal_ids() -> set[tuple[str, str]]:
    """(file, id) for every string literal passed as a finding id, or assigned to a `rule` name."""
    found: set[tuple[str, str]] = set()
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            args: list[ast.expr] = []
            if isinstance(node, ast.Call):
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                if (name in ID_CALLS or isinstance(node.func, ast.Name) and name == "get") and node.args:
                    args.append(node.args[0])
                args += [k.value for k in node.keywords if k.arg == "rule"]
            elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "rule" for t in node.targets):
                args.append(node.value)
            elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Tuple):  # `cfg, rule = x, "id"`
                for t, v in zip(getattr(node.targets[0], "elts", []), node.value.elts, strict=False):
                    if isinstance(t, ast.Name) and t.id == "rule":
                        args.append(v)
            for a in args:
                if isinstance(a, ast.Constant) and isinstance(a.value, str) and "/" in a.value and " " not in a.value:
                    found.add((str(path.relative_to(ROOT)), a.value))
    return found


def test_every_finding_id_written_in_the_source_is_registered():
    known = all_rules()
    ids = _literal_ids()
    assert len(ids) > 40, "the scan no longer finds the ids it should"
    missing = sorted((f, i) for f, i in ids if i not in known)
    assert missing == []


def test_findings_are_made_only_by_registered_rules():
    """No module builds a Finding by hand: rule.finding() (or registry.finding()) fills in id and severity."""
    makers = sorted(str(p.relative_to(ROOT)) for p in SRC.rglob("*.py") if "Finding(" in p.read_text(encoding="utf-8"))
    assert makers == ["src/homelab/errors.py", "src/homelab/registry.py"]


def test_every_family_has_ids_with_docs_severity_and_a_reporting_command():
    rules = all_rules()
    families = {r.family for r in rules.values()}
    assert {"config", "drill", "plan", "preflight", "terraform", "packer", "hcl", "flux", "exposure", "site",
            "waiver", "check", "status"} <= families
    for r in rules.values():
        assert r.summary and r.docs and r.reported_by in ("check", "validate", "plan", "up", "status", "input"), r


def test_list_rules_and_select_know_every_id():
    rules = all_rules()
    res = run_cli("check", "--list-rules", "--wide")  # one line per id (at 80 columns the summaries wrap)
    assert res.returncode == 0
    listed = {line.split()[0] for line in res.stdout.splitlines()}
    assert listed == set(rules)
    assert expand(["drill/etcd-quorum", "config", "preflight/*", "terraform/unset-variable"])


def test_the_hcl_cross_checks_run_in_homelab_check_with_file_and_line(tmp_path: Path):
    repo = make_repo(tmp_path / "repo")
    for folder in ("terraform", "packer/ubuntu-2404"):
        shutil.copytree(ROOT / folder, repo / folder, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*", "packer_cache"))
    clean = check(repo, select=["terraform", "packer", "hcl"])
    assert clean.findings == [] and "terraform/undeclared-variable" in clean.rules_run
    tfvars = repo / "terraform/homelab.auto.tfvars.json"
    data = json.loads(tfvars.read_text())
    data["node_count"] = 3
    tfvars.write_text(json.dumps(data, indent=2))
    main = repo / "packer/ubuntu-2404" / next(p.name for p in (ROOT / "packer/ubuntu-2404").glob("*.pkr.hcl")
                                              if "var." in p.read_text())
    main.write_text(main.read_text().replace("var.", "var.no_such_", 1))
    report = check(repo, select=["terraform", "packer", "hcl"])
    got = {(f.rule, f.file) for f in report.findings}
    assert ("terraform/undeclared-variable", "terraform/homelab.auto.tfvars.json") in got
    assert ("packer/undeclared-reference", str(main.relative_to(repo))) in got
    assert all(f.line for f in report.findings)


def test_sarif_describes_every_rule_it_reports(tmp_path: Path):
    repo = make_repo(tmp_path / "repo")
    res = run_cli("check", "--format", "sarif", "--select", "site,waiver", cwd=repo)
    run = json.loads(res.stdout)["runs"][0]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert "site/glue-stale" in rules and all(r["shortDescription"]["text"] != i for i, r in rules.items())
