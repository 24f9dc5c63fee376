"""schema/*: every object validates against the JSON schema of its kind.

Kubernetes kinds: the strict schemas bundled by the `kubernetes-validate` package for the cluster's
minor version (from homelab.yaml `k3s.version`). Custom resources: `<group>/<kind>_<version>.json`
in the CRD schema folder (`--schemas`, else `schema/crds/` in the repository), or the
openAPIV3Schema of a CustomResourceDefinition kept in the tree. A kind with no schema anywhere is
a finding: an unknown kind must never pass silently. Results are cached per object content.
"""

from __future__ import annotations

import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from homelab.checks.context import CheckContext
from homelab.checks.registry import rule
from homelab.checks.rules._util import where
from homelab.findings import Finding, Severity
from homelab.gitops.cache import digest

DEFAULT_CRD_DIR = "schema/crds"


def _k8s_dir(version: str) -> Path | None:
    import kubernetes_validate  # noqa: PLC0415  (heavy; only when schema rules run)

    base = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    want = tuple(int(x) for x in version.split(".")[:2])
    best = None
    for d in base.iterdir():
        m = re.match(r"^v(\d+)\.(\d+)\.\d+-local-strict$", d.name)
        if m and (int(m.group(1)), int(m.group(2))) <= want:
            if best is None or (int(m.group(1)), int(m.group(2))) > best[0]:
                best = ((int(m.group(1)), int(m.group(2))), d)
    return best[1] if best else None


@lru_cache(maxsize=4)
def _k8s_registry(schema_dir: str):
    from referencing import Registry, Resource

    defs = json.loads((Path(schema_dir) / "_definitions.json").read_text())
    return Registry().with_resource(defs["$id"], Resource.from_contents(defs))


@lru_cache(maxsize=512)
def _validator(path: str, k8s_dir: str | None):
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


def _errors(validator, body: dict[str, Any]) -> list[tuple[str, tuple]]:
    out = []
    for e in sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))[:5]:
        path = tuple(e.absolute_path)
        at = ".".join(str(p) for p in path) or "(top level)"
        out.append((f"at {at}: {e.message[:300]}", path))
    return out


@rule("schema/invalid", "every object validates against its Kubernetes or CRD JSON schema",
      also={"schema/unknown-kind": "every kind has a schema (Kubernetes, the CRD schema folder, or a CRD in the tree)",
            "schema/crd-schemas-missing": "a CRD schema folder is available"})
def schema_invalid(ctx: CheckContext):
    tree = ctx.tree
    k8s_dir = _k8s_dir(ctx.k8s_version)
    if k8s_dir is None:
        yield Finding("schema/unknown-kind", Severity.error,
                      f"no Kubernetes schemas for version {ctx.k8s_version} in kubernetes-validate",
                      "homelab.yaml", None, "upgrade the kubernetes-validate package")
        return
    crd_dir = _crd_dir(ctx)
    if crd_dir is None or not crd_dir.is_dir():
        yield Finding("schema/crd-schemas-missing", Severity.warning,
                      f"no CRD schema folder ({crd_dir or DEFAULT_CRD_DIR} not found): custom resources are not validated",
                      None, None, "pass --schemas DIR (laid out as <group>/<kind>_<version>.json) or add schema/crds/")
        crd_dir = None
    tree_crds: dict[tuple[str, str, str], str] = {}
    for o in tree.by_kind("CustomResourceDefinition"):
        for v in o.spec.get("versions") or []:
            schema = ((v or {}).get("schema") or {}).get("openAPIV3Schema")
            if schema:
                tree_crds[(str(o.spec.get("group")), str(v.get("name")), str((o.spec.get("names") or {}).get("kind")))] = \
                    json.dumps(schema, sort_keys=True)
    ident = f"{k8s_dir}|{crd_dir}|{os.path.getmtime(crd_dir) if crd_dir else ''}"
    for o in tree.objects:
        group, version, kind = o.group, o.version, o.kind
        if not kind or not o.api_version:
            yield Finding("schema/invalid", Severity.error, "object without apiVersion/kind", o.file or None, o.line)
            continue
        path = _k8s_schema_file(k8s_dir, group, version, kind)
        source, validator = None, None
        if path is not None:
            source = str(path)
        elif crd_dir is not None and (crd_dir / group / f"{kind.lower()}_{version}.json").is_file():
            source = str(crd_dir / group / f"{kind.lower()}_{version}.json")
        elif (group, version, kind) in tree_crds:
            source = "tree:" + digest(tree_crds[(group, version, kind)])
        if source is None:
            if crd_dir is None and "." in group and not group.endswith(".k8s.io"):
                continue  # already said once: no CRD schemas at all
            yield Finding("schema/unknown-kind", Severity.error,
                          f"{where(o)}: no schema for {o.api_version} {kind} (Kubernetes {ctx.k8s_version}"
                          f"{', ' + str(crd_dir) if crd_dir else ''}); a typo in apiVersion/kind, or a CRD without a schema",
                          o.file or None, o.line_of("kind"),
                          f"fix apiVersion/kind, or add {group or 'core'}/{kind.lower()}_{version}.json to the schema folder")
            continue
        key = digest(ident, source, json.dumps(o.body, sort_keys=True, default=str))
        errs = ctx.cache.get("schema", key)
        if errs is None:
            if source.startswith("tree:"):
                validator = _crd_validator(tree_crds[(group, version, kind)])
            else:
                validator = _validator(source, str(k8s_dir) if path is not None else None)
            errs = _errors(validator, o.body)
            ctx.cache.put("schema", key, errs)
        for msg, epath in errs:
            yield Finding("schema/invalid", Severity.error, f"{where(o)} {msg}", o.file or None,
                          o.line_of(*epath), "compare with the schema of " + (o.api_version + " " + kind))
