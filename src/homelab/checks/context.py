"""What rules get: the repository, homelab.yaml, the Flux tree (read once, on demand), caches, notes."""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from homelab import paths, tools
from homelab.config import HomelabConfig
from homelab.errors import HomelabError
from homelab.gitops import Cache, FluxTree, load_tree

if TYPE_CHECKING:
    from homelab.charts.releases import Charts

SKIP_DIRS = {".git", ".homelab", ".venv", "node_modules", "__pycache__", ".terraform", ".pytest_cache",
             "packer_cache", "build", "dist"}


@dataclass
class Options:
    schemas: Path | None = None          # CRD schema folder (<group>/<kind>_<version>.json)
    kubernetes_version: str | None = None  # e.g. "1.36"; default: from homelab.yaml k3s.version
    infra: bool = False                  # run the infra/* linters
    exclude: tuple[str, ...] = ()        # globs of repository files the file rules skip (not the Flux tree)
    jobs: int | None = None
    pull: bool = False                   # download charts missing from the cache from their repositories
    offline: bool = False                # never touch the network (an http chart mirror included)


@dataclass
class CheckContext:
    root: Path
    cfg: HomelabConfig
    cache: Cache
    options: Options = field(default_factory=Options)
    notes: list[str] = field(default_factory=list)
    config_file: str = paths.CONFIG_FILE  # homelab.yaml, relative to root: findings about it point here
    # The tree and its charts when the caller already read them with these options (`homelab plan`).
    given: tuple[FluxTree, Charts] | None = field(default=None, repr=False)

    def config_line(self, *keys: str | int) -> int | None:
        """The line of a key of homelab.yaml (the deepest one that exists), for findings and hints."""
        from homelab.yamlio import load_located

        try:
            doc, _ = load_located(self.root / self.config_file, display=self.config_file)
        except HomelabError:
            return None
        return doc.line_of(keys)

    @cached_property
    def flux_tree(self) -> FluxTree:
        """The tree as Flux applies it from Git (no chart rendered)."""
        if self.given is not None:
            return self.given[0]
        return load_tree(self.root, self.cfg, cache=self.cache, jobs=self.options.jobs)

    @cached_property
    def charts(self) -> Charts:
        """Every HelmRelease's chart, values and rendered objects (`homelab.charts.releases`)."""
        from homelab.charts.releases import render_tree

        if self.given is not None:
            return self.given[1]
        return render_tree(self.flux_tree, kube_version=self.kube_version, cache=self.cache,
                           download=self.options.pull, offline=self.options.offline, jobs=self.options.jobs)

    @cached_property
    def tree(self) -> FluxTree:
        """The Flux tree with every chart's rendered objects among `objects` (each carrying its
        HelmRelease's file and line and its template), so every rule checks them too."""
        from homelab.charts.releases import with_rendered

        return with_rendered(self.flux_tree, self.charts)

    @cached_property
    def files(self) -> list[str]:
        """Repository-relative files a push would carry: `git ls-files` (tracked + untracked, not
        ignored) inside a work tree, else every file outside caches and virtualenvs."""
        listed: tools.Result | None
        top: tools.Result | None
        try:
            listed = tools.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                               cwd=self.root, timeout=60)
            top = tools.run(["git", "rev-parse", "--show-prefix"], cwd=self.root, timeout=60)
        except HomelabError:  # git missing or hanging: walk the folder instead
            listed = top = None
        if listed is not None and top is not None and listed.ok and top.ok and top.stdout.strip() == "":
            names = sorted({n for n in listed.stdout.split("\0") if n})
            return [n for n in names if (self.root / n).is_file() and not self.excluded(n)]
        found: list[str] = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
            rel = os.path.relpath(dirpath, self.root)
            found.extend(os.path.normpath(os.path.join(rel, f)) for f in sorted(filenames))
        return [f for f in found if not self.excluded(f)]

    def excluded(self, rel: str) -> bool:
        if rel.split("/", 1)[0] in SKIP_DIRS:
            return True  # our own cache (even where no .gitignore hides it), VCS and tool folders
        return any(fnmatch.fnmatchcase(rel, g) or fnmatch.fnmatchcase(rel, g.rstrip("/") + "/*")
                   for g in self.options.exclude)

    def read(self, rel: str) -> bytes | None:
        got = self.cache.read(self.root / rel)
        return got[0] if got else None

    def text(self, rel: str) -> str | None:
        data = self.read(rel)
        if data is None or b"\0" in data[:8192]:
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return None

    def file_digest(self, rel: str) -> str | None:
        got = self.cache.read(self.root / rel)
        return got[1] if got else None

    @property
    def k8s_version(self) -> str:
        if self.options.kubernetes_version:
            return self.options.kubernetes_version.lstrip("v")
        v = self.cfg.k3s.version.lstrip("v").split("+", 1)[0]
        return ".".join(v.split(".")[:2])

    @property
    def kube_version(self) -> str:
        """The cluster's full version for Helm's `.Capabilities.KubeVersion` (e.g. v1.36.4+k3s1)."""
        from homelab.charts.releases import kube_version

        return kube_version(self.cfg.k3s.version, self.options.kubernetes_version)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)
