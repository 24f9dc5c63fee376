"""Kept for importers of the old name: secret masking lives in `homelab.clients.masking`."""

from homelab.clients.masking import MASK, SECRET_ENV_VARS, Masker

__all__ = ["MASK", "SECRET_ENV_VARS", "Masker"]
