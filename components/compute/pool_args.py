"""What an instance pool is given: :class:`InstancePoolArgs` and the checks made before
anything is registered.

Owns the argument class and its defaults (images, volume sizes), the pure checks the stack
configuration shares (instance type names, GPU families, image ids), and the early checks of
:class:`~components.compute.instance_pool.InstancePool`: :func:`pool_problems` and
:func:`pool_startup`, which renders the pool's startup scripts so that a user-data size
problem is reported before anything is registered.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import pulumi

from components.compute.cloudwatch_agent import CloudWatchAgentConfig
from components.compute.pool_load_balancer import PoolLoadBalancer
from components.compute.schedules import PoolSchedule
from components.compute.shared_drive import SharedFileSystem
from components.compute.startup_scripts import EfsMount, StartupScripts
from components.iam import ServiceRole
from components.kms import KeyInput, key_input_problem
from components.monitoring import TopicInput, alert_topic_input_problem

#: Launch templates resolve ``resolve:ssm:<parameter>`` to the AMI id at each launch, so the
#: pool follows AWS's latest image without an invoke at deployment time.
DEFAULT_IMAGE_ID = (
    "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
)
#: The Deep Learning Base OSS Nvidia Driver GPU AMI (Amazon Linux 2023): NVIDIA driver, CUDA,
#: the CloudWatch agent's and EFS utilities' package repositories of Amazon Linux 2023.
DEFAULT_GPU_IMAGE_ID = (
    "resolve:ssm:/aws/service/deeplearning/ami/x86_64/"
    "base-oss-nvidia-driver-gpu-amazon-linux-2023/latest/ami-id"
)
#: Root volume sizes (GiB) when none is given: Amazon Linux needs little; the deep learning
#: image's snapshot (drivers, CUDA toolkits) is far larger.
DEFAULT_VOLUME_SIZE_GB = 30
DEFAULT_GPU_VOLUME_SIZE_GB = 100
#: EC2 instance type names: a family (``t3``, ``g5``, ``m7i-flex``, ``u-6tb1``), a dot, a size.
INSTANCE_TYPE_RE = re.compile(r"^[a-z][a-z0-9-]*\.[0-9]*[a-z0-9]+$")
#: Families whose name starts with one of these carry NVIDIA GPUs (g4dn, g5, g6e, p4d, p5...).
GPU_FAMILY_PREFIXES = ("g", "p")

_POOL_NAME_RE = re.compile(r"[a-z][a-z0-9-]{0,39}")
_KEY_NAME_RE = re.compile(r"[ -~]{1,255}")
_IMAGE_ID_RE = re.compile(r"ami-[0-9a-f]{8,17}|resolve:ssm:/[A-Za-z0-9_.\-/]{1,1010}")
_ROOT_DEVICE_RE = re.compile(r"/dev/(xvd|sd|nvme)[a-z0-9]{1,6}")


@lru_cache(maxsize=1)
def ec2_instance_types() -> frozenset[str]:
    """Every instance type name EC2 knows: the ``InstanceType`` enum of the EC2 service model
    botocore ships (``botocore/data/ec2/<version>/service-2.json.gz``), loaded once, when a
    name is first checked."""
    from botocore.loaders import create_loader

    model = create_loader().load_service_model("ec2", "service-2")
    return frozenset(model["shapes"]["InstanceType"]["enum"])


def instance_type_problem(value: object) -> str | None:
    """Why ``value`` is not an EC2 instance type name (``t3.large``, ``g5.xlarge``), or None.
    Names are checked against botocore's EC2 model, with the closest name as a hint."""
    if not (isinstance(value, str) and INSTANCE_TYPE_RE.fullmatch(value)):
        return (
            f"{value!r} is not an EC2 instance type name: write the family, a dot and the size "
            "in lowercase, such as 't3.large' or 'g5.xlarge'"
        )
    known = ec2_instance_types()
    if value in known:
        return None
    close = difflib.get_close_matches(value, sorted(known), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"{value!r} is not an EC2 instance type (botocore's EC2 model){hint}"


def is_gpu_instance_type(instance_type: str) -> bool:
    """True for instance types of GPU families (``g5.xlarge``, ``p4d.24xlarge``)."""
    return instance_type.startswith(GPU_FAMILY_PREFIXES)


def image_id_problem(value: object) -> str | None:
    """Why ``value`` is neither an AMI id nor ``resolve:ssm:<parameter>``, or None."""
    if isinstance(value, str) and _IMAGE_ID_RE.fullmatch(value):
        return None
    return (
        f"{value!r} is not an AMI id such as 'ami-0123456789abcdef0' or "
        "'resolve:ssm:<parameter name>'"
    )


@dataclass(frozen=True)
class InstancePoolArgs:
    """Arguments of :class:`~components.compute.instance_pool.InstancePool`."""

    vpc_id: pulumi.Input[str]
    """The VPC of the subnets."""

    subnet_ids: Sequence[pulumi.Input[str]]
    """Private subnets the instances (and the file system's mount targets) go in."""

    availability_zones: Sequence[str]
    """The AZ of each subnet, in the same order (at least 2 distinct)."""

    key: KeyInput
    """The region key, or the ARN of an existing KMS key: it encrypts the root volumes, the
    shared file system and the log group. An existing key's policy must let this account's
    principals create grants (the pool grants its Auto Scaling role the key, so that it can
    create the encrypted volumes), CloudWatch Logs encrypt the log group, and EFS use it
    (``kms:ViaService`` ``elasticfilesystem``), as :func:`components.kms.key_policy` does."""

    alerts: TopicInput
    """The region's alert topic, or the ARN of an existing SNS topic: alarms and Auto Scaling
    failures notify it. An existing topic's policy must let this account's CloudWatch alarms
    and EventBridge rules publish, and its KMS key (if encrypted) let them make data keys, as
    :func:`components.monitoring.topic_policy` does."""

    instance_types: Sequence[str]
    """At least 2 interchangeable instance types, in order of preference, such as
    ``["t3.large", "t3a.large"]`` (GPU types such as ``g5.xlarge`` when ``gpu``)."""

    min_size: int = 0
    """Default: the pool may shrink to no instance."""

    max_size: int = 2
    """Default: at most 2 instances."""

    desired_capacity: int = 1
    """Default: 1 instance (while the schedule, if any, has the pool running)."""

    spot: bool = False
    """Default: on-demand instances, the first type preferred. When true, spot instances
    from the pools with the best price and capacity, with capacity rebalancing."""

    gpu: bool = False
    """Default: CPU instances from Amazon Linux 2023. When true, every instance type must be a
    GPU type and the default image is the deep learning base image (NVIDIA drivers, CUDA)."""

    image_id: str | None = None
    """An AMI id or ``resolve:ssm:<parameter>``. Default: the latest Amazon Linux 2023
    (``DEFAULT_IMAGE_ID``), or the latest deep learning base image when ``gpu``."""

    volume_size_gb: int | None = None
    """Root volume size. Default: 30 GiB, or 100 GiB when ``gpu``."""

    root_device_name: str = "/dev/xvda"
    """Root device of the image (Amazon Linux images use ``/dev/xvda``). The encrypted volume
    is mapped there; a wrong name would leave the image's own root volume in place."""

    key_name: str | None = None
    """Default: no key pair; shell access is through Session Manager. When given, the name of
    an EC2 key pair (against the platform's ``ec2-no-ssh`` rule)."""

    metadata_hop_limit: int = 1
    """Default: 1. IMDSv2 responses then reach the instance itself but not containers behind
    a bridge network (one more hop), so a container cannot take the instance role. Set 2 only
    for container workloads on the instances that need the role's credentials."""

    startup: StartupScripts = StartupScripts()
    """The user's first-boot and every-boot scripts and, optionally, the agent's settings
    (namespace, interval, disks). The pool adds the CloudWatch agent (its startup logs go to
    the pool's log group) and the shared file system mount. Default: no scripts."""

    schedule: PoolSchedule | None = None
    """Default: the pool runs around the clock. When given, it scales to zero at
    ``stop_cron`` and back at ``start_cron``; the group's desired capacity and minimum size
    then belong to the schedule and are ignored by later deployments."""

    standby: bool = False
    """Default: an active pool, at its sizes. When true, a warm standby (in the standby
    region): the group is created at zero (min 0, desired 0, max ``max_size``) with no
    scheduled actions, and its min and desired capacity belong to ``python -m stacks
    failover``/``failback`` from then on (ignored by later deployments); ``min_size`` and
    ``desired_capacity`` are the sizes failover scales it to. Its shared drive is usually the
    active pool's replica (``shared_file_system.replica_file_system_id``)."""

    shared_file_system: SharedFileSystem | None = None
    """Default: no shared file system. When given, an EFS file system every instance mounts."""

    load_balancer: PoolLoadBalancer | None = None
    """Default: no load balancer; reach instances through Session Manager (including its
    port forwarding for Jupyter). When given, a network load balancer in front of the pool."""

    grants: Sequence[Callable[[ServiceRole], object]] = ()
    """Default: only the pool's own permissions (Session Manager, agent, file system).
    Each callable receives the instance role, e.g. ``lambda role: lake.grant_read(role,
    "curated")``."""

    log_retention_days: int = 30
    """Days the startup logs are kept. Default: 30."""

    cpu_alarm_percent: float = 90
    """Alarm when the pool's average CPU use stays at or above it for 15 minutes. Default: 90."""

    memory_alarm_percent: float = 90
    """Alarm when the pool's average memory use stays at or above it for 15 minutes.
    Default: 90."""

    disk_alarm_percent: float = 85
    """Alarm when the fullest disk of any instance reaches it. Default: 85."""

    health_check_grace_period_seconds: int = 600
    """Seconds a new instance has to finish its first boot before health checks count.
    Default: 600."""

    protect: bool = False
    """Default: the file system is deleted with the stack. When true (production), it is
    protected and retained on delete, and the load balancer has deletion protection."""

    tags: Mapping[str, str] = field(default_factory=dict)
    """Default: no extra tags beyond ``Name`` (also set on the Auto Scaling group and on the
    instances, volumes and network interfaces it launches)."""

    launched_tags: Mapping[str, str] = field(default_factory=dict)
    """Default: the Auto Scaling group and the instances, volumes and network interfaces it
    launches carry ``Name`` and ``tags`` only. The provider's default tags reach none of them,
    so pass those here: the group carries them (propagated at launch) and the launch template
    tags what it launches with them, so the leftover sweep and cost reports find the group and
    its instances. ``tags`` win on a clash."""

    def problems(self) -> list[str]:
        """Every problem with these arguments, each naming its field."""
        found = self._instance_problems() + self._size_problems() + self._network_problems()
        found += self._dependency_problems()
        if not isinstance(self.standby, bool):
            found.append(f"standby: {self.standby!r} must be true or false")
        elif self.standby and self.schedule is not None:
            found.append(
                "Only one of [standby] and [schedule] can be given: a schedule's start action "
                "would scale the standby up every day"
            )
        if self.schedule is not None:
            if isinstance(self.schedule, PoolSchedule):
                found += self.schedule.problems("schedule")
            else:
                found.append("schedule: must be a PoolSchedule or None")
        if self.shared_file_system is not None:
            found += self.shared_file_system.problems("shared_file_system")
        if self.load_balancer is not None:
            found += self.load_balancer.problems("load_balancer")
        found += self._startup_problems()
        for name in ("cpu_alarm_percent", "memory_alarm_percent", "disk_alarm_percent"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not 1 <= value <= 100
            ):
                found.append(f"{name}: {value!r} must be a percentage from 1 to 100")
        grace = self.health_check_grace_period_seconds
        if isinstance(grace, bool) or not isinstance(grace, int) or not 0 <= grace <= 7200:
            found.append(f"health_check_grace_period_seconds: {grace!r} must be 0..7200")
        return found

    def _instance_problems(self) -> list[str]:
        found = []
        types = self.instance_types
        if isinstance(types, (str, bytes)) or not isinstance(types, Sequence):
            return [
                f"instance_types: must be a list such as ['t3.large', 't3a.large'], not {types!r}"
            ]
        if len(types) < 2:
            found.append(
                f"instance_types: {len(types)} given; give at least 2 interchangeable types "
                "so a shortage of one does not stop the pool"
            )
        for index, value in enumerate(types):
            problem = instance_type_problem(value)
            if problem:
                found.append(f"instance_types[{index}]: {problem}")
            elif self.gpu and not is_gpu_instance_type(value):
                found.append(
                    f"instance_types[{index}]: {value!r} has no GPU, but gpu is set; use GPU "
                    "types such as 'g5.xlarge' or 'g6.xlarge'"
                )
        if len(set(types)) != len(types):
            found.append("instance_types: lists a type more than once")
        if self.image_id is not None and image_id_problem(self.image_id):
            found.append(f"image_id: {image_id_problem(self.image_id)}")
        size = self.volume_size_gb
        if size is not None and (
            isinstance(size, bool) or not isinstance(size, int) or not 8 <= size <= 16384
        ):
            found.append(f"volume_size_gb: {size!r} must be 8..16384 GiB")
        if not (
            isinstance(self.root_device_name, str)
            and _ROOT_DEVICE_RE.fullmatch(self.root_device_name)
        ):
            found.append(
                f"root_device_name: {self.root_device_name!r} is not a device such as '/dev/xvda'"
            )
        if self.key_name is not None and not (
            isinstance(self.key_name, str) and _KEY_NAME_RE.fullmatch(self.key_name)
        ):
            found.append(f"key_name: {self.key_name!r} is not a key pair name")
        if self.metadata_hop_limit not in (1, 2) or isinstance(self.metadata_hop_limit, bool):
            found.append(
                f"metadata_hop_limit: {self.metadata_hop_limit!r} must be 1 (instance only) or 2 "
                "(containers on the instance too)"
            )
        return found

    def _size_problems(self) -> list[str]:
        sizes = {n: getattr(self, n) for n in ("min_size", "max_size", "desired_capacity")}
        found = [
            f"{n}: {v!r} must be a whole number of instances, 0 or more"
            for n, v in sizes.items()
            if isinstance(v, bool) or not isinstance(v, int) or v < 0
        ]
        if found:
            return found
        if self.max_size < 1:
            found.append("max_size: 0; give at least 1 (the schedule scales the pool to zero)")
        if self.min_size > self.max_size:
            found.append(f"min_size: {self.min_size} is above max_size ({self.max_size})")
        elif not self.min_size <= self.desired_capacity <= self.max_size:
            found.append(
                f"desired_capacity: {self.desired_capacity} is outside min_size..max_size "
                f"({self.min_size}..{self.max_size})"
            )
        return found

    def _network_problems(self) -> list[str]:
        found = []
        if len(self.subnet_ids) != len(self.availability_zones):
            found.append(
                f"availability_zones: {len(self.availability_zones)} given for "
                f"{len(self.subnet_ids)} subnet_ids; give the AZ of each subnet, in order"
            )
        if len(set(self.availability_zones)) < 2:
            found.append(
                f"subnet_ids: the subnets cover {len(set(self.availability_zones))} availability "
                "zone(s); give private subnets in at least 2"
            )
        return found

    def _dependency_problems(self) -> list[str]:
        """The key and the alert topic: created by the platform, or existing ones' ARNs."""
        found = [
            key_input_problem(self.key, "key"),
            alert_topic_input_problem(self.alerts, "alerts"),
        ]
        return [problem for problem in found if problem is not None]

    def _startup_problems(self) -> list[str]:
        startup = self.startup
        if not isinstance(startup, StartupScripts):
            return [f"startup: must be StartupScripts, not {type(startup).__name__}"]
        found = []
        if startup.efs_mount is not None and self.shared_file_system is not None:
            found.append("Only one of [startup.efs_mount] and [shared_file_system] can be given")
        agent = startup.cloudwatch_agent
        if agent is not None and agent.log_group_name is not None:
            found.append(
                "startup.cloudwatch_agent.log_group_name: leave it unset; the pool ships the "
                "startup logs to its own log group"
            )
        return found


#: Stand-ins for identifiers known only after deployment, at least as long as the real ones,
#: so that the user data is checked (size included) before anything is registered.
_PLACEHOLDER_FILE_SYSTEM_ID = "fs-" + "0" * 17
_PLACEHOLDER_ACCESS_POINT_ID = "fsap-" + "0" * 17
_PLACEHOLDER_REGION = "ap-southeast-5"
_LOG_GROUP_SUFFIX_LENGTH = 26  # the unique suffix AWS providers add to a name prefix


def pool_startup(
    args: InstancePoolArgs,
    log_group_name: str,
    file_system_id: str | None,
    access_point_id: str | None,
    region: str,
) -> StartupScripts:
    """The pool's startup scripts: the user's, plus the agent (logs to ``log_group_name``)
    and, with a shared file system, its mount. Raises ``ValueError`` when they do not fit."""
    base = args.startup
    agent = dataclasses.replace(
        base.cloudwatch_agent or CloudWatchAgentConfig(), log_group_name=log_group_name
    )
    efs_mount = base.efs_mount
    if args.shared_file_system is not None and file_system_id and access_point_id:
        efs_mount = EfsMount(
            file_system_id=file_system_id,
            access_point_id=access_point_id,
            mount_path=args.shared_file_system.mount_path,
            region=region,
        )
    return StartupScripts(
        first_boot=base.first_boot,
        every_boot=base.every_boot,
        cloudwatch_agent=agent,
        efs_mount=efs_mount,
    )


def pool_problems(name: str, args: InstancePoolArgs) -> list[str]:
    """Every problem with a pool's name and arguments; when there is none, its startup scripts
    are rendered with stand-ins for the identifiers known only after deployment (at least as
    long as the real ones), so that a user-data size problem is reported before anything is
    registered."""
    problems = (
        []
        if _POOL_NAME_RE.fullmatch(name)
        else [
            f"name: {name!r} must be 1-40 lowercase letters, digits and '-', starting with a letter"
        ]
    )
    problems += args.problems()
    if not problems:
        try:
            pool_startup(
                args,
                f"{log_group_prefix(name)}{'x' * _LOG_GROUP_SUFFIX_LENGTH}",
                _PLACEHOLDER_FILE_SYSTEM_ID,
                _PLACEHOLDER_ACCESS_POINT_ID,
                _PLACEHOLDER_REGION,
            )
        except ValueError as error:
            problems.append(f"startup: {error}")
    return problems


def log_group_prefix(name: str) -> str:
    """Name prefix of a pool's log group."""
    return f"/mlops/instances/{name}-"
