"""site/*: the tree agrees with homelab.yaml, and the generated glue files are current."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from homelab import render
from homelab.checks.context import CheckContext
from homelab.checks.registry import finding, rule
from homelab.checks.rules._util import line_containing, where
from homelab.config import HomelabConfig
from homelab.config.model import ALLOWLIST, FORWARD_AUTH, HEADERS, MIDDLEWARE_NAMESPACE, PROTECTIVE
from homelab.config.placeholders import placeholders
from homelab.config.types import AddressRange
from homelab.findings import Finding, Severity
from homelab.gitops import K8sObject
from homelab.render.flux import exposure_chain, target_var, undeclared_service


@rule("site/glue-stale", "the glue files generated from homelab.yaml are current", needs_tree=False)
def glue_stale(ctx: CheckContext):
    for d in render.check(ctx.cfg, ctx.root):
        yield finding("site/glue-stale", f"generated file is {d.state}: homelab.yaml says otherwise",
                      d.path, d.line, "run `homelab render` (never edit glue files by hand)")


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


TARGET_ANNOTATION = "external-dns.alpha.kubernetes.io/target"
_SHORT = {ALLOWLIST: "LAN allowlist", FORWARD_AUTH: "Authentik SSO", HEADERS: "security headers"}


def _describe(names: Iterable[str]) -> str:
    return " + ".join(_SHORT.get(n, n) for n in names) or "no middleware"


@rule("site/exposure-drift", "every route runs the middlewares and DNS target its service's exposure in homelab.yaml asks for")
def exposure_drift(ctx: CheckContext):
    cfg, tree = ctx.cfg, ctx.tree
    for route in tree.route_rules():
        o, keys = route.obj, route.keys
        annotations = o.metadata.get("annotations") or {}
        run = [name for ns, name in tree.middlewares_run(sorted(route.middlewares)) if ns == MIDDLEWARE_NAMESPACE]
        for host in route.hosts:
            found = cfg.service_for_host(host)
            if found is None:
                continue  # site/route-host reports it
            name, svc = found
            want = svc.middlewares()
            line = ctx.config_line("services", name, "exposure")
            follow = (f"{ctx.config_file}:{line} gives services.{name} exposure {svc.exposure.value}"
                      + (", sso: false" if svc.profile == "lan-nosso" else "")
                      + f"; make the route carry only {{name: {exposure_chain(name)}, namespace: "
                      f"{MIDDLEWARE_NAMESPACE}}} so it follows homelab.yaml (and run `homelab render`), or change "
                      "the exposure there")
            # Too little protection is exposure/lan-allowlist's and exposure/sso's finding; too much
            # (the LAN allowlist on a public name, SSO on a webhook) locks out the users it is meant for.
            extra = [m for m in run if m in PROTECTIVE and m not in want]
            if extra:
                mw_keys = (*keys[:-1], "middlewares") if o.kind == "IngressRoute" else keys
                yield finding("site/exposure-drift",
                              f"{host} ({where(o)}) runs {_describe(run)}, but its service {name} is "
                              f"{svc.profile} in homelab.yaml ({_describe(want)}): {_describe(extra)} locks out the "
                              "users it is meant for",
                              o.file or None, o.line_of(*mw_keys), follow)
            target = annotations.get(TARGET_ANNOTATION)
            if target is not None and str(target) != cfg.dns_target(name):
                yield finding("site/exposure-drift",
                              f"{host} ({where(o)}) publishes its DNS record pointing at {target}, but exposure "
                              f"{svc.exposure.value} in homelab.yaml means {cfg.dns_target(name)}",
                              o.file or None, o.line_of("metadata", "annotations", TARGET_ANNOTATION),
                              f"{ctx.config_file}:{line} sets the exposure; use "
                              f"{TARGET_ANNOTATION}: ${{{target_var(name)}}} so the record follows it")


@rule("site/route-undeclared", "every route in the tree is for a service homelab.yaml declares")
def route_undeclared(ctx: CheckContext):
    for o in ctx.tree.routes():
        gone = sorted({s for v in o.unresolved if (s := undeclared_service(v, ctx.cfg.services))})
        for name in gone:
            line = line_containing(ctx, o.file, "_" + name.upper().replace("-", "_") + "}", o.line) or o.line
            yield finding("site/route-undeclared",
                          f"{where(o)} routes service {name}, which {ctx.config_file} does not declare (removed?); "
                          "Flux would apply it with an empty host and no protection", o.file or None, line,
                          f"the tree is behind: delete the route (and its app) under {ctx.tree.cluster_path}; or, "
                          f"if {name} should stay, declare services.{name} (hostname, exposure) in {ctx.config_file} "
                          "again and run `homelab render`")


@rule("site/service-unrouted", "every service homelab.yaml declares has a route in the tree", severity=Severity.warning)
def service_unrouted(ctx: CheckContext):
    routed = {h for route in ctx.tree.route_rules() for h in route.hosts}
    for name in ctx.cfg.services:
        if ctx.cfg.fqdn(name).lower() not in routed:
            yield finding("site/service-unrouted",
                          f"service {name} ({ctx.cfg.fqdn(name)}) is declared but no route in the tree serves it; "
                          "its name leads nowhere", ctx.config_file, ctx.config_line("services", name),
                          f"homelab.yaml is ahead: add its route (`homelab new app {name}` scaffolds one); or, if "
                          f"{name} is gone, remove services.{name} from {ctx.config_file} and run `homelab render`")


def placeholder_findings(cfg: HomelabConfig, config_file: str,
                         locate: Callable[[tuple[str | int, ...]], int | None]) -> list[Finding]:
    """`site/placeholder` warnings for the example values still in homelab.yaml (validate, check, plan and up)."""
    return [finding("site/placeholder", f"{'.'.join(map(str, keys))}: {what}", config_file, locate(keys), hint)
            for keys, what, hint in placeholders(cfg)]


@rule("site/placeholder", "homelab.yaml holds none of the example values it ships with (domain, SSH key, Bitwarden IDs, "
      "repository)", severity=Severity.warning, needs_tree=False)
def placeholder(ctx: CheckContext):
    """A warning per shipped example value; `homelab up` refuses to provision while any remains."""
    yield from placeholder_findings(ctx.cfg, ctx.config_file, lambda keys: ctx.config_line(*keys))


@rule("site/bitwarden-secret-undeclared", "every bwSecretId in the tree is one of bitwarden.secrets in homelab.yaml")
def bitwarden_secret_undeclared(ctx: CheckContext):
    bw = ctx.cfg.bitwarden
    declared = {str(u).lower(): name for name, u in (bw.secrets if bw else {}).items()}
    for o in ctx.tree.by_kind("BitwardenSecret", group="k8s.bitwarden.com"):
        for i, entry in enumerate(o.spec.get("map") or []):
            sid = str((entry or {}).get("bwSecretId") or "").strip() if isinstance(entry, dict) else ""
            if sid and sid.lower() not in declared:
                yield finding("site/bitwarden-secret-undeclared",
                              f"{where(o)} reads Bitwarden secret {sid}, which is not in bitwarden.secrets of "
                              f"{ctx.config_file}; nobody can tell which secret it is or whether it exists",
                              o.file or None, o.line_of("spec", "map", i, "bwSecretId"),
                              f"declare it under bitwarden.secrets in {ctx.config_file} (line "
                              f"{ctx.config_line('bitwarden', 'secrets')}), run `homelab render`, and use "
                              "bwSecretId: ${BWS_<NAME>}")


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
    checks: list[tuple[K8sObject, Any, tuple[str, ...]]] = []
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
