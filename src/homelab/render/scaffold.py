"""Scaffolding for `homelab new app NAME`: the files of a new app in the example app's pattern.

`apps/NAME/ks.yaml` under flux.path (a Flux Kustomization that waits for Traefik's middlewares and
Authentik) beside `apps/NAME/app/` (namespace, an app-template HelmRelease with a pinned image,
resources and remediation, and an IngressRoute naming the middleware chain of NAME's exposure,
`exposure-${EXPOSURE_NAME}`, so a later change in homelab.yaml reaches it through `homelab render`),
plus one line in `apps/kustomization.yaml`. Pure functions like the other renderers: they return
`{path: text}` and raise HomelabError for bad input; the command writes.
"""

from __future__ import annotations

import re
from pathlib import Path

from homelab.config.model import MIDDLEWARE_NAMESPACE, HomelabConfig
from homelab.errors import HomelabError
from homelab.paths import FluxPaths
from homelab.render.flux import SYNC_SOURCE, exposure_chain, exposure_var, host_var, target_var

FLUX = "https://raw.githubusercontent.com/fluxcd-community/flux2-schemas/main"
CRD = "https://raw.githubusercontent.com/datreeio/CRDs-catalog/main"
K8S = "https://raw.githubusercontent.com/yannh/kubernetes-json-schema/master/master-standalone-strict"
KUSTOMIZE = "https://json.schemastore.org/kustomization"
NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
REPO_RE = re.compile(r"^[a-z0-9]+([._-][a-z0-9]+)*(:\d+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*$")
TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")


def _ks(name: str, where: FluxPaths) -> str:
    # Authentik always: the exposure (and with it forward auth) can change in homelab.yaml without touching the app.
    dep_lines = "".join(f"    - name: {d}\n" for d in ("traefik-config", "authentik-config"))
    return f"""# yaml-language-server: $schema={FLUX}/kustomization-kustomize-v1.json
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: {name}
  namespace: flux-system
spec:
  dependsOn:
{dep_lines}  interval: 1h
  retryInterval: 2m
  timeout: 15m
  path: ./{where.app(name)}/app
  prune: true
  wait: true
{SYNC_SOURCE}"""


def _kustomization(files: list[str]) -> str:
    lines = "".join(f"  - ./{f}\n" for f in files)
    return f"""# yaml-language-server: $schema={KUSTOMIZE}
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
{lines}"""


def _namespace(name: str) -> str:
    return f"""# yaml-language-server: $schema={K8S}/namespace-v1.json
apiVersion: v1
kind: Namespace
metadata:
  name: {name}
  annotations:
    kustomize.toolkit.fluxcd.io/prune: disabled  # removing the app from Git must not delete its volumes
"""


def _helmrelease(name: str, repo: str, tag: str, port: int) -> str:
    return f"""# yaml-language-server: $schema={FLUX}/helmrelease-helm-v2.json
# {name}, run by the app-template chart (scaffolded by `homelab new app`; edit freely).
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: {name}
  namespace: {name}
spec:
  interval: 1h
  chartRef:
    kind: OCIRepository
    name: app-template  # tag pins the chart version: sources/app-template.yaml
    namespace: flux-system
  install:
    remediation:
      retries: 3
  upgrade:
    cleanupOnFail: true
    remediation:
      retries: 3
      strategy: rollback
  values:
    controllers:
      {name}:
        containers:
          app:
            image:
              repository: {repo}
              tag: "{tag}"
            env:
              TZ: ${{TIMEZONE}}
            resources:
              requests:
                cpu: 10m
                memory: 64Mi
              limits:
                memory: 256Mi
    service:
      app:
        controller: {name}
        ports:
          http:
            port: {port}
"""


def _ingressroute(name: str, port: int) -> str:
    host, exposure, target = host_var(name), exposure_var(name), target_var(name)
    return f"""# yaml-language-server: $schema={CRD}/traefik.io/ingressroute_v1alpha1.json
# https://${{{host}}}. Its middleware chain and its DNS record's target follow this service's exposure
# in homelab.yaml ({exposure}, {target} in cluster-settings); the wildcard certificate is Traefik's default.
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata:
  name: {name}
  namespace: {name}
  annotations:
    external-dns.alpha.kubernetes.io/target: ${{{target}}}
spec:
  entryPoints:
    - websecure
  routes:
    - kind: Rule
      match: Host(`${{{host}}}`)
      middlewares:
        - name: {exposure_chain(name)}
          namespace: {MIDDLEWARE_NAMESPACE}
      services:
        - name: {name}
          port: {port}
"""


def _pinned_image(image: str) -> tuple[str, str]:
    """REPO:TAG (or REPO:TAG@sha256:..) -> (repo, tag); a missing or floating tag is an error."""
    ref, _, digest = image.partition("@")
    repo, _, tag = ref.rpartition(":") if ":" in ref.rsplit("/", 1)[-1] else (ref, "", "")
    if (not REPO_RE.match(repo) or not TAG_RE.match(tag) or tag == "latest"
            or (digest and not DIGEST_RE.match(digest))):
        raise HomelabError.single("--image", f"'{image}' is not a pinned image reference",
                                  hint="give the repository and an explicit version tag, e.g. ghcr.io/owner/app:1.2.3")
    return repo, f"{tag}@{digest}" if digest else tag


def scaffold(cfg: HomelabConfig, name: str, image: str, port: int, config_file: str = "homelab.yaml",
             services_line: int | None = None) -> dict[str, str]:
    """The files of a new app, {repo-relative path: text}; raises HomelabError for bad input."""
    if not NAME_RE.match(name):
        raise HomelabError.single("NAME", f"'{name}' is not a valid app name",
                                  hint="use a DNS label: lower-case letters, digits and '-', e.g. 'wiki'")
    if name not in cfg.services:
        raise HomelabError.single(config_file, f"service '{name}' is not declared, so it has no hostname or exposure",
                                  line=services_line, path="services",
                                  hint=f"add services.{name} (hostname, exposure) and run `homelab render`")
    repo, tag = _pinned_image(image)
    where = FluxPaths.of(cfg)
    base = where.app(name)
    app_files = ["namespace.yaml", "helmrelease.yaml", "ingressroute.yaml"]
    return {
        f"{base}/ks.yaml": _ks(name, where),
        f"{base}/app/kustomization.yaml": _kustomization(app_files),
        f"{base}/app/namespace.yaml": _namespace(name),
        f"{base}/app/helmrelease.yaml": _helmrelease(name, repo, tag, port),
        f"{base}/app/ingressroute.yaml": _ingressroute(name, port),
    }


def with_app(kustomization: Path, name: str) -> str:
    """apps/kustomization.yaml with ./NAME/ks.yaml appended to resources, comments kept."""
    text = kustomization.read_text(encoding="utf-8")
    entry = f"./{name}/ks.yaml"
    if re.search(rf"^\s*-\s*{re.escape(entry)}\s*$", text, re.M):
        raise HomelabError.single(str(kustomization), f"{entry} is already listed", hint="pick another name")
    if not re.search(r"^resources:\s*$", text, re.M):
        raise HomelabError.single(str(kustomization), "has no `resources:` list to add the app to",
                                  hint="restore it from Git")
    return text.rstrip("\n") + f"\n  - {entry}\n"
