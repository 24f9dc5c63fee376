"""Every HelmRelease of a Flux tree, rendered the way helm-controller would install it.

For each release: its chart (`homelab.charts.fetch`), its values (`homelab.charts.values.compose`),
Helm's schema validation, the keys the chart does not know, and the templates rendered in-process
at the cluster's Kubernetes version with the API versions of every CRD the tree installs. The
rendered objects become `K8sObject`s that carry the HelmRelease's file and line and the template
they came from, so every rule checks them like objects kept in Git.

Release name and namespace follow helm-controller: `spec.releaseName`, else
`[targetNamespace-]name`, shortened above 53 characters to its first 40, a dash and 12 hex digits
of its SHA-256; the namespace is `targetNamespace`, else the HelmRelease's own.

Renders are cached (in the `homelab.gitops.Cache` of the run) by chart digest, values digest,
Kubernetes version, API versions and release name/namespace; charts' facts once per chart digest
(`homelab.charts.engine.inspect`).
Releases render concurrently (the native library releases the GIL).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from homelab.charts import ChartArchive, Unavailable, engine, fetch
from homelab.charts import crds as crd_mod
from homelab.charts.values import ReplacedList, UnknownKey, compose, replaced_lists, unknown_keys
from homelab.gitops.cache import Cache, digest
from homelab.gitops.model import CLUSTER_SCOPED, ChartSpec, FluxTree, K8sObject
from homelab.yamlio import load_manifests

# How Helm splits a rendered template into documents (releaseutil.SplitManifests): a plain YAML
# split would join `---# comment` lines to the previous document.
_SEP = re.compile(r"(?:^|\s*\n)---\s*")
MAX_RELEASE_NAME = 53


def release_name(hr: K8sObject) -> str:
    name = str(hr.spec.get("releaseName") or "")
    if not name:
        target = str(hr.spec.get("targetNamespace") or "")
        name = f"{target}-{hr.name}" if target else hr.name
    if len(name) > MAX_RELEASE_NAME:
        name = f"{name[:40]}-{hashlib.sha256(name.encode()).hexdigest()[:12]}"
    return name


def kube_version(k3s_version: str, override: str | None = None) -> str:
    """The cluster's version as Helm's `.Capabilities.KubeVersion` shows it (`v1.36.4+k3s1`); an
    override such as `1.35` becomes `v1.35.0`."""
    if override:
        v = override.lstrip("v")
        return "v" + (v if v.count(".") >= 2 else v + ".0")
    return "v" + k3s_version.lstrip("v")


def release_namespace(hr: K8sObject) -> str:
    return str(hr.spec.get("targetNamespace") or hr.namespace)


@dataclass
class Release:
    """One HelmRelease and what the chart makes of it. `unavailable` says why the chart could not be
    had (then nothing else is known); `rendered` is True once the templates rendered."""

    hr: K8sObject
    spec: ChartSpec | None
    name: str
    namespace: str
    unavailable: str = ""
    digest: str = ""
    info: engine.ChartInfo | None = None
    values: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    schema_errors: list[engine.SchemaError] = field(default_factory=list)
    unknown: list[UnknownKey] = field(default_factory=list)
    replaced: list[ReplacedList] = field(default_factory=list)
    render_error: engine.RenderFailed | None = None
    objects: list[K8sObject] = field(default_factory=list)
    crds: list[crd_mod.CrdInfo] = field(default_factory=list)
    schema_dirs: list[Path] = field(default_factory=list)
    from_cache: bool = False
    render_key: str = ""
    template_crds: tuple[crd_mod.CrdInfo, ...] = ()
    template_schemas: list[Path] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.hr.namespace}/{self.hr.name}"

    @property
    def rendered(self) -> bool:
        return bool(self.info) and not self.schema_errors and self.render_error is None


@dataclass
class Charts:
    """The tree's releases, the API versions they were rendered with, and the folders of CRD
    schemas taken from the charts (`<group>/<kind>_<version>.json`, as `schema/crds`)."""

    releases: list[Release] = field(default_factory=list)
    api_versions: list[str] = field(default_factory=list)
    schema_dirs: list[Path] = field(default_factory=list)
    renders: int = 0

    @property
    def rendered(self) -> list[Release]:
        return [r for r in self.releases if r.rendered]


def split(manifest: str) -> list[str]:
    return [d for d in _SEP.split(manifest) if d.strip()]


def _hook_is_test(body: dict[str, Any]) -> bool:
    hooks = str(((body.get("metadata") or {}).get("annotations") or {}).get("helm.sh/hook") or "")
    return any(h.strip().startswith("test") for h in hooks.split(","))


def _parse(rendered: dict[str, str]) -> tuple[list[tuple[str, dict[str, Any]]], engine.RenderFailed | None]:
    """(template, object) of every rendered document; Helm's own parse failure when one is not YAML."""
    docs: list[tuple[str, dict[str, Any]]] = []
    for template in sorted(rendered):
        if template.endswith("NOTES.txt"):
            continue
        for part in split(rendered[template]):
            try:
                loaded = load_manifests(part)
            except Exception as exc:  # noqa: BLE001  (any YAML error: Helm refuses the release the same way)
                return docs, engine.RenderFailed(f"YAML parse error in {template}: {' '.join(str(exc).split())[:300]}",
                                                 template)
            for body in loaded:
                if isinstance(body, dict) and body and not _hook_is_test(body):
                    docs.append((template, body))
    return docs, None


def _slim(body: dict[str, Any]) -> dict[str, Any]:
    """A rendered CRD without its (large) schemas, once they are on disk: what the checks use of the
    CRD object itself is its names, versions and scope."""
    if body.get("kind") != "CustomResourceDefinition" or not isinstance(body.get("spec"), dict):
        return body
    versions = [{**v, "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}
                if isinstance(v, dict) and "schema" in v else v for v in body["spec"].get("versions") or []]
    return {**body, "spec": {**body["spec"], "versions": versions}}


def _objects(rel: Release, docs: list[tuple[str, dict[str, Any]]], cluster_kinds: set[str]) -> list[K8sObject]:
    hr = rel.hr
    out = []
    for template, body in docs:
        meta = body.get("metadata")
        if isinstance(meta, dict) and not meta.get("namespace") and str(body.get("kind")) not in cluster_kinds:
            body = {**body, "metadata": {**meta, "namespace": rel.namespace}}
        out.append(K8sObject(body=body, file=hr.file, line=hr.line, doc=hr.doc, kustomization=hr.kustomization,
                             root=None, digest=digest(json.dumps(body, sort_keys=True, default=str)),
                             release=rel.key, template=template))
    return out


def _render_now(rel: Release, path: Path, kube_version: str, api: list[str]) -> tuple:
    """One release rendered by Helm: (schema errors, render failure, [(template, object)], the CRDs its
    templates make, the folder of their schemas). Rendered CRDs are kept without their schemas,
    which are on disk (and large)."""
    assert rel.info is not None
    chart = engine.load(path, rel.digest, rel.info.remote_refs)
    errors: list[engine.SchemaError] = []
    docs: list[tuple[str, dict[str, Any]]] = []
    failed = None
    out = engine.render(chart, rel.info, rel.values, name=rel.name, namespace=rel.namespace,
                        kube_version=kube_version, api_versions=api)
    if isinstance(out, engine.RenderFailed):
        failed = out
    elif isinstance(out, list):
        errors = out
    else:
        docs, failed = _parse(out)
    made = [body for _, body in docs if body.get("kind") == "CustomResourceDefinition"]
    folder = crd_mod.write_schemas(digest("crd-schemas", rel.render_key)[:32], made) if made else None
    return (errors, failed, [(t, _slim(b)) for t, b in docs], tuple(c for c in map(crd_mod.info, made) if c),
            str(folder or ""))


_Docs = list[tuple[str, dict[str, Any]]]  # (template, object) of each rendered document


def _releases(tree: FluxTree, *, download: bool, offline: bool) -> tuple[list[Release], dict[str, ChartArchive]]:
    """Every HelmRelease that is not suspended, with its values composed when its chart could be had,
    and those charts by release key."""
    releases: list[Release] = []
    archives: dict[str, ChartArchive] = {}
    for hr in tree.helm_releases():
        if hr.spec.get("suspend"):
            continue
        spec = tree.chart_of(hr)
        rel = Release(hr, spec, release_name(hr), release_namespace(hr))
        releases.append(rel)
        if spec is None:
            rel.unavailable = "its chart source is not in the tree"
            continue
        got = fetch(spec, download=download, offline=offline)
        if isinstance(got, Unavailable):
            rel.unavailable = got.reason
            continue
        rel.digest = got.digest
        archives[rel.key] = got
        rel.values, rel.notes = compose(tree, hr)
        if hr.spec.get("postRenderers"):
            rel.notes.append("spec.postRenderers are not applied to the rendered objects")
    return releases, archives


def _inspect(rel: Release, chart: Path) -> None:
    """The chart's facts, and what they say of the release's values (keys it does not know, lists replaced)."""
    found = engine.inspect(chart, rel.digest)
    rel.info = found
    if found.remote_refs:
        rel.notes.append("its values schema refers to " + ", ".join(found.remote_refs[:3]) +
                         "; those parts are not checked (remote references are never fetched)")
    rel.unknown = list(unknown_keys(rel.values, found.declared, found.schemas, found.commented))
    rel.replaced = list(replaced_lists(rel.values, found.declared))


def _installed_api_versions(rels: list[Release], tree: FluxTree) -> set[str]:
    """The API versions of every CRD the tree installs: the charts' crds/ (which each release takes
    unless `install.crds` is Skip) and the CRDs kept in Git."""
    base: set[str] = set()
    for rel in rels:
        assert rel.info is not None
        if str((rel.hr.spec.get("install") or {}).get("crds") or "") != "Skip":
            rel.crds = list(rel.info.crds)
            rel.schema_dirs = [Path(rel.info.crd_schemas)] if rel.info.crd_schemas else []
        for c in rel.crds:
            base.update(c.api_versions)
    for o in tree.by_kind("CustomResourceDefinition", group="apiextensions.k8s.io"):
        found = crd_mod.info(o.body)
        base.update(found.api_versions if found else [])
    return base


def _render(rel: Release, chart: Path, api: list[str], kube_version: str, cache: Cache) -> tuple[_Docs, bool]:
    """One release's rendered documents at these API versions, from the cache or rendered now (then
    True); its schema errors, render failure and the CRDs its templates make go on `rel`."""
    assert rel.info is not None
    key = digest("render", engine.RENDER_FORMAT, rel.digest, json.dumps(rel.values, sort_keys=True, default=str),
                 kube_version, "\n".join(api) if rel.info.capabilities else "", rel.name, rel.namespace)
    rel.render_key = key
    hit = cache.get("helm-render", key)
    if hit is not None and hit[4] and not (Path(hit[4]) / ".complete").is_file():
        hit = None  # its CRD schemas were removed from the user's cache: render again
    fresh = hit is None
    if hit is None:
        hit = _render_now(rel, chart, kube_version, api)
        cache.put("helm-render", key, hit)
    else:
        rel.from_cache = True
    rel.schema_errors, rel.render_error, docs, rel.template_crds, folder = hit
    rel.template_schemas = [Path(folder)] if folder else []
    return docs, fresh


def _render_releases(rels: list[Release], base: set[str], archives: dict[str, ChartArchive], *, kube_version: str,
                     cache: Cache, workers: int) -> tuple[list[str], dict[str, _Docs], int]:
    """Render every release, concurrently; returns the API versions they were rendered with, each one's
    documents by release key, and how many renders were not cached.

    Charts whose templates create CRDs go first: the others render once, with those API versions too,
    and a chart of the first ones that tests capabilities is rendered again if the API versions grew."""
    renders = 0

    def render_all(group: list[Release], api: list[str]) -> dict[str, _Docs]:
        nonlocal renders
        with ThreadPoolExecutor(max_workers=workers) as pool:
            out = list(pool.map(lambda r: _render(r, archives[r.key].path, api, kube_version, cache), group))
        renders += sum(fresh for _, fresh in out)
        return dict(zip([r.key for r in group], [docs for docs, _ in out], strict=False))

    first = [r for r in rels if r.info is not None and r.info.template_crds]
    docs_of = render_all(first, sorted(base))
    more = {a for r in first for c in r.template_crds for a in c.api_versions}
    api = sorted(base | more)
    again = [r for r in first if more - base and r.info is not None and r.info.capabilities]
    docs_of.update(render_all([r for r in rels if r not in first] + again, api))
    return api, docs_of, renders


def _cluster_kinds(rels: list[Release], tree: FluxTree) -> set[str]:
    """The kinds whose objects have no namespace: Kubernetes' own and those of cluster-scoped CRDs
    (the releases' and those kept in Git)."""
    kinds = set(CLUSTER_SCOPED) | {c.kind for rel in rels for c in rel.crds if c.scope == "Cluster"}
    kinds |= {str(((o.spec.get("names") or {}).get("kind")) or "") for o in tree.by_kind("CustomResourceDefinition")
              if o.spec.get("scope") == "Cluster"}
    return kinds


def render_tree(tree: FluxTree, *, kube_version: str, cache: Cache, download: bool = False, offline: bool = False,
                jobs: int | None = None) -> Charts:
    """Fetch, check and render every HelmRelease of `tree` (see the module's docstring)."""
    releases, archives = _releases(tree, download=download, offline=offline)
    charts = Charts(releases=releases)
    workers = max(1, min(jobs or os.cpu_count() or 1, 8))
    todo = [r for r in charts.releases if r.key in archives]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(lambda rel: _inspect(rel, archives[rel.key].path), todo))
    # rendered with the API versions of every CRD the tree installs, then also of those the templates create
    base = _installed_api_versions(todo, tree)
    charts.api_versions, docs_of, charts.renders = _render_releases(todo, base, archives, kube_version=kube_version,
                                                                    cache=cache, workers=workers)
    for rel in todo:
        rel.crds += rel.template_crds
        rel.schema_dirs += rel.template_schemas
    cluster_kinds = _cluster_kinds(todo, tree)
    for rel in todo:
        rel.objects = _objects(rel, docs_of.get(rel.key, []), cluster_kinds)
        charts.schema_dirs += rel.schema_dirs
    return charts


def with_rendered(tree: FluxTree, charts: Charts) -> FluxTree:
    """A copy of `tree` whose `objects` also hold every rendered object (each Kustomization's own list
    keeps only what it applies from Git: Helm, not the Kustomization, applies a chart's objects).
    `tree` itself is left as Git has it, so the tree and its charts can be handed on and read again."""
    return dataclasses.replace(tree, objects=[*tree.objects, *(o for rel in charts.releases for o in rel.objects)])
