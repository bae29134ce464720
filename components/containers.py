"""Container service: an ECS Fargate service behind an application load balancer.

:class:`ContainerService` owns everything one web service needs in a region:

- an ECR repository (scan on push, immutable tags, KMS, lifecycle policy) and the image,
  either given as a URI or built from a Dockerfile with ``awsx.ecr.Image`` (tagged with the
  component's name and a digest of the build context and platform, so an immutable
  repository gets a new tag exactly when the sources change, and two regions' builds never
  share a tag, which awsx would turn into one duplicate resource);
- an ECS cluster with Container Insights and a Fargate task definition whose one container
  is non-privileged, has a read-only root filesystem (with a writable ``/tmp`` volume),
  drops every Linux capability, logs to its own KMS-encrypted log group, is health-checked,
  and takes secrets from SSM Parameter Store / Secrets Manager, never from plain environment;
- an execution role that can pull from this repository only, write to its own log group
  only and read only the given secrets, and a task role with only the grants a caller adds
  (``lake.grant_read(service.task_role, zone="models")``);
- the service in private subnets without public IPs, rolling updates with a deployment
  circuit breaker that rolls back, and optional CPU target-tracking autoscaling (the desired
  count is then left to the autoscaler: ``ignore_changes``);
- an internet-facing application load balancer in public subnets (invalid headers dropped,
  defensive desync mitigation, access logs to a locked-down bucket, optional deletion
  protection), HTTPS with a TLS 1.3 policy and a redirecting port 80 when a certificate is
  given, otherwise one plain HTTP listener (``<name>-http``, tagged
  ``listener=http-without-certificate``; recorded in the policy pack's exceptions);
- security groups where only the load balancer is reachable from the internet and the tasks
  only from the load balancer; alarms on 5xx, unhealthy hosts and CPU to the alert topic.

Pure helpers (Fargate sizes, image references, secret ARNs, documents) are plain functions
with plain tests.
"""

from __future__ import annotations

import asyncio
import fnmatch
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import pulumi
import pulumi_aws as aws
import pulumi_awsx as awsx

from components.checks import raise_problems
from components.buckets import SecureBucket, SecureBucketArgs
from components.iam import ServiceRole, ServiceRoleArgs, Statement
from components.kms import RegionKey
from components.monitoring import AlarmArgs, AlertTopic, Metric, MetricWidget, Widget, metric_alarm
from components.baseline import looks_like_secret

# Fargate sizes -------------------------------------------------------------------------------

#: Task memory (MiB) Fargate supports for each task CPU value (CPU units; 1024 = 1 vCPU).
FARGATE_MEMORY: Mapping[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}

CPU_ARCHITECTURES = ("X86_64", "ARM64")
#: The Docker platform an image must be built for to run on each Fargate architecture.
DOCKER_PLATFORMS: Mapping[str, str] = {"X86_64": "linux/amd64", "ARM64": "linux/arm64"}
CONTAINER_INSIGHTS = ("enabled", "enhanced")
DEFAULT_SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
#: The service principal Elastic Load Balancing delivers access logs as (all regions).
ELB_LOG_DELIVERY_PRINCIPAL = "logdelivery.elasticloadbalancing.amazonaws.com"
#: Prefix of the load balancer's access logs in its log bucket.
ALB_LOG_PREFIX = "alb"
#: Tag that marks how a listener is used (``listener`` key), for readers of the plan.
LISTENER_ROLE_TAG = "listener"
TMP_VOLUME = "tmp"

_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
_CONTAINER_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$")
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HEALTH_PATH_RE = re.compile(r"^/[A-Za-z0-9\-._~%!$&()*+,;=:@/]{0,1023}$")
_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_REPOSITORY_PATH_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
_REGISTRY_RE = re.compile(r"^[A-Za-z0-9.-]+(?::[0-9]{1,5})?$")
_DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")
_SSM_PARAMETER_ARN_RE = re.compile(r"^arn:aws[a-z-]*:ssm:[a-z0-9-]+:\d{12}:parameter/[A-Za-z0-9_.\-/]+$")
_SECRET_ARN_RE = re.compile(
    r"^(arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+)"
    r"(?::[^:]*:[^:]*:[^:]*)?$"
)
_CERTIFICATE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[A-Za-z0-9-]+$")
_IGNORED_BUILD_PARTS = ("__pycache__",)
_IGNORED_BUILD_SUFFIXES = (".pyc", ".pyo")


def fargate_size_problem(cpu: int, memory: int) -> Optional[str]:
    """None when Fargate runs tasks of ``cpu`` units and ``memory`` MiB; else what is wrong
    and which values would be right."""
    if cpu not in FARGATE_MEMORY:
        return f"cpu {cpu} is not a Fargate task size; use one of {sorted(FARGATE_MEMORY)}"
    allowed = FARGATE_MEMORY[cpu]
    if memory not in allowed:
        step = allowed[1] - allowed[0]
        listed = (
            ", ".join(map(str, allowed))
            if len(allowed) <= 4
            else f"{allowed[0]} to {allowed[-1]} in steps of {step}"
        )
        return f"Fargate does not support memory {memory} MiB with cpu {cpu}; use {listed}"
    return None


# Image references ----------------------------------------------------------------------------


def image_uri_problem(uri: str) -> Optional[str]:
    """None when ``uri`` is a container image reference (``registry/repository[:tag][@digest]``
    or a Docker Hub name); else what is wrong."""
    rest, _, digest = uri.partition("@")
    if digest and not _DIGEST_RE.match(digest):
        return f"{uri!r}: the digest must look like sha256:<64 hex digits>"
    path, tag = rest, ""
    if ":" in rest.rsplit("/", 1)[-1]:
        path, tag = rest.rsplit(":", 1)
        if not _TAG_RE.match(tag):
            return f"{uri!r}: tag {tag!r} is not a valid image tag"
    parts = path.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        if not _REGISTRY_RE.match(parts[0]):
            return f"{uri!r}: {parts[0]!r} is not a registry host"
        parts = parts[1:]
    if not parts or not _REPOSITORY_PATH_RE.match("/".join(parts)):
        return (
            f"{uri!r} is not an image reference; write it like "
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/forecast@sha256:<digest>"
        )
    return None


def secret_grant_resource(arn: str) -> Optional[tuple[str, str]]:
    """``(IAM action, resource ARN)`` that lets the execution role read secret ``arn``, or
    None when ``arn`` is neither an SSM parameter nor a Secrets Manager secret ARN.

    A Secrets Manager reference may select a JSON key and version
    (``...:secret:name-AbCdEf:key:stage:version``); the grant names the secret itself.
    """
    if _SSM_PARAMETER_ARN_RE.match(arn):
        return "ssm:GetParameters", arn
    match = _SECRET_ARN_RE.match(arn)
    if match:
        return "secretsmanager:GetSecretValue", match.group(1)
    return None


def secret_arn_problem(arn: Any) -> Optional[str]:
    """None when ``arn`` names an SSM parameter or a Secrets Manager secret; else why not."""
    if isinstance(arn, str) and secret_grant_resource(arn) is not None:
        return None
    return (
        f"{arn!r} is not an SSM parameter ARN (arn:aws:ssm:<region>:<account>:parameter/<name>) "
        "or a Secrets Manager secret ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>)"
    )


def environment_name_problem(name: str) -> Optional[str]:
    """None when ``name`` may be a plain (non-secret) environment variable; else why not."""
    if not _ENV_NAME_RE.match(name):
        return (
            f"{name!r} is not an environment variable name (letters, digits and '_', not "
            "starting with a digit)"
        )
    if name == "PORT":
        return "PORT is set from the container port; do not set it"
    if looks_like_secret(name):
        return (
            f"{name!r} looks like a secret; store the value in SSM Parameter Store or Secrets "
            "Manager and give its ARN under secrets instead of plain environment"
        )
    return None


def health_check_path_problem(path: str) -> Optional[str]:
    """None when ``path`` is a health-check URL path; else why not."""
    if _HEALTH_PATH_RE.match(path):
        return None
    return f"{path!r} must be a URL path starting with '/' (no quotes, spaces or query string)"


def certificate_arn_problem(arn: str) -> Optional[str]:
    """None when ``arn`` is an ACM certificate ARN; else why not."""
    if _CERTIFICATE_ARN_RE.match(arn):
        return None
    return f"{arn!r} is not an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>)"


def certificate_region(arn: str) -> Optional[str]:
    """The region of an ACM certificate ARN (a load balancer needs one of its own region)."""
    return arn.split(":")[3] if _CERTIFICATE_ARN_RE.match(arn) else None


def _dockerignore_patterns(context: Path) -> list[str]:
    """Patterns of ``.dockerignore`` (comments, blanks and ``!`` exceptions left out)."""
    path = context / ".dockerignore"
    if not path.is_file():
        return []
    patterns = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "!")):
            patterns.append(line.strip("/"))
    return patterns


def build_context_digest(context: Path, dockerfile: Optional[Path] = None) -> str:
    """SHA-256 over the build context's files (relative path and content, in path order) and
    the Dockerfile. Bytecode caches and ``.dockerignore`` matches (simple glob patterns) are
    left out, as Docker would not send them or they do not change the image."""
    digest = hashlib.sha256()
    ignored = _dockerignore_patterns(context)
    files = []
    for path in context.rglob("*"):
        rel = path.relative_to(context).as_posix()
        if not path.is_file() or any(p in _IGNORED_BUILD_PARTS for p in path.relative_to(context).parts):
            continue
        if rel.endswith(_IGNORED_BUILD_SUFFIXES):
            continue
        if any(fnmatch.fnmatchcase(rel, p) or rel.startswith(f"{p}/") for p in ignored):
            continue
        files.append((rel, path))
    for rel, path in sorted(files):
        digest.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
    if dockerfile is not None:
        digest.update(b"dockerfile\0" + dockerfile.read_bytes())
    return digest.hexdigest()


def built_image_tag(component: str, platform: str, context_digest: str, tag: Optional[str] = None) -> str:
    """The tag a built image is pushed with: ``<component>-<tag>``; by default
    ``<component>-ctx-`` and 16 hex digits of a digest of the build context and the platform.

    ``awsx.ecr.Image`` names the build resource it creates after the tag, and that name must
    be unique in the stack (two regions pushing the same tag would register the same URN
    twice), so the tag starts with the component's name. The platform is part of the default
    digest because the repository's tags are immutable: an image built for another CPU
    architecture from the same sources needs a tag of its own.
    """
    if tag is None:
        tag = "ctx-" + hashlib.sha256(f"{context_digest}\0{platform}".encode()).hexdigest()[:16]
    return f"{component}-{tag}"


# Documents -----------------------------------------------------------------------------------


def ecr_lifecycle_policy(untagged_expiry_days: int, keep_tagged_images: int) -> dict[str, Any]:
    """Expire untagged images after ``untagged_expiry_days``; keep the newest
    ``keep_tagged_images`` tagged images."""
    return {
        "rules": [
            {
                "rulePriority": 1,
                "description": f"Expire untagged images after {untagged_expiry_days} days",
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": untagged_expiry_days,
                },
                "action": {"type": "expire"},
            },
            {
                "rulePriority": 2,
                "description": f"Keep the last {keep_tagged_images} tagged images",
                "selection": {
                    "tagStatus": "tagged",
                    "tagPatternList": ["*"],
                    "countType": "imageCountMoreThan",
                    "countNumber": keep_tagged_images,
                },
                "action": {"type": "expire"},
            },
        ]
    }


# Repository and image ------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageBuild:
    """An image to build with its Dockerfile and push (see :func:`ecr_image`)."""

    context: str
    """The build context as ``awsx.ecr.Image`` gets it (relative to the program's working
    directory, the project root under ``pulumi up``)."""
    context_path: Path
    """The same directory as this process finds it (to compute the image tag)."""
    platform: str
    """The Docker platform (``linux/amd64``, ``linux/arm64``; see :data:`DOCKER_PLATFORMS`)."""
    dockerfile: Optional[str] = None
    """Default: ``Dockerfile`` in the context. Otherwise its path, relative like ``context``."""
    dockerfile_path: Optional[Path] = None
    """Default: none (the context's Dockerfile is part of the context digest). The
    Dockerfile as this process finds it, when ``dockerfile`` is given."""
    image_tag: Optional[str] = None
    """Default: a digest of the context and the platform (see :func:`built_image_tag`)."""


@dataclass(frozen=True)
class RepositoryAndImage:
    """What :func:`ecr_repository_and_image` created."""

    repository: aws.ecr.Repository
    lifecycle_policy: aws.ecr.LifecyclePolicy
    image: Optional[awsx.ecr.Image] = None
    """The built image; none when nothing was built."""
    image_tag: Optional[str] = None
    """The tag the built image is pushed with; none when nothing was built."""
    image_uri: Optional[pulumi.Output[str]] = None
    """The built image's URI (with its digest); none when nothing was built."""


def create_ecr_repository(
    name: str,
    *,
    parent: pulumi.Resource,
    key: RegionKey,
    force_delete: bool,
    protect: bool,
    tags: Mapping[str, str],
    untagged_image_expiry_days: int = 7,
    keep_tagged_images: int = 20,
) -> tuple[aws.ecr.Repository, aws.ecr.LifecyclePolicy]:
    """An ECR repository ``<name>-repo`` (immutable tags, scan on push, encrypted with
    ``key``) and its lifecycle policy ``<name>-repo-lifecycle``, both children of ``parent``.

    ``force_delete`` lets the repository be deleted with its images (ephemeral stacks);
    ``protect`` protects it and retains it on delete (production).
    """
    repository = aws.ecr.Repository(
        f"{name}-repo",
        image_tag_mutability="IMMUTABLE",
        image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(
            scan_on_push=True
        ),
        encryption_configurations=[
            aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="KMS", kms_key=key.arn)
        ],
        force_delete=force_delete,
        tags=dict(tags),
        opts=pulumi.ResourceOptions(parent=parent, protect=protect, retain_on_delete=protect),
    )
    lifecycle_policy = aws.ecr.LifecyclePolicy(
        f"{name}-repo-lifecycle",
        repository=repository.name,
        policy=pulumi.Output.json_dumps(ecr_lifecycle_policy(untagged_image_expiry_days, keep_tagged_images)),
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return repository, lifecycle_policy


def ecr_image(
    name: str,
    build: ImageBuild,
    *,
    parent: pulumi.Resource,
    repository: aws.ecr.Repository,
    lifecycle_policy: aws.ecr.LifecyclePolicy,
) -> tuple[awsx.ecr.Image, str]:
    """Build ``build`` and push it to ``repository`` with ``awsx.ecr.Image`` (``<name>-image``,
    a child of ``parent``); returns the image and its tag ``<name>-<tag>`` (see
    :func:`built_image_tag`: ``name`` must be unique in the stack). Offline, nothing is built.
    """
    tag = built_image_tag(
        name, build.platform, build_context_digest(build.context_path, build.dockerfile_path), build.image_tag
    )
    image = awsx.ecr.Image(
        f"{name}-image",
        repository_url=repository.repository_url,
        context=build.context,
        dockerfile=build.dockerfile,
        platform=build.platform,
        image_tag=tag,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[lifecycle_policy]),
    )
    return image, tag


def ecr_repository_and_image(
    name: str,
    *,
    parent: pulumi.Resource,
    key: RegionKey,
    force_delete: bool,
    protect: bool,
    tags: Mapping[str, str],
    untagged_image_expiry_days: int = 7,
    keep_tagged_images: int = 20,
    build: Optional[ImageBuild] = None,
) -> RepositoryAndImage:
    """:func:`create_ecr_repository` and, when ``build`` is given, :func:`ecr_image` into it, all
    children of ``parent`` named after ``name``."""
    repository, lifecycle_policy = create_ecr_repository(
        name,
        parent=parent,
        key=key,
        force_delete=force_delete,
        protect=protect,
        tags=tags,
        untagged_image_expiry_days=untagged_image_expiry_days,
        keep_tagged_images=keep_tagged_images,
    )
    if build is None:
        return RepositoryAndImage(repository, lifecycle_policy)
    image, tag = ecr_image(
        name, build, parent=parent, repository=repository, lifecycle_policy=lifecycle_policy
    )
    return RepositoryAndImage(repository, lifecycle_policy, image, tag, image.image_uri)


def elb_log_delivery_statement(
    bucket_arn: str, account_id: str, region: str, partition: str, prefix: str = ALB_LOG_PREFIX
) -> dict[str, Any]:
    """Bucket policy statement that lets Elastic Load Balancing write this account's
    application load balancer access logs under ``prefix``, and nothing else."""
    return {
        "Sid": "ElbAccessLogDelivery",
        "Effect": "Allow",
        "Principal": {"Service": ELB_LOG_DELIVERY_PRINCIPAL},
        "Action": "s3:PutObject",
        "Resource": f"{bucket_arn}/{prefix}/AWSLogs/{account_id}/*",
        "Condition": {
            "StringEquals": {"aws:SourceAccount": account_id},
            "ArnLike": {
                "aws:SourceArn": (
                    f"arn:{partition}:elasticloadbalancing:{region}:{account_id}:loadbalancer/app/*"
                )
            },
        },
    }


def default_health_check_command(port: int, path: str) -> list[str]:
    """A container health check for images with Python: GET ``http://127.0.0.1:<port><path>``
    must answer 2xx/3xx within 3 seconds."""
    probe = (
        "import urllib.request; "
        f"urllib.request.urlopen('http://127.0.0.1:{port}{path}', timeout=3)"
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
            {"name": "http", "containerPort": port, "hostPort": port, "protocol": "tcp",
             "appProtocol": "http"}
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


# Arguments -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AutoscalingArgs:
    """CPU target tracking between ``min_count`` and ``max_count`` tasks."""

    min_count: int
    max_count: int
    target_cpu_percent: float = 60
    """Default: keep the service's average CPU at 60%."""
    scale_in_cooldown: int = 300
    """Default: wait 5 minutes after a scale-in before the next."""
    scale_out_cooldown: int = 60
    """Default: wait 1 minute after a scale-out before the next."""


@dataclass(frozen=True)
class ContainerServiceArgs:
    """Arguments of :class:`ContainerService`."""

    key: RegionKey
    """The region's KMS key: encrypts the repository and the log group; the execution role
    may decrypt with it (secrets encrypted with the region key)."""
    alerts: AlertTopic
    """The region's alert topic; every alarm notifies it."""
    vpc_id: pulumi.Input[str]
    """The VPC of the subnets."""
    public_subnet_ids: Sequence[pulumi.Input[str]]
    """Subnets of the load balancer, in at least two AZs."""
    private_subnet_ids: Sequence[pulumi.Input[str]]
    """Subnets of the tasks (no public IPs)."""
    access_log_bucket: Optional[pulumi.Input[str]]
    """Name of the bucket that receives the S3 server access logs of the load balancer's log
    bucket (the region's access-log bucket). Required; ``None`` skips server access logging
    of that bucket explicitly (the policy pack then reports it)."""
    image_uri: Optional[str] = None
    """Default: none (then ``build_context`` is required). A prebuilt image to run."""
    build_context: Optional[str] = None
    """Default: none (then ``image_uri`` is required). Directory built with its Dockerfile
    by ``awsx.ecr.Image`` and pushed to the repository; relative to the program's working
    directory (the project root under ``pulumi up``)."""
    dockerfile: Optional[str] = None
    """Default: ``Dockerfile`` in ``build_context``. Otherwise its path, relative like
    ``build_context``."""
    build_root: Optional[str] = None
    """Default: the current working directory. Where relative ``build_context`` and
    ``dockerfile`` are found to check them and to compute the image tag."""
    image_tag: Optional[str] = None
    """Default: ``ctx-`` and 16 hex digits of a digest of the build context and the platform
    (a new tag exactly when the sources or the architecture change, as the immutable
    repository needs). The image is pushed as ``<component name>-<tag>`` (see
    :func:`built_image_tag`), so each component's tag is unique in the stack."""
    container_name: str = "app"
    """Default: the container is called ``app``."""
    container_port: int = 8080
    """Default: the container listens on 8080 (passed to it as ``PORT``)."""
    health_check_path: str = "/health"
    """Default: the load balancer and the container health check GET ``/health``."""
    health_check_command: Optional[Sequence[str]] = None
    """Default: a Python one-liner that GETs the health path (images with Python). Otherwise
    the ECS health check command (``["CMD", ...]`` or ``["CMD-SHELL", "..."]``)."""
    cpu: int = 256
    """Default: 0.25 vCPU per task. With ``memory``, a size Fargate supports."""
    memory: int = 512
    """Default: 512 MiB per task."""
    cpu_architecture: str = "X86_64"
    """Default: X86_64 (``ARM64`` runs on Graviton; a built image is built for it)."""
    environment: Mapping[str, str] = field(default_factory=dict)
    """Default: only ``PORT``. Non-secret environment variables; names that look secret are
    refused (use ``secrets``)."""
    secrets: Mapping[str, str] = field(default_factory=dict)
    """Default: none. Environment variable name -> SSM parameter ARN or full Secrets Manager
    secret ARN (with its 6-character suffix; a ``:json-key:stage:version`` selector may
    follow). ECS injects the value at start; the execution role may read exactly these."""
    desired_count: int = 1
    """Default: one task."""
    autoscaling: Optional[AutoscalingArgs] = None
    """Default: a fixed desired count. When given, CPU target tracking scales between its
    bounds and Pulumi leaves the desired count alone (``ignore_changes``)."""
    deployment_minimum_healthy_percent: int = 100
    """Default: a deployment never drops below the desired count of healthy tasks."""
    deployment_maximum_percent: int = 200
    """Default: a deployment may run twice the desired count while it replaces tasks."""
    enable_execute_command: bool = False
    """Default: no ECS Exec into the containers."""
    certificate_arn: Optional[str] = None
    """Default: none: one plain HTTP listener on port 80 (a recorded exception). When given,
    an HTTPS listener on 443 with ``ssl_policy`` and port 80 redirecting to it."""
    ssl_policy: str = DEFAULT_SSL_POLICY
    """Default: ELBSecurityPolicy-TLS13-1-2-2021-06. Must be a TLS 1.3 policy."""
    idle_timeout: int = 60
    """Default: idle connections are closed after 60 seconds."""
    deletion_protection: bool = False
    """Default: the load balancer can be deleted (ephemeral stacks). True in production."""
    access_log_expiration_days: int = 90
    """Default: load balancer access logs expire after 90 days."""
    log_retention_days: int = 30
    """Default: container logs are kept 30 days."""
    container_insights: str = "enhanced"
    """Default: Container Insights with enhanced observability (``enabled`` for the basic)."""
    untagged_image_expiry_days: int = 7
    """Default: untagged images expire 7 days after their push."""
    keep_tagged_images: int = 20
    """Default: the newest 20 tagged images are kept, older ones expire."""
    force_delete: bool = False
    """Default: a repository with images (and the log bucket with logs) cannot be deleted.
    When true (ephemeral stacks), they are deleted with their contents."""
    protect: bool = False
    """Default: unprotected. When true, the repository, the log group and the log bucket are
    protected and retained on delete."""
    family: Optional[str] = None
    """Default: the task definition family is the component name."""
    http_5xx_alarm_threshold: int = 10
    """Default: alarm at 10 target 5xx responses (and 10 load balancer 5xx) in 5 minutes."""
    cpu_alarm_percent: float = 85
    """Default: alarm when the service's average CPU stays at or above 85% for 15 minutes."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Default: no extra tags beyond ``Name``."""

    def problems(self, name: str) -> list[str]:
        """Everything wrong with these arguments for a component called ``name``."""
        out: list[str] = []
        if not _NAME_RE.match(name):
            out.append(
                f"name: {name!r} must be 1-20 lowercase letters, digits or '-', starting with a "
                "letter (load balancer and target group names are at most 32 characters)"
            )
        out += self._image_problems()
        if self.image_tag is not None and _TAG_RE.match(self.image_tag) and len(f"{name}-{self.image_tag}") > 128:
            out.append(
                f"image_tag: {self.image_tag!r} is too long; the image is pushed as "
                f"'{name}-<image_tag>', which may have at most 128 characters"
            )
        size = fargate_size_problem(self.cpu, self.memory)
        if size:
            out.append(f"cpu/memory: {size}")
        if self.cpu_architecture not in CPU_ARCHITECTURES:
            out.append(f"cpu_architecture: {self.cpu_architecture!r} is not one of {list(CPU_ARCHITECTURES)}")
        if not _CONTAINER_NAME_RE.match(self.container_name):
            out.append(f"container_name: {self.container_name!r} is not a container name")
        if not 1 <= self.container_port <= 65535:
            out.append(f"container_port: {self.container_port} is outside 1..65535")
        path_problem = health_check_path_problem(self.health_check_path)
        if path_problem:
            out.append(f"health_check_path: {path_problem}")
        if self.health_check_command is not None and (
            len(self.health_check_command) < 2
            or self.health_check_command[0] not in ("CMD", "CMD-SHELL")
        ):
            out.append("health_check_command: must be ['CMD', ...] or ['CMD-SHELL', '...']")
        out += self._environment_problems()
        out += self._scaling_problems()
        out += self._load_balancer_problems()
        if self.container_insights not in CONTAINER_INSIGHTS:
            out.append(f"container_insights: {self.container_insights!r} is not one of {list(CONTAINER_INSIGHTS)}")
        for key in ("log_retention_days", "untagged_image_expiry_days", "keep_tagged_images",
                    "access_log_expiration_days", "http_5xx_alarm_threshold"):
            if getattr(self, key) < 1:
                out.append(f"{key}: must be at least 1")
        if not 0 < self.cpu_alarm_percent <= 100:
            out.append(f"cpu_alarm_percent: {self.cpu_alarm_percent} is outside (0, 100]")
        if len(list(self.public_subnet_ids)) < 2:
            out.append("public_subnet_ids: an application load balancer needs subnets in at least two AZs")
        if not list(self.private_subnet_ids):
            out.append("private_subnet_ids: at least one subnet is needed for the tasks")
        return out

    def _image_problems(self) -> list[str]:
        out: list[str] = []
        if self.image_uri is not None and self.build_context is not None:
            out.append("Only one of [image_uri] and [build_context] can be given")
        elif self.image_uri is None and self.build_context is None:
            out.append("image: give [image_uri] (a prebuilt image) or [build_context] (a Dockerfile to build)")
        if self.image_uri is not None:
            problem = image_uri_problem(self.image_uri)
            if problem:
                out.append(f"image_uri: {problem}")
            for key in ("dockerfile", "image_tag", "build_root"):
                if getattr(self, key) is not None:
                    out.append(f"{key}: only used with build_context, not with image_uri")
        if self.image_tag is not None and not _TAG_RE.match(self.image_tag):
            out.append(f"image_tag: {self.image_tag!r} is not a valid image tag")
        if self.build_context is not None:
            context = self.resolve(self.build_context)
            if not context.is_dir():
                out.append(
                    f"build_context: directory {self.build_context!r} not found "
                    f"(looked in {context})"
                )
            else:
                dockerfile = self.resolve(self.dockerfile) if self.dockerfile else context / "Dockerfile"
                if not dockerfile.is_file():
                    key = "dockerfile" if self.dockerfile else "build_context"
                    out.append(f"{key}: no Dockerfile at {dockerfile}")
        return out

    def _environment_problems(self) -> list[str]:
        out: list[str] = []
        for env_name in self.environment:
            problem = environment_name_problem(env_name)
            if problem:
                out.append(f"environment: {problem}")
        for env_name, arn in self.secrets.items():
            if not _ENV_NAME_RE.match(env_name):
                out.append(f"secrets: {env_name!r} is not an environment variable name")
            if env_name in self.environment or env_name == "PORT":
                out.append(f"secrets: {env_name!r} is also set in environment")
            problem = secret_arn_problem(arn)
            if problem:
                out.append(f"secrets: {env_name}: {problem}")
        return out

    def _scaling_problems(self) -> list[str]:
        out: list[str] = []
        if self.desired_count < 0:
            out.append(f"desired_count: {self.desired_count} is below zero")
        scaling = self.autoscaling
        if scaling is not None:
            if scaling.min_count < 0:
                out.append(f"autoscaling.min_count: {scaling.min_count} is below zero")
            if scaling.max_count < 1 or scaling.max_count < scaling.min_count:
                out.append(
                    f"autoscaling.max_count: {scaling.max_count} must be at least 1 and at "
                    f"least min_count ({scaling.min_count})"
                )
            if not scaling.min_count <= self.desired_count <= scaling.max_count:
                out.append(
                    f"desired_count: {self.desired_count} is outside autoscaling bounds "
                    f"{scaling.min_count}..{scaling.max_count}"
                )
            if not 1 <= scaling.target_cpu_percent <= 100:
                out.append(f"autoscaling.target_cpu_percent: {scaling.target_cpu_percent} is outside 1..100")
            if scaling.scale_in_cooldown < 0 or scaling.scale_out_cooldown < 0:
                out.append("autoscaling: cooldowns must not be negative")
        low, high = self.deployment_minimum_healthy_percent, self.deployment_maximum_percent
        if not 0 <= low <= 100:
            out.append(f"deployment_minimum_healthy_percent: {low} is outside 0..100")
        if high < 100 or high <= low:
            out.append(
                f"deployment_maximum_percent: {high} must be at least 100 and above "
                f"deployment_minimum_healthy_percent ({low}), or a rolling update cannot start"
            )
        return out

    def _load_balancer_problems(self) -> list[str]:
        out: list[str] = []
        if self.certificate_arn is not None:
            problem = certificate_arn_problem(self.certificate_arn)
            if problem:
                out.append(f"certificate_arn: {problem}")
        if not self.ssl_policy.startswith("ELBSecurityPolicy-TLS13-"):
            out.append(
                f"ssl_policy: {self.ssl_policy!r} is not a TLS 1.3 policy; use "
                f"{DEFAULT_SSL_POLICY} or ELBSecurityPolicy-TLS13-1-3-2021-06"
            )
        if not 1 <= self.idle_timeout <= 4000:
            out.append(f"idle_timeout: {self.idle_timeout} is outside 1..4000 seconds")
        return out

    def resolve(self, path: str) -> Path:
        """``path`` as the build sees it: relative paths from ``build_root`` (default: cwd)."""
        base = Path(self.build_root) if self.build_root is not None else Path(os.getcwd())
        return base / path


def _late_bound() -> tuple["asyncio.Future[Any]", pulumi.Output[Any]]:
    """A future to set later and an Output of the value it will be set to.

    For a value that only exists once a resource that needs it has been declared (the log
    bucket's policy names the bucket's own ARN): set the future to that Output right after
    the declaration; Outputs set into it are unwrapped (unknown stays unknown in previews).
    """
    future: asyncio.Future[Any] = asyncio.get_event_loop().create_future()
    return future, pulumi.Output.from_input(future)


class ContainerService(pulumi.ComponentResource):
    """An ECS Fargate web service behind an application load balancer (see the module doc)."""

    def __init__(
        self, name: str, args: ContainerServiceArgs, opts: Optional[pulumi.ResourceOptions] = None
    ) -> None:
        problems = args.problems(name)
        raise_problems(f"ContainerService {name!r}", problems)
        super().__init__("mlops:containers:ContainerService", name, None, opts)
        self._name = name
        self._args = args
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOptions(parent=self)
        self.partition = aws.get_partition_output(opts=invoke).partition
        self.region = aws.get_region_output(opts=invoke).region
        self.account_id = aws.get_caller_identity_output(opts=invoke).account_id

        self._repository(child)
        self._log_group()
        self._roles()
        self.cluster = aws.ecs.Cluster(
            f"{name}-cluster",
            settings=[aws.ecs.ClusterSettingArgs(name="containerInsights", value=args.container_insights)],
            tags=self._tags("cluster"),
            opts=child,
        )
        self._security_groups(child)
        self._load_balancer(child)
        self._task_definition(child)
        self._service(child)
        self._alarms()

        self.load_balancer_dns_name = self.load_balancer.dns_name
        self.repository_url = self.repository.repository_url
        self.register_outputs(
            {
                "load_balancer_dns_name": self.load_balancer.dns_name,
                "repository_url": self.repository.repository_url,
                "image_uri": self.image_uri,
                "service_name": self.service.name,
                "cluster_arn": self.cluster.arn,
            }
        )

    def _tags(self, purpose: str, **extra: str) -> dict[str, str]:
        return {"Name": f"{self._name}-{purpose}", **self._args.tags, **extra}

    # Image -----------------------------------------------------------------------------------

    def _repository(self, child: pulumi.ResourceOptions) -> None:
        args, name = self._args, self._name
        dockerfile = args.resolve(args.dockerfile) if args.dockerfile else None
        built = ecr_repository_and_image(
            name,
            parent=self,
            key=args.key,
            force_delete=args.force_delete,
            protect=args.protect,
            tags=self._tags("repo"),
            untagged_image_expiry_days=args.untagged_image_expiry_days,
            keep_tagged_images=args.keep_tagged_images,
            build=(
                ImageBuild(
                    context=args.build_context,
                    context_path=args.resolve(args.build_context),
                    dockerfile=args.dockerfile,
                    dockerfile_path=dockerfile,
                    platform=DOCKER_PLATFORMS[args.cpu_architecture],
                    image_tag=args.image_tag,
                )
                if args.build_context is not None
                else None
            ),
        )
        self.repository = built.repository
        self.lifecycle_policy = built.lifecycle_policy
        self.image: Optional[awsx.ecr.Image] = built.image
        # The tag pushed to the repository (unique in the stack; see built_image_tag).
        self.image_tag: Optional[str] = built.image_tag
        self.image_uri: pulumi.Output[str] = (
            built.image_uri if built.image_uri is not None else pulumi.Output.from_input(args.image_uri)
        )

    def _log_group(self) -> None:
        args = self._args
        self.log_group = aws.cloudwatch.LogGroup(
            f"{self._name}-logs",
            retention_in_days=args.log_retention_days,
            kms_key_id=args.key.arn,
            tags=self._tags("logs"),
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect, retain_on_delete=args.protect),
        )

    # Roles -----------------------------------------------------------------------------------

    def _roles(self) -> None:
        args, name = self._args, self._name
        child = pulumi.ResourceOptions(parent=self)
        source_arn = pulumi.Output.concat(
            "arn:", self.partition, ":ecs:", self.region, ":", self.account_id, ":*"
        )
        self.execution_role = ServiceRole(
            f"{name}-execution",
            ServiceRoleArgs(
                service="ecs-tasks.amazonaws.com",
                description=f"{name}: ECS pulls the image, writes logs and reads the secrets",
                source_arn=source_arn,
                tags=args.tags,
            ),
            opts=child,
        )
        self.task_role = ServiceRole(
            f"{name}-task",
            ServiceRoleArgs(
                service="ecs-tasks.amazonaws.com",
                description=f"{name}: what the service's code may do (grants added by callers)",
                source_arn=source_arn,
                tags=args.tags,
            ),
            opts=child,
        )
        role = self.execution_role
        role.grant(
            "pull-image",
            [
                Statement(
                    sid="PullFromThisRepository",
                    actions=("ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage",
                             "ecr:GetDownloadUrlForLayer"),
                    resources=[self.repository.arn],
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
                    resources=[pulumi.Output.concat(self.log_group.arn, ":*")],
                )
            ],
        )
        by_action: dict[str, list[str]] = {}
        for arn in args.secrets.values():
            grant = secret_grant_resource(arn)
            assert grant is not None
            by_action.setdefault(grant[0], [])
            if grant[1] not in by_action[grant[0]]:
                by_action[grant[0]].append(grant[1])
        if by_action:
            sids = {"ssm:GetParameters": "ReadSsmParameters",
                    "secretsmanager:GetSecretValue": "ReadSecrets"}
            role.grant(
                "read-secrets",
                [Statement(sid=sids[action], actions=(action,), resources=sorted(arns))
                 for action, arns in sorted(by_action.items())],
            )
        args.key.grant_decrypt(role, purpose="decrypt-region-key")

    # Network ---------------------------------------------------------------------------------

    def _security_groups(self, child: pulumi.ResourceOptions) -> None:
        args, name = self._args, self._name
        self.listener_ports = (80, 443) if args.certificate_arn else (80,)
        self.load_balancer_security_group = aws.ec2.SecurityGroup(
            f"{name}-alb-sg",
            vpc_id=args.vpc_id,
            description=f"{name} load balancer: HTTP(S) from the internet, out to the tasks only",
            tags=self._tags("alb-sg"),
            opts=child,
        )
        self.task_security_group = aws.ec2.SecurityGroup(
            f"{name}-tasks-sg",
            vpc_id=args.vpc_id,
            description=f"{name} tasks: the container port from the load balancer only",
            tags=self._tags("tasks-sg"),
            opts=child,
        )
        lb_sg, task_sg = self.load_balancer_security_group, self.task_security_group
        self.security_group_rules: list[pulumi.CustomResource] = []
        for port in self.listener_ports:
            self.security_group_rules.append(
                aws.vpc.SecurityGroupIngressRule(
                    f"{name}-alb-in-{port}",
                    security_group_id=lb_sg.id,
                    ip_protocol="tcp",
                    from_port=port,
                    to_port=port,
                    cidr_ipv4="0.0.0.0/0",
                    description=f"Clients on the internet reach the load balancer on {port}",
                    tags=self._tags(f"alb-in-{port}"),
                    opts=child,
                )
            )
        port = args.container_port
        self.security_group_rules += [
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-alb-to-tasks",
                security_group_id=lb_sg.id,
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                referenced_security_group_id=task_sg.id,
                description=f"The load balancer forwards to the tasks on {port}",
                tags=self._tags("alb-to-tasks"),
                opts=child,
            ),
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-tasks-from-alb",
                security_group_id=task_sg.id,
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                referenced_security_group_id=lb_sg.id,
                description=f"Only the load balancer reaches the container port {port}",
                tags=self._tags("tasks-from-alb"),
                opts=child,
            ),
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-tasks-out-https",
                security_group_id=task_sg.id,
                ip_protocol="tcp",
                from_port=443,
                to_port=443,
                cidr_ipv4="0.0.0.0/0",
                description="Tasks call AWS APIs (ECR, S3, logs, secrets) over HTTPS via NAT or endpoints",
                tags=self._tags("tasks-out-https"),
                opts=child,
            ),
        ]

    # Load balancer ---------------------------------------------------------------------------

    def _load_balancer(self, child: pulumi.ResourceOptions) -> None:
        args, name = self._args, self._name
        #: Prefix of the log bucket's own S3 server access logs in ``access_log_bucket``.
        self.access_log_prefix = f"{name}-alb-logs/"
        bucket_arn_slot, bucket_arn = _late_bound()
        delivery = pulumi.Output.all(bucket_arn, self.account_id, self.region, self.partition).apply(
            lambda v: elb_log_delivery_statement(v[0], v[1], v[2], v[3])
        )
        self.log_bucket = SecureBucket(
            f"{name}-alb-logs",
            SecureBucketArgs(
                key=None,
                purpose="load balancer access logs",
                sse_s3_for_log_delivery=True,
                expiration_days=args.access_log_expiration_days,
                access_log_bucket=args.access_log_bucket,
                access_log_prefix=self.access_log_prefix,
                force_destroy=args.force_delete,
                protect=args.protect,
                extra_policy_statements=[delivery],
                tags=args.tags,
            ),
            opts=child,
        )
        bucket_arn_slot.set_result(self.log_bucket.arn)
        self.load_balancer = aws.lb.LoadBalancer(
            f"{name}-alb",
            load_balancer_type="application",
            internal=False,
            ip_address_type="ipv4",
            subnets=list(args.public_subnet_ids),
            security_groups=[self.load_balancer_security_group.id],
            drop_invalid_header_fields=True,
            desync_mitigation_mode="defensive",
            enable_deletion_protection=args.deletion_protection,
            idle_timeout=args.idle_timeout,
            enable_http2=True,
            access_logs=aws.lb.LoadBalancerAccessLogsArgs(
                bucket=self.log_bucket.name, prefix=ALB_LOG_PREFIX, enabled=True
            ),
            tags=self._tags("alb"),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.log_bucket.policy]),
        )
        self.target_group = aws.lb.TargetGroup(
            f"{name}-tg",
            port=args.container_port,
            protocol="HTTP",
            protocol_version="HTTP1",
            target_type="ip",
            vpc_id=args.vpc_id,
            deregistration_delay=30,
            health_check=aws.lb.TargetGroupHealthCheckArgs(
                enabled=True,
                path=args.health_check_path,
                protocol="HTTP",
                port="traffic-port",
                matcher="200",
                interval=15,
                timeout=5,
                healthy_threshold=2,
                unhealthy_threshold=3,
            ),
            tags=self._tags("tg"),
            opts=child,
        )
        forward = [aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=self.target_group.arn)]
        self.https_listener: Optional[aws.lb.Listener] = None
        if args.certificate_arn:
            self.https_listener = aws.lb.Listener(
                f"{name}-https",
                load_balancer_arn=self.load_balancer.arn,
                port=443,
                protocol="HTTPS",
                ssl_policy=args.ssl_policy,
                certificate_arn=args.certificate_arn,
                default_actions=forward,
                tags=self._tags("https", **{LISTENER_ROLE_TAG: "https"}),
                opts=child,
            )
            self.http_listener = aws.lb.Listener(
                f"{name}-http",
                load_balancer_arn=self.load_balancer.arn,
                port=80,
                protocol="HTTP",
                default_actions=[
                    aws.lb.ListenerDefaultActionArgs(
                        type="redirect",
                        redirect=aws.lb.ListenerDefaultActionRedirectArgs(
                            protocol="HTTPS", port="443", status_code="HTTP_301"
                        ),
                    )
                ],
                tags=self._tags("http", **{LISTENER_ROLE_TAG: "redirect-to-https"}),
                opts=child,
            )
        else:
            self.http_listener = aws.lb.Listener(
                f"{name}-http",
                load_balancer_arn=self.load_balancer.arn,
                port=80,
                protocol="HTTP",
                default_actions=forward,
                tags=self._tags("http", **{LISTENER_ROLE_TAG: "http-without-certificate"}),
                opts=child,
            )
        self.listeners = [li for li in (self.https_listener, self.http_listener) if li is not None]

    # Tasks -----------------------------------------------------------------------------------

    def _task_definition(self, child: pulumi.ResourceOptions) -> None:
        args, name = self._args, self._name
        command = list(args.health_check_command or default_health_check_command(
            args.container_port, args.health_check_path))
        definitions = pulumi.Output.all(self.image_uri, self.log_group.name, self.region).apply(
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
        self.task_definition = aws.ecs.TaskDefinition(
            f"{name}-task",
            family=args.family or name,
            cpu=str(args.cpu),
            memory=str(args.memory),
            network_mode="awsvpc",
            requires_compatibilities=["FARGATE"],
            runtime_platform=aws.ecs.TaskDefinitionRuntimePlatformArgs(
                operating_system_family="LINUX", cpu_architecture=args.cpu_architecture
            ),
            execution_role_arn=self.execution_role.arn,
            task_role_arn=self.task_role.arn,
            container_definitions=pulumi.Output.json_dumps(definitions),
            volumes=[aws.ecs.TaskDefinitionVolumeArgs(name=TMP_VOLUME)],
            tags=self._tags("task"),
            opts=child,
        )

    def _service(self, child: pulumi.ResourceOptions) -> None:
        args, name = self._args, self._name
        self.service = aws.ecs.Service(
            f"{name}-service",
            cluster=self.cluster.arn,
            task_definition=self.task_definition.arn,
            desired_count=args.desired_count,
            launch_type="FARGATE",
            platform_version="LATEST",
            network_configuration=aws.ecs.ServiceNetworkConfigurationArgs(
                subnets=list(args.private_subnet_ids),
                security_groups=[self.task_security_group.id],
                assign_public_ip=False,
            ),
            load_balancers=[
                aws.ecs.ServiceLoadBalancerArgs(
                    target_group_arn=self.target_group.arn,
                    container_name=args.container_name,
                    container_port=args.container_port,
                )
            ],
            deployment_controller=aws.ecs.ServiceDeploymentControllerArgs(type="ECS"),
            deployment_minimum_healthy_percent=args.deployment_minimum_healthy_percent,
            deployment_maximum_percent=args.deployment_maximum_percent,
            deployment_circuit_breaker=aws.ecs.ServiceDeploymentCircuitBreakerArgs(
                enable=True, rollback=True
            ),
            health_check_grace_period_seconds=60,
            availability_zone_rebalancing="ENABLED",
            enable_execute_command=args.enable_execute_command,
            enable_ecs_managed_tags=True,
            propagate_tags="SERVICE",
            wait_for_steady_state=False,
            tags=self._tags("service"),
            # The target group must be attached to a listener before the service registers
            # tasks in it, and the execution role must hold its policies before the first
            # task pulls the image and writes logs (tasks failing to start would trip the
            # deployment circuit breaker on the very first deployment).
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[*self.listeners, *self.execution_role.grants.values()],
                ignore_changes=["desiredCount"] if args.autoscaling else None,
            ),
        )
        self.scaling_target: Optional[aws.appautoscaling.Target] = None
        self.scaling_policy: Optional[aws.appautoscaling.Policy] = None
        scaling = args.autoscaling
        if scaling is None:
            return
        self.scaling_target = aws.appautoscaling.Target(
            f"{name}-scaling",
            service_namespace="ecs",
            scalable_dimension="ecs:service:DesiredCount",
            resource_id=pulumi.Output.concat("service/", self.cluster.name, "/", self.service.name),
            min_capacity=scaling.min_count,
            max_capacity=scaling.max_count,
            tags=self._tags("scaling"),
            opts=child,
        )
        self.scaling_policy = aws.appautoscaling.Policy(
            f"{name}-cpu-tracking",
            policy_type="TargetTrackingScaling",
            service_namespace=self.scaling_target.service_namespace,
            scalable_dimension=self.scaling_target.scalable_dimension,
            resource_id=self.scaling_target.resource_id,
            target_tracking_scaling_policy_configuration=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationArgs(
                target_value=scaling.target_cpu_percent,
                predefined_metric_specification=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgs(
                    predefined_metric_type="ECSServiceAverageCPUUtilization"
                ),
                scale_in_cooldown=scaling.scale_in_cooldown,
                scale_out_cooldown=scaling.scale_out_cooldown,
            ),
            opts=child,
        )

    # Alarms ----------------------------------------------------------------------------------

    def _alarms(self) -> None:
        args, name = self._args, self._name
        child = pulumi.ResourceOptions(parent=self)
        lb = {"LoadBalancer": self.load_balancer.arn_suffix}
        self.alarms = {
            "target-5xx": metric_alarm(
                f"{name}-target-5xx",
                AlarmArgs(
                    namespace="AWS/ApplicationELB",
                    metric_name="HTTPCode_Target_5XX_Count",
                    statistic="Sum",
                    threshold=args.http_5xx_alarm_threshold,
                    treat_missing_data="notBreaching",
                    dimensions=lb,
                    description=f"{name}: the service answered 5xx {args.http_5xx_alarm_threshold}+ "
                    "times in 5 minutes; check the container logs and the last deployment",
                ),
                args.alerts,
                child,
            ),
            "elb-5xx": metric_alarm(
                f"{name}-elb-5xx",
                AlarmArgs(
                    namespace="AWS/ApplicationELB",
                    metric_name="HTTPCode_ELB_5XX_Count",
                    statistic="Sum",
                    threshold=args.http_5xx_alarm_threshold,
                    treat_missing_data="notBreaching",
                    dimensions=lb,
                    description=f"{name}: the load balancer itself answered 5xx (no healthy "
                    "target, timeouts); check the target health and the service's tasks",
                ),
                args.alerts,
                child,
            ),
            "unhealthy-hosts": metric_alarm(
                f"{name}-unhealthy-hosts",
                AlarmArgs(
                    namespace="AWS/ApplicationELB",
                    metric_name="UnHealthyHostCount",
                    statistic="Maximum",
                    threshold=1,
                    period=60,
                    evaluation_periods=3,
                    datapoints_to_alarm=2,
                    treat_missing_data="notBreaching",
                    dimensions={**lb, "TargetGroup": self.target_group.arn_suffix},
                    description=f"{name}: a task fails the load balancer health check on "
                    f"{args.health_check_path}; check its logs and the deployment circuit breaker",
                ),
                args.alerts,
                child,
            ),
            "cpu-high": metric_alarm(
                f"{name}-cpu-high",
                AlarmArgs(
                    namespace="AWS/ECS",
                    metric_name="CPUUtilization",
                    statistic="Average",
                    threshold=args.cpu_alarm_percent,
                    evaluation_periods=3,
                    treat_missing_data="notBreaching",
                    dimensions={"ClusterName": self.cluster.name, "ServiceName": self.service.name},
                    description=f"{name}: average CPU at or above {args.cpu_alarm_percent}% for 15 "
                    "minutes; the service is saturated: raise the task cpu or the scaling maximum",
                ),
                args.alerts,
                child,
            ),
        }

    # Dashboard -------------------------------------------------------------------------------

    def widgets(self) -> list[Widget]:
        """Dashboard widgets: requests and 5xx, response time, target health, CPU and memory."""
        name = self._name
        lb = {"LoadBalancer": self.load_balancer.arn_suffix}
        targets = {"TargetGroup": self.target_group.arn_suffix, **lb}
        service = {"ClusterName": self.cluster.name, "ServiceName": self.service.name}
        elb = "AWS/ApplicationELB"
        return [
            MetricWidget(
                title=f"{name}: requests and 5xx",
                metrics=[
                    Metric(elb, "RequestCount", lb, label="requests"),
                    Metric(elb, "HTTPCode_Target_5XX_Count", lb, label="service 5xx"),
                    Metric(elb, "HTTPCode_ELB_5XX_Count", lb, label="load balancer 5xx"),
                ],
                stat="Sum",
            ),
            MetricWidget(
                title=f"{name}: response time (s)",
                metrics=[Metric(elb, "TargetResponseTime", lb, label="average")],
                stat="Average",
            ),
            MetricWidget(
                title=f"{name}: targets",
                metrics=[
                    Metric(elb, "HealthyHostCount", targets, label="healthy"),
                    Metric(elb, "UnHealthyHostCount", targets, label="unhealthy"),
                ],
                stat="Maximum",
                period=60,
            ),
            MetricWidget(
                title=f"{name}: CPU and memory (%)",
                metrics=[
                    Metric("AWS/ECS", "CPUUtilization", service, label="cpu"),
                    Metric("AWS/ECS", "MemoryUtilization", service, label="memory"),
                ],
                stat="Average",
            ),
        ]
