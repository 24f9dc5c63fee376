"""What-if analysis of the seed's failure modes against the lab in homelab.yaml.

`run(cfg, ...)` plays every scenario (each Proxmox host down, each VM down, the Pi down, the
internet down, all power lost and restored) and answers the same questions for each: etcd
quorum, Proxmox quorum, Longhorn readability, room to reschedule, LAN names, certificate
renewals, the recovery order and what users of each route see. Every answer is a Finding.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from homelab.config import HomelabConfig
from homelab.drills import answers
from homelab.drills.answers import Lab, Locate
from homelab.drills.fixes import Fix, Trial
from homelab.drills.scenarios import Scenario, scenarios
from homelab.drills.workload import Certificate, PodGroup, Volume, Workload
from homelab.findings import Finding, Severity

__all__ = ["Drill", "run", "facts", "Fix", "Scenario", "Workload", "PodGroup", "Volume", "Certificate"]


@dataclass(frozen=True)
class Drill:
    scenario: Scenario
    findings: list[Finding] = field(default_factory=list)
    etcd: tuple[int, int, int] = (0, 0, 0)         # servers up, total, needed
    proxmox: tuple[int, int, int] = (0, 0, 0)      # votes up, expected, needed
    users: list[dict] = field(default_factory=list)  # per route: what its users see

    @property
    def severity(self) -> Severity:
        for sev in (Severity.error, Severity.warning):
            if any(f.severity is sev for f in self.findings):
                return sev
        return Severity.info


def _proxmox_votes(cfg: HomelabConfig, scn: Scenario) -> tuple[int, int, int]:
    hosts = len(cfg.proxmox.hosts)
    expected = hosts + (1 if cfg.pi.qdevice else 0)
    up = expected if scn.power_restored else hosts - len(scn.hosts_down) + (1 if cfg.pi.qdevice and not scn.pi_down else 0)
    return up, expected, expected // 2 + 1


def run(cfg: HomelabConfig, workload: Workload | None = None, *, locate: Locate | None = None,
        flux_levels: list[list[str]] | None = None, on_boot: bool | None = None, try_fixes: bool = True) -> list[Drill]:
    """Every scenario against the lab. With `try_fixes`, a suggested change to homelab.yaml is offered only after
    the drills have been played again on the changed config and it holds (see drills.fixes)."""
    wl = workload or Workload()
    lab = Lab(cfg, locate or (lambda path: (None, None)), _trial(cfg, wl, flux_levels, on_boot) if try_fixes else None)
    drills = []
    for scn in scenarios(cfg):
        found: list[Finding] = []
        for question in answers.QUESTIONS:
            found.extend(question(lab, scn, wl))
            if question is answers.certificates:   # the recovery order reads best just before what users see
                found.extend(answers.recovery_order(lab, scn, wl, flux_levels=flux_levels, on_boot=on_boot))
        drills.append(Drill(scn, found, lab.etcd(scn), _proxmox_votes(cfg, scn), answers.route_outcomes(lab, scn, wl)))
    return drills


def facts(cfg: HomelabConfig, workload: Workload | None = None, *, locate: Locate | None = None,
          flux_levels: list[list[str]] | None = None, on_boot: bool | None = None) -> list[Finding]:
    """Findings about the config that hold in every scenario: reported once, above the drills."""
    wl = workload or Workload()
    return answers.facts(Lab(cfg, locate or (lambda path: (None, None)), _trial(cfg, wl, flux_levels, on_boot)))


def _trial(cfg: HomelabConfig, wl: Workload, flux_levels: list[list[str]] | None, on_boot: bool | None) -> Trial:
    def replay(new: HomelabConfig) -> list[Finding]:
        played = run(new, wl, flux_levels=flux_levels, on_boot=on_boot, try_fixes=False)
        return answers.facts(Lab(new, lambda path: (None, None))) + [f for d in played for f in d.findings]
    return Trial(cfg, replay)
