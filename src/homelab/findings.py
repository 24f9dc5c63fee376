"""The one Finding type that checks, plan drills and status all report."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum


class Severity(str, Enum):
    error = "error"
    warning = "warning"
    info = "info"


@dataclass(frozen=True)
class Finding:
    rule: str          # named like `flux/dependson-cycle`, `net/pool-overlaps-node`, `drill/host-down`
    severity: Severity
    message: str
    file: str | None = None   # repository-relative path
    line: int | None = None   # 1-based
    hint: str = ""

    @property
    def location(self) -> str:
        if self.file and self.line:
            return f"{self.file}:{self.line}"
        return self.file or ""

    def to_dict(self) -> dict:
        d = asdict(self)
        d["severity"] = self.severity.value
        return d
