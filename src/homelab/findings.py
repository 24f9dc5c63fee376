"""The one Finding type: what every rule reports, and what stops a command on bad input.

Checks, `homelab validate`, plan drills, `homelab up`'s preflight and status all report Findings
made by a registered rule (`homelab.registry`, `rule.finding(...)`). A bad input that must
stop a command (exit code 2) is raised as `homelab.errors.HomelabError`, which carries Findings
too: `errors.Problem` is the same type, so a config rule's finding is shown the same way
wherever it is reported.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any


class Severity(str, Enum):
    error = "error"
    warning = "warning"
    info = "info"


@dataclass(frozen=True)
class Finding:
    rule: str          # a registered rule id, e.g. `flux/dependson-cycle`, `config/placement`, `drill/etcd-quorum`
    severity: Severity
    message: str
    file: str | None = None   # repository-relative path
    line: int | None = None   # 1-based
    hint: str = ""
    key: str = ""             # the key path inside `file` (homelab.yaml's `k3s.nodes.1.address`), when known

    @property
    def location(self) -> str:
        if self.file and self.line:
            return f"{self.file}:{self.line}"
        return self.file or ""

    def __str__(self) -> str:
        """`file:line: key: message (hint: ...)`, the line the CLI prints for bad input."""
        where = self.location or "(repository)"
        key = f" {self.key}:" if self.key else ""
        text = f"{where}:{key} {self.message}"
        if self.hint:
            text += f" (hint: {self.hint})"
        return text

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["severity"] = self.severity.value
        if not self.key:
            del d["key"]  # reports of the tree keep the shape they always had
        return d
