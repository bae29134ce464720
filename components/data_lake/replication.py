"""Cross-region replication of a lake: every zone bucket to its twin in another region's lake.

:meth:`components.data_lake.DataLake.replicate_to` creates a :class:`LakeReplication` as a
child of the source lake. Per zone: a replication role trusted by S3 for that source bucket
only, its one inline policy (:func:`replication_statements`), the source bucket's
replication configuration (:class:`ReplicationSettings`: S3 Replication Time Control,
replication metrics, delete markers, replica modification sync) and, with metrics, two alarms.

Two lakes replicating to each other (one :class:`LakeReplication` each way) make no loop:
S3 does not replicate objects that are replicas created by another replication rule
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-what-is-isnot-replicated.html);
with replica modification sync on both rules, metadata changes (tags, ACLs, Object Lock) of
a replica flow back to its source
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-for-metadata-changes.html).
What S3 replicates (same page): objects created after the configuration exists, not the
ones already there (S3 Batch Replication copies those); a plain DELETE's delete marker only
with delete-marker replication; never a DELETE of a specific version; never what lifecycle
rules do (each lake has the same rules in its own region).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_aws as aws

from components.buckets import SecureBucket
from components.checks import raise_problems
from components.data_lake.rules import s3_via_service
from components.iam import ServiceRole, ServiceRoleArgs, Statement
from components.kms import KeyInput, as_key
from components.monitoring import AlarmArgs, TopicInput, alert_topic_input_problem, metric_alarm

if TYPE_CHECKING:
    from components.data_lake.lake import DataLake

#: S3 Replication Time Control's one threshold: 99.99% of objects within 15 minutes; the only
#: value S3 accepts for ReplicationTime.Time.Minutes and Metrics.EventThreshold.Minutes
#: (https://docs.aws.amazon.com/AmazonS3/latest/API/API_ReplicationTimeValue.html).
RTC_MINUTES = 15


@dataclass(frozen=True)
class ReplicationSettings:
    """How one direction of a lake's replication runs, and who hears when it falls behind.

    With ``metrics``, two alarms per zone, each in the region S3 publishes its metric in
    ("Using S3 Replication metrics",
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/repl-metrics.html):
    ``ReplicationLatency`` (published in the destination bucket's region) to
    ``destination_alerts``, ``OperationsFailedReplication`` (published in the source bucket's
    region) to ``source_alerts``. Namespace ``AWS/S3``, dimensions ``SourceBucket``,
    ``DestinationBucket``, ``RuleId`` ("Metrics and dimensions",
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/metrics-dimensions.html, which also
    asks for missing data to be ignored: the metrics are only published while there is
    something to replicate).
    """

    time_control: bool = False
    """Default: no S3 Replication Time Control. When true, 99.99% of new objects within 15
    minutes (billed per GB); needs ``metrics``."""
    metrics: bool = False
    """Default: no replication metrics (and no alarms). When true, S3 publishes latency,
    pending and failed operations per rule, and the alarms above are created."""
    delete_markers: bool = True
    """Default: a plain DELETE's delete marker is replicated (the object disappears in both
    regions; its versions stay). False: deletes stay in the region they were made in."""
    replica_modifications: bool = False
    """Default: metadata changes of replicas stay in the destination. When true (both
    directions of a two-way replication), they flow back to the source object."""
    latency_alarm_minutes: int = RTC_MINUTES
    """Default: the latency alarm fires when the destination is 15 minutes behind."""
    source_alerts: TopicInput | None = None
    """Default: none (only allowed without ``metrics``). The source region's alert topic."""
    destination_alerts: TopicInput | None = None
    """Default: none (only allowed without ``metrics``). The destination region's topic."""

    def problems(self) -> list[str]:
        """Every problem with these settings, each naming its field."""
        out = []
        if self.time_control and not self.metrics:
            # S3 API reference, "ReplicationTime": "Must be specified together with a Metrics
            # block" (https://docs.aws.amazon.com/AmazonS3/latest/API/API_ReplicationTime.html).
            out.append("time_control: S3 Replication Time Control needs metrics=True")
        if not 1 <= self.latency_alarm_minutes <= 24 * 60:
            out.append(f"latency_alarm_minutes: {self.latency_alarm_minutes} must be 1 to 1440")
        if self.metrics:
            for label, topic in (
                ("source_alerts", self.source_alerts),
                ("destination_alerts", self.destination_alerts),
            ):
                problem = (
                    alert_topic_input_problem(topic, label)
                    if topic is not None
                    else f"{label}: give the alert topic the replication alarms notify"
                )
                if problem:
                    out.append(problem)
        return out


@dataclass(frozen=True)
class LakeReplicationArgs:
    """Arguments of :class:`LakeReplication`."""

    source: DataLake
    """The primary region's lake: every zone bucket of it is replicated."""
    destination: DataLake
    """The secondary region's lake: must have every zone of ``source``."""
    settings: ReplicationSettings = ReplicationSettings()
    """Default: delete markers replicated, no time control, no metrics, no alarms."""

    def problems(self) -> list[str]:
        out = list(self.settings.problems())
        if self.source is self.destination:
            out.append(
                "source and destination are the same lake; replicate to another region's lake"
            )
        missing = [z for z in self.source.zones if z not in self.destination.zones]
        if missing:
            out.append(
                f"destination: lacks zone(s) {missing} of the source; its zones are "
                f"{list(self.destination.zones)}"
            )
        return out


def replication_statements(
    source_bucket: SecureBucket,
    destination_bucket: SecureBucket,
    source_key: KeyInput,
    destination_key: KeyInput,
) -> list[Statement]:
    """Exactly what S3 replication of one zone bucket needs (AWS S3 User Guide,
    "Replicating encrypted objects"): read the source's replication configuration and
    object versions, replicate objects, deletes and tags into the destination, decrypt with
    the source key and encrypt with the destination key, each only through S3 in that
    key's region and only for that bucket. The destination bucket uses S3 Bucket Keys, so
    replication also decrypts with the destination key (S3 verifies the bucket key).

    Each key is a region key or an existing key's ARN (``ValueError`` naming ``source_key``
    or ``destination_key`` otherwise)."""
    source = as_key(source_key, "source_key")
    destination = as_key(destination_key, "destination_key")

    def context(bucket: SecureBucket) -> dict[str, Any]:
        return {
            "kms:EncryptionContext:aws:s3:arn": [bucket.arn, pulumi.Output.concat(bucket.arn, "/*")]
        }

    return [
        Statement(
            sid="ReadSourceReplicationConfiguration",
            actions=("s3:GetReplicationConfiguration", "s3:ListBucket"),
            resources=[source_bucket.arn],
        ),
        Statement(
            sid="ReadSourceObjectVersions",
            actions=(
                "s3:GetObjectVersionForReplication",
                "s3:GetObjectVersionAcl",
                "s3:GetObjectVersionTagging",
            ),
            resources=[source_bucket.objects_arn()],
        ),
        Statement(
            sid="ReplicateIntoDestination",
            actions=("s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"),
            resources=[destination_bucket.objects_arn()],
        ),
        Statement(
            sid="DecryptSourceObjects",
            actions=("kms:Decrypt",),
            resources=[source.arn],
            conditions={
                "StringEquals": {"kms:ViaService": source.context.apply(s3_via_service)},
                "StringLike": context(source_bucket),
            },
        ),
        Statement(
            sid="EncryptReplicas",
            actions=("kms:Encrypt", "kms:Decrypt"),
            resources=[destination.arn],
            conditions={
                "StringEquals": {"kms:ViaService": destination.context.apply(s3_via_service)},
                "StringLike": context(destination_bucket),
            },
        ),
    ]


def _replication_prerequisites(
    source: SecureBucket, destination: SecureBucket, role_policy: aws.iam.RolePolicy
) -> list[pulumi.Resource]:
    """What a zone's replication configuration waits for (grant, then use).

    - Versioning at both ends: S3 refuses the configuration otherwise ("InvalidRequest:
      Destination bucket must have versioning enabled", hashicorp/terraform-provider-aws#23578).
    - The role's policy and the destination's bucket policy: S3 replicates every new object
      from the moment the configuration exists, and an object it may not replicate (missing
      replication role, KMS or bucket permissions) turns FAILED and is never retried: it must
      be uploaded again or replicated by a Batch Replication job
      (https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-status.html). A
      destination in another account must grant the replication in that bucket policy
      (https://docs.aws.amazon.com/AmazonS3/latest/userguide/setting-repl-config-perm-overview.html).
    The destination key is named by its ARN, so the configuration already waits for it (and
    its key policy, part of the key).
    """
    return [source.versioning, destination.versioning, role_policy, destination.policy]


class LakeReplication(pulumi.ComponentResource):
    """Cross-region replication of every zone bucket of one lake to its twin in another.

    Per zone: a replication role (trusted by ``s3.amazonaws.com`` for that source bucket
    only), its one inline policy (:func:`replication_statements`), the source bucket's
    replication configuration (all objects, SSE-KMS objects included, replicas encrypted
    with the destination region's key, :class:`ReplicationSettings`) and, with metrics, the
    latency alarm (a child of the destination lake, so in the destination region) and the
    failed-operations alarm (here, in the source region). Create it with the source region's
    provider (as a child of the source lake): the configuration belongs to the source
    bucket, and the global IAM role must still have a provider.
    """

    def __init__(
        self,
        name: str,
        args: LakeReplicationArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        problems = args.problems()
        raise_problems(f"LakeReplication {name!r}", problems)
        super().__init__("mlops:data_lake:LakeReplication", name, None, opts)
        source, destination = args.source, args.destination
        self.settings = args.settings
        self.roles: dict[str, ServiceRole] = {}
        self.policies: dict[str, aws.iam.RolePolicy] = {}
        self.configurations: dict[str, aws.s3.BucketReplicationConfig] = {}
        self.alarms: dict[str, dict[str, aws.cloudwatch.MetricAlarm]] = {}
        for zone in source.zones:
            src, dst = source.bucket(zone), destination.bucket(zone)
            role = ServiceRole(
                f"{name}-{zone}",
                ServiceRoleArgs(
                    service="s3.amazonaws.com",
                    description=f"S3 replication of the {zone} zone to the other region",
                    source_arn=src.arn,
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
            policy = role.grant(
                "replicate",
                replication_statements(src, dst, source.key, destination.key),
            )
            self.roles[zone] = role
            self.policies[zone] = policy
            self.configurations[zone] = aws.s3.BucketReplicationConfig(
                f"{name}-{zone}",
                bucket=src.id,
                role=role.arn,
                rules=[replication_rule(zone, dst.arn, destination.key.arn, args.settings)],
                opts=pulumi.ResourceOptions(
                    parent=self, depends_on=_replication_prerequisites(src, dst, policy)
                ),
            )
            if args.settings.metrics:
                self.alarms[zone] = self._alarms(name, zone, src, dst, destination)
        self.register_outputs({"roles": {zone: r.arn for zone, r in self.roles.items()}})

    def _alarms(
        self,
        name: str,
        zone: str,
        src: SecureBucket,
        dst: SecureBucket,
        destination: DataLake,
    ) -> dict[str, aws.cloudwatch.MetricAlarm]:
        """The zone's latency alarm (destination region) and failed-operations alarm (source
        region): see :class:`ReplicationSettings` for where S3 publishes each metric."""
        settings = self.settings
        assert settings.source_alerts is not None and settings.destination_alerts is not None
        dimensions: dict[str, pulumi.Input[str]] = {
            "SourceBucket": src.name,
            "DestinationBucket": dst.name,
            "RuleId": rule_id(zone),
        }
        latency = AlarmArgs(
            namespace="AWS/S3",
            metric_name="ReplicationLatency",
            dimensions=dimensions,
            statistic="Maximum",
            comparison="GreaterThanThreshold",
            threshold=settings.latency_alarm_minutes * 60,
            period=300,
            evaluation_periods=1,
            treat_missing_data="ignore",
            description=(
                f"The {zone} zone's replica is more than {settings.latency_alarm_minutes} "
                "minutes behind its source: data written there would be lost with that region."
            ),
        )
        failed = AlarmArgs(
            namespace="AWS/S3",
            metric_name="OperationsFailedReplication",
            dimensions=dimensions,
            statistic="Sum",
            comparison="GreaterThanThreshold",
            threshold=0,
            period=300,
            evaluation_periods=1,
            treat_missing_data="ignore",
            description=(
                f"Objects of the {zone} zone failed to replicate: S3 never retries them "
                "(upload again or run S3 Batch Replication, "
                "https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-status.html)."
            ),
        )
        return {
            "latency": metric_alarm(
                f"{name}-{zone}-latency",
                latency,
                settings.destination_alerts,
                pulumi.ResourceOptions(parent=destination),
            ),
            "failed": metric_alarm(
                f"{name}-{zone}-failed",
                failed,
                settings.source_alerts,
                pulumi.ResourceOptions(parent=self),
            ),
        }


def rule_id(zone: str) -> str:
    """The replication rule's id of ``zone`` (the ``RuleId`` of its metrics)."""
    return f"replicate-{zone}"


def replication_rule(
    zone: str,
    destination_bucket_arn: pulumi.Input[str],
    destination_key_arn: pulumi.Input[str],
    settings: ReplicationSettings,
) -> aws.s3.BucketReplicationConfigRuleArgs:
    """One zone's rule: the whole bucket, SSE-KMS objects re-encrypted with the destination
    key, delete markers, replica modification sync, time control and metrics per
    ``settings``. Metrics carry an event threshold only with time control: S3 refuses one
    without ("Metrics cannot contain an event threshold when ReplicationTime is not specified
    or Disabled", https://github.com/pulumi/pulumi-aws/issues/5806)."""
    enabled = {True: "Enabled", False: "Disabled"}
    s3 = aws.s3
    return s3.BucketReplicationConfigRuleArgs(
        id=rule_id(zone),
        status="Enabled",
        priority=1,
        filter=s3.BucketReplicationConfigRuleFilterArgs(prefix=""),
        delete_marker_replication=s3.BucketReplicationConfigRuleDeleteMarkerReplicationArgs(
            status=enabled[settings.delete_markers]
        ),
        source_selection_criteria=s3.BucketReplicationConfigRuleSourceSelectionCriteriaArgs(
            sse_kms_encrypted_objects=s3.BucketReplicationConfigRuleSourceSelectionCriteriaSseKmsEncryptedObjectsArgs(
                status="Enabled"
            ),
            replica_modifications=(
                s3.BucketReplicationConfigRuleSourceSelectionCriteriaReplicaModificationsArgs(
                    status="Enabled"
                )
                if settings.replica_modifications
                else None
            ),
        ),
        destination=s3.BucketReplicationConfigRuleDestinationArgs(
            bucket=destination_bucket_arn,
            encryption_configuration=s3.BucketReplicationConfigRuleDestinationEncryptionConfigurationArgs(
                replica_kms_key_id=destination_key_arn
            ),
            replication_time=(
                s3.BucketReplicationConfigRuleDestinationReplicationTimeArgs(
                    status="Enabled",
                    time=s3.BucketReplicationConfigRuleDestinationReplicationTimeTimeArgs(
                        minutes=RTC_MINUTES
                    ),
                )
                if settings.time_control
                else None
            ),
            metrics=(
                s3.BucketReplicationConfigRuleDestinationMetricsArgs(
                    status="Enabled",
                    event_threshold=(
                        s3.BucketReplicationConfigRuleDestinationMetricsEventThresholdArgs(
                            minutes=RTC_MINUTES
                        )
                        if settings.time_control
                        else None
                    ),
                )
                if settings.metrics
                else None
            ),
        ),
    )
