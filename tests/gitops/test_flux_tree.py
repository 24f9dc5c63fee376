"""The Flux tree in kubernetes/clusters/homelab: it builds, it validates, it boots an empty cluster
in order, it keeps secrets out of Git, and every route is protected the way homelab.yaml says.

Everything runs the real `kubectl kustomize` and real JSON schemas; nothing here needs a cluster."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from homelab.config import load_config
from homelab.render.header import GENERATED

from conftest import ROOT
from fluxtree import TREE_REL, VAR_RE, k8s_version, load_all, middlewares_run, read_tree, routes, schema_errors, services_table

pytestmark = pytest.mark.skipif(__import__("shutil").which("kubectl") is None,
                                reason="kubectl is not installed; the tree is built with `kubectl kustomize`")

TREE = ROOT / TREE_REL
# Which Flux Kustomization installs the CRDs of each API group (Flux's own come with Flux).
CRD_PROVIDERS = {
    "traefik.io": "traefik",
    "cert-manager.io": "cert-manager",
    "metallb.io": "metallb",
    "k8s.bitwarden.com": "sm-operator",
    "monitoring.coreos.com": "kube-prometheus-stack",
    "longhorn.io": "longhorn",
}
FLUX_GROUPS = {"kustomize.toolkit.fluxcd.io", "source.toolkit.fluxcd.io", "helm.toolkit.fluxcd.io",
               "notification.toolkit.fluxcd.io"}


@pytest.fixture(scope="module")
def tree():
    return read_tree(ROOT)


@pytest.fixture(scope="module")
def cfg():
    return load_config(ROOT / "homelab.yaml")


def _yaml_files() -> list[Path]:
    return sorted(p for p in TREE.rglob("*.yaml"))


def _closure(tree, name: str) -> set[str]:
    seen, stack = set(), [name]
    while stack:
        for dep in tree.kustomizations[stack.pop()].depends_on:
            if dep not in seen:
                seen.add(dep)
                stack.append(dep)
    return seen


# --- builds and layout ----------------------------------------------------------------------------

def test_every_flux_kustomization_path_builds_and_has_its_own_kustomization_yaml(tree):
    assert len(tree.kustomizations) > 10
    for ks in tree.kustomizations.values():
        assert (ROOT / ks.path / "kustomization.yaml").is_file(), ks.path
        assert ks.objects, f"{ks.name}: {ks.path} builds to nothing"


def test_every_flux_kustomization_substitutes_from_cluster_settings(tree):
    for ks in tree.kustomizations.values():
        assert {"kind": "ConfigMap", "name": "cluster-settings"} in ks.spec.get("postBuild", {}).get("substituteFrom", []), ks.name
        assert ks.spec["sourceRef"] == {"kind": "GitRepository", "name": "flux-system"}, ks.name
        assert ks.spec["prune"] is True, ks.name


def test_component_kustomizations_sit_beside_their_app_folder(tree):
    for ks in tree.kustomizations.values():
        if ks.name == "flux-system":
            continue
        folder = ROOT / ks.path
        assert folder.name == "app" and (folder.parent / "ks.yaml").is_file(), ks.path


def test_sync_follows_homelab_yaml_repository_branch_interval_and_path(tree, cfg):
    sync = tree.kustomizations["flux-system"]
    assert sync.path == f"./{cfg.flux.path}" == f"./{TREE_REL}", "flux.path in homelab.yaml must be where the tree is"
    objs = {(o.kind, o.name): o.body for o in sync.applied}
    repo = objs[("GitRepository", "flux-system")]["spec"]
    assert (repo["url"], repo["ref"]["branch"], repo["interval"]) == (cfg.flux.repository, cfg.flux.branch, "10m")
    assert objs[("Kustomization", "flux-system")]["spec"]["interval"] == "10m"
    receiver = objs[("Receiver", "flux-system")]["spec"]
    assert receiver["resources"][0]["kind"] == "GitRepository" and receiver["secretRef"]["name"]


def test_every_yaml_file_is_one_kind_headed_by_its_schema_line():
    for path in _yaml_files():
        text = path.read_text()
        head = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("---")]
        schema_line = next((ln for ln in head if ln.startswith("# yaml-language-server: $schema=")), None)
        first_content = next(i for i, ln in enumerate(head) if not ln.startswith("#"))
        assert schema_line and head.index(schema_line) < first_content, f"{path}: no $schema line before the content"
        docs = load_all(text)
        assert len(docs) == 1, f"{path}: one kind per file, found {len(docs)} documents"
        kind = docs[0]["kind"].lower()
        url_name = schema_line.rsplit("/", 1)[1].lower()
        assert url_name.startswith(kind) or kind == "kustomization" and "kustomization" in url_name, \
            f"{path}: $schema {url_name} does not describe a {docs[0]['kind']}"


def test_no_yaml_file_is_left_out_of_every_build(tree):
    """A manifest no kustomization.yaml lists would silently never reach the cluster."""
    listed: set[Path] = set()

    def walk(folder: Path) -> None:
        kz = load_all((folder / "kustomization.yaml").read_text())[0]
        listed.add(folder / "kustomization.yaml")
        for res in kz.get("resources", []):
            target = (folder / res).resolve()
            walk(target) if target.is_dir() else listed.add(target)

    walk(TREE)
    for ks in tree.kustomizations.values():
        walk((ROOT / ks.path).resolve())
    assert sorted(set(_yaml_files()) - listed) == []


# --- schemas ----------------------------------------------------------------------------------

def test_every_object_validates_against_kubernetes_and_crd_schemas_after_substitution(tree):
    version = k8s_version()
    errors = [f"{ks.name}: {e}" for ks, obj in tree.substituted() for e in schema_errors(obj, version)]
    assert errors == []


def test_an_unknown_kind_or_a_misspelt_field_fails_validation():
    version = k8s_version()
    assert schema_errors({"apiVersion": "example.io/v1", "kind": "Gadget", "metadata": {"name": "x"}}, version)
    assert schema_errors({"apiVersion": "v1", "kind": "Gadget", "metadata": {"name": "x"}}, version)
    bad_mw = {"apiVersion": "traefik.io/v1alpha1", "kind": "Middleware", "metadata": {"name": "x"},
              "spec": {"ipAllowList": {"sourceRanges": ["10.0.0.0/8"]}}}
    assert schema_errors(bad_mw, version)
    bad_cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "date": {}}
    assert schema_errors(bad_cm, version)


def test_every_substitution_variable_is_defined_in_cluster_settings(tree):
    missing = {f"{ks.name}: {obj.kind}/{obj.name}: ${{{v}}}" for ks, obj, v in tree.unresolved()}
    assert sorted(missing) == []


def test_site_facts_are_substituted_never_written_literally(tree, cfg):
    facts = {cfg.site.domain, str(cfg.metallb.traefik_address), str(cfg.networks.management.cidr),
             str(cfg.networks.k3s.cidr), str(cfg.metallb.pool), str(cfg.pi.address)}
    for path in _yaml_files():
        text = path.read_text()
        if GENERATED in text:
            continue
        assert not [f for f in facts if f in text], f"{path}: a site fact from homelab.yaml written literally"


# --- secrets ----------------------------------------------------------------------------------

def test_no_secret_with_data_anywhere_in_git():
    for path in TREE.rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert not re.search(r"^kind:\s*Secret\s*$", text, re.M), f"{path}: a Secret in Git"
            assert "sops:" not in text and "ENC[" not in text, f"{path}: an encrypted secret blob"


def test_every_secret_is_a_bitwarden_secret_with_ids_from_homelab_yaml(tree, cfg):
    secrets = [obj for _ks, obj in tree.objects() if obj["kind"] == "BitwardenSecret"]
    assert secrets
    for bws in secrets:
        spec = bws["spec"]
        assert spec["organizationId"] == "${BW_ORGANIZATION_ID}"
        token = spec["authToken"]
        assert (token["secretName"], token["secretKey"]) == ("bw-auth-token", "token"), "the one bootstrap token"
        for entry in spec["map"]:
            assert re.fullmatch(r"\$\{BWS_[A-Z0-9_]+\}", entry["bwSecretId"]), entry
    used = {m for obj in secrets for m in VAR_RE.findall(str(obj)) if m.startswith("BWS_")}
    declared = {f"BWS_{k.upper()}" for k in cfg.bitwarden.secrets}
    assert used == declared, "homelab.yaml bitwarden.secrets and the BitwardenSecrets must name the same secrets"


def test_readme_names_every_namespace_that_needs_the_bootstrap_token(tree):
    namespaces = sorted({obj["metadata"]["namespace"] for _ks, obj in tree.objects() if obj["kind"] == "BitwardenSecret"})
    readme = (ROOT / "README.md").read_text()
    m = re.search(r"bootstrap token namespaces: (.+)", readme)
    assert m, "README must list the namespaces that get the Bitwarden machine-account token"
    assert sorted(n.strip(" `.") for n in m.group(1).split(",")) == namespaces


# --- HelmReleases -----------------------------------------------------------------------------

def _find_resources(values) -> list[dict]:
    found = []
    if isinstance(values, dict):
        for key, val in values.items():
            if key == "resources" and isinstance(val, dict) and {"requests", "limits"} <= set(val):
                found.append(val)
            else:
                found += _find_resources(val)
    elif isinstance(values, list):
        for item in values:
            found += _find_resources(item)
    return found


def test_every_helmrelease_pins_its_chart_sets_resources_and_remediates(tree):
    sources = {(o["kind"], o["metadata"]["name"]): o for _ks, o in tree.objects()
               if o["apiVersion"].startswith("source.toolkit.fluxcd.io/")}
    releases = [(ks, o) for ks, o in tree.objects() if o["kind"] == "HelmRelease"]
    assert len(releases) >= 12
    exact = re.compile(r"^v?\d+\.\d+\.\d+$")
    for _ks, hr in releases:
        name, spec = hr["metadata"]["name"], hr["spec"]
        if "chartRef" in spec:
            src = sources[(spec["chartRef"]["kind"], spec["chartRef"]["name"])]
            assert exact.match(src["spec"]["ref"].get("tag", "")), f"{name}: OCIRepository must pin an exact tag"
        else:
            chart = spec["chart"]["spec"]
            assert exact.match(str(chart["version"])), f"{name}: chart version {chart.get('version')} is not pinned"
            assert (chart["sourceRef"]["kind"], chart["sourceRef"]["name"]) in sources, f"{name}: unknown source"
        assert spec["install"]["remediation"]["retries"] > 0, name
        assert spec["upgrade"]["remediation"]["retries"] > 0, name
        res = _find_resources(spec.get("values", {}))
        assert res, f"{name}: no resources with requests and limits in values"
        assert all(r["requests"] and r["limits"] for r in res), name


def _values(tree, release: str) -> dict:
    return next(o for _k, o in tree.substituted() if o["kind"] == "HelmRelease" and o["metadata"]["name"] == release)["spec"]["values"]


@pytest.mark.parametrize(("release", "path", "expected"), [
    ("cert-manager", "crds.enabled", True),
    ("longhorn", "preUpgradeChecker.jobEnabled", False),
    ("longhorn", "persistence.defaultClassReplicaCount", 2),
    ("longhorn", "defaultSettings.defaultReplicaCount", '{"v1":"2","v2":"2"}'),
    ("longhorn", "defaultSettings.defaultDataPath", "/var/lib/longhorn"),
    ("metallb", "frrk8s.enabled", False),
    ("traefik", "service.annotations.metallb\\.io/loadBalancerIPs", "192.168.10.200"),
    ("traefik", "service.spec.externalTrafficPolicy", "Local"),
    ("traefik", "providers.kubernetesCRD.allowCrossNamespace", True),
    ("traefik", "ports.web.http.redirections.entryPoint.to", "websecure"),
    ("external-dns-pihole", "registry", "noop"),
    ("external-dns-pihole", "policy", "upsert-only"),
    ("external-dns-pihole", "extraArgs", ["--pihole-server=http://192.168.1.6", "--pihole-api-version=6"]),
    ("external-dns-pihole", "domainFilters", ["lan.example.com"]),
    ("external-dns-cloudflare", "registry", "txt"),
    ("external-dns-cloudflare", "txtOwnerId", "homelab"),
    ("external-dns-cloudflare", "excludeDomains", ["lan.example.com"]),
    ("kube-prometheus-stack", "kubeControllerManager.enabled", False),
    ("kube-prometheus-stack", "prometheus.prometheusSpec.serviceMonitorSelectorNilUsesHelmValues", False),
    ("loki", "deploymentMode", "Monolithic"),
    ("loki", "loki.compactor.retention_enabled", True),
    ("alloy", "controller.type", "daemonset"),
])
def test_component_values_follow_the_pinned_charts_documentation(tree, release, path, expected):
    """The values each pinned chart documents for this lab's design, as Flux hands them to Helm for the bundled homelab.yaml."""
    node = _values(tree, release)
    for key in re.split(r"(?<!\\)\.", path):
        node = node[key.replace("\\.", ".")]
    assert node == expected


def test_charts_that_ship_crds_create_and_replace_them(tree):
    for _ks, hr in tree.objects():
        if hr["kind"] == "HelmRelease" and hr["metadata"]["name"] in {"traefik", "kube-prometheus-stack"}:
            assert hr["spec"]["install"]["crds"] == hr["spec"]["upgrade"]["crds"] == "CreateReplace"


# --- boot order -------------------------------------------------------------------------------

def test_dependson_names_exist_and_have_no_cycle(tree):
    for ks in tree.kustomizations.values():
        for dep in ks.depends_on:
            assert dep in tree.kustomizations, f"{ks.name} depends on unknown {dep}"
        assert ks.name not in _closure(tree, ks.name), f"dependsOn cycle through {ks.name}"


def test_every_custom_resource_waits_for_the_kustomization_that_installs_its_crd(tree):
    """On an empty cluster, a resource whose CRD is not there yet fails the whole apply."""
    for ks, obj in tree.objects():
        group = obj["apiVersion"].rpartition("/")[0]
        if "." not in group or group in FLUX_GROUPS:
            continue
        provider = CRD_PROVIDERS.get(group)
        assert provider, f"{ks.name}: {obj['kind']} of {group}: which Kustomization installs its CRD?"
        assert provider == ks.name or provider in _closure(tree, ks.name), \
            f"{ks.name} applies {obj['kind']}/{obj['metadata']['name']} but does not depend on {provider}"
        if provider == ks.name:
            pytest.fail(f"{ks.name} installs {group} and uses it in the same apply")


def test_the_flux_system_sync_itself_applies_only_flux_and_core_kinds(tree):
    for obj in tree.kustomizations["flux-system"].objects:
        group = obj["apiVersion"].rpartition("/")[0]
        assert group == "" or group in FLUX_GROUPS, f"{obj['kind']} cannot be applied before its controller exists"


def test_the_flux_system_sync_objects_need_no_substitution(tree):
    """Bootstrap's Kustomization has no substituteFrom yet, so its first apply must be valid as written."""
    for obj in tree.kustomizations["flux-system"].objects:
        assert not VAR_RE.findall(str(obj)), f"{obj['kind']}/{obj['metadata']['name']} uses ${{...}} in the sync's own apply"


def test_kustomizations_others_depend_on_wait_for_health(tree):
    depended = {d for ks in tree.kustomizations.values() for d in ks.depends_on}
    for name in depended:
        spec = tree.kustomizations[name].spec
        assert spec.get("wait") is True or spec.get("healthChecks"), f"{name}: dependsOn on it would not wait for health"


def _enables(values, key: str) -> bool:
    if isinstance(values, dict):
        return any((k == key and isinstance(v, dict) and v.get("enabled") is True) or _enables(v, key)
                   for k, v in values.items())
    return isinstance(values, list) and any(_enables(v, key) for v in values)


def test_charts_that_render_monitors_wait_for_the_prometheus_operator_crds(tree):
    for ks, obj in tree.substituted():
        values = obj["spec"].get("values", {}) if obj["kind"] == "HelmRelease" else {}
        if obj["kind"] == "HelmRelease" and (_enables(values, "serviceMonitor") or _enables(values, "podMonitor")):
            assert ks.name == "kube-prometheus-stack" or "kube-prometheus-stack" in _closure(tree, ks.name), \
                f"{obj['metadata']['name']} renders a ServiceMonitor before its CRD exists"


def test_volumes_wait_for_longhorn(tree):
    for ks, obj in tree.substituted():
        if obj["kind"] == "HelmRelease" and "storageClass" in str(obj["spec"].get("values", {})):
            assert "longhorn" in _closure(tree, ks.name), f"{ks.name} puts volumes on Longhorn without waiting for it"


# --- routes -----------------------------------------------------------------------------------

def test_every_route_carries_the_middlewares_its_exposure_requires(tree, cfg):
    var_to_service = {"HOST_" + n.upper().replace("-", "_"): n for n in cfg.services}
    seen = set()
    for var, obj, route, _path in routes(tree):
        where = f"IngressRoute {obj['metadata']['namespace']}/{obj['metadata']['name']}"
        assert var in var_to_service, f"{where}: match {route['match']!r} must use ${{HOST_<SERVICE>}} of homelab.yaml"
        svc = cfg.services[var_to_service[var]]
        mws = route.get("middlewares", [])
        assert all(m.get("namespace") == "traefik" for m in mws), where
        # one chain named after the service's exposure variable, so homelab.yaml decides what it runs
        assert [m["name"] for m in mws] == [f"exposure-${{{var.replace('HOST_', 'EXPOSURE_', 1)}}}"], where
        assert obj["metadata"]["annotations"]["external-dns.alpha.kubernetes.io/target"] == \
            f"${{{var.replace('HOST_', 'DNS_TARGET_', 1)}}}", where
        names = middlewares_run(tree, route)
        assert names - {"security-headers"} == set(svc.access_middlewares()), f"{where}: {sorted(names)} for {svc.exposure.value}"
        assert obj["spec"]["entryPoints"] == ["websecure"], where
        seen.add(var_to_service[var])
    assert seen == set(cfg.services), f"services in homelab.yaml without a route: {sorted(set(cfg.services) - seen)}"


def test_shared_middlewares_live_in_traefik_with_the_conventional_names(tree):
    mws = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for _ks, o in tree.substituted() if o["kind"] == "Middleware"}
    profiles = {"lan": {"lan-allowlist", "authentik-forward-auth"}, "lan-nosso": {"lan-allowlist"},
                "sso": {"authentik-forward-auth"}, "public": set()}
    assert set(mws) == {("traefik", "lan-allowlist"), ("traefik", "authentik-forward-auth"), ("traefik", "security-headers"),
                        *(("traefik", f"exposure-{p}") for p in profiles)}
    for profile, protective in profiles.items():
        members = [m["name"] for m in mws[("traefik", f"exposure-{profile}")]["spec"]["chain"]["middlewares"]]
        assert set(members) == protective | {"security-headers"}, profile
    settings = tree.settings
    assert mws[("traefik", "lan-allowlist")]["spec"]["ipAllowList"]["sourceRange"] == [settings["MANAGEMENT_CIDR"], settings["K3S_CIDR"]]
    assert "outpost.goauthentik.io/auth/traefik" in mws[("traefik", "authentik-forward-auth")]["spec"]["forwardAuth"]["address"]


def test_the_wildcard_certificate_covers_both_zones_and_is_traefiks_default(tree):
    objs = list(tree.substituted())
    cert = next(o for _k, o in objs if o["kind"] == "Certificate")
    store = next(o for _k, o in objs if o["kind"] == "TLSStore")
    assert {f"*.{tree.settings['DOMAIN']}", f"*.{tree.settings['LAN_DOMAIN']}"} <= set(cert["spec"]["dnsNames"])
    assert (store["metadata"]["name"], store["metadata"]["namespace"]) == ("default", cert["metadata"]["namespace"])
    assert store["spec"]["defaultCertificate"]["secretName"] == cert["spec"]["secretName"]


def test_readme_lists_every_service_with_its_hostname_and_protection(tree):
    table = services_table(tree)
    assert table in (ROOT / "README.md").read_text(), f"README's service table is out of date; it should read:\n{table}"
