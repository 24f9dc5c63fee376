"""`homelab status`: the live lab at a glance; exit code 1 when anything is unhealthy (for cron and monitoring)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from homelab import terminal
from homelab.clients.masking import Masker
from homelab.context import Context, pass_ctx
from homelab.errors import HomelabError
from homelab.status import Check, Report, Sources, collect, recorded_sources
from homelab.status.kube import EXPIRY_WARNING_DAYS
from homelab.terminal import labelled, row


def live_sources(ctx: Context) -> Sources:
    from homelab.pipeline.stages import kubeconfig_path
    from homelab.status import network, proxmox
    from homelab.status.kube import KubernetesReader

    cfg = ctx.cfg
    return Sources(proxmox=lambda: proxmox.connect(cfg, os.environ),
                   kube=lambda: KubernetesReader(kubeconfig_path(cfg, os.environ)),
                   resolver=network.pi_resolver(cfg), mask=Masker(os.environ))


def _mark(c: Check) -> Text:
    return Text(f"{'✓' if c.ok else '✗'} {c.state}", style="green" if c.ok else "red")


def print_table(report: Report, console: Console) -> None:
    """One row per check; stacked (a block per check) when the screen leaves the detail too little room."""
    rows = [(c.section, c.name, _mark(c).plain) for c in report.checks]
    fixed = sum(max((len(r[i]) for r in rows), default=0) for i in range(3)) + 3 * 3  # " │ " between columns
    if console.width - fixed >= terminal.MIN_LAST_COLUMN:
        table = Table(show_edge=False, pad_edge=False, header_style="bold")
        for col in ("what", "name", "state"):
            table.add_column(col, no_wrap=True)
        table.add_column("detail", overflow="fold")
        for c in report.checks:
            row(table, c.section, c.name, _mark(c), c.detail, style="" if c.ok else "red")
        terminal.show(console, table)
    else:
        _print_stacked(report, console)
    if report.healthy:
        console.print(labelled("healthy", f"{len(report.checks)} checks passed", "green"))
    else:
        console.print(labelled("unhealthy", f"{len(report.problems)} of {len(report.checks)} checks failed", "red"))


def _print_stacked(report: Report, console: Console) -> None:
    """Per section, `✓ name state` and the detail beside it when it fits, else wrapped below it."""
    sections: dict[str, list[Check]] = {}
    for c in report.checks:
        sections.setdefault(c.section, []).append(c)
    for section, checks in sections.items():
        console.print(Text(section, style="bold"))
        name_w = max(len(c.name) for c in checks)
        state_w = max(len(_mark(c).plain) for c in checks)
        for c in checks:
            head = Text("  ").append(c.name.ljust(name_w) + " ", style="" if c.ok else "red").append(
                _mark(c).plain.ljust(state_w), style=_mark(c).style)
            if not c.detail or len(head.plain) + 1 + len(c.detail) <= console.width:
                console.print(head.append(f" {c.detail}" if c.detail else "", style="" if c.ok else "red"))
                continue
            head.rstrip()
            console.print(head)
            for line in terminal.wrap(c.detail, console.width, " " * 6):
                console.print(Text(line, style="" if c.ok else "red"))


@click.command("status")
@click.option("--json", "as_json", is_flag=True,
              help="Print the report as JSON (healthy, unhealthy, checks[] each naming its status/* rule).")
@click.option("--expiry-days", type=click.IntRange(min=1), default=EXPIRY_WARNING_DAYS, show_default=True,
              help="A certificate closer than this to expiry is unhealthy.")
@click.option("--recorded", type=click.Path(exists=True, file_okay=False, path_type=Path), metavar="DIR",
              help="Report from API responses recorded in DIR instead of the live lab (layout below).")
@terminal.wide_option
@pass_ctx
def command(ctx: Context, as_json: bool, expiry_days: int, recorded: Path | None, wide: bool) -> None:
    """Proxmox hosts and VMs, nodes, Flux, certificates, Longhorn, DNS and HTTPS routes; exit 1 if anything is unhealthy.

    Every failed check says what to do. A recording (--recorded DIR) holds its manifest meta.json
    ({"recorded_at": "<ISO time>"}, expiry counts from then), proxmox/nodes.json and
    proxmox/cluster_resources.json ({"data": ...} as the Proxmox API answers),
    kubernetes/<group|core>_<version>_<plural>.json (List responses of nodes, Kustomizations,
    HelmReleases, Certificates and Longhorn volumes), dns.json ({name: [address, ...]}) and
    https.json ({name: status code or error}); a folder missing any of them is refused (exit 2).
    """
    cfg = ctx.cfg
    try:
        src = recorded_sources(recorded) if recorded else live_sources(ctx)
    except (ValueError, KeyError) as exc:
        raise HomelabError.single(str(recorded), f"not a recorded status snapshot: {exc}") from None
    report = collect(cfg, src, expiry_days)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        print_table(report, terminal.console(wide=wide))
    sys.exit(0 if report.healthy else 1)
