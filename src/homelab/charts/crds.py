"""CustomResourceDefinitions a chart installs: what they serve, and their schemas on disk.

A chart's CRDs (from `crds/` of the chart and its subcharts, and those its templates render) give
the cold-start simulation the API groups a release makes available, Helm the API versions to
render with, and `schema/*` the schemas of the custom resources: written once per chart (and
values) as `<group>/<kind>_<version>.json` under `~/.cache/homelab/crd-schemas/<key>/`, the layout
of the vendored `schema/crds`, strict the way kubeconform's catalogue makes them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from homelab.atomicfile import write_atomic
from homelab.usercache import user_cache_dir


FORMAT = 2  # bump when the written schemas change


@dataclass(frozen=True)
class CrdInfo:
    group: str
    kind: str
    scope: str                       # Namespaced | Cluster
    versions: tuple[str, ...]        # served versions

    @property
    def api_versions(self) -> list[str]:
        """What `.Capabilities.APIVersions` holds for it: `group/version` and `group/version/Kind`."""
        return [a for v in self.versions for a in (f"{self.group}/{v}", f"{self.group}/{v}/{self.kind}")]


def _spec(crd: dict[str, Any]) -> dict[str, Any]:
    spec = crd.get("spec")
    return spec if isinstance(spec, dict) else {}


def info(crd: dict[str, Any]) -> CrdInfo | None:
    spec = _spec(crd)
    names = spec.get("names") if isinstance(spec.get("names"), dict) else {}
    group, kind = str(spec.get("group") or ""), str(names.get("kind") or "")
    if not group or not kind:
        return None
    versions = tuple(str(v["name"]) for v in spec.get("versions") or []
                     if isinstance(v, dict) and v.get("name") and v.get("served", True))
    return CrdInfo(group, kind, str(spec.get("scope") or "Namespaced"), versions)


def strict(node: Any, top: bool = True) -> Any:
    """An openAPIV3Schema as a strict JSON schema: objects with properties admit no other key unless
    they preserve unknown fields; `nullable` admits null; int-or-string takes either."""
    if isinstance(node, list):
        return [strict(v, False) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: strict(v, False) if k not in ("enum", "default", "example") else v for k, v in node.items()}
    if top and isinstance(out.get("properties"), dict):
        out["properties"]["metadata"] = {"type": "object"}
    if not top and isinstance(out.get("properties"), dict) and "additionalProperties" not in out \
            and not out.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    if out.get("nullable") is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    if out.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
    if isinstance(out.get("pattern"), str):
        out["pattern"] = _python_pattern(out["pattern"])
    return out


def _python_pattern(pattern: str) -> str:
    """Go's regexp takes flags anywhere (`^(?i)(abort|warn)?$`); Python only at the start."""
    flags = re.findall(r"\(\?[aiLmsux]+\)", pattern)
    if not flags or pattern.startswith(flags[0]) and len(flags) == 1:
        return pattern
    return "".join(dict.fromkeys(flags)) + re.sub(r"\(\?[aiLmsux]+\)", "", pattern)


def cache_root() -> Path:
    return user_cache_dir("crd-schemas")


def write_schemas(key: str, crds: list[dict[str, Any]]) -> Path | None:
    """The schemas of `crds` in a folder named after `key` (content-addressed: written once, found
    complete by later runs); None when nothing could be written."""
    folder = cache_root() / f"v{FORMAT}-{key[:40]}"
    done = folder / ".complete"
    if done.is_file():
        return folder
    try:
        for crd in crds:
            spec, got = _spec(crd), info(crd)
            if got is None:
                continue
            for v in spec.get("versions") or []:
                schema = ((v or {}).get("schema") or {}).get("openAPIV3Schema") if isinstance(v, dict) else None
                if isinstance(schema, dict):
                    target = folder / got.group / f"{got.kind.lower()}_{v.get('name')}.json"
                    target.parent.mkdir(parents=True, exist_ok=True)
                    write_atomic(target, json.dumps(strict(schema), sort_keys=True).encode())
        folder.mkdir(parents=True, exist_ok=True)
        done.write_text("", encoding="utf-8")
    except OSError:
        return None
    return folder
