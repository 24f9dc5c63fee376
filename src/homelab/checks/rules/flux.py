"""flux/*: references resolve, paths exist, variables are defined, charts pinned, intervals set."""

from __future__ import annotations

import re

from homelab.checks.context import CheckContext
from homelab.checks.registry import finding, rule
from homelab.checks.rules._util import line_containing, where
from homelab.gitops.loader import BOOTSTRAP_SOURCE
from homelab.gitops.model import FLUX_KS, HELM_RELEASE, K8sObject, Ref
from homelab.gitops.substitute import references
from homelab.render.flux import undeclared_service

SEMVER = re.compile(r"^v?\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")
SOURCE_GROUP = "source.toolkit.fluxcd.io"


def _ks_location(ctx: CheckContext, ks, *keys):
    if ks.declared_by is None:
        return ks.path or ctx.tree.cluster_path, None
    return ks.file, ks.line_of(*keys)


@rule("flux/path-missing", "every Flux Kustomization's path exists in the repository")
def path_missing(ctx: CheckContext):
    for ks in ctx.tree.kustomizations.values():
        if ks.skipped:
            continue
        p = (ctx.root / ks.path).resolve()
        if ks.path.startswith("..") or not p.is_relative_to(ctx.root):
            file, line = _ks_location(ctx, ks, "spec", "path")
            yield finding("flux/path-missing", f"Kustomization {ks.key}: path '{ks.path}' leaves the repository",
                          file, line, f"paths are relative to the repository root, e.g. ./{ctx.tree.cluster_path}/apps/x")
        elif not p.is_dir():
            file, line = _ks_location(ctx, ks, "spec", "path")
            yield finding("flux/path-missing", f"Kustomization {ks.key}: path './{ks.path}' does not exist",
                          file, line, "paths are relative to the repository root, not to this file")


_INPUT_HINTS = {
    "flux/build": "fix the path: it is relative to the kustomization file's folder",
    "flux/remote-resource": "vendor the remote base into the repository (or check it where it lives); "
                            "offline checks never fetch",
    "flux/path-outside-repository": "move what it refers to into the repository, or refer to it from "
                                    "a GitRepository of its own",
}


@rule("flux/build", "every Flux Kustomization builds with kustomize",
      also={"flux/remote-resource": "no kustomization refers to a remote base (checks run offline)",
            "flux/path-outside-repository": "no kustomization reads outside the repository (Flux cannot)"})
def build(ctx: CheckContext):
    reported: set[tuple[str, str, int | None]] = set()
    for ks in ctx.tree.kustomizations.values():
        inside = (ctx.root / ks.path).resolve().is_relative_to(ctx.root)
        if ks.input_problems:  # refused before kustomize ran: each reference at its own line
            for p in ks.input_problems:
                if p.rule == "yaml/limits":
                    continue  # the yaml rule reports every file over a limit, built or not
                if (p.rule, p.file, p.line) not in reported:
                    reported.add((p.rule, p.file, p.line))
                    yield finding(p.rule, f"Kustomization {ks.key} not built: {p.message}",
                                  p.file, p.line, _INPUT_HINTS[p.rule])
        elif ks.build_error and inside and (ctx.root / ks.path).is_dir():  # else flux/path-missing says it
            file, line = _ks_location(ctx, ks, "spec", "path")
            yield finding("flux/build", f"kustomize build of ./{ks.path} fails: {ks.build_error}",
                          file, line, f"run `kubectl kustomize {ks.path}` to see it")
        elif ks.skipped and ks.skipped != "suspended":
            ctx.note(f"Kustomization {ks.key}: {ks.skipped}")


def _source_exists(ctx: CheckContext, ref: Ref) -> bool:
    if ref == BOOTSTRAP_SOURCE:
        return True  # created by `flux bootstrap`, whether or not it is kept in Git
    return ref in _sources(ctx)


def _sources(ctx: CheckContext) -> set[Ref]:
    if "_sources" not in ctx.__dict__:
        ctx.__dict__["_sources"] = {Ref(o.kind, o.name, o.namespace) for o in ctx.tree.sources()}
    return ctx.__dict__["_sources"]


@rule("flux/source-missing", "every sourceRef and chartRef names a source in the tree")
def source_missing(ctx: CheckContext):
    for ks in ctx.tree.kustomizations.values():
        if ks.declared_by is not None and not _source_exists(ctx, ks.source):
            yield finding("flux/source-missing", f"Kustomization {ks.key}: sourceRef {ks.source} is not defined anywhere in the tree",
                          ks.file, ks.line_of("spec", "sourceRef"), "add the source under sources/ or fix the name")
    for hr in ctx.tree.helm_releases():
        req = hr.chart
        if req is None:
            yield finding("flux/source-missing", f"{where(hr)} has neither chart.spec nor chartRef",
                          hr.file, hr.line_of("spec"), "add chart.spec {chart, version, sourceRef}")
            continue
        if not _source_exists(ctx, req.source):
            yield finding("flux/source-missing", f"{where(hr)}: {req.source} is not defined anywhere in the tree", hr.file,
                          hr.line_of(*req.keys),
                          "add the HelmRepository/OCIRepository under sources/ or fix name/namespace")


@rule("flux/dependson-missing", "every dependsOn names an existing Kustomization or HelmRelease")
def dependson_missing(ctx: CheckContext):
    tree = ctx.tree
    for ks in tree.kustomizations.values():
        for i, d in enumerate(ks.depends_on):
            if d.key not in tree.kustomizations:
                yield finding("flux/dependson-missing", f"Kustomization {ks.key} depends on {d.key}, which does not exist; it will wait forever",
                              ks.file, ks.line_of("spec", "dependsOn", i), "fix the name, or add that Kustomization")
    releases = {(h.namespace, h.name) for h in tree.helm_releases()}
    for hr in tree.helm_releases():
        for i, d in enumerate(hr.spec.get("dependsOn") or []):
            if isinstance(d, dict) and (str(d.get("namespace") or hr.namespace), str(d.get("name"))) not in releases:
                yield finding("flux/dependson-missing", f"{where(hr)} depends on HelmRelease {d.get('namespace') or hr.namespace}/{d.get('name')}, "
                              "which does not exist", hr.file, hr.line_of("spec", "dependsOn", i),
                              "fix the name/namespace of the dependency")


@rule("flux/dependson-cycle", "dependsOn forms no cycle")
def dependson_cycle(ctx: CheckContext):
    tree = ctx.tree
    for cyc in tree.cycles():
        first = tree.kustomizations[cyc[0]]
        nxt = cyc[1] if len(cyc) > 1 else cyc[0]
        idx = next((i for i, d in enumerate(first.depends_on) if d.key == nxt), 0)
        chain = " -> ".join(cyc + [cyc[0]])
        blocked = [k for k in tree.blocked() if k not in cyc]
        extra = f"; also blocked: {', '.join(blocked)}" if blocked else ""
        yield finding("flux/dependson-cycle", f"dependsOn cycle {chain}: none of these Kustomizations will ever reconcile{extra}",
                      first.file, first.line_of("spec", "dependsOn", idx), "remove one dependsOn edge of the cycle")


@rule("flux/substitution-undefined", "every ${VAR} in an applied object has a value or a default",
      also={"flux/substitute-from-missing": "every non-optional substituteFrom source exists in the tree"})
def substitution(ctx: CheckContext):
    tree = ctx.tree
    for ks in tree.kustomizations.values():
        for i, ref in enumerate(ks.substitute_from):
            if ref in ks.missing_substitute_from:
                yield finding("flux/substitute-from-missing", f"Kustomization {ks.key} substitutes from {ref.get('kind')} {ks.namespace}/{ref.get('name')}, "
                              "which is not in the tree; reconciliation fails until it exists",
                              ks.file, ks.line_of("spec", "postBuild", "substituteFrom", i),
                              "create it, or mark the reference `optional: true`")
    routes = {id(o) for o in tree.routes()}
    for obj in tree.objects:
        if not obj.unresolved:
            continue
        ks = tree.kustomizations.get(obj.kustomization)
        for var in obj.unresolved:
            if id(obj) in routes and undeclared_service(var, ctx.cfg.services):
                continue  # a route of a service homelab.yaml no longer declares: site/route-undeclared says so
            line = line_containing(ctx, obj.file, "${" + var, obj.line) or line_containing(ctx, obj.file, "$" + var, obj.line)
            if ks is not None and not ks.post_build:
                msg = (f"${{{var}}} in {where(obj)} stays literal: Kustomization {obj.kustomization} has no "
                       "postBuild substitution")
                hint = "add postBuild.substituteFrom: [{kind: ConfigMap, name: cluster-settings}] to its Kustomization"
            else:
                srcs = ", ".join(f"{r.get('kind')} {r.get('name')}" for r in (ks.substitute_from if ks else [])) or "none"
                msg = (f"${{{var}}} in {where(obj)} is not defined for Kustomization {obj.kustomization} "
                       f"(substituteFrom: {srcs}); Flux would replace it with an empty string")
                hint = (f"define {var} (homelab.yaml -> cluster-settings, or postBuild.substitute), give a default "
                        f"${{{var}:=value}}, or escape a literal dollar as $$")
                service = undeclared_service(var, ctx.cfg.services)
                if service:
                    hint = (f"{var} belongs to service {service}, which homelab.yaml does not declare: remove what uses "
                            f"it from the tree, or declare services.{service} again and run `homelab render`")
            yield finding("flux/substitution-undefined", msg, obj.file or None, line or obj.line, hint)


_YAML_SPECIAL = re.compile(r"[:#{}\[\],&*!|>'\"%@`]|^\s|\s$|^-")


def _breaking_variable(ctx: CheckContext, obj, variables: dict[str, str]) -> tuple[str | None, int | None]:
    """The first variable of the object whose value is not a plain YAML scalar, and its line."""
    text = ctx.text(obj.file) if obj.file else None
    lines = text.splitlines() if text else []
    first: tuple[str | None, int | None] = (None, None)
    for n in range(max(obj.line, 1), len(lines) + 1):
        if n > obj.line and lines[n - 1].startswith("---"):
            break
        for var in references(lines[n - 1]):
            if first == (None, None):
                first = (var, n)
            if var in variables and _YAML_SPECIAL.search(variables[var]):
                return var, n
    return first


@rule("flux/substitution-breaks-yaml", "every object is still valid YAML after postBuild substitution")
def substitution_breaks_yaml(ctx: CheckContext):
    for obj in ctx.tree.objects:
        if not obj.substitution_error:
            continue
        ks = ctx.tree.kustomizations.get(obj.kustomization)
        var, line = _breaking_variable(ctx, obj, ks.variables if ks else {})
        value = f" (its value {(ks.variables if ks else {}).get(var, '')!r})" if var else ""
        yield finding("flux/substitution-breaks-yaml",
                      f"{where(obj)} is no longer YAML once ${{{var or '...'}}}{value} is substituted: "
                      f"{obj.substitution_error}; kustomize-controller fails the whole Kustomization "
                      f"{obj.kustomization}", obj.file or None, line or obj.line,
                      "quote the variable where it is used (\"${VAR}\"), or change its value")


def _unpinned(version: object) -> str | None:
    if version is None or str(version).strip() == "":
        return "has no version (Flux then takes the newest, `*`)"
    v = str(version).strip()
    if not SEMVER.match(v):
        return f"version '{v}' is a range, not an exact version"
    return None


@rule("flux/chart-unpinned", "every chart and OCI artifact is pinned to an exact version")
def chart_unpinned(ctx: CheckContext):
    for hr in ctx.tree.helm_releases():
        req = hr.chart
        if req is not None and not req.by_chart_ref:
            why = _unpinned(hr.spec["chart"]["spec"].get("version"))
            if why:
                yield finding("flux/chart-unpinned", f"{where(hr)}: chart {hr.spec['chart']['spec'].get('chart')} {why}",
                              hr.file, hr.line_of("spec", "chart", "spec", "version"),
                              "pin an exact chart version, e.g. version: 41.3.0, and let Renovate bump it")
    for o in ctx.tree.objects:
        if o.group != SOURCE_GROUP:
            continue
        if o.kind == "HelmChart":
            why = _unpinned(o.spec.get("version"))
            if why:
                yield finding("flux/chart-unpinned", f"{where(o)}: {why}", o.file,
                              o.line_of("spec", "version"), "pin an exact chart version")
        elif o.kind == "OCIRepository":
            ref = o.spec.get("ref") or {}
            if ref.get("digest") or (ref.get("tag") and ref.get("tag") != "latest"):
                continue
            what = f"semver range '{ref['semver']}'" if ref.get("semver") else "tag 'latest'" if ref.get("tag") else "no ref"
            yield finding("flux/chart-unpinned", f"{where(o)} follows {what}", o.file,
                          o.line_of("spec", "ref"), "pin ref.tag to an exact version (or ref.digest)")


INTERVAL_KINDS = {(FLUX_KS[0], "Kustomization"), (HELM_RELEASE[0], "HelmRelease"), (SOURCE_GROUP, "GitRepository"),
                  (SOURCE_GROUP, "OCIRepository"), (SOURCE_GROUP, "HelmRepository"), (SOURCE_GROUP, "Bucket")}


@rule("flux/interval-missing", "every Flux object sets its reconcile interval")
def interval_missing(ctx: CheckContext):
    for o in ctx.tree.objects:
        if (o.group, o.kind) in INTERVAL_KINDS and not o.spec.get("interval"):
            if o.kind == "HelmRepository" and o.spec.get("type") == "oci":
                continue  # OCI HelmRepositories are not reconciled on an interval
            yield finding("flux/interval-missing", f"{where(o)} has no spec.interval", o.file,
                          o.line_of("spec"), "set spec.interval (e.g. 10m for Kustomizations, 30m for HelmReleases)")


@rule("flux/duplicate-object", "no object is applied by two Flux Kustomizations or HelmReleases")
def duplicate_object(ctx: CheckContext):
    first: dict[str, K8sObject] = {}

    def owner(o: K8sObject) -> str:
        return f"HelmRelease {o.release}" if o.release else f"Kustomization {o.kustomization}"

    for o in ctx.tree.objects:
        prev = first.get(o.id)
        if prev is None:
            first[o.id] = o
        elif owner(prev) != owner(o):
            yield finding("flux/duplicate-object", f"{where(o)} is applied by both {owner(prev)} and {owner(o)}; "
                          "they will overwrite and prune each other (Helm refuses to adopt an object another owner "
                          "manages)", o.file, o.line, "keep it in one Kustomization or release only (for two "
                          "releases of one chart: give them different names or fullnameOverride)")
    for obj, ks in ctx.tree.duplicate_kustomizations:
        yield finding("flux/duplicate-object", f"Kustomization {obj.namespace or 'flux-system'}/{obj.name} is declared twice (again by {ks.key})",
                      obj.file, obj.line, "rename one of them")
