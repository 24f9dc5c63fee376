"""infra/*: the Terraform, Ansible and YAML linters, each run when installed (and said so when not).

Optional: they run only with `--infra`, and are excluded from the speed targets.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from homelab import paths, tools
from homelab.checks.context import CheckContext
from homelab.checks.registry import finding, rule
from homelab.findings import Severity


def _find(program: str) -> str | None:
    """On PATH, or beside this Python (the virtualenv homelab runs from, as pre-commit sets it up)."""
    found = tools.which(program)
    if found:
        return found
    beside = Path(sys.executable).parent / program
    return str(beside) if beside.is_file() and os.access(beside, os.X_OK) else None


def _linter(ctx: CheckContext, rule_id: str, program: str) -> str | None:
    """The linter's executable; None, with a note saying the rule was skipped, when it is not installed."""
    exe = _find(program)
    if exe is None:
        ctx.note(f"{rule_id} skipped: {program} is not installed")
    return exe


def _stderr_line(res: tools.Result, fallback: str, *, last: bool = False) -> str:
    lines = res.stderr.strip().splitlines() or [fallback]
    return lines[-1] if last else lines[0]


_HUNK = re.compile(r"^@@ -(\d+)")


def _fmt_diff_starts(diff: str) -> list[tuple[str, int | None]]:
    """(file, first line `terraform fmt` changes) for each file of `terraform fmt -diff` output."""
    out: dict[str, int | None] = {}
    current: str | None = None
    line: int | None = None
    for text in diff.splitlines():
        if text.startswith("--- old/"):
            current, line = text[len("--- old/"):].strip(), None
            out.setdefault(current, None)
        elif current is not None and (m := _HUNK.match(text)):
            line = int(m.group(1))
        elif current is not None and line is not None and out[current] is None:
            if text.startswith(("-", "+")) and not text.startswith(("---", "+++")):
                out[current] = line
            elif text.startswith(" ") or text == "":
                line += 1
    return list(out.items())


@rule("infra/terraform-fmt", "Terraform files are formatted (`terraform fmt`)", optional=True, needs_tree=False)
def terraform_fmt(ctx: CheckContext):
    exe = _linter(ctx, "infra/terraform-fmt", "terraform")
    if exe is None:
        return
    dirs = sorted({rel.rsplit("/", 1)[0] if "/" in rel else "." for rel in ctx.files if rel.endswith((".tf", ".tfvars"))})
    if not dirs:
        ctx.note("infra/terraform-fmt: no .tf files")
    # CHECKPOINT_DISABLE: without it every terraform run asks checkpoint-api.hashicorp.com for a newer
    # release (and writes ~/.terraform.d), which an offline check must not do.
    env = {**os.environ, "CHECKPOINT_DISABLE": "1"}
    for d in dirs:
        res = tools.run([exe, "fmt", "-check", "-diff", "-no-color", d], cwd=ctx.root, timeout=120, env=env)
        for rel, line in _fmt_diff_starts(res.stdout):
            yield finding("infra/terraform-fmt", "not formatted as `terraform fmt` would", rel, line,
                          f"run `terraform fmt {d}`")
        if res.returncode not in (0, 3) and not res.stdout.strip():
            yield finding("infra/terraform-fmt", f"terraform fmt could not parse: {_stderr_line(res, 'terraform fmt failed')}", d, None)


_PARSEABLE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+)(?::\d+)?: (?P<msg>.*)$")
_YAMLLINT_PARSABLE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+):\d+: \[(?P<level>\w+)\] (?P<msg>.*)$")


def _matching_lines(pattern: re.Pattern[str], output: str) -> list[re.Match[str]]:
    """The linter's output lines that match its parseable format, as matches."""
    return [m for line in output.splitlines() if (m := pattern.match(line.strip()))]


@rule("infra/ansible-lint", "Ansible content passes ansible-lint", optional=True, needs_tree=False)
def ansible_lint(ctx: CheckContext):
    exe = _linter(ctx, "infra/ansible-lint", "ansible-lint")
    if exe is None:
        return
    if not (ctx.root / paths.ANSIBLE_DIR).is_dir():
        ctx.note("infra/ansible-lint: no ansible/ folder")
        return
    env = {**os.environ, "PATH": f"{Path(exe).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    res = tools.run([exe, "--offline", "-p", "--nocolor", paths.ANSIBLE_DIR], cwd=ctx.root, timeout=600, env=env)
    hits = _matching_lines(_PARSEABLE, res.stdout)
    for m in hits:
        yield finding("infra/ansible-lint", m.group("msg"), m.group("file"), int(m.group("line")))
    if res.returncode != 0 and not hits:
        yield finding("infra/ansible-lint", f"ansible-lint failed: {_stderr_line(res, 'ansible-lint failed', last=True)}",
                      paths.ANSIBLE_DIR, None)


@rule("infra/yamllint", "YAML files pass yamllint", optional=True, needs_tree=False)
def yamllint(ctx: CheckContext):
    exe = _linter(ctx, "infra/yamllint", "yamllint")
    if exe is None:
        return
    files = [f for f in ctx.files if f.endswith((".yaml", ".yml"))]
    if not files:
        return
    res = tools.run([exe, "-f", "parsable", *files], cwd=ctx.root, timeout=600)
    for m in _matching_lines(_YAMLLINT_PARSABLE, res.stdout):
        sev = Severity.error if m.group("level") == "error" else Severity.warning
        yield finding("infra/yamllint", m.group("msg"), m.group("file"), int(m.group("line")), severity=sev)
