"""`homelab plan` end to end: the real CLI on the bundled repository, fixture labs and a real Flux tree."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import jsonschema
import pytest

from homelab.config import load_config

from conftest import CHART_MIRROR, ROOT, copy_repo, render_glue, run_cli

FIXTURES = ROOT / "tests" / "fixtures" / "plan"
SCHEMA = json.loads((ROOT / "schema" / "plan.schema.json").read_text())
needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None,
                                   reason="kubectl (built-in kustomize) is not installed: the Flux tree cannot be built")


def lab(tmp_path: Path, config: Path = ROOT / "homelab.yaml", tree: bool = False) -> Path:
    """A scratch repository: a homelab.yaml, its rendered glue and, optionally, a real Flux tree."""
    return copy_repo(tmp_path, *(["kubernetes"] if tree else []), config=config)


def plan_json(repo: Path, *args: str) -> dict:
    """The plan of a scratch lab (the check summary has its own test; it is left out here for speed)."""
    res = run_cli("plan", "-f", "json", "--no-check", *args, cwd=repo)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)
    return doc


def test_plan_schema_is_a_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_committed_plan_schema_is_generated_from_the_model():
    from homelab.plan.model import json_schema

    assert SCHEMA == json_schema(), "run `homelab plan --schema > schema/plan.schema.json`"
    res = run_cli("plan", "--schema")
    assert res.returncode == 0 and json.loads(res.stdout) == SCHEMA


def test_bundled_repo_plan_shows_that_pve2_loses_quorum_without_failing_on_it():
    res = run_cli("plan", "--no-check")
    assert res.returncode == 0, res.stderr
    assert "host-down:pve2" in res.stdout and "etcd loses quorum" in res.stdout
    said = " ".join(res.stdout.split())
    assert "no placement of 3 K3s servers on 2 Proxmox host(s) (pve1, pve2) survives losing one" in said
    assert "move k3s-3" not in said   # it would only move the quorum loss to pve1
    assert "glue    current" in res.stdout


def test_bundled_repo_plan_exits_1_only_for_check_errors():
    # a cold check scans every file for secrets: minutes on a busy machine, cached afterwards
    res = run_cli("plan", "-f", "json", timeout=900)
    doc = json.loads(res.stdout)
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)
    check = doc["validation"]["check"]
    assert check["available"], check
    assert res.returncode == (1 if check["errors"] else 0)
    assert len(check["top"]) == min(5, check["errors"] + check["warnings"])


def test_strict_turns_the_bundled_placements_drill_error_into_exit_1():
    res = run_cli("plan", "--strict", "--no-check", "-f", "json")
    assert res.returncode == 1
    assert json.loads(res.stdout)["summary"]["failing_drills"] == ["host-down:pve2"]


@pytest.mark.parametrize("fixture", sorted(p.name for p in FIXTURES.glob("*.yaml")))
def test_json_of_every_fixture_lab_matches_the_schema(tmp_path, fixture):
    doc = plan_json(lab(tmp_path, FIXTURES / fixture))
    assert doc["config"] == "homelab.yaml" and doc["validation"]["glue"] == []


def test_fixture_labs_give_their_known_answers_through_the_cli(tmp_path):
    three = plan_json(lab(tmp_path / "three", FIXTURES / "three-hosts-survives-any-one.yaml"))
    assert not [d for d in three["summary"]["failing_drills"] if d.startswith("host-down")]
    bundled = plan_json(lab(tmp_path / "bundled", FIXTURES / "bundled-placement-loses-quorum.yaml"))
    pve2 = next(d for d in bundled["drills"] if d["id"] == "host-down:pve2")
    assert pve2["etcd"] == {"up": 1, "total": 3, "needed": 2} and pve2["severity"] == "error"
    shared = plan_json(lab(tmp_path / "shared", FIXTURES / "replicas-share-a-host.yaml"))
    assert shared["summary"]["failing_drills"] == ["host-down:pve3"]
    pve3 = next(d for d in shared["drills"] if d["id"] == "host-down:pve3")
    assert {f["rule"] for f in pve3["findings"] if f["severity"] == "error"} == {"drill/longhorn-readable"}


def test_every_address_and_the_pool_are_listed(tmp_path):
    doc = plan_json(lab(tmp_path))
    addrs = {a["address"]: a for a in doc["addresses"]}
    for a in ("192.168.1.1", "192.168.1.2", "192.168.1.3", "192.168.1.6", "192.168.10.1", "192.168.10.11",
              "192.168.10.12", "192.168.10.13", "192.168.10.200"):
        assert a in addrs
    assert set(addrs["192.168.1.6"]["kinds"]) == {"dns", "pi"}
    assert doc["metallb"] == {"pool": "192.168.10.200-192.168.10.220", "first": "192.168.10.200", "last": "192.168.10.220",
                              "size": 21, "used": [{"address": "192.168.10.200", "service": "traefik/traefik"}], "free": 20}
    pve2 = next(h for h in doc["hosts"] if h["name"] == "pve2")
    assert pve2["committed_cores"] == 8 and pve2["committed_memory_bytes"] == 16 * 2**30
    assert [v["name"] for v in pve2["vms"]] == ["k3s-2", "k3s-3"]


def test_stale_glue_exits_1_and_names_the_file(tmp_path):
    repo = lab(tmp_path)
    tfvars = repo / "terraform" / "homelab.auto.tfvars.json"
    tfvars.write_text(tfvars.read_text().replace('"cores": 4', '"cores": 6', 1))
    res = run_cli("plan", "--no-check", cwd=repo)
    assert res.returncode == 1
    assert "terraform/homelab.auto.tfvars.json stale" in res.stdout


def test_invalid_config_exits_2_with_file_and_line(tmp_path):
    repo = lab(tmp_path)
    cfg = repo / "homelab.yaml"
    cfg.write_text(cfg.read_text().replace("replicas: 2 ", "replicas: two "))
    res = run_cli("plan", cwd=repo)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "homelab.yaml:" in res.stderr and "longhorn.replicas" in res.stderr


def test_markdown_output_has_the_sections_and_the_drill_table():
    res = run_cli("plan", "-f", "markdown", "--no-check")
    assert res.returncode == 0, res.stderr
    for heading in ("## Proxmox hosts and VMs", "## Addresses", "## Routes", "## Failure drills"):
        assert heading in res.stdout
    assert "- Storage: Longhorn" in res.stdout
    assert "| host-down:pve2 | 1/3 | 2/3 | FAIL |" in res.stdout


def test_diagrams_come_from_the_real_config(tmp_path):
    out = tmp_path / "diagrams"
    env = {"PATH": "/usr/bin:/bin"} if shutil.which("mmdc") else None
    res = run_cli("plan", "-f", "json", "--no-check", "--diagram", str(out), env=env)
    assert res.returncode == 0, res.stderr
    arch = (out / "architecture.mmd").read_text()
    flow = (out / "provisioning.mmd").read_text()
    assert arch.splitlines()[1] == "graph TD" and flow.splitlines()[1] == "sequenceDiagram"
    for text in ("pve1 192.168.1.2", "k3s-3 192.168.10.13 server", "Traefik 192.168.10.200", "auth.example.com (public)",
                 "pve2 192.168.1.3 ⚠ losing it fails a drill"):
        assert text in arch
    assert "host_pve2 --> vm_k3s_3" in arch
    assert "Terraform->>pve2: clone 9000 → k3s-3 (VM 203, 192.168.10.13, 4c/8GiB)" in flow
    assert "SVG not written: the Mermaid CLI (mmdc" in res.stderr
    assert not list(out.glob("*.svg"))


def test_diagrams_are_rendered_to_svg_by_mmdc_when_installed(tmp_path):
    # A stand-in for mmdc (the real one needs a headless Chromium): records its argv and writes the -o file.
    bindir = tmp_path / "bin"
    bindir.mkdir()
    stand_in = bindir / "mmdc"
    stand_in.write_text('#!/bin/sh\necho "$@" >> "$(dirname "$0")/argv"\nwhile [ $# -gt 0 ]; do [ "$1" = -o ] && '
                        'echo "<svg/>" > "$2"; shift; done\n')
    stand_in.chmod(stand_in.stat().st_mode | stat.S_IEXEC)
    out = tmp_path / "d"
    res = run_cli("plan", "-f", "json", "--no-check", "--diagram", str(out),
                  env={"PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"})
    assert res.returncode == 0, res.stderr
    assert (out / "architecture.svg").read_text().strip() == "<svg/>" and (out / "provisioning.svg").exists()
    assert f"-i {out / 'architecture.mmd'} -o {out / 'architecture.svg'}" in (bindir / "argv").read_text()


@needs_kubectl
def test_tree_sections_come_from_the_repositorys_flux_tree(tmp_path):
    doc = plan_json(lab(tmp_path, tree=True))
    tree = doc["tree"]
    assert tree["available"] and not tree["build_errors"], tree.get("build_errors")
    assert tree["flux_levels"][0] == ["flux-system"] and "homepage" in tree["flux_levels"][-1]
    routes = {r["host"]: r for r in tree["routes"]}
    cfg = load_config(tmp_path / "homelab.yaml")
    for name, svc in cfg.services.items():
        host = cfg.fqdn(name)
        assert host in routes, host
        assert routes[host]["certificates"], f"{host} is covered by no certificate"
        if svc.exposure.value == "lan":
            assert "traefik/lan-allowlist" in routes[host]["middlewares"]
    owners = {d["name"]: d["owners"] for d in tree["dns"]}
    assert all(len(o) == 1 for o in owners.values()), owners
    pihole = {d["name"] for d in tree["dns"] if "pihole" in d["owners"][0]}
    assert pihole == {r["host"] for r in tree["routes"] if r["host"].endswith(".lan.example.com")}
    assert all(c["renew_at_days_left"] > 0 for c in tree["certificates"])
    assert tree["budget"]["total"]["memory_requests_bytes"] > 0
    power = next(d for d in doc["drills"] if d["id"] == "power-restored")
    order = next(f for f in power["findings"] if f["rule"] == "drill/recovery-order")
    assert "Flux reconciles in dependsOn order: [flux-system] → [" in order["message"]
    assert (tmp_path / ".homelab" / "cache" / "plan.pickle").is_file()   # the next plan starts warm


@needs_kubectl
def test_the_platform_does_not_fit_the_too_small_lab_but_fits_three_8gib_nodes(tmp_path):
    small = plan_json(lab(tmp_path / "small", FIXTURES / "too-small-to-reschedule.yaml", tree=True))
    assert "plan/budget-exceeds-nodes" in {f["rule"] for f in small["tree"]["findings"]}
    for drill in (d for d in small["drills"] if d["id"].startswith("host-down")):
        cap = next(f for f in drill["findings"] if f["rule"] == "drill/reschedule-capacity")
        assert cap["severity"] == "error" and "stay Pending" in cap["message"], cap
    big = plan_json(lab(tmp_path / "big", FIXTURES / "three-hosts-survives-any-one.yaml", tree=True))
    assert big["summary"]["tree_errors"] == 0 and big["summary"]["failing_drills"] == []
    for drill in (d for d in big["drills"] if d["id"].startswith("host-down")):
        cap = next(f for f in drill["findings"] if f["rule"] == "drill/reschedule-capacity")
        assert cap["severity"] == "info" and "room for every pod" in cap["message"]
    assert run_cli("plan", "--strict", "--no-check", "-f", "json", cwd=tmp_path / "small").returncode == 1


@needs_kubectl
def test_longhorn_volumes_in_the_tree_are_named_in_the_pve2_drill(tmp_path):
    doc = plan_json(lab(tmp_path, tree=True))
    assert doc["tree"]["volumes"], "the tree has Longhorn volumes"
    pve2 = next(d for d in doc["drills"] if d["id"] == "host-down:pve2")
    readable = next(f for f in pve2["findings"] if f["rule"] == "drill/longhorn-readable")
    assert all(f"{v['namespace']}/{v['name']}" in readable["message"] for v in doc["tree"]["volumes"])


def test_without_kubectl_the_plan_says_the_tree_was_not_read(tmp_path):
    repo = lab(tmp_path, tree=True)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    os.symlink(shutil.which("git") or "/usr/bin/git", bindir / "git")
    res = run_cli("plan", "-f", "json", "--no-check", cwd=repo, env={"PATH": str(bindir)})
    assert res.returncode == 0, res.stderr
    tree = json.loads(res.stdout)["tree"]
    assert tree["available"] is False and "kubectl" in tree["reason"]


@needs_kubectl
@pytest.mark.skipif(not CHART_MIRROR.is_dir(), reason=f"the chart mirror {CHART_MIRROR} is absent: the README shows "
                    "a run with the tree's charts rendered")
def test_readme_shows_a_trimmed_real_run():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## The main job: `homelab plan`"):]
    block = section[section.index("```\n") + 4:section.index("\n```", section.index("```\n") + 4)]
    res = run_cli("plan", env={"COLUMNS": "100"}, timeout=900)
    real = [line.rstrip() for line in res.stdout.splitlines()]
    at = 0
    for line in (x.rstrip() for x in block.splitlines()):
        if line == "…":
            continue
        assert line in real[at:], f"README line not in the real output (in order): {line!r}"
        at = real.index(line, at) + 1


MERMAID = ROOT / "tests" / "mermaid"


@pytest.mark.skipif(shutil.which("node") is None or not (MERMAID / "node_modules" / "mermaid").is_dir(),
                    reason="the Mermaid parser is not installed (node and `npm ci --prefix tests/mermaid`, "
                           "done by scripts/setup-test-env)")
def test_diagrams_parse_with_the_real_mermaid_parser(tmp_path):
    out = tmp_path / "d"
    for name, config in (("bundled", ROOT / "homelab.yaml"), ("three", FIXTURES / "replicas-share-a-host.yaml")):
        repo = lab(tmp_path / name, config, tree=name == "bundled")   # with the tree, the flow shows its Flux levels
        res = run_cli("plan", "-f", "json", "--no-check", "--diagram", str(out / name), cwd=repo)
        assert res.returncode == 0, res.stderr
    broken = tmp_path / "broken.mmd"   # the parser must be able to say no
    broken.write_text("graph TD\n    A[unclosed --> B\n")
    files = sorted(str(p) for p in out.glob("*/*.mmd"))
    res = subprocess.run(["node", str(MERMAID / "parse.mjs"), *files, str(broken)], capture_output=True, text=True,
                         timeout=300, check=False)
    lines = dict(line.split(": ", 1) for line in res.stdout.splitlines())
    assert res.returncode == 1, res.stdout + res.stderr
    for f in files:
        expected = "flowchart-v2" if f.endswith("architecture.mmd") else "sequence"
        assert lines[f] == expected, res.stdout
    assert "Parse error" in lines[str(broken)]


@needs_kubectl
def test_loadbalancer_addresses_come_from_the_tree_and_the_check_guards_the_pool(tmp_path):
    repo = lab(tmp_path, tree=True)
    (repo / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())   # the same check excludes
    hr = repo / "kubernetes" / "clusters" / "homelab" / "infrastructure" / "controllers" / "traefik" / "app" / "helmrelease.yaml"
    assert "${TRAEFIK_LB_IP}" in hr.read_text()
    hr.write_text(hr.read_text().replace("${TRAEFIK_LB_IP}", "192.168.10.50"))
    res = run_cli("plan", "-f", "json", cwd=repo, timeout=900)
    doc = json.loads(res.stdout)
    assert doc["metallb"]["used"] == [{"address": "192.168.10.50", "service": "traefik/traefik"}]
    assert doc["metallb"]["free"] == 21
    assert res.returncode == 1
    assert "exposure/lb-outside-pool" in {f["rule"] for f in doc["validation"]["check"]["top"]}


@needs_kubectl
def test_an_error_from_homelab_check_fails_the_plan(tmp_path):
    repo = lab(tmp_path, tree=True)
    (repo / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())   # the same check excludes
    ks = repo / "kubernetes" / "clusters" / "homelab" / "apps" / "homepage" / "ks.yaml"
    ks.write_text(ks.read_text().replace("    - name: authentik-config\n",
                                         "    - name: authentik-config\n    - name: does-not-exist\n"))
    res = run_cli("plan", "-f", "json", cwd=repo, timeout=900)
    assert res.returncode == 1, res.stderr
    check = json.loads(res.stdout)["validation"]["check"]
    assert check["errors"] >= 1
    assert any("does-not-exist" in f["message"] and f["location"].endswith("homepage/ks.yaml:11") for f in check["top"]), check


def test_whether_terraform_starts_the_vms_on_boot(tmp_path):
    from homelab.plan import vms_start_on_boot

    assert vms_start_on_boot(tmp_path) is None                       # no terraform/ yet
    tf = tmp_path / "terraform"
    tf.mkdir()
    (tf / "main.tf").write_text('resource "proxmox_virtual_environment_vm" "k3s" {\n  for_each = var.nodes\n}\n')
    assert vms_start_on_boot(tmp_path) is False
    (tf / "main.tf").write_text('resource "proxmox_virtual_environment_vm" "k3s" {\n  on_boot = true\n}\n')
    assert vms_start_on_boot(tmp_path) is True


@needs_kubectl
def test_a_malformed_object_makes_the_tree_unreadable_not_a_traceback(tmp_path):
    repo = lab(tmp_path, tree=True)
    hr = next((repo / "kubernetes").rglob("helmrelease-pihole.yaml"))
    text = hr.read_text()
    assert "domainFilters:" in text
    hr.write_text(text.replace("domainFilters:", "domainFilters: 5\n    unusedFilters:", 1))
    res = run_cli("plan", "-f", "json", "--no-check", cwd=repo)
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    tree = json.loads(res.stdout)["tree"]
    assert tree["available"] is False and "unexpected shape" in tree["reason"]


@needs_kubectl
def test_users_of_sso_routes_are_down_when_authentiks_database_volume_may_be(tmp_path):
    """With the real tree: losing pve3 (a server and an agent) keeps etcd but may take Authentik's PostgreSQL
    volume and Grafana's; the Users answer follows Longhorn's instead of saying "ok"."""
    doc = plan_json(lab(tmp_path, FIXTURES / "replicas-share-a-host.yaml", tree=True))
    pve3 = next(d for d in doc["drills"] if d["id"] == "host-down:pve3")
    assert pve3["etcd"]["up"] >= pve3["etcd"]["needed"]
    readable = next(f for f in pve3["findings"] if f["rule"] == "drill/longhorn-readable")
    assert readable["severity"] == "error" and "authentik/authentik:postgresql" in readable["message"]
    users = {u["service"]: u for u in pve3["users"]}
    assert users["homepage"]["severity"] == "error" and "postgresql" in users["homepage"]["sees"]
    assert users["grafana"]["severity"] == "error" and "volume monitoring/grafana" in users["grafana"]["sees"]
    assert users["flux-webhook"]["severity"] == "info"      # public, no login, no volume
    impact = next(f for f in pve3["findings"] if f["rule"] == "drill/route-impact")
    assert impact["severity"] == "error"


def test_a_fact_about_the_config_is_shown_once_above_the_drills(tmp_path):
    repo = lab(tmp_path, FIXTURES / "three-hosts-survives-any-one.yaml")
    cfg = repo / "homelab.yaml"
    cfg.write_text(cfg.read_text().replace("  qdevice: false", "  qdevice: true"))
    render_glue(repo)
    doc = plan_json(repo)
    assert [f["rule"] for f in doc["facts"]] == ["drill/proxmox-quorum"] and doc["summary"]["facts"] == 1
    res = run_cli("plan", "--no-check", cwd=repo, env={"COLUMNS": "120"})
    text = " ".join(res.stdout.split())
    assert text.count("an odd number of") == 1
    assert text.index("Facts about the config") < text.index("Failure drills")


def test_json_and_markdown_can_be_written_to_a_file(tmp_path):
    repo = lab(tmp_path)
    res = run_cli("plan", "-f", "json", "-o", "out/plan.json", "--no-check", cwd=repo)
    assert res.returncode == 0 and res.stdout == "" and "wrote out/plan.json" in res.stderr
    jsonschema.Draft202012Validator(SCHEMA).validate(json.loads((repo / "out" / "plan.json").read_text()))
    res = run_cli("plan", "-f", "markdown", "-o", "plan.md", "--no-check", cwd=repo)
    assert res.returncode == 0 and (repo / "plan.md").read_text().startswith("# homelab plan: ")
