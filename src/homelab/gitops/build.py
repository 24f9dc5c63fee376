"""kustomize builds, batched: many Flux Kustomization paths in one `kubectl kustomize` run.

Each path gets a small wrapper kustomization (in a scratch folder, never in the repository) that
does what kustomize-controller does before it builds: generate a kustomization for a folder that
has none (every *.yaml/*.yml, recursively, with sub-folders that have their own kustomization
included as a whole), and add the Flux Kustomization's targetNamespace, patches and images. An
annotation transformer stamps each object with its wrapper's number; a batch kustomization lists
many wrappers and asks for origin annotations, so one kustomize process tells, for every object,
which Flux Kustomization and which file it came from. Batches run concurrently; a batch that fails
is split in halves until the error is pinned on the Kustomization that has it.

Nothing outside the repository is read: every reference is checked before kustomize runs (a path
that leaves the repository, a symlink pointing out, a remote base are refused with their line),
and kubectl runs with no kubeconfig and no route to the network.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from homelab import tools, yamlio
from homelab.gitops.cache import Cache, digest
from homelab.inputs import Overrun, size_overrun, yaml_overrun

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
    problems: tuple[InputProblem, ...] = ()  # why it was refused before kustomize ran


# -- inputs and fingerprints -----------------------------------------------------------------------

_REF_LISTS = ("resources", "components", "bases", "crds", "patchesStrategicMerge", "transformers", "generators",
              "validators", "configurations")
_REMOTE = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|git@|(?:github\.com|gitlab\.com|bitbucket\.org)/)|\?ref=", re.I)


@dataclass(frozen=True)
class InputProblem:
    """Why a build is refused before kustomize runs, located at the reference or file at fault."""

    rule: str                        # the finding id that reports it
    file: str                        # repository-relative file holding the reference (or over a limit)
    line: int | None
    message: str


_KeyedRef = tuple[tuple[str | int, ...], str]  # (keys of the reference inside the kustomization file, path)
_PATH_ITEMS = ("patches", "patchesJson6902", "replacements")
_GENERATORS = ("configMapGenerator", "secretGenerator")


def _items(data: dict[str, Any], key: str) -> list[Any]:
    """`data[key]` when it is a list (anything else refers to nothing)."""
    value = data.get(key)
    return value if isinstance(value, list) else []


def _generator_refs(key: str, gi: int, gen: dict[str, Any]) -> list[_KeyedRef]:
    """The files one configMapGenerator or secretGenerator entry reads (`files` items may be `key=path`)."""
    refs: list[_KeyedRef] = []
    for field_ in ("files", "envs"):
        for i, f in enumerate(_items(gen, field_)):
            if isinstance(f, str):
                refs.append(((key, gi, field_, i), f.split("=", 1)[-1]))
    if isinstance(gen.get("env"), str):
        refs.append(((key, gi, "env"), gen["env"]))
    return refs


def _kustomization_refs(data: Any) -> list[_KeyedRef]:
    """(keys of the reference inside the kustomization file, path) of every file or folder a
    kustomization refers to (resources, components, patch, replacement and generator files)."""
    if not isinstance(data, dict):
        return []
    refs: list[_KeyedRef] = []
    for key in _REF_LISTS:
        for i, item in enumerate(_items(data, key)):
            if isinstance(item, str) and "\n" not in item:
                refs.append(((key, i), item))
    for key in _PATH_ITEMS:
        for i, item in enumerate(_items(data, key)):
            if isinstance(item, dict) and isinstance(item.get("path"), str):
                refs.append(((key, i, "path"), item["path"]))
    if isinstance(data.get("openapi"), dict) and isinstance(data["openapi"].get("path"), str):
        refs.append((("openapi", "path"), data["openapi"]["path"]))
    for key in _GENERATORS:
        for gi, gen in enumerate(_items(data, key)):
            if isinstance(gen, dict):
                refs += _generator_refs(key, gi, gen)
    return refs


def is_remote(ref: str) -> bool:
    """A kustomize reference that is fetched over the network (URL, git repository, forge path)."""
    return bool(_REMOTE.search(ref.strip()))


def _refs_of(kf: Path, cache: Cache | None) -> list[_KeyedRef]:
    """The references of a kustomization file, cached by its content."""
    got = (cache or Cache(None)).read(kf)
    if got is None:
        return []
    raw, key = got
    hit = cache.get("krefs", key) if cache is not None else None
    if hit is None:
        try:
            hit = _kustomization_refs(yamlio.load(raw.decode("utf-8")))
        except (UnicodeDecodeError, yamlio.ParseError):
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


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root + os.sep)


@dataclass
class Inputs:
    """What a build of one folder reads, what it needs that is missing, and why it must not run."""

    files: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    problems: list[InputProblem] = field(default_factory=list)


class _InputWalk:
    """One collect_inputs: what it found so far, the folders it visited, and the repository the build
    is held to (`top`, its real path; None when it is not held)."""

    def __init__(self, cache: Cache | None, root: Path | None):
        self.cache, self.root = cache, root
        self.top = os.path.realpath(root) if root is not None else None
        self.out = Inputs()
        self.seen: set[str] = set()

    def rel(self, p: str) -> str:
        return os.path.relpath(p, self.root) if self.root is not None else p

    def refuse(self, rule_id: str, kf: str, keys: tuple[str | int, ...], message: str) -> None:
        self.out.problems.append(InputProblem(rule_id, self.rel(kf), yamlio.line_of(Path(kf), 0, keys), message))

    def outside(self, p: str) -> bool:
        return self.top is not None and not _inside(os.path.realpath(p), self.top)

    def visit_dir(self, d: str) -> None:
        d = os.path.normpath(d)
        if d in self.seen:
            return
        self.seen.add(d)
        if not os.path.isdir(d):
            self.out.missing.append(d)
            return
        kf = _kfile(d)
        if kf is None:
            self.visit_generated(d)
            return
        self.out.files.append(kf)
        for keys, ref in _refs_of(Path(kf), self.cache):
            self.visit_ref(d, kf, keys, ref)

    def visit_ref(self, d: str, kf: str, keys: tuple[str | int, ...], ref: str) -> None:
        """One reference of the kustomization file `kf` of folder `d`."""
        if is_remote(ref):
            if self.top is not None:
                self.refuse("flux/remote-resource", kf, keys,
                            f"remote reference '{ref}': kustomize-controller would fetch it, but homelab check "
                            "builds offline and does not; it is not checked")
            return
        p = os.path.normpath(os.path.join(d, ref))
        if self.outside(p):
            why = "is a symlink that leaves" if _inside(os.path.abspath(p), str(self.root)) else "leaves"
            self.refuse("flux/path-outside-repository", kf, keys,
                        f"'{ref}' {why} the repository; Flux builds inside the repository's artifact and "
                        "cannot read it")
        elif os.path.isdir(p):
            self.visit_dir(p)
        elif os.path.isfile(p):
            self.out.files.append(p)
        else:
            self.out.missing.append(p)
            if self.top is not None:
                self.refuse("flux/build", kf, keys, f"'{ref}' does not exist")

    def visit_generated(self, d: str) -> None:
        """A folder without a kustomization: the controller's generator takes every YAML file,
        recursively, and a sub-folder with its own kustomization as a whole."""
        for dirpath, dirnames, filenames in os.walk(d):
            keep = []
            for sub in sorted(dirnames):
                if _kfile(os.path.join(dirpath, sub)) is not None:
                    self.visit_dir(os.path.join(dirpath, sub))
                elif not sub.startswith("."):
                    keep.append(sub)
            dirnames[:] = keep
            for f in sorted(filenames):
                if f.endswith((".yaml", ".yml")):
                    self.visit_yaml(os.path.join(dirpath, f))

    def visit_yaml(self, p: str) -> None:
        """A YAML file the generator takes, unless it is a symlink that leaves the repository."""
        if os.path.islink(p) and self.outside(p):
            self.out.problems.append(InputProblem(
                "flux/path-outside-repository", self.rel(p), None,
                "a symlink that leaves the repository; Flux builds inside the repository's artifact "
                "and cannot read it"))
        else:
            self.out.files.append(p)


def collect_inputs(folder: Path, cache: Cache | None = None, root: Path | None = None) -> Inputs:
    """The files a build of `folder` reads, as kustomize-controller would: a kustomization's
    resources, components, patches and generator files, recursively; for a folder without one,
    every YAML file below it (plain strings: this runs for every path).

    With `root`, the build is held to the repository as Flux's artifact is: a reference that
    leaves it (`../..`, or a symlink pointing out) and a remote reference (which kustomize would
    fetch over the network) become problems at the reference's line, and a missing one too.
    """
    walk = _InputWalk(cache, root)
    walk.visit_dir(str(folder))
    return walk.out


def _file_digest(p: str, cache: Cache | None) -> str:
    got = (cache or Cache(None)).read(p)
    return got[1] if got else "unreadable"


def _over_limit(p: str, cache: Cache) -> Overrun | None:
    """The limit an input file exceeds (size, YAML depth or aliases), judged once per content."""
    got = cache.read(p)
    if got is None:
        return None
    data, key = got
    over = size_overrun(len(data))
    if over is None and p.endswith((".yaml", ".yml")):
        hit = cache.get("bounds", key)
        if hit is None:
            found = yaml_overrun(data.decode("utf-8", errors="replace"))
            hit = (found.line, found.message) if found else ()
            cache.put("bounds", key, hit)
        over = Overrun(*hit) if hit else None
    return over


def fingerprint(req: BuildRequest, root: Path, cache: Cache | None = None) -> tuple[str, Inputs]:
    cache = cache or Cache(None)
    inputs = collect_inputs(req.path, cache, root)
    parts: list[bytes | str] = [str(os.path.relpath(req.path, root)), req.target_namespace or "", *req.patches,
                                "|images|", *req.images]
    for f in sorted(set(inputs.files)):
        parts += [os.path.relpath(f, root), _file_digest(f, cache)]
        over = _over_limit(f, cache)
        if over is not None:
            inputs.problems.append(InputProblem("yaml/limits", os.path.relpath(f, root), over.line, over.message))
    parts += ["|missing|", *sorted(os.path.relpath(m, root) for m in inputs.missing)]
    return digest(*parts), inputs


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
        doc["patches"] = [yamlio.load(p) for p in req.patches]
    if req.images:
        doc["images"] = [yamlio.load(i) for i in req.images]
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
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    # the error is the last "command failed" line and everything after it (kustomize's YAML errors
    # span several lines, the last one a lone `>`)
    start = max((i for i, ln in enumerate(lines) if _ERR_PREFIX.match(ln)), default=len(lines) - 1)
    tail = [_ERR_PREFIX.sub("", ln).strip() for ln in lines[start:]] or ["kustomize failed"]
    text = " ".join(t for t in tail if t not in (">", "")).strip().removeprefix("<").strip()
    if text.startswith('"') and text.endswith('"'):
        text = text[1:-1]
    text = text.replace(str(root) + os.sep, "").replace(str(scratch), "<scratch>")
    return text.replace('\\"', '"')


def _split(output: str) -> list[str]:
    chunks = re.split(r"(?m)^---\s*$\n?", output)
    return [c for c in chunks if c.strip()]


# kubectl gets no kubeconfig and no way out: a proxy on the discard port of this machine refuses
# every HTTP(S) connection before any name is resolved, and git may only read local repositories.
# Remote references are refused before a build anyway (collect_inputs); this is the second lock.
OFFLINE_ENV = {
    "KUBECONFIG": os.devnull, "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
    "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9", "ALL_PROXY": "http://127.0.0.1:9",
    "NO_PROXY": "", "no_proxy": "", "GIT_ALLOW_PROTOCOL": "file", "GIT_TERMINAL_PROMPT": "0",
    "GIT_CONFIG_NOSYSTEM": "1",
}


NO_API_SERVER = "unix:///dev/null/no-api-server"


def _run_batch(kubectl: str, batch_dir: Path) -> tools.Result:
    # a short-lived, allocation-heavy Go process: collecting garbage less often saves ~25% CPU
    env = {**os.environ, "GOGC": os.environ.get("GOGC", "400"), **OFFLINE_ENV}
    # The wrappers live outside the repository and list single files of it, which kustomize's
    # root-only restrictor forbids; the repository boundary is enforced by collect_inputs instead,
    # on every reference, before kustomize runs.
    # `--server` at a socket that cannot exist: kubectl (and wrappers that pick a kubectl by the
    # cluster's version) would otherwise dial the default API server, localhost:8080, for nothing.
    return tools.run([kubectl, "kustomize", f"--server={NO_API_SERVER}", "--load-restrictor", "LoadRestrictionsNone",
                      str(batch_dir)], timeout=600, env=env)


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
            if not ann and isinstance(meta, dict):
                meta.pop("annotations", None)
    return body


BATCH_SIZE = 32

_Todo = tuple[int, str, list[str]]  # a build kustomize must run: (request index, fingerprint, input files)


def _relative(files: Sequence[str], root: Path) -> tuple[str, ...]:
    return tuple(os.path.relpath(f, root) for f in files)


def _triage(requests: Sequence[BuildRequest], root: Path, cache: Cache) -> tuple[list[BuildResult | None], list[_Todo]]:
    """The result of every request that needs no kustomize run (a cached build, a missing folder,
    inputs that are refused), and the builds that do."""
    results: list[BuildResult | None] = [None] * len(requests)
    todo: list[_Todo] = []
    for i, req in enumerate(requests):
        key, found = fingerprint(req, root, cache)
        inputs = _relative(found.files, root)
        hit = cache.get("build", key) if not found.problems else None
        if hit is not None:
            results[i] = BuildResult(docs=hit, inputs=inputs, cached=True)
        elif not req.path.is_dir():
            results[i] = BuildResult(error=f"path '{os.path.relpath(req.path, root)}' does not exist", inputs=inputs)
        elif found.problems:
            # never hand kustomize a build that would read outside the repository or the network
            results[i] = BuildResult(error="; ".join(f"{p.file}:{p.line or 1}: {p.message}" for p in found.problems),
                                     inputs=inputs, problems=tuple(found.problems))
        else:
            todo.append((i, key, found.files))
    return results, todo


def _scratch(cache: Cache, requests: int) -> tuple[Path, bool]:
    """The folder of the wrappers and batches, and whether it is kept: beside the cache (reused, never
    in the repository's tree), else a temp folder."""
    folder = cache.folder()
    if folder is None:
        return Path(tempfile.mkdtemp(prefix="homelab-kustomize-")), False
    scratch = folder / "kustomize"
    wdir = scratch / "w"
    if wdir.is_dir() and sum(1 for _ in os.scandir(wdir)) > 4 * requests + 200:
        shutil.rmtree(wdir, ignore_errors=True)  # stale wrappers of long-gone trees
    return scratch, True


def _stamps(todo: list[_Todo]) -> dict[int, str]:
    """A wrapper name per build, from its fingerprint: unique even when two Kustomizations build the same thing."""
    stamp_of: dict[int, str] = {}
    for i, key, _ in todo:
        stamp, n = key[:16], 0
        while stamp in stamp_of.values():
            n += 1
            stamp = f"{key[:16]}-{n}"
        stamp_of[i] = stamp
    return stamp_of


def _run_groups(groups: list[list[_Todo]], stamp_of: dict[int, str], scratch: Path, root: Path, *, jobs: int,
                kubectl: str, done: Callable[[_Todo, list[BuiltDoc] | None, str | None], None]) -> None:
    """Run the batches, `jobs` at a time, calling `done(build, docs, error)` in this thread for each
    build as its batch finishes.

    A failing batch is split in halves until the failing members stand alone: an error is pinned on
    its Kustomization in O(failures × log(batch)) runs, not one run per member."""

    def run_group(gi: int, group: list[_Todo]) -> tuple[list[_Todo], tools.Result, Path]:
        bdir = scratch / "b" / f"{os.getpid()}-{gi}"
        bdir.mkdir(parents=True, exist_ok=True)
        (bdir / "kustomization.yaml").write_text(json.dumps({
            "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
            "resources": [f"../../w/{stamp_of[i]}" for i, _, _ in group], "buildMetadata": ["originAnnotations"],
        }), encoding="utf-8")
        return group, _run_batch(kubectl, bdir), bdir

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        running = {pool.submit(run_group, gi, g) for gi, g in enumerate(groups)}
        count = len(groups)
        while running:
            finished, running = wait(running, return_when=FIRST_COMPLETED)
            for fut in finished:
                group, res, bdir = fut.result()
                if res.ok:
                    per = _parse_batch(res.stdout, bdir, root)
                    for build in group:
                        done(build, per.get(stamp_of[build[0]], []), None)
                elif len(group) == 1:
                    done(group[0], None, _clean_error(res.stderr, scratch, root))
                else:
                    half = len(group) // 2
                    for part in (group[:half], group[half:]):
                        running.add(pool.submit(run_group, count, part))
                        count += 1


def build_many(requests: Sequence[BuildRequest], root: Path, *, cache: Cache | None = None,
               jobs: int | None = None, kubectl: str = "kubectl", batch_size: int = BATCH_SIZE,
               on_built: Callable[[int, list[BuiltDoc]], None] | None = None) -> list[BuildResult]:
    """Build every request (results in the same order), reusing cached builds whose inputs are unchanged.

    `on_built(index, docs)` is called in this thread as each batch finishes, while the others still
    run, so the caller's parsing overlaps kustomize's work.
    """
    cache = cache or Cache(None)
    results, todo = _triage(requests, root, cache)
    if not todo:
        return [r if r is not None else BuildResult(error="not built") for r in results]
    tools.require(kubectl, "to build kustomizations (`kubectl kustomize`)")
    jobs = max(1, min(jobs or (os.cpu_count() or 2), len(todo)))
    scratch, persistent = _scratch(cache, len(requests))

    def done(build: _Todo, docs: list[BuiltDoc] | None, error: str | None) -> None:
        i, key, files = build
        inputs = _relative(files, root)
        if error is None:
            cache.put("build", key, docs)
            results[i] = BuildResult(docs=docs or [], inputs=inputs)
            if on_built is not None:
                on_built(i, docs or [])
        else:
            results[i] = BuildResult(error=error, inputs=inputs)

    try:
        stamp_of = _stamps(todo)
        for i, _, _ in todo:
            _write_wrapper(scratch / "w" / stamp_of[i], stamp_of[i], requests[i])
        # kustomize's cost grows with the size of one build, and each run costs ~70 ms to start:
        # batches of a few dozen paths, `jobs` of them at a time
        size = max(1, min(batch_size, -(-len(todo) // jobs)))
        groups = [todo[j:j + size] for j in range(0, len(todo), size)]
        _run_groups(groups, stamp_of, scratch, root, jobs=jobs, kubectl=kubectl, done=done)
    finally:
        shutil.rmtree(scratch / "b" if persistent else scratch, ignore_errors=True)
    return [r if r is not None else BuildResult(error="not built") for r in results]
