"""What every command gets: the config path, the repository root, and the config loaded once on demand.

Without `--config` (or HOMELAB_CONFIG), homelab.yaml is found as git finds `.git`: in the working
directory or the nearest folder above it, so `homelab inventory` works from terraform/ too.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import click

from homelab import paths
from homelab.config import HomelabConfig, load_config
from homelab.findings import Finding


def find_config(start: Path | None = None) -> Path:
    """homelab.yaml in `start` (default: the working directory) or the nearest folder above it, as a path
    relative to `start` when it is above (`../homelab.yaml`); `homelab.yaml` when there is none (loading it
    then says "file not found" with a hint)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / paths.CONFIG_FILE).is_file():
            return Path(os.path.relpath(folder / paths.CONFIG_FILE, here)) if start is None else folder / paths.CONFIG_FILE
    return Path(paths.CONFIG_FILE)


class Context:
    def __init__(self, config: Path | None):
        self._explicit = config
        self._found: Path | None = None
        self._cfg: HomelabConfig | None = None

    @property
    def config_path(self) -> Path:
        if self._explicit is not None:
            return self._explicit
        if self._found is None:
            self._found = find_config()
        return self._found

    def use_config(self, config: Path) -> None:
        """`--config` given after the subcommand: it wins over the one before it and over discovery."""
        self._explicit, self._cfg = config, None

    @property
    def root(self) -> Path:
        """The repository root: the folder that holds homelab.yaml."""
        return self.config_path.resolve().parent

    def config_line(self, keys: Sequence[str | int]) -> int | None:
        """The line of a key of homelab.yaml (the deepest that exists)."""
        from homelab.yamlio import load_located

        doc, _ = load_located(self.config_path, display=str(self.config_path))
        return doc.line_of(keys)

    def placeholders(self) -> list[Finding]:
        """`site/placeholder` warnings for the example values homelab.yaml still holds."""
        from homelab.checks.rules.site import placeholder_findings

        return placeholder_findings(self.cfg, str(self.config_path), self.config_line)

    @property
    def cfg(self) -> HomelabConfig:
        if self._cfg is None:
            self._cfg = load_config(self.config_path)
        return self._cfg


def _use_config(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    if value is not None:
        ctx.ensure_object(Context).use_config(value)


CONFIG_HELP = "The site file [default: homelab.yaml here or in the nearest folder above]; the repository root is its folder."
# The same option on every subcommand, so `homelab check --config x.yaml` works as well as `homelab -c x.yaml check`.
config_option = click.option("-c", "--config", type=click.Path(dir_okay=False, path_type=Path), expose_value=False,
                             callback=_use_config, help=CONFIG_HELP)


def with_config_option(cmd: click.Command) -> click.Command:
    """Give `cmd` (and every subcommand of a group) the `--config` option, once."""
    if not any(p.name == "config" for p in cmd.params):
        config_option(cmd)
    for sub in getattr(cmd, "commands", {}).values():
        with_config_option(sub)
    return cmd


pass_ctx = click.make_pass_decorator(Context)
