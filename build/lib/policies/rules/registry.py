"""The rule registry: `Rule`, the `rule` decorator that registers a rule body, `Finding`.

A rule body is a generator of findings over a `Stack`; `rule` turns it into the public rule
function `(resources) -> list[Violation]` and records it. `policies.rules` builds `RULES` and
`RULES_BY_ID` from what the rule modules registered, in report order (`in_order`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from policies.model import Enforcement, Resource, Stack, Violation

Finding = tuple[Resource | None, str, str]
"""What a rule body yields: the resource (None for the stack), the message, how to fix it."""


@dataclass(frozen=True)
class Rule:
    """A registered rule: id, one-line description, enforcement level, the rule function."""

    id: str
    description: str
    enforcement: Enforcement
    function: Callable[[Sequence[Resource] | Stack], list[Violation]]


_REGISTRY: list[Rule] = []


def rule(
    rule_id: str, description: str, enforcement: Enforcement = "mandatory"
) -> Callable[
    [Callable[[Stack], Iterable[Finding]]], Callable[[Sequence[Resource] | Stack], list[Violation]]
]:
    """Register a rule body (a generator of findings over a `Stack`) under `rule_id`.

    The decorated name becomes the public rule function: it takes the resources (or a `Stack`)
    and returns `Violation`s carrying the rule's id and enforcement level.
    """
    if any(r.id == rule_id for r in _REGISTRY):
        raise ValueError(f"rule id {rule_id!r} registered twice")

    def decorate(
        body: Callable[[Stack], Iterable[Finding]],
    ) -> Callable[[Sequence[Resource] | Stack], list[Violation]]:
        @functools.wraps(body)
        def run(resources: Sequence[Resource] | Stack) -> list[Violation]:
            stack = resources if isinstance(resources, Stack) else Stack(resources)
            violations: list[Violation] = []
            for resource, message, how_to_fix in body(stack):
                urn, rtype = (
                    (stack.stack_urn(), "pulumi:pulumi:Stack")
                    if resource is None
                    else (resource.urn, resource.type)
                )
                violations.append(Violation(urn, rtype, rule_id, message, how_to_fix, enforcement))
            return violations

        _REGISTRY.append(Rule(rule_id, description, enforcement, run))
        return run

    return decorate


def in_order(rule_ids: Sequence[str]) -> tuple[Rule, ...]:
    """The registered rules in the order of `rule_ids`, which must name every registered rule
    exactly once (a rule added to a module but not to the order, or the reverse, is an error
    at import, not a rule that silently never runs)."""
    by_id = {r.id: r for r in _REGISTRY}
    unknown = [i for i in rule_ids if i not in by_id]
    unordered = [r.id for r in _REGISTRY if r.id not in rule_ids]
    repeated = sorted({i for i in rule_ids if list(rule_ids).count(i) > 1})
    if unknown or unordered or repeated:
        raise RuntimeError(
            f"rule order out of date: unknown {unknown}, not ordered "
            f"{unordered}, repeated {repeated}"
        )
    return tuple(by_id[i] for i in rule_ids)
