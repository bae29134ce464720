"""Helpers shared by the rule modules: message rendering, references, AZ counting, parsing.

"Protected stack" (prod-ness): a stack is protected when any resource in it has the `protect`
option, or any resource or provider carries an `environment`/`env`/`stage` tag of `prod` or
`production` (see `is_protected_stack`). Only the deletion-protection rules depend on it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from policies.model import (
    DocumentError,
    Resource,
    Stack,
    as_list,
    is_unknown,
    lower,
    parse_document,
    tags_of,
)
from policies.rules.types import SUBNET


def quote(value: Any) -> str:
    """Render a property value for a message."""
    if value is None:
        return "not set"
    return f"'{value}'" if isinstance(value, str) else json.dumps(value, default=repr)


def is_protected_stack(resources: Sequence[Resource] | Stack) -> bool:
    """True when the stack is production-like (see the module docstring)."""
    items = resources.resources if isinstance(resources, Stack) else resources
    for r in items:
        if r.options.protect:
            return True
        for key, value in tags_of(r).items():
            if (
                isinstance(key, str)
                and key.lower() in ("environment", "env", "stage")
                and lower(value) in ("prod", "production")
            ):
                return True
    return False


def children(stack: Stack, parent: Resource, types: Sequence[str], prop: str) -> list[Resource]:
    """Resources of `types` whose property `prop` refers to `parent`."""
    return stack.referencing(parent, stack.of(*types), prop)


def as_int(value: Any) -> int | None:
    """`value` as an int when it is a number or a numeric string, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    return None


def distinct_azs(stack: Stack, owner: Resource, prop: str, subnet_ids: Any) -> int | None:
    """Number of distinct AZs behind `subnet_ids`, or None when it cannot be judged.

    Subnets found in the stack count by their `availabilityZone`/`availabilityZoneId`; ids of
    subnets outside the stack count one AZ each.
    """
    if is_unknown(subnet_ids):
        return None
    zones: set[str] = set()
    for sid in as_list(subnet_ids):
        if is_unknown(sid):
            return None
        subnets = stack.refers(owner, prop, sid, stack.of(SUBNET)) if isinstance(sid, str) else []
        if len(subnets) == 1:
            az = subnets[0].props.get("availabilityZone")
            if az is None:
                az = subnets[0].props.get("availabilityZoneId")
            if is_unknown(az):
                return None
            zones.add(az if isinstance(az, str) else f"subnet:{sid}")
        else:
            zones.add(f"subnet:{sid}")
    return len(zones)


def parsed_or_none(raw: Any) -> dict[str, Any] | None:
    """The parsed document, or None when absent, unknown or invalid (see iam-policy-json)."""
    try:
        return parse_document(raw)
    except DocumentError:
        return None
