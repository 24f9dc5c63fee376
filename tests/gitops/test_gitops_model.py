"""The one model of routes, certificates and charts: host matching as Traefik and cert-manager do it."""

from __future__ import annotations

import pytest

from homelab.config import load_config
from homelab.config.model import ALLOWLIST, FORWARD_AUTH, HEADERS
from homelab.gitops.model import Certificate, K8sObject, Route, hosts_of, name_covers

from conftest import ROOT


@pytest.mark.parametrize(("pattern", "host", "covered"), [
    ("grafana.example.com", "grafana.example.com", True),
    ("Grafana.Example.com", "grafana.example.COM", True),      # DNS names compare case-insensitively
    ("*.example.com", "grafana.example.com", True),
    ("*.Example.com", "a.example.com", True),
    ("*.example.com", "grafana.lan.example.com", False),       # a wildcard covers exactly one label
    ("*.example.com", "example.com", False),
    ("example.com", "www.example.com", False),
    ("*.lan.example.com", "grafana.lan.example.com", True),
])
def test_certificate_names_cover_hosts_like_tls_clients_do(pattern: str, host: str, covered: bool):
    assert name_covers(pattern, host) is covered


def test_route_hosts_are_read_from_traefik_rules_and_lowercased():
    assert hosts_of("Host(`App.Example.com`) || Host(`b.example.com`, `c.example.com`) && PathPrefix(`/x`)") == [
        "app.example.com", "b.example.com", "c.example.com"]
    assert hosts_of("HostSNI(`db.lan.example.com`)") == ["db.lan.example.com"]


def _obj(body: dict) -> K8sObject:
    return K8sObject(body=body, file="x.yaml", line=1, doc=0, kustomization="flux-system/apps")


def test_a_route_names_its_hosts_middlewares_and_backend_service():
    ir = _obj({"apiVersion": "traefik.io/v1alpha1", "kind": "IngressRoute", "metadata": {"name": "a", "namespace": "apps"},
               "spec": {"routes": [{"match": "Host(`A.example.com`)", "services": [{"name": "web", "port": 80}],
                                    "middlewares": [{"name": "lan-allowlist", "namespace": "traefik"}, {"name": "local"}]}]}})
    [route] = Route.of(ir)
    assert route.hosts == ("a.example.com",)
    assert route.middlewares == (("traefik", "lan-allowlist"), ("apps", "local"))
    assert route.service == ("apps", "web") and route.keys == ("spec", "routes", 0, "match")
    ing = _obj({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {
        "name": "b", "namespace": "apps",
        "annotations": {"traefik.ingress.kubernetes.io/router.middlewares": "traefik-lan-allowlist@kubernetescrd"}},
        "spec": {"rules": [{"host": "B.lan.example.com", "http": {"paths": [
            {"path": "/", "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}})
    [route] = Route.of(ing)
    assert route.hosts == ("b.lan.example.com",) and route.middlewares == (("traefik", "lan-allowlist"),)
    assert route.service == ("apps", "web")


def test_a_certificate_covers_the_hosts_of_its_names():
    spec = {"dnsNames": ["*.example.com", "example.com"],
            # homelab: ignore[secrets/credential] the name of the Secret cert-manager writes, not a secret
            "secretName": "wild-tls"}
    cert = Certificate(_obj({"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
                             "metadata": {"name": "wild", "namespace": "traefik"}, "spec": spec}))
    assert cert.secret == ("traefik", "wild-tls")
    assert cert.covers("grafana.example.com") and cert.covers("example.com") and not cert.covers("a.lan.example.com")


def test_a_helmrelease_names_its_chart_by_chart_spec_or_chart_ref():
    spec = _obj({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease", "metadata": {"name": "l", "namespace": "longhorn"},
                 "spec": {"chart": {"spec": {"chart": "longhorn", "version": "1.9.1",
                                             "sourceRef": {"kind": "HelmRepository", "name": "longhorn", "namespace": "flux-system"}}}}})
    assert spec.chart is not None and (spec.chart.name, spec.chart.version, str(spec.chart.source)) == (
        "longhorn", "1.9.1", "HelmRepository/flux-system/longhorn")
    ref = _obj({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease", "metadata": {"name": "t", "namespace": "traefik"},
                "spec": {"chartRef": {"kind": "OCIRepository", "name": "traefik"}}})
    assert ref.chart is not None and ref.chart.by_chart_ref and ref.chart.version is None
    assert _obj({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}).chart is None


def test_each_exposure_has_one_set_of_middlewares():
    cfg = load_config(ROOT / "homelab.yaml")
    for svc in cfg.services.values():
        mws = svc.middlewares()
        assert mws[-1] == HEADERS and list(mws[:-1]) == svc.access_middlewares()
        assert (ALLOWLIST in mws) is (svc.exposure.value == "lan")
        assert (FORWARD_AUTH in mws) is (svc.exposure.value == "sso" or (svc.exposure.value == "lan" and svc.sso))
    name = next(iter(cfg.services))
    assert cfg.service_for_host(cfg.fqdn(name).upper()) == (name, cfg.services[name])
