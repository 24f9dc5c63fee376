"""Plan sections that follow from homelab.yaml alone: hosts and VMs, addresses, routes, storage."""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import Literal

from homelab.config import HomelabConfig
from homelab.config.model import MIDDLEWARE_NAMESPACE, PROTECTIVE
from homelab.config.types import AddressRange
from homelab.drills.answers import allocatable
import homelab.plan.model as m

GiB = 2**30

# external-dns runs twice: one instance writes lan names to Pi-hole, one public names to Cloudflare.
DNS_OWNER = {True: "external-dns-pihole", False: "external-dns-cloudflare"}


def hosts(cfg: HomelabConfig) -> list[m.Host]:
    out = []
    for name, h in cfg.proxmox.hosts.items():
        vms = [n for n in cfg.k3s.nodes if n.host == name]
        vm_rows = [m.Vm(name=n.name, vm_id=n.vm_id, role=n.role.value, address=str(n.address), cores=n.cores,
                        memory_bytes=int(n.memory), os_disk_bytes=int(n.os_disk), data_disk_bytes=int(n.data_disk))
                   for n in vms]
        tpl = cfg.proxmox.template
        out.append(m.Host(
            name=name, address=str(h.address), node_name=h.node_name, storage=h.storage,
            cores=h.cores, memory_bytes=int(h.memory),
            committed_cores=sum(n.cores for n in vms), committed_memory_bytes=sum(int(n.memory) for n in vms),
            vms=vm_rows, template=m.Template(name=tpl.name, vm_id=tpl.vm_id) if tpl.host == name else None,
        ))
    return out


def pi(cfg: HomelabConfig) -> m.Pi:
    wanted: tuple[tuple[Literal["dns", "qdevice"], bool], ...] = (("dns", cfg.pi.dns), ("qdevice", cfg.pi.qdevice))
    roles = [r for r, on in wanted if on]
    return m.Pi(name=cfg.pi.name, address=str(cfg.pi.address), roles=roles, upstream_dns=[str(a) for a in cfg.pi.upstream_dns])


def addresses(cfg: HomelabConfig) -> list[m.Address]:
    """Every address the lab uses, with what holds it, sorted by address."""
    nets = cfg.networks
    rows: list[tuple[IPv4Address, str, str, str]] = []
    for net_name in ("management", "k3s"):
        net = getattr(nets, net_name)
        rows.append((net.gateway, "gateway", f"{net_name} router", net_name))
        for d in net.dns:
            rows.append((d, "dns", f"resolver of {net_name}", net_name))
    for name, h in cfg.proxmox.hosts.items():
        rows.append((h.address, "proxmox", name, "management"))
    rows.append((cfg.pi.address, "pi", cfg.pi.name, "management"))
    for n in cfg.k3s.nodes:
        rows.append((n.address, "node", f"{n.name} ({n.role.value})", "k3s"))
    rows.append((cfg.metallb.traefik_address, "loadbalancer", "traefik (every route)", "k3s"))
    merged: dict[IPv4Address, dict] = {}
    for addr, kind, holder, net in rows:
        row = merged.setdefault(addr, {"address": str(addr), "kinds": [], "holders": [], "network": net})
        if kind not in row["kinds"]:
            row["kinds"].append(kind)
        if holder not in row["holders"]:
            row["holders"].append(holder)
    return [m.Address(**merged[a]) for a in sorted(merged)]


def metallb(cfg: HomelabConfig, from_tree: list[m.LoadBalancer] | None = None) -> m.MetalLB:
    """The pool and the addresses taken from it: from the Flux tree when it was read, else Traefik's."""
    pool = cfg.metallb.pool
    used = [m.PoolUse(address=r.address, service=r.owner) for r in from_tree or []] or \
        [m.PoolUse(address=str(cfg.metallb.traefik_address), service="traefik/traefik")]
    taken = {u.address for u in used}
    return m.MetalLB(pool=str(pool), first=str(pool.first), last=str(pool.last), size=len(pool),
                     used=used, free=len(pool) - sum(1 for a in taken if _in_pool(a, pool)))


def _in_pool(addr: str, pool: AddressRange) -> bool:
    try:
        return IPv4Address(addr) in pool
    except ValueError:
        return False


def routes(cfg: HomelabConfig, from_tree: list[m.TreeRoute] | None = None) -> list[m.Route]:
    """Each service with the protection its route carries: read from the Flux tree's routes when the tree was
    read (`protection_from: tree`; `none` when no route serves the host), else what its exposure asks for."""
    carried: dict[str, list[str]] = {}
    for row in from_tree or []:
        names = [mw.split("/", 1)[-1] for mw in row.middlewares if mw.startswith(MIDDLEWARE_NAMESPACE + "/")]
        carried.setdefault(row.host.lower(), [p for p in PROTECTIVE if p in names])
    out = []
    for name, svc in cfg.services.items():
        lan = svc.on_lan
        host = cfg.fqdn(name)
        source: Literal["tree", "homelab.yaml", "none"]
        if from_tree is None:
            protection, source = svc.access_middlewares(), "homelab.yaml"
        else:
            protection, source = carried.get(host.lower(), []), "tree" if host.lower() in carried else "none"
        out.append(m.Route(
            service=name, host=host, exposure=svc.exposure.value, protection=protection, protection_from=source,
            reason=svc.reason, zone=cfg.site.lan_domain if lan else cfg.site.domain,
            dns_owner=DNS_OWNER[lan], target=str(cfg.metallb.traefik_address),
        ))
    return out


def storage(cfg: HomelabConfig) -> m.Storage:
    r = cfg.longhorn.replicas
    nodes = [m.StorageNode(name=n.name, host=n.host, data_disk_bytes=int(n.data_disk)) for n in cfg.k3s.nodes]
    raw = sum(int(n.data_disk) for n in cfg.k3s.nodes)
    return m.Storage(replicas=r, data_path=cfg.longhorn.data_path, backup_target=cfg.longhorn.backup_target or None,
                     nodes=nodes, raw_bytes=raw, usable_bytes=raw // r)


def nodes_budget(cfg: HomelabConfig) -> m.NodesBudget:
    """What the nodes offer pods: cores and memory after the OS and K3s (see drills.answers.RESERVED)."""
    return m.NodesBudget(cores=sum(n.cores for n in cfg.k3s.nodes),
                         allocatable_memory_bytes=sum(allocatable(n) for n in cfg.k3s.nodes))
