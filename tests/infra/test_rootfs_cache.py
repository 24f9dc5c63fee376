"""The real-host tests' rootfs cache: one rootfs per suite, and none taken or replaced for another.

scripts/build-test-rootfs is run for real on directories that stand in for built rootfs (only
their marker file matters to the cache check, which runs before anything needs root).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conftest import ROOT
from hosts import lab

BUILD = ROOT / "scripts" / "build-test-rootfs"


def _built(path: Path, marker: str) -> Path:
    path.mkdir(parents=True)
    (path / lab.ROOTFS_MARKER).write_text(marker + "\n")
    (path / "etc").mkdir()
    return path


def _key(suite: str) -> str:
    """The cache key (suite and package list) the builder records for `suite`."""
    return subprocess.run([str(BUILD), "--key", suite], capture_output=True, text=True, check=True,
                          timeout=30).stdout.strip()


def test_each_suite_has_its_own_rootfs_under_the_cache_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOMELAB_TEST_ROOTFS", str(tmp_path))
    assert lab.rootfs_path("bookworm") == tmp_path / "rootfs-bookworm"
    assert lab.rootfs_path("trixie") == tmp_path / "rootfs-trixie"
    with pytest.raises(ValueError, match="unknown test host suite 'jammy'"):
        lab.rootfs_path("jammy")


def test_variable_naming_one_built_rootfs_means_its_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    trixie = _built(tmp_path / "rootfs-trixie", _key("trixie"))
    monkeypatch.setenv("HOMELAB_TEST_ROOTFS", str(trixie))
    assert lab.rootfs_path("bookworm") == tmp_path / "rootfs-bookworm"
    assert lab.rootfs_path("trixie") == trixie


def test_builder_never_replaces_another_suites_rootfs(tmp_path: Path) -> None:
    trixie = _built(tmp_path / "rootfs-trixie", _key("trixie"))
    result = subprocess.run([str(BUILD), "bookworm", str(trixie)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "holds a trixie rootfs, not bookworm" in result.stderr
    assert (trixie / "etc").is_dir() and (trixie / lab.ROOTFS_MARKER).read_text().startswith("trixie ")


def test_builder_accepts_a_rootfs_of_its_suite_and_package_list(tmp_path: Path) -> None:
    for suite in lab.SUITES:
        built = _built(tmp_path / f"rootfs-{suite}", _key(suite))
        result = subprocess.run([str(BUILD), suite, str(built)], capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 0 and "is ready" in result.stdout, result.stdout + result.stderr
    assert "multipath-tools" in _key("trixie") and "multipath-tools" not in _key("bookworm")


def test_builder_rejects_an_unknown_suite(tmp_path: Path) -> None:
    result = subprocess.run([str(BUILD), "jammy", str(tmp_path / "x")], capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 2 and "unknown suite 'jammy'" in result.stderr
    assert not (tmp_path / "x").exists()
