"""Pieces of the pipeline on their own: the secret mask, waiting for Flux, where the Bitwarden token goes."""

from __future__ import annotations

import io
import json

from rich.console import Console

from homelab.clients.masking import MASK, Masker
from homelab.pipeline.converge import wait_ready

from conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "status"


def test_mask_hides_known_and_secret_looking_variables_and_the_token_half():
    env = {"PROXMOX_VE_API_TOKEN": "terraform@pve!homelab=6f1c9a2e-8b3d-4e5f-a7c1-0d2e4f6a8b9c",
           # homelab: ignore[secrets/credential] made-up values the masking test must hide
           "MY_DB_PASSWORD": "hunter2hunter2", "K3S_TOKEN": "K10abc::server:xyz", "HOME": "/root", "PS1": "$ "}
    mask = Masker(env)
    text = ("auth terraform@pve!homelab=6f1c9a2e-8b3d-4e5f-a7c1-0d2e4f6a8b9c; uuid 6f1c9a2e-8b3d-4e5f-a7c1-0d2e4f6a8b9c; "
            "db hunter2hunter2; join K10abc::server:xyz; home /root")
    assert mask(text) == f"auth {MASK}; uuid {MASK}; db {MASK}; join {MASK}; home /root"
    assert mask.argv(["kubectl", "--token=hunter2hunter2"]) == f"kubectl --token={MASK}"


def test_mask_ignores_values_too_short_to_be_secrets():
    assert Masker({"SOME_TOKEN": "1"})("1 + 1") == "1 + 1"


class Sequence:
    """A KubeReader stand-in that replays recorded Flux lists: not ready for `stuck_polls` polls, then ready."""

    def __init__(self, stuck_polls: int, empty_first: bool = False):
        self.stuck_polls, self.empty_first, self.polls = stuck_polls, empty_first, 0

    def list(self, group, version, plural):
        if plural == "kustomizations":
            self.polls += 1
        if self.empty_first and self.polls == 1:
            return []
        case = "unhealthy" if self.polls <= self.stuck_polls else "healthy"
        return json.loads((FIXTURES / case / "kubernetes" / f"{group}_{version}_{plural}.json").read_text())["items"]


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_wait_ready_returns_once_everything_is_ready():
    kube, clock, out = Sequence(stuck_polls=2), Clock(), io.StringIO()
    stuck = wait_ready(kube, Console(file=out, width=200), timeout=300, interval=10, clock=clock, sleep=clock.sleep)
    assert stuck == [] and kube.polls == 3 and clock.now == 20
    assert "Flux: 11/11 Ready" in out.getvalue()


def test_wait_ready_times_out_naming_what_is_stuck():
    kube, clock, out = Sequence(stuck_polls=99), Clock(), io.StringIO()
    stuck = wait_ready(kube, Console(file=out, width=200), timeout=60, interval=10, clock=clock, sleep=clock.sleep)
    assert [str(s) for s in stuck] == [
        "Kustomization flux-system/apps: DependencyNotReady: dependency 'flux-system/infra-controllers' is not ready",
        "HelmRelease authentik/authentik: InstallFailed: Helm install failed for release authentik/authentik with "
        "chart authentik@2026.8.0: context deadline exceeded"]
    assert clock.now == 60
    assert "Flux: 9/11 Ready" in out.getvalue() and "InstallFailed" in out.getvalue()


def test_no_flux_objects_at_all_is_not_converged():
    kube, clock = Sequence(stuck_polls=0, empty_first=True), Clock()
    assert wait_ready(kube, Console(file=io.StringIO()), timeout=60, interval=10, clock=clock, sleep=clock.sleep) == []
    assert kube.polls == 2  # the empty first answer did not count as done
