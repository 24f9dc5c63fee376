"""DNS through the Pi and HTTPS through Traefik: what a browser on the LAN would experience.

The resolver (dnspython) and the HTTP transport (httpx) are parameters, so tests use a loopback DNS
server and httpx's MockTransport instead of the network.
"""

from __future__ import annotations

from typing import Any

import dns.exception
import dns.resolver
import httpx

from homelab.config import HomelabConfig
from homelab.config.model import Exposure
from homelab.status.model import Check


def pi_resolver(cfg: HomelabConfig, port: int = 53, timeout: float = 3.0) -> dns.resolver.Resolver:
    """A resolver that asks only the Pi (not the machine's own resolvers)."""
    res = dns.resolver.Resolver(configure=False)
    res.nameservers = [str(cfg.pi.address)]
    res.port = port
    res.lifetime = timeout
    return res


def lan_names(cfg: HomelabConfig) -> list[str]:
    return [cfg.fqdn(name) for name, svc in cfg.services.items() if svc.exposure is Exposure.lan]


def collect_dns(cfg: HomelabConfig, resolver: Any) -> list[Check]:
    """Every lan name resolves through the Pi to Traefik's MetalLB address."""
    want = str(cfg.metallb.traefik_address)
    checks = []
    for fqdn in lan_names(cfg):
        try:
            got = sorted(r.address for r in resolver.resolve(fqdn, "A"))
        except dns.resolver.NXDOMAIN:
            checks.append(Check("dns", fqdn, False, "NXDOMAIN", f"the Pi ({cfg.pi.address}) has no record; "
                                "check external-dns, which writes it: `flux get helmreleases -n external-dns` and the "
                                "external-dns-pihole logs"))
            continue
        except dns.exception.DNSException as exc:
            checks.append(Check("dns", fqdn, False, "error", f"{type(exc).__name__}: {exc}; check that Pi-hole runs "
                                f"on {cfg.pi.name} ({cfg.pi.address}) and answers on port 53"))
            continue
        ok = got == [want]
        checks.append(Check("dns", fqdn, ok, ",".join(got), "" if ok else (
            f"expected {want} (metallb.traefik_address); remove the stale or hand-made record in Pi-hole "
            "(Local DNS) and let external-dns write it")))
    return checks


def collect_https(cfg: HomelabConfig, transport: httpx.BaseTransport | None = None, timeout: float = 5.0) -> list[Check]:
    """Every route answers over HTTPS at Traefik's address, with the route's name as SNI and Host.

    Connecting to the MetalLB address directly checks the route itself, independent of the DNS
    check above. The certificate is verified against the name. Any answer below 500 counts: a
    302 to the Authentik login or a 401 is the route working.
    """
    ip = str(cfg.metallb.traefik_address)
    checks = []
    with httpx.Client(transport=transport, timeout=timeout, follow_redirects=False) as http:
        for name in cfg.services:
            fqdn = cfg.fqdn(name)
            try:
                resp = http.get(f"https://{ip}/", headers={"Host": fqdn}, extensions={"sni_hostname": fqdn})
            except httpx.HTTPError as exc:
                checks.append(Check("https", fqdn, False, "no answer", f"{type(exc).__name__}: {exc}; check that Traefik "
                                    f"serves {ip}: `kubectl -n traefik get svc,pods`"))
                continue
            ok = resp.status_code < 500
            detail = resp.headers.get("location", "") if 300 <= resp.status_code < 400 else resp.reason_phrase
            if not ok:
                detail += (f"; check the pods and the HelmRelease behind {name} (Traefik answers, they do not): "
                           "`flux get helmreleases -A`")
            checks.append(Check("https", fqdn, ok, str(resp.status_code), detail))
    return checks
