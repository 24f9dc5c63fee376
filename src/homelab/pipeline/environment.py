"""Every environment variable a stage of `homelab up` (or a tool or role it runs) reads.

Secrets come only from the environment, so a missing one would otherwise surface late: K3S_TOKEN
when Ansible reaches the k3s role, after the template and the VMs were built. Preflight asks for
every variable the selected stages need before anything changes; the README's environment block
lists the same set (a test keeps the two equal, and another that every `env(...)` read in
packer/ and every `lookup('ansible.builtin.env', ...)` in ansible/ is in this table).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from homelab.config import HomelabConfig


@dataclass(frozen=True)
class EnvVar:
    name: str
    stages: tuple[str, ...]     # the stages that need it
    reads: str                  # "<who> reads <what> from it", for the preflight message
    needed: Callable[[HomelabConfig], bool] = lambda cfg: True  # e.g. Pi-hole's password only with pi.dns


ENVIRONMENT: tuple[EnvVar, ...] = (
    EnvVar("PROXMOX_USERNAME", ("template",), "Packer reads the Proxmox API token ID from it"),
    EnvVar("PROXMOX_TOKEN", ("template",), "Packer reads the Proxmox API token from it"),
    EnvVar("PROXMOX_VE_API_TOKEN", ("template", "vms"),
           "Terraform's Proxmox provider and homelab's Proxmox client read the API token from it"),
    EnvVar("K3S_TOKEN", ("hosts",), "the k3s role reads the shared cluster token from it (keep it: every run needs the same)"),
    EnvVar("PIHOLE_API_PASSWORD", ("hosts",), "the dns role sets the Pi-hole web/API password from it",
           needed=lambda cfg: cfg.pi.dns),
    EnvVar("BWS_ACCESS_TOKEN", ("bootstrap",),
           "bootstrap reads the Bitwarden Secrets Manager machine-account token from it (the one Secret not in Git)"),
)

BY_NAME = {v.name: v for v in ENVIRONMENT}


def needed(stages: Iterable[str], cfg: HomelabConfig) -> list[EnvVar]:
    """The variables the given stages read, for this homelab.yaml."""
    chosen = set(stages)
    return [v for v in ENVIRONMENT if chosen & set(v.stages) and v.needed(cfg)]


def missing(stages: Iterable[str], cfg: HomelabConfig, env: Mapping[str, str]) -> list[EnvVar]:
    return [v for v in needed(stages, cfg) if not env.get(v.name)]
