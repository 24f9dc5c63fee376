#!/usr/bin/env python3
"""How long `homelab plan` takes on this repository's own tree (the README's main job; budget: 1 s).

Runs the real CLI in a fresh process, as a user would: one warm-up run (fills .homelab/cache with
the kustomize builds and check results, as any earlier `homelab plan` or `homelab check` does),
then N timed runs, with and without the `homelab check` summary. Reports wall and CPU seconds
(min and median); CPU time is the fairer number on a busy machine. Exit 1 when the median wall
time of the default run is over the budget.

    python benchmarks/plan_speed.py [-n 5] [--budget 1.0] [--cold]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_once(args: list[str]) -> tuple[float, float, int]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "homelab", "plan", "-f", "json", *args], cwd=ROOT, env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode == 2:
        sys.exit(f"homelab plan failed: {proc.stderr.strip()}")
    return wall, cpu, proc.returncode


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=5, help="timed runs per variant")
    ap.add_argument("--budget", type=float, default=1.0, help="seconds allowed for the median default run")
    ap.add_argument("--cold", action="store_true", help="also time one run with an empty .homelab/cache")
    opts = ap.parse_args()
    if opts.cold:
        shutil.rmtree(ROOT / ".homelab" / "cache", ignore_errors=True)
        wall, cpu, _ = run_once([])
        print(f"cold (empty cache)      wall {wall:6.2f}s  cpu {cpu:6.2f}s")
    run_once([])  # warm-up
    verdict = 0
    for label, args in (("homelab plan", []), ("homelab plan --no-check", ["--no-check"])):
        walls, cpus = zip(*[run_once(args)[:2] for _ in range(opts.n)])
        med = statistics.median(walls)
        print(f"{label:<24} wall min {min(walls):5.2f}s median {med:5.2f}s   cpu min {min(cpus):5.2f}s "
              f"median {statistics.median(cpus):5.2f}s   ({opts.n} runs)")
        if label == "homelab plan" and med > opts.budget:
            verdict = 1
    load = os.getloadavg()[0]
    print(f"budget {opts.budget:.2f}s for the median wall time of `homelab plan`: {'OVER' if verdict else 'ok'}"
          f" (load average {load:.1f} on {os.cpu_count()} CPUs)")
    return verdict


if __name__ == "__main__":
    sys.exit(main())
