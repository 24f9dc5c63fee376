"""The `homelab` command line: a thin layer over the library.

Every command takes `--config` (default ./homelab.yaml); the repository root is the folder that
holds it. Bad input raises HomelabError, which is printed as `file:line: message` lines on stderr
with exit code 2 — never a traceback.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import click

from homelab import __version__
from homelab.config import json_schema
from homelab.context import CONFIG_HELP, Context, pass_ctx, with_config_option
from homelab.errors import HomelabError
from homelab.runlock import Terminated
from homelab.terminal import messages, problem_line

err_console = messages()

# Commands that live in their own modules under homelab.commands; each exposes `command`
# (a click command using `homelab.context.pass_ctx`). Add one name per line. They are imported
# only when invoked: `homelab check` in a pre-commit hook must not pay for the Kubernetes,
# Proxmox and HTTP clients that `status` and `up` need.
COMMAND_MODULES: list[str] = [
    "check",
    "charts",
    "plan",
    "diff",
    "inventory",
    "new",
    "up",
    "status",
    "destroy",
]


class LazyGroup(click.Group):
    """click's documented pattern for lazily loaded subcommands."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *COMMAND_MODULES])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMAND_MODULES:
            return with_config_option(importlib.import_module(f"homelab.commands.{cmd_name}").command)
        cmd = super().get_command(ctx, cmd_name)
        return with_config_option(cmd) if cmd is not None else None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="homelab")
@click.option("-c", "--config", type=click.Path(dir_okay=False, path_type=Path), default=None, envvar="HOMELAB_CONFIG",
              help=CONFIG_HELP)
@click.pass_context
def cli(ctx: click.Context, config: Path | None) -> None:
    """homelab: one config file, generated glue, offline checks and plans for a Proxmox + K3s + Flux lab."""
    ctx.obj = Context(config)


@cli.command()
@pass_ctx
def validate(ctx: Context) -> None:
    """Validate homelab.yaml (types, unknown keys, addresses, placement, capacity)."""
    cfg = ctx.cfg
    click.echo(f"{ctx.config_path}: valid ({len(cfg.k3s.nodes)} K3s nodes on {len(cfg.proxmox.hosts)} Proxmox hosts, "
               f"{len(cfg.services)} services)")
    for f in ctx.placeholders():
        click.echo(f"warning: {f} [{f.rule}]", err=True)


@cli.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to a file instead of stdout.")
def schema(output: Path | None) -> None:
    """Print the JSON Schema of homelab.yaml (the committed copy is schema/homelab.schema.json)."""
    text = json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
    if output:
        from homelab.atomicfile import write_atomic

        write_atomic(output, text)
    else:
        click.echo(text, nl=False)


@cli.command()
@click.option("--check", is_flag=True, help="Write nothing; exit 1 and name every missing, stale or hand-edited glue file.")
@pass_ctx
def render(ctx: Context, check: bool) -> None:
    """Write the glue files (tfvars, group_vars, cluster-settings, pkrvars) from homelab.yaml."""
    from homelab import render as r

    cfg = ctx.cfg
    if check:
        drift = r.check(cfg, ctx.root)
        for d in drift:
            where = f"{d.path}:{d.line}" if d.line else d.path
            click.echo(f"{where}: {d.state}; run `homelab render` (never edit glue files by hand)", err=True)
        if drift:
            sys.exit(1)
        click.echo("glue files are current")
        return
    from homelab.runlock import exclusive_run

    with exclusive_run(ctx.root, "homelab render"):
        changed = r.write(r.render_all(cfg), ctx.root)
    for rel in changed:
        click.echo(f"wrote {rel}")
    if not changed:
        click.echo("glue files are current; nothing written")


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except HomelabError as exc:
        for problem in exc.problems:
            problem_line(err_console, "error:", "bold red", str(problem))
        sys.exit(2)
    except click.exceptions.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except OSError as exc:  # a file system fault no command anticipated: still one line, exit 2
        where = exc.filename or "homelab"
        problem_line(err_console, "error:", "bold red", f"{where}: {exc.strerror or exc}")
        sys.exit(2)
    except Terminated as exc:  # SIGTERM/SIGHUP while a run held the lock: its cleanup has run
        err_console.print(f"terminated by {exc.name}")
        sys.exit(exc.exit_code)
