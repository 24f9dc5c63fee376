"""terraform/homelab.auto.tfvars.json: the VMs and where they go."""

from __future__ import annotations

import json

from homelab import paths
from homelab.config import HomelabConfig
from homelab.render.header import GENERATED

PATH = paths.TFVARS


def tfvars(cfg: HomelabConfig) -> dict:
    net = cfg.networks.k3s
    hosts = cfg.proxmox.hosts
    first_host = next(iter(hosts.values()))
    return {
        # HCL's JSON syntax ignores "//" keys in bodies: the header survives as a comment.
        "//": GENERATED,
        "proxmox_endpoint": str(first_host.api_endpoint),
        "proxmox_hosts": {
            name: {"node_name": h.node_name, "datastore_id": h.storage}
            for name, h in hosts.items()
        },
        "template_vm_id": cfg.proxmox.template.vm_id,
        "template_node": hosts[cfg.proxmox.template.host].node_name,
        "vm_network": {
            "bridge": net.bridge,
            "vlan_id": net.vlan,
            "prefix_length": net.cidr.prefixlen,
            "gateway": str(net.gateway),
            "dns_servers": [str(d) for d in net.dns],
            "dns_domain": cfg.site.lan_domain,
        },
        "admin_user": cfg.site.admin_user,
        "ssh_public_keys": list(cfg.site.ssh_public_keys),
        "cluster_name": cfg.site.name,
        "nodes": {
            n.name: {
                "proxmox_host": n.host,
                "vm_id": n.vm_id,
                "address": str(n.address),
                "role": n.role.value,
                "cores": n.cores,
                "memory_mib": n.memory.mib,
                "os_disk_gb": n.os_disk.gib,
                "data_disk_gb": n.data_disk.gib,
            }
            for n in cfg.k3s.nodes
        },
    }


def render_terraform(cfg: HomelabConfig) -> dict[str, str]:
    return {PATH: json.dumps(tfvars(cfg), indent=2) + "\n"}
