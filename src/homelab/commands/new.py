"""`homelab new app NAME`: scaffold the next application in the pattern of the example app.

The files come from `homelab.render.scaffold`; this command checks that the glue is current and
that nothing would be overwritten and that no object in the Flux tree already uses the name before
it writes anything (`render.write`, atomically).
"""

from __future__ import annotations

import click

from pathlib import Path

from homelab.config import HomelabConfig
from homelab.context import Context, pass_ctx
from homelab.errors import HomelabError, Problem, problem
from homelab.paths import FluxPaths
from homelab.render.flux import host_var
from homelab.render.scaffold import scaffold, with_app
from homelab.yamlio import DocInfo, declared_objects


def _claims_name(doc: DocInfo) -> bool:
    """Objects whose name a new app would take too: its Flux Kustomization, its Namespace, its
    HelmRelease (the chart names the app's Service and workload after it) and its Service."""
    if doc.kind == "Kustomization":
        return (doc.api_version or "").startswith("kustomize.toolkit.fluxcd.io/")
    return doc.kind in ("Namespace", "HelmRelease", "Service")


def collisions(root: Path, cfg: HomelabConfig, name: str) -> list[Problem]:
    """A problem per object in the Flux tree that already uses `name`, at its file and line."""
    found = []
    for path, doc in declared_objects(root / FluxPaths.of(cfg).cluster):
        if doc.name == name and _claims_name(doc):
            what = f"{doc.kind} {doc.namespace}/{doc.name}" if doc.namespace else f"{doc.kind} {doc.name}"
            found.append(problem(path.relative_to(root).as_posix(), f"{what} already uses the name '{name}'; an app of "
                                 "that name would clash with it", line=doc.line,
                                 hint=f"pick another name, declared under services in homelab.yaml; '{name}' is "
                                 "part of the lab already"))
    return found


@click.group("new")
def command() -> None:
    """Scaffold new parts of the lab in the repository's own patterns."""


@command.command("app")
@click.argument("name")
@click.option("--image", required=True, metavar="REPO:TAG", help="Container image with an explicit tag, e.g. ghcr.io/owner/app:1.2.3.")
@click.option("--port", type=click.IntRange(1, 65535), default=80, show_default=True, help="The port the app listens on.")
@pass_ctx
def app(ctx: Context, name: str, image: str, port: int) -> None:
    """Scaffold apps/NAME in the example app's pattern (NAME must be a service in homelab.yaml)."""
    from homelab import render

    from homelab.yamlio import load_located

    cfg = ctx.cfg
    doc, _ = load_located(ctx.config_path)
    files = scaffold(cfg, name, image, port, str(ctx.config_path), doc.line_of(["services"]))
    where = FluxPaths.of(cfg)
    settings_path = where.cluster_settings
    if any(d.path == settings_path for d in render.check(cfg, ctx.root)):
        raise HomelabError.single(settings_path, f"is not current, so ${{{host_var(name)}}} may be missing",
                                  hint="run `homelab render` first")
    app_dir = ctx.root / where.app(name)
    if app_dir.exists():
        raise HomelabError.single(str(app_dir.relative_to(ctx.root)), "already exists; refusing to overwrite it",
                                  hint="remove it first, or pick another name")
    taken = collisions(ctx.root, cfg, name)
    if taken:
        raise HomelabError(taken)
    kustomization = ctx.root / where.apps_kustomization
    if not kustomization.is_file():
        raise HomelabError.single(str(kustomization.relative_to(ctx.root)), "is missing", hint="restore it from Git")
    files[where.apps_kustomization] = with_app(kustomization, name)
    for rel in render.write(files, ctx.root):
        click.echo(f"wrote {rel}")
    click.echo(f"next: check image and port in {where.app(name)}/app/helmrelease.yaml, commit and push; "
               f"Flux serves it at https://{cfg.fqdn(name)}")
