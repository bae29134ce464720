"""Container service: an ECS Fargate service behind an application load balancer.

:class:`ContainerService` owns everything one web service needs in a region:

- an ECR repository (scan on push, immutable tags, KMS, lifecycle policy) and the image,
  either given as a URI or built from a Dockerfile with ``awsx.ecr.Image`` (tagged with the
  component's name and a digest of the build context and platform, so an immutable
  repository gets a new tag exactly when the sources change, and two regions' builds never
  share a tag, which awsx would turn into one duplicate resource);
- an ECS cluster with Container Insights (its performance log group created first, with
  retention and the key) and a Fargate task definition whose one container
  is non-privileged, has a read-only root filesystem (with a writable ``/tmp`` volume),
  drops every Linux capability, logs to its own KMS-encrypted log group, is health-checked,
  and takes secrets from SSM Parameter Store / Secrets Manager, never from plain environment;
- an execution role that can pull from this repository only, write to its own log group
  only and read only the given secrets, and a task role with only the grants a caller adds
  (``lake.grant_read(service.task_role, zone="models")``);
- the service in private subnets without public IPs, rolling updates with a deployment
  circuit breaker that rolls back, a deploy that fails unless the service reaches a steady
  state within a timeout derived from its health checks (:mod:`.deployment`), and optional CPU target-tracking autoscaling (the desired
  count is then left to the autoscaler: ``ignore_changes``);
- an internet-facing application load balancer in public subnets (invalid headers dropped,
  defensive desync mitigation, access logs to a locked-down bucket it creates or an existing
  one, optional deletion protection), HTTPS with a TLS 1.3 policy and a redirecting port 80
  when a certificate is given, otherwise one plain HTTP listener (``<name>-http``, tagged
  ``listener=http-without-certificate``; recorded in the policy pack's exceptions);
- security groups where only the load balancer is reachable from the internet and the tasks
  only from the load balancer; alarms on 5xx, unhealthy hosts and CPU to the alert topic.

The key and the alert topic are the region's own or existing ones given by ARN.

Where each part lives:

- :mod:`.validators`: Fargate sizes and the pure checks of image references, secret and
  certificate ARNs, environment names and health-check paths (shared with the stack config);
- :mod:`.registry`: the repository, the image build and its tag (shared with the batch jobs);
- :mod:`.args`: :class:`ContainerServiceArgs` and :class:`AutoscalingArgs` and their checks;
- :mod:`.deployment`: the steady-state timeout and the cluster's names;
- :mod:`.task`: the container definition, the log group, the roles and the task definition;
- :mod:`.load_balancer`: the load balancer, its log bucket, listeners and security groups;
- :mod:`.service`: :class:`ContainerService` itself, the ECS service, autoscaling and alarms.

Pure helpers (Fargate sizes, image references, secret ARNs, documents) are plain functions
with plain tests.
"""

from __future__ import annotations

from components.containers.args import AutoscalingArgs, ContainerServiceArgs
from components.containers.deployment import (
    container_insights_log_group_name,
    default_cluster_name,
    deployment_waves,
    steady_state_timeout_seconds,
)
from components.containers.load_balancer import (
    ALB_LOG_PREFIX,
    ELB_ACCOUNT_IDS,
    ELB_LOG_DELIVERY_PRINCIPAL,
    LISTENER_ROLE_TAG,
    elb_log_delivery_principal,
    elb_log_delivery_statement,
)
from components.containers.registry import (
    ImageBuild,
    RepositoryAndImage,
    build_context_digest,
    built_image_tag,
    create_ecr_repository,
    ecr_image,
    ecr_lifecycle_policy,
    ecr_repository_and_image,
)
from components.containers.service import ContainerService
from components.containers.task import (
    TMP_VOLUME,
    container_definition,
    default_health_check_command,
)
from components.containers.validators import (
    CONTAINER_INSIGHTS,
    CPU_ARCHITECTURES,
    DEFAULT_SSL_POLICY,
    DOCKER_PLATFORMS,
    FARGATE_MEMORY,
    bucket_name_problem,
    certificate_arn_problem,
    certificate_region,
    environment_name_problem,
    fargate_size_problem,
    health_check_path_problem,
    image_uri_problem,
    secret_arn_problem,
    secret_grant_resource,
)

__all__ = [
    "ALB_LOG_PREFIX",
    "CONTAINER_INSIGHTS",
    "CPU_ARCHITECTURES",
    "DEFAULT_SSL_POLICY",
    "DOCKER_PLATFORMS",
    "ELB_ACCOUNT_IDS",
    "ELB_LOG_DELIVERY_PRINCIPAL",
    "FARGATE_MEMORY",
    "LISTENER_ROLE_TAG",
    "TMP_VOLUME",
    "AutoscalingArgs",
    "ContainerService",
    "ContainerServiceArgs",
    "ImageBuild",
    "RepositoryAndImage",
    "bucket_name_problem",
    "build_context_digest",
    "built_image_tag",
    "certificate_arn_problem",
    "certificate_region",
    "container_definition",
    "container_insights_log_group_name",
    "create_ecr_repository",
    "default_cluster_name",
    "default_health_check_command",
    "deployment_waves",
    "ecr_image",
    "ecr_lifecycle_policy",
    "ecr_repository_and_image",
    "elb_log_delivery_principal",
    "elb_log_delivery_statement",
    "environment_name_problem",
    "fargate_size_problem",
    "health_check_path_problem",
    "image_uri_problem",
    "secret_arn_problem",
    "secret_grant_resource",
    "steady_state_timeout_seconds",
]
