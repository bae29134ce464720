"""How long a deployment of the service may take, and the names the cluster fixes.

``pulumi up`` waits for the ECS service to reach a steady state (``wait_for_steady_state``):
the provider polls the service until its new deployment has finished, and fails the update
when it does not within the resource's create/update timeout. (Provider source,
terraform-provider-aws ``internal/service/ecs/service.go``: ``waitServiceStable`` is called
with ``d.Timeout(schema.TimeoutCreate)`` / ``d.Timeout(schema.TimeoutUpdate)``, default
20 minutes each, configurable since hashicorp/terraform-provider-aws#16184 / #16012; Pulumi's
``custom_timeouts`` option sets them). For a new deployment with the ECS controller it reads the service deployment's
status and returns an error on ``ROLLBACK_SUCCESSFUL``, ``ROLLBACK_FAILED`` and ``STOPPED``;
older providers reported a rolled-back deployment as a success:
hashicorp/terraform-provider-aws#19519, pulumi/pulumi-aws#4487.)

:func:`steady_state_timeout_seconds` is that timeout, derived from what a deployment waits
for, so a service that cannot become healthy fails the deploy in minutes, not after the
provider's fixed 20.
"""

from __future__ import annotations

import math
import re

#: Time one Fargate task may take to be placed, pull its image and start its container
#: before the load balancer's checks can pass. Not an AWS figure: an allowance this
#: component chooses (part of the margin of the timeout).
TASK_START_ALLOWANCE_SECONDS = 180
#: The timeout is this many times the expected duration of a deployment ...
STEADY_STATE_MARGIN = 2
#: ... plus this much (ECS reports steady state after the last old task has stopped).
STEADY_STATE_SLACK_SECONDS = 300

#: The log group Container Insights writes its performance log events to, for a cluster
#: (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Container-Insights-reference-performance-logs-ECS.html:
#: "in a log group named /aws/ecs/containerinsights/CLUSTER_NAME/performance"). Container
#: Insights creates it itself when the group does not exist (Container Insights reference:
#: "it automatically creates a log group for the performance log events"), without retention,
#: KMS key or tags, and nothing deletes it; no cluster setting names another group
#: (aws/containers-roadmap#2315). So the component creates it first, the cluster after it.
CONTAINER_INSIGHTS_LOG_GROUP = "/aws/ecs/containerinsights/{cluster}/performance"
#: An ECS cluster name: up to 255 letters, digits, hyphens and underscores
#: (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CreateCluster.html).
CLUSTER_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,255}$")


def container_insights_log_group_name(cluster_name: str) -> str:
    """``/aws/ecs/containerinsights/<cluster_name>/performance``."""
    return CONTAINER_INSIGHTS_LOG_GROUP.format(cluster=cluster_name)


def default_cluster_name(project: str, stack: str, name: str) -> str:
    """``<project>-<stack>-<name>``, unique per stack (a cluster name is unique in an account
    and region), with characters ECS does not accept replaced by ``-``."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", f"{project}-{stack}-{name}")[:255]


def cluster_name_problem(value: str) -> str | None:
    """Why ``value`` cannot name an ECS cluster, or None."""
    if CLUSTER_NAME_RE.match(value):
        return None
    return f"{value!r} is not an ECS cluster name (1-255 letters, digits, '-' or '_')"


def deployment_waves(minimum_healthy_percent: int, maximum_percent: int) -> int:
    """How many rounds of new tasks a rolling update needs: each round may add
    ``maximum - minimum`` percent of the desired count (at least one round)."""
    room = maximum_percent - minimum_healthy_percent
    return max(1, math.ceil(100 / room)) if room > 0 else 1


def steady_state_timeout_seconds(
    *,
    interval_seconds: int,
    healthy_threshold: int,
    unhealthy_threshold: int,
    grace_period_seconds: int,
    deregistration_delay_seconds: int,
    minimum_healthy_percent: int,
    maximum_percent: int,
) -> int:
    """The create/update timeout of the service, whole minutes, in seconds.

    One wave of a rolling update: a task starts (:data:`TASK_START_ALLOWANCE_SECONDS`), may
    take the health check grace period to start serving, then needs ``healthy_threshold``
    passing checks (and may first fail up to ``unhealthy_threshold`` of them) at
    ``interval_seconds``; the tasks it replaces drain for the deregistration delay. The
    timeout is :data:`STEADY_STATE_MARGIN` times the waves of the update
    (:func:`deployment_waves`) plus :data:`STEADY_STATE_SLACK_SECONDS`::

        2 x waves x (180 + grace + interval x (healthy + unhealthy) + deregistration) + 300
    """
    wave = (
        TASK_START_ALLOWANCE_SECONDS
        + grace_period_seconds
        + interval_seconds * (healthy_threshold + unhealthy_threshold)
        + deregistration_delay_seconds
    )
    waves = deployment_waves(minimum_healthy_percent, maximum_percent)
    total = STEADY_STATE_MARGIN * waves * wave + STEADY_STATE_SLACK_SECONDS
    return math.ceil(total / 60) * 60
