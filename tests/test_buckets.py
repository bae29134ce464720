"""SecureBucket: every S3 row of the security baseline, and its explicit opt-outs."""

from __future__ import annotations

import json
import re

import pulumi
import pytest

from components.buckets import SecureBucket, SecureBucketArgs, Transition
from components.kms import RegionKey, RegionKeyArgs
from stacks.offline import render_components


def render(**kwargs):
    def build(opts):
        key = RegionKey("k", RegionKeyArgs(alias="t"), opts=opts)
        args = {"key": key, "purpose": "test", **kwargs}
        if kwargs.get("sse_s3_for_log_delivery"):
            args["key"] = None
        SecureBucket("b", SecureBucketArgs(**args), opts=opts)

    return render_components(build)


def one(plan, typ):
    found = plan.of_type(typ)
    assert len(found) == 1, typ
    return found[0]


def test_baseline_holds_by_default() -> None:
    plan = render(access_log_bucket="logs-bucket")
    bucket = one(plan, "aws:s3/bucket:Bucket")
    name = bucket["id"]
    pab = one(plan, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")["inputs"]
    assert pab == {
        "blockPublicAcls": True,
        "blockPublicPolicy": True,
        "bucket": name,
        "ignorePublicAcls": True,
        "restrictPublicBuckets": True,
    }
    ownership = one(plan, "aws:s3/bucketOwnershipControls:BucketOwnershipControls")["inputs"]
    assert ownership["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
    versioning = one(plan, "aws:s3/bucketVersioning:BucketVersioning")["inputs"]
    assert versioning["versioningConfiguration"]["status"] == "Enabled"
    sse = one(
        plan,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    )["inputs"]["rules"][0]
    key = one(plan, "aws:kms/key:Key")
    assert sse["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
    assert sse["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"].endswith(key["id"])
    assert sse["bucketKeyEnabled"] is True
    policy = json.loads(one(plan, "aws:s3/bucketPolicy:BucketPolicy")["inputs"]["policy"])
    deny = policy["Statement"][0]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {
        "Bool": {"aws:SecureTransport": "false"}
    }
    assert deny["Resource"] == [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"]
    logging = one(plan, "aws:s3/bucketLogging:BucketLogging")["inputs"]
    assert logging["targetBucket"] == "logs-bucket" and logging["targetPrefix"] == "test/"
    rules = one(plan, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")["inputs"][
        "rules"
    ]
    assert rules[0]["noncurrentVersionExpiration"]["noncurrentDays"] == 30
    assert bucket["inputs"]["forceDestroy"] is False
    assert bucket["options"]["protect"] is False


def test_log_delivery_buckets_use_sse_s3_explicitly() -> None:
    plan = render(sse_s3_for_log_delivery=True, expiration_days=90)
    sse = one(
        plan,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    )["inputs"]["rules"][0]
    assert sse["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}
    rules = one(plan, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")["inputs"][
        "rules"
    ]
    assert rules[1]["expiration"]["days"] == 90
    assert not plan.of_type("aws:s3/bucketLogging:BucketLogging")


def test_transitions_protection_destroyability_and_events() -> None:
    plan = render(
        transitions=[Transition(30, "STANDARD_IA"), Transition(90, "GLACIER_IR")],
        protect=True,
        eventbridge_notifications=True,
    )
    bucket = one(plan, "aws:s3/bucket:Bucket")
    assert bucket["options"]["protect"] and bucket["options"]["retainOnDelete"]
    rules = one(plan, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")["inputs"][
        "rules"
    ]
    assert [(t["days"], t["storageClass"]) for t in rules[1]["transitions"]] == [
        (30, "STANDARD_IA"),
        (90, "GLACIER_IR"),
    ]
    assert (
        one(plan, "aws:s3/bucketNotification:BucketNotification")["inputs"]["eventbridge"] is True
    )
    assert (
        render(force_destroy=True).of_type("aws:s3/bucket:Bucket")[0]["inputs"]["forceDestroy"]
        is True
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"transitions": [Transition(10, "STANDARD_IA")]}, r"transitions\[0\].days: 10"),
        ({"transitions": [Transition(40, "COLD")]}, r"transitions\[0\].storage_class: 'COLD'"),
        (
            {"transitions": [Transition(90, "GLACIER"), Transition(60, "DEEP_ARCHIVE")]},
            r"transitions\[1\].days",
        ),
        ({"noncurrent_version_expiration_days": 0}, "noncurrent_version_expiration_days"),
        (
            {"expiration_days": 30, "transitions": [Transition(60, "GLACIER")]},
            "not before expiration_days",
        ),
    ],
)
def test_bad_arguments(kwargs, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        render(**kwargs)


def test_key_and_sse_s3_conflict() -> None:
    def build(opts):
        key = RegionKey("k", RegionKeyArgs(alias="t"), opts=opts)
        SecureBucket(
            "b", SecureBucketArgs(key=key, purpose="x", sse_s3_for_log_delivery=True), opts=opts
        )

    with pytest.raises(ValueError, match=r"Only one of \[key\] and \[sse_s3_for_log_delivery\]"):
        render_components(build)


def test_policy_waits_for_the_public_access_block_and_lifecycle_for_versioning() -> None:
    """S3 refuses concurrent bucket-policy and public-access-block writes (OperationAborted),
    and noncurrent-version rules only mean something on a versioned bucket."""
    plan = render()
    policy = one(plan, "aws:s3/bucketPolicy:BucketPolicy")
    assert (
        one(plan, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")["urn"]
        in policy["dependencies"]
    )
    lifecycle = one(plan, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    assert one(plan, "aws:s3/bucketVersioning:BucketVersioning")["urn"] in lifecycle["dependencies"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"sse_s3_for_log_delivery": True, "expiration_days": 90},
        {"transitions": [Transition(30, "STANDARD_IA"), Transition(90, "GLACIER_IR")]},
        {"transitions": [Transition(0, "INTELLIGENT_TIERING")], "expiration_days": 365},
    ],
)
def test_lifecycle_rules_have_shapes_s3_accepts(kwargs) -> None:
    """S3 (API LifecycleExpiration): ExpiredObjectDeleteMarker cannot be given with Days or
    Date in one Expiration; every rule has a unique id, a status and a filter; a rule's
    transitions are in increasing days and its expiration comes after them."""
    rules = one(
        render(**kwargs), "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
    )["inputs"]["rules"]
    assert len({r["id"] for r in rules}) == len(rules)
    for rule in rules:
        assert rule["status"] == "Enabled" and rule["filter"] == {"prefix": ""}
        expiration = rule.get("expiration", {})
        assert not (
            expiration.get("expiredObjectDeleteMarker") and ({"days", "date"} & set(expiration))
        )
        days = [t["days"] for t in rule.get("transitions", [])]
        assert days == sorted(set(days))
        if days and "days" in expiration:
            assert expiration["days"] > days[-1]
    # Delete markers left by noncurrent expiration are always cleaned up.
    assert any(
        r.get("expiration", {}).get("expiredObjectDeleteMarker")
        or "days" in r.get("expiration", {})
        for r in rules
    )


# An existing key ----------------------------------------------------------------------------

TEAM_KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def test_an_existing_key_arn_encrypts_the_bucket() -> None:
    plan = render_components(
        lambda opts: SecureBucket("b", SecureBucketArgs(key=TEAM_KEY_ARN, purpose="x"), opts=opts)
    )
    sse = one(
        plan,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    )["inputs"]["rules"][0]
    assert sse["applyServerSideEncryptionByDefault"] == {
        "sseAlgorithm": "aws:kms",
        "kmsMasterKeyId": TEAM_KEY_ARN,
    }
    assert sse["bucketKeyEnabled"] is True
    assert plan.of_type("aws:kms/key:Key") == []


@pytest.mark.parametrize(
    "key, message",
    [
        (42, r"key: expected a RegionKey or an existing KMS key ARN .*got int"),
        ("arn:aws:kms:eu-west-1:123456789012:alias/x", r"key: .* is an alias ARN"),
        ("", r"key: '' is not a KMS key ARN"),
    ],
)
def test_a_wrong_key_is_refused_before_anything_is_registered(key, message: str) -> None:
    caught: list[ValueError] = []

    def build(opts):
        try:
            SecureBucket("b", SecureBucketArgs(key=key, purpose="x", expiration_days=0), opts=opts)
        except ValueError as exc:
            caught.append(exc)

    plan = render_components(build)
    assert len(caught) == 1
    error = str(caught[0])
    assert error.startswith("SecureBucket 'b': ") and re.search(message, error), error
    assert "expiration_days: must be at least 1" in error
    assert [r["type"] for r in plan.resources] == ["pulumi:providers:aws"]


# Grant, then use: logging waits for the target's policy -------------------------------------

LOG_TARGETS = {
    "name": lambda logs: logs.name,
    "id": lambda logs: logs.id,
    "derived": lambda logs: pulumi.Output.concat(logs.name, ""),
}


def render_logging_pair(target: str, log_bucket_first: bool = True):
    """A log bucket and a bucket logging into it, the target named as ``target`` says; with
    ``log_bucket_first=False`` the logging bucket is created first, its target resolved later
    (as DataLake.accept_access_logs sources may be)."""

    def build(opts):
        def log_bucket():
            return SecureBucket(
                "logs",
                SecureBucketArgs(key=None, purpose="logs", sse_s3_for_log_delivery=True),
                opts=opts,
            )

        def source(name):
            SecureBucket(
                "data",
                SecureBucketArgs(key=TEAM_KEY_ARN, purpose="data", access_log_bucket=name),
                opts=opts,
            )

        if log_bucket_first:
            source(LOG_TARGETS[target](log_bucket()))
        else:
            name, resolve = pulumi.deferred_output()
            source(name)
            resolve(LOG_TARGETS[target](log_bucket()))

    return render_components(build)


@pytest.mark.parametrize("log_bucket_first", [True, False])
@pytest.mark.parametrize("target", sorted(LOG_TARGETS))
def test_logging_waits_for_the_target_buckets_policy(target: str, log_bucket_first: bool) -> None:
    """S3 checks the target's grants when logging is switched on (InvalidTargetBucketForLogging
    otherwise): the logging configuration must not race the policy that grants them."""
    plan = render_logging_pair(target, log_bucket_first)
    logs = plan.find("aws:s3/bucket:Bucket", "logs")
    logging = one(plan, "aws:s3/bucketLogging:BucketLogging")
    assert logging["inputs"]["targetBucket"] == logs["id"]
    assert (
        plan.find("aws:s3/bucketPolicy:BucketPolicy", "logs-policy")["urn"]
        in (logging["dependencies"])
    )
    # Only the target's policy: the source's own policy is no prerequisite.
    assert (
        plan.find("aws:s3/bucketPolicy:BucketPolicy", "data-policy")["urn"]
        not in (logging["dependencies"])
    )


def test_logging_to_a_bucket_named_by_a_string_waits_for_the_source_bucket_only() -> None:
    """An existing bucket's policy is its owner's: nothing of this program to wait for."""
    logging = one(render(access_log_bucket="logs-bucket"), "aws:s3/bucketLogging:BucketLogging")
    assert [d.rsplit("::", 1)[-1] for d in logging["dependencies"]] == ["b"]
