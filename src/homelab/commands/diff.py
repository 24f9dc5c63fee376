"""`homelab diff [REF]`: the objects that would change in the cluster between REF and the working tree."""

from __future__ import annotations

from pathlib import Path

import click

from homelab import paths
from homelab.atomicfile import write_atomic
from homelab.context import Context, pass_ctx
from homelab.errors import HomelabError


@click.command("diff")
@click.argument("ref", required=False)
@click.option("-f", "--format", "fmt", type=click.Choice(["text", "markdown"]), default="text", show_default=True,
              help="Report format (markdown: for a pull-request comment).")
@click.option("-U", "--context", "context", type=click.IntRange(0, 100), default=3, show_default=True,
              help="Lines of context around each change.")
@click.option("--charts/--no-charts", "charts", default=True, show_default=True,
              help="Also compare the objects each HelmRelease's chart renders (charts from the cache or the mirror).")
@click.option("--pull", is_flag=True, help="Download the charts of both trees that are not in the cache.")
@click.option("--offline", is_flag=True, help="Make no network request, not even to an http(s) chart mirror.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write the report to a file.")
@pass_ctx
def command(ctx: Context, ref: str | None, fmt: str, context: int, charts: bool, pull: bool, offline: bool,
            output: Path | None) -> None:
    """Show what would change in the cluster between REF and the working tree.

    REF defaults to the merge base of HEAD with the default branch. Both trees are read as Flux
    would (kustomize builds, postBuild substitution) and compared object by object per Flux
    Kustomization, then each HelmRelease's chart is rendered on both sides and its objects compared
    too, as unified YAML diffs; Secret data and credential-like values are masked. Exit 0 whether
    or not anything changed (it is a report), 2 on a bad REF.
    """
    from homelab import diff as d
    from homelab.charts.releases import Charts, kube_version, render_tree
    from homelab.config import load_config
    from homelab.gitops import Cache, load_tree

    cfg = ctx.cfg
    base, label = d.resolve_base(ctx.root, ref)
    cache = Cache(ctx.root / paths.CHECK_CACHE)
    new = load_tree(ctx.root, cfg, cache=cache)
    rendered: dict[str, Charts] = {}
    if charts:
        rendered["new"] = render_tree(new, kube_version=kube_version(cfg.k3s.version), cache=cache,
                                      download=pull, offline=offline)
    with d.checked_out(ctx.root, base) as old_root:
        try:
            old_cfg = load_config(old_root / ctx.config_path.name)
        except HomelabError:
            old_cfg = None  # the ref's homelab.yaml is older or broken: the tree is still read (default paths)
        old = load_tree(old_root, old_cfg, cache=cache)
        if charts:
            k3s = old_cfg.k3s.version if old_cfg is not None else cfg.k3s.version
            rendered["old"] = render_tree(old, kube_version=kube_version(k3s), cache=cache, download=pull, offline=offline)
    cache.save()
    diff = d.compare(old, new, base, label, old_charts=rendered.get("old"), new_charts=rendered.get("new"),
                     context=context)
    report = (d.markdown if fmt == "markdown" else d.text)(diff)
    if output:
        write_atomic(output, report)
    else:
        click.echo(report, nl=False)
