"""Compute: startup scripts for EC2 instances (cloud-init user data) and instance pools.

Sections of this module:

1. CloudWatch agent: the metric and dimension names the agent publishes (shared with the alarm
   code) and :func:`cloudwatch_agent_config`, the agent's JSON configuration.
2. Startup scripts: :class:`StartupScripts` renders cloud-init multipart user data from
   first-boot scripts (once per instance) and every-boot scripts (at each start, for example
   after an office-hours stop), plus the CloudWatch agent and a shared EFS mount.
3. Instance pools: :class:`InstancePool` (launch template, Auto Scaling group, schedules,
   alarms, optional shared EFS file system and network load balancer) and the pure checks
   the stack configuration shares (instance types, cron, time zones, office hours).

How the user data maps onto cloud-init (Amazon Linux 2023 / Amazon Linux 2 images, which carry
``amazon-cloudwatch-agent`` and ``amazon-efs-utils`` in their package repositories):

* Part 1, ``text/cloud-config``: ``packages`` to install; ``write_files`` for the agent
  configuration, the EFS ``/etc/fstab`` entry (``append``), every every-boot script (in
  ``/etc/mlops/every-boot.d/``, mode 0755) and one per-boot hook
  (``/var/lib/cloud/scripts/per-boot/mlops-every-boot``) that runs them in order.
  ``write_files`` runs once per instance; cloud-init's ``scripts-per-boot`` runs the hook at
  every boot.
* One ``text/x-shellscript`` part per first-boot script. cloud-init runs such parts once per
  instance (``scripts-user``), in file-name order.

File names carry a two-digit position (``01-<name>``, ``02-<name>``, ...) so that name-ordered
execution keeps the order given. Built-in steps use position ``00``: the agent start
(``00-mlops-cloudwatch-agent``) and the EFS mount (``00-mlops-efs-mount``) run before the
user's scripts. The last first-boot part, ``zz-mlops-finish-first-boot``, sorts after every
``NN-`` name.

Order. On an instance's first boot cloud-init's final stage runs ``scripts-per-boot`` *before*
``scripts-user``. So that every-boot work may rely on first-boot work, the per-boot hook does
nothing while the per-instance marker ``/var/lib/cloud/instance/mlops-first-boot-done`` is
absent; the last first-boot part runs the hook (so the every-boot scripts) and then writes the
marker. Resulting order:

* first boot: packages and files, first-boot scripts (the EFS file system is mounted before
  them), then the every-boot scripts;
* every later boot: the every-boot scripts only.

Each script runs even when an earlier one failed (as cloud-init does with parts); failures
are reported in the cloud-init log and its result. The marker lives in cloud-init's
per-instance directory, so an image baked from a running instance does not carry it over.
"""

from __future__ import annotations

import base64
import dataclasses
import difflib
import hashlib
import ipaddress
import json
import re
import zoneinfo
from dataclasses import dataclass, field
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from functools import lru_cache
from typing import Any, Callable, Mapping, Optional, Sequence

import pulumi
import pulumi_aws as aws
import yaml

from components.iam import ServiceRole, ServiceRoleArgs, Statement
from components.kms import RegionKey
from components.monitoring import AlarmArgs, AlertTopic, Metric, MetricWidget, metric_alarm

# ---------------------------------------------------------------------------------------------
# 1. CloudWatch agent
# ---------------------------------------------------------------------------------------------

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
_ABSOLUTE_PATH_RE = re.compile(r"(/[A-Za-z0-9._\-]+)+")


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

    log_group_name: Optional[str] = None
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
        is_path = isinstance(point, str) and (point == "/" or _ABSOLUTE_PATH_RE.fullmatch(point))
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
        raise ValueError(_problem_report("CloudWatchAgentConfig", problems))
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


def _problem_report(what: str, problems: list[str]) -> str:
    """One error message listing every problem, one per line."""
    count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
    return f"invalid {what} ({count}):\n" + "\n".join(f"  - {p}" for p in problems)


# ---------------------------------------------------------------------------------------------
# 2. Startup scripts
# ---------------------------------------------------------------------------------------------

#: EC2 limit on user data, in bytes before base64 encoding.
USER_DATA_MAX_BYTES = 16384
#: cloud-init runs every executable file in this directory at every boot (before the
#: first-boot parts on an instance's first boot).
PER_BOOT_SCRIPTS_DIR = "/var/lib/cloud/scripts/per-boot"
#: Where the every-boot scripts are written; only the per-boot hook runs them.
EVERY_BOOT_SCRIPTS_DIR = "/etc/mlops/every-boot.d"
#: The per-boot hook that runs the every-boot scripts in order once the first boot is done.
EVERY_BOOT_HOOK_PATH = f"{PER_BOOT_SCRIPTS_DIR}/mlops-every-boot"
#: Argument with which the last first-boot part runs the hook before the marker exists.
EVERY_BOOT_HOOK_FIRST_BOOT_ARG = "--first-boot"
#: Written by the last first-boot part. In cloud-init's per-instance directory
#: (``/var/lib/cloud/instance`` links to ``instances/<instance id>``), so a new instance never
#: sees it, even when launched from an image of an older one.
FIRST_BOOT_DONE_MARKER = "/var/lib/cloud/instance/mlops-first-boot-done"
#: Where the agent configuration is written; the agent loads it from there once.
CLOUDWATCH_AGENT_CONFIG_PATH = "/etc/mlops/cloudwatch-agent.json"
CLOUDWATCH_AGENT_CTL = "/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl"
CLOUDWATCH_AGENT_PACKAGE = "amazon-cloudwatch-agent"
EFS_UTILS_PACKAGE = "amazon-efs-utils"
#: First lines of every rendered script: bash, stop at the first failing command, unset
#: variable or failing pipe stage.
SCRIPT_HEADER = "#!/bin/bash\nset -euo pipefail\n"
#: Scripts per list: positions are two digits so that name order is list order.
MAX_SCRIPTS = 99
#: File names of the built-in steps (position 00 runs before the user's scripts).
AGENT_START_SCRIPT = "00-mlops-cloudwatch-agent"
EFS_MOUNT_SCRIPT = "00-mlops-efs-mount"
#: The last first-boot part: runs the every-boot scripts, then writes the marker. Letters sort
#: after digits in cloud-init's (code point) name order, so it follows every ``NN-`` part.
FIRST_BOOT_FINISH_SCRIPT = "zz-mlops-finish-first-boot"
#: How often the every-boot EFS mount is tried before the script fails.
EFS_MOUNT_ATTEMPTS = 5

_SCRIPT_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,63}")
#: Characters a script may not contain: control characters other than tab and newline
#: (including CR: bash reads "\r" as part of a command), and Unicode line separators, which
#: YAML treats as line breaks.
_FORBIDDEN_CHAR_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_FILE_SYSTEM_ID_RE = re.compile(r"fs-[0-9a-f]{8,40}")
_ACCESS_POINT_ID_RE = re.compile(r"fsap-[0-9a-f]{8,40}")
_REGION_RE = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]+")
#: Mount paths that would hide part of the operating system.
_RESERVED_MOUNT_PATHS = frozenset(
    "/bin /boot /dev /etc /lib /lib64 /opt /proc /root /run /sbin /sys /tmp /usr /var".split()
)


@dataclass(frozen=True)
class Script:
    """One bash script run at startup.

    The rendered script is ``SCRIPT_HEADER`` (``#!/bin/bash`` and ``set -euo pipefail``)
    followed by ``content``. Checked when given to :class:`StartupScripts`, so that every
    problem is reported under its full key (``first_boot[1].name``).
    """

    name: str
    """File name of the script on the instance (after its position, ``01-<name>``): 1-64
    letters, digits, ``.``, ``_`` and ``-``, starting with a letter or digit; unique in its
    list."""

    content: str
    """The script body, run by bash. Plain text with Unix line endings; without a ``#!`` line
    (the header supplies it)."""

    def problems(self, key: str) -> list[str]:
        """Every problem with this script, each prefixed with ``key`` (``first_boot[0]``)."""
        found: list[str] = []
        if not isinstance(self.name, str) or not _SCRIPT_NAME_RE.fullmatch(self.name):
            found.append(
                f"{key}.name: {self.name!r} is not a safe file name: use 1-64 letters, digits, "
                "'.', '_' and '-', starting with a letter or digit"
            )
        found += _content_problems(f"{key}.content", self.content)
        return found

    def rendered(self) -> str:
        """The script as written to the instance: header, content, final newline."""
        body = self.content if self.content.endswith("\n") else self.content + "\n"
        return SCRIPT_HEADER + body


def _content_problems(key: str, content: object) -> list[str]:
    """Problems with a script body."""
    if not isinstance(content, str):
        return [f"{key}: must be text (str), not {type(content).__name__}"]
    if not content.strip():
        return [f"{key}: is empty: give the commands the script runs"]
    found: list[str] = []
    if content.startswith("#!"):
        found.append(
            f"{key}: starts with a '#!' line: leave it out; every script is rendered with "
            "'#!/bin/bash' and 'set -euo pipefail'"
        )
    bad = _FORBIDDEN_CHAR_RE.search(content)
    if bad:
        line = content.count("\n", 0, bad.start()) + 1
        hint = " (Windows line endings: save with Unix line endings)" if bad.group() == "\r" else ""
        found.append(
            f"{key}: contains control character U+{ord(bad.group()):04X} on line {line}{hint}"
        )
    try:
        content.encode("utf-8")
    except UnicodeEncodeError as error:
        found.append(f"{key}: is not valid Unicode text ({error.reason} at {error.start})")
    return found


@dataclass(frozen=True)
class EfsMount:
    """A shared EFS file system mounted through an access point, over TLS, with IAM auth.

    The ``/etc/fstab`` entry is written once, on the instance's first boot; the file system is
    mounted on every boot. The instance role needs ``elasticfilesystem:ClientMount`` (and
    ``ClientWrite``) on the file system. Checked as ``efs_mount`` by :class:`StartupScripts`.
    """

    file_system_id: str
    """The file system ID, such as ``fs-0123456789abcdef0``."""

    access_point_id: str
    """The access point ID (non-root path, POSIX user), such as ``fsap-0123456789abcdef0``."""

    mount_path: str
    """Absolute directory to mount on, such as ``/mnt/shared``; created if missing."""

    region: str
    """Region of the file system, such as ``eu-west-1`` (passed to the mount helper)."""

    def problems(self, key: str) -> list[str]:
        """Every problem with this mount, each prefixed with ``key``."""
        found: list[str] = []
        fs_id, ap_id = self.file_system_id, self.access_point_id
        if not (isinstance(fs_id, str) and _FILE_SYSTEM_ID_RE.fullmatch(fs_id)):
            found.append(
                f"{key}.file_system_id: {fs_id!r} is not a file system ID "
                "such as 'fs-0123456789abcdef0'"
            )
        if not (isinstance(ap_id, str) and _ACCESS_POINT_ID_RE.fullmatch(ap_id)):
            found.append(
                f"{key}.access_point_id: {ap_id!r} is not an access point ID "
                "such as 'fsap-0123456789abcdef0'"
            )
        found += _mount_path_problems(f"{key}.mount_path", self.mount_path)
        if not (isinstance(self.region, str) and _REGION_RE.fullmatch(self.region)):
            found.append(
                f"{key}.region: {self.region!r} is not an AWS region name such as 'eu-west-1'"
            )
        return found

    def fstab_line(self) -> str:
        """The ``/etc/fstab`` entry: efs type through the mount helper, TLS, IAM, access point.

        ``_netdev`` waits for the network; ``nofail`` lets the instance boot (and the every-boot
        mount retry) when the file system is briefly unreachable.
        """
        options = ",".join(
            (
                "_netdev",
                "nofail",
                "noresvport",
                "tls",
                "iam",
                f"region={self.region}",
                f"accesspoint={self.access_point_id}",
            )
        )
        return f"{self.file_system_id}:/ {self.mount_path} efs {options} 0 0\n"

    def mount_script(self) -> Script:
        """The every-boot script: create the directory, mount from fstab, retry, fail loudly."""
        path, attempts = self.mount_path, EFS_MOUNT_ATTEMPTS
        return Script(
            name=EFS_MOUNT_SCRIPT,
            content=(
                f"# Mount the shared EFS file system on {path} at every boot.\n"
                "# Its /etc/fstab entry is written once, on first boot.\n"
                f"mkdir -p {path}\n"
                f"for attempt in $(seq 1 {attempts}); do\n"
                f"  if mountpoint -q {path} || mount {path}; then\n"
                "    exit 0\n"
                "  fi\n"
                f'  echo "mount {path} failed (attempt $attempt of {attempts})" >&2\n'
                "  sleep $((attempt * 3))\n"
                "done\n"
                f'echo "could not mount {path} after {attempts} attempts" >&2\n'
                "exit 1\n"
            ),
        )


def _mount_path_problems(key: str, path: object) -> list[str]:
    """Problems with an EFS mount directory."""
    if not (isinstance(path, str) and _ABSOLUTE_PATH_RE.fullmatch(path)):
        return [
            f"{key}: {path!r} is not an absolute directory such as '/mnt/shared' "
            "(letters, digits, '._-' and '/')"
        ]
    if any(part in (".", "..") for part in path.split("/")):
        return [f"{key}: {path!r} contains '.' or '..': give the directory itself"]
    if path in _RESERVED_MOUNT_PATHS:
        return [f"{key}: {path!r} would hide a system directory: use one such as '/mnt/shared'"]
    return []


def agent_start_script() -> Script:
    """The first-boot step that loads the agent configuration and starts the agent.

    ``fetch-config -s`` also enables the agent's service, so it starts by itself on later boots.
    """
    return Script(
        name=AGENT_START_SCRIPT,
        content=(
            "# Load the CloudWatch agent configuration and start the agent; the agent is\n"
            "# enabled as a service, so it starts by itself on every later boot.\n"
            f"{CLOUDWATCH_AGENT_CTL} -a fetch-config -m ec2 -s \\\n"
            f"  -c file:{CLOUDWATCH_AGENT_CONFIG_PATH}\n"
        ),
    )


def efs_first_boot_mount_script() -> Script:
    """The first-boot step that mounts EFS before the first-boot scripts, so they can use it.

    It runs the every-boot mount script (written by ``write_files`` earlier in the boot); that
    script is idempotent, so the every-boot run after the first-boot work finds it mounted.
    """
    return Script(
        name=EFS_MOUNT_SCRIPT,
        content=(
            "# Mount the shared file system before the first-boot scripts, so they can use it.\n"
            f"exec {EVERY_BOOT_SCRIPTS_DIR}/{EFS_MOUNT_SCRIPT}\n"
        ),
    )


def every_boot_hook_script(names: Sequence[str]) -> Script:
    """The per-boot hook: run the every-boot scripts ``names`` in order, once the first boot is done.

    Without the per-instance marker (and without ``--first-boot``) it does nothing: cloud-init
    runs per-boot hooks before the first-boot parts, and the last first-boot part calls the
    hook with ``--first-boot`` instead. Every script runs even if an earlier one failed; the
    hook fails when any did, naming them. The names are fixed at render time (no globbing, so
    neither the locale nor stray files change what runs).
    """
    listing = " ".join(names)
    return Script(
        name="mlops-every-boot",
        content=(
            "# Run the every-boot scripts in order. On an instance's first boot cloud-init runs\n"
            "# this hook before the first-boot scripts: it then does nothing, and the last\n"
            "# first-boot script runs it once the first-boot work is done.\n"
            f'if [ ! -e {FIRST_BOOT_DONE_MARKER} ] && [ "${{1:-}}" != '
            f"{EVERY_BOOT_HOOK_FIRST_BOOT_ARG} ]; then\n"
            '  echo "mlops: first boot; every-boot scripts run after the first-boot scripts"\n'
            "  exit 0\n"
            "fi\n"
            'failed=""\n'
            f"for name in {listing}; do\n"
            '  echo "mlops: every-boot script $name"\n'
            f'  if ! "{EVERY_BOOT_SCRIPTS_DIR}/$name"; then\n'
            '    echo "mlops: every-boot script $name failed" >&2\n'
            '    failed="$failed $name"\n'
            "  fi\n"
            "done\n"
            'if [ -n "$failed" ]; then\n'
            '  echo "mlops: failed every-boot scripts:$failed" >&2\n'
            "  exit 1\n"
            "fi\n"
        ),
    )


def finish_first_boot_script() -> Script:
    """The last first-boot part: run the every-boot scripts, then mark the first boot done.

    The marker is written even when an every-boot script failed: cloud-init never repeats
    first-boot work, so later boots must run the every-boot scripts regardless. The part still
    fails (and cloud-init reports it) when the every-boot run failed.
    """
    return Script(
        name=FIRST_BOOT_FINISH_SCRIPT,
        content=(
            "# The first-boot work is done: run the every-boot scripts now, then mark the first\n"
            "# boot done so that the per-boot hook runs them by itself on every later boot.\n"
            "status=0\n"
            f"{EVERY_BOOT_HOOK_PATH} {EVERY_BOOT_HOOK_FIRST_BOOT_ARG} || status=$?\n"
            f"touch {FIRST_BOOT_DONE_MARKER}\n"
            'exit "$status"\n'
        ),
    )


@dataclass(frozen=True)
class StartupScripts:
    """Startup work for an EC2 instance, rendered as cloud-init multipart user data.

    Validated on construction: every problem is collected and one ``ValueError`` names each
    offending field (``first_boot[1].name: ...``), including user data over 16384 bytes. The
    limit is enforced rather than worked around with gzip, so the user data stays readable in
    the console and in ``pulumi preview`` diffs; large payloads belong in the image or in S3.

    Order (see the module docstring): on the first boot the first-boot scripts, then the
    every-boot scripts; on every later boot the every-boot scripts only.
    """

    first_boot: Sequence[Script] = ()
    """Scripts run once per instance, on its first boot, in this order. Default: none (only
    the built-in agent start, when the agent is configured)."""

    every_boot: Sequence[Script] = ()
    """Scripts run at every boot, in this order; on the first boot after the first-boot
    scripts, so they may rely on first-boot work. Default: none (only the built-in EFS mount,
    when a mount is configured)."""

    cloudwatch_agent: Optional[CloudWatchAgentConfig] = None
    """CloudWatch agent to install, configure and start on first boot. Default: no agent; the
    instance has EC2's basic metrics only (no memory or disk)."""

    efs_mount: Optional[EfsMount] = None
    """Shared EFS file system to mount. Default: no shared file system."""

    def __post_init__(self) -> None:
        """Check every field, normalise the script lists to tuples, then check the size."""
        problems = self._field_problems()
        if not problems:
            object.__setattr__(self, "first_boot", tuple(self.first_boot))
            object.__setattr__(self, "every_boot", tuple(self.every_boot))
            problems = self._size_problems()
        if problems:
            raise ValueError(_problem_report("StartupScripts", problems))

    def _field_problems(self) -> list[str]:
        """Every problem with the fields, each under its full key."""
        found = _script_list_problems("first_boot", self.first_boot)
        found += _script_list_problems("every_boot", self.every_boot)
        agent, efs = self.cloudwatch_agent, self.efs_mount
        if isinstance(agent, CloudWatchAgentConfig):
            found += agent.problems("cloudwatch_agent")
        elif agent is not None:
            found.append(
                "cloudwatch_agent: must be a CloudWatchAgentConfig or None, "
                f"not {type(agent).__name__}"
            )
        if isinstance(efs, EfsMount):
            found += efs.problems("efs_mount")
        elif efs is not None:
            found.append(f"efs_mount: must be an EfsMount or None, not {type(efs).__name__}")
        return found

    def _size_problems(self) -> list[str]:
        """The user-data size limit, naming the largest scripts to help trim them."""
        size = len(self.render().encode("utf-8"))
        if size <= USER_DATA_MAX_BYTES:
            return []
        scripts = [(f"first_boot[{i}]", s) for i, s in enumerate(self.first_boot)]
        scripts += [(f"every_boot[{i}]", s) for i, s in enumerate(self.every_boot)]
        sized = [(len(s.content.encode("utf-8")), key, s.name) for key, s in scripts]
        largest = sorted(sized, key=lambda item: -item[0])[:3]
        listing = ", ".join(f"{key} {name!r} ({n} bytes)" for n, key, name in largest)
        return [
            f"user data: renders to {size} bytes; EC2 accepts at most {USER_DATA_MAX_BYTES} "
            "bytes (before base64). Move large work into the image or download it from S3 in "
            f"a first-boot script. Largest scripts: {listing or 'none'}"
        ]

    # -- rendering ------------------------------------------------------------------------

    def first_boot_files(self) -> list[tuple[str, Script]]:
        """First-boot parts with their file names, in execution order.

        Built-ins first (agent start, EFS mount), then the user's scripts, then, when there is
        every-boot work, ``FIRST_BOOT_FINISH_SCRIPT``, which runs it and marks the boot done.
        """
        files = []
        if self.cloudwatch_agent is not None:
            files.append((AGENT_START_SCRIPT, agent_start_script()))
        if self.efs_mount is not None:
            files.append((EFS_MOUNT_SCRIPT, efs_first_boot_mount_script()))
        files += [(f"{i:02d}-{s.name}", s) for i, s in enumerate(self.first_boot, 1)]
        if self._every_boot_named():
            files.append((FIRST_BOOT_FINISH_SCRIPT, finish_first_boot_script()))
        return files

    def _every_boot_named(self) -> list[tuple[str, Script]]:
        """Every-boot scripts with their file names, in execution order (built-ins first)."""
        files = []
        if self.efs_mount is not None:
            files.append((EFS_MOUNT_SCRIPT, self.efs_mount.mount_script()))
        return files + [(f"{i:02d}-{s.name}", s) for i, s in enumerate(self.every_boot, 1)]

    def every_boot_files(self) -> list[tuple[str, Script]]:
        """Every-boot scripts with their paths in ``EVERY_BOOT_SCRIPTS_DIR``, in execution order.

        Only the per-boot hook (``EVERY_BOOT_HOOK_PATH``, see :meth:`every_boot_hook`) runs
        them, so cloud-init never runs one before the first-boot work.
        """
        return [
            (f"{EVERY_BOOT_SCRIPTS_DIR}/{name}", script) for name, script in self._every_boot_named()
        ]

    def every_boot_hook(self) -> Optional[Script]:
        """The per-boot hook running the every-boot scripts; None when there are none."""
        names = [name for name, _ in self._every_boot_named()]
        return every_boot_hook_script(names) if names else None

    def cloud_config(self) -> dict[str, Any]:
        """The ``#cloud-config`` document: packages and files (written once per instance)."""
        packages: list[str] = []
        write_files: list[dict[str, Any]] = []
        if self.cloudwatch_agent is not None:
            packages.append(CLOUDWATCH_AGENT_PACKAGE)
            agent = cloudwatch_agent_config(self.cloudwatch_agent)
            agent_json = json.dumps(agent, sort_keys=True, separators=(",", ":")) + "\n"
            write_files.append(_file(CLOUDWATCH_AGENT_CONFIG_PATH, agent_json, "0644"))
        if self.efs_mount is not None:
            packages.append(EFS_UTILS_PACKAGE)
            fstab = _file("/etc/fstab", self.efs_mount.fstab_line(), "0644")
            write_files.append({**fstab, "append": True})
        for path, script in self.every_boot_files():
            write_files.append(_file(path, script.rendered(), "0755"))
        hook = self.every_boot_hook()
        if hook is not None:
            write_files.append(_file(EVERY_BOOT_HOOK_PATH, hook.rendered(), "0755"))
        document: dict[str, Any] = {}
        if packages:
            document["packages"] = packages
        if write_files:
            document["write_files"] = write_files
        return document

    def render(self) -> str:
        """The user data: a MIME multipart message, byte-identical for equal inputs.

        Part 1 is ``text/cloud-config`` (file name ``cloud-config.yaml``); then one
        ``text/x-shellscript`` part per first-boot step, named as in ``first_boot_files``.
        ASCII parts are sent as 7bit text, others as UTF-8 in base64.
        """
        cloud_config = "#cloud-config\n" + _dump_yaml(self.cloud_config())
        parts = [("cloud-config", "cloud-config.yaml", cloud_config)]
        for name, script in self.first_boot_files():
            parts.append(("x-shellscript", name, script.rendered()))
        return _multipart(parts)

    def render_base64(self) -> str:
        """The user data base64-encoded, as launch templates take it."""
        return base64.b64encode(self.render().encode("utf-8")).decode("ascii")


def _script_list_problems(key: str, scripts: object) -> list[str]:
    """Problems with a list of scripts: its type, length, each script and duplicate names."""
    if isinstance(scripts, (str, bytes)) or not isinstance(scripts, Sequence):
        return [f"{key}: must be a list of Script, not {type(scripts).__name__}"]
    found: list[str] = []
    if len(scripts) > MAX_SCRIPTS:
        found.append(f"{key}: has {len(scripts)} scripts; at most {MAX_SCRIPTS} are allowed")
    first_use: dict[str, int] = {}
    for index, script in enumerate(scripts):
        item = f"{key}[{index}]"
        if not isinstance(script, Script):
            found.append(
                f"{item}: must be a Script(name=..., content=...), not {type(script).__name__}"
            )
            continue
        found += script.problems(item)
        if isinstance(script.name, str) and script.name in first_use:
            found.append(
                f"{item}.name: {script.name!r} is already used by "
                f"{key}[{first_use[script.name]}]; names must be unique"
            )
        elif isinstance(script.name, str):
            first_use[script.name] = index
    return found


def _file(path: str, content: str, permissions: str) -> dict[str, Any]:
    """A ``write_files`` entry owned by root."""
    return {"path": path, "owner": "root:root", "permissions": permissions, "content": content}


class _CloudConfigDumper(yaml.SafeDumper):
    """YAML dumper writing multi-line strings as literal blocks, so scripts stay readable."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    """Literal block style for multi-line text (PyYAML falls back to quoting when it must)."""
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_CloudConfigDumper.add_representer(str, _represent_str)


def _dump_yaml(document: dict[str, Any]) -> str:
    """Deterministic YAML text of ``document`` (keys in insertion order)."""
    return yaml.dump(
        document, Dumper=_CloudConfigDumper, sort_keys=False, allow_unicode=True, width=4096
    )


def _multipart(parts: list[tuple[str, str, str]]) -> str:
    """A ``multipart/mixed`` message of ``(text subtype, file name, body)`` parts.

    The boundary is derived from a hash of the parts, so equal inputs give identical bytes;
    a body cannot contain the boundary unless it contains a hash of itself.
    """
    digest = hashlib.sha256()
    for subtype, filename, body in parts:
        for value in (subtype, filename, body):
            digest.update(value.encode("utf-8") + b"\0")
    message = MIMEMultipart(boundary=f"==MLOPS-{digest.hexdigest()[:32]}==")
    for subtype, filename, body in parts:
        part = MIMEText(body, subtype)
        part.add_header("Content-Disposition", "attachment", filename=filename)
        message.attach(part)
    return message.as_string()


# ---------------------------------------------------------------------------------------------
# 3. Instance pools
# ---------------------------------------------------------------------------------------------
#
# An InstancePool is an Auto Scaling group of identical instances in private subnets, built
# from a launch template (IMDSv2 only, KMS-encrypted gp3 root volume, no public IP, an
# instance profile with Session Manager and CloudWatch agent access, user data from
# StartupScripts), with optional office-hours schedules, CPU/memory/disk alarms, an optional
# shared EFS file system and an optional network load balancer.
#
# Office-hours stops scale the group to zero, which *terminates* the instances: every start
# in the morning is a new instance's first boot (first-boot work, then every-boot work).
# What must survive the night belongs on the shared file system (or in S3).

#: Launch templates resolve ``resolve:ssm:<parameter>`` to the AMI id at each launch, so the
#: pool follows AWS's latest image without an invoke at deployment time.
DEFAULT_IMAGE_ID = "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
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
#: Jupyter's port; SSH (22) is forwarded only when asked for explicitly.
JUPYTER_PORT = 8888
SSH_PORT = 22
NFS_PORT = 2049
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
#: EventBridge detail types of Auto Scaling failures worth a notification (a spot shortage,
#: an AMI or key problem, a volume that cannot be encrypted...).
ASG_FAILURE_EVENTS = ("EC2 Instance Launch Unsuccessful", "EC2 Instance Terminate Unsuccessful")
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
#: Session Manager (instead of SSH), the minimum AWS documents for the instance role:
#: registering the managed instance, and the channel actions (no resource-level permissions).
SSM_CHANNEL_ACTIONS = (
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
)

_POOL_NAME_RE = re.compile(r"[a-z][a-z0-9-]{0,39}")
_KEY_NAME_RE = re.compile(r"[ -~]{1,255}")
_IMAGE_ID_RE = re.compile(r"ami-[0-9a-f]{8,17}|resolve:ssm:/[A-Za-z0-9_.\-/]{1,1010}")
_HHMM_RE = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
_DAY_NAMES = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
_DAY = "(?:MON|TUE|WED|THU|FRI|SAT|SUN)"
_DAYS_RE = re.compile(rf"{_DAY}(?:-{_DAY})?(?:,{_DAY}(?:-{_DAY})?)*")
_NOT_TIME_ZONES = frozenset({"localtime", "Factory"})
_ROOT_DEVICE_RE = re.compile(r"/dev/(xvd|sd|nvme)[a-z0-9]{1,6}")
_EFS_ROOT_PATH_RE = re.compile(r"(/[A-Za-z0-9._\-]+)+")
#: Name prefix of a pool's network load balancer (AWS appends a unique suffix; at most 6
#: characters, as AWS allows for load balancer and target group name prefixes).
NLB_NAME_PREFIX = "pool-"
#: Days without access after which EFS may move files to Infrequent Access.
_EFS_IA_DAYS = (1, 7, 14, 30, 60, 90, 180, 270, 365)


# -- pure checks (shared with the stack configuration) ----------------------------------------


def instance_type_problem(value: object) -> Optional[str]:
    """Why ``value`` is not an EC2 instance type name (``t3.large``, ``g5.xlarge``), or None."""
    if isinstance(value, str) and INSTANCE_TYPE_RE.fullmatch(value):
        return None
    return (
        f"{value!r} is not an EC2 instance type name: write the family, a dot and the size "
        "in lowercase, such as 't3.large' or 'g5.xlarge'"
    )


def target_group_name_prefix(port: int) -> str:
    """Name prefix of a pool load balancer's target group for ``port`` (``8888-``): at most 6
    characters, AWS appends a unique suffix."""
    return f"{port}-"


def is_gpu_instance_type(instance_type: str) -> bool:
    """True for instance types of GPU families (``g5.xlarge``, ``p4d.24xlarge``)."""
    return instance_type.startswith(GPU_FAMILY_PREFIXES)


@lru_cache(maxsize=1)
def time_zone_names() -> frozenset[str]:
    """IANA time zone names (from the tz database ``zoneinfo`` reads), as Auto Scaling takes."""
    return frozenset(zoneinfo.available_timezones() - _NOT_TIME_ZONES)


def time_zone_problem(value: object) -> Optional[str]:
    """Why ``value`` is not an IANA time zone name such as ``Europe/Rome``, or None."""
    if isinstance(value, str) and value in time_zone_names():
        try:
            zoneinfo.ZoneInfo(value)
            return None
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            pass
    close = difflib.get_close_matches(str(value), sorted(time_zone_names()), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"{value!r} is not an IANA time zone name such as 'Europe/Rome' or 'UTC'{hint}"


#: Unix cron fields as Auto Scaling reads them: (name, lowest, highest, names from lowest).
_CRON_FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day-of-month", 1, 31, ()),
    ("month", 1, 12, ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")),
    ("day-of-week", 0, 7, ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")),
)
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_CRON_EXAMPLE = "such as '0 8 * * MON-FRI' (minute hour day-of-month month day-of-week)"


def _cron_value(token: str, low: int, high: int, names: Sequence[str]) -> int:
    """One number or name of a cron field, checked against the field's range."""
    if token.upper() in names:
        return low + names.index(token.upper())
    if not token.isdigit():
        raise ValueError(f"{token!r} is not a number" + (f" or one of {', '.join(names)}" if names else ""))
    number = int(token)
    if not low <= number <= high:
        raise ValueError(f"{number} is outside {low}-{high}")
    return number


def cron_field_values(text: str, low: int, high: int, names: Sequence[str] = ()) -> set[int]:
    """The values one Unix cron field selects (``*``, lists, ranges, steps, names).

    Raises ``ValueError`` saying what is wrong. Quartz extensions (``?``, ``L``, ``W``,
    ``#``) are not Unix cron and are refused.
    """
    values: set[int] = set()
    for item in text.split(","):
        base, slash, step_text = item.partition("/")
        if slash and not (step_text.isdigit() and int(step_text) > 0):
            raise ValueError(f"step {step_text!r} in {item!r} is not a positive number")
        step = int(step_text) if slash else 1
        if base == "*":
            first, last = low, high
        elif "-" in base:
            left, _, right = base.partition("-")
            first, last = (_cron_value(t, low, high, names) for t in (left, right))
            if first > last:
                raise ValueError(f"range {base!r} runs backwards")
        else:
            first = _cron_value(base, low, high, names)
            last = high if slash else first
        values.update(range(first, last + 1, step))
    return values


def cron_problem(value: object) -> Optional[str]:
    """Why ``value`` is not an Auto Scaling recurrence (Unix cron, five fields), or None.

    Each field takes numbers, ``*``, lists, ranges and steps; months and days of the week
    also take their three-letter names. The expression must fire on some date.
    """
    if not isinstance(value, str):
        return f"{value!r} is not a cron expression {_CRON_EXAMPLE}"
    fields = value.split()
    if len(fields) != 5:
        return f"{value!r} has {len(fields)} fields; a cron expression has five, {_CRON_EXAMPLE}"
    selected = []
    for text, (field_name, low, high, names) in zip(fields, _CRON_FIELDS):
        try:
            selected.append(cron_field_values(text, low, high, names))
        except ValueError as error:
            return f"{value!r}: {field_name} field {text!r}: {error}; write it {_CRON_EXAMPLE}"
    days, months = selected[2], selected[3]
    days_restricted, weekdays_restricted = fields[2] != "*", fields[4] != "*"
    if days_restricted and not weekdays_restricted and not any(
        day <= _DAYS_IN_MONTH[month - 1] for month in months for day in days
    ):
        return f"{value!r} never fires: no selected month has the selected day"
    return None


def time_of_day_problem(value: object) -> Optional[str]:
    """Why ``value`` is not a time of day written ``HH:MM`` (24 hours), or None."""
    if isinstance(value, str) and _HHMM_RE.fullmatch(value):
        return None
    return f"{value!r} is not a time of day such as '08:00' (HH:MM, 24 hours)"


def weekdays_problem(value: object) -> Optional[str]:
    """Why ``value`` is not a list of days such as ``MON-FRI`` or ``MON,WED,FRI``, or None."""
    if not (isinstance(value, str) and _DAYS_RE.fullmatch(value)):
        return (
            f"{value!r} is not a list of days such as 'MON-FRI' or 'MON,WED,FRI' "
            f"(names {', '.join(_DAY_NAMES)} in capitals, ranges with '-')"
        )
    for part in value.split(","):
        first, _, last = part.partition("-")
        if last and _DAY_NAMES.index(last) <= _DAY_NAMES.index(first):
            return f"range {part!r} does not run forward from MON to SUN; split it, e.g. 'MON,FRI-SUN'"
    return None


def office_hours_problems(start: object, stop: object, days: object, key: str = "") -> list[str]:
    """Problems with office hours ``start``-``stop`` (``HH:MM``) on ``days`` (``MON-FRI``)."""
    prefix = f"{key}." if key else ""
    found = []
    for name, value in (("start", start), ("stop", stop)):
        problem = time_of_day_problem(value)
        if problem:
            found.append(f"{prefix}{name}: {problem}")
    if not found and str(stop) <= str(start):
        found.append(f"{prefix}stop: {stop!r} is not after start {start!r}")
    problem = weekdays_problem(days)
    if problem:
        found.append(f"{prefix}days: {problem}")
    return found


def image_id_problem(value: object) -> Optional[str]:
    """Why ``value`` is neither an AMI id nor ``resolve:ssm:<parameter>``, or None."""
    if isinstance(value, str) and _IMAGE_ID_RE.fullmatch(value):
        return None
    return (
        f"{value!r} is not an AMI id such as 'ami-0123456789abcdef0' or "
        "'resolve:ssm:<parameter name>'"
    )


@dataclass(frozen=True)
class PoolSchedule:
    """When a pool runs: scaled to its configured size at ``start_cron``, to zero at
    ``stop_cron``, both in ``timezone``. Checked by :class:`InstancePool` as ``schedule``."""

    timezone: str
    """IANA time zone the expressions are read in, such as ``Europe/Rome`` (daylight saving
    time included)."""

    start_cron: str
    """Unix cron (five fields) when the pool scales back to its size, e.g. ``0 8 * * MON-FRI``."""

    stop_cron: str
    """Unix cron (five fields) when the pool scales to zero, e.g. ``0 19 * * MON-FRI``."""

    @classmethod
    def office_hours(
        cls, timezone: str, start: str = "08:00", stop: str = "19:00", days: str = "MON-FRI"
    ) -> "PoolSchedule":
        """Running from ``start`` to ``stop`` on ``days``; off in the evening and on other days
        (weekends, with the default days). Raises ``ValueError`` naming each bad field."""
        problems = office_hours_problems(start, stop, days)
        problem = time_zone_problem(timezone)
        if problem:
            problems.append(f"timezone: {problem}")
        if problems:
            raise ValueError(_problem_report("office hours", problems))
        (start_h, start_m), (stop_h, stop_m) = (map(int, t.split(":")) for t in (start, stop))
        return cls(
            timezone=timezone,
            start_cron=f"{start_m} {start_h} * * {days}",
            stop_cron=f"{stop_m} {stop_h} * * {days}",
        )

    def problems(self, key: str = "schedule") -> list[str]:
        """Every problem, each prefixed with ``key``."""
        found = []
        for name in ("timezone", "start_cron", "stop_cron"):
            check = time_zone_problem if name == "timezone" else cron_problem
            problem = check(getattr(self, name))
            if problem:
                found.append(f"{key}.{name}: {problem}")
        if not found and self.start_cron.split() == self.stop_cron.split():
            found.append(f"{key}.stop_cron: is the same as start_cron; the pool would never run")
        return found


# -- arguments ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SharedFileSystem:
    """An EFS file system shared by every instance of a pool (homes, notebooks, data).

    Encrypted with the region key, automatic backups on, a lifecycle policy, one mount target
    per private subnet reachable on NFS only from the pool's instances, and one access point
    (non-root directory, fixed POSIX user) through which the instances mount it over TLS with
    IAM authorisation. Its policy refuses clients without TLS.
    """

    mount_path: str = "/mnt/shared"
    """Where instances mount it. Default: ``/mnt/shared``."""

    root_directory: str = "/shared"
    """Directory of the file system the access point exposes (created on first use, owned by
    the POSIX user). Default: ``/shared``; never ``/``."""

    posix_uid: int = 1000
    """User id every file operation through the access point runs as. Default: 1000
    (``ec2-user`` on Amazon Linux), so files on the share belong to the login user."""

    posix_gid: int = 1000
    """Group id of those operations. Default: 1000."""

    transition_to_ia_days: int = 30
    """Days without access after which files move to Infrequent Access (they move back on
    first access). Default: 30. One of 1, 7, 14, 30, 60, 90, 180, 270, 365."""

    def problems(self, key: str) -> list[str]:
        """Every problem, each prefixed with ``key``."""
        found = _mount_path_problems(f"{key}.mount_path", self.mount_path)
        root = self.root_directory
        if not (isinstance(root, str) and _EFS_ROOT_PATH_RE.fullmatch(root)) or any(
            part in (".", "..") for part in str(root).split("/")
        ):
            found.append(
                f"{key}.root_directory: {root!r} is not a directory below the file system's "
                "root such as '/shared' (the access point must not expose '/')"
            )
        for name in ("posix_uid", "posix_gid"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 4294967295:
                found.append(f"{key}.{name}: {value!r} must be an id from 1 to 4294967295 (not root)")
        if self.transition_to_ia_days not in _EFS_IA_DAYS:
            found.append(
                f"{key}.transition_to_ia_days: {self.transition_to_ia_days!r} is not one of "
                f"{', '.join(map(str, _EFS_IA_DAYS))}"
            )
        return found


@dataclass(frozen=True)
class PoolLoadBalancer:
    """A network load balancer in front of the pool: one entry point for Jupyter (and, only
    when asked, SSH), reachable from ``allowed_cidrs`` only.

    Its security group admits the forwarded ports from those CIDRs; the instances admit them
    from the load balancer's group only. Connections from one client address stick to one
    instance (source-IP stickiness), so a browser session stays on its Jupyter server. The
    Auto Scaling group uses the load balancer's health checks: the instances must serve the
    ports (an image or startup scripts that run Jupyter), or they are replaced. AWS names the
    load balancer and its target groups from short prefixes (``pool-``, ``8888-``): their names
    end at 32 characters, which a pool's name with Pulumi's suffix would exceed.
    """

    allowed_cidrs: Sequence[str]
    """IPv4 CIDR blocks that may connect (office or VPN ranges); never ``0.0.0.0/0``."""

    internet_facing: bool = False
    """Default: internal, reachable from the VPC and networks routed to it. When true, in
    ``public_subnet_ids`` with public addresses (the instances stay private)."""

    public_subnet_ids: Sequence[pulumi.Input[str]] = ()
    """Public subnets (one per AZ) for an internet-facing load balancer. Default: none; an
    internal load balancer uses the pool's private subnets."""

    ssh: bool = False
    """Default: Jupyter only. When true, TCP 22 is forwarded too. SSH conflicts with the
    platform's SSM-instead-of-SSH rule (``ec2-no-ssh``); prefer Session Manager."""

    jupyter_port: int = JUPYTER_PORT
    """Port Jupyter listens on, on the load balancer and the instances. Default: 8888."""

    access_logs_bucket: Optional[pulumi.Input[str]] = None
    """Default: no access logs. When given, the name of a bucket that accepts load balancer
    log delivery. A network load balancer logs TLS listeners only, so a TCP-only one writes
    nothing there."""

    @property
    def ports(self) -> tuple[int, ...]:
        """The forwarded TCP ports."""
        return (self.jupyter_port,) + ((SSH_PORT,) if self.ssh else ())

    def problems(self, key: str) -> list[str]:
        """Every problem, each prefixed with ``key``."""
        found = []
        cidrs = self.allowed_cidrs
        if isinstance(cidrs, (str, bytes)) or not isinstance(cidrs, Sequence) or not cidrs:
            found.append(
                f"{key}.allowed_cidrs: give the IPv4 CIDR blocks that may connect, such as "
                "['10.0.0.0/8']"
            )
        else:
            for index, cidr in enumerate(cidrs):
                problem = allowed_cidr_problem(cidr)
                if problem:
                    found.append(f"{key}.allowed_cidrs[{index}]: {problem}")
            if len(set(cidrs)) != len(cidrs):
                found.append(f"{key}.allowed_cidrs: lists a block more than once")
        port = self.jupyter_port
        if isinstance(port, bool) or not isinstance(port, int) or not 1024 <= port <= 65535:
            found.append(f"{key}.jupyter_port: {port!r} must be a port from 1024 to 65535")
        if self.internet_facing and len(self.public_subnet_ids) < 2:
            found.append(
                f"{key}.public_subnet_ids: an internet-facing load balancer needs public "
                "subnets in at least 2 AZs"
            )
        if not self.internet_facing and self.public_subnet_ids:
            found.append(
                f"{key}.public_subnet_ids: only for an internet-facing load balancer; an "
                "internal one uses the pool's subnets"
            )
        return found


def allowed_cidr_problem(value: object) -> Optional[str]:
    """Why ``value`` cannot be an allowed source block (invalid, or the whole internet)."""
    try:
        network = ipaddress.IPv4Network(str(value), strict=True)
    except ValueError as error:
        return f"{value!r} is not an IPv4 CIDR block ({error}); write it like 10.0.0.0/8"
    if network.prefixlen == 0:
        return f"{value!r} admits the whole internet; list the networks that need access"
    return None


@dataclass(frozen=True)
class InstancePoolArgs:
    """Arguments of :class:`InstancePool`."""

    vpc_id: pulumi.Input[str]
    """The VPC of the subnets."""

    subnet_ids: Sequence[pulumi.Input[str]]
    """Private subnets the instances (and the file system's mount targets) go in."""

    availability_zones: Sequence[str]
    """The AZ of each subnet, in the same order (at least 2 distinct)."""

    key: RegionKey
    """The region's KMS key: root volumes, the file system and the log group."""

    alerts: AlertTopic
    """The region's alert topic: alarms and Auto Scaling failures notify it."""

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

    image_id: Optional[str] = None
    """An AMI id or ``resolve:ssm:<parameter>``. Default: the latest Amazon Linux 2023
    (``DEFAULT_IMAGE_ID``), or the latest deep learning base image when ``gpu``."""

    volume_size_gb: Optional[int] = None
    """Root volume size. Default: 30 GiB, or 100 GiB when ``gpu``."""

    root_device_name: str = "/dev/xvda"
    """Root device of the image (Amazon Linux images use ``/dev/xvda``). The encrypted volume
    is mapped there; a wrong name would leave the image's own root volume in place."""

    key_name: Optional[str] = None
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

    schedule: Optional[PoolSchedule] = None
    """Default: the pool runs around the clock. When given, it scales to zero at
    ``stop_cron`` and back at ``start_cron``; the group's desired capacity and minimum size
    then belong to the schedule and are ignored by later deployments."""

    shared_file_system: Optional[SharedFileSystem] = None
    """Default: no shared file system. When given, an EFS file system every instance mounts."""

    load_balancer: Optional[PoolLoadBalancer] = None
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
    """Default: no extra tags beyond ``Name`` (also set on instances and their volumes)."""

    launched_tags: Mapping[str, str] = field(default_factory=dict)
    """Default: instances and volumes Auto Scaling launches carry ``Name`` and ``tags`` only.
    The provider's default tags never reach them, so pass those here (the leftover sweep and
    cost reports find instances by them). ``tags`` win on a clash."""

    def problems(self) -> list[str]:
        """Every problem with these arguments, each naming its field."""
        found = self._instance_problems() + self._size_problems() + self._network_problems()
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
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 1 <= value <= 100:
                found.append(f"{name}: {value!r} must be a percentage from 1 to 100")
        grace = self.health_check_grace_period_seconds
        if isinstance(grace, bool) or not isinstance(grace, int) or not 0 <= grace <= 7200:
            found.append(f"health_check_grace_period_seconds: {grace!r} must be 0..7200")
        return found

    def _instance_problems(self) -> list[str]:
        found = []
        types = self.instance_types
        if isinstance(types, (str, bytes)) or not isinstance(types, Sequence):
            return [f"instance_types: must be a list such as ['t3.large', 't3a.large'], not {types!r}"]
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
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or not 8 <= size <= 16384):
            found.append(f"volume_size_gb: {size!r} must be 8..16384 GiB")
        if not (isinstance(self.root_device_name, str) and _ROOT_DEVICE_RE.fullmatch(self.root_device_name)):
            found.append(f"root_device_name: {self.root_device_name!r} is not a device such as '/dev/xvda'")
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


# -- the pool -----------------------------------------------------------------------------------

#: Stand-ins for identifiers known only after deployment, at least as long as the real ones,
#: so that the user data is checked (size included) before anything is registered.
_PLACEHOLDER_FILE_SYSTEM_ID = "fs-" + "0" * 17
_PLACEHOLDER_ACCESS_POINT_ID = "fsap-" + "0" * 17
_PLACEHOLDER_REGION = "ap-southeast-5"
_LOG_GROUP_SUFFIX_LENGTH = 26  # the unique suffix AWS providers add to a name prefix


def pool_startup(
    args: InstancePoolArgs,
    log_group_name: str,
    file_system_id: Optional[str],
    access_point_id: Optional[str],
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


def service_linked_role_suffix(project: str, stack: str, name: str) -> str:
    """A suffix for the pool's Auto Scaling service-linked role, unique per project, stack and
    pool, readable, and at most 35 characters (role names end at 64)."""
    readable = re.sub(r"[^A-Za-z0-9_+=,.@-]", "-", f"{stack}-{name}")[:26].strip("-")
    digest = hashlib.sha256(f"{project}\0{stack}\0{name}".encode()).hexdigest()[:8]
    return f"{readable}-{digest}"


def pool_problems(name: str, args: InstancePoolArgs) -> list[str]:
    """Every problem with a pool's name and arguments; when there is none, its startup scripts
    are rendered with stand-ins for the identifiers known only after deployment (at least as
    long as the real ones), so that a user-data size problem is reported before anything is
    registered."""
    problems = [] if _POOL_NAME_RE.fullmatch(name) else [
        f"name: {name!r} must be 1-40 lowercase letters, digits and '-', starting with a letter"
    ]
    problems += args.problems()
    if not problems:
        try:
            pool_startup(
                args,
                f"{_log_group_prefix(name)}{'x' * _LOG_GROUP_SUFFIX_LENGTH}",
                _PLACEHOLDER_FILE_SYSTEM_ID,
                _PLACEHOLDER_ACCESS_POINT_ID,
                _PLACEHOLDER_REGION,
            )
        except ValueError as error:
            problems.append(f"startup: {error}")
    return problems


class InstancePool(pulumi.ComponentResource):
    """An Auto Scaling group of identical private instances with startup scripts.

    Children: launch template, Auto Scaling group (with a service-linked role of its own and a
    grant on the region key so it can create the encrypted volumes), instance role and
    profile, security group, log group, schedules, alarms, a rule forwarding Auto Scaling
    failures to the alert topic, and optionally the shared file system and the load balancer.
    """

    def __init__(
        self, name: str, args: InstancePoolArgs, opts: Optional[pulumi.ResourceOptions] = None
    ) -> None:
        problems = pool_problems(name, args)
        if problems:
            raise ValueError(_problem_report(f"InstancePool {name!r}", problems))
        super().__init__("mlops:compute:InstancePool", name, None, opts)
        self._name = name
        self._args = args
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

        self._security_group_and_logs()
        self._instance_role()
        self.file_system: Optional[aws.efs.FileSystem] = None
        self.access_point: Optional[aws.efs.AccessPoint] = None
        self.file_system_security_group: Optional[aws.ec2.SecurityGroup] = None
        self.mount_targets: list[aws.efs.MountTarget] = []
        self.file_system_ingress: Optional[aws.vpc.SecurityGroupIngressRule] = None
        self.file_system_policy: Optional[aws.efs.FileSystemPolicy] = None
        if args.shared_file_system is not None:
            self._shared_file_system(args.shared_file_system)
        for grant in args.grants:
            grant(self.role)
        self.launch_template = self._launch_template()
        self.load_balancer: Optional[aws.lb.LoadBalancer] = None
        self.load_balancer_security_group: Optional[aws.ec2.SecurityGroup] = None
        self.target_groups: dict[int, aws.lb.TargetGroup] = {}
        if args.load_balancer is not None:
            self._load_balancer(args.load_balancer)
        self._autoscaling_role()
        self.group = self._group(args)
        self.group_name = self.group.name
        self.schedules = self._schedules(args.schedule) if args.schedule is not None else []
        self.alarms = self._alarms(args)
        self._failure_notifications()
        self.register_outputs(
            {
                "group_name": self.group.name,
                "launch_template_id": self.launch_template.id,
                "role_arn": self.role.arn,
                "file_system_id": self.file_system.id if self.file_system else None,
                "load_balancer_dns_name": self.load_balancer.dns_name if self.load_balancer else None,
            }
        )

    # -- children ---------------------------------------------------------------------------

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
            name_prefix=_log_group_prefix(name),
            retention_in_days=args.log_retention_days,
            kms_key_id=args.key.arn,
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

    def _launch_template(self) -> aws.ec2.LaunchTemplate:
        """IMDSv2 only, encrypted gp3 root volume, no public IP, the instance profile, and the
        user data rendered once the log group and file system identifiers are known."""
        name, args = self._name, self._args
        self.user_data = pulumi.Output.all(
            self.log_group.name,
            self.file_system.id if self.file_system is not None else None,
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
                        kms_key_id=args.key.arn,
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
                for kind in ("instance", "volume")
            ],
            tags=self._tags("lt"),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _autoscaling_role(self) -> None:
        """Auto Scaling creates the encrypted root volumes with its service-linked role, which
        needs the region key. The pool brings its own role (custom suffix) and grants it the
        key, so nothing depends on the account's default role existing or on the key policy."""
        name, child = self._name, pulumi.ResourceOptions(parent=self)
        self.service_linked_role = aws.iam.ServiceLinkedRole(
            f"{name}-autoscaling",
            aws_service_name="autoscaling.amazonaws.com",
            custom_suffix=service_linked_role_suffix(pulumi.get_project(), pulumi.get_stack(), name),
            description=f"Auto Scaling for pool {name}: launches its encrypted instances",
            opts=child,
        )
        self.key_grant = aws.kms.Grant(
            f"{name}-ebs-key",
            key_id=self._args.key.key_id,
            grantee_principal=self.service_linked_role.arn,
            operations=list(EBS_KEY_GRANT_OPERATIONS),
            opts=child,
        )

    # -- helpers ----------------------------------------------------------------------------

    def _tags(self, purpose: str) -> dict[str, str]:
        return {"Name": f"{self._name}-{purpose}", **self._args.tags}

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
                    actions=("logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"),
                    resources=[group, pulumi.Output.concat(group, ":log-stream:*")],
                ),
            ],
        )

    def _shared_file_system(self, shared: SharedFileSystem) -> None:
        """EFS: encrypted, backed up, mount targets per subnet, access point, TLS-only policy."""
        name, args = self._name, self._args
        child = pulumi.ResourceOptions(parent=self)
        self.file_system = aws.efs.FileSystem(
            f"{name}-efs",
            encrypted=True,
            kms_key_id=args.key.arn,
            performance_mode="generalPurpose",
            throughput_mode="elastic",
            lifecycle_policies=[
                aws.efs.FileSystemLifecyclePolicyArgs(
                    transition_to_ia=f"AFTER_{shared.transition_to_ia_days}_DAY"
                    + ("" if shared.transition_to_ia_days == 1 else "S")
                ),
                aws.efs.FileSystemLifecyclePolicyArgs(
                    transition_to_primary_storage_class="AFTER_1_ACCESS"
                ),
            ],
            tags=self._tags("efs"),
            opts=pulumi.ResourceOptions(
                parent=self, protect=args.protect, retain_on_delete=args.protect
            ),
        )
        self.backup_policy = aws.efs.BackupPolicy(
            f"{name}-efs-backup",
            file_system_id=self.file_system.id,
            backup_policy=aws.efs.BackupPolicyBackupPolicyArgs(status="ENABLED"),
            opts=child,
        )
        self.file_system_security_group = aws.ec2.SecurityGroup(
            f"{name}-efs-sg",
            vpc_id=args.vpc_id,
            description=f"EFS mount targets of pool {name}: NFS from the pool instances only",
            tags=self._tags("efs-sg"),
            opts=child,
        )
        self.file_system_ingress = aws.vpc.SecurityGroupIngressRule(
            f"{name}-efs-nfs-in",
            security_group_id=self.file_system_security_group.id,
            referenced_security_group_id=self.security_group.id,
            description=f"NFS from the instances of pool {name}",
            ip_protocol="tcp",
            from_port=NFS_PORT,
            to_port=NFS_PORT,
            opts=child,
        )
        self.egress_rules.append(
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-nfs-out",
                security_group_id=self.security_group.id,
                referenced_security_group_id=self.file_system_security_group.id,
                description="NFS to the shared file system of the pool",
                ip_protocol="tcp",
                from_port=NFS_PORT,
                to_port=NFS_PORT,
                opts=child,
            )
        )
        self.mount_targets = [
            aws.efs.MountTarget(
                f"{name}-efs-{index}",
                file_system_id=self.file_system.id,
                subnet_id=subnet,
                security_groups=[self.file_system_security_group.id],
                opts=child,
            )
            for index, subnet in enumerate(args.subnet_ids)
        ]
        self.access_point = aws.efs.AccessPoint(
            f"{name}-efs-ap",
            file_system_id=self.file_system.id,
            posix_user=aws.efs.AccessPointPosixUserArgs(
                uid=shared.posix_uid, gid=shared.posix_gid
            ),
            root_directory=aws.efs.AccessPointRootDirectoryArgs(
                path=shared.root_directory,
                creation_info=aws.efs.AccessPointRootDirectoryCreationInfoArgs(
                    owner_uid=shared.posix_uid,
                    owner_gid=shared.posix_gid,
                    permissions="0750",
                ),
            ),
            tags=self._tags("efs-ap"),
            opts=child,
        )
        self.file_system_policy = aws.efs.FileSystemPolicy(
            f"{name}-efs-policy",
            file_system_id=self.file_system.id,
            policy=pulumi.Output.all(
                self.file_system.arn, self.access_point.arn, self.role.arn
            ).apply(lambda v: json.dumps(file_system_policy(v[0], v[1], v[2]), sort_keys=True)),
            opts=child,
        )
        self.role.grant(
            "shared-file-system",
            [
                Statement(
                    sid="MountThroughAccessPoint",
                    actions=("elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"),
                    resources=[self.file_system.arn],
                    conditions={
                        "ArnEquals": {"elasticfilesystem:AccessPointArn": self.access_point.arn}
                    },
                )
            ],
        )

    def _load_balancer(self, lb: PoolLoadBalancer) -> None:
        """NLB with a security group admitting the ports from the allowed CIDRs only."""
        name, args = self._name, self._args
        child = pulumi.ResourceOptions(parent=self)
        self.load_balancer_security_group = aws.ec2.SecurityGroup(
            f"{name}-lb-sg",
            vpc_id=args.vpc_id,
            description=(
                f"Load balancer of pool {name}: ports {', '.join(map(str, lb.ports))} from the "
                "allowed networks only"
            ),
            tags=self._tags("lb-sg"),
            opts=child,
        )
        lb_sg, pool_sg = self.load_balancer_security_group, self.security_group
        for port in lb.ports:
            for index, cidr in enumerate(lb.allowed_cidrs):
                aws.vpc.SecurityGroupIngressRule(
                    f"{name}-lb-{port}-in-{index}",
                    security_group_id=lb_sg.id,
                    cidr_ipv4=cidr,
                    description=f"Port {port} from allowed network {cidr}",
                    ip_protocol="tcp",
                    from_port=port,
                    to_port=port,
                    opts=child,
                )
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-lb-{port}-out",
                security_group_id=lb_sg.id,
                referenced_security_group_id=pool_sg.id,
                description=f"Port {port} to the instances of pool {name}",
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                opts=child,
            )
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-{port}-from-lb",
                security_group_id=pool_sg.id,
                referenced_security_group_id=lb_sg.id,
                description=f"Port {port} (and its health checks) from the load balancer of the pool",
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                opts=child,
            )
        self.load_balancer = aws.lb.LoadBalancer(
            f"{name}-nlb",
            # Load balancer and target group names end at 32 characters; the pool's name
            # plus Pulumi's random suffix would not fit, so AWS names them from a prefix.
            name_prefix=NLB_NAME_PREFIX,
            load_balancer_type="network",
            internal=not lb.internet_facing,
            subnets=list(lb.public_subnet_ids) if lb.internet_facing else list(args.subnet_ids),
            security_groups=[lb_sg.id],
            enable_cross_zone_load_balancing=True,
            enable_deletion_protection=args.protect,
            access_logs=(
                aws.lb.LoadBalancerAccessLogsArgs(
                    bucket=lb.access_logs_bucket, enabled=True, prefix=name
                )
                if lb.access_logs_bucket is not None
                else None
            ),
            tags=self._tags("nlb"),
            opts=child,
        )
        for port in lb.ports:
            group = aws.lb.TargetGroup(
                f"{name}-tg-{port}",
                name_prefix=target_group_name_prefix(port),
                port=port,
                protocol="TCP",
                target_type="instance",
                vpc_id=args.vpc_id,
                deregistration_delay=30,
                stickiness=aws.lb.TargetGroupStickinessArgs(type="source_ip", enabled=True),
                health_check=aws.lb.TargetGroupHealthCheckArgs(
                    protocol="TCP",
                    port="traffic-port",
                    healthy_threshold=3,
                    unhealthy_threshold=3,
                    interval=30,
                ),
                tags=self._tags(f"tg-{port}"),
                opts=child,
            )
            aws.lb.Listener(
                f"{name}-listener-{port}",
                load_balancer_arn=self.load_balancer.arn,
                port=port,
                protocol="TCP",
                default_actions=[
                    aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=group.arn)
                ],
                tags=self._tags(f"listener-{port}"),
                opts=child,
            )
            self.target_groups[port] = group

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
        # DESIGN decision 8: the stop schedule sets the desired capacity and the minimum size
        # to zero; a later deployment must not start the instances again.
        ignore = ["desiredCapacity", "minSize"] if args.schedule is not None else []
        return aws.autoscaling.Group(
            f"{self._name}-asg",
            vpc_zone_identifiers=list(args.subnet_ids),
            min_size=args.min_size,
            max_size=args.max_size,
            desired_capacity=args.desired_capacity,
            capacity_rebalance=args.spot,
            health_check_type="ELB" if behind_load_balancer else "EC2",
            health_check_grace_period=args.health_check_grace_period_seconds,
            target_group_arns=[g.arn for g in self.target_groups.values()] or None,
            service_linked_role_arn=self.service_linked_role.arn,
            enabled_metrics=list(ASG_METRICS),
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
            tags=[
                aws.autoscaling.GroupTagArgs(
                    key="Name", value=f"{self._name}-asg", propagate_at_launch=False
                )
            ],
            opts=pulumi.ResourceOptions(
                parent=self, ignore_changes=ignore, depends_on=self._launch_dependencies()
            ),
        )

    def _launch_dependencies(self) -> list[pulumi.Resource]:
        """What must exist before the group launches its first instance: the key grant (the
        encrypted root volume), every policy of the instance role (Session Manager, agent,
        file system, the caller's grants), the instances' egress rules and, with a shared
        file system, its available mount targets, NFS ingress and policy (the first boot
        mounts it before the first-boot scripts run)."""
        found: list[pulumi.Resource] = [self.key_grant, *self.role.grants.values(), *self.egress_rules]
        found += self.mount_targets
        found += [r for r in (self.file_system_ingress, self.file_system_policy) if r is not None]
        return found

    def _schedules(self, schedule: PoolSchedule) -> list[aws.autoscaling.Schedule]:
        """Scale to the configured size at ``start_cron``, to zero at ``stop_cron``."""
        args, child = self._args, pulumi.ResourceOptions(parent=self)
        plan = (
            ("start", schedule.start_cron, args.min_size, args.desired_capacity),
            ("stop", schedule.stop_cron, 0, 0),
        )
        return [
            aws.autoscaling.Schedule(
                f"{self._name}-{action}",
                scheduled_action_name=f"{self._name}-{action}",
                autoscaling_group_name=self.group.name,
                recurrence=cron,
                time_zone=schedule.timezone,
                min_size=min_size,
                max_size=args.max_size,
                desired_capacity=desired,
                opts=child,
            )
            for action, cron, min_size, desired in plan
        ]

    def _alarms(self, args: InstancePoolArgs) -> dict[str, aws.cloudwatch.MetricAlarm]:
        """CPU, memory and disk alarms on the agent's pool-wide series.

        Missing data is ``notBreaching``: a pool scaled to zero (nights, weekends, idle)
        publishes nothing, and that silence is expected, not an incident.
        """
        dimensions = {DIMENSION_AUTO_SCALING_GROUP: self.group.name}
        plan = {
            "cpu": (METRIC_CPU_USAGE_ACTIVE, args.cpu_alarm_percent, "Average", 3,
                    "average CPU use of the pool's instances has been high for 15 minutes: "
                    "add instances (max_size) or larger instance types"),
            "memory": (METRIC_MEM_USED_PERCENT, args.memory_alarm_percent, "Average", 3,
                       "average memory use of the pool's instances has been high for 15 "
                       "minutes: processes may be killed; use instance types with more memory"),
            "disk": (METRIC_DISK_USED_PERCENT, args.disk_alarm_percent, "Maximum", 1,
                     "a disk of an instance in the pool is filling up: clean it, move data to "
                     "the shared file system or S3, or raise the volume size"),
        }
        alarms = {}
        for purpose, (metric, threshold, statistic, periods, meaning) in plan.items():
            alarms[purpose] = metric_alarm(
                f"{self._name}-{purpose}",
                AlarmArgs(
                    namespace=self.namespace,
                    metric_name=metric,
                    threshold=float(threshold),
                    treat_missing_data="notBreaching",
                    description=f"Pool {self._name}: {meaning}.",
                    dimensions=dimensions,
                    statistic=statistic,
                    period=300,
                    evaluation_periods=periods,
                ),
                self._args.alerts,
                pulumi.ResourceOptions(parent=self),
            )
        return alarms

    def _failure_notifications(self) -> None:
        """Auto Scaling launch/terminate failures go to the alert topic (through EventBridge,
        which the topic and its key already admit)."""
        child = pulumi.ResourceOptions(parent=self)
        self.failure_rule = aws.cloudwatch.EventRule(
            f"{self._name}-failures",
            description=f"Pool {self._name}: instances that could not be launched or terminated",
            event_pattern=pulumi.Output.json_dumps(
                {
                    "source": ["aws.autoscaling"],
                    "detail-type": list(ASG_FAILURE_EVENTS),
                    "detail": {"AutoScalingGroupName": [self.group.name]},
                }
            ),
            tags=self._tags("failures"),
            opts=child,
        )
        aws.cloudwatch.EventTarget(
            f"{self._name}-failures",
            rule=self.failure_rule.name,
            arn=self._args.alerts.arn,
            opts=child,
        )

    # -- for the stack outputs and the dashboard ---------------------------------------------

    def outputs(self) -> dict[str, Any]:
        """What users and other stacks reference: the group, the role, the entry points."""
        return {
            "autoScalingGroupName": self.group.name,
            "instanceRoleArn": self.role.arn,
            "securityGroupId": self.security_group.id,
            "logGroupName": self.log_group.name,
            "fileSystemId": self.file_system.id if self.file_system is not None else None,
            "accessPointId": self.access_point.id if self.access_point is not None else None,
            "loadBalancerDnsName": (
                self.load_balancer.dns_name if self.load_balancer is not None else None
            ),
        }


    def widgets(self) -> list[MetricWidget]:
        """Dashboard widgets: instances in service and the pool's CPU, memory and disk use."""
        group = {DIMENSION_AUTO_SCALING_GROUP: self.group.name}
        return [
            MetricWidget(
                title=f"Pool {self._name}: instances",
                metrics=[
                    Metric("AWS/AutoScaling", "GroupDesiredCapacity", group, label="desired"),
                    Metric("AWS/AutoScaling", "GroupInServiceInstances", group, label="in service"),
                ],
                stat="Average",
            ),
            MetricWidget(
                title=f"Pool {self._name}: CPU, memory, fullest disk (%)",
                metrics=[
                    Metric(self.namespace, METRIC_CPU_USAGE_ACTIVE, group, label="CPU"),
                    Metric(self.namespace, METRIC_MEM_USED_PERCENT, group, label="memory"),
                    Metric(self.namespace, METRIC_DISK_USED_PERCENT, group, label="disk"),
                ],
                stat="Maximum",
            ),
        ]


def _log_group_prefix(name: str) -> str:
    """Name prefix of a pool's log group."""
    return f"/mlops/instances/{name}-"


def file_system_policy(file_system_arn: str, access_point_arn: str, role_arn: str) -> dict[str, Any]:
    """The shared file system's policy: the pool's role mounts and writes through the access
    point over a mount target; nobody connects without TLS; nobody gets root access."""
    client_actions = [
        "elasticfilesystem:ClientMount",
        "elasticfilesystem:ClientRootAccess",
        "elasticfilesystem:ClientWrite",
    ]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PoolMountsThroughAccessPoint",
                "Effect": "Allow",
                "Principal": {"AWS": role_arn},
                "Action": ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"],
                "Resource": file_system_arn,
                "Condition": {
                    "ArnEquals": {"elasticfilesystem:AccessPointArn": access_point_arn},
                    "Bool": {"elasticfilesystem:AccessedViaMountTarget": "true"},
                },
            },
            {
                "Sid": "DenyWithoutTls",
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": client_actions,
                "Resource": file_system_arn,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ],
    }
