"""What the pipeline remembers between runs, in `.homelab/` (ignored by Git).

`state.json` holds, per finished stage, when it finished and the fingerprint of the inputs it ran
with. A stage whose inputs change (a node added to homelab.yaml re-renders the tfvars) is no longer
done, so `homelab up` re-runs exactly the stages whose inputs moved. Logs live in `logs/<stage>.log`.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from homelab import paths

STATE_DIR = paths.STATE_DIR


@dataclass(frozen=True)
class StageRecord:
    finished: str
    fingerprint: str


class State:
    def __init__(self, root: Path, *, dry_run: bool = False):
        self.dry_run = dry_run  # a dry run remembers in memory only, so later stages see earlier ones "done"
        self.dir = root / STATE_DIR
        self.path = self.dir / "state.json"
        self.log_dir = self.dir / "logs"
        self._stages: dict[str, StageRecord] = {}
        if self.path.exists():
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            self._stages = {name: StageRecord(**rec) for name, rec in raw.get("stages", {}).items()}

    def get(self, stage: str) -> StageRecord | None:
        return self._stages.get(stage)

    def mark_done(self, stage: str, fingerprint: str) -> None:
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        self._stages[stage] = StageRecord(finished=now, fingerprint=fingerprint)
        self._save()

    def forget(self, *stages: str) -> None:
        for stage in stages:
            self._stages.pop(stage, None)
        self._save()

    def _save(self) -> None:
        if self.dry_run:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        data = {"version": 1, "stages": {k: vars(v) for k, v in self._stages.items()}}
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".state.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, sort_keys=True)
            fh.write("\n")
        os.replace(tmp, self.path)


_IGNORED_PARTS = {".terraform", "packer_cache", "__pycache__", ".git"}
_IGNORED_SUFFIXES = (".tfstate", ".tfstate.backup", ".retry", ".tfplan")


def fingerprint(root: Path, *paths: str, extra: str = "") -> str:
    """A digest of the files under `paths` (names and contents) plus `extra`: a stage's inputs.

    Terraform state, provider caches, retry files and fetched kubeconfigs are outputs, not inputs.
    """
    digest = hashlib.sha256(extra.encode())
    for rel in paths:
        base = root / rel
        files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file()) if base.exists() else []
        for f in files:
            relname = f.relative_to(root).as_posix()
            if _IGNORED_PARTS & set(f.relative_to(root).parts) or relname.endswith(_IGNORED_SUFFIXES) \
                    or f.name.startswith("kubeconfig"):
                continue
            digest.update(relname.encode() + b"\0" + f.read_bytes() + b"\0")
    return digest.hexdigest()[:16]
