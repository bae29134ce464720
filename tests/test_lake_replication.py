"""The lake's replication both ways: time control, metrics, alarms where S3 publishes them.

Component level (two lakes in two regions replicating to each other) and stack level (both
real stack files, and ``mlops:resilience.lakeReplication`` changed in a copy of dev), plus the
settings S3 refuses, reported by key before anything is registered.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws
import pytest
from render_cache import dev_without_service_or_jobs, render_config  # tests/render_cache.py

from components.data_lake import DEFAULT_ZONES, DataLake, DataLakeArgs
from components.data_lake.replication import RTC_MINUTES, ReplicationSettings
from components.kms import RegionKey, RegionKeyArgs
from stacks.config import ConfigError, load_stack_config
from stacks.offline import PROJECT_DIR, Plan, render_components, render_stack

REPLICATION = "aws:s3/bucketReplicationConfig:BucketReplicationConfig"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
BUCKET = "aws:s3/bucket:Bucket"
WEST_TOPIC = "arn:aws:sns:eu-west-1:123456789012:alerts"
CENTRAL_TOPIC = "arn:aws:sns:eu-central-1:123456789012:alerts"


def render_two_way(**settings: Any) -> Plan:
    """A lake in eu-west-1 and one in eu-central-1, replicating to each other."""

    def build(opts: pulumi.ResourceOptions) -> None:
        west = DataLake(
            "west", DataLakeArgs(key=RegionKey("kw", RegionKeyArgs(alias="w"), opts=opts)), opts
        )
        other = pulumi.ResourceOptions(
            providers={"aws": aws.Provider("aws-eu-central-1", region="eu-central-1")}
        )
        central = DataLake(
            "central",
            DataLakeArgs(key=RegionKey("kc", RegionKeyArgs(alias="c"), opts=other)),
            other,
        )
        west.replicate_to(
            central,
            settings=ReplicationSettings(
                source_alerts=WEST_TOPIC, destination_alerts=CENTRAL_TOPIC, **settings
            ),
        )
        central.replicate_to(
            west,
            settings=ReplicationSettings(
                source_alerts=CENTRAL_TOPIC, destination_alerts=WEST_TOPIC, **settings
            ),
        )

    return render_components(build)


@pytest.fixture(scope="module")
def two_way() -> Plan:
    return render_two_way(
        time_control=True, metrics=True, replica_modifications=True, latency_alarm_minutes=20
    )


def bucket_name(plan: Plan, lake: str, zone: str) -> str:
    return str(plan.find(BUCKET, f"{lake}-{zone}")["id"])


# Component --------------------------------------------------------------------------------------


@pytest.mark.parametrize("zone", DEFAULT_ZONES)
def test_both_directions_carry_time_control_metrics_and_replica_modification_sync(
    two_way: Plan, zone: str
) -> None:
    for source, twin, region in (
        ("west", "central", "eu-west-1"),
        ("central", "west", "eu-central-1"),
    ):
        config = two_way.find(REPLICATION, f"{source}-replication-{zone}")
        assert config["region"] == region
        assert config["inputs"]["bucket"] == bucket_name(two_way, source, zone)
        (rule,) = config["inputs"]["rules"]
        assert rule["destination"]["bucket"] == f"arn:aws:s3:::{bucket_name(two_way, twin, zone)}"
        assert rule["destination"]["replicationTime"] == {
            "status": "Enabled",
            "time": {"minutes": RTC_MINUTES},
        }
        assert rule["destination"]["metrics"] == {
            "status": "Enabled",
            "eventThreshold": {"minutes": RTC_MINUTES},
        }
        assert rule["sourceSelectionCriteria"]["replicaModifications"] == {"status": "Enabled"}
        assert rule["deleteMarkerReplication"] == {"status": "Enabled"}


@pytest.mark.parametrize("zone", DEFAULT_ZONES)
def test_each_alarm_is_in_the_region_its_metric_is_published_in(two_way: Plan, zone: str) -> None:
    """ReplicationLatency is published in the destination's region, OperationsFailedReplication
    in the source's: an alarm anywhere else would watch a metric that never arrives."""
    for source, twin, here, there, here_topic, there_topic in (
        ("west", "central", "eu-west-1", "eu-central-1", WEST_TOPIC, CENTRAL_TOPIC),
        ("central", "west", "eu-central-1", "eu-west-1", CENTRAL_TOPIC, WEST_TOPIC),
    ):
        dimensions = {
            "SourceBucket": bucket_name(two_way, source, zone),
            "DestinationBucket": bucket_name(two_way, twin, zone),
            "RuleId": f"replicate-{zone}",
        }
        latency = two_way.find(ALARM, f"{source}-replication-{zone}-latency")
        assert latency["region"] == there
        assert latency["inputs"]["namespace"] == "AWS/S3"
        assert latency["inputs"]["metricName"] == "ReplicationLatency"
        assert latency["inputs"]["dimensions"] == dimensions
        assert latency["inputs"]["statistic"] == "Maximum"
        assert latency["inputs"]["threshold"] == 20 * 60
        assert latency["inputs"]["treatMissingData"] == "ignore"
        assert latency["inputs"]["alarmActions"] == [there_topic]
        failed = two_way.find(ALARM, f"{source}-replication-{zone}-failed")
        assert failed["region"] == here
        assert failed["inputs"]["metricName"] == "OperationsFailedReplication"
        assert failed["inputs"]["dimensions"] == dimensions
        assert failed["inputs"]["statistic"] == "Sum"
        assert failed["inputs"]["comparisonOperator"] == "GreaterThanThreshold"
        assert failed["inputs"]["threshold"] == 0
        assert failed["inputs"]["alarmActions"] == [here_topic]


def test_metrics_without_time_control_carry_no_event_threshold() -> None:
    """S3 refuses "Metrics cannot contain an event threshold when ReplicationTime is not
    specified or Disabled"."""
    plan = render_two_way(metrics=True)
    for config in plan.of_type(REPLICATION):
        (rule,) = config["inputs"]["rules"]
        assert rule["destination"]["metrics"] == {"status": "Enabled"}
        assert "replicationTime" not in rule["destination"]
    assert len(plan.of_type(ALARM)) == 2 * 2 * len(DEFAULT_ZONES)


def test_without_metrics_no_alarm_and_delete_markers_as_chosen() -> None:
    plan = render_two_way(delete_markers=False)
    assert plan.of_type(ALARM) == []
    for config in plan.of_type(REPLICATION):
        (rule,) = config["inputs"]["rules"]
        assert rule["deleteMarkerReplication"] == {"status": "Disabled"}
        assert "metrics" not in rule["destination"]
        assert "replicaModifications" not in rule["sourceSelectionCriteria"]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"time_control": True}, "time_control: S3 Replication Time Control needs metrics=True"),
        ({"latency_alarm_minutes": 0}, "latency_alarm_minutes: 0 must be 1 to 1440"),
        (
            {"metrics": True, "source_alerts": None},
            "source_alerts: give the alert topic the replication alarms notify",
        ),
    ],
)
def test_settings_s3_refuses_are_refused_before_anything_is_registered(
    settings: dict[str, Any], message: str
) -> None:
    errors: list[str] = []

    def build(opts: pulumi.ResourceOptions) -> None:
        key = RegionKey("k", RegionKeyArgs(alias="t"), opts=opts)
        lake = DataLake("a", DataLakeArgs(key=key), opts=opts)
        other = DataLake("b", DataLakeArgs(key=key), opts=opts)
        args = {"source_alerts": WEST_TOPIC, "destination_alerts": WEST_TOPIC, **settings}
        try:
            lake.replicate_to(other, settings=ReplicationSettings(**args))
        except ValueError as exc:
            errors.append(str(exc))

    plan = render_components(build)
    assert len(errors) == 1 and message in errors[0], errors
    assert plan.of_type(REPLICATION) == [] and plan.of_type("mlops:data_lake:LakeReplication") == []


# Stacks -----------------------------------------------------------------------------------------


def test_prod_replicates_both_ways_with_time_control_metrics_and_alarms(prod_plan: Plan) -> None:
    cfg = load_stack_config(PROJECT_DIR, "prod")
    primary, secondary = cfg.primary_region, cfg.secondary_region
    zones = cfg.data_lake.zones
    for source, twin in ((primary, secondary), (secondary, primary)):
        for zone in zones:
            config = prod_plan.find(REPLICATION, f"{source}-lake-replication-{zone}")
            (rule,) = config["inputs"]["rules"]
            assert rule["destination"]["replicationTime"]["status"] == "Enabled"
            assert rule["destination"]["metrics"]["status"] == "Enabled"
            latency = prod_plan.find(ALARM, f"{source}-lake-replication-{zone}-latency")
            failed = prod_plan.find(ALARM, f"{source}-lake-replication-{zone}-failed")
            assert (latency["region"], failed["region"]) == (twin, source)
            assert (
                latency["inputs"]["threshold"]
                == cfg.resilience.lake_replication.latency_alarm_minutes * 60
            )
            # Each to the alert topic of its own region.
            for alarm, region in ((latency, twin), (failed, source)):
                (action,) = alarm["inputs"]["alarmActions"]
                assert action.startswith(f"arn:aws:sns:{region}:")


def test_dev_replicates_both_ways_without_time_control_by_default(dev_plan: Plan) -> None:
    configs = dev_plan.of_type(REPLICATION)
    cfg = load_stack_config(PROJECT_DIR, "dev")
    assert {c["region"] for c in configs} == {cfg.primary_region, cfg.secondary_region}
    for config in configs:
        (rule,) = config["inputs"]["rules"]
        assert "replicationTime" not in rule["destination"]
    assert [a for a in dev_plan.of_type(ALARM) if "-lake-replication-" in a["name"]] == []


def test_dev_can_turn_time_control_on(tmp_path_factory) -> None:
    # dev with time control on (and changes other files check: render_cache).
    config = dev_without_service_or_jobs()
    assert config["mlops:resilience"] == {"lakeReplication": {"timeControl": True}}
    plan = render_config(config, tmp_path_factory)
    assert plan.of_type(REPLICATION)
    for config_resource in plan.of_type(REPLICATION):
        (rule,) = config_resource["inputs"]["rules"]
        assert rule["destination"]["replicationTime"]["status"] == "Enabled"
        assert rule["destination"]["metrics"]["status"] == "Enabled"
    assert len([a for a in plan.of_type(ALARM) if "-lake-replication-" in a["name"]]) == 16


def govcloud(config: dict[str, Any]) -> dict[str, Any]:
    regions = config["mlops:regions"]
    regions[0].update(name="us-gov-west-1", availabilityZones=["us-gov-west-1a", "us-gov-west-1b"])
    regions[1].update(name="us-gov-east-1", availabilityZones=["us-gov-east-1a", "us-gov-east-1b"])
    config.pop("mlops:alerts", None)
    return config


def config_error(project_with, config: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        render_stack("test", project_dir=project_with(config))
    return str(info.value)


def test_time_control_in_govcloud_is_refused_naming_the_key(project_with, stack_config) -> None:
    config = govcloud(stack_config("dev"))
    config["mlops:resilience"] = {"lakeReplication": {"timeControl": True}}
    message = config_error(project_with, config)
    assert "mlops:resilience.lakeReplication.timeControl: true, but S3 Replication Time" in message
    assert "us-gov-west-1" in message and "us-gov-east-1" in message


def test_time_control_off_in_govcloud_is_accepted(project_with, stack_config) -> None:
    config = govcloud(stack_config("dev"))
    config["mlops:resilience"] = {"lakeReplication": {"timeControl": False}}
    from stacks.config import load_stack_file, parse_raw_config

    flat, _ = load_stack_file(project_with(config), "test")
    cfg = parse_raw_config(flat, source="Pulumi.test.yaml", project="mlops-platform")
    assert cfg.resilience.lake_replication.rtc(cfg.is_production) is False


def test_metrics_off_with_time_control_on_is_refused_naming_the_key(
    project_with, stack_config
) -> None:
    config = stack_config("prod")
    config["mlops:resilience"] = {"lakeReplication": {"metrics": False}}
    message = config_error(project_with, config)
    assert "mlops:resilience.lakeReplication.metrics: false, but timeControl is on" in message
