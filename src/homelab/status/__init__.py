"""`homelab status`: the live lab in one report.

Proxmox hosts and VMs, Kubernetes nodes, Flux Kustomizations and HelmReleases, certificates,
Longhorn volumes, DNS through the Pi and HTTPS routes through Traefik. Each source is reached
through an object handed in (`Sources`), so the whole report can be built from recorded responses;
a source that cannot be reached is itself an unhealthy check, never a crash.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from homelab.config import HomelabConfig
from homelab.status import kube as k
from homelab.status import proxmox
from homelab.status.model import Check, Report

if TYPE_CHECKING:
    import httpx

__all__ = ["Check", "Report", "Sources", "collect", "recorded_sources"]


@dataclass
class Sources:
    proxmox: Callable[[], Any]
    kube: Callable[[], k.KubeReader]
    resolver: Any
    transport: httpx.BaseTransport | None = None
    now: datetime = field(default_factory=k.now_utc)
    mask: Callable[[str], str] = str


# What to do when a source does not answer at all.
UNREACHABLE_ADVICE = {
    "proxmox": "check the hosts are up and $PROXMOX_VE_API_TOKEN",
    "kubernetes": "check the API server is up and the kubeconfig ($KUBECONFIG, else ~/.kube/<site.name>.yaml)",
    "dns": "check the Pi is up and Pi-hole answers on port 53",
    "https": "check Traefik's LoadBalancer address (metallb.traefik_address) is reachable",
}


def _guarded(section: str, fn: Callable[[], list[Check]], mask: Callable[[str], str]) -> list[Check]:
    from homelab.status.recorded import SnapshotError

    try:
        return fn()
    except SnapshotError:
        raise  # a malformed recording is the user's input, reported with its file
    except Exception as exc:  # an unreachable API is a finding, reported in one line, not a traceback
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        advice = "" if "hint:" in text else f"; {UNREACHABLE_ADVICE[section]}"
        return [Check(section, "api", False, "unreachable", mask(text) + advice)]


def collect(cfg: HomelabConfig, src: Sources, expiry_days: int = k.EXPIRY_WARNING_DAYS) -> Report:
    # imported here: httpx and dnspython are heavy, and `homelab check` imports this package for its rule ids
    from homelab.status import network

    report = Report()
    report.checks += _guarded("proxmox", lambda: proxmox.collect(cfg, src.proxmox()), src.mask)

    def kubernetes() -> list[Check]:
        kr = src.kube()
        return (k.collect_nodes(cfg, kr) + k.collect_flux(kr) + k.collect_certificates(kr, src.now, expiry_days)
                + k.collect_volumes(kr))

    report.checks += _guarded("kubernetes", kubernetes, src.mask)
    report.checks += _guarded("dns", lambda: network.collect_dns(cfg, src.resolver), src.mask)
    report.checks += _guarded("https", lambda: network.collect_https(cfg, src.transport), src.mask)
    return report


def recorded_sources(folder: Path, now: datetime | None = None) -> Sources:
    from homelab.status import recorded as r

    r.validate(folder)
    return Sources(
        proxmox=lambda: r.RecordedProxmox(folder / "proxmox"),
        kube=lambda: r.RecordedKube(folder / "kubernetes"),
        resolver=r.RecordedResolver(r.load_json(folder / "dns.json", {})),
        transport=r.recorded_transport(r.load_json(folder / "https.json", {})),
        now=now or _recorded_at(folder) or k.now_utc(),
    )


def _recorded_at(folder: Path) -> datetime | None:
    """When the snapshot was taken (meta.json `recorded_at`), so expiry days are counted from then."""
    from homelab.status.recorded import load_json

    stamp = load_json(folder / "meta.json", {}).get("recorded_at")
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")) if stamp else None
