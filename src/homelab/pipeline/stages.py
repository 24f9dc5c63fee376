"""The provisioning flow as stages: template → vms → inventory → hosts → bootstrap → converge.

Each stage knows whether it is done (`is_done`) and how to do it (`run`). Most are done when they
finished before with the same inputs (a fingerprint of the files they read), so editing
homelab.yaml and re-rendering re-runs exactly the stages it affects; the template is done when its
VM ID exists in Proxmox. Programs run through the Runner (echoed with secrets masked, logged).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from homelab import inventory, paths, yamlio
from homelab.atomicfile import private_dir
from homelab.config import HomelabConfig
from homelab.paths import FluxPaths
from homelab.pipeline.runner import Runner, StageFailed
from homelab.pipeline.state import State, fingerprint

BOOTSTRAP_TOKEN_ENV = "BWS_ACCESS_TOKEN"     # the Bitwarden Secrets Manager machine-account token
BW_SECRET_NAME, BW_SECRET_KEY, BW_NAMESPACE = "bw-auth-token", "token", "sm-operator-system"
INVENTORY = inventory.PATH  # ansible/inventories/k3s-nodes.yml
SITE_PLAYBOOKS = ("playbooks/site.yml", "site.yml")  # under ansible/; the first that exists


def kubeconfig_path(cfg: HomelabConfig, env: Mapping[str, str]) -> Path | None:
    """$KUBECONFIG when set (the client reads it), else the file the k3s role fetched
    (~/.kube/<site.name>.yaml, its k3s_kubeconfig_dest), else None: the client's default ~/.kube/config."""
    if env.get("KUBECONFIG"):
        return None
    fetched = Path(env.get("HOME", str(Path.home()))) / ".kube" / f"{cfg.site.name}.yaml"
    return fetched if fetched.exists() else None


@dataclass
class PipelineContext:
    cfg: HomelabConfig
    root: Path
    config_path: Path
    runner: Runner
    state: State
    proxmox: Callable[[], Any]          # -> a proxmoxer.ProxmoxAPI (or a recorded stand-in)
    kube: Callable[[], Any]             # -> a homelab.status.kube.KubeReader
    converge_timeout: float = 900
    converge_interval: float = 10


class Stage:
    """One step of the flow, declared as `class X(Stage, name=..., summary=..., tools=..., dir=...)`."""

    name: ClassVar[str]
    summary: ClassVar[str]
    tools: ClassVar[tuple[str, ...]] = ()    # the programs it runs (preflight asks for them)
    dir: ClassVar[str | None] = None          # the folder it runs its tool in (its files: the default inputs)

    def __init_subclass__(cls, *, name: str, summary: str, tools: tuple[str, ...] = (), dir: str | None = None,
                          **kw: Any) -> None:
        super().__init_subclass__(**kw)
        cls.name, cls.summary, cls.tools, cls.dir = name, summary, tools, dir

    def fingerprint(self, p: PipelineContext) -> str:
        """The inputs: by default the files of the stage's folder."""
        if self.dir is None:
            raise NotImplementedError(f"{self.name}: a stage without a folder names its inputs")
        return fingerprint(p.root, self.dir)

    def recorded_done(self, p: PipelineContext) -> bool:
        """Done by the record alone: finished before with the inputs it has now."""
        rec = p.state.get(self.name)
        return rec is not None and rec.fingerprint == self.fingerprint(p)

    def is_done(self, p: PipelineContext) -> bool:
        return self.recorded_done(p)

    def run(self, p: PipelineContext) -> None:
        raise NotImplementedError


class Template(Stage, name="template", tools=("packer",), dir=paths.PACKER_DIR,
               summary="build the Ubuntu 24.04 template with Packer (skipped when its VM ID exists)"):

    def fingerprint(self, p: PipelineContext) -> str:
        return fingerprint(p.root, extra=f"template {p.cfg.proxmox.template.vm_id}")

    def is_done(self, p: PipelineContext) -> bool:
        from homelab.status.proxmox import template_exists

        if p.runner.dry_run:
            return self.recorded_done(p)
        return template_exists(p.proxmox(), p.cfg)

    def run(self, p: PipelineContext) -> None:
        from homelab.status.proxmox import template_exists

        # Even when asked explicitly (--only/--from): Packer cannot build over an existing VM ID.
        if not p.runner.dry_run and template_exists(p.proxmox(), p.cfg):
            tpl = p.cfg.proxmox.template
            p.runner.say(f"template VM {tpl.vm_id} already exists on {tpl.host}; delete it in Proxmox to rebuild it")
            return
        p.runner.run(["packer", "init", "."], cwd=self.dir)
        p.runner.run(["packer", "build", "."], cwd=self.dir)


class Vms(Stage, name="vms", tools=("terraform",), dir=paths.TERRAFORM_DIR,
          summary="create or change the K3s VMs with Terraform (plan shown, applied after confirmation)"):

    def run(self, p: PipelineContext) -> None:
        # relative to terraform/ (where Terraform runs); kept out of Git with the rest of .homelab/
        plan = os.path.relpath(f"{paths.STATE_DIR}/vms.tfplan", paths.TERRAFORM_DIR)
        plan_file = p.root / paths.TERRAFORM_DIR / plan
        try:
            if not p.runner.dry_run:
                # The saved plan holds every planned value, sensitive ones in plain text: created
                # 0600 in the private .homelab/ before Terraform writes into it (it keeps the mode).
                private_dir(p.state.dir)
                plan_file.unlink(missing_ok=True)
                os.close(os.open(plan_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            p.runner.run(["terraform", "init", "-input=false"], cwd=self.dir)
            # -detailed-exitcode: 0 = nothing to change, 2 = changes; only then is there anything to apply.
            code = p.runner.run(["terraform", "plan", "-input=false", "-detailed-exitcode", f"-out={plan}"],
                                cwd=self.dir, ok_codes=(2, 0))
            if code == 0:
                p.runner.say("terraform: the VMs already match homelab.yaml; nothing to apply")
                return
            p.runner.run(["terraform", "show", plan], cwd=self.dir)
            p.runner.confirm("Apply this Terraform plan to Proxmox?")
            p.runner.run(["terraform", "apply", "-input=false", plan], cwd=self.dir)
        finally:
            # on every way out (failure, refusal, a signal): it is only good for this one apply anyway
            if not p.runner.dry_run:
                plan_file.unlink(missing_ok=True)


class Inventory(Stage, name="inventory", tools=("terraform",),
                summary=f"write {INVENTORY} from `terraform output -json` (as `homelab inventory` does)"):

    def fingerprint(self, p: PipelineContext) -> str:
        vms = p.state.get("vms")
        return fingerprint(p.root, extra=f"vms {vms.fingerprint if vms else '-'}")

    def is_done(self, p: PipelineContext) -> bool:
        return self.recorded_done(p) and (p.root / INVENTORY).exists()

    def run(self, p: PipelineContext) -> None:
        from homelab.atomicfile import commit
        from homelab.errors import HomelabError

        argv = ["terraform", "output", "-json", "-no-color"]
        if p.runner.dry_run:
            p.runner.run(argv, cwd=paths.TERRAFORM_DIR)
            p.runner.say(f"would write {INVENTORY} from that output")
            return
        res = p.runner.capture(argv, cwd=paths.TERRAFORM_DIR)
        if not res.ok:
            raise StageFailed.single(self.name, f"`terraform output -json` failed (exit {res.returncode})",
                                     hint=f"read {p.runner.log_path}; the vms stage must have applied first")
        source = "`terraform output -json` in terraform/"
        try:
            nodes = inventory.parse_output(res.stdout, source)
            ordered, pending = inventory.order_nodes(nodes, [n.name for n in p.cfg.k3s.nodes], source)
        except HomelabError as exc:  # malformed output: nothing written, the stage is not done
            raise StageFailed(exc.problems) from None
        commit({INVENTORY: inventory.render_inventory(ordered)}, p.root)
        for missing in pending:
            p.runner.say(f"warning: {missing} is in homelab.yaml but not in the Terraform output; left out", "yellow")
        p.runner.say(f"wrote {INVENTORY} ({len(ordered)} hosts)")


class Hosts(Stage, name="hosts", tools=("ansible-playbook",), dir=paths.ANSIBLE_DIR,
            summary="configure the Proxmox hosts, the Pi and the VMs, and install K3s (ansible-playbook site.yml)"):

    def run(self, p: PipelineContext) -> None:
        # From ansible/, so its ansible.cfg (roles path, SSH settings) applies as when run by hand.
        playbook = next((pb for pb in SITE_PLAYBOOKS if (p.root / paths.ANSIBLE_DIR / pb).exists()), SITE_PLAYBOOKS[0])
        inventories = os.path.relpath(paths.INVENTORIES, paths.ANSIBLE_DIR) + "/"
        p.runner.run(["ansible-playbook", "-i", inventories, playbook], cwd=paths.ANSIBLE_DIR)


def bitwarden_token_targets(p: PipelineContext) -> list[tuple[str, str, str]]:
    """(namespace, Secret name, key) every BitwardenSecret in the Flux tree reads its auth token from.

    The token must sit in the BitwardenSecret's own namespace, so it is created in each one used;
    with none found, in the operator's namespace.
    """
    from homelab.inputs import size_overrun

    targets: set[tuple[str, str, str]] = set()
    tree = p.root / FluxPaths.of(p.cfg).cluster
    for f in sorted(tree.rglob("*.yaml")) if tree.exists() else []:
        try:  # bounded: an oversized file or an alias bomb is skipped, not expanded
            docs = [] if size_overrun(f.stat().st_size) else yamlio.load_all(f.read_text(encoding="utf-8"))
        except Exception:  # not our job to validate the tree here (`homelab check` does)
            continue
        for doc in docs:
            if isinstance(doc, dict) and doc.get("kind") == "BitwardenSecret":
                ns = (doc.get("metadata") or {}).get("namespace")
                auth = ((doc.get("spec") or {}).get("authToken") or {})
                if ns:
                    targets.add((ns, auth.get("secretName", BW_SECRET_NAME), auth.get("secretKey", BW_SECRET_KEY)))
    return sorted(targets) or [(BW_NAMESPACE, BW_SECRET_NAME, BW_SECRET_KEY)]


def token_secret_manifest(namespace: str, name: str, key: str, token: str) -> str:
    """The namespace and the token Secret as one List, for `kubectl apply -f -` (the token never touches argv or disk)."""
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
         "metadata": {"name": name, "namespace": namespace,
                      "labels": {"app.kubernetes.io/managed-by": "homelab"}},
         "stringData": {key: token}},
    ]})


class Bootstrap(Stage, name="bootstrap", tools=("git", "flux", "kubectl"),
                summary="install Flux, create the Bitwarden token Secret, point Flux at the repository"):

    def fingerprint(self, p: PipelineContext) -> str:
        f = p.cfg.flux
        targets = bitwarden_token_targets(p)
        return fingerprint(p.root, extra=f"{f.repository} {f.branch} {f.path} {f.interval} {targets}")

    def run(self, p: PipelineContext) -> None:
        f = p.cfg.flux
        r = p.runner
        kubeconfig = kubeconfig_path(p.cfg, r.env)
        if kubeconfig:  # fetched by the k3s role in the hosts stage
            r.env["KUBECONFIG"] = str(kubeconfig)
        r.run(["flux", "check", "--pre"])
        r.run(["flux", "install"])
        token = r.env.get(BOOTSTRAP_TOKEN_ENV, "")
        if not token and not r.dry_run:
            raise StageFailed.single(self.name, f"${BOOTSTRAP_TOKEN_ENV} is not set",
                                     hint="export the Bitwarden machine-account access token and run again")
        for ns, name, key in bitwarden_token_targets(p):
            # Server-side apply: no last-applied-configuration annotation carrying the token.
            r.run(["kubectl", "apply", "--server-side", "--field-manager=homelab", "-f", "-"],
                  input=token_secret_manifest(ns, name, key, token),
                  stdin_note=f"Secret {ns}/{name} (key {key} from ${BOOTSTRAP_TOKEN_ENV})")
        # What `flux bootstrap` creates, without committing generated manifests into the repository:
        # the GitRepository and the root Kustomization that reconciles the cluster's folder.
        r.run(["flux", "create", "source", "git", "flux-system", f"--url={f.repository}", f"--branch={f.branch}",
               f"--interval={f.interval}"])
        r.run(["flux", "create", "kustomization", "flux-system", "--source=GitRepository/flux-system",
               f"--path={FluxPaths.of(p.cfg).flux_path}", "--prune=true", f"--interval={f.interval}"])


class Converge(Stage, name="converge", tools=("git",),
               summary="wait until every Flux Kustomization and HelmRelease is Ready"):

    def fingerprint(self, p: PipelineContext) -> str:
        return fingerprint(p.root, FluxPaths.of(p.cfg).cluster)

    def run(self, p: PipelineContext) -> None:
        from homelab.pipeline.converge import wait_ready

        r = p.runner
        if r.dry_run:
            r.say(f"would wait up to {p.converge_timeout:.0f}s until every Kustomization and HelmRelease is Ready")
            return
        stuck = wait_ready(p.kube(), r.console, timeout=p.converge_timeout, interval=p.converge_interval,
                           mask=r.mask)
        for s in stuck:
            r.log(f"not ready: {s}")
        if stuck:
            raise StageFailed([StageFailed.single(self.name, f"not Ready after {p.converge_timeout:.0f}s: {s}").problems[0]
                               for s in stuck])
        r.say("converge: every Kustomization and HelmRelease is Ready", "green")


STAGES: list[Stage] = [Template(), Vms(), Inventory(), Hosts(), Bootstrap(), Converge()]
STAGE_NAMES = ["preflight", *(s.name for s in STAGES)]
