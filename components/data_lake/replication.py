"""Cross-region replication of a lake: every zone bucket to its twin in another region's lake.

:meth:`components.data_lake.DataLake.replicate_to` creates a :class:`LakeReplication` as a
child of the source lake. Per zone: a replication role trusted by S3 for that source bucket
only, its one inline policy (:func:`replication_statements`), and the source bucket's
replication configuration.
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

if TYPE_CHECKING:
    from components.data_lake.lake import DataLake


@dataclass(frozen=True)
class LakeReplicationArgs:
    """Arguments of :class:`LakeReplication`."""

    source: DataLake
    """The primary region's lake: every zone bucket of it is replicated."""
    destination: DataLake
    """The secondary region's lake: must have every zone of ``source``."""

    def problems(self) -> list[str]:
        out = []
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
    only), its one inline policy (:func:`replication_statements`), and the source bucket's
    replication configuration: all objects, SSE-KMS objects included, replicas encrypted
    with the destination region's key, delete markers replicated. Create it with the source
    region's provider (as a child of the source lake): the configuration belongs to the
    source bucket, and the global IAM role must still have a provider.
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
        self.roles: dict[str, ServiceRole] = {}
        self.policies: dict[str, aws.iam.RolePolicy] = {}
        self.configurations: dict[str, aws.s3.BucketReplicationConfig] = {}
        for zone in source.zones:
            src, dst = source.bucket(zone), destination.bucket(zone)
            role = ServiceRole(
                f"{name}-{zone}",
                ServiceRoleArgs(
                    service="s3.amazonaws.com",
                    description=f"S3 replication of the {zone} zone to the secondary region",
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
                rules=[
                    aws.s3.BucketReplicationConfigRuleArgs(
                        id=f"replicate-{zone}",
                        status="Enabled",
                        priority=1,
                        filter=aws.s3.BucketReplicationConfigRuleFilterArgs(prefix=""),
                        delete_marker_replication=aws.s3.BucketReplicationConfigRuleDeleteMarkerReplicationArgs(
                            status="Enabled"
                        ),
                        source_selection_criteria=aws.s3.BucketReplicationConfigRuleSourceSelectionCriteriaArgs(
                            sse_kms_encrypted_objects=aws.s3.BucketReplicationConfigRuleSourceSelectionCriteriaSseKmsEncryptedObjectsArgs(
                                status="Enabled"
                            )
                        ),
                        destination=aws.s3.BucketReplicationConfigRuleDestinationArgs(
                            bucket=dst.arn,
                            encryption_configuration=aws.s3.BucketReplicationConfigRuleDestinationEncryptionConfigurationArgs(
                                replica_kms_key_id=destination.key.arn
                            ),
                        ),
                    )
                ],
                opts=pulumi.ResourceOptions(
                    parent=self, depends_on=_replication_prerequisites(src, dst, policy)
                ),
            )
        self.register_outputs({"roles": {zone: r.arn for zone, r in self.roles.items()}})
