"""The one module that drives the Helm engine (helm-python-sdk, Helm SDK v4 in-process).

What it adds to the Python wrapper, and why:
- `render()` calls the native render with `kube_version` and `api_versions` (the wrapper does not
  pass them), so charts see the cluster's Kubernetes version and the CRDs the tree installs.
- Helm validates values against `values.schema.json` before every render, and downloads an
  http(s) `$ref` of such a schema while doing so. `inspect()` finds those references; `load()`
  then loads a copy of the chart whose remote references are cut out, so nothing ever reaches
  the network (the report says those parts went unchecked).
- Schema and render errors become plain data (`SchemaError`, `RenderFailed`) with the chart's
  key path or the template's file and line. (Helm validates the values on every render and has no
  switch to skip it, so one render call gives both.)
- `inspect()` reads each chart archive once per machine: its facts are kept beside the compiled
  validators, in `~/.cache/homelab/chart-facts/`, by archive digest.
"""

from __future__ import annotations

import io
import json
import pickle
import re
import tarfile
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from homelab.atomicfile import write_atomic
from homelab.charts.crds import FORMAT as CRD_FORMAT
from homelab.charts.crds import CrdInfo, write_schemas
from homelab.charts.crds import info as crd_info
from homelab.usercache import user_cache_dir

RENDER_FORMAT = "1"  # bump when what render() returns changes
INFO_FORMAT = "3"    # bump when ChartInfo changes

_TEMPLATE_AT = re.compile(r"(?:template: |error at \()([^\s:()]+):(\d+)(?::\d+)?")
_SCHEMA_AT = re.compile(r"^(\s*)- at '([^']*)': (.*)$")
_COMMENTED_KEY = re.compile(rb"^\s*#+\s*([A-Za-z_][\w.-]*):(?:\s|$)", re.M)


@dataclass(frozen=True)
class ChartInfo:
    """What the checks need of a chart, as plain (cacheable) data.

    `declared`: the chart's default values coalesced with its subcharts' (what Helm starts from),
    plus the keys whose default is null (which Helm's coalescing drops); `commented`: keys that
    appear only commented out in a values file (`# storageClassName: x`).
    `schemas`: values schemas by the key path of the values they govern (`()` the chart's own,
    `("grafana",)` a subchart's). `remote_refs`: http(s) `$ref`s in any of them.
    `crds`: the CustomResourceDefinitions in `crds/` of the chart and every subchart, whose schemas
    are in the folder `crd_schemas`.
    `subcharts`: each subchart's name -> its values key (alias or name). `capabilities`: templates test
    `.Capabilities.APIVersions` (their output depends on the API versions passed);
    `template_crds`: templates create CustomResourceDefinitions.
    """

    name: str
    version: str
    declared: dict[str, Any]
    schemas: dict[tuple[str, ...], dict[str, Any]] = field(default_factory=dict)
    remote_refs: tuple[str, ...] = ()
    crds: tuple[CrdInfo, ...] = ()
    crd_schemas: str = ""
    subcharts: dict[str, str] = field(default_factory=dict)
    capabilities: bool = False
    template_crds: bool = False
    commented: frozenset[str] = frozenset()


@dataclass(frozen=True)
class SchemaError:
    path: tuple[str, ...]     # key path in the values (subchart prefix included)
    message: str
    chart: str


@dataclass(frozen=True)
class RenderFailed:
    message: str
    template: str = ""
    line: int | None = None


_loaded: dict[str, Any] = {}
_lock = threading.Lock()


def _walk_refs(node: Any, own_id: str, out: list[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(("http://", "https://")) and not (own_id and ref.startswith(own_id)):
            out.append(ref)
        for v in node.values():
            _walk_refs(v, own_id, out)
    elif isinstance(node, list):
        for v in node:
            _walk_refs(v, own_id, out)


def _cut_refs(node: Any) -> Any:
    """The schema with every remote `$ref` replaced by an empty (accept-all) schema."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(("http://", "https://")):
            return {k: _cut_refs(v) for k, v in node.items() if k != "$ref"}
        return {k: _cut_refs(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_cut_refs(v) for v in node]
    return node


def _archive_files(data: bytes) -> dict[str, bytes]:
    """Every regular file of a chart archive (nested subchart archives are opened too, their
    members named as if they were directories)."""
    out: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
        for m in tar.getmembers():
            if not m.isfile():
                continue
            fh = tar.extractfile(m)
            if fh is None:
                continue
            body = fh.read()
            name = m.name.lstrip("./")
            if name.endswith(".tgz") and "/charts/" in name:
                base = name.rsplit("/", 1)[0]
                for sub, b in _archive_files(body).items():
                    out[f"{base}/{sub}"] = b
            else:
                out[name] = body
    return out


def _values_path(file: str, aliases: dict[str, str]) -> tuple[str, ...]:
    """`kps/charts/grafana/values.schema.json` -> ("grafana",): the values key path a subchart's
    schema governs (aliases of the root chart's dependencies applied)."""
    parts = file.split("/")[1:-1]  # drop the chart's top folder and the file name
    keys = tuple(parts[i + 1] for i in range(0, len(parts) - 1, 2) if parts[i] == "charts")
    return tuple(aliases.get(k, k) for k in keys[:1]) + keys[1:]


def _union(a: Any, b: Any) -> Any:
    """Both trees of keys: maps are joined, a value wins over null."""
    if isinstance(a, dict) and isinstance(b, dict):
        return {k: _union(a.get(k), b.get(k)) for k in {**a, **b}}
    return a if b is None else b


def load(path: Path, digest: str, remote_refs: tuple[str, ...] = ()):
    """The loaded chart (one per archive digest and process). A chart whose values schemas hold
    remote references is loaded from an unpacked copy with those references cut out."""
    from helm_python import Chart, expand

    with _lock:
        if digest in _loaded:
            return _loaded[digest]
        if not remote_refs:
            chart = Chart.load(path)
        else:
            tmp = Path(tempfile.mkdtemp(prefix="homelab-chart-"))
            expand(tmp, path)
            for schema in tmp.rglob("values.schema.json"):
                schema.write_text(json.dumps(_cut_refs(json.loads(schema.read_text(encoding="utf-8")))), encoding="utf-8")
            top = next(p for p in tmp.iterdir() if p.is_dir())
            chart = Chart.load(top)
        _loaded[digest] = chart
        return chart


def _facts_file(digest: str) -> Path:
    return user_cache_dir("chart-facts") / f"{INFO_FORMAT}-{CRD_FORMAT}-{digest[:40]}.pickle"


def inspect(path: Path, digest: str) -> ChartInfo:
    """What the checks need of a chart (see `ChartInfo`), read once per archive digest and machine."""
    target = _facts_file(digest)
    try:
        with target.open("rb") as fh:
            found = pickle.load(fh)
        if isinstance(found, ChartInfo) and (not found.crd_schemas or (Path(found.crd_schemas) / ".complete").is_file()):
            return found
    except (OSError, pickle.PickleError, EOFError, AttributeError, TypeError):
        pass
    found = _inspect(path, digest)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, pickle.dumps(found, protocol=pickle.HIGHEST_PROTOCOL))
    except OSError:
        pass  # a read-only home: read the chart again next time
    return found


def _inspect(path: Path, digest: str) -> ChartInfo:
    """Read a chart archive: defaults, schemas, CRDs, subcharts (see `ChartInfo`)."""
    from homelab.yamlio import load_manifests

    files = _archive_files(path.read_bytes())
    top = next((f.split("/", 1)[0] for f in files if f.count("/") == 1 and f.endswith("/Chart.yaml")), "")
    chart_docs = load_manifests(files.get(f"{top}/Chart.yaml", b"").decode("utf-8", "replace"))
    meta: dict[str, Any] = chart_docs[0] if chart_docs and isinstance(chart_docs[0], dict) else {}
    aliases = {str(d.get("name")): str(d.get("alias")) for d in meta.get("dependencies") or []
               if isinstance(d, dict) and d.get("alias")}
    schemas: dict[tuple[str, ...], dict[str, Any]] = {}
    refs: list[str] = []
    crds: list[dict[str, Any]] = []
    capabilities = template_crds = False
    declared: dict[str, Any] = {}
    commented: set[str] = set()
    for name, body in sorted(files.items()):
        if name.endswith("/values.yaml") and "/templates/" not in name:
            commented.update(k.decode() for k in _COMMENTED_KEY.findall(body))
            try:
                docs = load_manifests(body.decode("utf-8", "replace"))
            except Exception:  # noqa: BLE001  (Helm reports a broken values.yaml when it loads the chart)
                docs = []
            raw = docs[0] if docs and isinstance(docs[0], dict) else {}
            at = _values_path(name, aliases)
            if len(at) <= 1:
                declared = _union(declared, {at[0]: raw} if at else raw)
    for name, body in sorted(files.items()):
        rel = name.split("/", 1)[-1]
        if name.endswith("/values.schema.json") and ("/" not in rel or rel.startswith("charts/")) \
                and name.count("/templates/") == 0:
            try:
                schema = json.loads(body)
            except ValueError:
                continue
            if isinstance(schema, dict):
                schemas[_values_path(name, aliases)] = schema
                _walk_refs(schema, str(schema.get("$id") or ""), refs)
        elif "/crds/" in name and name.endswith((".yaml", ".yml", ".json")) and "/templates/" not in name:
            text = body.decode("utf-8", "replace")
            try:
                docs = [json.loads(text)] if name.endswith(".json") else load_manifests(text)
            except Exception:  # noqa: BLE001  (a CRD file Helm would refuse too: reported at render)
                continue
            crds += [d for d in docs if isinstance(d, dict) and d.get("kind") == "CustomResourceDefinition"]
        elif "/templates/" in name:
            capabilities = capabilities or b"Capabilities.APIVersions" in body
            template_crds = template_crds or b"kind: CustomResourceDefinition" in body
    chart = load(path, digest, tuple(refs))
    deps = {str(d.get("name")): str(d.get("alias") or d.get("name")) for d in meta.get("dependencies") or []
            if isinstance(d, dict)}
    folder = write_schemas(digest, crds) if crds else None
    return ChartInfo(name=str(meta.get("name") or top), version=str(meta.get("version") or ""),
                     declared=_union(declared, chart.merge_values({})), schemas=schemas,
                     remote_refs=tuple(dict.fromkeys(refs)), crds=tuple(i for i in map(crd_info, crds) if i),
                     crd_schemas=str(folder or ""), subcharts=deps, capabilities=capabilities, template_crds=template_crds,
                     commented=frozenset(commented))


def schema_errors(text: str, info: ChartInfo) -> list[SchemaError]:
    """Helm's schema validation message as one error per offending key (the innermost reported path
    of each failure; a subchart's paths under its values key)."""
    found: list[SchemaError] = []
    current = info.name
    for line in text.splitlines():
        m = _SCHEMA_AT.match(line)
        if m is None:
            if line.endswith(":") and not line.startswith((" ", "-")):
                current = line[:-1].strip()
            continue
        path = tuple(p.replace("~1", "/").replace("~0", "~") for p in m.group(2).split("/") if p)
        if current != info.name:
            path = (info.subcharts.get(current, current), *path)
        msg = m.group(3)
        extra = re.match(r"additional properties? (.+) not allowed", msg)
        if extra:
            for key in re.findall(r"'([^']+)'", extra.group(1)):
                found.append(SchemaError((*path, key), f"'{key}' is not allowed here ({msg})", current))
            continue
        found.append(SchemaError(path, msg, current))
    # keep the innermost errors: "allOf failed" at a parent is explained by its children
    paths = [e.path for e in found]
    leaves = [e for e in found if not any(len(p) > len(e.path) and p[:len(e.path)] == e.path for p in paths)]
    return leaves or [SchemaError((), " ".join(text.split())[:400], info.name)]


def render(chart, info: ChartInfo, values: dict[str, Any], *, name: str, namespace: str, kube_version: str,
           api_versions: list[str]) -> dict[str, str] | RenderFailed | list[SchemaError]:
    """Templates rendered as an install would (`{template path: manifest}`), or why not: Helm
    validates the values against the chart's schemas first (its errors, one per key), then renders."""
    from helm_python import _native
    from helm_python.errors import HelmError, HelmValuesError

    opts = {"name": name, "namespace": namespace, "is_install": True, "revision": 1,
            "kube_version": kube_version, "api_versions": api_versions}
    try:
        out = _native.call_string("helm_render", chart._raw(), json.dumps(values), json.dumps(opts))
    except HelmValuesError as exc:
        return schema_errors(str(exc), info)
    except HelmError as exc:
        text = " ".join(str(exc).split())
        m = _TEMPLATE_AT.search(text)
        return RenderFailed(text[:600], m.group(1) if m else "", int(m.group(2)) if m else None)
    rendered: dict[str, str] = json.loads(out)
    return rendered
