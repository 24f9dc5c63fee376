"""Kubernetes resource quantities (`500m`, `1.5`, `128Mi`, `1G`) and Go durations (`2160h`).

Small on purpose: the `kubernetes` client has `parse_quantity`, but importing it costs more than
half a second, and `homelab plan` must finish in under one.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_SUFFIX: dict[str, Decimal | int] = {
    "": 1, "m": Decimal("0.001"), "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
}
_QTY = re.compile(r"^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?\s*$")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|m|s|ms)")


def quantity(value: object) -> Decimal | None:
    """The value of a quantity, or None when it is not one (e.g. an unresolved `${VAR}`)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    m = _QTY.match(str(value))
    if not m:
        return None
    try:
        return Decimal(m.group(1)) * _SUFFIX[m.group(2) or ""]
    except InvalidOperation:
        return None


def cpu_millis(value: object) -> int:
    q = quantity(value)
    return int(q * 1000) if q is not None else 0


def bytes_(value: object) -> int:
    q = quantity(value)
    return int(q) if q is not None else 0


def duration_days(value: object) -> float | None:
    """A Go duration such as `2160h` or `720h0m0s` in days; None when absent or not a duration."""
    if not isinstance(value, str) or not value or _DURATION.sub("", value):
        return None
    secs = sum(float(n) * {"h": 3600, "m": 60, "s": 1, "ms": 0.001}[u] for n, u in _DURATION.findall(value))
    return secs / 86400
