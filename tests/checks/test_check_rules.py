"""Every rule has a fixture under tests/fixtures/check/<rule-id-with-dashes>/: `broken/` files laid
over the clean tree must produce exactly the findings in `expect.yaml` (rule, file, line), and the
clean tree (the mended state) must produce none. kustomize builds and schemas are the real ones."""

from __future__ import annotations

import random
import string
from pathlib import Path

import pytest
import yaml

from check_helpers import FIXTURES, apply_overlay, check, make_repo
from conftest import CHART_MIRROR

CASES = sorted(p.name for p in FIXTURES.iterdir() if (p / "expect.yaml").is_file())


def _token() -> str:
    # built at run time so that no credential-looking string is ever committed
    return "ghp_" + "".join(random.choice(string.ascii_letters + string.digits) for _ in range(36))


@pytest.fixture(scope="module")
def clean_repo(tmp_path_factory) -> Path:
    return make_repo(tmp_path_factory.mktemp("clean") / "repo")


def test_clean_tree_has_no_findings(clean_repo):
    report = check(clean_repo)
    assert report.findings == [], [f"{f.rule} {f.location} {f.message}" for f in report.findings]
    assert report.exit_code == 0
    assert report.stats["kustomizations"] == 9 and report.stats["objects"] > 30


@pytest.mark.parametrize("case", CASES)
def test_rule_fixture_fails_for_its_reason_and_passes_once_mended(case, tmp_path):
    if (case.startswith("helm-") or case.endswith("-rendered")) and not CHART_MIRROR.is_dir():
        pytest.skip(f"the chart mirror {CHART_MIRROR} is absent: the helm/* and *-rendered fixtures need their charts")
    repo = make_repo(tmp_path / "repo")
    expect = yaml.safe_load((FIXTURES / case / "expect.yaml").read_text())["findings"]
    changed = apply_overlay(repo, FIXTURES / case / "broken", {"@GITHUB_TOKEN@": _token()})

    report = check(repo)
    got = sorted((f.rule, f.file, f.line) for f in report.findings)
    want = sorted((e["rule"], e["file"], e["line"]) for e in expect)
    assert got == want, "\n".join(f"{f.rule} {f.location}: {f.message}" for f in report.findings)
    assert report.exit_code == (0 if all(f.severity.value == "info" for f in report.findings) else 1)
    assert all(f.message and f.hint for f in report.findings)

    # mend: put the clean files back (and drop files the fixture added); everything passes again
    clean = make_repo(tmp_path / "clean")
    for rel in changed:
        if (clean / rel).exists():
            (repo / rel).write_text((clean / rel).read_text())
        else:
            (repo / rel).unlink()
    if "homelab.yaml" in changed:  # keep the glue in step with the restored homelab.yaml
        from homelab.config import load_config
        from homelab.render import render_all, write
        write(render_all(load_config(repo / "homelab.yaml")), repo)
    mended = check(repo)
    assert mended.findings == [], [f"{f.rule} {f.location} {f.message}" for f in mended.findings]


def test_cold_start_names_the_provider_and_the_chain_that_fails(tmp_path):
    repo = make_repo(tmp_path / "repo")
    apply_overlay(repo, FIXTURES / "flux-cold-start-without-wait" / "broken")
    msgs = [f.message for f in check(repo, select=["flux/cold-start"]).findings]
    route = next(m for m in msgs if m.startswith("first reconcile fails: IngressRoute homepage/homepage"))
    assert "needs CRD traefik.io/IngressRoute" in route
    assert "flux-system/traefik installs it via a HelmRelease but has neither `wait: true` nor a health check" in route


def test_a_health_check_on_the_helmrelease_orders_as_well_as_wait(tmp_path):
    repo = make_repo(tmp_path / "repo")
    ks = repo / "kubernetes/clusters/homelab/infrastructure/controllers/traefik/ks.yaml"
    ks.write_text(ks.read_text().replace(
        "  wait: true\n",
        "  healthChecks:\n    - apiVersion: helm.toolkit.fluxcd.io/v2\n      kind: HelmRelease\n"
        "      name: traefik\n      namespace: traefik\n"))
    assert check(repo, select=["flux/cold-start"]).findings == []
