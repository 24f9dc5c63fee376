"""homelab: the glue and the brain of a homelab that is entirely code."""

__version__ = "0.1.0"
