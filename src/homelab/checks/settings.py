"""Repository settings for the checks, read from `[tool.homelab.check]` in pyproject.toml.

Shared by `homelab check` and the check summary in `homelab plan`, so both run the same checks."""

from __future__ import annotations

from pathlib import Path

from homelab.errors import HomelabError


def configured_excludes(root: Path) -> tuple[str, ...]:
    """`[tool.homelab.check] exclude = [...]` in the repository's pyproject.toml, if any."""
    import tomllib

    p = root / "pyproject.toml"
    if not p.is_file():
        return ()
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise HomelabError.single(str(p), f"cannot read [tool.homelab.check]: {exc}") from None
    ex = data.get("tool", {}).get("homelab", {}).get("check", {}).get("exclude", [])
    if not isinstance(ex, list) or not all(isinstance(x, str) for x in ex):
        raise HomelabError.single(str(p), "[tool.homelab.check] exclude must be a list of glob strings")
    return tuple(ex)
