"""What the cluster runs, as far as the drills need it: pod requests, Longhorn volumes, certificates.

The drills are pure functions of the lab (homelab.yaml) and a `Workload`. The plan fills the
workload from the Flux tree when it can read it; without the tree the workload is empty and each
drill says which answer it could not give (never a made-up number).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from homelab.gitops.model import name_covers


@dataclass(frozen=True)
class PodGroup:
    """Pods of one workload (a Deployment, StatefulSet, DaemonSet or a chart component)."""

    namespace: str
    name: str
    replicas: int = 1
    cpu_millis: int = 0          # requests per pod
    memory: int = 0              # bytes, requests per pod
    cpu_limit_millis: int = 0
    memory_limit: int = 0
    per_node: bool = False       # a DaemonSet: one pod on every node, never rescheduled elsewhere
    file: str | None = None
    line: int | None = None


@dataclass(frozen=True)
class Volume:
    """A Longhorn volume (a PVC on a Longhorn StorageClass, or a chart's persistence)."""

    namespace: str
    name: str
    size: int                    # bytes
    replicas: int | None = None  # None: the StorageClass default (longhorn.replicas)
    file: str | None = None
    line: int | None = None

    @property
    def release(self) -> str:
        """The chart release (or PVC) the volume belongs to: `authentik` of `authentik:postgresql.primary.persistence`."""
        return self.name.partition(":")[0]

    @property
    def component(self) -> str:
        """The chart component that holds it: `postgresql` of `authentik:postgresql.primary.persistence`."""
        return self.name.partition(":")[2].split(".", 1)[0]


@dataclass(frozen=True)
class Certificate:
    namespace: str
    name: str
    dns_names: tuple[str, ...]
    issuer: str = ""
    duration_days: float = 90.0        # Let's Encrypt issues 90-day certificates
    renew_before_days: float | None = None  # None: cert-manager's default, 1/3 of the duration
    file: str | None = None
    line: int | None = None

    @property
    def renew_at_days_left(self) -> float:
        return self.renew_before_days if self.renew_before_days is not None else self.duration_days / 3

    def covers(self, host: str) -> bool:
        """Whether one of its names covers `host` (case-insensitive; a wildcard covers one label)."""
        return any(name_covers(n, host) for n in self.dns_names)


@dataclass(frozen=True)
class RouteBackend:
    """A host served by a route in the tree, and the Services behind it."""

    host: str
    namespace: str
    services: tuple[str, ...] = ()


@dataclass(frozen=True)
class Workload:
    pods: tuple[PodGroup, ...] = ()
    volumes: tuple[Volume, ...] = ()
    certificates: tuple[Certificate, ...] = ()
    routes: tuple[RouteBackend, ...] = ()    # hosts of the tree's routes and their backend Services
    longhorn_settings: dict[str, str] = field(default_factory=dict)  # the Longhorn chart's defaultSettings
    source: str = ""             # where it came from, e.g. "kubernetes/clusters/homelab"; "" when unknown

    @property
    def known(self) -> bool:
        return bool(self.source)

    def volumes_behind(self, host: str) -> list[Volume]:
        """The Longhorn volumes the pods behind a route's host need: those of the chart release its backend
        Service belongs to (`grafana` for `grafana`, `authentik:postgresql…` for `authentik-server`); where a
        release holds volumes of several components (`kube-prometheus-stack:prometheus…` and `…:alertmanager…`),
        only the component the Service is named after; and a claim of a StatefulSet an operator names after the
        Service's object (`prometheus-kube-prometheus-stack-prometheus` for `kube-prometheus-stack-prometheus`)."""
        out: list[Volume] = []
        for route in (r for r in self.routes if r.host == host):
            for svc in route.services:
                mine = [v for v in self.volumes if v.namespace == route.namespace
                        and (svc == v.release or svc.startswith(v.release + "-") or v.name.endswith("-" + svc))]
                named = [v for v in mine if v.component and svc == f"{v.release}-{v.component}"]
                out += [v for v in named or mine if v not in out]
        return out
