"""homelab.yaml is the one source: each site fact reaches every tool, or `homelab check` says why not.

Each test replays a change a new user makes on a scratch copy of the repository (`copy_repo`) and runs
the real CLI (`render`, `check`, `plan`) or the library on the real Flux tree (real `kubectl kustomize`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import copy_repo, own_lab, run_cli

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
    code, findings = _check(repo, "--select", "site,exposure", "--ignore", "site/placeholder")
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


# --- 2. the whole inventory is generated -----------------------------------------------------------

PVE3 = """    pve3:
      address: 192.168.1.4
      api_endpoint: https://192.168.1.4:8006/
      node_name: pve3
      cores: 8
      memory: 32GiB
  template:"""


def test_a_third_proxmox_host_and_a_moved_management_network_reach_the_ansible_inventory(tmp_path):
    repo = copy_repo(tmp_path, "ansible")
    _edit_config(repo, "  template:", PVE3)
    (repo / "homelab.yaml").write_text((repo / "homelab.yaml").read_text().replace("192.168.1.", "192.168.7."))
    res = run_cli("render", cwd=repo)
    assert res.returncode == 0, res.stderr
    assert "wrote ansible/inventories/hosts.yml" in res.stdout

    exe = shutil.which("ansible-inventory", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if exe is None:
        pytest.skip("ansible-inventory is not installed (the test extra bundles it)")
    listed = run_cli_tool(exe, "-i", "inventories/", "--list", cwd=repo / "ansible")
    hostvars = listed["_meta"]["hostvars"]
    assert {h: (hostvars[h]["ansible_host"], hostvars[h]["ansible_user"]) for h in ("pve1", "pve2", "pve3", "main-rpi4")} == {
        "pve1": ("192.168.7.2", "root"), "pve2": ("192.168.7.3", "root"), "pve3": ("192.168.7.4", "root"),
        "main-rpi4": ("192.168.7.6", "ops")}
    assert sorted(listed["proxmox"]["hosts"]) == ["pve1", "pve2", "pve3"]
    assert listed["dns"]["hosts"] == ["main-rpi4"]


def test_a_hand_edited_hosts_inventory_is_caught_by_render_check(repo_copy):
    hosts = repo_copy / "ansible/inventories/hosts.yml"
    hosts.write_text(hosts.read_text().replace("192.168.1.3", "192.168.1.99"))
    res = run_cli("render", "--check", cwd=repo_copy)
    assert res.returncode == 1
    line = next(n for n, text in enumerate(hosts.read_text().splitlines(), 1) if "192.168.1.99" in text)
    assert f"ansible/inventories/hosts.yml:{line}: stale" in res.stderr  # at the first line that differs


def run_cli_tool(exe: str, *args: str, cwd: Path) -> dict:
    """Run a real tool (here ansible-inventory) and parse its JSON."""
    proc = subprocess.run([exe, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


# --- 3. flux.path honoured everywhere ---------------------------------------------------------------

@needs_kubectl
def test_a_different_flux_path_is_used_by_render_new_app_check_plan_and_up(tmp_path):
    repo = copy_repo(tmp_path, "kubernetes", edit=own_lab)  # `up` refuses the example values
    moved = repo / "k8s/clusters/lab"
    shutil.move(repo / CLUSTER, moved)
    shutil.rmtree(repo / "kubernetes")
    for f in moved.rglob("*.yaml"):  # the tree's own Kustomization paths move with it, as in any Flux repository
        f.write_text(f.read_text().replace(f"./{CLUSTER}/", "./k8s/clusters/lab/"))
    _edit_config(repo, "  path: kubernetes/clusters/homelab", "  path: k8s/clusters/lab")
    _edit_config(repo, "  authentik:", "  wiki:\n    hostname: wiki\n    exposure: lan\n  authentik:")

    res = run_cli("render", cwd=repo)
    assert res.returncode == 0, res.stderr
    assert set(res.stdout.split()) >= {"k8s/clusters/lab/flux-system/cluster-settings.yaml",
                                      "k8s/clusters/lab/flux-system/flux-system.yaml",
                                      "k8s/clusters/lab/flux-system/git-repository.yaml"}
    assert not (repo / "kubernetes").exists()
    assert "path: ./k8s/clusters/lab\n" in (moved / "flux-system/flux-system.yaml").read_text()
    assert "!/k8s\n" in (moved / "flux-system/git-repository.yaml").read_text()

    res = run_cli("new", "app", "wiki", "--image", "ghcr.io/example/wiki:1.2.3", cwd=repo)
    assert res.returncode == 0, res.stderr
    assert "path: ./k8s/clusters/lab/apps/wiki/app\n" in (moved / "apps/wiki/ks.yaml").read_text()
    assert "./wiki/ks.yaml" in (moved / "apps/kustomization.yaml").read_text()
    assert not (repo / "kubernetes").exists()

    code, findings = _check(repo, "--select", "flux,site,exposure")
    assert code == 0, findings
    plan = json.loads(run_cli("plan", "-f", "json", "--no-check", cwd=repo).stdout)
    assert plan["tree"]["available"] and plan["tree"]["path"] == "k8s/clusters/lab"
    assert "wiki.lan.jdoe-lab.net" in {r["host"] for r in plan["tree"]["routes"]}

    up = run_cli("up", "--dry-run", "--only", "bootstrap", cwd=repo, env={"BWS_ACCESS_TOKEN": "x" * 12})
    assert up.returncode == 0, up.stderr
    assert "--path=./k8s/clusters/lab" in up.stdout


# --- 4. placeholders ---------------------------------------------------------------------------------

EXAMPLE_KEYS = ["site.domain", "site.acme_email", "site.ssh_public_keys.0", "flux.repository", "bitwarden.organization_id",
                *(f"bitwarden.secrets.{s}" for s in ("cloudflare_api_token", "pihole_password", "authentik_secret_key",
                                                      "authentik_postgres_password", "grafana_admin_user",
                                                      "grafana_admin_password", "flux_webhook_token"))]


def _line_of(repo: Path, key: str) -> int:
    from homelab.yamlio import load_located

    doc, _ = load_located(repo / "homelab.yaml")
    return doc.line_of([int(k) if k.isdigit() else k for k in key.split(".")])


def test_the_shipped_example_values_are_placeholder_warnings_at_their_lines_in_validate_check_and_plan(repo_copy):
    want = {f"homelab.yaml:{_line_of(repo_copy, key)}: {key}" for key in EXAMPLE_KEYS}

    validate = run_cli("validate", cwd=repo_copy)
    assert validate.returncode == 0, validate.stderr
    warned = {": ".join(line.removeprefix("warning: ").split(": ", 2)[:2])
              for line in validate.stderr.splitlines() if line.startswith("warning:")}
    assert warned == want

    code, findings = _check(repo_copy, "--select", "site/placeholder")
    assert code == 1 and {f["severity"] for f in findings} == {"warning"}
    assert {f"{f['file']}:{f['line']}: {f['message'].split(':', 1)[0]}" for f in findings} == want

    plan = run_cli("plan", "-f", "json", "--no-check", cwd=repo_copy)
    assert plan.returncode == 0, plan.stderr  # the bundled file is the example: a valid repository
    shown = json.loads(plan.stdout)["validation"]["placeholders"]
    assert {f"{f['file']}:{f['line']}: {f['message'].split(':', 1)[0]}" for f in shown} == want


def test_up_refuses_to_provision_while_an_example_value_remains_and_names_it(tmp_path):
    repo = copy_repo(tmp_path, edit=own_lab)
    _edit_config(repo, "https://github.com/jdoe/homelab", "https://github.com/example/homelab")
    res = run_cli("up", "--dry-run", cwd=repo)
    assert res.returncode == 1
    errors = [line for line in res.stderr.splitlines() if line.startswith("failed:")]
    assert errors == [f"failed: homelab.yaml:{_line_of(repo, 'flux.repository')}: flux.repository: "
                      "'https://github.com/example/homelab' is the example repository: replace it before provisioning "
                      "(hint: set the URL of your fork: Flux deploys what is there)"]
    assert "▶ template" not in res.stdout  # refused before any stage


# --- 5. preflight asks for every variable a later stage needs ----------------------------------------

def test_readme_environment_block_lists_exactly_what_preflight_asks_for():
    import re

    from homelab.pipeline.environment import ENVIRONMENT

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = next(b for b in re.findall(r"```sh\n(.*?)```", readme, re.S) if "homelab up --dry-run" in b)
    assert set(re.findall(r"^export ([A-Z0-9_]+)=", block, re.M)) == {v.name for v in ENVIRONMENT}


def test_every_variable_packer_and_the_roles_read_from_the_environment_is_asked_for_by_preflight():
    import re

    from homelab.pipeline.environment import ENVIRONMENT

    root = Path(__file__).resolve().parents[2]
    read = set()
    for f in (root / "packer").rglob("*.hcl"):
        read |= set(re.findall(r'\benv\("([A-Z0-9_]+)"\)', f.read_text()))
    for f in (root / "ansible").rglob("*.yml"):
        read |= set(re.findall(r"lookup\(['\"](?:ansible\.builtin\.)?env['\"],\s*['\"]([A-Z0-9_]+)['\"]", f.read_text()))
    assert read == {"PROXMOX_USERNAME", "PROXMOX_TOKEN", "K3S_TOKEN", "PIHOLE_API_PASSWORD"}  # the scan finds them
    assert read <= {v.name for v in ENVIRONMENT}


def test_preflight_asks_for_k3s_token_and_the_pihole_password_before_the_template_is_built(tmp_path):
    repo = copy_repo(tmp_path, edit=own_lab)
    env = {"PROXMOX_USERNAME": "packer@pve!homelab", "PROXMOX_TOKEN": "t" * 12, "BWS_ACCESS_TOKEN": "b" * 12,
           "PROXMOX_VE_API_TOKEN": "", "K3S_TOKEN": "", "PIHOLE_API_PASSWORD": "", "PATH": "/usr/bin:/bin"}
    res = run_cli("up", "--yes", cwd=repo, env=env)
    assert res.returncode == 1
    failed = "\n".join(line for line in res.stderr.splitlines() if line.startswith("failed:"))
    for name in ("PROXMOX_VE_API_TOKEN", "K3S_TOKEN", "PIHOLE_API_PASSWORD"):
        assert f"${name} is not set" in failed
    assert "PROXMOX_TOKEN is not set" not in failed and "BWS_ACCESS_TOKEN is not set" not in failed
    assert "▶ template" not in res.stdout  # nothing ran: preflight stopped first


# --- 7. declared and routed agree ---------------------------------------------------------------------

def _drop_service(repo: Path, name: str, lines: int) -> None:
    text = (repo / "homelab.yaml").read_text().splitlines(keepends=True)
    at = text.index(f"  {name}:\n")
    (repo / "homelab.yaml").write_text("".join(text[:at] + text[at + lines:]))


@needs_kubectl
def test_a_route_whose_service_was_removed_is_route_undeclared_saying_to_delete_the_route(tmp_path):
    repo = copy_repo(tmp_path, "kubernetes")
    _drop_service(repo, "homepage", 3)
    assert run_cli("render", cwd=repo).returncode == 0
    code, findings = _check(repo, "--select", "site,flux", "--ignore", "site/placeholder")
    assert code == 1
    assert sorted((f["rule"], f["file"]) for f in findings) == [
        ("flux/substitution-undefined", f"{CLUSTER}/apps/homepage/app/helmrelease.yaml"),  # HOMEPAGE_ALLOWED_HOSTS
        ("site/route-undeclared", HOMEPAGE_ROUTE)]
    used = next(f for f in findings if f["rule"] == "flux/substitution-undefined")
    assert "belongs to service homepage, which homelab.yaml does not declare" in used["hint"]
    f = next(f for f in findings if f["rule"] == "site/route-undeclared")
    assert "service homepage" in f["message"] and "delete the route" in f["hint"]
    line = (repo / HOMEPAGE_ROUTE).read_text().splitlines()[f["line"] - 1].strip()
    assert line == "external-dns.alpha.kubernetes.io/target: ${DNS_TARGET_HOMEPAGE}"


@needs_kubectl
def test_a_declared_service_without_a_route_is_service_unrouted_at_its_homelab_yaml_line(tmp_path):
    repo = copy_repo(tmp_path, "kubernetes")
    _edit_config(repo, "  authentik:", "  wiki:\n    hostname: wiki\n    exposure: lan\n  authentik:")
    assert run_cli("render", cwd=repo).returncode == 0
    code, findings = _check(repo, "--select", "site", "--ignore", "site/placeholder")
    assert code == 1
    [f] = findings
    wiki_line = (repo / "homelab.yaml").read_text().splitlines().index("  wiki:") + 1
    assert (f["rule"], f["severity"], f["file"], f["line"]) == ("site/service-unrouted", "warning", "homelab.yaml", wiki_line)
    assert "homelab new app wiki" in f["hint"] and "remove services.wiki" in f["hint"]


# --- 8. found from anywhere ---------------------------------------------------------------------------

def test_homelab_yaml_is_found_from_a_layer_folder_and_inventory_runs_there(repo_copy):
    terraform = repo_copy / "terraform"
    terraform.mkdir(exist_ok=True)
    res = run_cli("render", "--check", cwd=terraform)
    assert res.returncode == 0, res.stderr
    saved = Path(__file__).parents[1] / "fixtures" / "terraform-output" / "valid.json"
    res = run_cli("inventory", "--from", str(saved), cwd=terraform)
    assert res.returncode == 0, res.stderr
    assert (repo_copy / "ansible/inventories/k3s-nodes.yml").is_file() and not (terraform / "ansible").exists()
    bad = repo_copy / "homelab.yaml"
    bad.write_text(bad.read_text().replace("replicas: 2 ", "replicas: two "))
    res = run_cli("validate", cwd=terraform)
    assert res.returncode == 2 and "../homelab.yaml:" in res.stderr  # errors name the file as seen from here


def test_config_is_accepted_before_or_after_the_subcommand(repo_copy, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    config = str(repo_copy / "homelab.yaml")
    for args in (["--config", config, "render", "--check"], ["render", "--check", "--config", config],
                 ["-c", config, "check", "--select", "site/glue-stale"], ["check", "--select", "site/glue-stale", "-c", config]):
        res = run_cli(*args, cwd=elsewhere)
        assert res.returncode == 0, (args, res.stderr)
    res = run_cli("new", "app", "wiki", "--image", "ghcr.io/example/wiki:1.0.0", "--config", config, cwd=elsewhere)
    assert res.returncode == 2 and "service 'wiki' is not declared" in res.stderr  # it read that config
    assert run_cli("render", "--check", cwd=elsewhere).returncode == 2  # and without one: none found


# --- README: "Make it your lab" stays true --------------------------------------------------------------

def test_make_it_your_lab_lists_exactly_the_glue_files_render_writes():
    import re

    from homelab.config import load_config
    from homelab.render import render_all

    root = Path(__file__).resolve().parents[2]
    cfg = load_config(root / "homelab.yaml")
    readme = (root / "README.md").read_text()
    section = readme[readme.index("## Make it your lab"):readme.index("## Commands")]
    listed = set()
    for cell in re.findall(r"^\s*\| `([^`]+)` \|", section, re.M):
        path = cell.replace("<flux.path>", cfg.flux.path)
        m = re.match(r"^(.*)\{([^}]+)\}(.*)$", path)
        listed |= {f"{m.group(1)}{alt}{m.group(3)}" for alt in m.group(2).split(",")} if m else {path}
    assert listed == set(render_all(cfg))
