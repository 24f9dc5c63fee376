"""The plan laid out once, as blocks (lines, grids, findings), for every view to draw.

The terminal table, the Markdown and the HTML page are drawings of the same `document(plan)`, so
what one shows the others show: a cell or a finding cannot be left out of one view only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from homelab.plan.model import Drill, FindingRow, Plan, Route, Tree

GiB = 2**30
MARK = {"info": "ok", "warning": "WARN", "error": "FAIL"}
_RANK = {"info": 0, "warning": 1, "error": 2}
# Columns of the drill matrix: (heading, finding rules summarised in the cell).
DRILL_COLUMNS = (
    ("etcd", ("drill/etcd-quorum", "drill/api-endpoint")),
    ("PVE", ("drill/proxmox-quorum",)),
    ("Longhorn", ("drill/longhorn-readable", "drill/longhorn-rebuild", "drill/longhorn-stuck-pods")),
    ("Capacity", ("drill/reschedule-capacity",)),
    ("DNS", ("drill/lan-dns",)),
    ("Certs", ("drill/cert-renewal",)),
    ("Users", ("drill/route-impact",)),
)
SHORT_MIDDLEWARE = {"lan-allowlist": "LAN", "authentik-forward-auth": "SSO", "security-headers": "headers"}


@dataclass(frozen=True)
class Cell:
    text: str
    severity: str | None = None   # colours the cell: info (ok), warning, error; None: plain


@dataclass(frozen=True)
class Grid:
    key: str                      # a stable id (HTML anchors, tests)
    title: str
    heads: list[str]
    rows: list[list[Cell]]
    caption: str = ""
    keep_whole: tuple[str, ...] = ()  # columns whose cells are names: never broken inside a word


@dataclass(frozen=True)
class Line:
    text: str
    severity: str | None = None
    kind: str = "text"            # title | status (the validation lines) | heading | text | note


@dataclass(frozen=True)
class Findings:
    key: str
    title: str
    items: list[tuple[str, FindingRow]] = field(default_factory=list)  # (scope such as a drill id or "", finding)


Block = Grid | Line | Findings


def gib(n: int | float) -> str:
    return f"{n / GiB:.1f}".rstrip("0").rstrip(".") + "GiB"


def cores(millis: int) -> str:
    return f"{millis / 1000:.2f}".rstrip("0").rstrip(".")


def worst(findings: list[FindingRow], rules: tuple[str, ...]) -> str | None:
    sevs = [f.severity for f in findings if f.rule in rules]
    return max(sevs, key=_RANK.__getitem__) if sevs else None


def c(text: object, severity: str | None = None) -> Cell:
    return Cell(str(text), severity)


# ---------------------------------------------------------------------------------------------- blocks

def validation(plan: Plan) -> list[Line]:
    v = plan.validation
    lines = [Line(f"config  {plan.config} is {v.config}", "info", "status")]
    if v.placeholders:   # one line: `homelab validate` and `homelab check` give each with its hint
        lines.append(Line(f"config  {len(v.placeholders)} example value(s) left, which `homelab up` refuses "
                          "(site/placeholder): " + ", ".join(f"{f.at()} {f.message.split(':', 1)[0]}" for f in v.placeholders),
                          "warning", "status"))
    glue = v.glue
    lines.append(Line("glue    current", "info", "status") if not glue else
                 Line("glue    " + "; ".join(f"{g.path} {g.state}" for g in glue) + " (run `homelab render`)", "error", "status"))
    chk = v.check
    if chk.available:
        sev = "error" if chk.errors else ("warning" if chk.warnings else "info")
        first = ("; first: " + ", ".join(f"{f.rule} at {f.at()}" for f in chk.top[:3]) + "; run `homelab check` for all"
                 if chk.top else "")
        lines.append(Line(f"check   {chk.errors} error(s), {chk.warnings} warning(s), {chk.waived} waived{first}", sev, "status"))
    else:
        lines.append(Line(f"check   not run: {chk.reason}", "warning", "status"))
    if not plan.tree.available:
        lines.append(Line(f"tree    not read: {plan.tree.reason}", "warning", "status"))
    return lines


def hosts(plan: Plan) -> Grid:
    rows = []
    for h in plan.hosts:
        vms = ", ".join(f"{v.name} ({v.role}, VM {v.vm_id}, {v.address}, {v.cores}c/{gib(v.memory_bytes)})" for v in h.vms) or "-"
        if h.template:
            vms += f"; template {h.template.name} (VM {h.template.vm_id})"
        rows.append([c(h.name), c(h.address), c(vms), c(f"{h.committed_cores}/{h.cores}"),
                     c(f"{gib(h.committed_memory_bytes)}/{gib(h.memory_bytes)}")])
    pi = plan.pi
    rows.append([c(pi.name), c(pi.address), c("Pi: " + (", ".join(pi.roles) or "no role")
                                              + (f"; upstream DNS {', '.join(pi.upstream_dns)}" if pi.upstream_dns else "")),
                 c("-"), c("-")])
    return Grid("hosts", "Proxmox hosts and VMs", ["Host", "Address", "VMs", "Cores", "Memory"], rows,
                caption="Cores and Memory: committed to VMs / the host's", keep_whole=("Host", "Address"))


def addresses(plan: Plan) -> Grid:
    rows = [[c(a.address), c(a.network), c(", ".join(a.holders))] for a in plan.addresses]
    mlb = plan.metallb
    used = ", ".join(f"{u.address} {u.service}" for u in mlb.used)
    rows.append([c(mlb.pool), c("k3s"), c(f"MetalLB pool {mlb.first}-{mlb.last}: {mlb.size} addresses, {len(mlb.used)} used "
                                          f"({used}), {mlb.free} free")])
    return Grid("addresses", "Addresses", ["Address", "Network", "Holder"], rows, keep_whole=("Address", "Network"))


def _protection(r: Route) -> str:
    if r.protection_from == "none":
        return "no route in the tree"
    return " + ".join(SHORT_MIDDLEWARE.get(p, p) for p in r.protection) or ("public" if r.exposure == "public" else "none")


def routes(plan: Plan) -> list[Block]:
    traefik = plan.metallb.used[0].address if plan.metallb.used else "-"
    source = ("as the Flux tree routes them" if any(r.protection_from != "homelab.yaml" for r in plan.routes)
              else "as homelab.yaml asks (the tree was not read)")
    grid = Grid("routes", f"Services and their protection, {source} (all resolve to Traefik at {traefik})",
                ["Host", "Exposure", "Protection", "DNS record by"],
                [[c(r.host), c(r.exposure), c(_protection(r)), c(r.dns_owner)] for r in plan.routes],
                keep_whole=("Host", "DNS record by"))
    notes = [Line(f"{r.host} is public because: {r.reason}", kind="note") for r in plan.routes if r.exposure == "public"]
    return [grid, *notes]


def storage(plan: Plan) -> list[Line]:
    s, nb = plan.storage, plan.nodes_budget
    disks = ", ".join(f"{n.name} on {n.host} {gib(n.data_disk_bytes)}" for n in s.nodes)
    return [Line(f"Storage: Longhorn at {s.data_path}, {s.replicas} replicas, {len(s.nodes)} data disks ({disks}) = "
                 f"{gib(s.raw_bytes)} raw, {gib(s.usable_bytes)} usable; backups: {s.backup_target or 'none configured'}"),
            Line(f"Nodes offer pods: {nb.cores} cores, {gib(nb.allocatable_memory_bytes)} memory "
                 "(after 1GiB per server, 512MiB per agent for the OS and K3s)")]


def levels(tree: Tree) -> str:
    return " → ".join("[" + ", ".join(lv) + "]" for lv in tree.flux_levels)


def tree_blocks(tree: Tree) -> list[Block]:
    out: list[Block] = [Line(f"Flux: {tree.path}, {tree.kustomizations} Kustomizations, {tree.objects} objects; "
                             f"reconcile order: {levels(tree)}", kind="heading")]
    out += [Line(f"build error in {be.kustomization}: {be.error}", "error") for be in tree.build_errors]
    ch = tree.charts
    if ch.rendered or ch.not_rendered:
        out.append(Line(f"Charts rendered: {', '.join(ch.rendered) or 'none'}"
                        + "".join(f"; not rendered: {c.release} ({c.reason})" for c in ch.not_rendered)))
    owners = {d.name: ", ".join(o.split("/")[-1] for o in d.owners) or "none" for d in tree.dns}
    out.append(Grid("tree-routes", "Routes in the Flux tree", ["Host", "Route", "Middlewares", "Certificate", "DNS record by"],
                    [[c(r.host), c(r.route), c(", ".join(SHORT_MIDDLEWARE.get(mw.split("/")[-1], mw) for mw in r.middlewares) or "none"),
                      c(", ".join(r.certificates) or ("none" if r.tls_secret else "no TLS")), c(owners.get(r.host, "-"))]
                     for r in tree.routes], keep_whole=("Host", "DNS record by")))
    if tree.external_dns:
        out.append(Grid("external-dns", "external-dns instances", ["Instance", "Provider", "Domains", "Excluded"],
                        [[c(i.name), c(i.provider), c(", ".join(i.domain_filters) or "all"), c(", ".join(i.exclude_domains) or "-")]
                         for i in tree.external_dns], keep_whole=("Instance",)))
    out.append(Grid("certificates", "Certificates", ["Certificate", "Names", "Issuer", "Renewed at"],
                    [[c(f"{ct.namespace}/{ct.name}"), c(", ".join(ct.dns_names)), c(ct.issuer),
                      c(f"{ct.renew_at_days_left:g} of {ct.duration_days:g} days left")] for ct in tree.certificates],
                    keep_whole=("Certificate",)))
    if tree.loadbalancers:
        out.append(Grid("loadbalancers", "LoadBalancer addresses in the tree", ["Address", "Owner"],
                        [[c(lb.address), c(lb.owner)] for lb in tree.loadbalancers], keep_whole=("Address",)))
    out.append(Grid("volumes", "Longhorn volumes", ["Volume", "Size", "Replicas"],
                    [[c(f"{v.namespace}/{v.name}"), c(gib(v.size_bytes)), c(v.replicas)] for v in tree.volumes],
                    caption=f"{gib(tree.volume_bytes_with_replicas)} on the data disks with replicas"
                    + (f"; Longhorn settings: {', '.join(f'{k}={v}' for k, v in sorted(tree.longhorn_settings.items()))}"
                       if tree.longhorn_settings else "")))
    b = tree.budget
    rows = [[c(n.namespace), c(n.pods), c(f"{cores(n.cpu_requests_millis)}/{cores(n.cpu_limits_millis)}"),
             c(f"{gib(n.memory_requests_bytes)}/{gib(n.memory_limits_bytes)}"), c(", ".join(n.without_requests) or "-")]
            for n in b.namespaces]
    rows.append([c("all"), c(b.total.pods), c(f"{cores(b.total.cpu_requests_millis)}/{cores(b.total.cpu_limits_millis)}"),
                 c(f"{gib(b.total.memory_requests_bytes)}/{gib(b.total.memory_limits_bytes)}"), c("")])
    rows.append([c("nodes offer"), c(""), c(cores(b.allocatable.cpu_millis)), c(gib(b.allocatable.memory_bytes)), c("")])
    done, total = len(ch.rendered), len(ch.rendered) + len(ch.not_rendered)
    title = (f"Resource budget (requests in the tree and {done} of {total} rendered charts)" if done else
             "Resource budget (requests in the tree; chart defaults not visible)")
    out.append(Grid("budget", title, ["Namespace", "Pods", "CPU req/limit", "Memory req/limit", "No requests"],
                    rows, caption=b.note, keep_whole=("Namespace",)))
    if tree.findings:
        out.append(Findings("tree-findings", "Findings in the Flux tree", [("", f) for f in tree.findings]))
    return out


def drill_cells(d: Drill) -> list[Cell]:
    cells = [Cell(d.id, d.severity if d.severity != "info" else None)]
    for head, rules in DRILL_COLUMNS:
        sev = worst(d.findings, rules)
        if head == "etcd":
            label = f"{d.etcd.up}/{d.etcd.total}"
        elif head == "PVE":
            label = f"{d.proxmox.votes}/{d.proxmox.expected}"
        else:
            label = MARK[sev] if sev else "-"
        cells.append(Cell(label, sev))
    return cells


def drills(plan: Plan, *, verbose: bool = False) -> list[Block]:
    if not plan.drills:
        return []
    d0 = plan.drills[0]
    caption = (f"etcd: K3s servers up/total, {d0.etcd.needed} needed (and the API name); PVE: Proxmox votes up/expected, "
               f"{d0.proxmox.needed} needed; DNS: lan names; Users: what users of the routes see, from the other answers")
    out: list[Block] = []
    if plan.facts:
        out.append(Findings("facts", "Facts about the config (true in every drill, reported once)",
                            [("", f) for f in plan.facts if verbose or f.severity != "info"]))
    out.append(Grid("drills", "Failure drills", ["Drill", *(h for h, _ in DRILL_COLUMNS)],
                    [drill_cells(d) for d in plan.drills], caption=caption, keep_whole=("Drill",)))
    out.append(Findings("drill-findings", "What the drills found",
                        [(d.id, f) for d in plan.drills for f in d.findings if verbose or f.severity != "info"]))
    if verbose:
        out.append(Grid("users", "What users see", ["Drill", "Route", "Sees"],
                        [[c(d.id), c(u.host), Cell(u.sees, u.severity)] for d in plan.drills for u in d.users],
                        keep_whole=("Drill",)))
    sm = plan.summary
    out.append(Line(f"{sm.drill_errors} drill error(s), {sm.drill_warnings} warning(s)"
                    + (f", {sm.facts} about the config itself" if sm.facts else "")
                    + (f"; failing: {', '.join(sm.failing_drills)}" if sm.failing_drills else "")
                    + ("" if verbose else "; `--verbose` shows every answer"), kind="heading"))
    return out


def document(plan: Plan, *, verbose: bool = False) -> list[Block]:
    out: list[Block] = [Line(f"homelab plan: {plan.site.name} ({plan.site.domain})", kind="title")]
    out += validation(plan)
    out += [hosts(plan), addresses(plan), *routes(plan), *storage(plan)]
    if isinstance(plan.tree, Tree):
        out += tree_blocks(plan.tree)
    out += drills(plan, verbose=verbose)
    return out
