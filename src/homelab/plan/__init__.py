"""`homelab plan`: the desired state as one report, plus the failure drills.

`build()` returns a `homelab.plan.model.Plan` (its JSON Schema, generated from the model, is
`schema/plan.schema.json`, documented in docs/plan-json.md); the table, Markdown, HTML, JSON and
Mermaid outputs are views of that one model, so they cannot disagree with each other.
"""

from __future__ import annotations

import re
from pathlib import Path

from homelab import drills as drills_mod
from homelab import paths
from homelab.config import HomelabConfig
from homelab.drills.answers import Locate
from homelab.drills.workload import Workload
from homelab.findings import Severity
from homelab.plan import lab
import homelab.plan.model as m
from homelab.plan.model import PLAN_VERSION, Plan

__all__ = ["build", "Plan", "PLAN_VERSION", "vms_start_on_boot"]


def vms_start_on_boot(root: Path) -> bool | None:
    """Whether terraform/ sets on_boot = true on its Proxmox VMs; None when there is no VM resource yet."""
    tf = [p.read_text(encoding="utf-8", errors="replace") for p in sorted((root / paths.TERRAFORM_DIR).glob("*.tf"))]
    if not any('resource "proxmox_virtual_environment_vm"' in t for t in tf):
        return None
    return any(re.search(r"^\s*on_boot\s*=\s*true\b", t, re.M) for t in tf)


def _drill(d: drills_mod.Drill) -> m.Drill:
    up, total, needed = d.etcd
    votes, expected, vneeded = d.proxmox
    s = d.scenario
    return m.Drill(
        id=s.id, title=s.title, severity=d.severity.value,
        down=m.Down(hosts=sorted(s.hosts_down), nodes=sorted(s.nodes_down), pi=s.pi_down, internet=s.internet_down,
                    power_restored=s.power_restored),
        etcd=m.Etcd(up=up, total=total, needed=needed), proxmox=m.ProxmoxVotes(votes=votes, expected=expected, needed=vneeded),
        users=[m.UserView(**u) for u in d.users], findings=[m.FindingRow.of(f) for f in d.findings])


def build(cfg: HomelabConfig, root: Path, *, config_file: str = "homelab.yaml", locate: Locate | None = None,
          validation: m.Validation | None = None, workload: Workload | None = None,
          tree: m.Tree | m.Unavailable | None = None) -> Plan:
    """The whole plan. `validation` and `tree` come from the command (they touch the filesystem and tools)."""
    tree = tree or m.Unavailable(reason="the Flux tree was not read")
    read = tree if isinstance(tree, m.Tree) else None
    on_boot = vms_start_on_boot(root)
    levels = read.flux_levels if read else None
    drills = drills_mod.run(cfg, workload, locate=locate, flux_levels=levels, on_boot=on_boot)
    facts = [m.FindingRow.of(f) for f in drills_mod.facts(cfg, workload, locate=locate, flux_levels=levels, on_boot=on_boot)]
    rows = [_drill(d) for d in drills]
    count = {s.value: sum(1 for d in drills for f in d.findings if f.severity is s) for s in Severity}
    tree_findings = read.findings if read else []
    return Plan(
        config=config_file,
        site=m.Site(name=cfg.site.name, domain=cfg.site.domain, lan_domain=cfg.site.lan_domain),
        validation=validation or m.Validation(),
        hosts=lab.hosts(cfg), pi=lab.pi(cfg), addresses=lab.addresses(cfg),
        metallb=lab.metallb(cfg, read.loadbalancers if read else None),
        routes=lab.routes(cfg, read.routes if read else None), storage=lab.storage(cfg), nodes_budget=lab.nodes_budget(cfg),
        tree=tree, facts=facts, drills=rows,
        summary=m.Summary(
            drill_errors=count["error"], drill_warnings=count["warning"],
            failing_drills=[d.id for d in rows if d.severity == "error"],
            tree_errors=sum(1 for f in tree_findings if f.severity == "error"),
            tree_warnings=sum(1 for f in tree_findings if f.severity == "warning"),
            facts=sum(1 for f in facts if f.severity != "info"),
        ),
    )
