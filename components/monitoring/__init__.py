"""Monitoring: alert topics, alarms, log-group grants and dashboards.

- :mod:`components.monitoring.topics`: the region's :class:`AlertTopic` (or a team's own,
  :class:`ExistingAlertTopic`, accepted by ARN through :func:`as_alert_topic`) and
  :func:`metric_alarm`, which makes every alarm notify it and records the alarm on it, so
  the dashboard shows every alarm's state;
- :mod:`components.monitoring.alarms`: :class:`AlarmArgs`, what CloudWatch accepts for an
  alarm (the missing-data behaviour is always an explicit choice);
- :mod:`components.monitoring.logs`: the retention values CloudWatch Logs accepts and the
  write grant on one log group;
- :mod:`components.monitoring.dashboards`: one :class:`Dashboard` per environment and region,
  built last from the widgets every capability contributes.

Everything public is importable from ``components.monitoring``.
"""

from components.monitoring.alarms import (
    COMPARISONS,
    HIGH_RESOLUTION_PERIODS,
    MAX_DIMENSIONS,
    STATISTICS,
    TREAT_MISSING_DATA,
    AlarmArgs,
    period_problem,
)
from components.monitoring.dashboards import (
    GRID_WIDTH,
    MAX_ALARMS_PER_WIDGET,
    MAX_METRICS_PER_WIDGET,
    MAX_WIDGETS,
    WIDGET_STATISTICS,
    WIDGET_VIEWS,
    AlarmStatusWidget,
    Dashboard,
    DashboardArgs,
    Metric,
    MetricWidget,
    TextWidget,
    Widget,
    dashboard_body,
    layout,
    network_widgets,
)
from components.monitoring.logs import (
    LOG_RETENTION_DAYS,
    grant_log_group_write,
    log_group_write_statement,
)
from components.monitoring.topics import (
    ALARM_PUBLISHERS,
    TOPIC_ARN_PATTERN,
    AlertTopic,
    AlertTopicArgs,
    ExistingAlertTopic,
    TopicAlarms,
    TopicArnParts,
    TopicInput,
    alert_topic_input_problem,
    alert_topic_problems,
    as_alert_topic,
    email_key,
    is_email,
    metric_alarm,
    publish_statements,
    subscription_name,
    topic_arn_parts,
    topic_arn_problem,
    topic_policy,
)

__all__ = [
    "ALARM_PUBLISHERS",
    "COMPARISONS",
    "GRID_WIDTH",
    "HIGH_RESOLUTION_PERIODS",
    "LOG_RETENTION_DAYS",
    "MAX_ALARMS_PER_WIDGET",
    "MAX_DIMENSIONS",
    "MAX_METRICS_PER_WIDGET",
    "MAX_WIDGETS",
    "STATISTICS",
    "TOPIC_ARN_PATTERN",
    "TREAT_MISSING_DATA",
    "WIDGET_STATISTICS",
    "WIDGET_VIEWS",
    "AlarmArgs",
    "AlarmStatusWidget",
    "AlertTopic",
    "AlertTopicArgs",
    "Dashboard",
    "DashboardArgs",
    "ExistingAlertTopic",
    "Metric",
    "MetricWidget",
    "TextWidget",
    "TopicAlarms",
    "TopicArnParts",
    "TopicInput",
    "Widget",
    "alert_topic_input_problem",
    "alert_topic_problems",
    "as_alert_topic",
    "dashboard_body",
    "email_key",
    "grant_log_group_write",
    "is_email",
    "layout",
    "log_group_write_statement",
    "metric_alarm",
    "network_widgets",
    "period_problem",
    "publish_statements",
    "subscription_name",
    "topic_arn_parts",
    "topic_arn_problem",
    "topic_policy",
]
