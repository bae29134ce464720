"""Table and LambdaService on the recorded graph; the serverless module's pure helpers.

What the function's role may do and what it may not, the log group before the function,
the dead-letter queues and asynchronous invocation settings, alarms, VPC placement, the
object-created trigger and its scoped invoke permission, packaging, and bad input (one clear
error naming each bad field, nothing registered).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pytest
from parliament import analyze_policy_string

from components.data_lake import DataLake, DataLakeArgs
from components.kms import RegionKey, RegionKeyArgs
from components.monitoring import AlertTopic, AlertTopicArgs
from components.network import Network, NetworkArgs
from components.serverless import (
    DEFAULT_RUNTIME,
    LambdaService,
    LambdaServiceArgs,
    LambdaVpcPlacement,
    ObjectCreatedTrigger,
    Table,
    TableArgs,
    clean_key_prefix,
    environment_problems,
    handler_file,
    object_created_pattern,
    package_files,
)
from policies.rules import runtime_supported
from stacks.offline import PROJECT_DIR, Plan, render_components

ACCOUNT = "123456789012"
REGION = "eu-west-1"
SOURCE = PROJECT_DIR / "services" / "ingest"
FUNCTION = "aws:lambda/function:Function"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
QUEUE = "aws:sqs/queue:Queue"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
TABLE = "aws:dynamodb/table:Table"


# Rendering ------------------------------------------------------------------------------------


def render_service(
    *,
    vpc: bool = True,
    trigger: bool = True,
    tracing: bool = True,
    azs: list[str] | None = None,
    build_args: Callable[..., LambdaServiceArgs] | None = None,
    **overrides: Any,
) -> Plan:
    """A key, alert topic, lake, network (two AZs), records table and the ingest service."""

    def build(opts: pulumi.ResourceOptions) -> None:
        key = RegionKey("k", RegionKeyArgs(alias="t", services=("logs", "alarms")), opts=opts)
        topic = AlertTopic("alerts", AlertTopicArgs(key=key), opts=opts)
        lake = DataLake("lake", DataLakeArgs(key=key), opts=opts)
        table = Table("records", TableArgs(key=key, hash_key="id"), opts=opts)
        placement = None
        if vpc:
            net = Network(
                "net",
                NetworkArgs(
                    cidr="10.0.0.0/16",
                    availability_zones=[f"{REGION}a", f"{REGION}b"],
                    key=key,
                    nat="single",
                ),
                opts=opts,
            )
            placement = LambdaVpcPlacement(
                vpc_id=net.vpc_id,
                subnet_ids=net.subnet_ids["private"],
                availability_zones=azs or net.availability_zones,
            )
        raw = lake.bucket("raw")
        args: dict[str, Any] = dict(
            source_dir=SOURCE,
            handler="handler.handler",
            function_name="ingest-fn",
            description="Ingests raw records",
            key=key,
            alert_topic=topic,
            memory_mb=512,
            timeout_seconds=120,
            environment={"TABLE_NAME": table.name, "SOURCE_BUCKET": raw.name},
            grants=[
                lambda role: lake.grant_read(role, "raw", "records", versions=True),
                table.grant_write,
            ],
            log_retention_days=14,
            reserved_concurrency=5,
            maximum_retry_attempts=1,
            maximum_event_age_seconds=3600,
            tracing=tracing,
            vpc=placement,
            trigger=(
                ObjectCreatedTrigger(
                    bucket_name=raw.name,
                    key_prefix="records",
                    maximum_retry_attempts=10,
                    maximum_event_age_seconds=7200,
                )
                if trigger
                else None
            ),
            error_alarm_threshold=3,
            throttle_alarm_threshold=2,
        )
        args.update(overrides)
        LambdaService("ingest", LambdaServiceArgs(**args), opts=opts)

    return render_components(build)


@pytest.fixture(scope="module")
def full() -> Plan:
    """In a VPC, triggered by the raw zone, traced."""
    return render_service()


@pytest.fixture(scope="module")
def minimal() -> Plan:
    """Outside any VPC, no trigger, no tracing."""
    return render_service(vpc=False, trigger=False, tracing=False)


def key_arn(plan: Plan) -> str:
    return f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{plan.of_type('aws:kms/key:Key')[0]['id']}"


def bucket_name(plan: Plan, zone: str) -> str:
    return plan.find("aws:s3/bucket:Bucket", f"lake-{zone}")["id"]


def exec_policies(plan: Plan) -> dict[str, dict[str, Any]]:
    """The execution role's inline policies by purpose."""
    return {
        p["name"][len("ingest-exec-") :]: json.loads(p["inputs"]["policy"])
        for p in plan.of_type(ROLE_POLICY)
        if p["name"].startswith("ingest-exec-")
    }


def statements(policies: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for doc in policies.values() for s in doc["Statement"]]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def queue_arn(plan: Plan, name: str) -> str:
    """The ARN of a queue, as the mock names it (logical name + digest)."""
    arns = {
        r
        for s in statements(exec_policies(plan))
        for r in as_list(s["Resource"])
        if r.startswith(f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}-")
    }
    if name == "ingest-dlq":
        arns.add(plan.of_type(FUNCTION)[0]["inputs"]["deadLetterConfig"]["targetArn"])
    if name == "ingest-delivery-dlq":
        arns.update(
            t["inputs"]["deadLetterConfig"]["arn"]
            for t in plan.of_type("aws:cloudwatch/eventTarget:EventTarget")
        )
    assert len(arns) == 1, arns
    arn = arns.pop()
    assert re.fullmatch(rf"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}-[0-9a-f]+", arn)
    return arn


# Table ----------------------------------------------------------------------------------------


def render_table(after: Callable[[Table, Any], None] | None = None, **kwargs: Any) -> Plan:
    def build(opts: pulumi.ResourceOptions) -> None:
        from components.iam import ServiceRole, ServiceRoleArgs

        key = RegionKey("k", RegionKeyArgs(alias="t"), opts=opts)
        table = Table("records", TableArgs(key=key, **kwargs), opts=opts)
        role = ServiceRole(
            "app", ServiceRoleArgs(service="lambda.amazonaws.com", description="app"), opts=opts
        )
        if after is not None:
            after(table, role)

    return render_components(build)


def test_table_is_on_demand_recoverable_and_encrypted_with_the_region_key() -> None:
    plan = render_table(hash_key="id")
    table = plan.find(TABLE, "records-table")
    inputs = table["inputs"]
    assert inputs["billingMode"] == "PAY_PER_REQUEST"
    assert inputs["pointInTimeRecovery"] == {"enabled": True}
    assert inputs["serverSideEncryption"] == {"enabled": True, "kmsKeyArn": key_arn(plan)}
    assert inputs["hashKey"] == "id" and "rangeKey" not in inputs
    assert inputs["attributes"] == [{"name": "id", "type": "S"}]
    assert inputs["deletionProtectionEnabled"] is False
    assert "ttl" not in inputs
    assert not table["options"]["protect"] and not table["options"]["retainOnDelete"]
    assert table["region"] == REGION


def test_production_table_is_protected_retained_and_deletion_protected() -> None:
    plan = render_table(
        hash_key="pk",
        hash_key_type="N",
        range_key="sk",
        range_key_type="B",
        ttl_attribute="expires",
        deletion_protection=True,
        protect=True,
    )
    table = plan.find(TABLE, "records-table")
    assert table["inputs"]["deletionProtectionEnabled"] is True
    assert table["options"]["protect"] and table["options"]["retainOnDelete"]
    assert table["inputs"]["attributes"] == [
        {"name": "pk", "type": "N"},
        {"name": "sk", "type": "B"},
    ]
    assert table["inputs"]["rangeKey"] == "sk"
    assert table["inputs"]["ttl"] == {"attributeName": "expires", "enabled": True}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"hash_key": ""}, "hash_key: '' must be an attribute name"),
        ({"hash_key": "id", "hash_key_type": "string"}, "hash_key_type: 'string' is not one of"),
        ({"hash_key": "id", "range_key_type": "S"}, "range_key_type: given without range_key"),
        (
            {"hash_key": "id", "range_key": "sk", "range_key_type": "X"},
            "range_key_type: 'X' is not one of",
        ),
        ({"hash_key": "id", "range_key": "id"}, "range_key: 'id' is also the hash_key"),
        ({"hash_key": "id", "ttl_attribute": "id"}, "ttl_attribute: 'id' is a key attribute"),
    ],
)
def test_table_bad_arguments_name_the_field_and_register_nothing(kwargs, message) -> None:
    errors: list[str] = []

    def build(opts: pulumi.ResourceOptions) -> None:
        key = RegionKey("k", RegionKeyArgs(alias="t"), opts=opts)
        try:
            Table("records", TableArgs(key=key, **kwargs), opts=opts)
        except ValueError as exc:
            errors.append(str(exc))

    plan = render_components(build)
    assert len(errors) == 1 and message in errors[0] and errors[0].startswith("Table 'records'")
    assert not [r for r in plan.resources if "serverless" in r["urn"]]


def test_table_grants_write_and_read_exactly() -> None:
    def grant(table: Table, role: Any) -> None:
        table.grant_write(role)
        table.grant_write(role, update=True, purpose="upsert")
        table.grant_read(role)

    plan = render_table(after=grant, hash_key="id")
    docs = {
        p["name"]: json.loads(p["inputs"]["policy"])["Statement"] for p in plan.of_type(ROLE_POLICY)
    }
    table_arn = (
        f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{plan.find(TABLE, 'records-table')['id']}"
    )
    via = {"StringEquals": {"kms:ViaService": f"dynamodb.{REGION}.amazonaws.com"}}
    assert docs["app-records-write"] == [
        {
            "Sid": "WriteTableItems",
            "Effect": "Allow",
            "Action": ["dynamodb:BatchWriteItem", "dynamodb:PutItem"],
            "Resource": table_arn,
        },
        {
            "Sid": "EncryptTableItems",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": key_arn(plan),
            "Condition": via,
        },
    ]
    assert docs["app-upsert"][0]["Action"] == [
        "dynamodb:BatchWriteItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
    ]
    read = docs["app-records-read"]
    assert read[0]["Resource"] == [table_arn, f"{table_arn}/index/*"]
    assert not any(
        a.startswith("dynamodb:") and ("Write" in a or "Put" in a or "Delete" in a or "Update" in a)
        for a in read[0]["Action"]
    )
    assert read[1] == {
        "Sid": "DecryptTableItems",
        "Effect": "Allow",
        "Action": ["kms:Decrypt"],
        "Resource": key_arn(plan),
        "Condition": via,
    }


# Function -------------------------------------------------------------------------------------


def test_function_settings(full: Plan) -> None:
    fn = full.find(FUNCTION, "ingest-function")
    inputs = fn["inputs"]
    assert inputs["name"] == "ingest-fn"
    assert inputs["runtime"] == DEFAULT_RUNTIME == "python3.13"
    assert inputs["handler"] == "handler.handler"
    assert inputs["architectures"] == ["arm64"]
    assert (inputs["memorySize"], inputs["timeout"]) == (512, 120)
    assert inputs["reservedConcurrentExecutions"] == 5
    assert inputs["tracingConfig"] == {"mode": "Active"}
    assert inputs["environment"]["variables"] == {
        "TABLE_NAME": full.find(TABLE, "records-table")["id"],
        "SOURCE_BUCKET": bucket_name(full, "raw"),
    }
    assert inputs["role"].startswith(f"arn:aws:iam::{ACCOUNT}:role/ingest-exec-role-")
    assert fn["region"] == REGION and fn["parent"].endswith(
        "mlops:serverless:LambdaService::ingest"
    )


def test_defaults_are_a_supported_runtime_no_reservation_no_tracing(minimal: Plan) -> None:
    from datetime import date

    assert runtime_supported(DEFAULT_RUNTIME, date.today())
    inputs = render_service(
        vpc=False, trigger=False, tracing=False, memory_mb=256, reserved_concurrency=None
    ).find(FUNCTION, "ingest-function")["inputs"]
    assert inputs["reservedConcurrentExecutions"] == -1
    assert minimal.find(FUNCTION, "ingest-function")["inputs"]["tracingConfig"] == {
        "mode": "PassThrough"
    }
    assert "vpcConfig" not in minimal.find(FUNCTION, "ingest-function")["inputs"]


def test_package_lists_the_source_files_relative_to_the_project(full: Plan) -> None:
    code = full.find(FUNCTION, "ingest-function")["inputs"]["code"]
    assert code["kind"] == "archive"
    assert code["assets"] == {
        "__init__.py": {"kind": "asset", "path": "services/ingest/__init__.py"},
        "handler.py": {"kind": "asset", "path": "services/ingest/handler.py"},
    }


def test_package_files_leave_out_caches_compiled_and_hidden_files(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("def handler(e, c):\n    return 1\n")
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "util.py").write_text("X = 1\n")
    (tmp_path / "lib" / "data.json").write_text("{}")
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "app.cpython-313.pyc").write_bytes(b"\0")
    (tmp_path / "lib" / "util.pyc").write_bytes(b"\0")
    (tmp_path / ".env").write_text("SECRET=1")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text("x")
    files = package_files(tmp_path)
    assert list(files) == ["app.py", "lib/data.json", "lib/util.py"]
    assert all(p.is_absolute() for p in files.values())
    with pytest.raises(ValueError, match="is not a directory"):
        package_files(tmp_path / "missing")
    empty = tmp_path / "empty"
    (empty / "__pycache__").mkdir(parents=True)
    with pytest.raises(ValueError, match="holds no files"):
        package_files(empty)


def test_packaging_is_deterministic(full: Plan) -> None:
    again = render_service()
    assert (
        again.find(FUNCTION, "ingest-function")["inputs"]["code"]
        == full.find(FUNCTION, "ingest-function")["inputs"]["code"]
    )


@pytest.mark.parametrize(
    "handler, expected",
    [
        ("handler.handler", "handler.py"),
        ("pkg.mod.run", "pkg/mod.py"),
        ("pkg/mod.run", "pkg/mod.py"),
        ("handler", None),
        ("1bad.handler", None),
        ("handler.", None),
    ],
)
def test_handler_file(handler: str, expected: str | None) -> None:
    assert handler_file(handler) == expected


# The role: exactly the given grants -----------------------------------------------------------


def test_role_has_exactly_the_given_grants_and_its_own_needs(full: Plan) -> None:
    policies = exec_policies(full)
    assert sorted(policies) == sorted(
        [
            "write-logs",
            "send-dead-letters",
            "vpc-network-interfaces",
            "xray-tracing",
            next(p for p in policies if p.startswith("lake-raw-read-records-")),
            "records-write",
        ]
    )
    actions = sorted({a for s in statements(policies) for a in as_list(s["Action"])})
    assert actions == sorted(
        [
            "logs:CreateLogStream",
            "logs:PutLogEvents",
            "sqs:SendMessage",
            "kms:Decrypt",
            "kms:GenerateDataKey",
            "ec2:CreateNetworkInterface",
            "ec2:DeleteNetworkInterface",
            "ec2:AssignPrivateIpAddresses",
            "ec2:UnassignPrivateIpAddresses",
            "ec2:DescribeNetworkInterfaces",
            "ec2:DescribeSubnets",
            "xray:PutTraceSegments",
            "xray:PutTelemetryRecords",
            "s3:GetObject",
            "s3:GetObjectVersion",
            "s3:ListBucket",
            "dynamodb:BatchWriteItem",
            "dynamodb:PutItem",
        ]
    )
    # No managed policy: nothing beyond the inline grants.
    assert not full.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    trust = json.loads(
        full.find("aws:iam/role:Role", "ingest-exec-role")["inputs"]["assumeRolePolicy"]
    )
    assert [s["Principal"] for s in trust["Statement"]] == [{"Service": "lambda.amazonaws.com"}]


def test_role_cannot_write_the_lake_or_touch_other_zones_or_read_the_table(full: Plan) -> None:
    found = statements(exec_policies(full))
    actions = {a for s in found for a in as_list(s["Action"])}
    for forbidden in (
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:Scan",
        "dynamodb:DeleteItem",
        "dynamodb:UpdateItem",
        "logs:CreateLogGroup",
        "sqs:ReceiveMessage",
        "kms:Encrypt",
    ):
        assert forbidden not in actions, forbidden
    resources = [r for s in found for r in as_list(s["Resource"])]
    for zone in ("curated", "features", "models", "access-logs"):
        assert not any(bucket_name(full, zone) in r for r in resources), zone
    raw = bucket_name(full, "raw")
    s3 = [s for s in found if any(a.startswith("s3:") for a in as_list(s["Action"]))]
    assert {r for s in s3 for r in as_list(s["Resource"])} == {
        f"arn:aws:s3:::{raw}/records/*",
        f"arn:aws:s3:::{raw}",
    }
    listing = next(s for s in s3 if "s3:ListBucket" in as_list(s["Action"]))
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["records/", "records/*"]}}
    # "*" only for the allow-listed actions.
    star = [s for s in found if "*" in as_list(s["Resource"])]
    assert {a for s in star for a in as_list(s["Action"])} == {
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSubnets",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    }


def test_without_vpc_and_tracing_the_role_has_no_ec2_or_xray(minimal: Plan) -> None:
    policies = exec_policies(minimal)
    assert "vpc-network-interfaces" not in policies and "xray-tracing" not in policies
    actions = {a for s in statements(policies) for a in as_list(s["Action"])}
    assert not {a for a in actions if a.startswith(("ec2:", "xray:"))}
    assert not [s for s in statements(policies) if "*" in as_list(s["Resource"])]


def test_own_grants_are_scoped_to_own_log_group_and_queue(full: Plan) -> None:
    policies = exec_policies(full)
    assert policies["write-logs"]["Statement"] == [
        {
            "Sid": "WriteOwnLogStreams",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/ingest-fn:log-stream:*",
        }
    ]
    send, kms = policies["send-dead-letters"]["Statement"]
    assert send["Action"] == ["sqs:SendMessage"] and send["Resource"] == queue_arn(
        full, "ingest-dlq"
    )
    assert kms["Resource"] == key_arn(full)
    assert kms["Condition"] == {"StringEquals": {"kms:ViaService": f"sqs.{REGION}.amazonaws.com"}}


def test_role_policies_pass_parliament(full: Plan) -> None:
    findings = [
        (name, f.issue, f.detail)
        for name, doc in exec_policies(full).items()
        for f in analyze_policy_string(json.dumps(doc), include_community_auditors=True).findings
    ]
    assert findings == []


# Log group, DLQ, asynchronous invocation ------------------------------------------------------


def test_log_group_is_created_before_the_function(full: Plan) -> None:
    group = full.find("aws:cloudwatch/logGroup:LogGroup", "ingest-logs")
    assert group["inputs"]["name"] == "/aws/lambda/ingest-fn"
    assert group["inputs"]["retentionInDays"] == 14
    assert group["inputs"]["kmsKeyId"] == key_arn(full)
    fn = full.find(FUNCTION, "ingest-function")
    assert group["urn"] in fn["dependencies"]
    assert fn["inputs"]["loggingConfig"] == {
        "logFormat": "Text",
        "logGroup": "/aws/lambda/ingest-fn",
    }


def test_function_waits_for_every_grant(full: Plan) -> None:
    fn = full.find(FUNCTION, "ingest-function")
    grants = [p["urn"] for p in full.of_type(ROLE_POLICY) if p["name"].startswith("ingest-exec-")]
    assert len(grants) == 6
    assert set(grants) <= set(fn["dependencies"])


def test_dead_letter_queues_are_kms_encrypted_and_kept_14_days(full: Plan) -> None:
    queues = {q["name"]: q for q in full.of_type(QUEUE)}
    assert sorted(queues) == ["ingest-delivery-dlq", "ingest-dlq"]
    for queue in queues.values():
        assert queue["inputs"]["kmsMasterKeyId"] == key_arn(full)
        assert queue["inputs"]["messageRetentionSeconds"] == 14 * 24 * 3600
    for policy in full.of_type("aws:sqs/queuePolicy:QueuePolicy"):
        deny = json.loads(policy["inputs"]["policy"])["Statement"][0]
        assert deny["Effect"] == "Deny" and deny["Condition"] == {
            "Bool": {"aws:SecureTransport": "false"}
        }
    fn = full.find(FUNCTION, "ingest-function")
    assert fn["inputs"]["deadLetterConfig"] == {"targetArn": queue_arn(full, "ingest-dlq")}


def test_event_invoke_config_retries_then_sends_failures_to_the_dlq(full: Plan) -> None:
    config = full.find(
        "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig", "ingest-async"
    )
    assert config["inputs"] == {
        "functionName": "ingest-fn",
        "maximumRetryAttempts": 1,
        "maximumEventAgeInSeconds": 3600,
        "destinationConfig": {"onFailure": {"destination": queue_arn(full, "ingest-dlq")}},
    }


# Alarms -----------------------------------------------------------------------------------------


def test_alarms_go_to_the_alert_topic(full: Plan) -> None:
    topic = full.of_type("aws:sns/topic:Topic")[0]
    topic_arn = f"arn:aws:sns:{REGION}:{ACCOUNT}:{topic['id']}"
    alarms = {a["name"]: a["inputs"] for a in full.of_type(ALARM)}
    assert sorted(alarms) == sorted(
        f"ingest-{k}"
        for k in (
            "errors",
            "throttles",
            "dead-letter-errors",
            "dlq-messages",
            "delivery-dlq-messages",
        )
    )
    for alarm in alarms.values():
        assert alarm["alarmActions"] == [topic_arn] and alarm["okActions"] == [topic_arn]
        assert alarm["treatMissingData"] == "notBreaching"
    assert alarms["ingest-errors"]["metricName"] == "Errors"
    assert alarms["ingest-errors"]["dimensions"] == {"FunctionName": "ingest-fn"}
    assert (alarms["ingest-errors"]["statistic"], alarms["ingest-errors"]["threshold"]) == (
        "Sum",
        3,
    )
    assert (alarms["ingest-throttles"]["metricName"], alarms["ingest-throttles"]["threshold"]) == (
        "Throttles",
        2,
    )
    assert alarms["ingest-dead-letter-errors"]["metricName"] == "DeadLetterErrors"
    for name, queue in (
        ("ingest-dlq-messages", "ingest-dlq"),
        ("ingest-delivery-dlq-messages", "ingest-delivery-dlq"),
    ):
        alarm = alarms[name]
        assert (alarm["namespace"], alarm["metricName"]) == (
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
        )
        assert (alarm["comparisonOperator"], alarm["threshold"], alarm["statistic"]) == (
            "GreaterThanThreshold",
            0,
            "Maximum",
        )
        assert alarm["dimensions"]["QueueName"] == queue_arn(full, queue).rsplit(":", 1)[1]


def test_without_trigger_there_is_no_delivery_queue_or_rule(minimal: Plan) -> None:
    assert [q["name"] for q in minimal.of_type(QUEUE)] == ["ingest-dlq"]
    assert not minimal.of_type("aws:cloudwatch/eventRule:EventRule")
    assert not minimal.of_type("aws:lambda/permission:Permission")
    assert "ingest-delivery-dlq-messages" not in {a["name"] for a in minimal.of_type(ALARM)}


# VPC --------------------------------------------------------------------------------------------


def test_vpc_placement_uses_private_subnets_in_two_azs(full: Plan) -> None:
    fn = full.find(FUNCTION, "ingest-function")
    subnets = {s["id"]: s for s in full.of_type("aws:ec2/subnet:Subnet")}
    ids = fn["inputs"]["vpcConfig"]["subnetIds"]
    assert len({subnets[i]["inputs"]["availabilityZone"] for i in ids}) == 2
    assert all(subnets[i]["inputs"]["tags"]["tier"] == "private" for i in ids)
    group = full.find("aws:ec2/securityGroup:SecurityGroup", "ingest-sg")
    assert fn["inputs"]["vpcConfig"]["securityGroupIds"] == [group["id"]]
    assert group["inputs"]["description"]
    assert group["inputs"]["ingress"] == []
    [egress] = group["inputs"]["egress"]
    assert (egress["protocol"], egress["fromPort"], egress["toPort"]) == ("tcp", 443, 443)
    assert egress["description"]
    create = next(
        s
        for s in exec_policies(full)["vpc-network-interfaces"]["Statement"]
        if s["Action"] == ["ec2:CreateNetworkInterface"]
    )
    prefix = f"arn:aws:ec2:{REGION}:{ACCOUNT}"
    assert create["Resource"] == (
        [f"{prefix}:network-interface/*"]
        + [f"{prefix}:subnet/{i}" for i in ids]
        + [f"{prefix}:security-group/{group['id']}"]
    )


@pytest.mark.parametrize(
    "azs, message",
    [
        ([f"{REGION}a", f"{REGION}a"], "subnets span 1 AZ(s)"),
        ([f"{REGION}a"], "1 AZ(s) for 2 subnet(s)"),
    ],
)
def test_vpc_placement_in_fewer_than_two_azs_is_refused(azs: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        render_service(azs=azs)


# Trigger ------------------------------------------------------------------------------------------


def test_object_created_rule_targets_the_function(full: Plan) -> None:
    rule = full.find("aws:cloudwatch/eventRule:EventRule", "ingest-trigger")
    assert json.loads(rule["inputs"]["eventPattern"]) == {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {
            "bucket": {"name": [bucket_name(full, "raw")]},
            "object": {"key": [{"prefix": "records/"}]},
        },
    }
    assert rule["inputs"]["state"] == "ENABLED"
    target = full.find("aws:cloudwatch/eventTarget:EventTarget", "ingest-trigger-target")
    rule_arn = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{target['inputs']['rule']}"
    assert target["inputs"]["arn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:ingest-fn"
    assert target["inputs"]["retryPolicy"] == {
        "maximumRetryAttempts": 10,
        "maximumEventAgeInSeconds": 7200,
    }
    assert target["inputs"]["deadLetterConfig"] == {"arn": queue_arn(full, "ingest-delivery-dlq")}
    assert "roleArn" not in target["inputs"]
    [permission] = full.of_type("aws:lambda/permission:Permission")
    assert permission["inputs"] == {
        "action": "lambda:InvokeFunction",
        "function": "ingest-fn",
        "principal": "events.amazonaws.com",
        "sourceArn": rule_arn,
        "sourceAccount": ACCOUNT,
    }
    # The target is created once the function may be invoked by the rule.
    assert permission["urn"] in target["dependencies"]
    delivery = full.find("aws:sqs/queuePolicy:QueuePolicy", "ingest-delivery-dlq-policy")
    allow = json.loads(delivery["inputs"]["policy"])["Statement"][1]
    assert allow == {
        "Sid": "EventBridgeDeliveryFailures",
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": queue_arn(full, "ingest-delivery-dlq"),
        "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
    }


def test_trigger_without_prefix_matches_every_key() -> None:
    assert object_created_pattern("b") == {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": ["b"]}},
    }


@pytest.mark.parametrize(
    "prefix, expected",
    [(None, None), ("records", "records/"), ("/records/", "records/"), ("a/b", "a/b/")],
)
def test_clean_key_prefix(prefix: str | None, expected: str | None) -> None:
    assert clean_key_prefix(prefix) == expected


@pytest.mark.parametrize(
    "prefix, message",
    [
        ("/", "is empty"),
        ("", "is empty"),
        ("in*", "literal"),
        ("a?", "literal"),
        ("${aws:username}", "literal"),
    ],
)
def test_clean_key_prefix_refuses_empty_and_wildcards(prefix: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        clean_key_prefix(prefix)


# Policy pack ------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["full", "minimal"])
def test_the_service_passes_the_policy_pack(variant: str, request: pytest.FixtureRequest) -> None:
    from policies.check import check, load_plan

    plan: Plan = request.getfixturevalue(variant)
    result = check(load_plan(plan.to_dict()))
    mine = {r["urn"] for r in plan.resources if "serverless" in r["urn"]}
    assert mine
    assert [v for v in result.violations if v.urn in mine] == []
    assert [e for e in result.exemptions if e.violation.urn in mine] == []


# Bad arguments ----------------------------------------------------------------------------------


def _args(**overrides: Any) -> LambdaServiceArgs:
    """Arguments whose key/topic are never used (problems() only reads plain fields)."""
    base: dict[str, Any] = dict(
        source_dir=SOURCE,
        handler="handler.handler",
        function_name="fn",
        description="does things",
        key=None,
        alert_topic=None,
    )
    base.update(overrides)
    return LambdaServiceArgs(**base)


def test_good_arguments_have_no_problems() -> None:
    assert _args().problems() == []


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"runtime": "python3.9"}, "runtime: 'python3.9' is not a supported runtime"),
        ({"runtime": "nodejs16.x"}, "runtime: 'nodejs16.x' is not a supported runtime"),
        ({"architecture": "arm"}, "architecture: 'arm' is not one of"),
        ({"function_name": "bad name"}, "function_name: 'bad name' must be 1-64"),
        ({"function_name": "x" * 65}, "function_name:"),
        ({"description": " "}, "description: say what the function does"),
        ({"memory_mb": 64}, "memory_mb: 64 is outside 128..10240"),
        ({"memory_mb": 10241}, "memory_mb: 10241 is outside"),
        ({"timeout_seconds": 0}, "timeout_seconds: 0 is outside 1..900"),
        ({"timeout_seconds": 901}, "timeout_seconds: 901 is outside"),
        ({"environment": {"DB_PASSWORD": "x"}}, "environment: DB_PASSWORD looks like a secret"),
        ({"environment": {"API_KEY": "x"}}, "environment: API_KEY looks like a secret"),
        ({"environment": {"AWS_REGION": "x"}}, "environment: AWS_REGION is reserved by Lambda"),
        ({"environment": {"1X": "x"}}, "environment: '1X' is not a variable name"),
        ({"log_retention_days": 13}, "log_retention_days: 13 is not a value"),
        ({"reserved_concurrency": 0}, "reserved_concurrency: 0 would stop the function"),
        ({"maximum_retry_attempts": 3}, "maximum_retry_attempts: 3 is outside 0..2"),
        ({"maximum_event_age_seconds": 59}, "maximum_event_age_seconds: 59 is outside 60..21600"),
        ({"error_alarm_threshold": 0}, "error_alarm_threshold: 0 must be at least 1"),
        ({"throttle_alarm_threshold": 0}, "throttle_alarm_threshold: 0 must be at least 1"),
        ({"handler": "main.handler"}, "handler: 'main.handler' needs main.py in source_dir"),
        ({"handler": "handler"}, "handler: 'handler' is not 'module.function'"),
        ({"source_dir": "no/such/dir"}, "source_dir: 'no/such/dir' is not a directory"),
        (
            {"trigger": ObjectCreatedTrigger(bucket_name="b", key_prefix="in*")},
            "trigger.key_prefix: 'in*' contains",
        ),
        (
            {"trigger": ObjectCreatedTrigger(bucket_name="b", maximum_retry_attempts=186)},
            "trigger.maximum_retry_attempts: 186 is outside 0..185",
        ),
        (
            {"trigger": ObjectCreatedTrigger(bucket_name="b", maximum_event_age_seconds=86401)},
            "trigger.maximum_event_age_seconds: 86401 is outside 60..86400",
        ),
        (
            {
                "vpc": LambdaVpcPlacement(
                    vpc_id="vpc-1", subnet_ids=["s-1"], availability_zones=["a"]
                )
            },
            "vpc.subnet_ids: subnets span 1 AZ(s)",
        ),
    ],
)
def test_each_bad_argument_is_named(overrides: dict[str, Any], message: str) -> None:
    problems = _args(**overrides).problems()
    assert len(problems) == 1 and problems[0].startswith(message), problems


def test_runtime_support_follows_the_deprecation_table() -> None:
    from datetime import date

    assert _args(runtime="python3.11").problems(today=date(2026, 1, 1)) == []
    assert (
        "runtime: 'python3.11'" in _args(runtime="python3.11").problems(today=date(2026, 7, 1))[0]
    )


def test_every_problem_is_reported_at_once_and_nothing_is_registered() -> None:
    errors: list[str] = []

    def build(opts: pulumi.ResourceOptions) -> None:
        key = RegionKey("k", RegionKeyArgs(alias="t", services=("logs", "alarms")), opts=opts)
        topic = AlertTopic("alerts", AlertTopicArgs(key=key), opts=opts)
        try:
            LambdaService(
                "ingest",
                _args(
                    key=key, alert_topic=topic, memory_mb=1, timeout_seconds=0, runtime="python2.7"
                ),
                opts=opts,
            )
        except ValueError as exc:
            errors.append(str(exc))

    plan = render_components(build)
    [error] = errors
    assert error.startswith("LambdaService 'ingest': ")
    for field in ("runtime:", "memory_mb:", "timeout_seconds:"):
        assert field in error
    assert not [r for r in plan.resources if "serverless" in r["urn"]]


@pytest.mark.parametrize(
    "names, bad",
    [
        (
            {"TABLE_NAME": 1, "SOURCE_BUCKET": 1, "LOG_LEVEL": 1, "SECRET_ARN": 1, "TOKEN_URL": 1},
            [],
        ),
        ({"GITHUB_TOKEN": 1, "PASSWORD": 1}, ["GITHUB_TOKEN", "PASSWORD"]),
    ],
)
def test_environment_problems(names: dict[str, Any], bad: list[str]) -> None:
    problems = environment_problems(names)
    assert [p.split()[1] for p in problems] == bad


# Existing key and alert topic -------------------------------------------------------------------

OTHER_ACCOUNT = "210987654321"
EXISTING_KEY_ARN = f"arn:aws:kms:{REGION}:{OTHER_ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
EXISTING_TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:team-alerts"


def render_table_with(
    key: Any, after: Callable[[Table, Any], None] | None = None
) -> tuple[Plan, list[str]]:
    """A table given ``key`` (and a role for its grants); the errors its constructor raised."""
    errors: list[str] = []

    def build(opts: pulumi.ResourceOptions) -> None:
        from components.iam import ServiceRole, ServiceRoleArgs

        role = ServiceRole(
            "app", ServiceRoleArgs(service="lambda.amazonaws.com", description="app"), opts=opts
        )
        try:
            table = Table("records", TableArgs(key=key, hash_key="id"), opts=opts)
        except ValueError as exc:
            errors.append(str(exc))
            return
        if after is not None:
            after(table, role)

    return render_components(build), errors


def test_table_encrypts_with_an_existing_key_arn_and_grants_use_it() -> None:
    def grant(table: Table, role: Any) -> None:
        table.grant_write(role)
        table.grant_read(role)

    plan, errors = render_table_with(EXISTING_KEY_ARN, grant)
    assert errors == []
    sse = plan.find(TABLE, "records-table")["inputs"]["serverSideEncryption"]
    assert sse == {"enabled": True, "kmsKeyArn": EXISTING_KEY_ARN}
    docs = {
        p["name"]: json.loads(p["inputs"]["policy"])["Statement"] for p in plan.of_type(ROLE_POLICY)
    }
    via = {"StringEquals": {"kms:ViaService": f"dynamodb.{REGION}.amazonaws.com"}}
    for purpose in ("app-records-write", "app-records-read"):
        kms = docs[purpose][1]
        assert (kms["Resource"], kms["Condition"]) == (EXISTING_KEY_ARN, via)


@pytest.mark.parametrize(
    "key, message",
    [
        (42, "key: expected a RegionKey or an existing KMS key ARN"),
        ("alias/records", "key: 'alias/records' is not a KMS key ARN"),
    ],
)
def test_table_refuses_a_wrong_key_and_registers_nothing(key: Any, message: str) -> None:
    plan, errors = render_table_with(key)
    assert len(errors) == 1 and errors[0].startswith("Table 'records': ") and message in errors[0]
    assert not [r for r in plan.resources if "serverless" in r["urn"]]


@pytest.fixture(scope="module")
def existing() -> Plan:
    """The ingest service given an existing key (another account's) and alert topic."""
    return render_service(key=EXISTING_KEY_ARN, alert_topic=EXISTING_TOPIC_ARN)


def test_an_existing_key_arn_encrypts_the_logs_and_queues(existing: Plan) -> None:
    logs = existing.find("aws:cloudwatch/logGroup:LogGroup", "ingest-logs")["inputs"]
    assert logs["kmsKeyId"] == EXISTING_KEY_ARN
    queues = {q["name"]: q["inputs"] for q in existing.of_type(QUEUE)}
    assert sorted(queues) == ["ingest-delivery-dlq", "ingest-dlq"]
    assert all(q["kmsMasterKeyId"] == EXISTING_KEY_ARN for q in queues.values())
    _, kms = exec_policies(existing)["send-dead-letters"]["Statement"]
    assert kms["Resource"] == EXISTING_KEY_ARN
    assert kms["Condition"] == {"StringEquals": {"kms:ViaService": f"sqs.{REGION}.amazonaws.com"}}


def test_network_interfaces_stay_in_the_functions_account_with_another_accounts_key(
    existing: Plan,
) -> None:
    statements_ = exec_policies(existing)["vpc-network-interfaces"]["Statement"]
    resources = [r for s in statements_ for r in as_list(s["Resource"]) if r != "*"]
    assert resources and all(r.startswith(f"arn:aws:ec2:{REGION}:{ACCOUNT}:") for r in resources), (
        resources
    )


def test_an_existing_topic_arn_receives_every_alarm(existing: Plan) -> None:
    alarms = [a for a in existing.of_type(ALARM) if a["name"].startswith("ingest-")]
    assert len(alarms) == 5
    for alarm in alarms:
        assert alarm["inputs"]["alarmActions"] == [EXISTING_TOPIC_ARN]
        assert alarm["inputs"]["okActions"] == [EXISTING_TOPIC_ARN]


def test_a_wrong_key_or_topic_is_reported_with_the_other_problems_and_nothing_is_registered() -> (
    None
):
    errors: list[str] = []

    def build(opts: pulumi.ResourceOptions) -> None:
        try:
            LambdaService("ingest", _args(key=42, alert_topic=7, memory_mb=1), opts=opts)
        except ValueError as exc:
            errors.append(str(exc))

    plan = render_components(build)
    [error] = errors
    assert error.startswith("LambdaService 'ingest': ")
    assert "key: expected a RegionKey" in error
    assert "alert_topic: expected an AlertTopic" in error
    assert "memory_mb: 1 is outside" in error
    assert not [r for r in plan.resources if "serverless" in r["urn"]]
