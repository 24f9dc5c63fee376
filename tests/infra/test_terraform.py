"""terraform/: formatted, its variables match the rendered tfvars, and real Terraform evaluates them.

The bpg/proxmox provider cannot be downloaded here, so `terraform validate`/`plan` of the real
module skip unless a local provider mirror exists. What does run with the real Terraform binary:
`terraform fmt`, and an evaluation module made of the real variables.tf and outputs.tf with the VM
resource replaced by a stand-in (`terraform_data`, built into Terraform, keyed by the same
for_each expression as main.tf). That runs every type constraint and validation block against the
rendered tfvars, and prints the exact `terraform output -json` that `homelab inventory` reads.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import hcl2
import pytest

from homelab.hclvars import check_terraform

from check_helpers import line_starting
from conftest import ROOT, run_cli

TF = ROOT / "terraform"
FIXTURE = ROOT / "tests/fixtures/terraform-output/valid.json"
PROVIDER_VERSION = "0.111.1"

needs_terraform = pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed here")


def _tf_env(tmp: Path) -> dict[str, str]:
    # No CLI config, no update checks: nothing may leave this machine.
    cfg = tmp / "terraformrc"
    cfg.write_text("")
    return {**os.environ, "TF_CLI_CONFIG_FILE": str(cfg), "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1"}


def terraform(args: list[str], cwd: Path, tmp: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(["terraform", *args, "-no-color"] if args[0] != "fmt" else ["terraform", *args],
                         cwd=cwd, env=_tf_env(tmp), capture_output=True, text=True, timeout=180)
    if check and res.returncode != 0:
        raise AssertionError(f"terraform {' '.join(args)} failed:\n{res.stdout}\n{res.stderr}")
    return res


def _main_tf() -> dict:
    with open(TF / "main.tf", encoding="utf-8") as fh:
        return hcl2.load(fh)


def _vm_resource() -> dict:
    return _main_tf()["resource"][0]['"proxmox_virtual_environment_vm"']['"k3s"']


def evaluation_module(dest: Path, tfvars: dict | None = None) -> Path:
    """The real variables.tf and outputs.tf, the VM resource replaced by a stand-in keyed like main.tf."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(TF / "variables.tf", dest)
    for_each = _vm_resource()["for_each"].removeprefix("${").removesuffix("}")
    (dest / "stand_in.tf").write_text(
        "# Stand-in for proxmox_virtual_environment_vm.k3s (the provider cannot be downloaded here).\n"
        f'resource "terraform_data" "k3s" {{\n  for_each = {for_each}\n'
        "  input    = { name = each.key, vm_id = each.value.vm_id }\n}\n"
        "locals {\n  k3s_vms = { for k, r in terraform_data.k3s : k => r.output }\n}\n")
    outputs = (TF / "outputs.tf").read_text()
    assert "proxmox_virtual_environment_vm.k3s" in outputs
    (dest / "outputs.tf").write_text(outputs.replace("proxmox_virtual_environment_vm.k3s", "local.k3s_vms"))
    data = tfvars if tfvars is not None else json.loads((TF / "homelab.auto.tfvars.json").read_text())
    (dest / "homelab.auto.tfvars.json").write_text(json.dumps(data, indent=2))
    return dest


def _tfvars() -> dict:
    return json.loads((TF / "homelab.auto.tfvars.json").read_text())


# --- formatting -------------------------------------------------------------------------------

@needs_terraform
def test_terraform_fmt_check_is_clean(tmp_path: Path):
    res = terraform(["fmt", "-check", "-recursive", "-no-color"], TF, tmp_path, check=False)
    assert res.returncode == 0, f"not formatted: {res.stdout}{res.stderr}"


@needs_terraform
def test_terraform_fmt_check_catches_a_misformatted_file(tmp_path: Path):
    work = tmp_path / "tf"
    shutil.copytree(TF, work, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    (work / "main.tf").write_text((work / "main.tf").read_text().replace("  on_boot = true", "on_boot=true"))
    res = terraform(["fmt", "-check", "-recursive", "-no-color"], work, tmp_path, check=False)
    assert res.returncode != 0 and "main.tf" in res.stdout


# --- variables vs rendered tfvars (python-hcl2) ----------------------------------------------

def test_every_tfvars_key_is_declared_and_every_required_variable_is_set():
    assert check_terraform(ROOT) == []


def _copy_repo(tmp_path: Path) -> Path:
    shutil.copytree(TF, tmp_path / "terraform", ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    return tmp_path


def test_an_undeclared_variable_in_the_tfvars_is_caught(tmp_path: Path):
    root = _copy_repo(tmp_path)
    data = _tfvars()
    data["node_count"] = 3  # a knob nothing declares: Terraform would only warn and ignore it
    (root / "terraform/homelab.auto.tfvars.json").write_text(json.dumps(data, indent=2))
    [finding] = check_terraform(root)
    assert finding.rule == "terraform/undeclared-variable" and "'node_count'" in finding.message
    assert finding.file == "terraform/homelab.auto.tfvars.json"
    assert finding.line == line_starting(root / finding.file, '  "node_count":')


def test_a_required_variable_the_tfvars_does_not_set_is_caught(tmp_path: Path):
    root = _copy_repo(tmp_path)
    with open(root / "terraform/variables.tf", "a") as fh:
        fh.write('\nvariable "pool_id" {\n  type = string\n}\n')
    [finding] = check_terraform(root)
    assert finding.rule == "terraform/unset-variable" and "'pool_id'" in finding.message
    assert finding.file == "terraform/variables.tf"
    assert finding.line == line_starting(root / finding.file, 'variable "pool_id" {')


def test_a_reference_to_an_undeclared_variable_is_caught(tmp_path: Path):
    root = _copy_repo(tmp_path)
    main = root / "terraform/main.tf"
    main.write_text(main.read_text().replace("var.vm_network.vlan_id", "var.vlan_id"))
    [finding] = check_terraform(root)
    assert finding.rule == "terraform/undeclared-reference" and finding.file == "terraform/main.tf"


@pytest.mark.parametrize(("mutate", "says"), [
    (lambda n: n.pop("proxmox_host"), "has no proxmox_host"),
    (lambda n: n.update(proxmox_host="pve9"), "'pve9', which is not in proxmox_hosts"),
])
def test_a_node_without_placement_is_caught(tmp_path: Path, mutate, says: str):
    root = _copy_repo(tmp_path)
    data = _tfvars()
    mutate(data["nodes"]["k3s-2"])
    (root / "terraform/homelab.auto.tfvars.json").write_text(json.dumps(data, indent=2))
    [finding] = check_terraform(root)
    assert finding.rule == "terraform/node-without-placement" and "k3s-2" in finding.message and says in finding.message


def test_hcl_syntax_errors_are_findings_not_crashes(tmp_path: Path):
    root = _copy_repo(tmp_path)
    (root / "terraform/outputs.tf").write_text('output "k3s_nodes" {\n  value = {\n}\n')
    assert [f.rule for f in check_terraform(root)] == ["hcl/parse-error"]


@pytest.mark.parametrize("yaml_edit", [
    (r"(\n      )host: pve2( .*)?(\n      vm_id: 202)", r"\1host: pve9\3"),
    (r"(\n      )host: pve2( .*)?(\n      vm_id: 202)", r"\3"),
], ids=["unknown-host", "no-host"])
def test_a_node_without_placement_in_homelab_yaml_never_reaches_the_tfvars(repo_copy: Path, yaml_edit):
    cfg = repo_copy / "homelab.yaml"
    before = (repo_copy / "terraform/homelab.auto.tfvars.json").read_text()
    text, count = re.subn(yaml_edit[0], yaml_edit[1], cfg.read_text(), count=1)
    assert count == 1, "the fixture edit no longer matches homelab.yaml"
    cfg.write_text(text)
    res = run_cli("-c", str(cfg), "render")
    assert res.returncode == 2 and "k3s.nodes.1" in res.stderr and "Traceback" not in res.stderr
    assert (repo_copy / "terraform/homelab.auto.tfvars.json").read_text() == before


# --- the module's shape ----------------------------------------------------------------------

def test_provider_is_pinned_and_takes_no_credentials_from_files():
    with open(TF / "versions.tf", encoding="utf-8") as fh:
        versions = hcl2.load(fh)
    proxmox = versions["terraform"][0]["required_providers"][0]["proxmox"]
    assert (proxmox["source"].strip('"'), proxmox["version"].strip('"')) == ("bpg/proxmox", PROVIDER_VERSION)
    with open(TF / "providers.tf", encoding="utf-8") as fh:
        provider = hcl2.load(fh)["provider"][0]['"proxmox"']
    secrets = {"api_token", "password", "username", "auth_ticket", "csrf_prevention_token", "ssh"}
    assert not secrets & set(provider), "credentials must come from PROXMOX_VE_* environment variables"


def test_one_vm_per_node_keyed_by_name_cloned_from_the_template_and_started_on_boot():
    vm = _vm_resource()
    assert vm["for_each"] == "${var.nodes}" and "count" not in vm
    assert vm["on_boot"] is True and vm["agent"][0]["enabled"] is True
    assert vm["clone"][0]["vm_id"] == "${var.template_vm_id}"
    assert vm["network_device"][0]["vlan_id"] == "${var.vm_network.vlan_id}"
    disks = {d["interface"].strip('"'): d for d in vm["disk"]}
    assert set(disks) == {"scsi0", "scsi1"}  # virtio-scsi: scsi1 is /dev/sdb, Longhorn's disk
    assert disks["scsi1"]["size"] == "${each.value.data_disk_gb}"
    init = vm["initialization"][0]
    assert init["user_account"][0]["keys"] == "${var.ssh_public_keys}"
    assert init["ip_config"][0]["ipv4"][0]["gateway"] == "${var.vm_network.gateway}"


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="not a git checkout")
def test_git_ignores_state_and_provider_caches():
    paths = ["terraform/terraform.tfstate", "terraform/terraform.tfstate.backup", "terraform/.terraform/providers/x"]
    res = subprocess.run(["git", "check-ignore", "--no-index", *paths], cwd=ROOT, capture_output=True, text=True, check=False)
    assert res.stdout.split() == paths, res.stderr


# --- real Terraform on the real variables and outputs ----------------------------------------

@needs_terraform
def test_rendered_tfvars_pass_every_type_and_validation_and_output_feeds_the_inventory(tmp_path: Path):
    mod = evaluation_module(tmp_path / "eval")
    terraform(["init", "-input=false"], mod, tmp_path)
    terraform(["apply", "-auto-approve", "-input=false"], mod, tmp_path)
    out = terraform(["output", "-json"], mod, tmp_path).stdout
    # The inventory fixture is exactly what Terraform prints for the bundled homelab.yaml.
    assert json.loads(out) == json.loads(FIXTURE.read_text())
    assert out == FIXTURE.read_text()


@needs_terraform
@pytest.mark.parametrize(("mutate", "says"), [
    (lambda d: d["nodes"]["k3s-3"].update(proxmox_host="pve9"), "a node without placement"),
    (lambda d: d["nodes"]["k3s-3"].pop("proxmox_host"), 'attribute "proxmox_host" is required'),
    (lambda d: d["nodes"]["k3s-2"].update(address="192.168.20.12"), "inside the K3s network"),
    (lambda d: d["nodes"]["k3s-2"].update(vm_id=201), "its own vm_id"),
    (lambda d: d["nodes"]["k3s-1"].update(os_disk_gb=8), "the template's size"),
    (lambda d: [n.update(role="agent") for n in d["nodes"].values()], "at least one server"),
    (lambda d: d.update(proxmox_endpoint="https://192.168.1.2:8006/api2/json"), "no /api2/json"),
    (lambda d: d.update(template_node="pve7"), "template_node must be the node_name"),
], ids=["unknown-host", "no-host", "address-outside-vlan", "duplicate-vm-id", "disk-smaller-than-template",
        "no-server", "endpoint-with-api-path", "template-on-unknown-node"])
def test_terraform_validation_blocks_reject_a_bad_tfvars(tmp_path: Path, mutate, says: str):
    data = _tfvars()
    mutate(data)
    mod = evaluation_module(tmp_path / "eval", data)
    terraform(["init", "-input=false"], mod, tmp_path)
    res = terraform(["plan", "-input=false"], mod, tmp_path, check=False)
    assert res.returncode != 0
    assert says in " ".join(res.stderr.split()), res.stderr


@needs_terraform
def test_removing_a_node_destroys_only_that_vm_and_adding_one_creates_only_it(tmp_path: Path):
    mod = evaluation_module(tmp_path / "eval")
    terraform(["init", "-input=false"], mod, tmp_path)
    terraform(["apply", "-auto-approve", "-input=false"], mod, tmp_path)

    def planned(data: dict) -> dict[str, list[str]]:
        (mod / "homelab.auto.tfvars.json").write_text(json.dumps(data))
        terraform(["plan", "-input=false", "-out=plan.bin"], mod, tmp_path)
        plan = json.loads(terraform(["show", "-json", "plan.bin"], mod, tmp_path).stdout)
        return {c["index"]: c["change"]["actions"] for c in plan["resource_changes"] if c["type"] == "terraform_data"}

    fewer = _tfvars()
    del fewer["nodes"]["k3s-2"]
    assert planned(fewer) == {"k3s-1": ["no-op"], "k3s-2": ["delete"], "k3s-3": ["no-op"]}

    more = _tfvars()
    more["nodes"]["k3s-4"] = {**more["nodes"]["k3s-3"], "vm_id": 204, "address": "192.168.10.14", "role": "agent"}
    assert planned(more) == {"k3s-1": ["no-op"], "k3s-2": ["no-op"], "k3s-3": ["no-op"], "k3s-4": ["create"]}


def _local_provider_mirror() -> Path | None:
    """A filesystem mirror that already holds bpg/proxmox (Terraform must never download it here)."""
    for base in (os.environ.get("HOMELAB_TF_PROVIDER_MIRROR"), str(Path.home() / ".terraform.d/plugins")):
        if base and (Path(base) / "registry.terraform.io/bpg/proxmox" / PROVIDER_VERSION).is_dir():
            return Path(base)
    return None


@needs_terraform
@pytest.mark.skipif(_local_provider_mirror() is None,
                    reason=f"bpg/proxmox {PROVIDER_VERSION} is not in a local provider mirror and cannot be downloaded "
                           "here; set HOMELAB_TF_PROVIDER_MIRROR to a filesystem mirror holding it to run terraform validate")
def test_terraform_validate_with_the_real_provider(tmp_path: Path):
    mirror = _local_provider_mirror()
    work = tmp_path / "tf"
    shutil.copytree(TF, work, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    cfg = tmp_path / "mirror.tfrc"
    cfg.write_text(f'provider_installation {{\n  filesystem_mirror {{\n    path = "{mirror}"\n  }}\n}}\n')
    env = {**os.environ, "TF_CLI_CONFIG_FILE": str(cfg), "CHECKPOINT_DISABLE": "1"}
    for args in (["init", "-backend=false", "-input=false", "-no-color"], ["validate", "-no-color"]):
        res = subprocess.run(["terraform", *args], cwd=work, env=env, capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stdout + res.stderr
