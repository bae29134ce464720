"""Pure checks of jobs' inputs: Fargate sizes, schedule expressions, time zones, command
parameters, environment variables, image references, and the key / alert topic a component
is given.

Plain functions with plain tests; ``stacks/config.py`` uses them to check ``mlops:jobs``
before any resource exists, and the components use them to check their arguments.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import pulumi

from components.baseline import looks_like_secret
from components.checks import present
from components.containers import FARGATE_MEMORY
from components.kms import key_input_problem
from components.monitoring import alert_topic_input_problem

# Fargate sizes --------------------------------------------------------------------------------

#: Memory (MiB) AWS Batch on Fargate supports for each vCPU value: the Fargate task sizes
#: (one table, in components.containers) with CPU units expressed as vCPUs.
FARGATE_MEMORY_MIB: Mapping[float, tuple[int, ...]] = {
    cpu / 1024: memory for cpu, memory in FARGATE_MEMORY.items()
}


def vcpu_problem(vcpu: float) -> str | None:
    """None when Fargate runs jobs with ``vcpu`` vCPUs; else what would be right."""
    number = not isinstance(vcpu, bool) and isinstance(vcpu, (int, float))
    if not number or float(vcpu) not in FARGATE_MEMORY_MIB:
        allowed = ", ".join(vcpu_value(v) for v in FARGATE_MEMORY_MIB)
        shown = vcpu_value(vcpu) if number and float(vcpu).is_integer() else repr(vcpu)
        return f"{shown} vCPU is not a Fargate size; use one of {allowed}"
    return None


def fargate_size_problem(vcpu: float, memory_mib: int) -> str | None:
    """None when Fargate supports ``vcpu`` vCPUs with ``memory_mib`` MiB; else what is wrong
    and which memory values would be right."""
    bad_vcpu = vcpu_problem(vcpu)
    if bad_vcpu:
        return bad_vcpu
    allowed = FARGATE_MEMORY_MIB[float(vcpu)]
    if isinstance(memory_mib, bool) or memory_mib not in allowed:
        step = allowed[1] - allowed[0]
        listed = (
            ", ".join(map(str, allowed))
            if len(allowed) <= 4
            else f"{allowed[0]} to {allowed[-1]} in steps of {step}"
        )
        return (
            f"Fargate does not support {memory_mib!r} MiB with {vcpu_value(vcpu)} vCPU; "
            f"use {listed}"
        )
    return None


def vcpu_value(vcpu: float) -> str:
    """The VCPU value as Batch writes it: ``0.25``, ``0.5``, ``1``, ``2``..."""
    number = float(vcpu)
    return str(int(number)) if number.is_integer() else str(number)


# Schedule expressions and time zones ------------------------------------------------------

_MONTHS = {
    m: i + 1 for i, m in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split())
}
_DAYS = {d: i + 1 for i, d in enumerate("SUN MON TUE WED THU FRI SAT".split())}


@dataclass(frozen=True)
class _CronField:
    name: str
    low: int
    high: int
    names: Mapping[str, int]
    question_mark: bool = False


_CRON_FIELDS = (
    _CronField("minutes", 0, 59, {}),
    _CronField("hours", 0, 23, {}),
    _CronField("day-of-month", 1, 31, {}, question_mark=True),
    _CronField("month", 1, 12, _MONTHS),
    _CronField("day-of-week", 1, 7, _DAYS, question_mark=True),
    _CronField("year", 1970, 2199, {}),
)
_RATE_UNITS = ("minute", "hour", "day")


def _cron_value(text: str, spec: _CronField) -> int | None:
    if text.isdigit():
        value = int(text)
    elif text.upper() in spec.names:
        value = spec.names[text.upper()]
    else:
        return None
    return value if spec.low <= value <= spec.high else None


def _cron_item_problem(item: str, spec: _CronField) -> str | None:
    """Why one comma-separated item of a cron field is invalid, or None."""
    bad = f"{spec.name} {item!r} is not valid"
    if spec.name == "day-of-month":
        if item in ("L", "LW"):
            return None
        if item.endswith("W") and _cron_value(item[:-1], spec) is not None:
            return None
    if spec.name == "day-of-week":
        if item == "L":
            return None
        if item.endswith("L") and _cron_value(item[:-1], spec) is not None:
            return None
        if "#" in item:
            day, _, nth = item.partition("#")
            if _cron_value(day, spec) is not None and nth in ("1", "2", "3", "4", "5"):
                return None
            return f"{bad}: write the n-th weekday as <day>#<1-5>, e.g. MON#1"
    base, slash, step = item.partition("/")
    if slash:
        if not step.isdigit() or not 1 <= int(step) <= spec.high:
            return f"{bad}: the increment after '/' must be a number from 1 to {spec.high}"
    if base == "*":
        return None
    low, dash, high = base.partition("-")
    if _cron_value(low, spec) is None or (dash and _cron_value(high, spec) is None):
        allowed = f"{spec.low}-{spec.high}"
        if spec.names:
            first = min(spec.names, key=lambda n: spec.names[n])
            last = max(spec.names, key=lambda n: spec.names[n])
            allowed += f" or {first}-{last}"
        return f"{bad}: values must be {allowed}"
    return None


def cron_problem(body: str) -> str | None:
    """Why ``body`` (the part inside ``cron(...)``) is not an EventBridge cron expression.

    Six fields: minutes hours day-of-month month day-of-week year; exactly one of
    day-of-month and day-of-week is ``?``.
    """
    fields = body.split()
    if len(fields) != 6:
        return (
            f"cron {body!r} has {len(fields)} field(s); EventBridge cron expressions have 6: "
            "minutes hours day-of-month month day-of-week year, e.g. '0 2 * * ? *'"
        )
    for text, spec in zip(fields, _CRON_FIELDS, strict=True):
        if text == "?":
            if not spec.question_mark:
                return f"cron {body!r}: '?' is only allowed in day-of-month or day-of-week"
            continue
        for item in text.split(","):
            problem = _cron_item_problem(item, spec)
            if problem:
                return f"cron {body!r}: {problem}"
    if (fields[2] == "?") == (fields[4] == "?"):
        return (
            f"cron {body!r}: exactly one of day-of-month and day-of-week must be '?' "
            "(e.g. '0 2 * * ? *' daily, '0 2 ? * MON *' on Mondays)"
        )
    return None


def rate_problem(body: str) -> str | None:
    """Why ``body`` (the part inside ``rate(...)``) is not a rate: ``<n> <unit>``, unit
    minute(s)/hour(s)/day(s), singular exactly when n is 1."""
    parts = body.split()
    if len(parts) != 2 or not parts[0].isdigit() or int(parts[0]) < 1:
        return f"rate {body!r} must be '<positive whole number> <unit>', e.g. '1 day' or '6 hours'"
    value, unit = int(parts[0]), parts[1]
    expected = _RATE_UNITS if value == 1 else tuple(f"{u}s" for u in _RATE_UNITS)
    if unit not in expected:
        return f"rate {body!r}: the unit must be one of {', '.join(expected)} for {value}"
    return None


def schedule_expression_problem(expression: str) -> str | None:
    """Why ``expression`` is not a recurring EventBridge Scheduler expression
    (``cron(...)`` or ``rate(...)``), or None."""
    match = re.fullmatch(r"(cron|rate)\((.*)\)", expression.strip())
    if not match:
        return (
            f"{expression!r} is not a recurring schedule; write cron(<6 fields>) or "
            "rate(<n> <unit>), e.g. cron(0 2 * * ? *) or rate(6 hours)"
        )
    kind, body = match.groups()
    return cron_problem(body) if kind == "cron" else rate_problem(body)


@lru_cache(maxsize=1)
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def timezone_problem(name: str) -> str | None:
    """None when ``name`` is an IANA time zone (``Europe/Rome``, ``UTC``); else why not."""
    if isinstance(name, str) and name in _time_zones():
        return None
    import difflib

    close = difflib.get_close_matches(str(name), sorted(_time_zones()), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"{name!r} is not an IANA time zone name (like Europe/Rome or UTC){hint}"


# Commands, parameters, environment, images --------------------------------------------------

_REF_RE = re.compile(r"Ref::([A-Za-z0-9_]+)")
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_IMAGE_RE = re.compile(
    r"^(?:[A-Za-z0-9.{}-]+(?::[0-9]{1,5})?/)?[a-z0-9{}]+(?:[._/-]+[a-z0-9{}]+)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$"
)
_ECR_IMAGE_RE = re.compile(
    r"^(?P<account>\d{12}|\{account\})\.dkr\.ecr\.(?P<region>[a-z0-9-]+|\{region\})\."
    r"amazonaws\.com(?:\.cn)?/(?P<repository>[a-z0-9][a-z0-9._/-]*?)(?::[^@/]+)?(?:@sha256:[a-f0-9]{64})?$"
)


#: A job parameter name: what ``Ref::`` can name (letters, digits, ``_``), at most 128
#: characters (the rule of ``BatchJobArgs``).
PARAMETER_NAME_RE = re.compile(r"^[A-Za-z0-9_]{1,128}$")


def parameter_name_problem(name: object) -> str | None:
    """None when ``name`` can be a job parameter (and so appear as ``Ref::name``)."""
    if isinstance(name, str) and PARAMETER_NAME_RE.match(name):
        return None
    return f"{name!r} must be 1-128 letters, digits and '_' (what Ref:: can name)"


def command_parameters(command: Sequence[str]) -> list[str]:
    """The parameter names a command references as ``Ref::name``, in order, once each."""
    names: list[str] = []
    for part in command:
        for name in _REF_RE.findall(part):
            if name not in names:
                names.append(name)
    return names


def environment_problems(where: str, environment: Mapping[str, Any]) -> list[str]:
    """Problems with environment variables: names, string values, nothing secret-looking."""
    out = []
    for name, value in environment.items():
        if not isinstance(name, str) or not _ENV_NAME_RE.match(name):
            out.append(f"{where}: {name!r} is not an environment variable name")
        elif name.startswith("AWS_BATCH_"):
            out.append(f"{where}: {name} is set by AWS Batch itself")
        elif looks_like_secret(name):
            out.append(
                f"{where}: {name} looks like a secret; plain environment values are visible in "
                "the job definition (pass secrets from Secrets Manager, other values as "
                "command parameters)"
            )
        if not isinstance(value, (str, pulumi.Output)):
            out.append(f"{where}: the value of {name} must be a string")
    return out


def image_problem(image: object) -> str | None:
    """None when ``image`` is a container image reference; ``{account}`` and ``{region}``
    stand for the deploying account and the job's region."""
    if isinstance(image, str) and _IMAGE_RE.match(image):
        unknown = set(re.findall(r"\{([^}]*)\}", image)) - {"account", "region"}
        if not unknown:
            return None
        return f"{image!r}: only {{account}} and {{region}} may be used as placeholders"
    return (
        f"{image!r} is not an image reference; write it like "
        "{account}.dkr.ecr.{region}.amazonaws.com/batch-inference:1.0.0"
    )


def ecr_repository(image: str) -> tuple[str, str, str] | None:
    """``(account, region, repository)`` of an ECR image reference (placeholders kept), or
    None for images in other registries."""
    match = _ECR_IMAGE_RE.match(image)
    if not match:
        return None
    return match.group("account"), match.group("region"), match.group("repository")


# The key and the alert topic ---------------------------------------------------------------


def key_input_problems(value: object, field_name: str = "key") -> list[str]:
    """Problems with a ``key`` field: a RegionKey or an existing KMS key ARN is accepted."""
    return present(key_input_problem(value, field_name))


def topic_input_problems(value: object, field_name: str = "alert_topic") -> list[str]:
    """Problems with an ``alert_topic`` field: an AlertTopic or an existing SNS topic ARN."""
    return present(alert_topic_input_problem(value, field_name))
