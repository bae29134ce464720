"""Alerting and dashboards: the region's alert topic, the alarm helper, the dashboard.

Every alarm the platform defines notifies the region's :class:`AlertTopic` through
:func:`metric_alarm`, which makes the missing-data behaviour an explicit choice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

import pulumi
import pulumi_aws as aws

from components.iam import ServiceRole, Statement
from components.kms import RegionKey

_EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")

#: Publishers that deliver alarms and events to the topic.
ALARM_PUBLISHERS = ("cloudwatch.amazonaws.com", "events.amazonaws.com")

def is_email(value: str) -> bool:
    """A plain address (``name@example.com``), as SNS email subscriptions need."""
    return bool(_EMAIL_RE.match(value)) and len(value) <= 254


def topic_policy(topic_arn: str, account_id: str, partition: str) -> dict[str, Any]:
    """Topic policy: alarms and rules of this account publish; nothing without TLS.

    The account's own principals need no statement here: within one account an IAM policy
    is enough, so the topic policy grants nothing to anyone else.
    """
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AlarmsAndRulesOfThisAccountPublish",
                "Effect": "Allow",
                "Principal": {"Service": list(ALARM_PUBLISHERS)},
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
            },
            {
                "Sid": "DenyPublishWithoutTls",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ],
    }


@dataclass(frozen=True)
class AlertTopicArgs:
    """Arguments of :class:`AlertTopic`."""

    key: RegionKey
    """The region's KMS key; encrypts the topic. Its policy must allow ``alarms`` use."""
    emails: Sequence[str] = ()
    """Default: no subscriptions. Each address gets an email subscription (to confirm)."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Default: no extra tags beyond ``Name``."""


class AlertTopic(pulumi.ComponentResource):
    """The region's KMS-encrypted alert topic with a non-public, TLS-only policy."""

    def __init__(
        self, name: str, args: AlertTopicArgs, opts: Optional[pulumi.ResourceOptions] = None
    ) -> None:
        bad = [e for e in args.emails if not is_email(e)]
        dupes = sorted({e for e in args.emails if list(args.emails).count(e) > 1})
        problems = [f"emails: {e!r} is not an email address" for e in bad]
        problems += [f"emails: {e!r} is listed more than once" for e in dupes]
        if problems:
            raise ValueError(f"AlertTopic {name!r}: " + "; ".join(problems))
        super().__init__("mlops:monitoring:AlertTopic", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOptions(parent=self)
        account = aws.get_caller_identity_output(opts=invoke).account_id
        partition = aws.get_partition_output(opts=invoke).partition
        self.key = args.key
        self.topic = aws.sns.Topic(
            f"{name}-topic",
            kms_master_key_id=args.key.arn,
            tags={"Name": f"{name}-topic", **args.tags},
            opts=child,
        )
        self.policy = aws.sns.TopicPolicy(
            f"{name}-policy",
            arn=self.topic.arn,
            policy=pulumi.Output.all(self.topic.arn, account, partition).apply(
                lambda v: pulumi.Output.json_dumps(topic_policy(v[0], v[1], v[2]))
            ),
            opts=child,
        )
        self.subscriptions = [
            aws.sns.TopicSubscription(
                f"{name}-email-{i}",
                topic=self.topic.arn,
                protocol="email",
                endpoint=email,
                opts=child,
            )
            for i, email in enumerate(args.emails)
        ]
        self.arn = self.topic.arn
        self.register_outputs({"arn": self.topic.arn})

    def grant_publish(self, role: ServiceRole, purpose: str = "publish-alerts") -> aws.iam.RolePolicy:
        """Let ``role`` publish to the topic (and use the key that encrypts it)."""
        return role.grant(
            purpose,
            [
                Statement(sid="PublishAlerts", actions=("sns:Publish",), resources=[self.arn]),
                Statement(
                    sid="EncryptForAlertTopic",
                    actions=("kms:Decrypt", "kms:GenerateDataKey"),
                    resources=[self.key.arn],
                ),
            ],
        )


TREAT_MISSING_DATA = ("breaching", "notBreaching", "ignore", "missing")
COMPARISONS = (
    "GreaterThanOrEqualToThreshold",
    "GreaterThanThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
)
STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")


@dataclass(frozen=True)
class AlarmArgs:
    """One CloudWatch metric alarm. ``treat_missing_data`` has no default on purpose: each
    alarm says whether silence is fine (``notBreaching``), suspicious (``breaching``) or
    should keep the state (``ignore``/``missing``)."""

    namespace: str
    metric_name: str
    threshold: float
    treat_missing_data: str
    description: str
    dimensions: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Default: no dimensions (the metric's aggregate)."""
    statistic: str = "Average"
    """Default: the average over each period."""
    comparison: str = "GreaterThanOrEqualToThreshold"
    """Default: alarm when the statistic reaches the threshold."""
    period: int = 300
    """Default: 5-minute periods."""
    evaluation_periods: int = 1
    """Default: one period decides."""
    datapoints_to_alarm: Optional[int] = None
    """Default: every evaluated period must breach."""

    def problems(self) -> list[str]:
        out = []
        if self.treat_missing_data not in TREAT_MISSING_DATA:
            out.append(f"treat_missing_data: {self.treat_missing_data!r} is not one of {list(TREAT_MISSING_DATA)}")
        if self.comparison not in COMPARISONS:
            out.append(f"comparison: {self.comparison!r} is not one of {list(COMPARISONS)}")
        if self.statistic not in STATISTICS:
            out.append(f"statistic: {self.statistic!r} is not one of {list(STATISTICS)}")
        if self.period not in (10, 20, 30) and (self.period < 60 or self.period % 60):
            out.append(f"period: {self.period} must be 10, 20, 30 or a multiple of 60 seconds")
        if self.evaluation_periods < 1:
            out.append("evaluation_periods: must be at least 1")
        if self.datapoints_to_alarm is not None and not 1 <= self.datapoints_to_alarm <= self.evaluation_periods:
            out.append("datapoints_to_alarm: must be between 1 and evaluation_periods")
        if not self.description.strip():
            out.append("description: say what the alarm means and what to do")
        return out


def metric_alarm(
    name: str, args: AlarmArgs, topic: AlertTopic, opts: pulumi.ResourceOptions
) -> aws.cloudwatch.MetricAlarm:
    """Create a metric alarm that notifies ``topic`` when it fires and when it recovers."""
    problems = args.problems()
    if problems:
        raise ValueError(f"alarm {name!r}: " + "; ".join(problems))
    return aws.cloudwatch.MetricAlarm(
        name,
        alarm_description=args.description,
        namespace=args.namespace,
        metric_name=args.metric_name,
        dimensions=dict(args.dimensions) or None,
        statistic=args.statistic,
        comparison_operator=args.comparison,
        threshold=args.threshold,
        period=args.period,
        evaluation_periods=args.evaluation_periods,
        datapoints_to_alarm=args.datapoints_to_alarm,
        treat_missing_data=args.treat_missing_data,
        alarm_actions=[topic.arn],
        ok_actions=[topic.arn],
        opts=opts,
    )
