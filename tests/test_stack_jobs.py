"""Jobs in both real stack files, and ``mlops:jobs`` errors reported by key.

Every region gets the Fargate environment, the queue, every job's definition and roles and
the FAILED-run alert (a standby region can take runs by hand, on its replica of the lake);
schedules and raw-data triggers exist in every region, enabled only in the active region, so
no run starts twice.
dev: one small scheduled job. prod: a scheduled job, an event-driven job and an array job;
no managed Airflow in either (an MWAA environment is rendered and checked separately).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from typing import Any

import pytest
from parliament import analyze_policy_string
from render_cache import dev_switched_off, prod_with_airflow, render_config  # tests/render_cache.py

from components.containers import build_context_digest, built_image_tag
from policies.check import check, load_plan
from stacks.config import ConfigError, PlatformConfig, load_stack_config, parse_raw_config
from stacks.offline import PROJECT_DIR, Plan

ACCOUNT = "123456789012"
ENVIRONMENT = "mlops:jobs:BatchEnvironment"
BATCH_JOB = "mlops:jobs:BatchJob"
DEFINITION = "aws:batch/jobDefinition:JobDefinition"
SCHEDULE = "aws:scheduler/schedule:Schedule"
RULE = "aws:cloudwatch/eventRule:EventRule"
TARGET = "aws:cloudwatch/eventTarget:EventTarget"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
MWAA = "aws:mwaa/environment:Environment"
REPOSITORY = "aws:ecr/repository:Repository"
IMAGE_BUILD = "awsx:ecr:Image"


def config_of(plan: Plan) -> PlatformConfig:
    return load_stack_config(PROJECT_DIR, plan.stack)


def named(plan: Plan, region: str, typ: str, name: str) -> dict[str, Any]:
    """The one resource of ``typ`` named ``<region>-<name>`` in ``region``."""
    found = [
        r for r in plan.in_region(region) if r["type"] == typ and r["name"] == f"{region}-{name}"
    ]
    assert len(found) == 1, (region, typ, name)
    return found[0]


def under(plan: Plan, component: dict[str, Any]) -> list[dict[str, Any]]:
    """Every resource below ``component`` in the parent tree."""
    parents = {r["urn"]: r["parent"] for r in plan.resources}

    def inside(urn: str) -> bool:
        parent = parents.get(urn)
        while parent is not None:
            if parent == component["urn"]:
                return True
            parent = parents.get(parent)
        return False

    return [r for r in plan.resources if inside(r["urn"])]


def lake_bucket(plan: Plan, region: str, zone: str) -> str:
    return named(plan, region, "aws:s3/bucket:Bucket", f"lake-{zone}")["id"]


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    found = document["Statement"]
    return found if isinstance(found, list) else [found]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def built_image(plan: Plan, region: str) -> dict[str, Any]:
    """The one job image the region builds (both stacks build services/batch_inference)."""
    found = [
        r
        for r in plan.in_region(region)
        if r["type"] == IMAGE_BUILD and "$mlops:jobs:Jobs$" in r["urn"]
    ]
    assert len(found) == 1, [r["name"] for r in found]
    return found[0]


def built_image_uri(image: dict[str, Any]) -> str:
    """The URI the offline mock gives a built image (the real one has the pushed digest)."""
    digest = hashlib.sha256(f"{image['urn']}\0{image['inputs']['imageTag']}".encode()).hexdigest()
    return f"{image['inputs']['repositoryUrl']}@sha256:{digest}"


# Both stacks ---------------------------------------------------------------------------------


def test_every_region_has_the_environment_and_every_jobs_definition(stack_plan: Plan) -> None:
    cfg = config_of(stack_plan)
    assert cfg.jobs.jobs, "both stacks declare jobs"
    for region in cfg.regions:
        environment = named(stack_plan, region.name, ENVIRONMENT, "jobs-batch")
        assert (
            environment["parent"]
            == named(stack_plan, region.name, "mlops:jobs:Jobs", "jobs")["urn"]
        )
        ce = named(
            stack_plan,
            region.name,
            "aws:batch/computeEnvironment:ComputeEnvironment",
            "jobs-batch-fargate",
        )
        resources = ce["inputs"]["computeResources"]
        assert resources["type"] == "FARGATE" and resources["maxVcpus"] == cfg.jobs.max_vcpus
        private = {
            r["id"]
            for r in stack_plan.in_region(region.name)
            if r["type"] == "aws:ec2/subnet:Subnet" and "private" in r["name"]
        }
        assert set(resources["subnets"]) == private
        # The continuous-training loop's definitions are its own (tests/test_training.py).
        definitions = {
            d["inputs"]["name"]
            for d in stack_plan.in_region(region.name)
            if d["type"] == DEFINITION and d["name"].startswith(f"{region.name}-jobs-")
        }
        assert definitions == {f"mlops-{cfg.environment}-{job.name}" for job in cfg.jobs.jobs}


def test_each_region_builds_the_batch_image_once_into_its_job_repository(stack_plan: Plan) -> None:
    """Both stacks build services/batch_inference (no placeholder image nobody pushes): one
    repository and one image per region, shared by every job, pulled by those jobs only."""
    cfg = config_of(stack_plan)
    builds = {job.build.context for job in cfg.jobs.jobs if job.build is not None}
    assert builds == {"services/batch_inference"} and all(
        job.image is None for job in cfg.jobs.jobs
    )
    context = PROJECT_DIR / "services/batch_inference"
    for region in cfg.regions:
        jobs = named(stack_plan, region.name, "mlops:jobs:Jobs", "jobs")
        repo = named(stack_plan, region.name, REPOSITORY, "jobs-images-repo")
        assert repo["parent"] == jobs["urn"]
        assert repo["inputs"]["imageTagMutability"] == "IMMUTABLE"
        assert repo["inputs"]["imageScanningConfiguration"] == {"scanOnPush": True}
        key = named(stack_plan, region.name, "aws:kms/key:Key", "kms-key")
        assert repo["inputs"]["encryptionConfigurations"] == [
            {
                "encryptionType": "KMS",
                "kmsKey": f"arn:aws:kms:{region.name}:{ACCOUNT}:key/{key['id']}",
            }
        ]
        assert repo["inputs"]["forceDelete"] is cfg.ephemeral
        assert repo["options"]["protect"] is cfg.protect_stateful
        lifecycle = named(
            stack_plan,
            region.name,
            "aws:ecr/lifecyclePolicy:LifecyclePolicy",
            "jobs-images-repo-lifecycle",
        )
        assert (
            lifecycle["inputs"]["repository"] == repo["id"]
            and json.loads(lifecycle["inputs"]["policy"])["rules"]
        )
        image = built_image(stack_plan, region.name)
        tag = built_image_tag(
            f"{region.name}-jobs-{cfg.jobs.jobs[0].name}",
            "linux/amd64",
            build_context_digest(context),
        )
        assert image["inputs"] == {
            "repositoryUrl": f"{ACCOUNT}.dkr.ecr.{region.name}.amazonaws.com/{repo['id']}",
            "context": "services/batch_inference",
            "platform": "linux/amd64",
            "imageTag": tag,
        }
        repo_arn = f"arn:aws:ecr:{region.name}:{ACCOUNT}:repository/{repo['id']}"
        for job in cfg.jobs.jobs:
            pull = json.loads(
                named(
                    stack_plan, region.name, ROLE_POLICY, f"jobs-{job.name}-execution-pull-image"
                )["inputs"]["policy"]
            )
            ecr = {
                (a, r)
                for s in statements(pull)
                for a in as_list(s["Action"])
                for r in as_list(s["Resource"])
            }
            assert ecr == {
                ("ecr:BatchCheckLayerAvailability", repo_arn),
                ("ecr:BatchGetImage", repo_arn),
                ("ecr:GetDownloadUrlForLayer", repo_arn),
                ("ecr:GetAuthorizationToken", "*"),
            }


def test_the_web_service_keeps_its_own_repository_and_image(stack_plan: Plan) -> None:
    for region in config_of(stack_plan).regions:
        web = named(stack_plan, region.name, "mlops:containers:ContainerService", "web")
        for typ, name in (
            (REPOSITORY, "web-repo"),
            (IMAGE_BUILD, "web-image"),
            ("aws:ecr/lifecyclePolicy:LifecyclePolicy", "web-repo-lifecycle"),
        ):
            assert named(stack_plan, region.name, typ, name)["parent"] == web["urn"]
        assert len([r for r in stack_plan.in_region(region.name) if r["type"] == REPOSITORY]) == 2


def test_schedules_and_triggers_exist_everywhere_enabled_only_in_the_active_region(
    stack_plan: Plan,
) -> None:
    """Every region has every schedule and raw-data trigger (tests/test_standby_triggers.py
    holds their runtime-switchable state); only the active region's are ENABLED."""
    cfg = config_of(stack_plan)
    scheduled = sorted(f"mlops-{cfg.environment}-{j.name}" for j in cfg.jobs.jobs if j.schedule)
    for region in cfg.regions:
        jobs = f"{region.name}-jobs-"  # the training loop's schedule and rule are its own
        triggered = sorted(
            f"{jobs}{j.name}-on-new-objects" for j in cfg.jobs.jobs if j.on_new_raw_data
        )
        schedules = [
            s
            for s in stack_plan.in_region(region.name)
            if s["type"] == SCHEDULE and s["name"].startswith(jobs)
        ]
        triggers = [
            r
            for r in stack_plan.in_region(region.name)
            if r["type"] == RULE
            and r["name"].startswith(jobs)
            and r["name"].endswith("-on-new-objects")
        ]
        assert sorted(s["inputs"]["name"] for s in schedules) == scheduled
        assert sorted(r["name"] for r in triggers) == triggered
        active = region.name == cfg.active_region
        for job in cfg.jobs.jobs:
            [schedule] = [s for s in schedules if s["name"] == f"{jobs}{job.name}-schedule"] or [
                None
            ]
            if job.schedule is not None and schedule is not None:
                on = job.schedule.enabled and active
                assert schedule["inputs"]["state"] == ("ENABLED" if on else "DISABLED")
        for trigger in triggers:
            assert trigger["inputs"]["state"] == ("ENABLED" if active else "DISABLED")


def test_schedules_encrypt_their_payload_with_the_region_key(stack_plan: Plan) -> None:
    """EventBridge Scheduler decrypts a schedule's payload with its execution role
    (components/kms.py statement_schedule_payload cites the sources)."""
    for region in config_of(stack_plan).regions:
        key = named(stack_plan, region.name, "aws:kms/key:Key", "kms-key")
        key_arn = f"arn:aws:kms:{region.name}:{ACCOUNT}:key/{key['id']}"
        for schedule in (r for r in stack_plan.in_region(region.name) if r["type"] == SCHEDULE):
            assert schedule["inputs"].get("kmsKeyArn") == key_arn, schedule["name"]
            job = schedule["name"].removeprefix(f"{region.name}-").removesuffix("-schedule")
            grant = f"{job}-scheduler-submit-runs"
            policy = named(stack_plan, region.name, ROLE_POLICY, grant)
            assert policy["urn"] in schedule["dependencies"]
            decrypt = [
                s
                for s in statements(json.loads(policy["inputs"]["policy"]))
                if "kms:Decrypt" in as_list(s["Action"])
            ]
            assert decrypt and all(as_list(s["Resource"]) == [key_arn] for s in decrypt)


def test_failed_runs_notify_the_alert_topic_of_their_region(stack_plan: Plan) -> None:
    cfg = config_of(stack_plan)
    for region in cfg.regions:
        rule = named(stack_plan, region.name, RULE, "jobs-batch-run-failed")
        pattern = json.loads(rule["inputs"]["eventPattern"])
        assert pattern["detail"]["status"] == ["FAILED"]
        assert pattern["detail"]["jobQueue"][0].startswith(
            f"arn:aws:batch:{region.name}:{ACCOUNT}:job-queue/"
        )
        target = named(stack_plan, region.name, TARGET, "jobs-batch-run-failed-alert")["inputs"]
        # The region's alert topic: a persistent one given by ARN, or the stack's own.
        topic_arn = cfg.alerts.topic_arn(region.name)
        if topic_arn is None:
            topic = named(stack_plan, region.name, "aws:sns/topic:Topic", "alerts-topic")
            topic_arn = f"arn:aws:sns:{region.name}:{ACCOUNT}:{topic['id']}"
        assert target["arn"] == topic_arn
        assert "<jobId>" in target["inputTransformer"]["inputTemplate"]


def test_definitions_follow_the_config(stack_plan: Plan) -> None:
    cfg = config_of(stack_plan)
    for region in cfg.regions:
        for job in cfg.jobs.jobs:
            definition = named(stack_plan, region.name, DEFINITION, f"jobs-{job.name}-definition")[
                "inputs"
            ]
            props = json.loads(definition["containerProperties"])
            if job.build is not None:
                assert props["image"] == built_image_uri(built_image(stack_plan, region.name))
            else:
                assert props["image"] == job.image.format(account=ACCOUNT, region=region.name)
            assert props["command"] == list(job.command)
            assert {r["type"]: float(r["value"]) for r in props["resourceRequirements"]} == {
                "VCPU": job.vcpu,
                "MEMORY": job.memory_mib,
            }
            assert definition["timeout"] == {"attemptDurationSeconds": job.timeout_seconds}
            assert definition["retryStrategy"]["attempts"] == job.retries + 1
            assert props["readonlyRootFilesystem"] is True and props[
                "fargatePlatformConfiguration"
            ] == {"platformVersion": "LATEST"}
            assert props["networkConfiguration"] == {"assignPublicIp": "DISABLED"}
            parameters = definition["parameters"]
            assert parameters["read_bucket"] == lake_bucket(stack_plan, region.name, job.read_zone)
            assert parameters["write_bucket"] == lake_bucket(
                stack_plan, region.name, job.write_zone
            )
            assert (parameters["read_prefix"], parameters["write_prefix"]) == (
                job.read_prefix,
                job.write_prefix,
            )
            assert parameters.get("array_size") == (str(job.array_size) if job.array_size else None)
            group = named(
                stack_plan, region.name, "aws:cloudwatch/logGroup:LogGroup", f"jobs-{job.name}-logs"
            )
            assert (
                group["inputs"]["name"]
                == props["logConfiguration"]["options"]["awslogs-group"]
                == f"/aws/batch/mlops-{cfg.environment}/{job.name}"
            )
            assert (
                group["inputs"]["retentionInDays"] == cfg.log_retention_days
                and group["inputs"]["kmsKeyId"]
            )
            assert group["options"]["protect"] == cfg.protect_stateful


def test_job_roles_reach_only_their_configured_folders_in_their_region(stack_plan: Plan) -> None:
    cfg = config_of(stack_plan)
    for region in cfg.regions:
        for job in cfg.jobs.jobs:
            prefix = f"{region.name}-jobs-{job.name}-job-"
            documents = [
                json.loads(p["inputs"]["policy"])
                for p in stack_plan.in_region(region.name)
                if p["type"] == ROLE_POLICY and p["name"].startswith(prefix)
            ]
            read = f"arn:aws:s3:::{lake_bucket(stack_plan, region.name, job.read_zone)}"
            write = f"arn:aws:s3:::{lake_bucket(stack_plan, region.name, job.write_zone)}"
            allowed = {read, write, f"{read}/{job.read_prefix}/*", f"{write}/{job.write_prefix}/*"}
            if cfg.training.enabled and job.name in cfg.training.scoring_jobs:
                # A scoring job reads the approved model from the registry's folder.
                models = f"arn:aws:s3:::{lake_bucket(stack_plan, region.name, 'models')}"
                allowed |= {models, f"{models}/registry/{cfg.training.model}/*"}
            s3 = {
                r
                for d in documents
                for s in statements(d)
                for a in as_list(s["Action"])
                for r in as_list(s["Resource"])
                if a.startswith("s3:")
            }
            assert s3 == allowed, (job.name, s3)
            services = {
                a.split(":")[0]
                for d in documents
                for s in statements(d)
                for a in as_list(s["Action"])
            }
            scoring = cfg.training.enabled and job.name in cfg.training.scoring_jobs
            assert services == ({"s3", "kms", "dynamodb"} if scoring else {"s3", "kms"})
            for d in documents:
                for st in statements(d):
                    if any(a.startswith("dynamodb:") for a in as_list(st["Action"])):
                        # Read the approved version from the registry table, nothing else.
                        assert all(
                            a in ("dynamodb:GetItem", "dynamodb:Query")
                            for a in as_list(st["Action"])
                        ), st
                        assert all(
                            r.endswith(f":table/mlops-{cfg.environment}-model-registry")
                            or r.endswith(f":table/mlops-{cfg.environment}-model-registry/index/*")
                            for r in as_list(st["Resource"])
                        ), st


def test_jobs_resources_cause_no_policy_violation(stack_plan: Plan) -> None:
    result = check(load_plan(stack_plan.to_dict()))
    mine = {r["urn"] for c in stack_plan.of_type("mlops:jobs:Jobs") for r in under(stack_plan, c)}
    assert mine and [v for v in result.violations if v.urn in mine] == []


def test_jobs_policies_pass_parliament_except_the_registry_login(stack_plan: Plan) -> None:
    mine = {r["urn"] for c in stack_plan.of_type("mlops:jobs:Jobs") for r in under(stack_plan, c)}
    findings = set()
    for resource in stack_plan.resources:
        if resource["type"] == "aws:ecr/lifecyclePolicy:LifecyclePolicy":
            continue  # image expiry rules, not an IAM policy
        if resource["urn"] in mine and isinstance(resource["inputs"].get("policy"), str):
            for finding in analyze_policy_string(
                resource["inputs"]["policy"], include_community_auditors=True
            ).findings:
                findings.add((resource["name"].endswith("-execution-pull-image"), finding.issue))
    assert findings == {(True, "CREDENTIALS_EXPOSURE")}


def test_role_names_fit_iam_limits(stack_plan: Plan) -> None:
    mine = {r["urn"] for c in stack_plan.of_type("mlops:jobs:Jobs") for r in under(stack_plan, c)}
    roles = [r for r in stack_plan.of_type("aws:iam/role:Role") if r["urn"] in mine]
    assert roles and all(len(r["id"]) <= 64 for r in roles), [
        r["id"] for r in roles if len(r["id"]) > 64
    ]


def test_the_dashboard_shows_job_runs(stack_plan: Plan) -> None:
    for region in config_of(stack_plan).regions:
        body = named(
            stack_plan, region.name, "aws:cloudwatch/dashboard:Dashboard", "dashboard-dashboard"
        )
        titles = [
            w["properties"].get("title")
            for w in json.loads(body["inputs"]["dashboardBody"])["widgets"]
        ]
        assert "Job runs that failed (alerts sent)" in titles


def test_outputs_name_the_queue_and_the_definitions(stack_plan: Plan) -> None:
    cfg = config_of(stack_plan)
    for region in cfg.regions:
        out = stack_plan.outputs["regions"][region.name]["jobs"]
        assert out["queueArn"].startswith(f"arn:aws:batch:{region.name}:{ACCOUNT}:job-queue/")
        assert out["jobDefinitions"] == {
            j.name: f"arn:aws:batch:{region.name}:{ACCOUNT}:job-definition/mlops-{cfg.environment}-{j.name}:1"
            for j in cfg.jobs.jobs
        }


# One stack each --------------------------------------------------------------------------------


def test_dev_runs_one_small_scheduled_job_without_airflow(dev_plan: Plan) -> None:
    cfg = config_of(dev_plan)
    (job,) = cfg.jobs.jobs
    assert job.schedule is not None and not job.on_new_raw_data and job.array_size is None
    assert job.vcpu <= 0.5 and cfg.jobs.max_vcpus <= 4
    schedule = named(dev_plan, cfg.primary_region, SCHEDULE, f"jobs-{job.name}-schedule")["inputs"]
    assert schedule["scheduleExpression"] == job.schedule.expression
    assert schedule["scheduleExpressionTimezone"] == job.schedule.timezone == "Europe/Rome"
    assert dev_plan.of_type(MWAA) == []
    assert not any(r["options"]["protect"] for r in dev_plan.resources if "mlops:jobs:" in r["urn"])


def test_prod_runs_a_scheduled_an_event_driven_and_an_array_job(prod_plan: Plan) -> None:
    cfg = config_of(prod_plan)
    region = cfg.primary_region
    jobs = {j.name: j for j in cfg.jobs.jobs}
    assert [j.name for j in cfg.jobs.jobs if j.schedule and not j.array_size] == ["churn-scoring"]
    assert [j.name for j in cfg.jobs.jobs if j.on_new_raw_data] == ["score-new-arrivals"]
    assert [j.name for j in cfg.jobs.jobs if j.array_size] == ["churn-scoring-fanout"]

    trigger = named(prod_plan, region, RULE, "jobs-score-new-arrivals-on-new-objects")
    assert json.loads(trigger["inputs"]["eventPattern"])["detail"] == {
        "bucket": {"name": [lake_bucket(prod_plan, region, "raw")]},
        "object": {"key": [{"prefix": f"{jobs['score-new-arrivals'].raw_prefix}/"}]},
    }
    target = named(prod_plan, region, TARGET, "jobs-score-new-arrivals-on-new-objects-submit")[
        "inputs"
    ]
    assert target["batchTarget"]["jobDefinition"].endswith(
        "job-definition/mlops-prod-score-new-arrivals:1"
    )

    fanout = named(prod_plan, region, SCHEDULE, "jobs-churn-scoring-fanout-schedule")["inputs"]
    request = json.loads(fanout["target"]["input"])
    assert request["ArrayProperties"] == {"Size": 8}
    assert fanout["scheduleExpression"] == "rate(6 hours)"
    command = json.loads(
        named(prod_plan, region, DEFINITION, "jobs-churn-scoring-fanout-definition")["inputs"][
            "containerProperties"
        ]
    )["command"]
    assert command[command.index("--shard-count") + 1] == "Ref::array_size"

    assert prod_plan.of_type(MWAA) == []  # decided: the schedules need no orchestrator
    logs = [
        r
        for r in prod_plan.of_type("aws:cloudwatch/logGroup:LogGroup")
        if r["name"].endswith(("-churn-scoring-logs",))
    ]
    assert logs and all(r["options"]["protect"] and r["options"]["retainOnDelete"] for r in logs)


def test_airflow_when_enabled_lives_in_the_primary_and_passes_the_checks(
    tmp_path_factory,
) -> None:
    # prod with Airflow on (and a permissions boundary test_permissions_boundary checks).
    config = prod_with_airflow()
    assert config["mlops:jobs"]["airflow"] == {"enabled": True, "environmentClass": "mw1.small"}
    plan = render_config(config, tmp_path_factory)
    (environment,) = plan.of_type(MWAA)
    assert environment["region"] == "eu-west-1"
    assert environment["inputs"]["webserverAccessMode"] == "PRIVATE_ONLY"
    assert len(environment["inputs"]["networkConfiguration"]["subnetIds"]) == 2
    dags = named(plan, "eu-west-1", "aws:s3/bucket:Bucket", "jobs-airflow-dags")
    log_bucket = named(plan, "eu-west-1", "aws:s3/bucket:Bucket", "lake-access-logs")
    (policy,) = [
        p
        for p in plan.of_type("aws:s3/bucketPolicy:BucketPolicy")
        if p["inputs"]["bucket"] == log_bucket["id"]
    ]
    assert any(
        f"arn:aws:s3:::{dags['id']}"
        in as_list(st.get("Condition", {}).get("ArnLike", {}).get("aws:SourceArn", []))
        and f"arn:aws:s3:::{log_bucket['id']}/airflow-dags/*" in as_list(st["Resource"])
        for st in statements(json.loads(policy["inputs"]["policy"]))
    )
    result = check(load_plan(plan.to_dict()))
    airflow = {r["urn"] for c in plan.of_type("mlops:jobs:Airflow") for r in under(plan, c)}
    assert airflow and [v for v in result.violations if v.urn in airflow] == []
    for resource in plan.resources:
        if resource["urn"] in airflow and isinstance(resource["inputs"].get("policy"), str):
            assert (
                analyze_policy_string(
                    resource["inputs"]["policy"], include_community_auditors=True
                ).findings
                == []
            )


def test_without_the_key_there_are_no_jobs(tmp_path_factory) -> None:
    # dev without mlops:jobs, training off: its jobs are Batch jobs too (and switches other
    # files check: render_cache).
    config = dev_switched_off()
    assert "mlops:jobs" not in config and config["mlops:training"] == {"enabled": False}
    plan = render_config(config, tmp_path_factory)
    assert not [
        r
        for r in plan.resources
        if r["type"].startswith(("aws:batch", "aws:scheduler", "aws:mwaa"))
    ]
    assert all(out["jobs"] is None for out in plan.outputs["regions"].values())


# Config ---------------------------------------------------------------------------------------


def flat(config: dict[str, Any]) -> dict[str, str]:
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}


def jobs_problems(
    stack_config: Callable[[str], dict[str, Any]],
    change: Callable[[dict[str, Any]], None],
    stack: str = "dev",
) -> list[str]:
    config = stack_config(stack)
    change(config)
    with pytest.raises(ConfigError) as info:
        parse_raw_config(flat(config))
    return info.value.problems


def job(**changes: Any) -> Callable[[dict[str, Any]], None]:
    """Change keys of the first job (``None`` removes a key)."""

    def apply(config: dict[str, Any]) -> None:
        first = config["mlops:jobs"]["jobs"][0]
        for key, value in changes.items():
            if value is None:
                first.pop(key, None)
            else:
                first[key] = value

    return apply


def test_defaults_without_the_key() -> None:
    config = load_stack_config(PROJECT_DIR, "dev")
    assert config.jobs.jobs and not config.jobs.airflow.enabled
    raw = {k: v for k, v in flat(yaml_config("dev")).items() if k != "mlops:jobs"}
    raw["mlops:training"] = json.dumps({"enabled": False})  # it names dev's scoring job
    defaults = parse_raw_config(raw).jobs
    assert defaults.jobs == () and defaults.max_vcpus == 16
    assert not defaults.airflow.enabled and defaults.airflow.environment_class == "mw1.small"


def yaml_config(stack: str) -> dict[str, Any]:
    import yaml

    return dict(
        yaml.safe_load((PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8"))["config"]
    )


AT = "mlops:jobs.jobs[0]"


@pytest.mark.parametrize(
    "change, expected",
    [
        (
            job(schedule={"cron": "0 2 * * *"}),
            f"{AT}.schedule.cron: cron '0 2 * * *' has 5 field(s)",
        ),
        (
            job(schedule={"cron": "0 2 * * * *"}),
            f"{AT}.schedule.cron: cron '0 2 * * * *': exactly one of day-of-month",
        ),
        (job(schedule={"rate": "1 days"}), f"{AT}.schedule.rate: rate '1 days': the unit must be"),
        (
            job(schedule={"cron": "0 2 * * ? *", "rate": "1 day"}),
            f"{AT}.schedule: Only one of [cron] and [rate] can be given",
        ),
        (job(schedule={"timezone": "UTC"}), f"{AT}.schedule: give cron"),
        (
            job(schedule={"cron": "0 2 * * ? *", "timezone": "Europe/Roma"}),
            f"{AT}.schedule.timezone: 'Europe/Roma' is not an IANA time zone name (like Europe/Rome or UTC); did you mean 'Europe/Rome'?",
        ),
        (
            job(schedule={"rate": "1 day", "parameters": {"day": "monday"}}),
            f"{AT}.schedule.parameters.day: the command has no Ref::day",
        ),
        (
            job(schedule={"rate": "1 day", "environment": {"DB_PASSWORD": "x"}}),
            f"{AT}.schedule.environment: DB_PASSWORD looks like a secret",
        ),
        (job(timeoutSeconds=0), f"{AT}.timeoutSeconds: 0 is not a max run time"),
        (job(timeoutSeconds=-60), f"{AT}.timeoutSeconds: -60 is not a max run time"),
        (job(timeoutSeconds=30), f"{AT}.timeoutSeconds: 30 seconds is below the AWS Batch minimum"),
        (
            job(vcpu=0.25, memoryMib=4096),
            f"{AT}.memoryMib: Fargate does not support 4096 MiB with 0.25 vCPU; use 512, 1024, 2048",
        ),
        (
            job(vcpu=1, memoryMib=1024),
            f"{AT}.memoryMib: Fargate does not support 1024 MiB with 1 vCPU; use 2048 to 8192",
        ),
        (
            job(vcpu=3),
            f"{AT}.vcpu: 3 vCPU is not a Fargate size; use one of 0.25, 0.5, 1, 2, 4, 8, 16",
        ),
        (job(memoryMib=256), f"{AT}.memoryMib: 256 MiB; Fargate jobs have at least 512 MiB"),
        (job(vcpu=4, memoryMib=8192), f"{AT}.vcpu: 4 vCPU is more than mlops:jobs.maxVcpus (2)"),
        (job(readZone="gold"), f"{AT}.readZone: 'gold' is not a zone of the data lake; zones are"),
        (job(writeZone="silver"), f"{AT}.writeZone: 'silver' is not a zone of the data lake"),
        (job(readZone=None), f"{AT}.readPrefix: a folder without readZone"),
        (job(readPrefix="customers/*"), f"{AT}.readPrefix: 'customers/*' must be a literal folder"),
        (
            job(parameters={"threshold": "0.5", "unused": "1"}),
            f"{AT}.parameters.unused: the command has no Ref::unused",
        ),
        (
            job(parameters={"threshold": "0.5", "read_bucket": "x"}),
            f"{AT}.parameters.read_bucket: set by the platform",
        ),
        (job(arraySize=1), f"{AT}.arraySize: 1 children; an array job has 2 to 10000"),
        (job(arraySize=10001), f"{AT}.arraySize: 10001 children"),
        (job(retries=10), f"{AT}.retries: 10 retries; AWS Batch allows 0 to 9"),
        (job(name="Churn"), f"{AT}.name: 'Churn' is not a job name"),
        (
            job(name="a-very-long-job-name-indeed"),
            f"{AT}.name: 'a-very-long-job-name-indeed' is not a job name",
        ),
        (
            job(image="Not An Image", build=None),
            f"{AT}.image: 'Not An Image' is not an image reference",
        ),
        (
            job(image="python:3.11"),
            f"{AT}.build: Only one of [image] and [build] can be given (remove {AT}.image or {AT}.build)",
        ),
        (job(build=None), f"{AT}.image: give image (an image URI) or build"),
        (
            job(build={"context": "services/no_such_job"}),
            f"{AT}.build.context: 'services/no_such_job' is not a directory of the project",
        ),
        (
            job(build={"context": "services"}),
            f"{AT}.build.context: 'services' has no Dockerfile; add one or set {AT}.build.dockerfile",
        ),
        (
            job(
                build={
                    "context": "services/batch_inference",
                    "dockerfile": "services/batch_inference/Gone",
                }
            ),
            f"{AT}.build.dockerfile: 'services/batch_inference/Gone' is not a file of the project",
        ),
        (
            job(build={"context": "../elsewhere"}),
            f"{AT}.build.context: '../elsewhere' must be a path inside the project",
        ),
        (job(build={"dockerfile": "services/batch_inference/Dockerfile"}), f"{AT}.build.context: "),
        (job(command=[]), f"{AT}.command: give the command as a list of non-empty strings"),
        (job(environment={"API_TOKEN": "x"}), f"{AT}.environment: API_TOKEN looks like a secret"),
        (
            job(timeoutSecond=900),
            f"{AT}.timeoutSecond: unknown key; did you mean {AT}.timeoutSeconds?",
        ),
        (job(rawPrefix="events"), f"{AT}.rawPrefix: only used with onNewRawData: true"),
        (
            job(onNewRawData=True, writeZone="raw", writePrefix="events/out", rawPrefix="events"),
            f"{AT}.writeZone: the job writes into the raw zone it is triggered by",
        ),
        (
            lambda c: c["mlops:jobs"]["jobs"].append(copy.deepcopy(c["mlops:jobs"]["jobs"][0])),
            "mlops:jobs.jobs[1].name: 'churn-scoring' is already used by mlops:jobs.jobs[0]",
        ),
        (
            lambda c: c["mlops:jobs"].update(maxVcpus=0),
            "mlops:jobs.maxVcpus: 0 vCPUs; use 1 to 4096",
        ),
        (
            lambda c: c["mlops:jobs"].update(
                airflow={"enabled": True, "environmentClass": "mw1.huge"}
            ),
            "mlops:jobs.airflow.environmentClass: 'mw1.huge' is not an MWAA environment class",
        ),
        (
            lambda c: c["mlops:jobs"].update(airflow={"maxWorkers": 0}),
            "mlops:jobs.airflow.maxWorkers: 0 workers",
        ),
        (
            lambda c: (
                c["mlops:jobs"].update(airflow={"enabled": True}),
                c["mlops:network"].update(azCount=1),
            )[0],
            "mlops:jobs.airflow.enabled: managed Airflow needs private subnets in two AZs",
        ),
    ],
)
def test_bad_jobs_config_names_the_key(
    stack_config, change: Callable[[dict[str, Any]], None], expected: str
) -> None:
    problems = jobs_problems(stack_config, change)
    assert any(p.startswith(expected) for p in problems), problems


def test_an_event_trigger_needs_a_raw_zone(stack_config) -> None:
    def change(config: dict[str, Any]) -> None:
        config["mlops:dataLake"] = {"zones": ["landing", "curated", "models"]}
        config["mlops:ingest"]["enabled"] = False
        job(onNewRawData=True)(config)

    problems = jobs_problems(stack_config, change)
    assert any(
        p.startswith(f"{AT}.onNewRawData: the data lake has no 'raw' zone") for p in problems
    ), problems


def test_every_jobs_problem_is_reported_at_once(stack_config) -> None:
    problems = jobs_problems(
        stack_config,
        job(timeoutSeconds=0, readZone="gold", arraySize=1, schedule={"cron": "bad"}),
        stack="prod",
    )
    keys = {p.split(": ", 1)[0] for p in problems}
    assert {
        f"{AT}.timeoutSeconds",
        f"{AT}.readZone",
        f"{AT}.arraySize",
        f"{AT}.schedule.cron",
    } <= keys


def test_the_cli_reports_a_bad_job_by_key(project_with, stack_config, capsys) -> None:
    """``check`` run in-process (exit code and output as ``python -m stacks`` gives them;
    tests/test_config_limits.py runs the process itself)."""
    from stacks.cli import main

    config = stack_config("dev")
    job(timeoutSeconds=0)(config)
    project = project_with(config)
    code = main(["check", "test", "--project-dir", str(project)])
    captured = capsys.readouterr()
    assert code != 0
    assert f"{AT}.timeoutSeconds: 0 is not a max run time" in captured.out + captured.err
    assert "Traceback" not in captured.err
