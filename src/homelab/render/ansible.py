"""ansible/inventories/group_vars/all/homelab.yml: site facts every role reads."""

from __future__ import annotations

from homelab import paths
from homelab.config import HomelabConfig
from homelab.render.header import hash_comment
from homelab.yamlio import dump

PATH = paths.GROUP_VARS


def group_vars(cfg: HomelabConfig) -> dict[str, object]:
    site, k3s = cfg.site, cfg.k3s
    first = k3s.servers[0]
    return {
        "homelab_site_name": site.name,
        "homelab_domain": site.domain,
        "homelab_lan_domain": site.lan_domain,
        "homelab_timezone": site.timezone,
        "homelab_ntp_servers": list(site.ntp_servers),
        "homelab_admin_user": site.admin_user,
        "homelab_admin_ssh_keys": list(site.ssh_public_keys),
        "homelab_management_cidr": str(cfg.networks.management.cidr),
        "homelab_k3s_cidr": str(cfg.networks.k3s.cidr),
        "k3s_version": k3s.version,
        "k3s_api_endpoint": str(first.address),
        "k3s_tls_san": [f"{k3s.api_hostname}.{site.lan_domain}", *(str(n.address) for n in k3s.servers)],
        "longhorn_data_path": cfg.longhorn.data_path,
        "pihole_upstream_dns": [str(a) for a in cfg.pi.upstream_dns],
        "pihole_local_records": {
            **{f"{name}.{site.lan_domain}": str(h.address) for name, h in cfg.proxmox.hosts.items()},
            f"{cfg.pi.name}.{site.lan_domain}": str(cfg.pi.address),
            **{f"{n.name}.{site.lan_domain}": str(n.address) for n in k3s.nodes},
            f"{k3s.api_hostname}.{site.lan_domain}": str(first.address),
        },
    }


def render_ansible(cfg: HomelabConfig) -> dict[str, str]:
    return {PATH: hash_comment() + "---\n" + dump(group_vars(cfg), indent_lists=True)}
