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

from collections.abc import Callable, Iterable, Iterator

from homelab.checks.context import CheckContext
from homelab.checks.registry import finding, rule
from homelab.checks.rules._util import where
from homelab.gitops import FluxKustomization, FluxTree, K8sObject
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


_Failure = tuple[K8sObject, FluxKustomization, str, str]  # object, its Kustomization, what is missing, why


def simulate(
        tree: FluxTree, provides: Callable[[K8sObject], set[str]] = provided_groups,
        rendered: Callable[[K8sObject], list[K8sObject]] = lambda hr: [],
) -> Iterable[_Failure]:
    """Yield (object, its Kustomization, what is missing, why) for each object that fails first boot;
    `provides(hr)` is the API groups whose CRDs a HelmRelease installs, `rendered(hr)` the objects its
    chart renders (Helm applies them when the release installs: a custom resource among them needs
    its CRD from another release that is ready by then)."""
    boot = _ColdStart(tree, provides, rendered)
    for level in tree.levels(with_parents=True):
        for ks in level:
            if ks.built:
                yield from boot.start(ks)


def _is_helm_release(o: K8sObject) -> bool:
    return o.kind == "HelmRelease" and o.group == "helm.toolkit.fluxcd.io"


def _installers(tree: FluxTree, provides: Callable[[K8sObject], set[str]]) -> dict[str, tuple[str, str]]:
    """API group -> (Kustomization key, the HelmRelease or CRD object that installs it), anywhere in the tree."""
    where_group: dict[str, tuple[str, str]] = {}
    for ks in tree.kustomizations.values():
        for o in ks.objects:
            if _is_helm_release(o):
                for g in provides(o):
                    where_group.setdefault(g, (ks.key, f"HelmRelease {o.namespace}/{o.name}"))
            if o.kind == "CustomResourceDefinition":
                g = str(o.spec.get("group") or "")
                where_group.setdefault(g, (ks.key, f"CustomResourceDefinition {o.name}"))
    return where_group


class _ColdStart:
    """One simulation: what each Kustomization started so far leaves ready for those after it."""

    def __init__(self, tree: FluxTree, provides: Callable[[K8sObject], set[str]],
                 rendered: Callable[[K8sObject], list[K8sObject]]):
        self.tree, self.provides, self.rendered = tree, provides, rendered
        self.ready_groups: dict[str, set[str]] = {}      # what a Kustomization leaves ready for dependents
        self.ready_ns: dict[str, set[str]] = {}
        self.pending_groups: dict[str, dict[str, str]] = {}  # groups installed by a HelmRelease nobody waits for -> its Kustomization
        self.crd_object_groups: dict[str, set[str]] = {}     # groups of CustomResourceDefinition objects per Kustomization
        self.where_group = _installers(tree, provides)

    def closure(self, key: str, seen: set[str]) -> tuple[set[str], set[str], dict[str, str]]:
        """What is ready when `key` starts: everything its dependsOn targets left ready (transitively),
        plus the Namespaces and CRD objects of its parent chain (applied before it was declared)."""
        ks = self.tree.kustomizations[key]
        groups: set[str] = set()
        nss: set[str] = set()
        pend: dict[str, str] = {}
        for d in ks.depends_on:
            if d.key in seen or d.key not in self.tree.kustomizations:
                continue
            seen.add(d.key)
            g2, n2, p2 = self.closure(d.key, seen)
            groups |= g2 | self.ready_groups.get(d.key, set())
            nss |= n2 | self.ready_ns.get(d.key, set())
            pend.update(p2)
            pend.update(self.pending_groups.get(d.key, {}))
        parent = ks.parent
        while parent and parent in self.tree.kustomizations and parent not in seen:
            seen.add(parent)
            nss |= self.ready_ns.get(parent, set())
            groups |= self.crd_object_groups.get(parent, set())
            parent = self.tree.kustomizations[parent].parent
        return groups, nss, pend

    def start(self, ks: FluxKustomization) -> Iterator[_Failure]:
        """Yield what fails when `ks` starts, then record what it leaves ready."""
        own_ns = {o.name for o in ks.objects if o.kind == "Namespace" and o.group == ""}
        own_crd_groups = {str(o.spec.get("group") or "") for o in ks.objects if o.kind == "CustomResourceDefinition"}
        groups, nss, pend = self.closure(ks.key, {ks.key})
        have_groups = BUILTIN_GROUPS | groups | own_crd_groups
        have_ns = BUILTIN_NAMESPACES | nss | own_ns
        from_charts = [r for hr in ks.objects if _is_helm_release(hr)
                       for r in self.rendered(hr) if r.group not in self.provides(hr)]
        for o in [*ks.objects, *from_charts]:
            if o.group not in have_groups:
                yield o, ks, f"CRD {o.group}/{o.kind}", self._why_no_crd(ks, o, pend)
            ns = o.namespace if o.kind not in CLUSTER_SCOPED and not o.release else ""  # Helm: the release's
            if ns and ns not in have_ns:
                yield o, ks, f"Namespace {ns}", self._why_no_namespace(ks, ns)
        self._record(ks, own_ns, own_crd_groups)

    def _why_no_crd(self, ks: FluxKustomization, o: K8sObject, pend: dict[str, str]) -> str:
        if o.group in pend:
            return (f"Kustomization {pend[o.group]} installs it via a HelmRelease but has neither `wait: true` nor a "
                    f"health check on it, so {ks.key} starts before the CRD exists")
        if o.group not in self.where_group:
            return "nothing in the tree installs it"
        src_ks, src = self.where_group[o.group]
        if src_ks == ks.key and o.release:
            return f"{src} in the same Kustomization installs it, but the two releases install side by side"
        if src_ks == ks.key:
            return (f"{src} in the same Kustomization installs it, but Flux validates the whole "
                    "Kustomization before the chart is installed")
        chain = " -> ".join(self.tree.dependency_chain(ks.key))
        return f"it comes from {src} in Kustomization {src_ks}, which {ks.key} does not depend on (its chain: {chain})"

    def _why_no_namespace(self, ks: FluxKustomization, ns: str) -> str:
        maker = next((k.key for k in self.tree.kustomizations.values()
                      for x in k.objects if x.kind == "Namespace" and x.name == ns), None)
        return (f"Namespace {ns} is created by Kustomization {maker}, which {ks.key} does not depend on"
                if maker else f"no Namespace {ns} is created anywhere in the tree")

    def _record(self, ks: FluxKustomization, own_ns: set[str], own_crd_groups: set[str]) -> None:
        """What `ks` leaves ready: its Namespaces and CRD objects, and the CRDs of the HelmReleases its
        dependents wait for; those of the others are pending (installed, but nobody waits)."""
        self.ready_ns[ks.key] = own_ns
        self.crd_object_groups[ks.key] = own_crd_groups
        gated, loose = set(own_crd_groups), {}
        for o in ks.objects:
            if _is_helm_release(o):
                for g in self.provides(o):
                    if _gates(ks, o):
                        gated.add(g)
                    else:
                        loose[g] = ks.key
        self.ready_groups[ks.key] = gated
        self.pending_groups[ks.key] = loose


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
