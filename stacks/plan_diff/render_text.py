"""The plain-text diff: for a terminal and for the workflow artifact (nothing is left out)."""

from __future__ import annotations

from stacks.plan_diff import replacement as rp
from stacks.plan_diff.model import ADD, REMOVE, REPLACE, PlanDiff, ResourceChange
from stacks.plan_diff.values import ValueChange, show

_MARK = {ADD: "+", REMOVE: "-"}
VALUE_WIDTH = 200


def headline(diff: PlanDiff) -> str:
    counts = diff.counts()
    return f"{counts['added']} to add, {counts['changed']} to change, {counts['removed']} to remove"


def verdict_line(change: ResourceChange) -> str | None:
    """How the change is applied, in words; None for additions and removals."""
    verdict = change.verdict
    if verdict is None:
        return None
    because = ", ".join(verdict.because)
    if verdict.kind == rp.REPLACE:
        order = (
            "the old one is deleted first"
            if change.delete_before_replace
            else "the new one is created first"
        )
        return f"REPLACE: forced by {because}; {order} (source: {verdict.source})"
    if verdict.kind == rp.MAY_REPLACE:
        return f"MAY BE REPLACED: the provider decides on {because} (source: {verdict.source})"
    if verdict.kind == rp.UNKNOWN:
        return f"update (replacement not known for: {because})"
    if change.state_only:
        return "state only: resource options change, AWS is not called"
    return "update in place"


def value_lines(change: ValueChange, width: int = VALUE_WIDTH) -> list[str]:
    """``path: old -> new`` (with a note), then a text value's changed lines."""
    note = f" ({change.note})" if change.note and change.note != "text" else ""
    if change.note == "text":
        lines = [f"{change.path}: text changed:"]
        lines += [f"    {line}" for line in change.lines]
        if change.more_lines:
            lines.append(f"    ... {change.more_lines} more changed lines")
        return lines
    return [f"{change.path}: {show(change.old, width)} -> {show(change.new, width)}{note}"]


def _flags(change: ResourceChange) -> str:
    flags = [f for f, on in (("protected", change.protected), ("retained", change.retained)) if on]
    return f"  [{', '.join(flags)}]" if flags else ""


def resource_lines(change: ResourceChange) -> list[str]:
    mark = _MARK.get(change.action, "~")
    lines = [f"{mark} {change.urn}{_flags(change) if change.action == REMOVE else ''}"]
    if change.action in (ADD, REMOVE):
        return lines
    lines.append(f"    changed: {', '.join(change.keys)}")
    verdict = verdict_line(change)
    if verdict:
        lines.append(f"    {verdict}")
    for value in [*change.changes, *change.option_changes]:
        lines += [f"    {line}" for line in value_lines(value)]
    if change.ignored:
        lines.append(f"    not applied (ignoreChanges): {', '.join(change.ignored)}")
    return lines


def alert_lines(diff: PlanDiff) -> list[str]:
    alerts = diff.alerts
    if not alerts:
        return []
    lines = [
        f"WARNING: {len(alerts)} protected, retained or stateful resource(s) would be "
        "removed or replaced, or lose protection:"
    ]
    for change in alerts:
        assert change.alert is not None
        what = change.alert.action.upper()
        lines.append(
            f"  !! {what} {change.type} {change.name} ({change.region}, {change.capability})"
        )
        lines.append(f"       {change.alert.message}")
    return lines


def group_title(capability: str, changes: list[ResourceChange]) -> str:
    counts = {
        "added": sum(c.action == ADD for c in changes),
        "changed": sum(c.action not in (ADD, REMOVE) for c in changes),
        "replaced": sum(c.action == REPLACE for c in changes),
        "removed": sum(c.action == REMOVE for c in changes),
    }
    replaced = f" ({counts['replaced']} replaced)" if counts["replaced"] else ""
    return (
        f"{capability}: {counts['added']} added, {counts['changed']} changed{replaced}, "
        f"{counts['removed']} removed"
    )


def region_title(diff: PlanDiff, region: str) -> str:
    return f"{region} (primary)" if region == diff.primary else region


def render_text(diff: PlanDiff) -> str:
    if diff.equal:
        lines = ["No differences."]
        if diff.dependency_only:
            lines.append(_dependency_note(diff))
        return "\n".join(lines) + "\n"
    counts = diff.counts()
    lines = [headline(diff)]
    if counts["replaced"]:
        lines.append(
            f"{counts['replaced']} of the changes replace their resource (delete and create)."
        )
    if diff.old_stack != diff.new_stack:
        lines.append(
            f"Comparing stack {diff.old_stack} with stack {diff.new_stack}: resources are "
            "matched by URN without the stack name."
        )
    alerts = alert_lines(diff)
    if alerts:
        lines += ["", *alerts]
    current_region = None
    for region, capability, changes in diff.groups():
        if region != current_region:
            lines += ["", f"== {region_title(diff, region)}"]
            current_region = region
        lines += ["", f"-- {group_title(capability, changes)}"]
        for change in changes:
            lines += resource_lines(change)
    if diff.dependency_only:
        lines += ["", _dependency_note(diff)]
    return "\n".join(lines) + "\n"


def _dependency_note(diff: PlanDiff) -> str:
    return (
        f"{len(diff.dependency_only)} resource(s) changed only their dependencies or parent; "
        "the engine does not act on that, so they are not counted."
    )
