"""Where the tool keeps what it may recompute or download again: the user's cache folder.

`${XDG_CACHE_HOME:-~/.cache}/homelab`, or `HOMELAB_CACHE_DIR` when set (a site-wide cache, or a
test's scratch folder). Nothing here is ever needed for correctness: deleting it costs time only.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "HOMELAB_CACHE_DIR"


def user_cache_dir(*parts: str) -> Path:
    """The folder `parts` under the user's homelab cache (not created)."""
    base = os.environ.get(CACHE_ENV)
    if not base:
        base = str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "homelab")
    return Path(base).joinpath(*parts)
