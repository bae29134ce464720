"""Serverless capability: DynamoDB tables and Lambda microservices triggered by the data lake.

:class:`Table` is a DynamoDB table that meets the baseline: on-demand billing, point-in-time
recovery, SSE with the region's KMS key, deletion protection and ``protect`` in production.
Its grant methods give a role exactly the item actions it needs on this table, plus the KMS
actions DynamoDB performs for it, only through DynamoDB (``kms:ViaService``).

:class:`LambdaService` deploys one function from a source directory with everything the
baseline asks for around it:

- an execution role (:class:`~components.iam.ServiceRole`) holding only the grants the
  caller gives (``grants=[table.grant_write, ...]``) plus what the function itself needs:
  writing its own log streams, sending to its dead-letter queue, and, in a VPC, managing its
  network interfaces (a scoped inline statement rather than the broad managed policy
  ``AWSLambdaVPCAccessExecutionRole``); X-Ray only when tracing is on;
- its log group ``/aws/lambda/<function name>`` (retention, KMS), created before the
  function so Lambda never creates an unencrypted one that lives forever;
- its environment variables encrypted at rest with the region key;
- a KMS-encrypted SQS dead-letter queue (14 days) used both as the function's DLQ and as the
  on-failure destination of its asynchronous invocations (retry attempts and maximum event
  age are arguments). Lambda sends a discarded event to both, so each failure arrives twice
  in the queue: once as the raw event (message attributes give the error) and once as an
  invocation record (request, response and error). Replaying either is safe for idempotent
  handlers such as the ingest function;
- alarms to the region's alert topic: errors, throttles, failed dead-letter deliveries and
  messages waiting in the dead-letter queue(s);
- optional placement in private subnets of at least two AZs with its own security group
  (no ingress, egress HTTPS only);
- an optional trigger: an EventBridge rule on the data lake bucket's "Object Created" events
  (optionally under a key prefix), a target with its own retry policy and a dead-letter queue
  for delivery failures, and a Lambda permission for ``events.amazonaws.com`` scoped to that
  rule's ARN (never a public invoke permission).

Both take the region's key and alert topic, or an existing key's or topic's ARN.

Packaging is deterministic: the archive lists the files of the source directory explicitly
(caches, compiled files and hidden files are left out), so the same sources always produce
the same archive and the offline plan records each file's path relative to the project.

Where each part lives: :mod:`.table` (the table and its grants), :mod:`.packaging` (the
code archive), :mod:`.args` (the function's arguments, limits and checks), :mod:`.grants`
(grant callables, ``kms:ViaService`` scoping, network-interface statements), :mod:`.queues`
(the dead-letter queues), :mod:`.triggers` (the object-created trigger) and
:mod:`.function` (:class:`LambdaService` itself, its alarms and widgets).
"""

from __future__ import annotations

from components.serverless.args import (
    ARCHITECTURES,
    DEFAULT_RUNTIME,
    MAX_ASYNC_EVENT_AGE_SECONDS,
    MAX_ASYNC_RETRY_ATTEMPTS,
    MAX_MEMORY_MB,
    MAX_TIMEOUT_SECONDS,
    MIN_MEMORY_MB,
    MIN_TIMEOUT_SECONDS,
    MIN_UNRESERVED_CONCURRENCY,
    RESERVED_ENVIRONMENT,
    LambdaServiceArgs,
    LambdaVpcPlacement,
    account_concurrency_needed,
    environment_problems,
    reserved_concurrency_notes,
)
from components.serverless.function import LambdaService
from components.serverless.grants import Grant, eni_statements
from components.serverless.packaging import handler_file, package_files
from components.serverless.queues import DLQ_RETENTION_SECONDS
from components.serverless.table import Table, TableArgs
from components.serverless.triggers import (
    MAX_TARGET_EVENT_AGE_SECONDS,
    MAX_TARGET_RETRY_ATTEMPTS,
    MIN_EVENT_AGE_SECONDS,
    ObjectCreatedTrigger,
    clean_key_prefix,
    object_created_pattern,
)

__all__ = [
    "ARCHITECTURES",
    "DEFAULT_RUNTIME",
    "DLQ_RETENTION_SECONDS",
    "MAX_ASYNC_EVENT_AGE_SECONDS",
    "MAX_ASYNC_RETRY_ATTEMPTS",
    "MAX_MEMORY_MB",
    "MAX_TARGET_EVENT_AGE_SECONDS",
    "MAX_TARGET_RETRY_ATTEMPTS",
    "MAX_TIMEOUT_SECONDS",
    "MIN_EVENT_AGE_SECONDS",
    "MIN_MEMORY_MB",
    "MIN_TIMEOUT_SECONDS",
    "MIN_UNRESERVED_CONCURRENCY",
    "RESERVED_ENVIRONMENT",
    "Grant",
    "LambdaService",
    "LambdaServiceArgs",
    "LambdaVpcPlacement",
    "ObjectCreatedTrigger",
    "Table",
    "TableArgs",
    "account_concurrency_needed",
    "clean_key_prefix",
    "eni_statements",
    "environment_problems",
    "handler_file",
    "object_created_pattern",
    "package_files",
    "reserved_concurrency_notes",
]
