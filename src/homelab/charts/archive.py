"""What fetching a chart yields: an archive on disk, or the reason it could not be had."""

from __future__ import annotations

import hashlib
import tarfile
from dataclasses import dataclass
from pathlib import Path

from homelab.gitops.model import ChartSpec


@dataclass(frozen=True)
class ChartArchive:
    """A chart archive on disk; `digest` is the sha256 (hex) of its bytes.

    `origin` says where it came from this time: `cache`, or the URL or file it was fetched from."""

    spec: ChartSpec
    path: Path
    digest: str
    origin: str = ""


@dataclass(frozen=True)
class Unavailable:
    """A chart that could not be had, and why (reported as `helm/chart-unavailable`)."""

    spec: ChartSpec
    reason: str


class ChartProblem(Exception):
    """Why one way of getting a chart failed; its text is the reason a user reads."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_archive(path: Path, name: str, where: str) -> None:
    """Refuse a file that is not a chart archive of `name` (a gzip tarball with `NAME/Chart.yaml`),
    so an HTML error page or a wrong file never enters the cache."""
    try:
        with tarfile.open(path, "r:gz") as tar:
            if any(m.name.lstrip("./") == f"{name}/Chart.yaml" for m in tar):
                return
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ChartProblem(f"{where} is not a chart archive ({exc})") from None
    raise ChartProblem(f"{where} is not an archive of chart {name} (no {name}/Chart.yaml in it)")
