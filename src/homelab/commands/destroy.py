"""`homelab destroy`: remove the K3s VMs Terraform made, after the user types the lab's name."""

from __future__ import annotations

import sys
from contextlib import nullcontext

import click

from homelab import paths
from homelab.commands.up import make_pipeline, report_failure, report_terminated
from homelab.context import Context, pass_ctx
from homelab.pipeline import StageFailed
from homelab.pipeline.preflight import check_tools, say_gaps
from homelab.runlock import Terminated, exclusive_run

# Stages whose results disappear with the VMs; the Packer template is kept (rebuilding it takes long).
UNDONE_STAGES = ("vms", "inventory", "hosts", "bootstrap", "converge")


@click.command("destroy")
@click.option("--dry-run", is_flag=True, help="Print the command that would run; change nothing.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation (for scripts).")
@pass_ctx
def command(ctx: Context, dry_run: bool, yes: bool) -> None:
    """Destroy the K3s VMs (terraform destroy); the template and the Proxmox hosts stay.

    Asks you to type the lab's name (site.name) first. Afterwards `homelab up` starts again at
    the vms stage.
    """
    with nullcontext() if dry_run else exclusive_run(ctx.root, "homelab destroy"):
        _destroy(ctx, dry_run, yes)


def _destroy(ctx: Context, dry_run: bool, yes: bool) -> None:
    cfg = ctx.cfg
    p = make_pipeline(ctx, dry_run=dry_run, yes=yes)
    r = p.runner
    names = ", ".join(f"{n.name} (VM {n.vm_id} on {n.host})" for n in cfg.k3s.nodes)
    if not (yes or dry_run):
        click.echo(f"This destroys the K3s VMs {names}, their disks and every Longhorn volume on them.")
        typed = click.prompt(f"Type the lab's name ({cfg.site.name}) to confirm", default="", show_default=False)
        if typed.strip() != cfg.site.name:
            click.echo("not confirmed; nothing was destroyed", err=True)
            sys.exit(1)
    try:
        r.begin("destroy")
        if dry_run:
            r.say("dry run: nothing runs and nothing changes; this is what `homelab destroy` would do", "bold")
            say_gaps(r, ["vms"], ["terraform"])
        problems = [] if dry_run else check_tools(["terraform"])
        if problems:
            raise StageFailed([StageFailed.single("destroy", m).problems[0] for m in problems])
        r.run(["terraform", "init", "-input=false"], cwd=paths.TERRAFORM_DIR)
        r.run(["terraform", "destroy", "-input=false", "-auto-approve"], cwd=paths.TERRAFORM_DIR)
        if dry_run:
            r.say(f"would destroy the K3s VMs {names}, once you type the lab's name; `homelab up` would then "
                  "start again at the vms stage. Nothing was run or changed", "bold")
        else:
            p.state.forget(*UNDONE_STAGES)
            r.say("destroyed the K3s VMs; `homelab up` will start again at the vms stage", "green")
    except StageFailed as exc:
        report_failure(exc)
        sys.exit(1)
    except Terminated as exc:
        report_terminated(exc, "destroy")
        sys.exit(exc.exit_code)
    finally:
        r.end()
