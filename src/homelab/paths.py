"""Every repository path the tool reads or writes, in one place.

The tool folders (packer/, terraform/, ansible/) are the repository's fixed layout; the Flux
tree lives wherever homelab.yaml's `flux.path` says, and everything under it (the generated
flux-system files, apps/) is derived from that setting here, so no other module spells a
cluster folder. `FluxPaths.of(cfg)` accepts anything with `cfg.flux.path` (the config model
imports this module for its default, so this module cannot import the model).
"""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class FluxPaths:
    """The Flux tree's paths, repository-relative, derived from `flux.path`."""

    cluster: str

    @classmethod
    def of(cls, cfg: Any) -> FluxPaths:
        flux = getattr(cfg, "flux", None)
        return cls(normalize(getattr(flux, "path", None) or DEFAULT_FLUX_PATH))

    @property
    def flux_path(self) -> str:
        """The path as Flux writes it in a Kustomization (`./kubernetes/clusters/homelab`)."""
        return f"./{self.cluster}"

    @property
    def top(self) -> str:
        """The repository's top-level folder holding the tree (what the GitRepository lets through)."""
        return self.cluster.split("/", 1)[0]

    @property
    def flux_system(self) -> str:
        return f"{self.cluster}/flux-system"

    @property
    def cluster_settings(self) -> str:
        return f"{self.flux_system}/cluster-settings.yaml"

    @property
    def git_repository(self) -> str:
        return f"{self.flux_system}/git-repository.yaml"

    @property
    def sync(self) -> str:
        return f"{self.flux_system}/flux-system.yaml"

    @property
    def apps(self) -> str:
        return f"{self.cluster}/apps"

    @property
    def apps_kustomization(self) -> str:
        return f"{self.apps}/kustomization.yaml"

    def app(self, name: str) -> str:
        return f"{self.apps}/{name}"
