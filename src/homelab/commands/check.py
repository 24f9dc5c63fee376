"""`homelab check`: validate the whole repository offline, as Flux, Kubernetes and our rules would."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from homelab import paths, terminal
from homelab.checks.settings import configured_excludes
from homelab.context import Context, pass_ctx
from homelab.errors import HomelabError
from homelab.atomicfile import write_atomic

CACHE_FILE = paths.CHECK_CACHE


@click.command("check")
@click.option("-f", "--format", "fmt", type=click.Choice(["text", "json", "sarif"]), default="text", show_default=True,
              help="Report format.")
@click.option("-s", "--select", multiple=True, metavar="RULES",
              help="Only these rules: ids, families (`flux`) or globs (`exposure/*`); comma-separated or repeated.")
@click.option("-i", "--ignore", multiple=True, metavar="RULES", help="Skip these rules (same forms as --select).")
@click.option("--schemas", type=click.Path(file_okay=False, path_type=Path), envvar="HOMELAB_CRD_SCHEMAS",
              help="CRD JSON schemas laid out <group>/<kind>_<version>.json [default: schema/crds in the repository].")
@click.option("--kubernetes-version", metavar="X.Y", help="Validate against this Kubernetes minor "
              "[default: from k3s.version in homelab.yaml].")
@click.option("--infra/--no-infra", default=False, show_default=True,
              help="Also run terraform fmt, ansible-lint and yamllint (slow; each only when installed).")
@click.option("-x", "--exclude", multiple=True, metavar="GLOB",
              help="Repository files the file rules (yaml, secrets, waivers) skip, e.g. 'tests/fixtures/*'; "
                   "added to [tool.homelab.check] exclude in pyproject.toml.")
@click.option("--pull", is_flag=True, help="Download charts missing from the cache from their own repositories "
              "(otherwise only the cache and HOMELAB_CHART_MIRROR are read).")
@click.option("--offline", is_flag=True, help="Never touch the network for charts (not even an http chart mirror).")
@click.option("--no-cache", is_flag=True, help="Ignore and do not write .homelab/cache.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write the report to a file (text: one line per finding).")
@click.option("--list-rules", is_flag=True, help="List every finding id (id, default severity, the command that reports it) and exit.")
@terminal.wide_option
@pass_ctx
def command(ctx: Context, fmt: str, select: tuple[str, ...], ignore: tuple[str, ...], schemas: Path | None,
            kubernetes_version: str | None, infra: bool, exclude: tuple[str, ...], pull: bool, offline: bool,
            no_cache: bool, output: Path | None, list_rules: bool, wide: bool) -> None:
    """Validate the repository offline: Flux tree, schemas, secrets, exposure, site agreement.

    Exit 0 when clean, 1 on findings, 2 on usage or config errors. Waive one finding with a comment
    `# homelab: ignore[rule/id] reason` on its line or the line above; waivers need a reason and are
    listed in the report.
    """
    from homelab.checks import Options, run_checks
    from homelab.checks import report as rep
    from homelab.registry import all_rules, expand
    from homelab.gitops import Cache

    # Text fits the screen; a file (-o) gets one line per finding, like --wide.
    width = None if output else terminal.width(wide=wide)
    if list_rules:
        click.echo(rep.rule_list(all_rules().values(), width), nl=False)
        return
    sel, ign = expand(select), expand(ignore)
    if pull and offline:
        raise HomelabError.single("--pull/--offline", "--pull and --offline exclude each other",
                                  hint="pass one of them")
    if schemas is not None and not schemas.is_dir():
        raise HomelabError.single(str(schemas), "--schemas: folder not found",
                                  hint="point it at a folder laid out <group>/<kind>_<version>.json")
    if kubernetes_version is not None and not __import__("re").match(r"^v?\d+\.\d+(\.\d+)?$", kubernetes_version):
        raise HomelabError.single("--kubernetes-version", f"'{kubernetes_version}' is not a version like 1.36")
    cfg = ctx.cfg
    cache = Cache(None if no_cache else ctx.root / CACHE_FILE)
    report = run_checks(ctx.root, cfg, select=sel, ignore=ign, cache=cache, config_file=ctx.config_path.name,
                        options=Options(schemas=schemas.resolve() if schemas else None,
                                        kubernetes_version=kubernetes_version, infra=infra, pull=pull, offline=offline,
                                        exclude=configured_excludes(ctx.root) + exclude))
    cache.save()
    text = rep.text(report, width) if fmt == "text" else {"json": rep.to_json, "sarif": rep.to_sarif}[fmt](report)
    if output:
        write_atomic(output, text)
    else:
        click.echo(text, nl=False)
    sys.exit(report.exit_code)
