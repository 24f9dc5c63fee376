"""The rule registry, under the name check rules import it by (`from homelab.checks.registry import rule`).

The table itself lives in `homelab.registry`, a leaf module, so config, plan, drills and the
pipeline register their ids without importing the checks.
"""

from homelab.registry import (
    MODULES,
    RULE_FAILED,
    RULES,
    WAIVER_REASON_MISSING,
    Rule,
    all_ids,
    all_rules,
    check_rules,
    declare,
    expand,
    finding,
    get,
    matches,
    rule,
    selected,
)

__all__ = ["MODULES", "RULES", "RULE_FAILED", "Rule", "WAIVER_REASON_MISSING", "all_ids", "all_rules", "check_rules",
           "declare", "expand", "finding", "get", "matches", "rule", "selected"]
