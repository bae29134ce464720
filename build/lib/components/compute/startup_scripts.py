"""Startup scripts for EC2 instances: cloud-init multipart user data.

Owns :class:`StartupScripts`, which renders the user data from first-boot scripts (once per
instance) and every-boot scripts (at each start, for example after an office-hours stop), plus
the CloudWatch agent (:mod:`components.compute.cloudwatch_agent`) and a shared EFS mount
(:class:`EfsMount`); the scripts and built-in steps are in :mod:`components.compute.scripts`.

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
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from typing import Any

import yaml

from components.compute.cloudwatch_agent import CloudWatchAgentConfig, cloudwatch_agent_config
from components.compute.scripts import (
    AGENT_START_SCRIPT,
    CLOUDWATCH_AGENT_CONFIG_PATH,
    EFS_MOUNT_SCRIPT,
    EVERY_BOOT_HOOK_PATH,
    EVERY_BOOT_SCRIPTS_DIR,
    FIRST_BOOT_FINISH_SCRIPT,
    Script,
    agent_start_script,
    efs_first_boot_mount_script,
    every_boot_hook_script,
    finish_first_boot_script,
)
from components.compute.validators import mount_path_problems, problem_report

#: EC2 limit on user data, in bytes before base64 encoding.
USER_DATA_MAX_BYTES = 16384
CLOUDWATCH_AGENT_PACKAGE = "amazon-cloudwatch-agent"
EFS_UTILS_PACKAGE = "amazon-efs-utils"
#: Scripts per list: positions are two digits so that name order is list order.
MAX_SCRIPTS = 99
#: How often the every-boot EFS mount is tried before the script fails.
EFS_MOUNT_ATTEMPTS = 5

_FILE_SYSTEM_ID_RE = re.compile(r"fs-[0-9a-f]{8,40}")
_ACCESS_POINT_ID_RE = re.compile(r"fsap-[0-9a-f]{8,40}")
_REGION_RE = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]+")


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
        found += mount_path_problems(f"{key}.mount_path", self.mount_path)
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

    cloudwatch_agent: CloudWatchAgentConfig | None = None
    """CloudWatch agent to install, configure and start on first boot. Default: no agent; the
    instance has EC2's basic metrics only (no memory or disk)."""

    efs_mount: EfsMount | None = None
    """Shared EFS file system to mount. Default: no shared file system."""

    def __post_init__(self) -> None:
        """Check every field, normalise the script lists to tuples, then check the size."""
        problems = self._field_problems()
        if not problems:
            object.__setattr__(self, "first_boot", tuple(self.first_boot))
            object.__setattr__(self, "every_boot", tuple(self.every_boot))
            problems = self._size_problems()
        if problems:
            raise ValueError(problem_report("StartupScripts", problems))

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
            (f"{EVERY_BOOT_SCRIPTS_DIR}/{name}", script)
            for name, script in self._every_boot_named()
        ]

    def every_boot_hook(self) -> Script | None:
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
