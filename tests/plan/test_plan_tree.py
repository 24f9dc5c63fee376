"""How plan/tree.py finds requests and Longhorn volumes inside HelmRelease values (by shape)."""

from __future__ import annotations

from homelab.gitops import K8sObject
from homelab.plan.tree import _helm_pods, _helm_volumes

Mi, Gi = 2**20, 2**30


def helm_release(values: dict) -> K8sObject:
    body = {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": {"name": "stack", "namespace": "monitoring"}, "spec": {"values": values}}
    return K8sObject(body=body, file="kubernetes/stack/helmrelease.yaml", line=3, doc=0, kustomization="flux-system/stack")


VALUES = {
    "server": {"replicas": 2, "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}}},
    "nodeExporter": {"resources": {"requests": {"cpu": "10m", "memory": "32Mi"}}},
    "agent": {"controller": {"type": "daemonset"}, "resources": {"requests": {"memory": "64Mi"}}},
    "prometheus": {"storageSpec": {"volumeClaimTemplate": {"spec": {
        "storageClassName": "longhorn", "resources": {"requests": {"storage": "20Gi"}}}}}},
    "persistence": {"enabled": True, "size": "8Gi"},
    "cache": {"persistence": {"enabled": False, "size": "50Gi"}},
    "local": {"persistence": {"size": "5Gi", "storageClass": "local-path"}},
}


def test_container_resources_become_pods_with_their_replicas():
    pods = {p.name: p for p in _helm_pods(helm_release(VALUES))}
    server = pods["stack:server"]
    assert (server.replicas, server.cpu_millis, server.memory, server.memory_limit) == (2, 250, 512 * Mi, Gi)
    assert not server.per_node


def test_daemonsets_are_recognised_by_name_or_by_the_charts_switch():
    pods = {p.name: p for p in _helm_pods(helm_release(VALUES))}
    assert pods["stack:nodeExporter"].per_node and pods["stack:agent"].per_node


def test_a_claim_template_is_a_volume_not_a_pod():
    assert not [p for p in _helm_pods(helm_release(VALUES)) if "volumeClaimTemplate" in p.name]
    vols = {v.name: v.size for v in _helm_volumes(helm_release(VALUES))}
    assert vols == {"stack:prometheus.storageSpec.volumeClaimTemplate": 20 * Gi, "stack:persistence": 8 * Gi}
