"""Small value types used across homelab.yaml: sizes like `8GiB`, DNS labels, address ranges."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any

from pydantic import PlainSerializer, PlainValidator, StringConstraints, WithJsonSchema

_UNITS = {
    "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
    "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40,
}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)\s*$", re.IGNORECASE)
SIZE_PATTERN = r"^\s*\d+(\.\d+)?\s*([KMGTkmgt][iI]?[Bb]|[Bb])\s*$"


class Bytes(int):
    """A byte count that remembers how it was written, for error messages and round trips."""

    text: str

    def __new__(cls, value: int, text: str) -> "Bytes":
        obj = super().__new__(cls, value)
        obj.text = text
        return obj

    @property
    def mib(self) -> int:
        return self // 2**20

    @property
    def gib(self) -> int:
        """Whole GiB, rounded up: Proxmox disk sizes are whole gigabytes."""
        return -(-self // 2**30)


def parse_size(value: Any) -> Bytes:
    if isinstance(value, Bytes):
        return value
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(f"size must be a string with a unit such as '8GiB' or '512MiB', got {value!r}")
    m = _SIZE_RE.match(value)
    if not m:
        raise ValueError(f"'{value}' is not a size; write a number and a unit, e.g. '8GiB', '512MiB', '100GB'")
    number, unit = float(m.group(1)), m.group(2).upper()
    return Bytes(int(number * _UNITS[unit]), value.strip())


Size = Annotated[
    Bytes,
    PlainValidator(parse_size),
    PlainSerializer(lambda b: b.text, return_type=str),
    WithJsonSchema({"type": "string", "pattern": SIZE_PATTERN, "examples": ["8GiB", "512MiB", "100GiB"]}),
]

DNS_LABEL_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
DnsLabel = Annotated[str, StringConstraints(pattern=DNS_LABEL_PATTERN)]
DOMAIN_PATTERN = r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"
Domain = Annotated[str, StringConstraints(pattern=DOMAIN_PATTERN)]
DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
Duration = Annotated[str, StringConstraints(pattern=DURATION_PATTERN)]


class AddressRange:
    """An inclusive IPv4 range written as `a.b.c.d-a.b.c.e` or as a CIDR (MetalLB accepts both)."""

    def __init__(self, text: str):
        self.text = text.strip()
        if "-" in self.text:
            lo, hi = (p.strip() for p in self.text.split("-", 1))
            self.first, self.last = ipaddress.IPv4Address(lo), ipaddress.IPv4Address(hi)
        else:
            net = ipaddress.IPv4Network(self.text, strict=True)
            self.first, self.last = net[0], net[-1]
        if self.first > self.last:
            raise ValueError(f"range '{self.text}' ends before it starts")

    def __contains__(self, addr: object) -> bool:
        return isinstance(addr, ipaddress.IPv4Address) and self.first <= addr <= self.last

    def __iter__(self):
        for i in range(int(self.first), int(self.last) + 1):
            yield ipaddress.IPv4Address(i)

    def __len__(self) -> int:
        return int(self.last) - int(self.first) + 1

    def overlaps(self, other: "AddressRange") -> bool:
        return self.first <= other.last and other.first <= self.last

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"AddressRange({self.text!r})"


def parse_range(value: Any) -> AddressRange:
    if isinstance(value, AddressRange):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a range like '192.168.10.200-192.168.10.220' or a CIDR, got {value!r}")
    try:
        return AddressRange(value)
    except ValueError as exc:
        raise ValueError(f"'{value}' is not an IPv4 range or CIDR ({exc})") from None


Range = Annotated[
    AddressRange,
    PlainValidator(parse_range),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "examples": ["192.168.10.200-192.168.10.220", "192.168.10.192/27"]}),
]
