"""kubernetes/clusters/homelab/flux-system/cluster-settings.yaml: the ConfigMap that Flux
Kustomizations read through `postBuild.substituteFrom`, so manifests say `${DOMAIN}`, never a literal."""

from __future__ import annotations

import io

from ruamel.yaml import YAML

from homelab.config import HomelabConfig
from homelab.render.header import hash_comment

PATH = "kubernetes/clusters/homelab/flux-system/cluster-settings.yaml"
SCHEMA = "https://raw.githubusercontent.com/yannh/kubernetes-json-schema/master/master-standalone-strict/configmap-v1.json"


def _var(name: str) -> str:
    return name.upper().replace("-", "_")


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
        "FLUX_REPOSITORY": cfg.flux.repository,
        "FLUX_BRANCH": cfg.flux.branch,
        "FLUX_INTERVAL": cfg.flux.interval,
    }
    if cfg.bitwarden is not None:
        data["BW_ORGANIZATION_ID"] = str(cfg.bitwarden.organization_id)
        data["BW_REGION"] = cfg.bitwarden.region
        for key, uuid in cfg.bitwarden.secrets.items():
            data[f"BWS_{key.upper()}"] = str(uuid)
    for name in cfg.services:
        data[f"HOST_{_var(name)}"] = cfg.fqdn(name)
    return dict(sorted(data.items()))


def render_flux(cfg: HomelabConfig) -> dict[str, str]:
    doc = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cluster-settings", "namespace": "flux-system"},
        "data": settings(cfg),
    }
    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 4096
    buf = io.StringIO()
    buf.write(f"# yaml-language-server: $schema={SCHEMA}\n---\n")
    yaml.dump(doc, buf)
    return {PATH: hash_comment() + buf.getvalue()}
