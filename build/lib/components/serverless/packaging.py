"""Deterministic packaging of a function's code.

The archive lists the files of the source directory explicitly (caches, compiled files and
hidden files are left out), so the same sources always produce the same archive and the
offline plan records each file's path relative to the project.
"""

from __future__ import annotations

import re
from pathlib import Path

_PY_HANDLER_RE = re.compile(
    r"^([A-Za-z_][A-Za-z0-9_]*(?:[./][A-Za-z_][A-Za-z0-9_]*)*)\.([A-Za-z_][A-Za-z0-9_]*)$"
)


def package_files(source_dir: str | Path) -> dict[str, Path]:
    """The files of ``source_dir`` that go into the deployment package, by archive path.

    Recursive and sorted; ``__pycache__``, hidden files and directories, and compiled
    ``.pyc``/``.pyo`` files are left out, so the archive depends only on the sources.
    Raises ``ValueError`` when the directory does not exist or holds no file.
    """
    root = Path(source_dir)
    if not root.is_dir():
        raise ValueError(f"source_dir: {str(source_dir)!r} is not a directory")
    files: dict[str, Path] = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if any(part.startswith(".") or part == "__pycache__" for part in relative.parts):
            continue
        if path.is_file() and path.suffix not in (".pyc", ".pyo"):
            files[relative.as_posix()] = path.resolve()
    if not files:
        raise ValueError(f"source_dir: {str(source_dir)!r} holds no files to package")
    return files


def handler_file(handler: str) -> str | None:
    """The archive path of a Python handler's module (``pkg.mod.fn`` -> ``pkg/mod.py``), or
    None when ``handler`` is not ``module.function``."""
    match = _PY_HANDLER_RE.match(handler)
    if not match:
        return None
    return match.group(1).replace(".", "/") + ".py"
