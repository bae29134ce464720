"""What an instance pool reports: alarms, Auto Scaling failure notifications, widgets.

Owns the pool's CPU, memory and disk alarms (on the CloudWatch agent's pool-wide series, see
:mod:`components.compute.cloudwatch_agent`), the EventBridge rule that forwards Auto Scaling
launch and terminate failures, and the pool's dashboard widgets. Everything notifies the alert
topic: the region's, or an existing one given by ARN. The resources are registered as children
of the pool.
"""

from __future__ import annotations

from collections.abc import Callable

import pulumi
import pulumi_aws as aws

from components.compute.cloudwatch_agent import (
    DIMENSION_AUTO_SCALING_GROUP,
    METRIC_CPU_USAGE_ACTIVE,
    METRIC_DISK_USED_PERCENT,
    METRIC_MEM_USED_PERCENT,
)
from components.monitoring import (
    AlarmArgs,
    AlertTopic,
    ExistingAlertTopic,
    Metric,
    MetricWidget,
    metric_alarm,
)

#: EventBridge detail types of Auto Scaling failures worth a notification (a spot shortage,
#: an AMI or key problem, a volume that cannot be encrypted...).
ASG_FAILURE_EVENTS = ("EC2 Instance Launch Unsuccessful", "EC2 Instance Terminate Unsuccessful")


def pool_alarms(
    name: str,
    group_name: pulumi.Input[str],
    namespace: str,
    *,
    cpu_percent: float,
    memory_percent: float,
    disk_percent: float,
    alerts: AlertTopic | ExistingAlertTopic,
    parent: pulumi.Resource,
) -> dict[str, aws.cloudwatch.MetricAlarm]:
    """CPU, memory and disk alarms on the agent's pool-wide series.

    Missing data is ``notBreaching``: a pool scaled to zero (nights, weekends, idle)
    publishes nothing, and that silence is expected, not an incident.
    """
    dimensions = {DIMENSION_AUTO_SCALING_GROUP: group_name}
    plan = {
        "cpu": (
            METRIC_CPU_USAGE_ACTIVE,
            cpu_percent,
            "Average",
            3,
            "average CPU use of the pool's instances has been high for 15 minutes: "
            "add instances (max_size) or larger instance types",
        ),
        "memory": (
            METRIC_MEM_USED_PERCENT,
            memory_percent,
            "Average",
            3,
            "average memory use of the pool's instances has been high for 15 "
            "minutes: processes may be killed; use instance types with more memory",
        ),
        "disk": (
            METRIC_DISK_USED_PERCENT,
            disk_percent,
            "Maximum",
            1,
            "a disk of an instance in the pool is filling up: clean it, move data to "
            "the shared file system or S3, or raise the volume size",
        ),
    }
    alarms = {}
    for purpose, (metric, threshold, statistic, periods, meaning) in plan.items():
        alarms[purpose] = metric_alarm(
            f"{name}-{purpose}",
            AlarmArgs(
                namespace=namespace,
                metric_name=metric,
                threshold=float(threshold),
                treat_missing_data="notBreaching",
                description=f"Pool {name}: {meaning}.",
                dimensions=dimensions,
                statistic=statistic,
                period=300,
                evaluation_periods=periods,
            ),
            alerts,
            pulumi.ResourceOptions(parent=parent),
        )
    return alarms


def failure_notifications(
    name: str,
    group_name: pulumi.Input[str],
    *,
    alerts: AlertTopic | ExistingAlertTopic,
    tags: Callable[[str], dict[str, str]],
    parent: pulumi.Resource,
) -> aws.cloudwatch.EventRule:
    """Auto Scaling launch/terminate failures go to the alert topic (through EventBridge,
    which the topic and its key already admit; an existing topic's policy must admit it too).
    Returns the rule."""
    child = pulumi.ResourceOptions(parent=parent)
    rule = aws.cloudwatch.EventRule(
        f"{name}-failures",
        description=f"Pool {name}: instances that could not be launched or terminated",
        event_pattern=pulumi.Output.json_dumps(
            {
                "source": ["aws.autoscaling"],
                "detail-type": list(ASG_FAILURE_EVENTS),
                "detail": {"AutoScalingGroupName": [group_name]},
            }
        ),
        tags=tags("failures"),
        opts=child,
    )
    aws.cloudwatch.EventTarget(
        f"{name}-failures",
        rule=rule.name,
        arn=alerts.arn,
        opts=child,
    )
    return rule


def pool_widgets(name: str, group_name: pulumi.Input[str], namespace: str) -> list[MetricWidget]:
    """Dashboard widgets: instances in service and the pool's CPU, memory and disk use."""
    group = {DIMENSION_AUTO_SCALING_GROUP: group_name}
    return [
        MetricWidget(
            title=f"Pool {name}: instances",
            metrics=[
                Metric("AWS/AutoScaling", "GroupDesiredCapacity", group, label="desired"),
                Metric("AWS/AutoScaling", "GroupInServiceInstances", group, label="in service"),
            ],
            stat="Average",
        ),
        MetricWidget(
            title=f"Pool {name}: CPU, memory, fullest disk (%)",
            metrics=[
                Metric(namespace, METRIC_CPU_USAGE_ACTIVE, group, label="CPU"),
                Metric(namespace, METRIC_MEM_USED_PERCENT, group, label="memory"),
                Metric(namespace, METRIC_DISK_USED_PERCENT, group, label="disk"),
            ],
            stat="Maximum",
        ),
    ]
