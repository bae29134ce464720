"""Audit: the environment's one CloudTrail trail and the CIS alarms on its events.

:class:`Audit` lives in the primary region (its provider) and records the whole account:

- one multi-region trail with global service events, read and write management events,
  log file validation and KMS encryption with the primary region's key (whose policy lets
  CloudTrail use it for this trail only, see ``components.kms``: ``"cloudtrail"``);
- log files in a locked-down :class:`~components.buckets.SecureBucket` whose policy lets
  CloudTrail write only for this trail (``aws:SourceArn``) and only under
  ``AWSLogs/<account>/``; the bucket's server access logs go to a log bucket (its own by
  default);
- events also delivered to a KMS-encrypted CloudWatch log group with a retention, through a
  role that may only create streams in and write to that group;
- S3 data events (object reads and writes) for the given buckets (the data lake);
- one metric filter with the canonical CIS pattern (``components.baseline.CIS_METRIC_FILTERS``)
  and one alarm per CIS category, each notifying the alert topic. Given the roles that deploy
  the platform (``deploy_role_arns``), the categories every deploy or destroy changes
  (:data:`DEPLOY_CHANGE_FILTERS`: IAM policies, security groups, routes, VPCs, ...) ignore
  those roles' events, so a deploy raises no alarm while a person's change still does.

The key and the alert topic are the primary region's, or a team's own given by ARN
(``components.kms.as_key``, ``components.monitoring.as_alert_topic``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import pulumi
import pulumi_aws as aws

from components.baseline import CIS_METRIC_FILTERS, CisMetricFilter
from components.buckets import SecureBucket, SecureBucketArgs
from components.checks import duplicates, present, raise_problems
from components.iam import ServiceRole, ServiceRoleArgs
from components.kms import KeyInput, as_key, key_input_problem
from components.monitoring import (
    LOG_RETENTION_DAYS,
    AlarmArgs,
    Metric,
    MetricWidget,
    TopicInput,
    Widget,
    alert_topic_input_problem,
    as_alert_topic,
    grant_log_group_write,
    metric_alarm,
)

#: CloudTrail's service principal.
CLOUDTRAIL_SERVICE = "cloudtrail.amazonaws.com"
#: S3 server access log delivery's service principal.
S3_LOG_DELIVERY_SERVICE = "logging.s3.amazonaws.com"
#: Basic event selectors hold at most 250 data resources per trail.
MAX_DATA_EVENT_BUCKETS = 250
#: Each CIS alarm: any matching event within 5 minutes fires it; no events is fine.
CIS_ALARM_PERIOD = 300

#: The longest filter pattern CloudWatch Logs accepts (``PutMetricFilter`` ``filterPattern``:
#: "max": 1024 in botocore's model of the logs 2014-03-28 API).
MAX_FILTER_PATTERN_LENGTH = 1024
#: Where CloudTrail records the IAM role whose temporary credentials made a call: for an
#: ``AssumedRole`` identity, ``userIdentity.arn`` is the session
#: (``arn:aws:sts::<account>:assumed-role/<name>/<session>``) and
#: ``userIdentity.sessionContext.sessionIssuer.arn`` the role's own IAM ARN, path included
#: ("CloudTrail userIdentity element",
#: https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-user-identity.html).
SESSION_ISSUER_ARN = "$.userIdentity.sessionContext.sessionIssuer.arn"

DEPLOY_CHANGE_FILTERS: Final[Mapping[str, str]] = {
    "iam-policy-changes": "service roles' inline and attached policies (PutRolePolicy, "
    "AttachRolePolicy, DeleteRolePolicy, DetachRolePolicy)",
    "cloudtrail-changes": "the environment's own trail (CreateTrail, StartLogging, "
    "UpdateTrail, DeleteTrail)",
    "cmk-disable-or-deletion": "an ephemeral stack's destroy schedules its region keys for "
    "deletion (ScheduleKeyDeletion)",
    "s3-bucket-policy-changes": "the policies, lifecycle rules and replication of the lake, "
    "trail and log buckets",
    "security-group-changes": "the security groups of the load balancers, tasks, functions, "
    "pools and endpoints",
    "network-gateway-changes": "every VPC's internet gateway",
    "route-table-changes": "the public and private route tables and their routes",
    "vpc-changes": "the VPC of every region (CreateVpc, ModifyVpcAttribute, DeleteVpc)",
}
"""The CIS categories (``CIS_METRIC_FILTERS`` ids) that the platform's own deploys and
destroys change, each with what causes it: there, events of the deploy roles do not count.
Root use, console sign-ins, failed authentications, unauthorized calls, NACL and AWS Config
changes always count (the platform makes none of them)."""

_TRAIL_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,126}[A-Za-z0-9]$")
#: An IAM role ARN, path included; no character a filter pattern would need to escape.
_ROLE_ARN_RE = re.compile(r"arn:aws(-[a-z]+)*:iam::\d{12}:role/([\w+=,.@-]+/)*[\w+=,.@-]{1,64}")
_BUCKET_ARN_RE = re.compile(r"^arn:aws(-[a-z]+)*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_NAMESPACE_RE = re.compile(r"^[A-Za-z0-9.\-_/#: ]{1,255}$")


def cis_metric_name(cis: CisMetricFilter) -> str:
    """The CloudWatch metric a CIS filter counts into: its id in CamelCase."""
    return "".join(part.capitalize() for part in cis.id.split("-"))


def deploy_role_exclusion(role_arns: Sequence[str]) -> str:
    """The filter-pattern condition "not a session of one of ``role_arns``".

    An event without a session issuer (an IAM user, the root user, an AWS service) passes:
    ``NOT EXISTS`` says so explicitly, whatever ``!=`` does with a missing property."""
    differs = " && ".join(f'({SESSION_ISSUER_ARN} != "{arn}")' for arn in role_arns)
    return f"(({SESSION_ISSUER_ARN} NOT EXISTS) || ({differs}))"


def cis_pattern(cis: CisMetricFilter, deploy_role_arns: Sequence[str] = ()) -> str:
    """The filter pattern of ``cis``: its canonical pattern, and in the categories deploys
    change (:data:`DEPLOY_CHANGE_FILTERS`) only for events not made by ``deploy_role_arns``.

    JSON filter patterns combine conditions with ``&&`` and ``||`` and group them with
    parentheses; ``!=`` compares a property with a quoted string (CloudWatch Logs "Filter and
    pattern syntax", https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html).
    """
    if not deploy_role_arns or cis.id not in DEPLOY_CHANGE_FILTERS:
        return cis.pattern
    inner = cis.pattern.strip().removeprefix("{").removesuffix("}").strip()
    return f"{{ ({inner}) && {deploy_role_exclusion(deploy_role_arns)} }}"


def deploy_role_arn_problem(arn: object, field_name: str = "deploy_role_arn") -> str | None:
    """Why ``arn`` is not the ARN of an IAM role (naming ``field_name``), or None."""
    if isinstance(arn, str) and _ROLE_ARN_RE.fullmatch(arn):
        return None
    hint = (
        "that is a session of a role: give the role's own ARN, "
        "arn:aws:iam::<account>:role/<path>/<name>"
        if isinstance(arn, str) and ":assumed-role/" in arn
        else "expected arn:aws:iam::<account>:role/<path>/<name>"
    )
    return f"{field_name}: {arn!r} is not an IAM role ARN ({hint})"


def deploy_role_arns_problems(
    role_arns: Sequence[object], field_name: str = "deploy_role_arns"
) -> list[str]:
    """Why ``role_arns`` cannot be excluded from the CIS filters (naming ``field_name``):
    not IAM role ARNs, listed twice, or too many for a filter pattern's length limit."""
    problems = present(
        *(deploy_role_arn_problem(arn, f"{field_name}[{i}]") for i, arn in enumerate(role_arns))
    )
    plain = [a for a in role_arns if isinstance(a, str)]
    problems += [f"{field_name}: {a!r} is listed more than once" for a in duplicates(plain)]
    if problems or not plain:
        return problems
    for cis_id in DEPLOY_CHANGE_FILTERS:
        length = len(cis_pattern(CIS_METRIC_FILTERS[cis_id], plain))
        if length > MAX_FILTER_PATTERN_LENGTH:
            problems.append(
                f"{field_name}: with these {len(plain)} role(s) the CIS filter {cis_id!r} "
                f"would be {length} characters; CloudWatch Logs accepts at most "
                f"{MAX_FILTER_PATTERN_LENGTH} (list fewer roles, or shorter role paths)"
            )
    return problems


def trail_name_problems(name: str) -> list[str]:
    """Why ``name`` is not a CloudTrail trail name (3-128 letters, digits, ``.``, ``_``,
    ``-``; starting and ending with a letter or digit; no two separators in a row)."""
    if not _TRAIL_NAME_RE.match(name) or re.search(r"[._-]{2}", name):
        return [
            f"trail_name: {name!r} must be 3-128 letters, digits, '.', '_' or '-', start and "
            "end with a letter or digit, and have no two of '.', '_', '-' in a row"
        ]
    return []


@dataclass(frozen=True)
class AuditArgs:
    """Arguments of :class:`Audit`."""

    trail_name: str
    """The trail's name, set explicitly: the key policy and the bucket policy name the
    trail's ARN before it exists (built from this name, so there is no cycle)."""
    key: KeyInput
    """The primary region's key, or the ARN of an existing KMS key in the primary region.
    Encrypts the log files, the bucket and the log group; its key policy must let CloudTrail
    use it for ``trail_name`` and CloudWatch Logs use it (the region key's ``"cloudtrail"``
    and ``"logs"`` uses, ``RegionKeyArgs``)."""
    alert_topic: TopicInput
    """The primary region's alert topic, or the ARN of an existing SNS topic in the primary
    region (its policy must let this account's CloudWatch alarms publish); every CIS alarm
    notifies it."""
    log_retention_days: int
    """Retention of the trail's CloudWatch log group (a value CloudWatch Logs accepts)."""
    data_event_bucket_arns: Sequence[pulumi.Input[str]] = ()
    """Default: no S3 data events (management events only). Each bucket ARN given gets its
    object-level reads and writes recorded (``AWS::S3::Object``, ``<bucket arn>/``)."""
    access_log_bucket: pulumi.Input[str] | None = None
    """Default: the audit creates its own access-log bucket (SSE-S3, as S3 log delivery
    requires; objects expire after ``log_retention_days``) that only S3 log delivery for the
    trail bucket may write to. When given, the name of an existing log bucket whose policy
    already lets S3 log delivery write for the trail bucket."""
    deploy_role_arns: Sequence[str] = ()
    """Default: every event counts. The IAM role ARNs (with their path) of the roles that
    deploy and destroy the platform: their events do not count in the CIS categories every
    deploy changes (:data:`DEPLOY_CHANGE_FILTERS`), so deploys raise no alarm there while the
    same change by anyone else still does."""
    metric_namespace: str | None = None
    """Default: ``CIS/<trail name>``, so two environments in one account never count each
    other's events. The CloudWatch namespace of the CIS metrics."""
    bucket_expiration_days: int | None = None
    """Default: trail log files in S3 are kept (their noncurrent versions expire). When
    set, current log files expire after this many days."""
    force_destroy: bool = False
    """Default: buckets holding log files cannot be deleted. When true (ephemeral stacks),
    they are deleted with every object version."""
    protect: bool = False
    """Default: unprotected. When true, the trail, its buckets and its log group are
    protected and retained on delete."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Default: no extra tags beyond ``Name``."""

    def problems(self) -> list[str]:
        """Every problem with these arguments, each naming its field."""
        out = trail_name_problems(self.trail_name)
        out += present(
            key_input_problem(self.key, "key"),
            alert_topic_input_problem(self.alert_topic, "alert_topic"),
        )
        if self.log_retention_days not in LOG_RETENTION_DAYS:
            out.append(
                f"log_retention_days: {self.log_retention_days} is not a retention CloudWatch "
                f"Logs accepts (use one of {', '.join(map(str, LOG_RETENTION_DAYS))})"
            )
        arns = list(self.data_event_bucket_arns)
        if len(arns) > MAX_DATA_EVENT_BUCKETS:
            out.append(
                f"data_event_bucket_arns: {len(arns)} given; a trail's event selectors hold "
                f"at most {MAX_DATA_EVENT_BUCKETS}"
            )
        for i, arn in enumerate(arns):
            if isinstance(arn, str) and not _BUCKET_ARN_RE.match(arn):
                out.append(
                    f"data_event_bucket_arns[{i}]: {arn!r} is not a bucket ARN "
                    "(arn:aws:s3:::bucket-name, no key or trailing '/')"
                )
        plain = [a for a in arns if isinstance(a, str)]
        dupes = duplicates(plain)
        out += [f"data_event_bucket_arns: {a!r} is listed more than once" for a in dupes]
        out += deploy_role_arns_problems(list(self.deploy_role_arns))
        if self.metric_namespace is not None and (
            not _NAMESPACE_RE.match(self.metric_namespace)
            or self.metric_namespace.startswith("AWS/")
        ):
            out.append(
                f"metric_namespace: {self.metric_namespace!r} must be 1-255 letters, digits or "
                "'.-_/#: ' and not start with 'AWS/'"
            )
        if self.bucket_expiration_days is not None and self.bucket_expiration_days < 1:
            out.append(f"bucket_expiration_days: {self.bucket_expiration_days} must be at least 1")
        return out


def trail_bucket_statements(
    bucket_arn: pulumi.Input[str], account_id: pulumi.Input[str], trail_arn: pulumi.Input[str]
) -> list[dict[str, Any]]:
    """The trail bucket's CloudTrail statements, as AWS documents them: CloudTrail may read
    the bucket ACL and write log files under ``AWSLogs/<account>/``, only for this trail."""
    return [
        {
            "Sid": "CloudTrailChecksBucketAcl",
            "Effect": "Allow",
            "Principal": {"Service": CLOUDTRAIL_SERVICE},
            "Action": "s3:GetBucketAcl",
            "Resource": bucket_arn,
            "Condition": {"StringEquals": {"aws:SourceArn": trail_arn}},
        },
        {
            "Sid": "CloudTrailWritesLogFiles",
            "Effect": "Allow",
            "Principal": {"Service": CLOUDTRAIL_SERVICE},
            "Action": "s3:PutObject",
            "Resource": pulumi.Output.concat(bucket_arn, "/AWSLogs/", account_id, "/*"),
            "Condition": {
                "StringEquals": {
                    "s3:x-amz-acl": "bucket-owner-full-control",
                    "aws:SourceArn": trail_arn,
                }
            },
        },
    ]


def access_log_statement(
    log_bucket_arn: pulumi.Input[str],
    prefix: str,
    source_bucket_arn: pulumi.Input[str],
    account_id: pulumi.Input[str],
) -> dict[str, Any]:
    """S3 server access log delivery may write under ``prefix`` for ``source_bucket_arn``."""
    return {
        "Sid": "S3ServerAccessLogsForTrailBucket",
        "Effect": "Allow",
        "Principal": {"Service": S3_LOG_DELIVERY_SERVICE},
        "Action": "s3:PutObject",
        "Resource": pulumi.Output.concat(log_bucket_arn, "/", prefix, "*"),
        "Condition": {
            "ArnLike": {"aws:SourceArn": source_bucket_arn},
            "StringEquals": {"aws:SourceAccount": account_id},
        },
    }


class Audit(pulumi.ComponentResource):
    """The environment's multi-region CloudTrail trail with CIS metric filters and alarms.

    Create it once per environment, as a child of the primary region's component (so it
    uses the primary region's provider).
    """

    TRAIL_BUCKET_PURPOSE = "audit-trail"
    ACCESS_LOG_PURPOSE = "audit-access-logs"

    def __init__(
        self, name: str, args: AuditArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        problems = args.problems()
        raise_problems(f"Audit {name!r}", problems)
        key = as_key(args.key, "key")
        alert_topic = as_alert_topic(args.alert_topic, "alert_topic")
        super().__init__("mlops:audit:Audit", name, None, opts)
        self._name = name
        self._args = args
        self._child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOptions(parent=self)
        self._account = aws.get_caller_identity_output(opts=invoke).account_id
        partition = aws.get_partition_output(opts=invoke).partition
        region = aws.get_region_output(opts=invoke).region
        self.key = key
        self.alert_topic = alert_topic
        self.trail_name = args.trail_name
        self.metric_namespace = args.metric_namespace or f"CIS/{args.trail_name}"
        self.trail_arn: pulumi.Output[str] = pulumi.Output.format(
            "arn:{0}:cloudtrail:{1}:{2}:trail/{3}",
            partition,
            region,
            self._account,
            args.trail_name,
        )
        self._buckets()
        self._log_delivery()
        self.trail = self._trail()
        self._cis_alarms()

        self.bucket_name = self.bucket.name
        self.register_outputs(
            {
                "trail_arn": self.trail.arn,
                "bucket_name": self.bucket.name,
                "log_group_name": self.log_group.name,
            }
        )

    def _buckets(self) -> None:
        """The access-log bucket (unless an existing one is given) and the trail bucket.

        The trail bucket's policy names its own ARN, the access-log bucket's policy names
        both; deferred outputs resolve them once the buckets exist."""
        name, args, account = self._name, self._args, self._account
        trail_bucket_arn: pulumi.Output[str]
        resolve_trail_bucket_arn: Callable[[pulumi.Output[str]], None]
        trail_bucket_arn, resolve_trail_bucket_arn = pulumi.deferred_output()
        self.access_log_bucket: SecureBucket | None = None
        access_log_bucket_name = args.access_log_bucket
        if access_log_bucket_name is None:
            log_bucket_arn: pulumi.Output[str]
            resolve_log_bucket_arn: Callable[[pulumi.Output[str]], None]
            log_bucket_arn, resolve_log_bucket_arn = pulumi.deferred_output()
            self.access_log_bucket = SecureBucket(
                f"{name}-access-logs",
                SecureBucketArgs(
                    key=None,
                    sse_s3_for_log_delivery=True,
                    purpose=self.ACCESS_LOG_PURPOSE,
                    expiration_days=args.log_retention_days,
                    noncurrent_version_expiration_days=min(30, args.log_retention_days),
                    force_destroy=args.force_destroy,
                    protect=args.protect,
                    extra_policy_statements=[
                        access_log_statement(
                            log_bucket_arn,
                            f"{self.TRAIL_BUCKET_PURPOSE}/",
                            trail_bucket_arn,
                            account,
                        )
                    ],
                    tags=args.tags,
                ),
                opts=self._child,
            )
            resolve_log_bucket_arn(self.access_log_bucket.arn)
            access_log_bucket_name = self.access_log_bucket.name
        self.bucket = SecureBucket(
            f"{name}-trail",
            SecureBucketArgs(
                key=self.key,
                purpose=self.TRAIL_BUCKET_PURPOSE,
                expiration_days=args.bucket_expiration_days,
                access_log_bucket=access_log_bucket_name,
                access_log_prefix=f"{self.TRAIL_BUCKET_PURPOSE}/",
                force_destroy=args.force_destroy,
                protect=args.protect,
                extra_policy_statements=trail_bucket_statements(
                    trail_bucket_arn, account, self.trail_arn
                ),
                tags=args.tags,
            ),
            opts=self._child,
        )
        resolve_trail_bucket_arn(self.bucket.arn)

    def _log_delivery(self) -> None:
        """CloudWatch Logs delivery: a retained, encrypted group and a role scoped to it."""
        name, args = self._name, self._args
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-trail-events",
            retention_in_days=args.log_retention_days,
            kms_key_id=self.key.arn,
            tags={"Name": f"{name}-trail-events", **args.tags},
            opts=pulumi.ResourceOptions(
                parent=self, protect=args.protect, retain_on_delete=args.protect
            ),
        )
        self.delivery_role = ServiceRole(
            f"{name}-trail-delivery",
            ServiceRoleArgs(
                service=CLOUDTRAIL_SERVICE,
                description="CloudTrail delivers the audit trail's events to its log group",
                tags=args.tags,
            ),
            opts=self._child,
        )
        self.delivery_grant = grant_log_group_write(
            self.delivery_role,
            self.log_group.arn,
            "deliver-trail-events",
            sid="DeliverTrailEventsToLogGroup",
        )

    def _trail(self) -> aws.cloudtrail.Trail:
        """The multi-region trail, once its bucket policy and delivery grant exist."""
        args = self._args
        data_resources = (
            [
                aws.cloudtrail.TrailEventSelectorDataResourceArgs(
                    type="AWS::S3::Object",
                    values=[pulumi.Output.concat(arn, "/") for arn in args.data_event_bucket_arns],
                )
            ]
            if args.data_event_bucket_arns
            else None
        )
        return aws.cloudtrail.Trail(
            f"{self._name}-trail",
            name=args.trail_name,
            s3_bucket_name=self.bucket.name,
            is_multi_region_trail=True,
            include_global_service_events=True,
            enable_log_file_validation=True,
            enable_logging=True,
            kms_key_id=self.key.arn,
            cloud_watch_logs_group_arn=pulumi.Output.concat(self.log_group.arn, ":*"),
            cloud_watch_logs_role_arn=self.delivery_role.arn,
            event_selectors=[
                aws.cloudtrail.TrailEventSelectorArgs(
                    read_write_type="All",
                    include_management_events=True,
                    data_resources=data_resources,
                )
            ],
            tags={"Name": f"{self._name}-trail", **args.tags},
            opts=pulumi.ResourceOptions(
                parent=self,
                protect=args.protect,
                retain_on_delete=args.protect,
                depends_on=[self.bucket.policy, self.delivery_grant],
            ),
        )

    def _cis_alarms(self) -> None:
        """CIS: one metric filter with the canonical pattern and one alarm per category."""
        name = self._name
        self.metric_filters: dict[str, aws.cloudwatch.LogMetricFilter] = {}
        self.alarms: dict[str, aws.cloudwatch.MetricAlarm] = {}
        deploy_roles = list(self._args.deploy_role_arns)
        for cis in CIS_METRIC_FILTERS.values():
            metric_name = cis_metric_name(cis)
            excluded = bool(deploy_roles) and cis.id in DEPLOY_CHANGE_FILTERS
            metric_filter = aws.cloudwatch.LogMetricFilter(
                f"{name}-cis-{cis.id}",
                name=f"cis-{cis.id}",
                log_group_name=self.log_group.name,
                pattern=cis_pattern(cis, deploy_roles),
                metric_transformation=aws.cloudwatch.LogMetricFilterMetricTransformationArgs(
                    name=metric_name, namespace=self.metric_namespace, value="1"
                ),
                opts=self._child,
            )
            self.metric_filters[cis.id] = metric_filter
            self.alarms[cis.id] = metric_alarm(
                f"{name}-cis-{cis.id}",
                AlarmArgs(
                    namespace=self.metric_namespace,
                    metric_name=metric_name,
                    threshold=1,
                    treat_missing_data="notBreaching",
                    statistic="Sum",
                    comparison="GreaterThanOrEqualToThreshold",
                    period=CIS_ALARM_PERIOD,
                    evaluation_periods=1,
                    description=(
                        f"CIS {cis.title}: CloudTrail recorded at least one such event in "
                        f"5 minutes (trail {self.trail_name}"
                        + (", not counting the platform's deploy roles" if excluded else "")
                        + "). Find who did what in the trail's log group with the same "
                        "filter pattern."
                    ),
                ),
                self.alert_topic,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[metric_filter]),
            )

    def outputs(self) -> dict[str, object]:
        """What the stack exports about the audit trail."""
        return {
            "trailArn": self.trail.arn,
            "trailName": self.trail_name,
            "bucketName": self.bucket.name,
            "logGroupName": self.log_group.name,
            "metricNamespace": self.metric_namespace,
        }

    def widgets(self) -> list[Widget]:
        """Dashboard widgets: events delivered to the log group, and CIS events by category
        (the CIS alarms' states appear with the alert topic's alarms)."""
        return [
            MetricWidget(
                title="Audit trail events delivered to CloudWatch Logs",
                metrics=[
                    Metric("AWS/Logs", "IncomingLogEvents", {"LogGroupName": self.log_group.name})
                ],
            ),
            MetricWidget(
                title="CIS monitored events",
                metrics=[
                    Metric(self.metric_namespace, cis_metric_name(cis), label=cis.title)
                    for cis in CIS_METRIC_FILTERS.values()
                ],
            ),
        ]


__all__ = [
    "DEPLOY_CHANGE_FILTERS",
    "MAX_FILTER_PATTERN_LENGTH",
    "SESSION_ISSUER_ARN",
    "Audit",
    "AuditArgs",
    "access_log_statement",
    "cis_metric_name",
    "cis_pattern",
    "deploy_role_arn_problem",
    "deploy_role_arns_problems",
    "deploy_role_exclusion",
    "trail_bucket_statements",
    "trail_name_problems",
]
