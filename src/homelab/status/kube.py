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
from homelab.status.model import Check, advise

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
            return json.loads(self._core.list_node(_preload_content=False, _request_timeout=15).data)["items"]
        return self._custom.list_cluster_custom_object(group, version, plural, _request_timeout=15)["items"]


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
            detail = advise(f"{cond.get('reason', 'NotReady')}: {cond.get('message', '')}",
                            f"check the VM is running and `systemctl status k3s` on {name}")
        state = "Ready" if ready else "NotReady"
        if (node.get("spec") or {}).get("unschedulable"):
            state += ",SchedulingDisabled"
        checks.append(Check("node", name, ready, state, detail))
    for node in cfg.k3s.nodes:
        if node.name not in seen:
            checks.append(Check("node", node.name, False, "missing", "in homelab.yaml but not registered in the cluster; "
                                "`homelab up --from hosts` joins it (the k3s role)"))
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
            meta = obj.get("metadata") or {}
            args = f"{section} {meta.get('name')} -n {meta.get('namespace')}"
            if suspended:
                detail = f"reconciliation is suspended; resume it: flux resume {args}"
            elif r.ready:
                detail = applied_revision(obj)
            elif r.reason == "DependencyNotReady":
                detail = advise(r.message, "fix that dependency first (this one waits for it)")
            else:
                detail = advise(r.message, f"see `flux logs --kind={obj.get('kind', section)} --name={meta.get('name')} "
                                f"-n {meta.get('namespace')}`, fix the cause in Git, then `flux reconcile {args}`")
            checks.append(Check(section, ref(obj), r.ready and not suspended, state, detail))
    return checks


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _cert_advice(cert: dict[str, Any]) -> str:
    meta = cert.get("metadata") or {}
    return (f"check the ClusterIssuer and the DNS-01 token: `kubectl -n {meta.get('namespace')} describe certificate "
            f"{meta.get('name')}`, then its CertificateRequest and Order")


def collect_certificates(kube: KubeReader, now: datetime, warn_days: int = EXPIRY_WARNING_DAYS) -> list[Check]:
    checks = []
    for cert in kube.list(*CERTIFICATES):
        r = readiness(cert)
        not_after = (cert.get("status") or {}).get("notAfter")
        if not not_after:
            checks.append(Check("certificate", ref(cert), False, "not issued", advise(r.message, _cert_advice(cert))))
            continue
        days = (_parse_time(not_after) - now).total_seconds() / 86400
        names = ", ".join((cert.get("spec") or {}).get("dnsNames") or [])
        if days < 0:
            ok, detail = False, advise(f"expired {-days:.0f} days ago ({not_after}); {r.message}", _cert_advice(cert))
        elif days < warn_days:
            ok, detail = False, advise(f"expires in {days:.0f} days ({not_after}) and has not been renewed; "
                                       f"Ready: {r.message or r.reason}", _cert_advice(cert))
        elif not r.ready:
            ok, detail = False, advise(r.message, _cert_advice(cert))
        else:
            ok, detail = True, names
        checks.append(Check("certificate", ref(cert), ok, f"{days:.0f}d", detail))
    return checks


# Pods in these phases still want their volume attached.
_ACTIVE_PODS = ("Running", "Pending", "ContainerCreating", "Unknown")


def collect_volumes(kube: KubeReader) -> list[Check]:
    """Longhorn volumes by robustness. A state Longhorn cannot judge ("unknown") is unhealthy,
    except a detached volume that no pod uses (no engine runs, so there is nothing to judge)."""
    checks = []
    for vol in kube.list(*LONGHORN_VOLUMES):
        status = vol.get("status") or {}
        robustness, state = status.get("robustness") or "unknown", status.get("state") or "unknown"
        ks = status.get("kubernetesStatus") or {}
        name = vol["metadata"]["name"]
        # People know a volume by its claim; Longhorn's name (the PV's) goes in the detail.
        label = f"{ks['namespace']}/{ks['pvcName']}" if ks.get("pvcName") and ks.get("namespace") else name
        where = f" ({name})" if label != name else ""
        users = [f"{w.get('podName')} ({w.get('podStatus')})" for w in ks.get("workloadsStatus") or []
                 if w.get("podStatus") in _ACTIVE_PODS]
        inspect = f"`kubectl -n longhorn-system get volumes.longhorn.io {name} -o yaml` and the Longhorn UI"
        shown = robustness
        if robustness == "healthy":
            ok, detail = True, f"{state}{where}"
        elif robustness == "unknown" and state == "detached" and not users:
            ok, detail, shown = True, f"detached, no pod uses it{where}", "detached"
        elif robustness == "unknown" and state == "detached":
            ok, detail = False, (f"detached although {', '.join(users)} uses it{where}, so Longhorn could not attach "
                                 f"it; check the node the pod runs on and {inspect}")
        elif robustness == "degraded":
            ok, detail = False, (f"fewer healthy replicas than {vol.get('spec', {}).get('numberOfReplicas', '?')}; "
                                 f"Longhorn is rebuilding or a node is down{where}; bring the nodes back and watch the "
                                 "rebuild in the Longhorn UI (Volume > Replicas)")
        elif robustness == "faulted":
            ok, detail = False, (f"no healthy replica left; data unavailable{where}; salvage a replica in the Longhorn "
                                 "UI or restore the volume from a backup")
        else:
            ok, detail = False, f"{state}, robustness {robustness}{where}: Longhorn cannot judge it; check {inspect}"
        checks.append(Check("volume", label, ok, shown, detail))
    return checks


def now_utc() -> datetime:
    return datetime.now(timezone.utc)
