"""The chart cache: archives stored by content, and a lookup from (repository, name, version).

Layout under `user_cache_dir("charts")`:

    blobs/sha256/<hex>.tgz      the archives, named by the sha256 of their bytes
    refs/<hex of the key>.json  {repo, name, version, digest, origin[, manifest]} per chart pin

A pinned chart that is in the lookup is served from disk with no request and no index download.
Every file is written atomically; a blob is renamed into place only after its digest checked out,
and a ref is written only after its blob exists, so a failed or interrupted fetch leaves nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from contextlib import AbstractContextManager, suppress
from pathlib import Path
from typing import Any

from homelab.atomicfile import PendingFile, pending_file, write_atomic
from homelab.charts.archive import ChartArchive, sha256_file
from homelab.gitops.model import ChartSpec
from homelab.usercache import user_cache_dir


def _key(repo: str, name: str, version: str) -> str:
    return hashlib.sha256(f"{repo.rstrip('/')}\0{name}\0{version}".encode()).hexdigest()


class ChartCache:
    def __init__(self, root: Path | None = None):
        self.root = root if root is not None else user_cache_dir("charts")
        self.blobs = self.root / "blobs" / "sha256"
        self.refs = self.root / "refs"

    def blob(self, digest: str) -> Path:
        return self.blobs / f"{digest}.tgz"

    def get(self, spec: ChartSpec) -> ChartArchive | None:
        """The cached archive of `spec`, re-hashed so a damaged file is dropped, never served."""
        ref = self.refs / f"{_key(spec.repo, spec.name, spec.version)}.json"
        try:
            digest = str(json.loads(ref.read_text(encoding="utf-8"))["digest"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        path = self.blob(digest)
        try:
            if sha256_file(path) == digest:
                return ChartArchive(spec, path, digest, "cache")
        except OSError:
            return None
        with suppress(OSError):
            path.unlink()
        return None

    def sweep(self, older_than: float = 3600.0) -> int:
        """Remove what an interrupted process left in the blob folder (a killed download's temporary
        file, an OCI pull abandoned at its deadline) once it is `older_than` seconds old; how many."""
        removed, now = 0, time.time()
        for leftover in self.blobs.glob(".*") if self.blobs.is_dir() else ():
            try:
                if now - leftover.stat().st_mtime < older_than:
                    continue
                if leftover.is_dir():
                    shutil.rmtree(leftover)
                else:
                    leftover.unlink()
                removed += 1
            except OSError:
                continue
        return removed

    def pending(self) -> AbstractContextManager[PendingFile]:
        """A temporary file in the blob folder to stream a download into; removed unless stored."""
        return pending_file(self.blobs, prefix=".download.")

    def put(self, spec: ChartSpec, source: PendingFile | Path, digest: str, origin: str, **extra: Any) -> ChartArchive:
        """Store a verified download (a pending file, or a file in a scratch folder under the blob
        folder) under its digest, then record the pin that led to it."""
        path = self.blob(digest)
        if isinstance(source, PendingFile):
            source.commit(path)
        else:
            source.chmod(0o644)
            os.replace(source, path)
        record = {"repo": spec.repo, "name": spec.name, "version": spec.version, "digest": digest,
                  "origin": origin, **extra}
        write_atomic(self.refs / f"{_key(spec.repo, spec.name, spec.version)}.json",
                     (json.dumps(record, indent=1, sort_keys=True) + "\n").encode())
        return ChartArchive(spec, path, digest, origin)
