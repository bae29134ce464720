"""Log groups: the retention values CloudWatch Logs accepts and the write grant on one group."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.iam import ArnInput, ServiceRole, Statement

#: Retention values CloudWatch Logs accepts (PutRetentionPolicy), in days.
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)


def log_group_write_statement(
    log_group_arn: ArnInput,
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
    log_group_arn: ArnInput,
    purpose: str = "write-logs",
    *,
    sid: str = "WriteToLogGroup",
    describe_streams: bool = False,
) -> aws.iam.RolePolicy:
    """Let ``role`` write events to one log group (:func:`log_group_write_statement`)."""
    return role.grant(
        purpose, [log_group_write_statement(log_group_arn, sid, describe_streams=describe_streams)]
    )
