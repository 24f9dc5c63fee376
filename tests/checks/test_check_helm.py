"""helm/*: every HelmRelease's chart rendered with the real Helm engine (helm_python) from the chart
mirror beside the repository, its values checked against the chart, its objects through every rule.

The bundled tree's tests work on a copy of the repository's Flux tree and homelab.yaml, so the
real charts, values and templates are the ones checked."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import pytest

from check_helpers import check, make_repo
from conftest import CHART_MIRROR, ROOT, copy_repo

K = "kubernetes/clusters/homelab"
needs_mirror = pytest.mark.skipif(not CHART_MIRROR.is_dir(),
                                  reason=f"the chart mirror {CHART_MIRROR} is absent (CI lays shared/charts beside the clone)")
AUTHENTIK_SKIP = "authentik 2026.8.0 is not in the chart mirror (its postgresql 18 dependency has no source)"


def _bundled(dest: Path) -> Path:
    """A copy of this repository's homelab.yaml, glue, Flux tree and vendored CRD schemas."""
    return copy_repo(dest, "kubernetes", "schema")


def _line(path: Path, pattern: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if re.search(pattern, line))


@pytest.fixture(scope="module")
def bundled_report(tmp_path_factory):
    if not CHART_MIRROR.is_dir():
        pytest.skip(f"the chart mirror {CHART_MIRROR} is absent")
    repo = _bundled(tmp_path_factory.mktemp("bundled") / "repo")
    return check(repo, schemas=repo / "schema" / "crds")


@needs_mirror
def test_the_bundled_tree_with_the_mirror_is_clean_but_for_the_chart_the_mirror_lacks(bundled_report):
    failing = [f for f in bundled_report.findings if f.severity.value != "info"]
    assert [(f.rule, f.file) for f in failing] == [
        ("helm/chart-unavailable", f"{K}/infrastructure/controllers/authentik/app/helmrelease.yaml")], \
        [f"{f.rule} {f.location} {f.message}" for f in failing]
    assert "authentik 2026.8.0" in failing[0].message and "homelab charts pull" in failing[0].hint
    assert any("12 of 13 HelmReleases rendered" in n for n in bundled_report.notes), bundled_report.notes
    # rendered objects joined the tree: ~360 objects against ~90 kept in Git
    assert bundled_report.stats["objects"] > 300


@needs_mirror
def test_kube_prometheus_stacks_kubelet_relabelings_replace_the_default_list(bundled_report):
    hr = f"{K}/infrastructure/controllers/kube-prometheus-stack/app/helmrelease.yaml"
    info = [f for f in bundled_report.findings if f.rule == "helm/values-list-replaced" and f.file == hr]
    assert [f.line for f in info] == [_line(ROOT / hr, r"^\s+metricRelabelings:")]
    assert info[0].severity.value == "info"


@needs_mirror
def test_a_misspelled_values_key_in_any_release_is_reported_at_its_line_with_a_suggestion(tmp_path):
    repo = _bundled(tmp_path / "repo")
    expected = {}
    for hr in sorted((repo / K).rglob("helmrelease*.yaml")):
        text = hr.read_text()
        m = re.search(r"^  values:\n(?:\s*#.*\n)*    ([A-Za-z][\w.-]*):", text, re.M)
        assert m, hr
        key = m.group(1)
        typo = key + key[-1]
        hr.write_text(text[:m.start(1)] + typo + text[m.end(1):])
        expected[hr.relative_to(repo).as_posix()] = (key, _line(hr, rf"^    {re.escape(typo)}:"))
    report = check(repo, schemas=repo / "schema" / "crds", select=["helm"])
    for file, (key, line) in expected.items():
        if "/authentik/" in file:
            assert any(f.rule == "helm/chart-unavailable" and f.file == file for f in report.findings), AUTHENTIK_SKIP
            continue
        hits = [f for f in report.findings if f.file == file and f.line == line
                and f.rule in ("helm/values-unknown-key", "helm/values-schema")]
        assert hits, (file, key, [f"{f.rule} {f.location} {f.message}" for f in report.findings if f.file == file])
        assert f"did you mean '{key}'?" in hits[0].hint, hits[0]


@needs_mirror
def test_reverted_fixes_are_found_at_the_helmrelease_with_the_template(tmp_path):
    repo = _bundled(tmp_path / "repo")
    traefik = repo / K / "infrastructure/controllers/traefik/app/helmrelease.yaml"
    traefik.write_text(re.sub(r"    accessLog:.*\n      enabled: true\n", "    logs:\n      access:\n        enabled: true\n",
                              traefik.read_text()))
    grafana = repo / K / "infrastructure/controllers/grafana/app/helmrelease.yaml"
    grafana.write_text(grafana.read_text().replace("    deploymentStrategy:\n      type: Recreate\n", ""))
    homepage = repo / K / "apps/homepage/app/helmrelease.yaml"
    homepage.write_text(re.sub(r"      automountServiceAccountToken: false.*\n", "", homepage.read_text()))
    report = check(repo, schemas=repo / "schema" / "crds", select=["helm"])
    got = {(f.rule, f.file, f.line): f for f in report.findings}

    logs = got[("helm/values-schema", traefik.relative_to(repo).as_posix(), _line(traefik, r"^    logs:"))]
    assert "'logs' is not allowed" in logs.message and "Helm refuses" in logs.message
    rolling = got[("helm/rwo-rolling-update", grafana.relative_to(repo).as_posix(), _line(grafana, r"^kind: HelmRelease") - 1)]
    assert "rendered by HelmRelease monitoring/grafana from grafana/templates/deployment.yaml" in rolling.message
    token = got[("helm/sa-token-unused", homepage.relative_to(repo).as_posix(), _line(homepage, r"^kind: HelmRelease") - 1)]
    assert "app-template/templates/common.yaml" in token.message and "homepage/default" in token.message


@needs_mirror
def test_rendered_objects_are_validated_against_the_kubernetes_schema(tmp_path):
    repo = make_repo(tmp_path / "repo")
    hr = repo / K / "infrastructure/controllers/traefik/app/helmrelease.yaml"
    hr.write_text(hr.read_text().replace("      annotations:\n", "      spec:\n        externalTrafficPolicyy: Local\n"
                                         "      annotations:\n"))
    found = [f for f in check(repo).findings if f.rule == "schema/invalid"]
    assert len(found) == 1 and found[0].file == hr.relative_to(repo).as_posix(), found
    assert "Service traefik/traefik (rendered by HelmRelease traefik/traefik from traefik/templates/service.yaml)" \
        in found[0].message and "externalTrafficPolicyy" in found[0].message


@needs_mirror
def test_cold_start_learns_which_release_installs_which_crd_from_the_charts(tmp_path, monkeypatch):
    from homelab.checks.rules import coldstart

    monkeypatch.setattr(coldstart, "CHART_CRDS", {})  # the fallback table is not consulted
    repo = make_repo(tmp_path / "repo")
    report = check(repo, select=["flux/cold-start"])
    assert report.findings == [] and not any("built-in table" in n for n in report.notes)


def test_a_fresh_clone_without_charts_has_no_false_errors_and_says_which_fallbacks_it_used(tmp_path, monkeypatch):
    monkeypatch.setenv("HOMELAB_CHART_MIRROR", str(tmp_path / "empty-mirror"))
    monkeypatch.setenv("HOMELAB_CACHE_DIR", str(tmp_path / "empty-cache"))  # a fresh clone's: no chart cached
    (tmp_path / "empty-mirror").mkdir()
    repo = make_repo(tmp_path / "repo")
    report = check(repo, schemas=None)  # the vendored schema/crds is absent in this scratch repo too
    assert {f.rule for f in report.findings} == {"helm/chart-unavailable", "schema/crd-schemas-missing"}, \
        [f"{f.rule} {f.location} {f.message}" for f in report.findings]
    assert all(f.severity.value == "warning" for f in report.findings)
    assert any("from the built-in table (chart not available)" in n for n in report.notes), report.notes


def test_without_charts_the_vendored_crd_schemas_are_the_fallback_and_the_report_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("HOMELAB_CHART_MIRROR", str(tmp_path / "empty-mirror"))
    monkeypatch.setenv("HOMELAB_CACHE_DIR", str(tmp_path / "empty-cache"))  # a fresh clone's: no chart cached
    (tmp_path / "empty-mirror").mkdir()
    repo = make_repo(tmp_path / "repo")
    shutil.copytree(ROOT / "schema" / "crds", repo / "schema" / "crds")
    report = check(repo, schemas=None, select=["schema"])
    assert report.findings == []
    note = next(n for n in report.notes if n.startswith("schema/*:"))
    assert "traefik.io" in note and "vendored schema/crds" in note


def test_release_name_and_namespace_follow_helm_controller():
    from homelab.charts.releases import release_name, release_namespace
    from homelab.gitops import K8sObject

    def hr(spec: dict, name: str = "grafana") -> K8sObject:
        return K8sObject({"kind": "HelmRelease", "metadata": {"name": name, "namespace": "flux-system"}, "spec": spec},
                         "x.yaml", 1, 0, "flux-system/x")

    assert (release_name(hr({})), release_namespace(hr({}))) == ("grafana", "flux-system")
    assert (release_name(hr({"targetNamespace": "monitoring"})), release_namespace(hr({"targetNamespace": "monitoring"}))) \
        == ("monitoring-grafana", "monitoring")
    assert release_name(hr({"releaseName": "g", "targetNamespace": "monitoring"})) == "g"
    long = release_name(hr({"targetNamespace": "a-rather-long-namespace-name"}, name="and-an-even-longer-release-name"))
    assert len(long) == 53 and long.startswith("a-rather-long-namespace-name-and-an-even") and long[40] == "-"


def test_templates_split_like_helm_keeping_comment_separators():
    from homelab.charts.releases import split
    from homelab.yamlio import load_manifests

    text = "a: 1\n---# Source: rbac.yaml\nb: 2\n---\n# only a comment\n--- \nc: 3\n"
    assert [d for part in split(text) for d in load_manifests(part) if d] == [{"a": 1}, {"b": 2}, {"c": 3}]
    # YAML 1.1's `=` (the value tag, in Prometheus' CRDs) is a plain string
    assert load_manifests("enum:\n- =\n- '!='\n") == [{"enum": ["=", "!="]}]


@needs_mirror
def test_cert_managers_rbac_template_keeps_every_object():
    from homelab.charts import engine
    from homelab.charts.releases import _parse

    path = CHART_MIRROR / "quay.io/jetstack/charts/cert-manager-v1.21.1.tgz"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    info = engine.inspect(path, digest)
    out = engine.render(engine.load(path, digest), info, {}, name="cert-manager", namespace="cert-manager",
                        kube_version="v1.36.4+k3s1", api_versions=[])
    assert isinstance(out, dict)
    docs, failed = _parse(out)
    rbac = [body for template, body in docs if template.endswith("templates/rbac.yaml")]
    assert failed is None and len(rbac) == out["cert-manager/templates/rbac.yaml"].count("\nkind: ") > 20


def test_a_remote_ref_in_a_values_schema_is_cut_out_never_fetched(tmp_path, monkeypatch):
    import json

    from helm_python import Chart, package

    from homelab.charts import engine

    monkeypatch.setenv("HOMELAB_CACHE_DIR", str(tmp_path / "cache"))  # this chart's facts stay with the test
    Chart.create("demo", tmp_path)
    (tmp_path / "demo" / "values.schema.json").write_text(json.dumps({
        "type": "object", "properties": {"replicaCount": {"type": "integer"},
                                          "image": {"$ref": "https://schemas.example.invalid/image.json"}}}))
    archive = Path(package(tmp_path / "demo", destination=tmp_path))
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    info = engine.inspect(archive, digest)
    assert info.remote_refs == ("https://schemas.example.invalid/image.json",)
    chart = engine.load(archive, digest, info.remote_refs)
    out = engine.render(chart, info, {"replicaCount": "two"}, name="demo", namespace="demo", kube_version="v1.36.4",
                        api_versions=[])
    assert [e.path for e in out] == [("replicaCount",)]  # validated by Helm, offline: no fetch was tried
    assert isinstance(engine.render(chart, info, {}, name="demo", namespace="demo", kube_version="v1.36.4",
                                    api_versions=[]), dict)


def test_check_refuses_pull_with_offline(tmp_path):
    from conftest import run_cli

    repo = make_repo(tmp_path / "repo")
    res = run_cli("-c", str(repo / "homelab.yaml"), "check", "--pull", "--offline", cwd=repo)
    assert res.returncode == 2 and "--pull and --offline exclude each other" in res.stderr


@needs_mirror
def test_the_plans_budget_counts_what_the_charts_ask_for(tmp_path, monkeypatch):
    from homelab.config import load_config
    from homelab.gitops import Cache
    from homelab.plan import tree as tree_mod

    repo = _bundled(tmp_path / "repo")
    longhorn = repo / K / "infrastructure/controllers/longhorn/app/helmrelease.yaml"
    longhorn.write_text(longhorn.read_text().replace("    defaultSettings:\n",
                                                     "    defaultSettings:\n      guaranteedInstanceManagerCPU: 20\n"))
    cfg = load_config(repo / "homelab.yaml")
    section, workload = tree_mod.read(repo, cfg, Cache(None))
    assert section.available, section
    assert [c.release for c in section.charts.not_rendered] == ["authentik/authentik"] and len(section.charts.rendered) == 12
    by_ns = {n.namespace: n for n in section.budget.namespaces}
    nodes = len(cfg.k3s.nodes)
    # MetalLB: the chart's controller plus one speaker per node (a DaemonSet), at the chart's defaults
    assert by_ns["metallb-system"].pods == 1 + nodes
    reserved = next(p for p in workload.pods if p.name.startswith("instance-manager"))
    assert reserved.per_node and reserved.cpu_millis == min(n.cores for n in cfg.k3s.nodes) * 1000 * 20 // 100
    # Prometheus and Alertmanager run from the operator's custom resources, with the values' requests
    assert {"prometheus-kube-prometheus-stack-prometheus", "alertmanager-kube-prometheus-stack-alertmanager"} \
        <= {p.name for p in workload.pods}
    assert "12 of 13 rendered HelmReleases" in section.budget.note

    monkeypatch.setenv("HOMELAB_CHART_MIRROR", str(tmp_path / "no-mirror"))
    monkeypatch.setenv("HOMELAB_CACHE_DIR", str(tmp_path / "no-cache"))
    (tmp_path / "no-mirror").mkdir()
    bare, _ = tree_mod.read(repo, cfg, Cache(None))
    assert bare.available and bare.charts.rendered == [] and "homelab charts pull" in bare.budget.note
    assert section.budget.total.cpu_requests_millis > bare.budget.total.cpu_requests_millis
    assert section.budget.total.pods > bare.budget.total.pods


@needs_mirror
def test_two_releases_that_render_the_same_object_are_duplicates(tmp_path):
    repo = make_repo(tmp_path / "repo")
    app = repo / K / "infrastructure/controllers/metallb/app"
    text = (app / "helmrelease.yaml").read_text()
    (app / "helmrelease-again.yaml").write_text(text.replace("  name: metallb\n", "  name: metallb-again\n", 1)
                                                 .replace("  values:\n", "  values:\n    fullnameOverride: metallb\n"))
    (app / "kustomization.yaml").write_text((app / "kustomization.yaml").read_text()
                                            .replace("  - ./helmrelease.yaml\n", "  - ./helmrelease.yaml\n  - ./helmrelease-again.yaml\n"))
    dupes = [f for f in check(repo, select=["flux/duplicate-object"]).findings]
    assert dupes and all("HelmRelease metallb-system/metallb and HelmRelease metallb-system/metallb-again" in f.message
                         for f in dupes), [f.message for f in dupes]
    assert any("Deployment metallb-system/metallb-controller" in f.message for f in dupes)


@needs_mirror
def test_values_from_a_configmap_in_git_are_checked_like_inline_values(tmp_path):
    repo = make_repo(tmp_path / "repo")
    app = repo / K / "infrastructure/controllers/metallb/app"
    (app / "values.yaml").write_text("---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: metallb-values\n"
                                     "  namespace: metallb-system\ndata:\n  values.yaml: |\n    speakr:\n"
                                     "      logLevel: debug\n")
    (app / "kustomization.yaml").write_text((app / "kustomization.yaml").read_text() + "  - ./values.yaml\n")
    hr = app / "helmrelease.yaml"
    hr.write_text(hr.read_text().replace("  values:\n", "  valuesFrom:\n    - kind: ConfigMap\n      name: metallb-values\n"
                                         "    - kind: Secret\n      name: metallb-secret-values\n  values:\n"))
    report = check(repo, select=["helm"])
    unknown = [f for f in report.findings if f.rule == "helm/values-unknown-key"]
    assert len(unknown) == 1 and "values.speakr" in unknown[0].message and "'speaker'" in unknown[0].hint
    assert any("valuesFrom Secret metallb-system/metallb-secret-values (key values.yaml) is not kept in Git" in n
               for n in report.notes), report.notes


@needs_mirror
def test_a_credential_in_values_that_a_chart_renders_into_a_secret_is_secret_data(tmp_path):
    import random
    import string

    repo = _bundled(tmp_path / "repo")
    hr = repo / K / "infrastructure/controllers/grafana/app/helmrelease.yaml"
    password = "".join(random.choice(string.ascii_letters + string.digits) for _ in range(24))  # made at run time
    hr.write_text(re.sub(r"    admin:\n      existingSecret: grafana-admin\n      userKey: admin-user\n"
                         r"      passwordKey: admin-password\n", f"    adminPassword: {password}\n", hr.read_text()))
    found = check(repo, schemas=repo / "schema" / "crds", select=["secrets/secret-data"]).findings
    assert [(f.rule, f.file) for f in found] == [("secrets/secret-data", hr.relative_to(repo).as_posix())], found
    assert "Secret monitoring/grafana (rendered by HelmRelease monitoring/grafana from grafana/templates/secret.yaml)" \
        in found[0].message and password not in found[0].message


@needs_mirror
def test_charts_see_only_the_api_versions_of_crds_the_tree_installs(tmp_path):
    repo = make_repo(tmp_path / "repo")  # no kube-prometheus-stack here: no monitoring.coreos.com CRDs
    hr = repo / K / "infrastructure/controllers/traefik/app/helmrelease.yaml"
    hr.write_text(hr.read_text() + "    metrics:\n      prometheus:\n        serviceMonitor:\n          enabled: true\n")
    failed = [f for f in check(repo, select=["helm/render-failed"]).findings]
    assert len(failed) == 1 and "traefik/templates/servicemonitor.yaml" in failed[0].message \
        and "You have to deploy monitoring.coreos.com/v1 first" in failed[0].message, failed
