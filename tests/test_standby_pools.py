"""Warm standby instance pools and the shared drive's replica (issue 12, part B2).

Every pool of ``mlops:compute`` also exists in the secondary region (``mlops:resilience.
standbyPools``, on by default): the same launch template and startup scripts, the Auto Scaling
group at min 0 / desired 0 / max as configured, no schedule actions, its capacity left to
``failover`` (ignored by deployments). With ``efs: true`` the primary's drive is replicated to
the secondary with EFS replication (the secondary's key), and the standby mounts the replica.
Both regions' standby inventories list the pool with the sizes failover scales it to.
"""

from __future__ import annotations

import base64
import email
import json
from typing import Any

import pytest
from pool_render import render  # tests/pool_render.py
from render_cache import prod_latency_without_standby, render_config  # tests/render_cache.py

from components.compute import (
    DriveReplication,
    PoolSchedule,
    SharedFileSystem,
)
from stacks.config import PlatformConfig, load_stack_config, parse_raw_config
from stacks.offline import PROJECT_DIR, Plan, render_stack
from stacks.standby import parse_inventory

POOL = "mlops:compute:InstancePool"
ASG = "aws:autoscaling/group:Group"
SCHEDULE = "aws:autoscaling/schedule:Schedule"
LT = "aws:ec2/launchTemplate:LaunchTemplate"
EFS = "aws:efs/fileSystem:FileSystem"
REPLICATION = "aws:efs/replicationConfiguration:ReplicationConfiguration"
MOUNT_TARGET = "aws:efs/mountTarget:MountTarget"
ACCESS_POINT = "aws:efs/accessPoint:AccessPoint"
BACKUP = "aws:efs/backupPolicy:BackupPolicy"
FS_POLICY = "aws:efs/fileSystemPolicy:FileSystemPolicy"
SUBNET = "aws:ec2/subnet:Subnet"
KEY = "aws:kms/key:Key"
ACCOUNT = "123456789012"
REPLICA_ID = "fs-0123456789abcdef0"
SECONDARY_KEY = f"arn:aws:kms:eu-central-1:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555"


# -- helpers ------------------------------------------------------------------------------------


def only(resources: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(resources) == 1, [r["name"] for r in resources]
    return resources[0]


def in_region(plan: Plan, typ: str, region: str) -> list[dict[str, Any]]:
    return [r for r in plan.of_type(typ) if r["region"] == region]


def user_data(launch_template: dict[str, Any]) -> str:
    raw = base64.b64decode(launch_template["inputs"]["userData"]).decode("utf-8")
    message = email.message_from_string(raw)
    cloud_config = next(p for p in message.walk() if p.get_content_subtype() == "cloud-config")
    return str(cloud_config.get_payload())


def config_of(plan: Plan) -> PlatformConfig:
    return load_stack_config(PROJECT_DIR, plan.stack)


def flat(config: dict[str, Any]) -> dict[str, str]:
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}


# -- component: a standby pool -------------------------------------------------------------------


def test_a_standby_pool_starts_at_zero_and_leaves_its_capacity_to_failover() -> None:
    plan = render(standby=True, min_size=1, max_size=4, desired_capacity=2)
    group = only(plan.of_type(ASG))

    assert (group["inputs"]["minSize"], group["inputs"]["desiredCapacity"]) == (0, 0)
    assert group["inputs"]["maxSize"] == 4
    # A deployment after a failover must not scale the running standby back to zero.
    assert group["options"]["ignoreChanges"] == ["desiredCapacity", "minSize"]
    assert plan.of_type(SCHEDULE) == []


def test_an_active_pool_runs_at_its_sizes_and_deployments_own_them() -> None:
    group = only(render(min_size=1, max_size=4, desired_capacity=2).of_type(ASG))

    assert (group["inputs"]["minSize"], group["inputs"]["desiredCapacity"]) == (1, 2)
    assert group["options"]["ignoreChanges"] == []


def test_a_standby_refuses_a_schedule() -> None:
    with pytest.raises(ValueError, match=r"Only one of \[standby\] and \[schedule\]"):
        render(standby=True, schedule=PoolSchedule.office_hours("Europe/Rome"))


# -- component: replication and the replica ------------------------------------------------------


def test_the_drive_is_replicated_to_the_other_region_with_its_key() -> None:
    plan = render(
        protect=True,
        shared_file_system=SharedFileSystem(
            replication=DriveReplication(region="eu-central-1", key_arn=SECONDARY_KEY)
        ),
    )
    file_system, replication = only(plan.of_type(EFS)), only(plan.of_type(REPLICATION))

    assert replication["inputs"]["sourceFileSystemId"] == file_system["id"]
    assert replication["inputs"]["destination"] == {
        "region": "eu-central-1",
        "kmsKeyId": SECONDARY_KEY,
    }
    assert replication["region"] == "eu-west-1"  # the source's region holds it
    # Deleting it makes the replica writeable: a failover, never a deployment's side effect.
    assert replication["options"]["protect"] is True


def test_without_replication_the_drive_has_no_replica() -> None:
    assert render(shared_file_system=SharedFileSystem()).of_type(REPLICATION) == []


def test_a_standby_mounts_the_replica_and_owns_no_file_system() -> None:
    plan = render(
        standby=True,
        shared_file_system=SharedFileSystem(
            replica_file_system_id=REPLICA_ID, automatic_backups=False
        ),
    )
    access_point = only(plan.of_type(ACCESS_POINT))
    private = {s["id"] for s in plan.of_type(SUBNET) if s["inputs"]["tags"]["tier"] == "private"}
    fs_arn = f"arn:aws:elasticfilesystem:eu-west-1:{ACCOUNT}:file-system/{REPLICA_ID}"

    assert plan.of_type(EFS) == [] and plan.of_type(REPLICATION) == []
    targets = plan.of_type(MOUNT_TARGET)
    assert {t["inputs"]["fileSystemId"] for t in targets} == {REPLICA_ID}
    assert {t["inputs"]["subnetId"] for t in targets} == private
    assert access_point["inputs"]["fileSystemId"] == REPLICA_ID
    assert only(plan.of_type(BACKUP))["inputs"] == {
        "fileSystemId": REPLICA_ID,
        "backupPolicy": {"status": "DISABLED"},
    }
    policy = json.loads(only(plan.of_type(FS_POLICY))["inputs"]["policy"])
    assert {s["Resource"] for s in policy["Statement"]} == {fs_arn}
    mounts = user_data(only(plan.of_type(LT)))
    assert f"{REPLICA_ID}:/ /mnt/shared efs" in mounts
    assert f"accesspoint={access_point['id']}" in mounts


def test_replication_and_a_replica_are_exclusive() -> None:
    spec = SharedFileSystem(
        replication=DriveReplication(region="eu-central-1", key_arn=SECONDARY_KEY),
        replica_file_system_id=REPLICA_ID,
    )

    with pytest.raises(ValueError, match=r"Only one of \[shared_file_system.replication\]"):
        render(shared_file_system=spec)


def test_a_replica_region_must_be_a_region_name() -> None:
    spec = SharedFileSystem(replication=DriveReplication(region="Frankfurt", key_arn=SECONDARY_KEY))

    with pytest.raises(ValueError, match=r"shared_file_system.replication.region: 'Frankfurt'"):
        render(shared_file_system=spec)


# -- both stacks -----------------------------------------------------------------------------------


@pytest.fixture
def standby_plan(stack_plan: Plan) -> Plan:
    """Both stacks run standby pools (dev's destroy deletes the replica EFS made)."""
    return stack_plan


def test_the_secondary_runs_a_standby_of_every_pool_at_zero(standby_plan: Plan) -> None:
    stack_plan = standby_plan
    cfg = config_of(stack_plan)
    secondary, primary = cfg.secondary_region, cfg.primary_region
    regional = stack_plan.find("mlops:stacks:RegionalPlatform", secondary)
    standbys = [p for p in stack_plan.of_type(POOL) if p["parent"] == regional["urn"]]

    assert [p["name"] for p in standbys] == [
        f"{secondary}-pool-{pool.name}" for pool in cfg.compute.pools
    ]
    for pool in cfg.compute.pools:
        group = stack_plan.find(ASG, f"{secondary}-pool-{pool.name}-asg")
        active = stack_plan.find(ASG, f"{primary}-pool-{pool.name}-asg")
        assert group["region"] == secondary
        assert (group["inputs"]["minSize"], group["inputs"]["desiredCapacity"]) == (0, 0)
        assert group["inputs"]["maxSize"] == pool.max_size
        assert group["options"]["ignoreChanges"] == ["desiredCapacity", "minSize"]
        assert active["inputs"]["desiredCapacity"] == pool.desired_capacity
    # The office-hours start would scale the standby up every morning.
    assert in_region(stack_plan, SCHEDULE, secondary) == []
    outputs = stack_plan.outputs["regions"][secondary]["instancePools"]
    assert {name: out["standby"] for name, out in outputs.items()} == {
        pool.name: True for pool in cfg.compute.pools
    }


def test_the_standby_launches_what_the_active_pool_launches(standby_plan: Plan) -> None:
    stack_plan = standby_plan
    cfg = config_of(stack_plan)
    for pool in cfg.compute.pools:
        standby = stack_plan.find(LT, f"{cfg.secondary_region}-pool-{pool.name}-lt")["inputs"]
        active = stack_plan.find(LT, f"{cfg.primary_region}-pool-{pool.name}-lt")["inputs"]
        same = ("imageId", "metadataOptions", "updateDefaultVersion")
        assert {k: standby.get(k) for k in same} == {k: active.get(k) for k in same}
        assert (
            standby["blockDeviceMappings"][0]["ebs"]["volumeSize"]
            == (active["blockDeviceMappings"][0]["ebs"]["volumeSize"])
        )


def test_the_drive_is_replicated_to_the_secondary_with_its_key(standby_plan: Plan) -> None:
    stack_plan = standby_plan
    cfg = config_of(stack_plan)
    primary, secondary = cfg.primary_region, cfg.secondary_region
    source = only(in_region(stack_plan, EFS, primary))
    replication = only(stack_plan.of_type(REPLICATION))
    key = only(in_region(stack_plan, KEY, secondary))

    assert replication["region"] == primary
    assert replication["inputs"]["sourceFileSystemId"] == source["id"]
    assert replication["inputs"]["destination"] == {
        "region": secondary,
        "kmsKeyId": f"arn:aws:kms:{secondary}:{ACCOUNT}:key/{key['id']}",
    }
    assert replication["options"]["protect"] is cfg.protect_stateful
    # No file system of its own in the standby region: it mounts the replica.
    assert in_region(stack_plan, EFS, secondary) == []


def test_the_standby_mounts_the_replica_in_its_private_subnets(standby_plan: Plan) -> None:
    stack_plan = standby_plan
    cfg = config_of(stack_plan)
    secondary = cfg.secondary_region
    replication = only(stack_plan.of_type(REPLICATION))
    targets = in_region(stack_plan, MOUNT_TARGET, secondary)
    private = {
        s["id"]
        for s in in_region(stack_plan, SUBNET, secondary)
        if s["inputs"]["tags"]["tier"] == "private"
    }
    (replica,) = {t["inputs"]["fileSystemId"] for t in targets}

    assert replica != only(stack_plan.of_type(EFS))["id"]
    assert {t["inputs"]["subnetId"] for t in targets} == private
    assert all(replication["urn"] in t["dependencies"] for t in targets)
    access_point = only(in_region(stack_plan, ACCESS_POINT, secondary))
    assert access_point["inputs"]["fileSystemId"] == replica
    [pool] = [p for p in cfg.compute.pools if p.efs]
    mounts = user_data(stack_plan.find(LT, f"{secondary}-pool-{pool.name}-lt"))
    assert f"{replica}:/ /mnt/shared efs" in mounts
    assert f"region={secondary}" in mounts and f"accesspoint={access_point['id']}" in mounts
    # Backed up like the active drive (dev: none, so nightly rebuilds leave no recovery points).
    backups = {
        r["region"]: r["inputs"]["backupPolicy"]["status"] for r in stack_plan.of_type(BACKUP)
    }
    assert backups[secondary] == backups[cfg.primary_region]
    assert only(in_region(stack_plan, BACKUP, secondary))["inputs"]["fileSystemId"] == replica


def test_standby_pools_off_leaves_the_secondary_without_pools(tmp_path_factory) -> None:
    # prod with standbyPools false (and latency routing, which test_entry checks).
    config = prod_latency_without_standby()
    assert config["mlops:resilience"] == {"standbyPools": False}
    plan = render_config(config, tmp_path_factory)
    secondary = parse_raw_config(flat(config)).secondary_region

    assert plan.of_type(REPLICATION) == []
    assert in_region(plan, POOL, secondary) == [] and in_region(plan, ASG, secondary) == []
    assert plan.outputs["regions"][secondary]["instancePools"] == {}
    assert len(plan.of_type(POOL)) == 1


def test_a_standby_without_a_drive_needs_no_replication(project_with, stack_config) -> None:
    config = stack_config("dev")
    config["mlops:resilience"] = {"standbyPools": True}
    config["mlops:compute"]["pools"][0]["efs"] = False
    config["mlops:compute"]["pools"][0].pop("efsBackups")
    plan = render_stack("test", project_dir=project_with(config))

    assert plan.of_type(REPLICATION) == [] and plan.of_type(MOUNT_TARGET) == []
    assert len(plan.of_type(ASG)) == 2


# -- the standby inventory -----------------------------------------------------------------------


def inventories(plan: Plan) -> dict[str, dict[str, Any]]:
    """Every region's standby inventory document, as the plan's SSM parameter holds it."""
    return {
        r["region"]: json.loads(r["inputs"]["insecureValue"])
        for r in plan.of_type("aws:ssm/parameter:Parameter")
        if r["inputs"]["name"].endswith("/failover/inventory")
    }


def test_both_inventories_list_the_pool_with_the_sizes_failover_restores(stack_plan: Plan) -> None:
    plan, documents = stack_plan, inventories(stack_plan)
    cfg = config_of(stack_plan)
    both = [(cfg.primary_region, False)]
    if cfg.resilience.standby_pools:
        both.append((cfg.secondary_region, True))
    else:
        assert documents[cfg.secondary_region]["pools"] == []
    for region, standby in both:
        inventory = parse_inventory(json.dumps(documents[region]))
        assert [p.pool for p in inventory.pools] == [p.name for p in cfg.compute.pools]
        for ref, pool in zip(inventory.pools, cfg.compute.pools, strict=True):
            group = plan.find(ASG, f"{region}-pool-{pool.name}-asg")
            assert ref.auto_scaling_group_name == group["id"]
            assert (ref.min_size, ref.max_size, ref.desired_capacity) == (
                pool.min_size,
                pool.max_size,
                pool.desired_capacity,
            )
            assert ref.standby is standby
    for region in [r.name for r in cfg.regions[2:]]:
        assert documents[region]["pools"] == []
