"""exposure/*: who can reach each route, and with which certificate and address.

- a route on `lan.<domain>` carries the `traefik/lan-allowlist` Middleware (and Authentik forward
  auth unless homelab.yaml says `sso: false` for that service);
- a route on `<domain>` carries `traefik/authentik-forward-auth` unless homelab.yaml marks that
  service `exposure: public` with a reason;
- every referenced Middleware exists; the allowlist only lets in the management and K3s networks;
- every TLS host is covered by a cert-manager Certificate whose Secret the route uses;
- every LoadBalancer address is inside the MetalLB pool.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

from homelab.checks.context import CheckContext
from homelab.checks.registry import finding, rule
from homelab.checks.rules._util import where
from homelab.config.model import ALLOWLIST as ALLOWLIST_NAME
from homelab.config.model import FORWARD_AUTH as FORWARD_AUTH_NAME
from homelab.config.model import MIDDLEWARE_NAMESPACE
from homelab.findings import Finding
from homelab.gitops import K8sObject
from homelab.gitops.model import Route
from homelab.render.flux import exposure_chain

ALLOWLIST = (MIDDLEWARE_NAMESPACE, ALLOWLIST_NAME)
FORWARD_AUTH = (MIDDLEWARE_NAMESPACE, FORWARD_AUTH_NAME)


def _follow(service: str | None, otherwise: str) -> str:
    """The fix for a route without the protection its exposure needs: name the exposure chain (then it
    follows homelab.yaml), or, for a host that is no service, add the middleware itself."""
    if service is None:
        return otherwise
    return (f"make its middlewares [{{name: {exposure_chain(service)}, namespace: {MIDDLEWARE_NAMESPACE}}}] so it follows "
            "homelab.yaml")


def _host_protection(ctx: CheckContext, route: Route, host: str, runs: tuple[tuple[str, str], ...]) -> Iterator[Finding]:
    """What one host of a route lacks of the protection homelab.yaml gives its service (a host it does
    not declare gets the strictest: the allowlist on the LAN domain, forward auth everywhere)."""
    o = route.obj
    lan, domain = ctx.cfg.site.lan_domain.lower(), ctx.cfg.site.domain.lower()
    on_lan = host == lan or host.endswith("." + lan)
    if not on_lan and not (host == domain or host.endswith("." + domain)):
        return  # not ours: site/route-host reports it
    found = ctx.cfg.service_for_host(host)
    name, svc = found if found else (None, None)
    label, line = f"{host} ({where(o)})", o.line_of(*route.keys)
    required = set(svc.access_middlewares()) if svc else {ALLOWLIST_NAME, FORWARD_AUTH_NAME} if on_lan else {FORWARD_AUTH_NAME}
    if on_lan and ALLOWLIST not in runs:
        yield finding("exposure/lan-allowlist", f"{label} is a LAN name but the route lacks the traefik/lan-allowlist Middleware, "
                      "so anyone who can reach Traefik can reach it", o.file or None, line,
                      _follow(name, "add {name: lan-allowlist, namespace: traefik} to its middlewares"))
    if FORWARD_AUTH_NAME not in required or FORWARD_AUTH in runs:
        return
    if on_lan:
        yield finding("exposure/sso", f"{label} lacks Authentik forward auth" +
                      ("" if svc else " (and is not a service in homelab.yaml)"), o.file or None, line,
                      _follow(name, "add {name: authentik-forward-auth, namespace: traefik}")
                      + f", or set `sso: false` for service {name or '<name>'} in homelab.yaml")
    else:
        yield finding("exposure/sso", f"{label} is reachable from the internet without Authentik forward auth",
                      o.file or None, line,
                      _follow(name, "add {name: authentik-forward-auth, namespace: traefik}")
                      + f", or mark service {name or '<name>'} `exposure: public` with a `reason` in homelab.yaml")


@rule("exposure/lan-allowlist", "every route on lan.<domain> carries the LAN allowlist",
      also={"exposure/sso": "every route carries Authentik forward auth unless homelab.yaml says otherwise",
            "exposure/middleware-missing": "every Middleware a route references exists; the allowlist admits only the LAN"})
def route_protection(ctx: CheckContext) -> Iterator[Finding]:
    tree = ctx.tree
    middlewares = {(o.namespace, o.name): o for o in tree.by_kind("Middleware", group="traefik.io")}
    for route in tree.route_rules():
        o = route.obj
        for ref in sorted(route.middlewares):
            if ref not in middlewares and ref[0] and o.kind == "IngressRoute":
                yield finding("exposure/middleware-missing", f"{where(o)} uses Middleware {ref[0]}/{ref[1]}, which is not in the "
                              "tree; Traefik rejects the whole route", o.file or None, o.line_of(*route.keys),
                              "fix the name or namespace")
        runs = tuple(tree.middlewares_run(sorted(route.middlewares)))  # chains (the exposure profiles) by their members
        for host in route.hosts:
            yield from _host_protection(ctx, route, host, runs)
    for chain in middlewares.values():
        members = (chain.spec.get("chain") or {}).get("middlewares") if isinstance(chain.spec.get("chain"), dict) else None
        for i, m in enumerate(members or []):
            ref = (chain.namespace, str((m or {}).get("name") if isinstance(m, dict) else m))
            if ref not in middlewares:
                yield finding("exposure/middleware-missing",
                              f"chain {where(chain)} lists Middleware {ref[1]}, which is not in namespace {ref[0]}; "
                              "Traefik rejects every route that uses the chain", chain.file or None,
                              chain.line_of("spec", "chain", "middlewares", i),
                              "a chain's members must be Middlewares in the chain's own namespace")
    allow = middlewares.get(ALLOWLIST)
    if allow is not None:
        spec = allow.spec.get("ipAllowList") or allow.spec.get("ipWhiteList") or {}
        ranges = [str(r) for r in spec.get("sourceRange") or []]
        lan_nets = [ctx.cfg.networks.management.cidr, ctx.cfg.networks.k3s.cidr]
        key = "ipAllowList" if "ipAllowList" in allow.spec else "ipWhiteList"
        bad: list[tuple[int, str]] = []
        for i, r in enumerate(ranges):
            try:
                net = ipaddress.ip_network(r, strict=False)
            except ValueError:
                bad.append((i, r))
                continue
            if not any(net.version == 4 and net.subnet_of(n) for n in lan_nets):
                bad.append((i, r))
        hint = "sourceRange: [${MANAGEMENT_CIDR}, ${K3S_CIDR}]"
        if not ranges:
            yield finding("exposure/middleware-missing", f"Middleware traefik/lan-allowlist admits nothing; it should admit "
                          f"only {', '.join(map(str, lan_nets))}", allow.file or None,
                          allow.line_of("spec", key, "sourceRange"), hint)
        for i, r in bad:  # each entry at its own line
            yield finding("exposure/middleware-missing", f"Middleware traefik/lan-allowlist admits {r}; it should admit "
                          f"only {', '.join(map(str, lan_nets))}", allow.file or None,
                          allow.line_of("spec", key, "sourceRange", i), hint)


@rule("exposure/tls-uncovered", "every TLS host is covered by a certificate the route uses")
def tls_uncovered(ctx: CheckContext):
    tree = ctx.tree
    by_secret = {c.secret: c for c in tree.certs()}
    default_secrets = []
    for store in tree.by_kind("TLSStore", group="traefik.io"):
        if store.name == "default":
            sec = ((store.spec.get("defaultCertificate") or {}).get("secretName"))
            if sec:
                default_secrets.append((store.namespace, str(sec)))
    for o in tree.routes():
        if o.kind != "IngressRoute" or "tls" not in o.spec:
            continue
        tls = o.spec.get("tls") or {}
        if tls.get("certResolver"):
            continue  # Traefik's own ACME resolver issues it
        if tls.get("secretName"):
            used = [(o.namespace, str(tls["secretName"]))]
            via = f"Secret {o.namespace}/{tls['secretName']}"
        else:
            used = default_secrets
            via = "the default TLSStore's certificate" if used else "no certificate (no secretName, no default TLSStore)"
        serving = [by_secret[s] for s in used if s in by_secret]
        if used and not serving:
            via += " (which no Certificate in the tree creates)"
        for route in Route.of(o):
            for host in route.hosts:
                if not any(c.covers(host) for c in serving):
                    yield finding("exposure/tls-uncovered",
                                  f"{host} ({where(o)}) is served with {via}, which does not cover it; browsers will "
                                  "see Traefik's self-signed default", o.file or None, o.line_of(*route.keys),
                                  "add the host (or its *.parent wildcard) to the Certificate's dnsNames, or use a "
                                  "Certificate in the route's namespace via tls.secretName")


def _lb_addresses(o: K8sObject) -> Iterator[tuple[str, tuple]]:
    if o.kind == "Service" and o.group == "":
        if (o.spec.get("type") or "") == "LoadBalancer" and o.spec.get("loadBalancerIP"):
            yield str(o.spec["loadBalancerIP"]), ("spec", "loadBalancerIP")
        for k, v in (o.metadata.get("annotations") or {}).items():
            if k in ("metallb.io/loadBalancerIPs", "metallb.universe.tf/loadBalancerIPs"):
                for a in str(v).split(","):
                    yield a.strip(), ("metadata", "annotations", k)
    elif o.kind == "HelmRelease":
        def walk(node: Any, path: tuple) -> Iterator[tuple[str, tuple]]:
            if isinstance(node, dict):
                for k, v in node.items():
                    if k in ("metallb.io/loadBalancerIPs", "metallb.universe.tf/loadBalancerIPs", "loadBalancerIP") \
                            and isinstance(v, str) and v:
                        for a in v.split(","):
                            yield a.strip(), path + (k,)
                    else:
                        yield from walk(v, path + (k,))
            elif isinstance(node, list):
                for i, v in enumerate(node):
                    yield from walk(v, path + (i,))
        yield from walk(o.spec.get("values") or {}, ("spec", "values"))


@rule("exposure/lb-outside-pool", "every LoadBalancer address is inside the MetalLB pool")
def lb_outside_pool(ctx: CheckContext):
    pool = ctx.cfg.metallb.pool
    # a chart's Service that asks for an address its HelmRelease's values name is reported once, at the value
    in_values = {(o.namespace, o.name, a) for o in ctx.tree.helm_releases() for a, _ in _lb_addresses(o)}
    for o in ctx.tree.objects:
        for addr, keys in _lb_addresses(o):
            if o.release and (*o.release.split("/", 1), addr) in in_values:
                continue
            try:
                ip = ipaddress.IPv4Address(addr)
            except ValueError:
                yield finding("exposure/lb-outside-pool", f"{where(o)}: '{addr}' is not an IPv4 address",
                              o.file or None, o.line_of(*keys), "use an address from metallb.pool in homelab.yaml")
                continue
            if ip not in pool:
                yield finding("exposure/lb-outside-pool",
                              f"{where(o)} asks for {addr}, outside the MetalLB pool {pool}; it would stay <pending>",
                              o.file or None, o.line_of(*keys), "use ${TRAEFIK_LB_IP} or another address inside metallb.pool")
