"""Security baseline policy pack.

The rules are plain functions (`policies.rules`) over a neutral model (`policies.model`), run
offline over the recorded plan (`policies.check`) and inside Pulumi CrossGuard
(`policies.crossguard`, served by `policies/__main__.py`). Importing this package never
imports `pulumi_policy` nor starts the policy server.

The offline check is used as `from policies.check import load_plan, check, format_report`
(not re-exported here, so `policies.check` stays the module).
"""

from policies.model import UNKNOWN, Options, Resource, Stack, Violation
from policies.rules import (
    CIS_METRIC_FILTERS,
    EXCEPTIONS,
    LAMBDA_RUNTIME_DEPRECATION,
    RESOURCE_STAR_ALLOWED,
    RULES,
    RULES_BY_ID,
    PolicyException,
    Rule,
    is_protected_stack,
)

__all__ = [
    "CIS_METRIC_FILTERS",
    "EXCEPTIONS",
    "LAMBDA_RUNTIME_DEPRECATION",
    "RESOURCE_STAR_ALLOWED",
    "RULES",
    "RULES_BY_ID",
    "UNKNOWN",
    "Options",
    "PolicyException",
    "Resource",
    "Rule",
    "Stack",
    "Violation",
    "is_protected_stack",
]
