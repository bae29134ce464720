"""The component: :class:`ContainerService`, an ECS Fargate web service behind an application
load balancer, built in named steps from the package's parts.

This module owns the ECS cluster (Container Insights, whose log group it creates first), the
service (private subnets without public IPs, rolling updates with a deployment circuit breaker
that rolls back; ``pulumi up`` waits for a steady state, with a timeout derived from the
health checks in :mod:`.deployment`), the optional CPU target-tracking autoscaling (the
desired count is then left to the autoscaler: ``ignore_changes``), the alarms on 5xx,
unhealthy hosts and CPU to the alert topic, and the dashboard widgets. The repository and image (:mod:`.registry`), the tasks and their roles
(:mod:`.task`) and the load balancer and security groups (:mod:`.load_balancer`) are built by
the functions of their modules, in the order the constructor lists them.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pulumi_awsx as awsx

from components.checks import present, raise_problems
from components.containers.args import ContainerServiceArgs, service_tags
from components.containers.deployment import (
    container_insights_log_group_name,
    default_cluster_name,
    steady_state_timeout_seconds,
)
from components.containers.load_balancer import load_balancer, security_groups
from components.containers.registry import ImageBuild, ecr_repository_and_image
from components.containers.task import task_definition, task_log_group, task_roles
from components.containers.validators import DOCKER_PLATFORMS
from components.kms import ExistingKey, RegionKey, as_key, key_input_problem
from components.monitoring import (
    AlarmArgs,
    AlertTopic,
    ExistingAlertTopic,
    Metric,
    MetricWidget,
    Widget,
    alert_topic_input_problem,
    as_alert_topic,
    metric_alarm,
)


class ContainerService(pulumi.ComponentResource):
    """An ECS Fargate web service behind an application load balancer (see the package doc)."""

    def __init__(
        self, name: str, args: ContainerServiceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        problems = args.problems(name)
        problems += present(
            key_input_problem(args.key, "key"), alert_topic_input_problem(args.alerts, "alerts")
        )
        raise_problems(f"ContainerService {name!r}", problems)
        key = as_key(args.key, "key")
        alerts = as_alert_topic(args.alerts, "alerts")
        super().__init__("mlops:containers:ContainerService", name, None, opts)
        self._name = name
        self._args = args
        #: The key given (a RegionKey, or an existing key used by its ARN).
        self.key: RegionKey | ExistingKey = key
        #: The alert topic given (an AlertTopic, or an existing topic used by its ARN).
        self.alerts: AlertTopic | ExistingAlertTopic = alerts
        invoke = pulumi.InvokeOptions(parent=self)
        self.partition = aws.get_partition_output(opts=invoke).partition
        self.region = aws.get_region_output(opts=invoke).region
        self.account_id = aws.get_caller_identity_output(opts=invoke).account_id

        self._repository()
        self.log_group = task_log_group(name, args, key, self)
        self._roles()
        self._cluster()
        self._security_groups()
        self._load_balancer()
        self.task_definition = task_definition(
            name,
            args,
            parent=self,
            image_uri=self.image_uri,
            log_group_name=self.log_group.name,
            region=self.region,
            roles=self._task_roles,
        )
        self._service()
        self._autoscaling()
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
        return service_tags(self._name, self._args, purpose, **extra)

    # Steps -----------------------------------------------------------------------------------

    def _repository(self) -> None:
        """The repository and, with ``build_context``, the image built into it."""
        args, name = self._args, self._name
        dockerfile = args.resolve(args.dockerfile) if args.dockerfile else None
        built = ecr_repository_and_image(
            name,
            parent=self,
            key=self.key,
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
        self.image: awsx.ecr.Image | None = built.image
        # The tag pushed to the repository (unique in the stack; see built_image_tag).
        self.image_tag: str | None = built.image_tag
        if built.image_uri is not None:
            self.image_uri: pulumi.Output[str] = built.image_uri
        else:
            assert args.image_uri is not None  # ContainerServiceArgs.problems: one of the two
            self.image_uri = pulumi.Output.from_input(args.image_uri)

    def _roles(self) -> None:
        """The execution role (with its grants) and the task role."""
        source_arn = pulumi.Output.concat(
            "arn:", self.partition, ":ecs:", self.region, ":", self.account_id, ":*"
        )
        self._task_roles = task_roles(
            self._name,
            self._args,
            parent=self,
            key=self.key,
            repository_arn=self.repository.arn,
            log_group_arn=self.log_group.arn,
            source_arn=source_arn,
        )
        self.execution_role = self._task_roles.execution
        self.task_role = self._task_roles.task

    def _cluster(self) -> None:
        """The cluster, named in advance, and before it the log group its Container Insights
        writes to (retention, the key, deleted with the stack; see
        :data:`~components.containers.deployment.CONTAINER_INSIGHTS_LOG_GROUP`)."""
        args, name = self._args, self._name
        #: The cluster's name (``cluster_name``, or unique per project and stack).
        self.cluster_name: str = args.cluster_name or default_cluster_name(
            pulumi.get_project(), pulumi.get_stack(), name
        )
        self.insights_log_group = aws.cloudwatch.LogGroup(
            f"{name}-insights",
            name=container_insights_log_group_name(self.cluster_name),
            retention_in_days=args.log_retention_days,
            kms_key_id=self.key.arn,
            tags=self._tags("insights"),
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        self.cluster = aws.ecs.Cluster(
            f"{name}-cluster",
            name=self.cluster_name,
            settings=[
                aws.ecs.ClusterSettingArgs(name="containerInsights", value=args.container_insights)
            ],
            tags=self._tags("cluster"),
            # Container Insights creates its log group when it is missing: it must exist first.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.insights_log_group]),
        )

    def _security_groups(self) -> None:
        groups = security_groups(self._name, self._args, self)
        self.listener_ports = groups.listener_ports
        self.load_balancer_security_group = groups.load_balancer
        self.task_security_group = groups.tasks
        self.security_group_rules = groups.rules
        self.task_security_group_rules = groups.task_rules

    def _load_balancer(self) -> None:
        parts = load_balancer(
            self._name,
            self._args,
            parent=self,
            security_group=self.load_balancer_security_group,
            account_id=self.account_id,
            region=self.region,
            partition=self.partition,
        )
        #: Prefix of the log bucket's own S3 server access logs in ``access_log_bucket``.
        self.access_log_prefix = parts.access_log_prefix
        #: The created log bucket; None when ``load_balancer_log_bucket`` names an existing one.
        self.log_bucket = parts.log_bucket
        self.load_balancer = parts.load_balancer
        self.target_group = parts.target_group
        self.https_listener = parts.https_listener
        self.http_listener = parts.http_listener
        self.listeners = parts.listeners

    def _service(self) -> None:
        """The ECS service: private subnets, no public IP, rolling updates that roll back, and
        a deploy that fails unless the service reaches a steady state in time."""
        args, name = self._args, self._name
        #: Seconds ``pulumi up`` waits for a steady state on create and on update.
        self.steady_state_timeout_seconds = steady_state_timeout_seconds(
            interval_seconds=args.health_check_interval_seconds,
            healthy_threshold=args.healthy_threshold,
            unhealthy_threshold=args.unhealthy_threshold,
            grace_period_seconds=args.health_check_grace_period_seconds,
            deregistration_delay_seconds=args.deregistration_delay_seconds,
            minimum_healthy_percent=args.deployment_minimum_healthy_percent,
            maximum_percent=args.deployment_maximum_percent,
        )
        timeout = f"{self.steady_state_timeout_seconds // 60}m"
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
            health_check_grace_period_seconds=args.health_check_grace_period_seconds,
            availability_zone_rebalancing="ENABLED",
            enable_execute_command=args.enable_execute_command,
            enable_ecs_managed_tags=True,
            propagate_tags="SERVICE",
            # Wait until the deployment has finished (see components.containers.deployment:
            # the provider fails the update on a timeout, and on a rollback).
            wait_for_steady_state=True,
            tags=self._tags("service"),
            # The target group must be attached to a listener before the service registers
            # tasks in it, the execution role must hold its policies before the first task
            # pulls the image and writes logs, and the tasks' security group rules must
            # exist before tasks pull (HTTPS out) and are health-checked (in from the load
            # balancer): tasks failing to start would trip the deployment circuit breaker on
            # the very first deployment.
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[
                    *self.listeners,
                    *self.execution_role.grants.values(),
                    *self.task_security_group_rules,
                ],
                ignore_changes=["desiredCount"] if args.autoscaling else None,
                custom_timeouts=pulumi.CustomTimeouts(create=timeout, update=timeout),
            ),
        )

    def _autoscaling(self) -> None:
        """CPU target tracking between the autoscaling bounds, when asked for."""
        args, name = self._args, self._name
        child = pulumi.ResourceOptions(parent=self)
        self.scaling_target: aws.appautoscaling.Target | None = None
        self.scaling_policy: aws.appautoscaling.Policy | None = None
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
        """5xx from the service and from the load balancer, unhealthy hosts, high CPU."""
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
                self.alerts,
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
                self.alerts,
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
                self.alerts,
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
                self.alerts,
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
