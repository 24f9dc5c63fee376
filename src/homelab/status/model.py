"""One health check result, and the report `homelab status` prints as a table or JSON.

A Check is an observation of the live lab, passed or failed, one per host, VM, object or name.
Each section's checks are one registered rule, `status/<section>` (listed by `--list-rules`);
a failed Check is reported as a Finding of that rule (`Check.finding()`, `Report.problems`), so
status speaks the same type as check, plan and up, while its table and JSON keep the passed ones too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from homelab.findings import Finding
from homelab.registry import declare, finding

# What each section proves; the `api` check of a source that does not answer at all is its
# section's too (proxmox, kubernetes, dns, https).
SECTIONS = {
    "proxmox": "the Proxmox API answers",
    "proxmox-host": "every Proxmox host in homelab.yaml is an online member of the cluster",
    "vm": "the template exists as a template and every K3s VM exists and runs",
    "kubernetes": "the Kubernetes API answers",
    "node": "every K3s node in homelab.yaml is registered and Ready",
    "kustomization": "every Flux Kustomization is Ready and not suspended",
    "helmrelease": "every HelmRelease is Ready and not suspended",
    "certificate": "every certificate is issued and further from expiry than --expiry-days",
    "volume": "every Longhorn volume in use has its healthy replicas",
    "dns": "every LAN name resolves through the Pi to the address homelab.yaml gives it",
    "https": "every route answers over HTTPS through Traefik without a server error",
}
for _section, _summary in SECTIONS.items():
    declare(f"status/{_section}", _summary, reported_by="status")


@dataclass(frozen=True)
class Check:
    section: str   # a key of SECTIONS: proxmox-host, vm, node, kustomization, ... or a source whose api failed
    name: str
    ok: bool
    state: str     # short state word: online, running, Ready, 42d, healthy, 192.168.10.200, 200 ...
    detail: str = ""

    @property
    def rule(self) -> str:
        return f"status/{self.section}"

    def finding(self) -> Finding:
        """This check, failed, as a Finding of its section's rule: `name: state`, the detail as the hint."""
        return finding(self.rule, f"{self.name}: {self.state}", hint=self.detail)


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
    def problems(self) -> list[Finding]:
        """The failed checks, as Findings."""
        return [c.finding() for c in self.checks if not c.ok]

    def to_json(self) -> dict[str, Any]:
        return {"healthy": self.healthy, "unhealthy": len(self.problems),
                "checks": [{**asdict(c), "rule": c.rule} for c in self.checks]}
