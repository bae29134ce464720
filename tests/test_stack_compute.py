"""Instance pools in both real stack files, and ``mlops:compute`` config errors.

The primary region runs the configured pools under its regional component and provider:
dev one small spot pool in office hours with a shared drive, prod an on-demand pool of two
or more instances in three AZs around the clock with a protected drive. The plans pass the
policy pack; the user data passes ``cloud-init schema``; bad ``mlops:compute`` values are
reported by key.
"""

from __future__ import annotations

import base64
import email
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from render_cache import (  # tests/render_cache.py
    dev_switched_off,
    dev_without_service_or_jobs,
    render_config,
)

from components.compute import (
    DEFAULT_GPU_IMAGE_ID,
    CloudWatchAgentConfig,
    EfsMount,
    StartupScripts,
)
from policies.check import check, load_plan
from stacks.config import ConfigError, PlatformConfig, load_stack_config, parse_raw_config
from stacks.offline import PROJECT_DIR, Plan, render_stack

POOL = "mlops:compute:InstancePool"
LT = "aws:ec2/launchTemplate:LaunchTemplate"
ASG = "aws:autoscaling/group:Group"
SCHEDULE = "aws:autoscaling/schedule:Schedule"
EFS = "aws:efs/fileSystem:FileSystem"
SUBNET = "aws:ec2/subnet:Subnet"
ACCOUNT = "123456789012"
CLOUD_INIT = shutil.which("cloud-init")
needs_cloud_init = pytest.mark.skipif(
    CLOUD_INIT is None, reason="the cloud-init executable is not installed (CI installs it)"
)


def config_of(plan: Plan) -> PlatformConfig:
    return load_stack_config(PROJECT_DIR, plan.stack)


def pool_resources(plan: Plan, typ: str) -> list[dict[str, Any]]:
    """Resources of ``typ`` that belong to an active instance pool (the primary region's; the
    secondary's warm standbys are tests/test_standby_pools.py's)."""
    active = f"{plan.outputs['primaryRegion']}-pool-"
    return [r for r in plan.of_type(typ) if f"{POOL}$" in r["urn"] and r["name"].startswith(active)]


def one(plan: Plan, typ: str) -> dict[str, Any]:
    found = pool_resources(plan, typ)
    assert len(found) == 1, (typ, [r["name"] for r in found])
    return found[0]


def flat(config: dict[str, Any]) -> dict[str, str]:
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}


# Both stacks ------------------------------------------------------------------------------------


def test_pools_run_in_the_primary_region_only_under_its_component(stack_plan: Plan) -> None:
    cfg = config_of(stack_plan)
    primary = cfg.primary_region
    pools = [p for p in stack_plan.of_type(POOL) if p["name"].startswith(f"{primary}-")]

    assert [p["name"] for p in pools] == [
        f"{primary}-pool-{pool.name}" for pool in cfg.compute.pools
    ]
    regional = stack_plan.find("mlops:stacks:RegionalPlatform", primary)
    assert all(p["parent"] == regional["urn"] for p in pools)
    owned = [r for r in stack_plan.resources if f"{POOL}$" in r["urn"] and r["custom"]]
    owned = [r for r in owned if r["name"].startswith(f"{primary}-")]
    assert owned and {r["region"] for r in owned} == {primary}
    # The secondary runs warm standbys only (tests/test_standby_pools.py); others nothing.
    standbys = stack_plan.outputs["regions"][cfg.secondary_region]["instancePools"]
    if cfg.resilience.standby_pools:
        assert standbys and all(out["standby"] for out in standbys.values())
    else:
        assert standbys == {}
    for region in cfg.regions[2:]:
        assert stack_plan.outputs["regions"][region.name]["instancePools"] == {}


def test_launch_template_baseline_in_each_stack(stack_plan: Plan) -> None:
    key = [
        k
        for k in stack_plan.of_type("aws:kms/key:Key")
        if k["region"] == config_of(stack_plan).primary_region
    ][0]
    inputs = one(stack_plan, LT)["inputs"]

    assert inputs["metadataOptions"]["httpTokens"] == "required"
    assert inputs["metadataOptions"]["httpPutResponseHopLimit"] == 1
    [volume] = inputs["blockDeviceMappings"]
    assert volume["ebs"]["encrypted"] == "true" and volume["ebs"]["volumeType"] == "gp3"
    assert volume["ebs"]["kmsKeyId"] == f"arn:aws:kms:{key['region']}:{ACCOUNT}:key/{key['id']}"
    assert inputs["networkInterfaces"][0]["associatePublicIpAddress"] == "false"
    assert "keyName" not in inputs


def test_group_spans_every_private_subnet_of_the_primary_region(stack_plan: Plan) -> None:
    cfg = config_of(stack_plan)
    subnets = {s["id"]: s for s in stack_plan.of_type(SUBNET)}
    zones = one(stack_plan, ASG)["inputs"]["vpcZoneIdentifiers"]

    assert {subnets[z]["inputs"]["tags"]["tier"] for z in zones} == {"private"}
    azs = {subnets[z]["inputs"]["availabilityZone"] for z in zones}
    assert len(azs) == cfg.network.az_count >= 2
    assert all(az.startswith(cfg.primary_region) for az in azs)


def test_alarms_and_log_group_follow_the_stack(stack_plan: Plan) -> None:
    cfg = config_of(stack_plan)
    group = one(stack_plan, ASG)["id"]
    alarms = pool_resources(stack_plan, "aws:cloudwatch/metricAlarm:MetricAlarm")
    # The region's alert topic: a persistent one given by ARN, or the stack's own.
    topic_arn = cfg.alerts.topic_arn(cfg.primary_region) or (
        "arn:aws:sns:{}:{}:{}".format(
            cfg.primary_region,
            ACCOUNT,
            next(
                t["id"]
                for t in stack_plan.of_type("aws:sns/topic:Topic")
                if t["region"] == cfg.primary_region
            ),
        )
    )

    assert sorted(a["name"].rsplit("-", 1)[1] for a in alarms) == ["cpu", "disk", "memory"]
    for alarm in alarms:
        assert alarm["inputs"]["dimensions"] == {"AutoScalingGroupName": group}
        assert alarm["inputs"]["treatMissingData"] == "notBreaching"
        assert alarm["inputs"]["alarmActions"] == [topic_arn]
    log_group = one(stack_plan, "aws:cloudwatch/logGroup:LogGroup")["inputs"]
    assert log_group["retentionInDays"] == cfg.log_retention_days


def test_shared_drive_is_mounted_by_every_instance(stack_plan: Plan) -> None:
    file_system = one(stack_plan, EFS)
    access_point = one(stack_plan, "aws:efs/accessPoint:AccessPoint")
    log_group = one(stack_plan, "aws:cloudwatch/logGroup:LogGroup")
    user_data = base64.b64decode(one(stack_plan, LT)["inputs"]["userData"]).decode()
    region = config_of(stack_plan).primary_region

    assert (
        user_data
        == StartupScripts(
            cloudwatch_agent=CloudWatchAgentConfig(log_group_name=log_group["id"]),
            efs_mount=EfsMount(file_system["id"], access_point["id"], "/mnt/shared", region),
        ).render()
    )
    assert access_point["inputs"]["rootDirectory"]["path"] == "/shared"
    assert (
        len(pool_resources(stack_plan, "aws:efs/mountTarget:MountTarget"))
        == config_of(stack_plan).network.az_count
    )


@needs_cloud_init
@pytest.mark.subprocess
def test_real_pools_user_data_passes_cloud_init_schema(stack_plan: Plan, tmp_path: Path) -> None:
    for index, template in enumerate(pool_resources(stack_plan, LT)):
        message = email.message_from_string(
            base64.b64decode(template["inputs"]["userData"]).decode()
        )
        [part] = [p for p in message.walk() if p.get_content_type() == "text/cloud-config"]
        config = tmp_path / f"cloud-config-{index}.yaml"
        config.write_bytes(part.get_payload(decode=True))

        result = subprocess.run(
            [CLOUD_INIT, "schema", "-c", str(config)], capture_output=True, text=True
        )

        assert result.returncode == 0, result.stdout + result.stderr
        assert "Valid cloud-config" in result.stdout


def test_pool_resources_pass_the_policy_pack(stack_plan: Plan) -> None:
    result = check(load_plan(stack_plan.to_dict()))

    assert [v for v in result.violations if POOL in v.urn] == []
    # The one recorded waiver: an ephemeral stack's shared drive without automatic backups.
    waived = {e.violation.rule for e in result.exemptions if POOL in e.violation.urn}
    assert waived == ({"efs-backup-policy"} if config_of(stack_plan).ephemeral else set())


def test_outputs_name_the_group_role_and_drive(stack_plan: Plan) -> None:
    cfg = config_of(stack_plan)
    out = stack_plan.outputs["regions"][cfg.primary_region]["instancePools"]

    assert sorted(out) == sorted(p.name for p in cfg.compute.pools)
    pool = out["datascience"]
    assert pool["autoScalingGroupName"] == one(stack_plan, ASG)["id"]
    assert pool["fileSystemId"] == one(stack_plan, EFS)["id"]
    assert pool["instanceRoleArn"].startswith(f"arn:aws:iam::{ACCOUNT}:role/")
    assert pool["loadBalancerDnsName"] is None


def test_primary_dashboard_shows_the_pools(stack_plan: Plan) -> None:
    cfg = config_of(stack_plan)
    group = one(stack_plan, ASG)["id"]
    for dashboard in stack_plan.of_type("aws:cloudwatch/dashboard:Dashboard"):
        widgets = json.loads(dashboard["inputs"]["dashboardBody"])["widgets"]
        pools = [
            w["properties"]
            for w in widgets
            if str(w["properties"].get("title", "")).startswith("Pool ")
        ]
        region = dashboard["region"]
        with_pools = [cfg.primary_region]
        if cfg.resilience.standby_pools:
            with_pools.append(cfg.secondary_region)
        if region not in with_pools:
            assert pools == []
            continue
        # The secondary's dashboard shows its standby (idle until a failover).
        assert [w["title"] for w in pools] == [
            f"Pool {region}-pool-datascience: instances",
            f"Pool {region}-pool-datascience: CPU, memory, fullest disk (%)",
        ]
        if region != cfg.primary_region:
            continue
        usage = pools[1]["metrics"]
        assert [m[1] for m in usage] == [
            "cpu_usage_active",
            "mem_used_percent",
            "disk_used_percent",
        ]
        assert all(
            m[0] == "MLOps/Instances" and m[2:4] == ["AutoScalingGroupName", group] for m in usage
        )


# dev and prod --------------------------------------------------------------------------------------


def test_dev_pool_is_small_spot_and_off_outside_office_hours(dev_plan: Plan) -> None:
    group = one(dev_plan, ASG)
    inputs = group["inputs"]
    overrides = inputs["mixedInstancesPolicy"]["launchTemplate"]["overrides"]

    assert [o["instanceType"] for o in overrides] == ["t3.large", "t3a.large"]
    assert (
        inputs["mixedInstancesPolicy"]["instancesDistribution"][
            "onDemandPercentageAboveBaseCapacity"
        ]
        == 0
    )
    assert (inputs["minSize"], inputs["maxSize"], inputs["desiredCapacity"]) == (0, 2, 1)
    assert group["options"]["ignoreChanges"] == ["desiredCapacity", "minSize"]
    schedules = {
        s["name"].rsplit("-", 1)[1]: s["inputs"] for s in pool_resources(dev_plan, SCHEDULE)
    }
    assert {
        k: (v["recurrence"], v["timeZone"], v["desiredCapacity"]) for k, v in schedules.items()
    } == {
        "start": ("0 8 * * MON-FRI", "Europe/Rome", 1),
        "stop": ("0 19 * * MON-FRI", "Europe/Rome", 0),
    }
    # Destroyable: the nightly destroy removes the drive too.
    assert not one(dev_plan, EFS)["options"]["protect"]


def test_prod_pool_is_on_demand_highly_available_and_protected(prod_plan: Plan) -> None:
    group = one(prod_plan, ASG)
    inputs = group["inputs"]

    assert (
        inputs["mixedInstancesPolicy"]["instancesDistribution"][
            "onDemandPercentageAboveBaseCapacity"
        ]
        == 100
    )
    assert inputs["minSize"] >= 2 and inputs["desiredCapacity"] >= 2
    assert len(inputs["mixedInstancesPolicy"]["launchTemplate"]["overrides"]) >= 2
    assert pool_resources(prod_plan, SCHEDULE) == []
    assert group["options"]["ignoreChanges"] == []
    file_system = one(prod_plan, EFS)
    assert file_system["options"]["protect"] and file_system["options"]["retainOnDelete"]


# Other configurations --------------------------------------------------------------------------------


def test_switched_off_compute_builds_no_pool(tmp_path_factory) -> None:
    # dev with mlops:compute.enabled false (and switches other files check: render_cache).
    config = dev_switched_off()
    assert config["mlops:compute"]["enabled"] is False
    plan = render_config(config, tmp_path_factory)

    assert plan.of_type(POOL) == [] and plan.of_type(ASG) == []
    assert all(out["instancePools"] == {} for out in plan.outputs["regions"].values())


def test_cron_schedule_gpu_pool_and_load_balancer_from_config(project_with, stack_config) -> None:
    config = stack_config("dev")
    config["mlops:compute"]["pools"].append(
        {
            "name": "training",
            "instanceTypes": ["g5.xlarge", "g6.xlarge"],
            "gpu": True,
            "spot": True,
            "maxSize": 1,
            "desiredCapacity": 0,
            "imageId": "ami-0123456789abcdef0",
            "schedule": {
                "timezone": "UTC",
                "startCron": "0 6 * * 1-5",
                "stopCron": "30 20 * * 1-5",
            },
            "loadBalancer": {"allowedCidrs": ["10.50.0.0/16"]},
        }
    )
    plan = render_stack("test", project_dir=project_with(config))
    training = [r for r in plan.resources if "eu-west-1-pool-training" in r["urn"]]
    by_type = {r["type"]: r for r in training if r["custom"]}

    assert by_type[LT]["inputs"]["imageId"] == "ami-0123456789abcdef0"
    assert by_type[LT]["inputs"]["blockDeviceMappings"][0]["ebs"]["volumeSize"] == 100
    assert sorted(s["inputs"]["recurrence"] for s in training if s["type"] == SCHEDULE) == [
        "0 6 * * 1-5",
        "30 20 * * 1-5",
    ]
    assert by_type["aws:lb/loadBalancer:LoadBalancer"]["inputs"]["internal"] is True
    # "eu-west-1-pool-training-nlb" plus Pulumi's 8-character suffix exceeds AWS's 32 characters:
    # the load balancer and its target group are named by AWS from short prefixes instead.
    for typ in ("aws:lb/loadBalancer:LoadBalancer", "aws:lb/targetGroup:TargetGroup"):
        inputs = by_type[typ]["inputs"]
        assert "name" not in inputs and 1 <= len(inputs["namePrefix"]) <= 6, typ
    assert by_type[ASG]["inputs"]["healthCheckType"] == "ELB"
    ingress = [
        r
        for r in training
        if r["type"] == "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
    ]
    assert {r["inputs"].get("cidrIpv4") for r in ingress} == {"10.50.0.0/16", None}
    result = check(load_plan(plan.to_dict()))
    # An NLB with TCP listeners only writes no access logs; the pack still asks for them.
    assert {v.rule for v in result.violations if "pool-training" in v.urn} == {"lb-access-logs"}
    assert DEFAULT_GPU_IMAGE_ID.startswith("resolve:ssm:/aws/service/deeplearning/")


def test_defaults_when_the_key_is_absent(stack_config) -> None:
    config = stack_config("dev")
    del config["mlops:compute"]
    compute = parse_raw_config(flat(config)).compute
    assert not compute.enabled and compute.pools == ()
    config["mlops:compute"] = {
        "enabled": True,
        "pools": [{"name": "p", "instanceTypes": ["t3.large", "t3a.large"]}],
    }
    [pool] = parse_raw_config(flat(config)).compute.pools
    assert (pool.min_size, pool.max_size, pool.desired_capacity, pool.spot, pool.efs) == (
        0,
        2,
        1,
        False,
        False,
    )
    assert pool.schedule is None and pool.load_balancer is None and pool.key_name is None


def backup_status(plan: Plan) -> str:
    (policy,) = pool_resources(plan, "aws:efs/backupPolicy:BackupPolicy")
    (file_system,) = pool_resources(plan, EFS)
    assert policy["inputs"]["fileSystemId"] == file_system["id"]
    return str(policy["inputs"]["backupPolicy"]["status"])


def test_dev_shared_drive_leaves_no_backups_behind_and_prod_is_backed_up(
    dev_plan: Plan, prod_plan: Plan
) -> None:
    """AWS Backup keeps each recovery point 35 days, outside the stack: dev, rebuilt every
    day, turns automatic backups off explicitly; prod keeps them."""
    assert backup_status(dev_plan) == "DISABLED"
    assert backup_status(prod_plan) == "ENABLED"


@pytest.mark.parametrize(
    "stack, value, expected",
    [("dev", None, False), ("prod", None, True), ("dev", True, True), ("prod", True, True)],
)
def test_shared_drive_backups_follow_ephemeral_unless_given(
    stack_config, stack: str, value: bool | None, expected: bool
) -> None:
    config = stack_config(stack)
    pool = config["mlops:compute"]["pools"][0]
    pool.pop("efsBackups", None)
    if value is not None:
        pool["efsBackups"] = value
    cfg = parse_raw_config(flat(config))
    assert cfg.compute.pools[0].shared_drive_backups(cfg.ephemeral) is expected


def test_an_ephemeral_stack_without_the_key_renders_no_backups(tmp_path_factory) -> None:
    # dev without the first pool's efsBackups (and changes other files check: render_cache).
    config = dev_without_service_or_jobs()
    assert "efsBackups" not in config["mlops:compute"]["pools"][0]
    plan = render_config(config, tmp_path_factory)
    assert backup_status(plan) == "DISABLED"


# Config errors ------------------------------------------------------------------------------------


def pool_problems(
    stack_config: Callable[[str], dict[str, Any]], stack: str, **changes: Any
) -> list[str]:
    """Problems of the stack file with ``changes`` applied to its first pool."""
    config = stack_config(stack)
    config["mlops:compute"]["pools"][0].update(changes)
    for key, value in list(changes.items()):
        if value is None:
            del config["mlops:compute"]["pools"][0][key]
    with pytest.raises(ConfigError) as info:
        parse_raw_config(flat(config))
    return info.value.problems


P = "mlops:compute.pools[0]"
OFFICE = {
    "timezone": "Europe/Rome",
    "officeHours": {"start": "08:00", "stop": "19:00", "days": "MON-FRI"},
}


@pytest.mark.parametrize(
    "stack, changes, expected",
    [
        (
            "dev",
            {
                "schedule": {
                    "timezone": "Europe/Rome",
                    "startCron": "0 8 * * MON-FRI",
                    "stopCron": "0 25 * * *",
                }
            },
            f"{P}.schedule.stopCron: '0 25 * * *': hour field '25': 25 is outside 0-23",
        ),
        (
            "dev",
            {
                "schedule": {
                    "timezone": "Europe/Rome",
                    "startCron": "0 8 * *",
                    "stopCron": "0 19 * * *",
                }
            },
            f"{P}.schedule.startCron: '0 8 * *' has 4 fields",
        ),
        (
            "dev",
            {"schedule": {"timezone": "Europe/Rome", "startCron": "0 8 * * MON"}},
            f"{P}.schedule: give officeHours, or both startCron and stopCron",
        ),
        (
            "dev",
            {"schedule": {**OFFICE, "startCron": "0 8 * * MON", "stopCron": "0 19 * * MON"}},
            f"{P}.schedule: Only one of [officeHours] and [startCron, stopCron] can be given",
        ),
        (
            "dev",
            {"schedule": {**OFFICE, "timezone": "Europe/Roma"}},
            f"{P}.schedule.timezone: 'Europe/Roma' is not an IANA time zone name",
        ),
        (
            "dev",
            {"schedule": {"timezone": "UTC", "officeHours": {"start": "8am"}}},
            f"{P}.schedule.officeHours.start: '8am' is not a time of day",
        ),
        (
            "dev",
            {"schedule": {"timezone": "UTC", "officeHours": {"start": "19:00", "stop": "08:00"}}},
            f"{P}.schedule.officeHours.stop: '08:00' is not after start '19:00'",
        ),
        (
            "dev",
            {"schedule": {"timezone": "UTC", "officeHours": {"days": "weekdays"}}},
            f"{P}.schedule.officeHours.days: 'weekdays' is not a list of days",
        ),
        (
            "dev",
            {"instanceTypes": ["t3.large", "t3-large"]},
            f"{P}.instanceTypes[1]: 't3-large' is not an EC2 instance type name",
        ),
        (
            "dev",
            {"instanceTypes": ["t3.large"]},
            f"{P}.instanceTypes: 1 type(s) given; list at least 2",
        ),
        (
            "dev",
            {"instanceTypes": ["t3.large", "t3.large"]},
            f"{P}.instanceTypes: ['t3.large'] listed more than once",
        ),
        ("dev", {"gpu": True}, f"{P}.instanceTypes[0]: 't3.large' has no GPU but {P}.gpu is true"),
        ("dev", {"desiredCapacity": -1}, f"{P}.desiredCapacity: -1 is below zero"),
        ("dev", {"minSize": -2}, f"{P}.minSize: -2 is below zero"),
        ("dev", {"minSize": 3}, f"{P}.minSize: 3 is above {P}.maxSize (2)"),
        (
            "dev",
            {"desiredCapacity": 3},
            f"{P}.desiredCapacity: 3 is outside {P}.minSize..{P}.maxSize (0..2)",
        ),
        ("dev", {"maxSize": 0, "desiredCapacity": 0}, f"{P}.maxSize: 0; give at least 1"),
        ("dev", {"volumeSizeGb": 4}, f"{P}.volumeSizeGb: 4 GiB is outside 8..16384"),
        ("dev", {"imageId": "al2023"}, f"{P}.imageId: 'al2023' is not an AMI id"),
        ("dev", {"name": "Data_Science"}, f"{P}.name: 'Data_Science' is not a pool name"),
        (
            "dev",
            {"loadBalancer": {"allowedCidrs": ["10.0.0.0/8"]}},
            f"{P}.loadBalancer: the load balancer health-checks Jupyter on port 8888",
        ),
        (
            "dev",
            {"imageId": "ami-0123456789abcdef0", "loadBalancer": {"allowedCidrs": ["0.0.0.0/0"]}},
            f"{P}.loadBalancer.allowedCidrs[0]: '0.0.0.0/0' admits the whole internet",
        ),
        (
            "dev",
            {"imageId": "ami-0123456789abcdef0", "loadBalancer": {"allowedCidrs": []}},
            f"{P}.loadBalancer.allowedCidrs: is empty",
        ),
        (
            "dev",
            {"instanceType": "t3.large"},
            f"{P}.instanceType: unknown key; did you mean {P}.instanceTypes?",
        ),
        (
            "prod",
            {"minSize": 1, "desiredCapacity": 1},
            f"{P}.minSize: 1 instance(s) in production; keep at least 2",
        ),
        ("prod", {"schedule": OFFICE}, f"{P}.schedule: production pools run around the clock"),
        ("prod", {"efsBackups": False}, f"{P}.efsBackups: false in production"),
        ("dev", {"efs": False}, f"{P}.efsBackups: the pool has no shared drive"),
        ("dev", {"efsBackups": "maybe"}, f"{P}.efsBackups: "),
    ],
)
def test_bad_compute_config_names_the_key(
    stack_config, stack: str, changes: dict[str, Any], expected: str
) -> None:
    problems = pool_problems(stack_config, stack, **changes)

    assert any(p.startswith(expected) for p in problems), problems


def test_duplicate_pool_names_and_enabled_without_pools(stack_config) -> None:
    config = stack_config("dev")
    config["mlops:compute"]["pools"].append(dict(config["mlops:compute"]["pools"][0]))
    with pytest.raises(ConfigError) as info:
        parse_raw_config(flat(config))
    assert (
        "mlops:compute.pools[1].name: 'datascience' is already used by mlops:compute.pools[0]"
        in info.value.problems[0]
    )

    config["mlops:compute"]["pools"] = []
    with pytest.raises(ConfigError) as info:
        parse_raw_config(flat(config))
    assert info.value.problems[0].startswith(
        "mlops:compute.pools: compute is enabled but no pool is listed"
    )


def test_pools_need_two_azs(stack_config) -> None:
    config = stack_config("dev")
    config["mlops:network"]["azCount"] = 1
    with pytest.raises(ConfigError) as info:
        parse_raw_config(flat(config))
    assert any(
        p.startswith("mlops:compute.pools: pools spread over private subnets in at least 2 AZs")
        for p in info.value.problems
    )


def test_every_compute_problem_is_reported_at_once(stack_config) -> None:
    problems = pool_problems(
        stack_config,
        "prod",
        minSize=1,
        desiredCapacity=-1,
        instanceTypes=["m6i.xlarge", "bad"],
        schedule={"timezone": "Nowhere/City", "officeHours": {}},
    )
    keys = {p.split(": ", 1)[0] for p in problems}

    assert {
        f"{P}.minSize",
        f"{P}.desiredCapacity",
        f"{P}.instanceTypes[1]",
        f"{P}.schedule.timezone",
        f"{P}.schedule",
    } <= keys


def test_bad_config_stops_the_cli_with_the_key_and_no_traceback(
    project_with, stack_config, capsys
) -> None:
    """``plan`` run in-process (exit code and output as ``python -m stacks`` gives them;
    tests/test_config_limits.py runs the process itself)."""
    from stacks.cli import main

    config = stack_config("dev")
    config["mlops:compute"]["pools"][0]["instanceTypes"] = ["t3.large", "t3a.LARGE"]
    project = project_with(config)
    code = main(["plan", "test", "--project-dir", str(project)])

    assert code != 0
    captured = capsys.readouterr()
    output = captured.out + captured.err
    assert (
        "mlops:compute.pools[0].instanceTypes[1]: 't3a.LARGE' is not an EC2 instance type name"
        in output
    )
    assert "Traceback" not in output


def test_launched_instances_and_volumes_carry_the_stack_tags(stack_plan) -> None:
    """Auto Scaling launches instances outside Pulumi: without these tags the leftover sweep
    and cost reports would not see them."""
    providers = {
        p["urn"]: json.loads(p["inputs"]["defaultTags"])["tags"]
        for p in stack_plan.of_type("pulumi:providers:aws")
    }
    templates = stack_plan.of_type("aws:ec2/launchTemplate:LaunchTemplate")
    assert templates
    for template in templates:
        expected = providers[template["provider"]]
        specs = template["inputs"]["tagSpecifications"]
        assert [s["resourceType"] for s in specs] == ["instance", "volume", "network-interface"]
        for spec in specs:
            for key, value in expected.items():
                assert spec["tags"][key] == value


def test_pool_groups_carry_every_stack_tag_propagated_at_launch(stack_plan: Plan) -> None:
    """Provider default tags do not reach Auto Scaling groups; without these the sweep would
    not find a group left behind (it lists groups by the stack's tags)."""
    providers = {
        p["urn"]: json.loads(p["inputs"]["defaultTags"])["tags"]
        for p in stack_plan.of_type("pulumi:providers:aws")
    }
    groups = pool_resources(stack_plan, ASG)
    assert groups
    for group in groups:
        tags = {t["key"]: t for t in group["inputs"]["tags"]}
        for key, value in providers[group["provider"]].items():
            assert tags[key]["value"] == value and tags[key]["propagateAtLaunch"] is True, key
        assert tags["Name"]["propagateAtLaunch"] is False
