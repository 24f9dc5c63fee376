"""The questions every drill answers, one function each; each returns Findings with a suggested fix.

Assumptions, stated once (docs/architecture.md repeats them):
- etcd (K3s embedded) needs a majority of servers: floor(n/2)+1.
- The Proxmox cluster needs a majority of votes: one per host, plus one from the Pi's QDevice
  (corosync-qnetd, ffsplit algorithm, recommended for an even number of hosts).
- Longhorn places a volume's replicas on different nodes (node anti-affinity is hard by default)
  but knows nothing about Proxmox hosts unless nodes carry a zone label; so in the worst case all
  replicas of a volume land on VMs that share a host.
- Kubernetes evicts pods from an unreachable node after 300 s (default tolerations).
- A node gives pods its memory minus what the OS and K3s keep: 1 GiB on a server, 512 MiB on an agent.
- Let's Encrypt certificates last 90 days; cert-manager renews at 1/3 of the duration (30 days left)
  unless a Certificate sets renewBefore. Renewal (ACME DNS-01 through Cloudflare) needs the internet.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from homelab.config import HomelabConfig
from homelab.config.model import Exposure, K3sNode, NodeRole
from homelab.drills.fixes import Fix, Trial
from homelab.drills.scenarios import Scenario
from homelab.drills.workload import PodGroup, Volume, Workload
from homelab.registry import declare, get
from homelab.findings import Finding, Severity

GiB = 2**30
RESERVED = {NodeRole.server: 1 * GiB, NodeRole.agent: 512 * 2**20}
EVICTION_SECONDS = 300
LE_DURATION_DAYS = 90.0

# What each drill question answers; the severity is the answer's own (info, warning or error).
for _id, _summary in {
    "drill/etcd-quorum": "etcd keeps a majority of the K3s servers",
    "drill/api-endpoint": "the Kubernetes API name still reaches a server",
    "drill/proxmox-quorum": "the Proxmox cluster keeps a majority of votes (hosts and the Pi's QDevice)",
    "drill/longhorn-readable": "every Longhorn volume keeps a readable replica",
    "drill/longhorn-rebuild": "Longhorn can rebuild the lost replicas on the surviving nodes",
    "drill/longhorn-stuck-pods": "no pod waits for a volume attached to a lost node",
    "drill/reschedule-capacity": "the surviving nodes have room for the evicted pods",
    "drill/lan-dns": "LAN names still resolve",
    "drill/cert-renewal": "certificates outlast the outage",
    "drill/flux-source": "Flux can still read its Git source",
    "drill/recovery-order": "after power returns, things come back in an order that works",
    "drill/route-impact": "what the users of each route see",
}.items():
    declare(_id, _summary, reported_by="plan")

Locate = Callable[[tuple], tuple[str | None, int | None]]


def _gib(n: float) -> str:
    return f"{n / GiB:.1f}".rstrip("0").rstrip(".") + "GiB"


def _cores(millis: float) -> str:
    return f"{millis / 1000:.2f}".rstrip("0").rstrip(".")


def _names(items: Iterable[str]) -> str:
    items = sorted(items)
    return ", ".join(items) if items else "none"


@dataclass
class Lab:
    """homelab.yaml plus a way to point a finding at the line that causes it."""

    cfg: HomelabConfig
    locate: Locate
    trial: Trial | None = None   # None while a fix is being tried: the replay offers no fixes of its own

    def finding(self, rule: str, sev: Severity, message: str, hint: str = "", at: tuple = (), *,
                fixes: tuple[Fix, ...] = (), unfixable: str = "") -> Finding:
        """A finding whose hint offers the `fixes` that were tried and work, then the advice in `hint` (changes
        outside homelab.yaml, which cannot be tried); `unfixable` replaces the fixes when none works."""
        if fixes and self.trial is not None:
            working = [f.text for f in self.trial.working(fixes, rule, sev)]
            hint = "; or ".join([*(working or ([unfixable] if unfixable else [])), *([hint] if hint else [])])
        elif fixes:
            hint = "; or ".join([*(f.text for f in fixes), *([hint] if hint else [])])
        file, line = self.locate(at)
        return get(rule).finding(message, file, line, hint, severity=sev)

    def node_index(self, name: str) -> int:
        return next(i for i, n in enumerate(self.cfg.k3s.nodes) if n.name == name)

    def survivors(self, scn: Scenario) -> list[K3sNode]:
        return [n for n in self.cfg.k3s.nodes if n.name not in scn.nodes_down]

    def comes_back(self, scn: Scenario) -> str:
        return _names(scn.hosts_down) if scn.hosts_down else _names(scn.nodes_down)

    def etcd(self, scn: Scenario) -> tuple[int, int, int]:
        servers = self.cfg.k3s.servers
        up = sum(1 for s in servers if s.name not in scn.nodes_down)
        return up, len(servers), len(servers) // 2 + 1

    def etcd_lost(self, scn: Scenario) -> bool:
        up, _, needed = self.etcd(scn)
        return up < needed

    def pi_resolves_lan(self) -> bool:
        nets = self.cfg.networks
        return self.cfg.pi.dns and self.cfg.pi.address in (*nets.management.dns, *nets.k3s.dns)


def allocatable(node: K3sNode) -> int:
    return max(0, node.memory - RESERVED[node.role])


def unschedulable(wl: Workload, nodes: list[K3sNode]) -> list[PodGroup]:
    """Pods that find no node, packing first-fit-decreasing by memory then CPU, as the scheduler would at
    best; every DaemonSet pod first takes its share on every node."""
    daemon_mem = sum(p.memory for p in wl.pods if p.per_node)
    daemon_cpu = sum(p.cpu_millis for p in wl.pods if p.per_node)
    free = [[allocatable(n) - daemon_mem, n.cores * 1000 - daemon_cpu] for n in nodes]
    items: list[PodGroup] = [p for p in wl.pods if not p.per_node for _ in range(max(p.replicas, 0))]
    items.sort(key=lambda p: (p.memory, p.cpu_millis), reverse=True)
    left = []
    for pod in items:
        slot = next((f for f in free if f[0] >= pod.memory and f[1] >= pod.cpu_millis), None)
        if slot is None:
            left.append(pod)
        else:
            slot[0] -= pod.memory
            slot[1] -= pod.cpu_millis
    if any(f[0] < 0 or f[1] < 0 for f in free):  # the DaemonSets alone do not fit
        left += [p for p in wl.pods if p.per_node]
    return left


# ---------------------------------------------------------------------------------------------- etcd

def etcd_quorum(lab: Lab, scn: Scenario, wl: Workload) -> list[Finding]:
    up, total, needed = lab.etcd(scn)
    rule = "drill/etcd-quorum"
    if scn.power_restored:
        return [lab.finding(rule, Severity.info, f"after power returns the Kubernetes API answers once {needed} of {total} "
                            "K3s servers run (etcd needs a majority); until then nothing is scheduled")]
    if up == total:
        return [lab.finding(rule, Severity.info, f"etcd quorum holds: {up} of {total} servers up, {needed} needed")]
    if up >= needed:
        spare = up - needed
        tail = "one more lost server stops the API" if spare == 0 else f"{spare} more server(s) may fail"
        return [lab.finding(rule, Severity.info, f"etcd quorum holds: {up} of {total} servers up, {needed} needed; {tail}")]
    down = [s for s in lab.cfg.k3s.servers if s.name in scn.nodes_down]
    msg = (f"etcd loses quorum: {up} of {total} servers up, {needed} needed ({_names(s.name for s in down)} down); "
           f"the Kubernetes API stops and nothing is scheduled or healed until {lab.comes_back(scn)} returns")
    if total == 1:
        hint = "a single server is the whole control plane: add two servers on other Proxmox hosts (3 servers tolerate one loss)"
        at = ("k3s", "nodes", lab.node_index(down[0].name), "role")
    elif total == 2:
        hint = "two servers tolerate no failure (quorum is 2 of 2): run three servers, one per failure domain"
        at = ("k3s", "nodes", lab.node_index(down[-1].name), "role")
    else:
        move = down[-1]
        at = ("k3s", "nodes", lab.node_index(move.name), "host")
        return [lab.finding(rule, Severity.error, msg, at=at, fixes=server_moves(lab, down),
                            unfixable=no_server_placement(lab, scn))]
    return [lab.finding(rule, Severity.error, msg, hint, at)]


def server_moves(lab: Lab, down: list[K3sNode]) -> tuple[Fix, ...]:
    """Placements to try: each lost server moved to each other host, then the servers spread so that no host
    holds more than etcd can lose."""
    cfg = lab.cfg
    hosts = list(cfg.proxmox.hosts)
    fixes = [Fix(f"move {s.name} to {h} (k3s.nodes[{lab.node_index(s.name)}].host: {h})",
                 ((("k3s", "nodes", lab.node_index(s.name), "host"), h),))
             for s in reversed(down) for h in hosts if h != s.host]
    servers = cfg.k3s.servers
    allowed = len(servers) - (len(servers) // 2 + 1)   # servers one host may hold so that losing it keeps quorum
    if allowed < 1 or allowed * len(hosts) < len(servers):
        return tuple(fixes)   # no spread exists; the single moves are still tried (and fail)
    count = {h: sum(1 for s in servers if s.host == h) for h in hosts}
    moves: list[tuple[K3sNode, str]] = []
    for s in reversed(servers):   # the first server initialises the cluster: move the others first
        if count[s.host] > allowed:
            target = min(hosts, key=count.__getitem__)
            count[s.host] -= 1
            count[target] += 1
            moves.append((s, target))
    if len(moves) > 1:
        moves.reverse()
        fixes.append(Fix("move " + " and ".join(f"{s.name} to {t}" for s, t in moves),
                         tuple((("k3s", "nodes", lab.node_index(s.name), "host"), t) for s, t in moves)))
    return tuple(fixes)


def no_server_placement(lab: Lab, scn: Scenario) -> str:
    """What to say when no placement tried survives: that none exists on these hosts, and the real options."""
    cfg = lab.cfg
    servers, hosts = cfg.k3s.servers, list(cfg.proxmox.hosts)
    needed = len(servers) // 2 + 1
    lost = _names(scn.hosts_down) if scn.hosts_down else _names(scn.nodes_down)
    if (len(servers) - needed) * len(hosts) >= len(servers):
        return (f"spread the servers so that no Proxmox host holds more than {len(servers) - needed}: the moves tried "
                "here leave a host without room for the moved VM (`homelab validate` says which)")
    return (f"no placement of {len(servers)} K3s servers on {len(hosts)} Proxmox host(s) ({', '.join(hosts)}) survives "
            f"losing one: some host always holds {-(-len(servers) // len(hosts))} of them and etcd needs {needed} "
            f"running. Options: add a Proxmox host to proxmox.hosts and move a server there (one server per host); "
            f"run another etcd voter (a K3s server) on a machine that is none of {', '.join(hosts)}; or accept the "
            f"risk: while {lost} is down the Kubernetes API stops (running pods keep serving) until it returns")


def api_endpoint(lab: Lab, scn: Scenario, wl: Workload) -> list[Finding]:
    """The API name k3s.<lan> points at the first server only (Pi-hole record and the agents' server URL)."""
    first = lab.cfg.k3s.servers[0]
    name = f"{lab.cfg.k3s.api_hostname}.{lab.cfg.site.lan_domain}"
    if first.name not in scn.nodes_down or lab.etcd_lost(scn):
        return []
    return [lab.finding("drill/api-endpoint", Severity.warning,
                        f"{name} resolves to {first.name} ({first.address}) only: kubectl, Flux bootstrap and joining nodes "
                        f"cannot reach the API while {first.name} is down, although the other servers keep quorum",
                        "put a virtual IP in front of the servers (kube-vip in ARP mode on the K3s VLAN) and point the "
                        "name at it", ("k3s", "api_hostname"))]


# ------------------------------------------------------------------------------------------- Proxmox

def proxmox_quorum(lab: Lab, scn: Scenario, wl: Workload) -> list[Finding]:
    cfg, rule = lab.cfg, "drill/proxmox-quorum"
    hosts = list(cfg.proxmox.hosts)
    if len(hosts) == 1:
        return [lab.finding(rule, Severity.info, f"single Proxmox host {hosts[0]}: no cluster quorum to lose")]
    qdev = cfg.pi.qdevice
    expected = len(hosts) + (1 if qdev else 0)
    needed = expected // 2 + 1
    found: list[Finding] = []
    qdevice_on = (Fix("set pi.qdevice: true so one host and the Pi are enough", ((("pi", "qdevice"), True),)),)
    if scn.power_restored:
        voters = f"{needed} of {expected} votes ({', '.join(hosts)}{' and the Pi' if qdev else ''})"
        sev = Severity.warning if needed >= len(hosts) + (1 if qdev else 0) else Severity.info
        msg = f"after power returns Proxmox starts on-boot VMs only once the cluster is quorate: {voters}"
        if sev is Severity.info:
            return found + [lab.finding(rule, sev, msg)]
        return found + [lab.finding(rule, sev, msg + "; every host must come back first", at=("pi", "qdevice"),
                                    fixes=qdevice_on if not qdev else (), unfixable="add a Proxmox host",
                                    hint="" if not qdev else "add a Proxmox host")]
    votes = len(hosts) - len(scn.hosts_down) + (1 if qdev and not scn.pi_down else 0)
    if votes >= needed:
        return found + [lab.finding(rule, Severity.info, f"the Proxmox cluster stays quorate: {votes} of {expected} votes, "
                                    f"{needed} needed")]
    msg = (f"the Proxmox cluster loses quorum: {votes} of {expected} votes, {needed} needed; /etc/pve turns read-only, "
           "running VMs keep running but none can be started, stopped or changed, and a host that reboots starts none")
    tiebreak = Fix("set pi.qdevice: true: the Pi's corosync-qnetd gives the tie-breaking vote", ((("pi", "qdevice"), True),))
    return found + [lab.finding(rule, Severity.warning, msg, "add a vote: another Proxmox host, or a QDevice on a machine "
                                "that is not one of the hosts", ("pi", "qdevice"), fixes=() if qdev else (tiebreak,))]


def facts(lab: Lab) -> list[Finding]:
    """Findings about the config itself, true whatever fails: reported once, above the drills."""
    cfg = lab.cfg
    hosts = list(cfg.proxmox.hosts)
    found = []
    if cfg.pi.qdevice and len(hosts) > 1 and len(hosts) % 2 == 1:
        found.append(lab.finding("drill/proxmox-quorum", Severity.warning,
                                 f"a QDevice with {len(hosts)} (an odd number of) Proxmox hosts: corosync recommends it only "
                                 "for an even number of nodes (with an odd number it adds no tolerance and, with the "
                                 "ffsplit algorithm, can tie the cluster)", at=("pi", "qdevice"),
                                 fixes=(Fix("set pi.qdevice: false", ((("pi", "qdevice"), False),)),),
                                 unfixable="set pi.qdevice: false and check the Proxmox votes the drills report"))
    return found


# ------------------------------------------------------------------------------------------ Longhorn

def longhorn(lab: Lab, scn: Scenario, wl: Workload) -> list[Finding]:
    cfg = lab.cfg
    default = cfg.longhorn.replicas
    down = scn.nodes_down
    survivors = lab.survivors(scn)
    if scn.power_restored:
        return [lab.finding("drill/longhorn-readable", Severity.info,
                            "volumes attach again once their nodes are up; with every node back every volume is readable")]
    if not down:
        return [lab.finding("drill/longhorn-readable", Severity.info, "no K3s node is lost: every volume stays readable")]
    vols = list(wl.volumes)
    found: list[Finding] = []
    # Per replica count: can all replicas of a volume sit on the nodes that are down?
    counts = sorted({v.replicas or default for v in vols} or {default})
    at_risk = [c for c in counts if c <= len(down)]
    if at_risk:
        r = min(at_risk)
        named = [f"{v.namespace}/{v.name}" for v in unreadable(lab, scn, wl)]
        what = f" ({len(named)} in the tree: {', '.join(named)})" if named else ""
        share = f", which all run on {_names(scn.hosts_down)}" if scn.hosts_down and len(down) > 1 else ""
        msg = (f"Longhorn volumes with {r} replica(s) may become unreadable{what}: Longhorn only keeps replicas on different "
               f"nodes, so it may put all of a volume's replicas on {_names(down)}{share}; such a volume is unreadable "
               f"until {lab.comes_back(scn)} returns")
        raise_to = len(down) + 1
        fixes = (Fix(f"set longhorn.replicas: {raise_to} so every volume keeps a copy on another node"
                     + (" (volumes whose StorageClass sets numberOfReplicas keep theirs)" if any(v.replicas for v in vols) else ""),
                     ((("longhorn", "replicas"), raise_to),)),) if raise_to <= len(cfg.k3s.nodes) else ()
        hint = "" if r == 1 else ("make the Proxmox host Longhorn's failure domain: label each node topology.kubernetes.io/zone="
                                  "<its Proxmox host> so replica zone anti-affinity spreads replicas across hosts, or place "
                                  f"at most {r - 1} node(s) per host")
        found.append(lab.finding("drill/longhorn-readable", Severity.error, msg, hint, ("longhorn", "replicas"), fixes=fixes))
    else:
        found.append(lab.finding("drill/longhorn-readable", Severity.info,
                                 f"every volume stays readable: {min(counts)}+ replicas on different nodes, "
                                 f"{len(down)} node(s) lost"))
    if len(survivors) < max(counts):
        found.append(lab.finding("drill/longhorn-rebuild", Severity.warning,
                                 f"volumes stay degraded: {max(counts)} replicas wanted but only {len(survivors)} node(s) left "
                                 f"({_names(n.name for n in survivors)}); one more failure loses the last copy",
                                 f"bring {lab.comes_back(scn)} back soon, and keep backups (longhorn.backup_target)",
                                 ("longhorn", "backup_target")))
    else:
        found.append(lab.finding("drill/longhorn-rebuild", Severity.info,
                                 f"Longhorn rebuilds the lost replicas on {_names(n.name for n in survivors)}"))
    if wl.known and vols:
        policy = wl.longhorn_settings.get("nodeDownPodDeletionPolicy", "do-nothing")
        if policy == "do-nothing":
            found.append(lab.finding("drill/longhorn-stuck-pods", Severity.warning,
                                     f"pods with a Longhorn volume on {_names(down)} stay Terminating and their volume stays "
                                     "attached there until the node returns: Longhorn's node-down pod deletion policy is "
                                     "do-nothing (the default)",
                                     "set the Longhorn HelmRelease value defaultSettings.nodeDownPodDeletionPolicy: "
                                     "delete-both-statefulset-and-deployment-pod"))
    return found


def unreadable(lab: Lab, scn: Scenario, wl: Workload) -> list[Volume]:
    """The tree's volumes whose replicas may all sit on the nodes that are down (Longhorn spreads over nodes only)."""
    if scn.power_restored or not scn.nodes_down:
        return []
    return [v for v in wl.volumes if (v.replicas or lab.cfg.longhorn.replicas) <= len(scn.nodes_down)]


# ------------------------------------------------------------------------------------------ capacity

def capacity(lab: Lab, scn: Scenario, wl: Workload) -> list[Finding]:
    rule = "drill/reschedule-capacity"
    if scn.power_restored or not scn.nodes_down:
        return [lab.finding(rule, Severity.info, "no node is lost: no pod needs a new home")]
    survivors = lab.survivors(scn)
    lost = [n for n in lab.cfg.k3s.nodes if n.name in scn.nodes_down]
    if not survivors:
        return [lab.finding(rule, Severity.error, "no K3s node is left: every pod is down until "
                            f"{lab.comes_back(scn)} returns", "place K3s nodes on more than one Proxmox host")]
    mem = sum(allocatable(n) for n in survivors)
    cpu = sum(n.cores for n in survivors) * 1000
    moot = " (moot while etcd has no quorum: nothing is rescheduled)" if lab.etcd_lost(scn) else ""
    unrequested = sorted(f"{p.namespace}/{p.name}" for p in wl.pods if not (p.memory or p.cpu_millis))
    if any(p.memory or p.cpu_millis for p in wl.pods):
        pods = [p for p in wl.pods if not p.per_node]
        daemons = [p for p in wl.pods if p.per_node]
        need_mem = sum(p.memory * p.replicas for p in pods) + sum(p.memory for p in daemons) * len(survivors)
        need_cpu = sum(p.cpu_millis * p.replicas for p in pods) + sum(p.cpu_millis for p in daemons) * len(survivors)
        unplaced = unschedulable(wl, survivors)
        before = len(unschedulable(wl, list(lab.cfg.k3s.nodes)))   # pods Pending even with every node up
        where = _names(n.name for n in survivors)
        if len(unplaced) > before:
            top = sorted({(p.namespace, p.name): p for p in unplaced}.values(), key=lambda p: p.memory, reverse=True)[:3]
            also = f", {before} of them even with every node up" if before else ""
            return [lab.finding(rule, Severity.error,
                                f"the survivors ({where}) cannot take the evicted pods: {len(unplaced)} pod(s) stay Pending{also} "
                                f"({', '.join(f'{p.namespace}/{p.name}' for p in top)}); all pods request {_gib(need_mem)} "
                                f"memory and {_cores(need_cpu)} cores, the survivors offer {_gib(mem)} and {_cores(cpu)} cores{moot}",
                                "give the K3s VMs more memory/cores (k3s.nodes[].memory), add a node on another host, or "
                                "lower the requests of " + ", ".join(f"{p.namespace}/{p.name}" for p in top),
                                ("k3s", "nodes", lab.node_index(survivors[0].name), "memory"))]
        if unplaced:
            return [lab.finding(rule, Severity.warning,
                                f"{len(unplaced)} pod(s) fit on no node even with every node up (plan/budget-exceeds-nodes); "
                                f"losing {_names(scn.nodes_down)} strands no further pod{moot}",
                                "give the K3s VMs more memory/cores or lower the largest requests",
                                ("k3s", "nodes", lab.node_index(survivors[0].name), "memory"))]
        gap = f"; {len(unrequested)} workload(s) request nothing and are not counted" if unrequested else ""
        return [lab.finding(rule, Severity.info,
                            f"the survivors ({where}) have room for every pod: memory requests {_gib(need_mem)} of "
                            f"{_gib(mem)} allocatable, CPU {_cores(need_cpu)} of {_cores(cpu)} cores{gap}{moot}")]
    lost_mem = sum(allocatable(n) for n in lost)
    share = mem / (mem + lost_mem) if mem + lost_mem else 0
    sev = Severity.warning if share < 0.5 else Severity.info
    return [lab.finding(rule, sev,
                        f"pod requests are unknown ({'no workload in the Flux tree sets any' if wl.known else 'the Flux tree was not read'}): the survivors "
                        f"({_names(n.name for n in survivors)}, {_gib(mem)} allocatable) can take the evicted pods only "
                        f"while all pods request at most {share:.0%} of the cluster's {_gib(mem + lost_mem)}{moot}",
                        "" if sev is Severity.info else
                        "keep total requests under that share, or spread nodes more evenly across hosts")]


# ------------------------------------------------------------------------------------------- LAN DNS

def lan_dns(lab: Lab, scn: Scenario, wl: Workload) -> list[Finding]:
    cfg, rule = lab.cfg, "drill/lan-dns"
    lan = cfg.site.lan_domain
    nets = cfg.networks
    resolvers = sorted({*nets.management.dns, *nets.k3s.dns})
    if not cfg.pi.dns:
        return [lab.finding(rule, Severity.info, f"the Pi runs no DNS (pi.dns: false): *.{lan} is served by "
                            f"{', '.join(map(str, resolvers))}, outside what this plan can see")]
    if scn.pi_down:
        others = [r for r in resolvers if r != cfg.pi.address]
        if not lab.pi_resolves_lan():
            return [lab.finding(rule, Severity.info, f"{cfg.pi.address} is not a resolver of either network; lookups are unaffected")]
        if others:
            return [lab.finding(rule, Severity.warning,
                                f"hosts fall back to {', '.join(map(str, others))}; *.{lan} names resolve only if that "
                                "resolver serves them too (external-dns writes them to Pi-hole only)",
                                f"make {', '.join(map(str, others))} forward {lan} to a second Pi-hole", ("networks", "management", "dns"))]
        return [lab.finding(rule, Severity.warning,
                            f"*.{lan} names stop resolving: the Pi ({cfg.pi.address}) is the only resolver of both networks, so "
                            "browsers say 'server not found', the nodes cannot resolve registries (image pulls fail) and "
                            "the Pi-hole external-dns instance cannot write records",
                            "add a second resolver that also serves lan names (a second Pi-hole, or the router forwarding "
                            f"{lan} to the Pi) to networks.management.dns and networks.k3s.dns",
                            ("networks", "management", "dns"))]
    if scn.internet_down:
        return [lab.finding(rule, Severity.info,
                            f"*.{lan} names still resolve (Pi-hole's local records); internet names fail: the upstreams "
                            f"{', '.join(map(str, cfg.pi.upstream_dns))} are unreachable")]
    if scn.power_restored:
        return [lab.finding(rule, Severity.info,
                            f"*.{lan} names resolve as soon as the Pi has booted; they point at Traefik's "
                            f"{cfg.metallb.traefik_address}, which answers once MetalLB and Traefik run")]
    return [lab.finding(rule, Severity.info, f"*.{lan} names still resolve: Pi-hole on {cfg.pi.name} does not depend on "
                        "the Proxmox hosts or the cluster")]


# ------------------------------------------------------------------------------------------ certificates

def certificates(lab: Lab, scn: Scenario, wl: Workload) -> list[Finding]:
    rule = "drill/cert-renewal"
    certs = list(wl.certificates)
    if certs:
        worst = min(certs, key=lambda c: c.renew_at_days_left)
        margin = worst.renew_at_days_left
        basis = (f"{worst.namespace}/{worst.name} ({', '.join(worst.dns_names)}) is renewed at {margin:g} days left "
                 f"of {worst.duration_days:g}")
    else:
        margin = LE_DURATION_DAYS / 3
        basis = ("assumed: Let's Encrypt certificates last 90 days and cert-manager renews them at 30 days left "
                 "(renewBefore defaults to 1/3 of the duration)")
    if scn.internet_down:
        sev = Severity.warning if margin < 14 else Severity.info
        return [lab.finding(rule, sev,
                            f"renewals (ACME DNS-01 through Cloudflare) need the internet; certificates stay valid for at "
                            f"least {margin:g} days of outage, then browsers warn ({basis})",
                            "" if sev is Severity.info else "renew earlier: set renewBefore to 30d (or more) on the Certificate")]
    if scn.pi_down and lab.pi_resolves_lan():
        return [lab.finding(rule, Severity.info,
                            f"renewals may fail while the Pi is down (cert-manager's DNS-01 self-check resolves through the "
                            f"nodes' resolver); there are at least {margin:g} days of margin ({basis})")]
    if scn.power_restored:
        return [lab.finding(rule, Severity.info, "certificates are Secrets in etcd: they survive a power loss; nothing to renew")]
    if lab.etcd_lost(scn):
        return [lab.finding(rule, Severity.info, f"no renewals while the API is down; at least {margin:g} days of margin ({basis})")]
    return [lab.finding(rule, Severity.info, "renewals continue: cert-manager is rescheduled with the other pods")]


def flux_source(lab: Lab, scn: Scenario, wl: Workload) -> list[Finding]:
    """Flux pulls the repository (and charts, and images) from the internet."""
    if not scn.internet_down:
        return []
    return [lab.finding("drill/flux-source", Severity.info,
                        f"Flux cannot fetch {lab.cfg.flux.repository}: the cluster keeps the last applied revision and "
                        "pushes apply once the internet returns; pods that start on a node without their image "
                        "cannot pull it")]


# --------------------------------------------------------------------------------------- recovery order

def recovery_order(lab: Lab, scn: Scenario, wl: Workload, *, flux_levels: list[list[str]] | None = None,
                   on_boot: bool | None = None) -> list[Finding]:
    if not scn.power_restored:
        return []
    cfg = lab.cfg
    up, total, needed = lab.etcd(scn)
    hosts = ", ".join(cfg.proxmox.hosts)
    steps = [
        f"1. {cfg.pi.name} boots: DNS" + (" and the QDevice vote" if cfg.pi.qdevice else ""),
        f"2. {hosts} boot (only if their firmware powers on after AC loss: set it, Git cannot check it)",
        "3. the Proxmox cluster becomes quorate and starts the on-boot VMs in k3s.nodes order: "
        + ", ".join(n.name for n in cfg.k3s.nodes),
        f"4. K3s: the API answers once {needed} of {total} servers run; agents rejoin",
        "5. Longhorn attaches volumes; pods that use them start",
    ]
    if flux_levels:
        steps.append("6. Flux reconciles in dependsOn order: " + " → ".join("[" + ", ".join(lv) + "]" for lv in flux_levels))
    else:
        steps.append("6. Flux reconciles its Kustomizations (order from the Flux tree: not read)")
    steps.append("7. routes answer once Traefik has its MetalLB address" + (" and Authentik runs" if any(
        s.exposure is not Exposure.public for s in cfg.services.values()) else ""))
    found = [lab.finding("drill/recovery-order", Severity.info, "recovery order after power returns: " + "; ".join(steps))]
    if on_boot is False:
        found.append(lab.finding("drill/recovery-order", Severity.error,
                                 "terraform/ does not set on_boot = true on the K3s VMs: after a power loss they stay off",
                                 "set on_boot = true in the proxmox_virtual_environment_vm resource"))
    elif on_boot is None:
        found.append(lab.finding("drill/recovery-order", Severity.info,
                                 "terraform/ has no VM resource yet: cannot confirm the VMs start on boot"))
    return found


# ------------------------------------------------------------------------------------------ routes

SSO_PROVIDER = "authentik"   # the service (and chart release) that answers forward auth


def route_outcomes(lab: Lab, scn: Scenario, wl: Workload) -> list[dict]:
    """What a user of each route sees in this scenario: `{service, host, sees, severity, because}`.

    Derived from the drill's other answers, so the Users column cannot contradict them: a route is down when
    etcd has lost quorum (nothing heals), when a volume its pods need may be unreadable, or, for an SSO route,
    when the SSO provider's volumes (Authentik's PostgreSQL) may be; a LAN name is gone when its only
    resolver, the Pi, is down."""
    cfg = lab.cfg
    survivors = _names(n.name for n in lab.survivors(scn)) or "no node"
    lost = unreadable(lab, scn, wl)
    provider_host = cfg.fqdn(SSO_PROVIDER) if SSO_PROVIDER in cfg.services else ""
    provider_lost = [v for v in (wl.volumes_behind(provider_host) if provider_host else []) if v in lost] or \
        [v for v in lost if v.release == SSO_PROVIDER]
    # with no volume known, Longhorn's answer is about the replica count alone, and so is this one
    blind = not wl.volumes and bool(scn.nodes_down) and not scn.power_restored and \
        cfg.longhorn.replicas <= len(scn.nodes_down)
    unknown = "the Flux tree names no Longhorn volume" if wl.known else "the Flux tree was not read"
    out = []
    for name, svc in cfg.services.items():
        lan, sso = svc.on_lan, svc.requires_sso
        host = cfg.fqdn(name)
        own_lost = [v for v in wl.volumes_behind(host) if v in lost]
        sev, because = Severity.info, []
        if scn.nodes_down and lab.etcd_lost(scn):
            sees = (f"works only if its pods and Traefik already ran on {survivors}; otherwise 502/504 from Traefik "
                    f"(or no answer) until {lab.comes_back(scn)} returns")
            sev, because = Severity.error, ["drill/etcd-quorum"]
        elif own_lost:
            sees = (f"down if its volume {_names(f'{v.namespace}/{v.name}' for v in own_lost)} is unreadable (all its "
                    f"replicas on {_names(scn.nodes_down)}) until {lab.comes_back(scn)} returns")
            sev, because = Severity.error, ["drill/longhorn-readable"]
        elif sso and provider_lost and name != SSO_PROVIDER:
            sees = (f"login fails if {SSO_PROVIDER}'s database volume {_names(f'{v.namespace}/{v.name}' for v in provider_lost)} "
                    f"is unreadable until {lab.comes_back(scn)} returns: forward auth answers 5xx")
            sev, because = Severity.error, ["drill/longhorn-readable"]
        elif blind:
            sees = (f"down until {lab.comes_back(scn)} returns if its data" + (" or Authentik's database" if sso else "")
                    + f" is on Longhorn with all replicas on {_names(scn.nodes_down)} ({unknown}, so which cannot be told)")
            sev, because = Severity.warning, ["drill/longhorn-readable"]
        elif scn.nodes_down:
            sees = (f"502/503 for about {EVICTION_SECONDS // 60} minutes if its pods ran on {_names(scn.nodes_down)} "
                    "(evicted after the node is unreachable), then works" + ("; login waits for Authentik too" if sso else ""))
        elif scn.pi_down and lan and lab.pi_resolves_lan():
            sees, sev, because = "'server not found': the name no longer resolves", Severity.warning, ["drill/lan-dns"]
        elif scn.pi_down and not lan:
            sees = "works from the internet (Cloudflare DNS); from the LAN only through another resolver"
        elif scn.internet_down:
            sees = ("works from the LAN" + (", SSO included (Authentik is local)" if sso else "")) if lan else \
                "unreachable from outside"
        elif scn.power_restored:
            sees = "down until the recovery order completes" + (", then the Authentik login" if sso else "")
        else:
            sees = "works"
        out.append({"service": name, "host": host, "sees": sees, "severity": sev.value, "because": because})
    return out


def routes(lab: Lab, scn: Scenario, wl: Workload) -> list[Finding]:
    """One finding per drill: the routes grouped by what their users see."""
    outcomes = route_outcomes(lab, scn, wl)
    if not outcomes:
        return []
    groups: dict[str, list[str]] = {}
    for o in outcomes:
        groups.setdefault(o["sees"], []).append(o["service"])
    worst = max((Severity(o["severity"]) for o in outcomes), key=[Severity.info, Severity.warning, Severity.error].index)
    text = "; ".join(f"{_names(svcs)}: {sees}" for sees, svcs in groups.items())
    return [lab.finding("drill/route-impact", worst, "what users see: " + text)]


QUESTIONS = (etcd_quorum, api_endpoint, proxmox_quorum, longhorn, capacity, lan_dns, certificates, flux_source, routes)
