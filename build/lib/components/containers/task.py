"""The service's tasks: the container definition, its log group, the execution and task
roles, and the Fargate task definition.

The one container is non-privileged, has a read-only root filesystem (with a writable
``/tmp`` volume), drops every Linux capability, logs to its own KMS-encrypted log group, is
health-checked, and takes secrets from SSM Parameter Store / Secrets Manager, never from
plain environment. The execution role can pull from this repository only, write to its own
log group only and read only the given secrets; the task role holds only the grants a caller
adds (``lake.grant_read(service.task_role, zone="models")``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.containers.args import ContainerServiceArgs, service_tags
from components.containers.validators import secret_grant_resource
from components.iam import ServiceRole, ServiceRoleArgs, Statement
from components.kms import ExistingKey, RegionKey

TMP_VOLUME = "tmp"


def default_health_check_command(port: int, path: str) -> list[str]:
    """A container health check for images with Python: GET ``http://127.0.0.1:<port><path>``
    must answer 2xx/3xx within 3 seconds."""
    probe = (
        f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}{path}', timeout=3)"
    )
    return ["CMD", "python", "-c", probe]


def container_definition(
    *,
    name: str,
    image: str,
    port: int,
    environment: Mapping[str, str],
    secrets: Mapping[str, str],
    health_check_command: Sequence[str],
    log_group: str,
    region: str,
) -> dict[str, Any]:
    """The one container of the task: hardened, logged, health-checked, secrets by reference.

    ``PORT`` is set to ``port`` in the environment; ``/tmp`` is the only writable path.
    """
    env = {**environment, "PORT": str(port)}
    return {
        "name": name,
        "image": image,
        "essential": True,
        "privileged": False,
        "readonlyRootFilesystem": True,
        "linuxParameters": {"capabilities": {"drop": ["ALL"]}, "initProcessEnabled": True},
        "portMappings": [
            {
                "name": "http",
                "containerPort": port,
                "hostPort": port,
                "protocol": "tcp",
                "appProtocol": "http",
            }
        ],
        "environment": [{"name": k, "value": env[k]} for k in sorted(env)],
        "secrets": [{"name": k, "valueFrom": secrets[k]} for k in sorted(secrets)],
        "mountPoints": [{"sourceVolume": TMP_VOLUME, "containerPath": "/tmp", "readOnly": False}],
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": log_group,
                "awslogs-region": region,
                "awslogs-stream-prefix": name,
            },
        },
        "healthCheck": {
            "command": list(health_check_command),
            "interval": 30,
            "timeout": 5,
            "retries": 3,
            "startPeriod": 15,
        },
        "stopTimeout": 30,
    }


# Log group and roles ---------------------------------------------------------------------------


def task_log_group(
    name: str, args: ContainerServiceArgs, key: RegionKey | ExistingKey, parent: pulumi.Resource
) -> aws.cloudwatch.LogGroup:
    """The container's log group ``<name>-logs`` (retention, encrypted with ``key``)."""
    return aws.cloudwatch.LogGroup(
        f"{name}-logs",
        retention_in_days=args.log_retention_days,
        kms_key_id=key.arn,
        tags=service_tags(name, args, "logs"),
        opts=pulumi.ResourceOptions(
            parent=parent, protect=args.protect, retain_on_delete=args.protect
        ),
    )


@dataclass(frozen=True)
class TaskRoles:
    """The two roles of the service's tasks."""

    execution: ServiceRole
    """ECS pulls the image, writes logs and reads the secrets with it."""
    task: ServiceRole
    """What the service's code may do (grants added by callers)."""


def task_roles(
    name: str,
    args: ContainerServiceArgs,
    *,
    parent: pulumi.Resource,
    key: RegionKey | ExistingKey,
    repository_arn: pulumi.Output[str],
    log_group_arn: pulumi.Output[str],
    source_arn: pulumi.Output[str],
) -> TaskRoles:
    """``<name>-execution`` with its grants (pull, logs, secrets, decrypt) and ``<name>-task``
    with none, both assumable by ECS tasks of this account and region only."""
    child = pulumi.ResourceOptions(parent=parent)

    def role(suffix: str, description: str) -> ServiceRole:
        return ServiceRole(
            f"{name}-{suffix}",
            ServiceRoleArgs(
                service="ecs-tasks.amazonaws.com",
                description=description,
                source_arn=source_arn,
                tags=args.tags,
            ),
            opts=child,
        )

    roles = TaskRoles(
        execution=role(
            "execution", f"{name}: ECS pulls the image, writes logs and reads the secrets"
        ),
        task=role("task", f"{name}: what the service's code may do (grants added by callers)"),
    )
    _grant_execution(roles.execution, args.secrets, repository_arn, log_group_arn)
    key.grant_decrypt(roles.execution, purpose="decrypt-region-key")
    return roles


def _grant_execution(
    role: ServiceRole,
    secrets: Mapping[str, str],
    repository_arn: pulumi.Output[str],
    log_group_arn: pulumi.Output[str],
) -> None:
    """Pull from this repository, write to this log group, read exactly these secrets."""
    role.grant(
        "pull-image",
        [
            Statement(
                sid="PullFromThisRepository",
                actions=(
                    "ecr:BatchCheckLayerAvailability",
                    "ecr:BatchGetImage",
                    "ecr:GetDownloadUrlForLayer",
                ),
                resources=[repository_arn],
            ),
            Statement(sid="RegistryLogin", actions=("ecr:GetAuthorizationToken",), resources=["*"]),
        ],
    )
    role.grant(
        "write-logs",
        [
            # "<log group ARN>:*" (the streams of this group) is the form AWS documents
            # for CreateLogStream and PutLogEvents of the awslogs driver.
            Statement(
                sid="WriteOwnLogGroup",
                actions=("logs:CreateLogStream", "logs:PutLogEvents"),
                resources=[pulumi.Output.concat(log_group_arn, ":*")],
            )
        ],
    )
    by_action: dict[str, list[str]] = {}
    for arn in secrets.values():
        grant = secret_grant_resource(arn)
        assert grant is not None
        by_action.setdefault(grant[0], [])
        if grant[1] not in by_action[grant[0]]:
            by_action[grant[0]].append(grant[1])
    if by_action:
        sids = {
            "ssm:GetParameters": "ReadSsmParameters",
            "secretsmanager:GetSecretValue": "ReadSecrets",
        }
        role.grant(
            "read-secrets",
            [
                Statement(sid=sids[action], actions=(action,), resources=sorted(arns))
                for action, arns in sorted(by_action.items())
            ],
        )


# Task definition ------------------------------------------------------------------------------


def task_definition(
    name: str,
    args: ContainerServiceArgs,
    *,
    parent: pulumi.Resource,
    image_uri: pulumi.Input[str],
    log_group_name: pulumi.Input[str],
    region: pulumi.Input[str],
    roles: TaskRoles,
) -> aws.ecs.TaskDefinition:
    """The Fargate task definition ``<name>-task`` with the one container of
    :func:`container_definition` and the writable ``/tmp`` volume."""
    command = list(
        args.health_check_command
        or default_health_check_command(args.container_port, args.health_check_path)
    )
    definitions = pulumi.Output.all(image_uri, log_group_name, region).apply(
        lambda v: [
            container_definition(
                name=args.container_name,
                image=v[0],
                port=args.container_port,
                environment=args.environment,
                secrets=args.secrets,
                health_check_command=command,
                log_group=v[1],
                region=v[2],
            )
        ]
    )
    return aws.ecs.TaskDefinition(
        f"{name}-task",
        family=args.family or name,
        cpu=str(args.cpu),
        memory=str(args.memory),
        network_mode="awsvpc",
        requires_compatibilities=["FARGATE"],
        runtime_platform=aws.ecs.TaskDefinitionRuntimePlatformArgs(
            operating_system_family="LINUX", cpu_architecture=args.cpu_architecture
        ),
        execution_role_arn=roles.execution.arn,
        task_role_arn=roles.task.arn,
        container_definitions=pulumi.Output.json_dumps(definitions),
        volumes=[aws.ecs.TaskDefinitionVolumeArgs(name=TMP_VOLUME)],
        tags=service_tags(name, args, "task"),
        opts=pulumi.ResourceOptions(parent=parent),
    )
