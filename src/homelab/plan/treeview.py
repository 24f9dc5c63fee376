"""Rich and Markdown views of the plan's tree section (see plan/tree.py)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from homelab.terminal import labelled, row

GiB = 2**30
SHORT = {"lan-allowlist": "LAN", "authentik-forward-auth": "SSO", "security-headers": "headers"}


def _gib(n: int) -> str:
    return f"{n / GiB:.1f}".rstrip("0").rstrip(".") + "GiB"


def _cores(m: int) -> str:
    return f"{m / 1000:.2f}".rstrip("0").rstrip(".")


def _rows(tree: dict) -> dict[str, tuple[list[str], list[list[str]]]]:
    owners = {d["name"]: ", ".join(o.split("/")[-1] for o in d["owners"]) or "none" for d in tree["dns"]}
    routes = (["Host", "Middlewares", "Certificate", "DNS record by"],
              [[r["host"], ", ".join(SHORT.get(m.split("/")[-1], m) for m in r["middlewares"]) or "none",
                ", ".join(r["certificates"]) or ("none" if r["tls_secret"] else "no TLS"), owners.get(r["host"], "-")]
               for r in tree["routes"]])
    certs = (["Certificate", "Names", "Issuer", "Renewed at"],
             [[f"{c['namespace']}/{c['name']}", ", ".join(c["dns_names"]), c["issuer"],
               f"{c['renew_at_days_left']:g} of {c['duration_days']:g} days left"] for c in tree["certificates"]])
    b = tree["budget"]
    budget = (["Namespace", "Pods", "CPU req/limit", "Memory req/limit", "No requests"],
              [[n["namespace"], str(n["pods"]), f"{_cores(n['cpu_requests_millis'])}/{_cores(n['cpu_limits_millis'])}",
                f"{_gib(n['memory_requests_bytes'])}/{_gib(n['memory_limits_bytes'])}", ", ".join(n["without_requests"]) or "-"]
               for n in b["namespaces"]]
              + [["all", str(b["total"]["pods"]), f"{_cores(b['total']['cpu_requests_millis'])}/{_cores(b['total']['cpu_limits_millis'])}",
                  f"{_gib(b['total']['memory_requests_bytes'])}/{_gib(b['total']['memory_limits_bytes'])}", ""],
                 ["nodes offer", "", _cores(b["allocatable"]["cpu_millis"]), _gib(b["allocatable"]["memory_bytes"]), ""]])
    vols = (["Volume", "Size", "Replicas"],
            [[f"{v['namespace']}/{v['name']}", _gib(v["size_bytes"]), str(v["replicas"])] for v in tree["volumes"]])
    charts = tree.get("charts") or {"rendered": [], "not_rendered": []}
    done, total = len(charts["rendered"]), len(charts["rendered"]) + len(charts["not_rendered"])
    title = (f"Resource budget (requests in the tree and {done} of {total} rendered charts)" if done else
             "Resource budget (requests in the tree; chart defaults not visible)")
    return {"Routes in the Flux tree": routes, "Certificates": certs, "Longhorn volumes": vols, title: budget}


def _levels(tree: dict) -> str:
    return " → ".join("[" + ", ".join(lv) + "]" for lv in tree["flux_levels"])


def print_rich(tree: dict, console: Console) -> None:
    console.print(Text.assemble(("Flux", "bold"), f": {tree['kustomizations']} Kustomizations, {tree['objects']} objects; "
                                "reconcile order: " + _levels(tree)))
    for be in tree["build_errors"]:
        console.print(Text(f"  build error in {be['kustomization']}: {be['error']}", style="red"))
    charts = tree.get("charts") or {}
    if charts.get("rendered") or charts.get("not_rendered"):
        console.print(Text(f"Charts rendered: {', '.join(charts['rendered']) or 'none'}" +
                           "".join(f"; not rendered: {c['release']} ({c['reason']})" for c in charts["not_rendered"])))
    for title, (head, rows) in _rows(tree).items():
        if not rows:
            console.print(labelled(title, "none"))
            continue
        t = Table(title=title, title_justify="left")
        for h in head:
            t.add_column(h, no_wrap=h in ("Host", "Certificate"))
        for r in rows:
            row(t, *r)
        console.print(t)
    for f in tree["findings"]:
        where = f"{f['file']}:{f['line']} " if f.get("file") and f.get("line") else ""
        style = "bold red" if f["severity"] == "error" else "yellow"
        console.print(Text(f"{'FAIL' if f['severity'] == 'error' else 'WARN'} {where}{f['rule']}: {f['message']}", style=style))
        if f["hint"]:
            console.print(Text(f"     fix: {f['hint']}", style="cyan"))


def markdown(tree: dict) -> list[str]:
    out = ["## Flux", "", f"{tree['kustomizations']} Kustomizations, {tree['objects']} objects. Reconcile order: {_levels(tree)}", ""]
    for title, (head, rows) in _rows(tree).items():
        out += [f"## {title}", ""]
        if not rows:
            out += ["none", ""]
            continue
        out += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows] + [""]
    for f in tree["findings"]:
        out.append(f"- **{f['severity']}** {f['rule']}: {f['message']}" + (f" — *fix:* {f['hint']}" if f["hint"] else ""))
    return out + [""]
