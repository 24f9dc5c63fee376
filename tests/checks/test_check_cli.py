"""`homelab check` as a user runs it: exit codes, formats, selection, waivers, notes, infra linters."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from check_helpers import CRD_SCHEMAS, chart_ignores, make_repo
from conftest import run_cli

K = "kubernetes/clusters/homelab"
ROUTE = f"{K}/apps/homepage/app/ingressroute.yaml"


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> Path:
    return make_repo(tmp_path_factory.mktemp("cli") / "repo")


@pytest.fixture
def repo(clean, tmp_path) -> Path:
    r = tmp_path / "repo"
    shutil.copytree(clean, r)
    return r


def check(repo: Path, *args: str):
    # the bundled homelab.yaml is the example (site/placeholder) and the clean tree routes only homepage of its
    # services (site/service-unrouted); tests/render/test_site.py makes both fire
    return run_cli("-c", str(repo / "homelab.yaml"), "check", "--schemas", str(CRD_SCHEMAS),
                   "--ignore", ",".join(["site/placeholder", "site/service-unrouted", *chart_ignores()]), *args, cwd=repo)


def _drop_allowlist(repo: Path, waiver: str = "") -> None:
    p = repo / ROUTE
    text = p.read_text().replace("        - name: lan-allowlist\n          namespace: traefik\n", "")
    if waiver:
        text = text.replace("    - match: Host", f"    {waiver}\n    - match: Host")
    p.write_text(text)


def test_clean_repository_exits_0_and_says_so(clean):
    res = check(clean)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.strip().splitlines()[-1].startswith("clean: 0 error(s)")


def test_findings_exit_1_grouped_by_file_with_rule_line_and_hint(repo):
    _drop_allowlist(repo)
    res = check(repo, "--wide")
    assert res.returncode == 1
    lines = res.stdout.splitlines()
    assert lines[0] == ROUTE
    assert "11  error   exposure/lan-allowlist" in lines[1]
    assert "hint: make its middlewares [{name: exposure-${EXPOSURE_HOMEPAGE}, namespace: traefik}]" in lines[2]


def test_json_and_sarif_reports_carry_rule_file_and_line(repo):
    _drop_allowlist(repo)
    data = json.loads(check(repo, "--format", "json").stdout)
    assert data["exit_code"] == 1
    assert [(f["rule"], f["file"], f["line"]) for f in data["findings"]] == [("exposure/lan-allowlist", ROUTE, 11)]
    sarif = json.loads(check(repo, "--format", "sarif").stdout)
    assert sarif["version"] == "2.1.0"
    run = sarif["runs"][0]
    res = run["results"][0]
    assert res["ruleId"] == "exposure/lan-allowlist" and res["level"] == "error"
    assert res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == ROUTE
    assert res["locations"][0]["physicalLocation"]["region"]["startLine"] == 11
    assert run["tool"]["driver"]["rules"][res["ruleIndex"]]["id"] == "exposure/lan-allowlist"


def test_a_waiver_with_a_reason_waives_and_is_listed(repo):
    _drop_allowlist(repo, "# homelab: ignore[exposure/lan-allowlist] kiosk screen on the guest VLAN, SSO only")
    res = check(repo, "--wide")
    assert res.returncode == 0, res.stdout
    assert "waived:" in res.stdout and "kiosk screen on the guest VLAN" in res.stdout
    data = json.loads(check(repo, "-f", "json").stdout)
    assert data["waived"][0]["waiver"] == {"file": ROUTE, "line": 11,
                                           "reason": "kiosk screen on the guest VLAN, SSO only"}


def test_select_and_ignore_narrow_the_rules(repo):
    _drop_allowlist(repo)
    assert check(repo, "--select", "flux,schema").returncode == 0
    assert check(repo, "--ignore", "exposure/lan-allowlist").returncode == 0
    assert check(repo, "--select", "exposure/*").returncode == 1


@pytest.mark.parametrize("args, message", [
    (["--select", "flux/no-such-rule"], "matches no rule"),
    (["--schemas", "/nonexistent/schemas"], "folder not found"),
    (["--kubernetes-version", "latest"], "not a version"),
])
def test_usage_errors_exit_2_with_one_line(clean, args, message):
    res = check(clean, *args)
    assert res.returncode == 2 and message in res.stderr and "Traceback" not in res.stderr


def test_a_broken_homelab_yaml_exits_2_naming_the_line(repo):
    p = repo / "homelab.yaml"
    p.write_text(p.read_text().replace("  pool: 192.168.10.200-192.168.10.220", "  pool: 192.168.10.300-1"))
    res = check(repo)
    assert res.returncode == 2 and "homelab.yaml:" in res.stderr and "Traceback" not in res.stderr


def test_without_crd_schemas_custom_resources_are_not_silently_passed(repo):
    res = run_cli("-c", str(repo / "homelab.yaml"), "check", "--select", "schema", "--wide", cwd=repo)
    assert res.returncode == 1
    assert "schema/crd-schemas-missing" in res.stdout and "custom resources are not validated" in res.stdout


def _installed(program: str) -> bool:
    import sys
    return shutil.which(program) is not None or (Path(sys.executable).parent / program).is_file()


def test_infra_linters_run_when_installed_and_say_when_skipped(repo):
    tf = repo / "terraform"
    tf.mkdir(exist_ok=True)
    (tf / "main.tf").write_text('variable "x" {\ntype = string\n    default="a"\n}\n')
    (repo / "ansible/playbooks").mkdir(parents=True)
    (repo / "ansible/playbooks/site.yml").write_text(
        "---\n- hosts: all\n  tasks:\n    - ansible.builtin.command: echo hi\n")
    (repo / "extra.yaml").write_text("---\nkey: value   \n")
    res = check(repo, "--infra", "--select", "infra", "--format", "json")
    data = json.loads(res.stdout)
    got = {(f["rule"], f["file"]) for f in data["findings"]}
    for program, rule, file in (("terraform", "infra/terraform-fmt", "terraform/main.tf"),
                                ("ansible-lint", "infra/ansible-lint", "ansible/playbooks/site.yml"),
                                ("yamllint", "infra/yamllint", "extra.yaml")):
        if _installed(program):
            assert (rule, file) in got, (rule, data["findings"], data["notes"])
        else:
            assert f"{rule} skipped: {program} is not installed" in data["notes"]
    if _installed("terraform"):  # at the first line `terraform fmt` changes
        assert [f["line"] for f in data["findings"] if f["rule"] == "infra/terraform-fmt"] == [2]
    assert res.returncode == 1
    plain = check(repo, "--select", "infra", "--wide")
    assert plain.returncode == 0 and "pass --infra" in plain.stdout


@pytest.mark.skipif(not _installed("terraform"), reason="terraform is not installed")
def test_terraform_fmt_asks_hashicorp_for_no_new_release(repo, tmp_path):
    # terraform's checkpoint (a call to checkpoint-api.hashicorp.com) leaves ~/.terraform.d/checkpoint_signature
    (repo / "terraform").mkdir(exist_ok=True)
    (repo / "terraform" / "main.tf").write_text('variable "x" {\ntype = string\n}\n')
    home = tmp_path / "home"
    home.mkdir()
    res = run_cli("-c", str(repo / "homelab.yaml"), "check", "--infra", "--select", "infra/terraform-fmt",
                  "--format", "json", cwd=repo, env={"HOME": str(home)})
    assert ("infra/terraform-fmt", "terraform/main.tf") in {(f["rule"], f["file"]) for f in json.loads(res.stdout)["findings"]}
    assert not (home / ".terraform.d").exists(), sorted(p.name for p in home.rglob("*"))


def test_list_rules_names_every_family():
    res = run_cli("check", "--list-rules")
    families = {line.split("/", 1)[0] for line in res.stdout.splitlines()}
    assert {"yaml", "flux", "schema", "secrets", "exposure", "site", "infra"} <= families
    assert "flux/cold-start" in res.stdout
