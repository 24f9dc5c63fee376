"""`homelab inventory`: Terraform's `k3s_nodes` output → ansible/inventories/k3s-nodes.yml.

Fixtures under tests/fixtures/terraform-output/ are `terraform output -json` documents; valid.json
was printed by real Terraform (test_terraform.py proves terraform/outputs.tf still prints it), the
others are named after what is wrong with them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from homelab.errors import HomelabError
from homelab.inventory import Node, order_nodes, parse_output, render_inventory

from conftest import ROOT, run_cli

FIXTURES = ROOT / "tests/fixtures/terraform-output"
VALID = FIXTURES / "valid.json"
EXPECTED = FIXTURES / "k3s-nodes.expected.yml"
# Terraform must not phone home (update checks) from the tests.
TF_OFFLINE = {"CHECKPOINT_DISABLE": "1", "TF_CLI_CONFIG_FILE": os.devnull}
MALFORMED = sorted(p.name for p in FIXTURES.glob("*.json") if p.name != "valid.json")


def test_valid_output_becomes_the_expected_inventory_byte_for_byte(tmp_path: Path):
    out = tmp_path / "k3s-nodes.yml"
    res = run_cli("inventory", "--from", str(VALID), "--output", str(out))
    assert res.returncode == 0, res.stderr
    assert out.read_text() == EXPECTED.read_text()
    assert "3 hosts" in res.stdout


def test_inventory_goes_to_its_path_under_the_repository_root(repo_copy: Path):
    res = run_cli("-c", str(repo_copy / "homelab.yaml"), "inventory", "--from", str(VALID))
    assert res.returncode == 0, res.stderr
    assert (repo_copy / "ansible/inventories/k3s-nodes.yml").read_text() == EXPECTED.read_text()


def test_a_second_run_reports_the_inventory_unchanged(tmp_path: Path):
    out = tmp_path / "k3s-nodes.yml"
    run_cli("inventory", "--from", str(VALID), "-o", str(out))
    res = run_cli("inventory", "--from", str(VALID), "-o", str(out))
    assert res.returncode == 0 and res.stdout.startswith("unchanged:")


@pytest.mark.parametrize("fixture", MALFORMED)
def test_malformed_output_is_refused_with_one_line_and_exit_2_and_nothing_written(tmp_path: Path, fixture: str):
    out = tmp_path / "k3s-nodes.yml"
    out.write_text("previous inventory\n")
    res = run_cli("inventory", "--from", str(FIXTURES / fixture), "-o", str(out))
    assert res.returncode == 2, res.stdout + res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fixture in lines[0], res.stderr
    assert "Traceback" not in res.stderr and "hint:" in lines[0]
    assert out.read_text() == "previous inventory\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k3s-nodes.yml"]  # no temp file left behind


@pytest.mark.parametrize(("fixture", "says"), [
    ("node-without-address.json", ":25: k3s_nodes.k3s-2: the node has no 'address'"),
    ("node-address-invalid.json", ":26: k3s_nodes.k3s-2.address: Input is not a valid IPv4 address"),
    ("node-role-unknown.json", "k3s_nodes.k3s-3.role: Input should be 'server' or 'agent' (got \"worker\")"),
    ("node-not-in-homelab-yaml.json", ":39: k3s_nodes.k3s-9: a VM Terraform created that homelab.yaml does not list"),
    ("output-value-only.json", "not `terraform output -json k3s_nodes`"),
    ("not-json.json", "not-json.json:18: not JSON"),
])
def test_malformed_output_errors_name_the_line_and_the_defect(fixture: str, says: str):
    res = run_cli("inventory", "--from", str(FIXTURES / fixture), "-o", "/dev/null/never")
    assert says in res.stderr


def test_output_can_be_piped_in_on_stdin(tmp_path: Path):
    out = tmp_path / "k3s-nodes.yml"
    res = subprocess.run([sys.executable, "-m", "homelab", "inventory", "--from", "-", "-o", str(out)], cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, input=VALID.read_text(),
                         capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode == 0, res.stderr
    assert out.read_text() == EXPECTED.read_text()


def test_missing_output_file_is_refused_with_exit_2(tmp_path: Path):
    res = run_cli("inventory", "--from", str(tmp_path / "absent.json"), "-o", str(tmp_path / "inv.yml"))
    assert res.returncode == 2 and "absent.json: cannot read" in res.stderr
    assert not (tmp_path / "inv.yml").exists()


def _node(name: str, role: str = "server", vm_id: int = 300) -> Node:
    return Node(name, f"192.168.10.{vm_id - 200}", "pve1", role, vm_id)


def test_order_is_homelab_yaml_order_not_name_order_and_its_first_server_initialises():
    nodes = [_node("k3s-a", vm_id=201), _node("k3s-b", vm_id=202), _node("k3s-c", "agent", vm_id=203)]
    ordered, pending = order_nodes(nodes, ["k3s-c", "k3s-b", "k3s-a"], "out.json")
    assert [n.name for n in ordered] == ["k3s-c", "k3s-b", "k3s-a"] and pending == []
    text = render_inventory(ordered)
    assert "k3s-b: {ansible_host: 192.168.10.2, k3s_init: true," in text
    assert "k3s-a: {ansible_host: 192.168.10.1, k3s_init: false," in text
    # agents get their own group and never initialise the cluster
    assert text.endswith("        k3s_agents:\n          hosts:\n"
                         "            k3s-c: {ansible_host: 192.168.10.3, k3s_init: false, proxmox_host: pve1, vm_id: 203}\n")


def test_nodes_not_yet_applied_are_left_out_with_a_warning(tmp_path: Path):
    data = json.loads(VALID.read_text())
    del data["k3s_nodes"]["value"]["k3s-3"]
    partial = tmp_path / "two-of-three.json"
    partial.write_text(json.dumps(data, indent=2))
    out = tmp_path / "inv.yml"
    res = run_cli("inventory", "--from", str(partial), "-o", str(out))
    assert res.returncode == 0, res.stderr
    assert "warning: k3s-3 is in homelab.yaml but not in the Terraform output" in res.stderr
    assert "k3s-3" not in out.read_text() and "k3s-2" in out.read_text()


def test_yaml_special_names_are_quoted_so_ansible_reads_strings():
    text = render_inventory([_node("null"), _node("true", vm_id=201)])
    assert "'null': {" in text and "'true': {" in text


def test_parse_rejects_a_value_that_is_not_a_map():
    with pytest.raises(HomelabError, match="non-empty map"):
        parse_output('{"k3s_nodes": {"sensitive": false, "type": "string", "value": "k3s-1"}}', "x.json")


def _terraform_state_with_output(workdir: Path, nodes_hcl: str) -> None:
    """Real Terraform applies a module whose only content is a `k3s_nodes` output (no provider needed)."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "outputs.tf").write_text(f'output "k3s_nodes" {{\n  value = {nodes_hcl}\n}}\n')
    for args in (["init", "-input=false"], ["apply", "-auto-approve", "-input=false"]):
        subprocess.run(["terraform", *args], cwd=workdir, env={**os.environ, **TF_OFFLINE}, check=True,
                       capture_output=True, timeout=120)


@pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed here")
def test_without_from_it_runs_real_terraform_output_in_terraform_dir(repo_copy: Path):
    _terraform_state_with_output(repo_copy / "terraform", """tomap({
    "k3s-1" = { name = "k3s-1", address = "192.168.10.11", proxmox_host = "pve1", role = "server", vm_id = 201 }
    "k3s-2" = { name = "k3s-2", address = "192.168.10.12", proxmox_host = "pve2", role = "server", vm_id = 202 }
    "k3s-3" = { name = "k3s-3", address = "192.168.10.13", proxmox_host = "pve2", role = "server", vm_id = 203 }
  })""")
    res = run_cli("-c", str(repo_copy / "homelab.yaml"), "inventory", env=TF_OFFLINE)
    assert res.returncode == 0, res.stderr
    assert (repo_copy / "ansible/inventories/k3s-nodes.yml").read_text() == EXPECTED.read_text()


@pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed here")
def test_without_state_it_says_to_apply_first_and_writes_nothing(repo_copy: Path):
    res = run_cli("-c", str(repo_copy / "homelab.yaml"), "inventory", env=TF_OFFLINE)
    assert res.returncode == 2
    assert "no 'k3s_nodes' output" in res.stderr and "terraform apply" in res.stderr
    assert not (repo_copy / "ansible/inventories/k3s-nodes.yml").exists()
