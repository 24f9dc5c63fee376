"""The Flux tree for the tests, read by the tool's own reader (`homelab.gitops.load_tree`: the real
`kubectl kustomize` builds, postBuild substitution from cluster-settings), plus what the tests add:
the objects as the repository writes them (to hold the `${VAR}` conventions) and schema validation
of every object against Kubernetes' own schemas and the CRD schemas (an oracle independent of
`homelab check`'s)."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import jsonschema

from homelab import yamlio
from homelab.gitops import Cache, FluxTree, K8sObject, load_tree
from homelab.gitops.substitute import substitute as flux_substitute

from conftest import CRD_SCHEMAS, ROOT

TREE_REL = "kubernetes/clusters/homelab"
FLUX_KS = ("kustomize.toolkit.fluxcd.io/v1", "Kustomization")
# Flux's variable syntax; names as Flux accepts them in a ConfigMap
VAR_RE = re.compile(r"\$\{([_a-zA-Z][_a-zA-Z0-9]*)\}")


def crd_schema_dir() -> Path:
    """The CRD schemas (see conftest.CRD_SCHEMAS)."""
    if not CRD_SCHEMAS.is_dir():
        raise FileNotFoundError(f"no CRD schemas at {CRD_SCHEMAS}")
    return CRD_SCHEMAS


load_all = yamlio.load_all


@cache
def _file_docs(path: Path, mtime_ns: int) -> list:
    return yamlio.load_all(path.read_text(encoding="utf-8"))


def written(obj: K8sObject) -> dict:
    """The object as its file in the repository writes it (with the namespace kustomize gives it);
    the built object when no single document of a file is its source (a generator's output)."""
    path = (obj.root or ROOT) / obj.file if obj.file else None
    docs = _file_docs(path, path.stat().st_mtime_ns) if path is not None and path.is_file() else []
    doc = docs[obj.doc] if 0 <= obj.doc < len(docs) else None
    if not (isinstance(doc, dict) and doc.get("kind") == obj.kind):
        return obj.body
    doc = copy.deepcopy(doc)
    if obj.namespace:
        doc.setdefault("metadata", {}).setdefault("namespace", obj.namespace)
    return doc


@dataclass
class FluxKustomization:
    name: str
    path: str                                           # as the spec writes it: ./kubernetes/...
    spec: dict
    objects: list[dict] = field(default_factory=list)   # as written, before substitution
    applied: list[K8sObject] = field(default_factory=list)  # after kustomize and substitution

    @property
    def depends_on(self) -> list[str]:
        return [d["name"] for d in self.spec.get("dependsOn", [])]


@dataclass
class Tree:
    root: Path
    flux: FluxTree
    kustomizations: dict[str, FluxKustomization]
    settings: dict[str, str]

    def objects(self) -> Iterator[tuple[FluxKustomization, dict]]:
        """(Flux Kustomization, object as written) for every object every Kustomization applies."""
        for ks in self.kustomizations.values():
            for obj in ks.objects:
                yield ks, obj

    def substituted(self) -> Iterator[tuple[FluxKustomization, dict]]:
        """(Flux Kustomization, object as applied after substitution)."""
        for ks in self.kustomizations.values():
            for obj in ks.applied:
                yield ks, obj.body

    def unresolved(self) -> Iterator[tuple[FluxKustomization, K8sObject, str]]:
        """Every variable an applied object uses that cluster-settings does not define."""
        for ks in self.kustomizations.values():
            for obj in ks.applied:
                for name in obj.unresolved:
                    yield ks, obj, name


def read_tree(root: Path = ROOT) -> Tree:
    """Start where Flux starts, the flux-system Kustomization, and follow every Flux Kustomization its
    builds contain, as `homelab check` and `homelab plan` read it."""
    from homelab.config import load_config

    flux = load_tree(root, load_config(root / "homelab.yaml"), cache=Cache(None))
    broken = {k: ks.build_error for k, ks in flux.kustomizations.items() if ks.build_error}
    assert not broken, f"kustomize failed: {broken}"
    found: dict[str, FluxKustomization] = {}
    for ks in flux.kustomizations.values():
        assert ks.name not in found, f"two Flux Kustomizations named {ks.name}"
        spec = ks.declared_by.spec if ks.declared_by is not None else {}
        found[ks.name] = FluxKustomization(ks.name, str(spec.get("path", f"./{ks.path}")), spec,
                                           [written(o) for o in ks.objects], list(ks.objects))
    cm = flux.find("ConfigMap", "cluster-settings", "flux-system")
    settings = {str(k): str(v) for k, v in ((cm.body.get("data") or {}) if cm else {}).items()}
    return Tree(root, flux, found, settings)


# --- schemas -----------------------------------------------------------------------------------

def k8s_version(root: Path = ROOT) -> str:
    """The K3s release's Kubernetes minor from homelab.yaml, e.g. v1.36.4+k3s1 -> 1.36.0."""
    from homelab.config import load_config

    major, minor = re.match(r"^v(\d+)\.(\d+)", load_config(root / "homelab.yaml").k3s.version).groups()
    return f"{major}.{minor}.0"


@cache
def _crd_validator(group: str, kind: str, version: str) -> jsonschema.Draft7Validator | None:
    path = crd_schema_dir() / group / f"{kind.lower()}_{version}.json"
    if not path.exists():
        return None
    return jsonschema.Draft7Validator(json.loads(path.read_text()))


def schema_errors(obj: dict, k8s: str) -> list[str]:
    """Why an object does not validate; a kind with no schema at all is an error, never a pass."""
    import kubernetes_validate

    api, kind = obj["apiVersion"], obj["kind"]
    where = f"{kind}/{obj.get('metadata', {}).get('name')}"
    group, _, version = api.rpartition("/")
    if group and "." in group:
        validator = _crd_validator(group, kind, version)
        if validator is None:
            return [f"{where}: no schema for {api} {kind} in crd-schemas (unknown kind)"]
        return [f"{where}: {'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(obj)]
    try:
        kubernetes_validate.validate(obj, k8s, strict=True)
    except kubernetes_validate.ValidationError as e:
        return [f"{where}: {'.'.join(map(str, e.path))}: {e.message}"]
    except kubernetes_validate.SchemaNotFoundError:
        return [f"{where}: no Kubernetes {k8s} schema for {api} {kind} (unknown kind)"]
    return []


# --- the README table of routes -----------------------------------------------------------------

HOST_MATCH = re.compile(r"Host\(`\$\{(HOST_[A-Z0-9_]+)\}`\)")


def routes(tree: Tree) -> list[tuple[str, dict, dict, str]]:
    """(host variable, IngressRoute and route entry as written, the Kustomization's path) for every route."""
    out = []
    for ks, obj in tree.objects():
        if obj["kind"] != "IngressRoute":
            continue
        for r in obj["spec"]["routes"]:
            m = HOST_MATCH.search(r["match"])
            out.append((m.group(1) if m else "", obj, r, f"{ks.path}"))
    return out


def middlewares_run(tree: Tree, route: dict) -> set[str]:
    """Names of the traefik-namespace Middlewares a route entry (as written) runs once cluster-settings
    is substituted, every `chain` replaced by its members (`FluxTree.middlewares_run`, as Traefik does)."""
    refs = [(str(m.get("namespace")), flux_substitute(str(m["name"]), tree.settings)[0])
            for m in route.get("middlewares", [])]
    return {name for ns, name in tree.flux.middlewares_run(refs) if ns == "traefik"}


def protection(svc) -> str:
    if svc.on_lan:
        return "LAN allowlist + Authentik SSO" if svc.requires_sso else "LAN allowlist"
    if svc.requires_sso:
        return "internet, Authentik SSO"
    return f"internet, no SSO: {svc.reason}"


def services_table(tree: Tree) -> str:
    """The README's table of services, from homelab.yaml and the routes in the tree."""
    from homelab.config import load_config

    cfg = load_config(tree.root / "homelab.yaml")
    by_var = {}
    for var, obj, _r, path in routes(tree):
        by_var.setdefault(var, (obj, path))
    lines = ["| Service | URL (example domain) | Protection | Route |", "|---|---|---|---|"]
    for name in sorted(cfg.services):
        svc = cfg.services[name]
        var = "HOST_" + name.upper().replace("-", "_")
        obj, path = by_var.get(var, (None, "(no route)"))
        where = f"`{path.removeprefix('./' + TREE_REL + '/').removesuffix('/app')}`" if obj else path
        lines.append(f"| {name} | https://{cfg.fqdn(name)} | {protection(svc)} | {where} |")
    return "\n".join(lines)
