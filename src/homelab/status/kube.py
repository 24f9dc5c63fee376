"""Kubernetes through the official client: nodes, Flux objects, certificates and Longhorn volumes.

Collectors read lists through a `KubeReader` (`list(group, version, plural) -> items`), so the same
logic runs against a live API server (`KubernetesReader`) or recorded API responses.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from homelab.config import HomelabConfig
from homelab.status.conditions import condition, readiness, ref
from homelab.status.model import Check

# (group, version, plural) of every list `homelab status` and the converge stage read.
NODES = ("", "v1", "nodes")
KUSTOMIZATIONS = ("kustomize.toolkit.fluxcd.io", "v1", "kustomizations")
HELMRELEASES = ("helm.toolkit.fluxcd.io", "v2", "helmreleases")
CERTIFICATES = ("cert-manager.io", "v1", "certificates")
LONGHORN_VOLUMES = ("longhorn.io", "v1beta2", "volumes")

EXPIRY_WARNING_DAYS = 14  # cert-manager renews 30 days before expiry by default; under 14 left means renewal is failing


class KubeReader(Protocol):
    def list(self, group: str, version: str, plural: str) -> list[dict[str, Any]]: ...


class KubernetesReader:
    """A KubeReader on a live cluster, from a kubeconfig file. Items come back as the API's JSON."""

    def __init__(self, kubeconfig: Path | None):
        from kubernetes import client, config

        api = config.new_client_from_config(config_file=str(kubeconfig) if kubeconfig else None)
        self._core = client.CoreV1Api(api)
        self._custom = client.CustomObjectsApi(api)

    def list(self, group: str, version: str, plural: str) -> list[dict[str, Any]]:
        if group == "":
            if plural != "nodes":
                raise ValueError(f"core list {plural} is not read by homelab")
            # Raw JSON, not the client's model objects: the collectors read the API's own field names.
            raw = self._core.list_node(_preload_content=False, _request_timeout=15)
            return list(json.loads(raw.data)["items"])  # type: ignore[attr-defined]  # an HTTP response, not a model
        listed = self._custom.list_cluster_custom_object(group, version, plural, _request_timeout=15)
        return list(listed["items"])  # type: ignore[index]  # the API's JSON, typed `object` by the client


def collect_nodes(cfg: HomelabConfig, kube: KubeReader) -> list[Check]:
    checks = []
    seen = set()
    for node in kube.list(*NODES):
        name = node["metadata"]["name"]
        seen.add(name)
        cond = condition(node) or {}
        ready = cond.get("status") == "True"
        info = (node.get("status") or {}).get("nodeInfo") or {}
        detail = info.get("kubeletVersion", "")
        if not ready:
            detail = f"{cond.get('reason', 'NotReady')}: {cond.get('message', '')}".strip()
        state = "Ready" if ready else "NotReady"
        if (node.get("spec") or {}).get("unschedulable"):
            state += ",SchedulingDisabled"
        checks.append(Check("node", name, ready, state, detail))
    for declared in cfg.k3s.nodes:
        if declared.name not in seen:
            checks.append(Check("node", declared.name, False, "missing", "in homelab.yaml but not registered in the cluster"))
    return checks


def applied_revision(obj: dict[str, Any]) -> str:
    """What is running: a Kustomization's lastAppliedRevision, a HelmRelease's deployed chart version."""
    status = obj.get("status") or {}
    if obj.get("kind") == "HelmRelease":
        history = status.get("history") or []
        if history:
            return f"{history[0].get('chartName', '')}@{history[0].get('chartVersion', '')}"
        return status.get("lastAttemptedRevision", "")
    return status.get("lastAppliedRevision", "")


def collect_flux(kube: KubeReader) -> list[Check]:
    checks = []
    for section, api in (("kustomization", KUSTOMIZATIONS), ("helmrelease", HELMRELEASES)):
        for obj in kube.list(*api):
            r = readiness(obj)
            suspended = bool((obj.get("spec") or {}).get("suspend"))
            state = "Suspended" if suspended else ("Ready" if r.ready else r.reason or "NotReady")
            detail = applied_revision(obj) if r.ready else r.message
            checks.append(Check(section, ref(obj), r.ready and not suspended, state, detail))
    return checks


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def collect_certificates(kube: KubeReader, now: datetime, warn_days: int = EXPIRY_WARNING_DAYS) -> list[Check]:
    checks = []
    for cert in kube.list(*CERTIFICATES):
        r = readiness(cert)
        not_after = (cert.get("status") or {}).get("notAfter")
        if not not_after:
            checks.append(Check("certificate", ref(cert), False, "not issued", r.message))
            continue
        days = (_parse_time(not_after) - now).total_seconds() / 86400
        names = ", ".join((cert.get("spec") or {}).get("dnsNames") or [])
        if days < 0:
            ok, detail = False, f"expired {-days:.0f} days ago ({not_after}); {r.message}"
        elif days < warn_days:
            ok, detail = False, (f"expires in {days:.0f} days ({not_after}) and has not been renewed; "
                                 f"Ready: {r.message or r.reason}; check the ClusterIssuer and the DNS-01 token")
        elif not r.ready:
            ok, detail = False, r.message
        else:
            ok, detail = True, names
        checks.append(Check("certificate", ref(cert), ok, f"{days:.0f}d", detail))
    return checks


def collect_volumes(kube: KubeReader) -> list[Check]:
    checks = []
    for vol in kube.list(*LONGHORN_VOLUMES):
        status = vol.get("status") or {}
        robustness, state = status.get("robustness", "unknown"), status.get("state", "unknown")
        ks = status.get("kubernetesStatus") or {}
        name = vol["metadata"]["name"]
        # People know a volume by its claim; Longhorn's name (the PV's) goes in the detail.
        label = f"{ks['namespace']}/{ks['pvcName']}" if ks.get("pvcName") and ks.get("namespace") else name
        where = name if label != name else ""
        if robustness == "healthy":
            ok, detail = True, f"{state} {where}".strip()
        elif robustness == "unknown" and state == "detached":
            ok, detail = True, f"detached {where}".strip()  # no engine runs, so Longhorn cannot judge; normal
        elif robustness == "degraded":
            ok, detail = False, f"fewer healthy replicas than {vol.get('spec', {}).get('numberOfReplicas', '?')}; " \
                                f"Longhorn is rebuilding or a node is down {where}".strip()
        elif robustness == "faulted":
            ok, detail = False, f"no healthy replica left; data unavailable {where}".strip()
        else:
            ok, detail = False, f"{state}, robustness {robustness} {where}".strip()
        checks.append(Check("volume", label, ok, robustness, detail))
    return checks


def now_utc() -> datetime:
    return datetime.now(timezone.utc)
