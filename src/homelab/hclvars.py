"""Cross-checks between the hand-written HCL (terraform/, packer/ubuntu-2404/) and the rendered glue.

`terraform validate` and `packer validate` need the provider and plugin binaries; these checks
need only the files, so they run everywhere. They catch what the tools themselves let through or
only catch late: a glue value for a variable nobody declared (Terraform merely warns, and the value
is silently unused), a declared variable without default that the glue does not set, a `var.x`
reference to an undeclared variable, and a K3s node whose Proxmox host is missing or unknown.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2
from lark import Token, Tree

from homelab import paths
from homelab.findings import Finding
from homelab.inputs import json_line
from homelab.registry import declare, finding

TERRAFORM_DIR = paths.TERRAFORM_DIR
TFVARS = paths.TFVARS
PACKER_DIR = paths.PACKER_DIR
PKRVARS = paths.PKRVARS

declare("hcl/parse-error", "the HCL and the rendered variables files parse", reported_by="check")
for _kind in ("terraform", "packer"):
    declare(f"{_kind}/undeclared-variable", f"every value the rendered glue sets is a declared {_kind} variable",
            reported_by="check")
    declare(f"{_kind}/unset-variable", f"every {_kind} variable without a default is set by the rendered glue",
            reported_by="check")
    declare(f"{_kind}/undeclared-reference", f"every var.x in the {_kind} files refers to a declared variable",
            reported_by="check")
declare("terraform/node-without-placement", "every K3s node in the Terraform variables is placed on a known Proxmox host",
        reported_by="check")

# Keys HCL's JSON syntax treats as comments, and python-hcl2's own bookkeeping keys.
_NOT_VALUES = {"//", "__comments__", "__inline_comments__"}
_VAR_REF = re.compile(r"\bvar\.([A-Za-z_][A-Za-z0-9_-]*)")


@dataclass(frozen=True)
class Variable:
    name: str
    required: bool  # declared without a default
    file: str
    line: int | None


def _unquote(label: str) -> str:
    return label[1:-1] if len(label) >= 2 and label[0] == label[-1] == '"' else label


@dataclass(frozen=True)
class Hcl:
    """A parsed HCL file: its values as python-hcl2 gives them, its text, and where each top-level
    attribute (`name`) and block (`type.label`, e.g. `variable.nodes`) starts."""

    data: dict[str, Any]
    text: str
    lines: dict[str, int]


def _label(node: Tree | Token) -> str:
    return "".join(str(t) for t in node.scan_values(lambda _: True)) if isinstance(node, Tree) else str(node)


def _top_level_lines(tree: Tree) -> dict[str, int]:
    """Lines from the parser's own positions: `attribute` and `block` nodes of the file's body."""
    lines: dict[str, int] = {}
    body = next((c for c in tree.children if isinstance(c, Tree) and c.data == "body"), None)
    for node in body.children if body is not None else ():
        if not isinstance(node, Tree) or node.data not in ("attribute", "block"):
            continue
        name, *rest = node.children
        key = _label(name)
        if node.data == "block":
            labels = [_unquote(_label(c)) for c in rest if isinstance(c, Tree) and c.data in ("string", "identifier")]
            key = ".".join([key, *labels])
        lines.setdefault(key, node.meta.line)
    return lines


def _parse_hcl(path: Path, rel: str, findings: list[Finding]) -> Hcl | None:
    text = path.read_text(encoding="utf-8")
    try:
        tree = hcl2.parses_to_tree(text)
        return Hcl(hcl2.serialize(hcl2.transform(tree)), text, _top_level_lines(tree))
    except Exception as exc:  # python-hcl2 raises lark's exceptions, which share no useful base with ours
        findings.append(finding("hcl/parse-error", f"not valid HCL: {str(exc).splitlines()[0]}",
                                rel, getattr(exc, "line", None), "fix the syntax; `terraform fmt` points at it too"))
        return None


def declared_variables(root: Path, folder: str, suffix: str, findings: list[Finding]) -> tuple[dict[str, Variable], dict[str, str]]:
    """Variables declared in `folder/*suffix` and the text of each file (for reference checks)."""
    variables: dict[str, Variable] = {}
    texts: dict[str, str] = {}
    for path in sorted((root / folder).glob(f"*{suffix}")):
        rel = f"{folder}/{path.name}"
        parsed = _parse_hcl(path, rel, findings)
        if parsed is None:
            continue
        texts[rel] = parsed.text
        for block in parsed.data.get("variable", []):
            for label, body in block.items():
                name = _unquote(label)
                variables[name] = Variable(name, "default" not in body, rel, parsed.lines.get(f"variable.{name}"))
    return variables, texts


def _check_values(kind: str, values: dict[str, int | None], values_file: str, declared: dict[str, Variable],
                  texts: dict[str, str]) -> list[Finding]:
    found = []
    for name, line in values.items():
        if name not in declared:
            found.append(finding(f"{kind}/undeclared-variable", f"'{name}' is set here but no {kind} variable of that name is declared",
                                 values_file, line,
                                 f"declare `variable \"{name}\"` in {Path(values_file).parent}/, or stop rendering it"))
    for var in declared.values():
        if var.required and var.name not in values:
            found.append(finding(f"{kind}/unset-variable", f"variable '{var.name}' has no default and {values_file} does not set it",
                                 var.file, var.line, "render it from homelab.yaml, or give it a default"))
    for rel, text in texts.items():
        for m in _VAR_REF.finditer(text):
            if m.group(1) not in declared:
                found.append(finding(f"{kind}/undeclared-reference", f"var.{m.group(1)} refers to a variable that is not declared",
                                     rel, text.count("\n", 0, m.start()) + 1, "declare it or fix the name"))
    return found


def _node_placement(data: dict, text: str) -> list[Finding]:
    hosts: dict[str, Any] = data["proxmox_hosts"] if isinstance(data.get("proxmox_hosts"), dict) else {}
    nodes: dict[str, Any] = data["nodes"] if isinstance(data.get("nodes"), dict) else {}
    found = []
    for name, node in nodes.items():
        host = node.get("proxmox_host") if isinstance(node, dict) else None
        if host in hosts:
            continue
        what = "has no proxmox_host" if host is None else f"is placed on '{host}', which is not in proxmox_hosts"
        found.append(finding("terraform/node-without-placement", f"node '{name}' {what}", TFVARS,
                             json_line(text, "nodes", name),
                             f"set k3s.nodes[].host in homelab.yaml to one of: {', '.join(sorted(hosts)) or 'none'}"))
    return found


def _values(kind: str, path: Path, rel: str, findings: list[Finding]) -> tuple[dict[str, Any], dict[str, int | None], str] | None:
    """The rendered values file's values, the line each is set on, and its text; None when it cannot be read."""
    if not path.exists():
        findings.append(finding(f"{kind}/unset-variable", "the rendered variables file is missing", rel, None,
                                "run `homelab render`"))
        return None
    if rel.endswith(".json"):  # Terraform's JSON variables file: one pretty-printed object
        text = path.read_text(encoding="utf-8")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            findings.append(finding("hcl/parse-error", f"not JSON: {exc.msg}", rel, exc.lineno,
                                    "run `homelab render` instead of editing it"))
            return None
        lines: Mapping[str, int | None] = {k: json_line(text, k) for k in data}
    else:
        parsed = _parse_hcl(path, rel, findings)
        if parsed is None:
            return None
        data, text, lines = parsed.data, parsed.text, parsed.lines
    return data, {k: lines.get(k) for k in data if k not in _NOT_VALUES}, text


def _check_layer(root: Path, kind: str, folder: str, suffix: str, values_file: str) -> tuple[list[Finding], dict[str, Any], str]:
    """Findings for one layer's declared variables against its rendered values file, with the values and text."""
    findings: list[Finding] = []
    declared, texts = declared_variables(root, folder, suffix, findings)
    got = _values(kind, root / values_file, values_file, findings)
    if got is None:
        return findings, {}, ""
    data, lines, text = got
    return findings + _check_values(kind, lines, values_file, declared, texts), data, text


def check_terraform(root: Path) -> list[Finding]:
    findings, data, text = _check_layer(root, "terraform", TERRAFORM_DIR, ".tf", TFVARS)
    return findings + (_node_placement(data, text) if data else [])


def check_packer(root: Path) -> list[Finding]:
    return _check_layer(root, "packer", PACKER_DIR, ".pkr.hcl", PKRVARS)[0]


def check_all(root: Path) -> list[Finding]:
    return check_terraform(root) + check_packer(root)
