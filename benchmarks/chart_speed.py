#!/usr/bin/env python3
"""Benchmark `homelab check` and `homelab plan` on this repository's tree with every chart rendered.

Works on a scratch copy of the repository's homelab.yaml, glue files, Flux tree, vendored CRD
schemas and pyproject.toml, with `HOMELAB_CHART_MIRROR` pointing at the chart mirror (every chart "in the cache": the
charts are read from disk, nothing is downloaded). Each run is the real CLI in a fresh process:

- check cold: no `.homelab/cache` (no kustomize build, no render, no scan cached);
- check warm: nothing changed;
- check with one HelmRelease's values changed (Grafana's CPU request): that one release renders again;
- plan warm: `homelab plan -f json` after the runs above (median of N);
- the renders alone, in-process with no render cache, on one thread and on one per CPU (the
  native library releases the GIL, so releases render concurrently).

Wall and CPU seconds (this process's children, so the kubectl builds count too). The compiled
schema validators and the CRD schemas taken from the charts live in `~/.cache/homelab` like .pyc
files; `--first-ever` empties those too for the first cold run.

    python benchmarks/chart_speed.py [--mirror DIR] [-n 3] [--first-ever] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GLUE = ("terraform/homelab.auto.tfvars.json", "packer/ubuntu-2404/homelab.auto.pkrvars.hcl",
        "ansible/inventories/group_vars/all/homelab.yml")
GRAFANA = "kubernetes/clusters/homelab/infrastructure/controllers/grafana/app/helmrelease.yaml"


def copy_repo(dest: Path) -> Path:
    """homelab.yaml, the glue, the Flux tree, the vendored CRD schemas, and pyproject.toml (for the
    same `[tool.homelab.check] exclude` as the repository)."""
    dest.mkdir(parents=True)
    for rel in ("homelab.yaml", "pyproject.toml"):
        shutil.copy(ROOT / rel, dest / rel)
    for rel in ("kubernetes", "schema"):
        shutil.copytree(ROOT / rel, dest / rel)
    for rel in GLUE:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, dest / rel)
    return dest


def run(repo: Path, mirror: Path, *args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "HOMELAB_CHART_MIRROR": str(mirror)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "homelab", "-c", str(repo / "homelab.yaml"), *args], cwd=repo,
                          env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode == 2:
        sys.exit(f"homelab {args[0]} failed: {proc.stderr.strip()}")
    out = {"wall": wall, "cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)}
    if args[0] == "check":
        report = json.loads(proc.stdout)
        out["note"] = next((n for n in report.get("notes", []) if n.startswith("charts:")), "")
        out["objects"] = report["stats"].get("objects")
    return out


def render_alone(repo: Path, mirror: Path, jobs: int) -> dict:
    """Every release rendered in this process with an empty render cache: wall and CPU seconds."""
    os.environ["HOMELAB_CHART_MIRROR"] = str(mirror)
    sys.path.insert(0, str(ROOT / "src"))
    from homelab.charts.releases import kube_version, render_tree
    from homelab.config import load_config
    from homelab.gitops import Cache, load_tree

    cfg = load_config(repo / "homelab.yaml")
    tree = load_tree(repo, cfg, cache=Cache(None))
    t0, c0 = time.perf_counter(), time.process_time()
    charts = render_tree(tree, kube_version=kube_version(cfg.k3s.version), cache=Cache(None), jobs=jobs)
    return {"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0,
            "note": f"{len(charts.rendered)} releases, {jobs} thread(s)"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mirror", type=Path, default=ROOT.parent / "shared" / "charts")
    ap.add_argument("-n", type=int, default=3, help="timed plan runs (median)")
    ap.add_argument("--first-ever", action="store_true", help="also empty ~/.cache/homelab before the cold run")
    ap.add_argument("--markdown", type=Path, help="append the table to this file")
    opts = ap.parse_args()
    if not opts.mirror.is_dir():
        sys.exit(f"no chart mirror at {opts.mirror} (pass --mirror DIR)")
    with tempfile.TemporaryDirectory(prefix="homelab-chart-bench-") as tmp:
        repo = copy_repo(Path(tmp) / "repo")
        if opts.first_ever:
            base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "homelab"
            shutil.rmtree(base, ignore_errors=True)
        check = ("check", "--format", "json")
        rows = {"check cold (no .homelab/cache)": run(repo, opts.mirror, *check),
                "check warm": run(repo, opts.mirror, *check)}
        hr = repo / GRAFANA
        hr.write_text(hr.read_text().replace("cpu: 50m", "cpu: 60m", 1))
        rows["check, one HelmRelease's values changed"] = run(repo, opts.mirror, *check)
        plans = [run(repo, opts.mirror, "plan", "-f", "json") for _ in range(max(opts.n, 1))]
        rows[f"plan warm (median of {len(plans)})"] = {
            "wall": statistics.median(p["wall"] for p in plans), "cpu": statistics.median(p["cpu"] for p in plans)}
        for jobs in dict.fromkeys((1, os.cpu_count() or 1)):
            rows[f"renders alone, {jobs} thread(s)"] = render_alone(repo, opts.mirror, jobs)
    load = os.getloadavg()[0]
    lines = ["| run | wall | CPU | charts |", "|---|---:|---:|---|"]
    for label, r in rows.items():
        lines.append(f"| {label} | {r['wall']:.2f} s | {r['cpu']:.2f} s | {r.get('note', '').removeprefix('charts: ')} |")
    lines.append(f"\nload average {load:.1f} on {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    text = "\n".join(lines) + "\n"
    print(text)
    if opts.markdown:
        with opts.markdown.open("a", encoding="utf-8") as fh:
            fh.write("\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
