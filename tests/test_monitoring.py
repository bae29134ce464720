"""Alerting and dashboards: the alert topic, the alarm helper, the dashboard and its widgets."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pulumi
import pytest
from hypothesis import given
from hypothesis import strategies as st
from parliament import analyze_policy_string

from components.iam import ServiceRole, ServiceRoleArgs
from components.kms import RegionKey, RegionKeyArgs
from components.monitoring import (
    GRID_WIDTH,
    LOG_RETENTION_DAYS,
    AlarmArgs,
    AlarmStatusWidget,
    AlertTopic,
    AlertTopicArgs,
    Dashboard,
    DashboardArgs,
    ExistingAlertTopic,
    Metric,
    MetricWidget,
    TextWidget,
    as_alert_topic,
    dashboard_body,
    grant_log_group_write,
    is_email,
    layout,
    metric_alarm,
    network_widgets,
    subscription_name,
    topic_arn_problem,
)
from stacks.config import CLOUDWATCH_RETENTION_DAYS, ConfigError, parse_raw_config
from stacks.offline import Plan, render_components

TOPIC = "aws:sns/topic:Topic"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"


def one(plan: Plan, typ: str) -> dict[str, Any]:
    found = plan.of_type(typ)
    assert len(found) == 1, (typ, len(found))
    return found[0]


def key_and_topic(opts, emails=()) -> tuple[RegionKey, AlertTopic]:
    key = RegionKey("k", RegionKeyArgs(alias="t", services=("logs", "alarms")), opts=opts)
    return key, AlertTopic("alerts", AlertTopicArgs(key=key, emails=list(emails)), opts=opts)


def render_topic(emails=("ops@example.com", "oncall@example.com")) -> Plan:
    return render_components(lambda opts: key_and_topic(opts, emails))


def alarm_args(**overrides: Any) -> AlarmArgs:
    values: dict[str, Any] = {
        "namespace": "AWS/EC2",
        "metric_name": "CPUUtilization",
        "threshold": 80,
        "treat_missing_data": "breaching",
        "description": "CPU high: scale out or find the runaway process.",
    }
    values.update(overrides)
    return AlarmArgs(**values)


def failing_render(build: Callable[[Any], None]) -> tuple[Plan, ValueError]:
    """Render ``build``, which must raise ValueError; return the plan and the error."""
    caught: list[ValueError] = []

    def wrapped(opts) -> None:
        try:
            build(opts)
        except ValueError as exc:
            caught.append(exc)

    plan = render_components(wrapped)
    assert len(caught) == 1, "the component did not refuse its arguments"
    return plan, caught[0]


def parliament_findings(document: dict[str, Any]) -> list[str]:
    return [
        f"{f.issue}: {f.detail}"
        for f in analyze_policy_string(
            json.dumps(document), include_community_auditors=True
        ).findings
    ]


# AlertTopic ----------------------------------------------------------------------------


def test_topic_is_encrypted_with_the_region_key() -> None:
    plan = render_topic()
    key = one(plan, "aws:kms/key:Key")
    topic = one(plan, TOPIC)
    assert (
        topic["inputs"]["kmsMasterKeyId"] == f"arn:aws:kms:eu-west-1:123456789012:key/{key['id']}"
    )


def test_topic_policy_is_not_public_and_requires_tls() -> None:
    plan = render_topic()
    topic = one(plan, TOPIC)
    policy_resource = one(plan, "aws:sns/topicPolicy:TopicPolicy")
    topic_arn = f"arn:aws:sns:eu-west-1:123456789012:{topic['id']}"
    assert policy_resource["inputs"]["arn"] == topic_arn
    policy = json.loads(policy_resource["inputs"]["policy"])
    statements = {s["Sid"]: s for s in policy["Statement"]}
    assert all(s["Resource"] == topic_arn for s in statements.values())
    # The only "*" principal is the TLS denial.
    star = [
        s for s in statements.values() if s["Principal"] == "*" or s["Principal"].get("AWS") == "*"
    ]
    assert star == [statements["DenyPublishWithoutTls"]]
    deny = statements["DenyPublishWithoutTls"]
    assert deny["Effect"] == "Deny"
    assert deny["Action"] == "sns:Publish"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    # Publishers: alarms and rules of this account only; nobody else is granted anything
    # (the account's own principals are governed by IAM policies).
    assert set(statements) == {"AlarmsAndRulesOfThisAccountPublish", "DenyPublishWithoutTls"}
    publish = statements["AlarmsAndRulesOfThisAccountPublish"]
    assert publish["Principal"] == {"Service": ["cloudwatch.amazonaws.com", "events.amazonaws.com"]}
    assert publish["Action"] == "sns:Publish"
    assert publish["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}
    allowed = [
        a
        for s in statements.values()
        if s["Effect"] == "Allow"
        for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    ]
    assert not [a for a in allowed if a.endswith("*")]
    assert parliament_findings(policy) == []


def test_email_subscriptions_one_per_address() -> None:
    plan = render_topic(emails=("ops@example.com", "oncall@example.com"))
    topic_arn = f"arn:aws:sns:eu-west-1:123456789012:{one(plan, TOPIC)['id']}"
    subs = plan.of_type("aws:sns/topicSubscription:TopicSubscription")
    assert sorted(
        (s["inputs"]["protocol"], s["inputs"]["endpoint"], s["inputs"]["topic"]) for s in subs
    ) == [
        ("email", "oncall@example.com", topic_arn),
        ("email", "ops@example.com", topic_arn),
    ]
    assert render_topic(emails=()).of_type("aws:sns/topicSubscription:TopicSubscription") == []


SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"


def subscription_urns(plan: Plan) -> dict[str, str]:
    """Address -> URN of its email subscription."""
    return {s["inputs"]["endpoint"]: s["urn"] for s in plan.of_type(SUBSCRIPTION)}


def test_adding_an_address_first_keeps_every_other_subscription() -> None:
    # Named by position, a new first address renamed (replaced) every subscription, and
    # each replaced one had to be confirmed again by its owner.
    before = subscription_urns(render_topic(emails=("a@example.com", "b@example.com")))
    after = subscription_urns(
        render_topic(emails=("c@example.com", "a@example.com", "b@example.com"))
    )
    assert set(after) == {"a@example.com", "b@example.com", "c@example.com"}
    assert after["a@example.com"] == before["a@example.com"]
    assert after["b@example.com"] == before["b@example.com"]
    assert len(set(after.values())) == 3


def test_removing_an_address_keeps_the_others_subscriptions() -> None:
    before = subscription_urns(
        render_topic(emails=("a@example.com", "b@example.com", "c@example.com"))
    )
    after = subscription_urns(render_topic(emails=("a@example.com", "c@example.com")))
    assert after == {k: v for k, v in before.items() if k != "b@example.com"}


def test_subscription_names_are_stable_valid_and_distinct() -> None:
    name = subscription_name("eu-west-1-alerts", "Ops.Team+alerts@Example.com")
    assert name == subscription_name("eu-west-1-alerts", "ops.team+alerts@example.com")
    assert re.fullmatch(r"eu-west-1-alerts-email-ops-team-alerts-example-com-[0-9a-f]{10}", name)
    # Addresses that read alike still get different names.
    assert subscription_name("t", "a.b@example.com") != subscription_name("t", "a-b@example.com")
    long = subscription_name("t", "x" * 60 + "@example.com")
    assert len(long) < len("t-email-") + 40 + 12


def test_existing_position_named_subscriptions_are_adopted_through_aliases() -> None:
    # The alias is recorded by the engine, not in the plan: check the registered options.
    captured: list[pulumi.ResourceOptions] = []

    def transformation(args: pulumi.ResourceTransformationArgs):
        if args.type_ == SUBSCRIPTION:
            captured.append(args.opts)
        return None

    def build(opts) -> None:
        key = RegionKey("k", RegionKeyArgs(alias="t", services=("alarms",)), opts=opts)
        AlertTopic(
            "alerts",
            AlertTopicArgs(key=key, emails=["a@example.com", "b@example.com"]),
            opts=pulumi.ResourceOptions.merge(
                opts, pulumi.ResourceOptions(transformations=[transformation])
            ),
        )

    render_components(build)
    names = [[a.name for a in o.aliases or [] if isinstance(a, pulumi.Alias)] for o in captured]
    assert names == [["alerts-email-0"], ["alerts-email-1"]]


def test_addresses_differing_only_in_case_are_one_address() -> None:
    def build(opts) -> None:
        key = RegionKey("k", RegionKeyArgs(alias="t", services=("alarms",)), opts=opts)
        AlertTopic(
            "alerts",
            AlertTopicArgs(key=key, emails=["Ops@Example.com", "ops@example.com"]),
            opts=opts,
        )

    plan, error = failing_render(build)
    assert "emails: 'ops@example.com' is listed more than once" in str(error)
    assert plan.of_type(SUBSCRIPTION) == []


def test_a_named_protected_topic_for_persistent_alerts() -> None:
    def build(opts) -> None:
        key = RegionKey("k", RegionKeyArgs(alias="t", services=("alarms",)), opts=opts)
        AlertTopic(
            "alerts",
            AlertTopicArgs(
                key=key, emails=["a@example.com"], topic_name="mlops-dev-alerts", protect=True
            ),
            opts=opts,
        )

    plan = render_components(build)
    topic = one(plan, TOPIC)
    assert topic["inputs"]["name"] == "mlops-dev-alerts"
    assert topic["inputs"]["tags"]["Name"] == "mlops-dev-alerts"
    for typ in (TOPIC, "aws:sns/topicPolicy:TopicPolicy", SUBSCRIPTION):
        options = one(plan, typ)["options"]
        assert options["protect"] is True and options["retainOnDelete"] is True, typ
    # Unnamed and unprotected by default.
    default = render_topic()
    assert "name" not in one(default, TOPIC)["inputs"]
    assert one(default, TOPIC)["options"]["protect"] is False


@pytest.mark.parametrize("topic_name", ["", "has space", "x" * 257, "alerts.fifo"])
def test_bad_topic_names_are_refused(topic_name: str) -> None:
    def build(opts) -> None:
        key = RegionKey("k", RegionKeyArgs(alias="t", services=("alarms",)), opts=opts)
        AlertTopic("alerts", AlertTopicArgs(key=key, topic_name=topic_name), opts=opts)

    plan, error = failing_render(build)
    assert "topic_name:" in str(error) and plan.of_type(TOPIC) == []


@pytest.mark.parametrize(
    "emails, message",
    [
        (["not-an-address"], r"emails\[0\]: 'not-an-address' is not an email address"),
        (["ops@example.com", "ops@"], r"emails\[1\]: 'ops@' is not an email address"),
        (["a b@example.com"], r"emails\[0\]: 'a b@example.com'"),
        (
            ["ops@example.com", "ops@example.com"],
            r"emails: 'ops@example.com' is listed more than once",
        ),
    ],
)
def test_bad_alert_emails_are_refused_before_anything_is_registered(emails, message) -> None:
    def build(opts) -> None:
        key = RegionKey("k", RegionKeyArgs(alias="t", services=("logs", "alarms")), opts=opts)
        AlertTopic("alerts", AlertTopicArgs(key=key, emails=emails), opts=opts)

    plan, error = failing_render(build)
    assert "AlertTopic 'alerts'" in str(error)
    assert plan.of_type(TOPIC) == []
    assert re.search(message, str(error)), str(error)
    assert not plan.of_type("mlops:monitoring:AlertTopic")


@pytest.mark.parametrize(
    "emails, expected",
    [
        (["ops@example"], "mlops:alerts.emails[0]: 'ops@example' is not an email address"),
        (
            ["ops@example.com", "x@example.com", "nope"],
            "mlops:alerts.emails[2]: 'nope' is not an email address",
        ),
        (["ops@example.com", "ops@example.com"], "mlops:alerts.emails: ['ops@example.com'] listed"),
        (["Ops@Example.com", "ops@example.com"], "mlops:alerts.emails: ['ops@example.com'] listed"),
    ],
)
def test_bad_alert_emails_in_config_name_the_key(stack_config, emails, expected) -> None:
    config = stack_config("prod")
    config["mlops:alerts"] = {"emails": emails}
    flat = {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}
    with pytest.raises(ConfigError) as info:
        parse_raw_config(flat)
    problems = [p for p in info.value.problems if p.startswith("mlops:alerts.emails")]
    assert len(problems) == 1, info.value.problems
    assert problems[0].startswith(expected), problems[0]


@given(st.emails().filter(lambda address: len(address) <= 254))
def test_generated_addresses_are_emails(address: str) -> None:
    assert is_email(address)


@pytest.mark.parametrize(
    "text",
    ["", "plain", "@example.com", "ops@", "ops@@example.com", "ops@example", "ops@-example.com"],
)
def test_not_emails(text: str) -> None:
    assert not is_email(text)


def test_grant_publish_is_scoped_to_the_topic_and_its_key_through_sns() -> None:
    def build(opts) -> None:
        key, topic = key_and_topic(opts)
        role = ServiceRole(
            "fn", ServiceRoleArgs(service="lambda.amazonaws.com", description="x"), opts=opts
        )
        topic.grant_publish(role)

    plan = render_components(build)
    topic_arn = f"arn:aws:sns:eu-west-1:123456789012:{one(plan, TOPIC)['id']}"
    key_arn = f"arn:aws:kms:eu-west-1:123456789012:key/{one(plan, 'aws:kms/key:Key')['id']}"
    grant = one(plan, "aws:iam/rolePolicy:RolePolicy")
    assert grant["name"] == "fn-publish-alerts"
    document = json.loads(grant["inputs"]["policy"])
    assert document["Statement"] == [
        {
            "Sid": "PublishAlerts",
            "Effect": "Allow",
            "Action": ["sns:Publish"],
            "Resource": topic_arn,
        },
        {
            "Sid": "EncryptForAlertTopic",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": key_arn,
            "Condition": {"StringEquals": {"kms:ViaService": "sns.eu-west-1.amazonaws.com"}},
        },
    ]
    # Not granted: managing or subscribing to the topic, or the key outside SNS.
    actions = {a for s in document["Statement"] for a in s["Action"]}
    assert not actions & {
        "sns:Subscribe",
        "sns:SetTopicAttributes",
        "sns:DeleteTopic",
        "kms:Encrypt",
    }
    assert parliament_findings(document) == []


def test_grant_publish_refuses_a_second_grant_with_the_same_purpose() -> None:
    def build(opts) -> None:
        _, topic = key_and_topic(opts)
        role = ServiceRole(
            "fn", ServiceRoleArgs(service="lambda.amazonaws.com", description="x"), opts=opts
        )
        topic.grant_publish(role)
        topic.grant_publish(role)

    with pytest.raises(ValueError, match="already has a grant named 'publish-alerts'"):
        render_components(build)


# log group grants -----------------------------------------------------------------------


def render_log_grant(**kwargs: Any) -> Plan:
    def build(opts) -> None:
        import pulumi_aws as aws

        key = RegionKey("k", RegionKeyArgs(alias="t"), opts=opts)
        group = aws.cloudwatch.LogGroup("app", retention_in_days=30, kms_key_id=key.arn, opts=opts)
        aws.cloudwatch.LogGroup("other", retention_in_days=30, kms_key_id=key.arn, opts=opts)
        role = ServiceRole(
            "agent", ServiceRoleArgs(service="ec2.amazonaws.com", description="x"), opts=opts
        )
        grant_log_group_write(role, group.arn, **kwargs)

    return render_components(build)


def test_grant_log_group_write_reaches_only_that_groups_streams() -> None:
    plan = render_log_grant()
    group = plan.find("aws:cloudwatch/logGroup:LogGroup", "app")
    group_arn = f"arn:aws:logs:eu-west-1:123456789012:log-group:{group['id']}"
    grant = one(plan, "aws:iam/rolePolicy:RolePolicy")
    assert grant["name"] == "agent-write-logs"
    document = json.loads(grant["inputs"]["policy"])
    assert document["Statement"] == [
        {
            "Sid": "WriteToLogGroup",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": f"{group_arn}:log-stream:*",
        }
    ]
    # Not granted: reading, deleting or retention changes, or the other group.
    other = plan.find("aws:cloudwatch/logGroup:LogGroup", "other")
    assert other["id"] not in grant["inputs"]["policy"]
    actions = {a for st_ in document["Statement"] for a in st_["Action"]}
    assert not actions & {
        "logs:GetLogEvents",
        "logs:FilterLogEvents",
        "logs:DeleteLogGroup",
        "logs:PutRetentionPolicy",
        "logs:CreateLogGroup",
    }
    assert parliament_findings(document) == []


def test_grant_log_group_write_can_let_agents_describe_their_streams() -> None:
    plan = render_log_grant(purpose="ship-logs", sid="ShipLogs", describe_streams=True)
    group = plan.find("aws:cloudwatch/logGroup:LogGroup", "app")
    group_arn = f"arn:aws:logs:eu-west-1:123456789012:log-group:{group['id']}"
    grant = one(plan, "aws:iam/rolePolicy:RolePolicy")
    assert grant["name"] == "agent-ship-logs"
    document = json.loads(grant["inputs"]["policy"])
    assert document["Statement"] == [
        {
            "Sid": "ShipLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
            "Resource": [group_arn, f"{group_arn}:log-stream:*"],
        }
    ]
    assert parliament_findings(document) == []


# metric_alarm ---------------------------------------------------------------------------


def test_metric_alarm_sets_every_field_and_notifies_the_topic_both_ways() -> None:
    recorded: list[int] = []

    def build(opts) -> None:
        _, topic = key_and_topic(opts)
        metric_alarm(
            "cpu-high",
            alarm_args(
                dimensions={"AutoScalingGroupName": "pool"},
                statistic="Maximum",
                comparison="GreaterThanThreshold",
                period=60,
                evaluation_periods=5,
                datapoints_to_alarm=3,
            ),
            topic,
            opts,
        )
        recorded.append(len(topic.alarms))

    plan = render_components(build)
    topic_arn = f"arn:aws:sns:eu-west-1:123456789012:{one(plan, TOPIC)['id']}"
    alarm = one(plan, ALARM)
    assert alarm["name"] == "cpu-high"
    inputs = dict(alarm["inputs"])
    inputs.pop("name", None)
    assert inputs == {
        "alarmDescription": "CPU high: scale out or find the runaway process.",
        "namespace": "AWS/EC2",
        "metricName": "CPUUtilization",
        "dimensions": {"AutoScalingGroupName": "pool"},
        "statistic": "Maximum",
        "comparisonOperator": "GreaterThanThreshold",
        "threshold": 80,
        "period": 60,
        "evaluationPeriods": 5,
        "datapointsToAlarm": 3,
        "treatMissingData": "breaching",
        "alarmActions": [topic_arn],
        "okActions": [topic_arn],
    }
    assert recorded == [1]


def test_metric_alarm_defaults() -> None:
    def build(opts) -> None:
        _, topic = key_and_topic(opts)
        metric_alarm("quiet", alarm_args(treat_missing_data="notBreaching"), topic, opts)

    inputs = one(render_components(build), ALARM)["inputs"]
    assert inputs["statistic"] == "Average"
    assert inputs["comparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert inputs["period"] == 300 and inputs["evaluationPeriods"] == 1
    assert "datapointsToAlarm" not in inputs and "dimensions" not in inputs
    assert inputs["treatMissingData"] == "notBreaching"


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            {"treat_missing_data": "notbreaching"},
            r"treat_missing_data: 'notbreaching' is not one of",
        ),
        ({"treat_missing_data": ""}, r"treat_missing_data: '' is not one of"),
        ({"comparison": ">="}, r"comparison: '>=' is not one of"),
        ({"statistic": "Avg"}, r"statistic: 'Avg' is not one of"),
        ({"period": 45}, r"period: 45 must be 10, 20, 30 or a multiple of 60"),
        ({"period": 90}, r"period: 90 must be"),
        ({"period": 0}, r"period: 0 must be"),
        ({"evaluation_periods": 0}, r"evaluation_periods: 0 must be at least 1"),
        (
            {"evaluation_periods": 2, "datapoints_to_alarm": 3},
            r"datapoints_to_alarm: 3 must be between 1 and evaluation_periods \(2\)",
        ),
        ({"datapoints_to_alarm": 0}, r"datapoints_to_alarm: 0 must be between 1"),
        ({"threshold": float("nan")}, r"threshold: nan must be a finite number"),
        ({"threshold": float("inf")}, r"threshold: inf must be a finite number"),
        ({"namespace": " "}, r"namespace: must not be empty"),
        ({"metric_name": ""}, r"metric_name: must not be empty"),
        ({"description": "  "}, r"description: say what the alarm means"),
        ({"description": "x" * 1025}, r"description: 1025 characters"),
        ({"dimensions": {f"d{i}": "v" for i in range(31)}}, r"dimensions: 31 given"),
    ],
)
def test_bad_alarm_arguments_are_refused_before_anything_is_registered(overrides, message) -> None:
    def build(opts) -> None:
        _, topic = key_and_topic(opts)
        metric_alarm("bad", alarm_args(**overrides), topic, opts)

    plan, error = failing_render(build)
    assert re.search(message, str(error)), str(error)
    assert str(error).startswith("alarm 'bad': ")
    assert plan.of_type(ALARM) == []


def test_every_bad_alarm_field_is_reported_at_once() -> None:
    problems = alarm_args(
        treat_missing_data="x", comparison="y", period=7, statistic="z"
    ).problems()
    assert [p.split(":")[0] for p in problems] == [
        "treat_missing_data",
        "comparison",
        "statistic",
        "period",
    ]


@pytest.mark.parametrize("period", [10, 20, 30, 60, 120, 3600, 86400])
def test_valid_periods(period: int) -> None:
    assert alarm_args(period=period).problems() == []


# Dashboards ------------------------------------------------------------------------------


sizes = st.lists(st.tuples(st.integers(1, GRID_WIDTH), st.integers(1, 12)), max_size=40)


@given(sizes)
def test_layout_fits_the_grid_without_overlap_in_reading_order(items) -> None:
    positions = layout(items)
    assert len(positions) == len(items)
    boxes = [(x, y, x + w, y + h) for (x, y), (w, h) in zip(positions, items, strict=False)]
    for x0, y0, x1, _ in boxes:
        assert 0 <= x0 and x1 <= GRID_WIDTH and y0 >= 0
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            overlap = a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
            assert not overlap, (a, b)
    # Reading order: each widget is right of the previous one in its row, or in a lower row.
    for (xa, ya), (xb, yb) in zip(positions, positions[1:], strict=False):
        assert yb > ya or (yb == ya and xb > xa)


def test_layout_examples() -> None:
    assert layout([(12, 6), (12, 6), (24, 4), (8, 3), (8, 5), (16, 2)]) == [
        (0, 0),
        (12, 0),
        (0, 6),
        (0, 10),
        (8, 10),
        (0, 15),
    ]


def test_widget_json() -> None:
    widgets = [
        TextWidget("# Region"),
        MetricWidget(
            title="Errors",
            metrics=[
                Metric("AWS/Lambda", "Errors", {"FunctionName": "fn"}, label="fn errors"),
                Metric("AWS/Lambda", "Throttles"),
            ],
            stat="Maximum",
            period=60,
            view="singleValue",
            stacked=True,
        ),
        AlarmStatusWidget("Alarms", ["arn:a", "arn:b"], height=3),
    ]
    body = dashboard_body(widgets, "eu-west-1")
    assert body == {
        "widgets": [
            {
                "type": "text",
                "x": 0,
                "y": 0,
                "width": 24,
                "height": 2,
                "properties": {"markdown": "# Region"},
            },
            {
                "type": "metric",
                "x": 0,
                "y": 2,
                "width": 12,
                "height": 6,
                "properties": {
                    "title": "Errors",
                    "region": "eu-west-1",
                    "view": "singleValue",
                    "stacked": True,
                    "stat": "Maximum",
                    "period": 60,
                    "metrics": [
                        ["AWS/Lambda", "Errors", "FunctionName", "fn", {"label": "fn errors"}],
                        ["AWS/Lambda", "Throttles"],
                    ],
                },
            },
            {
                "type": "alarm",
                "x": 0,
                "y": 8,
                "width": 24,
                "height": 3,
                "properties": {
                    "title": "Alarms",
                    "alarms": ["arn:a", "arn:b"],
                    "sortBy": "stateUpdatedTimestamp",
                },
            },
        ]
    }


def test_dashboard_component_renders_the_body_with_resolved_outputs() -> None:
    def build(opts) -> None:
        _, topic = key_and_topic(opts)
        metric_alarm("a", alarm_args(), topic, opts)
        Dashboard(
            "d",
            DashboardArgs(
                dashboard_name="mlops-test-eu-west-1", region="eu-west-1", widgets=topic.widgets()
            ),
            opts=opts,
        )

    plan = render_components(build)
    dashboard = one(plan, DASHBOARD)
    assert dashboard["inputs"]["dashboardName"] == "mlops-test-eu-west-1"
    assert dashboard["parent"] == one(plan, "mlops:monitoring:Dashboard")["urn"]
    body = json.loads(dashboard["inputs"]["dashboardBody"])
    topic_name = one(plan, TOPIC)["id"]
    notifications, alarms = body["widgets"]
    assert notifications["properties"]["metrics"] == [
        ["AWS/SNS", "NumberOfMessagesPublished", "TopicName", topic_name, {"label": "published"}],
        [
            "AWS/SNS",
            "NumberOfNotificationsDelivered",
            "TopicName",
            topic_name,
            {"label": "delivered"},
        ],
        ["AWS/SNS", "NumberOfNotificationsFailed", "TopicName", topic_name, {"label": "failed"}],
    ]
    alarm = one(plan, ALARM)
    assert alarms["properties"]["alarms"] == [
        f"arn:aws:cloudwatch:eu-west-1:123456789012:alarm:{alarm['id']}"
    ]


def test_topic_widgets_split_alarms_by_hundred_and_skip_an_empty_status() -> None:
    counts: list[list[int]] = []

    def build(opts) -> None:
        _, topic = key_and_topic(opts)
        counts.append([len(getattr(w, "alarm_arns", ())) for w in topic.widgets()])
        for i in range(101):
            metric_alarm(f"a{i}", alarm_args(), topic, opts)
        counts.append([len(getattr(w, "alarm_arns", ())) for w in topic.widgets()])

    render_components(build)
    assert counts == [[0], [0, 100, 1]]


def test_network_widgets() -> None:
    without_nat = network_widgets("flow-group", [])
    assert [w.title for w in without_nat] == ["VPC flow logs ingested (bytes)"]
    assert without_nat[0].metrics[0].to_json() == [
        "AWS/Logs",
        "IncomingBytes",
        "LogGroupName",
        "flow-group",
    ]
    with_nats = network_widgets("flow-group", ["nat-a", "nat-b"])
    assert [w.title for w in with_nats] == [
        "VPC flow logs ingested (bytes)",
        "NAT gateway traffic (bytes)",
        "NAT gateway errors",
    ]
    errors = with_nats[2].metrics
    assert {(m.name, m.dimensions["NatGatewayId"]) for m in errors} == {
        (name, nat)
        for name in ("ErrorPortAllocation", "PacketsDropCount")
        for nat in ("nat-a", "nat-b")
    }


ok_metric = MetricWidget("t", [Metric("N", "M")])


@pytest.mark.parametrize(
    "args, message",
    [
        (
            DashboardArgs("has space", "eu-west-1", [ok_metric]),
            r"dashboard_name: 'has space' must be",
        ),
        (DashboardArgs("", "eu-west-1", [ok_metric]), r"dashboard_name: '' must be"),
        (DashboardArgs("d", "eu-west-1", []), r"widgets: give at least one widget"),
        (DashboardArgs("d", "", [ok_metric]), r"region: must not be empty"),
        (DashboardArgs("d", "eu-west-1", [ok_metric] * 501), r"widgets: 501 given"),
        (
            DashboardArgs("d", "eu-west-1", [MetricWidget("t", [])]),
            r"widgets\[0\]\.metrics: give at least one metric",
        ),
        (
            DashboardArgs("d", "eu-west-1", [MetricWidget("", [Metric("N", "M")])]),
            r"widgets\[0\]\.title: must not be empty",
        ),
        (
            DashboardArgs("d", "eu-west-1", [MetricWidget("t", [Metric("", "M")])]),
            r"widgets\[0\]\.metrics\[0\]: namespace and name",
        ),
        (
            DashboardArgs(
                "d", "eu-west-1", [ok_metric, MetricWidget("t", [Metric("N", "M")], stat="p99.9x")]
            ),
            r"widgets\[1\]\.stat: 'p99.9x'",
        ),
        (
            DashboardArgs("d", "eu-west-1", [MetricWidget("t", [Metric("N", "M")], period=61)]),
            r"widgets\[0\]\.period: 61",
        ),
        (
            DashboardArgs("d", "eu-west-1", [MetricWidget("t", [Metric("N", "M")], view="map")]),
            r"widgets\[0\]\.view: 'map'",
        ),
        (
            DashboardArgs("d", "eu-west-1", [MetricWidget("t", [Metric("N", "M")], width=25)]),
            r"widgets\[0\]\.width: 25 must be 1..24",
        ),
        (
            DashboardArgs("d", "eu-west-1", [TextWidget("x", height=0)]),
            r"widgets\[0\]\.height: 0 must be 1..1000",
        ),
        (
            DashboardArgs("d", "eu-west-1", [TextWidget(" ")]),
            r"widgets\[0\]\.markdown: must not be empty",
        ),
        (
            DashboardArgs("d", "eu-west-1", [AlarmStatusWidget("a", [])]),
            r"widgets\[0\]\.alarm_arns: give at least one alarm",
        ),
        (
            DashboardArgs("d", "eu-west-1", [AlarmStatusWidget("a", ["arn"] * 101)]),
            r"widgets\[0\]\.alarm_arns: 101 given",
        ),
    ],
)
def test_bad_dashboard_arguments_are_refused_before_anything_is_registered(args, message) -> None:
    plan, error = failing_render(lambda opts: Dashboard("d", args, opts=opts))
    assert re.search(message, str(error)), str(error)
    assert plan.of_type(DASHBOARD) == [] and plan.of_type("mlops:monitoring:Dashboard") == []


def test_retention_values_match_the_config_validator() -> None:
    assert LOG_RETENTION_DAYS == CLOUDWATCH_RETENTION_DAYS


# The real stacks ------------------------------------------------------------------------


def test_one_dashboard_per_region_with_that_regions_metrics(stack_plan: Plan) -> None:
    regions = [p["inputs"]["region"] for p in stack_plan.of_type("pulumi:providers:aws")]
    dashboards = stack_plan.of_type(DASHBOARD)
    assert sorted(d["region"] for d in dashboards) == sorted(regions)
    for dashboard in dashboards:
        region = dashboard["region"]
        assert (
            dashboard["inputs"]["dashboardName"]
            == f"mlops-{stack_plan.outputs['environment']}-{region}"
        )
        assert (
            stack_plan.outputs["regions"][region]["dashboardName"]
            == dashboard["inputs"]["dashboardName"]
        )
        widgets = json.loads(dashboard["inputs"]["dashboardBody"])["widgets"]
        titles = [w["properties"].get("title") for w in widgets]
        assert "Alert notifications" in titles and "VPC flow logs ingested (bytes)" in titles
        for widget in widgets:
            if widget["type"] == "metric":
                assert widget["properties"]["region"] == region
        # Every alarm of the region that notifies its topic shows on its dashboard.
        shown = {a for w in widgets if w["type"] == "alarm" for a in w["properties"]["alarms"]}
        topic_arn = stack_plan.outputs["regions"][region]["alertTopicArn"]
        alarms = {
            f"arn:aws:cloudwatch:{region}:123456789012:alarm:{a['id']}"
            for a in stack_plan.of_type(ALARM)
            if a["region"] == region and topic_arn in a["inputs"].get("alarmActions", [])
        }
        assert shown == alarms


def test_nat_widgets_follow_the_nat_strategy(stack_plan: Plan) -> None:
    for dashboard in stack_plan.of_type(DASHBOARD):
        region = dashboard["region"]
        nat_ids = {
            n["id"]
            for n in stack_plan.of_type("aws:ec2/natGateway:NatGateway")
            if n["region"] == region
        }
        widgets = json.loads(dashboard["inputs"]["dashboardBody"])["widgets"]
        shown = {
            row[row.index("NatGatewayId") + 1]
            for w in widgets
            if w["type"] == "metric"
            for row in w["properties"]["metrics"]
            if "NatGatewayId" in row
        }
        assert shown == nat_ids


# Existing keys and topics -----------------------------------------------------------------

TEAM_KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
TEAM_TOPIC_ARN = "arn:aws:sns:eu-west-1:123456789012:team-alerts"


def test_topic_encrypted_with_an_existing_key_arn() -> None:
    def build(opts) -> None:
        topic = AlertTopic("alerts", AlertTopicArgs(key=TEAM_KEY_ARN), opts=opts)
        role = ServiceRole(
            "fn", ServiceRoleArgs(service="lambda.amazonaws.com", description="x"), opts=opts
        )
        topic.grant_publish(role)

    plan = render_components(build)
    assert one(plan, TOPIC)["inputs"]["kmsMasterKeyId"] == TEAM_KEY_ARN
    assert plan.of_type("aws:kms/key:Key") == []
    statements = {
        s["Sid"]: s
        for s in json.loads(one(plan, "aws:iam/rolePolicy:RolePolicy")["inputs"]["policy"])[
            "Statement"
        ]
    }
    assert statements["EncryptForAlertTopic"]["Resource"] == TEAM_KEY_ARN
    assert statements["EncryptForAlertTopic"]["Condition"] == {
        "StringEquals": {"kms:ViaService": "sns.eu-west-1.amazonaws.com"}
    }


@pytest.mark.parametrize(
    "key, message",
    [
        (42, r"key: expected a RegionKey or an existing KMS key ARN .*got int"),
        ("arn:aws:kms:eu-west-1:123456789012:alias/team", r"key: .* is an alias ARN"),
    ],
)
def test_topic_with_a_bad_key_registers_nothing(key, message) -> None:
    plan, error = failing_render(
        lambda opts: AlertTopic("alerts", AlertTopicArgs(key=key), opts=opts)
    )
    assert str(error).startswith("AlertTopic 'alerts': ")
    assert re.search(message, str(error)), str(error)
    assert [r["type"] for r in plan.resources] == ["pulumi:providers:aws"]


@pytest.mark.parametrize(
    "arn, message",
    [
        ("", r"'' is not an SNS topic ARN \(expected arn:<partition>:sns:"),
        ("team-alerts", r"'team-alerts' is not an SNS topic ARN"),
        (TEAM_KEY_ARN, r"is not an SNS topic ARN"),
        ("arn:aws:sns:eu-west-1:123456789012:", r"is not an SNS topic ARN"),
        ("arn:aws:sns:eu-west-1:1234:team-alerts", r"is not an SNS topic ARN"),
        ("arn:aws:sns:eu-west-1:123456789012:team alerts", r"is not an SNS topic ARN"),
        (
            "arn:aws:sns:eu-west-1:123456789012:team-alerts.fifo",
            r"is a FIFO topic: give a standard topic",
        ),
    ],
)
def test_existing_topic_arns_are_checked(arn: str, message: str) -> None:
    with pytest.raises(ValueError, match=r"^alert_topic: .*" + message):
        ExistingAlertTopic(arn)
    with pytest.raises(ValueError, match=r"^jobs_topic: .*" + message):
        as_alert_topic(arn, "jobs_topic")
    assert topic_arn_problem(arn) is not None


@pytest.mark.parametrize("value", [42, None, {"arn": TEAM_TOPIC_ARN}, [TEAM_TOPIC_ARN]])
def test_wrong_topic_types_name_the_field(value) -> None:
    with pytest.raises(
        ValueError, match=r"^alert_topic: expected an AlertTopic or an existing SNS topic ARN"
    ):
        as_alert_topic(value)


@pytest.mark.parametrize(
    "arn", [TEAM_TOPIC_ARN, "arn:aws-cn:sns:cn-north-1:123456789012:Team_Alerts-2"]
)
def test_good_topic_arns(arn: str) -> None:
    assert topic_arn_problem(arn) is None


@pytest.mark.parametrize("given", ["string", "output", "existing"])
def test_alarms_notify_an_existing_topic_and_show_on_the_dashboard(given: str) -> None:
    recorded: list[int] = []

    def build(opts) -> None:
        import pulumi

        value = {
            "string": TEAM_TOPIC_ARN,
            "output": pulumi.Output.from_input(TEAM_TOPIC_ARN),
            "existing": ExistingAlertTopic(TEAM_TOPIC_ARN),
        }[given]
        topic = as_alert_topic(value)
        metric_alarm("a", alarm_args(), topic, opts)
        metric_alarm("b", alarm_args(), topic, opts)
        recorded.append(len(topic.alarms))
        Dashboard(
            "d",
            DashboardArgs(dashboard_name="d", region="eu-west-1", widgets=topic.widgets()),
            opts=opts,
        )

    plan = render_components(build)
    assert recorded == [2]
    for alarm in plan.of_type(ALARM):
        assert alarm["inputs"]["alarmActions"] == [TEAM_TOPIC_ARN]
        assert alarm["inputs"]["okActions"] == [TEAM_TOPIC_ARN]
    assert plan.of_type(TOPIC) == []
    notifications, status = json.loads(one(plan, DASHBOARD)["inputs"]["dashboardBody"])["widgets"]
    assert notifications["properties"]["metrics"][0] == [
        "AWS/SNS",
        "NumberOfMessagesPublished",
        "TopicName",
        "team-alerts",
        {"label": "published"},
    ]
    assert len(status["properties"]["alarms"]) == 2


def test_metric_alarm_takes_a_topic_arn() -> None:
    plan = render_components(lambda opts: metric_alarm("a", alarm_args(), TEAM_TOPIC_ARN, opts))
    assert one(plan, ALARM)["inputs"]["alarmActions"] == [TEAM_TOPIC_ARN]


@pytest.mark.parametrize("topic", [42, "arn:aws:sns:eu-west-1:123456789012:t.fifo"])
def test_metric_alarm_with_a_bad_topic_registers_nothing(topic) -> None:
    plan, error = failing_render(
        lambda opts: metric_alarm("bad", alarm_args(period=7), topic, opts)
    )
    assert str(error).startswith("alarm 'bad': ")
    # Reported with the alarm's own problems, at once.
    assert "period: 7" in str(error) and "topic: " in str(error)
    assert plan.of_type(ALARM) == []


def test_an_existing_topic_output_arn_is_checked_when_known() -> None:
    def build(opts) -> None:
        import pulumi

        as_alert_topic(
            pulumi.Output.from_input("arn:aws:sqs:eu-west-1:123456789012:q"), "jobs_topic"
        )

    with pytest.raises(ValueError, match=r"^jobs_topic: .* is not an SNS topic ARN"):
        render_components(build)


@pytest.mark.parametrize("key", [None, TEAM_KEY_ARN])
def test_grant_publish_on_an_existing_topic(key) -> None:
    def build(opts) -> None:
        role = ServiceRole(
            "fn", ServiceRoleArgs(service="lambda.amazonaws.com", description="x"), opts=opts
        )
        ExistingAlertTopic(TEAM_TOPIC_ARN, key=key).grant_publish(role, purpose="notify-team")

    grant = one(render_components(build), "aws:iam/rolePolicy:RolePolicy")
    assert grant["name"] == "fn-notify-team"
    document = json.loads(grant["inputs"]["policy"])
    expected = [
        {
            "Sid": "PublishAlerts",
            "Effect": "Allow",
            "Action": ["sns:Publish"],
            "Resource": TEAM_TOPIC_ARN,
        }
    ]
    if key is not None:
        expected.append(
            {
                "Sid": "EncryptForAlertTopic",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": TEAM_KEY_ARN,
                "Condition": {"StringEquals": {"kms:ViaService": "sns.eu-west-1.amazonaws.com"}},
            }
        )
    assert document["Statement"] == expected
    assert parliament_findings(document) == []


def test_existing_topic_key_is_checked_naming_the_field() -> None:
    with pytest.raises(ValueError, match=r"^alert_topic\.key: expected a RegionKey"):
        ExistingAlertTopic(TEAM_TOPIC_ARN, key=42)  # type: ignore[arg-type]
