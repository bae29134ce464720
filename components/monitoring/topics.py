"""The region's alert topic, a team's own topic brought by ARN, and the alarms notifying them.

Every alarm the platform defines notifies the region's :class:`AlertTopic` (or an
:class:`ExistingAlertTopic`) through :func:`metric_alarm`, which makes the missing-data
behaviour an explicit choice and records the alarm on the topic (so the dashboard shows
every alarm's state).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components.checks import duplicates, raise_problems
from components.iam import ArnInput, ServiceRole, Statement
from components.kms import ExistingKey, KeyInput, RegionKey, as_key, key_input_problem
from components.monitoring.alarms import AlarmArgs
from components.monitoring.dashboards import (
    MAX_ALARMS_PER_WIDGET,
    AlarmStatusWidget,
    Metric,
    MetricWidget,
    Widget,
)

_EMAIL_RE = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)

#: Publishers that deliver alarms and events to the topic.
ALARM_PUBLISHERS = ("cloudwatch.amazonaws.com", "events.amazonaws.com")


def is_email(value: str) -> bool:
    """A plain address (``name@example.com``), as SNS email subscriptions need."""
    return bool(_EMAIL_RE.match(value)) and len(value) <= 254


def email_key(address: str) -> str:
    """What identifies an address: the same mailbox written in another case is the same key
    (mail domains are case-insensitive, and providers treat local parts so too)."""
    return address.strip().lower()


def subscription_name(topic_name: str, address: str) -> str:
    """The logical name of ``address``'s email subscription to the topic ``topic_name``.

    Derived from the address itself, never from its position in a list: adding or removing
    one address then creates or deletes that subscription only, and every other subscription
    keeps its URN (a replaced email subscription must be confirmed again by its owner). The
    name is the address made readable (letters and digits, ``-`` for anything else, cut to 40
    characters) followed by 10 hex digits of the SHA-256 of the lower-cased address, so two
    addresses that read alike still get different names."""
    key = email_key(address)
    readable = re.sub(r"[^a-z0-9]+", "-", key).strip("-")[:40].rstrip("-")
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:10]
    return f"{topic_name}-email-{readable}-{digest}"


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


def publish_statements(topic_arn: ArnInput, key: RegionKey | ExistingKey | None) -> list[Statement]:
    """Publish to one topic only and, when the topic is encrypted with ``key``, use that key
    only through SNS (``kms:ViaService``) for the data keys an encrypted publish needs."""
    statements = [Statement(sid="PublishAlerts", actions=("sns:Publish",), resources=[topic_arn])]
    if key is not None:
        via_sns = key.context.apply(lambda c: f"sns.{c.region}.amazonaws.com")
        statements.append(
            Statement(
                sid="EncryptForAlertTopic",
                actions=("kms:Decrypt", "kms:GenerateDataKey"),
                resources=[key.arn],
                conditions={"StringEquals": {"kms:ViaService": via_sns}},
            )
        )
    return statements


def _policy_json(values: list[Any]) -> pulumi.Input[str]:
    """The topic policy of ``[topic arn, account id, partition]`` as JSON text."""
    return pulumi.Output.json_dumps(topic_policy(values[0], values[1], values[2]))


class TopicAlarms:
    """The alarms notifying a topic, and the dashboard widgets that show them.

    Shared by :class:`AlertTopic` and :class:`ExistingAlertTopic`, which set ``alarms`` and
    ``topic_name``.
    """

    alarms: list[aws.cloudwatch.MetricAlarm]
    topic_name: pulumi.Output[str]

    def record_alarm(self, alarm: aws.cloudwatch.MetricAlarm) -> None:
        """Remember an alarm that notifies this topic (shown by :meth:`widgets`)."""
        self.alarms.append(alarm)

    def widgets(self) -> list[Widget]:
        """Dashboard widgets: notifications published/delivered/failed, and the state of
        every alarm recorded so far (one status widget per 100 alarms, CloudWatch's limit)."""
        dims = {"TopicName": self.topic_name}
        out: list[Widget] = [
            MetricWidget(
                title="Alert notifications",
                metrics=[
                    Metric("AWS/SNS", "NumberOfMessagesPublished", dims, label="published"),
                    Metric("AWS/SNS", "NumberOfNotificationsDelivered", dims, label="delivered"),
                    Metric("AWS/SNS", "NumberOfNotificationsFailed", dims, label="failed"),
                ],
                stat="Sum",
            )
        ]
        for start in range(0, len(self.alarms), MAX_ALARMS_PER_WIDGET):
            chunk = self.alarms[start : start + MAX_ALARMS_PER_WIDGET]
            part = (
                f" ({start // MAX_ALARMS_PER_WIDGET + 1})"
                if len(self.alarms) > MAX_ALARMS_PER_WIDGET
                else ""
            )
            out.append(AlarmStatusWidget(title=f"Alarms{part}", alarm_arns=[a.arn for a in chunk]))
        return out


# The platform's topic ---------------------------------------------------------------------


@dataclass(frozen=True)
class AlertTopicArgs:
    """Arguments of :class:`AlertTopic`."""

    key: KeyInput
    """The region key, or the ARN of an existing KMS key; encrypts the topic. Its key policy
    must let CloudWatch alarms and EventBridge rules use it (the region key's ``alarms``
    use, see ``components.kms.key_policy``)."""
    emails: Sequence[str] = ()
    """Default: no subscriptions. Each address gets an email subscription, which its owner
    must confirm (SNS sends a confirmation message; until it is confirmed nothing is
    delivered to it). Subscriptions are named by address (:func:`subscription_name`), so
    adding or removing an address leaves the others' subscriptions alone."""
    topic_name: str | None = None
    """Default: a unique name Pulumi derives from the resource name. A fixed name (1-256
    letters, digits, ``-`` or ``_``) makes the topic's ARN known before it exists, as the
    persistent alert topics of ``deploy/alerts`` need."""
    protect: bool = False
    """Default: unprotected. When true the topic, its policy and its subscriptions are
    protected (``pulumi destroy`` refuses) and retained on delete: a topic whose
    subscriptions were confirmed once and must outlive the stacks that alarm to it."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Default: no extra tags beyond ``Name``."""


_TOPIC_NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")


def alert_topic_problems(args: AlertTopicArgs) -> list[str]:
    """Every problem with ``args``, each naming its field."""
    key_problem = key_input_problem(args.key, "key")
    problems = [key_problem] if key_problem else []
    emails = list(args.emails)
    problems += [
        f"emails[{i}]: {e!r} is not an email address (write it like ops@example.com)"
        for i, e in enumerate(emails)
        if not isinstance(e, str) or not is_email(e)
    ]
    dupes = duplicates(email_key(e) for e in emails if isinstance(e, str))
    problems += [
        f"emails: {e!r} is listed more than once (addresses are compared ignoring case)"
        for e in dupes
    ]
    if args.topic_name is not None and not (
        isinstance(args.topic_name, str) and _TOPIC_NAME_RE.fullmatch(args.topic_name)
    ):
        problems.append(
            f"topic_name: {args.topic_name!r} is not a standard topic name "
            "(1-256 letters, digits, '-' or '_')"
        )
    return problems


class AlertTopic(TopicAlarms, pulumi.ComponentResource):
    """The region's KMS-encrypted alert topic with a non-public, TLS-only policy.

    Alarms made with :func:`metric_alarm` are recorded in :attr:`alarms`; :meth:`widgets`
    shows the topic's notifications and the state of those alarms on the dashboard.
    """

    def __init__(
        self, name: str, args: AlertTopicArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        problems = alert_topic_problems(args)
        raise_problems(f"AlertTopic {name!r}", problems)
        key = as_key(args.key, "key")
        super().__init__("mlops:monitoring:AlertTopic", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOptions(parent=self)
        account = aws.get_caller_identity_output(opts=invoke).account_id
        partition = aws.get_partition_output(opts=invoke).partition
        self.key = key
        self.alarms = []
        if args.protect:
            child = pulumi.ResourceOptions(parent=self, protect=True, retain_on_delete=True)
        self.topic = aws.sns.Topic(
            f"{name}-topic",
            name=args.topic_name,
            kms_master_key_id=key.arn,
            tags={"Name": args.topic_name or f"{name}-topic", **args.tags},
            opts=child,
        )
        self.policy = aws.sns.TopicPolicy(
            f"{name}-policy",
            arn=self.topic.arn,
            policy=pulumi.Output.all(self.topic.arn, account, partition).apply(_policy_json),
            opts=child,
        )
        self.subscriptions = [
            aws.sns.TopicSubscription(
                subscription_name(name, email),
                topic=self.topic.arn,
                protocol="email",
                endpoint=email,
                # Subscriptions used to be named by position (`<name>-email-<i>`): an address
                # still at its old position adopts its confirmed subscription, not a new one.
                opts=pulumi.ResourceOptions.merge(
                    child, pulumi.ResourceOptions(aliases=[pulumi.Alias(name=f"{name}-email-{i}")])
                ),
            )
            for i, email in enumerate(args.emails)
        ]
        self.arn = self.topic.arn
        self.topic_name = self.topic.name
        self.register_outputs({"arn": self.topic.arn})

    def grant_publish(
        self, role: ServiceRole, purpose: str = "publish-alerts"
    ) -> aws.iam.RolePolicy:
        """Let ``role`` publish to this topic only, and use the topic's key only through SNS
        (``kms:ViaService``) for the data keys an encrypted publish needs."""
        return role.grant(purpose, publish_statements(self.arn, self.key))


# A team's own topic -----------------------------------------------------------------------

#: An SNS topic ARN (a standard topic: names are letters, digits, '-' and '_').
TOPIC_ARN_PATTERN = re.compile(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}")
_TOPIC_ARN_FORM = "arn:<partition>:sns:<region>:<account-id>:<topic-name>"


def topic_arn_problem(arn: object, field_name: str = "alert_topic") -> str | None:
    """Why ``arn`` is not the ARN of a topic alarms can notify (naming ``field_name``), or None."""
    if isinstance(arn, str) and TOPIC_ARN_PATTERN.fullmatch(arn):
        return None
    if isinstance(arn, str) and arn.endswith(".fifo") and TOPIC_ARN_PATTERN.fullmatch(arn[:-5]):
        return (
            f"{field_name}: {arn!r} is a FIFO topic: give a standard topic (a FIFO topic needs a "
            "message group id on every publish and delivers only to SQS queues)"
        )
    return f"{field_name}: {arn!r} is not an SNS topic ARN (expected {_TOPIC_ARN_FORM})"


@dataclass(frozen=True)
class TopicArnParts:
    """The parts of a standard topic's ARN."""

    partition: str
    region: str
    account_id: str
    name: str


def topic_arn_parts(arn: str) -> TopicArnParts | None:
    """The partition, region, account and name of a standard topic's ARN; None for anything
    else (``topic_arn_problem`` says why)."""
    if topic_arn_problem(arn) is not None:
        return None
    _, partition, _, region, account_id, name = arn.split(":", 5)
    return TopicArnParts(partition, region, account_id, name)


def _checked_topic_arn(arn: str, field_name: str) -> str:
    problem = topic_arn_problem(arn, field_name)
    if problem:
        raise ValueError(problem)
    return arn


# An alarm can only notify a topic of its own region: PutMetricAlarm answers "ValidationError:
# Invalid region ca-central-1 specified. Only us-west-2 is supported" for a topic elsewhere
# (https://github.com/cds-snc/notification-terraform/pull/128). The topic policy must let
# cloudwatch.amazonaws.com publish, and an encrypted topic's customer managed key must let
# CloudWatch use kms:Decrypt and kms:GenerateDataKey (AWS re:Post knowledge center,
# https://repost.aws/knowledge-center/cloudwatch-receive-sns-for-alarm-trigger and
# https://repost.aws/knowledge-center/cloudwatch-configure-alarm-sns).
class ExistingAlertTopic(TopicAlarms):
    """An alert topic the platform did not create (a team's own), used by its ARN.

    Components use it as they use an :class:`AlertTopic`: alarms notify it and are recorded
    for the dashboard; :meth:`grant_publish` lets a role publish to it. The topic's policy and
    encryption are its owner's: it must let this account's CloudWatch alarms and EventBridge
    rules publish (see :func:`topic_policy`), and ``key`` (when the topic is encrypted) must
    let them make data keys. It must be in the region of the alarms that notify it.

    A string ARN is checked here (``ValueError`` naming ``field_name``); an Output ARN is
    checked once its value is known.
    """

    def __init__(
        self,
        arn: pulumi.Input[str],
        key: KeyInput | None = None,
        field_name: str = "alert_topic",
    ) -> None:
        problems = [
            None if isinstance(arn, pulumi.Output) else topic_arn_problem(arn, field_name),
            None if key is None else key_input_problem(key, f"{field_name}.key"),
        ]
        if any(problems):
            raise ValueError("; ".join(p for p in problems if p))
        if isinstance(arn, pulumi.Output):
            self.arn: pulumi.Output[str] = arn.apply(lambda a: _checked_topic_arn(a, field_name))
        else:
            self.arn = pulumi.Output.from_input(arn)
        self.topic_name = self.arn.apply(lambda a: a.rsplit(":", 1)[-1])
        self.key: RegionKey | ExistingKey | None = (
            None if key is None else as_key(key, f"{field_name}.key")
        )
        self.alarms = []

    def grant_publish(
        self, role: ServiceRole, purpose: str = "publish-alerts"
    ) -> aws.iam.RolePolicy:
        """Let ``role`` publish to this topic only (and use its key through SNS, when given)."""
        return role.grant(purpose, publish_statements(self.arn, self.key))


#: What a component accepts for "the alert topic": one it created or an existing topic's ARN.
TopicInput = AlertTopic | ExistingAlertTopic | str | pulumi.Output[str]


def alert_topic_input_problem(value: object, field_name: str = "alert_topic") -> str | None:
    """Why ``value`` cannot be used as the alert topic (naming ``field_name``), or None.

    Pure (no Outputs are made), for components to collect with their other checks."""
    if isinstance(value, (AlertTopic, ExistingAlertTopic, pulumi.Output)):
        return None
    if isinstance(value, str):
        return topic_arn_problem(value, field_name)
    return (
        f"{field_name}: expected an AlertTopic or an existing SNS topic ARN "
        f"({_TOPIC_ARN_FORM}), got {type(value).__name__}"
    )


def as_alert_topic(
    value: object, field_name: str = "alert_topic"
) -> AlertTopic | ExistingAlertTopic:
    """``value`` as a usable alert topic: an :class:`AlertTopic` or :class:`ExistingAlertTopic`
    as is, a topic ARN (string or Output) as an :class:`ExistingAlertTopic`; anything else is
    a ``ValueError`` naming ``field_name``."""
    if isinstance(value, (AlertTopic, ExistingAlertTopic)):
        return value
    problem = alert_topic_input_problem(value, field_name)
    if problem is not None:
        raise ValueError(problem)
    assert isinstance(value, (str, pulumi.Output))
    return ExistingAlertTopic(value, field_name=field_name)


# Alarms -----------------------------------------------------------------------------------


def metric_alarm(
    name: str, args: AlarmArgs, topic: TopicInput, opts: pulumi.ResourceOptions
) -> aws.cloudwatch.MetricAlarm:
    """Create a metric alarm that notifies ``topic`` when it fires and when it recovers.

    ``topic`` is an :class:`AlertTopic` or an :class:`ExistingAlertTopic` (a topic ARN is
    taken as an existing topic). Raises one ``ValueError`` naming every bad field before
    anything is registered. The alarm is recorded on the topic, so the region's dashboard
    shows its state.
    """
    problems = args.problems()
    topic_problem = alert_topic_input_problem(topic, "topic")
    if topic_problem:
        problems.append(topic_problem)
    raise_problems(f"alarm {name!r}", problems)
    target = as_alert_topic(topic, "topic")
    alarm = aws.cloudwatch.MetricAlarm(
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
        alarm_actions=[target.arn],
        ok_actions=[target.arn],
        opts=opts,
    )
    target.record_alarm(alarm)
    return alarm
