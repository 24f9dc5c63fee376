"""Cross-field rules over a parsed HomelabConfig, registered as `config/*` rules.

Each rule yields (key path, message, hint); `check()` turns them into Findings of that rule, located
at the key's line. `homelab validate` (and every command that loads homelab.yaml) stops on them.
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from ipaddress import IPv4Address, IPv4Network
from zoneinfo import available_timezones

from homelab.registry import Rule, declare
from homelab.config.model import PROXMOX_API_PORT, Exposure, HomelabConfig
from homelab.findings import Finding

Path = tuple[str | int, ...]
RuleError = tuple[Path, str, str]
ConfigRule = Callable[[HomelabConfig], Iterator[RuleError]]
Locate = Callable[[Sequence[str | int]], int | None]

RULE_OF: dict[ConfigRule, Rule] = {}


def config_rule(rule_id: str, summary: str) -> Callable[[ConfigRule], ConfigRule]:
    def deco(fn: ConfigRule) -> ConfigRule:
        RULE_OF[fn] = declare(rule_id, summary, reported_by="validate", docs=(fn.__doc__ or summary).strip())
        return fn
    return deco


def _inside(addr: IPv4Address, net: IPv4Network) -> bool:
    return addr in net and addr not in (net.network_address, net.broadcast_address)


@config_rule("config/subnets", "gateways, hosts, the Pi, nodes and the MetalLB pool sit inside their networks")
def subnets(cfg: HomelabConfig) -> Iterator[RuleError]:
    for name in ("management", "k3s"):
        net = getattr(cfg.networks, name)
        if not _inside(net.gateway, net.cidr):
            yield (("networks", name, "gateway"), f"gateway {net.gateway} is not a host address inside {net.cidr}",
                   f"use an address of {net.cidr}, or fix the cidr")
    mgmt, k3s = cfg.networks.management.cidr, cfg.networks.k3s.cidr
    if mgmt.overlaps(k3s):
        yield (("networks", "k3s", "cidr"), f"{k3s} overlaps the management network {mgmt}",
               "give the K3s VLAN its own subnet")
    for hname, host in cfg.proxmox.hosts.items():
        if not _inside(host.address, mgmt):
            yield (("proxmox", "hosts", hname, "address"), f"{host.address} is not inside the management network {mgmt}",
                   f"use an address of {mgmt}")
    if not _inside(cfg.pi.address, mgmt):
        yield (("pi", "address"), f"{cfg.pi.address} is not inside the management network {mgmt}",
               f"use an address of {mgmt}")
    for i, node in enumerate(cfg.k3s.nodes):
        if not _inside(node.address, k3s):
            yield (("k3s", "nodes", i, "address"), f"{node.address} ({node.name}) is not inside the K3s network {k3s}",
                   f"use an address of {k3s}")
    pool = cfg.metallb.pool
    if not (_inside(pool.first, k3s) and _inside(pool.last, k3s)):
        yield (("metallb", "pool"), f"pool {pool} is not inside the K3s network {k3s}",
               "MetalLB answers ARP only on the nodes' L2 segment; pick free addresses of the K3s VLAN")
    if cfg.metallb.traefik_address not in pool:
        yield (("metallb", "traefik_address"), f"{cfg.metallb.traefik_address} is not inside the pool {pool}",
               "pick an address from metallb.pool")


@config_rule("config/unique-addresses", "no two hosts or gateways share an address, and the pool holds none of them")
def unique_addresses(cfg: HomelabConfig) -> Iterator[RuleError]:
    owners: dict[IPv4Address, list[Path]] = defaultdict(list)
    for name in ("management", "k3s"):
        owners[getattr(cfg.networks, name).gateway].append(("networks", name, "gateway"))
    for hname, host in cfg.proxmox.hosts.items():
        owners[host.address].append(("proxmox", "hosts", hname, "address"))
    owners[cfg.pi.address].append(("pi", "address"))
    for i, node in enumerate(cfg.k3s.nodes):
        owners[node.address].append(("k3s", "nodes", i, "address"))
    for addr, paths in owners.items():
        for path in paths[1:]:
            first = ".".join(map(str, paths[0]))
            yield (path, f"address {addr} is already used by {first}", "every host and gateway needs its own address")
        if addr in cfg.metallb.pool:
            yield (("metallb", "pool"), f"pool {cfg.metallb.pool} contains {addr}, used by {'.'.join(map(str, paths[0]))}",
                   "shrink or move the pool so MetalLB never hands out a host's address")


@config_rule("config/placement", "every VM and the template are on a known Proxmox host that has room for them")
def placement(cfg: HomelabConfig) -> Iterator[RuleError]:
    hosts = cfg.proxmox.hosts
    known = ", ".join(sorted(hosts))
    if cfg.proxmox.template.host not in hosts:
        yield (("proxmox", "template", "host"), f"template host '{cfg.proxmox.template.host}' is not a Proxmox host",
               f"use one of: {known}")
    used_mem: dict[str, int] = defaultdict(int)
    for i, node in enumerate(cfg.k3s.nodes):
        host = hosts.get(node.host)
        if host is None:
            yield (("k3s", "nodes", i, "host"), f"{node.name} is placed on '{node.host}', which is not a Proxmox host",
                   f"use one of: {known}")
            continue
        if node.cores > host.cores:
            yield (("k3s", "nodes", i, "cores"), f"{node.name} wants {node.cores} cores but {node.host} has {host.cores}",
                   "give the VM fewer cores or place it on a bigger host")
        if node.memory > host.memory:
            yield (("k3s", "nodes", i, "memory"), f"{node.name} wants {node.memory.text} but {node.host} has {host.memory.text}",
                   "give the VM less memory or place it on a bigger host")
            continue
        used_mem[node.host] += node.memory
        if used_mem[node.host] > host.memory:
            yield (("k3s", "nodes", i, "memory"),
                   f"{node.host} is over-committed: its VMs need {used_mem[node.host] / 2**30:g}GiB, it has {host.memory.text}",
                   "move a VM to another host or shrink the VMs")


@config_rule("config/identities", "VM IDs and host names are unique")
def identities(cfg: HomelabConfig) -> Iterator[RuleError]:
    ids: dict[int, Path] = {cfg.proxmox.template.vm_id: ("proxmox", "template", "vm_id")}
    names: dict[str, Path] = {h: ("proxmox", "hosts", h) for h in cfg.proxmox.hosts}
    names.setdefault(cfg.pi.name, ("pi", "name"))
    for i, node in enumerate(cfg.k3s.nodes):
        if node.vm_id in ids:
            yield (("k3s", "nodes", i, "vm_id"), f"VM ID {node.vm_id} is already used by {'.'.join(map(str, ids[node.vm_id]))}",
                   "VM IDs are unique across the Proxmox cluster")
        ids.setdefault(node.vm_id, ("k3s", "nodes", i, "vm_id"))
        if node.name in names:
            yield (("k3s", "nodes", i, "name"), f"name '{node.name}' is already used by {'.'.join(map(str, names[node.name]))}",
                   "give every host and VM its own name")
        names.setdefault(node.name, ("k3s", "nodes", i, "name"))


@config_rule("config/cluster", "the first node is a server, and Longhorn replicas fit on the nodes")
def cluster(cfg: HomelabConfig) -> Iterator[RuleError]:
    if not cfg.k3s.servers:
        yield (("k3s", "nodes"), "no node has role 'server'", "the first server initialises the cluster; add one")
    elif cfg.k3s.nodes[0].role.value != "server":
        yield (("k3s", "nodes", 0, "role"), "the first node must be a server: it initialises the cluster",
               "move a server to the top of k3s.nodes")
    if cfg.longhorn.replicas > len(cfg.k3s.nodes):
        yield (("longhorn", "replicas"), f"{cfg.longhorn.replicas} replicas but only {len(cfg.k3s.nodes)} nodes",
               "Longhorn places each replica on a different node; lower replicas or add nodes")


@config_rule("config/services", "public services give a reason, and every service has its own hostname")
def services(cfg: HomelabConfig) -> Iterator[RuleError]:
    seen: dict[str, str] = {}
    for name, svc in cfg.services.items():
        if svc.exposure is Exposure.public and not svc.reason:
            yield (("services", name, "exposure"), f"service '{name}' is public without SSO but gives no reason",
                   "add `reason:` saying why it may skip Authentik, or use exposure: sso")
        if svc.exposure is not Exposure.public and svc.reason:
            yield (("services", name, "reason"), "`reason` only applies to exposure: public", "remove it")
        fqdn = cfg.fqdn(name)
        if fqdn in seen:
            yield (("services", name, "hostname"), f"{fqdn} is already used by service '{seen[fqdn]}'",
                   "give every service its own hostname")
        seen[fqdn] = name


@config_rule("config/timezone", "site.timezone is a zone of the IANA time zone database")
def timezone(cfg: HomelabConfig) -> Iterator[RuleError]:
    zones = available_timezones()
    tz = cfg.site.timezone
    if tz not in zones:
        close = difflib.get_close_matches(tz, sorted(zones), n=1)
        yield (("site", "timezone"), f"'{tz}' is not a time zone of the IANA database",
               f"did you mean '{close[0]}'?" if close else "use a name like Europe/Berlin or America/New_York "
               "(`timedatectl list-timezones` lists them)")


@config_rule("config/api-endpoint", "each Proxmox host's api_endpoint is on that host's own address")
def api_endpoints(cfg: HomelabConfig) -> Iterator[RuleError]:
    for name, host in cfg.proxmox.hosts.items():
        url_host = (host.api_endpoint.host or "").strip("[]")
        try:
            endpoint = IPv4Address(url_host)
        except ValueError:
            continue  # a DNS name (e.g. for a certificate of its own) cannot be checked offline
        # Loopback is a tunnel or port forward to the host (`ssh -L 8006:localhost:8006 pve1`).
        if endpoint != host.address and not endpoint.is_loopback:
            yield (("proxmox", "hosts", name, "api_endpoint"),
                   f"{host.api_endpoint} is not on {name}'s address {host.address}",
                   f"use https://{host.address}:{PROXMOX_API_PORT}/, or leave api_endpoint out: that is its default")


ALL_RULES = (subnets, unique_addresses, placement, identities, cluster, services, timezone, api_endpoints)


def check(cfg: HomelabConfig, file: str, locate: Locate) -> list[Finding]:
    """Every cross-field problem of `cfg` as a Finding in `file`, at the line `locate` gives its key."""
    return [RULE_OF[fn].finding(message, file, locate(path), hint, key=".".join(map(str, path)))
            for fn in ALL_RULES for path, message, hint in fn(cfg)]
