"""Run the policy rules over the offline plan: what `python -m stacks check <stack>` calls.

resources = load_plan("build/dev.plan.json")   # or the plan dict itself
result = check(resources)
print(format_report(result))
sys.exit(result.exit_code)                     # 1 when any mandatory violation remains
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from policies.model import STACK_TYPE, Options, Resource, Stack, Violation
from policies.rules import EXCEPTIONS, RULES, PolicyException, Rule

PLAN_FORMAT: Final = "mlops-plan/1"


class PlanError(ValueError):
    """The plan cannot be read; `problems` lists every problem, each naming its key."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"cannot read plan {source}:\n{lines}")


@dataclass(frozen=True)
class Exemption:
    """A violation waived by a recorded exception."""

    violation: Violation
    exception: str
    reason: str


@dataclass(frozen=True)
class CheckResult:
    """Outcome of `check`: remaining violations, exemptions and what was checked."""

    violations: tuple[Violation, ...]
    exemptions: tuple[Exemption, ...]
    resource_count: int
    rule_descriptions: Mapping[str, str] = field(default_factory=dict)
    counted: str = ""
    """What `resource_count` counts, in the plan summary's words ("448 resources (384 AWS
    resources, 62 components, 2 providers)"), when the caller knows (`python -m stacks check`
    sets it from the offline plan, which records which resources are components); the
    report then prints it instead of the bare count."""

    @property
    def mandatory(self) -> tuple[Violation, ...]:
        """Violations that block a deployment."""
        return tuple(v for v in self.violations if v.enforcement == "mandatory")

    @property
    def advisory(self) -> tuple[Violation, ...]:
        """Violations that are reported but do not block."""
        return tuple(v for v in self.violations if v.enforcement != "mandatory")

    @property
    def passed(self) -> bool:
        """True when no mandatory violation remains."""
        return not self.mandatory

    @property
    def exit_code(self) -> int:
        """0 when passed, 1 otherwise."""
        return 0 if self.passed else 1


# ---------------------------------------------------------------------------------------------
# Loading the plan.


def _check_type(
    problems: list[str],
    where: str,
    value: Any,
    expected: type | tuple[type, ...],
    what: str,
    *,
    optional: bool = False,
) -> None:
    """Record a problem when `value` is not of `expected` type."""
    if value is None and optional:
        return
    if not isinstance(value, expected):
        problems.append(f"{where}: expected {what}, got {json.dumps(value)[:80]}")


def _resource_from_plan(index: int, raw: Any, problems: list[str]) -> Resource | None:
    """Convert one plan resource; record problems (named by key) and return None when bad."""
    where = f"resources[{index}]"
    if not isinstance(raw, Mapping):
        problems.append(f"{where}: expected an object, got {type(raw).__name__}")
        return None
    before = len(problems)
    for key in ("urn", "type", "name"):
        value = raw.get(key)
        if not isinstance(value, str) or not value:
            problems.append(
                f"{where}.{key}: expected a non-empty string, got {json.dumps(value)[:80]}"
            )
    for key in ("id", "region", "provider", "parent"):
        _check_type(
            problems, f"{where}.{key}", raw.get(key), str, "a string or null", optional=True
        )
    _check_type(problems, f"{where}.inputs", raw.get("inputs", {}), Mapping, "an object")
    deps = raw.get("dependencies", [])
    if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
        problems.append(f"{where}.dependencies: expected a list of URN strings")
    options = raw.get("options", {})
    if not isinstance(options, Mapping):
        problems.append(f"{where}.options: expected an object")
        options = {}
    for key in ("protect", "retainOnDelete", "deleteBeforeReplace"):
        _check_type(
            problems,
            f"{where}.options.{key}",
            options.get(key),
            bool,
            "true or false",
            optional=True,
        )
    ignore = options.get("ignoreChanges", [])
    if not isinstance(ignore, list) or not all(isinstance(i, str) for i in ignore):
        problems.append(f"{where}.options.ignoreChanges: expected a list of strings")
    if len(problems) > before:
        return None
    return Resource(
        urn=raw["urn"],
        type=raw["type"],
        name=raw["name"],
        props=dict(raw.get("inputs") or {}),
        region=raw.get("region"),
        parent=raw.get("parent"),
        provider=raw.get("provider"),
        dependencies=tuple(deps),
        id=raw.get("id"),
        options=Options(
            protect=bool(options.get("protect", False)),
            ignore_changes=tuple(ignore),
            retain_on_delete=bool(options.get("retainOnDelete", False)),
            delete_before_replace=bool(options.get("deleteBeforeReplace", False)),
        ),
    )


def _read(source: str | os.PathLike[str]) -> tuple[str, Any]:
    """Read and parse a plan file; PlanError when missing or not JSON."""
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlanError(
            str(path), ["file not found; write it with `python -m stacks plan <stack> --out FILE`"]
        ) from None
    except OSError as exc:
        raise PlanError(str(path), [f"cannot read the file: {exc.strerror}"]) from None
    try:
        return str(path), json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanError(
            str(path), [f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"]
        ) from None


def load_plan(source: str | os.PathLike[str] | Mapping[str, Any]) -> list[Resource]:
    """Read an offline plan (a file path or the parsed dict) into neutral `Resource`s.

    Raises PlanError listing every problem, each naming its key (`resources[3].type`).
    """
    name, plan = ("<plan>", source) if isinstance(source, Mapping) else _read(source)
    if not isinstance(plan, Mapping):
        raise PlanError(
            name, [f"expected a JSON object at the top level, got {type(plan).__name__}"]
        )
    problems: list[str] = []
    if plan.get("format") != PLAN_FORMAT:
        problems.append(f"format: expected {PLAN_FORMAT!r}, got {json.dumps(plan.get('format'))}")
    raw_resources = plan.get("resources")
    if not isinstance(raw_resources, list):
        problems.append("resources: expected a list of resources")
        raise PlanError(name, problems)
    resources: list[Resource] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(raw_resources):
        res = _resource_from_plan(i, raw, problems)
        if res is None:
            continue
        if res.urn in seen:
            problems.append(
                f"resources[{i}].urn: duplicate of resources[{seen[res.urn]}] ({res.urn})"
            )
        seen[res.urn] = i
        resources.append(res)
    if problems:
        raise PlanError(name, problems)
    return resources


# ---------------------------------------------------------------------------------------------
# Checking.


def _source_of(rule: Rule) -> str:
    """The file defining the rule's function (`policies/rules/network.py`), for messages."""
    module = getattr(rule.function, "__module__", None) or "policies.rules"
    return module.replace(".", "/") + ".py"


def _run_rule(rule: Rule, stack: Stack) -> list[Violation]:
    """Run one rule; a crash becomes a mandatory violation naming the rule (no traceback)."""
    try:
        return rule.function(stack)
    except Exception as exc:  # noqa: BLE001 - reported as a violation, never swallowed
        return [
            Violation(
                stack.stack_urn(),
                STACK_TYPE,
                rule.id,
                f"the rule failed on this plan: {type(exc).__name__}: {exc}",
                f"This is a bug in {_source_of(rule)}; report it with the plan file.",
                "mandatory",
            )
        ]


def apply_exceptions(
    violations: Sequence[Violation], stack: Stack, exceptions: Sequence[PolicyException]
) -> tuple[list[Violation], list[Exemption]]:
    """Split violations into those that stand and those a recorded exception waives."""
    remaining: list[Violation] = []
    exempt: list[Exemption] = []
    for v in violations:
        resource = stack.by_urn.get(v.urn)
        match = next(
            (
                e
                for e in exceptions
                if e.rule == v.rule and resource is not None and e.applies(resource, stack)
            ),
            None,
        )
        if match is None:
            remaining.append(v)
        else:
            exempt.append(Exemption(v, match.name, match.reason))
    return remaining, exempt


def check(
    resources: Sequence[Resource],
    *,
    rules: Sequence[Rule] = RULES,
    exceptions: Sequence[PolicyException] = EXCEPTIONS,
) -> CheckResult:
    """Run every rule over the resources and apply the recorded exceptions."""
    stack = Stack(resources)
    found: list[Violation] = []
    for rule in rules:
        found.extend(_run_rule(rule, stack))
    remaining, exempt = apply_exceptions(found, stack, exceptions)
    order = {"mandatory": 0, "advisory": 1}

    def key(v: Violation) -> tuple[int, str, str, str]:
        return (order.get(v.enforcement, 2), v.rule, v.urn, v.message)

    return CheckResult(
        violations=tuple(sorted(remaining, key=key)),
        exemptions=tuple(sorted(exempt, key=lambda e: key(e.violation))),
        resource_count=len(stack.resources),
        rule_descriptions={r.id: r.description for r in rules},
    )


def format_report(result: CheckResult) -> str:
    """Human-readable report: a summary line, each violation (resource, rule, problem, fix),
    then the exemptions with their reasons."""
    status = "PASSED" if result.passed else "FAILED"
    lines = [
        f"policy check {status}: {len(result.mandatory)} mandatory and "
        f"{len(result.advisory)} advisory violation(s), {len(result.exemptions)} "
        f"exemption(s); {result.counted or f'{result.resource_count} resources'}, "
        f"{len(result.rule_descriptions)} rules"
    ]
    for v in result.violations:
        description = result.rule_descriptions.get(v.rule, "")
        lines += [
            "",
            f"[{v.enforcement}] {v.rule}" + (f": {description}" if description else ""),
            f"  resource: {v.urn or '(stack)'} ({v.type})",
            f"  problem:  {v.message}",
            f"  fix:      {v.how_to_fix}",
        ]
    if result.exemptions:
        lines += ["", "exemptions (recorded in policies/rules/exceptions.py EXCEPTIONS):"]
        for e in result.exemptions:
            lines += [
                f"  [{e.violation.rule}] {e.violation.urn} ({e.violation.type})",
                f"    waived by {e.exception}: {e.reason}",
                f"    would have been: {e.violation.message}",
            ]
    return "\n".join(lines) + "\n"
