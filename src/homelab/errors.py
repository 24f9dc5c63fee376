"""Bad input stops a command: `HomelabError` carries the Findings the CLI prints, exit code 2.

A `Problem` is a `Finding` (one type, see `homelab.findings`): an input error located as
precisely as we can. Config rules report Findings; `load_config` raises the error ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from homelab.findings import Finding, Severity

Problem = Finding

# Usage errors and unreadable inputs outside any rule (a missing file, a bad option) carry this id.
INPUT_INVALID = "input/invalid"


def problem(file: str, message: str, *, line: int | None = None, path: str = "", hint: str = "",
            rule: str = INPUT_INVALID) -> Finding:
    return Finding(rule=rule, severity=Severity.error, message=message, file=file, line=line, hint=hint, key=path)


@dataclass
class HomelabError(Exception):
    """Bad input or a usage error: reported without a traceback, exit code 2."""

    problems: list[Finding] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)

    @classmethod
    def single(cls, file: str, message: str, *, line: int | None = None, path: str = "", hint: str = "",
               rule: str = INPUT_INVALID) -> "HomelabError":
        return cls([problem(file, message, line=line, path=path, hint=hint, rule=rule)])
