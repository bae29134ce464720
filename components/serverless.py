"""Serverless capability: DynamoDB tables and Lambda microservices triggered by the data lake.

:class:`Table` is a DynamoDB table that meets the baseline: on-demand billing, point-in-time
recovery, SSE with the region's KMS key, deletion protection and ``protect`` in production.
Its grant methods give a role exactly the item actions it needs on this table, plus the KMS
actions DynamoDB performs for it, only through DynamoDB (``kms:ViaService``).

:class:`LambdaService` deploys one function from a source directory with everything the
baseline asks for around it:

- an execution role (:class:`~components.iam.ServiceRole`) holding only the grants the
  caller gives (``grants=[table.grant_write, ...]``) plus what the function itself needs:
  writing its own log streams, sending to its dead-letter queue, and, in a VPC, managing its
  network interfaces (a scoped inline statement rather than the broad managed policy
  ``AWSLambdaVPCAccessExecutionRole``); X-Ray only when tracing is on;
- its log group ``/aws/lambda/<function name>`` (retention, KMS), created before the
  function so Lambda never creates an unencrypted one that lives forever;
- a KMS-encrypted SQS dead-letter queue (14 days) used both as the function's DLQ and as the
  on-failure destination of its asynchronous invocations (retry attempts and maximum event
  age are arguments). Lambda sends a discarded event to both, so each failure arrives twice
  in the queue: once as the raw event (message attributes give the error) and once as an
  invocation record (request, response and error). Replaying either is safe for idempotent
  handlers such as the ingest function;
- alarms to the region's alert topic: errors, throttles, failed dead-letter deliveries and
  messages waiting in the dead-letter queue(s);
- optional placement in private subnets of at least two AZs with its own security group
  (no ingress, egress HTTPS only);
- an optional trigger: an EventBridge rule on the data lake bucket's "Object Created" events
  (optionally under a key prefix), a target with its own retry policy and a dead-letter queue
  for delivery failures, and a Lambda permission for ``events.amazonaws.com`` scoped to that
  rule's ARN (never a public invoke permission).

Packaging is deterministic: the archive lists the files of the source directory explicitly
(caches, compiled files and hidden files are left out), so the same sources always produce
the same archive and the offline plan records each file's path relative to the project.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence, Union

import pulumi
import pulumi_aws as aws

from components.checks import raise_problems
from components.iam import ServiceRole, ServiceRoleArgs, Statement
from components.kms import KeyContext, RegionKey
from components.monitoring import (
    LOG_RETENTION_DAYS,
    AlarmArgs,
    AlertTopic,
    Metric,
    MetricWidget,
    Widget,
    metric_alarm,
)
from components.baseline import LAMBDA_RUNTIME_DEPRECATION, looks_like_secret, runtime_supported

# --- limits and defaults ------------------------------------------------------------------

#: The runtime used unless told otherwise (supported per components.baseline.LAMBDA_RUNTIME_DEPRECATION).
DEFAULT_RUNTIME = "python3.13"
ARCHITECTURES = ("arm64", "x86_64")
MIN_MEMORY_MB, MAX_MEMORY_MB = 128, 10240
MIN_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS = 1, 900
#: Asynchronous invocation limits (FunctionEventInvokeConfig).
MAX_ASYNC_RETRY_ATTEMPTS = 2
MIN_EVENT_AGE_SECONDS, MAX_ASYNC_EVENT_AGE_SECONDS = 60, 21600
#: EventBridge target retry policy limits.
MAX_TARGET_RETRY_ATTEMPTS = 185
MAX_TARGET_EVENT_AGE_SECONDS = 86400
#: Dead-letter messages are kept for 14 days, the most SQS allows.
DLQ_RETENTION_SECONDS = 14 * 24 * 3600

#: Environment variable names Lambda reserves (it refuses functions that set them).
RESERVED_ENVIRONMENT = frozenset({
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
})

_FUNCTION_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_ENV_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_PY_HANDLER_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*(?:[./][A-Za-z_][A-Za-z0-9_]*)*)\.([A-Za-z_][A-Za-z0-9_]*)$")
_ATTRIBUTE_TYPES = ("S", "N", "B")
_PURPOSE_CLEAN_RE = re.compile(r"[^a-z0-9-]+")

#: A grant the caller gives the execution role: called with the role, returns its policy
#: (e.g. ``table.grant_write`` or ``lambda role: lake.grant_read(role, "raw")``).
Grant = Callable[[ServiceRole], aws.iam.RolePolicy]


def _label(name: str, size: int = 40) -> str:
    """``name`` as a lowercase grant-purpose fragment."""
    return _PURPOSE_CLEAN_RE.sub("-", name.lower()).strip("-")[:size].strip("-") or "x"


def _via(service: str) -> Callable[[KeyContext], str]:
    """The ``kms:ViaService`` value of ``service`` in the key's region."""
    def value(ctx: KeyContext) -> str:
        suffix = "amazonaws.com.cn" if ctx.partition == "aws-cn" else "amazonaws.com"
        return f"{service}.{ctx.region}.{suffix}"

    return value


# --- DynamoDB -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TableArgs:
    """Arguments of :class:`Table`."""

    key: RegionKey
    """The region's KMS key: the table is encrypted with it (SSE-KMS)."""
    hash_key: str
    """Name of the partition key attribute."""
    hash_key_type: str = "S"
    """Default: the partition key is a string (``S``); ``N`` and ``B`` are allowed."""
    range_key: Optional[str] = None
    """Default: no sort key. When given, the name of the sort key attribute."""
    range_key_type: Optional[str] = None
    """Default: a string sort key (``S``) when ``range_key`` is given. Only with ``range_key``."""
    ttl_attribute: Optional[str] = None
    """Default: items never expire. When given, the attribute holding each item's expiry
    time (epoch seconds); DynamoDB deletes expired items."""
    deletion_protection: bool = False
    """Default: the table can be deleted (dev's nightly destroy). When true (production),
    DynamoDB refuses to delete it until protection is turned off."""
    protect: bool = False
    """Default: unprotected. When true (production), ``pulumi destroy`` refuses and the
    table is retained in the account if removed from the program."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Default: no extra tags beyond ``Name``."""

    def problems(self) -> list[str]:
        """Every problem with these arguments, each naming its field."""
        out = []
        for label, value in (("hash_key", self.hash_key), ("range_key", self.range_key),
                             ("ttl_attribute", self.ttl_attribute)):
            if value is not None and not (isinstance(value, str) and 1 <= len(value.encode()) <= 255):
                out.append(f"{label}: {value!r} must be an attribute name of 1-255 bytes")
        if self.hash_key_type not in _ATTRIBUTE_TYPES:
            out.append(f"hash_key_type: {self.hash_key_type!r} is not one of {list(_ATTRIBUTE_TYPES)}")
        if self.range_key_type is not None:
            if self.range_key is None:
                out.append("range_key_type: given without range_key")
            elif self.range_key_type not in _ATTRIBUTE_TYPES:
                out.append(f"range_key_type: {self.range_key_type!r} is not one of {list(_ATTRIBUTE_TYPES)}")
        if self.range_key is not None and self.range_key == self.hash_key:
            out.append(f"range_key: {self.range_key!r} is also the hash_key; use another attribute")
        if self.ttl_attribute is not None and self.ttl_attribute in (self.hash_key, self.range_key):
            out.append(f"ttl_attribute: {self.ttl_attribute!r} is a key attribute; keys cannot expire")
        return out


class Table(pulumi.ComponentResource):
    """A DynamoDB table: on demand, point-in-time recovery, the region's KMS key."""

    def __init__(
        self, name: str, args: TableArgs, opts: Optional[pulumi.ResourceOptions] = None
    ) -> None:
        problems = args.problems()
        raise_problems(f"Table {name!r}", problems)
        super().__init__("mlops:serverless:Table", name, None, opts)
        self._label = _label(name)
        self.key = args.key
        attributes = [aws.dynamodb.TableAttributeArgs(name=args.hash_key, type=args.hash_key_type)]
        if args.range_key is not None:
            attributes.append(
                aws.dynamodb.TableAttributeArgs(name=args.range_key, type=args.range_key_type or "S")
            )
        self.table = aws.dynamodb.Table(
            f"{name}-table",
            billing_mode="PAY_PER_REQUEST",
            hash_key=args.hash_key,
            range_key=args.range_key,
            attributes=attributes,
            point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True),
            server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(
                enabled=True, kms_key_arn=args.key.arn
            ),
            ttl=(
                aws.dynamodb.TableTtlArgs(attribute_name=args.ttl_attribute, enabled=True)
                if args.ttl_attribute
                else None
            ),
            deletion_protection_enabled=args.deletion_protection,
            tags={"Name": f"{name}-table", **args.tags},
            opts=pulumi.ResourceOptions(
                parent=self, protect=args.protect, retain_on_delete=args.protect
            ),
        )
        self.arn = self.table.arn
        self.name = self.table.name
        self.register_outputs({"arn": self.table.arn, "name": self.table.name})

    def _kms_statement(self, sid: str, actions: Sequence[str]) -> Statement:
        """KMS ``actions`` on the table's key, only through DynamoDB in its region."""
        return Statement(
            sid=sid,
            actions=tuple(actions),
            resources=[self.key.arn],
            conditions={"StringEquals": {"kms:ViaService": self.key.context.apply(_via("dynamodb"))}},
        )

    def write_statements(self, update: bool = False) -> list[Statement]:
        """Put items (single and batch; ``update`` adds UpdateItem) and the KMS actions
        DynamoDB performs for the writer."""
        actions = ["dynamodb:BatchWriteItem", "dynamodb:PutItem"]
        if update:
            actions.append("dynamodb:UpdateItem")
        return [
            Statement(sid="WriteTableItems", actions=tuple(actions), resources=[self.arn]),
            self._kms_statement("EncryptTableItems", ("kms:Decrypt", "kms:GenerateDataKey")),
        ]

    def read_statements(self) -> list[Statement]:
        """Read items (get, batch get, query, scan, condition checks) on the table and its
        indexes, and decrypt through DynamoDB."""
        return [
            Statement(
                sid="ReadTableItems",
                actions=(
                    "dynamodb:BatchGetItem", "dynamodb:ConditionCheckItem",
                    "dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:Query",
                    "dynamodb:Scan",
                ),
                resources=[self.arn, pulumi.Output.concat(self.arn, "/index/*")],
            ),
            self._kms_statement("DecryptTableItems", ("kms:Decrypt",)),
        ]

    def grant_write(
        self, role: ServiceRole, *, update: bool = False, purpose: Optional[str] = None
    ) -> aws.iam.RolePolicy:
        """Let ``role`` write items to this table (no reads, no deletes), and nothing else."""
        return role.grant(purpose or f"{self._label}-write", self.write_statements(update))

    def grant_read(self, role: ServiceRole, *, purpose: Optional[str] = None) -> aws.iam.RolePolicy:
        """Let ``role`` read items of this table and its indexes, and nothing else."""
        return role.grant(purpose or f"{self._label}-read", self.read_statements())


# --- Lambda: pure helpers -----------------------------------------------------------------


def package_files(source_dir: Union[str, Path]) -> dict[str, Path]:
    """The files of ``source_dir`` that go into the deployment package, by archive path.

    Recursive and sorted; ``__pycache__``, hidden files and directories, and compiled
    ``.pyc``/``.pyo`` files are left out, so the archive depends only on the sources.
    Raises ``ValueError`` when the directory does not exist or holds no file.
    """
    root = Path(source_dir)
    if not root.is_dir():
        raise ValueError(f"source_dir: {str(source_dir)!r} is not a directory")
    files: dict[str, Path] = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if any(part.startswith(".") or part == "__pycache__" for part in relative.parts):
            continue
        if path.is_file() and path.suffix not in (".pyc", ".pyo"):
            files[relative.as_posix()] = path.resolve()
    if not files:
        raise ValueError(f"source_dir: {str(source_dir)!r} holds no files to package")
    return files


def handler_file(handler: str) -> Optional[str]:
    """The archive path of a Python handler's module (``pkg.mod.fn`` -> ``pkg/mod.py``), or
    None when ``handler`` is not ``module.function``."""
    match = _PY_HANDLER_RE.match(handler)
    if not match:
        return None
    return match.group(1).replace(".", "/") + ".py"


def object_created_pattern(bucket_name: str, key_prefix: Optional[str] = None) -> dict[str, Any]:
    """The EventBridge pattern of S3 "Object Created" events of one bucket (under
    ``key_prefix`` when given)."""
    detail: dict[str, Any] = {"bucket": {"name": [bucket_name]}}
    if key_prefix:
        detail["object"] = {"key": [{"prefix": key_prefix}]}
    return {"source": ["aws.s3"], "detail-type": ["Object Created"], "detail": detail}


def clean_key_prefix(prefix: Optional[str]) -> Optional[str]:
    """A key prefix as matched by events and grants: no leading '/', one trailing '/'.

    ``None`` stays None (every key). Raises ``ValueError`` for an empty prefix or one with
    wildcards or policy variables, which S3 keys in grants cannot express literally.
    """
    if prefix is None:
        return None
    clean = prefix.strip("/")
    if not clean:
        raise ValueError(f"{prefix!r} is empty; leave it unset to match every key")
    if any(c in clean for c in "*?$"):
        raise ValueError(f"{prefix!r} contains '*', '?' or '$'; give a literal key prefix")
    return clean + "/"


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


def eni_statements(
    arn_prefix: pulumi.Input[str],
    subnet_ids: Sequence[pulumi.Input[str]],
    security_group_id: pulumi.Input[str],
) -> list[Statement]:
    """What Lambda needs to manage the function's network interfaces in a VPC.

    ``arn_prefix`` is ``arn:<partition>:ec2:<region>:<account>``. Creating an interface is
    allowed only in the given subnets with the function's security group; deleting and
    (un)assigning private IPs only on network interfaces of this account and region.
    ``ec2:DescribeNetworkInterfaces`` supports no resource-level permissions and is
    allow-listed for ``"Resource": "*"``. (AWSLambdaVPCAccessExecutionRole grants all of
    these, and ec2:DescribeSubnets, on every resource.)
    """
    interfaces = pulumi.Output.concat(arn_prefix, ":network-interface/*")
    return [
        Statement(
            sid="CreateFunctionNetworkInterfaces",
            actions=("ec2:CreateNetworkInterface",),
            resources=[interfaces]
            + [pulumi.Output.concat(arn_prefix, ":subnet/", s) for s in subnet_ids]
            + [pulumi.Output.concat(arn_prefix, ":security-group/", security_group_id)],
        ),
        Statement(
            sid="ManageFunctionNetworkInterfaces",
            actions=(
                "ec2:AssignPrivateIpAddresses",
                "ec2:DeleteNetworkInterface",
                "ec2:UnassignPrivateIpAddresses",
            ),
            resources=[interfaces],
        ),
        Statement(
            sid="DescribeNetworkInterfaces",
            actions=("ec2:DescribeNetworkInterfaces",),
            resources=["*"],
        ),
    ]


# --- Lambda: arguments --------------------------------------------------------------------


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
        if len(zones) < 2:
            out.append(
                f"vpc.subnet_ids: subnets span {len(zones)} AZ(s) {zones}; a function in a VPC "
                "needs private subnets in at least 2 AZs"
            )
        return out


@dataclass(frozen=True)
class ObjectCreatedTrigger:
    """Invoke the function for each object created in a bucket (S3 -> EventBridge)."""

    bucket_name: pulumi.Input[str]
    """The bucket; it must send its events to EventBridge (data lake zone buckets do)."""
    key_prefix: Optional[str] = None
    """Default: every new object. When given, only keys under this prefix (normalised to
    one trailing '/')."""
    maximum_retry_attempts: int = 24
    """Default: EventBridge retries a failed delivery to the function 24 times."""
    maximum_event_age_seconds: int = 21600
    """Default: EventBridge stops retrying a delivery after 6 hours; the event then goes to
    the delivery dead-letter queue."""

    def problems(self) -> list[str]:
        out = []
        try:
            clean_key_prefix(self.key_prefix)
        except ValueError as exc:
            out.append(f"trigger.key_prefix: {exc}")
        if not 0 <= self.maximum_retry_attempts <= MAX_TARGET_RETRY_ATTEMPTS:
            out.append(
                f"trigger.maximum_retry_attempts: {self.maximum_retry_attempts} is outside "
                f"0..{MAX_TARGET_RETRY_ATTEMPTS}"
            )
        if not MIN_EVENT_AGE_SECONDS <= self.maximum_event_age_seconds <= MAX_TARGET_EVENT_AGE_SECONDS:
            out.append(
                f"trigger.maximum_event_age_seconds: {self.maximum_event_age_seconds} is outside "
                f"{MIN_EVENT_AGE_SECONDS}..{MAX_TARGET_EVENT_AGE_SECONDS}"
            )
        return out


@dataclass(frozen=True)
class LambdaServiceArgs:
    """Arguments of :class:`LambdaService`."""

    source_dir: Union[str, Path]
    """Directory packaged as the function's code (see :func:`package_files`)."""
    handler: str
    """Entry point, e.g. ``handler.handler`` (for Python: ``module.function``; the module
    file must be in ``source_dir``)."""
    function_name: str
    """The function's name (1-64 letters, digits, '-' or '_'), unique in the account and
    region; the log group is ``/aws/lambda/<function_name>``."""
    description: str
    """What the function does (shown in the console and on its role)."""
    key: RegionKey
    """The region's KMS key: encrypts the log group and the dead-letter queues. Its key
    policy must allow ``logs`` and ``alarms`` (EventBridge writes the delivery DLQ)."""
    alert_topic: AlertTopic
    """Where the function's alarms go."""
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
    reserved_concurrency: Optional[int] = None
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
    vpc: Optional[LambdaVpcPlacement] = None
    """Default: the function runs outside any VPC. When given, in those private subnets with
    its own security group (no ingress, HTTPS egress only)."""
    trigger: Optional[ObjectCreatedTrigger] = None
    """Default: no trigger. When given, objects created in the bucket invoke the function."""
    error_alarm_threshold: int = 1
    """Default: alarm when one invocation errors within a period."""
    throttle_alarm_threshold: int = 1
    """Default: alarm when one invocation is throttled within a period."""
    alarm_period_seconds: int = 300
    """Default: alarms evaluate 5-minute periods."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Default: no extra tags beyond ``Name``."""

    def problems(self, today: Optional[date] = None) -> list[str]:
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
            accepted = [r for r in LAMBDA_RUNTIME_DEPRECATION if runtime_supported(r, today or date.today())]
            out.append(f"runtime: {self.runtime!r} is not a supported runtime; use one of {accepted}")
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
            out.append(f"log_retention_days: {self.log_retention_days} is not a value CloudWatch Logs accepts")
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
        if not MIN_EVENT_AGE_SECONDS <= self.maximum_event_age_seconds <= MAX_ASYNC_EVENT_AGE_SECONDS:
            out.append(
                f"maximum_event_age_seconds: {self.maximum_event_age_seconds} is outside "
                f"{MIN_EVENT_AGE_SECONDS}..{MAX_ASYNC_EVENT_AGE_SECONDS}"
            )
        for label, threshold in (("error_alarm_threshold", self.error_alarm_threshold),
                                 ("throttle_alarm_threshold", self.throttle_alarm_threshold)):
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
            return [f"handler: {self.handler!r} needs {module} in source_dir {str(self.source_dir)!r}"]
        return []


# --- Lambda: the component ----------------------------------------------------------------


class LambdaService(pulumi.ComponentResource):
    """One Lambda function with its role, log group, dead-letter queue, alarms, optional VPC
    placement and optional object-created trigger (see the module docstring)."""

    def __init__(
        self, name: str, args: LambdaServiceArgs, opts: Optional[pulumi.ResourceOptions] = None
    ) -> None:
        problems = args.problems()
        raise_problems(f"LambdaService {name!r}", problems)
        super().__init__("mlops:serverless:LambdaService", name, None, opts)
        self._name = name
        self._args = args
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOptions(parent=self)
        self.account_id = aws.get_caller_identity_output(opts=invoke).account_id
        self.function_name = args.function_name
        self.key = args.key

        self.role = ServiceRole(
            f"{name}-exec",
            ServiceRoleArgs(
                service="lambda.amazonaws.com",
                description=f"Execution role of the Lambda function {args.function_name}",
                tags=dict(args.tags),
            ),
            opts=child,
        )
        # Created before the function: Lambda would otherwise create the group itself,
        # unencrypted and kept forever.
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/aws/lambda/{args.function_name}",
            retention_in_days=args.log_retention_days,
            kms_key_id=args.key.arn,
            tags={"Name": f"{name}-logs", **args.tags},
            opts=child,
        )
        self.dead_letter_queue = self._queue(f"{name}-dlq")
        self.dead_letter_queue_policy = self._queue_policy(f"{name}-dlq", self.dead_letter_queue)

        policies = [self._grant_logs(), self._grant_dead_letters()]
        self.security_group: Optional[aws.ec2.SecurityGroup] = None
        if args.vpc is not None:
            self.security_group = self._security_group(args.vpc)
            policies.append(self._grant_network_interfaces(args.vpc, self.security_group))
        if args.tracing:
            policies.append(self._grant_tracing())
        policies += [grant(self.role) for grant in args.grants]
        self.role_policies: list[aws.iam.RolePolicy] = policies

        files = package_files(args.source_dir)
        self.code = pulumi.AssetArchive({k: pulumi.FileAsset(str(p)) for k, p in files.items()})
        self.function = aws.lambda_.Function(
            f"{name}-function",
            name=args.function_name,
            description=args.description,
            role=self.role.arn,
            runtime=args.runtime,
            handler=args.handler,
            architectures=[args.architecture],
            code=self.code,
            memory_size=args.memory_mb,
            timeout=args.timeout_seconds,
            reserved_concurrent_executions=(
                args.reserved_concurrency if args.reserved_concurrency is not None else -1
            ),
            environment=(
                aws.lambda_.FunctionEnvironmentArgs(variables=dict(args.environment))
                if args.environment
                else None
            ),
            dead_letter_config=aws.lambda_.FunctionDeadLetterConfigArgs(
                target_arn=self.dead_letter_queue.arn
            ),
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(
                log_format="Text", log_group=self.log_group.name
            ),
            tracing_config=aws.lambda_.FunctionTracingConfigArgs(
                mode="Active" if args.tracing else "PassThrough"
            ),
            vpc_config=(
                aws.lambda_.FunctionVpcConfigArgs(
                    subnet_ids=list(args.vpc.subnet_ids),
                    security_group_ids=[self.security_group.id],
                )
                if args.vpc is not None and self.security_group is not None
                else None
            ),
            tags={"Name": f"{name}-function", **args.tags},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.log_group, *policies]),
        )
        self.function_arn = self.function.arn
        self.invoke_config = aws.lambda_.FunctionEventInvokeConfig(
            f"{name}-async",
            function_name=self.function.name,
            maximum_retry_attempts=args.maximum_retry_attempts,
            maximum_event_age_in_seconds=args.maximum_event_age_seconds,
            destination_config=aws.lambda_.FunctionEventInvokeConfigDestinationConfigArgs(
                on_failure=aws.lambda_.FunctionEventInvokeConfigDestinationConfigOnFailureArgs(
                    destination=self.dead_letter_queue.arn
                )
            ),
            opts=child,
        )

        self.rule: Optional[aws.cloudwatch.EventRule] = None
        self.delivery_dead_letter_queue: Optional[aws.sqs.Queue] = None
        self.target: Optional[aws.cloudwatch.EventTarget] = None
        self.permission: Optional[aws.lambda_.Permission] = None
        if args.trigger is not None:
            self._trigger(args.trigger)

        self.alarms: dict[str, aws.cloudwatch.MetricAlarm] = self._alarms()
        self.register_outputs(
            {
                "function_name": self.function.name,
                "function_arn": self.function.arn,
                "role_arn": self.role.arn,
                "dead_letter_queue_url": self.dead_letter_queue.url,
            }
        )

    # --- children ---------------------------------------------------------------------------

    def _queue(self, logical: str) -> aws.sqs.Queue:
        """A KMS-encrypted standard queue that keeps messages 14 days."""
        return aws.sqs.Queue(
            logical,
            kms_master_key_id=self.key.arn,
            message_retention_seconds=DLQ_RETENTION_SECONDS,
            tags={"Name": logical, **self._args.tags},
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _queue_policy(
        self,
        logical: str,
        queue: aws.sqs.Queue,
        extra: Sequence[pulumi.Input[Mapping[str, Any]]] = (),
    ) -> aws.sqs.QueuePolicy:
        """The queue's policy: deny any request without TLS, plus ``extra`` statements."""
        tls_only = {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "sqs:*",
            "Resource": queue.arn,
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
        return aws.sqs.QueuePolicy(
            f"{logical}-policy",
            queue_url=queue.url,
            policy=pulumi.Output.json_dumps(
                {"Version": "2012-10-17", "Statement": [tls_only, *extra]}
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _security_group(self, vpc: LambdaVpcPlacement) -> aws.ec2.SecurityGroup:
        """The function's group: nothing may connect to it; it may open HTTPS connections."""
        return aws.ec2.SecurityGroup(
            f"{self._name}-sg",
            vpc_id=vpc.vpc_id,
            description=f"Lambda {self.function_name}: no inbound, HTTPS to AWS APIs only",
            ingress=[],
            egress=[
                aws.ec2.SecurityGroupEgressArgs(
                    description="HTTPS to AWS service endpoints (S3, DynamoDB, ...)",
                    protocol="tcp",
                    from_port=443,
                    to_port=443,
                    cidr_blocks=["0.0.0.0/0"],
                )
            ],
            tags={"Name": f"{self._name}-sg", **self._args.tags},
            opts=pulumi.ResourceOptions(parent=self),
        )

    # --- the function's own grants ------------------------------------------------------------

    def _grant_logs(self) -> aws.iam.RolePolicy:
        """Write log streams of the function's own log group (no CreateLogGroup: it exists)."""
        return self.role.grant(
            "write-logs",
            [
                Statement(
                    sid="WriteOwnLogStreams",
                    actions=("logs:CreateLogStream", "logs:PutLogEvents"),
                    resources=[pulumi.Output.concat(self.log_group.arn, ":log-stream:*")],
                )
            ],
        )

    def _grant_dead_letters(self) -> aws.iam.RolePolicy:
        """Send failed events to the dead-letter queue, encrypting them through SQS."""
        return self.role.grant(
            "send-dead-letters",
            [
                Statement(
                    sid="SendToDeadLetterQueue",
                    actions=("sqs:SendMessage",),
                    resources=[self.dead_letter_queue.arn],
                ),
                Statement(
                    sid="EncryptDeadLetters",
                    actions=("kms:Decrypt", "kms:GenerateDataKey"),
                    resources=[self.key.arn],
                    conditions={"StringEquals": {"kms:ViaService": self.key.context.apply(_via("sqs"))}},
                ),
            ],
        )

    def _grant_network_interfaces(
        self, vpc: LambdaVpcPlacement, group: aws.ec2.SecurityGroup
    ) -> aws.iam.RolePolicy:
        """The scoped ENI statements (see :func:`eni_statements`)."""
        arn_prefix = self.key.context.apply(
            lambda c: f"arn:{c.partition}:ec2:{c.region}:{c.account_id}"
        )
        return self.role.grant(
            "vpc-network-interfaces", eni_statements(arn_prefix, list(vpc.subnet_ids), group.id)
        )

    def _grant_tracing(self) -> aws.iam.RolePolicy:
        """Send trace segments to X-Ray (actions without resource-level permissions)."""
        return self.role.grant(
            "xray-tracing",
            [
                Statement(
                    sid="WriteTraces",
                    actions=("xray:PutTelemetryRecords", "xray:PutTraceSegments"),
                    resources=["*"],
                )
            ],
        )

    # --- trigger --------------------------------------------------------------------------

    def _trigger(self, trigger: ObjectCreatedTrigger) -> None:
        """Rule on the bucket's Object Created events -> the function, with a delivery DLQ."""
        name = self._name
        child = pulumi.ResourceOptions(parent=self)
        prefix = clean_key_prefix(trigger.key_prefix)
        self.rule = aws.cloudwatch.EventRule(
            f"{name}-trigger",
            description=(
                f"Objects created in the bucket{f' under {prefix}' if prefix else ''} invoke "
                f"{self.function_name}"
            ),
            event_pattern=pulumi.Output.from_input(trigger.bucket_name).apply(
                lambda bucket: pulumi.Output.json_dumps(object_created_pattern(bucket, prefix))
            ),
            state="ENABLED",
            tags={"Name": f"{name}-trigger", **self._args.tags},
            opts=child,
        )
        self.delivery_dead_letter_queue = self._queue(f"{name}-delivery-dlq")
        rule_arn = self.rule.arn
        self.delivery_dead_letter_queue_policy = self._queue_policy(
            f"{name}-delivery-dlq",
            self.delivery_dead_letter_queue,
            extra=[
                {
                    "Sid": "EventBridgeDeliveryFailures",
                    "Effect": "Allow",
                    "Principal": {"Service": "events.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": self.delivery_dead_letter_queue.arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
                }
            ],
        )
        self.permission = aws.lambda_.Permission(
            f"{name}-trigger-permission",
            action="lambda:InvokeFunction",
            function=self.function.name,
            principal="events.amazonaws.com",
            source_arn=rule_arn,
            source_account=self.account_id,
            opts=child,
        )
        self.target = aws.cloudwatch.EventTarget(
            f"{name}-trigger-target",
            rule=self.rule.name,
            arn=self.function.arn,
            retry_policy=aws.cloudwatch.EventTargetRetryPolicyArgs(
                maximum_retry_attempts=trigger.maximum_retry_attempts,
                maximum_event_age_in_seconds=trigger.maximum_event_age_seconds,
            ),
            dead_letter_config=aws.cloudwatch.EventTargetDeadLetterConfigArgs(
                arn=self.delivery_dead_letter_queue.arn
            ),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[self.permission, self.invoke_config, self.delivery_dead_letter_queue_policy],
            ),
        )

    # --- alarms and dashboard -------------------------------------------------------------------

    def _alarms(self) -> dict[str, aws.cloudwatch.MetricAlarm]:
        """Errors, throttles, failed DLQ deliveries and messages waiting in each DLQ."""
        args, name = self._args, self._name
        child = pulumi.ResourceOptions(parent=self)
        fn = {"FunctionName": self.function.name}
        specs: dict[str, AlarmArgs] = {
            "errors": AlarmArgs(
                namespace="AWS/Lambda", metric_name="Errors", dimensions=fn, statistic="Sum",
                threshold=args.error_alarm_threshold, period=args.alarm_period_seconds,
                treat_missing_data="notBreaching",
                description=(
                    f"{self.function_name}: invocations failed. Failed events are retried, then "
                    "land in the dead-letter queue; read the function's log group for the cause."
                ),
            ),
            "throttles": AlarmArgs(
                namespace="AWS/Lambda", metric_name="Throttles", dimensions=fn, statistic="Sum",
                threshold=args.throttle_alarm_threshold, period=args.alarm_period_seconds,
                treat_missing_data="notBreaching",
                description=(
                    f"{self.function_name}: invocations were throttled (reserved concurrency or "
                    "account limit reached). Raise the reservation or find the burst's source."
                ),
            ),
            "dead-letter-errors": AlarmArgs(
                namespace="AWS/Lambda", metric_name="DeadLetterErrors", dimensions=fn,
                statistic="Sum", threshold=1, period=args.alarm_period_seconds,
                treat_missing_data="notBreaching",
                description=(
                    f"{self.function_name}: failed events could not be sent to the dead-letter "
                    "queue and are lost. Check the role's SQS/KMS permissions and the queue."
                ),
            ),
            "dlq-messages": self._queue_alarm(
                self.dead_letter_queue,
                "events the function failed to process are waiting in its dead-letter queue; "
                "fix the cause, then replay or discard them",
            ),
        }
        if self.delivery_dead_letter_queue is not None:
            specs["delivery-dlq-messages"] = self._queue_alarm(
                self.delivery_dead_letter_queue,
                "EventBridge could not deliver object-created events to the function; they "
                "wait in the delivery dead-letter queue (check the Lambda permission)",
            )
        return {
            key: metric_alarm(f"{name}-{key}", spec, self._args.alert_topic, child)
            for key, spec in specs.items()
        }

    def _queue_alarm(self, queue: aws.sqs.Queue, what: str) -> AlarmArgs:
        return AlarmArgs(
            namespace="AWS/SQS", metric_name="ApproximateNumberOfMessagesVisible",
            dimensions={"QueueName": queue.name}, statistic="Maximum",
            comparison="GreaterThanThreshold", threshold=0,
            period=self._args.alarm_period_seconds, treat_missing_data="notBreaching",
            description=f"{self.function_name}: {what}.",
        )

    def widgets(self) -> list[Widget]:
        """Dashboard widgets: invocations/errors/throttles, duration, dead-letter messages."""
        fn = {"FunctionName": self.function.name}
        queues = [("function failures", self.dead_letter_queue)]
        if self.delivery_dead_letter_queue is not None:
            queues.append(("delivery failures", self.delivery_dead_letter_queue))
        return [
            MetricWidget(
                title=f"Lambda {self.function_name}: invocations",
                metrics=[
                    Metric("AWS/Lambda", metric, fn, label=metric.lower())
                    for metric in ("Invocations", "Errors", "Throttles")
                ],
                stat="Sum",
            ),
            MetricWidget(
                title=f"Lambda {self.function_name}: duration (ms)",
                metrics=[Metric("AWS/Lambda", "Duration", fn, label="duration")],
                stat="Maximum",
            ),
            MetricWidget(
                title=f"Lambda {self.function_name}: dead-letter messages",
                metrics=[
                    Metric("AWS/SQS", "ApproximateNumberOfMessagesVisible",
                           {"QueueName": queue.name}, label=label)
                    for label, queue in queues
                ],
                stat="Maximum",
            ),
        ]


__all__ = [
    "DEFAULT_RUNTIME", "Grant", "LambdaService", "LambdaServiceArgs", "LambdaVpcPlacement",
    "ObjectCreatedTrigger", "Table", "TableArgs", "clean_key_prefix", "eni_statements",
    "environment_problems", "handler_file", "object_created_pattern", "package_files",
]
