"""The pre-commit hook manifest and this repository's pre-commit config are valid for pre-commit,
and the hook runs `homelab check` on the whole repository."""

from __future__ import annotations

import pytest
import yaml

from conftest import ROOT


def test_hook_manifest_and_config_are_valid_pre_commit_files():
    clientlib = pytest.importorskip("pre_commit.clientlib", reason="pre-commit is not installed")
    hooks = clientlib.load_manifest(str(ROOT / ".pre-commit-hooks.yaml"))
    assert {h["id"] for h in hooks} == {"homelab-check", "homelab-check-infra"}
    main = next(h for h in hooks if h["id"] == "homelab-check")
    assert main["entry"] == "homelab check" and main["pass_filenames"] is False and main["always_run"] is True
    config = clientlib.load_config(str(ROOT / ".pre-commit-config.yaml"))
    used = {h["id"] for r in config["repos"] for h in r["hooks"]}
    assert used == {h["id"] for h in hooks}


def test_the_infra_hook_runs_at_push_time_only():
    hooks = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    assert hooks["homelab-check-infra"]["stages"] == ["pre-push"]
    assert "--infra" in hooks["homelab-check-infra"]["entry"]
