"""`homelab plan`: validate, show the whole lab, and run the failure drills.

Exit codes: 2 for a bad homelab.yaml or bad options; 1 when the repository is not what it should be
(stale or missing glue files, errors from `homelab check`); drills are reported but do not fail the
command unless `--strict` is given, because a drill error describes a risk of a valid design (the
bundled placement loses etcd quorum with pve2 on purpose) rather than a broken repository.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from homelab import paths, terminal
from homelab.context import Context, pass_ctx

if TYPE_CHECKING:
    from collections.abc import Callable

    from rich.console import Console

    from homelab.charts.releases import Charts
    from homelab.gitops import Cache, FluxTree
    from homelab.plan.model import CheckSummary, Plan, Validation

CHECK_CACHE = paths.CHECK_CACHE  # the file `homelab check` uses
PLAN_CACHE = paths.PLAN_CACHE


def _locator(ctx: Context) -> Callable[[tuple], tuple[str | None, int | None]]:
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


def check_summary(ctx: Context, cache: Cache, *, pull: bool = False, offline: bool = False,
                  given: tuple[FluxTree, Charts] | None = None) -> CheckSummary:
    """`homelab check` as it runs by default (rules, and the excludes of [tool.homelab.check]), summarised:
    counts and the first findings. `given`: the tree and charts the plan already read (not read again)."""
    from homelab.checks import Options, run_checks
    from homelab.checks.settings import configured_excludes
    from homelab.plan.model import CheckFindingRow, CheckSummary, FindingRow

    report = run_checks(ctx.root, ctx.cfg, cache=cache, options=Options(exclude=configured_excludes(ctx.root),
                                                                        pull=pull, offline=offline),
                        config_file=ctx.config_path.name, given=given)
    errors = [f for f in report.findings if f.severity.value == "error"]
    warnings = [f for f in report.findings if f.severity.value == "warning"]
    return CheckSummary(errors=len(errors), warnings=len(warnings), waived=len(report.waived),
                        top=[CheckFindingRow(**FindingRow.of(f).model_dump(), location=f.location) for f in (errors + warnings)[:5]])


def validation(ctx: Context, cache: Cache, run_check: bool, *, pull: bool = False, offline: bool = False,
               given: tuple[FluxTree, Charts] | None = None) -> Validation:
    from homelab import render
    from homelab.plan.model import FindingRow, GlueDrift, Unavailable, Validation

    glue = [GlueDrift(path=d.path, state=d.state) for d in render.check(ctx.cfg, ctx.root)]
    check = (check_summary(ctx, cache, pull=pull, offline=offline, given=given) if run_check
             else Unavailable(reason="skipped (--no-check)"))
    placeholders = [FindingRow.of(f) for f in ctx.placeholders()]
    return Validation(glue=glue, check=check, placeholders=placeholders)


@click.command("plan")
@click.option("-f", "--format", "fmt", type=click.Choice(["table", "json", "markdown", "html"]), default="table",
              show_default=True,
              help="Tables for people, JSON (schema/plan.schema.json), Markdown, or one self-contained HTML page.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the plan into FILE instead of printing it (the way to get the HTML page).")
@click.option("--diagram", "diagram_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write Mermaid diagrams (architecture, provisioning flow) into DIR; SVG too when mmdc is installed.")
@click.option("--strict", is_flag=True, help="Also exit 1 when a failure drill or the tree's budget finds an error.")
@click.option("--check/--no-check", "run_check", default=True, show_default=True,
              help="Include a summary of `homelab check` (its first run on a fresh clone scans every file; later runs are cached).")
@click.option("-v", "--verbose", is_flag=True, help="Show every drill answer, not only warnings and errors.")
@terminal.wide_option
@click.option("--schema", "print_schema", is_flag=True,
              help="Print the JSON Schema of `--format json` (the committed copy is schema/plan.schema.json) and exit.")
@click.option("--pull", is_flag=True, help="Download charts missing from the cache from their own repositories.")
@click.option("--offline", is_flag=True, help="Never touch the network for charts (not even an http chart mirror).")
@pass_ctx
def command(ctx: Context, fmt: str, output: Path | None, diagram_dir: Path | None, strict: bool, run_check: bool,
            verbose: bool, wide: bool, print_schema: bool, pull: bool, offline: bool) -> None:
    """Validate and show the whole lab: hosts, VMs, addresses, routes, storage, and failure drills.

    Exit 0 when the repository is valid (drill warnings and errors are reported), 1 when glue files
    are stale or `homelab check` finds errors (or, with --strict, when a drill finds an error),
    2 when homelab.yaml is invalid.
    """
    if print_schema:
        from homelab.plan.model import json_schema

        click.echo(json.dumps(json_schema(), indent=2, sort_keys=True))
        return
    from homelab import plan as plan_mod
    from homelab.gitops import Cache
    from homelab.plan import tree as tree_mod
    from homelab.plan.model import Unavailable

    cfg = ctx.cfg
    # With the check, one cache with `homelab check`: kustomize builds and YAML parses are shared and warm
    # after either ran. Without it, a cache of its own: saving drops unused entries, which would throw
    # away the check's (slow to rebuild) secret scans.
    cache = Cache(ctx.root / (CHECK_CACHE if run_check else PLAN_CACHE))
    if pull and offline:
        raise click.UsageError("--pull and --offline exclude each other")
    loaded = tree_mod.load(ctx.root, cfg, cache, pull=pull, offline=offline)
    tree, workload = tree_mod.section(loaded, cfg)
    checked = validation(ctx, cache, run_check, pull=pull, offline=offline,
                         given=None if isinstance(loaded, Unavailable) else loaded)
    try:
        cache.save()
    except OSError:
        pass  # a read-only checkout still gets its plan, only slower next time
    report = plan_mod.build(cfg, ctx.root, config_file=str(ctx.config_path), locate=_locator(ctx),
                            validation=checked, workload=workload, tree=tree)
    if fmt == "table":
        console = terminal.console(wide=wide)
        text = _table(report, console, capture=output is not None, verbose=verbose)
    else:
        text = _document(report, ctx, fmt, output, verbose=verbose)
    if text is not None:
        _deliver(text, output)
    if diagram_dir is not None:
        from homelab.plan import mermaid

        for line in mermaid.write(report, cfg, diagram_dir):
            click.echo(line, err=True)
    why = _exit_reasons(report, strict)
    if fmt == "table" and output is None:
        _print_verdict(console, why, strict, report)
    if why:
        sys.exit(1)


def _table(report: Plan, console: Console, *, capture: bool, verbose: bool) -> str | None:
    """The plan's tables: printed to the terminal, or (`capture`) returned as text for a file."""
    from homelab.plan import output as views

    if not capture:
        views.print_table(report, console, verbose=verbose)
        return None
    with console.capture() as captured:
        views.print_table(report, console, verbose=verbose)
    return captured.get()


def _document(report: Plan, ctx: Context, fmt: str, output: Path | None, *, verbose: bool) -> str:
    """The plan as JSON, Markdown, or an HTML page (its finding links relative to the folder it is written to)."""
    if fmt == "json":
        return json.dumps(report.model_dump(mode="json"), indent=2) + "\n"
    if fmt == "markdown":
        from homelab.plan import output as views

        return views.markdown(report, verbose=verbose)
    from homelab.plan import html

    return html.page(report, ctx.cfg, root=ctx.root, out_dir=(output.parent if output else Path.cwd()).resolve(),
                     verbose=verbose)


def _deliver(text: str, output: Path | None) -> None:
    """Print the plan, or write it into `output` whole."""
    if output is None:
        click.echo(text, nl=False)
        return
    from homelab.atomicfile import write_atomic
    from homelab.errors import HomelabError

    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(output, text)  # a failed run leaves no half-written page
    except OSError as exc:
        raise HomelabError.single(str(output), f"cannot write the plan: {exc.strerror}",
                                  hint="choose a folder you can write to") from None
    click.echo(f"wrote {output}", err=True)


def _exit_reasons(report: Plan, strict: bool) -> list[str]:
    """Why the command exits 1; empty when it exits 0."""
    v, summary = report.validation, report.summary
    why = []
    if v.glue:
        why.append("glue files are stale (run `homelab render`)")
    if v.check.available and v.check.errors:
        why.append(f"`homelab check` found {v.check.errors} error(s)")
    if strict and (summary.drill_errors or summary.tree_errors):
        why.append("--strict: a drill or the resource budget found an error")
    return why


def _print_verdict(console: Console, why: list[str], strict: bool, report: Plan) -> None:
    from rich.text import Text

    console.print(Text(("exit 1: " + "; ".join(why)) if why else
                       "exit 0: the repository is valid" + ("" if strict or not report.summary.drill_errors else
                                                            " (drill errors are risks to weigh; --strict fails on them)")))
