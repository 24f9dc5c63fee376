"""The package has no import cycles: what each module imports at load time forms a DAG."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

SRC = ROOT / "src"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _load_time_imports(path: Path, name: str, modules: set[str]) -> set[str]:
    """Modules of the package imported when `name` loads: top-level statements only (imports inside
    functions and `if TYPE_CHECKING:` blocks run later or never), plus each one's parent packages."""
    is_pkg = path.name == "__init__.py"
    found: set[str] = set()

    def visit(stmts: list[ast.stmt]) -> None:
        for node in stmts:
            if isinstance(node, ast.If):
                test = ast.unparse(node.test)
                if "TYPE_CHECKING" not in test:
                    visit(node.body)
                    visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    pkg = name if is_pkg else name.rsplit(".", 1)[0]
                    for _ in range(node.level - 1):
                        pkg = pkg.rsplit(".", 1)[0]
                    base = f"{pkg}.{base}" if base else pkg
                found.add(base)
                found.update(f"{base}.{a.name}" for a in node.names)  # `from pkg import module`

    visit(ast.parse(path.read_text(encoding="utf-8")).body)
    # Importing a.b.c loads a and a.b first, except the packages `name` itself lives in: those are
    # already loading when it runs (importing a name from them explicitly still counts).
    own = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
    out = set(found)
    for mod in found:
        parts = mod.split(".")
        out.update(p for p in (".".join(parts[:i]) for i in range(1, len(parts))) if p not in own)
    return {m for m in out if m in modules and m != name}


def import_graph() -> dict[str, set[str]]:
    paths = {(_module_name(p)): p for p in (SRC / "homelab").rglob("*.py")}
    modules = set(paths)
    return {name: _load_time_imports(p, name, modules) for name, p in paths.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def test_the_scan_sees_the_package():
    graph = import_graph()
    assert "homelab.registry" in graph and "homelab.errors" in graph["homelab.registry"]
    assert "homelab.gitops" in graph["homelab.checks.rules._util"]  # `from homelab.gitops import K8sObject`


def test_no_module_imports_itself_back_at_load_time():
    """A cycle works only by the accident of import order; every module must load on its own."""
    assert cycles(import_graph()) == []


def test_no_two_packages_depend_on_each_other():
    """Layers, not a web: e.g. the pipeline reuses status's readiness rules, so status must not import
    the pipeline (both take secret masking from `homelab.clients`)."""
    graph = import_graph()

    def top(module: str) -> str:
        return ".".join(module.split(".")[:2])

    packages: dict[str, set[str]] = {}
    for module, imported in graph.items():
        packages.setdefault(top(module), set()).update(top(m) for m in imported if top(m) != top(module))
    assert cycles(packages) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c"]]


# (not `requests`: detect-secrets, which the secret scan runs, imports it itself)
CLIENT_LIBRARIES = ("httpx", "dns", "kubernetes", "proxmoxer")


def test_check_and_list_rules_load_no_client_library():
    """`homelab check` runs in pre-commit hooks: knowing every rule id (status's included) must not
    import the HTTP, DNS, Kubernetes and Proxmox clients that only `status` and `up` use."""
    probe = ("import atexit, sys\n"
             f"atexit.register(lambda: print(sorted(m for m in {CLIENT_LIBRARIES!r} if m in sys.modules)))\n"
             "sys.argv = ['homelab', *sys.argv[1:]]\n"
             "from homelab.cli import main\n"
             "main()\n")
    for args in (["check", "--list-rules"], ["check", "--ignore", "site/placeholder"]):
        res = subprocess.run([sys.executable, "-c", probe, *args], cwd=ROOT, capture_output=True, text=True,
                             env={**os.environ, "PYTHONPATH": str(SRC)}, timeout=300, check=False)
        assert res.returncode in (0, 1), res.stderr
        assert res.stdout.splitlines()[-1] == "[]", (args, res.stdout[-300:])
