"""The CLI surface: --version, --help on every command, and the interim plan."""

from __future__ import annotations

import click
import pytest

from homelab import __version__
from homelab.cli import cli

from conftest import run_cli


def test_version():
    res = run_cli("--version")
    assert res.returncode == 0 and __version__ in res.stdout


@pytest.mark.parametrize("command", cli.list_commands(click.Context(cli)))
def test_every_command_has_help(command):
    res = run_cli(command, "--help")
    assert res.returncode == 0, res.stderr
    assert "Usage:" in res.stdout and len(res.stdout.splitlines()) > 3


def test_plan_on_the_bundled_config_succeeds():
    # --no-check: `homelab check` findings have their own tests (tests/checks/test_check*.py, tests/plan/test_plan.py)
    res = run_cli("plan", "--no-check")
    assert res.returncode == 0, res.stderr
    assert "pve2" in res.stdout


def test_every_command_module_is_listed_and_loads():
    names = cli.list_commands(click.Context(cli))
    assert {"check", "plan", "inventory", "new", "up", "status", "destroy", "render", "schema", "validate"} <= set(names)
    for name in names:
        assert isinstance(cli.get_command(click.Context(cli), name), click.Command), name


def test_unknown_command_is_a_usage_error():
    res = run_cli("frobnicate")
    assert res.returncode == 2 and "Traceback" not in res.stderr
