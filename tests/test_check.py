"""``check``: the policy pack over both real plans, and the command's exit codes."""

from __future__ import annotations

import copy
import os
import subprocess
import sys

import pytest

from policies.check import check, format_report, load_plan
from stacks.offline import PROJECT_DIR, Plan


def test_no_mandatory_violation_in_either_stack(stack_plan: Plan) -> None:
    result = check(load_plan(stack_plan.to_dict()))
    assert result.mandatory == (), format_report(result)


def test_exemptions_are_reported_with_their_reason(stack_plan: Plan) -> None:
    result = check(load_plan(stack_plan.to_dict()))
    report = format_report(result)
    for exemption in result.exemptions:
        assert exemption.reason.strip()
    assert "policy check" in report


def test_a_weakened_plan_fails(dev_plan: Plan) -> None:
    doc = copy.deepcopy(dev_plan.to_dict())
    for r in doc["resources"]:
        if r["type"] == "aws:kms/key:Key":
            r["inputs"]["enableKeyRotation"] = False
    result = check(load_plan(doc))
    assert result.exit_code != 0
    assert {v.rule for v in result.mandatory} == {"kms-key-rotation"}


@pytest.mark.subprocess
@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_check_command_exits_zero_on_the_real_stacks(stack: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_DIR)}
    result = subprocess.run(
        [sys.executable, "-m", "stacks", "check", stack],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
