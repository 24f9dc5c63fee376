"""The converge stage: wait until every Flux Kustomization and HelmRelease is Ready, showing progress.

On timeout it names each object that is not Ready and why (its Ready condition's message), which is
what `flux get all -A` would have shown you.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from homelab.status.conditions import readiness, ref
from homelab.status.kube import HELMRELEASES, KUSTOMIZATIONS, KubeReader
from homelab.terminal import row


@dataclass(frozen=True)
class Pending:
    kind: str
    name: str
    reason: str
    message: str

    def __str__(self) -> str:
        return f"{self.kind} {self.name}: {self.reason}: {self.message}" if self.message else f"{self.kind} {self.name}: {self.reason}"


def not_ready(kube: KubeReader, mask: Callable[[str], str] = str) -> tuple[int, list[Pending]]:
    """(how many Flux objects exist, those not Ready yet), their messages masked: a condition
    message may quote a value the cluster got from a secret."""
    total, pending = 0, []
    for kind, api in (("Kustomization", KUSTOMIZATIONS), ("HelmRelease", HELMRELEASES)):
        for obj in kube.list(*api):
            total += 1
            r = readiness(obj)
            if not r.ready:
                pending.append(Pending(kind, mask(ref(obj)), mask(r.reason or "NotReady"), mask(r.message)))
    return total, pending


def _table(total: int, pending: list[Pending], waited: float, timeout: float) -> Table | Text:
    title = f"Flux: {total - len(pending)}/{total} Ready ({waited:.0f}s of {timeout:.0f}s)"
    if not pending:
        return Text(title)
    table = Table(title=title, show_edge=False, title_justify="left")
    table.add_column("not ready yet")
    table.add_column("reason")
    table.add_column("message", overflow="fold")
    for p in pending[:20]:
        row(table, f"{p.kind} {p.name}", p.reason, p.message)
    return table


def wait_ready(kube: KubeReader, console: Console, *, timeout: float, interval: float = 10,
               mask: Callable[[str], str] = str,
               clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> list[Pending]:
    """Poll until everything is Ready (return []) or the timeout passes (return what is stuck).

    Nothing listed at all counts as not converged: right after bootstrap the root Kustomization
    may not exist yet.
    """
    start = clock()
    with Live(console=console, transient=False, auto_refresh=False) as live:
        while True:
            total, pending = not_ready(kube, mask)
            if total == 0:
                pending = [Pending("Kustomization", "flux-system/flux-system", "Missing",
                                   "no Flux Kustomization exists yet; was the bootstrap stage run?")]
            waited = clock() - start
            live.update(_table(total, pending, waited, timeout), refresh=True)
            if not pending or waited >= timeout:
                return pending
            sleep(min(interval, max(timeout - waited, 0)))
