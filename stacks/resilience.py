"""The replicated data tier: which region holds what copy of the stack's state, and why not.

- :func:`global_table_replicas`: the global tables (the ingest records table, the model
  registry) are created in the primary region with a replica, encrypted with that region's
  key, in every other region of the stack; the other regions create no table of their own.
- :func:`replicate_lakes`: every lake zone is replicated between the primary and the secondary
  region in both directions (``mlops:resilience.lakeReplication``).
- :data:`NO_COPY_REASONS`: every stateful resource of the plan that has no cross-region copy,
  with why and what AWS guarantees instead; ``tests/test_stateful_copies.py`` holds every
  stateful resource of both rendered plans to "a copy, or a reason here".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from components.data_lake import LakeReplication
from components.data_lake.replication import ReplicationSettings
from components.kms import RegionKey
from stacks.config import PlatformConfig

if TYPE_CHECKING:
    from stacks.regional import RegionalPlatform

T = TypeVar("T")


def global_table_replicas(
    region: str,
    region_keys: Mapping[str, RegionKey],
    primary_table: T | None,
    is_primary: bool,
) -> tuple[dict[str, RegionKey], T | None]:
    """``(replica_keys, replica_of)`` of a global table in ``region``: the primary lists every
    other region's key (one replica each); another region names the primary's table."""
    if is_primary:
        return {name: key for name, key in region_keys.items() if name != region}, None
    if primary_table is None:
        raise RuntimeError(
            f"{region}: the primary region's global table must be built first (the "
            "environment builds the primary region first)"
        )
    return {}, primary_table


def lake_replication_settings(
    cfg: PlatformConfig, source: RegionalPlatform, destination: RegionalPlatform
) -> ReplicationSettings:
    """One direction's settings from ``mlops:resilience.lakeReplication``, alarms to the alert
    topic of the region each metric is published in (see :class:`ReplicationSettings`)."""
    lake = cfg.resilience.lake_replication
    production = cfg.is_production
    return ReplicationSettings(
        time_control=lake.rtc(production),
        metrics=lake.metrics_on(production),
        delete_markers=lake.delete_markers,
        replica_modifications=lake.replica_modifications,
        latency_alarm_minutes=lake.latency_alarm_minutes,
        source_alerts=source.alerts,
        destination_alerts=destination.alerts,
    )


def replicate_lakes(
    cfg: PlatformConfig, primary: RegionalPlatform, secondary: RegionalPlatform
) -> dict[str, LakeReplication]:
    """Every zone of the primary's lake replicated to the secondary's and back.

    No loop: S3 does not replicate objects that are replicas created by another replication
    rule (https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-what-is-isnot-replicated.html);
    only their metadata changes flow back, with replica modification sync
    (https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-for-metadata-changes.html),
    which two-way replication turns on in both rules.
    """
    return {
        primary.region: primary.data_lake.replicate_to(
            secondary.data_lake, settings=lake_replication_settings(cfg, primary, secondary)
        ),
        secondary.region: secondary.data_lake.replicate_to(
            primary.data_lake, settings=lake_replication_settings(cfg, secondary, primary)
        ),
    }


# Stateful resources without a cross-region copy ---------------------------------------------


@dataclass(frozen=True)
class NoCopyReason:
    """Why a stateful resource has no copy in another region, and what stands instead."""

    type: str
    """The Pulumi type token (``aws:kms/key:Key``)."""
    name_pattern: str
    """A regular expression the resource's logical name must match in full (``.*``: all)."""
    reason: str
    """Why there is no copy, and what AWS guarantees instead (with the source)."""

    def matches(self, typ: str, name: str) -> bool:
        return typ == self.type and re.fullmatch(self.name_pattern, name) is not None


#: CloudTrail event history: "a viewable, searchable, downloadable, and immutable record of the
#: past 90 days of recorded management events in an AWS Region", free, with or without a trail
#: (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/view-cloudtrail-events.html).
EVENT_HISTORY = (
    "CloudTrail event history keeps an immutable 90-day record of management events in every "
    "region, with or without a trail "
    "(https://docs.aws.amazon.com/awscloudtrail/latest/userguide/view-cloudtrail-events.html)"
)

NO_COPY_REASONS: tuple[NoCopyReason, ...] = (
    NoCopyReason(
        "aws:kms/key:Key",
        r".*",
        "Every region has its own key, and each region's copies (table replicas, replicated "
        "objects, the EFS replica) are encrypted with that region's key: no copy needs a key "
        "of another region. Keys are regional; a deleted key waits 7-30 days before it is gone "
        "(https://docs.aws.amazon.com/kms/latest/cryptographic-details/key-deletion.html).",
    ),
    NoCopyReason(
        "aws:cloudwatch/logGroup:LogGroup",
        r".*-audit-.*",
        "The trail's CloudWatch Logs delivery (for the CIS metric filters and alarms): a second "
        f"copy of what the trail's bucket holds. After losing the primary, {EVENT_HISTORY}.",
    ),
    NoCopyReason(
        "aws:cloudwatch/logGroup:LogGroup",
        r".*",
        "Logs describe the region that wrote them (its functions, jobs, tasks, flow logs) and "
        "are kept for mlops:logRetentionDays there; a standby region writes its own. Losing a "
        "region loses only its own history, not a capability.",
    ),
    NoCopyReason(
        "aws:cloudtrail/trail:Trail",
        r".*",
        "One multi-region trail, in the primary: configuration, not data (its records are in "
        f"the audit bucket); {EVENT_HISTORY}. S3 data events of the lake are only in the "
        "trail's bucket.",
    ),
    NoCopyReason(
        "aws:s3/bucket:Bucket",
        r".*-audit-.*",
        "The trail's log bucket (and its access logs): the multi-region trail delivers here; "
        f"{EVENT_HISTORY}; log file validation digests prove what the bucket holds.",
    ),
    NoCopyReason(
        "aws:s3/bucket:Bucket",
        r".*-lake-access-logs.*",
        "Server access logs of the region's own lake buckets, expiring after "
        "mlops:dataLake.accessLogRetentionDays; the trail records the lake's S3 data events of "
        "every region.",
    ),
    NoCopyReason(
        "aws:s3/bucket:Bucket",
        r".*-web-alb-logs.*",
        "Access logs of the region's own load balancer, written only while it serves; the "
        "other region's load balancer logs to its own bucket.",
    ),
    NoCopyReason(
        "aws:ecr/repository:Repository",
        r".*",
        "Every region builds and pushes its own images from the same source on every deploy "
        "(the build contexts are in the repository), so a region's repository is rebuilt, "
        "not restored.",
    ),
    NoCopyReason(
        "aws:sqs/queue:Queue",
        r".*",
        "Dead-letter queues hold the region's own failed events for their retention; the "
        "events' sources (lake objects) are replicated and can be sent again.",
    ),
)


def no_copy_reason(typ: str, name: str) -> NoCopyReason | None:
    """The recorded reason why ``typ`` ``name`` has no cross-region copy, or None."""
    return next((r for r in NO_COPY_REASONS if r.matches(typ, name)), None)
