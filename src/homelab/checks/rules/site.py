"""site/*: the tree agrees with homelab.yaml, and the generated glue files are current."""

from __future__ import annotations

import json
from typing import Any

from homelab import render
from homelab.checks.context import CheckContext
from homelab.checks.registry import finding, rule
from homelab.checks.rules._util import where
from homelab.config.types import AddressRange


@rule("site/glue-stale", "the glue files generated from homelab.yaml are current", needs_tree=False)
def glue_stale(ctx: CheckContext):
    for d in render.check(ctx.cfg, ctx.root):
        yield finding("site/glue-stale", f"generated file is {d.state}: homelab.yaml says otherwise",
                      d.path, None, "run `homelab render` (never edit glue files by hand)")


@rule("site/metallb-pool", "every MetalLB IPAddressPool lies inside metallb.pool of homelab.yaml")
def metallb_pool(ctx: CheckContext):
    pool = ctx.cfg.metallb.pool
    for o in ctx.tree.by_kind("IPAddressPool", group="metallb.io"):
        for i, addr in enumerate(o.spec.get("addresses") or []):
            try:
                r = AddressRange(str(addr))
            except ValueError:
                yield finding("site/metallb-pool", f"{where(o)}: '{addr}' is not an address range",
                              o.file or None, o.line_of("spec", "addresses", i), "use ${METALLB_RANGE}")
                continue
            if not (pool.first <= r.first and r.last <= pool.last):
                yield finding("site/metallb-pool", f"{where(o)} hands out {addr}, but homelab.yaml's metallb.pool is {pool}",
                              o.file or None, o.line_of("spec", "addresses", i),
                              "use addresses: [${METALLB_RANGE}] so homelab.yaml stays the one source")


@rule("site/route-host", "every route's host is a service of homelab.yaml under its domain")
def route_host(ctx: CheckContext):
    domain = ctx.cfg.site.domain.lower()
    known = {ctx.cfg.fqdn(n) for n in ctx.cfg.services}
    for route in ctx.tree.route_rules():
        o = route.obj
        for host in route.hosts:
            if not (host == domain or host.endswith("." + domain)):
                yield finding("site/route-host", f"{host} ({where(o)}) is not under {domain}, the domain in homelab.yaml",
                              o.file or None, route.line, "use ${HOST_<SERVICE>} from cluster-settings")
            elif host not in known:
                yield finding("site/route-host",
                              f"{host} ({where(o)}) is not a service in homelab.yaml, so its exposure is undeclared",
                              o.file or None, route.line,
                              "add it under services: in homelab.yaml (hostname, exposure), run `homelab render`, "
                              "and use ${HOST_<SERVICE>}")


def _replica_values(v: Any) -> list[int]:
    """Longhorn writes replica counts as 2, "2", {v1: "2", v2: "2"} or '{"v1":"2"}'."""
    if isinstance(v, bool):
        return []
    if isinstance(v, int):
        return [v]
    if isinstance(v, dict):
        return [n for x in v.values() for n in _replica_values(x)]
    if isinstance(v, str):
        s = v.strip()
        if s.startswith("{"):
            try:
                return _replica_values(json.loads(s))
            except ValueError:
                return []
        return [int(s)] if s.isdigit() else []
    return []


@rule("site/replicas", "no Longhorn replica count above the number of K3s nodes")
def replicas(ctx: CheckContext):
    nodes = len(ctx.cfg.k3s.nodes)
    checks = []
    for hr in ctx.tree.helm_releases():
        if hr.chart is None or hr.chart.name != "longhorn":
            continue
        values = hr.spec.get("values") or {}
        checks.append((hr, (values.get("persistence") or {}).get("defaultClassReplicaCount"),
                       ("spec", "values", "persistence", "defaultClassReplicaCount")))
        checks.append((hr, (values.get("defaultSettings") or {}).get("defaultReplicaCount"),
                       ("spec", "values", "defaultSettings", "defaultReplicaCount")))
    for sc in ctx.tree.by_kind("StorageClass", group="storage.k8s.io"):
        if sc.body.get("provisioner") == "driver.longhorn.io":
            checks.append((sc, (sc.body.get("parameters") or {}).get("numberOfReplicas"), ("parameters", "numberOfReplicas")))
    for vol in ctx.tree.by_kind("Volume", group="longhorn.io"):
        checks.append((vol, vol.spec.get("numberOfReplicas"), ("spec", "numberOfReplicas")))
    for o, value, keys in checks:
        for n in _replica_values(value):
            if n > nodes:
                yield finding("site/replicas", f"{where(o)} asks for {n} Longhorn replicas but homelab.yaml has {nodes} K3s nodes; "
                              "volumes would stay degraded", o.file or None, o.line_of(*keys),
                              "use ${LONGHORN_REPLICAS} (longhorn.replicas in homelab.yaml)")
