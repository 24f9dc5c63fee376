"""The pydantic model of homelab.yaml: the site's facts, and nothing else.

Strict by design: an unknown key is an error (with a "did you mean" hint added by the loader),
so a typo can never silently fall back to a default. Rules that relate several keys live in
`rules.py`, where each can name the exact key that is wrong.
"""

from __future__ import annotations

from enum import Enum
from ipaddress import IPv4Address, IPv4Network
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, StringConstraints

from homelab.config.types import DnsLabel, Domain, Duration, Range, Size
from homelab.paths import DEFAULT_FLUX_PATH


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


SshKey = Annotated[str, StringConstraints(pattern=r"^(ssh-(ed25519|rsa)|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com) [A-Za-z0-9+/=]+( .*)?$")]


class Site(Strict):
    name: DnsLabel = "homelab"
    """Short name of the lab; used for the Flux cluster name, tags and TXT ownership ids."""
    domain: Domain
    """Your public DNS domain (the Cloudflare zone). Public routes live at `<name>.<domain>`."""
    lan_subdomain: DnsLabel = "lan"
    """Routes only reachable from the LAN live at `<name>.<lan_subdomain>.<domain>`."""
    timezone: str = "Etc/UTC"
    """IANA time zone for hosts and apps, e.g. `Europe/Berlin`."""
    ntp_servers: list[str] = Field(default_factory=lambda: ["0.debian.pool.ntp.org", "1.debian.pool.ntp.org"], min_length=1)
    """Time servers every host syncs against."""
    admin_user: DnsLabel = "ops"
    """The admin account Ansible and cloud-init create on every host."""
    ssh_public_keys: list[SshKey] = Field(min_length=1)
    """Public keys allowed to log in as the admin user (never private keys)."""
    acme_email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    """Contact address for Let's Encrypt."""
    public_target: str = Field(default="", pattern=r"^$|^[A-Za-z0-9.-]+$")
    """Where the internet reaches your router (a dynamic-DNS name or your WAN IPv4); the Cloudflare records of
    non-`lan` services point here, and the router forwards 443 to `metallb.traefik_address`. Empty: they point at
    `metallb.traefik_address`, so public names work inside the LAN only."""

    @property
    def lan_domain(self) -> str:
        return f"{self.lan_subdomain}.{self.domain}"


class Network(Strict):
    cidr: IPv4Network
    """The subnet, e.g. `192.168.10.0/24`."""
    gateway: IPv4Address
    """The router's address inside this subnet."""
    dns: list[IPv4Address] = Field(min_length=1)
    """Resolvers handed to hosts on this network (normally the Pi running Pi-hole)."""
    vlan: int | None = Field(default=None, ge=1, le=4094)
    """802.1Q tag, when the network is a VLAN on a VLAN-aware bridge."""
    bridge: str = "vmbr0"
    """The Proxmox bridge VMs on this network attach to."""


class Networks(Strict):
    management: Network
    """Where the Proxmox hosts, the Pi and the router live (the seed's 192.168.1.0/24)."""
    k3s: Network
    """The K3s VLAN (the seed's VLAN 10, 192.168.10.0/24); the VMs and the MetalLB pool live here."""


PROXMOX_API_PORT = 8006


def _default_api_endpoint(address: IPv4Address | None) -> AnyHttpUrl | None:
    # None only when the address itself is invalid, which is then the error reported.
    return AnyHttpUrl(f"https://{address}:{PROXMOX_API_PORT}/") if address is not None else None


class ProxmoxHost(Strict):
    address: IPv4Address
    """The host's management address."""
    api_endpoint: AnyHttpUrl = Field(default_factory=lambda data: _default_api_endpoint(data.get("address")))
    """The Proxmox API, e.g. `https://192.168.1.2:8006/`; left out, `https://<address>:8006/`."""
    node_name: DnsLabel
    """The Proxmox node name (as shown in the cluster, usually the hostname)."""
    storage: str = "local-zfs"
    """Datastore for VM disks (the seed uses ZFS pools)."""
    cores: int = Field(ge=1)
    """Physical cores the host offers to VMs."""
    memory: Size
    """Memory the host offers to VMs, e.g. `64GiB` (leave room for the host and ZFS ARC)."""
    ansible_user: DnsLabel = "root"
    """The account Ansible logs in as (Proxmox VE is administered as root)."""


class Template(Strict):
    vm_id: int = Field(ge=100, le=999_999_999)
    """VM ID of the Ubuntu 24.04 template Packer builds and Terraform clones."""
    name: DnsLabel = "ubuntu-2404-template"
    """Name of the template VM."""
    host: DnsLabel
    """Proxmox host (a key of `proxmox.hosts`) the template is built on."""


class Proxmox(Strict):
    hosts: dict[DnsLabel, ProxmoxHost] = Field(min_length=1)
    """The Proxmox hosts, by name (the seed: pve1 and pve2)."""
    template: Template
    """The cloud-init template every K3s VM is cloned from."""


class Pi(Strict):
    name: DnsLabel
    """Hostname of the Raspberry Pi (the seed: main-rpi4)."""
    address: IPv4Address
    """Its management address; it answers DNS for the LAN."""
    dns: bool = True
    """Run Pi-hole on it (LAN DNS that keeps working when the cluster is down)."""
    qdevice: bool = True
    """Give the two-node Proxmox cluster its third, tie-breaking vote (corosync-qnetd)."""
    upstream_dns: list[IPv4Address] = Field(default_factory=lambda: [IPv4Address("1.1.1.1"), IPv4Address("9.9.9.9")])
    """Resolvers Pi-hole forwards to."""
    ansible_user: DnsLabel | None = None
    """The account Ansible logs in as: the one the Pi's image was prepared with. Empty: `site.admin_user`."""


class NodeRole(str, Enum):
    """`server` runs the control plane and an etcd member; `agent` only runs workloads."""

    server = "server"
    agent = "agent"


class K3sNode(Strict):
    name: DnsLabel
    """VM and node name."""
    host: DnsLabel
    """The Proxmox host (a key of `proxmox.hosts`) this VM runs on."""
    vm_id: int = Field(ge=100, le=999_999_999)
    """Proxmox VM ID."""
    address: IPv4Address
    """Static address on the K3s network."""
    role: NodeRole = NodeRole.server
    """`server` (control plane + embedded etcd) or `agent`."""
    cores: int = Field(ge=1)
    """vCPUs."""
    memory: Size
    """Memory, e.g. `8GiB`."""
    os_disk: Size
    """Size of the OS disk (scsi0)."""
    data_disk: Size
    """Size of the second disk (scsi1, /dev/sdb in the guest) that Longhorn stores volumes on."""


class K3s(Strict):
    version: str = Field(pattern=r"^v\d+\.\d+\.\d+\+k3s\d+$")
    """Pinned K3s release, e.g. `v1.36.4+k3s1`. Raise it and re-run the playbook to upgrade."""
    api_hostname: DnsLabel = "k3s"
    """API name under the LAN domain, added to the API certificate (tls-san)."""
    nodes: list[K3sNode] = Field(min_length=1)
    """The K3s VMs, in order: the first server initialises the cluster."""

    @property
    def servers(self) -> list[K3sNode]:
        return [n for n in self.nodes if n.role is NodeRole.server]


class MetalLB(Strict):
    pool: Range
    """Addresses MetalLB may hand to LoadBalancer Services, inside the K3s network."""
    traefik_address: IPv4Address
    """The address from the pool that Traefik's LoadBalancer Service gets (every route resolves to it)."""


class Longhorn(Strict):
    replicas: int = Field(default=2, ge=1)
    """Replicas per volume (the seed: 2, across nodes)."""
    data_path: str = Field(default="/var/lib/longhorn", pattern=r"^/[^\s]*$")
    """Where the second disk is mounted and Longhorn keeps its data."""
    backup_target: str = ""
    """Backup target, e.g. `nfs://nas.lan:/export/longhorn` or `s3://bucket@region/`; empty for none."""


class Flux(Strict):
    repository: str = Field(pattern=r"^(https://|ssh://)\S+$")
    """The Git repository Flux watches (https:// or ssh://)."""
    branch: str = "main"
    """The branch Flux follows."""
    path: str = DEFAULT_FLUX_PATH
    """The cluster's folder in the repository."""
    interval: Duration = "10m"
    """How often Flux reconciles without a webhook."""


SecretKey = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]


class Bitwarden(Strict):
    organization_id: UUID
    """Your Bitwarden organization's ID; every BitwardenSecret in the Flux tree names it (`${BW_ORGANIZATION_ID}`)."""
    region: Literal["US", "EU"] = "US"
    """The Bitwarden cloud region your organization lives in (the operator's `cloudRegion`)."""
    secrets: dict[SecretKey, UUID] = Field(default_factory=dict)
    """Secrets Manager secret IDs by name; each becomes `BWS_<NAME>` in cluster-settings for the BitwardenSecrets'
    `map`. IDs are not secret (the values stay in Bitwarden); the machine-account token is never written here."""


class Exposure(str, Enum):
    """Who may reach a route: `lan` (LAN allowlist), `sso` (internet, behind Authentik), `public` (internet, no SSO)."""

    lan = "lan"
    sso = "sso"
    public = "public"


# What each exposure profile carries, in order: the shared Traefik Middlewares (namespace `traefik`) that the
# chain Middleware `exposure-<profile>` in the Flux tree lists. Routes name the chain as
# `exposure-${EXPOSURE_<SERVICE>}`, so a service's exposure in homelab.yaml reaches its route by substitution.
MIDDLEWARE_NAMESPACE = "traefik"
ALLOWLIST, FORWARD_AUTH, HEADERS = "lan-allowlist", "authentik-forward-auth", "security-headers"
PROTECTIVE = (ALLOWLIST, FORWARD_AUTH)  # the middlewares that decide who gets in
EXPOSURE_PROFILES: dict[str, tuple[str, ...]] = {
    "lan": (ALLOWLIST, FORWARD_AUTH, HEADERS),
    "lan-nosso": (ALLOWLIST, HEADERS),
    "sso": (FORWARD_AUTH, HEADERS),
    "public": (HEADERS,),
}


class Service(Strict):
    hostname: DnsLabel
    """The first label of the service's name: `<hostname>.lan.<domain>` when exposure is `lan`, else `<hostname>.<domain>`."""
    exposure: Exposure
    """`lan`: LAN allowlist only reaches it; `sso`: on the internet behind Authentik; `public`: on the internet without SSO (needs `reason`)."""
    sso: bool = True
    """For `lan` services: also require Authentik forward auth (`sso` services always do)."""
    reason: str | None = Field(default=None, min_length=10)
    """Why a `public` service may skip SSO (required for `public`)."""

    @property
    def profile(self) -> str:
        """The exposure profile its route names: `lan`, `lan-nosso`, `sso` or `public`."""
        if self.exposure is Exposure.lan:
            return "lan" if self.sso else "lan-nosso"
        return self.exposure.value

    def middlewares(self) -> tuple[str, ...]:
        """The Middlewares (namespace `traefik`) its route must run, in order."""
        return EXPOSURE_PROFILES[self.profile]

    @property
    def on_lan(self) -> bool:
        """Served under the LAN domain, reachable only through the LAN allowlist."""
        return self.exposure is Exposure.lan

    @property
    def requires_sso(self) -> bool:
        """Behind Authentik forward auth: `sso` services always, `lan` services unless `sso: false`."""
        return FORWARD_AUTH in self.middlewares()

    def access_middlewares(self) -> list[str]:
        """The Middlewares of its route that decide who gets in: the LAN allowlist and/or forward auth."""
        return [m for m in self.middlewares() if m in PROTECTIVE]


class HomelabConfig(Strict):
    """homelab.yaml: the only file a new user must edit."""

    schema_: str | None = Field(default=None, alias="$schema", exclude=True)
    """Optional JSON Schema reference for editors."""
    site: Site
    """Names, domains, time, and the admin account."""
    networks: Networks
    """The management network and the K3s VLAN."""
    proxmox: Proxmox
    """The Proxmox hosts and the VM template."""
    pi: Pi
    """The Raspberry Pi: LAN DNS and the Proxmox cluster's tie-breaker vote."""
    k3s: K3s
    """The K3s release and its VMs."""
    metallb: MetalLB
    """LoadBalancer addresses announced on the K3s VLAN (L2 mode)."""
    longhorn: Longhorn = Longhorn()
    """Replicated block storage on each VM's second disk."""
    flux: Flux
    """Where Flux reads the cluster from."""
    services: dict[DnsLabel, Service] = Field(default_factory=dict)
    """Every routed service by name, with its hostname and exposure."""
    bitwarden: Bitwarden | None = None
    """Bitwarden Secrets Manager IDs the cluster's BitwardenSecrets refer to (every secret in the cluster comes from there)."""

    def fqdn(self, service: str) -> str:
        svc = self.services[service]
        base = self.site.lan_domain if svc.on_lan else self.site.domain
        return f"{svc.hostname}.{base}"

    def service_for_host(self, host: str) -> tuple[str, Service] | None:
        """The service whose name is `host` (compared case-insensitively, as DNS does)."""
        host = host.lower()
        return next(((n, s) for n, s in self.services.items() if self.fqdn(n).lower() == host), None)

    def dns_target(self, service: str) -> str:
        """Where the service's DNS record points: Traefik for `lan`, the router's public name or address otherwise."""
        if self.services[service].exposure is Exposure.lan:
            return str(self.metallb.traefik_address)
        return self.site.public_target or str(self.metallb.traefik_address)


