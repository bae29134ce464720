"""Warm standby: what ``python -m stacks failover`` switches, recorded in every region.

The program writes, in every region, two SSM parameters:

- the **inventory** (:data:`INVENTORY_PARAMETER`, managed by Pulumi, updated by every
  ``pulumi up``): the real names of what failover acts on in that region: the schedules and
  EventBridge rules that run only in the active region, the instance pools with their
  configured sizes, the global tables and the lake buckets whose local replicas failover
  checks. Names come from the deployed resources (auto-named ones included), so the failover
  command needs no Pulumi, no state and no naming convention: only boto3 and the region.
- the **active region** (:data:`ACTIVE_REGION_PARAMETER`): runtime state. Pulumi creates it
  with ``mlops:resilience.activeRegion`` and then ignores its value, which belongs to
  ``failover``/``failback`` from then on (as do the switchable schedules' and rules' states).

The document's shape is defined once here (:class:`Inventory`, :func:`parse_inventory`) and
used by both sides; its version changes whenever the shape does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi

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


class StandbyInventory:
    """Collects one region's inventory while the program builds it (names as outputs)."""

    def __init__(self, environment: str, region: str) -> None:
        self.environment = environment
        self.region = region
        self._schedules: list[dict[str, pulumi.Input[str]]] = []
        self._rules: list[dict[str, pulumi.Input[str]]] = []
        self._pools: list[dict[str, Any]] = []
        self._tables: list[dict[str, pulumi.Input[str]]] = []
        self._buckets: dict[str, pulumi.Input[str]] = {}

    def add_schedule(
        self, group: pulumi.Input[str], name: pulumi.Input[str], capability: str
    ) -> None:
        self._schedules.append({"group": group, "name": name, "capability": capability})

    def add_rule(
        self, name: pulumi.Input[str], capability: str, event_bus_name: str = "default"
    ) -> None:
        self._rules.append({"name": name, "capability": capability, "eventBusName": event_bus_name})

    def add_pool(
        self,
        pool: str,
        auto_scaling_group_name: pulumi.Input[str],
        *,
        min_size: int,
        max_size: int,
        desired_capacity: int,
        standby: bool,
    ) -> None:
        self._pools.append(
            {
                "pool": pool,
                "autoScalingGroupName": auto_scaling_group_name,
                "minSize": min_size,
                "maxSize": max_size,
                "desiredCapacity": desired_capacity,
                "standby": standby,
            }
        )

    def add_table(self, name: pulumi.Input[str]) -> None:
        self._tables.append({"name": name})

    def add_buckets(self, buckets: Mapping[str, pulumi.Input[str]]) -> None:
        self._buckets.update(buckets)

    @property
    def empty(self) -> bool:
        return not (self._schedules or self._rules or self._pools or self._tables)

    def document(self) -> pulumi.Output[str]:
        """The inventory as JSON (keys sorted, so an unchanged region renders unchanged)."""

        return pulumi.Output.json_dumps(
            {
                "version": INVENTORY_VERSION,
                "environment": self.environment,
                "region": self.region,
                "schedules": list(self._schedules),
                "rules": list(self._rules),
                "pools": list(self._pools),
                "tables": list(self._tables),
                "buckets": dict(sorted(self._buckets.items())),
            },
            sort_keys=True,
        )
