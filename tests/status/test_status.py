"""`homelab status` against recorded Proxmox and Kubernetes API responses (tests/fixtures/status/).

`healthy/` is a lab where everything works; `unhealthy/` has one of each failure the report must
catch: a stopped VM, a NotReady node, a failed HelmRelease (and the Kustomization waiting on it), a
certificate 5 days from expiry whose renewal fails, a degraded Longhorn volume, one detached (robustness
unknown) while its pod runs, a lan name missing from the Pi, one pointing at the wrong address, and
routes answering 503 or not at all.
"""

from __future__ import annotations

import copy
import json
import shutil
from datetime import datetime, timezone

import pytest

from homelab.config import load_config
from homelab.findings import Severity
from homelab.registry import all_ids
from homelab.status import Sources, collect, proxmox, recorded_sources
from homelab.status import kube as k
from homelab.status.recorded import RecordedProxmox

from conftest import CRD_SCHEMAS, ROOT, run_cli

FIXTURES = ROOT / "tests" / "fixtures" / "status"
NOW = datetime(2026, 11, 28, 6, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def cfg():
    return load_config(ROOT / "homelab.yaml")


def items(case: str, name: str) -> list[dict]:
    return json.loads((FIXTURES / case / "kubernetes" / name).read_text())["items"]


class ListStandIn:
    """A KubeReader stand-in serving hand-edited copies of recorded objects."""

    def __init__(self, **lists):
        self.lists = lists

    def list(self, group, version, plural):
        return self.lists.get(plural, [])


# --- the whole report, through the CLI -------------------------------------------------------

def test_status_json_of_a_healthy_lab_exits_zero():
    res = run_cli("status", "--json", "--recorded", str(FIXTURES / "healthy"))
    assert res.returncode == 0, res.stdout + res.stderr
    report = json.loads(res.stdout)
    assert report["healthy"] is True and report["unhealthy"] == 0
    sections = {c["section"] for c in report["checks"]}
    assert sections == {"proxmox-host", "vm", "node", "kustomization", "helmrelease", "certificate", "volume", "dns", "https"}


def test_status_json_names_every_unhealthy_case_and_exits_nonzero():
    res = run_cli("status", "--json", "--recorded", str(FIXTURES / "unhealthy"))
    assert res.returncode == 1, res.stderr
    report = json.loads(res.stdout)
    bad = {(c["section"], c["name"]): c for c in report["checks"] if not c["ok"]}
    assert set(bad) == {
        ("vm", "k3s-3"),
        ("node", "k3s-3"),
        ("helmrelease", "authentik/authentik"),
        ("kustomization", "flux-system/apps"),
        ("certificate", "traefik/wildcard"),
        ("volume", "authentik/data-authentik-postgresql-0"),
        ("volume", "homepage/homepage-config"),
        ("dns", "home.lan.example.com"),
        ("dns", "grafana.lan.example.com"),
        ("https", "home.lan.example.com"),
        ("https", "prometheus.lan.example.com"),
    }
    assert bad[("vm", "k3s-3")]["state"] == "stopped"
    assert bad[("node", "k3s-3")]["state"] == "NotReady"
    assert "context deadline exceeded" in bad[("helmrelease", "authentik/authentik")]["detail"]
    assert bad[("certificate", "traefik/wildcard")]["state"] == "5d"
    assert bad[("volume", "authentik/data-authentik-postgresql-0")]["state"] == "degraded"
    assert report["unhealthy"] == 11


def test_each_status_check_names_its_registered_rule_and_a_failed_one_is_that_rules_finding(cfg):
    res = run_cli("status", "--json", "--recorded", str(FIXTURES / "unhealthy"))
    checks = json.loads(res.stdout)["checks"]
    known = all_ids()
    assert {c["rule"] for c in checks} <= set(known)
    assert all(c["rule"] == f"status/{c['section']}" for c in checks)
    report = collect(cfg, recorded_sources(FIXTURES / "unhealthy"))
    [vm] = [f for f in report.problems if f.rule == "status/vm"]
    assert vm.severity is Severity.error and vm.message == "k3s-3: stopped" and vm.hint
    assert [f.message for f in report.problems] == [f"{c['name']}: {c['state']}" for c in checks if not c["ok"]]


def test_status_table_marks_problems_and_exits_nonzero():
    res = run_cli("status", "--recorded", str(FIXTURES / "unhealthy"), env={"COLUMNS": "200"})
    assert res.returncode == 1
    assert "unhealthy: 11 of" in res.stdout and "✗ degraded" in res.stdout and "Traceback" not in res.stderr


# --- each collector ---------------------------------------------------------------------------

def test_certificate_days_to_expiry_and_threshold():
    certs = items("healthy", "cert-manager.io_v1_certificates.json")
    fine = k.collect_certificates(ListStandIn(certificates=certs), NOW)
    assert all(c.ok for c in fine) and fine[0].state == "60d"
    soon = copy.deepcopy(certs[0])
    soon["status"]["notAfter"] = "2026-12-03T06:00:00Z"  # 5 days, Ready still True: renewal overdue
    expired = copy.deepcopy(certs[0])
    expired["status"]["notAfter"] = "2026-11-20T06:00:00Z"
    got = k.collect_certificates(ListStandIn(certificates=[soon, expired]), NOW)
    assert [(c.ok, c.state) for c in got] == [(False, "5d"), (False, "-8d")]
    assert "expired 8 days ago" in got[1].detail
    assert k.collect_certificates(ListStandIn(certificates=[soon]), NOW, warn_days=3)[0].ok


@pytest.mark.parametrize("robustness,state,pods,ok,shown", [
    ("healthy", "attached", ["Running"], True, "healthy"),
    ("degraded", "attached", ["Running"], False, "degraded"),
    ("faulted", "detached", [], False, "faulted"),
    ("unknown", "detached", [], True, "detached"),            # nothing uses it: no engine, nothing to judge
    ("unknown", "detached", ["Running"], False, "unknown"),   # its pod runs, yet it is not attached
    ("unknown", "detached", ["Pending"], False, "unknown"),
    ("unknown", "detached", ["Succeeded"], True, "detached"),
    ("unknown", "attached", ["Running"], False, "unknown"),
    ("", "", ["Running"], False, "unknown"),                  # no status at all yet
])
def test_a_longhorn_volume_longhorn_cannot_judge_is_unhealthy_unless_nothing_uses_it(robustness, state, pods, ok, shown):
    vol = copy.deepcopy(items("healthy", "longhorn.io_v1beta2_volumes.json")[0])
    vol["status"].update(robustness=robustness, state=state)
    vol["status"]["kubernetesStatus"]["workloadsStatus"] = [
        {"podName": f"pod-{i}", "podStatus": p, "workloadName": "w", "workloadType": "StatefulSet"} for i, p in enumerate(pods)]
    (check,) = k.collect_volumes(ListStandIn(volumes=[vol]))
    assert (check.ok, check.state) == (ok, shown)


# Verbs a failed check's advice starts with: the part after its last "; " says what to do.
ADVICE_VERBS = ("check", "start", "run", "fix", "see", "bring", "salvage", "remove", "resume", "compare", "power",
                "pick", "add")


def test_every_failed_check_says_what_to_do():
    res = run_cli("status", "--json", "--recorded", str(FIXTURES / "unhealthy"))
    failed = [c for c in json.loads(res.stdout)["checks"] if not c["ok"]]
    assert failed
    for c in failed:
        advice = c["detail"].rsplit("; ", 1)[-1]
        assert advice.split()[0] in ADVICE_VERBS, (c["section"], c["name"], c["detail"])


def test_flux_object_suspended_or_not_yet_reconciled_is_not_healthy():
    hrs = items("healthy", "helm.toolkit.fluxcd.io_v2_helmreleases.json")
    suspended, stale = copy.deepcopy(hrs[0]), copy.deepcopy(hrs[1])
    suspended["spec"]["suspend"] = True
    stale["metadata"]["generation"] = 3  # spec changed; Ready=True is about generation 2
    checks = k.collect_flux(ListStandIn(helmreleases=[hrs[2], suspended, stale]))
    assert [(c.ok, c.state) for c in checks] == [(True, "Ready"), (False, "Suspended"), (False, "Progressing")]
    assert checks[0].detail == "metallb@0.16.1"


def test_node_in_homelab_yaml_but_not_in_cluster_is_reported(cfg):
    nodes = items("healthy", "core_v1_nodes.json")[:2]
    checks = k.collect_nodes(cfg, ListStandIn(nodes=nodes))
    assert [(c.name, c.ok, c.state) for c in checks][-1] == ("k3s-3", False, "missing")


def test_proxmox_offline_host_and_missing_vm(cfg, tmp_path):
    src = FIXTURES / "healthy" / "proxmox"
    nodes = json.loads((src / "nodes.json").read_text())
    nodes["data"][1] = {"id": "node/pve2", "type": "node", "node": "pve2", "status": "offline", "level": ""}
    res = json.loads((src / "cluster_resources.json").read_text())
    res["data"] = [r for r in res["data"] if r.get("vmid") != 202]
    (tmp_path / "nodes.json").write_text(json.dumps(nodes))
    (tmp_path / "cluster_resources.json").write_text(json.dumps(res))
    checks = {(c.section, c.name): c for c in proxmox.collect(cfg, RecordedProxmox(tmp_path))}
    assert (checks[("proxmox-host", "pve2")].ok, checks[("proxmox-host", "pve2")].state) == (False, "offline")
    assert checks[("vm", "k3s-2")].state == "missing" and checks[("vm", "k3s-1")].ok


def test_template_exists_reads_the_template_hosts_qemu_list(cfg):
    assert proxmox.template_exists(RecordedProxmox(FIXTURES / "healthy" / "proxmox"), cfg)


def test_unreachable_api_is_one_finding_of_its_sources_rule_without_the_token(cfg):
    secret = "d5e0f1a2-3b4c-4d5e-8f9a-0b1c2d3e4f5a"

    def refuse():
        raise ConnectionError(f"HTTPSConnectionPool(host='192.168.1.2', port=8006): token {secret} refused")

    healthy = recorded_sources(FIXTURES / "healthy", NOW)
    src = Sources(proxmox=refuse, kube=healthy.kube, resolver=healthy.resolver, transport=healthy.transport,
                  now=NOW, mask=lambda s: s.replace(secret, "********"))
    report = collect(cfg, src)
    [down] = report.problems
    assert (down.rule, down.message) == ("status/proxmox", "api: unreachable")
    assert secret not in down.hint and "192.168.1.2" in down.hint
    assert down.hint.endswith("; check the hosts are up and $PROXMOX_VE_API_TOKEN")


def test_malformed_proxmox_token_is_a_clear_error_without_its_value():
    from homelab.errors import HomelabError

    with pytest.raises(HomelabError) as err:
        proxmox.parse_token({"PROXMOX_VE_API_TOKEN": "just-a-secret-value"})
    assert "user@realm!tokenid=secret" in str(err.value) and "just-a-secret-value" not in str(err.value)
    assert proxmox.parse_token({"PROXMOX_VE_API_TOKEN": "terraform@pve!homelab=abc-123"}) == ("terraform@pve", "homelab", "abc-123")


# --- the fixtures are shaped like the real APIs -----------------------------------------------

CRD_OF = {
    "kustomize.toolkit.fluxcd.io_v1_kustomizations.json": "kustomize.toolkit.fluxcd.io/kustomization_v1.json",
    "helm.toolkit.fluxcd.io_v2_helmreleases.json": "helm.toolkit.fluxcd.io/helmrelease_v2.json",
    "cert-manager.io_v1_certificates.json": "cert-manager.io/certificate_v1.json",
    "longhorn.io_v1beta2_volumes.json": "longhorn.io/volume_v1beta2.json",
}


@pytest.mark.parametrize("case", ["healthy", "unhealthy"])
@pytest.mark.parametrize("fixture", sorted(CRD_OF))
def test_recorded_custom_resources_match_their_crd_schema(case, fixture):
    schema_file = CRD_SCHEMAS / CRD_OF[fixture]
    import jsonschema

    schema = json.loads(schema_file.read_text())
    for obj in items(case, fixture):
        jsonschema.validate(obj, schema)


@pytest.mark.parametrize("case", ["healthy", "unhealthy"])
def test_recorded_nodes_round_trip_through_the_kubernetes_clients_model(case):
    """Every field of the recorded NodeList is a real V1Node field: the client's model keeps all of it."""
    from kubernetes.client import ApiClient

    raw = json.loads((FIXTURES / case / "kubernetes" / "core_v1_nodes.json").read_text())
    api = ApiClient()
    model = api.deserialize(json.dumps(raw), "V1NodeList", "application/json")
    back = json.loads(json.dumps(api.sanitize_for_serialization(model)).replace("+00:00", "Z"))
    assert back == raw


def test_recorded_snapshot_with_a_bad_timestamp_is_a_usage_error(tmp_path):
    shutil.copytree(FIXTURES / "healthy", tmp_path / "rec")
    (tmp_path / "rec" / "meta.json").write_text('{"recorded_at": "yesterday"}')
    res = run_cli("status", "--recorded", str(tmp_path / "rec"))
    assert res.returncode == 2 and "not a recorded status snapshot" in res.stderr and "Traceback" not in res.stderr


def test_a_folder_without_the_manifest_is_not_a_recording(tmp_path):
    (tmp_path / "notes.txt").write_text("not a recording")
    res = run_cli("status", "--recorded", str(tmp_path))
    assert res.returncode == 2, res.stdout
    assert f"{tmp_path}: not a status recording: its manifest meta.json is missing" in res.stderr
    assert "checks failed" not in res.stdout and "Traceback" not in res.stderr


def test_a_recording_missing_responses_names_each_one(tmp_path):
    rec = tmp_path / "rec"
    shutil.copytree(FIXTURES / "unhealthy", rec)
    (rec / "kubernetes" / "longhorn.io_v1beta2_volumes.json").unlink()
    (rec / "https.json").unlink()
    (rec / "meta.json").write_text("{}")
    res = run_cli("status", "--recorded", str(rec))
    assert res.returncode == 2 and res.stdout == ""
    errors = res.stderr.splitlines()
    assert len(errors) == 3, res.stderr
    assert "meta.json: recorded_at: is missing" in errors[0]
    assert any("longhorn.io_v1beta2_volumes.json: missing from the recording: the volumes list" in e for e in errors)
    assert any("https.json: missing from the recording" in e for e in errors)
