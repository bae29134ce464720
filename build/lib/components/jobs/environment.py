"""Where job runs run: the Fargate compute environment, its queue, and the job images.

- :class:`BatchEnvironment`: a Fargate compute environment in private subnets (no public IP,
  a security group that only lets tasks call out on 443) that scales to zero by construction
  (Fargate has no minimum or desired vCPUs; ``max_vcpus`` caps concurrent runs), a job queue
  that cancels runs which can never be placed, a schedule group, and one EventBridge rule:
  **Batch Job State Change -> FAILED** on this queue notifies the alert topic with the job
  name, the run id and where its logs are (log group, log stream, console links; the
  pattern and message are in :mod:`components.jobs.runs`). Batch uses its service-linked
  role; no service role is created.
- The shared image repository (:func:`job_images`): jobs that give a ``build`` instead of an
  ``image`` share one ECR repository of the region (immutable tags, scan on push, KMS,
  lifecycle policy: ``containers.create_ecr_repository``); each distinct build (context and
  Dockerfile) is built once with ``awsx.ecr.Image`` for the jobs' CPU architecture.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pulumi
import pulumi_aws as aws
import pulumi_awsx as awsx

from components.checks import raise_problems
from components.containers import DOCKER_PLATFORMS, ImageBuild, create_ecr_repository, ecr_image
from components.jobs.runs import FAILED_RUN_PATHS, failed_run_message, failed_run_pattern
from components.jobs.validators import key_input_problems, topic_input_problems
from components.kms import ExistingKey, KeyInput, RegionKey, as_key
from components.monitoring import (
    LOG_RETENTION_DAYS,
    AlertTopic,
    ExistingAlertTopic,
    Metric,
    MetricWidget,
    TopicInput,
    Widget,
    as_alert_topic,
)

if TYPE_CHECKING:
    from components.jobs.definitions import BatchJob

_PREFIX_RE = re.compile(r"^[a-z][a-z0-9-]{0,23}$")
#: Runs waiting this long in RUNNABLE for a reason that never resolves are cancelled.
UNSCHEDULABLE_CANCEL_SECONDS = 600
UNSCHEDULABLE_REASONS = (
    "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE",
    "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT",
)


# The environment -----------------------------------------------------------------------------


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
    key: KeyInput
    """The region key, or the ARN of an existing KMS key (its key policy must let CloudWatch
    Logs and SQS in this region use it): encrypts the job log groups and dead-letter
    queues."""
    alert_topic: TopicInput
    """The region's alert topic, or the ARN of an existing SNS topic (its policy must let
    this account's EventBridge rules and CloudWatch alarms publish): where failed runs and
    failed submissions are reported."""
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
            out.append(
                f"name_prefix: {self.name_prefix!r} must be 1-24 lowercase letters, digits or '-'"
            )
        if not self.subnet_ids:
            out.append("subnet_ids: give at least one private subnet")
        out += key_input_problems(self.key)
        out += topic_input_problems(self.alert_topic)
        if (
            isinstance(self.max_vcpus, bool)
            or not isinstance(self.max_vcpus, int)
            or not 1 <= self.max_vcpus <= 4096
        ):
            out.append(f"max_vcpus: {self.max_vcpus!r} must be a whole number from 1 to 4096")
        if self.log_retention_days not in LOG_RETENTION_DAYS:
            out.append(
                f"log_retention_days: {self.log_retention_days!r} is not a CloudWatch Logs retention"
            )
        return out


class BatchEnvironment(pulumi.ComponentResource):
    """A Fargate compute environment that scales to zero, its job queue, a schedule group
    and the FAILED-run alert rule of the queue."""

    def __init__(
        self, name: str, args: BatchEnvironmentArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        problems = args.problems()
        raise_problems(f"BatchEnvironment {name!r}", problems)
        key = as_key(args.key, "key")
        alert_topic = as_alert_topic(args.alert_topic, "alert_topic")
        super().__init__("mlops:jobs:BatchEnvironment", name, None, opts)
        #: The resolved key and topic (an existing key or topic ARN becomes an object
        #: offering the same ``arn``): what this environment's jobs use.
        self.key: RegionKey | ExistingKey = key
        self.alert_topic: AlertTopic | ExistingAlertTopic = alert_topic
        invoke = pulumi.InvokeOptions(parent=self)
        self.args = args
        self.name_prefix = args.name_prefix
        self.account_id = aws.get_caller_identity_output(opts=invoke).account_id
        self.partition = aws.get_partition_output(opts=invoke).partition
        self.region = aws.get_region_output(opts=invoke).region
        self._tasks_network(name, args)
        self._compute(name, args)
        self._failure_alerts(name, args)
        self.jobs: dict[str, BatchJob] = {}
        self.register_outputs(
            {"queue_arn": self.queue.arn, "compute_environment_arn": self.compute_environment.arn}
        )

    def _tasks_network(self, name: str, args: BatchEnvironmentArgs) -> None:
        """The runs' security group: nothing in, HTTPS out."""
        child = pulumi.ResourceOptions(parent=self)
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

    def _compute(self, name: str, args: BatchEnvironmentArgs) -> None:
        """The Fargate compute environment, its queue and the schedule group."""
        child = pulumi.ResourceOptions(parent=self)
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

    def _failure_alerts(self, name: str, args: BatchEnvironmentArgs) -> None:
        """Events -> rules -> actions: a failed run notifies the alert topic."""
        child = pulumi.ResourceOptions(parent=self)
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
            arn=self.alert_topic.arn,
            input_transformer=aws.cloudwatch.EventTargetInputTransformerArgs(
                input_paths=dict(FAILED_RUN_PATHS),
                input_template=self.region.apply(failed_run_message),
            ),
            opts=child,
        )

    def widgets(self) -> list[Widget]:
        """Dashboard widgets: runs submitted and submissions that failed (schedules, object
        triggers, dead-letter queues), and failed runs."""
        out: list[Widget] = [
            MetricWidget(
                title="Job runs that failed (alerts sent)",
                metrics=[
                    Metric(
                        "AWS/Events",
                        "TriggeredRules",
                        {"RuleName": self.failed_rule.name},
                        label="failed runs",
                    )
                ],
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
                        Metric(
                            "AWS/Events",
                            metric,
                            {"RuleName": j.trigger_rule.name},
                            label=f"{j.job_name} {label}",
                        )
                        for j in triggered
                        if j.trigger_rule is not None
                        for metric, label in (
                            ("Invocations", "submitted"),
                            ("FailedInvocations", "failed"),
                        )
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
                        Metric(
                            "AWS/SQS",
                            "ApproximateNumberOfMessagesVisible",
                            {"QueueName": j.dead_letter_queue.name},
                            label=j.job_name,
                        )
                        for j in dlqs
                        if j.dead_letter_queue is not None
                    ],
                )
            )
        return out


# The shared image repository ------------------------------------------------------------------


@dataclass(frozen=True)
class JobBuild:
    """Build a job's image from a Dockerfile (see :attr:`JobSpec.build`)."""

    context: str
    """The build context directory, relative to ``JobsArgs.build_root`` (and to the working
    directory of ``pulumi up``, where ``awsx.ecr.Image`` builds it)."""
    dockerfile: str | None = None
    """Default: ``Dockerfile`` in ``context``. Otherwise its path, relative like ``context``."""


@dataclass(frozen=True)
class JobImages:
    """The region's job image repository and the images built into it."""

    repository: aws.ecr.Repository
    lifecycle_policy: aws.ecr.LifecyclePolicy
    images: dict[JobBuild, awsx.ecr.Image]
    """Built images by their build (context, Dockerfile)."""


def job_images(
    name: str,
    builds: Sequence[tuple[str, JobBuild]],
    *,
    parent: pulumi.Resource,
    key: RegionKey | ExistingKey,
    cpu_architecture: str,
    resolve: Callable[[str], Path],
    force_delete: bool,
    protect: bool,
) -> JobImages | None:
    """The region's job image repository ``<name>-images-repo`` and one image per distinct
    build (named ``<name>-<job>`` after the first job that uses it), children of ``parent``;
    None when no job builds its image. ``builds`` are ``(job name, build)`` pairs in job
    order; ``resolve`` turns a build's relative path into the path the build reads."""
    if not builds:
        return None
    repository, lifecycle_policy = create_ecr_repository(
        f"{name}-images",
        parent=parent,
        key=key,
        force_delete=force_delete,
        protect=protect,
        tags={"Name": f"{name}-images-repo"},
    )
    platform = DOCKER_PLATFORMS[cpu_architecture]
    images: dict[JobBuild, awsx.ecr.Image] = {}
    for job_name, build in builds:
        if build in images:
            continue
        images[build], _ = ecr_image(
            f"{name}-{job_name}",
            ImageBuild(
                context=build.context,
                context_path=resolve(build.context),
                dockerfile=build.dockerfile,
                dockerfile_path=resolve(build.dockerfile) if build.dockerfile else None,
                platform=platform,
            ),
            parent=parent,
            repository=repository,
            lifecycle_policy=lifecycle_policy,
        )
    return JobImages(repository=repository, lifecycle_policy=lifecycle_policy, images=images)
