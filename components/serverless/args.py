"""Arguments of :class:`~components.serverless.LambdaService` and their checks: Lambda's
limits, environment variable names, the VPC placement and :class:`LambdaServiceArgs`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pulumi

from components.baseline import LAMBDA_RUNTIME_DEPRECATION, looks_like_secret, runtime_supported
from components.kms import KeyInput
from components.monitoring import LOG_RETENTION_DAYS, TopicInput
from components.serverless.grants import Grant
from components.serverless.packaging import handler_file, package_files
from components.serverless.triggers import MIN_EVENT_AGE_SECONDS, ObjectCreatedTrigger

# --- limits and defaults ------------------------------------------------------------------

#: The runtime used unless told otherwise (supported per components.baseline.LAMBDA_RUNTIME_DEPRECATION).
DEFAULT_RUNTIME = "python3.13"
ARCHITECTURES = ("arm64", "x86_64")
MIN_MEMORY_MB, MAX_MEMORY_MB = 128, 10240
MIN_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS = 1, 900
#: Asynchronous invocation limits (FunctionEventInvokeConfig).
MAX_ASYNC_RETRY_ATTEMPTS = 2
MAX_ASYNC_EVENT_AGE_SECONDS = 21600

#: Concurrency Lambda keeps unreserved in each region of an account: functions may reserve
#: at most the account's concurrency minus this, "the remaining 100 units of concurrency are
#: for functions that aren't using reserved concurrency" ("Configuring reserved concurrency
#: for a function", https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html).
#: Otherwise CreateFunction/PutFunctionConcurrency fail with "Specified
#: ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution
#: below its minimum value", typically on new accounts whose quota starts at 10 or 50.
MIN_UNRESERVED_CONCURRENCY = 100

#: Environment variable names Lambda reserves (it refuses functions that set them).
RESERVED_ENVIRONMENT = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
    }
)

_FUNCTION_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_ENV_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def environment_problems(environment: Mapping[str, Any]) -> list[str]:
    """Problems with environment variable names: invalid, reserved by Lambda, or looking
    like a secret (secrets belong in Secrets Manager / SSM, read at run time)."""
    out = []
    for name in environment:
        if not isinstance(name, str) or not _ENV_NAME_RE.match(name):
            out.append(f"environment: {name!r} is not a variable name (letters, digits, '_')")
        elif name in RESERVED_ENVIRONMENT:
            out.append(f"environment: {name} is reserved by Lambda")
        elif looks_like_secret(name):
            out.append(
                f"environment: {name} looks like a secret; keep secrets in Secrets Manager or "
                "SSM Parameter Store and pass their ARN or name instead"
            )
    return out


def account_concurrency_needed(reserved: int) -> int:
    """The smallest concurrent-executions quota of a region in which functions reserve
    ``reserved`` in total: Lambda keeps :data:`MIN_UNRESERVED_CONCURRENCY` unreserved."""
    return reserved + MIN_UNRESERVED_CONCURRENCY


def reserved_concurrency_notes(
    functions: Iterable[tuple[str, str, int]], primary: str | None = None
) -> list[str]:
    """One line per region for the offline plan: how much concurrency the functions there
    reserve and the account quota that needs. ``functions`` are ``(region, function name,
    reserved concurrency)``; functions without a reservation are left out by the caller.
    The ``primary`` region comes first, then the others by name (as the plan summary)."""
    by_region: dict[str, dict[str, int]] = {}
    for region, name, reserved in functions:
        by_region.setdefault(region, {})[name] = reserved
    notes = []
    for region in sorted(by_region, key=lambda r: (r != primary, r)):
        reservations = by_region[region]
        total = sum(reservations.values())
        each = ", ".join(f"{name} {count}" for name, count in reservations.items())
        notes.append(
            f"Note: {region} reserves {total} concurrent Lambda executions ({each}). Lambda keeps "
            f"{MIN_UNRESERVED_CONCURRENCY} unreserved, so the account's concurrent executions "
            f"quota in {region} must be at least {account_concurrency_needed(total)} (more if "
            "other functions there reserve some), or creating the function fails; new accounts "
            "can start lower. Check it in Service Quotas or lower the reservation."
        )
    return notes


# --- arguments ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LambdaVpcPlacement:
    """Where a function runs inside a VPC."""

    vpc_id: pulumi.Input[str]
    """The VPC of the subnets (the function's security group is created in it)."""
    subnet_ids: Sequence[pulumi.Input[str]]
    """Private subnets, at least two, in at least two AZs."""
    availability_zones: Sequence[str]
    """The AZ of each subnet, in the same order (validated: at least two distinct)."""

    def problems(self) -> list[str]:
        out = []
        if len(self.subnet_ids) != len(self.availability_zones):
            out.append(
                f"vpc.availability_zones: {len(self.availability_zones)} AZ(s) for "
                f"{len(self.subnet_ids)} subnet(s); give the AZ of each subnet"
            )
        zones = sorted(set(self.availability_zones))
        problem = vpc_az_count_problem(len(zones))
        if problem:
            out.append(f"vpc.subnet_ids: subnets span {len(zones)} AZ(s) {zones}; {problem}")
        return out


#: A function in a VPC runs in private subnets of at least this many AZs (the security
#: baseline's "Lambda in a VPC -> subnets in >= 2 AZs", FSBP Lambda.5).
MIN_VPC_AZS = 2


def vpc_az_count_problem(az_count: int) -> str | None:
    """None when a function may run in the private subnets of ``az_count`` AZs; else why not
    (shared with the stack configuration, which reports it under the AZ count)."""
    if az_count >= MIN_VPC_AZS:
        return None
    return f"a function in a VPC needs private subnets in at least {MIN_VPC_AZS} AZs"


@dataclass(frozen=True)
class LambdaServiceArgs:
    """Arguments of :class:`LambdaService`."""

    source_dir: str | Path
    """Directory packaged as the function's code (see :func:`package_files`)."""
    handler: str
    """Entry point, e.g. ``handler.handler`` (for Python: ``module.function``; the module
    file must be in ``source_dir``)."""
    function_name: str
    """The function's name (1-64 letters, digits, '-' or '_'), unique in the account and
    region; the log group is ``/aws/lambda/<function_name>``."""
    description: str
    """What the function does (shown in the console and on its role)."""
    key: KeyInput
    """The region key, or the ARN of an existing KMS key (its key policy must let CloudWatch
    Logs in this region and EventBridge use it, as a region key's ``logs`` and ``alarms``
    statements do: EventBridge writes the delivery DLQ). Encrypts the log group, the
    dead-letter queues and the function's environment variables (Lambda creates a grant on
    the key with the deployer's ``kms:CreateGrant``/``kms:Encrypt``). Anything else is
    refused."""
    alert_topic: TopicInput
    """Where the function's alarms go: the region's alert topic, or the ARN of an existing
    SNS topic (its policy must let this account's CloudWatch alarms publish)."""
    runtime: str = DEFAULT_RUNTIME
    """Default: python3.13. Must be supported (components.baseline.LAMBDA_RUNTIME_DEPRECATION)."""
    architecture: str = "arm64"
    """Default: arm64 (Graviton, cheaper per GB-second); ``x86_64`` is allowed."""
    memory_mb: int = 256
    """Default: 256 MB (128-10240)."""
    timeout_seconds: int = 60
    """Default: an invocation may run one minute (1-900 seconds)."""
    environment: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Default: no variables. Names must not look like secrets or be reserved by Lambda."""
    grants: Sequence[Grant] = ()
    """Default: none. What the function may do, each a callable that grants to the role
    (``table.grant_write``); the function is created only once every grant exists. The role
    holds nothing else besides logs, the dead-letter queue, ENIs (VPC) and X-Ray (tracing)."""
    log_retention_days: int = 30
    """Default: logs are kept 30 days (a value CloudWatch Logs accepts)."""
    reserved_concurrency: int | None = None
    """Default: no reservation (the account's unreserved pool). When given (>= 1), the
    function always has, and never exceeds, this many concurrent executions."""
    maximum_retry_attempts: int = 2
    """Default: a failed asynchronous invocation is retried twice (0-2)."""
    maximum_event_age_seconds: int = 21600
    """Default: an event waits at most 6 hours for processing (60-21600) before it goes to
    the dead-letter queue."""
    tracing: bool = False
    """Default: no X-Ray tracing (PassThrough). When true, active tracing and the two X-Ray
    write actions on the role."""
    vpc: LambdaVpcPlacement | None = None
    """Default: the function runs outside any VPC. When given, in those private subnets with
    its own security group (no ingress, HTTPS egress only)."""
    trigger: ObjectCreatedTrigger | None = None
    """Default: no trigger. When given, objects created in the bucket invoke the function."""
    error_alarm_threshold: int = 1
    """Default: alarm when one invocation errors within a period."""
    throttle_alarm_threshold: int = 1
    """Default: alarm when one invocation is throttled within a period."""
    alarm_period_seconds: int = 300
    """Default: alarms evaluate 5-minute periods."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Default: no extra tags beyond ``Name``."""

    def problems(self, today: date | None = None) -> list[str]:
        """Every problem with these arguments, each naming its field."""
        out = []
        if not _FUNCTION_NAME_RE.match(self.function_name or ""):
            out.append(
                f"function_name: {self.function_name!r} must be 1-64 letters, digits, '-' or '_'"
            )
        if not self.description.strip():
            out.append("description: say what the function does")
        elif len(self.description) > 256:
            out.append(f"description: {len(self.description)} characters; Lambda allows 256")
        if not runtime_supported(self.runtime, today or date.today()):
            accepted = [
                r for r in LAMBDA_RUNTIME_DEPRECATION if runtime_supported(r, today or date.today())
            ]
            out.append(
                f"runtime: {self.runtime!r} is not a supported runtime; use one of {accepted}"
            )
        if self.architecture not in ARCHITECTURES:
            out.append(f"architecture: {self.architecture!r} is not one of {list(ARCHITECTURES)}")
        out += self._code_problems()
        if not MIN_MEMORY_MB <= self.memory_mb <= MAX_MEMORY_MB:
            out.append(f"memory_mb: {self.memory_mb} is outside {MIN_MEMORY_MB}..{MAX_MEMORY_MB}")
        if not MIN_TIMEOUT_SECONDS <= self.timeout_seconds <= MAX_TIMEOUT_SECONDS:
            out.append(
                f"timeout_seconds: {self.timeout_seconds} is outside "
                f"{MIN_TIMEOUT_SECONDS}..{MAX_TIMEOUT_SECONDS}"
            )
        out += environment_problems(self.environment)
        if self.log_retention_days not in LOG_RETENTION_DAYS:
            out.append(
                f"log_retention_days: {self.log_retention_days} is not a value CloudWatch Logs accepts"
            )
        if self.reserved_concurrency is not None and self.reserved_concurrency < 1:
            out.append(
                f"reserved_concurrency: {self.reserved_concurrency} would stop the function; "
                "give at least 1, or leave it unset for no reservation"
            )
        if not 0 <= self.maximum_retry_attempts <= MAX_ASYNC_RETRY_ATTEMPTS:
            out.append(
                f"maximum_retry_attempts: {self.maximum_retry_attempts} is outside "
                f"0..{MAX_ASYNC_RETRY_ATTEMPTS}"
            )
        if (
            not MIN_EVENT_AGE_SECONDS
            <= self.maximum_event_age_seconds
            <= MAX_ASYNC_EVENT_AGE_SECONDS
        ):
            out.append(
                f"maximum_event_age_seconds: {self.maximum_event_age_seconds} is outside "
                f"{MIN_EVENT_AGE_SECONDS}..{MAX_ASYNC_EVENT_AGE_SECONDS}"
            )
        for label, threshold in (
            ("error_alarm_threshold", self.error_alarm_threshold),
            ("throttle_alarm_threshold", self.throttle_alarm_threshold),
        ):
            if threshold < 1:
                out.append(f"{label}: {threshold} must be at least 1")
        if self.vpc is not None:
            out += self.vpc.problems()
        if self.trigger is not None:
            out += self.trigger.problems()
        return out

    def _code_problems(self) -> list[str]:
        try:
            files = package_files(self.source_dir)
        except ValueError as exc:
            return [str(exc)]
        if not self.runtime.startswith("python"):
            return [] if self.handler.strip() else ["handler: must not be empty"]
        module = handler_file(self.handler)
        if module is None:
            return [f"handler: {self.handler!r} is not 'module.function'"]
        if module not in files:
            return [
                f"handler: {self.handler!r} needs {module} in source_dir {str(self.source_dir)!r}"
            ]
        return []
