"""Reads the Flux tree the way Flux does, for the tests: kustomize builds of every Flux Kustomization
path (the real `kubectl kustomize`), `postBuild.substituteFrom` cluster-settings, and schema
validation of every object (Kubernetes' own schemas from `kubernetes-validate`, custom resources
from the shared CRD schemas)."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import jsonschema
from ruamel.yaml import YAML

from conftest import CRD_SCHEMAS, ROOT

TREE_REL = "kubernetes/clusters/homelab"
SETTINGS_REL = f"{TREE_REL}/flux-system/cluster-settings.yaml"
FLUX_KS = ("kustomize.toolkit.fluxcd.io/v1", "Kustomization")
SUBSTITUTE_OFF = "kustomize.toolkit.fluxcd.io/substitute"
# Flux's variable syntax; names as Flux accepts them in a ConfigMap
VAR_RE = re.compile(r"\$\{([_a-zA-Z][_a-zA-Z0-9]*)\}")

def crd_schema_dir() -> Path:
    """The CRD schemas (see conftest.CRD_SCHEMAS)."""
    if not CRD_SCHEMAS.is_dir():
        raise FileNotFoundError(f"no CRD schemas at {CRD_SCHEMAS}")
    return CRD_SCHEMAS


def load_all(text: str) -> list[dict]:
    # a YAML instance is not thread-safe: one per call (builds run in a thread pool)
    return [d for d in YAML(typ="safe", pure=True).load_all(text) if d]


def dump(obj: dict) -> str:
    buf = io.StringIO()
    y = YAML(typ="safe", pure=True)
    y.default_flow_style = False
    y.width = 4096
    y.dump(obj, buf)
    return buf.getvalue()


def kustomize(path: Path) -> list[dict]:
    """`kubectl kustomize PATH`, the same build kustomize-controller runs (no generated
    kustomization: every folder in this tree carries its own)."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise RuntimeError("kubectl is not installed; the Flux tree tests build with `kubectl kustomize`")
    proc = subprocess.run([kubectl, "kustomize", str(path)], capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"kubectl kustomize {path} failed:\n{proc.stderr}")
    return load_all(proc.stdout)


def settings(root: Path = ROOT) -> dict[str, str]:
    return load_all((root / SETTINGS_REL).read_text())[0]["data"]


def substitute(obj: dict, values: dict[str, str]) -> tuple[dict, set[str]]:
    """Flux's postBuild substitution on one object: on its YAML text, then parsed again (so an
    unquoted `${LONGHORN_REPLICAS}` becomes a number). Returns the object and the variables it
    used that cluster-settings does not define (Flux would silently make those empty)."""
    if (obj.get("metadata", {}).get("annotations") or {}).get(SUBSTITUTE_OFF) == "disabled":
        return obj, set()
    text = dump(obj)
    missing = {m for m in VAR_RE.findall(text) if m not in values}
    return load_all(VAR_RE.sub(lambda m: values.get(m.group(1), ""), text))[0], missing


@dataclass
class FluxKustomization:
    name: str
    path: str
    spec: dict
    objects: list[dict] = field(default_factory=list)  # as built, before substitution

    @property
    def depends_on(self) -> list[str]:
        return [d["name"] for d in self.spec.get("dependsOn", [])]


@dataclass
class Tree:
    root: Path
    kustomizations: dict[str, FluxKustomization]
    settings: dict[str, str]
    _substituted: list | None = None

    def objects(self):
        """(Flux Kustomization, object as built) for every object every Kustomization applies."""
        for ks in self.kustomizations.values():
            for obj in ks.objects:
                yield ks, obj

    def substituted(self) -> list[tuple[FluxKustomization, dict]]:
        """(Flux Kustomization, object as applied after substitution), computed once."""
        if self._substituted is None:
            self._substituted = [(ks, substitute(obj, self.settings)[0]) for ks, obj in self.objects()]
        return self._substituted


def read_tree(root: Path = ROOT) -> Tree:
    """Start where Flux starts: the flux-system Kustomization in flux-system/, then every Flux
    Kustomization its build contains (the ks.yaml files), each built from its own path."""
    boot = [o for o in kustomize(root / TREE_REL / "flux-system") if (o["apiVersion"], o["kind"]) == FLUX_KS]
    assert [o["metadata"]["name"] for o in boot] == ["flux-system"], "flux-system/ must hold the sync Kustomization"
    pending = boot
    found: dict[str, FluxKustomization] = {}
    with ThreadPoolExecutor(max_workers=4) as pool:
        while pending:
            todo = []
            for o in pending:
                name = o["metadata"]["name"]
                assert name not in found, f"two Flux Kustomizations named {name}"
                found[name] = FluxKustomization(name, o["spec"]["path"], o["spec"])
                todo.append(found[name])
            builds = list(pool.map(lambda k: kustomize(root / k.path), todo))
            pending = []
            for ks, objs in zip(todo, builds):
                ks.objects = objs
                pending += [o for o in objs if (o["apiVersion"], o["kind"]) == FLUX_KS and o["metadata"]["name"] not in found]
    return Tree(root, found, settings(root))


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
    """(host variable, IngressRoute, route entry, file-ish location) for every route, before substitution."""
    out = []
    for ks, obj in tree.objects():
        if obj["kind"] != "IngressRoute":
            continue
        for r in obj["spec"]["routes"]:
            m = HOST_MATCH.search(r["match"])
            out.append((m.group(1) if m else "", obj, r, f"{ks.path}"))
    return out


def expected_middlewares(svc) -> set[str]:
    """The brief's convention: what a route must carry for its exposure in homelab.yaml."""
    if svc.exposure.value == "lan":
        return {"lan-allowlist"} | ({"authentik-forward-auth"} if svc.sso else set())
    if svc.exposure.value == "sso":
        return {"authentik-forward-auth"}
    return set()


def middlewares_run(tree: Tree, route: dict) -> set[str]:
    """Names of the traefik-namespace Middlewares a route entry runs after substitution, with every
    `chain` Middleware of the tree replaced by its members (as Traefik runs them)."""
    mws = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for _ks, o in tree.substituted()
           if o["kind"] == "Middleware"}
    out: set[str] = set()
    todo = [(m.get("namespace"), substitute(m, tree.settings)[0]["name"]) for m in route.get("middlewares", [])]
    while todo:
        ns, name = todo.pop()
        chain = (mws.get((ns, name)) or {}).get("spec", {}).get("chain")
        if chain:
            todo += [(ns, m["name"]) for m in chain["middlewares"]]
        elif ns == "traefik":
            out.add(name)
    return out


def protection(svc) -> str:
    if svc.exposure.value == "lan":
        return "LAN allowlist + Authentik SSO" if svc.sso else "LAN allowlist"
    if svc.exposure.value == "sso":
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
