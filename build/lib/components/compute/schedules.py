"""Office-hours schedules of instance pools: cron, time zones, and the scheduled actions.

Owns the pure checks the stack configuration shares (Unix cron as Auto Scaling reads it, IANA
time zones, ``HH:MM`` times of day, day lists such as ``MON-FRI``), :class:`PoolSchedule`
(when a pool runs) and :func:`scheduled_actions`, the two Auto Scaling scheduled actions that
scale a pool to zero in the evening and back in the morning.

Office-hours stops scale the group to zero, which *terminates* the instances: every start in
the morning is a new instance's first boot (first-boot work, then every-boot work). What must
survive the night belongs on the shared file system (or in S3).
"""

from __future__ import annotations

import difflib
import re
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import pulumi
import pulumi_aws as aws

from components.compute.validators import problem_report

_HHMM_RE = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
_DAY_NAMES = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
_DAY = "(?:MON|TUE|WED|THU|FRI|SAT|SUN)"
_DAYS_RE = re.compile(rf"{_DAY}(?:-{_DAY})?(?:,{_DAY}(?:-{_DAY})?)*")
_NOT_TIME_ZONES = frozenset({"localtime", "Factory"})


@lru_cache(maxsize=1)
def time_zone_names() -> frozenset[str]:
    """IANA time zone names (from the tz database ``zoneinfo`` reads), as Auto Scaling takes."""
    return frozenset(zoneinfo.available_timezones() - _NOT_TIME_ZONES)


def time_zone_problem(value: object) -> str | None:
    """Why ``value`` is not an IANA time zone name such as ``Europe/Rome``, or None."""
    if isinstance(value, str) and value in time_zone_names():
        try:
            zoneinfo.ZoneInfo(value)
            return None
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            pass
    close = difflib.get_close_matches(str(value), sorted(time_zone_names()), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"{value!r} is not an IANA time zone name such as 'Europe/Rome' or 'UTC'{hint}"


#: Unix cron fields as Auto Scaling reads them: (name, lowest, highest, names from lowest).
_CRON_FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day-of-month", 1, 31, ()),
    (
        "month",
        1,
        12,
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"),
    ),
    ("day-of-week", 0, 7, ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")),
)
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_CRON_EXAMPLE = "such as '0 8 * * MON-FRI' (minute hour day-of-month month day-of-week)"


def _cron_value(token: str, low: int, high: int, names: Sequence[str]) -> int:
    """One number or name of a cron field, checked against the field's range."""
    if token.upper() in names:
        return low + names.index(token.upper())
    if not token.isdigit():
        raise ValueError(
            f"{token!r} is not a number" + (f" or one of {', '.join(names)}" if names else "")
        )
    number = int(token)
    if not low <= number <= high:
        raise ValueError(f"{number} is outside {low}-{high}")
    return number


def cron_field_values(text: str, low: int, high: int, names: Sequence[str] = ()) -> set[int]:
    """The values one Unix cron field selects (``*``, lists, ranges, steps, names).

    Raises ``ValueError`` saying what is wrong. Quartz extensions (``?``, ``L``, ``W``,
    ``#``) are not Unix cron and are refused.
    """
    values: set[int] = set()
    for item in text.split(","):
        base, slash, step_text = item.partition("/")
        if slash and not (step_text.isdigit() and int(step_text) > 0):
            raise ValueError(f"step {step_text!r} in {item!r} is not a positive number")
        step = int(step_text) if slash else 1
        if base == "*":
            first, last = low, high
        elif "-" in base:
            left, _, right = base.partition("-")
            first, last = (_cron_value(t, low, high, names) for t in (left, right))
            if first > last:
                raise ValueError(f"range {base!r} runs backwards")
        else:
            first = _cron_value(base, low, high, names)
            last = high if slash else first
        values.update(range(first, last + 1, step))
    return values


def cron_problem(value: object) -> str | None:
    """Why ``value`` is not an Auto Scaling recurrence (Unix cron, five fields), or None.

    Each field takes numbers, ``*``, lists, ranges and steps; months and days of the week
    also take their three-letter names. The expression must fire on some date.
    """
    if not isinstance(value, str):
        return f"{value!r} is not a cron expression {_CRON_EXAMPLE}"
    fields = value.split()
    if len(fields) != 5:
        return f"{value!r} has {len(fields)} fields; a cron expression has five, {_CRON_EXAMPLE}"
    selected = []
    for text, (field_name, low, high, names) in zip(fields, _CRON_FIELDS, strict=True):
        try:
            selected.append(cron_field_values(text, low, high, names))
        except ValueError as error:
            return f"{value!r}: {field_name} field {text!r}: {error}; write it {_CRON_EXAMPLE}"
    days, months = selected[2], selected[3]
    days_restricted, weekdays_restricted = fields[2] != "*", fields[4] != "*"
    if (
        days_restricted
        and not weekdays_restricted
        and not any(day <= _DAYS_IN_MONTH[month - 1] for month in months for day in days)
    ):
        return f"{value!r} never fires: no selected month has the selected day"
    return None


def time_of_day_problem(value: object) -> str | None:
    """Why ``value`` is not a time of day written ``HH:MM`` (24 hours), or None."""
    if isinstance(value, str) and _HHMM_RE.fullmatch(value):
        return None
    return f"{value!r} is not a time of day such as '08:00' (HH:MM, 24 hours)"


def weekdays_problem(value: object) -> str | None:
    """Why ``value`` is not a list of days such as ``MON-FRI`` or ``MON,WED,FRI``, or None."""
    if not (isinstance(value, str) and _DAYS_RE.fullmatch(value)):
        return (
            f"{value!r} is not a list of days such as 'MON-FRI' or 'MON,WED,FRI' "
            f"(names {', '.join(_DAY_NAMES)} in capitals, ranges with '-')"
        )
    for part in value.split(","):
        first, _, last = part.partition("-")
        if last and _DAY_NAMES.index(last) <= _DAY_NAMES.index(first):
            return (
                f"range {part!r} does not run forward from MON to SUN; split it, e.g. 'MON,FRI-SUN'"
            )
    return None


def office_hours_problems(start: object, stop: object, days: object, key: str = "") -> list[str]:
    """Problems with office hours ``start``-``stop`` (``HH:MM``) on ``days`` (``MON-FRI``)."""
    prefix = f"{key}." if key else ""
    found = []
    for name, value in (("start", start), ("stop", stop)):
        problem = time_of_day_problem(value)
        if problem:
            found.append(f"{prefix}{name}: {problem}")
    if not found and str(stop) <= str(start):
        found.append(f"{prefix}stop: {stop!r} is not after start {start!r}")
    problem = weekdays_problem(days)
    if problem:
        found.append(f"{prefix}days: {problem}")
    return found


@dataclass(frozen=True)
class PoolSchedule:
    """When a pool runs: scaled to its configured size at ``start_cron``, to zero at
    ``stop_cron``, both in ``timezone``. Checked by :class:`InstancePool` as ``schedule``."""

    timezone: str
    """IANA time zone the expressions are read in, such as ``Europe/Rome`` (daylight saving
    time included)."""

    start_cron: str
    """Unix cron (five fields) when the pool scales back to its size, e.g. ``0 8 * * MON-FRI``."""

    stop_cron: str
    """Unix cron (five fields) when the pool scales to zero, e.g. ``0 19 * * MON-FRI``."""

    @classmethod
    def office_hours(
        cls, timezone: str, start: str = "08:00", stop: str = "19:00", days: str = "MON-FRI"
    ) -> PoolSchedule:
        """Running from ``start`` to ``stop`` on ``days``; off in the evening and on other days
        (weekends, with the default days). Raises ``ValueError`` naming each bad field."""
        problems = office_hours_problems(start, stop, days)
        problem = time_zone_problem(timezone)
        if problem:
            problems.append(f"timezone: {problem}")
        if problems:
            raise ValueError(problem_report("office hours", problems))
        (start_h, start_m), (stop_h, stop_m) = (map(int, t.split(":")) for t in (start, stop))
        return cls(
            timezone=timezone,
            start_cron=f"{start_m} {start_h} * * {days}",
            stop_cron=f"{stop_m} {stop_h} * * {days}",
        )

    def problems(self, key: str = "schedule") -> list[str]:
        """Every problem, each prefixed with ``key``."""
        found = []
        for name in ("timezone", "start_cron", "stop_cron"):
            check = time_zone_problem if name == "timezone" else cron_problem
            problem = check(getattr(self, name))
            if problem:
                found.append(f"{key}.{name}: {problem}")
        if not found and self.start_cron.split() == self.stop_cron.split():
            found.append(f"{key}.stop_cron: is the same as start_cron; the pool would never run")
        return found


def scheduled_actions(
    name: str,
    schedule: PoolSchedule,
    group_name: pulumi.Input[str],
    *,
    min_size: int,
    max_size: int,
    desired_capacity: int,
    parent: pulumi.Resource,
) -> list[aws.autoscaling.Schedule]:
    """The pool ``name``'s scheduled actions on its group: scale to the configured size
    (``min_size``, ``desired_capacity``) at ``start_cron``, to zero at ``stop_cron``."""
    plan = (
        ("start", schedule.start_cron, min_size, desired_capacity),
        ("stop", schedule.stop_cron, 0, 0),
    )
    return [
        aws.autoscaling.Schedule(
            f"{name}-{action}",
            scheduled_action_name=f"{name}-{action}",
            autoscaling_group_name=group_name,
            recurrence=cron,
            time_zone=schedule.timezone,
            min_size=min_size_at,
            max_size=max_size,
            desired_capacity=desired,
            opts=pulumi.ResourceOptions(parent=parent),
        )
        for action, cron, min_size_at, desired in plan
    ]
