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
guessed. Sources: the Terraform provider source file the entry was read from (``TF``), and
AWS's own immutability data, the CloudFormation resource schemas' ``createOnlyProperties``
("can only be set at creation; changing them replaces the resource"), which
``tests/test_plan_diff_replacement.py`` checks every entry against where a CloudFormation type
exists (the schemas ship with cfn-lint, which the test dependencies install). Where the two
disagree the entry says so (``cfn_differs``) and the provider's behaviour wins, because the
provider is what runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from stacks.plan_diff.replace_table import ALWAYS_IN_PLACE, ALWAYS_IN_PLACE_SOURCE, RULES, TF, Rule
from stacks.plan_diff.values import ABSENT, ValueChange, split_path

__all__ = ["RULES", "TF", "Rule", "Verdict", "verdict"]


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


def verdict(
    type_: str,
    changes: list[ValueChange],
    old_inputs: Mapping[str, Any],
    new_inputs: Mapping[str, Any],
) -> Verdict:
    """Replace, may replace, in place, or not known, for ``changes`` to a ``type_`` resource."""
    changes = [c for c in changes if not _matches(c.path, ALWAYS_IN_PLACE)]
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
