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
from functools import partial
import re
from collections.abc import Iterator
from typing import Any

from homelab.checks.context import CheckContext
from homelab.checks.registry import finding, rule
from homelab.checks.rules._util import where
from homelab.config.model import Exposure
from homelab.gitops import K8sObject

ALLOWLIST = ("traefik", "lan-allowlist")
FORWARD_AUTH = ("traefik", "authentik-forward-auth")
_HOST_CALL = re.compile(r"\bHost(?:SNI)?\(([^)]*)\)")
_QUOTED = re.compile(r"[`\"']([^`\"']+)[`\"']")


def hosts_of(match: str) -> list[str]:
    """Hostnames in a Traefik rule such as ``Host(`a.example.com`) || Host(`b`, `c`)``."""
    return [h.lower() for call in _HOST_CALL.findall(match or "") for h in _QUOTED.findall(call)]


def route_entries(o: K8sObject) -> Iterator[tuple[int, list[str], set[tuple[str, str]], tuple]]:
    """(index, hosts, middlewares as (namespace, name), key path to the hosts) for each route of a route object."""
    if o.kind == "IngressRoute":
        for i, r in enumerate(o.spec.get("routes") or []):
            if not isinstance(r, dict):
                continue
            mws = {(str(m.get("namespace") or o.namespace), str(m.get("name"))) for m in r.get("middlewares") or []
                   if isinstance(m, dict)}
            yield i, hosts_of(str(r.get("match") or "")), mws, ("spec", "routes", i, "match")
    elif o.kind == "Ingress":
        ann = str((o.metadata.get("annotations") or {}).get("traefik.ingress.kubernetes.io/router.middlewares") or "")
        mws = set()
        for ref in filter(None, (a.strip() for a in ann.split(","))):
            nsname = ref.split("@", 1)[0]
            for ns in {o.namespace, "traefik"}:
                if nsname.startswith(ns + "-"):
                    mws.add((ns, nsname[len(ns) + 1:]))
        for i, r in enumerate(o.spec.get("rules") or []):
            if isinstance(r, dict) and r.get("host"):
                yield i, [str(r["host"]).lower()], mws, ("spec", "rules", i, "host")


def _service_for(ctx: CheckContext, host: str):
    for name, svc in ctx.cfg.services.items():
        if ctx.cfg.fqdn(name) == host:
            return name, svc
    return None, None


@rule("exposure/lan-allowlist", "every route on lan.<domain> carries the LAN allowlist",
      also={"exposure/sso": "every route carries Authentik forward auth unless homelab.yaml says otherwise",
            "exposure/middleware-missing": "every Middleware a route references exists; the allowlist admits only the LAN"})
def route_protection(ctx: CheckContext):
    tree = ctx.tree
    lan, domain = ctx.cfg.site.lan_domain.lower(), ctx.cfg.site.domain.lower()
    middlewares = {(o.namespace, o.name): o for o in tree.by_kind("Middleware", group="traefik.io")}
    for o in tree.routes():
        for _, hosts, mws, keys in route_entries(o):
            line = partial(o.line_of, *keys)  # looked up only for a finding: cheap on big trees
            for ref in sorted(mws):
                if ref not in middlewares and ref[0] and o.kind == "IngressRoute":
                    yield finding("exposure/middleware-missing", f"{where(o)} uses Middleware {ref[0]}/{ref[1]}, which is not in the tree; Traefik "
                                  "rejects the whole route", o.file or None, line(), "fix the name or namespace")
            mws = set(tree.middlewares_run(sorted(mws)))  # chains (the exposure profiles) by their members
            for host in hosts:
                name, svc = _service_for(ctx, host)
                label = f"{host} ({where(o)})"
                if host == lan or host.endswith("." + lan):
                    if ALLOWLIST not in mws:
                        yield finding("exposure/lan-allowlist", f"{label} is a LAN name but the route lacks the traefik/lan-allowlist Middleware, "
                                      "so anyone who can reach Traefik can reach it", o.file or None, line(),
                                      "add middlewares: [{name: lan-allowlist, namespace: traefik}]")
                    if (svc is None or svc.sso) and FORWARD_AUTH not in mws:
                        yield finding("exposure/sso", f"{label} lacks Authentik forward auth" +
                                      ("" if svc else " (and is not a service in homelab.yaml)"), o.file or None, line(),
                                      "add {name: authentik-forward-auth, namespace: traefik}, or set `sso: false` "
                                      f"for service {name or '<name>'} in homelab.yaml")
                elif host == domain or host.endswith("." + domain):
                    public_ok = svc is not None and svc.exposure is Exposure.public and bool(svc.reason)
                    if FORWARD_AUTH not in mws and not public_ok:
                        yield finding("exposure/sso", f"{label} is reachable from the internet without Authentik forward auth",
                                      o.file or None, line(),
                                      "add middlewares: [{name: authentik-forward-auth, namespace: traefik}], or mark "
                                      f"service {name or '<name>'} `exposure: public` with a `reason` in homelab.yaml")
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
        bad = []
        for r in ranges:
            try:
                net = ipaddress.ip_network(r, strict=False)
            except ValueError:
                bad.append(r)
                continue
            if not any(net.version == 4 and net.subnet_of(n) for n in lan_nets):
                bad.append(r)
        if not ranges or bad:
            yield finding("exposure/middleware-missing", f"Middleware traefik/lan-allowlist admits {', '.join(bad) if bad else 'nothing'}; it should admit "
                          f"only {', '.join(map(str, lan_nets))}", allow.file or None, allow.line_of("spec"),
                          "sourceRange: [${MANAGEMENT_CIDR}, ${K3S_CIDR}]")


def _covers(pattern: str, host: str) -> bool:
    pattern = pattern.lower()
    if pattern.startswith("*."):
        rest = pattern[2:]
        return host.endswith("." + rest) and "." not in host[: -len(rest) - 1]
    return pattern == host


@rule("exposure/tls-uncovered", "every TLS host is covered by a certificate the route uses")
def tls_uncovered(ctx: CheckContext):
    tree = ctx.tree
    certs = tree.certificates()
    by_secret = {(c.namespace, str(c.spec.get("secretName"))): c for c in certs}
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
        names = [str(n) for s in used if s in by_secret for n in (by_secret[s].spec.get("dnsNames") or [])]
        if used and not any(s in by_secret for s in used):
            via += " (which no Certificate in the tree creates)"
        for _, hosts, _, keys in route_entries(o):
            for host in hosts:
                if not any(_covers(n, host) for n in names):
                    yield finding("exposure/tls-uncovered", f"{host} ({where(o)}) is served with {via}, which does not cover it; browsers will "
                                  "see Traefik's self-signed default", o.file or None, o.line_of(*keys),
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
    for o in ctx.tree.objects:
        for addr, keys in _lb_addresses(o):
            try:
                ip = ipaddress.IPv4Address(addr)
            except ValueError:
                yield finding("exposure/lb-outside-pool", f"{where(o)}: '{addr}' is not an IPv4 address",
                              o.file or None, o.line_of(*keys), "use an address from metallb.pool in homelab.yaml")
                continue
            if ip not in pool:
                yield finding("exposure/lb-outside-pool", f"{where(o)} asks for {addr}, outside the MetalLB pool {pool}; it would stay <pending>",
                              o.file or None, o.line_of(*keys), "use ${TRAEFIK_LB_IP} or another address inside metallb.pool")
