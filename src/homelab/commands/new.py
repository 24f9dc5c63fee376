"""`homelab new app NAME`: scaffold the next application in the pattern of the example app.

The files come from `homelab.render.scaffold`; this command checks that the glue is current and
that nothing would be overwritten before it writes anything (`render.write`, atomically).
"""

from __future__ import annotations

import click

from homelab.context import Context, pass_ctx
from homelab.errors import HomelabError
from homelab.paths import FluxPaths
from homelab.render.flux import host_var
from homelab.render.scaffold import scaffold, with_app


@click.group("new")
def command() -> None:
    """Scaffold new parts of the lab in the repository's own patterns."""


@command.command("app")
@click.argument("name")
@click.option("--image", required=True, help="Container image with an explicit tag, e.g. ghcr.io/owner/app:1.2.3.")
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
    kustomization = ctx.root / where.apps_kustomization
    if not kustomization.is_file():
        raise HomelabError.single(str(kustomization.relative_to(ctx.root)), "is missing", hint="restore it from Git")
    files[where.apps_kustomization] = with_app(kustomization, name)
    for rel in render.write(files, ctx.root):
        click.echo(f"wrote {rel}")
    click.echo(f"next: check image and port in {where.app(name)}/app/helmrelease.yaml, commit and push; "
               f"Flux serves it at https://{cfg.fqdn(name)}")
