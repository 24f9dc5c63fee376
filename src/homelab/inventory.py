"""Terraform's `k3s_nodes` output → the Ansible inventory of the K3s VMs (ansible/inventories/k3s-nodes.yml).

Pure functions: `parse_output` reads the text of `terraform output -json` into nodes (or raises
HomelabError naming the file, line and what is wrong), `order_nodes` puts them in homelab.yaml's
order, `render_inventory` turns them into YAML.
Order is homelab.yaml's node order, because that is where "the first server initialises the
cluster" is stated; Terraform's map keys carry no order of their own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from homelab import paths
from homelab.config.model import NodeRole
from homelab.config.types import DnsLabel
from homelab.errors import HomelabError, problem
from homelab.inputs import json_line
from homelab.yamlio import dump, flow

PATH = paths.K3S_INVENTORY
OUTPUT_NAME = "k3s_nodes"
HEADER = "# generated from terraform output by `homelab inventory`; do not edit by hand\n"
WHOLE_HINT = "pass all of `terraform output -json`, not `terraform output -json k3s_nodes` (its value alone)"
APPLY_HINT = "run `homelab render` and `terraform apply` in terraform/, then `homelab inventory` again"


class _NodeOut(BaseModel):
    # Extra attributes are ignored so the output may grow without breaking older tools.
    model_config = ConfigDict(extra="ignore", frozen=True)
    name: DnsLabel
    address: IPv4Address
    proxmox_host: DnsLabel
    role: NodeRole
    vm_id: int


@dataclass(frozen=True)
class Node:
    name: str
    address: str
    proxmox_host: str
    role: str
    vm_id: int
    line: int | None = field(default=None, compare=False)  # where the node sits in the output, for errors


def parse_output(text: str, source: str) -> list[Node]:
    """Nodes from `terraform output -json`; a HomelabError naming the first defect if the output is not usable."""

    def fail(message: str, *keys: str, hint: str = "") -> HomelabError:
        # Look for node keys under "value": an object-typed output also names them in its "type".
        where = (keys[0], "value", *keys[1:]) if len(keys) > 1 else keys
        return HomelabError.single(source, message, line=json_line(text, *where) if keys else None,
                                   path=".".join(keys), hint=hint)

    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise HomelabError.single(source, f"not JSON: {exc.msg}", line=exc.lineno,
                                  hint="pass the output of `terraform output -json`") from None
    if not isinstance(data, dict):
        raise fail("expected an object of outputs, as `terraform output -json` prints",
                   hint="pass the output of `terraform output -json`")
    if OUTPUT_NAME not in data:
        value_only = bool(data) and all(isinstance(v, dict) and "vm_id" in v for v in data.values())
        raise fail(f"no '{OUTPUT_NAME}' output (outputs: {', '.join(sorted(data)) or 'none'})",
                   hint=WHOLE_HINT if value_only else APPLY_HINT)
    out = data[OUTPUT_NAME]
    if not isinstance(out, dict) or "value" not in out:
        raise fail("expected {\"sensitive\": ..., \"type\": ..., \"value\": {...}}", OUTPUT_NAME,
                   hint=WHOLE_HINT)
    value = out["value"]
    if not isinstance(value, dict) or not value:
        raise fail("the value must be a non-empty map of node name to node", OUTPUT_NAME, hint=APPLY_HINT)

    nodes = []
    for key, raw in value.items():
        try:
            node = _NodeOut.model_validate(raw)
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            attr = ".".join(str(p) for p in err["loc"])
            msg = err["msg"]
            if err["type"] == "missing":
                msg = f"the node has no '{attr}'"
            elif not isinstance(err.get("input"), (dict, list)):
                msg = f"{msg} (got {json.dumps(err.get('input'))})"
            # A missing attribute has no line of its own: point at the node.
            keys = (OUTPUT_NAME, key, attr) if attr and err["type"] != "missing" else (OUTPUT_NAME, key)
            raise fail(msg, *keys, hint="the output must be shaped like terraform/outputs.tf says") from None
        if node.name != key:
            raise fail(f"name '{node.name}' differs from its key '{key}'", OUTPUT_NAME, key, "name",
                       hint="key the output map by node name")
        nodes.append(Node(node.name, str(node.address), node.proxmox_host, node.role.value, node.vm_id,
                          json_line(text, OUTPUT_NAME, "value", key)))
    return nodes


def order_nodes(nodes: list[Node], declared: list[str], source: str) -> tuple[list[Node], list[str]]:
    """Nodes in homelab.yaml's order, and the declared names Terraform has not created yet.

    A node Terraform has that homelab.yaml does not list is an error: its place (and whether it
    initialises the cluster) is unknown, and the next `terraform apply` would destroy it.
    """
    by_name = {n.name: n for n in nodes}
    unknown = sorted(set(by_name) - set(declared))
    if unknown:
        raise HomelabError([problem(source, "a VM Terraform created that homelab.yaml does not list",
                                    line=by_name[name].line, path=f"{OUTPUT_NAME}.{name}", hint=APPLY_HINT)
                            for name in unknown])
    ordered = [by_name[name] for name in declared if name in by_name]
    pending = [name for name in declared if name not in by_name]
    if not any(n.role == NodeRole.server.value for n in ordered):
        raise HomelabError.single(source, "no server among the nodes; a K3s cluster needs one to initialise it",
                                  path=OUTPUT_NAME, hint=APPLY_HINT)
    return ordered, pending


def render_inventory(nodes: list[Node]) -> str:
    """The inventory YAML: servers and agents groups under k3s_cluster; the first server has k3s_init: true."""
    first_server = next(n.name for n in nodes if n.role == NodeRole.server.value)

    def hosts(role: str) -> dict[str, Any]:
        group: dict[str, Any] = {}
        for n in nodes:
            if n.role == role:
                group[n.name] = flow({"ansible_host": n.address, "k3s_init": n.name == first_server,
                                       "proxmox_host": n.proxmox_host, "vm_id": n.vm_id})
        return group or flow({})

    doc = {"all": {"children": {"k3s_cluster": {"children": {
        "k3s_servers": {"hosts": hosts(NodeRole.server.value)},
        "k3s_agents": {"hosts": hosts(NodeRole.agent.value)},
    }}}}}
    return HEADER + dump(doc)
