"""`homelab up` / `homelab destroy`: stage order, skip-when-done, resume, --from/--only, --dry-run masking.

Packer, Terraform, Ansible, Flux and kubectl are replaced by a recording STAND-IN script
(tests/standins/standin) on PATH; the Proxmox API and the cluster by small stand-in objects. Git
is real: the "remote Flux watches" is a bare repository on disk, reached through the URL in
homelab.yaml by `url.<bare>.insteadOf`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from homelab.clients.masking import MASK
from homelab.config import load_config
from homelab.pipeline import PipelineContext, Runner, StageFailed, State, run_pipeline
from homelab.pipeline.stages import token_secret_manifest

from conftest import ROOT, copy_repo, own_lab, run_cli

STANDIN = ROOT / "tests" / "standins" / "standin"
PROGRAMS = ("packer", "terraform", "ansible-playbook", "flux", "kubectl")
FIXTURES = ROOT / "tests" / "fixtures" / "status"
SECRETS = {
    "PROXMOX_VE_API_TOKEN": "terraform@pve!homelab=6f1c9a2e-8b3d-4e5f-a7c1-0d2e4f6a8b9c",
    "PROXMOX_TOKEN": "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
    "K3S_TOKEN": "K10e3b1f2c5d8a7b6c9d0e1f2a3b4c5d6::server:5f4e3d2c1b0a",
    # homelab: ignore[secrets/credential] a made-up password the pipeline tests export
    "PIHOLE_API_PASSWORD": "pihole-test-password-9f8e7d",
    "BWS_ACCESS_TOKEN": "0.48c7a1b2-5d6e-4f70-9a81-b2c3d4e5f6a7.Xy9zQw8eRt7yUi6oP5aS:Df4gHj3kLz2xCv1bNm0Q==",
}
STAGE_OF = {"packer": "template", "terraform": "vms", "ansible-playbook": "hosts", "flux": "bootstrap",
            "kubectl": "bootstrap"}


def stage_of(call: str) -> str:
    return "inventory" if call.startswith("terraform output") else STAGE_OF[call.split()[0]]
ORDER = ["template", "vms", "inventory", "hosts", "bootstrap", "converge"]


def run_cli_answering(answer: str, *args: str) -> subprocess.CompletedProcess[str]:
    """run_cli, with `answer` typed at the prompt."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run([sys.executable, "-m", "homelab", *args], cwd=ROOT, env=env, input=answer,
                          capture_output=True, text=True, timeout=120, check=False)


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


class Lab:
    """A scratch repository with stand-ins on PATH, a pushed Git remote, an SSH key and secrets in the environment."""

    def __init__(self, root: Path, tmp: Path):
        self.root, self.tmp = root, tmp
        self.log, self.done = tmp / "standin.log", tmp / "standin.done"
        self.kube = FluxStandIn(ready=True)
        self.console = io.StringIO()

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def stages_called(self) -> list[str]:
        """The stages whose programs were called, in order, each once; converge when the cluster was read."""
        out: list[str] = []
        for call in self.calls():
            stage = stage_of(call)
            if not out or out[-1] != stage:
                out.append(stage)
        if self.kube.reads:
            out.append("converge")
        return out

    def reset_calls(self) -> None:
        self.log.unlink(missing_ok=True)
        self.kube.reads = 0

    def pipeline(self, *, dry_run: bool = False, yes: bool = True, timeout: float = 1.0) -> PipelineContext:
        state = State(self.root, dry_run=dry_run)
        runner = Runner(self.root, state.log_dir, Console(file=self.console, width=250, soft_wrap=True),
                        dry_run=dry_run, yes=yes)
        return PipelineContext(cfg=load_config(self.root / "homelab.yaml"), root=self.root,
                               config_path=self.root / "homelab.yaml", runner=runner, state=state,
                               proxmox=lambda: ProxmoxStandIn(self.done), kube=lambda: self.kube,
                               converge_timeout=timeout, converge_interval=0.01)

    def up(self, **kw) -> list[str]:
        opts = {k: kw.pop(k) for k in ("from_stage", "only") if k in kw}
        return run_pipeline(self.pipeline(**kw), **opts)

    def recorded(self) -> list[str]:
        state = self.root / ".homelab" / "state.json"
        return sorted(json.loads(state.read_text())["stages"]) if state.exists() else []


class ProxmoxStandIn:
    """Stand-in for the Proxmox API (proxmoxer's call shape): both hosts online; the template VM exists
    once the packer stand-in has finished `build`."""

    def __init__(self, done: Path):
        self._done = done
        self.nodes = _Nodes(self)

    def built(self) -> bool:
        return self._done.exists() and "packer build ." in self._done.read_text().splitlines()


class _Nodes:
    def __init__(self, px: ProxmoxStandIn):
        self._px = px

    def get(self):
        return json.loads((FIXTURES / "healthy" / "proxmox" / "nodes.json").read_text())["data"]

    def __call__(self, node: str):
        px = self._px
        vms = json.loads((FIXTURES / "healthy" / "proxmox" / f"nodes_{node}_qemu.json").read_text())["data"]
        return type("Node", (), {"qemu": type("Qemu", (), {
            "get": staticmethod(lambda: [v for v in vms if not v.get("template") or px.built()])})()})()


class FluxStandIn:
    """Stand-in for the cluster's API: the recorded Flux objects, all Ready or with authentik stuck."""

    def __init__(self, ready: bool):
        self.ready = ready
        self.reads = 0

    def list(self, group, version, plural):
        self.reads += 1
        case = "healthy" if self.ready else "unhealthy"
        return json.loads((FIXTURES / case / "kubernetes" / f"{group}_{version}_{plural}.json").read_text())["items"]


@pytest.fixture
def lab(tmp_path: Path, tmp_path_factory, monkeypatch) -> Lab:
    tmp = tmp_path_factory.mktemp("lab")
    root = copy_repo(tmp_path, edit=own_lab)
    for rel, text in {"packer/ubuntu-2404/ubuntu-2404.pkr.hcl": "# template\n", "terraform/main.tf": "# vms\n",
                      "ansible/playbooks/site.yml": "---\n- name: Site\n  hosts: all\n  tasks: []\n",
                      "kubernetes/clusters/homelab/flux-system/kustomization.yaml": "resources: []\n"}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / ".gitignore").write_text(".homelab/\n")
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    for prog in PROGRAMS:
        shutil.copy(STANDIN, bin_dir / prog)
    home = tmp / "home"
    (home / ".ssh").mkdir(parents=True)
    key = load_config(root / "homelab.yaml").site.ssh_public_keys[0]
    (home / ".ssh" / "id_ed25519.pub").write_text(key + "\n")
    (home / ".ssh" / "id_ed25519").write_text("stand-in private key file\n")
    gitconfig = tmp / "gitconfig"
    remote = tmp / "remote.git"
    gitconfig.write_text(f"[user]\n\tname = Test\n\temail = test@example.com\n[init]\n\tdefaultBranch = main\n"
                         f"[url \"{remote.as_uri()}\"]\n\tinsteadOf = https://github.com/jdoe/homelab\n")
    env = {"PATH": f"{bin_dir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(home),
           "GIT_CONFIG_GLOBAL": str(gitconfig), "GIT_CONFIG_NOSYSTEM": "1", "PROXMOX_USERNAME": "packer@pve!homelab",
           "STANDIN_TF_OUTPUT": str(ROOT / "tests/fixtures/terraform-output/valid.json"),
           "STANDIN_LOG": str(tmp / "standin.log"), "STANDIN_DONE": str(tmp / "standin.done"),
           **SECRETS}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    for k in ("KUBECONFIG", "SSH_AUTH_SOCK", "STANDIN_FAIL", "STANDIN_TF_PLAN_EXIT"):
        monkeypatch.delenv(k, raising=False)
    git("init", "-q", "--bare", str(remote), cwd=tmp)
    git("init", "-q", cwd=root)
    git("add", "-A", cwd=root)
    git("commit", "-qm", "lab", cwd=root)
    git("push", "-q", "https://github.com/jdoe/homelab", "HEAD:main", cwd=root)
    return Lab(root, tmp)


def test_stages_run_in_order_with_stand_ins(lab):
    ran = lab.up()
    assert ran == ["preflight", *ORDER]
    assert lab.stages_called() == ORDER
    assert lab.calls()[:4] == ["packer init .", "packer build .", "terraform init -input=false",
                               "terraform plan -input=false -detailed-exitcode -out=../.homelab/vms.tfplan"]
    assert "ansible-playbook -i inventories/ playbooks/site.yml" in lab.calls()
    assert lab.calls()[-2:] == [
        "flux create source git flux-system --url=https://github.com/jdoe/homelab --branch=main --interval=10m",
        "flux create kustomization flux-system --source=GitRepository/flux-system --path=./kubernetes/clusters/homelab "
        "--prune=true --interval=10m"]
    assert lab.recorded() == sorted(ORDER)
    assert not (lab.root / ".homelab" / "vms.tfplan").exists(), "the saved plan is removed after the apply"
    assert sorted(p.name for p in (lab.root / ".homelab" / "logs").iterdir()) == sorted(
        f"{s}.log" for s in ["preflight", *ORDER])


def test_second_run_repeats_nothing(lab):
    lab.up()
    lab.reset_calls()
    assert lab.up() == []
    assert lab.calls() == [] and lab.kube.reads == 0
    assert "every stage is done" in lab.console.getvalue()


def test_template_is_skipped_when_its_vm_id_exists(lab):
    lab.done.write_text("packer build .\n")  # the Proxmox stand-in now lists VM 9000 as a template
    lab.up()
    assert not any(c.startswith("packer") for c in lab.calls())
    assert "template" in lab.recorded()
    assert "✓ template: done" in lab.console.getvalue()


FAIL_AT = {"template": "packer build", "vms": "terraform apply", "inventory": "terraform output",
           "hosts": "ansible-playbook", "bootstrap": "flux create source", "converge": None}


@pytest.mark.parametrize("stage", ORDER)
def test_interrupted_run_resumes_at_the_failed_stage_and_never_repeats_a_finished_one(lab, monkeypatch, stage):
    if FAIL_AT[stage]:
        monkeypatch.setenv("STANDIN_FAIL", FAIL_AT[stage])
    else:
        lab.kube.ready = False  # authentik's HelmRelease never becomes Ready
    with pytest.raises(StageFailed) as failed:
        lab.up()
    before = ORDER[:ORDER.index(stage)]
    assert lab.recorded() == sorted(before)
    assert lab.stages_called() == [*before, stage]
    assert failed.value.problems[0].file == stage

    monkeypatch.delenv("STANDIN_FAIL", raising=False)
    lab.kube.ready = True
    lab.reset_calls()
    ran = lab.up()
    assert ran == ["preflight", *ORDER[ORDER.index(stage):]]
    assert lab.stages_called() == ORDER[ORDER.index(stage):]
    assert not any(stage_of(c) in before for c in lab.calls())
    assert lab.recorded() == sorted(ORDER)


def test_converge_timeout_names_what_is_stuck_and_why(lab):
    lab.kube.ready = False
    with pytest.raises(StageFailed) as failed:
        lab.up()
    text = str(failed.value)
    assert "HelmRelease authentik/authentik: InstallFailed: Helm install failed for release authentik/authentik" in text
    assert "Kustomization flux-system/apps: DependencyNotReady" in text
    assert "not ready: HelmRelease authentik/authentik" in (lab.root / ".homelab/logs/converge.log").read_text()


def test_from_reruns_that_stage_and_every_later_one(lab):
    lab.up()
    lab.reset_calls()
    assert lab.up(from_stage="hosts") == ["preflight", "hosts", "bootstrap", "converge"]
    assert lab.stages_called() == ["hosts", "bootstrap", "converge"]


def test_only_runs_exactly_one_stage_done_or_not(lab):
    lab.up()
    lab.reset_calls()
    assert lab.up(only="inventory") == ["preflight", "inventory"]
    assert lab.stages_called() == ["inventory"]
    expected = (ROOT / "tests/fixtures/terraform-output/k3s-nodes.expected.yml").read_text()
    assert (lab.root / "ansible/inventories/k3s-nodes.yml").read_text() == expected
    lab.reset_calls()
    assert lab.up(only="preflight") == ["preflight"] and lab.calls() == []


def test_only_on_a_fresh_lab_runs_that_stage_alone(lab):
    assert lab.up(only="hosts") == ["preflight", "hosts"]
    assert lab.stages_called() == ["hosts"] and lab.recorded() == ["hosts"]


def test_a_node_added_to_homelab_yaml_reruns_only_what_it_changes(lab):
    from homelab.render import render_all, write

    lab.up()
    lab.reset_calls()
    cfg_file = lab.root / "homelab.yaml"
    text = cfg_file.read_text()
    node = text[text.index("    - name: k3s-3"):text.index("metallb:")].rstrip() + "\n"
    new = node.replace("k3s-3", "k3s-4").replace("203", "204").replace("192.168.10.13", "192.168.10.14") \
              .replace("host: pve2                     # two servers on pve2 on purpose: `homelab plan` shows the cost",
                       "host: pve1")
    cfg_file.write_text(text.replace(node, node + new))
    write(render_all(load_config(cfg_file)), lab.root)
    git("commit", "-qam", "add k3s-4", cwd=lab.root)
    git("push", "-q", "https://github.com/jdoe/homelab", "HEAD:main", cwd=lab.root)
    lab.up()
    called = lab.stages_called()
    assert "template" not in called and "bootstrap" not in called
    assert called[:3] == ["vms", "inventory", "hosts"]


def test_a_plan_without_changes_applies_nothing(lab, monkeypatch):
    monkeypatch.setenv("STANDIN_TF_PLAN_EXIT", "0")
    lab.up(only="vms")
    assert [c.split()[1] for c in lab.calls()] == ["init", "plan"]
    assert "nothing to apply" in lab.console.getvalue()


def test_apply_waits_for_confirmation_and_stops_on_no(lab, monkeypatch):
    import click

    asked = []
    monkeypatch.setattr(click, "confirm", lambda q, default=False: asked.append(q) or False)
    with pytest.raises(StageFailed, match="not confirmed"):
        lab.up(only="vms", yes=False)
    assert asked == ["Apply this Terraform plan to Proxmox?"]
    assert "terraform show ../.homelab/vms.tfplan" in lab.calls()
    assert not any(c.startswith("terraform apply") for c in lab.calls())
    assert "vms" not in lab.recorded()


def test_bitwarden_token_reaches_kubectl_only_on_stdin(lab):
    lab.up()
    manifest = token_secret_manifest("sm-operator-system", "bw-auth-token", "token", SECRETS["BWS_ACCESS_TOKEN"])
    digest = hashlib.sha256(manifest.encode()).hexdigest()
    assert f"kubectl apply --server-side --field-manager=homelab -f - <stdin sha256:{digest}>" in lab.calls()


def test_no_secret_reaches_the_console_or_any_log(lab):
    lab.up()
    out = lab.console.getvalue()
    logs = {p.name: p.read_text() for p in (lab.root / ".homelab").rglob("*") if p.is_file() and p.suffix != ".tfplan"}
    assert "stand-in terraform: running with tokens" in out  # the stand-ins did print their credentials...
    for value in SECRETS.values():
        assert value not in out
        for name, text in logs.items():
            assert value not in text, name
    assert MASK in out and MASK in logs["vms.log"]  # ...and they were masked
    assert "6f1c9a2e-8b3d-4e5f-a7c1-0d2e4f6a8b9c" not in out  # the secret half of the Proxmox token too


def test_preflight_names_every_missing_prerequisite_and_changes_nothing(lab, monkeypatch):
    (Path(os.environ["PATH"].split(":")[0]) / "flux").unlink()
    monkeypatch.setenv("STANDIN_TERRAFORM_VERSION", "1.5.7")
    monkeypatch.delenv("BWS_ACCESS_TOKEN")
    monkeypatch.delenv("PROXMOX_TOKEN")
    (lab.root / "terraform" / "main.tf").write_text("# changed, committed, not pushed\n")
    git("commit", "-qam", "unpushed", cwd=lab.root)
    with pytest.raises(StageFailed) as failed:
        lab.up()
    text = str(failed.value)
    assert "flux is not installed" in text
    assert "terraform 1.5.7 is too old; 1.9.0 or newer is needed" in text
    assert "$BWS_ACCESS_TOKEN is not set" in text
    assert "$PROXMOX_TOKEN is not set; Packer reads the Proxmox API token from it" in text
    assert "does not contain your commit" in text and "git push" in text
    assert lab.calls() == [] and lab.recorded() == []


def test_preflight_without_the_ssh_key_for_the_admin_user(lab):
    (Path(os.environ["HOME"]) / ".ssh" / "id_ed25519").unlink()
    with pytest.raises(StageFailed, match="no SSH private key"):
        lab.up(only="hosts")


def test_dry_run_prints_every_command_and_no_secret(lab):
    """Through the CLI, as a user runs it; a token wrongly embedded in the Flux URL is masked too."""
    # homelab: ignore[secrets/credential] a made-up token the masking test must hide
    github_token = "ghp_Zx8Kq2Lm4Np6Rs8Tu0Vw2Xy4Za6Bc8De0Fg2"
    cfg = lab.root / "homelab.yaml"
    cfg.write_text(cfg.read_text().replace("https://github.com/jdoe/homelab",
                                           f"https://git:{github_token}@github.com/jdoe/homelab"))
    res = run_cli("--config", str(cfg), "up", "--dry-run", env={"GITHUB_TOKEN": github_token, **SECRETS})
    assert res.returncode == 0, res.stderr
    out = res.stdout
    expected = ["dry run: nothing runs and nothing changes", "would check: tools at supported versions",
                "$ terraform version   # 1.9.0 or newer",
                f"$ git ls-remote https://git:{MASK}@github.com/jdoe/homelab refs/heads/main",
                "packer init .", "packer build .", "terraform init -input=false", "terraform plan",
                "terraform show ../.homelab/vms.tfplan", "terraform apply -input=false ../.homelab/vms.tfplan",
                "terraform output -json -no-color", "would write ansible/inventories/k3s-nodes.yml from that output",
                "ansible-playbook -i inventories/ playbooks/site.yml",
                "flux check --pre", "flux install",
                "kubectl apply --server-side --field-manager=homelab -f - < Secret sm-operator-system/bw-auth-token",
                f"flux create source git flux-system --url=https://git:{MASK}@github.com/jdoe/homelab",
                "flux create kustomization flux-system", "would wait up to 900s until every Kustomization",
                "dry run: the template, vms, inventory, hosts, bootstrap and converge stages would run"]
    positions = [out.find(e) for e in expected]
    assert -1 not in positions, [e for e, p in zip(expected, positions, strict=False) if p == -1]
    assert positions == sorted(positions)
    for value in [github_token, *SECRETS.values()]:
        assert value not in out + res.stderr
    assert lab.calls() == [], "a dry run must not run anything"
    assert not (lab.root / ".homelab").exists()


def test_dry_run_speaks_of_what_it_would_do_never_of_what_it_did(lab):
    lab.up(dry_run=True)
    out = lab.console.getvalue()
    assert "▶ preflight: would check what the template, vms, inventory, hosts, bootstrap and converge stages need" in out
    assert "▶ vms: would create or change the K3s VMs" in out and "need\n" not in out.replace("stages need\n", "")
    assert "every variable and program a real run needs is there" in out and "missing:" not in out
    for past in ("wrote ", "destroyed", "converge: every", "checks passed"):
        assert past not in out


def test_dry_run_names_every_missing_variable(lab, monkeypatch):
    for var in ("PROXMOX_USERNAME", "PROXMOX_TOKEN", "PROXMOX_VE_API_TOKEN", "BWS_ACCESS_TOKEN"):
        monkeypatch.delenv(var)
    (Path(os.environ["PATH"].split(":")[0]) / "packer").unlink()
    lab.up(dry_run=True)
    out = lab.console.getvalue()
    missing = [line.split(" ", 2)[1] for line in out.splitlines() if line.startswith("missing: ")]
    assert missing == ["$PROXMOX_USERNAME", "$PROXMOX_TOKEN", "$PROXMOX_VE_API_TOKEN", "$BWS_ACCESS_TOKEN", "packer"]
    assert "a real run needs them first" in out
    lab.console.seek(0)
    lab.console.truncate()
    lab.up(only="hosts", dry_run=True)  # the hosts stage reads none of them
    assert "missing:" not in lab.console.getvalue()
    assert "▶ preflight: would check what the hosts stage needs" in lab.console.getvalue()


def test_destroy_dry_run_says_what_it_would_destroy_and_destroys_nothing(lab, monkeypatch):
    monkeypatch.delenv("PROXMOX_VE_API_TOKEN")
    res = run_cli("--config", str(lab.root / "homelab.yaml"), "destroy", "--dry-run")
    assert res.returncode == 0, res.stderr
    assert "would destroy the K3s VMs k3s-1 (VM 201 on pve1)" in res.stdout and "destroyed" not in res.stdout
    assert "missing: $PROXMOX_VE_API_TOKEN is not set" in res.stdout
    assert lab.calls() == []


def test_dry_run_after_a_partial_run_prints_only_what_is_left(lab, monkeypatch):
    monkeypatch.setenv("STANDIN_FAIL", "ansible-playbook")
    with pytest.raises(StageFailed):
        lab.up()
    lab.reset_calls()
    lab.up(dry_run=True)
    out = lab.console.getvalue().split("failing as the test asked")[-1]
    assert "packer build" not in out and "terraform apply" not in out
    assert "ansible-playbook -i inventories/ playbooks/site.yml" in out and "$ flux install" in out
    assert lab.calls() == []


def test_up_rejects_from_together_with_only(lab):
    res = run_cli("--config", str(lab.root / "homelab.yaml"), "up", "--from", "vms", "--only", "hosts")
    assert res.returncode == 2 and "either --from or --only" in res.stderr + res.stdout


def test_stage_failure_exits_1_and_says_how_to_continue(lab):
    res = run_cli("--config", str(lab.root / "homelab.yaml"), "up", "--only", "hosts",
                  env={"STANDIN_FAIL": "ansible-playbook"})
    assert res.returncode == 1, res.stdout + res.stderr
    assert "ansible-playbook -i inventories/ playbooks/site.yml` exited with code 1" in res.stderr
    assert ".homelab/logs/hosts.log" in res.stderr and "Traceback" not in res.stderr


def test_destroy_asks_for_the_lab_name_first(lab):
    lab.up()
    cfg = str(lab.root / "homelab.yaml")
    lab.reset_calls()
    res = run_cli_answering("yes\n", "--config", cfg, "destroy")
    assert res.returncode == 1 and "nothing was destroyed" in res.stderr
    assert lab.calls() == []
    res = run_cli_answering("homelab\n", "--config", cfg, "destroy")
    assert res.returncode == 0, res.stderr
    assert lab.calls() == ["terraform init -input=false", "terraform destroy -input=false -auto-approve"]
    assert lab.recorded() == ["template"]


def test_malformed_terraform_output_fails_the_inventory_stage_and_writes_nothing(lab, monkeypatch):
    monkeypatch.setenv("STANDIN_TF_OUTPUT", str(ROOT / "tests/fixtures/terraform-output/node-role-unknown.json"))
    with pytest.raises(StageFailed) as failed:
        lab.up()
    assert "terraform output -json" in failed.value.problems[0].file
    assert not (lab.root / "ansible/inventories/k3s-nodes.yml").exists()
    assert lab.recorded() == ["template", "vms"]


def test_bitwarden_token_goes_to_every_namespace_with_a_bitwardensecret(lab):
    tree = lab.root / "kubernetes/clusters/homelab/infrastructure/configs"
    tree.mkdir(parents=True)
    for ns in ("cert-manager", "authentik"):
        (tree / f"{ns}-secrets.yaml").write_text(
            "apiVersion: k8s.bitwarden.com/v1\nkind: BitwardenSecret\n"
            f"metadata: {{name: {ns}, namespace: {ns}}}\n"
            "spec:\n  organizationId: 9c0e4b2a-1d3f-4a5b-8c6d-7e8f9a0b1c2d\n  secretName: " + ns + "\n"
            "  authToken: {secretName: bw-auth-token, secretKey: token}\n")
    lab.up(only="bootstrap", dry_run=True)
    out = lab.console.getvalue()
    assert "< Secret authentik/bw-auth-token (key token from $BWS_ACCESS_TOKEN)" in out
    assert "< Secret cert-manager/bw-auth-token (key token from $BWS_ACCESS_TOKEN)" in out
    assert "sm-operator-system" not in out


def test_forcing_the_template_stage_never_builds_over_an_existing_template(lab):
    lab.done.write_text("packer build .\n")  # VM 9000 exists
    assert lab.up(only="template") == ["preflight", "template"]
    assert lab.calls() == [] and "already exists on pve1" in lab.console.getvalue()


def test_from_preflight_runs_every_stage_again(lab):
    lab.up()
    lab.reset_calls()
    lab.done.unlink()  # the template is gone from Proxmox too
    assert lab.up(from_stage="preflight") == ["preflight", *ORDER]
    assert lab.stages_called() == ORDER
