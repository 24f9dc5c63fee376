"""`homelab up`: build the whole lab from Git, resuming where the last run stopped."""

from __future__ import annotations

import sys
from contextlib import nullcontext
from functools import lru_cache

import click
from rich.console import Console

from homelab.context import Context, pass_ctx
from homelab.pipeline import STAGE_NAMES, PipelineContext, Runner, StageFailed, State, run_pipeline
from homelab.pipeline.stages import kubeconfig_path
from homelab.runlock import Terminated, exclusive_run
from homelab.terminal import messages, problem_line


def make_pipeline(ctx: Context, *, dry_run: bool, yes: bool, timeout: float = 900,
                  console: Console | None = None) -> PipelineContext:
    """The pipeline on the live lab: proxmoxer with the token from the environment, the fetched kubeconfig."""
    from homelab.status.kube import KubernetesReader
    from homelab.status.proxmox import connect

    cfg, root = ctx.cfg, ctx.root
    state = State(root, dry_run=dry_run)
    runner = Runner(root, state.log_dir, console or messages(stderr=False), dry_run=dry_run, yes=yes)

    @lru_cache(maxsize=1)
    def proxmox():
        return connect(cfg, runner.env)

    def kube():
        return KubernetesReader(kubeconfig_path(cfg, runner.env))

    return PipelineContext(cfg=cfg, root=root, config_path=ctx.config_path, runner=runner, state=state,
                           proxmox=proxmox, kube=kube, converge_timeout=timeout)


def report_failure(exc: StageFailed) -> None:
    err = messages()
    for problem in exc.problems:
        problem_line(err, "failed:", "bold red", str(problem))
    err.print("Run `homelab up` again to continue from the stage that failed.")


def report_terminated(exc: Terminated, stage: str) -> None:
    err = messages()
    problem_line(err, "failed:", "bold red", f"{stage}: terminated by {exc.name}; the program it ran was stopped")
    err.print("Run `homelab up` again to continue from the stage that failed.")


@click.command("up")
@click.option("--from", "from_stage", type=click.Choice(STAGE_NAMES), metavar="STAGE",
              help=f"Run this stage and every later one again, done or not ({', '.join(STAGE_NAMES)}).")
@click.option("--only", type=click.Choice(STAGE_NAMES), metavar="STAGE", help="Run just this stage, done or not.")
@click.option("--dry-run", is_flag=True, help="Print every command that would run (secrets masked); change nothing.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask before applying the Terraform plan.")
@click.option("--timeout", type=click.IntRange(min=1), default=900, show_default=True,
              help="Seconds the converge stage waits for Flux to be Ready.")
@pass_ctx
def command(ctx: Context, from_stage: str | None, only: str | None, dry_run: bool, yes: bool, timeout: int) -> None:
    """Provision the lab: preflight, template, vms, inventory, hosts, bootstrap, converge.

    Each stage is skipped when it is already done, so an interrupted run continues where it
    stopped. State and one log per stage are kept in .homelab/ (ignored by Git).
    """
    if from_stage and only:
        raise click.UsageError("use either --from or --only, not both")
    # a dry run changes nothing and writes nothing, not even the lock
    with nullcontext() if dry_run else exclusive_run(ctx.root, "homelab up"):
        pipeline = make_pipeline(ctx, dry_run=dry_run, yes=yes, timeout=timeout)
        try:
            run_pipeline(pipeline, from_stage=from_stage, only=only)
        except StageFailed as exc:
            report_failure(exc)
            sys.exit(1)
        except Terminated as exc:
            report_terminated(exc, pipeline.runner.stage)
            sys.exit(exc.exit_code)
