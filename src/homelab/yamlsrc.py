"""Kept for importers of the old name: homelab.yaml's located loading lives in `homelab.yamlio`."""

from homelab.yamlio import LocatedDoc, load_located

__all__ = ["LocatedDoc", "load_located"]
