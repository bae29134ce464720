"""``check``: the policy pack over both real plans, and the command's exit codes."""

from __future__ import annotations

import copy
import json

import pytest

from policies.check import check, format_report, load_plan
from stacks.offline import Plan


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


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_check_command_exits_zero_on_the_real_stacks(
    stack: str, plans: dict[str, Plan], shared_render, capsys: pytest.CaptureFixture[str]
) -> None:
    """``check <stack>`` in-process on the session's render (conftest ``shared_render``); the
    command as a process (exit code 2, no traceback) is tests/test_cli.py's namespace typo."""
    from stacks.cli import check_plan, main

    assert main(["check", stack]) == 0
    out, err = capsys.readouterr()
    assert out == format_report(check_plan(plans[stack])) and "policy check" in out
    assert err == ""


def test_check_reads_a_plan_file_instead_of_rendering_again(
    dev_plan: Plan, tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The PR check renders once (`plan --out`) and checks that file: same report, same exit;
    a weakened file fails; a file of another stack or no plan at all is bad input (2)."""
    from stacks.cli import check_plan, main

    good = tmp_path / "plan-dev.json"
    good.write_text(dev_plan.to_json(), encoding="utf-8")
    assert main(["check", "dev", "--plan", str(good)]) == 0
    assert capsys.readouterr().out == format_report(check_plan(dev_plan))

    doc = copy.deepcopy(dev_plan.to_dict())
    for r in doc["resources"]:
        if r["type"] == "aws:kms/key:Key":
            r["inputs"]["enableKeyRotation"] = False
    weak = tmp_path / "weak.json"
    weak.write_text(Plan.from_json(json.dumps(doc)).to_json(), encoding="utf-8")
    assert main(["check", "dev", "--plan", str(weak)]) == 1
    assert "kms-key-rotation" in capsys.readouterr().out

    assert main(["check", "prod", "--plan", str(good)]) == 2
    assert "is a plan of stack 'dev', not 'prod'" in capsys.readouterr().err
    other = tmp_path / "other.json"
    other.write_text('{"not": "a plan"}', encoding="utf-8")
    assert main(["check", "dev", "--plan", str(other)]) == 2
    assert "is not a plan file" in capsys.readouterr().err
