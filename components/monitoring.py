"""Alerting and dashboards: the region's alert topic, the alarm helper, the dashboard.

Every alarm the platform defines notifies the region's :class:`AlertTopic` through
:func:`metric_alarm`, which makes the missing-data behaviour an explicit choice and records
the alarm on the topic (so the dashboard shows every alarm's state).

Dashboards: one :class:`Dashboard` per environment and region. Capabilities contribute
widgets (:class:`MetricWidget`, :class:`AlarmStatusWidget`, :class:`TextWidget`), usually
through a ``widgets()`` method; the regional platform collects them and builds the dashboard
last, so the body (JSON built in Python) holds everything the region runs.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence, Union

import pulumi
import pulumi_aws as aws

from components.checks import duplicates, raise_problems
from components.iam import ServiceRole, Statement
from components.kms import ExistingKey, KeyInput, RegionKey, as_key

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
    """The region's KMS-encrypted alert topic with a non-public, TLS-only policy.

    Alarms made with :func:`metric_alarm` are recorded in :attr:`alarms`; :meth:`widgets`
    shows the topic's notifications and the state of those alarms on the dashboard.
    """

    def __init__(
        self, name: str, args: AlertTopicArgs, opts: Optional[pulumi.ResourceOptions] = None
    ) -> None:
        problems = alert_topic_problems(args)
        raise_problems(f"AlertTopic {name!r}", problems)
        super().__init__("mlops:monitoring:AlertTopic", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOptions(parent=self)
        account = aws.get_caller_identity_output(opts=invoke).account_id
        partition = aws.get_partition_output(opts=invoke).partition
        self.key = args.key
        self.alarms: list[aws.cloudwatch.MetricAlarm] = []
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
        self.topic_name = self.topic.name
        self.register_outputs({"arn": self.topic.arn})

    def grant_publish(self, role: ServiceRole, purpose: str = "publish-alerts") -> aws.iam.RolePolicy:
        """Let ``role`` publish to this topic only, and use the topic's key only through SNS
        (``kms:ViaService``) for the data keys an encrypted publish needs."""
        via_sns = self.key.context.apply(lambda c: f"sns.{c.region}.amazonaws.com")
        return role.grant(
            purpose,
            [
                Statement(sid="PublishAlerts", actions=("sns:Publish",), resources=[self.arn]),
                Statement(
                    sid="EncryptForAlertTopic",
                    actions=("kms:Decrypt", "kms:GenerateDataKey"),
                    resources=[self.key.arn],
                    conditions={"StringEquals": {"kms:ViaService": via_sns}},
                ),
            ],
        )

    def record_alarm(self, alarm: aws.cloudwatch.MetricAlarm) -> None:
        """Remember an alarm that notifies this topic (shown by :meth:`widgets`)."""
        self.alarms.append(alarm)

    def widgets(self) -> list["Widget"]:
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
            part = f" ({start // MAX_ALARMS_PER_WIDGET + 1})" if len(self.alarms) > MAX_ALARMS_PER_WIDGET else ""
            out.append(
                AlarmStatusWidget(title=f"Alarms{part}", alarm_arns=[a.arn for a in chunk])
            )
        return out


#: An SNS topic ARN.
TOPIC_ARN_PATTERN = re.compile(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}")


class ExistingAlertTopic:
    """An alert topic the platform did not create (a team's own), used by its ARN.

    Components use it as they use an :class:`AlertTopic`: alarms notify it and are recorded
    for the dashboard; :meth:`grant_publish` lets a role publish to it. The topic's policy and
    encryption are its owner's: it must let this account's CloudWatch alarms and EventBridge
    rules publish (see :func:`topic_policy`), and ``key`` (when the topic is encrypted) must
    let them make data keys.
    """

    def __init__(self, arn: pulumi.Input[str], key: object = None, field_name: str = "alert_topic") -> None:
        if isinstance(arn, str) and not TOPIC_ARN_PATTERN.fullmatch(arn):
            raise ValueError(
                f"{field_name}: {arn!r} is not an SNS topic ARN; expected "
                "arn:<partition>:sns:<region>:<account-id>:<topic-name>"
            )
        self.arn: pulumi.Output[str] = pulumi.Output.from_input(arn)
        self.topic_name: pulumi.Output[str] = self.arn.apply(lambda a: a.rsplit(":", 1)[-1])
        self.key = None if key is None else as_key(key, f"{field_name}.key")
        self.alarms: list[aws.cloudwatch.MetricAlarm] = []

    def grant_publish(self, role: ServiceRole, purpose: str = "publish-alerts") -> aws.iam.RolePolicy:
        """Let ``role`` publish to this topic only (and use its key through SNS, when given)."""
        statements = [Statement(sid="PublishAlerts", actions=("sns:Publish",), resources=[self.arn])]
        if self.key is not None:
            via_sns = self.key.context.apply(lambda c: f"sns.{c.region}.amazonaws.com")
            statements.append(
                Statement(
                    sid="EncryptForAlertTopic",
                    actions=("kms:Decrypt", "kms:GenerateDataKey"),
                    resources=[self.key.arn],
                    conditions={"StringEquals": {"kms:ViaService": via_sns}},
                )
            )
        return role.grant(purpose, statements)

    record_alarm = AlertTopic.record_alarm
    widgets = AlertTopic.widgets


#: What a component accepts for "the alert topic": one it created or an existing topic's ARN.
TopicInput = Union[AlertTopic, ExistingAlertTopic, str, pulumi.Output]


def as_alert_topic(value: object, field_name: str = "alert_topic") -> Union[AlertTopic, ExistingAlertTopic]:
    """``value`` as a usable alert topic: an :class:`AlertTopic` or :class:`ExistingAlertTopic`
    as is, a topic ARN (string or Output) as an :class:`ExistingAlertTopic`; anything else is
    a ``ValueError`` naming ``field_name``."""
    if isinstance(value, (AlertTopic, ExistingAlertTopic)):
        return value
    if isinstance(value, (str, pulumi.Output)):
        return ExistingAlertTopic(value, field_name=field_name)
    raise ValueError(
        f"{field_name}: expected an AlertTopic or an existing SNS topic ARN, got {type(value).__name__}"
    )


def alert_topic_problems(args: AlertTopicArgs) -> list[str]:
    """Every problem with ``args``, each naming its field."""
    emails = list(args.emails)
    problems = [
        f"emails[{i}]: {e!r} is not an email address (write it like ops@example.com)"
        for i, e in enumerate(emails)
        if not isinstance(e, str) or not is_email(e)
    ]
    dupes = duplicates(e for e in emails if isinstance(e, str))
    problems += [f"emails: {e!r} is listed more than once" for e in dupes]
    return problems


# Log groups -----------------------------------------------------------------------------


def log_group_write_statement(
    log_group_arn: pulumi.Input[str],
    sid: str = "WriteToLogGroup",
    *,
    describe_streams: bool = False,
) -> Statement:
    """Create streams in one log group and put events to its streams, nothing else.

    ``log_group_arn`` is the group's ARN without the ``:*`` suffix (``LogGroup.arn``). Both
    actions are scoped to the group's streams (``<group arn>:log-stream:*``), as AWS
    documents for CloudTrail's delivery role. ``describe_streams`` adds
    ``logs:DescribeLogStreams`` (on the group itself), which agents that look up their
    stream before writing need. Reading the group, or any other group, is never granted.
    """
    streams = pulumi.Output.concat(log_group_arn, ":log-stream:*")
    if describe_streams:
        return Statement(
            sid=sid,
            actions=("logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"),
            resources=[log_group_arn, streams],
        )
    return Statement(
        sid=sid, actions=("logs:CreateLogStream", "logs:PutLogEvents"), resources=[streams]
    )


def grant_log_group_write(
    role: ServiceRole,
    log_group_arn: pulumi.Input[str],
    purpose: str = "write-logs",
    *,
    sid: str = "WriteToLogGroup",
    describe_streams: bool = False,
) -> aws.iam.RolePolicy:
    """Let ``role`` write events to one log group (:func:`log_group_write_statement`)."""
    return role.grant(
        purpose, [log_group_write_statement(log_group_arn, sid, describe_streams=describe_streams)]
    )


#: Retention values CloudWatch Logs accepts (PutRetentionPolicy), in days.
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
    1096, 1827, 2192, 2557, 2922, 3288, 3653,
)

TREAT_MISSING_DATA = ("breaching", "notBreaching", "ignore", "missing")
COMPARISONS = (
    "GreaterThanOrEqualToThreshold",
    "GreaterThanThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
)
STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
#: CloudWatch accepts 10, 20 and 30 seconds (high resolution) or any multiple of 60.
HIGH_RESOLUTION_PERIODS = (10, 20, 30)
MAX_DIMENSIONS = 30


def period_problem(field_name: str, period: int) -> Optional[str]:
    """Why ``period`` is not a CloudWatch period, or None."""
    if isinstance(period, bool) or not isinstance(period, int):
        return f"{field_name}: {period!r} must be a whole number of seconds"
    if period in HIGH_RESOLUTION_PERIODS or (period >= 60 and period % 60 == 0):
        return None
    return f"{field_name}: {period} must be 10, 20, 30 or a multiple of 60 seconds"


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
        """Every problem with these arguments, each naming its field."""
        out = []
        if not self.namespace.strip():
            out.append("namespace: must not be empty")
        if not self.metric_name.strip():
            out.append("metric_name: must not be empty")
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, (int, float)) or not math.isfinite(self.threshold):
            out.append(f"threshold: {self.threshold!r} must be a finite number")
        if self.treat_missing_data not in TREAT_MISSING_DATA:
            out.append(f"treat_missing_data: {self.treat_missing_data!r} is not one of {list(TREAT_MISSING_DATA)}")
        if self.comparison not in COMPARISONS:
            out.append(f"comparison: {self.comparison!r} is not one of {list(COMPARISONS)}")
        if self.statistic not in STATISTICS:
            out.append(f"statistic: {self.statistic!r} is not one of {list(STATISTICS)}")
        bad_period = period_problem("period", self.period)
        if bad_period:
            out.append(bad_period)
        if isinstance(self.evaluation_periods, bool) or not isinstance(self.evaluation_periods, int) or self.evaluation_periods < 1:
            out.append(f"evaluation_periods: {self.evaluation_periods!r} must be at least 1")
        elif self.datapoints_to_alarm is not None and not 1 <= self.datapoints_to_alarm <= self.evaluation_periods:
            out.append(
                f"datapoints_to_alarm: {self.datapoints_to_alarm} must be between 1 and "
                f"evaluation_periods ({self.evaluation_periods})"
            )
        if len(self.dimensions) > MAX_DIMENSIONS:
            out.append(f"dimensions: {len(self.dimensions)} given; CloudWatch allows {MAX_DIMENSIONS}")
        if not self.description.strip():
            out.append("description: say what the alarm means and what to do")
        elif len(self.description) > 1024:
            out.append(f"description: {len(self.description)} characters; CloudWatch allows 1024")
        return out


def metric_alarm(
    name: str, args: AlarmArgs, topic: AlertTopic, opts: pulumi.ResourceOptions
) -> aws.cloudwatch.MetricAlarm:
    """Create a metric alarm that notifies ``topic`` when it fires and when it recovers.

    Raises one ``ValueError`` naming every bad field before anything is registered. The
    alarm is recorded on the topic, so the region's dashboard shows its state.
    """
    problems = args.problems()
    raise_problems(f"alarm {name!r}", problems)
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
        alarm_actions=[topic.arn],
        ok_actions=[topic.arn],
        opts=opts,
    )
    topic.record_alarm(alarm)
    return alarm


# Dashboards -------------------------------------------------------------------------------

#: CloudWatch dashboards are a grid 24 units wide.
GRID_WIDTH = 24
MAX_WIDGETS = 500
MAX_ALARMS_PER_WIDGET = 100
MAX_METRICS_PER_WIDGET = 500
WIDGET_STATISTICS = STATISTICS
WIDGET_VIEWS = ("timeSeries", "singleValue", "bar", "pie")
_DASHBOARD_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,255}$")


@dataclass(frozen=True)
class Metric:
    """One metric line of a :class:`MetricWidget`."""

    namespace: str
    name: str
    dimensions: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Default: no dimensions (the metric's aggregate)."""
    label: Optional[str] = None
    """Default: CloudWatch labels the line with the metric name and dimensions."""

    def to_json(self) -> list[Any]:
        """The CloudWatch ``metrics`` array row: namespace, name, dimension pairs, options."""
        row: list[Any] = [self.namespace, self.name]
        for key, value in self.dimensions.items():
            row += [key, value]
        if self.label:
            row.append({"label": self.label})
        return row


def _size_problems(width: int, height: int) -> list[str]:
    out = []
    if not 1 <= width <= GRID_WIDTH:
        out.append(f"width: {width} must be 1..{GRID_WIDTH}")
    if not 1 <= height <= 1000:
        out.append(f"height: {height} must be 1..1000")
    return out


@dataclass(frozen=True)
class MetricWidget:
    """A graph of one or more metrics."""

    title: str
    metrics: Sequence[Metric]
    stat: str = "Sum"
    """Default: the sum over each period (counts of events)."""
    period: int = 300
    """Default: 5-minute points."""
    view: str = "timeSeries"
    """Default: a line graph over time."""
    stacked: bool = False
    """Default: lines, not stacked areas."""
    width: int = 12
    """Default: half the dashboard's width."""
    height: int = 6
    """Default: 6 grid units high."""

    type = "metric"

    def problems(self) -> list[str]:
        out = [] if self.title.strip() else ["title: must not be empty"]
        if not self.metrics:
            out.append("metrics: give at least one metric")
        elif len(self.metrics) > MAX_METRICS_PER_WIDGET:
            out.append(f"metrics: {len(self.metrics)} given; a widget shows at most {MAX_METRICS_PER_WIDGET}")
        for i, metric in enumerate(self.metrics):
            if not metric.namespace.strip() or not metric.name.strip():
                out.append(f"metrics[{i}]: namespace and name must not be empty")
        if self.stat not in WIDGET_STATISTICS:
            out.append(f"stat: {self.stat!r} is not one of {list(WIDGET_STATISTICS)}")
        bad_period = period_problem("period", self.period)
        if bad_period:
            out.append(bad_period)
        if self.view not in WIDGET_VIEWS:
            out.append(f"view: {self.view!r} is not one of {list(WIDGET_VIEWS)}")
        return out + _size_problems(self.width, self.height)

    def properties(self, region: str) -> dict[str, Any]:
        return {
            "title": self.title,
            "region": region,
            "view": self.view,
            "stacked": self.stacked,
            "stat": self.stat,
            "period": self.period,
            "metrics": [m.to_json() for m in self.metrics],
        }


@dataclass(frozen=True)
class AlarmStatusWidget:
    """The current state of up to 100 alarms."""

    title: str
    alarm_arns: Sequence[pulumi.Input[str]]
    width: int = 24
    """Default: the dashboard's full width."""
    height: int = 6
    """Default: 6 grid units high."""

    type = "alarm"

    def problems(self) -> list[str]:
        out = [] if self.title.strip() else ["title: must not be empty"]
        if not self.alarm_arns:
            out.append("alarm_arns: give at least one alarm")
        elif len(self.alarm_arns) > MAX_ALARMS_PER_WIDGET:
            out.append(f"alarm_arns: {len(self.alarm_arns)} given; a widget shows at most {MAX_ALARMS_PER_WIDGET}")
        return out + _size_problems(self.width, self.height)

    def properties(self, region: str) -> dict[str, Any]:
        return {
            "title": self.title,
            "alarms": list(self.alarm_arns),
            "sortBy": "stateUpdatedTimestamp",
        }


@dataclass(frozen=True)
class TextWidget:
    """A block of Markdown (headings, runbook links)."""

    markdown: str
    width: int = 24
    """Default: the dashboard's full width."""
    height: int = 2
    """Default: 2 grid units high (a heading line)."""

    type = "text"

    def problems(self) -> list[str]:
        out = [] if self.markdown.strip() else ["markdown: must not be empty"]
        return out + _size_problems(self.width, self.height)

    def properties(self, region: str) -> dict[str, Any]:
        return {"markdown": self.markdown}


Widget = Union[MetricWidget, AlarmStatusWidget, TextWidget]


def layout(sizes: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Positions ``(x, y)`` for widgets of ``(width, height)``, in order, left to right in
    rows of :data:`GRID_WIDTH` units; a widget that does not fit starts a new row below the
    tallest widget of the current row. Widgets never overlap."""
    positions = []
    x = y = row_height = 0
    for width, height in sizes:
        if x + width > GRID_WIDTH:
            x, y, row_height = 0, y + row_height, 0
        positions.append((x, y))
        x += width
        row_height = max(row_height, height)
    return positions


def dashboard_body(widgets: Sequence[Widget], region: str) -> dict[str, Any]:
    """The dashboard body (values may be Outputs; serialise with ``Output.json_dumps``)."""
    positions = layout([(w.width, w.height) for w in widgets])
    return {
        "widgets": [
            {
                "type": w.type,
                "x": x,
                "y": y,
                "width": w.width,
                "height": w.height,
                "properties": w.properties(region),
            }
            for w, (x, y) in zip(widgets, positions)
        ]
    }


@dataclass(frozen=True)
class DashboardArgs:
    """Arguments of :class:`Dashboard`."""

    dashboard_name: str
    """The dashboard's name (letters, digits, ``-`` and ``_``), unique in the account and
    region, e.g. ``mlops-dev-eu-west-1``."""
    region: str
    """The region whose metrics the widgets show."""
    widgets: Sequence[Widget]
    """The widgets, in reading order (at least one, at most 500)."""

    def problems(self) -> list[str]:
        out = []
        if not _DASHBOARD_NAME_RE.match(self.dashboard_name):
            out.append(
                f"dashboard_name: {self.dashboard_name!r} must be 1-255 letters, digits, '-' or '_'"
            )
        if not self.region.strip():
            out.append("region: must not be empty")
        if not self.widgets:
            out.append("widgets: give at least one widget")
        elif len(self.widgets) > MAX_WIDGETS:
            out.append(f"widgets: {len(self.widgets)} given; a dashboard holds at most {MAX_WIDGETS}")
        for i, widget in enumerate(self.widgets):
            out += [f"widgets[{i}].{p}" for p in widget.problems()]
        return out


class Dashboard(pulumi.ComponentResource):
    """One CloudWatch dashboard whose body is built from the given widgets."""

    def __init__(
        self, name: str, args: DashboardArgs, opts: Optional[pulumi.ResourceOptions] = None
    ) -> None:
        problems = args.problems()
        raise_problems(f"Dashboard {name!r}", problems)
        super().__init__("mlops:monitoring:Dashboard", name, None, opts)
        self.dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard",
            dashboard_name=args.dashboard_name,
            dashboard_body=pulumi.Output.json_dumps(dashboard_body(args.widgets, args.region)),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.dashboard_name = self.dashboard.dashboard_name
        self.arn = self.dashboard.dashboard_arn
        self.register_outputs({"name": self.dashboard.dashboard_name})


def network_widgets(
    flow_log_group_name: pulumi.Input[str], nat_gateway_ids: Sequence[pulumi.Input[str]]
) -> list[Widget]:
    """Dashboard widgets for a region's network: flow-log volume and, when the region has
    NAT gateways, their traffic and their errors (port allocation, dropped packets)."""
    out: list[Widget] = [
        MetricWidget(
            title="VPC flow logs ingested (bytes)",
            metrics=[
                Metric("AWS/Logs", "IncomingBytes", {"LogGroupName": flow_log_group_name}),
            ],
        )
    ]
    if nat_gateway_ids:
        nats = [(i, {"NatGatewayId": nat}) for i, nat in enumerate(nat_gateway_ids)]
        out.append(
            MetricWidget(
                title="NAT gateway traffic (bytes)",
                metrics=[
                    Metric("AWS/NATGateway", metric, dims, label=f"nat-{i} {label}")
                    for i, dims in nats
                    for metric, label in (
                        ("BytesOutToDestination", "out"),
                        ("BytesInFromDestination", "in"),
                    )
                ],
            )
        )
        out.append(
            MetricWidget(
                title="NAT gateway errors",
                metrics=[
                    Metric("AWS/NATGateway", metric, dims, label=f"nat-{i} {label}")
                    for i, dims in nats
                    for metric, label in (
                        ("ErrorPortAllocation", "port allocation errors"),
                        ("PacketsDropCount", "dropped packets"),
                    )
                ],
            )
        )
    return out
