"""Reading Kubernetes status conditions the way `kubectl wait --for=condition=Ready` and `flux get` do."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Readiness:
    ready: bool
    reason: str
    message: str


def condition(obj: dict[str, Any], kind: str = "Ready") -> dict[str, Any] | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return cond
    return None


def readiness(obj: dict[str, Any]) -> Readiness:
    """Ready only when the Ready condition is True and describes the current generation.

    A Ready=True left over from the previous spec (observedGeneration behind metadata.generation)
    is not ready yet: the controller has not looked at the change.
    """
    cond = condition(obj)
    if cond is None:
        return Readiness(False, "Pending", "no Ready condition yet (the controller has not reconciled it)")
    status = obj.get("status") or {}
    generation = (obj.get("metadata") or {}).get("generation")
    observed = cond.get("observedGeneration", status.get("observedGeneration"))
    if cond.get("status") == "True" and generation is not None and observed is not None and observed < generation:
        return Readiness(False, "Progressing", f"generation {generation} not reconciled yet (observed {observed})")
    return Readiness(cond.get("status") == "True", cond.get("reason", ""), (cond.get("message") or "").strip())


def ref(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace')}/{meta.get('name')}" if meta.get("namespace") else str(meta.get("name"))
