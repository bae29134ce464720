"""InstancePool: the recorded graph of launch template, Auto Scaling group, schedules, alarms,
shared EFS file system, network load balancer and the instance role; and the pure checks the
stack configuration shares (instance types, cron, time zones, office hours).
"""

from __future__ import annotations

import base64
import dataclasses
import email
import json
import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pulumi
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from parliament import analyze_policy_string
from pool_render import TYPES, render  # tests/pool_render.py

from components.compute import (
    DEFAULT_GPU_IMAGE_ID,
    DEFAULT_IMAGE_ID,
    EBS_KEY_GRANT_OPERATIONS,
    METRIC_CPU_USAGE_ACTIVE,
    METRIC_DISK_USED_PERCENT,
    METRIC_MEM_USED_PERCENT,
    CloudWatchAgentConfig,
    EfsMount,
    InstancePool,
    InstancePoolArgs,
    PoolLoadBalancer,
    PoolSchedule,
    Script,
    SharedFileSystem,
    StartupScripts,
    cron_field_values,
    cron_problem,
    instance_type_problem,
    pool_startup,
    service_linked_role_suffix,
    time_zone_problem,
)
from components.iam import Statement
from components.kms import RegionKey, RegionKeyArgs
from components.monitoring import AlertTopic, AlertTopicArgs
from components.network import Network
from policies.rules import RESOURCE_STAR_ALLOWED
from stacks.offline import Plan, render_components

LT = "aws:ec2/launchTemplate:LaunchTemplate"
ASG = "aws:autoscaling/group:Group"
SCHEDULE = "aws:autoscaling/schedule:Schedule"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
SG = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
EFS = "aws:efs/fileSystem:FileSystem"
MOUNT_TARGET = "aws:efs/mountTarget:MountTarget"
ACCESS_POINT = "aws:efs/accessPoint:AccessPoint"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
SUBNET = "aws:ec2/subnet:Subnet"
CLOUD_INIT = shutil.which("cloud-init")
needs_cloud_init = pytest.mark.skipif(
    CLOUD_INIT is None, reason="the cloud-init executable is not installed (CI installs it)"
)
OFFICE = PoolSchedule.office_hours("Europe/Rome")
FIRST = Script("install-tools", "dnf install -y git")
EVERY = Script("report", "echo booted")


def public_balancer(network: Network) -> PoolLoadBalancer:
    return PoolLoadBalancer(
        allowed_cidrs=["203.0.113.0/24"],
        internet_facing=True,
        public_subnet_ids=network.subnet_ids["public"],
    )


@pytest.fixture(scope="module")
def basic() -> Plan:
    """Defaults: on-demand, no schedule, no file system, no load balancer."""
    return render()


@pytest.fixture(scope="module")
def full() -> Plan:
    """Spot, office hours, shared file system, internal load balancer, scripts, a grant."""
    return render(
        lambda pool, network, key: key.grant_decrypt(pool.role),
        spot=True,
        schedule=OFFICE,
        shared_file_system=SharedFileSystem(),
        load_balancer=PoolLoadBalancer(allowed_cidrs=["10.20.0.0/16", "192.168.10.0/24"]),
        startup=StartupScripts(first_boot=[FIRST], every_boot=[EVERY]),
        min_size=0,
        max_size=3,
        desired_capacity=2,
        grants=[
            lambda role: role.grant(
                "read-models",
                [Statement("ReadModels", ["s3:GetObject"], ["arn:aws:s3:::models/*"])],
            )
        ],
    )


def one(plan: Plan, typ: str) -> dict[str, Any]:
    found = plan.of_type(typ)
    assert len(found) == 1, (typ, [r["name"] for r in found])
    return found[0]


def by_id(plan: Plan, typ: str) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in plan.of_type(typ)}


def private_subnets(plan: Plan) -> list[dict[str, Any]]:
    return [s for s in plan.of_type(SUBNET) if s["inputs"]["tags"]["tier"] == "private"]


def region_key_arn(plan: Plan) -> str:
    key = one(plan, "aws:kms/key:Key")
    return f"arn:aws:kms:eu-west-1:123456789012:key/{key['id']}"


def group_name(plan: Plan) -> str:
    return one(plan, ASG)["id"]


def security_group(plan: Plan, name: str) -> dict[str, Any]:
    return plan.find(SG, name)


def rules_of(plan: Plan, typ: str, group: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in plan.of_type(typ) if r["inputs"]["securityGroupId"] == group["id"]]


def policies_of_role(plan: Plan) -> dict[str, dict[str, Any]]:
    """The instance role's inline policies by purpose (name without the role prefix)."""
    return {
        r["name"].removeprefix("pool-role-"): json.loads(r["inputs"]["policy"])
        for r in plan.of_type(ROLE_POLICY)
        if r["name"].startswith("pool-role-")
    }


# -- launch template ----------------------------------------------------------------------------


def test_launch_template_requires_imdsv2_with_one_hop(basic: Plan) -> None:
    options = one(basic, LT)["inputs"]["metadataOptions"]

    assert options == {
        "httpEndpoint": "enabled",
        "httpTokens": "required",
        "httpPutResponseHopLimit": 1,
        "instanceMetadataTags": "disabled",
    }


def test_hop_limit_two_is_allowed_for_containers() -> None:
    plan = render(metadata_hop_limit=2)

    assert one(plan, LT)["inputs"]["metadataOptions"]["httpPutResponseHopLimit"] == 2


def test_root_volume_is_gp3_encrypted_with_the_region_key(basic: Plan) -> None:
    [mapping] = one(basic, LT)["inputs"]["blockDeviceMappings"]

    assert mapping == {
        "deviceName": "/dev/xvda",
        "ebs": {
            "deleteOnTermination": "true",
            "encrypted": "true",
            "kmsKeyId": region_key_arn(basic),
            "volumeSize": 30,
            "volumeType": "gp3",
        },
    }


def test_no_public_ip_and_only_the_pool_security_group(basic: Plan) -> None:
    [nic] = one(basic, LT)["inputs"]["networkInterfaces"]

    assert nic["associatePublicIpAddress"] == "false"
    assert nic["securityGroups"] == [security_group(basic, "pool-sg")["id"]]
    assert nic["deviceIndex"] == 0


def test_no_key_pair_unless_configured(basic: Plan) -> None:
    assert "keyName" not in one(basic, LT)["inputs"]

    with_key = render(key_name="break-glass")
    assert one(with_key, LT)["inputs"]["keyName"] == "break-glass"


def test_image_is_resolved_from_ssm_at_launch_without_an_invoke(basic: Plan) -> None:
    assert one(basic, LT)["inputs"]["imageId"] == DEFAULT_IMAGE_ID
    assert DEFAULT_IMAGE_ID == (
        "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
    )
    custom = render(image_id="ami-0123456789abcdef0")
    assert one(custom, LT)["inputs"]["imageId"] == "ami-0123456789abcdef0"


def test_gpu_pool_uses_the_deep_learning_image_a_larger_volume_and_gpu_types() -> None:
    plan = render(gpu=True, instance_types=["g5.xlarge", "g6.xlarge", "g4dn.xlarge"])
    inputs = one(plan, LT)["inputs"]

    assert inputs["imageId"] == DEFAULT_GPU_IMAGE_ID
    assert (
        "deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-amazon-linux-2023"
        in DEFAULT_GPU_IMAGE_ID
    )
    assert inputs["blockDeviceMappings"][0]["ebs"]["volumeSize"] == 100
    overrides = one(plan, ASG)["inputs"]["mixedInstancesPolicy"]["launchTemplate"]["overrides"]
    assert [o["instanceType"] for o in overrides] == ["g5.xlarge", "g6.xlarge", "g4dn.xlarge"]


def test_instance_profile_carries_the_pool_role(basic: Plan) -> None:
    profile = one(basic, "aws:iam/instanceProfile:InstanceProfile")
    role = basic.find("aws:iam/role:Role", "pool-role-role")

    assert profile["inputs"]["role"] == role["id"]
    assert one(basic, LT)["inputs"]["iamInstanceProfile"] == {
        "arn": f"arn:aws:iam::123456789012:instance-profile/{profile['id']}"
    }
    trust = json.loads(role["inputs"]["assumeRolePolicy"])["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": "ec2.amazonaws.com"}]


def test_instances_volumes_and_network_interfaces_are_tagged(full: Plan) -> None:
    specs = one(full, LT)["inputs"]["tagSpecifications"]

    assert [(s["resourceType"], s["tags"]["Name"]) for s in specs] == [
        ("instance", "pool-instance"),
        ("volume", "pool-volume"),
        ("network-interface", "pool-network-interface"),
    ]


def test_the_group_carries_the_launched_tags_propagated_to_its_instances() -> None:
    """The provider's default tags never reach an Auto Scaling group: the group carries the
    tags it is given, so the sweep and cost reports see it, and propagates them at launch."""
    launched = {"stack": "dev", "managed-by": "pulumi", "team": "ml", "pool": "overridden"}
    plan = render(tags={"pool": "ds"}, launched_tags=launched)
    group = one(plan, ASG)["inputs"]
    tags = {t["key"]: (t["value"], t["propagateAtLaunch"]) for t in group["tags"]}

    assert tags == {
        "Name": ("pool-asg", False),
        "stack": ("dev", True),
        "managed-by": ("pulumi", True),
        "team": ("ml", True),
        "pool": ("ds", True),
    }
    for spec in one(plan, LT)["inputs"]["tagSpecifications"]:
        assert {k: v for k, v in spec["tags"].items() if k != "Name"} == {
            k: v for k, (v, _) in tags.items() if k != "Name"
        }


# -- user data ----------------------------------------------------------------------------------


def decoded_user_data(plan: Plan) -> str:
    return base64.b64decode(one(plan, LT)["inputs"]["userData"]).decode("utf-8")


def test_user_data_decodes_to_the_startup_scripts_with_the_real_ids(full: Plan) -> None:
    log_group = full.find("aws:cloudwatch/logGroup:LogGroup", "pool-logs")
    file_system, access_point = one(full, EFS), one(full, ACCESS_POINT)
    expected = StartupScripts(
        first_boot=[FIRST],
        every_boot=[EVERY],
        cloudwatch_agent=CloudWatchAgentConfig(log_group_name=log_group["id"]),
        efs_mount=EfsMount(file_system["id"], access_point["id"], "/mnt/shared", "eu-west-1"),
    )

    assert decoded_user_data(full) == expected.render()
    assert log_group["id"].startswith("/mlops/instances/pool-")
    assert f"{file_system['id']}:/ /mnt/shared efs" in decoded_user_data(full)
    assert f"accesspoint={access_point['id']}" in decoded_user_data(full)


def test_without_a_file_system_the_user_data_has_the_agent_only(basic: Plan) -> None:
    log_group = basic.find("aws:cloudwatch/logGroup:LogGroup", "pool-logs")

    assert (
        decoded_user_data(basic)
        == StartupScripts(
            cloudwatch_agent=CloudWatchAgentConfig(log_group_name=log_group["id"])
        ).render()
    )


def cloud_config_part(user_data: str) -> str:
    message = email.message_from_string(user_data)
    [part] = [p for p in message.walk() if p.get_content_type() == "text/cloud-config"]
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode("utf-8")


@needs_cloud_init
@pytest.mark.subprocess
def test_pool_user_data_passes_cloud_init_schema(full: Plan, tmp_path: Path) -> None:
    config = tmp_path / "cloud-config.yaml"
    config.write_text(cloud_config_part(decoded_user_data(full)), encoding="utf-8")

    result = subprocess.run(
        [CLOUD_INIT, "schema", "-c", str(config)], capture_output=True, text=True
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Valid cloud-config" in result.stdout


def test_pool_startup_matches_what_the_constructor_checks() -> None:
    """The render inside the apply and the constructor's early check build the same thing."""
    args = InstancePoolArgs(
        vpc_id="vpc-1",
        subnet_ids=["a", "b"],
        availability_zones=["x", "y"],
        key=None,  # type: ignore[arg-type]
        alerts=None,
        instance_types=TYPES,
        shared_file_system=SharedFileSystem("/data"),  # type: ignore[arg-type]
        startup=StartupScripts(cloudwatch_agent=CloudWatchAgentConfig(namespace="Team/Pool")),
    )
    startup = pool_startup(
        args, "/g", "fs-0123456789abcdef0", "fsap-0123456789abcdef0", "eu-west-1"
    )

    assert startup.cloudwatch_agent == CloudWatchAgentConfig(
        namespace="Team/Pool", log_group_name="/g"
    )
    assert startup.efs_mount == EfsMount(
        "fs-0123456789abcdef0", "fsap-0123456789abcdef0", "/data", "eu-west-1"
    )


# -- Auto Scaling group -------------------------------------------------------------------------


def test_group_spans_the_private_subnets_of_two_azs(basic: Plan) -> None:
    subnets = by_id(basic, SUBNET)
    zones = one(basic, ASG)["inputs"]["vpcZoneIdentifiers"]

    assert sorted(zones) == sorted(s["id"] for s in private_subnets(basic))
    assert {subnets[z]["inputs"]["availabilityZone"] for z in zones} == {"eu-west-1a", "eu-west-1b"}


def test_on_demand_mixed_instances_prefer_the_first_type(basic: Plan) -> None:
    inputs = one(basic, ASG)["inputs"]
    policy = inputs["mixedInstancesPolicy"]

    assert policy["instancesDistribution"] == {
        "onDemandAllocationStrategy": "prioritized",
        "onDemandBaseCapacity": 0,
        "onDemandPercentageAboveBaseCapacity": 100,
    }
    assert [o["instanceType"] for o in policy["launchTemplate"]["overrides"]] == TYPES
    spec = policy["launchTemplate"]["launchTemplateSpecification"]
    assert spec == {"launchTemplateId": one(basic, LT)["id"], "version": "1"}
    assert inputs["capacityRebalance"] is False
    assert (inputs["minSize"], inputs["maxSize"], inputs["desiredCapacity"]) == (0, 2, 1)


def test_spot_pool_uses_price_capacity_optimized_spot_and_rebalancing(full: Plan) -> None:
    inputs = one(full, ASG)["inputs"]

    assert inputs["mixedInstancesPolicy"]["instancesDistribution"] == {
        "onDemandBaseCapacity": 0,
        "onDemandPercentageAboveBaseCapacity": 0,
        "spotAllocationStrategy": "price-capacity-optimized",
    }
    assert inputs["capacityRebalance"] is True
    assert (inputs["minSize"], inputs["maxSize"], inputs["desiredCapacity"]) == (0, 3, 2)


def test_launch_template_changes_trigger_a_rolling_instance_refresh(basic: Plan) -> None:
    inputs = one(basic, ASG)["inputs"]

    assert inputs["instanceRefresh"] == {
        "strategy": "Rolling",
        "preferences": {
            "minHealthyPercentage": 100,
            "maxHealthyPercentage": 200,
            "skipMatching": True,
        },
    }
    # The group follows the template's latest version (not "$Latest"), so a new version
    # changes the group and starts the refresh.
    spec = inputs["mixedInstancesPolicy"]["launchTemplate"]["launchTemplateSpecification"]
    assert spec["version"] != "$Latest"
    assert one(basic, LT)["inputs"]["updateDefaultVersion"] is True


def test_ec2_health_checks_alone_and_elb_health_checks_behind_the_load_balancer(
    basic: Plan, full: Plan
) -> None:
    assert one(basic, ASG)["inputs"]["healthCheckType"] == "EC2"
    assert "targetGroupArns" not in one(basic, ASG)["inputs"]
    inputs = one(full, ASG)["inputs"]
    assert inputs["healthCheckType"] == "ELB"
    assert inputs["healthCheckGracePeriod"] == 600
    [arn] = inputs["targetGroupArns"]
    assert ":targetgroup/8888-" in arn


def test_group_has_its_own_service_linked_role_with_a_grant_on_the_region_key(basic: Plan) -> None:
    role = one(basic, "aws:iam/serviceLinkedRole:ServiceLinkedRole")
    grant = one(basic, "aws:kms/grant:Grant")
    group = one(basic, ASG)
    arn = group["inputs"]["serviceLinkedRoleArn"]

    assert role["inputs"]["awsServiceName"] == "autoscaling.amazonaws.com"
    assert arn.endswith(f"/AWSServiceRoleForAutoScaling_{role['inputs']['customSuffix']}")
    assert grant["inputs"]["granteePrincipal"] == arn
    assert grant["inputs"]["keyId"] == one(basic, "aws:kms/key:Key")["id"]
    assert sorted(grant["inputs"]["operations"]) == sorted(EBS_KEY_GRANT_OPERATIONS)
    # The group waits for the grant: without it no encrypted volume can be created.
    assert grant["urn"] in group["dependencies"]


def test_group_launches_only_once_the_drive_network_and_role_policies_exist(
    basic: Plan, full: Plan
) -> None:
    """The first boot mounts the shared drive (over the NFS rules, through a mount target,
    under the file system policy, with the role's permissions): every one of them must exist
    before the group starts an instance, or the first boot's mount fails."""
    group = one(full, ASG)
    needed = [
        *full.of_type(MOUNT_TARGET),
        one(full, "aws:efs/fileSystemPolicy:FileSystemPolicy"),
        full.find(INGRESS, "pool-efs-nfs-in"),
        full.find(EGRESS, "pool-nfs-out"),
        full.find(EGRESS, "pool-https-out"),
        one(full, "aws:kms/grant:Grant"),
    ]
    needed += [
        r
        for r in full.of_type(ROLE_POLICY)
        if r["name"]
        in (
            "pool-role-session-manager",
            "pool-role-cloudwatch-agent",
            "pool-role-shared-file-system",
            "pool-role-read-models",
        )
    ]
    assert len(needed) == 11
    assert {r["urn"] for r in needed} <= set(group["dependencies"])
    # Without a drive, the role's policies and the key grant still come first.
    basic_group = one(basic, ASG)
    assert {
        r["urn"] for r in basic.of_type(ROLE_POLICY) if r["name"].startswith("pool-role-")
    } <= set(basic_group["dependencies"])


def test_desired_capacity_and_minimum_belong_to_the_schedule_when_there_is_one(
    basic: Plan, full: Plan
) -> None:
    assert one(basic, ASG)["options"]["ignoreChanges"] == []
    assert one(full, ASG)["options"]["ignoreChanges"] == ["desiredCapacity", "minSize"]


# -- schedules ----------------------------------------------------------------------------------


def test_office_hours_scale_to_zero_in_the_evening_and_back_in_the_morning(full: Plan) -> None:
    schedules = {s["name"]: s["inputs"] for s in full.of_type(SCHEDULE)}

    assert schedules == {
        "pool-start": {
            "autoscalingGroupName": group_name(full),
            "scheduledActionName": "pool-start",
            "recurrence": "0 8 * * MON-FRI",
            "timeZone": "Europe/Rome",
            "minSize": 0,
            "maxSize": 3,
            "desiredCapacity": 2,
        },
        "pool-stop": {
            "autoscalingGroupName": group_name(full),
            "scheduledActionName": "pool-stop",
            "recurrence": "0 19 * * MON-FRI",
            "timeZone": "Europe/Rome",
            "minSize": 0,
            "maxSize": 3,
            "desiredCapacity": 0,
        },
    }


def test_without_a_schedule_the_pool_runs_around_the_clock(basic: Plan) -> None:
    assert basic.of_type(SCHEDULE) == []


def _matches(cron: str, moment: datetime) -> bool:
    """Vixie-cron matching with the module's own field parser (day-of-month OR day-of-week
    when both are restricted)."""
    fields = cron.split()
    from components.compute.schedules import _CRON_FIELDS

    sets = [
        cron_field_values(f, lo, hi, names)
        for f, (_, lo, hi, names) in zip(fields, _CRON_FIELDS, strict=True)
    ]
    weekday = (moment.weekday() + 1) % 7  # cron: 0 = Sunday
    dow = sets[4] | ({0} if 7 in sets[4] else set())
    day_ok = (
        (moment.day in sets[2] or weekday in dow)
        if fields[2] != "*" and fields[4] != "*"
        else moment.day in sets[2] and weekday in dow
    )
    return (
        moment.minute in sets[0] and moment.hour in sets[1] and moment.month in sets[3] and day_ok
    )


def running_hours(schedule: PoolSchedule) -> set[tuple[int, int]]:
    """(weekday, hour) pairs of a week in which the pool runs, replaying the two actions
    minute by minute from a Monday (starting stopped, as on Sunday night)."""
    running, hours = False, set()
    moment = datetime(2024, 6, 3)  # a Monday
    for _ in range(7 * 24 * 60):
        if _matches(schedule.start_cron, moment):
            running = True
        if _matches(schedule.stop_cron, moment):
            running = False
        if running:
            hours.add((moment.weekday(), moment.hour))
        moment += timedelta(minutes=1)
    return hours


def test_office_hours_run_on_weekdays_only_between_start_and_stop() -> None:
    hours = running_hours(PoolSchedule.office_hours("Europe/Rome", "08:00", "19:00", "MON-FRI"))

    assert hours == {(day, hour) for day in range(5) for hour in range(8, 19)}


def test_custom_office_hours_and_days() -> None:
    schedule = PoolSchedule.office_hours("UTC", "07:30", "12:15", "MON,WED-THU")

    assert (schedule.start_cron, schedule.stop_cron) == (
        "30 7 * * MON,WED-THU",
        "15 12 * * MON,WED-THU",
    )
    assert {day for day, _ in running_hours(schedule)} == {0, 2, 3}


# -- alarms and notifications ---------------------------------------------------------------------


def test_cpu_memory_and_disk_alarms_on_the_pools_agent_series(full: Plan) -> None:
    alarms = {a["name"]: a["inputs"] for a in full.of_type(ALARM) if a["name"].startswith("pool-")}
    topic = one(full, "aws:sns/topic:Topic")["id"]
    topic_arn = f"arn:aws:sns:eu-west-1:123456789012:{topic}"

    assert {n: (a["metricName"], a["statistic"], a["threshold"]) for n, a in alarms.items()} == {
        "pool-cpu": (METRIC_CPU_USAGE_ACTIVE, "Average", 90),
        "pool-memory": (METRIC_MEM_USED_PERCENT, "Average", 90),
        "pool-disk": (METRIC_DISK_USED_PERCENT, "Maximum", 85),
    }
    for alarm in alarms.values():
        assert alarm["namespace"] == "MLOps/Instances"
        assert alarm["dimensions"] == {"AutoScalingGroupName": group_name(full)}
        # A pool scaled to zero publishes nothing: that silence is not an incident.
        assert alarm["treatMissingData"] == "notBreaching"
        assert alarm["alarmActions"] == alarm["okActions"] == [topic_arn]
        assert alarm["alarmDescription"].startswith("Pool pool: ")


def test_alarms_follow_a_custom_namespace_and_thresholds() -> None:
    plan = render(
        startup=StartupScripts(cloudwatch_agent=CloudWatchAgentConfig(namespace="Team/Pool")),
        cpu_alarm_percent=95,
        disk_alarm_percent=70,
    )
    alarms = {a["name"]: a["inputs"] for a in plan.of_type(ALARM) if a["name"].startswith("pool-")}

    assert {a["namespace"] for a in alarms.values()} == {"Team/Pool"}
    assert alarms["pool-cpu"]["threshold"] == 95 and alarms["pool-disk"]["threshold"] == 70
    policy = policies_of_role(plan)["cloudwatch-agent"]
    [metrics] = [s for s in policy["Statement"] if s["Sid"] == "PublishPoolMetrics"]
    assert metrics["Condition"] == {"StringEquals": {"cloudwatch:namespace": "Team/Pool"}}


def test_auto_scaling_failures_are_forwarded_to_the_alert_topic(basic: Plan) -> None:
    rule = one(basic, "aws:cloudwatch/eventRule:EventRule")
    target = one(basic, "aws:cloudwatch/eventTarget:EventTarget")

    assert json.loads(rule["inputs"]["eventPattern"]) == {
        "source": ["aws.autoscaling"],
        "detail-type": ["EC2 Instance Launch Unsuccessful", "EC2 Instance Terminate Unsuccessful"],
        "detail": {"AutoScalingGroupName": [group_name(basic)]},
    }
    topic = one(basic, "aws:sns/topic:Topic")["id"]
    assert target["inputs"]["arn"] == f"arn:aws:sns:eu-west-1:123456789012:{topic}"
    assert target["inputs"]["rule"].startswith("pool-failures-")


# -- security groups ------------------------------------------------------------------------------


def test_instances_accept_nothing_without_a_load_balancer(basic: Plan) -> None:
    pool_sg = security_group(basic, "pool-sg")

    assert rules_of(basic, INGRESS, pool_sg) == []
    assert "ingress" not in pool_sg["inputs"]
    [https] = rules_of(basic, EGRESS, pool_sg)
    assert (
        https["inputs"]["ipProtocol"],
        https["inputs"]["fromPort"],
        https["inputs"]["toPort"],
    ) == ("tcp", 443, 443)


# -- shared file system ---------------------------------------------------------------------------


def test_file_system_is_encrypted_with_the_region_key_backed_up_and_tiered(full: Plan) -> None:
    file_system = one(full, EFS)
    inputs = file_system["inputs"]

    assert inputs["encrypted"] is True
    assert inputs["kmsKeyId"] == region_key_arn(full)
    assert inputs["lifecyclePolicies"] == [
        {"transitionToIa": "AFTER_30_DAYS"},
        {"transitionToPrimaryStorageClass": "AFTER_1_ACCESS"},
    ]
    backup = one(full, "aws:efs/backupPolicy:BackupPolicy")["inputs"]
    assert backup == {"fileSystemId": file_system["id"], "backupPolicy": {"status": "ENABLED"}}
    assert file_system["options"]["protect"] is False


def test_automatic_backups_can_be_turned_off_explicitly() -> None:
    """For stacks destroyed on a schedule: the policy says DISABLED (recovery points would
    outlive each destroy); the file system itself is unchanged."""
    plan = render(shared_file_system=SharedFileSystem(automatic_backups=False))
    file_system = one(plan, EFS)

    backup = one(plan, "aws:efs/backupPolicy:BackupPolicy")["inputs"]
    assert backup == {"fileSystemId": file_system["id"], "backupPolicy": {"status": "DISABLED"}}
    assert file_system["inputs"]["encrypted"] is True


def test_mount_targets_in_each_private_subnet_admit_nfs_from_the_pool_only(full: Plan) -> None:
    efs_sg, pool_sg = security_group(full, "pool-efs-sg"), security_group(full, "pool-sg")
    targets = full.of_type(MOUNT_TARGET)

    assert sorted(t["inputs"]["subnetId"] for t in targets) == sorted(
        s["id"] for s in private_subnets(full)
    )
    assert all(t["inputs"]["securityGroups"] == [efs_sg["id"]] for t in targets)
    [nfs] = rules_of(full, INGRESS, efs_sg)
    assert nfs["inputs"] == {
        "securityGroupId": efs_sg["id"],
        "referencedSecurityGroupId": pool_sg["id"],
        "description": "NFS from the instances of pool pool",
        "ipProtocol": "tcp",
        "fromPort": 2049,
        "toPort": 2049,
    }
    out = {r["inputs"]["fromPort"]: r["inputs"] for r in rules_of(full, EGRESS, pool_sg)}
    assert out[2049]["referencedSecurityGroupId"] == efs_sg["id"]


def test_access_point_has_a_non_root_path_and_a_posix_user(full: Plan) -> None:
    inputs = one(full, ACCESS_POINT)["inputs"]

    assert inputs["posixUser"] == {"uid": 1000, "gid": 1000}
    assert inputs["rootDirectory"] == {
        "path": "/shared",
        "creationInfo": {"ownerUid": 1000, "ownerGid": 1000, "permissions": "0750"},
    }


def test_file_system_policy_requires_tls_and_the_access_point(full: Plan) -> None:
    file_system, access_point = one(full, EFS), one(full, ACCESS_POINT)
    fs_arn = f"arn:aws:elasticfilesystem:eu-west-1:123456789012:file-system/{file_system['id']}"
    ap_arn = f"arn:aws:elasticfilesystem:eu-west-1:123456789012:access-point/{access_point['id']}"
    role = full.find("aws:iam/role:Role", "pool-role-role")
    policy = json.loads(one(full, "aws:efs/fileSystemPolicy:FileSystemPolicy")["inputs"]["policy"])
    allow, deny = policy["Statement"]

    assert allow["Principal"] == {"AWS": f"arn:aws:iam::123456789012:role/{role['id']}"}
    assert allow["Action"] == ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"]
    assert allow["Resource"] == fs_arn
    assert allow["Condition"]["ArnEquals"] == {"elasticfilesystem:AccessPointArn": ap_arn}
    assert (deny["Effect"], deny["Condition"]) == (
        "Deny",
        {"Bool": {"aws:SecureTransport": "false"}},
    )
    assert "elasticfilesystem:ClientRootAccess" in deny["Action"]
    grant = policies_of_role(full)["shared-file-system"]["Statement"]
    assert grant == [
        {
            "Sid": "MountThroughAccessPoint",
            "Effect": "Allow",
            "Action": ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"],
            "Resource": fs_arn,
            "Condition": {"ArnEquals": {"elasticfilesystem:AccessPointArn": ap_arn}},
        }
    ]


def test_protected_pool_keeps_its_file_system_and_load_balancer() -> None:
    plan = render(
        protect=True,
        shared_file_system=SharedFileSystem(),
        load_balancer=PoolLoadBalancer(allowed_cidrs=["10.20.0.0/16"]),
    )

    assert one(plan, EFS)["options"]["protect"] and one(plan, EFS)["options"]["retainOnDelete"]
    assert (
        one(plan, "aws:lb/loadBalancer:LoadBalancer")["inputs"]["enableDeletionProtection"] is True
    )


# -- load balancer --------------------------------------------------------------------------------


def test_internal_network_load_balancer_admits_jupyter_from_the_allowed_cidrs_only(
    full: Plan,
) -> None:
    lb = one(full, "aws:lb/loadBalancer:LoadBalancer")["inputs"]
    lb_sg, pool_sg = security_group(full, "pool-lb-sg"), security_group(full, "pool-sg")

    assert (lb["loadBalancerType"], lb["internal"]) == ("network", True)
    assert sorted(lb["subnets"]) == sorted(s["id"] for s in private_subnets(full))
    assert lb["securityGroups"] == [lb_sg["id"]]
    ingress = {
        (r["inputs"]["cidrIpv4"], r["inputs"]["fromPort"], r["inputs"]["toPort"])
        for r in rules_of(full, INGRESS, lb_sg)
    }
    assert ingress == {("10.20.0.0/16", 8888, 8888), ("192.168.10.0/24", 8888, 8888)}
    # The instances admit Jupyter from the load balancer's group only, never from a CIDR.
    [from_lb] = rules_of(full, INGRESS, pool_sg)
    assert from_lb["inputs"]["referencedSecurityGroupId"] == lb_sg["id"]
    assert "cidrIpv4" not in from_lb["inputs"] and from_lb["inputs"]["fromPort"] == 8888
    # Nothing anywhere admits the whole internet.
    assert all(r["inputs"].get("cidrIpv4") != "0.0.0.0/0" for r in full.of_type(INGRESS))


def test_targets_stick_to_the_client_and_are_health_checked_over_tcp(full: Plan) -> None:
    group = one(full, "aws:lb/targetGroup:TargetGroup")["inputs"]
    listener = one(full, "aws:lb/listener:Listener")["inputs"]

    assert (group["port"], group["protocol"], group["targetType"]) == (8888, "TCP", "instance")
    assert group["stickiness"] == {"type": "source_ip", "enabled": True}
    assert group["healthCheck"]["protocol"] == "TCP"
    assert (listener["port"], listener["protocol"]) == (8888, "TCP")
    assert listener["defaultActions"][0]["type"] == "forward"


def test_ssh_is_forwarded_only_when_asked_and_an_internet_facing_balancer_uses_public_subnets() -> (
    None
):
    plan = render(
        load_balancer=lambda network: dataclasses.replace(public_balancer(network), ssh=True)
    )
    lb = one(plan, "aws:lb/loadBalancer:LoadBalancer")["inputs"]
    public = sorted(
        s["id"] for s in plan.of_type(SUBNET) if s["inputs"]["tags"]["tier"] == "public"
    )

    assert lb["internal"] is False and sorted(lb["subnets"]) == public
    ports = {
        r["inputs"]["fromPort"] for r in rules_of(plan, INGRESS, security_group(plan, "pool-lb-sg"))
    }
    assert ports == {22, 8888}
    assert sorted(g["inputs"]["port"] for g in plan.of_type("aws:lb/targetGroup:TargetGroup")) == [
        22,
        8888,
    ]


def elb_name_problem(resource: dict[str, Any]) -> str | None:
    """Why AWS (or Pulumi's auto-naming, which appends '-' and 7 characters) would refuse the
    name of a load balancer or target group (at most 32 characters), or None."""
    inputs = resource["inputs"]
    if "name" in inputs:
        return (
            None if len(inputs["name"]) <= 32 else f"name {inputs['name']!r} is over 32 characters"
        )
    if "namePrefix" in inputs:
        prefix = inputs["namePrefix"]
        return (
            None
            if 1 <= len(prefix) <= 6 and not prefix.startswith("-")
            else f"namePrefix {prefix!r}"
        )
    auto = len(resource["name"]) + 8
    return None if auto <= 32 else f"auto-name of {resource['name']!r} has {auto} characters"


def test_load_balancer_and_target_group_names_fit_whatever_the_pool_name() -> None:
    """AWS takes at most 32 characters; the pool's (up to 40 character) name with Pulumi's
    suffix would not fit, so AWS names them from short prefixes."""

    def build(opts: pulumi.ResourceOptions) -> None:
        key = RegionKey("k", RegionKeyArgs(alias="t", services=("logs", "alarms")), opts=opts)
        alerts = AlertTopic("alerts", AlertTopicArgs(key=key), opts=opts)
        InstancePool(
            "ap-southeast-1-pool-data-science-team-a"[:40],
            InstancePoolArgs(
                vpc_id="vpc-1",
                subnet_ids=["subnet-a", "subnet-b"],
                availability_zones=["a", "b"],
                key=key,
                alerts=alerts,
                instance_types=TYPES,
                load_balancer=PoolLoadBalancer(
                    allowed_cidrs=["10.0.0.0/8"], ssh=True, jupyter_port=65535
                ),
            ),
            opts=opts,
        )

    plan = render_components(build)
    balancers = plan.of_type("aws:lb/loadBalancer:LoadBalancer") + plan.of_type(
        "aws:lb/targetGroup:TargetGroup"
    )
    assert len(balancers) == 3
    assert {r["name"]: elb_name_problem(r) for r in balancers} == {
        r["name"]: None for r in balancers
    }
    assert sorted(r["inputs"]["namePrefix"] for r in balancers) == ["22-", "65535-", "pool-"]
    assert all("name" not in r["inputs"] for r in balancers)


# -- the instance role ------------------------------------------------------------------------------


def test_role_has_session_manager_agent_file_system_and_the_given_grants_only(full: Plan) -> None:
    policies = policies_of_role(full)

    assert sorted(policies) == [
        "cloudwatch-agent",
        "kms-decrypt-k",
        "read-models",
        "session-manager",
        "shared-file-system",
    ]
    assert full.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment") == []


def test_session_manager_is_scoped_to_this_accounts_instances(basic: Plan) -> None:
    statements = {s["Sid"]: s for s in policies_of_role(basic)["session-manager"]["Statement"]}

    assert statements["RegisterManagedInstance"]["Action"] == ["ssm:UpdateInstanceInformation"]
    assert (
        statements["RegisterManagedInstance"]["Resource"]
        == "arn:aws:ec2:eu-west-1:123456789012:instance/*"
    )
    assert statements["SessionChannels"]["Resource"] == "*"
    assert all(a.startswith("ssmmessages:") for a in statements["SessionChannels"]["Action"])


def test_agent_writes_its_namespace_and_its_own_log_group_only(basic: Plan) -> None:
    group = basic.find("aws:cloudwatch/logGroup:LogGroup", "pool-logs")
    arn = f"arn:aws:logs:eu-west-1:123456789012:log-group:{group['id']}"
    statements = {s["Sid"]: s for s in policies_of_role(basic)["cloudwatch-agent"]["Statement"]}

    assert statements["PublishPoolMetrics"]["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": "MLOps/Instances"}
    }
    assert statements["ShipStartupLogs"]["Resource"] == [arn, f"{arn}:log-stream:*"]
    assert group["inputs"]["kmsKeyId"] == region_key_arn(basic)
    assert group["inputs"]["retentionInDays"] == 30


def test_no_wildcard_actions_and_resource_star_only_for_allow_listed_actions(full: Plan) -> None:
    for policy in policies_of_role(full).values():
        for statement in policy["Statement"]:
            actions = (
                statement["Action"]
                if isinstance(statement["Action"], list)
                else [statement["Action"]]
            )
            assert all(a != "*" and not a.endswith(":*") for a in actions)
            if statement["Resource"] == "*":
                assert set(actions) <= set(RESOURCE_STAR_ALLOWED), actions


def test_every_document_of_the_pool_passes_parliament(full: Plan) -> None:
    findings = []
    for resource in full.resources:
        text = resource["inputs"].get("policy")
        if not resource["name"].startswith("pool") or not isinstance(text, str):
            continue
        for finding in analyze_policy_string(text, include_community_auditors=True).findings:
            findings.append(f"{resource['name']}: {finding.issue} {finding.detail}")

    assert findings == []
    assert (
        len([r for r in full.resources if r["name"].startswith("pool") and "policy" in r["inputs"]])
        == 6
    )


# -- an existing key and topic (a team's own) --------------------------------------------------------

EXISTING_KEY = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
EXISTING_TOPIC = "arn:aws:sns:eu-west-1:123456789012:team-alerts"


@pytest.fixture(scope="module")
def existing() -> Plan:
    """A pool given an existing key's and an existing topic's ARN, with a shared drive."""
    return render(key=EXISTING_KEY, alerts=EXISTING_TOPIC, shared_file_system=SharedFileSystem())


def test_an_existing_key_encrypts_the_volumes_drive_and_logs_and_is_granted_to_auto_scaling(
    existing: Plan,
) -> None:
    [mapping] = one(existing, LT)["inputs"]["blockDeviceMappings"]
    log_group = existing.find("aws:cloudwatch/logGroup:LogGroup", "pool-logs")
    grant = one(existing, "aws:kms/grant:Grant")

    assert mapping["ebs"]["kmsKeyId"] == EXISTING_KEY
    assert one(existing, EFS)["inputs"]["kmsKeyId"] == EXISTING_KEY
    assert log_group["inputs"]["kmsKeyId"] == EXISTING_KEY
    assert grant["inputs"]["keyId"] == EXISTING_KEY.rsplit("/", 1)[-1]
    assert (
        grant["inputs"]["granteePrincipal"] == one(existing, ASG)["inputs"]["serviceLinkedRoleArn"]
    )
    # The region key of the test's network encrypts nothing of the pool's.
    region_key = region_key_arn(existing)
    assert region_key not in json.dumps(
        [r["inputs"] for r in existing.resources if r["name"].startswith("pool")]
    )


def test_an_existing_topic_receives_the_alarms_and_the_failure_notifications(
    existing: Plan,
) -> None:
    alarms = [a["inputs"] for a in existing.of_type(ALARM) if a["name"].startswith("pool-")]

    assert len(alarms) == 3
    assert all(a["alarmActions"] == a["okActions"] == [EXISTING_TOPIC] for a in alarms)
    assert (
        one(existing, "aws:cloudwatch/eventTarget:EventTarget")["inputs"]["arn"] == EXISTING_TOPIC
    )


def test_the_key_and_topic_may_be_outputs_of_other_resources() -> None:
    def build(opts: pulumi.ResourceOptions) -> None:
        key = RegionKey("k", RegionKeyArgs(alias="t", services=("logs", "alarms")), opts=opts)
        alerts = AlertTopic("alerts", AlertTopicArgs(key=key), opts=opts)
        InstancePool(
            "pool",
            InstancePoolArgs(
                vpc_id="vpc-1",
                subnet_ids=["subnet-a", "subnet-b"],
                availability_zones=["a", "b"],
                key=key.arn,
                alerts=alerts.arn,
                instance_types=TYPES,
            ),
            opts=opts,
        )

    plan = render_components(build)
    [mapping] = one(plan, LT)["inputs"]["blockDeviceMappings"]
    topic = one(plan, "aws:sns/topic:Topic")["id"]

    assert mapping["ebs"]["kmsKeyId"] == region_key_arn(plan)
    assert one(plan, "aws:kms/grant:Grant")["inputs"]["keyId"] == one(plan, "aws:kms/key:Key")["id"]
    assert one(plan, "aws:cloudwatch/eventTarget:EventTarget")["inputs"]["arn"] == (
        f"arn:aws:sns:eu-west-1:123456789012:{topic}"
    )


# -- bad input ------------------------------------------------------------------------------------


def attempt(**fields: Any) -> tuple[str, Plan]:
    """Build a pool with ``fields``; return its error message and what was registered."""
    errors: list[str] = []

    def catching(pool_fields: dict[str, Any]) -> Plan:
        def build(opts: pulumi.ResourceOptions) -> None:
            key = RegionKey("k", RegionKeyArgs(alias="t"), opts=opts)
            alerts = AlertTopic("alerts", AlertTopicArgs(key=key), opts=opts)
            values = {
                "vpc_id": "vpc-1",
                "subnet_ids": ["subnet-a", "subnet-b"],
                "availability_zones": ["eu-west-1a", "eu-west-1b"],
                "key": key,
                "alerts": alerts,
                "instance_types": TYPES,
                **pool_fields,
            }
            try:
                InstancePool("pool", InstancePoolArgs(**values), opts=opts)
            except ValueError as error:
                errors.append(str(error))

        return render_components(build)

    plan = catching(fields)
    assert len(errors) == 1, "no error raised"
    return errors[0], plan


BAD_POOLS = {
    "one-type": ({"instance_types": ["t3.large"]}, "instance_types: 1 given; give at least 2"),
    "bad-type": (
        {"instance_types": ["t3.large", "T3A.Large"]},
        "instance_types[1]: 'T3A.Large' is not an EC2 instance type",
    ),
    "type-without-size": (
        {"instance_types": ["t3", "t3a.large"]},
        "instance_types[0]: 't3' is not",
    ),
    "duplicate-type": (
        {"instance_types": ["t3.large", "t3.large"]},
        "instance_types: lists a type more than once",
    ),
    "gpu-without-gpu-types": (
        {"gpu": True, "instance_types": ["g5.xlarge", "m5.xlarge"]},
        "instance_types[1]: 'm5.xlarge' has no GPU",
    ),
    "negative-desired": (
        {"desired_capacity": -1},
        "desired_capacity: -1 must be a whole number of instances, 0 or more",
    ),
    "min-above-max": (
        {"min_size": 3, "max_size": 2, "desired_capacity": 2},
        "min_size: 3 is above max_size (2)",
    ),
    "desired-above-max": (
        {"desired_capacity": 5},
        "desired_capacity: 5 is outside min_size..max_size (0..2)",
    ),
    "max-zero": ({"max_size": 0, "desired_capacity": 0}, "max_size: 0; give at least 1"),
    "one-az": (
        {"availability_zones": ["eu-west-1a", "eu-west-1a"]},
        "subnet_ids: the subnets cover 1 availability zone(s)",
    ),
    "zones-not-per-subnet": (
        {"availability_zones": ["eu-west-1a", "eu-west-1b", "eu-west-1c"]},
        "availability_zones: 3 given for 2 subnet_ids",
    ),
    "bad-cron": (
        {"schedule": PoolSchedule("Europe/Rome", "0 8 * * MON-FRI", "0 25 * * *")},
        "schedule.stop_cron: '0 25 * * *': hour field '25': 25 is outside 0-23",
    ),
    "quartz-cron": (
        {"schedule": PoolSchedule("UTC", "0 8 ? * MON", "0 19 * * MON")},
        "schedule.start_cron: '0 8 ? * MON': day-of-month field '?'",
    ),
    "six-field-cron": (
        {"schedule": PoolSchedule("UTC", "0 0 8 * * MON", "0 19 * * MON")},
        "schedule.start_cron: '0 0 8 * * MON' has 6 fields",
    ),
    "bad-time-zone": (
        {"schedule": PoolSchedule("Europe/Rom", "0 8 * * *", "0 19 * * *")},
        "schedule.timezone: 'Europe/Rom' is not an IANA time zone name such as 'Europe/Rome' or 'UTC'; did you mean 'Europe/Rome'?",
    ),
    "same-start-and-stop": (
        {"schedule": PoolSchedule("UTC", "0 8 * * *", "0  8 * * *")},
        "schedule.stop_cron: is the same as start_cron",
    ),
    "hop-limit": (
        {"metadata_hop_limit": 3},
        "metadata_hop_limit: 3 must be 1 (instance only) or 2",
    ),
    "image-id": ({"image_id": "amazon-linux"}, "image_id: 'amazon-linux' is not an AMI id"),
    "volume-size": ({"volume_size_gb": 4}, "volume_size_gb: 4 must be 8..16384 GiB"),
    "root-device": ({"root_device_name": "xvda"}, "root_device_name: 'xvda' is not a device"),
    "cidr-everywhere": (
        {"load_balancer": PoolLoadBalancer(allowed_cidrs=["0.0.0.0/0"])},
        "load_balancer.allowed_cidrs[0]: '0.0.0.0/0' admits the whole internet",
    ),
    "cidr-invalid": (
        {"load_balancer": PoolLoadBalancer(allowed_cidrs=["10.0.0.1/8"])},
        "load_balancer.allowed_cidrs[0]: '10.0.0.1/8' is not an IPv4 CIDR block",
    ),
    "cidr-none": (
        {"load_balancer": PoolLoadBalancer(allowed_cidrs=[])},
        "load_balancer.allowed_cidrs: give the IPv4 CIDR blocks",
    ),
    "public-without-subnets": (
        {"load_balancer": PoolLoadBalancer(allowed_cidrs=["10.0.0.0/8"], internet_facing=True)},
        "load_balancer.public_subnet_ids: an internet-facing load balancer needs public subnets",
    ),
    "jupyter-port": (
        {"load_balancer": PoolLoadBalancer(allowed_cidrs=["10.0.0.0/8"], jupyter_port=80)},
        "load_balancer.jupyter_port: 80 must be a port from 1024 to 65535",
    ),
    "efs-root": (
        {"shared_file_system": SharedFileSystem(root_directory="/")},
        "shared_file_system.root_directory: '/' is not a directory below",
    ),
    "efs-root-user": (
        {"shared_file_system": SharedFileSystem(posix_uid=0)},
        "shared_file_system.posix_uid: 0 must be an id from 1",
    ),
    "efs-mount-path": (
        {"shared_file_system": SharedFileSystem(mount_path="/etc")},
        "shared_file_system.mount_path: '/etc' would hide a system directory",
    ),
    "efs-tiering": (
        {"shared_file_system": SharedFileSystem(transition_to_ia_days=10)},
        "shared_file_system.transition_to_ia_days: 10 is not one of",
    ),
    "efs-backups": (
        {"shared_file_system": SharedFileSystem(automatic_backups="no")},  # type: ignore[arg-type]
        "shared_file_system.automatic_backups: 'no' must be true or false",
    ),
    "efs-twice": (
        {
            "shared_file_system": SharedFileSystem(),
            "startup": StartupScripts(
                efs_mount=EfsMount(
                    "fs-0123456789abcdef0", "fsap-0123456789abcdef0", "/mnt/x", "eu-west-1"
                )
            ),
        },
        "Only one of [startup.efs_mount] and [shared_file_system] can be given",
    ),
    "agent-log-group": (
        {"startup": StartupScripts(cloudwatch_agent=CloudWatchAgentConfig(log_group_name="/mine"))},
        "startup.cloudwatch_agent.log_group_name: leave it unset",
    ),
    "alarm-percent": (
        {"memory_alarm_percent": 120},
        "memory_alarm_percent: 120 must be a percentage from 1 to 100",
    ),
    "key-of-another-type": ({"key": 42}, "key: expected a RegionKey or an existing KMS key ARN"),
    "key-alias-arn": (
        {"key": "arn:aws:kms:eu-west-1:123456789012:alias/team"},
        "key: 'arn:aws:kms:eu-west-1:123456789012:alias/team' is an alias ARN",
    ),
    "key-not-an-arn": ({"key": "team-key"}, "key: 'team-key' is not a KMS key ARN"),
    "alerts-of-another-type": (
        {"alerts": 42},
        "alerts: expected an AlertTopic or an existing SNS topic ARN",
    ),
    "alerts-not-a-topic": (
        {"alerts": "arn:aws:sqs:eu-west-1:123456789012:queue"},
        "alerts: 'arn:aws:sqs:eu-west-1:123456789012:queue' is not an SNS topic ARN",
    ),
    "user-data-too-large": (
        {"startup": StartupScripts(first_boot=[Script("big", "x" * 15000)])},
        "startup: invalid StartupScripts (1 problem):\n  - user data: renders to",
    ),
}


@pytest.mark.parametrize(("fields", "expected"), BAD_POOLS.values(), ids=BAD_POOLS.keys())
def test_each_bad_argument_is_a_clear_error_and_nothing_is_registered(
    fields: dict[str, Any], expected: str
) -> None:
    message, plan = attempt(**fields)

    assert message.startswith("invalid InstancePool 'pool' (1 problem):\n  - "), message
    assert expected in message
    assert plan.of_type("mlops:compute:InstancePool") == []
    assert plan.of_type(LT) == [] and plan.of_type(ASG) == []


def test_bad_pool_name_is_refused() -> None:
    def build(opts: pulumi.ResourceOptions) -> None:
        InstancePool(
            "Pool_1", InstancePoolArgs("vpc", ["a", "b"], ["x", "y"], None, None, TYPES), opts=opts
        )  # type: ignore[arg-type]

    with pytest.raises(ValueError, match=r"name: 'Pool_1' must be 1-40 lowercase letters"):
        render_components(build)


def test_every_problem_is_reported_in_one_error() -> None:
    message, _ = attempt(
        instance_types=["t3.large"],
        min_size=3,
        max_size=1,
        desired_capacity=1,
        metadata_hop_limit=0,
        schedule=PoolSchedule("Mars/Olympus", "0 8 * * *", "0 19 * * *"),
    )

    assert message.startswith("invalid InstancePool 'pool' (4 problems):")
    for key in (
        "instance_types",
        "min_size: 3 is above",
        "metadata_hop_limit",
        "schedule.timezone",
    ):
        assert f"  - {key}" in message


def test_a_wrong_key_or_topic_is_reported_with_the_other_problems() -> None:
    message, plan = attempt(key=42, alerts=None, instance_types=["t3.large"])

    assert message.startswith("invalid InstancePool 'pool' (3 problems):")
    for problem in (
        "instance_types: 1 given",
        "key: expected a RegionKey",
        "alerts: expected an AlertTopic",
    ):
        assert f"  - {problem}" in message
    assert [r for r in plan.resources if r["name"].startswith("pool")] == []


# -- pure checks ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "t3.large",
        "t3a.large",
        "g5.xlarge",
        "g4dn.12xlarge",
        "p4d.24xlarge",
        "m7i-flex.large",
        "u-6tb1.metal",
        "c6gn.16xlarge",
    ],
)
def test_instance_type_names_are_accepted(name: str) -> None:
    assert instance_type_problem(name) is None


@pytest.mark.parametrize(
    "name", ["t3", "T3.large", "t3.", ".large", "t3 .large", "t3.large ", "3t.large", "", None, 7]
)
def test_instance_type_non_names_are_refused(name: Any) -> None:
    assert "is not an EC2 instance type name" in str(instance_type_problem(name))


@pytest.mark.parametrize(
    "cron",
    [
        "0 8 * * MON-FRI",
        "30 7 * * 1-5",
        "*/15 8-18 * * MON,WED,FRI",
        "0 0 1 JAN,JUL *",
        "0 19 * * 0,6",
        "5 4 29 2 *",
    ],
)
def test_cron_expressions_auto_scaling_accepts(cron: str) -> None:
    assert cron_problem(cron) is None


@pytest.mark.parametrize(
    ("cron", "expected"),
    [
        ("0 8 * *", "has 4 fields"),
        ("0 60 * * *", "hour field '60': 60 is outside 0-23"),
        ("61 8 * * *", "minute field '61': 61 is outside 0-59"),
        ("0 8 L * *", "day-of-month field 'L': 'L' is not a number"),
        ("0 8 * * 5L", "day-of-week field '5L'"),
        ("0 8 * * MON#2", "day-of-week field 'MON#2'"),
        ("0 8 * * FRI-MON", "range 'FRI-MON' runs backwards"),
        ("0 8 * * MON-", "day-of-week field 'MON-'"),
        ("*/0 8 * * *", "step '0' in '*/0' is not a positive number"),
        ("0 8 * FOO *", "month field 'FOO'"),
        ("0 0 31 2 *", "never fires"),
        ("0 0 30 FEB,APR *", None),
        (None, "is not a cron expression"),
    ],
)
def test_cron_mistakes_are_explained(cron: Any, expected: str | None) -> None:
    problem = cron_problem(cron)
    if expected is None:
        assert problem is None
    else:
        assert problem is not None and expected in problem


def test_time_zones_are_iana_names() -> None:
    assert time_zone_problem("Europe/Rome") is None
    assert time_zone_problem("UTC") is None
    assert time_zone_problem("America/Sao_Paulo") is None
    assert "did you mean 'Asia/Shanghai'" in str(time_zone_problem("Asia/Shangai"))
    for bad in ("localtime", "Factory", "CEST", "+02:00", "", "../etc/passwd"):
        assert "is not an IANA time zone name" in str(time_zone_problem(bad)), bad


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"start": "8:00"}, "start: '8:00' is not a time of day"),
        ({"stop": "24:00"}, "stop: '24:00' is not a time of day"),
        ({"start": "19:00", "stop": "08:00"}, "stop: '08:00' is not after start '19:00'"),
        ({"days": "mon-fri"}, "days: 'mon-fri' is not a list of days"),
        ({"days": "SAT-MON"}, "days: range 'SAT-MON' does not run forward"),
        ({"timezone": "Rome"}, "timezone: 'Rome' is not an IANA time zone"),
    ],
)
def test_office_hours_mistakes_name_the_field(fields: dict[str, str], expected: str) -> None:
    values = {"timezone": "Europe/Rome", **fields}
    with pytest.raises(ValueError) as error:
        PoolSchedule.office_hours(**values)

    assert expected in str(error.value)


def test_service_linked_role_suffix_is_unique_readable_and_short() -> None:
    suffix = service_linked_role_suffix("mlops-platform", "dev", "eu-west-1-pool-datascience")
    long = service_linked_role_suffix(
        "p", "a-very-long-stack-name-indeed", "eu-central-1-pool-" + "x" * 20
    )

    assert suffix.startswith("dev-eu-west-1-pool-datasc")
    assert len(suffix) <= 35 and len(long) <= 35
    assert len("AWSServiceRoleForAutoScaling_" + long) <= 64
    assert suffix == service_linked_role_suffix(
        "mlops-platform", "dev", "eu-west-1-pool-datascience"
    )
    assert suffix != service_linked_role_suffix(
        "mlops-platform", "prod", "eu-west-1-pool-datascience"
    )
    assert suffix != service_linked_role_suffix(
        "other-project", "dev", "eu-west-1-pool-datascience"
    )


@st.composite
def cron_fields(draw: st.DrawFn, low: int, high: int, names: tuple[str, ...]) -> str:
    """A valid Unix cron field: lists of values, forward ranges and steps, names or numbers."""

    def value(number: int) -> str:
        if names and draw(st.booleans()):
            return names[number - low] if number - low < len(names) else str(number)
        return str(number)

    items = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["star", "value", "range"]))
        step = draw(st.one_of(st.none(), st.integers(1, high - low + 1)))
        if kind == "star":
            item = "*"
        elif kind == "value":
            item = value(draw(st.integers(low, high)))
        else:  # a range of two values or more (croniter reads "5-5" as "*")
            first = draw(st.integers(low, high - 1))
            item = f"{value(first)}-{value(draw(st.integers(first + 1, high)))}"
        items.append(item + (f"/{step}" if step and kind != "value" else ""))
    return ",".join(items)


@settings(max_examples=150, deadline=None)
@given(
    minute=cron_fields(0, 59, ()),
    hour=cron_fields(0, 23, ()),
    month=cron_fields(
        1, 12, ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
    ),
    weekday=cron_fields(0, 6, ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")),
)
def test_cron_fields_select_what_croniter_selects(
    minute: str, hour: str, month: str, weekday: str
) -> None:
    """Cross-check with an independent cron implementation (where it is installed)."""
    croniter_module = pytest.importorskip("croniter")
    expression = f"{minute} {hour} * {month} {weekday}"

    assert cron_problem(expression) is None
    expanded = croniter_module.croniter(expression).expanded
    from components.compute.schedules import _CRON_FIELDS

    for text, theirs, (_, low, high, names) in zip(
        expression.split(), expanded, _CRON_FIELDS, strict=False
    ):
        expected = set(range(low, high + 1)) if "*" in theirs else set(theirs)
        ours = cron_field_values(text, low, high, names)
        if high == 7:  # day of week: 0 and 7 are both Sunday
            expected, ours = ({0 if day == 7 else day for day in s} for s in (expected, ours))
        assert ours == expected, (text, ours, theirs)
