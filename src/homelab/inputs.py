"""Reading files the tool does not control (homelab.yaml, the Flux tree, recorded status, state) within bounds.

Every reader of such a file goes through here, so a hostile or broken file ends in one clear
problem with its line instead of a hang, a memory blow-up, a crash of libyaml or a traceback:

- a file larger than `MAX_FILE_BYTES` is not parsed at all;
- YAML nested deeper than `MAX_DEPTH` is refused before any composer sees it (libyaml's composer
  recurses in C and crashes the process on a few ten thousand levels);
- YAML whose aliases expand to more than `ALIAS_NODES` extra nodes (and more than the document
  itself) is refused, which is what stops a "billion laughs" document: parsed, it is small, but
  every reader that walks it expands it;
- bytes that are not UTF-8 are reported by line, JSON errors by line.

The YAML screen reads libyaml's parser events (iterative, no node graph) and only for a file that
could exceed a limit at all: one with an anchor, many brackets or deep indentation.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from homelab.errors import HomelabError

try:  # libyaml is part of every PyYAML wheel; the pure-Python parser is a slow fallback
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

MAX_FILE_BYTES = 8 * 1024 * 1024  # far above any manifest: the API server refuses objects over 1.5 MiB
MAX_DEPTH = 200                   # deepest CRD schemas nest a few dozen levels
ALIAS_NODES = 100_000             # extra nodes aliases may add (and at most as many as the document has)

# Anything that could take a document past a limit: an anchor (aliases need one), a run of flow
# brackets or block dashes, or a line indented further than the depth limit allows without them.
_SCREEN = re.compile(r"&|^[ \t]{%d,}|(?:[-?:][ \t]+){40}" % MAX_DEPTH, re.M)
_BRACKETS_SCREEN = MAX_DEPTH // 2


@dataclass(frozen=True)
class Overrun:
    """A file that exceeds a limit: the line where it does, and what to tell the user."""

    line: int | None
    message: str


def size_overrun(size: int) -> Overrun | None:
    if size <= MAX_FILE_BYTES:
        return None
    return Overrun(1, f"file is {size / 2**20:.1f} MiB, over the {MAX_FILE_BYTES // 2**20} MiB limit "
                      "(the Kubernetes API refuses objects over 1.5 MiB); not read")


def yaml_overrun(text: str) -> Overrun | None:
    """The first limit a YAML stream exceeds (nesting depth, alias expansion), or None.

    Syntax errors are left to the real parser: this screen returns None for them.
    """
    if not _SCREEN.search(text) and text.count("[") + text.count("{") < _BRACKETS_SCREEN:
        return None
    stack: list[list[Any]] = []       # per open collection: [nodes so far, its anchor]
    sizes: dict[str, int] = {}        # expanded size of each anchored node
    doc_nodes = expanded = 0
    try:
        for ev in yaml.parse(text, Loader=_Loader):
            if isinstance(ev, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                stack.append([0, ev.anchor])
                if len(stack) > MAX_DEPTH:
                    return Overrun(ev.start_mark.line + 1, f"YAML nested more than {MAX_DEPTH} levels deep; not read")
                continue
            if isinstance(ev, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                count, anchor = stack.pop()
                size = count + 1
                doc_nodes += 1
            elif isinstance(ev, yaml.ScalarEvent):
                size, anchor = 1, ev.anchor
                doc_nodes += 1
            elif isinstance(ev, yaml.AliasEvent):
                size, anchor = sizes.get(ev.anchor or "", 1), None
                expanded += size
                if expanded > max(ALIAS_NODES, doc_nodes):
                    return Overrun(ev.start_mark.line + 1,
                                   f"YAML aliases expand to more than {max(ALIAS_NODES, doc_nodes):,} nodes "
                                   "(an alias bomb); not read")
            elif isinstance(ev, yaml.DocumentStartEvent):
                sizes, doc_nodes, expanded = {}, 0, 0
                continue
            else:
                continue
            if anchor:
                sizes[anchor] = size
            if stack:
                stack[-1][0] += size
    except yaml.YAMLError:
        return None
    return None


def _line_at(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def read_text(path: Path, display: str | None = None, *, hint: str = "") -> str:
    """The UTF-8 text of an input file, or a HomelabError naming the file (and line) and what is wrong."""
    name = display or str(path)
    try:
        if path.is_dir():
            raise HomelabError.single(name, "is a directory, not a file", hint=hint or "remove or rename it")
        size = path.stat().st_size
        over = size_overrun(size)
        if over:
            raise HomelabError.single(name, over.message, line=over.line, hint=hint)
        data = path.read_bytes()
    except FileNotFoundError:
        raise HomelabError.single(name, "file not found", hint=hint) from None
    except OSError as exc:
        raise HomelabError.single(name, f"cannot read file: {exc.strerror or exc}", hint=hint) from None
    return decode(data, name)


def decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HomelabError.single(name, f"byte 0x{data[exc.start]:02x} is not UTF-8 text",
                                  line=_line_at(data, exc.start),
                                  hint="save the file as UTF-8 (and remove binary data from it)") from None


def load_json(path: Path, display: str | None = None, *, hint: str = "") -> Any:
    """Parsed JSON of an input file, or a HomelabError with its file and line."""
    name = display or str(path)
    text = read_text(path, name, hint=hint)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise HomelabError.single(name, f"not valid JSON: {exc.msg}", line=exc.lineno,
                                  hint=hint or "fix or remove the file") from None
    except RecursionError:
        raise HomelabError.single(name, "JSON nested too deeply; not read", line=1, hint=hint) from None


def json_line(text: str, *keys: str) -> int | None:
    """Line of the last of `keys` in pretty-printed JSON, each searched after the previous one."""
    pos = 0
    for key in keys:
        found = text.find(json.dumps(key) + ":", pos)
        if found < 0:
            return None
        pos = found
    return text.count("\n", 0, pos) + 1
