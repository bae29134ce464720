"""Dashboards: one CloudWatch dashboard per environment and region, built from widgets.

Capabilities contribute widgets (:class:`MetricWidget`, :class:`AlarmStatusWidget`,
:class:`TextWidget`), usually through a ``widgets()`` method; the regional platform collects
them and builds the :class:`Dashboard` last, so the body (JSON built in Python) holds
everything the region runs. :func:`layout` places the widgets on CloudWatch's grid.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components.checks import raise_problems
from components.monitoring.alarms import STATISTICS, period_problem

#: CloudWatch dashboards are a grid 24 units wide.
GRID_WIDTH = 24
MAX_WIDGETS = 500
MAX_ALARMS_PER_WIDGET = 100
MAX_METRICS_PER_WIDGET = 500
WIDGET_STATISTICS = STATISTICS
WIDGET_VIEWS = ("timeSeries", "singleValue", "bar", "pie")
_DASHBOARD_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,255}$")


@dataclass(frozen=True)
class Metric:
    """One metric line of a :class:`MetricWidget`."""

    namespace: str
    name: str
    dimensions: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Default: no dimensions (the metric's aggregate)."""
    label: str | None = None
    """Default: CloudWatch labels the line with the metric name and dimensions."""

    def to_json(self) -> list[Any]:
        """The CloudWatch ``metrics`` array row: namespace, name, dimension pairs, options."""
        row: list[Any] = [self.namespace, self.name]
        for key, value in self.dimensions.items():
            row += [key, value]
        if self.label:
            row.append({"label": self.label})
        return row


def _size_problems(width: int, height: int) -> list[str]:
    out = []
    if not 1 <= width <= GRID_WIDTH:
        out.append(f"width: {width} must be 1..{GRID_WIDTH}")
    if not 1 <= height <= 1000:
        out.append(f"height: {height} must be 1..1000")
    return out


@dataclass(frozen=True)
class MetricWidget:
    """A graph of one or more metrics."""

    title: str
    metrics: Sequence[Metric]
    stat: str = "Sum"
    """Default: the sum over each period (counts of events)."""
    period: int = 300
    """Default: 5-minute points."""
    view: str = "timeSeries"
    """Default: a line graph over time."""
    stacked: bool = False
    """Default: lines, not stacked areas."""
    width: int = 12
    """Default: half the dashboard's width."""
    height: int = 6
    """Default: 6 grid units high."""

    type = "metric"

    def problems(self) -> list[str]:
        out = [] if self.title.strip() else ["title: must not be empty"]
        if not self.metrics:
            out.append("metrics: give at least one metric")
        elif len(self.metrics) > MAX_METRICS_PER_WIDGET:
            out.append(
                f"metrics: {len(self.metrics)} given; a widget shows at most {MAX_METRICS_PER_WIDGET}"
            )
        for i, metric in enumerate(self.metrics):
            if not metric.namespace.strip() or not metric.name.strip():
                out.append(f"metrics[{i}]: namespace and name must not be empty")
        if self.stat not in WIDGET_STATISTICS:
            out.append(f"stat: {self.stat!r} is not one of {list(WIDGET_STATISTICS)}")
        bad_period = period_problem("period", self.period)
        if bad_period:
            out.append(bad_period)
        if self.view not in WIDGET_VIEWS:
            out.append(f"view: {self.view!r} is not one of {list(WIDGET_VIEWS)}")
        return out + _size_problems(self.width, self.height)

    def properties(self, region: str) -> dict[str, Any]:
        return {
            "title": self.title,
            "region": region,
            "view": self.view,
            "stacked": self.stacked,
            "stat": self.stat,
            "period": self.period,
            "metrics": [m.to_json() for m in self.metrics],
        }


@dataclass(frozen=True)
class AlarmStatusWidget:
    """The current state of up to 100 alarms."""

    title: str
    alarm_arns: Sequence[pulumi.Input[str]]
    width: int = 24
    """Default: the dashboard's full width."""
    height: int = 6
    """Default: 6 grid units high."""

    type = "alarm"

    def problems(self) -> list[str]:
        out = [] if self.title.strip() else ["title: must not be empty"]
        if not self.alarm_arns:
            out.append("alarm_arns: give at least one alarm")
        elif len(self.alarm_arns) > MAX_ALARMS_PER_WIDGET:
            out.append(
                f"alarm_arns: {len(self.alarm_arns)} given; a widget shows at most {MAX_ALARMS_PER_WIDGET}"
            )
        return out + _size_problems(self.width, self.height)

    def properties(self, region: str) -> dict[str, Any]:
        return {
            "title": self.title,
            "alarms": list(self.alarm_arns),
            "sortBy": "stateUpdatedTimestamp",
        }


@dataclass(frozen=True)
class TextWidget:
    """A block of Markdown (headings, runbook links)."""

    markdown: str
    width: int = 24
    """Default: the dashboard's full width."""
    height: int = 2
    """Default: 2 grid units high (a heading line)."""

    type = "text"

    def problems(self) -> list[str]:
        out = [] if self.markdown.strip() else ["markdown: must not be empty"]
        return out + _size_problems(self.width, self.height)

    def properties(self, region: str) -> dict[str, Any]:
        return {"markdown": self.markdown}


Widget = MetricWidget | AlarmStatusWidget | TextWidget


def layout(sizes: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Positions ``(x, y)`` for widgets of ``(width, height)``, in order, left to right in
    rows of :data:`GRID_WIDTH` units; a widget that does not fit starts a new row below the
    tallest widget of the current row. Widgets never overlap."""
    positions = []
    x = y = row_height = 0
    for width, height in sizes:
        if x + width > GRID_WIDTH:
            x, y, row_height = 0, y + row_height, 0
        positions.append((x, y))
        x += width
        row_height = max(row_height, height)
    return positions


def dashboard_body(widgets: Sequence[Widget], region: str) -> dict[str, Any]:
    """The dashboard body (values may be Outputs; serialise with ``Output.json_dumps``)."""
    positions = layout([(w.width, w.height) for w in widgets])
    return {
        "widgets": [
            {
                "type": w.type,
                "x": x,
                "y": y,
                "width": w.width,
                "height": w.height,
                "properties": w.properties(region),
            }
            for w, (x, y) in zip(widgets, positions, strict=False)
        ]
    }


@dataclass(frozen=True)
class DashboardArgs:
    """Arguments of :class:`Dashboard`."""

    dashboard_name: str
    """The dashboard's name (letters, digits, ``-`` and ``_``), unique in the account and
    region, e.g. ``mlops-dev-eu-west-1``."""
    region: str
    """The region whose metrics the widgets show."""
    widgets: Sequence[Widget]
    """The widgets, in reading order (at least one, at most 500)."""

    def problems(self) -> list[str]:
        out = []
        if not _DASHBOARD_NAME_RE.match(self.dashboard_name):
            out.append(
                f"dashboard_name: {self.dashboard_name!r} must be 1-255 letters, digits, '-' or '_'"
            )
        if not self.region.strip():
            out.append("region: must not be empty")
        if not self.widgets:
            out.append("widgets: give at least one widget")
        elif len(self.widgets) > MAX_WIDGETS:
            out.append(
                f"widgets: {len(self.widgets)} given; a dashboard holds at most {MAX_WIDGETS}"
            )
        for i, widget in enumerate(self.widgets):
            out += [f"widgets[{i}].{p}" for p in widget.problems()]
        return out


class Dashboard(pulumi.ComponentResource):
    """One CloudWatch dashboard whose body is built from the given widgets."""

    def __init__(
        self, name: str, args: DashboardArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        problems = args.problems()
        raise_problems(f"Dashboard {name!r}", problems)
        super().__init__("mlops:monitoring:Dashboard", name, None, opts)
        self.dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard",
            dashboard_name=args.dashboard_name,
            dashboard_body=pulumi.Output.json_dumps(dashboard_body(args.widgets, args.region)),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.dashboard_name = self.dashboard.dashboard_name
        self.arn = self.dashboard.dashboard_arn
        self.register_outputs({"name": self.dashboard.dashboard_name})


def network_widgets(
    flow_log_group_name: pulumi.Input[str], nat_gateway_ids: Sequence[pulumi.Input[str]]
) -> list[Widget]:
    """Dashboard widgets for a region's network: flow-log volume and, when the region has
    NAT gateways, their traffic and their errors (port allocation, dropped packets)."""
    out: list[Widget] = [
        MetricWidget(
            title="VPC flow logs ingested (bytes)",
            metrics=[
                Metric("AWS/Logs", "IncomingBytes", {"LogGroupName": flow_log_group_name}),
            ],
        )
    ]
    if nat_gateway_ids:
        nats = [(i, {"NatGatewayId": nat}) for i, nat in enumerate(nat_gateway_ids)]
        out.append(
            MetricWidget(
                title="NAT gateway traffic (bytes)",
                metrics=[
                    Metric("AWS/NATGateway", metric, dims, label=f"nat-{i} {label}")
                    for i, dims in nats
                    for metric, label in (
                        ("BytesOutToDestination", "out"),
                        ("BytesInFromDestination", "in"),
                    )
                ],
            )
        )
        out.append(
            MetricWidget(
                title="NAT gateway errors",
                metrics=[
                    Metric("AWS/NATGateway", metric, dims, label=f"nat-{i} {label}")
                    for i, dims in nats
                    for metric, label in (
                        ("ErrorPortAllocation", "port allocation errors"),
                        ("PacketsDropCount", "dropped packets"),
                    )
                ],
            )
        )
    return out
