"""``mlops:iam.permissionsBoundaryArn``: one boundary on every role the platform creates."""

from __future__ import annotations

import json

import pytest

from stacks.config import ConfigError, load_stack_file, parse_raw_config
from stacks.environment import build
from stacks.offline import PROJECT_DIR, Plan, render_program

BOUNDARY = "arn:aws:iam::123456789012:policy/platform-boundary"


def render_with(stack: str, iam: dict) -> Plan:
    flat, _ = load_stack_file(PROJECT_DIR, stack)
    flat["mlops:iam"] = json.dumps(iam)
    cfg = parse_raw_config(flat)
    return render_program(lambda: build(cfg), project="mlops-platform", stack=stack, config=flat)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_role_gets_the_boundary(stack: str) -> None:
    roles = render_with(stack, {"permissionsBoundaryArn": BOUNDARY}).of_type("aws:iam/role:Role")
    assert len(roles) > 10
    assert {r["inputs"].get("permissionsBoundary") for r in roles} == {BOUNDARY}


def test_no_boundary_by_default(dev_plan: Plan) -> None:
    assert all(
        "permissionsBoundary" not in r["inputs"] for r in dev_plan.of_type("aws:iam/role:Role")
    )


@pytest.mark.parametrize(
    "value", ["platform-boundary", "arn:aws:iam::123456789012:role/x", "arn:aws:s3:::bucket"]
)
def test_a_boundary_that_is_not_a_policy_arn_is_refused(stack_config, value: str) -> None:
    config = stack_config("dev")
    config["mlops:iam"] = {"permissionsBoundaryArn": value}
    flat = {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}
    with pytest.raises(ConfigError) as info:
        parse_raw_config(flat)
    assert len(info.value.problems) == 1
    assert info.value.problems[0].startswith("mlops:iam.permissionsBoundaryArn:")
    assert "not an IAM managed policy ARN" in info.value.problems[0]
