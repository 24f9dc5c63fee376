"""Failure drills against fixture labs with known answers (tests/fixtures/plan/, named after what they prove)."""

from __future__ import annotations

import pytest

from homelab.config import load_config
from homelab.drills import Certificate, PodGroup, Volume, Workload, facts, run
from homelab.drills.fixes import patched
from homelab.drills.workload import RouteBackend
from homelab.findings import Severity
from homelab.yamlio import load_located

from conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "plan"
GiB = 2**30


def drills_of(name: str, workload: Workload | None = None, **kw) -> dict:
    path = FIXTURES / name if name != "homelab.yaml" else ROOT / name
    doc, _ = load_located(path, display=path.name)
    found = run(load_config(path), workload, locate=lambda p: (doc.file, doc.line_of(p) if p else None), **kw)
    return {d.scenario.id: d for d in found}


def one(drill, rule: str):
    matches = [f for f in drill.findings if f.rule == rule]
    assert len(matches) == 1, (rule, drill.findings)
    return matches[0]


def errors(drill) -> list:
    return [f for f in drill.findings if f.severity is Severity.error]


def test_every_failure_mode_of_the_bundled_placement_is_drilled():
    assert list(drills_of("bundled-placement-loses-quorum.yaml")) == [
        "host-down:pve1", "host-down:pve2", "vm-down:k3s-1", "vm-down:k3s-2", "vm-down:k3s-3",
        "pi-down", "internet-down", "power-restored"]


def test_every_drill_answers_every_question():
    for drill in drills_of("homelab.yaml").values():
        rules = {f.rule for f in drill.findings}
        assert {"drill/etcd-quorum", "drill/proxmox-quorum", "drill/longhorn-readable", "drill/reschedule-capacity",
                "drill/lan-dns", "drill/cert-renewal", "drill/route-impact"} <= rules, drill.scenario.id
    assert "drill/recovery-order" in {f.rule for f in drills_of("homelab.yaml")["power-restored"].findings}


def test_bundled_placement_loses_etcd_quorum_when_pve2_goes_down():
    d = drills_of("bundled-placement-loses-quorum.yaml")
    pve2 = d["host-down:pve2"]
    assert pve2.etcd == (1, 3, 2)
    f = one(pve2, "drill/etcd-quorum")
    assert f.severity is Severity.error and "1 of 3 servers up, 2 needed" in f.message
    assert f.hint.startswith("no placement of 3 K3s servers on 2 Proxmox host(s)")
    # the finding points at the placement to change: k3s-3's `host: pve2`
    lines = (FIXTURES / "bundled-placement-loses-quorum.yaml").read_text().splitlines()
    assert lines[f.line - 1].strip().startswith("host: pve2") and "k3s-3" in lines[f.line - 2]
    assert one(d["host-down:pve1"], "drill/etcd-quorum").severity is Severity.info
    assert d["host-down:pve1"].etcd == (2, 3, 2)


def test_bundled_homelab_yaml_fails_the_drill_its_placement_fixture_fails():
    assert [f.rule for f in errors(drills_of("homelab.yaml")["host-down:pve2"])] == \
        [f.rule for f in errors(drills_of("bundled-placement-loses-quorum.yaml")["host-down:pve2"])]


def test_three_hosts_survive_any_one_host():
    d = drills_of("three-hosts-survives-any-one.yaml")
    for host in ("pve1", "pve2", "pve3"):
        drill = d[f"host-down:{host}"]
        assert drill.etcd == (2, 3, 2)
        assert errors(drill) == [], host
        assert one(drill, "drill/longhorn-readable").severity is Severity.info
        assert one(drill, "drill/proxmox-quorum").severity is Severity.info


def test_replicas_on_vms_sharing_a_host_are_one_failure_domain():
    d = drills_of("replicas-share-a-host.yaml")
    pve3 = d["host-down:pve3"]
    assert one(pve3, "drill/etcd-quorum").severity is Severity.info     # etcd is fine: one server per host
    f = one(pve3, "drill/longhorn-readable")
    assert f.severity is Severity.error and "k3s-3, k3s-4" in f.message and "pve3" in f.message
    assert "topology.kubernetes.io/zone" in f.hint
    assert one(d["host-down:pve1"], "drill/longhorn-readable").severity is Severity.info
    assert one(d["vm-down:k3s-4"], "drill/longhorn-readable").severity is Severity.info


def test_single_replica_volumes_are_lost_with_any_node():
    cfg = load_config(FIXTURES / "three-hosts-survives-any-one.yaml")
    cfg = cfg.model_copy(update={"longhorn": cfg.longhorn.model_copy(update={"replicas": 1})})
    drill = {d.scenario.id: d for d in run(cfg)}["vm-down:k3s-2"]
    f = one(drill, "drill/longhorn-readable")
    assert f.severity is Severity.error and "longhorn.replicas: 2" in f.hint


# Pods as the Flux tree would give them: 3 × 700MiB of Deployments plus a 128MiB DaemonSet. On the
# too-small lab (1GiB for pods per node) one fits on each node, so all three need all three nodes.
PLATFORM = Workload(pods=(
    PodGroup("monitoring", "prometheus", replicas=1, cpu_millis=500, memory=700 * 2**20),
    PodGroup("authentik", "authentik-server", replicas=1, cpu_millis=200, memory=700 * 2**20),
    PodGroup("loki", "loki", replicas=1, cpu_millis=200, memory=700 * 2**20),
    PodGroup("monitoring", "alloy", per_node=True, cpu_millis=50, memory=128 * 2**20),
), source="test")


def test_capacity_too_small_to_reschedule():
    drill = drills_of("too-small-to-reschedule.yaml", PLATFORM)["host-down:pve1"]
    f = one(drill, "drill/reschedule-capacity")
    assert f.severity is Severity.error
    assert "cannot take the evicted pods" in f.message and "1 pod(s) stay Pending" in f.message
    assert f.hint.startswith("give the K3s VMs more memory/cores")
    assert one(drills_of("too-small-to-reschedule.yaml", PLATFORM)["pi-down"], "drill/reschedule-capacity").severity \
        is Severity.info


def test_pods_that_never_fit_are_not_blamed_on_the_failure():
    huge = Workload(pods=(PodGroup("monitoring", "prometheus", memory=1536 * 2**20),), source="test")
    f = one(drills_of("too-small-to-reschedule.yaml", huge)["host-down:pve1"], "drill/reschedule-capacity")
    assert f.severity is Severity.warning and "even with every node up" in f.message


def test_capacity_counts_pods_that_fit_in_total_but_not_on_any_one_node():
    # 2 survivors × 1GiB allocatable = 2GiB ≥ 3 × 600MiB, but only one 600MiB pod fits on each node
    pods = Workload(pods=(PodGroup("homepage", "homepage", replicas=3, memory=600 * 2**20),), source="test")
    d = drills_of("too-small-to-reschedule.yaml", pods)
    assert one(d["vm-down:k3s-1"], "drill/reschedule-capacity").severity is Severity.error
    assert "1 pod(s) stay Pending" in one(d["vm-down:k3s-1"], "drill/reschedule-capacity").message
    assert one(drills_of("three-hosts-survives-any-one.yaml", pods)["vm-down:k3s-1"],
               "drill/reschedule-capacity").severity is Severity.info


def test_capacity_fits_on_bigger_nodes():
    f = one(drills_of("three-hosts-survives-any-one.yaml", PLATFORM)["host-down:pve1"], "drill/reschedule-capacity")
    assert f.severity is Severity.info and "room for every pod" in f.message
    # 3 × 700MiB + 2 × 128MiB of DaemonSets on the two survivors
    assert "2.3GiB of 14GiB" in f.message


def test_capacity_without_requests_states_the_share_the_survivors_can_absorb():
    d = drills_of("bundled-placement-loses-quorum.yaml")
    assert "at most 33%" in one(d["host-down:pve2"], "drill/reschedule-capacity").message
    assert one(d["host-down:pve2"], "drill/reschedule-capacity").severity is Severity.warning
    assert "at most 67%" in one(d["host-down:pve1"], "drill/reschedule-capacity").message


def test_two_hosts_without_qdevice_lose_proxmox_quorum_with_either_host():
    d = drills_of("two-hosts-without-qdevice.yaml")
    for host in ("pve1", "pve2"):
        f = one(d[f"host-down:{host}"], "drill/proxmox-quorum")
        assert f.severity is Severity.warning and "1 of 2 votes, 2 needed" in f.message
        assert "pi.qdevice: true" in f.hint
    bundled = drills_of("bundled-placement-loses-quorum.yaml")
    assert bundled["host-down:pve1"].proxmox == (2, 3, 2)
    assert one(bundled["pi-down"], "drill/proxmox-quorum").severity is Severity.info


def test_pi_down_stops_lan_names_when_it_is_the_only_resolver():
    d = drills_of("homelab.yaml")
    f = one(d["pi-down"], "drill/lan-dns")
    assert f.severity is Severity.warning and "stop resolving" in f.message
    assert one(d["pi-down"], "drill/route-impact").severity is Severity.warning
    assert one(d["host-down:pve1"], "drill/lan-dns").severity is Severity.info


def test_pi_down_with_a_second_resolver_falls_back():
    cfg = load_config(ROOT / "homelab.yaml")
    from ipaddress import IPv4Address
    nets = cfg.networks
    mgmt = nets.management.model_copy(update={"dns": [*nets.management.dns, IPv4Address("192.168.1.1")]})
    cfg = cfg.model_copy(update={"networks": nets.model_copy(update={"management": mgmt})})
    f = one({d.scenario.id: d for d in run(cfg)}["pi-down"], "drill/lan-dns")
    assert "fall back to 192.168.1.1" in f.message


def test_internet_down_certificates_last_the_renewal_margin():
    d = drills_of("homelab.yaml")
    f = one(d["internet-down"], "drill/cert-renewal")
    assert f.severity is Severity.info and "at least 30 days" in f.message and "assumed" in f.message
    assert "keeps the last applied revision" in one(d["internet-down"], "drill/flux-source").message
    short = Workload(certificates=(Certificate("traefik", "wildcard-lan", ("*.lan.example.com",), renew_before_days=5),),
                     source="test")
    f = one(drills_of("homelab.yaml", short)["internet-down"], "drill/cert-renewal")
    assert f.severity is Severity.warning and "at least 5 days" in f.message and "traefik/wildcard-lan" in f.message


def test_losing_the_first_server_loses_the_api_name():
    d = drills_of("homelab.yaml")
    f = one(d["vm-down:k3s-1"], "drill/api-endpoint")
    assert f.severity is Severity.warning and "k3s.lan.example.com" in f.message
    assert not [x for x in d["vm-down:k3s-2"].findings if x.rule == "drill/api-endpoint"]


def test_power_restored_lists_the_recovery_order_and_needs_vms_on_boot():
    levels = [["sources"], ["controllers"], ["configs"], ["apps"]]
    drill = drills_of("homelab.yaml", flux_levels=levels, on_boot=True)["power-restored"]
    order = one(drill, "drill/recovery-order")
    assert "main-rpi4 boots" in order.message and "[sources] → [controllers] → [configs] → [apps]" in order.message
    assert order.message.index("boot") < order.message.index("K3s") < order.message.index("Flux")
    off = drills_of("homelab.yaml", on_boot=False)["power-restored"]
    assert any(f.severity is Severity.error and "on_boot" in f.message for f in off.findings)


def test_longhorn_pods_stay_stuck_with_the_default_node_down_policy():
    vols = Workload(volumes=(Volume("authentik", "data-postgresql-0", 8 * GiB),), source="test")
    drill = drills_of("three-hosts-survives-any-one.yaml", vols)["host-down:pve1"]
    assert one(drill, "drill/longhorn-stuck-pods").severity is Severity.warning
    fixed = Workload(volumes=vols.volumes, source="test",
                     longhorn_settings={"nodeDownPodDeletionPolicy": "delete-both-statefulset-and-deployment-pod"})
    drill = drills_of("three-hosts-survives-any-one.yaml", fixed)["host-down:pve1"]
    assert not [f for f in drill.findings if f.rule == "drill/longhorn-stuck-pods"]


@pytest.mark.parametrize("fixture", sorted(p.name for p in FIXTURES.glob("*.yaml")))
def test_every_finding_has_a_fix_when_it_is_not_info(fixture):
    for drill in drills_of(fixture).values():
        for f in drill.findings:
            assert f.severity is Severity.info or f.hint or f.rule == "drill/route-impact", (fixture, f)


def test_what_the_users_of_each_route_see():
    d = drills_of("homelab.yaml")
    seen = {u["service"]: u for u in d["pi-down"].users}
    assert seen["grafana"]["host"] == "grafana.lan.example.com" and "server not found" in seen["grafana"]["sees"]
    assert seen["grafana"]["severity"] == "warning"
    assert seen["authentik"]["sees"].startswith("works from the internet")
    offline = {u["service"]: u["sees"] for u in d["internet-down"].users}
    assert offline["flux-webhook"] == "unreachable from outside"
    assert offline["homepage"] == "works from the LAN, SSO included (Authentik is local)"
    pve2 = {u["service"]: u for u in d["host-down:pve2"].users}
    assert all(u["severity"] == "error" and "until pve2 returns" in u["sees"] for u in pve2.values())
    assert len(pve2) == len(load_config(ROOT / "homelab.yaml").services)


# ------------------------------------------------------------------------------------- fixes that work

def test_moving_a_server_to_the_other_of_two_hosts_is_never_offered():
    """3 servers on 2 hosts: every placement leaves 2 servers on one host, so the plan names the real options."""
    f = one(drills_of("homelab.yaml")["host-down:pve2"], "drill/etcd-quorum")
    assert "move k3s" not in f.hint
    for option in ("add a Proxmox host to proxmox.hosts", "run another etcd voter", "accept the risk"):
        assert option in f.hint, f.hint


def test_a_move_is_offered_when_the_drills_replayed_on_the_moved_config_hold():
    cfg = load_config(FIXTURES / "three-hosts-survives-any-one.yaml")
    crowded = patched(cfg, ((("k3s", "nodes", 2, "host"), "pve2"),))   # k3s-2 and k3s-3 share pve2
    assert crowded is not None
    f = one({d.scenario.id: d for d in run(crowded)}["host-down:pve2"], "drill/etcd-quorum")
    assert f.severity is Severity.error
    assert "move k3s-3 to pve3" in f.hint and "move k3s-3 to pve1" not in f.hint, f.hint   # pve1 already holds k3s-1
    fixed = patched(crowded, ((("k3s", "nodes", 2, "host"), "pve3"),))
    assert not [e for d in run(fixed) for e in errors(d) if e.rule == "drill/etcd-quorum"]


def test_a_move_that_does_not_fit_the_target_host_is_not_offered():
    cfg = load_config(FIXTURES / "three-hosts-survives-any-one.yaml")
    crowded = patched(cfg, ((("k3s", "nodes", 2, "host"), "pve2"), (("proxmox", "hosts", "pve3", "memory"), "4GiB")))
    assert crowded is not None
    f = one({d.scenario.id: d for d in run(crowded)}["host-down:pve2"], "drill/etcd-quorum")
    assert "move k3s-3 to pve3" not in f.hint and "move k3s-2 to pve3" not in f.hint
    assert "spread the servers" in f.hint, f.hint


def test_raising_longhorn_replicas_is_offered_only_where_it_holds():
    shared = one(drills_of("replicas-share-a-host.yaml")["host-down:pve3"], "drill/longhorn-readable")
    assert "set longhorn.replicas: 3" in shared.hint            # 3 copies on 4 nodes survive losing pve3's two
    cfg = load_config(FIXTURES / "replicas-share-a-host.yaml")
    assert not [f for d in run(patched(cfg, ((("longhorn", "replicas"), 3),))) for f in errors(d)
                if f.rule == "drill/longhorn-readable"]


def test_without_trying_fixes_every_suggestion_is_listed():
    cfg = load_config(ROOT / "homelab.yaml")
    f = one({d.scenario.id: d for d in run(cfg, try_fixes=False)}["host-down:pve2"], "drill/etcd-quorum")
    assert "move k3s-3 to pve1" in f.hint   # what the replay exists to rule out


# ---------------------------------------------------------------------------------- facts, said once

def test_a_qdevice_with_three_hosts_is_one_fact_not_a_warning_in_every_drill():
    cfg = load_config(FIXTURES / "three-hosts-survives-any-one.yaml")
    cfg = patched(cfg, ((("pi", "qdevice"), True),))
    said = facts(cfg)
    assert [f.rule for f in said] == ["drill/proxmox-quorum"] and "odd number" in said[0].message
    assert said[0].hint == "set pi.qdevice: false"
    assert not [f for d in run(cfg) for f in d.findings if "odd number" in f.message]


# ------------------------------------------------------------------- the Users column follows the answers

def workload_with_routes(cfg) -> Workload:
    """Volumes and routes as the bundled tree has them (names from kubernetes/clusters/homelab)."""
    return Workload(
        volumes=(Volume("authentik", "authentik:postgresql.primary.persistence", 8 * GiB),
                 Volume("monitoring", "grafana:persistence", 2 * GiB),
                 Volume("monitoring", "kube-prometheus-stack:prometheus.prometheusSpec.storageSpec.volumeClaimTemplate", 20 * GiB),
                 Volume("monitoring", "kube-prometheus-stack:alertmanager.alertmanagerSpec.storage.volumeClaimTemplate", GiB)),
        routes=(RouteBackend(cfg.fqdn("authentik"), "authentik", ("authentik-server",)),
                RouteBackend(cfg.fqdn("grafana"), "monitoring", ("grafana",)),
                RouteBackend(cfg.fqdn("prometheus"), "monitoring", ("kube-prometheus-stack-prometheus",)),
                RouteBackend(cfg.fqdn("alertmanager"), "monitoring", ("kube-prometheus-stack-alertmanager",))),
        source="test")


def users(drill) -> dict[str, dict]:
    return {u["service"]: u for u in drill.users}


def test_a_route_is_down_when_etcd_has_lost_quorum():
    pve2 = users(drills_of("homelab.yaml")["host-down:pve2"])
    assert all(u["severity"] == "error" and u["because"] == ["drill/etcd-quorum"] for u in pve2.values())


def test_a_route_is_down_when_its_volume_may_be_unreadable():
    cfg = load_config(FIXTURES / "replicas-share-a-host.yaml")
    pve3 = {d.scenario.id: d for d in run(cfg, workload_with_routes(cfg))}["host-down:pve3"]
    assert one(pve3, "drill/etcd-quorum").severity is Severity.info
    seen = users(pve3)
    assert seen["grafana"]["severity"] == "error" and "monitoring/grafana:persistence" in seen["grafana"]["sees"]
    assert "prometheus.prometheusSpec" in seen["prometheus"]["sees"] and "alertmanager" not in seen["prometheus"]["sees"]
    assert seen["grafana"]["because"] == ["drill/longhorn-readable"]


def test_an_operator_made_claim_belongs_to_the_route_of_its_service():
    wl = Workload(volumes=(Volume("monitoring", "prometheus-kube-prometheus-stack-prometheus", GiB),
                           Volume("monitoring", "alertmanager-kube-prometheus-stack-alertmanager", GiB)),
                  routes=(RouteBackend("p.lan", "monitoring", ("kube-prometheus-stack-prometheus",)),), source="test")
    assert [v.name for v in wl.volumes_behind("p.lan")] == ["prometheus-kube-prometheus-stack-prometheus"]


def test_every_sso_route_is_down_when_the_sso_providers_database_may_be_unreadable():
    cfg = load_config(FIXTURES / "replicas-share-a-host.yaml")
    pve3 = users({d.scenario.id: d for d in run(cfg, workload_with_routes(cfg))}["host-down:pve3"])
    sso = [n for n, s in cfg.services.items() if s.exposure.value == "sso" or (s.exposure.value == "lan" and s.sso)]
    assert sso and all(pve3[n]["severity"] == "error" for n in sso)
    assert "authentik/authentik:postgresql.primary.persistence" in pve3["homepage"]["sees"]
    public = [n for n, s in cfg.services.items() if s.exposure.value == "public" and n != "authentik"]
    assert public and all(pve3[n]["severity"] == "info" for n in public)   # flux-webhook needs no login


def test_lan_routes_lose_their_names_exactly_when_the_lan_dns_answer_says_so():
    d = drills_of("homelab.yaml")
    lan_dns = one(d["pi-down"], "drill/lan-dns")
    seen = users(d["pi-down"])
    lan = [n for n, s in load_config(ROOT / "homelab.yaml").services.items() if s.exposure.value == "lan"]
    assert lan_dns.severity is Severity.warning
    assert all(seen[n]["severity"] == "warning" and seen[n]["because"] == ["drill/lan-dns"] for n in lan)


@pytest.mark.parametrize("name", ["homelab.yaml", "replicas-share-a-host.yaml", "two-hosts-without-qdevice.yaml"])
def test_the_route_impact_finding_is_the_worst_of_what_users_see(name):
    path = ROOT / name if name == "homelab.yaml" else FIXTURES / name
    cfg = load_config(path)
    for drill in run(cfg, workload_with_routes(cfg)):
        worst = max((Severity(u["severity"]) for u in drill.users), key=[Severity.info, Severity.warning, Severity.error].index)
        assert one(drill, "drill/route-impact").severity is worst, drill.scenario.id
        for u in drill.users:   # every outcome that is not "ok" names the answer it follows from, and that answer agrees
            for rule in u["because"]:
                assert any(f.rule == rule and f.severity is not Severity.info for f in drill.findings), (drill.scenario.id, u)


def test_servers_crowded_on_one_of_three_hosts_are_spread_by_a_tried_move():
    cfg = load_config(FIXTURES / "three-hosts-survives-any-one.yaml")
    crowded = patched(cfg, ((("k3s", "nodes", 1, "host"), "pve1"), (("k3s", "nodes", 2, "host"), "pve1"),
                            (("proxmox", "hosts", "pve1", "memory"), "64GiB"), (("proxmox", "hosts", "pve1", "cores"), 16)))
    f = one({d.scenario.id: d for d in run(crowded)}["host-down:pve1"], "drill/etcd-quorum")
    assert f.hint == "move k3s-2 to pve3 and k3s-3 to pve2"   # no single move helps; the first server stays


def test_without_the_tree_users_are_warned_when_longhorn_may_lose_their_data():
    """The volumes are unknown, so the Users answer cannot name one, but it cannot say "ok" either."""
    pve3 = drills_of("replicas-share-a-host.yaml")["host-down:pve3"]
    assert one(pve3, "drill/longhorn-readable").severity is Severity.error
    seen = users(pve3)
    assert all(u["severity"] == "warning" and u["because"] == ["drill/longhorn-readable"] for u in seen.values())
    assert "the Flux tree was not read" in seen["grafana"]["sees"]
    known = users(drills_of("replicas-share-a-host.yaml", Workload(source="test"))["host-down:pve3"])
    assert all(u["severity"] == "warning" and "names no Longhorn volume" in u["sees"] for u in known.values())
    one_node = users(drills_of("replicas-share-a-host.yaml")["vm-down:k3s-4"])   # 2 replicas survive one node
    assert all(u["severity"] == "info" for u in one_node.values())
