"""Views of the plan dict: rich tables for people, Markdown for docs and pull requests."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from homelab.terminal import labelled, row

GiB = 2**30
MARK = {"info": "ok", "warning": "WARN", "error": "FAIL"}
STYLE = {"info": "green", "warning": "yellow", "error": "bold red"}
# Columns of the drill table: (heading, finding rules summarised in the cell).
DRILL_COLUMNS = (
    ("PVE", ("drill/proxmox-quorum",)),
    ("Longhorn", ("drill/longhorn-readable", "drill/longhorn-rebuild", "drill/longhorn-stuck-pods")),
    ("Capacity", ("drill/reschedule-capacity",)),
    ("DNS", ("drill/lan-dns",)),
    ("Certs", ("drill/cert-renewal",)),
    ("Users", ("drill/route-impact", "drill/api-endpoint")),
)
_RANK = {"info": 0, "warning": 1, "error": 2}


def gib(n: int) -> str:
    return f"{n / GiB:.1f}".rstrip("0").rstrip(".") + "GiB"


def _worst(findings: list[dict], rules: tuple[str, ...]) -> str | None:
    sevs = [f["severity"] for f in findings if f["rule"] in rules]
    return max(sevs, key=_RANK.__getitem__) if sevs else None


def _etcd_cell(d: dict) -> tuple[str, str]:
    e = d["etcd"]
    sev = "error" if e["up"] < e["needed"] else "info"
    return f"{e['up']}/{e['total']}", sev


def _proxmox_cell(d: dict) -> str:
    p = d["proxmox"]
    return f"{p['votes']}/{p['expected']}"


def _drill_heads(plan: dict) -> list[str]:
    return ["Drill", "etcd", *(h for h, _ in DRILL_COLUMNS)]


def _drill_caption(plan: dict) -> str:
    d = plan["drills"][0]
    return (f"etcd: K3s servers up/total, {d['etcd']['needed']} needed; PVE: Proxmox votes up/expected, "
            f"{d['proxmox']['needed']} needed; DNS: lan names; Users: what users of the routes see")


def _protection(r: dict) -> str:
    if r.get("protection_from") == "none":
        return "no route in the tree"
    names = {"lan-allowlist": "LAN allowlist", "authentik-forward-auth": "SSO"}
    return " + ".join(names.get(p, p) for p in r["protection"]) or ("public" if r["exposure"] == "public" else "none")


def _validation_lines(plan: dict) -> list[tuple[str, str]]:
    v = plan["validation"]
    lines = [(f"config  {plan['config']} is {v['config']}", "info")]
    shown = v.get("placeholders", [])
    if shown:  # one line: `homelab validate` and `homelab check` give each with its hint
        lines.append((f"config  {len(shown)} example value(s) left, which `homelab up` refuses (site/placeholder): "
                      + ", ".join(f"{f['file']}:{f['line']} {f['message'].split(':', 1)[0]}" for f in shown), "warning"))
    glue = v["glue"]
    lines.append(("glue    current" if not glue else "glue    " + "; ".join(f"{g['path']} {g['state']}" for g in glue)
                  + " (run `homelab render`)", "info" if not glue else "error"))
    chk = v["check"]
    if chk.get("available"):
        sev = "error" if chk["errors"] else ("warning" if chk["warnings"] else "info")
        lines.append((f"check   {chk['errors']} error(s), {chk['warnings']} warning(s)"
                      + ("; first: " + ", ".join(f"{f['rule']} at {f['location']}" for f in chk["top"][:3])
                         + "; run `homelab check` for all" if chk["top"] else ""), sev))
    else:
        lines.append((f"check   not run: {chk['reason']}", "warning"))
    tree = plan["tree"]
    if not tree.get("available"):
        lines.append((f"tree    not read: {tree['reason']}", "warning"))
    return lines


# ---------------------------------------------------------------------------------------------- rich

def print_table(plan: dict, console: Console, *, verbose: bool = False) -> None:
    console.print(Text(f"homelab plan: {plan['site']['name']} ({plan['site']['domain']})", style="bold"))
    for line, sev in _validation_lines(plan):
        console.print(Text(line, style=STYLE[sev] if sev != "info" else ""))

    t = Table(title="Proxmox hosts and VMs", title_justify="left")
    for col in ("Host", "Address", "VMs", "Cores", "Memory"):
        t.add_column(col)
    for h in plan["hosts"]:
        vms = ", ".join(f"{v['name']} ({v['role']}, {v['cores']}c/{gib(v['memory_bytes'])})" for v in h["vms"]) or "-"
        if h["template"]:
            vms += f"; template {h['template']['vm_id']}"
        row(t, h["name"], h["address"], vms, f"{h['committed_cores']}/{h['cores']}",
                  f"{gib(h['committed_memory_bytes'])}/{gib(h['memory_bytes'])}")
    pi = plan["pi"]
    row(t, pi["name"], pi["address"], "Pi: " + (", ".join(pi["roles"]) or "no role"), "-", "-")
    console.print(t)

    t = Table(title="Addresses", title_justify="left")
    for col in ("Address", "Network", "Holder"):
        t.add_column(col)
    for a in plan["addresses"]:
        row(t, a["address"], a["network"], ", ".join(a["holders"]))
    m = plan["metallb"]
    row(t, m["pool"], "k3s", f"MetalLB pool: {m['size']} addresses, {len(m['used'])} used, {m['free']} free")
    console.print(t)

    source = "as the Flux tree routes them" if any(r.get("protection_from") != "homelab.yaml" for r in plan["routes"]) \
        else "as homelab.yaml asks (the tree was not read)"
    t = Table(title=f"Services and their protection, {source}", title_justify="left")
    for col in ("Host", "Exposure", "Protection", "DNS record by"):
        t.add_column(col, no_wrap=col == "Host")
    for r in plan["routes"]:
        row(t, r["host"], r["exposure"], _protection(r), r["dns_owner"])
    console.print(t)
    for r in plan["routes"]:
        if r["exposure"] == "public":
            console.print(Text(f"  {r['host']} is public because: {r['reason']}", style="dim"))

    s = plan["storage"]
    console.print(labelled("Storage", f"Longhorn, {s['replicas']} replicas, {len(s['nodes'])} × data disk "
                           f"({', '.join(gib(n['data_disk_bytes']) for n in s['nodes'])}) = {gib(s['raw_bytes'])} raw, "
                           f"{gib(s['usable_bytes'])} usable; backups: {s['backup_target'] or 'none configured'}"))
    nb = plan["nodes_budget"]
    console.print(labelled("Nodes offer pods", f"{nb['cores']} cores, {gib(nb['allocatable_memory_bytes'])} memory "
                           "(after 1GiB per server, 512MiB per agent for the OS and K3s)"))
    _print_tree(plan, console)

    t = Table(title="Failure drills", title_justify="left", caption=_drill_caption(plan), caption_justify="left")
    for head in _drill_heads(plan):
        t.add_column(head, no_wrap=head == "Drill")
    for d in plan["drills"]:
        etcd, esev = _etcd_cell(d)
        cells = [Text(d["id"], style=STYLE[d["severity"]] if d["severity"] != "info" else ""), Text(etcd, style=STYLE[esev])]
        for head, rules in DRILL_COLUMNS:
            sev = _worst(d["findings"], rules)
            label = _proxmox_cell(d) if head == "PVE" else (MARK[sev] if sev else "-")
            cells.append(Text(label, style=STYLE[sev] if sev else "dim"))
        row(t, *cells)
    console.print(t)
    for d in plan["drills"]:
        for f in d["findings"]:
            if f["severity"] == "info" and not verbose:
                continue
            where = f"{f['file']}:{f['line']} " if f.get("file") and f.get("line") else ""
            console.print(Text.assemble((f"{MARK[f['severity']]:4} ", STYLE[f["severity"]]), (f"[{d['id']}] ", "bold"),
                                        f"{where}{f['rule']}: {f['message']}"))
            if f["hint"]:
                console.print(Text(f"     fix: {f['hint']}", style="cyan"))
    sm = plan["summary"]
    console.print(Text(f"\n{sm['drill_errors']} drill error(s), {sm['drill_warnings']} warning(s)"
                       + (f"; failing: {', '.join(sm['failing_drills'])}" if sm["failing_drills"] else "")
                       + ("" if verbose else "; `--verbose` shows every answer")))


def _print_tree(plan: dict, console: Console) -> None:
    """Sections read from the Flux tree (when it was read)."""
    tree = plan["tree"]
    if not tree.get("available"):
        return
    from homelab.plan import treeview
    treeview.print_rich(tree, console)


# ------------------------------------------------------------------------------------------ markdown

def _md_table(head: list[str], rows: list[list[str]]) -> list[str]:
    esc = lambda c: str(c).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head), *("| " + " | ".join(esc(c) for c in r) + " |" for r in rows), ""]


def markdown(plan: dict, *, verbose: bool = False) -> str:
    out = [f"# homelab plan: {plan['site']['name']} ({plan['site']['domain']})", ""]
    out += [f"- {line.replace(chr(10), ' ')}" for line, _ in _validation_lines(plan)] + [""]
    out += ["## Proxmox hosts and VMs", ""]
    rows = []
    for h in plan["hosts"]:
        vms = ", ".join(f"{v['name']} ({v['role']}, {v['cores']}c/{gib(v['memory_bytes'])})" for v in h["vms"]) or "-"
        rows.append([h["name"], h["address"], vms, f"{h['committed_cores']}/{h['cores']}",
                     f"{gib(h['committed_memory_bytes'])}/{gib(h['memory_bytes'])}"])
    pi = plan["pi"]
    rows.append([pi["name"], pi["address"], "Pi: " + (", ".join(pi["roles"]) or "no role"), "-", "-"])
    out += _md_table(["Host", "Address", "VMs", "Cores", "Memory"], rows)
    out += ["## Addresses", ""]
    m = plan["metallb"]
    out += _md_table(["Address", "Network", "Holder"], [[a["address"], a["network"], ", ".join(a["holders"])]
                                                         for a in plan["addresses"]]
                     + [[m["pool"], "k3s", f"MetalLB pool: {m['size']} addresses, {m['free']} free"]])
    out += ["## Services and their protection (from the Flux tree when it was read)", ""]
    out += _md_table(["Host", "Exposure", "Protection", "DNS record by"],
                     [[r["host"], r["exposure"], _protection(r) + (f" ({r['reason']})" if r["exposure"] == "public" else ""),
                       r["dns_owner"]] for r in plan["routes"]])
    s = plan["storage"]
    out += ["## Storage", "", f"Longhorn, {s['replicas']} replicas, {gib(s['raw_bytes'])} raw, {gib(s['usable_bytes'])} usable; "
            f"backups: {s['backup_target'] or 'none configured'}.", ""]
    if plan["tree"].get("available"):
        from homelab.plan import treeview
        out += treeview.markdown(plan["tree"])
    out += ["## Failure drills", ""]
    rows = []
    for d in plan["drills"]:
        etcd, _ = _etcd_cell(d)
        row = [d["id"], etcd]
        for head, rules in DRILL_COLUMNS:
            sev = _worst(d["findings"], rules)
            row.append(_proxmox_cell(d) if head == "PVE" else (MARK[sev] if sev else "-"))
        rows.append(row)
    out += _md_table(_drill_heads(plan), rows) + [_drill_caption(plan) + ".", ""]
    for d in plan["drills"]:
        for f in d["findings"]:
            if f["severity"] == "info" and not verbose:
                continue
            where = f" `{f['file']}:{f['line']}`" if f.get("file") and f.get("line") else ""
            out.append(f"- **{MARK[f['severity']]}** `{d['id']}`{where} {f['rule']}: {f['message']}"
                       + (f" — *fix:* {f['hint']}" if f["hint"] else ""))
    return "\n".join(out).rstrip() + "\n"
