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

The document's shape is defined once, in :mod:`stacks.standby_document` (:class:`Inventory`,
:func:`parse_inventory`, standard library only), and used by both sides; its version changes
whenever the shape does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_aws as aws

if TYPE_CHECKING:
    from components.jobs import BatchJob, Jobs
    from components.training import ContinuousTraining

from stacks.standby_document import (  # noqa: F401  (re-exported: the contract)
    ACTIVE_REGION_PARAMETER,
    INVENTORY_PARAMETER,
    INVENTORY_VERSION,
    Inventory,
    InventoryError,
    PoolRef,
    RuleRef,
    ScheduleRef,
    active_region_parameter,
    inventory_parameter,
    parse_inventory,
)


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
        #: Set by :func:`failover_parameters`: an entry added later would be missing from
        #: the deployed document, so adding one then is an error.
        self.written = False

    def _open(self) -> None:
        if self.written:
            raise RuntimeError(
                f"the failover inventory of {self.region} is already written (its SSM parameter "
                "is created at the end of RegionalPlatform.build()); add entries before that"
            )

    def add_schedule(
        self, group: pulumi.Input[str], name: pulumi.Input[str], capability: str
    ) -> None:
        self._open()
        self._schedules.append({"group": group, "name": name, "capability": capability})

    def add_rule(
        self, name: pulumi.Input[str], capability: str, event_bus_name: str = "default"
    ) -> None:
        self._open()
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
        self._open()
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
        self._open()
        self._tables.append({"name": name})

    def add_buckets(self, buckets: Mapping[str, pulumi.Input[str]]) -> None:
        self._open()
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


# Recording what the capabilities built --------------------------------------------------------


def record_job(inventory: StandbyInventory, job: BatchJob, capability: str) -> None:
    """Add ``job``'s switchable schedule and object trigger (if any) to ``inventory``.

    Names are the deployed ones (outputs): the schedule's group is auto-named, and so is the
    trigger's rule. A schedule paused in config is not switchable and is left out, so a
    failover never enables it.
    """
    schedule = job.switchable_schedule
    if schedule is not None:
        inventory.add_schedule(schedule.group_name, schedule.name, capability)
    rule = job.switchable_rule
    if rule is not None:
        inventory.add_rule(rule.name, capability)


def record_jobs(inventory: StandbyInventory, jobs: Jobs) -> None:
    """Every job of ``mlops:jobs`` (capability ``jobs:<job>``)."""
    for name, job in jobs.jobs.items():
        record_job(inventory, job, f"jobs:{name}")


def record_training(inventory: StandbyInventory, training: ContinuousTraining | None) -> None:
    """The drift check's schedule and new-curated-data trigger (capability ``training:drift``).

    The retraining rule (drift alarm -> training run) is not switchable: it stays enabled in
    every region and fires only on its own region's drift alarm.
    """
    if training is not None:
        record_job(inventory, training.drift_job, "training:drift")


# The SSM parameters ---------------------------------------------------------------------------

#: Largest value of a standard and of an advanced parameter: "Maximum size of a parameter
#: value: 4 KB / 8 KB" (Systems Manager User Guide, "Managing parameter tiers",
#: https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html).
#: The document is ASCII JSON, so its length in characters is its size in bytes.
STANDARD_TIER_MAX_BYTES = 4096
ADVANCED_TIER_MAX_BYTES = 8192


def parameter_tier(document: str, region: str = "") -> str:
    """``Standard`` (free) when ``document`` fits 4 KB, ``Advanced`` up to 8 KB.

    The tier is chosen here rather than with ``Intelligent-Tiering``: AWS documents that
    Intelligent-Tiering creates a standard parameter unless the request needs advanced
    (User Guide, "Specifying a default parameter tier",
    https://docs.aws.amazon.com/systems-manager/latest/userguide/ps-default-tier.html), but
    the provider suppresses every diff on a tier given as Intelligent-Tiering
    (terraform-provider-aws ``internal/service/ssm/parameter.go``, ``DiffSuppressFunc``; see
    also pulumi/pulumi-aws#5595 and aws/aws-sdk-net#3157, where a value over 4096 characters
    was refused), so the plan could neither show nor test which tier a region gets.
    """
    size = len(document.encode("utf-8"))
    if size <= STANDARD_TIER_MAX_BYTES:
        return "Standard"
    if size <= ADVANCED_TIER_MAX_BYTES:
        return "Advanced"
    raise ValueError(
        f"the failover inventory of {region or 'a region'} is {size} bytes; a Parameter Store "
        f"value holds at most {ADVANCED_TIER_MAX_BYTES} (advanced tier): fewer schedules, "
        "triggers or pools per region, or split the inventory"
    )


@dataclass(frozen=True)
class FailoverParameters:
    """One region's two SSM parameters (see the module docstring)."""

    inventory: aws.ssm.Parameter
    active_region: aws.ssm.Parameter


def failover_parameters(
    name: str,
    inventory: StandbyInventory,
    active_region: str,
    parent: pulumi.Resource,
) -> FailoverParameters:
    """Write ``inventory`` and the initially active region as SSM parameters of the region
    ``parent`` deploys to (call last: the inventory takes no entries afterwards).

    Both are ``String`` parameters (nothing in them is secret) given as ``insecure_value``
    so that previews and the offline plan show them; tags come from the provider's default
    tags, like every resource of the region.
    """
    environment = inventory.environment
    document = inventory.document()
    inventory.written = True
    region = inventory.region
    inventory_param = aws.ssm.Parameter(
        f"{name}-failover-inventory",
        name=inventory_parameter(environment),
        type="String",
        insecure_value=document,
        tier=document.apply(lambda text: parameter_tier(text, region)),
        description=(
            f"mlops {environment} {region}: what `python -m stacks failover` switches in this "
            "region (managed by Pulumi; rewritten by every deployment)"
        ),
        tags={"Name": f"{name}-failover-inventory"},
        # A tier change from Advanced back to Standard replaces the parameter (the provider
        # forces a new one: AWS refuses the downgrade), and the replacement has the same
        # name: delete the old one first, or the create would find the name taken.
        opts=pulumi.ResourceOptions(parent=parent, delete_before_replace=True),
    )
    active = aws.ssm.Parameter(
        f"{name}-failover-active-region",
        name=active_region_parameter(environment),
        type="String",
        tier="Standard",
        insecure_value=active_region,
        description=(
            f"mlops {environment}: the active region as {region} knows it (set at creation "
            "from mlops:resilience.activeRegion, then by `python -m stacks failover`/`failback`)"
        ),
        tags={"Name": f"{name}-failover-active-region"},
        # Runtime state: failover/failback write it. A `pulumi up` must not set it back to
        # the configured region (that would contradict the schedules' real states).
        opts=pulumi.ResourceOptions(parent=parent, ignore_changes=["insecureValue"]),
    )
    return FailoverParameters(inventory=inventory_param, active_region=active)
