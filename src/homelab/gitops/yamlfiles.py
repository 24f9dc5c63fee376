"""Fast, location-aware YAML reading for whole trees: every document's kind/name and start line,
parse errors and duplicate keys, and the line of any nested key on demand.

Uses PyYAML's libyaml composer (C) and never constructs Python objects for the index, so unknown
tags (Ansible's `!vault`, Helm's templated files) do not get in the way, and a thousand files
parse in well under a second.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

try:  # libyaml is part of every PyYAML wheel; the pure-Python loader is a slow fallback
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]


@dataclass(frozen=True)
class DocInfo:
    """One YAML document of a file: where it starts and what Kubernetes object it claims to be."""

    index: int
    line: int                      # 1-based line of the document's first node
    api_version: str | None = None
    kind: str | None = None
    name: str | None = None
    namespace: str | None = None


@dataclass(frozen=True)
class YamlProblem:
    line: int | None
    message: str
    kind: str                      # "syntax" | "duplicate-key"


@dataclass(frozen=True)
class ParsedYaml:
    """The index of one YAML file (cacheable: plain data only)."""

    docs: tuple[DocInfo, ...] = ()
    problems: tuple[YamlProblem, ...] = field(default_factory=tuple)

    def find(self, kind: str | None, name: str | None) -> DocInfo | None:
        """The document declaring `kind`/`name`; by kind alone when unique; else None."""
        exact = [d for d in self.docs if d.kind == kind and d.name == name]
        if exact:
            return exact[0]
        by_kind = [d for d in self.docs if d.kind == kind]
        return by_kind[0] if len(by_kind) == 1 else None


def _scalar(node: yaml.Node | None) -> str | None:
    return node.value if isinstance(node, yaml.ScalarNode) else None


def _get(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return v
    return None


def _duplicates(node: yaml.Node, out: list[YamlProblem]) -> None:
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, yaml.MappingNode):
            seen: dict[str, int] = {}
            for k, v in n.value:
                if isinstance(k, yaml.ScalarNode) and k.tag != "tag:yaml.org,2002:merge" and k.value != "<<":
                    line = k.start_mark.line + 1
                    if k.value in seen:
                        out.append(YamlProblem(line, f"duplicate key '{k.value}' (first defined on line {seen[k.value]})",
                                               "duplicate-key"))
                    else:
                        seen[k.value] = line
                stack.append(v)
        elif isinstance(n, yaml.SequenceNode):
            stack.extend(n.value)


def parse_yaml(text: str) -> ParsedYaml:
    """Index every document of a YAML stream; syntax errors and duplicate keys become problems."""
    docs: list[DocInfo] = []
    problems: list[YamlProblem] = []
    try:
        for i, node in enumerate(yaml.compose_all(text, Loader=_Loader)):
            if node is None:
                continue
            _duplicates(node, problems)
            meta = _get(node, "metadata")
            docs.append(DocInfo(index=i, line=node.start_mark.line + 1, api_version=_scalar(_get(node, "apiVersion")),
                                kind=_scalar(_get(node, "kind")), name=_scalar(_get(meta, "name")),
                                namespace=_scalar(_get(meta, "namespace"))))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = " ".join(x for x in (exc.context, exc.problem) if x) or "invalid YAML"
        problems.append(YamlProblem(mark.line + 1 if mark else None, " ".join(what.split()), "syntax"))
    except yaml.YAMLError as exc:
        problems.append(YamlProblem(None, " ".join(str(exc).split()), "syntax"))
    return ParsedYaml(tuple(docs), tuple(problems))


@lru_cache(maxsize=256)
def _composed(path: str, mtime_ns: int) -> list[yaml.Node | None]:
    try:
        return list(yaml.compose_all(Path(path).read_text(encoding="utf-8"), Loader=_Loader))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return []


def line_of(path: Path, doc_index: int, keys: Sequence[str | int]) -> int | None:
    """1-based line of the deepest existing node on `keys` in document `doc_index` of `path`.

    Composes the file on demand (only findings need nested lines), cached per file version.
    """
    try:
        nodes = _composed(str(path), path.stat().st_mtime_ns)
    except OSError:
        return None
    if not 0 <= doc_index < len(nodes) or nodes[doc_index] is None:
        return None
    node = nodes[doc_index]
    line = node.start_mark.line + 1
    for key in keys:
        if isinstance(node, yaml.MappingNode) and isinstance(key, str):
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.value == key:
                    line, node = k.start_mark.line + 1, v
                    break
            else:
                break
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            break
    return line


def declared_objects(folder: Path) -> Iterator[tuple[Path, DocInfo]]:
    """Every document of every YAML file under `folder` that names a kind, as written (no build).

    Files that do not parse are skipped: `homelab check` reports them.
    """
    files = sorted(p for p in folder.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()) if folder.is_dir() else []
    for path in files:
        try:
            parsed = parse_yaml(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            continue
        for doc in parsed.docs:
            if doc.kind:
                yield path, doc


def load_all(text: str) -> list:
    """Plain Python data of every document (libyaml-backed safe loader)."""
    return [d for d in yaml.load_all(text, Loader=_Loader)]
