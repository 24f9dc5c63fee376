"""Running the real ansible-playbook against test hosts, and reading its PLAY RECAP."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE_DIR = ROOT / "ansible"
BIN = Path(sys.executable).parent

# What the local run leaves out, and why: each needs the internet or a live K3s cluster, or a
# kernel feature the test machine's kernel lacks. Tests report these as skips with the reason.
SKIPPED_TAGS = {
    "k3s_download": "downloads the pinned K3s release and its sha256sum file from GitHub (needs the internet)",
    "k3s_cluster": "starts K3s, joins servers to the first one, waits for Ready nodes and fetches the "
                   "kubeconfig (needs the K3s binary and a live cluster)",
    "longhorn_iscsi": "loads iscsi_tcp and runs iscsid (the test machine's kernel has no iSCSI support, "
                      "so iscsid cannot start in the nspawn hosts)",
    "pihole_install": "runs Pi-hole's unattended installer (needs the internet)",
    "pihole_config": "sets Pi-hole settings and the API password with pihole-FTL and its API "
                     "(needs an installed Pi-hole)",
}

RECAP_LINE = re.compile(r"^(?P<host>\S+)\s+:\s+(?P<counts>(?:\w+=\d+\s*)+)$")


def program(name: str) -> str | None:
    found = BIN / name
    return str(found) if found.exists() else shutil.which(name)


@dataclass
class PlaybookRun:
    returncode: int
    output: str
    recap: dict[str, dict[str, int]]

    def describe(self) -> str:
        return f"ansible-playbook exited {self.returncode}; last output:\n{self.output[-6000:]}"


def changed_tasks(output: str) -> list[str]:
    """'TASK name: host' for every task or handler that reported a change, in order."""
    found, task = [], ""
    for line in output.splitlines():
        if line.startswith(("TASK [", "RUNNING HANDLER [")):
            task = line.split("[", 1)[1].rsplit("]", 1)[0]
        elif line.startswith("changed: ["):
            found.append(f"{task}: {line.split('[', 1)[1].split(']', 1)[0]}")
    return found


def parse_recap(output: str) -> dict[str, dict[str, int]]:
    """{host: {ok, changed, unreachable, failed, skipped, rescued, ignored}} from PLAY RECAP."""
    recap: dict[str, dict[str, int]] = {}
    _, _, tail = output.rpartition("PLAY RECAP")
    for line in tail.splitlines():
        match = RECAP_LINE.match(line.strip())
        if match:
            recap[match["host"]] = {k: int(v) for k, v in (c.split("=") for c in match["counts"].split())}
    return recap


def run_playbook(playbook: str, inventory: Path, extra_vars: Path, env: dict[str, str],
                 log: Path, *args: str, timeout: float = 900) -> PlaybookRun:
    """Run a playbook of ansible/playbooks/ (or one at an absolute path) with the local skips."""
    target = playbook if Path(playbook).is_absolute() else f"playbooks/{playbook}"
    cmd = [program("ansible-playbook") or "ansible-playbook", "-i", str(inventory), target,
           "-e", f"@{extra_vars}", "--skip-tags", ",".join(SKIPPED_TAGS), *args]
    full_env = {**os.environ, "ANSIBLE_CONFIG": str(ANSIBLE_DIR / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_FORCE_COLOR": "0", "PATH": f"{BIN}:{os.environ.get('PATH', '')}", **env}
    proc = subprocess.run(cmd, cwd=ANSIBLE_DIR, env=full_env, capture_output=True, text=True,
                          timeout=timeout, check=False, stdin=subprocess.DEVNULL)
    output = proc.stdout + proc.stderr
    log.write_text(output)
    return PlaybookRun(proc.returncode, output, parse_recap(proc.stdout))


def terraform_output(nodes: list[dict[str, object]]) -> str:
    """`terraform output -json` as the Terraform layer emits it: k3s_nodes keyed by node name."""
    value = {str(n["name"]): n for n in nodes}
    return json.dumps({"k3s_nodes": {"sensitive": False, "type": ["map", ["object", {}]], "value": value}})
