"""yaml/*: every YAML file in the repository parses, without duplicate keys."""

from __future__ import annotations

from pathlib import PurePosixPath

from homelab.checks.context import CheckContext
from homelab.checks.registry import finding, rule
from homelab.gitops import parse_yaml
from homelab.inputs import size_overrun


def _is_template(rel: str, files: set[str]) -> bool:
    """Helm chart templates are Go templates, not YAML."""
    p = PurePosixPath(rel)
    return "templates" in p.parts and any(str(parent / "Chart.yaml") in files for parent in p.parents)


@rule("yaml/syntax", "YAML files parse", also={"yaml/duplicate-key": "no mapping repeats a key",
                                               "yaml/limits": "no YAML file is oversized, nested too deep or "
                                                              "an alias bomb"}, needs_tree=False)
def yaml_files(ctx: CheckContext):
    files = set(ctx.files)
    for rel in ctx.files:
        if not rel.endswith((".yaml", ".yml")) or _is_template(rel, files):
            continue
        data, key = ctx.read(rel), ctx.file_digest(rel)
        if data is None:
            continue
        over = size_overrun(len(data))
        if over:
            yield finding("yaml/limits", over.message, rel, over.line,
                          "split the file; no Kubernetes object may be this large")
            continue
        parsed = ctx.cache.get("yaml", key)
        if parsed is None:
            parsed = parse_yaml(data.decode("utf-8", errors="replace"))
            ctx.cache.put("yaml", key, parsed)
        for p in parsed.problems:
            if p.kind == "syntax":
                yield finding("yaml/syntax", f"YAML syntax error: {p.message}", rel, p.line,
                              "check indentation and quoting on this line")
            elif p.kind == "limit":
                yield finding("yaml/limits", p.message, rel, p.line,
                              "expand the aliases by hand or flatten the nesting; kustomize refuses it too")
            else:
                yield finding("yaml/duplicate-key", p.message, rel, p.line,
                              "YAML keeps only the last value; remove or merge the duplicate")
