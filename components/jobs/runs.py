"""Job runs: what submits them and what reports them.

- Schedules: an EventBridge Scheduler schedule (cron or rate, in a time zone, flexible
  window off) whose universal target calls Batch ``SubmitJob`` with the schedule's per-run
  overrides, through a role that may submit exactly this job to exactly this queue.
- Object triggers: new objects in a data lake zone (the raw zone by default) match an
  EventBridge rule whose Batch target submits a run with the object as parameters
  (``trigger_bucket``, ``trigger_key``), through its own equally narrow role.
- Dead letters: runs that cannot be submitted after retries land in the job's encrypted
  dead-letter queue, which raises an alarm on the alert topic.
- Trigger state (:class:`TriggerState`): a schedule and an object trigger exist in every
  region of a multi-region platform, ENABLED only in the *active* one; when that state is
  switched at run time (``python -m stacks failover``), Pulumi only sets it at creation.
- Failure alerts: the event pattern and message of the environment's
  **Batch Job State Change -> FAILED** rule (the rule itself belongs to
  :class:`~components.jobs.environment.BatchEnvironment`).

:class:`~components.jobs.definitions.BatchJob` calls the builders here with a
:class:`SubmittedJob`; the patterns, requests and documents are plain functions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_aws as aws

from components.buckets import SecureBucket
from components.iam import ServiceRole, ServiceRoleArgs, Statement
from components.jobs.validators import (
    command_parameters,
    environment_problems,
    schedule_expression_problem,
    timezone_problem,
)
from components.monitoring import AlarmArgs, metric_alarm

if TYPE_CHECKING:
    from components.jobs.environment import BatchEnvironment

#: The schedule or rule retries submitting a run for up to an hour, three times.
SUBMIT_RETRY_ATTEMPTS = 3
SUBMIT_MAX_EVENT_AGE_SECONDS = 3600
DLQ_RETENTION_SECONDS = 14 * 24 * 3600
SUBMIT_JOB_TARGET = "arn:{partition}:scheduler:::aws-sdk:batch:submitJob"


# What submits runs: arguments --------------------------------------------------------------


@dataclass(frozen=True)
class TriggerState:
    """Whether a job's schedule and object trigger submit runs in this region, and who owns
    that state afterwards.

    A schedule (EventBridge Scheduler) and a rule (EventBridge) each have a state, ENABLED or
    DISABLED: a disabled schedule invokes nothing and a disabled rule matches no events
    (Scheduler User Guide, "Changing the schedule state",
    https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-schedule-state.html;
    EventBridge API Reference, "DisableRule" and "Rule.State",
    https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_DisableRule.html).
    """

    active: bool = True
    """Default: ENABLED. False (a region that is not the active one): the schedule and the
    object trigger exist, with their roles and dead-letter queue, but are DISABLED."""
    switchable: bool = False
    """Default: Pulumi holds the state to ``active`` on every update. True: the state is
    only set at creation and then ignored (``ignore_changes=["state"]``): it is runtime
    state that whatever switches the active region owns (``python -m stacks failover``), so
    a ``pulumi up`` neither re-enables a failed region's schedules nor disables the new
    active region's. A schedule paused by its own ``enabled: false`` is never switchable:
    it stays DISABLED and managed."""

    def state(self, enabled: bool = True) -> str:
        """The state to create with: ENABLED when configured on (``enabled``) and active."""
        return "ENABLED" if enabled and self.active else "DISABLED"

    def ignore_changes(self, enabled: bool = True) -> list[str] | None:
        """``["state"]`` for a switchable schedule or rule that config turns on.

        ``ignore_changes`` makes Pulumi reuse the state recorded at the last deployment, not
        the live one: an update that sends the whole resource (UpdateSchedule replaces every
        field, https://docs.aws.amazon.com/scheduler/latest/APIReference/API_UpdateSchedule.html)
        would send that recorded state unless the deployment refreshes first
        (https://www.pulumi.com/docs/iac/concepts/options/ignorechanges/ "Run pulumi refresh
        (or pulumi up --refresh)"; pulumi/pulumi-aws#2524 shows it for exactly
        ``aws.scheduler.Schedule`` ``state``). Deploy with a refresh.
        """
        return ["state"] if enabled and self.switchable else None


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
    prefix: str | None = None
    """Default: any new object in the zone. When given, only keys starting with it."""


def schedule_problems(schedule: JobScheduleArgs, command: Sequence[str]) -> list[str]:
    """Problems with a job's schedule (``command`` is the job's), each naming its field."""
    out = []
    bad = schedule_expression_problem(schedule.expression)
    if bad:
        out.append(f"schedule.expression: {bad}")
    bad_zone = timezone_problem(schedule.timezone)
    if bad_zone:
        out.append(f"schedule.timezone: {bad_zone}")
    referenced = command_parameters(command) if command else []
    for name in schedule.parameters:
        if name not in referenced:
            out.append(
                f"schedule.parameters: {name} is not used by the command (no Ref::{name}); "
                "the override would have no effect"
            )
    out += environment_problems("schedule.environment", schedule.environment)
    return out


# Requests, patterns and documents ----------------------------------------------------------


def submit_job_input(
    *,
    run_name: str,
    queue_arn: pulumi.Input[str],
    definition_arn: pulumi.Input[str],
    parameters: Mapping[str, str],
    environment: Mapping[str, str],
    array_size: int | None,
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


def object_created_pattern(bucket_name: pulumi.Input[str], prefix: str | None) -> dict[str, Any]:
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


def dead_letter_queue_policy(
    queue_arn: pulumi.Input[str], rule_arn: pulumi.Input[str]
) -> dict[str, Any]:
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


# Builders: dead letters, schedules, object triggers ----------------------------------------


@dataclass(frozen=True)
class SubmittedJob:
    """What a schedule or an object trigger submits (one job's definition, to its
    environment's queue) and where the resources that submit it are registered."""

    name: str
    """The job component's name; the submitters' names start with it."""
    job_name: str
    """The job's name (``BatchJobArgs.job_name``)."""
    environment: BatchEnvironment
    """The environment whose queue runs are submitted to."""
    definition: aws.batch.JobDefinition
    """The job definition runs are submitted with."""
    definition_name: str
    """``<name_prefix>-<job_name>``; the schedule has the same name."""
    definition_arn_pattern: pulumi.Output[str]
    """The definition's ARN with any revision (``<arn prefix>:*``)."""
    array_size: int | None
    """Each submitted run is an array of this many children when given."""
    parent: pulumi.Resource
    """The job component: parent of every submitting resource."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags of the submitting resources (besides ``Name``)."""

    @property
    def child(self) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self.parent)

    def describe(self, what: str) -> str:
        """A description naming the environment and the job."""
        return f"{self.environment.name_prefix} job {self.job_name}: {what}"


def submit_statement(job: SubmittedJob) -> Statement:
    """SubmitJob for exactly this queue and this definition (by name and any revision);
    IAM also evaluates the job being created, whose id is not known in advance."""
    env = job.environment
    new_jobs = pulumi.Output.format(
        "arn:{0}:batch:{1}:{2}:job/*", env.partition, env.region, env.account_id
    )
    return Statement(
        sid="SubmitThisJobToThisQueue",
        actions=("batch:SubmitJob",),
        resources=[env.queue.arn, job.definition.arn_prefix, job.definition_arn_pattern, new_jobs],
    )


def dead_letter_queue(job: SubmittedJob) -> tuple[aws.sqs.Queue, aws.cloudwatch.MetricAlarm]:
    """The job's encrypted dead-letter queue for runs that could not be submitted, and the
    alarm that reports a message in it on the alert topic."""
    env, name = job.environment, job.name
    queue = aws.sqs.Queue(
        f"{name}-submit-dlq",
        kms_master_key_id=env.key.arn,
        kms_data_key_reuse_period_seconds=300,
        message_retention_seconds=DLQ_RETENTION_SECONDS,
        tags={"Name": f"{name}-submit-dlq", **job.tags},
        opts=job.child,
    )
    alarm = metric_alarm(
        f"{name}-submit-failed",
        AlarmArgs(
            namespace="AWS/SQS",
            metric_name="ApproximateNumberOfMessagesVisible",
            dimensions={"QueueName": queue.name},
            statistic="Maximum",
            threshold=1,
            period=300,
            treat_missing_data="notBreaching",
            description=job.describe(
                "a run could not be submitted after retries "
                "(schedule or object trigger); read the dead-letter queue's message for the "
                "error, fix it, then submit the run by hand"
            ),
        ),
        env.alert_topic,
        job.child,
    )
    return queue, alarm


def dead_letter_statements(job: SubmittedJob, queue: aws.sqs.Queue) -> list[Statement]:
    """What the scheduler role needs to put a failed submission into the dead-letter queue
    (Scheduler delivers dead letters with the schedule's role)."""
    env = job.environment
    via_sqs = env.region.apply(lambda r: f"sqs.{r}.amazonaws.com")
    return [
        Statement(sid="SendToDeadLetterQueue", actions=("sqs:SendMessage",), resources=[queue.arn]),
        Statement(
            sid="EncryptDeadLetters",
            actions=("kms:Decrypt", "kms:GenerateDataKey"),
            resources=[env.key.arn],
            conditions={"StringEquals": {"kms:ViaService": via_sqs}},
        ),
    ]


def scheduled_runs(
    job: SubmittedJob,
    schedule: JobScheduleArgs,
    dead_letters: aws.sqs.Queue,
    triggers: TriggerState = TriggerState(),
) -> tuple[ServiceRole, aws.scheduler.Schedule]:
    """The scheduler role (submit this job, deliver dead letters) and the schedule in the
    environment's schedule group, in the state ``triggers`` gives (see :class:`TriggerState`)."""
    env, name = job.environment, job.name
    role = ServiceRole(
        f"{name}-scheduler",
        ServiceRoleArgs(
            service="scheduler.amazonaws.com",
            description=job.describe("EventBridge Scheduler submits scheduled runs"),
            source_arn=env.schedule_group.arn,
            tags=job.tags,
        ),
        opts=job.child,
    )
    # The schedule's payload is encrypted with the region key (kms_key_arn below); Scheduler
    # decrypts it with this execution role, which needs kms:Decrypt on the key and nothing in
    # the key policy (RegionKey.statement_schedule_payload cites the sources).
    grant = role.grant(
        "submit-runs",
        [
            submit_statement(job),
            *dead_letter_statements(job, dead_letters),
            env.key.statement_schedule_payload(),
        ],
    )
    request = submit_job_input(
        run_name=f"{job.job_name}-scheduled",
        queue_arn=env.queue.arn,
        definition_arn=job.definition.arn,
        parameters=schedule.parameters,
        environment=schedule.environment,
        array_size=job.array_size,
    )
    runs = aws.scheduler.Schedule(
        f"{name}-schedule",
        name=job.definition_name,
        group_name=env.schedule_group.name,
        description=job.describe(f"submits a run {schedule.expression} ({schedule.timezone})"),
        schedule_expression=schedule.expression,
        schedule_expression_timezone=schedule.timezone,
        flexible_time_window=aws.scheduler.ScheduleFlexibleTimeWindowArgs(mode="OFF"),
        state=triggers.state(schedule.enabled),
        kms_key_arn=env.key.arn,
        target=aws.scheduler.ScheduleTargetArgs(
            arn=env.partition.apply(lambda p: SUBMIT_JOB_TARGET.format(partition=p)),
            role_arn=role.arn,
            input=pulumi.Output.json_dumps(request),
            retry_policy=aws.scheduler.ScheduleTargetRetryPolicyArgs(
                maximum_event_age_in_seconds=SUBMIT_MAX_EVENT_AGE_SECONDS,
                maximum_retry_attempts=SUBMIT_RETRY_ATTEMPTS,
            ),
            dead_letter_config=aws.scheduler.ScheduleTargetDeadLetterConfigArgs(
                arn=dead_letters.arn
            ),
        ),
        opts=pulumi.ResourceOptions(
            parent=job.parent,
            depends_on=[role, grant],
            ignore_changes=triggers.ignore_changes(schedule.enabled),
        ),
    )
    return role, runs


@dataclass(frozen=True)
class ObjectTrigger:
    """The resources of an object trigger (see :func:`object_trigger`)."""

    rule: aws.cloudwatch.EventRule
    role: ServiceRole
    dead_letter_policy: aws.sqs.QueuePolicy
    target: aws.cloudwatch.EventTarget


def object_trigger(
    job: SubmittedJob,
    trigger: ObjectTriggerArgs,
    bucket: SecureBucket,
    dead_letters: aws.sqs.Queue,
    triggers: TriggerState = TriggerState(),
) -> ObjectTrigger:
    """New objects in ``bucket`` (the trigger's zone) submit a run: the rule (in the state
    ``triggers`` gives), its role (submit this job only), the dead-letter queue's policy (only
    this rule delivers) and the Batch target that passes the object as parameters."""
    env, name = job.environment, job.name
    rule = aws.cloudwatch.EventRule(
        f"{name}-on-new-objects",
        description=job.describe(f"a new object in the {trigger.zone} zone submits a run"),
        event_pattern=pulumi.Output.json_dumps(object_created_pattern(bucket.name, trigger.prefix)),
        # ``state``, not the deprecated ``is_enabled`` (pulumi_aws: "is_enabled is deprecated.
        # Use state instead."); ENABLED matches every event but CloudTrail management events.
        state=triggers.state(),
        tags={"Name": f"{name}-on-new-objects", **job.tags},
        opts=pulumi.ResourceOptions(parent=job.parent, ignore_changes=triggers.ignore_changes()),
    )
    role = ServiceRole(
        f"{name}-events",
        ServiceRoleArgs(
            service="events.amazonaws.com",
            description=job.describe("EventBridge submits runs for new objects"),
            source_arn=rule.arn,
            tags=job.tags,
        ),
        opts=job.child,
    )
    submit = role.grant("submit-runs", [submit_statement(job)])
    policy = aws.sqs.QueuePolicy(
        f"{name}-submit-dlq-policy",
        queue_url=dead_letters.url,
        policy=pulumi.Output.json_dumps(dead_letter_queue_policy(dead_letters.arn, rule.arn)),
        opts=job.child,
    )
    paths, template = object_trigger_input()
    target = aws.cloudwatch.EventTarget(
        f"{name}-on-new-objects-submit",
        rule=rule.name,
        arn=env.queue.arn,
        role_arn=role.arn,
        batch_target=aws.cloudwatch.EventTargetBatchTargetArgs(
            job_definition=job.definition.arn,
            job_name=f"{job.job_name}-on-new-object",
            array_size=job.array_size,
        ),
        input_transformer=aws.cloudwatch.EventTargetInputTransformerArgs(
            input_paths=paths, input_template=template
        ),
        retry_policy=aws.cloudwatch.EventTargetRetryPolicyArgs(
            maximum_event_age_in_seconds=SUBMIT_MAX_EVENT_AGE_SECONDS,
            maximum_retry_attempts=SUBMIT_RETRY_ATTEMPTS,
        ),
        dead_letter_config=aws.cloudwatch.EventTargetDeadLetterConfigArgs(arn=dead_letters.arn),
        opts=pulumi.ResourceOptions(parent=job.parent, depends_on=[submit, policy]),
    )
    return ObjectTrigger(rule=rule, role=role, dead_letter_policy=policy, target=target)
