"""The one place that finds and runs external programs: timeouts, versions, clear 'not installed' errors."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from homelab.errors import HomelabError


class ToolMissing(HomelabError):
    pass


@dataclass(frozen=True)
class Result:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def which(name: str) -> str | None:
    return shutil.which(name)


def require(name: str, purpose: str) -> str:
    path = which(name)
    if path is None:
        raise ToolMissing.single(name, f"'{name}' is not installed; it is needed {purpose}",
                                 hint=f"install {name} and make sure it is on PATH")
    return path


def run(argv: list[str], *, cwd: Path | None = None, timeout: float = 600, env: dict[str, str] | None = None,
        input: str | None = None) -> Result:
    """Run a program and capture its output; a missing program or a timeout is a HomelabError."""
    exe = require(argv[0], f"to run `{' '.join(argv[:2])}`")
    try:
        proc = subprocess.run([exe, *argv[1:]], cwd=cwd, env=env, input=input, capture_output=True,
                              text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise HomelabError.single(argv[0], f"`{' '.join(argv[:3])}` did not finish within {timeout:g}s") from None
    return Result(argv, proc.returncode, proc.stdout, proc.stderr)


@lru_cache(maxsize=None)
def version(name: str) -> str | None:
    """The first x.y(.z) version a program prints for --version (or `version`), or None when absent."""
    if which(name) is None:
        return None
    for args in (["--version"], ["version"]):
        try:
            res = run([name, *args], timeout=30)
        except HomelabError:
            return None
        m = re.search(r"(\d+\.\d+(?:\.\d+)?)", res.stdout + res.stderr)
        if res.ok and m:
            return m.group(1)
    return None
