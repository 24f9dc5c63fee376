"""Chart repositories over HTTP(S), and the folders of a directory mirror, read the same way.

A location is an `http(s)://` URL or a local path (a directory mirror). `Session.index` reads a
repository's `index.yaml` once per run; `archive_location` resolves an entry's `urls` against it;
`Session.download` streams an archive into the cache's pending file while hashing it. Every request
has a connect/read timeout and a deadline for the whole transfer, so nothing hangs; `offline`
refuses every request before it is made.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import yaml

from homelab.atomicfile import PendingFile
from homelab.charts.archive import ChartProblem

if TYPE_CHECKING:
    import httpx


def __getattr__(name: str) -> Any:
    """httpx (and `TIMEOUT`, made of it) are imported on first use: `homelab check` reads charts from
    the cache or a directory mirror on every run and must not pay for an HTTP client it never uses."""
    if name == "httpx":
        import httpx

        return httpx
    if name == "TIMEOUT":
        import httpx

        return httpx.Timeout(10.0, read=30.0)
    raise AttributeError(name)


def _timeout() -> httpx.Timeout:
    return globals()["TIMEOUT"] if "TIMEOUT" in globals() else __getattr__("TIMEOUT")

DEADLINE = 300.0  # seconds for one transfer, however slowly the bytes trickle in
MAX_INDEX = 256 << 20  # the largest public indexes are a few tens of MiB
MAX_ARCHIVE = 64 << 20
CHUNK = 1 << 16


def is_url(location: str) -> bool:
    return location.startswith(("http://", "https://"))


def shown(location: str) -> str:
    """`location` fit for a message: the user and password of a URL (before its `@`) are masked."""
    return re.sub(r"^(https?://)[^/@]*@", r"\1***@", location)


class Session:
    """One run's HTTP client and the indexes already read (an index is fetched at most once)."""

    def __init__(self, *, offline: bool = False, transport: httpx.BaseTransport | None = None):
        self.offline = offline
        self._transport = transport
        self._client: httpx.Client | None = None
        self._indexes: dict[str, dict[str, Any] | ChartProblem] = {}

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _chunks(self, location: str, limit: int) -> Iterator[bytes]:
        """The bytes at `location`, in chunks; a ChartProblem says what went wrong and where."""
        if not is_url(location):
            try:
                with open(location, "rb") as fh:
                    yield from iter(lambda: fh.read(CHUNK), b"")
            except FileNotFoundError:
                raise ChartProblem(f"{location} does not exist") from None
            except OSError as exc:
                raise ChartProblem(f"cannot read {location}: {exc.strerror}") from None
            return
        if self.offline:
            raise ChartProblem(f"offline: not fetching {shown(location)}")
        import httpx

        if self._client is None:
            self._client = httpx.Client(timeout=_timeout(), follow_redirects=True, transport=self._transport,
                                        headers={"User-Agent": "homelab"})
        start, size = time.monotonic(), 0
        try:
            with self._client.stream("GET", location) as resp:
                if resp.status_code != 200:
                    hint = (" (it wants credentials: serve the repository's charts from a mirror, "
                            "HOMELAB_CHART_MIRROR, an https URL may carry the user and password)"
                            if resp.status_code in (401, 403) else "")
                    raise ChartProblem(f"HTTP {resp.status_code} from {shown(location)}{hint}")
                for chunk in resp.iter_bytes(CHUNK):
                    size += len(chunk)
                    if size > limit:
                        raise ChartProblem(f"{shown(location)} is larger than {limit >> 20} MiB; refused")
                    if time.monotonic() - start > DEADLINE:
                        raise ChartProblem(f"{shown(location)} took longer than {DEADLINE:.0f} s; gave up")
                    yield chunk
        except httpx.TimeoutException:
            raise ChartProblem(f"timed out fetching {shown(location)}") from None
        except httpx.HTTPError as exc:
            raise ChartProblem(f"cannot fetch {shown(location)}: {exc}") from None

    def index(self, location: str) -> dict[str, Any]:
        """The parsed `index.yaml` at `location` (read once per session; a failure is remembered too)."""
        got = self._indexes.get(location)
        if got is None:
            try:
                got = parse_index(b"".join(self._chunks(location, MAX_INDEX)), shown(location))
            except ChartProblem as exc:
                got = exc
            self._indexes[location] = got
        if isinstance(got, ChartProblem):
            raise got
        return got

    def download(self, location: str, into: PendingFile) -> str:
        """Stream the archive at `location` into `into`; its sha256 (hex)."""
        h = hashlib.sha256()
        write: Callable[[bytes], Any] = into.file.write
        for chunk in self._chunks(location, MAX_ARCHIVE):
            h.update(chunk)
            write(chunk)
        into.file.flush()
        return h.hexdigest()


def parse_index(data: bytes, where: str) -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # indexes of big repositories are tens of MiB
    try:
        doc = yaml.load(data, Loader=loader)  # noqa: S506 (a safe loader)
    except yaml.YAMLError as exc:
        raise ChartProblem(f"{where} is not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("entries"), dict):
        raise ChartProblem(f"{where} is not a Helm repository index (no `entries`)")
    return doc


def find_entry(index: dict[str, Any], name: str, version: str, where: str) -> dict[str, Any]:
    """The index entry of `name` at exactly `version`."""
    versions = index["entries"].get(name)
    if not isinstance(versions, list) or not versions:
        raise ChartProblem(f"{where} has no chart {name}")
    for entry in versions:
        if isinstance(entry, dict) and str(entry.get("version")) == version:
            return entry
    have = [str(e.get("version")) for e in versions[:5] if isinstance(e, dict)]
    raise ChartProblem(f"{where} has no {name}-{version} (newest there: {', '.join(have)})")


def entry_digest(entry: dict[str, Any]) -> str | None:
    """The sha256 (hex) the index records for the archive, if it records one."""
    raw = str(entry.get("digest") or "").lower().removeprefix("sha256:")
    return raw if re.fullmatch(r"[0-9a-f]{64}", raw) else None


def archive_location(entry: dict[str, Any], index_location: str, *, mirror: bool) -> str:
    """Where the entry's archive is: its first `urls` item resolved against the index.

    In a mirror, an absolute URL (an index copied from a site whose archives live elsewhere) is
    taken as the file of that name beside the index: a mirror is never left for another host."""
    urls = entry.get("urls")
    url = next((u for u in urls if isinstance(u, str) and u), "") if isinstance(urls, list) else ""
    if not url:
        raise ChartProblem(f"{shown(index_location)}: the entry of {entry.get('name')} {entry.get('version')} has no urls")
    parts = urlsplit(url)
    if parts.scheme:
        if mirror:
            url = posixpath.basename(parts.path)
        elif parts.scheme in ("http", "https"):
            return url
        else:
            raise ChartProblem(f"{shown(index_location)}: archive URL {shown(url)} is neither http nor https")
    if is_url(index_location):
        return urljoin(index_location, url)
    return os.path.normpath(os.path.join(os.path.dirname(index_location), url))
