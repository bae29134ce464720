"""Which input changes make the engine replace a resource instead of updating it.

pulumi_aws is bridged from the Terraform AWS provider and ships no schema with the Python
package, so whether a property "forces new resource" is not knowable from anything installed
at runtime. This is the maintained table for the resource types this platform's plans contain.
Each entry lists, in Pulumi's property names:

* ``replace``: properties whose change replaces the resource (Terraform ``ForceNew`` /
  ``RequiresReplace``);
* ``may_replace``: properties where the provider decides by the values (``CustomizeDiff``);
* ``in_place``: properties known to update in place. ``None`` means the whole top-level schema
  was checked, so every property not in the two lists above updates in place.

A changed property that is in none of the lists is reported as "replacement not known", never
guessed. A change to an AWS resource's per-resource ``region`` (every regional resource has one
since provider v6) replaces it whatever the entry says (``REGION_SOURCE``). Sources: the
Terraform provider source file the entry was read from (``TF``), and AWS's own immutability
data, the CloudFormation resource schemas' ``createOnlyProperties`` ("can only be set at
creation; changing them replaces the resource"), which ``tests/test_plan_diff_replacement.py``
checks every entry against where a CloudFormation type exists (the schemas ship with cfn-lint,
which the test dependencies install). Where the two disagree the entry says so (``cfn_differs``)
and the provider's behaviour wins, because the provider is what runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from stacks.plan_diff.replace_table import (
    ALWAYS_IN_PLACE,
    ALWAYS_IN_PLACE_SOURCE,
    REGION,
    REGION_SOURCE,
    RULES,
    TF,
    Rule,
)
from stacks.plan_diff.values import ABSENT, ValueChange, split_path

__all__ = ["REGION", "RULES", "TF", "Rule", "Verdict", "known", "verdict"]


# Verdicts ------------------------------------------------------------------------------------

REPLACE: Final = "replace"
MAY_REPLACE: Final = "may-replace"
IN_PLACE: Final = "in-place"
UNKNOWN: Final = "unknown"


@dataclass(frozen=True)
class Verdict:
    """How the engine would apply a resource's input changes, and why."""

    kind: str
    #: The changed properties that decide it (for UNKNOWN: those the table does not know).
    because: tuple[str, ...] = ()
    source: str = ""


def _matches(path: str, candidates: Iterable[str]) -> bool:
    keys = split_path(path)
    return any(keys[: len(c.split("."))] == c.split(".") for c in candidates)


def _regional(type_: str, path: str) -> bool:
    """A change to the per-resource Region of an AWS resource (not a provider's ``region``)."""
    return type_.startswith("aws:") and _matches(path, (REGION,))


def verdict(
    type_: str,
    changes: list[ValueChange],
    old_inputs: Mapping[str, Any],
    new_inputs: Mapping[str, Any],
) -> Verdict:
    """Replace, may replace, in place, or not known, for ``changes`` to a ``type_`` resource."""
    changes = [c for c in changes if not _matches(c.path, ALWAYS_IN_PLACE)]
    moved = [c for c in changes if _regional(type_, c.path)]
    if moved:
        # Between two Regions: replaced. From or to unset: replaced unless the other side is
        # the provider's Region, which the plan does not say.
        if all(c.old is not ABSENT and c.new is not ABSENT for c in moved):
            return Verdict(REPLACE, (REGION,), REGION_SOURCE)
        others = [c for c in changes if not _regional(type_, c.path)]
        rest = verdict(type_, others, old_inputs, new_inputs)
        if rest.kind == REPLACE:
            return rest
        return Verdict(MAY_REPLACE, (REGION,), REGION_SOURCE)
    if not changes:
        return Verdict(IN_PLACE, (), ALWAYS_IN_PLACE_SOURCE)
    rule = RULES.get(type_)
    if rule is None:
        return Verdict(UNKNOWN, tuple(sorted({c.top for c in changes})), "not in the table")
    forced = [c for c in changes if _matches(c.path, rule.replace)]
    extra = rule.check(old_inputs, new_inputs) if rule.check else None
    if extra:
        return Verdict(REPLACE, (extra,), rule.source)
    if forced:
        # An optional property removed from the inputs may keep the value the provider read
        # back (Optional+Computed), so removing it alone does not always replace.
        kind = MAY_REPLACE if all(c.new is ABSENT for c in forced) else REPLACE
        return Verdict(kind, tuple(sorted({c.path for c in forced})), rule.source)
    maybe = [c for c in changes if _matches(c.path, rule.may_replace)]
    if maybe:
        return Verdict(MAY_REPLACE, tuple(sorted({c.path for c in maybe})), rule.source)
    if rule.in_place is not None:
        unknown = [c for c in changes if not _matches(c.path, rule.in_place)]
        if unknown:
            paths = tuple(sorted({c.top for c in unknown}))
            return Verdict(UNKNOWN, paths, "not in the table's entry for " + type_)
    return Verdict(IN_PLACE, (), rule.source)


def known(type_: str, prop: str) -> bool:
    """Whether the table says what a change to the top-level input ``prop`` of a ``type_``
    resource does (anything else is reported as "replacement not known")."""
    if prop in ALWAYS_IN_PLACE or (prop == REGION and type_.startswith("aws:")):
        return True
    rule = RULES.get(type_)
    if rule is None:
        return False
    return rule.in_place is None or any(
        prop in group for group in (rule.replace, rule.may_replace, rule.in_place)
    )
