"""Jobs and job runs (components/jobs/): pure rules, then the recorded graph of components.

The graph tests render one region with a data lake, an alert topic and a job that has
everything (schedule with overrides, raw-data trigger, array size, lake grants) plus managed
Airflow, and check each promise: a Fargate environment that scales to zero, the queue, the
job definition (timeout, retries, per-run log streams, read-only root with /tmp), roles that
can do exactly what they need and nothing else, schedules, the event trigger, the FAILED
alert and its message.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

import pulumi
import pytest
from hypothesis import given
from hypothesis import strategies as st
from parliament import analyze_policy_string

from components.containers import build_context_digest, built_image_tag
from components.data_lake import DataLake, DataLakeArgs
from components.iam import CONFUSED_DEPUTY_KEYS
from components.jobs import (
    FAILED_RUN_PATHS,
    FARGATE_MEMORY_MIB,
    LOG_STREAM_PREFIX,
    MWAA_LOG_MODULES,
    AirflowSpec,
    BatchEnvironment,
    BatchEnvironmentArgs,
    BatchJob,
    BatchJobArgs,
    JobBuild,
    Jobs,
    JobsArgs,
    JobScheduleArgs,
    JobSpec,
    LakeAccess,
    ObjectTriggerArgs,
    TriggerState,
    command_parameters,
    cron_problem,
    ecr_repository,
    failed_run_message,
    failed_run_pattern,
    fargate_size_problem,
    image_problem,
    object_created_pattern,
    rate_problem,
    retry_strategy,
    schedule_expression_problem,
    submit_job_input,
    timezone_problem,
    vcpu_value,
)
from components.kms import RegionKey, RegionKeyArgs
from components.monitoring import AlertTopic, AlertTopicArgs
from policies.check import check, load_plan
from policies.rules import RESOURCE_STAR_ALLOWED
from stacks.offline import Plan, render_components

ACCOUNT = "123456789012"
REGION = "eu-west-1"
IMAGE = "{account}.dkr.ecr.{region}.amazonaws.com/mlops/batch-inference:1.0.0"
COMMAND = [
    "--input-bucket",
    "Ref::read_bucket",
    "--input-prefix",
    "Ref::read_prefix",
    "--output-bucket",
    "Ref::write_bucket",
    "--output-prefix",
    "Ref::write_prefix",
    "--threshold",
    "Ref::threshold",
    "--shard-count",
    "Ref::array_size",
]

JOB_DEFINITION = "aws:batch/jobDefinition:JobDefinition"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
RULE = "aws:cloudwatch/eventRule:EventRule"
TARGET = "aws:cloudwatch/eventTarget:EventTarget"
SCHEDULE = "aws:scheduler/schedule:Schedule"
QUEUE = "aws:sqs/queue:Queue"
MWAA = "aws:mwaa/environment:Environment"


# --- Fargate sizes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "vcpu, memory", [(v, m) for v, ms in FARGATE_MEMORY_MIB.items() for m in ms]
)
def test_every_fargate_pair_is_accepted(vcpu: float, memory: int) -> None:
    assert fargate_size_problem(vcpu, memory) is None


@pytest.mark.parametrize(
    "vcpu, memory, expected",
    [
        (0.25, 4096, "Fargate does not support 4096 MiB with 0.25 vCPU; use 512, 1024, 2048"),
        (1, 1024, "use 2048 to 8192 in steps of 1024"),
        (8, 20000, "use 16384 to 61440 in steps of 4096"),
        (3, 4096, "3 vCPU is not a Fargate size; use one of 0.25, 0.5, 1, 2, 4, 8, 16"),
        (True, 512, "is not a Fargate size"),
    ],
)
def test_unsupported_pairs_say_what_would_be_right(vcpu: Any, memory: int, expected: str) -> None:
    assert expected in (fargate_size_problem(vcpu, memory) or "")


@given(
    vcpu=st.sampled_from(sorted(FARGATE_MEMORY_MIB)),
    memory=st.integers(min_value=1, max_value=130000),
)
def test_a_pair_is_accepted_exactly_when_fargate_lists_it(vcpu: float, memory: int) -> None:
    assert (fargate_size_problem(vcpu, memory) is None) == (memory in FARGATE_MEMORY_MIB[vcpu])


def test_vcpu_values_are_written_as_batch_expects() -> None:
    assert [vcpu_value(v) for v in FARGATE_MEMORY_MIB] == ["0.25", "0.5", "1", "2", "4", "8", "16"]


# --- schedule expressions and time zones ---------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "0 2 * * ? *",
        "0 10 ? * MON-FRI *",
        "*/15 * * * ? *",
        "0 8-18/2 ? * 2-6 *",
        "0 0 L * ? *",
        "0 0 LW * ? *",
        "0 0 15W * ? 2030",
        "0 0 ? * 6#3 *",
        "0 0 ? * FRIL *",
        "30 6 1,15 JAN-MAR ? *",
    ],
)
def test_valid_cron_expressions(body: str) -> None:
    assert cron_problem(body) is None
    assert schedule_expression_problem(f"cron({body})") is None


@pytest.mark.parametrize(
    "body, expected",
    [
        ("0 2 * * *", "has 5 field(s); EventBridge cron expressions have 6"),
        ("0 2 * * * *", "exactly one of day-of-month and day-of-week must be '?'"),
        ("0 2 ? * ? *", "exactly one of day-of-month and day-of-week must be '?'"),
        ("60 2 * * ? *", "minutes '60' is not valid: values must be 0-59"),
        ("0 24 * * ? *", "hours '24' is not valid"),
        ("0 2 32 * ? *", "day-of-month '32' is not valid"),
        ("0 2 * JAN-XYZ ? *", "month 'JAN-XYZ' is not valid: values must be 1-12 or JAN-DEC"),
        ("0 2 ? * MON#6 *", "write the n-th weekday as <day>#<1-5>"),
        ("*/0 * * * ? *", "the increment after '/' must be a number from 1 to 59"),
        ("? 2 * * ? *", "'?' is only allowed in day-of-month or day-of-week"),
        ("0 2 * * ? 1969", "year '1969' is not valid"),
    ],
)
def test_invalid_cron_expressions_say_why(body: str, expected: str) -> None:
    assert expected in (cron_problem(body) or "")


_FIELD = st.one_of(
    st.just("*"),
    st.integers(0, 59).map(str),
    st.tuples(st.integers(0, 29), st.integers(30, 59)).map(lambda t: f"{t[0]}-{t[1]}"),
)


@given(
    minutes=_FIELD,
    hours=st.one_of(
        st.just("*"), st.integers(0, 23).map(str), st.integers(1, 23).map(lambda n: f"*/{n}")
    ),
    month=st.one_of(st.just("*"), st.integers(1, 12).map(str), st.sampled_from(["JAN", "JUN-AUG"])),
    year=st.one_of(st.just("*"), st.integers(1970, 2199).map(str)),
    on_weekdays=st.booleans(),
    day=st.one_of(st.just("*"), st.integers(1, 31).map(str)),
    weekday=st.one_of(
        st.integers(1, 7).map(str), st.sampled_from(["MON-FRI", "SAT,SUN", "2#1", "L"])
    ),
)
def test_generated_cron_expressions_are_accepted(
    minutes, hours, month, year, on_weekdays, day, weekday
) -> None:
    dom, dow = ("?", weekday) if on_weekdays else (day, "?")
    assert cron_problem(f"{minutes} {hours} {dom} {month} {dow} {year}") is None


@pytest.mark.parametrize(
    "expression, expected",
    [
        ("rate(1 day)", None),
        ("rate(6 hours)", None),
        ("rate(15 minutes)", None),
        ("rate(1 days)", "the unit must be one of minute, hour, day for 1"),
        ("rate(2 day)", "the unit must be one of minutes, hours, days for 2"),
        ("rate(0 minutes)", "must be '<positive whole number> <unit>'"),
        ("rate(1 week)", "the unit must be one of"),
        ("at(2030-01-01T00:00:00)", "is not a recurring schedule"),
        ("0 2 * * ? *", "write cron(<6 fields>) or rate(<n> <unit>)"),
    ],
)
def test_schedule_expressions(expression: str, expected: str | None) -> None:
    problem = schedule_expression_problem(expression)
    assert problem is None if expected is None else expected in (problem or ""), problem
    if expression.startswith("rate("):
        assert rate_problem(expression[5:-1]) == problem


def test_time_zones_are_iana_names() -> None:
    assert timezone_problem("Europe/Rome") is None and timezone_problem("UTC") is None
    assert "did you mean 'Europe/Rome'?" in (timezone_problem("Europe/Roma") or "")
    assert "is not an IANA time zone name" in (timezone_problem("CET+1") or "")


# --- commands, images, documents ----------------------------------------------------------------


def test_command_parameters_are_the_ref_placeholders_once_each() -> None:
    assert command_parameters(["--a", "Ref::x", "Ref::y-and-Ref::x", "plain"]) == ["x", "y"]


def test_images_and_their_ecr_repository() -> None:
    assert image_problem(IMAGE) is None
    assert image_problem("python:3.11-slim") is None
    assert "only {account} and {region}" in (
        image_problem("{acct}.dkr.ecr.eu-west-1.amazonaws.com/x:1") or ""
    )
    assert "is not an image reference" in (image_problem("Not An Image") or "")
    assert ecr_repository(IMAGE) == ("{account}", "{region}", "mlops/batch-inference")
    assert ecr_repository(
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/jobs@sha256:" + "a" * 64
    ) == ("123456789012", "eu-west-1", "jobs")
    assert ecr_repository("public.ecr.aws/docker/library/python:3.11") is None


def test_retry_strategy_retries_storage_errors_and_failed_starts_and_exits_on_everything_else() -> (
    None
):
    strategy = retry_strategy(3, (3,))
    rules = strategy["evaluateOnExits"]
    assert strategy["attempts"] == 3
    assert rules[0] == {"action": "RETRY", "onExitCode": "3"}
    assert rules[1] == {"action": "RETRY", "onStatusReason": "Task failed to start*"}
    assert rules[-2:] == [
        {"action": "EXIT", "onExitCode": "*"},
        {"action": "EXIT", "onReason": "*"},
    ]
    assert len(retry_strategy(10, (3, 4))["evaluateOnExits"]) == 5  # Batch's limit


def test_failed_run_alert_names_the_job_the_run_and_its_logs() -> None:
    template = failed_run_message("eu-west-1")
    text = json.loads(re.sub(r"<(\w+)>", r"\1", template))  # a JSON string once filled
    for placeholder in ("<jobName>", "<jobId>", "<logGroup>", "<logStream>", "<statusReason>"):
        assert placeholder in template
    assert "#jobs/fargate/detail/<jobId>" in template
    assert text.startswith("Job run FAILED: jobName (run id jobId)")
    assert set(re.findall(r"<(\w+)>", template)) <= set(FAILED_RUN_PATHS)
    assert FAILED_RUN_PATHS["logStream"] == "$.detail.container.logStreamName"
    assert FAILED_RUN_PATHS["logGroup"].endswith("logConfiguration.options.awslogs-group")


def test_patterns_and_submit_requests() -> None:
    pattern = failed_run_pattern("arn:queue")
    assert pattern["detail"] == {
        "status": ["FAILED"],
        "jobQueue": ["arn:queue"],
        "arrayProperties": {"index": [{"exists": False}]},
    }
    assert object_created_pattern("raw-bucket", None)["detail"] == {
        "bucket": {"name": ["raw-bucket"]}
    }
    assert object_created_pattern("raw-bucket", "events/")["detail"]["object"] == {
        "key": [{"prefix": "events/"}]
    }
    request = submit_job_input(
        run_name="j-scheduled",
        queue_arn="q",
        definition_arn="d",
        parameters={},
        environment={},
        array_size=None,
    )
    assert request == {"JobName": "j-scheduled", "JobQueue": "q", "JobDefinition": "d"}


# --- the graph ----------------------------------------------------------------------------------


def _base(opts: pulumi.ResourceOptions) -> tuple[RegionKey, AlertTopic, DataLake]:
    key = RegionKey("kms", RegionKeyArgs(alias="test", services=("logs", "alarms")), opts=opts)
    topic = AlertTopic("alerts", AlertTopicArgs(key=key), opts=opts)
    lake = DataLake("lake", DataLakeArgs(key=key), opts=opts)
    return key, topic, lake


def full_job(**changes: Any) -> JobSpec:
    spec: dict[str, Any] = dict(
        name="churn",
        image=IMAGE,
        command=COMMAND,
        parameters={"threshold": "0.5"},
        environment_variables={"LOG_LEVEL": "info"},
        vcpu=0.5,
        memory_mib=1024,
        timeout_seconds=1800,
        attempts=3,
        read=LakeAccess("curated", "customers"),
        write=LakeAccess("models", "predictions/churn"),
        schedule=JobScheduleArgs(
            "cron(0 2 * * ? *)",
            "Europe/Rome",
            parameters={"threshold": "0.7"},
            environment={"LOG_LEVEL": "debug"},
        ),
        on_new_objects=ObjectTriggerArgs("raw", "events/"),
        array_size=4,
    )
    spec.update(changes)
    return JobSpec(**spec)


def render_jobs(
    jobs: list[JobSpec], late: Callable[[], dict[str, Any]] | None = None, **changes: Any
) -> Plan:
    """Render one region's Jobs; ``late`` gives changes made inside the program (Outputs)."""

    def build(opts: pulumi.ResourceOptions) -> None:
        key, topic, lake = _base(opts)
        args: dict[str, Any] = dict(
            name_prefix="mlops-test",
            key=key,
            alert_topic=topic,
            vpc_id="vpc-1",
            private_subnet_ids=["subnet-a", "subnet-b", "subnet-c"],
            lake=lake,
            jobs=jobs,
            max_vcpus=4,
            log_retention_days=30,
        )
        args.update(changes)
        args.update(late() if late is not None else {})
        Jobs(f"{REGION}-jobs", JobsArgs(**args), opts=opts)

    return render_components(build, region=REGION)


@pytest.fixture(scope="module")
def plan() -> Plan:
    return render_jobs(
        [full_job()], airflow=AirflowSpec(environment_class="mw1.medium"), protect=True
    )


def one(plan: Plan, typ: str, name: str) -> dict[str, Any]:
    return plan.find(typ, name)


def policies_of(plan: Plan, role_prefix: str) -> dict[str, dict[str, Any]]:
    """Inline policies of a ServiceRole by purpose."""
    return {
        p["name"][len(role_prefix) + 1 :]: json.loads(p["inputs"]["policy"])
        for p in plan.of_type(ROLE_POLICY)
        if p["name"].startswith(f"{role_prefix}-")
    }


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    found = document["Statement"]
    return found if isinstance(found, list) else [found]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def actions_and_resources(documents: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {
        (a, r)
        for d in documents
        for s in statements(d)
        for a in as_list(s["Action"])
        for r in as_list(s["Resource"])
    }


def trust(plan: Plan, role_name: str) -> dict[str, Any]:
    role = one(plan, ROLE, f"{role_name}-role")
    (statement,) = json.loads(role["inputs"]["assumeRolePolicy"])["Statement"]
    return statement


def bucket(plan: Plan, zone: str) -> str:
    return one(plan, "aws:s3/bucket:Bucket", f"lake-{zone}")["id"]


def container(plan: Plan) -> dict[str, Any]:
    return json.loads(
        one(plan, JOB_DEFINITION, f"{REGION}-jobs-churn-definition")["inputs"][
            "containerProperties"
        ]
    )


def test_fargate_compute_environment_scales_to_zero_in_private_subnets(plan: Plan) -> None:
    ce = one(
        plan, "aws:batch/computeEnvironment:ComputeEnvironment", f"{REGION}-jobs-batch-fargate"
    )["inputs"]
    assert ce["type"] == "MANAGED"
    resources = ce["computeResources"]
    assert resources["type"] == "FARGATE" and resources["maxVcpus"] == 4
    assert "minVcpus" not in resources and "desiredVcpus" not in resources  # Fargate: nothing idles
    assert resources["subnets"] == ["subnet-a", "subnet-b", "subnet-c"]
    assert "serviceRole" not in ce  # the Batch service-linked role; no role to create
    sg = one(plan, "aws:ec2/securityGroup:SecurityGroup", f"{REGION}-jobs-batch-tasks-sg")
    assert resources["securityGroupIds"] == [sg["id"]] and sg["inputs"]["description"]
    rules = [
        r
        for r in plan.resources
        if r["type"].startswith("aws:vpc/securityGroup")
        and r["inputs"].get("securityGroupId") == sg["id"]
    ]
    assert [
        (r["type"].rsplit(":", 1)[-1], r["inputs"]["fromPort"], r["inputs"]["toPort"])
        for r in rules
    ] == [("SecurityGroupEgressRule", 443, 443)]
    assert rules[0]["inputs"]["description"]


def test_queue_uses_the_environment_and_cancels_runs_that_can_never_start(plan: Plan) -> None:
    ce = one(
        plan, "aws:batch/computeEnvironment:ComputeEnvironment", f"{REGION}-jobs-batch-fargate"
    )
    queue = one(plan, "aws:batch/jobQueue:JobQueue", f"{REGION}-jobs-batch-queue")["inputs"]
    assert queue["state"] == "ENABLED"
    (order,) = queue["computeEnvironmentOrders"]
    assert order["order"] == 1
    assert order["computeEnvironment"].startswith(
        f"arn:aws:batch:{REGION}:{ACCOUNT}:compute-environment/{ce['name']}-"
    )
    assert {a["reason"] for a in queue["jobStateTimeLimitActions"]} == {
        "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE",
        "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT",
    }
    assert all(
        a["action"] == "CANCEL" and a["state"] == "RUNNABLE" and a["maxTimeSeconds"] == 600
        for a in queue["jobStateTimeLimitActions"]
    )


def test_job_definition_is_the_template(plan: Plan) -> None:
    definition = one(plan, JOB_DEFINITION, f"{REGION}-jobs-churn-definition")["inputs"]
    assert definition["name"] == "mlops-test-churn" and definition["type"] == "container"
    assert definition["platformCapabilities"] == ["FARGATE"]
    assert definition["timeout"] == {"attemptDurationSeconds": 1800}
    assert definition["retryStrategy"]["attempts"] == 3
    assert definition["retryStrategy"]["evaluateOnExits"][0] == {
        "action": "RETRY",
        "onExitCode": "3",
    }
    assert definition["propagateTags"] is True
    assert definition["parameters"] == {
        "read_bucket": bucket(plan, "curated"),
        "read_prefix": "customers",
        "write_bucket": bucket(plan, "models"),
        "write_prefix": "predictions/churn",
        "array_size": "4",
        "threshold": "0.5",
    }
    props = container(plan)
    assert props["image"] == f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/mlops/batch-inference:1.0.0"
    assert props["command"] == COMMAND
    assert props["environment"] == [{"name": "LOG_LEVEL", "value": "info"}]
    assert props["resourceRequirements"] == [
        {"type": "VCPU", "value": "0.5"},
        {"type": "MEMORY", "value": "1024"},
    ]
    assert props["fargatePlatformConfiguration"] == {"platformVersion": "LATEST"}
    assert props["networkConfiguration"] == {"assignPublicIp": "DISABLED"}
    assert props["readonlyRootFilesystem"] is True
    assert props["volumes"] == [{"name": "tmp"}]
    assert props["mountPoints"] == [
        {"sourceVolume": "tmp", "containerPath": "/tmp", "readOnly": False}
    ]


def test_each_run_logs_to_its_own_stream_in_the_jobs_encrypted_log_group(plan: Plan) -> None:
    group = one(plan, "aws:cloudwatch/logGroup:LogGroup", f"{REGION}-jobs-churn-logs")
    assert group["inputs"]["name"] == "/aws/batch/mlops-test/churn"
    assert group["inputs"]["retentionInDays"] == 30
    assert (
        group["inputs"]["kmsKeyId"]
        == f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{one(plan, 'aws:kms/key:Key', 'kms-key')['id']}"
    )
    assert group["options"]["protect"] and group["options"]["retainOnDelete"]
    assert container(plan)["logConfiguration"] == {
        "logDriver": "awslogs",
        "options": {
            "awslogs-group": "/aws/batch/mlops-test/churn",
            "awslogs-region": REGION,
            "awslogs-stream-prefix": LOG_STREAM_PREFIX,
        },
    }


def test_execution_role_pulls_this_image_and_writes_this_log_group_only(plan: Plan) -> None:
    props = container(plan)
    role = one(plan, ROLE, f"{REGION}-jobs-churn-execution-role")
    assert props["executionRoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/{role['id']}"
    statement = trust(plan, f"{REGION}-jobs-churn-execution")
    assert statement["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnLike": {"aws:SourceArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:*"},
    }
    grants = policies_of(plan, f"{REGION}-jobs-churn-execution")
    assert sorted(grants) == ["pull-image", "write-logs"]
    assert actions_and_resources(list(grants.values())) == {
        (
            "logs:CreateLogStream",
            f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/batch/mlops-test/churn:log-stream:*",
        ),
        (
            "logs:PutLogEvents",
            f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/batch/mlops-test/churn:log-stream:*",
        ),
        (
            "ecr:BatchCheckLayerAvailability",
            f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/mlops/batch-inference",
        ),
        ("ecr:BatchGetImage", f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/mlops/batch-inference"),
        (
            "ecr:GetDownloadUrlForLayer",
            f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/mlops/batch-inference",
        ),
        ("ecr:GetAuthorizationToken", "*"),
    }


def test_definition_exists_only_once_both_roles_hold_their_policies(plan: Plan) -> None:
    """A run can be submitted the moment the definition exists; its first attempt must be
    able to pull, log and reach the lake."""
    definition = one(plan, JOB_DEFINITION, f"{REGION}-jobs-churn-definition")
    policies = [
        p["urn"]
        for p in plan.of_type(ROLE_POLICY)
        if p["name"].startswith((f"{REGION}-jobs-churn-execution-", f"{REGION}-jobs-churn-job-"))
    ]
    assert len(policies) == 4  # pull-image, write-logs; read curated, write models
    assert set(policies) <= set(definition["dependencies"])


def test_job_role_has_only_the_lake_grants_given(plan: Plan) -> None:
    props = container(plan)
    role = one(plan, ROLE, f"{REGION}-jobs-churn-job-role")
    assert props["jobRoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/{role['id']}"
    assert trust(plan, f"{REGION}-jobs-churn-job")["Principal"] == {
        "Service": "ecs-tasks.amazonaws.com"
    }
    grants = policies_of(plan, f"{REGION}-jobs-churn-job")
    assert len(grants) == 2
    pairs = actions_and_resources(list(grants.values()))
    curated, models = (
        f"arn:aws:s3:::{bucket(plan, 'curated')}",
        f"arn:aws:s3:::{bucket(plan, 'models')}",
    )
    s3_pairs = {(a, r) for a, r in pairs if a.startswith("s3:")}
    assert ("s3:GetObject", f"{curated}/customers/*") in s3_pairs
    assert ("s3:ListBucket", curated) in s3_pairs
    assert ("s3:PutObject", f"{models}/predictions/churn/*") in s3_pairs
    assert (
        "s3:DeleteObject",
        f"{models}/predictions/churn/*",
    ) in s3_pairs  # clears its own leftovers
    assert ("s3:GetObject", f"{models}/predictions/churn/*") in s3_pairs  # finds completed runs
    # NOT granted: writing what it reads, any other zone or folder, anything but S3 and the key.
    assert not {
        (a, r)
        for a, r in s3_pairs
        if r.startswith(curated) and a != "s3:GetObject" and a != "s3:ListBucket"
    }
    assert all(
        r in (curated, models)
        or r.startswith((f"{curated}/customers/", f"{models}/predictions/churn/"))
        for _, r in s3_pairs
    )
    assert {a.split(":")[0] for a, _ in pairs} == {"s3", "kms"}
    for document in grants.values():
        for statement in statements(document):
            if statement["Action"] == "s3:ListBucket" or statement["Action"] == ["s3:ListBucket"]:
                prefix = statement["Condition"]["StringLike"]["s3:prefix"]
                assert prefix in (
                    ["customers/", "customers/*"],
                    ["predictions/churn/", "predictions/churn/*"],
                )


def test_schedule_submits_runs_with_overrides_in_its_time_zone(plan: Plan) -> None:
    schedule = one(plan, SCHEDULE, f"{REGION}-jobs-churn-schedule")["inputs"]
    group = one(plan, "aws:scheduler/scheduleGroup:ScheduleGroup", f"{REGION}-jobs-batch-schedules")
    queue = one(plan, "aws:batch/jobQueue:JobQueue", f"{REGION}-jobs-batch-queue")
    dlq = one(plan, QUEUE, f"{REGION}-jobs-churn-submit-dlq")
    assert schedule["name"] == "mlops-test-churn" and schedule["groupName"].startswith(
        f"{group['name']}-"
    )
    assert schedule["scheduleExpression"] == "cron(0 2 * * ? *)"
    assert schedule["scheduleExpressionTimezone"] == "Europe/Rome"
    assert schedule["flexibleTimeWindow"] == {"mode": "OFF"}
    assert schedule["state"] == "ENABLED"
    target = schedule["target"]
    assert target["arn"] == "arn:aws:scheduler:::aws-sdk:batch:submitJob"
    assert target["retryPolicy"] == {"maximumEventAgeInSeconds": 3600, "maximumRetryAttempts": 3}
    assert target["deadLetterConfig"]["arn"].startswith(
        f"arn:aws:sqs:{REGION}:{ACCOUNT}:{dlq['name']}-"
    )
    request = json.loads(target["input"])
    assert request["JobName"] == "churn-scheduled"
    assert request["JobQueue"].startswith(
        f"arn:aws:batch:{REGION}:{ACCOUNT}:job-queue/{REGION}-jobs-batch-queue-"
    )
    assert (
        request["JobDefinition"]
        == f"arn:aws:batch:{REGION}:{ACCOUNT}:job-definition/mlops-test-churn:1"
    )
    assert request["Parameters"] == {"threshold": "0.7"}
    assert request["ContainerOverrides"] == {
        "Environment": [{"Name": "LOG_LEVEL", "Value": "debug"}]
    }
    assert request["ArrayProperties"] == {"Size": 4}
    assert f"job-queue/{queue['name']}-" in request["JobQueue"]


def test_scheduler_role_submits_exactly_this_job_to_this_queue(plan: Plan) -> None:
    statement = trust(plan, f"{REGION}-jobs-churn-scheduler")
    assert statement["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
    assert statement["Condition"]["ArnLike"]["aws:SourceArn"].startswith(
        f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule-group/{REGION}-jobs-batch-schedules-"
    )
    (grant,) = policies_of(plan, f"{REGION}-jobs-churn-scheduler").values()
    by_sid = {s["Sid"]: s for s in statements(grant)}
    submit = by_sid["SubmitThisJobToThisQueue"]
    assert submit["Action"] == ["batch:SubmitJob"]
    resources = as_list(submit["Resource"])
    definition = f"arn:aws:batch:{REGION}:{ACCOUNT}:job-definition/mlops-test-churn"
    assert len(resources) == 4
    assert resources[1:] == [
        definition,
        f"{definition}:*",
        f"arn:aws:batch:{REGION}:{ACCOUNT}:job/*",
    ]
    assert resources[0].startswith(f"arn:aws:batch:{REGION}:{ACCOUNT}:job-queue/")
    assert by_sid["SendToDeadLetterQueue"]["Action"] == ["sqs:SendMessage"]
    assert by_sid["EncryptDeadLetters"]["Condition"] == {
        "StringEquals": {"kms:ViaService": f"sqs.{REGION}.amazonaws.com"}
    }
    assert {a for s in statements(grant) for a in as_list(s["Action"])} == {
        "batch:SubmitJob",
        "sqs:SendMessage",
        "kms:Decrypt",
        "kms:GenerateDataKey",
    }


def test_new_raw_objects_submit_a_run_through_a_rule(plan: Plan) -> None:
    rule = one(plan, RULE, f"{REGION}-jobs-churn-on-new-objects")
    assert json.loads(rule["inputs"]["eventPattern"]) == {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {
            "bucket": {"name": [bucket(plan, "raw")]},
            "object": {"key": [{"prefix": "events/"}]},
        },
    }
    target = one(plan, TARGET, f"{REGION}-jobs-churn-on-new-objects-submit")["inputs"]
    assert target["rule"].startswith(f"{rule['name']}-")
    assert target["arn"].startswith(f"arn:aws:batch:{REGION}:{ACCOUNT}:job-queue/")
    assert target["batchTarget"] == {
        "jobDefinition": f"arn:aws:batch:{REGION}:{ACCOUNT}:job-definition/mlops-test-churn:1",
        "jobName": "churn-on-new-object",
        "arraySize": 4,
    }
    assert json.loads(
        target["inputTransformer"]["inputTemplate"]
        .replace("<bucket>", '"b"')
        .replace("<key>", '"k"')
    ) == {"Parameters": {"trigger_bucket": "b", "trigger_key": "k"}}
    assert target["retryPolicy"] == {"maximumEventAgeInSeconds": 3600, "maximumRetryAttempts": 3}
    assert target["deadLetterConfig"]["arn"].startswith(
        f"arn:aws:sqs:{REGION}:{ACCOUNT}:{REGION}-jobs-churn-submit-dlq-"
    )
    statement = trust(plan, f"{REGION}-jobs-churn-events")
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert (
        statement["Condition"]["ArnLike"]["aws:SourceArn"]
        == f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{target['rule']}"
    )
    (grant,) = policies_of(plan, f"{REGION}-jobs-churn-events").values()
    assert {a for s in statements(grant) for a in as_list(s["Action"])} == {"batch:SubmitJob"}


def test_the_dead_letter_queue_is_encrypted_accepts_only_the_rule_and_raises_an_alarm(
    plan: Plan,
) -> None:
    dlq = one(plan, QUEUE, f"{REGION}-jobs-churn-submit-dlq")["inputs"]
    assert dlq["kmsMasterKeyId"].startswith(f"arn:aws:kms:{REGION}:{ACCOUNT}:key/")
    assert dlq["messageRetentionSeconds"] == 14 * 24 * 3600
    policy = json.loads(
        one(plan, "aws:sqs/queuePolicy:QueuePolicy", f"{REGION}-jobs-churn-submit-dlq-policy")[
            "inputs"
        ]["policy"]
    )
    allow, deny = statements(policy)
    rule = one(plan, RULE, f"{REGION}-jobs-churn-on-new-objects")
    assert allow["Principal"] == {"Service": "events.amazonaws.com"}
    rule_name = one(plan, TARGET, f"{REGION}-jobs-churn-on-new-objects-submit")["inputs"]["rule"]
    assert rule_name.startswith(f"{rule['name']}-")
    assert allow["Condition"] == {
        "ArnEquals": {"aws:SourceArn": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{rule_name}"}
    }
    assert deny["Effect"] == "Deny" and deny["Condition"] == {
        "Bool": {"aws:SecureTransport": "false"}
    }
    alarm = one(
        plan, "aws:cloudwatch/metricAlarm:MetricAlarm", f"{REGION}-jobs-churn-submit-failed"
    )["inputs"]
    assert (alarm["namespace"], alarm["metricName"], alarm["threshold"]) == (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        1,
    )
    assert alarm["treatMissingData"] == "notBreaching"
    assert alarm["alarmActions"] == [
        f"arn:aws:sns:{REGION}:{ACCOUNT}:{one(plan, 'aws:sns/topic:Topic', 'alerts-topic')['id']}"
    ]


def test_failed_runs_on_the_queue_notify_the_alert_topic_with_job_run_and_logs(plan: Plan) -> None:
    rule = one(plan, RULE, f"{REGION}-jobs-batch-run-failed")
    pattern = json.loads(rule["inputs"]["eventPattern"])
    assert pattern["source"] == ["aws.batch"] and pattern["detail-type"] == [
        "Batch Job State Change"
    ]
    assert pattern["detail"]["status"] == ["FAILED"]
    assert pattern["detail"]["jobQueue"][0].startswith(
        f"arn:aws:batch:{REGION}:{ACCOUNT}:job-queue/{REGION}-jobs-batch-queue-"
    )
    target = one(plan, TARGET, f"{REGION}-jobs-batch-run-failed-alert")["inputs"]
    topic = one(plan, "aws:sns/topic:Topic", "alerts-topic")
    assert target["arn"] == f"arn:aws:sns:{REGION}:{ACCOUNT}:{topic['id']}"
    assert "roleArn" not in target  # the topic policy lets EventBridge of this account publish
    transformer = target["inputTransformer"]
    assert transformer["inputPaths"] == dict(FAILED_RUN_PATHS)
    template = transformer["inputTemplate"]
    for needed in (
        "<jobName>",
        "<jobId>",
        "<logGroup>",
        "<logStream>",
        f"https://{REGION}.console.aws.amazon.com",
    ):
        assert needed in template


def test_airflow_is_private_encrypted_and_least_privilege(plan: Plan) -> None:
    env = one(plan, MWAA, f"{REGION}-jobs-airflow-environment")["inputs"]
    assert env["name"] == "mlops-test-airflow"
    assert env["environmentClass"] == "mw1.medium"
    assert env["webserverAccessMode"] == "PRIVATE_ONLY"
    assert env["kmsKey"].startswith(f"arn:aws:kms:{REGION}:{ACCOUNT}:key/")
    assert env["networkConfiguration"]["subnetIds"] == ["subnet-a", "subnet-b"]
    assert env["dagS3Path"] == "dags/"
    dags = one(plan, "aws:s3/bucket:Bucket", f"{REGION}-jobs-airflow-dags")
    assert env["sourceBucketArn"] == f"arn:aws:s3:::{dags['id']}"
    versioning = [
        r
        for r in plan.of_type("aws:s3/bucketVersioning:BucketVersioning")
        if r["inputs"]["bucket"] == dags["id"]
    ]
    assert versioning and versioning[0]["inputs"]["versioningConfiguration"]["status"] == "Enabled"
    pab = [
        r
        for r in plan.of_type("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
        if r["inputs"]["bucket"] == dags["id"]
    ]
    assert pab and all(
        pab[0]["inputs"][k]
        for k in (
            "blockPublicAcls",
            "blockPublicPolicy",
            "ignorePublicAcls",
            "restrictPublicBuckets",
        )
    )
    for module, suffix in MWAA_LOG_MODULES.items():
        group = one(
            plan, "aws:cloudwatch/logGroup:LogGroup", f"{REGION}-jobs-airflow-{suffix.lower()}-logs"
        )["inputs"]
        assert (
            group["name"] == f"airflow-mlops-test-airflow-{suffix}"
            and group["kmsKeyId"]
            and group["retentionInDays"] == 30
        )
        assert (
            env["loggingConfiguration"][re.sub(r"_(\w)", lambda m: m.group(1).upper(), module)][
                "enabled"
            ]
            is True
        )
    role = one(plan, ROLE, f"{REGION}-jobs-airflow-execution-role")
    trust_statements = json.loads(role["inputs"]["assumeRolePolicy"])["Statement"]
    assert sorted(s["Principal"]["Service"] for s in trust_statements) == [
        "airflow-env.amazonaws.com",
        "airflow.amazonaws.com",
    ]
    for statement in trust_statements:
        assert statement["Principal"]["Service"] in CONFUSED_DEPUTY_KEYS
        assert statement["Condition"] == {
            "StringEquals": {"aws:SourceAccount": ACCOUNT},
            "ArnLike": {
                "aws:SourceArn": f"arn:aws:airflow:{REGION}:{ACCOUNT}:environment/mlops-test-airflow"
            },
        }
    policy = json.loads(
        one(plan, ROLE_POLICY, f"{REGION}-jobs-airflow-execution")["inputs"]["policy"]
    )
    pairs = actions_and_resources([policy])
    assert {r for a, r in pairs if a.startswith("s3:")} <= {
        f"arn:aws:s3:::{dags['id']}",
        f"arn:aws:s3:::{dags['id']}/*",
    }
    assert {r for a, r in pairs if a.startswith("sqs:")} == {
        f"arn:aws:sqs:{REGION}:*:airflow-celery-*"
    }
    assert {r for a, r in pairs if a.startswith("logs:") and a != "logs:DescribeLogGroups"} == {
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:airflow-mlops-test-airflow-*",
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:airflow-mlops-test-airflow-*:log-stream:*",
    }
    assert {a for a, r in pairs if r == "*"} <= set(RESOURCE_STAR_ALLOWED)
    kms = next(s for s in statements(policy) if s["Sid"] == "UseKeyThroughSqsAndS3")
    assert kms["Condition"] == {
        "StringEquals": {
            "kms:ViaService": [f"sqs.{REGION}.amazonaws.com", f"s3.{REGION}.amazonaws.com"]
        }
    }
    assert [b["name"] for b in plan.of_type("aws:s3/bucket:Bucket") if "airflow" in b["name"]] == [
        f"{REGION}-jobs-airflow-dags"
    ]
    logging = next(
        r
        for r in plan.of_type("aws:s3/bucketLogging:BucketLogging")
        if r["inputs"]["bucket"] == dags["id"]
    )
    log_bucket = one(plan, "aws:s3/bucket:Bucket", "lake-access-logs")
    assert (
        logging["inputs"]["targetBucket"] == log_bucket["id"]
        and logging["inputs"]["targetPrefix"] == "airflow-dags/"
    )
    assert log_delivery_allowed(plan, log_bucket, dags, "airflow-dags/")
    sg_rules = [
        r
        for r in plan.resources
        if r["type"].startswith("aws:vpc/securityGroup") and "airflow" in r["name"]
    ]
    assert sg_rules and all(r["inputs"]["description"] for r in sg_rules)
    assert not any(
        r["inputs"].get("cidrIpv4") == "0.0.0.0/0"
        for r in sg_rules
        if r["type"] == "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
    )


def log_delivery_allowed(
    plan: Plan, log_bucket: dict[str, Any], source: dict[str, Any], prefix: str
) -> bool:
    """Whether the log bucket's policy lets S3 access logging of ``source`` write ``prefix``."""
    (policy,) = [
        p
        for p in plan.of_type("aws:s3/bucketPolicy:BucketPolicy")
        if p["inputs"]["bucket"] == log_bucket["id"]
    ]
    return any(
        st["Effect"] == "Allow"
        and st.get("Principal") == {"Service": "logging.s3.amazonaws.com"}
        and f"arn:aws:s3:::{log_bucket['id']}/{prefix}*" in as_list(st["Resource"])
        and f"arn:aws:s3:::{source['id']}" in as_list(st["Condition"]["ArnLike"]["aws:SourceArn"])
        and st["Condition"]["StringEquals"]["aws:SourceAccount"] == ACCOUNT
        for st in statements(json.loads(policy["inputs"]["policy"]))
    )


def test_airflow_without_a_lake_logs_its_dag_bucket_into_its_own_log_bucket() -> None:
    from components.jobs import Airflow, AirflowArgs

    def build(opts: pulumi.ResourceOptions) -> None:
        key = RegionKey("kms", RegionKeyArgs(alias="t", services=("logs", "alarms")), opts=opts)
        Airflow(
            "af",
            AirflowArgs(
                environment_name="af-test",
                key=key,
                vpc_id="v",
                subnet_ids=["a", "b"],
                force_destroy=True,
            ),
            opts=opts,
        )

    plan = render_components(build, region=REGION)
    dags, logs = (
        one(plan, "aws:s3/bucket:Bucket", "af-dags"),
        one(plan, "aws:s3/bucket:Bucket", "af-access-logs"),
    )
    assert dags["inputs"]["forceDestroy"] is True
    assert log_delivery_allowed(plan, logs, dags, "airflow-dags/")
    assert [v for v in check(load_plan(plan.to_dict())).violations if "mlops:jobs:" in v.urn] == []


def test_policies_pass_parliament_except_the_registry_login(plan: Plan) -> None:
    findings = []
    for resource in plan.of_type(ROLE_POLICY) + plan.of_type("aws:sqs/queuePolicy:QueuePolicy"):
        if "jobs" not in resource["name"]:
            continue
        for finding in analyze_policy_string(
            resource["inputs"]["policy"], include_community_auditors=True
        ).findings:
            findings.append((resource["name"], finding.issue))
    # ECS needs ecr:GetAuthorizationToken to pull; parliament flags every token action.
    assert findings == [(f"{REGION}-jobs-churn-execution-pull-image", "CREDENTIALS_EXPOSURE")]


def test_jobs_resources_cause_no_policy_violation(plan: Plan) -> None:
    result = check(load_plan(plan.to_dict()))
    ours = [v for v in result.violations if "mlops:jobs:" in v.urn]
    assert ours == []


def test_every_jobs_resource_uses_the_regions_provider(plan: Plan) -> None:
    provider = plan.of_type("pulumi:providers:aws")[0]["urn"]
    jobs = [r for r in plan.resources if "mlops:jobs:" in r["urn"] and r["custom"]]
    assert jobs and all(r["provider"] == provider and r["region"] == REGION for r in jobs)


# --- variations ---------------------------------------------------------------------------------


def test_inactive_triggers_exist_disabled_with_their_roles_and_dead_letters() -> None:
    """A region that is not the active one: the schedule and the object trigger exist (a
    failover only flips their state), DISABLED, and the state is left to the failover."""
    plan = render_jobs([full_job()], triggers=TriggerState(active=False, switchable=True))
    assert plan.of_type(MWAA) == []
    [schedule] = plan.of_type(SCHEDULE)
    rule = one(plan, RULE, f"{REGION}-jobs-churn-on-new-objects")
    for switched in (schedule, rule):
        assert switched["inputs"]["state"] == "DISABLED"
        assert switched["options"]["ignoreChanges"] == ["state"]
    assert len(plan.of_type(QUEUE)) == 1
    assert {f"{REGION}-jobs-churn-scheduler-role", f"{REGION}-jobs-churn-events-role"} <= {
        r["name"] for r in plan.of_type(ROLE)
    }


def test_a_job_without_lake_access_or_ecr_image_gets_no_grant_for_them() -> None:
    plan = render_jobs(
        [
            JobSpec(
                name="hello",
                image="public.ecr.aws/docker/library/python:3.11-slim",
                command=["python", "-c", "print('hi')"],
                vcpu=0.25,
                memory_mib=512,
                timeout_seconds=60,
            )
        ]
    )
    assert policies_of(plan, f"{REGION}-jobs-hello-job") == {}
    assert sorted(policies_of(plan, f"{REGION}-jobs-hello-execution")) == ["write-logs"]
    definition = one(plan, JOB_DEFINITION, f"{REGION}-jobs-hello-definition")["inputs"]
    assert "parameters" not in definition
    assert definition["retryStrategy"]["attempts"] == 1


def test_a_whole_zone_gets_a_bucket_parameter_but_no_prefix_default() -> None:
    plan = render_jobs(
        [full_job(read=LakeAccess("curated"), schedule=None, on_new_objects=None, array_size=None)]
    )
    definition = one(plan, JOB_DEFINITION, f"{REGION}-jobs-churn-definition")["inputs"]
    assert definition["parameters"]["read_bucket"] == bucket(plan, "curated")
    assert "read_prefix" not in definition["parameters"]  # Ref::read_prefix stays unresolved
    pairs = actions_and_resources(list(policies_of(plan, f"{REGION}-jobs-churn-job").values()))
    assert ("s3:GetObject", f"arn:aws:s3:::{bucket(plan, 'curated')}/*") in pairs
    assert plan.of_type(QUEUE) == [] and plan.of_type(SCHEDULE) == []  # nothing submits runs


def test_no_jobs_means_no_batch_resources() -> None:
    plan = render_jobs([])
    assert not [
        r
        for r in plan.resources
        if r["type"].startswith(("aws:batch", "aws:scheduler", "mlops:jobs:B"))
    ]


def test_widgets_show_failed_runs_submissions_and_dead_letters() -> None:
    seen: dict[str, Any] = {}

    def build(opts: pulumi.ResourceOptions) -> None:
        key, topic, lake = _base(opts)
        jobs = Jobs(
            f"{REGION}-jobs",
            JobsArgs(
                name_prefix="mlops-test",
                key=key,
                alert_topic=topic,
                vpc_id="vpc-1",
                private_subnet_ids=["subnet-a"],
                lake=lake,
                jobs=[full_job()],
            ),
            opts=opts,
        )
        seen["titles"] = [w.title for w in jobs.widgets()]

    render_components(build, region=REGION)
    assert seen["titles"] == [
        "Job runs that failed (alerts sent)",
        "Scheduled run submissions",
        "Runs submitted by new objects",
        "Runs that could not be submitted (dead-letter queues)",
    ]


# --- bad arguments ------------------------------------------------------------------------------


def job_problems(**changes: Any) -> list[str]:
    """Problems of BatchJobArgs built on a real (rendered) environment and lake."""
    return jobs_problems([changes])[0]


def jobs_problems(change_sets: list[dict[str, Any]]) -> list[list[str]]:
    """``job_problems`` for each change set, all on one rendered environment and lake.

    ``BatchJobArgs.problems()`` only reads its arguments (it registers nothing), so the
    arguments of every case can be checked against the same environment: one render instead
    of one per case, each case still with its own list of problems."""
    found: list[list[str]] = []

    def build(opts: pulumi.ResourceOptions) -> None:
        key, topic, lake = _base(opts)
        env = BatchEnvironment(
            "env",
            BatchEnvironmentArgs(
                name_prefix="mlops-test",
                vpc_id="vpc-1",
                subnet_ids=["s"],
                key=key,
                alert_topic=topic,
                max_vcpus=4,
            ),
            opts=opts,
        )
        for changes in change_sets:
            found.append(_problems_of(env, lake, changes))

    render_components(build, region=REGION)
    return found


def _problems_of(env: BatchEnvironment, lake: DataLake, changes: dict[str, Any]) -> list[str]:
    spec = full_job(**{k: v for k, v in changes.items() if k in JobSpec.__dataclass_fields__})
    args = dict(
        job_name=spec.name,
        environment=env,
        image=spec.image,
        command=spec.command,
        vcpu=spec.vcpu,
        memory_mib=spec.memory_mib,
        timeout_seconds=spec.timeout_seconds,
        parameters=spec.parameters,
        environment_variables=spec.environment_variables,
        attempts=spec.attempts,
        lake=lake,
        read=spec.read,
        write=spec.write,
        schedule=spec.schedule,
        on_new_objects=spec.on_new_objects,
        array_size=spec.array_size,
    )
    args.update({k: v for k, v in changes.items() if k not in JobSpec.__dataclass_fields__})
    return BatchJobArgs(**args).problems()


BAD_JOB_CASES: list[tuple[dict[str, Any], str]] = [
    ({"name": "Churn_1"}, "job_name: 'Churn_1' must be 1-20 lowercase letters"),
    ({"image": "Not An Image"}, "image: 'Not An Image' is not an image reference"),
    ({"command": []}, "command: give the container command"),
    (
        {"vcpu": 0.25, "memory_mib": 4096},
        "vcpu/memory_mib: Fargate does not support 4096 MiB with 0.25 vCPU",
    ),
    ({"vcpu": 8, "memory_mib": 16384}, "vcpu: 8 is more than the environment's max_vcpus (4)"),
    (
        {"timeout_seconds": 0},
        "timeout_seconds: 0 must be a whole number of seconds, at least 60",
    ),
    ({"timeout_seconds": -5}, "timeout_seconds: -5 must be"),
    ({"attempts": 11}, "attempts: 11 must be 1 to 10"),
    ({"retry_exit_codes": (1, 2, 3)}, "retry_exit_codes: give at most two exit codes"),
    ({"cpu_architecture": "RISCV"}, "cpu_architecture: 'RISCV' is not one of"),
    ({"parameters": {"unused": "x"}}, "parameters: unused is not used by the command"),
    ({"parameters": {"read_bucket": "x"}}, "parameters: read_bucket is set by the platform"),
    (
        {"environment_variables": {"API_TOKEN": "x"}},
        "environment_variables: API_TOKEN looks like a secret",
    ),
    (
        {"environment_variables": {"AWS_BATCH_JOB_ID": "x"}},
        "environment_variables: AWS_BATCH_JOB_ID is set by AWS Batch",
    ),
    (
        {"environment_variables": {"1BAD": "x"}},
        "environment_variables: '1BAD' is not an environment variable name",
    ),
    ({"read": LakeAccess("gold")}, "read: zone 'gold' is not a zone of the lake"),
    ({"write": LakeAccess("silver")}, "write: zone 'silver' is not a zone of the lake"),
    ({"lake": None}, "read: needs the data lake (lake)"),
    (
        {"write": LakeAccess("raw", "events/out")},
        "on_new_objects: the job writes where it is triggered",
    ),
    ({"array_size": 1}, "array_size: 1 must be 2 to 10000"),
    ({"array_size": 10001}, "array_size: 10001 must be 2 to 10000"),
    (
        {"schedule": JobScheduleArgs("cron(0 2 * * *)")},
        "schedule.expression: cron '0 2 * * *' has 5 field(s)",
    ),
    ({"schedule": JobScheduleArgs("rate(1 days)")}, "schedule.expression: rate '1 days'"),
    (
        {"schedule": JobScheduleArgs("cron(0 2 * * ? *)", "Mars/Olympus")},
        "schedule.timezone: 'Mars/Olympus' is not an IANA",
    ),
    (
        {"schedule": JobScheduleArgs("rate(1 day)", parameters={"nope": "1"})},
        "schedule.parameters: nope is not used by the command",
    ),
    (
        {"schedule": JobScheduleArgs("rate(1 day)", environment={"DB_PASSWORD": "x"})},
        "schedule.environment: DB_PASSWORD looks like a secret",
    ),
]


@pytest.fixture(scope="module")
def bad_job_problems() -> list[list[str]]:
    """The problems of every BAD_JOB_CASES case, then of the valid job (last), in one render."""
    return jobs_problems([changes for changes, _ in BAD_JOB_CASES] + [{}])


@pytest.mark.parametrize("case", range(len(BAD_JOB_CASES)), ids=lambda i: BAD_JOB_CASES[i][1])
def test_bad_job_arguments_name_the_field(bad_job_problems: list[list[str]], case: int) -> None:
    expected = BAD_JOB_CASES[case][1]
    problems = bad_job_problems[case]
    assert any(p.startswith(expected) for p in problems), problems


def test_valid_job_arguments_have_no_problem(bad_job_problems: list[list[str]]) -> None:
    assert bad_job_problems[-1] == []


def test_one_case_alone_has_the_problems_it_has_among_the_others(
    bad_job_problems: list[list[str]],
) -> None:
    """Checking the cases together on one environment is the same as checking one alone."""
    assert job_problems(**BAD_JOB_CASES[4][0]) == bad_job_problems[4]


def test_a_bad_job_raises_one_error_listing_every_problem() -> None:
    def build(opts: pulumi.ResourceOptions) -> None:
        key, topic, lake = _base(opts)
        Jobs(
            "jobs",
            JobsArgs(
                name_prefix="mlops-test",
                key=key,
                alert_topic=topic,
                vpc_id="vpc-1",
                private_subnet_ids=["s"],
                lake=lake,
                jobs=[full_job(vcpu=3, timeout_seconds=10, array_size=1)],
            ),
            opts=opts,
        )

    with pytest.raises(ValueError) as info:
        render_components(build, region=REGION)
    message = str(info.value)
    assert message.startswith("BatchJob 'jobs-churn': ")
    for fragment in ("vcpu/memory_mib: 3 vCPU", "timeout_seconds: 10", "array_size: 1"):
        assert fragment in message


@pytest.mark.parametrize(
    "build_args, expected",
    [
        (
            lambda key, topic: BatchEnvironmentArgs(
                name_prefix="MLOps", vpc_id="v", subnet_ids=["s"], key=key, alert_topic=topic
            ),
            "name_prefix: 'MLOps' must be",
        ),
        (
            lambda key, topic: BatchEnvironmentArgs(
                name_prefix="m", vpc_id="v", subnet_ids=[], key=key, alert_topic=topic
            ),
            "subnet_ids: give at least one private subnet",
        ),
        (
            lambda key, topic: BatchEnvironmentArgs(
                name_prefix="m",
                vpc_id="v",
                subnet_ids=["s"],
                key=key,
                alert_topic=topic,
                max_vcpus=0,
            ),
            "max_vcpus: 0 must be a whole number from 1 to 4096",
        ),
        (
            lambda key, topic: BatchEnvironmentArgs(
                name_prefix="m",
                vpc_id="v",
                subnet_ids=["s"],
                key=key,
                alert_topic=topic,
                log_retention_days=10,
            ),
            "log_retention_days: 10 is not a CloudWatch Logs retention",
        ),
    ],
)
def test_bad_environment_arguments_name_the_field(
    build_args: Callable[..., BatchEnvironmentArgs], expected: str
) -> None:
    def build(opts: pulumi.ResourceOptions) -> None:
        key = RegionKey("kms", RegionKeyArgs(alias="t", services=("logs", "alarms")), opts=opts)
        topic = AlertTopic("alerts", AlertTopicArgs(key=key), opts=opts)
        BatchEnvironment("env", build_args(key, topic), opts=opts)

    with pytest.raises(ValueError, match=re.escape(expected)):
        render_components(build, region=REGION)


def test_bad_airflow_and_duplicate_jobs_are_refused() -> None:
    from components.jobs import AirflowArgs

    def build(opts: pulumi.ResourceOptions) -> None:
        key, topic, lake = _base(opts)
        problems = AirflowArgs(
            environment_name="9x",
            key=key,
            vpc_id="v",
            subnet_ids=["a"],
            environment_class="mw1.huge",
            max_workers=0,
            force_destroy=True,
            protect=True,
        ).problems()
        assert [p.split(":", 1)[0] for p in problems] == [
            "environment_name",
            "environment_class",
            "subnet_ids",
            "max_workers",
            "Only one of [force_destroy] and [protect] can be given",
        ]
        Jobs(
            "jobs",
            JobsArgs(
                name_prefix="m",
                key=key,
                alert_topic=topic,
                vpc_id="v",
                private_subnet_ids=["s"],
                lake=lake,
                jobs=[full_job(), full_job()],
            ),
            opts=opts,
        )

    with pytest.raises(ValueError, match=r"jobs: \['churn'\] listed more than once"):
        render_components(build, region=REGION)


def test_batch_job_is_registered_once_per_name_in_an_environment() -> None:
    def build(opts: pulumi.ResourceOptions) -> None:
        key, topic, lake = _base(opts)
        env = BatchEnvironment(
            "env",
            BatchEnvironmentArgs(
                name_prefix="m", vpc_id="v", subnet_ids=["s"], key=key, alert_topic=topic
            ),
            opts=opts,
        )
        args = BatchJobArgs(
            job_name="one",
            environment=env,
            image="python:3.11",
            command=["true"],
            vcpu=0.25,
            memory_mib=512,
            timeout_seconds=60,
        )
        BatchJob("first", args, opts=opts)
        BatchJob("second", args, opts=opts)

    with pytest.raises(ValueError, match="job_name: the environment already has a job 'one'"):
        render_components(build, region=REGION)


# --- built images -------------------------------------------------------------------------------

REPOSITORY = "aws:ecr/repository:Repository"
LIFECYCLE = "aws:ecr/lifecyclePolicy:LifecyclePolicy"
IMAGE_BUILD = "awsx:ecr:Image"


def build_dir(root: Any, name: str, dockerfile: str = "FROM python:3.11-slim\n") -> str:
    """A build context ``root/name`` with a Dockerfile and one source file; returns ``name``."""
    context = root / name
    context.mkdir(parents=True)
    (context / "Dockerfile").write_text(dockerfile, encoding="utf-8")
    (context / "job.py").write_text(f"print({name!r})\n", encoding="utf-8")
    return name


def built_job(name: str, context: str, **changes: Any) -> JobSpec:
    spec: dict[str, Any] = dict(
        name=name,
        build=JobBuild(context),
        command=["python", "job.py"],
        vcpu=0.25,
        memory_mib=512,
        timeout_seconds=60,
    )
    spec.update(changes)
    return JobSpec(**spec)


def test_built_jobs_share_one_repository_and_one_image_per_build(tmp_path) -> None:
    batch, other = build_dir(tmp_path, "batch"), build_dir(tmp_path, "other")
    plan = render_jobs(
        [
            built_job("score", batch),
            built_job("fanout", batch),
            built_job("other", other),
            JobSpec(
                name="plain",
                image="python:3.11",
                command=["true"],
                vcpu=0.25,
                memory_mib=512,
                timeout_seconds=60,
            ),
        ],
        build_root=str(tmp_path),
        protect=True,
    )
    jobs = plan.find("mlops:jobs:Jobs", f"{REGION}-jobs")
    (repo,) = plan.of_type(REPOSITORY)
    assert repo["name"] == f"{REGION}-jobs-images-repo" and repo["parent"] == jobs["urn"]
    assert repo["inputs"]["imageTagMutability"] == "IMMUTABLE"
    assert repo["inputs"]["imageScanningConfiguration"] == {"scanOnPush": True}
    key = plan.find("aws:kms/key:Key", "kms-key")
    assert repo["inputs"]["encryptionConfigurations"] == [
        {"encryptionType": "KMS", "kmsKey": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{key['id']}"}
    ]
    assert repo["options"]["protect"] is True and repo["options"]["retainOnDelete"] is True
    (lifecycle,) = plan.of_type(LIFECYCLE)
    assert lifecycle["inputs"]["repository"] == repo["id"]
    rules = json.loads(lifecycle["inputs"]["policy"])["rules"]
    assert [r["selection"]["tagStatus"] for r in rules] == ["untagged", "tagged"]
    images = {i["name"]: i for i in plan.of_type(IMAGE_BUILD)}
    assert sorted(images) == [f"{REGION}-jobs-other-image", f"{REGION}-jobs-score-image"]
    url = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{repo['id']}"
    for job, context in (("score", batch), ("other", other)):
        image = images[f"{REGION}-jobs-{job}-image"]
        digest = build_context_digest(tmp_path / context)
        assert image["inputs"] == {
            "repositoryUrl": url,
            "context": context,
            "platform": "linux/amd64",
            "imageTag": built_image_tag(f"{REGION}-jobs-{job}", "linux/amd64", digest),
        }
        assert lifecycle["urn"] in image["dependencies"]
    assert (
        images[f"{REGION}-jobs-score-image"]["inputs"]["imageTag"]
        != images[f"{REGION}-jobs-other-image"]["inputs"]["imageTag"]
    )


def built_image_uri(image: dict[str, Any]) -> str:
    """The URI the offline mock gives a built image (the real one has the pushed digest)."""
    digest = hashlib.sha256(f"{image['urn']}\0{image['inputs']['imageTag']}".encode()).hexdigest()
    return f"{image['inputs']['repositoryUrl']}@sha256:{digest}"


def test_a_built_job_runs_its_image_and_pulls_from_the_job_repository_only(tmp_path) -> None:
    batch = build_dir(tmp_path, "batch")
    plan = render_jobs(
        [
            built_job("score", batch),
            built_job("fanout", batch),
            JobSpec(
                name="ecr",
                image=IMAGE,
                command=["true"],
                vcpu=0.25,
                memory_mib=512,
                timeout_seconds=60,
            ),
        ],
        build_root=str(tmp_path),
    )
    (repo,) = plan.of_type(REPOSITORY)
    assert repo["inputs"]["forceDelete"] is False and repo["options"]["protect"] is False
    image = one(plan, IMAGE_BUILD, f"{REGION}-jobs-score-image")
    repo_arn = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{repo['id']}"
    for job in ("score", "fanout"):
        definition = one(plan, JOB_DEFINITION, f"{REGION}-jobs-{job}-definition")
        props = json.loads(definition["inputs"]["containerProperties"])
        assert props["image"] == built_image_uri(image)
        assert props["runtimePlatform"]["cpuArchitecture"] == "X86_64"
        assert image["urn"] in definition["dependencies"]
        pull = policies_of(plan, f"{REGION}-jobs-{job}-execution")["pull-image"]
        assert actions_and_resources([pull]) == {
            ("ecr:BatchCheckLayerAvailability", repo_arn),
            ("ecr:BatchGetImage", repo_arn),
            ("ecr:GetDownloadUrlForLayer", repo_arn),
            ("ecr:GetAuthorizationToken", "*"),
        }
    # A prebuilt ECR image keeps its own repository's grant.
    pull = policies_of(plan, f"{REGION}-jobs-ecr-execution")["pull-image"]
    assert (
        "ecr:BatchGetImage",
        f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/mlops/batch-inference",
    ) in actions_and_resources([pull])


def test_arm64_jobs_get_arm64_images_and_dev_repositories_are_deletable(tmp_path) -> None:
    batch = build_dir(tmp_path, "batch")
    plan = render_jobs(
        [built_job("score", batch, build=JobBuild(batch, f"{batch}/Dockerfile"))],
        build_root=str(tmp_path),
        cpu_architecture="ARM64",
        force_destroy=True,
    )
    image = one(plan, IMAGE_BUILD, f"{REGION}-jobs-score-image")["inputs"]
    assert image["platform"] == "linux/arm64" and image["dockerfile"] == f"{batch}/Dockerfile"
    assert image["imageTag"] == built_image_tag(
        f"{REGION}-jobs-score",
        "linux/arm64",
        build_context_digest(tmp_path / batch, tmp_path / batch / "Dockerfile"),
    )
    assert one(plan, REPOSITORY, f"{REGION}-jobs-images-repo")["inputs"]["forceDelete"] is True
    props = json.loads(
        one(plan, JOB_DEFINITION, f"{REGION}-jobs-score-definition")["inputs"][
            "containerProperties"
        ]
    )
    assert props["runtimePlatform"]["cpuArchitecture"] == "ARM64"


def test_jobs_with_prebuilt_images_get_no_repository(plan: Plan) -> None:
    assert plan.of_type(REPOSITORY) == [] and plan.of_type(IMAGE_BUILD) == []


@pytest.mark.parametrize(
    "spec, expected",
    [
        (
            lambda root: built_job("score", build_dir(root, "batch"), image="python:3.11"),
            "jobs[0] (score): Only one of [image] and [build] can be given",
        ),
        (
            lambda root: built_job("score", "unused", build=None),
            "jobs[0] (score): give [image] (a prebuilt image) or [build] (a Dockerfile to build)",
        ),
        (
            lambda root: built_job("score", "missing"),
            "jobs[0] (score): build.context: directory 'missing' not found",
        ),
        (
            lambda root: (root / "empty").mkdir() or built_job("score", "empty"),
            "jobs[0] (score): build.context: no Dockerfile at",
        ),
        (
            lambda root: built_job(
                "score", "x", build=JobBuild(build_dir(root, "batch"), "batch/Other.Dockerfile")
            ),
            "jobs[0] (score): build.dockerfile: no Dockerfile at",
        ),
    ],
)
def test_bad_image_sources_name_the_job_and_the_field(
    tmp_path, spec: Callable[[Any], JobSpec], expected: str
) -> None:
    job = spec(tmp_path)
    with pytest.raises(ValueError, match=re.escape(expected)):
        render_jobs([job], build_root=str(tmp_path))


def test_a_batch_job_with_an_unknown_image_needs_its_repository() -> None:
    def build(opts: pulumi.ResourceOptions) -> None:
        key, topic, _ = _base(opts)
        env = BatchEnvironment(
            "env",
            BatchEnvironmentArgs(
                name_prefix="m", vpc_id="v", subnet_ids=["s"], key=key, alert_topic=topic
            ),
            opts=opts,
        )
        BatchJob(
            "one",
            BatchJobArgs(
                job_name="one",
                environment=env,
                image=pulumi.Output.from_input("x:1"),
                command=["true"],
                vcpu=0.25,
                memory_mib=512,
                timeout_seconds=60,
            ),
            opts=opts,
        )

    with pytest.raises(ValueError, match="image_repository_arn: an image built by the stack"):
        render_components(build, region=REGION)


# --- an existing key and an existing alert topic ------------------------------------------------

KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:team-alerts"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"


def statement_resources(plan: Plan, policy_name: str, sid: str) -> list[Any]:
    policy = json.loads(one(plan, ROLE_POLICY, policy_name)["inputs"]["policy"])
    (found,) = [s for s in statements(policy) if s["Sid"] == sid]
    return as_list(found["Resource"])


@pytest.mark.parametrize("as_output", [False, True], ids=["string", "output"])
def test_an_existing_key_and_topic_given_by_arn_reach_every_encrypted_resource_and_alert(
    tmp_path, as_output: bool
) -> None:
    def existing() -> dict[str, Any]:
        if as_output:
            return {
                "key": pulumi.Output.from_input(KEY_ARN),
                "alert_topic": pulumi.Output.from_input(TOPIC_ARN),
            }
        return {"key": KEY_ARN, "alert_topic": TOPIC_ARN}

    plan = render_jobs(
        [full_job(), built_job("built", build_dir(tmp_path, "batch"))],
        late=existing,
        airflow=AirflowSpec(),
        build_root=str(tmp_path),
    )
    prefix = f"{REGION}-jobs"
    # Encrypted with the given key: job log groups, dead-letter queue, image repository, Airflow.
    for job in ("churn", "built"):
        assert one(plan, LOG_GROUP, f"{prefix}-{job}-logs")["inputs"]["kmsKeyId"] == KEY_ARN
    assert one(plan, QUEUE, f"{prefix}-churn-submit-dlq")["inputs"]["kmsMasterKeyId"] == KEY_ARN
    assert statement_resources(
        plan, f"{prefix}-churn-scheduler-submit-runs", "EncryptDeadLetters"
    ) == [KEY_ARN]
    assert one(plan, REPOSITORY, f"{prefix}-images-repo")["inputs"]["encryptionConfigurations"] == [
        {"encryptionType": "KMS", "kmsKey": KEY_ARN}
    ]
    assert one(plan, MWAA, f"{prefix}-airflow-environment")["inputs"]["kmsKey"] == KEY_ARN
    for suffix in MWAA_LOG_MODULES.values():
        assert (
            one(plan, LOG_GROUP, f"{prefix}-airflow-{suffix.lower()}-logs")["inputs"]["kmsKeyId"]
            == KEY_ARN
        )
    encryption = one(
        plan,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        f"{prefix}-airflow-dags-encryption",
    )
    assert KEY_ARN in json.dumps(encryption["inputs"]["rules"])
    assert statement_resources(plan, f"{prefix}-airflow-execution", "UseKeyThroughSqsAndS3") == [
        KEY_ARN
    ]
    # The region key (still used by the lake and its topic) is used by no jobs resource, except
    # the job role's grant to read the lake it encrypts.
    region_key = plan.find("aws:kms/key:Key", "kms-key")
    region_key_arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{region_key['id']}"
    uses = [
        r["name"]
        for r in plan.resources
        if r["name"].startswith(prefix) and region_key_arn in json.dumps(r.get("inputs", {}))
    ]
    assert all(name.startswith(f"{prefix}-churn-job-") for name in uses), uses
    # Failed runs and failed submissions are reported to the given topic.
    assert one(plan, TARGET, f"{prefix}-batch-run-failed-alert")["inputs"]["arn"] == TOPIC_ARN
    alarm = one(plan, ALARM, f"{prefix}-churn-submit-failed")["inputs"]
    assert alarm["alarmActions"] == [TOPIC_ARN] and alarm["okActions"] == [TOPIC_ARN]


def _environment_args(region_key: Any, region_topic: Any, **changes: Any) -> BatchEnvironmentArgs:
    args: dict[str, Any] = dict(
        name_prefix="m", vpc_id="v", subnet_ids=["s"], key=region_key, alert_topic=region_topic
    )
    args.update(changes)
    return BatchEnvironmentArgs(**args)


def _airflow_args(region_key: Any, region_topic: Any, **changes: Any) -> Any:
    from components.jobs import AirflowArgs

    args: dict[str, Any] = dict(
        environment_name="air", key=region_key, vpc_id="v", subnet_ids=["a", "b"]
    )
    args.update(changes)
    return AirflowArgs(**args)


def _jobs_args(region_key: Any, region_topic: Any, **changes: Any) -> JobsArgs:
    args: dict[str, Any] = dict(
        name_prefix="m",
        key=region_key,
        alert_topic=region_topic,
        vpc_id="v",
        private_subnet_ids=["a", "b"],
        jobs=[
            JobSpec(
                name="one",
                image="python:3.11",
                command=["true"],
                vcpu=0.25,
                memory_mib=512,
                timeout_seconds=60,
            )
        ],
        airflow=AirflowSpec(),
    )
    args.update(changes)
    return JobsArgs(**args)


def _component(kind: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
    from components.jobs import Airflow

    return {
        "Jobs": (Jobs, _jobs_args),
        "BatchEnvironment": (BatchEnvironment, _environment_args),
        "Airflow": (Airflow, _airflow_args),
    }[kind]


@pytest.mark.parametrize(
    "kind, field_name, value, expected",
    [
        ("Jobs", "key", 42, "key: expected a RegionKey or an existing KMS key ARN"),
        (
            "Jobs",
            "alert_topic",
            42,
            "alert_topic: expected an AlertTopic or an existing SNS topic ARN",
        ),
        ("Jobs", "key", f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/mine", "key: 'arn:aws:kms:"),
        (
            "Jobs",
            "alert_topic",
            "team-alerts",
            "alert_topic: 'team-alerts' is not an SNS topic ARN",
        ),
        ("BatchEnvironment", "key", 42, "key: expected a RegionKey"),
        ("BatchEnvironment", "alert_topic", None, "alert_topic: expected an AlertTopic"),
        ("Airflow", "key", 42, "key: expected a RegionKey"),
    ],
)
def test_a_key_or_topic_of_another_kind_is_refused_naming_the_field_and_registers_nothing(
    kind: str, field_name: str, value: Any, expected: str
) -> None:
    errors: list[str] = []

    def build(opts: pulumi.ResourceOptions) -> None:
        key, topic, _ = _base(opts)
        component, make_args = _component(kind)
        with pytest.raises(ValueError) as info:
            component("bad", make_args(key, topic, **{field_name: value}), opts=opts)
        errors.append(str(info.value))

    plan = render_components(build, region=REGION)
    assert len(errors) == 1 and errors[0].startswith(f"{kind} 'bad': ") and expected in errors[0], (
        errors
    )
    assert [
        r["name"]
        for r in plan.resources
        if r["type"].startswith("mlops:jobs:") or r["name"].startswith("bad")
    ] == []


def test_a_bad_key_is_reported_with_the_other_problems() -> None:
    def build(opts: pulumi.ResourceOptions) -> None:
        _, topic, _ = _base(opts)
        BatchEnvironment("env", _environment_args(42, topic, max_vcpus=0, subnet_ids=[]), opts=opts)

    with pytest.raises(ValueError) as info:
        render_components(build, region=REGION)
    message = str(info.value)
    for fragment in (
        "subnet_ids: give at least one",
        "key: expected a RegionKey",
        "max_vcpus: 0 must be",
    ):
        assert fragment in message
