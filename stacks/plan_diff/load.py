"""Reading a plan file for a diff: one clear message for anything that is not a usable plan.

``diff`` is often run on files a workflow produced from two different commits, so a file that
is not a plan (or is a plan from a broken program, truncated, hand-edited) must stop the diff
with a message that says which file and which entry is wrong, never with a ``KeyError``
traceback halfway through rendering.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: The format the offline engine writes (``stacks.offline.engine.PLAN_FORMAT``). Repeated here
#: so that reading a plan does not import the Pulumi SDK; a test keeps the two equal.
PLAN_FORMAT = "mlops-plan/1"

#: What every resource entry must carry for the diff to read it: key -> (types, description).
_ENTRY_SHAPE: dict[str, tuple[tuple[type, ...], str]] = {
    "urn": ((str,), "a string"),
    "type": ((str,), "a string"),
    "name": ((str,), "a string"),
    "custom": ((bool,), "true or false"),
    "region": ((str, type(None)), "a string or null"),
    "provider": ((str, type(None)), "a string or null"),
    "parent": ((str, type(None)), "a string or null"),
    "dependencies": ((list,), "a list of URNs"),
    "inputs": ((dict,), "an object"),
    "options": ((dict,), "an object"),
}


class PlanFileError(Exception):
    """A plan file is missing, unreadable or not an ``mlops-plan/1`` document."""


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "null" if value is None else type(value).__name__
    )


def _entry_problem(index: int, entry: Any) -> str | None:
    if not isinstance(entry, dict):
        return f"resources[{index}] must be an object, not {_kind(entry)}"
    for key, (types, wanted) in _ENTRY_SHAPE.items():
        if key not in entry:
            return f"resources[{index}] has no {key!r}"
        if not isinstance(entry[key], types):
            return f"resources[{index}].{key} must be {wanted}, not {_kind(entry[key])}"
    if not all(isinstance(d, str) for d in entry["dependencies"]):
        return f"resources[{index}].dependencies must be a list of URNs"
    return None


def validate_plan(data: Any, source: str) -> dict[str, Any]:
    """``data`` as a plan, or :class:`PlanFileError` naming the first problem and how many more."""
    if not isinstance(data, dict) or data.get("format") != PLAN_FORMAT:
        raise PlanFileError(
            f"{source} is not a plan file (expected format {PLAN_FORMAT!r}, as "
            "`python -m stacks plan <stack> --out FILE` writes it)"
        )
    for key in ("project", "stack"):
        if not isinstance(data.get(key), str):
            raise PlanFileError(f"{source}: {key!r} must be a string")
    if not isinstance(data.get("outputs", {}), dict):
        raise PlanFileError(f"{source}: 'outputs' must be an object")
    resources = data.get("resources")
    if not isinstance(resources, list):
        raise PlanFileError(f"{source}: 'resources' must be a list of resources")
    problems = [p for i, r in enumerate(resources) if (p := _entry_problem(i, r))]
    if problems:
        more = f" ({len(problems) - 1} more entries are malformed)" if len(problems) > 1 else ""
        raise PlanFileError(f"{source}: {problems[0]}{more}")
    seen: set[str] = set()
    for r in resources:
        if r["urn"] in seen:
            raise PlanFileError(f"{source}: the URN {r['urn']} appears twice")
        seen.add(r["urn"])
    return data


def load_plan_file(path: Path) -> dict[str, Any]:
    """The plan in ``path``; :class:`PlanFileError` with one message for anything else."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanFileError(f"cannot read {path}: {exc}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise PlanFileError(f"{path} is not JSON: {exc}") from None
    return validate_plan(data, str(path))
