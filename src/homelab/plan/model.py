"""The plan as typed data: every section `homelab plan` reports, as pydantic models.

`homelab.plan.build()` returns a `Plan`; the table, Markdown, HTML, JSON and Mermaid views read it,
and `schema/plan.schema.json` is generated from it (`homelab plan --schema`), so the JSON output,
its schema and the views cannot drift apart. Byte counts are integers (`*_bytes`), CPU is in
millicores (`*_millis`), addresses are dotted IPv4 strings.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from homelab.findings import Finding, Severity

PLAN_VERSION: Literal[2] = 2
SeverityName = Literal["error", "warning", "info"]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FindingRow(Model):
    """A `homelab.findings.Finding` as data: `line` is the line of the key (or object) to change."""

    rule: str
    severity: SeverityName
    message: str
    file: str | None = None
    line: int | None = None
    hint: str = ""

    @classmethod
    def of(cls, f: Finding) -> FindingRow:
        return cls(rule=f.rule, severity=f.severity.value, message=f.message, file=f.file, line=f.line, hint=f.hint)

    def at(self) -> str:
        """`file:line`, or the file alone, or ""."""
        return f"{self.file}:{self.line}" if self.file and self.line else (self.file or "")


class CheckFindingRow(FindingRow):
    """A finding of `homelab check`, with its `file:line` spelled out for jq users."""

    location: str = ""


class Unavailable(Model):
    """A section that could not be produced, and why."""

    available: Literal[False] = False
    reason: str


# ------------------------------------------------------------------------------------------ validation

class GlueDrift(Model):
    path: str
    state: str = Field(description="missing or stale (as `homelab render --check` says).")


class CheckSummary(Model):
    """`homelab check` as it runs by default, summarised: counts and the first five errors and warnings."""

    available: Literal[True] = True
    errors: int = Field(ge=0)
    warnings: int = Field(ge=0)
    waived: int = Field(ge=0)
    top: list[CheckFindingRow]


class Validation(Model):
    config: Literal["valid"] = Field(default="valid", description="An invalid homelab.yaml never produces a plan (exit 2).")
    glue: list[GlueDrift] = Field(default_factory=list, description="Glue files `homelab render` would change; empty when current.")
    check: CheckSummary | Unavailable = Unavailable(reason="not run")
    placeholders: list[FindingRow] = Field(default_factory=list,
                                            description="site/placeholder: example values homelab.yaml still holds.")


# --------------------------------------------------------------------------------- from homelab.yaml

class Site(Model):
    name: str
    domain: str
    lan_domain: str


class Vm(Model):
    name: str
    vm_id: int
    role: Literal["server", "agent"]
    address: str
    cores: int
    memory_bytes: int
    os_disk_bytes: int
    data_disk_bytes: int


class Template(Model):
    name: str
    vm_id: int


class Host(Model):
    name: str
    address: str
    node_name: str
    storage: str
    cores: int
    memory_bytes: int
    committed_cores: int
    committed_memory_bytes: int
    vms: list[Vm]
    template: Template | None = Field(description="The VM template, on the host that holds it.")


class Pi(Model):
    name: str
    address: str
    roles: list[Literal["dns", "qdevice"]]
    upstream_dns: list[str]


class Address(Model):
    address: str
    kinds: list[Literal["gateway", "dns", "proxmox", "pi", "node", "loadbalancer"]]
    holders: list[str]
    network: Literal["management", "k3s"]


class PoolUse(Model):
    address: str
    service: str


class MetalLB(Model):
    pool: str
    first: str
    last: str
    size: int
    used: list[PoolUse]
    free: int


class Route(Model):
    """A service of homelab.yaml and where its name goes."""

    service: str
    host: str
    exposure: Literal["lan", "sso", "public"]
    protection: list[str] = Field(description="The protective middlewares its route runs: lan-allowlist, authentik-forward-auth.")
    protection_from: Literal["tree", "homelab.yaml", "none"] = Field(
        description="tree: read from the route in the Flux tree; homelab.yaml: what its exposure asks for (the tree "
                    "was not read); none: no route in the tree serves the host.")
    reason: str | None
    zone: str
    dns_owner: str
    target: str


class StorageNode(Model):
    name: str
    host: str
    data_disk_bytes: int


class Storage(Model):
    replicas: int
    data_path: str
    backup_target: str | None
    nodes: list[StorageNode]
    raw_bytes: int
    usable_bytes: int


class NodesBudget(Model):
    """What the nodes offer pods: cores, and memory after 1 GiB per server and 512 MiB per agent."""

    cores: int
    allocatable_memory_bytes: int


# --------------------------------------------------------------------------------- from the Flux tree

class Located(Model):
    file: str | None = None
    line: int | None = None


class LoadBalancer(Located):
    address: str
    owner: str


class BuildError(Model):
    kustomization: str
    error: str


class TreeRoute(Located):
    host: str
    route: str
    kind: str
    middlewares: list[str]
    tls_secret: str | None
    certificates: list[str]


class DnsName(Model):
    name: str
    owners: list[str]
    route: str


class ExternalDns(Located):
    name: str
    provider: str
    domain_filters: list[str]
    exclude_domains: list[str]


class TreeCertificate(Located):
    namespace: str
    name: str
    dns_names: list[str]
    issuer: str
    secret: str | None
    duration_days: float
    renew_at_days_left: float


class TreeVolume(Located):
    namespace: str
    name: str
    size_bytes: int
    replicas: int


class NamespaceBudget(Model):
    namespace: str
    cpu_requests_millis: int
    memory_requests_bytes: int
    cpu_limits_millis: int
    memory_limits_bytes: int
    pods: int
    without_requests: list[str]


class BudgetTotal(Model):
    cpu_requests_millis: int
    memory_requests_bytes: int
    cpu_limits_millis: int
    memory_limits_bytes: int
    pods: int


class Allocatable(Model):
    cpu_millis: int
    memory_bytes: int


class Budget(Model):
    namespaces: list[NamespaceBudget]
    total: BudgetTotal
    allocatable: Allocatable
    note: str


class ChartNotRendered(Model):
    release: str
    reason: str


class TreeCharts(Model):
    """HelmReleases whose charts were rendered into the tree (their objects count), and those that were not."""

    rendered: list[str] = Field(default_factory=list)
    not_rendered: list[ChartNotRendered] = Field(default_factory=list)


class Tree(Model):
    """What the Flux tree would apply, read through `homelab.gitops`."""

    available: Literal[True] = True
    path: str
    kustomizations: int
    objects: int
    build_errors: list[BuildError]
    flux_levels: list[list[str]] = Field(description="Reconcile waves on an empty cluster by dependsOn.")
    loadbalancers: list[LoadBalancer]
    dns: list[DnsName]
    external_dns: list[ExternalDns]
    routes: list[TreeRoute]
    certificates: list[TreeCertificate]
    volumes: list[TreeVolume]
    volume_bytes_with_replicas: int
    longhorn_settings: dict[str, str]
    budget: Budget
    charts: TreeCharts = Field(default_factory=TreeCharts)
    findings: list[FindingRow]


# ---------------------------------------------------------------------------------------------- drills

class Down(Model):
    hosts: list[str]
    nodes: list[str]
    pi: bool
    internet: bool
    power_restored: bool


class Etcd(Model):
    up: int
    total: int
    needed: int


class ProxmoxVotes(Model):
    votes: int
    expected: int
    needed: int


class UserView(Model):
    """What the users of one route see in a drill, and which other answer makes it so."""

    service: str
    host: str
    sees: str
    severity: SeverityName
    because: list[str] = Field(default_factory=list, description="Rules of this drill the outcome follows from.")


class Drill(Model):
    id: str
    title: str
    severity: SeverityName
    down: Down
    etcd: Etcd
    proxmox: ProxmoxVotes
    users: list[UserView]
    findings: list[FindingRow]


class Summary(Model):
    drill_errors: int
    drill_warnings: int
    failing_drills: list[str]
    tree_errors: int
    tree_warnings: int
    facts: int = Field(0, description="Warnings and errors about the config itself (`facts`), counted once.")


class Plan(Model):
    """`homelab plan --format json`."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="homelab plan")

    version: Literal[2] = PLAN_VERSION
    config: str = Field(description="The homelab.yaml the plan was made from, as given.")
    site: Site
    validation: Validation
    hosts: list[Host]
    pi: Pi
    addresses: list[Address]
    metallb: MetalLB
    routes: list[Route]
    storage: Storage
    nodes_budget: NodesBudget
    tree: Tree | Unavailable
    facts: list[FindingRow] = Field(description="Findings about the config that hold whatever fails; reported once, not per drill.")
    drills: list[Drill]
    summary: Summary


def json_schema() -> dict[str, Any]:
    """The committed `schema/plan.schema.json`."""
    schema = Plan.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://github.com/homelab/homelab/schema/plan.schema.json"
    return schema


__all__ = ["Plan", "FindingRow", "Severity", "json_schema", "PLAN_VERSION"]
