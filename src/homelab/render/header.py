"""The one header every glue file carries, so people and `homelab check` know not to hand-edit it."""

GENERATED = "generated from homelab.yaml by `homelab render`; do not edit by hand"


def hash_comment(lines: str = "") -> str:
    """A `#`-comment header (YAML, HCL)."""
    return f"# {GENERATED}\n# Edit homelab.yaml, then run `homelab render`.\n" + lines
