"""What would change in the cluster between a Git ref and the working tree.

Both trees are read by `homelab.gitops.load_tree` (the ref's files are checked out into a scratch
folder through a private Git index, so the repository, its index and its worktrees are untouched)
and compared object by object within each Flux Kustomization: objects added, removed or changed,
each changed one as a unified YAML diff. Secret data and values under credential-like keys are
masked before anything is shown: each value becomes `<masked TAG>`, TAG a keyed hash under a key
drawn at random for the run and never kept, so a changed secret shows as a changed line while
neither its value nor a way to guess it ever appears.
"""

from __future__ import annotations

import copy
import difflib
import hmac
import os
import re
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from homelab import tools, yamlio
from homelab.errors import HomelabError
from homelab.gitops.model import FluxTree, K8sObject

if TYPE_CHECKING:
    from homelab.charts.releases import Charts, Release

# keys whose scalar values are credentials (`existingSecret` and `*Name`/`*Ref` keys name a Secret instead)
_SECRET_KEY = re.compile(r"(password|passwd|secret|token|apikey|api[-_]key|private[-_]?key|credentials?)$", re.I)

Ident = tuple[str, str, str, str]  # API group, kind, namespace, name


@dataclass(frozen=True)
class ObjectChange:
    ident: Ident
    change: str  # "added" | "removed" | "changed"
    where: str  # file:line in the tree it is shown from
    diff: str  # unified diff of the masked YAML
    notes: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        return _title(self.ident)


@dataclass
class Section:
    """The changes of one Flux Kustomization (the objects it applies from Git) or of one HelmRelease
    (the objects its chart renders: `kind` "HelmRelease")."""

    kind: str  # "Kustomization" | "HelmRelease"
    key: str
    change: str  # "added" | "removed" | "changed"
    objects: list[ObjectChange] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"{self.kind} {self.key}" + (", rendered by its chart" if self.kind == "HelmRelease" else "")


@dataclass
class TreeDiff:
    base: str  # the commit compared against (full sha)
    label: str  # how it was chosen, for the report
    sections: list[Section]

    @property
    def changed_objects(self) -> int:
        return sum(len(k.objects) for k in self.sections)


def _title(ident: Ident) -> str:
    _, kind, ns, name = ident
    return f"{kind} {ns + '/' if ns else ''}{name}"


# ------------------------------------------------------------------------------------------ git

def _git(root: Path, *args: str, env: dict[str, str] | None = None) -> tools.Result:
    return tools.run(["git", *args], cwd=root, timeout=120, env=env)


def _default_branch(root: Path) -> str | None:
    got = _git(root, "symbolic-ref", "-q", "--short", "refs/remotes/origin/HEAD")
    if got.ok and got.stdout.strip():
        return got.stdout.strip()
    for name in ("main", "master"):
        if _git(root, "rev-parse", "-q", "--verify", f"refs/heads/{name}").ok:
            return name
    return None


def resolve_base(root: Path, ref: str | None) -> tuple[str, str]:
    """The commit to compare with and how to describe it: `ref`, else the merge base of HEAD with
    the default branch (origin's HEAD, else `main`, else `master`). A bad ref is a HomelabError."""
    if not _git(root, "rev-parse", "--is-inside-work-tree").ok:
        raise HomelabError.single(str(root), "not inside a Git repository", hint="run homelab diff in a clone")
    if ref is None:
        branch = _default_branch(root)
        if branch is None:
            raise HomelabError.single("REF", "no default branch (origin/HEAD, main or master) to compare with",
                                      hint="name the ref to compare with: homelab diff REF")
        got = _git(root, "merge-base", "HEAD", branch)
        if not got.ok:
            raise HomelabError.single("REF", f"HEAD and {branch} have no merge base",
                                      hint="name the ref to compare with: homelab diff REF")
        return got.stdout.strip(), f"merge base with {branch}"
    got = _git(root, "rev-parse", "-q", "--verify", "--end-of-options", f"{ref}^{{commit}}")
    if not got.ok or not got.stdout.strip():
        raise HomelabError.single("REF", f"'{ref}' is not a commit of this repository",
                                  hint="give a branch, tag or commit (git log --oneline shows them)")
    return got.stdout.strip(), ref


@contextmanager
def checked_out(root: Path, commit: str) -> Iterator[Path]:
    """The files of `commit` in a scratch folder, as `root` (the folder holding homelab.yaml) was laid
    out there; written through a private index file, removed afterwards."""
    top = Path(_git(root, "rev-parse", "--show-toplevel").stdout.strip())
    prefix = _git(root, "rev-parse", "--show-prefix").stdout.strip()
    with tempfile.TemporaryDirectory(prefix="homelab-diff-") as tmp:
        env = {**os.environ, "GIT_INDEX_FILE": str(Path(tmp) / "index")}
        tree = Path(tmp) / "tree"
        for args in (("read-tree", commit), ("checkout-index", "--all", "--force", f"--prefix={tree}/")):
            got = _git(top, *args, env=env)
            if not got.ok:
                raise HomelabError.single("REF", f"cannot check out {commit[:12]}: {got.stderr.strip()}")
        yield tree / prefix


# ------------------------------------------------------------------------------------- masking

class SecretTagger:
    """Replaces a secret value found in an object (by its place: Secret data, a credential-like key)
    by `<masked TAG>`: equal values get equal tags within one run (so a diff shows which changed),
    and the run's random key makes a tag useless for guessing. Masking values already known (the
    environment's credentials in program output) is the pipeline's masker's job, not this one's."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)

    def __call__(self, value: object) -> str:
        return f"<masked {hmac.new(self._key, str(value).encode(), 'sha256').hexdigest()[:8]}>"


def masked(body: dict[str, Any], mask: SecretTagger) -> dict[str, Any]:
    """A copy of `body` with Secret data and credential-like values masked."""
    out = copy.deepcopy(body)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if (isinstance(v, str | int) and not isinstance(v, bool) and _SECRET_KEY.search(str(k))
                        and not str(k).lower().startswith("existing") and not str(v).startswith("${")):
                    node[k] = mask(v)
                else:
                    walk(v)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(out)
    if out.get("kind") == "Secret" and "/" not in str(out.get("apiVersion") or "v1"):
        for key in ("data", "stringData"):
            if isinstance(body.get(key), dict):
                out[key] = {k: mask(v) for k, v in body[key].items()}
    return out


# ------------------------------------------------------------------------------------ compare

def _ident(obj: K8sObject) -> Ident:
    return (obj.group, obj.kind, obj.namespace or "", obj.name)


def _by_kustomization(tree: FluxTree) -> dict[str, dict[Ident, K8sObject]]:
    out: dict[str, dict[Ident, K8sObject]] = {key: {} for key in tree.kustomizations}
    for obj in tree.objects:
        if not obj.release:
            out.setdefault(obj.kustomization, {})[_ident(obj)] = obj
    return out


def _by_release(charts: Charts | None) -> dict[str, tuple[Release, dict[Ident, K8sObject]]]:
    return {} if charts is None else {r.key: (r, {_ident(o): o for o in r.objects}) for r in charts.releases}


def _yaml(body: dict[str, Any]) -> list[str]:
    return yamlio.canonical(body).splitlines(keepends=True)


def _chart_note(old: FluxTree, new: FluxTree, before: K8sObject, after: K8sObject) -> tuple[str, ...]:
    if after.kind != "HelmRelease":
        return ()
    a, b = old.chart_of(before), new.chart_of(after)
    if a is not None and b is not None and (a.name, a.version, a.repo) != (b.name, b.version, b.repo):
        return (f"chart {a.name} {a.version} -> {b.name} {b.version}",)
    return ()


def _where(obj: K8sObject) -> str:
    return f"{obj.file}:{obj.line}" + (f" ({obj.template})" if obj.template else "")


class _Differ:
    def __init__(self, old: FluxTree, new: FluxTree, base: str, context: int):
        self.old, self.new, self.base, self.context, self.mask = old, new, base, context, SecretTagger()

    def objects(self, section: Section, a: dict[Ident, K8sObject], b: dict[Ident, K8sObject]) -> None:
        for ident in sorted(set(a) | set(b)):
            before, after = a.get(ident), b.get(ident)
            if before is not None and after is not None and before.body == after.body:
                continue
            lines_a = _yaml(masked(before.body, self.mask)) if before is not None else []
            lines_b = _yaml(masked(after.body, self.mask)) if after is not None else []
            title = _title(ident)
            diff = "".join(difflib.unified_diff(lines_a, lines_b, f"a/{title} ({self.base[:12]})",
                                                f"b/{title} (working tree)", n=self.context))
            notes = _chart_note(self.old, self.new, before, after) if before is not None and after is not None else ()
            change = "added" if before is None else "removed" if after is None else "changed"
            shown = after or before
            section.objects.append(ObjectChange(ident, change, _where(shown) if shown else "", diff, notes))


def _change(a: object, b: object) -> str:
    return "added" if a is None else "removed" if b is None else "changed"


def compare(old: FluxTree, new: FluxTree, base: str, label: str, *, old_charts: Charts | None = None,
            new_charts: Charts | None = None, context: int = 3) -> TreeDiff:
    """The changes from `old` (the tree at `base`) to `new`: per Flux Kustomization the objects it
    applies from Git, then per HelmRelease the objects its chart renders (when both trees' charts
    were rendered: `old_charts`, `new_charts`)."""
    differ = _Differ(old, new, base, context)
    result: list[Section] = []
    olds, news = _by_kustomization(old), _by_kustomization(new)
    for key in sorted(set(olds) | set(news)):
        a, b = olds.get(key), news.get(key)
        ks = Section("Kustomization", key, _change(a, b))
        err_old, err_new = (t.kustomizations[key].build_error if key in t.kustomizations else None
                            for t in (old, new))
        if err_new and err_new != err_old:
            ks.notes.append(f"cannot be built now: {err_new}")
        elif err_old and not err_new:
            ks.notes.append(f"builds again (it failed before: {err_old})")
        differ.objects(ks, a or {}, b or {})
        if ks.objects or ks.notes or ks.change != "changed":
            result.append(ks)
    if old_charts is None or new_charts is None:
        return TreeDiff(base, label, result)
    rel_old, rel_new = _by_release(old_charts), _by_release(new_charts)
    for key in sorted(set(rel_old) | set(rel_new)):
        ra, rb = rel_old.get(key), rel_new.get(key)
        hr = Section("HelmRelease", key, _change(ra, rb))
        for side, got in (("at " + base[:12], ra), ("now", rb)):
            if got is not None and not got[0].rendered:
                why = got[0].unavailable or (got[0].render_error.message if got[0].render_error else
                                             "its values do not pass the chart's schema")
                hr.notes.append(f"not rendered {side}: {why}")
        if hr.notes and ra is not None and rb is not None:
            if ra[0].hr.body == rb[0].hr.body and ra[0].digest == rb[0].digest:
                continue  # unchanged, and not rendered for the same reason on both sides: nothing to say
            hr.notes.append("its rendered objects are not compared")  # one side is unknown: no false adds/removes
        else:
            differ.objects(hr, ra[1] if ra else {}, rb[1] if rb else {})
        if hr.objects or hr.notes:
            result.append(hr)
    return TreeDiff(base, label, result)


# ------------------------------------------------------------------------------------ reports

_SIGN = {"added": "+", "removed": "-", "changed": "~"}


def _summary(d: TreeDiff) -> str:
    if not d.sections:
        return "no changes to the objects Flux applies"
    kinds = [k.kind for k in d.sections]
    parts = [f"{kinds.count('Kustomization')} Flux Kustomization(s)"]
    if "HelmRelease" in kinds:
        parts.append(f"{kinds.count('HelmRelease')} rendered HelmRelease(s)")
    return f"{d.changed_objects} object(s) changed in " + " and ".join(parts)


def text(d: TreeDiff) -> str:
    out = [f"homelab diff: {d.base[:12]} ({d.label}) -> working tree: {_summary(d)}"]
    for ks in d.sections:
        out.append("")
        out.append(f"{ks.title} ({ks.change})")
        out.extend(f"  note: {n}" for n in ks.notes)
        for obj in ks.objects:
            extra = "".join(f"; {n}" for n in obj.notes)
            out.append(f"  {_SIGN[obj.change]} {obj.title} ({obj.change}, {obj.where}){extra}")
            out.extend("    " + line for line in obj.diff.splitlines())
    return "\n".join(out) + "\n"


def markdown(d: TreeDiff) -> str:
    """For a pull-request comment: a summary line, then one collapsible block per Kustomization."""
    out = [f"### `homelab diff` against `{d.base[:12]}` ({d.label})", "", _summary(d).capitalize() + "."]
    for ks in d.sections:
        names = ", ".join(f"{_SIGN[o.change]}{o.title}" for o in ks.objects)
        rendered = ", rendered by its chart" if ks.kind == "HelmRelease" else ""
        out += ["", f"<details><summary>{ks.kind} <code>{ks.key}</code>{rendered} ({ks.change}): {names}</summary>", ""]
        out += [f"- {n}" for n in ks.notes]
        for obj in ks.objects:
            extra = "".join(f"; {n}" for n in obj.notes)
            out += [f"**{obj.title}** ({obj.change}, `{obj.where}`){extra}", ""]
            if obj.diff:
                fence = "````" if "```" in obj.diff else "```"
                out += [f"{fence}diff", obj.diff.rstrip("\n"), fence, ""]
        out += ["</details>"]
    return "\n".join(out) + "\n"
