"""Schedules priced as they run: cron expressions, the workflows that destroy and rebuild a
stack, and the hours a resource exists (or a pool runs) per month.

Everything is computed over one reference year (8760 hours, so "always on" is exactly 730
hours a month, the month AWS's price pages use) by walking the instants at which a schedule
fires. Two kinds of cron are read:

* GitHub Actions ``on.schedule[].cron``: five POSIX fields evaluated in UTC
  (https://docs.github.com/en/actions/using-workflows/events-that-trigger-workflows#schedule);
* Auto Scaling scheduled actions ``recurrence``: "the Unix cron syntax format" with an IANA
  ``time_zone`` (https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-scheduled-scaling.html).

Nothing here knows the platform's stack files: the workflows are read from
``.github/workflows/*.yml`` and the pools' schedules from the plan's scheduled actions.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

HOURS_PER_MONTH = 730.0
"""8760 / 12: the month of AWS's price pages, and of every monthly figure here."""

REFERENCE_YEAR = 2026
"""A non-leap year of 365 days; its daylight-saving switches are those of any year."""

_UTC = dt.UTC
_DAY_NAMES = {"SUN": 0, "MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6}
_MONTH_NAMES = {
    name: i + 1
    for i, name in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    )
}


class ScheduleError(ValueError):
    """A cron expression or workflow that cannot be read; the message names it."""


# Cron ------------------------------------------------------------------------------------


def _field(text: str, low: int, high: int, names: Mapping[str, int], what: str) -> set[int]:
    values: set[int] = set()
    for part in text.upper().split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            if not step_text.isdigit() or int(step_text) == 0:
                raise ScheduleError(f"bad step {step_text!r} in the {what} field")
            step = int(step_text)
        if part in ("*", "?"):
            start, end = low, high
        elif "-" in part:
            a, b = part.split("-", 1)
            start, end = _value(a, names, what), _value(b, names, what)
        else:
            start = _value(part, names, what)
            end = high if step > 1 else start
        if what == "day-of-week" and end == 7:  # 7 is Sunday too
            values.add(0)
            end = 6
        if not (low <= start <= high and low <= end <= high + (what == "day-of-week")):
            raise ScheduleError(f"{part!r} is out of range {low}-{high} in the {what} field")
        values.update(range(start, end + 1, step))
    return values


def _value(text: str, names: Mapping[str, int], what: str) -> int:
    if text in names:
        return names[text]
    if not text.isdigit():
        raise ScheduleError(f"{text!r} is not a value of the {what} field")
    return int(text)


@dataclass(frozen=True)
class Cron:
    """A five-field POSIX cron (minute hour day-of-month month day-of-week) in a time zone."""

    expression: str
    timezone: str = "UTC"
    minutes: frozenset[int] = field(default_factory=frozenset)
    hours: frozenset[int] = field(default_factory=frozenset)
    days: frozenset[int] = field(default_factory=frozenset)
    months: frozenset[int] = field(default_factory=frozenset)
    weekdays: frozenset[int] = field(default_factory=frozenset)  # 0 = Sunday
    any_day: bool = True
    any_weekday: bool = True

    @classmethod
    def parse(cls, expression: str, timezone: str = "UTC") -> Cron:
        """Read ``expression``; raises ScheduleError naming what is wrong."""
        parts = expression.split()
        if len(parts) != 5:
            raise ScheduleError(
                f"cron {expression!r} must have 5 fields (minute hour day month weekday), got {len(parts)}"
            )
        try:
            ZoneInfo(timezone)
        except Exception as exc:  # ZoneInfoNotFoundError, ValueError
            raise ScheduleError(f"unknown time zone {timezone!r}") from exc
        minute, hour, day, month, weekday = parts
        return cls(
            expression=expression,
            timezone=timezone,
            minutes=frozenset(_field(minute, 0, 59, {}, "minute")),
            hours=frozenset(_field(hour, 0, 23, {}, "hour")),
            days=frozenset(_field(day, 1, 31, {}, "day-of-month")),
            months=frozenset(_field(month, 1, 12, _MONTH_NAMES, "month")),
            weekdays=frozenset(_field(weekday, 0, 6, _DAY_NAMES, "day-of-week")),
            any_day=day in ("*", "?"),
            any_weekday=weekday in ("*", "?"),
        )

    def _matches_day(self, day: dt.date) -> bool:
        if day.month not in self.months:
            return False
        in_days = day.day in self.days
        in_weekdays = (day.isoweekday() % 7) in self.weekdays
        # POSIX: when both day fields are restricted, either one matching is enough.
        if not self.any_day and not self.any_weekday:
            return in_days or in_weekdays
        return in_days and in_weekdays

    def fire_times(self, start: dt.datetime, end: dt.datetime) -> Iterator[dt.datetime]:
        """The instants (UTC, ascending) in [start, end) at which the schedule fires."""
        zone = ZoneInfo(self.timezone)
        day = start.astimezone(zone).date() - dt.timedelta(days=1)
        last = end.astimezone(zone).date() + dt.timedelta(days=1)
        times = sorted((h, m) for h in self.hours for m in self.minutes)
        while day <= last:
            if self._matches_day(day):
                for h, m in times:
                    local = dt.datetime(day.year, day.month, day.day, h, m, tzinfo=zone)
                    when = local.astimezone(_UTC)
                    if start <= when < end:
                        yield when
            day += dt.timedelta(days=1)


# Piecewise-constant timelines ------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """At ``when`` a level becomes ``value`` (``None`` keeps the level: a pure marker)."""

    when: dt.datetime
    value: float
    source: str = ""


def year_bounds(year: int = REFERENCE_YEAR) -> tuple[dt.datetime, dt.datetime]:
    return dt.datetime(year, 1, 1, tzinfo=_UTC), dt.datetime(year + 1, 1, 1, tzinfo=_UTC)


def integrate(
    events: Iterable[Event], initial: float, start: dt.datetime, end: dt.datetime
) -> float:
    """Hours x level over [start, end) for a level set by ``events`` (later events win ties)."""
    total = 0.0
    level = initial
    cursor = start
    for event in sorted(events, key=lambda e: e.when):
        if event.when < start:
            level = event.value
            continue
        if event.when >= end:
            break
        total += level * (event.when - cursor).total_seconds() / 3600
        cursor = event.when
        level = event.value
    total += level * (end - cursor).total_seconds() / 3600
    return total


def monthly(hours_per_year: float) -> float:
    return hours_per_year / 12


# Workflows: when a stack exists ----------------------------------------------------------


@dataclass(frozen=True)
class Lifetime:
    """When an ephemeral stack exists: destroyed by ``destroy`` crons, rebuilt by ``up`` crons."""

    up: tuple[Cron, ...] = ()
    destroy: tuple[Cron, ...] = ()
    sources: tuple[str, ...] = ()
    """Workflow files and jobs the crons were read from."""

    @property
    def always(self) -> bool:
        return not self.destroy

    def events(self, start: dt.datetime, end: dt.datetime) -> list[Event]:
        """1 when the stack is (re)built, 0 when it is destroyed; a week of lead-in sets the
        state at ``start``. A rebuild and a destroy at the same minute: the destroy wins."""
        lead = start - dt.timedelta(days=7)
        events = [Event(t, 1.0, "up") for c in self.up for t in c.fire_times(lead, end)]
        events += [Event(t, 0.0, "destroy") for c in self.destroy for t in c.fire_times(lead, end)]
        return sorted(events, key=lambda e: (e.when, e.value))

    def hours_per_month(self, year: int = REFERENCE_YEAR) -> float:
        if self.always:
            return HOURS_PER_MONTH
        start, end = year_bounds(year)
        return monthly(integrate(self.events(start, end), 1.0, start, end))

    def next_rebuild(self, after: dt.datetime) -> dt.datetime | None:
        """The first ``up`` after ``after`` (None when nothing rebuilds the stack)."""
        horizon = after + dt.timedelta(days=14)
        times = [t for c in self.up for t in c.fire_times(after, horizon)]
        return min(times) if times else None


_STACKS_COMMAND = re.compile(r"python\s+-m\s+stacks\s+(up|destroy)\s+([A-Za-z0-9_.-]+)")


def _workflow_crons(document: Mapping[Any, Any]) -> list[str]:
    # PyYAML reads the bare key `on` as the boolean True (YAML 1.1).
    triggers = document.get("on", document.get(True))
    if not isinstance(triggers, Mapping):
        return []
    schedule = triggers.get("schedule") or []
    return [str(item["cron"]) for item in schedule if isinstance(item, Mapping) and "cron" in item]


def _skips_schedule(job: Mapping[str, Any]) -> bool:
    """A job whose ``if`` excludes scheduled runs (``github.event_name != 'schedule'``)."""
    condition = str(job.get("if", ""))
    return bool(re.search(r"event_name\s*!=\s*['\"]schedule['\"]", condition))


def stack_lifetime(workflows_dir: Path, stack: str) -> Lifetime:
    """The scheduled ``up``/``destroy`` of ``stack`` found in the workflows (GitHub cron: UTC).

    A scheduled workflow counts for a stack when one of its jobs that runs on the schedule has
    a step running ``python -m stacks up|destroy <stack>``. No scheduled destroy: always on.
    """
    up: list[Cron] = []
    destroy: list[Cron] = []
    sources: list[str] = []
    for path in sorted(workflows_dir.glob("*.y*ml")):
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ScheduleError(f"{path.name}: cannot read the workflow: {exc}") from None
        if not isinstance(document, Mapping):
            continue
        crons = _workflow_crons(document)
        if not crons:
            continue
        for job_id, job in (document.get("jobs") or {}).items():
            if not isinstance(job, Mapping) or _skips_schedule(job):
                continue
            for step in job.get("steps") or []:
                run = str(step.get("run", "")) if isinstance(step, Mapping) else ""
                for operation, name in _STACKS_COMMAND.findall(run):
                    if name != stack:
                        continue
                    target = up if operation == "up" else destroy
                    target.extend(Cron.parse(c, "UTC") for c in crons)
                    sources.append(
                        f"{path.name} job {job_id} ({operation}: {', '.join(crons)} UTC)"
                    )
    return Lifetime(up=tuple(_unique(up)), destroy=tuple(_unique(destroy)), sources=tuple(sources))


def _unique(crons: Sequence[Cron]) -> list[Cron]:
    seen: dict[tuple[str, str], Cron] = {}
    for c in crons:
        seen.setdefault((c.expression, c.timezone), c)
    return list(seen.values())


# Capacity of a scheduled pool ------------------------------------------------------------


@dataclass(frozen=True)
class ScheduledAction:
    """An Auto Scaling scheduled action as the plan records it."""

    name: str
    cron: Cron
    desired: int | None = None
    min_size: int | None = None
    max_size: int | None = None


def capacity_hours_per_month(
    initial: int,
    actions: Sequence[ScheduledAction],
    lifetime: Lifetime,
    min_size: int = 0,
    max_size: int | None = None,
    year: int = REFERENCE_YEAR,
) -> float:
    """Instance-hours per month of a group: ``initial`` instances when the stack is (re)built,
    then whatever each scheduled action sets (clamped by its min/max), zero while the stack
    does not exist."""
    start, end = year_bounds(year)
    lead = start - dt.timedelta(days=7)
    timeline: list[tuple[dt.datetime, int, str, ScheduledAction | None]] = []
    for e in lifetime.events(start, end) if not lifetime.always else []:
        timeline.append((e.when, 0 if e.value else 1, e.source, None))
    for action in actions:
        for t in action.cron.fire_times(lead, end):
            timeline.append((t, 2, "action", action))
    timeline.sort(key=lambda item: (item[0], item[1]))
    exists = True
    low, high = min_size, max_size
    level = float(max(initial, low))
    events: list[Event] = []
    for when, _, kind, step in timeline:
        if kind == "destroy":
            exists = False
        elif kind == "up":
            exists, low, high = True, min_size, max_size
            level = float(max(initial, low))
        elif step is not None and exists:
            low = step.min_size if step.min_size is not None else low
            high = step.max_size if step.max_size is not None else high
            wanted = step.desired if step.desired is not None else level
            wanted = max(wanted, low)
            if high is not None:
                wanted = min(wanted, high)
            level = float(wanted)
        events.append(Event(when, level if exists else 0.0))
    if not lifetime.always:
        # Before the first event of the lead-in the stack's state is unknown: start from it.
        first = events[0].value if events else float(max(initial, min_size))
        return monthly(integrate(events, first, start, end))
    return monthly(integrate(events, float(max(initial, min_size)), start, end))


def capacity_between(
    initial: int,
    actions: Sequence[ScheduledAction],
    start: dt.datetime,
    end: dt.datetime,
    min_size: int = 0,
    max_size: int | None = None,
) -> float:
    """Instance-hours of a group that exists throughout [start, end): its level at ``start`` is
    what the last scheduled action before it set (``initial`` without one), then the actions."""
    lead = start - dt.timedelta(days=7)
    fired = sorted(
        ((t, a) for a in actions for t in a.cron.fire_times(lead, end)), key=lambda item: item[0]
    )
    level, low, high = float(max(initial, min_size)), min_size, max_size
    events: list[Event] = []
    for when, fired_action in fired:
        low = fired_action.min_size if fired_action.min_size is not None else low
        high = fired_action.max_size if fired_action.max_size is not None else high
        wanted = float(fired_action.desired) if fired_action.desired is not None else level
        wanted = max(wanted, float(low))
        level = min(wanted, float(high)) if high is not None else wanted
        events.append(Event(when, level))
    return integrate(events, float(max(initial, min_size)), start, end)
