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

from homelab.context import Context, pass_ctx
from homelab.errors import HomelabError
from homelab.clients.masking import Masker
from homelab.status import Report, Sources, collect, recorded_sources
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


def print_table(report: Report, console: Console) -> None:
    table = Table(show_edge=False, pad_edge=False, header_style="bold")
    for col in ("what", "name", "state"):
        table.add_column(col, no_wrap=True)
    table.add_column("detail", overflow="fold")
    for c in report.checks:
        style = "" if c.ok else "red"
        row(table, c.section, c.name, Text(f"{'✓' if c.ok else '✗'} {c.state}", style="green" if c.ok else "red"),
            c.detail, style=style)
    console.print(table)
    if report.healthy:
        console.print(labelled("healthy", f"{len(report.checks)} checks passed", "green"))
    else:
        console.print(labelled("unhealthy", f"{len(report.problems)} of {len(report.checks)} checks failed", "red"))


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (healthy, unhealthy, checks[]).")
@click.option("--expiry-days", type=click.IntRange(min=1), default=EXPIRY_WARNING_DAYS, show_default=True,
              help="A certificate closer than this to expiry is unhealthy.")
@click.option("--recorded", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Report from recorded API responses in this folder instead of the live lab "
                   "(layout: see homelab.status.recorded).")
@pass_ctx
def command(ctx: Context, as_json: bool, expiry_days: int, recorded: Path | None) -> None:
    """Proxmox hosts and VMs, nodes, Flux, certificates, Longhorn, DNS and HTTPS routes; exit 1 if anything is unhealthy."""
    cfg = ctx.cfg
    try:
        src = recorded_sources(recorded) if recorded else live_sources(ctx)
    except (ValueError, KeyError) as exc:
        raise HomelabError.single(str(recorded), f"not a recorded status snapshot: {exc}") from None
    report = collect(cfg, src, expiry_days)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        print_table(report, Console(highlight=False, soft_wrap=False, emoji=False))
    sys.exit(0 if report.healthy else 1)
