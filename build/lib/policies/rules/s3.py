"""S3 rules: public-access block, object ownership, TLS-only policy, SSE-KMS, versioning,
server access logging and lifecycle, for every bucket."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from policies.model import (
    Resource,
    Stack,
    as_list,
    as_mapping,
    denies_insecure_transport,
    is_true,
    is_unknown,
    present,
    statement_actions,
    statement_resources,
    statements,
)
from policies.rules.helpers import children, parsed_or_none, quote
from policies.rules.registry import Finding, rule
from policies.rules.types import (
    BUCKET_LIFECYCLE,
    BUCKET_LOGGING,
    BUCKET_OWNERSHIP,
    BUCKET_PAB,
    BUCKET_POLICY,
    BUCKET_SSE,
    BUCKET_VERSIONING,
    BUCKETS,
    LOAD_BALANCERS,
)

# ---------------------------------------------------------------------------------------------
# S3


def _bucket_children(stack: Stack, bucket: Resource, types: Sequence[str]) -> list[Resource]:
    """Bucket configuration resources of `types` whose `bucket` is this bucket."""
    return children(stack, bucket, types, "bucket")


def _bucket_policies(stack: Stack, bucket: Resource) -> list[dict[str, Any]]:
    """Parsed policies of the bucket (BucketPolicy resources and the legacy inline policy)."""
    raws = [p.props.get("policy") for p in _bucket_children(stack, bucket, BUCKET_POLICY)]
    raws.append(bucket.props.get("policy"))
    return [d for d in (parsed_or_none(r) for r in raws) if d is not None]


def _bucket_policy_unknown(stack: Stack, bucket: Resource) -> bool:
    """True when some policy of the bucket cannot be read yet (UNKNOWN)."""
    return any(
        is_unknown(p.props.get("policy")) for p in _bucket_children(stack, bucket, BUCKET_POLICY)
    )


def _bucket_name(bucket: Resource) -> str | None:
    """The bucket's name when known (its `bucket` input, else its id)."""
    name = bucket.props.get("bucket")
    if isinstance(name, str) and name:
        return name
    return bucket.id if isinstance(bucket.id, str) and bucket.id else None


def _covers_bucket(resources: list[str], name: str | None) -> bool:
    """True when the statement resources cover the bucket and its objects."""
    if "*" in resources:
        return True
    if not resources:
        return False
    if name is None:
        return True
    patterns = [m.group(1) for r in resources if (m := re.fullmatch(r"arn:[^:]+:s3:::(.+)", r))]
    bucket_level = any(fnmatch.fnmatchcase(name, p) for p in patterns)
    object_level = any(fnmatch.fnmatchcase(f"{name}/any/key", p) for p in patterns)
    return bucket_level and object_level


def is_log_delivery_target(bucket: Resource, stack: Stack, *, s3_only: bool = False) -> bool:
    """True when S3 server access logs (or, unless `s3_only`, load balancer access logs) are
    delivered to `bucket`."""
    if stack.referencing(bucket, stack.of(*BUCKET_LOGGING), "targetBucket"):
        return True
    if s3_only:
        return False
    return any(
        bucket in stack.refers(lb, "accessLogs", lb.get("accessLogs", "bucket"), [bucket])
        for lb in stack.of(*LOAD_BALANCERS)
        if present(lb.get("accessLogs", "bucket"))
    )


def sse_defaults(stack: Stack, bucket: Resource) -> list[Mapping[str, Any]]:
    """`applyServerSideEncryptionByDefault` blocks of the bucket's SSE configurations."""
    blocks: list[Mapping[str, Any]] = []
    for conf in _bucket_children(stack, bucket, BUCKET_SSE):
        for r in as_list(conf.props.get("rules")):
            blocks.append(as_mapping(as_mapping(r).get("applyServerSideEncryptionByDefault")))
    return blocks


@rule("s3-public-access-block", "Buckets block public access with all four flags.")
def s3_public_access_block(stack: Stack) -> Iterable[Finding]:
    """A BucketPublicAccessBlock for the bucket with blockPublicAcls, blockPublicPolicy,
    ignorePublicAcls and restrictPublicBuckets all true."""
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    for bucket in stack.of(*BUCKETS):
        blocks = _bucket_children(stack, bucket, BUCKET_PAB)
        if not blocks:
            yield (
                bucket,
                "no aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock refers to this bucket",
                "Create aws.s3.BucketPublicAccessBlock(bucket=bucket.id, "
                "block_public_acls=True, block_public_policy=True, ignore_public_acls=True, "
                "restrict_public_buckets=True).",
            )
            continue
        off = sorted(
            {
                f
                for b in blocks
                for f in flags
                if not is_unknown(b.props.get(f)) and not is_true(b.props.get(f))
            }
        )
        if off:
            yield (
                bucket,
                f"public access block has {', '.join(off)} not true; expected all four flags true",
                "Set "
                + ", ".join(re.sub(r"([A-Z])", r"_\1", f).lower() + "=True" for f in off)
                + " on the BucketPublicAccessBlock.",
            )


@rule("s3-ownership-enforced", "Buckets use BucketOwnerEnforced object ownership (no ACLs).")
def s3_ownership_enforced(stack: Stack) -> Iterable[Finding]:
    """A BucketOwnershipControls with `rule.objectOwnership` BucketOwnerEnforced."""
    for bucket in stack.of(*BUCKETS):
        controls = _bucket_children(stack, bucket, BUCKET_OWNERSHIP)
        values = [c.get("rule", "objectOwnership") for c in controls]
        if not any(v == "BucketOwnerEnforced" or is_unknown(v) for v in values):
            found = (
                f"objectOwnership is {quote(values[0])}"
                if values
                else "no aws:s3/bucketOwnershipControls:BucketOwnershipControls refers to it"
            )
            yield (
                bucket,
                f"{found}; expected 'BucketOwnerEnforced'",
                "Create aws.s3.BucketOwnershipControls(bucket=bucket.id, "
                "rule={'object_ownership': 'BucketOwnerEnforced'}).",
            )


@rule("s3-tls-only", "Bucket policies deny requests without TLS (aws:SecureTransport=false).")
def s3_tls_only(stack: Stack) -> Iterable[Finding]:
    """A Deny of s3:* to "*" on the bucket and its objects when aws:SecureTransport is false."""
    for bucket in stack.of(*BUCKETS):
        if _bucket_policy_unknown(stack, bucket):
            continue
        name = _bucket_name(bucket)
        ok = any(
            denies_insecure_transport(st)
            and any(a in ("*", "s3:*") for a in statement_actions(st))
            and _covers_bucket(statement_resources(st), name)
            for doc in _bucket_policies(stack, bucket)
            for st in statements(doc)
        )
        if not ok:
            yield (
                bucket,
                "no bucket policy statement denies s3:* to Principal '*' on the "
                "bucket and bucket/* when aws:SecureTransport is false",
                "Add to the bucket policy: {Effect: Deny, Principal: '*', Action: 's3:*', "
                "Resource: [bucket ARN, bucket ARN + '/*'], Condition: {Bool: "
                "{'aws:SecureTransport': 'false'}}}.",
            )


@rule("s3-sse-kms", "Buckets default to SSE-KMS with a customer key.")
def s3_sse_kms(stack: Stack) -> Iterable[Finding]:
    """A BucketServerSideEncryptionConfiguration rule with sseAlgorithm aws:kms (or
    aws:kms:dsse) and kmsMasterKeyId."""
    for bucket in stack.of(*BUCKETS):
        defaults = sse_defaults(stack, bucket)
        if any(is_unknown(d.get("sseAlgorithm")) for d in defaults):
            continue
        if any(
            d.get("sseAlgorithm") in ("aws:kms", "aws:kms:dsse")
            and present(d.get("kmsMasterKeyId"))
            for d in defaults
        ):
            continue
        found = (
            ", ".join(
                f"sseAlgorithm {quote(d.get('sseAlgorithm'))} kmsMasterKeyId "
                f"{quote(d.get('kmsMasterKeyId'))}"
                for d in defaults
            )
            or "no aws:s3/bucketServerSideEncryptionConfiguration refers to it"
        )
        yield (
            bucket,
            f"default encryption: {found}; expected sseAlgorithm 'aws:kms' with kmsMasterKeyId",
            "Create aws.s3.BucketServerSideEncryptionConfiguration(bucket=bucket.id, "
            "rules=[{'apply_server_side_encryption_by_default': {'sse_algorithm': 'aws:kms',"
            " 'kms_master_key_id': key.arn}, 'bucket_key_enabled': True}]).",
        )


@rule("s3-versioning", "Buckets have versioning enabled.")
def s3_versioning(stack: Stack) -> Iterable[Finding]:
    """A BucketVersioning with `versioningConfiguration.status` Enabled."""
    for bucket in stack.of(*BUCKETS):
        configs = _bucket_children(stack, bucket, BUCKET_VERSIONING)
        statuses = [c.get("versioningConfiguration", "status") for c in configs]
        if not any(s == "Enabled" or is_unknown(s) for s in statuses):
            found = (
                f"status {quote(statuses[0])}"
                if statuses
                else "no aws:s3/bucketVersioning:BucketVersioning refers to it"
            )
            yield (
                bucket,
                f"versioning: {found}; expected versioningConfiguration.status 'Enabled'",
                "Create aws.s3.BucketVersioning(bucket=bucket.id, "
                "versioning_configuration={'status': 'Enabled'}).",
            )


@rule("s3-access-logging", "Buckets write server access logs to a log bucket.")
def s3_access_logging(stack: Stack) -> Iterable[Finding]:
    """A BucketLogging whose `bucket` is the bucket, with a `targetBucket`."""
    for bucket in stack.of(*BUCKETS):
        logs = _bucket_children(stack, bucket, BUCKET_LOGGING)
        if not any(present(entry.props.get("targetBucket")) for entry in logs):
            yield (
                bucket,
                "no aws:s3/bucketLogging:BucketLogging with a targetBucket refers to this bucket",
                "Create aws.s3.BucketLogging(bucket=bucket.id, "
                "target_bucket=access_log_bucket.id, target_prefix='<bucket>/').",
            )


@rule("s3-lifecycle", "Buckets have lifecycle rules.")
def s3_lifecycle(stack: Stack) -> Iterable[Finding]:
    """A BucketLifecycleConfiguration for the bucket with at least one Enabled rule."""
    for bucket in stack.of(*BUCKETS):
        configs = _bucket_children(stack, bucket, BUCKET_LIFECYCLE)
        rules = [as_mapping(r) for c in configs for r in as_list(c.props.get("rules"))]
        if not any(r.get("status") == "Enabled" or is_unknown(r.get("status")) for r in rules):
            yield (
                bucket,
                "no aws:s3/bucketLifecycleConfiguration with an Enabled rule refers to this bucket",
                "Create aws.s3.BucketLifecycleConfiguration(bucket=bucket.id, rules=[...]) "
                "expiring noncurrent versions and aborting incomplete uploads.",
            )
