"""Follow the Flux tree from the bootstrap Kustomization, as the controllers would on a cluster."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from homelab import yamlio
from homelab.gitops.build import BuildRequest, BuildResult, BuiltDoc, build_many, strip_build_annotations
from homelab.gitops.cache import Cache, digest
from homelab.gitops.model import FLUX_KS, FluxKustomization, FluxTree, K8sObject, Ref, ref_list
from homelab.gitops.substitute import DISABLE_KEY, VAR_NAME, references, substitute
from homelab.paths import FluxPaths
from homelab.yamlio import ParsedYaml, parse_yaml

BOOTSTRAP_SOURCE = Ref("GitRepository", "flux-system", "flux-system")


def _norm(path: str) -> str:
    """`./kubernetes/x/` -> `kubernetes/x`; `.` -> ``; `../x` stays `../x` (and is caught later)."""
    p = os.path.normpath(path.strip() or ".").lstrip("/")  # Flux joins even `/x` under the source root
    return "" if p in (".", "") else p


def _ks_from_object(obj: K8sObject, parent: str | None) -> FluxKustomization:
    spec = obj.spec
    ns = obj.namespace or "flux-system"
    src = spec.get("sourceRef") or {}
    post = spec.get("postBuild") if isinstance(spec.get("postBuild"), dict) else None
    return FluxKustomization(
        name=obj.name, namespace=ns, path=_norm(str(spec.get("path") or "./")),
        source=Ref(str(src.get("kind") or ""), str(src.get("name") or ""), str(src.get("namespace") or ns)),
        depends_on=ref_list(spec.get("dependsOn"), ns, "Kustomization"),
        substitute={str(k): "" if v is None else str(v) for k, v in ((post or {}).get("substitute") or {}).items()},
        substitute_from=[s for s in (post or {}).get("substituteFrom") or [] if isinstance(s, dict)],
        post_build=post is not None,
        wait=bool(spec.get("wait")), health_checks=list(spec.get("healthChecks") or []),
        interval=spec.get("interval"), timeout=spec.get("timeout"), prune=spec.get("prune"),
        target_namespace=spec.get("targetNamespace"), suspend=bool(spec.get("suspend")),
        declared_by=obj, parent=parent)


def _request(ks: FluxKustomization, root: Path) -> BuildRequest:
    spec = ks.declared_by.spec if ks.declared_by else {}
    return BuildRequest(key=ks.key, path=root / ks.path, target_namespace=ks.target_namespace,
                        patches=tuple(yamlio.canonical(p) for p in spec.get("patches") or [] if isinstance(p, dict)),
                        images=tuple(yamlio.canonical(i) for i in spec.get("images") or [] if isinstance(i, dict)))


class _Files:
    """YAML index per repository file, cached by content."""

    def __init__(self, root: Path, cache: Cache, into: dict[str, ParsedYaml]):
        self.root, self.cache, self.into = root, cache, into

    def get(self, rel: str) -> ParsedYaml | None:
        if rel in self.into:
            return self.into[rel]
        got = self.cache.read(self.root / rel)
        if got is None:
            return None
        data, key = got
        parsed = self.cache.get("yaml", key)
        if parsed is None:
            parsed = parse_yaml(data.decode("utf-8", errors="replace"))
            self.cache.put("yaml", key, parsed)
        self.into[rel] = parsed
        return parsed


def _variables(ks: FluxKustomization, configmaps: dict[tuple[str, str], K8sObject]) -> dict[str, str]:
    """substituteFrom (in order, later wins) then inline substitute, which overrides them."""
    out: dict[str, str] = {}
    ks.missing_substitute_from = []
    for ref in ks.substitute_from:
        kind, name = ref.get("kind"), ref.get("name")
        cm = configmaps.get((ks.namespace, str(name))) if kind == "ConfigMap" else None
        if cm is None:
            if not ref.get("optional"):
                ks.missing_substitute_from.append(ref)
            continue
        for k, v in (cm.body.get("data") or {}).items():
            out[str(k)] = str(v).replace("\n", "")
    for k, v in ks.substitute.items():
        out[k] = v.replace("\n", "")
    return out


def _parsed(text: str, cache: Cache) -> Any:
    """Parse one object's YAML (cached by text: warm runs never parse)."""
    key = digest("parse", text)
    hit = cache.get("parse", key)
    if hit is None:
        try:
            hit = strip_build_annotations(yamlio.load(text)) or {}
        except yamlio.ParseError:
            hit = {}
        cache.put("parse", key, hit)
    return hit


def _substituted(text: str, variables: dict[str, str], vars_key: str,
                 cache: Cache) -> tuple[Any, tuple[str, ...], str | None]:
    """(body, unresolved names, why the substituted text is not YAML) of one object after
    substitution, cached by text and variables."""
    key = digest(vars_key, text)
    hit = cache.get("subst", key)
    if hit is None:
        out, missing = substitute(text, variables)
        broken = None
        try:
            body = strip_build_annotations(yamlio.load(out))
        except yamlio.ParseError as exc:
            # the controller fails the whole Kustomization here; the unsubstituted object is kept
            # so the other rules still see it, and the failure is reported
            body = None
            mark = getattr(exc, "problem_mark", None)
            problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
            broken = problem + (f" (line {mark.line + 1} of the substituted object)" if mark else "")
        hit = (body, tuple(missing), broken)
        cache.put("subst", key, hit)
    return hit


_DISABLED = re.compile(r"^\s+" + re.escape(DISABLE_KEY) + r": [\"']?disabled[\"']?\s*$", re.M)


def _disabled(body: Any) -> bool:
    ann = ((body.get("metadata") or {}).get("annotations") or {}) if isinstance(body, dict) else {}
    labels = ((body.get("metadata") or {}).get("labels") or {}) if isinstance(body, dict) else {}
    return ann.get(DISABLE_KEY) == "disabled" or labels.get(DISABLE_KEY) == "disabled"


def _materialise(ks: FluxKustomization, result: BuildResult, files: _Files, root: Path) -> list[K8sObject]:
    objs: list[K8sObject] = []
    substituting = ks.post_build and bool(ks.variables)
    vars_key = digest(*(f"{k}={v}" for k, v in sorted(ks.variables.items()))) if substituting else ""
    for d in result.docs:
        unresolved: tuple[str, ...] = ()
        broken: str | None = None
        if "$" in d.text and substituting and not _DISABLED.search(d.text):
            body, unresolved, broken = _substituted(d.text, ks.variables, vars_key, files.cache)
            if body is None:
                body = _parsed(d.text, files.cache)
        else:
            body = _parsed(d.text, files.cache)
            if "$" in d.text and not _disabled(body):
                # nothing is substituted without postBuild (or with no variables): `${X}` stays literal
                unresolved = tuple(dict.fromkeys(r for r in references(d.text) if f"${{{r}}}" in d.text))
        if not isinstance(body, dict):
            continue
        line, doc = 1, 0
        if d.origin:
            parsed = files.get(d.origin)
            meta = body.get("metadata") or {}
            hit = parsed.find(body.get("kind"), meta.get("name")) if parsed else None
            if hit is not None:
                line, doc = hit.line, hit.index
        objs.append(K8sObject(body=body, file=d.origin, line=line, doc=doc, kustomization=ks.key,
                              unresolved=unresolved, root=root, substitution_error=broken,
                              digest=digest(vars_key if "$" in d.text else "", d.text)))
    return objs


def _adopt_bootstrap(boot: FluxKustomization, res: BuildResult, cache: Cache, tree: FluxTree) -> FluxKustomization:
    """The bootstrap Kustomization kept in Git (flux-system/flux-system, e.g. gotk-sync.yaml) applies
    itself: its own spec (postBuild, dependsOn...) governs the root build, so take it over."""
    for d in res.docs:
        if d.kind != "Kustomization":
            continue
        body = _parsed(d.text, cache)
        obj = K8sObject(body=body, file=d.origin, line=1, doc=0, kustomization=boot.key, root=tree.root)
        if obj.is_a(*FLUX_KS) and obj.name == boot.name and (obj.namespace or "flux-system") == boot.namespace:
            declared = _ks_from_object(obj, None)
            declared.path = boot.path if not declared.path else declared.path
            declared.built, declared.build_error = boot.built, boot.build_error
            tree.kustomizations[boot.key] = declared
            return declared
    return boot


def _bootstrap(tree: FluxTree, cfg: Any) -> FluxKustomization:
    """The bootstrap Kustomization `flux-system/flux-system` as homelab.yaml describes it (path,
    interval), until the copy kept in Git, if any, is adopted."""
    return FluxKustomization(name="flux-system", namespace="flux-system", path=tree.cluster_path,
                             source=BOOTSTRAP_SOURCE, interval=getattr(getattr(cfg, "flux", None), "interval", None),
                             prune=True)


def _buildable(level: list[FluxKustomization], root: Path) -> list[FluxKustomization]:
    """The Kustomizations of a level that are built here; the others are told why not (`skipped`, or a
    `build_error` for a path that leaves the repository)."""
    out = []
    for ks in level:
        if ks.source != BOOTSTRAP_SOURCE and not (ks.source.kind == "GitRepository"
                                                  and ks.source.key == BOOTSTRAP_SOURCE.key):
            ks.skipped = f"source {ks.source} is not this repository; not built offline"
        elif ks.suspend:
            ks.skipped = "suspended"
        elif not (root / ks.path).resolve().is_relative_to(root):
            ks.build_error = f"path '{ks.path}' leaves the repository"  # never build outside it
        else:
            out.append(ks)
    return out


def _build_level(level: list[FluxKustomization], root: Path, cache: Cache, jobs: int | None,
                 kubectl: str) -> list[BuildResult]:
    """One batch of concurrent kustomize runs for a level's Kustomizations (results in their order)."""

    def prepare(i: int, docs: list[BuiltDoc]) -> None:
        """Parse (and substitute) a batch's objects while kustomize builds the next batches."""
        ks = level[i]
        subst = ks.post_build and bool(ks.variables)
        vkey = digest(*(f"{k}={v}" for k, v in sorted(ks.variables.items()))) if subst else ""
        for d in docs:
            if subst and "$" in d.text and not _DISABLED.search(d.text):
                _substituted(d.text, ks.variables, vkey, cache)
            else:
                _parsed(d.text, cache)

    return build_many([_request(ks, root) for ks in level], root, cache=cache, jobs=jobs, kubectl=kubectl,
                      on_built=prepare)


def _record_build(ks: FluxKustomization, res: BuildResult, tree: FluxTree, files: _Files,
                  configmaps: dict[tuple[str, str], K8sObject]) -> None:
    """Note a build's outcome on its Kustomization and the tree, index the files it read, and keep the
    ConfigMaps it makes (the first of each namespace/name wins)."""
    ks.built = res.error is None
    ks.build_error = res.error
    ks.input_problems = list(res.problems)
    tree.builds += 0 if res.cached or res.error else 1
    tree.cached += 1 if res.cached else 0
    for rel in res.inputs:
        files.get(rel)
    for d in res.docs:
        if d.kind == "ConfigMap":
            body = _parsed(d.text, files.cache)
            if isinstance(body, dict) and body.get("apiVersion") == "v1":
                meta = body.get("metadata") or {}
                configmaps.setdefault((str(meta.get("namespace") or ks.target_namespace or ""), str(meta.get("name"))),
                                      K8sObject(body=body, file=d.origin, line=1, doc=0, kustomization=ks.key))


def _follow(ks: FluxKustomization, res: BuildResult, tree: FluxTree, files: _Files,
            configmaps: dict[tuple[str, str], K8sObject], *, bootstrap: bool) -> list[FluxKustomization]:
    """Materialise a built Kustomization's objects (substituted with the variables known now) and
    register the Flux Kustomizations among them; returns the new ones, for the next level. A key
    already declared is recorded as a duplicate, except the adopted bootstrap Kustomization's own
    declaration."""
    ks.variables = _variables(ks, configmaps) if ks.post_build else {}
    ks.objects = _materialise(ks, res, files, tree.root)
    tree.objects.extend(ks.objects)
    children: list[FluxKustomization] = []
    for obj in ks.objects:
        if not obj.is_a(*FLUX_KS):
            continue
        child = _ks_from_object(obj, ks.key)
        if bootstrap and child.key == ks.key and ks.declared_by is not None:
            ks.declared_by = obj  # the substituted declaration, for file:line
        elif child.key in tree.kustomizations:
            tree.duplicate_kustomizations.append((obj, ks))
        else:
            tree.kustomizations[child.key] = child
            children.append(child)
    return children


def load_tree(root: Path, cfg: Any = None, *, cluster_path: str | None = None, cache: Cache | None = None,
              jobs: int | None = None, kubectl: str = "kubectl") -> FluxTree:
    """Read the Flux tree under `root` the way the controllers would on an empty cluster.

    Starts at the bootstrap Kustomization `flux-system/flux-system` (path `cluster_path`, else
    `cfg.flux.path` through `homelab.paths`; source GitRepository `flux-system`), builds it
    with kustomize, and follows every Flux Kustomization found in the output, level by level (each
    level is one batch of concurrent kustomize runs). Each object gets postBuild substitution from
    `substitute` and the `substituteFrom` ConfigMaps found in the tree. Kustomizations whose source is
    not this repository are recorded with `skipped` set and not built.

    Never raises for a broken tree: build errors, missing paths and missing ConfigMaps are recorded on
    each FluxKustomization for the checks to report. Raises `homelab.tools.ToolMissing` (a
    HomelabError) when kubectl is not installed and something must be built.
    """
    root = root.resolve()
    if cluster_path is None:
        cluster_path = FluxPaths.of(cfg).cluster
    cache = cache or Cache(None)
    tree = FluxTree(root=root, cluster_path=_norm(cluster_path))
    files = _Files(root, cache, tree.files)
    boot = _bootstrap(tree, cfg)
    tree.kustomizations[boot.key] = boot
    configmaps: dict[tuple[str, str], K8sObject] = {}
    level = [boot]
    while level:
        buildable = _buildable(level, root)
        for ks in buildable:
            ks.variables = _variables(ks, configmaps) if ks.post_build else {}
        results = _build_level(buildable, root, cache, jobs, kubectl)
        # every build of the level is recorded before any is materialised, so a Kustomization can
        # substitute from a ConfigMap of its own level
        for ks, res in zip(buildable, results, strict=False):
            _record_build(ks, res, tree, files, configmaps)
        if level == [boot] and buildable:
            boot = _adopt_bootstrap(boot, results[0], cache, tree)
            buildable = [boot]
        level = []
        for ks, res in zip(buildable, results, strict=False):
            level += _follow(ks, res, tree, files, configmaps, bootstrap=ks is boot)
    return tree


def check_var_names(ks: FluxKustomization) -> list[str]:
    """Variable names the controller would reject (`must match ^[_[:alpha:]][_[:alpha:][:digit:]]*$`)."""
    return [k for k in ks.variables if not VAR_NAME.match(k)]
