"""schema/*: every object validates against the JSON schema of its kind.

Kubernetes kinds: the strict schemas bundled by the `kubernetes-validate` package for the cluster's
minor version (from homelab.yaml `k3s.version`). Custom resources: the CRDs the tree's charts
install (`<group>/<kind>_<version>.json` written from each chart, see `homelab.charts.crds`), then
the CRD schema folder (`--schemas`, else the vendored `schema/crds/` in the repository: the
fallback for charts that are not available, and the report says which groups used it), or the
openAPIV3Schema of a CustomResourceDefinition kept in the tree. A kind with no schema anywhere is
a finding: an unknown kind must never pass silently. Results are cached per object content.
"""

from __future__ import annotations

import importlib.util
import json
import marshal
import os
import re
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from homelab.atomicfile import write_atomic
from homelab.checks.context import CheckContext
from homelab.checks.registry import declare, finding, rule
from homelab.checks.rules._util import where
from homelab.checks.rules.coldstart import BUILTIN_GROUPS
from homelab.findings import Finding, Severity
from homelab.gitops import FluxTree, K8sObject
from homelab.gitops.cache import digest
from homelab.usercache import user_cache_dir

DEFAULT_CRD_DIR = "schema/crds"


def _k8s_dir(version: str) -> Path | None:
    """The strict schema folder of kubernetes-validate for the newest minor <= `version` (no import:
    the package's own import pulls in half of PyPI, and we only need its data)."""
    spec = importlib.util.find_spec("kubernetes_validate")
    if spec is None or not spec.submodule_search_locations:
        return None
    base = Path(list(spec.submodule_search_locations)[0]) / "kubernetes-json-schema"
    want = tuple(int(x) for x in version.split(".")[:2])
    best = None
    for d in base.iterdir() if base.is_dir() else ():
        m = re.match(r"^v(\d+)\.(\d+)\.\d+-local-strict$", d.name)
        if m and (int(m.group(1)), int(m.group(2))) <= want:
            if best is None or (int(m.group(1)), int(m.group(2))) > best[0]:
                best = ((int(m.group(1)), int(m.group(2))), d)
    return best[1] if best else None


def _validator_cache_dir() -> Path:
    return user_cache_dir("validators")


class _NoRemoteRefs(Exception):
    pass


@lru_cache(maxsize=512)
def _compiled(path: str, k8s_dir: str | None):
    """A fastjsonschema validator for one schema file, compiled once per schema version and kept
    as bytecode in the user's cache (like .pyc files: it depends on the installed schemas only)."""
    import fastjsonschema

    raw = Path(path).read_bytes()
    defs_raw = (Path(k8s_dir) / "_definitions.json").read_bytes() if k8s_dir else b""
    key = digest("fjs-2", fastjsonschema.VERSION, sys.version, raw, defs_raw)
    target = _validator_cache_dir() / f"{key}.marshal"
    code = None
    if target.is_file():
        try:
            code = marshal.loads(target.read_bytes())
        except (ValueError, EOFError, TypeError):
            code = None
    if code is None:
        schema = json.loads(raw)
        defs = json.loads(defs_raw) if k8s_dir else None

        def local_only(uri: str):
            if defs is not None and uri.split("#", 1)[0] == defs.get("$id"):
                return defs
            raise _NoRemoteRefs(f"schema {path} refers to {uri}; remote references are never fetched")

        src = fastjsonschema.compile_to_code(schema, handlers={"https": local_only, "http": local_only},
                                             use_formats=False)
        code = compile(src, f"<schema {Path(path).name}>", "exec")
        try:
            write_atomic(target, marshal.dumps(code))
        except OSError:
            pass  # a read-only home: compile again next time
    ns: dict[str, Any] = {}
    exec(code, ns)  # noqa: S102  (our own generated validator)
    entry = next(n for n in ns if n.startswith("validate") and callable(ns[n]))
    return ns[entry]


@lru_cache(maxsize=4)
def _k8s_registry(schema_dir: str):
    from referencing import Registry, Resource

    defs = json.loads((Path(schema_dir) / "_definitions.json").read_text())
    return Registry().with_resource(defs["$id"], Resource.from_contents(defs))


@lru_cache(maxsize=512)
def _validator(path: str, k8s_dir: str | None):
    """The jsonschema validator: slower, but reports every error with its path (used on failures)."""
    import jsonschema

    schema = json.loads(Path(path).read_text())
    if k8s_dir is not None:
        return jsonschema.Draft202012Validator(schema, registry=_k8s_registry(k8s_dir))
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    return cls(schema)


@lru_cache(maxsize=256)
def _crd_validator(schema_json: str):
    import jsonschema

    return jsonschema.Draft7Validator(json.loads(schema_json))


def _crd_dir(ctx: CheckContext) -> Path | None:
    if ctx.options.schemas is not None:
        return ctx.options.schemas
    d = ctx.root / DEFAULT_CRD_DIR
    return d if d.is_dir() else None


def _k8s_schema_file(k8s_dir: Path, group: str, version: str, kind: str) -> Path | None:
    prefix = group.split(".", 1)[0] + "-" if group else ""
    p = k8s_dir / f"{kind.lower()}-{prefix}{version}.json"
    return p if p.is_file() else None


def _check(source: str, k8s_dir: str | None, body: dict[str, Any]) -> list[tuple[str, tuple]]:
    """Fast path with the compiled validator; on failure, jsonschema for every error and its path."""
    import fastjsonschema

    try:
        _compiled(source, k8s_dir)(body)
        return []
    except fastjsonschema.JsonSchemaValueException:
        pass
    except _NoRemoteRefs:
        pass  # fall through to jsonschema, which resolves only what the registry holds
    return _errors(_validator(source, k8s_dir), body)


def _errors(validator, body: dict[str, Any]) -> list[tuple[str, tuple]]:
    out = []
    for e in sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))[:5]:
        path = tuple(e.absolute_path)
        if e.validator == "additionalProperties" and isinstance(e.instance, dict) and isinstance(e.schema, dict):
            # the unknown field's own line, not its parent's
            known = set(e.schema.get("properties") or {})
            extra = sorted(str(k) for k in e.instance if k not in known)
            if extra:
                path = (*path, extra[0])
        at = ".".join(str(p) for p in path) or "(top level)"
        out.append((f"at {at}: {e.message[:300]}", path))
    return out


@dataclass
class _Sources:
    """Where one run finds each kind's schema, in the order they are tried: Kubernetes, the charts' CRDs,
    the CRD schema folder, the CRDs kept in the tree."""

    k8s_dir: Path
    crd_dir: Path | None
    chart_dirs: list[Path]
    tree_crds: dict[tuple[str, str, str], str]  # (group, version, kind) -> openAPIV3Schema as JSON
    vendored: bool  # crd_dir is the repository's own schema/crds (no --schemas)
    fallback_groups: set[str] = field(default_factory=set)  # groups only the vendored folder had

    def find(self, group: str, version: str, kind: str) -> tuple[str, str | None] | None:
        """The schema's source (a file, or "tree:" and its digest), and the Kubernetes schema folder its
        references resolve in (None for a CRD schema); None when no source has the kind."""
        path = _k8s_schema_file(self.k8s_dir, group, version, kind)
        if path is not None:
            return str(path), str(self.k8s_dir)
        name = f"{kind.lower()}_{version}.json"
        found = next((d / group / name for d in self.chart_dirs if (d / group / name).is_file()), None)
        if found is not None:
            return str(found), None
        if self.crd_dir is not None and (self.crd_dir / group / name).is_file():
            if self.vendored:
                self.fallback_groups.add(group)
            return str(self.crd_dir / group / name), None
        if (group, version, kind) in self.tree_crds:
            return "tree:" + digest(self.tree_crds[(group, version, kind)]), None
        return None

    def ident(self) -> str:
        """What the cached results depend on besides the object and its schema file."""
        mtime = os.path.getmtime(self.crd_dir) if self.crd_dir else ""
        return f"{self.k8s_dir}|{self.crd_dir}|{mtime}|{'|'.join(map(str, self.chart_dirs))}"


def _tree_crds(tree: FluxTree) -> dict[tuple[str, str, str], str]:
    """The openAPIV3Schema of every version of each CustomResourceDefinition in the tree."""
    crds: dict[tuple[str, str, str], str] = {}
    for o in tree.by_kind("CustomResourceDefinition"):
        for v in o.spec.get("versions") or []:
            schema = ((v or {}).get("schema") or {}).get("openAPIV3Schema")
            if schema:
                crds[(str(o.spec.get("group")), str(v.get("name")), str((o.spec.get("names") or {}).get("kind")))] = \
                    json.dumps(schema, sort_keys=True)
    return crds


def _object_errors(ctx: CheckContext, sources: _Sources, ident: str, o: K8sObject, source: str,
                   defs_dir: str | None) -> list[tuple[str, tuple]]:
    """The object's schema errors (message, key path), cached per object content and schema."""
    key = digest("lines-2", ident, source, o.digest or json.dumps(o.body, sort_keys=True, default=str))
    errs = ctx.cache.get("schema", key)
    if errs is None:
        if source.startswith("tree:"):
            errs = _errors(_crd_validator(sources.tree_crds[(o.group, o.version, o.kind)]), o.body)
        else:
            errs = _check(source, defs_dir, o.body)
        ctx.cache.put("schema", key, errs)
    return errs


def _unknown_kind(ctx: CheckContext, o: K8sObject, crd_dir: Path | None) -> Finding:
    group, version, kind = o.group, o.version, o.kind
    return finding("schema/unknown-kind", f"{where(o)}: no schema for {o.api_version} {kind} (Kubernetes {ctx.k8s_version}"
                   f"{', ' + str(crd_dir) if crd_dir else ''}); a typo in apiVersion/kind, or a CRD without a schema",
                   o.file or None, o.line_of("kind"),
                   f"fix apiVersion/kind, or add {group or 'core'}/{kind.lower()}_{version}.json to the schema folder")


declare("schema/crd-schemas-missing", "a CRD schema folder is available", reported_by="check", severity=Severity.warning)


@rule("schema/invalid", "every object validates against its Kubernetes or CRD JSON schema",
      also={"schema/unknown-kind": "every kind has a schema (Kubernetes, the CRD schema folder, or a CRD in the tree)",
            "schema/crd-schemas-missing": "a CRD schema folder is available"})
def schema_invalid(ctx: CheckContext):
    tree = ctx.tree
    k8s_dir = _k8s_dir(ctx.k8s_version)
    if k8s_dir is None:
        yield finding("schema/unknown-kind", f"no Kubernetes schemas for version {ctx.k8s_version} in kubernetes-validate",
                      "homelab.yaml", None, "upgrade the kubernetes-validate package")
        return
    crd_dir = _crd_dir(ctx)
    if crd_dir is None or not crd_dir.is_dir():
        yield finding("schema/crd-schemas-missing",
                      f"no CRD schema folder ({crd_dir or DEFAULT_CRD_DIR} not found): custom resources are not validated",
                      None, None, "pass --schemas DIR (laid out as <group>/<kind>_<version>.json) or add schema/crds/")
        crd_dir = None
    tree_crds = _tree_crds(tree)
    sources = _Sources(k8s_dir, crd_dir, list(dict.fromkeys(ctx.charts.schema_dirs)), tree_crds,
                       vendored=ctx.options.schemas is None)
    ident = sources.ident()
    for o in tree.objects:
        if not o.kind or not o.api_version:
            yield finding("schema/invalid", "object without apiVersion/kind", o.file or None, o.line)
            continue
        found = sources.find(o.group, o.version, o.kind)
        if found is None:
            if crd_dir is None and "." in o.group and not o.group.endswith(".k8s.io"):
                continue  # already said once: no CRD schemas at all
            yield _unknown_kind(ctx, o, crd_dir)
            continue
        for msg, epath in _object_errors(ctx, sources, ident, o, *found):
            yield finding("schema/invalid", f"{where(o)} {msg}", o.file or None,
                          o.line_of(*epath), "compare with the schema of " + (o.api_version + " " + o.kind))
    provided = {c.group for r in ctx.charts.releases for c in r.crds}
    vendored = sorted(sources.fallback_groups - provided - BUILTIN_GROUPS)
    if vendored:
        ctx.note(f"schema/*: {', '.join(vendored)} validated against the vendored {DEFAULT_CRD_DIR} "
                 "(no available chart installs them)")
