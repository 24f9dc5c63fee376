"""helm/*: each HelmRelease against its chart, and what only the rendered objects show.

The chart of every HelmRelease is fetched (`homelab.charts.fetch`: the cache or
`HOMELAB_CHART_MIRROR`; a chart's own repository only with `--pull`), its values checked with
Helm's own schema validation and against the keys the chart declares, and its templates rendered
in-process (`homelab.charts.releases`). The rendered objects join the tree, so every other rule
checks them too; the rules here need them: a ReadWriteOnce volume under a RollingUpdate
Deployment, a ServiceAccount token mounted but never bound to any permission.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from homelab.charts import MIRROR_ENV
from homelab.charts.engine import ChartInfo
from homelab.charts.releases import Release
from homelab.charts.values import suggest
from homelab.checks.context import CheckContext
from homelab.checks.registry import finding, rule
from homelab.checks.rules._util import where
from homelab.checks.rules.flux import SEMVER
from homelab.findings import Finding, Severity
from homelab.gitops import K8sObject

POD_OWNERS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}


def _read(ctx: CheckContext) -> Iterator[tuple[Release, ChartInfo]]:
    """The releases whose chart was read, with the chart's facts."""
    for rel in ctx.charts.releases:
        if rel.info is not None:
            yield rel, rel.info


def _values_line(hr: K8sObject, path: tuple[str, ...]) -> int:
    return hr.line_of("spec", "values", *path)


def _dotted(path: tuple[str, ...]) -> str:
    return ".".join(path) or "(top level)"


@rule("helm/chart-unavailable", "every HelmRelease's chart can be had (cache, mirror, or --pull), so it is checked",
      severity=Severity.warning)
def chart_unavailable(ctx: CheckContext) -> Iterator[Finding]:
    charts = ctx.charts
    missing = [r for r in charts.releases if r.unavailable and r.spec is not None]
    for rel in missing:
        spec = rel.spec
        assert spec is not None
        if not SEMVER.match(spec.version):
            continue  # not an exact version: flux/chart-unpinned reports the pin itself
        pin = spec.pinned_by or rel.hr
        yield finding("helm/chart-unavailable",
                      f"{where(rel.hr)}: chart {spec} is not available ({rel.unavailable}); its values, rendered "
                      "objects and CRDs go unchecked", pin.file or None, pin.line_of(*spec.version_keys),
                      f"run `homelab charts pull` (or `homelab check --pull`) to cache it, or point {MIRROR_ENV} "
                      "at a mirror that has it")
    for rel in charts.releases:
        for note in rel.notes:
            ctx.note(f"HelmRelease {rel.key}: {note}")
    done = charts.rendered
    if charts.releases:
        ctx.note(f"charts: {len(done)} of {len(charts.releases)} HelmReleases rendered "
                 f"({charts.renders} rendered now, {max(len(done) - charts.renders, 0)} from the cache) "
                 f"at Kubernetes {ctx.kube_version}"
                 + (f"; not available: {', '.join(r.key for r in missing)}" if missing else ""))


@rule("helm/render-failed", "every chart renders with its release's values (Helm's own template engine)")
def render_failed(ctx: CheckContext) -> Iterator[Finding]:
    for rel in ctx.charts.releases:
        err = rel.render_error
        if err is None:
            continue
        at = f" ({err.template}{':' + str(err.line) if err.line else ''})" if err.template else ""
        yield finding("helm/render-failed",
                      f"{where(rel.hr)}: chart {rel.spec} does not render{at}: {err.message}",
                      rel.hr.file or None, rel.hr.line_of("spec", "values"),
                      "Helm refuses the release the same way: fix the values the template reads")


@rule("helm/values-schema", "every HelmRelease's values pass its chart's values.schema.json (as Helm validates them)")
def values_schema(ctx: CheckContext) -> Iterator[Finding]:
    for rel, info in _read(ctx):
        for err in rel.schema_errors:
            hint = "compare with the chart's values.schema.json and values.yaml"
            if "is not allowed here" in err.message and err.path:
                close = suggest(err.path[-1], err.path[:-1], info.declared, info.schemas)
                if close:
                    hint = f"did you mean '{close}'?"
            yield finding("helm/values-schema",
                          f"{where(rel.hr)}: values.{_dotted(err.path)}: {err.message} (chart {info.name} "
                          f"{info.version}); Helm refuses to install the release", rel.hr.file or None,
                          _values_line(rel.hr, err.path), hint)


@rule("helm/values-unknown-key", "every values key is one the chart declares or its schema admits",
      severity=Severity.warning)
def values_unknown_key(ctx: CheckContext) -> Iterator[Finding]:
    for rel, info in _read(ctx):
        for unknown in rel.unknown:
            hint = f"did you mean '{unknown.suggestion}'?" if unknown.suggestion else \
                "remove it, or look up the key in this chart version's values.yaml"
            yield finding("helm/values-unknown-key",
                          f"{where(rel.hr)}: values.{_dotted(unknown.path)} is not a value of chart {info.name} "
                          f"{info.version} (not in its values.yaml or values.schema.json): the chart ignores it",
                          rel.hr.file or None, _values_line(rel.hr, unknown.path), hint)


@rule("helm/values-list-replaced", "a value that replaces a chart's default list is pointed out (lists are not merged)",
      severity=Severity.info)
def values_list_replaced(ctx: CheckContext) -> Iterator[Finding]:
    for rel, _ in _read(ctx):
        for item in rel.replaced:
            yield finding("helm/values-list-replaced",
                          f"{where(rel.hr)}: values.{_dotted(item.path)} replaces the chart's default list of "
                          f"{item.default_items} item(s) as a whole (Helm never merges lists)", rel.hr.file or None,
                          _values_line(rel.hr, item.path),
                          "repeat the chart's default items you still want (see its values.yaml)")


def _pod_spec(o: K8sObject) -> tuple[dict[str, Any] | None, tuple[str, ...]]:
    if o.group == "" and o.kind == "Pod":
        return o.spec, ("spec",)
    if o.kind == "CronJob" and o.group == "batch":
        tmpl = ((o.spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}
        return tmpl.get("spec"), ("spec", "jobTemplate", "spec", "template", "spec")
    if o.kind in POD_OWNERS and o.group in ("apps", "batch"):
        return (o.spec.get("template") or {}).get("spec"), ("spec", "template", "spec")
    return None, ()


@rule("helm/rwo-rolling-update", "no Deployment mounts a ReadWriteOnce volume and updates with RollingUpdate",
      severity=Severity.warning)
def rwo_rolling_update(ctx: CheckContext) -> Iterator[Finding]:
    tree = ctx.tree
    claims = {(o.namespace, o.name): o for o in tree.by_kind("PersistentVolumeClaim", group="")}
    for o in tree.by_kind("Deployment", group="apps"):
        strategy = (o.spec.get("strategy") or {}).get("type") or "RollingUpdate"
        if strategy != "RollingUpdate":
            continue
        pod, _ = _pod_spec(o)
        for vol in (pod or {}).get("volumes") or []:
            claim = ((vol or {}).get("persistentVolumeClaim") or {}).get("claimName")
            pvc = claims.get((o.namespace, str(claim))) if claim else None
            modes = set((pvc.spec.get("accessModes") or []) if pvc else [])
            if not modes & {"ReadWriteOnce", "ReadWriteOncePod"}:
                continue
            yield finding("helm/rwo-rolling-update",
                          f"{where(o)} mounts ReadWriteOnce volume {claim} and updates with RollingUpdate: the new pod "
                          "starts before the old one stops, and on another node it cannot attach the volume, so "
                          "every upgrade hangs", o.file or None, o.line if o.release else o.line_of("spec", "strategy"),
                          "use `strategy: {type: Recreate}` (in a chart, its deployment strategy value, e.g. Grafana's "
                          "`deploymentStrategy`)")


def _bound(tree, namespace: str, account: str) -> bool:
    for b in tree.by_kind("RoleBinding", "ClusterRoleBinding", group="rbac.authorization.k8s.io"):
        for s in b.body.get("subjects") or []:
            if isinstance(s, dict) and s.get("kind") == "ServiceAccount" and s.get("name") == account \
                    and (s.get("namespace") or b.namespace) == namespace:
                return True
    return False


@rule("helm/sa-token-unused", "no pod mounts a ServiceAccount token that no RoleBinding gives anything to do",
      severity=Severity.warning)
def sa_token_unused(ctx: CheckContext) -> Iterator[Finding]:
    tree = ctx.tree
    accounts = {(o.namespace, o.name): o for o in tree.by_kind("ServiceAccount", group="")}
    for o in tree.objects:
        pod, keys = _pod_spec(o)
        if not isinstance(pod, dict):
            continue
        name = str(pod.get("serviceAccountName") or pod.get("serviceAccount") or "default")
        mount = pod.get("automountServiceAccountToken")
        sa = accounts.get((o.namespace, name))
        if mount is None and sa is not None:
            mount = sa.body.get("automountServiceAccountToken")
        if mount is False or _bound(tree, o.namespace, name):
            continue
        yield finding("helm/sa-token-unused",
                      f"{where(o)} mounts the token of ServiceAccount {o.namespace}/{name}, which no RoleBinding or "
                      "ClusterRoleBinding gives any permission: a token for an attacker, none for the app",
                      o.file or None, o.line if o.release else o.line_of(*keys),
                      "set `automountServiceAccountToken: false` on the pod (in a chart, its value for it, e.g. "
                      "app-template's `defaultPodOptions.automountServiceAccountToken`)")
