"""Both stacks render byte-identical to the recorded plans in tests/golden/.

A refactor must not change what is deployed; a change that does updates the recorded plans in
the same commit (tests/golden/README.md), so the difference is reviewed as a diff.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stacks.graph import diff_plans
from stacks.offline import Plan

GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_plan_is_byte_identical_to_the_recorded_plan(stack: str, plans: dict[str, Plan]) -> None:
    recorded = (GOLDEN / f"plan-{stack}.json").read_text(encoding="utf-8")
    rendered = plans[stack].to_json()
    if rendered != recorded:
        changes = diff_plans(json.loads(recorded), json.loads(rendered)).render()
        pytest.fail(
            f"the {stack} plan differs from tests/golden/plan-{stack}.json "
            f"(regenerate it if the change is intended):\n{changes[:4000]}"
        )
