"""The recorded exceptions: the only place a violation may be waived, each with its reason.

The check reports an excepted violation as an exemption, never silently. Each waiver's
condition is defined here, beside its reason, so that a reviewer reads both at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from policies.model import Resource, Stack
from policies.rules.containers import has_https_listener, listener_lbs, redirects_to_https
from policies.rules.helpers import children
from policies.rules.s3 import is_log_delivery_target, sse_defaults
from policies.rules.types import EFS_BACKUP_POLICY


@dataclass(frozen=True)
class PolicyException:
    """A recorded waiver: violations of `rule` by resources `applies` to become exemptions."""

    rule: str
    name: str
    applies: Callable[[Resource, Stack], bool]
    reason: str


def _http_listener_without_certificate(listener: Resource, stack: Stack) -> bool:
    """An HTTP listener whose load balancer has no HTTPS listener (no certificate configured)."""
    lbs = listener_lbs(stack, listener)
    return bool(lbs) and not any(has_https_listener(stack, lb) for lb in lbs)


def _log_target_with_sse_s3(bucket: Resource, stack: Stack) -> bool:
    """A bucket receiving S3/ELB access logs whose default encryption is SSE-S3 (AES256)."""
    return is_log_delivery_target(bucket, stack) and any(
        d.get("sseAlgorithm") == "AES256" for d in sse_defaults(stack, bucket)
    )


def _ephemeral_file_system_without_backups(fs: Resource, stack: Stack) -> bool:
    """An unprotected (ephemeral) file system whose only backup policy says DISABLED."""
    statuses = [
        p.get("backupPolicy", "status")
        for p in children(stack, fs, (EFS_BACKUP_POLICY,), "fileSystemId")
    ]
    return not fs.options.protect and statuses == ["DISABLED"]


EXCEPTIONS: Final[tuple[PolicyException, ...]] = (
    PolicyException(
        "alb-listener-https",
        "http-redirect-listener",
        lambda r, s: redirects_to_https(r),
        "The port-80 listener only redirects clients to HTTPS; it serves no content.",
    ),
    PolicyException(
        "alb-listener-https",
        "http-listener-without-certificate",
        _http_listener_without_certificate,
        "The load balancer has no certificate configured (no HTTPS listener), so HTTP is the "
        "only listener; once a certificate is configured, alb-http-redirect applies.",
    ),
    PolicyException(
        "s3-sse-kms",
        "log-delivery-bucket-sse-s3",
        _log_target_with_sse_s3,
        "S3 server access logs and load balancer access logs can only be delivered to buckets "
        "encrypted with SSE-S3 (AES256); SSE-KMS is not supported for these destinations.",
    ),
    PolicyException(
        "s3-access-logging",
        "access-log-bucket",
        lambda r, s: is_log_delivery_target(r, s, s3_only=True),
        "The server-access-log bucket is the end of the logging chain: logging it into itself "
        "would loop, logging it elsewhere would need another log bucket.",
    ),
    PolicyException(
        "efs-backup-policy",
        "ephemeral-file-system-without-backups",
        _ephemeral_file_system_without_backups,
        "Ephemeral stacks are destroyed nightly; AWS Backup keeps each recovery point (35 days "
        "in the default plan) outside the stack, so their backups are explicitly DISABLED.",
    ),
)
"""The only list of waivers. Each violation they match is reported as an exemption."""
