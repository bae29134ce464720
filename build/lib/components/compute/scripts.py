"""A startup script and the built-in steps the platform adds to an instance's user data.

Owns :class:`Script` (one bash script, checked and rendered with a fixed header), the paths
and file names on the instance that the cloud-init layout relies on, and the built-in steps:
the CloudWatch agent start, the first-boot EFS mount, the per-boot hook that runs the
every-boot scripts and the last first-boot part that hands over to it. How these fit together
is described in :mod:`components.compute.startup_scripts`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

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
#: First lines of every rendered script: bash, stop at the first failing command, unset
#: variable or failing pipe stage.
SCRIPT_HEADER = "#!/bin/bash\nset -euo pipefail\n"
#: File names of the built-in steps (position 00 runs before the user's scripts).
AGENT_START_SCRIPT = "00-mlops-cloudwatch-agent"
EFS_MOUNT_SCRIPT = "00-mlops-efs-mount"
#: The last first-boot part: runs the every-boot scripts, then writes the marker. Letters sort
#: after digits in cloud-init's (code point) name order, so it follows every ``NN-`` part.
FIRST_BOOT_FINISH_SCRIPT = "zz-mlops-finish-first-boot"

_SCRIPT_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,63}")
#: Characters a script may not contain: control characters other than tab and newline
#: (including CR: bash reads "\r" as part of a command), and Unicode line separators, which
#: YAML treats as line breaks.
_FORBIDDEN_CHAR_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


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
