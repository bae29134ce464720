"""Checks shared by the compute modules: the one-message problem report and mount paths.

Every compute argument class collects its problems as ``"<key>: <what is wrong>"`` strings;
:func:`problem_report` turns them into the single ``ValueError`` message the constructors
raise. Mount directories are checked the same way for a startup script's EFS mount and for a
pool's shared file system.
"""

from __future__ import annotations

import re

#: An absolute path of letters, digits and ``._-`` (no trailing slash, no spaces).
ABSOLUTE_PATH_RE = re.compile(r"(/[A-Za-z0-9._\-]+)+")
#: Mount paths that would hide part of the operating system.
RESERVED_MOUNT_PATHS = frozenset(
    "/bin /boot /dev /etc /lib /lib64 /opt /proc /root /run /sbin /sys /tmp /usr /var".split()
)


def problem_report(what: str, problems: list[str]) -> str:
    """One error message listing every problem, one per line."""
    count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
    return f"invalid {what} ({count}):\n" + "\n".join(f"  - {p}" for p in problems)


def mount_path_problems(key: str, path: object) -> list[str]:
    """Problems with an EFS mount directory."""
    if not (isinstance(path, str) and ABSOLUTE_PATH_RE.fullmatch(path)):
        return [
            f"{key}: {path!r} is not an absolute directory such as '/mnt/shared' "
            "(letters, digits, '._-' and '/')"
        ]
    if any(part in (".", "..") for part in path.split("/")):
        return [f"{key}: {path!r} contains '.' or '..': give the directory itself"]
    if path in RESERVED_MOUNT_PATHS:
        return [f"{key}: {path!r} would hide a system directory: use one such as '/mnt/shared'"]
    return []
