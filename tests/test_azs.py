"""Availability zones are pinned in config: the program needs no region's API to run.

``mlops:regions[i].availabilityZones`` lists each region's AZs (count = ``network.azCount``);
the environment never invokes ``getAvailabilityZones``, so an outage of one region's API
does not block operating the others, and a change of AZs is a visible config diff.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from stacks.config import ConfigError, load_stack_config, parse_raw_config
from stacks.offline import PROJECT_DIR, Plan

#: Invokes the provider answers from its own configuration and the account identity; every
#: other invoke that names a region needs that region's API.
_LOCAL_INVOKES = {
    "aws:index/getRegion:getRegion",
    "aws:index/getPartition:getPartition",
    "aws:index/getCallerIdentity:getCallerIdentity",
}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_program_renders_with_every_region_api_unavailable(
    plans: dict[str, Plan], render_notes, stack: str
) -> None:
    """No invoke of the session's render (conftest ``render_notes``) needs a region's API:
    with every region down, each would fail, so the program would not render."""
    invokes = render_notes[stack].invokes
    assert invokes, "the session's render noted no invoke"
    needing_a_region = [
        token for token, region in invokes if region is not None and token not in _LOCAL_INVOKES
    ]
    assert needing_a_region == []
    plan = plans[stack]
    cfg = load_stack_config(PROJECT_DIR, stack)
    for region in cfg.regions:
        subnets = [r for r in plan.of_type("aws:ec2/subnet:Subnet") if r["region"] == region.name]
        assert subnets
        # Every subnet sits in one of the pinned zones, and every pinned zone is used.
        zones = {s["inputs"]["availabilityZone"] for s in subnets}
        assert zones == set(region.availability_zones)
        assert plan.outputs["regions"][region.name]["availabilityZones"] == list(
            region.availability_zones
        )


def test_both_stack_files_pin_az_count_zones_per_region() -> None:
    for stack in ("dev", "prod"):
        cfg = load_stack_config(PROJECT_DIR, stack)
        for region in cfg.regions:
            assert len(region.availability_zones) == cfg.network.az_count
            assert all(z.startswith(region.name) for z in region.availability_zones)


def _flat(config: dict[str, Any]) -> dict[str, str]:
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}


def _problems(config: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_raw_config(_flat(config))
    return info.value.problems


def test_az_of_another_region_names_the_key(stack_config) -> None:
    config = stack_config("dev")
    config["mlops:regions"][1]["availabilityZones"] = ["eu-central-1a", "eu-west-1b"]
    problems = _problems(config)
    assert len(problems) == 1
    assert problems[0].startswith("mlops:regions[1].availabilityZones:")
    assert "'eu-west-1b' is not an availability zone of eu-central-1" in problems[0]


def test_az_count_must_match_network_az_count(stack_config) -> None:
    config = stack_config("prod")
    config["mlops:regions"][0]["availabilityZones"] = ["eu-west-1a", "eu-west-1b"]
    assert _problems(config) == [
        "mlops:regions[0].availabilityZones: 2 AZ(s) listed but mlops:network.azCount is 3; "
        "list exactly 3"
    ]


def test_missing_availability_zones_is_a_missing_key(stack_config) -> None:
    config = stack_config("dev")
    del config["mlops:regions"][0]["availabilityZones"]
    problems = _problems(config)
    assert any(p.startswith("mlops:regions[0].availabilityZones:") for p in problems)


def test_duplicate_and_mixed_zones_are_refused(stack_config) -> None:
    config = stack_config("dev")
    config["mlops:regions"][0]["availabilityZones"] = ["eu-west-1a", "eu-west-1a"]
    config["mlops:regions"][1]["availabilityZones"] = ["eu-central-1a", "euc1-az2"]
    problems = _problems(config)
    assert any("regions[0].availabilityZones" in p and "more than once" in p for p in problems)
    assert any("regions[1].availabilityZones" in p and "mixes AZ names" in p for p in problems)


def test_az_ids_of_the_region_are_accepted_and_reach_the_subnets(stack_config) -> None:
    config = stack_config("dev")
    config["mlops:regions"][0]["availabilityZones"] = ["euw1-az1", "euw1-az2"]
    cfg = parse_raw_config(_flat(config))
    assert cfg.regions[0].availability_zones == ("euw1-az1", "euw1-az2")
    config["mlops:regions"][1]["availabilityZones"] = ["euw1-az1", "euw1-az3"]
    problems = _problems(config)
    assert problems and "'euw1-az1' is not an AZ ID of eu-central-1" in problems[0]


def test_network_places_subnets_by_az_id() -> None:
    from components.kms import RegionKey, RegionKeyArgs
    from components.network import Network, NetworkArgs
    from stacks.offline import render_components

    def build(opts: Any) -> None:
        key = RegionKey("k", RegionKeyArgs(alias="k", services=("logs",)), opts)
        Network(
            "n",
            NetworkArgs(
                cidr="10.0.0.0/16", availability_zones=["euw1-az1", "euw1-az2"], key=key, nat="none"
            ),
            opts,
        )

    plan = render_components(build, region="eu-west-1")
    subnets = plan.of_type("aws:ec2/subnet:Subnet")
    assert {s["inputs"].get("availabilityZoneId") for s in subnets} == {"euw1-az1", "euw1-az2"}
    assert all("availabilityZone" not in s["inputs"] for s in subnets)


def test_azs_command_prints_the_lines_to_pin(monkeypatch) -> None:
    """`python -m stacks azs <stack>` asks EC2 (here moto) and prints what to paste."""
    import boto3
    from moto import mock_aws

    from stacks.azs import zone_lines

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        text = zone_lines("prod", lambda r: boto3.client("ec2", region_name=r))
    assert (
        "# mlops:regions[0] (eu-west-1)\n      availabilityZones: [eu-west-1a, eu-west-1b, eu-west-1c]"
        in text
    )
    assert "availabilityZones: [eu-central-1a, eu-central-1b, eu-central-1c]" in text
