"""Replaying recorded API responses: `homelab status --recorded DIR` reports from a saved snapshot.

Useful for looking at a snapshot someone sent you, and what the tests use. DIR holds:

    proxmox/nodes.json                 GET /api2/json/nodes                     ({"data": [...]})
    proxmox/cluster_resources.json     GET /api2/json/cluster/resources
    proxmox/nodes_<node>_qemu.json     GET /api2/json/nodes/<node>/qemu
    kubernetes/<group|core>_<version>_<plural>.json   a List response (`kubectl get --raw` of the list URL)
    dns.json                           {"name": ["address", ...]} as the Pi answered (a missing name is NXDOMAIN)
    https.json                         {"name": status code, or an error message string}
    meta.json                          the manifest, {"recorded_at": "2026-11-28T06:00:00Z"}: expiry is counted from then

A folder without the manifest is not a recording; a recording missing any response is refused
too (`validate`), because a missing list would read as "nothing there", which looks healthy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.resolver
import httpx

from homelab.errors import HomelabError, problem
from homelab.inputs import json_line
from homelab.inputs import load_json as read_json
from homelab.status import kube as k

MANIFEST = "meta.json"
# Every response the report reads, and what it is (named when one is missing).
RESPONSES: dict[str, str] = {
    "proxmox/nodes.json": "GET /api2/json/nodes",
    "proxmox/cluster_resources.json": "GET /api2/json/cluster/resources",
    **{f"kubernetes/{g or 'core'}_{v}_{p}.json": f"the {p} list ({'/api' if not g else '/apis/' + g}/{v}/{p})"
       for g, v, p in (k.NODES, k.KUSTOMIZATIONS, k.HELMRELEASES, k.CERTIFICATES, k.LONGHORN_VOLUMES)},
    "dns.json": "the Pi's answers for the lan names",
    "https.json": "each route's HTTPS answer",
}
LAYOUT_HINT = "`homelab status --help` lists what a recording holds; tests/fixtures/status/healthy is one"


def validate(folder: Path) -> None:
    """Raise HomelabError naming what is missing when `folder` is not a complete recording."""
    if not (folder / MANIFEST).is_file():
        present = [rel for rel in RESPONSES if (folder / rel).is_file()]
        what = f"{len(present)} of the {len(RESPONSES)} responses are there" if present else "and none of the responses"
        raise HomelabError.single(str(folder), f"not a status recording: its manifest {MANIFEST} is missing ({what})",
                                  hint=LAYOUT_HINT)
    problems = [problem(str(folder / rel), f"missing from the recording: {what}",
                        hint="record it, or take the whole folder again") for rel, what in RESPONSES.items()
                if not (folder / rel).is_file()]
    manifest = load_json(folder / MANIFEST, {})
    if isinstance(manifest, dict) and not manifest.get("recorded_at"):
        problems.insert(0, problem(str(folder / MANIFEST), "is missing: when the responses were saved (certificate "
                                   "expiry counts from then)", path="recorded_at",
                                   hint='add "recorded_at": "2026-11-28T06:00:00Z" with the time of the recording'))
    if problems:
        raise HomelabError(problems)


class RecordedProxmox:
    """Answers like `proxmoxer.ProxmoxAPI` (attribute paths, `node(...)` calls, `.get()`) from recorded files."""

    def __init__(self, folder: Path, path: tuple[str, ...] = ()):
        self._folder = folder
        self._path = path

    def __getattr__(self, name: str) -> "RecordedProxmox":
        if name.startswith("_"):
            raise AttributeError(name)
        return RecordedProxmox(self._folder, (*self._path, name))

    def __call__(self, *parts: Any) -> "RecordedProxmox":
        return RecordedProxmox(self._folder, (*self._path, *(str(p) for p in parts)))

    def get(self, **params: Any) -> Any:
        file = self._folder / ("_".join(self._path) + ".json")
        if not file.exists():
            raise FileNotFoundError(f"no recorded response for GET /{'/'.join(self._path)} ({file})")
        return _field(file, "data")  # proxmoxer unwraps "data" the same way


class RecordedKube:
    """A KubeReader over recorded List responses."""

    def __init__(self, folder: Path):
        self._folder = folder

    def list(self, group: str, version: str, plural: str) -> list[dict[str, Any]]:
        file = self._folder / f"{group or 'core'}_{version}_{plural}.json"
        if not file.exists():
            raise FileNotFoundError(f"no recorded response for the {plural} list ({file})")
        items = _field(file, "items")
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise SnapshotError.single(str(file), "'items' must be a list of objects", line=json_line(
                file.read_text(encoding="utf-8", errors="replace"), "items"), hint=_HINT)
        return items


class RecordedResolver:
    """Answers `resolve(name, "A")` from a {name: [addresses]} map, with dnspython's own rdata and errors."""

    def __init__(self, answers: dict[str, list[str]]):
        self._answers = answers

    def resolve(self, name: str, rdtype: str = "A") -> list[Any]:
        if name not in self._answers:
            raise dns.resolver.NXDOMAIN(qnames=[name])
        return [dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(rdtype), a) for a in self._answers[name]]


def recorded_transport(answers: dict[str, int | str]) -> httpx.MockTransport:
    """An httpx transport answering each Host with its recorded status, or failing with the recorded error."""

    def handler(request: httpx.Request) -> httpx.Response:
        host = request.headers.get("host", "")
        answer = answers.get(host, "connection refused (no recorded answer)")
        if isinstance(answer, str):
            raise httpx.ConnectError(answer, request=request)
        return httpx.Response(answer, request=request)

    return httpx.MockTransport(handler)


_HINT = "record it again, or fix the file (layout: see homelab.status.recorded)"


class SnapshotError(HomelabError):
    """A recorded file is malformed: a usage error naming it (exit 2), not an unhealthy lab."""


def _read(path: Path) -> Any:
    try:
        return read_json(path, hint=_HINT)
    except HomelabError as exc:
        raise SnapshotError(exc.problems) from None


def _field(file: Path, key: str) -> Any:
    """`key` of a recorded response; a malformed file is a SnapshotError naming it."""
    data = _read(file)
    if not isinstance(data, dict) or key not in data:
        raise SnapshotError.single(str(file), f"expected an object with '{key}', as the API answers", line=1, hint=_HINT)
    return data[key]


def load_json(path: Path, default: Any, shape: type = dict) -> Any:
    """A recorded JSON file (or `default` when absent); malformed or of another shape: a SnapshotError."""
    if not path.exists():
        return default
    data = _read(path)
    if not isinstance(data, shape):
        raise SnapshotError.single(str(path), f"expected a JSON {'object' if shape is dict else 'list'}", line=1,
                                  hint=_HINT)
    return data
