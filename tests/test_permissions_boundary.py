"""``mlops:iam.permissionsBoundaryArn``: one boundary on every role the platform creates."""

from __future__ import annotations

import json

import pytest
from render_cache import (  # tests/render_cache.py
    BOUNDARY,
    dev_flipped,
    prod_with_airflow,
    render_config,
)

from stacks.config import ConfigError, parse_raw_config
from stacks.offline import Plan

#: Each real stack with the boundary, as other tests' variants have it (tests/render_cache.py):
#: dev with another active region and a paused schedule, prod with Airflow on (more roles).
#: Neither other change touches a role's boundary.
WITH_BOUNDARY = {"dev": (dev_flipped, "dev"), "prod": (prod_with_airflow, "test")}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_role_gets_the_boundary(stack: str, tmp_path_factory) -> None:
    variant, name = WITH_BOUNDARY[stack]
    config = variant()
    assert config["mlops:iam"] == {"permissionsBoundaryArn": BOUNDARY}
    roles = render_config(config, tmp_path_factory, stack=name).of_type("aws:iam/role:Role")
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
