"""homelab.yaml: the bundled file is valid, and each broken config fails for its own reason, on its own line."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from ruamel.yaml import YAML

from homelab.config import json_schema, load_config
from homelab.errors import HomelabError

from conftest import ROOT, run_cli

BUNDLED = (ROOT / "homelab.yaml").read_text()


# (rule it breaks, text to replace, replacement, which occurrence, key path named, words in the message)
BROKEN = [
    ("unknown-key", "  timezone: Europe", "  timezon: Europe", 1, "site.timezon", "did you mean 'timezone'"),
    ("address-outside-subnet", "address: 192.168.10.12", "address: 192.168.20.12", 1, "k3s.nodes.1.address",
     "not inside the K3s network"),
    ("gateway-outside-subnet", "gateway: 192.168.10.1 ", "gateway: 192.168.11.1 ", 1, "networks.k3s.gateway",
     "not a host address inside"),
    ("duplicate-address", "address: 192.168.10.12", "address: 192.168.10.11", 1, "k3s.nodes.1.address",
     "already used by k3s.nodes.0.address"),
    ("pi-address-reused", "address: 192.168.1.6", "address: 192.168.1.2", 1, "pi.address", "already used by proxmox.hosts.pve1"),
    ("pool-overlaps-node", "pool: 192.168.10.200-192.168.10.220", "pool: 192.168.10.13-192.168.10.220", 1, "metallb.pool",
     "contains 192.168.10.13"),
    ("pool-outside-vlan", "pool: 192.168.10.200-192.168.10.220", "pool: 192.168.1.200-192.168.1.220", 1, "metallb.pool",
     "not inside the K3s network"),
    ("traefik-address-outside-pool", "traefik_address: 192.168.10.200", "traefik_address: 192.168.10.50", 1,
     "metallb.traefik_address", "not inside the pool"),
    ("vm-on-missing-host", "host: pve2 ", "host: pve3 ", 2, "k3s.nodes.2.host", "not a Proxmox host"),
    ("template-on-missing-host", "host: pve1                       # where", "host: pve9                       # where", 1,
     "proxmox.template.host", "not a Proxmox host"),
    ("vm-larger-than-host", "memory: 8GiB", "memory: 64GiB", 1, "k3s.nodes.0.memory", "wants 64GiB but pve1 has 32GiB"),
    ("vm-more-cores-than-host", "cores: 4", "cores: 12", 1, "k3s.nodes.0.cores", "wants 12 cores but pve1 has 8"),
    ("host-overcommitted", "memory: 8GiB", "memory: 30GiB", 3, "k3s.nodes.2.memory", "over-committed"),
    ("bad-size", "memory: 8GiB", "memory: 8 gigs", 1, "k3s.nodes.0.memory", "is not a size"),
    ("duplicate-vm-id", "vm_id: 203", "vm_id: 201", 1, "k3s.nodes.2.vm_id", "VM ID 201 is already used"),
    ("vm-id-equals-template", "vm_id: 203", "vm_id: 9000", 1, "k3s.nodes.2.vm_id", "proxmox.template.vm_id"),
    ("duplicate-vm-name", "name: k3s-3", "name: k3s-2", 1, "k3s.nodes.2.name", "already used"),
    ("vm-named-like-host", "name: k3s-3", "name: pve1", 1, "k3s.nodes.2.name", "already used by proxmox.hosts.pve1"),
    ("name-not-dns-label", "name: k3s-3", "name: K3S_3", 1, "k3s.nodes.2.name", "should match pattern"),
    ("replicas-above-nodes", "replicas: 2 ", "replicas: 4 ", 1, "longhorn.replicas", "4 replicas but only 3 nodes"),
    ("first-node-not-server", "role: server", "role: agent", 1, "k3s.nodes.0.role", "first node must be a server"),
    ("public-without-reason", "required\n    reason: the SSO", "required\n    # reason: the SSO", 1,
     "services.authentik.exposure", "gives no reason"),
    ("duplicate-hostname", "hostname: prometheus", "hostname: grafana", 1, "services.prometheus.hostname", "already used"),
    ("bad-k3s-version", "version: v1.36.4+k3s1", "version: latest", 1, "k3s.version", "should match pattern"),
    ("bad-exposure", "exposure: lan ", "exposure: internet ", 1, "services.traefik.exposure", "'lan', 'sso' or 'public'"),
    ("timezone-not-iana", "timezone: Europe/Berlin", "timezone: Europe/Berln", 1, "site.timezone",
     "not a time zone of the IANA database (hint: did you mean 'Europe/Berlin'?"),
    ("api-endpoint-not-host-address", "api_endpoint: https://192.168.1.3:8006/", "api_endpoint: https://192.168.1.9:8006/",
     1, "proxmox.hosts.pve2.api_endpoint", "not on pve2's address 192.168.1.3 (hint: use https://192.168.1.3:8006/"),
    ("version-as-number", "version: v1.36.4+k3s1", "version: 1.36", 1, "k3s.version",
     'YAML reads 1.36 as a number; write it as a quoted string, e.g. version: "v1.36.4+k3s1"'),
    ("cores-as-words", "cores: 4", "cores: four", 1, "k3s.nodes.0.cores", "write a whole number"),
    ("unknown-key-in-a-service", "exposure: lan ", "exposre: lan ", 2, "services.longhorn.exposre",
     "did you mean 'exposure'?"),
    ("unknown-key-in-a-host", "storage: local-zfs", "storge: local-zfs", 1, "proxmox.hosts.pve1.storge",
     "did you mean 'storage'?"),
    ("unknown-key-in-a-node", "os_disk: 32GiB", "osdisk: 32GiB", 1, "k3s.nodes.0.osdisk", "did you mean 'os_disk'?"),
]


def test_api_endpoint_left_out_is_the_hosts_address_on_the_proxmox_port(tmp_path: Path):
    target = tmp_path / "homelab.yaml"
    target.write_text(BUNDLED.replace("      api_endpoint: https://192.168.1.3:8006/  # Proxmox API\n", ""))
    assert str(load_config(target).proxmox.hosts["pve2"].api_endpoint) == "https://192.168.1.3:8006/"


def test_a_bad_address_without_api_endpoint_is_reported_once_at_the_address(tmp_path: Path):
    target = tmp_path / "homelab.yaml"
    target.write_text(BUNDLED.replace("      api_endpoint: https://192.168.1.3:8006/  # Proxmox API\n", "")
                      .replace("address: 192.168.1.3 ", "address: 192.168.1.x "))
    with pytest.raises(HomelabError) as info:
        load_config(target)
    assert [p.key for p in info.value.problems] == ["proxmox.hosts.pve2.address"]


def test_api_endpoint_on_loopback_is_accepted_as_a_tunnel_to_the_host(tmp_path: Path):
    target = tmp_path / "homelab.yaml"
    target.write_text(BUNDLED.replace("api_endpoint: https://192.168.1.3:8006/", "api_endpoint: https://127.0.0.1:18006/"))
    assert load_config(target).proxmox.hosts["pve2"].api_endpoint.port == 18006


def test_api_endpoint_by_dns_name_is_accepted_since_it_cannot_be_resolved_offline(tmp_path: Path):
    target = tmp_path / "homelab.yaml"
    target.write_text(BUNDLED.replace("api_endpoint: https://192.168.1.3:8006/", "api_endpoint: https://pve2.example.com:8006/"))
    assert load_config(target).proxmox.hosts["pve2"].api_endpoint.host == "pve2.example.com"


def test_bundled_config_is_valid():
    cfg = load_config(ROOT / "homelab.yaml")
    assert [n.host for n in cfg.k3s.nodes] == ["pve1", "pve2", "pve2"]
    assert cfg.longhorn.replicas == 2
    assert str(cfg.pi.address) == "192.168.1.6"
    assert cfg.site.lan_domain == "lan." + cfg.site.domain


@pytest.mark.parametrize("rule,old,new,nth,path,words", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_config_names_file_line_and_key(tmp_path: Path, rule, old, new, nth, path, words):
    assert BUNDLED.count(old) >= nth, f"fixture for {rule} no longer matches homelab.yaml"
    idx = -1
    for _ in range(nth):
        idx = BUNDLED.index(old, idx + 1)
    broken = BUNDLED[:idx] + new + BUNDLED[idx + len(old):]
    target = tmp_path / f"{rule}.yaml"
    target.write_text(broken)
    with pytest.raises(HomelabError) as info:
        load_config(target)
    problems = info.value.problems
    mine = [p for p in problems if p.key == path]
    assert mine, f"expected a problem at {path}, got: {info.value}"
    assert words in f"{mine[0].message} (hint: {mine[0].hint})"
    assert mine[0].file == str(target)
    assert mine[0].line == BUNDLED[:idx].count("\n") + 1, "the error must point at the line that was broken"
    # Mended (the bundled text) it passes: the fixture fails for this reason only.
    target.write_text(BUNDLED)
    load_config(target)


@pytest.mark.parametrize("text,words,line", [
    ("", "file is empty", 1),
    ("# only a comment\n", "file is empty", 1),
    ("site: [oops\n", "YAML syntax error", 2),
    ("site:\n  name: a\n  name: b\n", "YAML syntax error", 3),
    ("- just\n- a list\n", "top level must be a mapping", 1),
])
def test_unreadable_config_is_one_clear_error(tmp_path: Path, text, words, line):
    target = tmp_path / "homelab.yaml"
    target.write_text(text)
    with pytest.raises(HomelabError) as info:
        load_config(target)
    (problem,) = info.value.problems
    assert words in problem.message
    assert problem.line == line


@pytest.mark.parametrize("case", ["unknown-key", "address-outside-subnet", "duplicate-address", "pool-overlaps-node",
                                  "vm-on-missing-host", "vm-larger-than-host", "bad-size"])
def test_cli_reports_bad_config_on_one_line_with_exit_2(tmp_path: Path, case):
    _, old, new, nth, path, _ = next(b for b in BROKEN if b[0] == case)
    idx = -1
    for _ in range(nth):
        idx = BUNDLED.index(old, idx + 1)
    (tmp_path / "homelab.yaml").write_text(BUNDLED[:idx] + new + BUNDLED[idx + len(old):])
    res = run_cli("-c", str(tmp_path / "homelab.yaml"), "render")
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert any("homelab.yaml:" in ln and path in ln for ln in lines), res.stderr
    assert all(ln.startswith("error: ") for ln in lines)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["homelab.yaml"], "nothing may be written for a bad config"


@pytest.mark.parametrize("text", ["", "site: [oops\n"])
def test_cli_empty_or_unparsable_file_exits_2_without_traceback(tmp_path: Path, text):
    (tmp_path / "homelab.yaml").write_text(text)
    res = run_cli("-c", str(tmp_path / "homelab.yaml"), "validate")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_committed_schema_matches_the_model():
    committed = json.loads((ROOT / "schema" / "homelab.schema.json").read_text())
    assert committed == json_schema(), "run `homelab schema -o schema/homelab.schema.json`"


def test_homelab_yaml_points_editors_at_the_committed_schema():
    first = BUNDLED.splitlines()[0]
    assert first == "# yaml-language-server: $schema=./schema/homelab.schema.json"


def test_bundled_config_validates_against_exported_json_schema():
    data = YAML(typ="safe").load(BUNDLED)
    jsonschema.Draft202012Validator(json_schema(), format_checker=jsonschema.FormatChecker()).validate(data)


def test_exported_schema_rejects_unknown_keys_and_bad_sizes():
    validator = jsonschema.Draft202012Validator(json_schema())
    data = YAML(typ="safe").load(BUNDLED)
    data["site"]["timezon"] = "x"
    assert any("timezon" in e.message for e in validator.iter_errors(data))
    data = YAML(typ="safe").load(BUNDLED)
    data["k3s"]["nodes"][0]["memory"] = "8 gigs"
    assert list(validator.iter_errors(data))


def test_every_schema_property_is_described():
    schema = json_schema()
    undocumented = []
    for name, definition in [("HomelabConfig", schema), *schema["$defs"].items()]:
        for prop, spec in definition.get("properties", {}).items():
            if prop != "$schema" and not spec.get("description"):
                undocumented.append(f"{name}.{prop}")
    assert not undocumented


def test_cli_schema_prints_the_schema():
    res = run_cli("schema")
    assert res.returncode == 0
    assert json.loads(res.stdout)["title"] == "homelab.yaml"


def test_every_key_in_the_bundled_config_is_commented():
    """A new user reads homelab.yaml, not the schema: each key has a comment on its line or a parent's line,
    except map entries whose name is the key itself (host and service names) and `reason` (prose already)."""
    import re

    uncommented = []
    for number, line in enumerate(BUNDLED.splitlines(), 1):
        m = re.match(r"^\s*(?:- )?([a-z_]+):", line)
        if not m or "#" in line:
            continue
        key = m.group(1)
        is_name_entry = line.rstrip().endswith(":") and key not in ("site", "networks")
        if is_name_entry or key == "reason":
            continue
        uncommented.append(f"{number}: {line.strip()}")
    assert not uncommented, "uncommented keys in homelab.yaml:\n" + "\n".join(uncommented)
