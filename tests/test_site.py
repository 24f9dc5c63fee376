"""homelab.yaml is the one source: each site fact reaches every tool, or `homelab check` says why not.

Each test replays a change a new user makes on a scratch copy of the repository (`copy_repo`) and runs
the real CLI (`render`, `check`, `plan`) or the library on the real Flux tree (real `kubectl kustomize`)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import copy_repo, run_cli

needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None,
                                   reason="kubectl (built-in kustomize) is not installed: the Flux tree cannot be built")
CLUSTER = "kubernetes/clusters/homelab"
HOMEPAGE_ROUTE = f"{CLUSTER}/apps/homepage/app/ingressroute.yaml"


def _edit_config(repo: Path, old: str, new: str) -> None:
    path = repo / "homelab.yaml"
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def _make_homepage_public(repo: Path) -> None:
    _edit_config(repo, "    exposure: lan                    # LAN allowlist + SSO\n  authentik:",
                 "    exposure: public\n    reason: a start page with nothing private on it\n  authentik:")


def _tree_files(repo: Path) -> dict[str, str]:
    return {str(p.relative_to(repo)): p.read_text() for p in sorted((repo / "kubernetes").rglob("*")) if p.is_file()}


def _route(repo: Path, host: str):
    from homelab.config import load_config
    from homelab.gitops import Cache, load_tree

    tree = load_tree(repo, load_config(repo / "homelab.yaml"), cache=Cache(None))
    for o in tree.routes():
        for r in o.spec.get("routes") or []:
            if f"Host(`{host}`)" in r["match"]:
                refs = [(m.get("namespace") or o.namespace, m["name"]) for m in r.get("middlewares") or []]
                return o, [name for _ns, name in tree.middlewares_run(refs)]
    raise AssertionError(f"no route for {host}")


def _check(repo: Path, *args: str) -> tuple[int, list[dict]]:
    res = run_cli("check", "--no-cache", "-f", "json", *args, cwd=repo, timeout=600)
    assert res.returncode in (0, 1), res.stderr
    return res.returncode, json.loads(res.stdout)["findings"]


# --- 1. exposure drives the route -------------------------------------------------------------------

@needs_kubectl
def test_changing_a_services_exposure_and_rendering_changes_what_its_route_runs_and_where_its_record_goes(tmp_path):
    repo = copy_repo(tmp_path, "kubernetes")
    before = _tree_files(repo)
    _, lan = _route(repo, "home.lan.example.com")
    assert lan == ["lan-allowlist", "authentik-forward-auth", "security-headers"]

    _make_homepage_public(repo)
    res = run_cli("render", cwd=repo)
    assert res.returncode == 0, res.stderr
    changed = {rel for rel, text in _tree_files(repo).items() if before.get(rel) != text}
    assert changed == {f"{CLUSTER}/flux-system/cluster-settings.yaml"}  # no manifest is templated

    route, public = _route(repo, "home.example.com")
    assert public == ["security-headers"]
    # no public_target in the bundled file: the record points at Traefik's address
    assert route.metadata["annotations"]["external-dns.alpha.kubernetes.io/target"] == "192.168.10.200"
    plan = json.loads(run_cli("plan", "-f", "json", "--no-check", cwd=repo).stdout)
    row = next(r for r in plan["routes"] if r["service"] == "homepage")
    assert (row["host"], row["protection"], row["protection_from"]) == ("home.example.com", [], "tree")
    owners = next(d["owners"] for d in plan["tree"]["dns"] if d["name"] == "home.example.com")
    assert owners == ["external-dns/external-dns-cloudflare"]
    code, findings = _check(repo, "--select", "site,exposure")
    assert code == 0, findings


@needs_kubectl
def test_sso_false_on_a_lan_service_drops_forward_auth_from_its_route_and_keeps_the_allowlist(tmp_path):
    repo = copy_repo(tmp_path, "kubernetes")
    _edit_config(repo, "    hostname: longhorn               # Longhorn UI\n    exposure: lan",
                 "    hostname: longhorn               # Longhorn UI\n    sso: false\n    exposure: lan")
    assert run_cli("render", cwd=repo).returncode == 0
    _, run = _route(repo, "longhorn.lan.example.com")
    assert run == ["lan-allowlist", "security-headers"]


@needs_kubectl
def test_a_route_that_keeps_the_lan_chain_after_its_service_went_public_is_exposure_drift_at_the_route(tmp_path):
    repo = copy_repo(tmp_path, "kubernetes")
    _make_homepage_public(repo)
    assert run_cli("render", cwd=repo).returncode == 0
    route = repo / HOMEPAGE_ROUTE
    route.write_text(route.read_text().replace("exposure-${EXPOSURE_HOMEPAGE}", "exposure-lan"))

    code, findings = _check(repo, "--select", "site/exposure-drift")
    assert code == 1
    [drift] = findings
    lines = route.read_text().splitlines()
    assert drift["file"] == HOMEPAGE_ROUTE and lines[drift["line"] - 1].strip() == "middlewares:"
    config_line = next(i for i, line in enumerate((repo / "homelab.yaml").read_text().splitlines(), 1)
                       if line == "    exposure: public")
    assert drift["severity"] == "error" and "LAN allowlist" in drift["message"]
    assert f"homelab.yaml:{config_line}" in drift["hint"] and "exposure-${EXPOSURE_HOMEPAGE}" in drift["hint"]
