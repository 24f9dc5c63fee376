"""`homelab up`: the provisioning flow as resumable stages.

    preflight → template → vms → inventory → hosts → bootstrap → converge

A plain run skips every stage that is done and runs the rest in order, recording each as it
finishes, so a run that failed half way continues at the stage that failed and never repeats a
finished one. `from_stage` re-runs a stage and everything after it; `only` runs one stage.
Preflight changes nothing; it runs before the selected stages and checks only what they need.
"""

from __future__ import annotations

from homelab.pipeline.preflight import run_preflight
from homelab.pipeline.runner import Runner, StageFailed
from homelab.pipeline.stages import STAGE_NAMES, STAGES, PipelineContext, Stage
from homelab.pipeline.state import State
from homelab.runlock import Terminated

__all__ = ["STAGES", "STAGE_NAMES", "PipelineContext", "Runner", "StageFailed", "State", "run_pipeline"]


def select(p: PipelineContext, from_stage: str | None, only: str | None) -> tuple[list[Stage], bool]:
    """(candidate stages, forced): forced stages run even when done."""
    if only:
        return ([] if only == "preflight" else [s for s in STAGES if s.name == only]), True
    if from_stage:  # --from preflight: everything again
        i = 0 if from_stage == "preflight" else [s.name for s in STAGES].index(from_stage)
        return STAGES[i:], True
    # Continue at the first unfinished stage; the ones after it are each checked again when their
    # turn comes, because finishing one can change the next one's inputs (new VMs, new inventory).
    first = next((i for i, s in enumerate(STAGES) if not s.recorded_done(p)), len(STAGES))
    return STAGES[first:], False


def run_pipeline(p: PipelineContext, *, from_stage: str | None = None, only: str | None = None) -> list[str]:
    """Run what is not done (or what was asked for); return the names of the stages that ran."""
    r = p.runner
    stages, forced = select(p, from_stage, only)
    if not stages and only != "preflight":
        r.say("every stage is done; nothing to do (use --from STAGE or --only STAGE to run one again)", "green")
        return []
    ran: list[str] = []
    would = "would " if r.dry_run else ""
    if r.dry_run:
        r.say("dry run: nothing runs and nothing changes; this is what `homelab up` would do", "bold")
    try:
        r.begin("preflight")
        checked = [s.name for s in stages or STAGES]
        r.say(f"▶ preflight: {would}check what {the_stages(checked)} need{'s' if len(checked) == 1 else ''}",
              "bold cyan")
        run_preflight(p, stages or list(STAGES))
        ran.append("preflight")
        for stage in STAGES:
            if stage not in stages:
                rec = p.state.get(stage.name)
                if not forced and rec:  # a plain run says what it is not repeating
                    r.say(f"✓ {stage.name}: done ({rec.finished}); {'would be ' if r.dry_run else ''}skipped", "dim")
                continue
            r.begin(stage.name)
            if not forced and stage.is_done(p):
                rec = p.state.get(stage.name)
                r.say(f"✓ {stage.name}: done{f' ({rec.finished})' if rec else ''}; {'would be ' if r.dry_run else ''}skipped",
                      "dim")
                p.state.mark_done(stage.name, stage.fingerprint(p))
                continue
            r.say(f"▶ {stage.name}: {would}{stage.summary}", "bold cyan")
            try:
                stage.run(p)
            except (StageFailed, Terminated, KeyboardInterrupt) as exc:
                reason = (f"terminated by {exc.name}" if isinstance(exc, Terminated) else
                          "interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc).splitlines()[0])
                r.log(f"=== {stage.name} failed: {reason}")
                p.state.mark_failed(stage.name, reason)
                raise
            p.state.mark_done(stage.name, stage.fingerprint(p))  # in a dry run: in memory only
            ran.append(stage.name)
    finally:
        r.end()
    if r.dry_run:
        r.say(f"dry run: {the_stages(ran[1:]) if ran[1:] else 'no stage'} would run; nothing was run or changed",
              "bold")
    return ran


def the_stages(names: list[str]) -> str:
    """'the vms stage' / 'the template, vms and hosts stages'."""
    if len(names) == 1:
        return f"the {names[0]} stage"
    return f"the {', '.join(names[:-1])} and {names[-1]} stages"
