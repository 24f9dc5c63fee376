"""ansible-lint (production profile) passes on every role and playbook, and the playbooks parse."""

from __future__ import annotations

import os
import subprocess

import pytest

from conftest import ROOT
from hosts.ansible_run import ANSIBLE_DIR, BIN, program

ENV = {**os.environ, "ANSIBLE_CONFIG": str(ANSIBLE_DIR / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
       "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}


@pytest.mark.skipif(program("ansible-lint") is None, reason="ansible-lint is not installed (pip install -e '.[test]')")
def test_ansible_lint_production_profile_passes_on_all_roles_and_playbooks() -> None:
    result = subprocess.run([program("ansible-lint"), "--nocolor", "-c", str(ROOT / ".ansible-lint"),
                             "--profile", "production"],
                            cwd=ANSIBLE_DIR, env=ENV, capture_output=True, text=True, timeout=600, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Profile 'production' was required, and it passed" in output, output
    for role in ("common", "vms", "k3s", "dns"):
        assert (ANSIBLE_DIR / "roles" / role / "meta" / "argument_specs.yml").is_file(), role


@pytest.mark.skipif(program("ansible-playbook") is None, reason="ansible-playbook is not installed")
@pytest.mark.parametrize("playbook", ["site.yml", "common.yml", "vms.yml", "k3s.yml", "dns.yml"])
def test_playbook_targets_the_documented_groups(playbook: str) -> None:
    """--list-hosts on the real inventory: the playbook parses and reaches the hosts it is for."""
    result = subprocess.run([program("ansible-playbook"), f"playbooks/{playbook}", "--list-hosts"],
                            cwd=ANSIBLE_DIR, env=ENV, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    expected = {"site.yml": {"pve1", "pve2", "main-rpi4"}, "common.yml": {"pve1", "pve2", "main-rpi4"},
                "dns.yml": {"main-rpi4"}, "vms.yml": set(), "k3s.yml": set()}[playbook]
    listed = {line.strip() for line in result.stdout.splitlines()}
    assert expected <= listed, result.stdout
    if playbook == "dns.yml":
        assert not {"pve1", "pve2"} & listed
