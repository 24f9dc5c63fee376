"""One run at a time: commands that change the lab or the repository hold a lock on `.homelab/`.

`homelab up`, `destroy`, `render` and `inventory` take `exclusive_run(root, command)`. A second run
is refused at once with a message naming the holder (pid, command, since when) instead of racing
the first for state.json, the saved Terraform plan and the glue files. The lock is an flock on
`.homelab/lock`, so it is released by the kernel when its holder dies, however it dies; the file's
content only says who holds it.

While the lock is held, SIGTERM and SIGHUP raise `Terminated` in the main thread, so every
`finally` runs: the running program's process group is ended (homelab.tools.stream), the stage is
recorded as failed, the saved plan is removed and a half-done write is rolled back.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from types import FrameType

from homelab.errors import HomelabError
from homelab.atomicfile import private_dir, recover

LOCK = ".homelab/lock"
HANDLED = (signal.SIGTERM, signal.SIGHUP)


class Terminated(BaseException):
    """The run was asked to stop by a signal (BaseException: no `except Exception` swallows it)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def _raise(signum: int, _frame: FrameType | None) -> None:
    raise Terminated(signum)


def holder(root: Path) -> dict[str, object] | None:
    """Who holds the lock, as it wrote itself into the lock file (None when unreadable)."""
    try:
        info = json.loads((root / LOCK).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


@contextmanager
def exclusive_run(root: Path, command: str) -> Iterator[None]:
    """Hold the lock on `.homelab/` for `command`; refuse when another run holds it."""
    try:
        private_dir(root / ".homelab")
        fd = os.open(root / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise HomelabError.single(LOCK, f"cannot create the lock: {exc.strerror}",
                                  hint="make .homelab/ writable") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            info = holder(root) or {}
            who = f"pid {info.get('pid', '?')} (`{info.get('command', 'homelab')}`, since {info.get('since', '?')})"
            raise HomelabError.single(LOCK, f"another homelab run holds the lock: {who}",
                                      hint="wait until it finishes (the lock goes with its process), "
                                           "or stop that process") from None
        since = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps({"pid": os.getpid(), "command": command, "since": since}).encode(), 0)
        except OSError:
            pass  # a full disk: the lock holds all the same, only its holder's name is missing
        recover(root)  # a write a killed run left half done: back to the old files first
        main = threading.current_thread() is threading.main_thread()
        previous = {s: signal.signal(s, _raise) for s in HANDLED} if main else {}
        try:
            yield
        finally:
            for s, h in previous.items():
                signal.signal(s, h)
            try:
                os.ftruncate(fd, 0)
            except OSError:
                pass
    finally:
        os.close(fd)  # releases the flock
