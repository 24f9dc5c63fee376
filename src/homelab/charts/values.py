"""The values a HelmRelease gives its chart, as helm-controller composes them, and what the chart
makes of them: keys it does not know, default lists a value replaces.

Composition (helm-controller's order): each `valuesFrom` entry in turn (a ConfigMap or Secret kept
in Git, its `valuesKey`, default `values.yaml`, or one value at `targetPath`), merged map by map,
then `spec.values` on top. The tree's objects are already substituted, so these are the values
after Flux's `${VAR}` substitution.
"""

from __future__ import annotations

import base64
import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from homelab.gitops.model import FluxTree, K8sObject
from homelab.yamlio import load_manifests


def merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """Maps merge key by key; anything else in `top` replaces (Helm and Flux never merge lists)."""
    out = dict(base)
    for k, v in top.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _set_path(values: dict[str, Any], path: str, value: Any) -> None:
    keys = [k for k in path.split(".") if k]
    node = values
    for k in keys[:-1]:
        node = node.setdefault(k, {}) if isinstance(node.get(k), dict) or k not in node else {}
    if keys:
        node[keys[-1]] = value


def compose(tree: FluxTree, hr: K8sObject) -> tuple[dict[str, Any], list[str]]:
    """The release's values and notes on parts that could not be read from Git."""
    values: dict[str, Any] = {}
    notes: list[str] = []
    for ref in hr.spec.get("valuesFrom") or []:
        if not isinstance(ref, dict):
            continue
        kind, name = str(ref.get("kind") or ""), str(ref.get("name") or "")
        key = str(ref.get("valuesKey") or "values.yaml")
        src = tree.find(kind, name, hr.namespace, group="")
        raw: str | None = None
        if src is not None:
            data = src.body.get("data") if isinstance(src.body.get("data"), dict) else {}
            if kind == "Secret":
                string_data = src.body.get("stringData") if isinstance(src.body.get("stringData"), dict) else {}
                if key in string_data:
                    raw = str(string_data[key])
                elif key in data:
                    raw = base64.b64decode(str(data[key])).decode("utf-8", "replace")
            elif key in data:
                raw = str(data[key])
        if raw is None:
            if not ref.get("optional"):
                notes.append(f"valuesFrom {kind} {hr.namespace}/{name} (key {key}) is not kept in Git: checked without it")
            continue
        if ref.get("targetPath"):
            _set_path(values, str(ref["targetPath"]), raw)
            continue
        try:
            docs = load_manifests(raw)
        except Exception:  # noqa: BLE001  (any YAML error: said, and left out)
            notes.append(f"valuesFrom {kind} {hr.namespace}/{name} (key {key}) is not valid YAML: checked without it")
            continue
        if docs and isinstance(docs[0], dict):
            values = merge(values, docs[0])
    inline = hr.spec.get("values")
    if isinstance(inline, dict):
        values = merge(values, inline)
    return values, notes


_FILE_KEY = re.compile(r"\.(ini|ya?ml|json|toml|conf|cfg|properties|river|alloy)$")


@dataclass(frozen=True)
class UnknownKey:
    path: tuple[str, ...]
    suggestion: str | None


def _schema_child(schema: dict[str, Any] | None, key: str) -> tuple[bool, dict[str, Any] | None]:
    """(does this schema node name `key`, or type it as an entry of a map; the child's schema).
    `additionalProperties: true` admits any key without naming it (see `unknown_keys`)."""
    if not isinstance(schema, dict):
        return False, None
    props = schema.get("properties")
    if isinstance(props, dict) and key in props:
        return True, props[key] if isinstance(props[key], dict) else None
    for pattern, sub in (schema.get("patternProperties") or {}).items():
        try:
            if re.search(pattern, key):
                return True, sub if isinstance(sub, dict) else None
        except re.error:
            continue
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):  # a typed map: its keys are the user's names
        return True, extra
    return False, None


def _closed(schema: dict[str, Any] | None) -> bool:
    """The schema itself forbids unknown keys here (then `helm/values-schema` reports them)."""
    return isinstance(schema, dict) and schema.get("additionalProperties") is False


def _at(tree: Any, path: tuple[str, ...]) -> Any:
    for k in path:
        tree = tree.get(k) if isinstance(tree, dict) else None
    return tree


def _schema_at(schemas: dict[tuple[str, ...], dict[str, Any]], path: tuple[str, ...]) -> dict[str, Any] | None:
    """The schema node governing the map at `path` (a subchart's own schema from its key on)."""
    for cut in range(len(path), -1, -1):
        node: Any = schemas.get(path[:cut])
        if node is None:
            continue
        for k in path[cut:]:
            _, node = _schema_child(node, k)
            if node is None:
                return None
        return node
    return None


def suggest(key: str, path: tuple[str, ...], declared: dict[str, Any],
            schemas: dict[tuple[str, ...], dict[str, Any]]) -> str | None:
    """The known key at `path` (the parent map) closest to `key`, if one is close."""
    known = _at(declared, path)
    names = set(known) if isinstance(known, dict) else set()
    schema = _schema_at(schemas, path)
    names |= set((schema or {}).get("properties") or {})
    close = difflib.get_close_matches(key, sorted(str(n) for n in names), n=1, cutoff=0.7)
    return close[0] if close else None


def unknown_keys(user: dict[str, Any], declared: dict[str, Any], schemas: dict[tuple[str, ...], dict[str, Any]],
                 commented: frozenset[str] = frozenset()) -> Iterator[UnknownKey]:
    """Keys of `user` the chart neither declares in its values files (commented-out examples count)
    nor names in its schema. Where the schema closes a map (`additionalProperties: false`) Helm
    rejects the key and `helm/values-schema` reports it; where it admits other keys, only a key
    close to a known one is reported (a typo), others are taken as passed through. A map the chart leaves empty (`podAnnotations: {}`)
    takes any key; `global` is shared with every subchart and not checked."""

    def walk(node: dict[str, Any], dflt: Any, schema: dict[str, Any] | None, path: tuple[str, ...]) -> Iterator[UnknownKey]:
        for key, value in node.items():
            key = str(key)
            here = (*path, key)
            if not path and key == "global":
                continue
            in_values = isinstance(dflt, dict) and key in dflt
            named, sub = _schema_child(schema, key)
            sub = schemas.get(here, sub)
            if not in_values and not named:
                if key in commented or _closed(schema):
                    continue  # a documented example; helm/values-schema's to report
                close = suggest(key, path, declared, schemas)
                if schema is None or close:  # a schema that admits any key: only a near miss is a typo
                    yield UnknownKey(here, close)
                continue
            child = dflt.get(key) if in_values else None
            if _FILE_KEY.search(key):
                continue  # `grafana.ini`, `datasources.yaml`: a file's content, the program's keys, not the chart's
            if isinstance(value, dict) and (isinstance(child, dict) and child or sub is not None):
                yield from walk(value, child if isinstance(child, dict) else {}, sub, here)

    yield from walk(user, declared, schemas.get(()), ())


@dataclass(frozen=True)
class ReplacedList:
    path: tuple[str, ...]
    default_items: int


def replaced_lists(user: dict[str, Any], defaults: dict[str, Any]) -> Iterator[ReplacedList]:
    """Lists in `user` that replace a non-empty default list of the chart wholesale (Helm does not
    merge lists: the defaults are gone unless repeated)."""

    def walk(node: dict[str, Any], dflt: dict[str, Any], path: tuple[str, ...]) -> Iterator[ReplacedList]:
        for key, value in node.items():
            child = dflt.get(key)
            here = (*path, str(key))
            if isinstance(value, list) and isinstance(child, list) and child and value != child \
                    and not all(item in value for item in child):
                yield ReplacedList(here, len(child))
            elif isinstance(value, dict) and isinstance(child, dict):
                yield from walk(value, child, here)

    yield from walk(user, defaults, ())
