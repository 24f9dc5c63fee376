"""`homelab plan`: validate, show the whole lab, and run the failure drills.

Exit codes: 2 for a bad homelab.yaml or bad options; 1 when the repository is not what it should be
(stale or missing glue files, errors from `homelab check`); drills are reported but do not fail the
command unless `--strict` is given, because a drill error describes a risk of a valid design (the
bundled seed placement loses etcd quorum with pve2 on purpose) rather than a broken repository.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from homelab import paths
from homelab.context import Context, pass_ctx

CHECK_CACHE = paths.CHECK_CACHE  # the file `homelab check` uses
PLAN_CACHE = paths.PLAN_CACHE


def _locator(ctx: Context):
    """file:line of a key path in homelab.yaml, parsing it (again, with lines) only when a finding asks."""
    doc = None

    def locate(path: tuple) -> tuple[str | None, int | None]:
        nonlocal doc
        if not path:
            return str(ctx.config_path), None
        if doc is None:
            from homelab.yamlio import load_located

            doc, _ = load_located(ctx.config_path, display=str(ctx.config_path))
        return doc.file, doc.line_of(path)

    return locate


def check_summary(ctx: Context, cache, *, pull: bool = False, offline: bool = False) -> dict:
    """`homelab check` as it runs by default (rules, and the excludes of [tool.homelab.check]), summarised:
    counts and the first findings."""
    from homelab.checks import Options, run_checks
    from homelab.checks.settings import configured_excludes

    report = run_checks(ctx.root, ctx.cfg, cache=cache, options=Options(exclude=configured_excludes(ctx.root),
                                                                        pull=pull, offline=offline),
                        config_file=ctx.config_path.name)
    errors = [f for f in report.findings if f.severity.value == "error"]
    warnings = [f for f in report.findings if f.severity.value == "warning"]
    return {"available": True, "errors": len(errors), "warnings": len(warnings), "waived": len(report.waived),
            "top": [{**f.to_dict(), "location": f.location} for f in (errors + warnings)[:5]]}


def validation(ctx: Context, cache, run_check: bool, *, pull: bool = False, offline: bool = False) -> dict:
    from homelab import render

    glue = [{"path": d.path, "state": d.state} for d in render.check(ctx.cfg, ctx.root)]
    check = check_summary(ctx, cache, pull=pull, offline=offline) if run_check else {"available": False, "reason": "skipped (--no-check)"}
    placeholders = [f.to_dict() for f in ctx.placeholders()]
    return {"config": "valid", "glue": glue, "check": check, "placeholders": placeholders}


@click.command("plan")
@click.option("-f", "--format", "fmt", type=click.Choice(["table", "json", "markdown"]), default="table", show_default=True,
              help="Rich tables for people, JSON (schema/plan.schema.json) or Markdown.")
@click.option("--diagram", "diagram_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write Mermaid diagrams (architecture, provisioning flow) into DIR; SVG too when mmdc is installed.")
@click.option("--strict", is_flag=True, help="Also exit 1 when a failure drill or the tree's budget finds an error.")
@click.option("--check/--no-check", "run_check", default=True, show_default=True,
              help="Include a summary of `homelab check` (its first run on a fresh clone scans every file; later runs are cached).")
@click.option("-v", "--verbose", is_flag=True, help="Show every drill answer, not only warnings and errors.")
@click.option("--pull", is_flag=True, help="Download charts missing from the cache from their own repositories.")
@click.option("--offline", is_flag=True, help="Never touch the network for charts (not even an http chart mirror).")
@pass_ctx
def command(ctx: Context, fmt: str, diagram_dir: Path | None, strict: bool, run_check: bool, verbose: bool,
            pull: bool, offline: bool) -> None:
    """Validate and show the whole lab: hosts, VMs, addresses, routes, storage, and failure drills.

    Exit 0 when the repository is valid (drill warnings and errors are reported), 1 when glue files
    are stale or `homelab check` finds errors (or, with --strict, when a drill finds an error),
    2 when homelab.yaml is invalid.
    """
    from homelab import plan as plan_mod
    from homelab.gitops import Cache
    from homelab.plan import tree as tree_mod

    cfg = ctx.cfg
    # With the check, one cache with `homelab check`: kustomize builds and YAML parses are shared and warm
    # after either ran. Without it, a cache of its own: saving drops unused entries, which would throw
    # away the check's (slow to rebuild) secret scans.
    cache = Cache(ctx.root / (CHECK_CACHE if run_check else PLAN_CACHE))
    if pull and offline:
        raise click.UsageError("--pull and --offline exclude each other")
    tree, workload = tree_mod.read(ctx.root, cfg, cache, pull=pull, offline=offline)
    checked = validation(ctx, cache, run_check, pull=pull, offline=offline)
    try:
        cache.save()
    except OSError:
        pass  # a read-only checkout still gets its plan, only slower next time
    report = plan_mod.build(cfg, ctx.root, config_file=str(ctx.config_path), locate=_locator(ctx),
                            validation=checked, workload=workload, tree=tree)
    if fmt == "json":
        click.echo(json.dumps(report, indent=2))
    elif fmt == "markdown":
        click.echo(plan_mod.output.markdown(report, verbose=verbose), nl=False)
    else:
        from rich.console import Console

        plan_mod.output.print_table(report, Console(highlight=False, soft_wrap=False, emoji=False), verbose=verbose)
    if diagram_dir is not None:
        from homelab.plan import mermaid

        for line in mermaid.write(report, cfg, diagram_dir):
            click.echo(line, err=True)
    v = report["validation"]
    summary = report["summary"]
    why = []
    if v["glue"]:
        why.append("glue files are stale (run `homelab render`)")
    if v["check"].get("available") and v["check"]["errors"]:
        why.append(f"`homelab check` found {v['check']['errors']} error(s)")
    if strict and (summary["drill_errors"] or summary["tree_errors"]):
        why.append("--strict: a drill or the resource budget found an error")
    if fmt == "table":
        click.echo(("exit 1: " + "; ".join(why)) if why else
                   "exit 0: the repository is valid" + ("" if strict or not summary["drill_errors"] else
                                                        " (drill errors are risks to weigh; --strict fails on them)"))
    if why:
        sys.exit(1)
