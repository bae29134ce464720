"""Locked-down S3 buckets: the one way the platform creates a bucket.

A :class:`SecureBucket` always has all four public-access-block flags, ``BucketOwnerEnforced``
ownership (no ACLs), versioning, default encryption, a bucket policy that denies requests
without TLS, and lifecycle rules (noncurrent versions always expire). Encryption is SSE-KMS
with the given key and bucket keys, except for buckets that AWS services deliver logs to
which only accept SSE-S3 (server access logs, load balancer access logs); that opt-out is
an argument named for what it does, ``sse_s3_for_log_delivery``.

Grant, then use: S3 checks a logging target's grants when logging is switched on, so a
bucket's server access logging waits for the target's bucket policy whenever the target is
(derived from) another :class:`SecureBucket` of the program (:func:`bucket_policies_behind`),
whatever order the two were created in.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components.checks import raise_problems
from components.kms import ExistingKey, KeyInput, RegionKey, as_key, key_input_problem

STORAGE_CLASSES = (
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER_IR",
    "GLACIER",
    "DEEP_ARCHIVE",
)


@dataclass(frozen=True)
class Transition:
    """Move current objects to ``storage_class`` after ``days``."""

    days: int
    storage_class: str


@dataclass(frozen=True)
class SecureBucketArgs:
    """Arguments of :class:`SecureBucket`."""

    key: KeyInput | None
    """The region key, or the ARN of an existing KMS key (its key policy must let the
    account's principals use it through S3), for SSE-KMS with bucket keys. Must be None
    exactly when ``sse_s3_for_log_delivery`` is set."""
    purpose: str
    """What the bucket holds; becomes the ``purpose`` tag."""
    noncurrent_version_expiration_days: int = 30
    """Default: overwritten or deleted versions are kept 30 days, then expire."""
    expiration_days: int | None = None
    """Default: current objects never expire. When set (log buckets), they expire after it."""
    transitions: Sequence[Transition] = ()
    """Default: objects stay in S3 Standard."""
    access_log_bucket: pulumi.Input[str] | None = None
    """Default: no server access logging (only for the log bucket itself). When given, the
    name of the bucket that receives this bucket's access logs. When that name comes from
    another SecureBucket (its ``name``, ``id``, or an Output computed from them), logging is
    switched on only once that bucket's policy exists, as S3 checks the grants then; a plain
    string names a bucket whose policy is its owner's."""
    access_log_prefix: str | None = None
    """Default: logs are written under ``<bucket purpose>/``."""
    sse_s3_for_log_delivery: bool = False
    """Default: SSE-KMS. When true, SSE-S3 (AES256): for buckets that AWS log delivery
    writes to (S3 server access logs, ALB access logs), which cannot use SSE-KMS."""
    force_destroy: bool = False
    """Default: a bucket with objects cannot be deleted. When true (ephemeral stacks), the
    bucket and every object version are deleted with the stack."""
    protect: bool = False
    """Default: unprotected. When true, the bucket is protected and retained on delete."""
    eventbridge_notifications: bool = False
    """Default: off. When true, object events are sent to EventBridge."""
    extra_policy_statements: Sequence[pulumi.Input[Mapping[str, Any]]] = ()
    """Default: only the TLS-only denial. Statements appended to the bucket policy (e.g. a
    log delivery service's permission); they may reference ``bucket_arn`` only through
    :meth:`SecureBucket.arn`-derived Outputs passed in by the caller."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Default: no extra tags beyond ``Name`` and ``purpose``."""

    def problems(self) -> list[str]:
        out = []
        if self.sse_s3_for_log_delivery and self.key is not None:
            out.append("Only one of [key] and [sse_s3_for_log_delivery] can be given")
        if not self.sse_s3_for_log_delivery and self.key is None:
            out.append("key: required unless sse_s3_for_log_delivery is set")
        key_problem = None if self.key is None else key_input_problem(self.key, "key")
        if key_problem:
            out.append(key_problem)
        if self.noncurrent_version_expiration_days < 1:
            out.append("noncurrent_version_expiration_days: must be at least 1")
        if self.expiration_days is not None and self.expiration_days < 1:
            out.append("expiration_days: must be at least 1")
        previous = 0
        for i, t in enumerate(self.transitions):
            if t.storage_class not in STORAGE_CLASSES:
                out.append(
                    f"transitions[{i}].storage_class: {t.storage_class!r} is not one of {list(STORAGE_CLASSES)}"
                )
            minimum = 30 if t.storage_class in ("STANDARD_IA", "ONEZONE_IA") else 0
            if t.days < max(minimum, 0) or t.days <= previous - 1:
                out.append(
                    f"transitions[{i}].days: {t.days} must be >= {minimum} and after the previous transition"
                )
            previous = t.days + 1
            if self.expiration_days is not None and t.days >= self.expiration_days:
                out.append(f"transitions[{i}].days: {t.days} is not before expiration_days")
        return out


class SecureBucket(pulumi.ComponentResource):
    """An S3 bucket that meets every S3 row of the platform's security baseline.

    Built in steps, in this order: the bucket, its public-access block, ownership controls,
    versioning, default encryption, lifecycle rules, server access logging (when given), the
    TLS-only policy and, when asked, EventBridge notifications.
    """

    def __init__(
        self, name: str, args: SecureBucketArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        problems = args.problems()
        raise_problems(f"SecureBucket {name!r}", problems)
        key = None if args.key is None else as_key(args.key, "key")
        super().__init__("mlops:buckets:SecureBucket", name, None, opts)
        self._name = name
        self._args = args
        self._child = pulumi.ResourceOptions(parent=self)
        self.purpose = args.purpose
        self.key: RegionKey | ExistingKey | None = key
        self.bucket = aws.s3.Bucket(
            f"{name}",
            force_destroy=args.force_destroy,
            tags={"Name": name, "purpose": args.purpose, **args.tags},
            opts=pulumi.ResourceOptions(
                parent=self, protect=args.protect, retain_on_delete=args.protect
            ),
        )
        self._access_controls()
        self.encryption = self._encryption()
        self.lifecycle = self._lifecycle()
        self.logging = self._logging()
        self.policy = self._policy()
        _POLICY_OF_BUCKET[self.bucket] = self.policy
        self.notification: aws.s3.BucketNotification | None = None
        if args.eventbridge_notifications:
            self.notification = aws.s3.BucketNotification(
                f"{name}-events", bucket=self.bucket.id, eventbridge=True, opts=self._child
            )
        self.arn = self.bucket.arn
        self.name = self.bucket.bucket
        self.id = self.bucket.id
        self.register_outputs({"arn": self.bucket.arn, "name": self.bucket.bucket})

    def _access_controls(self) -> None:
        """All four public-access-block flags, no ACLs, and versioning."""
        name, child = self._name, self._child
        self.public_access_block = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access",
            bucket=self.bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        self.ownership = aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=self.bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=child,
        )
        self.versioning = aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=self.bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(
                status="Enabled"
            ),
            opts=child,
        )

    def _encryption(self) -> aws.s3.BucketServerSideEncryptionConfiguration:
        """SSE-KMS with the key and bucket keys, or SSE-S3 for log delivery buckets."""
        if self.key is not None:
            default = aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                sse_algorithm="aws:kms", kms_master_key_id=self.key.arn
            )
            bucket_key = True
        else:
            default = aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                sse_algorithm="AES256"
            )
            bucket_key = False
        return aws.s3.BucketServerSideEncryptionConfiguration(
            f"{self._name}-encryption",
            bucket=self.bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=default,
                    bucket_key_enabled=bucket_key,
                )
            ],
            opts=self._child,
        )

    def _lifecycle(self) -> aws.s3.BucketLifecycleConfiguration:
        """Noncurrent versions always expire; current ones move and expire as configured."""
        args = self._args
        rules = [
            aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="expire-noncurrent-versions",
                status="Enabled",
                filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                    noncurrent_days=args.noncurrent_version_expiration_days
                ),
                abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                    days_after_initiation=7
                ),
                expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(
                    expired_object_delete_marker=True
                ),
            )
        ]
        if args.transitions or args.expiration_days is not None:
            rules.append(
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="current-versions",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    transitions=[
                        aws.s3.BucketLifecycleConfigurationRuleTransitionArgs(
                            days=t.days, storage_class=t.storage_class
                        )
                        for t in args.transitions
                    ]
                    or None,
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(
                        days=args.expiration_days
                    )
                    if args.expiration_days is not None
                    else None,
                )
            )
        return aws.s3.BucketLifecycleConfiguration(
            f"{self._name}-lifecycle",
            bucket=self.bucket.id,
            rules=rules,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.versioning]),
        )

    def _logging(self) -> aws.s3.BucketLogging | None:
        """Server access logs to ``access_log_bucket``, when given, once the target's bucket
        policy (when the program manages it) lets S3 log delivery write.

        S3 checks the target when logging is switched on and refuses a target without the
        grants (InvalidTargetBucketForLogging: Amazon S3 Developer Guide 2006-03-01, "Server
        Access Logging Configuration API",
        archived at https://documentation.help/s3-dg-20060301/LoggingAPI.html); with
        BucketOwnerEnforced only the target's bucket policy can grant logging.s3.amazonaws.com
        (https://docs.aws.amazon.com/AmazonS3/latest/userguide/enable-server-access-logging.html).
        """
        args = self._args
        if args.access_log_bucket is None:
            return None
        return aws.s3.BucketLogging(
            f"{self._name}-logging",
            bucket=self.bucket.id,
            target_bucket=args.access_log_bucket,
            target_prefix=args.access_log_prefix or f"{args.purpose}/",
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=bucket_policies_behind(args.access_log_bucket)
            ),
        )

    def _policy(self) -> aws.s3.BucketPolicy:
        """Deny every request without TLS, then the caller's extra statements."""
        tls_only = {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [self.bucket.arn, pulumi.Output.concat(self.bucket.arn, "/*")],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
        return aws.s3.BucketPolicy(
            f"{self._name}-policy",
            bucket=self.bucket.id,
            policy=pulumi.Output.json_dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [tls_only, *self._args.extra_policy_statements],
                }
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.public_access_block]),
        )

    def objects_arn(self, prefix: str = "") -> pulumi.Output[str]:
        """ARN pattern of the objects under ``prefix`` (all objects by default)."""
        clean = prefix.strip("/")
        return pulumi.Output.concat(self.bucket.arn, "/", f"{clean}/*" if clean else "*")


#: The policy of each SecureBucket's bucket. Weak keys: renders in one process (tests) must not
#: keep each other's resources alive.
_POLICY_OF_BUCKET: weakref.WeakKeyDictionary[aws.s3.Bucket, aws.s3.BucketPolicy] = (
    weakref.WeakKeyDictionary()
)


def bucket_policies_behind(value: pulumi.Input[Any]) -> pulumi.Output[list[aws.s3.BucketPolicy]]:
    """The bucket policies of the SecureBuckets that ``value`` was computed from (their name,
    id or ARN, or any Output derived from them), for ``depends_on``.

    For what AWS checks against a bucket's policy when it is created (server access logging,
    load balancer access logs, a trail, flow logs to S3): naming the bucket only makes it wait
    for the bucket. The buckets are those the value's Output carries as its dependencies
    (what Pulumi itself records for an input), so the order in which the program created the
    two does not matter. A plain string, or a bucket not created by SecureBucket, gives none.

    ``Output.resources()`` is how the SDK itself collects an input's dependencies; the stack
    tests (tests/test_stack_ordering.py) fail should it ever stop finding them. A SecureBucket
    records its policy before its constructor returns, and nothing in the constructor yields
    to the event loop, so no lookup sees a bucket without its policy.
    """

    async def policies() -> list[aws.s3.BucketPolicy]:
        if not isinstance(value, pulumi.Output):
            return []
        buckets = [r for r in await value.resources() if isinstance(r, aws.s3.Bucket)]
        found = [_POLICY_OF_BUCKET.get(b) for b in buckets]
        return [p for p in found if p is not None]

    return pulumi.Output.from_input(policies())
