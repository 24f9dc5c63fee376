"""What the pipeline remembers between runs, in `.homelab/` (ignored by Git).

`state.json` holds, per finished stage, when it finished and the fingerprint of the inputs it ran
with. A stage whose inputs change (a node added to homelab.yaml re-renders the tfvars) is no longer
done, so `homelab up` re-runs exactly the stages whose inputs moved. Logs live in `logs/<stage>.log`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from homelab import paths
from homelab.errors import HomelabError
from homelab.inputs import json_line, load_json
from homelab.atomicfile import commit, private_dir

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
        self.last_failure: dict[str, str] | None = None  # {"stage", "at", "reason"} of the last failed run
        if self.path.exists() or self.path.is_symlink():
            self._stages, self.last_failure = _load(self.path, f"{STATE_DIR}/state.json")

    def get(self, stage: str) -> StageRecord | None:
        return self._stages.get(stage)

    def mark_done(self, stage: str, fingerprint: str) -> None:
        self._stages[stage] = StageRecord(finished=_now(), fingerprint=fingerprint)
        if self.last_failure and self.last_failure.get("stage") == stage:
            self.last_failure = None
        self._save()

    def mark_failed(self, stage: str, reason: str) -> None:
        """Remember that `stage` failed (and why); it is not done, so the next run starts there."""
        self._stages.pop(stage, None)
        self.last_failure = {"stage": stage, "at": _now(), "reason": reason[:500]}
        self._save()

    def forget(self, *stages: str) -> None:
        for stage in stages:
            self._stages.pop(stage, None)
        self._save()

    def _save(self) -> None:
        if self.dry_run:
            return
        data: dict[str, object] = {"version": 1, "stages": {k: vars(v) for k, v in self._stages.items()}}
        if self.last_failure:
            data["last_failure"] = self.last_failure
        private_dir(self.dir)
        commit({self.path: json.dumps(data, indent=2, sort_keys=True) + "\n"}, self.dir.parent, mode=0o600)


_RESET_HINT = f"delete {STATE_DIR}/state.json to start over (every stage is then checked again)"


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _load(path: Path, name: str) -> tuple[dict[str, StageRecord], dict[str, str] | None]:
    """The stage records (and last failure) of state.json; anything else is a HomelabError naming
    the file and line."""
    raw = load_json(path, name, hint=_RESET_HINT)
    text = path.read_text(encoding="utf-8", errors="replace")
    if not isinstance(raw, dict) or not isinstance(raw.get("stages", {}), dict):
        raise HomelabError.single(name, 'expected {"version": 1, "stages": {...}}', line=1, hint=_RESET_HINT)
    stages: dict[str, StageRecord] = {}
    for stage, rec in raw.get("stages", {}).items():
        ok = isinstance(rec, dict) and set(rec) == {"finished", "fingerprint"} \
            and all(isinstance(v, str) for v in rec.values())
        if not ok:
            raise HomelabError.single(name, f"stage '{stage}': expected {{\"finished\": \"...\", "
                                      f"\"fingerprint\": \"...\"}}, got {json.dumps(rec)[:80]}",
                                      line=json_line(text, "stages", stage), path=f"stages.{stage}",
                                      hint=_RESET_HINT)
        stages[stage] = StageRecord(**rec)
    failure = raw.get("last_failure")
    if failure is not None and not (isinstance(failure, dict) and all(isinstance(v, str) for v in failure.values())):
        raise HomelabError.single(name, 'last_failure: expected {"stage": "...", "at": "...", "reason": "..."}',
                                  line=json_line(text, "last_failure"), path="last_failure", hint=_RESET_HINT)
    return stages, failure


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
