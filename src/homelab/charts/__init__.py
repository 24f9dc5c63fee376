"""Helm charts the Flux tree installs: found, fetched into a content-addressed cache, rendered.

`fetch(spec)` turns a `ChartSpec` (from `FluxTree.chart_of`) into a `ChartArchive` on disk, or an
`Unavailable` that says why; it never raises for a chart that cannot be had. Where it looks, in
order:

1. the cache (`homelab.charts.cache`): a pin fetched before is served with no request at all;
2. the mirror, when `HOMELAB_CHART_MIRROR` is set: a directory or an http(s) URL with one folder
   per repository, named after the host and path of the repository's URL
   (`https://traefik.github.io/charts` -> `traefik.github.io/charts/`, with its `index.yaml`;
   `oci://quay.io/jetstack/charts` -> `quay.io/jetstack/charts/`, holding `NAME-VERSION.tgz`).
   A mirror stands in for every repository: with one set, no chart repository is ever contacted
   (an air-gapped site must not reach out, whatever is missing from its mirror);
3. otherwise, only with `download=True` (the user asked: `homelab charts pull`, `check --pull`),
   the chart's own repository: HTTP repositories through their `index.yaml`
   (`homelab.charts.http`), OCI registries through Helm's registry client (`homelab.charts.oci`).

`offline=True` forbids every network request, an http mirror's included. Archives from an index
are checked against the index's `digest` before they are stored; OCI pulls are pinned to the
manifest digest the tag resolved to.
"""

from __future__ import annotations

import os
from pathlib import Path

from homelab.charts.archive import ChartArchive, ChartProblem, Unavailable, check_archive
from homelab.charts.cache import ChartCache
from homelab.charts.http import Session, archive_location, entry_digest, find_entry, is_url, shown
from homelab.gitops.model import ChartSpec

__all__ = ["MIRROR_ENV", "ChartArchive", "ChartCache", "Session", "Unavailable", "fetch", "mirror_folder"]

MIRROR_ENV = "HOMELAB_CHART_MIRROR"


def mirror_folder(repo: str) -> str:
    """The mirror folder of a repository URL: its host and path (`oci://quay.io/a/b` -> `quay.io/a/b`)."""
    return repo.split("://", 1)[-1].strip("/")


def _join(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *parts]) if is_url(base) else os.path.join(base, *parts)


def _store(spec: ChartSpec, location: str, expected: str | None, session: Session, cache: ChartCache,
           what: str) -> ChartArchive:
    """Download `location` into the cache; refused (and nothing kept) unless its digest is `expected`."""
    where = shown(location)
    with cache.pending() as pending:
        digest = session.download(location, pending)
        if expected is not None and digest != expected:
            raise ChartProblem(f"index digest mismatch for {spec.name}-{spec.version}: {what} says "
                               f"sha256:{expected[:16]}…, {where} has sha256:{digest[:16]}…; not stored")
        check_archive(pending.path, spec.name, where)
        return cache.put(spec, pending, digest, where, verified=expected is not None)


def _from_index(spec: ChartSpec, base: str, session: Session, cache: ChartCache, *, mirror: bool) -> ChartArchive:
    index = _join(base, "index.yaml")
    entry = find_entry(session.index(index), spec.name, spec.version, shown(index))
    return _store(spec, archive_location(entry, index, mirror=mirror), entry_digest(entry), session, cache, shown(index))


def _from_mirror(spec: ChartSpec, mirror: str, session: Session, cache: ChartCache) -> ChartArchive:
    if not is_url(mirror) and not Path(mirror).is_dir():
        raise ChartProblem(f"{MIRROR_ENV}={shown(mirror)} is neither a folder nor an http(s) URL")
    base = _join(mirror, mirror_folder(spec.repo))
    if not spec.oci:
        return _from_index(spec, base, session, cache, mirror=True)
    archive = _join(base, f"{spec.name}-{spec.version}.tgz")
    try:
        return _store(spec, archive, None, session, cache, "")
    except ChartProblem as exc:
        if str(exc).startswith(("HTTP 404", f"{archive} does not exist")):
            raise ChartProblem(f"mirror has no {spec.name}-{spec.version} ({shown(archive)})") from None
        raise


def _from_repository(spec: ChartSpec, session: Session, cache: ChartCache) -> ChartArchive:
    if spec.oci:
        from homelab.charts import oci

        return oci.pull(spec, cache)
    if not is_url(spec.repo):
        raise ChartProblem(f"repository URL {spec.repo} is neither http(s) nor oci")
    return _from_index(spec, spec.repo, session, cache, mirror=False)


def fetch(spec: ChartSpec, *, download: bool = False, offline: bool = False, session: Session | None = None,
          cache: ChartCache | None = None) -> ChartArchive | Unavailable:
    """The archive of `spec`, from the cache, the mirror or (with `download`) its own repository.

    `session` shares one HTTP client and the indexes read across many charts (`homelab charts
    pull`); `cache` defaults to the user's chart cache."""
    if not spec.name or not spec.version:
        return Unavailable(spec, "the chart's name or version is not pinned")
    cache = cache if cache is not None else ChartCache()
    hit = cache.get(spec)
    if hit is not None:
        return hit
    own = session is None or (offline and not session.offline)  # an online session never serves offline=True
    if session is None or own:
        session = Session(offline=offline)
    try:
        return _locate(spec, download, session, cache)
    except ChartProblem as exc:
        return Unavailable(spec, str(exc))
    except OSError as exc:  # the cache folder cannot be written (read-only home, a file in the way, disk full)
        return Unavailable(spec, f"cannot write the chart cache {cache.root}: {exc.strerror or exc} "
                                 f"(set HOMELAB_CACHE_DIR to a writable folder)")
    finally:
        if own:
            session.close()


def _locate(spec: ChartSpec, download: bool, session: Session, cache: ChartCache) -> ChartArchive:
    mirror = os.environ.get(MIRROR_ENV, "").strip()
    if mirror and session.offline and is_url(mirror):
        raise ChartProblem(f"not in the cache, and offline: the mirror {shown(mirror)} is not read")
    if mirror:
        try:
            return _from_mirror(spec, mirror, session, cache)
        except ChartProblem as exc:
            raise ChartProblem(str(exc) if str(exc).startswith("mirror") else f"mirror: {exc}") from None
    if session.offline:
        raise ChartProblem("not in the cache, and offline: run `homelab charts pull` while online")
    if not download:
        raise ChartProblem(f"not in the cache: run `homelab charts pull` to download it from {spec.repo}")
    return _from_repository(spec, session, cache)
