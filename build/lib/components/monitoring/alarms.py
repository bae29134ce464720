"""Metric alarm arguments: what CloudWatch accepts for an alarm, checked before registering.

:class:`AlarmArgs` describes one alarm; :func:`components.monitoring.metric_alarm` creates it
and makes it notify an alert topic.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi

TREAT_MISSING_DATA = ("breaching", "notBreaching", "ignore", "missing")
COMPARISONS = (
    "GreaterThanOrEqualToThreshold",
    "GreaterThanThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
)
STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
#: CloudWatch accepts 10, 20 and 30 seconds (high resolution) or any multiple of 60.
HIGH_RESOLUTION_PERIODS = (10, 20, 30)
MAX_DIMENSIONS = 30


def period_problem(field_name: str, period: int) -> str | None:
    """Why ``period`` is not a CloudWatch period, or None."""
    if isinstance(period, bool) or not isinstance(period, int):
        return f"{field_name}: {period!r} must be a whole number of seconds"
    if period in HIGH_RESOLUTION_PERIODS or (period >= 60 and period % 60 == 0):
        return None
    return f"{field_name}: {period} must be 10, 20, 30 or a multiple of 60 seconds"


@dataclass(frozen=True)
class AlarmArgs:
    """One CloudWatch metric alarm. ``treat_missing_data`` has no default on purpose: each
    alarm says whether silence is fine (``notBreaching``), suspicious (``breaching``) or
    should keep the state (``ignore``/``missing``)."""

    namespace: str
    metric_name: str
    threshold: float
    treat_missing_data: str
    description: str
    dimensions: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Default: no dimensions (the metric's aggregate)."""
    statistic: str = "Average"
    """Default: the average over each period."""
    comparison: str = "GreaterThanOrEqualToThreshold"
    """Default: alarm when the statistic reaches the threshold."""
    period: int = 300
    """Default: 5-minute periods."""
    evaluation_periods: int = 1
    """Default: one period decides."""
    datapoints_to_alarm: int | None = None
    """Default: every evaluated period must breach."""

    def problems(self) -> list[str]:
        """Every problem with these arguments, each naming its field."""
        out = []
        if not self.namespace.strip():
            out.append("namespace: must not be empty")
        if not self.metric_name.strip():
            out.append("metric_name: must not be empty")
        if (
            isinstance(self.threshold, bool)
            or not isinstance(self.threshold, (int, float))
            or not math.isfinite(self.threshold)
        ):
            out.append(f"threshold: {self.threshold!r} must be a finite number")
        if self.treat_missing_data not in TREAT_MISSING_DATA:
            out.append(
                f"treat_missing_data: {self.treat_missing_data!r} is not one of {list(TREAT_MISSING_DATA)}"
            )
        if self.comparison not in COMPARISONS:
            out.append(f"comparison: {self.comparison!r} is not one of {list(COMPARISONS)}")
        if self.statistic not in STATISTICS:
            out.append(f"statistic: {self.statistic!r} is not one of {list(STATISTICS)}")
        bad_period = period_problem("period", self.period)
        if bad_period:
            out.append(bad_period)
        if (
            isinstance(self.evaluation_periods, bool)
            or not isinstance(self.evaluation_periods, int)
            or self.evaluation_periods < 1
        ):
            out.append(f"evaluation_periods: {self.evaluation_periods!r} must be at least 1")
        elif (
            self.datapoints_to_alarm is not None
            and not 1 <= self.datapoints_to_alarm <= self.evaluation_periods
        ):
            out.append(
                f"datapoints_to_alarm: {self.datapoints_to_alarm} must be between 1 and "
                f"evaluation_periods ({self.evaluation_periods})"
            )
        if len(self.dimensions) > MAX_DIMENSIONS:
            out.append(
                f"dimensions: {len(self.dimensions)} given; CloudWatch allows {MAX_DIMENSIONS}"
            )
        if not self.description.strip():
            out.append("description: say what the alarm means and what to do")
        elif len(self.description) > 1024:
            out.append(f"description: {len(self.description)} characters; CloudWatch allows 1024")
        return out
