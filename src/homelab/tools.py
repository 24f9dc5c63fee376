"""The one place that finds and runs external programs: timeouts, versions, clear 'not installed' errors."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from collections.abc import Callable
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
        # Output of any encoding is read: bytes that are not UTF-8 become U+FFFD, never an exception.
        proc = subprocess.run([exe, *argv[1:]], cwd=cwd, env=env, input=input, capture_output=True,
                              encoding="utf-8", errors="replace", timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise HomelabError.single(argv[0], f"`{' '.join(argv[:3])}` did not finish within {timeout:g}s") from None
    return Result(argv, proc.returncode, proc.stdout, proc.stderr)


def stream(argv: list[str], on_line: Callable[[str], None], *, cwd: Path | None = None,
           env: dict[str, str] | None = None, input: str | None = None, timeout: float = 60) -> int:
    """Run a long program (terraform apply, ansible-playbook), handing each output line to `on_line` as it comes.

    stdout and stderr are merged, as a person watching the terminal would see them. `input` is written
    to stdin and never echoed. Returns the exit code; a missing program is a HomelabError, and so is a
    program that closes its output but does not exit within `timeout` seconds.
    """
    exe = require(argv[0], f"to run `{' '.join(argv[:2])}`")
    # Its own process group (in the same session, so ssh can still reach the terminal): when homelab
    # is interrupted or terminated, the program and everything it started end with it.
    proc = subprocess.Popen([exe, *argv[1:]], cwd=cwd, env=env, encoding="utf-8", errors="replace", bufsize=1,
                            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, process_group=0)
    try:
        if input is not None:
            assert proc.stdin is not None
            proc.stdin.write(input)
            proc.stdin.close()
        assert proc.stdout is not None
        for line in proc.stdout:
            on_line(line.rstrip("\n"))
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _end_group(proc)
        raise HomelabError.single(argv[0], f"`{' '.join(argv[:3])}` did not finish within {timeout:g}s") from None
    except BaseException:
        _end_group(proc)
        raise


def _end_group(proc: subprocess.Popen[str], grace: float = 5) -> None:
    """SIGTERM to the program's process group, SIGKILL to what is left after `grace` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            break
        try:
            proc.wait(timeout=wait)
            if sig == signal.SIGTERM:
                os.killpg(proc.pid, signal.SIGKILL)  # children that outlived their parent
            break
        except subprocess.TimeoutExpired:
            continue
        except ProcessLookupError:
            break
    proc.wait()


def version(name: str, args: tuple[str, ...] | None = None) -> str | None:
    """The first x.y(.z) version a program prints for `args` (default: --version, then `version`), or None when absent.

    Cached per resolved path, so a different program of the same name found later on PATH is asked again.
    """
    path = which(name)
    return None if path is None else _version_at(path, args)


@lru_cache(maxsize=None)
def _version_at(path: str, args: tuple[str, ...] | None) -> str | None:
    for attempt in ([list(args)] if args else [["--version"], ["version"]]):
        try:
            res = run([path, *attempt], timeout=30)
        except HomelabError:
            return None
        m = re.search(r"(\d+\.\d+(?:\.\d+)?)", res.stdout + res.stderr)
        if res.ok and m:
            return m.group(1)
    return None
