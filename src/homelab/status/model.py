"""One health check result, and the report `homelab status` prints as a table or JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Check:
    section: str   # proxmox-host, vm, node, kustomization, helmrelease, certificate, volume, dns, https
    name: str
    ok: bool
    state: str     # short state word: online, running, Ready, 42d, healthy, 192.168.10.200, 200 ...
    detail: str = ""


def advise(what: str, todo: str) -> str:
    """A failed check's detail: what is wrong, then what to do about it."""
    what = what.strip().rstrip(".;")
    return f"{what}; {todo}" if what else todo


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def problems(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def to_json(self) -> dict[str, Any]:
        return {"healthy": self.healthy, "unhealthy": len(self.problems), "checks": [asdict(c) for c in self.checks]}
