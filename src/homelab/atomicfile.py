"""Files written whole or not at all: a temporary file in the target's folder, renamed into place.

A rename within one folder is atomic on POSIX, so a reader sees the old file or the new one, never
half of either; when anything fails before the rename, the temporary file is removed.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO


class PendingFile:
    """A temporary file in `folder`, open for writing until `commit` renames it into place."""

    def __init__(self, folder: Path, prefix: str = ".pending."):
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=folder, prefix=prefix, suffix=".tmp")
        self.path = Path(name)
        self.file: BinaryIO = os.fdopen(fd, "wb")
        self._done = False

    def commit(self, target: Path, mode: int = 0o644) -> None:
        """Rename the finished file to `target` (in the same folder: atomic)."""
        self.file.close()
        os.chmod(self.path, mode)
        os.replace(self.path, target)
        self._done = True

    def discard(self) -> None:
        if not self._done:
            self.file.close()
            with suppress(FileNotFoundError):
                self.path.unlink()
            self._done = True


@contextmanager
def pending_file(folder: Path, prefix: str = ".pending.") -> Iterator[PendingFile]:
    """A `PendingFile` that is removed unless committed before the block ends (errors included)."""
    pending = PendingFile(folder, prefix)
    try:
        yield pending
    finally:
        pending.discard()


def write_atomic(target: Path, data: bytes, mode: int = 0o644) -> None:
    """Write `data` to `target` atomically."""
    with pending_file(target.parent, prefix=f".{target.name}.") as pending:
        pending.file.write(data)
        pending.commit(target, mode)
