"""The steps ``failover``/``failback`` take in one region, each read before it is written.

Every step first reads the resource's state and writes only when it differs from the
desired one, so a re-run after a half-done switch finishes it and reports what was already
right as ``unchanged``; ``--dry-run`` stops after the read (``would change``). Resource names
come only from the region's inventory (:mod:`stacks.standby`).

A region whose API cannot be reached (connection errors, timeouts, HTTP 5xx) is marked down
at its first such error; its remaining steps are not attempted (each would wait for the
timeout again).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from stacks.failover.clients import Clients, error_code, error_message, unreachable_reason
from stacks.standby_document import (
    Inventory,
    InventoryError,
    PoolRef,
    RuleRef,
    ScheduleRef,
    active_region_parameter,
    inventory_parameter,
    parse_inventory,
)

OK = "ok"
CHANGED = "changed"
UNCHANGED = "unchanged"
WOULD_CHANGE = "would change"
FAILED = "failed"
UNREACHABLE = "unreachable"
SKIPPED = "skipped"
WARNING = "warning"
"""The step reached its state, but something needs an operator's attention (exit code 0)."""

#: Replica states DynamoDB ends after 20 hours by turning the replica into a single-Region
#: table (replication to and from it stops): ReplicaStatus REGION_DISABLED and
#: INACCESSIBLE_ENCRYPTION_CREDENTIALS ("If the ... remains inaccessible for more than 20
#: hours, DynamoDB will remove this replica from the replication group": DynamoDB API
#: Reference, ReplicaDescription,
#: https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_ReplicaDescription.html)
#: and REPLICATION_NOT_AUTHORIZED ("remains in the REPLICATION_NOT_AUTHORIZED state for more
#: than 20 hours, the replica is irreversibly converted to a single-Region DynamoDB table":
#: DynamoDB developer guide, "DynamoDB global tables security",
#: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/globaltables-security.html).
REPLICA_STATES_WITH_A_20_HOUR_LIMIT = (
    "REGION_DISABLED",
    "INACCESSIBLE_ENCRYPTION_CREDENTIALS",
    "REPLICATION_NOT_AUTHORIZED",
)


@dataclass(frozen=True)
class Step:
    """One step's outcome, as printed."""

    region: str
    step: str
    resource: str
    outcome: str
    reason: str = ""

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass
class RegionRun:
    """The steps of one region, recorded in order."""

    region: str
    environment: str
    clients: Clients
    dry_run: bool
    steps: list[Step] = field(default_factory=list)
    down: str | None = None
    """Why the region could not be reached (its remaining steps are not attempted)."""
    inventory: Inventory | None = None
    """The region's inventory, once read."""

    def record(self, step: str, resource: str, outcome: str, reason: str = "") -> None:
        self.steps.append(Step(self.region, step, resource, outcome, reason))

    @property
    def failed(self) -> bool:
        return any(s.outcome == FAILED for s in self.steps)

    def attempt(self, step: str, resource: str, action: Callable[[], tuple[str, str]]) -> bool:
        """Run one step; record its outcome; True when it reached its desired state."""
        from botocore.exceptions import BotoCoreError, ClientError

        if self.down is not None:
            return False
        try:
            outcome, reason = action()
        except (BotoCoreError, ClientError) as exc:
            why = unreachable_reason(exc)
            if why is not None:
                self.down = why
                self.record(step, resource, UNREACHABLE, why)
                return False
            if isinstance(exc, ClientError):
                self.record(step, resource, FAILED, f"{error_code(exc)}: {error_message(exc)}")
            else:
                self.record(step, resource, FAILED, str(exc))
            return False
        except InventoryError as exc:
            self.record(step, resource, FAILED, str(exc))
            return False
        except (KeyError, TypeError, ValueError) as exc:  # an answer not shaped as documented
            self.record(step, resource, FAILED, f"unexpected answer: {type(exc).__name__}: {exc}")
            return False
        self.record(step, resource, outcome, reason)
        return outcome in (OK, CHANGED, UNCHANGED, WOULD_CHANGE, WARNING)

    def _client(self, service: str) -> Any:
        return self.clients(service, self.region)

    def _change(self, before: str, after: str, write: Callable[[], object]) -> tuple[str, str]:
        """Write unless dry-running; the outcome and its reason."""
        if self.dry_run:
            return WOULD_CHANGE, f"{before} -> {after}"
        write()
        return CHANGED, f"{before} -> {after}"

    # The inventory ----------------------------------------------------------------------
    def read_inventory(self) -> Inventory | None:
        """The region's inventory (None when it could not be read: recorded)."""
        name = inventory_parameter(self.environment)
        found: list[Inventory] = []

        def read() -> tuple[str, str]:
            value = self._client("ssm").get_parameter(Name=name)["Parameter"]["Value"]
            inventory = parse_inventory(value)
            if inventory.environment != self.environment or inventory.region != self.region:
                raise InventoryError(
                    f"it describes environment {inventory.environment!r} in "
                    f"{inventory.region!r}, not {self.environment!r} in {self.region!r}"
                )
            found.append(inventory)
            return OK, (
                f"{len(inventory.schedules)} schedule(s), {len(inventory.rules)} rule(s), "
                f"{len(inventory.pools)} pool(s), {len(inventory.tables)} table(s), "
                f"{len(inventory.buckets)} bucket(s)"
            )

        self.attempt("inventory", name, read)
        self.inventory = found[0] if found else None
        return self.inventory

    # Schedules and rules ----------------------------------------------------------------
    def schedule(self, ref: ScheduleRef, enabled: bool) -> None:
        """Set an EventBridge Scheduler schedule's state, keeping its whole definition.

        UpdateSchedule replaces the schedule: "if you do not set an optional field in your
        request, that field will be set to its system-default value after the update"; AWS
        recommends calling GetSchedule first (EventBridge Scheduler API Reference,
        UpdateSchedule: https://docs.aws.amazon.com/scheduler/latest/APIReference/API_UpdateSchedule.html).
        So every field GetSchedule returns that UpdateSchedule accepts is sent back as is,
        with only State changed.
        """
        want = "ENABLED" if enabled else "DISABLED"

        def run() -> tuple[str, str]:
            client = self._client("scheduler")
            current = client.get_schedule(Name=ref.name, GroupName=ref.group)
            state = current.get("State", "ENABLED")
            if state == want:
                return UNCHANGED, want
            accepted = client.meta.service_model.operation_model("UpdateSchedule").input_shape
            update = {k: v for k, v in current.items() if k in accepted.members}
            update.update(Name=ref.name, GroupName=ref.group, State=want)
            return self._change(state, want, lambda: client.update_schedule(**update))

        self.attempt(
            "enable schedule" if enabled else "disable schedule", f"{ref.group}/{ref.name}", run
        )

    def rule(self, ref: RuleRef, enabled: bool) -> None:
        """Enable or disable an EventBridge rule (EnableRule/DisableRule: a disabled rule
        "won't match any events": EventBridge API Reference, DisableRule,
        https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_DisableRule.html)."""

        def run() -> tuple[str, str]:
            client = self._client("events")
            state = client.describe_rule(Name=ref.name, EventBusName=ref.event_bus_name)["State"]
            # ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS is enabled too (DescribeRule State).
            if state.startswith("ENABLED") == enabled:
                return UNCHANGED, state
            call = client.enable_rule if enabled else client.disable_rule
            return self._change(
                state,
                "ENABLED" if enabled else "DISABLED",
                lambda: call(Name=ref.name, EventBusName=ref.event_bus_name),
            )

        resource = (
            ref.name if ref.event_bus_name == "default" else f"{ref.event_bus_name}/{ref.name}"
        )
        self.attempt("enable rule" if enabled else "disable rule", resource, run)

    # Pools ------------------------------------------------------------------------------
    def pool(self, ref: PoolRef, *, zero: bool = False) -> None:
        """Scale a pool's Auto Scaling group to its inventory sizes (or to zero).

        Active sizes: MinSize and MaxSize from the inventory; DesiredCapacity the inventory's
        unless the group already runs more (within MaxSize): failover never shrinks a pool
        that is busier than configured. Zero: MinSize 0, DesiredCapacity 0, MaxSize kept.
        UpdateAutoScalingGroup changes only the properties given ("Any properties that you
        don't specify are not changed": EC2 Auto Scaling API Reference,
        https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_UpdateAutoScalingGroup.html).
        """

        def run() -> tuple[str, str]:
            client = self._client("autoscaling")
            groups = client.describe_auto_scaling_groups(
                AutoScalingGroupNames=[ref.auto_scaling_group_name]
            )["AutoScalingGroups"]
            if not groups:
                return FAILED, "no such Auto Scaling group"
            group = groups[0]
            now = (group["MinSize"], group["MaxSize"], group["DesiredCapacity"])
            if zero:
                want = (0, now[1], 0)
            else:
                desired = now[2] if ref.desired_capacity <= now[2] <= ref.max_size else None
                want = (ref.min_size, ref.max_size, desired or ref.desired_capacity)
            if now == want:
                return UNCHANGED, _sizes(now)
            return self._change(
                _sizes(now),
                _sizes(want),
                lambda: client.update_auto_scaling_group(
                    AutoScalingGroupName=ref.auto_scaling_group_name,
                    MinSize=want[0],
                    MaxSize=want[1],
                    DesiredCapacity=want[2],
                ),
            )

        step = "scale pool to zero" if zero else "scale pool"
        self.attempt(step, f"{ref.pool} ({ref.auto_scaling_group_name})", run)

    # Data checks ------------------------------------------------------------------------
    def table(self, name: str) -> None:
        """The table's replica in this region is ACTIVE (DescribeTable: TableStatus of the
        local replica; Replicas lists the global table's replicas with their ReplicaStatus:
        DynamoDB API Reference, TableDescription and ReplicaDescription,
        https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TableDescription.html).

        A replica in ANOTHER region that is not ACTIVE does not stop this region from
        serving, so it is a warning, not a failure; when its state is one DynamoDB ends after
        20 hours (:data:`REPLICA_STATES_WITH_A_20_HOUR_LIMIT`) the warning says so, with the
        time DynamoDB first saw it inaccessible (ReplicaInaccessibleDateTime) when given.
        """

        def run() -> tuple[str, str]:
            table = self._client("dynamodb").describe_table(TableName=name)["Table"]
            status = table.get("TableStatus")
            replicas = {r.get("RegionName") or "-": r for r in table.get("Replicas", [])}
            own = (replicas.pop(self.region, None) or {}).get("ReplicaStatus")
            if status != "ACTIVE" or own not in (None, "ACTIVE"):
                return FAILED, f"TableStatus {status}, replica status here {own or '-'}"
            if not replicas:
                return OK, "ACTIVE (no replica in another region listed)"
            trouble = [
                _replica_warning(r, d)
                for r, d in sorted(replicas.items())
                if d.get("ReplicaStatus") != "ACTIVE"
            ]
            if trouble:
                return WARNING, "ACTIVE here; " + "; ".join(trouble)
            others = ", ".join(f"{r} ACTIVE" for r in sorted(replicas))
            return OK, f"ACTIVE; other replicas: {others}"

        self.attempt("check table replica", name, run)

    def bucket(self, zone: str, name: str) -> None:
        """The zone's bucket answers HeadBucket and is in this region (HeadBucket's
        BucketRegion: S3 API Reference, https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadBucket.html)."""

        def run() -> tuple[str, str]:
            head = self._client("s3").head_bucket(Bucket=name)
            where = head.get("BucketRegion")
            if where and where != self.region:
                return FAILED, f"the bucket is in {where}, not in {self.region}"
            return OK, f"{zone} zone reachable"

        self.attempt("check lake bucket", name, run)

    # The active-region parameter --------------------------------------------------------
    def active_region(self, value: str) -> bool:
        """Write the active-region parameter (read first: unchanged when it already says so).

        The parameter belongs to Pulumi (which ignores only its value), so the overwrite sends
        back its current type, tier and description (DescribeParameters) instead of leaving
        them to PutParameter's defaults.
        """
        from botocore.exceptions import ClientError

        name = active_region_parameter(self.environment)

        def run() -> tuple[str, str]:
            client = self._client("ssm")
            try:
                before = client.get_parameter(Name=name)["Parameter"]["Value"]
            except ClientError as exc:
                if error_code(exc) != "ParameterNotFound":
                    raise
                before = "(none)"
            if before == value:
                return UNCHANGED, value
            found = client.describe_parameters(
                ParameterFilters=[{"Key": "Name", "Option": "Equals", "Values": [name]}]
            )["Parameters"]
            keep = {
                k: found[0][k] for k in ("Type", "Tier", "Description") if found and k in found[0]
            }
            put = {"Type": "String", **keep, "Name": name, "Value": value, "Overwrite": True}
            return self._change(before, value, lambda: client.put_parameter(**put))

        return self.attempt("write active region", name, run)


def _replica_warning(region: str, replica: dict[str, Any]) -> str:
    """Why another region's replica needs attention."""
    state = replica.get("ReplicaStatus") or "-"
    since = replica.get("ReplicaInaccessibleDateTime")
    text = f"the replica in {region} is {state}"
    if since is not None:
        text += (
            f" (inaccessible since {since.isoformat() if hasattr(since, 'isoformat') else since})"
        )
    if state in REPLICA_STATES_WITH_A_20_HOUR_LIMIT:
        text += (
            ": if it stays so for more than 20 hours, DynamoDB removes it from the global table "
            "(it becomes a single-Region table and replication to and from it stops); fix its "
            "region, key or permissions before then"
        )
    return text


def _sizes(sizes: tuple[int, int, int]) -> str:
    return f"min {sizes[0]} max {sizes[1]} desired {sizes[2]}"
