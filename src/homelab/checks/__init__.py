"""`homelab check`: named rules over the repository, the Flux tree and homelab.yaml.

    from homelab.checks import run_checks, Options
    report = run_checks(root, cfg, select=["flux"], options=Options(schemas=Path(...)))
    report.findings, report.waived, report.notes, report.exit_code
"""

from homelab.checks.context import CheckContext, Options
from homelab.checks.registry import RULES, Rule, all_ids, rule
from homelab.checks.runner import Report, run_checks

__all__ = ["CheckContext", "Options", "RULES", "Report", "Rule", "all_ids", "rule", "run_checks"]
