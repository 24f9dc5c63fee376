"""kustomize builds, batched: many Flux Kustomization paths in one `kubectl kustomize` run.

Each path gets a small wrapper kustomization (in a scratch folder, never in the repository) that
does what kustomize-controller does before it builds: generate a kustomization for a folder that
has none (every *.yaml/*.yml, recursively, with sub-folders that have their own kustomization
included as a whole), and add the Flux Kustomization's targetNamespace, patches and images. An
annotation transformer stamps each object with its wrapper's number; a batch kustomization lists
many wrappers and asks for origin annotations, so one kustomize process tells, for every object,
which Flux Kustomization and which file it came from. Batches run concurrently; a batch that fails
is retried one wrapper at a time, so an error is pinned on the Kustomization that has it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from homelab import tools
from homelab.gitops.cache import Cache, digest
from homelab import yamlio

KFILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
ORIGIN = "config.kubernetes.io/origin"
STAMP = "homelab.internal/build-index"


def kustomization_file(d: Path) -> Path | None:
    for name in KFILES:
        p = d / name
        if p.is_file():
            return p
    return None


@dataclass(frozen=True)
class BuildRequest:
    """What to build: a folder plus the Flux Kustomization fields kustomize-controller applies."""

    key: str                         # Flux Kustomization key; only used to report
    path: Path                       # absolute folder
    target_namespace: str | None = None
    patches: tuple[str, ...] = ()    # YAML of each spec.patches item
    images: tuple[str, ...] = ()     # YAML of each spec.images item


@dataclass
class BuiltDoc:
    """One object of a build, before postBuild substitution: its YAML text as kustomize printed it
    (parsed later, once, after substitution, as the controller does) and its source file."""

    origin: str                      # repository-relative source file ("" when unknown)
    text: str
    kind: str = ""                   # `kind:` of the object, read without parsing


@dataclass
class BuildResult:
    docs: list[BuiltDoc] = field(default_factory=list)
    error: str | None = None
    inputs: tuple[str, ...] = ()     # repository-relative files the build read
    cached: bool = False


# -- inputs and fingerprints -----------------------------------------------------------------------

_REF_LISTS = ("resources", "components", "bases", "crds", "patchesStrategicMerge", "transformers", "generators",
              "validators")


def _kustomization_refs(data: Any) -> list[str]:
    """Local paths a kustomization file refers to (resources, components, patch and generator files)."""
    if not isinstance(data, dict):
        return []
    refs: list[str] = []
    for key in _REF_LISTS:
        for item in data.get(key) or []:
            if isinstance(item, str) and "\n" not in item:
                refs.append(item)
    for key in ("patches", "patchesJson6902", "replacements"):
        for item in data.get(key) or []:
            if isinstance(item, dict) and isinstance(item.get("path"), str):
                refs.append(item["path"])
    for key in ("configMapGenerator", "secretGenerator"):
        for gen in data.get(key) or []:
            if not isinstance(gen, dict):
                continue
            for f in (gen.get("files") or []) + (gen.get("envs") or []) + ([gen["env"]] if gen.get("env") else []):
                if isinstance(f, str):
                    refs.append(f.split("=", 1)[-1])
    return [r for r in refs if "://" not in r and not r.startswith(("github.com/", "git@"))]


def _refs_of(kf: Path, cache: Cache | None) -> list[str]:
    """The local references of a kustomization file, cached by its content."""
    got = (cache or Cache(None)).read(kf)
    if got is None:
        return []
    raw, key = got
    hit = cache.get("krefs", key) if cache is not None else None
    if hit is None:
        try:
            hit = _kustomization_refs(yamlio.load(raw.decode("utf-8")))
        except (UnicodeDecodeError, yaml.YAMLError):
            hit = []  # kustomize reports the error itself
        if cache is not None:
            cache.put("krefs", key, hit)
    return hit


def _kfile(d: str) -> str | None:
    for name in KFILES:
        p = os.path.join(d, name)
        if os.path.isfile(p):
            return p
    return None


def collect_inputs(folder: Path, cache: Cache | None = None) -> tuple[list[str], list[str]]:
    """(files a build of `folder` reads, paths it needs that are missing), as kustomize-controller
    would: a kustomization's resources, components, patches and generator files, recursively; for
    a folder without one, every YAML file below it (plain strings: this runs for every path)."""
    files: list[str] = []
    missing: list[str] = []
    seen: set[str] = set()

    def visit_dir(d: str) -> None:
        d = os.path.normpath(d)
        if d in seen:
            return
        seen.add(d)
        if not os.path.isdir(d):
            missing.append(d)
            return
        kf = _kfile(d)
        if kf is not None:
            files.append(kf)
            for ref in _refs_of(Path(kf), cache):
                p = os.path.normpath(os.path.join(d, ref))
                if os.path.isdir(p):
                    visit_dir(p)
                elif os.path.isfile(p):
                    files.append(p)
                else:
                    missing.append(p)
            return
        # no kustomization: the controller's generator takes every YAML file, recursively,
        # and a sub-folder with its own kustomization as a whole
        for dirpath, dirnames, filenames in os.walk(d):
            keep = []
            for sub in sorted(dirnames):
                if _kfile(os.path.join(dirpath, sub)) is not None:
                    visit_dir(os.path.join(dirpath, sub))
                elif not sub.startswith("."):
                    keep.append(sub)
            dirnames[:] = keep
            files.extend(os.path.join(dirpath, f) for f in sorted(filenames) if f.endswith((".yaml", ".yml")))

    visit_dir(str(folder))
    return files, missing


def _file_digest(p: str, cache: Cache | None) -> str:
    got = (cache or Cache(None)).read(p)
    return got[1] if got else "unreadable"


def fingerprint(req: BuildRequest, root: Path, cache: Cache | None = None) -> tuple[str, list[str], list[str]]:
    files, missing = collect_inputs(req.path, cache)
    parts: list[bytes | str] = [str(os.path.relpath(req.path, root)), req.target_namespace or "", *req.patches,
                                "|images|", *req.images]
    for f in sorted(set(files)):
        parts += [os.path.relpath(f, root), _file_digest(f, cache)]
    parts += ["|missing|", *sorted(os.path.relpath(m, root) for m in missing)]
    return digest(*parts), files, missing


# -- wrappers and batches --------------------------------------------------------------------------

def _generated_resources(folder: Path) -> list[str]:
    """The resources kustomize-controller's generator lists for a folder with no kustomization."""
    res: list[str] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dp = Path(dirpath)
        keep = []
        for sub in sorted(dirnames):
            if kustomization_file(dp / sub) is not None:
                res.append(str(dp / sub))
            elif not sub.startswith("."):
                keep.append(sub)
        dirnames[:] = keep
        res.extend(str(dp / f) for f in sorted(filenames) if f.endswith((".yaml", ".yml")))
    return res


def _write_wrapper(wdir: Path, stamp: str, req: BuildRequest) -> None:
    wdir.mkdir(parents=True, exist_ok=True)
    if kustomization_file(req.path) is not None:
        targets = [str(req.path)]
    else:
        targets = _generated_resources(req.path)
    doc: dict[str, Any] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(t, wdir) for t in targets],
    }
    if req.target_namespace:
        doc["namespace"] = req.target_namespace
    if req.patches:
        doc["patches"] = [yaml.safe_load(p) for p in req.patches]
    if req.images:
        doc["images"] = [yaml.safe_load(i) for i in req.images]
    doc["transformers"] = [json.dumps({
        "apiVersion": "builtin", "kind": "AnnotationsTransformer", "metadata": {"name": "homelab-build-index"},
        "annotations": {STAMP: stamp}, "fieldSpecs": [{"path": "metadata/annotations", "create": True}],
    })]
    # JSON is YAML, and much faster to write than YAML from Python
    text = json.dumps(doc)
    target = wdir / "kustomization.yaml"
    if not target.is_file() or target.read_text(encoding="utf-8") != text:
        target.write_text(text, encoding="utf-8")


_ERR_PREFIX = re.compile(r'^E\d{4} [\d:.]+\s+\d+ \S+\] "command failed" err=')


def _clean_error(stderr: str, scratch: Path, root: Path) -> str:
    lines = [l for l in stderr.strip().splitlines() if l.strip()]
    text = _ERR_PREFIX.sub("", lines[-1] if lines else "kustomize failed").strip()
    if text.startswith('"') and text.endswith('"'):
        text = text[1:-1]
    text = text.replace(str(root) + os.sep, "").replace(str(scratch), "<scratch>")
    return text.replace('\\"', '"')


def _split(output: str) -> list[str]:
    chunks = re.split(r"(?m)^---\s*$\n?", output)
    return [c for c in chunks if c.strip()]


def _run_batch(kubectl: str, batch_dir: Path) -> tools.Result:
    # a short-lived, allocation-heavy Go process: collecting garbage less often saves ~25% CPU
    env = {**os.environ, "GOGC": os.environ.get("GOGC", "400")}
    return tools.run([kubectl, "kustomize", "--load-restrictor", "LoadRestrictionsNone", str(batch_dir)],
                     timeout=600, env=env)


_STAMP_LINE = re.compile(r'^\s+' + re.escape(STAMP) + r': [\'"]?([0-9a-f-]+)[\'"]?\s*$', re.M)
_ORIGIN_PATH = re.compile(r"^\s+config\.kubernetes\.io/origin: \|\n(?:\s+(?:path|configuredIn): (.+)\n)", re.M)
_KIND_LINE = re.compile(r"^kind: (\S+)\s*$", re.M)


def _parse_batch(out: str, batch_dir: Path, root: Path) -> dict[str, list[BuiltDoc]]:
    """Split kustomize output per wrapper without parsing it: the stamp and origin annotations are
    read with regular expressions (kustomize prints them in a fixed shape)."""
    per: dict[str, list[BuiltDoc]] = {}
    for chunk in _split(out):
        m = _STAMP_LINE.search(chunk)
        idx = m.group(1) if m else ""
        o = _ORIGIN_PATH.search(chunk)
        origin = os.path.relpath(os.path.normpath(batch_dir / o.group(1).strip()), root) if o else ""
        k = _KIND_LINE.search(chunk)
        per.setdefault(idx, []).append(BuiltDoc(origin=origin, text=chunk, kind=k.group(1) if k else ""))
    return per


def strip_build_annotations(body: Any) -> Any:
    """Remove the annotations the batch build added (origin, wrapper stamp)."""
    if isinstance(body, dict):
        meta = body.get("metadata")
        ann = meta.get("annotations") if isinstance(meta, dict) else None
        if isinstance(ann, dict):
            ann.pop(STAMP, None)
            ann.pop(ORIGIN, None)
            if not ann:
                meta.pop("annotations", None)
    return body


BATCH_SIZE = 32


def build_many(requests: Sequence[BuildRequest], root: Path, *, cache: Cache | None = None,
               jobs: int | None = None, kubectl: str = "kubectl", batch_size: int = BATCH_SIZE,
               on_built: Callable[[int, list[BuiltDoc]], None] | None = None) -> list[BuildResult]:
    """Build every request (results in the same order), reusing cached builds whose inputs are unchanged.

    `on_built(index, docs)` is called in this thread as each batch finishes, while the others still
    run, so the caller's parsing overlaps kustomize's work.
    """
    cache = cache or Cache(None)
    results: list[BuildResult | None] = [None] * len(requests)
    todo: list[tuple[int, str, list[str]]] = []
    for i, req in enumerate(requests):
        key, files, missing = fingerprint(req, root, cache)
        inputs = tuple(os.path.relpath(f, root) for f in files)
        hit = cache.get("build", key)
        if hit is not None:
            results[i] = BuildResult(docs=hit, inputs=inputs, cached=True)
        elif not req.path.is_dir():
            results[i] = BuildResult(error=f"path '{os.path.relpath(req.path, root)}' does not exist", inputs=inputs)
        else:
            todo.append((i, key, files))
    if not todo:
        return [r if r is not None else BuildResult(error="not built") for r in results]
    tools.require(kubectl, "to build kustomizations (`kubectl kustomize`)")
    jobs = max(1, min(jobs or (os.cpu_count() or 2), len(todo)))
    # wrappers live beside the cache (reused, never in the repository's tree) or in a temp folder
    folder = cache.folder()
    persistent = folder is not None
    scratch = folder / "kustomize" if folder is not None else Path(tempfile.mkdtemp(prefix="homelab-kustomize-"))
    wdir = scratch / "w"
    if persistent and wdir.is_dir() and sum(1 for _ in os.scandir(wdir)) > 4 * len(requests) + 200:
        shutil.rmtree(wdir, ignore_errors=True)  # stale wrappers of long-gone trees
    try:
        stamp_of: dict[int, str] = {}
        for i, key, _ in todo:  # unique even when two Kustomizations build the same thing
            stamp, n = key[:16], 0
            while stamp in stamp_of.values():
                n += 1
                stamp = f"{key[:16]}-{n}"
            stamp_of[i] = stamp
        for i, _, _ in todo:
            _write_wrapper(wdir / stamp_of[i], stamp_of[i], requests[i])
        # kustomize's cost grows with the size of one build, and each run costs ~70 ms to start:
        # batches of a few dozen paths, `jobs` of them at a time
        size = max(1, min(batch_size, -(-len(todo) // jobs)))
        groups = [todo[j:j + size] for j in range(0, len(todo), size)]

        def run_group(gi: int, group: list[tuple[int, str, list[str]]]) -> tuple[list, tools.Result, Path]:
            bdir = scratch / "b" / f"{os.getpid()}-{gi}"
            bdir.mkdir(parents=True, exist_ok=True)
            (bdir / "kustomization.yaml").write_text(json.dumps({
                "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                "resources": [f"../../w/{stamp_of[i]}" for i, _, _ in group], "buildMetadata": ["originAnnotations"],
            }), encoding="utf-8")
            return group, _run_batch(kubectl, bdir), bdir

        def done(i: int, key: str, files: list[str], docs: list[BuiltDoc] | None, error: str | None) -> None:
            inputs = tuple(os.path.relpath(f, root) for f in files)
            if error is None:
                cache.put("build", key, docs)
                results[i] = BuildResult(docs=docs or [], inputs=inputs)
                if on_built is not None:
                    on_built(i, docs or [])
            else:
                results[i] = BuildResult(error=error, inputs=inputs)

        retry: list[tuple[int, str, list[str]]] = []
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(run_group, gi, g) for gi, g in enumerate(groups)]
            for fut in as_completed(futures):
                group, res, bdir = fut.result()
                if res.ok:
                    per = _parse_batch(res.stdout, bdir, root)
                    for i, key, files in group:
                        done(i, key, files, per.get(stamp_of[i], []), None)
                elif len(group) == 1:
                    i, key, files = group[0]
                    done(i, key, files, None, _clean_error(res.stderr, scratch, root))
                else:
                    retry.extend(group)
            # a failing batch: build its members one by one, to pin the error on its Kustomization
            futures = [pool.submit(run_group, len(groups) + n, [t]) for n, t in enumerate(retry)]
            for fut in as_completed(futures):
                group, res, bdir = fut.result()
                i, key, files = group[0]
                if res.ok:
                    done(i, key, files, _parse_batch(res.stdout, bdir, root).get(stamp_of[i], []), None)
                else:
                    done(i, key, files, None, _clean_error(res.stderr, scratch, root))
    finally:
        if persistent:
            shutil.rmtree(scratch / "b", ignore_errors=True)
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    return [r if r is not None else BuildResult(error="not built") for r in results]
