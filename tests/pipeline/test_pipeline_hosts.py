"""The hosts stage for real: the real ansible-playbook, over SSH, against a booted Debian 12 test host.

Uses the real-host harness of the Ansible tests (tests/hosts/lab.py: systemd-nspawn hosts in
private network namespaces). The playbook here is a small one of this test's own: the point is
the stage's wiring (run from ansible/ with its ansible.cfg, the inventories/ folder with the
generated k3s-nodes.yml, recorded as done, run again when ansible/ changes), not the roles,
which the Ansible tests converge themselves.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from test_pipeline import lab  # noqa: F401 (the scratch repository with stand-ins, as a fixture)

from homelab.pipeline.stages import Hosts

PLAYBOOK = """---
- name: Mark every K3s node
  hosts: k3s_cluster
  gather_facts: false
  tasks:
    - name: Write the mark
      ansible.builtin.copy:
        content: "{{ inventory_hostname }} {{ marker }}\\n"
        dest: /etc/homelab-hosts-stage
        mode: "0644"
"""


def real_ansible_playbook() -> Path | None:
    found = shutil.which("ansible-playbook", path=f"{Path(sys.executable).parent}")
    return Path(found) if found else None


@pytest.mark.slow
def test_hosts_stage_runs_ansible_for_real_against_a_debian_test_host(lab, monkeypatch):  # noqa: F811
    harness = pytest.importorskip("hosts.lab", reason="the real-host harness (tests/hosts/lab.py) of the Ansible "
                                                       "tests is not in this tree")
    if reason := harness.unavailable_reason():
        pytest.skip(reason)
    playbook_bin = real_ansible_playbook()
    if playbook_bin is None:
        pytest.skip("ansible-playbook is not installed beside this Python (the `ansible` package of the test extra)")

    bin_dir = Path(lab.tmp / "bin")
    (bin_dir / "ansible-playbook").unlink()  # the real one from here on, not the stand-in
    monkeypatch.setenv("PATH", f"{bin_dir}:{playbook_bin.parent}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    ansible = lab.root / "ansible"
    (ansible / "playbooks").mkdir(parents=True, exist_ok=True)
    (ansible / "playbooks" / "site.yml").write_text(PLAYBOOK)
    (ansible / "ansible.cfg").write_text("[defaults]\ninventory = inventories/\nhost_key_checking = False\n"
                                         "[ssh_connection]\npipelining = True\n")

    workdir = lab.tmp / "hosts"
    workdir.mkdir()
    with harness.Lab(workdir, ["k3s-1"]) as hosts:
        host = hosts.hosts["k3s-1"]
        (ansible / "inventories" / "k3s-nodes.yml").write_text(
            "all:\n  children:\n    k3s_cluster:\n      children:\n        k3s_servers:\n          hosts:\n"
            f"            k3s-1: {{ansible_host: {host.address}, ansible_user: root, "
            f"ansible_ssh_private_key_file: {hosts.key}, k3s_init: true}}\n")
        (ansible / "inventories" / "group_vars" / "all" / "marker.yml").write_text("marker: first\n")

        assert lab.up(only="hosts") == ["preflight", "hosts"]
        assert host.ssh("cat /etc/homelab-hosts-stage").stdout == "k3s-1 first\n"
        p = lab.pipeline()
        assert Hosts().is_done(p)
        log = (lab.root / ".homelab" / "logs" / "hosts.log").read_text()
        assert "ok=1" in log and "changed=1" in log and "failed=0" in log

        # A change under ansible/ makes the stage due again; a plain `homelab up` run picks it up.
        (ansible / "inventories" / "group_vars" / "all" / "marker.yml").write_text("marker: second\n")
        assert not Hosts().is_done(lab.pipeline())
        assert lab.up(from_stage="hosts")[:2] == ["preflight", "hosts"]
        assert host.ssh("cat /etc/homelab-hosts-stage").stdout == "k3s-1 second\n"
