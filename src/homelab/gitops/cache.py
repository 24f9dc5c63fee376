"""A content-addressed cache for one run of the reader and the checks: one pickle file, loaded once,
written once. Entries not used by a run are dropped when it saves, so the file never grows stale."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path
from typing import Any

from homelab.atomicfile import write_atomic

FORMAT = 5  # bump when cached shapes change


def digest(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for p in parts:
        b = p.encode() if isinstance(p, str) else p
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


class Cache:
    """`get`/`put` by (namespace, key); `path=None` keeps everything in memory (nothing on disk)."""

    def __init__(self, path: Path | None):
        self.path = path
        self._old: dict[tuple[str, str], Any] = {}
        self._new: dict[tuple[str, str], Any] = {}
        if path is not None and path.is_file():
            try:
                with path.open("rb") as fh:
                    data = pickle.load(fh)
                if isinstance(data, dict) and data.get("format") == FORMAT:
                    self._old = data["entries"]
            except Exception:  # a corrupt or foreign cache is simply ignored and rebuilt
                self._old = {}
        self.hits = 0
        self.misses = 0
        self._files: dict[str, tuple[bytes, str] | None] = {}

    def read(self, path: Path | str) -> tuple[bytes, str] | None:
        """A file's bytes and content digest, read once per run (None when unreadable)."""
        key = str(path)
        if key not in self._files:
            try:
                with open(key, "rb") as fh:
                    data = fh.read()
                self._files[key] = (data, digest(data))
            except OSError:
                self._files[key] = None
        return self._files[key]

    def get(self, ns: str, key: str) -> Any | None:
        k = (ns, key)
        if k in self._new:
            return self._new[k]
        if k in self._old:
            self.hits += 1
            self._new[k] = self._old[k]
            return self._new[k]
        self.misses += 1
        return None

    def put(self, ns: str, key: str, value: Any) -> None:
        self._new[(ns, key)] = value

    def folder(self) -> Path | None:
        """The cache's folder (created, and ignored by Git), or None for an in-memory cache."""
        if self.path is None:
            return None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        gi = self.path.parent / ".gitignore"
        if not gi.exists():
            write_atomic(gi, "*\n")
        return self.path.parent

    def save(self) -> None:
        if self.folder() is None:
            return
        write_atomic(self.path, pickle.dumps({"format": FORMAT, "entries": self._new},
                                           protocol=pickle.HIGHEST_PROTOCOL), mode=0o600)
