"""The function's SQS queues: KMS-encrypted dead-letter queues that keep messages 14 days,
each with a policy that denies any request without TLS.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_aws as aws

from components.kms import ExistingKey, RegionKey

#: Dead-letter messages are kept for 14 days, the most SQS allows.
DLQ_RETENTION_SECONDS = 14 * 24 * 3600


def dead_letter_queue(
    logical: str,
    *,
    key: RegionKey | ExistingKey,
    tags: Mapping[str, str],
    parent: pulumi.Resource,
) -> aws.sqs.Queue:
    """A KMS-encrypted standard queue that keeps messages 14 days."""
    return aws.sqs.Queue(
        logical,
        kms_master_key_id=key.arn,
        message_retention_seconds=DLQ_RETENTION_SECONDS,
        tags={"Name": logical, **tags},
        opts=pulumi.ResourceOptions(parent=parent),
    )


def tls_only_queue_policy(
    logical: str,
    queue: aws.sqs.Queue,
    *,
    parent: pulumi.Resource,
    extra: Sequence[pulumi.Input[Mapping[str, Any]]] = (),
) -> aws.sqs.QueuePolicy:
    """The queue's policy: deny any request without TLS, plus ``extra`` statements."""
    tls_only = {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "sqs:*",
        "Resource": queue.arn,
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    return aws.sqs.QueuePolicy(
        f"{logical}-policy",
        queue_url=queue.url,
        policy=pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": [tls_only, *extra]}),
        opts=pulumi.ResourceOptions(parent=parent),
    )
