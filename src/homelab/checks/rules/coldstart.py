"""flux/cold-start: would the tree reconcile on an empty cluster, first time, in dependsOn order?

Simulation: walk Flux Kustomizations in reconcile waves (`FluxTree.levels()`). When a Kustomization
starts, the only API kinds and namespaces it can rely on are those that exist from the start
(built-in Kubernetes kinds, K3s's and Flux's own CRDs, the default namespaces) plus what its
dependsOn targets (transitively) have made ready:
- CRDs: a CustomResourceDefinition object is applied and established before the rest of its
  Kustomization (kustomize-controller applies CRDs and Namespaces first); CRDs installed by a
  HelmRelease only exist once the chart is installed, which a dependent Kustomization waits for
  only if the providing Kustomization has `wait: true` or a health check on that HelmRelease.
- Namespaces: created by a Namespace object in the same Kustomization (applied first) or in one it
  depends on.
Every custom resource or namespaced object that needs something not yet there is reported, with
the chain that would fail.

Which charts install which CRDs: read from each chart (its `crds/`, its subcharts', and the CRDs
its templates render with the release's values, see `homelab.charts.releases`), plus any
CustomResourceDefinition kept in the tree. For a chart that is not available (a fresh clone has no
chart cached) the built-in table `CHART_CRDS` stands in, and the report says so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from homelab.checks.context import CheckContext
from homelab.checks.registry import finding, rule
from homelab.checks.rules._util import where
from homelab.gitops import FluxKustomization, K8sObject
from homelab.gitops.model import CLUSTER_SCOPED

# API groups served before anything is applied: Kubernetes itself, K3s's bundled CRDs, and
# Flux's CRDs (installed by `flux bootstrap` with the controllers).
BUILTIN_GROUPS = {
    "", "apps", "batch", "autoscaling", "policy", "networking.k8s.io", "rbac.authorization.k8s.io",
    "storage.k8s.io", "scheduling.k8s.io", "coordination.k8s.io", "node.k8s.io", "discovery.k8s.io",
    "apiextensions.k8s.io", "admissionregistration.k8s.io", "certificates.k8s.io", "apiregistration.k8s.io",
    "events.k8s.io", "flowcontrol.apiserver.k8s.io", "resource.k8s.io",
    "helm.cattle.io", "k3s.cattle.io",
    "source.toolkit.fluxcd.io", "kustomize.toolkit.fluxcd.io", "helm.toolkit.fluxcd.io",
    "notification.toolkit.fluxcd.io", "image.toolkit.fluxcd.io", "source.extensions.fluxcd.io",
}
BUILTIN_NAMESPACES = {"default", "kube-system", "kube-public", "kube-node-lease", "flux-system"}

# chart name -> API groups whose CRDs the chart installs, for charts that are not available (the
# pinned versions' crds/ and templates)
CHART_CRDS: dict[str, set[str]] = {
    "traefik": {"traefik.io", "hub.traefik.io"},
    "traefik-crds": {"traefik.io", "hub.traefik.io", "gateway.networking.k8s.io"},
    "cert-manager": {"cert-manager.io", "acme.cert-manager.io"},
    "metallb": {"metallb.io", "frrk8s.metallb.io"},
    "longhorn": {"longhorn.io"},
    "external-dns": {"externaldns.k8s.io"},
    "sm-operator": {"k8s.bitwarden.com"},
    "kube-prometheus-stack": {"monitoring.coreos.com"},
    "prometheus-operator-crds": {"monitoring.coreos.com"},
    "alloy": {"monitoring.grafana.com"},
    "alloy-operator": {"collectors.grafana.com"},
}

def provided_groups(hr: K8sObject) -> set[str]:
    chart = hr.chart.name if hr.chart else ""
    return set(CHART_CRDS.get(chart.rsplit("/", 1)[-1], set()))


def _gates(ks: FluxKustomization, hr: K8sObject) -> bool:
    """Will dependents of `ks` wait until this HelmRelease is installed?"""
    if ks.wait:
        return True
    for hc in ks.health_checks:
        if isinstance(hc, dict) and hc.get("kind") == "HelmRelease" and hc.get("name") == hr.name and \
                (hc.get("namespace") or ks.namespace) == hr.namespace:
            return True
    return False


def _is_namespaced(o: K8sObject) -> bool:
    return o.kind not in CLUSTER_SCOPED and bool(o.namespace or o.kind not in CLUSTER_SCOPED)


def simulate(  # noqa: C901
        tree, provides: Callable[[K8sObject], set[str]] = provided_groups,
        rendered: Callable[[K8sObject], list[K8sObject]] = lambda hr: [],
) -> Iterable[tuple[K8sObject, FluxKustomization, str, str]]:
    """Yield (object, its Kustomization, what is missing, why) for each object that fails first boot;
    `provides(hr)` is the API groups whose CRDs a HelmRelease installs, `rendered(hr)` the objects its
    chart renders (Helm applies them when the release installs: a custom resource among them needs
    its CRD from another release that is ready by then)."""
    ready_groups: dict[str, set[str]] = {}      # what a Kustomization leaves ready for dependents
    ready_ns: dict[str, set[str]] = {}
    pending_groups: dict[str, dict[str, str]] = {}  # installed-but-not-awaited groups -> HelmRelease
    crd_object_groups: dict[str, set[str]] = {}     # groups of CustomResourceDefinition objects per Kustomization
    where_group: dict[str, tuple[str, str]] = {}    # group -> (ks key, HelmRelease) anywhere in the tree
    for ks in tree.kustomizations.values():
        for o in ks.objects:
            if o.kind == "HelmRelease" and o.group == "helm.toolkit.fluxcd.io":
                for g in provides(o):
                    where_group.setdefault(g, (ks.key, f"HelmRelease {o.namespace}/{o.name}"))
            if o.kind == "CustomResourceDefinition":
                g = str(o.spec.get("group") or "")
                where_group.setdefault(g, (ks.key, f"CustomResourceDefinition {o.name}"))

    def closure(key: str, seen: set[str]) -> tuple[set[str], set[str], dict[str, str]]:
        """What is ready when `key` starts: everything its dependsOn targets left ready (transitively),
        plus the Namespaces and CRD objects of its parent chain (applied before it was declared)."""
        ks = tree.kustomizations[key]
        groups, nss, pend = set(), set(), {}
        for d in ks.depends_on:
            if d.key in seen or d.key not in tree.kustomizations:
                continue
            seen.add(d.key)
            g2, n2, p2 = closure(d.key, seen)
            groups |= g2 | ready_groups.get(d.key, set())
            nss |= n2 | ready_ns.get(d.key, set())
            pend.update(p2)
            pend.update(pending_groups.get(d.key, {}))
        parent = ks.parent
        while parent and parent in tree.kustomizations and parent not in seen:
            seen.add(parent)
            nss |= ready_ns.get(parent, set())
            groups |= crd_object_groups.get(parent, set())
            parent = tree.kustomizations[parent].parent
        return groups, nss, pend

    for level in tree.levels(with_parents=True):
        for ks in level:
            if not ks.built:
                continue
            own_ns = {o.name for o in ks.objects if o.kind == "Namespace" and o.group == ""}
            own_crd_groups = {str(o.spec.get("group") or "") for o in ks.objects if o.kind == "CustomResourceDefinition"}
            groups, nss, pend = closure(ks.key, {ks.key})
            have_groups = BUILTIN_GROUPS | groups | own_crd_groups
            have_ns = BUILTIN_NAMESPACES | nss | own_ns
            from_charts = [r for hr in ks.objects if hr.kind == "HelmRelease" and hr.group == "helm.toolkit.fluxcd.io"
                           for r in rendered(hr) if r.group not in provides(hr)]
            for o in [*ks.objects, *from_charts]:
                if o.group not in have_groups:
                    if o.group in pend:
                        yield o, ks, f"CRD {o.group}/{o.kind}", (
                            f"Kustomization {pend[o.group]} installs it via a HelmRelease but has neither `wait: true` nor a "
                            f"health check on it, so {ks.key} starts before the CRD exists")
                    elif o.group in where_group:
                        src_ks, src = where_group[o.group]
                        if src_ks == ks.key and o.release:
                            why = (f"{src} in the same Kustomization installs it, but the two releases install side "
                                   "by side")
                        elif src_ks == ks.key:
                            why = (f"{src} in the same Kustomization installs it, but Flux validates the whole "
                                   "Kustomization before the chart is installed")
                        else:
                            chain = " -> ".join(tree.dependency_chain(ks.key))
                            why = (f"it comes from {src} in Kustomization {src_ks}, which {ks.key} does not depend on "
                                   f"(its chain: {chain})")
                        yield o, ks, f"CRD {o.group}/{o.kind}", why
                    else:
                        yield o, ks, f"CRD {o.group}/{o.kind}", "nothing in the tree installs it"
                ns = o.namespace if o.kind not in CLUSTER_SCOPED and not o.release else ""  # Helm: the release's
                if ns and ns not in have_ns:
                    maker = next((k.key for k in tree.kustomizations.values()
                                  for x in k.objects if x.kind == "Namespace" and x.name == ns), None)
                    why = (f"Namespace {ns} is created by Kustomization {maker}, which {ks.key} does not depend on"
                           if maker else f"no Namespace {ns} is created anywhere in the tree")
                    yield o, ks, f"Namespace {ns}", why
            ready_ns[ks.key] = own_ns
            crd_object_groups[ks.key] = own_crd_groups
            gated, loose = set(own_crd_groups), {}
            for o in ks.objects:
                if o.kind == "HelmRelease" and o.group == "helm.toolkit.fluxcd.io":
                    for g in provides(o):
                        if _gates(ks, o):
                            gated.add(g)
                        else:
                            loose[g] = ks.key
            ready_groups[ks.key] = gated
            pending_groups[ks.key] = loose


@rule("flux/cold-start", "on an empty cluster, every object's CRD and Namespace exist before it is applied")
def cold_start(ctx: CheckContext):
    tree = ctx.flux_tree
    from_charts = {r.key: {c.group for c in r.crds} for r in ctx.charts.releases if r.info is not None}
    fallback = sorted(r.key for r in ctx.charts.releases if r.info is None)
    if fallback:
        ctx.note("flux/cold-start: CRDs of " + ", ".join(fallback) + " from the built-in table (chart not available)")

    def provides(hr: K8sObject) -> set[str]:
        key = f"{hr.namespace}/{hr.name}"
        return from_charts[key] if key in from_charts else provided_groups(hr)

    objects = {r.key: r.objects for r in ctx.charts.releases}

    def rendered(hr: K8sObject) -> list[K8sObject]:
        return objects.get(f"{hr.namespace}/{hr.name}", [])

    for o, ks, missing, why in simulate(tree, provides, rendered):
        yield finding("flux/cold-start", f"first reconcile fails: {where(o)} (Kustomization {ks.key}) needs {missing}; {why}",
                      o.file or ks.file or None, o.line,
                      "add the providing Kustomization to this one's dependsOn, and give the provider `wait: true`")
