"""YAML loading that remembers where every key came from, so errors can name file:line."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from homelab.errors import HomelabError
from homelab.inputs import read_text, yaml_overrun


def _loader() -> YAML:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False  # a duplicate key is an error, as in every strict YAML tool
    return yaml


class LocatedDoc:
    """A parsed YAML document plus the line of every key and list item in it."""

    def __init__(self, file: str, data: Any):
        self.file = file
        self.data = data

    def line_of(self, path: Sequence[str | int]) -> int | None:
        """1-based line of the deepest node on `path` that exists (the key's own line)."""
        node = self.data
        line = 1 if node is not None else None
        for part in path:
            if isinstance(node, CommentedMap) and part in node:
                line = node.lc.key(part)[0] + 1
                node = node[part]
            elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
                line = node.lc.item(part)[0] + 1
                node = node[part]
            else:
                break
        return line


def _plain(node: Any) -> Any:
    """ruamel's round-trip types → plain dicts/lists/scalars (what pydantic should see)."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, str):
        return str(node)
    if isinstance(node, bool):
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    return node


_PARSED: dict[tuple[str, str, int, int], tuple[LocatedDoc, Any]] = {}


def load_located(path: Path, display: str | None = None) -> tuple[LocatedDoc, Any]:
    """Parse one YAML document; raise HomelabError (file:line) on any syntax problem.

    Parsed once per process per file version: the config and the plan's line lookups share it
    (round-trip parsing is the slow part of every command's start-up). Callers must not mutate it.
    """
    name = display or str(path)
    try:
        st = Path(path).stat()
        key = (str(Path(path).resolve()), name, st.st_mtime_ns, st.st_size)
    except OSError:
        key = None
    if key in _PARSED:
        return _PARSED[key]
    result = _parse(Path(path), name)
    if key is not None:
        _PARSED[key] = result
    return result


def _parse(path: Path, name: str) -> tuple[LocatedDoc, Any]:
    if not path.exists():
        raise HomelabError.single(name, "file not found", hint="create it, or pass --config PATH")
    text = read_text(path, name)
    over = yaml_overrun(text)
    if over:
        raise HomelabError.single(name, over.message, line=over.line, hint="remove the deep nesting or the aliases")
    if not text.strip() or all(l.strip().startswith("#") or not l.strip() for l in text.splitlines()):
        raise HomelabError.single(name, "file is empty", line=1, hint="start from the bundled homelab.yaml")
    try:
        data = _loader().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        what = " ".join(x for x in (exc.context, exc.problem) if x) or "invalid YAML"
        what = " ".join(what.split())
        if exc.context_mark and mark is not exc.context_mark and exc.context_mark.line + 1 != line:
            what += f" (the construct started on line {exc.context_mark.line + 1})"
        raise HomelabError.single(name, f"YAML syntax error: {what}", line=line,
                                  hint="check indentation and quoting on this line") from None
    except YAMLError as exc:
        raise HomelabError.single(name, f"YAML syntax error: {' '.join(str(exc).split())}") from None
    except RecursionError:
        raise HomelabError.single(name, "YAML nested too deeply; not read", line=1) from None
    doc = LocatedDoc(name, data)
    try:
        return doc, _plain(data)
    except RecursionError:
        raise HomelabError.single(name, "YAML nested too deeply; not read", line=1) from None
