"""The roles converge on real Debian 12 systemd hosts over SSH, and a second run changes nothing.

Three hosts boot with systemd-nspawn from the cached debootstrap rootfs (tests/hosts/lab.py):
k3s-1 and k3s-2 (K3s servers, each with a loop device as its Longhorn disk /dev/sdb; k3s-2's
already holds a filesystem with data; k3s-1 also has /dev/sdc with a partition table) and main-rpi4 (the Pi: common and dns). Ansible reaches them
through an inventory made from a Terraform output by `homelab inventory`, plus the rendered
group_vars, and runs playbooks/site.yml twice. Tasks that need the internet or a live cluster are
skipped by tag (see SKIPPED_TAGS); the tests at the end report each of them as a skip with its reason.
"""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from conftest import ROOT, run_cli
from hosts.ansible_run import SKIPPED_TAGS, PlaybookRun, changed_tasks, program, run_playbook, terraform_output
from hosts.lab import Lab, unavailable_reason

pytestmark = pytest.mark.slow

_reason = unavailable_reason() or (None if program("ansible-playbook") else "ansible-playbook is not installed")
if _reason:
    pytest.skip(_reason, allow_module_level=True)

SERVERS = ["k3s-1", "k3s-2"]
PI = "main-rpi4"
LONGHORN = "/var/lib/longhorn"


def write_k3s_inventory(lab: Lab, workdir: Path, dest: Path) -> None:
    """ansible/inventories/k3s-nodes.yml for the lab, made the way a user makes it."""
    nodes = [{"name": name, "address": lab.hosts[name].address, "proxmox_host": f"pve{i + 1}",
              "role": "server", "vm_id": 201 + i} for i, name in enumerate(SERVERS)]
    tf_json = workdir / "terraform-output.json"
    tf_json.write_text(terraform_output(nodes))
    result = run_cli("inventory", "--from", str(tf_json), "--output", str(dest))
    assert result.returncode == 0, f"homelab inventory failed:\n{result.stderr}"


class Converged:
    def __init__(self, lab: Lab, first: PlaybookRun, second: PlaybookRun, refused: PlaybookRun,
                 uuids_before: dict[str, str], uuids_first: dict[str, str], uuids_second: dict[str, str]):
        self.lab, self.first, self.second, self.refused = lab, first, second, refused
        self.uuids_before, self.uuids_first, self.uuids_second = uuids_before, uuids_first, uuids_second
        self.token = ""
        self.tokenless: PlaybookRun | None = None


def _uuids(lab: Lab) -> dict[str, str]:
    return {name: lab.hosts[name].disks[0].uuid() for name in SERVERS}


@pytest.fixture(scope="module")
def converged(tmp_path_factory: pytest.TempPathFactory):
    workdir = tmp_path_factory.mktemp("ansible-lab")
    disks = {"k3s-1": [("/dev/sdb", 64, None), ("/dev/sdc", 16, "gpt")], "k3s-2": [("/dev/sdb", 64, "ext4")]}
    with Lab(workdir / "hosts", [*SERVERS, PI], disks=disks) as lab:
        inventory = workdir / "inventories"
        (inventory / "group_vars").mkdir(parents=True)
        shutil.copytree(ROOT / "ansible" / "inventories" / "group_vars" / "all", inventory / "group_vars" / "all")
        write_k3s_inventory(lab, workdir, inventory / "k3s-nodes.yml")
        # The Pi, as ansible/inventories/hosts.yml groups it, at its test address. The Proxmox
        # hosts are left out: their addresses are real ones, never contacted from a test.
        YAML().dump({"all": {"children": {"pi": {"hosts": {PI: {"ansible_host": lab.hosts[PI].address}}},
                                          "dns": {"hosts": {PI: {}}}}}}, (inventory / "hosts.yml").open("w"))
        lab_vars = workdir / "lab-vars.yml"
        YAML().dump({
            "ansible_user": "root",
            "ansible_ssh_private_key_file": str(lab.key),
            "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
            # The admin user gets the test key, so a test can log in as it.
            "homelab_admin_ssh_keys": [lab.key.with_suffix(".pub").read_text().strip()],
            "k3s_api_endpoint": lab.hosts[SERVERS[0]].address,
        }, lab_vars.open("w"))
        env = {"K3S_TOKEN": secrets.token_hex(24)}
        uuids_before = _uuids(lab)
        first = run_playbook("site.yml", inventory, lab_vars, env, workdir / "first-run.log")
        uuids_first = _uuids(lab)
        second = run_playbook("site.yml", inventory, lab_vars, env, workdir / "second-run.log")
        uuids_second = _uuids(lab)
        refused = run_playbook(str(_write_refusal_playbook(workdir)), inventory, lab_vars, env, workdir / "refused.log")
        converged = Converged(lab, first, second, refused, uuids_before, uuids_first, uuids_second)
        converged.token = env["K3S_TOKEN"]
        converged.tokenless = run_playbook("k3s.yml", inventory, lab_vars, {"K3S_TOKEN": ""},
                                           workdir / "tokenless.log", "--tags", "k3s_config")
        yield converged


def _write_refusal_playbook(workdir: Path) -> Path:
    """The k3s role's Longhorn disk tasks, pointed at k3s-1's /dev/sdc (a partition table, no filesystem)."""
    playbook = workdir / "longhorn-disk-with-partition-table.yml"
    YAML().dump([{
        "name": "Longhorn disk tasks against a disk with a partition table",
        "hosts": "k3s-1",
        "tasks": [{"name": "Longhorn disk", "ansible.builtin.include_role": {"name": "k3s", "tasks_from": "longhorn_disk.yml"},
                   "vars": {"k3s_longhorn_disk_device": "/dev/sdc", "k3s_longhorn_data_path": "/mnt/refused"}}],
    }], playbook.open("w"))
    return playbook


def test_first_run_converges_every_host(converged: Converged) -> None:
    run = converged.first
    assert run.returncode == 0, run.describe()
    assert set(run.recap) == {*SERVERS, PI}, run.describe()
    for host, counts in run.recap.items():
        assert counts["failed"] == 0 and counts["unreachable"] == 0, f"{host}: {counts}"
        assert counts["changed"] > 0, f"{host} reported no change on a fresh host: {counts}"


def test_second_run_changes_nothing_on_any_host(converged: Converged) -> None:
    run = converged.second
    assert run.returncode == 0, run.describe()
    assert set(run.recap) == {*SERVERS, PI}, run.describe()
    changed = {host: counts["changed"] for host, counts in run.recap.items() if counts["changed"]}
    assert not changed, f"not idempotent: {changed}; changed tasks: {changed_tasks(run.output)}\n{run.describe()}"


def test_sshd_refuses_passwords_and_root_password_login(converged: Converged) -> None:
    for name in (*SERVERS, PI):
        effective = converged.lab.hosts[name].ssh("sshd -T")
        assert effective.returncode == 0, effective.stderr
        settings = dict(line.split(" ", 1) for line in effective.stdout.splitlines() if " " in line)
        assert settings["passwordauthentication"] == "no", name
        assert settings["kbdinteractiveauthentication"] == "no", name
        assert settings["permitrootlogin"] == "without-password", name


def test_timezone_and_time_sources_from_group_vars(converged: Converged) -> None:
    for name in (*SERVERS, PI):
        result = converged.lab.hosts[name].ssh("readlink /etc/localtime; cat /etc/timezone; cat /etc/chrony/chrony.conf")
        lines = result.stdout.splitlines()
        assert lines[:2] == ["/usr/share/zoneinfo/Europe/Berlin", "Europe/Berlin"], result.stdout
        assert "pool 0.debian.pool.ntp.org iburst" in lines and "pool 1.debian.pool.ntp.org iburst" in lines


def test_admin_user_logs_in_with_its_key_and_has_sudo(converged: Converged) -> None:
    host = converged.lab.hosts[SERVERS[0]]
    result = host.ssh("sudo -n id -u", user="ops")
    assert result.returncode == 0 and result.stdout.strip() == "0", result.stderr


def test_blank_longhorn_disk_formatted_on_first_run_and_untouched_on_second(converged: Converged) -> None:
    assert converged.uuids_before["k3s-1"] == "", "the stand-in disk was not blank before the run"
    assert converged.uuids_first["k3s-1"], "the first run did not format the blank Longhorn disk"
    assert converged.uuids_second["k3s-1"] == converged.uuids_first["k3s-1"], "the second run reformatted it"
    host = converged.lab.hosts["k3s-1"]
    mounted = host.ssh(f"findmnt --noheadings --output SOURCE,FSTYPE {LONGHORN}")
    source, fstype = mounted.stdout.split()
    assert fstype == "ext4", mounted.stdout
    # Mounted by UUID, so findmnt may name either device node; the filesystem is the one made.
    assert host.ssh(f"blkid -p -o value -s UUID {source}").stdout.strip() == converged.uuids_first["k3s-1"]
    fstab = host.ssh("cat /etc/fstab").stdout
    assert f"UUID={converged.uuids_first['k3s-1']} {LONGHORN} ext4 defaults,nofail" in fstab, fstab


def test_disk_with_a_filesystem_is_never_formatted(converged: Converged) -> None:
    before = converged.uuids_before["k3s-2"]
    assert before, "k3s-2's stand-in disk should have been pre-formatted"
    assert converged.uuids_first["k3s-2"] == before and converged.uuids_second["k3s-2"] == before
    data = converged.lab.hosts["k3s-2"].ssh(f"cat {LONGHORN}/EXISTING-DATA")
    assert data.returncode == 0 and "before the first Ansible run" in data.stdout, data.stderr


def test_disk_with_a_partition_table_is_refused_and_left_alone(converged: Converged) -> None:
    run = converged.refused
    assert run.returncode != 0 and run.recap["k3s-1"]["failed"] == 1, run.describe()
    assert "/dev/sdc on k3s-1 holds gpt; it is never formatted" in " ".join(run.output.split()), run.describe()
    sdc = converged.lab.hosts["k3s-1"].disks[1].probe()
    assert sdc.get("PTTYPE") == "gpt" and "TYPE" not in sdc, sdc


def test_k3s_config_first_server_initialises_others_join(converged: Converged) -> None:
    hosts = converged.lab.hosts
    configs = {}
    for name in SERVERS:
        result = hosts[name].ssh("cat /etc/rancher/k3s/config.yaml; stat -c %a /etc/rancher/k3s/config.yaml")
        assert result.returncode == 0, result.stderr
        text, _, mode = result.stdout.rstrip().rpartition("\n")
        assert mode == "600", f"{name}: config.yaml holds the token and must be 0600, is {mode}"
        configs[name] = YAML(typ="safe").load(text)
    first, second = configs["k3s-1"], configs["k3s-2"]
    assert first["cluster-init"] is True and "server" not in first
    assert second["server"] == f"https://{hosts['k3s-1'].address}:6443" and "cluster-init" not in second
    for name, cfg in configs.items():
        assert cfg["node-ip"] == hosts[name].address
        assert cfg["disable"] == ["traefik", "servicelb"]
        assert cfg["flannel-backend"] == "vxlan"
        assert cfg["etcd-expose-metrics"] is True
        assert "k3s.lan.example.com" in cfg["tls-san"]
        assert cfg["token"] == converged.token, f"{name}: the token is not the one from K3S_TOKEN"


def test_cluster_token_never_appears_in_ansible_output(converged: Converged) -> None:
    for run in (converged.first, converged.second):
        assert converged.token not in run.output


def test_k3s_without_a_token_in_the_environment_stops_with_a_hint(converged: Converged) -> None:
    run = converged.tokenless
    assert run is not None and run.returncode != 0, run and run.describe()
    assert "no K3s token: export K3S_TOKEN" in " ".join(run.output.split()), run.describe()


def test_k3s_kernel_settings_applied(converged: Converged) -> None:
    for name in SERVERS:
        result = converged.lab.hosts[name].ssh(
            "sysctl -n net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables; cat /etc/modules-load.d/k3s.conf; "
            "swapon --noheadings --show")
        lines = result.stdout.split()
        assert lines[:2] == ["1", "1"], result.stdout
        assert "overlay" in lines and "br_netfilter" in lines


def test_pi_serves_the_local_records_from_group_vars(converged: Converged) -> None:
    result = converged.lab.hosts[PI].ssh("cat /etc/dnsmasq.d/05-homelab-records.conf")
    assert result.returncode == 0, result.stderr
    assert "host-record=pve1.lan.example.com,192.168.1.2" in result.stdout
    assert "host-record=k3s.lan.example.com,192.168.10.11" in result.stdout


def test_guest_agent_installed_and_root_growth_explained(converged: Converged) -> None:
    host = converged.lab.hosts[SERVERS[0]]
    assert host.ssh("dpkg-query -W -f='${Status}' qemu-guest-agent").stdout == "install ok installed"
    log = " ".join(converged.first.output.split())  # the callback wraps long messages
    assert "is absent (not a Proxmox VM with the agent option on)" in log
    assert "not a filesystem on a disk partition: nothing to grow" in log


@pytest.mark.parametrize("tag", sorted(SKIPPED_TAGS))
def test_tagged_steps_the_local_run_cannot_do(tag: str) -> None:
    pytest.skip(f"--skip-tags {tag}: {SKIPPED_TAGS[tag]}")
