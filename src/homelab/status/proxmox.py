"""Proxmox through proxmoxer: connecting with the API token from the environment, and the host and VM checks.

Collectors take any object that answers like a `proxmoxer.ProxmoxAPI` (`px.nodes.get()`,
`px.cluster.resources.get()`, `px.nodes(node).qemu.get()`), so they run against recorded responses
as well as a live cluster.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homelab.config import HomelabConfig
from homelab.errors import HomelabError
from homelab.clients.masking import Masker
from homelab.status.model import Check

TOKEN_ENV = "PROXMOX_VE_API_TOKEN"     # the bpg/proxmox provider's variable: user@realm!tokenid=secret
INSECURE_ENV = "PROXMOX_VE_INSECURE"   # "true" for the self-signed certificate of a fresh install


def parse_token(env: Mapping[str, str]) -> tuple[str, str, str]:
    """(user, token name, secret) from PROXMOX_VE_API_TOKEN; a clear error (without the value) when malformed."""
    raw = env.get(TOKEN_ENV, "")
    user, bang, rest = raw.partition("!")
    name, eq, secret = rest.partition("=")
    if not raw:
        raise HomelabError.single(TOKEN_ENV, "is not set; the Proxmox API token comes only from the environment",
                                  hint=f"export {TOKEN_ENV}='terraform@pve!homelab=<uuid>' (a Proxmox API token)")
    if not (user and "@" in user and bang and name and eq and secret):
        raise HomelabError.single(TOKEN_ENV, "is not of the form user@realm!tokenid=secret",
                                  hint="copy the token id and secret from Datacenter > Permissions > API Tokens")
    return user, name, secret


def connect(cfg: HomelabConfig, env: Mapping[str, str]) -> Any:
    """A ProxmoxAPI on the first host that answers (the hosts form one cluster; any node serves the API)."""
    from proxmoxer import ProxmoxAPI

    user, name, secret = parse_token(env)
    verify = env.get(INSECURE_ENV, "").lower() not in ("1", "true", "yes")
    mask = Masker(env)
    failures = []
    for host_name, host in cfg.proxmox.hosts.items():
        url = host.api_endpoint
        try:
            px = ProxmoxAPI(url.host, port=url.port or 8006, user=user, token_name=name, token_value=secret,
                            verify_ssl=verify, timeout=10)
            px.version.get()
            return px
        except Exception as exc:  # proxmoxer raises requests' and its own errors; each is one line here
            failures.append(f"{host_name} ({url}): {mask(str(exc)).splitlines()[0] if str(exc) else type(exc).__name__}")
    raise HomelabError.single("proxmox", "no Proxmox API answered: " + "; ".join(failures),
                              hint=f"check the hosts are up, the token in {TOKEN_ENV}, and {INSECURE_ENV}=true "
                                   "if the API still has its self-signed certificate")


def template_exists(px: Any, cfg: HomelabConfig) -> bool:
    """Whether the template's VM ID exists on its host (GET /nodes/{node}/qemu)."""
    node = cfg.proxmox.hosts[cfg.proxmox.template.host].node_name
    return any(int(vm.get("vmid", -1)) == cfg.proxmox.template.vm_id for vm in px.nodes(node).qemu.get())


def _gib(n: float) -> str:
    return f"{n / 2**30:.0f}GiB"


def collect(cfg: HomelabConfig, px: Any) -> list[Check]:
    checks: list[Check] = []
    nodes = {n["node"]: n for n in px.nodes.get()}
    for name, host in cfg.proxmox.hosts.items():
        n = nodes.get(host.node_name)
        if n is None:
            checks.append(Check("proxmox-host", name, False, "missing",
                                f"node {host.node_name} is not in the cluster (GET /nodes); compare "
                                f"proxmox.hosts.{name}.node_name with `pvecm nodes`"))
            continue
        online = n.get("status") == "online"
        detail = (f"cpu {n.get('cpu', 0) * 100:.0f}% of {n.get('maxcpu', '?')}, "
                  f"mem {_gib(n.get('mem', 0))}/{_gib(n.get('maxmem', 0))}, up {n.get('uptime', 0) // 86400}d"
                  if online else f"the node is not online in the Proxmox cluster; power {name} ({host.address}) on, "
                  "or check corosync with `pvecm status` on another host")
        checks.append(Check("proxmox-host", name, online, n.get("status", "unknown"), detail))

    vms = {int(r["vmid"]): r for r in px.cluster.resources.get() if r.get("type") == "qemu"}
    tpl = cfg.proxmox.template
    t = vms.get(tpl.vm_id)
    if t is None:
        checks.append(Check("vm", tpl.name, False, "missing", f"template VM {tpl.vm_id} not found; run `homelab up --only template`"))
    else:
        checks.append(Check("vm", tpl.name, bool(t.get("template")), "template" if t.get("template") else "not a template",
                            f"vmid {tpl.vm_id} on {t.get('node')}" + ("" if t.get("template") else
                            f"; it is an ordinary VM: pick another proxmox.template.vm_id, or remove VM {tpl.vm_id} "
                            "and run `homelab up --only template`")))
    for node in cfg.k3s.nodes:
        want_host = cfg.proxmox.hosts[node.host].node_name
        vm = vms.get(node.vm_id)
        if vm is None:
            checks.append(Check("vm", node.name, False, "missing", f"VM {node.vm_id} does not exist; run `homelab up` (the vms stage creates it)"))
            continue
        running = vm.get("status") == "running"
        detail = f"vmid {node.vm_id} on {vm.get('node')}"
        if vm.get("node") != want_host:
            detail += f" (homelab.yaml places it on {want_host}; migrated or HA-recovered)"
        if not running:
            detail += f"; start it: qm start {node.vm_id} on {vm.get('node')}"
        checks.append(Check("vm", node.name, running, vm.get("status", "unknown"), detail))
    return checks
