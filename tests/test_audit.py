"""Audit: the CloudTrail trail, its bucket and log group, and the CIS filters and alarms."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from parliament import analyze_policy_string

from components.audit import (
    DEPLOY_CHANGE_FILTERS,
    MAX_DATA_EVENT_BUCKETS,
    MAX_FILTER_PATTERN_LENGTH,
    Audit,
    AuditArgs,
    cis_metric_name,
    cis_pattern,
    trail_name_problems,
)
from components.kms import KeyContext, RegionKey, RegionKeyArgs, key_policy
from components.monitoring import AlertTopic, AlertTopicArgs
from policies.check import check, load_plan
from policies.rules import CIS_METRIC_FILTERS
from stacks.offline import Plan, render_components

ACCOUNT = "123456789012"
REGION = "eu-west-1"
TRAIL_NAME = "mlops-test-audit"
TRAIL_ARN = f"arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/{TRAIL_NAME}"
LAKE = ["arn:aws:s3:::lake-raw-bucket", "arn:aws:s3:::lake-curated-bucket"]

TRAIL = "aws:cloudtrail/trail:Trail"
BUCKET = "aws:s3/bucket:Bucket"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
FILTER = "aws:cloudwatch/logMetricFilter:LogMetricFilter"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"

#: The categories the security baseline names (DESIGN.md, CloudWatch row).
CIS_CATEGORIES = {
    "root-account-usage",
    "unauthorized-api-calls",
    "console-login-without-mfa",
    "iam-policy-changes",
    "cloudtrail-changes",
    "console-auth-failures",
    "cmk-disable-or-deletion",
    "s3-bucket-policy-changes",
    "config-changes",
    "security-group-changes",
    "nacl-changes",
    "network-gateway-changes",
    "route-table-changes",
    "vpc-changes",
}


def key_for_trail(opts, trail_name: str = TRAIL_NAME) -> RegionKey:
    return RegionKey(
        "k",
        RegionKeyArgs(
            alias="t", services=("logs", "alarms", "cloudtrail"), cloudtrail_trail_name=trail_name
        ),
        opts=opts,
    )


def render_audit(**overrides: Any) -> Plan:
    def build(opts) -> None:
        key = key_for_trail(opts)
        topic = AlertTopic("alerts", AlertTopicArgs(key=key), opts=opts)
        values: dict[str, Any] = {
            "trail_name": TRAIL_NAME,
            "key": key,
            "alert_topic": topic,
            "log_retention_days": 90,
            "data_event_bucket_arns": LAKE,
        }
        values.update(overrides)
        Audit("audit", AuditArgs(**values), opts=opts)

    return render_components(build)


@pytest.fixture(scope="module")
def plan() -> Plan:
    return render_audit()


def one(plan: Plan, typ: str, name: str | None = None) -> dict[str, Any]:
    found = [r for r in plan.of_type(typ) if name is None or r["name"] == name]
    assert len(found) == 1, (typ, name, len(found))
    return found[0]


def arn_of(resource: dict[str, Any]) -> str:
    """The mock ARN of a recorded resource (stacks/offline.py layout)."""
    typ, ident = resource["type"], resource["id"]
    if typ == BUCKET:
        return f"arn:aws:s3:::{ident}"
    if typ == LOG_GROUP:
        return f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{ident}"
    if typ == "aws:kms/key:Key":
        return f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{ident}"
    if typ == "aws:sns/topic:Topic":
        return f"arn:aws:sns:{REGION}:{ACCOUNT}:{ident}"
    if typ == ROLE:
        return f"arn:aws:iam::{ACCOUNT}:role/{ident}"
    raise KeyError(typ)


def document(resource: dict[str, Any], key: str = "policy") -> dict[str, Any]:
    return json.loads(resource["inputs"][key])


def statements_by_sid(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in doc["Statement"]}


def parliament_findings(doc: dict[str, Any]) -> list[str]:
    findings = analyze_policy_string(json.dumps(doc), include_community_auditors=True).findings
    return [f"{f.issue}: {f.detail}" for f in findings]


def failing_render(build: Callable[[Any], None]) -> tuple[Plan, ValueError]:
    caught: list[ValueError] = []

    def wrapped(opts) -> None:
        try:
            build(opts)
        except ValueError as exc:
            caught.append(exc)

    plan = render_components(wrapped)
    assert len(caught) == 1, "the component did not refuse its arguments"
    return plan, caught[0]


# The trail ------------------------------------------------------------------------------


def test_trail_settings(plan: Plan) -> None:
    trail = one(plan, TRAIL)
    bucket = one(plan, BUCKET, "audit-trail")
    group = one(plan, LOG_GROUP)
    role = one(plan, ROLE)
    key = one(plan, "aws:kms/key:Key")
    assert trail["inputs"] == {
        "name": TRAIL_NAME,
        "s3BucketName": bucket["id"],
        "isMultiRegionTrail": True,
        "includeGlobalServiceEvents": True,
        "enableLogFileValidation": True,
        "enableLogging": True,
        "kmsKeyId": arn_of(key),
        "cloudWatchLogsGroupArn": f"{arn_of(group)}:*",
        "cloudWatchLogsRoleArn": arn_of(role),
        "eventSelectors": [
            {
                "readWriteType": "All",
                "includeManagementEvents": True,
                "dataResources": [
                    {"type": "AWS::S3::Object", "values": [f"{arn}/" for arn in LAKE]}
                ],
            }
        ],
        "tags": {"Name": "audit-trail"},
    }
    # The trail ARN the policies name is the trail's real ARN.
    assert trail["id"] == TRAIL_NAME
    policy = one(plan, BUCKET_POLICY, "audit-trail-policy")
    grant = one(plan, ROLE_POLICY)
    # Created only once CloudTrail can write to both destinations.
    assert policy["urn"] in trail["dependencies"] and grant["urn"] in trail["dependencies"]


def test_without_data_event_buckets_only_management_events_are_recorded() -> None:
    trail = one(render_audit(data_event_bucket_arns=()), TRAIL)
    assert trail["inputs"]["eventSelectors"] == [
        {"readWriteType": "All", "includeManagementEvents": True}
    ]


def test_trail_bucket_is_locked_down_and_only_this_trail_writes(plan: Plan) -> None:
    bucket = one(plan, BUCKET, "audit-trail")
    bucket_arn = arn_of(bucket)
    doc = document(one(plan, BUCKET_POLICY, "audit-trail-policy"))
    sids = statements_by_sid(doc)
    assert set(sids) == {
        "DenyInsecureTransport",
        "CloudTrailChecksBucketAcl",
        "CloudTrailWritesLogFiles",
    }
    assert sids["CloudTrailChecksBucketAcl"] == {
        "Sid": "CloudTrailChecksBucketAcl",
        "Effect": "Allow",
        "Principal": {"Service": "cloudtrail.amazonaws.com"},
        "Action": "s3:GetBucketAcl",
        "Resource": bucket_arn,
        "Condition": {"StringEquals": {"aws:SourceArn": TRAIL_ARN}},
    }
    assert sids["CloudTrailWritesLogFiles"] == {
        "Sid": "CloudTrailWritesLogFiles",
        "Effect": "Allow",
        "Principal": {"Service": "cloudtrail.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": f"{bucket_arn}/AWSLogs/{ACCOUNT}/*",
        "Condition": {
            "StringEquals": {
                "s3:x-amz-acl": "bucket-owner-full-control",
                "aws:SourceArn": TRAIL_ARN,
            }
        },
    }
    assert parliament_findings(doc) == []
    # The SecureBucket baseline, encrypted with the region key, logging to the access-log bucket.
    sse = one(
        plan,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "audit-trail-encryption",
    )
    default = sse["inputs"]["rules"][0]["applyServerSideEncryptionByDefault"]
    assert default == {
        "sseAlgorithm": "aws:kms",
        "kmsMasterKeyId": arn_of(one(plan, "aws:kms/key:Key")),
    }
    pab = one(
        plan, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "audit-trail-public-access"
    )["inputs"]
    assert all(
        pab[f] is True
        for f in (
            "blockPublicAcls",
            "blockPublicPolicy",
            "ignorePublicAcls",
            "restrictPublicBuckets",
        )
    )
    logging = one(plan, "aws:s3/bucketLogging:BucketLogging", "audit-trail-logging")["inputs"]
    log_bucket = one(plan, BUCKET, "audit-access-logs")
    assert logging == {
        "bucket": bucket["id"],
        "targetBucket": log_bucket["id"],
        "targetPrefix": "audit-trail/",
    }


def test_access_log_bucket_takes_logs_of_the_trail_bucket_only(plan: Plan) -> None:
    log_bucket = one(plan, BUCKET, "audit-access-logs")
    trail_bucket = one(plan, BUCKET, "audit-trail")
    doc = document(one(plan, BUCKET_POLICY, "audit-access-logs-policy"))
    sids = statements_by_sid(doc)
    assert sids["S3ServerAccessLogsForTrailBucket"] == {
        "Sid": "S3ServerAccessLogsForTrailBucket",
        "Effect": "Allow",
        "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": f"{arn_of(log_bucket)}/audit-trail/*",
        "Condition": {
            "ArnLike": {"aws:SourceArn": arn_of(trail_bucket)},
            "StringEquals": {"aws:SourceAccount": ACCOUNT},
        },
    }
    assert set(sids) == {"DenyInsecureTransport", "S3ServerAccessLogsForTrailBucket"}
    assert parliament_findings(doc) == []
    sse = one(
        plan,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "audit-access-logs-encryption",
    )
    assert sse["inputs"]["rules"][0]["applyServerSideEncryptionByDefault"] == {
        "sseAlgorithm": "AES256"
    }
    rules = one(
        plan,
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        "audit-access-logs-lifecycle",
    )["inputs"]["rules"]
    assert rules[1]["expiration"]["days"] == 90


def test_an_existing_access_log_bucket_is_used_instead_of_a_new_one() -> None:
    plan = render_audit(access_log_bucket="central-access-logs")
    assert [b["name"] for b in plan.of_type(BUCKET)] == ["audit-trail"]
    logging = one(plan, "aws:s3/bucketLogging:BucketLogging")["inputs"]
    assert logging["targetBucket"] == "central-access-logs"


def test_log_group_has_retention_and_the_region_key(plan: Plan) -> None:
    group = one(plan, LOG_GROUP)
    assert group["inputs"]["retentionInDays"] == 90
    assert group["inputs"]["kmsKeyId"] == arn_of(one(plan, "aws:kms/key:Key"))


def test_delivery_role_may_only_write_to_the_groups_log_streams(plan: Plan) -> None:
    role = one(plan, ROLE)
    trust = document(role, "assumeRolePolicy")
    (statement,) = trust["Statement"]
    assert statement["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"
    grants = plan.of_type(ROLE_POLICY)
    assert [g["name"] for g in grants] == ["audit-trail-delivery-deliver-trail-events"]
    assert not plan.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    doc = document(grants[0])
    assert doc["Statement"] == [
        {
            "Sid": "DeliverTrailEventsToLogGroup",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": f"{arn_of(one(plan, LOG_GROUP))}:log-stream:*",
        }
    ]
    assert parliament_findings(doc) == []


def test_delivery_role_trust_has_no_condition_cloudtrail_cannot_satisfy(plan: Plan) -> None:
    (statement,) = document(one(plan, ROLE), "assumeRolePolicy")["Statement"]
    assert "Condition" not in statement


def test_key_policy_lets_cloudtrail_use_the_key_for_this_trail_only(plan: Plan) -> None:
    doc = document(one(plan, "aws:kms/key:Key"))
    sids = statements_by_sid(doc)
    assert sids["CloudTrailEncryptsLogFiles"] == {
        "Sid": "CloudTrailEncryptsLogFiles",
        "Effect": "Allow",
        "Principal": {"Service": "cloudtrail.amazonaws.com"},
        "Action": ["kms:GenerateDataKey*"],
        "Resource": "*",
        "Condition": {
            "StringEquals": {"aws:SourceArn": TRAIL_ARN},
            "StringLike": {
                "kms:EncryptionContext:aws:cloudtrail:arn": f"arn:aws:cloudtrail:*:{ACCOUNT}:trail/*"
            },
        },
    }
    assert sids["CloudTrailDescribesKey"] == {
        "Sid": "CloudTrailDescribesKey",
        "Effect": "Allow",
        "Principal": {"Service": "cloudtrail.amazonaws.com"},
        "Action": ["kms:DescribeKey"],
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:SourceArn": TRAIL_ARN}},
    }


def test_key_policy_lets_cloudtrail_decrypt_because_the_trail_bucket_uses_bucket_keys(
    plan: Plan,
) -> None:
    """CloudTrail's own docs: with an S3 Bucket Key on the trail bucket, CreateTrail/UpdateTrail
    need kms:Decrypt for CloudTrail (else InsufficientEncryptionPolicyException)."""
    sse = one(
        plan,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "audit-trail-encryption",
    )
    assert sse["inputs"]["rules"][0]["bucketKeyEnabled"] is True
    sids = statements_by_sid(document(one(plan, "aws:kms/key:Key")))
    assert sids["CloudTrailDecryptsForBucketKey"] == {
        "Sid": "CloudTrailDecryptsForBucketKey",
        "Effect": "Allow",
        "Principal": {"Service": "cloudtrail.amazonaws.com"},
        "Action": ["kms:Decrypt"],
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:SourceArn": TRAIL_ARN}},
    }


def test_key_policy_without_cloudtrail_has_no_cloudtrail_statement() -> None:
    doc = key_policy(KeyContext("aws", REGION, ACCOUNT), ("logs", "alarms"))
    assert not [s for s in doc["Statement"] if "cloudtrail" in json.dumps(s.get("Principal"))]


@pytest.mark.parametrize(
    "services, trail_name",
    [(("logs", "cloudtrail"), None), (("logs",), "some-trail")],
)
def test_region_key_needs_a_trail_name_exactly_with_cloudtrail(services, trail_name) -> None:
    plan, error = failing_render(
        lambda opts: RegionKey(
            "k",
            RegionKeyArgs(alias="t", services=services, cloudtrail_trail_name=trail_name),
            opts=opts,
        )
    )
    assert "cloudtrail_trail_name: give it exactly when services has 'cloudtrail'" in str(error)
    assert plan.of_type("aws:kms/key:Key") == []


def test_key_policy_refuses_cloudtrail_without_a_trail_name() -> None:
    with pytest.raises(ValueError, match="'cloudtrail' needs the trail's name"):
        key_policy(KeyContext("aws", REGION, ACCOUNT), ("cloudtrail",))


# CIS metric filters and alarms ----------------------------------------------------------


def test_cis_registry_covers_every_baseline_category() -> None:
    assert set(CIS_METRIC_FILTERS) == CIS_CATEGORIES


def test_every_cis_filter_has_the_canonical_pattern_and_an_alarm_to_the_topic(plan: Plan) -> None:
    group = one(plan, LOG_GROUP)
    topic_arn = arn_of(one(plan, "aws:sns/topic:Topic"))
    filters = {f["name"]: f for f in plan.of_type(FILTER)}
    alarms = {a["name"]: a for a in plan.of_type(ALARM)}
    assert len(filters) == len(alarms) == len(CIS_METRIC_FILTERS)
    namespace = f"CIS/{TRAIL_NAME}"
    for cis in CIS_METRIC_FILTERS.values():
        metric_filter = filters[f"audit-cis-{cis.id}"]["inputs"]
        assert metric_filter["logGroupName"] == group["id"]
        assert metric_filter["pattern"] == cis.pattern
        assert metric_filter["metricTransformation"] == {
            "name": cis_metric_name(cis),
            "namespace": namespace,
            "value": "1",
        }
        alarm = alarms[f"audit-cis-{cis.id}"]
        assert filters[f"audit-cis-{cis.id}"]["urn"] in alarm["dependencies"]
        inputs = alarm["inputs"]
        assert (inputs["namespace"], inputs["metricName"]) == (namespace, cis_metric_name(cis))
        assert inputs["threshold"] == 1
        assert inputs["comparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert inputs["statistic"] == "Sum"
        assert inputs["period"] == 300 and inputs["evaluationPeriods"] == 1
        assert inputs["treatMissingData"] == "notBreaching"
        assert inputs["alarmActions"] == [topic_arn] and inputs["okActions"] == [topic_arn]
        assert cis.title in inputs["alarmDescription"]


DEPLOY_ROLE = "arn:aws:iam::123456789012:role/github-actions/mlops-platform-deploy-dev"


def test_deploy_roles_are_left_out_of_the_categories_deploys_change() -> None:
    plan = render_audit(deploy_role_arns=[DEPLOY_ROLE])
    filters = {f["name"]: f["inputs"]["pattern"] for f in plan.of_type(FILTER)}
    alarms = {a["name"]: a["inputs"]["alarmDescription"] for a in plan.of_type(ALARM)}
    assert set(DEPLOY_CHANGE_FILTERS) <= set(CIS_METRIC_FILTERS)
    for cis in CIS_METRIC_FILTERS.values():
        pattern = filters[f"audit-cis-{cis.id}"]
        assert pattern == cis_pattern(cis, [DEPLOY_ROLE])
        excluded = cis.id in DEPLOY_CHANGE_FILTERS
        assert (DEPLOY_ROLE in pattern) is excluded, cis.id
        assert ("not counting the platform's deploy roles" in alarms[f"audit-cis-{cis.id}"]) is (
            excluded
        )
        assert len(pattern) <= MAX_FILTER_PATTERN_LENGTH


def test_metric_names_are_distinct() -> None:
    names = [cis_metric_name(c) for c in CIS_METRIC_FILTERS.values()]
    assert len(set(names)) == len(names)
    assert cis_metric_name(CIS_METRIC_FILTERS["root-account-usage"]) == "RootAccountUsage"


def test_custom_metric_namespace() -> None:
    plan = render_audit(metric_namespace="Security/CIS")
    assert {f["inputs"]["metricTransformation"]["namespace"] for f in plan.of_type(FILTER)} == {
        "Security/CIS"
    }
    assert {a["inputs"]["namespace"] for a in plan.of_type(ALARM)} == {"Security/CIS"}


def test_policy_pack_finds_nothing_to_report_on_the_audit(plan: Plan) -> None:
    result = check(load_plan(plan.to_dict()))
    assert [f"{v.rule}: {v.message}" for v in result.violations] == []
    # The only waiver: the access-log bucket is SSE-S3 because S3 log delivery requires it.
    assert [(e.violation.rule, e.violation.urn.rsplit("::", 1)[1]) for e in result.exemptions] == [
        ("s3-sse-kms", "audit-access-logs")
    ]


# Options ---------------------------------------------------------------------------------


def test_protect_covers_trail_buckets_and_log_group() -> None:
    plan = render_audit(protect=True)
    for resource in [one(plan, TRAIL), one(plan, LOG_GROUP), *plan.of_type(BUCKET)]:
        assert resource["options"]["protect"] and resource["options"]["retainOnDelete"], resource[
            "urn"
        ]


def test_unprotected_by_default_and_force_destroy_on_request(plan: Plan) -> None:
    assert not [
        r for r in plan.resources if r["options"]["protect"] and r["type"] != "aws:kms/key:Key"
    ]
    assert {b["inputs"]["forceDestroy"] for b in plan.of_type(BUCKET)} == {False}
    assert {
        b["inputs"]["forceDestroy"] for b in render_audit(force_destroy=True).of_type(BUCKET)
    } == {True}


def test_bucket_expiration_of_log_files() -> None:
    rules = one(
        render_audit(bucket_expiration_days=400),
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        "audit-trail-lifecycle",
    )["inputs"]["rules"]
    assert rules[1]["expiration"]["days"] == 400


def test_widgets_show_delivery_and_cis_events() -> None:
    seen: list[list[Any]] = []

    def build(opts) -> None:
        key = key_for_trail(opts)
        topic = AlertTopic("alerts", AlertTopicArgs(key=key), opts=opts)
        audit = Audit(
            "audit",
            AuditArgs(trail_name=TRAIL_NAME, key=key, alert_topic=topic, log_retention_days=30),
            opts=opts,
        )
        seen.append(audit.widgets())
        seen.append(topic.widgets())

    render_components(build)
    audit_widgets, topic_widgets = seen
    assert [w.title for w in audit_widgets] == [
        "Audit trail events delivered to CloudWatch Logs",
        "CIS monitored events",
    ]
    assert [m.name for m in audit_widgets[1].metrics] == [
        cis_metric_name(c) for c in CIS_METRIC_FILTERS.values()
    ]
    # The CIS alarms notify the topic, so the topic's alarm status widget lists them.
    assert len(topic_widgets[1].alarm_arns) == len(CIS_METRIC_FILTERS)


# Bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"trail_name": "ab"}, r"trail_name: 'ab' must be 3-128"),
        ({"trail_name": "-trail"}, r"trail_name: '-trail'"),
        ({"trail_name": "my..trail"}, r"trail_name: 'my..trail'"),
        ({"trail_name": "my trail"}, r"trail_name: 'my trail'"),
        (
            {"log_retention_days": 13},
            r"log_retention_days: 13 is not a retention CloudWatch Logs accepts",
        ),
        ({"log_retention_days": 0}, r"log_retention_days: 0 is not"),
        (
            {"data_event_bucket_arns": ["arn:aws:s3:::lake-raw-bucket/"]},
            r"data_event_bucket_arns\[0\]: 'arn:aws:s3:::lake-raw-bucket/' is not a bucket ARN",
        ),
        (
            {"data_event_bucket_arns": ["lake-raw-bucket"]},
            r"data_event_bucket_arns\[0\]: 'lake-raw-bucket'",
        ),
        (
            {"data_event_bucket_arns": [LAKE[0], "arn:aws:s3:::x/key"]},
            r"data_event_bucket_arns\[1\]",
        ),
        (
            {"data_event_bucket_arns": [LAKE[0], LAKE[0]]},
            r"data_event_bucket_arns: 'arn:aws:s3:::lake-raw-bucket' is listed more than once",
        ),
        (
            {
                "data_event_bucket_arns": [
                    f"arn:aws:s3:::bucket-{i:03d}" for i in range(MAX_DATA_EVENT_BUCKETS + 1)
                ]
            },
            r"data_event_bucket_arns: 251 given",
        ),
        ({"metric_namespace": "AWS/CIS"}, r"metric_namespace: 'AWS/CIS'"),
        ({"metric_namespace": ""}, r"metric_namespace: ''"),
        ({"bucket_expiration_days": 0}, r"bucket_expiration_days: 0 must be at least 1"),
        (
            {"deploy_role_arns": ["arn:aws:iam::123456789012:user/deployer"]},
            r"deploy_role_arns\[0\]: 'arn:aws:iam::123456789012:user/deployer' is not an IAM "
            r"role ARN",
        ),
        (
            {"deploy_role_arns": ['arn:aws:iam::123456789012:role/x" || $.a = "b']},
            r"deploy_role_arns\[0\]: .* is not an IAM role ARN",
        ),
        (
            {"deploy_role_arns": [DEPLOY_ROLE, DEPLOY_ROLE]},
            r"deploy_role_arns: '.*' is listed more than once",
        ),
        (
            {
                "deploy_role_arns": [
                    f"arn:aws:iam::123456789012:role/github-actions/mlops-platform-deploy-{i}-stage"
                    for i in range(3)
                ]
            },
            r"deploy_role_arns: with these 3 role\(s\) the CIS filter 'iam-policy-changes' would "
            r"be \d+ characters; CloudWatch Logs accepts at most 1024",
        ),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_registered(overrides, message) -> None:
    def build(opts) -> None:
        key = key_for_trail(opts)
        topic = AlertTopic("alerts", AlertTopicArgs(key=key), opts=opts)
        values: dict[str, Any] = {
            "trail_name": TRAIL_NAME,
            "key": key,
            "alert_topic": topic,
            "log_retention_days": 30,
        }
        values.update(overrides)
        Audit("audit", AuditArgs(**values), opts=opts)

    plan, error = failing_render(build)
    assert str(error).startswith("Audit 'audit': ")
    assert re.search(message, str(error)), str(error)
    assert not [
        r
        for r in plan.resources
        if r["type"] in (TRAIL, BUCKET, LOG_GROUP, FILTER, ALARM, "mlops:audit:Audit")
    ]


def test_every_problem_is_reported_at_once() -> None:
    def build(opts) -> None:
        key = key_for_trail(opts)
        topic = AlertTopic("alerts", AlertTopicArgs(key=key), opts=opts)
        Audit(
            "audit",
            AuditArgs(
                trail_name="x",
                key=key,
                alert_topic=topic,
                log_retention_days=2,
                bucket_expiration_days=0,
            ),
            opts=opts,
        )

    _, error = failing_render(build)
    assert [p.split(":")[0] for p in str(error).split(": ", 1)[1].split("; ")] == [
        "trail_name",
        "log_retention_days",
        "bucket_expiration_days",
    ]


@pytest.mark.parametrize("name", ["mlops-dev-audit", "Trail_1", "a.b-c", "abc"])
def test_valid_trail_names(name: str) -> None:
    assert trail_name_problems(name) == []


# An existing key and alert topic ----------------------------------------------------------

TEAM_KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
TEAM_TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:security-alerts"


def test_an_existing_key_and_topic_given_by_arn() -> None:
    def build(opts) -> None:
        Audit(
            "audit",
            AuditArgs(
                trail_name=TRAIL_NAME,
                key=TEAM_KEY_ARN,
                alert_topic=TEAM_TOPIC_ARN,
                log_retention_days=90,
            ),
            opts=opts,
        )

    plan = render_components(build)
    assert plan.of_type("aws:kms/key:Key") == [] and plan.of_type("aws:sns/topic:Topic") == []
    assert one(plan, TRAIL)["inputs"]["kmsKeyId"] == TEAM_KEY_ARN
    assert one(plan, LOG_GROUP)["inputs"]["kmsKeyId"] == TEAM_KEY_ARN
    sse = one(
        plan,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "audit-trail-encryption",
    )
    assert sse["inputs"]["rules"][0]["applyServerSideEncryptionByDefault"] == {
        "sseAlgorithm": "aws:kms",
        "kmsMasterKeyId": TEAM_KEY_ARN,
    }
    alarms = plan.of_type(ALARM)
    assert len(alarms) == len(CIS_METRIC_FILTERS)
    for alarm in alarms:
        assert alarm["inputs"]["alarmActions"] == [TEAM_TOPIC_ARN]
        assert alarm["inputs"]["okActions"] == [TEAM_TOPIC_ARN]


def test_a_wrong_key_and_topic_are_refused_together_before_anything_is_registered() -> None:
    def build(opts) -> None:
        Audit(
            "audit",
            AuditArgs(trail_name=TRAIL_NAME, key=42, alert_topic="alerts", log_retention_days=90),  # type: ignore[arg-type]
            opts=opts,
        )

    plan, error = failing_render(build)
    problems = str(error).split(": ", 1)[1].split("; ")
    assert [p.split(":")[0] for p in problems] == ["key", "alert_topic"]
    assert problems[0].startswith("key: expected a RegionKey or an existing KMS key ARN")
    assert problems[1] == (
        "alert_topic: 'alerts' is not an SNS topic ARN "
        "(expected arn:<partition>:sns:<region>:<account-id>:<topic-name>)"
    )
    assert [r["type"] for r in plan.resources] == ["pulumi:providers:aws"]
