"""ansible/inventories/hosts.yml: the machines outside Terraform (the Proxmox hosts and the Pi).

The K3s VMs are in k3s-nodes.yml, written by `homelab inventory` from Terraform's output; these
hosts come from homelab.yaml, so a new host or a moved management network reaches Ansible with the
next `homelab render`.
"""

from __future__ import annotations

from homelab import paths
from homelab.config import HomelabConfig
from homelab.render.header import hash_comment
from homelab.yamlio import dump

PATH = paths.HOSTS_INVENTORY


def hosts(cfg: HomelabConfig) -> dict[str, object]:
    pi = cfg.pi
    children: dict[str, object] = {
        "proxmox": {"hosts": {name: {"ansible_host": str(h.address), "ansible_user": h.ansible_user}
                              for name, h in cfg.proxmox.hosts.items()}},
        "pi": {"hosts": {pi.name: {"ansible_host": str(pi.address), "ansible_user": pi.ansible_user or cfg.site.admin_user}}},
    }
    if pi.dns:
        children["dns"] = {"hosts": {pi.name: None}}  # the Pi runs Pi-hole (playbooks/dns.yml)
    return {"all": {"children": children}}


def render_hosts_inventory(cfg: HomelabConfig) -> dict[str, str]:
    comment = "# The K3s VMs are in k3s-nodes.yml, written by `homelab inventory` from Terraform's output.\n"
    return {PATH: hash_comment(comment) + "---\n" + dump(hosts(cfg), indent_lists=True)}
