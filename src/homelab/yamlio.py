"""All YAML reading, with locations: one line locator (`line_in`) for homelab.yaml and the Flux tree.

- **Whole trees** (`parse_yaml`, `line_of`, `load_all`): PyYAML's libyaml composer (C). The index
  never constructs Python objects, so unknown tags (Ansible's `!vault`, Helm's templated files) do
  not get in the way, and a thousand files parse in well under a second.
- **homelab.yaml** (`load_located`): values come from ruamel.yaml, which follows YAML 1.2 (so
  `no`, `on` and `0755` stay what a person wrote rather than YAML 1.1's booleans and octals) and
  rejects duplicate keys; lines come from the same libyaml node walk the tree uses.
Writers dump YAML with ruamel.yaml (`dump`), which keeps the layout the glue files have;
`canonical` is PyYAML's fast sorted dump, for comparing and fingerprinting data (diffs, build keys).

Every reader is bounded (`homelab.inputs`): an oversized file, YAML nested too deep or an alias
bomb is one problem with its line, never expanded.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from homelab.errors import HomelabError
from homelab.inputs import _Loader, read_text, size_overrun, yaml_overrun


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
    kind: str                      # "syntax" | "duplicate-key" | "limit"


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
    over = yaml_overrun(text)
    if over:
        return ParsedYaml((), (YamlProblem(over.line, over.message, "limit"),))
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
        if size_overrun(Path(path).stat().st_size):
            return []
        text = Path(path).read_text(encoding="utf-8")
        return [] if yaml_overrun(text) else list(yaml.compose_all(text, Loader=_Loader))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return []


def line_in(node: yaml.Node, keys: Sequence[str | int], top: int | None = None) -> int:
    """1-based line of the deepest existing node on `keys` below `node` (a key's own line; a list
    item's first line); `top` (default: the node's own line) when not even the first key exists.
    The one line locator: homelab.yaml and the Flux tree both use it."""
    line = node.start_mark.line + 1 if top is None else top
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


def line_of(path: Path, doc_index: int, keys: Sequence[str | int]) -> int | None:
    """1-based line of the deepest existing node on `keys` in document `doc_index` of `path`.

    Composes the file on demand (only findings need nested lines), cached per file version.
    """
    try:
        nodes = _composed(str(path), path.stat().st_mtime_ns)
    except OSError:
        return None
    node = nodes[doc_index] if 0 <= doc_index < len(nodes) else None
    return None if node is None else line_in(node, keys)


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


ParseError = yaml.YAMLError  # what `load` and `load_all` raise for text that is not YAML


def load(text: str) -> Any:
    """Plain Python data of a single-document stream (libyaml-backed safe loader); None for a
    stream over the limits; raises yaml.YAMLError."""
    return None if yaml_overrun(text) else yaml.load(text, Loader=_Loader)


def load_all(text: str) -> list[Any]:
    """Plain Python data of every document (libyaml-backed safe loader); [] for a stream over the limits."""
    return [] if yaml_overrun(text) else [d for d in yaml.load_all(text, Loader=_Loader)]


class _ManifestLoader(_Loader):
    """The safe loader for rendered manifests: YAML 1.1 resolves a plain `=` to the `value` tag, which
    PyYAML cannot construct (Prometheus' CRDs carry `- =` in an enum); it is the string `=`."""


def _value_as_string(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    return loader.construct_scalar(node) if isinstance(node, yaml.ScalarNode) else None


_ManifestLoader.add_constructor("tag:yaml.org,2002:value", _value_as_string)


def load_manifests(text: str) -> list[Any]:
    """Plain data of every document of one rendered manifest (libyaml; `=` is a string)."""
    return [d for d in yaml.load_all(text, Loader=_ManifestLoader)]


# -- homelab.yaml: YAML 1.2 values, libyaml lines ------------------------------------------------

class LocatedDoc:
    """A parsed YAML document plus the line of every key and list item in it."""

    def __init__(self, file: str, node: yaml.Node | None):
        self.file = file
        self._node = node

    def line_of(self, path: Sequence[str | int]) -> int | None:
        """1-based line of the deepest node on `path` that exists (the key's own line); 1 when none does."""
        if self._node is None:
            return None
        return line_in(self._node, path, top=1)


def _values_loader() -> YAML:
    loader = YAML(typ="safe")
    loader.allow_duplicate_keys = False  # a duplicate key is an error, as in every strict YAML tool
    return loader


_PARSED: dict[tuple[str, str, int, int], tuple[LocatedDoc, Any]] = {}


def load_located(path: Path, display: str | None = None) -> tuple[LocatedDoc, Any]:
    """Parse one YAML document; raise HomelabError (file:line) on any syntax problem.

    Parsed once per process per file version: the config and the plan's line lookups share it.
    Callers must not mutate the data.
    """
    name = display or str(path)
    try:
        st = Path(path).stat()
        key: tuple[str, str, int, int] | None = (str(Path(path).resolve()), name, st.st_mtime_ns, st.st_size)
    except OSError:
        key = None
    if key is not None and key in _PARSED:
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
    if not text.strip() or all(ln.strip().startswith("#") or not ln.strip() for ln in text.splitlines()):
        raise HomelabError.single(name, "file is empty", line=1, hint="start from the bundled homelab.yaml")
    try:
        data = _values_loader().load(text)
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
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError:  # valid YAML 1.2 that libyaml (1.1) rejects: values without lines
        node = None
    return LocatedDoc(name, node), _plain(data)


def _plain(node: Any) -> Any:
    """Loaded values as plain dicts, lists and scalars (what pydantic should see)."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


# -- writing -----------------------------------------------------------------------------------

def flow(mapping: dict[str, Any]) -> dict[str, Any]:
    """`mapping`, to be written on one line (`{a: 1, b: 2}`) by `dump`."""
    cm = CommentedMap(mapping)
    cm.fa.set_flow_style()
    return cm


def dump(data: Any, *, indent_lists: bool = False) -> str:
    """Block-style YAML, one value per line however long; `indent_lists` indents list items under
    their key (what yamllint and ansible-lint expect in Ansible files)."""
    out = YAML()
    out.default_flow_style = False
    out.width = 4096
    if indent_lists:
        out.indent(mapping=2, sequence=4, offset=2)
    buf = io.StringIO()
    out.dump(data, buf)
    return buf.getvalue()


def canonical(data: Any) -> str:
    """Block-style YAML with sorted keys (PyYAML's safe dumper, in C where available): the same data
    always gives the same text. For comparing and fingerprinting, not for files a person edits."""
    dumped: str = yaml.safe_dump(data, sort_keys=True, default_flow_style=False, width=120)
    return dumped
