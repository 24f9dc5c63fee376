"""packer/ubuntu-2404: formatted HCL, variables that match the rendered pkrvars, an autoinstall that renders.

Packer and the proxmox plugin cannot be installed here (Debian's packer 1.6.6 predates
`required_plugins`, and plugin v1.2.4 cannot be downloaded), so `packer validate` skips unless both
are present. What runs for real: HCL's formatter (`terraform fmt -`, the same hclwrite rules as
`packer fmt`), python-hcl2 parsing, and the user-data template rendered by Terraform's
templatefile() — the same HCL function Packer uses — then parsed as YAML.
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
from ruamel.yaml import YAML

from homelab.hclvars import check_packer

from check_helpers import line_starting
from conftest import ROOT

PKR = ROOT / "packer/ubuntu-2404"
PKRVARS = PKR / "homelab.auto.pkrvars.hcl"
PLUGIN_VERSION = "1.2.4"

needs_terraform = pytest.mark.skipif(shutil.which("terraform") is None,
                                     reason="terraform (used for HCL's formatter and templatefile) is not installed here")


def _env(tmp: Path) -> dict[str, str]:
    cfg = tmp / "terraformrc"
    cfg.write_text("")
    return {**os.environ, "TF_CLI_CONFIG_FILE": str(cfg), "CHECKPOINT_DISABLE": "1"}


def _load(path: Path) -> dict:
    with open(path, encoding="utf-8") as fh:
        return hcl2.load(fh)


def _unq(value):
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    if isinstance(value, list):
        return [_unq(v) for v in value]
    return value


def _pkrvars() -> dict:
    return {k: _unq(v) for k, v in _load(PKRVARS).items() if not k.startswith("__")}


def _source() -> dict:
    return _load(PKR / "ubuntu-2404.pkr.hcl")["source"][0]['"proxmox-iso"']['"ubuntu-2404"']


def _variables() -> dict[str, dict]:
    return {_unq(name): body for block in _load(PKR / "variables.pkr.hcl")["variable"] for name, body in block.items()}


# --- formatting -------------------------------------------------------------------------------

def _fmt(text: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["terraform", "fmt", "-no-color", "-"], input=text, env=_env(tmp), capture_output=True,
                          text=True, timeout=60, check=False)


@needs_terraform
@pytest.mark.parametrize("name", sorted(p.name for p in PKR.glob("*.hcl")))
def test_packer_hcl_is_canonically_formatted(tmp_path: Path, name: str):
    text = (PKR / name).read_text()
    res = _fmt(text, tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout == text, f"{name} is not formatted; run `packer fmt packer/ubuntu-2404`"


@needs_terraform
def test_the_format_check_catches_a_misformatted_file(tmp_path: Path):
    text = (PKR / "ubuntu-2404.pkr.hcl").read_text().replace("  qemu_agent      = true", "qemu_agent=true")
    assert _fmt(text, tmp_path).stdout != text


# --- variables vs rendered pkrvars (python-hcl2) ---------------------------------------------

def test_every_pkrvars_key_is_declared_and_every_required_variable_is_set():
    assert check_packer(ROOT) == []


def _copy(tmp_path: Path) -> Path:
    shutil.copytree(PKR, tmp_path / "packer/ubuntu-2404")
    return tmp_path


def test_an_undeclared_variable_in_the_pkrvars_is_caught(tmp_path: Path):
    root = _copy(tmp_path)
    pkrvars = root / "packer/ubuntu-2404/homelab.auto.pkrvars.hcl"
    pkrvars.write_text(pkrvars.read_text() + 'disk_size = "32G"\n')
    [finding] = check_packer(root)
    assert finding.rule == "packer/undeclared-variable" and "'disk_size'" in finding.message
    assert finding.line == len(pkrvars.read_text().splitlines())  # the line it was appended on


def test_a_required_variable_the_pkrvars_does_not_set_is_caught(tmp_path: Path):
    root = _copy(tmp_path)
    pkrvars = root / "packer/ubuntu-2404/homelab.auto.pkrvars.hcl"
    pkrvars.write_text("".join(ln for ln in pkrvars.read_text().splitlines(keepends=True)
                               if not ln.startswith("template_vm_id")))
    [finding] = check_packer(root)
    assert finding.rule == "packer/unset-variable" and "'template_vm_id'" in finding.message
    assert finding.file == "packer/ubuntu-2404/variables.pkr.hcl"
    assert finding.line == line_starting(root / finding.file, 'variable "template_vm_id"')


def test_template_id_and_node_agree_between_packer_and_terraform_glue():
    pkr = _pkrvars()
    tf = json.loads((ROOT / "terraform/homelab.auto.tfvars.json").read_text())
    assert pkr["template_vm_id"] == tf["template_vm_id"]  # Terraform clones the ID Packer builds
    assert pkr["proxmox_node"] == tf["template_node"]
    assert pkr["ssh_public_keys"] == tf["ssh_public_keys"] and pkr["admin_user"] == tf["admin_user"]


# --- the template's shape --------------------------------------------------------------------

def test_plugin_is_pinned_and_the_iso_is_pinned_by_checksum_through_boot_iso():
    plugin = _load(PKR / "ubuntu-2404.pkr.hcl")["packer"][0]["required_plugins"][0]["proxmox"]
    assert _unq(plugin["source"]) == "github.com/hashicorp/proxmox"
    assert _unq(plugin["version"]) == f"= {PLUGIN_VERSION}"
    src = _source()
    assert not {"iso_file", "iso_url", "iso_checksum", "iso_storage_pool", "unmount_iso"} & set(src), "deprecated top-level ISO options"
    boot_iso = src["boot_iso"][0]
    assert boot_iso["iso_url"] == "${var.iso_url}" and boot_iso["iso_checksum"] == "${var.iso_checksum}"
    variables = _variables()
    url, checksum = _unq(variables["iso_url"]["default"]), _unq(variables["iso_checksum"]["default"])
    assert re.fullmatch(r"https://releases\.ubuntu\.com/24\.04\.\d/ubuntu-24\.04\.\d-live-server-amd64\.iso", url)
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", checksum)


def test_proxmox_token_comes_only_from_the_environment():
    variables = _variables()
    assert _unq(variables["proxmox_token"]["default"]) == '${env("PROXMOX_TOKEN")}'
    assert variables["proxmox_token"]["sensitive"] is True
    assert _source()["token"] == "${var.proxmox_token}"
    for path in PKR.rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", text), path
            assert not re.search(r"(?m)^\s*(password|ssh_password)\s*=", text), path


def test_template_is_built_with_the_homelab_vm_id_agent_cloud_init_drive_and_cleanup():
    src = _source()
    assert src["vm_id"] == "${var.template_vm_id}" and src["qemu_agent"] is True and src["cloud_init"] is True
    assert set(src["http_content"]) == {'"/user-data"', '"/meta-data"'}
    # python-hcl2 keeps escapes as written: the HCL source `\\;` is the `\;` GRUB needs (";" would split the command)
    assert any(r"autoinstall ds=nocloud-net\\;s=http://{{ .HTTPIP }}:{{ .HTTPPort }}/" in _unq(c) for c in src["boot_command"])
    build = _load(PKR / "ubuntu-2404.pkr.hcl")["build"][0]
    inline = " ; ".join(_unq(build["provisioner"][0]['"shell"']["inline"]))
    for step in ("truncate -s 0 /etc/machine-id", "cloud-init clean", "rm -f /etc/ssh/ssh_host_*",
                 "subiquity-disable-cloudinit-networking.cfg", "systemctl is-active --quiet qemu-guest-agent"):
        assert step in inline, step


@needs_terraform
def test_user_data_renders_to_an_autoinstall_config_for_the_homelab_admin(tmp_path: Path):
    v = _pkrvars()
    mod = tmp_path / "render"
    mod.mkdir()
    args = {"admin_user": v["admin_user"], "timezone": v["timezone"], "ssh_public_keys": v["ssh_public_keys"]}
    (mod / "main.tf").write_text(
        f'output "user_data" {{\n  value = templatefile({json.dumps(str(PKR / "http/user-data"))}, '
        f"jsondecode({json.dumps(json.dumps(args))}))\n}}\n")
    env = _env(tmp_path)
    for cmd in (["init", "-input=false"], ["apply", "-auto-approve", "-input=false"]):
        res = subprocess.run(["terraform", *cmd, "-no-color"], cwd=mod, env=env, capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stdout + res.stderr
    text = subprocess.run(["terraform", "output", "-raw", "user_data"], cwd=mod, env=env, capture_output=True,
                          text=True, timeout=60, check=True).stdout
    assert text.startswith("#cloud-config\n")
    ai = YAML(typ="safe").load(text)["autoinstall"]
    assert ai["version"] == 1 and ai["timezone"] == v["timezone"]
    assert {"qemu-guest-agent", "cloud-init"} <= set(ai["packages"])
    assert ai["ssh"] == {"install-server": True, "allow-pw": False}
    assert "identity" not in ai  # the user-data section creates the admin; no password exists anywhere
    [user] = ai["user-data"]["users"]
    assert user["name"] == v["admin_user"] and user["ssh_authorized_keys"] == v["ssh_public_keys"]
    assert (PKR / "http/meta-data").exists()


def _plugin_installed() -> bool:
    base = Path(os.environ.get("PACKER_PLUGIN_PATH", Path.home() / ".config/packer/plugins"))
    return any((base / "github.com/hashicorp/proxmox").glob(f"packer-plugin-proxmox_v{PLUGIN_VERSION}_*"))


@pytest.mark.skipif(shutil.which("packer") is None or not _plugin_installed(),
                    reason=f"packer with the proxmox plugin v{PLUGIN_VERSION} is not installed and cannot be downloaded "
                           "here (Debian's packer 1.6.6 predates required_plugins)")
def test_packer_validate_with_the_real_plugin(tmp_path: Path):
    env = {**os.environ, "CHECKPOINT_DISABLE": "1", "PROXMOX_USERNAME": "packer@pve!test", "PROXMOX_TOKEN": "not-a-secret"}
    res = subprocess.run(["packer", "validate", "."], cwd=PKR, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
