"""packer/ubuntu-2404/homelab.auto.pkrvars.hcl: where and as what the template is built."""

from __future__ import annotations

import json

from homelab import paths
from homelab.config import HomelabConfig
from homelab.render.header import hash_comment

PATH = paths.PKRVARS


def pkrvars(cfg: HomelabConfig) -> dict[str, object]:
    host = cfg.proxmox.hosts[cfg.proxmox.template.host]
    api = str(host.api_endpoint).rstrip("/")
    return {
        "proxmox_url": f"{api}/api2/json",
        "proxmox_node": host.node_name,
        "template_vm_id": cfg.proxmox.template.vm_id,
        "template_name": cfg.proxmox.template.name,
        "storage_pool": host.storage,
        "bridge": cfg.networks.management.bridge,
        "admin_user": cfg.site.admin_user,
        "ssh_public_keys": list(cfg.site.ssh_public_keys),
        "timezone": cfg.site.timezone,
    }


def _hcl(value: object) -> str:
    # HCL's string, number and list literals are JSON-compatible for these plain values.
    return json.dumps(value)


def render_packer(cfg: HomelabConfig) -> dict[str, str]:
    values = pkrvars(cfg)
    width = max(len(k) for k in values)
    body = "".join(f"{k.ljust(width)} = {_hcl(v)}\n" for k, v in values.items())
    return {PATH: hash_comment("\n") + body}
