"""The diff as JSON, for tools (``--format json``). The shape is documented in the README.

Values are complete (never shortened); secrets stay masked. A side with no value (a key added
or removed) has no ``old`` / ``new`` key at all, so ``null`` always means a recorded null.
"""

from __future__ import annotations

import json
from typing import Any, Final

from stacks.plan_diff.model import PlanDiff, ResourceChange
from stacks.plan_diff.values import ABSENT, ValueChange

DIFF_FORMAT: Final = "mlops-plan-diff/1"


def _value(change: ValueChange) -> dict[str, Any]:
    out: dict[str, Any] = {"path": change.path}
    if change.old is not ABSENT:
        out["old"] = change.old
    if change.new is not ABSENT:
        out["new"] = change.new
    if change.note and change.note != "text":
        out["note"] = change.note
    if change.note == "text":
        out["lines"] = list(change.lines)
        out["moreLines"] = change.more_lines
    return out


def _resource(change: ResourceChange) -> dict[str, Any]:
    out: dict[str, Any] = {
        "action": change.action,
        "urn": change.urn,
        "type": change.type,
        "name": change.name,
        "region": change.region,
        "capability": change.capability,
        "protected": change.protected,
        "retainOnDelete": change.retained,
    }
    if change.verdict is not None:
        out["replacement"] = {
            "verdict": change.verdict.kind,
            "because": list(change.verdict.because),
            "source": change.verdict.source,
        }
        out["changes"] = [_value(c) for c in change.changes]
        out["optionChanges"] = [_value(c) for c in change.option_changes]
        out["ignored"] = change.ignored
    if change.alert is not None:
        out["warning"] = {"kind": change.alert.kind, "message": change.alert.message}
    return out


def to_document(diff: PlanDiff) -> dict[str, Any]:
    return {
        "format": DIFF_FORMAT,
        "oldStack": diff.old_stack,
        "newStack": diff.new_stack,
        "equal": diff.equal,
        "counts": diff.counts(),
        "regions": [
            {"region": region, "primary": region == diff.primary, "counts": diff.counts(region)}
            for region in diff.regions
        ],
        "warnings": [
            {
                "urn": c.urn,
                "action": c.alert.action,
                "kind": c.alert.kind,
                "message": c.alert.message,
            }
            for c in diff.alerts
            if c.alert is not None
        ],
        "resources": [_resource(c) for c in diff.resources],
        "dependencyOnly": diff.dependency_only,
    }


def render_json(diff: PlanDiff) -> str:
    return json.dumps(to_document(diff), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
