"""Jobs and job runs: AWS Batch on Fargate, schedules, event triggers and failure alerts.

The model (seed 004): a **job** is a template (image, command, environment, vCPU/memory, max
run time, retries); a **run** is one execution of it with its own parameters, its own run id
(the Batch job id) and its own log stream, on capacity that exists only while runs need it.

- :class:`BatchEnvironment`: a Fargate compute environment in private subnets (no public IP,
  a security group that only lets tasks call out on 443) that scales to zero by construction
  (Fargate has no minimum or desired vCPUs; ``max_vcpus`` caps concurrent runs), a job queue
  that cancels runs which can never be placed, a schedule group, and one EventBridge rule:
  **Batch Job State Change -> FAILED** on this queue notifies the alert topic with the job
  name, the run id and where its logs are (log group, log stream, console links). Batch
  uses its service-linked role; no service role is created.
- :class:`BatchJob`: one job definition (Fargate, platform version LATEST, read-only root
  filesystem with a writable ``/tmp`` volume, ``awslogs`` into the job's own KMS-encrypted
  log group with a stream prefix so every run gets its own stream, timeout, retry strategy
  that retries storage errors and failed task starts and exits on everything else, tags
  propagated to the tasks), an execution role (pull this image's repository, write this log
  group) and a job role with only the data lake grants given. Runs are submitted by an
  EventBridge Scheduler schedule (cron or rate, in a time zone, flexible window off) and/or
  by new objects in a data lake zone (EventBridge rule -> Batch target), each through its own
  role that may submit exactly this job to exactly this queue; runs that cannot be
  submitted land in the job's dead-letter queue, which raises an alarm.
- :class:`Airflow`: optional managed Airflow (MWAA) with its DAG bucket, log groups and a
  least-privilege execution role, only reachable from inside the VPC.
- :class:`Jobs`: the environment, its jobs and the optional Airflow of one region. Jobs
  that give a ``build`` instead of an ``image`` share one ECR repository of the region
  (immutable tags, scan on push, KMS, lifecycle policy: ``containers.create_ecr_repository``);
  each distinct build (context and Dockerfile) is built once with ``awsx.ecr.Image`` for the
  jobs' CPU architecture, and those jobs' execution roles may pull from that repository only.

Pure helpers (Fargate sizes, schedule expressions, time zones, command parameters, the
documents and event patterns) are plain functions with plain tests.
"""

from __future__ import annotations

import os
import re
import zoneinfo
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import pulumi
import pulumi_aws as aws
import pulumi_awsx as awsx

from components.checks import duplicates, raise_problems
from components.buckets import SecureBucket, SecureBucketArgs
from components.data_lake import DataLake
from components.iam import CONFUSED_DEPUTY_KEYS, ServiceRole, ServiceRoleArgs, Statement, policy_document
from components.kms import RegionKey
from components.monitoring import (
    LOG_RETENTION_DAYS,
    AlarmArgs,
    AlertTopic,
    Metric,
    MetricWidget,
    Widget,
    metric_alarm,
)
from components.containers import (
    CPU_ARCHITECTURES,
    DOCKER_PLATFORMS,
    FARGATE_MEMORY,
    ImageBuild,
    create_ecr_repository,
    ecr_image,
)
from components.baseline import looks_like_secret

# Fargate sizes --------------------------------------------------------------------------------

#: Memory (MiB) AWS Batch on Fargate supports for each vCPU value: the Fargate task sizes
#: (one table, in components.containers) with CPU units expressed as vCPUs.
FARGATE_MEMORY_MIB: Mapping[float, tuple[int, ...]] = {
    cpu / 1024: memory for cpu, memory in FARGATE_MEMORY.items()
}


def vcpu_problem(vcpu: float) -> Optional[str]:
    """None when Fargate runs jobs with ``vcpu`` vCPUs; else what would be right."""
    number = not isinstance(vcpu, bool) and isinstance(vcpu, (int, float))
    if not number or float(vcpu) not in FARGATE_MEMORY_MIB:
        allowed = ", ".join(vcpu_value(v) for v in FARGATE_MEMORY_MIB)
        shown = vcpu_value(vcpu) if number and float(vcpu).is_integer() else repr(vcpu)
        return f"{shown} vCPU is not a Fargate size; use one of {allowed}"
    return None


def fargate_size_problem(vcpu: float, memory_mib: int) -> Optional[str]:
    """None when Fargate supports ``vcpu`` vCPUs with ``memory_mib`` MiB; else what is wrong
    and which memory values would be right."""
    bad_vcpu = vcpu_problem(vcpu)
    if bad_vcpu:
        return bad_vcpu
    allowed = FARGATE_MEMORY_MIB[float(vcpu)]
    if isinstance(memory_mib, bool) or memory_mib not in allowed:
        step = allowed[1] - allowed[0]
        listed = (
            ", ".join(map(str, allowed))
            if len(allowed) <= 4
            else f"{allowed[0]} to {allowed[-1]} in steps of {step}"
        )
        return (
            f"Fargate does not support {memory_mib!r} MiB with {vcpu_value(vcpu)} vCPU; "
            f"use {listed}"
        )
    return None


def vcpu_value(vcpu: float) -> str:
    """The VCPU value as Batch writes it: ``0.25``, ``0.5``, ``1``, ``2``..."""
    number = float(vcpu)
    return str(int(number)) if number.is_integer() else str(number)


# Schedule expressions and time zones ------------------------------------------------------

_MONTHS = {m: i + 1 for i, m in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split())}
_DAYS = {d: i + 1 for i, d in enumerate("SUN MON TUE WED THU FRI SAT".split())}


@dataclass(frozen=True)
class _CronField:
    name: str
    low: int
    high: int
    names: Mapping[str, int]
    question_mark: bool = False


_CRON_FIELDS = (
    _CronField("minutes", 0, 59, {}),
    _CronField("hours", 0, 23, {}),
    _CronField("day-of-month", 1, 31, {}, question_mark=True),
    _CronField("month", 1, 12, _MONTHS),
    _CronField("day-of-week", 1, 7, _DAYS, question_mark=True),
    _CronField("year", 1970, 2199, {}),
)
_RATE_UNITS = ("minute", "hour", "day")


def _cron_value(text: str, spec: _CronField) -> Optional[int]:
    if text.isdigit():
        value = int(text)
    elif text.upper() in spec.names:
        value = spec.names[text.upper()]
    else:
        return None
    return value if spec.low <= value <= spec.high else None


def _cron_item_problem(item: str, spec: _CronField) -> Optional[str]:
    """Why one comma-separated item of a cron field is invalid, or None."""
    bad = f"{spec.name} {item!r} is not valid"
    if spec.name == "day-of-month":
        if item in ("L", "LW"):
            return None
        if item.endswith("W") and _cron_value(item[:-1], spec) is not None:
            return None
    if spec.name == "day-of-week":
        if item == "L":
            return None
        if item.endswith("L") and _cron_value(item[:-1], spec) is not None:
            return None
        if "#" in item:
            day, _, nth = item.partition("#")
            if _cron_value(day, spec) is not None and nth in ("1", "2", "3", "4", "5"):
                return None
            return f"{bad}: write the n-th weekday as <day>#<1-5>, e.g. MON#1"
    base, slash, step = item.partition("/")
    if slash:
        if not step.isdigit() or not 1 <= int(step) <= spec.high:
            return f"{bad}: the increment after '/' must be a number from 1 to {spec.high}"
    if base == "*":
        return None
    low, dash, high = base.partition("-")
    if _cron_value(low, spec) is None or (dash and _cron_value(high, spec) is None):
        allowed = f"{spec.low}-{spec.high}"
        if spec.names:
            allowed += f" or {'-'.join((min(spec.names, key=spec.names.get), max(spec.names, key=spec.names.get)))}"
        return f"{bad}: values must be {allowed}"
    return None


def cron_problem(body: str) -> Optional[str]:
    """Why ``body`` (the part inside ``cron(...)``) is not an EventBridge cron expression.

    Six fields: minutes hours day-of-month month day-of-week year; exactly one of
    day-of-month and day-of-week is ``?``.
    """
    fields = body.split()
    if len(fields) != 6:
        return (
            f"cron {body!r} has {len(fields)} field(s); EventBridge cron expressions have 6: "
            "minutes hours day-of-month month day-of-week year, e.g. '0 2 * * ? *'"
        )
    for text, spec in zip(fields, _CRON_FIELDS):
        if text == "?":
            if not spec.question_mark:
                return f"cron {body!r}: '?' is only allowed in day-of-month or day-of-week"
            continue
        for item in text.split(","):
            problem = _cron_item_problem(item, spec)
            if problem:
                return f"cron {body!r}: {problem}"
    if (fields[2] == "?") == (fields[4] == "?"):
        return (
            f"cron {body!r}: exactly one of day-of-month and day-of-week must be '?' "
            "(e.g. '0 2 * * ? *' daily, '0 2 ? * MON *' on Mondays)"
        )
    return None


def rate_problem(body: str) -> Optional[str]:
    """Why ``body`` (the part inside ``rate(...)``) is not a rate: ``<n> <unit>``, unit
    minute(s)/hour(s)/day(s), singular exactly when n is 1."""
    parts = body.split()
    if len(parts) != 2 or not parts[0].isdigit() or int(parts[0]) < 1:
        return f"rate {body!r} must be '<positive whole number> <unit>', e.g. '1 day' or '6 hours'"
    value, unit = int(parts[0]), parts[1]
    expected = _RATE_UNITS if value == 1 else tuple(f"{u}s" for u in _RATE_UNITS)
    if unit not in expected:
        return f"rate {body!r}: the unit must be one of {', '.join(expected)} for {value}"
    return None


def schedule_expression_problem(expression: str) -> Optional[str]:
    """Why ``expression`` is not a recurring EventBridge Scheduler expression
    (``cron(...)`` or ``rate(...)``), or None."""
    match = re.fullmatch(r"(cron|rate)\((.*)\)", expression.strip())
    if not match:
        return (
            f"{expression!r} is not a recurring schedule; write cron(<6 fields>) or "
            "rate(<n> <unit>), e.g. cron(0 2 * * ? *) or rate(6 hours)"
        )
    kind, body = match.groups()
    return cron_problem(body) if kind == "cron" else rate_problem(body)


@lru_cache(maxsize=1)
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def timezone_problem(name: str) -> Optional[str]:
    """None when ``name`` is an IANA time zone (``Europe/Rome``, ``UTC``); else why not."""
    if isinstance(name, str) and name in _time_zones():
        return None
    import difflib

    close = difflib.get_close_matches(str(name), sorted(_time_zones()), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"{name!r} is not an IANA time zone name (like Europe/Rome or UTC){hint}"


# Commands, parameters, environment --------------------------------------------------------

_REF_RE = re.compile(r"Ref::([A-Za-z0-9_]+)")
_PARAMETER_RE = re.compile(r"^[A-Za-z0-9_]{1,128}$")
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_JOB_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
_PREFIX_RE = re.compile(r"^[a-z][a-z0-9-]{0,23}$")
_IMAGE_RE = re.compile(
    r"^(?:[A-Za-z0-9.{}-]+(?::[0-9]{1,5})?/)?[a-z0-9{}]+(?:[._/-]+[a-z0-9{}]+)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$"
)
_ECR_IMAGE_RE = re.compile(
    r"^(?P<account>\d{12}|\{account\})\.dkr\.ecr\.(?P<region>[a-z0-9-]+|\{region\})\."
    r"amazonaws\.com(?:\.cn)?/(?P<repository>[a-z0-9][a-z0-9._/-]*?)(?::[^@/]+)?(?:@sha256:[a-f0-9]{64})?$"
)

#: Parameters the platform gives every job that reads or writes the data lake (defaults of
#: the job definition): the zone buckets and prefixes of ``read``/``write``.
LAKE_PARAMETERS = ("read_bucket", "read_prefix", "write_bucket", "write_prefix")
#: Parameter the platform sets on an array job's definition: the number of children.
ARRAY_SIZE_PARAMETER = "array_size"
#: Parameters an object trigger sets on the runs it submits: the object that arrived.
TRIGGER_PARAMETERS = ("trigger_bucket", "trigger_key")
PLATFORM_PARAMETERS = LAKE_PARAMETERS + (ARRAY_SIZE_PARAMETER,) + TRIGGER_PARAMETERS

#: Exit code of a run that may succeed when retried (the batch inference job's storage error).
DEFAULT_RETRY_EXIT_CODES = (3,)
#: Every run's container is called ``default`` in Batch; its log streams are
#: ``<prefix>/default/<task id>``.
LOG_STREAM_PREFIX = "run"
TMP_VOLUME = "tmp"
MAX_ARRAY_SIZE = 10000
MIN_TIMEOUT_SECONDS = 60
#: The schedule or rule retries submitting a run for up to an hour, three times.
SUBMIT_RETRY_ATTEMPTS = 3
SUBMIT_MAX_EVENT_AGE_SECONDS = 3600
#: Runs waiting this long in RUNNABLE for a reason that never resolves are cancelled.
UNSCHEDULABLE_CANCEL_SECONDS = 600
UNSCHEDULABLE_REASONS = (
    "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE",
    "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT",
)
DLQ_RETENTION_SECONDS = 14 * 24 * 3600
SUBMIT_JOB_TARGET = "arn:{partition}:scheduler:::aws-sdk:batch:submitJob"


def command_parameters(command: Sequence[str]) -> list[str]:
    """The parameter names a command references as ``Ref::name``, in order, once each."""
    names: list[str] = []
    for part in command:
        for name in _REF_RE.findall(part):
            if name not in names:
                names.append(name)
    return names


def environment_problems(where: str, environment: Mapping[str, Any]) -> list[str]:
    """Problems with environment variables: names, string values, nothing secret-looking."""
    out = []
    for name, value in environment.items():
        if not isinstance(name, str) or not _ENV_NAME_RE.match(name):
            out.append(f"{where}: {name!r} is not an environment variable name")
        elif name.startswith("AWS_BATCH_"):
            out.append(f"{where}: {name} is set by AWS Batch itself")
        elif looks_like_secret(name):
            out.append(
                f"{where}: {name} looks like a secret; plain environment values are visible in "
                "the job definition (pass secrets from Secrets Manager, other values as "
                "command parameters)"
            )
        if not isinstance(value, (str, pulumi.Output)):
            out.append(f"{where}: the value of {name} must be a string")
    return out


def image_problem(image: str) -> Optional[str]:
    """None when ``image`` is a container image reference; ``{account}`` and ``{region}``
    stand for the deploying account and the job's region."""
    if isinstance(image, str) and _IMAGE_RE.match(image):
        unknown = set(re.findall(r"\{([^}]*)\}", image)) - {"account", "region"}
        if not unknown:
            return None
        return f"{image!r}: only {{account}} and {{region}} may be used as placeholders"
    return (
        f"{image!r} is not an image reference; write it like "
        "{account}.dkr.ecr.{region}.amazonaws.com/batch-inference:1.0.0"
    )


def ecr_repository(image: str) -> Optional[tuple[str, str, str]]:
    """``(account, region, repository)`` of an ECR image reference (placeholders kept), or
    None for images in other registries."""
    match = _ECR_IMAGE_RE.match(image)
    if not match:
        return None
    return match.group("account"), match.group("region"), match.group("repository")


def retry_strategy(attempts: int, retry_exit_codes: Sequence[int]) -> dict[str, Any]:
    """The job definition's retry strategy: retry the given exit codes and task start
    failures (infrastructure), exit on anything else (a data or usage error never heals)."""
    rules: list[dict[str, str]] = [
        {"action": "RETRY", "onExitCode": str(code)} for code in retry_exit_codes
    ]
    rules.append({"action": "RETRY", "onStatusReason": "Task failed to start*"})
    rules.append({"action": "EXIT", "onExitCode": "*"})
    rules.append({"action": "EXIT", "onReason": "*"})
    return {"attempts": attempts, "evaluateOnExits": rules}


def container_properties(
    *,
    image: pulumi.Input[str],
    command: Sequence[str],
    vcpu: float,
    memory_mib: int,
    environment: Mapping[str, pulumi.Input[str]],
    execution_role_arn: pulumi.Input[str],
    job_role_arn: pulumi.Input[str],
    log_group_name: pulumi.Input[str],
    region: pulumi.Input[str],
    cpu_architecture: str,
) -> dict[str, Any]:
    """Fargate container properties of a job definition (values may be Outputs)."""
    return {
        "image": image,
        "command": list(command),
        "environment": [{"name": k, "value": v} for k, v in sorted(environment.items())],
        "resourceRequirements": [
            {"type": "VCPU", "value": vcpu_value(vcpu)},
            {"type": "MEMORY", "value": str(memory_mib)},
        ],
        "executionRoleArn": execution_role_arn,
        "jobRoleArn": job_role_arn,
        "fargatePlatformConfiguration": {"platformVersion": "LATEST"},
        "networkConfiguration": {"assignPublicIp": "DISABLED"},
        "runtimePlatform": {"operatingSystemFamily": "LINUX", "cpuArchitecture": cpu_architecture},
        "readonlyRootFilesystem": True,
        "volumes": [{"name": TMP_VOLUME}],
        "mountPoints": [{"sourceVolume": TMP_VOLUME, "containerPath": "/tmp", "readOnly": False}],
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": log_group_name,
                "awslogs-region": region,
                "awslogs-stream-prefix": LOG_STREAM_PREFIX,
            },
        },
    }


def submit_job_input(
    *,
    run_name: str,
    queue_arn: pulumi.Input[str],
    definition_arn: pulumi.Input[str],
    parameters: Mapping[str, str],
    environment: Mapping[str, str],
    array_size: Optional[int],
) -> dict[str, Any]:
    """The SubmitJob request a schedule sends (the universal target's input, PascalCase)."""
    request: dict[str, Any] = {
        "JobName": run_name,
        "JobQueue": queue_arn,
        "JobDefinition": definition_arn,
    }
    if parameters:
        request["Parameters"] = dict(sorted(parameters.items()))
    if environment:
        request["ContainerOverrides"] = {
            "Environment": [{"Name": k, "Value": v} for k, v in sorted(environment.items())]
        }
    if array_size:
        request["ArrayProperties"] = {"Size": array_size}
    return request


def failed_run_pattern(queue_arn: pulumi.Input[str]) -> dict[str, Any]:
    """Batch job state changes to FAILED on ``queue_arn``; array children are left out (their
    parent fails too and is reported once)."""
    return {
        "source": ["aws.batch"],
        "detail-type": ["Batch Job State Change"],
        "detail": {
            "status": ["FAILED"],
            "jobQueue": [queue_arn],
            "arrayProperties": {"index": [{"exists": False}]},
        },
    }


#: Values of a FAILED event the alert message shows.
FAILED_RUN_PATHS: Mapping[str, str] = {
    "jobName": "$.detail.jobName",
    "jobId": "$.detail.jobId",
    "jobDefinition": "$.detail.jobDefinition",
    "statusReason": "$.detail.statusReason",
    "exitCode": "$.detail.container.exitCode",
    "logGroup": "$.detail.container.logConfiguration.options.awslogs-group",
    "logStream": "$.detail.container.logStreamName",
    "time": "$.time",
}


def failed_run_message(region: str) -> str:
    """The alert's input template (a JSON string): which run of which job failed, why, and
    where its logs are."""
    console = f"https://{region}.console.aws.amazon.com"
    text = (
        "Job run FAILED: <jobName> (run id <jobId>) at <time>. "
        "Reason: <statusReason> (exit code <exitCode>). "
        "Job definition: <jobDefinition>. "
        "Logs: log group <logGroup>, log stream <logStream>. "
        f"Run details and logs: {console}/batch/home?region={region}#jobs/fargate/detail/<jobId> . "
        f"Log group in the console: {console}/cloudwatch/home?region={region}#logsV2:log-groups"
        " (search for the log group above)."
    )
    return '"' + text + '"'


def object_created_pattern(bucket_name: pulumi.Input[str], prefix: Optional[str]) -> dict[str, Any]:
    """S3 ``Object Created`` events (EventBridge notifications) of one bucket, under
    ``prefix`` when given."""
    detail: dict[str, Any] = {"bucket": {"name": [bucket_name]}}
    if prefix:
        detail["object"] = {"key": [{"prefix": prefix}]}
    return {"source": ["aws.s3"], "detail-type": ["Object Created"], "detail": detail}


def object_trigger_input() -> tuple[dict[str, str], str]:
    """Input paths and template: the run gets the new object as parameters
    ``trigger_bucket`` and ``trigger_key`` (a command may use them as ``Ref::``)."""
    paths = {"bucket": "$.detail.bucket.name", "key": "$.detail.object.key"}
    template = '{"Parameters": {"trigger_bucket": <bucket>, "trigger_key": <key>}}'
    return paths, template


def _clean_prefix(prefix: Optional[str]) -> Optional[str]:
    if prefix is None:
        return None
    clean = prefix.strip("/")
    return clean or None


# Components: the environment ---------------------------------------------------------------


@dataclass(frozen=True)
class BatchEnvironmentArgs:
    """Arguments of :class:`BatchEnvironment`."""

    name_prefix: str
    """Start of the names people read (log groups, job definitions, schedules), e.g.
    ``mlops-dev``: lowercase letters, digits and '-'."""
    vpc_id: pulumi.Input[str]
    """The VPC the runs' tasks live in."""
    subnet_ids: Sequence[pulumi.Input[str]]
    """Private subnets for the tasks (they get no public IP; they reach AWS through NAT or
    VPC endpoints)."""
    key: RegionKey
    """The region's KMS key: encrypts the job log groups and dead-letter queues."""
    alert_topic: AlertTopic
    """Where failed runs and failed submissions are reported."""
    max_vcpus: int = 16
    """Default: at most 16 vCPUs of runs at a time (e.g. 32 runs of 0.5 vCPU); more runs
    wait in the queue. The environment has no capacity at all while no run is queued."""
    log_retention_days: int = 30
    """Default: run logs are kept 30 days."""
    protect: bool = False
    """Default: unprotected. When true (production), the job log groups are protected and
    retained on delete."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Default: no extra tags beyond ``Name``."""

    def problems(self) -> list[str]:
        out = []
        if not _PREFIX_RE.match(self.name_prefix):
            out.append(f"name_prefix: {self.name_prefix!r} must be 1-24 lowercase letters, digits or '-'")
        if not self.subnet_ids:
            out.append("subnet_ids: give at least one private subnet")
        if isinstance(self.max_vcpus, bool) or not isinstance(self.max_vcpus, int) or not 1 <= self.max_vcpus <= 4096:
            out.append(f"max_vcpus: {self.max_vcpus!r} must be a whole number from 1 to 4096")
        if self.log_retention_days not in LOG_RETENTION_DAYS:
            out.append(f"log_retention_days: {self.log_retention_days!r} is not a CloudWatch Logs retention")
        return out


class BatchEnvironment(pulumi.ComponentResource):
    """A Fargate compute environment that scales to zero, its job queue, a schedule group
    and the FAILED-run alert rule of the queue."""

    def __init__(
        self, name: str, args: BatchEnvironmentArgs, opts: Optional[pulumi.ResourceOptions] = None
    ) -> None:
        problems = args.problems()
        raise_problems(f"BatchEnvironment {name!r}", problems)
        super().__init__("mlops:jobs:BatchEnvironment", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOptions(parent=self)
        self.args = args
        self.name_prefix = args.name_prefix
        self.key = args.key
        self.alert_topic = args.alert_topic
        self.account_id = aws.get_caller_identity_output(opts=invoke).account_id
        self.partition = aws.get_partition_output(opts=invoke).partition
        self.region = aws.get_region_output(opts=invoke).region

        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-tasks-sg",
            vpc_id=args.vpc_id,
            description=f"{args.name_prefix} batch runs: no inbound traffic; HTTPS out to AWS APIs",
            tags={"Name": f"{name}-tasks-sg", **args.tags},
            opts=child,
        )
        self.egress_https = aws.vpc.SecurityGroupEgressRule(
            f"{name}-tasks-out-https",
            security_group_id=self.security_group.id,
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            cidr_ipv4="0.0.0.0/0",
            description="Runs call AWS APIs (ECR, S3, CloudWatch Logs) over HTTPS via NAT or endpoints",
            tags={"Name": f"{name}-tasks-out-https", **args.tags},
            opts=child,
        )
        self.compute_environment = aws.batch.ComputeEnvironment(
            f"{name}-fargate",
            type="MANAGED",
            compute_resources=aws.batch.ComputeEnvironmentComputeResourcesArgs(
                type="FARGATE",
                max_vcpus=args.max_vcpus,
                subnets=list(args.subnet_ids),
                security_group_ids=[self.security_group.id],
            ),
            tags={"Name": f"{name}-fargate", **args.tags},
            opts=child,
        )
        self.queue = aws.batch.JobQueue(
            f"{name}-queue",
            state="ENABLED",
            priority=1,
            compute_environment_orders=[
                aws.batch.JobQueueComputeEnvironmentOrderArgs(
                    compute_environment=self.compute_environment.arn, order=1
                )
            ],
            job_state_time_limit_actions=[
                aws.batch.JobQueueJobStateTimeLimitActionArgs(
                    action="CANCEL",
                    max_time_seconds=UNSCHEDULABLE_CANCEL_SECONDS,
                    reason=reason,
                    state="RUNNABLE",
                )
                for reason in UNSCHEDULABLE_REASONS
            ],
            tags={"Name": f"{name}-queue", **args.tags},
            opts=child,
        )
        self.queue_arn = self.queue.arn
        self.schedule_group = aws.scheduler.ScheduleGroup(
            f"{name}-schedules",
            tags={"Name": f"{name}-schedules", **args.tags},
            opts=child,
        )
        # Events -> rules -> actions: a failed run notifies the alert topic.
        self.failed_rule = aws.cloudwatch.EventRule(
            f"{name}-run-failed",
            description=f"{args.name_prefix}: a job run on this queue FAILED",
            event_pattern=pulumi.Output.json_dumps(failed_run_pattern(self.queue.arn)),
            tags={"Name": f"{name}-run-failed", **args.tags},
            opts=child,
        )
        self.failed_target = aws.cloudwatch.EventTarget(
            f"{name}-run-failed-alert",
            rule=self.failed_rule.name,
            arn=args.alert_topic.arn,
            input_transformer=aws.cloudwatch.EventTargetInputTransformerArgs(
                input_paths=dict(FAILED_RUN_PATHS),
                input_template=self.region.apply(failed_run_message),
            ),
            opts=child,
        )
        self.jobs: dict[str, "BatchJob"] = {}
        self.register_outputs(
            {"queue_arn": self.queue.arn, "compute_environment_arn": self.compute_environment.arn}
        )

    def widgets(self) -> list[Widget]:
        """Dashboard widgets: runs submitted and submissions that failed (schedules, object
        triggers, dead-letter queues), and failed runs."""
        out: list[Widget] = [
            MetricWidget(
                title="Job runs that failed (alerts sent)",
                metrics=[Metric("AWS/Events", "TriggeredRules", {"RuleName": self.failed_rule.name}, label="failed runs")],
            )
        ]
        scheduled = [j for j in self.jobs.values() if j.schedule is not None]
        triggered = [j for j in self.jobs.values() if j.trigger_rule is not None]
        if scheduled:
            group = {"ScheduleGroup": self.schedule_group.name}
            out.append(
                MetricWidget(
                    title="Scheduled run submissions",
                    metrics=[
                        Metric("AWS/Scheduler", "InvocationAttemptCount", group, label="attempts"),
                        Metric("AWS/Scheduler", "TargetErrorCount", group, label="target errors"),
                        Metric("AWS/Scheduler", "InvocationDroppedCount", group, label="dropped"),
                    ],
                )
            )
        if triggered:
            out.append(
                MetricWidget(
                    title="Runs submitted by new objects",
                    metrics=[
                        Metric("AWS/Events", metric, {"RuleName": j.trigger_rule.name}, label=f"{j.job_name} {label}")
                        for j in triggered
                        if j.trigger_rule is not None
                        for metric, label in (("Invocations", "submitted"), ("FailedInvocations", "failed"))
                    ],
                )
            )
        dlqs = [j for j in self.jobs.values() if j.dead_letter_queue is not None]
        if dlqs:
            out.append(
                MetricWidget(
                    title="Runs that could not be submitted (dead-letter queues)",
                    stat="Maximum",
                    metrics=[
                        Metric("AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": j.dead_letter_queue.name}, label=j.job_name)
                        for j in dlqs
                        if j.dead_letter_queue is not None
                    ],
                )
            )
        return out


# Components: a job ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LakeAccess:
    """Part of a data lake zone a job uses."""

    zone: str
    """The zone, e.g. ``curated``."""
    prefix: Optional[str] = None
    """Default: the whole zone. When given, only keys under this folder."""


@dataclass(frozen=True)
class JobScheduleArgs:
    """When a job runs on its own, and with which per-run overrides."""

    expression: str
    """``cron(<6 fields>)`` or ``rate(<n> <unit>)``, e.g. ``cron(0 2 * * ? *)``."""
    timezone: str = "UTC"
    """Default: cron fields are read in UTC. Any IANA zone (``Europe/Rome``) follows its
    daylight saving time."""
    parameters: Mapping[str, str] = field(default_factory=dict)
    """Default: the job definition's parameters. Values for ``Ref::`` parameters of the
    command, for the scheduled runs."""
    environment: Mapping[str, str] = field(default_factory=dict)
    """Default: the job definition's environment. Extra or changed variables for the
    scheduled runs."""
    enabled: bool = True
    """Default: the schedule submits runs. When false, it exists but is paused."""


@dataclass(frozen=True)
class ObjectTriggerArgs:
    """Submit a run for every new object in a data lake zone (EventBridge notifications)."""

    zone: str = "raw"
    """Default: new objects in the raw zone."""
    prefix: Optional[str] = None
    """Default: any new object in the zone. When given, only keys starting with it."""


@dataclass(frozen=True)
class BatchJobArgs:
    """Arguments of :class:`BatchJob`: the job template and what submits its runs."""

    job_name: str
    """The job's name: 1-20 lowercase letters, digits or '-'; its definition is
    ``<name_prefix>-<job_name>``, its log group ``/aws/batch/<name_prefix>/<job_name>``."""
    environment: BatchEnvironment
    """The compute environment and queue the runs use."""
    image: pulumi.Input[str]
    """Container image; ``{account}`` and ``{region}`` stand for the deploying account and
    the job's region (e.g. ``{account}.dkr.ecr.{region}.amazonaws.com/batch-inference:1.0``).
    An ECR image is pulled with a grant for exactly its repository. An Output (an image the
    stack builds) needs ``image_repository_arn``."""
    command: Sequence[str]
    """The container command (arguments to the image's entrypoint); ``Ref::name`` is
    replaced by each run's parameter ``name`` (or the definition's default)."""
    vcpu: float
    """vCPUs of a run: 0.25, 0.5, 1, 2, 4, 8 or 16."""
    memory_mib: int
    """Memory of a run in MiB; Fargate allows only certain values per vCPU size."""
    timeout_seconds: int
    """Max run time of one attempt (at least 60); Batch stops the attempt after it."""
    parameters: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Default: no parameter defaults beyond the platform's (``read_bucket``...). Defaults for
    ``Ref::`` parameters of the command."""
    environment_variables: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Default: only the variables AWS Batch sets. Plain (non-secret) variables of every run."""
    attempts: int = 1
    """Default: one attempt. Up to 10; retried only on ``retry_exit_codes`` and failed task
    starts, never on other failures."""
    retry_exit_codes: Sequence[int] = DEFAULT_RETRY_EXIT_CODES
    """Default: exit code 3 (storage errors of the batch inference job) is retried. At most
    two codes."""
    lake: Optional[DataLake] = None
    """Default: no data lake. Needed for ``read``, ``write`` and ``on_new_objects``."""
    read: Optional[LakeAccess] = None
    """Default: no read access. The job role may read (get, list) this part of the lake; the
    definition's parameters ``read_bucket`` and ``read_prefix`` point at it."""
    write: Optional[LakeAccess] = None
    """Default: no write access. The job role may read, write and delete objects in this part
    of the lake (a run checks for completed runs and clears its own leftovers there);
    parameters ``write_bucket`` and ``write_prefix``."""
    schedule: Optional[JobScheduleArgs] = None
    """Default: no schedule."""
    on_new_objects: Optional[ObjectTriggerArgs] = None
    """Default: no event trigger."""
    array_size: Optional[int] = None
    """Default: each run is one container. When 2..10000, each run (scheduled or triggered)
    is an array of that many children (``AWS_BATCH_JOB_ARRAY_INDEX`` 0..n-1); the definition
    gets the parameter ``array_size``."""
    triggers_enabled: bool = True
    """Default: the schedule and the event trigger are created. When false (standby
    regions), only the definition and roles exist; runs are submitted by hand."""
    cpu_architecture: str = "X86_64"
    """Default: x86-64 tasks. ``ARM64`` for Graviton images."""
    image_repository_arn: Optional[pulumi.Input[str]] = None
    """Default: the repository is read from an ECR ``image`` reference (none for other
    registries). Required when ``image`` is an Output (built by the stack): the ECR
    repository it is pushed to; the execution role may pull from it only."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Default: no extra tags beyond ``Name`` and ``job``; the definition's tags propagate to
    the runs' tasks."""

    def problems(self) -> list[str]:
        """Every problem with these arguments, each naming its field."""
        out: list[str] = []
        if not isinstance(self.job_name, str) or not _JOB_NAME_RE.match(self.job_name):
            out.append(
                f"job_name: {self.job_name!r} must be 1-20 lowercase letters, digits or '-', "
                "starting with a letter"
            )
        elif self.job_name in self.environment.jobs:
            out.append(f"job_name: the environment already has a job {self.job_name!r}")
        out += self._image_problems()
        if not self.command or not all(isinstance(c, str) and c for c in self.command):
            out.append("command: give the container command as a list of non-empty strings")
        size = fargate_size_problem(self.vcpu, self.memory_mib)
        if size:
            out.append(f"vcpu/memory_mib: {size}")
        elif float(self.vcpu) > self.environment.args.max_vcpus:
            out.append(
                f"vcpu: {vcpu_value(self.vcpu)} is more than the environment's max_vcpus "
                f"({self.environment.args.max_vcpus}); runs could never start"
            )
        if isinstance(self.timeout_seconds, bool) or not isinstance(self.timeout_seconds, int) or self.timeout_seconds < MIN_TIMEOUT_SECONDS:
            out.append(
                f"timeout_seconds: {self.timeout_seconds!r} must be a whole number of seconds, "
                f"at least {MIN_TIMEOUT_SECONDS} (the max run time of one attempt)"
            )
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int) or not 1 <= self.attempts <= 10:
            out.append(f"attempts: {self.attempts!r} must be 1 to 10")
        if len(self.retry_exit_codes) > 2 or not all(
            isinstance(c, int) and not isinstance(c, bool) and 1 <= c <= 255 for c in self.retry_exit_codes
        ):
            out.append("retry_exit_codes: give at most two exit codes from 1 to 255")
        if self.cpu_architecture not in CPU_ARCHITECTURES:
            out.append(f"cpu_architecture: {self.cpu_architecture!r} is not one of {list(CPU_ARCHITECTURES)}")
        out += self._parameter_problems()
        out += environment_problems("environment_variables", self.environment_variables)
        out += self._lake_problems()
        if self.array_size is not None and (
            isinstance(self.array_size, bool) or not isinstance(self.array_size, int) or not 2 <= self.array_size <= MAX_ARRAY_SIZE
        ):
            out.append(f"array_size: {self.array_size!r} must be 2 to {MAX_ARRAY_SIZE} (or not given)")
        if self.schedule is not None:
            out += self._schedule_problems(self.schedule)
        return out

    def _image_problems(self) -> list[str]:
        if isinstance(self.image, pulumi.Output):
            if self.image_repository_arn is None:
                return ["image_repository_arn: an image built by the stack (an Output) needs the "
                        "ARN of the ECR repository it is pushed to"]
            return []
        out = []
        bad_image = image_problem(self.image)
        if bad_image:
            out.append(f"image: {bad_image}")
        if self.image_repository_arn is not None:
            out.append("image_repository_arn: only for an image built by the stack; an image "
                       "reference's ECR repository is read from it")
        return out

    def _parameter_problems(self) -> list[str]:
        out = []
        referenced = command_parameters(self.command) if self.command else []
        for name in self.parameters:
            if not _PARAMETER_RE.match(name):
                out.append(f"parameters: {name!r} must be letters, digits and '_'")
            elif name in PLATFORM_PARAMETERS:
                out.append(f"parameters: {name} is set by the platform (read/write/array_size/triggers)")
            elif name not in referenced:
                out.append(f"parameters: {name} is not used by the command (no Ref::{name})")
        return out

    def _lake_problems(self) -> list[str]:
        out = []
        uses = [("read", self.read), ("write", self.write), ("on_new_objects", self.on_new_objects)]
        for field_name, access in uses:
            if access is None:
                continue
            if self.lake is None:
                out.append(f"{field_name}: needs the data lake (lake)")
            elif access.zone not in self.lake.zones:
                out.append(f"{field_name}: zone {access.zone!r} is not a zone of the lake {list(self.lake.zones)}")
        if self.on_new_objects is not None and self.write is not None and self.on_new_objects.zone == self.write.zone:
            trigger = _clean_prefix(self.on_new_objects.prefix) or ""
            written = _clean_prefix(self.write.prefix) or ""
            if written.startswith(trigger) or trigger.startswith(written):
                out.append(
                    f"on_new_objects: the job writes where it is triggered ({self.write.zone}/"
                    f"{written}); every output object would start another run"
                )
        return out

    def _schedule_problems(self, schedule: JobScheduleArgs) -> list[str]:
        out = []
        bad = schedule_expression_problem(schedule.expression)
        if bad:
            out.append(f"schedule.expression: {bad}")
        bad_zone = timezone_problem(schedule.timezone)
        if bad_zone:
            out.append(f"schedule.timezone: {bad_zone}")
        referenced = command_parameters(self.command) if self.command else []
        for name in schedule.parameters:
            if name not in referenced:
                out.append(
                    f"schedule.parameters: {name} is not used by the command (no Ref::{name}); "
                    "the override would have no effect"
                )
        out += environment_problems("schedule.environment", schedule.environment)
        return out


def _resolve_image(image: str, account: str, region: str) -> str:
    return image.replace("{account}", account).replace("{region}", region)


class BatchJob(pulumi.ComponentResource):
    """One job: its definition, log group, roles, and what submits its runs."""

    def __init__(
        self, name: str, args: BatchJobArgs, opts: Optional[pulumi.ResourceOptions] = None
    ) -> None:
        problems = args.problems()
        raise_problems(f"BatchJob {name!r}", problems)
        super().__init__("mlops:jobs:BatchJob", name, None, opts)
        env = args.environment
        env.jobs[args.job_name] = self
        self._name = name
        self.job_name = args.job_name
        self.args = args
        self._child = pulumi.ResourceOptions(parent=self)
        self._tags = {"job": args.job_name, **args.tags}
        self.definition_name = f"{env.name_prefix}-{args.job_name}"
        image = args.image
        self.image: pulumi.Output[str] = (
            pulumi.Output.all(env.account_id, env.region).apply(
                lambda v: _resolve_image(image, v[0], v[1])
            )
            if isinstance(image, str)
            else pulumi.Output.from_input(image)
        )

        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/aws/batch/{env.name_prefix}/{args.job_name}",
            retention_in_days=env.args.log_retention_days,
            kms_key_id=env.key.arn,
            tags={"Name": f"{name}-logs", **self._tags},
            opts=pulumi.ResourceOptions(parent=self, protect=env.args.protect, retain_on_delete=env.args.protect),
        )
        self._roles()
        self.parameters = self._parameters()
        self.definition = aws.batch.JobDefinition(
            f"{name}-definition",
            name=self.definition_name,
            type="container",
            platform_capabilities=["FARGATE"],
            container_properties=pulumi.Output.json_dumps(
                container_properties(
                    image=self.image,
                    command=args.command,
                    vcpu=args.vcpu,
                    memory_mib=args.memory_mib,
                    environment=dict(args.environment_variables),
                    execution_role_arn=self.execution_role.arn,
                    job_role_arn=self.job_role.arn,
                    log_group_name=self.log_group.name,
                    region=env.region,
                    cpu_architecture=args.cpu_architecture,
                )
            ),
            parameters=self.parameters or None,
            timeout=aws.batch.JobDefinitionTimeoutArgs(attempt_duration_seconds=args.timeout_seconds),
            retry_strategy=retry_strategy(args.attempts, args.retry_exit_codes),
            propagate_tags=True,
            tags={"Name": f"{name}-definition", **self._tags},
            # A run may be submitted as soon as the definition exists (a new object, or by
            # hand): both roles hold their policies by then, so the first run can pull its
            # image, write its logs and reach the lake.
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[*self.execution_role.grants.values(), *self.job_role.grants.values()],
            ),
        )
        # SubmitJob is authorised on the queue and on the definition (any revision).
        self.definition_arn_pattern = pulumi.Output.concat(self.definition.arn_prefix, ":*")

        self.dead_letter_queue: Optional[aws.sqs.Queue] = None
        self.dead_letter_alarm: Optional[aws.cloudwatch.MetricAlarm] = None
        self.scheduler_role: Optional[ServiceRole] = None
        self.schedule: Optional[aws.scheduler.Schedule] = None
        self.trigger_rule: Optional[aws.cloudwatch.EventRule] = None
        self.trigger_role: Optional[ServiceRole] = None
        self.trigger_target: Optional[aws.cloudwatch.EventTarget] = None
        if args.triggers_enabled and (args.schedule is not None or args.on_new_objects is not None):
            self._dead_letter_queue()
            if args.schedule is not None:
                self._schedule(args.schedule)
            if args.on_new_objects is not None:
                self._object_trigger(args.on_new_objects)
        self.register_outputs(
            {"definition_arn": self.definition.arn, "log_group": self.log_group.name}
        )

    # Roles -----------------------------------------------------------------------------------

    def _roles(self) -> None:
        args, env, name = self.args, self.args.environment, self._name
        tasks_source = pulumi.Output.concat("arn:", env.partition, ":ecs:", env.region, ":", env.account_id, ":*")
        self.execution_role = ServiceRole(
            f"{name}-execution",
            ServiceRoleArgs(
                service="ecs-tasks.amazonaws.com",
                description=f"{env.name_prefix} job {self.job_name}: Batch pulls the image and writes the run logs",
                source_arn=tasks_source,
                tags=self._tags,
            ),
            opts=self._child,
        )
        self.job_role = ServiceRole(
            f"{name}-job",
            ServiceRoleArgs(
                service="ecs-tasks.amazonaws.com",
                description=f"{env.name_prefix} job {self.job_name}: what the run's code may do (only the grants given)",
                source_arn=tasks_source,
                tags=self._tags,
            ),
            opts=self._child,
        )
        statements = [
            Statement(
                sid="WriteOwnLogGroup",
                actions=("logs:CreateLogStream", "logs:PutLogEvents"),
                resources=[pulumi.Output.concat(self.log_group.arn, ":log-stream:*")],
            )
        ]
        self.execution_role.grant("write-logs", statements)
        repository_arn = self._image_repository_arn()
        if repository_arn is not None:
            self.execution_role.grant(
                "pull-image",
                [
                    Statement(
                        sid="PullFromThisRepository",
                        actions=("ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"),
                        resources=[repository_arn],
                    ),
                    Statement(sid="RegistryLogin", actions=("ecr:GetAuthorizationToken",), resources=["*"]),
                ],
            )
        lake = args.lake
        if lake is not None and args.read is not None:
            lake.grant_read(self.job_role, args.read.zone, args.read.prefix)
        if lake is not None and args.write is not None:
            lake.grant_read_write(self.job_role, args.write.zone, args.write.prefix, allow_delete=True)

    def _image_repository_arn(self) -> Optional[pulumi.Input[str]]:
        """The ECR repository the image is pulled from: given for a built image, read from an
        ECR image reference, None for other registries."""
        args, env = self.args, self.args.environment
        if args.image_repository_arn is not None:
            return args.image_repository_arn
        repository = ecr_repository(args.image) if isinstance(args.image, str) else None
        if repository is None:
            return None
        account, region, repo = repository
        return pulumi.Output.all(env.partition, env.account_id, env.region).apply(
            lambda v: f"arn:{v[0]}:ecr:{_resolve_image(region, v[1], v[2])}:"
            f"{_resolve_image(account, v[1], v[2])}:repository/{repo}"
        )

    def _parameters(self) -> dict[str, pulumi.Input[str]]:
        args = self.args
        out: dict[str, pulumi.Input[str]] = {}
        # A zone without a folder gets no *_prefix default: Ref::read_prefix stays unresolved.
        for kind, access in (("read", args.read), ("write", args.write)):
            if args.lake is None or access is None:
                continue
            out[f"{kind}_bucket"] = args.lake.bucket(access.zone).name
            prefix = _clean_prefix(access.prefix)
            if prefix:
                out[f"{kind}_prefix"] = prefix
        if args.array_size:
            out[ARRAY_SIZE_PARAMETER] = str(args.array_size)
        out.update(args.parameters)
        return out

    def _submit_statement(self) -> Statement:
        """SubmitJob for exactly this queue and this definition (by name and any revision);
        IAM also evaluates the job being created, whose id is not known in advance."""
        env = self.args.environment
        new_jobs = pulumi.Output.format("arn:{0}:batch:{1}:{2}:job/*", env.partition, env.region, env.account_id)
        return Statement(
            sid="SubmitThisJobToThisQueue",
            actions=("batch:SubmitJob",),
            resources=[env.queue.arn, self.definition.arn_prefix, self.definition_arn_pattern, new_jobs],
        )

    # Submissions -----------------------------------------------------------------------------

    def _dead_letter_queue(self) -> None:
        env, name = self.args.environment, self._name
        self.dead_letter_queue = aws.sqs.Queue(
            f"{name}-submit-dlq",
            kms_master_key_id=env.key.arn,
            kms_data_key_reuse_period_seconds=300,
            message_retention_seconds=DLQ_RETENTION_SECONDS,
            tags={"Name": f"{name}-submit-dlq", **self._tags},
            opts=self._child,
        )
        self.dead_letter_alarm = metric_alarm(
            f"{name}-submit-failed",
            AlarmArgs(
                namespace="AWS/SQS",
                metric_name="ApproximateNumberOfMessagesVisible",
                dimensions={"QueueName": self.dead_letter_queue.name},
                statistic="Maximum",
                threshold=1,
                period=300,
                treat_missing_data="notBreaching",
                description=(
                    f"{env.name_prefix} job {self.job_name}: a run could not be submitted after retries "
                    "(schedule or object trigger); read the dead-letter queue's message for the "
                    "error, fix it, then submit the run by hand"
                ),
            ),
            env.alert_topic,
            self._child,
        )

    def _dlq_statements(self) -> list[Statement]:
        """What the scheduler role needs to put a failed submission into the dead-letter queue
        (Scheduler delivers dead letters with the schedule's role)."""
        env = self.args.environment
        assert self.dead_letter_queue is not None
        via_sqs = env.region.apply(lambda r: f"sqs.{r}.amazonaws.com")
        return [
            Statement(sid="SendToDeadLetterQueue", actions=("sqs:SendMessage",), resources=[self.dead_letter_queue.arn]),
            Statement(
                sid="EncryptDeadLetters",
                actions=("kms:Decrypt", "kms:GenerateDataKey"),
                resources=[env.key.arn],
                conditions={"StringEquals": {"kms:ViaService": via_sqs}},
            ),
        ]

    def _schedule(self, schedule: JobScheduleArgs) -> None:
        args, env, name = self.args, self.args.environment, self._name
        assert self.dead_letter_queue is not None
        self.scheduler_role = ServiceRole(
            f"{name}-scheduler",
            ServiceRoleArgs(
                service="scheduler.amazonaws.com",
                description=f"{env.name_prefix} job {self.job_name}: EventBridge Scheduler submits scheduled runs",
                source_arn=env.schedule_group.arn,
                tags=self._tags,
            ),
            opts=self._child,
        )
        self.scheduler_role.grant("submit-runs", [self._submit_statement(), *self._dlq_statements()])
        request = submit_job_input(
            run_name=f"{self.job_name}-scheduled",
            queue_arn=env.queue.arn,
            definition_arn=self.definition.arn,
            parameters=schedule.parameters,
            environment=schedule.environment,
            array_size=args.array_size,
        )
        self.schedule = aws.scheduler.Schedule(
            f"{name}-schedule",
            name=self.definition_name,
            group_name=env.schedule_group.name,
            description=f"{env.name_prefix} job {self.job_name}: submits a run {schedule.expression} ({schedule.timezone})",
            schedule_expression=schedule.expression,
            schedule_expression_timezone=schedule.timezone,
            flexible_time_window=aws.scheduler.ScheduleFlexibleTimeWindowArgs(mode="OFF"),
            state="ENABLED" if schedule.enabled else "DISABLED",
            target=aws.scheduler.ScheduleTargetArgs(
                arn=env.partition.apply(lambda p: SUBMIT_JOB_TARGET.format(partition=p)),
                role_arn=self.scheduler_role.arn,
                input=pulumi.Output.json_dumps(request),
                retry_policy=aws.scheduler.ScheduleTargetRetryPolicyArgs(
                    maximum_event_age_in_seconds=SUBMIT_MAX_EVENT_AGE_SECONDS,
                    maximum_retry_attempts=SUBMIT_RETRY_ATTEMPTS,
                ),
                dead_letter_config=aws.scheduler.ScheduleTargetDeadLetterConfigArgs(arn=self.dead_letter_queue.arn),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.scheduler_role]),
        )

    def _object_trigger(self, trigger: ObjectTriggerArgs) -> None:
        args, env, name = self.args, self.args.environment, self._name
        assert args.lake is not None and self.dead_letter_queue is not None
        bucket = args.lake.bucket(trigger.zone)
        self.trigger_rule = aws.cloudwatch.EventRule(
            f"{name}-on-new-objects",
            description=f"{env.name_prefix} job {self.job_name}: a new object in the {trigger.zone} zone submits a run",
            event_pattern=pulumi.Output.json_dumps(object_created_pattern(bucket.name, trigger.prefix)),
            tags={"Name": f"{name}-on-new-objects", **self._tags},
            opts=self._child,
        )
        self.trigger_role = ServiceRole(
            f"{name}-events",
            ServiceRoleArgs(
                service="events.amazonaws.com",
                description=f"{env.name_prefix} job {self.job_name}: EventBridge submits runs for new objects",
                source_arn=self.trigger_rule.arn,
                tags=self._tags,
            ),
            opts=self._child,
        )
        submit = self.trigger_role.grant("submit-runs", [self._submit_statement()])
        self.dead_letter_policy = aws.sqs.QueuePolicy(
            f"{name}-submit-dlq-policy",
            queue_url=self.dead_letter_queue.url,
            policy=pulumi.Output.json_dumps(
                dead_letter_queue_policy(self.dead_letter_queue.arn, self.trigger_rule.arn)
            ),
            opts=self._child,
        )
        paths, template = object_trigger_input()
        self.trigger_target = aws.cloudwatch.EventTarget(
            f"{name}-on-new-objects-submit",
            rule=self.trigger_rule.name,
            arn=env.queue.arn,
            role_arn=self.trigger_role.arn,
            batch_target=aws.cloudwatch.EventTargetBatchTargetArgs(
                job_definition=self.definition.arn,
                job_name=f"{self.job_name}-on-new-object",
                array_size=args.array_size,
            ),
            input_transformer=aws.cloudwatch.EventTargetInputTransformerArgs(
                input_paths=paths, input_template=template
            ),
            retry_policy=aws.cloudwatch.EventTargetRetryPolicyArgs(
                maximum_event_age_in_seconds=SUBMIT_MAX_EVENT_AGE_SECONDS,
                maximum_retry_attempts=SUBMIT_RETRY_ATTEMPTS,
            ),
            dead_letter_config=aws.cloudwatch.EventTargetDeadLetterConfigArgs(arn=self.dead_letter_queue.arn),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[submit, self.dead_letter_policy]),
        )


def dead_letter_queue_policy(queue_arn: pulumi.Input[str], rule_arn: pulumi.Input[str]) -> dict[str, Any]:
    """Queue policy: only the job's trigger rule may deliver dead letters; nothing without TLS."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "TriggerRuleDeliversDeadLetters",
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
            },
            {
                "Sid": "DenyWithoutTls",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "sqs:*",
                "Resource": queue_arn,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ],
    }


# Components: managed Airflow -----------------------------------------------------------------

MWAA_ENVIRONMENT_CLASSES = (
    "mw1.micro", "mw1.small", "mw1.medium", "mw1.large", "mw1.xlarge", "mw1.2xlarge",
)
#: The modules MWAA logs, and the suffix of each one's log group (``airflow-<env>-<suffix>``).
MWAA_LOG_MODULES: Mapping[str, str] = {
    "dag_processing_logs": "DAGProcessing",
    "scheduler_logs": "Scheduler",
    "task_logs": "Task",
    "webserver_logs": "WebServer",
    "worker_logs": "Worker",
}
MWAA_SERVICES = ("airflow.amazonaws.com", "airflow-env.amazonaws.com")
#: Prefix of the DAG bucket's server access logs in their log bucket.
AIRFLOW_DAGS_LOG_PREFIX = "airflow-dags"
_MWAA_NAME_RE = re.compile(r"^[a-zA-Z][0-9a-zA-Z_-]{0,79}$")


@dataclass(frozen=True)
class AirflowArgs:
    """Arguments of :class:`Airflow`."""

    environment_name: str
    """The MWAA environment's name, e.g. ``mlops-prod-airflow`` (its log groups are
    ``airflow-<name>-*``)."""
    key: RegionKey
    """The region's KMS key: encrypts the environment, its DAG bucket and log groups."""
    vpc_id: pulumi.Input[str]
    """The VPC of the environment."""
    subnet_ids: Sequence[pulumi.Input[str]]
    """Exactly two private subnets in different AZs (MWAA's requirement)."""
    access_log_bucket: Optional[pulumi.Input[str]] = None
    """Default: the DAG bucket gets its own server-access-log bucket. When given (e.g. the
    data lake's log bucket), logs go there under ``airflow-dags/``; its policy must accept
    them (``DataLake.accept_access_logs``)."""
    environment_class: str = "mw1.small"
    """Default: mw1.small (up to about 400 DAGs)."""
    airflow_version: str = "2.10.3"
    """Default: Apache Airflow 2.10.3."""
    max_workers: int = 2
    """Default: at most two workers (one always runs)."""
    log_retention_days: int = 30
    """Default: Airflow logs are kept 30 days."""
    force_destroy: bool = False
    """Default: the DAG bucket cannot be deleted while it holds objects. When true
    (ephemeral stacks), it is emptied and deleted with the stack."""
    protect: bool = False
    """Default: unprotected. When true, the DAG bucket and log groups are protected."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Default: no extra tags beyond ``Name``."""

    def problems(self) -> list[str]:
        out = []
        if not _MWAA_NAME_RE.match(self.environment_name):
            out.append(f"environment_name: {self.environment_name!r} must be 1-80 letters, digits, '-' or '_', starting with a letter")
        if self.environment_class not in MWAA_ENVIRONMENT_CLASSES:
            out.append(f"environment_class: {self.environment_class!r} is not one of {list(MWAA_ENVIRONMENT_CLASSES)}")
        if len(self.subnet_ids) != 2:
            out.append(f"subnet_ids: MWAA needs exactly two private subnets, got {len(self.subnet_ids)}")
        if isinstance(self.max_workers, bool) or not isinstance(self.max_workers, int) or not 1 <= self.max_workers <= 25:
            out.append(f"max_workers: {self.max_workers!r} must be 1 to 25")
        if self.log_retention_days not in LOG_RETENTION_DAYS:
            out.append(f"log_retention_days: {self.log_retention_days!r} is not a CloudWatch Logs retention")
        if self.force_destroy and self.protect:
            out.append("Only one of [force_destroy] and [protect] can be given")
        return out


def airflow_execution_statements(
    *,
    partition: str,
    region: str,
    account_id: str,
    environment_name: str,
    dag_bucket_arn: str,
    key_arn: str,
) -> list[Statement]:
    """The MWAA execution role's permissions, as AWS documents them for a customer managed
    key, with the wildcard actions spelled out: report health, read the DAG bucket, write
    its own log groups, use its own Celery queues, use the key only through SQS and S3."""
    logs = f"arn:{partition}:logs:{region}:{account_id}:log-group:airflow-{environment_name}-*"
    return [
        Statement(
            sid="PublishEnvironmentHealth",
            actions=("airflow:PublishMetrics",),
            resources=[f"arn:{partition}:airflow:{region}:{account_id}:environment/{environment_name}"],
        ),
        Statement(
            sid="ReadDagBucket",
            actions=(
                "s3:GetBucketLocation", "s3:GetBucketPublicAccessBlock", "s3:GetBucketVersioning",
                "s3:GetEncryptionConfiguration", "s3:ListBucket", "s3:ListBucketVersions",
            ),
            resources=[dag_bucket_arn],
        ),
        Statement(
            sid="ReadDags",
            actions=("s3:GetObject", "s3:GetObjectVersion"),
            resources=[f"{dag_bucket_arn}/*"],
        ),
        Statement(
            sid="WriteOwnLogGroups",
            actions=(
                "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents",
                "logs:GetLogEvents", "logs:GetLogGroupFields",
            ),
            resources=[logs, f"{logs}:log-stream:*"],
        ),
        Statement(sid="FindLogGroups", actions=("logs:DescribeLogGroups",), resources=["*"]),
        Statement(
            sid="PublishAirflowMetrics",
            actions=("cloudwatch:PutMetricData",),
            resources=["*"],
            conditions={"StringEquals": {"cloudwatch:namespace": "AmazonMWAA"}},
        ),
        Statement(
            sid="UseCeleryQueues",
            actions=(
                "sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
                "sqs:GetQueueUrl", "sqs:ReceiveMessage", "sqs:SendMessage",
            ),
            resources=[f"arn:{partition}:sqs:{region}:*:airflow-celery-*"],
        ),
        Statement(
            sid="UseKeyThroughSqsAndS3",
            actions=("kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"),
            resources=[key_arn],
            conditions={
                "StringEquals": {
                    "kms:ViaService": [f"sqs.{region}.amazonaws.com", f"s3.{region}.amazonaws.com"]
                }
            },
        ),
    ]


def airflow_trust_policy(account_id: str, environment_arn: str) -> dict[str, Any]:
    """Both MWAA principals may assume the role, only for this environment of this account
    (one statement per principal)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": service},
                "Action": "sts:AssumeRole",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account_id},
                    "ArnLike": {"aws:SourceArn": environment_arn},
                },
            }
            for service in MWAA_SERVICES
        ],
    }


class Airflow(pulumi.ComponentResource):
    """Managed Apache Airflow (MWAA) with DAGs in a locked-down bucket, private web server."""

    def __init__(
        self, name: str, args: AirflowArgs, opts: Optional[pulumi.ResourceOptions] = None
    ) -> None:
        problems = args.problems()
        raise_problems(f"Airflow {name!r}", problems)
        assert all(s in CONFUSED_DEPUTY_KEYS for s in MWAA_SERVICES)
        super().__init__("mlops:jobs:Airflow", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        keep = pulumi.ResourceOptions(parent=self, protect=args.protect, retain_on_delete=args.protect)
        invoke = pulumi.InvokeOptions(parent=self)
        account = aws.get_caller_identity_output(opts=invoke).account_id
        partition = aws.get_partition_output(opts=invoke).partition
        region = aws.get_region_output(opts=invoke).region
        tags = dict(args.tags)

        self._buckets(name, args, account)
        self.log_groups = {
            module: aws.cloudwatch.LogGroup(
                f"{name}-{suffix.lower()}-logs",
                name=f"airflow-{args.environment_name}-{suffix}",
                retention_in_days=args.log_retention_days,
                kms_key_id=args.key.arn,
                tags={"Name": f"{name}-{suffix.lower()}-logs", **tags},
                opts=keep,
            )
            for module, suffix in MWAA_LOG_MODULES.items()
        }
        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-sg",
            vpc_id=args.vpc_id,
            description=f"{args.environment_name}: Airflow components talk to each other; HTTPS out",
            tags={"Name": f"{name}-sg", **tags},
            opts=child,
        )
        sg = self.security_group.id
        self.security_group_rules = [
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-in-{port}", security_group_id=sg, ip_protocol="tcp", from_port=port, to_port=port,
                referenced_security_group_id=sg, description=f"Airflow components reach each other on {port} ({what})",
                opts=child,
            )
            for port, what in ((443, "web server"), (5432, "metadata database"))
        ] + [
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-out-5432", security_group_id=sg, ip_protocol="tcp", from_port=5432, to_port=5432,
                referenced_security_group_id=sg, description="Airflow components reach the metadata database",
                opts=child,
            ),
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-out-https", security_group_id=sg, ip_protocol="tcp", from_port=443, to_port=443,
                cidr_ipv4="0.0.0.0/0", description="Airflow calls AWS APIs (S3, SQS, logs) over HTTPS via NAT or endpoints",
                opts=child,
            ),
        ]
        environment_arn = pulumi.Output.format(
            "arn:{0}:airflow:{1}:{2}:environment/{3}", partition, region, account, args.environment_name
        )
        self.execution_role = aws.iam.Role(
            f"{name}-execution-role",
            description=f"{args.environment_name}: what the Airflow environment may do",
            assume_role_policy=pulumi.Output.all(account, environment_arn).apply(
                lambda v: pulumi.Output.json_dumps(airflow_trust_policy(v[0], v[1]))
            ),
            tags={"Name": f"{name}-execution-role", **tags},
            opts=child,
        )
        self.execution_policy = aws.iam.RolePolicy(
            f"{name}-execution",
            role=self.execution_role.id,
            policy=pulumi.Output.all(partition, region, account, self.dag_bucket.arn, args.key.arn).apply(
                lambda v: policy_document(
                    airflow_execution_statements(
                        partition=v[0], region=v[1], account_id=v[2],
                        environment_name=args.environment_name, dag_bucket_arn=v[3], key_arn=v[4],
                    )
                )
            ),
            opts=child,
        )
        logging = {
            module: {"enabled": True, "log_level": "INFO"} for module in MWAA_LOG_MODULES
        }
        self.environment = aws.mwaa.Environment(
            f"{name}-environment",
            name=args.environment_name,
            airflow_version=args.airflow_version,
            environment_class=args.environment_class,
            max_workers=args.max_workers,
            min_workers=1,
            execution_role_arn=self.execution_role.arn,
            kms_key=args.key.arn,
            source_bucket_arn=self.dag_bucket.arn,
            dag_s3_path="dags/",
            webserver_access_mode="PRIVATE_ONLY",
            network_configuration=aws.mwaa.EnvironmentNetworkConfigurationArgs(
                security_group_ids=[sg], subnet_ids=list(args.subnet_ids)
            ),
            logging_configuration=logging,
            tags={"Name": f"{name}-environment", **tags},
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[self.execution_policy, *self.log_groups.values()]
            ),
        )
        self.arn = self.environment.arn
        self.register_outputs({"arn": self.environment.arn, "dag_bucket": self.dag_bucket.name})

    def _buckets(self, name: str, args: AirflowArgs, account: pulumi.Output[str]) -> None:
        child = pulumi.ResourceOptions(parent=self)
        self.access_log_bucket: Optional[SecureBucket] = None
        log_bucket_name = args.access_log_bucket
        dag_bucket_arn, resolve_dag_bucket_arn = pulumi.deferred_output()
        if log_bucket_name is None:
            log_bucket_arn, resolve_log_bucket_arn = pulumi.deferred_output()
            self.access_log_bucket = SecureBucket(
                f"{name}-access-logs",
                SecureBucketArgs(
                    key=None,
                    purpose="airflow-access-logs",
                    sse_s3_for_log_delivery=True,
                    expiration_days=90,
                    force_destroy=args.force_destroy,
                    protect=args.protect,
                    extra_policy_statements=[
                        {
                            "Sid": "S3ServerAccessLogsForDagBucket",
                            "Effect": "Allow",
                            "Principal": {"Service": "logging.s3.amazonaws.com"},
                            "Action": "s3:PutObject",
                            "Resource": pulumi.Output.concat(log_bucket_arn, f"/{AIRFLOW_DAGS_LOG_PREFIX}/*"),
                            "Condition": {
                                "ArnLike": {"aws:SourceArn": dag_bucket_arn},
                                "StringEquals": {"aws:SourceAccount": account},
                            },
                        }
                    ],
                    tags=dict(args.tags),
                ),
                opts=child,
            )
            resolve_log_bucket_arn(self.access_log_bucket.arn)
            log_bucket_name = self.access_log_bucket.name
        self.dag_bucket = SecureBucket(
            f"{name}-dags",
            SecureBucketArgs(
                key=args.key,
                purpose="airflow-dags",
                access_log_bucket=log_bucket_name,
                access_log_prefix=f"{AIRFLOW_DAGS_LOG_PREFIX}/",
                force_destroy=args.force_destroy,
                protect=args.protect,
                tags=dict(args.tags),
            ),
            opts=child,
        )
        resolve_dag_bucket_arn(self.dag_bucket.arn)


# Components: one region's jobs ---------------------------------------------------------------


@dataclass(frozen=True)
class JobBuild:
    """Build a job's image from a Dockerfile (see :attr:`JobSpec.build`)."""

    context: str
    """The build context directory, relative to ``JobsArgs.build_root`` (and to the working
    directory of ``pulumi up``, where ``awsx.ecr.Image`` builds it)."""
    dockerfile: Optional[str] = None
    """Default: ``Dockerfile`` in ``context``. Otherwise its path, relative like ``context``."""


@dataclass(frozen=True)
class JobSpec:
    """One job of :class:`Jobs`: its name and template (see :class:`BatchJobArgs`); exactly
    one of ``image`` and ``build``."""

    name: str
    command: Sequence[str]
    vcpu: float
    memory_mib: int
    timeout_seconds: int
    parameters: Mapping[str, str] = field(default_factory=dict)
    """Default: none beyond the platform's."""
    environment_variables: Mapping[str, str] = field(default_factory=dict)
    """Default: none."""
    attempts: int = 1
    """Default: one attempt."""
    read: Optional[LakeAccess] = None
    """Default: no read access."""
    write: Optional[LakeAccess] = None
    """Default: no write access."""
    schedule: Optional[JobScheduleArgs] = None
    """Default: no schedule."""
    on_new_objects: Optional[ObjectTriggerArgs] = None
    """Default: no event trigger."""
    array_size: Optional[int] = None
    """Default: single-container runs."""
    image: Optional[str] = field(default=None, kw_only=True)
    """Default: none (then ``build`` is required). A prebuilt image (see
    :attr:`BatchJobArgs.image`)."""
    build: Optional[JobBuild] = field(default=None, kw_only=True)
    """Default: none (then ``image`` is required). Build the image and push it to the
    region's job image repository; jobs with the same build share one image."""


@dataclass(frozen=True)
class AirflowSpec:
    """Managed Airflow of :class:`Jobs` (see :class:`AirflowArgs`)."""

    environment_class: str = "mw1.small"
    """Default: mw1.small."""
    max_workers: int = 2
    """Default: two workers at most."""


@dataclass(frozen=True)
class JobsArgs:
    """Arguments of :class:`Jobs`."""

    name_prefix: str
    """E.g. ``mlops-dev``; see :class:`BatchEnvironmentArgs`."""
    key: RegionKey
    """The region's KMS key."""
    alert_topic: AlertTopic
    """The region's alert topic."""
    vpc_id: pulumi.Input[str]
    """The region's VPC."""
    private_subnet_ids: Sequence[pulumi.Input[str]]
    """The region's private subnets (Airflow uses the first two)."""
    lake: Optional[DataLake] = None
    """Default: no data lake (jobs then may not read, write or be triggered by it)."""
    jobs: Sequence[JobSpec] = ()
    """Default: no jobs (and then no compute environment)."""
    max_vcpus: int = 16
    """Default: at most 16 vCPUs of runs at a time."""
    triggers_enabled: bool = True
    """Default: schedules and object triggers are created. False in standby regions."""
    airflow: Optional[AirflowSpec] = None
    """Default: no managed Airflow."""
    log_retention_days: int = 30
    """Default: logs are kept 30 days."""
    force_destroy: bool = False
    """Default: buckets holding objects cannot be deleted."""
    protect: bool = False
    """Default: unprotected."""
    cpu_architecture: str = "X86_64"
    """Default: the jobs run on x86-64 (Batch on Fargate); built images are built for
    ``linux/amd64`` (``ARM64``: ``linux/arm64``)."""
    build_root: Optional[str] = None
    """Default: the current working directory. Where the jobs' relative build contexts and
    Dockerfiles are found to check them and to compute the image tags."""

    def resolve(self, path: str) -> Path:
        """``path`` as the build sees it: relative paths from ``build_root`` (default: cwd)."""
        base = Path(self.build_root) if self.build_root is not None else Path(os.getcwd())
        return base / path

    def problems(self) -> list[str]:
        """Problems with the jobs' image sources, each naming the job and its field."""
        out: list[str] = []
        names = [j.name for j in self.jobs]
        dupes = duplicates(names)
        if dupes:
            out.append(f"jobs: {dupes} listed more than once")
        if self.cpu_architecture not in CPU_ARCHITECTURES:
            out.append(f"cpu_architecture: {self.cpu_architecture!r} is not one of {list(CPU_ARCHITECTURES)}")
        for i, spec in enumerate(self.jobs):
            at = f"jobs[{i}] ({spec.name})"
            if spec.image is not None and spec.build is not None:
                out.append(f"{at}: Only one of [image] and [build] can be given")
            elif spec.image is None and spec.build is None:
                out.append(f"{at}: give [image] (a prebuilt image) or [build] (a Dockerfile to build)")
            elif spec.build is not None:
                out += self._build_problems(at, spec.build)
        return out

    def _build_problems(self, at: str, build: JobBuild) -> list[str]:
        context = self.resolve(build.context)
        if not context.is_dir():
            return [f"{at}: build.context: directory {build.context!r} not found (looked in {context})"]
        dockerfile = self.resolve(build.dockerfile) if build.dockerfile else context / "Dockerfile"
        if not dockerfile.is_file():
            key = "build.dockerfile" if build.dockerfile else "build.context"
            return [f"{at}: {key}: no Dockerfile at {dockerfile}"]
        return []


class Jobs(pulumi.ComponentResource):
    """One region's batch jobs: the environment, each job, and optional managed Airflow."""

    def __init__(self, name: str, args: JobsArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        problems = args.problems()
        raise_problems(f"Jobs {name!r}", problems)
        super().__init__("mlops:jobs:Jobs", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self._name = name
        self.environment: Optional[BatchEnvironment] = None
        self.jobs: dict[str, BatchJob] = {}
        self.repository: Optional[aws.ecr.Repository] = None
        self.lifecycle_policy: Optional[aws.ecr.LifecyclePolicy] = None
        #: Built images by their build (context, Dockerfile).
        self.images: dict[JobBuild, awsx.ecr.Image] = {}
        self._build_images(args)
        if args.jobs:
            self.environment = BatchEnvironment(
                f"{name}-batch",
                BatchEnvironmentArgs(
                    name_prefix=args.name_prefix,
                    vpc_id=args.vpc_id,
                    subnet_ids=list(args.private_subnet_ids),
                    key=args.key,
                    alert_topic=args.alert_topic,
                    max_vcpus=args.max_vcpus,
                    log_retention_days=args.log_retention_days,
                    protect=args.protect,
                ),
                opts=child,
            )
            for spec in args.jobs:
                self.jobs[spec.name] = BatchJob(
                    f"{name}-{spec.name}",
                    BatchJobArgs(
                        job_name=spec.name,
                        environment=self.environment,
                        image=spec.image if spec.build is None else self.images[spec.build].image_uri,
                        image_repository_arn=(
                            self.repository.arn if spec.build is not None and self.repository is not None else None
                        ),
                        cpu_architecture=args.cpu_architecture,
                        command=spec.command,
                        vcpu=spec.vcpu,
                        memory_mib=spec.memory_mib,
                        timeout_seconds=spec.timeout_seconds,
                        parameters=spec.parameters,
                        environment_variables=spec.environment_variables,
                        attempts=spec.attempts,
                        lake=args.lake,
                        read=spec.read,
                        write=spec.write,
                        schedule=spec.schedule,
                        on_new_objects=spec.on_new_objects,
                        array_size=spec.array_size,
                        triggers_enabled=args.triggers_enabled,
                    ),
                    opts=pulumi.ResourceOptions(parent=self.environment),
                )
        self.airflow: Optional[Airflow] = None
        if args.airflow is not None:
            # The DAG bucket's access logs go to the lake's log bucket when there is a lake.
            self.airflow = Airflow(
                f"{name}-airflow",
                AirflowArgs(
                    environment_name=f"{args.name_prefix}-airflow",
                    key=args.key,
                    vpc_id=args.vpc_id,
                    subnet_ids=list(args.private_subnet_ids)[:2],
                    access_log_bucket=args.lake.log_bucket.id if args.lake is not None else None,
                    environment_class=args.airflow.environment_class,
                    max_workers=args.airflow.max_workers,
                    log_retention_days=args.log_retention_days,
                    force_destroy=args.force_destroy,
                    protect=args.protect,
                ),
                opts=child,
            )
            if args.lake is not None:
                args.lake.accept_access_logs(self.airflow.dag_bucket.arn, AIRFLOW_DAGS_LOG_PREFIX)
        self.register_outputs(self.outputs())

    def _build_images(self, args: JobsArgs) -> None:
        """The region's job image repository and one image per distinct build (named after
        the first job that uses it), when any job builds its image."""
        builds = [spec for spec in args.jobs if spec.build is not None]
        if not builds:
            return
        name = self._name
        self.repository, self.lifecycle_policy = create_ecr_repository(
            f"{name}-images",
            parent=self,
            key=args.key,
            force_delete=args.force_destroy,
            protect=args.protect,
            tags={"Name": f"{name}-images-repo"},
        )
        platform = DOCKER_PLATFORMS[args.cpu_architecture]
        for spec in builds:
            build = spec.build
            assert build is not None
            if build in self.images:
                continue
            self.images[build], _ = ecr_image(
                f"{name}-{spec.name}",
                ImageBuild(
                    context=build.context,
                    context_path=args.resolve(build.context),
                    dockerfile=build.dockerfile,
                    dockerfile_path=args.resolve(build.dockerfile) if build.dockerfile else None,
                    platform=platform,
                ),
                parent=self,
                repository=self.repository,
                lifecycle_policy=self.lifecycle_policy,
            )

    def widgets(self) -> list[Widget]:
        """The environment's dashboard widgets (none without jobs)."""
        return self.environment.widgets() if self.environment is not None else []

    def outputs(self) -> dict[str, Any]:
        """What other stacks may reference: the queue, the job definitions and the
        repository of built job images (when a job builds its image)."""
        out: dict[str, Any] = {}
        if self.environment is not None:
            out["queueArn"] = self.environment.queue.arn
            out["jobDefinitions"] = {n: j.definition.arn for n, j in self.jobs.items()}
        if self.repository is not None:
            out["imageRepositoryUrl"] = self.repository.repository_url
        if self.airflow is not None:
            out["airflowArn"] = self.airflow.arn
        return out
