"""`homelab charts pull`: fetch every chart the Flux tree installs into the chart cache."""

from __future__ import annotations

import sys

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from homelab import paths, terminal
from homelab.context import Context, pass_ctx


@click.group("charts")
def command() -> None:
    """Helm charts the Flux tree installs, kept in the chart cache for offline checks and plans."""


@command.command("pull")
@click.option("--offline", is_flag=True,
              help="Make no network request: report what the cache (and a directory mirror) lacks.")
@pass_ctx
def pull(ctx: Context, offline: bool) -> None:
    """Fetch every chart the Flux tree installs into the chart cache.

    Each pinned chart is looked up in the cache, then in HOMELAB_CHART_MIRROR when it is set (a
    folder or an http(s) URL that stands in for every repository), else in its own repository, and
    checked against the repository's digest before it is stored. Exit 0 when every chart is in the
    cache afterwards, 1 when any could not be had (each is listed with the reason).
    """
    from homelab.charts import ChartArchive, ChartCache, Session, fetch
    from homelab.gitops import Cache, ChartSpec, load_tree

    cache = Cache(ctx.root / paths.CHECK_CACHE)
    tree = load_tree(ctx.root, ctx.cfg, cache=cache)
    cache.save()
    wanted: dict[tuple[str, str, str], tuple[ChartSpec, list[str]]] = {}
    missing: list[tuple[str, str]] = []
    for hr in tree.helm_releases():
        spec = tree.chart_of(hr)
        if spec is None:
            missing.append((f"{hr} ({hr.file}:{hr.line})",
                            "its chart source (HelmRepository or OCIRepository) is not in the tree or has no URL"))
            continue
        wanted.setdefault((spec.repo, spec.name, spec.version), (spec, []))[1].append(f"{hr.namespace}/{hr.name}")

    ChartCache().sweep()
    counts = {"cache": 0, "fetched": 0}
    lines: list[str] = []
    console = terminal.console(stderr=True)
    with Session(offline=offline) as session, Progress(
            TextColumn("{task.description:<40}"), BarColumn(), MofNCompleteColumn(),
            console=console, transient=True) as progress:
        task = progress.add_task("charts", total=len(wanted))
        for spec, releases in wanted.values():
            progress.update(task, description=f"{spec.name} {spec.version}")
            got = fetch(spec, download=not offline, offline=offline, session=session)
            progress.advance(task)
            if isinstance(got, ChartArchive):
                state = "cached" if got.origin == "cache" else "fetched"
                counts["cache" if state == "cached" else "fetched"] += 1
                source = "" if state == "cached" else f" from {got.origin}"
                lines.append(f"{state:<8} {spec}{source}")
            else:
                missing.append((f"{spec} for {', '.join(releases)}", got.reason))
    for line in lines:
        click.echo(line)
    for what, reason in missing:
        click.echo(f"missing  {what}: {reason}")
    click.echo(f"{len(wanted)} chart(s): {counts['cache']} already cached, {counts['fetched']} fetched, "
               f"{len(missing)} unavailable")
    sys.exit(1 if missing else 0)
