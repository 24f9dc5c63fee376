"""`homelab inventory`: write ansible/inventories/k3s-nodes.yml from Terraform's `k3s_nodes` output."""

from __future__ import annotations

from pathlib import Path

import click

from homelab import inventory as inv
from homelab import paths, tools
from homelab.context import Context, pass_ctx
from homelab.errors import HomelabError
from homelab.runlock import exclusive_run
from homelab.atomicfile import commit


def _terraform_output(tf_dir: Path) -> tuple[str, str]:
    """The text of `terraform output -json` in terraform/, and how to name it in errors."""
    res = tools.run(["terraform", f"-chdir={tf_dir}", "output", "-json", "-no-color"], timeout=120)
    if not res.ok:
        lines = [ln.strip("│ ").strip() for ln in res.stderr.splitlines()]
        first = next((ln for ln in lines if ln.startswith("Error:")), next((ln for ln in lines if ln), "no message"))
        raise HomelabError.single("terraform output", f"failed (exit {res.returncode}): {first}",
                                  hint=f"run `terraform init` and `terraform apply` in {tf_dir}")
    return res.stdout, f"`terraform output -json` in {tf_dir}"


@click.command("inventory")
@click.option("--from", "source", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
              help="Read this saved `terraform output -json` ('-' for stdin) instead of running Terraform in terraform/.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help=f"Write here instead of {inv.PATH} under the repository root.")
@pass_ctx
def command(ctx: Context, source: Path | None, output: Path | None) -> None:
    """Write the Ansible inventory of the K3s VMs from Terraform's `k3s_nodes` output.

    Hosts are ordered as in homelab.yaml; the first server gets `k3s_init: true`. Nothing is
    written unless the whole output is valid.
    """
    if source is None:
        text, name = _terraform_output(ctx.root / paths.TERRAFORM_DIR)
    elif str(source) == "-":
        text, name = click.get_text_stream("stdin").read(), "<stdin>"
    else:
        try:
            text, name = source.read_text(encoding="utf-8"), str(source)
        except OSError as exc:
            raise HomelabError.single(str(source), f"cannot read: {exc.strerror}",
                                      hint="save it with `terraform -chdir=terraform output -json > FILE`") from None
    nodes = inv.parse_output(text, name)
    ordered, pending = inv.order_nodes(nodes, [n.name for n in ctx.cfg.k3s.nodes], name)
    target = output if output is not None else ctx.root / inv.PATH
    with exclusive_run(ctx.root, "homelab inventory"):
        changed = commit({target.resolve(): inv.render_inventory(ordered)}, ctx.root)
    for missing in pending:
        click.echo(f"warning: {missing} is in homelab.yaml but not in the Terraform output (not applied yet); left out",
                   err=True)
    verb = "wrote" if changed else "unchanged:"
    click.echo(f"{verb} {target} ({len(ordered)} hosts)")
