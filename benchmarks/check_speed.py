#!/usr/bin/env python3
"""Benchmark `homelab check` on synthetic Flux trees of N apps, in this repository's pattern.

Each app: a Flux Kustomization (`apps/<app>/ks.yaml`), an `app/` folder with a kustomization.yaml,
a HelmRelease, a Deployment, a Service and an IngressRoute (a LAN route with allowlist and SSO,
under its own path of the `home` service, so homelab.yaml stays the bundled one), on top of the
infrastructure of the clean fixture tree (Traefik, cert-manager, MetalLB, sm-operator).

For each N it measures `homelab check` (a fresh process, the infra/* linters off) cold (no cache),
warm (second run, nothing changed) and warm with one app changed, and reports wall time and the
peak RSS of the largest process (the check itself; kubectl runs are smaller). With `--repo` it
also measures the repository's own tree.

    python benchmarks/check_speed.py                 # N = 10, 100, 1000
    python benchmarks/check_speed.py --sizes 10,100 --repo --markdown benchmarks/results.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASE_TREE = ROOT / "tests" / "fixtures" / "check" / "clean-tree"
APPS = "kubernetes/clusters/homelab/apps"


def _schemas() -> Path:
    shared = ROOT.parent / "shared" / "crd-schemas"
    return shared if shared.is_dir() else ROOT / "schema" / "crds"


def app_files(name: str) -> dict[str, str]:
    ks = f"""---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: {name}
  namespace: flux-system
spec:
  interval: 10m
  path: ./{APPS}/{name}/app
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
  dependsOn:
    - name: traefik-middlewares
  postBuild:
    substituteFrom:
      - kind: ConfigMap
        name: cluster-settings
"""
    hr = f"""---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: {name}-cache
  namespace: {name}
spec:
  interval: 30m
  chart:
    spec:
      chart: podinfo
      version: 6.9.2
      sourceRef:
        kind: HelmRepository
        name: podinfo
        namespace: flux-system
  values:
    replicaCount: 1
    redis:
      enabled: true
"""
    deploy = f"""---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: {name}
spec:
  replicas: 1
  selector:
    matchLabels:
      app.kubernetes.io/name: {name}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: {name}
    spec:
      automountServiceAccountToken: false
      containers:
        - name: app
          image: ghcr.io/stefanprodan/podinfo:6.9.2
          ports:
            - name: http
              containerPort: 9898
          env:
            - name: TZ
              value: ${{TIMEZONE}}
          resources:
            requests:
              cpu: 10m
              memory: 32Mi
"""
    svc = f"""---
apiVersion: v1
kind: Service
metadata:
  name: {name}
  namespace: {name}
spec:
  selector:
    app.kubernetes.io/name: {name}
  ports:
    - name: http
      port: 80
      targetPort: http
"""
    route = f"""---
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata:
  name: {name}
  namespace: {name}
spec:
  entryPoints:
    - websecure
  routes:
    - match: Host(`${{HOST_HOMEPAGE}}`) && PathPrefix(`/{name}`)
      kind: Rule
      middlewares:
        - name: lan-allowlist
          namespace: traefik
        - name: authentik-forward-auth
          namespace: traefik
      services:
        - name: {name}
          port: 80
  tls: {{}}
"""
    ns = f"---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n"
    kz = ("---\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n"
          "  - ./namespace.yaml\n  - ./helmrelease.yaml\n  - ./deployment.yaml\n  - ./service.yaml\n"
          "  - ./ingressroute.yaml\n")
    return {f"{name}/ks.yaml": ks, f"{name}/app/kustomization.yaml": kz, f"{name}/app/namespace.yaml": ns,
            f"{name}/app/helmrelease.yaml": hr, f"{name}/app/deployment.yaml": deploy,
            f"{name}/app/service.yaml": svc, f"{name}/app/ingressroute.yaml": route}


def generate(dest: Path, n: int) -> list[str]:
    """A clean repository with N synthetic apps; returns the app names."""
    sys.path.insert(0, str(ROOT / "src"))
    from homelab.config import load_config
    from homelab.render import render_all, write

    shutil.copytree(BASE_TREE, dest, dirs_exist_ok=True)
    names = [f"app-{i:04d}" for i in range(1, n + 1)]
    shutil.copy(ROOT / "homelab.yaml", dest / "homelab.yaml")
    apps = dest / APPS
    for a in names:
        for rel, body in app_files(a).items():
            (apps / rel).parent.mkdir(parents=True, exist_ok=True)
            (apps / rel).write_text(body)
    (apps / "kustomization.yaml").write_text(
        "---\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ./homepage/ks.yaml\n"
        + "".join(f"  - ./{a}/ks.yaml\n" for a in names))
    (dest / "kubernetes/clusters/homelab/sources/podinfo.yaml").write_text(
        "---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata:\n  name: podinfo\n"
        "  namespace: flux-system\nspec:\n  interval: 1h\n  url: https://stefanprodan.github.io/podinfo\n")
    src_kz = dest / "kubernetes/clusters/homelab/sources/kustomization.yaml"
    src_kz.write_text(src_kz.read_text() + "  - ./podinfo.yaml\n")
    write(render_all(load_config(dest / "homelab.yaml")), dest)
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    return names


MEASURE = r"""
import json, resource, subprocess, sys, time
t = time.perf_counter()
p = subprocess.run(sys.argv[1:], capture_output=True, text=True)
wall = time.perf_counter() - t
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
peak, cpu = ru.ru_maxrss, ru.ru_utime + ru.ru_stime
print(json.dumps({"wall": wall, "cpu": cpu, "peak_kib": peak, "rc": p.returncode, "stdout": p.stdout, "stderr": p.stderr[-2000:]}))
"""


def run_check(repo: Path, extra: list[str] | None = None) -> dict:
    """One `homelab check` in a fresh process; wall time, peak RSS, and the JSON report."""
    # The bundled homelab.yaml is the example (site/placeholder warnings), the synthetic trees route only some
    # of its services (site/service-unrouted), and their podinfo chart is in no cache (helm/chart-unavailable:
    # this benchmark times the Git tree at scale; benchmarks/chart_speed.py times the charts): all true of these
    # trees, none about speed.
    argv = [sys.executable, "-m", "homelab", "-c", str(repo / "homelab.yaml"), "check", "--format", "json",
            "--schemas", str(_schemas()), "--ignore", "site/placeholder,site/service-unrouted,helm/chart-unavailable",
            *(extra or [])]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run([sys.executable, "-c", MEASURE, *argv], capture_output=True, text=True, env=env, check=True)
    m = json.loads(out.stdout)
    try:
        report = json.loads(m["stdout"])
    except ValueError:
        raise SystemExit(f"homelab check failed (rc {m['rc']}):\n{m['stderr']}") from None
    if report["exit_code"] != 0:
        bad = "\n".join(f"  {f['rule']} {f['file']}:{f['line']} {f['message']}" for f in report["findings"][:10])
        raise SystemExit(f"the synthetic tree is not clean:\n{bad}")
    return {"wall": m["wall"], "cpu": m["cpu"], "peak_mib": m["peak_kib"] / 1024, "stats": report["stats"]}


def bench(repo: Path, change: Path | None) -> dict:
    shutil.rmtree(repo / ".homelab", ignore_errors=True)
    res = {"cold": run_check(repo), "warm": run_check(repo)}
    if change is not None:
        change.write_text(change.read_text().replace("podinfo:6.9.2", "podinfo:6.9.3"))
        res["one_changed"] = run_check(repo)
    return res


def fmt_row(label: str, r: dict) -> str:
    def cell(k):
        if k not in r:
            return "–"
        x = r[k]
        return f"{x['wall']:.2f} s ({x['cpu']:.2f} s CPU) / {x['peak_mib']:.0f} MiB"
    built = r.get("one_changed", {}).get("stats", {}).get("built", "–")
    objs = r["cold"]["stats"].get("objects", "?")
    return f"| {label} | {objs} | {cell('cold')} | {cell('warm')} | {cell('one_changed')} | {built} |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="10,100,1000", help="comma-separated app counts")
    ap.add_argument("--repo", action="store_true", help="also measure this repository's own tree")
    ap.add_argument("--markdown", type=Path, help="write the table to this file too")
    ap.add_argument("--keep", type=Path, help="generate the trees here and keep them")
    args = ap.parse_args()
    rows = []
    header = ("| tree | objects | cold | warm | one app changed | rebuilt |\n"
              "|---|---:|---:|---:|---:|---:|")
    print(header, flush=True)
    if args.repo:
        r = bench(ROOT, None)
        rows.append(fmt_row("this repository", r))
        print(rows[-1], flush=True)
    for n in [int(s) for s in args.sizes.split(",") if s]:
        base = args.keep or Path(tempfile.mkdtemp(prefix="homelab-bench-"))
        repo = base / f"n{n}"
        shutil.rmtree(repo, ignore_errors=True)
        names = generate(repo, n)
        r = bench(repo, repo / APPS / names[0] / "app" / "deployment.yaml")
        rows.append(fmt_row(f"N = {n}", r))
        print(rows[-1], flush=True)
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    machine = f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs"
    load = os.getloadavg()[0]
    text = (header + "\n" + "\n".join(rows) + f"\n\nwall time (CPU time of all processes) / peak RSS; {machine}, "
            f"load average {load:.1f} at the end; `homelab check` without --infra.\n")
    if args.markdown:
        args.markdown.write_text(text)


if __name__ == "__main__":
    main()
