"""`homelab new app NAME`: scaffolds an app that passes the same checks as the real tree (real
`kubectl kustomize`, real schemas), routes it by its exposure, and never overwrites or half-writes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from conftest import copy_repo, run_cli
from fluxtree import TREE_REL, k8s_version, middlewares_run, read_tree, routes, schema_errors

APPS = f"{TREE_REL}/apps"


def _lab(tmp_path: Path, services: dict[str, dict]) -> Path:
    """A copy of the repository's homelab.yaml and Flux tree with extra services, rendered."""
    return copy_repo(tmp_path, "kubernetes", edit=lambda doc: doc["services"].update(services))


def _new(lab: Path, *args: str):
    return run_cli("--config", str(lab / "homelab.yaml"), "new", "app", *args)


def _snapshot(lab: Path) -> dict[str, str]:
    return {str(p.relative_to(lab)): p.read_text() for p in sorted((lab / "kubernetes").rglob("*")) if p.is_file()}


SERVICES = {
    "wiki": {"hostname": "wiki", "exposure": "lan"},
    "status": {"hostname": "status", "exposure": "public", "reason": "a public status page with nothing private on it"},
    "notes": {"hostname": "notes", "exposure": "sso"},
    "printer": {"hostname": "printer", "exposure": "lan", "sso": False},
}


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed; the tree is built with `kubectl kustomize`")
def test_scaffolded_apps_build_validate_and_carry_their_exposures_middlewares(tmp_path):
    from homelab.config import load_config

    lab = _lab(tmp_path, SERVICES)
    for name in SERVICES:
        res = _new(lab, name, "--image", f"ghcr.io/example/{name}:1.2.3", "--port", "8080")
        assert res.returncode == 0, res.stderr
        assert f"wrote {APPS}/{name}/ks.yaml" in res.stdout

    cfg = load_config(lab / "homelab.yaml")
    tree = read_tree(lab)
    version = k8s_version(lab)
    for name in SERVICES:
        ks = tree.kustomizations[name]
        assert ks.path == f"./{APPS}/{name}/app"
        errors = [e for obj in ks.applied for e in schema_errors(obj.body, version)]
        assert errors == []
        assert not [v for obj in ks.applied for v in obj.unresolved]
        hr = next(o for o in ks.objects if o["kind"] == "HelmRelease")
        image = hr["spec"]["values"]["controllers"][name]["containers"]["app"]["image"]
        assert (image["repository"], image["tag"]) == (f"ghcr.io/example/{name}", "1.2.3")
    by_name = {obj["metadata"]["name"]: (var, route) for var, obj, route, _p in routes(tree)}
    for name in SERVICES:
        var, route = by_name[name]
        assert var == f"HOST_{name.upper()}"
        assert [m["name"] for m in route["middlewares"]] == [f"exposure-${{EXPOSURE_{name.upper()}}}"], name
        names = middlewares_run(tree, route) - {"security-headers"}
        assert names == set(cfg.services[name].access_middlewares()), name
    # the exposure may change later in homelab.yaml, so every app waits for Authentik
    assert "authentik-config" in tree.kustomizations["wiki"].depends_on
    assert "authentik-config" in tree.kustomizations["printer"].depends_on


def test_new_app_refuses_to_overwrite_an_existing_app(tmp_path):
    lab = _lab(tmp_path, {"wiki": SERVICES["wiki"]})
    assert _new(lab, "wiki", "--image", "ghcr.io/example/wiki:1.0.0").returncode == 0
    before = _snapshot(lab)
    res = _new(lab, "wiki", "--image", "ghcr.io/example/wiki:2.0.0")
    assert res.returncode == 2
    assert "already exists; refusing to overwrite" in res.stderr and "Traceback" not in res.stderr
    assert _snapshot(lab) == before
    homepage = _new(lab, "homepage", "--image", "ghcr.io/example/homepage:1.0.0")
    assert homepage.returncode == 2 and "refusing to overwrite" in homepage.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["ghost", "--image", "ghcr.io/example/ghost:1.0.0"], "homelab.yaml:"),
    (["ghost", "--image", "ghcr.io/example/ghost:1.0.0"], "service 'ghost' is not declared"),
    (["Wiki!", "--image", "ghcr.io/example/wiki:1.0.0"], "is not a valid app name"),
    (["wiki", "--image", "ghcr.io/example/wiki"], "is not a pinned image reference"),
    (["wiki", "--image", "ghcr.io/example/wiki:latest"], "is not a pinned image reference"),
])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, args, message):
    lab = _lab(tmp_path, {"wiki": SERVICES["wiki"]})
    before = _snapshot(lab)
    res = _new(lab, *args)
    assert res.returncode == 2, res.stdout
    assert message in res.stderr and "hint:" in res.stderr and "Traceback" not in res.stderr
    assert _snapshot(lab) == before


def test_a_service_added_without_render_is_refused_until_cluster_settings_is_current(tmp_path):
    lab = _lab(tmp_path, {})
    yaml = YAML()
    doc = yaml.load((lab / "homelab.yaml").read_text())
    doc["services"]["wiki"] = SERVICES["wiki"]
    with (lab / "homelab.yaml").open("w") as fh:
        yaml.dump(doc, fh)
    before = _snapshot(lab)
    res = _new(lab, "wiki", "--image", "ghcr.io/example/wiki:1.0.0")
    assert res.returncode == 2 and "run `homelab render` first" in res.stderr
    assert _snapshot(lab) == before


def test_a_name_an_infrastructure_component_uses_is_refused_naming_each_object(tmp_path):
    """`grafana` is a service of homelab.yaml, and the tree already runs a Kustomization and a HelmRelease of that name."""
    lab = _lab(tmp_path, {})
    before = _snapshot(lab)
    res = _new(lab, "grafana", "--image", "ghcr.io/example/grafana:1.0.0")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    errors = res.stderr.splitlines()
    assert any(e.startswith(f"error: {TREE_REL}/infrastructure/controllers/grafana/ks.yaml:")
               and "Kustomization flux-system/grafana already uses the name 'grafana'" in e for e in errors), res.stderr
    assert any("HelmRelease monitoring/grafana already uses the name 'grafana'" in e for e in errors)
    assert all("hint: pick another name" in e for e in errors)
    assert _snapshot(lab) == before


@pytest.mark.parametrize("kind", ["Namespace", "Service"])
def test_a_name_a_namespace_or_service_in_the_tree_has_is_refused(tmp_path, kind):
    lab = _lab(tmp_path, {"wiki": SERVICES["wiki"]})
    meta = "name: wiki" if kind == "Namespace" else "name: wiki\n  namespace: tools"
    (lab / TREE_REL / "infrastructure" / "wiki-claim.yaml").write_text(
        f"---\napiVersion: v1\nkind: {kind}\nmetadata:\n  {meta}\n")
    before = _snapshot(lab)
    res = _new(lab, "wiki", "--image", "ghcr.io/example/wiki:1.0.0")
    assert res.returncode == 2, res.stdout
    assert f"{TREE_REL}/infrastructure/wiki-claim.yaml:2: " in res.stderr and f"{kind} " in res.stderr
    assert _snapshot(lab) == before
