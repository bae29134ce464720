"""The failover inventory document and the SSM parameter names: the contract between the
program (stacks/standby.py writes it in every region) and ``python -m stacks failover``
(stacks/failover reads it). Standard library only, so the failover commands start fast and
never import Pulumi.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

INVENTORY_VERSION = 1
INVENTORY_PARAMETER = "/mlops/{environment}/failover/inventory"
ACTIVE_REGION_PARAMETER = "/mlops/{environment}/failover/active-region"


def inventory_parameter(environment: str) -> str:
    return INVENTORY_PARAMETER.format(environment=environment)


def active_region_parameter(environment: str) -> str:
    return ACTIVE_REGION_PARAMETER.format(environment=environment)


class InventoryError(ValueError):
    """An inventory document that is not what this version of the program writes."""


@dataclass(frozen=True)
class ScheduleRef:
    """An EventBridge Scheduler schedule enabled only in the active region."""

    group: str
    name: str
    capability: str


@dataclass(frozen=True)
class RuleRef:
    """An EventBridge rule (raw-data trigger) enabled only in the active region."""

    name: str
    capability: str
    event_bus_name: str = "default"


@dataclass(frozen=True)
class PoolRef:
    """An instance pool's Auto Scaling group and the sizes it runs at when active."""

    pool: str
    auto_scaling_group_name: str
    min_size: int
    max_size: int
    desired_capacity: int
    standby: bool
    """True in the standby region: the group is at zero until failover scales it."""


@dataclass(frozen=True)
class Inventory:
    """The parsed inventory of one region."""

    environment: str
    region: str
    schedules: tuple[ScheduleRef, ...] = ()
    rules: tuple[RuleRef, ...] = ()
    pools: tuple[PoolRef, ...] = ()
    tables: tuple[str, ...] = ()
    buckets: Mapping[str, str] = field(default_factory=dict)


def _items(doc: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = doc.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise InventoryError(f"{key!r} is not a list of objects")
    return value


def parse_inventory(text: str) -> Inventory:
    """Parse an inventory document (:class:`InventoryError` when it is not one)."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InventoryError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise InventoryError("not a JSON object")
    if doc.get("version") != INVENTORY_VERSION:
        raise InventoryError(
            f"version {doc.get('version')!r}; this program reads version {INVENTORY_VERSION} "
            "(deploy the stack with this version of the program first)"
        )
    try:
        buckets = doc.get("buckets", {})
        if not isinstance(buckets, dict):
            raise InventoryError("'buckets' is not an object")
        return Inventory(
            environment=str(doc["environment"]),
            region=str(doc["region"]),
            schedules=tuple(
                ScheduleRef(str(s["group"]), str(s["name"]), str(s["capability"]))
                for s in _items(doc, "schedules")
            ),
            rules=tuple(
                RuleRef(str(r["name"]), str(r["capability"]), str(r.get("eventBusName", "default")))
                for r in _items(doc, "rules")
            ),
            pools=tuple(
                PoolRef(
                    pool=str(p["pool"]),
                    auto_scaling_group_name=str(p["autoScalingGroupName"]),
                    min_size=int(p["minSize"]),
                    max_size=int(p["maxSize"]),
                    desired_capacity=int(p["desiredCapacity"]),
                    standby=bool(p["standby"]),
                )
                for p in _items(doc, "pools")
            ),
            tables=tuple(str(t["name"]) for t in _items(doc, "tables")),
            buckets={str(k): str(v) for k, v in buckets.items()},
        )
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, InventoryError):
            raise
        raise InventoryError(f"missing or malformed entry: {exc}") from None
