"""The function's trigger: objects created in a bucket invoke it (S3 -> EventBridge).

An EventBridge rule on the bucket's "Object Created" events (optionally under a key
prefix), a target with its own retry policy and a dead-letter queue for delivery failures,
and a Lambda permission for ``events.amazonaws.com`` scoped to that rule's ARN (never a
public invoke permission).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.kms import ExistingKey, RegionKey
from components.serverless.queues import dead_letter_queue, tls_only_queue_policy

#: The shortest maximum event age EventBridge targets and asynchronous invocations accept.
MIN_EVENT_AGE_SECONDS = 60
#: EventBridge target retry policy limits.
MAX_TARGET_RETRY_ATTEMPTS = 185
MAX_TARGET_EVENT_AGE_SECONDS = 86400


def object_created_pattern(bucket_name: str, key_prefix: str | None = None) -> dict[str, Any]:
    """The EventBridge pattern of S3 "Object Created" events of one bucket (under
    ``key_prefix`` when given)."""
    detail: dict[str, Any] = {"bucket": {"name": [bucket_name]}}
    if key_prefix:
        detail["object"] = {"key": [{"prefix": key_prefix}]}
    return {"source": ["aws.s3"], "detail-type": ["Object Created"], "detail": detail}


def clean_key_prefix(prefix: str | None) -> str | None:
    """A key prefix as matched by events and grants: no leading '/', one trailing '/'.

    ``None`` stays None (every key). Raises ``ValueError`` for an empty prefix or one with
    wildcards or policy variables, which S3 keys in grants cannot express literally.
    """
    if prefix is None:
        return None
    clean = prefix.strip("/")
    if not clean:
        raise ValueError(f"{prefix!r} is empty; leave it unset to match every key")
    if any(c in clean for c in "*?$"):
        raise ValueError(f"{prefix!r} contains '*', '?' or '$'; give a literal key prefix")
    return clean + "/"


@dataclass(frozen=True)
class ObjectCreatedTrigger:
    """Invoke the function for each object created in a bucket (S3 -> EventBridge)."""

    bucket_name: pulumi.Input[str]
    """The bucket; it must send its events to EventBridge (data lake zone buckets do)."""
    key_prefix: str | None = None
    """Default: every new object. When given, only keys under this prefix (normalised to
    one trailing '/')."""
    maximum_retry_attempts: int = 24
    """Default: EventBridge retries a failed delivery to the function 24 times."""
    maximum_event_age_seconds: int = 21600
    """Default: EventBridge stops retrying a delivery after 6 hours; the event then goes to
    the delivery dead-letter queue."""

    def problems(self) -> list[str]:
        out = []
        try:
            clean_key_prefix(self.key_prefix)
        except ValueError as exc:
            out.append(f"trigger.key_prefix: {exc}")
        if not 0 <= self.maximum_retry_attempts <= MAX_TARGET_RETRY_ATTEMPTS:
            out.append(
                f"trigger.maximum_retry_attempts: {self.maximum_retry_attempts} is outside "
                f"0..{MAX_TARGET_RETRY_ATTEMPTS}"
            )
        if (
            not MIN_EVENT_AGE_SECONDS
            <= self.maximum_event_age_seconds
            <= MAX_TARGET_EVENT_AGE_SECONDS
        ):
            out.append(
                f"trigger.maximum_event_age_seconds: {self.maximum_event_age_seconds} is outside "
                f"{MIN_EVENT_AGE_SECONDS}..{MAX_TARGET_EVENT_AGE_SECONDS}"
            )
        return out


@dataclass(frozen=True)
class TriggerParts:
    """What :func:`object_created_trigger` created."""

    rule: aws.cloudwatch.EventRule
    delivery_dead_letter_queue: aws.sqs.Queue
    delivery_dead_letter_queue_policy: aws.sqs.QueuePolicy
    permission: aws.lambda_.Permission
    target: aws.cloudwatch.EventTarget


def object_created_trigger(
    name: str,
    trigger: ObjectCreatedTrigger,
    *,
    parent: pulumi.Resource,
    function: aws.lambda_.Function,
    function_name: str,
    depends_on: Sequence[pulumi.Resource],
    account_id: pulumi.Input[str],
    key: RegionKey | ExistingKey,
    tags: Mapping[str, str],
) -> TriggerParts:
    """Rule on the bucket's Object Created events -> the function, with a delivery DLQ.

    The target waits for ``depends_on`` (the function's asynchronous invocation settings)
    as well as for the permission and the queue policy."""
    child = pulumi.ResourceOptions(parent=parent)
    prefix = clean_key_prefix(trigger.key_prefix)
    rule = aws.cloudwatch.EventRule(
        f"{name}-trigger",
        description=(
            f"Objects created in the bucket{f' under {prefix}' if prefix else ''} invoke "
            f"{function_name}"
        ),
        event_pattern=pulumi.Output.json_dumps(
            pulumi.Output.from_input(trigger.bucket_name).apply(
                lambda bucket: object_created_pattern(bucket, prefix)
            )
        ),
        state="ENABLED",
        tags={"Name": f"{name}-trigger", **tags},
        opts=child,
    )
    queue, queue_policy = _delivery_dead_letter_queue(name, rule, parent=parent, key=key, tags=tags)
    permission = aws.lambda_.Permission(
        f"{name}-trigger-permission",
        action="lambda:InvokeFunction",
        function=function.name,
        principal="events.amazonaws.com",
        source_arn=rule.arn,
        source_account=account_id,
        opts=child,
    )
    target = aws.cloudwatch.EventTarget(
        f"{name}-trigger-target",
        rule=rule.name,
        arn=function.arn,
        retry_policy=aws.cloudwatch.EventTargetRetryPolicyArgs(
            maximum_retry_attempts=trigger.maximum_retry_attempts,
            maximum_event_age_in_seconds=trigger.maximum_event_age_seconds,
        ),
        dead_letter_config=aws.cloudwatch.EventTargetDeadLetterConfigArgs(arn=queue.arn),
        opts=pulumi.ResourceOptions(
            parent=parent,
            depends_on=[permission, *depends_on, queue_policy],
        ),
    )
    return TriggerParts(rule, queue, queue_policy, permission, target)


def _delivery_dead_letter_queue(
    name: str,
    rule: aws.cloudwatch.EventRule,
    *,
    parent: pulumi.Resource,
    key: RegionKey | ExistingKey,
    tags: Mapping[str, str],
) -> tuple[aws.sqs.Queue, aws.sqs.QueuePolicy]:
    """``<name>-delivery-dlq``: where EventBridge puts events it could not deliver; only
    ``rule`` may send to it."""
    queue = dead_letter_queue(f"{name}-delivery-dlq", key=key, tags=tags, parent=parent)
    policy = tls_only_queue_policy(
        f"{name}-delivery-dlq",
        queue,
        parent=parent,
        extra=[
            {
                "Sid": "EventBridgeDeliveryFailures",
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue.arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": rule.arn}},
            }
        ],
    )
    return queue, policy
