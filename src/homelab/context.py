"""What every command gets: the config path, the repository root, and the config loaded once on demand."""

from __future__ import annotations

from pathlib import Path

import click

from homelab.config import HomelabConfig, load_config


class Context:
    def __init__(self, config: Path):
        self.config_path = config
        self._cfg: HomelabConfig | None = None

    @property
    def root(self) -> Path:
        """The repository root: the folder that holds homelab.yaml."""
        return self.config_path.resolve().parent

    @property
    def cfg(self) -> HomelabConfig:
        if self._cfg is None:
            self._cfg = load_config(self.config_path)
        return self._cfg


pass_ctx = click.make_pass_decorator(Context)
