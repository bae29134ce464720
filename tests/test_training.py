"""Continuous training in both real stack files (components/training, stacks/training.py).

Every region: the registry table (fixed name, baseline), the train and drift job definitions
and their roles, the drift schedule and new-data trigger (ENABLED only in the active region),
the drift and held-candidate alarms, and the rule from the drift alarm to the training job. Each role reads
and writes exactly its folders, the registry and the namespace. The scoring jobs named in
``scoringJobs`` and the web service read the approved version.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from parliament import analyze_policy_string
from render_cache import (  # tests/render_cache.py
    dev_switched_off,
    dev_without_service_or_jobs,
    render_config,
)

from components.training import drift_alarm_pattern
from stacks.config import PlatformConfig, load_stack_config
from stacks.offline import PROJECT_DIR, Plan

ACCOUNT = "123456789012"
TABLE = "aws:dynamodb/table:Table"
DEFINITION = "aws:batch/jobDefinition:JobDefinition"
SCHEDULE = "aws:scheduler/schedule:Schedule"
RULE = "aws:cloudwatch/eventRule:EventRule"
TARGET = "aws:cloudwatch/eventTarget:EventTarget"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"


def config_of(plan: Plan) -> PlatformConfig:
    return load_stack_config(PROJECT_DIR, plan.stack)


def named(plan: Plan, region: str, typ: str, name: str) -> dict[str, Any]:
    found = [
        r for r in plan.in_region(region) if r["type"] == typ and r["name"] == f"{region}-{name}"
    ]
    assert len(found) == 1, (region, typ, name, len(found))
    return found[0]


def maybe(plan: Plan, region: str, typ: str, name: str) -> list[dict[str, Any]]:
    return [
        r for r in plan.in_region(region) if r["type"] == typ and r["name"] == f"{region}-{name}"
    ]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def role_statements(plan: Plan, region: str, role_prefix: str) -> list[dict[str, Any]]:
    """Every statement of every inline policy of the ServiceRole ``<region>-<role_prefix>``."""
    role = named(plan, region, ROLE, f"{role_prefix}-role")
    out = []
    for policy in plan.in_region(region):
        if policy["type"] == ROLE_POLICY and policy["inputs"]["role"] == role["id"]:
            out += as_list(json.loads(policy["inputs"]["policy"])["Statement"])
    return out


def grants(statements: Iterable[dict[str, Any]]) -> set[tuple[str, str]]:
    """(action, resource) pairs of non-KMS statements."""
    return {
        (action, resource)
        for s in statements
        for action in as_list(s["Action"])
        if not action.startswith("kms:")
        for resource in as_list(s["Resource"])
    }


def bucket_arn(plan: Plan, region: str, zone: str) -> str:
    return f"arn:aws:s3:::{named(plan, region, 'aws:s3/bucket:Bucket', f'lake-{zone}')['id']}"


def table_arn(cfg: PlatformConfig, region: str) -> str:
    return f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/mlops-{cfg.environment}-model-registry"


# --------------------------------------------------------------------------- what exists where


def test_every_region_has_the_registry_the_jobs_and_the_loop(stack_plan: Plan) -> None:
    """The loop exists everywhere; only the active region's drift schedule and new-data
    trigger are ENABLED (tests/test_standby_triggers.py holds the switching)."""
    cfg = config_of(stack_plan)
    env = cfg.environment
    for region in cfg.regions:
        active = region.name == cfg.active_region
        # One global table in the primary; this region's copy is a replica of it.
        table = named(stack_plan, cfg.primary_region, TABLE, "model-registry-table")["inputs"]
        key = named(stack_plan, region.name, "aws:kms/key:Key", "kms-key")
        assert table["name"] == f"mlops-{env}-model-registry"
        assert (table["hashKey"], table["rangeKey"]) == ("model", "version")
        assert table["billingMode"] == "PAY_PER_REQUEST"
        assert table["pointInTimeRecovery"]["enabled"] is True
        assert table["deletionProtectionEnabled"] is cfg.is_production
        if region.name == cfg.primary_region:
            assert table["serverSideEncryption"]["kmsKeyArn"].endswith(key["id"])
        else:
            (replica,) = [r for r in table["replicas"] if r["regionName"] == region.name]
            assert replica["kmsKeyArn"].endswith(key["id"])
            assert replica["pointInTimeRecovery"] is True
            assert replica["deletionProtectionEnabled"] is cfg.is_production
        definitions = {
            d["inputs"]["name"]
            for d in stack_plan.in_region(region.name)
            if d["type"] == DEFINITION
        }
        assert {f"mlops-{env}-train-churn", f"mlops-{env}-drift-churn"} <= definitions
        loop = [
            maybe(stack_plan, region.name, SCHEDULE, "training-drift-schedule"),
            maybe(stack_plan, region.name, RULE, "training-drift-on-new-objects"),
            maybe(stack_plan, region.name, ALARM, "training-drift"),
            maybe(stack_plan, region.name, ALARM, "training-held"),
            maybe(stack_plan, region.name, RULE, "training-retrain"),
            maybe(stack_plan, region.name, TARGET, "training-retrain-submit"),
        ]
        assert [len(found) for found in loop] == [1] * len(loop), region.name
        for switched in loop[:2]:
            assert switched[0]["inputs"]["state"] == ("ENABLED" if active else "DISABLED")
        assert loop[4][0]["inputs"].get("state", "ENABLED") == "ENABLED"  # retraining


def test_the_drift_check_runs_daily_and_on_new_curated_data(stack_plan: Plan) -> None:
    cfg = config_of(stack_plan)
    region = cfg.primary_region
    schedule = named(stack_plan, region, SCHEDULE, "training-drift-schedule")["inputs"]
    assert schedule["scheduleExpression"] == "rate(1 day)"
    request = json.loads(schedule["target"]["input"])
    assert (
        request["JobDefinition"].split("/")[-1].startswith(f"mlops-{cfg.environment}-drift-churn")
    )
    rule = named(stack_plan, region, RULE, "training-drift-on-new-objects")
    pattern = json.loads(rule["inputs"]["eventPattern"])
    curated = named(stack_plan, region, "aws:s3/bucket:Bucket", "lake-curated")["id"]
    assert pattern["detail"]["bucket"]["name"] == [curated]
    assert pattern["detail"]["object"]["key"] == [{"prefix": "customers/daily/"}]


def test_the_drift_alarm_alerts_and_submits_a_training_run(stack_plan: Plan) -> None:
    cfg = config_of(stack_plan)
    region = cfg.primary_region
    alarm = named(stack_plan, region, ALARM, "training-drift")
    inputs = alarm["inputs"]
    assert (inputs["namespace"], inputs["metricName"]) == (
        f"mlops-{cfg.environment}/training",
        "MaxDriftScore",
    )
    assert inputs["dimensions"] == {"Model": "churn"} and inputs["statistic"] == "Maximum"
    assert (
        inputs["threshold"] == 0.2
        and inputs["comparisonOperator"] == "GreaterThanOrEqualToThreshold"
    )
    # One drift episode, one ALARM transition: missing data keeps the state.
    assert inputs["treatMissingData"] == "ignore"
    topic = named(stack_plan, region, TARGET, "jobs-batch-run-failed-alert")["inputs"]["arn"]
    assert inputs["alarmActions"] == [topic] and inputs["okActions"] == [topic]
    alarm_arn = f"arn:aws:cloudwatch:{region}:{ACCOUNT}:alarm:{alarm['id']}"
    rule = named(stack_plan, region, RULE, "training-retrain")
    assert json.loads(rule["inputs"]["eventPattern"]) == drift_alarm_pattern(alarm_arn)
    target = named(stack_plan, region, TARGET, "training-retrain-submit")["inputs"]
    failed = named(stack_plan, region, RULE, "jobs-batch-run-failed")
    assert [target["arn"]] == json.loads(failed["inputs"]["eventPattern"])["detail"]["jobQueue"]
    assert (
        f"job-definition/mlops-{cfg.environment}-train-churn:"
        in target["batchTarget"]["jobDefinition"]
    )
    template = json.loads(
        target["inputTransformer"]["inputTemplate"].replace("<", "").replace(">", "")
    )
    assert set(template["Parameters"]) == {"reason"}
    assert target["deadLetterConfig"]["arn"].startswith(f"arn:aws:sqs:{region}:")
    role = named(stack_plan, region, ROLE, "training-retrain-events-role")
    trust = json.loads(role["inputs"]["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "events.amazonaws.com"}
    assert trust["Condition"]["ArnLike"]["aws:SourceArn"].endswith(f"rule/{target['rule']}")
    assert target["roleArn"].endswith(role["id"])
    submit = {r for _, r in grants(role_statements(stack_plan, region, "training-retrain-events"))}
    assert submit == {
        target["arn"],
        f"arn:aws:batch:{region}:{ACCOUNT}:job-definition/mlops-{cfg.environment}-train-churn",
        f"arn:aws:batch:{region}:{ACCOUNT}:job-definition/mlops-{cfg.environment}-train-churn:*",
        f"arn:aws:batch:{region}:{ACCOUNT}:job/*",
    }


def test_failed_training_and_drift_runs_are_reported_by_the_queues_failure_rule(
    stack_plan: Plan,
) -> None:
    region = config_of(stack_plan).primary_region
    failed = named(stack_plan, region, RULE, "jobs-batch-run-failed")
    (queue_arn,) = json.loads(failed["inputs"]["eventPattern"])["detail"]["jobQueue"]
    schedule = named(stack_plan, region, SCHEDULE, "training-drift-schedule")["inputs"]
    assert json.loads(schedule["target"]["input"])["JobQueue"] == queue_arn
    assert (
        named(stack_plan, region, TARGET, "training-drift-on-new-objects-submit")["inputs"]["arn"]
        == queue_arn
    )
    assert (
        named(stack_plan, region, TARGET, "training-retrain-submit")["inputs"]["arn"] == queue_arn
    )


# --------------------------------------------------------------------------- least privilege


def test_each_job_role_reaches_exactly_its_folders_the_registry_and_the_namespace(
    stack_plan: Plan,
) -> None:
    cfg = config_of(stack_plan)
    for region in (r.name for r in cfg.regions):
        curated, models = (
            bucket_arn(stack_plan, region, "curated"),
            bucket_arn(stack_plan, region, "models"),
        )
        table = table_arn(cfg, region)
        train = role_statements(stack_plan, region, "training-train-job")
        assert grants(train) == {
            ("s3:GetObject", f"{curated}/customers/labelled/*"),
            ("s3:ListBucket", curated),
            *{
                (a, f"{models}/registry/churn/*")
                for a in ("s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload")
            },
            ("s3:ListBucket", models),
            *{
                (a, table)
                for a in (
                    "dynamodb:GetItem",
                    "dynamodb:Query",
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                )
            },
            ("cloudwatch:PutMetricData", "*"),
        }
        drift = role_statements(stack_plan, region, "training-drift-job")
        assert grants(drift) == {
            ("s3:GetObject", f"{curated}/customers/daily/*"),
            ("s3:ListBucket", curated),
            ("s3:GetObject", f"{models}/registry/churn/*"),
            ("s3:ListBucket", models),
            *{(a, f"{models}/drift/churn/*") for a in ("s3:PutObject", "s3:AbortMultipartUpload")},
            *{(a, table) for a in ("dynamodb:GetItem", "dynamodb:Query")},
            ("cloudwatch:PutMetricData", "*"),
        }
        for statements in (train, drift):
            listing = {
                tuple(s["Condition"]["StringLike"]["s3:prefix"])
                for s in statements
                if "s3:ListBucket" in as_list(s["Action"])
            }
            assert all(
                prefixes[0].rstrip("/")
                in ("customers/labelled", "customers/daily", "registry/churn")
                for prefixes in listing
            )
            metrics = [s for s in statements if "cloudwatch:PutMetricData" in as_list(s["Action"])]
            assert metrics[0]["Condition"] == {
                "StringEquals": {"cloudwatch:namespace": f"mlops-{cfg.environment}/training"}
            }
            kms = [s for s in statements if any(a.startswith("kms:") for a in as_list(s["Action"]))]
            assert kms and all("kms:ViaService" in s["Condition"]["StringEquals"] for s in kms)


def test_the_loops_policies_pass_parliament(stack_plan: Plan) -> None:
    findings = set()
    for resource in stack_plan.resources:
        if resource["type"] == ROLE_POLICY and "-training-" in resource["name"]:
            for finding in analyze_policy_string(
                resource["inputs"]["policy"], include_community_auditors=True
            ).findings:
                findings.add((resource["name"].endswith("-execution-pull-image"), finding.issue))
    # The only finding is the one every job has: ecr:GetAuthorizationToken on "*".
    assert findings <= {(True, "CREDENTIALS_EXPOSURE")}


# --------------------------------------------------------------------------- serving


def test_scoring_jobs_and_the_web_service_read_the_approved_version(stack_plan: Plan) -> None:
    cfg = config_of(stack_plan)
    table = f"mlops-{cfg.environment}-model-registry"
    for region in (r.name for r in cfg.regions):
        models = bucket_arn(stack_plan, region, "models")
        for job in cfg.jobs.jobs:
            definition = named(stack_plan, region, DEFINITION, f"jobs-{job.name}-definition")
            environment = {
                e["name"]: e["value"]
                for e in json.loads(definition["inputs"]["containerProperties"])["environment"]
            }
            serving = job.name in cfg.training.scoring_jobs
            assert (environment.get("BATCH_INFERENCE_REGISTRY_TABLE") == table) is serving
            assert (environment.get("BATCH_INFERENCE_MODEL_NAME") == "churn") is serving
            reach = grants(role_statements(stack_plan, region, f"jobs-{job.name}-job"))
            assert (("dynamodb:Query", table_arn(cfg, region)) in reach) is serving
            assert (("s3:GetObject", f"{models}/registry/churn/*") in reach) is serving
        task = named(stack_plan, region, TASK_DEFINITION, "web-task")
        container = json.loads(task["inputs"]["containerDefinitions"])[0]
        environment = {e["name"]: e["value"] for e in container["environment"]}
        assert environment["MODEL_REGISTRY_TABLE"] == table
        assert environment["MODEL_NAME"] == "churn" and environment["MODEL_REFRESH_SECONDS"] == "60"
        reach = grants(role_statements(stack_plan, region, "web-task"))
        assert {
            ("dynamodb:GetItem", table_arn(cfg, region)),
            ("dynamodb:Query", table_arn(cfg, region)),
            ("s3:GetObject", f"{models}/registry/churn/*"),
        } <= reach
        assert not any(a in ("dynamodb:PutItem", "dynamodb:UpdateItem") for a, _ in reach)


def test_the_training_jobs_run_the_training_image_read_only_as_configured(stack_plan: Plan) -> None:
    cfg = config_of(stack_plan)
    region = cfg.primary_region
    image = named(stack_plan, region, "awsx:ecr:Image", "training-training-image")
    assert image["inputs"]["context"] == "services/training"
    for kind, command in (
        ("train", ["train", "--reason", "Ref::reason"]),
        (
            "drift",
            [
                "drift",
                "--trigger-bucket",
                "Ref::trigger_bucket",
                "--trigger-key",
                "Ref::trigger_key",
            ],
        ),
    ):
        definition = named(stack_plan, region, DEFINITION, f"training-{kind}-definition")
        properties = json.loads(definition["inputs"]["containerProperties"])
        assert properties["command"] == command
        assert properties["readonlyRootFilesystem"] is True
        assert properties["mountPoints"] == [
            {"sourceVolume": "tmp", "containerPath": "/tmp", "readOnly": False}
        ]
        environment = {e["name"]: e["value"] for e in properties["environment"]}
        assert environment["TRAINING_REGISTRY_TABLE"] == f"mlops-{cfg.environment}-model-registry"
        assert environment["TRAINING_MODEL"] == "churn"
        if kind == "train":
            assert environment["TRAINING_DATA_PREFIX"] == "customers/labelled"
            assert environment["TRAINING_WINDOW_DAYS"] == "90"
            assert environment["TRAINING_METRICS"] == "auc,log_loss"
            assert environment["TRAINING_MARGIN"] == "0.01"
            assert environment["TRAINING_IMAGE"] == properties["image"]
        else:
            assert environment["TRAINING_MEASURE"] == "psi"
            assert environment["TRAINING_THRESHOLD"] == "0.2"


# --------------------------------------------------------------------------- switches


def test_switched_off_training_builds_nothing_and_serves_nothing(
    tmp_path_factory,
) -> None:
    # dev with mlops:training.enabled false (and switches other files check: render_cache;
    # the web service stays on).
    config = dev_switched_off()
    assert config["mlops:training"] == {"enabled": False}
    assert config["mlops:containers"].get("enabled", True)
    plan = render_config(config, tmp_path_factory)
    assert not [
        r for r in plan.resources if "-training" in r["name"] or "model-registry" in r["name"]
    ]
    task = [r for r in plan.resources if r["type"] == TASK_DEFINITION][0]
    environment = {
        e["name"] for e in json.loads(task["inputs"]["containerDefinitions"])[0]["environment"]
    }
    assert not environment & {"MODEL_REGISTRY_TABLE", "MODEL_NAME"}
    assert all(out["training"] is None for out in plan.outputs["regions"].values())


def test_without_jobs_the_loop_brings_its_own_batch_environment(tmp_path_factory) -> None:
    # dev without mlops:jobs, no scoring jobs (and changes other files check: render_cache).
    config = dev_without_service_or_jobs()
    assert "mlops:jobs" not in config and config["mlops:training"] == {"scoringJobs": []}
    plan = render_config(config, tmp_path_factory)
    environments = [r for r in plan.resources if r["type"] == "mlops:jobs:BatchEnvironment"]
    assert sorted(r["name"] for r in environments) == [
        "eu-central-1-training-batch",
        "eu-west-1-training-batch",
    ]
    assert len([r for r in plan.resources if r["type"] == DEFINITION]) == 4
