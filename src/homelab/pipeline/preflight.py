"""Preflight: what the selected stages need, checked before anything changes.

Tools at supported versions, the Proxmox API reachable with the token from the environment, an SSH
key the hosts will accept, the Bitwarden token for bootstrap, and the Git remote Flux will watch
holding the current commit. All problems are reported at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from homelab import tools
from homelab.errors import HomelabError, problem
from homelab.findings import Finding
from homelab.paths import FluxPaths
from homelab.registry import Rule, declare

if TYPE_CHECKING:
    from homelab.pipeline.runner import Runner
    from homelab.pipeline.stages import PipelineContext, Stage

# Oldest versions the repository is written for, and how each tool prints its version.
MIN_VERSIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "git": ("2.30", ("--version",)),
    "packer": ("1.10.0", ("version",)),           # HCL2 `required_plugins`, proxmox-iso `boot_iso` block
    "terraform": ("1.9.0", ("version",)),         # cross-variable validation blocks
    "ansible-playbook": ("2.16.0", ("--version",)),
    "flux": ("2.4.0", ("version", "--client")),   # Kustomization/GitRepository v1, HelmRelease v2
    "kubectl": ("1.30.0", ("version", "--client")),
}


TOOLS = declare("preflight/tools", "the programs the selected stages run are installed at supported versions",
                reported_by="up")
ENVIRONMENT = declare("preflight/environment", "every environment variable the selected stages and the roles they run "
                      "read is set (Proxmox tokens, K3S_TOKEN, the Pi-hole password, the Bitwarden token)", reported_by="up")
PROXMOX = declare("preflight/proxmox", "the Proxmox API answers with the token, and every host is online", reported_by="up")
SSH_KEY = declare("preflight/ssh-key", "an SSH key for the admin user is on disk or in the ssh-agent", reported_by="up")
SHORT_SECRET = declare("preflight/short-secret", "every credential in the environment is a real token "
                       "(at least 8 characters), not a placeholder", reported_by="up")
GIT_REMOTE = declare("preflight/git-remote", "the Git branch Flux watches holds the current commit", reported_by="up")


def _tuple(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", v)[:3])


def check_tools(names: list[str]) -> list[str]:
    problems = []
    for name in names:
        minimum, args = MIN_VERSIONS[name]
        if tools.which(name) is None:
            problems.append(f"{name} is not installed (needed: {minimum} or newer)")
            continue
        found = tools.version(name, args)
        if found is None:
            problems.append(f"{name}: could not read its version with `{name} {' '.join(args)}`")
        elif _tuple(found) < _tuple(minimum):
            problems.append(f"{name} {found} is too old; {minimum} or newer is needed")
    return problems


def check_proxmox(pctx: "PipelineContext") -> list[str]:
    try:
        px = pctx.proxmox()
        nodes = {n["node"]: n.get("status") for n in px.nodes.get()}
    except HomelabError as exc:
        return [pctx.runner.mask(p.message + (f" (hint: {p.hint})" if p.hint else "")) for p in exc.problems]
    except Exception as exc:  # proxmoxer/requests errors: one line, masked
        return [pctx.runner.mask(f"Proxmox API: {exc}")]
    return [f"Proxmox node {h.node_name} ({name}) is {nodes.get(h.node_name, 'not in the cluster')}"
            for name, h in pctx.cfg.proxmox.hosts.items() if nodes.get(h.node_name) != "online"]


def check_ssh_key(pctx: "PipelineContext") -> list[str]:
    """A private key whose public half is in site.ssh_public_keys, on disk or in the agent."""
    wanted = {k.split()[1] for k in pctx.cfg.site.ssh_public_keys}
    home = Path(pctx.runner.env.get("HOME", str(Path.home())))
    for pub in sorted((home / ".ssh").glob("*.pub")):
        parts = pub.read_text(encoding="utf-8", errors="replace").split()
        if len(parts) >= 2 and parts[1] in wanted and pub.with_suffix("").exists():
            return []
    if pctx.runner.env.get("SSH_AUTH_SOCK") and tools.which("ssh-add"):
        res = pctx.runner.capture(["ssh-add", "-L"], quiet=True)
        if res.ok and any(len(line.split()) >= 2 and line.split()[1] in wanted for line in res.stdout.splitlines()):
            return []
    return [f"no SSH private key for any of site.ssh_public_keys in {home / '.ssh'} or the ssh-agent; "
            "Ansible logs in with it as the admin user"]


def check_git_remote(pctx: "PipelineContext") -> list[str]:
    flux = pctx.cfg.flux
    cluster = FluxPaths.of(pctx.cfg).cluster
    head = pctx.runner.capture(["git", "rev-parse", "HEAD"], quiet=True)
    if not head.ok:
        return [f"{pctx.root} is not a Git checkout with a commit; Flux deploys from Git"]
    dirty = pctx.runner.capture(["git", "status", "--porcelain", "--", cluster], quiet=True)
    if dirty.stdout.strip():
        return [f"uncommitted changes under {cluster}; commit and push them, Flux only sees what is in Git"]
    remote = pctx.runner.capture(["git", "ls-remote", flux.repository, f"refs/heads/{flux.branch}"], quiet=True)
    if not remote.ok or not remote.stdout.strip():
        return [f"cannot read branch {flux.branch} of {flux.repository}: "
                f"{(remote.stderr.strip().splitlines() or ['branch not found'])[-1]}"]
    sha, local = remote.stdout.split()[0], head.stdout.strip()
    if sha == local:
        return []
    contained = pctx.runner.capture(["git", "merge-base", "--is-ancestor", local, sha], quiet=True)
    if contained.ok:
        return []
    return [f"{flux.repository} branch {flux.branch} is at {sha[:12]}, which does not contain your commit "
            f"{local[:12]}; push it (git push origin HEAD:{flux.branch}) so Flux deploys what you have"]


def required_env(names: Iterable[str]) -> dict[str, str]:
    """The environment variables the given stages read, each with who reads it (the table of
    homelab.pipeline.environment; variables only some sites need are listed too)."""
    from homelab.pipeline.environment import ENVIRONMENT

    chosen = set(names)
    return {v.name: v.reads for v in ENVIRONMENT if chosen & set(v.stages)}


def dry_run_gaps(env: Mapping[str, str], names: Iterable[str], programs: Iterable[str]) -> list[str]:
    """What a real run of these stages would stop on that a dry run can see without touching anything:
    every unset variable and every program that is not installed."""
    gaps = [f"${var} is not set ({what})" for var, what in required_env(names).items() if not env.get(var)]
    gaps += [f"{name} is not installed (needed: {MIN_VERSIONS[name][0]} or newer)" for name in programs
             if tools.which(name) is None]
    return gaps + check_secret_lengths(dict(env))


def say_gaps(r: "Runner", names: Iterable[str], programs: Iterable[str]) -> None:
    gaps = dry_run_gaps(r.env, names, programs)
    for gap in gaps:
        r.say(f"missing: {gap}", "yellow")
    r.say(f"a real run needs {'them' if len(gaps) > 1 else 'it'} first" if gaps
          else "every variable and program a real run needs is there")


def check_secret_lengths(env: dict[str, str]) -> list[str]:
    """Credentials the tools read that are too short to be tokens: a placeholder or a typo, and a
    value that short could not be masked in output without masking ordinary words too."""
    from homelab.clients.masking import MIN_TOKEN_LEN, SECRET_ENV_VARS

    return [f"${name} is {len(env[name])} characters long, too short for a real token; set it to the token "
            f"itself (at least {MIN_TOKEN_LEN} characters) or unset it"
            for name in SECRET_ENV_VARS if 0 < len(env.get(name, "")) < MIN_TOKEN_LEN]


def example_values(pctx: "PipelineContext") -> list[Finding]:
    """The shipped example values still in homelab.yaml, as preflight errors: a lab built from them has a
    domain, SSH key, repository and secrets nobody owns."""
    from homelab.checks.rules.site import placeholder_findings
    from homelab.yamlio import load_located

    shown = pctx.config_path.name if pctx.config_path.resolve().parent == pctx.root.resolve() else str(pctx.config_path)
    doc, _ = load_located(pctx.config_path, display=shown)
    return [problem(f.file or shown, f"{f.message}: replace it before provisioning", line=f.line, hint=f.hint, rule=f.rule)
            for f in placeholder_findings(pctx.cfg, shown, doc.line_of)]


# The stages that need the Proxmox API, an SSH key for the hosts, and the Git remote Flux watches.
_PROXMOX_STAGES = {"template", "vms"}
_SSH_STAGES = {"hosts"}
_GIT_STAGES = {"bootstrap", "converge"}


def run_preflight(pctx: "PipelineContext", stages: list["Stage"]) -> None:
    from homelab.pipeline.runner import StageFailed

    names = [s.name for s in stages]
    needed = sorted({t for s in stages for t in s.tools}, key=list(MIN_VERSIONS).index)
    checks = _planned_checks(pctx, names, needed)
    # Checked in a dry run too: the example values are facts of homelab.yaml, not of this machine.
    # A dry run still lists everything else a real run would stop on first.
    example = example_values(pctx)
    if example and not pctx.runner.dry_run:
        raise StageFailed(example)
    if pctx.runner.dry_run:
        _say_dry_run(pctx, checks, names, needed)
        if example:
            raise StageFailed(example)
        return
    problems = _problems(pctx, names, needed)
    for c in checks:
        pctx.runner.log(f"checked: {c}")
    if problems:
        raise StageFailed([problem("preflight", pctx.runner.mask(p), rule=r.id) for r, p in problems])
    pctx.runner.say(f"preflight: {len(checks)} checks passed", "green")


def _planned_checks(pctx: "PipelineContext", names: list[str], needed: list[str]) -> list[str]:
    """What preflight checks for these stages, one line each (said in a dry run, logged in a real one)."""
    from homelab.pipeline import environment

    variables = environment.needed(names, pctx.cfg)
    checks = [f"tools at supported versions: {', '.join(needed) or 'none'}"]
    if variables:
        checks.append(f"set in the environment: {', '.join('$' + v.name for v in variables)}")
    if _PROXMOX_STAGES & set(names):
        checks.append("the Proxmox API answers with the token in $PROXMOX_VE_API_TOKEN, and every host is online")
    if _SSH_STAGES & set(names):
        checks.append("an SSH key for the admin user")
    if _GIT_STAGES & set(names):
        checks.append(f"{pctx.cfg.flux.repository} branch {pctx.cfg.flux.branch} has the current commit")
    return checks


def _say_dry_run(pctx: "PipelineContext", checks: list[str], names: list[str], needed: list[str]) -> None:
    r = pctx.runner
    for c in checks:
        r.say(f"would check: {c}")
    for name in needed:  # the read-only commands behind those checks
        minimum, args = MIN_VERSIONS[name]
        r.say(f"$ {r.mask.argv([name, *args])}   # {minimum} or newer")
    if _GIT_STAGES & set(names):
        flux = pctx.cfg.flux
        r.say(f"$ {r.mask.argv(['git', 'ls-remote', flux.repository, f'refs/heads/{flux.branch}'])}")
    say_gaps(r, names, needed)


def _problems(pctx: "PipelineContext", names: list[str], needed: list[str]) -> list[tuple[Rule, str]]:
    """Every problem a real run would stop on, each with the rule it breaks."""
    from homelab.pipeline import environment

    problems = [(TOOLS, p) for p in check_tools(needed)]
    problems += [(SHORT_SECRET, p) for p in check_secret_lengths(pctx.runner.env)]
    unset = environment.missing(names, pctx.cfg, pctx.runner.env)
    problems += [(ENVIRONMENT, f"${v.name} is not set; {v.reads}") for v in unset]
    if _PROXMOX_STAGES & set(names) and environment.BY_NAME["PROXMOX_VE_API_TOKEN"] not in unset:
        problems += [(PROXMOX, p) for p in check_proxmox(pctx)]
    if _SSH_STAGES & set(names):
        problems += [(SSH_KEY, p) for p in check_ssh_key(pctx)]
    if _GIT_STAGES & set(names):
        problems += [(GIT_REMOTE, p) for p in check_git_remote(pctx)]
    return problems
