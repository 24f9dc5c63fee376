"""`homelab diff` on a temporary Git repository: the bundled tree on `main`, then a branch that
bumps a chart, changes an app's values and a Secret, and drops an object."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from conftest import copy_repo, run_cli

APP = "kubernetes/clusters/homelab/apps/homepage/app"
TRAEFIK = "kubernetes/clusters/homelab/infrastructure/controllers/traefik/app/helmrelease.yaml"
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
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "the bundled tree")
    git(repo, "checkout", "-q", "-b", "bump")
    edit(repo / TRAEFIK, "version: 41.3.0", "version: 41.4.0")
    edit(repo / APP / "helmrelease.yaml", "tag: v1.12.3", "tag: v1.13.0")
    (repo / APP / "secret.yaml").write_text(SECRET.format(value="second-s3cret"))
    edit(repo / APP / "kustomization.yaml", "  - ./ingressroute.yaml\n", "")
    git(repo, "commit", "-q", "-am", "bump traefik and homepage, rotate a secret, drop the route")
    return repo


def test_diff_shows_exactly_the_changed_objects_against_the_merge_base(repo):
    got = run_cli("diff", cwd=repo)
    assert got.returncode == 0, got.stderr
    out = got.stdout
    assert out.startswith("homelab diff: ") and "(merge base with main)" in out
    assert "4 object(s) changed in 2 Flux Kustomization(s)" in out
    changed = sorted(line[2:] for line in out.splitlines() if line[:4] in ("  ~ ", "  + ", "  - "))
    assert [c.split(" (")[0] for c in changed] == [
        "- IngressRoute homepage/homepage", "~ HelmRelease homepage/homepage",
        "~ HelmRelease traefik/traefik", "~ Secret homepage/homepage-extra"]
    assert "chart traefik 41.3.0 -> traefik 41.4.0" in out
    assert re.search(r"^    -\s+password: <masked [0-9a-f]{8}>\n    \+\s+password: <masked [0-9a-f]{8}>$", out, re.M)
    assert re.search(r"^    -\s+tag: v1\.12\.3\n    \+\s+tag: v1\.13\.0$", out, re.M)
    assert "first-s3cret" not in out and "second-s3cret" not in out


def test_diff_markdown_is_fit_for_a_pull_request_comment(repo):
    got = run_cli("diff", "main", "--format", "markdown", cwd=repo)
    assert got.returncode == 0, got.stderr
    out = got.stdout
    assert out.startswith("### `homelab diff` against `")
    assert out.count("<details>") == out.count("</details>") == 2
    assert "```diff\n" in out and re.search(r"^-\s+version: 41\.3\.0\n\+\s+version: 41\.4\.0$", out, re.M)
    assert "s3cret" not in out


def test_diff_against_head_includes_uncommitted_changes_only(repo):
    assert run_cli("diff", "HEAD", cwd=repo).stdout.rstrip().endswith("no changes to the objects Flux applies")
    edit(repo / APP / "configmap.yaml", "\n", "\n# a comment changes no object\n")
    try:
        got = run_cli("diff", "HEAD", cwd=repo)
        assert got.returncode == 0 and "no changes to the objects Flux applies" in got.stdout
    finally:
        git(repo, "checkout", "-q", "--", APP)
    assert git(repo, "status", "--porcelain") == ""


def test_diff_bad_ref_exits_2_and_says_why(repo):
    got = run_cli("diff", "no-such-branch", cwd=repo)
    assert got.returncode == 2
    assert "'no-such-branch' is not a commit of this repository" in got.stderr
    assert "Traceback" not in got.stderr


def test_masking_hides_secret_data_and_credential_values_only():
    from homelab.diff import Masker, masked

    mask = Masker()
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
    assert Masker()("hunter2") != mask("hunter2"), "each run draws its own key"
    assert body["data"]["token"] == "c2VjcmV0", "the tree's own object is never changed"
