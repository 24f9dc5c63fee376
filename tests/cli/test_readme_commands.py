"""The README's command table is generated from the CLI itself (its commands, arguments, options
and help), so it cannot drift from `--help`. After changing a command, refresh it with
`HOMELAB_UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/cli/test_readme_commands.py`."""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterator

import click
from click.testing import CliRunner

from conftest import ROOT, UPDATE_SNAPSHOTS

README = ROOT / "README.md"
BEGIN = "<!-- commands: generated from the CLI by tests/cli/test_readme_commands.py -->"
END = "<!-- /commands -->"
# Options every command has; the README says so once, below the table.
COMMON = {"help", "version"}


def _leaves(group: click.Group, ctx: click.Context, path: str) -> Iterator[tuple[str, click.Command]]:
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        assert cmd is not None
        if isinstance(cmd, click.Group):
            yield from _leaves(cmd, click.Context(cmd, parent=ctx, info_name=name), f"{path} {name}")
        else:
            yield f"{path} {name}", cmd


def _metavar(p: click.Parameter) -> str:
    if p.metavar:
        return p.metavar
    t = p.type
    if isinstance(t, click.Choice):
        return "|".join(map(str, t.choices))
    if isinstance(t, click.Path):
        return "DIR" if not t.file_okay else "FILE"
    if isinstance(t, (click.types.IntParamType, click.IntRange)):
        return "N"
    return (p.name or "").upper()


def _usage(path: str, cmd: click.Command) -> str:
    parts = [path]
    for p in cmd.params:
        if isinstance(p, click.Argument):
            parts.append(_metavar(p) if p.required else f"[{_metavar(p)}]")
        elif isinstance(p, click.Option) and p.name not in COMMON and not p.hidden:
            # An on/off flag that is on by default is written as its "off" form (`--no-check`).
            opts = p.secondary_opts if p.is_flag and p.secondary_opts and p.default else p.opts
            flag = min(opts, key=len) if len(min(opts, key=len)) == 2 else max(opts, key=len)
            shown = flag if p.is_flag else f"{flag} {_metavar(p)}"
            parts.append(shown if p.required else f"[{shown}]")
    return " ".join(parts)


def _summary(cmd: click.Command) -> str:
    first = (cmd.help or "").split("\n\n", 1)[0]
    return " ".join(first.split())


def generated_table() -> str:
    from homelab.cli import cli

    ctx = click.Context(cli, info_name="homelab")
    cell = lambda text: text.replace("|", "\\|")  # noqa: E731  (a `|` inside a Markdown table cell)
    rows = [f"| `{cell(_usage(path, cmd))}` | {cell(_summary(cmd))} |" for path, cmd in _leaves(cli, ctx, "homelab")]
    return "\n".join(["| Command | What it does |", "|---|---|", *rows])


def _readme_section() -> tuple[str, str, str]:
    text = README.read_text(encoding="utf-8")
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[:start], text[start:end].strip("\n"), text[end:]


def test_readme_command_table_is_the_one_the_cli_generates():
    before, table, after = _readme_section()
    want = generated_table()
    if os.environ.get(UPDATE_SNAPSHOTS) == "1":
        README.write_text(f"{before}\n{want}\n{after}", encoding="utf-8")
        return
    assert table == want, (f"README.md's command table differs from the CLI; refresh it with "
                           f"`{UPDATE_SNAPSHOTS}=1 .venv/bin/python -m pytest tests/cli/test_readme_commands.py`")


def test_every_option_in_the_table_is_one_that_help_shows():
    """The same table read the other way: each option written in it appears in that command's --help."""
    from homelab.cli import cli

    _, table, _ = _readme_section()
    for line in table.splitlines()[2:]:
        usage = line.split("`")[1]
        command = list(itertools.takewhile(lambda w: re.fullmatch(r"[a-z]+", w), usage.split()[1:]))
        helptext = CliRunner().invoke(cli, [*command, "--help"]).output
        for opt in re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", usage):
            assert re.search(rf"(?<![\w-]){re.escape(opt)}\b", helptext), (usage, opt)
        if "--image REPO:TAG" in usage:
            assert "[--image" not in usage, "--image is required and must not be shown as optional"
