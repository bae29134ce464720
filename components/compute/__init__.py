"""Compute: startup scripts for EC2 instances (cloud-init user data) and instance pools.

One module per part; everything public is importable from ``components.compute``:

- :mod:`components.compute.cloudwatch_agent`: the metric and dimension names the CloudWatch
  agent publishes (shared with the alarm code) and :func:`cloudwatch_agent_config`, the
  agent's JSON configuration;
- :mod:`components.compute.scripts`: :class:`Script`, one bash script, and the built-in steps
  (agent start, EFS mount, the every-boot hook, the end of the first boot);
- :mod:`components.compute.startup_scripts`: :class:`StartupScripts` renders cloud-init
  multipart user data from first-boot scripts (once per instance) and every-boot scripts (at
  each start, for example after an office-hours stop), plus the CloudWatch agent and a shared
  EFS mount (:class:`EfsMount`); its docstring describes the boot order;
- :mod:`components.compute.schedules`: cron, time zones and office hours (pure checks the
  stack configuration shares), :class:`PoolSchedule` and the scheduled actions that stop a
  pool in the evening and start it in the morning;
- :mod:`components.compute.shared_drive`: :class:`SharedFileSystem`, the EFS drive every
  instance of a pool mounts (:class:`SharedDrive`), its policy, and :class:`DriveReplication`,
  its read-only replica in the standby region (what a warm standby pool mounts);
- :mod:`components.compute.pool_load_balancer`: :class:`PoolLoadBalancer`, the network load
  balancer in front of a pool (:class:`PoolEntryPoint`);
- :mod:`components.compute.pool_args`: :class:`InstancePoolArgs` and the checks made before a
  pool registers anything (instance types, images, the key and topic, user-data size);
- :mod:`components.compute.pool_monitoring`: a pool's alarms, failure notifications and
  dashboard widgets;
- :mod:`components.compute.instance_pool`: :class:`InstancePool` (launch template, Auto
  Scaling group, roles, and the parts above);
- :mod:`components.compute.validators`: checks the modules share (the problem report, mount
  paths).
"""

from components.compute.cloudwatch_agent import (
    AGENT_METRIC_NAMES,
    AGGREGATION_DIMENSIONS,
    APPEND_DIMENSIONS,
    DEFAULT_METRICS_NAMESPACE,
    DIMENSION_AUTO_SCALING_GROUP,
    DIMENSION_INSTANCE_ID,
    DIMENSION_INSTANCE_TYPE,
    DISK_IGNORED_FILE_SYSTEM_TYPES,
    METRIC_CPU_USAGE_ACTIVE,
    METRIC_CPU_USAGE_IDLE,
    METRIC_DISK_USED_PERCENT,
    METRIC_MEM_USED_PERCENT,
    STARTUP_LOG_FILES,
    CloudWatchAgentConfig,
    cloudwatch_agent_config,
)
from components.compute.instance_pool import (
    ASG_METRICS,
    EBS_KEY_GRANT_OPERATIONS,
    REFRESH_MAX_HEALTHY_PERCENT,
    REFRESH_MIN_HEALTHY_PERCENT,
    SSM_CHANNEL_ACTIONS,
    InstancePool,
    service_linked_role_suffix,
)
from components.compute.pool_args import (
    DEFAULT_GPU_IMAGE_ID,
    DEFAULT_GPU_VOLUME_SIZE_GB,
    DEFAULT_IMAGE_ID,
    DEFAULT_VOLUME_SIZE_GB,
    GPU_FAMILY_PREFIXES,
    INSTANCE_TYPE_RE,
    InstancePoolArgs,
    image_id_problem,
    instance_type_problem,
    is_gpu_instance_type,
    pool_problems,
    pool_startup,
)
from components.compute.pool_load_balancer import (
    JUPYTER_PORT,
    NLB_NAME_PREFIX,
    SSH_PORT,
    PoolEntryPoint,
    PoolLoadBalancer,
    allowed_cidr_problem,
    target_group_name_prefix,
)
from components.compute.pool_monitoring import (
    ASG_FAILURE_EVENTS,
    failure_notifications,
    pool_alarms,
    pool_widgets,
)
from components.compute.schedules import (
    PoolSchedule,
    cron_field_values,
    cron_problem,
    office_hours_problems,
    scheduled_actions,
    time_of_day_problem,
    time_zone_names,
    time_zone_problem,
    weekdays_problem,
)
from components.compute.scripts import (
    AGENT_START_SCRIPT,
    CLOUDWATCH_AGENT_CONFIG_PATH,
    CLOUDWATCH_AGENT_CTL,
    EFS_MOUNT_SCRIPT,
    EVERY_BOOT_HOOK_FIRST_BOOT_ARG,
    EVERY_BOOT_HOOK_PATH,
    EVERY_BOOT_SCRIPTS_DIR,
    FIRST_BOOT_DONE_MARKER,
    FIRST_BOOT_FINISH_SCRIPT,
    PER_BOOT_SCRIPTS_DIR,
    SCRIPT_HEADER,
    Script,
    agent_start_script,
    efs_first_boot_mount_script,
    every_boot_hook_script,
    finish_first_boot_script,
)
from components.compute.shared_drive import (
    NFS_PORT,
    DriveReplication,
    SharedDrive,
    SharedFileSystem,
    file_system_policy,
)
from components.compute.startup_scripts import (
    CLOUDWATCH_AGENT_PACKAGE,
    EFS_MOUNT_ATTEMPTS,
    EFS_UTILS_PACKAGE,
    MAX_SCRIPTS,
    USER_DATA_MAX_BYTES,
    EfsMount,
    StartupScripts,
)

__all__ = [
    "AGENT_METRIC_NAMES",
    "AGENT_START_SCRIPT",
    "AGGREGATION_DIMENSIONS",
    "APPEND_DIMENSIONS",
    "ASG_FAILURE_EVENTS",
    "ASG_METRICS",
    "CLOUDWATCH_AGENT_CONFIG_PATH",
    "CLOUDWATCH_AGENT_CTL",
    "CLOUDWATCH_AGENT_PACKAGE",
    "CloudWatchAgentConfig",
    "DEFAULT_GPU_IMAGE_ID",
    "DEFAULT_GPU_VOLUME_SIZE_GB",
    "DEFAULT_IMAGE_ID",
    "DEFAULT_METRICS_NAMESPACE",
    "DEFAULT_VOLUME_SIZE_GB",
    "DIMENSION_AUTO_SCALING_GROUP",
    "DIMENSION_INSTANCE_ID",
    "DIMENSION_INSTANCE_TYPE",
    "DISK_IGNORED_FILE_SYSTEM_TYPES",
    "DriveReplication",
    "EBS_KEY_GRANT_OPERATIONS",
    "EFS_MOUNT_ATTEMPTS",
    "EFS_MOUNT_SCRIPT",
    "EFS_UTILS_PACKAGE",
    "EVERY_BOOT_HOOK_FIRST_BOOT_ARG",
    "EVERY_BOOT_HOOK_PATH",
    "EVERY_BOOT_SCRIPTS_DIR",
    "EfsMount",
    "FIRST_BOOT_DONE_MARKER",
    "FIRST_BOOT_FINISH_SCRIPT",
    "GPU_FAMILY_PREFIXES",
    "INSTANCE_TYPE_RE",
    "InstancePool",
    "InstancePoolArgs",
    "JUPYTER_PORT",
    "MAX_SCRIPTS",
    "METRIC_CPU_USAGE_ACTIVE",
    "METRIC_CPU_USAGE_IDLE",
    "METRIC_DISK_USED_PERCENT",
    "METRIC_MEM_USED_PERCENT",
    "NFS_PORT",
    "NLB_NAME_PREFIX",
    "PER_BOOT_SCRIPTS_DIR",
    "PoolEntryPoint",
    "PoolLoadBalancer",
    "PoolSchedule",
    "REFRESH_MAX_HEALTHY_PERCENT",
    "REFRESH_MIN_HEALTHY_PERCENT",
    "SCRIPT_HEADER",
    "SSH_PORT",
    "SSM_CHANNEL_ACTIONS",
    "STARTUP_LOG_FILES",
    "Script",
    "SharedDrive",
    "SharedFileSystem",
    "StartupScripts",
    "USER_DATA_MAX_BYTES",
    "agent_start_script",
    "allowed_cidr_problem",
    "cloudwatch_agent_config",
    "cron_field_values",
    "cron_problem",
    "efs_first_boot_mount_script",
    "every_boot_hook_script",
    "failure_notifications",
    "file_system_policy",
    "finish_first_boot_script",
    "image_id_problem",
    "instance_type_problem",
    "is_gpu_instance_type",
    "office_hours_problems",
    "pool_alarms",
    "pool_problems",
    "pool_startup",
    "pool_widgets",
    "scheduled_actions",
    "service_linked_role_suffix",
    "target_group_name_prefix",
    "time_of_day_problem",
    "time_zone_names",
    "time_zone_problem",
    "weekdays_problem",
]
