"""Every repository path the tool reads or writes, in one place.

The tool folders (packer/, terraform/, ansible/) are the repository's fixed layout; the Flux
tree lives wherever homelab.yaml's `flux.path` says, and everything under it (the generated
flux-system files, apps/) is derived from that setting here, so no other module spells a
cluster folder. `FluxPaths.of(cfg)` accepts anything with `cfg.flux.path` (the config model
imports this module for its default, so this module cannot import the model).
"""

from __future__ import annotations

from typing import Any

DEFAULT_FLUX_PATH = "kubernetes/clusters/homelab"
CONFIG_FILE = "homelab.yaml"

PACKER_DIR = "packer/ubuntu-2404"
PKRVARS = f"{PACKER_DIR}/homelab.auto.pkrvars.hcl"
TERRAFORM_DIR = "terraform"
TFVARS = f"{TERRAFORM_DIR}/homelab.auto.tfvars.json"
ANSIBLE_DIR = "ansible"
INVENTORIES = f"{ANSIBLE_DIR}/inventories"
GROUP_VARS = f"{INVENTORIES}/group_vars/all/homelab.yml"
HOSTS_INVENTORY = f"{INVENTORIES}/hosts.yml"
K3S_INVENTORY = f"{INVENTORIES}/k3s-nodes.yml"
STATE_DIR = ".homelab"
CHECK_CACHE = f"{STATE_DIR}/cache/check.pickle"
PLAN_CACHE = f"{STATE_DIR}/cache/plan.pickle"
# Folders whose generated files are glue: `homelab render` owns them, whatever flux.path says.
LAYER_DIRS = (PACKER_DIR, TERRAFORM_DIR, ANSIBLE_DIR)


def normalize(path: str) -> str:
    """`./kubernetes/clusters/homelab/` → `kubernetes/clusters/homelab` (how Flux paths are written varies)."""
    return path.strip().removeprefix("./").strip("/")


class FluxPaths:
    """The Flux tree's paths, repository-relative, derived from `flux.path` once."""

    def __init__(self, cluster: str) -> None:
        self.cluster = cluster
        self.flux_path = f"./{cluster}"         # as Flux writes it in a Kustomization's `path`
        self.top = cluster.split("/", 1)[0]     # the top-level folder: what the GitRepository lets through
        self.flux_system = f"{cluster}/flux-system"
        self.cluster_settings = f"{self.flux_system}/cluster-settings.yaml"
        self.git_repository = f"{self.flux_system}/git-repository.yaml"
        self.sync = f"{self.flux_system}/flux-system.yaml"
        self.apps = f"{cluster}/apps"
        self.apps_kustomization = f"{self.apps}/kustomization.yaml"

    @classmethod
    def of(cls, cfg: Any) -> FluxPaths:
        flux = getattr(cfg, "flux", None)
        return cls(normalize(getattr(flux, "path", None) or DEFAULT_FLUX_PATH))

    def app(self, name: str) -> str:
        return f"{self.apps}/{name}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FluxPaths) and other.cluster == self.cluster

    def __hash__(self) -> int:
        return hash(self.cluster)

    def __repr__(self) -> str:
        return f"FluxPaths({self.cluster!r})"
