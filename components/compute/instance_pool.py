"""Instance pools: an Auto Scaling group of identical private instances with startup scripts.

Owns :class:`InstancePool`. The pool is built from a launch template (IMDSv2 only,
KMS-encrypted gp3 root volume, no public IP, an instance profile with Session Manager and
CloudWatch agent access, user data from :class:`~components.compute.startup_scripts.StartupScripts`),
with optional office-hours schedules (:mod:`components.compute.schedules`), CPU/memory/disk
alarms, an optional shared EFS file system (:mod:`components.compute.shared_drive`) and an
optional network load balancer (:mod:`components.compute.pool_load_balancer`). What a pool is
given, and the checks made before anything is registered, are in
:mod:`components.compute.pool_args`.

Office-hours stops scale the group to zero, which *terminates* the instances: every start in
the morning is a new instance's first boot (first-boot work, then every-boot work). What must
survive the night belongs on the shared file system (or in S3).

A *standby* pool (``InstancePoolArgs.standby``, the warm standby in the standby region) is the
same pool at zero capacity: same launch template and startup scripts, the group at min 0 /
desired 0 / max ``max_size``, no scheduled actions, and its capacity left to ``python -m
stacks failover`` (ignored by later deployments). Its shared drive is the replica of the
active pool's, and after a failover the same file system promoted to writable, mounted by the
same id (:mod:`components.compute.shared_drive`).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pulumi
import pulumi_aws as aws

from components.compute.cloudwatch_agent import CloudWatchAgentConfig
from components.compute.pool_args import (
    DEFAULT_GPU_IMAGE_ID,
    DEFAULT_GPU_VOLUME_SIZE_GB,
    DEFAULT_IMAGE_ID,
    DEFAULT_VOLUME_SIZE_GB,
    InstancePoolArgs,
    log_group_prefix,
    pool_problems,
    pool_startup,
)
from components.compute.pool_load_balancer import PoolEntryPoint
from components.compute.pool_monitoring import failure_notifications, pool_alarms, pool_widgets
from components.compute.schedules import scheduled_actions
from components.compute.shared_drive import SharedDrive
from components.compute.validators import problem_report
from components.iam import ServiceRole, ServiceRoleArgs, Statement
from components.kms import ExistingKey, RegionKey, as_key
from components.monitoring import AlertTopic, ExistingAlertTopic, MetricWidget, as_alert_topic

#: Auto Scaling group metrics enabled for the dashboard (no extra charge).
ASG_METRICS = (
    "GroupDesiredCapacity",
    "GroupInServiceInstances",
    "GroupPendingInstances",
    "GroupTerminatingInstances",
)
#: Instance refresh replaces running instances when the launch template changes: new ones
#: first (up to 200% of the capacity), so the pool never drops below its desired size.
REFRESH_MIN_HEALTHY_PERCENT = 100
REFRESH_MAX_HEALTHY_PERCENT = 200
#: What the Auto Scaling service-linked role may do with the region key so that it can
#: create and attach the encrypted root volumes (AWS's documented grant for EBS with a CMK).
EBS_KEY_GRANT_OPERATIONS = (
    "Encrypt",
    "Decrypt",
    "ReEncryptFrom",
    "ReEncryptTo",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "DescribeKey",
    "CreateGrant",
)
#: What the launch template tags for each instance Auto Scaling launches (the resource types a
#: launch template can tag, spot requests aside: Amazon EC2 API Reference,
#: LaunchTemplateTagSpecificationRequest). Each instance has all three.
LAUNCHED_KINDS = ("instance", "volume", "network-interface")
#: Session Manager (instead of SSH), the minimum AWS documents for the instance role:
#: registering the managed instance, and the channel actions (no resource-level permissions).
SSM_CHANNEL_ACTIONS = (
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
)


def service_linked_role_suffix(project: str, stack: str, name: str) -> str:
    """A suffix for the pool's Auto Scaling service-linked role, unique per project, stack and
    pool, readable, and at most 35 characters (role names end at 64)."""
    readable = re.sub(r"[^A-Za-z0-9_+=,.@-]", "-", f"{stack}-{name}")[:26].strip("-")
    digest = hashlib.sha256(f"{project}\0{stack}\0{name}".encode()).hexdigest()[:8]
    return f"{readable}-{digest}"


class InstancePool(pulumi.ComponentResource):
    """An Auto Scaling group of identical private instances with startup scripts.

    Children: launch template, Auto Scaling group (with a service-linked role of its own and a
    grant on the key so it can create the encrypted volumes), instance role and profile,
    security group, log group, schedules, alarms, a rule forwarding Auto Scaling failures to
    the alert topic, and optionally the shared file system and the load balancer.

    The key and the alert topic are the region's or existing ones given by ARN; a wrong value
    is reported with the other problems, before anything is registered.
    """

    def __init__(
        self, name: str, args: InstancePoolArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        problems = pool_problems(name, args)
        if problems:
            raise ValueError(problem_report(f"InstancePool {name!r}", problems))
        key = as_key(args.key, "key")
        alerts = as_alert_topic(args.alerts, "alerts")
        super().__init__("mlops:compute:InstancePool", name, None, opts)
        self._name = name
        self._args = args
        self.key: RegionKey | ExistingKey = key
        """The key the pool encrypts with: the region key, or an existing key given by ARN."""
        self.alerts: AlertTopic | ExistingAlertTopic = alerts
        """The topic the pool's alarms and failure notifications go to."""
        self._settings()
        self._security_group_and_logs()
        self._instance_role()
        self._shared_drive()
        for grant in args.grants:
            grant(self.role)
        self.launch_template = self._launch_template()
        self._entry_point()
        self._autoscaling_role()
        self.standby = args.standby
        """True for a warm standby: the group runs at zero until failover scales it."""
        self.group = self._group(args)
        self.group_name = self.group.name
        self.schedules = self._schedules()
        self._monitoring()
        self.register_outputs(
            {
                "group_name": self.group.name,
                "launch_template_id": self.launch_template.id,
                "role_arn": self.role.arn,
                "file_system_id": self.file_system_id,
                "load_balancer_dns_name": self.load_balancer.dns_name
                if self.load_balancer
                else None,
            }
        )

    # -- children ---------------------------------------------------------------------------

    def _settings(self) -> None:
        """Where the pool runs (region, account, partition) and what its arguments default
        to: the agent's namespace, the image and the root volume size."""
        args = self._args
        invoke = pulumi.InvokeOptions(parent=self)
        self._region = aws.get_region_output(opts=invoke).region
        self._account = aws.get_caller_identity_output(opts=invoke).account_id
        self._partition = aws.get_partition_output(opts=invoke).partition
        self.namespace = (args.startup.cloudwatch_agent or CloudWatchAgentConfig()).namespace
        self.gpu = args.gpu
        self.image_id = args.image_id or (DEFAULT_GPU_IMAGE_ID if args.gpu else DEFAULT_IMAGE_ID)
        self.volume_size_gb = args.volume_size_gb or (
            DEFAULT_GPU_VOLUME_SIZE_GB if args.gpu else DEFAULT_VOLUME_SIZE_GB
        )

    def _security_group_and_logs(self) -> None:
        """The instances' security group (HTTPS out; nothing in unless a load balancer adds
        it) and the log group the agent ships the startup logs to."""
        name, args = self._name, self._args
        child = pulumi.ResourceOptions(parent=self)
        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-sg",
            vpc_id=args.vpc_id,
            description=(
                f"Instances of pool {name}: inbound only from its load balancer; outbound "
                "HTTPS and NFS to its file system"
            ),
            tags=self._tags("sg"),
            opts=child,
        )
        self.egress_rules = [
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-https-out",
                security_group_id=self.security_group.id,
                description="HTTPS to AWS APIs (SSM, CloudWatch, S3) and package repositories",
                ip_protocol="tcp",
                from_port=443,
                to_port=443,
                cidr_ipv4="0.0.0.0/0",
                opts=child,
            )
        ]
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name_prefix=log_group_prefix(name),
            retention_in_days=args.log_retention_days,
            kms_key_id=self.key.arn,
            tags=self._tags("logs"),
            opts=child,
        )

    def _instance_role(self) -> None:
        """The instance role (Session Manager and agent grants) and its instance profile."""
        name = self._name
        child = pulumi.ResourceOptions(parent=self)
        self.role = ServiceRole(
            f"{name}-role",
            ServiceRoleArgs(
                service="ec2.amazonaws.com",
                description=f"Instances of pool {name}: Session Manager, CloudWatch agent, grants",
                tags=dict(self._args.tags),
            ),
            opts=child,
        )
        self.instance_profile = aws.iam.InstanceProfile(
            f"{name}-profile", role=self.role.role_name, tags=self._tags("profile"), opts=child
        )
        self._grant_session_manager()
        self._grant_agent()

    def _grant_session_manager(self) -> None:
        """Session Manager: register the instance, open the session channels; nothing else."""
        instances = pulumi.Output.format(
            "arn:{0}:ec2:{1}:{2}:instance/*", self._partition, self._region, self._account
        )
        self.role.grant(
            "session-manager",
            [
                Statement(
                    sid="RegisterManagedInstance",
                    actions=("ssm:UpdateInstanceInformation",),
                    resources=[instances],
                ),
                Statement(sid="SessionChannels", actions=SSM_CHANNEL_ACTIONS, resources=["*"]),
            ],
        )

    def _grant_agent(self) -> None:
        """The CloudWatch agent: metrics in its namespace only, logs to the pool's group only,
        and instance tags (for the Auto Scaling group dimension)."""
        group = self.log_group.arn
        self.role.grant(
            "cloudwatch-agent",
            [
                Statement(
                    sid="PublishPoolMetrics",
                    actions=("cloudwatch:PutMetricData",),
                    resources=["*"],
                    conditions={"StringEquals": {"cloudwatch:namespace": self.namespace}},
                ),
                Statement(sid="ReadInstanceTags", actions=("ec2:DescribeTags",), resources=["*"]),
                Statement(
                    sid="ShipStartupLogs",
                    actions=(
                        "logs:CreateLogStream",
                        "logs:DescribeLogStreams",
                        "logs:PutLogEvents",
                    ),
                    resources=[group, pulumi.Output.concat(group, ":log-stream:*")],
                ),
            ],
        )

    def _shared_drive(self) -> None:
        """The shared file system, when one is asked for (:mod:`components.compute.shared_drive`);
        its NFS egress joins the instances' egress rules, which the group waits for."""
        self.shared_drive: SharedDrive | None = None
        self.file_system: aws.efs.FileSystem | None = None
        """The pool's own file system (none for a standby, which mounts a replica)."""
        self.file_system_id: pulumi.Output[str] | None = None
        """The id of the file system the instances mount: the pool's own, or the replica."""
        self.replication: aws.efs.ReplicationConfiguration | None = None
        self.replica_file_system_id: pulumi.Output[str] | None = None
        """With ``shared_file_system.replication``: the replica's id, for the standby pool
        (None once the replica is promoted: the pool then declares no replication)."""
        self.backup_policy: aws.efs.BackupPolicy | None = None
        self.access_point: aws.efs.AccessPoint | None = None
        self.file_system_security_group: aws.ec2.SecurityGroup | None = None
        self.mount_targets: list[aws.efs.MountTarget] = []
        self.file_system_ingress: aws.vpc.SecurityGroupIngressRule | None = None
        self.file_system_policy: aws.efs.FileSystemPolicy | None = None
        args = self._args
        if args.shared_file_system is None:
            return
        drive = SharedDrive(
            self._name,
            args.shared_file_system,
            vpc_id=args.vpc_id,
            subnet_ids=args.subnet_ids,
            key_arn=self.key.arn,
            instances_security_group=self.security_group,
            role=self.role,
            protect=args.protect,
            tags=self._tags,
            parent=self,
            file_system_arn_prefix=pulumi.Output.format(
                "arn:{0}:elasticfilesystem:{1}:{2}:file-system/",
                self._partition,
                self._region,
                self._account,
            ),
        )
        self.shared_drive = drive
        self.file_system, self.backup_policy = drive.file_system, drive.backup_policy
        self.file_system_id = drive.file_system_id
        self.replication = drive.replication
        self.replica_file_system_id = drive.replica_file_system_id
        self.file_system_security_group = drive.security_group
        self.file_system_ingress = drive.ingress
        self.egress_rules.append(drive.egress_rule)
        self.mount_targets = drive.mount_targets
        self.access_point, self.file_system_policy = drive.access_point, drive.policy

    def _launch_template(self) -> aws.ec2.LaunchTemplate:
        """IMDSv2 only, encrypted gp3 root volume, no public IP, the instance profile, and the
        user data rendered once the log group and file system identifiers are known."""
        name, args = self._name, self._args
        self.user_data = pulumi.Output.all(
            self.log_group.name,
            self.file_system_id,
            self.access_point.id if self.access_point is not None else None,
            self._region,
        ).apply(lambda v: pool_startup(args, v[0], v[1], v[2], v[3]).render_base64())
        return aws.ec2.LaunchTemplate(
            f"{name}-lt",
            description=f"Instances of pool {name}",
            image_id=self.image_id,
            key_name=args.key_name,
            user_data=self.user_data,
            update_default_version=True,
            iam_instance_profile=aws.ec2.LaunchTemplateIamInstanceProfileArgs(
                arn=self.instance_profile.arn
            ),
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled",
                http_tokens="required",
                http_put_response_hop_limit=args.metadata_hop_limit,
                instance_metadata_tags="disabled",
            ),
            block_device_mappings=[
                aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    device_name=args.root_device_name,
                    ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                        volume_size=self.volume_size_gb,
                        volume_type="gp3",
                        encrypted="true",
                        kms_key_id=self.key.arn,
                        delete_on_termination="true",
                    ),
                )
            ],
            network_interfaces=[
                aws.ec2.LaunchTemplateNetworkInterfaceArgs(
                    device_index=0,
                    associate_public_ip_address="false",
                    security_groups=[self.security_group.id],
                    delete_on_termination="true",
                )
            ],
            tag_specifications=[
                aws.ec2.LaunchTemplateTagSpecificationArgs(
                    resource_type=kind, tags={**self._args.launched_tags, **self._tags(kind)}
                )
                for kind in LAUNCHED_KINDS
            ],
            tags=self._tags("lt"),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _entry_point(self) -> None:
        """The network load balancer, when one is asked for
        (:mod:`components.compute.pool_load_balancer`)."""
        self.entry_point: PoolEntryPoint | None = None
        self.load_balancer: aws.lb.LoadBalancer | None = None
        self.load_balancer_security_group: aws.ec2.SecurityGroup | None = None
        self.target_groups: dict[int, aws.lb.TargetGroup] = {}
        args = self._args
        if args.load_balancer is None:
            return
        entry = PoolEntryPoint(
            self._name,
            args.load_balancer,
            vpc_id=args.vpc_id,
            subnet_ids=args.subnet_ids,
            instances_security_group=self.security_group,
            protect=args.protect,
            tags=self._tags,
            parent=self,
        )
        self.entry_point = entry
        self.load_balancer = entry.load_balancer
        self.load_balancer_security_group = entry.security_group
        self.target_groups = entry.target_groups

    def _autoscaling_role(self) -> None:
        """Auto Scaling creates the encrypted root volumes with its service-linked role, which
        needs the pool's key. The pool brings its own role (custom suffix) and grants it the
        key, so nothing depends on the account's default role existing or, for the region key,
        on the key policy (an existing key's policy must let the account create grants)."""
        name, child = self._name, pulumi.ResourceOptions(parent=self)
        self.service_linked_role = aws.iam.ServiceLinkedRole(
            f"{name}-autoscaling",
            aws_service_name="autoscaling.amazonaws.com",
            custom_suffix=service_linked_role_suffix(
                pulumi.get_project(), pulumi.get_stack(), name
            ),
            description=f"Auto Scaling for pool {name}: launches its encrypted instances",
            opts=child,
        )
        self.key_grant = aws.kms.Grant(
            f"{name}-ebs-key",
            key_id=self.key.key_id,
            grantee_principal=self.service_linked_role.arn,
            operations=list(EBS_KEY_GRANT_OPERATIONS),
            opts=child,
        )

    def _group(self, args: InstancePoolArgs) -> aws.autoscaling.Group:
        """The Auto Scaling group: mixed instance types, on-demand or spot, instance refresh."""
        if args.spot:
            distribution = aws.autoscaling.GroupMixedInstancesPolicyInstancesDistributionArgs(
                on_demand_base_capacity=0,
                on_demand_percentage_above_base_capacity=0,
                spot_allocation_strategy="price-capacity-optimized",
            )
        else:
            distribution = aws.autoscaling.GroupMixedInstancesPolicyInstancesDistributionArgs(
                on_demand_base_capacity=0,
                on_demand_percentage_above_base_capacity=100,
                on_demand_allocation_strategy="prioritized",
            )
        behind_load_balancer = bool(self.target_groups)
        # docs/design.md, decision 8: the stop schedule sets the desired capacity and the minimum size
        # to zero; a later deployment must not start the instances again. A standby is created
        # at zero and then belongs to `failover`/`failback`, which set min and desired (max stays
        # the configured one): a `pulumi up` after a failover must not scale the running
        # standby back to zero, nor one after failback start it.
        scheduled = args.schedule is not None
        ignore = ["desiredCapacity", "minSize"] if scheduled or args.standby else []
        min_size, desired = (0, 0) if args.standby else (args.min_size, args.desired_capacity)
        return aws.autoscaling.Group(
            f"{self._name}-asg",
            vpc_zone_identifiers=list(args.subnet_ids),
            min_size=min_size,
            max_size=args.max_size,
            desired_capacity=desired,
            capacity_rebalance=args.spot,
            health_check_type="ELB" if behind_load_balancer else "EC2",
            health_check_grace_period=args.health_check_grace_period_seconds,
            target_group_arns=[g.arn for g in self.target_groups.values()] or None,
            service_linked_role_arn=self.service_linked_role.arn,
            enabled_metrics=[aws.autoscaling.Metric(metric) for metric in ASG_METRICS],
            mixed_instances_policy=aws.autoscaling.GroupMixedInstancesPolicyArgs(
                instances_distribution=distribution,
                launch_template=aws.autoscaling.GroupMixedInstancesPolicyLaunchTemplateArgs(
                    launch_template_specification=(
                        aws.autoscaling.GroupMixedInstancesPolicyLaunchTemplateLaunchTemplateSpecificationArgs(
                            launch_template_id=self.launch_template.id,
                            version=self.launch_template.latest_version.apply(str),
                        )
                    ),
                    overrides=[
                        aws.autoscaling.GroupMixedInstancesPolicyLaunchTemplateOverrideArgs(
                            instance_type=instance_type
                        )
                        for instance_type in args.instance_types
                    ],
                ),
            ),
            instance_refresh=aws.autoscaling.GroupInstanceRefreshArgs(
                strategy="Rolling",
                preferences=aws.autoscaling.GroupInstanceRefreshPreferencesArgs(
                    min_healthy_percentage=REFRESH_MIN_HEALTHY_PERCENT,
                    max_healthy_percentage=REFRESH_MAX_HEALTHY_PERCENT,
                    skip_matching=True,
                ),
            ),
            tags=self._group_tags(),
            opts=pulumi.ResourceOptions(
                parent=self, ignore_changes=ignore, depends_on=self._launch_dependencies()
            ),
        )

    def _group_tags(self) -> list[aws.autoscaling.GroupTagArgs]:
        """The group's own tags: its ``Name``, then ``launched_tags`` and the pool's tags, each
        propagated at launch.

        The provider's default tags never reach an Auto Scaling group: its tags are ``tag``
        blocks, not a tag map (HashiCorp, "Default Tags in the Terraform AWS Provider": default
        tags apply to all resources except Auto Scaling groups; pulumi-aws ``getDefaultTags``
        documents copying them into the group's tags with ``propagateAtLaunch``). Without them
        the leftover sweep would not find a group left behind, nor cost reports its spend.
        Propagated tags reach the instances only (Amazon EC2 Auto Scaling User Guide, "Tag Auto
        Scaling groups and instances": tags are not propagated to EBS volumes), so the launch
        template tags the volumes and network interfaces too; ``Name`` stays the launch
        template's (``<pool>-instance``) and is not propagated.
        """
        tags = [
            aws.autoscaling.GroupTagArgs(
                key="Name", value=f"{self._name}-asg", propagate_at_launch=False
            )
        ]
        shared = {**self._args.launched_tags, **self._args.tags}
        tags += [
            aws.autoscaling.GroupTagArgs(key=key, value=value, propagate_at_launch=True)
            for key, value in shared.items()
            if key != "Name"
        ]
        return tags

    def _launch_dependencies(self) -> list[pulumi.Resource]:
        """What must exist before the group launches its first instance: the key grant (the
        encrypted root volume), every policy of the instance role (Session Manager, agent,
        file system, the caller's grants), the instances' egress rules and, with a shared
        file system, its available mount targets, NFS ingress and policy (the first boot
        mounts it before the first-boot scripts run)."""
        found: list[pulumi.Resource] = [
            self.key_grant,
            *self.role.grants.values(),
            *self.egress_rules,
        ]
        found += self.mount_targets
        found += [r for r in (self.file_system_ingress, self.file_system_policy) if r is not None]
        return found

    def _schedules(self) -> list[aws.autoscaling.Schedule]:
        """With a schedule, scale to the configured size at ``start_cron`` and to zero at
        ``stop_cron``; without one, nothing (the pool runs around the clock). A standby never
        has any: its start action would scale it up every morning, running (and billing) the
        standby region's instances while the active region serves the users."""
        args = self._args
        if args.schedule is None or args.standby:
            return []
        return scheduled_actions(
            self._name,
            args.schedule,
            self.group.name,
            min_size=args.min_size,
            max_size=args.max_size,
            desired_capacity=args.desired_capacity,
            parent=self,
        )

    def _monitoring(self) -> None:
        """CPU, memory and disk alarms, and Auto Scaling failures forwarded to the alert
        topic (:mod:`components.compute.pool_monitoring`)."""
        args = self._args
        self.alarms = pool_alarms(
            self._name,
            self.group.name,
            self.namespace,
            cpu_percent=args.cpu_alarm_percent,
            memory_percent=args.memory_alarm_percent,
            disk_percent=args.disk_alarm_percent,
            alerts=self.alerts,
            parent=self,
        )
        self.failure_rule = failure_notifications(
            self._name, self.group.name, alerts=self.alerts, tags=self._tags, parent=self
        )

    # -- helpers ----------------------------------------------------------------------------

    def _tags(self, purpose: str) -> dict[str, str]:
        """Tags of the child for ``purpose``: its ``Name``, then the pool's tags."""
        return {"Name": f"{self._name}-{purpose}", **self._args.tags}

    # -- for the stack outputs and the dashboard ---------------------------------------------

    def outputs(self) -> dict[str, Any]:
        """What users and other stacks reference: the group, the role, the entry points."""
        return {
            "autoScalingGroupName": self.group.name,
            "instanceRoleArn": self.role.arn,
            "securityGroupId": self.security_group.id,
            "logGroupName": self.log_group.name,
            "fileSystemId": self.file_system_id,
            "replicaFileSystemId": self.replica_file_system_id,
            "standby": self.standby,
            "accessPointId": self.access_point.id if self.access_point is not None else None,
            "loadBalancerDnsName": (
                self.load_balancer.dns_name if self.load_balancer is not None else None
            ),
        }

    def widgets(self) -> list[MetricWidget]:
        """Dashboard widgets: instances in service and the pool's CPU, memory and disk use."""
        return pool_widgets(self._name, self.group.name, self.namespace)
