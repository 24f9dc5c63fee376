"""The architecture and provisioning diagrams as inline SVG, drawn from the plan (for the HTML page).

No script and no font files: plain shapes and system-font text laid out here, so the page shows its
diagrams offline in any browser. Box sizes follow an estimate of the text width (7 px per character
at 12 px), which is all the layout needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from homelab.plan.document import SHORT_MIDDLEWARE, gib
from homelab.plan.model import Plan, Tree

CHAR = 7          # px per character at font-size 12
BOLD = 7.6        # the same, bold (the first line of a box)
LINE = 16         # px per text line
PAD = 8
EXPOSURE_CLASS = {"lan": "lan", "sso": "sso", "public": "public"}


@dataclass
class Box:
    x: int
    y: int
    w: int
    h: int
    lines: list[str]
    cls: str = ""
    title: str = ""

    @property
    def cx(self) -> int:
        return self.x + self.w // 2

    def svg(self) -> str:
        tip = f"<title>{escape(self.title)}</title>" if self.title else ""
        text = "".join(f'<text x="{self.x + PAD}" y="{self.y + PAD + 12 + i * LINE}" class="{"head" if i == 0 else "body"}">'
                       f"{escape(t)}</text>" for i, t in enumerate(self.lines))
        return (f'<g class="box {self.cls}">{tip}<rect x="{self.x}" y="{self.y}" width="{self.w}" height="{self.h}" rx="6"/>'
                f"{text}</g>")


def _box(x: int, y: int, lines: list[str], cls: str = "", w: int | None = None, title: str = "") -> Box:
    width = w or int(max([len(lines[0]) * BOLD, *(len(t) * CHAR for t in lines[1:])])) + 2 * PAD
    return Box(x, y, width, len(lines) * LINE + 2 * PAD - 2, lines, cls, title)


def _label(x: int, y: int, text: str) -> str:
    return f'<text class="layer" x="{x}" y="{y}">{escape(text)}</text>'


def _line(x1: int, y1: int, x2: int, y2: int, cls: str = "edge") -> str:
    return f'<line class="{cls}" x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}"/>'


def _wrap(svg_body: list[str], width: int, height: int, label: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(label)}" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}">' + "".join(svg_body) + "</svg>")


def architecture(plan: Plan) -> str:
    """Layer 1 (the Proxmox hosts with their VMs, the Pi), the cluster's services, and the routes."""
    failing = set(plan.summary.failing_drills)
    body: list[str] = []
    x, y = 10, 28
    body.append(_label(10, 18, "Layer 1-2: Proxmox hosts and their K3s VMs"))
    tallest = 0
    vm_boxes: dict[str, Box] = {}
    for h in plan.hosts:
        inner = [_box(0, 0, [v.name, f"{v.role} {v.address}", f"{v.cores}c / {gib(v.memory_bytes)}"],
                      "server" if v.role == "server" else "agent") for v in h.vms]
        if h.template:
            inner.append(_box(0, 0, ["template", f"{h.template.name}", f"VM {h.template.vm_id}"], "template"))
        head = [h.name, h.address, f"{h.committed_cores}/{h.cores} cores, {gib(h.committed_memory_bytes)}/{gib(h.memory_bytes)}"]
        w = max([len(t) * CHAR + 2 * PAD for t in head] + [b.w + 2 * PAD for b in inner] + [160])
        cy = y + len(head) * LINE + 2 * PAD
        for b in inner:
            b.x, b.y, b.w = x + PAD, cy, w - 2 * PAD
            cy += b.h + PAD
        host = Box(x, y, w, cy - y, head, "host failing" if f"host-down:{h.name}" in failing else "host",
                   title="losing this host fails a drill" if f"host-down:{h.name}" in failing else "")
        body.append(host.svg())
        body += [b.svg() for b in inner]
        vm_boxes.update({v.name: b for v, b in zip(h.vms, inner)})
        tallest = max(tallest, host.h)
        x += w + 16
    pi = plan.pi
    pi_box = _box(x, y, [pi.name, pi.address, "Pi: " + (", ".join(pi.roles) or "no role")], "pi")
    body.append(pi_box.svg())
    width = pi_box.x + pi_box.w + 10
    y += max(tallest, pi_box.h) + 40

    body.append(_label(10, y - 12, "Layer 3-5: the cluster, reconciled by Flux"))
    servers = [v for h in plan.hosts for v in h.vms if v.role == "server"]
    tree = plan.tree if isinstance(plan.tree, Tree) else None
    parts = [
        ("etcd", ["control plane: embedded etcd", f"{len(servers)} servers, {len(servers) // 2 + 1} needed"]),
        ("longhorn", [f"Longhorn: {plan.storage.replicas} replicas", f"{gib(plan.storage.usable_bytes)} usable"]),
        ("traefik", [f"Traefik {plan.metallb.used[0].address if plan.metallb.used else ''}", f"MetalLB pool {plan.metallb.pool}"]),
        ("flux", ["Flux", f"{tree.kustomizations} Kustomizations" if tree else "tree not read"]),
    ]
    cx = 10
    core: dict[str, Box] = {}
    for key, lines in parts:
        b = _box(cx, y, lines, "core")
        core[key] = b
        body.append(b.svg())
        cx += b.w + 16
    width = max(width, cx)
    for name, b in vm_boxes.items():
        target = core["etcd"] if b.cls == "server" else core["longhorn"]
        body.insert(0, _line(b.cx, b.y + b.h, target.cx, y, "edge faint"))
    y += max(b.h for b in core.values()) + 40

    body.append(_label(10, y - 12, "Routes (all through Traefik)"))
    rx, ry = 10, y
    row_h = 0
    route_w = max([int(len(r.host) * BOLD) + 2 * PAD for r in plan.routes] + [200])
    max_w = max(width, 4 * (route_w + 12))
    for r in plan.routes:
        prot = " + ".join(SHORT_MIDDLEWARE.get(p, p) for p in r.protection) or "public"
        b = _box(rx, ry, [r.host, f"{r.exposure}: {prot}"], "route " + EXPOSURE_CLASS.get(r.exposure, ""), w=route_w)
        if rx + b.w > max_w:
            rx, ry = 10, ry + row_h + 12
            b.x, b.y = rx, ry
        body.append(b.svg())
        body.insert(0, _line(core["traefik"].cx, core["traefik"].y + core["traefik"].h, b.cx, b.y, "edge faint"))
        rx += b.w + 12
        row_h = max(row_h, b.h)
        width = max(width, rx)
    height = ry + row_h + 10
    return _wrap(body, width, height, "architecture: hosts, VMs, cluster services and routes")


def provisioning(plan: Plan, flux_repository: str, flux_branch: str) -> str:
    """The provisioning flow, top to bottom: glue, template, VMs, inventory, hosts, Flux and its levels."""
    tpl = next(((h.name, h.template) for h in plan.hosts if h.template), None)
    servers = [v.name for h in plan.hosts for v in h.vms if v.role == "server"]
    agents = [v.name for h in plan.hosts for v in h.vms if v.role == "agent"]
    steps = [
        ("homelab render", ["glue files from homelab.yaml"]),
        ("packer build", [f"template {tpl[1].name} (VM {tpl[1].vm_id}) on {tpl[0]}" if tpl else "the VM template"]),
        ("terraform apply", [f"{v.name} (VM {v.vm_id}, {v.address}) on {h.name}" for h in plan.hosts for v in h.vms]),
        ("homelab inventory", ["Ansible inventory from terraform output"]),
        ("ansible-playbook site.yml", [f"common on {', '.join(h.name for h in plan.hosts)}, {plan.pi.name}",
                                       f"{servers[0]} initialises K3s" if servers else "no K3s server",
                                       *([f"{', '.join(servers[1:])} join as servers"] if servers[1:] else []),
                                       *([f"{', '.join(agents)} join as agents"] if agents else [])]),
        ("flux bootstrap", [f"{flux_repository} ({flux_branch})"]),
    ]
    if isinstance(plan.tree, Tree):
        steps.append(("Flux reconciles in dependsOn order",
                      [f"level {i}: {', '.join(lv)}" for i, lv in enumerate(plan.tree.flux_levels, 1)]))
    else:
        steps.append(("Flux reconciles", ["sources, infrastructure, apps (the tree was not read)"]))
    body: list[str] = []
    y, width = 10, 0
    prev: Box | None = None
    for i, (title, lines) in enumerate(steps, 1):
        b = _box(10, y, [f"{i}. {title}", *lines], "step")
        body.append(b.svg())
        if prev is not None:
            body.append(_line(prev.x + 20, prev.y + prev.h, b.x + 20, b.y, "edge arrow"))
        prev = b
        width = max(width, b.x + b.w + 10)
        y += b.h + 14
    defs = ('<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" '
            'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z"/></marker></defs>')
    return _wrap([defs, *body], width, y, "provisioning flow: render, template, VMs, hosts, Flux")
