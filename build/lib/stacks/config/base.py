"""What every section of the ``mlops:`` config shares: the model base (keys written in
camelCase, unknown keys refused), the namespace, and small readers of the decoded raw
values that the cross-key checks use.

Cross-key checks work on the decoded raw values (not on validated models), so that they are
reported together with every per-key problem even when other keys are invalid; the readers
here return None for anything of the wrong shape (its own key reports that).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

NAMESPACE = "mlops"

PRODUCTION_ENVIRONMENTS = frozenset({"prod", "production"})

T = TypeVar("T")


class ConfigModel(BaseModel):
    """Base of every config section: frozen, keys as written in camelCase, no unknown keys."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=False,
        str_strip_whitespace=True,
    )


def short_name(value: str, kind: str) -> str:
    """Names that become part of AWS resource names (roles, load balancers) stay short."""
    if not re.fullmatch(r"[a-z][a-z0-9-]{0,19}", value):
        raise ValueError(
            f"{value!r} is not a {kind} name; use 1-20 lowercase letters, digits or '-', "
            "starting with a letter"
        )
    return value


def checked(problem: str | None, value: T) -> T:
    """``value`` when ``problem`` is None; else raise it (pydantic reports it under the key)."""
    if problem:
        raise ValueError(problem)
    return value


def raise_joined(problems: list[str]) -> None:
    """Raise the problems of one key as one message (pydantic reports it under the key)."""
    if problems:
        raise ValueError("; ".join(problems))


def field_default(model: type[BaseModel], name: str) -> Any:
    """The default of a model field, for cross-key checks of keys left out."""
    return model.model_fields[name].default


# Readers of the decoded raw values -------------------------------------------------------


def count(value: Any) -> int | None:
    """``value`` when it is a whole number (not a bool), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def section(data: Mapping[str, Any], key: str) -> dict[str, Any] | None:
    """The mapping under ``mlops:<key>``, or None when it is missing or not a mapping."""
    value = data.get(key)
    return value if isinstance(value, dict) else None


def is_production(data: Mapping[str, Any]) -> bool:
    """``mlops:environment`` names a production environment."""
    environment = data.get("environment")
    return isinstance(environment, str) and environment in PRODUCTION_ENVIRONMENTS


def az_count(data: Mapping[str, Any]) -> Any:
    """``mlops:network.azCount`` as written (None when the network key is not a mapping)."""
    network = section(data, "network")
    return network.get("azCount") if network is not None else None
