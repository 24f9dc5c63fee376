"""Flux's glue in `<flux.path>/flux-system/`:

- cluster-settings.yaml: the ConfigMap that Flux Kustomizations read through
  `postBuild.substituteFrom`, so manifests say `${DOMAIN}`, never a literal;
- git-repository.yaml and flux-system.yaml: the sync objects `flux bootstrap` would generate
  (gotk-sync), here generated from homelab.yaml's `flux:`. They cannot use substitution: they are
  applied before any Kustomization with `substituteFrom` exists, at bootstrap and on first sync."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

from homelab.config import HomelabConfig
from homelab.paths import FluxPaths
from homelab.render.header import hash_comment
from homelab.yamlio import dump

FLUX_SCHEMAS = "https://raw.githubusercontent.com/fluxcd-community/flux2-schemas/main"
SCHEMA = "https://raw.githubusercontent.com/yannh/kubernetes-json-schema/master/master-standalone-strict/configmap-v1.json"


# What every Flux Kustomization of this tree ends with: the repository's own source, and the site
# facts from cluster-settings (the sync objects here, `homelab new app`'s ks.yaml in render/scaffold).
SYNC_SOURCE = """  sourceRef:
    kind: GitRepository
    name: flux-system
  postBuild:
    substituteFrom:
      - kind: ConfigMap
        name: cluster-settings
"""

def _var(name: str) -> str:
    return name.upper().replace("-", "_")


def host_var(name: str) -> str:
    return f"HOST_{_var(name)}"


def exposure_var(name: str) -> str:
    return f"EXPOSURE_{_var(name)}"


def exposure_chain(name: str) -> str:
    """The chain Middleware a service's route names (namespace traefik): its exposure profile, by substitution."""
    return f"exposure-${{{exposure_var(name)}}}"


def target_var(name: str) -> str:
    return f"DNS_TARGET_{_var(name)}"


SERVICE_VAR = re.compile(r"^(?:HOST|EXPOSURE|DNS_TARGET)_([A-Z0-9_]+)$")


def service_of_var(var: str) -> str | None:
    """`HOST_FLUX_WEBHOOK` → `flux-webhook`: the service a per-service variable names (None for others)."""
    m = SERVICE_VAR.match(var)
    return m.group(1).lower().replace("_", "-") if m else None


def undeclared_service(var: str, services: Iterable[str]) -> str | None:
    """The service a per-service variable names when homelab.yaml does not declare it and the name is not a
    near-miss of one it does (`HOST_HOME_PAGE` for `homepage` is a typo, not a removed service)."""
    name, known = service_of_var(var), list(services)
    if name is None or name in known or difflib.get_close_matches(name, known, n=1, cutoff=0.8):
        return None
    return name


def settings(cfg: HomelabConfig) -> dict[str, str]:
    site = cfg.site
    data = {
        "CLUSTER_NAME": site.name,
        "DOMAIN": site.domain,
        "LAN_DOMAIN": site.lan_domain,
        "TIMEZONE": site.timezone,
        "ACME_EMAIL": site.acme_email,
        "MANAGEMENT_CIDR": str(cfg.networks.management.cidr),
        "K3S_CIDR": str(cfg.networks.k3s.cidr),
        "METALLB_RANGE": str(cfg.metallb.pool),
        "TRAEFIK_LB_IP": str(cfg.metallb.traefik_address),
        "PIHOLE_URL": f"http://{cfg.pi.address}",
        "LONGHORN_REPLICAS": str(cfg.longhorn.replicas),
        "LONGHORN_DATA_PATH": cfg.longhorn.data_path,
        "LONGHORN_BACKUP_TARGET": cfg.longhorn.backup_target,
        "NODE_COUNT": str(len(cfg.k3s.nodes)),
        # without a public address, public names resolve to Traefik's LAN address (LAN-only)
        "PUBLIC_TARGET": site.public_target or str(cfg.metallb.traefik_address),
    }
    if cfg.bitwarden is not None:
        data["BW_ORGANIZATION_ID"] = str(cfg.bitwarden.organization_id)
        data["BW_REGION"] = cfg.bitwarden.region
        for key, uuid in cfg.bitwarden.secrets.items():
            data[f"BWS_{key.upper()}"] = str(uuid)
    for name, svc in cfg.services.items():
        data[host_var(name)] = cfg.fqdn(name)
        # the route's middlewares are the chain `exposure-${EXPOSURE_<S>}`; its record points at DNS_TARGET_<S>
        data[exposure_var(name)] = svc.profile
        data[target_var(name)] = cfg.dns_target(name)
    return dict(sorted(data.items()))


def render_flux(cfg: HomelabConfig) -> dict[str, str]:
    doc = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cluster-settings", "namespace": "flux-system"},
        "data": settings(cfg),
    }
    text = f"# yaml-language-server: $schema={SCHEMA}\n---\n" + dump(doc)
    return {FluxPaths.of(cfg).cluster_settings: hash_comment() + text, **_sync(cfg)}


def _flux_system_object(schema: str, about: str, api_version: str, kind: str, spec: str) -> str:
    """One of the sync objects, named `flux-system` as `flux bootstrap` names them, under its schema and a
    comment saying what it does."""
    return f"""# yaml-language-server: $schema={FLUX_SCHEMAS}/{schema}
---
{about}apiVersion: {api_version}
kind: {kind}
metadata:
  name: flux-system
  namespace: flux-system
spec:
{spec}"""


def _sync(cfg: HomelabConfig) -> dict[str, str]:
    f = cfg.flux
    where = FluxPaths.of(cfg)
    git_repository = _flux_system_object(
        "gitrepository-source-v1.json",
        "# The repository and branch Flux follows (flux.repository, flux.branch, flux.interval).\n",
        "source.toolkit.fluxcd.io/v1", "GitRepository", f"""  interval: {f.interval}
  url: {f.repository}
  ref:
    branch: {f.branch}
  ignore: |
    # only the cluster tree is Flux's business
    /*
    !/{where.top}
""")
    sync = _flux_system_object(
        "kustomization-kustomize-v1.json",
        "# The sync Kustomization: applies the whole tree, itself included, every flux.interval or as soon\n"
        "# as the push webhook (receiver.yaml) fires. Everything it applies directly is a Flux or core kind.\n",
        "kustomize.toolkit.fluxcd.io/v1", "Kustomization", f"""  interval: {f.interval}
  path: {where.flux_path}
  prune: true
{SYNC_SOURCE}""")
    return {where.git_repository: hash_comment() + git_repository, where.sync: hash_comment() + sync}
