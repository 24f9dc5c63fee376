"""`homelab charts pull` on the bundled tree, against `../shared/charts` served on loopback."""

from __future__ import annotations

from pathlib import Path

from conftest import copy_repo, run_cli

AUTHENTIK = "kubernetes/clusters/homelab/infrastructure/controllers/authentik/app/helmrelease.yaml"


def _env(tmp_path: Path, mirror: str) -> dict[str, str]:
    return {"HOMELAB_CACHE_DIR": str(tmp_path / "user-cache"), "HOMELAB_CHART_MIRROR": mirror}


def test_pull_fetches_every_chart_once_and_lists_what_is_missing(chart_server, tmp_path):
    env = _env(tmp_path, chart_server.url)
    first = run_cli("charts", "pull", env=env)
    assert first.returncode == 1, first.stderr
    # authentik 2026.8.0 is pinned by the tree and absent from the mirror
    assert "missing  authentik 2026.8.0 (https://charts.goauthentik.io) for authentik/authentik: " \
           "mirror: " in first.stdout
    assert "has no authentik-2026.8.0" in first.stdout
    assert "fetched  traefik 41.3.0 (https://traefik.github.io/charts) from " in first.stdout
    assert first.stdout.rstrip().endswith("12 chart(s): 0 already cached, 11 fetched, 1 unavailable")
    archives = [r for r in chart_server.requests if r.endswith(".tgz")]
    assert len(archives) == 11

    seen = len(chart_server.requests)
    again = run_cli("charts", "pull", env=env)
    assert again.returncode == 1
    assert again.stdout.rstrip().endswith("12 chart(s): 11 already cached, 0 fetched, 1 unavailable")
    # the second run asks only for what is still missing: the index that lacks authentik
    assert chart_server.requests[seen:] == ["/charts.goauthentik.io/index.yaml"]


def test_pull_offline_makes_no_request(chart_server, tmp_path):
    got = run_cli("charts", "pull", "--offline", env=_env(tmp_path, chart_server.url))
    assert got.returncode == 1
    assert chart_server.requests == []
    assert "12 chart(s): 0 already cached, 0 fetched, 12 unavailable" in got.stdout
    assert "not in the cache, and offline" in got.stdout


def test_pull_exits_0_when_every_chart_is_had(chart_server, tmp_path):
    repo = copy_repo(tmp_path / "repo", "kubernetes")
    release = repo / AUTHENTIK
    text = release.read_text()
    assert "version: 2026.8.0" in text
    release.write_text(text.replace("version: 2026.8.0", "version: 2026.2.3"))  # the release the mirror has
    got = run_cli("charts", "pull", cwd=repo, env=_env(tmp_path, chart_server.url))
    assert got.returncode == 0, got.stdout + got.stderr
    assert got.stdout.rstrip().endswith("12 chart(s): 0 already cached, 12 fetched, 0 unavailable")
