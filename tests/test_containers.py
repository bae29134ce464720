"""ContainerService: ECR, image, task definition, roles, service, load balancer, alarms.

Rendered with the offline engine and checked on the recorded graph; the pure helpers
(Fargate sizes, image references, secret ARNs, build digests, documents) have plain tests.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pytest
from hypothesis import given
from hypothesis import strategies as st
from parliament import analyze_policy_string

from components.containers import (
    ALB_LOG_PREFIX,
    DEFAULT_SSL_POLICY,
    ELB_LOG_DELIVERY_PRINCIPAL,
    FARGATE_MEMORY,
    AutoscalingArgs,
    ContainerService,
    ContainerServiceArgs,
    build_context_digest,
    built_image_tag,
    ecr_lifecycle_policy,
    elb_log_delivery_statement,
    environment_name_problem,
    fargate_size_problem,
    image_uri_problem,
    secret_grant_resource,
)
from components.kms import RegionKey, RegionKeyArgs
from components.monitoring import AlertTopic, AlertTopicArgs
from policies.check import check, load_plan
from stacks.offline import PROJECT_DIR, Plan, physical_name, render_components

ACCOUNT = "123456789012"
REGION = "eu-west-1"
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/forecast@sha256:" + "a" * 64
SSM_ARN = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/forecast/db-password"
SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:forecast/api-AbCdEf"
CERT_ARN = f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/0f1e2d3c-aaaa-bbbb-cccc-1234567890ab"
PUBLIC = ["subnet-pub-a", "subnet-pub-b"]
PRIVATE = ["subnet-priv-a", "subnet-priv-b"]

REPO = "aws:ecr/repository:Repository"
TASK = "aws:ecs/taskDefinition:TaskDefinition"
SERVICE = "aws:ecs/service:Service"
LB = "aws:lb/loadBalancer:LoadBalancer"
LISTENER = "aws:lb/listener:Listener"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"


# Rendering -----------------------------------------------------------------------------------


def render(
    after: Callable[[ContainerService, RegionKey], object] | None = None, **overrides: Any
) -> Plan:
    """Render a region key, an alert topic and one ContainerService ``web``."""

    def build(opts: pulumi.ResourceOptions) -> None:
        key = RegionKey("k", RegionKeyArgs(alias="t", services=("logs", "alarms")), opts=opts)
        topic = AlertTopic("alerts", AlertTopicArgs(key=key), opts=opts)
        values: dict[str, Any] = {
            "key": key,
            "alerts": topic,
            "vpc_id": "vpc-123",
            "public_subnet_ids": PUBLIC,
            "private_subnet_ids": PRIVATE,
            "image_uri": IMAGE,
            "container_name": "forecast",
            "access_log_bucket": "central-access-logs",
        }
        values.update(overrides)
        service = ContainerService("web", ContainerServiceArgs(**values), opts=opts)
        if after is not None:
            after(service, key)

    return render_components(build, region=REGION)


@pytest.fixture(scope="module")
def plan() -> Plan:
    """Prebuilt image, secrets, plain environment, autoscaling, no certificate."""
    return render(
        environment={"LOG_LEVEL": "info", "FORECAST_DEFAULT_SERIES": "demand"},
        secrets={"DB_PASSWORD": SSM_ARN, "API_CREDENTIALS": SECRET_ARN + ":password::"},
        desired_count=2,
        autoscaling=AutoscalingArgs(min_count=2, max_count=5, target_cpu_percent=55),
        health_check_path="/healthz",
        tags={"team": "ml"},
    )


@pytest.fixture(scope="module")
def tls_plan() -> Plan:
    """Built image, a certificate, production settings, no autoscaling."""
    return render(
        image_uri=None,
        build_context="services/forecast",
        build_root=str(PROJECT_DIR),
        certificate_arn=CERT_ARN,
        deletion_protection=True,
        protect=True,
        force_delete=False,
        cpu=1024,
        memory=2048,
        cpu_architecture="ARM64",
        container_insights="enabled",
        access_log_bucket="tls-access-logs",
        idle_timeout=120,
    )


def one(plan: Plan, typ: str) -> dict[str, Any]:
    found = plan.of_type(typ)
    assert len(found) == 1, (typ, [r["name"] for r in found])
    return found[0]


def containers(plan: Plan) -> list[dict[str, Any]]:
    return json.loads(one(plan, TASK)["inputs"]["containerDefinitions"])


def grants(plan: Plan, role: str) -> dict[str, dict[str, Any]]:
    """The role's inline policies by purpose."""
    prefix = f"web-{role}-"
    return {
        r["name"][len(prefix) :]: json.loads(r["inputs"]["policy"])
        for r in plan.of_type(ROLE_POLICY)
        if r["name"].startswith(prefix)
    }


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    found = document["Statement"]
    return found if isinstance(found, list) else [found]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def key_arn(plan: Plan) -> str:
    return f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{one(plan, 'aws:kms/key:Key')['id']}"


def by_name(plan: Plan, typ: str) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in plan.of_type(typ)}


def physical(resource: dict[str, Any]) -> str:
    """The physical name the offline engine gave the resource."""
    return physical_name(resource["type"], resource["name"], resource["urn"], resource["inputs"])


def arn_of(target_group: dict[str, Any], seen: str) -> str:
    """``seen`` when it is the ARN of ``target_group`` (as the offline engine answers it)."""
    pattern = rf"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/{physical(target_group)}/[0-9a-f]{{16}}"
    assert re.fullmatch(pattern, seen), seen
    return seen


# Pure helpers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cpu, memory",
    [
        (256, 512),
        (256, 2048),
        (512, 1024),
        (512, 4096),
        (1024, 2048),
        (1024, 8192),
        (2048, 16384),
        (4096, 8192),
        (4096, 30720),
        (8192, 16384),
        (8192, 20480),
        (8192, 61440),
        (16384, 32768),
        (16384, 40960),
        (16384, 122880),
    ],
)
def test_fargate_supported_sizes(cpu: int, memory: int) -> None:
    assert fargate_size_problem(cpu, memory) is None


@pytest.mark.parametrize(
    "cpu, memory, hint",
    [
        (256, 4096, "512, 1024, 2048"),
        (512, 512, "1024, 2048, 3072, 4096"),
        (1024, 9216, "2048 to 8192"),
        (4096, 31744, "8192 to 30720"),
        (8192, 18432, "steps of 4096"),
        (16384, 36864, "steps of 8192"),
        (300, 512, "use one of"),
    ],
)
def test_fargate_unsupported_sizes_say_what_would_be_right(
    cpu: int, memory: int, hint: str
) -> None:
    problem = fargate_size_problem(cpu, memory)
    assert problem is not None and hint in problem


@given(
    cpu=st.sampled_from(sorted(FARGATE_MEMORY)), memory=st.integers(min_value=1, max_value=130_000)
)
def test_fargate_sizes_are_on_the_documented_grid(cpu: int, memory: int) -> None:
    # AWS table: the memory range per CPU value and its step (256 vCPU lists 512/1024/2048).
    ranges = {
        256: (512, 2048, 512),
        512: (1024, 4096, 1024),
        1024: (2048, 8192, 1024),
        2048: (4096, 16384, 1024),
        4096: (8192, 30720, 1024),
        8192: (16384, 61440, 4096),
        16384: (32768, 122880, 8192),
    }
    low, high, step = ranges[cpu]
    on_grid = (
        low <= memory <= high and (memory - low) % step == 0 and not (cpu == 256 and memory == 1536)
    )
    assert (fargate_size_problem(cpu, memory) is None) == on_grid


@pytest.mark.parametrize(
    "uri",
    [
        IMAGE,
        f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/team/forecast:1.4.2",
        "nginx:1.27",
        "ghcr.io/org/app:v1",
        "localhost:5000/app",
        "public.ecr.aws/docker/library/python:3.12-slim",
    ],
)
def test_image_references_accepted(uri: str) -> None:
    assert image_uri_problem(uri) is None


@pytest.mark.parametrize(
    "uri", ["", "Forecast/App", "repo@sha256:xyz", "repo:bad tag", "ghcr.io/org/app:", "a//b"]
)
def test_bad_image_references_refused(uri: str) -> None:
    assert image_uri_problem(uri) is not None


def test_secret_grants_name_the_service_and_the_secret_itself() -> None:
    assert secret_grant_resource(SSM_ARN) == ("ssm:GetParameters", SSM_ARN)
    assert secret_grant_resource(SECRET_ARN) == ("secretsmanager:GetSecretValue", SECRET_ARN)
    # A JSON key / version selector is not part of the resource the grant names.
    assert secret_grant_resource(SECRET_ARN + ":password:AWSCURRENT:") == (
        "secretsmanager:GetSecretValue",
        SECRET_ARN,
    )
    assert secret_grant_resource("arn:aws:s3:::bucket/secret") is None
    assert secret_grant_resource("db-password") is None


@pytest.mark.parametrize(
    "name", ["DB_PASSWORD", "API_TOKEN", "SECRET_KEY", "API_KEY", "aws_secret"]
)
def test_secret_looking_environment_names_point_to_secrets(name: str) -> None:
    problem = environment_name_problem(name)
    assert problem is not None and "looks like a secret" in problem and "secrets" in problem


@pytest.mark.parametrize("name", ["LOG_LEVEL", "DB_PASSWORD_ARN", "TOKEN_URL", "KEYBOARD_LAYOUT"])
def test_plain_environment_names_pass(name: str) -> None:
    assert environment_name_problem(name) is None


def test_port_and_malformed_environment_names_are_refused() -> None:
    assert "container port" in (environment_name_problem("PORT") or "")
    assert "not an environment variable name" in (environment_name_problem("1ST") or "")


def test_build_digest_follows_the_sources_only(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "app.py").write_text("print('v1')\n")
    (tmp_path / ".dockerignore").write_text("# local files\nnotes/\n*.log\n")
    first = build_context_digest(tmp_path)
    assert first == build_context_digest(tmp_path)
    # Bytecode caches and ignored files do not change the image.
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"\0\1")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("later")
    (tmp_path / "debug.log").write_text("noise")
    assert build_context_digest(tmp_path) == first
    (tmp_path / "app.py").write_text("print('v2')\n")
    second = build_context_digest(tmp_path)
    assert second != first
    # A Dockerfile outside the context is part of the build too.
    other = tmp_path.parent / f"{tmp_path.name}.Dockerfile"
    other.write_text("FROM scratch\nUSER 1000\n")
    assert build_context_digest(tmp_path, other) != second


def test_ecr_lifecycle_expires_untagged_then_keeps_the_newest_tagged() -> None:
    untagged, tagged = ecr_lifecycle_policy(5, 12)["rules"]
    assert (untagged["rulePriority"], tagged["rulePriority"]) == (1, 2)
    assert untagged["selection"] == {
        "tagStatus": "untagged",
        "countType": "sinceImagePushed",
        "countUnit": "days",
        "countNumber": 5,
    }
    assert tagged["selection"] == {
        "tagStatus": "tagged",
        "tagPatternList": ["*"],
        "countType": "imageCountMoreThan",
        "countNumber": 12,
    }
    assert untagged["action"] == tagged["action"] == {"type": "expire"}


def test_elb_log_delivery_is_limited_to_this_accounts_logs() -> None:
    # eu-west-1 predates August 2022: its Elastic Load Balancing account delivers the logs
    # (the policy AWS documents; see tests/test_containers_deploy.py for the other kind).
    statement = elb_log_delivery_statement("arn:aws:s3:::logs", ACCOUNT, REGION, "aws")
    assert statement["Principal"] == {"AWS": "arn:aws:iam::156460612806:root"}
    assert statement["Action"] == "s3:PutObject"
    assert statement["Resource"] == f"arn:aws:s3:::logs/{ALB_LOG_PREFIX}/AWSLogs/{ACCOUNT}/*"
    assert "Condition" not in statement
    newer = elb_log_delivery_statement("arn:aws:s3:::logs", ACCOUNT, "eu-central-2", "aws")
    assert newer["Principal"] == {"Service": ELB_LOG_DELIVERY_PRINCIPAL}


# ECR and the image ---------------------------------------------------------------------------


def test_repository_scans_is_immutable_encrypted_and_expires_images(plan: Plan) -> None:
    repo = one(plan, REPO)
    assert repo["inputs"]["imageTagMutability"] == "IMMUTABLE"
    assert repo["inputs"]["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repo["inputs"]["encryptionConfigurations"] == [
        {"encryptionType": "KMS", "kmsKey": key_arn(plan)}
    ]
    assert repo["inputs"]["forceDelete"] is False
    assert repo["options"]["protect"] is False
    lifecycle = one(plan, "aws:ecr/lifecyclePolicy:LifecyclePolicy")
    assert lifecycle["inputs"]["repository"] == repo["id"]
    assert json.loads(lifecycle["inputs"]["policy"]) == ecr_lifecycle_policy(7, 20)


def test_prebuilt_image_is_run_as_given_and_nothing_is_built(plan: Plan) -> None:
    assert plan.of_type("awsx:ecr:Image") == []
    assert containers(plan)[0]["image"] == IMAGE


def test_built_image_is_one_awsx_image_pushed_to_the_repository(tls_plan: Plan) -> None:
    image = one(tls_plan, "awsx:ecr:Image")
    repo = one(tls_plan, REPO)
    service = one(tls_plan, "mlops:containers:ContainerService")
    assert image["custom"] is False and image["parent"] == service["urn"]
    digest = build_context_digest(PROJECT_DIR / "services" / "forecast")
    assert image["inputs"] == {
        "context": "services/forecast",
        "imageTag": built_image_tag("web", "linux/arm64", digest),
        "platform": "linux/arm64",
        "repositoryUrl": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{repo['id']}",
    }
    # The task runs the pushed image by digest (the awsx component's imageUri output).
    assert containers(tls_plan)[0]["image"].startswith(
        f"{image['inputs']['repositoryUrl']}@sha256:"
    )
    assert one(tls_plan, TASK)["inputs"]["runtimePlatform"]["cpuArchitecture"] == "ARM64"


def test_an_explicit_dockerfile_and_tag_are_passed_to_the_build() -> None:
    plan = render(
        image_uri=None,
        build_context="services/forecast",
        dockerfile="services/forecast/Dockerfile",
        build_root=str(PROJECT_DIR),
        image_tag="release-1.2.0",
    )
    inputs = one(plan, "awsx:ecr:Image")["inputs"]
    assert inputs["dockerfile"] == "services/forecast/Dockerfile"
    assert inputs["imageTag"] == "web-release-1.2.0"
    assert inputs["platform"] == "linux/amd64"


def test_built_image_tags_are_unique_per_component_and_platform() -> None:
    """awsx.ecr.Image names its build resource after the tag: two components (the regions of
    a stack) pushing one tag would register one URN twice. The repository's tags are
    immutable, so another architecture from the same sources needs another tag."""
    digest = "ab" * 32
    west = built_image_tag("eu-west-1-web", "linux/amd64", digest)
    assert re.fullmatch(r"eu-west-1-web-ctx-[0-9a-f]{16}", west)
    assert built_image_tag("eu-central-1-web", "linux/amd64", digest) == west.replace(
        "eu-west-1", "eu-central-1"
    )
    assert built_image_tag("eu-west-1-web", "linux/amd64", digest) == west
    assert built_image_tag("eu-west-1-web", "linux/arm64", digest) != west
    assert built_image_tag("eu-west-1-web", "linux/amd64", "cd" * 32) != west
    assert built_image_tag("eu-west-1-web", "linux/amd64", digest, "1.2.0") == "eu-west-1-web-1.2.0"


def test_two_services_built_from_one_context_push_different_tags() -> None:
    def build(opts: pulumi.ResourceOptions) -> None:
        key = RegionKey("k", RegionKeyArgs(alias="t", services=("logs", "alarms")), opts=opts)
        topic = AlertTopic("alerts", AlertTopicArgs(key=key), opts=opts)
        for name in ("web-a", "web-b"):
            ContainerService(
                name,
                ContainerServiceArgs(
                    key=key,
                    alerts=topic,
                    vpc_id="vpc-123",
                    public_subnet_ids=PUBLIC,
                    private_subnet_ids=PRIVATE,
                    access_log_bucket="logs",
                    build_context="services/forecast",
                    build_root=str(PROJECT_DIR),
                ),
                opts=opts,
            )

    tags = [
        r["inputs"]["imageTag"]
        for r in render_components(build, region=REGION).of_type("awsx:ecr:Image")
    ]
    assert len(tags) == 2 and len(set(tags)) == 2


# Cluster and task definition -----------------------------------------------------------------


def test_cluster_has_container_insights(plan: Plan, tls_plan: Plan) -> None:
    assert one(plan, "aws:ecs/cluster:Cluster")["inputs"]["settings"] == [
        {"name": "containerInsights", "value": "enhanced"}
    ]
    assert one(tls_plan, "aws:ecs/cluster:Cluster")["inputs"]["settings"] == [
        {"name": "containerInsights", "value": "enabled"}
    ]


def test_task_definition_is_fargate_with_the_requested_size(plan: Plan, tls_plan: Plan) -> None:
    task = one(plan, TASK)["inputs"]
    assert (task["cpu"], task["memory"]) == ("256", "512")
    assert (one(tls_plan, TASK)["inputs"]["cpu"], one(tls_plan, TASK)["inputs"]["memory"]) == (
        "1024",
        "2048",
    )
    assert task["requiresCompatibilities"] == ["FARGATE"]
    assert task["networkMode"] == "awsvpc"
    assert task["runtimePlatform"] == {
        "cpuArchitecture": "X86_64",
        "operatingSystemFamily": "LINUX",
    }
    assert task["volumes"] == [{"name": "tmp"}]
    assert task["family"] == "web"
    roles = by_name(plan, "aws:iam/role:Role")
    assert (
        task["executionRoleArn"]
        == f"arn:aws:iam::{ACCOUNT}:role/{roles['web-execution-role']['id']}"
    )
    assert task["taskRoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/{roles['web-task-role']['id']}"


def test_container_is_hardened_logged_and_health_checked(plan: Plan) -> None:
    (container,) = containers(plan)
    log_group = plan.find("aws:cloudwatch/logGroup:LogGroup", "web-logs")
    assert container["name"] == "forecast" and container["essential"] is True
    assert container["privileged"] is False
    assert container["readonlyRootFilesystem"] is True
    assert container["mountPoints"] == [
        {"sourceVolume": "tmp", "containerPath": "/tmp", "readOnly": False}
    ]
    assert container["linuxParameters"]["capabilities"] == {"drop": ["ALL"]}
    assert container["portMappings"][0]["containerPort"] == 8080
    assert container["logConfiguration"] == {
        "logDriver": "awslogs",
        "options": {
            "awslogs-group": log_group["id"],
            "awslogs-region": REGION,
            "awslogs-stream-prefix": "forecast",
        },
    }
    check_command = container["healthCheck"]["command"]
    assert check_command[0] == "CMD" and "http://127.0.0.1:8080/healthz" in check_command[-1]
    assert log_group["inputs"]["retentionInDays"] == 30
    assert log_group["inputs"]["kmsKeyId"] == key_arn(plan)


def test_secrets_are_references_and_environment_is_plain(plan: Plan) -> None:
    (container,) = containers(plan)
    assert container["environment"] == [
        {"name": "FORECAST_DEFAULT_SERIES", "value": "demand"},
        {"name": "LOG_LEVEL", "value": "info"},
        {"name": "PORT", "value": "8080"},
    ]
    assert container["secrets"] == [
        {"name": "API_CREDENTIALS", "valueFrom": SECRET_ARN + ":password::"},
        {"name": "DB_PASSWORD", "valueFrom": SSM_ARN},
    ]


def test_custom_health_check_command_and_port() -> None:
    plan = render(
        health_check_command=["CMD-SHELL", "wget -qO- localhost:9000/ready"],
        container_port=9000,
        health_check_path="/ready",
    )
    (container,) = containers(plan)
    assert container["healthCheck"]["command"] == ["CMD-SHELL", "wget -qO- localhost:9000/ready"]
    assert {"name": "PORT", "value": "9000"} in container["environment"]
    target_group = one(plan, "aws:lb/targetGroup:TargetGroup")["inputs"]
    assert target_group["port"] == 9000 and target_group["healthCheck"]["path"] == "/ready"


# Roles ---------------------------------------------------------------------------------------


def test_both_roles_trust_ecs_tasks_of_this_account_and_region(plan: Plan) -> None:
    for role in plan.of_type("aws:iam/role:Role"):
        (statement,) = json.loads(role["inputs"]["assumeRolePolicy"])["Statement"]
        assert statement["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
        assert statement["Condition"] == {
            "StringEquals": {"aws:SourceAccount": ACCOUNT},
            "ArnLike": {"aws:SourceArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:*"},
        }


def test_execution_role_can_pull_this_repository_log_and_read_these_secrets_only(
    plan: Plan,
) -> None:
    policies = grants(plan, "execution")
    assert sorted(policies) == ["decrypt-region-key", "pull-image", "read-secrets", "write-logs"]
    repo = one(plan, REPO)
    log_group = plan.find("aws:cloudwatch/logGroup:LogGroup", "web-logs")
    granted = {
        (action, resource)
        for document in policies.values()
        for statement in statements(document)
        for action in as_list(statement["Action"])
        for resource in as_list(statement["Resource"])
    }
    repo_arn = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{repo['id']}"
    streams = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{log_group['id']}:*"
    assert granted == {
        ("ecr:BatchCheckLayerAvailability", repo_arn),
        ("ecr:BatchGetImage", repo_arn),
        ("ecr:GetDownloadUrlForLayer", repo_arn),
        ("ecr:GetAuthorizationToken", "*"),
        ("logs:CreateLogStream", streams),
        ("logs:PutLogEvents", streams),
        ("ssm:GetParameters", SSM_ARN),
        # The grant names the secret, not the JSON key the container selects.
        ("secretsmanager:GetSecretValue", SECRET_ARN),
        ("kms:Decrypt", key_arn(plan)),
        ("kms:DescribeKey", key_arn(plan)),
    }


def test_task_role_has_only_what_callers_grant() -> None:
    bare = render()
    assert grants(bare, "task") == {}
    assert "read-secrets" not in grants(bare, "execution")

    granted = render(
        after=lambda service, key: key.grant_decrypt(service.task_role, purpose="read-models")
    )
    assert list(grants(granted, "task")) == ["read-models"]


#: parliament's community auditor flags ecr:GetAuthorizationToken as credential exposure. ECS
#: needs it to pull any ECR image (AWS's task execution role policy grants it); it returns a
#: registry login limited to the role's own ECR permissions, which name one repository.
ACCEPTED_FINDINGS = {
    ("web-execution-pull-image", "CREDENTIALS_EXPOSURE", "ecr:GetAuthorizationToken")
}


def test_every_policy_document_passes_parliament(plan: Plan, tls_plan: Plan) -> None:
    problems, accepted = [], set()
    for p in (plan, tls_plan):
        for resource in p.resources:
            if resource["type"] not in (ROLE_POLICY, "aws:s3/bucketPolicy:BucketPolicy"):
                continue
            text = resource["inputs"]["policy"]
            for finding in analyze_policy_string(text, include_community_auditors=True).findings:
                actions = {a for s in statements(json.loads(text)) for a in as_list(s["Action"])}
                found = (resource["name"], finding.issue, "ecr:GetAuthorizationToken")
                if found in ACCEPTED_FINDINGS and "ecr:GetAuthorizationToken" in actions:
                    accepted.add(found)
                    continue
                problems.append(f"{resource['name']}: {finding.issue} {finding.detail}")
    # Trust policies have no Resource by design; parliament reads them as identity policies
    # and reports exactly that, nothing else.
    for role in plan.of_type("aws:iam/role:Role"):
        for finding in analyze_policy_string(
            role["inputs"]["assumeRolePolicy"], include_community_auditors=True
        ).findings:
            if (finding.issue, finding.detail) != (
                "MALFORMED",
                "Statement contains neither Resource nor NotResource",
            ):
                problems.append(f"{role['name']} trust: {finding.issue} {finding.detail}")
    assert problems == []
    assert accepted == ACCEPTED_FINDINGS


# The service ---------------------------------------------------------------------------------


def test_service_runs_fargate_tasks_privately_with_safe_rolling_updates(plan: Plan) -> None:
    service = one(plan, SERVICE)
    inputs = service["inputs"]
    groups = by_name(plan, "aws:ec2/securityGroup:SecurityGroup")
    assert inputs["launchType"] == "FARGATE" and inputs["platformVersion"] == "LATEST"
    assert inputs["networkConfiguration"] == {
        "assignPublicIp": False,
        "securityGroups": [groups["web-tasks-sg"]["id"]],
        "subnets": PRIVATE,
    }
    assert inputs["desiredCount"] == 2
    assert (inputs["deploymentMinimumHealthyPercent"], inputs["deploymentMaximumPercent"]) == (
        100,
        200,
    )
    assert inputs["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    assert inputs["enableExecuteCommand"] is False
    target_group = one(plan, "aws:lb/targetGroup:TargetGroup")
    assert inputs["loadBalancers"] == [
        {
            "containerName": "forecast",
            "containerPort": 8080,
            "targetGroupArn": arn_of(target_group, inputs["loadBalancers"][0]["targetGroupArn"]),
        }
    ]
    assert (
        inputs["loadBalancers"][0]["targetGroupArn"]
        == one(plan, LISTENER)["inputs"]["defaultActions"][0]["targetGroupArn"]
    )
    # The listener exists before the service registers targets with its target group.
    assert one(plan, LISTENER)["urn"] in service["dependencies"]
    # The execution role holds every policy before the first task pulls and logs.
    execution = [
        r["urn"] for r in plan.of_type(ROLE_POLICY) if r["name"].startswith("web-execution-")
    ]
    assert len(execution) == 4
    assert set(execution) <= set(service["dependencies"])


def test_cpu_target_tracking_owns_the_desired_count(plan: Plan) -> None:
    service = one(plan, SERVICE)
    assert service["options"]["ignoreChanges"] == ["desiredCount"]
    target = one(plan, "aws:appautoscaling/target:Target")["inputs"]
    cluster = one(plan, "aws:ecs/cluster:Cluster")
    assert target == {
        "maxCapacity": 5,
        "minCapacity": 2,
        "resourceId": f"service/{physical(cluster)}/{physical(service)}",
        "scalableDimension": "ecs:service:DesiredCount",
        "serviceNamespace": "ecs",
        "tags": {"Name": "web-scaling", "team": "ml"},
    }
    policy = one(plan, "aws:appautoscaling/policy:Policy")["inputs"]
    assert policy["policyType"] == "TargetTrackingScaling"
    assert policy["resourceId"] == target["resourceId"]
    tracking = policy["targetTrackingScalingPolicyConfiguration"]
    assert tracking["targetValue"] == 55
    assert tracking["predefinedMetricSpecification"] == {
        "predefinedMetricType": "ECSServiceAverageCPUUtilization"
    }


def test_without_autoscaling_pulumi_keeps_the_desired_count(tls_plan: Plan) -> None:
    assert one(tls_plan, SERVICE)["options"]["ignoreChanges"] == []
    assert tls_plan.of_type("aws:appautoscaling/target:Target") == []
    assert tls_plan.of_type("aws:appautoscaling/policy:Policy") == []


def test_execute_command_is_an_explicit_opt_in() -> None:
    assert (
        one(render(enable_execute_command=True), SERVICE)["inputs"]["enableExecuteCommand"] is True
    )


# Load balancer -------------------------------------------------------------------------------


def test_load_balancer_is_public_hardened_and_logs_access(plan: Plan, tls_plan: Plan) -> None:
    lb = one(plan, LB)
    bucket = plan.find("aws:s3/bucket:Bucket", "web-alb-logs")
    groups = by_name(plan, "aws:ec2/securityGroup:SecurityGroup")
    inputs = lb["inputs"]
    assert inputs["loadBalancerType"] == "application" and inputs["internal"] is False
    assert inputs["subnets"] == PUBLIC
    assert inputs["securityGroups"] == [groups["web-alb-sg"]["id"]]
    assert inputs["dropInvalidHeaderFields"] is True
    assert inputs["desyncMitigationMode"] == "defensive"
    assert inputs["enableDeletionProtection"] is False
    assert inputs["idleTimeout"] == 60
    assert inputs["accessLogs"] == {
        "bucket": bucket["id"],
        "enabled": True,
        "prefix": ALB_LOG_PREFIX,
    }
    # The bucket policy that lets ELB write exists before access logging is switched on.
    assert (
        plan.find("aws:s3/bucketPolicy:BucketPolicy", "web-alb-logs-policy")["urn"]
        in lb["dependencies"]
    )
    tls = one(tls_plan, LB)["inputs"]
    assert tls["enableDeletionProtection"] is True and tls["idleTimeout"] == 120


def test_access_log_bucket_is_locked_down_and_only_elb_may_write(
    plan: Plan, tls_plan: Plan
) -> None:
    bucket = plan.find("aws:s3/bucket:Bucket", "web-alb-logs")
    name = bucket["id"]
    sse = plan.find(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "web-alb-logs-encryption",
    )
    assert sse["inputs"]["rules"][0]["applyServerSideEncryptionByDefault"] == {
        "sseAlgorithm": "AES256"
    }
    policy = json.loads(
        plan.find("aws:s3/bucketPolicy:BucketPolicy", "web-alb-logs-policy")["inputs"]["policy"]
    )
    deny, delivery = policy["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {
        "Bool": {"aws:SecureTransport": "false"}
    }
    assert delivery == elb_log_delivery_statement(f"arn:aws:s3:::{name}", ACCOUNT, REGION, "aws")
    assert bucket["inputs"]["forceDestroy"] is False
    logging = one(plan, "aws:s3/bucketLogging:BucketLogging")["inputs"]
    assert (logging["bucket"], logging["targetBucket"]) == (name, "central-access-logs")
    assert (
        one(tls_plan, "aws:s3/bucketLogging:BucketLogging")["inputs"]["targetBucket"]
        == "tls-access-logs"
    )
    # Skipping server access logging is explicit (access_log_bucket=None); dev deletes logs.
    ephemeral = render(access_log_bucket=None, force_delete=True)
    assert ephemeral.of_type("aws:s3/bucketLogging:BucketLogging") == []
    assert ephemeral.find("aws:s3/bucket:Bucket", "web-alb-logs")["inputs"]["forceDestroy"] is True
    assert one(ephemeral, REPO)["inputs"]["forceDelete"] is True


def test_target_group_checks_tasks_by_ip_on_the_health_path(plan: Plan) -> None:
    inputs = one(plan, "aws:lb/targetGroup:TargetGroup")["inputs"]
    assert inputs["targetType"] == "ip" and inputs["protocol"] == "HTTP" and inputs["port"] == 8080
    assert inputs["vpcId"] == "vpc-123"
    check_ = inputs["healthCheck"]
    assert (check_["path"], check_["matcher"], check_["port"], check_["protocol"]) == (
        "/healthz",
        "200",
        "traffic-port",
        "HTTP",
    )


def test_without_a_certificate_one_http_listener_forwards(plan: Plan) -> None:
    (listener,) = plan.of_type(LISTENER)
    target_group = one(plan, "aws:lb/targetGroup:TargetGroup")
    assert listener["name"] == "web-http"
    assert listener["inputs"]["tags"]["listener"] == "http-without-certificate"
    assert (listener["inputs"]["port"], listener["inputs"]["protocol"]) == (80, "HTTP")
    (action,) = listener["inputs"]["defaultActions"]
    assert action == {
        "type": "forward",
        "targetGroupArn": arn_of(target_group, action.get("targetGroupArn", "")),
    }


def test_with_a_certificate_https_serves_and_http_redirects(tls_plan: Plan) -> None:
    listeners = by_name(tls_plan, LISTENER)
    assert sorted(listeners) == ["web-http", "web-https"]
    https = listeners["web-https"]["inputs"]
    assert (https["port"], https["protocol"], https["certificateArn"]) == (443, "HTTPS", CERT_ARN)
    assert https["sslPolicy"] == DEFAULT_SSL_POLICY
    assert https["defaultActions"][0]["type"] == "forward"
    http = listeners["web-http"]["inputs"]
    assert http["tags"]["listener"] == "redirect-to-https"
    assert http["defaultActions"] == [
        {
            "type": "redirect",
            "redirect": {"port": "443", "protocol": "HTTPS", "statusCode": "HTTP_301"},
        }
    ]


def test_only_the_load_balancer_is_reachable_from_the_internet(plan: Plan, tls_plan: Plan) -> None:
    groups = {g["name"]: g for g in plan.of_type("aws:ec2/securityGroup:SecurityGroup")}
    alb, tasks = groups["web-alb-sg"]["id"], groups["web-tasks-sg"]["id"]

    def rules(p: Plan, typ: str) -> set[tuple[Any, ...]]:
        ids = {g["name"]: g["id"] for g in p.of_type("aws:ec2/securityGroup:SecurityGroup")}
        names = {v: k for k, v in ids.items()}
        return {
            (
                names[r["inputs"]["securityGroupId"]],
                r["inputs"]["ipProtocol"],
                r["inputs"]["fromPort"],
                r["inputs"]["toPort"],
                r["inputs"].get("cidrIpv4") or names[r["inputs"]["referencedSecurityGroupId"]],
            )
            for r in p.of_type(typ)
        }

    assert rules(plan, INGRESS) == {
        ("web-alb-sg", "tcp", 80, 80, "0.0.0.0/0"),
        ("web-tasks-sg", "tcp", 8080, 8080, "web-alb-sg"),
    }
    assert rules(plan, EGRESS) == {
        ("web-alb-sg", "tcp", 8080, 8080, "web-tasks-sg"),
        ("web-tasks-sg", "tcp", 443, 443, "0.0.0.0/0"),
    }
    assert ("web-alb-sg", "tcp", 443, 443, "0.0.0.0/0") in rules(tls_plan, INGRESS)
    assert alb != tasks
    for group in groups.values():
        assert group["inputs"]["description"].strip()
        assert "ingress" not in group["inputs"] and "egress" not in group["inputs"]
    for rule in plan.of_type(INGRESS) + plan.of_type(EGRESS):
        assert rule["inputs"]["description"].strip()


# Alarms, tags, protection, policy pack ---------------------------------------------------------


def test_alarms_on_5xx_unhealthy_hosts_and_cpu_notify_the_alert_topic(plan: Plan) -> None:
    alarms = by_name(plan, ALARM)
    topic = one(plan, "aws:sns/topic:Topic")
    topic_arn = f"arn:aws:sns:{REGION}:{ACCOUNT}:{topic['id']}"
    expected = {
        "web-target-5xx": ("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", "Sum"),
        "web-elb-5xx": ("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", "Sum"),
        "web-unhealthy-hosts": ("AWS/ApplicationELB", "UnHealthyHostCount", "Maximum"),
        "web-cpu-high": ("AWS/ECS", "CPUUtilization", "Average"),
    }
    assert set(alarms) == set(expected)
    for name, (namespace, metric, statistic) in expected.items():
        inputs = alarms[name]["inputs"]
        assert (inputs["namespace"], inputs["metricName"], inputs["statistic"]) == (
            namespace,
            metric,
            statistic,
        )
        assert inputs["alarmActions"] == [topic_arn] and inputs["okActions"] == [topic_arn]
        assert inputs["alarmDescription"].strip()
    lb_suffix = f"app/{physical(one(plan, LB))}/"
    for name in ("web-target-5xx", "web-elb-5xx"):
        assert alarms[name]["inputs"]["dimensions"]["LoadBalancer"].startswith(lb_suffix)
    hosts = alarms["web-unhealthy-hosts"]["inputs"]["dimensions"]
    assert hosts["LoadBalancer"].startswith(lb_suffix)
    assert hosts["TargetGroup"].startswith(
        f"targetgroup/{physical(one(plan, 'aws:lb/targetGroup:TargetGroup'))}/"
    )
    assert alarms["web-cpu-high"]["inputs"]["dimensions"] == {
        "ClusterName": physical(one(plan, "aws:ecs/cluster:Cluster")),
        "ServiceName": physical(one(plan, SERVICE)),
    }


def test_tags_name_each_child_and_add_the_callers(plan: Plan) -> None:
    for typ, name in [
        (REPO, "web-repo"),
        (SERVICE, "web-service"),
        (LB, "web-alb"),
        ("aws:ecs/cluster:Cluster", "web-cluster"),
    ]:
        assert one(plan, typ)["inputs"]["tags"] == {"Name": name, "team": "ml"}


def test_protect_keeps_the_repository_logs_and_log_bucket(tls_plan: Plan) -> None:
    for typ, name in [
        (REPO, "web-repo"),
        ("aws:cloudwatch/logGroup:LogGroup", "web-logs"),
        ("aws:s3/bucket:Bucket", "web-alb-logs"),
    ]:
        options = tls_plan.find(typ, name)["options"]
        assert options["protect"] and options["retainOnDelete"], name


def own_violations(result: Any) -> list[Any]:
    """Violations of the service's resources (stack-level rules, like the one trail per
    stack, are about the whole stack and checked in the stack tests)."""
    return [v for v in result.mandatory if "mlops:containers:ContainerService" in v.urn]


def test_policy_pack_passes_with_only_the_recorded_listener_exception(
    plan: Plan, tls_plan: Plan
) -> None:
    plain = check(load_plan(plan.to_dict()))
    assert own_violations(plain) == []
    assert {v.rule for v in plain.mandatory} <= {"cloudtrail-single-trail"}
    listener_exemptions = {
        e.exception for e in plain.exemptions if e.violation.rule == "alb-listener-https"
    }
    assert listener_exemptions == {"http-listener-without-certificate"}
    tls = check(load_plan(tls_plan.to_dict()))
    assert own_violations(tls) == []
    assert {e.exception for e in tls.exemptions if e.violation.rule == "alb-listener-https"} == {
        "http-redirect-listener"
    }


def test_dashboard_widgets_are_valid(plan: Plan) -> None:
    def after(service: ContainerService, _: RegionKey) -> None:
        widgets = service.widgets()
        assert [w.title for w in widgets] == [
            "web: requests and 5xx",
            "web: response time (s)",
            "web: targets",
            "web: CPU and memory (%)",
        ]
        assert all(w.problems() == [] for w in widgets)

    render(after=after)


# Bad input -------------------------------------------------------------------------------------


def refused(**overrides: Any) -> str:
    """Construct the service with ``overrides``; return the error; check nothing was registered."""
    errors, plan = refused_each([overrides])
    assert not [r for r in plan.resources if r["name"].startswith("web")], (
        "something was registered"
    )
    assert errors[0] is not None, "the service did not refuse its arguments"
    return errors[0]


def refused_each(override_sets: list[dict[str, Any]]) -> tuple[list[str | None], Plan]:
    """Each set of overrides tried in one render (one render instead of one per case): the
    error each construction raised (None if it raised nothing), and the plan."""
    errors: list[str | None] = []

    def build(opts: pulumi.ResourceOptions) -> None:
        key = RegionKey("k", RegionKeyArgs(alias="t"), opts=opts)
        topic = AlertTopic("alerts", AlertTopicArgs(key=key), opts=opts)
        for overrides in override_sets:
            values: dict[str, Any] = {
                "key": key,
                "alerts": topic,
                "vpc_id": "vpc-1",
                "public_subnet_ids": PUBLIC,
                "private_subnet_ids": PRIVATE,
                "image_uri": IMAGE,
                "access_log_bucket": None,
            }
            values.update(overrides)
            try:
                ContainerService("web", ContainerServiceArgs(**values), opts=opts)
            except ValueError as error:
                errors.append(str(error))
            else:
                errors.append(None)

    return errors, render_components(build, region=REGION)


BAD_SERVICES: list[tuple[dict[str, Any], str]] = [
    (
        {"cpu": 256, "memory": 4096},
        r"cpu/memory: Fargate does not support memory 4096 MiB with cpu 256",
    ),
    ({"cpu": 333}, r"cpu 333 is not a Fargate task size"),
    (
        {"build_context": "services/forecast"},
        r"Only one of \[image_uri\] and \[build_context\] can be given",
    ),
    ({"image_uri": None}, r"give \[image_uri\] .* or \[build_context\]"),
    (
        {"environment": {"DB_PASSWORD": "hunter2"}},
        r"environment: 'DB_PASSWORD' looks like a secret.*secrets",
    ),
    ({"desired_count": -1}, r"desired_count: -1 is below zero"),
    (
        {"secrets": {"DB": "arn:aws:s3:::bucket/key"}},
        r"secrets: DB: .* is not an SSM parameter ARN",
    ),
    (
        {"secrets": {"LOG_LEVEL": SSM_ARN}, "environment": {"LOG_LEVEL": "info"}},
        r"also set in environment",
    ),
    (
        {"image_uri": None, "build_context": "no/such/dir", "build_root": str(PROJECT_DIR)},
        r"build_context: directory 'no/such/dir' not found",
    ),
    (
        {"image_uri": None, "build_context": "services", "build_root": str(PROJECT_DIR)},
        r"build_context: no Dockerfile at",
    ),
    ({"dockerfile": "Dockerfile"}, r"dockerfile: only used with build_context"),
    (
        {
            "image_uri": None,
            "build_context": "services/forecast",
            "build_root": str(PROJECT_DIR),
            "image_tag": "x" * 125,
        },
        r"image_tag: 'x{125}' is too long; the image is pushed as 'web-<image_tag>'",
    ),
    (
        {"certificate_arn": "arn:aws:iam::123456789012:server-certificate/x"},
        r"certificate_arn: .* is not an ACM",
    ),
    ({"ssl_policy": "ELBSecurityPolicy-2016-08"}, r"ssl_policy: .* is not a TLS 1.3 policy"),
    (
        {"autoscaling": AutoscalingArgs(min_count=2, max_count=4)},
        r"desired_count: 1 is outside autoscaling bounds 2..4",
    ),
    (
        {"autoscaling": AutoscalingArgs(min_count=3, max_count=2), "desired_count": 3},
        r"autoscaling.max_count: 2",
    ),
    (
        {"deployment_minimum_healthy_percent": 100, "deployment_maximum_percent": 100},
        r"deployment_maximum_percent: 100 must be at least 100 and above",
    ),
    ({"public_subnet_ids": ["subnet-a"]}, r"public_subnet_ids: .* at least two AZs"),
    ({"health_check_path": "health"}, r"health_check_path: 'health' must be a URL path"),
    ({"container_port": 70000}, r"container_port: 70000"),
    ({"cpu_architecture": "ARM"}, r"cpu_architecture: 'ARM'"),
]


@pytest.fixture(scope="module")
def bad_services() -> tuple[list[str | None], Plan]:
    """Every BAD_SERVICES case tried in one render: their errors and the plan."""
    return refused_each([overrides for overrides, _ in BAD_SERVICES])


@pytest.mark.parametrize("case", range(len(BAD_SERVICES)), ids=lambda i: BAD_SERVICES[i][1])
def test_bad_arguments_are_refused_before_anything_is_registered(
    bad_services: tuple[list[str | None], Plan], case: int
) -> None:
    errors, plan = bad_services
    error = errors[case]
    assert error is not None, "the service did not refuse its arguments"
    # No case registered anything (a case that did would leave "web" resources here).
    assert not [r for r in plan.resources if r["name"].startswith("web")]
    assert error.startswith("ContainerService 'web': ")
    assert re.search(BAD_SERVICES[case][1], error), error


def test_every_problem_is_reported_at_once() -> None:
    error = refused(cpu=256, memory=8192, desired_count=-2, environment={"API_TOKEN": "x"})
    assert "cpu/memory" in error and "desired_count: -2" in error and "API_TOKEN" in error


def test_names_that_would_overflow_load_balancer_names_are_refused() -> None:
    errors: list[str] = []

    def build(opts: pulumi.ResourceOptions) -> None:
        key = RegionKey("k", RegionKeyArgs(alias="t"), opts=opts)
        topic = AlertTopic("alerts", AlertTopicArgs(key=key), opts=opts)
        args = ContainerServiceArgs(
            key=key,
            alerts=topic,
            vpc_id="v",
            public_subnet_ids=PUBLIC,
            private_subnet_ids=PRIVATE,
            access_log_bucket=None,
            image_uri=IMAGE,
        )
        for name in ("ap-southeast-1-forecast", "Web"):
            with pytest.raises(ValueError, match=r"name: .* must be 1-20 lowercase"):
                ContainerService(name, args, opts=opts)
            errors.append(name)

    render_components(build, region=REGION)
    assert len(errors) == 2


def test_args_are_frozen() -> None:
    assert dataclasses.is_dataclass(ContainerServiceArgs)
    with pytest.raises(dataclasses.FrozenInstanceError):
        AutoscalingArgs(1, 2).min_count = 3  # type: ignore[misc]


# Existing key, alert topic and log bucket ------------------------------------------------------

OTHER_ACCOUNT = "210987654321"
EXISTING_KEY_ARN = f"arn:aws:kms:{REGION}:{OTHER_ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
EXISTING_TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:team-alerts"


@pytest.fixture(scope="module")
def existing_plan() -> Plan:
    """The service given an existing key, alert topic and load balancer log bucket."""
    return render(
        key=EXISTING_KEY_ARN,
        alerts=EXISTING_TOPIC_ARN,
        load_balancer_log_bucket="team-alb-logs",
        access_log_bucket=None,
        secrets={"DB_PASSWORD": SSM_ARN},
    )


def test_an_existing_key_arn_encrypts_the_repository_and_logs_and_is_decryptable(
    existing_plan: Plan,
) -> None:
    repo = one(existing_plan, REPO)["inputs"]
    assert repo["encryptionConfigurations"] == [
        {"encryptionType": "KMS", "kmsKey": EXISTING_KEY_ARN}
    ]
    logs = existing_plan.find("aws:cloudwatch/logGroup:LogGroup", "web-logs")["inputs"]
    assert logs["kmsKeyId"] == EXISTING_KEY_ARN
    decrypt = grants(existing_plan, "execution")["decrypt-region-key"]
    assert [s["Resource"] for s in statements(decrypt)] == [EXISTING_KEY_ARN]
    # The region key the test renders beside it is not used by the service at all.
    region_key = key_arn(existing_plan)
    for resource in existing_plan.resources:
        if resource["name"].startswith("web"):
            assert region_key not in json.dumps(resource["inputs"]), resource["name"]


def test_an_existing_topic_arn_receives_every_alarm(existing_plan: Plan) -> None:
    alarms = by_name(existing_plan, ALARM)
    assert len(alarms) == 4
    for alarm in alarms.values():
        assert alarm["inputs"]["alarmActions"] == [EXISTING_TOPIC_ARN]
        assert alarm["inputs"]["okActions"] == [EXISTING_TOPIC_ARN]


def test_an_existing_load_balancer_log_bucket_is_used_and_none_is_created(
    existing_plan: Plan,
) -> None:
    assert not [
        b for b in existing_plan.of_type("aws:s3/bucket:Bucket") if b["name"].startswith("web")
    ]
    lb = one(existing_plan, LB)
    assert lb["inputs"]["accessLogs"] == {
        "bucket": "team-alb-logs",
        "enabled": True,
        "prefix": ALB_LOG_PREFIX,
    }

    def after(service: ContainerService, _: RegionKey) -> None:
        assert service.log_bucket is None

    render(after=after, load_balancer_log_bucket="team-alb-logs", access_log_bucket=None)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"key": 42}, r"key: expected a RegionKey or an existing KMS key ARN .*got int"),
        ({"key": "alias/platform"}, r"key: 'alias/platform' is not a KMS key ARN"),
        ({"alerts": 42}, r"alerts: expected an AlertTopic or an existing SNS topic ARN.*got int"),
        ({"alerts": "arn:aws:sqs:eu-west-1:123456789012:q"}, r"alerts: .* is not an SNS topic ARN"),
        (
            {"load_balancer_log_bucket": "Team_Logs"},
            r"load_balancer_log_bucket: 'Team_Logs' is not an S3 bucket name",
        ),
        (
            {
                "load_balancer_log_bucket": "team-alb-logs",
                "access_log_bucket": "central-access-logs",
            },
            r"Only one of \[load_balancer_log_bucket\] and \[access_log_bucket\] can be given",
        ),
    ],
)
def test_a_wrong_key_topic_or_log_bucket_is_refused_before_anything_is_registered(
    overrides: dict[str, Any], message: str
) -> None:
    error = refused(**overrides)
    assert error.startswith("ContainerService 'web': ")
    assert re.search(message, error), error


def test_a_wrong_key_is_reported_with_the_other_problems() -> None:
    error = refused(key=42, alerts=7, cpu=256, memory=8192)
    assert "key: expected" in error and "alerts: expected" in error and "cpu/memory" in error


def test_repository_helper_takes_an_existing_key_arn_or_refuses_anything_else() -> None:
    from components.containers import create_ecr_repository

    errors: list[str] = []

    def build(opts: pulumi.ResourceOptions) -> None:
        parent = pulumi.ComponentResource("test:index:Holder", "holder", None, opts)
        create_ecr_repository(
            "images", parent=parent, key=EXISTING_KEY_ARN, force_delete=True, protect=False, tags={}
        )
        with pytest.raises(ValueError, match=r"^key: expected a RegionKey") as info:
            create_ecr_repository(
                "broken",
                parent=parent,
                key=42,
                force_delete=True,  # type: ignore[arg-type]
                protect=False,
                tags={},
            )
        errors.append(str(info.value))

    plan = render_components(build, region=REGION)
    assert len(errors) == 1
    repo = one(plan, REPO)
    assert repo["name"] == "images-repo"
    assert repo["inputs"]["encryptionConfigurations"][0]["kmsKey"] == EXISTING_KEY_ARN
    assert not [r for r in plan.resources if r["name"].startswith("broken")]
