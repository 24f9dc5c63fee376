"""terraform/*, packer/*, hcl/*: the hand-written HCL and the rendered glue agree (`homelab.hclvars`)."""

from __future__ import annotations

from collections.abc import Iterator

from homelab import hclvars
from homelab.checks.context import CheckContext
from homelab.checks.registry import RULES, rule
from homelab.findings import Finding

_OTHERS = ("terraform/unset-variable", "terraform/undeclared-reference", "terraform/node-without-placement",
           "packer/undeclared-variable", "packer/unset-variable", "packer/undeclared-reference", "hcl/parse-error")


@rule("terraform/undeclared-variable", RULES["terraform/undeclared-variable"].summary, needs_tree=False,
      also={i: RULES[i].summary for i in _OTHERS})
def hcl_cross_checks(ctx: CheckContext) -> Iterator[Finding]:
    """Variables set by the rendered glue, declared in the HCL and referenced as var.x agree.

    Terraform only warns about a tfvars key without a variable, and `terraform validate` needs the
    provider; these read the files alone. A folder the repository does not have is not checked.
    """
    if any((ctx.root / hclvars.TERRAFORM_DIR).glob("*.tf")):
        yield from hclvars.check_terraform(ctx.root)
    if any((ctx.root / hclvars.PACKER_DIR).glob("*.pkr.hcl")):
        yield from hclvars.check_packer(ctx.root)
