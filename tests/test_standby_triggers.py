"""Schedules and triggers in every region, enabled only in the active one; the SSM parameters
``python -m stacks failover`` reads (stacks/standby.py).

Both real stack files: every job's schedule and raw-data trigger and the training loop's drift
schedule and new-curated-data trigger exist in every region, ENABLED only in
``mlops:resilience.activeRegion`` (default: the first region) and with their state left to the
failover (``ignore_changes``); a schedule paused in config stays DISABLED and managed.
Every region writes its inventory (what failover switches there, by deployed name) and the
initially active region, whose value Pulumi then leaves to failover/failback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
import pytest
from render_cache import dev_flipped, render_config, write_project  # tests/render_cache.py

from components.jobs import TriggerState
from stacks.config import PlatformConfig, load_stack_config
from stacks.offline import PROJECT_DIR, Plan, physical_name, render_components
from stacks.standby import (
    ADVANCED_TIER_MAX_BYTES,
    STANDARD_TIER_MAX_BYTES,
    StandbyInventory,
    active_region_parameter,
    failover_parameters,
    inventory_parameter,
    parameter_tier,
    parse_inventory,
)

SCHEDULE = "aws:scheduler/schedule:Schedule"
RULE = "aws:cloudwatch/eventRule:EventRule"
PARAMETER = "aws:ssm/parameter:Parameter"


def config_of(plan: Plan, project_dir: Path = PROJECT_DIR) -> PlatformConfig:
    return load_stack_config(project_dir, plan.stack)


def switched_schedules(plan: Plan, region: str) -> list[dict[str, Any]]:
    """The region's job and drift schedules (every schedule the platform has)."""
    return [r for r in plan.in_region(region) if r["type"] == SCHEDULE]


def switched_rules(plan: Plan, region: str) -> list[dict[str, Any]]:
    """The region's new-object triggers (jobs' raw-data and the drift check's curated-data)."""
    return [
        r
        for r in plan.in_region(region)
        if r["type"] == RULE and r["name"].endswith("-on-new-objects")
    ]


def configured_on(cfg: PlatformConfig) -> set[str]:
    """Names of the schedules config turns on (the others are paused)."""
    env = f"mlops-{cfg.environment}"
    names = {f"{env}-{j.name}" for j in cfg.jobs.jobs if j.schedule and j.schedule.enabled}
    if cfg.training.enabled and cfg.training.drift.schedule.enabled:
        names.add(f"{env}-drift-{cfg.training.model}")
    return names


def parameter(plan: Plan, region: str, purpose: str) -> dict[str, Any]:
    [found] = [
        r
        for r in plan.in_region(region)
        if r["type"] == PARAMETER and r["name"] == f"{region}-failover-{purpose}"
    ]
    return found


def assert_switchable_everywhere(plan: Plan, cfg: PlatformConfig) -> None:
    """Same schedules and rules in every region; ENABLED only in the active region (paused
    schedules DISABLED everywhere); the state of the ones config turns on is failover's."""
    on = configured_on(cfg)
    shapes = []
    for region in cfg.regions:
        active = region.name == cfg.active_region
        schedules = switched_schedules(plan, region.name)
        rules = switched_rules(plan, region.name)
        shapes.append(
            (
                sorted(s["inputs"]["name"] for s in schedules),
                sorted(r["name"].removeprefix(region.name) for r in rules),
            )
        )
        assert schedules and rules, region.name
        for schedule in schedules:
            enabled = schedule["inputs"]["name"] in on
            expected = "ENABLED" if enabled and active else "DISABLED"
            assert schedule["inputs"]["state"] == expected, (region.name, schedule["name"])
            assert schedule["options"]["ignoreChanges"] == (["state"] if enabled else [])
        for rule in rules:
            assert rule["inputs"]["state"] == ("ENABLED" if active else "DISABLED"), rule["name"]
            assert rule["options"]["ignoreChanges"] == ["state"], rule["name"]
    assert all(shape == shapes[0] for shape in shapes), shapes


def test_every_region_has_the_triggers_enabled_only_in_the_active_region(
    stack_plan: Plan,
) -> None:
    cfg = config_of(stack_plan)
    assert cfg.active_region == cfg.primary_region  # neither stack file names another
    assert len(cfg.regions) >= 2
    assert_switchable_everywhere(stack_plan, cfg)


def test_the_retraining_rule_and_the_alert_rules_stay_enabled_everywhere(
    stack_plan: Plan,
) -> None:
    """Only schedules and new-object triggers are switched: the retraining rule fires on its
    own region's drift alarm, the FAILED-run alerts report every region's runs."""
    cfg = config_of(stack_plan)
    for region in cfg.regions:
        others = [
            r
            for r in stack_plan.in_region(region.name)
            if r["type"] == RULE and not r["name"].endswith("-on-new-objects")
        ]
        names = {r["name"] for r in others}
        assert {f"{region.name}-training-retrain", f"{region.name}-jobs-batch-run-failed"} <= names
        for rule in others:
            assert rule["inputs"].get("state", "ENABLED") == "ENABLED", rule["name"]
            assert "state" not in rule["options"]["ignoreChanges"], rule["name"]


def test_each_region_writes_the_inventory_of_exactly_its_switchable_triggers(
    stack_plan: Plan,
) -> None:
    cfg = config_of(stack_plan)
    on = configured_on(cfg)
    for region in cfg.regions:
        written = parameter(stack_plan, region.name, "inventory")
        inputs = written["inputs"]
        assert inputs["name"] == inventory_parameter(cfg.environment)
        assert (inputs["type"], inputs["tier"]) == ("String", "Standard")
        assert "value" not in inputs  # insecure_value: readable in previews and the plan
        assert written["options"]["ignoreChanges"] == []  # every deployment rewrites it
        inventory = parse_inventory(inputs["insecureValue"])
        assert (inventory.environment, inventory.region) == (cfg.environment, region.name)
        schedules = switched_schedules(stack_plan, region.name)
        assert sorted((s.group, s.name) for s in inventory.schedules) == sorted(
            (s["inputs"]["groupName"], s["inputs"]["name"])
            for s in schedules
            if s["inputs"]["name"] in on
        )
        # The groups are auto-named: the inventory has the deployed names.
        groups = {
            physical_name(g["type"], g["name"], g["urn"], g["inputs"])
            for g in stack_plan.in_region(region.name)
            if g["type"] == "aws:scheduler/scheduleGroup:ScheduleGroup"
        }
        assert {s.group for s in inventory.schedules} <= groups
        assert sorted(r.name for r in inventory.rules) == sorted(
            physical_name(r["type"], r["name"], r["urn"], r["inputs"])
            for r in switched_rules(stack_plan, region.name)
        )
        assert all(r.event_bus_name == "default" for r in inventory.rules)
        capabilities = {s.capability for s in inventory.schedules} | {
            r.capability for r in inventory.rules
        }
        assert "training:drift" in capabilities
        assert {f"jobs:{j.name}" for j in cfg.jobs.jobs if j.schedule or j.on_new_raw_data} <= (
            capabilities
        )


def test_each_region_writes_the_active_region_and_leaves_it_to_failover(
    stack_plan: Plan,
) -> None:
    cfg = config_of(stack_plan)
    for region in cfg.regions:
        written = parameter(stack_plan, region.name, "active-region")
        inputs = written["inputs"]
        assert inputs["name"] == active_region_parameter(cfg.environment)
        assert (inputs["type"], inputs["tier"]) == ("String", "Standard")
        assert inputs["insecureValue"] == cfg.active_region
        assert written["options"]["ignoreChanges"] == ["insecureValue"]
        assert written["provider"].endswith(f"::aws-{region.name}")


# --- another active region, and a paused schedule --------------------------------------------


@pytest.fixture(scope="module")
def flipped(tmp_path_factory: pytest.TempPathFactory) -> tuple[Plan, PlatformConfig]:
    """dev with ``activeRegion`` set to its second region and its job's schedule paused (and
    a permissions boundary test_permissions_boundary checks: tests/render_cache.py)."""
    config = dev_flipped()
    project = write_project(config, tmp_path_factory.mktemp("flipped"), "dev")
    plan = render_config(config, tmp_path_factory, stack="dev")
    return plan, config_of(plan, project)


def test_the_configured_active_region_gets_the_enabled_triggers(
    flipped: tuple[Plan, PlatformConfig],
) -> None:
    plan, cfg = flipped
    assert cfg.active_region == cfg.regions[1].name != cfg.primary_region
    assert_switchable_everywhere(plan, cfg)
    for region in cfg.regions:
        assert parameter(plan, region.name, "active-region")["inputs"]["insecureValue"] == (
            cfg.active_region
        )
        drift = [
            s
            for s in switched_schedules(plan, region.name)
            if s["name"] == f"{region.name}-training-drift-schedule"
        ]
        assert [s["inputs"]["state"] for s in drift] == [
            "ENABLED" if region.name == cfg.active_region else "DISABLED"
        ]


def test_a_schedule_paused_in_config_stays_disabled_managed_and_out_of_the_inventory(
    flipped: tuple[Plan, PlatformConfig],
) -> None:
    plan, cfg = flipped
    paused = f"mlops-{cfg.environment}-{cfg.jobs.jobs[0].name}"
    for region in cfg.regions:
        [schedule] = [
            s for s in switched_schedules(plan, region.name) if s["inputs"]["name"] == paused
        ]
        assert schedule["inputs"]["state"] == "DISABLED"
        assert schedule["options"]["ignoreChanges"] == []  # a pulumi up pauses it everywhere
        inventory = parse_inventory(
            parameter(plan, region.name, "inventory")["inputs"]["insecureValue"]
        )
        assert paused not in {s.name for s in inventory.schedules}
        assert inventory.schedules  # the drift check's schedule is still switchable


# --- pieces ----------------------------------------------------------------------------------


def test_trigger_state_defaults_keep_a_single_region_platform_as_it_was() -> None:
    always = TriggerState()
    assert (always.state(), always.state(enabled=False)) == ("ENABLED", "DISABLED")
    assert always.ignore_changes() is None
    standby = TriggerState(active=False, switchable=True)
    assert (standby.state(), standby.ignore_changes()) == ("DISABLED", ["state"])
    assert standby.ignore_changes(enabled=False) is None  # paused: managed, not switchable


def test_the_tier_is_standard_up_to_4_kb_then_advanced_up_to_8_kb() -> None:
    assert parameter_tier("x" * STANDARD_TIER_MAX_BYTES) == "Standard"
    assert parameter_tier("x" * (STANDARD_TIER_MAX_BYTES + 1)) == "Advanced"
    assert parameter_tier("x" * ADVANCED_TIER_MAX_BYTES) == "Advanced"
    with pytest.raises(ValueError, match=r"eu-west-1 is 8193 bytes.*at most 8192"):
        parameter_tier("x" * (ADVANCED_TIER_MAX_BYTES + 1), "eu-west-1")


def test_a_large_inventory_gets_the_advanced_tier_and_is_replaced_delete_first() -> None:
    def build(opts: pulumi.ResourceOptions) -> None:
        holder = pulumi.ComponentResource("test:index:Holder", "holder", None, opts)
        inventory = StandbyInventory("dev", "eu-west-1")
        for i in range(60):
            inventory.add_rule(f"eu-west-1-jobs-job-{i:02d}-on-new-objects-abcdef1", f"jobs:{i}")
        failover_parameters("eu-west-1", inventory, "eu-west-1", parent=holder)

    plan = render_components(build)
    written = plan.find(PARAMETER, "eu-west-1-failover-inventory")
    assert len(written["inputs"]["insecureValue"]) > STANDARD_TIER_MAX_BYTES
    assert written["inputs"]["tier"] == "Advanced"
    assert written["options"]["deleteBeforeReplace"] is True
    assert len(parse_inventory(written["inputs"]["insecureValue"]).rules) == 60


def test_entries_added_after_the_inventory_is_written_are_refused() -> None:
    def build(opts: pulumi.ResourceOptions) -> None:
        holder = pulumi.ComponentResource("test:index:Holder", "holder", None, opts)
        inventory = StandbyInventory("dev", "eu-west-1")
        failover_parameters("eu-west-1", inventory, "eu-west-1", parent=holder)
        with pytest.raises(RuntimeError, match="already written"):
            inventory.add_table("late")

    plan = render_components(build)
    written = plan.find(PARAMETER, "eu-west-1-failover-inventory")
    assert json.loads(written["inputs"]["insecureValue"])["tables"] == []


# --- the deploy roles --------------------------------------------------------------------------

#: What the provider calls to create, read, update, tag and delete an SSM parameter
#: (terraform-provider-aws internal/service/ssm/parameter.go: PutParameter, GetParameter,
#: DescribeParameters, DeleteParameter; tags through AddTagsToResource,
#: RemoveTagsFromResource and ListTagsForResource).
PARAMETER_ACTIONS = {
    "ssm:PutParameter",
    "ssm:GetParameter",
    "ssm:DeleteParameter",
    "ssm:AddTagsToResource",
    "ssm:RemoveTagsFromResource",
    "ssm:ListTagsForResource",
}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_deploy_roles_may_manage_the_failover_parameters(
    stack: str, plans: dict[str, Plan]
) -> None:
    import fnmatch

    document = json.loads(
        (PROJECT_DIR / "deploy" / "iam" / f"deploy-{stack}.permissions.json").read_text("utf-8")
    )
    allowed = [s for s in document["Statement"] if s["Effect"] == "Allow"]

    def actions(statement: dict[str, Any]) -> set[str]:
        found = statement["Action"]
        return set(found if isinstance(found, list) else [found])

    environment = config_of(plans[stack]).environment
    names = {r["inputs"]["name"] for r in plans[stack].resources if r["type"] == PARAMETER}
    assert names == {inventory_parameter(environment), active_region_parameter(environment)}
    for name in names:
        arn = f"arn:aws:ssm:eu-west-1:<ACCOUNT_ID>:parameter{name}"
        granted = set().union(
            *(
                actions(s)
                for s in allowed
                if any(
                    fnmatch.fnmatchcase(arn, pattern)
                    for pattern in (
                        s.get("Resource", [])
                        if isinstance(s.get("Resource", []), list)
                        else [s["Resource"]]
                    )
                )
            )
        )
        assert PARAMETER_ACTIONS <= granted, name
    # DescribeParameters takes no resource ARN ("Resource": "*" in AWS's own example, Systems
    # Manager User Guide, "Restricting access to Parameter Store parameters using IAM policies").
    assert any("ssm:DescribeParameters" in actions(s) and s.get("Resource") == "*" for s in allowed)
