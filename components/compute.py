"""Compute: startup scripts for EC2 instances (cloud-init user data) and instance pools.

Sections of this module:

1. CloudWatch agent: the metric and dimension names the agent publishes (shared with the alarm
   code) and :func:`cloudwatch_agent_config`, the agent's JSON configuration.
2. Startup scripts: :class:`StartupScripts` renders cloud-init multipart user data from
   first-boot scripts (once per instance) and every-boot scripts (at each start, for example
   after an office-hours stop), plus the CloudWatch agent and a shared EFS mount.
3. Instance pools: ``InstancePool`` (launch template, Auto Scaling group, schedules, alarms).

How the user data maps onto cloud-init (Amazon Linux 2023 / Amazon Linux 2 images, which carry
``amazon-cloudwatch-agent`` and ``amazon-efs-utils`` in their package repositories):

* Part 1, ``text/cloud-config``: ``packages`` to install; ``write_files`` for the agent
  configuration, the EFS ``/etc/fstab`` entry (``append``) and every every-boot script, placed
  in ``/var/lib/cloud/scripts/per-boot/`` with mode 0755. ``write_files`` runs once per
  instance; cloud-init's ``scripts-per-boot`` runs the files in that directory at every boot.
* One ``text/x-shellscript`` part per first-boot script. cloud-init runs such parts once per
  instance (``scripts-user``), in file-name order.

File names carry a two-digit position (``01-<name>``, ``02-<name>``, ...) so that cloud-init's
name-ordered execution keeps the order given. Built-in steps use position ``00``: the agent
start (``00-mlops-cloudwatch-agent``) runs before the first-boot scripts, the EFS mount
(``00-mlops-efs-mount``) before the every-boot scripts.

Order on an instance's first boot (cloud-init's final stage): packages are installed, then the
every-boot scripts run (``scripts-per-boot``), then the first-boot scripts (``scripts-user``).
So an every-boot script must not rely on work a first-boot script does; a first-boot script
may rely on the EFS mount. On later boots only the every-boot scripts run.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from typing import Any, Optional, Sequence

import yaml

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
#: cloud-init runs every executable file in this directory at every boot.
PER_BOOT_SCRIPTS_DIR = "/var/lib/cloud/scripts/per-boot"
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


@dataclass(frozen=True)
class StartupScripts:
    """Startup work for an EC2 instance, rendered as cloud-init multipart user data.

    Validated on construction: every problem is collected and one ``ValueError`` names each
    offending field (``first_boot[1].name: ...``), including user data over 16384 bytes. The
    limit is enforced rather than worked around with gzip, so the user data stays readable in
    the console and in ``pulumi preview`` diffs; large payloads belong in the image or in S3.
    """

    first_boot: Sequence[Script] = ()
    """Scripts run once per instance, on its first boot, in this order. Default: none (only
    the built-in agent start, when the agent is configured)."""

    every_boot: Sequence[Script] = ()
    """Scripts run at every boot (on the first boot before the first-boot scripts), in this
    order. Default: none (only the built-in EFS mount, when a mount is configured)."""

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
        """First-boot scripts with their file names, in execution order (built-ins first)."""
        files = []
        if self.cloudwatch_agent is not None:
            files.append((AGENT_START_SCRIPT, agent_start_script()))
        return files + [(f"{i:02d}-{s.name}", s) for i, s in enumerate(self.first_boot, 1)]

    def every_boot_files(self) -> list[tuple[str, Script]]:
        """Every-boot scripts with their paths in ``PER_BOOT_SCRIPTS_DIR``, in execution order."""
        files = []
        if self.efs_mount is not None:
            files.append((EFS_MOUNT_SCRIPT, self.efs_mount.mount_script()))
        files += [(f"{i:02d}-{s.name}", s) for i, s in enumerate(self.every_boot, 1)]
        return [(f"{PER_BOOT_SCRIPTS_DIR}/{name}", script) for name, script in files]

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
        document: dict[str, Any] = {}
        if packages:
            document["packages"] = packages
        if write_files:
            document["write_files"] = write_files
        return document

    def render(self) -> str:
        """The user data: a MIME multipart message, byte-identical for equal inputs.

        Part 1 is ``text/cloud-config`` (file name ``cloud-config.yaml``); then one
        ``text/x-shellscript`` part per first-boot script, named as in ``first_boot_files``.
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
# InstancePool (launch template with IMDSv2 and encrypted EBS, Auto Scaling group across
# private subnets, office-hours schedules, CPU/memory/disk alarms on the metrics above) is
# added here later. Its launch template takes ``StartupScripts(...).render_base64()``.
