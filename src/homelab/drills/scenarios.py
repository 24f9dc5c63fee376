"""The failure modes a small lab must survive, as scenarios over the lab in homelab.yaml."""

from __future__ import annotations

from dataclasses import dataclass

from homelab.config import HomelabConfig


@dataclass(frozen=True)
class Scenario:
    id: str                      # stable id: "host-down:pve2", "vm-down:k3s-1", "pi-down", "internet-down", "power-restored"
    title: str
    hosts_down: frozenset[str] = frozenset()
    nodes_down: frozenset[str] = frozenset()   # every K3s VM that is off (VMs of a down host included)
    pi_down: bool = False
    internet_down: bool = False
    power_restored: bool = False               # everything went off and came back: an ordering question


def scenarios(cfg: HomelabConfig) -> list[Scenario]:
    """Each Proxmox host down, each VM down, the Pi down, the internet down, all power lost and restored."""
    out: list[Scenario] = []
    for host in cfg.proxmox.hosts:
        vms = frozenset(n.name for n in cfg.k3s.nodes if n.host == host)
        out.append(Scenario(f"host-down:{host}", f"Proxmox host {host} down", hosts_down=frozenset({host}), nodes_down=vms))
    for node in cfg.k3s.nodes:
        out.append(Scenario(f"vm-down:{node.name}", f"VM {node.name} down (on {node.host})",
                            nodes_down=frozenset({node.name})))
    out.append(Scenario("pi-down", f"Raspberry Pi {cfg.pi.name} down", pi_down=True))
    out.append(Scenario("internet-down", "Internet down", internet_down=True))
    out.append(Scenario("power-restored", "All power lost, then restored", power_restored=True))
    return out
