"""The data lake in both real stack files, and ``mlops:dataLake`` config errors.

Every bucket of a stack meets the S3 rows of the security baseline; every primary zone bucket
replicates to its twin in the secondary region; prod protects, dev can be destroyed; bad
``mlops:dataLake`` values are reported by key.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from parliament import analyze_policy_string

from stacks.config import ConfigError, PlatformConfig, load_stack_config, parse_raw_config
from stacks.offline import PROJECT_DIR, Plan

BUCKET = "aws:s3/bucket:Bucket"
REPLICATION = "aws:s3/bucketReplicationConfig:BucketReplicationConfig"
ACCOUNT = "123456789012"


def config_of(plan: Plan) -> PlatformConfig:
    return load_stack_config(PROJECT_DIR, plan.stack)


def config_of_dev() -> PlatformConfig:
    return load_stack_config(PROJECT_DIR, "dev")


def children(plan: Plan, bucket: dict[str, Any], typ: str) -> list[dict[str, Any]]:
    return [r for r in plan.of_type(typ) if r["inputs"].get("bucket") == bucket["id"]]


def lake_bucket(plan: Plan, region: str, zone: str) -> dict[str, Any]:
    return plan.find(BUCKET, f"{region}-lake-{zone}")


def arn(bucket: dict[str, Any]) -> str:
    return f"arn:aws:s3:::{bucket['id']}"


def region_key_arn(plan: Plan, region: str) -> str:
    (key,) = [k for k in plan.in_region(region) if k["type"] == "aws:kms/key:Key"]
    return f"arn:aws:kms:{region}:{ACCOUNT}:key/{key['id']}"


def s3_baseline_problems(plan: Plan, bucket: dict[str, Any]) -> list[str]:
    """The S3 rows of the baseline, read from the graph (independent of the policy pack)."""
    problems = []
    name = bucket["id"]
    pabs = children(plan, bucket, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    if not any(all(p["inputs"].get(f) is True for f in flags) for p in pabs):
        problems.append("public access block")
    owners = children(plan, bucket, "aws:s3/bucketOwnershipControls:BucketOwnershipControls")
    if not any(o["inputs"]["rule"]["objectOwnership"] == "BucketOwnerEnforced" for o in owners):
        problems.append("BucketOwnerEnforced")
    tls = False
    for policy in children(plan, bucket, "aws:s3/bucketPolicy:BucketPolicy"):
        for st in json.loads(policy["inputs"]["policy"])["Statement"]:
            tls |= (
                st["Effect"] == "Deny"
                and st["Principal"] == "*"
                and st["Action"] == "s3:*"
                and set(st["Resource"]) == {f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"}
                and st.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
            )
    if not tls:
        problems.append("TLS-only policy")
    log_target = any(
        lg["inputs"].get("targetBucket") == name
        for lg in plan.of_type("aws:s3/bucketLogging:BucketLogging")
    ) or any(
        (lb["inputs"].get("accessLogs") or {}).get("bucket") == name
        for lb in plan.of_type("aws:lb/loadBalancer:LoadBalancer")
    )
    sse = [
        rule
        for conf in children(
            plan,
            bucket,
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        )
        for rule in conf["inputs"]["rules"]
    ]
    kms = any(
        r["applyServerSideEncryptionByDefault"].get("sseAlgorithm") == "aws:kms"
        and r["applyServerSideEncryptionByDefault"].get("kmsMasterKeyId")
        and r.get("bucketKeyEnabled") is True
        for r in sse
    )
    sse_s3_for_logs = log_target and any(
        r["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"} for r in sse
    )
    if not (kms or sse_s3_for_logs):
        problems.append("SSE-KMS")
    versioning = children(plan, bucket, "aws:s3/bucketVersioning:BucketVersioning")
    if not any(v["inputs"]["versioningConfiguration"]["status"] == "Enabled" for v in versioning):
        problems.append("versioning")
    logging = children(plan, bucket, "aws:s3/bucketLogging:BucketLogging")
    server_access_log_target = any(
        lg["inputs"].get("targetBucket") == name
        for lg in plan.of_type("aws:s3/bucketLogging:BucketLogging")
    )
    if not any(lg["inputs"].get("targetBucket") for lg in logging) and not server_access_log_target:
        problems.append("server access logging")
    rules = [
        rule
        for conf in children(
            plan, bucket, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
        )
        for rule in conf["inputs"]["rules"]
    ]
    if not any(r["status"] == "Enabled" and r.get("noncurrentVersionExpiration") for r in rules):
        problems.append("lifecycle (noncurrent versions expire)")
    return problems


# Every bucket -----------------------------------------------------------------------------------


def test_every_bucket_meets_the_s3_rows_of_the_baseline(stack_plan: Plan) -> None:
    buckets = stack_plan.of_type(BUCKET)
    assert buckets
    found = {b["name"]: s3_baseline_problems(stack_plan, b) for b in buckets}
    assert {name: p for name, p in found.items() if p} == {}


def test_prod_buckets_are_protected_and_retained(prod_plan: Plan) -> None:
    for bucket in prod_plan.of_type(BUCKET):
        assert bucket["options"]["protect"] is True, bucket["name"]
        assert bucket["options"]["retainOnDelete"] is True, bucket["name"]
        assert bucket["inputs"]["forceDestroy"] is False, bucket["name"]


def test_dev_buckets_are_destroyable(dev_plan: Plan) -> None:
    for bucket in dev_plan.of_type(BUCKET):
        assert bucket["inputs"]["forceDestroy"] is True, bucket["name"]
        assert bucket["options"]["protect"] is False, bucket["name"]
        assert bucket["options"]["retainOnDelete"] is False, bucket["name"]


# The lake in each region ------------------------------------------------------------------------


def test_a_lake_in_every_region_with_the_configured_zones(stack_plan: Plan) -> None:
    cfg = config_of(stack_plan)
    for region in cfg.regions:
        lakes = [
            r for r in stack_plan.in_region(region.name) if r["type"] == "mlops:data_lake:DataLake"
        ]
        assert [lake["name"] for lake in lakes] == [f"{region.name}-lake"]
        buckets = {zone: lake_bucket(stack_plan, region.name, zone) for zone in cfg.data_lake.zones}
        assert all(b["region"] == region.name for b in buckets.values())
        assert stack_plan.outputs["regions"][region.name]["dataLakeBuckets"] == {
            zone: b["id"] for zone, b in buckets.items()
        }


def test_zone_lifecycle_and_events_follow_the_config(stack_plan: Plan) -> None:
    cfg = config_of(stack_plan)
    lake = cfg.data_lake
    for region in cfg.regions:
        for zone in lake.zones:
            bucket = lake_bucket(stack_plan, region.name, zone)
            (lifecycle,) = children(
                stack_plan,
                bucket,
                "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
            )
            rules = lifecycle["inputs"]["rules"]
            assert rules[0]["noncurrentVersionExpiration"] == {
                "noncurrentDays": lake.noncurrent_version_expiration_days
            }
            transitions = [
                (t["days"], t["storageClass"]) for r in rules for t in r.get("transitions", [])
            ]
            assert transitions == [
                (t.days, t.storage_class) for t in lake.transitions.get(zone, ())
            ]
            (events,) = children(stack_plan, bucket, "aws:s3/bucketNotification:BucketNotification")
            assert events["inputs"]["eventbridge"] is True
            (logging,) = children(stack_plan, bucket, "aws:s3/bucketLogging:BucketLogging")
            assert (
                logging["inputs"]["targetBucket"]
                == lake_bucket(stack_plan, region.name, "access-logs")["id"]
            )
        logs = lake_bucket(stack_plan, region.name, "access-logs")
        (lifecycle,) = children(
            stack_plan, logs, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
        )
        assert [
            r["expiration"]["days"]
            for r in lifecycle["inputs"]["rules"]
            if "days" in r.get("expiration", {})
        ] == [lake.access_log_retention_days]


def test_prod_moves_raw_and_curated_to_cheaper_classes(prod_plan: Plan) -> None:
    lake = config_of(prod_plan).data_lake
    assert set(lake.transitions) == {"raw", "curated"}
    assert lake.access_log_retention_days > config_of_dev().data_lake.access_log_retention_days


def undelivered_access_logs(plan: Plan, zone_buckets: bool) -> list[str]:
    """Buckets logging into a lake's log bucket whose logs its policy would refuse.

    S3 server access log delivery to a BucketOwnerEnforced bucket is allowed by the target's
    bucket policy only: logging.s3.amazonaws.com, s3:PutObject under the target prefix, the
    source bucket in aws:SourceArn and this account in aws:SourceAccount.
    """
    log_buckets = {
        b["id"]: b for b in plan.of_type(BUCKET) if b["name"].endswith("-lake-access-logs")
    }
    zone_ids = {b["id"] for b in plan.of_type(BUCKET) if "-lake-" in b["name"]} - set(log_buckets)
    refused = []
    for logging in plan.of_type("aws:s3/bucketLogging:BucketLogging"):
        target = log_buckets.get(logging["inputs"]["targetBucket"])
        source = logging["inputs"]["bucket"]
        if target is None or (source in zone_ids) != zone_buckets:
            continue
        (policy,) = children(plan, target, "aws:s3/bucketPolicy:BucketPolicy")
        allowed = any(
            st["Effect"] == "Allow"
            and st.get("Principal") == {"Service": "logging.s3.amazonaws.com"}
            and "s3:PutObject"
            in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
            and f"{arn(target)}/{logging['inputs']['targetPrefix']}*" in st["Resource"]
            and f"arn:aws:s3:::{source}" in st["Condition"]["ArnLike"]["aws:SourceArn"]
            and st["Condition"]["StringEquals"]["aws:SourceAccount"] == ACCOUNT
            for st in json.loads(policy["inputs"]["policy"])["Statement"]
        )
        if not allowed:
            refused.append(f"{source} -> {target['id']}/{logging['inputs']['targetPrefix']}")
    return refused


def test_zone_bucket_access_logs_are_delivered(stack_plan: Plan) -> None:
    assert undelivered_access_logs(stack_plan, zone_buckets=True) == []


def test_other_buckets_logging_into_the_lake_are_accepted(stack_plan: Plan) -> None:
    assert undelivered_access_logs(stack_plan, zone_buckets=False) == []


# Replication ------------------------------------------------------------------------------------


def test_every_zone_bucket_replicates_to_its_twin_both_ways(stack_plan: Plan) -> None:
    """Primary -> secondary and back (what the standby writes after a failover returns to the
    primary); each configuration in its source region, with its source's provider."""
    cfg = config_of(stack_plan)
    primary, secondary = cfg.regions[0].name, cfg.regions[1].name
    providers = {
        p["inputs"]["region"]: p["urn"] for p in stack_plan.of_type("pulumi:providers:aws")
    }
    configs = stack_plan.of_type(REPLICATION)
    assert len(configs) == 2 * len(cfg.data_lake.zones)
    lake = cfg.resilience.lake_replication
    for source_region, twin_region in ((primary, secondary), (secondary, primary)):
        for zone in cfg.data_lake.zones:
            source, twin = (
                lake_bucket(stack_plan, source_region, zone),
                lake_bucket(stack_plan, twin_region, zone),
            )
            (config,) = [c for c in configs if c["inputs"]["bucket"] == source["id"]]
            assert config["region"] == source_region
            assert config["provider"] == providers[source_region]
            (rule,) = config["inputs"]["rules"]
            assert rule["status"] == "Enabled"
            assert rule["destination"]["bucket"] == arn(twin)
            assert rule["destination"]["encryptionConfiguration"] == {
                "replicaKmsKeyId": region_key_arn(stack_plan, twin_region)
            }
            assert rule["sourceSelectionCriteria"] == {
                "sseKmsEncryptedObjects": {"status": "Enabled"},
                "replicaModifications": {"status": "Enabled"},
            }
            expected = "Enabled" if lake.delete_markers else "Disabled"
            assert rule["deleteMarkerReplication"] == {"status": expected}
            for bucket in (source, twin):
                (versioning,) = children(
                    stack_plan, bucket, "aws:s3/bucketVersioning:BucketVersioning"
                )
                assert versioning["urn"] in config["dependencies"]


def test_replication_roles_reach_only_their_zone_pair(stack_plan: Plan) -> None:
    cfg = config_of(stack_plan)
    first, second = cfg.regions[0].name, cfg.regions[1].name
    for config in stack_plan.of_type(REPLICATION):
        zone = config["name"].rsplit("-", 1)[-1]
        # Both ways: "primary" is this configuration's source region, "secondary" its twin's.
        primary, secondary = (first, second) if config["region"] == first else (second, first)
        source, twin = (
            lake_bucket(stack_plan, primary, zone),
            lake_bucket(stack_plan, secondary, zone),
        )
        (role,) = [
            r
            for r in stack_plan.of_type("aws:iam/role:Role")
            if config["inputs"]["role"].endswith(f"/{r['id']}")
        ]
        assert role["region"] == primary
        (trust,) = json.loads(role["inputs"]["assumeRolePolicy"])["Statement"]
        assert trust["Principal"] == {"Service": "s3.amazonaws.com"}
        assert trust["Condition"] == {
            "StringEquals": {"aws:SourceAccount": ACCOUNT},
            "ArnLike": {"aws:SourceArn": arn(source)},
        }
        policies = [
            p
            for p in stack_plan.of_type("aws:iam/rolePolicy:RolePolicy")
            if p["parent"] == role["parent"]
        ]
        assert len(policies) == 1
        statements = json.loads(policies[0]["inputs"]["policy"])["Statement"]
        resources = {
            r
            for s in statements
            for r in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"])
        }
        assert resources == {
            arn(source),
            f"{arn(source)}/*",
            f"{arn(twin)}/*",
            region_key_arn(stack_plan, primary),
            region_key_arn(stack_plan, secondary),
        }
        via = {
            s["Resource"]: s["Condition"]["StringEquals"]["kms:ViaService"]
            for s in statements
            if "Condition" in s
        }
        assert via == {
            region_key_arn(stack_plan, primary): f"s3.{primary}.amazonaws.com",
            region_key_arn(stack_plan, secondary): f"s3.{secondary}.amazonaws.com",
        }


def test_lake_documents_pass_parliament(stack_plan: Plan) -> None:
    problems = []
    for r in stack_plan.resources:
        if "mlops:data_lake:" not in r["urn"]:
            continue
        for key in ("policy", "assumeRolePolicy"):
            text = r["inputs"].get(key)
            if not (isinstance(text, str) and text.startswith("{")):
                continue
            for finding in analyze_policy_string(text, include_community_auditors=True).findings:
                if (
                    key == "assumeRolePolicy"
                    and finding.issue == "MALFORMED"
                    and "neither Resource" in finding.detail
                ):
                    continue  # trust policies have no Resource element by design
                problems.append(f"{r['name']} {key}: {finding.issue} {finding.detail}")
    assert problems == []


# Config -----------------------------------------------------------------------------------------


def flat(config: dict[str, Any]) -> dict[str, str]:
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}


def lake_problems(stack_config, lake: Any, stack: str = "prod") -> list[str]:
    config = stack_config(stack)
    config["mlops:dataLake"] = lake
    with pytest.raises(ConfigError) as info:
        parse_raw_config(flat(config))
    return info.value.problems


def test_stack_files_without_a_data_lake_key_get_the_defaults(stack_config) -> None:
    config = stack_config("dev")
    del config["mlops:dataLake"]
    lake = parse_raw_config(flat(config)).data_lake
    assert lake.zones == ("raw", "curated", "features", "models")
    assert lake.transitions == {}
    assert lake.noncurrent_version_expiration_days >= 1 and lake.access_log_retention_days >= 1


@pytest.mark.parametrize(
    "lake, expected",
    [
        ({"zones": []}, "mlops:dataLake.zones: no zones given"),
        ({"zones": ["raw", "Curated"]}, "mlops:dataLake.zones: ['Curated'] are not zone names"),
        ({"zones": ["raw", "raw"]}, "mlops:dataLake.zones: ['raw'] listed more than once"),
        ({"zones": "raw"}, "mlops:dataLake.zones: Input should be a valid tuple"),
        (
            {"transitions": {"gold": [{"days": 30, "storageClass": "GLACIER"}]}},
            "mlops:dataLake.transitions.gold: 'gold' is not a zone of the lake",
        ),
        (
            {
                "zones": ["raw"],
                "transitions": {"curated": [{"days": 30, "storageClass": "GLACIER"}]},
            },
            "mlops:dataLake.transitions.curated: 'curated' is not a zone of the lake; zones are ['raw']",
        ),
        (
            {"transitions": {"raw": [{"days": 30, "storageClass": "COLD"}]}},
            "mlops:dataLake.transitions.raw[0].storageClass: 'COLD' is not a storage class",
        ),
        (
            {"transitions": {"raw": [{"days": -1, "storageClass": "GLACIER"}]}},
            "mlops:dataLake.transitions.raw[0].days: -1 is negative",
        ),
        (
            {"transitions": {"raw": [{"days": 7, "storageClass": "STANDARD_IA"}]}},
            "mlops:dataLake.transitions.raw: transition 1 (STANDARD_IA at day 7): days must be at least 30",
        ),
        (
            {
                "transitions": {
                    "raw": [
                        {"days": 30, "storageClass": "STANDARD_IA"},
                        {"days": 45, "storageClass": "GLACIER"},
                    ]
                }
            },
            "mlops:dataLake.transitions.raw: transition 2 (GLACIER at day 45): must come at least 30 day(s) after",
        ),
        (
            {
                "transitions": {
                    "curated": [
                        {"days": 0, "storageClass": "GLACIER"},
                        {"days": 30, "storageClass": "GLACIER_IR"},
                    ]
                }
            },
            "mlops:dataLake.transitions.curated: transition 2 (GLACIER_IR at day 30): S3 cannot move objects from GLACIER to GLACIER_IR",
        ),
        (
            {"transitions": {"raw": [{"days": 30, "storage": "GLACIER"}]}},
            "mlops:dataLake.transitions.raw[0].storage: unknown key; did you mean mlops:dataLake.transitions.raw[0].storageClass?",
        ),
        (
            {"noncurrentVersionExpirationDays": 0},
            "mlops:dataLake.noncurrentVersionExpirationDays: 0 days; give at least 1",
        ),
        (
            {"accessLogRetentionDays": -5},
            "mlops:dataLake.accessLogRetentionDays: -5 days; give at least 1",
        ),
        (
            {"accessLogRetentionDays": "long"},
            "mlops:dataLake.accessLogRetentionDays: Input should be a valid integer",
        ),
        ({"zone": ["raw"]}, "mlops:dataLake.zone: unknown key; did you mean mlops:dataLake.zones?"),
        ([], "mlops:dataLake: Input should be a valid dictionary"),
    ],
)
def test_bad_data_lake_config_names_the_key(stack_config, lake: Any, expected: str) -> None:
    problems = lake_problems(stack_config, lake)
    assert any(p.startswith(expected) for p in problems), problems


def test_every_data_lake_problem_is_reported_at_once(stack_config) -> None:
    problems = lake_problems(
        stack_config,
        {
            "zones": ["raw", "raw"],
            "noncurrentVersionExpirationDays": 0,
            "transitions": {"gold": [], "raw": [{"days": 1, "storageClass": "ONEZONE_IA"}]},
        },
    )
    keys = sorted(p.split(":", 2)[1] for p in problems)
    assert keys == [
        "dataLake.noncurrentVersionExpirationDays",
        "dataLake.transitions.gold",
        "dataLake.transitions.raw",
        "dataLake.zones",
    ]


def test_plan_with_a_bad_data_lake_exits_2_naming_the_key(
    project_with, stack_config, capsys
) -> None:
    """``plan``'s ``main`` in-process (exit code and stderr as ``python -m stacks`` gives
    them; tests/test_config_limits.py runs the process itself)."""
    from stacks.cli import main

    config = stack_config("prod")
    config["mlops:dataLake"]["transitions"]["gold"] = [{"days": 30, "storageClass": "GLACIER"}]
    root = project_with(config)
    assert main(["plan", "test", "--project-dir", str(root)]) == 2
    stderr = capsys.readouterr().err
    assert "Traceback" not in stderr
    assert "mlops:dataLake.transitions.gold: 'gold' is not a zone of the lake" in stderr
