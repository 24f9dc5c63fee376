"""Glue files: native formats, generated headers, deterministic, and guarded by `render --check`."""

from __future__ import annotations

import json
from pathlib import Path

from ruamel.yaml import YAML

from homelab.config import load_config
from homelab.render import render_all
from homelab.render.header import GENERATED

from conftest import ROOT, run_cli

GLUE = {
    "packer/ubuntu-2404/homelab.auto.pkrvars.hcl",
    "terraform/homelab.auto.tfvars.json",
    "ansible/inventories/group_vars/all/homelab.yml",
    "ansible/inventories/hosts.yml",  # the Proxmox hosts and the Pi (the VMs come from Terraform)
    "kubernetes/clusters/homelab/flux-system/cluster-settings.yaml",
    # Flux's sync objects, which `flux bootstrap` would generate (gotk-sync): no substitution there
    "kubernetes/clusters/homelab/flux-system/git-repository.yaml",
    "kubernetes/clusters/homelab/flux-system/flux-system.yaml",
}


def test_render_produces_one_glue_file_per_tool_each_headed_generated():
    files = render_all(load_config(ROOT / "homelab.yaml"))
    assert set(files) == GLUE
    for path, text in files.items():
        assert GENERATED in text, path


def test_render_is_byte_identical_for_the_same_input():
    cfg = load_config(ROOT / "homelab.yaml")
    assert render_all(cfg) == render_all(load_config(ROOT / "homelab.yaml"))


def test_committed_glue_is_current():
    res = run_cli("render", "--check")
    assert res.returncode == 0, res.stderr


def test_tfvars_is_json_with_one_node_per_vm():
    data = json.loads(render_all(load_config(ROOT / "homelab.yaml"))["terraform/homelab.auto.tfvars.json"])
    assert sorted(data["nodes"]) == ["k3s-1", "k3s-2", "k3s-3"]
    assert data["nodes"]["k3s-3"]["proxmox_host"] == "pve2"
    assert data["nodes"]["k3s-1"]["memory_mib"] == 8192
    assert data["vm_network"]["vlan_id"] == 10
    assert data["template_vm_id"] == 9000


def test_cluster_settings_is_a_configmap_in_flux_system_with_string_values():
    text = render_all(load_config(ROOT / "homelab.yaml"))["kubernetes/clusters/homelab/flux-system/cluster-settings.yaml"]
    doc = YAML(typ="safe").load(text)
    assert (doc["kind"], doc["metadata"]["namespace"], doc["metadata"]["name"]) == ("ConfigMap", "flux-system", "cluster-settings")
    assert all(isinstance(v, str) for v in doc["data"].values())
    assert doc["data"]["METALLB_RANGE"] == "192.168.10.200-192.168.10.220"
    assert doc["data"]["HOST_GRAFANA"] == "grafana.lan.example.com"


def test_render_check_names_stale_and_missing_files_and_writes_nothing(repo_copy: Path):
    tfvars = repo_copy / "terraform/homelab.auto.tfvars.json"
    tfvars.write_text(tfvars.read_text().replace('"cores": 4', '"cores": 6', 1))
    (repo_copy / "packer/ubuntu-2404/homelab.auto.pkrvars.hcl").unlink()
    before = tfvars.read_text()
    res = run_cli("-c", str(repo_copy / "homelab.yaml"), "render", "--check")
    assert res.returncode == 1
    line = next(n for n, text in enumerate(before.splitlines(), 1) if '"cores": 6' in text)
    assert f"terraform/homelab.auto.tfvars.json:{line}: stale" in res.stderr  # the first line that differs
    assert "packer/ubuntu-2404/homelab.auto.pkrvars.hcl: missing" in res.stderr
    assert tfvars.read_text() == before
    assert not (repo_copy / "packer/ubuntu-2404/homelab.auto.pkrvars.hcl").exists()


def test_render_follows_a_config_change(repo_copy: Path):
    cfg = repo_copy / "homelab.yaml"
    cfg.write_text(cfg.read_text().replace("domain: example.com", "domain: example.org"))
    assert run_cli("-c", str(cfg), "render", "--check").returncode == 1
    res = run_cli("-c", str(cfg), "render")
    assert res.returncode == 0 and "cluster-settings.yaml" in res.stdout
    assert "example.org" in (repo_copy / "kubernetes/clusters/homelab/flux-system/cluster-settings.yaml").read_text()
    assert run_cli("-c", str(cfg), "render", "--check").returncode == 0
