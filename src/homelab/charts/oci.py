"""Charts in OCI registries, pulled with Helm's own registry client (helm_python, in-process).

The tag is resolved to its manifest digest first and the chart is then pulled by that digest, so
what lands in the cache is exactly the manifest that was resolved: Helm's client checks the
manifest against its digest and the chart layer against the manifest while it copies. The archive
is the chart layer itself, so its sha256 is the layer digest. Credentials are Helm's own
(`helm registry login`); registries on a loopback address are spoken to over plain HTTP, as
container tools treat them. The native calls cannot be interrupted, so they run in a worker thread
that the caller stops waiting for after `DEADLINE` seconds.
"""

from __future__ import annotations

import ipaddress
import tempfile
import threading
from pathlib import Path
from urllib.parse import urlsplit

from homelab.charts.archive import ChartArchive, ChartProblem, check_archive, sha256_file
from homelab.charts.cache import ChartCache
from homelab.gitops.model import ChartSpec

DEADLINE = 300.0


def oci_tag(version: str) -> str:
    """OCI tags cannot hold `+`; Helm stores SemVer build metadata with `_` instead."""
    return version.replace("+", "_")


def is_loopback(repo: str) -> bool:
    host = urlsplit(repo).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _pull(spec: ChartSpec, cache: ChartCache) -> ChartArchive:
    from helm_python import registry
    from helm_python.errors import HelmError

    ref, tag = f"{spec.repo}/{spec.name}", oci_tag(spec.version)
    plain = is_loopback(spec.repo)
    try:
        with registry.RegistryClient(plain_http=plain) as client:
            try:
                manifest = str(client.resolve(f"{ref}:{tag}")["digest"])
            except HelmError as exc:
                if "not found" in str(exc):
                    raise ChartProblem(f"the registry has no {spec.name}:{tag} ({ref})") from None
                raise
            cache.blobs.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=cache.blobs, prefix=".pull.") as tmp:
                client.pull(f"{ref}@{manifest}", destination=tmp, plain_http=plain)
                got = sorted(Path(tmp).glob("*.tgz"))
                if len(got) != 1:
                    raise ChartProblem(f"pulling {ref}@{manifest} gave {len(got)} archives, expected one")
                check_archive(got[0], spec.name, f"{ref}:{tag}")
                return cache.put(spec, got[0], sha256_file(got[0]), f"{ref}:{tag}", manifest=manifest)
    except HelmError as exc:
        raise ChartProblem(f"{ref}:{tag}: {exc}") from None


def pull(spec: ChartSpec, cache: ChartCache, deadline: float = DEADLINE) -> ChartArchive:
    """Pull `spec` from its registry into `cache`; a ChartProblem on any failure or after `deadline`."""
    box: list[ChartArchive | BaseException] = []

    def work() -> None:
        try:
            box.append(_pull(spec, cache))
        except BaseException as exc:  # noqa: BLE001 (handed to the waiting thread)
            box.append(exc)

    worker = threading.Thread(target=work, name=f"oci-pull-{spec.name}", daemon=True)
    worker.start()
    worker.join(deadline)
    if not box:
        raise ChartProblem(f"{spec.artifact}: no answer from the registry within {deadline:.0f} s")
    if isinstance(box[0], BaseException):
        if isinstance(box[0], ChartProblem):
            raise box[0]
        raise ChartProblem(f"{spec.artifact}: {box[0]}")
    return box[0]
