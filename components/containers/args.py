"""Arguments of :class:`~components.containers.ContainerService` and their checks.

:class:`ContainerServiceArgs` says every option of the web service (image, task size,
environment and secrets, scaling, load balancer, logs, protection) with the behaviour of its
default; :meth:`ContainerServiceArgs.problems` collects everything wrong with them at once.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pulumi

from components.containers.deployment import cluster_name_problem
from components.containers.validators import (
    _CONTAINER_NAME_RE,
    _NAME_RE,
    _TAG_RE,
    CONTAINER_INSIGHTS,
    CPU_ARCHITECTURES,
    DEFAULT_SSL_POLICY,
    HEALTH_CHECK_TIMEOUT_SECONDS,
    bucket_name_problem,
    certificate_arn_problem,
    environment_name_problem,
    fargate_size_problem,
    health_check_path_problem,
    image_uri_problem,
    load_balancer_az_problem,
    secret_arn_problem,
    secret_name_problem,
)
from components.kms import KeyInput
from components.monitoring import TopicInput


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

    key: KeyInput
    """The region key, or the ARN of an existing KMS key (its key policy must let CloudWatch
    Logs in this region encrypt the log group and let this account's IAM policies use it, for
    ECR and the execution role). Encrypts the repository and the log group; the execution
    role may decrypt with it (secrets encrypted with that key). Anything else is refused."""
    alerts: TopicInput
    """The region's alert topic, or the ARN of an existing SNS topic (its policy must let this
    account's CloudWatch alarms publish); every alarm notifies it."""
    vpc_id: pulumi.Input[str]
    """The VPC of the subnets."""
    public_subnet_ids: Sequence[pulumi.Input[str]]
    """Subnets of the load balancer, in at least two AZs."""
    private_subnet_ids: Sequence[pulumi.Input[str]]
    """Subnets of the tasks (no public IPs)."""
    access_log_bucket: pulumi.Input[str] | None
    """Name of the bucket that receives the S3 server access logs of the load balancer's log
    bucket (the region's access-log bucket). Required; ``None`` skips server access logging
    of that bucket explicitly (the policy pack then reports it), and is the value to give
    with ``load_balancer_log_bucket`` (no log bucket is created then)."""
    image_uri: str | None = None
    """Default: none (then ``build_context`` is required). A prebuilt image to run."""
    build_context: str | None = None
    """Default: none (then ``image_uri`` is required). Directory built with its Dockerfile
    by ``awsx.ecr.Image`` and pushed to the repository; relative to the program's working
    directory (the project root under ``pulumi up``)."""
    dockerfile: str | None = None
    """Default: ``Dockerfile`` in ``build_context``. Otherwise its path, relative like
    ``build_context``."""
    build_root: str | None = None
    """Default: the current working directory. Where relative ``build_context`` and
    ``dockerfile`` are found to check them and to compute the image tag."""
    image_tag: str | None = None
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
    health_check_interval_seconds: int = 15
    """Default: the load balancer checks each task every 15 seconds (6-300; the check itself
    times out after 5 seconds, and AWS requires the interval to be longer)."""
    healthy_threshold: int = 2
    """Default: a task serves traffic after 2 passing checks in a row (2-10)."""
    unhealthy_threshold: int = 3
    """Default: a task is unhealthy after 3 failing checks in a row (2-10)."""
    health_check_grace_period_seconds: int = 60
    """Default: ECS ignores failing health checks for 60 seconds after a task starts (raise it
    for an application that takes longer to start serving)."""
    deregistration_delay_seconds: int = 30
    """Default: a task being replaced drains its connections for 30 seconds (0-3600)."""
    health_check_command: Sequence[str] | None = None
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
    autoscaling: AutoscalingArgs | None = None
    """Default: a fixed desired count. When given, CPU target tracking scales between its
    bounds and Pulumi leaves the desired count alone (``ignore_changes``)."""
    deployment_minimum_healthy_percent: int = 100
    """Default: a deployment never drops below the desired count of healthy tasks."""
    deployment_maximum_percent: int = 200
    """Default: a deployment may run twice the desired count while it replaces tasks."""
    enable_execute_command: bool = False
    """Default: no ECS Exec into the containers."""
    certificate_arn: pulumi.Input[str] | None = None
    """Default: none: one plain HTTP listener on port 80 (a recorded exception). When given,
    an HTTPS listener on 443 with ``ssl_policy`` and port 80 redirecting to it. An Output
    (a certificate validation's ARN) makes the listener wait for it."""
    ssl_policy: str = DEFAULT_SSL_POLICY
    """Default: ELBSecurityPolicy-TLS13-1-2-2021-06. Must be a TLS 1.3 policy."""
    idle_timeout: int = 60
    """Default: idle connections are closed after 60 seconds."""
    deletion_protection: bool = False
    """Default: the load balancer can be deleted (ephemeral stacks). True in production."""
    load_balancer_log_bucket: pulumi.Input[str] | None = None
    """Default: the service creates its own log bucket ``<name>-alb-logs`` (SSE-S3, as load
    balancer log delivery requires; objects expire after ``access_log_expiration_days``)
    that only Elastic Load Balancing may write to, and only this account's logs. When given,
    the name of an existing bucket whose policy lets Elastic Load Balancing write this
    account's access logs under ``alb/`` (the statement
    :func:`~components.containers.elb_log_delivery_statement` builds for the region);
    nothing is created, and ``access_log_bucket`` must then be None (it only configures the
    created bucket)."""
    load_balancer_log_bucket_policy: pulumi.Resource | None = None
    """Default: nothing to wait for (the existing bucket's policy predates this program).
    With ``load_balancer_log_bucket``, the resource that grants Elastic Load Balancing
    delivery to it (its ``aws.s3.BucketPolicy``) when the same program creates it: the load
    balancer waits for it, because AWS checks the permission when access logs are enabled."""
    access_log_expiration_days: int = 90
    """Default: load balancer access logs expire after 90 days (in the created log bucket)."""
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
    protected and retained on delete; the Container Insights log group is protected (not
    retained: its name is fixed, and a group left behind would block the next create)."""
    family: str | None = None
    """Default: the task definition family is the component name."""
    cluster_name: str | None = None
    """Default: ``<project>-<stack>-<component name>``. The ECS cluster's name, fixed before
    the cluster exists so that its Container Insights log group
    (``/aws/ecs/containerinsights/<cluster_name>/performance``) can be created first, with
    retention and the key. Unique in the account and region."""
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
        if (
            self.image_tag is not None
            and _TAG_RE.match(self.image_tag)
            and len(f"{name}-{self.image_tag}") > 128
        ):
            out.append(
                f"image_tag: {self.image_tag!r} is too long; the image is pushed as "
                f"'{name}-<image_tag>', which may have at most 128 characters"
            )
        size = fargate_size_problem(self.cpu, self.memory)
        if size:
            out.append(f"cpu/memory: {size}")
        if self.cpu_architecture not in CPU_ARCHITECTURES:
            out.append(
                f"cpu_architecture: {self.cpu_architecture!r} is not one of {list(CPU_ARCHITECTURES)}"
            )
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
        out += self._health_check_problems()
        if self.container_insights not in CONTAINER_INSIGHTS:
            out.append(
                f"container_insights: {self.container_insights!r} is not one of {list(CONTAINER_INSIGHTS)}"
            )
        for key in (
            "log_retention_days",
            "untagged_image_expiry_days",
            "keep_tagged_images",
            "access_log_expiration_days",
            "http_5xx_alarm_threshold",
        ):
            if getattr(self, key) < 1:
                out.append(f"{key}: must be at least 1")
        if not 0 < self.cpu_alarm_percent <= 100:
            out.append(f"cpu_alarm_percent: {self.cpu_alarm_percent} is outside (0, 100]")
        az_problem = load_balancer_az_problem(len(list(self.public_subnet_ids)))
        if az_problem:
            out.append(f"public_subnet_ids: {az_problem}")
        if not list(self.private_subnet_ids):
            out.append("private_subnet_ids: at least one subnet is needed for the tasks")
        return out

    def _image_problems(self) -> list[str]:
        out: list[str] = []
        if self.image_uri is not None and self.build_context is not None:
            out.append("Only one of [image_uri] and [build_context] can be given")
        elif self.image_uri is None and self.build_context is None:
            out.append(
                "image: give [image_uri] (a prebuilt image) or [build_context] (a Dockerfile to build)"
            )
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
                dockerfile = (
                    self.resolve(self.dockerfile) if self.dockerfile else context / "Dockerfile"
                )
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
            name_problem = secret_name_problem(env_name, self.environment)
            if name_problem:
                out.append(f"secrets: {name_problem}")
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
                out.append(
                    f"autoscaling.target_cpu_percent: {scaling.target_cpu_percent} is outside 1..100"
                )
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

    def _health_check_problems(self) -> list[str]:
        """Ranges the target group and the service accept (botocore's elbv2 model: interval
        5-300, thresholds 2-10, ``deregistration_delay.timeout_seconds`` 0-3600; the interval
        must exceed the 5-second check timeout, or AWS answers "Health check interval must
        be greater than the timeout": hashicorp/terraform-provider-aws#48071)."""
        out: list[str] = []
        bounds = (
            ("health_check_interval_seconds", HEALTH_CHECK_TIMEOUT_SECONDS + 1, 300),
            ("healthy_threshold", 2, 10),
            ("unhealthy_threshold", 2, 10),
            ("deregistration_delay_seconds", 0, 3600),
        )
        for key, low, high in bounds:
            value = getattr(self, key)
            if not low <= value <= high:
                out.append(f"{key}: {value} is outside {low}..{high}")
        if self.health_check_grace_period_seconds < 0:
            out.append(
                f"health_check_grace_period_seconds: {self.health_check_grace_period_seconds} "
                "is below zero"
            )
        if self.cluster_name is not None:
            problem = cluster_name_problem(self.cluster_name)
            if problem:
                out.append(f"cluster_name: {problem}")
        if self.load_balancer_log_bucket_policy is not None and (
            self.load_balancer_log_bucket is None
        ):
            out.append(
                "load_balancer_log_bucket_policy: only with load_balancer_log_bucket (the "
                "created log bucket's own policy is waited for already)"
            )
        return out

    def _load_balancer_problems(self) -> list[str]:
        out: list[str] = []
        if isinstance(self.certificate_arn, str):
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
        if self.load_balancer_log_bucket is not None:
            problem = bucket_name_problem(self.load_balancer_log_bucket)
            if problem:
                out.append(f"load_balancer_log_bucket: {problem}")
            if self.access_log_bucket is not None:
                out.append(
                    "Only one of [load_balancer_log_bucket] and [access_log_bucket] can be given "
                    "(access_log_bucket receives the server access logs of the log bucket the "
                    "service creates; with an existing log bucket, give None)"
                )
        return out

    def resolve(self, path: str) -> Path:
        """``path`` as the build sees it: relative paths from ``build_root`` (default: cwd)."""
        base = Path(self.build_root) if self.build_root is not None else Path(os.getcwd())
        return base / path


def service_tags(
    name: str, args: ContainerServiceArgs, purpose: str, **extra: str
) -> dict[str, str]:
    """Tags of the service's child ``<name>-<purpose>``: ``Name``, then ``args.tags``, then
    ``extra`` (one precedence rule for every child)."""
    return {"Name": f"{name}-{purpose}", **args.tags, **extra}
