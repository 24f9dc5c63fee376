"""resources/*: every container the tree runs says what it needs.

A container without resource requests is scheduled as if it needed nothing: the scheduler packs
pods onto a node until it runs out of memory, and the drills of `homelab plan` cannot tell whether
the survivors of a host failure have room. A warning, at the container's line.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from homelab.checks.context import CheckContext
from homelab.checks.registry import finding, rule
from homelab.checks.rules._util import where
from homelab.findings import Severity
from homelab.gitops.model import K8sObject

# Where each workload kind keeps its pod spec.
POD_SPEC: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}


def _containers(obj: K8sObject) -> Iterator[tuple[tuple[str | int, ...], dict[str, Any]]]:
    path = POD_SPEC.get(obj.kind)
    if path is None or obj.group not in ("", "apps", "batch"):
        return
    node: Any = obj.body
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    if not isinstance(node, dict):
        return
    for field in ("initContainers", "containers"):
        for i, c in enumerate(node.get(field) or []):
            if isinstance(c, dict):
                yield (*path, field, i), c


def _helm_hook(obj: K8sObject) -> bool:
    """A chart's hook (install/upgrade/delete Job): it runs for seconds around a release, holds no
    capacity in steady state, and the drills do not count it."""
    annotations = obj.metadata.get("annotations")
    return isinstance(annotations, dict) and "helm.sh/hook" in annotations


@rule("resources/requests-missing", "every container in the tree has CPU and memory requests",
      severity=Severity.warning)
def requests_missing(ctx: CheckContext):
    for obj in ctx.tree.objects:
        if _helm_hook(obj):
            continue
        for keys, c in _containers(obj):
            requests = (c.get("resources") or {}).get("requests") if isinstance(c.get("resources"), dict) else None
            missing = [r for r in ("cpu", "memory") if not (isinstance(requests, dict) and requests.get(r))]
            if missing:
                yield finding("resources/requests-missing",
                              f"container {c.get('name', keys[-1])} of {where(obj)} has no {' or '.join(missing)} "
                              "request; the scheduler treats it as needing nothing, and the drills cannot count it",
                              obj.file or None, obj.line_of(*keys),
                              "set its resources.requests through the chart's values (see the chart's values.yaml for "
                              "the key), or waive it where the chart has none" if obj.release else
                              "add resources.requests (cpu, memory) from what it uses: `kubectl top pod`")
