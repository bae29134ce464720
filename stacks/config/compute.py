"""``mlops:compute``: instance pools (components/compute's ``InstancePool``), run by the
primary region (see stacks/regional.py). Instance types, images, time zones, cron
expressions, office hours and allowed networks are checked by the component's own problem
functions; schedules and load balancers by its ``PoolSchedule`` and ``PoolLoadBalancer``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, Field, field_validator

from components.checks import duplicates
from stacks.config.base import (
    NAMESPACE,
    ConfigModel,
    az_count,
    checked,
    field_default,
    is_production,
    short_name,
)
from stacks.config.errors import as_written

KEY = f"{NAMESPACE}:compute"


def _instance_type_name(value: str) -> str:
    from components.compute import instance_type_problem

    return checked(instance_type_problem(value), value)


def _allowed_cidr(value: str) -> str:
    from components.compute import allowed_cidr_problem

    return checked(allowed_cidr_problem(value), value)


class OfficeHoursConfig(ConfigModel):
    """The hours a pool runs; it is scaled to zero outside them (evenings, other days)."""

    start: str = Field(default="08:00", description="Start, HH:MM in the schedule's time zone.")
    stop: str = Field(default="19:00", description="Stop, HH:MM, after start.")
    days: str = Field(default="MON-FRI", description="Days it runs: MON-FRI, MON,WED,FRI, ...")

    @field_validator("start", "stop")
    @classmethod
    def _time(cls, value: str) -> str:
        from components.compute import time_of_day_problem

        return checked(time_of_day_problem(value), value)

    @field_validator("days")
    @classmethod
    def _days(cls, value: str) -> str:
        from components.compute import weekdays_problem

        return checked(weekdays_problem(value), value)


class PoolScheduleConfig(ConfigModel):
    """When a pool runs: office hours, or two cron expressions, in a time zone."""

    timezone: str = Field(description="IANA time zone, e.g. Europe/Rome or UTC.")
    office_hours: OfficeHoursConfig | None = Field(
        default=None, description="Run during these hours (or give startCron and stopCron)."
    )
    start_cron: str | None = Field(
        default=None, description="Unix cron: when the pool scales back to its size."
    )
    stop_cron: str | None = Field(
        default=None, description="Unix cron: when the pool scales to zero."
    )

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        from components.compute import time_zone_problem

        return checked(time_zone_problem(value), value)

    @field_validator("start_cron", "stop_cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        from components.compute import cron_problem

        return value if value is None else checked(cron_problem(value), value)


class PoolLoadBalancerConfig(ConfigModel):
    """A network load balancer in front of a pool (Jupyter; SSH only when asked)."""

    allowed_cidrs: tuple[Annotated[str, AfterValidator(_allowed_cidr)], ...] = Field(
        description="IPv4 CIDR blocks that may connect; never 0.0.0.0/0."
    )
    internet_facing: bool = Field(
        default=False, description="In the public subnets (default: internal)."
    )
    ssh: bool = Field(default=False, description="Also forward SSH (22); prefer Session Manager.")

    @field_validator("allowed_cidrs")
    @classmethod
    def _some_cidrs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("is empty; list the networks that may connect, e.g. ['10.0.0.0/8']")
        return value


class PoolConfig(ConfigModel):
    """One instance pool (Auto Scaling group of identical instances)."""

    name: str = Field(description="Pool name: 1-20 lowercase letters, digits, '-'.")
    instance_types: tuple[Annotated[str, AfterValidator(_instance_type_name)], ...] = Field(
        description="At least 2 interchangeable instance types, preferred first."
    )
    spot: bool = Field(default=False, description="Spot instances (default: on-demand).")
    gpu: bool = Field(default=False, description="GPU types and the deep learning image.")
    min_size: int = Field(default=0, description="Fewest instances.")
    max_size: int = Field(default=2, description="Most instances.")
    desired_capacity: int = Field(default=1, description="Instances while running.")
    volume_size_gb: int | None = Field(
        default=None, description="Root volume GiB. Default: 30, or 100 for GPU pools."
    )
    image_id: str | None = Field(
        default=None,
        description="AMI id or resolve:ssm:<parameter>. Default: latest Amazon Linux 2023 "
        "(deep learning base image for GPU pools).",
    )
    key_name: str | None = Field(
        default=None, description="EC2 key pair for SSH. Default: none (Session Manager)."
    )
    efs: bool = Field(default=False, description="A shared EFS file system on /mnt/shared.")
    efs_backups: bool | None = Field(
        default=None,
        description="Automatic daily backups of the shared file system (AWS Backup, each kept "
        "35 days). Default: off in ephemeral stacks (the recovery points would outlive every "
        "nightly destroy), on otherwise. Needs efs; never off in production.",
    )
    schedule: PoolScheduleConfig | None = Field(
        default=None, description="When the pool runs. Default: always."
    )
    load_balancer: PoolLoadBalancerConfig | None = Field(
        default=None, description="A network load balancer in front of the pool."
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return short_name(value, "pool")

    def shared_drive_backups(self, ephemeral: bool) -> bool:
        """Whether the shared file system is backed up: ``efsBackups`` when given, else not in
        ephemeral stacks (their recovery points would pile up outside the stack)."""
        return not ephemeral if self.efs_backups is None else self.efs_backups

    @field_validator("instance_types")
    @classmethod
    def _two_types(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(value) < 2:
            raise ValueError(
                f"{len(value)} type(s) given; list at least 2 interchangeable instance types "
                "so a shortage of one does not stop the pool"
            )
        dupes = duplicates(value)
        if dupes:
            raise ValueError(f"{dupes} listed more than once")
        return value

    @field_validator("min_size", "max_size", "desired_capacity")
    @classmethod
    def _not_negative(cls, value: int) -> int:
        if value < 0:
            raise ValueError(f"{value} is below zero; give a number of instances, 0 or more")
        return value

    @field_validator("volume_size_gb")
    @classmethod
    def _volume(cls, value: int | None) -> int | None:
        if value is not None and not 8 <= value <= 16384:
            raise ValueError(f"{value} GiB is outside 8..16384")
        return value

    @field_validator("image_id")
    @classmethod
    def _image(cls, value: str | None) -> str | None:
        from components.compute import image_id_problem

        return value if value is None else checked(image_id_problem(value), value)

    @field_validator("key_name")
    @classmethod
    def _key_name(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[ -~]{1,255}", value):
            raise ValueError(f"{value!r} is not an EC2 key pair name (1-255 ASCII characters)")
        return value


class ComputeConfig(ConfigModel):
    """Instance pools: the primary region runs them (see stacks/regional.py)."""

    enabled: bool = Field(default=False, description="Create the pools (default: no).")
    pools: tuple[PoolConfig, ...] = Field(default=(), description="The pools.")


# Cross-key checks --------------------------------------------------------------------------


def compute_cross_checks(data: Mapping[str, Any]) -> list[str]:
    """Instance pool keys that depend on each other or on other keys: sizes, GPU types,
    schedules (one form, complete; none in production), unique names, production size, the
    load balancer's need for an image that serves Jupyter, shared drive backups."""
    compute = data.get("compute")
    if not isinstance(compute, dict):
        return []
    problems: list[str] = []
    pools = compute.get("pools", [])
    if compute.get("enabled") is True and isinstance(pools, list) and not pools:
        problems.append(
            f"{KEY}.pools: compute is enabled but no pool is listed; add one or set "
            f"{KEY}.enabled to false"
        )
    if not isinstance(pools, list):
        return problems
    count = az_count(data)
    if compute.get("enabled") is True and pools and count == 1:
        problems.append(
            f"{KEY}.pools: pools spread over private subnets in at least 2 AZs, but "
            f"{NAMESPACE}:network.azCount is {count}; raise it or set {KEY}.enabled to false"
        )
    production = is_production(data)
    seen: dict[str, int] = {}
    for i, pool in enumerate(pools):
        if not isinstance(pool, dict):
            continue
        at = f"{KEY}.pools[{i}]"
        name = pool.get("name")
        if isinstance(name, str) and name in seen:
            problems.append(
                f"{at}.name: {name!r} is already used by {KEY}.pools[{seen[name]}]; "
                "pool names must be unique"
            )
        elif isinstance(name, str):
            seen[name] = i
        problems += _pool_problems(at, pool, production)
    return problems


def _pool_problems(at: str, pool: Mapping[str, Any], production: bool) -> list[str]:
    """The cross-key problems of one pool (``at``: its key as written)."""
    problems = _pool_size_problems(at, pool, production)
    problems += _pool_gpu_problems(at, pool)
    problems += _pool_schedule_problems(at, pool.get("schedule"), production)
    problems += _pool_load_balancer_problems(at, pool)
    problems += _pool_backup_problems(at, pool, production)
    return problems


def _pool_backup_problems(at: str, pool: Mapping[str, Any], production: bool) -> list[str]:
    """``efsBackups`` only with a shared drive, and never off in production."""
    backups = pool.get("efsBackups")
    if not isinstance(backups, bool):
        return []  # not given (derived from mlops:ephemeral), or reported at the key itself
    if pool.get("efs") is not True:
        return [
            f"{at}.efsBackups: the pool has no shared drive ({at}.efs is not true); remove "
            "efsBackups or set efs to true"
        ]
    if production and backups is False:
        return [
            f"{at}.efsBackups: false in production; production file systems keep their "
            "automatic backups (remove the key)"
        ]
    return []


def _pool_size_problems(at: str, pool: Mapping[str, Any], production: bool) -> list[str]:
    """minSize <= desiredCapacity <= maxSize, maxSize >= 1; production: minSize >= 2."""
    values: list[int | None] = []
    for field_name, alias in (
        ("min_size", "minSize"),
        ("max_size", "maxSize"),
        ("desired_capacity", "desiredCapacity"),
    ):
        value = pool.get(alias, field_default(PoolConfig, field_name))
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
        values.append(value if ok else None)
    low, high, desired = values
    problems = []
    if high == 0:
        problems.append(f"{at}.maxSize: 0; give at least 1 (a schedule scales the pool to zero)")
    elif low is not None and high is not None and desired is not None:
        if low > high:
            problems.append(f"{at}.minSize: {low} is above {at}.maxSize ({high})")
        elif not low <= desired <= high:
            problems.append(
                f"{at}.desiredCapacity: {desired} is outside {at}.minSize..{at}.maxSize "
                f"({low}..{high})"
            )
    if production and low is not None and low < 2:
        problems.append(
            f"{at}.minSize: {low} instance(s) in production; keep at least 2 (spread over 2 "
            "AZs) so the pool survives the loss of an instance or an AZ"
        )
    return problems


def _pool_gpu_problems(at: str, pool: Mapping[str, Any]) -> list[str]:
    """A GPU pool lists GPU instance types only (names that are no instance type at all are
    reported at their own key)."""
    from components.compute import instance_type_problem, is_gpu_instance_type

    types = pool.get("instanceTypes")
    if pool.get("gpu") is not True or not isinstance(types, list):
        return []
    return [
        f"{at}.instanceTypes[{j}]: {value!r} has no GPU but {at}.gpu is true; use GPU types "
        "such as 'g5.xlarge' or 'g6.xlarge'"
        for j, value in enumerate(types)
        if isinstance(value, str)
        and instance_type_problem(value) is None
        and not is_gpu_instance_type(value)
    ]


def _pool_schedule_problems(at: str, schedule: Any, production: bool) -> list[str]:
    """One complete form (officeHours, or startCron and stopCron), no schedule in production;
    then the component's own checks of that form (stop after start, two different crons)."""
    if schedule is None:
        return []
    if production:
        return [
            f"{at}.schedule: production pools run around the clock; office-hours schedules "
            "are for non-production stacks (remove the schedule)"
        ]
    if not isinstance(schedule, dict):
        return []
    crons = [k for k in ("startCron", "stopCron") if k in schedule]
    if "officeHours" in schedule and crons:
        return [f"{at}.schedule: Only one of [officeHours] and [startCron, stopCron] can be given"]
    if "officeHours" not in schedule and len(crons) != 2:
        return [f"{at}.schedule: give officeHours, or both startCron and stopCron"]
    if crons:
        return _pool_cron_problems(f"{at}.schedule", schedule)
    return _office_hours_problems(f"{at}.schedule.officeHours", schedule.get("officeHours"))


def _pool_cron_problems(key: str, schedule: Mapping[str, Any]) -> list[str]:
    """The component's ``PoolSchedule`` checks (problems of single keys repeat the ones
    pydantic reports; parse_raw_config reports each once)."""
    from components.compute import PoolSchedule, time_zone_problem

    values = (schedule.get("timezone"), schedule.get("startCron"), schedule.get("stopCron"))
    if not all(isinstance(v, str) for v in values):
        return []  # reported at the key itself
    timezone, start, stop = (str(v).strip() for v in values)
    if time_zone_problem(timezone):
        # Reported at its own key; the crons are still checked against each other (the
        # component checks them only once every field is valid).
        timezone = "UTC"
    found = PoolSchedule(timezone=timezone, start_cron=start, stop_cron=stop).problems(key)
    return as_written(found, ("start_cron", "stop_cron"))


def _office_hours_problems(key: str, office: Any) -> list[str]:
    """The component's office-hours checks, defaults applied (stop after start)."""
    from components.compute import office_hours_problems

    if not isinstance(office, dict):
        return []
    values = [
        office.get(name, field_default(OfficeHoursConfig, name))
        for name in ("start", "stop", "days")
    ]
    if not all(isinstance(v, str) for v in values):
        return []  # reported at the key itself
    start, stop, days = (str(v).strip() for v in values)
    return office_hours_problems(start, stop, days, key=key)


def _pool_load_balancer_problems(at: str, pool: Mapping[str, Any]) -> list[str]:
    """The component's ``PoolLoadBalancer`` checks of the allowed networks (each once); a load
    balancer needs an image that serves Jupyter."""
    from components.compute import PoolLoadBalancer

    balancer = pool.get("loadBalancer")
    if not isinstance(balancer, dict):
        return []
    problems = []
    if not pool.get("imageId"):
        problems.append(
            f"{at}.loadBalancer: the load balancer health-checks Jupyter on port 8888, "
            "which the default Amazon Linux image does not serve; set "
            f"{at}.imageId to an image that runs Jupyter (or reach the instances with "
            "Session Manager port forwarding instead)"
        )
    cidrs = balancer.get("allowedCidrs")
    if isinstance(cidrs, list) and cidrs and all(isinstance(c, str) for c in cidrs):
        # Only the networks come from the config; the subnets are the stack's own.
        found = PoolLoadBalancer(allowed_cidrs=[c.strip() for c in cidrs]).problems(
            f"{at}.loadBalancer"
        )
        problems += as_written(found, ("allowed_cidrs",))
    return problems
