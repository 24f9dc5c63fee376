"""`homelab diff` on a temporary Git repository: the bundled tree on `main` (homepage on chart
app-template 4.1.1), then a branch that bumps app-template to 4.6.2 and Traefik to a release the
mirror lacks, changes homepage's values and a Secret, and drops an object. Charts come from
`../shared/charts` as a directory mirror."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from conftest import copy_repo, run_cli

APP = "kubernetes/clusters/homelab/apps/homepage/app"
TRAEFIK = "kubernetes/clusters/homelab/infrastructure/controllers/traefik/app/helmrelease.yaml"
APP_TEMPLATE = "kubernetes/clusters/homelab/sources/app-template.yaml"
SECRET = """apiVersion: v1
kind: Secret
metadata:
  name: homepage-extra
  namespace: homepage
stringData:
  password: {value}
"""


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid", "GIT_CONFIG_GLOBAL": os.devnull}
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1))


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = copy_repo(tmp_path_factory.mktemp("diff-repo"), "kubernetes")
    (repo / APP / "secret.yaml").write_text(SECRET.format(value="first-s3cret"))
    edit(repo / APP / "kustomization.yaml", "  - ./configmap.yaml\n", "  - ./configmap.yaml\n  - ./secret.yaml\n")
    edit(repo / APP_TEMPLATE, "tag: 4.6.2", "tag: 4.1.1")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "the bundled tree")
    git(repo, "checkout", "-q", "-b", "bump")
    edit(repo / TRAEFIK, "version: 41.3.0", "version: 41.4.0")
    edit(repo / APP_TEMPLATE, "tag: 4.1.1", "tag: 4.6.2")
    edit(repo / APP / "helmrelease.yaml", "tag: v1.12.3", "tag: v1.13.0")
    (repo / APP / "secret.yaml").write_text(SECRET.format(value="second-s3cret"))
    edit(repo / APP / "kustomization.yaml", "  - ./ingressroute.yaml\n", "")
    git(repo, "commit", "-q", "-am", "bump traefik and homepage, rotate a secret, drop the route")
    return repo


@pytest.fixture(scope="module")
def env(shared_charts: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return {"HOMELAB_CHART_MIRROR": str(shared_charts), "HOMELAB_CACHE_DIR": str(tmp_path_factory.mktemp("cache"))}


def test_diff_shows_exactly_the_changed_objects_against_the_merge_base(repo, env):
    got = run_cli("diff", cwd=repo, env=env)
    assert got.returncode == 0, got.stderr
    out = got.stdout
    assert out.startswith("homelab diff: ") and "(merge base with main)" in out
    assert "7 object(s) changed in 3 Flux Kustomization(s) and 2 rendered HelmRelease(s)" in out
    changed = sorted(line[2:] for line in out.splitlines() if line[:4] in ("  ~ ", "  + ", "  - "))
    assert [c.split(" (")[0] for c in changed] == [
        "- IngressRoute homepage/homepage", "~ Deployment homepage/homepage", "~ HelmRelease homepage/homepage",
        "~ HelmRelease traefik/traefik", "~ OCIRepository flux-system/app-template",
        "~ Secret homepage/homepage-extra", "~ Service homepage/homepage"]
    # the chart bump's rendered changes, at the HelmRelease's line and the template they came from
    rendered = out[out.index("HelmRelease homepage/homepage, rendered by its chart (changed)"):]
    assert "Deployment homepage/homepage (changed, kubernetes/clusters/homelab/apps/homepage/app/helmrelease.yaml:" \
           in rendered and "(app-template/templates/common.yaml))" in rendered
    for key, was, now in (("image", "ghcr.io/gethomepage/homepage:v1.12.3", "ghcr.io/gethomepage/homepage:v1.13.0"),
                          ("helm.sh/chart", "app-template-4.1.1", "app-template-4.6.2")):
        changed_line = rf"^    -\s+{re.escape(key)}: {re.escape(was)}\n    \+\s+{re.escape(key)}: {re.escape(now)}$"
        assert re.search(changed_line, rendered, re.M), (key, rendered)
    # a chart the mirror lacks: said so, and no rendered object is reported as removed
    traefik = out[out.index("HelmRelease traefik/traefik, rendered by its chart (changed)"):]
    assert "not rendered now: mirror: " in traefik and "has no traefik-41.4.0" in traefik
    assert "its rendered objects are not compared" in traefik and "  - " not in traefik
    assert "chart traefik 41.3.0 -> traefik 41.4.0" in out
    assert re.search(r"^    -\s+password: <masked [0-9a-f]{8}>\n    \+\s+password: <masked [0-9a-f]{8}>$", out, re.M)
    assert re.search(r"^    -\s+tag: v1\.12\.3\n    \+\s+tag: v1\.13\.0$", out, re.M)
    assert "first-s3cret" not in out and "second-s3cret" not in out


def test_diff_markdown_is_fit_for_a_pull_request_comment(repo, env):
    got = run_cli("diff", "main", "--format", "markdown", cwd=repo, env=env)
    assert got.returncode == 0, got.stderr
    out = got.stdout
    assert out.startswith("### `homelab diff` against `")
    assert out.count("<details>") == out.count("</details>") == 5
    assert "<details><summary>HelmRelease <code>homepage/homepage</code>, rendered by its chart (changed): " \
           "~Service homepage/homepage, ~Deployment homepage/homepage</summary>" in out
    assert "```diff\n" in out and re.search(r"^-\s+version: 41\.3\.0\n\+\s+version: 41\.4\.0$", out, re.M)
    assert "s3cret" not in out


def test_diff_without_charts_compares_the_git_objects_only(repo, env):
    got = run_cli("diff", "--no-charts", cwd=repo, env={**env, "HOMELAB_CHART_MIRROR": "/nonexistent"})
    assert got.returncode == 0, got.stderr
    assert "5 object(s) changed in 3 Flux Kustomization(s)\n" in got.stdout
    assert "rendered by its chart" not in got.stdout and "mirror" not in got.stdout


def test_diff_against_head_includes_uncommitted_changes_only(repo, env):
    assert run_cli("diff", "HEAD", cwd=repo, env=env).stdout.rstrip().endswith("no changes to the objects Flux applies")
    edit(repo / APP / "configmap.yaml", "\n", "\n# a comment changes no object\n")
    try:
        got = run_cli("diff", "HEAD", cwd=repo, env=env)
        assert got.returncode == 0 and "no changes to the objects Flux applies" in got.stdout
    finally:
        git(repo, "checkout", "-q", "--", APP)
    assert git(repo, "status", "--porcelain") == ""


def test_diff_bad_ref_exits_2_and_says_why(repo, env):
    got = run_cli("diff", "no-such-branch", cwd=repo, env=env)
    assert got.returncode == 2
    assert "'no-such-branch' is not a commit of this repository" in got.stderr
    assert "Traceback" not in got.stderr


def test_masking_hides_secret_data_and_credential_values_only():
    from homelab.diff import SecretTagger, masked

    mask = SecretTagger()
    body = {"apiVersion": "v1", "kind": "Secret", "data": {"token": "c2VjcmV0", "other": "c2VjcmV0"},
            # homelab: ignore[secrets/credential] a made-up password the masking test must hide
            "spec": {"adminPassword": "hunter2", "existingSecret": "authentik-env", "passwordSecretName": "x",
                     "apiToken": "${API_TOKEN}", "replicas": 2}}
    got = masked(body, mask)
    assert got["data"] == {"token": mask("c2VjcmV0"), "other": mask("c2VjcmV0")}  # equal values, equal tags
    assert re.fullmatch(r"<masked [0-9a-f]{8}>", got["data"]["token"])
    assert got["spec"] == {"adminPassword": mask("hunter2"), "existingSecret": "authentik-env",
                           "passwordSecretName": "x", "apiToken": "${API_TOKEN}", "replicas": 2}
    assert mask("hunter2") != mask("hunter3")
    assert SecretTagger()("hunter2") != mask("hunter2"), "each run draws its own key"
    assert body["data"]["token"] == "c2VjcmV0", "the tree's own object is never changed"
