"""Adapter from Pulumi CrossGuard to the plain rules.

`policies/__main__.py` builds the `PolicyPack` from `build_policies()`. Importing this module
does not start the policy server (only constructing a `PolicyPack` does), so tests exercise the
adapter with hand-made `PolicyResource` objects.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
)

from policies.check import apply_exceptions
from policies.model import UNKNOWN, Options, Resource, Stack
from policies.rules import EXCEPTIONS, RULES, PolicyException, Rule

PACK_NAME = "mlops-platform-baseline"

_UNKNOWN_SENTINELS = frozenset(
    {
        UNKNOWN_ARCHIVE_VALUE,
        UNKNOWN_ARRAY_VALUE,
        UNKNOWN_ASSET_VALUE,
        UNKNOWN_BOOLEAN_VALUE,
        UNKNOWN_NUMBER_VALUE,
        UNKNOWN_OBJECT_VALUE,
        UNKNOWN_STRING_VALUE,
    }
)

_ENFORCEMENT = {"mandatory": EnforcementLevel.MANDATORY, "advisory": EnforcementLevel.ADVISORY}


def _unwrap(value: Any) -> Any:
    """The raw value behind CrossGuard's unknown-checking proxies."""
    if isinstance(value, Mapping) or (isinstance(value, Sequence) and not isinstance(value, str)):
        try:
            return value["__target"]  # type: ignore[call-overload]
        except (KeyError, TypeError, IndexError):
            return value
    return value


def plain(value: Any) -> Any:
    """Convert CrossGuard property values to plain dicts/lists; unknown sentinels -> UNKNOWN."""
    value = _unwrap(value)
    if isinstance(value, str):
        return UNKNOWN if value in _UNKNOWN_SENTINELS else value
    if isinstance(value, Mapping):
        return {k: plain(value[k]) for k in value}
    if isinstance(value, Sequence):
        return [plain(item) for item in value]
    return value


def to_resource(resource: PolicyResource) -> Resource:
    """Convert one CrossGuard `PolicyResource` to the neutral `Resource`.

    The region is the resource's own `region` property (pulumi-aws 7) or its provider's.
    """
    props = plain(resource.props)
    props = props if isinstance(props, dict) else {}
    provider = resource.provider
    provider_props = plain(provider.props) if provider is not None else {}
    region = props.get("region")
    if not isinstance(region, str):
        region = provider_props.get("region") if isinstance(provider_props, dict) else None
    opts = resource.opts
    parent = resource.parent.urn if resource.parent is not None else getattr(opts, "parent", None)
    rid = props.get("id")
    return Resource(
        urn=resource.urn,
        type=resource.resource_type,
        name=resource.name,
        props=props,
        region=region if isinstance(region, str) else None,
        options=Options(
            protect=bool(opts.protect),
            ignore_changes=tuple(opts.ignore_changes or ()),
            delete_before_replace=bool(opts.delete_before_replace),
        ),
        parent=parent,
        provider=provider.urn if provider is not None else None,
        dependencies=tuple(d.urn for d in resource.dependencies),
        id=rid if isinstance(rid, str) else None,
        property_dependencies={
            k: tuple(d.urn for d in v) for k, v in (resource.property_dependencies or {}).items()
        },
    )


def validator(
    rule: Rule, exceptions: Sequence[PolicyException] = EXCEPTIONS
) -> Callable[[StackValidationArgs, ReportViolation], None]:
    """A CrossGuard stack validation running `rule` and reporting what the exceptions leave.

    Each violation is reported against its resource URN (or the stack when it has none) with
    the message and how to fix it.
    """

    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        stack = Stack(to_resource(r) for r in args.resources)
        remaining, _ = apply_exceptions(rule.function(stack), stack, exceptions)
        for v in remaining:
            report_violation(f"{v.message}\nFix: {v.how_to_fix}", v.urn or None)

    return validate


def build_policies(
    rules: Sequence[Rule] = RULES, exceptions: Sequence[PolicyException] = EXCEPTIONS
) -> list[StackValidationPolicy]:
    """One `StackValidationPolicy` per rule, named by rule id, with the rule's enforcement."""
    return [
        StackValidationPolicy(
            name=r.id,
            description=r.description,
            validate=validator(r, exceptions),
            enforcement_level=_ENFORCEMENT[r.enforcement],
        )
        for r in rules
    ]
