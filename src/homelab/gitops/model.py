"""The Flux tree as data: Flux Kustomizations, the objects each applies (with file and line), and
helpers for order (dependsOn levels), routes, certificates and HelmReleases."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from homelab.yamlio import ParsedYaml, line_of

FLUX_KS = ("kustomize.toolkit.fluxcd.io", "Kustomization")
HELM_RELEASE = ("helm.toolkit.fluxcd.io", "HelmRelease")
SOURCE_KINDS = ("GitRepository", "OCIRepository", "HelmRepository", "HelmChart", "Bucket", "ExternalArtifact")
# Kinds that live outside namespaces (the usual ones; a chart's rendered objects get the release
# namespace unless their kind is one of these).
CLUSTER_SCOPED = {
    "Namespace", "Node", "PersistentVolume", "StorageClass", "CustomResourceDefinition", "ClusterRole",
    "ClusterRoleBinding", "PriorityClass", "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration",
    "APIService", "IngressClass", "RuntimeClass", "CSIDriver", "VolumeSnapshotClass", "ClusterIssuer",
    "ClusterSecretStore", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
}


@dataclass(frozen=True)
class Ref:
    """A reference to a namespaced object: `kind` may be empty where the API implies it (dependsOn)."""

    kind: str
    name: str
    namespace: str

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def __str__(self) -> str:
        return f"{self.kind}/{self.key}" if self.kind else self.key


class _Text:
    """A string field of an object's body (or of one of its mappings), read when asked for."""

    def __init__(self, key: str, *, under: str | None = None) -> None:
        self.key, self.under = key, under

    def __get__(self, obj: K8sObject, owner: type | None = None) -> str:
        node: Any = obj.body if self.under is None else obj.body.get(self.under)
        return str((node.get(self.key) if isinstance(node, dict) else None) or "")


class _Mapping:
    """A mapping field of an object's body ({} when it is absent or not a mapping)."""

    def __init__(self, key: str) -> None:
        self.key = key

    def __get__(self, obj: K8sObject, owner: type | None = None) -> dict[str, Any]:
        value = obj.body.get(self.key)
        return value if isinstance(value, dict) else {}


@dataclass
class K8sObject:
    """One object as the cluster would receive it (after kustomize and postBuild substitution).

    `file`/`line` locate the YAML document it came from (repository-relative, 1-based); `doc` is the
    document's index in that file. `kustomization` is the key (`namespace/name`) of the Flux
    Kustomization that applies it. `unresolved` lists substitution variables that had no value;
    `substitution_error` says why the substituted text is no longer YAML (the body is then the
    unsubstituted object).
    `digest` identifies the body's content (for caches keyed by object).
    A chart's rendered object carries `release` (the HelmRelease's `namespace/name`) and `template`
    (the chart file it came from); its `file`/`line` are the HelmRelease's, `root` is None.
    """

    body: dict[str, Any]
    file: str
    line: int
    doc: int
    kustomization: str
    unresolved: tuple[str, ...] = ()
    root: Path | None = field(default=None, repr=False, compare=False)
    digest: str = field(default="", repr=False, compare=False)  # content key: same digest, same body
    substitution_error: str | None = None
    release: str = ""
    template: str = ""

    # The body's fields the rules read; "" or {} where the body lacks them or has another type there.
    api_version = _Text("apiVersion")
    kind = _Text("kind")
    name = _Text("name", under="metadata")
    namespace = _Text("namespace", under="metadata")
    metadata = _Mapping("metadata")
    spec = _Mapping("spec")

    @property
    def group(self) -> str:
        av = self.api_version
        return av.rsplit("/", 1)[0] if "/" in av else ""

    @property
    def version(self) -> str:
        return self.api_version.rsplit("/", 1)[-1]

    @property
    def ref(self) -> Ref:
        return Ref(self.kind, self.name, self.namespace)

    @property
    def id(self) -> str:
        """`group/Kind/namespace/name`: unique per cluster object."""
        return f"{self.group}/{self.kind}/{self.namespace}/{self.name}"

    def is_a(self, group: str, kind: str) -> bool:
        return self.kind == kind and self.group == group

    @property
    def chart(self) -> "ChartRequest | None":
        """For a HelmRelease: the chart it asks for, as written (`FluxTree.chart_of` resolves it)."""
        return ChartRequest.of(self) if self.kind == "HelmRelease" else None

    def line_of(self, *keys: str | int) -> int:
        """Line of a nested key (e.g. `obj.line_of("spec", "dependsOn", 0)`) in the source file;
        the document's own line when the key is not there literally (e.g. added by a patch)."""
        if self.root is None or not self.file:
            return self.line
        return line_of(self.root / self.file, self.doc, keys) or self.line

    def __str__(self) -> str:
        ns = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {ns}{self.name}"


@dataclass(frozen=True)
class ChartRequest:
    """What a HelmRelease's `chart.spec` (chart, version, sourceRef) or `chartRef` says, unresolved.

    `name` is the chart (for a `chartRef`, the name of the source it points at: the chart is the
    artifact there); `version` is `chart.spec.version` (a `chartRef`'s source pins it instead);
    `keys` lead to the source reference in the HelmRelease (for findings at its line).
    """

    name: str
    version: str | None
    source: Ref
    keys: tuple[str | int, ...]

    @property
    def by_chart_ref(self) -> bool:
        return self.keys == ("spec", "chartRef")

    @staticmethod
    def of(hr: K8sObject) -> "ChartRequest | None":
        chart = hr.spec.get("chart")
        spec = chart.get("spec") if isinstance(chart, dict) else None
        if isinstance(spec, dict):
            sr: dict[str, Any] = spec["sourceRef"] if isinstance(spec.get("sourceRef"), dict) else {}
            source = Ref(str(sr.get("kind") or "HelmRepository"), str(sr.get("name") or ""),
                         str(sr.get("namespace") or hr.namespace))
            return ChartRequest(str(spec.get("chart") or ""), str(spec.get("version") or "") or None, source,
                                ("spec", "chart", "spec", "sourceRef"))
        ref = hr.spec.get("chartRef")
        if isinstance(ref, dict):
            source = Ref(str(ref.get("kind") or ""), str(ref.get("name") or ""), str(ref.get("namespace") or hr.namespace))
            return ChartRequest(source.name, None, source, ("spec", "chartRef"))
        return None


@dataclass(frozen=True)
class ChartSpec:
    """What a HelmRelease installs: chart `name` at `version` from the repository at `repo`.

    `repo` is the repository's URL without the chart: `https://…` for an HTTP repository (with an
    `index.yaml`), `oci://host/path` for OCI (the chart's artifact is `{repo}/{name}:{version}`).
    `source` is the Flux source object the HelmRelease names; `version_keys` are the keys, in the
    object that pins the version, of that pin (for findings at its line); `pinned_by` is that object.
    """

    name: str
    version: str
    repo: str
    source: Ref
    pinned_by: K8sObject | None = field(default=None, compare=False, repr=False)
    version_keys: tuple[str | int, ...] = ()

    @property
    def oci(self) -> bool:
        return self.repo.startswith("oci://")

    @property
    def artifact(self) -> str:
        """`oci://host/path/name:version` for OCI, else the archive's conventional file name."""
        return f"{self.repo}/{self.name}:{self.version}" if self.oci else f"{self.name}-{self.version}.tgz"

    def __str__(self) -> str:
        return f"{self.name} {self.version} ({self.repo})"


_HOST_CALL = re.compile(r"\bHost(?:SNI)?\(([^)]*)\)")
_QUOTED = re.compile(r"[`\"']([^`\"']+)[`\"']")
INGRESS_MIDDLEWARES = "traefik.ingress.kubernetes.io/router.middlewares"


def hosts_of(match: str) -> list[str]:
    """Hostnames in a Traefik rule such as ``Host(`a.example.com`) || Host(`b`, `c`)``, lowercased
    (Traefik compares hosts case-insensitively)."""
    return [h.lower() for call in _HOST_CALL.findall(match or "") for h in _QUOTED.findall(call)]


def name_covers(pattern: str, host: str) -> bool:
    """Whether a certificate name covers `host`, as TLS clients and cert-manager match them:
    case-insensitively, and a `*.` wildcard stands for exactly one whole label."""
    pattern, host = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if pattern.startswith("*."):
        rest = pattern[2:]
        label, dot, parent = host.partition(".")
        return bool(label) and bool(dot) and parent == rest
    return pattern == host


@dataclass(frozen=True)
class Route:
    """One routing rule: an IngressRoute's `routes[i]` or an Ingress's `rules[i]`.

    `hosts` are lowercased; `middlewares` are (namespace, name) pairs (an Ingress names them in
    Traefik's `router.middlewares` annotation as `<namespace>-<name>@kubernetescrd`); `service` is
    the backend (namespace, name) of the first service it sends to; `keys` lead to the host match
    in the object (for `obj.line_of(*route.keys)`).
    """

    obj: K8sObject
    index: int
    hosts: tuple[str, ...]
    middlewares: tuple[tuple[str, str], ...]
    service: tuple[str, str] | None
    keys: tuple[str | int, ...]

    @property
    def line(self) -> int:
        return self.obj.line_of(*self.keys)

    @staticmethod
    def of(o: K8sObject) -> list["Route"]:
        if o.kind == "IngressRoute":
            return _ingressroute_rules(o)
        if o.kind == "Ingress":
            return _ingress_rules(o)
        return []


def _ingressroute_rules(o: K8sObject) -> list[Route]:
    out = []
    for i, r in enumerate(o.spec.get("routes") or []):
        if not isinstance(r, dict):
            continue
        mws = tuple(dict.fromkeys((str(m.get("namespace") or o.namespace), str(m.get("name")))
                                  for m in r.get("middlewares") or [] if isinstance(m, dict)))
        backend = next((s for s in r.get("services") or [] if isinstance(s, dict)), None)
        service = (str(backend.get("namespace") or o.namespace), str(backend.get("name"))) if backend else None
        out.append(Route(o, i, tuple(hosts_of(str(r.get("match") or ""))), mws, service, ("spec", "routes", i, "match")))
    return out


def _ingress_rules(o: K8sObject) -> list[Route]:
    ann = str((o.metadata.get("annotations") or {}).get(INGRESS_MIDDLEWARES) or "")
    mws: dict[tuple[str, str], None] = {}
    for ref in filter(None, (a.strip() for a in ann.split(","))):
        nsname = ref.split("@", 1)[0]
        for ns in sorted({o.namespace, "traefik"}):
            if nsname.startswith(ns + "-"):
                mws[(ns, nsname[len(ns) + 1:])] = None
    out = []
    for i, r in enumerate(o.spec.get("rules") or []):
        if not (isinstance(r, dict) and r.get("host")):
            continue
        paths = ((r.get("http") or {}).get("paths") or []) if isinstance(r.get("http"), dict) else []
        backend = next((((p.get("backend") or {}).get("service") or {}) for p in paths if isinstance(p, dict)), {})
        service = (o.namespace, str(backend["name"])) if isinstance(backend, dict) and backend.get("name") else None
        out.append(Route(o, i, (str(r["host"]).lower(),), tuple(mws), service, ("spec", "rules", i, "host")))
    return out


@dataclass(frozen=True)
class Certificate:
    """A cert-manager Certificate: the names it covers and the Secret it writes."""

    obj: K8sObject

    @property
    def dns_names(self) -> list[str]:
        return [str(n) for n in self.obj.spec.get("dnsNames") or []]

    @property
    def secret(self) -> tuple[str, str]:
        return self.obj.namespace, str(self.obj.spec.get("secretName"))

    def covers(self, host: str) -> bool:
        return any(name_covers(n, host) for n in self.dns_names)


@dataclass
class FluxKustomization:
    """A Flux Kustomization (kustomize.toolkit.fluxcd.io) and what it applies.

    `path` is the repository-relative folder it builds (normalised, no `./`); `objects` are the
    objects it applies, in kustomize output order. `declared_by` is the object that declares it in
    Git (None for the bootstrap root, which `flux bootstrap` creates). `parent` is the key of the
    Flux Kustomization that applies that declaration.
    """

    name: str
    namespace: str
    path: str
    source: Ref
    depends_on: list[Ref] = field(default_factory=list)
    substitute: dict[str, str] = field(default_factory=dict)
    substitute_from: list[dict[str, Any]] = field(default_factory=list)
    post_build: bool = False
    wait: bool = False
    health_checks: list[dict[str, Any]] = field(default_factory=list)
    interval: str | None = None
    timeout: str | None = None
    prune: bool | None = None
    target_namespace: str | None = None
    suspend: bool = False
    declared_by: K8sObject | None = None
    parent: str | None = None
    objects: list[K8sObject] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    missing_substitute_from: list[dict[str, Any]] = field(default_factory=list)
    built: bool = False
    build_error: str | None = None
    input_problems: list[Any] = field(default_factory=list)  # build.InputProblem: why it was refused unbuilt
    skipped: str | None = None       # why it was not built (e.g. an external source)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def file(self) -> str:
        return self.declared_by.file if self.declared_by else ""

    @property
    def line(self) -> int | None:
        return self.declared_by.line if self.declared_by else None

    def line_of(self, *keys: str | int) -> int | None:
        return self.declared_by.line_of(*keys) if self.declared_by else None

    @property
    def health_gated(self) -> bool:
        """Does Flux wait for what it applied to become ready before dependents start?"""
        return self.wait or bool(self.health_checks)


@dataclass
class FluxTree:
    """Everything the Flux controllers would apply from this repository, and where it came from.

    - `kustomizations`: Flux Kustomizations by key `namespace/name`, in discovery order (root first).
    - `objects`: every object applied, across all Kustomizations.
    - `files`: the YAML index (documents, lines, parse problems) of every YAML file read.
    - `root`: repository root; `cluster_path`: the bootstrap path (`flux.path` of homelab.yaml).
    - `builds`/`cached`: how many Flux Kustomizations were built by kustomize now vs. served from cache.
    - `duplicate_kustomizations`: declarations of a Kustomization key already declared (object, by whom).
    """

    root: Path
    cluster_path: str
    kustomizations: dict[str, FluxKustomization] = field(default_factory=dict)
    objects: list[K8sObject] = field(default_factory=list)
    files: dict[str, ParsedYaml] = field(default_factory=dict)
    builds: int = 0
    cached: int = 0
    duplicate_kustomizations: list[tuple[K8sObject, FluxKustomization]] = field(default_factory=list)

    # -- lookups -----------------------------------------------------------------------------
    def by_kind(self, *kinds: str, group: str | None = None) -> list[K8sObject]:
        return [o for o in self.objects if o.kind in kinds and (group is None or o.group == group)]

    def find(self, kind: str, name: str, namespace: str | None = None, group: str | None = None) -> K8sObject | None:
        for o in self.objects:
            if o.kind == kind and o.name == name and (namespace is None or o.namespace == namespace) \
                    and (group is None or o.group == group):
                return o
        return None

    def objects_of(self, ks: FluxKustomization | str) -> list[K8sObject]:
        key = ks if isinstance(ks, str) else ks.key
        return self.kustomizations[key].objects if key in self.kustomizations else []

    def helm_releases(self) -> list[K8sObject]:
        return self.by_kind("HelmRelease", group=HELM_RELEASE[0])

    def chart_of(self, hr: K8sObject) -> ChartSpec | None:
        """The chart a HelmRelease installs (`chart.spec` with a HelmRepository, or `chartRef` to an
        OCIRepository), resolved through its source in the tree; None when the source is not there
        or names no URL."""
        req = hr.chart
        if req is None:
            return None
        src = self.find(req.source.kind, req.source.name, req.source.namespace, group="source.toolkit.fluxcd.io")
        url = str((src.spec.get("url") if src else "") or "").rstrip("/")
        if not req.by_chart_ref:
            if not url:
                return None
            if src is not None and src.spec.get("type") == "oci" and not url.startswith("oci://"):
                url = "oci://" + url.split("://", 1)[-1]
            return ChartSpec(req.name, req.version or "", url, req.source, hr, ("spec", "chart", "spec", "version"))
        if req.source.kind == "OCIRepository" and src is not None and url.startswith("oci://") \
                and "/" in url[len("oci://"):]:
            repo, name = url.rsplit("/", 1)
            tag = src.spec.get("ref", {}).get("tag") if isinstance(src.spec.get("ref"), dict) else None
            return ChartSpec(name, str(tag or ""), repo, req.source, src, ("spec", "ref", "tag"))
        return None

    def routes(self) -> list[K8sObject]:
        """Traefik IngressRoutes (traefik.io) and plain networking.k8s.io Ingresses."""
        return [o for o in self.objects
                if (o.kind == "IngressRoute" and o.group == "traefik.io")
                or (o.kind == "Ingress" and o.group == "networking.k8s.io")]

    def route_rules(self) -> list[Route]:
        """Every routing rule of every route object, in tree order."""
        return [r for o in self.routes() for r in Route.of(o)]

    def middlewares_run(self, refs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        """The Traefik Middlewares (namespace, name) a route with `refs` really runs, in order: a `chain`
        Middleware is replaced by its members (which live in the chain's namespace), recursively;
        a reference to a Middleware not in the tree stays as it is."""
        by_ref = {(o.namespace, o.name): o for o in self.by_kind("Middleware", group="traefik.io")}
        out: list[tuple[str, str]] = []

        def visit(ref: tuple[str, str], seen: frozenset[tuple[str, str]]) -> None:
            chain = by_ref[ref].spec.get("chain") if ref in by_ref else None
            if not isinstance(chain, dict) or ref in seen:
                if ref not in out:
                    out.append(ref)
                return
            for m in chain.get("middlewares") or []:
                if isinstance(m, dict) and m.get("name"):
                    visit((ref[0], str(m["name"])), seen | {ref})

        for ref in refs:
            visit(ref, frozenset())
        return out

    def certificates(self) -> list[K8sObject]:
        return self.by_kind("Certificate", group="cert-manager.io")

    def certs(self) -> list[Certificate]:
        """The cert-manager Certificates, as `Certificate`s (names, Secret, `covers(host)`)."""
        return [Certificate(c) for c in self.certificates()]

    def sources(self) -> list[K8sObject]:
        return [o for o in self.objects if o.kind in SOURCE_KINDS and o.group == "source.toolkit.fluxcd.io"]

    # -- order -------------------------------------------------------------------------------
    def _edges(self, with_parents: bool) -> dict[str, set[str]]:
        """key -> the keys it must wait for (dependsOn targets that exist, and optionally its parent)."""
        deps: dict[str, set[str]] = {}
        for key, ks in self.kustomizations.items():
            need = {d.key for d in ks.depends_on if d.key in self.kustomizations}
            if with_parents and ks.parent and ks.parent in self.kustomizations:
                need.add(ks.parent)
            need.discard(key)
            deps[key] = need
        return deps

    def cycles(self) -> list[list[str]]:
        """dependsOn cycles, each as a list of keys in order (`a -> b -> ... -> a`), deduplicated."""
        deps = self._edges(with_parents=False)
        found: list[list[str]] = []
        seen_sets: set[frozenset[str]] = set()
        color: dict[str, int] = {}
        path: list[str] = []

        def visit(n: str) -> None:
            color[n] = 1
            path.append(n)
            for m in sorted(deps.get(n, ())):
                if color.get(m, 0) == 0:
                    visit(m)
                elif color.get(m) == 1:
                    cyc = path[path.index(m):]
                    if frozenset(cyc) not in seen_sets:
                        seen_sets.add(frozenset(cyc))
                        found.append(cyc)
            path.pop()
            color[n] = 2

        for n in deps:
            if color.get(n, 0) == 0:
                visit(n)
        return found

    def levels(self, with_parents: bool = True) -> list[list[FluxKustomization]]:
        """Reconcile waves on an empty cluster: level 0 has no dependencies, level n waits only for
        lower levels. Edges are dependsOn (targets that exist) and, with `with_parents`, the parent
        that applies a Kustomization's declaration. Members of a cycle never become ready; they and
        everything waiting on them are left out (see `cycles()` / `blocked()`)."""
        deps = self._edges(with_parents)
        placed: dict[str, int] = {}
        out: list[list[FluxKustomization]] = []
        remaining = set(deps)
        while remaining:
            wave = sorted(k for k in remaining if all(d in placed for d in deps[k]))
            if not wave:
                break
            for k in wave:
                placed[k] = len(out)
            out.append([self.kustomizations[k] for k in wave])
            remaining -= set(wave)
        return out

    def blocked(self, with_parents: bool = True) -> list[str]:
        """Keys that never reconcile because they wait (directly or not) on a dependsOn cycle."""
        placed = {ks.key for lvl in self.levels(with_parents) for ks in lvl}
        return [k for k in self.kustomizations if k not in placed]

    def level_of(self) -> dict[str, int]:
        return {ks.key: i for i, lvl in enumerate(self.levels()) for ks in lvl}

    def dependency_chain(self, key: str) -> list[str]:
        """One longest chain of keys that `key` waits for, ending with `key` itself."""
        deps = self._edges(with_parents=True)
        memo: dict[str, list[str]] = {}

        def chain(k: str, stack: frozenset[str]) -> list[str]:
            if k in memo:
                return memo[k]
            best: list[str] = []
            for d in sorted(deps.get(k, ())):
                if d in stack:
                    continue
                c = chain(d, stack | {d})
                if len(c) > len(best):
                    best = c
            memo[k] = best + [k]
            return memo[k]

        return chain(key, frozenset({key}))

    def iter_objects(self, kinds: Iterable[str] | None = None) -> Iterator[K8sObject]:
        ks = set(kinds) if kinds is not None else None
        for o in self.objects:
            if ks is None or o.kind in ks:
                yield o


def ref_list(items: Sequence[Any] | None, default_ns: str, kind: str = "") -> list[Ref]:
    out = []
    for it in items or []:
        if isinstance(it, dict) and it.get("name"):
            out.append(Ref(str(it.get("kind") or kind), str(it["name"]), str(it.get("namespace") or default_ns)))
    return out
