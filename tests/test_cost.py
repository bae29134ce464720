"""``python -m stacks cost``: schedules priced as they run, arithmetic on small hand-made plans
with known answers, the price table's sources, and the command on both real stacks."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from croniter import croniter

from stacks.cost import Lifetime, ScheduledAction, diff, estimate, night_saving, render, render_diff
from stacks.cost.schedules import (
    HOURS_PER_MONTH,
    Cron,
    ScheduleError,
    capacity_hours_per_month,
    stack_lifetime,
)
from stacks.cost.table import TableError, load_assumptions, load_table, parse_table
from stacks.offline import PROJECT_DIR

UTC = dt.UTC
WEEKDAYS_2026 = 261  # 2026 starts and ends on a Thursday: 52 weeks + 1 weekday


# Cron and lifetimes -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "expression",
    ["0 5 * * 1-5", "30 20 * * *", "*/15 8-18 * * MON-FRI", "0 0 1,15 * *", "0 12 * 2 0"],
)
def test_cron_fires_when_croniter_does(expression: str) -> None:
    start = dt.datetime(2026, 1, 1, tzinfo=UTC)
    end = start + dt.timedelta(days=60)
    ours = list(Cron.parse(expression).fire_times(start, end))
    it = croniter(expression, start - dt.timedelta(seconds=1))
    theirs = []
    while (t := it.get_next(dt.datetime)) < end:
        theirs.append(t)
    assert ours == theirs


def test_cron_in_a_time_zone_follows_daylight_saving() -> None:
    cron = Cron.parse("0 8 * * MON-FRI", "Europe/Rome")
    winter = next(
        cron.fire_times(dt.datetime(2026, 1, 5, tzinfo=UTC), dt.datetime(2026, 1, 6, tzinfo=UTC))
    )
    summer = next(
        cron.fire_times(dt.datetime(2026, 7, 6, tzinfo=UTC), dt.datetime(2026, 7, 7, tzinfo=UTC))
    )
    assert (winter.hour, summer.hour) == (7, 6)


@pytest.mark.parametrize("bad", ["0 5 * *", "61 5 * * *", "0 5 * * FUNDAY"])
def test_bad_cron_is_an_error_naming_it(bad: str) -> None:
    with pytest.raises(ScheduleError):
        Cron.parse(bad)


def _workflows(tmp_path: Path, files: dict[str, str]) -> Path:
    d = tmp_path / "workflows"
    d.mkdir()
    for name, text in files.items():
        (d / name).write_text(text)
    return d


NIGHTLY = """
on:
  schedule:
    - cron: "30 20 * * *"
jobs:
  destroy:
    steps:
      - run: python -m stacks destroy dev --yes
"""
MORNING = """
on:
  push: {branches: [main]}
  schedule:
    - cron: "0 5 * * 1-5"
jobs:
  dev:
    steps:
      - run: python -m stacks up dev
  prod:
    if: github.event_name != 'schedule'
    steps:
      - run: python -m stacks up prod
"""


def test_ephemeral_stack_exists_from_the_morning_rebuild_to_the_nightly_destroy(
    tmp_path: Path,
) -> None:
    lifetime = stack_lifetime(_workflows(tmp_path, {"n.yml": NIGHTLY, "d.yml": MORNING}), "dev")
    # Weekdays 05:00-20:30 UTC (15.5 h); destroyed Friday night until Monday morning.
    assert lifetime.hours_per_month() == pytest.approx(WEEKDAYS_2026 * 15.5 / 12)
    friday = dt.datetime(2026, 12, 4, 20, 30, tzinfo=UTC)
    assert lifetime.next_rebuild(friday) == dt.datetime(2026, 12, 7, 5, 0, tzinfo=UTC)


def test_a_job_that_skips_the_schedule_does_not_rebuild_its_stack(tmp_path: Path) -> None:
    lifetime = stack_lifetime(_workflows(tmp_path, {"d.yml": MORNING}), "prod")
    assert lifetime.up == () and lifetime.always
    assert lifetime.hours_per_month() == HOURS_PER_MONTH


def test_real_workflows_destroy_and_rebuild_dev_and_never_prod() -> None:
    workflows = PROJECT_DIR / ".github" / "workflows"
    dev = stack_lifetime(workflows, "dev")
    assert dev.destroy and dev.up and 0 < dev.hours_per_month() < HOURS_PER_MONTH
    assert stack_lifetime(workflows, "prod").always


OFFICE = [
    ScheduledAction("start", Cron.parse("0 8 * * MON-FRI", "UTC"), desired=1),
    ScheduledAction("stop", Cron.parse("0 19 * * MON-FRI", "UTC"), desired=0),
]


def test_office_hours_pool_is_priced_by_its_hours() -> None:
    hours = capacity_hours_per_month(1, OFFICE, Lifetime(), min_size=0)
    assert hours == pytest.approx(WEEKDAYS_2026 * 11 / 12)
    # The same times in Rome: 11 h a weekday whatever the season.
    rome = [
        ScheduledAction(a.name, Cron.parse(a.cron.expression, "Europe/Rome"), desired=a.desired)
        for a in OFFICE
    ]
    assert capacity_hours_per_month(1, rome, Lifetime()) == pytest.approx(WEEKDAYS_2026 * 11 / 12)


def test_pool_of_an_ephemeral_stack_runs_from_the_rebuild_with_its_initial_capacity(
    tmp_path: Path,
) -> None:
    lifetime = stack_lifetime(_workflows(tmp_path, {"n.yml": NIGHTLY, "d.yml": MORNING}), "dev")
    # Rebuilt at 05:00 with desired 1: runs until the 19:00 stop (14 h); with 0: 08-19 (11 h).
    assert capacity_hours_per_month(1, OFFICE, lifetime) == pytest.approx(WEEKDAYS_2026 * 14 / 12)
    assert capacity_hours_per_month(0, OFFICE, lifetime) == pytest.approx(WEEKDAYS_2026 * 11 / 12)


def test_scale_to_zero_costs_nothing() -> None:
    assert capacity_hours_per_month(0, [], Lifetime(), min_size=0) == 0


# Hand-made plans --------------------------------------------------------------------------


def _table(**prices: float | None) -> Any:
    rows = []
    for key, usd in prices.items():
        row: dict[str, Any] = {
            "key": key.replace("__", ":"),
            "region": "r-1",
            "unit": "u",
            "offer": "X",
            "usagetype": "U",
            "source": "https://example.test/offer",
        }
        if usd is None:
            row.update(usd=None, unpriced_because="not known")
        else:
            row.update(usd=usd, date="2026-01-01", confirmed_by="test")
        rows.append(row)
    return parse_table(
        {
            "format": "mlops-prices/1",
            "prices": rows,
            "free": [
                {
                    "type": "aws:ec2/vpc:Vpc",
                    "source": "https://example.test",
                    "date": "2026-01-01",
                    "why": "free",
                }
            ],
        }
    )


def _r(
    name: str, typ: str, inputs: dict[str, Any] | None = None, deps: list[str] | None = None
) -> dict[str, Any]:
    return {
        "urn": f"urn:pulumi:s::p::mlops:stacks:RegionalPlatform$mlops:network:Network${typ}::{name}",
        "name": name,
        "type": typ,
        "custom": True,
        "region": "r-1",
        "id": f"id-{name}",
        "inputs": inputs or {},
        "dependencies": deps or [],
        "parent": None,
        "options": {},
    }


def _plan(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"format": "mlops-plan/1", "stack": "s", "resources": list(resources)}


NETWORK = _plan(
    _r("nat", "aws:ec2/natGateway:NatGateway"),
    _r("ip", "aws:ec2/eip:Eip"),
    _r(
        "alb",
        "aws:lb/loadBalancer:LoadBalancer",
        {"loadBalancerType": "application", "subnets": ["a", "b"]},
    ),
    _r(
        "ssm",
        "aws:ec2/vpcEndpoint:VpcEndpoint",
        {"vpcEndpointType": "Interface", "subnetIds": ["a", "b", "c"]},
    ),
    _r("s3", "aws:ec2/vpcEndpoint:VpcEndpoint", {"vpcEndpointType": "Gateway"}),
    _r("vpc", "aws:ec2/vpc:Vpc"),
    _r("odd", "aws:madeup/thing:Thing"),
)
PRICES = dict(
    nat_gateway_hour=0.05,
    nat_gateway_gb=0.05,
    public_ipv4_hour=0.005,
    alb_hour=0.02,
    alb_lcu_hour=0.01,
    interface_endpoint_hour=0.01,
    interface_endpoint_gb=0.01,
)


def test_fixed_cost_of_a_hand_made_network_around_the_clock() -> None:
    e = estimate(NETWORK, _table(**PRICES), load_assumptions(), Lifetime())
    # NAT 0.05 + EIP 0.005 + ALB 0.02 + its 2 public IPs 0.01 + endpoint 3 AZ x 0.01 = 0.115/h
    assert e.total("fixed") == pytest.approx(0.115 * 730)
    nat_gb = load_assumptions()["nat_gateway_gb_per_month"].value
    assert e.total("usage") == pytest.approx(
        nat_gb * 0.05
        + load_assumptions()["alb_lcu_per_hour"].value * 730 * 0.01
        + load_assumptions()["interface_endpoint_gb_per_month"].value * 0.01
    )
    # The unknown type is listed, not priced at zero; everything else is priced (VPC: free).
    assert list(e.unpriced_resources) == [NETWORK["resources"][-1]["urn"]]
    assert e.priced_share == pytest.approx(6 / 7)
    text = render(e)
    assert "no pricing rule for aws:madeup/thing:Thing" in text and "Priced: 6 of 7" in text


def test_an_unpriced_region_is_listed_and_not_counted() -> None:
    e = estimate(
        NETWORK, _table(**{**PRICES, "nat_gateway_hour": None}), load_assumptions(), Lifetime()
    )
    assert e.total("fixed") == pytest.approx(0.065 * 730)
    nat = NETWORK["resources"][0]["urn"]
    assert "not known" in e.unpriced_resources[nat]
    assert "not known" in render(e, "markdown")


def test_ephemeral_lifetime_scales_fixed_cost_and_the_night_saving(tmp_path: Path) -> None:
    lifetime = stack_lifetime(_workflows(tmp_path, {"n.yml": NIGHTLY, "d.yml": MORNING}), "dev")
    plan = _plan(NETWORK["resources"][0])
    scheduled = estimate(plan, _table(**PRICES), load_assumptions(), lifetime)
    always = estimate(plan, _table(**PRICES), load_assumptions(), Lifetime())
    assert scheduled.total("fixed") == pytest.approx(0.05 * WEEKDAYS_2026 * 15.5 / 12)
    saving = night_saving(scheduled, always, dt.datetime(2026, 12, 4, 20, 30, tzinfo=UTC))
    assert saving.hours == pytest.approx(56.5)  # Friday 20:30 to Monday 05:00
    assert saving.usd == pytest.approx(56.5 * 0.05)
    assert saving.monthly_usd == pytest.approx(0.05 * (730 - WEEKDAYS_2026 * 15.5 / 12))
    assert "saves $2.83" in saving.sentence()


def test_pool_instances_follow_the_schedule_and_spot_is_capped_at_on_demand() -> None:
    group = _r(
        "asg",
        "aws:autoscaling/group:Group",
        {
            "desiredCapacity": 0,
            "minSize": 0,
            "maxSize": 2,
            "mixedInstancesPolicy": {
                "instancesDistribution": {"onDemandPercentageAboveBaseCapacity": 0},
                "launchTemplate": {
                    "overrides": [{"instanceType": "a.large"}, {"instanceType": "b.large"}]
                },
            },
        },
    )
    start = _r(
        "start",
        "aws:autoscaling/schedule:Schedule",
        {"recurrence": "0 8 * * MON-FRI", "timeZone": "UTC", "desiredCapacity": 1},
        [group["urn"]],
    )
    stop = _r(
        "stop",
        "aws:autoscaling/schedule:Schedule",
        {"recurrence": "0 19 * * MON-FRI", "timeZone": "UTC", "desiredCapacity": 0},
        [group["urn"]],
    )
    prices = {"ec2_instance_hour__a.large": 0.1, "ec2_instance_hour__b.large": 0.2}
    e = estimate(_plan(group, start, stop), _table(**prices), load_assumptions(), Lifetime())
    assert e.total("fixed") == pytest.approx(WEEKDAYS_2026 * 11 / 12 * 0.2)
    unknown = estimate(
        _plan(group, start, stop),
        _table(**{**prices, "ec2_instance_hour__b.large": None}),
        load_assumptions(),
        Lifetime(),
    )
    assert unknown.total("fixed") == 0 and group["urn"] in unknown.unpriced_resources


def test_fargate_service_is_priced_at_its_minimum_tasks() -> None:
    td = _r("td", "aws:ecs/taskDefinition:TaskDefinition", {"cpu": "512", "memory": "2048"})
    svc = _r(
        "svc", "aws:ecs/service:Service", {"launchType": "FARGATE", "desiredCount": 4}, [td["urn"]]
    )
    target = _r("scale", "aws:appautoscaling/target:Target", {"minCapacity": 2}, [svc["urn"]])
    e = estimate(
        _plan(td, svc, target),
        _table(fargate_vcpu_hour=0.04, fargate_gb_hour=0.004),
        load_assumptions(),
        Lifetime(),
    )
    assert e.total("fixed") == pytest.approx(2 * 730 * (0.5 * 0.04 + 2 * 0.004))


def test_diff_is_the_change_by_resource() -> None:
    old = estimate(
        _plan(*NETWORK["resources"][1:]), _table(**PRICES), load_assumptions(), Lifetime()
    )
    new = estimate(NETWORK, _table(**PRICES), load_assumptions(), Lifetime())
    result = diff(old, new)
    (row,) = result["resources"]
    assert row["name"] == "nat" and row["change"] == "added"
    nat_gb = load_assumptions()["nat_gateway_gb_per_month"].value
    assert row["delta_usd"] == pytest.approx(0.05 * 730 + 0.05 * nat_gb)
    assert "+$" in render_diff(result, "markdown")
    assert "No resource changes" in render_diff(diff(new, new))


def test_assumptions_file_overrides_and_unknown_keys_are_errors(tmp_path: Path) -> None:
    given = tmp_path / "a.yaml"
    given.write_text("nat_gateway_gb_per_month: 1000\n")
    e = estimate(
        _plan(NETWORK["resources"][0]), _table(**PRICES), load_assumptions(given), Lifetime()
    )
    assert e.total("usage") == pytest.approx(50.0)
    given.write_text("nat_gb: 3\n")
    with pytest.raises(TableError, match="unknown assumption 'nat_gb'"):
        load_assumptions(given)


# The price table --------------------------------------------------------------------------


def test_every_price_has_its_source_and_date_or_says_why_it_is_unpriced() -> None:
    table = load_table()
    assert table.prices and table.free
    for price in table.prices.values():
        assert price.source.startswith("https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/")
        assert price.usd is not None and price.date or price.why_unpriced
    raw = json.loads((PROJECT_DIR / "stacks" / "cost" / "prices.json").read_text())
    for row in raw["prices"]:
        assert row["usd"] is None or row["confirmed_by"]
    for free in table.free.values():
        assert free.source.startswith("https://") and free.date


def test_a_price_without_its_confirmation_is_rejected() -> None:
    row = {"key": "k", "region": "r", "unit": "u", "offer": "X", "source": "https://x", "usd": 1.0}
    with pytest.raises(TableError, match="needs its date and confirmed_by"):
        parse_table({"format": "mlops-prices/1", "prices": [row]})


# The command on the real stacks -----------------------------------------------------------


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_DIR)}
    return subprocess.run(
        [sys.executable, "-m", "stacks", *args],
        cwd=PROJECT_DIR,
        env=env,
        text=True,
        capture_output=True,
        timeout=300,
    )


def main_run(capsys: pytest.CaptureFixture[str], *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m stacks ARGS`` called in-process, its exit code and output captured."""
    from stacks.cli import main

    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(["stacks", *args], code, out, err)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_cost_command_on_the_real_stacks(
    stack: str, tmp_path: Path, shared_render, capsys: pytest.CaptureFixture[str]
) -> None:
    """The commands in-process, the stack from the session's render (conftest
    ``shared_render``); the command as a process is the bad-input test below."""
    plan_file = tmp_path / "plan.json"
    assert main_run(capsys, "plan", stack, "--out", str(plan_file)).returncode == 0
    result = main_run(capsys, "cost", stack, "--plan", str(plan_file), "--format", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    regions = {row["region"] for row in report["by_region_capability"]}
    plan = json.loads(plan_file.read_text())
    assert regions == {
        r["region"] for r in plan["resources"] if r.get("custom") and r.get("region")
    }
    assert report["monthly_usd"]["fixed"] > 0 and 0 < report["priced_share"] <= 1
    assert report["unpriced_resources"] == len(
        {i["urn"] for i in report["items"] if i["monthly_usd"] is None}
    )
    assert (report["night_saving"] is None) == (stack == "prod")
    text = main_run(capsys, "cost", stack, "--plan", str(plan_file))
    assert text.returncode == 0 and "Priced:" in text.stdout
    # Rendering the stack (no --plan) prices the same plan (the night saving is from now).
    rendered = main_run(capsys, "cost", stack, "--format", "json")
    assert rendered.returncode == 0
    again = json.loads(rendered.stdout)
    assert {k: v for k, v in again.items() if k != "night_saving"} == {
        k: v for k, v in report.items() if k != "night_saving"
    }
    same = main_run(
        capsys, "cost", "--diff", str(plan_file), str(plan_file), "--format", "markdown"
    )
    assert same.returncode == 0 and "No resource changes" in same.stdout


@pytest.mark.subprocess
def test_cost_command_bad_input_exits_2(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("nope: 1\n")
    result = run(
        "cost",
        "dev",
        "--plan",
        str(PROJECT_DIR / "tests" / "golden" / "plan-dev.json"),
        "--assumptions",
        str(tmp_path / "bad.yaml"),
    )
    assert result.returncode == 2 and "unknown assumption 'nope'" in result.stderr
    assert "Traceback" not in result.stderr
