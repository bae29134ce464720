"""Every stateful resource of both plans has a cross-region copy or a recorded reason why not.

Which types are stateful is read from the plans, not listed here: every type that prod
protects (``protect``/``retain_on_delete`` is how the program marks what holds data), plus
the types the issue names as state (buckets, tables, file systems, repositories, log groups,
keys) and queues (they hold messages). Then every resource of those types, in both plans,
protected or not, must have a copy in another region, seen in the plan:

- a bucket: it is the source of a replication configuration to another region's bucket;
- a DynamoDB table: a replica in every other region of the stack;
- an EFS file system: an EFS replication configuration to another region;

or match one entry of ``stacks.resilience.NO_COPY_REASONS`` (type + name pattern -> reason,
with what AWS guarantees instead). A new stateful resource fails here until it gets one.
"""

from __future__ import annotations

from typing import Any

import pytest

from stacks.config import load_stack_config
from stacks.offline import PROJECT_DIR, Plan
from stacks.resilience import NO_COPY_REASONS, no_copy_reason

ISSUE_STATE_TYPES = {
    "aws:s3/bucket:Bucket",
    "aws:dynamodb/table:Table",
    "aws:efs/fileSystem:FileSystem",
    "aws:ecr/repository:Repository",
    "aws:cloudwatch/logGroup:LogGroup",
    "aws:kms/key:Key",
    "aws:sqs/queue:Queue",
}
#: Types that are the copy mechanism itself (protected because deleting them stops the copy).
COPY_MECHANISMS = {"aws:efs/replicationConfiguration:ReplicationConfiguration"}


def stateful_types(plans: dict[str, Plan]) -> set[str]:
    protected = {
        r["type"]
        for r in plans["prod"].resources
        if r["custom"] and (r["options"]["protect"] or r["options"]["retainOnDelete"])
    }
    return (protected | ISSUE_STATE_TYPES) - COPY_MECHANISMS


def copy_of(plan: Plan, resource: dict[str, Any]) -> str | None:
    """Where ``resource``'s cross-region copy is, as the plan shows it (None: no copy)."""
    typ, region = resource["type"], resource["region"]
    if typ == "aws:s3/bucket:Bucket":
        for config in plan.of_type("aws:s3/bucketReplicationConfig:BucketReplicationConfig"):
            if config["inputs"]["bucket"] != resource["id"]:
                continue
            for rule in config["inputs"]["rules"]:
                target = rule["destination"]["bucket"].removeprefix("arn:aws:s3:::")
                twins = [b for b in plan.of_type(typ) if b["id"] == target]
                if twins and twins[0]["region"] != region:
                    return f"replicated to {target} ({twins[0]['region']})"
        return None
    if typ == "aws:dynamodb/table:Table":
        regions = {r.name for r in load_stack_config(PROJECT_DIR, plan.stack).regions}
        replicas = {r["regionName"] for r in resource["inputs"].get("replicas", [])}
        return (
            f"global table, replicas in {sorted(replicas)}"
            if replicas == regions - {region}
            else None
        )
    if typ == "aws:efs/fileSystem:FileSystem":
        if not load_stack_config(PROJECT_DIR, plan.stack).resilience.standby_pools:
            # The stack's own choice, explained in its stack file (dev: a nightly destroy
            # would leave the replica EFS creates behind).
            return "none: mlops:resilience.standbyPools is false in this stack"
        for config in plan.of_type("aws:efs/replicationConfiguration:ReplicationConfiguration"):
            if config["inputs"]["sourceFileSystemId"] == resource["id"]:
                destination = config["inputs"]["destination"]["region"]
                if destination != region:
                    return f"EFS replication to {destination}"
        return None
    return None


def uncovered(plans: dict[str, Plan]) -> list[tuple[str, str, str]]:
    types = stateful_types(plans)
    missing = []
    for stack, plan in plans.items():
        for resource in plan.resources:
            if resource["type"] not in types:
                continue
            if copy_of(plan, resource) or no_copy_reason(resource["type"], resource["name"]):
                continue
            missing.append((stack, resource["type"], resource["name"]))
    return missing


def test_the_stateful_types_come_from_the_plan(plans: dict[str, Plan]) -> None:
    types = stateful_types(plans)
    # What prod protects is in (the plan decides), beyond the issue's list.
    assert "aws:cloudtrail/trail:Trail" in types
    assert ISSUE_STATE_TYPES <= types


def test_every_stateful_resource_has_a_copy_or_a_recorded_reason(plans: dict[str, Plan]) -> None:
    assert uncovered(plans) == []


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_data_has_copies_not_reasons(plans: dict[str, Plan], stack: str) -> None:
    """The lake zones, the global tables and the shared drive are copied, not excused."""
    plan = plans[stack]
    cfg = load_stack_config(PROJECT_DIR, stack)
    for region in (cfg.primary_region, cfg.secondary_region):
        for zone in cfg.data_lake.zones:
            (bucket,) = [
                b
                for b in plan.in_region(region)
                if b["type"] == "aws:s3/bucket:Bucket" and b["name"] == f"{region}-lake-{zone}"
            ]
            assert copy_of(plan, bucket), bucket["name"]
            assert no_copy_reason(bucket["type"], bucket["name"]) is None
    for table in plan.of_type("aws:dynamodb/table:Table"):
        assert copy_of(plan, table), table["name"]
        assert no_copy_reason(table["type"], table["name"]) is None
    if cfg.resilience.standby_pools:
        for drive in plan.of_type("aws:efs/fileSystem:FileSystem"):
            assert (copy_of(plan, drive) or "").startswith("EFS replication to"), drive["name"]


def test_the_audit_trails_bucket_and_log_group_are_covered(plans: dict[str, Plan]) -> None:
    """The trail's bucket and log group survive the primary's loss by a copy, or the reason
    says what AWS keeps instead (CloudTrail event history in every region)."""
    for plan in plans.values():
        audit = [
            r
            for r in plan.resources
            if r["type"] in ("aws:s3/bucket:Bucket", "aws:cloudwatch/logGroup:LogGroup")
            and "-audit-" in r["name"]
        ]
        assert {r["type"] for r in audit} == {
            "aws:s3/bucket:Bucket",
            "aws:cloudwatch/logGroup:LogGroup",
        }
        for resource in audit:
            reason = no_copy_reason(resource["type"], resource["name"])
            assert copy_of(plan, resource) or (reason and "event history" in reason.reason)


def test_a_stateful_resource_nobody_thought_of_fails(plans: dict[str, Plan]) -> None:
    """The check is not vacuous: a new bucket without replication or reason is reported."""
    stray = {
        "urn": "urn:x",
        "type": "aws:s3/bucket:Bucket",
        "name": "eu-west-1-new-feature-store",
        "id": "eu-west-1-new-feature-store-1234567",
        "region": "eu-west-1",
        "custom": True,
        "inputs": {},
        "options": {"protect": True, "retainOnDelete": True},
    }
    plan = plans["dev"]
    extended = Plan(
        project=plan.project,
        stack=plan.stack,
        resources=[*plan.resources, stray],
        outputs=plan.outputs,
    )
    assert uncovered({"dev": extended, "prod": plans["prod"]}) == [
        ("dev", "aws:s3/bucket:Bucket", "eu-west-1-new-feature-store")
    ]


def test_every_reason_is_used_and_says_what_stands_instead(plans: dict[str, Plan]) -> None:
    used = {
        reason
        for plan in plans.values()
        for r in plan.resources
        if (reason := no_copy_reason(r["type"], r["name"])) is not None
    }
    assert set(NO_COPY_REASONS) == used
    for reason in NO_COPY_REASONS:
        assert len(reason.reason) > 40
