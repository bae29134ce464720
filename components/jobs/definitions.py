"""Jobs: the template every run of a job is made from.

The model (seed 004): a **job** is a template (image, command, environment, vCPU/memory, max
run time, retries); a **run** is one execution of it with its own parameters, its own run id
(the Batch job id) and its own log stream, on capacity that exists only while runs need it.

:class:`BatchJob` is one job definition (Fargate, platform version LATEST, read-only root
filesystem with a writable ``/tmp`` volume, ``awslogs`` into the job's own KMS-encrypted log
group with a stream prefix so every run gets its own stream, timeout, retry strategy that
retries storage errors and failed task starts and exits on everything else, tags propagated
to the tasks), an execution role (pull this image's repository, write this log group) and a
job role with only the data lake grants given. What submits its runs (a schedule, new
objects in a lake zone, their dead-letter queue) is built by :mod:`components.jobs.runs`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import pulumi
import pulumi_aws as aws

from components.checks import raise_problems
from components.containers import CPU_ARCHITECTURES
from components.data_lake import DataLake
from components.iam import ServiceRole, ServiceRoleArgs, Statement
from components.jobs.environment import BatchEnvironment
from components.jobs.runs import (
    JobScheduleArgs,
    ObjectTrigger,
    ObjectTriggerArgs,
    SubmittedJob,
    TriggerState,
    dead_letter_queue,
    object_trigger,
    schedule_problems,
    scheduled_runs,
)
from components.jobs.validators import (
    command_parameters,
    ecr_repository,
    environment_problems,
    fargate_size_problem,
    image_problem,
    vcpu_value,
)

_PARAMETER_RE = re.compile(r"^[A-Za-z0-9_]{1,128}$")
_JOB_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,19}$")


# The platform's parameters and limits ----------------------------------------------------------

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


# The definition's documents --------------------------------------------------------------------


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


def _clean_prefix(prefix: str | None) -> str | None:
    if prefix is None:
        return None
    clean = prefix.strip("/")
    return clean or None


# The job's arguments --------------------------------------------------------------------------


@dataclass(frozen=True)
class LakeAccess:
    """Part of a data lake zone a job uses."""

    zone: str
    """The zone, e.g. ``curated``."""
    prefix: str | None = None
    """Default: the whole zone. When given, only keys under this folder."""


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
    lake: DataLake | None = None
    """Default: no data lake. Needed for ``read``, ``write`` and ``on_new_objects``."""
    read: LakeAccess | None = None
    """Default: no read access. The job role may read (get, list) this part of the lake; the
    definition's parameters ``read_bucket`` and ``read_prefix`` point at it."""
    write: LakeAccess | None = None
    """Default: no write access. The job role may read, write and delete objects in this part
    of the lake (a run checks for completed runs and clears its own leftovers there);
    parameters ``write_bucket`` and ``write_prefix``."""
    schedule: JobScheduleArgs | None = None
    """Default: no schedule."""
    on_new_objects: ObjectTriggerArgs | None = None
    """Default: no event trigger."""
    array_size: int | None = None
    """Default: each run is one container. When 2..10000, each run (scheduled or triggered)
    is an array of that many children (``AWS_BATCH_JOB_ARRAY_INDEX`` 0..n-1); the definition
    gets the parameter ``array_size``."""
    triggers: TriggerState = TriggerState()
    """Default: the schedule (unless ``schedule.enabled`` is false) and the event trigger are
    ENABLED, and Pulumi keeps them so. ``TriggerState(active=False)``: both are created
    DISABLED (a region that is not the active one); ``switchable=True``: their state is set
    at creation only and then belongs to whatever switches the active region (see
    :class:`~components.jobs.runs.TriggerState`)."""
    cpu_architecture: str = "X86_64"
    """Default: x86-64 tasks. ``ARM64`` for Graviton images."""
    image_repository_arn: pulumi.Input[str] | None = None
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
        if (
            isinstance(self.timeout_seconds, bool)
            or not isinstance(self.timeout_seconds, int)
            or self.timeout_seconds < MIN_TIMEOUT_SECONDS
        ):
            out.append(
                f"timeout_seconds: {self.timeout_seconds!r} must be a whole number of seconds, "
                f"at least {MIN_TIMEOUT_SECONDS} (the max run time of one attempt)"
            )
        if (
            isinstance(self.attempts, bool)
            or not isinstance(self.attempts, int)
            or not 1 <= self.attempts <= 10
        ):
            out.append(f"attempts: {self.attempts!r} must be 1 to 10")
        if len(self.retry_exit_codes) > 2 or not all(
            isinstance(c, int) and not isinstance(c, bool) and 1 <= c <= 255
            for c in self.retry_exit_codes
        ):
            out.append("retry_exit_codes: give at most two exit codes from 1 to 255")
        if self.cpu_architecture not in CPU_ARCHITECTURES:
            out.append(
                f"cpu_architecture: {self.cpu_architecture!r} is not one of {list(CPU_ARCHITECTURES)}"
            )
        out += self._parameter_problems()
        out += environment_problems("environment_variables", self.environment_variables)
        out += self._lake_problems()
        if self.array_size is not None and (
            isinstance(self.array_size, bool)
            or not isinstance(self.array_size, int)
            or not 2 <= self.array_size <= MAX_ARRAY_SIZE
        ):
            out.append(
                f"array_size: {self.array_size!r} must be 2 to {MAX_ARRAY_SIZE} (or not given)"
            )
        if self.schedule is not None:
            out += schedule_problems(self.schedule, self.command)
        return out

    def _image_problems(self) -> list[str]:
        if isinstance(self.image, pulumi.Output):
            if self.image_repository_arn is None:
                return [
                    "image_repository_arn: an image built by the stack (an Output) needs the "
                    "ARN of the ECR repository it is pushed to"
                ]
            return []
        out = []
        bad_image = image_problem(self.image)
        if bad_image:
            out.append(f"image: {bad_image}")
        if self.image_repository_arn is not None:
            out.append(
                "image_repository_arn: only for an image built by the stack; an image "
                "reference's ECR repository is read from it"
            )
        return out

    def _parameter_problems(self) -> list[str]:
        out = []
        referenced = command_parameters(self.command) if self.command else []
        for name in self.parameters:
            if not _PARAMETER_RE.match(name):
                out.append(f"parameters: {name!r} must be letters, digits and '_'")
            elif name in PLATFORM_PARAMETERS:
                out.append(
                    f"parameters: {name} is set by the platform (read/write/array_size/triggers)"
                )
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
                out.append(
                    f"{field_name}: zone {access.zone!r} is not a zone of the lake {list(self.lake.zones)}"
                )
        if (
            self.on_new_objects is not None
            and self.write is not None
            and self.on_new_objects.zone == self.write.zone
        ):
            trigger = _clean_prefix(self.on_new_objects.prefix) or ""
            written = _clean_prefix(self.write.prefix) or ""
            if written.startswith(trigger) or trigger.startswith(written):
                out.append(
                    f"on_new_objects: the job writes where it is triggered ({self.write.zone}/"
                    f"{written}); every output object would start another run"
                )
        return out


def _resolve_image(image: str, account: str, region: str) -> str:
    return image.replace("{account}", account).replace("{region}", region)


# The job ---------------------------------------------------------------------------------------


class BatchJob(pulumi.ComponentResource):
    """One job: its definition, log group, roles, and what submits its runs."""

    def __init__(
        self, name: str, args: BatchJobArgs, opts: pulumi.ResourceOptions | None = None
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
        self._log_group()
        self._roles()
        self.parameters = self._parameters()
        self._definition()
        self._submissions()
        self.register_outputs(
            {"definition_arn": self.definition.arn, "log_group": self.log_group.name}
        )

    def _log_group(self) -> None:
        """The job's own encrypted log group: every run writes its own stream in it. The
        definition names it (``awslogs-group``); without it AWS Batch would log to
        ``/aws/batch/job``, a group no stack owns (AWS Batch User Guide, "Use the awslogs log
        driver"). The definition refers to it, so it is created after the group."""
        args, env, name = self.args, self.args.environment, self._name
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/aws/batch/{env.name_prefix}/{args.job_name}",
            retention_in_days=env.args.log_retention_days,
            kms_key_id=env.key.arn,
            tags={"Name": f"{name}-logs", **self._tags},
            opts=pulumi.ResourceOptions(
                parent=self, protect=env.args.protect, retain_on_delete=env.args.protect
            ),
        )

    def _definition(self) -> None:
        """The job definition: the template every run is made from."""
        args, env, name = self.args, self.args.environment, self._name
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
            timeout=aws.batch.JobDefinitionTimeoutArgs(
                attempt_duration_seconds=args.timeout_seconds
            ),
            # The API's own (camelCase) shape; the SDK's TypedDict spells it in snake_case.
            retry_strategy=cast(Any, retry_strategy(args.attempts, args.retry_exit_codes)),
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

    def _submissions(self) -> None:
        """What submits runs (see :mod:`components.jobs.runs`): a dead-letter queue and its
        alarm, then the schedule and/or the object trigger, in the state ``args.triggers``
        gives."""
        args = self.args
        self.dead_letter_queue: aws.sqs.Queue | None = None
        self.dead_letter_alarm: aws.cloudwatch.MetricAlarm | None = None
        self.scheduler_role: ServiceRole | None = None
        self.schedule: aws.scheduler.Schedule | None = None
        self.trigger_rule: aws.cloudwatch.EventRule | None = None
        self.trigger_role: ServiceRole | None = None
        self.trigger_target: aws.cloudwatch.EventTarget | None = None
        self.dead_letter_policy: aws.sqs.QueuePolicy | None = None
        if args.schedule is None and args.on_new_objects is None:
            return
        submitted = SubmittedJob(
            name=self._name,
            job_name=self.job_name,
            environment=args.environment,
            definition=self.definition,
            definition_name=self.definition_name,
            definition_arn_pattern=self.definition_arn_pattern,
            array_size=args.array_size,
            parent=self,
            tags=self._tags,
        )
        self.dead_letter_queue, self.dead_letter_alarm = dead_letter_queue(submitted)
        if args.schedule is not None:
            self.scheduler_role, self.schedule = scheduled_runs(
                submitted, args.schedule, self.dead_letter_queue, args.triggers
            )
        if args.on_new_objects is not None:
            assert args.lake is not None
            bucket = args.lake.bucket(args.on_new_objects.zone)
            trigger: ObjectTrigger = object_trigger(
                submitted, args.on_new_objects, bucket, self.dead_letter_queue, args.triggers
            )
            self.trigger_rule, self.trigger_role = trigger.rule, trigger.role
            self.dead_letter_policy, self.trigger_target = (
                trigger.dead_letter_policy,
                trigger.target,
            )

    @property
    def switchable_schedule(self) -> aws.scheduler.Schedule | None:
        """The schedule when its state is runtime state (``triggers.switchable`` and not
        paused by ``schedule.enabled``): what a failover enables or disables. None otherwise."""
        args = self.args
        if args.schedule is None or not args.schedule.enabled or not args.triggers.switchable:
            return None
        return self.schedule

    @property
    def switchable_rule(self) -> aws.cloudwatch.EventRule | None:
        """The object trigger's rule when its state is runtime state (``triggers.switchable``)."""
        return self.trigger_rule if self.args.triggers.switchable else None

    # Roles -----------------------------------------------------------------------------------

    def _roles(self) -> None:
        args, env, name = self.args, self.args.environment, self._name
        tasks_source = pulumi.Output.concat(
            "arn:", env.partition, ":ecs:", env.region, ":", env.account_id, ":*"
        )
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
                        actions=(
                            "ecr:BatchCheckLayerAvailability",
                            "ecr:BatchGetImage",
                            "ecr:GetDownloadUrlForLayer",
                        ),
                        resources=[repository_arn],
                    ),
                    Statement(
                        sid="RegistryLogin", actions=("ecr:GetAuthorizationToken",), resources=["*"]
                    ),
                ],
            )
        lake = args.lake
        if lake is not None and args.read is not None:
            lake.grant_read(self.job_role, args.read.zone, args.read.prefix)
        if lake is not None and args.write is not None:
            lake.grant_read_write(
                self.job_role, args.write.zone, args.write.prefix, allow_delete=True
            )

    def _image_repository_arn(self) -> pulumi.Output[str] | None:
        """The ECR repository the image is pulled from: given for a built image, read from an
        ECR image reference, None for other registries."""
        args, env = self.args, self.args.environment
        if args.image_repository_arn is not None:
            return pulumi.Output.from_input(args.image_repository_arn)
        repository = ecr_repository(args.image) if isinstance(args.image, str) else None
        if repository is None:
            return None
        account, region, repo = repository
        return pulumi.Output.all(env.partition, env.account_id, env.region).apply(
            lambda v: (
                f"arn:{v[0]}:ecr:{_resolve_image(region, v[1], v[2])}:"
                f"{_resolve_image(account, v[1], v[2])}:repository/{repo}"
            )
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
