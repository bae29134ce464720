"""From a recorded plan to priced line items: fixed cost (what runs whether used or not) and
usage-priced items (with the assumption used), per region and capability.

A resource is *priced* when every line it yields has a price (a free type counts, at zero,
with the page that says so); anything else is listed as unpriced with the reason, never
counted as zero silently.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from stacks.cost.schedules import (
    HOURS_PER_MONTH,
    Cron,
    Lifetime,
    ScheduledAction,
    ScheduleError,
    capacity_between,
    capacity_hours_per_month,
)
from stacks.cost.table import Assumption, PriceTable

Kind = Literal["fixed", "usage", "free"]
PROVIDER_PREFIX = "pulumi:providers:"


@dataclass
class LineItem:
    """One priced (or unpriced) line of one resource."""

    urn: str
    name: str
    type: str
    region: str
    capability: str
    kind: Kind
    what: str
    quantity: float
    unit: str
    price_key: str | None = None
    unit_usd: float | None = None
    assumption: str | None = None
    unpriced_because: str | None = None
    hourly_usd: float | None = None
    """fixed lines: what the line costs per hour while it runs (the night saving uses it)."""
    window: Callable[[dt.datetime, dt.datetime], float] | None = field(default=None, repr=False)
    """fixed lines whose quantity varies over time (scheduled pools): the quantity accrued in
    a window if the stack existed throughout it."""

    @property
    def priced(self) -> bool:
        return self.kind == "free" or self.unit_usd is not None

    @property
    def monthly_usd(self) -> float | None:
        if self.kind == "free":
            return 0.0
        return None if self.unit_usd is None else self.quantity * self.unit_usd

    def to_dict(self) -> dict[str, Any]:
        return {
            "urn": self.urn,
            "name": self.name,
            "type": self.type,
            "region": self.region,
            "capability": self.capability,
            "kind": self.kind,
            "what": self.what,
            "quantity": round(self.quantity, 4),
            "unit": self.unit,
            "price_key": self.price_key,
            "unit_usd": self.unit_usd,
            "monthly_usd": None if self.monthly_usd is None else round(self.monthly_usd, 4),
            "assumption": self.assumption,
            "unpriced_because": self.unpriced_because,
        }


@dataclass
class Estimate:
    stack: str
    items: list[LineItem]
    lifetime: Lifetime
    stack_hours_per_month: float
    resources: int
    unpriced_resources: dict[str, str] = field(default_factory=dict)
    """urn -> why: resources with at least one line without a price."""

    @property
    def priced_share(self) -> float:
        return 1.0 if not self.resources else 1 - len(self.unpriced_resources) / self.resources

    def total(self, kind: Kind | None = None) -> float:
        return sum(i.monthly_usd or 0.0 for i in self.items if kind is None or i.kind == kind)


def capability_of(urn: str) -> str:
    """The capability that owns a resource: the first ``mlops:<module>:`` component in its URN
    under the regional platform (``network``, ``containers``, ...), else ``platform``."""
    chain = urn.split("::")[2].split("$") if urn.count("::") >= 3 else []
    for part in chain:
        if part.startswith("mlops:") and part != "mlops:stacks:RegionalPlatform":
            return part.split(":")[1].replace("_", " ")
    return "platform"


class _Context:
    def __init__(
        self,
        plan: Mapping[str, Any],
        table: PriceTable,
        assumptions: Mapping[str, Assumption],
        lifetime: Lifetime,
    ) -> None:
        self.resources: list[Mapping[str, Any]] = list(plan["resources"])
        self.by_urn = {r["urn"]: r for r in self.resources}
        self.table = table
        self.assumptions = assumptions
        self.lifetime = lifetime
        self.hours = lifetime.hours_per_month()

    def line(
        self,
        r: Mapping[str, Any],
        kind: Kind,
        what: str,
        quantity: float,
        unit: str,
        key: str | None,
        assumption: str | None = None,
        per_hour: float | None = None,
        why: str | None = None,
    ) -> LineItem:
        region = r.get("region") or "?"
        price = self.table.get(key, region) if key else None
        unit_usd = price.usd if price else None
        if why is None and unit_usd is None:
            why = (
                price.why_unpriced
                if price is not None and price.why_unpriced
                else f"no price for {key} in {region} in the price table"
                if key
                else "no price model for this usage"
            )
        item = LineItem(
            urn=r["urn"],
            name=r["name"],
            type=r["type"],
            region=region,
            capability=capability_of(r["urn"]),
            kind=kind,
            what=what,
            quantity=quantity,
            unit=unit,
            price_key=key,
            unit_usd=unit_usd,
            assumption=assumption,
            unpriced_because=None if unit_usd is not None else why,
        )
        if kind == "fixed" and unit_usd is not None and per_hour is not None:
            item.hourly_usd = per_hour * unit_usd
        return item

    def assume(self, key: str) -> tuple[float, str]:
        a = self.assumptions[key]
        note = f"{a.value:g} {a.unit}: {a.description}" + (" (overridden)" if a.overridden else "")
        return a.value, note

    def dependents_of_type(self, urn: str, typ: str) -> list[Mapping[str, Any]]:
        return [r for r in self.resources if r["type"] == typ and urn in r.get("dependencies", [])]

    def dependencies_of_type(self, r: Mapping[str, Any], typ: str) -> list[Mapping[str, Any]]:
        deps = (self.by_urn.get(u) for u in r.get("dependencies", []))
        return [d for d in deps if d is not None and d["type"] == typ]


Pricer = Callable[[_Context, Mapping[str, Any]], Iterator[LineItem]]


def _nat(ctx: _Context, r: Mapping[str, Any]) -> Iterator[LineItem]:
    yield ctx.line(
        r, "fixed", "NAT gateway hours", ctx.hours, "hours", "nat_gateway_hour", per_hour=1
    )
    gb, note = ctx.assume("nat_gateway_gb_per_month")
    yield ctx.line(r, "usage", "data processed", gb, "GB", "nat_gateway_gb", note)


def _eip(ctx: _Context, r: Mapping[str, Any]) -> Iterator[LineItem]:
    yield ctx.line(
        r, "fixed", "public IPv4 address hours", ctx.hours, "hours", "public_ipv4_hour", per_hour=1
    )


def _load_balancer(ctx: _Context, r: Mapping[str, Any]) -> Iterator[LineItem]:
    inputs = r["inputs"]
    if inputs.get("loadBalancerType", "application") != "application":
        yield ctx.line(
            r,
            "fixed",
            f"{inputs.get('loadBalancerType')} load balancer hours",
            ctx.hours,
            "hours",
            None,
            why="only application load balancers are priced here",
        )
        return
    yield ctx.line(r, "fixed", "load balancer hours", ctx.hours, "hours", "alb_hour", per_hour=1)
    if not inputs.get("internal"):
        # An internet-facing load balancer has a public IPv4 address per enabled subnet (AZ)
        # (https://aws.amazon.com/blogs/networking-and-content-delivery/identify-and-optimize-public-ipv4-address-usage-on-aws/:
        # "service managed public IPv4 addresses", Elastic Load Balancing among them).
        azs = max(1, len(inputs.get("subnets") or []))
        yield ctx.line(
            r,
            "fixed",
            f"public IPv4 addresses ({azs}, one per AZ)",
            azs * ctx.hours,
            "address-hours",
            "public_ipv4_hour",
            per_hour=azs,
        )
    lcu, note = ctx.assume("alb_lcu_per_hour")
    yield ctx.line(
        r,
        "usage",
        "load balancer capacity units",
        lcu * ctx.hours,
        "LCU-hours",
        "alb_lcu_hour",
        note,
    )


def _endpoint(ctx: _Context, r: Mapping[str, Any]) -> Iterator[LineItem]:
    inputs = r["inputs"]
    if inputs.get("vpcEndpointType") != "Interface":
        yield ctx.line(r, "free", "gateway endpoint (no hourly or data charge)", 0, "", None)
        return
    azs = max(1, len(inputs.get("subnetIds") or []))
    service = str(inputs.get("serviceName", "")).rsplit(".", 1)[-1]
    yield ctx.line(
        r,
        "fixed",
        f"interface endpoint {service}: {azs} AZ x hours",
        azs * ctx.hours,
        "endpoint-AZ-hours",
        "interface_endpoint_hour",
        per_hour=azs,
    )
    gb, note = ctx.assume("interface_endpoint_gb_per_month")
    yield ctx.line(r, "usage", "data processed", gb, "GB", "interface_endpoint_gb", note)


def _service(ctx: _Context, r: Mapping[str, Any]) -> Iterator[LineItem]:
    inputs = r["inputs"]
    tasks = float(inputs.get("desiredCount") or 0)
    for target in ctx.dependents_of_type(r["urn"], "aws:appautoscaling/target:Target"):
        tasks = float(target["inputs"].get("minCapacity", tasks))  # autoscaling keeps at least min
    definitions = ctx.dependencies_of_type(r, "aws:ecs/taskDefinition:TaskDefinition")
    if inputs.get("launchType") != "FARGATE" or not definitions:
        yield ctx.line(
            r,
            "fixed",
            "service tasks",
            tasks * ctx.hours,
            "task-hours",
            None,
            why="only Fargate services with their task definition in the plan are priced",
        )
        return
    td = definitions[0]["inputs"]
    vcpu = float(td.get("cpu", 0)) / 1024
    gb = float(td.get("memory", 0)) / 1024
    arm = (td.get("runtimePlatform") or {}).get("cpuArchitecture") == "ARM64"
    prefix = "fargate_arm_" if arm else "fargate_"
    label = f"{tasks:g} task(s) at minimum, {vcpu:g} vCPU"
    yield ctx.line(
        r,
        "fixed",
        f"{label}: vCPU-hours",
        tasks * vcpu * ctx.hours,
        "vCPU-hours",
        prefix + "vcpu_hour",
        per_hour=tasks * vcpu,
    )
    yield ctx.line(
        r,
        "fixed",
        f"{tasks:g} task(s) x {gb:g} GB: GB-hours",
        tasks * gb * ctx.hours,
        "GB-hours",
        prefix + "gb_hour",
        per_hour=tasks * gb,
    )


def pool_actions(ctx: _Context, group: Mapping[str, Any]) -> list[ScheduledAction]:
    """The scheduled actions of an Auto Scaling group, read from the plan."""
    actions = []
    for s in ctx.dependents_of_type(group["urn"], "aws:autoscaling/schedule:Schedule"):
        i = s["inputs"]
        if not i.get("recurrence"):
            continue
        actions.append(
            ScheduledAction(
                name=str(i.get("scheduledActionName", s["name"])),
                cron=Cron.parse(str(i["recurrence"]), str(i.get("timeZone") or "UTC")),
                desired=_int_or_none(i.get("desiredCapacity")),
                min_size=_int_or_none(i.get("minSize")),
                max_size=_int_or_none(i.get("maxSize")),
            )
        )
    return actions


def _int_or_none(value: Any) -> int | None:
    return None if value is None or value == -1 else int(value)


def _group(ctx: _Context, r: Mapping[str, Any]) -> Iterator[LineItem]:
    i = r["inputs"]
    actions = pool_actions(ctx, r)
    initial = int(i.get("desiredCapacity") or i.get("minSize") or 0)
    hours = capacity_hours_per_month(
        initial, actions, ctx.lifetime, int(i.get("minSize") or 0), _int_or_none(i.get("maxSize"))
    )
    policy = i.get("mixedInstancesPolicy") or {}
    types = [
        o.get("instanceType") for o in (policy.get("launchTemplate") or {}).get("overrides") or []
    ]
    dist = policy.get("instancesDistribution") or {}
    spot = bool(policy) and int(dist.get("onDemandPercentageAboveBaseCapacity", 100)) < 100
    schedule = (
        ", ".join(f"{a.name} {a.cron.expression} {a.cron.timezone}" for a in actions)
        or "no schedule"
    )
    region = r.get("region") or "?"
    prices = {t: ctx.table.usd(f"ec2_instance_hour:{t}", region) for t in types if t}
    if not types:
        yield ctx.line(
            r,
            "fixed",
            "instances",
            hours,
            "instance-hours",
            None,
            why="instance type not in the plan (a launch template without overrides)",
        )
        return
    if spot:
        # The default maximum Spot price is the On-Demand price, so an instance costs at most
        # that (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/how-spot-instances-work.html).
        unknown = [t for t in types if prices.get(t) is None]
        chosen = unknown[0] if unknown else max(types, key=lambda t: prices[t] or 0)
        what = f"spot instances ({'/'.join(types)}), at most the On-Demand price of {chosen}; {schedule}"
    else:
        # "prioritized": the first instance type of the overrides is launched first
        # (https://docs.aws.amazon.com/autoscaling/ec2/userguide/allocation-strategies.html).
        chosen = types[0]
        what = f"On-Demand instances {chosen} (prioritized); {schedule}"
    low, high = int(i.get("minSize") or 0), _int_or_none(i.get("maxSize"))

    def instance_hours(start: dt.datetime, end: dt.datetime) -> float:
        return capacity_between(initial, actions, start, end, low, high)

    line = ctx.line(r, "fixed", what, hours, "instance-hours", f"ec2_instance_hour:{chosen}")
    line.window = instance_hours
    yield line
    volume = _root_volume_gb(ctx, r)
    if volume:
        disk = ctx.line(
            r,
            "fixed",
            f"{volume:g} GB gp3 root volume per instance",
            volume * hours / HOURS_PER_MONTH,
            "GB-months",
            "ebs_gp3_gb_month",
        )
        disk.window = lambda start, end: volume * instance_hours(start, end) / HOURS_PER_MONTH
        yield disk


def _root_volume_gb(ctx: _Context, group: Mapping[str, Any]) -> float:
    total = 0.0
    for lt in ctx.dependencies_of_type(group, "aws:ec2/launchTemplate:LaunchTemplate"):
        for mapping in lt["inputs"].get("blockDeviceMappings") or []:
            ebs = mapping.get("ebs") or {}
            if ebs.get("volumeType", "gp3") == "gp3" and ebs.get("volumeSize"):
                total += float(ebs["volumeSize"])
    return total


def _key(ctx: _Context, r: Mapping[str, Any]) -> Iterator[LineItem]:
    yield ctx.line(
        r,
        "fixed",
        "customer managed key (prorated hourly)",
        ctx.hours / HOURS_PER_MONTH,
        "key-months",
        "kms_key_month",
        per_hour=1 / HOURS_PER_MONTH,
    )


def _alarm(ctx: _Context, r: Mapping[str, Any]) -> Iterator[LineItem]:
    queries = r["inputs"].get("metricQueries") or []
    metrics = max(1, sum(1 for q in queries if q.get("metric"))) if queries else 1
    yield ctx.line(
        r,
        "fixed",
        f"standard alarm ({metrics} metric)",
        metrics * ctx.hours / HOURS_PER_MONTH,
        "alarm-months",
        "cloudwatch_alarm_month",
        per_hour=metrics / HOURS_PER_MONTH,
    )


def _dashboard(ctx: _Context, r: Mapping[str, Any]) -> Iterator[LineItem]:
    yield ctx.line(
        r,
        "fixed",
        "dashboard",
        ctx.hours / HOURS_PER_MONTH,
        "dashboard-months",
        "cloudwatch_dashboard_month",
        per_hour=1 / HOURS_PER_MONTH,
    )


def _mwaa(ctx: _Context, r: Mapping[str, Any]) -> Iterator[LineItem]:
    klass = str(r["inputs"].get("environmentClass", "mw1.small"))
    yield ctx.line(
        r,
        "fixed",
        f"managed Airflow environment {klass}",
        ctx.hours,
        "hours",
        f"mwaa_environment_hour:{klass}",
        per_hour=1,
    )


def _usage(assumption: str, key: str | None, what: str, unit: str) -> Pricer:
    def pricer(ctx: _Context, r: Mapping[str, Any]) -> Iterator[LineItem]:
        quantity, note = ctx.assume(assumption)
        yield ctx.line(r, "usage", what, quantity, unit, key, note)

    return pricer


def _runs(ctx: _Context, r: Mapping[str, Any]) -> Iterator[LineItem]:
    expr = str(r["inputs"].get("scheduleExpression", ""))
    yield ctx.line(
        r,
        "usage",
        f"scheduled invocations ({expr})",
        0,
        "invocations",
        None,
        why="EventBridge Scheduler invocations: no price in the table",
    )


FIXED: dict[str, Pricer] = {
    "aws:ec2/natGateway:NatGateway": _nat,
    "aws:ec2/eip:Eip": _eip,
    "aws:lb/loadBalancer:LoadBalancer": _load_balancer,
    "aws:ec2/vpcEndpoint:VpcEndpoint": _endpoint,
    "aws:ecs/service:Service": _service,
    "aws:autoscaling/group:Group": _group,
    "aws:kms/key:Key": _key,
    "aws:cloudwatch/metricAlarm:MetricAlarm": _alarm,
    "aws:cloudwatch/dashboard:Dashboard": _dashboard,
    "aws:mwaa/environment:Environment": _mwaa,
}

USAGE: dict[str, Pricer] = {
    "aws:cloudwatch/logGroup:LogGroup": _usage(
        "log_group_gb_per_month", "logs_ingest_gb", "log data ingested", "GB"
    ),
    "aws:ec2/flowLog:FlowLog": _usage(
        "log_group_gb_per_month", None, "flow log records delivered (vended logs)", "GB"
    ),
    "aws:s3/bucket:Bucket": _usage(
        "bucket_gb_stored", "s3_standard_gb_month", "S3 Standard storage", "GB-months"
    ),
    "aws:efs/fileSystem:FileSystem": _usage(
        "efs_gb_stored", "efs_standard_gb_month", "EFS Standard storage", "GB-months"
    ),
    "aws:lambda/function:Function": _usage(
        "lambda_invocations_per_month", None, "invocations", "invocations"
    ),
    "aws:dynamodb/table:Table": _usage("table_writes_per_month", None, "on-demand writes", "WRU"),
    "aws:sqs/queue:Queue": _usage("queue_requests_per_month", None, "requests", "requests"),
    "aws:sns/topic:Topic": _usage("topic_publishes_per_month", None, "publishes", "publishes"),
    "aws:ecr/repository:Repository": _usage(
        "repository_gb_stored", None, "image storage", "GB-months"
    ),
    "aws:cloudwatch/eventRule:EventRule": _usage(
        "event_rule_matches_per_month", None, "matched events", "events"
    ),
    "aws:cloudtrail/trail:Trail": _usage(
        "trail_data_events_per_month",
        None,
        "S3 data events (management events: first copy free)",
        "events",
    ),
    "aws:batch/jobDefinition:JobDefinition": _usage(
        "job_run_minutes", None, "Fargate run time per run", "minutes"
    ),
    "aws:scheduler/schedule:Schedule": _runs,
}


def estimate(
    plan: Mapping[str, Any],
    table: PriceTable,
    assumptions: Mapping[str, Assumption],
    lifetime: Lifetime,
) -> Estimate:
    """Every custom resource of ``plan`` (providers excepted) as line items."""
    ctx = _Context(plan, table, assumptions, lifetime)
    items: list[LineItem] = []
    unpriced: dict[str, str] = {}
    counted = 0
    for r in ctx.resources:
        if not r.get("custom") or r["type"].startswith(PROVIDER_PREFIX):
            continue
        counted += 1
        typ = r["type"]
        lines: list[LineItem]
        try:
            if typ in FIXED:
                lines = list(FIXED[typ](ctx, r))
            elif typ in USAGE:
                lines = list(USAGE[typ](ctx, r))
            elif typ in table.free:
                lines = [ctx.line(r, "free", table.free[typ].why, 0, "", None)]
            else:
                lines = [
                    ctx.line(r, "fixed", "unknown", 0, "", None, why=f"no pricing rule for {typ}")
                ]
        except (ScheduleError, ValueError, TypeError, KeyError, json.JSONDecodeError) as exc:
            lines = [
                ctx.line(
                    r, "fixed", "unreadable", 0, "", None, why=f"cannot read its inputs: {exc}"
                )
            ]
        items.extend(lines)
        missing = [i.unpriced_because for i in lines if not i.priced]
        if missing:
            unpriced[r["urn"]] = "; ".join(sorted({m or "" for m in missing}))
    return Estimate(
        stack=str(plan.get("stack", "?")),
        items=items,
        lifetime=lifetime,
        stack_hours_per_month=ctx.hours,
        resources=counted,
        unpriced_resources=unpriced,
    )
