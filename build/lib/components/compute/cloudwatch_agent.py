"""The CloudWatch agent on pool instances: what it publishes and its JSON configuration.

Owns the metric and dimension names the agent publishes (shared with the pool's alarms and
dashboard widgets), :class:`CloudWatchAgentConfig` (what the agent collects) and
:func:`cloudwatch_agent_config`, the agent's configuration document that the startup scripts
write to the instance.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from components.compute.validators import ABSOLUTE_PATH_RE, problem_report

#: Namespace the agent publishes to unless configured otherwise.
DEFAULT_METRICS_NAMESPACE = "MLOps/Instances"

#: Metric names exactly as the agent publishes them (``<plugin>_<measurement>``). The agent
#: configuration below uses these same strings as measurements (the agent strips the plugin
#: prefix when reading and adds it back when publishing), so alarms can rely on them.
METRIC_CPU_USAGE_ACTIVE = "cpu_usage_active"
METRIC_CPU_USAGE_IDLE = "cpu_usage_idle"
METRIC_MEM_USED_PERCENT = "mem_used_percent"
METRIC_DISK_USED_PERCENT = "disk_used_percent"
AGENT_METRIC_NAMES = (
    METRIC_CPU_USAGE_ACTIVE,
    METRIC_CPU_USAGE_IDLE,
    METRIC_MEM_USED_PERCENT,
    METRIC_DISK_USED_PERCENT,
)

#: Dimensions the agent appends to every metric (it then omits the ``host`` dimension).
DIMENSION_AUTO_SCALING_GROUP = "AutoScalingGroupName"
DIMENSION_INSTANCE_ID = "InstanceId"
DIMENSION_INSTANCE_TYPE = "InstanceType"
APPEND_DIMENSIONS = {
    DIMENSION_AUTO_SCALING_GROUP: "${aws:AutoScalingGroupName}",
    DIMENSION_INSTANCE_ID: "${aws:InstanceId}",
    DIMENSION_INSTANCE_TYPE: "${aws:InstanceType}",
}
#: The agent also publishes every metric aggregated over these dimension sets: a pool-wide
#: series per metric with the Auto Scaling group name as its only dimension (what alarms use).
AGGREGATION_DIMENSIONS = ((DIMENSION_AUTO_SCALING_GROUP,),)

#: File system types left out of ``disk_used_percent``: pseudo and in-memory file systems, and
#: network file systems (EFS is elastic; its "used percent" is always about zero).
DISK_IGNORED_FILE_SYSTEM_TYPES = (
    "devtmpfs",
    "nfs",
    "nfs4",
    "overlay",
    "squashfs",
    "sysfs",
    "tmpfs",
)

#: Log files shipped when a log group is configured: what the startup scripts printed, and
#: cloud-init's own log.
STARTUP_LOG_FILES = ("/var/log/cloud-init-output.log", "/var/log/cloud-init.log")

#: High-resolution intervals the agent may use; otherwise whole minutes.
_HIGH_RESOLUTION_INTERVALS = (1, 5, 10, 30)
_MAX_COLLECTION_INTERVAL = 172800
_NAMESPACE_RE = re.compile(r"[A-Za-z0-9 .\-_/#:]{1,255}")
_LOG_GROUP_RE = re.compile(r"[A-Za-z0-9.\-_/#]{1,512}")


@dataclass(frozen=True)
class CloudWatchAgentConfig:
    """What the CloudWatch agent collects: CPU, memory and disk metrics, optionally logs.

    Checked by :func:`cloudwatch_agent_config` and, as ``cloudwatch_agent``, by
    :class:`StartupScripts`, so that every problem is reported under its full key.
    """

    namespace: str = DEFAULT_METRICS_NAMESPACE
    """CloudWatch namespace of the metrics. Default: ``MLOps/Instances``. May not start with
    ``AWS/`` (reserved for AWS services)."""

    collection_interval_seconds: int = 60
    """How often metrics are collected. Default: every 60 seconds. 1, 5, 10 and 30 give
    high-resolution metrics; any other value must be a whole number of minutes, so that alarm
    periods can match it."""

    disk_mount_points: Sequence[str] = ("*",)
    """Mount points whose ``disk_used_percent`` is published. Default: ``("*",)``, every
    mounted file system except the types in ``DISK_IGNORED_FILE_SYSTEM_TYPES``."""

    log_group_name: str | None = None
    """Log group receiving the startup logs (``STARTUP_LOG_FILES``), one stream per instance
    and file. The group should exist (created with retention and KMS elsewhere). Default: no
    logs are shipped; the agent publishes metrics only."""

    def problems(self, key: str = "") -> list[str]:
        """Every problem with this configuration, each prefixed with its key under ``key``."""
        prefix = f"{key}." if key else ""
        found: list[str] = []
        found += _namespace_problems(f"{prefix}namespace", self.namespace)
        found += _interval_problems(
            f"{prefix}collection_interval_seconds", self.collection_interval_seconds
        )
        found += _mount_point_problems(f"{prefix}disk_mount_points", self.disk_mount_points)
        group = self.log_group_name
        if group is not None and not (isinstance(group, str) and _LOG_GROUP_RE.fullmatch(group)):
            found.append(
                f"{prefix}log_group_name: {group!r} is not a log group name: use 1-512 "
                "letters, digits and '.-_/#', or leave it unset to ship no logs"
            )
        return found


def _namespace_problems(key: str, namespace: object) -> list[str]:
    """Problems with a CloudWatch metric namespace."""
    if not isinstance(namespace, str) or not _NAMESPACE_RE.fullmatch(namespace):
        return [
            f"{key}: {namespace!r} is not a CloudWatch namespace: use 1-255 letters, digits, "
            "spaces and '.-_/#:'"
        ]
    if namespace.startswith("AWS/"):
        return [f"{key}: {namespace!r} starts with 'AWS/', which is reserved for AWS services"]
    return []


def _interval_problems(key: str, interval: object) -> list[str]:
    """Problems with a metrics collection interval in seconds."""
    if isinstance(interval, int) and not isinstance(interval, bool):
        if interval in _HIGH_RESOLUTION_INTERVALS:
            return []
        if 0 < interval <= _MAX_COLLECTION_INTERVAL and interval % 60 == 0:
            return []
    return [
        f"{key}: {interval!r} is not a collection interval: use 1, 5, 10, 30 or a multiple "
        f"of 60 seconds up to {_MAX_COLLECTION_INTERVAL}"
    ]


def _mount_point_problems(key: str, mount_points: object) -> list[str]:
    """Problems with the disk mount points: ``("*",)`` or distinct absolute paths."""
    if isinstance(mount_points, (str, bytes)) or not isinstance(mount_points, Sequence):
        return [
            f"{key}: must be a list of mount points such as ['*'] or ['/', '/data'], "
            f"not {mount_points!r}"
        ]
    if not mount_points:
        return [f"{key}: is empty: give ['*'] for every file system, or the mount points"]
    found: list[str] = []
    if "*" in mount_points and len(mount_points) > 1:
        found.append(f"{key}: '*' already means every file system; give ['*'] or mount points")
    seen: set[str] = set()
    for index, point in enumerate(mount_points):
        is_path = isinstance(point, str) and (point == "/" or ABSOLUTE_PATH_RE.fullmatch(point))
        if point != "*" and not is_path:
            found.append(
                f"{key}[{index}]: {point!r} is not an absolute mount point such as '/' or '/data'"
            )
        elif point in seen:
            found.append(f"{key}[{index}]: {point!r} is listed twice")
        else:
            seen.add(point)
    return found


def cloudwatch_agent_config(
    config: CloudWatchAgentConfig = CloudWatchAgentConfig(),
) -> dict[str, Any]:
    """The CloudWatch agent's JSON configuration (as a dict) for CPU, memory and disk metrics.

    Metrics carry ``APPEND_DIMENSIONS`` and are also aggregated per Auto Scaling group
    (``AGGREGATION_DIMENSIONS``). CPU is the instance total (dimension ``cpu=cpu-total``); disk
    drops the device dimension so series survive a change of instance type. With a log group,
    the startup logs are shipped too. Raises ``ValueError`` listing every problem in ``config``.
    """
    problems = config.problems()
    if problems:
        raise ValueError(problem_report("CloudWatchAgentConfig", problems))
    interval = config.collection_interval_seconds
    document: dict[str, Any] = {
        "agent": {"metrics_collection_interval": interval},
        "metrics": {
            "namespace": config.namespace,
            "append_dimensions": dict(APPEND_DIMENSIONS),
            "aggregation_dimensions": [list(dims) for dims in AGGREGATION_DIMENSIONS],
            "metrics_collected": {
                "cpu": {
                    "measurement": [METRIC_CPU_USAGE_ACTIVE, METRIC_CPU_USAGE_IDLE],
                    "totalcpu": True,
                    "metrics_collection_interval": interval,
                },
                "mem": {
                    "measurement": [METRIC_MEM_USED_PERCENT],
                    "metrics_collection_interval": interval,
                },
                "disk": {
                    "measurement": [METRIC_DISK_USED_PERCENT],
                    "resources": list(config.disk_mount_points),
                    "ignore_file_system_types": list(DISK_IGNORED_FILE_SYSTEM_TYPES),
                    "drop_device": True,
                    "metrics_collection_interval": interval,
                },
            },
        },
    }
    if config.log_group_name is not None:
        collect_list = [
            {
                "file_path": path,
                "log_group_name": config.log_group_name,
                "log_stream_name": "{instance_id}/" + path.rsplit("/", 1)[-1],
            }
            for path in STARTUP_LOG_FILES
        ]
        document["logs"] = {"logs_collected": {"files": {"collect_list": collect_list}}}
    return document
