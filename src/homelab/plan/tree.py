"""Plan sections read from the Flux tree through `homelab.gitops` (the one Flux reader).

From the objects Flux would apply: DNS names and the external-dns instance that owns each, routes
and their middlewares, certificates and the names they cover, the reconcile order by dependsOn
levels, Longhorn volumes, and the resource budget per namespace. The same pass fills the drills'
`Workload` (pod requests, volumes, certificates, Longhorn settings).

Every HelmRelease whose chart can be had is rendered (`homelab.charts.releases`, the same renders
`homelab check` caches), so its Deployments, StatefulSets and DaemonSets count with the chart's
defaults, sidecars and replica counts; DaemonSets once per node. For a release that is not
rendered, requests inside its values are found by shape (any `resources: {requests|limits}`
mapping, with a sibling `replicas`/`replicaCount`), a lower bound the budget says it is. Longhorn
reserves CPU on every node for its instance managers (`guaranteedInstanceManagerCPU`, 12% of a
node unless the release sets it), which counts as a per-node request.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import homelab.plan.model as m
from homelab.config import HomelabConfig
from homelab.drills.answers import allocatable, unschedulable
from homelab.drills.workload import Certificate, PodGroup, RouteBackend, Volume, Workload
from homelab.errors import HomelabError
from homelab.findings import Finding, Severity
from homelab.gitops.model import FluxTree, K8sObject, Route
from homelab.paths import FluxPaths
from homelab.plan.quantity import bytes_, cpu_millis, duration_days
from homelab.registry import declare, finding

if TYPE_CHECKING:
    from homelab.charts.releases import Charts
    from homelab.gitops import Cache

LB_ANNOTATION = "metallb.io/loadBalancerIPs"
DAEMON_KEYS = {"daemonset", "prometheus-node-exporter", "nodeexporter"}

declare("plan/dns-owner-ambiguous", "each route's name is written by one external-dns instance", reported_by="plan",
        severity=Severity.warning)
declare("plan/dns-owner-missing", "some external-dns instance writes a record for each route's name", reported_by="plan",
        severity=Severity.warning)
declare("plan/budget-exceeds-nodes", "the tree's resource requests fit on the nodes with every node up", reported_by="plan")
declare("plan/storage-exceeds-disks", "Longhorn volumes with their replicas fit on the nodes' data disks", reported_by="plan")


def _loc(obj: K8sObject) -> dict[str, Any]:
    return {"file": obj.file, "line": obj.line}


# ------------------------------------------------------------------------------------ pods and volumes

def _container_requests(containers: list) -> tuple[int, int, int, int]:
    cpu = mem = lcpu = lmem = 0
    for c in containers or []:
        res = (c or {}).get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        cpu += cpu_millis(req.get("cpu"))
        mem += bytes_(req.get("memory"))
        lcpu += cpu_millis(lim.get("cpu"))
        lmem += bytes_(lim.get("memory"))
    return cpu, mem, lcpu, lmem


def _pod_requests(pod_spec: dict) -> tuple[int, int, int, int]:
    """What the scheduler reserves: the sum over containers (sidecars included), or the largest init
    container if that is more (init containers run one at a time, before the others)."""
    run = _container_requests(pod_spec.get("containers") or [])
    inits = [_container_requests([c]) for c in pod_spec.get("initContainers") or []]
    return tuple(max([run[i], *(x[i] for x in inits)]) for i in range(4))  # type: ignore[return-value]


OPERATOR_PODS = ("Prometheus", "Alertmanager")  # prometheus-operator runs these as StatefulSets
LONGHORN_GUARANTEED_CPU = 12  # percent of each node's CPU, Longhorn's default for instance managers


def _longhorn_reservation(charts: Charts | None, cfg: HomelabConfig) -> PodGroup | None:
    """Longhorn's guaranteed instance-manager CPU on every node, as a per-node request."""
    rel = next((r for r in charts.releases if r.info is not None and r.info.name == "longhorn"), None) if charts else None
    if rel is None or rel.info is None:
        return None
    pct = ((rel.values.get("defaultSettings") or {}).get("guaranteedInstanceManagerCPU")
           or ((rel.info.declared.get("defaultSettings") or {}).get("guaranteedInstanceManagerCPU")))
    if isinstance(pct, str) and pct.strip().startswith("{"):  # Longhorn 1.8+: per data engine, {"v1":"12","v2":"12"}
        try:
            pct = json.loads(pct).get("v1")
        except (ValueError, AttributeError):
            pct = None
    try:
        pct = float(pct) if pct not in (None, "") else LONGHORN_GUARANTEED_CPU
    except (TypeError, ValueError):
        pct = LONGHORN_GUARANTEED_CPU
    cores = min(n.cores for n in cfg.k3s.nodes) if cfg.k3s.nodes else 0
    return PodGroup(rel.namespace, f"instance-manager (guaranteedInstanceManagerCPU {pct:g}%)", replicas=1,
                    cpu_millis=int(cores * 1000 * pct / 100), per_node=True, file=rel.hr.file, line=rel.hr.line)


def _walk(node: Any, path: tuple[str, ...] = (),
          parents: tuple[dict, ...] = ()) -> Iterator[tuple[tuple[str, ...], dict, tuple[dict, ...]]]:
    if isinstance(node, dict):
        yield path, node, parents
        for k, v in node.items():
            yield from _walk(v, (*path, str(k)), (*parents, node))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk(v, (*path, str(i)), parents)


def _is_daemon(path: tuple[str, ...], node: dict, parents: tuple[dict, ...]) -> bool:
    if any(p.lower() in DAEMON_KEYS for p in path):
        return True
    # the chart's own switch beside the resources or up to two levels above, e.g. traefik `deployment.kind`
    # or alloy `controller.type`
    for p in (node, *reversed(parents[-2:])):
        for sub in (p, *(v for v in p.values() if isinstance(v, dict))):
            for key in ("kind", "type"):
                if str(sub.get(key, "")).lower() == "daemonset":
                    return True
    return False


def _helm_pods(hr: K8sObject) -> list[PodGroup]:
    out = []
    for path, node, parents in _walk(hr.spec.get("values") or {}):
        res = node.get("resources")
        if not isinstance(res, dict) or not ({"requests", "limits"} & set(res)):
            continue
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        if not isinstance(req, dict) or not isinstance(lim, dict) or "storage" in req or "storage" in lim:
            continue  # a PersistentVolumeClaim spec (e.g. a volumeClaimTemplate), not a container
        reps = node.get("replicas", node.get("replicaCount", 1))
        reps = reps if isinstance(reps, int) and not isinstance(reps, bool) else 1
        name = hr.name + (":" + ".".join(path) if path else "")
        out.append(PodGroup(hr.namespace, name, replicas=reps, cpu_millis=cpu_millis(req.get("cpu")),
                            memory=bytes_(req.get("memory")), cpu_limit_millis=cpu_millis(lim.get("cpu")),
                            memory_limit=bytes_(lim.get("memory")), per_node=_is_daemon(path, node, parents),
                            file=hr.file, line=hr.line))  # the document line: nested lines cost a YAML compose per file
    return out


def _helm_volumes(hr: K8sObject) -> list[Volume]:
    """Chart persistence values (`…persistence…: {size}`) and PVC specs inside values (`volumeClaimTemplate.spec`)."""
    out = []
    for path, node, _ in _walk(hr.spec.get("values") or {}):
        res = node.get("resources")
        req = res.get("requests") if isinstance(res, dict) else None
        if isinstance(req, dict) and "storage" in req and bytes_(req["storage"]):
            sc = node.get("storageClassName")
            if not sc or "longhorn" in str(sc):
                where = path[:-1] if path and path[-1] == "spec" else path
                out.append(Volume(hr.namespace, f"{hr.name}:{'.'.join(where)}", bytes_(req["storage"]), file=hr.file,
                                  line=hr.line))
            continue
        if "size" not in node or node.get("enabled") is False or not bytes_(node.get("size")):
            continue
        if not any(k in p.lower() for p in path for k in ("persistence", "storage", "volumeclaim", "pvc")):
            continue
        sc = node.get("storageClass", node.get("storageClassName"))
        if sc and "longhorn" not in str(sc):
            continue
        out.append(Volume(hr.namespace, f"{hr.name}:{'.'.join(path)}", bytes_(node["size"]), file=hr.file,
                          line=hr.line))
    return out


def _pvc_volume(spec: dict, namespace: str, name: str, obj: K8sObject, replicas_by_class: dict[str, int]) -> Volume | None:
    sc = spec.get("storageClassName")
    if sc is not None and "longhorn" not in str(sc):
        return None
    size = bytes_(((spec.get("resources") or {}).get("requests") or {}).get("storage"))
    return Volume(namespace, name, size, replicas=replicas_by_class.get(str(sc)) if sc else None, file=obj.file, line=obj.line)


def _budget_note(charts: Charts | None) -> str:
    done = len(charts.rendered) if charts is not None else 0
    if charts is None or not done:
        return ("requests set in manifests and HelmRelease values; chart defaults are not visible without rendering "
                "charts" + (" (no chart is in the cache: `homelab charts pull`)" if charts is not None and charts.releases
                            else ""))
    note = (f"requests from manifests and {done} of {len(charts.releases)} rendered HelmReleases (chart defaults, "
            "sidecars and replica counts included, DaemonSets once per node, Longhorn's guaranteed instance-manager CPU)")
    if done < len(charts.releases):
        note += "; releases not rendered count only the requests in their values (a lower bound)"
    return note


# --------------------------------------------------------------------------------------------- read

def load(root: Path, cfg: HomelabConfig, cache: Cache | None = None, *, pull: bool = False,
         offline: bool = False) -> tuple[FluxTree, Charts] | m.Unavailable:
    """The Flux tree as Git has it and its charts rendered, as `homelab check` reads them by default (so
    the command hands both to the check instead of reading them twice); an `Unavailable` saying why
    when the tree cannot be read. `cache` is a `homelab.gitops.Cache` (the command shares one with
    `homelab check`); the caller saves it. `pull`/`offline` are passed to `homelab.charts.fetch`."""
    from homelab.gitops import Cache, load_tree

    cluster = root / FluxPaths.of(cfg).cluster
    if not (cluster / "kustomization.yaml").is_file() and not any(cluster.glob("*/*.yaml")):
        return m.Unavailable(reason=f"{cfg.flux.path} holds no Flux tree yet")
    from homelab.charts.releases import kube_version, render_tree

    cache = cache or Cache(None)
    try:
        tree = load_tree(root, cfg, cache=cache)
    except HomelabError as exc:  # kubectl (kustomize) missing: the tree cannot be built here
        return m.Unavailable(reason="; ".join(p.message for p in exc.problems))
    return tree, render_tree(tree, kube_version=kube_version(cfg.k3s.version), cache=cache, download=pull,
                             offline=offline)


def read(root: Path, cfg: HomelabConfig, cache: Cache | None = None, *, pull: bool = False,
         offline: bool = False) -> tuple[m.Tree | m.Unavailable, Workload]:
    """The tree section and the drills' workload (see `load` and `section`)."""
    return section(load(root, cfg, cache, pull=pull, offline=offline), cfg)


def section(loaded: tuple[FluxTree, Charts] | m.Unavailable, cfg: HomelabConfig) -> tuple[m.Tree | m.Unavailable, Workload]:
    """The tree section and the drills' workload from what `load` read."""
    from homelab.charts.releases import with_rendered

    if isinstance(loaded, m.Unavailable):
        return loaded, Workload()
    tree, charts = loaded
    try:
        return sections(with_rendered(tree, charts), cfg, charts)
    except (AttributeError, TypeError, ValueError, KeyError) as exc:
        # An object of an unexpected shape (a list where a mapping belongs, ...): `homelab check`'s
        # schema rules name it with file and line; the plan says it could not read the tree.
        return m.Unavailable(reason=f"an object in the Flux tree has an unexpected shape ({type(exc).__name__}: "
                             f"{exc}); `homelab check` names it"), Workload()


def _longhorn(tree: FluxTree) -> tuple[dict[str, str], dict[str, int]]:
    """The Longhorn chart's defaultSettings, and the replica count of each Longhorn StorageClass."""
    settings: dict[str, str] = {}
    replicas_by_class: dict[str, int] = {}
    for hr in tree.helm_releases():
        if hr.chart is not None and hr.chart.name == "longhorn":
            values = hr.spec.get("values") or {}
            settings = {str(k): v if isinstance(v, str) else json.dumps(v, sort_keys=True)
                        for k, v in (values.get("defaultSettings") or {}).items()}
            rc = str((values.get("persistence") or {}).get("defaultClassReplicaCount", ""))
            if rc.isdigit():
                replicas_by_class["longhorn"] = int(rc)
    for sc in tree.by_kind("StorageClass"):
        if sc.body.get("provisioner") == "driver.longhorn.io":
            rc = str((sc.body.get("parameters") or {}).get("numberOfReplicas", ""))
            if rc.isdigit():
                replicas_by_class[sc.name] = int(rc)
    return settings, replicas_by_class


def _pods_and_volumes(tree: FluxTree, replicas_by_class: dict[str, int], cfg: HomelabConfig,
                      charts: Charts | None) -> tuple[list[PodGroup], list[Volume]]:
    rendered = {r.key for r in charts.rendered} if charts else set()
    pods: list[PodGroup] = []
    volumes: list[Volume] = []
    for hr in tree.helm_releases():
        if f"{hr.namespace}/{hr.name}" not in rendered:  # a rendered chart's objects are in the tree
            pods += _helm_pods(hr)
            volumes += _helm_volumes(hr)
    reserved = _longhorn_reservation(charts, cfg)
    if reserved is not None:
        pods.append(reserved)
    for obj in tree.by_kind("Deployment", "StatefulSet", "DaemonSet", group="apps"):
        tmpl = ((obj.spec.get("template") or {}).get("spec")) or {}
        cpu, mem, lcpu, lmem = _pod_requests(tmpl)
        reps = obj.spec.get("replicas", 1)
        pods.append(PodGroup(obj.namespace, obj.name, replicas=reps if isinstance(reps, int) else 1, cpu_millis=cpu,
                             memory=mem, cpu_limit_millis=lcpu, memory_limit=lmem, per_node=obj.kind == "DaemonSet",
                             file=obj.file, line=obj.line))
        for i, vct in enumerate(obj.spec.get("volumeClaimTemplates") or []):
            v = _pvc_volume((vct or {}).get("spec") or {}, obj.namespace, f"{obj.name}:{(vct.get('metadata') or {}).get('name', i)}",
                            obj, replicas_by_class)
            if v:
                volumes.append(v)
    # Pods an operator makes from a custom resource (Prometheus, Alertmanager): their requests and claims
    for obj in tree.by_kind(*OPERATOR_PODS, group="monitoring.coreos.com"):
        cpu, mem, lcpu, lmem = _container_requests([{"resources": obj.spec.get("resources") or {}},
                                                    *(obj.spec.get("containers") or [])])
        reps = obj.spec.get("replicas", 1)
        pods.append(PodGroup(obj.namespace, f"{obj.kind.lower()}-{obj.name}", replicas=reps if isinstance(reps, int) else 1,
                             cpu_millis=cpu, memory=mem, cpu_limit_millis=lcpu, memory_limit=lmem,
                             file=obj.file, line=obj.line))
        vct = ((obj.spec.get("storage") or {}).get("volumeClaimTemplate") or {}).get("spec")
        v = _pvc_volume(vct, obj.namespace, f"{obj.kind.lower()}-{obj.name}", obj, replicas_by_class) if vct else None
        if v:
            volumes.append(v)
    for pvc in tree.by_kind("PersistentVolumeClaim"):
        v = _pvc_volume(pvc.spec, pvc.namespace, pvc.name, pvc, replicas_by_class)
        if v:
            volumes.append(v)
    return pods, volumes


def loadbalancers(tree: FluxTree) -> list[m.LoadBalancer]:
    """LoadBalancer addresses asked of MetalLB: Services, and chart values that carry the annotation (whether
    they are inside the pool is `homelab check`'s exposure/lb-outside-pool; the plan lists them)."""
    rows = []
    in_values = {(f"{hr.namespace}/{hr.name}", str(node.get(LB_ANNOTATION)).strip())
                 for hr in tree.helm_releases() for _, node, _ in _walk(hr.spec.get("values") or {})
                 if isinstance(node.get(LB_ANNOTATION), str)}
    for svc in tree.by_kind("Service"):
        if svc.spec.get("type") == "LoadBalancer":   # a rendered chart's Service is listed under its release
            ips = str((svc.metadata.get("annotations") or {}).get(LB_ANNOTATION) or svc.spec.get("loadBalancerIP") or "")
            rows += [m.LoadBalancer(address=ip.strip(), owner=f"{svc.namespace}/{svc.name}", **_loc(svc))
                     for ip in ips.split(",") if ip.strip() and (svc.release, ips.strip()) not in in_values]
    for hr in tree.helm_releases():
        for _, node, _ in _walk(hr.spec.get("values") or {}):
            annotated = node.get(LB_ANNOTATION)
            if isinstance(annotated, str):
                rows += [m.LoadBalancer(address=ip.strip(), owner=f"{hr.namespace}/{hr.name}", **_loc(hr))
                         for ip in annotated.split(",") if ip.strip()]
    return rows


def certificates(tree: FluxTree) -> tuple[list[m.TreeCertificate], list[Certificate]]:
    rows, certs = [], []
    for c in tree.certificates():
        names = tuple(str(n) for n in c.spec.get("dnsNames") or [])
        dur = duration_days(c.spec.get("duration")) or 90.0
        rb = duration_days(c.spec.get("renewBefore"))
        pct = c.spec.get("renewBeforePercentage")
        if rb is None and isinstance(pct, int):
            rb = dur * pct / 100
        issuer = str((c.spec.get("issuerRef") or {}).get("name", ""))
        cert = Certificate(c.namespace, c.name, names, issuer=issuer, duration_days=dur, renew_before_days=rb,
                           file=c.file, line=c.line)
        certs.append(cert)
        rows.append(m.TreeCertificate(namespace=c.namespace, name=c.name, dns_names=list(names), issuer=issuer,
                                      secret=c.spec.get("secretName"), duration_days=dur,
                                      renew_at_days_left=cert.renew_at_days_left, **_loc(c)))
    return rows, certs


def routes(tree: FluxTree, certs: list[Certificate]) -> tuple[list[m.TreeRoute], list[RouteBackend]]:
    """Routes, their protection and the certificate that covers each host; and the Services behind each host."""
    rows: list[m.TreeRoute] = []
    backends: list[RouteBackend] = []
    for r in tree.routes():
        rules = Route.of(r)
        hosts = [h for rule in rules for h in rule.hosts]
        # what Traefik runs: an exposure chain counts as its members
        mws = [f"{ns}/{name}" for rule in rules for ns, name in tree.middlewares_run(rule.middlewares)]
        services = tuple(dict.fromkeys(rule.service[1] for rule in rules if rule.service))
        if r.kind == "IngressRoute":
            tls = (r.spec.get("tls") or {}).get("secretName")
        else:
            tls = next((t.get("secretName") for t in r.spec.get("tls") or [] if isinstance(t, dict)), None)
        for h in dict.fromkeys(hosts):
            covered = [f"{c.namespace}/{c.name}" for c in certs if c.covers(h)]
            rows.append(m.TreeRoute(host=h, route=f"{r.namespace}/{r.name}", kind=r.kind, middlewares=list(dict.fromkeys(mws)),
                                    tls_secret=tls, certificates=covered, **_loc(r)))
            backends.append(RouteBackend(h, r.namespace, services))
    return rows, backends


def external_dns(tree: FluxTree) -> list[m.ExternalDns]:
    out = []
    for hr in tree.helm_releases():
        if hr.chart is None or hr.chart.name != "external-dns":
            continue
        values = hr.spec.get("values") or {}
        prov = values.get("provider")
        prov = prov.get("name") if isinstance(prov, dict) else prov
        out.append(m.ExternalDns(name=f"{hr.namespace}/{hr.name}", provider=str(prov or ""),
                                 domain_filters=[str(d) for d in values.get("domainFilters") or []],
                                 exclude_domains=[str(d) for d in values.get("excludeDomains") or []], **_loc(hr)))
    return out


def _under(name: str, zone: str) -> bool:
    return name == zone or name.endswith("." + zone)


def dns(route_rows: list[m.TreeRoute], instances: list[m.ExternalDns]) -> tuple[list[m.DnsName], list[Finding]]:
    """The external-dns instances that write each route's name; a name with none, or several, is a finding."""
    rows, findings = [], []
    for row in route_rows:
        owners = [i for i in instances if (not i.domain_filters or any(_under(row.host, d) for d in i.domain_filters))
                  and not any(_under(row.host, d) for d in i.exclude_domains)]
        rows.append(m.DnsName(name=row.host, owners=[i.name for i in owners], route=row.route))
        if instances and len(owners) > 1:
            findings.append(finding("plan/dns-owner-ambiguous",
                                    f"{row.host} is claimed by {len(owners)} external-dns instances ({', '.join(i.name for i in owners)}): "
                                    "each writes it to its own provider", row.file, row.line,
                                    "give the broader instance excludeDomains for the narrower zone (e.g. the LAN domain)"))
        elif instances and not owners:
            findings.append(finding("plan/dns-owner-missing",
                                    f"no external-dns instance writes a record for {row.host}", row.file, row.line,
                                    "add its zone to an instance's domainFilters"))
    return rows, findings


def budget(pods: list[PodGroup], cfg: HomelabConfig, charts: Charts | None = None) -> tuple[m.Budget, list[Finding]]:
    """The resource budget per namespace against the nodes; pods that fit on no node are an error."""
    n_nodes = len(cfg.k3s.nodes)
    keys = ("cpu_requests_millis", "memory_requests_bytes", "cpu_limits_millis", "memory_limits_bytes", "pods")
    by_ns: dict[str, dict[str, Any]] = defaultdict(lambda: {**dict.fromkeys(keys, 0), "without_requests": []})
    for p in pods:
        count = n_nodes if p.per_node else p.replicas
        ns = by_ns[p.namespace]
        ns["cpu_requests_millis"] += p.cpu_millis * count
        ns["memory_requests_bytes"] += p.memory * count
        ns["cpu_limits_millis"] += p.cpu_limit_millis * count
        ns["memory_limits_bytes"] += p.memory_limit * count
        ns["pods"] += count
        if not p.memory and not p.cpu_millis:
            ns["without_requests"].append(p.name)
    namespaces = [m.NamespaceBudget(namespace=k, **v) for k, v in sorted(by_ns.items())]
    total = m.BudgetTotal(**{key: sum(getattr(n, key) for n in namespaces) for key in keys})
    alloc = m.Allocatable(cpu_millis=sum(n.cores for n in cfg.k3s.nodes) * 1000,
                          memory_bytes=sum(allocatable(n) for n in cfg.k3s.nodes))
    findings = []
    pending = unschedulable(Workload(pods=tuple(pods)), list(cfg.k3s.nodes))
    if pending:
        names = ", ".join(dict.fromkeys(f"{p.namespace}/{p.name}" for p in pending))
        findings.append(finding("plan/budget-exceeds-nodes",
                                f"{len(pending)} pod(s) stay Pending even with every node up ({names}): the tree requests "
                                f"{total.memory_requests_bytes / 2**30:.1f}GiB memory and {total.cpu_requests_millis / 1000:g} "
                                f"cores, the nodes offer {alloc.memory_bytes / 2**30:.1f}GiB and {alloc.cpu_millis / 1000:g}",
                                pending[0].file, pending[0].line, "give the K3s VMs more memory/cores or lower these requests"))
    return m.Budget(namespaces=namespaces, total=total, allocatable=alloc, note=_budget_note(charts)), findings


def volumes(volumes: list[Volume], replicas_by_class: dict[str, int], cfg: HomelabConfig) -> tuple[list[m.TreeVolume], list[Finding]]:
    """Storage: what the volumes take with their replicas, against the data disks."""
    default_r = replicas_by_class.get("longhorn", cfg.longhorn.replicas)
    rows = [m.TreeVolume(namespace=v.namespace, name=v.name, size_bytes=v.size, replicas=v.replicas or default_r,
                         file=v.file, line=v.line) for v in volumes]
    raw = sum(int(n.data_disk) for n in cfg.k3s.nodes)
    with_replicas = sum(v.size_bytes * v.replicas for v in rows)
    if with_replicas <= raw:
        return rows, []
    return rows, [finding("plan/storage-exceeds-disks",
                          f"Longhorn volumes need {with_replicas / 2**30:.0f}GiB with their replicas; the data disks hold "
                          f"{raw / 2**30:.0f}GiB", None, None, "grow k3s.nodes[].data_disk or shrink the volumes")]


def chart_section(charts: Charts | None) -> m.TreeCharts:
    rendered = {r.key for r in charts.rendered} if charts else set()
    return m.TreeCharts(rendered=sorted(rendered), not_rendered=[
        m.ChartNotRendered(release=r.key, reason=r.unavailable or "its values or templates fail (`homelab check` says why)")
        for r in (charts.releases if charts else []) if r.key not in rendered])


def sections(tree: FluxTree, cfg: HomelabConfig, charts: Charts | None = None) -> tuple[m.Tree, Workload]:
    """The plan's tree section and the drills' workload, one reading of the tree; `charts`: the releases
    rendered into `tree`, if any."""
    settings, replicas_by_class = _longhorn(tree)
    pods, vols = _pods_and_volumes(tree, replicas_by_class, cfg, charts)
    cert_rows, certs = certificates(tree)
    route_rows, backends = routes(tree, certs)
    instances = external_dns(tree)
    dns_rows, dns_findings = dns(route_rows, instances)
    budget_section, budget_findings = budget(pods, cfg, charts)
    vol_rows, vol_findings = volumes(vols, replicas_by_class, cfg)
    section = m.Tree(
        path=cfg.flux.path, kustomizations=len(tree.kustomizations), objects=len(tree.objects),
        build_errors=[m.BuildError(kustomization=ks.key, error=ks.build_error.splitlines()[0][:300])
                      for ks in tree.kustomizations.values() if ks.build_error],
        flux_levels=[[ks.name for ks in lvl] for lvl in tree.levels()], loadbalancers=loadbalancers(tree),
        dns=dns_rows, external_dns=instances, routes=route_rows, certificates=cert_rows,
        volumes=vol_rows, volume_bytes_with_replicas=sum(v.size_bytes * v.replicas for v in vol_rows),
        longhorn_settings=settings, budget=budget_section, charts=chart_section(charts),
        findings=[m.FindingRow.of(f) for f in dns_findings + budget_findings + vol_findings],
    )
    workload = Workload(pods=tuple(pods), volumes=tuple(vols), certificates=tuple(certs), routes=tuple(backends),
                        longhorn_settings=settings, source=cfg.flux.path)
    return section, workload
