"""DataLake and LakeReplication on the recorded graph; the lake's pure rules.

What is granted and what is not, the S3 baseline on every bucket of a lake, replication
contents, protection vs destroyability, and bad input (clear error, nothing registered).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from parliament import analyze_policy_string

from components.buckets import STORAGE_CLASSES, SecureBucket, SecureBucketArgs, Transition
from components.data_lake import (
    DEFAULT_ZONES,
    NEXT_STORAGE_CLASSES,
    DataLake,
    DataLakeArgs,
    LakeReplication,
    LakeReplicationArgs,
    log_delivery_statement,
    replication_statements,
    transition_problems,
    zone_problems,
)
from components.iam import ServiceRole, ServiceRoleArgs
from components.kms import RegionKey, RegionKeyArgs
from stacks.offline import Plan, render_components

BUCKET = "aws:s3/bucket:Bucket"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
REPLICATION = "aws:s3/bucketReplicationConfig:BucketReplicationConfig"
ACCOUNT = "123456789012"


# Rendering helpers -----------------------------------------------------------------------------


def render_lake(
    after: Callable[[DataLake, ServiceRole, pulumi.ResourceOptions], None] | None = None,
    **kwargs: Any,
) -> Plan:
    """One lake (and one job role) in eu-west-1; ``after`` may add grants."""

    def build(opts: pulumi.ResourceOptions) -> None:
        key = RegionKey("k", RegionKeyArgs(alias="t"), opts=opts)
        lake = DataLake("lake", DataLakeArgs(key=key, **kwargs), opts=opts)
        role = ServiceRole(
            "job", ServiceRoleArgs(service="ecs-tasks.amazonaws.com", description="job"), opts=opts
        )
        if after is not None:
            after(lake, role, opts)

    return render_components(build)


def render_pair(
    source_zones: tuple[str, ...] = DEFAULT_ZONES,
    destination_zones: tuple[str, ...] = DEFAULT_ZONES,
) -> tuple[Plan, list[BaseException]]:
    """A lake in eu-west-1 replicating to a lake in eu-central-1; errors are collected."""
    errors: list[BaseException] = []

    def build(opts: pulumi.ResourceOptions) -> None:
        key = RegionKey("k", RegionKeyArgs(alias="t"), opts=opts)
        lake = DataLake("lake", DataLakeArgs(key=key, zones=source_zones), opts=opts)
        other = pulumi.ResourceOptions(
            providers={"aws": aws.Provider("aws-eu-central-1", region="eu-central-1")}
        )
        key2 = RegionKey("k2", RegionKeyArgs(alias="t2"), opts=other)
        lake2 = DataLake("lake2", DataLakeArgs(key=key2, zones=destination_zones), opts=other)
        try:
            lake.replicate_to(lake2)
        except ValueError as exc:
            errors.append(exc)

    return render_components(build), errors


def children_of_bucket(plan: Plan, bucket: dict[str, Any], typ: str) -> list[dict[str, Any]]:
    return [r for r in plan.of_type(typ) if r["inputs"].get("bucket") == bucket["id"]]


def one_child(plan: Plan, bucket: dict[str, Any], typ: str) -> dict[str, Any]:
    found = children_of_bucket(plan, bucket, typ)
    assert len(found) == 1, (bucket["name"], typ, len(found))
    return found[0]


def zone_bucket(plan: Plan, zone: str, lake: str = "lake") -> dict[str, Any]:
    return plan.find(BUCKET, f"{lake}-{zone}")


def grant_documents(plan: Plan) -> list[dict[str, Any]]:
    return [json.loads(p["inputs"]["policy"]) for p in plan.of_type(ROLE_POLICY)]


def only_grant(plan: Plan) -> dict[str, Any]:
    docs = grant_documents(plan)
    assert len(docs) == 1
    return docs[0]


def by_sid(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in document["Statement"]}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def all_actions(document: dict[str, Any]) -> set[str]:
    return {a for s in document["Statement"] for a in as_list(s["Action"])}


def all_resources(document: dict[str, Any]) -> list[str]:
    return [r for s in document["Statement"] for r in as_list(s["Resource"])]


def key_arn(plan: Plan, name: str = "k-key") -> str:
    key = plan.find("aws:kms/key:Key", name)
    return f"arn:aws:kms:{key['region']}:{ACCOUNT}:key/{key['id']}"


@pytest.fixture(scope="module")
def lake_plan() -> Plan:
    return render_lake(
        transitions={"raw": (Transition(30, "STANDARD_IA"), Transition(90, "GLACIER_IR"))},
        noncurrent_version_expiration_days=14,
        access_log_retention_days=60,
        tags={"owner": "ml"},
    )


@pytest.fixture(scope="module")
def pair_plan() -> Plan:
    plan, errors = render_pair()
    assert errors == []
    return plan


# The buckets ------------------------------------------------------------------------------------


def test_one_bucket_per_default_zone_plus_the_log_bucket(lake_plan: Plan) -> None:
    names = sorted(b["name"] for b in lake_plan.of_type(BUCKET))
    assert names == sorted([f"lake-{z}" for z in DEFAULT_ZONES] + ["lake-access-logs"])


@pytest.mark.parametrize("zone", DEFAULT_ZONES)
def test_zone_bucket_meets_the_s3_baseline(lake_plan: Plan, zone: str) -> None:
    bucket = zone_bucket(lake_plan, zone)
    arn = f"arn:aws:s3:::{bucket['id']}"
    pab = one_child(lake_plan, bucket, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")[
        "inputs"
    ]
    assert all(
        pab[f] is True
        for f in (
            "blockPublicAcls",
            "blockPublicPolicy",
            "ignorePublicAcls",
            "restrictPublicBuckets",
        )
    )
    ownership = one_child(
        lake_plan, bucket, "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
    )
    assert ownership["inputs"]["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
    versioning = one_child(lake_plan, bucket, "aws:s3/bucketVersioning:BucketVersioning")
    assert versioning["inputs"]["versioningConfiguration"]["status"] == "Enabled"
    sse = one_child(
        lake_plan,
        bucket,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    )["inputs"]["rules"][0]
    assert sse["applyServerSideEncryptionByDefault"] == {
        "sseAlgorithm": "aws:kms",
        "kmsMasterKeyId": key_arn(lake_plan),
    }
    assert sse["bucketKeyEnabled"] is True
    policy = json.loads(
        one_child(lake_plan, bucket, "aws:s3/bucketPolicy:BucketPolicy")["inputs"]["policy"]
    )
    assert policy["Statement"] == [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [arn, f"{arn}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ]
    logging = one_child(lake_plan, bucket, "aws:s3/bucketLogging:BucketLogging")["inputs"]
    assert logging["targetBucket"] == lake_plan.find(BUCKET, "lake-access-logs")["id"]
    assert logging["targetPrefix"] == f"{zone}/"
    rules = one_child(
        lake_plan, bucket, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
    )["inputs"]["rules"]
    assert rules[0]["noncurrentVersionExpiration"] == {"noncurrentDays": 14}
    assert rules[0]["status"] == "Enabled"
    events = one_child(lake_plan, bucket, "aws:s3/bucketNotification:BucketNotification")
    assert events["inputs"]["eventbridge"] is True
    assert bucket["inputs"]["tags"] == {
        "Name": f"lake-{zone}",
        "purpose": f"data-lake-{zone}",
        "zone": zone,
        "owner": "ml",
    }


def test_transitions_apply_to_their_zone_only(lake_plan: Plan) -> None:
    for zone in DEFAULT_ZONES:
        rules = one_child(
            lake_plan,
            zone_bucket(lake_plan, zone),
            "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        )["inputs"]["rules"]
        transitions = [
            (t["days"], t["storageClass"]) for r in rules for t in r.get("transitions", [])
        ]
        assert transitions == ([(30, "STANDARD_IA"), (90, "GLACIER_IR")] if zone == "raw" else [])


def test_log_bucket_is_sse_s3_retained_and_written_only_by_log_delivery(lake_plan: Plan) -> None:
    logs = lake_plan.find(BUCKET, "lake-access-logs")
    arn = f"arn:aws:s3:::{logs['id']}"
    sse = one_child(
        lake_plan,
        logs,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    )["inputs"]["rules"][0]
    assert sse["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}
    rules = one_child(
        lake_plan, logs, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
    )["inputs"]["rules"]
    assert [r["expiration"]["days"] for r in rules if "days" in r.get("expiration", {})] == [60]
    assert not children_of_bucket(lake_plan, logs, "aws:s3/bucketLogging:BucketLogging")
    assert not children_of_bucket(lake_plan, logs, "aws:s3/bucketNotification:BucketNotification")
    pab = one_child(lake_plan, logs, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")[
        "inputs"
    ]
    assert all(
        pab[f] is True
        for f in (
            "blockPublicAcls",
            "blockPublicPolicy",
            "ignorePublicAcls",
            "restrictPublicBuckets",
        )
    )
    statements = by_sid(
        json.loads(
            one_child(lake_plan, logs, "aws:s3/bucketPolicy:BucketPolicy")["inputs"]["policy"]
        )
    )
    assert set(statements) == {"DenyInsecureTransport", "S3ServerAccessLogDelivery"}
    delivery = statements["S3ServerAccessLogDelivery"]
    assert delivery["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert delivery["Action"] == "s3:PutObject"
    assert delivery["Resource"] == [f"{arn}/{z}/*" for z in DEFAULT_ZONES]
    zone_arns = [f"arn:aws:s3:::{zone_bucket(lake_plan, z)['id']}" for z in DEFAULT_ZONES]
    assert delivery["Condition"] == {
        "ArnLike": {"aws:SourceArn": zone_arns},
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
    }
    # The policy waits for the zone buckets it names.
    policy = one_child(lake_plan, logs, "aws:s3/bucketPolicy:BucketPolicy")
    for zone in DEFAULT_ZONES:
        assert zone_bucket(lake_plan, zone)["urn"] in policy["dependencies"]


def test_other_buckets_can_deliver_access_logs_to_the_lake_log_bucket() -> None:
    def after(lake: DataLake, role: ServiceRole, opts: pulumi.ResourceOptions) -> None:
        alb_logs = SecureBucket(
            "alb-logs",
            SecureBucketArgs(
                key=None,
                purpose="alb",
                sse_s3_for_log_delivery=True,
                access_log_bucket=lake.log_bucket.id,
                access_log_prefix="web-alb-logs/",
            ),
            opts=opts,
        )
        lake.accept_access_logs(alb_logs.arn, "web-alb-logs/")

    plan = render_lake(after)
    logs = plan.find(BUCKET, "lake-access-logs")
    policy = one_child(plan, logs, "aws:s3/bucketPolicy:BucketPolicy")
    delivery = by_sid(json.loads(policy["inputs"]["policy"]))["S3ServerAccessLogDelivery"]
    source = plan.find(BUCKET, "alb-logs")
    assert delivery["Resource"][-1] == f"arn:aws:s3:::{logs['id']}/web-alb-logs/*"
    assert delivery["Condition"]["ArnLike"]["aws:SourceArn"][-1] == f"arn:aws:s3:::{source['id']}"
    assert source["urn"] in policy["dependencies"]


def test_every_bucket_logs_only_once_the_log_bucket_policy_lets_s3_deliver() -> None:
    """S3 checks the target's grants when logging is switched on (InvalidTargetBucketForLogging
    otherwise). The zone buckets, and a bucket registered later with accept_access_logs and
    logging to ``lake.log_bucket_name``, wait for the policy that names them."""

    def after(lake: DataLake, role: ServiceRole, opts: pulumi.ResourceOptions) -> None:
        web_logs = SecureBucket(
            "web-logs",
            SecureBucketArgs(
                key=None,
                purpose="web",
                sse_s3_for_log_delivery=True,
                access_log_bucket=lake.log_bucket_name,
                access_log_prefix="web-logs/",
            ),
            opts=opts,
        )
        lake.accept_access_logs(web_logs.arn, "web-logs/")

    plan = render_lake(after)
    logs = plan.find(BUCKET, "lake-access-logs")
    policy = one_child(plan, logs, "aws:s3/bucketPolicy:BucketPolicy")
    delivery = by_sid(json.loads(policy["inputs"]["policy"]))["S3ServerAccessLogDelivery"]
    sources = [zone_bucket(plan, z) for z in DEFAULT_ZONES] + [plan.find(BUCKET, "web-logs")]
    for source in sources:
        assert f"arn:aws:s3:::{source['id']}" in delivery["Condition"]["ArnLike"]["aws:SourceArn"]
        logging = one_child(plan, source, "aws:s3/bucketLogging:BucketLogging")
        assert logging["inputs"]["targetBucket"] == logs["id"]
        assert policy["urn"] in logging["dependencies"], source["name"]


@pytest.mark.parametrize(
    "prefix, error, message",
    [
        ("raw/", ValueError, "is the log prefix of the lake's zone 'raw'"),
        ("a/*", ValueError, "wildcard"),
        ("twice", ValueError, "already receives access logs"),
    ],
)
def test_bad_access_log_sources(prefix: str, error: type, message: str) -> None:
    errors: list[str] = []

    def after(lake: DataLake, role: ServiceRole, opts: pulumi.ResourceOptions) -> None:
        lake.accept_access_logs("arn:aws:s3:::first", "twice")
        with pytest.raises(error, match=message):
            lake.accept_access_logs("arn:aws:s3:::other", prefix)
        errors.append(message)

    render_lake(after)
    assert errors == [message]


def test_access_log_sources_added_after_the_policy_is_built_are_refused_loudly() -> None:
    errors: list[str] = []

    def after(lake: DataLake, role: ServiceRole, opts: pulumi.ResourceOptions) -> None:
        # A synchronous invoke lets the engine run: the log bucket policy gets built.
        aws.get_caller_identity(opts=pulumi.InvokeOptions(parent=lake))
        with pytest.raises(RuntimeError, match="the log bucket policy is already built"):
            lake.accept_access_logs("arn:aws:s3:::late", "late/")
        errors.append("raised")

    plan = render_lake(after)
    assert errors == ["raised"]
    policy = one_child(
        plan, plan.find(BUCKET, "lake-access-logs"), "aws:s3/bucketPolicy:BucketPolicy"
    )
    assert "late" not in policy["inputs"]["policy"]


def test_custom_zones() -> None:
    plan = render_lake(zones=("landing", "gold"))
    assert sorted(b["name"] for b in plan.of_type(BUCKET)) == [
        "lake-access-logs",
        "lake-gold",
        "lake-landing",
    ]


def test_the_lake_passes_the_policy_pack() -> None:
    from policies.check import check, load_plan

    plan = render_lake(transitions={"curated": (Transition(60, "GLACIER_IR"),)})
    result = check(load_plan(plan.to_dict()))
    # Stack-wide rules (one trail per stack, ...) are about the whole stack, not the lake.
    urns = {r["urn"] for r in plan.resources}
    assert [v for v in result.violations if v.urn in urns] == []
    # The only waiver is the log bucket's SSE-S3, which S3 log delivery requires.
    assert {(e.violation.rule, e.exception) for e in result.exemptions} <= {
        ("s3-sse-kms", "log-delivery-bucket-sse-s3"),
        ("s3-access-logging", "access-log-bucket"),
    }


def test_ephemeral_lake_is_destroyable_and_unprotected() -> None:
    plan = render_lake(force_destroy=True)
    for bucket in plan.of_type(BUCKET):
        assert bucket["inputs"]["forceDestroy"] is True, bucket["name"]
        assert (
            bucket["options"]["protect"] is False and bucket["options"]["retainOnDelete"] is False
        )


def test_production_lake_protects_and_retains_every_bucket() -> None:
    plan = render_lake(protect=True)
    for bucket in plan.of_type(BUCKET):
        assert bucket["inputs"]["forceDestroy"] is False, bucket["name"]
        assert bucket["options"]["protect"] is True and bucket["options"]["retainOnDelete"] is True


def test_accessors() -> None:
    seen: dict[str, Any] = {}

    def after(lake: DataLake, role: ServiceRole, opts: pulumi.ResourceOptions) -> None:
        seen["zones"] = lake.zones
        seen["names"] = list(lake.bucket_names())
        seen["arns"] = list(lake.bucket_arns())
        seen["raw_is_bucket"] = lake.bucket("raw") is lake.buckets["raw"]

    render_lake(after)
    assert seen == {
        "zones": DEFAULT_ZONES,
        "names": list(DEFAULT_ZONES),
        "arns": list(DEFAULT_ZONES),
        "raw_is_bucket": True,
    }


def test_bucket_of_an_unknown_zone_names_it_and_the_known_zones() -> None:
    errors: list[str] = []

    def after(lake: DataLake, role: ServiceRole, opts: pulumi.ResourceOptions) -> None:
        with pytest.raises(ValueError) as info:
            lake.bucket("gold")
        errors.append(str(info.value))

    render_lake(after)
    assert "'gold'" in errors[0] and "['raw', 'curated', 'features', 'models']" in errors[0]


# Grants -----------------------------------------------------------------------------------------


def test_grant_read_whole_zone() -> None:
    plan = render_lake(lambda lake, role, _: lake.grant_read(role, "curated"))
    doc = only_grant(plan)
    curated = f"arn:aws:s3:::{zone_bucket(plan, 'curated')['id']}"
    statements = by_sid(doc)
    assert statements["ReadCuratedObjects"]["Action"] == ["s3:GetObject"]
    assert statements["ReadCuratedObjects"]["Resource"] == f"{curated}/*"
    assert statements["ListCuratedBucket"] == {
        "Sid": "ListCuratedBucket",
        "Effect": "Allow",
        "Action": ["s3:ListBucket"],
        "Resource": curated,
    }
    decrypt = statements["DecryptCuratedObjects"]
    assert decrypt["Action"] == ["kms:Decrypt"]
    assert decrypt["Resource"] == key_arn(plan)
    assert decrypt["Condition"] == {
        "StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"},
        "StringLike": {"kms:EncryptionContext:aws:s3:arn": [curated, f"{curated}/*"]},
    }
    # What is NOT granted: no write, no delete, no versions, no other zone, no wildcard action.
    assert all_actions(doc) == {"s3:GetObject", "s3:ListBucket", "kms:Decrypt"}
    for zone in set(DEFAULT_ZONES) - {"curated"}:
        other = zone_bucket(plan, zone)["id"]
        assert not any(other in r for r in all_resources(doc)), zone
        assert other not in json.dumps(doc)
    policy = plan.of_type(ROLE_POLICY)[0]
    assert policy["name"] == "job-lake-curated-read"
    assert policy["parent"] == plan.find("mlops:iam:ServiceRole", "job")["urn"]


def test_grant_read_with_prefix_scopes_objects_and_listing() -> None:
    plan = render_lake(
        lambda lake, role, _: lake.grant_read(role, "curated", prefix="/inputs/2024/")
    )
    statements = by_sid(only_grant(plan))
    curated = f"arn:aws:s3:::{zone_bucket(plan, 'curated')['id']}"
    assert statements["ReadCuratedObjects"]["Resource"] == f"{curated}/inputs/2024/*"
    assert statements["ListCuratedBucket"]["Resource"] == curated
    assert statements["ListCuratedBucket"]["Condition"] == {
        "StringLike": {"s3:prefix": ["inputs/2024/", "inputs/2024/*"]}
    }


def test_grant_read_with_versions_adds_get_object_version_only() -> None:
    plan = render_lake(lambda lake, role, _: lake.grant_read(role, "models", versions=True))
    assert by_sid(only_grant(plan))["ReadModelsObjects"]["Action"] == [
        "s3:GetObject",
        "s3:GetObjectVersion",
    ]


def test_grant_write_puts_under_prefix_and_cannot_read_list_or_delete() -> None:
    plan = render_lake(lambda lake, role, _: lake.grant_write(role, "raw", prefix="events"))
    doc = only_grant(plan)
    raw = f"arn:aws:s3:::{zone_bucket(plan, 'raw')['id']}"
    statements = by_sid(doc)
    assert statements["WriteRawObjects"]["Action"] == ["s3:AbortMultipartUpload", "s3:PutObject"]
    assert statements["WriteRawObjects"]["Resource"] == f"{raw}/events/*"
    encrypt = statements["EncryptRawObjects"]
    assert encrypt["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert encrypt["Resource"] == key_arn(plan)
    assert encrypt["Condition"]["StringEquals"] == {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}
    assert all_actions(doc) == {
        "s3:PutObject",
        "s3:AbortMultipartUpload",
        "kms:GenerateDataKey",
        "kms:Decrypt",
    }
    assert raw not in all_resources(doc)  # no bucket-level action at all


def test_grant_write_with_delete_adds_delete_object_not_versions() -> None:
    plan = render_lake(
        lambda lake, role, _: lake.grant_write(role, "models", prefix="runs", allow_delete=True)
    )
    doc = only_grant(plan)
    assert "s3:DeleteObject" in all_actions(doc)
    assert "s3:DeleteObjectVersion" not in all_actions(doc)
    assert plan.of_type(ROLE_POLICY)[0]["name"].startswith("job-lake-models-write-delete-runs-")


def test_grant_read_write_in_one_policy() -> None:
    plan = render_lake(
        lambda lake, role, _: lake.grant_read_write(
            role, "models", prefix="predictions", allow_delete=True
        )
    )
    doc = only_grant(plan)
    models = f"arn:aws:s3:::{zone_bucket(plan, 'models')['id']}"
    statements = by_sid(doc)
    assert set(statements) == {"ReadWriteModelsObjects", "ListModelsBucket", "UseModelsKey"}
    assert statements["ReadWriteModelsObjects"]["Action"] == [
        "s3:AbortMultipartUpload",
        "s3:DeleteObject",
        "s3:GetObject",
        "s3:PutObject",
    ]
    assert statements["ReadWriteModelsObjects"]["Resource"] == f"{models}/predictions/*"
    assert statements["ListModelsBucket"]["Condition"]["StringLike"]["s3:prefix"] == [
        "predictions/",
        "predictions/*",
    ]
    assert statements["UseModelsKey"]["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]


def test_grants_on_several_zones_and_prefixes_get_distinct_policies() -> None:
    def after(lake: DataLake, role: ServiceRole, _: pulumi.ResourceOptions) -> None:
        lake.grant_read(role, "curated", prefix="a/b")
        lake.grant_read(role, "curated", prefix="a-b")
        lake.grant_write(role, "models")

    plan = render_lake(after)
    names = [p["name"] for p in plan.of_type(ROLE_POLICY)]
    assert len(names) == len(set(names)) == 3
    assert all(len(n) - len("job-") <= 63 for n in names)


BAD_GRANTS: list[tuple[Callable[[DataLake, ServiceRole], Any], str]] = [
    (
        lambda lake, role: lake.grant_read(role, "gold"),
        r"no zone 'gold'; known zones: \['raw', 'curated', 'features', 'models'\]",
    ),
    (lambda lake, role: lake.grant_write(role, "Raw"), r"no zone 'Raw'"),
    (lambda lake, role: lake.grant_read_write(role, "gold"), r"no zone 'gold'"),
    (lambda lake, role: lake.grant_read(role, "raw", prefix="*"), r"wildcard"),
    (lambda lake, role: lake.grant_write(role, "raw", prefix="runs/*/out"), r"wildcard"),
    (
        lambda lake, role: lake.grant_read(role, "raw", prefix="${aws:username}"),
        r"policy variable",
    ),
    (lambda lake, role: lake.grant_read(role, "raw", prefix="/"), r"empty; pass prefix=None"),
]


@pytest.fixture(scope="module")
def bad_grants() -> tuple[list[BaseException | None], Plan]:
    """Every BAD_GRANTS call tried on one rendered lake and role: what each raised (None if
    nothing) and the plan. One render instead of one per case; a case that wrongly granted
    would leave its policy (named after its zone and prefix) in the shared plan."""
    raised: list[BaseException | None] = []

    def after(lake: DataLake, role: ServiceRole, _: pulumi.ResourceOptions) -> None:
        for call, _message in BAD_GRANTS:
            try:
                call(lake, role)
            except Exception as error:  # checked per case below
                raised.append(error)
            else:
                raised.append(None)

    return raised, render_lake(after)


@pytest.mark.parametrize("case", range(len(BAD_GRANTS)), ids=lambda i: BAD_GRANTS[i][1])
def test_bad_grants_raise_and_grant_nothing(
    bad_grants: tuple[list[BaseException | None], Plan], case: int
) -> None:
    raised, plan = bad_grants
    error = raised[case]
    assert isinstance(error, ValueError), error
    assert re.search(BAD_GRANTS[case][1], str(error)), error
    assert plan.of_type(ROLE_POLICY) == []


# Replication ------------------------------------------------------------------------------------


@pytest.mark.parametrize("zone", DEFAULT_ZONES)
def test_replication_configuration_per_zone(pair_plan: Plan, zone: str) -> None:
    source, twin = zone_bucket(pair_plan, zone), zone_bucket(pair_plan, zone, "lake2")
    config = pair_plan.find(REPLICATION, f"lake-replication-{zone}")
    role = pair_plan.find("aws:iam/role:Role", f"lake-replication-{zone}-role")
    assert config["inputs"]["bucket"] == source["id"]
    assert config["inputs"]["role"] == f"arn:aws:iam::{ACCOUNT}:role/{role['id']}"
    assert config["inputs"]["rules"] == [
        {
            "id": f"replicate-{zone}",
            "status": "Enabled",
            "priority": 1,
            "filter": {"prefix": ""},
            "deleteMarkerReplication": {"status": "Enabled"},
            "sourceSelectionCriteria": {"sseKmsEncryptedObjects": {"status": "Enabled"}},
            "destination": {
                "bucket": f"arn:aws:s3:::{twin['id']}",
                "encryptionConfiguration": {"replicaKmsKeyId": key_arn(pair_plan, "k2-key")},
            },
        }
    ]
    # In the source region, after versioning is on at both ends and the role may replicate.
    assert config["region"] == "eu-west-1"
    for name in (f"lake-{zone}-versioning", f"lake2-{zone}-versioning"):
        assert (
            pair_plan.find("aws:s3/bucketVersioning:BucketVersioning", name)["urn"]
            in config["dependencies"]
        )
    assert (
        pair_plan.find(ROLE_POLICY, f"lake-replication-{zone}-replicate")["urn"]
        in config["dependencies"]
    )


@pytest.mark.parametrize("zone", DEFAULT_ZONES)
def test_replication_starts_only_once_the_destination_bucket_policy_is_in_place(
    pair_plan: Plan, zone: str
) -> None:
    """Objects S3 may not replicate turn FAILED for good: the configuration waits for every
    permission replication uses (role policy, destination versioning and bucket policy, the
    destination key)."""
    config = pair_plan.find(REPLICATION, f"lake-replication-{zone}")
    twin = zone_bucket(pair_plan, zone, "lake2")
    prerequisites = [
        one_child(pair_plan, twin, "aws:s3/bucketPolicy:BucketPolicy"),
        one_child(pair_plan, twin, "aws:s3/bucketVersioning:BucketVersioning"),
        pair_plan.find(ROLE_POLICY, f"lake-replication-{zone}-replicate"),
        pair_plan.find("aws:kms/key:Key", "k2-key"),
    ]
    for prerequisite in prerequisites:
        assert prerequisite["urn"] in config["dependencies"], prerequisite["name"]


def test_replication_roles_are_trusted_by_s3_for_their_source_bucket_only(pair_plan: Plan) -> None:
    for zone in DEFAULT_ZONES:
        role = pair_plan.find("aws:iam/role:Role", f"lake-replication-{zone}-role")
        assert role["region"] == "eu-west-1"  # global, but created with the primary's provider
        (trust,) = json.loads(role["inputs"]["assumeRolePolicy"])["Statement"]
        assert trust == {
            "Effect": "Allow",
            "Principal": {"Service": "s3.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": {"aws:SourceAccount": ACCOUNT},
                "ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{zone_bucket(pair_plan, zone)['id']}"},
            },
        }


@pytest.mark.parametrize("zone", DEFAULT_ZONES)
def test_replication_role_policy_is_exactly_what_replication_needs(
    pair_plan: Plan, zone: str
) -> None:
    policies = [
        p
        for p in pair_plan.of_type(ROLE_POLICY)
        if p["name"].startswith(f"lake-replication-{zone}-")
    ]
    assert [p["name"] for p in policies] == [f"lake-replication-{zone}-replicate"]
    assert policies[0]["region"] == "eu-west-1"
    source = f"arn:aws:s3:::{zone_bucket(pair_plan, zone)['id']}"
    twin = f"arn:aws:s3:::{zone_bucket(pair_plan, zone, 'lake2')['id']}"
    assert json.loads(policies[0]["inputs"]["policy"])["Statement"] == [
        {
            "Sid": "ReadSourceReplicationConfiguration",
            "Effect": "Allow",
            "Action": ["s3:GetReplicationConfiguration", "s3:ListBucket"],
            "Resource": source,
        },
        {
            "Sid": "ReadSourceObjectVersions",
            "Effect": "Allow",
            "Action": [
                "s3:GetObjectVersionAcl",
                "s3:GetObjectVersionForReplication",
                "s3:GetObjectVersionTagging",
            ],
            "Resource": f"{source}/*",
        },
        {
            "Sid": "ReplicateIntoDestination",
            "Effect": "Allow",
            "Action": ["s3:ReplicateDelete", "s3:ReplicateObject", "s3:ReplicateTags"],
            "Resource": f"{twin}/*",
        },
        {
            "Sid": "DecryptSourceObjects",
            "Effect": "Allow",
            "Action": ["kms:Decrypt"],
            "Resource": key_arn(pair_plan, "k-key"),
            "Condition": {
                "StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"},
                "StringLike": {"kms:EncryptionContext:aws:s3:arn": [source, f"{source}/*"]},
            },
        },
        {
            "Sid": "EncryptReplicas",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:Encrypt"],
            "Resource": key_arn(pair_plan, "k2-key"),
            "Condition": {
                "StringEquals": {"kms:ViaService": "s3.eu-central-1.amazonaws.com"},
                "StringLike": {"kms:EncryptionContext:aws:s3:arn": [twin, f"{twin}/*"]},
            },
        },
    ]


def test_no_replication_from_the_secondary(pair_plan: Plan) -> None:
    sources = {c["inputs"]["bucket"] for c in pair_plan.of_type(REPLICATION)}
    assert sources == {zone_bucket(pair_plan, z)["id"] for z in DEFAULT_ZONES}


def test_replication_to_a_lake_missing_zones_is_refused_before_anything_is_registered() -> None:
    plan, errors = render_pair(destination_zones=("raw", "curated"))
    assert len(errors) == 1
    assert "lacks zone(s) ['features', 'models']" in str(errors[0])
    assert plan.of_type(REPLICATION) == [] and plan.of_type("mlops:data_lake:LakeReplication") == []


def test_replication_to_itself_is_refused() -> None:
    errors: list[str] = []

    def after(lake: DataLake, role: ServiceRole, opts: pulumi.ResourceOptions) -> None:
        with pytest.raises(ValueError) as info:
            LakeReplication("r", LakeReplicationArgs(source=lake, destination=lake), opts=opts)
        errors.append(str(info.value))

    plan = render_lake(after)
    assert "same lake" in errors[0]
    assert plan.of_type(REPLICATION) == []


# Bad arguments ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"zones": ()}, r"zones: no zones given"),
        ({"zones": ("raw", "Raw")}, r"zones: \['Raw'\] are not zone names"),
        ({"zones": ("raw", "raw")}, r"zones: \['raw'\] listed more than once"),
        (
            {"transitions": {"gold": ()}},
            r"transitions\['gold'\]: unknown zone; known zones: \['raw', 'curated', 'features', 'models'\]",
        ),
        (
            {"transitions": {"raw": (Transition(10, "STANDARD_IA"),)}},
            r"transitions\['raw'\]: transition 1 \(STANDARD_IA at day 10\): days must be at least 30",
        ),
        (
            {"noncurrent_version_expiration_days": 0},
            r"noncurrent_version_expiration_days: must be at least 1",
        ),
        ({"access_log_retention_days": 0}, r"access_log_retention_days: must be at least 1"),
        (
            {"force_destroy": True, "protect": True},
            r"Only one of \[force_destroy\] and \[protect\] can be given",
        ),
    ],
)
def test_bad_lake_arguments_raise_and_register_nothing(
    kwargs: dict[str, Any], message: str
) -> None:
    def build(opts: pulumi.ResourceOptions) -> None:
        key = RegionKey("k", RegionKeyArgs(alias="t"), opts=opts)
        with pytest.raises(ValueError, match=message):
            DataLake("lake", DataLakeArgs(key=key, **kwargs), opts=opts)

    plan = render_components(build)
    assert plan.of_type("mlops:data_lake:DataLake") == [] and plan.of_type(BUCKET) == []


def test_every_problem_is_reported_at_once() -> None:
    args = DataLakeArgs(
        key=None,  # type: ignore[arg-type]
        zones=("raw", "raw"),
        noncurrent_version_expiration_days=0,
        transitions={"gold": (Transition(5, "COLD"),)},
    )
    problems = args.problems()
    assert len(problems) == 5
    assert problems[0].startswith("key: expected a RegionKey or an existing KMS key ARN")
    assert any("transitions['gold']: transition 1 (COLD at day 5)" in p for p in problems)


# Pure rules -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "transitions",
    [
        (),
        (Transition(0, "GLACIER"),),
        (Transition(0, "INTELLIGENT_TIERING"), Transition(1, "GLACIER_IR")),
        (
            Transition(30, "STANDARD_IA"),
            Transition(60, "GLACIER_IR"),
            Transition(365, "DEEP_ARCHIVE"),
        ),
        (Transition(30, "ONEZONE_IA"), Transition(60, "GLACIER")),
    ],
)
def test_transitions_s3_accepts(transitions: tuple[Transition, ...]) -> None:
    assert transition_problems(transitions) == []


@pytest.mark.parametrize(
    "transitions, message",
    [
        ((Transition(29, "STANDARD_IA"),), "days must be at least 30 for STANDARD_IA"),
        ((Transition(20, "ONEZONE_IA"),), "days must be at least 30 for ONEZONE_IA"),
        ((Transition(-1, "GLACIER"),), "days must be at least 0"),
        ((Transition(30, "REDUCED_REDUNDANCY"),), "'REDUCED_REDUNDANCY' is not a storage class"),
        ((Transition(30, "STANDARD"),), "'STANDARD' is not a storage class"),
        ((Transition(90, "GLACIER"), Transition(60, "DEEP_ARCHIVE")), "use day 91 or later"),
        ((Transition(30, "GLACIER_IR"), Transition(30, "GLACIER")), "use day 31 or later"),
        (
            (Transition(30, "STANDARD_IA"), Transition(59, "GLACIER")),
            "at least 30 day(s) after the STANDARD_IA transition at day 30; use day 60",
        ),
        (
            (Transition(30, "GLACIER"), Transition(60, "STANDARD_IA")),
            "cannot move objects from GLACIER to STANDARD_IA",
        ),
        (
            (Transition(30, "ONEZONE_IA"), Transition(60, "GLACIER_IR")),
            "cannot move objects from ONEZONE_IA to GLACIER_IR",
        ),
        (
            (Transition(0, "INTELLIGENT_TIERING"), Transition(30, "STANDARD_IA")),
            "cannot move objects from INTELLIGENT_TIERING to STANDARD_IA",
        ),
        (
            (Transition(10, "GLACIER"), Transition(20, "GLACIER")),
            "cannot move objects from GLACIER to GLACIER",
        ),
        (
            (Transition(10, "DEEP_ARCHIVE"), Transition(20, "GLACIER")),
            "nothing (it is the last class)",
        ),
    ],
)
def test_transitions_s3_rejects(transitions: tuple[Transition, ...], message: str) -> None:
    problems = transition_problems(transitions)
    assert any(message in p for p in problems), problems


@st.composite
def waterfall(draw: st.DrawFn) -> tuple[Transition, ...]:
    """Transition lists that follow S3's rules by construction."""
    out: list[Transition] = []
    day = 0
    allowed = list(STORAGE_CLASSES)
    while allowed and draw(st.booleans()):
        storage = draw(st.sampled_from(sorted(allowed)))
        earliest = max(day, 30 if storage in ("STANDARD_IA", "ONEZONE_IA") else 0)
        days = draw(st.integers(min_value=earliest, max_value=earliest + 400))
        out.append(Transition(days, storage))
        day = days + (30 if storage in ("STANDARD_IA", "ONEZONE_IA") else 1)
        allowed = list(NEXT_STORAGE_CLASSES[storage])
    return tuple(out)


@settings(max_examples=200, deadline=None)
@given(waterfall())
def test_valid_waterfalls_are_accepted_here_and_by_secure_bucket(
    transitions: tuple[Transition, ...],
) -> None:
    assert transition_problems(transitions) == []
    assert (
        SecureBucketArgs(
            key=None, purpose="p", sse_s3_for_log_delivery=True, transitions=transitions
        ).problems()
        == []
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(-5, 500), st.sampled_from(STORAGE_CLASSES)), max_size=5))
def test_accepted_transitions_follow_the_waterfall(items: list[tuple[int, str]]) -> None:
    transitions = [Transition(d, s) for d, s in items]
    if transition_problems(transitions):
        return
    for before, after in zip(transitions, transitions[1:], strict=False):
        assert after.storage_class in NEXT_STORAGE_CLASSES[before.storage_class]
        assert after.days > before.days
    # Whatever the lake accepts, the bucket accepts too (no late failure).
    assert (
        SecureBucketArgs(
            key=None, purpose="p", sse_s3_for_log_delivery=True, transitions=transitions
        ).problems()
        == []
    )


@pytest.mark.parametrize(
    "zones, message",
    [
        ([], "no zones given"),
        (["raw", "RAW"], "['RAW'] are not zone names"),
        (["1raw"], "are not zone names"),
        (["raw-"], "are not zone names"),
        (["a" * 21], "are not zone names"),
        (["raw_data"], "are not zone names"),
        (["raw", "curated", "raw"], "['raw'] listed more than once"),
    ],
)
def test_zone_problems(zones: list[str], message: str) -> None:
    assert any(message in p for p in zone_problems(zones))


def test_good_zone_names() -> None:
    assert zone_problems(["raw", "curated", "features", "models", "a", "bronze-2", "x" * 20]) == []


def test_log_delivery_statement() -> None:
    assert log_delivery_statement(
        "arn:aws:s3:::logs", ["raw/", "/gold"], ["arn:aws:s3:::a"], "111122223333"
    ) == {
        "Sid": "S3ServerAccessLogDelivery",
        "Effect": "Allow",
        "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": ["arn:aws:s3:::logs/raw/*", "arn:aws:s3:::logs/gold/*"],
        "Condition": {
            "ArnLike": {"aws:SourceArn": ["arn:aws:s3:::a"]},
            "StringEquals": {"aws:SourceAccount": "111122223333"},
        },
    }


# parliament -------------------------------------------------------------------------------------

TRUST_POLICY_FINDING = ("MALFORMED", "Statement contains neither Resource nor NotResource")


def parliament_problems(plan: Plan) -> list[str]:
    """Findings of parliament (community auditors on) for every document a lake creates.

    Trust policies have no Resource element by design; parliament, which reads every
    document as an identity policy, reports exactly that and nothing else is accepted.
    """
    problems = []
    for r in plan.resources:
        for key in ("policy", "assumeRolePolicy"):
            text = r["inputs"].get(key)
            if (
                not (isinstance(text, str) and text.startswith("{"))
                or r["type"] == "aws:kms/key:Key"
            ):
                continue
            for finding in analyze_policy_string(text, include_community_auditors=True).findings:
                if (
                    key == "assumeRolePolicy"
                    and (finding.issue, finding.detail) == TRUST_POLICY_FINDING
                ):
                    continue
                problems.append(f"{r['name']} {key}: {finding.issue} {finding.detail}")
    return problems


def test_every_lake_document_passes_parliament(pair_plan: Plan) -> None:
    def after(lake: DataLake, role: ServiceRole, _: pulumi.ResourceOptions) -> None:
        lake.grant_read(role, "curated", prefix="in", versions=True)
        lake.grant_write(role, "raw", allow_delete=True)
        lake.grant_read_write(role, "models", prefix="out", allow_delete=True)

    grants = render_lake(after)
    assert len(grants.of_type(ROLE_POLICY)) == 3
    assert parliament_problems(grants) == []
    assert len(pair_plan.of_type(ROLE_POLICY)) == len(DEFAULT_ZONES)
    assert parliament_problems(pair_plan) == []


# Existing keys and log buckets ------------------------------------------------------------------

TEAM_KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
TEAM_KEY2_ARN = "arn:aws:kms:eu-central-1:123456789012:key/5678abcd-12ab-34cd-56ef-1234567890ab"


def render_existing(
    after: Callable[[DataLake, ServiceRole], None] | None = None, **kwargs: Any
) -> Plan:
    def build(opts: pulumi.ResourceOptions) -> None:
        lake = DataLake("lake", DataLakeArgs(**{"key": TEAM_KEY_ARN, **kwargs}), opts=opts)
        role = ServiceRole(
            "job", ServiceRoleArgs(service="ecs-tasks.amazonaws.com", description="job"), opts=opts
        )
        if after is not None:
            after(lake, role)

    return render_components(build)


def test_a_lake_can_be_encrypted_with_an_existing_key_arn() -> None:
    plan = render_existing(lambda lake, role: lake.grant_read_write(role, "raw"))
    assert plan.of_type("aws:kms/key:Key") == []
    for zone in DEFAULT_ZONES:
        sse = one_child(
            plan,
            zone_bucket(plan, zone),
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        )["inputs"]["rules"][0]
        assert sse["applyServerSideEncryptionByDefault"] == {
            "sseAlgorithm": "aws:kms",
            "kmsMasterKeyId": TEAM_KEY_ARN,
        }
    kms = by_sid(only_grant(plan))["UseRawKey"]
    assert kms["Resource"] == TEAM_KEY_ARN
    assert kms["Condition"]["StringEquals"] == {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}


@pytest.mark.parametrize(
    "key, message",
    [
        (42, r"key: expected a RegionKey or an existing KMS key ARN .*got int"),
        ("arn:aws:kms:eu-west-1:123456789012:alias/lake", r"key: .* is an alias ARN"),
    ],
)
def test_a_wrong_key_is_refused_before_anything_is_registered(key: Any, message: str) -> None:
    caught: list[ValueError] = []

    def build(opts: pulumi.ResourceOptions) -> None:
        try:
            DataLake("lake", DataLakeArgs(key=key, zones=("raw", "raw")), opts=opts)
        except ValueError as exc:
            caught.append(exc)

    plan = render_components(build)
    assert len(caught) == 1
    error = str(caught[0])
    assert error.startswith("DataLake 'lake': ") and re.search(message, error), error
    assert "zones: ['raw'] listed more than once" in error
    assert [r["type"] for r in plan.resources] == ["pulumi:providers:aws"]


def test_a_lake_can_log_to_an_existing_log_bucket() -> None:
    sources: list[list[tuple[str, Any]]] = []

    def after(lake: DataLake, role: ServiceRole) -> None:
        assert lake.log_bucket is None
        lake.accept_access_logs("arn:aws:s3:::web-alb-logs", "web/")
        sources.append([p for p, _ in lake.log_sources])

    plan = render_existing(after, access_log_bucket="team-access-logs")
    assert sorted(b["name"] for b in plan.of_type(BUCKET)) == [
        f"lake-{z}" for z in sorted(DEFAULT_ZONES)
    ]
    for zone in DEFAULT_ZONES:
        logging = one_child(plan, zone_bucket(plan, zone), "aws:s3/bucketLogging:BucketLogging")[
            "inputs"
        ]
        assert (logging["targetBucket"], logging["targetPrefix"]) == (
            "team-access-logs",
            f"{zone}/",
        )
    # The existing bucket's policy is its owner's: sources are recorded, no policy is made.
    assert sources == [[f"{z}/" for z in DEFAULT_ZONES] + ["web/"]]
    assert not [
        p
        for p in plan.of_type("aws:s3/bucketPolicy:BucketPolicy")
        if "logging.s3" in p["inputs"]["policy"]
    ]


def test_an_empty_log_bucket_name_is_refused() -> None:
    problems = DataLakeArgs(key=TEAM_KEY_ARN, access_log_bucket=" ").problems()
    assert problems == ["access_log_bucket: give an existing bucket's name, or leave it out"]


def test_replication_between_lakes_on_existing_keys() -> None:
    def build(opts: pulumi.ResourceOptions) -> None:
        lake = DataLake("lake", DataLakeArgs(key=TEAM_KEY_ARN, zones=("raw",)), opts=opts)
        other = pulumi.ResourceOptions(
            providers={"aws": aws.Provider("aws-eu-central-1", region="eu-central-1")}
        )
        lake2 = DataLake("lake2", DataLakeArgs(key=TEAM_KEY2_ARN, zones=("raw",)), opts=other)
        lake.replicate_to(lake2)

    plan = render_components(build)
    config = plan.find(REPLICATION, "lake-replication-raw")
    assert config["inputs"]["rules"][0]["destination"]["encryptionConfiguration"] == {
        "replicaKmsKeyId": TEAM_KEY2_ARN
    }
    statements = by_sid(
        json.loads(plan.find(ROLE_POLICY, "lake-replication-raw-replicate")["inputs"]["policy"])
    )
    assert statements["DecryptSourceObjects"]["Resource"] == TEAM_KEY_ARN
    assert statements["DecryptSourceObjects"]["Condition"]["StringEquals"] == {
        "kms:ViaService": "s3.eu-west-1.amazonaws.com"
    }
    assert statements["EncryptReplicas"]["Resource"] == TEAM_KEY2_ARN
    assert statements["EncryptReplicas"]["Condition"]["StringEquals"] == {
        "kms:ViaService": "s3.eu-central-1.amazonaws.com"
    }


@pytest.mark.parametrize("field", ["source_key", "destination_key"])
def test_replication_statements_name_a_wrong_key(field: str) -> None:
    errors: list[str] = []

    def after(lake: DataLake, role: ServiceRole) -> None:
        keys = {"source_key": TEAM_KEY_ARN, "destination_key": TEAM_KEY_ARN, field: 42}
        with pytest.raises(ValueError, match=rf"^{field}: expected a RegionKey"):
            replication_statements(lake.bucket("raw"), lake.bucket("curated"), **keys)
        errors.append(field)

    render_existing(after)
    assert errors == [field]
