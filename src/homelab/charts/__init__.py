"""Helm charts the Flux tree installs: found, fetched into a content-addressed cache, rendered.

`fetch(spec)` turns a `ChartSpec` (from `FluxTree.chart_of`) into a `ChartArchive` on disk, or an
`Unavailable` that says why; it never raises for a chart that cannot be had.

`HOMELAB_CHART_MIRROR` names a mirror for air-gapped sites and tests: a directory (or an http URL)
with one folder per repository, named after the host and path of the repository's URL
(`https://traefik.github.io/charts` -> `traefik.github.io/charts/`, with its `index.yaml`;
`oci://quay.io/jetstack/charts` -> `quay.io/jetstack/charts/`, holding `NAME-VERSION.tgz`).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from homelab.gitops.model import ChartSpec

MIRROR_ENV = "HOMELAB_CHART_MIRROR"


@dataclass(frozen=True)
class ChartArchive:
    """A chart archive on disk; `digest` is the sha256 of its bytes."""

    spec: ChartSpec
    path: Path
    digest: str


@dataclass(frozen=True)
class Unavailable:
    """A chart that could not be had, and why (reported as `helm/chart-unavailable`)."""

    spec: ChartSpec
    reason: str


def mirror_folder(repo: str) -> str:
    """The mirror folder of a repository URL: its host and path (`oci://quay.io/a/b` -> `quay.io/a/b`)."""
    return repo.split("://", 1)[-1].strip("/")


def fetch(spec: ChartSpec, *, download: bool = False, offline: bool = False) -> ChartArchive | Unavailable:
    """The archive of `spec`, from the cache or the mirror.

    Nothing is fetched from a chart's own repository unless `download` (the user asked: `homelab
    charts pull`, `check --pull`); `offline` forbids every HTTP request, an http mirror's included.
    Today: a directory mirror only (the cache and downloads are still to come)."""
    if not spec.name or not spec.version:
        return Unavailable(spec, "the chart's name or version is not pinned")
    mirror = os.environ.get(MIRROR_ENV, "")
    if not mirror or "://" in mirror:
        return Unavailable(spec, f"no chart mirror directory ({MIRROR_ENV}) and downloading is not built yet")
    path = Path(mirror) / mirror_folder(spec.repo) / f"{spec.name}-{spec.version}.tgz"
    if not path.is_file():
        return Unavailable(spec, f"{spec.name} {spec.version} is not in the mirror ({path})")
    return ChartArchive(spec, path, hashlib.sha256(path.read_bytes()).hexdigest())
