"""The audit trail in both real stack files: one trail, in the primary region, and its alarms."""

from __future__ import annotations

import json
from typing import Any

from parliament import analyze_policy_string

from components.audit import DEPLOY_CHANGE_FILTERS, cis_metric_name, cis_pattern
from policies.check import check, load_plan
from policies.rules import CIS_METRIC_FILTERS
from stacks.config import load_stack_config
from stacks.offline import PROJECT_DIR, Plan

TRAIL = "aws:cloudtrail/trail:Trail"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
FILTER = "aws:cloudwatch/logMetricFilter:LogMetricFilter"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
BUCKET = "aws:s3/bucket:Bucket"


def config_of(plan: Plan):
    return load_stack_config(PROJECT_DIR, plan.stack)


def account_of(plan: Plan) -> str:
    cfg = config_of(plan)
    return cfg.allowed_account_ids[0] if cfg.allowed_account_ids else "123456789012"


def the_trail(plan: Plan) -> dict[str, Any]:
    trails = plan.of_type(TRAIL)
    assert len(trails) == 1
    return trails[0]


def ancestors(plan: Plan, resource: dict[str, Any]) -> list[str]:
    """URNs of the resource's parents, nearest first (up to the stack)."""
    parents = {r["urn"]: r["parent"] for r in plan.resources}
    chain, parent = [], resource["parent"]
    while parent:
        chain.append(parent)
        parent = parents.get(parent)
    return chain


def audit_resources(plan: Plan) -> list[dict[str, Any]]:
    audit = plan.of_type("mlops:audit:Audit")
    assert len(audit) == 1
    return [r for r in plan.resources if audit[0]["urn"] in ancestors(plan, r)]


def test_exactly_one_multi_region_trail_in_the_primary_region(stack_plan: Plan) -> None:
    cfg = config_of(stack_plan)
    trail = the_trail(stack_plan)
    assert trail["region"] == cfg.primary_region
    primary = stack_plan.find("mlops:stacks:RegionalPlatform", cfg.primary_region)
    assert primary["urn"] in ancestors(stack_plan, trail)
    inputs = trail["inputs"]
    assert inputs["name"] == f"mlops-{cfg.environment}-audit"
    assert inputs["isMultiRegionTrail"] is True
    assert inputs["includeGlobalServiceEvents"] is True
    assert inputs["enableLogFileValidation"] is True
    assert inputs["enableLogging"] is True
    key = [k for k in stack_plan.of_type("aws:kms/key:Key") if k["region"] == cfg.primary_region][0]
    assert (
        inputs["kmsKeyId"].endswith(f":key/{key['id']}")
        and f":{cfg.primary_region}:" in inputs["kmsKeyId"]
    )
    (selector,) = inputs["eventSelectors"]
    assert selector["readWriteType"] == "All" and selector["includeManagementEvents"] is True


def test_every_resource_of_the_audit_is_in_the_primary_region(stack_plan: Plan) -> None:
    cfg = config_of(stack_plan)
    custom = [r for r in audit_resources(stack_plan) if r["custom"]]
    assert custom
    assert {r["region"] for r in custom} == {cfg.primary_region}


def test_data_events_cover_the_lake_buckets_of_every_region(stack_plan: Plan) -> None:
    cfg = config_of(stack_plan)
    (selector,) = the_trail(stack_plan)["inputs"]["eventSelectors"]
    (resources,) = selector["dataResources"]
    assert resources["type"] == "AWS::S3::Object"
    expected = [
        f"arn:aws:s3:::{name}/"
        for region in cfg.regions
        for name in stack_plan.outputs["regions"][region.name]["dataLakeBuckets"].values()
    ]
    assert len(expected) == len(cfg.regions) * len(cfg.data_lake.zones)
    assert sorted(resources["values"]) == sorted(expected)


def test_all_cis_alarms_watch_the_trails_log_group_and_notify_the_primary_topic(
    stack_plan: Plan,
) -> None:
    cfg = config_of(stack_plan)
    trail = the_trail(stack_plan)
    group_name = (
        trail["inputs"]["cloudWatchLogsGroupArn"].split(":log-group:")[1].removesuffix(":*")
    )
    groups = [g for g in stack_plan.of_type(LOG_GROUP) if g["id"] == group_name]
    assert len(groups) == 1 and groups[0]["region"] == cfg.primary_region
    # The primary region's alert topic: the stack's own, or its persistent one (dev).
    topic_arn = stack_plan.outputs["regions"][cfg.primary_region]["alertTopicArn"]
    assert topic_arn == cfg.alerts.topic_arn(cfg.primary_region) or topic_arn.startswith(
        f"arn:aws:sns:{cfg.primary_region}:{account_of(stack_plan)}:{cfg.primary_region}-alerts-"
    )
    filters = [f for f in stack_plan.of_type(FILTER) if f["inputs"]["logGroupName"] == group_name]
    assert sorted(f["inputs"]["pattern"] for f in filters) == sorted(
        cis_pattern(c, cfg.iam.deploy_role_arns) for c in CIS_METRIC_FILTERS.values()
    )
    namespace = f"CIS/mlops-{cfg.environment}-audit"
    for cis in CIS_METRIC_FILTERS.values():
        alarms = [
            a
            for a in stack_plan.of_type(ALARM)
            if a["inputs"]["namespace"] == namespace
            and a["inputs"]["metricName"] == cis_metric_name(cis)
        ]
        assert len(alarms) == 1, cis.id
        inputs = alarms[0]["inputs"]
        assert alarms[0]["region"] == cfg.primary_region
        assert inputs["alarmActions"] == [topic_arn] and inputs["okActions"] == [topic_arn]
        assert inputs["treatMissingData"] == "notBreaching"
        assert inputs["threshold"] == 1 and inputs["statistic"] == "Sum" and inputs["period"] == 300


def test_every_log_group_keeps_retention_and_kms_with_the_audit_group(stack_plan: Plan) -> None:
    cfg = config_of(stack_plan)
    keys = {k["region"]: k["id"] for k in stack_plan.of_type("aws:kms/key:Key")}
    groups = stack_plan.of_type(LOG_GROUP)
    assert any(g in audit_resources(stack_plan) for g in groups)
    for group in groups:
        assert group["inputs"]["retentionInDays"] == cfg.log_retention_days
        assert group["inputs"]["kmsKeyId"].endswith(f":key/{keys[group['region']]}")


def test_only_the_primary_key_lets_cloudtrail_in_for_this_trail(stack_plan: Plan) -> None:
    cfg = config_of(stack_plan)
    trail_arn = f"arn:aws:cloudtrail:{cfg.primary_region}:{account_of(stack_plan)}:trail/mlops-{cfg.environment}-audit"
    for key in stack_plan.of_type("aws:kms/key:Key"):
        statements = json.loads(key["inputs"]["policy"])["Statement"]
        cloudtrail = [
            s for s in statements if s["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
        ]
        if key["region"] == cfg.primary_region:
            # Encrypt log files, describe the key, decrypt (the trail bucket uses bucket keys).
            assert sorted(a for s in cloudtrail for a in s["Action"]) == [
                "kms:Decrypt",
                "kms:DescribeKey",
                "kms:GenerateDataKey*",
            ]
            assert {s["Condition"]["StringEquals"]["aws:SourceArn"] for s in cloudtrail} == {
                trail_arn
            }
        else:
            assert cloudtrail == []


def test_trail_bucket_policy_names_the_trail(stack_plan: Plan) -> None:
    cfg = config_of(stack_plan)
    trail = the_trail(stack_plan)
    bucket = [b for b in stack_plan.of_type(BUCKET) if b["id"] == trail["inputs"]["s3BucketName"]][
        0
    ]
    policy = [
        p
        for p in stack_plan.of_type("aws:s3/bucketPolicy:BucketPolicy")
        if p["inputs"]["bucket"] == bucket["id"]
    ][0]
    statements = json.loads(policy["inputs"]["policy"])["Statement"]
    trail_arn = f"arn:aws:cloudtrail:{cfg.primary_region}:{account_of(stack_plan)}:trail/{trail['inputs']['name']}"
    allows = [s for s in statements if s["Effect"] == "Allow"]
    assert {s["Action"] for s in allows} == {"s3:GetBucketAcl", "s3:PutObject"}
    assert all(s["Condition"]["StringEquals"]["aws:SourceArn"] == trail_arn for s in allows)


def test_audit_outputs(stack_plan: Plan) -> None:
    cfg = config_of(stack_plan)
    trail = the_trail(stack_plan)
    out = stack_plan.outputs["audit"]
    assert out["region"] == cfg.primary_region
    assert out["trailName"] == trail["inputs"]["name"]
    assert (
        out["trailArn"]
        == f"arn:aws:cloudtrail:{cfg.primary_region}:{account_of(stack_plan)}:trail/{trail['inputs']['name']}"
    )
    assert out["bucketName"] == trail["inputs"]["s3BucketName"]


def test_prod_protects_the_audit_trail_and_dev_can_destroy_it(
    prod_plan: Plan, dev_plan: Plan
) -> None:
    stateful = (TRAIL, BUCKET, LOG_GROUP)
    for resource in audit_resources(prod_plan):
        if resource["type"] in stateful:
            assert resource["options"]["protect"] and resource["options"]["retainOnDelete"], (
                resource["urn"]
            )
    dev = audit_resources(dev_plan)
    assert not [r for r in dev if r["options"]["protect"]]
    assert {b["inputs"]["forceDestroy"] for b in dev if b["type"] == BUCKET} == {True}


def test_audit_documents_pass_parliament(stack_plan: Plan) -> None:
    """Bucket and role policies of the audit: no findings. The role's trust policy is not an
    identity policy (parliament reports its missing Resource, which trust policies never have)."""
    found = []
    for resource in audit_resources(stack_plan):
        for key in ("policy", "assumeRolePolicy"):
            raw = resource["inputs"].get(key)
            if not isinstance(raw, str):
                continue
            findings = analyze_policy_string(raw, include_community_auditors=True).findings
            issues = {f.issue for f in findings}
            if key == "assumeRolePolicy":
                issues -= {"MALFORMED"}
                assert [f.detail for f in findings if f.issue == "MALFORMED"] in (
                    [],
                    ["Statement contains neither Resource nor NotResource"],
                )
            found += [(resource["name"], issue) for issue in issues]
    assert found == []


def test_policy_pack_passes_the_cloudtrail_and_cis_rules(stack_plan: Plan) -> None:
    result = check(load_plan(stack_plan.to_dict()))
    rules = {
        "cloudtrail-single-trail",
        "cloudtrail-configuration",
        "cloudtrail-management-events",
        "cloudtrail-s3-data-events",
        "cis-metric-filters",
        "logs-retention",
        "logs-kms",
    }
    assert [f"{v.rule}: {v.message}" for v in result.violations if v.rule in rules] == []


def test_the_trail_is_created_only_after_what_cloudtrail_checks(stack_plan: Plan) -> None:
    # CreateTrail checks the bucket policy (InsufficientS3BucketPolicyException), the key
    # policy (InsufficientEncryptionPolicyException) and the log delivery role at once: each
    # grant must exist before the trail that relies on it.
    trail = the_trail(stack_plan)
    depends = set(trail["dependencies"])
    by_urn = {r["urn"]: r for r in stack_plan.resources}
    bucket_name = trail["inputs"]["s3BucketName"]
    (bucket,) = [b for b in stack_plan.of_type(BUCKET) if b["id"] == bucket_name]
    policies = [
        p
        for p in stack_plan.of_type("aws:s3/bucketPolicy:BucketPolicy")
        if p["inputs"]["bucket"] == bucket_name
    ]
    assert len(policies) == 1 and policies[0]["urn"] in depends
    statements = {s["Sid"] for s in json.loads(policies[0]["inputs"]["policy"])["Statement"]}
    assert {"CloudTrailChecksBucketAcl", "CloudTrailWritesLogFiles"} <= statements
    assert bucket["urn"] in depends
    # The key's policy is part of the key resource: the trail waits for the key.
    keys = [by_urn[u] for u in depends if by_urn[u]["type"] == "aws:kms/key:Key"]
    assert len(keys) == 1
    key_statements = {s["Sid"] for s in json.loads(keys[0]["inputs"]["policy"])["Statement"]}
    assert "CloudTrailEncryptsLogFiles" in key_statements
    # The log delivery role and the grant that lets it write the log group.
    role_arn = trail["inputs"]["cloudWatchLogsRoleArn"]
    grants = [by_urn[u] for u in depends if by_urn[u]["type"] == "aws:iam/rolePolicy:RolePolicy"]
    assert len(grants) == 1 and role_arn.endswith(f"/{grants[0]['inputs']['role']}")
    assert any(by_urn[u]["type"] == LOG_GROUP for u in depends)


def test_the_cis_change_filters_ignore_the_configured_deploy_roles(stack_plan: Plan) -> None:
    cfg = config_of(stack_plan)
    assert cfg.iam.deploy_role_arns, "both stacks name their CI deploy role"
    patterns = {
        f["inputs"]["name"].removeprefix("cis-"): f["inputs"]["pattern"]
        for f in stack_plan.of_type(FILTER)
    }
    for cis in CIS_METRIC_FILTERS.values():
        mentions = all(arn in patterns[cis.id] for arn in cfg.iam.deploy_role_arns)
        assert mentions == (cis.id in DEPLOY_CHANGE_FILTERS), cis.id
        assert len(patterns[cis.id]) <= 1024
