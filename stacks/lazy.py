"""Packages whose public names are imported on first use (PEP 562).

``stacks.config`` and ``stacks.offline`` name many things from modules that import Pulumi and
pulumi_aws (about a second); the commands that need only an error class or a path
(``diff``, ``cost --diff``, ``check --plan``, ``failover``) must not pay for the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def lazy_names(
    package: str, namespace: dict[str, Any], modules: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A package's ``__getattr__`` and ``__dir__``: ``modules`` maps each public name to the
    module that defines it; a name is imported on first use and kept in ``namespace`` (the
    package's globals), so later uses are plain lookups."""

    def getattr_(name: str) -> Any:
        module = modules.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(module), name)
        namespace[name] = value
        return value

    def dir_() -> list[str]:
        return sorted(set(namespace) | set(modules))

    return getattr_, dir_
