"""What every command gets: the config path, the repository root, and the config loaded once on demand."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from homelab.config import HomelabConfig, load_config
from homelab.findings import Finding


class Context:
    def __init__(self, config: Path):
        self.config_path = config
        self._cfg: HomelabConfig | None = None

    @property
    def root(self) -> Path:
        """The repository root: the folder that holds homelab.yaml."""
        return self.config_path.resolve().parent

    def config_line(self, keys: Sequence[str | int]) -> int | None:
        """The line of a key of homelab.yaml (the deepest that exists)."""
        from homelab.yamlsrc import load_located

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


pass_ctx = click.make_pass_decorator(Context)
