"""Runs a stage's programs through `homelab.tools`: echoed (secrets masked), logged per stage, or only printed.

The one rule here: nothing reaches the console or `.homelab/logs/<stage>.log` without passing the
Masker. Data a program reads on stdin (the Bitwarden token Secret) is never echoed or logged; only
a note saying what was sent.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

import click
from rich.console import Console
from rich.text import Text

from homelab import tools
from homelab.errors import HomelabError
from homelab.atomicfile import private_dir
from homelab.clients.masking import Masker


class StageFailed(HomelabError):
    """A stage could not finish; the message names the command and its log. Exit code 1, not 2."""


class Runner:
    def __init__(self, root: Path, log_dir: Path, console: Console, *, env: Mapping[str, str] | None = None,
                 dry_run: bool = False, yes: bool = False):
        self.root = root
        self.log_dir = log_dir
        self.console = console
        self.env = dict(os.environ if env is None else env)
        self.mask = Masker(self.env)
        self.dry_run = dry_run
        self.yes = yes
        self.stage = "homelab"
        self._log: IO[str] | None = None

    # -- per-stage log -------------------------------------------------------------------------
    def begin(self, stage: str) -> None:
        self.end()
        self.stage = stage
        if self.dry_run:
            return
        # logs hold commands and their output: private, even with every secret masked
        private_dir(self.log_dir.parent)
        private_dir(self.log_dir)
        fd = os.open(self.log_dir / f"{stage}.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.fchmod(fd, 0o600)
        self._log = os.fdopen(fd, "a", encoding="utf-8")
        self.log(f"=== {stage} started {datetime.now(timezone.utc):%Y-%m-%dT%H:%M:%SZ}")

    def end(self) -> None:
        if self._log:
            self._log.close()
            self._log = None

    @property
    def log_path(self) -> str:
        return (self.log_dir / f"{self.stage}.log").relative_to(self.root).as_posix()

    def log(self, text: str) -> None:
        if self._log:
            self._log.write(self.mask(text) + "\n")
            self._log.flush()

    def say(self, text: str, style: str = "") -> None:
        """Print and log one line (masked)."""
        line = self.mask(text)
        self.console.print(Text(line, style=style), highlight=False)
        self.log(line)

    # -- programs ------------------------------------------------------------------------------
    def _cwd(self, cwd: str | None) -> Path:
        return self.root / cwd if cwd else self.root

    def _echo(self, argv: list[str], cwd: str | None, stdin_note: str | None) -> None:
        where = f"(cd {cwd} && " if cwd else ""
        line = f"$ {where}{self.mask.argv(argv)}{')' if cwd else ''}"
        if stdin_note:
            line += f" < {stdin_note}"
        self.say(line, "bold")

    def run(self, argv: list[str], *, cwd: str | None = None, input: str | None = None,
            stdin_note: str | None = None, ok_codes: tuple[int, ...] = (0,)) -> int:
        """Run a program, streaming its masked output to the console and the stage log.

        In a dry run only the command is printed, and the first accepted exit code is returned.
        """
        self._echo(argv, cwd, stdin_note if input is not None else None)
        if self.dry_run:
            return ok_codes[0]
        code = tools.stream(argv, self._line, cwd=self._cwd(cwd), env=self.env, input=input)
        if code not in ok_codes:
            raise StageFailed.single(self.stage, f"`{self.mask.argv(argv)}` exited with code {code}",
                                     hint=f"read {self.log_path}, fix the cause and run `homelab up` again")
        return code

    def capture(self, argv: list[str], *, cwd: str | None = None, quiet: bool = False) -> tools.Result:
        """Run a read-only program and return its output (logged masked; echoed unless quiet)."""
        if not quiet:
            self._echo(argv, cwd, None)
        else:
            self.log(f"$ {self.mask.argv(argv)}")
        res = tools.run(argv, cwd=self._cwd(cwd), env=self.env, timeout=120)
        for line in (res.stdout + res.stderr).splitlines():
            self.log(line)
        return res

    def _line(self, line: str) -> None:
        line = self.mask(line)
        self.console.print(Text(f"  {line}"), highlight=False)
        self.log(line)

    def confirm(self, question: str) -> None:
        """Ask before a change; --yes and --dry-run answer for the user. No means stop here."""
        if self.yes or self.dry_run:
            return
        if not click.confirm(question, default=False):
            raise StageFailed.single(self.stage, "not confirmed; nothing was changed",
                                     hint="run `homelab up` again when ready, or pass --yes")
