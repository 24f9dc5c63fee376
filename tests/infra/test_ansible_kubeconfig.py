"""The k3s role's kubeconfig step on the machine running Ansible, where ~/.kube may not exist yet.

The real tasks file (roles/k3s/tasks/kubeconfig.yml) runs with ansible-playbook against localhost,
HOME pointing at an empty temporary directory, and a K3s-style admin kubeconfig as the slurped
input the cluster step would have read from the first server.
"""

from __future__ import annotations

import base64
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from hosts.ansible_run import ANSIBLE_DIR, BIN, program

pytestmark = pytest.mark.skipif(program("ansible-playbook") is None, reason="ansible-playbook is not installed")

K3S_KUBECONFIG = """apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: Q0E=
    server: https://127.0.0.1:6443
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
kind: Config
users:
- name: default
  user:
    client-certificate-data: Q0VSVA==
"""


def _run_kubeconfig_tasks(home: Path, extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    playbook = home.parent / "kubeconfig.yml"
    YAML().dump([{
        "name": "The k3s role's kubeconfig tasks",
        "hosts": "localhost",
        "gather_facts": False,
        "vars": {"k3s_kubeconfig": {"content": base64.b64encode(K3S_KUBECONFIG.encode()).decode()},
                 "k3s_api_endpoint": "192.168.10.11", "homelab_site_name": "homelab", **(extra or {})},
        "tasks": [{"name": "Kubeconfig", "ansible.builtin.include_role": {"name": "k3s", "tasks_from": "kubeconfig.yml"}}],
    }], playbook.open("w"))
    env = {**os.environ, "HOME": str(home), "ANSIBLE_CONFIG": str(ANSIBLE_DIR / "ansible.cfg"),
           "ANSIBLE_NOCOLOR": "1", "ANSIBLE_LOCAL_TEMP": str(home / ".ansible-tmp"),
           "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}
    return subprocess.run([program("ansible-playbook") or "ansible-playbook", "-i", "localhost,", "-c", "local",
                           "-e", f"ansible_python_interpreter={sys.executable}", str(playbook)],
                          cwd=ANSIBLE_DIR, env=env, capture_output=True, text=True, timeout=300,
                          check=False, stdin=subprocess.DEVNULL)


def test_kubeconfig_written_when_the_controller_has_no_kube_directory(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    result = _run_kubeconfig_tasks(home)
    assert result.returncode == 0, result.stdout + result.stderr
    kube = home / ".kube"
    assert stat.S_IMODE(kube.stat().st_mode) == 0o700
    written = kube / "homelab.yaml"
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    config = YAML(typ="safe").load(written.read_text())
    assert config["clusters"][0]["cluster"]["server"] == "https://192.168.10.11:6443"
    assert config["current-context"] == "homelab"


def test_existing_kube_directory_keeps_its_mode(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".kube").mkdir(parents=True, mode=0o750)
    (home / ".kube").chmod(0o750)
    result = _run_kubeconfig_tasks(home)
    assert result.returncode == 0, result.stdout + result.stderr
    assert stat.S_IMODE((home / ".kube").stat().st_mode) == 0o750
    assert (home / ".kube" / "homelab.yaml").is_file()
