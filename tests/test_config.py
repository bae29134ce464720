"""Config validation: every problem at once, each naming its key as written in the file."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stacks.config import (
    CLOUDWATCH_RETENTION_DAYS,
    ConfigError,
    StackFileError,
    load_stack_config,
    load_stack_file,
    parse_raw_config,
)
from stacks.offline import PROJECT_DIR


def flat(config: dict[str, Any]) -> dict[str, str]:
    """A config mapping as the Pulumi CLI hands it to the program."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}


def problems_for(config: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_raw_config(flat(config))
    return info.value.problems


def test_real_stack_files_are_valid() -> None:
    dev = load_stack_config(PROJECT_DIR, "dev")
    prod = load_stack_config(PROJECT_DIR, "prod")
    assert dev.ephemeral and not prod.ephemeral
    assert len(dev.regions) >= 2 and len(prod.regions) >= 2
    assert (dev.network.az_count, dev.network.nat) == (2, "single")
    assert (prod.network.az_count, prod.network.nat) == (3, "per_az")
    assert prod.protect_stateful and not dev.protect_stateful
    assert dev.primary_region == dev.regions[0].name


def test_real_stack_files_disable_default_aws_provider() -> None:
    for stack in ("dev", "prod"):
        config, _ = load_stack_file(PROJECT_DIR, stack)
        assert json.loads(config["pulumi:disable-default-providers"]) == ["aws"]


def test_missing_keys(stack_config) -> None:
    config = stack_config("dev")
    del config["mlops:environment"]
    del config["mlops:regions"][1]["cidr"]
    problems = problems_for(config)
    assert "mlops:environment: required key is missing" in problems
    assert "mlops:regions[1].cidr: required key is missing" in problems


def test_wrong_types(stack_config) -> None:
    config = stack_config("dev")
    config["mlops:network"]["azCount"] = "two"
    config["mlops:regions"] = {"name": "eu-west-1"}
    problems = problems_for(config)
    assert any(p.startswith("mlops:network.azCount:") and "integer" in p for p in problems)
    assert any(p.startswith("mlops:regions:") for p in problems)


def test_unknown_keys_are_errors_with_suggestions(stack_config) -> None:
    config = stack_config("dev")
    config["mlops:regoins"] = config["mlops:regions"]
    config["mlops:network"]["natt"] = "single"
    config["mlops:regions"][0]["cdr"] = "10.0.0.0/16"
    problems = problems_for(config)
    assert any(
        p.startswith("mlops:regoins: unknown key") and "mlops:regions" in p for p in problems
    )
    assert any(
        p.startswith("mlops:network.natt: unknown key") and "network.nat" in p for p in problems
    )
    assert any(p.startswith("mlops:regions[0].cdr: unknown key") for p in problems)


@pytest.mark.parametrize(
    "cidr", ["10.0.0.0/33", "10.0.0.1/16", "not-a-cidr", "10.0.0.0/8", "8.8.0.0/16"]
)
def test_invalid_cidr(stack_config, cidr: str) -> None:
    config = stack_config("dev")
    config["mlops:regions"][1]["cidr"] = cidr
    problems = problems_for(config)
    assert problems and all(p.startswith("mlops:regions[1].cidr:") for p in problems)
    assert cidr in problems[0]


def test_overlapping_cidrs_across_regions(stack_config) -> None:
    config = stack_config("dev")
    config["mlops:regions"][1]["cidr"] = "10.10.0.0/20"  # inside regions[0]'s 10.10.0.0/16
    problems = problems_for(config)
    assert problems == [
        "mlops:regions[1].cidr: 10.10.0.0/20 overlaps 10.10.0.0/16 of mlops:regions[0]; "
        "regions need distinct address ranges so they can be peered"
    ]


def test_duplicate_regions(stack_config) -> None:
    config = stack_config("dev")
    config["mlops:regions"][1]["name"] = config["mlops:regions"][0]["name"]
    problems = problems_for(config)
    assert any(
        p.startswith("mlops:regions[1].name:") and "already listed at mlops:regions[0]" in p
        for p in problems
    )


@pytest.mark.parametrize("name", ["eu-west-9", "europe-west1", "EU-WEST-1", ""])
def test_region_that_is_not_an_aws_region(stack_config, name: str) -> None:
    config = stack_config("dev")
    config["mlops:regions"][0]["name"] = name
    problems = problems_for(config)
    assert any(
        p.startswith("mlops:regions[0].name:") and "not an AWS region" in p for p in problems
    )


@pytest.mark.parametrize("count", [0, 7, -1])
def test_az_count_out_of_range(stack_config, count: int) -> None:
    config = stack_config("dev")
    config["mlops:network"]["azCount"] = count
    assert problems_for(config) == [f"mlops:network.azCount: {count} is out of range; use 1 to 6"]


def test_unknown_nat_strategy(stack_config) -> None:
    config = stack_config("dev")
    config["mlops:network"]["nat"] = "two"
    problems = problems_for(config)
    assert problems == [
        "mlops:network.nat: 'two' is not a NAT strategy; use one of 'none', 'single', 'per_az'"
    ]


def test_prod_marked_ephemeral(stack_config) -> None:
    config = stack_config("prod")
    config["mlops:ephemeral"] = True
    problems = problems_for(config)
    assert len(problems) == 1 and problems[0].startswith("mlops:ephemeral:")
    assert "production" in problems[0]


def test_prod_needs_two_azs(stack_config) -> None:
    config = stack_config("prod")
    config["mlops:network"]["azCount"] = 1
    assert any(p.startswith("mlops:network.azCount:") for p in problems_for(config))


def test_at_least_two_regions(stack_config) -> None:
    config = stack_config("dev")
    config["mlops:regions"] = config["mlops:regions"][:1]
    assert any(p.startswith("mlops:regions:") and "at least two" in p for p in problems_for(config))


@pytest.mark.parametrize("days", [0, 2, 10, 4000])
def test_retention_must_be_a_cloudwatch_value(stack_config, days: int) -> None:
    assert days not in CLOUDWATCH_RETENTION_DAYS
    config = stack_config("dev")
    config["mlops:logRetentionDays"] = days
    problems = problems_for(config)
    assert len(problems) == 1 and problems[0].startswith("mlops:logRetentionDays:")


def test_every_problem_is_reported_at_once(stack_config) -> None:
    config = stack_config("prod")
    config["mlops:ephemeral"] = "maybe"
    config["mlops:regions"][0]["cidr"] = "10.0.0.0/40"
    config["mlops:regions"][1]["name"] = "mars-north-1"
    config["mlops:network"]["nat"] = "lots"
    config["mlops:network"]["azCount"] = 9
    config["mlops:colour"] = "blue"
    keys = sorted(p.split(":", 2)[1].split(" ")[0] for p in problems_for(config))
    assert keys == sorted(
        [
            "ephemeral",
            "regions[0].cidr",
            "regions[1].name",
            "network.nat",
            "network.azCount",
            "colour",
        ]
    )


def test_other_namespaces_are_ignored(stack_config) -> None:
    config = stack_config("dev")
    config["aws:region"] = "eu-west-1"
    parse_raw_config(flat(config))


def test_error_message_lists_problems_and_source(stack_config) -> None:
    config = stack_config("dev")
    config["mlops:network"]["nat"] = "x"
    with pytest.raises(ConfigError) as info:
        parse_raw_config(flat(config), source="Pulumi.dev.yaml")
    text = str(info.value)
    assert text.startswith("Invalid configuration in Pulumi.dev.yaml (1 problem(s)):")
    assert "  - mlops:network.nat:" in text


def test_stack_file_errors(project_with) -> None:
    with pytest.raises(StackFileError, match="unknown stack 'nope'"):
        load_stack_file(PROJECT_DIR, "nope")
    root = project_with(raw="config: [unclosed\n")
    with pytest.raises(StackFileError, match="not valid YAML"):
        load_stack_file(root, "test")
    root = project_with(raw="config:\n  environment: dev\n")
    with pytest.raises(StackFileError, match="has no namespace"):
        load_stack_file(root, "test")
    with pytest.raises(StackFileError, match="not a valid stack name"):
        load_stack_file(PROJECT_DIR, "../etc")


def test_secure_values_stay_masked(project_with, stack_config) -> None:
    config = stack_config("dev")
    config["mlops:someSecret"] = {"secure": "v1:abc"}
    root = project_with(config)
    flat_config, secrets = load_stack_file(root, "test")
    assert flat_config["mlops:someSecret"] == "[secret]" and secrets == ["mlops:someSecret"]


# The package's public API ------------------------------------------------------------------


def test_every_public_name_is_importable_from_the_package() -> None:
    import stacks.config

    missing = [name for name in stacks.config.__all__ if not hasattr(stacks.config, name)]
    assert missing == []
    assert len(set(stacks.config.__all__)) == len(stacks.config.__all__)


def test_project_root_is_the_checkout() -> None:
    from stacks.config import PROJECT_ROOT

    assert PROJECT_ROOT == PROJECT_DIR.resolve()
    assert (PROJECT_ROOT / "Pulumi.yaml").is_file()


# Components' own checks, reported under the keys as written -------------------------------


def test_component_argument_names_become_keys_as_written() -> None:
    from stacks.config.errors import as_written

    problems = as_written(
        ["mlops:compute.pools[0].schedule.stop_cron: is the same as start_cron; never runs"],
        ("start_cron", "stop_cron"),
    )
    assert problems == [
        "mlops:compute.pools[0].schedule.stopCron: is the same as startCron; never runs"
    ]
    # Only the listed argument names are renamed.
    assert as_written(["x.keep_me: a_b"], ("other_name",)) == ["x.keep_me: a_b"]


POOL = "mlops:compute.pools[0]"


def pool_problems(stack_config, **changes: Any) -> list[str]:
    config = stack_config("dev")
    config["mlops:compute"]["pools"][0].update(changes)
    return problems_for(config)


def test_a_problem_the_component_repeats_is_reported_once(stack_config) -> None:
    problems = pool_problems(
        stack_config,
        schedule={"timezone": "Europe/Roma", "startCron": "0 8 * * MON", "stopCron": "0 25 * * *"},
    )
    keys = [p.split(": ", 1)[0] for p in problems]
    assert keys.count(f"{POOL}.schedule.timezone") == 1
    assert keys.count(f"{POOL}.schedule.stopCron") == 1


def test_pool_schedule_is_checked_by_the_component(stack_config) -> None:
    same = {"timezone": "UTC", "startCron": "0 8 * * MON", "stopCron": "0  8 * * MON"}
    assert pool_problems(stack_config, schedule=same) == [
        f"{POOL}.schedule.stopCron: is the same as startCron; the pool would never run"
    ]
    # A bad time zone is reported at its key, and the crons are still compared.
    problems = pool_problems(stack_config, schedule={**same, "timezone": "Mars/Olympus"})
    assert [p.split(": ", 1)[0] for p in problems] == [
        f"{POOL}.schedule.timezone",
        f"{POOL}.schedule.stopCron",
    ]
    # Crons that are not crons are reported as such, not compared.
    problems = pool_problems(stack_config, schedule={**same, "startCron": "bad", "stopCron": "bad"})
    assert not any("is the same as" in p for p in problems)


def test_office_hours_are_checked_by_the_component(stack_config) -> None:
    problems = pool_problems(
        stack_config, schedule={"timezone": "UTC", "officeHours": {"stop": "07:00"}}
    )
    assert problems == [f"{POOL}.schedule.officeHours.stop: '07:00' is not after start '08:00'"]
    problems = pool_problems(
        stack_config,
        schedule={"timezone": "UTC", "officeHours": {"start": "25:00", "stop": "08:00"}},
    )
    assert [p.split(": ", 1)[0] for p in problems] == [f"{POOL}.schedule.officeHours.start"]


def test_pool_load_balancer_networks_are_checked_by_the_component(stack_config) -> None:
    problems = pool_problems(
        stack_config,
        imageId="ami-0123456789abcdef0",
        loadBalancer={"allowedCidrs": ["10.0.0.0/8", "0.0.0.0/0", "10.0.0.0/8"]},
    )
    assert problems == [
        f"{POOL}.loadBalancer.allowedCidrs[1]: '0.0.0.0/0' admits the whole internet; list the "
        "networks that need access",
        f"{POOL}.loadBalancer.allowedCidrs: lists a block more than once",
    ]


@pytest.mark.parametrize(
    "changes, expected",
    [
        (
            {"memoryMb": 127},
            "mlops:ingest.memoryMb: 127 MB is outside what Lambda offers; use 128 to 10240",
        ),
        (
            {"timeoutSeconds": 901},
            "mlops:ingest.timeoutSeconds: 901 seconds is outside what Lambda allows; use 1 to 900",
        ),
        (
            {"retryAttempts": 3},
            "mlops:ingest.retryAttempts: 3 is outside what Lambda allows; use 0, 1 or 2",
        ),
        (
            {"maxEventAgeSeconds": 59},
            "mlops:ingest.maxEventAgeSeconds: 59 seconds is outside what Lambda allows; use 60 to 21600",
        ),
    ],
)
def test_ingest_limits_are_the_components(
    stack_config, changes: dict[str, Any], expected: str
) -> None:
    config = stack_config("dev")
    config["mlops:ingest"].update(changes)
    assert problems_for(config) == [expected]
