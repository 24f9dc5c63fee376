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
class Workload:
    pods: tuple[PodGroup, ...] = ()
    volumes: tuple[Volume, ...] = ()
    certificates: tuple[Certificate, ...] = ()
    longhorn_settings: dict[str, str] = field(default_factory=dict)  # the Longhorn chart's defaultSettings
    source: str = ""             # where it came from, e.g. "kubernetes/clusters/homelab"; "" when unknown

    @property
    def known(self) -> bool:
        return bool(self.source)
