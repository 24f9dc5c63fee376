"""The real clients behind `homelab status`, against loopback servers only (no traffic leaves 127.0.0.1).

dnspython asks a DNS server on 127.0.0.1 that answers like the Pi; the official Kubernetes client
reads the recorded lists from an HTTP server serving the API's URL paths; proxmoxer logs in with
an API token to an HTTPS server serving the recorded Proxmox responses; httpx sends the route
checks to Traefik's address with the route's name as SNI and Host.
"""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dns.message
import dns.rcode
import dns.rrset
import httpx
import pytest

from homelab.config import load_config
from homelab.status import kube as k
from homelab.status import network, proxmox

from conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "status"


@pytest.fixture(scope="module")
def cfg():
    return load_config(ROOT / "homelab.yaml")


# --- DNS through a loopback server answering like the Pi ----------------------------------------

class LoopbackDns:
    """A tiny UDP DNS server on 127.0.0.1 answering A queries from a map (NXDOMAIN otherwise)."""

    def __init__(self, records: dict[str, list[str]]):
        self.records = records
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                wire, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            query = dns.message.from_wire(wire)
            reply = dns.message.make_response(query)
            name = query.question[0].name.to_text().rstrip(".")
            if name in self.records:
                reply.answer.append(dns.rrset.from_text_list(name + ".", 300, "IN", "A", self.records[name]))
            else:
                reply.set_rcode(dns.rcode.NXDOMAIN)
            self.sock.sendto(reply.to_wire(), peer)

    def close(self) -> None:
        self.sock.close()


def test_dns_names_resolve_through_the_resolver_to_traefiks_address(cfg):
    records = json.loads((FIXTURES / "unhealthy" / "dns.json").read_text())
    server = LoopbackDns(records)
    try:
        resolver = network.pi_resolver(cfg, port=server.port)
        assert resolver.nameservers == [str(cfg.pi.address)]  # by default it asks the Pi and nothing else
        resolver.nameservers = ["127.0.0.1"]
        checks = {c.name: c for c in network.collect_dns(cfg, resolver)}
    finally:
        server.close()
    assert checks["traefik.lan.example.com"].ok and checks["traefik.lan.example.com"].state == "192.168.10.200"
    assert (checks["home.lan.example.com"].ok, checks["home.lan.example.com"].state) == (False, "NXDOMAIN")
    assert (checks["grafana.lan.example.com"].ok, checks["grafana.lan.example.com"].state) == (False, "192.168.10.201")
    assert "auth.example.com" not in checks  # public names live in Cloudflare, not on the Pi


def test_dns_server_that_does_not_answer_is_an_error_not_a_crash(cfg):
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    try:
        resolver = network.pi_resolver(cfg, port=silent.getsockname()[1], timeout=0.3)
        resolver.nameservers = ["127.0.0.1"]
        checks = network.collect_dns(cfg, resolver)
    finally:
        silent.close()
    assert checks and all(not c.ok and c.state == "error" for c in checks)
    assert "LifetimeTimeout" in checks[0].detail or "Timeout" in checks[0].detail


# --- HTTPS routes: to Traefik's address, the route's name as SNI and Host ------------------------

def test_route_checks_go_to_traefik_with_the_route_name_as_sni_and_host(cfg):
    seen = []

    def traefik(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.host, request.headers["host"], request.extensions.get("sni_hostname")))
        if request.headers["host"] == "grafana.lan.example.com":
            return httpx.Response(302, headers={"location": "https://auth.example.com/"})
        if request.headers["host"] == "home.lan.example.com":
            return httpx.Response(502)
        return httpx.Response(200)

    checks = {c.name: c for c in network.collect_https(cfg, httpx.MockTransport(traefik))}
    assert {host for host, _, _ in seen} == {"192.168.10.200"}
    assert all(host == sni for _, host, sni in seen)
    assert len(seen) == len(cfg.services)
    assert checks["grafana.lan.example.com"].ok and checks["grafana.lan.example.com"].detail == "https://auth.example.com/"
    assert not checks["home.lan.example.com"].ok and checks["home.lan.example.com"].state == "502"


# --- Kubernetes: the official client against a loopback API serving the recorded lists ----------

class Recorded(BaseHTTPRequestHandler):
    routes: dict[str, Path] = {}
    seen_auth: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.seen_auth.append(self.headers.get("Authorization", ""))
        file = self.routes.get(self.path.split("?")[0])
        body = file.read_bytes() if file else b'{"kind":"Status","apiVersion":"v1","status":"Failure","code":404}'
        self.send_response(200 if file else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def serve():
    servers = []

    def start(routes: dict[str, Path], tls: ssl.SSLContext | None = None) -> int:
        handler = type("Handler", (Recorded,), {"routes": routes, "seen_auth": []})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        if tls:
            server.socket = tls.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        start.handler = handler
        return server.server_address[1]

    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


def test_kubernetes_reader_reads_the_api_paths_and_the_collectors_judge_them(cfg, tmp_path, serve):
    kdir = FIXTURES / "unhealthy" / "kubernetes"
    routes = {"/api/v1/nodes": kdir / "core_v1_nodes.json"}
    for group, version, plural in (k.KUSTOMIZATIONS, k.HELMRELEASES, k.CERTIFICATES, k.LONGHORN_VOLUMES):
        routes[f"/apis/{group}/{version}/{plural}"] = kdir / f"{group}_{version}_{plural}.json"
    port = serve(routes)
    kubeconfig = tmp_path / "homelab.yaml"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "homelab",
        "clusters": [{"name": "homelab", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
        "users": [{"name": "admin", "user": {"token": "loopback-test-token"}}],
        "contexts": [{"name": "homelab", "context": {"cluster": "homelab", "user": "admin"}}]}))
    reader = k.KubernetesReader(kubeconfig)
    nodes = {c.name: c.ok for c in k.collect_nodes(cfg, reader)}
    flux = {c.name: c.ok for c in k.collect_flux(reader)}
    vols = {c.name: c.state for c in k.collect_volumes(reader)}
    assert nodes == {"k3s-1": True, "k3s-2": True, "k3s-3": False}
    assert flux["authentik/authentik"] is False and flux["traefik/traefik"] is True
    assert vols["authentik/data-authentik-postgresql-0"] == "degraded"
    assert set(serve.handler.seen_auth) == {"Bearer loopback-test-token"}


# --- Proxmox: proxmoxer with an API token, over HTTPS to a loopback server ----------------------

@pytest.fixture
def self_signed(tmp_path) -> ssl.SSLContext:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed; it makes the loopback Proxmox API's self-signed certificate")
    key, crt = tmp_path / "key.pem", tmp_path / "crt.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-keyout", str(key), "-out", str(crt)], check=True, capture_output=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(crt, key)
    return ctx


def test_proxmox_connect_uses_the_token_from_the_environment(tmp_path, serve, self_signed):
    pdir = FIXTURES / "healthy" / "proxmox"
    routes = {"/api2/json/version": tmp_path / "version.json", "/api2/json/nodes": pdir / "nodes.json",
              "/api2/json/cluster/resources": pdir / "cluster_resources.json",
              "/api2/json/nodes/pve1/qemu": pdir / "nodes_pve1_qemu.json"}
    routes["/api2/json/version"].write_text(json.dumps({"data": {"release": "9.1", "repoid": "5b3a8f1c", "version": "9.1.2"}}))
    port = serve(routes, tls=self_signed)
    site = (ROOT / "homelab.yaml").read_text().replace("https://192.168.1.2:8006/", f"https://127.0.0.1:{port}/") \
        .replace("https://192.168.1.3:8006/", f"https://127.0.0.1:{port}/")  # nothing may leave loopback
    (tmp_path / "homelab.yaml").write_text(site)
    cfg = load_config(tmp_path / "homelab.yaml")
    env = {"PROXMOX_VE_API_TOKEN": "terraform@pve!homelab=6f1c9a2e-8b3d-4e5f-a7c1-0d2e4f6a8b9c",
           "PROXMOX_VE_INSECURE": "true"}
    px = proxmox.connect(cfg, env)
    checks = proxmox.collect(cfg, px)
    assert proxmox.template_exists(px, cfg)
    assert all(c.ok for c in checks) and len(checks) == 2 + 1 + 3
    assert set(serve.handler.seen_auth) == {"PVEAPIToken=terraform@pve!homelab=6f1c9a2e-8b3d-4e5f-a7c1-0d2e4f6a8b9c"}


def test_proxmox_with_an_untrusted_certificate_fails_clearly_without_the_token(tmp_path, serve, self_signed):
    from homelab.errors import HomelabError

    port = serve({}, tls=self_signed)
    site = (ROOT / "homelab.yaml").read_text().replace("https://192.168.1.2:8006/", f"https://127.0.0.1:{port}/") \
        .replace("https://192.168.1.3:8006/", f"https://127.0.0.1:{port}/")
    (tmp_path / "homelab.yaml").write_text(site)
    secret = "6f1c9a2e-8b3d-4e5f-a7c1-0d2e4f6a8b9c"
    with pytest.raises(HomelabError) as err:
        proxmox.connect(load_config(tmp_path / "homelab.yaml"), {"PROXMOX_VE_API_TOKEN": f"terraform@pve!homelab={secret}"})
    text = str(err.value)
    assert "no Proxmox API answered" in text and "PROXMOX_VE_INSECURE=true" in text and secret not in text
