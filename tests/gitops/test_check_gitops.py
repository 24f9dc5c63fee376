"""homelab.gitops reads a Flux tree as the controllers would: real kustomize builds, batched and
cached; postBuild substitution; objects located by file and line; dependsOn levels."""

from __future__ import annotations

from pathlib import Path

import pytest

from homelab.gitops import Cache, load_tree, substitute

from check_helpers import make_repo

K = "kubernetes/clusters/homelab"


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    return make_repo(tmp_path_factory.mktemp("gitops") / "repo")


@pytest.fixture(scope="module")
def tree(repo):
    return load_tree(repo, cache=Cache(None))


def _ks(name: str, path: str, extra: str = "") -> str:
    return (f"---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n"
            f"  namespace: flux-system\nspec:\n  interval: 10m\n  path: ./{path}\n  prune: true\n  sourceRef:\n"
            f"    kind: GitRepository\n    name: flux-system\n{extra}")


def test_reconcile_levels_follow_dependson_and_parents(tree):
    levels = [[ks.name for ks in lvl] for lvl in tree.levels()]
    assert levels == [["flux-system"], ["cert-manager", "metallb", "sm-operator", "traefik"],
                      ["cluster-issuer", "metallb-pool"], ["traefik-middlewares"], ["homepage"]]
    assert tree.cycles() == []
    assert tree.dependency_chain("flux-system/homepage") == [
        "flux-system/flux-system", "flux-system/cert-manager", "flux-system/cluster-issuer",
        "flux-system/traefik-middlewares", "flux-system/homepage"]


def test_objects_carry_their_source_file_line_and_kustomization(tree):
    route = tree.find("IngressRoute", "homepage", "homepage")
    assert route.file == f"{K}/apps/homepage/app/ingressroute.yaml" and route.line == 2
    assert route.kustomization == "flux-system/homepage"
    assert route.line_of("spec", "routes", 0, "match") == 11
    second = tree.find("Middleware", "authentik-forward-auth")
    assert (second.file.endswith("middlewares.yaml"), second.line) == (True, 13)
    assert {o.kind for o in tree.routes()} == {"IngressRoute"}
    assert [c.name for c in tree.certificates()] == ["wildcard"]
    assert {h.name for h in tree.helm_releases()} == {"cert-manager", "metallb", "sm-operator", "traefik"}


def test_postbuild_substitutes_from_the_cluster_settings_configmap_in_git(tree):
    route = tree.find("IngressRoute", "homepage")
    assert route.spec["routes"][0]["match"] == "Host(`home.lan.example.com`)"
    pool = tree.find("IPAddressPool", "homelab")
    assert pool.spec["addresses"] == ["192.168.10.200-192.168.10.220"]
    assert all(not o.unresolved for o in tree.objects)


def test_substitution_follows_flux_rules():
    text, missing = substitute("a: ${A}\nb: ${B:=dflt}\nc: $$HOME\nd: ${C:-x}\ne: $A-$D\n", {"A": "1", "C": ""})
    assert text == "a: 1\nb: dflt\nc: $HOME\nd: x\ne: 1-\n"
    assert missing == ["D"]


def test_inline_substitute_overrides_configmap_and_numbers_become_numbers(repo, tmp_path):
    import shutil
    r = tmp_path / "r"
    shutil.copytree(repo, r)
    app = r / K / "apps/homepage"
    ks = (app / "ks.yaml").read_text().replace(
        "  postBuild:\n", "  postBuild:\n    substitute:\n      TIMEZONE: Etc/UTC\n      REPLICAS: \"2\"\n")
    (app / "ks.yaml").write_text(ks)
    dep = (app / "app/deployment.yaml").read_text().replace("replicas: 1", "replicas: ${REPLICAS}")
    (app / "app/deployment.yaml").write_text(dep)
    tree = load_tree(r, cache=Cache(None))
    d = tree.find("Deployment", "homepage")
    assert d.spec["replicas"] == 2  # text substitution, then YAML: an int, as on the cluster
    assert d.spec["template"]["spec"]["containers"][0]["env"][0]["value"] == "Etc/UTC"


def test_folder_without_kustomization_is_generated_like_the_controller(repo, tmp_path):
    import shutil
    r = tmp_path / "r"
    shutil.copytree(repo, r)
    extra = r / K / "apps/extras"
    (extra / "nested/withkz").mkdir(parents=True)
    (extra / "a.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: homepage\n")
    (extra / "nested/b.yml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  namespace: homepage\n")
    (extra / "nested/withkz/kustomization.yaml").write_text("resources: [c.yaml]\nnamePrefix: k-\n")
    (extra / "nested/withkz/c.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: homepage\n")
    (extra / "notes.txt").write_text("not yaml, not included")
    (r / K / "apps/extras.yaml").write_text(_ks("extras", f"{K}/apps/extras", "  targetNamespace: homepage\n"))
    kz = r / K / "apps/kustomization.yaml"
    kz.write_text(kz.read_text() + "  - ./extras.yaml\n")
    tree = load_tree(r, cache=Cache(None))
    got = sorted((o.name, o.file.rsplit("/", 1)[-1], o.line) for o in tree.objects_of("flux-system/extras"))
    assert got == [("a", "a.yaml", 1), ("b", "b.yml", 1), ("k-c", "c.yaml", 1)]


def test_a_build_error_is_pinned_on_its_kustomization_and_the_rest_still_builds(repo, tmp_path):
    import shutil
    r = tmp_path / "r"
    shutil.copytree(repo, r)
    kz = r / K / "apps/homepage/app/kustomization.yaml"
    kz.write_text(kz.read_text() + "  - ./missing.yaml\n")
    tree = load_tree(r, cache=Cache(None), jobs=1)
    bad = tree.kustomizations["flux-system/homepage"]
    assert not bad.built and "missing.yaml" in bad.build_error
    others = [k for k in tree.kustomizations.values() if k.key != bad.key]
    assert all(k.built and k.objects for k in others)


def test_warm_load_rebuilds_nothing_and_one_change_rebuilds_one(repo, tmp_path):
    import shutil
    r = tmp_path / "r"
    shutil.copytree(repo, r)
    path = r / ".homelab/cache/t.pickle"
    cold_cache = Cache(path)
    cold = load_tree(r, cache=cold_cache)
    cold_cache.save()
    assert (cold.builds, cold.cached) == (9, 0)
    warm = load_tree(r, cache=Cache(path))
    assert (warm.builds, warm.cached) == (0, 9)
    assert [o.body for o in warm.objects] == [o.body for o in cold.objects]
    dep = r / K / "apps/homepage/app/deployment.yaml"
    dep.write_text(dep.read_text().replace("v1.4.0", "v1.4.1"))
    c = Cache(path)
    c.get("nothing", "x")
    one = load_tree(r, cache=c)
    assert (one.builds, one.cached) == (1, 8)
    assert "v1.4.1" in str(one.find("Deployment", "homepage").body)


def test_a_path_outside_the_repository_is_never_built(repo, tmp_path):
    import shutil
    r = tmp_path / "r"
    shutil.copytree(repo, r)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: default\n")
    (r / K / "apps/escape.yaml").write_text(_ks("escape", "../elsewhere"))
    kz = r / K / "apps/kustomization.yaml"
    kz.write_text(kz.read_text() + "  - ./escape.yaml\n")
    tree = load_tree(r, cache=Cache(None))
    ks = tree.kustomizations["flux-system/escape"]
    assert not ks.built and ks.objects == [] and "leaves the repository" in ks.build_error
