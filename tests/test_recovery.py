"""Recovery objectives (stacks/recovery.py): per stack and capability, exported and printed by
``plan``, following the config; and ``mlops:resilience`` mistakes named by their key."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from stacks.config import ConfigError, parse_raw_config
from stacks.offline import PROJECT_DIR
from stacks.recovery import objectives, standby_region


def flat(config: dict[str, Any]) -> dict[str, str]:
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}


def by_capability(config: dict[str, Any]) -> dict[str, Any]:
    cfg = parse_raw_config(flat(config))
    return {o.capability.split(" (")[0]: o for o in objectives(cfg, 90)}


def test_plan_output_states_the_objectives_of_each_stack(stack_plan: Any) -> None:
    recovery = stack_plan.to_dict()["outputs"]["recovery"]
    capabilities = {o["capability"].split(" (")[0] for o in recovery["objectives"]}
    assert {"tables", "data lake objects", "schedules and raw-data triggers"} <= capabilities
    assert recovery["losing"] == "eu-west-1" and recovery["standby"] == "eu-central-1"
    for item in recovery["objectives"]:
        assert item["rpo"] and item["rto"] and item["copy"], item


def test_prod_bounds_lake_loss_by_replication_time_control_and_dev_does_not(
    stack_config: Callable[[str], dict[str, Any]],
) -> None:
    prod = by_capability(stack_config("prod"))
    dev = by_capability(stack_config("dev"))
    assert prod["data lake objects"].rpo.startswith("15 min")
    assert "Replication Time Control" in prod["data lake objects"].copy
    assert "unbounded" in dev["data lake objects"].rpo
    # Turning RTC on in dev changes what is promised.
    config = stack_config("dev")
    config["mlops:resilience"] = {"lakeReplication": {"timeControl": True}}
    assert by_capability(config)["data lake objects"].rpo.startswith("15 min")


def test_tables_promise_about_one_second_and_no_failover_step(
    stack_config: Callable[[str], dict[str, Any]],
) -> None:
    tables = by_capability(stack_config("prod"))["tables"]
    assert "1 s" in tables.rpo and tables.rto.startswith("0")


def test_standby_pools_off_says_there_is_no_copy(
    stack_config: Callable[[str], dict[str, Any]],
) -> None:
    config = stack_config("prod")
    assert "standby pools" in by_capability(config)["instance pools"].copy
    assert "shared drive" in by_capability(config)
    config["mlops:resilience"] = {"standbyPools": False}
    result = by_capability(config)
    assert result["instance pools"].copy.startswith("none")
    assert "shared drive" not in result


def test_active_region_decides_the_failover_target(
    stack_config: Callable[[str], dict[str, Any]],
) -> None:
    config = stack_config("prod")
    config["mlops:resilience"] = {"activeRegion": "eu-central-1"}
    cfg = parse_raw_config(flat(config))
    assert cfg.active_region == "eu-central-1"
    assert standby_region(cfg) == "eu-west-1"
    switch = {o.capability: o for o in objectives(cfg)}["schedules and raw-data triggers"]
    assert "--to eu-west-1" in switch.rto


def test_web_service_rto_follows_the_global_entry(
    stack_config: Callable[[str], dict[str, Any]],
) -> None:
    assert "90 s, automatic" in by_capability(stack_config("prod"))["web service"].rto
    assert "manual" in by_capability(stack_config("dev"))["web service"].rto


@pytest.mark.parametrize(
    ("resilience", "key"),
    [
        ({"activeRegion": "us-east-1"}, "mlops:resilience.activeRegion"),
        (
            {"lakeReplication": {"timeControl": True, "metrics": False}},
            "mlops:resilience.lakeReplication.metrics",
        ),
        ({"lakeReplication": {"latencyAlarmMinutes": 0}}, "mlops:resilience.lakeReplication"),
        ({"standbyPool": True}, "mlops:resilience"),
    ],
)
def test_bad_resilience_settings_name_their_key(
    stack_config: Callable[[str], dict[str, Any]], resilience: dict[str, Any], key: str
) -> None:
    config = stack_config("dev")
    config["mlops:resilience"] = resilience
    with pytest.raises(ConfigError) as info:
        parse_raw_config(flat(config))
    assert any(p.startswith(key) for p in info.value.problems), info.value.problems


def test_readme_table_matches_prod(stack_config: Callable[[str], dict[str, Any]]) -> None:
    """The README's RPO/RTO table is prod's objectives, row for row."""
    readme = (PROJECT_DIR / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Recovery objectives", 1)[1].split("\n#", 1)[0]
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in section.splitlines()
        if line.startswith("| ") and not line.startswith("| Capability")
    ]
    cfg = parse_raw_config(flat(stack_config("prod")))
    expected = [[o.capability, o.copy, o.rpo, o.rto] for o in objectives(cfg, 90)]

    def plain(cells: list[str]) -> list[str]:
        return [c.replace("\\|", "|") for c in cells]

    assert [plain(r) for r in rows] == expected
