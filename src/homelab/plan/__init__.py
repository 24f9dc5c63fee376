"""`homelab plan`: the desired state as one report, plus the failure drills.

`build()` returns a plain, JSON-ready dict (its shape is `schema/plan.schema.json`, documented in
docs/plan-json.md); the table, Markdown and Mermaid outputs are views of that one dict, so they
cannot disagree with each other.
"""

from __future__ import annotations

import re
from pathlib import Path

from homelab import drills as drills_mod
from homelab import paths
from homelab.config import HomelabConfig
from homelab.drills.workload import Workload
from homelab.findings import Severity
from homelab.plan import lab, output  # noqa: F401  (output: the views)

PLAN_VERSION = 1


def vms_start_on_boot(root: Path) -> bool | None:
    """Whether terraform/ sets on_boot = true on its Proxmox VMs; None when there is no VM resource yet."""
    tf = [p.read_text(encoding="utf-8", errors="replace") for p in sorted((root / paths.TERRAFORM_DIR).glob("*.tf"))]
    if not any('resource "proxmox_virtual_environment_vm"' in t for t in tf):
        return None
    return any(re.search(r"^\s*on_boot\s*=\s*true\b", t, re.M) for t in tf)


def _drill_dict(d: drills_mod.Drill) -> dict:
    up, total, needed = d.etcd
    votes, expected, vneeded = d.proxmox
    return {
        "id": d.scenario.id, "title": d.scenario.title, "severity": d.severity.value,
        "down": {"hosts": sorted(d.scenario.hosts_down), "nodes": sorted(d.scenario.nodes_down), "pi": d.scenario.pi_down,
                 "internet": d.scenario.internet_down, "power_restored": d.scenario.power_restored},
        "etcd": {"up": up, "total": total, "needed": needed},
        "proxmox": {"votes": votes, "expected": expected, "needed": vneeded},
        "users": d.users,
        "findings": [f.to_dict() for f in d.findings],
    }


def build(cfg: HomelabConfig, root: Path, *, config_file: str = "homelab.yaml", locate=None,
          validation: dict | None = None, workload: Workload | None = None, tree: dict | None = None) -> dict:
    """The whole plan. `validation` and `tree` come from the command (they touch the filesystem and tools)."""
    tree = tree or {"available": False, "reason": "the Flux tree was not read"}
    drills = drills_mod.run(cfg, workload, locate=locate, flux_levels=tree.get("flux_levels") if tree.get("available") else None,
                            on_boot=vms_start_on_boot(root))
    drill_rows = [_drill_dict(d) for d in drills]
    count = {s.value: sum(1 for d in drills for f in d.findings if f.severity is s) for s in Severity}
    tree_findings = tree.get("findings", []) if tree.get("available") else []
    return {
        "version": PLAN_VERSION,
        "config": config_file,
        "site": {"name": cfg.site.name, "domain": cfg.site.domain, "lan_domain": cfg.site.lan_domain},
        "validation": validation or {"config": "valid", "glue": [], "check": {"available": False, "reason": "not run"}},
        "hosts": lab.hosts(cfg),
        "pi": lab.pi(cfg),
        "addresses": lab.addresses(cfg),
        "metallb": lab.metallb(cfg, tree.get("loadbalancers") if tree.get("available") else None),
        "routes": lab.routes(cfg, tree.get("routes") if tree.get("available") else None),
        "storage": lab.storage(cfg),
        "nodes_budget": lab.nodes_budget(cfg),
        "tree": tree,
        "drills": drill_rows,
        "summary": {
            "drill_errors": count["error"], "drill_warnings": count["warning"],
            "failing_drills": [d["id"] for d in drill_rows if d["severity"] == "error"],
            "tree_errors": sum(1 for f in tree_findings if f["severity"] == "error"),
            "tree_warnings": sum(1 for f in tree_findings if f["severity"] == "warning"),
        },
    }
